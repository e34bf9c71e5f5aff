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
	volatile sig_atomic_t cancel; /* set by zckup_cancel(), from a signal handler too */
};

struct zckup_header {
	struct zu_header h;
};

void zu_api_log(zckup_ctx *ctx, enum zckup_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A progress hook for internal stages that forwards to the caller's callback. */
struct zu_progress zu_api_progress(zckup_ctx *ctx);
/* Logs the failure at debug level and returns r. */
int zu_api_fail(zckup_ctx *ctx, int r);

#endif
