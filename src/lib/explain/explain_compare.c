/* SPDX-License-Identifier: MIT */
/*
 * explain_compare - the reason class of each file that costs fetched bytes:
 * new (its path is not in the old image), changed (other size or content),
 * or moved (the same content: it was cut into chunks differently). Content
 * is compared by SHA-256 of the bytes of each file's extents, read from both
 * images; only files that cost bytes and kept their size are read.
 */
#include "config.h"

#include "explain/explain.h"
#include "explain/explain_compare.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "io.h"

#define XC_BUF (1u << 20)

static int xc_path_cmp(const void *a, const void *b, void *user)
{
	const struct zu_xfs *x = user;

	return strcmp(x->files[*(const size_t *)a].path, x->files[*(const size_t *)b].path);
}

struct xc_key {
	const struct zu_xfs *x;
	const char *path;
};

static int xc_key_cmp(const void *k, const void *b)
{
	const struct xc_key *key = k;

	return strcmp(key->path, key->x->files[*(const size_t *)b].path);
}

/* Digest of file f's content (data_len bytes of its extents, in order). */
static int xc_digest(const struct zu_xfs *x, int fd, const struct zu_xfs_file *f, uint8_t *buf,
		     struct zu_sha256 *sha, uint8_t out[ZU_SHA256_LEN], struct zu_err *err)
{
	uint64_t left = f->data_len;
	int r = zu_sha256_reset(sha, err);

	for (size_t i = 0; r == 0 && i < f->n_ext && left > 0; i++) {
		const struct zu_xfs_extent *e = &x->ext[f->first_ext + i];
		uint64_t off = e->off, n = e->len < left ? e->len : left;

		left -= n;
		while (r == 0 && n > 0) {
			size_t take = n < XC_BUF ? (size_t)n : XC_BUF;

			r = zu_io_pread_full(fd, buf, take, off, err);
			if (r == 0)
				r = zu_sha256_update(sha, buf, take, err);
			off += take;
			n -= take;
		}
	}
	if (r == 0)
		r = zu_sha256_final(sha, out, err);
	return r;
}

static bool xc_hashable(const struct zu_xfs_file *f)
{
	return f->ext_contiguous && f->n_ext > 0 && f->data_len > 0;
}

int zu_explain_classify(const struct zu_explain_classify_params *p, struct zu_explain_result *res,
			struct zu_err *err)
{
	const struct zu_xfs *nx = p->new_xfs, *ox = p->old_xfs;
	struct zu_sha256 sha = ZU_SHA256_INIT;
	size_t *order = NULL, n_old = ox && ox->type ? ox->n_files : 0;
	uint8_t *buf = NULL;
	int r = 0;

	order = malloc((n_old ? n_old : 1) * sizeof(*order));
	buf = malloc(XC_BUF);
	if (!order || !buf) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = zu_sha256_init(&sha, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_old; i++)
		order[i] = i;
	if (n_old)
		qsort_r(order, n_old, sizeof(*order), xc_path_cmp, (void *)(uintptr_t)ox);
	for (size_t i = 0; i < res->n_files && r == 0; i++) {
		struct zu_xentry *e = &res->files[i];
		const struct zu_xfs_file *nf, *of;
		struct xc_key key;
		const size_t *hit;
		uint8_t dn[ZU_SHA256_LEN], dold[ZU_SHA256_LEN];

		if (e->kind != ZU_XFS_FILE || e->xfs_file == SIZE_MAX || !nx)
			continue;
		if (e->fetch_bytes == 0) {
			e->cls = ZU_XCLASS_UNCHANGED;
			continue;
		}
		nf = &nx->files[e->xfs_file];
		key = (struct xc_key){ .x = ox, .path = nf->path };
		hit = n_old ? bsearch(&key, order, n_old, sizeof(*order), xc_key_cmp) : NULL;
		if (!hit || ox->files[*hit].kind != ZU_XFS_FILE) {
			e->cls = ZU_XCLASS_NEW;
			continue;
		}
		of = &ox->files[*hit];
		e->cls = ZU_XCLASS_CHANGED;
		if (of->has_digest && nf->has_digest) {
			if (of->size == nf->size && !memcmp(of->digest, nf->digest, sizeof(dn)))
				e->cls = ZU_XCLASS_MOVED;
			continue;
		}
		if (of->size != nf->size || of->data_len != nf->data_len || !xc_hashable(of) ||
		    !xc_hashable(nf))
			continue;
		r = xc_digest(nx, p->new_fd, nf, buf, &sha, dn, err);
		if (r == 0)
			r = xc_digest(ox, p->old_fd, of, buf, &sha, dold, err);
		if (r == 0 && memcmp(dn, dold, sizeof(dn)) == 0)
			e->cls = ZU_XCLASS_MOVED;
	}
out:
	zu_sha256_fini(&sha);
	free(order);
	free(buf);
	return r;
}
