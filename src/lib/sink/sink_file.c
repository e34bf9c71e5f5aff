/* SPDX-License-Identifier: MIT */
/*
 * sink_file - the atomic file target: the image is written to a temporary
 * file in the target's directory, which replaces the target (rename) only
 * after the whole image is verified and fsync'd. On any failure the temporary
 * file is removed and the old file is untouched. An existing file's mode is kept.
 */
#include "config.h"

#include "sink/sink.h"
#include "io.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_priv {
	int fd;
	mode_t mode;
	char path[PATH_MAX];
	char tmp[PATH_MAX];
};

static int file_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct file_priv *s = priv;
	int r = zu_io_pwrite_full(s->fd, p, n, off, err);

	return r < 0 ? zu_err_prefix(err, "%s", s->tmp) : 0;
}

static int fsync_parent(const char *path, struct zu_err *err)
{
	char dir[PATH_MAX];
	int fd, r = 0;

	memcpy(dir, path, strlen(path) + 1); /* path fits: checked at open */
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return zu_err_sys(err, errno, "%s: open directory", path);
	if (fsync(fd) < 0)
		r = zu_err_sys(err, errno, "%s: fsync directory", path);
	close(fd);
	return r;
}

static int file_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct file_priv *s = priv;

	if (ftruncate(s->fd, (off_t)size) < 0)
		return zu_err_sys(err, errno, "%s: set size", s->tmp);
	if (fchmod(s->fd, s->mode) < 0)
		return zu_err_sys(err, errno, "%s: chmod", s->tmp);
	if (fsync(s->fd) < 0)
		return zu_err_sys(err, errno, "%s: fsync", s->tmp);
	if (rename(s->tmp, s->path) < 0)
		return zu_err_sys(err, errno, "rename %s to %s", s->tmp, s->path);
	s->tmp[0] = '\0'; /* nothing left to remove */
	return fsync_parent(s->path, err);
}

static void file_abort(void *priv)
{
	struct file_priv *s = priv;

	if (s->tmp[0])
		unlink(s->tmp);
	s->tmp[0] = '\0';
}

static void file_free(void *priv)
{
	struct file_priv *s = priv;

	if (!s)
		return;
	file_abort(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

static const struct zu_sink_ops zu_sink_file_ops = {
	.name = "file",
	.write_at = file_write_at,
	.commit = file_commit,
	.abort = file_abort,
	.free = file_free,
};

int zu_sink_file_open(const char *path, struct zu_sink *out, struct zu_err *err)
{
	struct file_priv *s;
	struct stat st;

	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "out of memory");
	s->fd = -1;
	s->mode = 0644;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			free(s);
			return zu_err_set(err, -EINVAL,
					  "%s: not a regular file (use --target for devices)", path);
		}
		s->mode = st.st_mode & 07777;
	}
	if (snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path) ||
	    snprintf(s->tmp, sizeof(s->tmp), "%s.zckup-XXXXXX", path) >= (int)sizeof(s->tmp)) {
		free(s);
		return zu_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	}
	s->fd = mkostemp(s->tmp, O_CLOEXEC);
	if (s->fd < 0) {
		int e = errno;

		free(s);
		return zu_err_sys(err, e, "%s: create temporary file", path);
	}
	out->ops = &zu_sink_file_ops;
	out->priv = s;
	return 0;
}
