/* SPDX-License-Identifier: MIT */
/*
 * api - the public entry points (include/zckup.h) on top of the internal
 * modules: owns the context (last error, limits, callbacks), opens files,
 * wires index -> plan -> fetch -> assemble -> sink. No format logic here.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zckup.h"

#include "assemble.h"
#include "err.h"
#include "fetch/fetch.h"
#include "format.h"
#include "hash.h"
#include "index.h"
#include "io.h"
#include "zu_limits.h"
#include "make.h"
#include "plan.h"
#include "sink/sink.h"

#define PROGRESS_STEP (1u << 20)

struct zckup_ctx {
	struct zu_err err;
	struct zu_limits lim;
	enum zckup_log_level log_max;
	zckup_log_fn log_fn;
	void *log_user;
	zckup_progress_fn progress_fn;
	void *progress_user;
	/* throttling state of the progress adapter */
	enum zu_phase last_phase;
	uint64_t last_done;
};

struct zckup_header {
	struct zu_header h;
};

struct zckup_plan {
	struct zu_plan plan;
	uint64_t source_bytes;
};

ZCKUP_API const char *zckup_version(void)
{
	return ZCKUP_VERSION;
}

ZCKUP_API zckup_ctx *zckup_ctx_new(void)
{
	zckup_ctx *ctx = calloc(1, sizeof(*ctx));
	const struct zu_limits lim = ZU_LIMITS_DEFAULT;

	if (!ctx)
		return NULL;
	ctx->lim = lim;
	return ctx;
}

ZCKUP_API void zckup_ctx_free(zckup_ctx *ctx)
{
	free(ctx);
}

ZCKUP_API const char *zckup_errmsg(const zckup_ctx *ctx)
{
	return ctx ? ctx->err.msg : "no context";
}

ZCKUP_API int zckup_errcode(const zckup_ctx *ctx)
{
	return ctx ? ctx->err.code : -EINVAL;
}

ZCKUP_API void zckup_set_log(zckup_ctx *ctx, enum zckup_log_level max, zckup_log_fn fn,
			     void *user)
{
	ctx->log_max = max;
	ctx->log_fn = fn;
	ctx->log_user = user;
}

ZCKUP_API void zckup_set_progress(zckup_ctx *ctx, zckup_progress_fn fn, void *user)
{
	ctx->progress_fn = fn;
	ctx->progress_user = user;
}

ZCKUP_API void zckup_set_limits(zckup_ctx *ctx, const struct zckup_limits *lim)
{
	const struct zu_limits def = ZU_LIMITS_DEFAULT;

	ctx->lim.max_header = lim->max_header_bytes ? lim->max_header_bytes : def.max_header;
	ctx->lim.max_chunk = lim->max_chunk_bytes ? lim->max_chunk_bytes : def.max_chunk;
	ctx->lim.max_chunks = lim->max_chunks ? lim->max_chunks : def.max_chunks;
}

static void zu_log(zckup_ctx *ctx, enum zckup_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void zu_log(zckup_ctx *ctx, enum zckup_log_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx->log_fn || lvl > ctx->log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_user, lvl, "api", msg);
}

/* Forwards internal progress to the caller, at most every PROGRESS_STEP bytes. */
static void progress_adapter(void *user, enum zu_phase phase, uint64_t done, uint64_t total)
{
	zckup_ctx *ctx = user;
	struct zckup_progress p;

	if (!ctx->progress_fn)
		return;
	if (phase == ctx->last_phase && done < total && done - ctx->last_done < PROGRESS_STEP &&
	    done >= ctx->last_done)
		return;
	ctx->last_phase = phase;
	ctx->last_done = done;
	p.phase = (enum zckup_phase)phase;
	p.done_bytes = done;
	p.total_bytes = total;
	ctx->progress_fn(ctx->progress_user, &p);
}

static struct zu_progress ctx_progress(zckup_ctx *ctx)
{
	struct zu_progress p = { .fn = progress_adapter, .user = ctx };

	ctx->last_phase = (enum zu_phase)-1;
	ctx->last_done = 0;
	return p;
}

static int fail(zckup_ctx *ctx, int r)
{
	zu_log(ctx, ZCKUP_LOG_DEBUG, "failed (%d): %s", r, ctx->err.msg);
	return r;
}

/* ---- headers ------------------------------------------------------------- */

ZCKUP_API int zckup_header_open(zckup_ctx *ctx, const char *path, const uint8_t *expect_sha256,
				zckup_header **out)
{
	zckup_header *zh = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, r;

	zu_err_clear(&ctx->err);
	r = zu_io_open_ro(path, &fd, &ctx->err);
	if (r < 0)
		return fail(ctx, r);
	r = zu_io_read_header_bytes(fd, &ctx->lim, &buf, &len, &ctx->err);
	if (r < 0)
		goto out;
	zh = calloc(1, sizeof(*zh));
	if (!zh) {
		r = zu_err_set(&ctx->err, -ENOMEM, "out of memory");
		goto out;
	}
	r = zu_header_parse(&zh->h, buf, len, &ctx->lim, &ctx->err);
	if (r < 0)
		goto out;
	if (expect_sha256 && memcmp(expect_sha256, zh->h.header_digest, ZU_DIGEST_LEN) != 0) {
		char want[2 * ZU_DIGEST_LEN + 1], got[2 * ZU_DIGEST_LEN + 1];

		zu_hex(expect_sha256, ZU_DIGEST_LEN, want);
		zu_hex(zh->h.header_digest, ZU_DIGEST_LEN, got);
		r = zu_err_set(&ctx->err, -EKEYREJECTED,
			       "header checksum %s is not the pinned %s", got, want);
		goto out;
	}
	*out = zh;
	zh = NULL;
out:
	if (r < 0)
		zu_err_prefix(&ctx->err, "%s", path);
	if (zh) {
		zu_header_fini(&zh->h);
		free(zh);
	}
	free(buf);
	close(fd);
	return r < 0 ? fail(ctx, r) : 0;
}

ZCKUP_API void zckup_header_free(zckup_header *zh)
{
	if (!zh)
		return;
	zu_header_fini(&zh->h);
	free(zh);
}

ZCKUP_API void zckup_header_get_info(const zckup_header *zh, struct zckup_header_info *out)
{
	const struct zu_header *h = &zh->h;

	memset(out, 0, sizeof(*out));
	out->detached = h->detached;
	out->header_bytes = h->raw_len;
	out->data_bytes = h->data_len;
	out->image_bytes = h->image_len;
	out->n_chunks = h->n_chunks;
	out->flags = h->flags;
	out->has_dict = h->has_dict;
	out->dict_bytes = h->dict.comp_len;
	out->has_image_digest = h->has_image_digest;
	memcpy(out->image_digest, h->image_digest, ZU_DIGEST_LEN);
	memcpy(out->header_digest, h->header_digest, ZU_DIGEST_LEN);
	out->n_signatures = h->n_signatures;
	out->largest_chunk_bytes = h->max_chunk_len;
}

ZCKUP_API void zckup_header_get_chunk(const zckup_header *zh, size_t i,
				      struct zckup_chunk_info *out)
{
	const struct zu_chunk *c = &zh->h.chunks[i];

	memcpy(out->digest, c->digest, ZU_DIGEST_LEN);
	memcpy(out->udigest, c->udigest, ZU_DIGEST_LEN);
	out->file_offset = c->file_offset;
	out->image_offset = c->image_offset;
	out->comp_bytes = c->comp_len;
	out->bytes = c->len;
}

ZCKUP_API int zckup_header_write_detached(zckup_ctx *ctx, const zckup_header *zh,
					  const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	zu_err_clear(&ctx->err);
	r = zu_header_rewrite_magic(&zh->h, true, &buf, &len, &ctx->err);
	if (r == 0)
		r = zu_io_write_file_atomic(path, buf, len, &ctx->err);
	free(buf);
	return r < 0 ? fail(ctx, r) : 0;
}

/* ---- make ---------------------------------------------------------------- */

ZCKUP_API int zckup_make(zckup_ctx *ctx, const struct zckup_make_opts *o,
			 struct zckup_make_stats *out)
{
	struct zu_make_params p = { 0 };
	struct zu_make_result res = { 0 };
	long cpus;
	int r;

	zu_err_clear(&ctx->err);
	if (!o || !o->image || !o->output)
		return zu_err_set(&ctx->err, -EINVAL, "make needs an image and an output");
	if (o->level < 0 || o->level > 22)
		return zu_err_set(&ctx->err, -EINVAL, "zstd level %d is not in 1..22", o->level);
	if (o->threads < 0 || o->threads > 1024)
		return zu_err_set(&ctx->err, -EINVAL, "thread count %d is not in 1..1024",
				  o->threads);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	p.image = o->image;
	p.output = o->output;
	p.header_out = o->header_out;
	p.level = o->level ? o->level : ZCKUP_MAKE_DEFAULT_LEVEL;
	p.threads = o->threads ? o->threads : (cpus > 0 ? (int)cpus : 1);
	p.progress = ctx_progress(ctx);
	r = zu_make_run(&p, &res, &ctx->err);
	if (r < 0)
		return fail(ctx, r);
	if (out) {
		out->image_bytes = res.image_len;
		out->zck_bytes = res.zck_len;
		out->header_bytes = res.header_len;
		out->n_chunks = res.n_chunks;
		memcpy(out->image_digest, res.image_digest, ZU_DIGEST_LEN);
		memcpy(out->header_digest, res.header_digest, ZU_DIGEST_LEN);
	}
	return 0;
}

/* ---- sources, plan ------------------------------------------------------- */

static void close_sources(int *fds, size_t n)
{
	for (size_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
}

/* Opens every source and checks its size limit; *out_fds has n entries. */
static int open_sources(zckup_ctx *ctx, const struct zckup_source *src, size_t n,
			struct zu_index_source **out_ix, int **out_fds)
{
	struct zu_index_source *ix = calloc(n ? n : 1, sizeof(*ix));
	int *fds = malloc((n ? n : 1) * sizeof(*fds));
	int r = 0;

	if (!ix || !fds) {
		free(ix);
		free(fds);
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t size = 0;

		r = zu_io_open_ro(src[i].path, &fds[i], &ctx->err);
		if (r == 0)
			r = zu_io_size(fds[i], &size, &ctx->err);
		if (r == 0 && src[i].size > size)
			r = zu_err_set(&ctx->err, -EINVAL,
				       "source size %" PRIu64 " exceeds its %" PRIu64 " bytes",
				       src[i].size, size);
		if (r < 0) {
			zu_err_prefix(&ctx->err, "source %s", src[i].path);
			break;
		}
		ix[i].fd = fds[i];
		ix[i].size = src[i].size ? src[i].size : size;
	}
	if (r < 0) {
		close_sources(fds, n);
		free(ix);
		return r;
	}
	*out_ix = ix;
	*out_fds = fds;
	return 0;
}

/* Index the sources and plan the update; fills *plan and *out_source_bytes. */
static int index_and_plan(zckup_ctx *ctx, const struct zu_header *h,
			  const struct zu_index_source *ix, size_t n, size_t max_ranges,
			  struct zu_plan *plan, uint64_t *out_source_bytes)
{
	struct zu_index_params ip = { .h = h, .sources = ix, .n_sources = n };
	struct zu_plan_params pp = { .max_ranges = max_ranges, .max_gap = UINT64_MAX };
	struct zu_index_stats st = { 0 };
	struct zu_seed_loc *locs;
	int r;

	if (max_ranges > ctx->lim.max_ranges)
		return zu_err_set(&ctx->err, -EINVAL, "max ranges %zu exceeds the limit %zu",
				  max_ranges, ctx->lim.max_ranges);
	locs = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*locs));
	if (!locs)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory for %zu chunk locations",
				  h->n_chunks);
	ip.progress = ctx_progress(ctx);
	r = zu_index_run(&ip, locs, &st, &ctx->err);
	if (r == 0)
		r = zu_plan_build(h, locs, &pp, plan, &ctx->err);
	free(locs);
	*out_source_bytes = st.bytes_read;
	return r;
}

ZCKUP_API int zckup_plan_new(zckup_ctx *ctx, const zckup_header *zh,
			     const struct zckup_plan_opts *o, zckup_plan **out)
{
	struct zu_index_source *ix = NULL;
	zckup_plan *zp = NULL;
	int *fds = NULL;
	int r;

	zu_err_clear(&ctx->err);
	if (!zh || !o || (o->n_sources && !o->sources))
		return zu_err_set(&ctx->err, -EINVAL, "plan needs a header");
	zp = calloc(1, sizeof(*zp));
	if (!zp)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	r = open_sources(ctx, o->sources, o->n_sources, &ix, &fds);
	if (r == 0)
		r = index_and_plan(ctx, &zh->h, ix, o->n_sources, o->max_ranges, &zp->plan,
				   &zp->source_bytes);
	close_sources(fds, o->n_sources);
	free(ix);
	if (r < 0) {
		zckup_plan_free(zp);
		return fail(ctx, r);
	}
	*out = zp;
	return 0;
}

ZCKUP_API void zckup_plan_free(zckup_plan *zp)
{
	if (!zp)
		return;
	zu_plan_fini(&zp->plan);
	free(zp);
}

ZCKUP_API void zckup_plan_get_stats(const zckup_plan *zp, struct zckup_plan_stats *out)
{
	const struct zu_plan *p = &zp->plan;

	out->n_chunks = p->n_chunks;
	out->n_seed = p->n_seed;
	out->n_net = p->n_net;
	out->seed_bytes = p->seed_bytes;
	out->net_bytes = p->net_bytes;
	out->net_comp_bytes = p->net_comp_bytes;
	out->fetch_bytes = p->fetch_bytes;
	out->n_ranges = p->n_ranges;
	out->n_requests = p->n_requests;
	out->source_bytes = zp->source_bytes;
}

ZCKUP_API void zckup_plan_get_chunk(const zckup_plan *zp, size_t i, struct zckup_plan_chunk *out)
{
	const struct zu_seed_loc *l = &zp->plan.locs[i];

	out->from_source = l->source != ZU_NO_SOURCE;
	out->source = out->from_source ? l->source : 0;
	out->source_offset = out->from_source ? l->offset : 0;
}

/* ---- apply --------------------------------------------------------------- */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check_apply_opts(zckup_ctx *ctx, const struct zckup_apply_opts *o)
{
	const char *dest;

	if (!o || !o->header)
		return zu_err_set(&ctx->err, -EINVAL, "apply needs a header");
	if (!o->target == !o->output)
		return zu_err_set(&ctx->err, -EINVAL, "apply needs exactly one of target and output");
	dest = o->target ? o->target : o->output;
	if (o->n_sources && !o->sources)
		return zu_err_set(&ctx->err, -EINVAL, "sources missing");
	/* An atomic output may replace a source: the source's old inode stays readable. */
	for (size_t i = 0; o->target && i < o->n_sources; i++)
		if (zu_io_same_file(o->sources[i].path, dest))
			return zu_err_set(&ctx->err, -EINVAL,
					  "target %s is the same file as source %s: refusing to "
					  "overwrite the image being read",
					  dest, o->sources[i].path);
	return 0;
}

ZCKUP_API int zckup_apply(zckup_ctx *ctx, const struct zckup_apply_opts *o,
			  struct zckup_apply_stats *out)
{
	struct zu_plan plan = ZU_PLAN_INIT;
	struct zu_index_source *ix = NULL;
	struct zu_assemble_stats st = { 0 };
	struct zu_assemble_params ap = { 0 };
	struct zu_sink sink = { 0 };
	struct zu_fetch *fetch = NULL;
	uint64_t source_bytes = 0;
	double t0 = now_seconds();
	int *fds = NULL;
	int r;

	zu_err_clear(&ctx->err);
	r = check_apply_opts(ctx, o);
	if (r < 0)
		return fail(ctx, r);
	r = open_sources(ctx, o->sources, o->n_sources, &ix, &fds);
	if (r < 0)
		return fail(ctx, r);
	r = index_and_plan(ctx, &o->header->h, ix, o->n_sources, o->max_ranges, &plan,
			   &source_bytes);
	if (r < 0)
		goto out;
	zu_log(ctx, ZCKUP_LOG_INFO, "%zu chunks from sources, %zu to fetch in %zu ranges",
	       plan.n_seed, plan.n_net, plan.n_ranges);
	if (plan.n_ranges > 0) {
		if (!o->url) {
			r = zu_err_set(&ctx->err, -EINVAL,
				       "%zu chunks are missing from the sources and no URL "
				       "was given to fetch them from",
				       plan.n_net);
			goto out;
		}
		r = zu_fetch_open(o->url, &ctx->lim, &fetch, &ctx->err);
		if (r < 0)
			goto out;
	}
	if (o->target)
		r = zu_sink_raw_open(o->target, &sink, &ctx->err);
	else
		r = zu_sink_file_open(o->output, &sink, &ctx->err);
	if (r < 0)
		goto out;
	ap.h = &o->header->h;
	ap.plan = &plan;
	ap.source_fds = fds;
	ap.n_sources = o->n_sources;
	ap.fetch = fetch;
	ap.sink = &sink;
	ap.progress = ctx_progress(ctx);
	ap.lim = &ctx->lim;
	r = zu_assemble_run(&ap, &st, &ctx->err);
	if (r < 0)
		goto out;
	if (out) {
		out->image_bytes = o->header->h.image_len;
		out->seed_bytes = st.seed_bytes;
		out->net_bytes = st.net_bytes;
		out->fetched_bytes = st.fetched_bytes;
		out->n_seed = st.n_seed;
		out->n_net = st.n_net;
		out->n_requests = st.n_requests;
		out->n_ranges = st.n_ranges;
		out->seconds = now_seconds() - t0;
	}
out:
	if (sink.ops)
		zu_sink_free(&sink);
	zu_fetch_free(fetch);
	zu_plan_fini(&plan);
	close_sources(fds, o->n_sources);
	free(ix);
	return r < 0 ? fail(ctx, r) : 0;
}
