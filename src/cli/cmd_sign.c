/* SPDX-License-Identifier: MIT */
/* zckup sign: a detached signature (and signed metadata) for a header. */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char sign_usage[] =
	"Usage: zckup sign --key KEY [OPTION...] HEADER -o SIG\n"
	"Sign the header of a .zck (HEADER: the .zck or its detached header; both give\n"
	"the same signature): a raw signature with KEY, or a CMS (PKCS#7) signature with\n"
	"--cert. With --version, also write signed metadata (-m) that ties the header to\n"
	"a version, an optional expiry and an optional hardware string; the signature\n"
	"then covers the metadata and the header.\n"
	"\n"
	"  -k, --key FILE         private key (PEM, unencrypted): Ed25519, ECDSA P-256\n"
	"                         or RSA of 2048 bits or more\n"
	"  -o, --output FILE      the signature to write\n"
	"      --rsa-pss          RSA: PSS (SHA-256, salt length 32) instead of PKCS#1 v1.5\n"
	"      --cert FILE        KEY's certificate (PEM): write a CMS signature (DER)\n"
	"      --chain FILE       intermediate certificates (PEM) to put in the CMS\n"
	"  -m, --metadata FILE    the signed metadata to write (with --version)\n"
	"      --version V        the image's version: numbers and dots (1.2.10)\n"
	"      --expires TIME     the signature expires at TIME: YYYY-MM-DDTHH:MM:SSZ (UTC)\n"
	"                         or +N followed by d, h, m or s (from now)\n"
	"      --hw-compat STRING the hardware the image is for (printable, no spaces)\n"
	"  -q, --quiet            no summary\n"
	"  -h, --help             this help\n";

enum { OPT_RSA_PSS = 256, OPT_CERT, OPT_CHAIN, OPT_VERSION, OPT_EXPIRES, OPT_HW };

/* "+30d" from now, or "2030-01-01T00:00:00Z". */
static bool parse_expires(const char *s, int64_t *out)
{
	static const struct { char suffix; long mult; } units[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	int y, mo, d, h, mi, se, n = 0;
	struct tm tm = { 0 };
	char *end = NULL;
	long long v;
	time_t t;

	if (s[0] == '+') {
		v = strtoll(s + 1, &end, 10);
		if (end == s + 1 || v <= 0 || v > 100000 || strlen(end) != 1)
			return false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].suffix) {
				*out = (int64_t)time(NULL) + v * units[i].mult;
				return true;
			}
		return false;
	}
	if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se,
				      &n) != 6 || n != 20)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1 || y < 1970)
		return false; /* timegm normalises Feb 30: refuse what does not exist */
	*out = (int64_t)t;
	return true;
}

int cmd_sign(int argc, char **argv)
{
	static const char *const kinds[] = { "none", "Ed25519", "ECDSA P-256", "RSA PKCS#1 v1.5",
					      "RSA-PSS", "CMS" };
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "rsa-pss", no_argument, NULL, OPT_RSA_PSS },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "chain", required_argument, NULL, OPT_CHAIN },
		{ "metadata", required_argument, NULL, 'm' },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "hw-compat", required_argument, NULL, OPT_HW },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct zckup_sign_opts so = { 0 };
	struct zckup_trust_info in = { 0 };
	zckup_header *h = NULL;
	bool quiet = false;
	zckup_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "k:o:m:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			so.key = optarg;
			break;
		case 'o':
			so.signature_out = optarg;
			break;
		case OPT_RSA_PSS:
			so.rsa_pss = 1;
			break;
		case OPT_CERT:
			so.cert = optarg;
			break;
		case OPT_CHAIN:
			so.chain = optarg;
			break;
		case 'm':
			so.metadata_out = optarg;
			break;
		case OPT_VERSION:
			so.version = optarg;
			break;
		case OPT_EXPIRES:
			if (!parse_expires(optarg, &so.expires))
				return cli_usage_error("--expires wants YYYY-MM-DDTHH:MM:SSZ or +N "
						       "with d, h, m or s, not '%s'", optarg);
			break;
		case OPT_HW:
			so.hw_compat = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(sign_usage, stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("sign wants one HEADER (.zck or .zckh)");
	if (!so.key || !so.signature_out)
		return cli_usage_error("sign needs --key and -o");
	if (so.version && !so.metadata_out)
		return cli_usage_error("--version needs -m FILE: the metadata to write");
	if (!so.version && (so.metadata_out || so.expires || so.hw_compat))
		return cli_usage_error("-m, --expires and --hw-compat need --version");
	ctx = zckup_ctx_new();
	if (!ctx)
		return EXIT_IO;
	r = zckup_header_open(ctx, argv[optind], NULL, &h);
	if (r == 0)
		r = zckup_header_sign(ctx, h, &so, &in);
	if (r < 0) {
		r = cli_fail(ctx, r, "sign");
		goto out;
	}
	if (!quiet)
		printf("signed:    %s with %s -> %s\n", argv[optind],
		       (unsigned)in.kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[in.kind] : "?",
		       so.signature_out);
	if (!quiet && in.has_metadata) {
		char when[32] = "";
		time_t t = (time_t)in.expires;
		struct tm tm;

		if (in.has_expires && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), ", expires %Y-%m-%dT%H:%M:%SZ", &tm);
		printf("metadata:  %s (version %s%s%s%s)\n", so.metadata_out, in.version, when,
		       in.hw_compat[0] ? ", hardware " : "", in.hw_compat);
	}
	r = EXIT_OK;
out:
	zckup_header_free(h);
	zckup_ctx_free(ctx);
	return r;
}
