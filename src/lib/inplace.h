/* SPDX-License-Identifier: MIT */
/*
 * inplace - which chunks a raw target already holds at their final place.
 * Reads the target in image order and compares each chunk's SHA-256 with the
 * header. Such chunks are neither fetched nor rewritten: a re-run after an
 * interruption fetches only what is missing, and an update onto a slot that
 * holds most of the new image writes only what differs. Never writes.
 */
#ifndef ZU_INPLACE_H
#define ZU_INPLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"
#include "progress.h"

struct zu_inplace_params {
	const struct zu_header *h;
	int target_fd;          /* borrowed, readable */
	uint64_t target_offset; /* the image starts here in the target */
	uint64_t target_size;   /* readable bytes of the target */
	struct zu_progress progress; /* ZU_PHASE_CHECK */
	/*
	 * NULL: check every chunk. Else check only chunks i with only[i] set
	 * (apply checks only what it would otherwise fetch; it compares the rest
	 * with the target while it writes): each is read alone, not the target.
	 */
	const bool *only;
};

/*
 * Sets out_in_place[i] (h->n_chunks entries, caller-allocated) for every chunk
 * the target holds; *out_bytes = their total length.
 */
int zu_inplace_scan(const struct zu_inplace_params *p, bool *out_in_place, uint64_t *out_bytes,
		    struct zu_err *err) __attribute__((warn_unused_result));

#endif
