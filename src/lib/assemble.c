/* SPDX-License-Identifier: MIT */
/*
 * assemble - the driver loop of apply. Target chunks are handled strictly in
 * image order: a SEED chunk is read back from its source and re-hashed (the
 * source may have changed since indexing), a NET chunk is cut out of the
 * fetcher's record stream, checked against its compressed digest,
 * decompressed and checked again. Only verified bytes reach the sink; the
 * whole image is hashed on the way and checked before commit. Any failure
 * aborts the sink. Memory: two chunk buffers, whatever the image size.
 */
#include "config.h"

#include "assemble.h"
#include "decomp.h"
#include "hash.h"
#include "io.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_STEP (1u << 20)

struct asm_state {
	const struct zu_assemble_params *p;
	uint8_t *cbuf;           /* compressed bytes of one chunk (or the dict) */
	uint8_t *ubuf;           /* uncompressed bytes of one chunk (or the dict) */
	size_t buf_len;
	struct zu_decomp *dc;    /* created at the first NET chunk (zstd only) */
	bool net_ready;          /* setup_net succeeded */
	struct zu_sha256 chunk_sha;
	struct zu_sha256 image_sha;
	/* the NET record stream */
	size_t next_range;       /* first plan range not yet requested */
	bool batch_open;
	struct zu_fetch_rec rec; /* current record, borrowed from the fetcher */
	size_t rec_pos;          /* bytes of rec already consumed */
	/* counters */
	uint64_t pos;            /* image bytes handled so far */
	uint64_t reported;
	uint64_t fetch_bytes0;
	struct zu_assemble_stats st;
};

static int check_digest(struct asm_state *s, const void *p, size_t n,
			const uint8_t want[ZU_DIGEST_LEN], const char *what, struct zu_err *err)
{
	uint8_t got[ZU_SHA256_LEN];
	char want_hex[2 * ZU_SHA256_LEN + 1], got_hex[2 * ZU_SHA256_LEN + 1];
	int r;

	r = zu_sha256_reset(&s->chunk_sha, err);
	if (r == 0)
		r = zu_sha256_update(&s->chunk_sha, p, n, err);
	if (r == 0)
		r = zu_sha256_final(&s->chunk_sha, got, err);
	if (r < 0)
		return r;
	if (memcmp(got, want, ZU_SHA256_LEN) == 0)
		return 0;
	zu_hex(want, ZU_SHA256_LEN, want_hex);
	zu_hex(got, ZU_SHA256_LEN, got_hex);
	return zu_err_set(err, -EILSEQ, "%s digest mismatch: expected %s, got %s", what, want_hex,
			  got_hex);
}

/* Makes rec hold unread bytes, requesting the next batch of plan ranges when one ends. */
static int net_next_record(struct asm_state *s, uint64_t want, struct zu_err *err)
{
	const struct zu_plan *plan = s->p->plan;
	size_t max = plan->max_ranges ? plan->max_ranges : ZU_PLAN_DEFAULT_MAX_RANGES;
	size_t k;
	int r;

	if (s->p->fetch->ops->whole_batch)
		max = SIZE_MAX;

	for (;;) {
		if (s->batch_open) {
			r = zu_fetch_next(s->p->fetch, &s->rec, err);
			if (r < 0)
				return r;
			if (r == 1) {
				s->rec_pos = 0;
				zu_progress_report(&s->p->progress, ZU_PHASE_FETCH,
						   s->p->fetch->bytes - s->fetch_bytes0,
						   plan->fetch_bytes);
				return 0;
			}
			s->batch_open = false;
		}
		if (s->next_range >= plan->n_ranges)
			return zu_err_set(err, -ENOTRECOVERABLE,
					  "plan ranges end before offset %" PRIu64, want);
		k = plan->n_ranges - s->next_range;
		if (k > max)
			k = max;
		r = zu_fetch_request(s->p->fetch, plan->ranges + s->next_range, k, err);
		if (r < 0)
			return r;
		s->next_range += k;
		s->batch_open = true;
		s->st.n_requests++;
		s->st.n_ranges += k;
	}
}

/*
 * Copies bytes [off, off+len) of the .zck into dst from the record stream.
 * Records may carry gap bytes before a chunk (skipped) or split it anywhere.
 */
static int net_collect(struct asm_state *s, uint64_t off, size_t len, uint8_t *dst,
		       struct zu_err *err)
{
	size_t got = 0;
	int r;

	while (got < len) {
		uint64_t want = off + got, pos;
		size_t avail, n;

		if (s->rec_pos == s->rec.len) {
			r = net_next_record(s, want, err);
			if (r < 0)
				return r;
		}
		pos = s->rec.off + s->rec_pos;
		avail = s->rec.len - s->rec_pos;
		if (pos > want)
			return zu_err_set(err, -ENOTRECOVERABLE,
					  "plan ranges skip offset %" PRIu64 " (next fetched %" PRIu64
					  ")", want, pos);
		if (pos < want) {
			n = want - pos < avail ? (size_t)(want - pos) : avail;
			s->rec_pos += n;
			continue;
		}
		n = len - got < avail ? len - got : avail;
		memcpy(dst + got, s->rec.data + s->rec_pos, n);
		s->rec_pos += n;
		got += n;
	}
	return 0;
}

/*
 * The dict chunk is stored compressed without a dict. Only its compressed
 * digest is checked: zchunk does not write a meaningful uncompressed digest for it.
 */
static int setup_dict(struct asm_state *s, struct zu_err *err)
{
	const struct zu_chunk *d = &s->p->h->dict;
	struct zu_decomp *plain = NULL;
	int r;

	r = net_collect(s, d->file_offset, (size_t)d->comp_len, s->cbuf, err);
	if (r < 0)
		goto out;
	r = check_digest(s, s->cbuf, (size_t)d->comp_len, d->digest, "compressed", err);
	if (r < 0)
		goto out;
	r = zu_decomp_new(NULL, 0, &plain, err);
	if (r < 0)
		goto out;
	r = zu_decomp_chunk(plain, s->cbuf, (size_t)d->comp_len, s->ubuf, (size_t)d->len, err);
	if (r < 0)
		goto out;
	r = zu_decomp_new(s->ubuf, (size_t)d->len, &s->dc, err);
out:
	zu_decomp_free(plain);
	if (r < 0)
		zu_err_prefix(err, "dictionary chunk (index entry 0, %" PRIu64 " bytes at offset %"
			      PRIu64 ")", d->comp_len, d->file_offset);
	return r;
}

/* Runs once, at the first NET chunk, so an all-SEED update never touches the fetcher. */
static int setup_net(struct asm_state *s, struct zu_err *err)
{
	const struct zu_assemble_params *p = s->p;

	if (!p->fetch)
		return zu_err_set(err, -ENOTRECOVERABLE, "NET chunks but no fetcher");
	if (p->h->comp_type != ZU_COMP_ZSTD && p->h->comp_type != ZU_COMP_NONE)
		return zu_err_set(err, -EBADMSG, "unsupported compression type %" PRIu64,
				  p->h->comp_type);
	if (p->plan->need_dict && !p->h->has_dict)
		return zu_err_set(err, -ENOTRECOVERABLE, "plan needs a dict the header lacks");
	if (p->h->has_dict && !p->plan->need_dict && p->h->comp_type == ZU_COMP_ZSTD)
		return zu_err_set(err, -ENOTRECOVERABLE, "plan leaves out the header's dict");
	s->fetch_bytes0 = p->fetch->bytes;
	s->net_ready = true;
	if (p->h->comp_type != ZU_COMP_ZSTD)
		return 0;
	if (p->plan->need_dict)
		return setup_dict(s, err);
	return zu_decomp_new(NULL, 0, &s->dc, err);
}

/* Leaves the chunk's verified uncompressed bytes in *out. */
static int net_chunk(struct asm_state *s, const struct zu_chunk *c, const uint8_t **out,
		     struct zu_err *err)
{
	int r;

	r = net_collect(s, c->file_offset, (size_t)c->comp_len, s->cbuf, err);
	if (r < 0)
		return r;
	r = check_digest(s, s->cbuf, (size_t)c->comp_len, c->digest, "compressed", err);
	if (r < 0)
		return r;
	if (s->p->h->comp_type == ZU_COMP_NONE) {
		if (c->comp_len != c->len)
			return zu_err_set(err, -EBADMSG,
					  "uncompressed chunk stores %" PRIu64 " bytes for %" PRIu64,
					  c->comp_len, c->len);
		*out = s->cbuf;
	} else {
		r = zu_decomp_chunk(s->dc, s->cbuf, (size_t)c->comp_len, s->ubuf, (size_t)c->len,
				    err);
		if (r < 0)
			return r;
		*out = s->ubuf;
	}
	return check_digest(s, *out, (size_t)c->len, c->udigest, "uncompressed", err);
}

static int seed_chunk(struct asm_state *s, const struct zu_chunk *c,
		      const struct zu_seed_loc *loc, struct zu_err *err)
{
	int r;

	if (loc->source >= s->p->n_sources)
		return zu_err_set(err, -ENOTRECOVERABLE, "source %" PRIu32 " out of %zu", loc->source,
				  s->p->n_sources);
	r = zu_io_pread_full(s->p->source_fds[loc->source], s->ubuf, (size_t)c->len, loc->offset,
			     err);
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32 " offset %" PRIu64, loc->source,
				     loc->offset);
	r = check_digest(s, s->ubuf, (size_t)c->len, c->udigest, "uncompressed", err);
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32 " offset %" PRIu64
				     " changed since indexing", loc->source, loc->offset);
	return 0;
}

/* A chunk the target already holds: read back and verified again, not written. */
static int in_place_chunk(struct asm_state *s, const struct zu_chunk *c, struct zu_err *err)
{
	uint64_t off = s->p->target_offset + c->image_offset;
	int r;

	if (s->p->target_fd < 0)
		return zu_err_set(err, -ENOTRECOVERABLE, "in-place chunk without a readable target");
	r = zu_io_pread_full(s->p->target_fd, s->ubuf, (size_t)c->len, off, err);
	if (r == 0)
		r = check_digest(s, s->ubuf, (size_t)c->len, c->udigest, "uncompressed", err);
	if (r < 0)
		return zu_err_prefix(err, "target offset %" PRIu64 " changed since it was checked",
				     off);
	return 0;
}

/* Hashes the verified chunk into the image digest and, unless in place, writes it. */
static int emit(struct asm_state *s, const struct zu_chunk *c, const uint8_t *data, bool write,
		struct zu_err *err)
{
	struct zu_sink *sink = s->p->sink;
	int r;

	r = zu_sha256_update(&s->image_sha, data, (size_t)c->len, err);
	if (r < 0)
		return r;
	if (write) {
		r = sink->ops->write_at(sink->priv, c->image_offset, data, (size_t)c->len, err);
		if (r < 0)
			return zu_err_prefix(err, "%s sink", sink->ops->name);
		s->st.written_bytes += c->len;
	}
	s->pos += c->len;
	if (s->pos - s->reported >= PROGRESS_STEP) {
		s->reported = s->pos;
		zu_progress_report(&s->p->progress, ZU_PHASE_WRITE, s->pos, s->p->h->image_len);
	}
	return 0;
}

/*
 * Chunks already in place are not written, except those over the head of a
 * raw target when anything at all is written: the raw sink zeroes the head
 * before its first write beyond it and writes the held head at commit, so it
 * needs every head chunk (sink.h, ZU_RAW_HEAD).
 */
static bool must_write(const struct asm_state *s, const struct zu_chunk *c,
		       const struct zu_seed_loc *loc)
{
	const struct zu_plan *plan = s->p->plan;

	if (loc->source != ZU_IN_PLACE)
		return true;
	return c->image_offset < ZU_RAW_HEAD && plan->n_in_place < plan->n_chunks;
}

static int one_chunk(struct asm_state *s, size_t i, struct zu_err *err)
{
	const struct zu_chunk *c = &s->p->h->chunks[i];
	const struct zu_seed_loc *loc = &s->p->plan->locs[i];
	const uint8_t *data = s->ubuf;
	int r;

	if (c->len > s->buf_len || c->comp_len > s->buf_len)
		return zu_err_set(err, -ENOTRECOVERABLE, "chunk larger than the header's largest chunk");
	if (c->image_offset != s->pos)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "image offset %" PRIu64 " where %" PRIu64 " was expected",
				  c->image_offset, s->pos);
	if (loc->source == ZU_IN_PLACE) {
		r = in_place_chunk(s, c, err);
		s->st.n_in_place++;
		s->st.in_place_bytes += c->len;
	} else if (loc->source != ZU_NO_SOURCE) {
		r = seed_chunk(s, c, loc, err);
		s->st.n_seed++;
		s->st.seed_bytes += c->len;
	} else {
		r = s->net_ready ? 0 : setup_net(s, err);
		if (r == 0)
			r = net_chunk(s, c, &data, err);
		s->st.n_net++;
		s->st.net_bytes += c->len;
	}
	if (r == 0)
		r = emit(s, c, data, must_write(s, c, loc), err);
	if (r == 0 && s->p->on_chunk)
		s->p->on_chunk(s->p->chunk_user, i, loc);
	return r;
}

/* Drains the batch in flight, so the backend is seen to end cleanly. */
static int finish(struct asm_state *s, struct zu_err *err)
{
	const struct zu_header *h = s->p->h;
	uint8_t got[ZU_SHA256_LEN];
	char want_hex[2 * ZU_SHA256_LEN + 1], got_hex[2 * ZU_SHA256_LEN + 1];
	int r;

	while (s->batch_open) {
		r = zu_fetch_next(s->p->fetch, &s->rec, err);
		if (r < 0)
			return r;
		s->batch_open = r == 1;
	}
	if (s->pos != h->image_len)
		return zu_err_set(err, -ENOTRECOVERABLE, "chunks cover %" PRIu64 " of %" PRIu64 " bytes",
				  s->pos, h->image_len);
	r = zu_sha256_final(&s->image_sha, got, err);
	if (r < 0)
		return r;
	if (h->has_image_digest && memcmp(got, h->image_digest, ZU_SHA256_LEN) != 0) {
		zu_hex(h->image_digest, ZU_SHA256_LEN, want_hex);
		zu_hex(got, ZU_SHA256_LEN, got_hex);
		return zu_err_set(err, -EILSEQ, "image digest mismatch: expected %s, got %s",
				  want_hex, got_hex);
	}
	zu_progress_report(&s->p->progress, ZU_PHASE_WRITE, s->pos, h->image_len);
	return s->p->sink->ops->commit(s->p->sink->priv, h->image_len, err);
}

static int state_init(struct asm_state *s, const struct zu_assemble_params *p,
		      struct zu_err *err)
{
	const struct zu_header *h = p->h;
	size_t alloc;
	int r;

	s->p = p;
	if (!p->plan || !p->sink || !p->sink->ops || (h->n_chunks && !h->chunks))
		return zu_err_set(err, -EINVAL, "assemble without header, plan or sink");
	if (p->plan->n_chunks != h->n_chunks)
		return zu_err_set(err, -ENOTRECOVERABLE, "plan has %zu chunks, header %zu",
				  p->plan->n_chunks, h->n_chunks);
	if (h->max_chunk_len > SIZE_MAX || (p->lim && h->max_chunk_len > p->lim->max_chunk))
		return zu_err_set(err, -EOVERFLOW, "largest chunk of %" PRIu64
				  " bytes exceeds limit", h->max_chunk_len);
	s->buf_len = (size_t)h->max_chunk_len;
	alloc = s->buf_len ? s->buf_len : 1;
	s->cbuf = malloc(alloc);
	s->ubuf = malloc(alloc);
	if (!s->cbuf || !s->ubuf)
		return zu_err_set(err, -ENOMEM, "cannot allocate chunk buffers of %zu bytes",
				  alloc);
	if (h->has_dict && (h->dict.len > s->buf_len || h->dict.comp_len > s->buf_len))
		return zu_err_set(err, -ENOTRECOVERABLE, "dict larger than the header's largest chunk");
	/* A sink that can wait (a pipe nobody reads, a command at commit) stops on request. */
	zu_sink_set_cancel(p->sink, p->progress.cancel);
	if (p->fetch_started) {
		s->batch_open = true;
		s->next_range = p->plan->n_ranges;
		s->st.n_requests = 1;
		s->st.n_ranges = p->plan->n_ranges;
	}
	r = zu_sha256_init(&s->chunk_sha, err);
	if (r == 0)
		r = zu_sha256_init(&s->image_sha, err);
	return r;
}

int zu_assemble_run(const struct zu_assemble_params *p, struct zu_assemble_stats *out,
		    struct zu_err *err)
{
	struct asm_state s = { .chunk_sha = ZU_SHA256_INIT, .image_sha = ZU_SHA256_INIT };
	size_t i = 0;
	int r;

	r = state_init(&s, p, err);
	for (; r == 0 && i < p->h->n_chunks; i++) {
		r = zu_progress_check_cancel(&p->progress, err);
		if (r == 0)
			r = one_chunk(&s, i, err);
		if (r < 0)
			zu_err_prefix(err, "chunk %zu", i);
	}
	if (r == 0)
		r = finish(&s, err);
	if (r < 0 && p->sink && p->sink->ops)
		p->sink->ops->abort(p->sink->priv);
	if (s.net_ready)
		s.st.fetched_bytes = p->fetch->bytes - s.fetch_bytes0;
	if (out)
		*out = s.st;
	zu_decomp_free(s.dc);
	zu_sha256_fini(&s.chunk_sha);
	zu_sha256_fini(&s.image_sha);
	free(s.cbuf);
	free(s.ubuf);
	return r;
}
