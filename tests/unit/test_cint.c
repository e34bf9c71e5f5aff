/* SPDX-License-Identifier: MIT */
/* Unit tests for cint: zchunk compressed integers. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cint.h"
#include "test_rng.h"

#define SEED 0x5eed1234abcdULL


static void check_encoding(uint64_t v, const uint8_t *want, size_t want_len)
{
	uint8_t buf[ZU_CINT_MAX_LEN + 4];
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 0;
	uint64_t got = 0;

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(zu_cint_write(buf, v), want_len);
	assert_memory_equal(buf, want, want_len);
	assert_int_equal(buf[want_len], 0xaa); /* nothing written past the encoding */
	assert_int_equal(zu_cint_len(v), want_len);
	assert_int_equal(zu_cint_read(want, want_len, &pos, &got, &err), 0);
	assert_int_equal(pos, want_len);
	assert_true(got == v);
}

static void cint_encodes_known_values_as_zchunk_does(void **state)
{
	static const uint8_t e0[] = { 0x80 };
	static const uint8_t e4[] = { 0x84 };
	static const uint8_t e127[] = { 0xff };
	static const uint8_t e128[] = { 0x00, 0x81 };
	static const uint8_t e593[] = { 0x51, 0x84 };
	static const uint8_t e347[] = { 0x5b, 0x82 }; /* index size of tests/data/mixed.zck */
	static const uint8_t emax[] = { 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x81 };

	(void)state;
	check_encoding(0, e0, sizeof(e0));
	check_encoding(4, e4, sizeof(e4));
	check_encoding(127, e127, sizeof(e127));
	check_encoding(128, e128, sizeof(e128));
	check_encoding(593, e593, sizeof(e593));
	check_encoding(347, e347, sizeof(e347));
	check_encoding(UINT64_MAX, emax, sizeof(emax));
}

static void cint_round_trips_random_values_of_every_width(void **state)
{
	uint64_t rng = test_rng_seed(SEED);

	(void)state;
	for (int i = 0; i < 20000; i++) {
		unsigned int bits = (unsigned int)(test_rng_next(&rng) % 64) + 1;
		uint64_t v = test_rng_next(&rng) >> (64 - bits);
		uint8_t buf[3 * ZU_CINT_MAX_LEN];
		struct zu_err err = ZU_ERR_INIT;
		size_t off = (size_t)(test_rng_next(&rng) % 5), len, pos = off;
		uint64_t got = 0;

		memset(buf, 0, sizeof(buf));
		len = zu_cint_write(buf + off, v);
		assert_int_equal(len, zu_cint_len(v));
		assert_true(len >= 1 && len <= ZU_CINT_MAX_LEN);
		/* Only the last byte has the top bit. */
		for (size_t k = 0; k < len; k++)
			assert_int_equal(!!(buf[off + k] & 0x80), k == len - 1);
		assert_int_equal(zu_cint_read(buf, off + len, &pos, &got, &err), 0);
		assert_true(got == v);
		assert_int_equal(pos, off + len);
	}
}

static void cint_reads_consecutive_values_and_stops_at_n(void **state)
{
	static const uint8_t buf[] = { 0x84, 0x51, 0x84, 0x80, 0x00, 0x81 };
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 0;
	uint64_t v = 0;

	(void)state;
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), 0);
	assert_true(v == 4);
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), 0);
	assert_true(v == 593);
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), 0);
	assert_true(v == 0);
	assert_int_equal(pos, 4);
	/* The final byte of the last value lies at index 5: with n = 5 it must not be read. */
	v = 77;
	assert_int_equal(zu_cint_read(buf, 5, &pos, &v, &err), -EBADMSG);
	assert_int_equal(pos, 4);
	assert_true(v == 77);
	assert_non_null(strstr(err.msg, "offset 4"));
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), 0);
	assert_true(v == 128);
	/* At the end of the buffer. */
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), -EBADMSG);
	assert_int_equal(pos, sizeof(buf));
}

static void cint_rejects_every_truncated_prefix(void **state)
{
	uint8_t buf[ZU_CINT_MAX_LEN];
	size_t len = zu_cint_write(buf, UINT64_MAX);

	(void)state;
	for (size_t n = 0; n < len; n++) {
		struct zu_err err = ZU_ERR_INIT;
		size_t pos = 0;
		uint64_t v = 0;

		assert_int_equal(zu_cint_read(buf, n, &pos, &v, &err), -EBADMSG);
		assert_int_equal(err.code, -EBADMSG);
		assert_int_equal(pos, 0);
	}
}

static void cint_rejects_values_over_64_bits(void **state)
{
	uint8_t too_big[ZU_CINT_MAX_LEN];
	uint8_t too_long[ZU_CINT_MAX_LEN + 2];
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 0;
	uint64_t v = 0;

	(void)state;
	/* 2^64: ten bytes, the last carrying bit 64. */
	memset(too_big, 0x00, sizeof(too_big));
	too_big[9] = 0x82;
	assert_int_equal(zu_cint_read(too_big, sizeof(too_big), &pos, &v, &err), -EOVERFLOW);
	assert_int_equal(pos, 0);
	assert_non_null(strstr(err.msg, "64 bits"));
	/* Eleven bytes, even of zeros, are too long. */
	memset(too_long, 0x00, sizeof(too_long));
	too_long[10] = 0x80;
	assert_int_equal(zu_cint_read(too_long, sizeof(too_long), &pos, &v, &err), -EOVERFLOW);
	assert_int_equal(pos, 0);
}

static void cint_accepts_padded_encodings(void **state)
{
	/* 0 written in two bytes: accepted, the header checksum covers the form anyway. */
	static const uint8_t buf[] = { 0x00, 0x80 };
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 0;
	uint64_t v = 1;

	(void)state;
	assert_int_equal(zu_cint_read(buf, sizeof(buf), &pos, &v, &err), 0);
	assert_true(v == 0);
	assert_int_equal(pos, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cint_encodes_known_values_as_zchunk_does),
		cmocka_unit_test(cint_round_trips_random_values_of_every_width),
		cmocka_unit_test(cint_reads_consecutive_values_and_stops_at_n),
		cmocka_unit_test(cint_rejects_every_truncated_prefix),
		cmocka_unit_test(cint_rejects_values_over_64_bits),
		cmocka_unit_test(cint_accepts_padded_encodings),
	};

	printf("# PRNG seed 0x%llx\n", (unsigned long long)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
