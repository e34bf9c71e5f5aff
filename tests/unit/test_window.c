/* SPDX-License-Identifier: MIT */
/* Unit tests for fetch_window: cutting, placement by offset, in-order output, bounds. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetch/fetch_window.h"
#include "plan.h"
#include "zu_limits.h"

#define MIB (1u << 20)

static uint8_t byte_at(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13);
}

static uint8_t *bytes_from(uint64_t off, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = byte_at(off + i);
	return p;
}

/* What was written out: in order, contiguous within the ranges, the right bytes. */
struct sink {
	uint64_t next;          /* offset expected next */
	uint64_t total;
	size_t calls;
	const struct zu_frame_range *r;
	size_t n, ri;
};

static int check_emit(void *user, uint64_t off, const uint8_t *p, uint64_t n)
{
	struct sink *k = user;

	while (k->ri < k->n && k->next == k->r[k->ri].off + k->r[k->ri].len) {
		k->ri++;
		if (k->ri < k->n)
			k->next = k->r[k->ri].off;
	}
	assert_true(k->ri < k->n);
	assert_int_equal(off, k->next);
	assert_true(off + n <= k->r[k->ri].off + k->r[k->ri].len);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(p[i], byte_at(off + i));
	k->next += n;
	k->total += n;
	k->calls++;
	return 0;
}

static void place_range(struct zu_window *w, uint64_t off, size_t n, uint64_t want_placed)
{
	uint8_t *p = bytes_from(off, n);
	bool conflict = false;

	assert_int_equal(zu_window_place(w, off, p, n, &conflict), want_placed);
	assert_false(conflict);
	free(p);
}

static void window_cuts_slots_within_bounds(void **state)
{
	const struct zu_frame_range r[] = { { 100, 10 }, { 1000, 40 * MIB } };
	struct zu_window w;

	(void)state;
	zu_window_start(&w, r, 2);
	assert_int_equal(zu_window_grow(&w), 0);
	/* 16 MiB of 4 MiB slots, the long range split across them */
	assert_int_equal(w.n_slots, ZU_WINDOW_BYTES / ZU_PLAN_REQUEST_BYTES);
	assert_true(w.bytes <= ZU_WINDOW_BYTES);
	assert_int_equal(w.slot[0]->n, 2);
	assert_int_equal(w.slot[0]->pieces[0].off, 100);
	assert_int_equal(w.slot[0]->pieces[1].off, 1000);
	assert_int_equal(w.slot[0]->bytes, ZU_PLAN_REQUEST_BYTES);
	assert_int_equal(w.slot[1]->pieces[0].off,
			 1000 + w.slot[0]->pieces[1].len);
	assert_false(zu_window_all_cut(&w));
	zu_window_drop(&w, true);
	assert_int_equal(w.n_slots, 0);
}

static void window_cuts_at_most_150_pieces(void **state)
{
	struct zu_frame_range r[400];
	struct zu_window w;

	(void)state;
	for (size_t i = 0; i < 400; i++)
		r[i] = (struct zu_frame_range){ i * 1000, 10 };
	zu_window_start(&w, r, 400);
	assert_int_equal(zu_window_grow(&w), 0);
	assert_int_equal(w.n_slots, 3);
	assert_int_equal(w.slot[0]->n, ZU_LIMITS_MAX_RANGES);
	assert_int_equal(w.slot[2]->n, 400 - 2 * ZU_LIMITS_MAX_RANGES);
	assert_true(zu_window_all_cut(&w));
	zu_window_drop(&w, true);
}

/* Answers in any order: nothing goes out until the bytes before it are in. */
static void window_writes_out_in_order_whatever_arrives_first(void **state)
{
	const struct zu_frame_range r[] = { { 0, 3000 }, { 5000, 2000 }, { 9000, 100 } };
	struct sink k = { .r = r, .n = 3 };
	struct zu_window w;

	(void)state;
	k.next = 0;
	zu_window_start(&w, r, 3);
	assert_int_equal(zu_window_grow(&w), 0);
	place_range(&w, 9000, 100, 100);          /* the last range first */
	place_range(&w, 5000, 2000, 2000);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 0);             /* the first range is missing */
	place_range(&w, 1500, 1500, 0);           /* not where its prefix ends: dropped */
	place_range(&w, 0, 1500, 1500);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 1500);
	/* one part spanning a gap and two ranges (a coalesced answer): gap bytes dropped */
	place_range(&w, 1500, 4000, 1500);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 5100);
	assert_true(zu_window_done(&w));
}

static void window_refuses_contradicting_bytes(void **state)
{
	const struct zu_frame_range r[] = { { 0, 100 } };
	struct zu_window w;
	uint8_t *p = bytes_from(0, 100);
	bool conflict = false;

	(void)state;
	zu_window_start(&w, r, 1);
	assert_int_equal(zu_window_grow(&w), 0);
	assert_int_equal(zu_window_place(&w, 0, p, 60, &conflict), 60);
	/* the same bytes again, overlapping and going on: fine */
	assert_int_equal(zu_window_place(&w, 40, p + 40, 40, &conflict), 20);
	assert_false(conflict);
	p[50] ^= 0x5a;
	assert_int_equal(zu_window_place(&w, 50, p + 50, 10, &conflict), 0);
	assert_true(conflict);
	free(p);
	zu_window_drop(&w, true);
}

static void window_keeps_a_slot_a_request_points_into(void **state)
{
	const struct zu_frame_range r[] = { { 0, 10 } };
	struct sink k = { .r = r, .n = 1 };
	struct zu_window w;

	(void)state;
	zu_window_start(&w, r, 1);
	assert_int_equal(zu_window_grow(&w), 0);
	w.slot[0]->users = 1;
	place_range(&w, 0, 10, 10);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 10);
	assert_int_equal(w.n_slots, 1);           /* written out, but still pointed into */
	zu_window_drop(&w, false);
	assert_int_equal(w.n_slots, 1);
	w.slot[0]->users = 0;
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_true(zu_window_done(&w));
}

/* Written-out pages go back; a late repeat of them is not taken for a contradiction. */
static void window_gives_back_written_pages(void **state)
{
	const struct zu_frame_range r[] = { { 0, 4 * MIB } };
	struct sink k = { .r = r, .n = 1 };
	struct zu_window w;
	uint8_t *p;
	bool conflict = false;

	(void)state;
	zu_window_start(&w, r, 1);
	assert_int_equal(zu_window_grow(&w), 0);
	place_range(&w, 0, 3 * MIB, 3 * MIB);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_true(w.slot[0]->released >= 2 * MIB);
	p = bytes_from(0, MIB);
	assert_int_equal(zu_window_place(&w, 0, p, MIB, &conflict), 0);
	assert_false(conflict);
	free(p);
	assert_int_equal(zu_window_next_out(&w), 3 * MIB);
	place_range(&w, 3 * MIB, MIB, MIB);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 4 * MIB);
	assert_true(zu_window_done(&w));
}

static void window_clips_to_a_short_resource(void **state)
{
	struct zu_frame_range head = { 0, 16384 };
	struct sink k = { .r = &head, .n = 1 };
	struct zu_window w;

	(void)state;
	zu_window_start(&w, &head, 1);
	assert_int_equal(zu_window_grow(&w), 0);
	zu_window_clip(&w, &head, 700);
	assert_int_equal(head.len, 700);
	assert_int_equal(w.slot[0]->pieces[0].len, 700);
	place_range(&w, 0, 700, 700);
	assert_int_equal(zu_window_deliver(&w, check_emit, &k), 0);
	assert_int_equal(k.total, 700);
	assert_true(zu_window_done(&w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(window_cuts_slots_within_bounds),
		cmocka_unit_test(window_cuts_at_most_150_pieces),
		cmocka_unit_test(window_writes_out_in_order_whatever_arrives_first),
		cmocka_unit_test(window_refuses_contradicting_bytes),
		cmocka_unit_test(window_keeps_a_slot_a_request_points_into),
		cmocka_unit_test(window_gives_back_written_pages),
		cmocka_unit_test(window_clips_to_a_short_resource),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
