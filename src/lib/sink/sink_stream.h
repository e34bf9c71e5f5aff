/* SPDX-License-Identifier: MIT */
/*
 * sink_stream - the full write shared by the stream sinks (exec, fd): bytes
 * to a pipe, socket, tty or file, surviving a reader that went away. A closed
 * pipe must come back as -EPIPE, never as a SIGPIPE that kills the host
 * process, and without touching process-wide signal dispositions.
 */
#ifndef ZU_SINK_STREAM_H
#define ZU_SINK_STREAM_H

#include <stddef.h>

#include "err.h"
#include "progress.h"

/*
 * Writes all of p[0..n) to fd (retrying EINTR and short writes, waiting on a
 * non-blocking fd). SIGPIPE is blocked in the calling thread for the call and
 * a SIGPIPE raised by it is consumed before the mask is restored. *out_done
 * gets the bytes written, also on failure. -EPIPE when the reader is gone.
 *
 * With cancel (may be NULL) the call never blocks for long on a reader that
 * stopped reading (a stopped command, a FIFO nobody reads): it waits for
 * room with poll() in steps of ZU_STREAM_POLL_MS, checking cancel between
 * them, and writes at most PIPE_BUF bytes at a time to a blocking fd (a
 * pipe with room for one byte has room for that many), or what fits on a
 * non-blocking one. -ECANCELED once cancel is set, within about one step.
 */
int zu_stream_write(int fd, const void *p, size_t n, const zu_cancel_t *cancel, size_t *out_done,
		    struct zu_err *err) __attribute__((warn_unused_result));

/* How long one wait for room lasts before cancel is checked again. */
#define ZU_STREAM_POLL_MS 100

#endif
