/* SPDX-License-Identifier: MIT */
/* zckup verify: is an installed image exactly the header's image. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

static const char verify_usage[] =
	"Usage: zckup verify --header HEADER [OPTION...] IMAGE\n"
	"Read IMAGE (a file, a block device or a slot) and tell whether it is exactly the\n"
	"image HEADER describes: every chunk against its SHA-256 and, when the header has\n"
	"it (files made by zckup make), the whole image against its SHA-256. Exit status\n"
	"0 when it is, 4 when it is not (a chunk differs, IMAGE is shorter or, unless a\n"
	"slot, longer).\n"
	"\n"
	"  -H, --header FILE        the image's header (.zckh or .zck)\n"
	"      --header-sha256 HEX  refuse a header that HEX does not name (pinning): its\n"
	"                           checksum (inspect), or sha256sum of the .zckh\n"
	"      --slot               IMAGE is a slot that may be larger than the image: the\n"
	"                           bytes after it are not checked (always so for a block\n"
	"                           device)\n"
	"      --json               print the result as JSON\n"
	"      --progress MODE      bar (default on a terminal), json (JSON lines), none\n"
	"  -q, --quiet              no progress, no text result (the exit status says it)\n"
	"  -h, --help               this help\n";

static void print_result(FILE *f, const struct zckup_verify_stats *s, int r, bool json)
{
	const char *v = r == 0 ? "match" : r == -EILSEQ ? "differs" : "error";

	if (json) {
		fprintf(f, "{\"result\":\"%s\",\"image_bytes\":%" PRIu64 ",\"path_bytes\":%" PRIu64
			   ",\"read_bytes\":%" PRIu64 ",\"chunks\":%zu,\"bad_chunks\":%zu"
			   ",\"size_ok\":%s,\"image_digest_checked\":%s,\"image_digest_ok\":%s",
			v, s->image_bytes, s->path_bytes, s->read_bytes, s->n_chunks,
			s->n_bad_chunks, s->size_ok ? "true" : "false",
			s->image_digest_checked ? "true" : "false",
			s->image_digest_ok ? "true" : "false");
		if (s->n_bad_chunks)
			fprintf(f, ",\"first_bad_chunk\":%zu,\"first_bad_offset\":%" PRIu64,
				s->first_bad_chunk, s->first_bad_offset);
		fprintf(f, "}\n");
		return;
	}
	if (r != 0)
		return; /* cli_fail said what differs */
	fprintf(f, "match: %zu chunks, %" PRIu64 " bytes%s\n", s->n_chunks, s->image_bytes,
		s->image_digest_checked ? ", image SHA-256 too"
					: " (the header has no whole-image digest: made by zck)");
}

enum { OPT_PIN = 256, OPT_SLOT };

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "header-sha256", required_argument, NULL, OPT_PIN },
		{ "slot", no_argument, NULL, OPT_SLOT },
		CLI_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zckup_verify_opts vo = { 0 };
	struct zckup_verify_stats st = { 0 };
	struct cli_common com = { 0 };
	const char *header = NULL, *pin_hex = NULL;
	uint8_t pin[ZCKUP_DIGEST_LEN];
	zckup_header *h = NULL;
	zckup_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "H:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			header = optarg;
			break;
		case OPT_PIN:
			pin_hex = optarg;
			break;
		case OPT_SLOT:
			vo.slot = 1;
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return EXIT_OK;
		default:
			r = cli_common_option(c, optarg, &com);
			if (r != EXIT_OK)
				return r == CLI_NOT_COMMON ? EXIT_USAGE : r;
		}
	}
	if (!header)
		return cli_usage_error("verify wants --header HEADER");
	if (optind + 1 != argc)
		return cli_usage_error("verify wants exactly one IMAGE");
	if (pin_hex && cli_unhex32(pin_hex, pin) < 0)
		return cli_usage_error("--header-sha256 wants 64 hex digits");
	vo.path = argv[optind];
	cli_common_defaults(&com);
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &com);
	cli_cancel_on_signals(ctx);
	r = zckup_header_open(ctx, header, pin_hex ? pin : NULL, &h);
	if (r == 0)
		r = zckup_verify(ctx, h, &vo, &st);
	cli_progress_done();
	if (r == 0 || r == -EILSEQ) {
		if (com.json || !com.quiet)
			print_result(com.report, &st, r, com.json);
	}
	r = r < 0 ? cli_fail(ctx, r, "verify") : EXIT_OK;
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
