/* SPDX-License-Identifier: MIT */
/*
 * fine_make - compresses one chunk in the fine layout (fine.h): its piece
 * table, then one independent zstd frame per piece. Build-host side, called
 * by make's worker threads with their own zstd context.
 */
#ifndef ZU_FINE_MAKE_H
#define ZU_FINE_MAKE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fine.h"

/* Largest compressed size of a chunk of at most max_len bytes (any offset). */
size_t zu_fine_comp_bound(const struct zu_fine_layout *l, size_t max_len);

/*
 * Compresses the chunk u[0..len) that starts at image offset off into
 * out[0..cap) with cctx (a ZSTD_CCtx *, parameters already set; borrowed).
 * *out_len = bytes written.
 */
int zu_fine_compress(const struct zu_fine_layout *l, void *cctx, uint64_t off, const uint8_t *u, size_t len, uint8_t *out, size_t cap,
		     size_t *out_len, struct zu_err *err) __attribute__((warn_unused_result));

#endif
