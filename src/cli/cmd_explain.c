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

/* What the command line asks for. */
struct explain_args {
	struct zckup_make_opts mo;
	struct zckup_explain_opts eo;
	struct cli_common com;
	const char *zck, *html, *new_name;
	size_t top;
	int threads;
	int new_kind;  /* zchunk_kind() of NEW */
};

/* One option; EXIT_OK, or an exit status (-1 after --help: exit 0). */
static int parse_one(int c, const char *arg, struct explain_args *a)
{
	long v;
	int r;

	switch (c) {
	case 'z':
		a->zck = arg;
		return EXIT_OK;
	case 'l':
		if (!cli_parse_int(arg, 1, 22, &v))
			return cli_usage_error("--level wants 1..22, not '%s'", arg);
		a->mo.level = (int)v;
		return EXIT_OK;
	case 'p':
		if (!strcmp(arg, "compat"))
			a->mo.profile = ZCKUP_PROFILE_COMPAT;
		else if (!strcmp(arg, "fine"))
			a->mo.profile = ZCKUP_PROFILE_FINE;
		else
			return cli_usage_error("--profile wants compat or fine, not '%s'", arg);
		return EXIT_OK;
	case OPT_DICT:
		if (!*arg)
			return cli_usage_error("--dict wants auto, none or a FILE");
		a->mo.dict = arg;
		return EXIT_OK;
	case OPT_NO_FINE:
		a->eo.no_fine = 1;
		return EXIT_OK;
	case 'n':
		if (!cli_parse_int(arg, 1, 1000000, &v))
			return cli_usage_error("--top wants 1..1000000, not '%s'", arg);
		a->top = (size_t)v;
		return EXIT_OK;
	case OPT_HTML:
		a->html = arg;
		return EXIT_OK;
	case OPT_THREADS:
		return cli_parse_threads(arg, &a->threads);
	case 'h':
		fputs(explain_usage, stdout);
		return -1;
	default:
		r = cli_common_option(c, arg, &a->com);
		return r == CLI_NOT_COMMON ? EXIT_USAGE : r;
	}
}

/* The options and OLD NEW, checked together; EXIT_OK, or an exit status (-1: exit 0). */
static int parse_args(int argc, char **argv, struct explain_args *a)
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
	bool makes;
	int c, r;

	while ((c = getopt_long(argc, argv, "z:l:p:n:qh", opts, NULL)) != -1) {
		r = parse_one(c, optarg, a);
		if (r != EXIT_OK)
			return r;
	}
	makes = a->mo.level || a->mo.profile >= 0 || a->mo.dict;
	if (!*zckup_explain_readers())
		return cli_usage_error("explain is not built in this zckup (-Dexplain=disabled)");
	if (optind + 2 != argc)
		return cli_usage_error("explain wants OLD and NEW");
	if (a->zck && makes)
		return cli_usage_error("--level, --profile and --dict make a .zck: not with --zck");
	a->eo.old_image = argv[optind];
	a->eo.new_image = a->new_name = argv[optind + 1];
	a->new_kind = zchunk_kind(a->new_name);
	if (a->new_kind && makes)
		return cli_usage_error("NEW is a zchunk file: --level, --profile and --dict make one");
	if (a->new_kind == 1 && a->zck)
		return cli_usage_error("NEW is a .zck: no --zck");
	if (a->new_kind == 2 && !a->zck)
		return cli_usage_error("NEW is a detached header: --zck names its .zck");
	if (a->new_kind == 1)
		a->zck = a->new_name;
	a->mo.image = a->new_name;
	a->mo.threads = a->threads;
	if (a->mo.profile < 0)
		a->mo.profile = a->mo.dict && strcmp(a->mo.dict, "none") != 0 ? ZCKUP_PROFILE_COMPAT
									       : ZCKUP_PROFILE_FINE;
	return EXIT_OK;
}

int cmd_explain(int argc, char **argv)
{
	struct explain_args a = { .mo = { .profile = -1 }, .top = 10 };
	struct tmp_zck tz = { .made = false };
	zckup_header *h = NULL;
	zckup_explain *e = NULL;
	zckup_ctx *ctx;
	int r = parse_args(argc, argv, &a);

	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	cli_common_defaults(&a.com);
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	cli_attach(ctx, &a.com);
	cli_cancel_on_signals(ctx);
	r = zckup_set_threads(ctx, a.threads) < 0 ? EXIT_USAGE : EXIT_OK; /* checked: cannot fail */
	if (r == EXIT_OK && !a.zck) {
		r = make_tmp_zck(ctx, &a.mo, &tz);
		a.zck = tz.path;
	}
	if (r == EXIT_OK) {
		r = zckup_header_open(ctx, a.new_kind == 2 ? a.new_name : a.zck, NULL, &h);
		r = r < 0 ? cli_fail(ctx, r, "explain") : EXIT_OK;
	}
	if (r == EXIT_OK && a.new_kind) {
		r = rebuild_new(ctx, h, a.zck, a.eo.old_image, &tz);
		a.eo.new_image = tz.image;
	}
	if (r == EXIT_OK) {
		a.eo.header = h;
		a.eo.url = a.zck;
		r = zckup_explain_new(ctx, &a.eo, &e);
		cli_progress_done();
		r = r < 0 ? cli_fail(ctx, r, "explain") : EXIT_OK;
	}
	if (r == EXIT_OK && a.html)
		r = cli_explain_html(e, a.eo.old_image, a.new_name, a.html);
	if (r == EXIT_OK && a.com.json)
		print_json(e, a.eo.old_image, a.new_name);
	else if (r == EXIT_OK)
		print_table(e, a.eo.old_image, a.new_name, a.top);
	zckup_explain_free(e);
	zckup_header_free(h);
	tmp_zck_remove(&tz);
	zckup_ctx_free(ctx);
	return r;
}
