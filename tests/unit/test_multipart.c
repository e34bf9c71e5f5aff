/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for multipart: multipart/byteranges bodies as nginx, Apache and sloppier servers send
 * them, split every way, and every framing error; the Content-Range and Content-Type parsers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetch/multipart.h"
#include "test_rng.h"

#define SEED 0x6d756c7469ULL
#define IMG 2048
#define PARTS_MAX 16

/* What the callbacks saw: the resource image, and checks that each byte lands where it belongs. */
struct rec {
	uint8_t img[IMG];
	uint8_t seen[IMG]; /* deliveries per byte */
	uint64_t part[PARTS_MAX][3];
	size_t n_parts;
	uint64_t next, left; /* next offset due in the current part, bytes still due */
	const uint8_t *chunk; /* the piece being fed: data must point into it */
	size_t chunk_len;
	/* Fault injection: the part callback fails at part fail_part (1-based), the data callback
	 * at its fail_data-th call; with own_msg the callback writes its message into *err. */
	size_t fail_part, fail_data, n_data;
	int fail_code;
	bool own_msg;
	struct zu_err *err;
};

struct result {
	int feed;   /* first error of zu_mp_feed, or 0 */
	int finish; /* zu_mp_finish, called in every case */
	char msg[ZU_ERR_MSG_LEN];
	size_t parts;
	struct rec rec;
};

static int on_part(void *user, uint64_t first, uint64_t last, uint64_t total)
{
	struct rec *r = user;

	assert_true(r->left == 0); /* the previous part was complete */
	assert_true(first <= last);
	assert_true(r->n_parts < PARTS_MAX);
	r->part[r->n_parts][0] = first;
	r->part[r->n_parts][1] = last;
	r->part[r->n_parts][2] = total;
	r->n_parts++;
	r->next = first;
	r->left = last - first + 1;
	if (r->fail_part == r->n_parts) {
		if (r->own_msg)
			return zu_err_set(r->err, r->fail_code, "caller says no");
		return r->fail_code;
	}
	return 0;
}

static int on_data(void *user, uint64_t off, const uint8_t *p, size_t n)
{
	struct rec *r = user;

	assert_true(n > 0);
	assert_true(off == r->next);
	assert_true(n <= r->left);
	/* Delivered in place from the caller's buffer, never from a copy. */
	assert_true((uintptr_t)p >= (uintptr_t)r->chunk &&
		    (uintptr_t)(p + n) <= (uintptr_t)(r->chunk + r->chunk_len));
	if (++r->n_data == r->fail_data) {
		if (r->own_msg)
			return zu_err_set(r->err, r->fail_code, "disk full at %llu",
					  (unsigned long long)off);
		return r->fail_code;
	}
	if (off < IMG && n <= IMG - off) {
		memcpy(r->img + off, p, n);
		for (size_t i = 0; i < n; i++)
			r->seen[off + i]++;
	}
	r->next += n;
	r->left -= n;
	return 0;
}

static const struct zu_mp_callbacks cbs = { .part = on_part, .data = on_data };

/* Feeds body in the pieces between the sorted cut points, each in its own exact-size buffer. */
static void run_cuts(const char *boundary, const void *body, size_t len, const size_t *cuts,
		     size_t n_cuts, struct result *res)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_mp mp;
	size_t start = 0;

	res->rec.err = &err;
	assert_int_equal(zu_mp_init(&mp, boundary, &cbs, &res->rec, &err), 0);
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len, n = end - start;
		uint8_t *piece = malloc(n ? n : 1);
		int r;

		assert_non_null(piece);
		assert_true(end >= start && end <= len);
		memcpy(piece, (const uint8_t *)body + start, n);
		res->rec.chunk = piece;
		res->rec.chunk_len = n;
		r = zu_mp_feed(&mp, piece, n, &err);
		free(piece);
		if (r < 0 && res->feed == 0) {
			res->feed = r;
			assert_int_equal(err.code, r);
			assert_true(err.msg[0] != '\0');
			snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
		} else if (res->feed != 0) {
			/* Errors stick: the same code and message whatever comes next. */
			assert_int_equal(r, res->feed);
			assert_string_equal(err.msg, res->msg);
		} else {
			assert_int_equal(r, 0);
		}
		start = end;
	}
	res->finish = zu_mp_finish(&mp, &err);
	if (res->feed != 0) {
		assert_int_equal(res->finish, res->feed);
		assert_string_equal(err.msg, res->msg);
	} else if (res->finish != 0) {
		assert_int_equal(err.code, res->finish);
		snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
		/* ... and finish's error sticks too. */
		assert_int_equal(zu_mp_feed(&mp, (const uint8_t *)"x", 1, &err), res->finish);
		assert_int_equal(zu_mp_finish(&mp, &err), res->finish);
		assert_string_equal(err.msg, res->msg);
	}
	res->parts = zu_mp_parts(&mp);
	assert_int_equal(res->parts, res->rec.n_parts);
}

static struct result *new_result(void)
{
	struct result *res = calloc(1, sizeof(*res));

	assert_non_null(res);
	return res;
}

static struct result *run_whole(const char *boundary, const void *body, size_t len)
{
	struct result *res = new_result();

	run_cuts(boundary, body, len, NULL, 0, res);
	return res;
}

#define RUN(boundary, lit) run_whole(boundary, lit, sizeof(lit) - 1)

static void assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->feed, b->feed);
	assert_int_equal(a->finish, b->finish);
	assert_string_equal(a->msg, b->msg);
	assert_int_equal(a->parts, b->parts);
	assert_memory_equal(a->rec.part, b->rec.part, sizeof(a->rec.part));
	assert_memory_equal(a->rec.img, b->rec.img, IMG);
	assert_memory_equal(a->rec.seen, b->rec.seen, IMG);
}

/* Exactly [first, first + strlen(data)) was delivered, once, with data. */
static void assert_range(const struct result *res, uint64_t first, const char *data)
{
	size_t n = strlen(data);

	assert_memory_equal(res->rec.img + first, data, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(res->rec.seen[first + i], 1);
}

static size_t delivered(const struct result *res)
{
	size_t n = 0;

	for (size_t i = 0; i < IMG; i++)
		n += res->rec.seen[i];
	return n;
}

static void assert_part(const struct result *res, size_t i, uint64_t first, uint64_t last,
			uint64_t total)
{
	assert_true(i < res->rec.n_parts);
	assert_true(res->rec.part[i][0] == first);
	assert_true(res->rec.part[i][1] == last);
	assert_true(res->rec.part[i][2] == total);
}

static void assert_ok(const struct result *res)
{
	if (res->feed != 0 || res->finish != 0)
		fail_msg("expected success, got %d/%d: %s", res->feed, res->finish, res->msg);
}

static void assert_fails(const struct result *res, int code, const char *in_msg)
{
	if (res->finish != code || !strstr(res->msg, in_msg))
		fail_msg("expected %d with \"%s\", got %d/%d: %s", code, in_msg, res->feed,
			 res->finish, res->msg);
}

/* ---- bodies as real servers send them ---- */

#define NGINX_B "00000000000000000001"
static const char nginx_body[] =
	"\r\n--" NGINX_B "\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Range: bytes 0-4/100\r\n"
	"\r\n"
	"HELLO"
	"\r\n--" NGINX_B "\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Range: bytes 10-14/100\r\n"
	"\r\n"
	"WORLD"
	"\r\n--" NGINX_B "--\r\n";

#define APACHE_B "5f3c0e7a12b4d"
static const char apache_body[] =
	"\r\n--" APACHE_B "\r\n"
	"Content-type: application/octet-stream\r\n"
	"Content-range: bytes 2-6/1000\r\n"
	"\r\n"
	"abcde"
	"\r\n--" APACHE_B "\r\n"
	"Content-type: application/octet-stream\r\n"
	"Content-range: bytes 900-909/1000\r\n"
	"\r\n"
	"0123456789"
	"\r\n--" APACHE_B "--\r\n";

static void nginx_body_delivers_each_part_at_its_offsets(void **state)
{
	struct result *res = RUN(NGINX_B, nginx_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 2);
	assert_part(res, 0, 0, 4, 100);
	assert_part(res, 1, 10, 14, 100);
	assert_range(res, 0, "HELLO");
	assert_range(res, 10, "WORLD");
	assert_int_equal(delivered(res), 10);
	free(res);
}

static void apache_body_with_lowercase_header_names(void **state)
{
	struct result *res = RUN(APACHE_B, apache_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 2);
	assert_part(res, 0, 2, 6, 1000);
	assert_part(res, 1, 900, 909, 1000);
	assert_range(res, 2, "abcde");
	assert_range(res, 900, "0123456789");
	assert_int_equal(delivered(res), 15);
	free(res);
}

static const char bare_lf_body[] = "--XYZ\n"
				   "content-range: bytes 3-5/*\n"
				   "\n"
				   "abc"
				   "\n--XYZ\n"
				   "CONTENT-RANGE:bytes 7-7/8\n"
				   "\n"
				   "d"
				   "\n--XYZ--\n";

static void bare_lf_framing_is_accepted(void **state)
{
	struct result *res = RUN("XYZ", bare_lf_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 2);
	assert_part(res, 0, 3, 5, UINT64_MAX);
	assert_part(res, 1, 7, 7, 8);
	assert_range(res, 3, "abc");
	assert_range(res, 7, "d");
	assert_int_equal(delivered(res), 4);
	free(res);
}

/* Hawkbit and some CDNs put the boundary right after the data. */
static const char no_break_body[] = "--XYZ\r\n"
				    "Content-Range: bytes 0-4/20\r\n"
				    "\r\n"
				    "HELLO"
				    "--XYZ\r\n"
				    "Content-Range: bytes 5-9/20\r\n"
				    "\r\n"
				    "\r\n-\r\n"
				    "--XYZ--";

static void boundary_right_after_the_data_is_accepted(void **state)
{
	struct result *res = RUN("XYZ", no_break_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 2);
	assert_range(res, 0, "HELLO");
	/* Line breaks inside the counted data are data. */
	assert_range(res, 5, "\r\n-\r\n");
	assert_int_equal(delivered(res), 10);
	free(res);
}

static const char reordered_body[] = "\r\n--XYZ\r\n"
				     "Content-Range: bytes 50-54/*\r\n"
				     "\r\n"
				     "fifty"
				     "\r\n--XYZ\r\n"
				     "Content-Range: bytes 0-3/*\r\n"
				     "\r\n"
				     "zero"
				     "\r\n--XYZ\r\n"
				     "Content-Range: bytes 20-22/60\r\n"
				     "\r\n"
				     "twe"
				     "\r\n--XYZ--\r\n";

static void parts_in_any_order_keep_their_offsets(void **state)
{
	struct result *res = RUN("XYZ", reordered_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 3);
	assert_part(res, 0, 50, 54, UINT64_MAX);
	assert_part(res, 1, 0, 3, UINT64_MAX);
	assert_part(res, 2, 20, 22, 60); /* totals are reported as sent */
	assert_range(res, 50, "fifty");
	assert_range(res, 0, "zero");
	assert_range(res, 20, "twe");
	assert_int_equal(delivered(res), 12);
	free(res);
}

/* The data holds delimiters, a closing one and a fake part: all of it is data. */
static const char boundary_in_data_body[] = "--XYZ\r\n"
					    "Content-Range: bytes 100-148/1000\r\n"
					    "\r\n"
					    "\r\n--XYZ--\r\n"
					    "--XYZ\r\n"
					    "Content-Range: bytes 0-0/1\r\n\r\nZ"
					    "\r\n--XYZ--\r\n";

static void boundary_inside_the_data_is_data(void **state)
{
	static const char data[] = "\r\n--XYZ--\r\n--XYZ\r\nContent-Range: bytes 0-0/1\r\n\r\nZ";
	struct result *res = RUN("XYZ", boundary_in_data_body);

	(void)state;
	assert_int_equal(strlen(data), 49);
	assert_ok(res);
	assert_int_equal(res->parts, 1);
	assert_part(res, 0, 100, 148, 1000);
	assert_range(res, 100, data);
	assert_int_equal(delivered(res), 49);
	free(res);
}

static const char preamble_body[] = "This is the MIME preamble.\r\n"
				    "--XY\r\n"
				    "\r\n"
				    "-\n"
				    "--XYZ\r\n"
				    "Content-Range: bytes 0-1/2\r\n"
				    "\r\n"
				    "ok"
				    "\r\n--XYZ--\r\n";

static void preamble_before_the_first_boundary_is_skipped(void **state)
{
	struct result *res = RUN("XYZ", preamble_body);

	(void)state;
	/* Lines that only start like the delimiter are preamble. */
	assert_ok(res);
	assert_int_equal(res->parts, 1);
	assert_range(res, 0, "ok");
	assert_int_equal(delivered(res), 2);
	free(res);
	/*
	 * A line that starts with the whole delimiter and goes on is not one by RFC 2046, but a
	 * server that sends it is confused about its boundary: refused rather than skipped.
	 */
	res = RUN("XYZ", "--XYZ is not a boundary\r\n--XYZ\r\nContent-Range: bytes 0-1/2\r\n\r\n"
			 "ok\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "boundary \"--XYZ\" followed by \"i\" at body offset 6");
	free(res);
}

/* A body with pre_len bytes of preamble (lines of 'p' ending in CRLF). */
static size_t preamble_of(char *out, size_t pre_len)
{
	static const char rest[] = "--XYZ\r\nContent-Range: bytes 0-1/2\r\n\r\nok\r\n--XYZ--\r\n";

	for (size_t i = 0; i < pre_len; i++)
		out[i] = i % 100 == 98 ? '\r' : i % 100 == 99 ? '\n' : 'p';
	if (pre_len >= 2) {
		out[pre_len - 2] = '\r';
		out[pre_len - 1] = '\n';
	}
	memcpy(out + pre_len, rest, sizeof(rest) - 1);
	return pre_len + sizeof(rest) - 1;
}

static void preamble_up_to_1k_is_accepted_and_more_refused(void **state)
{
	char body[2048];
	struct result *res;
	size_t len;

	(void)state;
	len = preamble_of(body, 1024);
	res = run_whole("XYZ", body, len);
	assert_ok(res);
	assert_range(res, 0, "ok");
	free(res);
	len = preamble_of(body, 1025);
	res = run_whole("XYZ", body, len);
	assert_int_equal(res->feed, -EPROTO);
	assert_fails(res, -EPROTO, "more than 1024 bytes before the first boundary");
	assert_int_equal(res->parts, 0);
	free(res);
	/* Lines that start like the delimiter count in full. */
	for (size_t lines = 170; lines <= 171; lines++) {
		len = 0;
		for (size_t i = 0; i < lines; i++) {
			memcpy(body + len, "--XY\r\n", 6);
			len += 6;
		}
		len += preamble_of(body + len, 0);
		res = run_whole("XYZ", body, len);
		if (lines * 6 <= 1024)
			assert_ok(res);
		else
			assert_fails(res, -EPROTO, "more than 1024 bytes before the first boundary");
		free(res);
	}
	/* A body without any boundary (a plain 206 mislabelled). */
	memset(body, 'x', sizeof(body));
	res = run_whole("XYZ", body, sizeof(body));
	assert_fails(res, -EPROTO, "before the first boundary");
	free(res);
}

static const char padding_body[] = "--XYZ \t \r\n"
				   "Content-Range: bytes 0-1/2\r\n"
				   "\r\n"
				   "ok"
				   "\r\n--XYZ\t\n"
				   "Content-Range: bytes 4-4/5\r\n"
				   "\r\n"
				   "!"
				   "\r\n--XYZ--  epilogue\r\n--XYZ\r\n"
				   "Content-Range: bytes 9-9/10\r\n\r\nE\r\n";

static void padding_after_a_boundary_and_epilogue_are_ignored(void **state)
{
	struct result *res = RUN("XYZ", padding_body);

	(void)state;
	assert_ok(res);
	assert_int_equal(res->parts, 2); /* the part in the epilogue is not one */
	assert_range(res, 0, "ok");
	assert_range(res, 4, "!");
	assert_int_equal(delivered(res), 3);
	free(res);
}

static void long_epilogue_is_consumed_without_limit(void **state)
{
	static const char head[] = "--XYZ\r\nContent-Range: bytes 0-1/2\r\n\r\nok\r\n--XYZ--";
	size_t len = (size_t)1 << 20;
	uint8_t *body = malloc(len);
	struct result *res;

	(void)state;
	assert_non_null(body);
	memset(body, '\n', len);
	memcpy(body, head, sizeof(head) - 1);
	res = run_whole("XYZ", body, len);
	assert_ok(res);
	assert_int_equal(res->parts, 1);
	free(res);
	free(body);
}

/* ---- splits ---- */

static const struct {
	const char *boundary;
	const char *body;
	size_t len;
} split_cases[] = {
#define CASE(b, lit) { b, lit, sizeof(lit) - 1 }
	CASE(NGINX_B, nginx_body),
	CASE(APACHE_B, apache_body),
	CASE("XYZ", bare_lf_body),
	CASE("XYZ", no_break_body),
	CASE("XYZ", reordered_body),
	CASE("XYZ", boundary_in_data_body),
	CASE("XYZ", preamble_body),
	CASE("XYZ", padding_body),
	/* errors must not depend on the split either */
	CASE("XYZ", "--XYZ\r\nContent-Range: bytes 0-9/20\r\n\r\nHELLO\r\n--XYZ--\r\n"),
	CASE("XYZ", "--XYZ\r\nContent-Range: bytes 0-2/20\r\n\r\nHELLO\r\n--XYZ--\r\n"),
	CASE("XYZ", "--XYZ\r\nContent-Type: x\r\n\r\nHELLO\r\n--XYZ--\r\n"),
	CASE("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZ\r\n"),
#undef CASE
};

static void results_do_not_depend_on_how_the_body_is_split(void **state)
{
	uint64_t rng = test_rng_seed(SEED);

	(void)state;
	for (size_t c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
		const char *b = split_cases[c].boundary, *body = split_cases[c].body;
		size_t len = split_cases[c].len;
		struct result *whole = run_whole(b, body, len), *res;
		size_t *cuts = malloc(len * sizeof(size_t));

		assert_non_null(cuts);
		/* One byte at a time. */
		for (size_t i = 1; i < len; i++)
			cuts[i - 1] = i;
		res = new_result();
		run_cuts(b, body, len, cuts, len - 1, res);
		assert_same(whole, res);
		free(res);
		/* Every two-way split, including empty pieces at either end. */
		for (size_t k = 0; k <= len; k++) {
			res = new_result();
			run_cuts(b, body, len, &k, 1, res);
			assert_same(whole, res);
			free(res);
		}
		/* Random many-way splits (repeated points give empty feeds). */
		for (int round = 0; round < 50; round++) {
			size_t n = 1 + (size_t)(test_rng_next(&rng) % 12);

			for (size_t i = 0; i < n; i++)
				cuts[i] = (size_t)(test_rng_next(&rng) % (len + 1));
			for (size_t i = 1; i < n; i++)
				for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
					size_t t = cuts[j];

					cuts[j] = cuts[j - 1];
					cuts[j - 1] = t;
				}
			res = new_result();
			run_cuts(b, body, len, cuts, n, res);
			assert_same(whole, res);
			free(res);
		}
		free(cuts);
		free(whole);
	}
}

/* ---- framing errors ---- */

static void data_shorter_than_its_content_range_is_refused(void **state)
{
	struct result *res =
		RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-9/20\r\n\r\nHELLO\r\n--XYZ--\r\n");

	(void)state;
	assert_int_equal(res->feed, -EPROTO);
	assert_fails(res, -EPROTO,
		     "expected \"--XYZ\" after the 10 bytes of part 1 (bytes 0-9), got \"Y\"");
	free(res);
}

static void data_longer_than_its_content_range_is_refused(void **state)
{
	struct result *res =
		RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-2/20\r\n\r\nHELLO\r\n--XYZ--\r\n");

	(void)state;
	assert_int_equal(res->feed, -EPROTO);
	assert_fails(res, -EPROTO, "after the 3 bytes of part 1 (bytes 0-2), got \"L\"");
	/* The second part never started. */
	assert_int_equal(res->parts, 1);
	free(res);
	/* Longer by a line break plus the usual line break: two breaks are one too many. */
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "got \"\\r\"");
	free(res);
}

static void wrong_boundary_after_data_is_refused(void **state)
{
	struct result *res;

	(void)state;
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYQ--\r\n");
	assert_fails(res, -EPROTO, "got \"Q\"");
	free(res);
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZX\r\n");
	assert_fails(res, -EPROTO, "boundary \"--XYZ\" followed by \"X\"");
	free(res);
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZ-\r\n");
	assert_fails(res, -EPROTO, "followed by \"\\r\"");
	free(res);
	/* CR must be followed by LF, both after the data and after the boundary. */
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r--XYZ--\r\n");
	assert_fails(res, -EPROTO, "got \"-\"");
	free(res);
	res = RUN("XYZ", "--XYZ\rContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "followed by \"C\"");
	free(res);
	/* Padding, then "--", is not a closing boundary. */
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZ --\r\n");
	assert_fails(res, -EPROTO, "followed by \"-\"");
	free(res);
}

static void closing_boundary_before_any_part_is_refused(void **state)
{
	struct result *res = RUN("XYZ", "\r\n--XYZ--\r\n");

	(void)state;
	assert_fails(res, -EPROTO, "closing boundary \"--XYZ--\" at body offset 2 before the first");
	free(res);
}

static void init_refuses_bad_boundaries(void **state)
{
	static const char *const bad[] = { "", "a\"b", "ab ", "tab\there", "caf\xc3\xa9", "a;b",
					   "a\r\nb" };
	char b70[71], b71[72];
	struct zu_err err = ZU_ERR_INIT;
	struct zu_mp mp;
	struct rec rec = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(zu_mp_init(&mp, bad[i], &cbs, &rec, &err), -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		/* A parser whose init failed refuses to run. */
		assert_int_equal(zu_mp_feed(&mp, (const uint8_t *)"--", 2, &err), -EINVAL);
		assert_int_equal(zu_mp_finish(&mp, &err), -EINVAL);
	}
	memset(b70, 'b', 70);
	b70[70] = '\0';
	memset(b71, 'b', 71);
	b71[71] = '\0';
	assert_int_equal(zu_mp_init(&mp, b71, &cbs, &rec, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 70"));
	assert_int_equal(zu_mp_init(&mp, b70, &cbs, &rec, &err), 0);
	/* Every bchar, with an inner space. */
	assert_int_equal(zu_mp_init(&mp, "09azAZ'()+_,-./:=? x", &cbs, &rec, &err), 0);
}

static void part_without_content_range_is_refused(void **state)
{
	struct result *res;

	(void)state;
	res = RUN("XYZ", "--XYZ\r\nContent-Type: text/plain\r\n\r\nHELLO\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "part 1 has no Content-Range header");
	assert_int_equal(res->parts, 0);
	free(res);
	/* No headers at all. */
	res = RUN("XYZ", "--XYZ\r\n\r\nHELLO\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "part 1 has no Content-Range header");
	free(res);
	/* In the second part. */
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-0/9\r\n\r\nH\r\n--XYZ\r\n\r\nELLO\r\n--XYZ--");
	assert_fails(res, -EPROTO, "part 2 has no Content-Range header");
	assert_int_equal(res->parts, 1);
	free(res);
}

static void second_content_range_in_a_part_is_refused(void **state)
{
	struct result *res = RUN("XYZ", "--XYZ\r\n"
					"Content-Range: bytes 0-4/20\r\n"
					"content-range: bytes 0-4/20\r\n"
					"\r\nHELLO\r\n--XYZ--\r\n");

	(void)state;
	assert_fails(res, -EPROTO, "part 1 has a second Content-Range header");
	assert_int_equal(res->parts, 0);
	free(res);
}

static void malformed_header_lines_are_refused(void **state)
{
	static const char *const lines[] = {
		"Content-Range: bytes 0-4/20\r\n X-Folded: yes\r\n",  /* obs-fold */
		"Content-Range: bytes 0-4/20\r\n\tX-Folded: yes\r\n", /* obs-fold, tab */
		"Content-Range: bytes 0-4/20\r\nNo colon here\r\n",
		"Content-Range : bytes 0-4/20\r\n", /* space before the colon */
		": bytes 0-4/20\r\n",
		"Content-Range: bytes 0-4/20\r\nX-A: a\rb\r\n", /* bare CR */
		"Content-Range: bytes 0-4/20\r\nX-A: a\0b\r\n", /* NUL */
	};
	static const char *const why[] = { "obsolete line folding", "obsolete line folding",
					   "is not \"Name: value\"", "is not \"Name: value\"",
					   "is not \"Name: value\"", "CR or NUL", "CR or NUL" };

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		static const char tail[] = "\r\nHELLO\r\n--XYZ--\r\n";
		char body[256];
		size_t len = strlen(lines[i]), n = 0;
		struct result *res;

		if (i == 6)
			len = strlen(lines[i]) + 1 + strlen(lines[i] + strlen(lines[i]) + 1);
		memcpy(body, "--XYZ\r\n", 7);
		n = 7;
		memcpy(body + n, lines[i], len);
		n += len;
		memcpy(body + n, tail, sizeof(tail) - 1);
		n += sizeof(tail) - 1;
		res = run_whole("XYZ", body, n);
		assert_int_equal(res->feed, -EPROTO);
		assert_fails(res, -EPROTO, why[i]);
		assert_int_equal(res->parts, 0);
		free(res);
	}
}

static void malformed_content_range_in_a_part_is_refused(void **state)
{
	struct result *res;

	(void)state;
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 4-0/20\r\n\r\nHELLO\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "part 1 (body offset 7): Content-Range \"bytes 4-0/20\"");
	free(res);
	res = RUN("XYZ", "--XYZ\r\nContent-Range: items 0-4/20\r\n\r\nHELLO\r\n--XYZ--\r\n");
	assert_fails(res, -EPROTO, "does not start with \"bytes \"");
	free(res);
}

/* A part whose one extra header line has line_len bytes (before its line break eol). */
static size_t long_line_body(char *out, size_t cap, size_t line_len, const char *eol)
{
	size_t n = 0;

	n += (size_t)snprintf(out, cap, "--XYZ%sContent-Range: bytes 0-1/2%sX-Pad: ", eol, eol);
	assert_true(n + line_len - 7 < cap);
	memset(out + n, 'a', line_len - 7);
	n += line_len - 7;
	n += (size_t)snprintf(out + n, cap - n, "%s%sok%s--XYZ--%s", eol, eol, eol, eol);
	assert_true(n < cap);
	return n;
}

static void header_line_over_the_limit_is_refused(void **state)
{
	char body[ZU_MP_LINE_MAX + 200];
	struct result *res;
	size_t len;

	(void)state;
	len = long_line_body(body, sizeof(body), ZU_MP_LINE_MAX, "\r\n");
	res = run_whole("XYZ", body, len);
	assert_ok(res);
	assert_range(res, 0, "ok");
	free(res);
	len = long_line_body(body, sizeof(body), ZU_MP_LINE_MAX, "\n");
	res = run_whole("XYZ", body, len);
	assert_ok(res);
	free(res);
	len = long_line_body(body, sizeof(body), ZU_MP_LINE_MAX + 1, "\r\n");
	res = run_whole("XYZ", body, len);
	assert_int_equal(res->feed, -EOVERFLOW);
	assert_fails(res, -EOVERFLOW, "longer than 1024 bytes");
	free(res);
	len = long_line_body(body, sizeof(body), ZU_MP_LINE_MAX + 1, "\n");
	res = run_whole("XYZ", body, len);
	assert_fails(res, -EOVERFLOW, "longer than 1024 bytes");
	free(res);
	/* A line that never ends fails as soon as it is too long, not at the end of the body. */
	memset(body, 'a', sizeof(body));
	memcpy(body, "--XYZ\r\n", 7);
	res = run_whole("XYZ", body, 7 + ZU_MP_LINE_MAX + 2);
	assert_int_equal(res->feed, -EOVERFLOW);
	free(res);
}

static void boundary_line_padding_over_the_limit_is_refused(void **state)
{
	char body[ZU_MP_LINE_MAX + 64];
	struct result *res;

	(void)state;
	memset(body, ' ', sizeof(body));
	memcpy(body, "--XYZ", 5);
	res = run_whole("XYZ", body, sizeof(body));
	assert_int_equal(res->feed, -EOVERFLOW);
	assert_fails(res, -EOVERFLOW, "boundary line at body offset 0 longer than 1024");
	free(res);
}

/* A part with n_lines header lines (the last one its Content-Range). */
static size_t headers_body(char *out, size_t cap, size_t n_lines)
{
	size_t n = (size_t)snprintf(out, cap, "--XYZ\r\n");

	for (size_t i = 1; i < n_lines; i++)
		n += (size_t)snprintf(out + n, cap - n, "X-H%zu: v\r\n", i);
	n += (size_t)snprintf(out + n, cap - n,
			      "Content-Range: bytes 0-1/2\r\n\r\nok\r\n--XYZ--\r\n");
	assert_true(n < cap);
	return n;
}

static void more_than_32_header_lines_are_refused(void **state)
{
	char body[2048];
	struct result *res;

	(void)state;
	res = run_whole("XYZ", body, headers_body(body, sizeof(body), ZU_MP_HEADERS_MAX));
	assert_ok(res);
	assert_range(res, 0, "ok");
	free(res);
	res = run_whole("XYZ", body, headers_body(body, sizeof(body), ZU_MP_HEADERS_MAX + 1));
	assert_int_equal(res->feed, -EOVERFLOW);
	assert_fails(res, -EOVERFLOW, "more than 32 header lines");
	assert_int_equal(res->parts, 0);
	free(res);
}

static void truncated_body_fails_at_every_byte(void **state)
{
	/* The closing delimiter "--" ends this many bytes before the end of nginx_body. */
	const size_t len = sizeof(nginx_body) - 1, closed = len - 2;

	(void)state;
	for (size_t k = 0; k <= len; k++) {
		struct result *res = run_whole(NGINX_B, nginx_body, k);

		assert_int_equal(res->feed, 0);
		if (k >= closed) {
			assert_ok(res);
			assert_int_equal(res->parts, 2);
		} else {
			assert_int_equal(res->finish, -EPROTO);
			assert_true(res->msg[0] != '\0');
		}
		free(res);
	}
}

static void truncation_messages_say_where(void **state)
{
	const char *b = nginx_body;
	const char *hello = strstr(b, "HELLO"), *world = strstr(b, "WORLD");
	const char *hdr2 = strstr(hello, "Content-Type");
	struct result *res;

	(void)state;
	res = run_whole(NGINX_B, b, 2);
	assert_fails(res, -EPROTO, "before the first boundary \"--" NGINX_B "\"");
	free(res);
	res = run_whole(NGINX_B, b, 2 + sizeof("--" NGINX_B) - 1);
	assert_fails(res, -EPROTO, "in the first boundary line");
	free(res);
	res = run_whole(NGINX_B, b, (size_t)(hello - b) - 3);
	assert_fails(res, -EPROTO, "in the headers of part 1");
	free(res);
	res = run_whole(NGINX_B, b, (size_t)(hello - b) + 2);
	assert_fails(res, -EPROTO, "body ended 3 bytes short in the part of range 0-4 (part 1)");
	free(res);
	res = run_whole(NGINX_B, b, (size_t)(hdr2 - b));
	assert_fails(res, -EPROTO, "in the headers of part 2");
	free(res);
	res = run_whole(NGINX_B, b, (size_t)(world - b) + 5);
	assert_fails(res, -EPROTO, "after the part of range 10-14 (part 2) without the closing");
	free(res);
	res = run_whole(NGINX_B, b, sizeof(nginx_body) - 4);
	assert_fails(res, -EPROTO, "without the closing boundary \"--" NGINX_B "--\"");
	free(res);
}

static void missing_closing_boundary_fails_at_finish(void **state)
{
	struct result *res;

	(void)state;
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n");
	assert_int_equal(res->feed, 0);
	assert_fails(res, -EPROTO, "without the closing boundary \"--XYZ--\"");
	assert_range(res, 0, "HELLO"); /* data was delivered; the caller drops the batch */
	free(res);
	/* A delimiter that opens a part which never comes. */
	res = RUN("XYZ", "--XYZ\r\nContent-Range: bytes 0-4/20\r\n\r\nHELLO\r\n--XYZ\r\n");
	assert_fails(res, -EPROTO, "in the headers of part 2");
	free(res);
	/* Empty body. */
	res = run_whole("XYZ", "", 0);
	assert_fails(res, -EPROTO, "body ended after 0 bytes, before the first boundary");
	free(res);
}

static void callback_codes_stop_the_parser(void **state)
{
	struct result *res = new_result();

	(void)state;
	res->rec.fail_part = 2;
	res->rec.fail_code = -ECANCELED;
	run_cuts(NGINX_B, nginx_body, sizeof(nginx_body) - 1, NULL, 0, res);
	assert_int_equal(res->feed, -ECANCELED);
	assert_fails(res, -ECANCELED, "part 2 (bytes 10-14): stopped by the part callback");
	assert_int_equal(delivered(res), 5); /* no byte of the refused part */
	free(res);

	res = new_result();
	res->rec.fail_data = 1;
	res->rec.fail_code = -ENOSPC;
	res->rec.own_msg = true;
	run_cuts(NGINX_B, nginx_body, sizeof(nginx_body) - 1, NULL, 0, res);
	assert_int_equal(res->feed, -ENOSPC);
	assert_fails(res, -ENOSPC, "part 1 (bytes 0-4): disk full at 0");
	assert_int_equal(delivered(res), 0);
	free(res);
}

static void callback_code_never_takes_a_stale_message(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct rec rec = { 0 };
	struct zu_mp mp;
	const size_t len = sizeof(nginx_body) - 1;
	const size_t head = (size_t)(strstr(nginx_body, "HELLO") - nginx_body);

	(void)state;
	rec.fail_data = 1;
	rec.fail_code = -ECANCELED;
	rec.chunk = (const uint8_t *)nginx_body;
	rec.chunk_len = len;
	assert_int_equal(zu_mp_init(&mp, NGINX_B, &cbs, &rec, &err), 0);
	assert_int_equal(zu_mp_feed(&mp, (const uint8_t *)nginx_body, head, &err), 0);
	/* Left over from some earlier failure, with the very code the callback will return. */
	zu_err_set(&err, -ECANCELED, "stale");
	assert_int_equal(zu_mp_feed(&mp, (const uint8_t *)nginx_body + head, len - head, &err),
			 -ECANCELED);
	assert_string_equal(err.msg, "part 1 (bytes 0-4): stopped by the data callback (code -125)");

	/* The same for the part callback. */
	memset(&rec, 0, sizeof(rec));
	rec.fail_part = 1;
	rec.fail_code = -ECANCELED;
	assert_int_equal(zu_mp_init(&mp, NGINX_B, &cbs, &rec, &err), 0);
	zu_err_set(&err, -ECANCELED, "stale");
	assert_int_equal(zu_mp_feed(&mp, (const uint8_t *)nginx_body, head, &err), -ECANCELED);
	assert_string_equal(err.msg, "part 1 (bytes 0-4): stopped by the part callback (code -125)");
}

static void success_leaves_the_error_context_alone(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct rec rec = { 0 };
	struct zu_mp mp;

	(void)state;
	rec.chunk = (const uint8_t *)nginx_body;
	rec.chunk_len = sizeof(nginx_body) - 1;
	zu_err_set(&err, -EAGAIN, "keep me");
	assert_int_equal(zu_mp_init(&mp, NGINX_B, &cbs, &rec, &err), 0);
	assert_int_equal(zu_mp_feed(&mp, rec.chunk, rec.chunk_len, &err), 0);
	assert_int_equal(zu_mp_finish(&mp, &err), 0);
	assert_int_equal(err.code, -EAGAIN);
	assert_string_equal(err.msg, "keep me");
	assert_int_equal(rec.n_parts, 2);
}

/* ---- Content-Range ---- */

static void content_range_accepts_valid_values(void **state)
{
	static const struct {
		const char *v;
		uint64_t first, last, total;
	} ok[] = {
		{ "bytes 0-4/100", 0, 4, 100 },
		{ "BYTES 0-0/1", 0, 0, 1 },
		{ " \tbytes 10-20/*\t ", 10, 20, UINT64_MAX },
		{ "Bytes\t7-7/8", 7, 7, 8 },
		{ "bytes 0007-0009/0010", 7, 9, 10 },
		{ "bytes 18446744073709551613-18446744073709551613/18446744073709551614",
		  UINT64_MAX - 2, UINT64_MAX - 2, UINT64_MAX - 1 },
		{ "bytes 0-18446744073709551614/*", 0, UINT64_MAX - 1, UINT64_MAX },
	};
	struct zu_err err = ZU_ERR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t f = 1, l = 1, t = 1;

		if (zu_http_parse_content_range(ok[i].v, strlen(ok[i].v), &f, &l, &t, &err) != 0)
			fail_msg("\"%s\": %s", ok[i].v, err.msg);
		assert_true(f == ok[i].first && l == ok[i].last && t == ok[i].total);
	}
}

static void content_range_refuses_malformed_values(void **state)
{
	static const char *const bad[] = {
		"", "bytes", "bytes ", "0-4/100", "bytes0-4/100", "bits 0-4/100", "bytes 0-4",
		"bytes 0-4/", "bytes -4/100", "bytes 0-/100", "bytes 0 -4/100", "bytes 0-4 /100",
		"bytes 0-4/100x", "bytes 0-4/100 5", "bytes */100", "bytes 0-4/-1", "bytes +0-4/100",
		"bytes 0x0-4/100", "bytes 0-4/1\00000", /* NUL inside */
		"bytes 5-4/100",                  /* last < first */
		"bytes 0-100/100", "bytes 5-9/5", /* last >= total */
		"bytes 0-18446744073709551616/*",  /* 2^64 */
		"bytes 18446744073709551616-1/2", "bytes 0-1/18446744073709551616",
		"bytes 0-1/99999999999999999999999",
		"bytes 0-18446744073709551615/*", /* length would be 2^64 */
		"bytes 0-1/18446744073709551615", /* cannot be told from '*' */
	};
	static const char *const why[] = {
		"does not start with \"bytes \"", "does not start", "does not start",
		"does not start", "does not start", "does not start", "expected '/'",
		"no total length", "no first byte", "no last byte", "expected '-'",
		"expected '/'", "junk", "junk", "no first byte", "no total length",
		"no first byte", "expected '-'", "junk",
		"last byte before first byte",
		"last byte is not inside", "last byte is not inside",
		"last byte does not fit in 64 bits",
		"first byte does not fit", "total length does not fit",
		"total length does not fit",
		"range length does not fit",
		"total length does not fit",
	};

	(void)state;
	assert_int_equal(sizeof(bad) / sizeof(bad[0]), sizeof(why) / sizeof(why[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zu_err err = ZU_ERR_INIT;
		uint64_t f = 11, l = 22, t = 33;
		size_t n = strlen(bad[i]);

		if (i == 18)
			n = 14; /* the NUL inside */
		assert_int_equal(zu_http_parse_content_range(bad[i], n, &f, &l, &t, &err), -EPROTO);
		assert_int_equal(err.code, -EPROTO);
		if (!strstr(err.msg, why[i]))
			fail_msg("\"%s\": expected \"%s\" in: %s", bad[i], why[i], err.msg);
		assert_true(f == 11 && l == 22 && t == 33); /* untouched */
	}
}

static void content_range_reads_only_n_bytes(void **state)
{
	static const char v[] = "bytes 0-4/1009";
	struct zu_err err = ZU_ERR_INIT;
	char b[ZU_MP_BOUNDARY_MAX + 1];
	uint64_t f, l, t;

	(void)state;
	assert_int_equal(zu_http_parse_content_range(v, sizeof(v) - 3, &f, &l, &t, &err), 0);
	assert_true(t == 10);
	/* No header at all. */
	assert_int_equal(zu_http_parse_content_range(NULL, 0, &f, &l, &t, &err), -EPROTO);
	assert_int_equal(zu_http_parse_multipart_type(NULL, 0, b, &err), 0);
}

/* ---- Content-Type ---- */

static void content_type_finds_the_boundary(void **state)
{
	static const struct {
		const char *v, *boundary;
	} ok[] = {
		{ "multipart/byteranges; boundary=00000000000000000001", "00000000000000000001" },
		{ "Multipart/ByteRanges;Boundary=abc", "abc" },
		{ "multipart/byteranges; boundary=\"abc\"", "abc" },
		{ "multipart/byteranges; boundary=\"a b c\"", "a b c" },
		{ "multipart/byteranges; boundary=\"a\\\"b\"", NULL }, /* '"' is no bchar */
		{ "multipart/byteranges; boundary=\"a\\bc\"", "abc" },
		{ "multipart/byteranges; charset=\"x;y\"; boundary=THIS_STRING_SEPARATES",
		  "THIS_STRING_SEPARATES" },
		{ " multipart/byteranges ;boundary=x/y=z ; q=1 ;; ", "x/y=z" },
		{ "multipart/byteranges;\tboundary=3d6b6a416f9b5", "3d6b6a416f9b5" },
		{ "multipart/byteranges;; ;boundary=abc", "abc" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char b[ZU_MP_BOUNDARY_MAX + 1];
		struct zu_err err = ZU_ERR_INIT;
		int r;

		memset(b, 'Q', sizeof(b));
		r = zu_http_parse_multipart_type(ok[i].v, strlen(ok[i].v), b, &err);
		if (!ok[i].boundary) {
			assert_int_equal(r, -EPROTO);
			continue;
		}
		if (r != 1)
			fail_msg("\"%s\": %d %s", ok[i].v, r, err.msg);
		assert_string_equal(b, ok[i].boundary);
	}
}

static void content_type_of_other_types_is_zero(void **state)
{
	static const char *const other[] = {
		"multipart/mixed; boundary=abc", "text/plain", "application/octet-stream", "",
		"multipart", "multipart/", "multipart/byterangesx; boundary=abc",
		"multipart/byte-ranges; boundary=abc", "xmultipart/byteranges; boundary=abc",
		"multipart /byteranges; boundary=abc",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		char b[ZU_MP_BOUNDARY_MAX + 1] = "untouched";
		struct zu_err err = ZU_ERR_INIT;

		assert_int_equal(
			zu_http_parse_multipart_type(other[i], strlen(other[i]), b, &err), 0);
		assert_string_equal(b, "untouched");
	}
}

static void content_type_without_a_usable_boundary_is_refused(void **state)
{
	static const char *const bad[] = {
		"multipart/byteranges",
		"multipart/byteranges; charset=utf-8",
		"multipart/byteranges; boundary=",
		"multipart/byteranges; boundary=\"\"",
		"multipart/byteranges; boundary=\"abc",
		"multipart/byteranges; boundary=abc; boundary=abc",
		"multipart/byteranges; boundary=\"abc \"",
		"multipart/byteranges; boundary=a<b",
		"multipart/byteranges; boundary=\"a\tb\"",
		"multipart/byteranges; boundary=abc x",
		"multipart/byteranges boundary=abc",
		"multipart/byteranges; boundary abc",
		"multipart/byteranges; =abc",
		"multipart/byteranges; boundary=caf\xc3\xa9",
	};
	static const char *const why[] = {
		"no boundary", "no boundary", "malformed parameter value",
		"the boundary is empty", "malformed parameter value", "given twice",
		"ends in a space", "RFC 2046", "RFC 2046", "expected ';'", "expected ';'",
		"malformed parameter", "malformed parameter", "RFC 2046",
	};

	(void)state;
	assert_int_equal(sizeof(bad) / sizeof(bad[0]), sizeof(why) / sizeof(why[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char b[ZU_MP_BOUNDARY_MAX + 1] = "untouched";
		struct zu_err err = ZU_ERR_INIT;

		assert_int_equal(zu_http_parse_multipart_type(bad[i], strlen(bad[i]), b, &err),
				 -EPROTO);
		if (!strstr(err.msg, why[i]))
			fail_msg("\"%s\": expected \"%s\" in: %s", bad[i], why[i], err.msg);
		assert_string_equal(b, "untouched");
	}
}

static void content_type_boundary_length_limit(void **state)
{
	char v[200], b[ZU_MP_BOUNDARY_MAX + 1];
	struct zu_err err = ZU_ERR_INIT;
	int n;

	(void)state;
	n = snprintf(v, sizeof(v), "multipart/byteranges; boundary=%070d", 7);
	assert_int_equal(zu_http_parse_multipart_type(v, (size_t)n, b, &err), 1);
	assert_int_equal(strlen(b), 70);
	n = snprintf(v, sizeof(v), "multipart/byteranges; boundary=%071d", 7);
	assert_int_equal(zu_http_parse_multipart_type(v, (size_t)n, b, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "longer than 70"));
	n = snprintf(v, sizeof(v), "multipart/byteranges; boundary=\"%0150d\"", 7);
	assert_int_equal(zu_http_parse_multipart_type(v, (size_t)n, b, &err), -EPROTO);
	/* Only n bytes are read: the value cut after the 70th boundary byte is valid. */
	n = snprintf(v, sizeof(v), "multipart/byteranges; boundary=%071d", 7);
	assert_int_equal(zu_http_parse_multipart_type(v, (size_t)n - 1, b, &err), 1);
	assert_int_equal(strlen(b), 70);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nginx_body_delivers_each_part_at_its_offsets),
		cmocka_unit_test(apache_body_with_lowercase_header_names),
		cmocka_unit_test(bare_lf_framing_is_accepted),
		cmocka_unit_test(boundary_right_after_the_data_is_accepted),
		cmocka_unit_test(parts_in_any_order_keep_their_offsets),
		cmocka_unit_test(boundary_inside_the_data_is_data),
		cmocka_unit_test(preamble_before_the_first_boundary_is_skipped),
		cmocka_unit_test(preamble_up_to_1k_is_accepted_and_more_refused),
		cmocka_unit_test(padding_after_a_boundary_and_epilogue_are_ignored),
		cmocka_unit_test(long_epilogue_is_consumed_without_limit),
		cmocka_unit_test(results_do_not_depend_on_how_the_body_is_split),
		cmocka_unit_test(data_shorter_than_its_content_range_is_refused),
		cmocka_unit_test(data_longer_than_its_content_range_is_refused),
		cmocka_unit_test(wrong_boundary_after_data_is_refused),
		cmocka_unit_test(closing_boundary_before_any_part_is_refused),
		cmocka_unit_test(init_refuses_bad_boundaries),
		cmocka_unit_test(part_without_content_range_is_refused),
		cmocka_unit_test(second_content_range_in_a_part_is_refused),
		cmocka_unit_test(malformed_header_lines_are_refused),
		cmocka_unit_test(malformed_content_range_in_a_part_is_refused),
		cmocka_unit_test(header_line_over_the_limit_is_refused),
		cmocka_unit_test(boundary_line_padding_over_the_limit_is_refused),
		cmocka_unit_test(more_than_32_header_lines_are_refused),
		cmocka_unit_test(truncated_body_fails_at_every_byte),
		cmocka_unit_test(truncation_messages_say_where),
		cmocka_unit_test(missing_closing_boundary_fails_at_finish),
		cmocka_unit_test(callback_codes_stop_the_parser),
		cmocka_unit_test(callback_code_never_takes_a_stale_message),
		cmocka_unit_test(success_leaves_the_error_context_alone),
		cmocka_unit_test(content_range_accepts_valid_values),
		cmocka_unit_test(content_range_refuses_malformed_values),
		cmocka_unit_test(content_range_reads_only_n_bytes),
		cmocka_unit_test(content_type_finds_the_boundary),
		cmocka_unit_test(content_type_of_other_types_is_zero),
		cmocka_unit_test(content_type_without_a_usable_boundary_is_refused),
		cmocka_unit_test(content_type_boundary_length_limit),
	};

	printf("# PRNG seed 0x%llx\n", (unsigned long long)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
