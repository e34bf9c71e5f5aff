/* SPDX-License-Identifier: MIT */
/* zckup extract-header: .zck -> detached header, checked on the way. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char extract_usage[] =
	"Usage: zckup extract-header NEW.zck -o NEW.zckh\n"
	"Check the header of NEW.zck and write it as a detached header (magic \\0ZHR1),\n"
	"which zckup apply --header, zck tools and SWUpdate read.\n"
	"\n"
	"  -o, --output FILE   where to write the header (replaced atomically)\n"
	"  -h, --help          this help\n";

int cmd_extract_header(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL;
	zckup_header *h = NULL;
	zckup_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(extract_usage, stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("extract-header wants exactly one .zck file");
	if (!output)
		return cli_usage_error("extract-header needs -o FILE");
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	r = zckup_header_open(ctx, argv[optind], NULL, &h);
	if (r == 0)
		r = zckup_header_write_detached(ctx, h, output);
	if (r < 0)
		r = cli_fail(ctx, r, "extract-header");
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
