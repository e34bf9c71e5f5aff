/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fetch: the local file backend, and the front end's checks on
 * records driven by a scripted fake backend through struct zu_fetch_ops.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch/fetch.h"

#define SEED 0xf37c4u
#define FILE_LEN (700u << 10)

static uint8_t byte_at(uint64_t off)
{
	uint64_t x = (off + SEED) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> 56);
}

struct tmpfile {
	char path[64];
};

static void make_file(struct tmpfile *t, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = byte_at(i);
	snprintf(t->path, sizeof(t->path), "/tmp/zu_test_fetch_XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
}

/* Drains one batch, checking bytes against byte_at; returns the number of records. */
static size_t drain(struct zu_fetch *f, const struct zu_range *r, size_t n, size_t max_rec)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch_rec rec;
	size_t n_rec = 0, ri = 0;
	uint64_t done = 0;
	int ret;

	while ((ret = zu_fetch_next(f, &rec, &err)) == 1) {
		assert_true(ri < n);
		assert_int_equal(rec.off, r[ri].off + done);
		assert_true(rec.len <= max_rec);
		for (size_t i = 0; i < rec.len; i++)
			assert_int_equal(rec.data[i], byte_at(rec.off + i));
		done += rec.len;
		if (done == r[ri].len) {
			ri++;
			done = 0;
		}
		n_rec++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(ri, n);
	return n_rec;
}

static void fetch_file_serves_ranges_in_bounded_records(void **state)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;
	struct tmpfile t;
	char url[80];
	const struct zu_range r[] = { { 0, 10 }, { 100, 1 }, { 1000, 600u << 10 },
				      { FILE_LEN - 7, 7 } };
	const struct zu_range r2[] = { { 5, 5 } };

	(void)state;
	printf("seed %#x\n", SEED);
	make_file(&t, FILE_LEN);
	snprintf(url, sizeof(url), "file://%s", t.path);
	assert_int_equal(zu_fetch_open(url, &lim, NULL, &f, &err), 0);
	assert_int_equal(zu_fetch_request(f, r, 4, &err), 0);
	/* 600 KiB in records of <= 256 KiB: 3 records, plus one per small range */
	assert_int_equal(drain(f, r, 4, 256u << 10), 6);
	assert_int_equal(f->bytes, 10 + 1 + (600u << 10) + 7);
	assert_int_equal(drain(f, r, 0, 0), 0); /* no batch: end at once */
	assert_int_equal(zu_fetch_request(f, r2, 1, &err), 0);
	assert_int_equal(drain(f, r2, 1, 5), 1);
	assert_int_equal(f->n_requests, 2);
	assert_int_equal(f->n_ranges_total, 5);
	zu_fetch_free(f);
	unlink(t.path);
}

static void fetch_file_reads_head_and_accepts_plain_path(void **state)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;
	struct tmpfile t;
	uint8_t buf[64];

	(void)state;
	make_file(&t, 50);
	assert_int_equal(zu_fetch_open(t.path, &lim, NULL, &f, &err), 0);
	assert_int_equal(f->ops->read_head(f->priv, buf, 20, &err), 20);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(buf[i], byte_at(i));
	/* shorter file than asked: the count says so */
	assert_int_equal(f->ops->read_head(f->priv, buf, sizeof(buf), &err), 50);
	assert_int_equal(buf[49], byte_at(49));
	zu_fetch_free(f);
	unlink(t.path);
}

static void fetch_file_reports_truncated_file(void **state)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;
	struct tmpfile t;
	const struct zu_range r[] = { { 10, 10 }, { 95, 10 } };

	(void)state;
	make_file(&t, 100);
	assert_int_equal(zu_fetch_open(t.path, &lim, NULL, &f, &err), 0);
	assert_int_equal(zu_fetch_request(f, r, 2, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_non_null(strstr(err.msg, "expected 10 bytes at offset 95"));
	zu_fetch_free(f);
	unlink(t.path);
}

static void fetch_open_refuses_http_without_settings_and_missing_files(void **state)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;

	(void)state;
	assert_int_equal(zu_fetch_open("https://example.invalid/x.zck", &lim, NULL, &f, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "no network settings"));
	assert_null(f);
	assert_true(zu_fetch_is_remote("http://example.invalid/x.zck"));
	assert_false(zu_fetch_is_remote("file:///x.zck"));
	assert_int_equal(zu_fetch_open("file://", &lim, NULL, &f, &err), -EINVAL);
	assert_int_equal(zu_fetch_open("/nonexistent/zu/x.zck", &lim, NULL, &f, &err), -ENOENT);
	assert_null(f);
}

static void fetch_takes_one_checked_batch_at_a_time(void **state)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;
	struct tmpfile t;
	const struct zu_range r[] = { { 0, 1 }, { 2, 1 }, { 4, 1 } };
	const struct zu_range bad[] = { { 4, 1 }, { 2, 1 } };

	(void)state;
	make_file(&t, 10);
	assert_int_equal(zu_fetch_open(t.path, &lim, NULL, &f, &err), 0);
	assert_int_equal(zu_fetch_request(f, bad, 2, &err), -ENOTRECOVERABLE);
	assert_int_equal(zu_fetch_request(f, r, 2, &err), 0);
	/* one batch at a time */
	assert_int_equal(zu_fetch_request(f, r + 2, 1, &err), -ENOTRECOVERABLE);
	assert_int_equal(drain(f, r, 2, 1), 2);
	assert_int_equal(f->n_requests, 1);
	zu_fetch_free(f);
	unlink(t.path);
}

/* ---- the front end's checks, with a scripted backend ---------------------- */

struct script {
	const struct zu_fetch_rec *recs; /* data NULL: filled from byte_at */
	size_t n, pos;
	uint8_t buf[256];
};

static int script_request(void *priv, const struct zu_range *r, size_t n, struct zu_err *err)
{
	(void)priv;
	(void)r;
	(void)n;
	(void)err;
	return 0;
}

static int script_next(void *priv, struct zu_fetch_rec *out, struct zu_err *err)
{
	struct script *s = priv;
	const struct zu_fetch_rec *rec;

	(void)err;
	if (s->pos == s->n)
		return 0;
	rec = &s->recs[s->pos++];
	assert_true(rec->len <= sizeof(s->buf));
	for (size_t i = 0; i < rec->len; i++)
		s->buf[i] = byte_at(rec->off + i);
	out->off = rec->off;
	out->len = rec->len;
	out->data = s->buf;
	return 1;
}

static const struct zu_fetch_ops script_ops = {
	.name = "script",
	.request = script_request,
	.next = script_next,
};

static const struct zu_range two_ranges[] = { { 100, 10 }, { 200, 20 } };

/* Runs the script against two_ranges; returns the error of the first failing call, or 0. */
static int run_script(const struct zu_fetch_rec *recs, size_t n, size_t *out_ok,
		      struct zu_err *err)
{
	struct script s = { .recs = recs, .n = n };
	struct zu_fetch f = { .ops = &script_ops, .priv = &s };
	struct zu_fetch_rec rec;
	int r;

	*out_ok = 0;
	r = zu_fetch_request(&f, two_ranges, 2, err);
	assert_int_equal(r, 0);
	while ((r = zu_fetch_next(&f, &rec, err)) == 1)
		(*out_ok)++;
	return r;
}

static void fetch_accepts_records_split_anywhere_inside_ranges(void **state)
{
	const struct zu_fetch_rec recs[] = { { 100, NULL, 3 }, { 103, NULL, 7 },
					     { 200, NULL, 1 }, { 201, NULL, 19 } };
	struct zu_err err = ZU_ERR_INIT;
	size_t ok;

	(void)state;
	assert_int_equal(run_script(recs, 4, &ok, &err), 0);
	assert_int_equal(ok, 4);
}

static void fetch_refuses_out_of_order_record(void **state)
{
	const struct zu_fetch_rec recs[] = { { 100, NULL, 3 }, { 104, NULL, 6 } };
	const struct zu_fetch_rec later[] = { { 200, NULL, 20 }, { 100, NULL, 10 } };
	struct zu_err err = ZU_ERR_INIT;
	size_t ok;

	(void)state;
	assert_int_equal(run_script(recs, 2, &ok, &err), -EPROTO);
	assert_int_equal(ok, 1);
	assert_non_null(strstr(err.msg, "offset 104"));
	assert_non_null(strstr(err.msg, "offset 103"));
	assert_int_equal(run_script(later, 2, &ok, &err), -EPROTO);
	assert_int_equal(ok, 0);
}

static void fetch_refuses_record_beyond_range(void **state)
{
	const struct zu_fetch_rec spill[] = { { 100, NULL, 11 } };
	const struct zu_fetch_rec extra[] = { { 100, NULL, 10 }, { 200, NULL, 20 },
					      { 220, NULL, 1 } };
	const struct zu_fetch_rec empty[] = { { 100, NULL, 0 } };
	struct zu_err err = ZU_ERR_INIT;
	size_t ok;

	(void)state;
	assert_int_equal(run_script(spill, 1, &ok, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "11 bytes at offset 100"));
	assert_int_equal(run_script(extra, 3, &ok, &err), -EPROTO);
	assert_int_equal(ok, 2);
	assert_non_null(strstr(err.msg, "offset 220"));
	assert_int_equal(run_script(empty, 1, &ok, &err), -EPROTO);
}

static void fetch_refuses_short_batch(void **state)
{
	const struct zu_fetch_rec recs[] = { { 100, NULL, 10 }, { 200, NULL, 19 } };
	struct zu_err err = ZU_ERR_INIT;
	size_t ok;

	(void)state;
	assert_int_equal(run_script(recs, 2, &ok, &err), -EPROTO);
	assert_int_equal(ok, 2);
	assert_non_null(strstr(err.msg, "19 of 20"));
	assert_int_equal(run_script(recs, 0, &ok, &err), -EPROTO);
	assert_int_equal(ok, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fetch_file_serves_ranges_in_bounded_records),
		cmocka_unit_test(fetch_file_reads_head_and_accepts_plain_path),
		cmocka_unit_test(fetch_file_reports_truncated_file),
		cmocka_unit_test(fetch_open_refuses_http_without_settings_and_missing_files),
		cmocka_unit_test(fetch_takes_one_checked_batch_at_a_time),
		cmocka_unit_test(fetch_accepts_records_split_anywhere_inside_ranges),
		cmocka_unit_test(fetch_refuses_out_of_order_record),
		cmocka_unit_test(fetch_refuses_record_beyond_range),
		cmocka_unit_test(fetch_refuses_short_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
