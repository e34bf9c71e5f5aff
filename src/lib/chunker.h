/* SPDX-License-Identifier: MIT */
/*
 * chunker - zchunk-compatible content-defined chunking (buzhash, window 48,
 * 15 match bits, chunks of 8 KiB..128 KiB), exactly as libzck cuts
 * (shared/spec/zchunk-chunker.md). Pure and I/O-free; cuts never depend on how
 * the input is split into calls.
 */
#ifndef ZU_CHUNKER_H
#define ZU_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define ZU_CHUNKER_WINDOW 48
#define ZU_CHUNKER_MIN 8192u
#define ZU_CHUNKER_MAX 131072u
#define ZU_CHUNKER_NO_CUT ((size_t)-1)

struct zu_chunker {
	uint32_t h;                          /* rolling hash */
	uint32_t fill;                       /* bytes in the window, up to 48 */
	uint32_t head;                       /* index of the oldest byte once full */
	uint64_t committed;                  /* bytes placed in the current chunk */
	uint64_t run;                        /* bytes scanned since the last commit */
	uint8_t window[ZU_CHUNKER_WINDOW];
};

/* Starts at the beginning of a chunk. Cannot fail; embeddable. */
void zu_chunker_init(struct zu_chunker *c);

/*
 * Scans p[0..n). When the current chunk ends inside it, returns k <= n, the
 * number of bytes of p that still belong to the current chunk (k may be 0 when
 * the chunk ended exactly at the previous call's end), and resets itself so the
 * next call, with p + k, starts the next chunk. Returns ZU_CHUNKER_NO_CUT when
 * all n bytes belong to the current chunk. At end of input the bytes not yet
 * cut form the last chunk (if any).
 */
size_t zu_chunker_scan(struct zu_chunker *c, const void *p, size_t n);

/* Bytes the current chunk holds so far (committed + run). */
uint64_t zu_chunker_pending(const struct zu_chunker *c);

#endif
