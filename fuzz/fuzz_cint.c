/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cint - libFuzzer target for zu_cint_read: decodes the input as a run of
 * compressed integers and checks that each one re-encodes to a form that
 * decodes to the same value, and that failures leave the position alone.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cint.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct zu_err err = ZU_ERR_INIT;
		uint8_t enc[ZU_CINT_MAX_LEN];
		size_t start = pos, len, pos2 = 0;
		uint64_t v = 0, v2 = 0;
		int r = zu_cint_read(data, size, &pos, &v, &err);

		if (r < 0) {
			if ((r != -EBADMSG && r != -EOVERFLOW) || err.code != r || pos != start ||
			    err.msg[0] == '\0')
				abort();
			break;
		}
		if (pos <= start || pos - start > ZU_CINT_MAX_LEN)
			abort();
		len = zu_cint_write(enc, v);
		/* The shortest form is never longer than what was read (padded forms are). */
		if (len != zu_cint_len(v) || len > pos - start)
			abort();
		if (zu_cint_read(enc, len, &pos2, &v2, &err) != 0 || v2 != v || pos2 != len)
			abort();
		if (len == pos - start && memcmp(enc, data + start, len) != 0)
			abort();
	}
	return 0;
}
