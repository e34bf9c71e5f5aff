/* SPDX-License-Identifier: MIT */
/*
 * index - finds which chunks of a target header the sources already hold.
 * Streams each source through the chunker, hashes only source chunks whose
 * length some target chunk has, and looks the digest up among the target's
 * uncompressed digests. Memory depends on the header, never on source size;
 * no temp files.
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
};

struct zu_index_params {
	const struct zu_header *h;
	const struct zu_index_source *sources;
	size_t n_sources;
	struct zu_progress progress;  /* phase ZU_PHASE_INDEX, total = sum of sizes */
	const bool *in_place;         /* NULL, or per target chunk: already in place, skip it */
};

struct zu_index_stats {
	uint64_t bytes_read;
	uint64_t bytes_hashed;
	size_t n_found;
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

#endif
