/* SPDX-License-Identifier: MIT */
/*
 * piecehash - XXH64 (seed 0) written from the algorithm's published
 * description; tests/unit/test_piecehash.c checks it against values printed
 * by `xxhsum -H64`. Reads are little-endian byte by byte composed, so the
 * value is the same on big-endian hosts and needs no alignment.
 */
#include "config.h"

#include "piecehash.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t lane(uint64_t acc, uint64_t in)
{
	return rotl64(acc + in * P2, 31) * P1;
}

static inline uint64_t fold(uint64_t h, uint64_t v)
{
	return (h ^ lane(0, v)) * P1 + P4;
}

uint64_t zu_piecehash(const void *data, size_t n)
{
	const uint8_t *p = data, *end = p + n;
	uint64_t h;

	if (n >= 32) {
		uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;

		/* four independent lanes: the multiplies overlap in the pipeline */
		for (; end - p >= 32; p += 32) {
			v1 = lane(v1, le64(p));
			v2 = lane(v2, le64(p + 8));
			v3 = lane(v3, le64(p + 16));
			v4 = lane(v4, le64(p + 24));
		}
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = fold(h, v1);
		h = fold(h, v2);
		h = fold(h, v3);
		h = fold(h, v4);
	} else {
		h = P5;
	}
	h += (uint64_t)n;
	for (; end - p >= 8; p += 8)
		h = rotl64(h ^ lane(0, le64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		h = rotl64(h ^ (uint64_t)le32(p) * P1, 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl64(h ^ *p * P5, 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

void zu_piecehash_bytes(const void *p, size_t n, uint8_t out[ZU_PIECEHASH_LEN])
{
	uint64_t h = zu_piecehash(p, n);

	for (unsigned i = 0; i < ZU_PIECEHASH_LEN; i++, h >>= 8)
		out[i] = (uint8_t)h;
}
