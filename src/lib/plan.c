/* SPDX-License-Identifier: MIT */
/*
 * plan - SEED/NET decision per target chunk and the coalesced byte ranges of
 * the .zck that the NET chunks (and the dict, when any NET chunk needs it)
 * occupy. Pure: touches no fd, socket or clock; never prints.
 *
 * Why ZU_PLAN_DEFAULT_GAP is 256: in a multipart/byteranges answer every range
 * costs a part header: "\r\n--" + boundary (servers use 16..70 chars) + "\r\n",
 * "Content-Type: application/octet-stream\r\n" (40), "Content-Range: bytes
 * a-b/total\r\n" (30..70 with 10-digit offsets) and a blank line, i.e. about
 * 100..200 bytes, plus ~20 bytes of "a-b," in the request's Range header and a
 * share of one more request once max_ranges is reached. Fetching a gap of up
 * to 256 bytes therefore costs about what a separate part costs, and merging
 * also keeps requests under servers' range-count limits.
 */
#include "config.h"

#include "plan.h"
#include "zu_limits.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int range_cmp(const void *a, const void *b)
{
	const struct zu_range *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return 0;
}

/* Counts SEED/NET/in-place chunks and sums their lengths; -EOVERFLOW on absurd sums. */
static int plan_count(const struct zu_header *h, struct zu_plan *pl, struct zu_err *err)
{
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];
		int ovf = 0;

		if (pl->locs[i].source == ZU_IN_PLACE) {
			pl->n_in_place++;
			ovf = zu_add_overflow(pl->in_place_bytes, c->len, &pl->in_place_bytes);
		} else if (pl->locs[i].source != ZU_NO_SOURCE) {
			pl->n_seed++;
			ovf = zu_add_overflow(pl->seed_bytes, c->len, &pl->seed_bytes);
		} else {
			pl->n_net++;
			ovf = zu_add_overflow(pl->net_bytes, c->len, &pl->net_bytes) ||
			      zu_add_overflow(pl->net_comp_bytes, c->comp_len, &pl->net_comp_bytes);
		}
		if (ovf)
			return zu_err_set(err, -EOVERFLOW, "chunk %zu: byte totals overflow", i);
	}
	return 0;
}

/* Appends [off, off + len) unless empty; -EOVERFLOW when its end overflows. */
static int range_add(struct zu_range *r, size_t *n, uint64_t off, uint64_t len, const char *what,
		     size_t idx, struct zu_err *err)
{
	uint64_t end;

	if (zu_add_overflow(off, len, &end))
		return zu_err_set(err, -EOVERFLOW,
				  "%s %zu: range at %" PRIu64 " of %" PRIu64 " bytes overflows", what,
				  idx, off, len);
	if (len == 0)
		return 0; /* nothing to fetch; a zero-length part would be refused by servers */
	r[*n].off = off;
	r[*n].len = len;
	(*n)++;
	return 0;
}

/*
 * Sorts r[0..n) by offset and merges in place ranges that overlap, touch, or
 * are separated by fewer than max_gap bytes. Returns the new count.
 */
static size_t ranges_coalesce(struct zu_range *r, size_t n, uint64_t max_gap)
{
	size_t out = 0;
	bool sorted = true;

	for (size_t i = 1; i < n && sorted; i++)
		sorted = r[i - 1].off <= r[i].off;
	if (!sorted)
		qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0) {
			struct zu_range *last = &r[out - 1];
			uint64_t end = last->off + last->len; /* no overflow: checked in range_add */
			uint64_t r_end = r[i].off + r[i].len;

			if (r[i].off <= end || r[i].off - end < max_gap) {
				if (r_end > end)
					last->len = r_end - last->off;
				continue;
			}
		}
		r[out++] = r[i];
	}
	return out;
}

/* Collects NET chunk ranges (and the dict) into pl->ranges, coalesced. */
static int plan_ranges(const struct zu_header *h, struct zu_plan *pl, uint64_t max_gap,
		       struct zu_err *err)
{
	size_t cap = pl->n_net + 1, n = 0;
	int r = 0;

	if (pl->n_net == 0)
		return 0;
	pl->ranges = calloc(cap, sizeof(*pl->ranges));
	if (!pl->ranges)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu ranges", cap);
	if (h->has_dict) {
		pl->need_dict = true;
		r = range_add(pl->ranges, &n, h->dict.file_offset, h->dict.comp_len, "dict", 0, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];

		if (pl->locs[i].source != ZU_NO_SOURCE)
			continue;
		r = range_add(pl->ranges, &n, c->file_offset, c->comp_len, "chunk", i, err);
		if (r < 0)
			return r;
	}
	pl->n_ranges = ranges_coalesce(pl->ranges, n, max_gap);
	for (size_t i = 0; i < pl->n_ranges; i++)
		pl->fetch_bytes += pl->ranges[i].len; /* merged ranges are disjoint, inside 2^64 */
	if (pl->n_ranges == 0) {
		free(pl->ranges);
		pl->ranges = NULL;
	}
	return 0;
}

/*
 * Requests as the HTTP fetcher cuts them: runs of at most ZU_LIMITS_MAX_RANGES
 * pieces and ZU_PLAN_REQUEST_BYTES (a range longer than that is split), each
 * asked for in requests of at most max_ranges ranges.
 */
static void plan_requests(struct zu_plan *pl)
{
	uint64_t bytes = 0, parts = 0;
	size_t pieces = 0;

	pl->n_requests = 0;
	for (size_t i = 0; i < pl->n_ranges; i++) {
		uint64_t left = pl->ranges[i].len;

		while (left) {
			uint64_t take;

			if (pieces == ZU_LIMITS_MAX_RANGES || bytes == ZU_PLAN_REQUEST_BYTES) {
				pl->n_requests += (pieces + pl->max_ranges - 1) / pl->max_ranges;
				parts += pieces > 1 && pl->max_ranges > 1 ? pieces : 0;
				pieces = 0;
				bytes = 0;
			}
			take = left < ZU_PLAN_REQUEST_BYTES - bytes ? left
								 : ZU_PLAN_REQUEST_BYTES - bytes;
			pieces++;
			bytes += take;
			left -= take;
		}
	}
	if (pieces) {
		pl->n_requests += (pieces + pl->max_ranges - 1) / pl->max_ranges;
		parts += pieces > 1 && pl->max_ranges > 1 ? pieces : 0;
	}
	pl->wire_estimate = pl->fetch_bytes + pl->n_requests * (uint64_t)ZU_PLAN_ANSWER_OVERHEAD +
			    parts * ZU_PLAN_PART_OVERHEAD;
}

int zu_plan_build(const struct zu_header *h, const struct zu_seed_loc *locs,
		  const struct zu_plan_params *p, struct zu_plan *out, struct zu_err *err)
{
	struct zu_plan pl = ZU_PLAN_INIT;
	uint64_t max_gap = ZU_PLAN_DEFAULT_GAP;
	int r = 0;

	if (p && p->take_locs)
		pl.locs = (struct zu_seed_loc *)(uintptr_t)locs; /* freed with pl from here */
	if (!h || !out || (h->n_chunks > 0 && (!locs || !h->chunks))) {
		r = zu_err_set(err, -EINVAL, "plan: missing header, locations or output");
		goto out;
	}
	pl.max_ranges = ZU_PLAN_DEFAULT_MAX_RANGES;
	if (p && p->max_ranges > 0)
		pl.max_ranges = p->max_ranges;
	if (p && p->max_gap != UINT64_MAX)
		max_gap = p->max_gap;
	pl.n_chunks = h->n_chunks;
	if (h->n_chunks > SIZE_MAX / sizeof(*pl.locs)) {
		r = zu_err_set(err, -EOVERFLOW, "plan: %zu chunks", h->n_chunks);
		goto out;
	}
	if (h->n_chunks > 0 && !(p && p->take_locs)) {
		pl.locs = malloc(h->n_chunks * sizeof(*pl.locs));
		if (!pl.locs) {
			r = zu_err_set(err, -ENOMEM, "cannot allocate %zu seed locations", h->n_chunks);
			goto out;
		}
		memcpy(pl.locs, locs, h->n_chunks * sizeof(*pl.locs));
	}
	r = plan_count(h, &pl, err);
	if (r < 0)
		goto out;
	r = plan_ranges(h, &pl, max_gap, err);
	if (r < 0)
		goto out;
	plan_requests(&pl);
	*out = pl;
	pl = (struct zu_plan)ZU_PLAN_INIT; /* owned by *out now */
out:
	zu_plan_fini(&pl);
	return r;
}

void zu_plan_fini(struct zu_plan *p)
{
	if (!p)
		return;
	free(p->locs);
	free(p->ranges);
	*p = (struct zu_plan)ZU_PLAN_INIT;
}

/* Charges [off, off + len) to the range it is in: from the cursor *pos on. */
static int walk_one(const struct zu_plan *pl, size_t *ri, uint64_t *pos, uint64_t off,
		    uint64_t len, struct zu_plan_item *it, struct zu_err *err)
{
	uint64_t end = off + len; /* checked in range_add */

	while (*ri < pl->n_ranges && pl->ranges[*ri].off + pl->ranges[*ri].len <= off) {
		(*ri)++;
		*pos = *ri < pl->n_ranges ? pl->ranges[*ri].off : 0;
	}
	if (*ri >= pl->n_ranges || off < pl->ranges[*ri].off ||
	    end > pl->ranges[*ri].off + pl->ranges[*ri].len)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "plan walk: %" PRIu64 "+%" PRIu64 " is in no range", off, len);
	it->bytes = end > *pos ? end - *pos : 0; /* the gap since the last item, and this one */
	if (end > *pos)
		*pos = end;
	return 0;
}

int zu_plan_walk(const struct zu_header *h, const struct zu_plan *pl, zu_plan_item_fn fn,
		 void *user, struct zu_err *err)
{
	size_t ri = 0;
	uint64_t pos = pl->n_ranges ? pl->ranges[0].off : 0;
	int r;

	if (pl->need_dict && h->dict.comp_len > 0) {
		struct zu_plan_item it = { .chunk = SIZE_MAX };

		r = walk_one(pl, &ri, &pos, h->dict.file_offset, h->dict.comp_len, &it, err);
		if (r < 0)
			return r;
		fn(user, &it);
	}
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];
		struct zu_plan_item it = { .chunk = i };

		if (pl->locs[i].source != ZU_NO_SOURCE || c->comp_len == 0)
			continue;
		r = walk_one(pl, &ri, &pos, c->file_offset, c->comp_len, &it, err);
		if (r < 0)
			return r;
		fn(user, &it);
	}
	return 0;
}
