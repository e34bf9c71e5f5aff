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
 * starts fresh at a guess S_k - lookback and records all its cuts: when e is
 * among them, its cuts after e are the sequential ones, and the chunks it
 * hashed (those ending at or after S_k) are all the chunks the merge takes
 * from it. When it is not (no resync within the lookback: in a long run with
 * no hash hit, such as zeros, every cut is at the maximum length and the guess
 * stays out of phase), the segment is chunked again from e, a true cut: right
 * by construction, and only that segment waits for the one before it.
 *
 * Memory: n_workers * (ZU_INDEX_CARRY + ZU_INDEX_BLOCK) = 1.125 MiB each, plus
 * 4 * n_workers segment slots of 12 bytes per possible cut (about 13 KiB).
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
#define PX_LOOKBACK (4 * ZU_CHUNKER_MAX)
#define PX_SLOTS_PER_WORKER 4
#define PX_NO_HEAD UINT32_MAX

enum px_state { PX_FREE, PX_READY, PX_BUSY, PX_DONE };

/* One segment's job and what it found. */
struct px_slot {
	enum px_state state;
	uint64_t seq;      /* position in the merge order */
	uint64_t seg_from; /* S_k; job.to is its end */
	bool last;         /* the source's last segment: its last cut is the tail's end */
	struct ix_job job;
	size_t n_cuts, cap;
	uint64_t *cut;  /* the positions where the job's chunker cut, ascending */
	uint32_t *head; /* per cut: index of its chunk's run of entries, or PX_NO_HEAD */
	int r;          /* < 0: the job failed after its n_cuts cuts */
	struct zu_err err;
};

struct px_pool;

struct px_worker {
	struct px_pool *pl;
	struct ix_reader rd;
	struct px_slot *cur;
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
	struct px_slot *sl = w->cur;

	(void)start;
	(void)hashed;
	assert(sl->n_cuts < sl->cap); /* chunks are >= ZU_CHUNKER_MIN but the tail */
	sl->cut[sl->n_cuts] = end;
	sl->head[sl->n_cuts] = head ? (uint32_t)(head - w->pl->x->t.ents) : PX_NO_HEAD;
	sl->n_cuts++;
	return 0;
}

static const struct ix_scan_ops px_ops = { .on_block = px_block, .on_chunk = px_chunk };

static void px_run_job(struct px_worker *w, struct px_slot *sl)
{
	sl->n_cuts = 0;
	sl->err = (struct zu_err)ZU_ERR_INIT;
	w->cur = sl;
	sl->r = zu_ix_scan(&w->rd, &w->pl->x->p->sources[sl->job.src_idx], &sl->job, &px_ops, w,
			   &sl->err);
	w->cur = NULL;
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
		sl->job = (struct ix_job){ .src_idx = (uint32_t)pl->gen_src,
					   .chunk_from = from > pl->look ? from - pl->look : 0,
					   .own_from = from,
					   .to = to };
		sl->n_cuts = 0;
		sl->r = 0;
		sl->state = PX_READY;
		pl->gen_off = to;
		any = true;
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

/* Runs sl's segment again with the chunker starting at the true cut e. */
static void px_rerun_from(struct px_pool *pl, struct px_slot *sl, uint64_t e)
{
	pthread_mutex_lock(&pl->mu);
	assert(e < sl->seg_from && sl->seg_from - e <= ZU_CHUNKER_MAX);
	sl->job.chunk_from = e;
	sl->n_cuts = 0;
	sl->r = 0;
	sl->state = PX_READY;
	pthread_cond_broadcast(&pl->work);
	pthread_mutex_unlock(&pl->mu);
}

static void px_release(struct px_pool *pl, struct px_slot *sl)
{
	pthread_mutex_lock(&pl->mu);
	assert(sl->seq == pl->seq_merge);
	sl->state = PX_FREE;
	pl->seq_merge++;
	px_generate(pl);
	pthread_mutex_unlock(&pl->mu);
}

/* ---- merging (calling thread) -------------------------------------------- */

/* Index of the first cut of sl after e (n_cuts when none). */
static size_t px_first_after(const struct px_slot *sl, uint64_t e)
{
	size_t lo = 0, hi = sl->n_cuts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sl->cut[mid] <= e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether sl's cuts after the true cut e are the sequential ones. */
static bool px_synced(const struct px_slot *sl, uint64_t e)
{
	size_t i;

	if (sl->job.chunk_from == e)
		return true;
	if (sl->job.chunk_from > e)
		return false;
	i = px_first_after(sl, e);
	return i > 0 && sl->cut[i - 1] == e;
}

/*
 * Takes sl's chunks after e in order, as the sequential scan would: counts the
 * hashed bytes, locates the found ones. Returns true when everything is found
 * (*e is then the end of the chunk that completed it).
 */
static bool px_consume(struct ix_run *x, const struct px_slot *sl, uint64_t *e)
{
	for (size_t i = px_first_after(sl, *e); i < sl->n_cuts; i++) {
		uint64_t c = sl->cut[i], len = c - *e;

		assert(c >= sl->seg_from && c <= sl->job.to);
		if (zu_ix_len_wanted(&x->t, len))
			x->st.bytes_hashed += len;
		if (sl->head[i] != PX_NO_HEAD)
			zu_ix_locate(x, &x->t.ents[sl->head[i]], sl->job.src_idx, *e);
		*e = c;
		if (x->n_left == 0)
			return true;
	}
	return false;
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
		assert(sl->job.src_idx == s && sl->seq == pl->seq_merge);
		if (!px_synced(sl, e)) {
			x->st.n_rescans++;
			px_rerun_from(pl, sl, e);
			px_wait(pl, sl);
		}
		if (px_consume(x, sl, &e)) {
			/* Sequential reads stop after the block where the last chunk was cut. */
			uint64_t upto = (e / ZU_INDEX_BLOCK + 1) * ZU_INDEX_BLOCK;

			x->st.bytes_read += upto < size ? upto : size;
			return 0;
		}
		if (sl->r < 0) {
			*err = sl->err;
			return sl->r;
		}
		x->done += sl->job.to - sl->seg_from;
		last = sl->last;
		px_release(pl, sl);
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
	/* A job spans at most seg plus its lookback or, run again, plus ZU_CHUNKER_MAX. */
	if (pl->seg > SIZE_MAX / 2 || pl->look > SIZE_MAX / 2)
		return zu_err_set(err, -EINVAL, "index: segment of %" PRIu64 " bytes", pl->seg);
	cap = (size_t)(pl->seg + (pl->look > ZU_CHUNKER_MAX ? pl->look : ZU_CHUNKER_MAX)) /
		      ZU_CHUNKER_MIN + 2;
	pl->slots = calloc(pl->n_slots, sizeof(*pl->slots));
	pl->w = calloc(pl->n_workers, sizeof(*pl->w));
	if (!pl->slots || !pl->w)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu index workers", pl->n_workers);
	for (size_t i = 0; i < pl->n_slots; i++) {
		pl->slots[i].cap = cap;
		pl->slots[i].cut = malloc(cap * sizeof(*pl->slots[i].cut));
		pl->slots[i].head = malloc(cap * sizeof(*pl->slots[i].head));
		if (!pl->slots[i].cut || !pl->slots[i].head)
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
		free(pl->slots[i].cut);
		free(pl->slots[i].head);
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
	}
	px_fini(&pl);
	return r;
}
