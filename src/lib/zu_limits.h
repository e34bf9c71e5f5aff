/* SPDX-License-Identifier: MIT */
/*
 * limits - caps applied to every length taken from untrusted input, so that
 * memory never grows with what a header or a server claims.
 */
#ifndef ZU_ZU_LIMITS_H
#define ZU_ZU_LIMITS_H

#include <stddef.h>

struct zu_limits {
	size_t max_header;  /* bytes of a whole header */
	size_t max_chunk;   /* bytes of one chunk, compressed or uncompressed */
	size_t max_chunks;  /* index entries */
	size_t max_ranges;  /* byte ranges in one request */
};

/* Ranges in one HTTP request: about what a request line of 4 KiB carries. */
#define ZU_LIMITS_MAX_RANGES 150u

#define ZU_LIMITS_DEFAULT                                                                          \
	{ .max_header = 64u << 20, .max_chunk = 16u << 20, .max_chunks = 4u << 20, .max_ranges = ZU_LIMITS_MAX_RANGES }

#endif
