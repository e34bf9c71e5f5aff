/* SPDX-License-Identifier: MIT */
/*
 * assemble - the driver loop of apply. Walks the target chunks in order: SEED
 * chunks are read back from their source and re-verified, NET chunks come from
 * the fetcher, are checked against their compressed digest, decompressed and
 * verified, on worker threads ahead of the writer. Only verified bytes reach
 * the sink, in image order; the whole-image digest is computed alongside and
 * checked (when the header has one) before the sink commits. Memory: a fixed
 * ring of chunk buffers (8 MiB, or 4 of the largest chunk), whatever the image size.
 */
#ifndef ZU_ASSEMBLE_H
#define ZU_ASSEMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decomp.h"
#include "err.h"
#include "fetch/fetch.h"
#include "format.h"
#include "zu_limits.h"
#include "plan.h"
#include "progress.h"
#include "sink/sink.h"

struct zu_assemble_params {
	const struct zu_header *h;
	const struct zu_plan *plan;
	const int *source_fds;     /* borrowed; indexed by zu_seed_loc.source */
	size_t n_sources;
	/*
	 * NULL, or per source: its places come from an index header and were not
	 * checked before (zu_index_check). One that does not hold its chunk (or
	 * lies past the source's end) fails with -EILSEQ and sets
	 * zu_assemble_stats.index_stale: the caller checks every place and
	 * starts over.
	 */
	const bool *index_unchecked;
	struct zu_fetch *fetch;    /* may be NULL when the plan has no NET chunk */
	bool fetch_started;        /* all of the plan's ranges are asked for already, as one
				      batch (whatever came before them read) */
	struct zu_sink *sink;
	int target_fd;             /* readable target for ZU_IN_PLACE chunks, else -1 */
	uint64_t target_offset;    /* the image starts here in the target */
	struct zu_progress progress; /* ZU_PHASE_WRITE, total = image bytes */
	const struct zu_limits *lim;
	unsigned threads;          /* worker threads reading and verifying ahead; 0 = online CPUs */
	/* optional: told of each chunk once it is verified and passed on */
	void (*on_chunk)(void *user, size_t index, const struct zu_seed_loc *loc);
	void *chunk_user;
	/*
	 * optional: NET chunks made instead of read from the plan's ranges (the
	 * fine profile, fine_apply.h). made_prepare (this thread, in image order)
	 * puts what chunk index needs from the .zck into cbuf (cap bytes);
	 * made_build (a worker, with the worker's own decoder) makes it into ubuf
	 * and returns 1, or 0 when it cannot, or <0 on errors. The chunk is then
	 * verified here as any other; one not made or not verified goes, when its
	 * turn to be written comes, to made_fallback (this thread), which writes
	 * it into ubuf from a whole-chunk fetch (verified again here).
	 */
	int (*made_prepare)(void *user, size_t index, uint8_t *cbuf, size_t cap,
			    struct zu_err *err);
	int (*made_build)(void *user, struct zu_decomp *dc, size_t index, const uint8_t *cbuf,
			  uint8_t *ubuf, struct zu_err *err);
	int (*made_fallback)(void *user, size_t index, uint8_t *ubuf, struct zu_err *err);
	void *made_user;
};

struct zu_assemble_stats {
	uint64_t seed_bytes;
	uint64_t net_bytes;
	uint64_t fetched_bytes;
	uint64_t in_place_bytes;   /* already in the target: checked, not written */
	uint64_t written_bytes;    /* handed to the sink */
	size_t n_seed, n_net, n_in_place;
	size_t n_requests, n_ranges;
	bool index_stale;          /* failed at a place of an unchecked index header */
};

/* On any failure the sink is aborted; on success it is committed. */
int zu_assemble_run(const struct zu_assemble_params *p, struct zu_assemble_stats *out,
		    struct zu_err *err) __attribute__((warn_unused_result));

#endif
