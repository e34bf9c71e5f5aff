/* SPDX-License-Identifier: MIT */
/*
 * xfs - what explain knows of an image's file system: a list of files (and
 * pseudo-files for metadata and free space) and the byte ranges of the image
 * each occupies. One reader per file system fills it (xfs_ext4.c with
 * libext2fs, xfs_squashfs.c with libsquashfs, xfs_tar.c from the member
 * headers); only those files include a file-system library. A reader that
 * meets a malformed image returns -EBADMSG and explain falls back to offset
 * ranges; it must never trust a length it read without checking it against
 * the image size.
 */
#ifndef ZU_XFS_H
#define ZU_XFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum zu_xfs_kind {
	ZU_XFS_FILE,     /* a regular file (or symlink with data blocks) */
	ZU_XFS_META,     /* file-system metadata: superblock, tables, directories, journal */
	ZU_XFS_FREE,     /* free space */
	ZU_XFS_OTHER,    /* anything else, named by its offsets */
};

struct zu_xfs_file {
	char *path;          /* owned; "/etc/passwd", or "[ext4 inode tables]" */
	uint64_t size;       /* the file's size (its image bytes for pseudo-files) */
	enum zu_xfs_kind kind;
	/* its extents in logical order, contiguous in zu_xfs.ext (hashable) */
	size_t first_ext, n_ext;
	bool ext_contiguous; /* false when extents came interleaved with others' */
	uint64_t data_len;   /* bytes of its extents that are its content (hashing) */
	/* a reader that can tell content better than the extents' bytes (squashfs tails) */
	bool has_digest;
	uint8_t digest[32];  /* SHA-256 of what stands for its content */
	/* small files explain reads (the dpkg database), when extents do not hold them as is */
	uint8_t *content;    /* owned, or NULL */
	size_t content_len;
};

struct zu_xfs_extent {
	uint64_t off, len;   /* in the image */
	size_t file;         /* index into files */
};

struct zu_xfs {
	const char *type;    /* static: "ext4", "squashfs", "tar", or NULL (none found) */
	struct zu_xfs_file *files;
	size_t n_files, cap_files;
	struct zu_xfs_extent *ext;
	size_t n_ext, cap_ext;
	uint64_t image_len;  /* what the reader was given; extents are clipped to it */
	bool raw_extents;    /* extents hold file content as is (not squashfs's compressed) */
};

/* Files whose content a reader that has no raw extents keeps (content, content_len). */
bool zu_xfs_wants_content(const char *path);
#define ZU_XFS_CONTENT_MAX (64u << 20)

#define ZU_XFS_INIT { 0 }

/*
 * Reads the file system of the image fd (size bytes) into *out, trying each
 * reader built in. Returns 0 (out->type NULL when no known file system is
 * there), or the reader's failure (-EBADMSG for a malformed file system, with
 * *out emptied): the caller then goes on with offset ranges only.
 */
int zu_xfs_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_xfs_fini(struct zu_xfs *x);

/* For readers: appends a file (path copied); *out_index its index. */
int zu_xfs_add_file(struct zu_xfs *x, const char *path, uint64_t size, enum zu_xfs_kind kind,
		    size_t *out_index, struct zu_err *err) __attribute__((warn_unused_result));
/* For readers: appends an extent of file (clipped to the image; empty ones dropped). */
int zu_xfs_add_extent(struct zu_xfs *x, size_t file, uint64_t off, uint64_t len,
		      struct zu_err *err) __attribute__((warn_unused_result));

/* Whether the library-backed readers are built in (meson found the library). */
extern const bool zu_xfs_ext4_built, zu_xfs_squashfs_built;

/*
 * The readers: 0 and the file system read, -ENOTSUP when the image is not
 * theirs (or the reader is not built in), -EBADMSG when it is but is
 * malformed, other codes from the system.
 */
int zu_xfs_ext4_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_xfs_squashfs_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_xfs_tar_read(int fd, uint64_t size, struct zu_xfs *out, struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
