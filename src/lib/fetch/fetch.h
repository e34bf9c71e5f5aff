/* SPDX-License-Identifier: MIT */
/*
 * fetch - gets byte ranges of a .zck from where it lives (a local file now,
 * HTTP later) as records (offset, bytes). Backends plug in through
 * struct zu_fetch_ops. The front end here never trusts a backend: every
 * record must continue exactly where the previous one ended inside the ranges
 * asked for, in order (-EPROTO otherwise).
 */
#ifndef ZU_FETCH_H
#define ZU_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "zu_limits.h"
#include "plan.h"

/* A borrowed view of fetched bytes, valid until the next call on the fetcher. */
struct zu_fetch_rec {
	uint64_t off;
	const uint8_t *data;
	size_t len;
};

struct zu_fetch_ops {
	const char *name;
	/* Starts getting ranges r[0..n) (sorted, disjoint). One batch at a time. */
	int (*request)(void *priv, const struct zu_range *r, size_t n, struct zu_err *err);
	/* 1 = a record in *out, 0 = the batch is complete, <0 = error. */
	int (*next)(void *priv, struct zu_fetch_rec *out, struct zu_err *err);
	/* Reads the first n bytes of the resource (for its header); returns the count. */
	ssize_t (*read_head)(void *priv, void *buf, size_t n, struct zu_err *err);
	void (*free)(void *priv);
};

struct zu_fetch {
	const struct zu_fetch_ops *ops;
	void *priv;
	size_t max_ranges;   /* ranges per request; 0 = no limit (set from zu_limits) */
	/* checking state of the current batch */
	const struct zu_range *ranges;
	size_t n_ranges;
	size_t cur;          /* range being received */
	uint64_t cur_done;   /* bytes of ranges[cur] received */
	/* totals */
	uint64_t bytes;      /* payload bytes received */
	size_t n_requests;
	size_t n_ranges_total;
};

/*
 * Opens a fetcher for url: a plain path or file://PATH. Returns a new
 * fetcher in *out; free with zu_fetch_free().
 */
int zu_fetch_open(const char *url, const struct zu_limits *lim, struct zu_fetch **out,
		  struct zu_err *err) __attribute__((warn_unused_result));
void zu_fetch_free(struct zu_fetch *f);
/* r must stay valid until the batch is complete. */
int zu_fetch_request(struct zu_fetch *f, const struct zu_range *r, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
/* 1 = checked record, 0 = batch complete (all bytes asked for received), <0 error. */
int zu_fetch_next(struct zu_fetch *f, struct zu_fetch_rec *out, struct zu_err *err)
	__attribute__((warn_unused_result));

/* Backends. */
int zu_fetch_file_open(const char *path, const struct zu_limits *lim, struct zu_fetch *f,
		       struct zu_err *err) __attribute__((warn_unused_result));

#endif
