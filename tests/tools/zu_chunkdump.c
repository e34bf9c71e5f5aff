/* SPDX-License-Identifier: MIT */
/*
 * zu_chunkdump - prints the chunks zu_chunker cuts a file into, one "LEN SHA256HEX" line per
 * chunk, for comparison with the chunk table of `zck -u -h sha256` (see
 * tests/integration/chunker_vs_zck.sh). Reads in 64 KiB pieces so chunks span reads.
 */
#include "config.h"

#include "chunker.h"
#include "hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PIECE 65536

struct dump {
	struct zu_chunker chunker;
	struct zu_sha256 sha;
	uint64_t len;
};

static int emit_chunk(struct dump *d, struct zu_err *err)
{
	uint8_t digest[ZU_SHA256_LEN];
	char hex[2 * ZU_SHA256_LEN + 1];
	int r;

	r = zu_sha256_final(&d->sha, digest, err);
	if (r < 0)
		return r;
	zu_hex(digest, sizeof(digest), hex);
	printf("%" PRIu64 " %s\n", d->len, hex);
	d->len = 0;
	return zu_sha256_reset(&d->sha, err);
}

/* Feeds one read piece: hashes each chunk's share and prints every chunk that ends in it. */
static int dump_piece(struct dump *d, const uint8_t *p, size_t n, struct zu_err *err)
{
	while (n > 0) {
		size_t k = zu_chunker_scan(&d->chunker, p, n);
		size_t take = k == ZU_CHUNKER_NO_CUT ? n : k;
		int r = zu_sha256_update(&d->sha, p, take, err);

		if (r < 0)
			return r;
		d->len += take;
		p += take;
		n -= take;
		if (k == ZU_CHUNKER_NO_CUT)
			break;
		r = emit_chunk(d, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int dump_file(FILE *f, struct zu_err *err)
{
	static uint8_t buf[PIECE]; /* a tool, not library code */
	struct dump d = { .sha = ZU_SHA256_INIT, .len = 0 };
	size_t n;
	int r;

	zu_chunker_init(&d.chunker);
	r = zu_sha256_init(&d.sha, err);
	if (r < 0)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		r = dump_piece(&d, buf, n, err);
		if (r < 0)
			goto out;
	}
	if (ferror(f)) {
		r = zu_err_sys(err, EIO, "read failed");
		goto out;
	}
	if (d.len > 0)
		r = emit_chunk(&d, err);
out:
	zu_sha256_fini(&d.sha);
	return r;
}

int main(int argc, char **argv)
{
	struct zu_err err = ZU_ERR_INIT;
	FILE *f;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	r = dump_file(f, &err);
	fclose(f);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], err.msg);
		return 1;
	}
	if (fflush(stdout) != 0)
		return 1;
	return 0;
}
