/* SPDX-License-Identifier: MIT */
/*
 * cli_progress - how long work shows itself: a one-line bar on a terminal
 * (phase, percentage, rate, ETA) or JSON lines for updaters and UIs, the
 * stderr logger, and signals that cancel the work.
 */
#define _GNU_SOURCE 1
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct progress_state {
	enum cli_progress_mode mode;
	FILE *json_out;
	bool showing;           /* a bar line is on screen */
	enum zckup_phase phase;
	double phase_start;
	double last_print;
};

/* The CLI is one process with one progress display. */
static struct progress_state ps;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *phase_name(enum zckup_phase p)
{
	switch (p) {
	case ZCKUP_PHASE_INDEX:
		return "index";
	case ZCKUP_PHASE_FETCH:
		return "fetch";
	case ZCKUP_PHASE_WRITE:
		return "write";
	case ZCKUP_PHASE_MAKE:
		return "make";
	case ZCKUP_PHASE_CHECK:
		return "check";
	case ZCKUP_PHASE_PIECES:
		return "pieces";
	}
	return "work";
}

static void print_bar(const struct zckup_progress *p, double rate)
{
	char done[32], total[32], speed[32], eta[32] = "";

	cli_human(p->done_bytes, done, sizeof(done));
	cli_human((uint64_t)rate, speed, sizeof(speed));
	if (p->total_bytes && rate > 0 && p->done_bytes < p->total_bytes) {
		double left = (double)(p->total_bytes - p->done_bytes) / rate;

		snprintf(eta, sizeof(eta), " ETA %d:%02d", (int)left / 60, (int)left % 60);
	}
	if (p->total_bytes)
		fprintf(stderr, "\r%-6s %5.1f%%  %s / %s  %s/s%s\033[K", phase_name(p->phase),
			100.0 * (double)p->done_bytes / (double)p->total_bytes, done,
			cli_human(p->total_bytes, total, sizeof(total)), speed, eta);
	else
		fprintf(stderr, "\r%-6s %s  %s/s\033[K", phase_name(p->phase), done, speed);
	ps.showing = true;
}

static void on_progress(void *user, const struct zckup_progress *p)
{
	double t = now(), rate;

	(void)user;
	if (p->phase != ps.phase || ps.phase_start == 0) {
		ps.phase = p->phase;
		ps.phase_start = t;
	}
	rate = t > ps.phase_start ? (double)p->done_bytes / (t - ps.phase_start) : 0;
	if (ps.mode == CLI_PROGRESS_JSON) {
		fprintf(ps.json_out,
			"{\"event\":\"progress\",\"phase\":\"%s\",\"done\":%" PRIu64
			",\"total\":%" PRIu64 ",\"fetched\":%" PRIu64 ",\"rate\":%.0f}\n",
			phase_name(p->phase), p->done_bytes, p->total_bytes, p->fetched_bytes, rate);
		fflush(ps.json_out);
		return;
	}
	/* A terminal needs no more than ten redraws a second. */
	if (t - ps.last_print < 0.1 && p->done_bytes != p->total_bytes)
		return;
	ps.last_print = t;
	print_bar(p, rate);
}

void cli_progress_done(void)
{
	if (ps.showing)
		fputs("\n", stderr);
	ps.showing = false;
}

static void log_print(void *user, enum zckup_log_level lvl, const char *module, const char *msg)
{
	(void)user;
	(void)module;
	cli_progress_done();
	fprintf(stderr, "zckup: %s%s\n", lvl == ZCKUP_LOG_WARNING ? "warning: " : "", msg);
}

static bool parse_progress(const char *arg, enum cli_progress_mode *out)
{
	if (!strcmp(arg, "bar"))
		*out = CLI_PROGRESS_BAR;
	else if (!strcmp(arg, "json"))
		*out = CLI_PROGRESS_JSON;
	else if (!strcmp(arg, "none"))
		*out = CLI_PROGRESS_NONE;
	else
		return false;
	return true;
}

int cli_common_option(int c, const char *arg, struct cli_common *com)
{
	switch (c) {
	case CLI_OPT_JSON:
		com->json = true;
		return EXIT_OK;
	case 'q':
		com->quiet = true;
		return EXIT_OK;
	case CLI_OPT_PROGRESS:
		if (!parse_progress(arg, &com->progress))
			return cli_usage_error("--progress wants bar, json or none, not '%s'", arg);
		com->progress_set = true;
		return EXIT_OK;
	default:
		return CLI_NOT_COMMON;
	}
}

void cli_common_defaults(struct cli_common *c)
{
	if (!c->report)
		c->report = stdout;
	if (!c->progress_set)
		c->progress = !c->quiet && isatty(STDERR_FILENO) ? CLI_PROGRESS_BAR
								 : CLI_PROGRESS_NONE;
}

void cli_attach(zckup_ctx *ctx, const struct cli_common *c)
{
	zckup_set_log(ctx, c->quiet ? ZCKUP_LOG_ERROR : ZCKUP_LOG_WARNING, log_print, NULL);
	ps.mode = c->progress;
	ps.json_out = c->report;
	if (c->progress != CLI_PROGRESS_NONE)
		zckup_set_progress(ctx, on_progress, NULL);
}

/* The context a signal cancels: one per process in the CLI. */
static zckup_ctx *signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_ctx)
		zckup_cancel(signal_ctx);
}

void cli_cancel_on_signals(zckup_ctx *ctx)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_ctx = ctx;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
