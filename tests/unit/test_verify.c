/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for zckup_verify() (include/zckup.h): the image made into a .zck
 * matches; any one flipped byte, a cut and one more byte do not, with the
 * stats naming the first bad chunk; a slot may be larger; bad arguments are
 * -EINVAL; a cancelled context stops with -ECANCELED.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "zckup.h"
#include "test_rng.h"

#define SEED 0x5e71u
#define IMAGE_LEN (2u << 20)

struct fx {
	char dir[64], image[96], zck[96], copy[96];
	uint8_t *img;
	zckup_ctx *ctx;
	zckup_header *h;
};

static void put(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static int setup(void **state)
{
	static struct fx f;
	uint64_t rng = test_rng_seed(SEED);
	struct zckup_make_opts mo = { 0 };
	int fd;

	f.img = test_rng_alloc(&rng, IMAGE_LEN);
	snprintf(f.dir, sizeof(f.dir), "/tmp/zu_test_verify_XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.image, sizeof(f.image), "%s/image", f.dir);
	snprintf(f.zck, sizeof(f.zck), "%s/image.zck", f.dir);
	snprintf(f.copy, sizeof(f.copy), "%s/copy", f.dir);
	fd = open(f.image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, f.img, IMAGE_LEN) != (ssize_t)IMAGE_LEN)
		return -1;
	close(fd);
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
	free(f->img);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The chunk that holds image byte off. */
static size_t chunk_of(const zckup_header *h, uint64_t off)
{
	struct zckup_header_info in;
	struct zckup_chunk_info c;

	zckup_header_get_info(h, &in);
	for (size_t i = 0; i < in.n_chunks; i++) {
		assert_int_equal(zckup_header_get_chunk(h, i, &c), 0);
		if (off >= c.image_offset && off < c.image_offset + c.bytes)
			return i;
	}
	fail_msg("offset %" PRIu64 " in no chunk", off);
	return 0;
}

static void verify_matches_its_own_image(void **state)
{
	struct fx *f = *state;
	struct zckup_verify_opts o = { .path = f->image };
	struct zckup_verify_stats s;
	struct zckup_header_info in;

	zckup_header_get_info(f->h, &in);
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), 0);
	assert_int_equal(s.image_bytes, IMAGE_LEN);
	assert_int_equal(s.path_bytes, IMAGE_LEN);
	assert_int_equal(s.read_bytes, IMAGE_LEN);
	assert_int_equal(s.n_chunks, in.n_chunks);
	assert_int_equal(s.n_bad_chunks, 0);
	assert_int_equal(s.first_bad_chunk, in.n_chunks);
	assert_true(s.size_ok && s.image_digest_checked && s.image_digest_ok);
}

static void verify_finds_any_flipped_byte(void **state)
{
	struct fx *f = *state;
	struct zckup_verify_opts o = { .path = f->copy };
	struct zckup_verify_stats s;
	uint64_t rng = test_rng_seed(SEED + 1);

	for (int k = 0; k < 8; k++) {
		uint64_t off = k == 0 ? 0 : k == 1 ? IMAGE_LEN - 1 : test_rng_next(&rng) % IMAGE_LEN;

		f->img[off] ^= 0x01;
		put(f->copy, f->img, IMAGE_LEN);
		f->img[off] ^= 0x01;
		assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), -EILSEQ);
		assert_int_equal(zckup_errcode(f->ctx), -EILSEQ);
		assert_int_equal(s.n_bad_chunks, 1);
		assert_int_equal(s.first_bad_chunk, chunk_of(f->h, off));
		assert_true(s.first_bad_offset <= off);
		assert_int_equal(s.read_bytes, IMAGE_LEN); /* it went on after the mismatch */
		assert_false(s.image_digest_checked);
	}
}

static void verify_refuses_short_and_long_files_but_not_slots(void **state)
{
	struct fx *f = *state;
	struct zckup_verify_opts o = { .path = f->copy };
	struct zckup_verify_stats s;
	uint8_t *big = calloc(1, IMAGE_LEN + 4096);

	assert_non_null(big);
	put(f->copy, f->img, IMAGE_LEN - 1);
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), -EILSEQ);
	assert_false(s.size_ok);
	assert_int_equal(s.first_bad_chunk, chunk_of(f->h, IMAGE_LEN - 1));
	o.slot = 1;
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), -EILSEQ);
	memcpy(big, f->img, IMAGE_LEN);
	big[IMAGE_LEN + 7] = 0xee;
	put(f->copy, big, IMAGE_LEN + 4096);
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), 0);
	assert_int_equal(s.path_bytes, IMAGE_LEN + 4096);
	assert_int_equal(s.read_bytes, IMAGE_LEN); /* nothing after the image */
	o.slot = 0;
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), -EILSEQ);
	assert_int_equal(s.n_bad_chunks, 0);
	assert_false(s.size_ok);
	free(big);
}

static void verify_refuses_bad_arguments_and_stops_when_cancelled(void **state)
{
	struct fx *f = *state;
	struct zckup_verify_opts o = { .path = f->image };
	struct zckup_verify_opts none = { 0 };
	struct zckup_verify_stats s;
	zckup_ctx *c2 = zckup_ctx_new();

	assert_int_equal(zckup_verify(NULL, f->h, &o, &s), -EINVAL);
	assert_int_equal(zckup_verify(f->ctx, NULL, &o, &s), -EINVAL);
	assert_int_equal(zckup_verify(f->ctx, f->h, NULL, &s), -EINVAL);
	assert_int_equal(zckup_verify(f->ctx, f->h, &none, &s), -EINVAL);
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, NULL), 0); /* stats are optional */
	o.path = "/nonexistent/zu_test_verify";
	assert_int_equal(zckup_verify(f->ctx, f->h, &o, &s), -ENOENT);
	assert_non_null(c2);
	zckup_cancel(c2);
	o.path = f->image;
	assert_int_equal(zckup_verify(c2, f->h, &o, &s), -ECANCELED);
	zckup_ctx_free(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verify_matches_its_own_image),
		cmocka_unit_test(verify_finds_any_flipped_byte),
		cmocka_unit_test(verify_refuses_short_and_long_files_but_not_slots),
		cmocka_unit_test(verify_refuses_bad_arguments_and_stops_when_cancelled),
	};

	printf("verify test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, setup, teardown);
}
