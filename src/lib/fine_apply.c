/* SPDX-License-Identifier: MIT */
/*
 * fine_apply - device side of the fine profile (fine_apply.h). Nothing read
 * from a table is trusted: its lengths are checked before use (fine.c), its
 * digests only steer where bytes are taken from, and every rebuilt chunk must
 * match the header's uncompressed digest before it is handed on.
 */
#include "config.h"

#include "fine_apply.h"

#include <assert.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "decomp.h"
#include "fine.h"
#include "hash.h"
#include "io.h"
#include "piecehash.h"

#define FA_READ_BUF (1u << 20)  /* source reads; a multiple of every piece size */
#define FA_GAP 256u             /* merge frames closer than this (plan.c's reasoning) */
#define FA_NONE UINT32_MAX
/* Larger chunks are fetched whole, so that offsets in a chunk and a window fit 32 bits. */
#define FA_MAX_FINE_COMP (UINT32_MAX / 4)
/*
 * Ranges per batch of the frame stream: a multiple of the ranges per request
 * (so batches cut into full requests), far below what a batch frame may carry
 * (ZU_FRAME_RANGES_MAX); most updates are one batch.
 */
#define FA_BATCH_RANGES (128u * ZU_LIMITS_MAX_RANGES)
/*
 * Bytes per batch of the stream: what the downloader may fetch ahead of the
 * chunk being rebuilt, so a killed apply has not fetched much more than it
 * wrote (resume fetches at most 1.1x a clean run), yet several times what a
 * slow link carries in a round trip (lte: 10 Mbit/s x 100 ms = 125 KB), so the
 * round trip at the end of each batch costs a few percent.
 */
#define FA_BATCH_BYTES (1u << 20)

struct fa_chunk {
	size_t index;       /* target chunk */
	size_t first;       /* first piece in zu_fine.pieces */
	uint32_t n;         /* pieces */
	uint32_t table_len;
	size_t table_off;   /* in zu_fine.tables */
	bool whole;         /* fetch the whole chunk: no usable table */
	uint64_t buf_off;   /* whole: where the chunk is in the window */
};

/*
 * 16 bytes: there is one per piece of every missing chunk (fa_layout caps the
 * offsets). Where the piece is in its chunk follows from the header
 * (zu_fine_piece), its length is its wanted entry's.
 */
struct fa_piece {
	uint32_t frame_rel; /* frame's offset from its chunk's start in the .zck */
	uint32_t buf_off;   /* in the window, when fetched */
	uint32_t frame_len;
	uint32_t slot;      /* in the wanted set */
};

/* One wanted piece; the tables are freed once read into these. */
struct fa_want {
	uint8_t digest[ZU_FINE_DIGEST_LEN];
	uint32_t len;          /* 0: empty slot (a piece has at least one byte) */
	uint32_t source;       /* ZU_NO_SOURCE until found */
	uint64_t offset;
};

struct zu_fine {
	const struct zu_header *h;
	const struct zu_fine_layout *lay;
	struct fa_chunk *fc;
	size_t n_fc;
	struct fa_piece *pieces;
	size_t n_pieces;
	uint8_t *tables;
	size_t tables_len;
	struct zu_range *tranges;
	size_t n_tranges;
	struct fa_want *set;
	size_t set_mask;
	size_t cur;                 /* chunk cursor: chunks are asked for in order */
	size_t w_end;               /* chunks [.., w_end) are in or before the window */
	struct zu_range *wr;        /* window ranges */
	size_t n_wr, cap_wr;
	uint8_t *wbuf;
	size_t wbuf_cap;
	struct zu_decomp *dc;
	struct zu_sha256 sha;
	uint8_t *cbuf;              /* a whole chunk, for fallbacks */
	/* the frame stream (a backend that cuts and overlaps requests itself) */
	bool stream;                /* wr holds the ranges of every missing chunk */
	size_t sent;                /* wr[0..sent) asked for */
	bool batch_open;            /* a batch of them is being received */
	struct zu_fetch_rec rec;    /* the record being consumed... */
	size_t rec_at;              /* ...and its bytes consumed */
	struct zu_fetch *side;      /* fallbacks while the stream flows; owned */
	struct zu_fine_stats st;
};

static int fa_digest(struct zu_fine *f, const uint8_t *p, size_t n, uint8_t out[ZU_SHA256_LEN],
		     struct zu_err *err)
{
	int r = zu_sha256_reset(&f->sha, err);

	if (r == 0)
		r = zu_sha256_update(&f->sha, p, n, err);
	if (r == 0)
		r = zu_sha256_final(&f->sha, out, err);
	return r;
}

/* 1 when p[0..n) hashes to want, 0 when not, <0 on a hashing error. */
static int fa_matches(struct zu_fine *f, const uint8_t *p, size_t n, const uint8_t *want,
		      struct zu_err *err)
{
	uint8_t d[ZU_SHA256_LEN];
	int r = fa_digest(f, p, n, d, err);

	return r < 0 ? r : memcmp(d, want, ZU_SHA256_LEN) == 0;
}

void zu_fine_free(struct zu_fine *f)
{
	if (!f)
		return;
	free(f->fc);
	free(f->pieces);
	free(f->tables);
	free(f->tranges);
	free(f->set);
	free(f->wr);
	free(f->wbuf);
	free(f->cbuf);
	zu_fetch_free(f->side);
	zu_decomp_free(f->dc);
	zu_sha256_fini(&f->sha);
	free(f);
}

/* Counts the missing chunks and their pieces, and places their tables. */
static int fa_layout(struct zu_fine *f, const struct zu_seed_loc *locs, struct zu_err *err)
{
	const struct zu_header *h = f->h;
	size_t n_fc = 0, pieces = 0, tables = 0;

	for (size_t i = 0; i < h->n_chunks; i++)
		n_fc += locs[i].source == ZU_NO_SOURCE;
	f->fc = calloc(n_fc ? n_fc : 1, sizeof(*f->fc));
	f->tranges = calloc(n_fc ? n_fc : 1, sizeof(*f->tranges));
	if (!f->fc || !f->tranges)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu fine chunk records", n_fc);
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];
		struct fa_chunk *fc;
		uint64_t n, tlen;

		if (locs[i].source != ZU_NO_SOURCE)
			continue;
		fc = &f->fc[f->n_fc++];
		fc->index = i;
		n = zu_fine_n_pieces(f->lay, c->image_offset, c->len);
		tlen = zu_fine_table_len(f->lay, n);
		/* lengths from the header are bounded by max_chunk: these sums cannot overflow */
		if (n == 0 || n > UINT32_MAX || tlen == 0 || tlen >= c->comp_len ||
		    c->comp_len > FA_MAX_FINE_COMP) {
			fc->whole = true; /* not a fine chunk: read it as an ordinary one */
			continue;
		}
		fc->n = (uint32_t)n;
		fc->first = pieces;
		fc->table_len = (uint32_t)tlen;
		fc->table_off = tables;
		f->tranges[f->n_tranges++] = (struct zu_range){ c->file_offset, tlen };
		pieces += (size_t)n;
		tables += (size_t)tlen;
	}
	f->n_pieces = pieces;
	f->tables_len = tables;
	f->tables = malloc(tables ? tables : 1);
	f->pieces = calloc(pieces ? pieces : 1, sizeof(*f->pieces));
	if (!f->tables || !f->pieces)
		return zu_err_set(err, -ENOMEM, "cannot allocate the tables of %zu pieces", pieces);
	return 0;
}

int zu_fine_new(const struct zu_header *h, const struct zu_seed_loc *locs,
		struct zu_fine **out, const struct zu_range **out_ranges, size_t *out_n,
		struct zu_err *err)
{
	struct zu_fine *f;
	int r;

	*out = NULL;
	if (!h->fine.valid || h->has_dict)
		return zu_err_set(err, -EINVAL, "fine: the header has no fine layout (or a dict)");
	f = calloc(1, sizeof(*f));
	if (!f)
		return zu_err_set(err, -ENOMEM, "out of memory");
	f->h = h;
	f->lay = &h->fine;
	f->sha = (struct zu_sha256)ZU_SHA256_INIT;
	r = zu_sha256_init(&f->sha, err);
	if (r == 0)
		r = fa_layout(f, locs, err);
	if (r < 0) {
		zu_fine_free(f);
		return r;
	}
	f->st.n_chunks = f->n_fc;
	*out_ranges = f->tranges;
	*out_n = f->n_tranges;
	*out = f;
	return 0;
}

/* ---- tables and the wanted set ------------------------------------------------ */

static size_t fa_hash(const uint8_t *d, uint32_t len)
{
	uint64_t v;

	memcpy(&v, d, sizeof(v)); /* digest bytes are uniform: no mixing needed */
	return (size_t)(v ^ (uint64_t)len * 0x9e3779b97f4a7c15ULL);
}

/* The slot of (digest, len): an equal entry, or the empty slot where it goes. */
static size_t fa_slot(const struct zu_fine *f, const uint8_t *d, uint32_t len)
{
	size_t s = fa_hash(d, len) & f->set_mask;

	while (f->set[s].len && (f->set[s].len != len ||
				 memcmp(f->set[s].digest, d, ZU_FINE_DIGEST_LEN) != 0))
		s = (s + 1) & f->set_mask;
	return s;
}

static int fa_set_alloc(struct zu_fine *f, struct zu_err *err)
{
	size_t cap = 16;

	/* load at most 3/4 (linear probing stays short); the set is most of fine's memory */
	while (cap / 4 * 3 < f->n_pieces)
		cap *= 2;
	f->set = calloc(cap, sizeof(*f->set));
	if (!f->set)
		return zu_err_set(err, -ENOMEM, "cannot allocate a set of %zu pieces", cap);
	f->set_mask = cap - 1;
	return 0;
}

/* Places a checked table's pieces in the .zck and in the chunk, and wants them. */
static void fa_take_table(struct zu_fine *f, struct fa_chunk *fc)
{
	const struct zu_chunk *c = &f->h->chunks[fc->index];
	const uint8_t *t = f->tables + fc->table_off;
	uint64_t off = fc->table_len; /* from the chunk's start: < FA_MAX_FINE_COMP */

	for (uint32_t k = 0; k < fc->n; k++) {
		struct fa_piece *p = &f->pieces[fc->first + k];
		struct zu_fine_entry e;
		uint64_t ps, pl;
		size_t s;

		zu_fine_entry_get(f->lay, t, k, &e);
		zu_fine_piece(f->lay, c->image_offset, c->len, k, &ps, &pl);
		p->frame_rel = (uint32_t)off;
		p->frame_len = e.frame_len;
		off += e.frame_len;
		s = fa_slot(f, e.digest, (uint32_t)pl);
		if (!f->set[s].len) {
			f->set[s] = (struct fa_want){ .len = (uint32_t)pl, .source = ZU_NO_SOURCE };
			memcpy(f->set[s].digest, e.digest, ZU_FINE_DIGEST_LEN);
		}
		p->slot = (uint32_t)s;
	}
}

int zu_fine_read_tables(struct zu_fine *f, struct zu_fetch *fetch, struct zu_err *err)
{
	struct zu_fetch_rec rec = { 0 };
	size_t j = 0, k = 0;
	uint64_t done = 0;
	int r;

	/* tranges[j] is the table of the j-th chunk that is not whole; k walks to it */
	while ((r = zu_fetch_next(fetch, &rec, err)) == 1) {
		size_t at = 0;

		while (at < rec.len) {
			size_t n;

			while (k < f->n_fc && f->fc[k].whole)
				k++;
			if (j >= f->n_tranges || k >= f->n_fc)
				return zu_err_set(err, -ENOTRECOVERABLE, "fine: records beyond the tables");
			n = rec.len - at;
			if (n > f->tranges[j].len - done)
				n = (size_t)(f->tranges[j].len - done);
			memcpy(f->tables + f->fc[k].table_off + done, rec.data + at, n);
			at += n;
			done += n;
			if (done == f->tranges[j].len) {
				j++;
				k++;
				done = 0;
			}
		}
		f->st.table_bytes += rec.len;
	}
	if (r < 0)
		return zu_err_prefix(err, "piece tables");
	if (j != f->n_tranges)
		return zu_err_set(err, -ENOTRECOVERABLE, "fine: %zu of %zu tables received", j,
				  f->n_tranges);
	r = fa_set_alloc(f, err);
	for (size_t i = 0; r == 0 && i < f->n_fc; i++) {
		struct fa_chunk *fc = &f->fc[i];
		const struct zu_chunk *c = &f->h->chunks[fc->index];
		struct zu_err scratch = ZU_ERR_INIT;

		if (fc->whole)
			continue;
		if (zu_fine_table_check(f->lay, f->tables + fc->table_off, fc->table_len, fc->n,
					c->comp_len, &scratch) < 0) {
			fc->whole = true; /* untrusted and malformed: fetch the chunk as usual */
			f->st.n_bad_tables++;
			continue;
		}
		f->st.n_pieces += fc->n;
		fa_take_table(f, fc);
	}
	free(f->tables); /* all in the wanted set and the piece records now */
	f->tables = NULL;
	return r;
}

/* ---- finding pieces in the sources ----------------------------------------------- */

/*
 * The first find of each wanted piece in one thread's part of a source, in
 * scan order (so at its lowest offset there): merged into the set after the
 * threads, part by part, which gives what one thread scanning in order finds.
 */
struct fa_found {
	uint8_t *seen;  /* a bit per slot of the wanted set */
	uint32_t *slot;
	uint64_t *off;
	size_t n, cap;
	bool oom;
};

struct fa_scan {
	struct zu_fine *f;
	uint32_t source;
	size_t n_found;
	struct fa_found *found; /* NULL: finds go into the set at once (one thread) */
};

static void fa_found_add(struct fa_found *fd, uint32_t slot, uint64_t off)
{
	if (fd->oom || fd->seen[slot / 8] >> (slot % 8) & 1)
		return;
	if (fd->n == fd->cap) {
		size_t cap = fd->cap ? 2 * fd->cap : 256;
		uint32_t *s = realloc(fd->slot, cap * sizeof(*s));
		uint64_t *o = s ? realloc(fd->off, cap * sizeof(*o)) : NULL;

		if (s)
			fd->slot = s;
		if (!o) {
			fd->oom = true;
			return;
		}
		fd->off = o;
		fd->cap = cap;
	}
	fd->seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
	fd->slot[fd->n] = slot;
	fd->off[fd->n++] = off;
}

/* The piece hash is a candidate's name only: the rebuilt chunk's SHA-256 decides. */
static void fa_lookup(struct fa_scan *sc, const uint8_t *p, size_t n, uint64_t off)
{
	struct zu_fine *f = sc->f;
	uint8_t d[ZU_PIECEHASH_LEN];
	struct fa_want *w;

	size_t slot;

	zu_piecehash_bytes(p, n, d);
	slot = fa_slot(f, d, (uint32_t)n);
	w = &f->set[slot];
	if (!w->len || w->source != ZU_NO_SOURCE)
		return;
	if (sc->found) {
		fa_found_add(sc->found, (uint32_t)slot, off);
		return;
	}
	w->source = sc->source;
	w->offset = off;
	sc->n_found++;
}

/*
 * One buffer at source offset base (a multiple of the piece size): every
 * aligned block, and the parts of blocks that the source's chunk cuts
 * (cuts[0..n_cuts), absolute, ascending) split, as make clips pieces.
 */
static void fa_scan_buf(struct fa_scan *sc, const uint8_t *buf, size_t n, uint64_t base,
			const uint64_t *cuts, size_t n_cuts)
{
	size_t piece = (size_t)1 << sc->f->lay->piece_shift, c = 0;

	for (size_t b = 0; b < n; b += piece) {
		size_t blen = n - b < piece ? n - b : piece;
		uint64_t from = base + b, end = from + blen;

		fa_lookup(sc, buf + b, blen, from);
		while (c < n_cuts && cuts[c] <= base + b)
			c++;
		if (c >= n_cuts || cuts[c] >= end)
			continue;
		for (; c < n_cuts && cuts[c] < end; c++) {
			fa_lookup(sc, buf + (from - base), (size_t)(cuts[c] - from), from);
			from = cuts[c];
		}
		fa_lookup(sc, buf + (from - base), (size_t)(end - from), from);
	}
}

/*
 * The cuts of a source that fall in [off, off + n): from the index's record
 * when it is complete (*next walks it), else by running the chunker ch over
 * the buffer into cuts[0..cap_cuts).
 */
static size_t fa_cuts(const struct zu_index_cuts *known, size_t *next, struct zu_chunker *ch,
		      const uint8_t *buf, size_t n, uint64_t off, uint64_t *cuts, size_t cap_cuts,
		      const uint64_t **out)
{
	size_t pos = 0, n_cuts = 0;

	if (known) {
		size_t from = *next;

		while (*next < known->n && known->at[*next] < off + n)
			(*next)++;
		*out = known->at + from;
		return *next - from;
	}
	while (pos < n) {
		size_t k = zu_chunker_scan(ch, buf + pos, n - pos);

		if (k == ZU_CHUNKER_NO_CUT)
			break;
		pos += k;
		if (n_cuts < cap_cuts && (n_cuts == 0 || cuts[n_cuts - 1] != off + pos))
			cuts[n_cuts++] = off + pos;
	}
	*out = cuts;
	return n_cuts;
}

static int fa_index_source(struct fa_scan *sc, int fd, uint64_t size,
			   const struct zu_index_cuts *known, uint8_t *buf, uint64_t *cuts,
			   size_t cap_cuts, const struct zu_progress *progress, uint64_t *done,
			   uint64_t total, struct zu_err *err)
{
	struct zu_chunker ch;
	size_t next = 0;
	int r = 0;

	zu_chunker_init(&ch);
	for (uint64_t off = 0; r == 0 && off < size; off += FA_READ_BUF) {
		size_t n = size - off < FA_READ_BUF ? (size_t)(size - off) : FA_READ_BUF;
		const uint64_t *at;
		size_t n_at;

		r = zu_io_pread_full(fd, buf, n, off, err);
		if (r < 0)
			return zu_err_prefix(err, "offset %" PRIu64, off);
		n_at = fa_cuts(known, &next, &ch, buf, n, off, cuts, cap_cuts, &at);
		fa_scan_buf(sc, buf, n, off, at, n_at);
		*done += n;
		sc->f->st.source_bytes += n;
		zu_progress_report(progress, ZU_PHASE_PIECES, *done, total);
		r = zu_progress_check_cancel(progress, err);
	}
	return r;
}

/* One thread's part [from, to) of a source whose cuts the index recorded. */
struct fa_part {
	struct fa_scan sc;
	struct fa_found found;
	int fd;
	uint64_t from, to;
	const struct zu_index_cuts *known;
	const struct zu_progress *progress; /* its cancel flag only: workers report nothing */
	uint8_t *buf;
	int r;
	struct zu_err err;
	pthread_t tid;
	bool started;
};

static void *fa_part_main(void *arg)
{
	struct fa_part *p = arg;
	size_t lo = 0, hi = p->known->n;

	while (lo < hi) { /* the first cut after from */
		size_t mid = lo + (hi - lo) / 2;

		if (p->known->at[mid] <= p->from)
			lo = mid + 1;
		else
			hi = mid;
	}
	p->err = (struct zu_err)ZU_ERR_INIT;
	p->r = 0;
	for (uint64_t off = p->from; p->r == 0 && off < p->to; off += FA_READ_BUF) {
		size_t n = p->to - off < FA_READ_BUF ? (size_t)(p->to - off) : FA_READ_BUF;
		const uint64_t *at;
		size_t n_at;

		p->r = zu_io_pread_full(p->fd, p->buf, n, off, &p->err);
		if (p->r < 0) {
			zu_err_prefix(&p->err, "offset %" PRIu64, off);
			break;
		}
		n_at = fa_cuts(p->known, &lo, NULL, p->buf, n, off, NULL, 0, &at);
		fa_scan_buf(&p->sc, p->buf, n, off, at, n_at);
		p->r = zu_progress_check_cancel(p->progress, &p->err);
	}
	if (p->r == 0 && p->found.oom)
		p->r = zu_err_set(&p->err, -ENOMEM, "out of memory for the pieces found");
	return NULL;
}

/*
 * A source with recorded cuts on threads: split into parts of whole read
 * blocks, each scanned by its own thread (this one takes the first), then
 * merged in order. Same finds as fa_index_source.
 */
static int fa_index_parallel(struct fa_scan *sc, int fd, uint64_t size,
			     const struct zu_index_cuts *known, unsigned threads,
			     const struct zu_progress *progress, struct zu_err *err)
{
	struct zu_fine *f = sc->f;
	uint64_t blocks = (size + FA_READ_BUF - 1) / FA_READ_BUF;
	uint64_t per = (blocks + threads - 1) / threads * FA_READ_BUF;
	unsigned n_parts = (unsigned)((size + per - 1) / per);
	struct fa_part *parts = calloc(n_parts, sizeof(*parts));
	size_t seen_len = (f->set_mask + 1) / 8 + 1;
	int r = 0;

	if (!parts)
		return zu_err_set(err, -ENOMEM, "cannot allocate %u scan parts", n_parts);
	for (unsigned k = 0; k < n_parts && r == 0; k++) {
		struct fa_part *p = &parts[k];

		p->sc = (struct fa_scan){ .f = f, .source = sc->source, .found = &p->found };
		p->fd = fd;
		p->from = k * per;
		p->to = p->from + per < size ? p->from + per : size;
		p->known = known;
		p->progress = progress;
		p->buf = malloc(FA_READ_BUF);
		p->found.seen = calloc(seen_len, 1);
		if (!p->buf || !p->found.seen)
			r = zu_err_set(err, -ENOMEM, "cannot allocate a scan buffer");
	}
	for (unsigned k = 1; k < n_parts && r == 0; k++)
		parts[k].started = pthread_create(&parts[k].tid, NULL, fa_part_main, &parts[k]) == 0;
	for (unsigned k = 0; k < n_parts && r == 0; k++) {
		if (k > 0 && parts[k].started)
			pthread_join(parts[k].tid, NULL);
		else
			fa_part_main(&parts[k]); /* the first part, or no thread could start */
	}
	/* merge in part order: a part's finds are before the next part's */
	for (unsigned k = 0; k < n_parts && r == 0; k++) {
		const struct fa_part *p = &parts[k];

		if (p->r < 0) {
			*err = p->err;
			r = p->r;
			break;
		}
		for (size_t x = 0; x < p->found.n; x++) {
			struct fa_want *w = &f->set[p->found.slot[x]];

			if (w->source == ZU_NO_SOURCE) {
				w->source = sc->source;
				w->offset = p->found.off[x];
				sc->n_found++;
			}
		}
	}
	for (unsigned k = 0; k < n_parts; k++) {
		free(parts[k].buf);
		free(parts[k].found.seen);
		free(parts[k].found.slot);
		free(parts[k].found.off);
	}
	free(parts);
	if (r == 0)
		f->st.source_bytes += size;
	return r;
}

int zu_fine_index(struct zu_fine *f, const int *fds, const uint64_t *sizes,
		  const struct zu_index_cuts *cuts, size_t n, unsigned threads,
		  const struct zu_progress *progress, struct zu_err *err)
{
	/* a chunk is at least ZU_CHUNKER_MIN bytes: at most this many cuts in a buffer */
	size_t cap_cuts = FA_READ_BUF / ZU_CHUNKER_MIN + 2;
	uint8_t *buf = NULL;
	uint64_t *cuts_buf = NULL, total = 0, done = 0;
	size_t wanted = 0;
	struct fa_scan sc = { .f = f };
	int r = 0;

	if (!f->set || f->st.n_pieces == 0)
		return 0;
	for (size_t s = 0; s <= f->set_mask; s++)
		wanted += f->set[s].len != 0;
	for (size_t i = 0; i < n; i++)
		total += sizes[i];
	buf = malloc(FA_READ_BUF);
	cuts_buf = malloc(cap_cuts * sizeof(*cuts_buf));
	if (!buf || !cuts_buf) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate a read buffer");
		goto out;
	}
	for (size_t i = 0; r == 0 && i < n && sc.n_found < wanted; i++) {
		const struct zu_index_cuts *known = cuts && cuts[i].complete ? &cuts[i] : NULL;

		sc.source = (uint32_t)i;
		if (known && threads > 1 && sizes[i] >= 2 * (uint64_t)FA_READ_BUF) {
			r = fa_index_parallel(&sc, fds[i], sizes[i], known, threads, progress,
					      err);
			done += sizes[i];
			zu_progress_report(progress, ZU_PHASE_PIECES, done, total);
		} else {
			r = fa_index_source(&sc, fds[i], sizes[i], known, buf, cuts_buf, cap_cuts,
					    progress, &done, total, err);
		}
		if (r < 0)
			zu_err_prefix(err, "source %zu", i);
	}
out:
	free(buf);
	free(cuts_buf);
	return r;
}

/*
 * Counts a range of the plan, merged with the one before when close (as
 * fa_win_add); returns the bytes it adds (the gap merged in, and its own).
 */
static uint64_t fa_stat_range(struct zu_fine_stats *st, uint64_t *end, uint64_t off, uint64_t len)
{
	uint64_t add = len;

	if (*end && off >= *end && off - *end < FA_GAP) {
		add = off + len - *end;
	} else {
		st->n_ranges++;
	}
	st->fetch_bytes += add;
	*end = off + len;
	return add;
}

static void fa_emit(zu_fine_item_fn fn, void *user, size_t chunk, uint64_t off, uint64_t len,
		    uint64_t bytes, bool reused)
{
	struct zu_fine_item it = { .chunk = chunk, .image_offset = off, .image_len = len,
				   .fetch_bytes = bytes, .reused = reused, .table = false };

	if (fn)
		fn(user, &it);
}

/* The plan figures, and (fn not NULL) each item they are made of, in .zck order. */
static void fa_plan_walk(const struct zu_fine *f, struct zu_fine_stats *out, zu_fine_item_fn fn,
			 void *user)
{
	struct zu_fine_stats st = f->st;
	uint64_t end = 0;

	st.n_reused = st.n_fetched = st.n_ranges = 0;
	st.reused_bytes = st.fetched_piece_bytes = st.frame_bytes = 0;
	st.fetch_bytes = st.table_bytes;
	for (size_t i = 0; i < f->n_fc; i++) {
		const struct fa_chunk *fc = &f->fc[i];
		const struct zu_chunk *c = &f->h->chunks[fc->index];

		/* a table was fetched for every chunk that had one, malformed ones too */
		if (fc->table_len && fn) {
			struct zu_fine_item it = { .chunk = fc->index, .image_offset = c->image_offset,
						   .image_len = c->len, .fetch_bytes = fc->table_len,
						   .table = true };

			fn(user, &it);
		}
		if (fc->whole) {
			uint64_t add = fa_stat_range(&st, &end, c->file_offset, c->comp_len);

			fa_emit(fn, user, fc->index, c->image_offset, c->len, add, false);
			continue;
		}
		for (uint32_t k = 0; k < fc->n; k++) {
			const struct fa_piece *p = &f->pieces[fc->first + k];
			uint64_t ps = 0, pl = 0, add;

			if (fn)
				zu_fine_piece(f->lay, c->image_offset, c->len, k, &ps, &pl);
			if (f->set[p->slot].source != ZU_NO_SOURCE) {
				st.n_reused++;
				st.reused_bytes += f->set[p->slot].len;
				fa_emit(fn, user, fc->index, c->image_offset + ps, pl, 0, true);
				continue;
			}
			st.n_fetched++;
			st.fetched_piece_bytes += f->set[p->slot].len;
			st.frame_bytes += p->frame_len;
			add = fa_stat_range(&st, &end, c->file_offset + p->frame_rel, p->frame_len);
			fa_emit(fn, user, fc->index, c->image_offset + ps, pl, add, false);
		}
	}
	if (out)
		*out = st;
}

void zu_fine_get_stats(const struct zu_fine *f, struct zu_fine_stats *out)
{
	fa_plan_walk(f, out, NULL, NULL);
}

void zu_fine_walk(const struct zu_fine *f, zu_fine_item_fn fn, void *user)
{
	fa_plan_walk(f, NULL, fn, user);
}

/* ---- windows of frames, and rebuilding ------------------------------------------- */

/* Appends [off, off+len) to the window (merged with the last range when close). */
static int fa_win_add(struct zu_fine *f, uint64_t off, uint64_t len, uint64_t *bytes,
		      uint64_t *out_buf_off, struct zu_err *err)
{
	struct zu_range *last = f->n_wr ? &f->wr[f->n_wr - 1] : NULL;

	if (last && off >= last->off + last->len && off - (last->off + last->len) < FA_GAP) {
		uint64_t grow = off + len - (last->off + last->len);

		*out_buf_off = *bytes + (off - (last->off + last->len));
		last->len += grow;
		*bytes += grow;
		return 0;
	}
	if (f->n_wr == f->cap_wr) {
		size_t cap = f->cap_wr ? 2 * f->cap_wr : 64;
		struct zu_range *p = realloc(f->wr, cap * sizeof(*p));

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot grow the window to %zu ranges", cap);
		f->wr = p;
		f->cap_wr = cap;
	}
	f->wr[f->n_wr++] = (struct zu_range){ off, len };
	*out_buf_off = *bytes;
	*bytes += len;
	return 0;
}

/* Adds what chunk fc needs from the .zck to the window. */
static int fa_win_chunk(struct zu_fine *f, struct fa_chunk *fc, uint64_t *bytes,
			struct zu_err *err)
{
	const struct zu_chunk *c = &f->h->chunks[fc->index];
	int r = 0;

	if (fc->whole)
		return fa_win_add(f, c->file_offset, c->comp_len, bytes, &fc->buf_off, err);
	for (uint32_t k = 0; r == 0 && k < fc->n; k++) {
		struct fa_piece *p = &f->pieces[fc->first + k];
		uint64_t at = 0;

		if (f->set[p->slot].source != ZU_NO_SOURCE)
			continue;
		r = fa_win_add(f, c->file_offset + p->frame_rel, p->frame_len, bytes, &at, err);
		p->buf_off = (uint32_t)at; /* a window is < 2 * FA_MAX_FINE_COMP */
	}
	return r;
}

/* Fetches the next window: chunks from f->w_end on, up to the range and byte caps. */
static int fa_win_fill(struct zu_fine *f, const struct zu_fine_io *io, struct zu_err *err)
{
	size_t max = io->max_ranges ? io->max_ranges : ZU_PLAN_DEFAULT_MAX_RANGES;
	struct zu_fetch_rec rec = { 0 };
	uint64_t bytes = 0, got = 0;
	int r;

	/* a backend that cuts requests itself gets several requests' worth at once */
	if (io->fetch->ops->whole_batch)
		max *= 4;
	f->n_wr = 0;
	while (f->w_end < f->n_fc) {
		size_t n_wr = f->n_wr;
		uint64_t b = bytes, last_len = n_wr ? f->wr[n_wr - 1].len : 0;

		r = fa_win_chunk(f, &f->fc[f->w_end], &bytes, err);
		if (r < 0)
			return r;
		if (b > 0 && (f->n_wr > max || bytes > ZU_FINE_WINDOW_BYTES)) {
			f->n_wr = n_wr; /* does not fit: it opens the next window */
			f->wr[n_wr - 1].len = last_len; /* b > 0: there was a range before it */
			bytes = b;
			break;
		}
		f->w_end++;
	}
	if (bytes > f->wbuf_cap) {
		uint8_t *p = realloc(f->wbuf, (size_t)bytes);

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot allocate a window of %" PRIu64 " bytes",
					  bytes);
		f->wbuf = p;
		f->wbuf_cap = (size_t)bytes;
	}
	if (f->n_wr == 0)
		return 0;
	r = zu_fetch_request(io->fetch, f->wr, f->n_wr, err);
	/* records continue each other inside the ranges, in order (fetch.c): append them */
	while (r == 0 && (r = zu_fetch_next(io->fetch, &rec, err)) == 1) {
		memcpy(f->wbuf + got, rec.data, rec.len);
		got += rec.len;
		r = 0;
	}
	if (r < 0)
		return r;
	if (got != bytes)
		return zu_err_set(err, -EPROTO, "window of %" PRIu64 " bytes, got %" PRIu64, bytes,
				  got);
	return 0;
}

/* This thread's decoder, made when first needed (workers bring their own). */
static int fa_dc(struct zu_fine *f, struct zu_err *err)
{
	return f->dc ? 0 : zu_decomp_new(NULL, 0, &f->dc, err);
}

/* A whole chunk's compressed bytes in cbuf: compressed digest, decompress, digest. */
static int fa_whole(struct zu_fine *f, const struct zu_chunk *c, const uint8_t *cbuf,
		    uint8_t *ubuf, struct zu_err *err)
{
	int r = fa_dc(f, err);

	if (r == 0)
		r = fa_matches(f, cbuf, (size_t)c->comp_len, c->digest, err);

	if (r == 0)
		return zu_err_set(err, -EILSEQ, "compressed digest mismatch");
	if (r > 0)
		r = zu_decomp_chunk(f->dc, cbuf, (size_t)c->comp_len, ubuf, (size_t)c->len, err);
	if (r == 0)
		r = fa_matches(f, ubuf, (size_t)c->len, c->udigest, err);
	if (r == 0)
		return zu_err_set(err, -EILSEQ, "uncompressed digest mismatch");
	return r < 0 ? r : 0;
}

/* The record of missing chunk i, found by bisection (any thread: fc is read-only here). */
static const struct fa_chunk *fa_lookup_chunk(const struct zu_fine *f, size_t i)
{
	size_t lo = 0, hi = f->n_fc;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->fc[mid].index < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n_fc && f->fc[lo].index == i ? &f->fc[lo] : NULL;
}

static struct fa_chunk *fa_find(struct zu_fine *f, size_t i)
{
	while (f->cur < f->n_fc && f->fc[f->cur].index < i)
		f->cur++;
	return f->cur < f->n_fc && f->fc[f->cur].index == i ? &f->fc[f->cur] : NULL;
}

/* ---- the frame stream ------------------------------------------------------------- */

/*
 * The ranges of every missing chunk, in image order, asked for in batches of
 * FA_BATCH_BYTES: the downloader cuts a batch into requests, keeps them in
 * flight on all connections and hands the bytes on in order as they arrive,
 * and the chunks are rebuilt from them meanwhile. What is held here is one
 * record.
 */
static int fa_stream_plan(struct zu_fine *f, struct zu_err *err)
{
	uint64_t bytes = 0;
	int r = 0;

	f->n_wr = 0;
	for (size_t k = 0; r == 0 && k < f->n_fc; k++)
		r = fa_win_chunk(f, &f->fc[k], &bytes, err);
	f->w_end = f->n_fc;
	f->stream = true;
	return r;
}

/* The next record of the stream, asking for the next batch when one ends. */
static int fa_stream_next(struct zu_fine *f, const struct zu_fine_io *io, struct zu_err *err)
{
	for (;;) {
		size_t n;
		int r;

		if (f->batch_open) {
			r = zu_fetch_next(io->fetch, &f->rec, err);
			if (r != 0)
				return r;
			f->batch_open = false;
		}
		if (f->sent == f->n_wr)
			return zu_err_set(err, -EPROTO, "fine: the frame stream ended early");
		n = 0;
		for (uint64_t b = 0; f->sent + n < f->n_wr && n < FA_BATCH_RANGES &&
				     b < FA_BATCH_BYTES; n++)
			b += f->wr[f->sent + n].len;
		r = zu_fetch_request(io->fetch, f->wr + f->sent, n, err);
		if (r < 0)
			return r;
		f->sent += n;
		f->batch_open = true;
	}
}

/*
 * Copies stream bytes [off, off+len) to dst. The stream is in resource order
 * (fetch.c checks it) and holds these bytes (they are in wr): bytes before off
 * are merged gaps, skipped.
 */
static int fa_stream_take(struct zu_fine *f, const struct zu_fine_io *io, uint64_t off,
			  size_t len, uint8_t *dst, struct zu_err *err)
{
	while (len) {
		uint64_t at, end;
		size_t n;

		if (f->rec_at == f->rec.len) {
			int r = fa_stream_next(f, io, err);

			if (r < 0)
				return r;
			f->rec_at = 0;
		}
		at = f->rec.off + f->rec_at;
		end = f->rec.off + f->rec.len;
		if (end <= off) {
			f->rec_at = f->rec.len;
			continue;
		}
		if (at > off)
			return zu_err_set(err, -ENOTRECOVERABLE, "fine: stream at %" PRIu64
					  " past frame bytes at %" PRIu64, at, off);
		f->rec_at += (size_t)(off - at);
		n = end - off < len ? (size_t)(end - off) : len;
		memcpy(dst, f->rec.data + f->rec_at, n);
		f->rec_at += n;
		dst += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* After the last chunk: the batch must end where its ranges do (nothing else is left). */
static int fa_stream_end(struct zu_fine *f, const struct zu_fine_io *io, struct zu_err *err)
{
	int r;

	if (f->rec_at != f->rec.len || f->sent != f->n_wr)
		return zu_err_set(err, -ENOTRECOVERABLE, "fine: frame bytes left in the stream");
	while (f->batch_open) {
		r = zu_fetch_next(io->fetch, &f->rec, err);
		if (r < 0)
			return r;
		if (r == 1)
			return zu_err_set(err, -EPROTO, "fine: bytes beyond the frames");
		f->batch_open = false;
	}
	return 0;
}

/* What chunk fc needs, from the stream into cbuf (as the window copy below). */
static int fa_stream_chunk(struct zu_fine *f, const struct zu_fine_io *io,
			   const struct fa_chunk *fc, uint8_t *cbuf, struct zu_err *err)
{
	const struct zu_chunk *c = &f->h->chunks[fc->index];
	size_t pos = 0;
	int r = 0;

	if (fc->whole)
		return fa_stream_take(f, io, c->file_offset, (size_t)c->comp_len, cbuf, err);
	for (uint32_t k = 0; r == 0 && k < fc->n; k++) {
		const struct fa_piece *p = &f->pieces[fc->first + k];

		if (f->set[p->slot].source != ZU_NO_SOURCE)
			continue;
		r = fa_stream_take(f, io, c->file_offset + p->frame_rel, p->frame_len, cbuf + pos,
				   err);
		pos += p->frame_len;
	}
	return r;
}

int zu_fine_prepare_chunk(struct zu_fine *f, const struct zu_fine_io *io, size_t i,
			  uint8_t *cbuf, size_t cap, struct zu_err *err)
{
	struct fa_chunk *fc = fa_find(f, i);
	const struct zu_chunk *c = &f->h->chunks[i];
	size_t pos = 0;
	int r;

	if (!fc)
		return zu_err_set(err, -ENOTRECOVERABLE, "fine: chunk %zu is not a missing chunk", i);
	if (c->comp_len > cap)
		return zu_err_set(err, -ENOTRECOVERABLE, "fine: chunk %zu larger than its buffer", i);
	if (io->fetch->ops->whole_batch) {
		r = f->stream ? 0 : fa_stream_plan(f, err);
		if (r == 0)
			r = fa_stream_chunk(f, io, fc, cbuf, err);
		if (r == 0 && f->cur + 1 == f->n_fc)
			r = fa_stream_end(f, io, err);
		if (r < 0)
			return zu_err_prefix(err, "fine frames of chunk %zu", i);
		return 0;
	}
	if (f->cur >= f->w_end) {
		f->w_end = f->cur;
		r = fa_win_fill(f, io, err);
		if (r < 0)
			return zu_err_prefix(err, "fine window at chunk %zu", i);
	}
	if (fc->whole) {
		memcpy(cbuf, f->wbuf + fc->buf_off, (size_t)c->comp_len);
		return 0;
	}
	/* the frames a chunk lists sum to less than its comp_len (table checked): they fit */
	for (uint32_t k = 0; k < fc->n; k++) {
		const struct fa_piece *p = &f->pieces[fc->first + k];

		if (f->set[p->slot].source != ZU_NO_SOURCE)
			continue;
		memcpy(cbuf + pos, f->wbuf + p->buf_off, p->frame_len);
		pos += p->frame_len;
	}
	return 0;
}

/* A whole chunk: its compressed digest, then decompressed (verified by the caller). */
static int fa_build_whole(const struct zu_chunk *c, struct zu_decomp *dc, const uint8_t *cbuf,
			  uint8_t *ubuf, struct zu_err *err)
{
	uint8_t d[ZU_SHA256_LEN];
	struct zu_err scratch = ZU_ERR_INIT;
	int r = zu_sha256_buf(cbuf, (size_t)c->comp_len, d, err);

	if (r < 0)
		return r;
	if (memcmp(d, c->digest, ZU_SHA256_LEN) != 0)
		return 0;
	return zu_decomp_chunk(dc, cbuf, (size_t)c->comp_len, ubuf, (size_t)c->len, &scratch) < 0
		       ? 0
		       : 1;
}

int zu_fine_build_chunk(const struct zu_fine *f, const int *source_fds, size_t n_sources,
			struct zu_decomp *dc, size_t i, const uint8_t *cbuf, uint8_t *ubuf,
			struct zu_err *err)
{
	const struct fa_chunk *fc = fa_lookup_chunk(f, i);
	const struct zu_chunk *c = &f->h->chunks[i];
	size_t pos = 0;
	int r;

	if (!fc)
		return zu_err_set(err, -ENOTRECOVERABLE, "fine: chunk %zu is not a missing chunk", i);
	if (fc->whole)
		return fa_build_whole(c, dc, cbuf, ubuf, err);
	for (uint32_t k = 0; k < fc->n; k++) {
		const struct fa_piece *p = &f->pieces[fc->first + k];
		const struct fa_want *w = &f->set[p->slot];
		struct zu_err scratch = ZU_ERR_INIT;
		uint64_t start, len;

		zu_fine_piece(f->lay, c->image_offset, c->len, k, &start, &len);
		if (w->source != ZU_NO_SOURCE) {
			if (w->source >= n_sources)
				return zu_err_set(err, -ENOTRECOVERABLE, "piece source %" PRIu32,
						  w->source);
			r = zu_io_pread_full(source_fds[w->source], ubuf + start, (size_t)len,
					     w->offset, err);
			if (r < 0)
				return zu_err_prefix(err, "source %" PRIu32 " offset %" PRIu64,
						     w->source, w->offset);
			continue;
		}
		/* a frame that does not decode: the table is untrusted, fetch the chunk whole */
		if (zu_decomp_chunk(dc, cbuf + pos, p->frame_len, ubuf + start, (size_t)len,
				    &scratch) < 0)
			return 0;
		pos += p->frame_len;
	}
	return 1;
}

int zu_fine_fallback_chunk(struct zu_fine *f, const struct zu_fine_io *io, size_t i,
			   uint8_t *ubuf, struct zu_err *err)
{
	const struct zu_chunk *c = &f->h->chunks[i];
	int r;

	f->st.n_fallback++;
	f->st.fallback_bytes += c->comp_len;
	if (!f->cbuf) {
		f->cbuf = malloc((size_t)f->h->max_chunk_len);
		if (!f->cbuf)
			return zu_err_set(err, -ENOMEM, "cannot allocate a chunk buffer");
	}
	r = 0;
	if (f->batch_open && !f->side) {
		/* the stream keeps flowing: the chunk comes on a fetcher of its own */
		if (!io->url)
			return zu_err_set(err, -ENOTRECOVERABLE,
					  "fine: a fallback mid-stream needs the url");
		r = zu_fetch_open(io->url, io->lim, io->net, &f->side, err);
	}
	if (r == 0)
		r = zu_fetch_read_at(f->batch_open ? f->side : io->fetch, f->cbuf, c->file_offset,
				     (size_t)c->comp_len, err);
	if (r == 0 && f->batch_open)
		f->st.side_bytes += c->comp_len;
	if (r == 0)
		r = fa_whole(f, c, f->cbuf, ubuf, err);
	if (r < 0)
		return zu_err_prefix(err, "chunk %zu fetched whole after its pieces did not verify",
				     i);
	return 0;
}
