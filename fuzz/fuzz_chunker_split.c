/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chunker_split - libFuzzer target for the chunker's promise that cuts never depend on how
 * the input is split into zu_chunker_scan calls. The input's first byte gives the number of
 * split points (0..15), the next 3 bytes per point their positions (modulo the payload length
 * + 1, so points may repeat and give empty calls); the rest is the payload. It is cut once in
 * one call and once in the pieces between the points; the chunk lengths must agree and obey
 * 8 KiB..128 KiB (the last chunk may be shorter).
 *
 * Corpus (fuzz/corpus/chunker_split/): seeded random data, zeros (cut only by the 128 KiB
 * limit), text and a mix of them, from a few KB to ~300 KB, each with a few split points.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"



#define MAX_SPLITS 15

struct cuts {
	size_t n, cap;
	size_t *len;
};

static void cuts_add(struct cuts *c, size_t len)
{
	/* Every chunk before the last one is 8 KiB..128 KiB, hence at most n / 8 KiB + 1 of them. */
	CHECK(c->n < c->cap);
	CHECK(len >= ZU_CHUNKER_MIN && len <= ZU_CHUNKER_MAX);
	c->len[c->n++] = len;
}

/* Feeds p[from..to) to c, recording a cut each time one ends inside; *cur is the chunk so far. */
static void feed(struct zu_chunker *c, const uint8_t *p, size_t from, size_t to, size_t *cur,
		 struct cuts *out)
{
	while (from <= to) {
		size_t piece = to - from, k = zu_chunker_scan(c, p + from, piece);

		if (k == ZU_CHUNKER_NO_CUT) {
			*cur += piece;
			CHECK(zu_chunker_pending(c) == *cur);
			return;
		}
		CHECK(k <= piece);
		cuts_add(out, *cur + k);
		CHECK(zu_chunker_pending(c) == 0);
		from += k;
		*cur = 0;
	}
}

static void finish(const struct zu_chunker *c, size_t cur, struct cuts *out)
{
	CHECK(zu_chunker_pending(c) == cur);
	CHECK(cur <= ZU_CHUNKER_MAX);
	if (cur > 0) {
		CHECK(out->n < out->cap);
		out->len[out->n++] = cur;
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at[MAX_SPLITS + 1], n_at, n, cur = 0, start = 0, total = 0;
	struct cuts whole = { 0 }, split = { 0 };
	struct zu_chunker c;
	const uint8_t *p;

	if (size == 0)
		return 0;
	n_at = data[0] % (MAX_SPLITS + 1);
	if (size < 1 + 3 * n_at)
		return 0;
	p = data + 1 + 3 * n_at;
	n = size - 1 - 3 * n_at;
	for (size_t i = 0; i < n_at; i++) {
		const uint8_t *v = data + 1 + 3 * i;

		at[i] = ((size_t)v[0] | (size_t)v[1] << 8 | (size_t)v[2] << 16) % (n + 1);
	}
	qsort(at, n_at, sizeof(at[0]), cmp_size);
	at[n_at] = n;
	whole.cap = split.cap = n / ZU_CHUNKER_MIN + 1;
	whole.len = malloc(whole.cap * sizeof(size_t));
	split.len = malloc(split.cap * sizeof(size_t));
	CHECK(whole.len && split.len);

	zu_chunker_init(&c);
	feed(&c, p, 0, n, &cur, &whole);
	finish(&c, cur, &whole);

	zu_chunker_init(&c);
	cur = 0;
	for (size_t i = 0; i <= n_at; i++) {
		feed(&c, p, start, at[i], &cur, &split);
		start = at[i];
	}
	finish(&c, cur, &split);

	CHECK(whole.n == split.n);
	for (size_t i = 0; i < whole.n; i++) {
		CHECK(whole.len[i] == split.len[i]);
		total += whole.len[i];
	}
	CHECK(total == n);
	free(whole.len);
	free(split.len);
	return 0;
}
