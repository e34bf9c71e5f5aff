/* SPDX-License-Identifier: MIT */
/*
 * sink_raw - the in-place target: a block device or a file written with
 * positional writes. A regular file gets its final size only at commit
 * (ftruncate), then everything is fsync'd; a block device must be at least as
 * large as the image. Never truncates at open: a target that exists keeps its
 * bytes until they are overwritten.
 *
 * Abort: a raw target cannot be rolled back. The one promise kept is that a
 * failed update never leaves a file that looks complete: a regular file that
 * this sink created is truncated to 0 bytes at abort (the failure can come
 * after the last byte was written, at the whole-image digest check, so "the
 * bytes written so far" could be the full size). A file that existed before is
 * left as it is (partly overwritten) and a device is left as it is.
 */
#include "config.h"

#include "sink/sink.h"
#include "io.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw_priv {
	int fd;
	char *path;        /* for messages; owned */
	bool is_reg;
	bool is_blk;
	bool created;      /* the file did not exist before open */
	uint64_t dev_size; /* block devices */
};

static int raw_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct raw_priv *s = priv;
	uint64_t end;
	int r;

	if (zu_add_overflow(off, n, &end))
		return zu_err_set(err, -EOVERFLOW, "%s: write end overflows", s->path);
	if (s->is_blk && end > s->dev_size)
		return zu_err_set(err, -ENOSPC,
				  "%s: device has %" PRIu64 " bytes, write needs %" PRIu64, s->path,
				  s->dev_size, end);
	r = zu_io_pwrite_full(s->fd, p, n, off, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", s->path);
	return 0;
}

static int raw_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct raw_priv *s = priv;
	uint64_t dev_size;
	int r;

	if (s->is_reg) {
		if (size > (uint64_t)INT64_MAX)
			return zu_err_set(err, -EOVERFLOW, "%s: size %" PRIu64 " too large",
					  s->path, size);
		if (ftruncate(s->fd, (off_t)size) < 0)
			return zu_err_sys(err, errno, "%s: truncate to %" PRIu64, s->path, size);
	} else if (s->is_blk) {
		r = zu_io_size(s->fd, &dev_size, err);
		if (r < 0)
			return zu_err_prefix(err, "%s", s->path);
		if (dev_size < size)
			return zu_err_set(err, -ENOSPC,
					  "%s: device has %" PRIu64 " bytes, image has %" PRIu64,
					  s->path, dev_size, size);
	}
	/* Character devices and pipes cannot be synced; that is not a failure. */
	if (fsync(s->fd) < 0 && (s->is_reg || s->is_blk || (errno != EINVAL && errno != EROFS)))
		return zu_err_sys(err, errno, "%s: fsync", s->path);
	return 0;
}

static void raw_abort(void *priv)
{
	struct raw_priv *s = priv;

	if (s->is_reg && s->created) {
		/* Never fails by contract: a failed truncate leaves a short-or-stale file. */
		if (ftruncate(s->fd, 0) < 0)
			return;
	}
}

static void raw_free(void *priv)
{
	struct raw_priv *s = priv;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
}

static const struct zu_sink_ops zu_sink_raw_ops = {
	.name = "raw",
	.write_at = raw_write_at,
	.commit = raw_commit,
	.abort = raw_abort,
	.free = raw_free,
};

/* O_EXCL first, so that abort knows whether the file is ours to shorten. */
static int raw_open_fd(struct raw_priv *s, struct zu_err *err)
{
	s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s->fd >= 0) {
		s->created = true;
		return 0;
	}
	if (errno != EEXIST)
		return zu_err_sys(err, errno, "%s: open for writing", s->path);
	s->fd = open(s->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (s->fd < 0)
		return zu_err_sys(err, errno, "%s: open for writing", s->path);
	return 0;
}

int zu_sink_raw_open(const char *path, struct zu_sink *out, struct zu_err *err)
{
	struct raw_priv *s;
	struct stat st;
	int r;

	out->ops = NULL;
	out->priv = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "cannot allocate a raw sink");
	s->fd = -1;
	s->path = strdup(path);
	if (!s->path) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate a raw sink");
		goto out;
	}
	r = raw_open_fd(s, err);
	if (r < 0)
		goto out;
	if (fstat(s->fd, &st) < 0) {
		r = zu_err_sys(err, errno, "%s: stat", path);
		goto out;
	}
	s->is_reg = S_ISREG(st.st_mode);
	s->is_blk = S_ISBLK(st.st_mode);
	if (s->is_blk) {
		r = zu_io_size(s->fd, &s->dev_size, err);
		if (r < 0) {
			zu_err_prefix(err, "%s", path);
			goto out;
		}
	}
	out->ops = &zu_sink_raw_ops;
	out->priv = s;
	s = NULL;
out:
	raw_free(s);
	return r;
}
