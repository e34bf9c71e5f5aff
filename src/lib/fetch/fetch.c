/* SPDX-License-Identifier: MIT */
/*
 * fetch front end - picks a backend from the url and checks every record a
 * backend hands back against the ranges asked for: in order, each one
 * continuing exactly where the previous ended, never beyond the current range,
 * and a batch ends only when every byte asked for arrived (-EPROTO otherwise).
 * Backends are never trusted; nothing here reads or writes data itself.
 */
#include "config.h"

#include "fetch/fetch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool zu_fetch_is_remote(const char *url)
{
	return url && (has_prefix(url, "http://") || has_prefix(url, "https://"));
}

int zu_fetch_open(const char *url, const struct zu_limits *lim, const struct zu_net_cfg *net,
		  struct zu_fetch **out, struct zu_err *err)
{
	struct zu_fetch *f = NULL;
	const char *path = url;
	int r;

	*out = NULL;
	if (!url || !*url)
		return zu_err_set(err, -EINVAL, "empty url");
	if (has_prefix(url, "file://"))
		path = url + strlen("file://");
	if (!*path)
		return zu_err_set(err, -EINVAL, "%s: no path in url", url);
	if (zu_fetch_is_remote(url) && !net)
		return zu_err_set(err, -EINVAL, "%s: no network settings", url);

	f = calloc(1, sizeof(*f));
	if (!f)
		return zu_err_set(err, -ENOMEM, "cannot allocate a fetcher");
	if (zu_fetch_is_remote(url))
		r = zu_fetch_proc_open(url, net, f, err);
	else
		r = zu_fetch_file_open(path, lim, f, err);
	if (r < 0)
		goto out;
	*out = f;
	f = NULL;
out:
	free(f);
	return r;
}

void zu_fetch_free(struct zu_fetch *f)
{
	if (!f)
		return;
	if (f->ops && f->ops->free)
		f->ops->free(f->priv);
	free(f);
}

/* Ranges come from our own planner, but a bad list would defeat every later check. */
static int check_ranges(const struct zu_range *r, size_t n, struct zu_err *err)
{
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].len == 0)
			return zu_err_set(err, -ENOTRECOVERABLE, "range %zu is empty", i);
		if (i > 0 && r[i].off < end)
			return zu_err_set(err, -ENOTRECOVERABLE,
					  "range %zu at %" PRIu64 " overlaps or precedes the one "
					  "ending at %" PRIu64, i, r[i].off, end);
		if (zu_add_overflow(r[i].off, r[i].len, &end))
			return zu_err_set(err, -EOVERFLOW, "range %zu overflows", i);
	}
	return 0;
}

int zu_fetch_request(struct zu_fetch *f, const struct zu_range *r, size_t n, struct zu_err *err)
{
	int ret;

	if (f->ranges)
		return zu_err_set(err, -ENOTRECOVERABLE, "a batch is still being received");
	if (n == 0)
		return zu_err_set(err, -ENOTRECOVERABLE, "request without ranges");
	ret = check_ranges(r, n, err);
	if (ret < 0)
		return ret;
	ret = f->ops->request(f->priv, r, n, err);
	if (ret < 0)
		return zu_err_prefix(err, "%s", f->ops->name);
	f->ranges = r;
	f->n_ranges = n;
	f->cur = 0;
	f->cur_done = 0;
	f->n_requests++;
	f->n_ranges_total += n;
	return 0;
}

/* A record is accepted only when it starts at the next byte expected and stays in its range. */
static int check_record(struct zu_fetch *f, const struct zu_fetch_rec *rec, struct zu_err *err)
{
	const struct zu_range *cur;
	uint64_t want, left;

	if (f->cur >= f->n_ranges)
		return zu_err_set(err, -EPROTO,
				  "record of %zu bytes at offset %" PRIu64
				  " after all ranges were received",
				  rec->len, rec->off);
	cur = &f->ranges[f->cur];
	want = cur->off + f->cur_done;
	left = cur->len - f->cur_done;
	if (rec->off != want)
		return zu_err_set(err, -EPROTO,
				  "record at offset %" PRIu64 " where offset %" PRIu64
				  " was expected (range %" PRIu64 "+%" PRIu64 ")",
				  rec->off, want, cur->off, cur->len);
	if (rec->len == 0 || rec->len > left)
		return zu_err_set(err, -EPROTO,
				  "record of %zu bytes at offset %" PRIu64 " where %" PRIu64
				  " bytes remain in range %" PRIu64 "+%" PRIu64,
				  rec->len, rec->off, left, cur->off, cur->len);
	return 0;
}

int zu_fetch_next(struct zu_fetch *f, struct zu_fetch_rec *out, struct zu_err *err)
{
	struct zu_fetch_rec rec = { 0 };
	int r;

	if (!f->ranges)
		return 0;
	r = f->ops->next(f->priv, &rec, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", f->ops->name);
	if (r == 0) {
		if (f->cur < f->n_ranges)
			return zu_err_set(err, -EPROTO,
					  "%s: batch ended with %" PRIu64 " of %" PRIu64
					  " bytes of range %" PRIu64 "+%" PRIu64 " (%zu of %zu) received",
					  f->ops->name, f->cur_done, f->ranges[f->cur].len,
					  f->ranges[f->cur].off, f->ranges[f->cur].len, f->cur + 1,
					  f->n_ranges);
		f->ranges = NULL;
		f->n_ranges = 0;
		return 0;
	}
	r = check_record(f, &rec, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", f->ops->name);
	f->cur_done += rec.len;
	if (f->cur_done == f->ranges[f->cur].len) {
		f->cur++;
		f->cur_done = 0;
	}
	f->bytes += rec.len;
	*out = rec;
	return 1;
}

ssize_t zu_fetch_read_head(struct zu_fetch *f, void *buf, size_t n, struct zu_err *err)
{
	ssize_t got;

	if (f->ranges)
		return zu_err_set(err, -ENOTRECOVERABLE, "a batch is still being received");
	got = f->ops->read_head(f->priv, buf, n, err);
	if (got < 0)
		return zu_err_prefix(err, "%s", f->ops->name);
	if ((size_t)got > n)
		return zu_err_set(err, -EPROTO, "%s: %zd bytes for a read of %zu", f->ops->name,
				  got, n);
	f->bytes += (uint64_t)got;
	return got;
}

int zu_fetch_read_at(struct zu_fetch *f, void *buf, uint64_t off, size_t n, struct zu_err *err)
{
	struct zu_range r = { off, n };
	struct zu_fetch_rec rec = { 0 };
	size_t got = 0;
	int ret;

	if (n == 0)
		return 0;
	ret = zu_fetch_request(f, &r, 1, err);
	while (ret >= 0 && (ret = zu_fetch_next(f, &rec, err)) == 1) {
		/* the front end guarantees rec continues at off + got within the range */
		memcpy((uint8_t *)buf + got, rec.data, rec.len);
		got += rec.len;
	}
	return ret;
}

void zu_fetch_get_stats(const struct zu_fetch *f, struct zu_fetch_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (f->ops->stats) {
		f->ops->stats(f->priv, out);
		return;
	}
	out->mode = ZU_FETCH_MODE_FILE;
	out->requests = f->n_requests;
	out->ranges = f->n_ranges_total;
	out->payload_bytes = f->bytes;
	out->wire_bytes = f->bytes;
}
