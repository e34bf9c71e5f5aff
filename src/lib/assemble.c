/* SPDX-License-Identifier: MIT */
/*
 * assemble - the driver loop of apply. Target chunks reach the sink strictly
 * in image order, but the work on them runs ahead on worker threads
 * (pipeline.h): a SEED chunk is read back from its source and re-hashed (the
 * source may have changed since indexing), a NET chunk, cut out of the
 * fetcher's record stream on this thread, is checked against its compressed
 * digest, decompressed and checked again. This thread takes the verified
 * chunks back in order and writes them; a tail thread hashes them, in the
 * same order, into the whole-image digest, which is checked before commit.
 * Any failure stops the workers and aborts the sink. Memory: a fixed ring of
 * chunk slots (ASM_INFLIGHT_BYTES), whatever the image size.
 */
#include "config.h"

#include "assemble.h"
#include "decomp.h"
#include "hash.h"
#include "io.h"
#include "pipeline.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_STEP (1u << 20)
/*
 * Chunk buffers in flight (two of the header's largest chunk per slot), so
 * workers have work while this thread writes. At least ASM_MIN_SLOTS slots,
 * at most ASM_MAX_SLOTS: chunks of 128 KiB (the chunker's largest) give 32.
 */
#define ASM_INFLIGHT_BYTES (8u << 20)
#define ASM_MIN_SLOTS 2u
#define ASM_MAX_SLOTS 64u
/*
 * Compressed bytes of NET chunks in flight: enough to keep the workers
 * decompressing, little enough that an interrupted run has fetched hardly
 * more than it wrote (a re-run fetches the rest again).
 */
#define ASM_NET_AHEAD (512u << 10)

/* ASM_MADE: a NET chunk made by zu_assemble_params.made_* (the fine profile). */
enum asm_kind { ASM_SEED, ASM_NET, ASM_IN_PLACE, ASM_MADE };

/* One chunk in flight: filled by this thread, worked on by a worker, hashed by the tail. */
struct asm_job {
	size_t i;                /* chunk index */
	enum asm_kind kind;
	uint8_t *cbuf;           /* compressed bytes (NET), filled before submission */
	uint8_t *ubuf;           /* uncompressed bytes */
	const uint8_t *data;     /* the verified chunk: ubuf or cbuf */
	bool same;               /* SEED: the target already holds it (compared) */
	bool stale;              /* SEED: failed at an unchecked index place */
	bool refetch;            /* MADE: not made or not verified: made_fallback at take */
};

/* What one worker thread keeps between jobs. */
struct asm_worker {
	struct zu_sha256 sha;
	struct zu_decomp *dc;    /* created at its first NET job (zstd only) */
};

struct asm_state {
	const struct zu_assemble_params *p;
	size_t buf_len;
	struct zu_sha256 chunk_sha; /* this thread's (the dict) */
	struct zu_sha256 image_sha; /* the tail thread's until the pipe is drained */
	/* the pipeline */
	struct zu_pipe *pipe;
	struct asm_job *jobs;
	void **job_ptrs;
	size_t n_slots;
	struct asm_worker *workers;
	unsigned n_workers;
	/* NET setup, done here before the first NET job is submitted; read-only after */
	bool net_seen;           /* setup_net ran: fetch_bytes0 is set */
	bool net_ready;          /* setup_net succeeded */
	uint8_t *dict;           /* the verified dict (zstd with a dict), for the workers */
	size_t dict_len;
	/* the NET record stream */
	size_t next_range;       /* first plan range not yet requested */
	bool batch_open;
	struct zu_fetch_rec rec; /* current record, borrowed from the fetcher */
	size_t rec_pos;          /* bytes of rec already consumed */
	/* in-place chunks over the raw head, held until something is written (must_write) */
	bool written_any;
	uint8_t *head;
	size_t head_len, head_cap;
	/* counters */
	uint64_t net_ahead;      /* compressed bytes of NET chunks submitted, not yet taken */
	uint64_t pos;            /* image bytes handled so far */
	uint64_t reported;
	uint64_t fetch_bytes0;
	struct zu_assemble_stats st;
};

/* sha is the calling thread's own context. */
static int check_digest(struct zu_sha256 *sha, const void *p, size_t n,
			const uint8_t want[ZU_DIGEST_LEN], const char *what, struct zu_err *err)
{
	uint8_t got[ZU_SHA256_LEN];
	char want_hex[2 * ZU_SHA256_LEN + 1], got_hex[2 * ZU_SHA256_LEN + 1];
	int r;

	r = zu_sha256_reset(sha, err);
	if (r == 0)
		r = zu_sha256_update(sha, p, n, err);
	if (r == 0)
		r = zu_sha256_final(sha, got, err);
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
 * digest is checked: zchunk does not write a meaningful uncompressed digest
 * for it. The workers each load the kept copy into their own decompressor.
 */
static int setup_dict(struct asm_state *s, struct zu_err *err)
{
	const struct zu_chunk *d = &s->p->h->dict;
	struct zu_decomp *plain = NULL;
	uint8_t *comp;
	int r;

	comp = malloc(d->comp_len ? (size_t)d->comp_len : 1);
	s->dict = malloc(d->len ? (size_t)d->len : 1);
	if (!comp || !s->dict) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate the dict's buffers");
		goto out;
	}
	r = net_collect(s, d->file_offset, (size_t)d->comp_len, comp, err);
	if (r < 0)
		goto out;
	r = check_digest(&s->chunk_sha, comp, (size_t)d->comp_len, d->digest, "compressed", err);
	if (r < 0)
		goto out;
	r = zu_decomp_new(NULL, 0, &plain, err);
	if (r < 0)
		goto out;
	r = zu_decomp_chunk(plain, comp, (size_t)d->comp_len, s->dict, (size_t)d->len, err);
	if (r == 0)
		s->dict_len = (size_t)d->len;
out:
	zu_decomp_free(plain);
	free(comp);
	if (r < 0)
		zu_err_prefix(err, "dictionary chunk (index entry 0, %" PRIu64 " bytes at offset %"
			      PRIu64 ")", d->comp_len, d->file_offset);
	return r;
}

/* Runs once, at the first NET chunk, so an all-SEED update never touches the fetcher. */
static int setup_net(struct asm_state *s, struct zu_err *err)
{
	const struct zu_assemble_params *p = s->p;
	int r = 0;

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
	s->net_seen = true;
	if (p->h->comp_type == ZU_COMP_ZSTD && p->plan->need_dict)
		r = setup_dict(s, err);
	s->net_ready = r == 0;
	return r;
}

/* ---- on a worker thread --------------------------------------------------- */

/* Leaves the chunk's verified uncompressed bytes in j->data. */
static int work_net(struct asm_state *s, struct asm_worker *w, struct asm_job *j,
		    const struct zu_chunk *c, struct zu_err *err)
{
	int r;

	r = check_digest(&w->sha, j->cbuf, (size_t)c->comp_len, c->digest, "compressed", err);
	if (r < 0)
		return r;
	if (s->p->h->comp_type == ZU_COMP_NONE) {
		if (c->comp_len != c->len)
			return zu_err_set(err, -EBADMSG,
					  "uncompressed chunk stores %" PRIu64 " bytes for %" PRIu64,
					  c->comp_len, c->len);
		j->data = j->cbuf;
	} else {
		if (!w->dc) {
			r = zu_decomp_new(s->dict, s->dict_len, &w->dc, err);
			if (r < 0)
				return r;
		}
		r = zu_decomp_chunk(w->dc, j->cbuf, (size_t)c->comp_len, j->ubuf, (size_t)c->len,
				    err);
		if (r < 0)
			return r;
		j->data = j->ubuf;
	}
	return check_digest(&w->sha, j->data, (size_t)c->len, c->udigest, "uncompressed", err);
}

/* A fine chunk from source pieces and frames; j->refetch when that does not give the chunk. */
static int work_made(struct asm_state *s, struct asm_worker *w, struct asm_job *j,
		     const struct zu_chunk *c, struct zu_err *err)
{
	struct zu_err mismatch = ZU_ERR_INIT;
	int r;

	if (!w->dc) {
		r = zu_decomp_new(NULL, 0, &w->dc, err);
		if (r < 0)
			return r;
	}
	j->data = j->ubuf;
	r = s->p->made_build(s->p->made_user, w->dc, j->i, j->cbuf, j->ubuf, err);
	if (r < 0)
		return r;
	if (r == 1)
		r = check_digest(&w->sha, j->ubuf, (size_t)c->len, c->udigest, "uncompressed",
				 &mismatch);
	else
		r = -EILSEQ; /* not made */
	if (r == -EILSEQ) {
		j->refetch = true; /* not a failure yet: made_fallback decides */
		return 0;
	}
	if (r < 0)
		*err = mismatch;
	return r;
}

/*
 * Whether the target already holds the verified chunk at its place: read
 * that region once, here, instead of in a separate pass before the update.
 * Regions ahead of the writer are not written yet (each belongs to one chunk,
 * written in order), so what is read is what the target held. A target that
 * ends before it does not hold it.
 */
static int compare_target(struct asm_state *s, struct asm_job *j, const struct zu_chunk *c,
			  struct zu_err *err)
{
	uint64_t off = s->p->target_offset + c->image_offset;
	int r;

	r = zu_io_pread_full(s->p->target_fd, j->cbuf, (size_t)c->len, off, err);
	if (r == -EBADMSG)
		return 0;
	if (r < 0)
		return zu_err_prefix(err, "target offset %" PRIu64, off);
	j->same = memcmp(j->cbuf, j->data, (size_t)c->len) == 0;
	return 0;
}

static int work_seed(struct asm_state *s, struct asm_worker *w, struct asm_job *j,
		     const struct zu_chunk *c, struct zu_err *err)
{
	const struct zu_seed_loc *loc = &s->p->plan->locs[j->i];
	bool unchecked = s->p->index_unchecked && s->p->index_unchecked[loc->source];
	int r;

	r = zu_io_pread_full(s->p->source_fds[loc->source], j->ubuf, (size_t)c->len, loc->offset,
			     err);
	if (r == 0)
		r = check_digest(&w->sha, j->ubuf, (size_t)c->len, c->udigest, "uncompressed", err);
	/* an index header's claim that did not hold (the source ends before, or differs) */
	j->stale = (r == -EBADMSG || r == -EILSEQ) && unchecked;
	if (j->stale)
		return zu_err_set(err, -EILSEQ, "source %" PRIu32 " offset %" PRIu64
				  " does not hold the chunk its index header places there",
				  loc->source, loc->offset);
	if (r == -EILSEQ)
		return zu_err_prefix(err, "source %" PRIu32 " offset %" PRIu64
				     " changed since indexing", loc->source, loc->offset);
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32 " offset %" PRIu64, loc->source,
				     loc->offset);
	j->data = j->ubuf;
	j->same = false;
	return s->p->target_fd >= 0 ? compare_target(s, j, c, err) : 0;
}

/* A chunk the target already holds: read back and verified again, not written. */
static int work_in_place(struct asm_state *s, struct asm_worker *w, struct asm_job *j,
			 const struct zu_chunk *c, struct zu_err *err)
{
	uint64_t off = s->p->target_offset + c->image_offset;
	int r;

	r = zu_io_pread_full(s->p->target_fd, j->ubuf, (size_t)c->len, off, err);
	if (r == 0)
		r = check_digest(&w->sha, j->ubuf, (size_t)c->len, c->udigest, "uncompressed", err);
	if (r < 0)
		return zu_err_prefix(err, "target offset %" PRIu64 " changed since it was checked",
				     off);
	j->data = j->ubuf;
	return 0;
}

static int asm_work(void *user, unsigned worker, void *job, struct zu_err *err)
{
	struct asm_state *s = user;
	struct asm_job *j = job;
	const struct zu_chunk *c = &s->p->h->chunks[j->i];

	switch (j->kind) {
	case ASM_SEED:
		return work_seed(s, &s->workers[worker], j, c, err);
	case ASM_IN_PLACE:
		return work_in_place(s, &s->workers[worker], j, c, err);
	case ASM_NET:
		return work_net(s, &s->workers[worker], j, c, err);
	case ASM_MADE:
		return work_made(s, &s->workers[worker], j, c, err);
	}
	return zu_err_set(err, -ENOTRECOVERABLE, "unknown job kind");
}

/* On the tail thread: the verified chunks, in image order, into the image digest. */
static int asm_tail(void *user, void *job, struct zu_err *err)
{
	struct asm_state *s = user;
	struct asm_job *j = job;

	return zu_sha256_update(&s->image_sha, j->data, (size_t)s->p->h->chunks[j->i].len, err);
}

/* ---- on the driver thread ---------------------------------------------------- */

/* Checks chunk i and hands it to the workers (a NET chunk's bytes collected first). */
static int submit_chunk(struct asm_state *s, size_t i, struct zu_err *err)
{
	const struct zu_chunk *c = &s->p->h->chunks[i];
	const struct zu_seed_loc *loc = &s->p->plan->locs[i];
	struct asm_job *j;
	int r = 0;

	if (c->len > s->buf_len || c->comp_len > s->buf_len)
		return zu_err_set(err, -ENOTRECOVERABLE, "chunk larger than the header's largest chunk");
	if (i > 0 && c->image_offset != s->p->h->chunks[i - 1].image_offset +
						s->p->h->chunks[i - 1].len)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "image offset %" PRIu64 " where %" PRIu64 " was expected",
				  c->image_offset,
				  s->p->h->chunks[i - 1].image_offset + s->p->h->chunks[i - 1].len);
	if (i == 0 && c->image_offset != 0)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "image offset %" PRIu64 " where 0 was expected", c->image_offset);
	j = zu_pipe_next_slot(s->pipe);
	j->i = i;
	if (loc->source == ZU_IN_PLACE) {
		if (s->p->target_fd < 0)
			return zu_err_set(err, -ENOTRECOVERABLE,
					  "in-place chunk without a readable target");
		j->kind = ASM_IN_PLACE;
		s->st.n_in_place++;
		s->st.in_place_bytes += c->len;
	} else if (loc->source != ZU_NO_SOURCE) {
		if (loc->source >= s->p->n_sources)
			return zu_err_set(err, -ENOTRECOVERABLE, "source %" PRIu32 " out of %zu",
					  loc->source, s->p->n_sources);
		j->kind = ASM_SEED;
		s->st.n_seed++;
		s->st.seed_bytes += c->len;
	} else if (s->p->made_prepare) {
		/* prepared here (fine_apply's windows are one thread's), made by a worker */
		j->kind = ASM_MADE;
		j->refetch = false;
		s->st.n_net++;
		s->st.net_bytes += c->len;
		r = s->p->made_prepare(s->p->made_user, i, j->cbuf, s->buf_len, err);
		s->net_ahead += c->comp_len; /* the same cap as fetched chunks: buffers touched */
	} else {
		j->kind = ASM_NET;
		s->st.n_net++;
		s->st.net_bytes += c->len;
		r = s->net_ready ? 0 : setup_net(s, err);
		if (r == 0)
			r = net_collect(s, c->file_offset, (size_t)c->comp_len, j->cbuf, err);
		s->net_ahead += c->comp_len;
	}
	if (r == 0)
		zu_pipe_submit(s->pipe);
	return r;
}

/*
 * Chunks already in place are not written, except those over the head of a
 * raw target when anything at all is written: the raw sink zeroes the head
 * before its first write beyond it and writes the held head at commit, so it
 * needs every head chunk (sink.h, ZU_RAW_HEAD). Whether anything is written
 * is known only at the first chunk that differs, so in-place head chunks are
 * kept here until then (they come first: at most ZU_RAW_HEAD bytes plus a
 * chunk) and written before it; when nothing differs, nothing is written.
 */
static int hold_head(struct asm_state *s, const struct zu_chunk *c, const uint8_t *data,
		     struct zu_err *err)
{
	if (c->image_offset != s->head_len)
		return zu_err_set(err, -ENOTRECOVERABLE, "head chunk at %" PRIu64
				  " after %zu bytes", c->image_offset, s->head_len);
	if (c->len > s->head_cap - s->head_len) {
		size_t cap = s->head_len + (size_t)c->len;
		uint8_t *h = realloc(s->head, cap);

		if (!h)
			return zu_err_set(err, -ENOMEM, "cannot hold %zu head bytes", cap);
		s->head = h;
		s->head_cap = cap;
	}
	memcpy(s->head + s->head_len, data, (size_t)c->len);
	s->head_len += (size_t)c->len;
	return 0;
}

static int sink_write(struct asm_state *s, uint64_t off, const uint8_t *data, size_t len,
		      struct zu_err *err)
{
	struct zu_sink *sink = s->p->sink;
	int r;

	r = sink->ops->write_at(sink->priv, off, data, len, err);
	if (r < 0)
		return zu_err_prefix(err, "%s sink", sink->ops->name);
	s->st.written_bytes += len;
	s->written_any = true;
	return 0;
}

/* Writes chunk c (data verified) unless the target holds it already (in_place). */
static int place_chunk(struct asm_state *s, const struct zu_chunk *c, const uint8_t *data,
		       bool in_place, struct zu_err *err)
{
	int r;

	if (in_place && c->image_offset >= ZU_RAW_HEAD)
		return 0;
	if (in_place && !s->written_any)
		return hold_head(s, c, data, err);
	if (s->head_len > 0) {
		r = sink_write(s, 0, s->head, s->head_len, err);
		s->head_len = 0;
		if (r < 0)
			return r;
	}
	return sink_write(s, c->image_offset, data, (size_t)c->len, err);
}

/* Takes the oldest chunk back from the workers, writes it unless in place, passes it on. */
static int take_and_emit(struct asm_state *s, struct zu_err *err)
{
	const struct zu_seed_loc *loc;
	struct zu_seed_loc here;
	const struct zu_chunk *c;
	struct asm_job *j;
	void *job;
	int r;

	r = zu_pipe_take(s->pipe, &job, err);
	j = job;
	if (r < 0) {
		s->st.index_stale = j->kind == ASM_SEED && j->stale;
		return zu_err_prefix(err, "chunk %zu", j->i);
	}
	c = &s->p->h->chunks[j->i];
	loc = &s->p->plan->locs[j->i];
	if (j->kind == ASM_NET || j->kind == ASM_MADE)
		s->net_ahead -= c->comp_len;
	if (j->kind == ASM_MADE && j->refetch) {
		r = s->p->made_fallback(s->p->made_user, j->i, j->ubuf, err);
		if (r == 0)
			r = check_digest(&s->chunk_sha, j->ubuf, (size_t)c->len, c->udigest,
					 "uncompressed", err);
		if (r < 0)
			return zu_err_prefix(err, "chunk %zu", j->i);
		j->data = j->ubuf;
	}
	if (j->kind == ASM_SEED && j->same) {
		/* counted as the in-place check before the update would have */
		s->st.n_seed--;
		s->st.seed_bytes -= c->len;
		s->st.n_in_place++;
		s->st.in_place_bytes += c->len;
		here = (struct zu_seed_loc){ .source = ZU_IN_PLACE, .offset = c->image_offset };
		loc = &here;
	}
	r = place_chunk(s, c, j->data, loc->source == ZU_IN_PLACE, err);
	if (r < 0)
		return zu_err_prefix(err, "chunk %zu", j->i);
	zu_pipe_release(s->pipe);
	s->pos += c->len;
	if (s->pos - s->reported >= PROGRESS_STEP) {
		s->reported = s->pos;
		zu_progress_report(&s->p->progress, ZU_PHASE_WRITE, s->pos, s->p->h->image_len);
	}
	if (s->p->on_chunk)
		s->p->on_chunk(s->p->chunk_user, j->i, loc);
	return 0;
}

/* Whether chunk i may be submitted now: a free slot, and for NET chunks ASM_NET_AHEAD. */
static bool may_submit(const struct asm_state *s, size_t i)
{
	const struct zu_chunk *c = &s->p->h->chunks[i];

	if (zu_pipe_pending(s->pipe) >= s->n_slots)
		return false;
	if (s->p->plan->locs[i].source != ZU_NO_SOURCE || s->net_ahead == 0)
		return true;
	return s->net_ahead + c->comp_len <= ASM_NET_AHEAD;
}

/*
 * Keeps the workers' window full and writes what comes back, in order. A
 * failure while submitting chunk i (setup, the record stream) is reported
 * after the chunks before it are written, as when everything ran in turn.
 */
static int run_chunks(struct asm_state *s, struct zu_err *err)
{
	const size_t n = s->p->h->n_chunks;
	struct zu_err sub_err = ZU_ERR_INIT;
	size_t i = 0;
	int r = 0, sub_r = 0;

	for (;;) {
		r = zu_progress_check_cancel(&s->p->progress, err);
		if (r < 0)
			return r;
		if (i < n && sub_r == 0 && may_submit(s, i)) {
			sub_r = submit_chunk(s, i, &sub_err);
			if (sub_r < 0)
				zu_err_prefix(&sub_err, "chunk %zu", i);
			else
				i++;
			continue;
		}
		if (zu_pipe_pending(s->pipe) == 0)
			break;
		r = take_and_emit(s, err);
		if (r < 0)
			return r;
	}
	if (sub_r < 0)
		*err = sub_err;
	return sub_r;
}

/* Drains the batch in flight, so the backend is seen to end cleanly; then the image digest. */
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
	/* After the drain the tail thread no longer touches image_sha. */
	r = zu_pipe_drain(s->pipe, err);
	if (r == 0)
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

static unsigned worker_count(const struct zu_assemble_params *p)
{
	long n = p->threads ? (long)p->threads : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return n > 64 ? 64u : (unsigned)n;
}

/* The slot ring and its buffers, the workers' state, then the threads. */
static int pipe_init(struct asm_state *s, struct zu_err *err)
{
	struct zu_pipe_params pp = { .work = asm_work, .tail = asm_tail, .user = s };
	size_t alloc = s->buf_len ? s->buf_len : 1;
	int r = 0;

	s->n_workers = worker_count(s->p);
	s->n_slots = ASM_INFLIGHT_BYTES / (2 * alloc);
	if (s->n_slots < ASM_MIN_SLOTS)
		s->n_slots = ASM_MIN_SLOTS;
	if (s->n_slots > ASM_MAX_SLOTS)
		s->n_slots = ASM_MAX_SLOTS;
	s->jobs = calloc(s->n_slots, sizeof(*s->jobs));
	s->job_ptrs = calloc(s->n_slots, sizeof(*s->job_ptrs));
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	if (!s->jobs || !s->job_ptrs || !s->workers)
		return zu_err_set(err, -ENOMEM, "out of memory for %zu chunk slots", s->n_slots);
	for (size_t k = 0; k < s->n_slots; k++) {
		/* untouched pages cost no memory: a SEED-only run never touches cbuf */
		s->jobs[k].cbuf = malloc(alloc);
		s->jobs[k].ubuf = malloc(alloc);
		s->job_ptrs[k] = &s->jobs[k];
		if (!s->jobs[k].cbuf || !s->jobs[k].ubuf)
			return zu_err_set(err, -ENOMEM,
					  "cannot allocate chunk buffers of %zu bytes", alloc);
	}
	for (unsigned k = 0; k < s->n_workers && r == 0; k++)
		r = zu_sha256_init(&s->workers[k].sha, err);
	if (r < 0)
		return r;
	pp.n_workers = s->n_workers;
	pp.n_slots = s->n_slots;
	pp.jobs = s->job_ptrs;
	return zu_pipe_new(&pp, &s->pipe, err);
}

static int state_init(struct asm_state *s, const struct zu_assemble_params *p,
		      struct zu_err *err)
{
	const struct zu_header *h = p->h;
	int r;

	s->p = p;
	if (!p->plan || !p->sink || !p->sink->ops || (h->n_chunks && !h->chunks))
		return zu_err_set(err, -EINVAL, "assemble without header, plan or sink");
	if (p->plan->n_chunks != h->n_chunks)
		return zu_err_set(err, -ENOTRECOVERABLE, "plan has %zu chunks, header %zu",
				  p->plan->n_chunks, h->n_chunks);
	if (h->max_chunk_len > SIZE_MAX / 2 || (p->lim && h->max_chunk_len > p->lim->max_chunk))
		return zu_err_set(err, -EOVERFLOW, "largest chunk of %" PRIu64
				  " bytes exceeds limit", h->max_chunk_len);
	s->buf_len = (size_t)h->max_chunk_len;
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
	if (r == 0)
		r = pipe_init(s, err);
	return r;
}

static void state_fini(struct asm_state *s)
{
	/* the threads first: nothing below may be touched by a worker any more */
	zu_pipe_free(s->pipe);
	for (unsigned k = 0; s->workers && k < s->n_workers; k++) {
		zu_decomp_free(s->workers[k].dc);
		zu_sha256_fini(&s->workers[k].sha);
	}
	for (size_t k = 0; s->jobs && k < s->n_slots; k++) {
		free(s->jobs[k].cbuf);
		free(s->jobs[k].ubuf);
	}
	free(s->workers);
	free(s->jobs);
	free(s->job_ptrs);
	free(s->dict);
	free(s->head);
	zu_sha256_fini(&s->chunk_sha);
	zu_sha256_fini(&s->image_sha);
}

int zu_assemble_run(const struct zu_assemble_params *p, struct zu_assemble_stats *out,
		    struct zu_err *err)
{
	struct asm_state s = { .chunk_sha = ZU_SHA256_INIT, .image_sha = ZU_SHA256_INIT };
	int r;

	r = state_init(&s, p, err);
	if (r == 0)
		r = run_chunks(&s, err);
	if (r == 0)
		r = finish(&s, err);
	if (r < 0) {
		/* the workers stop and are joined before the sink is undone */
		zu_pipe_free(s.pipe);
		s.pipe = NULL;
		if (p->sink && p->sink->ops)
			p->sink->ops->abort(p->sink->priv);
	}
	if (s.net_seen)
		s.st.fetched_bytes = p->fetch->bytes - s.fetch_bytes0;
	if (out)
		*out = s.st;
	state_fini(&s);
	return r;
}
