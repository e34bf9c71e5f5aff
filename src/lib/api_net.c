/* SPDX-License-Identifier: MIT */
/*
 * api_net - the public network settings, reading a header from a URL, and
 * the fetcher a context keeps between the header read and apply (one
 * downloader process, its connections kept alive). No transport logic here.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_private.h"
#include "hash.h"

/* First read of a remote header: most headers of small images fit; larger ones take one more. */
#define HEAD_FIRST_READ (16u << 10)
#define NET_HEADERS_MAX 32u
#define NET_CONNECTIONS_MAX 16u

_Static_assert((int)ZCKUP_FETCH_WHOLE_FILE == (int)ZU_FETCH_MODE_WHOLE &&
		       (int)ZCKUP_FETCH_SINGLE_RANGE == (int)ZU_FETCH_MODE_SINGLE &&
		       (int)ZCKUP_FETCH_MULTI_RANGE == (int)ZU_FETCH_MODE_MULTI &&
		       (int)ZCKUP_FETCH_FILE == (int)ZU_FETCH_MODE_FILE,
	       "public and internal fetch modes agree");

void zu_api_net_defaults(struct zu_net_cfg *net, const zu_cancel_t *cancel)
{
	memset(net, 0, sizeof(*net));
	net->connections = ZU_NET_DEFAULT_CONNECTIONS;
	net->attempts = ZU_NET_DEFAULT_ATTEMPTS;
	net->timeout_s = ZU_NET_DEFAULT_TIMEOUT_S;
	net->max_ranges = ZU_LIMITS_MAX_RANGES;
	net->cancel = cancel;
}

static bool header_line_ok(const char *h)
{
	const char *colon = strchr(h, ':');

	if (!colon || colon == h)
		return false;
	for (const char *p = h; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return false; /* no CR/LF: one header, not a smuggled request */
	for (const char *p = h; p < colon; p++)
		if (*p == ' ' || *p == '\t')
			return false;
	return true;
}

ZCKUP_API int zckup_set_net(zckup_ctx *ctx, const struct zckup_net_opts *o)
{
	struct zu_net_cfg net;

	zu_err_clear(&ctx->err);
	zu_api_net_defaults(&net, &ctx->cancel);
	if (o->connections > NET_CONNECTIONS_MAX)
		return zu_err_set(&ctx->err, -EINVAL, "%u connections: at most %u", o->connections,
				  NET_CONNECTIONS_MAX);
	if (o->max_ranges > ZU_LIMITS_MAX_RANGES)
		return zu_err_set(&ctx->err, -EINVAL, "%zu ranges per request: at most %u",
				  o->max_ranges, ZU_LIMITS_MAX_RANGES);
	if (o->n_headers > NET_HEADERS_MAX || (o->n_headers && !o->headers))
		return zu_err_set(&ctx->err, -EINVAL, "%zu extra headers: at most %u",
				  o->n_headers, NET_HEADERS_MAX);
	for (size_t i = 0; i < o->n_headers; i++)
		if (!header_line_ok(o->headers[i]))
			return zu_err_set(&ctx->err, -EINVAL,
					  "header '%s' is not 'Name: value' on one line",
					  o->headers[i]);
	if ((o->cert == NULL) != (o->key == NULL) && !o->cert)
		return zu_err_set(&ctx->err, -EINVAL, "a client key needs its certificate");
	if (o->connections)
		net.connections = o->connections;
	if (o->attempts)
		net.attempts = o->attempts;
	if (o->timeout_s)
		net.timeout_s = o->timeout_s;
	if (o->max_ranges)
		net.max_ranges = o->max_ranges;
	net.cacert = o->cacert;
	net.capath = o->capath;
	net.cert = o->cert;
	net.key = o->key;
	net.insecure = o->insecure != 0;
	net.headers = o->headers;
	net.n_headers = o->n_headers;
	net.user = o->user;
	ctx->net = net;
	zu_api_fetcher_close(ctx); /* the next fetch uses the new settings */
	return 0;
}

void zu_api_fetcher_close(zckup_ctx *ctx)
{
	zu_fetch_free(ctx->fetch);
	ctx->fetch = NULL;
	free(ctx->fetch_url);
	ctx->fetch_url = NULL;
	ctx->fetch_header_known = false;
}

int zu_api_fetcher(zckup_ctx *ctx, const char *url, struct zu_fetch **out)
{
	int r;

	if (ctx->fetch && ctx->fetch_url && !strcmp(ctx->fetch_url, url)) {
		*out = ctx->fetch;
		return 0;
	}
	zu_api_fetcher_close(ctx);
	ctx->fetch_url = strdup(url);
	if (!ctx->fetch_url)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	r = zu_fetch_open(url, &ctx->lim, &ctx->net, &ctx->fetch, &ctx->err);
	if (r < 0) {
		zu_api_fetcher_close(ctx);
		return r;
	}
	*out = ctx->fetch;
	return 0;
}

/* The lead at the start of the .zck must record h's size and checksum. */
static int check_lead(zckup_ctx *ctx, const char *url, const struct zu_header *h,
		      const uint8_t *lead, size_t n)
{
	uint8_t digest[ZU_DIGEST_LEN];
	char want[2 * ZU_DIGEST_LEN + 1], got_hex[2 * ZU_DIGEST_LEN + 1];
	size_t total = 0;
	int r;

	r = zu_header_lead(lead, n, &ctx->lim, &total, digest, &ctx->err);
	if (r == -EAGAIN)
		r = zu_err_set(&ctx->err, -EBADMSG, "truncated: %zu bytes, no whole zchunk lead", n);
	if (r < 0)
		return zu_err_prefix(&ctx->err, "%s", url);
	if (total != h->raw_len || memcmp(digest, h->header_digest, ZU_DIGEST_LEN)) {
		zu_hex(h->header_digest, ZU_DIGEST_LEN, want);
		zu_hex(digest, ZU_DIGEST_LEN, got_hex);
		return zu_err_set(&ctx->err, -EILSEQ,
				  "the header does not belong to %s: the header has checksum %s "
				  "(%zu bytes), the .zck's lead records %s (%zu bytes)",
				  url, want, h->raw_len, got_hex, total);
	}
	ctx->fetch_header_known = true;
	memcpy(ctx->fetch_header_digest, h->header_digest, ZU_DIGEST_LEN);
	return 0;
}

int zu_api_start_fetch(zckup_ctx *ctx, const char *url, const struct zu_header *h,
		       const struct zu_range *ranges, size_t n, struct zu_fetch **out_fetch,
		       struct zu_range **out_owned)
{
	uint8_t lead[ZU_LEAD_MAX];
	size_t lead_len = h->raw_len < ZU_LEAD_MAX ? h->raw_len : ZU_LEAD_MAX, got = 0;
	struct zu_range *all;
	struct zu_fetch_rec rec = { 0 };
	struct zu_fetch *f;
	int r;

	*out_owned = NULL;
	r = zu_api_fetcher(ctx, url, &f);
	if (r < 0)
		return r;
	*out_fetch = f;
	if (ctx->fetch_header_known &&
	    !memcmp(ctx->fetch_header_digest, h->header_digest, ZU_DIGEST_LEN))
		return zu_fetch_request(f, ranges, n, &ctx->err); /* read from this very resource */
	/* the lead rides in front of the chunks: no round trip of its own */
	if (n && ranges[0].off < lead_len)
		return zu_err_set(&ctx->err, -EINVAL, "a range inside the header");
	all = malloc((n + 1) * sizeof(*all));
	if (!all)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory for %zu ranges", n + 1);
	all[0] = (struct zu_range){ 0, lead_len };
	memcpy(all + 1, ranges, n * sizeof(*all));
	*out_owned = all;
	r = zu_fetch_request(f, all, n + 1, &ctx->err);
	while (r == 0 && got < lead_len) {
		r = zu_fetch_next(f, &rec, &ctx->err);
		if (r == 0)
			r = zu_err_set(&ctx->err, -EPROTO, "the lead was not sent");
		if (r == 1) {
			/* the front end keeps records inside the range asked: [0, lead_len) first */
			memcpy(lead + got, rec.data, rec.len);
			got += rec.len;
			r = 0;
		}
	}
	if (r == 0)
		r = check_lead(ctx, url, h, lead, lead_len);
	return r;
}

/* Reads the whole header at the start of the resource into a new buffer. */
static int read_remote_header(zckup_ctx *ctx, struct zu_fetch *f, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = malloc(HEAD_FIRST_READ);
	size_t total = 0;
	ssize_t got;
	int r;

	if (!buf)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	got = zu_fetch_read_head(f, buf, HEAD_FIRST_READ, &ctx->err);
	r = got < 0 ? (int)got : zu_header_size(buf, (size_t)got, &ctx->lim, &total, &ctx->err);
	if (r == -EAGAIN)
		r = zu_err_set(&ctx->err, -EBADMSG, "truncated: %zd bytes, no whole zchunk lead",
			       got);
	if (r == 0 && total > (size_t)got) {
		uint8_t *bigger = realloc(buf, total);

		if (!bigger) {
			r = zu_err_set(&ctx->err, -ENOMEM, "out of memory for a %zu-byte header",
				       total);
		} else {
			buf = bigger;
			r = zu_fetch_read_at(f, buf + got, (uint64_t)got, total - (size_t)got,
					     &ctx->err);
		}
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = total;
	return 0;
}

ZCKUP_API int zckup_header_fetch(zckup_ctx *ctx, const char *url, const uint8_t *expect_sha256,
				 zckup_header **out)
{
	struct zu_fetch *f;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	zu_err_clear(&ctx->err);
	if (!url || !out)
		return zu_err_set(&ctx->err, -EINVAL, "header fetch needs a url");
	r = zu_api_fetcher(ctx, url, &f);
	if (r == 0)
		r = read_remote_header(ctx, f, &buf, &len);
	if (r == 0)
		r = zu_api_header_from_bytes(ctx, &buf, len, expect_sha256, out);
	free(buf);
	if (r < 0) {
		zu_err_prefix(&ctx->err, "%s", url);
		zu_api_fetcher_close(ctx);
		return zu_api_fail(ctx, r);
	}
	ctx->fetch_header_known = true;
	memcpy(ctx->fetch_header_digest, (*out)->h.header_digest, ZU_DIGEST_LEN);
	return 0;
}
