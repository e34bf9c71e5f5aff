/* SPDX-License-Identifier: MIT */
/*
 * sink_raw - the in-place target: a block device or a file written with
 * positional writes, the image starting at a fixed offset in the target (a
 * partition inside a disk image, say). Never truncates at open: a target that
 * exists keeps its bytes until they are overwritten, which is what lets a
 * re-run reuse chunks already at their final place.
 *
 * Commit: a regular file with offset 0 becomes the image (cut to exactly its
 * size); with offset > 0 the file holds other content after the image, so it
 * is only extended when shorter, never shortened. A device must hold offset +
 * size bytes (checked at each write, at commit, and at open when the size is
 * known). Then everything is fsync'd.
 *
 * Abort: a raw target cannot be rolled back, and partial progress is kept for
 * a re-run. The one promise: a failed update never leaves a file this sink
 * created looking complete. Such a file is emptied at abort once it reaches
 * offset + image size (the failure can come after the last byte, at the
 * whole-image digest check); when the image size is unknown it is always
 * emptied. A file that existed before and a device are left as they are.
 *
 * The head: writes into the first ZU_RAW_HEAD bytes of the image are held in
 * memory (the chunks that cover them: one, usually) and written at commit,
 * after the whole image was verified, just before the final fsync. Before the
 * first write beyond them, those bytes of the target are zeroed (and synced,
 * so later writes cannot reach the disk first). A run that ends any other way
 * than by commit (a digest mismatch, the network, a cancel, kill -9, a power
 * cut) thus leaves the target's first block zero once anything was written:
 * the image is recognisably incomplete (no filesystem superblock, no boot
 * sector), whether or not the file existed before. Everything else it wrote
 * was verified and stays: a re-run checks it in place and fetches only the
 * head chunks and what is still missing.
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
	char *path;          /* for messages; owned */
	uint64_t offset;     /* image offset 0 in the target */
	uint64_t image_size; /* 0 until known (open hint or commit) */
	bool is_reg;
	bool is_blk;
	bool created;        /* the file did not exist before open */
	uint64_t dev_size;   /* block devices */
	uint8_t *head;       /* held bytes of image offsets [0, head_len) */
	size_t head_len, head_cap;
	bool head_cleared;   /* the target's head bytes were zeroed */
};

/* Target offset of image offset off + n: overflow-checked, within off_t. */
static int raw_end(const struct raw_priv *s, uint64_t off, uint64_t n, uint64_t *out,
		   struct zu_err *err)
{
	if (zu_add_overflow(s->offset, off, out) || zu_add_overflow(*out, n, out) ||
	    *out > (uint64_t)INT64_MAX)
		return zu_err_set(err, -EOVERFLOW,
				  "%s: offset %" PRIu64 " + %" PRIu64 " + %" PRIu64 " too large",
				  s->path, s->offset, off, n);
	return 0;
}

static int raw_check_dev(const struct raw_priv *s, uint64_t end, struct zu_err *err)
{
	if (s->is_blk && end > s->dev_size)
		return zu_err_set(err, -ENOSPC,
				  "%s: device has %" PRIu64 " bytes, the image needs %" PRIu64
				  " (offset %" PRIu64 ")", s->path, s->dev_size, end, s->offset);
	return 0;
}

/* Keeps a write into the head for commit. Writes come in order, the head's without gaps. */
static int raw_hold(struct raw_priv *s, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	if (off != s->head_len)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "%s: head write at %" PRIu64 " after %zu held bytes", s->path, off,
				  s->head_len);
	if (n > s->head_cap - s->head_len) {
		size_t cap = s->head_len + n;
		uint8_t *h = realloc(s->head, cap);

		if (!h)
			return zu_err_set(err, -ENOMEM, "%s: cannot hold %zu head bytes", s->path,
					  cap);
		s->head = h;
		s->head_cap = cap;
	}
	memcpy(s->head + s->head_len, p, n);
	s->head_len += n;
	return 0;
}

/* Zeroes the target's head (synced) before the first write beyond it. */
static int raw_clear_head(struct raw_priv *s, struct zu_err *err)
{
	static const uint8_t zeros[ZU_RAW_HEAD];
	int r;

	r = zu_io_pwrite_full(s->fd, zeros, sizeof(zeros), s->offset, err);
	if (r == 0 && fdatasync(s->fd) < 0 && (s->is_reg || s->is_blk))
		r = zu_err_sys(err, errno, "fdatasync");
	if (r < 0)
		return zu_err_prefix(err, "%s: clear the first %d bytes", s->path, ZU_RAW_HEAD);
	s->head_cleared = true;
	return 0;
}

static int raw_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct raw_priv *s = priv;
	uint64_t end;
	int r;

	r = raw_end(s, off, n, &end, err);
	if (r == 0)
		r = raw_check_dev(s, end, err);
	if (r < 0)
		return r;
	/*
	 * Held when the head comes whole from offset 0, as the driver passes it.
	 * A caller that skips into the head (the library's own tests) gets plain
	 * writes and no head protection.
	 */
	if (off < ZU_RAW_HEAD && off == s->head_len && !s->head_cleared)
		return raw_hold(s, off, p, n, err);
	if (!s->head_cleared && s->head_len == 0 && off < ZU_RAW_HEAD)
		s->head_cleared = true; /* not ours to protect */
	if (!s->head_cleared) {
		r = raw_clear_head(s, err);
		if (r < 0)
			return r;
	}
	r = zu_io_pwrite_full(s->fd, p, n, s->offset + off, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", s->path);
	return 0;
}

/* offset 0: the file is the image. offset > 0: other content may follow; keep it. */
static int raw_set_file_size(struct raw_priv *s, uint64_t end, struct zu_err *err)
{
	struct stat st;

	if (s->offset > 0) {
		if (fstat(s->fd, &st) < 0)
			return zu_err_sys(err, errno, "%s: stat", s->path);
		if ((uint64_t)st.st_size >= end)
			return 0;
	}
	if (ftruncate(s->fd, (off_t)end) < 0)
		return zu_err_sys(err, errno, "%s: set size to %" PRIu64, s->path, end);
	return 0;
}

static int raw_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct raw_priv *s = priv;
	uint64_t end;
	int r;

	/* Remembered first: abort after a failed commit must know the size. */
	s->image_size = size;
	r = raw_end(s, size, 0, &end, err);
	if (r < 0)
		return r;
	/* The image is verified: now the head, which makes it recognisably complete. */
	if (s->head_len > 0) {
		r = zu_io_pwrite_full(s->fd, s->head, s->head_len, s->offset, err);
		if (r < 0)
			return zu_err_prefix(err, "%s", s->path);
	}
	if (s->is_reg) {
		r = raw_set_file_size(s, end, err);
	} else if (s->is_blk) {
		/* Asked again: the device may have been resized since open. */
		r = zu_io_size(s->fd, &s->dev_size, err);
		if (r < 0)
			return zu_err_prefix(err, "%s", s->path);
		r = raw_check_dev(s, end, err);
	}
	if (r < 0)
		return r;
	/* Character devices and pipes cannot be synced; that is not a failure. */
	if (fsync(s->fd) < 0 && (s->is_reg || s->is_blk || (errno != EINVAL && errno != EROFS)))
		return zu_err_sys(err, errno, "%s: fsync", s->path);
	return 0;
}

static void raw_abort(void *priv)
{
	struct raw_priv *s = priv;
	struct stat st;
	uint64_t end;

	if (!s->is_reg || !s->created)
		return;
	/* Partial progress stays for a re-run; a complete-looking file does not. */
	if (s->image_size > 0 && !zu_add_overflow(s->offset, s->image_size, &end) &&
	    fstat(s->fd, &st) == 0 && (uint64_t)st.st_size < end)
		return;
	/* Never fails by contract: a failed truncate leaves the file as it is. */
	if (ftruncate(s->fd, 0) < 0)
		return;
}

static void raw_free(void *priv)
{
	struct raw_priv *s = priv;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->head);
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

static int raw_stat(struct raw_priv *s, struct zu_err *err)
{
	struct stat st;
	uint64_t end;
	int r;

	if (fstat(s->fd, &st) < 0)
		return zu_err_sys(err, errno, "%s: stat", s->path);
	s->is_reg = S_ISREG(st.st_mode);
	s->is_blk = S_ISBLK(st.st_mode);
	if (!s->is_blk)
		return 0;
	r = zu_io_size(s->fd, &s->dev_size, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", s->path);
	/* Fail before the first write when the image cannot fit. */
	r = raw_end(s, s->image_size, 0, &end, err);
	if (r == 0)
		r = raw_check_dev(s, end, err);
	return r;
}

int zu_sink_raw_open(const struct zu_sink_raw_params *p, struct zu_sink *out, struct zu_err *err)
{
	struct raw_priv *s;
	int r;

	out->ops = NULL;
	out->priv = NULL;
	if (!p || !p->path)
		return zu_err_set(err, -EINVAL, "raw sink without a path");
	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "cannot allocate a raw sink");
	s->fd = -1;
	s->offset = p->offset;
	s->image_size = p->image_size;
	s->path = strdup(p->path);
	if (!s->path) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate a raw sink");
		goto out;
	}
	r = raw_open_fd(s, err);
	if (r == 0)
		r = raw_stat(s, err);
	if (r < 0)
		goto out;
	out->ops = &zu_sink_raw_ops;
	out->priv = s;
	s = NULL;
out:
	raw_free(s);
	return r;
}
