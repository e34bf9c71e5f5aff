/* SPDX-License-Identifier: MIT */
/*
 * sink_fd - the stream target on a borrowed fd: stdout for `-o -`, or any
 * pipe, socket or file the integrator opened. Bytes are written in order with
 * plain writes (no seeking, so a pipe works); a reader that goes away is
 * -EPIPE, not a SIGPIPE death. The fd is never closed here, and abort cannot
 * take back what the reader already got: the consumer must check the result.
 */
#include "config.h"

#include "sink/sink.h"
#include "sink/sink_stream.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fd_priv {
	int fd;           /* borrowed */
	bool durable;     /* a regular file or block device: fsync at commit */
	uint64_t written;
	char *name;       /* for messages; owned */
	const zu_cancel_t *cancel; /* pipes, sockets, ttys: writes that wait check it */
};

static int fd_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct fd_priv *s = priv;
	size_t done;
	int r;

	if (off != s->written)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "%s: stream sinks need bytes in order: offset %" PRIu64
				  " after %" PRIu64 " bytes", s->name, off, s->written);
	r = zu_stream_write(s->fd, p, n, s->durable ? NULL : s->cancel, &done, err);
	s->written += done;
	if (r < 0)
		return zu_err_prefix(err, "%s", s->name);
	return 0;
}

static int fd_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct fd_priv *s = priv;

	if (size != s->written)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "%s: commit of %" PRIu64 " bytes after %" PRIu64 " were written",
				  s->name, size, s->written);
	/* Pipes, ttys and sockets cannot be synced; that is not a failure. */
	if (s->durable && fsync(s->fd) < 0)
		return zu_err_sys(err, errno, "%s: fsync", s->name);
	return 0;
}

static void fd_abort(void *priv)
{
	/* Bytes already read by the consumer cannot be recalled. */
	(void)priv;
}

static void fd_free(void *priv)
{
	struct fd_priv *s = priv;

	if (!s)
		return;
	free(s->name);
	free(s);
}

static void fd_set_cancel(void *priv, const zu_cancel_t *cancel)
{
	struct fd_priv *s = priv;

	s->cancel = cancel;
}

static const struct zu_sink_ops zu_sink_fd_ops = {
	.name = "fd",
	.write_at = fd_write_at,
	.commit = fd_commit,
	.abort = fd_abort,
	.free = fd_free,
	.set_cancel = fd_set_cancel,
};

int zu_sink_fd_open(int fd, const char *name, struct zu_sink *out, struct zu_err *err)
{
	struct fd_priv *s;
	struct stat st;

	out->ops = NULL;
	out->priv = NULL;
	if (!name)
		name = "fd";
	if (fd < 0)
		return zu_err_set(err, -EBADF, "%s: no file descriptor", name);
	if (fstat(fd, &st) < 0)
		return zu_err_sys(err, errno, "%s: stat", name);
	/* Refused before anything is fetched: a stream that cannot take the image. */
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
		return zu_err_set(err, -EBADF, "%s: not open for writing (closed?)", name);
	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "cannot allocate an fd sink");
	s->name = strdup(name);
	if (!s->name) {
		free(s);
		return zu_err_set(err, -ENOMEM, "cannot allocate an fd sink");
	}
	s->fd = fd;
	s->durable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	out->ops = &zu_sink_fd_ops;
	out->priv = s;
	return 0;
}
