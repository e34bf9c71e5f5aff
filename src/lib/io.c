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

bool zu_io_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
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

static int fsync_dir_of(const char *path, struct zu_err *err)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	if (strlen(path) >= sizeof(tmp))
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	memcpy(tmp, path, strlen(path) + 1);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return zu_err_sys(err, errno, "%s: open directory", path);
	if (fsync(fd) < 0)
		r = zu_err_sys(err, errno, "%s: fsync directory", path);
	close(fd);
	return r;
}

int zu_io_write_file_atomic(const char *path, const void *buf, size_t n, struct zu_err *err)
{
	char tmp[PATH_MAX];
	int fd = -1, r;

	if (snprintf(tmp, sizeof(tmp), "%s.zckup-XXXXXX", path) >= (int)sizeof(tmp))
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return zu_err_sys(err, errno, "%s: create temporary file", path);
	r = zu_io_write_full(fd, buf, n, err);
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = zu_err_sys(err, errno, "chmod");
	if (r == 0 && fsync(fd) < 0)
		r = zu_err_sys(err, errno, "fsync");
	if (close(fd) < 0 && r == 0)
		r = zu_err_sys(err, errno, "close");
	if (r == 0 && rename(tmp, path) < 0)
		r = zu_err_sys(err, errno, "rename");
	if (r < 0) {
		unlink(tmp);
		return zu_err_prefix(err, "%s", path);
	}
	return fsync_dir_of(path, err);
}
