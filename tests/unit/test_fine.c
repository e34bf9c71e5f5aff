/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fine (the piece layout codec) and fine_make: piece geometry,
 * table round trip and refusals, the header element through format, and a
 * compressed fine chunk that decodes as one ordinary zstd stream.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "decomp.h"
#include "fine.h"
#include "fine_make.h"
#include "format.h"
#include "hash.h"
#include "piecehash.h"
#include "test_rng.h"

static const struct zu_fine_layout lay = ZU_FINE_LAYOUT_DEFAULT;

static void fine_pieces_are_cut_at_absolute_multiples_of_4096(void **state)
{
	uint64_t s, l;

	(void)state;
	assert_int_equal(zu_fine_n_pieces(&lay, 0, 0), 0);
	assert_int_equal(zu_fine_n_pieces(&lay, 0, 1), 1);
	assert_int_equal(zu_fine_n_pieces(&lay, 0, 4096), 1);
	assert_int_equal(zu_fine_n_pieces(&lay, 0, 4097), 2);
	assert_int_equal(zu_fine_n_pieces(&lay, 4095, 2), 2);
	assert_int_equal(zu_fine_n_pieces(&lay, 10000, 131072), 33);
	/* chunk [10000, 141072): first piece clipped to 12288, last ends at the chunk's end */
	zu_fine_piece(&lay, 10000, 131072, 0, &s, &l);
	assert_int_equal(s, 0);
	assert_int_equal(l, 12288 - 10000);
	zu_fine_piece(&lay, 10000, 131072, 1, &s, &l);
	assert_int_equal(s, 12288 - 10000);
	assert_int_equal(l, 4096);
	zu_fine_piece(&lay, 10000, 131072, 32, &s, &l);
	assert_int_equal(s + l, 131072);
	assert_int_equal(10000 + s, 139264);
	/* pieces tile the chunk exactly, for many offsets and lengths */
	for (uint64_t off = 0; off < 9000; off += 997) {
		for (uint64_t len = 1; len < 20000; len += 1231) {
			uint64_t n = zu_fine_n_pieces(&lay, off, len), end = 0;

			for (uint64_t k = 0; k < n; k++) {
				zu_fine_piece(&lay, off, len, k, &s, &l);
				assert_int_equal(s, end);
				assert_true(l > 0 && l <= 4096);
				assert_true(k == 0 || (off + s) % 4096 == 0);
				end = s + l;
			}
			assert_int_equal(end, len);
		}
	}
}

static void fine_table_round_trips_and_is_checked(void **state)
{
	const uint64_t n = 5;
	size_t tlen = (size_t)zu_fine_table_len(&lay, n);
	uint8_t *t = malloc(tlen);
	uint8_t d[ZU_FINE_DIGEST_LEN];
	struct zu_err err = ZU_ERR_INIT;
	uint64_t frames = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(tlen, 8 + 1 + 5 * 10);
	zu_fine_table_start(&lay, t, n);
	for (uint64_t k = 0; k < n; k++) {
		memset(d, (int)k + 1, sizeof(d));
		zu_fine_entry_put(&lay, t, k, (uint32_t)(100 + k), d);
		frames += 100 + k;
	}
	assert_int_equal(zu_fine_table_check(&lay, t, tlen, n, tlen + frames, &err), 0);
	for (uint64_t k = 0; k < n; k++) {
		struct zu_fine_entry e;

		zu_fine_entry_get(&lay, t, k, &e);
		assert_int_equal(e.frame_len, 100 + k);
		assert_int_equal(e.digest[0], k + 1);
	}
	/* frames that do not add up to the chunk, a wrong size, magic or version */
	assert_int_equal(zu_fine_table_check(&lay, t, tlen, n, tlen + frames + 1, &err), -EBADMSG);
	assert_int_equal(zu_fine_table_check(&lay, t, tlen - 1, n, tlen + frames, &err), -EBADMSG);
	assert_int_equal(zu_fine_table_check(&lay, t, tlen, n - 1, tlen + frames, &err), -EBADMSG);
	for (size_t i = 0; i < ZU_FINE_SKIP_HDR + 1; i++) {
		t[i] ^= 0x40;
		assert_int_equal(zu_fine_table_check(&lay, t, tlen, n, tlen + frames, &err),
				 -EBADMSG);
		t[i] ^= 0x40;
	}
	/* an empty frame is a lie */
	zu_fine_entry_put(&lay, t, 2, 0, d);
	assert_int_equal(zu_fine_table_check(&lay, t, tlen, n, tlen + frames - 102, &err),
			 -EBADMSG);
	free(t);
}

static void fine_element_round_trips_through_the_header(void **state)
{
	struct zu_chunk c[2] = { { .comp_len = 10, .len = 20 }, { .comp_len = 11, .len = 21 } };
	const struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_header_params hp = { .chunks = c, .n_chunks = 2, .fine = &lay };
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t digest[ZU_DIGEST_LEN] = { 1, 2, 3 };
	uint8_t *buf = NULL;
	size_t n = 0;

	(void)state;
	for (int with_digest = 0; with_digest < 2; with_digest++) {
		hp.image_digest = with_digest ? digest : NULL;
		assert_int_equal(zu_header_build(&hp, &buf, &n, &err), 0);
		assert_int_equal(zu_header_parse(&h, buf, n, &lim, &err), 0);
		assert_true(h.fine.valid);
		assert_int_equal(h.fine.piece_shift, 12);
		assert_int_equal(h.fine.digest_len, 8);
		assert_int_equal(h.fine.len_bytes, 2);
		assert_int_equal(h.has_image_digest, with_digest);
		zu_header_fini(&h);
		free(buf);
	}
	/* a layout this zckup does not know is refused as a malformed header */
	{
		struct zu_fine_layout bad = lay;

		bad.piece_shift = 30;
		hp.fine = &bad;
		assert_int_equal(zu_header_build(&hp, &buf, &n, &err), 0);
		assert_int_equal(zu_header_parse(&h, buf, n, &lim, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "fine layout"));
		free(buf);
	}
	/* without the element, no layout */
	hp.fine = NULL;
	assert_int_equal(zu_header_build(&hp, &buf, &n, &err), 0);
	assert_int_equal(zu_header_parse(&h, buf, n, &lim, &err), 0);
	assert_false(h.fine.valid);
	zu_header_fini(&h);
	free(buf);
}

/* A fine chunk is one zstd stream (skippable table + frames) that decodes to the chunk. */
static void fine_chunk_decodes_as_one_zstd_stream(void **state)
{
	uint64_t rng = test_rng_seed(0xf1e);
	const size_t len = 70000;
	const uint64_t off = 5000;
	size_t cap = zu_fine_comp_bound(&lay, 131072), clen = 0;
	uint8_t *u = malloc(len), *c = malloc(cap), *back = malloc(len);
	struct zu_decomp *dc = NULL;
	struct zu_err err = ZU_ERR_INIT;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	uint64_t n = zu_fine_n_pieces(&lay, off, len), tlen = zu_fine_table_len(&lay, n);
	size_t pos;

	(void)state;
	assert_non_null(u);
	assert_non_null(c);
	assert_non_null(back);
	assert_non_null(cctx);
	for (size_t i = 0; i < len; i++)
		u[i] = (uint8_t)(i % 7 == 0 ? test_rng_next(&rng) : i / 300);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3)));
	assert_int_equal(zu_fine_compress(&lay, cctx, off, u, len, c, cap, &clen, &err), 0);
	assert_int_equal(zu_fine_table_check(&lay, c, (size_t)tlen, n, clen, &err), 0);
	/* the whole chunk, as zck and SWUpdate decode it */
	assert_int_equal(zu_decomp_new(NULL, 0, &dc, &err), 0);
	assert_int_equal(zu_decomp_chunk(dc, c, clen, back, len, &err), 0);
	assert_memory_equal(back, u, len);
	assert_int_equal(ZSTD_decompress(back, len, c, clen), len);
	/* each frame alone gives its piece, whose digest the table holds */
	memset(back, 0, len);
	pos = (size_t)tlen;
	for (uint64_t k = 0; k < n; k++) {
		struct zu_fine_entry e;
		uint8_t d[ZU_PIECEHASH_LEN];
		uint64_t ps, pl;

		zu_fine_entry_get(&lay, c, k, &e);
		zu_fine_piece(&lay, off, len, k, &ps, &pl);
		assert_int_equal(zu_decomp_chunk(dc, c + pos, e.frame_len, back + ps, (size_t)pl,
						 &err), 0);
		zu_piecehash_bytes(u + ps, (size_t)pl, d);
		assert_memory_equal(d, e.digest, ZU_FINE_DIGEST_LEN);
		pos += e.frame_len;
	}
	assert_int_equal(pos, clen);
	assert_memory_equal(back, u, len);
	zu_decomp_free(dc);
	ZSTD_freeCCtx(cctx);
	free(u);
	free(c);
	free(back);
}

/*
 * The piece hash is XXH64 with seed 0, so anyone can compute a table with
 * stock tools: the expected values were printed by `xxhsum -H64` (xxhash
 * 0.8.1, Debian 12) for the bytes vec_byte() makes. Every length class of the
 * algorithm is covered (< 4, < 8, < 32, 32-byte stripes with each tail).
 */
static uint8_t vec_byte(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

static void piece_hash_is_xxh64(void **state)
{
	static const struct {
		size_t n;
		uint64_t h;
	} v[] = {
		{ 0, 0xef46db3751d8e999ULL },	 { 1, 0x8a4127811b21e730ULL },
		{ 3, 0x31487142ceee192aULL },	 { 4, 0xe974238725d583a0ULL },
		{ 7, 0x5e6c4f5ee907205aULL },	 { 8, 0x5651c7bfe44e95d4ULL },
		{ 31, 0xf2e176a3af059d3bULL },	 { 32, 0xfe1388a454390dcfULL },
		{ 33, 0xe21f50b5506f39b3ULL },	 { 63, 0xfe21a6cb773bafc7ULL },
		{ 64, 0x002ab26e2253326dULL },	 { 100, 0x6f9f25633e0b46e9ULL },
		{ 4095, 0x0bc44d8df14e9bb5ULL }, { 4096, 0x0868454d1c2af07aULL },
	};
	uint8_t buf[4096 + 1], out[ZU_PIECEHASH_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = vec_byte(i);
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		assert_int_equal(zu_piecehash(buf, v[k].n), v[k].h);
		/* unaligned input gives the same value */
		memmove(buf + 1, buf, v[k].n);
		assert_int_equal(zu_piecehash(buf + 1, v[k].n), v[k].h);
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = vec_byte(i);
		/* stored little-endian, whatever the host */
		zu_piecehash_bytes(buf, v[k].n, out);
		for (unsigned b = 0; b < ZU_PIECEHASH_LEN; b++)
			assert_int_equal(out[b], (uint8_t)(v[k].h >> (8 * b)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(piece_hash_is_xxh64),
		cmocka_unit_test(fine_pieces_are_cut_at_absolute_multiples_of_4096),
		cmocka_unit_test(fine_table_round_trips_and_is_checked),
		cmocka_unit_test(fine_element_round_trips_through_the_header),
		cmocka_unit_test(fine_chunk_decodes_as_one_zstd_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
