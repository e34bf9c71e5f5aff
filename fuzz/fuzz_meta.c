/* SPDX-License-Identifier: MIT */
/*
 * fuzz_meta - libFuzzer target for zu_meta_parse (zckup's signed metadata):
 * whatever it accepts builds back to exactly the input bytes (one spelling
 * per content), and every refusal is -EBADMSG or -EOVERFLOW with a message.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_meta m;
	char out[ZU_META_MAX];
	size_t n = 0;
	int cmp = 1;
	int r = zu_meta_parse(data, size, &m, &err);

	if (r < 0) {
		CHECK((r == -EBADMSG || r == -EOVERFLOW) && err.code == r && err.msg[0]);
		return 0;
	}
	CHECK(zu_meta_build(&m, out, sizeof(out), &n, &err) == 0);
	CHECK(n == size && memcmp(out, data, n) == 0);
	CHECK(zu_version_cmp(m.version, m.version, &cmp, &err) == 0 && cmp == 0);
	return 0;
}
