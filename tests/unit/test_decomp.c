/* SPDX-License-Identifier: MIT */
/* Unit tests for decomp: exact-size zstd frames, with and without a dictionary. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "decomp.h"
#include "test_rng.h"

#define SEED 0x5eedu

/* Compressible but not trivial: words from a small alphabet. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = test_rng_seed(seed);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)('a' + (test_rng_next(&s) >> 61));
}

static size_t compress(const void *src, size_t n, void *dst, size_t cap)
{
	size_t r = ZSTD_compress(dst, cap, src, n, 3);

	assert_false(ZSTD_isError(r));
	return r;
}

static void decomp_round_trips_exact_bytes(void **state)
{
	uint8_t src[20000], comp[30000], out[20000];
	struct zu_decomp *d = NULL;
	struct zu_err err = ZU_ERR_INIT;
	size_t clen;

	(void)state;
	printf("seed %#x\n", SEED);
	fill(src, sizeof(src), SEED);
	clen = compress(src, sizeof(src), comp, sizeof(comp));
	assert_int_equal(zu_decomp_new(NULL, 0, &d, &err), 0);
	/* the context is reused: run twice */
	for (int k = 0; k < 2; k++) {
		memset(out, 0, sizeof(out));
		assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(out), &err), 0);
		assert_memory_equal(out, src, sizeof(src));
	}
	zu_decomp_free(d);
}

static void decomp_refuses_wrong_expected_size(void **state)
{
	uint8_t src[4096], comp[8192], out[8192];
	struct zu_decomp *d = NULL;
	struct zu_err err = ZU_ERR_INIT;
	size_t clen;

	(void)state;
	fill(src, sizeof(src), SEED + 1);
	clen = compress(src, sizeof(src), comp, sizeof(comp));
	assert_int_equal(zu_decomp_new(NULL, 0, &d, &err), 0);
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(src) - 1, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "4096"));
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(src) + 1, &err), -EBADMSG);
	/* and still works afterwards */
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(src), &err), 0);
	zu_decomp_free(d);
}

/* A frame without a content size: only the produced count can catch a short chunk. */
static void decomp_refuses_short_frame_without_content_size(void **state)
{
	uint8_t src[3000], comp[6000], out[6000];
	struct zu_decomp *d = NULL;
	struct zu_err err = ZU_ERR_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t clen;

	(void)state;
	assert_non_null(cc);
	fill(src, sizeof(src), SEED + 2);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	clen = ZSTD_compress2(cc, comp, sizeof(comp), src, sizeof(src));
	assert_false(ZSTD_isError(clen));
	assert_int_equal(ZSTD_getFrameContentSize(comp, clen), ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(zu_decomp_new(NULL, 0, &d, &err), 0);
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(src) + 10, &err), -EBADMSG);
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(src), &err), 0);
	assert_memory_equal(out, src, sizeof(src));
	zu_decomp_free(d);
	ZSTD_freeCCtx(cc);
}

static void decomp_refuses_garbage_and_damage(void **state)
{
	uint8_t src[5000], comp[8000], out[5000], junk[64];
	struct zu_decomp *d = NULL;
	struct zu_err err = ZU_ERR_INIT;
	size_t clen;

	(void)state;
	fill(src, sizeof(src), SEED + 3);
	fill(junk, sizeof(junk), SEED + 4);
	clen = compress(src, sizeof(src), comp, sizeof(comp));
	assert_int_equal(zu_decomp_new(NULL, 0, &d, &err), 0);
	assert_int_equal(zu_decomp_chunk(d, junk, sizeof(junk), out, sizeof(out), &err),
			 -EBADMSG);
	assert_int_equal(zu_decomp_chunk(d, comp, 0, out, sizeof(out), &err), -EBADMSG);
	/* truncated frame */
	assert_int_equal(zu_decomp_chunk(d, comp, clen - 5, out, sizeof(out), &err), -EBADMSG);
	/* trailing bytes after the frame */
	memcpy(comp + clen, junk, 8);
	assert_int_equal(zu_decomp_chunk(d, comp, clen + 8, out, sizeof(out), &err), -EBADMSG);
	/* a damaged frame header (damage inside blocks is the digests' job) */
	comp[0] ^= 0x55;
	assert_int_equal(zu_decomp_chunk(d, comp, clen, out, sizeof(out), &err), -EBADMSG);
	zu_decomp_free(d);
}

static void decomp_uses_dictionary(void **state)
{
	uint8_t dict[2048], src[2048], comp[4096], out[2048];
	struct zu_decomp *with = NULL, *without = NULL;
	struct zu_err err = ZU_ERR_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t clen;

	(void)state;
	assert_non_null(cc);
	fill(dict, sizeof(dict), SEED + 5);
	memcpy(src, dict, sizeof(src));
	src[100] = 'z';
	clen = ZSTD_compress_usingDict(cc, comp, sizeof(comp), src, sizeof(src), dict,
				       sizeof(dict), 3);
	assert_false(ZSTD_isError(clen));
	assert_true(clen < 200); /* the dict really was used */
	assert_int_equal(zu_decomp_new(dict, sizeof(dict), &with, &err), 0);
	memset(dict, 0, sizeof(dict)); /* decomp keeps its own copy */
	assert_int_equal(zu_decomp_chunk(with, comp, clen, out, sizeof(out), &err), 0);
	assert_memory_equal(out, src, sizeof(src));
	assert_int_equal(zu_decomp_new(NULL, 0, &without, &err), 0);
	assert_int_equal(zu_decomp_chunk(without, comp, clen, out, sizeof(out), &err), -EBADMSG);
	zu_decomp_free(with);
	zu_decomp_free(without);
	zu_decomp_free(NULL);
	ZSTD_freeCCtx(cc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decomp_round_trips_exact_bytes),
		cmocka_unit_test(decomp_refuses_wrong_expected_size),
		cmocka_unit_test(decomp_refuses_short_frame_without_content_size),
		cmocka_unit_test(decomp_refuses_garbage_and_damage),
		cmocka_unit_test(decomp_uses_dictionary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
