/* SPDX-License-Identifier: MIT */
/*
 * cint - zchunk's compressed integers. Each byte carries 7 bits, least
 * significant group first; the top bit marks the LAST byte. Decoding never
 * reads past n and refuses values that do not fit in 64 bits.
 */
#include "config.h"

#include "cint.h"

int zu_cint_read(const uint8_t *buf, size_t n, size_t *pos, uint64_t *out, struct zu_err *err)
{
	size_t start = *pos;
	uint64_t v = 0;

	for (size_t i = 0; i < ZU_CINT_MAX_LEN; i++) {
		unsigned int shift = 7u * (unsigned int)i;
		uint64_t group;

		if (start >= n || i >= n - start)
			return zu_err_set(err, -EBADMSG,
					  "compressed integer at offset %zu: buffer ends after %zu "
					  "byte(s) without a final byte (top bit set)",
					  start, i);
		group = buf[start + i] & 0x7fu;
		/* The 10th byte holds bit 63 only; anything above it is lost. */
		if (shift == 63 && group > 1)
			return zu_err_set(err, -EOVERFLOW,
					  "compressed integer at offset %zu does not fit in 64 bits "
					  "(byte 10 is 0x%02x, at most 0x81 allowed)",
					  start, buf[start + i]);
		v |= group << shift;
		if (buf[start + i] & 0x80u) {
			*pos = start + i + 1;
			*out = v;
			return 0;
		}
	}
	return zu_err_set(err, -EOVERFLOW,
			  "compressed integer at offset %zu is longer than %d bytes (no final byte)",
			  start, ZU_CINT_MAX_LEN);
}

size_t zu_cint_write(uint8_t *out, uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80u) {
		out[i++] = (uint8_t)(v & 0x7fu);
		v >>= 7;
	}
	out[i++] = (uint8_t)(v | 0x80u);
	return i;
}

size_t zu_cint_len(uint64_t v)
{
	size_t len = 1;

	while (v >= 0x80u) {
		v >>= 7;
		len++;
	}
	return len;
}
