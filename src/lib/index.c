/* SPDX-License-Identifier: MIT */
/*
 * index - finds which target chunks the sources already hold. Each source is
 * read in 1 MiB blocks into a reused buffer, cut with the chunker, and only
 * source chunks whose length some target chunk has are hashed and looked up.
 * With one thread that is one sequential scan, here; with more, index_par.c
 * splits the sources into segments for worker threads and merges their chunks
 * into the same result. Memory is O(n_chunks) for the lookup plus one fixed
 * buffer per thread; nothing depends on source size, nothing is written to disk.
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
#include "index_int.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "chunker.h"
#include "hash.h"
#include "io.h"

/*
 * The lookup (struct ix_ent and ix_table, in index_int.h): one entry per
 * target chunk, sorted by (key, full digest, idx) so that equal digests (e.g.
 * many all-zero chunks) are adjacent. key = a keyed hash of the digest
 * (digest_key), kept inline so that comparisons need no memcmp but for equal
 * keys; a header whose digests share a prefix (crafted: they need not be real
 * SHA-256 values) costs no more than any other. Lookups are binary searches:
 * O(log n) per source chunk hashed, whatever the header. The first entry of
 * each run of equal digests ("head") counts the run's chunks still without a
 * location, so a run found once costs O(1) on every later hit. Lookups only
 * read the table, so worker threads share it (index_par.c).
 */
static uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                                \
	do {                                                                                       \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);                      \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                            \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                            \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);                      \
	} while (0)

/*
 * SipHash-1-3 of a 32-byte digest under the run's secret key: the sort key.
 * A header may claim any digests (they are only checked when the data comes),
 * so a key it can predict, such as the digest's first bytes, lets it make
 * every key equal; this one it cannot, so ties are as rare as for honest
 * digests and the memcmp that breaks them (on the whole digest) almost never
 * runs. The key only orders the lookup: results do not depend on it.
 */
static uint64_t digest_key(const uint64_t k[2], const uint8_t *d)
{
	uint64_t v0 = k[0] ^ UINT64_C(0x736f6d6570736575), v1 = k[1] ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k[0] ^ UINT64_C(0x6c7967656e657261), v3 = k[1] ^ UINT64_C(0x7465646279746573);
	uint64_t m;

	for (size_t i = 0; i < ZU_SHA256_LEN; i += 8) {
		memcpy(&m, d + i, sizeof(m));
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	m = (uint64_t)ZU_SHA256_LEN << 56;
	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A secret for digest_key: getrandom, else what this process alone knows. */
static void key_init(uint64_t k[2], const void *salt)
{
	struct timespec ts;

	if (getrandom(k, 2 * sizeof(*k), GRND_NONBLOCK) == (ssize_t)(2 * sizeof(*k)))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	k[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(uintptr_t)salt;
	k[1] = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid()) * UINT64_C(0xbf58476d1ce4e5b9);
}

/* Orders by the whole digest d (whose key is key), then by nothing: equal digests are equal. */
static int ent_digest_cmp(const struct ix_table *t, const struct ix_ent *e, uint64_t key,
			  const uint8_t *d)
{
	if (e->key != key)
		return e->key < key ? -1 : 1;
	return memcmp(t->h->chunks[e->idx].udigest, d, ZU_SHA256_LEN);
}

static int ent_cmp(const struct ix_ent *x, const struct ix_ent *y, const struct ix_table *t)
{
	int c;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	c = ent_digest_cmp(t, x, y->key, t->h->chunks[y->idx].udigest);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * In-place heapsort of the entries: O(n log n) whatever the input, and no
 * allocation (glibc's qsort merge-sorts through a copy of the whole array,
 * 16 more bytes a chunk at the peak of apply's memory).
 */
static void ent_sift(struct ix_table *t, size_t root, size_t n)
{
	struct ix_ent *e = t->ents;

	for (;;) {
		size_t big = root, l = 2 * root + 1, r = l + 1;
		struct ix_ent tmp;

		if (l < n && ent_cmp(&e[l], &e[big], t) > 0)
			big = l;
		if (r < n && ent_cmp(&e[r], &e[big], t) > 0)
			big = r;
		if (big == root)
			return;
		tmp = e[root];
		e[root] = e[big];
		e[big] = tmp;
		root = big;
	}
}

static void ents_sort(struct ix_table *t)
{
	size_t n = t->n_ents;

	for (size_t i = n / 2; i-- > 0;)
		ent_sift(t, i, n);
	for (size_t end = n; end-- > 1;) {
		struct ix_ent tmp = t->ents[0];

		t->ents[0] = t->ents[end];
		t->ents[end] = tmp;
		ent_sift(t, 0, end);
	}
}

/*
 * Builds the lookup over the target chunks that a source chunk can match
 * (length 1..ZU_INDEX_CARRY: the chunker never cuts longer ones; any length
 * when some source has an index header, which may list longer chunks) and
 * counts them. len_bits and max_len describe the chunker's lengths only.
 */
static int table_build(struct ix_table *t, const struct zu_header *h, const bool *skip,
		       bool any_len, size_t *out_n, struct zu_err *err)
{
	size_t head = 0;

	t->h = h;
	key_init(t->key, t);
	t->len_bits = calloc(ZU_INDEX_CARRY / 64 + 1, sizeof(*t->len_bits));
	t->ents = calloc(h->n_chunks ? h->n_chunks : 1, sizeof(*t->ents));
	if (!t->len_bits || !t->ents)
		return zu_err_set(err, -ENOMEM, "cannot allocate a lookup for %zu chunks",
				  h->n_chunks);
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];

		if (c->len == 0 || (c->len > ZU_INDEX_CARRY && !any_len) || (skip && skip[i]))
			continue;
		if (c->len <= ZU_INDEX_CARRY) {
			t->len_bits[c->len / 64] |= UINT64_C(1) << (c->len % 64);
			if (c->len > t->max_len)
				t->max_len = c->len;
		}
		t->ents[t->n_ents].key = digest_key(t->key, c->udigest);
		t->ents[t->n_ents].idx = (uint32_t)i;
		t->n_ents++;
	}
	ents_sort(t);
	for (size_t i = 0; i <= t->n_ents; i++) {
		if (i > 0 && (i == t->n_ents ||
			      ent_digest_cmp(t, &t->ents[head], t->ents[i].key,
					     h->chunks[t->ents[i].idx].udigest) != 0)) {
			t->ents[head].n_left = (uint32_t)(i - head);
			head = i;
		}
	}
	*out_n = t->n_ents;
	return 0;
}

static void table_fini(struct ix_table *t)
{
	free(t->ents);
	free(t->len_bits);
}

/* The head of the run of entries whose digest is d, or NULL: a binary search. */
struct ix_ent *zu_ix_table_find(const struct ix_table *t, const uint8_t *d)
{
	uint64_t key = digest_key(t->key, d);
	size_t lo = 0, hi = t->n_ents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ent_digest_cmp(t, &t->ents[mid], key, d) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->n_ents || ent_digest_cmp(t, &t->ents[lo], key, d) != 0)
		return NULL;
	return &t->ents[lo];
}

/*
 * Gives every unlocated target chunk of head's run the location (src, off).
 * The run holds exactly the chunks with that digest and is walked once: after
 * that its head says nothing is left.
 */
void zu_ix_locate(struct ix_run *x, struct ix_ent *head, uint32_t src, uint64_t off)
{
	if (!head || head->n_left == 0)
		return;
	for (struct ix_ent *e = head; e < head + head->n_left; e++) {
		struct zu_seed_loc *l = &x->locs[e->idx];

		assert(l->source == ZU_NO_SOURCE);
		l->source = src;
		l->offset = off;
		x->n_left--;
		x->st.n_found++;
	}
	head->n_left = 0;
}

/*
 * A source with an index header: its chunks are looked up without reading
 * the source. The header is untrusted, so a claim is taken only when it fits
 * within the source and its length is the target chunk's; zu_index_check()
 * verifies the bytes. Chunks come in image order, so within a source the
 * lowest offset wins, as when the source is read.
 */
void zu_ix_from_header(struct ix_run *x, uint32_t src_idx)
{
	const struct zu_index_source *src = &x->p->sources[src_idx];
	const struct zu_header *ih = src->index;

	for (size_t j = 0; j < ih->n_chunks && x->n_left > 0; j++) {
		const struct zu_chunk *c = &ih->chunks[j];
		struct ix_ent *head;
		size_t before;
		uint64_t end;

		if (c->len == 0 || zu_add_overflow(c->image_offset, c->len, &end) ||
		    end > src->size)
			continue;
		head = zu_ix_table_find(&x->t, c->udigest);
		if (!head || head->n_left == 0 || x->h->chunks[head->idx].len != c->len)
			continue;
		before = x->st.n_found;
		zu_ix_locate(x, head, src_idx, c->image_offset);
		x->st.n_indexed += x->st.n_found - before;
	}
}

/* ---- chunking a range of a source ---------------------------------------- */

int zu_ix_reader_init(struct ix_reader *rd, const struct ix_table *t, struct zu_err *err)
{
	int r;

	*rd = (struct ix_reader){ .t = t, .sha = ZU_SHA256_INIT };
	r = zu_sha256_init(&rd->sha, err);
	if (r < 0)
		return r;
	rd->buf = malloc(ZU_INDEX_CARRY + ZU_INDEX_BLOCK);
	if (!rd->buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate the index read buffer");
	return 0;
}

void zu_ix_reader_fini(struct ix_reader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
	zu_sha256_fini(&rd->sha);
}

/* Where a scan is. Invariant: next read offset = base + fill. */
struct ix_cursor {
	const struct zu_index_source *src;
	const struct ix_job *j;
	uint64_t base;   /* source offset of buf[0] */
	size_t fill;     /* valid bytes in buf */
	size_t scan;     /* bytes of buf already given to the chunker */
	uint64_t cstart; /* source offset where the current chunk starts */
};

/* A chunk [cstart, end) was cut; buf holds it when its length is wanted. */
static int on_chunk(struct ix_reader *rd, const struct ix_cursor *c, uint64_t end,
		    const struct ix_scan_ops *ops, void *user, struct zu_err *err)
{
	uint64_t len = end - c->cstart;
	uint8_t d[ZU_SHA256_LEN];
	const uint8_t *p;
	int r;

	if (end < c->j->own_from || !zu_ix_len_wanted(rd->t, len))
		return ops->on_chunk(user, c->cstart, end, false, NULL);
	assert(c->cstart >= c->base && end <= c->base + c->fill);
	p = rd->buf + (c->cstart - c->base);
	r = zu_sha256_reset(&rd->sha, err);
	if (r == 0)
		r = zu_sha256_update(&rd->sha, p, (size_t)len, err);
	if (r == 0)
		r = zu_sha256_final(&rd->sha, d, err);
	if (r < 0)
		return r;
	return ops->on_chunk(user, c->cstart, end, true, zu_ix_table_find(rd->t, d));
}

/*
 * Keeps the unfinished chunk's bytes (when it can still match) at the front
 * of buf and reads the next block behind them.
 */
static int refill(struct ix_reader *rd, struct ix_cursor *c, const struct ix_scan_ops *ops,
		  void *user, struct zu_err *err)
{
	uint64_t end = c->base + c->fill;
	size_t keep = 0, n;
	int r;

	if (c->fill > 0 && c->cstart >= c->base && end - c->cstart <= rd->t->max_len)
		keep = (size_t)(end - c->cstart);
	memmove(rd->buf, rd->buf + (c->fill - keep), keep);
	c->base = end - keep;
	c->fill = keep;
	c->scan = keep;
	n = c->j->to - end < ZU_INDEX_BLOCK ? (size_t)(c->j->to - end) : ZU_INDEX_BLOCK;
	r = zu_io_pread_full(c->src->fd, rd->buf + keep, n, end, err);
	if (r < 0)
		return r;
	c->fill += n;
	if (c->j->chunk_from > c->base + c->scan) {
		/* the first block of a job that starts inside it */
		assert(c->j->chunk_from <= c->base + c->fill);
		c->scan = (size_t)(c->j->chunk_from - c->base);
	}
	return ops->on_block(user, n, err);
}

/* Gives the new bytes of buf to the chunker; handles every chunk it cuts. */
static int scan_block(struct ix_reader *rd, struct ix_cursor *c, const struct ix_scan_ops *ops,
		      void *user, struct zu_err *err)
{
	while (c->scan < c->fill) {
		size_t k = zu_chunker_scan(&rd->ck, rd->buf + c->scan, c->fill - c->scan);
		int r;

		if (k == ZU_CHUNKER_NO_CUT) {
			c->scan = c->fill;
			break;
		}
		assert(k <= c->fill - c->scan);
		c->scan += k;
		assert(c->base + c->scan > c->cstart); /* the chunker never cuts empty chunks */
		r = on_chunk(rd, c, c->base + c->scan, ops, user, err);
		if (r != 0)
			return r;
		c->cstart = c->base + c->scan;
	}
	return 0;
}

/*
 * Reads go to the multiples of ZU_INDEX_BLOCK from the one at or below
 * chunk_from, so whatever range a job covers, a source is read in the same
 * blocks (and a short source fails at the same one) as by one sequential scan.
 */
int zu_ix_scan(struct ix_reader *rd, const struct zu_index_source *src, const struct ix_job *j,
	       const struct ix_scan_ops *ops, void *user, struct zu_err *err)
{
	struct ix_cursor c = { .src = src, .j = j, .cstart = j->chunk_from };
	int r = 0;

	assert(j->chunk_from <= j->to && j->to <= src->size);
	c.base = j->chunk_from - j->chunk_from % ZU_INDEX_BLOCK;
	zu_chunker_init(&rd->ck);
	/* Advisory only (doubles readahead); a failure changes nothing we rely on. */
	(void)posix_fadvise(src->fd, (off_t)c.base, (off_t)(j->to - c.base),
			    POSIX_FADV_SEQUENTIAL);
	while (c.base + c.fill < j->to && r == 0) {
		r = refill(rd, &c, ops, user, err);
		if (r == 0)
			r = scan_block(rd, &c, ops, user, err);
	}
	/* End of input: what the chunker holds is the last chunk. */
	if (r == 0 && j->to == src->size && c.base + c.fill > c.cstart)
		r = on_chunk(rd, &c, c.base + c.fill, ops, user, err);
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32, j->src_idx);
	return 0;
}

/* ---- the sequential scan: one source at a time on the calling thread ----- */

struct ix_seq {
	struct ix_run *x;
	uint32_t src_idx;
};

static int seq_block(void *user, size_t n, struct zu_err *err)
{
	struct ix_run *x = ((struct ix_seq *)user)->x;

	x->st.bytes_read += n;
	x->done += n;
	zu_progress_report(&x->p->progress, ZU_PHASE_INDEX, x->done, x->total);
	return zu_progress_check_cancel(&x->p->progress, err);
}

void zu_index_cuts_free(struct zu_index_cuts *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].at);
		c[i] = (struct zu_index_cuts){ 0 };
	}
}

void zu_ix_record_cut(struct ix_run *x, uint32_t src, uint64_t end)
{
	struct zu_index_cuts *c = x->p->cuts ? &x->p->cuts[src] : NULL;

	/* cap SIZE_MAX: given up on this source (out of memory) */
	if (!c || c->cap == SIZE_MAX || end >= x->p->sources[src].size ||
	    (c->n && c->at[c->n - 1] >= end))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		uint64_t *at = c->cap <= SIZE_MAX / 2 / sizeof(*at) ? realloc(c->at, cap * sizeof(*at))
								    : NULL;

		if (!at) {
			/* only an optimisation: the fine pass runs the chunker itself instead */
			free(c->at);
			*c = (struct zu_index_cuts){ .cap = SIZE_MAX };
			return;
		}
		c->at = at;
		c->cap = cap;
	}
	c->at[c->n++] = end;
}

void zu_ix_cuts_complete(struct ix_run *x, uint32_t src)
{
	struct zu_index_cuts *c = x->p->cuts ? &x->p->cuts[src] : NULL;

	if (c && c->cap != SIZE_MAX)
		c->complete = true;
}

static int seq_chunk(void *user, uint64_t start, uint64_t end, bool hashed, struct ix_ent *head)
{
	struct ix_seq *q = user;

	zu_ix_record_cut(q->x, q->src_idx, end);
	if (hashed)
		q->x->st.bytes_hashed += end - start;
	zu_ix_locate(q->x, head, q->src_idx, start);
	return q->x->n_left == 0; /* everything found: stop reading */
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
			uint64_t *out_total, bool *out_any_index, struct zu_err *err)
{
	uint64_t total = 0;

	*out_any_index = false;
	if (!p || !p->h || (p->h->n_chunks > 0 && (!locs || !p->h->chunks)) ||
	    (p->n_sources > 0 && !p->sources))
		return zu_err_set(err, -EINVAL, "index: missing header, sources or locations");
	if (p->h->n_chunks >= UINT32_MAX || p->n_sources >= ZU_NO_SOURCE)
		return zu_err_set(err, -EOVERFLOW, "index: %zu chunks, %zu sources: too many",
				  p->h->n_chunks, p->n_sources);
	for (size_t i = 0; i < p->n_sources; i++) {
		if (p->sources[i].fd < 0)
			return zu_err_set(err, -EINVAL, "index: source %zu has no fd", i);
		if (p->sources[i].size > INT64_MAX)
			return zu_err_set(err, -EOVERFLOW, "index: source %zu size %" PRIu64, i,
					  p->sources[i].size);
		if (p->sources[i].index) {
			*out_any_index = true;
			continue; /* not read: no progress to count */
		}
		if (zu_add_overflow(total, p->sources[i].size, &total))
			return zu_err_set(err, -EOVERFLOW, "index: source %zu size %" PRIu64, i,
					  p->sources[i].size);
	}
	*out_total = total;
	return 0;
}

static const struct ix_scan_ops seq_ops = { .on_block = seq_block, .on_chunk = seq_chunk };

static int run_sequential(struct ix_run *x, struct zu_err *err)
{
	struct ix_reader rd;
	int r;

	r = zu_ix_reader_init(&rd, &x->t, err);
	for (size_t i = 0; i < x->p->n_sources && x->n_left > 0 && r == 0; i++) {
		const struct zu_index_source *src = &x->p->sources[i];
		struct ix_seq q = { .x = x, .src_idx = (uint32_t)i };
		struct ix_job j = { .src_idx = (uint32_t)i, .to = src->size };

		if (src->index) {
			zu_ix_from_header(x, (uint32_t)i);
		} else {
			r = zu_ix_scan(&rd, src, &j, &seq_ops, &q, err);
			if (r == 0 && x->n_left > 0)
				zu_ix_cuts_complete(x, (uint32_t)i); /* not stopped early */
		}
	}
	zu_ix_reader_fini(&rd);
	return r;
}

int zu_index_run(const struct zu_index_params *p, struct zu_seed_loc *locs,
		 struct zu_index_stats *out_stats, struct zu_err *err)
{
	struct ix_run x = { .p = p, .locs = locs };
	bool any_index = false;
	int r;

	r = check_params(p, locs, &x.total, &any_index, err);
	if (r < 0)
		return r;
	x.h = p->h;
	zu_index_cuts_free(p->cuts, p->n_sources);
	for (size_t i = 0; i < x.h->n_chunks; i++) {
		bool held = p->in_place && p->in_place[i];

		locs[i] = (struct zu_seed_loc){ .source = held ? ZU_IN_PLACE : ZU_NO_SOURCE,
						.offset = held ? x.h->chunks[i].image_offset : 0 };
	}
	r = table_build(&x.t, x.h, p->in_place, any_index, &x.n_left, err);
	if (r == 0)
		r = locate_empty(&x, err);
	if (r < 0 || x.n_left == 0)
		goto out;
	zu_progress_report(&p->progress, ZU_PHASE_INDEX, 0, x.total);
	if (p->threads > 1 && x.total > 0)
		r = zu_ix_run_parallel(&x, p->threads, err);
	else
		r = run_sequential(&x, err);
out:
	if (r == 0) {
		/* Sources left unread because everything was found count as done. */
		zu_progress_report(&p->progress, ZU_PHASE_INDEX, x.total, x.total);
		if (out_stats)
			*out_stats = x.st;
	}
	table_fini(&x.t);
	return r;
}

/* ---- verifying locations taken from index headers ---------------------- */

struct ix_check {
	const struct zu_index_params *p;
	struct zu_sha256 sha;
	uint8_t *buf;
	size_t cap;
	/* the last place verified: a row of equal chunks (zeros) is read once */
	bool have_last;
	struct zu_seed_loc last;
	const uint8_t *last_digest;
	uint64_t last_len;
	bool last_ok;
	struct zu_index_check_stats st;
};

/* Whether source place l holds chunk c: *out_ok. Short sources hold nothing. */
static int check_place(struct ix_check *k, const struct zu_chunk *c, const struct zu_seed_loc *l,
		       bool *out_ok, struct zu_err *err)
{
	const struct zu_index_source *src = &k->p->sources[l->source];
	uint8_t d[ZU_SHA256_LEN];
	uint64_t end;
	int r;

	*out_ok = false;
	if (zu_add_overflow(l->offset, c->len, &end) || end > src->size || c->len > SIZE_MAX)
		return 0;
	if (c->len > k->cap) {
		uint8_t *nb = realloc(k->buf, (size_t)c->len);

		if (!nb)
			return zu_err_set(err, -ENOMEM, "cannot allocate %" PRIu64 " bytes", c->len);
		k->buf = nb;
		k->cap = (size_t)c->len;
	}
	r = zu_io_pread_full(src->fd, k->buf, (size_t)c->len, l->offset, err);
	if (r == -EBADMSG)
		return 0; /* the source ends before: it was truncated since */
	if (r < 0)
		return zu_err_prefix(err, "source %" PRIu32, l->source);
	k->st.bytes_read += c->len;
	r = zu_sha256_reset(&k->sha, err);
	if (r == 0)
		r = zu_sha256_update(&k->sha, k->buf, (size_t)c->len, err);
	if (r == 0)
		r = zu_sha256_final(&k->sha, d, err);
	if (r == 0)
		*out_ok = memcmp(d, c->udigest, ZU_SHA256_LEN) == 0;
	return r;
}

static int check_one(struct ix_check *k, const struct zu_chunk *c, struct zu_seed_loc *l,
		     struct zu_err *err)
{
	bool ok;
	int r;

	if (k->have_last && k->last.source == l->source && k->last.offset == l->offset &&
	    k->last_len == c->len && !memcmp(k->last_digest, c->udigest, ZU_SHA256_LEN)) {
		ok = k->last_ok;
	} else {
		r = check_place(k, c, l, &ok, err);
		if (r < 0)
			return r;
		k->have_last = true;
		k->last = *l;
		k->last_digest = c->udigest;
		k->last_len = c->len;
		k->last_ok = ok;
	}
	k->st.n_checked++;
	if (!ok) {
		k->st.n_stale++;
		k->st.stale_bytes += c->len;
		*l = (struct zu_seed_loc){ .source = ZU_NO_SOURCE };
	}
	return 0;
}

int zu_index_check(const struct zu_index_params *p, struct zu_seed_loc *locs,
		   struct zu_index_check_stats *out_stats, struct zu_err *err)
{
	struct ix_check k = { .p = p, .sha = ZU_SHA256_INIT };
	int r;

	if (!p || !p->h || (p->h->n_chunks > 0 && !locs) || (p->n_sources > 0 && !p->sources))
		return zu_err_set(err, -EINVAL, "index check: missing header, sources or locations");
	r = zu_sha256_init(&k.sha, err);
	for (size_t i = 0; r == 0 && i < p->h->n_chunks; i++) {
		struct zu_seed_loc *l = &locs[i];

		if (l->source >= p->n_sources || !p->sources[l->source].index ||
		    p->h->chunks[i].len == 0)
			continue;
		r = check_one(&k, &p->h->chunks[i], l, err);
		if (r == 0 && k.st.n_checked % 64 == 0)
			r = zu_progress_check_cancel(&p->progress, err);
	}
	if (r == 0 && out_stats)
		*out_stats = k.st;
	free(k.buf);
	zu_sha256_fini(&k.sha);
	return r;
}
