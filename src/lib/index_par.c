/* SPDX-License-Identifier: MIT */
/*
 * index_par - zu_index_run() on worker threads, with the sequential result.
 * Each read source is cut into segments of PX_SEG bytes; a worker chunks one
 * segment at a time and hashes and looks up the wanted chunks that end in it;
 * the calling thread merges the segments in order (sources, then offsets), so
 * locations, stats and the early stop are those of one sequential scan. It
 * never writes to a source; memory is bounded by the thread count, never by
 * source size.
 *
 * Why the merge is exact. The chunker starts from a fresh state at every cut,
 * so two scans that both cut at c cut alike after c. The merger keeps e, the
 * last true cut consumed; after segment k-1 that is the last cut before S_k
 * (the start of segment k), and e >= S_k - ZU_CHUNKER_MAX. Segment k's worker
 * starts fresh at a guess about lookback bytes before S_k and records all its
 * cuts: when e is among them, its cuts after e are the sequential ones, and
 * the chunks it hashed (those ending at or after S_k) are all the chunks the
 * merge takes from it. When it is not (no resync within the lookback), the
 * segment is chunked again from e, a true cut, until this redo cuts where the
 * first attempt cut (from there on both agree, so the rest of the first
 * attempt is taken) or to the segment's end: right by construction, and only
 * that stretch waits for the segment before it.
 *
 * Where resync fails: a long run without a hash hit, such as zeros, is cut at
 * the maximum length only, so a guess out of phase with the true cuts stays
 * out of phase. Guesses are therefore made in the phase of the last true cut
 * (modulo ZU_CHUNKER_MAX), and segments already chunked out of phase with
 * nothing but maximum-length cuts are chunked again in phase as soon as a redo
 * shows the phase: a run of zeros costs about one segment of waiting.
 *
 * Memory: n_workers * (ZU_INDEX_CARRY + ZU_INDEX_BLOCK) = 1.125 MiB each, plus
 * 4 * n_workers segment slots of 2 * 12 bytes per possible cut (about 27 KiB
 * each for 8 MiB segments): about 1.23 MiB per worker, 2.5 MiB for two.
 */
#include "config.h"

#include "index_int.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

#define PX_SEG (8u << 20)
#define PX_LOOKBACK (2 * ZU_CHUNKER_MAX)
#define PX_SLOTS_PER_WORKER 4
#define PX_NO_HEAD UINT32_MAX

enum px_state { PX_FREE, PX_READY, PX_BUSY, PX_DONE };

/* The cuts one attempt at a segment made. */
struct px_cuts {
	uint64_t *cut;  /* positions where the chunker cut, ascending; the tail's end last */
	uint32_t *head; /* per cut: index of its chunk's run of entries, or PX_NO_HEAD */
	size_t n, cap;
	int r;          /* < 0: the attempt failed after its n cuts */
	struct zu_err err;
};

/* One segment's job and what it found. */
struct px_slot {
	enum px_state state;
	uint64_t seq;      /* position in the merge order */
	uint64_t seg_from; /* S_k; job.to is its end */
	bool last;         /* the source's last segment: its last cut is the tail's end */
	struct ix_job job;
	struct px_cuts first; /* from a guess (or the source's start) */
	bool redo;            /* chunked again from the true cut job.chunk_from */
	struct px_cuts again; /* with redo: up to where it met first's cuts */
	size_t join;          /* with redo: first.cut[join] is again's last cut; first.n if none */
};

struct px_pool;

struct px_worker {
	struct px_pool *pl;
	struct ix_reader rd;
	struct px_slot *cur;
	struct px_cuts *out; /* where cur's cuts go */
	size_t mi;           /* redo: first cut of cur->first not below the last cut */
	pthread_t tid;
};

struct px_pool {
	struct ix_run *x;
	pthread_mutex_t mu;
	pthread_cond_t work; /* a slot became READY, or quit */
	pthread_cond_t done; /* a slot became DONE */
	struct px_slot *slots;
	size_t n_slots;
	uint64_t seq_gen, seq_merge; /* slots in [seq_merge, seq_gen) are in use */
	size_t gen_src;              /* the next segment to hand out: source... */
	uint64_t gen_off;            /* ...and offset */
	uint64_t seg, look;
	uint64_t phase; /* the last true cut modulo ZU_CHUNKER_MAX: where guesses start */
	atomic_int stop; /* the merge is over (all found, error): jobs may give up */
	bool quit;
	struct px_worker *w;
	size_t n_workers, n_started;
};

/* ---- the workers --------------------------------------------------------- */

static int px_block(void *user, size_t n, struct zu_err *err)
{
	struct px_worker *w = user;

	(void)n;
	if (atomic_load_explicit(&w->pl->stop, memory_order_relaxed))
		return 1;
	return zu_progress_check_cancel(&w->pl->x->p->progress, err);
}

static int px_chunk(void *user, uint64_t start, uint64_t end, bool hashed, struct ix_ent *head)
{
	struct px_worker *w = user;
	struct px_cuts *o = w->out;
	const struct px_cuts *f = &w->cur->first;

	(void)start;
	(void)hashed;
	assert(o->n < o->cap); /* chunks are >= ZU_CHUNKER_MIN but the tail */
	o->cut[o->n] = end;
	o->head[o->n] = head ? (uint32_t)(head - w->pl->x->t.ents) : PX_NO_HEAD;
	o->n++;
	if (!w->cur->redo)
		return 0;
	/* A redo stops where the first attempt also cut: both agree after that. */
	while (w->mi < f->n && f->cut[w->mi] < end)
		w->mi++;
	if (w->mi < f->n && f->cut[w->mi] == end) {
		w->cur->join = w->mi;
		return 1;
	}
	return 0;
}

static const struct ix_scan_ops px_ops = { .on_block = px_block, .on_chunk = px_chunk };

static void px_run_job(struct px_worker *w, struct px_slot *sl)
{
	struct px_cuts *o = sl->redo ? &sl->again : &sl->first;

	o->n = 0;
	o->err = (struct zu_err)ZU_ERR_INIT;
	w->cur = sl;
	w->out = o;
	w->mi = 0;
	sl->join = sl->first.n;
	o->r = zu_ix_scan(&w->rd, &w->pl->x->p->sources[sl->job.src_idx], &sl->job, &px_ops, w,
			  &o->err);
	w->cur = NULL;
	w->out = NULL;
}

/* The READY slot first in merge order (a segment chunked again comes first), or NULL. */
static struct px_slot *px_next_ready(struct px_pool *pl)
{
	for (uint64_t s = pl->seq_merge; s < pl->seq_gen; s++) {
		struct px_slot *sl = &pl->slots[s % pl->n_slots];

		if (sl->state == PX_READY)
			return sl;
	}
	return NULL;
}

static void *px_worker_main(void *arg)
{
	struct px_worker *w = arg;
	struct px_pool *pl = w->pl;

	pthread_mutex_lock(&pl->mu);
	for (;;) {
		struct px_slot *sl = NULL;

		while (!pl->quit && !(sl = px_next_ready(pl)))
			pthread_cond_wait(&pl->work, &pl->mu);
		if (pl->quit)
			break;
		sl->state = PX_BUSY;
		pthread_mutex_unlock(&pl->mu);
		px_run_job(w, sl);
		pthread_mutex_lock(&pl->mu);
		sl->state = PX_DONE;
		pthread_cond_broadcast(&pl->done);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* ---- handing out segments (merging thread, under pl->mu) ----------------- */

static bool px_reads(const struct zu_index_source *src)
{
	return !src->index && src->size > 0;
}

/*
 * Where a worker starts chunking segment from: about look bytes before it, at
 * a position congruent to the last true cut modulo ZU_CHUNKER_MAX (so that in
 * a run cut at the maximum length only, its cuts are the true ones).
 */
static uint64_t px_guess(const struct px_pool *pl, uint64_t from)
{
	uint64_t x, d;

	if (from <= pl->look)
		return 0;
	x = from - pl->look;
	d = (x % ZU_CHUNKER_MAX + ZU_CHUNKER_MAX - pl->phase) % ZU_CHUNKER_MAX;
	return x >= d ? x - d : 0;
}

/* Sets sl up for a first attempt at its segment. */
static void px_ready(struct px_pool *pl, struct px_slot *sl)
{
	sl->job.chunk_from = px_guess(pl, sl->seg_from);
	sl->redo = false;
	sl->first.n = 0;
	sl->first.r = 0;
	sl->again.n = 0;
	sl->again.r = 0;
	sl->state = PX_READY;
}

/* Fills the free slots with the next segments, in merge order. */
static void px_generate(struct px_pool *pl)
{
	const struct zu_index_params *p = pl->x->p;
	bool any = false;

	while (pl->seq_gen < pl->seq_merge + pl->n_slots) {
		const struct zu_index_source *src;
		struct px_slot *sl;
		uint64_t from, to;

		while (pl->gen_src < p->n_sources &&
		       (!px_reads(&p->sources[pl->gen_src]) ||
			pl->gen_off >= p->sources[pl->gen_src].size)) {
			pl->gen_src++;
			pl->gen_off = 0;
		}
		if (pl->gen_src == p->n_sources)
			break;
		src = &p->sources[pl->gen_src];
		from = pl->gen_off;
		to = src->size - from > pl->seg ? from + pl->seg : src->size;
		sl = &pl->slots[pl->seq_gen % pl->n_slots];
		assert(sl->state == PX_FREE);
		sl->seq = pl->seq_gen++;
		sl->seg_from = from;
		sl->last = to == src->size;
		sl->job = (struct ix_job){ .src_idx = (uint32_t)pl->gen_src, .own_from = from,
					   .to = to };
		px_ready(pl, sl);
		pl->gen_off = to;
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&pl->work);
}

/* Whether sl's first attempt cut only at the maximum length (but its first and last chunk). */
static bool px_max_only(const struct px_slot *sl)
{
	const struct px_cuts *f = &sl->first;

	if (f->n < 3 || f->r < 0)
		return false;
	for (size_t i = 1; i + 1 < f->n; i++)
		if (f->cut[i] - f->cut[i - 1] != ZU_CHUNKER_MAX)
			return false;
	return true;
}

/*
 * The phase of the true cuts is now e's: segments not started yet start in
 * it; after a redo (the phase was wrong), so do those chunked already out of
 * phase in what looks like a run without hash hits.
 */
static void px_rephase(struct px_pool *pl, uint64_t e, bool after_redo)
{
	bool any = false;

	pl->phase = e % ZU_CHUNKER_MAX;
	for (uint64_t s = pl->seq_merge + 1; s < pl->seq_gen; s++) {
		struct px_slot *sl = &pl->slots[s % pl->n_slots];
		uint64_t guess = px_guess(pl, sl->seg_from);

		if (sl->state == PX_READY && !sl->redo) {
			sl->job.chunk_from = guess;
		} else if (after_redo && sl->state == PX_DONE && sl->job.chunk_from != guess &&
			   sl->job.chunk_from % ZU_CHUNKER_MAX != pl->phase && px_max_only(sl)) {
			px_ready(pl, sl);
			any = true;
		}
	}
	if (any)
		pthread_cond_broadcast(&pl->work);
}

/* Waits until sl is DONE; with no worker thread, runs it here. */
static void px_wait(struct px_pool *pl, struct px_slot *sl)
{
	pthread_mutex_lock(&pl->mu);
	while (sl->state != PX_DONE) {
		if (pl->n_started == 0 && sl->state == PX_READY) {
			sl->state = PX_BUSY;
			pthread_mutex_unlock(&pl->mu);
			px_run_job(&pl->w[0], sl);
			pthread_mutex_lock(&pl->mu);
			sl->state = PX_DONE;
		} else {
			pthread_cond_wait(&pl->done, &pl->mu);
		}
	}
	pthread_mutex_unlock(&pl->mu);
}

/* Chunks sl's segment again from the true cut e, and waits for it. */
static void px_redo_from(struct px_pool *pl, struct px_slot *sl, uint64_t e)
{
	pthread_mutex_lock(&pl->mu);
	assert(e < sl->seg_from && sl->seg_from - e <= ZU_CHUNKER_MAX);
	sl->job.chunk_from = e;
	sl->redo = true;
	sl->again.n = 0;
	sl->again.r = 0;
	sl->state = PX_READY;
	pthread_cond_broadcast(&pl->work);
	pthread_mutex_unlock(&pl->mu);
	px_wait(pl, sl);
}

static void px_release(struct px_pool *pl, struct px_slot *sl, uint64_t e)
{
	pthread_mutex_lock(&pl->mu);
	assert(sl->seq == pl->seq_merge);
	px_rephase(pl, e, sl->redo);
	sl->state = PX_FREE;
	pl->seq_merge++;
	px_generate(pl);
	pthread_mutex_unlock(&pl->mu);
}

/* ---- merging (calling thread) -------------------------------------------- */

/* Index of the first cut of c after e (c->n when none). */
static size_t px_first_after(const struct px_cuts *c, uint64_t e)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->cut[mid] <= e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether sl's first attempt's cuts after the true cut e are the sequential ones. */
static bool px_synced(const struct px_slot *sl, uint64_t e)
{
	size_t i;

	if (sl->job.chunk_from == e)
		return true;
	if (sl->job.chunk_from > e)
		return false;
	i = px_first_after(&sl->first, e);
	return i > 0 && sl->first.cut[i - 1] == e;
}

/*
 * Takes the chunks of c after e, in order, as the sequential scan would:
 * counts the hashed bytes, locates the found ones. Returns true when everything
 * is found (*e is then the end of the chunk that completed it).
 */
static bool px_consume(struct ix_run *x, const struct px_slot *sl, const struct px_cuts *c,
		       uint64_t *e)
{
	for (size_t i = px_first_after(c, *e); i < c->n; i++) {
		uint64_t end = c->cut[i], len = end - *e;

		assert(end >= sl->seg_from && end <= sl->job.to);
		zu_ix_record_cut(x, sl->job.src_idx, end);
		if (zu_ix_len_wanted(&x->t, len))
			x->st.bytes_hashed += len;
		if (c->head[i] != PX_NO_HEAD)
			zu_ix_locate(x, &x->t.ents[c->head[i]], sl->job.src_idx, *e);
		*e = end;
		if (x->n_left == 0)
			return true;
	}
	return false;
}

/*
 * Takes segment sl's true chunks after e: its first attempt's, or its redo's
 * and then, from where they met, the first attempt's. Returns 1 when
 * everything is found, 0 at the segment's end, or the error the sequential
 * scan would have met there.
 */
static int px_take(struct ix_run *x, const struct px_slot *sl, uint64_t *e, struct zu_err *err)
{
	const struct px_cuts *tail = &sl->first;

	if (sl->redo) {
		if (px_consume(x, sl, &sl->again, e))
			return 1;
		if (sl->join == sl->first.n)
			tail = &sl->again; /* they never met: the redo went to the end */
		else if (px_consume(x, sl, &sl->first, e))
			return 1;
	} else if (px_consume(x, sl, &sl->first, e)) {
		return 1;
	}
	if (tail->r < 0) {
		*err = tail->err;
		return tail->r;
	}
	return 0;
}

/* Merges the segments of source s, which are next in merge order. */
static int px_merge_source(struct px_pool *pl, uint32_t s, struct zu_err *err)
{
	struct ix_run *x = pl->x;
	uint64_t size = x->p->sources[s].size, e = 0;
	bool last = false;
	int r;

	while (!last) {
		struct px_slot *sl = &pl->slots[pl->seq_merge % pl->n_slots];

		px_wait(pl, sl);
		assert(sl->job.src_idx == s && sl->seq == pl->seq_merge && !sl->redo);
		if (!px_synced(sl, e)) {
			x->st.n_rescans++;
			px_redo_from(pl, sl, e);
		}
		r = px_take(x, sl, &e, err);
		if (r > 0) {
			/* Sequential reads stop after the block where the last chunk was cut. */
			uint64_t upto = (e / ZU_INDEX_BLOCK + 1) * ZU_INDEX_BLOCK;

			x->st.bytes_read += upto < size ? upto : size;
			return 0;
		}
		if (r < 0)
			return r;
		x->done += sl->job.to - sl->seg_from;
		last = sl->last;
		px_release(pl, sl, e);
		zu_progress_report(&x->p->progress, ZU_PHASE_INDEX, x->done, x->total);
		r = zu_progress_check_cancel(&x->p->progress, err);
		if (r < 0)
			return r;
	}
	x->st.bytes_read += size;
	return 0;
}

/* ---- setup --------------------------------------------------------------- */

static int px_init(struct px_pool *pl, struct ix_run *x, int threads, struct zu_err *err)
{
	const struct zu_index_tuning *tu = x->p->tuning;
	uint64_t n_segs = 0;
	size_t cap;
	int r;

	pl->x = x;
	pl->seg = tu && tu->seg_bytes ? tu->seg_bytes : PX_SEG;
	pl->look = tu ? tu->lookback_bytes : PX_LOOKBACK;
	for (size_t i = 0; i < x->p->n_sources; i++)
		if (px_reads(&x->p->sources[i]))
			n_segs += (x->p->sources[i].size + pl->seg - 1) / pl->seg;
	pl->n_workers = (size_t)(threads < ZU_INDEX_MAX_THREADS ? threads : ZU_INDEX_MAX_THREADS);
	if (n_segs < pl->n_workers)
		pl->n_workers = (size_t)n_segs;
	pl->n_slots = PX_SLOTS_PER_WORKER * pl->n_workers;
	/* A job spans at most seg plus its lookback plus ZU_CHUNKER_MAX (the phase; a redo). */
	if (pl->seg > SIZE_MAX / 2 || pl->look > SIZE_MAX / 2)
		return zu_err_set(err, -EINVAL, "index: segment of %" PRIu64 " bytes", pl->seg);
	cap = (size_t)(pl->seg + pl->look + ZU_CHUNKER_MAX) / ZU_CHUNKER_MIN + 2;
	pl->slots = calloc(pl->n_slots, sizeof(*pl->slots));
	pl->w = calloc(pl->n_workers, sizeof(*pl->w));
	if (!pl->slots || !pl->w)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu index workers", pl->n_workers);
	for (size_t i = 0; i < 2 * pl->n_slots; i++) {
		struct px_cuts *c = i % 2 ? &pl->slots[i / 2].again : &pl->slots[i / 2].first;

		c->cap = cap;
		c->cut = malloc(cap * sizeof(*c->cut));
		c->head = malloc(cap * sizeof(*c->head));
		if (!c->cut || !c->head)
			return zu_err_set(err, -ENOMEM, "cannot allocate index segment slots");
	}
	for (size_t i = 0; i < pl->n_workers; i++) {
		pl->w[i].pl = pl;
		r = zu_ix_reader_init(&pl->w[i].rd, &x->t, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Stops the workers (a job in progress gives up at its next block) and frees. */
static void px_fini(struct px_pool *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->quit = true;
	atomic_store_explicit(&pl->stop, 1, memory_order_relaxed);
	pthread_cond_broadcast(&pl->work);
	pthread_mutex_unlock(&pl->mu);
	for (size_t i = 0; i < pl->n_started; i++)
		pthread_join(pl->w[i].tid, NULL);
	for (size_t i = 0; pl->w && i < pl->n_workers; i++)
		zu_ix_reader_fini(&pl->w[i].rd);
	for (size_t i = 0; pl->slots && i < pl->n_slots; i++) {
		free(pl->slots[i].first.cut);
		free(pl->slots[i].first.head);
		free(pl->slots[i].again.cut);
		free(pl->slots[i].again.head);
	}
	free(pl->w);
	free(pl->slots);
	pthread_cond_destroy(&pl->done);
	pthread_cond_destroy(&pl->work);
	pthread_mutex_destroy(&pl->mu);
}

int zu_ix_run_parallel(struct ix_run *x, int threads, struct zu_err *err)
{
	struct px_pool pl = { .x = x };
	int r;

	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.work, NULL);
	pthread_cond_init(&pl.done, NULL);
	atomic_init(&pl.stop, 0);
	r = px_init(&pl, x, threads, err);
	if (r == 0) {
		/* Fewer threads than asked (EAGAIN) still give the same result; none: this one. */
		for (size_t i = 0; i < pl.n_workers; i++) {
			if (pthread_create(&pl.w[i].tid, NULL, px_worker_main, &pl.w[i]) != 0)
				break;
			pl.n_started++;
		}
		pthread_mutex_lock(&pl.mu);
		px_generate(&pl);
		pthread_mutex_unlock(&pl.mu);
	}
	for (size_t i = 0; r == 0 && i < x->p->n_sources && x->n_left > 0; i++) {
		const struct zu_index_source *src = &x->p->sources[i];

		if (src->index)
			zu_ix_from_header(x, (uint32_t)i);
		else if (src->size > 0)
			r = px_merge_source(&pl, (uint32_t)i, err);
		if (r == 0 && !src->index && x->n_left > 0)
			zu_ix_cuts_complete(x, (uint32_t)i); /* not stopped early */
	}
	px_fini(&pl);
	return r;
}
