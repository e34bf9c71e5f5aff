/* SPDX-License-Identifier: MIT */
/*
 * decomp - one zstd frame (a zchunk chunk) to exactly the bytes its header
 * entry promises. One ZSTD_DCtx is reused for every chunk, and the dictionary,
 * when the file has one, is digested once into a ZSTD_DDict. Single-shot
 * decompression writes straight into the caller's chunk buffer, so a frame
 * cannot make zstd allocate a window of its choosing.
 */
#include "config.h"

#include "decomp.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

struct zu_decomp {
	ZSTD_DCtx *dctx;
	ZSTD_DDict *ddict; /* NULL without a dictionary */
};

void zu_decomp_free(struct zu_decomp *d)
{
	if (!d)
		return;
	ZSTD_freeDDict(d->ddict);
	ZSTD_freeDCtx(d->dctx);
	free(d);
}

int zu_decomp_new(const void *dict, size_t dict_len, struct zu_decomp **out, struct zu_err *err)
{
	struct zu_decomp *d;
	int r = 0;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return zu_err_set(err, -ENOMEM, "cannot allocate a decompressor");
	d->dctx = ZSTD_createDCtx();
	if (!d->dctx) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate a zstd decompression context");
		goto out;
	}
	if (dict && dict_len > 0) {
		/* Copies the dictionary: the caller's buffer may be reused afterwards. */
		d->ddict = ZSTD_createDDict(dict, dict_len);
		if (!d->ddict) {
			r = zu_err_set(err, -EBADMSG, "cannot load zstd dictionary of %zu bytes",
				       dict_len);
			goto out;
		}
	}
	*out = d;
	d = NULL;
out:
	zu_decomp_free(d);
	return r;
}

/*
 * Sum of the content sizes all frames declare (skippable frames count 0): a
 * fine chunk (fine.h) is a skippable frame, then one frame per piece.
 * ZSTD_findDecompressedSize() does the same but is not in the stable API.
 */
static unsigned long long content_size(const uint8_t *p, size_t n)
{
	unsigned long long sum = 0;

	while (n > 0) {
		unsigned long long c;
		size_t f = ZSTD_findFrameCompressedSize(p, n);

		if (ZSTD_isError(f) || f == 0 || f > n)
			return ZSTD_CONTENTSIZE_ERROR;
		if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18) {
			c = 0; /* skippable: magic 0x184D2A5? */
		} else {
			c = ZSTD_getFrameContentSize(p, n);
			if (c == ZSTD_CONTENTSIZE_ERROR || c == ZSTD_CONTENTSIZE_UNKNOWN)
				return c;
		}
		if (c > ~0ULL - sum)
			return ZSTD_CONTENTSIZE_ERROR;
		sum += c;
		p += f;
		n -= f;
	}
	return sum;
}

int zu_decomp_chunk(struct zu_decomp *d, const void *src, size_t n, void *dst, size_t expect,
		    struct zu_err *err)
{
	unsigned long long content;
	size_t got;

	if (n == 0)
		return zu_err_set(err, -EBADMSG, "empty zstd frame");
	content = content_size(src, n);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return zu_err_set(err, -EBADMSG, "not a zstd frame (%zu bytes)", n);
	/* Cheap early refusal; the exact count below is the real check. */
	if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != (unsigned long long)expect)
		return zu_err_set(err, -EBADMSG,
				  "zstd frame declares %llu bytes, chunk has %zu", content, expect);
	if (d->ddict)
		got = ZSTD_decompress_usingDDict(d->dctx, dst, expect, src, n, d->ddict);
	else
		got = ZSTD_decompressDCtx(d->dctx, dst, expect, src, n);
	if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_dictionary_wrong) {
		unsigned have = d->ddict ? ZSTD_getDictID_fromDDict(d->ddict) : 0;

		return zu_err_set(err, -EBADMSG,
				  "zstd frame needs dictionary ID %u, but the file's dictionary "
				  "chunk %s (ID %u): not the dictionary the chunk was compressed with",
				  ZSTD_getDictID_fromFrame(src, n),
				  !d->ddict ? "is absent"
				  : have ? "is another one" : "is not a zstd dictionary",
				  have);
	}
	if (ZSTD_isError(got))
		return zu_err_set(err, -EBADMSG, "zstd: %s (frame of %zu bytes, expected %zu)",
				  ZSTD_getErrorName(got), n, expect);
	if (got != expect)
		return zu_err_set(err, -EBADMSG, "zstd frame gave %zu bytes, chunk has %zu", got,
				  expect);
	return 0;
}
