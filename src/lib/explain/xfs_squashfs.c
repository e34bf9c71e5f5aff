/* SPDX-License-Identifier: MIT */
/*
 * xfs_squashfs - a squashfs image read with libsquashfs (squashfs-tools-ng):
 * the tree from the directory table, each regular file's data blocks as
 * stored (compressed) from its inode's block list, and its tail in a
 * fragment block. A fragment block holds the tails of many files and is
 * compressed as one: its bytes are split over those files in proportion to
 * their tails (an estimate; the block's total is exact). The inode,
 * directory and other tables are metadata, the padding after bytes_used is
 * free. The only file that includes libsquashfs.
 */
#include "config.h"

#include "explain/xfs.h"

const bool zu_xfs_squashfs_built = true;
#include "hash.h"
#include "io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#define SQ_PATH_MAX 4096u
#define SQ_NO_FRAG 0xFFFFFFFFu

struct sq_item {
	const sqfs_tree_node_t *node;
	char *path;
};

struct sq_state {
	int fd;
	struct zu_xfs *x;
	sqfs_data_reader_t *data;
	struct zu_sha256 sha;
	uint8_t *buf;         /* one block, for digests */
	struct zu_err *err;
	sqfs_super_t super;
	sqfs_frag_table_t *frags;
	size_t n_frags;
	uint64_t *frag_used;  /* per fragment block: bytes of tails in it (its size, about) */
	struct sq_item *stack;
	size_t n_stack, cap_stack;
};

static int sq_fail(struct sq_state *st, int code, const char *what)
{
	return zu_err_set(st->err, code == SQFS_ERROR_ALLOC ? -ENOMEM : -EBADMSG,
			  "%s: libsquashfs error %d", what, code);
}

static int sq_push(struct sq_state *st, const sqfs_tree_node_t *node, const char *path)
{
	if (st->n_stack == st->cap_stack) {
		size_t cap = st->cap_stack ? 2 * st->cap_stack : 256;
		void *p = realloc(st->stack, cap * sizeof(*st->stack));

		if (!p)
			return zu_err_set(st->err, -ENOMEM, "out of memory");
		st->stack = p;
		st->cap_stack = cap;
	}
	st->stack[st->n_stack].path = strdup(path);
	if (!st->stack[st->n_stack].path)
		return zu_err_set(st->err, -ENOMEM, "out of memory");
	st->stack[st->n_stack++].node = node;
	return 0;
}

static bool sq_is_file(const sqfs_inode_generic_t *in)
{
	return in->base.type == SQFS_INODE_FILE || in->base.type == SQFS_INODE_EXT_FILE;
}

/* Where a file's tail is: its fragment block and offset, and its length. */
static bool sq_tail(const struct sq_state *st, const sqfs_inode_generic_t *in, sqfs_u32 *idx,
		    sqfs_u32 *off, uint64_t *len)
{
	sqfs_u64 size = 0;

	if (sqfs_inode_get_file_size(in, &size) != 0 ||
	    sqfs_inode_get_frag_location(in, idx, off) != 0 || *idx == SQ_NO_FRAG ||
	    *idx >= st->n_frags)
		return false;
	*len = size % st->super.block_size;
	if (size / st->super.block_size != sqfs_inode_get_file_block_count(in))
		*len = size - (uint64_t)sqfs_inode_get_file_block_count(in) * st->super.block_size;
	return *len > 0;
}

/*
 * A file with a tail in a fragment block: its content is told by the SHA-256
 * of its blocks as stored, then of its tail uncompressed (the fragment
 * block's bytes mix other files' tails).
 */
static int sq_digest(struct sq_state *st, const sqfs_inode_generic_t *in, size_t idx,
		     uint64_t blocks_len)
{
	struct zu_xfs_file *f = &st->x->files[idx];
	uint64_t off = f->n_ext ? st->x->ext[f->first_ext].off : 0, left = blocks_len;
	sqfs_u8 *tail = NULL;
	size_t tail_len = 0;
	int r = zu_sha256_reset(&st->sha, st->err), e;

	while (r == 0 && left > 0) {
		size_t n = left < st->super.block_size ? (size_t)left : st->super.block_size;

		r = zu_io_pread_full(st->fd, st->buf, n, off, st->err);
		if (r == 0)
			r = zu_sha256_update(&st->sha, st->buf, n, st->err);
		off += n;
		left -= n;
	}
	if (r < 0)
		return r;
	e = sqfs_data_reader_get_fragment(st->data, in, &tail_len, &tail);
	if (e != 0)
		return sq_fail(st, e, f->path);
	r = zu_sha256_update(&st->sha, tail, tail_len, st->err);
	sqfs_free(tail);
	if (r == 0)
		r = zu_sha256_final(&st->sha, f->digest, st->err);
	if (r == 0)
		f->has_digest = true;
	return r;
}

/* Keeps a small file's content (the dpkg database): its extents are compressed. */
static int sq_keep(struct sq_state *st, const sqfs_inode_generic_t *in, size_t idx,
		   uint64_t size)
{
	struct zu_xfs_file *f = &st->x->files[idx];
	uint64_t at = 0;

	if (size > ZU_XFS_CONTENT_MAX)
		return 0;
	f->content = malloc(size ? (size_t)size : 1);
	if (!f->content)
		return zu_err_set(st->err, -ENOMEM, "out of memory");
	while (at < size) {
		sqfs_u32 want = size - at < (1u << 20) ? (sqfs_u32)(size - at) : (1u << 20);
		sqfs_s32 n = sqfs_data_reader_read(st->data, in, at, f->content + at, want);

		if (n <= 0)
			return sq_fail(st, n < 0 ? n : SQFS_ERROR_CORRUPTED, f->path);
		at += (uint64_t)n;
	}
	f->content_len = (size_t)size;
	return 0;
}

/* One regular file: its blocks, then its share of a fragment block. */
static int sq_file(struct sq_state *st, const sqfs_inode_generic_t *in, const char *path)
{
	sqfs_u64 size = 0, pos = 0;
	sqfs_u32 fidx = 0, foff = 0;
	uint64_t tail = 0, blocks = 0;
	size_t idx;
	int r;

	if (sqfs_inode_get_file_size(in, &size) != 0 ||
	    sqfs_inode_get_file_block_start(in, &pos) != 0)
		return zu_err_set(st->err, -EBADMSG, "%s: not a file inode", path);
	r = zu_xfs_add_file(st->x, path, size, ZU_XFS_FILE, &idx, st->err);
	for (size_t i = 0; r == 0 && i < sqfs_inode_get_file_block_count(in); i++) {
		uint64_t n = SQFS_ON_DISK_BLOCK_SIZE(in->extra[i]);

		if (pos + n > st->super.bytes_used)
			return zu_err_set(st->err, -EBADMSG, "%s: block %zu beyond the image", path,
					  i);
		r = zu_xfs_add_extent(st->x, idx, pos, n, st->err);
		pos += n;
		blocks += n;
	}
	if (r == 0 && sq_tail(st, in, &fidx, &foff, &tail)) {
		sqfs_fragment_t fr;
		uint64_t c, used = st->frag_used[fidx], a, b;

		if (sqfs_frag_table_lookup(st->frags, fidx, &fr) != 0)
			return zu_err_set(st->err, -EBADMSG, "%s: fragment %u missing", path, fidx);
		c = SQFS_ON_DISK_BLOCK_SIZE(fr.size);
		if (fr.start_offset + c > st->super.bytes_used || used == 0)
			return zu_err_set(st->err, -EBADMSG, "%s: fragment %u beyond the image", path,
					  fidx);
		a = fr.start_offset + c * foff / used;
		b = fr.start_offset + c * (foff + tail) / used;
		r = zu_xfs_add_extent(st->x, idx, a, b - a, st->err);
		if (r == 0)
			r = sq_digest(st, in, idx, blocks);
		blocks = 0; /* the digest, not the extents' bytes, stands for its content */
	}
	if (r == 0)
		st->x->files[idx].data_len = blocks;
	if (r == 0 && zu_xfs_wants_content(path))
		r = sq_keep(st, in, idx, size);
	return r;
}

/* First pass: how much of each fragment block the tails fill. */
static int sq_frag_sizes(struct sq_state *st, const sqfs_tree_node_t *root)
{
	const sqfs_tree_node_t **todo = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	st->frag_used = calloc(st->n_frags ? st->n_frags : 1, sizeof(*st->frag_used));
	if (!st->frag_used)
		return zu_err_set(st->err, -ENOMEM, "out of memory");
	for (const sqfs_tree_node_t *c = root; c && r == 0;) {
		sqfs_u32 idx, off;
		uint64_t len;

		if (sq_is_file(c->inode) && sq_tail(st, c->inode, &idx, &off, &len) &&
		    off + len > st->frag_used[idx])
			st->frag_used[idx] = off + len;
		if (c->children) {
			if (n == cap) {
				void *p = realloc(todo, (cap ? 2 * cap : 64) * sizeof(*todo));

				if (!p) {
					r = zu_err_set(st->err, -ENOMEM, "out of memory");
					break;
				}
				todo = p;
				cap = cap ? 2 * cap : 64;
			}
			todo[n++] = c->children;
		}
		c = c == root ? NULL : c->next;
		if (!c && n)
			c = todo[--n];
	}
	free(todo);
	return r;
}

/* Second pass: every node, depth first with a stack of our own. */
static int sq_walk(struct sq_state *st, const sqfs_tree_node_t *root)
{
	int r = sq_push(st, root, "");

	while (r == 0 && st->n_stack) {
		struct sq_item it = st->stack[--st->n_stack];
		char path[SQ_PATH_MAX];

		if (it.node != root &&
		    snprintf(path, sizeof(path), "%s/%s", it.path, (const char *)it.node->name) >=
			    (int)sizeof(path)) {
			free(it.path);
			continue; /* deeper than any path explain prints */
		}
		if (it.node == root)
			path[0] = 0;
		free(it.path);
		if (sq_is_file(it.node->inode))
			r = sq_file(st, it.node->inode, path);
		for (const sqfs_tree_node_t *c = it.node->children; r == 0 && c; c = c->next)
			r = sq_push(st, c, path);
	}
	return r;
}

static int sq_meta(struct sq_state *st, uint64_t image_len)
{
	const sqfs_super_t *s = &st->super;
	uint64_t rest = s->directory_table_start;
	size_t sb, it, dt, ot, fr;
	int r;

	/* the tables after the directory table, in whatever order they were written */
	const uint64_t starts[] = { s->fragment_table_start, s->export_table_start,
				    s->id_table_start, s->xattr_id_table_start };

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		if (starts[i] > s->directory_table_start && starts[i] < s->bytes_used &&
		    (rest == s->directory_table_start || starts[i] < rest))
			rest = starts[i];
	if (rest == s->directory_table_start)
		rest = s->bytes_used;
	r = zu_xfs_add_file(st->x, "[squashfs superblock]", 0, ZU_XFS_META, &sb, st->err);
	if (r == 0)
		r = zu_xfs_add_extent(st->x, sb, 0, sizeof(sqfs_super_t), st->err);
	if (r == 0)
		r = zu_xfs_add_file(st->x, "[squashfs inode table]", 0, ZU_XFS_META, &it, st->err);
	if (r == 0)
		r = zu_xfs_add_extent(st->x, it, s->inode_table_start,
				      s->directory_table_start - s->inode_table_start, st->err);
	if (r == 0)
		r = zu_xfs_add_file(st->x, "[squashfs directory table]", 0, ZU_XFS_META, &dt,
				    st->err);
	if (r == 0)
		r = zu_xfs_add_extent(st->x, dt, s->directory_table_start,
				      rest - s->directory_table_start, st->err);
	if (r == 0)
		r = zu_xfs_add_file(st->x, "[squashfs fragment, export, id and xattr tables]", 0,
				    ZU_XFS_META, &ot, st->err);
	if (r == 0)
		r = zu_xfs_add_extent(st->x, ot, rest, s->bytes_used - rest, st->err);
	if (r == 0 && image_len > s->bytes_used) {
		r = zu_xfs_add_file(st->x, "[squashfs padding]", 0, ZU_XFS_FREE, &fr, st->err);
		if (r == 0)
			r = zu_xfs_add_extent(st->x, fr, s->bytes_used, image_len - s->bytes_used,
					      st->err);
	}
	return r;
}

static int sq_probe(int fd, struct zu_err *err)
{
	uint8_t m[4];
	ssize_t n = pread(fd, m, sizeof(m), 0);

	if (n < 0)
		return zu_err_sys(err, errno, "reading the superblock");
	return n == 4 && !memcmp(m, "hsqs", 4) ? 0 : -ENOTSUP;
}

int zu_xfs_squashfs_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
{
	struct sq_state st = { .fd = fd, .x = out, .err = err, .sha = ZU_SHA256_INIT };
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp = NULL;
	sqfs_dir_reader_t *dr = NULL;
	sqfs_id_table_t *ids = NULL;
	sqfs_tree_node_t *root = NULL;
	sqfs_file_t *file = NULL;
	char name[64];
	int r = size < sizeof(sqfs_super_t) ? -ENOTSUP : sq_probe(fd, err), e;

	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd); /* libsquashfs opens by name */
	file = sqfs_open_file(name, SQFS_FILE_OPEN_READ_ONLY);
	if (!file)
		return zu_err_set(err, -EBADMSG, "libsquashfs cannot open it");
	e = sqfs_super_read(&st.super, file);
	if (e == 0 && (st.super.bytes_used > size || st.super.inode_table_start > st.super.bytes_used ||
		       st.super.directory_table_start < st.super.inode_table_start ||
		       st.super.directory_table_start > st.super.bytes_used)) {
		r = zu_err_set(err, -EBADMSG, "the superblock claims %" PRIu64 " bytes of %" PRIu64,
			       (uint64_t)st.super.bytes_used, size);
		goto out;
	}
	if (e == 0)
		e = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)st.super.compression_id,
						st.super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
	if (e == 0)
		e = sqfs_compressor_create(&cfg, &cmp);
	ids = e == 0 ? sqfs_id_table_create(0) : NULL;
	if (e == 0 && !ids)
		e = SQFS_ERROR_ALLOC;
	if (e == 0)
		e = sqfs_id_table_read(ids, file, &st.super, cmp);
	st.frags = e == 0 ? sqfs_frag_table_create(0) : NULL;
	if (e == 0 && !st.frags)
		e = SQFS_ERROR_ALLOC;
	if (e == 0 && !(st.super.flags & SQFS_FLAG_NO_FRAGMENTS) && st.super.fragment_entry_count)
		e = sqfs_frag_table_read(st.frags, file, &st.super, cmp);
	if (e == 0)
		st.n_frags = sqfs_frag_table_get_size(st.frags);
	dr = e == 0 ? sqfs_dir_reader_create(&st.super, cmp, file, 0) : NULL;
	if (e == 0 && !dr)
		e = SQFS_ERROR_ALLOC;
	if (e == 0)
		e = sqfs_dir_reader_get_full_hierarchy(dr, ids, NULL, 0, &root);
	st.data = e == 0 ? sqfs_data_reader_create(file, st.super.block_size, cmp, 0) : NULL;
	if (e == 0 && !st.data)
		e = SQFS_ERROR_ALLOC;
	if (e == 0 && !(st.super.flags & SQFS_FLAG_NO_FRAGMENTS) && st.super.fragment_entry_count)
		e = sqfs_data_reader_load_fragment_table(st.data, &st.super);
	if (e != 0) {
		r = sq_fail(&st, e, "reading the tables");
		goto out;
	}
	st.buf = malloc(st.super.block_size);
	r = st.buf ? zu_sha256_init(&st.sha, err) : zu_err_set(err, -ENOMEM, "out of memory");
	if (r == 0)
		r = sq_frag_sizes(&st, root);
	if (r == 0)
		r = sq_walk(&st, root);
	if (r == 0)
		r = sq_meta(&st, size);
out:
	for (size_t i = 0; i < st.n_stack; i++)
		free(st.stack[i].path);
	free(st.stack);
	free(st.frag_used);
	free(st.buf);
	zu_sha256_fini(&st.sha);
	sqfs_destroy(st.data);
	sqfs_dir_tree_destroy(root);
	sqfs_destroy(dr);
	sqfs_destroy(st.frags);
	sqfs_destroy(ids);
	sqfs_destroy(cmp);
	sqfs_destroy(file);
	return r;
}
