/* SPDX-License-Identifier: MIT */
/* The network options shared by apply and plan, and reading a header from a URL. */
#define _GNU_SOURCE 1
#include <string.h>

#include "cli.h"

const char cli_net_usage[] =
	"Network (http://, https://):\n"
	"      --connections N      transfers in flight: HTTP/1.1 connections or HTTP/2\n"
	"                           streams (1..16, default 4)\n"
	"  -r, --max-ranges N       byte ranges per request (1..150, default 150); fewer\n"
	"                           when the server refuses that many\n"
	"      --retries N          retries of a transfer that brings no byte (0..100,\n"
	"                           default 5); a transfer that brought bytes is asked\n"
	"                           again at once for the rest\n"
	"      --timeout S          seconds without a byte before a transfer is retried\n"
	"                           (1..3600, default 30)\n"
	"      --cacert FILE        trusted CAs (PEM) instead of the system's\n"
	"      --capath DIR         directory of trusted CAs\n"
	"      --cert FILE          client certificate (PEM), for mutual TLS\n"
	"      --key FILE           its private key (PEM)\n"
	"      --insecure           do not verify the server's certificate\n"
	"      --http-header 'NAME: VALUE'  extra request header (up to 32)\n"
	"      --user NAME          user the downloader runs as (default: nobody as root)\n";

int cli_net_option(int c, const char *arg, struct cli_net *n)
{
	long v;

	switch (c) {
	case 'u':
		n->url = arg;
		return EXIT_OK;
	case 'r':
		if (!cli_parse_int(arg, 1, 150, &v))
			return cli_usage_error("--max-ranges wants 1..150, not '%s'", arg);
		n->o.max_ranges = (size_t)v;
		break;
	case CLI_OPT_CONNECTIONS:
		if (!cli_parse_int(arg, 1, 16, &v))
			return cli_usage_error("--connections wants 1..16, not '%s'", arg);
		n->o.connections = (unsigned)v;
		break;
	case CLI_OPT_RETRIES:
		if (!cli_parse_int(arg, 0, 100, &v))
			return cli_usage_error("--retries wants 0..100, not '%s'", arg);
		n->o.attempts = (unsigned)v + 1;
		break;
	case CLI_OPT_TIMEOUT:
		if (!cli_parse_int(arg, 1, 3600, &v))
			return cli_usage_error("--timeout wants 1..3600 seconds, not '%s'", arg);
		n->o.timeout_s = (unsigned)v;
		break;
	case CLI_OPT_CACERT:
		n->o.cacert = arg;
		break;
	case CLI_OPT_CAPATH:
		n->o.capath = arg;
		break;
	case CLI_OPT_CERT:
		n->o.cert = arg;
		break;
	case CLI_OPT_KEY:
		n->o.key = arg;
		break;
	case CLI_OPT_INSECURE:
		n->o.insecure = 1;
		break;
	case CLI_OPT_HTTP_HEADER:
		if (n->o.n_headers == CLI_NET_HEADERS_MAX)
			return cli_usage_error("--http-header: at most %d", CLI_NET_HEADERS_MAX);
		n->headers[n->o.n_headers++] = arg;
		break;
	case CLI_OPT_USER:
		n->o.user = arg;
		break;
	default:
		return CLI_NOT_COMMON;
	}
	n->set = true;
	return EXIT_OK;
}

int cli_net_apply(zckup_ctx *ctx, struct cli_net *n)
{
	int r;

	if (n->o.key && !n->o.cert)
		return cli_usage_error("--key goes with --cert");
	n->o.headers = n->headers;
	r = zckup_set_net(ctx, &n->o);
	if (r < 0) {
		cli_fail(ctx, r, "network options");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int cli_open_header(zckup_ctx *ctx, const char *header, const char *url, const uint8_t *pin,
		    zckup_header **out)
{
	if (header)
		return zckup_header_open(ctx, header, pin, out);
	return zckup_header_fetch(ctx, url, pin, out);
}

const char *cli_fetch_mode(enum zckup_fetch_mode m)
{
	switch (m) {
	case ZCKUP_FETCH_FILE:
		return "file";
	case ZCKUP_FETCH_MULTI_RANGE:
		return "multi-range";
	case ZCKUP_FETCH_SINGLE_RANGE:
		return "single-range";
	case ZCKUP_FETCH_WHOLE_FILE:
		return "whole-file";
	case ZCKUP_FETCH_NONE:
	default:
		return "none";
	}
}
