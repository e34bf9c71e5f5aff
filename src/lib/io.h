/* SPDX-License-Identifier: MIT */
/*
 * io - the only place that talks to file descriptors for reading sources and
 * headers: open, size (files and block devices), full reads and writes that
 * retry on EINTR and short counts, and "is this the same file" checks.
 */
#ifndef ZU_IO_H
#define ZU_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>

#include "err.h"
#include "zu_limits.h"

/* Opens path read-only (O_CLOEXEC); *out_fd. */
int zu_io_open_ro(const char *path, int *out_fd, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Size of a regular file (st_size) or block device (BLKGETSIZE64). */
int zu_io_size(int fd, uint64_t *out_size, struct zu_err *err) __attribute__((warn_unused_result));
/* Reads exactly n bytes at off; -EBADMSG "truncated" when the file ends first. */
int zu_io_pread_full(int fd, void *buf, size_t n, uint64_t off, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Reads up to n bytes (fewer only at end of file); returns the count. */
ssize_t zu_io_read_full(int fd, void *buf, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_io_pwrite_full(int fd, const void *buf, size_t n, uint64_t off, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_io_write_full(int fd, const void *buf, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
/* A byte range of a file or block device. */
struct zu_io_region {
	const char *path;
	uint64_t off;
	uint64_t len;
};

/*
 * True when the two regions share bytes on disk: the same file, or the same
 * block device, or a partition and the disk that holds it (through sysfs),
 * with overlapping ranges. Paths that cannot be stat'ed do not overlap.
 */
bool zu_io_regions_overlap(const struct zu_io_region *a, const struct zu_io_region *b);

/* Where bytes are on disk: a file (ino != 0) of filesystem dev, or a whole device. */
struct zu_io_place {
	dev_t dev;
	ino_t ino;
	uint64_t off;
};
/*
 * Resolves byte off of block device rdev through the sysfs tree at sysfs
 * ("/sys"; a fake tree in tests): a partition becomes its disk at start +
 * off, a loop device the file behind it (loop/backing_file) at loop/offset
 * + off, repeatedly. Stops at a whole device that is neither.
 */
void zu_io_resolve_blk(const char *sysfs, dev_t rdev, uint64_t off, struct zu_io_place *out);

/*
 * Reads a whole header (full .zck or detached) from the start of fd into a
 * new malloc'd buffer (*out, *out_len), at most lim->max_header bytes.
 */
int zu_io_read_header_bytes(int fd, const struct zu_limits *lim, uint8_t **out, size_t *out_len,
			    struct zu_err *err) __attribute__((warn_unused_result));

/*
 * A file replaced atomically: written as a temporary file beside path (same
 * directory, so rename is atomic) and renamed over path by commit. The
 * temporary file is unnamed (O_TMPFILE) where the filesystem allows, so a
 * process killed before commit leaves nothing behind; it gets a name only
 * for the instant before the rename. An existing regular file's mode is kept
 * (0644 for a new file).
 */
struct zu_atomic_file {
	int fd;             /* the temporary file, open for writing; -1 when closed */
	mode_t mode;
	bool unnamed;       /* O_TMPFILE: no name until commit */
	char path[PATH_MAX];
	char tmp[PATH_MAX]; /* name of a named temporary file; empty when none */
};

/* -EINVAL when path exists and is not a regular file. */
int zu_atomic_open(struct zu_atomic_file *af, const char *path, struct zu_err *err)
	__attribute__((warn_unused_result));
/* chmod, fsync, close, rename over path, fsync of the directory. */
int zu_atomic_commit(struct zu_atomic_file *af, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Closes and removes the temporary file; path is untouched. Safe after commit. */
void zu_atomic_abort(struct zu_atomic_file *af);
/* fsync of the directory holding path, so a rename in it is durable. */
int zu_io_fsync_parent(const char *path, struct zu_err *err) __attribute__((warn_unused_result));

/*
 * Writes buf to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. Nothing is left behind on failure.
 */
int zu_io_write_file_atomic(const char *path, const void *buf, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
