/* SPDX-License-Identifier: MIT */
/*
 * fetch - gets byte ranges of a .zck from where it lives (a local file, or
 * an HTTP(S) server through the unprivileged downloader process) as records
 * (offset, bytes). Backends plug in through struct zu_fetch_ops. The front
 * end here never trusts a backend: every record must continue exactly where
 * the previous one ended inside the ranges asked for, in order (-EPROTO
 * otherwise).
 */
#ifndef ZU_FETCH_H
#define ZU_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "fetch/frame.h"
#include "zu_limits.h"
#include "plan.h"
#include "progress.h"

/* How to reach a remote .zck (ignored for local files). */
struct zu_net_cfg {
	unsigned connections;        /* transfers in flight at once */
	size_t max_ranges;           /* ranges per request, before any step-down */
	unsigned attempts;           /* tries of a transfer that makes no progress */
	unsigned timeout_s;          /* a transfer without a byte for this long is retried */
	const char *cacert, *capath; /* trust anchors; NULL = the system's */
	const char *cert, *key;      /* client certificate (mutual TLS) */
	bool insecure;               /* no server certificate check: only when asked for */
	const char *const *headers;  /* extra request headers "Name: value" */
	size_t n_headers;
	const char *user;            /* the downloader's user; NULL = nobody when root */
	const zu_cancel_t *cancel; /* the caller's stop request */
};

#define ZU_NET_DEFAULT_CONNECTIONS 4u
#define ZU_NET_DEFAULT_ATTEMPTS 6u
#define ZU_NET_DEFAULT_TIMEOUT_S 30u

/* A borrowed view of fetched bytes, valid until the next call on the fetcher. */
struct zu_fetch_rec {
	uint64_t off;
	const uint8_t *data;
	size_t len;
};

struct zu_fetch_ops {
	const char *name;
	/* Takes all of an update's ranges as one batch and cuts it into requests itself. */
	bool whole_batch;
	/* Starts getting ranges r[0..n) (sorted, disjoint). One batch at a time. */
	int (*request)(void *priv, const struct zu_range *r, size_t n, struct zu_err *err);
	/* 1 = a record in *out, 0 = the batch is complete, <0 = error. */
	int (*next)(void *priv, struct zu_fetch_rec *out, struct zu_err *err);
	/* Reads the first n bytes of the resource (for its header); returns the count. */
	ssize_t (*read_head)(void *priv, void *buf, size_t n, struct zu_err *err);
	/* Transport figures so far (may be NULL: the front end's own count is used). */
	void (*stats)(void *priv, struct zu_fetch_stats *out);
	void (*free)(void *priv);
};

struct zu_fetch {
	const struct zu_fetch_ops *ops;
	void *priv;
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
 * Opens a fetcher for url: http:// or https:// (through the downloader
 * process, configured by net), file://PATH or a plain path. Returns a new
 * fetcher in *out; free with zu_fetch_free().
 */
int zu_fetch_open(const char *url, const struct zu_limits *lim, const struct zu_net_cfg *net,
		  struct zu_fetch **out, struct zu_err *err) __attribute__((warn_unused_result));
void zu_fetch_free(struct zu_fetch *f);
/* True for the URLs the downloader handles. */
bool zu_fetch_is_remote(const char *url);
/* Reads up to n bytes from the start of the resource; returns the count. */
ssize_t zu_fetch_read_head(struct zu_fetch *f, void *buf, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Reads exactly [off, off+n) into buf through the checked record stream. */
int zu_fetch_read_at(struct zu_fetch *f, void *buf, uint64_t off, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_fetch_get_stats(const struct zu_fetch *f, struct zu_fetch_stats *out);
/* r must stay valid until the batch is complete. */
int zu_fetch_request(struct zu_fetch *f, const struct zu_range *r, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
/* 1 = checked record, 0 = batch complete (all bytes asked for received), <0 error. */
int zu_fetch_next(struct zu_fetch *f, struct zu_fetch_rec *out, struct zu_err *err)
	__attribute__((warn_unused_result));

/* Backends. */
int zu_fetch_file_open(const char *path, const struct zu_limits *lim, struct zu_fetch *f,
		       struct zu_err *err) __attribute__((warn_unused_result));
/* Starts the downloader process for url (fetch_proc.c). */
int zu_fetch_proc_open(const char *url, const struct zu_net_cfg *net, struct zu_fetch *f,
		       struct zu_err *err) __attribute__((warn_unused_result));
/*
 * The privileged side on an already connected socket (owned from now on);
 * pid is reaped on free when > 0. For tests that play the downloader.
 */
int zu_fetch_proc_attach(int sock, pid_t pid, const zu_cancel_t *cancel,
			 struct zu_fetch *f, struct zu_err *err) __attribute__((warn_unused_result));

#endif
