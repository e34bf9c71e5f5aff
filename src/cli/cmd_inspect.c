/* SPDX-License-Identifier: MIT */
/* zckup inspect: what a .zck or detached header holds. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

static const char inspect_usage[] =
	"Usage: zckup inspect FILE [OPTION...]\n"
	"Check and describe a .zck file or a detached header.\n"
	"\n"
	"  -c, --chunks   also list every chunk: index, uncompressed SHA-256, image offset,\n"
	"                 size, offset in the .zck, compressed size\n"
	"      --json     print JSON instead of text\n"
	"  -h, --help     this help\n";

static void print_text(const zckup_header *h, const struct zckup_header_info *in, bool chunks)
{
	char hex[2 * ZCKUP_DIGEST_LEN + 1], a[32], b[32];

	printf("type:            %s\n", in->detached ? "detached header" : "zchunk file");
	cli_hex(in->header_digest, ZCKUP_DIGEST_LEN, hex);
	printf("header:          %" PRIu64 " bytes, sha256 %s\n", in->header_bytes, hex);
	printf("flags:           %" PRIu64 "%s%s\n", in->flags,
	       (in->flags & 4) ? " (uncompressed digests)" : "",
	       (in->flags & 2) ? " (optional elements)" : "");
	printf("chunks:          %zu (largest %" PRIu64 " bytes)%s\n", in->n_chunks,
	       in->largest_chunk_bytes, in->has_dict ? ", with dictionary" : "");
	printf("image:           %" PRIu64 " bytes (%s)\n", in->image_bytes,
	       cli_human(in->image_bytes, a, sizeof(a)));
	printf("compressed data: %" PRIu64 " bytes (%s)\n", in->data_bytes,
	       cli_human(in->data_bytes, b, sizeof(b)));
	if (in->has_image_digest) {
		cli_hex(in->image_digest, ZCKUP_DIGEST_LEN, hex);
		printf("image sha256:    %s\n", hex);
	}
	if (in->has_fine)
		printf("profile:         fine (a piece table and one zstd frame per %u-byte "
		       "piece in each chunk)\n", in->fine_piece_bytes);
	printf("signatures:      %zu\n", in->n_signatures);
	if (!chunks)
		return;
	printf("%8s %-64s %12s %8s %12s %8s\n", "index", "uncompressed sha256", "image_off",
	       "size", "file_off", "comp");
	for (size_t i = 0; i < in->n_chunks; i++) {
		struct zckup_chunk_info c;

		if (zckup_header_get_chunk(h, i, &c) < 0)
			break;
		cli_hex(c.udigest, ZCKUP_DIGEST_LEN, hex);
		printf("%8zu %s %12" PRIu64 " %8" PRIu64 " %12" PRIu64 " %8" PRIu64 "\n", i, hex,
		       c.image_offset, c.bytes, c.file_offset, c.comp_bytes);
	}
}

static void print_json(const zckup_header *h, const struct zckup_header_info *in, bool chunks)
{
	char hex[2 * ZCKUP_DIGEST_LEN + 1];

	cli_hex(in->header_digest, ZCKUP_DIGEST_LEN, hex);
	printf("{\"detached\":%s,\"header_bytes\":%" PRIu64 ",\"header_sha256\":\"%s\""
	       ",\"flags\":%" PRIu64 ",\"chunks\":%zu,\"image_bytes\":%" PRIu64
	       ",\"data_bytes\":%" PRIu64 ",\"dict_bytes\":%" PRIu64 ",\"signatures\":%zu",
	       in->detached ? "true" : "false", in->header_bytes, hex, in->flags, in->n_chunks,
	       in->image_bytes, in->data_bytes, in->dict_bytes, in->n_signatures);
	if (in->has_image_digest) {
		cli_hex(in->image_digest, ZCKUP_DIGEST_LEN, hex);
		printf(",\"image_sha256\":\"%s\"", hex);
	}
	printf(",\"profile\":\"%s\"", in->has_fine ? "fine" : "compat");
	if (in->has_fine)
		printf(",\"fine_piece_bytes\":%u", in->fine_piece_bytes);
	if (chunks) {
		printf(",\"chunk_table\":[");
		for (size_t i = 0; i < in->n_chunks; i++) {
			struct zckup_chunk_info c;
			char chex[2 * ZCKUP_DIGEST_LEN + 1];

			if (zckup_header_get_chunk(h, i, &c) < 0)
				break;
			cli_hex(c.udigest, ZCKUP_DIGEST_LEN, hex);
			cli_hex(c.digest, ZCKUP_DIGEST_LEN, chex);
			printf("%s{\"index\":%zu,\"sha256\":\"%s\",\"comp_sha256\":\"%s\""
			       ",\"image_offset\":%" PRIu64 ",\"bytes\":%" PRIu64
			       ",\"file_offset\":%" PRIu64 ",\"comp_bytes\":%" PRIu64 "}",
			       i ? "," : "", i, hex, chex, c.image_offset, c.bytes, c.file_offset,
			       c.comp_bytes);
		}
		printf("]");
	}
	printf("}\n");
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chunks", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zckup_header_info info;
	zckup_header *h = NULL;
	bool chunks = false, json = false;
	zckup_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "ch", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			chunks = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(inspect_usage, stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("inspect wants exactly one FILE");
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	r = zckup_header_open(ctx, argv[optind], NULL, &h);
	if (r < 0) {
		r = cli_fail(ctx, r, "inspect");
		zckup_ctx_free(ctx);
		return r;
	}
	zckup_header_get_info(h, &info);
	if (json)
		print_json(h, &info, chunks);
	else
		print_text(h, &info, chunks);
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return EXIT_OK;
}
