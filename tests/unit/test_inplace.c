/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for inplace: which chunks a raw target already holds at their
 * final place. Chunks that match are found, a changed byte loses exactly its
 * chunk, a target shorter than the image holds a prefix, the image may start
 * at an offset, and a target that is empty or shorter than the offset holds
 * nothing. Never writes (the target is opened read-only).
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hash.h"
#include "inplace.h"
#include "test_rng.h"

#define SEED 0x1b1au
#define N 40

static uint64_t rng_state;

struct fx {
	struct zu_header h;
	uint8_t *image;
	char path[64];
};

/* N chunks of 1..40 KiB (one of them empty), digests in raw as in a parsed header. */
static void fx_build(struct fx *f)
{
	struct zu_err err = ZU_ERR_INIT;
	uint64_t off = 0;

	memset(f, 0, sizeof(*f));
	f->h.n_chunks = N;
	f->h.chunks = calloc(N, sizeof(*f->h.chunks));
	f->h.raw = calloc(N, 2 * ZU_DIGEST_LEN);
	assert_non_null(f->h.chunks);
	assert_non_null(f->h.raw);
	for (size_t i = 0; i < N; i++) {
		struct zu_chunk *c = &f->h.chunks[i];

		c->digest = f->h.raw + 2 * ZU_DIGEST_LEN * i;
		c->udigest = c->digest + ZU_DIGEST_LEN;
		c->len = i == 7 ? 0 : 1 + test_rng_next(&rng_state) % 40960;
		c->image_offset = off;
		off += c->len;
		if (c->len > f->h.max_chunk_len)
			f->h.max_chunk_len = c->len;
	}
	f->h.image_len = off;
	f->image = test_rng_alloc(&rng_state, off);
	for (size_t i = 0; i < N; i++) {
		struct zu_chunk *c = &f->h.chunks[i];

		assert_int_equal(zu_sha256_buf(f->image + c->image_offset, c->len, c->udigest, &err),
				 0);
	}
}

static void fx_free(struct fx *f)
{
	zu_header_fini(&f->h);
	free(f->image);
	if (f->path[0])
		unlink(f->path);
}

/* Writes the target: pad bytes of garbage, then n bytes of the image. */
static int target(struct fx *f, uint64_t pad, uint64_t n)
{
	uint8_t *g = test_rng_alloc(&rng_state, pad + 1);
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/zu_test_inplace_XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, g, pad), (ssize_t)pad);
	assert_int_equal(write(fd, f->image, n), (ssize_t)n);
	close(fd);
	free(g);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

static uint64_t scan(struct fx *f, int fd, uint64_t offset, bool *held)
{
	struct zu_inplace_params p = { .h = &f->h, .target_fd = fd, .target_offset = offset };
	struct zu_err err = ZU_ERR_INIT;
	uint64_t bytes = 0;

	p.target_size = (uint64_t)lseek(fd, 0, SEEK_END);
	assert_int_equal(zu_inplace_scan(&p, held, &bytes, &err), 0);
	return bytes;
}

static void inplace_finds_every_chunk_of_an_identical_target(void **state)
{
	struct fx f;
	bool held[N];
	int fd;

	(void)state;
	fx_build(&f);
	fd = target(&f, 0, f.h.image_len);
	assert_true(scan(&f, fd, 0, held) == f.h.image_len);
	for (size_t i = 0; i < N; i++)
		assert_true(held[i] == (f.h.chunks[i].len > 0)); /* empty chunks: nothing to keep */
	close(fd);
	fx_free(&f);
}

static void inplace_loses_only_the_chunk_with_a_changed_byte(void **state)
{
	const struct zu_chunk *c;
	struct fx f;
	bool held[N];
	uint8_t b;
	int fd;

	(void)state;
	fx_build(&f);
	c = &f.h.chunks[13];
	f.image[c->image_offset + c->len / 2] ^= 0x40; /* the target differs there */
	fd = target(&f, 0, f.h.image_len);
	assert_true(scan(&f, fd, 0, held) == f.h.image_len - c->len);
	for (size_t i = 0; i < N; i++)
		if (f.h.chunks[i].len)
			assert_true(held[i] == (i != 13));
	/* it read, never wrote */
	assert_int_equal(pread(fd, &b, 1, (off_t)(c->image_offset + c->len / 2)), 1);
	assert_int_equal(b, f.image[c->image_offset + c->len / 2]);
	close(fd);
	fx_free(&f);
}

static void inplace_short_target_holds_a_prefix(void **state)
{
	struct fx f;
	bool held[N];
	uint64_t cut, want = 0;
	int fd;

	(void)state;
	fx_build(&f);
	cut = f.h.chunks[20].image_offset + f.h.chunks[20].len / 2; /* inside chunk 20 */
	fd = target(&f, 0, cut);
	for (size_t i = 0; i < 20; i++)
		want += f.h.chunks[i].len;
	assert_true(scan(&f, fd, 0, held) == want);
	for (size_t i = 0; i < N; i++)
		if (f.h.chunks[i].len)
			assert_true(held[i] == (i < 20));
	close(fd);
	fx_free(&f);
}

static void inplace_honours_the_target_offset(void **state)
{
	struct fx f;
	bool held[N];
	int fd;

	(void)state;
	fx_build(&f);
	fd = target(&f, 12345, f.h.image_len);
	assert_true(scan(&f, fd, 12345, held) == f.h.image_len);
	/* the same file read from offset 0 holds (almost surely) nothing */
	assert_true(scan(&f, fd, 0, held) == 0);
	/* an offset beyond the target: nothing, no error */
	assert_true(scan(&f, fd, 1u << 30, held) == 0);
	close(fd);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inplace_finds_every_chunk_of_an_identical_target),
		cmocka_unit_test(inplace_loses_only_the_chunk_with_a_changed_byte),
		cmocka_unit_test(inplace_short_target_holds_a_prefix),
		cmocka_unit_test(inplace_honours_the_target_offset),
	};

	rng_state = test_rng_seed(SEED);
	printf("inplace test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
