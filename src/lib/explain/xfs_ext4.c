/* SPDX-License-Identifier: MIT */
/*
 * xfs_ext4 - an ext2/3/4 image read with libext2fs (e2fsprogs): the tree
 * walked from the root (each inode named by the first path found to it),
 * each file's blocks in logical order (extents or block maps, through
 * ext2fs_block_iterate3), directories, the journal and the reserved GDT
 * blocks, each group's superblock copy, descriptors, bitmaps and inode
 * table as metadata, and free blocks from the block bitmap. The only file
 * that includes libext2fs. A file system libext2fs refuses is -EBADMSG.
 */
#include "config.h"

#include "explain/xfs.h"

const bool zu_xfs_ext4_built = true;

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#define E4_PATH_MAX 4096u

struct e4_node {
	ext2_ino_t ino;
	char *path;
	bool dir;
};

struct e4_state {
	ext2_filsys fs;
	struct zu_xfs *x;
	struct zu_err *err;
	int r;
	uint8_t *seen;             /* a bit per inode: named already */
	struct e4_node *nodes;     /* everything named, in walk order */
	size_t n_nodes, cap_nodes;
	size_t next_dir;           /* nodes before it were walked (no recursion) */
	const char *cur_path;      /* the directory being walked */
	/* blocks of the file being mapped: a run pending, and its index-block runs */
	size_t file;
	uint64_t run_blk, run_len;
	size_t meta_tree;          /* "[ext4 extent trees and block maps]" */
	uint64_t *tree_blk;
	size_t n_tree, cap_tree;
	uint64_t mapped;           /* bytes of the current file's extents */
};

static int e4_fail(struct e4_state *st, errcode_t code, const char *what)
{
	if (st->r == 0)
		st->r = zu_err_set(st->err, code == EXT2_ET_NO_MEMORY ? -ENOMEM : -EBADMSG,
				   "%s: %s (libext2fs error %ld)", what, error_message(code),
				   (long)code);
	return st->r;
}

static int e4_node_add(struct e4_state *st, ext2_ino_t ino, const char *path, bool dir)
{
	if (st->n_nodes == st->cap_nodes) {
		size_t cap = st->cap_nodes ? 2 * st->cap_nodes : 1024;
		void *p = realloc(st->nodes, cap * sizeof(*st->nodes));

		if (!p)
			return zu_err_set(st->err, -ENOMEM, "out of memory");
		st->nodes = p;
		st->cap_nodes = cap;
	}
	st->nodes[st->n_nodes].path = strdup(path);
	if (!st->nodes[st->n_nodes].path)
		return zu_err_set(st->err, -ENOMEM, "out of memory");
	st->nodes[st->n_nodes].ino = ino;
	st->nodes[st->n_nodes].dir = dir;
	st->n_nodes++;
	st->seen[ino / 8] |= (uint8_t)(1u << (ino % 8));
	return 0;
}

static int e4_dirent(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
		     int blocksize, char *buf, void *priv)
{
	struct e4_state *st = priv;
	int len = ext2fs_dirent_name_len(d);
	char path[E4_PATH_MAX];
	bool is_dir = ext2fs_dirent_file_type(d) == EXT2_FT_DIR;

	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (d->inode == 0 || d->inode > st->fs->super->s_inodes_count)
		return 0;
	if ((len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (st->seen[d->inode / 8] & (1u << (d->inode % 8)))
		return 0; /* a hard link, or a loop in a corrupt tree */
	if (snprintf(path, sizeof(path), "%s/%.*s", strcmp(st->cur_path, "/") ? st->cur_path : "",
		     len, d->name) >= (int)sizeof(path))
		return 0; /* deeper than any path explain prints */
	st->r = e4_node_add(st, d->inode, path, is_dir);
	return st->r < 0 ? DIRENT_ABORT : 0;
}

/* Names every inode reachable from the root, directories level by level. */
static int e4_walk(struct e4_state *st)
{
	errcode_t e;
	int r = e4_node_add(st, EXT2_ROOT_INO, "/", true);

	for (st->next_dir = 0; r == 0 && st->next_dir < st->n_nodes; st->next_dir++) {
		const struct e4_node *n = &st->nodes[st->next_dir];

		if (!n->dir)
			continue;
		st->cur_path = n->path;
		e = ext2fs_dir_iterate2(st->fs, n->ino, 0, NULL, e4_dirent, st);
		if (st->r < 0)
			return st->r;
		if (e)
			return e4_fail(st, e, n->path);
	}
	return r;
}

static void e4_flush_run(struct e4_state *st)
{
	uint64_t bs = st->fs->blocksize;

	if (st->run_len && st->r == 0) {
		st->r = zu_xfs_add_extent(st->x, st->file, st->run_blk * bs, st->run_len * bs,
					  st->err);
		st->mapped += st->run_len * bs;
	}
	st->run_len = 0;
}

static int e4_block(ext2_filsys fs, blk64_t *blk, e2_blkcnt_t cnt, blk64_t ref_blk,
		    int ref_offset, void *priv)
{
	struct e4_state *st = priv;

	(void)fs;
	(void)ref_blk;
	(void)ref_offset;
	if (cnt < 0) {
		/* an index block: metadata, kept aside so the file's extents stay together */
		if (st->n_tree == st->cap_tree) {
			size_t cap = st->cap_tree ? 2 * st->cap_tree : 256;
			void *p = realloc(st->tree_blk, cap * sizeof(*st->tree_blk));

			if (!p) {
				st->r = zu_err_set(st->err, -ENOMEM, "out of memory");
				return BLOCK_ABORT;
			}
			st->tree_blk = p;
			st->cap_tree = cap;
		}
		st->tree_blk[st->n_tree++] = *blk;
		return 0;
	}
	if (st->run_len && *blk == st->run_blk + st->run_len) {
		st->run_len++;
		return 0;
	}
	e4_flush_run(st);
	st->run_blk = *blk;
	st->run_len = 1;
	return st->r < 0 ? BLOCK_ABORT : 0;
}

/* One inode's blocks as the extents of a new file entry. */
static int e4_map(struct e4_state *st, ext2_ino_t ino, const char *path, enum zu_xfs_kind kind)
{
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(st->fs, ino, &in);
	uint64_t size;
	int r;

	if (e)
		return e4_fail(st, e, path);
	if (!ext2fs_inode_has_valid_blocks2(st->fs, &in))
		return 0; /* inline data, fast symlinks, devices: inside the inode table */
	size = EXT2_I_SIZE(&in);
	r = zu_xfs_add_file(st->x, path, size, kind, &st->file, st->err);
	if (r < 0)
		return r;
	st->run_len = 0;
	st->mapped = 0;
	e = ext2fs_block_iterate3(st->fs, ino, BLOCK_FLAG_READ_ONLY, NULL, e4_block, st);
	e4_flush_run(st);
	if (st->r < 0)
		return st->r;
	if (e)
		return e4_fail(st, e, path);
	st->x->files[st->file].data_len = size < st->mapped ? size : st->mapped;
	if (kind != ZU_XFS_FILE)
		st->x->files[st->file].size = st->mapped;
	return 0;
}

static int e4_meta_run(struct e4_state *st, size_t file, uint64_t blk, uint64_t n)
{
	return zu_xfs_add_extent(st->x, file, blk * st->fs->blocksize, n * st->fs->blocksize,
				 st->err);
}

/* Per group: superblock copy and descriptors, bitmaps, inode table. */
static int e4_groups(struct e4_state *st)
{
	ext2_filsys fs = st->fs;
	size_t sb, bm, it;
	int r = zu_xfs_add_file(st->x, "[ext4 superblocks and group descriptors]", 0,
				ZU_XFS_META, &sb, st->err);

	if (r == 0)
		r = zu_xfs_add_file(st->x, "[ext4 bitmaps]", 0, ZU_XFS_META, &bm, st->err);
	if (r == 0)
		r = zu_xfs_add_file(st->x, "[ext4 inode tables]", 0, ZU_XFS_META, &it, st->err);
	for (dgrp_t g = 0; r == 0 && g < fs->group_desc_count; g++) {
		blk64_t super = 0, old_desc = 0, new_desc = 0;
		blk_t used = 0;
		errcode_t e = ext2fs_super_and_bgd_loc2(fs, g, &super, &old_desc, &new_desc, &used);

		if (e)
			return e4_fail(st, e, "group descriptors");
		/* superblock, descriptors and reserved GDT blocks are the first used of the group */
		if (used && (super || g == 0))
			r = e4_meta_run(st, sb, super ? super : ext2fs_group_first_block2(fs, g), used);
		else if (new_desc)
			r = e4_meta_run(st, sb, new_desc, 1);
		if (r == 0)
			r = e4_meta_run(st, bm, ext2fs_block_bitmap_loc(fs, g), 1);
		if (r == 0)
			r = e4_meta_run(st, bm, ext2fs_inode_bitmap_loc(fs, g), 1);
		if (r == 0)
			r = e4_meta_run(st, it, ext2fs_inode_table_loc(fs, g),
					fs->inode_blocks_per_group);
	}
	return r;
}

/* Runs of blocks the block bitmap marks free. */
static int e4_free(struct e4_state *st)
{
	ext2_filsys fs = st->fs;
	blk64_t first = fs->super->s_first_data_block, end = ext2fs_blocks_count(fs->super);
	blk64_t run = 0, n = 0;
	errcode_t e = ext2fs_read_block_bitmap(fs);
	size_t idx;
	int r;

	if (e)
		return e4_fail(st, e, "block bitmap");
	r = zu_xfs_add_file(st->x, "[free space]", 0, ZU_XFS_FREE, &idx, st->err);
	for (blk64_t b = first; r == 0 && b < end; b++) {
		if (!ext2fs_test_block_bitmap2(fs->block_map, b)) {
			if (!n)
				run = b;
			n++;
			continue;
		}
		if (n)
			r = e4_meta_run(st, idx, run, n);
		n = 0;
	}
	if (r == 0 && n)
		r = e4_meta_run(st, idx, run, n);
	return r;
}

static int e4_read_all(struct e4_state *st)
{
	ext2_ino_t journal = st->fs->super->s_journal_inum;
	int r = e4_walk(st);

	for (size_t i = 0; r == 0 && i < st->n_nodes; i++) {
		const struct e4_node *n = &st->nodes[i];
		char path[E4_PATH_MAX + 1];

		/* a directory's blocks: metadata, listed as "/dir/" under its own directory */
		snprintf(path, sizeof(path), "%s%s", n->path,
			 n->dir && strcmp(n->path, "/") ? "/" : "");
		r = e4_map(st, n->ino, path, n->dir ? ZU_XFS_META : ZU_XFS_FILE);
	}
	if (r == 0 && journal && journal <= st->fs->super->s_inodes_count)
		r = e4_map(st, journal, "[ext4 journal]", ZU_XFS_META);
	if (r == 0 && ext2fs_has_feature_resize_inode(st->fs->super))
		r = e4_map(st, EXT2_RESIZE_INO, "[ext4 reserved GDT blocks]", ZU_XFS_META);
	if (r == 0 && st->n_tree) {
		r = zu_xfs_add_file(st->x, "[ext4 extent trees and block maps]", 0, ZU_XFS_META,
				    &st->meta_tree, st->err);
		for (size_t i = 0; r == 0 && i < st->n_tree; i++)
			r = e4_meta_run(st, st->meta_tree, st->tree_blk[i], 1);
	}
	if (r == 0)
		r = e4_groups(st);
	if (r == 0)
		r = e4_free(st);
	return r;
}

/* A superblock magic at 1024 says the image is ours (before libext2fs sees it). */
static int e4_probe(int fd, struct zu_err *err)
{
	uint8_t m[2];
	ssize_t n = pread(fd, m, sizeof(m), 1024 + 56);

	if (n < 0)
		return zu_err_sys(err, errno, "reading the superblock");
	return n == 2 && m[0] == 0x53 && m[1] == 0xef ? 0 : -ENOTSUP;
}

int zu_xfs_ext4_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
{
	struct e4_state st = { .x = out, .err = err };
	char name[64];
	errcode_t e;
	int r = size < 2048 ? -ENOTSUP : e4_probe(fd, err);

	if (r < 0)
		return r;
	/* libext2fs opens by name: this very descriptor, read-only */
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	e = ext2fs_open2(name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
			 unix_io_manager, &st.fs);
	if (e)
		return zu_err_set(err, -EBADMSG, "libext2fs cannot open it: %s (libext2fs error %ld)",
				  error_message(e), (long)e);
	if ((uint64_t)ext2fs_blocks_count(st.fs->super) * st.fs->blocksize > size) {
		r = zu_err_set(err, -EBADMSG, "the file system claims %" PRIu64 " bytes of %" PRIu64,
			       (uint64_t)ext2fs_blocks_count(st.fs->super) * st.fs->blocksize, size);
		goto out;
	}
	st.seen = calloc(st.fs->super->s_inodes_count / 8 + 1, 1);
	if (!st.seen) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	out->raw_extents = true;
	r = e4_read_all(&st);
out:
	for (size_t i = 0; i < st.n_nodes; i++)
		free(st.nodes[i].path);
	free(st.nodes);
	free(st.seen);
	free(st.tree_blk);
	ext2fs_close_free(&st.fs);
	return r;
}
