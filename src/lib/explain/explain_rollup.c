/* SPDX-License-Identifier: MIT */
/*
 * explain_rollup - per directory sums of the attributed files, and the order
 * explain reports in (most bytes fetched first, then by path). Entries that
 * are not under "/" (explain's and the readers' pseudo-files) are summed into
 * one group per kind, so that "/" and the groups add up to the totals.
 */
#include "config.h"

#include "explain/explain.h"

#include <stdlib.h>
#include <string.h>

struct xr_map {
	size_t *slot;      /* index into dirs, SIZE_MAX = empty */
	size_t mask;
};

struct xr_state {
	struct zu_explain_result *res;
	struct xr_map map;
	size_t cap_dirs;
};

static size_t xr_hash(const char *s, size_t n)
{
	size_t h = 14695981039346656037ull & SIZE_MAX;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * (1099511628211ull & SIZE_MAX);
	return h;
}

static int xr_grow(struct xr_state *st, struct zu_err *err)
{
	size_t cap = st->map.slot ? 2 * (st->map.mask + 1) : 1024;
	size_t *slot = cap < SIZE_MAX / sizeof(*slot) ? malloc(cap * sizeof(*slot)) : NULL;

	if (!slot)
		return zu_err_set(err, -ENOMEM, "cannot hold %zu directories", cap);
	for (size_t i = 0; i < cap; i++)
		slot[i] = SIZE_MAX;
	for (size_t d = 0; d < st->res->n_dirs; d++) {
		const char *p = st->res->dirs[d].path;
		size_t s = xr_hash(p, strlen(p)) & (cap - 1);

		while (slot[s] != SIZE_MAX)
			s = (s + 1) & (cap - 1);
		slot[s] = d;
	}
	free(st->map.slot);
	st->map.slot = slot;
	st->map.mask = cap - 1;
	return 0;
}

/* The directory named by path[0..n) (created empty when new); *out its index. */
static int xr_dir(struct xr_state *st, const char *path, size_t n, enum zu_xfs_kind kind,
		  size_t *out, struct zu_err *err)
{
	struct zu_explain_result *res = st->res;
	size_t s;
	char *copy;
	int r;

	if (!st->map.slot || 2 * (res->n_dirs + 1) > st->map.mask + 1) {
		r = xr_grow(st, err);
		if (r < 0)
			return r;
	}
	s = xr_hash(path, n) & st->map.mask;
	for (; st->map.slot[s] != SIZE_MAX; s = (s + 1) & st->map.mask) {
		const char *p = res->dirs[st->map.slot[s]].path;

		if (strlen(p) == n && memcmp(p, path, n) == 0) {
			*out = st->map.slot[s];
			return 0;
		}
	}
	if (res->n_dirs == st->cap_dirs) {
		size_t cap = st->cap_dirs ? 2 * st->cap_dirs : 256;
		void *p = realloc(res->dirs, cap * sizeof(*res->dirs));

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot hold %zu directories", cap);
		res->dirs = p;
		st->cap_dirs = cap;
	}
	copy = strndup(path, n);
	if (!copy)
		return zu_err_set(err, -ENOMEM, "out of memory");
	memset(&res->dirs[res->n_dirs], 0, sizeof(res->dirs[0]));
	res->dirs[res->n_dirs].path = copy;
	res->dirs[res->n_dirs].owned = true;
	res->dirs[res->n_dirs].kind = kind;
	res->dirs[res->n_dirs].cls = kind == ZU_XFS_META ? ZU_XCLASS_METADATA
				     : kind == ZU_XFS_FREE ? ZU_XCLASS_FREE
				     : kind == ZU_XFS_OTHER ? ZU_XCLASS_OTHER
							   : ZU_XCLASS_UNCHANGED;
	res->dirs[res->n_dirs].xfs_file = SIZE_MAX;
	st->map.slot[s] = res->n_dirs;
	*out = res->n_dirs++;
	return 0;
}

static void xr_add(struct zu_xentry *d, const struct zu_xentry *e)
{
	d->size += e->size;
	d->image_bytes += e->image_bytes;
	d->reused_bytes += e->reused_bytes;
	d->fetched_image_bytes += e->fetched_image_bytes;
	d->fetch_bytes += e->fetch_bytes;
	d->n_files++;
}

static const char *xr_group(enum zu_xfs_kind k)
{
	switch (k) {
	case ZU_XFS_META:
		return "[file-system metadata]";
	case ZU_XFS_FREE:
		return "[free space]";
	case ZU_XFS_OTHER:
		return "[other: by offsets]";
	case ZU_XFS_FILE:
		break;
	}
	return "[files outside the tree]";
}

/* Adds e to "/" and each directory above it; pseudo entries to their group. */
static int xr_entry(struct xr_state *st, const struct zu_xentry *e, struct zu_err *err)
{
	const char *p = e->path;
	size_t d = 0; /* set by xr_dir when it succeeds (gcc -O3 cannot see it) */
	int r;

	if (p[0] != '/') {
		const char *g = xr_group(e->kind);

		r = xr_dir(st, g, strlen(g), e->kind, &d, err);
		if (r == 0)
			xr_add(&st->res->dirs[d], e);
		return r;
	}
	r = xr_dir(st, "/", 1, ZU_XFS_FILE, &d, err);
	if (r < 0)
		return r;
	xr_add(&st->res->dirs[d], e);
	/* "/a/b/c": "/a", "/a/b"; a directory's own entry "/a/b/" counts in "/a/b" too */
	for (size_t i = 1; p[i]; i++) {
		if (p[i] != '/')
			continue;
		r = xr_dir(st, p, i, ZU_XFS_FILE, &d, err);
		if (r < 0)
			return r;
		xr_add(&st->res->dirs[d], e);
	}
	return 0;
}

static int xr_cmp(const struct zu_xentry *x, const struct zu_xentry *y)
{
	if (x->fetch_bytes != y->fetch_bytes)
		return x->fetch_bytes > y->fetch_bytes ? -1 : 1;
	if (x->image_bytes != y->image_bytes)
		return x->image_bytes > y->image_bytes ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int xr_cmp_entry(const void *a, const void *b)
{
	return xr_cmp(a, b);
}

/* Sorts the files and points the cells at their entries' new places. */
static int xr_sort_files(struct zu_explain_result *res, struct zu_err *err)
{
	size_t n = res->n_files;
	size_t *where = malloc((n ? n : 1) * sizeof(*where));

	if (!where)
		return zu_err_set(err, -ENOMEM, "out of memory");
	/* xfs_file would not do: explain's own entries have none; tag by old index */
	for (size_t i = 0; i < n; i++)
		res->files[i].n_files = i;
	qsort(res->files, n, sizeof(*res->files), xr_cmp_entry);
	for (size_t i = 0; i < n; i++) {
		where[res->files[i].n_files] = i;
		res->files[i].n_files = 0;
	}
	for (size_t c = 0; c < res->n_cells; c++)
		if (res->cells[c].top != SIZE_MAX)
			res->cells[c].top = where[res->cells[c].top];
	free(where);
	return 0;
}

int zu_explain_rollup(struct zu_explain_result *res, struct zu_err *err)
{
	struct xr_state st = { .res = res };
	int r = 0;

	/* a pseudo-file's size is the image bytes it stands for */
	for (size_t i = 0; i < res->n_files; i++)
		if (res->files[i].kind != ZU_XFS_FILE)
			res->files[i].size = res->files[i].image_bytes;
	for (size_t i = 0; i < res->n_files && r == 0; i++)
		r = xr_entry(&st, &res->files[i], err);
	free(st.map.slot);
	if (r == 0)
		r = xr_sort_files(res, err);
	if (r == 0)
		qsort(res->dirs, res->n_dirs, sizeof(*res->dirs), xr_cmp_entry);
	return r;
}
