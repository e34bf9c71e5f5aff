/* SPDX-License-Identifier: MIT */
/*
 * chunker_speed - throughput of zu_chunker_scan over pseudo-random data, fed in 64 KiB calls.
 * Not a test and not built by meson; build by hand, e.g.:
 *   cc -O2 -std=c11 -Isrc/lib -o chunker_speed bench/chunker_speed.c \
 *      src/lib/chunker.c src/lib/chunker_table.c
 *   ./chunker_speed [MiB] [rounds]
 * Prints the median MB/s (10^6 bytes per second) over the rounds.
 */
#include "config.h"

#include "chunker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Chunks buf once; returns the number of chunks so the work cannot be optimised away. */
static size_t chunk_all(const uint8_t *buf, size_t len)
{
	struct zu_chunker c;
	size_t off = 0, n_chunks = 0;

	zu_chunker_init(&c);
	while (off < len) {
		size_t piece = len - off < 65536 ? len - off : 65536;
		size_t k = zu_chunker_scan(&c, buf + off, piece);

		if (k == ZU_CHUNKER_NO_CUT) {
			off += piece;
			continue;
		}
		n_chunks++;
		off += k;
	}
	return n_chunks + (zu_chunker_pending(&c) > 0);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 7;
	size_t len = mib << 20;
	uint8_t *buf = malloc(len);
	double *mbs = calloc((size_t)(rounds > 0 ? rounds : 1), sizeof(*mbs));
	uint64_t seed = 0x5eed1234abcdULL;
	size_t n_chunks = 0;

	if (!buf || !mbs || rounds < 1)
		return 1;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = xorshift64(&seed);

		for (size_t k = 0; k < 8 && i + k < len; k++)
			buf[i + k] = (uint8_t)(v >> (8 * k));
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = now_s();

		n_chunks = chunk_all(buf, len);
		mbs[r] = (double)len / 1e6 / (now_s() - t0);
	}
	qsort(mbs, (size_t)rounds, sizeof(*mbs), cmp_double);
	printf("%zu MiB, %zu chunks (avg %.0f bytes), median %.0f MB/s (min %.0f, max %.0f)\n",
	       mib, n_chunks, (double)len / (double)n_chunks, mbs[rounds / 2], mbs[0],
	       mbs[rounds - 1]);
	free(mbs);
	free(buf);
	return 0;
}
