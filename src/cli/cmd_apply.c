/* SPDX-License-Identifier: MIT */
/* zckup apply: old image(s) + header + .zck -> new image at the destination. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char apply_usage[] =
	"Usage: zckup apply [--header NEW.zckh] --url NEW.zck [--source OLD ...] DESTINATION\n"
	"Write the new image, reusing every chunk the sources hold and reading only the\n"
	"missing chunks from NEW.zck. Every chunk is verified before it is written.\n"
	"\n"
	"  -H, --header FILE        the new image's header (.zckh or .zck); default: read it\n"
	"                           from --url\n"
	"      --header-sha256 HEX  refuse a header that HEX does not name (pinning): its\n"
	"                           checksum (inspect), or sha256sum of the .zckh\n"
	"  -u, --url URL            where the .zck is: http://, https://, file://PATH or\n"
	"                           a path; checked to hold the header before use\n"
	"  -s, --source PATH        an image the device holds (file or block device);\n"
	"                           may be given up to 16 times\n"
	"  -S, --source-size N      index only the first N bytes of the --source before it,\n"
	"                           or 'detect': the size of its ext2/3/4 or squashfs\n"
	"%s"
	"      --save-index FILE    once the image is written, save its header (detached)\n"
	"                           to FILE: the --source-index of the next update from\n"
	"                           the slot that now holds this image\n"
	"      --no-fine            fetch missing chunks whole, even from a .zck made with\n"
	"                           --profile fine (default: fetch its piece tables and\n"
	"                           only the pieces no source holds)\n"
	CLI_THREADS_USAGE
	"Destination, exactly one of:\n"
	"  -t, --target PATH        a block device or file, written in place; chunks it\n"
	"                           already holds are checked, not fetched nor rewritten\n"
	"      --target-offset N    the image starts N bytes into the target\n"
	"      --rewrite-all        write every chunk, even those already in place\n"
	"  -o, --output FILE        a file replaced atomically (temporary file beside it,\n"
	"                           renamed once verified and synced); '-' = stdout\n"
	"  -e, --exec CMD           stream the image into CMD's stdin (/bin/sh -c CMD);\n"
	"                           CMD's exit status decides success\n"
	"Reporting:\n"
	"      --progress MODE      bar (default on a terminal), json (JSON lines), none\n"
	"      --debug-chunks       print every chunk and where it came from (stderr)\n"
	"      --json               print the summary as JSON (even with --quiet)\n"
	"  -q, --quiet              no progress, no text summary\n"
	"  -h, --help               this help\n";

static const char *fetch_mode_text(enum zckup_fetch_mode m)
{
	switch (m) {
	case ZCKUP_FETCH_SINGLE_RANGE:
		return "one range per request (the server serves no more)";
	case ZCKUP_FETCH_WHOLE_FILE:
		return "whole file streamed (the server ignores Range)";
	default:
		return "multi-range requests";
	}
}

static const char *retry_text(const struct zckup_apply_stats *s)
{
	static char buf[64];

	if (!s->n_retries)
		return "";
	snprintf(buf, sizeof(buf), ", %zu retr%s", s->n_retries, s->n_retries == 1 ? "y" : "ies");
	return buf;
}

static void print_summary(FILE *f, const struct zckup_apply_stats *s, bool json)
{
	char a[32], b[32], c[32], d[32], e[32];

	if (json) {
		fprintf(f,
			"{\"image_bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
			",\"fetched_uncompressed_bytes\":%" PRIu64 ",\"fetched_bytes\":%" PRIu64
			",\"in_place_bytes\":%" PRIu64 ",\"written_bytes\":%" PRIu64
			",\"reused_chunks\":%zu,\"fetched_chunks\":%zu,\"in_place_chunks\":%zu"
			",\"requests\":%zu,\"ranges\":%zu,\"wire_bytes\":%" PRIu64
			",\"sent_bytes\":%" PRIu64 ",\"retries\":%zu,\"stepdowns\":%zu"
			",\"mode\":\"%s\",\"http_version\":%u,\"seconds\":%.3f"
			",\"image_digest_checked\":%s,\"index_chunks\":%zu"
			",\"stale_index_chunks\":%zu,\"stale_index_bytes\":%" PRIu64
			",\"fine\":%s,\"pieces_reused\":%zu,\"pieces_reused_bytes\":%" PRIu64
			",\"pieces_fetched\":%zu,\"pieces_fetched_bytes\":%" PRIu64
			",\"piece_table_bytes\":%" PRIu64 ",\"fine_fallback_chunks\":%zu"
			",\"bad_piece_tables\":%zu}\n",
			s->image_bytes, s->seed_bytes, s->net_bytes, s->fetched_bytes,
			s->in_place_bytes, s->written_bytes, s->n_seed, s->n_net, s->n_in_place,
			s->n_requests, s->n_ranges, s->wire_bytes, s->sent_bytes, s->n_retries,
			s->n_stepdowns, cli_fetch_mode(s->fetch_mode), s->http_version, s->seconds,
			s->image_digest_checked ? "true" : "false", s->n_index_located,
			s->n_stale_index, s->stale_index_bytes, s->fine ? "true" : "false",
			s->n_pieces_reused, s->pieces_reused_bytes, s->n_pieces_fetched,
			s->pieces_fetched_bytes, s->piece_table_bytes, s->n_fine_fallback,
			s->n_bad_piece_tables);
		return;
	}
	fprintf(f, "reused:   %s in %zu chunk%s (%.1f%%)\n", cli_human(s->seed_bytes, a, sizeof(a)),
		s->n_seed, s->n_seed == 1 ? "" : "s",
		s->image_bytes ? 100.0 * (double)s->seed_bytes / (double)s->image_bytes : 0.0);
	if (s->n_index_located)
		fprintf(f, "index:    %zu chunk%s located by --source-index, %zu of them stale "
			"(%s fetched instead)\n", s->n_index_located,
			s->n_index_located == 1 ? "" : "s", s->n_stale_index,
			cli_human(s->stale_index_bytes, e, sizeof(e)));
	if (s->n_in_place)
		fprintf(f, "in place: %s in %zu chunk%s already in the target\n",
			cli_human(s->in_place_bytes, e, sizeof(e)), s->n_in_place,
			s->n_in_place == 1 ? "" : "s");
	fprintf(f, "fetched:  %s compressed for %s in %zu chunk%s (%zu range%s)\n",
		cli_human(s->fetched_bytes, b, sizeof(b)), cli_human(s->net_bytes, c, sizeof(c)),
		s->n_net, s->n_net == 1 ? "" : "s", s->n_ranges, s->n_ranges == 1 ? "" : "s");
	if (s->fine)
		fprintf(f, "pieces:   %s in %zu pieces reused inside those chunks, %s in %zu "
			"pieces fetched, %s of piece tables%s\n",
			cli_human(s->pieces_reused_bytes, a, sizeof(a)), s->n_pieces_reused,
			cli_human(s->pieces_fetched_bytes, d, sizeof(d)), s->n_pieces_fetched,
			cli_human(s->piece_table_bytes, e, sizeof(e)),
			s->n_fine_fallback ? " (some chunks fetched whole: their pieces did not "
					     "verify)" : "");
	if (s->fine && (s->n_fine_fallback || s->n_bad_piece_tables))
		fprintf(f, "fallback: %zu chunks fetched whole after their pieces did not "
			"verify, %zu malformed piece tables\n", s->n_fine_fallback,
			s->n_bad_piece_tables);
	if (s->fetch_mode != ZCKUP_FETCH_NONE && s->fetch_mode != ZCKUP_FETCH_FILE)
		fprintf(f, "network:  %s on the wire in %zu request%s, %s, HTTP/%u.%u%s\n",
			cli_human(s->wire_bytes, e, sizeof(e)), s->n_requests,
			s->n_requests == 1 ? "" : "s", fetch_mode_text(s->fetch_mode),
			s->http_version / 10, s->http_version % 10, retry_text(s));
	fprintf(f, "total:    %s verified, %s written in %.2f s\n",
		cli_human(s->image_bytes, d, sizeof(d)),
		cli_human(s->written_bytes, a, sizeof(a)), s->seconds);
	/* Say exactly what was checked: no whole-image promise without an image digest. */
	fprintf(f, "verified: every chunk's SHA-256 from the header%s\n",
		s->image_digest_checked ? " and the whole image's SHA-256"
					: " (the header has no whole-image digest: made by zck)");
}

struct apply_args {
	struct cli_net net;
	struct cli_trust trust;
	const char *header;
	const char *pin;
	bool debug_chunks;
	struct cli_sources src;
	struct zckup_apply_opts ao;
	struct cli_common com;
	int threads;
};

enum {
	OPT_PIN = 256,
	OPT_TARGET_OFFSET,
	OPT_REWRITE_ALL,
	OPT_DEBUG_CHUNKS,
	OPT_SAVE_INDEX,
	OPT_NO_FINE,
	OPT_THREADS
};

static int parse_one(int c, struct apply_args *a)
{
	int r;

	switch (c) {
	case 'H':
		a->header = optarg;
		return EXIT_OK;
	case OPT_PIN:
		a->pin = optarg;
		return EXIT_OK;
	case 's':
		return cli_add_source(&a->src, optarg);
	case 'S':
		return cli_set_source_size(&a->src, optarg);
	case CLI_OPT_SOURCE_INDEX:
		return cli_set_source_index(&a->src, optarg);
	case CLI_OPT_SOURCE_INDEX_PIN:
		return cli_set_source_index_pin(&a->src, optarg);
	case OPT_SAVE_INDEX:
		a->ao.save_index = optarg;
		return EXIT_OK;
	case 't':
		if (a->ao.target || a->ao.output || a->ao.use_fd || a->ao.exec)
			return cli_usage_error("apply takes one destination: --target '%s' after "
					       "another --target, --output, -o - or --exec", optarg);
		a->ao.target = optarg;
		return EXIT_OK;
	case OPT_TARGET_OFFSET:
		if (!cli_parse_size(optarg, &a->ao.target_offset))
			return cli_usage_error("--target-offset wants a size, not '%s'", optarg);
		return EXIT_OK;
	case OPT_REWRITE_ALL:
		a->ao.no_in_place = 1;
		return EXIT_OK;
	case OPT_NO_FINE:
		a->ao.no_fine = 1;
		return EXIT_OK;
	case 'o':
		if (a->ao.target || a->ao.output || a->ao.use_fd || a->ao.exec)
			return cli_usage_error("apply takes one destination: --output '%s' after "
					       "another --target, --output, -o - or --exec", optarg);
		if (!strcmp(optarg, "-")) {
			a->ao.use_fd = 1;
			a->ao.fd = STDOUT_FILENO;
		} else {
			a->ao.output = optarg;
		}
		return EXIT_OK;
	case 'e':
		if (a->ao.target || a->ao.output || a->ao.use_fd || a->ao.exec)
			return cli_usage_error("apply takes one destination: --exec '%s' after "
					       "another --target, --output, -o - or --exec", optarg);
		a->ao.exec = optarg;
		return EXIT_OK;
	case OPT_DEBUG_CHUNKS:
		a->debug_chunks = true;
		return EXIT_OK;
	case OPT_THREADS:
		return cli_parse_threads(optarg, &a->threads);
	default:
		r = cli_net_option(c, optarg, &a->net);
		if (r == CLI_NOT_COMMON)
			r = cli_trust_option(c, optarg, &a->trust);
		if (r == CLI_NOT_COMMON)
			r = cli_common_option(c, optarg, &a->com);
		return r == CLI_NOT_COMMON ? EXIT_USAGE : r;
	}
}

static int check_args(struct apply_args *a)
{
	int dests = !!a->ao.target + !!a->ao.output + !!a->ao.use_fd + !!a->ao.exec;

	if (dests != 1)
		return cli_usage_error("apply needs exactly one of --target, --output, -o - or --exec");
	if ((a->ao.target_offset || a->ao.no_in_place) && !a->ao.target)
		return cli_usage_error("--target-offset and --rewrite-all go with --target");
	if (!a->net.url)
		a->net.url = a->header; /* a whole .zck given as --header is also the data */
	if (!a->net.url)
		return cli_usage_error("apply needs --url (and/or --header)");
	if (cli_trust_check(&a->trust) != EXIT_OK)
		return EXIT_USAGE;
	a->ao.url = a->net.url;
	a->ao.max_ranges = a->net.o.max_ranges ? a->net.o.max_ranges : 150;
	/* When the image goes to stdout, everything else goes to stderr. */
	if (a->ao.use_fd)
		a->com.report = stderr;
	cli_common_defaults(&a->com);
	return EXIT_OK;
}

/* Returns EXIT_OK, an exit status, or -1 after --help. */
static int parse_args(int argc, char **argv, struct apply_args *a)
{
	static const struct option opts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "header-sha256", required_argument, NULL, OPT_PIN },
		{ "source", required_argument, NULL, 's' },
		{ "source-size", required_argument, NULL, 'S' },
		CLI_SOURCE_INDEX_LONG_OPTIONS,
		{ "save-index", required_argument, NULL, OPT_SAVE_INDEX },
		{ "target", required_argument, NULL, 't' },
		{ "target-offset", required_argument, NULL, OPT_TARGET_OFFSET },
		{ "rewrite-all", no_argument, NULL, OPT_REWRITE_ALL },
		{ "no-fine", no_argument, NULL, OPT_NO_FINE },
		{ "output", required_argument, NULL, 'o' },
		{ "exec", required_argument, NULL, 'e' },
		{ "debug-chunks", no_argument, NULL, OPT_DEBUG_CHUNKS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		CLI_NET_LONG_OPTIONS,
		CLI_TRUST_LONG_OPTIONS,
		CLI_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "H:u:s:S:t:o:e:r:qh", opts, NULL)) != -1) {
		if (c == 'h') {
			printf(apply_usage, cli_source_index_usage);
			fputs(cli_net_usage, stdout);
			fputs(cli_trust_usage, stdout);
			return -1;
		}
		r = parse_one(c, a);
		if (r != EXIT_OK)
			return r;
	}
	if (optind != argc)
		return cli_usage_error("apply takes no operand '%s'; use --url/--source/--target",
				       argv[optind]);
	return check_args(a);
}

struct chunk_printer {
	const zckup_header *h;
	const struct cli_sources *src;
};

static void print_chunk(void *user, size_t i, enum zckup_origin origin, size_t source,
			uint64_t offset)
{
	const struct chunk_printer *cp = user;
	struct zckup_chunk_info c;

	if (zckup_header_get_chunk(cp->h, i, &c) < 0)
		return; /* i comes from zckup_apply: cannot happen */
	cli_progress_done();
	if (origin == ZCKUP_FROM_SOURCE)
		fprintf(stderr, "chunk %8zu %12" PRIu64 " %7" PRIu64 "  source %s @ %" PRIu64 "\n",
			i, c.image_offset, c.bytes, cp->src->v[source].path, offset);
	else if (origin == ZCKUP_FROM_TARGET)
		fprintf(stderr, "chunk %8zu %12" PRIu64 " %7" PRIu64 "  in place\n", i,
			c.image_offset, c.bytes);
	else
		fprintf(stderr, "chunk %8zu %12" PRIu64 " %7" PRIu64 "  fetched %" PRIu64
			" bytes @ %" PRIu64 "\n",
			i, c.image_offset, c.bytes, c.comp_bytes, c.file_offset);
}

int cmd_apply(int argc, char **argv)
{
	struct apply_args a = { 0 };
	struct zckup_apply_stats st = { 0 };
	struct chunk_printer cp = { 0 };
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
	cli_cancel_on_signals(ctx);
	r = zckup_set_threads(ctx, a.threads) < 0 ? EXIT_USAGE : EXIT_OK; /* checked: cannot fail */
	if (r == EXIT_OK)
		r = cli_net_apply(ctx, &a.net);
	if (r != EXIT_OK)
		goto out;
	/* The header is authenticated before any source is read (--source-size detect too). */
	r = cli_open_header(ctx, a.header, a.ao.url, a.pin ? pin : NULL, &h);
	if (r == 0)
		r = cli_trust_verify(ctx, &a.trust, h, a.com.quiet);
	if (r == 0) {
		int rs = cli_open_indexes(ctx, &a.src); /* each prints its own failure */

		if (rs == EXIT_OK)
			rs = cli_resolve_sizes(ctx, &a.src);

		if (rs != EXIT_OK) {
			r = rs;
			goto out;
		}
	}
	if (r == 0) {
		a.ao.header = h;
		a.ao.sources = a.src.v;
		a.ao.n_sources = a.src.n;
		if (a.debug_chunks) {
			cp.h = h;
			cp.src = &a.src;
			a.ao.on_chunk = print_chunk;
			a.ao.chunk_user = &cp;
		}
		r = zckup_apply(ctx, &a.ao, &st);
	}
	cli_progress_done();
	if (r < 0)
		r = cli_fail(ctx, r, "apply");
	else if (!a.com.quiet || a.com.json)
		print_summary(a.com.report, &st, a.com.json);
out:
	cli_sources_free(&a.src);
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
