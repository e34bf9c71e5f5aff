/* SPDX-License-Identifier: MIT */
/*
 * api_verify - zckup_verify(): is an installed image exactly a header's
 * image. Reads the image once, in order, hashing each chunk and the whole;
 * never writes, never stops at the first difference (the stats count them all).
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_private.h"
#include "hash.h"
#include "io.h"

#define VERIFY_BLOCK (1u << 20)

struct verify_run {
	zckup_ctx *ctx;
	const struct zu_header *h;
	const char *path;
	int fd;
	uint8_t *buf;
	struct zu_sha256 chunk, image;
	struct zu_progress progress;
	struct zckup_verify_stats *st;
};

static void note_bad(struct verify_run *v, size_t i)
{
	if (!v->st->n_bad_chunks++) {
		v->st->first_bad_chunk = i;
		v->st->first_bad_offset = v->h->chunks[i].image_offset;
	}
}

/* Hashes chunk i from the file; *whole false when the file ends inside it. */
static int hash_chunk(struct verify_run *v, size_t i, bool *whole, uint8_t out[ZU_DIGEST_LEN])
{
	const struct zu_chunk *c = &v->h->chunks[i];
	struct zu_err *err = &v->ctx->err;
	uint64_t done = 0;
	int r = zu_sha256_reset(&v->chunk, err);

	*whole = false;
	while (r == 0 && done < c->len) {
		size_t n = c->len - done < VERIFY_BLOCK ? (size_t)(c->len - done) : VERIFY_BLOCK;
		ssize_t got;

		r = zu_progress_check_cancel(&v->progress, err);
		if (r < 0)
			return r;
		/* pread, not read: the offset is the header's, whatever came before */
		got = pread(v->fd, v->buf, n, (off_t)(c->image_offset + done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return zu_err_sys(err, errno, "%s: reading at %" PRIu64, v->path,
					  c->image_offset + done);
		if (got == 0)
			return 0; /* the file ends inside the chunk */
		r = zu_sha256_update(&v->chunk, v->buf, (size_t)got, err);
		if (r == 0)
			r = zu_sha256_update(&v->image, v->buf, (size_t)got, err);
		done += (uint64_t)got;
		v->st->read_bytes += (uint64_t)got;
		zu_progress_report(&v->progress, ZU_PHASE_CHECK, c->image_offset + done,
				   v->h->image_len);
	}
	if (r == 0)
		r = zu_sha256_final(&v->chunk, out, err);
	*whole = r == 0;
	return r;
}

static int verify_chunks(struct verify_run *v)
{
	for (size_t i = 0; i < v->h->n_chunks; i++) {
		uint8_t d[ZU_DIGEST_LEN];
		bool whole;
		int r = hash_chunk(v, i, &whole, d);

		if (r < 0)
			return r;
		if (!whole) {
			/* the image is cut here: this chunk and all after it are missing */
			for (size_t j = i; j < v->h->n_chunks; j++)
				note_bad(v, j);
			return 0;
		}
		if (memcmp(d, v->h->chunks[i].udigest, ZU_DIGEST_LEN))
			note_bad(v, i);
	}
	return 0;
}

/* The verdict: -EILSEQ with the first difference, or 0. */
static int verdict(struct verify_run *v)
{
	const struct zckup_verify_stats *st = v->st;
	struct zu_err *err = &v->ctx->err;

	if (st->path_bytes < st->image_bytes)
		return zu_err_set(err, -EILSEQ,
				  "%" PRIu64 " bytes, the image has %" PRIu64 "; %zu of %zu chunks "
				  "differ or are missing, the first at %" PRIu64,
				  st->path_bytes, st->image_bytes, st->n_bad_chunks, st->n_chunks,
				  st->first_bad_offset);
	if (st->n_bad_chunks)
		return zu_err_set(err, -EILSEQ,
				  "chunk %zu (at %" PRIu64 ", %" PRIu64
				  " bytes) differs from the header's SHA-256; %zu of %zu chunks differ",
				  st->first_bad_chunk, st->first_bad_offset,
				  v->h->chunks[st->first_bad_chunk].len, st->n_bad_chunks,
				  st->n_chunks);
	if (!st->size_ok)
		return zu_err_set(err, -EILSEQ,
				  "%" PRIu64 " bytes, the image has %" PRIu64
				  " (the image is there, followed by %" PRIu64
				  " more bytes; a slot may be larger: --slot)",
				  st->path_bytes, st->image_bytes, st->path_bytes - st->image_bytes);
	if (st->image_digest_checked && !st->image_digest_ok)
		return zu_err_set(err, -EILSEQ,
				  "every chunk matches but the whole image does not match the "
				  "header's image SHA-256 (the header contradicts itself)");
	return 0;
}

static int verify_fd(struct verify_run *v, bool slot)
{
	struct zu_err *err = &v->ctx->err;
	struct stat sb;
	int r;

	if (fstat(v->fd, &sb) < 0)
		return zu_err_sys(err, errno, "%s: fstat", v->path);
	r = zu_io_size(v->fd, &v->st->path_bytes, err);
	if (r < 0)
		return r;
	slot = slot || S_ISBLK(sb.st_mode);
	v->st->size_ok = slot ? v->st->path_bytes >= v->h->image_len
			      : v->st->path_bytes == v->h->image_len;
	r = zu_sha256_init(&v->chunk, err);
	if (r == 0)
		r = zu_sha256_init(&v->image, err);
	if (r == 0)
		r = verify_chunks(v);
	if (r == 0 && !v->st->n_bad_chunks && v->h->has_image_digest) {
		uint8_t d[ZU_DIGEST_LEN];

		r = zu_sha256_final(&v->image, d, err);
		v->st->image_digest_checked = r == 0;
		v->st->image_digest_ok = r == 0 && !memcmp(d, v->h->image_digest, ZU_DIGEST_LEN);
	}
	zu_progress_report(&v->progress, ZU_PHASE_CHECK, v->h->image_len, v->h->image_len);
	return r < 0 ? r : verdict(v);
}

ZCKUP_API int zckup_verify(zckup_ctx *ctx, const zckup_header *h,
			   const struct zckup_verify_opts *o, struct zckup_verify_stats *out)
{
	struct zckup_verify_stats st = { 0 };
	struct verify_run v = { .ctx = ctx, .fd = -1, .chunk = ZU_SHA256_INIT,
				.image = ZU_SHA256_INIT, .st = &st };
	int r;

	if (!ctx)
		return -EINVAL;
	zu_err_clear(&ctx->err);
	if (!h || !o || !o->path)
		return zu_api_fail(ctx, zu_err_set(&ctx->err, -EINVAL,
						   "verify needs a header and a path"));
	v.h = &h->h;
	v.path = o->path;
	st.image_bytes = h->h.image_len;
	st.n_chunks = h->h.n_chunks;
	st.first_bad_chunk = h->h.n_chunks;
	st.first_bad_offset = h->h.image_len;
	v.progress = zu_api_progress(ctx);
	v.buf = malloc(VERIFY_BLOCK);
	if (!v.buf)
		r = zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	else
		r = zu_io_open_ro(o->path, &v.fd, &ctx->err);
	if (r == 0)
		r = verify_fd(&v, o->slot != 0);
	if (r == -EILSEQ)
		zu_err_prefix(&ctx->err, "%s is not the header's image", o->path);
	if (v.fd >= 0)
		close(v.fd);
	zu_sha256_fini(&v.chunk);
	zu_sha256_fini(&v.image);
	free(v.buf);
	if (out)
		*out = st;
	return r < 0 ? zu_api_fail(ctx, r) : 0;
}
