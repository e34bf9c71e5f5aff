/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the sinks: raw (temporary regular files and /dev/null, with
 * and without a target offset), exec (real /bin/sh commands) and fd (pipes and
 * files). Stream data comes from a seeded PRNG; the seed is printed.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink/sink.h"
#include "test_rng.h"

static int raw_open(const char *path, uint64_t offset, uint64_t image_size, struct zu_sink *s,
		    struct zu_err *err)
{
	const struct zu_sink_raw_params p = { .path = path, .offset = offset,
					      .image_size = image_size };

	return zu_sink_raw_open(&p, s, err);
}

static void tmp_name(char *path, size_t cap, const char *tag)
{
	snprintf(path, cap, "/tmp/zu_test_sink_%s_%ld", tag, (long)getpid());
	unlink(path);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void read_all_fd(int fd, uint8_t *buf, size_t n)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = read(fd, buf + done, n - done);
		assert_true(r > 0);
		done += (size_t)r;
	}
}

static void read_all(const char *path, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	read_all_fd(fd, buf, n);
	close(fd);
}

static void read_at(const char *path, off_t off, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void write_file(const char *path, uint8_t byte, size_t n)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0 && n <= sizeof(buf));
	memset(buf, byte, n);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static void sink_raw_creates_file_and_writes_at_offsets(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[300], a[100], b[150];
	struct stat st;
	mode_t um = umask(022);

	(void)state;
	umask(um);
	tmp_name(path, sizeof(path), "new");
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	assert_int_equal(raw_open(path, 0, 0, &s, &err), 0);
	assert_string_equal(s.ops->name, "raw");
	assert_int_equal(s.ops->write_at(s.priv, 0, a, sizeof(a), &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 100, b, sizeof(b), &err), 0);
	/* the image ends with 50 bytes nobody wrote (say, a zero chunk): commit extends */
	assert_int_equal(s.ops->commit(s.priv, 300, &err), 0);
	zu_sink_free(&s);
	assert_null(s.ops);
	assert_int_equal(file_size(path), 300);
	read_all(path, got, sizeof(got));
	assert_memory_equal(got, a, 100);
	assert_memory_equal(got + 100, b, 150);
	for (size_t i = 250; i < 300; i++)
		assert_int_equal(got[i], 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644 & ~um);
	unlink(path);
}

static void sink_raw_commit_truncates_longer_existing_file(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[64], x[32];

	(void)state;
	tmp_name(path, sizeof(path), "old");
	write_file(path, 'o', 1000);
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 0, 0, &s, &err), 0);
	/* not truncated at open: old bytes stay until overwritten */
	assert_int_equal(file_size(path), 1000);
	assert_int_equal(s.ops->write_at(s.priv, 16, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 64, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 64);
	read_all(path, got, sizeof(got));
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(got[i], i >= 16 && i < 48 ? 'x' : 'o');
	unlink(path);
}

static void sink_raw_abort_empties_file_it_created(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t x[500];

	(void)state;
	tmp_name(path, sizeof(path), "abort");
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 0, 0, &s, &err), 0);
	/* even when every byte was written (a failed whole-image check); past the head,
	 * which is held until commit */
	assert_int_equal(s.ops->write_at(s.priv, ZU_RAW_HEAD, x, sizeof(x), &err), 0);
	assert_int_equal(file_size(path), ZU_RAW_HEAD + 500);
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 0);
	unlink(path);
}

static void sink_raw_abort_leaves_existing_file_size(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t x[10];

	(void)state;
	tmp_name(path, sizeof(path), "keep");
	write_file(path, 'o', 200);
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 0, 0, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 200);
	unlink(path);
}

static void sink_raw_reports_unwritable_path(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;

	(void)state;
	assert_int_equal(raw_open("/nonexistent/zu/target.img", 0, 0, &s, &err), -ENOENT);
	assert_null(s.ops);
	assert_non_null(strstr(err.msg, "/nonexistent/zu/target.img"));
	zu_sink_free(&s); /* harmless on an unopened sink */
	zu_sink_free(NULL);
}

/* A character device has no size to set and cannot be synced: commit still succeeds. */
static void sink_raw_accepts_character_device(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[10] = { 0 };

	(void)state;
	assert_int_equal(raw_open("/dev/null", 0, 0, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 10, &err), 0);
	zu_sink_free(&s);
}

/* ---- raw sink with a target offset ---- */

static void sink_raw_offset_shifts_writes_and_extends_short_file(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[300], x[60], y[40];

	(void)state;
	tmp_name(path, sizeof(path), "offext");
	write_file(path, 'o', 100);
	memset(x, 'x', sizeof(x));
	memset(y, 'y', sizeof(y));
	assert_int_equal(raw_open(path, 200, 0, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 60, y, sizeof(y), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 100, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 300);
	read_all(path, got, sizeof(got));
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(got[i], i < 100 ? 'o' : i < 200 ? 0 : i < 260 ? 'x' : 'y');
	unlink(path);
}

/* A disk image with content after the partition: commit must not cut it off. */
static void sink_raw_offset_never_truncates_longer_file(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[1000], x[64];

	(void)state;
	tmp_name(path, sizeof(path), "offkeep");
	write_file(path, 'o', 1000);
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 100, 64, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 64, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 1000);
	read_all(path, got, sizeof(got));
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(got[i], i >= 100 && i < 164 ? 'x' : 'o');
	unlink(path);
}

static void sink_raw_offset_extends_created_file_to_offset_plus_size(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[4096 + 500], x[100];

	(void)state;
	tmp_name(path, sizeof(path), "offnew");
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 4096, 500, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	/* the image ends in 400 bytes nobody wrote */
	assert_int_equal(s.ops->commit(s.priv, 500, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 4096 + 500);
	read_all(path, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], i >= 4096 && i < 4196 ? 'x' : 0);
	unlink(path);
}

/* With the image size known, a partial file stays for a resuming re-run. */
static void sink_raw_abort_keeps_partial_file_it_created(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t got[500], x[500];

	(void)state;
	tmp_name(path, sizeof(path), "partial");
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 0, ZU_RAW_HEAD + 1000, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, ZU_RAW_HEAD, x, sizeof(x), &err), 0);
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), ZU_RAW_HEAD + 500);
	read_at(path, ZU_RAW_HEAD, got, sizeof(got));
	assert_memory_equal(got, x, sizeof(x));
	unlink(path);
}

static void sink_raw_abort_empties_created_file_at_full_size_with_offset(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t x[300];

	(void)state;
	tmp_name(path, sizeof(path), "full");
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 100, ZU_RAW_HEAD + 300, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, ZU_RAW_HEAD, x, 200, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, ZU_RAW_HEAD + 200, x + 200, 100, &err), 0);
	assert_int_equal(file_size(path), 100 + ZU_RAW_HEAD + 300);
	/* say the whole-image digest did not match */
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 0);
	unlink(path);
}

/*
 * Regression (issue 7): a failed run onto a file that existed before left it
 * looking complete. The head (first ZU_RAW_HEAD bytes of the image) is held
 * until commit and zeroed in the target before the first write beyond it.
 */
static void sink_raw_failed_run_leaves_head_zeroed_commit_writes_it(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96];
	uint8_t h[ZU_RAW_HEAD + 904], x[3000], got[ZU_RAW_HEAD + 904];

	(void)state;
	tmp_name(path, sizeof(path), "head");
	for (int k = 0; k < 4; k++) { /* an old image, complete-looking */
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		uint8_t o[4096];

		memset(o, 'o', sizeof(o));
		assert_true(fd >= 0);
		assert_int_equal(write(fd, o, sizeof(o)), (ssize_t)sizeof(o));
		close(fd);
	}
	memset(h, 'h', sizeof(h));
	memset(x, 'x', sizeof(x));
	assert_int_equal(raw_open(path, 0, 16384, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, h, sizeof(h), &err), 0);
	read_at(path, 0, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 'o'); /* held: nothing written yet */
	assert_int_equal(s.ops->write_at(s.priv, sizeof(h), x, sizeof(x), &err), 0);
	read_at(path, 0, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], i < ZU_RAW_HEAD ? 0 : 'o');
	/* a digest mismatch, the network, a cancel: the first block stays zero */
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 16384);
	read_at(path, 0, got, sizeof(got));
	for (size_t i = 0; i < ZU_RAW_HEAD; i++)
		assert_int_equal(got[i], 0);
	/* a run that commits writes the head last */
	assert_int_equal(raw_open(path, 0, 16384, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, h, sizeof(h), &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, sizeof(h), x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 16384, &err), 0);
	zu_sink_free(&s);
	read_at(path, 0, got, sizeof(got));
	assert_memory_equal(got, h, sizeof(h));
	unlink(path);
}

/*
 * commit learns the image size even without a hint, so an abort after a failed
 * commit keeps a partial file (without the size it would have to empty it).
 */
static void sink_raw_abort_after_failed_commit_keeps_partial_file(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	struct rlimit old, lim;
	void (*old_xfsz)(int);
	char path[96];
	uint8_t x[64] = { 0 };
	int r;

	(void)state;
	tmp_name(path, sizeof(path), "cfail");
	assert_int_equal(raw_open(path, 0, 0, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	/* a file size limit makes the final extension fail */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	old_xfsz = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = s.ops->commit(s.priv, 8192, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_xfsz);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(err.msg, path));
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), 64);
	unlink(path);
}

static void sink_raw_refuses_offset_overflow(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[100] = { 0 };

	(void)state;
	assert_int_equal(raw_open("/dev/null", UINT64_MAX - 10, 0, &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "/dev/null"));
	zu_sink_free(&s);
}

/* ---- stream sinks ---- */

static uint64_t rng_state;

static void seed_init(void)
{
	const char *env = getenv("ZU_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed5171c0ffee01ULL;

	rng_state = test_rng_seed(seed);
	printf("test_sink seed 0x%" PRIx64 " (set ZU_TEST_SEED to repeat)\n", seed);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes p in pieces of random size up to 100 KiB; returns the first failure. */
static int stream_all(struct zu_sink *s, const uint8_t *p, size_t n, struct zu_err *err)
{
	size_t off = 0, len;
	int r;

	while (off < n) {
		len = 1 + (size_t)(test_rng_next(&rng_state) % (100 * 1024));
		if (len > n - off)
			len = n - off;
		r = s->ops->write_at(s->priv, off, p + off, len, err);
		if (r < 0)
			return r;
		off += len;
	}
	return 0;
}

static void assert_no_sigpipe_residue(const struct sigaction *before)
{
	struct sigaction now;
	sigset_t set;

	assert_int_equal(sigaction(SIGPIPE, NULL, &now), 0);
	assert_true(now.sa_handler == before->sa_handler);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &set), 0);
	assert_int_equal(sigismember(&set, SIGPIPE), 0);
	assert_int_equal(sigpending(&set), 0);
	assert_int_equal(sigismember(&set, SIGPIPE), 0);
}

static void sink_exec_delivers_identical_bytes(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96], cmd[160];
	const size_t n = 3 * 1024 * 1024 + 17; /* far beyond a pipe's buffer */
	uint8_t *data = test_rng_alloc(&rng_state, n), *got = malloc(n);

	(void)state;
	assert_non_null(got);
	tmp_name(path, sizeof(path), "exec");
	snprintf(cmd, sizeof(cmd), "cat > %s", path);
	assert_int_equal(zu_sink_exec_open(cmd, &s, &err), 0);
	assert_string_equal(s.ops->name, "exec");
	assert_int_equal(stream_all(&s, data, n, &err), 0);
	assert_int_equal(s.ops->commit(s.priv, n, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(file_size(path), (off_t)n);
	read_all(path, got, n);
	assert_memory_equal(got, data, n);
	free(data);
	free(got);
	unlink(path);
}

static void sink_exec_commit_reports_exit_status(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[100] = { 0 };

	(void)state;
	assert_int_equal(zu_sink_exec_open("cat >/dev/null; exit 3", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, sizeof(x), &err), -ECHILD);
	assert_non_null(strstr(err.msg, "cat >/dev/null; exit 3"));
	assert_non_null(strstr(err.msg, "exit status 3"));
	s.ops->abort(s.priv); /* as assemble does after a failed commit: harmless */
	zu_sink_free(&s);

	assert_int_equal(zu_sink_exec_open("kill -USR1 $$", &s, &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 0, &err), -ECHILD);
	assert_non_null(strstr(err.msg, "killed by signal 10"));
	zu_sink_free(&s);
}

/* Either the write sees EPIPE or commit sees the status; both name exit 3. */
static void sink_exec_command_that_exits_at_once_fails_with_status(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	struct sigaction before;
	const size_t n = 1024 * 1024;
	uint8_t *data = test_rng_alloc(&rng_state, n);
	int r;

	(void)state;
	assert_int_equal(sigaction(SIGPIPE, NULL, &before), 0);
	assert_int_equal(zu_sink_exec_open("exit 3", &s, &err), 0);
	r = stream_all(&s, data, n, &err);
	if (r == 0)
		assert_int_equal(s.ops->commit(s.priv, n, &err), -ECHILD);
	else
		assert_int_equal(r, -EPIPE);
	assert_non_null(strstr(err.msg, "'exit 3'"));
	assert_non_null(strstr(err.msg, "exit status 3"));
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_no_sigpipe_residue(&before);
	free(data);
}

static void sink_exec_early_exit_is_epipe_not_sigpipe(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	struct sigaction before;
	const size_t n = 4 * 1024 * 1024;
	uint8_t *data = test_rng_alloc(&rng_state, n);

	(void)state;
	assert_int_equal(sigaction(SIGPIPE, NULL, &before), 0);
	assert_int_equal(zu_sink_exec_open("head -c 10 >/dev/null", &s, &err), 0);
	/* 4 MiB cannot fit in the pipe after head has gone: a write must fail */
	assert_int_equal(stream_all(&s, data, n, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "head -c 10"));
	assert_non_null(strstr(err.msg, "bytes"));
	assert_int_equal(err.code, -EPIPE);
	/* and it fails again, cleanly, if someone insists */
	assert_true(s.ops->write_at(s.priv, 0, data, 1, &err) < 0);
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	assert_no_sigpipe_residue(&before);
	free(data);
}

static void sink_exec_refuses_out_of_order_write(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[10] = { 0 };

	(void)state;
	assert_int_equal(zu_sink_exec_open("cat >/dev/null", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 10, x, sizeof(x), &err), -ENOTRECOVERABLE);
	assert_non_null(strstr(err.msg, "in order"));
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 5, x, sizeof(x), &err), -ENOTRECOVERABLE);
	/* a commit that does not match what was written is refused too */
	assert_int_equal(s.ops->commit(s.priv, 20, &err), -ENOTRECOVERABLE);
	s.ops->abort(s.priv);
	zu_sink_free(&s);
}

static void sink_exec_abort_kills_child_promptly(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[10] = { 0 };
	double t0;

	(void)state;
	assert_int_equal(zu_sink_exec_open("sleep 100", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	t0 = now_s();
	s.ops->abort(s.priv);
	/* SIGTERM did it: well inside the 2 s grace before SIGKILL */
	assert_true(now_s() - t0 < 1.5);
	zu_sink_free(&s);
}

/* true once pid is gone or a zombie, within 2 s */
static bool process_ended(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (int i = 0; i < 200; i++) {
		f = fopen(path, "r");
		if (!f)
			return true;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		p = p ? strrchr(buf, ')') : NULL;
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* The shell may not exec its last command: abort must reach what it started. */
static void sink_exec_abort_kills_what_the_shell_started(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	char path[96], cmd[400], buf[32] = { 0 };
	long pid = 0;
	FILE *f = NULL;

	(void)state;
	tmp_name(path, sizeof(path), "pid");
	snprintf(cmd, sizeof(cmd), "sleep 100 & echo $! > %s.tmp; mv %s.tmp %s; wait", path, path,
		 path);
	assert_int_equal(zu_sink_exec_open(cmd, &s, &err), 0);
	for (int i = 0; i < 500 && !f; i++) {
		f = fopen(path, "r");
		if (!f)
			usleep(10 * 1000);
	}
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	pid = strtol(buf, NULL, 10);
	assert_true(pid > 1);
	assert_int_equal(kill((pid_t)pid, 0), 0); /* alive before abort */
	s.ops->abort(s.priv);
	assert_true(process_ended((pid_t)pid));
	zu_sink_free(&s);
	unlink(path);
}

static void sink_exec_abort_escalates_to_sigkill(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	double t0, dt;

	(void)state;
	/* the shell ignores SIGTERM and blocks reading a pipe nobody closes yet */
	assert_int_equal(zu_sink_exec_open("trap '' TERM; read x", &s, &err), 0);
	/* give the shell time to install the trap */
	usleep(200 * 1000);
	t0 = now_s();
	s.ops->abort(s.priv);
	dt = now_s() - t0;
	assert_true(dt >= 1.5);
	assert_true(dt < 10.0);
	zu_sink_free(&s);
}

static void sink_exec_free_without_commit_reaps_child(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	double t0;
	int st;

	(void)state;
	assert_int_equal(zu_sink_exec_open("sleep 100", &s, &err), 0);
	t0 = now_s();
	zu_sink_free(&s);
	assert_true(now_s() - t0 < 1.5);
	/* no child of ours is left, not even a zombie */
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void sink_fd_streams_to_pipe(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t *data = test_rng_alloc(&rng_state, 4000), got[4000];
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(zu_sink_fd_open(fds[1], "stdout", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, data, 1000, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 1000, data + 1000, 3000, &err), 0);
	/* a pipe cannot be synced: commit still succeeds */
	assert_int_equal(s.ops->commit(s.priv, 4000, &err), 0);
	zu_sink_free(&s);
	assert_int_equal(close(fds[1]), 0); /* borrowed: still open after free */
	read_all_fd(fds[0], got, sizeof(got));
	assert_memory_equal(got, data, sizeof(got));
	assert_int_equal(read(fds[0], got, 1), 0);
	close(fds[0]);
	free(data);
}

static void sink_fd_writes_file_and_leaves_fd_open(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	const size_t n = 300 * 1024;
	uint8_t *data = test_rng_alloc(&rng_state, n), *got = malloc(n);
	char path[96];
	int fd;

	(void)state;
	assert_non_null(got);
	tmp_name(path, sizeof(path), "fd");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(zu_sink_fd_open(fd, path, &s, &err), 0);
	assert_string_equal(s.ops->name, "fd");
	assert_int_equal(stream_all(&s, data, n, &err), 0);
	assert_int_equal(s.ops->commit(s.priv, n, &err), 0);
	zu_sink_free(&s);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
	assert_int_equal(file_size(path), (off_t)n);
	read_all(path, got, n);
	assert_memory_equal(got, data, n);
	free(data);
	free(got);
	unlink(path);
}

static void sink_fd_reader_gone_is_epipe(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	struct sigaction before;
	uint8_t x[100] = { 0 };
	int fds[2];

	(void)state;
	assert_int_equal(sigaction(SIGPIPE, NULL, &before), 0);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	assert_int_equal(zu_sink_fd_open(fds[1], "stdout", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), -EPIPE);
	assert_non_null(strstr(err.msg, "stdout"));
	s.ops->abort(s.priv);
	zu_sink_free(&s);
	close(fds[1]);
	assert_no_sigpipe_residue(&before);
}

static void sink_fd_refuses_gaps_and_short_commit(void **state)
{
	struct zu_sink s = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t x[10] = { 0 };
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(zu_sink_fd_open(fd, "null", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 20, x, sizeof(x), &err), -ENOTRECOVERABLE);
	assert_non_null(strstr(err.msg, "in order"));
	assert_int_equal(s.ops->commit(s.priv, 30, &err), -ENOTRECOVERABLE);
	assert_int_equal(s.ops->commit(s.priv, 10, &err), 0);
	zu_sink_free(&s);
	close(fd);
	assert_int_equal(zu_sink_fd_open(-1, "x", &s, &err), -EBADF);
	assert_null(s.ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sink_raw_creates_file_and_writes_at_offsets),
		cmocka_unit_test(sink_raw_commit_truncates_longer_existing_file),
		cmocka_unit_test(sink_raw_abort_empties_file_it_created),
		cmocka_unit_test(sink_raw_abort_leaves_existing_file_size),
		cmocka_unit_test(sink_raw_reports_unwritable_path),
		cmocka_unit_test(sink_raw_accepts_character_device),
		cmocka_unit_test(sink_raw_offset_shifts_writes_and_extends_short_file),
		cmocka_unit_test(sink_raw_offset_never_truncates_longer_file),
		cmocka_unit_test(sink_raw_offset_extends_created_file_to_offset_plus_size),
		cmocka_unit_test(sink_raw_abort_keeps_partial_file_it_created),
		cmocka_unit_test(sink_raw_abort_empties_created_file_at_full_size_with_offset),
		cmocka_unit_test(sink_raw_abort_after_failed_commit_keeps_partial_file),
		cmocka_unit_test(sink_raw_failed_run_leaves_head_zeroed_commit_writes_it),
		cmocka_unit_test(sink_raw_refuses_offset_overflow),
		cmocka_unit_test(sink_exec_delivers_identical_bytes),
		cmocka_unit_test(sink_exec_commit_reports_exit_status),
		cmocka_unit_test(sink_exec_command_that_exits_at_once_fails_with_status),
		cmocka_unit_test(sink_exec_early_exit_is_epipe_not_sigpipe),
		cmocka_unit_test(sink_exec_refuses_out_of_order_write),
		cmocka_unit_test(sink_exec_abort_kills_child_promptly),
		cmocka_unit_test(sink_exec_abort_kills_what_the_shell_started),
		cmocka_unit_test(sink_exec_abort_escalates_to_sigkill),
		cmocka_unit_test(sink_exec_free_without_commit_reaps_child),
		cmocka_unit_test(sink_fd_streams_to_pipe),
		cmocka_unit_test(sink_fd_writes_file_and_leaves_fd_open),
		cmocka_unit_test(sink_fd_reader_gone_is_epipe),
		cmocka_unit_test(sink_fd_refuses_gaps_and_short_commit),
	};

	seed_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
