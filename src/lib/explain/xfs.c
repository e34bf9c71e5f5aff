/* SPDX-License-Identifier: MIT */
/*
 * xfs - the readers' shared list of files and extents, and the choice of a
 * reader (xfs.h). Reads no file system itself.
 */
#include "config.h"

#include "explain/xfs.h"

#include <stdlib.h>
#include <string.h>

typedef int (*xfs_reader_fn)(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err);

/* Tried in this order; each says -ENOTSUP for an image that is not its own. */
static const struct {
	const char *name;
	xfs_reader_fn read;
} xfs_readers[] = {
	{ "ext4", zu_xfs_ext4_read },
	{ "squashfs", zu_xfs_squashfs_read },
	{ "tar", zu_xfs_tar_read },
};

void zu_xfs_fini(struct zu_xfs *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_files; i++) {
		free(x->files[i].path);
		free(x->files[i].content);
	}
	free(x->files);
	free(x->ext);
	*x = (struct zu_xfs)ZU_XFS_INIT;
}

int zu_xfs_add_file(struct zu_xfs *x, const char *path, uint64_t size, enum zu_xfs_kind kind,
		    size_t *out_index, struct zu_err *err)
{
	struct zu_xfs_file *f;

	if (x->n_files == x->cap_files) {
		size_t cap = x->cap_files ? 2 * x->cap_files : 256;
		void *p = cap < SIZE_MAX / sizeof(*x->files) ? realloc(x->files, cap * sizeof(*x->files))
							     : NULL;

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot list %zu files", cap);
		x->files = p;
		x->cap_files = cap;
	}
	f = &x->files[x->n_files];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return zu_err_set(err, -ENOMEM, "out of memory");
	f->size = size;
	f->kind = kind;
	f->ext_contiguous = true;
	*out_index = x->n_files++;
	return 0;
}

int zu_xfs_add_extent(struct zu_xfs *x, size_t file, uint64_t off, uint64_t len,
		      struct zu_err *err)
{
	struct zu_xfs_file *f;

	if (file >= x->n_files)
		return zu_err_set(err, -EINVAL, "extent of file %zu of %zu", file, x->n_files);
	if (off >= x->image_len || len == 0)
		return 0; /* beyond the image: a lying file system, nothing to attribute */
	if (len > x->image_len - off)
		len = x->image_len - off;
	if (x->n_ext == x->cap_ext) {
		size_t cap = x->cap_ext ? 2 * x->cap_ext : 1024;
		void *p = cap < SIZE_MAX / sizeof(*x->ext) ? realloc(x->ext, cap * sizeof(*x->ext))
							   : NULL;

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot list %zu extents", cap);
		x->ext = p;
		x->cap_ext = cap;
	}
	f = &x->files[file];
	if (f->n_ext == 0)
		f->first_ext = x->n_ext;
	else if (f->first_ext + f->n_ext != x->n_ext)
		f->ext_contiguous = false;
	f->n_ext++;
	x->ext[x->n_ext++] = (struct zu_xfs_extent){ .off = off, .len = len, .file = file };
	return 0;
}

bool zu_xfs_wants_content(const char *path)
{
	static const char info[] = "/var/lib/dpkg/info/";
	size_t n = strlen(path);

	if (!strcmp(path, "/var/lib/dpkg/status"))
		return true;
	return !strncmp(path, info, sizeof(info) - 1) && n > sizeof(info) - 1 + 5 &&
	       !strcmp(path + n - 5, ".list") && !strchr(path + sizeof(info) - 1, '/');
}

int zu_xfs_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
{
	*out = (struct zu_xfs)ZU_XFS_INIT;
	for (size_t i = 0; i < sizeof(xfs_readers) / sizeof(xfs_readers[0]); i++) {
		int r;

		out->image_len = size;
		r = xfs_readers[i].read(fd, size, out, err);
		if (r == 0) {
			out->type = xfs_readers[i].name;
			return 0;
		}
		zu_xfs_fini(out);
		if (r != -ENOTSUP)
			return zu_err_prefix(err, "%s", xfs_readers[i].name);
	}
	zu_err_clear(err);
	return 0;
}
