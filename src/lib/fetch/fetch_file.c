/* SPDX-License-Identifier: MIT */
/*
 * fetch_file - the local file backend (a .zck on a USB stick or a mounted
 * medium). Serves each range with pread in records of at most 256 KiB from one
 * reusable buffer, so memory stays flat whatever the range sizes. A file
 * shorter than a range asked for is reported as truncated (-EBADMSG).
 */
#include "config.h"

#include "fetch/fetch.h"
#include "io.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_REC_MAX (256u << 10)

struct file_priv {
	int fd;
	char *path;       /* for messages; owned */
	uint8_t *buf;     /* FILE_REC_MAX bytes, allocated at the first record */
	const struct zu_range *r;
	size_t n, cur;
	uint64_t cur_done;
};

static int file_request(void *priv, const struct zu_range *r, size_t n, struct zu_err *err)
{
	struct file_priv *p = priv;
	uint64_t size, end;
	int ret;

	ret = zu_io_size(p->fd, &size, err);
	if (ret < 0)
		return ret;
	/* Checked up front so a short file fails before any record is handed out. */
	for (size_t i = 0; i < n; i++) {
		if (zu_add_overflow(r[i].off, r[i].len, &end))
			return zu_err_set(err, -EOVERFLOW, "range end overflows");
		if (end > size)
			return zu_err_set(err, -EBADMSG,
					  "truncated: %s has %" PRIu64 " bytes, expected %" PRIu64
					  " bytes at offset %" PRIu64,
					  p->path, size, r[i].len, r[i].off);
	}
	p->r = r;
	p->n = n;
	p->cur = 0;
	p->cur_done = 0;
	return 0;
}

static int file_next(void *priv, struct zu_fetch_rec *out, struct zu_err *err)
{
	struct file_priv *p = priv;
	const struct zu_range *cur;
	uint64_t left;
	size_t len;
	int ret;

	if (p->cur >= p->n)
		return 0;
	if (!p->buf) {
		p->buf = malloc(FILE_REC_MAX);
		if (!p->buf)
			return zu_err_set(err, -ENOMEM, "cannot allocate a read buffer");
	}
	cur = &p->r[p->cur];
	left = cur->len - p->cur_done;
	len = left < FILE_REC_MAX ? (size_t)left : FILE_REC_MAX;
	ret = zu_io_pread_full(p->fd, p->buf, len, cur->off + p->cur_done, err);
	if (ret < 0)
		return zu_err_prefix(err, "%s", p->path);
	out->off = cur->off + p->cur_done;
	out->data = p->buf;
	out->len = len;
	p->cur_done += len;
	if (p->cur_done == cur->len) {
		p->cur++;
		p->cur_done = 0;
	}
	return 1;
}

static ssize_t file_read_head(void *priv, void *buf, size_t n, struct zu_err *err)
{
	struct file_priv *p = priv;
	ssize_t got;

	if (lseek(p->fd, 0, SEEK_SET) < 0)
		return zu_err_sys(err, errno, "%s: seek", p->path);
	got = zu_io_read_full(p->fd, buf, n, err);
	if (got < 0)
		return zu_err_prefix(err, "%s", p->path);
	return got;
}

static void file_free(void *priv)
{
	struct file_priv *p = priv;

	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->buf);
	free(p->path);
	free(p);
}

static const struct zu_fetch_ops zu_fetch_file_ops = {
	.name = "file",
	.request = file_request,
	.next = file_next,
	.read_head = file_read_head,
	.free = file_free,
};

int zu_fetch_file_open(const char *path, const struct zu_limits *lim, struct zu_fetch *f,
		       struct zu_err *err)
{
	struct file_priv *p;
	int r;

	(void)lim; /* a pread never returns more than asked: nothing to bound here */
	p = calloc(1, sizeof(*p));
	if (!p)
		return zu_err_set(err, -ENOMEM, "cannot allocate a file fetcher");
	p->fd = -1;
	p->path = strdup(path);
	if (!p->path) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate a file fetcher");
		goto out;
	}
	r = zu_io_open_ro(path, &p->fd, err);
	if (r < 0)
		goto out;
	f->ops = &zu_fetch_file_ops;
	f->priv = p;
	p = NULL;
out:
	file_free(p);
	return r;
}
