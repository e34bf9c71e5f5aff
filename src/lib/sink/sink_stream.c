/* SPDX-License-Identifier: MIT */
/*
 * sink_stream - SIGPIPE-safe full writes for the stream sinks. The library
 * may live in a process that never heard of SIGPIPE (default action: die), and
 * must not change its dispositions; so the signal is blocked per thread around
 * the write, and the one our failed write raised is taken off the pending set.
 */
#include "config.h"

#include "sink/sink_stream.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Waits up to ZU_STREAM_POLL_MS for room; 1 room (or an error to find by writing), 0 not yet. */
static int wait_room(struct pollfd *pfd, struct zu_err *err)
{
	int r = poll(pfd, 1, ZU_STREAM_POLL_MS);

	if (r < 0 && errno != EINTR)
		return zu_err_sys(err, errno, "poll for writing");
	return r > 0;
}

static int write_loop(int fd, const uint8_t *p, size_t n, const zu_cancel_t *cancel, size_t *done,
		      struct zu_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int fl = fcntl(fd, F_GETFL);
	bool nonblock = fl >= 0 && (fl & O_NONBLOCK);
	ssize_t w;

	while (*done < n) {
		size_t step = n - *done;

		if (zu_cancel_requested(cancel))
			return zu_err_set(err, -ECANCELED,
					  "cancelled while writing (%zu of %zu bytes taken)", *done, n);
		if (cancel) {
			int r = wait_room(&pfd, err);

			if (r < 0)
				return r;
			if (r == 0)
				continue;
			if (!nonblock && step > PIPE_BUF)
				step = PIPE_BUF;
		}
		w = write(fd, p + *done, step);
		if (w > 0) {
			*done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		/* An inherited non-blocking stdout: wait instead of failing. */
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (cancel)
				continue; /* wait_room() waits, and checks cancel */
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return zu_err_sys(err, errno, "poll for writing");
			continue;
		}
		if (w < 0)
			return zu_err_sys(err, errno, "write of %zu bytes", n - *done);
		return zu_err_set(err, -EIO, "write of %zu bytes made no progress", n - *done);
	}
	return 0;
}

/* Takes the SIGPIPE our write raised off this thread's pending set. */
static void consume_sigpipe(const sigset_t *pipe_set)
{
	const struct timespec zero = { 0, 0 };

	while (sigtimedwait(pipe_set, NULL, &zero) < 0 && errno == EINTR)
		;
}

int zu_stream_write(int fd, const void *p, size_t n, const zu_cancel_t *cancel, size_t *out_done,
		    struct zu_err *err)
{
	sigset_t pipe_set, old, pending;
	bool was_pending = false;
	size_t done = 0;
	int r, saved;

	*out_done = 0;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	r = pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	if (r != 0)
		return zu_err_sys(err, r, "block SIGPIPE");
	/* A SIGPIPE that was already pending is someone else's: leave it. */
	if (sigpending(&pending) == 0)
		was_pending = sigismember(&pending, SIGPIPE) == 1;
	r = write_loop(fd, p, n, cancel, &done, err);
	saved = errno;
	if (r == -EPIPE && !was_pending)
		consume_sigpipe(&pipe_set);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	*out_done = done;
	return r;
}
