/* SPDX-License-Identifier: MIT */
/*
 * fine - codec of the fine profile's header element and piece tables
 * (fine.h). Pure functions on buffers; every length read from a table is
 * checked before use.
 */
#include "config.h"

#include "fine.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

static uint32_t get_le(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static void put_le(uint8_t *p, uint32_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

int zu_fine_elem_parse(const uint8_t *data, uint64_t size, struct zu_fine_layout *out,
		       struct zu_err *err)
{
	struct zu_fine_layout l = { 0 };

	if (size != ZU_FINE_ELEM_LEN)
		return zu_err_set(err, -EBADMSG,
				  "fine layout element: %" PRIu64 " bytes, expected %u", size,
				  ZU_FINE_ELEM_LEN);
	if (data[0] != ZU_FINE_VERSION)
		return zu_err_set(err, -EBADMSG,
				  "fine layout element: version %u not supported (this zckup "
				  "reads version %u)%s",
				  data[0], ZU_FINE_VERSION,
				  data[0] > ZU_FINE_VERSION ? ": a newer zckup made this file" : "");
	l.piece_shift = data[1];
	l.digest_len = data[2];
	l.len_bytes = data[3];
	if (l.piece_shift < 9 || l.piece_shift > 20)
		return zu_err_set(err, -EBADMSG,
				  "fine layout element: piece size 2^%u not in 2^9..2^20",
				  l.piece_shift);
	if (l.digest_len != ZU_FINE_DIGEST_LEN)
		return zu_err_set(err, -EBADMSG,
				  "fine layout element: %u digest bytes per piece, expected %u",
				  l.digest_len, ZU_FINE_DIGEST_LEN);
	if (l.len_bytes != 2 && l.len_bytes != 4)
		return zu_err_set(err, -EBADMSG,
				  "fine layout element: %u length bytes per piece, expected 2 or 4",
				  l.len_bytes);
	l.valid = true;
	*out = l;
	return 0;
}

void zu_fine_elem_write(const struct zu_fine_layout *l, uint8_t out[ZU_FINE_ELEM_LEN])
{
	out[0] = ZU_FINE_VERSION;
	out[1] = l->piece_shift;
	out[2] = l->digest_len;
	out[3] = l->len_bytes;
}

uint64_t zu_fine_n_pieces(const struct zu_fine_layout *l, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (len == 0)
		return 0;
	first = off >> l->piece_shift;
	last = (off + len - 1) >> l->piece_shift; /* off + len fits: image offsets do */
	return last - first + 1;
}

void zu_fine_piece(const struct zu_fine_layout *l, uint64_t off, uint64_t len, uint64_t k,
		   uint64_t *out_start, uint64_t *out_len)
{
	uint64_t size = (uint64_t)1 << l->piece_shift;
	uint64_t base = (off >> l->piece_shift) << l->piece_shift;
	uint64_t s = base + k * size, e = s + size;

	if (s < off)
		s = off;
	if (e > off + len)
		e = off + len;
	assert(s < e);
	*out_start = s - off;
	*out_len = e - s;
}

uint64_t zu_fine_table_len(const struct zu_fine_layout *l, uint64_t n_pieces)
{
	uint64_t n;

	if (zu_mul_overflow(n_pieces, zu_fine_entry_len(l), &n) ||
	    zu_add_overflow(n, ZU_FINE_SKIP_HDR + 1, &n) || n - ZU_FINE_SKIP_HDR > UINT32_MAX)
		return 0;
	return n;
}

void zu_fine_table_start(const struct zu_fine_layout *l, uint8_t *t, uint64_t n_pieces)
{
	uint64_t n = zu_fine_table_len(l, n_pieces);

	assert(n != 0);
	put_le(t, ZU_FINE_MAGIC, 4);
	put_le(t + 4, (uint32_t)(n - ZU_FINE_SKIP_HDR), 4);
	t[ZU_FINE_SKIP_HDR] = ZU_FINE_VERSION;
}

static size_t entry_at(const struct zu_fine_layout *l, uint64_t k)
{
	return ZU_FINE_SKIP_HDR + 1 + (size_t)k * zu_fine_entry_len(l);
}

void zu_fine_entry_put(const struct zu_fine_layout *l, uint8_t *t, uint64_t k,
		       uint32_t frame_len, const uint8_t *digest)
{
	uint8_t *e = t + entry_at(l, k);

	put_le(e, frame_len, l->len_bytes);
	memcpy(e + l->len_bytes, digest, l->digest_len);
}

void zu_fine_entry_get(const struct zu_fine_layout *l, const uint8_t *t, uint64_t k,
		       struct zu_fine_entry *out)
{
	const uint8_t *e = t + entry_at(l, k);

	out->frame_len = get_le(e, l->len_bytes);
	out->digest = e + l->len_bytes;
}

int zu_fine_table_check(const struct zu_fine_layout *l, const uint8_t *t, size_t n,
			uint64_t n_pieces, uint64_t comp_len, struct zu_err *err)
{
	uint64_t want = zu_fine_table_len(l, n_pieces), sum;
	uint32_t magic, size;

	if (want == 0 || n != want)
		return zu_err_set(err, -EBADMSG,
				  "piece table: %zu bytes for %" PRIu64 " pieces, expected %" PRIu64,
				  n, n_pieces, want);
	magic = get_le(t, 4);
	size = get_le(t + 4, 4);
	if (magic != ZU_FINE_MAGIC)
		return zu_err_set(err, -EBADMSG,
				  "piece table: magic 0x%08" PRIx32 ", expected 0x%08x", magic,
				  ZU_FINE_MAGIC);
	if (size != want - ZU_FINE_SKIP_HDR)
		return zu_err_set(err, -EBADMSG,
				  "piece table: size %" PRIu32 ", expected %" PRIu64 " for %" PRIu64
				  " pieces",
				  size, want - ZU_FINE_SKIP_HDR, n_pieces);
	if (t[ZU_FINE_SKIP_HDR] != ZU_FINE_VERSION)
		return zu_err_set(err, -EBADMSG, "piece table: version %u, expected %u",
				  t[ZU_FINE_SKIP_HDR], ZU_FINE_VERSION);
	sum = want;
	for (uint64_t k = 0; k < n_pieces; k++) {
		struct zu_fine_entry e;

		zu_fine_entry_get(l, t, k, &e);
		if (e.frame_len == 0)
			return zu_err_set(err, -EBADMSG, "piece table: piece %" PRIu64
					  " has an empty frame", k);
		sum += e.frame_len; /* at most 2^32 a piece: no overflow for 2^31 pieces */
	}
	if (sum != comp_len)
		return zu_err_set(err, -EBADMSG,
				  "piece table: table and frames take %" PRIu64
				  " bytes, the chunk has %" PRIu64,
				  sum, comp_len);
	return 0;
}
