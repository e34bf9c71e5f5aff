/* SPDX-License-Identifier: MIT */
/*
 * explain - attribution of a plan's bytes to files (explain.h). Owners:
 * the new image cut into disjoint intervals, each belonging to one entry
 * (a file's extent, or a window of offsets no file system reader named);
 * every segment of the plan is then split over the intervals it covers.
 */
#include "config.h"

#include "explain/explain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#define XP_DEFAULT_CELLS 1024u
#define XP_DEFAULT_RANGE (1u << 20)
#define XP_CELL_ALIGN 4096u

struct xp_owner {
	uint64_t off, end;
	size_t entry;
};

struct xp_state {
	struct zu_explain_result *res;
	struct xp_owner *own;
	size_t n_own, cap_own;
	size_t cap_files;
	size_t *window;       /* per range window: its entry, SIZE_MAX until made */
	size_t n_windows;
	uint64_t range_bytes;
	size_t dict_entry;
	uint64_t cell_len;
};

int zu_xsegs_add(struct zu_xsegs *s, const struct zu_xseg *seg, struct zu_err *err)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		void *p = cap < SIZE_MAX / sizeof(*s->v) ? realloc(s->v, cap * sizeof(*s->v)) : NULL;

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot hold %zu plan segments", cap);
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = *seg;
	return 0;
}

void zu_xsegs_fini(struct zu_xsegs *s)
{
	free(s->v);
	*s = (struct zu_xsegs){ 0 };
}

const char *zu_xclass_name(enum zu_xclass c)
{
	static const char *const names[] = { "unchanged", "new", "changed", "moved",
					     "metadata", "free", "other" };

	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "other";
}

static int xp_entry(struct xp_state *st, const char *path, bool own_path, uint64_t size,
		    enum zu_xfs_kind kind, size_t xfs_file, size_t *out, struct zu_err *err)
{
	struct zu_explain_result *res = st->res;
	struct zu_xentry *e;

	if (res->n_files == st->cap_files) {
		size_t cap = st->cap_files ? 2 * st->cap_files : 256;
		void *p = cap < SIZE_MAX / sizeof(*res->files)
				  ? realloc(res->files, cap * sizeof(*res->files))
				  : NULL;

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot hold %zu entries", cap);
		res->files = p;
		st->cap_files = cap;
	}
	e = &res->files[res->n_files];
	memset(e, 0, sizeof(*e));
	e->path = own_path ? strdup(path) : path;
	if (!e->path)
		return zu_err_set(err, -ENOMEM, "out of memory");
	e->owned = own_path;
	e->size = size;
	e->kind = kind;
	e->cls = kind == ZU_XFS_META ? ZU_XCLASS_METADATA
		 : kind == ZU_XFS_FREE ? ZU_XCLASS_FREE
		 : kind == ZU_XFS_OTHER ? ZU_XCLASS_OTHER
					: ZU_XCLASS_UNCHANGED;
	e->xfs_file = xfs_file;
	*out = res->n_files++;
	return 0;
}

static int xp_owner_add(struct xp_state *st, uint64_t off, uint64_t end, size_t entry,
			struct zu_err *err)
{
	if (st->n_own == st->cap_own) {
		size_t cap = st->cap_own ? 2 * st->cap_own : 1024;
		void *p = cap < SIZE_MAX / sizeof(*st->own) ? realloc(st->own, cap * sizeof(*st->own))
							    : NULL;

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot hold %zu intervals", cap);
		st->own = p;
		st->cap_own = cap;
	}
	st->own[st->n_own++] = (struct xp_owner){ .off = off, .end = end, .entry = entry };
	return 0;
}

static int ext_cmp(const void *a, const void *b)
{
	const struct zu_xfs_extent *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->file < y->file ? -1 : x->file > y->file;
}

/* The uncovered [off, end) as entries of the range window(s) it falls in. */
static int xp_fill_gap(struct xp_state *st, uint64_t off, uint64_t end, struct zu_err *err)
{
	while (off < end) {
		uint64_t w = off / st->range_bytes;
		uint64_t w_end = (w + 1) * st->range_bytes;
		uint64_t stop = w_end < end ? w_end : end;
		int r;

		if (st->window[w] == SIZE_MAX) {
			char name[80];
			uint64_t last = w_end < st->res->image_len ? w_end : st->res->image_len;

			snprintf(name, sizeof(name), "[offsets 0x%09" PRIx64 "-0x%09" PRIx64 "]",
				 w * st->range_bytes, last);
			r = xp_entry(st, name, true, 0, ZU_XFS_OTHER, SIZE_MAX, &st->window[w], err);
			if (r < 0)
				return r;
		}
		st->res->files[st->window[w]].size += stop - off;
		r = xp_owner_add(st, off, stop, st->window[w], err);
		if (r < 0)
			return r;
		off = stop;
	}
	return 0;
}

/* Entries for the xfs files, and the image cut into disjoint owned intervals. */
static int xp_owners(struct xp_state *st, const struct zu_xfs *x, struct zu_err *err)
{
	struct zu_xfs_extent *ext = NULL;
	uint64_t pos = 0;
	size_t n_ext = x ? x->n_ext : 0;
	int r = 0;

	for (size_t i = 0; x && i < x->n_files && r == 0; i++) {
		size_t idx;

		r = xp_entry(st, x->files[i].path, false, x->files[i].size, x->files[i].kind, i,
			     &idx, err);
	}
	if (r < 0)
		return r;
	ext = malloc((n_ext ? n_ext : 1) * sizeof(*ext));
	if (!ext)
		return zu_err_set(err, -ENOMEM, "cannot sort %zu extents", n_ext);
	if (n_ext)
		memcpy(ext, x->ext, n_ext * sizeof(*ext));
	qsort(ext, n_ext, sizeof(*ext), ext_cmp);
	for (size_t i = 0; i < n_ext && r == 0; i++) {
		uint64_t off = ext[i].off, end = ext[i].off + ext[i].len; /* clipped by xfs */

		if (end <= pos)
			continue; /* claimed twice (a lying file system): the first owner keeps it */
		if (off < pos)
			off = pos;
		if (off > pos)
			r = xp_fill_gap(st, pos, off, err);
		if (r == 0)
			r = xp_owner_add(st, off, end, ext[i].file, err); /* entry i = xfs file i */
		pos = end;
	}
	if (r == 0 && pos < st->res->image_len)
		r = xp_fill_gap(st, pos, st->res->image_len, err);
	free(ext);
	return r;
}

/* First owner whose end is beyond off. */
static size_t xp_find(const struct xp_state *st, uint64_t off)
{
	size_t lo = 0, hi = st->n_own;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->own[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * floor(a * b / c) for b <= c, so that the result fits in 64 bits: the 128-bit
 * product in two halves, then long division a bit at a time. Portable: 32-bit
 * targets (armhf) have no __int128.
 */
static uint64_t xp_mul_div(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t p0 = (a & 0xffffffffu) * (b & 0xffffffffu), p1 = (a & 0xffffffffu) * (b >> 32);
	uint64_t p2 = (a >> 32) * (b & 0xffffffffu), p3 = (a >> 32) * (b >> 32);
	uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);
	uint64_t lo = (p0 & 0xffffffffu) | (mid << 32);
	uint64_t hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
	uint64_t q = 0, r = 0;

	if (hi == 0)
		return lo / c;
	for (int i = 127; i >= 0; i--) {
		uint64_t bit = i >= 64 ? (hi >> (i - 64)) & 1 : (lo >> i) & 1;
		bool over = r >> 63; /* r * 2 + bit >= 2^64 > c */

		r = (r << 1) | bit;
		q <<= 1;
		if (over || r >= c) {
			r -= c;
			q |= 1;
		}
	}
	return q;
}

/* The segment's fetched bytes up to x (rounded down): shares F(b) - F(a) add up exactly. */
static uint64_t xp_share(const struct zu_xseg *s, uint64_t x)
{
	return xp_mul_div(s->fetch, x - s->off, s->len);
}

static void xp_charge(struct xp_state *st, const struct zu_xseg *s, uint64_t a, uint64_t b,
		      size_t entry)
{
	struct zu_xentry *e = &st->res->files[entry];
	uint64_t fetch = xp_share(s, b) - xp_share(s, a);

	e->fetch_bytes += fetch;
	if (!s->overlay) {
		e->image_bytes += b - a;
		if (s->reused)
			e->reused_bytes += b - a;
		else
			e->fetched_image_bytes += b - a;
	}
	/* the cells [a, b) spans, each its part */
	while (a < b) {
		size_t c = (size_t)(a / st->cell_len);
		uint64_t c_end = (uint64_t)(c + 1) * st->cell_len;
		uint64_t stop = c_end < b ? c_end : b;
		struct zu_xcell *cell = &st->res->cells[c];

		cell->fetch_bytes += xp_share(s, stop) - xp_share(s, a);
		if (!s->overlay && s->reused)
			cell->reused_bytes += stop - a;
		else if (!s->overlay)
			cell->fetched_image_bytes += stop - a;
		a = stop;
	}
}

static int xp_segment(struct xp_state *st, const struct zu_xseg *s, struct zu_err *err)
{
	uint64_t end;
	int r;

	if (s->len == 0) {
		if (st->dict_entry == SIZE_MAX) {
			r = xp_entry(st, "[zck dictionary]", true, 0, ZU_XFS_OTHER, SIZE_MAX,
				     &st->dict_entry, err);
			if (r < 0)
				return r;
		}
		st->res->files[st->dict_entry].fetch_bytes += s->fetch;
		return 0;
	}
	if (zu_add_overflow(s->off, s->len, &end) || end > st->res->image_len)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "explain: segment %" PRIu64 "+%" PRIu64 " beyond the image",
				  s->off, s->len);
	for (size_t i = xp_find(st, s->off); i < st->n_own && st->own[i].off < end; i++) {
		uint64_t a = st->own[i].off > s->off ? st->own[i].off : s->off;
		uint64_t b = st->own[i].end < end ? st->own[i].end : end;

		xp_charge(st, s, a, b, st->own[i].entry);
	}
	return 0;
}

/* Per cell, the entry there that costs the most bytes in all (ties: the most bytes there). */
static void xp_cell_tops(struct xp_state *st)
{
	struct zu_explain_result *res = st->res;
	size_t o = 0;

	for (size_t c = 0; c < res->n_cells; c++) {
		struct zu_xcell *cell = &res->cells[c];
		uint64_t best_fetch = 0, best_over = 0;

		cell->top = SIZE_MAX;
		while (o < st->n_own && st->own[o].end <= cell->off)
			o++;
		for (size_t i = o; i < st->n_own && st->own[i].off < cell->off + cell->len; i++) {
			const struct zu_xentry *e = &res->files[st->own[i].entry];
			uint64_t a = st->own[i].off > cell->off ? st->own[i].off : cell->off;
			uint64_t b = st->own[i].end < cell->off + cell->len ? st->own[i].end
									    : cell->off + cell->len;

			if (cell->top == SIZE_MAX || e->fetch_bytes > best_fetch ||
			    (e->fetch_bytes == best_fetch && b - a > best_over)) {
				cell->top = st->own[i].entry;
				best_fetch = e->fetch_bytes;
				best_over = b - a;
			}
		}
	}
}

static int xp_cells(struct xp_state *st, size_t want, struct zu_err *err)
{
	struct zu_explain_result *res = st->res;
	uint64_t len = res->image_len;
	uint64_t cl = (len + want - 1) / want;

	cl = (cl + XP_CELL_ALIGN - 1) / XP_CELL_ALIGN * XP_CELL_ALIGN;
	if (cl == 0)
		cl = XP_CELL_ALIGN;
	st->cell_len = cl;
	res->n_cells = (size_t)((len + cl - 1) / cl);
	res->cells = calloc(res->n_cells ? res->n_cells : 1, sizeof(*res->cells));
	if (!res->cells)
		return zu_err_set(err, -ENOMEM, "cannot hold %zu map cells", res->n_cells);
	for (size_t c = 0; c < res->n_cells; c++) {
		res->cells[c].off = (uint64_t)c * cl;
		res->cells[c].len = len - res->cells[c].off < cl ? len - res->cells[c].off : cl;
	}
	return 0;
}

int zu_explain_attribute(const struct zu_explain_params *p, struct zu_explain_result *out,
			 struct zu_err *err)
{
	struct xp_state st = { .res = out, .dict_entry = SIZE_MAX };
	int r;

	memset(out, 0, sizeof(*out));
	out->image_len = p->image_len;
	st.range_bytes = p->range_bytes ? p->range_bytes : XP_DEFAULT_RANGE;
	st.n_windows = (size_t)((p->image_len + st.range_bytes - 1) / st.range_bytes);
	st.window = malloc((st.n_windows ? st.n_windows : 1) * sizeof(*st.window));
	if (!st.window)
		return zu_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < st.n_windows; i++)
		st.window[i] = SIZE_MAX;
	r = xp_cells(&st, p->n_cells ? p->n_cells : XP_DEFAULT_CELLS, err);
	if (r == 0)
		r = xp_owners(&st, p->xfs && p->xfs->type ? p->xfs : NULL, err);
	for (size_t i = 0; r == 0 && i < p->segs->n; i++) {
		r = xp_segment(&st, &p->segs->v[i], err);
		out->fetch_bytes += p->segs->v[i].fetch;
		if (p->segs->v[i].reused && !p->segs->v[i].overlay)
			out->reused_bytes += p->segs->v[i].len;
	}
	if (r == 0)
		xp_cell_tops(&st);
	free(st.own);
	free(st.window);
	if (r < 0)
		zu_explain_result_fini(out);
	return r;
}

void zu_explain_result_fini(struct zu_explain_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->files && i < r->n_files; i++)
		if (r->files[i].owned)
			free((char *)(uintptr_t)r->files[i].path);
	for (size_t i = 0; r->dirs && i < r->n_dirs; i++)
		free((char *)(uintptr_t)r->dirs[i].path);
	free(r->files);
	free(r->dirs);
	free(r->cells);
	memset(r, 0, sizeof(*r));
}
