/* SPDX-License-Identifier: MIT */
/* zckup - command line front end: dispatches to one cmd_<verb>.c per verb. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"Usage: zckup COMMAND [OPTION...] [ARG...]\n"
	"Delta updates of images from zchunk (.zck) files: download only what the device lacks.\n"
	"\n"
	"Commands:\n"
	"  make IMAGE -o NEW.zck       build a .zck (and a detached header) from an image\n"
	"  extract-header NEW.zck -o NEW.zckh\n"
	"                              write the detached header of a .zck\n"
	"  inspect FILE                show a .zck or detached header (--chunks, --json)\n"
	"  plan --source OLD HEADER    tell what an update would reuse and fetch\n"
	"  apply --url NEW.zck --source OLD --target OUT\n"
	"                              bring OLD to the new image, writing OUT\n"
	"  explain OLD NEW             which files of NEW an update from OLD fetches\n"
	"  sign --key KEY HEADER -o SIG\n"
	"                              sign a header (and version metadata)\n"
	"  verify --header HEADER IMAGE\n"
	"                              check that IMAGE is exactly the header's image\n"
	"\n"
	"Run 'zckup COMMAND --help' for a command's options; see zckup(1).\n"
	"'zckup --version [--json]' prints the version.\n"
	"\n"
	"Exit status: 0 success, 1 internal error, 2 usage error, 3 malformed or truncated\n"
	"input, 4 digest mismatch, 5 header authentication failed, 6 I/O or system error,\n"
	"7 server protocol error, 8 interrupted, 9 the --exec command (or the reader of\n"
	"-o -) failed.\n";

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct verb verbs[] = {
	{ "make", cmd_make },
	{ "extract-header", cmd_extract_header },
	{ "inspect", cmd_inspect },
	{ "plan", cmd_plan },
	{ "apply", cmd_apply },
	{ "sign", cmd_sign },
	{ "verify", cmd_verify },
	{ "explain", cmd_explain },
};

/*
 * A standard descriptor the caller closed (`zckup apply -o - >&-`) would be
 * the number the next open() returns: the image would then be "written to
 * stdout" into a source or the header. Such a slot gets /dev/null opened
 * read-only, so every write to it fails (EBADF, exit status 6) and nothing
 * else can land there.
 */
static void hold_closed_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDONLY) != fd)
			_exit(EXIT_IO);
	}
}

/*
 * getopt reports a bad option itself, as "ARGV0: message": ARGV0 becomes
 * "zckup VERB", and the hint every usage error carries follows it.
 */
static int run_verb(const struct verb *v, int argc, char **argv)
{
	char name[32];
	int r;

	snprintf(name, sizeof(name), "zckup %s", v->name);
	argv[0] = name;
	r = v->fn(argc, argv);
	if (r == EXIT_USAGE && !cli_usage_error_printed())
		fprintf(stderr, "Try 'zckup %s --help'.\n", v->name);
	return r;
}

int main(int argc, char **argv)
{
	hold_closed_std_fds();
	if (argc < 2)
		return cli_usage_error("missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		if (argc == 3 && !strcmp(argv[2], "--json")) { /* for tooling */
			printf("{\"name\":\"zckup\",\"version\":\"%s\",\"explain_readers\":\"%s\"}\n",
			       zckup_version(), zckup_explain_readers());
			return EXIT_OK;
		}
		if (argc > 2)
			return cli_usage_error("--version takes only --json");
		printf("zckup %s\n", zckup_version());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return run_verb(&verbs[i], argc - 1, argv + 1);
	return cli_usage_error("unknown command '%s'", argv[1]);
}
