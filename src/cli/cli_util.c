/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_exit_for(int code)
{
	switch (code) {
	case 0:
		return EXIT_OK;
	case -EINVAL:
		return EXIT_USAGE;
	case -EBADMSG:
	case -EOVERFLOW:
		return EXIT_BAD_INPUT;
	case -EILSEQ:
		return EXIT_VERIFY;
	case -EKEYREJECTED:
		return EXIT_AUTH;
	case -EPROTO:
	case -ESTALE:
	case -ETIMEDOUT:
		return EXIT_PROTOCOL;
	case -ECANCELED:
		return EXIT_CANCELLED;
	case -ENOTRECOVERABLE: /* an internal invariant failed: a bug, not the user's fault */
		return EXIT_FAILURE_OTHER;
	case -ECHILD:
	case -EPIPE:
		return EXIT_DEST_COMMAND;
	case -EIO:
	case -ENOSPC:
	case -ENOENT:
	case -EACCES:
	case -EPERM:
	case -EISDIR:
	case -ENOTDIR:
	case -EROFS:
	case -EEXIST:
	case -ENAMETOOLONG:
	case -EBUSY:
	case -EDQUOT:
	case -ENOMEM:
	case -EFBIG:
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -EBADF: /* e.g. -o - with stdout closed */
		return EXIT_IO;
	default:
		return EXIT_FAILURE_OTHER;
	}
}

int cli_fail(zckup_ctx *ctx, int code, const char *what)
{
	cli_progress_done();
	fprintf(stderr, "zckup: %s: %s\n", what, zckup_errmsg(ctx));
	return cli_exit_for(code);
}

/* Whether a usage error, with its hint, was printed (main adds the hint otherwise). */
static bool usage_error_printed;

bool cli_usage_error_printed(void)
{
	return usage_error_printed;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	usage_error_printed = true;
	fputs("zckup: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'zckup --help'.\n", stderr);
	return EXIT_USAGE;
}

bool cli_parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	case 'T': case 't':
		shift = 40;
		break;
	default:
		return false;
	}
	if (*end && end[1] != '\0' && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

bool cli_parse_int(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int cli_parse_threads(const char *s, int *out)
{
	long v;

	if (!cli_parse_int(s, 0, 1024, &v))
		return cli_usage_error("--threads wants 0..1024 (0 = online CPUs), not '%s'", s);
	*out = (int)v;
	return EXIT_OK;
}

void cli_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cli_unhex32(const char *s, uint8_t out[32])
{
	if (strlen(s) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

const char *cli_human(uint64_t bytes, char *buf, size_t cap)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
	return buf;
}

int cli_add_source(struct cli_sources *s, const char *path)
{
	if (s->n == CLI_MAX_SOURCES)
		return cli_usage_error("at most %d --source options", CLI_MAX_SOURCES);
	s->v[s->n].path = path;
	s->v[s->n].size = 0;
	s->v[s->n].index = NULL;
	s->detect[s->n] = false;
	s->index[s->n] = NULL;
	s->has_pin[s->n] = false;
	s->index_h[s->n] = NULL;
	s->n++;
	return EXIT_OK;
}

int cli_set_source_size(struct cli_sources *s, const char *arg)
{
	uint64_t v;

	if (s->n == 0)
		return cli_usage_error("--source-size applies to the --source before it");
	if (!strcmp(arg, "detect")) {
		s->detect[s->n - 1] = true;
		return EXIT_OK;
	}
	if (!cli_parse_size(arg, &v) || v == 0)
		return cli_usage_error("--source-size wants a size like 1048576, 512M or 2G, not '%s'",
				       arg);
	s->v[s->n - 1].size = v;
	s->detect[s->n - 1] = false;
	return EXIT_OK;
}

const char cli_source_index_usage[] =
	"      --source-index HDR   the header (.zckh or .zck) of the image the --source\n"
	"                           before it holds (e.g. saved by apply --save-index):\n"
	"                           its chunks are located from it, the source is not\n"
	"                           read to index it; apply verifies each reused chunk\n"
	"                           and fetches those the source no longer holds\n"
	"      --source-index-sha256 HEX  refuse that index header unless its checksum\n"
	"                           is HEX\n";

int cli_set_source_index(struct cli_sources *s, const char *arg)
{
	if (s->n == 0)
		return cli_usage_error("--source-index applies to the --source before it");
	if (s->index[s->n - 1])
		return cli_usage_error("--source %s has two --source-index", s->v[s->n - 1].path);
	s->index[s->n - 1] = arg;
	return EXIT_OK;
}

int cli_set_source_index_pin(struct cli_sources *s, const char *arg)
{
	if (s->n == 0 || !s->index[s->n - 1])
		return cli_usage_error("--source-index-sha256 applies to the --source-index "
				       "before it");
	if (cli_unhex32(arg, s->pin[s->n - 1]) < 0)
		return cli_usage_error("--source-index-sha256 wants 64 hex digits");
	s->has_pin[s->n - 1] = true;
	return EXIT_OK;
}

int cli_open_indexes(zckup_ctx *ctx, struct cli_sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		int r;

		if (!s->index[i])
			continue;
		r = zckup_header_open(ctx, s->index[i], s->has_pin[i] ? s->pin[i] : NULL,
				      &s->index_h[i]);
		if (r < 0)
			return cli_fail(ctx, r, "--source-index");
		s->v[i].index = s->index_h[i];
	}
	return EXIT_OK;
}

void cli_sources_free(struct cli_sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		zckup_header_free(s->index_h[i]);
		s->index_h[i] = NULL;
		s->v[i].index = NULL;
	}
}

int cli_resolve_sizes(zckup_ctx *ctx, struct cli_sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		int r;

		if (!s->detect[i])
			continue;
		r = zckup_detect_fs_size(ctx, s->v[i].path, &s->v[i].size);
		if (r < 0)
			return cli_fail(ctx, r, "--source-size detect");
	}
	return EXIT_OK;
}

const char *cli_url_path(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return url + 7;
	return url;
}
