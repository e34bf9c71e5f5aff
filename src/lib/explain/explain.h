/* SPDX-License-Identifier: MIT */
/*
 * explain - attributes what a plan fetches and reuses to what those bytes
 * of the new image are. Input: the plan as segments of the image (each
 * either reused, or costing some fetched .zck bytes) and the new image's
 * file system (xfs.h). Output: per file, per directory and per cell of an
 * image map, bytes reused and fetched. A segment's fetched bytes are split
 * over the files it covers in proportion to the bytes of each, rounded so
 * that the shares add up to the segment exactly: the totals are plan's to
 * the byte. Pure: no I/O, never prints.
 */
#ifndef ZU_EXPLAIN_H
#define ZU_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "explain/xfs.h"

/* A stretch of the new image and what the plan does for it. len 0: no image range (dict). */
struct zu_xseg {
	uint64_t off, len;
	uint64_t fetch;  /* .zck bytes fetched for it (0 when reused) */
	bool reused;
	bool overlay;    /* costs bytes over a stretch other segments describe (piece tables) */
};

struct zu_xsegs {
	struct zu_xseg *v;
	size_t n, cap;
};

/* Appends a segment; -ENOMEM. */
int zu_xsegs_add(struct zu_xsegs *s, const struct zu_xseg *seg, struct zu_err *err) __attribute__((warn_unused_result));
void zu_xsegs_fini(struct zu_xsegs *s);

/* Reason classes, in the order explain reports them. */
enum zu_xclass {
	ZU_XCLASS_UNCHANGED, /* nothing fetched */
	ZU_XCLASS_NEW,       /* not in the old image */
	ZU_XCLASS_CHANGED,   /* in the old image with other content */
	ZU_XCLASS_MOVED,     /* same content as in the old image, cut into chunks differently */
	ZU_XCLASS_METADATA,
	ZU_XCLASS_FREE,
	ZU_XCLASS_OTHER,
};

struct zu_xentry {
	const char *path;    /* borrowed from the xfs, or owned (pseudo entries: owned set) */
	bool owned;
	uint64_t size;
	enum zu_xfs_kind kind;
	enum zu_xclass cls;
	size_t xfs_file;     /* index in the new xfs, SIZE_MAX for explain's own entries */
	uint64_t image_bytes, reused_bytes, fetched_image_bytes, fetch_bytes;
	size_t n_files;      /* directories: files under it */
};

struct zu_xcell {
	uint64_t off, len;
	uint64_t reused_bytes, fetched_image_bytes, fetch_bytes;
	size_t top;          /* entry costing the most bytes there, SIZE_MAX when none */
};

struct zu_explain_result {
	struct zu_xentry *files;  /* files, then explain's own entries (offset ranges, dict) */
	size_t n_files;
	struct zu_xentry *dirs;   /* directories (paths owned), then one group per pseudo kind */
	size_t n_dirs;
	struct zu_xcell *cells;
	size_t n_cells;
	uint64_t image_len, reused_bytes, fetch_bytes;
};

struct zu_explain_params {
	const struct zu_xfs *xfs;    /* new image's file system (type NULL: offsets only) */
	const struct zu_xsegs *segs;
	uint64_t image_len;
	size_t n_cells;              /* wanted map cells; 0 = 1024 */
	uint64_t range_bytes;        /* uncovered bytes are named by windows of this size; 0 = 1 MiB */
};

/* Attributes; *out is filled (free with zu_explain_result_fini()). */
int zu_explain_attribute(const struct zu_explain_params *p, struct zu_explain_result *out,
			 struct zu_err *err) __attribute__((warn_unused_result));
/* Rolls the files up into out->dirs and sorts files and dirs by bytes fetched. */
int zu_explain_rollup(struct zu_explain_result *out, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_explain_result_fini(struct zu_explain_result *r);
const char *zu_xclass_name(enum zu_xclass c);

#endif
