/* SPDX-License-Identifier: MIT */
/* zckup make: image -> .zck (+ detached header). */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char make_usage[] =
	"Usage: zckup make IMAGE -o NEW.zck [OPTION...]\n"
	"Build a zchunk file from IMAGE: zchunk's chunking, each chunk zstd-compressed,\n"
	"SHA-256 digests of every compressed and uncompressed chunk (as 'zck -u -h sha256')\n"
	"and the whole image's SHA-256.\n"
	"\n"
	"  -o, --output FILE       the .zck to write (replaced atomically)\n"
	"  -H, --header-out FILE   also write the detached header (.zckh)\n"
	"  -l, --level N           zstd level 1..22 (default 19)\n"
	"  -t, --threads N         compression threads (default 0: online CPUs)\n"
	"  -p, --profile NAME      fine (default): zck's chunks, each a piece table (a zstd\n"
	"                          skippable frame) + one zstd frame per 4 KiB piece, so\n"
	"                          zckup fetches only the pieces a device lacks; zck, unzck\n"
	"                          and SWUpdate read it as an ordinary .zck (which is about\n"
	"                          20% larger); compat (the default with --dict): one zstd\n"
	"                          frame per chunk, as zck writes\n"
	"      --dict MODE         zstd dictionary for every chunk, stored as zchunk's\n"
	"                          dictionary chunk (devices fetch it once per update):\n"
	"                          none (default), auto (trained on IMAGE's own chunks;\n"
	"                          IMAGE must be a file or block device), or a FILE\n"
	"                          (./auto for a file named auto). SWUpdate's delta\n"
	"                          handler cannot apply a file with a dictionary.\n"
	"      --dict-size KIB     size of the auto dictionary, 1..1024 KiB (default 256)\n"
	"      --dict-samples MIB  train auto on at most this much of IMAGE, 1..1024 MiB\n"
	"                          (default 64; about the training's memory)\n"
	"      --json              print the summary as JSON\n"
	"      --progress MODE     bar (default on a terminal), json (JSON lines), none\n"
	"  -q, --quiet             no progress, no summary\n"
	"  -h, --help              this help\n";

static void print_summary(const struct zckup_make_stats *s, const char *out, bool json)
{
	char hex[2 * ZCKUP_DIGEST_LEN + 1], hhex[2 * ZCKUP_DIGEST_LEN + 1], a[32], b[32];

	cli_hex(s->image_digest, ZCKUP_DIGEST_LEN, hex);
	cli_hex(s->header_digest, ZCKUP_DIGEST_LEN, hhex);
	if (json) {
		printf("{\"output\":");
		cli_json_str(stdout, out);
		printf(",\"image_bytes\":%" PRIu64 ",\"zck_bytes\":%" PRIu64
		       ",\"header_bytes\":%" PRIu64 ",\"chunks\":%zu,\"image_sha256\":\"%s\""
		       ",\"header_sha256\":\"%s\",\"dict_bytes\":%" PRIu64
		       ",\"dict_zck_bytes\":%" PRIu64 ",\"dict_saved_estimate\":%" PRIu64
		       ",\"dict_skipped\":",
		       s->image_bytes, s->zck_bytes, s->header_bytes, s->n_chunks, hex, hhex,
		       s->dict_bytes, s->dict_comp_bytes, s->dict_saved_estimate);
		if (s->dict_skipped)
			cli_json_str(stdout, s->dict_skipped);
		else
			fputs("null", stdout);
		fputs("}\n", stdout);
		return;
	}
	printf("wrote %s: %zu chunk%s, image %s, zck %s (%.1f%%), header %" PRIu64 " bytes\n",
	       out, s->n_chunks, s->n_chunks == 1 ? "" : "s",
	       cli_human(s->image_bytes, a, sizeof(a)),
	       cli_human(s->zck_bytes, b, sizeof(b)),
	       s->image_bytes ? 100.0 * (double)s->zck_bytes / (double)s->image_bytes : 0.0,
	       s->header_bytes);
	if (s->dict_bytes)
		printf("dictionary: %" PRIu64 " bytes (%" PRIu64 " in the zck)%s\n", s->dict_bytes,
		       s->dict_comp_bytes, s->dict_samples ? ", trained on the image" : "");
	if (s->dict_skipped)
		printf("no dictionary: %s\n", s->dict_skipped);
	if (s->dict_samples && s->dict_saved_estimate)
		printf("dictionary %s the whole zck about %s (estimated on %zu chunks)\n",
		       s->dict_bytes ? "saves" : "would save",
		       cli_human(s->dict_saved_estimate, a, sizeof(a)), s->dict_samples);
	printf("image sha256:  %s\nheader sha256: %s\n", hex, hhex);
}

int cmd_make(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "header-out", required_argument, NULL, 'H' },
		{ "level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "profile", required_argument, NULL, 'p' },
		{ "dict", required_argument, NULL, 'D' },
		{ "dict-size", required_argument, NULL, 'S' },
		{ "dict-samples", required_argument, NULL, 'M' },
		CLI_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zckup_make_opts mo = { 0 };
	struct zckup_make_stats st = { 0 };
	int profile = -1; /* not given: fine, or compat with a dictionary */
	struct cli_common com = { 0 };
	zckup_ctx *ctx;
	long v;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:H:l:t:p:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			mo.output = optarg;
			break;
		case 'H':
			mo.header_out = optarg;
			break;
		case 'l':
			if (!cli_parse_int(optarg, 1, 22, &v))
				return cli_usage_error("--level wants 1..22, not '%s'", optarg);
			mo.level = (int)v;
			break;
		case 't':
			if (cli_parse_threads(optarg, &mo.threads) != EXIT_OK)
				return EXIT_USAGE;
			break;
		case 'p':
			if (!strcmp(optarg, "compat"))
				profile = ZCKUP_PROFILE_COMPAT;
			else if (!strcmp(optarg, "fine"))
				profile = ZCKUP_PROFILE_FINE;
			else
				return cli_usage_error("--profile wants compat or fine, not '%s'",
						       optarg);
			break;
		case 'D':
			if (!*optarg)
				return cli_usage_error("--dict wants auto, none or a FILE");
			mo.dict = optarg;
			break;
		case 'S':
			if (!cli_parse_int(optarg, 1, 1024, &v))
				return cli_usage_error("--dict-size wants 1..1024 (KiB), not '%s'",
						       optarg);
			mo.dict_size = (size_t)v << 10;
			break;
		case 'M':
			if (!cli_parse_int(optarg, 1, 1024, &v))
				return cli_usage_error("--dict-samples wants 1..1024 (MiB), not '%s'",
						       optarg);
			mo.dict_samples = (size_t)v << 20;
			break;
		case 'h':
			fputs(make_usage, stdout);
			return EXIT_OK;
		default:
			r = cli_common_option(c, optarg, &com);
			if (r != EXIT_OK)
				return r == CLI_NOT_COMMON ? EXIT_USAGE : r;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("make wants exactly one IMAGE");
	if (!mo.output)
		return cli_usage_error("make needs -o NEW.zck");
	if ((mo.dict_size || mo.dict_samples) && (!mo.dict || strcmp(mo.dict, "auto") != 0))
		return cli_usage_error("--dict-size and --dict-samples go with --dict auto");
	mo.image = argv[optind];
	if (profile < 0)
		profile = mo.dict && strcmp(mo.dict, "none") != 0 ? ZCKUP_PROFILE_COMPAT
								   : ZCKUP_PROFILE_FINE;
	mo.profile = profile;
	cli_common_defaults(&com);
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &com);
	cli_cancel_on_signals(ctx);
	r = zckup_make(ctx, &mo, &st);
	cli_progress_done();
	if (r < 0) {
		r = cli_fail(ctx, r, "make");
		zckup_ctx_free(ctx);
		return r;
	}
	if (!com.quiet || com.json)
		print_summary(&st, mo.output, com.json);
	zckup_ctx_free(ctx);
	return EXIT_OK;
}
