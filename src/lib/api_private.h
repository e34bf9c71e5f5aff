/* SPDX-License-Identifier: MIT */
/*
 * api_private - what the two halves of the public API share: the context,
 * the header object, and the adapters for log and progress.
 */
#ifndef ZU_API_PRIVATE_H
#define ZU_API_PRIVATE_H

#include <signal.h>

#include "zckup.h"

#include "err.h"
#include "fetch/fetch.h"
#include "format.h"
#include "progress.h"
#include "zu_limits.h"

#define ZU_API_PHASES 5

struct zckup_ctx {
	struct zu_err err;
	struct zu_limits lim;
	enum zckup_log_level log_max;
	zckup_log_fn log_fn;
	void *log_user;
	zckup_progress_fn progress_fn;
	void *progress_user;
	/* throttling state of the progress adapter, per phase */
	uint64_t last_done[ZU_API_PHASES];
	uint64_t fetched;
	zu_cancel_t cancel; /* set by zckup_cancel(): any thread, or a signal handler */
	int threads;        /* zckup_set_threads(): 0 = online CPUs; zu_api_threads() resolves */
	/* network settings and the fetcher kept between a header fetch and apply */
	struct zu_net_cfg net;
	struct zu_fetch *fetch;
	char *fetch_url;
	bool fetch_header_known;      /* the header was read from fetch_url... */
	uint8_t fetch_header_digest[ZU_DIGEST_LEN]; /* ...and had this checksum */
};

struct zckup_header {
	struct zu_header h;
	char *path; /* the file it was read from (zckup_header_open), NULL otherwise; owned */
};

void zu_api_log(zckup_ctx *ctx, enum zckup_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A progress hook for internal stages that forwards to the caller's callback. */
struct zu_progress zu_api_progress(zckup_ctx *ctx);
/* The ctx's fetcher for url (opened or reused); borrowed, owned by ctx. */
int zu_api_fetcher(zckup_ctx *ctx, const char *url, struct zu_fetch **out);
/* Closes the ctx's fetcher (ctx free, or after a failure left it unusable). */
void zu_api_fetcher_close(zckup_ctx *ctx);
/*
 * Opens the fetcher for url and asks for ranges[0..n) as one batch. Unless h
 * was read from url itself, the .zck's lead is asked for in front of them and
 * checked to record h's checksum (-EILSEQ otherwise) before this returns; the
 * caller then owns *out_owned (free after the batch) and reads on with the
 * batch open.
 */
int zu_api_start_fetch(zckup_ctx *ctx, const char *url, const struct zu_header *h,
		       const struct zu_range *ranges, size_t n, struct zu_fetch **out_fetch,
		       struct zu_range **out_owned);
/*
 * Parses header bytes in place and checks the optional pin; *out on success.
 * Takes *buf (malloc'd) in every case and sets it to NULL.
 */
int zu_api_header_from_bytes(zckup_ctx *ctx, uint8_t **buf, size_t len,
			     const uint8_t *expect_sha256, zckup_header **out);
void zu_api_net_defaults(struct zu_net_cfg *net, const zu_cancel_t *cancel);
/* ctx->threads with 0 resolved to the online CPUs: >= 1. */
int zu_api_threads(const zckup_ctx *ctx);
struct zu_fine;
struct zu_plan;
/*
 * zckup_plan_new(), and with out_fine not NULL the fine state it planned with
 * (explain walks it; free with zu_fine_free(); NULL when the plan is not fine).
 */
int zu_api_plan_new(zckup_ctx *ctx, const zckup_header *zh, const struct zckup_plan_opts *o,
		    zckup_plan **out, struct zu_fine **out_fine);
/* The plan's per-chunk decisions and ranges; borrowed from zp. */
const struct zu_plan *zu_api_plan_get(const zckup_plan *zp);
/* Logs the failure at debug level and returns r. */
int zu_api_fail(zckup_ctx *ctx, int r);

#endif
