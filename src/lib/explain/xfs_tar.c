/* SPDX-License-Identifier: MIT */
/*
 * xfs_tar - a tar archive (ustar, GNU and pax) from its member headers:
 * each regular member's data is a file; headers, long-name and pax records,
 * the padding to 512 bytes and the end-of-archive blocks are metadata.
 * Every size read is checked against the image before it is used.
 */
#include "config.h"

#include "explain/xfs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define TAR_BLOCK 512u
#define TAR_NAME_MAX 4096u

struct tar_state {
	struct zu_xfs *x;
	size_t meta;            /* the "[tar headers]" pseudo-file */
	char name[TAR_NAME_MAX]; /* from a GNU 'L' or pax 'x' record, for the next member */
	bool have_name;
};

/* Octal (or GNU base-256) number field; -1 when malformed. */
static int tar_num(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (p[0] & 0x80) {
		if (p[0] != 0x80)
			return -1; /* negative or over 63 bits */
		for (i = 1; i < n; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | p[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && p[i] == ' ')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(p[i] - '0');
	}
	if (i < n && p[i] != ' ' && p[i] != 0)
		return -1;
	*out = v;
	return 0;
}

/* Regular members: their data is the file's content. */
static bool tar_is_file(char type)
{
	return type == '0' || type == 0 || type == '7';
}

static bool tar_zero(const uint8_t *b)
{
	for (size_t i = 0; i < TAR_BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static bool tar_sum_ok(const uint8_t *b)
{
	uint64_t want, sum = 0;

	if (tar_num(b + 148, 8, &want) < 0)
		return false;
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : b[i];
	return sum == want;
}

/* "./usr/bin/x", "usr/bin/x/" -> "/usr/bin/x". */
static void tar_path(const char *in, char *out, size_t cap)
{
	size_t n;

	while (in[0] == '.' && in[1] == '/')
		in += 2;
	while (in[0] == '/')
		in++;
	snprintf(out, cap, "/%s", in);
	n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = 0;
}

/* A pax record set: takes "path=" (the rest is not needed to place bytes). */
static void tar_pax(struct tar_state *st, const char *p, size_t n)
{
	size_t at = 0;

	while (at < n) {
		char *end;
		unsigned long len = strtoul(p + at, &end, 10);
		const char *kv = end + 1;

		if (end == p + at || *end != ' ' || len == 0 || len > n - at)
			return; /* malformed record: keep the header's own name */
		if ((size_t)(p + at + len - kv) > 5 && memcmp(kv, "path=", 5) == 0) {
			size_t vl = (size_t)(p + at + len - kv) - 6; /* without "path=" and '\n' */

			if (vl < sizeof(st->name)) {
				memcpy(st->name, kv + 5, vl);
				st->name[vl] = 0;
				st->have_name = true;
			}
		}
		at += len;
	}
}

/* Reads a long-name or pax record of size bytes at off into memory (bounded). */
static int tar_record(struct tar_state *st, int fd, uint64_t off, uint64_t size, char type,
		      struct zu_err *err)
{
	char *buf;
	int r;

	if (size >= TAR_NAME_MAX * 4)
		return 0; /* not a name we keep */
	buf = calloc(1, (size_t)size + 1);
	if (!buf)
		return zu_err_set(err, -ENOMEM, "out of memory");
	r = zu_io_pread_full(fd, buf, (size_t)size, off, err);
	if (r == 0 && type == 'L' && size < sizeof(st->name)) {
		memcpy(st->name, buf, (size_t)size);
		st->name[size] = 0;
		st->have_name = true;
	} else if (r == 0 && type == 'x') {
		tar_pax(st, buf, (size_t)size);
	}
	free(buf);
	return r;
}

static int tar_member(struct tar_state *st, int fd, const uint8_t *b, uint64_t off,
		      uint64_t size, struct zu_err *err)
{
	char raw[TAR_BLOCK], path[TAR_NAME_MAX + 2];
	char type = (char)b[156];
	size_t idx;
	int r;

	if (type == 'L' || type == 'x')
		return tar_record(st, fd, off + TAR_BLOCK, size, type, err);
	if (!tar_is_file(type)) {
		st->have_name = false; /* directories, links, devices: no data of their own */
		return 0;
	}
	if (st->have_name) {
		tar_path(st->name, path, sizeof(path));
	} else if (memcmp(b + 257, "ustar", 5) == 0 && b[345]) {
		snprintf(raw, sizeof(raw), "%.155s/%.100s", (const char *)b + 345, (const char *)b);
		tar_path(raw, path, sizeof(path));
	} else {
		snprintf(raw, sizeof(raw), "%.100s", (const char *)b);
		tar_path(raw, path, sizeof(path));
	}
	st->have_name = false;
	r = zu_xfs_add_file(st->x, path, size, ZU_XFS_FILE, &idx, err);
	if (r == 0)
		r = zu_xfs_add_extent(st->x, idx, off + TAR_BLOCK, size, err);
	if (r == 0)
		st->x->files[idx].data_len = size;
	return r;
}

int zu_xfs_tar_read(int fd, uint64_t size, struct zu_xfs *x, struct zu_err *err)
{
	struct tar_state st = { .x = x };
	uint8_t b[TAR_BLOCK];
	uint64_t off = 0;
	int r;

	if (size < TAR_BLOCK)
		return -ENOTSUP;
	r = zu_io_pread_full(fd, b, TAR_BLOCK, 0, err);
	if (r < 0)
		return r;
	if (memcmp(b + 257, "ustar", 5) != 0 || !tar_sum_ok(b))
		return -ENOTSUP;
	x->raw_extents = true;
	r = zu_xfs_add_file(x, "[tar headers]", 0, ZU_XFS_META, &st.meta, err);
	while (r == 0 && off + TAR_BLOCK <= size) {
		uint64_t msize, data_end;

		r = zu_io_pread_full(fd, b, TAR_BLOCK, off, err);
		if (r < 0)
			break;
		if (tar_zero(b))
			break; /* the end: the rest is end blocks and padding */
		if (!tar_sum_ok(b) || tar_num(b + 124, 12, &msize) < 0)
			return zu_err_set(err, -EBADMSG, "member header at %" PRIu64 " is malformed",
					  off);
		data_end = off + TAR_BLOCK + (msize + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		if (msize > size || data_end > size)
			return zu_err_set(err, -EBADMSG,
					  "member at %" PRIu64 " of %" PRIu64 " bytes is cut short",
					  off, msize);
		r = zu_xfs_add_extent(x, st.meta, off, TAR_BLOCK, err);
		if (r == 0)
			r = tar_member(&st, fd, b, off, msize, err);
		/* a file's padding to the next block; all of any other member's data */
		if (r == 0 && tar_is_file(b[156]) && msize % TAR_BLOCK)
			r = zu_xfs_add_extent(x, st.meta, off + TAR_BLOCK + msize,
					      TAR_BLOCK - msize % TAR_BLOCK, err);
		else if (r == 0 && !tar_is_file(b[156]))
			r = zu_xfs_add_extent(x, st.meta, off + TAR_BLOCK, data_end - off - TAR_BLOCK,
					      err);
		off = data_end;
	}
	if (r == 0 && off < size)
		r = zu_xfs_add_extent(x, st.meta, off, size - off, err);
	for (size_t i = 0; r == 0 && i < x->n_ext; i++)
		if (x->ext[i].file == st.meta)
			x->files[st.meta].size += x->ext[i].len;
	return r;
}
