/* SPDX-License-Identifier: MIT */
/*
 * plan - from seed locations to the work of an update: which target chunks
 * come from a source (SEED) and which from the .zck (NET), and the byte ranges
 * of the .zck to fetch: in file order, neighbours merged when the gap between
 * them costs less than a multipart part's overhead, cut into requests of at
 * most max_ranges ranges. Pure: no I/O.
 */
#ifndef ZU_PLAN_H
#define ZU_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"
#include "index.h"

/* Gap below which two ranges are merged (about one multipart part header). */
#define ZU_PLAN_DEFAULT_GAP 256u
#define ZU_PLAN_DEFAULT_MAX_RANGES 150u
/*
 * The HTTP fetcher asks for at most this many bytes in one request, so that
 * answers arriving out of order can be held in a bounded window; plan
 * predicts requests with the same cut.
 */
#define ZU_PLAN_REQUEST_BYTES (8u << 20)
/* Estimated framing of an HTTP answer (status line, headers) and of a multipart part. */
#define ZU_PLAN_ANSWER_OVERHEAD 320u
#define ZU_PLAN_PART_OVERHEAD 130u

struct zu_range {
	uint64_t off;
	uint64_t len;
};

struct zu_plan_params {
	size_t max_ranges;  /* per request; 0 = default */
	uint64_t max_gap;   /* merge ranges separated by fewer bytes; UINT64_MAX = default */
	/*
	 * true: locs is malloc'd and the plan takes it (on success and failure
	 * alike) instead of copying it, one array of 16 bytes a chunk less.
	 */
	bool take_locs;
};

struct zu_plan {
	size_t n_chunks;
	struct zu_seed_loc *locs;   /* owned copy; per target chunk */
	struct zu_range *ranges;    /* owned; NET bytes (and the dict when needed) */
	size_t n_ranges;
	size_t max_ranges;
	size_t n_seed, n_net, n_in_place;
	uint64_t seed_bytes, net_bytes, net_comp_bytes, fetch_bytes, in_place_bytes;
	size_t n_requests;          /* over HTTP, when the server serves max_ranges per request */
	uint64_t wire_estimate;     /* fetch_bytes plus estimated HTTP framing */
	bool need_dict;
};

#define ZU_PLAN_INIT { 0 }

/* Builds *out (free with zu_plan_fini()). locs has h->n_chunks entries. */
int zu_plan_build(const struct zu_header *h, const struct zu_seed_loc *locs,
		  const struct zu_plan_params *p, struct zu_plan *out, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_plan_fini(struct zu_plan *p);

/*
 * What one item of the fetch costs (explain): a NET chunk (chunk = its index)
 * or the dict (chunk = SIZE_MAX), with bytes = its length plus the gap merged
 * in front of it within its coalesced range. Over all items the bytes add up
 * to pl->fetch_bytes exactly.
 */
struct zu_plan_item {
	size_t chunk;
	uint64_t bytes;
};
typedef void (*zu_plan_item_fn)(void *user, const struct zu_plan_item *it);
/* Calls fn for each item in .zck order; -ENOTRECOVERABLE if an item lies outside pl's ranges. */
int zu_plan_walk(const struct zu_header *h, const struct zu_plan *pl, zu_plan_item_fn fn,
		 void *user, struct zu_err *err) __attribute__((warn_unused_result));

#endif
