/* SPDX-License-Identifier: MIT */
/*
 * index - finds which target chunks the sources already hold. Each source is
 * read sequentially in 1 MiB blocks into one reused buffer, cut with the
 * chunker, and only source chunks whose length some target chunk has are
 * hashed and looked up. Memory is O(n_chunks) for the lookup plus one fixed
 * buffer; nothing depends on source size, nothing is written to disk.
 *
 * Hashing strategy: the buffer has ZU_CHUNKER_MAX bytes of head room before
 * the read area. When a block is used up, the unfinished chunk's bytes (at
 * most the longest target length, itself <= ZU_CHUNKER_MAX) are moved to the
 * front and the next block is read behind them, so every chunk is contiguous
 * in memory when the chunker cuts it and is hashed in place, once, and only if
 * its length can match. The alternative (hash every chunk incrementally from
 * its start) hashes bytes of chunks that turn out to have useless lengths; the
 * move costs on average half a chunk (~16 KiB) of memmove per 1 MiB block,
 * far below SHA-256's cost for the same bytes.
 */
#include "config.h"

#include "index.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "hash.h"
#include "io.h"

/* Bytes read per pread(); progress is reported once per block. */
#define ZU_INDEX_BLOCK (1u << 20)
/* Head room for the unfinished chunk carried over to the next block. */
#define ZU_INDEX_CARRY ZU_CHUNKER_MAX

/*
 * One target chunk in the lookup, sorted by (key, idx) so that equal digests
 * (e.g. many all-zero chunks) are adjacent. key = first 8 digest bytes. The
 * first entry of each key run ("head") counts the run's chunks still without
 * a location, so a run found once costs O(1) on every later hit.
 */
struct ix_ent {
	uint64_t key;
	uint32_t idx;
	uint32_t n_left;
};

struct ix_table {
	struct ix_ent *ents;
	size_t n_ents;
	uint32_t *slots;    /* open addressing by key: head position + 1; 0 = empty */
	size_t mask;
	uint64_t *len_bits; /* bit L set when a target chunk has length L (1..CARRY) */
	uint64_t max_len;   /* longest such length; 0 when none */
};

/* Where we are in the current source. Invariant: next read offset = base + fill. */
struct ix_cursor {
	const struct zu_index_source *src;
	uint32_t src_idx;
	uint64_t base;   /* source offset of buf[0] */
	size_t fill;     /* valid bytes in buf */
	size_t scan;     /* bytes of buf already given to the chunker */
	uint64_t cstart; /* source offset where the current chunk starts */
};

struct ix_run {
	const struct zu_index_params *p;
	const struct zu_header *h;
	struct zu_seed_loc *locs;
	struct ix_table t;
	size_t n_left; /* matchable target chunks without a location */
	struct zu_sha256 sha;
	struct zu_chunker ck;
	uint8_t *buf; /* ZU_INDEX_CARRY + ZU_INDEX_BLOCK bytes */
	struct zu_index_stats st;
	uint64_t done, total;
};

static uint64_t digest_key(const uint8_t *d)
{
	uint64_t k;

	memcpy(&k, d, sizeof(k));
	return k;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ix_ent *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool len_wanted(const struct ix_table *t, uint64_t len)
{
	return len >= 1 && len <= t->max_len && (t->len_bits[len / 64] >> (len % 64) & 1);
}

/* Hash slots for the run heads: a power of two at least twice the run count. */
static int table_slots(struct ix_table *t, size_t n_runs, struct zu_err *err)
{
	size_t cap = 16;

	while (cap < 2 * n_runs)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return zu_err_set(err, -ENOMEM, "cannot allocate a %zu-slot chunk lookup", cap);
	t->mask = cap - 1;
	for (size_t i = 0; i < t->n_ents; i++) {
		size_t s;

		if (i > 0 && t->ents[i].key == t->ents[i - 1].key)
			continue;
		s = (size_t)t->ents[i].key & t->mask;
		while (t->slots[s])
			s = (s + 1) & t->mask;
		t->slots[s] = (uint32_t)i + 1;
	}
	return 0;
}

/*
 * Builds the lookup over the target chunks that a source chunk can match
 * (length 1..ZU_INDEX_CARRY: the chunker never cuts longer ones) and counts them.
 */
static int table_build(struct ix_table *t, const struct zu_header *h, const bool *skip,
		       size_t *out_n, struct zu_err *err)
{
	size_t n_runs = 0, head = 0;

	t->len_bits = calloc(ZU_INDEX_CARRY / 64 + 1, sizeof(*t->len_bits));
	t->ents = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*t->ents));
	if (!t->len_bits || !t->ents)
		return zu_err_set(err, -ENOMEM, "cannot allocate a lookup for %zu chunks",
				  h->n_chunks);
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];

		if (c->len == 0 || c->len > ZU_INDEX_CARRY || (skip && skip[i]))
			continue;
		t->len_bits[c->len / 64] |= UINT64_C(1) << (c->len % 64);
		if (c->len > t->max_len)
			t->max_len = c->len;
		t->ents[t->n_ents].key = digest_key(c->udigest);
		t->ents[t->n_ents].idx = (uint32_t)i;
		t->n_ents++;
	}
	qsort(t->ents, t->n_ents, sizeof(*t->ents), ent_cmp);
	for (size_t i = 0; i <= t->n_ents; i++) {
		if (i > 0 && (i == t->n_ents || t->ents[i].key != t->ents[head].key)) {
			t->ents[head].n_left = (uint32_t)(i - head);
			n_runs++;
			head = i;
		}
	}
	*out_n = t->n_ents;
	return table_slots(t, n_runs, err);
}

static void table_fini(struct ix_table *t)
{
	free(t->ents);
	free(t->slots);
	free(t->len_bits);
}

static struct ix_ent *table_find(const struct ix_table *t, uint64_t key)
{
	size_t s = (size_t)key & t->mask;

	while (t->slots[s]) {
		struct ix_ent *e = &t->ents[t->slots[s] - 1];

		if (e->key == key)
			return e;
		s = (s + 1) & t->mask;
	}
	return NULL;
}

/* Gives every unlocated target chunk with digest d the location (src, off). */
static void locate(struct ix_run *x, const uint8_t d[ZU_SHA256_LEN], uint32_t src, uint64_t off)
{
	uint64_t key = digest_key(d);
	struct ix_ent *head = table_find(&x->t, key);
	const struct ix_ent *end = x->t.ents + x->t.n_ents;

	if (!head || head->n_left == 0)
		return;
	/* Full compare: different digests may share the 8-byte key. */
	for (const struct ix_ent *e = head; e < end && e->key == key; e++) {
		struct zu_seed_loc *l = &x->locs[e->idx];

		if (l->source != ZU_NO_SOURCE ||
		    memcmp(x->h->chunks[e->idx].udigest, d, ZU_SHA256_LEN) != 0)
			continue;
		l->source = src;
		l->offset = off;
		head->n_left--;
		x->n_left--;
		x->st.n_found++;
	}
}

/* A source chunk [cstart, end) was cut; buf holds it when its length is wanted. */
static int on_chunk(struct ix_run *x, const struct ix_cursor *c, uint64_t end, struct zu_err *err)
{
	uint64_t len = end - c->cstart;
	uint8_t d[ZU_SHA256_LEN];
	const uint8_t *p;
	int r;

	if (!len_wanted(&x->t, len))
		return 0;
	assert(c->cstart >= c->base && end <= c->base + c->fill);
	p = x->buf + (c->cstart - c->base);
	r = zu_sha256_reset(&x->sha, err);
	if (r == 0)
		r = zu_sha256_update(&x->sha, p, (size_t)len, err);
	if (r == 0)
		r = zu_sha256_final(&x->sha, d, err);
	if (r < 0)
		return r;
	x->st.bytes_hashed += len;
	locate(x, d, c->src_idx, c->cstart);
	return 0;
}

/*
 * Keeps the unfinished chunk's bytes (when it can still match) at the front
 * of buf and reads the next block behind them.
 */
static int refill(struct ix_run *x, struct ix_cursor *c, struct zu_err *err)
{
	uint64_t end = c->base + c->fill;
	size_t keep = 0, n;
	int r;

	if (c->cstart >= c->base && end - c->cstart <= x->t.max_len)
		keep = (size_t)(end - c->cstart);
	memmove(x->buf, x->buf + (c->fill - keep), keep);
	c->base = end - keep;
	c->fill = keep;
	c->scan = keep;
	n = c->src->size - end < ZU_INDEX_BLOCK ? (size_t)(c->src->size - end) : ZU_INDEX_BLOCK;
	r = zu_io_pread_full(c->src->fd, x->buf + keep, n, end, err);
	if (r < 0)
		return r;
	c->fill += n;
	x->st.bytes_read += n;
	x->done += n;
	zu_progress_report(&x->p->progress, ZU_PHASE_INDEX, x->done, x->total);
	return zu_progress_check_cancel(&x->p->progress, err);
}

/* Gives the new bytes of buf to the chunker; handles every chunk it cuts. */
static int scan_block(struct ix_run *x, struct ix_cursor *c, struct zu_err *err)
{
	while (c->scan < c->fill && x->n_left > 0) {
		size_t k = zu_chunker_scan(&x->ck, x->buf + c->scan, c->fill - c->scan);
		int r;

		if (k == ZU_CHUNKER_NO_CUT) {
			c->scan = c->fill;
			break;
		}
		assert(k <= c->fill - c->scan);
		c->scan += k;
		assert(c->base + c->scan > c->cstart); /* the chunker never cuts empty chunks */
		r = on_chunk(x, c, c->base + c->scan, err);
		if (r < 0)
			return r;
		c->cstart = c->base + c->scan;
	}
	return 0;
}

static int index_source(struct ix_run *x, uint32_t src_idx, struct zu_err *err)
{
	struct ix_cursor c = { .src = &x->p->sources[src_idx], .src_idx = src_idx };
	int r = 0;

	zu_chunker_init(&x->ck);
	/* Advisory only (doubles readahead); a failure changes nothing we rely on. */
	(void)posix_fadvise(c.src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (c.base + c.fill < c.src->size && x->n_left > 0) {
		r = refill(x, &c, err);
		if (r == 0)
			r = scan_block(x, &c, err);
		if (r < 0)
			return zu_err_prefix(err, "source %" PRIu32, src_idx);
	}
	/* End of input: what the chunker holds is the last chunk. */
	if (x->n_left > 0 && c.base + c.fill > c.cstart)
		r = on_chunk(x, &c, c.base + c.fill, err);
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32, src_idx);
	return 0;
}

/* Empty target chunks are held by any source, at offset 0 of the first one. */
static int locate_empty(struct ix_run *x, struct zu_err *err)
{
	uint8_t empty[ZU_SHA256_LEN];
	int r;

	if (x->p->n_sources == 0)
		return 0;
	r = zu_sha256_buf("", 0, empty, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x->h->n_chunks; i++) {
		const struct zu_chunk *ch = &x->h->chunks[i];

		if (x->locs[i].source == ZU_NO_SOURCE && ch->len == 0 &&
		    memcmp(ch->udigest, empty, ZU_SHA256_LEN) == 0) {
			x->locs[i] = (struct zu_seed_loc){ .source = 0, .offset = 0 };
			x->st.n_found++;
		}
	}
	return 0;
}

static int check_params(const struct zu_index_params *p, const struct zu_seed_loc *locs,
			uint64_t *out_total, struct zu_err *err)
{
	uint64_t total = 0;

	if (!p || !p->h || (p->h->n_chunks > 0 && (!locs || !p->h->chunks)) ||
	    (p->n_sources > 0 && !p->sources))
		return zu_err_set(err, -EINVAL, "index: missing header, sources or locations");
	if (p->h->n_chunks >= UINT32_MAX || p->n_sources >= ZU_NO_SOURCE)
		return zu_err_set(err, -EOVERFLOW, "index: %zu chunks, %zu sources: too many",
				  p->h->n_chunks, p->n_sources);
	for (size_t i = 0; i < p->n_sources; i++) {
		if (p->sources[i].fd < 0)
			return zu_err_set(err, -EINVAL, "index: source %zu has no fd", i);
		if (p->sources[i].size > INT64_MAX ||
		    zu_add_overflow(total, p->sources[i].size, &total))
			return zu_err_set(err, -EOVERFLOW, "index: source %zu size %" PRIu64, i,
					  p->sources[i].size);
	}
	*out_total = total;
	return 0;
}

int zu_index_run(const struct zu_index_params *p, struct zu_seed_loc *locs,
		 struct zu_index_stats *out_stats, struct zu_err *err)
{
	struct ix_run x = { .p = p, .locs = locs, .sha = ZU_SHA256_INIT };
	int r;

	r = check_params(p, locs, &x.total, err);
	if (r < 0)
		return r;
	x.h = p->h;
	for (size_t i = 0; i < x.h->n_chunks; i++) {
		bool held = p->in_place && p->in_place[i];

		locs[i] = (struct zu_seed_loc){ .source = held ? ZU_IN_PLACE : ZU_NO_SOURCE,
						.offset = held ? x.h->chunks[i].image_offset : 0 };
	}
	r = table_build(&x.t, x.h, p->in_place, &x.n_left, err);
	if (r == 0)
		r = locate_empty(&x, err);
	if (r < 0 || x.n_left == 0)
		goto out;
	r = zu_sha256_init(&x.sha, err);
	if (r < 0)
		goto out;
	x.buf = malloc(ZU_INDEX_CARRY + ZU_INDEX_BLOCK);
	if (!x.buf) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate the index read buffer");
		goto out;
	}
	zu_progress_report(&p->progress, ZU_PHASE_INDEX, 0, x.total);
	for (size_t i = 0; i < p->n_sources && x.n_left > 0 && r == 0; i++)
		r = index_source(&x, (uint32_t)i, err);
out:
	if (r == 0) {
		/* Sources left unread because everything was found count as done. */
		zu_progress_report(&p->progress, ZU_PHASE_INDEX, x.total, x.total);
		if (out_stats)
			*out_stats = x.st;
	}
	free(x.buf);
	zu_sha256_fini(&x.sha);
	table_fini(&x.t);
	return r;
}
