/* SPDX-License-Identifier: MIT */
/*
 * sink - where verified image bytes go. A typed vtable so integrators and later
 * backends (atomic file, exec, stdout) plug in beside the raw target.
 * Bytes reach a sink strictly in image order.
 */
#ifndef ZU_SINK_H
#define ZU_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct zu_sink_ops {
	const char *name;
	/* Writes p[0..n) at image offset off (calls come in increasing off). */
	int (*write_at)(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err);
	/* Image complete (size bytes): make it durable (truncate/fsync/rename/wait). */
	int (*commit)(void *priv, uint64_t size, struct zu_err *err);
	/* Failure: undo what can be undone (unlink temp, kill child). Never fails. */
	void (*abort)(void *priv);
	void (*free)(void *priv);
};

struct zu_sink {
	const struct zu_sink_ops *ops;
	void *priv;
};

/*
 * Raw target: a block device or a file, written in place with positional
 * writes; a regular file is truncated to the image size at commit, and the
 * target is fsync'd. Created (0644) when missing.
 */
int zu_sink_raw_open(const char *path, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * Atomic file target: a temporary file beside path replaces path at commit
 * (fsync, rename, fsync of the directory); abort removes it, path untouched.
 */
int zu_sink_file_open(const char *path, struct zu_sink *out, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_sink_free(struct zu_sink *s);

#endif
