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

#include <stdlib.h>
#include <unistd.h>

struct file_priv {
	struct zu_atomic_file af;
};

static int file_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct file_priv *s = priv;
	int r = zu_io_pwrite_full(s->af.fd, p, n, off, err);

	return r < 0 ? zu_err_prefix(err, "%s (temporary file)", s->af.path) : 0;
}

static int file_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct file_priv *s = priv;

	/* The size is set explicitly: an image may end in a hole or be empty. */
	if (ftruncate(s->af.fd, (off_t)size) < 0)
		return zu_err_sys(err, errno, "%s: set size", s->af.path);
	return zu_atomic_commit(&s->af, err);
}

static void file_abort(void *priv)
{
	struct file_priv *s = priv;

	zu_atomic_abort(&s->af);
}

static void file_free(void *priv)
{
	struct file_priv *s = priv;

	if (!s)
		return;
	zu_atomic_abort(&s->af);
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
	struct file_priv *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return zu_err_set(err, -ENOMEM, "out of memory");
	r = zu_atomic_open(&s->af, path, err);
	if (r < 0) {
		free(s);
		return r;
	}
	out->ops = &zu_sink_file_ops;
	out->priv = s;
	return 0;
}
