/* SPDX-License-Identifier: MIT */
/* zckup - command line front end: dispatches to one cmd_<verb>.c per verb. */
#define _GNU_SOURCE 1
#include <stdio.h>
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
	"\n"
	"Run 'zckup COMMAND --help' for a command's options; see zckup(1).\n"
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
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("zckup %s\n", zckup_version());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	return cli_usage_error("unknown command '%s'", argv[1]);
}
