/* SPDX-License-Identifier: MIT */
/* Unit tests for plan: SEED/NET split, range coalescing, batching, dict, stats. */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "zu_limits.h"
#include "test_rng.h"

#define BODY_START 1000u /* where chunk data starts in the fake .zck */
#define MAX_CHUNKS 4096

struct fixture {
	struct zu_header h;
	struct zu_chunk chunks[MAX_CHUNKS];
	uint8_t digests[MAX_CHUNKS][2 * ZU_DIGEST_LEN];
	struct zu_seed_loc locs[MAX_CHUNKS];
	struct zu_plan plan;
	struct zu_err err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->h.chunks = f->chunks;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	zu_plan_fini(&f->plan);
	free(f);
	return 0;
}

/* Lays chunks back to back from BODY_START (after the dict, if any); all NET. */
static void layout(struct fixture *f, const uint64_t *comp_lens, size_t n, uint64_t dict_len)
{
	uint64_t off = BODY_START;

	assert_true(n <= MAX_CHUNKS);
	f->h.has_dict = dict_len > 0;
	f->h.dict = (struct zu_chunk){ .file_offset = off, .comp_len = dict_len, .len = 4 * dict_len };
	off += dict_len;
	f->h.n_chunks = n;
	for (size_t i = 0; i < n; i++) {
		f->chunks[i] = (struct zu_chunk){
			.file_offset = off, .comp_len = comp_lens[i], .len = 3 * comp_lens[i] + 1,
			.digest = f->digests[i], .udigest = f->digests[i] + ZU_DIGEST_LEN,
		};
		memset(f->chunks[i].udigest, (int)(i & 0xff), ZU_DIGEST_LEN);
		off += comp_lens[i];
		f->locs[i] = (struct zu_seed_loc){ .source = ZU_NO_SOURCE };
	}
}

static void seed(struct fixture *f, size_t i)
{
	f->locs[i] = (struct zu_seed_loc){ .source = 0, .offset = 4096 * i };
}

static void build(struct fixture *f, size_t max_ranges, uint64_t max_gap)
{
	struct zu_plan_params pp = { .max_ranges = max_ranges, .max_gap = max_gap };
	int r = zu_plan_build(&f->h, f->locs, &pp, &f->plan, &f->err);

	if (r != 0)
		fail_msg("zu_plan_build: %d %s", r, f->err.msg);
}

static void plan_all_seed_has_no_ranges(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 100, 200, 300 };

	layout(f, lens, 3, 50);
	for (size_t i = 0; i < 3; i++)
		seed(f, i);
	build(f, 0, UINT64_MAX);
	assert_int_equal(f->plan.n_ranges, 0);
	assert_null(f->plan.ranges);
	assert_int_equal(f->plan.n_requests, 0);
	assert_false(f->plan.need_dict);
	assert_int_equal(f->plan.n_seed, 3);
	assert_int_equal(f->plan.n_net, 0);
	assert_int_equal(f->plan.seed_bytes, 301 + 601 + 901);
	assert_int_equal(f->plan.net_bytes, 0);
	assert_int_equal(f->plan.fetch_bytes, 0);
}

static void plan_merges_adjacent_net_chunks_into_one_range(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 100, 200, 300, 400 };

	layout(f, lens, 4, 0);
	build(f, 0, 0); /* even with no gap allowance, touching ranges merge */
	assert_int_equal(f->plan.n_ranges, 1);
	assert_int_equal(f->plan.ranges[0].off, BODY_START);
	assert_int_equal(f->plan.ranges[0].len, 1000);
	assert_int_equal(f->plan.fetch_bytes, 1000);
	assert_int_equal(f->plan.net_comp_bytes, 1000);
	assert_int_equal(f->plan.n_requests, 1);
}

/* NET, SEED of seed_len compressed bytes, NET: is the hole merged? */
static size_t ranges_around_hole(struct fixture *f, uint64_t hole, uint64_t max_gap)
{
	const uint64_t lens[] = { 100, hole, 100 };

	zu_plan_fini(&f->plan);
	layout(f, lens, 3, 0);
	seed(f, 1);
	build(f, 0, max_gap);
	return f->plan.n_ranges;
}

static void plan_merges_ranges_closer_than_default_gap(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ranges_around_hole(f, ZU_PLAN_DEFAULT_GAP - 1, UINT64_MAX), 1);
	assert_int_equal(f->plan.ranges[0].off, BODY_START);
	assert_int_equal(f->plan.ranges[0].len, 200 + ZU_PLAN_DEFAULT_GAP - 1);
	assert_int_equal(f->plan.fetch_bytes, 200 + ZU_PLAN_DEFAULT_GAP - 1);
	assert_int_equal(f->plan.net_comp_bytes, 200);
}

static void plan_keeps_ranges_apart_at_or_above_gap(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ranges_around_hole(f, ZU_PLAN_DEFAULT_GAP, UINT64_MAX), 2);
	assert_int_equal(f->plan.ranges[0].off, BODY_START);
	assert_int_equal(f->plan.ranges[0].len, 100);
	assert_int_equal(f->plan.ranges[1].off, BODY_START + 100 + ZU_PLAN_DEFAULT_GAP);
	assert_int_equal(f->plan.ranges[1].len, 100);
	assert_int_equal(f->plan.fetch_bytes, 200);
	assert_int_equal(ranges_around_hole(f, 5000, UINT64_MAX), 2);
}

static void plan_honours_custom_gap(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ranges_around_hole(f, 1, 0), 2);
	assert_int_equal(ranges_around_hole(f, 1, 1), 2);
	assert_int_equal(ranges_around_hole(f, 1, 2), 1);
	assert_int_equal(ranges_around_hole(f, 4999, 5000), 1);
	assert_int_equal(ranges_around_hole(f, 5000, 5000), 2);
}

static void plan_batches_requests_by_max_ranges(void **state)
{
	struct fixture *f = *state;
	uint64_t lens[20];
	const struct {
		size_t max_ranges, requests;
	} cases[] = { { 1, 10 }, { 3, 4 }, { 5, 2 }, { 9, 2 }, { 10, 1 }, { 0, 1 }, { 1000, 1 } };

	for (size_t i = 0; i < 20; i++)
		lens[i] = 1000;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		zu_plan_fini(&f->plan);
		layout(f, lens, 20, 0);
		for (size_t i = 1; i < 20; i += 2)
			seed(f, i); /* 10 NET chunks separated by 1000-byte holes */
		build(f, cases[c].max_ranges, UINT64_MAX);
		assert_int_equal(f->plan.n_ranges, 10);
		assert_int_equal(f->plan.n_requests, cases[c].requests);
		assert_int_equal(f->plan.max_ranges,
				 cases[c].max_ranges ? cases[c].max_ranges : ZU_PLAN_DEFAULT_MAX_RANGES);
	}
}

static void plan_fetches_dict_only_with_net_chunks(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 5000, 100, 200 };

	layout(f, lens, 3, 700);
	seed(f, 0);
	seed(f, 2);
	build(f, 0, UINT64_MAX);
	assert_true(f->plan.need_dict);
	assert_int_equal(f->plan.n_ranges, 2);
	assert_int_equal(f->plan.ranges[0].off, BODY_START);
	assert_int_equal(f->plan.ranges[0].len, 700);
	assert_int_equal(f->plan.ranges[1].off, BODY_START + 700 + 5000);
	assert_int_equal(f->plan.ranges[1].len, 100);
	assert_int_equal(f->plan.fetch_bytes, 800);
	assert_int_equal(f->plan.net_comp_bytes, 100); /* the dict is not a chunk */

	zu_plan_fini(&f->plan);
	seed(f, 1);
	build(f, 0, UINT64_MAX);
	assert_false(f->plan.need_dict);
	assert_int_equal(f->plan.n_ranges, 0);

	/* The dict touching the first NET chunk is merged with it. */
	zu_plan_fini(&f->plan);
	f->locs[0].source = ZU_NO_SOURCE;
	build(f, 0, UINT64_MAX);
	assert_true(f->plan.need_dict);
	assert_int_equal(f->plan.n_ranges, 1);
	assert_int_equal(f->plan.ranges[0].len, 5700);
}

/* Ranges are sorted, disjoint, separated by >= gap, cover every NET chunk, sum to fetch_bytes. */
static void check_ranges(const struct fixture *f, uint64_t gap)
{
	const struct zu_plan *pl = &f->plan;
	uint64_t sum = 0;
	size_t j = 0;

	for (size_t i = 0; i < pl->n_ranges; i++) {
		assert_true(pl->ranges[i].len > 0);
		if (i > 0)
			assert_true(pl->ranges[i].off >=
				    pl->ranges[i - 1].off + pl->ranges[i - 1].len + gap);
		sum += pl->ranges[i].len;
	}
	assert_int_equal(sum, pl->fetch_bytes);
	for (size_t i = 0; i < f->h.n_chunks; i++) {
		const struct zu_chunk *c = &f->chunks[i];

		if (f->locs[i].source != ZU_NO_SOURCE || c->comp_len == 0)
			continue;
		while (j < pl->n_ranges && pl->ranges[j].off + pl->ranges[j].len <= c->file_offset)
			j++;
		assert_true(j < pl->n_ranges);
		assert_true(pl->ranges[j].off <= c->file_offset);
		assert_true(c->file_offset + c->comp_len <= pl->ranges[j].off + pl->ranges[j].len);
	}
}

/*
 * The HTTP fetcher's cut, written out plainly: runs of at most 150 ranges and
 * 8 MiB, ZU_PLAN_REQUEST_BYTES (longer ranges split), each asked for max_ranges ranges at a time.
 */
static size_t expected_requests(const struct zu_plan *p)
{
	size_t requests = 0, pieces = 0;
	uint64_t bytes = 0;

	for (size_t i = 0; i < p->n_ranges; i++)
		for (uint64_t at = 0; at < p->ranges[i].len;) {
			uint64_t take = p->ranges[i].len - at;

			if (pieces == ZU_LIMITS_MAX_RANGES || bytes == ZU_PLAN_REQUEST_BYTES) {
				requests += (pieces + p->max_ranges - 1) / p->max_ranges;
				pieces = 0;
				bytes = 0;
			}
			if (take > ZU_PLAN_REQUEST_BYTES - bytes)
				take = ZU_PLAN_REQUEST_BYTES - bytes;
			pieces++;
			bytes += take;
			at += take;
		}
	return requests + (pieces + p->max_ranges - 1) / p->max_ranges;
}

static void plan_stats_match_chunk_sums_random(void **state)
{
	struct fixture *f = *state;
	const uint64_t seedv = 0x9e3779b97f4a7c15u;
	uint64_t rng = test_rng_seed(seedv);
	static uint64_t lens[MAX_CHUNKS];

	print_message("plan random seed 0x%016" PRIx64 "\n", seedv);
	for (int round = 0; round < 50; round++) {
		size_t n = 1 + test_rng_next(&rng) % MAX_CHUNKS, seeds = 0, nets = 0;
		uint64_t sb = 0, nb = 0, ncb = 0, gap = test_rng_next(&rng) % 600;

		for (size_t i = 0; i < n; i++)
			lens[i] = test_rng_next(&rng) % 4 == 0 ? test_rng_next(&rng) % 300
							       : 1 + test_rng_next(&rng) % 40000;
		zu_plan_fini(&f->plan);
		layout(f, lens, n, round % 2 ? 321 : 0);
		for (size_t i = 0; i < n; i++) {
			if (test_rng_next(&rng) % 3) {
				seed(f, i);
				seeds++;
				sb += f->chunks[i].len;
			} else {
				nets++;
				nb += f->chunks[i].len;
				ncb += f->chunks[i].comp_len;
			}
		}
		build(f, 1 + test_rng_next(&rng) % 200, gap);
		assert_int_equal(f->plan.n_chunks, n);
		assert_int_equal(f->plan.n_seed, seeds);
		assert_int_equal(f->plan.n_net, nets);
		assert_int_equal(f->plan.seed_bytes, sb);
		assert_int_equal(f->plan.net_bytes, nb);
		assert_int_equal(f->plan.net_comp_bytes, ncb);
		assert_int_equal(f->plan.need_dict, nets > 0 && round % 2);
		assert_int_equal(f->plan.n_requests, expected_requests(&f->plan));
		assert_true(f->plan.wire_estimate >= f->plan.fetch_bytes +
						       f->plan.n_requests * ZU_PLAN_ANSWER_OVERHEAD);
		assert_true(f->plan.fetch_bytes >= ncb);
		check_ranges(f, gap);
		assert_memory_equal(f->plan.locs, f->locs, n * sizeof(f->locs[0]));
	}
}

static void plan_owns_a_copy_of_locations(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 10, 20 };

	layout(f, lens, 2, 0);
	seed(f, 1);
	build(f, 0, UINT64_MAX);
	f->locs[1] = (struct zu_seed_loc){ .source = ZU_NO_SOURCE };
	assert_non_null(f->plan.locs);
	assert_ptr_not_equal(f->plan.locs, f->locs);
	assert_int_equal(f->plan.locs[1].source, 0);
	assert_int_equal(f->plan.locs[1].offset, 4096);
	assert_int_equal(f->plan.locs[0].source, ZU_NO_SOURCE);
}

static void plan_handles_empty_chunks_and_unsorted_offsets(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 0, 100, 0, 100 };

	layout(f, lens, 4, 0);
	f->chunks[0].len = 0;
	f->chunks[2].len = 0;
	/* Swap the file positions of chunks 1 and 3, with a large hole between. */
	f->chunks[1].file_offset = BODY_START + 10000;
	f->chunks[3].file_offset = BODY_START;
	build(f, 0, UINT64_MAX);
	assert_int_equal(f->plan.n_net, 4);
	assert_int_equal(f->plan.n_ranges, 2);
	assert_int_equal(f->plan.ranges[0].off, BODY_START);
	assert_int_equal(f->plan.ranges[1].off, BODY_START + 10000);
	assert_int_equal(f->plan.fetch_bytes, 200);
	assert_int_equal(f->plan.net_bytes, 2 * 301);

	zu_plan_fini(&f->plan);
	f->h.n_chunks = 0;
	build(f, 0, UINT64_MAX);
	assert_int_equal(f->plan.n_chunks, 0);
	assert_null(f->plan.locs);
	assert_int_equal(f->plan.n_ranges, 0);
}

static void plan_overlapping_ranges_merge(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 100, 100 };

	layout(f, lens, 2, 0);
	f->chunks[1].file_offset = BODY_START + 50; /* overlaps chunk 0 */
	f->chunks[1].comp_len = 20;                 /* and ends inside it */
	build(f, 0, 0);
	assert_int_equal(f->plan.n_ranges, 1);
	assert_int_equal(f->plan.ranges[0].len, 100);
}

static void plan_rejects_overflowing_offsets(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 100, 100 };
	struct zu_plan_params pp = { .max_gap = UINT64_MAX };

	layout(f, lens, 2, 0);
	f->chunks[1].file_offset = UINT64_MAX - 10;
	assert_int_equal(zu_plan_build(&f->h, f->locs, &pp, &f->plan, &f->err), -EOVERFLOW);
	assert_int_equal(f->err.code, -EOVERFLOW);
	assert_non_null(strstr(f->err.msg, "chunk 1"));
	assert_null(f->plan.ranges);
	assert_null(f->plan.locs);

	layout(f, lens, 2, 0);
	f->chunks[0].len = UINT64_MAX;
	assert_int_equal(zu_plan_build(&f->h, f->locs, NULL, &f->plan, &f->err), -EOVERFLOW);
}

static void plan_rejects_missing_arguments(void **state)
{
	struct fixture *f = *state;
	const uint64_t lens[] = { 100 };

	layout(f, lens, 1, 0);
	assert_int_equal(zu_plan_build(NULL, f->locs, NULL, &f->plan, &f->err), -EINVAL);
	assert_int_equal(zu_plan_build(&f->h, NULL, NULL, &f->plan, &f->err), -EINVAL);
	assert_int_equal(zu_plan_build(&f->h, f->locs, NULL, NULL, &f->err), -EINVAL);
	/* NULL params mean defaults. */
	assert_int_equal(zu_plan_build(&f->h, f->locs, NULL, &f->plan, &f->err), 0);
	assert_int_equal(f->plan.max_ranges, ZU_PLAN_DEFAULT_MAX_RANGES);
	zu_plan_fini(&f->plan);
	zu_plan_fini(&f->plan); /* idempotent */
	zu_plan_fini(NULL);
}

struct walk_sum {
	uint64_t bytes, dict;
	size_t n;
	size_t last;
};

static void walk_add(void *user, const struct zu_plan_item *it)
{
	struct walk_sum *w = user;

	w->bytes += it->bytes;
	if (it->chunk == SIZE_MAX)
		w->dict += it->bytes;
	else
		assert_true(w->n == 0 || w->last == SIZE_MAX || it->chunk > w->last);
	w->last = it->chunk;
	w->n++;
}

/* explain's walk: each NET chunk and the dict, the gaps charged to the next: fetch_bytes exactly. */
static void plan_walk_adds_up_to_fetch_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t seedv = 7, rng = test_rng_seed(seedv), lens[600];
	struct walk_sum w = { 0 };

	printf("# seed %" PRIu64 "\n", seedv);
	for (size_t i = 0; i < 600; i++)
		lens[i] = 1 + test_rng_next(&rng) % 700; /* gaps below and above the 256 merge */
	layout(f, lens, 600, 90);
	for (size_t i = 0; i < 600; i++)
		if (test_rng_next(&rng) % 2)
			seed(f, i);
	build(f, 0, UINT64_MAX);
	assert_true(f->plan.n_ranges > 1);
	assert_int_equal(zu_plan_walk(&f->h, &f->plan, walk_add, &w, &f->err), 0);
	assert_int_equal(w.bytes, f->plan.fetch_bytes);
	assert_int_equal(w.n, f->plan.n_net + 1);
	assert_true(w.dict >= 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(plan_all_seed_has_no_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_merges_adjacent_net_chunks_into_one_range,
						setup, teardown),
		cmocka_unit_test_setup_teardown(plan_merges_ranges_closer_than_default_gap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plan_keeps_ranges_apart_at_or_above_gap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plan_honours_custom_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_batches_requests_by_max_ranges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plan_fetches_dict_only_with_net_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plan_stats_match_chunk_sums_random, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_owns_a_copy_of_locations, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_handles_empty_chunks_and_unsorted_offsets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(plan_overlapping_ranges_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_rejects_overflowing_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_rejects_missing_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_walk_adds_up_to_fetch_bytes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
