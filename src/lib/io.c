/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "io.h"

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "format.h"

int zu_io_open_ro(const char *path, int *out_fd, struct zu_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return zu_err_sys(err, errno, "%s", path);
	*out_fd = fd;
	return 0;
}

int zu_io_size(int fd, uint64_t *out_size, struct zu_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return zu_err_sys(err, errno, "fstat");
	if (S_ISBLK(st.st_mode)) {
		uint64_t size = 0;

		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return zu_err_sys(err, errno, "BLKGETSIZE64");
		*out_size = size;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return zu_err_set(err, -EINVAL, "not a regular file or block device");
	*out_size = (uint64_t)st.st_size;
	return 0;
}

int zu_io_pread_full(int fd, void *buf, size_t n, uint64_t off, struct zu_err *err)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, p + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return zu_err_sys(err, errno, "read of %zu bytes at offset %" PRIu64, n, off);
		if (r == 0)
			return zu_err_set(err, -EBADMSG,
					  "truncated: expected %zu bytes at offset %" PRIu64
					  ", file ends after %zu",
					  n, off, done);
		done += (size_t)r;
	}
	return 0;
}

ssize_t zu_io_read_full(int fd, void *buf, size_t n, struct zu_err *err)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, p + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return zu_err_sys(err, errno, "read");
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int zu_io_pwrite_full(int fd, const void *buf, size_t n, uint64_t off, struct zu_err *err)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, p + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return zu_err_sys(err, errno, "write of %zu bytes at offset %" PRIu64, n,
					  off);
		if (r == 0)
			return zu_err_set(err, -ENOSPC, "write at offset %" PRIu64 " made no progress",
					  off + done);
		done += (size_t)r;
	}
	return 0;
}

int zu_io_write_full(int fd, const void *buf, size_t n, struct zu_err *err)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, p + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return zu_err_sys(err, errno, "write");
		done += (size_t)r;
	}
	return 0;
}

/* Reads a small sysfs file into buf; false when there is none. */
static bool sysfs_read(const char *path, char *buf, size_t cap)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static uint64_t add_saturated(uint64_t a, uint64_t b)
{
	uint64_t r;

	return zu_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* A number from sysfs file <sysfs>/dev/block/M:m/<name>; false when there is none. */
static bool sysfs_u64(const char *sysfs, dev_t d, const char *name, uint64_t *out)
{
	char path[PATH_MAX], buf[64];

	if (snprintf(path, sizeof(path), "%s/dev/block/%u:%u/%s", sysfs, major(d), minor(d),
		     name) >= (int)sizeof(path))
		return false;
	return sysfs_read(path, buf, sizeof(buf)) && sscanf(buf, "%" SCNu64, out) == 1;
}

void zu_io_resolve_blk(const char *sysfs, dev_t rdev, uint64_t off, struct zu_io_place *out)
{
	char path[PATH_MAX], buf[PATH_MAX];
	/* A loop device backed by a partition of a loop device...: a few levels at most. */
	for (int depth = 0; depth < 8; depth++) {
		uint64_t start = 0, loop_off = 0;
		unsigned maj = 0, min = 0;
		struct stat st;
		size_t len;

		*out = (struct zu_io_place){ .dev = rdev, .ino = 0, .off = off };
		/* A partition: its disk, in the disk's coordinates (512-byte sectors). */
		if (sysfs_u64(sysfs, rdev, "start", &start)) {
			snprintf(path, sizeof(path), "%s/dev/block/%u:%u/../dev", sysfs, major(rdev),
				 minor(rdev));
			if (!sysfs_read(path, buf, sizeof(buf)) ||
			    sscanf(buf, "%u:%u", &maj, &min) != 2)
				return;
			rdev = makedev(maj, min);
			off = add_saturated(off, start * 512);
			continue;
		}
		/* A loop device: the file (or device) behind it, from its offset on. */
		snprintf(path, sizeof(path), "%s/dev/block/%u:%u/loop/backing_file", sysfs,
			 major(rdev), minor(rdev));
		if (!sysfs_read(path, buf, sizeof(buf)))
			return;
		len = strlen(buf);
		while (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		/* A deleted backing file cannot be a source any more: keep the device. */
		if (stat(buf, &st) < 0)
			return;
		(void)sysfs_u64(sysfs, rdev, "loop/offset", &loop_off);
		off = add_saturated(off, loop_off);
		if (!S_ISBLK(st.st_mode)) {
			*out = (struct zu_io_place){ .dev = st.st_dev, .ino = st.st_ino, .off = off };
			return;
		}
		rdev = st.st_rdev;
	}
}

/*
 * Where a region really lies: a block device partition is mapped to its disk
 * (sysfs "start" in 512-byte sectors, and the parent's "dev"), so that
 * /dev/sda2 and /dev/sda compare in the same coordinates; a loop device to
 * the file behind it (sysfs loop/backing_file and loop/offset), so that
 * /dev/loop0 and the image file it shows compare too.
 */
static bool region_on_disk(const struct zu_io_region *r, struct zu_io_place *out)
{
	struct stat st;

	if (stat(r->path, &st) < 0)
		return false;
	if (!S_ISBLK(st.st_mode)) {
		*out = (struct zu_io_place){ .dev = st.st_dev, .ino = st.st_ino, .off = r->off };
		return true;
	}
	zu_io_resolve_blk("/sys", st.st_rdev, r->off, out);
	return true;
}

bool zu_io_regions_overlap(const struct zu_io_region *a, const struct zu_io_region *b)
{
	struct zu_io_place pa, pb;

	if (!region_on_disk(a, &pa) || !region_on_disk(b, &pb))
		return false;
	if (pa.dev != pb.dev || pa.ino != pb.ino)
		return false;
	return pa.off < add_saturated(pb.off, b->len) && pb.off < add_saturated(pa.off, a->len);
}

int zu_io_read_header_bytes(int fd, const struct zu_limits *lim, uint8_t **out, size_t *out_len,
			    struct zu_err *err)
{
	uint8_t lead[ZU_LEAD_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t got;
	int r;

	got = zu_io_read_full(fd, lead, sizeof(lead), err);
	if (got < 0)
		return (int)got;
	/* Lengths come from the file: zu_header_size checks them against the limits. */
	r = zu_header_size(lead, (size_t)got, lim, &len, err);
	if (r == -EAGAIN)
		return zu_err_set(err, -EBADMSG, "truncated: file of %zd bytes ends inside the lead",
				  got);
	if (r < 0)
		return r;
	buf = malloc(len);
	if (!buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu bytes for the header", len);
	r = zu_io_pread_full(fd, buf, len, 0, err);
	if (r < 0) {
		free(buf);
		return zu_err_prefix(err, "header");
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int zu_io_fsync_parent(const char *path, struct zu_err *err)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	int fd, r = 0;

	if (len >= sizeof(tmp))
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	memcpy(tmp, path, len + 1);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return zu_err_sys(err, errno, "%s: open directory", path);
	if (fsync(fd) < 0)
		r = zu_err_sys(err, errno, "%s: fsync directory", path);
	close(fd);
	return r;
}

/* An unnamed file in path's directory, or -1 when the filesystem has no O_TMPFILE. */
static int open_unnamed(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return -1;
	memcpy(dir, path, len + 1);
	return open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
}

int zu_atomic_open(struct zu_atomic_file *af, const char *path, struct zu_err *err)
{
	struct stat st;

	af->fd = -1;
	af->mode = 0644;
	af->unnamed = false;
	af->tmp[0] = '\0';
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return zu_err_set(err, -EINVAL, "%s: not a regular file", path);
		af->mode = st.st_mode & 07777;
	}
	/* Room for the longest temporary name: ".zckup-" PID "-" attempt. */
	if (strlen(path) + 32 > sizeof(af->tmp) ||
	    snprintf(af->path, sizeof(af->path), "%s", path) >= (int)sizeof(af->path))
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	af->fd = open_unnamed(path);
	if (af->fd >= 0) {
		af->unnamed = true;
		return 0;
	}
	if (snprintf(af->tmp, sizeof(af->tmp), "%s.zckup-XXXXXX", path) >= (int)sizeof(af->tmp)) {
		af->tmp[0] = '\0';
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	}
	af->fd = mkostemp(af->tmp, O_CLOEXEC);
	if (af->fd < 0) {
		af->tmp[0] = '\0';
		return zu_err_sys(err, errno, "%s: create temporary file", path);
	}
	return 0;
}

/* Gives the unnamed file a unique name beside path, for the rename. */
static int name_unnamed(struct zu_atomic_file *af, struct zu_err *err)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", af->fd);
	for (unsigned attempt = 0; attempt < 100; attempt++) {
		int r;

		if (snprintf(af->tmp, sizeof(af->tmp), "%s.zckup-%ld-%u", af->path, (long)getpid(),
			     attempt) >= (int)sizeof(af->tmp)) {
			af->tmp[0] = '\0';
			return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", af->path);
		}
		r = linkat(AT_FDCWD, proc, AT_FDCWD, af->tmp, AT_SYMLINK_FOLLOW);
		if (r < 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
			r = linkat(af->fd, "", AT_FDCWD, af->tmp, AT_EMPTY_PATH);
		if (r == 0)
			return 0;
		if (errno != EEXIST) {
			r = zu_err_sys(err, errno, "%s: name the temporary file", af->path);
			af->tmp[0] = '\0';
			return r;
		}
	}
	af->tmp[0] = '\0';
	return zu_err_set(err, -EEXIST, "%s: no free temporary name", af->path);
}

int zu_atomic_commit(struct zu_atomic_file *af, struct zu_err *err)
{
	int r = 0;

	if (fchmod(af->fd, af->mode) < 0)
		r = zu_err_sys(err, errno, "%s: chmod", af->path);
	if (r == 0 && fsync(af->fd) < 0)
		r = zu_err_sys(err, errno, "%s: fsync", af->path);
	if (r == 0 && af->unnamed)
		r = name_unnamed(af, err);
	if (close(af->fd) < 0 && r == 0)
		r = zu_err_sys(err, errno, "%s: close", af->path);
	af->fd = -1;
	if (r == 0 && rename(af->tmp, af->path) < 0)
		r = zu_err_sys(err, errno, "rename %s to %s", af->tmp, af->path);
	if (r < 0) {
		zu_atomic_abort(af);
		return r;
	}
	af->tmp[0] = '\0';
	return zu_io_fsync_parent(af->path, err);
}

void zu_atomic_abort(struct zu_atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0])
		unlink(af->tmp);
	af->tmp[0] = '\0';
}

int zu_io_write_file_atomic(const char *path, const void *buf, size_t n, struct zu_err *err)
{
	struct zu_atomic_file af;
	int r;

	r = zu_atomic_open(&af, path, err);
	if (r < 0)
		return r;
	r = zu_io_write_full(af.fd, buf, n, err);
	if (r < 0) {
		zu_atomic_abort(&af);
		return zu_err_prefix(err, "%s", path);
	}
	return zu_atomic_commit(&af, err);
}
