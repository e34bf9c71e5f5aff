/* SPDX-License-Identifier: MIT */
/*
 * api - the public entry points for the context (last error, limits,
 * callbacks), headers and make. Plan and apply are in api_update.c.
 * No format logic here.
 */
#include "config.h"

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_private.h"
#include "format.h"
#include "hash.h"
#include "io.h"
#include "make.h"

#define PROGRESS_STEP (1u << 20)

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
	zu_api_net_defaults(&ctx->net, &ctx->cancel);
	return ctx;
}

ZCKUP_API void zckup_ctx_free(zckup_ctx *ctx)
{
	if (!ctx)
		return;
	zu_api_fetcher_close(ctx);
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

ZCKUP_API void zckup_cancel(zckup_ctx *ctx)
{
	atomic_store_explicit(&ctx->cancel, 1, memory_order_relaxed);
}

ZCKUP_API void zckup_set_limits(zckup_ctx *ctx, const struct zckup_limits *lim)
{
	const struct zu_limits def = ZU_LIMITS_DEFAULT;

	ctx->lim.max_header = lim->max_header_bytes ? lim->max_header_bytes : def.max_header;
	ctx->lim.max_chunk = lim->max_chunk_bytes ? lim->max_chunk_bytes : def.max_chunk;
	ctx->lim.max_chunks = lim->max_chunks ? lim->max_chunks : def.max_chunks;
}

ZCKUP_API int zckup_set_threads(zckup_ctx *ctx, int threads)
{
	zu_err_clear(&ctx->err);
	if (threads < 0 || threads > 1024)
		return zu_err_set(&ctx->err, -EINVAL, "thread count %d is not in 0..1024", threads);
	ctx->threads = threads;
	return 0;
}

/*
 * 0 = the online CPUs this process may run on: its affinity mask (taskset,
 * a cpuset), else all online CPUs. Workers beyond those would only take turns.
 */
int zu_api_threads(const zckup_ctx *ctx)
{
	cpu_set_t set;
	long cpus;

	if (ctx->threads > 0)
		return ctx->threads;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		cpus = CPU_COUNT(&set);
	else
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (cpus < 1024 ? (int)cpus : 1024) : 1;
}

void zu_api_log(zckup_ctx *ctx, enum zckup_log_level lvl, const char *fmt, ...)
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

/* Forwards internal progress to the caller: about every PROGRESS_STEP bytes per phase. */
static void progress_adapter(void *user, enum zu_phase phase, uint64_t done, uint64_t total)
{
	zckup_ctx *ctx = user;
	struct zckup_progress p;
	uint64_t step = phase == ZU_PHASE_FETCH ? PROGRESS_STEP / 16 : PROGRESS_STEP;
	unsigned i = (unsigned)phase < ZU_API_PHASES ? (unsigned)phase : 0;

	if (phase == ZU_PHASE_FETCH)
		ctx->fetched = done;
	if (!ctx->progress_fn)
		return;
	if (done < total && done >= ctx->last_done[i] && done - ctx->last_done[i] < step &&
	    ctx->last_done[i] != UINT64_MAX)
		return;
	ctx->last_done[i] = done;
	p.phase = (enum zckup_phase)phase;
	p.done_bytes = done;
	p.total_bytes = total;
	p.fetched_bytes = ctx->fetched;
	ctx->progress_fn(ctx->progress_user, &p);
}

struct zu_progress zu_api_progress(zckup_ctx *ctx)
{
	struct zu_progress p = { .fn = progress_adapter, .user = ctx, .cancel = &ctx->cancel };

	/* UINT64_MAX: the first report of each phase always goes through */
	for (unsigned i = 0; i < ZU_API_PHASES; i++)
		ctx->last_done[i] = UINT64_MAX;
	ctx->fetched = 0;
	return p;
}

int zu_api_fail(zckup_ctx *ctx, int r)
{
	zu_api_log(ctx, ZCKUP_LOG_DEBUG, "failed (%d): %s", r, ctx->err.msg);
	return r;
}

/* ---- headers ------------------------------------------------------------- */

/* SHA-256 of the header's bytes with the given magic in front (either file form). */
static int form_digest(const struct zu_header *h, const uint8_t magic[5],
		       uint8_t out[ZU_DIGEST_LEN], struct zu_err *err)
{
	struct zu_sha256 s = ZU_SHA256_INIT;
	int r = zu_sha256_init(&s, err);

	if (r == 0)
		r = zu_sha256_update(&s, magic, 5, err);
	if (r == 0)
		r = zu_sha256_update(&s, h->raw + 5, h->raw_len - 5, err);
	if (r == 0)
		r = zu_sha256_final(&s, out, err);
	zu_sha256_fini(&s);
	return r;
}

/*
 * A pin names the header by zchunk's header checksum (what inspect prints) or
 * by the SHA-256 of the header's bytes in either file form: the detached
 * .zckh (what sha256sum of it prints, what an integrator writes into an
 * update description) or the first header_bytes of the .zck. Each of the
 * three digests covers every byte of the header, so each names one header.
 */
static int check_pin(const struct zu_header *h, const uint8_t pin[ZU_DIGEST_LEN],
		     struct zu_err *err)
{
	static const uint8_t zck[5] = { 0, 'Z', 'C', 'K', '1' }, zhr[5] = { 0, 'Z', 'H', 'R', '1' };
	uint8_t d_zhr[ZU_DIGEST_LEN], d_zck[ZU_DIGEST_LEN];
	char want[2 * ZU_DIGEST_LEN + 1], got[2 * ZU_DIGEST_LEN + 1];
	char g_zhr[2 * ZU_DIGEST_LEN + 1], g_zck[2 * ZU_DIGEST_LEN + 1];
	int r;

	if (!memcmp(pin, h->header_digest, ZU_DIGEST_LEN))
		return 0;
	r = form_digest(h, zhr, d_zhr, err);
	if (r == 0)
		r = form_digest(h, zck, d_zck, err);
	if (r < 0)
		return r;
	if (!memcmp(pin, d_zhr, ZU_DIGEST_LEN) || !memcmp(pin, d_zck, ZU_DIGEST_LEN))
		return 0;
	zu_hex(pin, ZU_DIGEST_LEN, want);
	zu_hex(h->header_digest, ZU_DIGEST_LEN, got);
	zu_hex(d_zhr, ZU_DIGEST_LEN, g_zhr);
	zu_hex(d_zck, ZU_DIGEST_LEN, g_zck);
	return zu_err_set(err, -EKEYREJECTED,
			  "the header is not the pinned %s: its checksum is %s, the SHA-256 of "
			  "its detached file %s, of its bytes in the .zck %s",
			  want, got, g_zhr, g_zck);
}

int zu_api_header_from_bytes(zckup_ctx *ctx, uint8_t **buf, size_t len,
			     const uint8_t *expect_sha256, zckup_header **out)
{
	zckup_header *zh = calloc(1, sizeof(*zh));
	int r;

	if (!zh)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	/* In place: the bytes read become the header, no second copy (memory). */
	r = zu_header_parse_take(&zh->h, buf, len, &ctx->lim, &ctx->err);
	if (r == 0 && expect_sha256)
		r = check_pin(&zh->h, expect_sha256, &ctx->err);
	if (r < 0) {
		zu_header_fini(&zh->h);
		free(zh);
		return r;
	}
	*out = zh;
	return 0;
}

ZCKUP_API int zckup_header_open(zckup_ctx *ctx, const char *path, const uint8_t *expect_sha256,
				zckup_header **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, r;

	zu_err_clear(&ctx->err);
	r = zu_io_open_ro(path, &fd, &ctx->err);
	if (r < 0)
		return zu_api_fail(ctx, r);
	r = zu_io_read_header_bytes(fd, &ctx->lim, &buf, &len, &ctx->err);
	if (r == 0)
		r = zu_api_header_from_bytes(ctx, &buf, len, expect_sha256, out);
	/* Remembered so that apply refuses a target that is this file. */
	if (r == 0 && !((*out)->path = strdup(path))) {
		zckup_header_free(*out);
		*out = NULL;
		r = zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	}
	if (r < 0)
		zu_err_prefix(&ctx->err, "%s", path);
	free(buf);
	close(fd);
	return r < 0 ? zu_api_fail(ctx, r) : 0;
}

ZCKUP_API void zckup_header_free(zckup_header *zh)
{
	if (!zh)
		return;
	zu_header_fini(&zh->h);
	free(zh->path);
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
	out->has_fine = h->fine.valid;
	out->fine_piece_bytes = h->fine.valid ? 1u << h->fine.piece_shift : 0;
	memcpy(out->image_digest, h->image_digest, ZU_DIGEST_LEN);
	memcpy(out->header_digest, h->header_digest, ZU_DIGEST_LEN);
	out->n_signatures = h->n_signatures;
	out->largest_chunk_bytes = h->max_chunk_len;
}

ZCKUP_API int zckup_header_get_chunk(const zckup_header *zh, size_t i,
				     struct zckup_chunk_info *out)
{
	const struct zu_chunk *c;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!zh || !out || i >= zh->h.n_chunks)
		return -EINVAL;
	c = &zh->h.chunks[i];

	memcpy(out->digest, c->digest, ZU_DIGEST_LEN);
	memcpy(out->udigest, c->udigest, ZU_DIGEST_LEN);
	out->file_offset = c->file_offset;
	out->image_offset = c->image_offset;
	out->comp_bytes = c->comp_len;
	out->bytes = c->len;
	return 0;
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
	return r < 0 ? zu_api_fail(ctx, r) : 0;
}

/* ---- make ---------------------------------------------------------------- */

ZCKUP_API int zckup_make(zckup_ctx *ctx, const struct zckup_make_opts *o,
			 struct zckup_make_stats *out)
{
	const struct zu_fine_layout fine = ZU_FINE_LAYOUT_DEFAULT;
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
	if (o->profile != ZCKUP_PROFILE_COMPAT && o->profile != ZCKUP_PROFILE_FINE)
		return zu_err_set(&ctx->err, -EINVAL, "unknown make profile %d", o->profile);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	p.fine = o->profile == ZCKUP_PROFILE_FINE ? &fine : NULL;
	p.image = o->image;
	p.output = o->output;
	p.header_out = o->header_out;
	p.level = o->level ? o->level : ZCKUP_MAKE_DEFAULT_LEVEL;
	p.threads = o->threads ? o->threads : (cpus > 0 ? (int)cpus : 1);
	p.progress = zu_api_progress(ctx);
	p.lim = &ctx->lim;
	zu_make_dict_parse(o->dict, &p.dict);
	p.dict.size = o->dict_size;
	p.dict.max_samples = o->dict_samples;
	r = zu_make_run(&p, &res, &ctx->err);
	if (r < 0)
		return zu_api_fail(ctx, r);
	if (out) {
		out->image_bytes = res.image_len;
		out->zck_bytes = res.zck_len;
		out->header_bytes = res.header_len;
		out->n_chunks = res.n_chunks;
		memcpy(out->image_digest, res.image_digest, ZU_DIGEST_LEN);
		memcpy(out->header_digest, res.header_digest, ZU_DIGEST_LEN);
		out->dict_bytes = res.dict_len;
		out->dict_comp_bytes = res.dict_comp_len;
		out->dict_samples = res.dict_samples;
		out->dict_saved_estimate = res.dict_saved;
		out->dict_skipped = res.dict_skipped;
	}
	return 0;
}

