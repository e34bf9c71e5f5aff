/* SPDX-License-Identifier: MIT */
/* zckup apply: old image(s) + header + .zck -> new image on the target. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static const char apply_usage[] =
	"Usage: zckup apply [--header NEW.zckh] --url NEW.zck --source OLD\n"
	"                   (--target DEV|--output FILE)\n"
	"Write the new image to OUT, reusing every chunk the sources hold and reading only\n"
	"the missing chunks from NEW.zck. Every chunk is verified before it is written.\n"
	"\n"
	"  -H, --header FILE        the new image's header (.zckh or .zck); default: read it\n"
	"                           from --url\n"
	"      --header-sha256 HEX  refuse a header whose checksum is not HEX (pinning)\n"
	"  -u, --url URL            where the .zck is: a path or file://PATH\n"
	"  -s, --source PATH        an image the device holds (file or block device);\n"
	"                           may be given up to 16 times\n"
	"  -S, --source-size N      index only the first N bytes of the --source before it\n"
	"  -t, --target PATH        write the image here (file or block device), in place\n"
	"  -o, --output FILE        or: replace FILE atomically with the image (temporary\n"
	"                           file beside it, renamed once verified and synced)\n"
	"  -r, --max-ranges N       byte ranges per request (default 150)\n"
	"      --json               print the summary as JSON\n"
	"  -q, --quiet              no progress, no summary\n"
	"  -h, --help               this help\n";

static void print_summary(const struct zckup_apply_stats *s, bool json)
{
	char a[32], b[32], c[32], d[32];

	if (json) {
		printf("{\"image_bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
		       ",\"fetched_uncompressed_bytes\":%" PRIu64 ",\"fetched_bytes\":%" PRIu64
		       ",\"reused_chunks\":%zu,\"fetched_chunks\":%zu,\"requests\":%zu"
		       ",\"ranges\":%zu,\"seconds\":%.3f}\n",
		       s->image_bytes, s->seed_bytes, s->net_bytes, s->fetched_bytes, s->n_seed,
		       s->n_net, s->n_requests, s->n_ranges, s->seconds);
		return;
	}
	printf("reused:  %s in %zu chunks (%.1f%%)\n", cli_human(s->seed_bytes, a, sizeof(a)),
	       s->n_seed,
	       s->image_bytes ? 100.0 * (double)s->seed_bytes / (double)s->image_bytes : 0.0);
	printf("fetched: %s compressed for %s in %zu chunks (%zu ranges)\n",
	       cli_human(s->fetched_bytes, b, sizeof(b)), cli_human(s->net_bytes, c, sizeof(c)),
	       s->n_net, s->n_ranges);
	printf("total:   %s written and verified in %.2f s\n",
	       cli_human(s->image_bytes, d, sizeof(d)), s->seconds);
}

struct apply_args {
	const char *header;
	const char *pin;
	struct cli_sources src;
	struct zckup_apply_opts ao;
	struct cli_common com;
};

static int parse_args(int argc, char **argv, struct apply_args *a)
{
	static const struct option opts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "header-sha256", required_argument, NULL, 'P' },
		{ "url", required_argument, NULL, 'u' },
		{ "source", required_argument, NULL, 's' },
		{ "source-size", required_argument, NULL, 'S' },
		{ "target", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "max-ranges", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c, r;

	a->ao.max_ranges = 150;
	while ((c = getopt_long(argc, argv, "H:u:s:S:t:o:r:qh", opts, NULL)) != -1) {
		r = EXIT_OK;
		switch (c) {
		case 'H':
			a->header = optarg;
			break;
		case 'P':
			a->pin = optarg;
			break;
		case 'u':
			a->ao.url = optarg;
			break;
		case 's':
			r = cli_add_source(&a->src, optarg);
			break;
		case 'S':
			r = cli_set_source_size(&a->src, optarg);
			break;
		case 't':
			a->ao.target = optarg;
			break;
		case 'o':
			a->ao.output = optarg;
			break;
		case 'r':
			if (!cli_parse_int(optarg, 1, 150, &v))
				return cli_usage_error("--max-ranges wants 1..150, not '%s'", optarg);
			a->ao.max_ranges = (size_t)v;
			break;
		case 'j':
			a->com.json = true;
			break;
		case 'q':
			a->com.quiet = true;
			break;
		case 'h':
			fputs(apply_usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
		if (r != EXIT_OK)
			return r;
	}
	if (optind != argc)
		return cli_usage_error("apply takes no operand '%s'; use --url/--source/--target",
				       argv[optind]);
	if (!a->ao.target == !a->ao.output)
		return cli_usage_error("apply needs one of --target (in place) or --output (atomic)");
	if (!a->header && !a->ao.url)
		return cli_usage_error("apply needs --url (and/or --header)");
	if (!a->header)
		a->header = cli_url_path(a->ao.url);
	a->com.progress = !a->com.quiet && isatty(STDERR_FILENO);
	return EXIT_OK;
}

int cmd_apply(int argc, char **argv)
{
	struct apply_args a = { 0 };
	struct zckup_apply_stats st = { 0 };
	uint8_t pin[ZCKUP_DIGEST_LEN];
	zckup_header *h = NULL;
	zckup_ctx *ctx;
	int r;

	r = parse_args(argc, argv, &a);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	if (a.pin && cli_unhex32(a.pin, pin) < 0)
		return cli_usage_error("--header-sha256 wants 64 hex digits");
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &a.com);
	r = zckup_header_open(ctx, a.header, a.pin ? pin : NULL, &h);
	if (r == 0) {
		a.ao.header = h;
		a.ao.sources = a.src.v;
		a.ao.n_sources = a.src.n;
		if (a.ao.url)
			a.ao.url = cli_url_path(a.ao.url);
		r = zckup_apply(ctx, &a.ao, &st);
	}
	cli_progress_done();
	if (r < 0)
		r = cli_fail(ctx, r, "apply");
	else if (!a.com.quiet)
		print_summary(&st, a.com.json);
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
