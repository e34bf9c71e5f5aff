/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for frame (the downloader socketpair's framing) and for the
 * privileged side's reading of it (fetch_proc), with the test playing a
 * compromised downloader on the other end of a real socketpair.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch/fetch.h"
#include "fetch/frame.h"
#include "io.h"

struct pair {
	struct zu_fetch *f;
	int peer; /* the fake downloader's end */
	zu_cancel_t cancel;
};

static void pair_open(struct pair *p)
{
	struct zu_err err = ZU_ERR_INIT;
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->f = calloc(1, sizeof(*p->f));
	assert_non_null(p->f);
	assert_int_equal(zu_fetch_proc_attach(sv[0], 0, &p->cancel, p->f, &err), 0);
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	zu_fetch_free(p->f);
	if (p->peer >= 0)
		close(p->peer);
}

static void peer_send(struct pair *p, uint32_t type, uint32_t len, uint64_t off, const void *pl,
		      size_t pl_len)
{
	struct zu_frame_hdr h = { .type = type, .len = len, .off = off };
	struct zu_err err = ZU_ERR_INIT;

	assert_int_equal(zu_io_write_full(p->peer, &h, sizeof(h), &err), 0);
	if (pl_len)
		assert_int_equal(zu_io_write_full(p->peer, pl, pl_len, &err), 0);
}

/* Reads the job the privileged side sent; returns its ranges count. */
static size_t peer_job(struct pair *p, struct zu_frame_range *out, size_t cap)
{
	struct zu_frame_hdr h;
	struct zu_err err = ZU_ERR_INIT;

	assert_int_equal(zu_io_read_full(p->peer, &h, sizeof(h), &err), (ssize_t)sizeof(h));
	assert_int_equal(h.type, ZU_FR_FETCH);
	assert_true(h.len <= cap * sizeof(*out));
	assert_int_equal(zu_io_read_full(p->peer, out, h.len, &err), (ssize_t)h.len);
	return h.len / sizeof(*out);
}

static const struct zu_range two[] = { { 10, 5 }, { 100, 3 } };

static void start_job(struct pair *p)
{
	struct zu_frame_range got[4];
	struct zu_err err = ZU_ERR_INIT;

	assert_int_equal(zu_fetch_request(p->f, two, 2, &err), 0);
	assert_int_equal(peer_job(p, got, 4), 2);
	assert_int_equal(got[0].off, 10);
	assert_int_equal(got[0].len, 5);
	assert_int_equal(got[1].off, 100);
	assert_int_equal(got[1].len, 3);
}

static void frame_job_round_trip_with_stats(void **state)
{
	struct zu_fetch_stats st = { .requests = 7, .wire_bytes = 1234, .mode = ZU_FETCH_MODE_SINGLE };
	struct zu_fetch_stats seen;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch_rec rec;
	struct pair p;

	(void)state;
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, 5, 10, "hello", 5);
	peer_send(&p, ZU_FR_DATA, 3, 100, "abc", 3);
	peer_send(&p, ZU_FR_STATS, sizeof(st), 0, &st, sizeof(st));
	peer_send(&p, ZU_FR_END, 0, 0, NULL, 0);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), 1);
	assert_int_equal(rec.off, 10);
	assert_memory_equal(rec.data, "hello", 5);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), 1);
	assert_memory_equal(rec.data, "abc", 3);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), 0);
	zu_fetch_get_stats(p.f, &seen);
	assert_int_equal(seen.requests, 7);
	assert_int_equal(seen.wire_bytes, 1234);
	assert_int_equal(seen.mode, ZU_FETCH_MODE_SINGLE);
	/* a second job on the same downloader */
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, 5, 10, "world", 5);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), 1);
	assert_memory_equal(rec.data, "world", 5);
	pair_close(&p);
}

/* Every way a compromised downloader can lie ends in -EPROTO, before a byte is passed on. */
static void frame_hostile_downloader_is_refused(void **state)
{
	struct zu_fetch_stats st = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch_rec rec;
	struct pair p;

	(void)state;
	/* oversize record: refused on its header, before its payload is read */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, ZU_FRAME_DATA_MAX + 1, 10, NULL, 0);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "at most"));
	/* and the fetcher stays stopped */
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);

	/* unknown type */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, 99, 0, 0, NULL, 0);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "unknown frame type 99"));
	pair_close(&p);

	/* a job frame in the wrong direction */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_HEAD, 0, 1000, NULL, 0);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);

	/* bytes it was not asked for */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, 5, 11, "hello", 5);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "where offset 10 was expected"));
	pair_close(&p);

	/* stats of the wrong size */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_STATS, sizeof(st) - 1, 0, &st, sizeof(st) - 1);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);

	/* the end before every byte asked for */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, 5, 10, "hello", 5);
	peer_send(&p, ZU_FR_END, 0, 0, NULL, 0);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), 1);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);

	/* dies mid-frame */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_DATA, 5, 10, "he", 2);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "exited unexpectedly"));
	pair_close(&p);
}

static void frame_error_codes_are_limited_and_messages_cleaned(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch_rec rec;
	struct pair p;

	(void)state;
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_ERROR, 9, ENOENT, "gone\n\x1b[1m", 9);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -ENOENT);
	assert_string_equal(err.msg, "http: gone??[1m"); /* newline and escape defused */
	pair_close(&p);

	/* a code that would claim authentication or cancellation becomes a protocol error */
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_ERROR, 3, EKEYREJECTED, "bad", 3);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);
	pair_open(&p);
	start_job(&p);
	peer_send(&p, ZU_FR_ERROR, 3, ECANCELED, "bad", 3);
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -EPROTO);
	pair_close(&p);
}

static void frame_wait_sees_cancel(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch_rec rec;
	struct pair p;

	(void)state;
	pair_open(&p);
	start_job(&p);
	atomic_store(&p.cancel, 1); /* the downloader stays silent: the wait must still end */
	assert_int_equal(zu_fetch_next(p.f, &rec, &err), -ECANCELED);
	pair_close(&p);
}

static void frame_head_read_checks_offsets(void **state)
{
	struct zu_frame_hdr h;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t buf[16];
	struct pair p;
	pid_t pid;

	(void)state;
	pair_open(&p);
	/* the fake downloader answers a head read of 16 bytes with 20 */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const char twenty[] = "01234567890123456789";

		if (zu_io_read_full(p.peer, &h, sizeof(h), &err) != (ssize_t)sizeof(h) ||
		    h.type != ZU_FR_HEAD || h.off != 16)
			_exit(1);
		peer_send(&p, ZU_FR_DATA, 20, 0, twenty, 20);
		_exit(0);
	}
	assert_int_equal(zu_fetch_read_head(p.f, buf, sizeof(buf), &err), -EPROTO);
	pair_close(&p);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void frame_check_limits_both_directions(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_frame_hdr h = { .type = ZU_FR_FETCH, .len = 17 };

	(void)state;
	assert_int_equal(zu_frame_check(&h, 1, &err), -EPROTO);
	h.len = 32;
	assert_int_equal(zu_frame_check(&h, 1, &err), 0);
	h.len = 0;
	assert_int_equal(zu_frame_check(&h, 1, &err), -EPROTO);
	h.type = ZU_FR_DATA;
	h.len = 1;
	assert_int_equal(zu_frame_check(&h, 1, &err), -EPROTO); /* data never goes down */
	assert_int_equal(zu_frame_check(&h, 0, &err), 0);
	h.len = 0;
	assert_int_equal(zu_frame_check(&h, 0, &err), -EPROTO);
	h.type = ZU_FR_ERROR;
	h.len = ZU_FRAME_MSG_MAX + 1;
	assert_int_equal(zu_frame_check(&h, 0, &err), -EPROTO);
	h.type = ZU_FR_END;
	h.len = 1;
	assert_int_equal(zu_frame_check(&h, 0, &err), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_job_round_trip_with_stats),
		cmocka_unit_test(frame_hostile_downloader_is_refused),
		cmocka_unit_test(frame_error_codes_are_limited_and_messages_cleaned),
		cmocka_unit_test(frame_wait_sees_cancel),
		cmocka_unit_test(frame_head_read_checks_offsets),
		cmocka_unit_test(frame_check_limits_both_directions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
