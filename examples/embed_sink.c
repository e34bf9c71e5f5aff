/* SPDX-License-Identifier: MIT */
/*
 * embed_sink - how an updater embeds libzckup with its own destination.
 *
 *   embed_sink HEADER ZCK SOURCE OUT
 *
 * Applies the update described by HEADER (a .zckh or .zck) from the .zck
 * file ZCK, reusing what SOURCE holds, and hands the verified image to a
 * custom sink: here one that writes OUT through stdio and counts what it got
 * (an updater would write a UBI volume, a socket, a decrypting layer...).
 * Log messages and progress go to stderr through the library's callbacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <zckup.h>

struct counting_file {
	FILE *f;
	uint64_t bytes;
	unsigned long writes;
};

static int sink_write(void *user, uint64_t off, const void *p, size_t n)
{
	struct counting_file *cf = user;

	(void)off; /* bytes arrive in order: off is always cf->bytes */
	if (fwrite(p, 1, n, cf->f) != n)
		return -EIO;
	cf->bytes += n;
	cf->writes++;
	return 0;
}

static int sink_commit(void *user, uint64_t size)
{
	struct counting_file *cf = user;

	if (cf->bytes != size || fflush(cf->f) != 0)
		return -EIO;
	return 0;
}

static void sink_abort(void *user)
{
	struct counting_file *cf = user;

	fprintf(stderr, "embed_sink: update failed after %" PRIu64 " bytes\n", cf->bytes);
}

static void on_log(void *user, enum zckup_log_level lvl, const char *module, const char *msg)
{
	(void)user;
	fprintf(stderr, "embed_sink: [%d %s] %s\n", (int)lvl, module, msg);
}

static void on_progress(void *user, const struct zckup_progress *p)
{
	unsigned *events = user;

	(*events)++;
	if (p->phase == ZCKUP_PHASE_WRITE && p->done_bytes == p->total_bytes)
		fprintf(stderr, "embed_sink: wrote %" PRIu64 " bytes\n", p->done_bytes);
}

int main(int argc, char **argv)
{
	static const struct zckup_sink_ops ops = {
		.write = sink_write,
		.commit = sink_commit,
		.abort = sink_abort,
	};
	struct counting_file cf = { 0 };
	struct zckup_source src = { 0 };
	struct zckup_apply_opts o = { 0 };
	struct zckup_apply_stats st;
	zckup_header *h = NULL;
	zckup_ctx *ctx;
	unsigned events = 0;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: %s HEADER ZCK SOURCE OUT\n", argv[0]);
		return 2;
	}
	ctx = zckup_ctx_new();
	cf.f = fopen(argv[4], "wb");
	if (!ctx || !cf.f) {
		perror("embed_sink");
		return 1;
	}
	zckup_set_log(ctx, ZCKUP_LOG_INFO, on_log, NULL);
	zckup_set_progress(ctx, on_progress, &events);
	r = zckup_header_open(ctx, argv[1], NULL, &h);
	if (r == 0) {
		src.path = argv[3];
		o.header = h;
		o.url = argv[2];
		o.sources = &src;
		o.n_sources = 1;
		o.sink = &ops;
		o.sink_user = &cf;
		r = zckup_apply(ctx, &o, &st);
	}
	if (r < 0)
		fprintf(stderr, "embed_sink: %s (%d)\n", zckup_errmsg(ctx), r);
	else
		printf("custom sink: %lu writes, %" PRIu64 " bytes, %" PRIu64 " reused, %" PRIu64
		       " fetched, %u progress events\n",
		       cf.writes, cf.bytes, st.seed_bytes, st.fetched_bytes, events);
	fclose(cf.f);
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r < 0 ? 1 : 0;
}
