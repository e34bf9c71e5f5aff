/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for io: full reads and writes, sizes, the overlap guard (same
 * file under other names; a loop device and a partition of one resolved to
 * the file behind them, through a fake sysfs tree), atomic files, header reads.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "io.h"
#include "test_rng.h"

#define SEED 0x10u

static uint64_t rng_state;

/* A fresh directory under /tmp; path gets its name. */
static void tmp_dir(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/zu_test_io_XXXXXX");
	assert_non_null(mkdtemp(path));
}

static void put_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void put_text(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	put_file(path, text, strlen(text));
}

static void mk(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void io_full_reads_and_writes(void **state)
{
	char dir[64], path[PATH_MAX];
	struct zu_err err = ZU_ERR_INIT;
	uint8_t *p = test_rng_alloc(&rng_state, 100000), back[100000];
	uint64_t size = 0;
	int fd;

	(void)state;
	tmp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(zu_io_pwrite_full(fd, p, 100000, 5, &err), 0);
	assert_int_equal(zu_io_size(fd, &size, &err), 0);
	assert_true(size == 100005);
	assert_int_equal(zu_io_pread_full(fd, back, 100000, 5, &err), 0);
	assert_memory_equal(back, p, 100000);
	/* a file that ends early is a truncated input, with the facts in the message */
	assert_int_equal(zu_io_pread_full(fd, back, 100, 100000, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(zu_io_read_full(fd, back, sizeof(back), &err), (ssize_t)sizeof(back));
	assert_int_equal(zu_io_read_full(fd, back, sizeof(back), &err), 5);
	assert_int_equal(zu_io_read_full(fd, back, sizeof(back), &err), 0);
	close(fd);
	assert_int_equal(zu_io_open_ro("/nonexistent/zu", &fd, &err), -ENOENT);
	rm_rf(dir);
	free(p);
}

static void io_overlap_sees_links_and_ranges(void **state)
{
	char dir[64], a[PATH_MAX], b[PATH_MAX], l[PATH_MAX], s[PATH_MAX], o[PATH_MAX];
	uint8_t x[8192] = { 0 };

	(void)state;
	tmp_dir(dir, sizeof(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(l, sizeof(l), "%s/hard", dir);
	snprintf(s, sizeof(s), "%s/sym", dir);
	snprintf(o, sizeof(o), "%s/other", dir);
	put_file(a, x, sizeof(x));
	put_file(o, x, sizeof(x));
	assert_int_equal(link(a, l), 0);
	assert_int_equal(symlink(a, s), 0);
	{
		struct zu_io_region ra = { a, 0, 100 }, rl = { l, 50, 100 }, rs = { s, 0, 1 };
		struct zu_io_region far = { l, 100, 100 }, ro = { o, 0, 8192 }, rb = { b, 0, 1 };

		assert_true(zu_io_regions_overlap(&ra, &rl));
		assert_true(zu_io_regions_overlap(&rs, &ra));
		assert_false(zu_io_regions_overlap(&ra, &far)); /* [0,100) and [100,200) */
		assert_false(zu_io_regions_overlap(&ra, &ro));
		assert_false(zu_io_regions_overlap(&ra, &rb)); /* b does not exist */
	}
	rm_rf(dir);
}

/*
 * Regression (issue 7): the guard compared device and inode of the paths, so
 * a loop device showing the source got through. A fake sysfs tree: loop 7:0
 * backed by file img at offset 4096; 259:1 a partition (start 2048 sectors)
 * of loop 7:1, itself backed by img; 8:0 a disk that is neither.
 */
static void io_resolves_loop_devices_and_their_partitions(void **state)
{
	char dir[64], img[PATH_MAX], text[PATH_MAX + 2], link_at[PATH_MAX];
	struct zu_io_place pl;
	struct stat st;
	uint8_t x[4096] = { 0 };

	(void)state;
	tmp_dir(dir, sizeof(dir));
	snprintf(img, sizeof(img), "%s/img", dir);
	put_file(img, x, sizeof(x));
	assert_int_equal(stat(img, &st), 0);
	mk(dir, "dev");
	mk(dir, "dev/block");
	mk(dir, "devices");
	/* loop 7:0 -> img from byte 4096 */
	mk(dir, "dev/block/7:0");
	mk(dir, "dev/block/7:0/loop");
	snprintf(text, sizeof(text), "%s\n", img);
	put_text(dir, "dev/block/7:0/loop/backing_file", text);
	put_text(dir, "dev/block/7:0/loop/offset", "4096\n");
	/* loop 7:1 -> img (no offset); partition 259:1 of it at sector 2048 */
	mk(dir, "devices/loop1");
	mk(dir, "devices/loop1/loop");
	put_text(dir, "devices/loop1/dev", "7:1\n");
	put_text(dir, "devices/loop1/loop/backing_file", text);
	mk(dir, "devices/loop1/loop1p1");
	put_text(dir, "devices/loop1/loop1p1/start", "2048\n");
	snprintf(link_at, sizeof(link_at), "%s/dev/block/7:1", dir);
	assert_int_equal(symlink("../../devices/loop1", link_at), 0);
	snprintf(link_at, sizeof(link_at), "%s/dev/block/259:1", dir);
	assert_int_equal(symlink("../../devices/loop1/loop1p1", link_at), 0);

	zu_io_resolve_blk(dir, makedev(7, 0), 10, &pl);
	assert_true(pl.dev == st.st_dev && pl.ino == st.st_ino && pl.off == 4096 + 10);
	zu_io_resolve_blk(dir, makedev(259, 1), 0, &pl);
	assert_true(pl.dev == st.st_dev && pl.ino == st.st_ino && pl.off == 2048 * 512);
	/* neither a partition nor a loop device: the device itself */
	zu_io_resolve_blk(dir, makedev(8, 0), 7, &pl);
	assert_true(pl.dev == makedev(8, 0) && pl.ino == 0 && pl.off == 7);
	/* a loop device whose file was deleted: the device itself */
	put_text(dir, "dev/block/7:0/loop/backing_file", "/nonexistent/img (deleted)\n");
	zu_io_resolve_blk(dir, makedev(7, 0), 0, &pl);
	assert_true(pl.dev == makedev(7, 0) && pl.ino == 0);
	rm_rf(dir);
}

static void io_atomic_file_replaces_or_leaves_alone(void **state)
{
	char dir[64], path[PATH_MAX];
	struct zu_err err = ZU_ERR_INIT;
	struct zu_atomic_file af;
	struct stat st;
	uint8_t got[16];
	int fd;

	(void)state;
	tmp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	put_file(path, "old-old-old", 11);
	assert_int_equal(chmod(path, 0640), 0);
	/* abort: the old file stays, nothing else is left */
	assert_int_equal(zu_atomic_open(&af, path, &err), 0);
	assert_int_equal(zu_io_write_full(af.fd, "new", 3, &err), 0);
	zu_atomic_abort(&af);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, got, sizeof(got)), 11);
	close(fd);
	/* commit: replaced, mode kept */
	assert_int_equal(zu_atomic_open(&af, path, &err), 0);
	assert_int_equal(zu_io_write_full(af.fd, "new", 3, &err), 0);
	assert_int_equal(zu_atomic_commit(&af, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 3 && (st.st_mode & 07777) == 0640);
	assert_int_equal(zu_io_write_file_atomic(path, "x", 1, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 1);
	/* a directory is not a file to replace */
	assert_int_equal(zu_atomic_open(&af, dir, &err), -EINVAL);
	rm_rf(dir);
}

static void io_reads_header_bytes_within_limits(void **state)
{
	char dir[64], path[PATH_MAX];
	struct zu_err err = ZU_ERR_INIT;
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	uint8_t *buf = NULL, lead[] = { 0, 'Z', 'C', 'K', '1', 0x81, 0x80 | 0x7f };
	size_t len = 0;
	int fd;

	(void)state;
	tmp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/h", dir);
	/* a lead cut short */
	put_file(path, lead, 5);
	assert_int_equal(zu_io_open_ro(path, &fd, &err), 0);
	assert_int_equal(zu_io_read_header_bytes(fd, &lim, &buf, &len, &err), -EBADMSG);
	close(fd);
	/* a lead that claims more than the file holds */
	put_file(path, lead, sizeof(lead));
	assert_int_equal(zu_io_open_ro(path, &fd, &err), 0);
	assert_int_equal(zu_io_read_header_bytes(fd, &lim, &buf, &len, &err), -EBADMSG);
	close(fd);
	/* over the limit: refused before allocating */
	lim.max_header = 64;
	lead[6] = 0x7f;
	{
		uint8_t big[] = { 0, 'Z', 'C', 'K', '1', 0x81, 0x00, 0x81 }; /* size 128 */

		put_file(path, big, sizeof(big));
	}
	assert_int_equal(zu_io_open_ro(path, &fd, &err), 0);
	assert_int_equal(zu_io_read_header_bytes(fd, &lim, &buf, &len, &err), -EOVERFLOW);
	close(fd);
	assert_null(buf);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(io_full_reads_and_writes),
		cmocka_unit_test(io_overlap_sees_links_and_ranges),
		cmocka_unit_test(io_resolves_loop_devices_and_their_partitions),
		cmocka_unit_test(io_atomic_file_replaces_or_leaves_alone),
		cmocka_unit_test(io_reads_header_bytes_within_limits),
	};

	rng_state = test_rng_seed(SEED);
	printf("io test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
