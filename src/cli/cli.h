/* SPDX-License-Identifier: MIT */
/*
 * cli - shared pieces of the zckup command line: exit statuses, option
 * parsing helpers, error and progress printing, JSON output. Uses only the
 * public API (include/zckup.h).
 */
#ifndef ZCKUP_CLI_H
#define ZCKUP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "zckup.h"

/* Exit statuses (doc/errors.md, zckup(1)). */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_OTHER = 1, /* unexpected internal failure */
	EXIT_USAGE = 2,         /* bad command line or option */
	EXIT_BAD_INPUT = 3,     /* malformed or truncated input, limit exceeded */
	EXIT_VERIFY = 4,        /* chunk or image digest mismatch */
	EXIT_AUTH = 5,          /* header authentication failed */
	EXIT_IO = 6,            /* I/O or system error (missing file, no space, ...) */
	EXIT_PROTOCOL = 7,      /* the server broke the protocol */
	EXIT_CANCELLED = 8,     /* interrupted */
	EXIT_DEST_COMMAND = 9,  /* the --exec command (or the reader of -o -) failed */
};

enum cli_progress_mode { CLI_PROGRESS_NONE, CLI_PROGRESS_BAR, CLI_PROGRESS_JSON };

struct cli_common {
	bool json;
	bool quiet;
	enum cli_progress_mode progress;
	bool progress_set; /* --progress was given */
	FILE *report; /* where summaries and JSON go: stdout, or stderr when stdout is the image */
};

/* Maps a negative library code to an exit status. */
int cli_exit_for(int code);
/* Prints "zckup: <what>: <message>" to stderr and returns the exit status for code. */
int cli_fail(zckup_ctx *ctx, int code, const char *what);
/* Prints "zckup: message" for a usage error and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True once cli_usage_error has printed a message and its hint. */
bool cli_usage_error_printed(void);

/* Parses "123", "4K", "16M", "2G" (powers of 1024); false when malformed. */
bool cli_parse_size(const char *s, uint64_t *out);
bool cli_parse_int(const char *s, long min, long max, long *out);
/* --threads N of make, plan and apply: 0..1024, 0 = online CPUs; EXIT_OK or EXIT_USAGE. */
int cli_parse_threads(const char *s, int *out);
#define CLI_THREADS_USAGE                                                                          \
	"      --threads N          worker threads: indexing the sources, and apply's\n"        \
	"                           verify/decompress pass (default 0: as many as the CPUs\n"    \
	"                           it may run on, one fewer for apply's pass); the result\n"     \
	"                           is the same for every N\n"

void cli_hex(const uint8_t *d, size_t n, char *out);
/* Parses 64 hex digits into out[32]; -1 when malformed. */
int cli_unhex32(const char *s, uint8_t out[32]);
/* Writes s as a JSON string (with quotes). */
void cli_json_str(FILE *f, const char *s);
/* Human size: "12.3 MiB". */
const char *cli_human(uint64_t bytes, char *buf, size_t cap);

/* Long options every working command shares: --json, -q/--quiet, --progress MODE. */
#define CLI_OPT_JSON 0x180
#define CLI_OPT_PROGRESS 0x181
#define CLI_NOT_COMMON (-1)
#define CLI_COMMON_LONG_OPTIONS                                                                    \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, { "quiet", no_argument, NULL, 'q' },          \
	{ "progress", required_argument, NULL, CLI_OPT_PROGRESS }
/* EXIT_OK when c was a common option, CLI_NOT_COMMON when not, else an exit status. */
int cli_common_option(int c, const char *arg, struct cli_common *com);
/* Defaults: a bar when stderr is a terminal and not --quiet; report on stdout. */
void cli_common_defaults(struct cli_common *c);
/* Installs the progress printer and the warning logger on ctx. */
void cli_attach(zckup_ctx *ctx, const struct cli_common *c);
/* SIGINT, SIGTERM and SIGHUP cancel the work on ctx (exit status 8). */
void cli_cancel_on_signals(zckup_ctx *ctx);
/* Ends a progress bar line, if one is showing. */
void cli_progress_done(void);

#define CLI_MAX_SOURCES 16

struct cli_sources {
	struct zckup_source v[CLI_MAX_SOURCES];
	bool detect[CLI_MAX_SOURCES]; /* --source-size detect */
	const char *index[CLI_MAX_SOURCES];      /* --source-index HEADER, or NULL */
	bool has_pin[CLI_MAX_SOURCES];           /* --source-index-sha256 given */
	uint8_t pin[CLI_MAX_SOURCES][ZCKUP_DIGEST_LEN];
	zckup_header *index_h[CLI_MAX_SOURCES];  /* opened by cli_open_indexes(); owned */
	size_t n;
};

/* --source PATH; returns 0 or an exit status. */
int cli_add_source(struct cli_sources *s, const char *path);
/* --source-size N: sets the size of the --source given before it. */
int cli_set_source_size(struct cli_sources *s, const char *arg);
/* --source-index HEADER: the header of the image the --source before it holds. */
int cli_set_source_index(struct cli_sources *s, const char *arg);
/* --source-index-sha256 HEX: pins the checksum of that source's index header. */
int cli_set_source_index_pin(struct cli_sources *s, const char *arg);
/* Opens and checks the index headers (after the new header is authenticated). */
int cli_open_indexes(zckup_ctx *ctx, struct cli_sources *s);
/* Frees what cli_open_indexes() opened. */
void cli_sources_free(struct cli_sources *s);
/* The usage lines of --source-index and --source-index-sha256. */
extern const char cli_source_index_usage[];
#define CLI_OPT_SOURCE_INDEX 0x1e0
#define CLI_OPT_SOURCE_INDEX_PIN 0x1e1
#define CLI_SOURCE_INDEX_LONG_OPTIONS                                                              \
	{ "source-index", required_argument, NULL, CLI_OPT_SOURCE_INDEX },                         \
	{ "source-index-sha256", required_argument, NULL, CLI_OPT_SOURCE_INDEX_PIN }
/* Replaces "detect" sizes by the filesystem size; returns 0 or an exit status. */
int cli_resolve_sizes(zckup_ctx *ctx, struct cli_sources *s);
/* Turns "file://PATH" into PATH; other strings are returned unchanged. */
const char *cli_url_path(const char *url);

/* Network options of apply and plan (cli_net.c). */
#define CLI_NET_HEADERS_MAX 32
struct cli_net {
	struct zckup_net_opts o;
	const char *headers[CLI_NET_HEADERS_MAX];
	const char *url;
	bool set;           /* any network option was given */
};
enum {
	CLI_OPT_CONNECTIONS = 0x1a0, CLI_OPT_RETRIES, CLI_OPT_TIMEOUT, CLI_OPT_CACERT,
	CLI_OPT_CAPATH, CLI_OPT_CERT, CLI_OPT_KEY, CLI_OPT_INSECURE, CLI_OPT_HTTP_HEADER,
	CLI_OPT_USER,
};
#define CLI_NET_LONG_OPTIONS                                                                       \
	{ "url", required_argument, NULL, 'u' },                                                   \
	{ "max-ranges", required_argument, NULL, 'r' },                                            \
	{ "connections", required_argument, NULL, CLI_OPT_CONNECTIONS },                           \
	{ "retries", required_argument, NULL, CLI_OPT_RETRIES },                                   \
	{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT },                                   \
	{ "cacert", required_argument, NULL, CLI_OPT_CACERT },                                     \
	{ "capath", required_argument, NULL, CLI_OPT_CAPATH },                                     \
	{ "cert", required_argument, NULL, CLI_OPT_CERT },                                         \
	{ "key", required_argument, NULL, CLI_OPT_KEY },                                           \
	{ "insecure", no_argument, NULL, CLI_OPT_INSECURE },                                       \
	{ "http-header", required_argument, NULL, CLI_OPT_HTTP_HEADER },                           \
	{ "user", required_argument, NULL, CLI_OPT_USER }
/* The usage lines for those options. */
extern const char cli_net_usage[];
/* EXIT_OK when c was a network option, CLI_NOT_COMMON when not, else an exit status. */
int cli_net_option(int c, const char *arg, struct cli_net *n);
/* Passes the options to ctx; returns EXIT_OK or an exit status. */
int cli_net_apply(zckup_ctx *ctx, struct cli_net *n);
/* Reads the header from --header FILE, or from the url when there is none. */
int cli_open_header(zckup_ctx *ctx, const char *header, const char *url, const uint8_t *pin,
		    zckup_header **out);
/* "multi-range" etc. */
const char *cli_fetch_mode(enum zckup_fetch_mode m);

/* Signature options of apply and plan (cli_trust.c). */
struct cli_trust {
	struct zckup_trust_opts o;
	bool set;           /* any trust option was given */
};
enum {
	CLI_OPT_PUBKEY = 0x1c0, CLI_OPT_CA_FILE, CLI_OPT_CERT_PURPOSE, CLI_OPT_SIGNATURE,
	CLI_OPT_SIGNATURE_URL, CLI_OPT_METADATA, CLI_OPT_METADATA_URL, CLI_OPT_MIN_VERSION,
	CLI_OPT_HW_COMPAT,
};
#define CLI_TRUST_LONG_OPTIONS                                                                     \
	{ "pubkey", required_argument, NULL, CLI_OPT_PUBKEY },                                     \
	{ "ca-file", required_argument, NULL, CLI_OPT_CA_FILE },                                   \
	{ "cert-purpose", required_argument, NULL, CLI_OPT_CERT_PURPOSE },                         \
	{ "signature", required_argument, NULL, CLI_OPT_SIGNATURE },                               \
	{ "signature-url", required_argument, NULL, CLI_OPT_SIGNATURE_URL },                       \
	{ "metadata", required_argument, NULL, CLI_OPT_METADATA },                                 \
	{ "metadata-url", required_argument, NULL, CLI_OPT_METADATA_URL },                         \
	{ "min-version", required_argument, NULL, CLI_OPT_MIN_VERSION },                           \
	{ "hw-compat", required_argument, NULL, CLI_OPT_HW_COMPAT }
/* The usage lines for those options. */
extern const char cli_trust_usage[];
/* EXIT_OK when c was a trust option, CLI_NOT_COMMON when not, else an exit status. */
int cli_trust_option(int c, const char *arg, struct cli_trust *t);
/* Usage checks once all options are read; returns EXIT_OK or an exit status. */
int cli_trust_check(const struct cli_trust *t);
/*
 * With a key or CA configured, authenticates h (zckup_header_verify) and
 * reports it on stderr unless quiet; returns 0 or a negative library code.
 */
int cli_trust_verify(zckup_ctx *ctx, const struct cli_trust *t, const zckup_header *h,
		     bool quiet);

int cmd_make(int argc, char **argv);
int cmd_extract_header(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_explain(int argc, char **argv);

#endif
