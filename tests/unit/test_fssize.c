/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fssize: filesystem size from synthetic ext2/3/4 and squashfs
 * superblocks, from truncated and inconsistent ones, and from real images made
 * by mkfs.ext2/mkfs.ext4/mksquashfs when those tools are installed.
 */
#include "config.h"

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

#include "fssize.h"
#include "test_rng.h"

#define SEED 0xf55123e4d00dULL

static void put_le16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An ext superblock at byte 1024 of buf (ZU_FSSIZE_PROBE_BYTES long). */
static void make_ext(uint8_t *buf, uint64_t blocks, uint32_t log_block, uint32_t compat,
		     uint32_t incompat)
{
	uint8_t *sb = buf + 1024;

	memset(buf, 0, ZU_FSSIZE_PROBE_BYTES);
	put_le32(sb + 0x04, (uint32_t)blocks);
	put_le32(sb + 0x18, log_block);
	put_le16(sb + 0x38, 0xef53);
	put_le32(sb + 0x5c, compat);
	put_le32(sb + 0x60, incompat);
	put_le32(sb + 0x150, (uint32_t)(blocks >> 32));
}

/* A squashfs 4 superblock at byte 0 of buf, 128 KiB blocks as mksquashfs makes. */
static void make_squashfs(uint8_t *buf, uint64_t bytes_used)
{
	memset(buf, 0, ZU_FSSIZE_PROBE_BYTES);
	memcpy(buf, "hsqs", 4);
	put_le32(buf + 12, 131072);
	put_le16(buf + 22, 17);
	put_le16(buf + 28, 4);
	put_le64(buf + 40, bytes_used);
}

/* Probes a heap copy of exactly n bytes, so ASan catches any read past n. */
static int probe_exact(const uint8_t *buf, size_t n, uint64_t *size, const char **kind,
		       struct zu_err *err)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, buf, n);
	r = zu_fssize_probe(copy, n, size, kind, err);
	free(copy);
	return r;
}

static void expect_size(const uint8_t *buf, uint64_t want, const char *want_kind)
{
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size = 0;
	const char *kind = NULL;

	assert_int_equal(probe_exact(buf, ZU_FSSIZE_PROBE_BYTES, &size, &kind, &err), 0);
	assert_true(size == want);
	assert_string_equal(kind, want_kind);
}

static void expect_error(const uint8_t *buf, size_t n, int want, const char *msg_part)
{
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size = 12345;
	const char *kind = "untouched";

	assert_int_equal(probe_exact(buf, n, &size, &kind, &err), want);
	assert_int_equal(err.code, want);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	assert_true(size == 12345); /* outputs untouched on failure */
	assert_string_equal(kind, "untouched");
}

static void fssize_reads_ext2_with_1k_blocks(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_ext(buf, 5120, 0, 0, 0x2);
	expect_size(buf, 5120ULL * 1024, "ext2");
}

static void fssize_names_ext3_by_its_journal(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_ext(buf, 9216, 0, 0x3c, 0x2);
	expect_size(buf, 9216ULL * 1024, "ext3");
}

static void fssize_reads_ext4_with_4k_blocks(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_ext(buf, 12288, 2, 0x3c, 0x40 | 0x2);
	expect_size(buf, 12288ULL * 4096, "ext4");
	make_ext(buf, 100, 2, 0, 0x200); /* flex_bg alone also means ext4 */
	expect_size(buf, 100ULL * 4096, "ext4");
}

static void fssize_adds_high_block_count_with_64bit(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	uint64_t blocks = (3ULL << 32) + 77;

	(void)state;
	make_ext(buf, blocks, 2, 0, 0x80);
	expect_size(buf, blocks * 4096, "ext4");
}

static void fssize_ignores_high_block_count_without_64bit(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	/* Pre-64bit filesystems may hold anything at 0x150. */
	make_ext(buf, (5ULL << 32) + 2048, 0, 0, 0x2);
	expect_size(buf, 2048ULL * 1024, "ext2");
}

static void fssize_accepts_every_ext_block_size_up_to_64k(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	for (uint32_t lg = 0; lg <= 6; lg++) {
		make_ext(buf, 1000, lg, 0, 0);
		expect_size(buf, 1000ULL << (10 + lg), "ext2");
	}
}

static void fssize_rounds_squashfs_bytes_used_up_to_4096(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_squashfs(buf, 52011); /* a real mksquashfs bytes_used; its file was 53248 */
	expect_size(buf, 53248, "squashfs");
	make_squashfs(buf, 8192); /* already aligned: unchanged */
	expect_size(buf, 8192, "squashfs");
	make_squashfs(buf, 8193);
	expect_size(buf, 12288, "squashfs");
	make_squashfs(buf, 96); /* smallest possible */
	expect_size(buf, 4096, "squashfs");
}

static void fssize_finds_nothing_in_zeros_or_garbage(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	uint64_t rng = test_rng_seed(SEED);

	(void)state;
	memset(buf, 0, sizeof(buf));
	expect_error(buf, sizeof(buf), -ENOENT, "no ext2/3/4 or squashfs superblock");
	for (int round = 0; round < 200; round++) {
		test_rng_fill(&rng, buf, sizeof(buf));
		/* Keep both magics out so the expectation holds for any seed. */
		buf[0] = 0;
		buf[1024 + 0x38] = 0;
		expect_error(buf, sizeof(buf), -ENOENT, "no ext2/3/4 or squashfs superblock");
	}
	/* The big-endian "sqsh" squashfs and a "hsqs" one byte off are not recognised. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "sqsh", 4);
	expect_error(buf, sizeof(buf), -ENOENT, "superblock");
	memcpy(buf, "xhsqs", 5);
	expect_error(buf, sizeof(buf), -ENOENT, "superblock");
}

static void fssize_finds_nothing_in_an_empty_buffer(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size = 0;
	const char *kind = NULL;

	(void)state;
	assert_int_equal(zu_fssize_probe(NULL, 0, &size, &kind, &err), -ENOENT);
	assert_null(kind);
}

/*
 * Truncation policy: a magic beyond n cannot be seen, so that prefix holds no
 * recognised filesystem (-ENOENT); a magic that is seen with the rest of its
 * superblock cut off is a recognised but unusable one (-EBADMSG).
 */
static void fssize_truncated_ext_is_enoent_before_magic_ebadmsg_after(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size;
	const char *kind;

	(void)state;
	make_ext(buf, 5120, 0, 0, 0x80);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		int want = n < 1024 + 0x3a ? -ENOENT : n < 2048 ? -EBADMSG : 0;

		if (probe_exact(buf, n, &size, &kind, &err) != want)
			fail_msg("n=%zu: got %d, want %d (%s)", n, err.code, want, err.msg);
	}
	expect_error(buf, 2047, -EBADMSG, "ext superblock cut short");
}

static void fssize_truncated_squashfs_is_enoent_before_magic_ebadmsg_after(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size;
	const char *kind;

	(void)state;
	make_squashfs(buf, 52011);
	for (size_t n = 0; n <= 200; n++) {
		int want = n < 4 ? -ENOENT : n < 96 ? -EBADMSG : 0;

		if (probe_exact(buf, n, &size, &kind, &err) != want)
			fail_msg("n=%zu: got %d, want %d (%s)", n, err.code, want, err.msg);
	}
	expect_error(buf, 95, -EBADMSG, "squashfs superblock cut short");
}

static void fssize_rejects_inconsistent_ext_superblocks(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_ext(buf, 0, 2, 0, 0);
	expect_error(buf, sizeof(buf), -EBADMSG, "block count is 0");
	make_ext(buf, 1ULL << 32, 2, 0, 0x80); /* lo word 0, hi word 1: fine */
	expect_size(buf, (1ULL << 32) * 4096, "ext4");
	make_ext(buf, 1ULL << 32, 2, 0, 0); /* same words without 64bit: 0 blocks */
	expect_error(buf, sizeof(buf), -EBADMSG, "block count is 0");
	make_ext(buf, 1000, 7, 0, 0);
	expect_error(buf, sizeof(buf), -EBADMSG, "log block size 7");
	make_ext(buf, 1000, 0xffffffffu, 0, 0);
	expect_error(buf, sizeof(buf), -EBADMSG, "log block size");
	/* 2^64 - 1 blocks of 64 KiB: the product overflows 64 bits. */
	make_ext(buf, UINT64_MAX, 6, 0, 0x80);
	expect_error(buf, sizeof(buf), -EBADMSG, "2^63");
	/* 2^47 blocks of 64 KiB = 2^63 bytes: fits in uint64_t, not in off_t. */
	make_ext(buf, 1ULL << 47, 6, 0, 0x80);
	expect_error(buf, sizeof(buf), -EBADMSG, "2^63");
	make_ext(buf, (1ULL << 47) - 1, 6, 0, 0x80); /* largest accepted */
	expect_size(buf, ((1ULL << 47) - 1) << 16, "ext4");
}

static void fssize_rejects_inconsistent_squashfs_superblocks(void **state)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];

	(void)state;
	make_squashfs(buf, 1ULL << 63);
	expect_error(buf, sizeof(buf), -EBADMSG, "2^63");
	make_squashfs(buf, UINT64_MAX);
	expect_error(buf, sizeof(buf), -EBADMSG, "2^63");
	make_squashfs(buf, (1ULL << 63) - 4096); /* largest accepted */
	expect_size(buf, (1ULL << 63) - 4096, "squashfs");
	make_squashfs(buf, (1ULL << 63) - 4095); /* would round up past INT64_MAX */
	expect_error(buf, sizeof(buf), -EBADMSG, "2^63");
	make_squashfs(buf, 0);
	expect_error(buf, sizeof(buf), -EBADMSG, "bytes_used 0");
	make_squashfs(buf, 95);
	expect_error(buf, sizeof(buf), -EBADMSG, "bytes_used 95");
	make_squashfs(buf, 52011);
	put_le16(buf + 28, 3); /* squashfs 3 keeps bytes_used elsewhere */
	expect_error(buf, sizeof(buf), -EBADMSG, "squashfs version 3");
	make_squashfs(buf, 52011);
	put_le32(buf + 12, 131073);
	expect_error(buf, sizeof(buf), -EBADMSG, "block size 131073");
	make_squashfs(buf, 52011);
	put_le16(buf + 22, 16); /* log disagrees with block_size */
	expect_error(buf, sizeof(buf), -EBADMSG, "block size");
}

/* ---- real images ---- */

struct real_dir {
	char path[64];
};

static int tool_available(const char *cmd)
{
	char line[256];

	snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", cmd);
	return system(line) == 0;
}

/* Runs a shell command in dir; fails the test on a non-zero status. */
static void run_in(const struct real_dir *d, const char *cmd)
{
	char line[1024];
	int r;

	snprintf(line, sizeof(line), "cd '%s' && { %s; } >/dev/null 2>&1", d->path, cmd);
	r = system(line);
	if (r != 0)
		fail_msg("'%s' failed with status %d", cmd, r);
}

/* Probes the first ZU_FSSIZE_PROBE_BYTES of dir/name; *file_size is its stat size. */
static int probe_file(const struct real_dir *d, const char *name, uint64_t *size,
		      const char **kind, uint64_t *file_size)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	struct zu_err err = ZU_ERR_INIT;
	char path[128];
	struct stat st;
	FILE *f;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	fclose(f);
	*file_size = (uint64_t)st.st_size;
	r = zu_fssize_probe(buf, n, size, kind, &err);
	if (r < 0)
		print_message("# %s: %s\n", name, err.msg);
	return r;
}

static int real_setup(void **state)
{
	struct real_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/zu-fssize.XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int real_teardown(void **state)
{
	struct real_dir *d = *state;
	char line[128];

	snprintf(line, sizeof(line), "rm -rf '%s'", d->path);
	if (system(line) != 0)
		return -1;
	free(d);
	return 0;
}

static void expect_file(const struct real_dir *d, const char *name, uint64_t want,
			const char *want_kind)
{
	uint64_t size = 0, file_size = 0;
	const char *kind = NULL;

	assert_int_equal(probe_file(d, name, &size, &kind, &file_size), 0);
	assert_true(size == want);
	assert_true(size == file_size);
	assert_string_equal(kind, want_kind);
}

static void fssize_matches_real_ext_images(void **state)
{
	struct real_dir *d = *state;

	if (!tool_available("mkfs.ext4"))
		skip();
	run_in(d, "mkdir t && echo hello >t/a && seq 1 20000 >t/b");
	run_in(d, "mkfs.ext4 -q -F -d t e4.img 24M");
	run_in(d, "mkfs.ext4 -q -F -b 4096 -O 64bit e4k.img 40M");
	run_in(d, "mkfs.ext2 -q -F -b 1024 e2.img 5M");
	run_in(d, "mkfs.ext3 -q -F -b 2048 e3.img 9M");
	expect_file(d, "e4.img", 24u << 20, "ext4");
	expect_file(d, "e4k.img", 40u << 20, "ext4");
	expect_file(d, "e2.img", 5u << 20, "ext2");
	expect_file(d, "e3.img", 9u << 20, "ext3");
}

static void fssize_matches_real_squashfs_image(void **state)
{
	struct real_dir *d = *state;
	uint64_t size = 0, file_size = 0;
	const char *kind = NULL;

	if (!tool_available("mksquashfs"))
		skip();
	run_in(d, "mkdir s && seq 1 30000 >s/a && echo x >s/b");
	run_in(d, "mksquashfs s sq.img -noappend -quiet");
	run_in(d, "mksquashfs s nopad.img -noappend -quiet -nopad");
	/* Padded by default: what we report is exactly the file mksquashfs wrote. */
	assert_int_equal(probe_file(d, "sq.img", &size, &kind, &file_size), 0);
	assert_string_equal(kind, "squashfs");
	assert_true(size == file_size);
	assert_true(size % 4096 == 0);
	/* -nopad: the file is bytes_used long and we round it up to the next 4096. */
	assert_int_equal(probe_file(d, "nopad.img", &size, &kind, &file_size), 0);
	assert_true(file_size % 4096 != 0); /* else this case shows nothing */
	assert_true(size == (file_size + 4095) / 4096 * 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fssize_reads_ext2_with_1k_blocks),
		cmocka_unit_test(fssize_names_ext3_by_its_journal),
		cmocka_unit_test(fssize_reads_ext4_with_4k_blocks),
		cmocka_unit_test(fssize_adds_high_block_count_with_64bit),
		cmocka_unit_test(fssize_ignores_high_block_count_without_64bit),
		cmocka_unit_test(fssize_accepts_every_ext_block_size_up_to_64k),
		cmocka_unit_test(fssize_rounds_squashfs_bytes_used_up_to_4096),
		cmocka_unit_test(fssize_finds_nothing_in_zeros_or_garbage),
		cmocka_unit_test(fssize_finds_nothing_in_an_empty_buffer),
		cmocka_unit_test(fssize_truncated_ext_is_enoent_before_magic_ebadmsg_after),
		cmocka_unit_test(fssize_truncated_squashfs_is_enoent_before_magic_ebadmsg_after),
		cmocka_unit_test(fssize_rejects_inconsistent_ext_superblocks),
		cmocka_unit_test(fssize_rejects_inconsistent_squashfs_superblocks),
		cmocka_unit_test_setup_teardown(fssize_matches_real_ext_images, real_setup,
						real_teardown),
		cmocka_unit_test_setup_teardown(fssize_matches_real_squashfs_image, real_setup,
						real_teardown),
	};

	printf("# PRNG seed 0x%llx\n", (unsigned long long)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
