/* SPDX-License-Identifier: MIT */
/*
 * fuzz_multipart - libFuzzer target for the multipart/byteranges parser (boundary "zckup") and the
 * Content-Range / Content-Type value parsers. Byte 0 of the input picks how the rest, the body, is
 * split into zu_mp_feed calls: its low 2 bits the kind (0 one byte at a time, 1 pieces of
 * (byte0 >> 2) + 1 bytes, 2 pseudo-random pieces of 1..64 bytes seeded by byte 0, 3 the body
 * halved at (byte0 >> 2) * len / 64), each piece in its own exact-size buffer. The body is parsed
 * once whole and once split: the callbacks check that each part's data arrives in order,
 * contiguous from first to last, from inside the buffer being fed, and the two runs must agree on
 * the events, codes and messages. The body is also given to both value parsers as a header value.
 *
 * Corpus (fuzz/corpus/multipart/): nginx- and Apache-style bodies, bare LF, no line break before
 * the boundary, a preamble, truncated bodies, an oversize header line, too many headers.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/multipart.h"

#define BOUNDARY "zckup"

struct run {
	uint64_t first, last, next; /* the current part; next = offset of its next byte */
	bool in_part;
	size_t parts;
	uint64_t hash; /* FNV-1a of parts and data bytes: the same however the body is split */
	const uint8_t *lo, *hi; /* the buffer being fed */
	int code, finish;
	struct zu_err err;
};

static void mix(struct run *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		r->hash = (r->hash ^ b[i]) * 0x100000001b3ULL;
}

static int on_part(void *user, uint64_t first, uint64_t last, uint64_t total)
{
	struct run *r = user;
	uint64_t ev[3] = { first, last, total };

	/* The previous part was delivered in full before this one starts. */
	CHECK(!r->in_part || r->next == r->last + 1);
	CHECK(first <= last && last != UINT64_MAX);
	CHECK(total == UINT64_MAX || last < total);
	r->first = first;
	r->last = last;
	r->next = first;
	r->in_part = true;
	r->parts++;
	mix(r, "P", 1);
	mix(r, ev, sizeof(ev));
	/* Some parts are refused, to run the callback error path. */
	return (first & 0xff) == 0x5a ? -ECANCELED : 0;
}

static int on_data(void *user, uint64_t off, const uint8_t *p, size_t n)
{
	struct run *r = user;

	CHECK(r->in_part);
	CHECK(n > 0);
	CHECK(off == r->next);
	CHECK(n - 1 <= r->last - off);
	CHECK((uintptr_t)p >= (uintptr_t)r->lo && (uintptr_t)(p + n) <= (uintptr_t)r->hi);
	r->next += n;
	mix(r, p, n);
	return 0;
}

static const struct zu_mp_callbacks cbs = { .part = on_part, .data = on_data };

/* Feeds p[0..n) as one piece in a buffer of exactly n bytes, so that ASan sees any over-read. */
static void feed(struct zu_mp *mp, struct run *r, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	int ret;

	CHECK(copy != NULL);
	memcpy(copy, p, n);
	r->lo = copy;
	r->hi = copy + n;
	ret = zu_mp_feed(mp, copy, n, &r->err);
	free(copy);
	if (r->code != 0) {
		CHECK(ret == r->code); /* errors stick */
		return;
	}
	if (ret < 0) {
		CHECK(ret == -EPROTO || ret == -EOVERFLOW || ret == -ECANCELED);
		CHECK(r->err.code == ret && r->err.msg[0] != '\0');
		r->code = ret;
	} else {
		CHECK(ret == 0);
	}
}

static void finish(struct zu_mp *mp, struct run *r)
{
	r->finish = zu_mp_finish(mp, &r->err);
	if (r->code != 0) {
		CHECK(r->finish == r->code);
	} else if (r->finish == 0) {
		/* A complete body: at least one part, the last one delivered in full. */
		CHECK(r->parts > 0 && r->in_part && r->next == r->last + 1);
	} else {
		CHECK(r->finish == -EPROTO && r->err.msg[0] != '\0');
	}
	CHECK(zu_mp_parts(mp) == r->parts);
}

static size_t piece_len(uint8_t mode, uint64_t *rng)
{
	switch (mode & 3) {
	case 0:
		return 1;
	case 1:
		return (size_t)(mode >> 2) + 1;
	default:
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		return (size_t)(*rng % 64) + 1;
	}
}

static void check_value_parsers(const uint8_t *p, size_t n)
{
	struct zu_err err = ZU_ERR_INIT;
	char b[ZU_MP_BOUNDARY_MAX + 1];
	uint64_t first, last, total;
	int r;

	r = zu_http_parse_content_range((const char *)p, n, &first, &last, &total, &err);
	if (r == 0)
		CHECK(first <= last && last != UINT64_MAX && (total == UINT64_MAX || last < total));
	else
		CHECK(r == -EPROTO && err.code == r && err.msg[0] != '\0');
	r = zu_http_parse_multipart_type((const char *)p, n, b, &err);
	CHECK(r == 0 || r == 1 || r == -EPROTO);
	if (r == 1) {
		struct run run = { 0 };
		struct zu_mp mp;
		size_t len = strnlen(b, sizeof(b));

		CHECK(len >= 1 && len <= ZU_MP_BOUNDARY_MAX);
		/* Whatever the header parser accepts, the body parser must accept too. */
		CHECK(zu_mp_init(&mp, b, &cbs, &run, &err) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { .hash = 0xcbf29ce484222325ULL }, split = whole;
	struct zu_mp mp;
	const uint8_t *body;
	uint64_t rng;
	uint8_t mode;
	size_t n;

	if (size == 0)
		return 0;
	mode = data[0];
	body = data + 1;
	n = size - 1;
	rng = 0x9e3779b97f4a7c15ULL ^ mode;

	CHECK(zu_mp_init(&mp, BOUNDARY, &cbs, &whole, &whole.err) == 0);
	feed(&mp, &whole, body, n);
	finish(&mp, &whole);

	CHECK(zu_mp_init(&mp, BOUNDARY, &cbs, &split, &split.err) == 0);
	if ((mode & 3) == 3) {
		size_t at = (size_t)(((uint64_t)(mode >> 2) * n) / 64);

		feed(&mp, &split, body, at);
		feed(&mp, &split, body + at, n - at);
	} else {
		for (size_t i = 0; i < n;) {
			size_t k = piece_len(mode, &rng);

			if (k > n - i)
				k = n - i;
			feed(&mp, &split, body + i, k);
			i += k;
		}
	}
	finish(&mp, &split);

	CHECK(whole.code == split.code && whole.finish == split.finish);
	CHECK(whole.parts == split.parts && whole.hash == split.hash);
	CHECK(strcmp(whole.err.msg, split.err.msg) == 0);

	check_value_parsers(body, n);
	return 0;
}
