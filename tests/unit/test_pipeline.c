/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for pipeline: jobs come back in submission order whatever the
 * workers' delays, the tail sees them in the same order, no more than
 * n_slots are ever in flight, a failing job is reported in its place after
 * everything before it, and a driver that stops early (cancel, error) gets
 * its threads joined without waiting for the rest.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pipeline.h"
#include "test_rng.h"

#define SEED 0x91be11u
#define MAX_SLOTS 16
#define N_JOBS 400

struct job {
	size_t seq;          /* submission number, set by the driver */
	uint64_t value;      /* set by the worker */
};

struct ctx {
	struct job jobs[MAX_SLOTS];
	void *ptrs[MAX_SLOTS];
	unsigned max_delay_us;
	size_t fail_at;      /* work fails for this seq; SIZE_MAX: never */
	size_t tail_fail_at;
	atomic_size_t worked;
	atomic_int in_work;  /* jobs in work at once */
	atomic_int max_in_work;
	size_t tailed;       /* tail thread only */
	bool tail_in_order;
};

static uint64_t value_of(size_t seq)
{
	return seq * 2654435761u + 7;
}

static void delay(size_t seq, unsigned max_us)
{
	uint64_t rng = test_rng_seed(SEED + seq);
	struct timespec ts = { 0, 0 };

	if (max_us == 0)
		return;
	ts.tv_nsec = (long)(test_rng_next(&rng) % max_us) * 1000;
	nanosleep(&ts, NULL);
}

static int work(void *user, unsigned worker, void *p, struct zu_err *err)
{
	struct ctx *c = user;
	struct job *j = p;
	int now = atomic_fetch_add(&c->in_work, 1) + 1;
	int max = atomic_load(&c->max_in_work);

	(void)worker;
	while (now > max && !atomic_compare_exchange_weak(&c->max_in_work, &max, now))
		;
	delay(j->seq, c->max_delay_us);
	atomic_fetch_add(&c->in_work, -1);
	atomic_fetch_add(&c->worked, 1);
	if (j->seq == c->fail_at)
		return zu_err_set(err, -EILSEQ, "job %zu is bad", j->seq);
	j->value = value_of(j->seq);
	return 0;
}

static int tail(void *user, void *p, struct zu_err *err)
{
	struct ctx *c = user;
	struct job *j = p;

	if (j->seq != c->tailed || j->value != value_of(j->seq))
		c->tail_in_order = false;
	c->tailed++;
	if (j->seq == c->tail_fail_at)
		return zu_err_set(err, -EIO, "tail failed at %zu", j->seq);
	return 0;
}

static struct zu_pipe *start(struct ctx *c, unsigned workers, size_t slots, bool with_tail)
{
	struct zu_pipe_params p = { .n_workers = workers, .n_slots = slots, .jobs = c->ptrs,
				    .work = work, .tail = with_tail ? tail : NULL, .user = c };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_pipe *q = NULL;

	for (size_t k = 0; k < MAX_SLOTS; k++)
		c->ptrs[k] = &c->jobs[k];
	c->tail_in_order = true;
	assert_int_equal(zu_pipe_new(&p, &q, &err), 0);
	return q;
}

static void submit(struct zu_pipe *q, size_t seq)
{
	struct job *j = zu_pipe_next_slot(q);

	j->seq = seq;
	j->value = 0;
	zu_pipe_submit(q);
}

/* Runs n jobs the way assemble does: fill the window, then take one. Returns jobs taken. */
static size_t drive(struct zu_pipe *q, size_t slots, size_t n, size_t stop_after, int *out_rc,
		    struct zu_err *err)
{
	size_t next = 0, taken = 0;

	*out_rc = 0;
	while (taken < stop_after) {
		struct job *j;
		void *p;
		int r;

		if (next < n && zu_pipe_pending(q) < slots) {
			submit(q, next++);
			continue;
		}
		if (zu_pipe_pending(q) == 0)
			break;
		r = zu_pipe_take(q, &p, err);
		j = p;
		assert_int_equal(j->seq, taken); /* strictly in order */
		if (r < 0) {
			*out_rc = r;
			return taken;
		}
		assert_int_equal(j->value, value_of(j->seq));
		taken++;
		zu_pipe_release(q);
	}
	return taken;
}

static void pipeline_keeps_order_under_random_delays(void **state)
{
	const unsigned workers[] = { 1, 2, 7 };
	const size_t slots[] = { 1, 3, MAX_SLOTS };

	(void)state;
	printf("seed %#x\n", SEED);
	for (size_t w = 0; w < sizeof(workers) / sizeof(workers[0]); w++) {
		for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
			struct ctx c = { .max_delay_us = 300, .fail_at = SIZE_MAX,
					 .tail_fail_at = SIZE_MAX };
			struct zu_err err = ZU_ERR_INIT;
			struct zu_pipe *q = start(&c, workers[w], slots[s], true);
			int rc;

			printf("workers %u slots %zu\n", workers[w], slots[s]);
			assert_int_equal(drive(q, slots[s], N_JOBS, SIZE_MAX, &rc, &err), N_JOBS);
			assert_int_equal(rc, 0);
			assert_int_equal(zu_pipe_drain(q, &err), 0);
			assert_int_equal(c.tailed, N_JOBS);
			assert_true(c.tail_in_order);
			/* never more jobs at work than workers or slots */
			assert_true(c.max_in_work <= (int)workers[w]);
			assert_true(c.max_in_work <= (int)slots[s]);
			zu_pipe_free(q);
		}
	}
}

static void pipeline_without_tail_frees_slots_at_release(void **state)
{
	struct ctx c = { .fail_at = SIZE_MAX, .tail_fail_at = SIZE_MAX };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_pipe *q;
	int rc;

	(void)state;
	q = start(&c, 2, 2, false);
	assert_int_equal(drive(q, 2, N_JOBS, SIZE_MAX, &rc, &err), N_JOBS);
	assert_int_equal(rc, 0);
	assert_int_equal(zu_pipe_drain(q, &err), 0);
	assert_int_equal(c.tailed, 0);
	zu_pipe_free(q);
}

/* Job 57 fails: 0..56 come back first, then its error; the tail saw only 0..56. */
static void pipeline_reports_a_failure_in_its_place(void **state)
{
	const unsigned workers[] = { 1, 4 };

	(void)state;
	for (size_t w = 0; w < 2; w++) {
		struct ctx c = { .max_delay_us = 100, .fail_at = 57, .tail_fail_at = SIZE_MAX };
		struct zu_err err = ZU_ERR_INIT;
		struct zu_pipe *q = start(&c, workers[w], 8, true);
		int rc;

		assert_int_equal(drive(q, 8, N_JOBS, SIZE_MAX, &rc, &err), 57);
		assert_int_equal(rc, -EILSEQ);
		assert_int_equal(err.code, -EILSEQ);
		assert_string_equal(err.msg, "job 57 is bad");
		assert_int_equal(zu_pipe_drain(q, &err), 0);
		assert_int_equal(c.tailed, 57);
		zu_pipe_free(q); /* joins; the jobs after 57 are dropped */
		/* at most the window after the failure was worked on */
		assert_true(atomic_load(&c.worked) <= 57 + 8);
	}
}

/* The driver stops with a full window of slow jobs (a cancel): free joins promptly. */
static void pipeline_stops_with_jobs_pending(void **state)
{
	struct ctx c = { .max_delay_us = 2000, .fail_at = SIZE_MAX, .tail_fail_at = SIZE_MAX };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_pipe *q;
	struct timespec t0, t1;
	int rc;

	(void)state;
	q = start(&c, 2, MAX_SLOTS, true);
	assert_int_equal(drive(q, MAX_SLOTS, N_JOBS, 5, &rc, &err), 5);
	assert_int_equal(zu_pipe_pending(q), MAX_SLOTS - 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	zu_pipe_free(q);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* two running jobs finish (2 ms each at most); the queued ones never start */
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_true(atomic_load(&c.worked) < N_JOBS);
}

/* A tail failure is kept, reported by drain, and the tail is not called again. */
static void pipeline_drain_reports_tail_failure(void **state)
{
	struct ctx c = { .fail_at = SIZE_MAX, .tail_fail_at = 9 };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_pipe *q;
	int rc;

	(void)state;
	q = start(&c, 3, 4, true);
	assert_int_equal(drive(q, 4, 40, SIZE_MAX, &rc, &err), 40);
	assert_int_equal(zu_pipe_drain(q, &err), -EIO);
	assert_string_equal(err.msg, "tail failed at 9");
	assert_int_equal(c.tailed, 10);
	zu_pipe_free(q);
}

static void pipeline_refuses_bad_params(void **state)
{
	struct ctx c = { 0 };
	struct zu_pipe_params p = { .n_workers = 0, .n_slots = 1, .jobs = c.ptrs, .work = work };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_pipe *q = (struct zu_pipe *)&c;

	(void)state;
	assert_int_equal(zu_pipe_new(&p, &q, &err), -EINVAL);
	assert_null(q);
	p.n_workers = 1;
	p.n_slots = 0;
	assert_int_equal(zu_pipe_new(&p, &q, &err), -EINVAL);
	zu_pipe_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipeline_keeps_order_under_random_delays),
		cmocka_unit_test(pipeline_without_tail_frees_slots_at_release),
		cmocka_unit_test(pipeline_reports_a_failure_in_its_place),
		cmocka_unit_test(pipeline_stops_with_jobs_pending),
		cmocka_unit_test(pipeline_drain_reports_tail_failure),
		cmocka_unit_test(pipeline_refuses_bad_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
