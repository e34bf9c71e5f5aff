/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fssize - libFuzzer target for zu_fssize_probe on arbitrary bytes (the first bytes of a
 * source partition are untrusted). The probe must stay inside the buffer (it gets an exact-size
 * copy, so ASan sees any over-read), a success must give a usable size and kind, a failure one
 * of the documented codes with a message, and nothing past ZU_FSSIZE_PROBE_BYTES may change
 * the answer.
 *
 * Corpus (fuzz/corpus/fssize/): the first 4096 bytes of a 1 MiB mkfs.ext4 image, of a 256 KiB
 * mkfs.ext2 image and of a mksquashfs image of two small files; the ext4 prefix cut inside its
 * superblock and the squashfs one cut inside its 96-byte superblock; 4096 bytes of seeded
 * random garbage.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fssize.h"



struct probe {
	int r;
	uint64_t size;
	const char *kind;
};

static struct probe probe(const uint8_t *data, size_t n)
{
	struct zu_err err = ZU_ERR_INIT;
	struct probe p = { 0, 0, NULL };
	uint8_t *copy = malloc(n ? n : 1);

	CHECK(copy);
	if (n)
		memcpy(copy, data, n);
	p.r = zu_fssize_probe(copy, n, &p.size, &p.kind, &err);
	free(copy);
	if (p.r < 0) {
		CHECK(p.r == -ENOENT || p.r == -EBADMSG);
		CHECK(err.code == p.r && err.msg[0] != '\0');
		return p;
	}
	CHECK(p.r == 0);
	CHECK(p.size != 0 && p.size <= INT64_MAX);
	CHECK(p.kind);
	CHECK(!strcmp(p.kind, "ext2") || !strcmp(p.kind, "ext3") || !strcmp(p.kind, "ext4") ||
	      !strcmp(p.kind, "squashfs"));
	/* squashfs sizes are rounded up to mksquashfs' 4 KiB padding. */
	CHECK(strcmp(p.kind, "squashfs") || p.size % 4096 == 0);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe whole = probe(data, size);

	if (size > ZU_FSSIZE_PROBE_BYTES) {
		struct probe head = probe(data, ZU_FSSIZE_PROBE_BYTES);

		CHECK(head.r == whole.r);
		CHECK(whole.r < 0 || (head.size == whole.size && !strcmp(head.kind, whole.kind)));
	}
	if (size == 0) {
		struct zu_err err = ZU_ERR_INIT;
		uint64_t sz = 0;
		const char *kind = NULL;

		CHECK(zu_fssize_probe(NULL, 0, &sz, &kind, &err) == -ENOENT);
	}
	return 0;
}
