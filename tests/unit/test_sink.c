/* SPDX-License-Identifier: MIT */
/* Unit tests for the raw sink, on temporary regular files and /dev/null. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink/sink.h"

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

static void read_all(const char *path, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, n), (ssize_t)n);
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
	assert_int_equal(zu_sink_raw_open(path, &s, &err), 0);
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
	assert_int_equal(zu_sink_raw_open(path, &s, &err), 0);
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
	assert_int_equal(zu_sink_raw_open(path, &s, &err), 0);
	/* even when every byte was written (a failed whole-image check) */
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(file_size(path), 500);
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
	assert_int_equal(zu_sink_raw_open(path, &s, &err), 0);
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
	assert_int_equal(zu_sink_raw_open("/nonexistent/zu/target.img", &s, &err), -ENOENT);
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
	assert_int_equal(zu_sink_raw_open("/dev/null", &s, &err), 0);
	assert_int_equal(s.ops->write_at(s.priv, 0, x, sizeof(x), &err), 0);
	assert_int_equal(s.ops->commit(s.priv, 10, &err), 0);
	zu_sink_free(&s);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
