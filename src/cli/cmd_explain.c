/* SPDX-License-Identifier: MIT */
/*
 * zckup explain: what a device holding OLD fetches for NEW, per file and
 * per directory of NEW (the library attributes; this prints the table, the
 * JSON and, with explain_html.c, the page).
 */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_explain.h"

static const char explain_usage[] =
	"Usage: zckup explain [OPTION...] OLD NEW\n"
	"       zckup explain [OPTION...] OLD NEW.zck\n"
	"       zckup explain [OPTION...] --zck NEW.zck OLD NEW.zckh\n"
	"Tell what a device holding the image OLD fetches to update to the image NEW, and\n"
	"which files of NEW those bytes are: per file and per directory, bytes reused and\n"
	"bytes fetched (compressed, as apply fetches them, fine pieces included), and why\n"
	"(new file, changed file, unchanged content cut into chunks anew, file-system\n"
	"metadata, free space, other by offsets). ext2/3/4 (libext2fs), squashfs\n"
	"(libsquashfs) and tar images are read file by file, any other image by offsets.\n"
	"The totals are plan's to the byte. Without --zck, NEW is first made into a\n"
	"temporary .zck with the make options below. NEW may be the .zck itself (or its\n"
	"detached header, with --zck): its image is then first rebuilt from it and OLD\n"
	"into a temporary file.\n"
	"\n"
	"  -z, --zck FILE           the .zck that was made from NEW (nothing is made)\n"
	"  -l, --level N            make: zstd level 1..22 (default 19)\n"
	"  -p, --profile NAME       make: fine (default) or compat\n"
	"      --dict MODE          make: none (default), auto or a FILE\n"
	"      --no-fine            for a fine .zck: count whole chunks, as plan --no-fine\n"
	"  -n, --top N              rows in the tables (default 10)\n"
	"      --html FILE          also write a self-contained page (no network): a map\n"
	"                           of the image along its offsets (hover: the file), bars\n"
	"                           of the top files and directories, the totals\n"
	CLI_THREADS_USAGE
	"      --json               print everything as JSON\n"
	"      --progress MODE      bar (default on a terminal), json (JSON lines), none\n"
	"  -q, --quiet              no progress\n"
	"  -h, --help               this help\n";

/*
 * What explain makes for itself in a directory of its own, removed at the
 * end: a .zck made from NEW, or NEW's image rebuilt from a .zck given as NEW.
 */
struct tmp_zck {
	char dir[4096];
	char path[4200];  /* the .zck */
	char image[4200]; /* the rebuilt image */
	bool made;
};

static int tmp_dir(struct tmp_zck *t)
{
	const char *tmp = getenv("TMPDIR");

	if (t->made)
		return EXIT_OK;
	snprintf(t->dir, sizeof(t->dir), "%s/zckup-explain.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir)) {
		perror("zckup explain: cannot make a temporary directory");
		return EXIT_IO;
	}
	t->made = true;
	snprintf(t->path, sizeof(t->path), "%s/new.zck", t->dir);
	snprintf(t->image, sizeof(t->image), "%s/new.img", t->dir);
	return EXIT_OK;
}

static int make_tmp_zck(zckup_ctx *ctx, struct zckup_make_opts *mo, struct tmp_zck *t)
{
	int r = tmp_dir(t);

	if (r != EXIT_OK)
		return r;
	mo->output = t->path;
	r = zckup_make(ctx, mo, NULL);
	return r < 0 ? cli_fail(ctx, r, "explain: make") : EXIT_OK;
}

/* NEW given as a .zck (or its header): its image, rebuilt with OLD as the source. */
static int rebuild_new(zckup_ctx *ctx, const zckup_header *h, const char *zck, const char *old,
		       struct tmp_zck *t)
{
	struct zckup_source src = { .path = old };
	struct zckup_apply_opts ao = { .header = h, .url = zck, .sources = &src, .n_sources = 1 };
	int r = tmp_dir(t);

	if (r != EXIT_OK)
		return r;
	ao.output = t->image;
	r = zckup_apply(ctx, &ao, NULL);
	return r < 0 ? cli_fail(ctx, r, "explain: rebuilding NEW's image") : EXIT_OK;
}

static void tmp_zck_remove(struct tmp_zck *t)
{
	if (!t->made)
		return;
	unlink(t->path);
	unlink(t->image);
	rmdir(t->dir);
}

/* 1 for a .zck, 2 for a detached header, 0 for anything else (an image). */
static int zchunk_kind(const char *path)
{
	unsigned char m[5] = { 0 };
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(m, 1, sizeof(m), f) : 0;

	if (f)
		fclose(f);
	if (n == 5 && !memcmp(m, "\0ZCK1", 5))
		return 1;
	return n == 5 && !memcmp(m, "\0ZHR1", 5) ? 2 : 0;
}

static void print_rows(const zckup_explain *e, bool dirs, size_t top)
{
	struct zckup_explain_totals t;
	char a[32];

	zckup_explain_get_totals(e, &t);
	printf("%14s %11s %7s  %-9s %s\n", "fetched bytes", "size", "reused",
	       dirs ? "entries" : "class", dirs ? "directory" : "file");
	for (size_t i = 0; i < (dirs ? t.n_dirs : t.n_files) && i < top; i++) {
		struct zckup_explain_entry en;
		char cls[32];

		if ((dirs ? zckup_explain_get_dir(e, i, &en) : zckup_explain_get_file(e, i, &en)) < 0)
			break;
		if (en.fetch_bytes == 0)
			break; /* sorted: the rest cost nothing */
		if (dirs)
			snprintf(cls, sizeof(cls), "%zu", en.n_files);
		else
			snprintf(cls, sizeof(cls), "%s", zckup_explain_class_name(en.cls));
		printf("%14" PRIu64 " %11s %6.1f%%  %-9s %s\n", en.fetch_bytes,
		       cli_human(en.bytes, a, sizeof(a)),
		       en.image_bytes ? 100.0 * (double)en.reused_bytes / (double)en.image_bytes
				      : 0.0,
		       cls, en.path);
	}
}

static void print_table(const zckup_explain *e, const char *old, const char *new, size_t top)
{
	struct zckup_explain_totals t;
	char a[32], b[32], c[32];

	zckup_explain_get_totals(e, &t);
	printf("%s (%s) -> %s (%s): top %zu files by bytes fetched\n", old, t.old_fs_type, new,
	       t.fs_type, top);
	print_rows(e, false, top);
	printf("\ntop %zu directories\n", top);
	print_rows(e, true, top);
	if (t.n_dpkg) {
		printf("\nchanged although their package's version did not (not reproducible?)\n");
		printf("%14s  %-24s %-20s %s\n", "fetched bytes", "package", "version", "file");
	}
	for (size_t i = 0; i < t.n_dpkg && i < top; i++) {
		struct zckup_explain_dpkg d;

		if (zckup_explain_get_dpkg(e, i, &d) < 0)
			break;
		printf("%14" PRIu64 "  %-24s %-20s %s\n", d.fetch_bytes, d.package, d.version, d.path);
	}
	printf("\ntotal: %" PRIu64 " bytes fetched (%s; plan: %" PRIu64 "), %s reused of %s%s\n",
	       t.fetch_bytes, cli_human(t.fetch_bytes, a, sizeof(a)), t.plan_fetch_bytes,
	       cli_human(t.reused_bytes, b, sizeof(b)), cli_human(t.image_bytes, c, sizeof(c)),
	       t.fine ? ", fine pieces" : "");
}

static void json_entry(FILE *f, const struct zckup_explain_entry *en, bool dir)
{
	fputs("{\"path\":", f);
	cli_json_str(f, en->path);
	fprintf(f, ",\"bytes\":%" PRIu64 ",\"image_bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
		   ",\"fetch_bytes\":%" PRIu64,
		en->bytes, en->image_bytes, en->reused_bytes, en->fetch_bytes);
	if (dir)
		fprintf(f, ",\"entries\":%zu}", en->n_files);
	else
		fprintf(f, ",\"class\":\"%s\"}", zckup_explain_class_name(en->cls));
}

static void print_json(const zckup_explain *e, const char *old, const char *new)
{
	struct zckup_explain_totals t;

	zckup_explain_get_totals(e, &t);
	fputs("{\"old\":", stdout);
	cli_json_str(stdout, old);
	fputs(",\"new\":", stdout);
	cli_json_str(stdout, new);
	printf(",\"fs\":\"%s\",\"old_fs\":\"%s\",\"image_bytes\":%" PRIu64
	       ",\"reused_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64
	       ",\"plan_fetch_bytes\":%" PRIu64 ",\"fine\":%s,\"files\":[",
	       t.fs_type, t.old_fs_type, t.image_bytes, t.reused_bytes, t.fetch_bytes,
	       t.plan_fetch_bytes, t.fine ? "true" : "false");
	for (size_t i = 0; i < t.n_files; i++) {
		struct zckup_explain_entry en;

		if (zckup_explain_get_file(e, i, &en) < 0)
			break;
		if (i)
			putchar(',');
		json_entry(stdout, &en, false);
	}
	fputs("],\"dirs\":[", stdout);
	for (size_t i = 0; i < t.n_dirs; i++) {
		struct zckup_explain_entry en;

		if (zckup_explain_get_dir(e, i, &en) < 0)
			break;
		if (i)
			putchar(',');
		json_entry(stdout, &en, true);
	}
	printf("],\"dpkg\":%s,\"dpkg_unreproducible\":[", t.has_dpkg ? "true" : "false");
	for (size_t i = 0; i < t.n_dpkg; i++) {
		struct zckup_explain_dpkg d;

		if (zckup_explain_get_dpkg(e, i, &d) < 0)
			break;
		fputs(i ? ",{\"path\":" : "{\"path\":", stdout);
		cli_json_str(stdout, d.path);
		fputs(",\"package\":", stdout);
		cli_json_str(stdout, d.package);
		fputs(",\"version\":", stdout);
		cli_json_str(stdout, d.version);
		printf(",\"fetch_bytes\":%" PRIu64 "}", d.fetch_bytes);
	}
	fputs("],\"map\":[", stdout);
	for (size_t i = 0; i < t.n_cells; i++) {
		struct zckup_explain_cell c;

		if (zckup_explain_get_cell(e, i, &c) < 0)
			break;
		printf("%s{\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"reused_bytes\":%" PRIu64
		       ",\"fetched_image_bytes\":%" PRIu64 ",\"fetch_bytes\":%" PRIu64 ",\"top\":",
		       i ? "," : "", c.image_offset, c.bytes, c.reused_bytes,
		       c.fetched_image_bytes, c.fetch_bytes);
		cli_json_str(stdout, c.top_path);
		putchar('}');
	}
	fputs("]}\n", stdout);
}

enum { OPT_DICT = 256, OPT_NO_FINE, OPT_HTML, OPT_THREADS };

int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zck", required_argument, NULL, 'z' },
		{ "level", required_argument, NULL, 'l' },
		{ "profile", required_argument, NULL, 'p' },
		{ "dict", required_argument, NULL, OPT_DICT },
		{ "no-fine", no_argument, NULL, OPT_NO_FINE },
		{ "top", required_argument, NULL, 'n' },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "threads", required_argument, NULL, OPT_THREADS },
		CLI_COMMON_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zckup_make_opts mo = { .profile = -1 };
	struct zckup_explain_opts eo = { 0 };
	struct cli_common com = { 0 };
	struct tmp_zck tz = { .made = false };
	const char *zck = NULL, *html = NULL, *new_name = NULL;
	zckup_header *h = NULL;
	zckup_explain *e = NULL;
	size_t top = 10;
	int c, r, threads = 0, new_kind;
	zckup_ctx *ctx;
	long v;

	while ((c = getopt_long(argc, argv, "z:l:p:n:qh", opts, NULL)) != -1) {
		r = EXIT_OK;
		switch (c) {
		case 'z':
			zck = optarg;
			break;
		case 'l':
			if (!cli_parse_int(optarg, 1, 22, &v))
				return cli_usage_error("--level wants 1..22, not '%s'", optarg);
			mo.level = (int)v;
			break;
		case 'p':
			if (!strcmp(optarg, "compat"))
				mo.profile = ZCKUP_PROFILE_COMPAT;
			else if (!strcmp(optarg, "fine"))
				mo.profile = ZCKUP_PROFILE_FINE;
			else
				return cli_usage_error("--profile wants compat or fine, not '%s'",
						       optarg);
			break;
		case OPT_DICT:
			if (!*optarg)
				return cli_usage_error("--dict wants auto, none or a FILE");
			mo.dict = optarg;
			break;
		case OPT_NO_FINE:
			eo.no_fine = 1;
			break;
		case 'n':
			if (!cli_parse_int(optarg, 1, 1000000, &v))
				return cli_usage_error("--top wants 1..1000000, not '%s'", optarg);
			top = (size_t)v;
			break;
		case OPT_HTML:
			html = optarg;
			break;
		case OPT_THREADS:
			r = cli_parse_threads(optarg, &threads);
			break;
		case 'h':
			fputs(explain_usage, stdout);
			return EXIT_OK;
		default:
			r = cli_common_option(c, optarg, &com);
			if (r == CLI_NOT_COMMON)
				r = EXIT_USAGE;
		}
		if (r != EXIT_OK)
			return r;
	}
	if (!*zckup_explain_readers())
		return cli_usage_error("explain is not built in this zckup (-Dexplain=disabled)");
	if (optind + 2 != argc)
		return cli_usage_error("explain wants OLD and NEW");
	if (zck && (mo.level || mo.profile >= 0 || mo.dict))
		return cli_usage_error("--level, --profile and --dict make a .zck: not with --zck");
	eo.old_image = argv[optind];
	eo.new_image = argv[optind + 1];
	new_kind = zchunk_kind(eo.new_image);
	if (new_kind && (mo.level || mo.profile >= 0 || mo.dict))
		return cli_usage_error("NEW is a zchunk file: --level, --profile and --dict make one");
	if (new_kind == 1 && zck)
		return cli_usage_error("NEW is a .zck: no --zck");
	if (new_kind == 2 && !zck)
		return cli_usage_error("NEW is a detached header: --zck names its .zck");
	if (new_kind == 1)
		zck = eo.new_image;
	new_name = eo.new_image;
	mo.image = eo.new_image;
	mo.threads = threads;
	if (mo.profile < 0)
		mo.profile = mo.dict && strcmp(mo.dict, "none") != 0 ? ZCKUP_PROFILE_COMPAT
								     : ZCKUP_PROFILE_FINE;
	cli_common_defaults(&com);
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &com);
	cli_cancel_on_signals(ctx);
	r = zckup_set_threads(ctx, threads) < 0 ? EXIT_USAGE : EXIT_OK; /* checked: cannot fail */
	if (r == EXIT_OK && !zck) {
		r = make_tmp_zck(ctx, &mo, &tz);
		zck = tz.path;
	}
	if (r == EXIT_OK) {
		r = zckup_header_open(ctx, new_kind == 2 ? new_name : zck, NULL, &h);
		r = r < 0 ? cli_fail(ctx, r, "explain") : EXIT_OK;
	}
	if (r == EXIT_OK && new_kind) {
		r = rebuild_new(ctx, h, zck, eo.old_image, &tz);
		eo.new_image = tz.image;
	}
	if (r == EXIT_OK) {
		eo.header = h;
		eo.url = zck;
		r = zckup_explain_new(ctx, &eo, &e);
		cli_progress_done();
		r = r < 0 ? cli_fail(ctx, r, "explain") : EXIT_OK;
	}
	if (r == EXIT_OK && html)
		r = cli_explain_html(e, eo.old_image, new_name, html);
	if (r == EXIT_OK && com.json)
		print_json(e, eo.old_image, new_name);
	else if (r == EXIT_OK)
		print_table(e, eo.old_image, new_name, top);
	zckup_explain_free(e);
	zckup_header_free(h);
	tmp_zck_remove(&tz);
	zckup_ctx_free(ctx);
	return r;
}
