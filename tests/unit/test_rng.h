/* SPDX-License-Identifier: MIT */
/*
 * test_rng - the one pseudo-random generator of the unit tests: xorshift64*, deterministic from
 * a seed that each test prints, so that a failure can be replayed. Test data only: the low bits
 * are weaker than the high ones, and test_rng_fill's bytes do not depend on host endianness.
 *
 *	uint64_t rng = test_rng_seed(SEED);
 *	size_t len = 1 + test_rng_next(&rng) % 4096;
 *	uint8_t *p = test_rng_alloc(&rng, len);
 *
 * Include after <cmocka.h> (and its <setjmp.h>, <stdarg.h>, <stddef.h>).
 */
#ifndef ZU_TEST_RNG_H
#define ZU_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define TEST_RNG_GOLDEN 0x9e3779b97f4a7c15ULL

/*
 * A state for seed. Seeds next to each other (SEED, SEED + 1, ...) give unrelated streams,
 * because the seed goes through the splitmix64 mixer first; the state is never 0 (a fixed
 * point of xorshift).
 */
static inline uint64_t test_rng_seed(uint64_t seed)
{
	uint64_t z = seed + TEST_RNG_GOLDEN;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : TEST_RNG_GOLDEN;
}

/* xorshift64* (Marsaglia's shifts 12/25/27, Vigna's multiplier). *state must not be 0. */
static inline uint64_t test_rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* n pseudo-random bytes, little-endian from each 64-bit output. */
static inline void test_rng_fill(uint64_t *state, void *p, size_t n)
{
	uint8_t *b = p;
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = test_rng_next(state);
		b[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* A malloc'd buffer of n random bytes (never NULL, also for n == 0); the caller frees it. */
static inline uint8_t *test_rng_alloc(uint64_t *state, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	test_rng_fill(state, p, n);
	return p;
}

#endif
