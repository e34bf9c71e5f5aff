/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the public API's contracts (include/zckup.h) that the CLI
 * does not exercise: out-of-range getters report -EINVAL instead of reading
 * past their tables, zckup_cancel() from another thread stops an apply that
 * blocks writing into a pipe nobody reads, and in-place chunks are reported
 * with origin ZCKUP_FROM_TARGET, source 0 and their offset in the target;
 * the index thread count changes nothing in a plan.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "zckup.h"
#include "test_rng.h"

#define SEED 0xa91u
#define IMAGE_LEN (3u << 20)

struct fx {
	char dir[64], image[96], zck[96], target[96];
	zckup_ctx *ctx;
	zckup_header *h;
};

static int setup(void **state)
{
	static struct fx f;
	uint64_t rng = test_rng_seed(SEED);
	uint8_t *img = test_rng_alloc(&rng, IMAGE_LEN);
	struct zckup_make_opts mo = { 0 };
	int fd;

	snprintf(f.dir, sizeof(f.dir), "/tmp/zu_test_api_XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.image, sizeof(f.image), "%s/image", f.dir);
	snprintf(f.zck, sizeof(f.zck), "%s/image.zck", f.dir);
	snprintf(f.target, sizeof(f.target), "%s/target", f.dir);
	fd = open(f.image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, img, IMAGE_LEN) != (ssize_t)IMAGE_LEN)
		return -1;
	close(fd);
	/* the target: 4096 bytes of padding, then the image (all of it in place) */
	fd = open(f.target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, img, IMAGE_LEN, 4096) != (ssize_t)IMAGE_LEN)
		return -1;
	close(fd);
	free(img);
	f.ctx = zckup_ctx_new();
	mo.image = f.image;
	mo.output = f.zck;
	mo.level = 1;
	if (!f.ctx || zckup_make(f.ctx, &mo, NULL) < 0 ||
	    zckup_header_open(f.ctx, f.zck, NULL, &f.h) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	zckup_header_free(f->h);
	zckup_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void api_getters_refuse_out_of_range(void **state)
{
	struct fx *f = *state;
	struct zckup_header_info in;
	struct zckup_chunk_info c;
	struct zckup_plan_chunk pc;
	struct zckup_source src = { f->image, 0, NULL };
	struct zckup_plan_opts po = { .sources = &src, .n_sources = 1 };
	zckup_plan *p = NULL;

	zckup_header_get_info(f->h, &in);
	assert_true(in.n_chunks > 10);
	assert_int_equal(zckup_header_get_chunk(f->h, in.n_chunks - 1, &c), 0);
	assert_true(c.bytes > 0);
	memset(&c, 0xaa, sizeof(c));
	assert_int_equal(zckup_header_get_chunk(f->h, in.n_chunks, &c), -EINVAL);
	assert_true(c.bytes == 0 && c.file_offset == 0); /* zeroed, not stale */
	assert_int_equal(zckup_header_get_chunk(f->h, SIZE_MAX, &c), -EINVAL);
	assert_int_equal(zckup_header_get_chunk(NULL, 0, &c), -EINVAL);
	assert_int_equal(zckup_header_get_chunk(f->h, 0, NULL), -EINVAL);
	assert_int_equal(zckup_plan_new(f->ctx, f->h, &po, &p), 0);
	assert_int_equal(zckup_plan_get_chunk(p, 0, &pc), 0);
	assert_int_equal(pc.origin, ZCKUP_FROM_SOURCE);
	assert_int_equal(zckup_plan_get_chunk(p, in.n_chunks, &pc), -EINVAL);
	assert_int_equal(zckup_plan_get_chunk(NULL, 0, &pc), -EINVAL);
	zckup_plan_free(p);
}

struct canceller {
	zckup_ctx *ctx;
};

static void *cancel_later(void *arg)
{
	const struct canceller *c = arg;
	const struct timespec t = { 0, 300 * 1000 * 1000 };

	nanosleep(&t, NULL);
	zckup_cancel(c->ctx); /* from another thread: the flag is a C11 atomic */
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Regression (issue 7): a write into a pipe nobody reads blocked forever; a
 * cancel was only seen between chunks, and the flag (volatile sig_atomic_t)
 * was not safe to set from another thread.
 */
static void api_cancel_from_another_thread_stops_a_blocked_write(void **state)
{
	struct fx *f = *state;
	zckup_ctx *ctx = zckup_ctx_new();
	struct canceller c = { ctx };
	struct zckup_apply_opts ao = { 0 };
	int pipefd[2];
	pthread_t t;
	double t0;

	assert_non_null(ctx);
	assert_int_equal(pipe(pipefd), 0); /* we never read pipefd[0] */
	ao.header = f->h;
	ao.url = f->zck;
	ao.use_fd = 1;
	ao.fd = pipefd[1];
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	t0 = now_s();
	assert_int_equal(zckup_apply(ctx, &ao, NULL), -ECANCELED);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	zckup_ctx_free(ctx);
}

struct seen {
	size_t n, in_place;
	int bad;
};

static void on_chunk(void *user, size_t i, enum zckup_origin origin, size_t source,
		     uint64_t offset)
{
	struct seen *s = user;
	const zckup_header *h = NULL;

	(void)h;
	s->n++;
	if (origin != ZCKUP_FROM_TARGET)
		return;
	s->in_place++;
	/* no sentinel: source 0, offset in the target (4096 + image offset) */
	if (source != 0 || offset < 4096 || (i == 0 && offset != 4096))
		s->bad++;
}

static void api_reports_in_place_chunks_with_their_target_offset(void **state)
{
	struct fx *f = *state;
	struct zckup_header_info in;
	struct zckup_apply_opts ao = { 0 };
	struct zckup_plan_opts po = { .target = f->target, .target_offset = 4096 };
	struct zckup_plan_chunk pc;
	struct zckup_chunk_info c;
	struct seen s = { 0 };
	zckup_plan *p = NULL;

	zckup_header_get_info(f->h, &in);
	assert_int_equal(zckup_plan_new(f->ctx, f->h, &po, &p), 0);
	for (size_t i = 0; i < in.n_chunks; i++) {
		assert_int_equal(zckup_plan_get_chunk(p, i, &pc), 0);
		assert_int_equal(zckup_header_get_chunk(f->h, i, &c), 0);
		assert_int_equal(pc.origin, ZCKUP_FROM_TARGET);
		assert_true(pc.source == 0 && pc.source_offset == 4096 + c.image_offset);
	}
	zckup_plan_free(p);
	ao.header = f->h;
	ao.url = f->zck;
	ao.target = f->target;
	ao.target_offset = 4096;
	ao.on_chunk = on_chunk;
	ao.chunk_user = &s;
	assert_int_equal(zckup_apply(f->ctx, &ao, NULL), 0);
	assert_int_equal(s.n, in.n_chunks);
	assert_int_equal(s.in_place, in.n_chunks);
	assert_int_equal(s.bad, 0);
}

/*
 * A source that holds the image shifted and partly changed, four times: plans with 1, 2
 * and 5 index threads (and the default) agree chunk by chunk and in their stats.
 */
static void api_plan_does_not_depend_on_threads(void **state)
{
	struct fx *f = *state;
	char path[128];
	uint64_t rng = test_rng_seed(SEED + 1);
	uint8_t *img = malloc(IMAGE_LEN);
	struct zckup_source src = { path, 0, NULL };
	struct zckup_plan_opts po = { .sources = &src, .n_sources = 1 };
	struct zckup_plan_stats want, got;
	zckup_plan *p1 = NULL, *pn = NULL;
	const int counts[] = { 2, 5, 0 };
	int fd;

	assert_non_null(img);
	assert_int_equal(zckup_set_threads(f->ctx, -1), -EINVAL);
	assert_int_equal(zckup_set_threads(f->ctx, 1025), -EINVAL);
	fd = open(f->image, O_RDONLY);
	assert_true(fd >= 0 && read(fd, img, IMAGE_LEN) == (ssize_t)IMAGE_LEN);
	close(fd);
	test_rng_fill(&rng, img + IMAGE_LEN / 3, 100000);
	snprintf(path, sizeof(path), "%s/shifted", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	/* four copies: more than one 8 MiB segment to index */
	for (int k = 0; k < 4; k++)
		assert_int_equal(pwrite(fd, img, IMAGE_LEN, 777 + (off_t)k * IMAGE_LEN),
				 (ssize_t)IMAGE_LEN);
	close(fd);
	free(img);
	assert_int_equal(zckup_set_threads(f->ctx, 1), 0);
	assert_int_equal(zckup_plan_new(f->ctx, f->h, &po, &p1), 0);
	zckup_plan_get_stats(p1, &want);
	assert_true(want.n_seed > 0 && want.n_net > 0);
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		assert_int_equal(zckup_set_threads(f->ctx, counts[k]), 0);
		assert_int_equal(zckup_plan_new(f->ctx, f->h, &po, &pn), 0);
		zckup_plan_get_stats(pn, &got);
		assert_int_equal(got.n_seed, want.n_seed);
		assert_int_equal(got.seed_bytes, want.seed_bytes);
		assert_int_equal(got.source_bytes, want.source_bytes);
		assert_int_equal(got.n_ranges, want.n_ranges);
		for (size_t i = 0; i < want.n_chunks; i++) {
			struct zckup_plan_chunk a, b;

			assert_int_equal(zckup_plan_get_chunk(p1, i, &a), 0);
			assert_int_equal(zckup_plan_get_chunk(pn, i, &b), 0);
			assert_int_equal(a.origin, b.origin);
			assert_int_equal(a.source_offset, b.source_offset);
		}
		zckup_plan_free(pn);
	}
	zckup_plan_free(p1);
	assert_int_equal(zckup_set_threads(f->ctx, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(api_getters_refuse_out_of_range),
		cmocka_unit_test(api_cancel_from_another_thread_stops_a_blocked_write),
		cmocka_unit_test(api_reports_in_place_chunks_with_their_target_offset),
		cmocka_unit_test(api_plan_does_not_depend_on_threads),
	};

	printf("api test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, setup, teardown);
}
