/* SPDX-License-Identifier: MIT */
/*
 * api_update - the public plan and apply: opens the sources and the
 * destination, and wires index -> in-place check -> plan -> fetch ->
 * assemble -> sink (plan: in-place check first). No format logic here.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_private.h"
#include "assemble.h"
#include "fetch/fetch.h"
#include "fine_apply.h"
#include "fssize.h"
#include "index.h"
#include "inplace.h"
#include "io.h"
#include "plan.h"
#include "precheck.h"
#include "sink/sink.h"
#include "sink/sink_user.h"

struct zckup_plan {
	struct zu_plan plan;
	bool fine;
	struct zu_fine_stats fine_st;
	uint64_t source_bytes;
	size_t n_index_located;
	uint64_t target_offset; /* for in-place chunks' offsets */
};

/* What indexing found out beyond the plan. */
struct index_result {
	uint64_t source_bytes;  /* read to index or to check index places */
	size_t n_index_located; /* located through index headers */
	struct zu_index_check_stats check; /* apply only */
};

/* What the sources and the target hold, opened for one plan or apply. */
struct update_inputs {
	struct zu_index_source *ix;
	int *fds;
	size_t n;
	int target_fd;    /* readable raw target, -1 when none */
	bool *in_place;   /* per chunk, NULL when no target was checked */
	struct zu_index_cuts *cuts; /* per source, for a fine header; else NULL */
};

static void inputs_close(struct update_inputs *in)
{
	for (size_t i = 0; in->fds && i < in->n; i++)
		if (in->fds[i] >= 0)
			close(in->fds[i]);
	free(in->fds);
	free(in->ix);
	free(in->in_place);
	zu_index_cuts_free(in->cuts, in->n);
	free(in->cuts);
	if (in->target_fd >= 0)
		close(in->target_fd);
	memset(in, 0, sizeof(*in));
	in->target_fd = -1;
}

/* Opens every source and checks its size limit. */
static int open_sources(zckup_ctx *ctx, const struct zckup_source *src, size_t n,
			struct update_inputs *in)
{
	int r = 0;

	in->n = n;
	in->ix = calloc(n ? n : 1, sizeof(*in->ix));
	in->fds = malloc((n ? n : 1) * sizeof(*in->fds));
	if (!in->ix || !in->fds)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		in->fds[i] = -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t size = 0;

		r = zu_io_open_ro(src[i].path, &in->fds[i], &ctx->err);
		if (r == 0)
			r = zu_io_size(in->fds[i], &size, &ctx->err);
		if (r == 0 && src[i].size > size)
			r = zu_err_set(&ctx->err, -EINVAL,
				       "source size %" PRIu64 " exceeds its %" PRIu64 " bytes",
				       src[i].size, size);
		if (r < 0)
			return zu_err_prefix(&ctx->err, "source %s", src[i].path);
		in->ix[i].fd = in->fds[i];
		in->ix[i].size = src[i].size ? src[i].size : size;
		in->ix[i].index = src[i].index ? &src[i].index->h : NULL;
	}
	return 0;
}

/*
 * Finds the chunks a raw target already holds at their place. A missing
 * target holds nothing; an unreadable one is an error.
 */
static int check_target(zckup_ctx *ctx, const struct zu_header *h, const char *path,
			uint64_t offset, const bool *only, struct update_inputs *in)
{
	struct zu_inplace_params ip = { .h = h, .target_offset = offset, .only = only };
	uint64_t held = 0;
	int r;

	in->target_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (in->target_fd < 0 && errno == ENOENT)
		return 0;
	if (in->target_fd < 0)
		return zu_err_sys(&ctx->err, errno, "target %s", path);
	r = zu_io_size(in->target_fd, &ip.target_size, &ctx->err);
	if (r < 0)
		return zu_err_prefix(&ctx->err, "target %s", path);
	in->in_place = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*in->in_place));
	if (!in->in_place)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	ip.target_fd = in->target_fd;
	ip.progress = zu_api_progress(ctx);
	r = zu_inplace_scan(&ip, in->in_place, &held, &ctx->err);
	if (r < 0)
		return zu_err_prefix(&ctx->err, "target %s", path);
	zu_api_log(ctx, ZCKUP_LOG_INFO, "target %s already holds %" PRIu64 " bytes in place", path,
		   held);
	return 0;
}

/*
 * apply: the chunks no source holds are checked in the target before they
 * are fetched (a re-run after an interruption fetches only what is
 * missing); the others are compared with the target as they are written
 * (assemble), so the target is not read a second time for them.
 */
static int check_fetched_in_place(zckup_ctx *ctx, const struct zu_header *h, const char *path,
				  uint64_t offset, struct update_inputs *in,
				  struct zu_seed_loc *locs)
{
	bool *only = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*only));
	int r;

	if (!only)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < h->n_chunks; i++)
		only[i] = locs[i].source == ZU_NO_SOURCE;
	r = check_target(ctx, h, path, offset, only, in);
	for (size_t i = 0; r == 0 && in->in_place && i < h->n_chunks; i++)
		if (in->in_place[i])
			locs[i] = (struct zu_seed_loc){ .source = ZU_IN_PLACE,
							.offset = h->chunks[i].image_offset };
	free(only);
	return r;
}

/*
 * Says when a source's index header locates nothing of the new image (the
 * header of another image?) or when places it claims did not hold their
 * chunks: neither is an error, those chunks are fetched, but the user
 * should know why an update fetched more than expected.
 */
static void report_index(zckup_ctx *ctx, const struct zu_header *h,
			 const struct zckup_source *src, const struct update_inputs *in,
			 const struct zu_seed_loc *locs, const struct index_result *res,
			 bool checked)
{
	for (size_t s = 0; s < in->n; s++) {
		size_t n = 0;

		if (!in->ix[s].index)
			continue;
		for (size_t i = 0; i < h->n_chunks; i++)
			n += locs[i].source == s;
		if (n == 0)
			zu_api_log(ctx, ZCKUP_LOG_WARNING,
				   "source %s: its index header locates none of the new image's "
				   "chunks (not held by an earlier source): is it the header of "
				   "another image?", src[s].path);
	}
	if (checked && res->check.n_stale > 0)
		zu_api_log(ctx, ZCKUP_LOG_WARNING,
			   "%zu of %zu chunks located by index headers are not where the index "
			   "says (source modified since, or an index of another image): %" PRIu64
			   " bytes fetched instead",
			   res->check.n_stale, res->check.n_checked, res->check.stale_bytes);
}

/*
 * Index the sources and plan the update; fills *plan and *res. With check,
 * the places taken from index headers are verified first (zu_index_check).
 */
static int index_and_plan(zckup_ctx *ctx, const struct zu_header *h,
			  const struct zckup_source *src, struct update_inputs *in,
			  size_t max_ranges, bool check, bool precheck, const char *late_target,
			  uint64_t target_offset, struct zu_plan *plan, struct index_result *res)
{
	struct zu_index_params ip = { .h = h, .sources = in->ix, .n_sources = in->n,
				      .in_place = in->in_place, .threads = zu_api_threads(ctx) };
	struct zu_plan_params pp = { .max_ranges = max_ranges, .max_gap = UINT64_MAX,
				     .take_locs = true };
	struct zu_index_stats st = { 0 };
	unsigned n_threads = (unsigned)zu_api_threads(ctx);
	struct zu_seed_loc *locs;
	int r;

	if (max_ranges > ctx->lim.max_ranges)
		return zu_err_set(&ctx->err, -EINVAL, "max ranges %zu exceeds the limit %zu",
				  max_ranges, ctx->lim.max_ranges);
	locs = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*locs));
	if (!locs)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory for %zu chunk locations",
				  h->n_chunks);
	ip.progress = zu_api_progress(ctx);
	if (h->fine.valid && in->n > 0 && !in->cuts)
		in->cuts = calloc(in->n, sizeof(*in->cuts)); /* NULL: fine runs the chunker */
	ip.cuts = in->cuts;
	r = zu_index_run(&ip, locs, &st, &ctx->err);
	res->n_index_located = st.n_indexed;
	if (r == 0 && check && precheck && st.n_indexed > 0)
		r = zu_precheck_run(&ip, locs, n_threads, &res->check, &ctx->err);
	if (r == 0)
		report_index(ctx, h, src, in, locs, res, check);
	if (r == 0 && late_target)
		r = check_fetched_in_place(ctx, h, late_target, target_offset, in, locs);
	if (r == 0)
		r = zu_plan_build(h, locs, &pp, plan, &ctx->err); /* takes locs */
	else
		free(locs);
	res->source_bytes = st.bytes_read + res->check.bytes_read;
	return r;
}

/*
 * Sources, optional target check, index, plan: what plan and apply share.
 * plan checks the whole target first (its figures count every chunk in
 * place); apply (check) only what it would fetch, after indexing. With
 * check but not precheck, places from index headers are left unchecked
 * (apply_once: assemble checks them as it reads them).
 */
static int prepare(zckup_ctx *ctx, const struct zu_header *h, const struct zckup_source *src,
		   size_t n, const char *target, uint64_t target_offset, size_t max_ranges,
		   bool check, bool precheck, struct update_inputs *in, struct zu_plan *plan,
		   struct index_result *res)
{
	int r;

	in->target_fd = -1;
	if (n && !src)
		return zu_err_set(&ctx->err, -EINVAL, "sources missing");
	r = open_sources(ctx, src, n, in);
	if (r == 0 && target && !check)
		r = check_target(ctx, h, target, target_offset, NULL, in);
	if (r == 0)
		r = index_and_plan(ctx, h, src, in, max_ranges, check, precheck,
				   check ? target : NULL,
				   target_offset, plan, res);
	return r;
}

/* ---- the fine profile ---------------------------------------------------- */

/* Pieces can come only from sources: without one, tables would be bytes for nothing. */
static bool fine_usable(const struct zu_header *h, const struct zu_plan *plan,
			const struct update_inputs *in)
{
	uint64_t source_bytes = 0;

	for (size_t i = 0; i < in->n; i++)
		source_bytes += in->ix[i].size;
	return h->fine.valid && !h->has_dict && h->comp_type == ZU_COMP_ZSTD && plan->n_net > 0 &&
	       source_bytes > 0;
}

/*
 * Fetches the piece tables of the missing chunks from url (the .zck's lead
 * checked first, as for any fetch) and reads the sources for their pieces.
 * *out_fine stays NULL when no missing chunk has a table (nothing to gain).
 * *out_bytes0: the fetcher's byte count before the tables.
 */
static int fine_prepare(zckup_ctx *ctx, const char *url, const struct zu_header *h,
			const struct zu_plan *plan, const struct update_inputs *in,
			struct zu_fine **out_fine, struct zu_fetch **out_fetch,
			struct zu_range **out_owned, uint64_t *out_bytes0)
{
	const struct zu_range *tr = NULL;
	struct zu_progress pg = zu_api_progress(ctx);
	struct zu_fine *fine = NULL;
	uint64_t *sizes = NULL;
	size_t ntr = 0;
	int r;

	*out_fine = NULL;
	r = zu_fine_new(h, plan->locs, &fine, &tr, &ntr, &ctx->err);
	if (r < 0 || ntr == 0)
		goto out;
	r = zu_api_start_fetch(ctx, url, h, tr, ntr, out_fetch, out_owned);
	if (r < 0)
		goto out;
	*out_bytes0 = (*out_fetch)->bytes;
	r = zu_fine_read_tables(fine, *out_fetch, &ctx->err);
	if (r < 0)
		goto out;
	sizes = malloc((in->n ? in->n : 1) * sizeof(*sizes));
	if (!sizes) {
		r = zu_err_set(&ctx->err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < in->n; i++)
		sizes[i] = in->ix[i].size;
	r = zu_fine_index(fine, in->fds, sizes, in->cuts, in->n, (unsigned)zu_api_threads(ctx), &pg,
			  &ctx->err);
	if (r < 0)
		goto out;
	*out_fine = fine;
	fine = NULL;
out:
	free(sizes);
	zu_fine_free(fine);
	return r;
}

static void fine_log(zckup_ctx *ctx, const struct zu_fine_stats *st)
{
	zu_api_log(ctx, ZCKUP_LOG_INFO,
		   "fine: %zu piece tables (%" PRIu64 " bytes) read; of %zu pieces, %zu (%" PRIu64
		   " bytes) are in the sources, %zu to fetch (%" PRIu64 " frame bytes); %zu "
		   "malformed tables", st->n_chunks - st->n_bad_tables, st->table_bytes,
		   st->n_pieces, st->n_reused, st->reused_bytes, st->n_fetched, st->frame_bytes,
		   st->n_bad_tables);
}

struct fine_cb {
	struct zu_fine *fine;
	struct zu_fine_io io;
};

/*
 * What a fine plan's fetch costs on the wire, as plan.c counts it for whole
 * chunks: every range a multipart part, and one answer per request of frames
 * (the downloader asks for at most ZU_PLAN_DEFAULT_MAX_RANGES ranges and
 * ZU_PLAN_REQUEST_BYTES a request; the tables take one more request).
 */
static uint64_t fine_wire_estimate(const struct zu_fine_stats *f)
{
	uint64_t by_ranges = (f->n_ranges + ZU_PLAN_DEFAULT_MAX_RANGES - 1) / ZU_PLAN_DEFAULT_MAX_RANGES;
	uint64_t by_bytes = (f->fetch_bytes + ZU_PLAN_REQUEST_BYTES - 1) / ZU_PLAN_REQUEST_BYTES;
	uint64_t answers = 1 + (by_ranges > by_bytes ? by_ranges : by_bytes);

	return f->fetch_bytes + f->n_ranges * (uint64_t)ZU_PLAN_PART_OVERHEAD +
	       answers * ZU_PLAN_ANSWER_OVERHEAD;
}

static int fine_prepare_chunk(void *user, size_t i, uint8_t *cbuf, size_t cap,
			      struct zu_err *err)
{
	struct fine_cb *cb = user;

	return zu_fine_prepare_chunk(cb->fine, &cb->io, i, cbuf, cap, err);
}

static int fine_build_chunk(void *user, struct zu_decomp *dc, size_t i, const uint8_t *cbuf,
			    uint8_t *ubuf, struct zu_err *err)
{
	const struct fine_cb *cb = user;

	return zu_fine_build_chunk(cb->fine, cb->io.source_fds, cb->io.n_sources, dc, i, cbuf,
				   ubuf, err);
}

static int fine_fallback_chunk(void *user, size_t i, uint8_t *ubuf, struct zu_err *err)
{
	struct fine_cb *cb = user;

	return zu_fine_fallback_chunk(cb->fine, &cb->io, i, ubuf, err);
}

ZCKUP_API int zckup_plan_new(zckup_ctx *ctx, const zckup_header *zh,
			     const struct zckup_plan_opts *o, zckup_plan **out)
{
	return zu_api_plan_new(ctx, zh, o, out, NULL);
}

int zu_api_plan_new(zckup_ctx *ctx, const zckup_header *zh, const struct zckup_plan_opts *o,
		    zckup_plan **out, struct zu_fine **out_fine)
{
	struct update_inputs in = { .target_fd = -1 };
	struct index_result res = { 0 };
	zckup_plan *zp = NULL;
	int r;

	if (out_fine)
		*out_fine = NULL;
	zu_err_clear(&ctx->err);
	if (!zh || !o)
		return zu_err_set(&ctx->err, -EINVAL, "plan needs a header");
	zp = calloc(1, sizeof(*zp));
	if (!zp)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	zp->target_offset = o->target_offset;
	/* A plan reads nothing of a source with an index: its places stay unchecked. */
	r = prepare(ctx, &zh->h, o->sources, o->n_sources, o->target, o->target_offset,
		    o->max_ranges, false, false, &in, &zp->plan, &res);
	zp->source_bytes = res.source_bytes;
	zp->n_index_located = res.n_index_located;
	if (r == 0 && o->url && !o->no_fine && fine_usable(&zh->h, &zp->plan, &in)) {
		struct zu_fine *fine = NULL;
		struct zu_fetch *fetch = NULL;
		struct zu_range *owned = NULL;
		uint64_t bytes0 = 0;

		r = fine_prepare(ctx, o->url, &zh->h, &zp->plan, &in, &fine, &fetch, &owned,
				 &bytes0);
		if (r == 0 && fine) {
			zu_fine_get_stats(fine, &zp->fine_st);
			zp->fine = true;
			fine_log(ctx, &zp->fine_st);
		}
		if (r == 0 && out_fine) {
			*out_fine = fine; /* the caller's now */
			fine = NULL;
		}
		zu_fine_free(fine);
		free(owned);
		if (r < 0)
			zu_api_fetcher_close(ctx);
	}
	inputs_close(&in);
	if (r < 0) {
		zckup_plan_free(zp);
		return zu_api_fail(ctx, r);
	}
	*out = zp;
	return 0;
}

const struct zu_plan *zu_api_plan_get(const zckup_plan *zp)
{
	return &zp->plan;
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

	memset(out, 0, sizeof(*out));
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
	out->n_in_place = p->n_in_place;
	out->in_place_bytes = p->in_place_bytes;
	out->wire_bytes_estimate = p->wire_estimate;
	out->n_index_located = zp->n_index_located;
	if (zp->fine) {
		const struct zu_fine_stats *f = &zp->fine_st;

		out->fine = 1;
		out->fine_fetch_bytes = f->fetch_bytes;
		out->fine_table_bytes = f->table_bytes;
		out->n_pieces = f->n_pieces;
		out->n_pieces_reused = f->n_reused;
		out->pieces_reused_bytes = f->reused_bytes;
		out->n_pieces_fetched = f->n_fetched;
		out->pieces_frame_bytes = f->frame_bytes;
		out->n_fine_ranges = f->n_ranges;
		out->wire_bytes_estimate = fine_wire_estimate(f);
	}
}

/* ZU_IN_PLACE locations hold the image offset; the public offset is the target's. */
static uint64_t origin_offset(const zckup_plan *zp, const struct zu_seed_loc *l)
{
	return l->source == ZU_IN_PLACE ? zp->target_offset + l->offset : l->offset;
}

static enum zckup_origin origin_of(const struct zu_seed_loc *l)
{
	if (l->source == ZU_IN_PLACE)
		return ZCKUP_FROM_TARGET;
	return l->source == ZU_NO_SOURCE ? ZCKUP_FROM_FETCH : ZCKUP_FROM_SOURCE;
}

ZCKUP_API int zckup_plan_get_chunk(const zckup_plan *zp, size_t i, struct zckup_plan_chunk *out)
{
	const struct zu_seed_loc *l;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!zp || !out || i >= zp->plan.n_chunks || !zp->plan.locs)
		return -EINVAL;
	l = &zp->plan.locs[i];
	out->origin = origin_of(l);
	out->from_source = out->origin == ZCKUP_FROM_SOURCE;
	out->source = out->from_source ? l->source : 0;
	out->source_offset = out->origin == ZCKUP_FROM_FETCH ? 0 : origin_offset(zp, l);
	return 0;
}

/* ---- apply --------------------------------------------------------------- */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_dests(const struct zckup_apply_opts *o)
{
	return !!o->target + !!o->output + !!o->exec + !!o->use_fd + !!o->sink;
}

/*
 * A raw target must not be the artifact being read (the .zck at a local url,
 * or the file the header came from), whatever path or loop device names it;
 * and a character device (UBI volume, MTD) is refused unless the in-place
 * check is off: what such a device holds cannot be read back as written
 * (flash needs erasing; a UBI volume is rewritten whole by ubiupdatevol), so
 * "already in place" could not be trusted there.
 */
static int check_target_kind(zckup_ctx *ctx, const struct zckup_apply_opts *o)
{
	struct zu_io_region t = { o->target, o->target_offset, o->header->h.image_len };
	const char *art[2] = { o->header->path, NULL };
	struct stat st;

	if (o->url && !strstr(o->url, "://"))
		art[1] = o->url;
	else if (o->url && !strncmp(o->url, "file://", 7))
		art[1] = o->url + 7;
	for (size_t i = 0; i < 2; i++) {
		struct zu_io_region a = { art[i], 0, UINT64_MAX };

		if (art[i] && zu_io_regions_overlap(&t, &a))
			return zu_err_set(&ctx->err, -EINVAL,
					  "target %s is the %s being read (%s): refusing to "
					  "overwrite it", o->target, i ? ".zck" : "header", art[i]);
	}
	if (stat(o->target, &st) == 0 && S_ISCHR(st.st_mode) && !o->no_in_place)
		return zu_err_set(&ctx->err, -EINVAL,
				  "target %s is a character device (UBI volume, MTD?): the in-place "
				  "check cannot trust what it reads back there; use --rewrite-all "
				  "(no_in_place), or --exec 'ubiupdatevol -s SIZE DEV -'",
				  o->target);
	return 0;
}

static int check_apply_opts(zckup_ctx *ctx, const struct zckup_apply_opts *o)
{
	if (!o || !o->header)
		return zu_err_set(&ctx->err, -EINVAL, "apply needs a header");
	if (count_dests(o) != 1)
		return zu_err_set(&ctx->err, -EINVAL,
				  "apply needs exactly one destination (target, output, exec, "
				  "fd or sink), not %d",
				  count_dests(o));
	if (o->n_sources && !o->sources)
		return zu_err_set(&ctx->err, -EINVAL, "sources missing");
	/* An atomic output may replace a source: the source's old inode stays readable. */
	for (size_t i = 0; o->target && i < o->n_sources; i++) {
		const struct zckup_source *s = &o->sources[i];
		struct zu_io_region t = { o->target, o->target_offset, o->header->h.image_len };
		struct zu_io_region src = { s->path, 0, s->size ? s->size : UINT64_MAX };

		if (zu_io_regions_overlap(&t, &src))
			return zu_err_set(&ctx->err, -EINVAL,
					  "target %s (from offset %" PRIu64 ") overlaps source %s: "
					  "refusing to overwrite the image being read",
					  o->target, o->target_offset, s->path);
	}
	/* The saved index is written after the image: it must not land on it nor on a source. */
	for (size_t i = 0; o->save_index && i <= o->n_sources; i++) {
		const char *other = i < o->n_sources ? o->sources[i].path
				    : o->target ? o->target : o->output;
		struct zu_io_region a = { o->save_index, 0, UINT64_MAX };
		struct zu_io_region b = { other, 0, UINT64_MAX };

		if (other && (!strcmp(o->save_index, other) || zu_io_regions_overlap(&a, &b)))
			return zu_err_set(&ctx->err, -EINVAL,
					  "save index %s is the same file as %s, which the update "
					  "reads or writes: refusing it", o->save_index, other);
	}
	return o->target ? check_target_kind(ctx, o) : 0;
}

static int open_dest(zckup_ctx *ctx, const struct zckup_apply_opts *o, struct zu_sink *sink)
{
	if (o->target) {
		struct zu_sink_raw_params rp = { .path = o->target,
						 .offset = o->target_offset,
						 .image_size = o->header->h.image_len };

		return zu_sink_raw_open(&rp, sink, &ctx->err);
	}
	if (o->output)
		return zu_sink_file_open(o->output, sink, &ctx->err);
	if (o->exec)
		return zu_sink_exec_open(o->exec, sink, &ctx->err);
	if (o->use_fd)
		return zu_sink_fd_open(o->fd, "output stream", sink, &ctx->err);
	return zu_sink_user_open(o->sink, o->sink_user, sink, &ctx->err);
}

/* The caller's on_chunk; told counts chunks already told of, across a start-over. */
struct relay {
	const struct zckup_apply_opts *o;
	size_t told;
};

static void relay_chunk(void *user, size_t i, const struct zu_seed_loc *l)
{
	struct relay *rl = user;
	const struct zckup_apply_opts *o = rl->o;
	enum zckup_origin origin = origin_of(l);

	/* after a start-over (apply_once), chunks told of already are not told again */
	if (i < rl->told)
		return;
	rl->told = i + 1;

	/* No sentinel leaks out: in place is origin FROM_TARGET, source 0, its target offset. */
	o->on_chunk(o->chunk_user, i, origin, origin == ZCKUP_FROM_SOURCE ? l->source : 0,
		    origin == ZCKUP_FROM_SOURCE ? l->offset
		    : origin == ZCKUP_FROM_TARGET ? o->target_offset + l->offset : 0);
}

static void fill_stats(const struct zckup_apply_opts *o, const struct zu_assemble_stats *st,
		       const struct zu_fetch *fetch, const struct index_result *res,
		       double seconds, struct zckup_apply_stats *out)
{
	struct zu_fetch_stats fs = { 0 };

	memset(out, 0, sizeof(*out));
	if (fetch) {
		zu_fetch_get_stats(fetch, &fs);
		out->wire_bytes = fs.wire_bytes;
		out->sent_bytes = fs.sent_bytes;
		out->n_retries = (size_t)fs.retries;
		out->n_stepdowns = (size_t)fs.stepdowns;
		out->fetch_mode = (enum zckup_fetch_mode)fs.mode;
		out->http_version = fs.http_version;
	}
	out->image_bytes = o->header->h.image_len;
	out->seed_bytes = st->seed_bytes;
	out->net_bytes = st->net_bytes;
	out->fetched_bytes = st->fetched_bytes;
	out->in_place_bytes = st->in_place_bytes;
	out->written_bytes = st->written_bytes;
	out->n_seed = st->n_seed;
	out->n_net = st->n_net;
	out->n_in_place = st->n_in_place;
	out->n_requests = st->n_requests;
	out->n_ranges = st->n_ranges;
	if (fetch && fetch->ops->whole_batch) {
		/* the backend cut the ranges into requests itself (and maybe stepped down) */
		out->n_requests = (size_t)fs.requests;
		out->n_ranges = (size_t)fs.ranges;
	}
	out->seconds = seconds;
	out->image_digest_checked = o->header->h.has_image_digest;
	out->n_index_located = res->n_index_located;
	out->n_stale_index = res->check.n_stale;
	out->stale_index_bytes = res->check.stale_bytes;
}

/* The installed image's header, for the next update's --source-index. */
static int save_index(zckup_ctx *ctx, const struct zckup_apply_opts *o)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = zu_header_rewrite_magic(&o->header->h, true, &buf, &len, &ctx->err);
	if (r == 0)
		r = zu_io_write_file_atomic(o->save_index, buf, len, &ctx->err);
	free(buf);
	if (r < 0)
		return zu_err_prefix(&ctx->err, "the image is written, but saving its index to %s "
				     "failed", o->save_index);
	return 0;
}

/*
 * Whether apply may leave the places that source index headers claim
 * unchecked until it reads them (one read and one hash of each reused byte,
 * not two): only where a stale place found half-way lets it start over, a
 * raw target (what was written is verified and stays; the re-run compares
 * it) or an atomic output (nothing is visible before commit). A stream
 * (command, fd, caller's sink) cannot be taken back: those check first.
 */
static bool may_start_over(const struct zckup_apply_opts *o)
{
	return o->target || o->output;
}

/*
 * One attempt at apply. Without precheck, a place from an index header that
 * does not hold its chunk fails with *out_stale set (sink aborted, fetcher
 * closed), and the caller starts over with precheck.
 */
static int apply_once(zckup_ctx *ctx, const struct zckup_apply_opts *o, bool precheck,
		      struct relay *rl, double t0, struct zckup_apply_stats *out,
		      bool *out_stale)
{
	struct update_inputs in = { .target_fd = -1 };
	struct zu_plan plan = ZU_PLAN_INIT;
	struct zu_assemble_stats st = { 0 };
	struct zu_assemble_params ap = { 0 };
	struct zu_sink sink = { 0 };
	struct zu_fetch *fetch = NULL;
	struct zu_range *lead_ranges = NULL;
	struct index_result res = { 0 };
	bool *unchecked = NULL;
	struct zu_fine *fine = NULL;
	struct fine_cb fcb = { 0 };
	uint64_t fine_bytes0 = 0;
	int r = 0;

	*out_stale = false;
	/* the downloader forks before indexing, so it shares none of the index's memory */
	if (zu_fetch_is_remote(o->url)) {
		r = zu_api_fetcher(ctx, o->url, &fetch);
		fetch = NULL;
		if (r < 0)
			goto out;
	}
	r = prepare(ctx, &o->header->h, o->sources, o->n_sources,
		    o->target && !o->no_in_place ? o->target : NULL, o->target_offset,
		    o->max_ranges, true, precheck, &in, &plan, &res);
	if (r < 0)
		goto out;
	if (!precheck) {
		unchecked = calloc(in.n ? in.n : 1, sizeof(*unchecked));
		if (!unchecked) {
			r = zu_err_set(&ctx->err, -ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < in.n; i++)
			unchecked[i] = in.ix[i].index != NULL;
	}
	zu_api_log(ctx, ZCKUP_LOG_INFO,
		   "chunks: %zu in place, %zu from sources, %zu to fetch in %zu range%s",
		   plan.n_in_place, plan.n_seed, plan.n_net, plan.n_ranges,
		   plan.n_ranges == 1 ? "" : "s");
	if (o->url && !o->no_fine && fine_usable(&o->header->h, &plan, &in)) {
		/* before the destination is opened, as below */
		r = fine_prepare(ctx, o->url, &o->header->h, &plan, &in, &fine, &fetch,
				 &lead_ranges, &fine_bytes0);
		if (r < 0)
			goto out;
	}
	if (fine) {
		struct zu_fine_stats fst;

		zu_fine_get_stats(fine, &fst);
		fine_log(ctx, &fst);
	} else if (plan.n_ranges > 0) {
		if (!o->url) {
			r = zu_err_set(&ctx->err, -EINVAL,
				       "%zu chunks are missing from the sources and no URL "
				       "was given to fetch them from",
				       plan.n_net);
			goto out;
		}
		/* before the destination is opened: a wrong .zck must not touch it */
		r = zu_api_start_fetch(ctx, o->url, &o->header->h, plan.ranges, plan.n_ranges,
				       &fetch, &lead_ranges);
		if (r < 0)
			goto out;
	}
	r = open_dest(ctx, o, &sink);
	if (r < 0)
		goto out;
	ap.h = &o->header->h;
	ap.plan = &plan;
	ap.source_fds = in.fds;
	ap.n_sources = in.n;
	ap.fetch = fetch;
	ap.fetch_started = fetch != NULL && !fine;
	if (fine) {
		fcb.fine = fine;
		fcb.io = (struct zu_fine_io){ .fetch = fetch, .source_fds = in.fds,
					      .n_sources = in.n, .max_ranges = o->max_ranges,
					      .url = o->url, .lim = &ctx->lim, .net = &ctx->net };
		ap.made_prepare = fine_prepare_chunk;
		ap.made_build = fine_build_chunk;
		ap.made_fallback = fine_fallback_chunk;
		ap.made_user = &fcb;
	}
	ap.sink = &sink;
	ap.target_fd = in.target_fd;
	ap.target_offset = o->target_offset;
	ap.progress = zu_api_progress(ctx);
	ap.lim = &ctx->lim;
	/*
	 * The calling thread (fetch records, writes) and the image digest's thread are
	 * busy too: by default one worker fewer than the CPUs. One worker per CPU was
	 * measured slower on 2 CPUs (512 MiB pair, --source-index: 1.5-2.0 s against
	 * 1.1-1.2 s), the threads preempting the writer.
	 */
	ap.threads = (unsigned)zu_api_threads(ctx);
	if (ctx->threads == 0 && ap.threads > 1)
		ap.threads--;
	ap.index_unchecked = unchecked;
	if (o->on_chunk) {
		ap.on_chunk = relay_chunk;
		ap.chunk_user = rl;
	}
	r = zu_assemble_run(&ap, &st, &ctx->err);
	*out_stale = r < 0 && st.index_stale;
	if (r == 0 && o->save_index)
		r = save_index(ctx, o);
	if (r == 0 && out)
		fill_stats(o, &st, fetch, &res, now_seconds() - t0, out);
	if (r == 0 && out && fine) {
		struct zu_fine_stats fst;

		zu_fine_get_stats(fine, &fst);
		out->fine = 1;
		out->fetched_bytes = fetch->bytes - fine_bytes0 + fst.side_bytes;
		if (!fetch->ops->whole_batch) {
			out->n_requests = fetch->n_requests;
			out->n_ranges = fetch->n_ranges_total;
		}
		out->n_pieces_reused = fst.n_reused;
		out->pieces_reused_bytes = fst.reused_bytes;
		out->n_pieces_fetched = fst.n_fetched;
		out->pieces_fetched_bytes = fst.fetched_piece_bytes;
		out->piece_table_bytes = fst.table_bytes;
		out->n_fine_fallback = fst.n_fallback;
		out->n_bad_piece_tables = fst.n_bad_tables;
		if (fst.n_fallback)
			zu_api_log(ctx, ZCKUP_LOG_WARNING,
				   "fine: %zu chunks rebuilt from pieces did not match their digest "
				   "(a source changed, or the piece tables lie): fetched whole "
				   "(%" PRIu64 " bytes) and verified", fst.n_fallback,
				   fst.fallback_bytes);
	}
out:
	zu_fine_free(fine);
	zu_sink_free(&sink);
	if (r < 0 && fetch)
		zu_api_fetcher_close(ctx); /* the downloader may be mid-job or gone */
	free(lead_ranges);
	free(unchecked);
	zu_plan_fini(&plan);
	inputs_close(&in);
	return r;
}

ZCKUP_API int zckup_apply(zckup_ctx *ctx, const struct zckup_apply_opts *o,
			  struct zckup_apply_stats *out)
{
	struct relay rl = { .o = o };
	double t0 = now_seconds();
	bool precheck, stale = false;
	int r;

	zu_err_clear(&ctx->err);
	r = check_apply_opts(ctx, o);
	if (r < 0)
		return zu_api_fail(ctx, r);
	precheck = !may_start_over(o);
	r = apply_once(ctx, o, precheck, &rl, t0, out, &stale);
	if (stale && !precheck) {
		/* rare: a source changed since its index was made */
		zu_api_log(ctx, ZCKUP_LOG_INFO, "%s: checking every place index headers claim, "
			   "then starting over", ctx->err.msg);
		zu_err_clear(&ctx->err);
		r = apply_once(ctx, o, true, &rl, t0, out, &stale);
	}
	return r < 0 ? zu_api_fail(ctx, r) : 0;
}



/* ---- filesystem size ----------------------------------------------------- */

ZCKUP_API int zckup_detect_fs_size(zckup_ctx *ctx, const char *path, uint64_t *out_size)
{
	uint8_t buf[ZU_FSSIZE_PROBE_BYTES];
	const char *kind = NULL;
	uint64_t dev_size = 0;
	ssize_t got;
	int fd = -1, r;

	zu_err_clear(&ctx->err);
	r = zu_io_open_ro(path, &fd, &ctx->err);
	if (r < 0)
		return zu_api_fail(ctx, r);
	got = zu_io_read_full(fd, buf, sizeof(buf), &ctx->err);
	r = got < 0 ? (int)got : zu_fssize_probe(buf, (size_t)got, out_size, &kind, &ctx->err);
	/* Not finding a filesystem where one was promised is bad input, not a missing file. */
	if (r == -ENOENT)
		r = -EBADMSG;
	if (r == 0)
		r = zu_io_size(fd, &dev_size, &ctx->err);
	if (r == 0 && *out_size > dev_size)
		r = zu_err_set(&ctx->err, -EBADMSG,
			       "%s filesystem size %" PRIu64 " exceeds the %" PRIu64
			       " bytes there",
			       kind, *out_size, dev_size);
	close(fd);
	if (r < 0) {
		zu_err_prefix(&ctx->err, "%s", path);
		return zu_api_fail(ctx, r);
	}
	zu_api_log(ctx, ZCKUP_LOG_INFO, "%s: %s filesystem of %" PRIu64 " bytes", path, kind,
		   *out_size);
	return 0;
}
