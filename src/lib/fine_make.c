/* SPDX-License-Identifier: MIT */
/*
 * fine_make - one chunk in the fine layout (fine_make.h). The table comes
 * first in the output but needs every frame's length: it is written last,
 * into the space left for it.
 */
#include "config.h"

#include "fine_make.h"

#include <inttypes.h>
#include <zstd.h>

#include "piecehash.h"

size_t zu_fine_comp_bound(const struct zu_fine_layout *l, size_t max_len)
{
	size_t piece = (size_t)1 << l->piece_shift;
	/* A chunk not aligned to pieces touches one more piece than its length fills. */
	size_t n = max_len / piece + 2;

	return (size_t)zu_fine_table_len(l, n) + n * ZSTD_compressBound(piece);
}

int zu_fine_compress(const struct zu_fine_layout *l, void *cctx, uint64_t off,
		     const uint8_t *u, size_t len, uint8_t *out, size_t cap, size_t *out_len,
		     struct zu_err *err)
{
	uint64_t n = zu_fine_n_pieces(l, off, len);
	uint64_t tlen = zu_fine_table_len(l, n);
	uint32_t max_frame = l->len_bytes == 4 ? UINT32_MAX : (1u << (8 * l->len_bytes)) - 1;
	size_t pos;

	if (tlen == 0 || tlen > cap)
		return zu_err_set(err, -EOVERFLOW, "piece table of %" PRIu64 " pieces does not fit",
				  n);
	zu_fine_table_start(l, out, n);
	pos = (size_t)tlen;
	for (uint64_t k = 0; k < n; k++) {
		uint8_t d[ZU_PIECEHASH_LEN];
		uint64_t ps, pl;
		size_t z;

		zu_fine_piece(l, off, len, k, &ps, &pl);
		zu_piecehash_bytes(u + ps, (size_t)pl, d);
		z = ZSTD_compress2(cctx, out + pos, cap - pos, u + ps, (size_t)pl);
		if (ZSTD_isError(z))
			return zu_err_set(err, -EIO, "zstd compression of piece %" PRIu64
					  " (%" PRIu64 " bytes) failed: %s", k, pl,
					  ZSTD_getErrorName(z));
		if (z > max_frame)
			return zu_err_set(err, -EOVERFLOW, "piece %" PRIu64 " compresses to %zu "
					  "bytes, over the table's %u-byte lengths", k, z,
					  l->len_bytes);
		zu_fine_entry_put(l, out, k, (uint32_t)z, d);
		pos += z;
	}
	*out_len = pos;
	return 0;
}
