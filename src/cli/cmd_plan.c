/* SPDX-License-Identifier: MIT */
/* zckup plan: what an update would reuse from the sources and fetch. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static const char plan_usage[] =
	"Usage: zckup plan --source OLD [--source OLD2 ...] [OPTION...] HEADER\n"
	"       zckup plan --source OLD [OPTION...] --url URL\n"
	"Index the sources with zchunk's chunker and tell, for the image HEADER describes\n"
	"(a .zck or a detached header), which chunks are reused and what must be fetched,\n"
	"in how many HTTP requests and about how many bytes on the wire. Without HEADER,\n"
	"the header is read from --url (nothing else is downloaded).\n"
	"\n"
	"  -u, --url URL            the .zck (http://, https://, file://PATH or a path)\n"
	"  -s, --source PATH        an image the device holds (file or block device);\n"
	"                           may be given up to 16 times\n"
	"  -S, --source-size N      index only the first N bytes of the --source before it\n"
	"                           (suffixes K, M, G, T: powers of 1024), or 'detect':\n"
	"                           the size of the ext2/3/4 or squashfs filesystem in it\n"
	"%s"
	"                           (plan reads nothing of such a source: its chunks\n"
	"                           count as reused unchecked, index_chunks in --json)\n"
	"  -t, --target PATH        also count the chunks this target already holds in place\n"
	"      --target-offset N    the image starts N bytes into the target\n"
	"  -r, --max-ranges N       byte ranges per HTTP request (default 150)\n"
	CLI_THREADS_USAGE
	"      --connections, --retries, --timeout, --cacert, --capath, --cert, --key,\n"
	"      --insecure, --http-header, --user: as for apply, to read the header\n"	"  -c, --chunks             list every chunk and where it comes from\n"
	"      --no-fine            for a .zck made with --profile fine: count whole\n"
	"                           chunks only (default: with --url, or a .zck as HEADER,\n"
	"                           fetch the piece tables of the missing chunks and read\n"
	"                           the sources for their pieces, to tell what apply fetches)\n"
	"      --json               print JSON\n"
	"      --progress MODE      bar (default on a terminal), json (JSON lines), none\n"
	"  -q, --quiet              no progress\n"
	"  -h, --help               this help\n";

static void print_chunks(const zckup_header *h, const zckup_plan *p, bool json)
{
	size_t n = 0;
	struct zckup_header_info in;

	zckup_header_get_info(h, &in);
	n = in.n_chunks;
	if (json)
		printf(",\"chunk_table\":[");
	for (size_t i = 0; i < n; i++) {
		struct zckup_chunk_info c;
		struct zckup_plan_chunk pc;

		if (zckup_header_get_chunk(h, i, &c) < 0 || zckup_plan_get_chunk(p, i, &pc) < 0)
			break; /* i < n: cannot happen */
		if (json && pc.origin == ZCKUP_FROM_TARGET)
			printf("%s{\"index\":%zu,\"bytes\":%" PRIu64 ",\"from\":\"target\"}",
			       i ? "," : "", i, c.bytes);
		else if (json && pc.from_source)
			printf("%s{\"index\":%zu,\"bytes\":%" PRIu64 ",\"from\":\"source\""
			       ",\"source\":%zu,\"source_offset\":%" PRIu64 "}",
			       i ? "," : "", i, c.bytes, pc.source, pc.source_offset);
		else if (json)
			printf("%s{\"index\":%zu,\"bytes\":%" PRIu64 ",\"from\":\"fetch\""
			       ",\"file_offset\":%" PRIu64 ",\"comp_bytes\":%" PRIu64 "}",
			       i ? "," : "", i, c.bytes, c.file_offset, c.comp_bytes);
		else if (pc.origin == ZCKUP_FROM_TARGET)
			printf("%8zu %8" PRIu64 " keep   already in the target\n", i, c.bytes);
		else if (pc.from_source)
			printf("%8zu %8" PRIu64 " reuse  source %zu @ %" PRIu64 "\n", i, c.bytes,
			       pc.source, pc.source_offset);
		else
			printf("%8zu %8" PRIu64 " fetch  %" PRIu64 " bytes @ %" PRIu64 "\n", i,
			       c.bytes, c.comp_bytes, c.file_offset);
	}
	if (json)
		printf("]");
}

static void print_plan(const zckup_header *h, const zckup_plan *p, size_t max_ranges,
		       bool json, bool chunks)
{
	struct zckup_plan_stats s;
	char a[32], b[32], c[32];

	zckup_plan_get_stats(p, &s);
	if (json) {
		printf("{\"chunks\":%zu,\"reused_chunks\":%zu,\"fetch_chunks\":%zu"
		       ",\"reused_bytes\":%" PRIu64 ",\"fetch_uncompressed_bytes\":%" PRIu64
		       ",\"fetch_compressed_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64
		       ",\"ranges\":%zu,\"requests\":%zu,\"max_ranges\":%zu"
		       ",\"source_bytes\":%" PRIu64 ",\"in_place_chunks\":%zu"
		       ",\"in_place_bytes\":%" PRIu64 ",\"wire_bytes_estimate\":%" PRIu64
		       ",\"index_chunks\":%zu",
		       s.n_chunks, s.n_seed, s.n_net, s.seed_bytes, s.net_bytes, s.net_comp_bytes,
		       s.fetch_bytes, s.n_ranges, s.n_requests, max_ranges, s.source_bytes,
		       s.n_in_place, s.in_place_bytes, s.wire_bytes_estimate, s.n_index_located);
		printf(",\"fine\":%s", s.fine ? "true" : "false");
		if (s.fine)
			printf(",\"fine_fetch_bytes\":%" PRIu64 ",\"fine_table_bytes\":%" PRIu64
			       ",\"pieces\":%zu,\"pieces_reused\":%zu,\"pieces_reused_bytes\":%" PRIu64
			       ",\"pieces_fetched\":%zu,\"pieces_frame_bytes\":%" PRIu64
			       ",\"fine_ranges\":%zu",
			       s.fine_fetch_bytes, s.fine_table_bytes, s.n_pieces, s.n_pieces_reused,
			       s.pieces_reused_bytes, s.n_pieces_fetched, s.pieces_frame_bytes,
			       s.n_fine_ranges);
		if (chunks)
			print_chunks(h, p, true);
		printf("}\n");
		return;
	}
	if (chunks)
		print_chunks(h, p, false);
	printf("chunks:        %zu (%zu reused, %zu to fetch", s.n_chunks, s.n_seed, s.n_net);
	if (s.n_in_place)
		printf(", %zu already in the target", s.n_in_place);
	printf(")\n");
	if (s.n_index_located)
		printf("from indexes:  %zu chunks located by --source-index (apply verifies them)\n",
		       s.n_index_located);
	printf("reused:        %" PRIu64 " bytes (%s)\n", s.seed_bytes,
	       cli_human(s.seed_bytes, a, sizeof(a)));
	printf("to fetch:      %" PRIu64 " compressed bytes (%s; %s uncompressed)\n",
	       s.net_comp_bytes, cli_human(s.net_comp_bytes, b, sizeof(b)),
	       cli_human(s.net_bytes, c, sizeof(c)));
	printf("ranges:        %zu covering %" PRIu64 " bytes, in %zu request%s of at most %zu\n",
	       s.n_ranges, s.fetch_bytes, s.n_requests, s.n_requests == 1 ? "" : "s", max_ranges);
	printf("over HTTP:     about %" PRIu64 " bytes on the wire (%s), if the server serves\n"
	       "               %zu range%s per request\n",
	       s.wire_bytes_estimate, cli_human(s.wire_bytes_estimate, a, sizeof(a)), max_ranges,
	       max_ranges == 1 ? "" : "s");
	if (!s.fine) {
		struct zckup_header_info hi;

		zckup_header_get_info(h, &hi);
		if (hi.has_fine && s.n_net)
			printf("fine profile:  the .zck has piece tables; give --url (or the .zck as "
			       "HEADER) to plan what\n               apply fetches piece by piece\n");
		return;
	}
	printf("fine profile:  the piece tables of the missing chunks were fetched to plan this\n"
	       "               (%" PRIu64 " bytes); of their %zu pieces, %zu (%s) are in the sources\n",
	       s.fine_table_bytes, s.n_pieces, s.n_pieces_reused,
	       cli_human(s.pieces_reused_bytes, a, sizeof(a)));
	printf("fine fetch:    %" PRIu64 " bytes (%s: tables + %zu frames of %s in %zu ranges),\n"
	       "               %.2f of the %" PRIu64 " bytes of whole chunks\n",
	       s.fine_fetch_bytes, cli_human(s.fine_fetch_bytes, b, sizeof(b)), s.n_pieces_fetched,
	       cli_human(s.pieces_frame_bytes, c, sizeof(c)), s.n_fine_ranges,
	       s.fetch_bytes ? (double)s.fine_fetch_bytes / (double)s.fetch_bytes : 0.0,
	       s.fetch_bytes);
}

enum { OPT_THREADS = 256 };

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "source-size", required_argument, NULL, 'S' },
		CLI_SOURCE_INDEX_LONG_OPTIONS,
		CLI_NET_LONG_OPTIONS,
		CLI_TRUST_LONG_OPTIONS,
		{ "target", required_argument, NULL, 't' },
		{ "target-offset", required_argument, NULL, 'T' },
		{ "chunks", no_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "no-fine", no_argument, NULL, 'F' },
		CLI_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_sources src = { 0 };
	struct cli_common com = { 0 };
	struct zckup_plan_opts po = { 0 };
	struct cli_net net = { 0 };
	struct cli_trust trust = { 0 };
	zckup_header *h = NULL;
	zckup_plan *p = NULL;
	bool chunks = false;
	zckup_ctx *ctx;
	int c, r, threads = 0;

	while ((c = getopt_long(argc, argv, "s:S:r:u:t:cqh", opts, NULL)) != -1) {
		r = EXIT_OK;
		switch (c) {
		case 's':
			r = cli_add_source(&src, optarg);
			break;
		case 'S':
			r = cli_set_source_size(&src, optarg);
			break;
		case CLI_OPT_SOURCE_INDEX:
			r = cli_set_source_index(&src, optarg);
			break;
		case CLI_OPT_SOURCE_INDEX_PIN:
			r = cli_set_source_index_pin(&src, optarg);
			break;
		case 't':
			po.target = optarg;
			break;
		case 'T':
			if (!cli_parse_size(optarg, &po.target_offset))
				return cli_usage_error("--target-offset wants a size, not '%s'", optarg);
			break;
		case 'c':
			chunks = true;
			break;
		case OPT_THREADS:
			r = cli_parse_threads(optarg, &threads);
			break;
		case 'F':
			po.no_fine = 1;
			break;
		case 'h':
			printf(plan_usage, cli_source_index_usage);
			fputs(cli_trust_usage, stdout);
			return EXIT_OK;
		default:
			r = cli_net_option(c, optarg, &net);
			if (r == CLI_NOT_COMMON)
				r = cli_trust_option(c, optarg, &trust);
			if (r == CLI_NOT_COMMON)
				r = cli_common_option(c, optarg, &com);
			if (r == CLI_NOT_COMMON)
				r = EXIT_USAGE;
		}
		if (r != EXIT_OK)
			return r;
	}
	if (optind + 1 < argc || (optind == argc && !net.url))
		return cli_usage_error("plan wants one HEADER (.zck or .zckh) or --url");
	if (cli_trust_check(&trust) != EXIT_OK)
		return EXIT_USAGE;
	po.max_ranges = net.o.max_ranges ? net.o.max_ranges : 150;
	cli_common_defaults(&com);
	po.sources = src.v;
	po.n_sources = src.n;
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &com);
	cli_cancel_on_signals(ctx);
	r = zckup_set_threads(ctx, threads) < 0 ? EXIT_USAGE : EXIT_OK; /* checked: cannot fail */
	if (r == EXIT_OK)
		r = cli_net_apply(ctx, &net);
	if (r != EXIT_OK)
		goto out;
	/* The header is authenticated before any source is read (--source-size detect too). */
	r = cli_open_header(ctx, optind < argc ? argv[optind] : NULL, net.url, NULL, &h);
	if (r == 0)
		r = cli_trust_verify(ctx, &trust, h, com.quiet);
	if (r == 0) {
		int rs = cli_open_indexes(ctx, &src); /* each prints its own failure */

		if (rs == EXIT_OK)
			rs = cli_resolve_sizes(ctx, &src);

		if (rs != EXIT_OK) {
			r = rs;
			goto out;
		}
	}
	if (r == 0 && !po.url) {
		struct zckup_header_info hi;

		/* a .zck given as HEADER is where its piece tables are */
		zckup_header_get_info(h, &hi);
		po.url = net.url ? net.url : !hi.detached && optind < argc ? argv[optind] : NULL;
	}
	if (r == 0)
		r = zckup_plan_new(ctx, h, &po, &p);
	cli_progress_done();
	if (r < 0)
		r = cli_fail(ctx, r, "plan");
	else
		print_plan(h, p, po.max_ranges, com.json, chunks);
out:
	cli_sources_free(&src);
	zckup_plan_free(p);
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
