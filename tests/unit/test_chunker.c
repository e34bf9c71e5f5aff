/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for chunker: agreement with a spec-literal reference (shared/spec/zchunk-chunker.md),
 * invariance to how input is split into calls, min/max sizes, empty input, long runs of one byte,
 * and the restart quirk (a hit before 8192 bytes re-feeds the same byte).
 * Agreement with the real zck is checked by tests/integration/chunker_vs_zck.sh.
 */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chunker.h"
#include "chunker_table.h"
#include "test_rng.h"

#define MASK 0x7fffu
#define SEED 0x20240611u
#define MAX_CUTS 4096

struct cuts {
	size_t n;
	size_t len[MAX_CUTS];
};

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = test_rng_seed(s);
	print_message("seed %" PRIu64 "\n", s);
}

static uint32_t rol(uint32_t v, unsigned int s)
{
	s %= 32;
	return s ? (v << s) | (v >> (32 - s)) : v;
}

/* ---- spec-literal reference: one byte at a time, exactly the steps of the spec ---- */

struct ref_hash {
	uint32_t h;
	size_t fill, oldest;
	uint8_t win[ZU_CHUNKER_WINDOW];
};

static uint32_t ref_feed(struct ref_hash *s, uint8_t c)
{
	const unsigned int w = ZU_CHUNKER_WINDOW;

	if (s->fill < w) {
		s->win[s->fill++] = c;
		if (s->fill < w) {
			s->h ^= rol(zu_buzhash_table[c], w - (unsigned int)s->fill);
			return 1;
		}
		s->h ^= zu_buzhash_table[c];
		return s->h;
	}
	s->h = rol(s->h, 1) ^ rol(zu_buzhash_table[s->win[s->oldest]], w) ^ zu_buzhash_table[c];
	s->win[s->oldest] = c;
	s->oldest = (s->oldest + 1) % w;
	return s->h;
}

/*
 * Cuts p[0..n), re-feeding a hit byte before 8192 up to max_refeeds times in a row. zchunk's
 * behaviour is REFEEDS_ZCK (it would loop forever past that, see chunker.c); smaller values are
 * deliberately wrong variants, used to show that a test input depends on the quirk.
 */
#define REFEEDS_ZCK (ZU_CHUNKER_WINDOW - 1)
static void ref_chunk(const uint8_t *p, size_t n, size_t max_refeeds, struct cuts *out)
{
	struct ref_hash s = { 0 };
	uint64_t committed = 0, run = 0;
	size_t i = 0, refeeds = 0;

	out->n = 0;
	while (i < n) {
		uint32_t o = ref_feed(&s, p[i]);

		if ((o & MASK) == 0 || committed + run >= ZU_CHUNKER_MAX) {
			committed += run;
			run = 0;
			if (committed < ZU_CHUNKER_MIN) {
				if (refeeds < max_refeeds) {
					refeeds++;
					continue;
				}
			} else {
				assert_true(out->n < MAX_CUTS);
				out->len[out->n++] = (size_t)committed;
				memset(&s, 0, sizeof(s));
				committed = 0;
				refeeds = 0;
				continue;
			}
		}
		refeeds = 0;
		run++;
		i++;
	}
	if (committed + run > 0) {
		assert_true(out->n < MAX_CUTS);
		out->len[out->n++] = (size_t)(committed + run);
	}
}

/* ---- the chunker under test, fed in pieces chosen by next_piece ---- */

typedef size_t (*piece_fn)(size_t remaining);

static size_t whole(size_t remaining)
{
	return remaining;
}

/* Mostly small pieces, sometimes empty, sometimes large: exercises every buffer edge. */
static size_t random_piece(size_t remaining)
{
	size_t r = (size_t)(test_rng_next(&rng_state) >> 40);
	size_t n;

	switch (r % 5) {
	case 0:
		n = 0;
		break;
	case 1:
		n = 1 + r % 64;
		break;
	case 2:
		n = 1 + r % 4096;
		break;
	default:
		n = 1 + r % 200000;
		break;
	}
	return n < remaining ? n : remaining;
}

static void zu_chunk(const uint8_t *p, size_t n, piece_fn next_piece, struct cuts *out)
{
	struct zu_chunker c;
	size_t off = 0, zero_pieces = 0;
	uint64_t cur = 0;

	zu_chunker_init(&c);
	out->n = 0;
	while (off < n) {
		size_t piece = next_piece(n - off);
		size_t k = zu_chunker_scan(&c, p + off, piece);

		if (k == ZU_CHUNKER_NO_CUT) {
			off += piece;
			cur += piece;
			assert_int_equal(zu_chunker_pending(&c), cur);
			zero_pieces += piece == 0;
			assert_true(zero_pieces < 1000000);
			continue;
		}
		assert_true(k <= piece);
		assert_true(out->n < MAX_CUTS);
		out->len[out->n++] = (size_t)(cur + k);
		off += k;
		cur = 0;
		assert_int_equal(zu_chunker_pending(&c), 0);
	}
	if (zu_chunker_pending(&c) > 0) {
		assert_int_equal(zu_chunker_pending(&c), cur);
		out->len[out->n++] = (size_t)cur;
	}
}

static void assert_same_cuts(const struct cuts *a, const struct cuts *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		if (a->len[i] != b->len[i])
			print_error("chunk %zu: %zu != %zu\n", i, a->len[i], b->len[i]);
		assert_int_equal(a->len[i], b->len[i]);
	}
}

/* Random bytes with runs, a periodic stretch and repeated blocks, to vary the cut reasons. */
static uint8_t *make_mixed(size_t n)
{
	uint8_t *p = test_rng_alloc(&rng_state, n);

	for (size_t at = 0; at + 400000 < n; at += 1000000) {
		size_t run = (size_t)(test_rng_next(&rng_state) % 300000);

		memset(p + at, (int)(test_rng_next(&rng_state) >> 56), run);
		for (size_t i = 0; i < 50000; i++)
			p[at + run + i] = (uint8_t)("zckup"[i % 5]);
	}
	if (n > 2000000)
		memcpy(p + n / 2 + 13, p + 1000, 500000);
	return p;
}

static void chunker_matches_spec_reference_on_mixed_data(void **state)
{
	size_t n = 6u << 20;
	struct cuts *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	uint8_t *p;
	size_t sum = 0;

	(void)state;
	rng_seed(SEED);
	p = make_mixed(n);
	assert_non_null(a);
	assert_non_null(b);
	ref_chunk(p, n, REFEEDS_ZCK, a);
	zu_chunk(p, n, whole, b);
	assert_same_cuts(a, b);
	for (size_t i = 0; i < b->n; i++)
		sum += b->len[i];
	assert_int_equal(sum, n);
	assert_true(b->n > 50);
	free(p);
	free(a);
	free(b);
}

static void cuts_do_not_depend_on_how_input_is_split(void **state)
{
	size_t n = 4u << 20;
	struct cuts *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	uint8_t *p;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	rng_seed(SEED + 1);
	p = make_mixed(n);
	zu_chunk(p, n, whole, a);
	for (uint64_t s = 0; s < 8; s++) {
		rng_seed(SEED + 100 + s);
		zu_chunk(p, n, random_piece, b);
		assert_same_cuts(a, b);
	}
	free(p);
	free(a);
	free(b);
}

static void cuts_survive_one_byte_calls(void **state)
{
	size_t n = 600000;
	struct cuts *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	uint8_t *p = malloc(n);
	struct zu_chunker c;
	size_t off = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(p);
	rng_seed(SEED + 2);
	test_rng_fill(&rng_state, p, n);
	zu_chunk(p, n, whole, a);
	zu_chunker_init(&c);
	b->n = 0;
	for (size_t start = 0; off < n; off++) {
		size_t k = zu_chunker_scan(&c, p + off, 1);

		if (k == 0) {
			b->len[b->n++] = off - start;
			start = off;
			k = zu_chunker_scan(&c, p + off, 1);
		}
		assert_true(k == ZU_CHUNKER_NO_CUT);
		if (off + 1 == n)
			b->len[b->n++] = n - start;
	}
	assert_same_cuts(a, b);
	free(p);
	free(a);
	free(b);
}

static void chunks_respect_min_and_max(void **state)
{
	size_t n = 8u << 20;
	struct cuts *a = malloc(sizeof(*a));
	uint8_t *p;
	bool saw_max = false, saw_small = false;

	(void)state;
	assert_non_null(a);
	rng_seed(SEED + 3);
	p = make_mixed(n);
	zu_chunk(p, n, whole, a);
	for (size_t i = 0; i < a->n; i++) {
		assert_true(a->len[i] <= ZU_CHUNKER_MAX);
		assert_true(a->len[i] > 0);
		if (i + 1 < a->n)
			assert_true(a->len[i] >= ZU_CHUNKER_MIN);
		saw_max |= a->len[i] == ZU_CHUNKER_MAX;
		saw_small |= a->len[i] < 16384;
	}
	/* both limits were actually reached, so the checks above had something to check */
	assert_true(saw_max);
	assert_true(saw_small);
	free(p);
	free(a);
}

static void empty_input_gives_no_chunk(void **state)
{
	struct zu_chunker c;
	uint8_t byte = 0;

	(void)state;
	zu_chunker_init(&c);
	assert_true(zu_chunker_scan(&c, &byte, 0) == ZU_CHUNKER_NO_CUT);
	assert_true(zu_chunker_scan(&c, NULL, 0) == ZU_CHUNKER_NO_CUT);
	assert_int_equal(zu_chunker_pending(&c), 0);
}

static void input_shorter_than_min_is_one_chunk(void **state)
{
	uint8_t p[ZU_CHUNKER_MIN];
	struct zu_chunker c;

	(void)state;
	rng_seed(SEED + 4);
	test_rng_fill(&rng_state, p, sizeof(p));
	zu_chunker_init(&c);
	assert_true(zu_chunker_scan(&c, p, 1) == ZU_CHUNKER_NO_CUT);
	assert_int_equal(zu_chunker_pending(&c), 1);
	assert_true(zu_chunker_scan(&c, p + 1, sizeof(p) - 1) == ZU_CHUNKER_NO_CUT);
	assert_int_equal(zu_chunker_pending(&c), ZU_CHUNKER_MIN);
}

/* The cut is decided on the byte after the chunk, so a call ending at a cut returns 0 next. */
static void cut_at_call_boundary_returns_zero_next_call(void **state)
{
	size_t n = 1u << 20;
	uint8_t *p = malloc(n);
	struct zu_chunker c;
	size_t k;

	(void)state;
	assert_non_null(p);
	rng_seed(SEED + 5);
	test_rng_fill(&rng_state, p, n);
	zu_chunker_init(&c);
	k = zu_chunker_scan(&c, p, n);
	assert_true(k != ZU_CHUNKER_NO_CUT && k >= ZU_CHUNKER_MIN);
	zu_chunker_init(&c);
	assert_true(zu_chunker_scan(&c, p, k) == ZU_CHUNKER_NO_CUT);
	assert_int_equal(zu_chunker_pending(&c), k);
	assert_int_equal(zu_chunker_scan(&c, p + k, n - k), 0);
	assert_int_equal(zu_chunker_pending(&c), 0);
	free(p);
}

/* No byte value's steady hash matches the mask, so a run is cut only by the 128 KiB limit. */
static void long_run_of_one_byte_is_cut_at_max(void **state)
{
	size_t n = 3 * ZU_CHUNKER_MAX + 1000;
	uint8_t *p = malloc(n);
	struct cuts *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	(void)state;
	assert_non_null(p);
	assert_non_null(a);
	assert_non_null(b);
	for (unsigned int v = 0; v < 256; v++) {
		memset(p, (int)v, n);
		zu_chunk(p, n, whole, a);
		assert_int_equal(a->n, 4);
		for (size_t i = 0; i < 3; i++)
			assert_int_equal(a->len[i], ZU_CHUNKER_MAX);
		assert_int_equal(a->len[3], 1000);
		if (v % 64 == 0) {
			ref_chunk(p, n, REFEEDS_ZCK, b);
			assert_same_cuts(a, b);
		}
	}
	free(p);
	free(a);
	free(b);
}

/* h of a full window, from the definition: each byte's T rotated by its age. */
static uint32_t window_hash(const uint8_t *w)
{
	uint32_t h = 0;

	for (unsigned int k = 0; k < ZU_CHUNKER_WINDOW; k++)
		h ^= rol(zu_buzhash_table[w[k]], ZU_CHUNKER_WINDOW - 1 - k);
	return h;
}

/*
 * Builds 8192 + 100 bytes where a hit at byte 8159 (< 8192, so it restarts) leaves byte 8159
 * twice in the window, and that window hits at byte 8192 while the plain window does not.
 * Returns false if this seed's prefix does not allow it.
 */
static bool build_quirk_input(uint8_t *p, size_t n)
{
	const size_t hit1 = 8159, hit2 = ZU_CHUNKER_MIN;
	uint8_t quirk_win[ZU_CHUNKER_WINDOW];
	bool found = false;

	test_rng_fill(&rng_state, p, n);
	for (unsigned int ab = 0; ab < 65536 && !found; ab++) {
		p[hit1 - 1] = (uint8_t)(ab >> 8);
		p[hit1] = (uint8_t)ab;
		found = (window_hash(p + hit1 + 1 - ZU_CHUNKER_WINDOW) & MASK) == 0;
	}
	for (unsigned int ab = 0; ab < 65536 && found; ab++) {
		p[hit2 - 1] = (uint8_t)(ab >> 8);
		p[hit2] = (uint8_t)ab;
		/* last 48 fed: p[8146..8159], p[8159] again, p[8160..8192] */
		memcpy(quirk_win, p + hit1 - 13, 14);
		memcpy(quirk_win + 14, p + hit1, hit2 - hit1 + 1);
		if ((window_hash(quirk_win) & MASK) == 0 &&
		    (window_hash(p + hit2 + 1 - ZU_CHUNKER_WINDOW) & MASK) != 0)
			return true;
	}
	return false;
}

static void restart_quirk_refeeds_the_hit_byte(void **state)
{
	uint8_t p[ZU_CHUNKER_MIN + 100];
	struct cuts quirk, plain, ours;
	uint64_t s;

	(void)state;
	for (s = 0; s < 20; s++) {
		rng_seed(SEED + 1000 + s);
		if (!build_quirk_input(p, sizeof(p)))
			continue;
		ref_chunk(p, sizeof(p), REFEEDS_ZCK, &quirk);
		ref_chunk(p, sizeof(p), 0, &plain);
		if (quirk.len[0] == ZU_CHUNKER_MIN && plain.len[0] != ZU_CHUNKER_MIN)
			break;
	}
	assert_true(s < 20);
	/* the quirk decides this cut: without the re-feed there would be none at 8192 */
	zu_chunk(p, sizeof(p), whole, &ours);
	assert_int_equal(ours.n, 2);
	assert_int_equal(ours.len[0], ZU_CHUNKER_MIN);
	assert_same_cuts(&quirk, &ours);
	rng_seed(SEED + 2000);
	zu_chunk(p, sizeof(p), random_piece, &ours);
	assert_same_cuts(&quirk, &ours);
}

/*
 * Byte 8150 hits, and hits again when re-fed: zchunk feeds it a third time. Only the window
 * holding it three times hits at 8192, so stopping after one re-feed (treating a double hit as
 * a non-hit) would give one chunk of 8292. The six bytes were found by an offline search over
 * test_rng seed 1's fill (bytes 8103..8150 making both windows at 8150 hit, then 8191..8192
 * making only the triple-fed window at 8192 hit); a new fill needs a new search. The
 * real zck cuts the openssl-keyed twin of this input (tests/integration/chunker_vs_zck.sh)
 * the same way.
 */
static void restart_quirk_refeeds_again_after_a_double_hit(void **state)
{
	static const size_t at[6] = { 8103, 8110, 8130, 8150, 8191, 8192 };
	static const uint8_t val[6] = { 134, 44, 95, 137, 150, 188 };
	uint8_t p[8292];
	struct cuts ref, once, ours;

	(void)state;
	rng_seed(1);
	test_rng_fill(&rng_state, p, sizeof(p));
	for (size_t i = 0; i < 6; i++)
		p[at[i]] = val[i];
	ref_chunk(p, sizeof(p), REFEEDS_ZCK, &ref);
	ref_chunk(p, sizeof(p), 1, &once);
	assert_int_equal(once.n, 1);
	zu_chunk(p, sizeof(p), whole, &ours);
	assert_int_equal(ours.n, 2);
	assert_int_equal(ours.len[0], ZU_CHUNKER_MIN);
	assert_int_equal(ours.len[1], 100);
	assert_same_cuts(&ref, &ours);
}

static void table_is_zchunks_and_out_table_is_rotated(void **state)
{
	(void)state;
	assert_int_equal(zu_buzhash_table[0], 0x458be752u);
	assert_int_equal(zu_buzhash_table[1], 0xc10748ccu);
	assert_int_equal(zu_buzhash_table[255], 0xd95ddf11u);
	for (unsigned int x = 0; x < 256; x++)
		assert_int_equal(zu_buzhash_out_table[x], rol(zu_buzhash_table[x], 48));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_is_zchunks_and_out_table_is_rotated),
		cmocka_unit_test(chunker_matches_spec_reference_on_mixed_data),
		cmocka_unit_test(cuts_do_not_depend_on_how_input_is_split),
		cmocka_unit_test(cuts_survive_one_byte_calls),
		cmocka_unit_test(chunks_respect_min_and_max),
		cmocka_unit_test(empty_input_gives_no_chunk),
		cmocka_unit_test(input_shorter_than_min_is_one_chunk),
		cmocka_unit_test(cut_at_call_boundary_returns_zero_next_call),
		cmocka_unit_test(long_run_of_one_byte_is_cut_at_max),
		cmocka_unit_test(restart_quirk_refeeds_the_hit_byte),
		cmocka_unit_test(restart_quirk_refeeds_again_after_a_double_hit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
