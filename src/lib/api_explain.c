/* SPDX-License-Identifier: MIT */
/*
 * api_explain - the public explain: plans as zckup_plan_new() does, turns
 * the plan's decisions into segments of the new image, reads both images'
 * file systems, and hands the rest to explain/ (attribution, classes,
 * directories). No format or file-system logic here.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_private.h"
#include "explain/explain.h"
#include "explain/explain_compare.h"
#include "explain/explain_dpkg.h"
#include "explain/xfs.h"
#include "fine_apply.h"
#include "hash.h"
#include "io.h"
#include "plan.h"

struct zckup_explain {
	struct zu_explain_result res;
	struct zu_xfs new_xfs;  /* entry paths point into it */
	struct zu_xdpkg_list dpkg;
	uint64_t plan_fetch;
	bool fine;
	const char *fs_type, *old_fs_type;
};

struct seg_cb {
	const struct zu_header *h;
	struct zu_xsegs *segs;
	struct zu_err *err;
	int r;
};

static void on_plan_item(void *user, const struct zu_plan_item *it)
{
	struct seg_cb *cb = user;
	const struct zu_chunk *c = it->chunk == SIZE_MAX ? NULL : &cb->h->chunks[it->chunk];

	struct zu_xseg seg = { .off = c ? c->image_offset : 0, .len = c ? c->len : 0,
			       .fetch = it->bytes };

	if (cb->r == 0)
		cb->r = zu_xsegs_add(cb->segs, &seg, cb->err);
}

static void on_fine_item(void *user, const struct zu_fine_item *it)
{
	struct seg_cb *cb = user;
	struct zu_xseg seg = { .off = it->image_offset, .len = it->image_len,
			       .fetch = it->fetch_bytes, .reused = it->reused, .overlay = it->table };

	if (cb->r == 0)
		cb->r = zu_xsegs_add(cb->segs, &seg, cb->err);
}

/* The plan as segments: reused chunks, and what is fetched for the others. */
static int plan_segments(const struct zu_header *h, const struct zu_plan *pl,
			 const struct zu_fine *fine, struct zu_xsegs *segs, struct zu_err *err)
{
	struct seg_cb cb = { .h = h, .segs = segs, .err = err };
	int r = 0;

	for (size_t i = 0; i < h->n_chunks && r == 0; i++) {
		struct zu_xseg seg = { .off = h->chunks[i].image_offset, .len = h->chunks[i].len,
				       .reused = true };

		if (pl->locs[i].source != ZU_NO_SOURCE)
			r = zu_xsegs_add(segs, &seg, err);
	}
	if (r < 0)
		return r;
	if (fine)
		zu_fine_walk(fine, on_fine_item, &cb);
	else
		r = zu_plan_walk(h, pl, on_plan_item, &cb, err);
	return r < 0 ? r : cb.r;
}

/* Reads one image's file system; a malformed one is a warning, and offsets only. */
static int read_fs(zckup_ctx *ctx, const char *path, int fd, uint64_t size, struct zu_xfs *x)
{
	int r = zu_xfs_read(fd, size, x, &ctx->err);

	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		zu_api_log(ctx, ZCKUP_LOG_WARNING, "%s: %s; explained by offset ranges", path,
			   ctx->err.msg);
		zu_err_clear(&ctx->err);
		zu_xfs_fini(x);
	}
	return 0;
}

/*
 * The new image must be the one the header describes: its size, and its
 * SHA-256 when the header carries zckup's image digest.
 */
static int check_new_image(zckup_ctx *ctx, const struct zu_header *h, const char *path, int fd,
			   uint64_t size)
{
	struct zu_sha256 sha = ZU_SHA256_INIT;
	uint8_t d[ZU_SHA256_LEN], *buf = NULL;
	uint64_t off = 0;
	int r = 0;

	if (size != h->image_len)
		return zu_err_set(&ctx->err, -EINVAL,
				  "%s has %" PRIu64 " bytes, the header describes %" PRIu64
				  ": not the image the .zck was made from", path, size, h->image_len);
	if (!h->has_image_digest)
		return 0;
	buf = malloc(1u << 20);
	if (!buf)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	r = zu_sha256_init(&sha, &ctx->err);
	while (r == 0 && off < size) {
		size_t n = size - off < (1u << 20) ? (size_t)(size - off) : (1u << 20);

		r = zu_io_pread_full(fd, buf, n, off, &ctx->err);
		if (r == 0)
			r = zu_sha256_update(&sha, buf, n, &ctx->err);
		off += n;
	}
	if (r == 0)
		r = zu_sha256_final(&sha, d, &ctx->err);
	if (r == 0 && memcmp(d, h->image_digest, ZU_SHA256_LEN) != 0)
		r = zu_err_set(&ctx->err, -EINVAL,
			       "%s does not match the header's image digest: not the image the "
			       ".zck was made from", path);
	zu_sha256_fini(&sha);
	free(buf);
	return r;
}

static int open_image(zckup_ctx *ctx, const char *path, int *fd, uint64_t *size)
{
	int r = zu_io_open_ro(path, fd, &ctx->err);

	if (r == 0)
		r = zu_io_size(*fd, size, &ctx->err);
	return r < 0 ? zu_err_prefix(&ctx->err, "%s", path) : 0;
}

static int explain_run(zckup_ctx *ctx, const struct zckup_explain_opts *o, zckup_explain *e)
{
	const struct zu_header *h = &o->header->h;
	struct zckup_source src = { .path = o->old_image };
	struct zckup_plan_opts po = { .sources = &src, .n_sources = 1, .url = o->url,
				      .no_fine = o->no_fine };
	struct zu_explain_params xp = { .segs = NULL, .n_cells = o->map_cells };
	struct zu_explain_classify_params cp = { .new_fd = -1, .old_fd = -1 };
	struct zu_xsegs segs = { 0 };
	struct zu_xfs old_xfs = ZU_XFS_INIT;
	struct zckup_plan_stats ps;
	struct zu_fine *fine = NULL;
	zckup_plan *plan = NULL;
	uint64_t new_size = 0, old_size = 0;
	int r;

	r = open_image(ctx, o->new_image, &cp.new_fd, &new_size);
	if (r == 0)
		r = check_new_image(ctx, h, o->new_image, cp.new_fd, new_size);
	if (r == 0)
		r = open_image(ctx, o->old_image, &cp.old_fd, &old_size);
	if (r == 0)
		r = zu_api_plan_new(ctx, o->header, &po, &plan, &fine);
	if (r < 0)
		goto out;
	zckup_plan_get_stats(plan, &ps);
	e->fine = ps.fine;
	e->plan_fetch = ps.fine ? ps.fine_fetch_bytes : ps.fetch_bytes;
	r = plan_segments(h, zu_api_plan_get(plan), fine, &segs, &ctx->err);
	if (r == 0)
		r = read_fs(ctx, o->new_image, cp.new_fd, new_size, &e->new_xfs);
	if (r == 0)
		r = read_fs(ctx, o->old_image, cp.old_fd, old_size, &old_xfs);
	if (r < 0)
		goto out;
	e->fs_type = e->new_xfs.type ? e->new_xfs.type : "none";
	e->old_fs_type = old_xfs.type ? old_xfs.type : "none";
	xp.xfs = &e->new_xfs;
	xp.segs = &segs;
	xp.image_len = h->image_len;
	r = zu_explain_attribute(&xp, &e->res, &ctx->err);
	if (r == 0 && e->res.fetch_bytes != e->plan_fetch)
		r = zu_err_set(&ctx->err, -ENOTRECOVERABLE,
			       "explain: %" PRIu64 " bytes attributed, plan fetches %" PRIu64,
			       e->res.fetch_bytes, e->plan_fetch);
	cp.new_xfs = &e->new_xfs;
	cp.old_xfs = &old_xfs;
	if (r == 0)
		r = zu_explain_classify(&cp, &e->res, &ctx->err);
	if (r == 0) {
		struct zu_explain_dpkg_params dp = { .new_xfs = &e->new_xfs, .old_xfs = &old_xfs,
						     .new_fd = cp.new_fd, .old_fd = cp.old_fd,
						     .res = &e->res };

		r = zu_explain_dpkg(&dp, &e->dpkg, &ctx->err);
	}
	if (r == 0)
		r = zu_explain_rollup(&e->res, &ctx->err);
out:
	zu_xsegs_fini(&segs);
	zu_xfs_fini(&old_xfs);
	zu_fine_free(fine);
	zckup_plan_free(plan);
	if (cp.new_fd >= 0)
		close(cp.new_fd);
	if (cp.old_fd >= 0)
		close(cp.old_fd);
	return r;
}

ZCKUP_API int zckup_explain_new(zckup_ctx *ctx, const struct zckup_explain_opts *o,
				zckup_explain **out)
{
	zckup_explain *e;
	int r;

	zu_err_clear(&ctx->err);
	if (!o || !o->old_image || !o->new_image || !o->header || !out)
		return zu_err_set(&ctx->err, -EINVAL, "explain needs an old image, a new one and "
				  "the header of its .zck");
	e = calloc(1, sizeof(*e));
	if (!e)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	r = explain_run(ctx, o, e);
	if (r < 0) {
		zckup_explain_free(e);
		return zu_api_fail(ctx, r);
	}
	*out = e;
	return 0;
}

ZCKUP_API void zckup_explain_free(zckup_explain *e)
{
	if (!e)
		return;
	zu_explain_result_fini(&e->res);
	zu_xdpkg_fini(&e->dpkg);
	zu_xfs_fini(&e->new_xfs);
	free(e);
}

ZCKUP_API const char *zckup_explain_class_name(enum zckup_explain_class c)
{
	return zu_xclass_name((enum zu_xclass)c);
}

ZCKUP_API void zckup_explain_get_totals(const zckup_explain *e, struct zckup_explain_totals *out)
{
	memset(out, 0, sizeof(*out));
	out->image_bytes = e->res.image_len;
	out->reused_bytes = e->res.reused_bytes;
	out->fetch_bytes = e->res.fetch_bytes;
	out->plan_fetch_bytes = e->plan_fetch;
	out->fine = e->fine;
	out->fs_type = e->fs_type;
	out->old_fs_type = e->old_fs_type;
	out->n_files = e->res.n_files;
	out->n_dirs = e->res.n_dirs;
	out->n_cells = e->res.n_cells;
	out->has_dpkg = e->dpkg.found;
	out->n_dpkg = e->dpkg.n;
}

ZCKUP_API int zckup_explain_get_dpkg(const zckup_explain *e, size_t i,
				     struct zckup_explain_dpkg *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!e || !out || i >= e->dpkg.n)
		return -EINVAL;
	out->path = e->dpkg.v[i].path;
	out->package = e->dpkg.v[i].package;
	out->version = e->dpkg.v[i].version;
	out->fetch_bytes = e->dpkg.v[i].fetch_bytes;
	return 0;
}

static void entry_out(const struct zu_xentry *x, struct zckup_explain_entry *out)
{
	out->path = x->path;
	out->bytes = x->size;
	out->image_bytes = x->image_bytes;
	out->reused_bytes = x->reused_bytes;
	out->fetch_bytes = x->fetch_bytes;
	out->cls = (enum zckup_explain_class)x->cls;
	out->n_files = x->n_files;
}

ZCKUP_API int zckup_explain_get_file(const zckup_explain *e, size_t i,
				     struct zckup_explain_entry *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!e || !out || i >= e->res.n_files)
		return -EINVAL;
	entry_out(&e->res.files[i], out);
	return 0;
}

ZCKUP_API int zckup_explain_get_dir(const zckup_explain *e, size_t i,
				    struct zckup_explain_entry *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!e || !out || i >= e->res.n_dirs)
		return -EINVAL;
	entry_out(&e->res.dirs[i], out);
	return 0;
}

ZCKUP_API int zckup_explain_get_cell(const zckup_explain *e, size_t i,
				     struct zckup_explain_cell *out)
{
	const struct zu_xcell *c;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!e || !out || i >= e->res.n_cells)
		return -EINVAL;
	c = &e->res.cells[i];
	out->image_offset = c->off;
	out->bytes = c->len;
	out->reused_bytes = c->reused_bytes;
	out->fetched_image_bytes = c->fetched_image_bytes;
	out->fetch_bytes = c->fetch_bytes;
	out->top_path = c->top == SIZE_MAX ? "" : e->res.files[c->top].path;
	return 0;
}

ZCKUP_API const char *zckup_explain_readers(void)
{
	if (zu_xfs_ext4_built && zu_xfs_squashfs_built)
		return "ext4 squashfs tar";
	if (zu_xfs_ext4_built)
		return "ext4 tar";
	return zu_xfs_squashfs_built ? "squashfs tar" : "tar";
}
