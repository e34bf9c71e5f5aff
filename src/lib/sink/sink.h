/* SPDX-License-Identifier: MIT */
/*
 * sink - where verified image bytes go. A typed vtable so integrators and
 * backends (raw target, atomic file, command, fd) plug in behind one driver.
 * Bytes reach a sink strictly in image order; stream sinks (exec, fd) also
 * need them without gaps.
 */
#ifndef ZU_SINK_H
#define ZU_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "progress.h"

struct zu_sink_ops {
	const char *name;
	/* Writes p[0..n) at image offset off (calls come in increasing off). */
	int (*write_at)(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err);
	/* Image complete (size bytes): make it durable (truncate/fsync/rename/wait). */
	int (*commit)(void *priv, uint64_t size, struct zu_err *err);
	/*
	 * Failure, also after a failed commit: undo what can be undone (unlink
	 * temp, kill child). Never fails.
	 */
	void (*abort)(void *priv);
	void (*free)(void *priv);
	/*
	 * Optional: the caller's stop request, for sinks that can block for long
	 * (a pipe nobody reads, a command still running at commit): they check
	 * it while they wait and fail with -ECANCELED.
	 */
	void (*set_cancel)(void *priv, const zu_cancel_t *cancel);
};

struct zu_sink {
	const struct zu_sink_ops *ops;
	void *priv;
};

/*
 * Raw target: a block device or a file, written in place with positional
 * writes at offset + image offset. Created (0644) when missing, never
 * truncated at open. At commit a regular file is cut to exactly the image
 * size when offset is 0 and only extended (never shortened) when offset > 0;
 * a device must hold offset + size bytes (-ENOSPC); the target is fsync'd.
 * Abort keeps partial progress (a re-run can reuse it) except that a file
 * this sink created is emptied once it reaches offset + image size, so a
 * failed update never leaves a file that looks complete.
 *
 * Writes into the first ZU_RAW_HEAD bytes of the image are held and written
 * at commit; those bytes of the target are zeroed before the first write
 * beyond them. So a run that does not commit leaves the target's first block
 * zero once it wrote anything (sink_raw.c). The caller passes every chunk
 * that overlaps the head when it writes anything (in-place ones included).
 */
#define ZU_RAW_HEAD 4096
struct zu_sink_raw_params {
	const char *path;
	uint64_t offset;     /* the image starts here in the target */
	/*
	 * Expected image size, 0 if unknown (additive, optional): lets open check
	 * a device's size, and abort tell a complete-looking file from a partial
	 * one. When unknown, abort empties any file it created (the safe side).
	 */
	uint64_t image_size;
};

int zu_sink_raw_open(const struct zu_sink_raw_params *p, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * Atomic file target: a temporary file beside path replaces path at commit
 * (fsync, rename, fsync of the directory); abort removes it, path untouched.
 */
int zu_sink_file_open(const char *path, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * Command target: streams the image into the stdin of `/bin/sh -c cmd`
 * (stdout and stderr inherited). Bytes must come in order without gaps
 * (-EINVAL otherwise). A command that stops reading makes write fail with
 * -EPIPE (never a SIGPIPE death; signal dispositions are not touched).
 * Commit closes its stdin and waits: success only on exit status 0, else
 * -ECHILD (the destination command failed). Abort sends SIGTERM (SIGKILL after 2 s) and reaps it.
 */
int zu_sink_exec_open(const char *cmd, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * Stream target on a borrowed fd (stdout for `-o -`), named in messages by
 * name. Bytes in order without gaps; commit fsyncs a file or device; abort
 * does nothing. The fd is not closed.
 */
int zu_sink_fd_open(int fd, const char *name, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Passes the stop request to a sink that waits (ops->set_cancel); NULL-safe. */
void zu_sink_set_cancel(struct zu_sink *s, const zu_cancel_t *cancel);
/* Calls ops->free (NULL-safe, also on an unopened, zeroed sink). */
void zu_sink_free(struct zu_sink *s);

#endif
