/* SPDX-License-Identifier: MIT */
/* fuzz - what every fuzz target shares: the libFuzzer entry point and a check that aborts. */
#ifndef ZU_FUZZ_H
#define ZU_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: abort() so libFuzzer and the replay see it. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

#endif
