/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fine_table - libFuzzer target for the fine profile's codec (fine.c):
 * the first 4 bytes are a header element, the next 8 a chunk's image offset
 * (low 20 bits) and length (low 18 bits, + 1), the rest the chunk's
 * compressed bytes. Element and table are checked; a table that passes must
 * list frames that tile exactly the rest of the chunk, and pieces must tile
 * the chunk.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zu_fine_layout l = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint32_t a, b;
	uint64_t off, len, n, tlen, end = 0, frames = 0;

	if (size < 12)
		return 0;
	if (zu_fine_elem_parse(data, 4, &l, &err) < 0) {
		if (err.code != -EBADMSG || l.valid)
			abort();
		return 0;
	}
	memcpy(&a, data + 4, 4);
	memcpy(&b, data + 8, 4);
	off = a & 0xfffff;
	len = (b & 0x3ffff) + 1;
	n = zu_fine_n_pieces(&l, off, len);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t s, pl;

		zu_fine_piece(&l, off, len, k, &s, &pl);
		if (s != end || pl == 0 || pl > (1u << l.piece_shift))
			abort();
		end = s + pl;
	}
	if (end != len)
		abort();
	tlen = zu_fine_table_len(&l, n);
	if (tlen == 0 || tlen > size - 12)
		return 0;
	if (zu_fine_table_check(&l, data + 12, (size_t)tlen, n, size - 12, &err) < 0) {
		if (err.code != -EBADMSG)
			abort();
		return 0;
	}
	for (uint64_t k = 0; k < n; k++) {
		struct zu_fine_entry e;

		zu_fine_entry_get(&l, data + 12, k, &e);
		if (e.frame_len == 0)
			abort();
		frames += e.frame_len;
	}
	if (tlen + frames != size - 12)
		abort();
	return 0;
}
