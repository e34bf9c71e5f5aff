/* SPDX-License-Identifier: MIT */
/*
 * index - finds which chunks of a target header the sources already hold.
 * Streams each source through the chunker, hashes only source chunks whose
 * length some target chunk has, and looks the digest up among the target's
 * uncompressed digests. Memory depends on the header, never on source size;
 * no temp files. A source whose chunk table is known (the header of the image
 * it holds, "source index") is not read at all: its chunks are looked up by
 * their digests and located at their image offsets; zu_index_check() then
 * verifies those locations before a plan relies on them.
 */
#ifndef ZU_INDEX_H
#define ZU_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"
#include "progress.h"

#define ZU_NO_SOURCE UINT32_MAX
/* The target already holds the chunk at its final place (resume, wear). */
#define ZU_IN_PLACE (UINT32_MAX - 1)

/* Where a source holds a target chunk; source == ZU_NO_SOURCE when none does. */
struct zu_seed_loc {
	uint32_t source;
	uint64_t offset;
};

struct zu_index_source {
	int fd;          /* borrowed, readable from offset 0 */
	uint64_t size;   /* bytes to index from offset 0 */
	/*
	 * NULL: chunk and hash the source. Else the header of the image the
	 * source holds (borrowed, untrusted): each of its chunks that ends within
	 * size is taken to be at its image offset, and nothing is read. Such
	 * locations are claims: zu_index_check() verifies them.
	 */
	const struct zu_header *index;
};

/*
 * Where one source's chunks end, as the scan cut them (the source's end is not
 * listed): the fine profile hashes the parts of blocks these cuts split
 * (fine_apply.h) and need not run the chunker again.
 */
struct zu_index_cuts {
	uint64_t *at;  /* ascending */
	size_t n, cap;
	bool complete; /* the source was chunked to its end and every cut kept */
};

void zu_index_cuts_free(struct zu_index_cuts *c, size_t n);

struct zu_index_params {
	const struct zu_header *h;
	const struct zu_index_source *sources;
	size_t n_sources;
	struct zu_progress progress;  /* phase ZU_PHASE_INDEX, total = sum of sizes */
	const bool *in_place;         /* NULL, or per target chunk: already in place, skip it */
	/*
	 * Threads that chunk and hash the read sources: <= 1 = the calling thread
	 * only; more = that many workers (at most ZU_INDEX_MAX_THREADS), each with
	 * its own ZU_INDEX_CARRY + ZU_INDEX_BLOCK buffer. The result and stats are
	 * the same for every count.
	 */
	int threads;
	const struct zu_index_tuning *tuning; /* NULL: the defaults */
	/*
	 * NULL, or n_sources records (emptied first): each read source's cuts.
	 * complete stays false for a source not read to its end (index header,
	 * early stop when everything was found, out of memory: not an error).
	 */
	struct zu_index_cuts *cuts;
};

#define ZU_INDEX_MAX_THREADS 64

/* Segment sizes of the parallel scan: only tests change them. */
struct zu_index_tuning {
	uint64_t seg_bytes;      /* > 0: a source is split into segments of this size */
	uint64_t lookback_bytes; /* where a segment's worker starts chunking before it */
};

struct zu_index_stats {
	uint64_t bytes_read;
	uint64_t bytes_hashed;
	size_t n_found;
	size_t n_indexed;  /* of n_found: located through a source's index header */
	/*
	 * Not a result: with threads > 1, segments whose worker did not meet the
	 * sequential cuts within its lookback and were chunked again (diagnostics).
	 * bytes_read and bytes_hashed count what one sequential scan would have
	 * read and hashed (workers may read ahead of an early stop).
	 */
	size_t n_rescans;
};

/*
 * Fills locs[0..h->n_chunks) (caller-allocated); chunks marked in p->in_place
 * get ZU_IN_PLACE (offset = their image offset) and are not looked for. For a chunk held by several
 * sources (or several places), the first source in order wins, then the
 * lowest offset. Every target chunk with the same digest gets the location.
 */
int zu_index_run(const struct zu_index_params *p, struct zu_seed_loc *locs,
		 struct zu_index_stats *out_stats, struct zu_err *err)
	__attribute__((warn_unused_result));

struct zu_index_check_stats {
	size_t n_checked;       /* chunks located through an index header, verified */
	size_t n_stale;         /* of those, not held at the claimed place: now NO_SOURCE */
	uint64_t stale_bytes;
	uint64_t bytes_read;
};

/*
 * Verifies every location that zu_index_run() took from a source's index
 * header: reads the chunk there and compares its SHA-256 with the target's
 * uncompressed digest. A location that does not hold the chunk (the source
 * changed since its index was made, or the index is of another image, or
 * the source is now shorter) becomes ZU_NO_SOURCE: the chunk is fetched
 * instead. Reads only those chunks (each distinct place once in a row of
 * equal chunks), never the rest of the source. Locations found by reading
 * the source (no index) are left alone. System read errors fail (-EIO...).
 */
int zu_index_check(const struct zu_index_params *p, struct zu_seed_loc *locs,
		   struct zu_index_check_stats *out_stats, struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
