/* SPDX-License-Identifier: MIT */
/*
 * decomp - one zstd frame (a zchunk chunk) to its exact uncompressed bytes,
 * optionally with the file's dictionary. The only reader-side user of zstd.
 */
#ifndef ZU_DECOMP_H
#define ZU_DECOMP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct zu_decomp;

/* dict may be NULL. Returns a new decompressor in *out; free with zu_decomp_free(). */
int zu_decomp_new(const void *dict, size_t dict_len, struct zu_decomp **out, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_decomp_free(struct zu_decomp *d);
/*
 * Decompresses src[0..n) into dst, which must end up holding exactly expect
 * bytes (-EBADMSG otherwise, or for a damaged frame).
 */
int zu_decomp_chunk(struct zu_decomp *d, const void *src, size_t n, void *dst, size_t expect,
		    struct zu_err *err) __attribute__((warn_unused_result));

#endif
