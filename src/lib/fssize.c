/* SPDX-License-Identifier: MIT */
/*
 * fssize - filesystem size from its superblock (--source-size detect).
 * Offsets are from the ext4 and squashfs 4 on-disk formats; every value read
 * is untrusted, so products go through zu_mul_overflow and sizes are capped at
 * INT64_MAX (they become file offsets). Never reads past n.
 */
#include "config.h"

#include "fssize.h"

#include <inttypes.h>
#include <stdbool.h>

/* ext2/3/4: the superblock is 1024 bytes at byte 1024 of the partition. */
#define EXT_SB_OFF 1024u
#define EXT_SB_LEN 1024u
#define EXT_MAGIC 0xef53u
#define EXT_OFF_BLOCKS_LO 0x04u
#define EXT_OFF_LOG_BLOCK 0x18u
#define EXT_OFF_MAGIC 0x38u
#define EXT_OFF_COMPAT 0x5cu
#define EXT_OFF_INCOMPAT 0x60u
#define EXT_OFF_BLOCKS_HI 0x150u
#define EXT_COMPAT_HAS_JOURNAL 0x4u
#define EXT_INCOMPAT_EXTENTS 0x40u
#define EXT_INCOMPAT_64BIT 0x80u
#define EXT_INCOMPAT_FLEX_BG 0x200u
/* 1024 << 6 = 64 KiB, the largest block size the kernel mounts. */
#define EXT_MAX_LOG_BLOCK 6u

/* squashfs 4: a 96-byte little-endian superblock at byte 0. */
#define SQFS_SB_LEN 96u
#define SQFS_MAGIC 0x73717368u /* "hsqs" read as le32 */
#define SQFS_OFF_BLOCK_SIZE 12u
#define SQFS_OFF_BLOCK_LOG 22u
#define SQFS_OFF_MAJOR 28u
#define SQFS_OFF_BYTES_USED 40u
/* mksquashfs pads its output to this unless given -nopad. */
#define SQFS_PAD 4096u

static uint32_t le16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool has_squashfs_magic(const uint8_t *buf, size_t n)
{
	return n >= 4 && le32(buf) == SQFS_MAGIC;
}

static bool has_ext_magic(const uint8_t *buf, size_t n)
{
	return n >= EXT_SB_OFF + EXT_OFF_MAGIC + 2 &&
	       le16(buf + EXT_SB_OFF + EXT_OFF_MAGIC) == EXT_MAGIC;
}

static const char *ext_kind(uint32_t compat, uint32_t incompat)
{
	if (incompat & (EXT_INCOMPAT_EXTENTS | EXT_INCOMPAT_64BIT | EXT_INCOMPAT_FLEX_BG))
		return "ext4";
	if (compat & EXT_COMPAT_HAS_JOURNAL)
		return "ext3";
	return "ext2";
}

static int probe_ext(const uint8_t *buf, size_t n, uint64_t *out_size, const char **out_kind,
		     struct zu_err *err)
{
	const uint8_t *sb = buf + EXT_SB_OFF;
	uint32_t log_block, incompat;
	uint64_t blocks, size;

	/* Whole superblock or nothing: the 64bit high count sits at 0x150. */
	if (n < EXT_SB_OFF + EXT_SB_LEN)
		return zu_err_set(err, -EBADMSG,
				  "ext superblock cut short: %zu of %u bytes needed to read it", n,
				  EXT_SB_OFF + EXT_SB_LEN);
	log_block = le32(sb + EXT_OFF_LOG_BLOCK);
	if (log_block > EXT_MAX_LOG_BLOCK)
		return zu_err_set(err, -EBADMSG,
				  "ext superblock: log block size %" PRIu32 " is over %u (64 KiB)",
				  log_block, EXT_MAX_LOG_BLOCK);
	incompat = le32(sb + EXT_OFF_INCOMPAT);
	blocks = le32(sb + EXT_OFF_BLOCKS_LO);
	/* The high word is only defined with 64bit; older filesystems may hold junk there. */
	if (incompat & EXT_INCOMPAT_64BIT)
		blocks |= (uint64_t)le32(sb + EXT_OFF_BLOCKS_HI) << 32;
	if (blocks == 0)
		return zu_err_set(err, -EBADMSG, "ext superblock: block count is 0");
	if (zu_mul_overflow(blocks, (uint64_t)1024 << log_block, &size) || size > INT64_MAX)
		return zu_err_set(err, -EBADMSG,
				  "ext superblock: %" PRIu64 " blocks of %u bytes pass 2^63 bytes",
				  blocks, 1024u << log_block);
	*out_size = size;
	*out_kind = ext_kind(le32(sb + EXT_OFF_COMPAT), incompat);
	return 0;
}

static int probe_squashfs(const uint8_t *buf, size_t n, uint64_t *out_size, const char **out_kind,
			  struct zu_err *err)
{
	uint32_t major, block_size, block_log;
	uint64_t used;

	if (n < SQFS_SB_LEN)
		return zu_err_set(err, -EBADMSG,
				  "squashfs superblock cut short: %zu of %u bytes", n, SQFS_SB_LEN);
	/* squashfs 3 shares the magic but not the layout: bytes_used is elsewhere. */
	major = le16(buf + SQFS_OFF_MAJOR);
	if (major != 4)
		return zu_err_set(err, -EBADMSG,
				  "squashfs version %" PRIu32 " is not supported (4 is)", major);
	block_size = le32(buf + SQFS_OFF_BLOCK_SIZE);
	block_log = le16(buf + SQFS_OFF_BLOCK_LOG);
	if (block_log < 12 || block_log > 20 || block_size != (uint32_t)1 << block_log)
		return zu_err_set(err, -EBADMSG,
				  "squashfs superblock: block size %" PRIu32 " with log %" PRIu32
				  " is not a power of two from 4 KiB to 1 MiB",
				  block_size, block_log);
	used = le64(buf + SQFS_OFF_BYTES_USED);
	if (used < SQFS_SB_LEN)
		return zu_err_set(err, -EBADMSG,
				  "squashfs superblock: bytes_used %" PRIu64 " is smaller than it",
				  used);
	/* Rounded up it must still be a valid file offset. */
	if (used > INT64_MAX - (SQFS_PAD - 1))
		return zu_err_set(err, -EBADMSG,
				  "squashfs superblock: bytes_used %" PRIu64 " exceeds 2^63 bytes",
				  used);
	*out_size = (used + SQFS_PAD - 1) & ~(uint64_t)(SQFS_PAD - 1);
	*out_kind = "squashfs";
	return 0;
}

int zu_fssize_probe(const uint8_t *buf, size_t n, uint64_t *out_size, const char **out_kind,
		    struct zu_err *err)
{
	if (!buf)
		n = 0;
	/* squashfs first: its magic at byte 0 would be a boot sector in front of an ext fs. */
	if (has_squashfs_magic(buf, n))
		return probe_squashfs(buf, n, out_size, out_kind, err);
	if (has_ext_magic(buf, n))
		return probe_ext(buf, n, out_size, out_kind, err);
	return zu_err_set(err, -ENOENT,
			  "no ext2/3/4 or squashfs superblock found in the first %zu bytes", n);
}
