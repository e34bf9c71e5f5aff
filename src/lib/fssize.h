/* SPDX-License-Identifier: MIT */
/*
 * fssize - tells how many bytes a filesystem occupies from the first bytes of
 * the partition or file that holds it (--source-size detect), so a filesystem
 * inside a larger partition is indexed only as far as it reaches. Knows
 * ext2/3/4 and squashfs 4. Pure: reads only the buffer it is given, no I/O.
 */
#ifndef ZU_FSSIZE_H
#define ZU_FSSIZE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Bytes from offset 0 the probe needs to see every superblock it knows. */
#define ZU_FSSIZE_PROBE_BYTES 4096

/*
 * Looks for a filesystem superblock at the start of buf[0..n).
 * On success returns 0, sets *out_size to the bytes the filesystem occupies
 * and *out_kind to a static string ("ext2", "ext3", "ext4", "squashfs"; the
 * ext kind is informational, guessed from feature flags).
 * squashfs: bytes_used rounded up to a multiple of 4096, because mksquashfs
 * pads its output to 4096 by default and the .zck was made from that padded
 * file; with -nopad images the few extra bytes only change the last chunk.
 * Errors:
 *  -ENOENT  no superblock recognised, including when n is too short to reach
 *           a magic number (a source shorter than the magic holds no filesystem);
 *  -EBADMSG a magic number was found but the superblock is cut short by n or
 *           inconsistent: zero block count, block size over 64 KiB, squashfs
 *           not version 4, a size that overflows or exceeds 2^63 - 1.
 * Thread-safe; buf may be NULL when n is 0.
 */
int zu_fssize_probe(const uint8_t *buf, size_t n, uint64_t *out_size, const char **out_kind,
		    struct zu_err *err) __attribute__((warn_unused_result));

#endif
