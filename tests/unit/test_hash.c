/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hash: SHA-256 through OpenSSL EVP against FIPS 180-2 vectors,
 * incremental updates equal one-shot hashing however the input is split,
 * reset reuses the context, hex round trips.
 */
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

#include "hash.h"
#include "test_rng.h"

#define SEED 0x4a54u

static uint64_t rng_state;

static void hex_of(const uint8_t d[ZU_SHA256_LEN], char out[2 * ZU_SHA256_LEN + 1])
{
	zu_hex(d, ZU_SHA256_LEN, out);
}

static void hash_matches_fips_vectors(void **state)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct zu_err err = ZU_ERR_INIT;
	uint8_t d[ZU_SHA256_LEN];
	char hex[2 * ZU_SHA256_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(zu_sha256_buf(v[i].in, strlen(v[i].in), d, &err), 0);
		hex_of(d, hex);
		assert_string_equal(hex, v[i].hex);
	}
}

static void hash_million_a(void **state)
{
	struct zu_sha256 s = ZU_SHA256_INIT;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t block[1000], d[ZU_SHA256_LEN];
	char hex[2 * ZU_SHA256_LEN + 1];

	(void)state;
	memset(block, 'a', sizeof(block));
	assert_int_equal(zu_sha256_init(&s, &err), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(zu_sha256_update(&s, block, sizeof(block), &err), 0);
	assert_int_equal(zu_sha256_final(&s, d, &err), 0);
	zu_sha256_fini(&s);
	hex_of(d, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Any split of the input, and a reset between uses, gives the one-shot digest. */
static void hash_is_independent_of_splits_and_resets(void **state)
{
	const size_t n = 300000;
	uint8_t *p = test_rng_alloc(&rng_state, n);
	struct zu_sha256 s = ZU_SHA256_INIT;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t want[ZU_SHA256_LEN], got[ZU_SHA256_LEN];

	(void)state;
	assert_int_equal(zu_sha256_buf(p, n, want, &err), 0);
	assert_int_equal(zu_sha256_init(&s, &err), 0);
	for (int round = 0; round < 20; round++) {
		size_t at = 0;

		assert_int_equal(zu_sha256_reset(&s, &err), 0);
		/* a first use abandoned halfway: reset must forget it */
		assert_int_equal(zu_sha256_update(&s, p, 777, &err), 0);
		assert_int_equal(zu_sha256_reset(&s, &err), 0);
		while (at < n) {
			size_t k = (size_t)(test_rng_next(&rng_state) % 70000);

			if (k > n - at)
				k = n - at;
			assert_int_equal(zu_sha256_update(&s, p + at, k, &err), 0);
			at += k;
		}
		assert_int_equal(zu_sha256_final(&s, got, &err), 0);
		assert_memory_equal(got, want, ZU_SHA256_LEN);
	}
	zu_sha256_fini(&s);
	zu_sha256_fini(&s); /* twice is harmless */
	free(p);
}

static void hash_hex_round_trips_and_refuses_malformed(void **state)
{
	uint8_t d[ZU_SHA256_LEN], back[ZU_SHA256_LEN];
	char hex[2 * ZU_SHA256_LEN + 1];

	(void)state;
	test_rng_fill(&rng_state, d, sizeof(d));
	hex_of(d, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(zu_unhex_sha256(hex, back), 0);
	assert_memory_equal(back, d, sizeof(d));
	hex[10] = 'g';
	assert_true(zu_unhex_sha256(hex, back) < 0);
	assert_true(zu_unhex_sha256("abc", back) < 0);
	assert_true(zu_unhex_sha256("", back) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_matches_fips_vectors),
		cmocka_unit_test(hash_million_a),
		cmocka_unit_test(hash_is_independent_of_splits_and_resets),
		cmocka_unit_test(hash_hex_round_trips_and_refuses_malformed),
	};

	rng_state = test_rng_seed(SEED);
	printf("hash test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
