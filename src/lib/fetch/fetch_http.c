/* SPDX-License-Identifier: MIT */
/*
 * fetch_http - the downloader's HTTP(S) engine on libcurl's multi interface.
 *
 * A job's ranges are cut into slots: buffers of at most SLOT_BYTES holding a
 * run of consecutive pieces (sub-ranges). At most WINDOW_BYTES of slots
 * exist at once; transfers (Range requests of at most max_ranges pieces) fill
 * them concurrently, and the head slot is written out in order as its bytes
 * arrive, so the other side gets the resource in order whatever order the
 * answers come in, and memory stays bounded whatever the image size.
 *
 * Every answer is handled by what it is: a multipart/byteranges part or a
 * single Content-Range is placed by its offsets, never by position; a byte
 * lands only where a piece's received prefix ends, so reordered, merged,
 * coalesced, overlapping or stray parts can never put a byte at the wrong
 * offset: what is not placed is asked for again. A 200 to a request of many
 * ranges lowers the ranges per request (nginx max_ranges, Apache MaxRanges);
 * a single range answering a request of several drops to one range per
 * request (object stores, CDNs); a 200 to a single range means the server
 * ignores Range: the file is then streamed through and the needed bytes kept.
 * Failed transfers are retried with backoff for what is still missing only.
 */
#include "config.h"

#include "fetch/fetch_http.h"
#include "fetch/fetch_window.h"
#include "fetch/multipart.h"
#include "io.h"
#include "zckup.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES ZU_PLAN_REQUEST_BYTES
#define XFERS_MAX 16u
#define EPILOGUE_MAX (64u << 10)
/*
 * On a single-range server, a gap between ranges is fetched (and dropped) when
 * it costs less than one more request there: its request and answer headers,
 * as measured on this server (SPAN_GAP_FIRST until an answer came), and, on a
 * link whose round trip is long enough to matter (SPAN_RTT_MIN_US), the bytes
 * a connection would have received in the round trip it waits for the answer
 * (its measured rate x the shortest time to first byte). A fixed 64 KiB, worth
 * it for whole chunks, made fine frames (a few KiB, a few KiB apart) cost 6x
 * their bytes on loopback; headers alone made them cost 4x the time on a
 * 100 ms round trip. Never more than SPAN_GAP_MAX.
 */
#define SPAN_GAP_FIRST (ZU_PLAN_ANSWER_OVERHEAD + 200u)
#define SPAN_GAP_MAX (64u << 10)
#define SPAN_RTT_MIN_US 10000     /* shorter: loopback or LAN, where a request costs bytes only */
#define SPAN_RATE_MIN_BODY (4u << 10) /* answers this large say what a connection's rate is */
#define BACKOFF_FIRST_MS 200u
#define BACKOFF_MAX_MS 5000u
#define VALIDATOR_MAX 256u
#define HEADER_LINE_MAX (16u << 10)
#define CTYPE_MAX 256u

struct xfer;

enum answer { ANS_NONE, ANS_MULTI, ANS_SINGLE, ANS_WHOLE, ANS_DROP };

struct xfer {
	struct zu_http *e;
	CURL *easy;
	struct zu_slot *slot;      /* NULL for the whole-file stream */
	size_t n_asked;         /* ranges in the request */
	uint64_t asked_bytes;
	char *range;            /* CURLOPT_RANGE value */
	bool cancelled;         /* stopped by the engine: ignore its data and its end */
	/* the answer */
	long status;
	char status_line[64];   /* for messages */
	char location[256];     /* of the last redirect, for messages */
	bool headers_done;
	char ctype[CTYPE_MAX];
	char crange[128];
	char etag[VALIDATOR_MAX];
	char lastmod[VALIDATOR_MAX];
	int64_t content_length; /* -1 unknown */
	enum answer ans;
	bool failed;            /* retryable failure of this answer */
	bool fatal;             /* a verdict on the resource or the request: no retry */
	bool stepped_down;
	struct zu_mp mp;
	uint64_t single_off, single_end, body;
	uint64_t placed;        /* bytes placed into pieces */
	double last_byte;       /* when the last byte of the answer came (stall timer) */
	bool stalled;           /* abandoned by the stall timer */
	uint64_t part_first, part_last, part_placed; /* the part being received */
	bool in_part;
	uint64_t stray_first, stray_last; /* a part that brought no byte where it was asked */
	bool stray;
	struct zu_err err;
	char errbuf[CURL_ERROR_SIZE];
};

struct zu_http {
	char *url;
	const struct zu_net_cfg *cfg;
	const struct zu_http_tls *tls;
	CURLM *multi;
	struct curl_slist *headers;      /* the caller's headers */
	struct curl_slist *headers_ir;   /* the same plus If-Range, once a validator is known */
	/* what the first answer said about the resource */
	uint64_t size;                   /* UINT64_MAX unknown */
	char etag[VALIDATOR_MAX];        /* strong ETag or empty */
	char lastmod[VALIDATOR_MAX];
	bool validator_seen;
	size_t max_ranges;
	bool probing;                    /* after a step-down: one request until one succeeds */
	enum zu_fetch_mode mode;
	struct zu_fetch_stats st;
	uint64_t hdr_bytes;              /* request and answer headers of the answers so far */
	uint64_t n_answers;
	int64_t rtt_us;                  /* shortest time to first byte so far; 0 unknown */
	double conn_rate;                /* bytes/s of one connection, last large answer; 0 unknown */
	/* the job */
	const struct zu_frame_range *r;
	size_t n;
	bool head;
	struct zu_frame_range head_range; /* a head job's range, cut at the end of the resource */
	int out_fd;
	struct zu_window w;              /* the slots being filled and written out */
	struct xfer *xf[XFERS_MAX];
	size_t n_xf;
	/* whole-file mode: the next byte to write out */
	size_t out_ri;
	uint64_t out_off;
	double whole_retry_at;
	unsigned whole_fails;
	int fatal;
	struct zu_err fatal_err;
	struct zu_err last_err;          /* of the latest failed transfer */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_fatal(struct zu_http *e, const struct zu_err *err)
{
	if (e->fatal)
		return;
	e->fatal = err->code ? err->code : -EPROTO;
	e->fatal_err = *err;
}

/* ---- output --------------------------------------------------------------- */

static int emit(void *user, uint64_t off, const uint8_t *p, uint64_t n)
{
	struct zu_http *e = user;
	struct zu_err err = ZU_ERR_INIT;

	while (n) {
		size_t k = n < ZU_FRAME_DATA_MAX ? (size_t)n : ZU_FRAME_DATA_MAX;
		double t0 = now_s(), blocked;
		int r = zu_frame_write(e->out_fd, ZU_FR_DATA, off, p, k, &err);

		/* time spent waiting for the privileged side is not the server's stall */
		blocked = now_s() - t0;
		if (blocked > 0.1)
			for (size_t i = 0; i < e->n_xf; i++)
				e->xf[i]->last_byte += blocked;

		if (r < 0) {
			zu_err_prefix(&err, "writing to the privileged process");
			set_fatal(e, &err);
			return r;
		}
		off += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* Writes out what the head slots hold, in order. */
static int deliver(struct zu_http *e)
{
	return zu_window_deliver(&e->w, emit, e) < 0 ? e->fatal : 0;
}

static uint64_t range_end(const struct zu_frame_range *r)
{
	return r->off + r->len;
}

/* ---- validators ------------------------------------------------------------- */

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
	zu_frame_clean_msg(dst, n);
}

static int rebuild_if_range(struct zu_http *e)
{
	char line[VALIDATOR_MAX + 16];
	struct curl_slist *l = NULL, *t;

	if (!e->etag[0] && !e->lastmod[0])
		return 0;
	for (size_t i = 0; i < e->cfg->n_headers; i++) {
		t = curl_slist_append(l, e->cfg->headers[i]);
		if (!t)
			goto oom;
		l = t;
	}
	snprintf(line, sizeof(line), "If-Range: %s", e->etag[0] ? e->etag : e->lastmod);
	t = curl_slist_append(l, line);
	if (!t)
		goto oom;
	e->headers_ir = t;
	return 0;
oom:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* A head job asks for more than a small resource may hold: cut it to what exists. */
static void clip_head(struct zu_http *e)
{
	if (!e->head || e->size == UINT64_MAX)
		return;
	zu_window_clip(&e->w, &e->head_range, e->size);
	e->n = e->w.n;
}

/*
 * The first answer fixes what the resource is; a later answer that disagrees
 * means the file was replaced on the server during the update (-ESTALE).
 */
static int check_resource(struct zu_http *e, struct xfer *x, uint64_t total, struct zu_err *err)
{
	bool weak = !strncmp(x->etag, "W/", 2);

	if (!e->validator_seen) {
		e->validator_seen = true;
		e->size = total;
		if (x->etag[0] && !weak)
			snprintf(e->etag, sizeof(e->etag), "%s", x->etag);
		snprintf(e->lastmod, sizeof(e->lastmod), "%s", x->lastmod);
		if (rebuild_if_range(e) < 0)
			return zu_err_set(err, -ENOMEM, "out of memory");
		clip_head(e);
		return 0;
	}
	if (e->etag[0] && x->etag[0] && !weak && strcmp(e->etag, x->etag))
		return zu_err_set(err, -ESTALE,
				  "the .zck changed on the server during the update (ETag %s, "
				  "then %s)", e->etag, x->etag);
	if (!e->etag[0] && e->lastmod[0] && x->lastmod[0] && strcmp(e->lastmod, x->lastmod))
		return zu_err_set(err, -ESTALE,
				  "the .zck changed on the server during the update "
				  "(Last-Modified %s, then %s)", e->lastmod, x->lastmod);
	if (total != UINT64_MAX && e->size != UINT64_MAX && total != e->size)
		return zu_err_set(err, -ESTALE,
				  "the .zck changed on the server during the update (%" PRIu64
				  " bytes, then %" PRIu64 ")", e->size, total);
	if (e->size == UINT64_MAX)
		e->size = total;
	clip_head(e);
	return 0;
}

/* A job that needs bytes past the end of the resource is asking the wrong file. */
static int check_size(struct zu_http *e, struct zu_err *err)
{
	uint64_t need;

	if (e->size == UINT64_MAX || e->head || !e->n)
		return 0;
	need = range_end(&e->r[e->n - 1]);
	if (need > e->size)
		return zu_err_set(err, -EBADMSG,
				  "truncated: the .zck on the server has %" PRIu64
				  " bytes, the header needs %" PRIu64, e->size, need);
	return 0;
}

/* ---- answers ---------------------------------------------------------------- */

/* A part that placed nothing is remembered for the message, should bytes be missing. */
static void end_part(struct xfer *x)
{
	if (x->in_part && !x->part_placed && !x->stray) {
		x->stray = true;
		x->stray_first = x->part_first;
		x->stray_last = x->part_last;
	}
	x->in_part = false;
}

static int mp_part(void *user, uint64_t first, uint64_t last, uint64_t total)
{
	struct xfer *x = user;

	end_part(x);
	x->in_part = true;
	x->part_first = first;
	x->part_last = last;
	x->part_placed = 0;
	if (total != UINT64_MAX && x->e->size != UINT64_MAX && total != x->e->size)
		return zu_err_set(&x->err, -ESTALE,
				  "the .zck changed on the server during the update (%" PRIu64
				  " bytes, then %" PRIu64 ")", x->e->size, total);
	return 0;
}

/* Places bytes of an answer; a contradiction with bytes received before is fatal. */
static int xfer_place(struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
	bool conflict = false;

	uint64_t placed;

	x->last_byte = now_s();
	placed = zu_window_place(&x->e->w, off, p, n, &conflict);
	x->e->st.payload_bytes += placed;
	x->e->st.unasked_bytes += n - placed;
	x->placed += placed;
	x->part_placed += placed;
	if (conflict) {
		x->fatal = true;
		return zu_err_set(&x->err, -EPROTO,
				  "the server sent other bytes for a range it had sent before "
				  "(at %" PRIu64 "+%zu)", off, n);
	}
	return 0;
}

static int mp_data(void *user, uint64_t off, const uint8_t *p, size_t n)
{
	return xfer_place(user, off, p, n);
}

static const struct zu_mp_callbacks mp_cb = { .part = mp_part, .data = mp_data };

/*
 * The server refused a request of x->n_asked ranges: ask at most `to` from
 * now on, one request at a time until one is answered as asked (so that a
 * server refusing many ranges costs one wasted answer per step, not one per
 * connection), and ask again for what larger requests in flight were to get.
 */
static void step_down(struct zu_http *e, struct xfer *x, size_t to)
{
	if (to < 1)
		to = 1;
	if (to < e->max_ranges) {
		e->max_ranges = to;
		e->st.stepdowns++;
	}
	e->probing = true;
	x->stepped_down = true;
	x->ans = ANS_DROP;
	for (size_t i = 0; i < e->n_xf; i++)
		if (e->xf[i] != x && e->xf[i]->slot && e->xf[i]->n_asked > e->max_ranges)
			e->xf[i]->cancelled = e->xf[i]->stepped_down = true;
}

static void cancel_others(struct zu_http *e, const struct xfer *keep)
{
	for (size_t i = 0; i < e->n_xf; i++)
		if (e->xf[i] != keep)
			e->xf[i]->cancelled = true;
}

/* The server ignores Range: from now on one stream of the whole file. */
static void go_whole(struct zu_http *e, struct xfer *x)
{
	uint64_t next;

	deliver(e);
	cancel_others(e, x);
	next = zu_window_next_out(&e->w);
	for (size_t i = 0; i < e->w.n_slots; i++) {
		struct zu_slot *s = e->w.slot[i];

		for (size_t k = 0; k < s->n; k++)
			s->pieces[k].claim = NULL;
	}
	e->out_ri = 0;
	while (e->out_ri < e->n && range_end(&e->r[e->out_ri]) <= next)
		e->out_ri++;
	e->out_off = e->out_ri < e->n && next > e->r[e->out_ri].off ? next
			: (e->out_ri < e->n ? e->r[e->out_ri].off : 0);
	/* the slots stay allocated until their transfers are gone; nothing more goes into them */
	zu_window_stop_cutting(&e->w);
	e->mode = ZU_FETCH_MODE_WHOLE;
	x->slot->users--;
	x->slot = NULL;
	x->ans = ANS_WHOLE;
	x->body = 0;
}

/* Decides what the answer is, once its headers are in. 0, or <0 with x->err set. */
static int classify(struct xfer *x)
{
	struct zu_http *e = x->e;
	char boundary[ZU_MP_BOUNDARY_MAX + 1];
	uint64_t first, last, total;
	int r;

	x->headers_done = true;
	if (x->status == 206) {
		if (x->ctype[0]) {
			r = zu_http_parse_multipart_type(x->ctype, strlen(x->ctype), boundary,
							 &x->err);
			if (r < 0)
				return r;
			if (r == 1) {
				r = check_resource(e, x, UINT64_MAX, &x->err);
				if (r == 0)
					r = zu_mp_init(&x->mp, boundary, &mp_cb, x, &x->err);
				if (r == 0) {
					x->ans = ANS_MULTI;
					e->probing = false; /* it serves several ranges per request */
				}
				return r;
			}
		}
		if (!x->crange[0])
			return zu_err_set(&x->err, -EPROTO,
					  "206 answer without Content-Range or multipart body");
		r = zu_http_parse_content_range(x->crange, strlen(x->crange), &first, &last,
						&total, &x->err);
		if (r == 0)
			r = check_resource(e, x, total, &x->err);
		if (r < 0)
			return r;
		x->single_off = first;
		x->single_end = last + 1;
		x->ans = ANS_SINGLE;
		if (e->max_ranges == 1)
			e->probing = false; /* single ranges, as asked */
		x->in_part = true;
		x->part_first = first;
		x->part_last = last;
		x->part_placed = 0;
		return 0;
	}
	if (x->status == 200) {
		r = check_resource(e, x, x->content_length >= 0 ? (uint64_t)x->content_length
							: UINT64_MAX, &x->err);
		if (r < 0)
			return r;
		if (!x->slot) { /* asked for the whole file */
			x->ans = ANS_WHOLE;
			return 0;
		}
		if (x->n_asked > 1) {
			/* nginx max_ranges, Apache MaxRanges: halve until it is served */
			step_down(e, x, x->n_asked / 2);
			return 0;
		}
		go_whole(e, x);
		return 0;
	}
	if (x->status == 416 && x->n_asked > 1 && !strncmp(x->crange, "bytes */", 8) &&
	    e->n && range_end(&e->r[e->n - 1]) <= strtoull(x->crange + 8, NULL, 10)) {
		/* every range asked lies inside the file: the server refuses several (Varnish) */
		step_down(e, x, 1);
		return 0;
	}
	x->fatal = true;
	if (x->status == 416)
		return zu_err_set(&x->err, -EBADMSG,
				  "the server says the range is not satisfiable (416): the .zck "
				  "there is shorter than its header says");
	if (x->status == 404 || x->status == 410)
		return zu_err_set(&x->err, -ENOENT, "%s: %s", e->url, x->status_line);
	if (x->status == 401 || x->status == 403 || x->status == 407)
		return zu_err_set(&x->err, -EACCES, "%s: %s", e->url, x->status_line);
	if (x->status == 408 || x->status == 429 || x->status >= 500) {
		x->fatal = false;
		x->failed = true;
		x->ans = ANS_DROP;
		zu_err_set(&x->err, -EPROTO, "%s: %s", e->url, x->status_line);
		return 0;
	}
	return zu_err_set(&x->err, -EPROTO, "%s: unexpected answer %s", e->url, x->status_line);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *user)
{
	struct xfer *x = user;
	size_t n = size * nitems;
	const char *colon;

	if (x->cancelled)
		return 0;
	x->last_byte = now_s();
	if (n > HEADER_LINE_MAX) {
		zu_err_set(&x->err, -EPROTO, "%s: an answer header line of %zu bytes", x->e->url, n);
		return 0;
	}
	if (n >= 5 && !memcmp(buf, "HTTP/", 5)) {
		/* a new answer (after a redirect or 100 Continue): forget the last one */
		const char *sp = memchr(buf, ' ', n);

		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		copy_value(x->status_line, sizeof(x->status_line), buf, n);
		x->ctype[0] = x->crange[0] = x->etag[0] = x->lastmod[0] = 0;
		x->content_length = -1;
		x->headers_done = false;
		return n;
	}
	if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
		if (x->status >= 200 && !(x->status >= 300 && x->status < 400) &&
		    (classify(x) < 0 || x->ans == ANS_DROP))
			return 0; /* not worth its body */
		return n;
	}
	colon = memchr(buf, ':', n);
	if (!colon)
		return n;
#define IS(name) ((size_t)(colon - buf) == sizeof(name) - 1 && !strncasecmp(buf, name, sizeof(name) - 1))
	if (IS("Content-Type"))
		copy_value(x->ctype, sizeof(x->ctype), colon + 1, n - (size_t)(colon + 1 - buf));
	else if (IS("Content-Range"))
		copy_value(x->crange, sizeof(x->crange), colon + 1, n - (size_t)(colon + 1 - buf));
	else if (IS("ETag"))
		copy_value(x->etag, sizeof(x->etag), colon + 1, n - (size_t)(colon + 1 - buf));
	else if (IS("Location"))
		copy_value(x->location, sizeof(x->location), colon + 1, n - (size_t)(colon + 1 - buf));
	else if (IS("Last-Modified"))
		copy_value(x->lastmod, sizeof(x->lastmod), colon + 1, n - (size_t)(colon + 1 - buf));
	else if (IS("Content-Length")) {
		char v[32];

		copy_value(v, sizeof(v), colon + 1, n - (size_t)(colon + 1 - buf));
		x->content_length = strtoll(v, NULL, 10);
	}
#undef IS
	return n;
}

/* Whole-file stream: writes out the needed bytes of [off, off+n) directly, in order. */
static int whole_feed(struct zu_http *e, struct xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
	uint64_t end = off + n;

	while (e->out_ri < e->n) {
		const struct zu_frame_range *r = &e->r[e->out_ri];
		uint64_t stop;

		if (e->out_off < off || e->out_off >= end)
			break;
		stop = end < range_end(r) ? end : range_end(r);
		if (emit(e, e->out_off, p + (e->out_off - off), stop - e->out_off) < 0)
			return -1;
		x->placed += stop - e->out_off;
		e->st.payload_bytes += stop - e->out_off;
		e->out_off = stop;
		if (e->out_off == range_end(r) && ++e->out_ri < e->n)
			e->out_off = e->r[e->out_ri].off;
	}
	return 0;
}

static size_t write_cb(char *buf, size_t size, size_t nmemb, void *user)
{
	struct xfer *x = user;
	struct zu_http *e = x->e;
	size_t n = size * nmemb;
	uint64_t off;

	if (x->cancelled || e->fatal)
		return 0;
	if (!x->headers_done && classify(x) < 0)
		return 0;
	switch (x->ans) {
	case ANS_MULTI:
		x->last_byte = now_s();
		if (zu_mp_feed(&x->mp, (const uint8_t *)buf, n, &x->err) < 0)
			return 0;
		x->body += n;
		/* a body far beyond what was asked (endless parts or epilogue) is cut */
		if (x->body > 2 * x->asked_bytes + EPILOGUE_MAX + 64u * x->n_asked + 4096u) {
			zu_err_set(&x->err, -EPROTO, "the server sent %" PRIu64 " bytes for %" PRIu64
				   " bytes asked", x->body, x->asked_bytes);
			return 0;
		}
		return n;
	case ANS_SINGLE:
		off = x->single_off + x->body;
		if (n > x->single_end - off) {
			zu_err_set(&x->err, -EPROTO,
				   "the body runs past its Content-Range %" PRIu64 "-%" PRIu64,
				   x->single_off, x->single_end - 1);
			return 0;
		}
		if (xfer_place(x, off, (const uint8_t *)buf, n) < 0)
			return 0;
		x->body += n;
		return n;
	case ANS_WHOLE: {
		uint64_t before = x->placed;

		x->last_byte = now_s();
		off = x->body;
		x->body += n;
		if (whole_feed(e, x, off, (const uint8_t *)buf, n) < 0)
			return 0;
		e->st.unasked_bytes += n - (x->placed - before);
		if (e->out_ri >= e->n)
			return 0; /* everything needed is here: stop the stream */
		return n;
	}
	case ANS_DROP:
	case ANS_NONE:
	default:
		return 0;
	}
}

/* ---- transfers ---------------------------------------------------------------- */

static int set_common(struct zu_http *e, CURL *c, struct xfer *x)
{
	const struct zu_net_cfg *cfg = e->cfg;
	long tmo = (long)cfg->timeout_s;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, e->url);
	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, "zckup/" ZCKUP_VERSION);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 5L);
	/* never from https down to http */
	SET(CURLOPT_REDIR_PROTOCOLS_STR, strncmp(e->url, "https:", 6) ? "http,https" : "https");
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_CONNECTTIMEOUT, tmo);
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_ACCEPT_ENCODING, NULL);
	SET(CURLOPT_HTTPHEADER, e->headers_ir ? e->headers_ir : e->headers);
	if (cfg->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (e->tls->cacert.len) {
		struct curl_blob b = { e->tls->cacert.data, e->tls->cacert.len, CURL_BLOB_NOCOPY };

		SET(CURLOPT_CAINFO_BLOB, &b);
	}
	if (cfg->capath)
		SET(CURLOPT_CAPATH, cfg->capath);
	if (e->tls->cert.len) {
		struct curl_blob b = { e->tls->cert.data, e->tls->cert.len, CURL_BLOB_NOCOPY };

		SET(CURLOPT_SSLCERT_BLOB, &b);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (e->tls->key.len) {
		struct curl_blob b = { e->tls->key.data, e->tls->key.len, CURL_BLOB_NOCOPY };

		SET(CURLOPT_SSLKEY_BLOB, &b);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
#undef SET
	if (rc != CURLE_OK)
		return zu_err_set(&e->last_err, -EINVAL, "curl option: %s", curl_easy_strerror(rc));
	return 0;
}

/* "a-b,c-d,..." for the pieces claimed, or one "a-b" spanning them all. */
static char *range_value(const struct zu_piece *const *pc, size_t n, bool span)
{
	size_t cap = n * 44 + 1, len = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	if (span) {
		snprintf(s, cap, "%" PRIu64 "-%" PRIu64, pc[0]->off + pc[0]->got,
			 pc[n - 1]->off + pc[n - 1]->len - 1);
		return s;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t from = pc[i]->off + pc[i]->got, to = pc[i]->off + pc[i]->len - 1;

		len += (size_t)snprintf(s + len, cap - len, "%s%" PRIu64 "-%" PRIu64, i ? "," : "",
					from, to);
	}
	return s;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->slot)
		x->slot->users--;
	if (x->easy) {
		curl_multi_remove_handle(x->e->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	free(x->range);
	free(x);
}

static int xfer_start(struct zu_http *e, struct zu_slot *s, const struct zu_piece **claim, size_t n,
		      bool span)
{
	struct xfer *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	x->e = e;
	x->slot = s;
	x->content_length = -1;
	x->last_byte = now_s();
	x->n_asked = span ? 1 : n;
	x->easy = curl_easy_init();
	if (!x->easy) {
		free(x);
		return -ENOMEM;
	}
	r = set_common(e, x->easy, x);
	if (r == 0 && n) {
		x->range = range_value(claim, n, span);
		if (!x->range)
			r = -ENOMEM;
		else if (curl_easy_setopt(x->easy, CURLOPT_RANGE, x->range) != CURLE_OK)
			r = -EINVAL;
	}
	if (r == 0 && curl_multi_add_handle(e->multi, x->easy) != CURLM_OK)
		r = -ENOMEM;
	if (r < 0) {
		curl_easy_cleanup(x->easy);
		free(x->range);
		free(x);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct zu_piece *p = (struct zu_piece *)claim[i];

		p->claim = x;
		x->asked_bytes += p->len - p->got;
	}
	if (s)
		s->users++;
	e->xf[e->n_xf++] = x;
	e->st.requests++;
	e->st.ranges += x->n_asked ? x->n_asked : 1;
	return 0;
}

static unsigned backoff_ms(unsigned fails)
{
	unsigned ms = BACKOFF_FIRST_MS;

	while (fails-- > 1 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static bool claimable(const struct zu_piece *p)
{
	return p->got < p->len && !p->claim;
}

/* Up to max_ranges missing pieces from *i on, for one multi-range request. */
static size_t claim_many(const struct zu_http *e, struct zu_slot *s, size_t *i,
			 const struct zu_piece **claim)
{
	size_t k = 0;

	for (; *i < s->n && k < e->max_ranges && k < ZU_LIMITS_MAX_RANGES; (*i)++)
		if (claimable(&s->pieces[*i]))
			claim[k++] = &s->pieces[*i];
	return k;
}

/* What one more request costs on this server, in bytes (see SPAN_GAP_FIRST). */
static uint64_t span_gap(const struct zu_http *e)
{
	uint64_t g = e->n_answers ? e->hdr_bytes / e->n_answers : SPAN_GAP_FIRST;
	double wait = 0;

	if (e->rtt_us >= SPAN_RTT_MIN_US)
		wait = e->conn_rate * (double)e->rtt_us / 1e6;
	if (wait >= (double)SPAN_GAP_MAX)
		return SPAN_GAP_MAX;
	g += (uint64_t)wait;
	return g < SPAN_GAP_MAX ? g : SPAN_GAP_MAX;
}

/*
 * For a server that serves one range per request: a run of missing pieces
 * whose gaps cost less than a request, asked for as one range (the gap bytes
 * are dropped), so that small chunks do not each cost a request.
 */
static size_t claim_span(const struct zu_http *e, struct zu_slot *s, size_t *i,
			 const struct zu_piece **claim)
{
	size_t k = 0;
	uint64_t start = 0, gap = span_gap(e);

	for (; *i < s->n && !claimable(&s->pieces[*i]); (*i)++)
		;
	for (; *i < s->n && k < ZU_LIMITS_MAX_RANGES; (*i)++) {
		const struct zu_piece *p = &s->pieces[*i];

		if (!claimable(p))
			break;
		if (k) {
			const struct zu_piece *prev = claim[k - 1];

			if (p->got || p->off - (prev->off + prev->len) > gap ||
			    p->off + p->len - start > SLOT_BYTES)
				break;
		} else {
			start = p->off + p->got;
		}
		claim[k++] = p;
	}
	return k;
}

/* Starts transfers for what is missing, within the window and the connections. */
static int schedule(struct zu_http *e)
{
	const struct zu_piece *claim[ZU_LIMITS_MAX_RANGES];
	double now = now_s();
	int r;

	if (e->mode == ZU_FETCH_MODE_WHOLE) {
		if (e->n_xf == 0 && e->out_ri < e->n && now >= e->whole_retry_at)
			return xfer_start(e, NULL, NULL, 0, false);
		return 0;
	}
	r = zu_window_grow(&e->w);
	if (r < 0)
		return r;
	for (size_t w = 0; w < e->w.n_slots && e->n_xf < e->cfg->connections &&
			   !(e->probing && e->n_xf); w++) {
		struct zu_slot *s = e->w.slot[w];
		size_t i = 0;

		if (now < s->retry_at)
			continue;
		while (i < s->n && e->n_xf < e->cfg->connections && !(e->probing && e->n_xf)) {
			bool span = e->max_ranges == 1;
			size_t k = span ? claim_span(e, s, &i, claim) : claim_many(e, s, &i, claim);

			if (!k)
				break;
			if (k > 1 && !span && e->mode == ZU_FETCH_MODE_NONE)
				e->mode = ZU_FETCH_MODE_MULTI;
			r = xfer_start(e, s, claim, k, span);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Maps a failed transfer to an error code; fatal ones are not retried. */
static int curl_failure(struct xfer *x, CURLcode rc, bool *fatal)
{
	const char *what = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

	*fatal = false;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return zu_err_set(&x->err, -EHOSTUNREACH, "%s: %s", x->e->url, what);
	case CURLE_COULDNT_CONNECT:
		return zu_err_set(&x->err, -ECONNREFUSED, "%s: %s", x->e->url, what);
	case CURLE_OPERATION_TIMEDOUT:
		return zu_err_set(&x->err, -ETIMEDOUT, "%s: %s", x->e->url, what);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		*fatal = true;
		return zu_err_set(&x->err, -EACCES, "%s: TLS: %s", x->e->url, what);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS: {
		*fatal = true;
		if (x->location[0])
			return zu_err_set(&x->err, -EPROTO, "%s: redirect to %s refused (%s; "
					  "https never goes on over http)", x->e->url, x->location,
					  what);
		return zu_err_set(&x->err, rc == CURLE_UNSUPPORTED_PROTOCOL ? -EINVAL : -EPROTO,
				  "%s: %s", x->e->url, what);
	}
	case CURLE_OUT_OF_MEMORY:
		/* what libcurl says of an answer header beyond its own limit */
		return zu_err_set(&x->err, -EPROTO, "%s: answer refused by libcurl (%s): headers "
				  "too large?", x->e->url, what);
	case CURLE_URL_MALFORMAT:
		*fatal = true;
		return zu_err_set(&x->err, -EINVAL, "%s: %s", x->e->url, what);
	default:
		return zu_err_set(&x->err, -EPROTO, "%s: %s", x->e->url, what);
	}
}

/* The link as this answer saw it: its round trip and one connection's rate. */
static void count_timing(struct zu_http *e, struct xfer *x, curl_off_t body)
{
	curl_off_t pre = 0, first = 0, total = 0;

	if (curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK ||
	    curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &first) != CURLE_OK ||
	    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total) != CURLE_OK)
		return;
	if (first > pre && (e->rtt_us == 0 || first - pre < e->rtt_us))
		e->rtt_us = first - pre;
	if (body >= (curl_off_t)SPAN_RATE_MIN_BODY && total > first)
		e->conn_rate = (double)body * 1e6 / (double)(total - first);
}

static void count_wire(struct zu_http *e, struct xfer *x)
{
	curl_off_t body = 0;
	long hdr = 0, sent = 0, ver = 0; /* CURLINFO_REQUEST_SIZE is a long, not a curl_off_t */

	curl_easy_getinfo(x->easy, CURLINFO_HEADER_SIZE, &hdr);
	curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent);
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver);
	e->st.wire_bytes += (uint64_t)hdr + (uint64_t)body;
	e->st.sent_bytes += (uint64_t)sent;
	e->hdr_bytes += (uint64_t)hdr + (uint64_t)sent;
	e->n_answers++;
	count_timing(e, x, body);
	if (ver == CURL_HTTP_VERSION_1_0)
		e->st.http_version = 10;
	else if (ver == CURL_HTTP_VERSION_1_1)
		e->st.http_version = 11;
	else if (ver == CURL_HTTP_VERSION_2_0)
		e->st.http_version = 20;
	else if (ver == CURL_HTTP_VERSION_3)
		e->st.http_version = 30;
}

/* Whether every piece this transfer asked for arrived; unclaims them. */
static bool unclaim(struct zu_http *e, struct xfer *x, size_t *out_done)
{
	bool complete = true;

	*out_done = 0;
	for (size_t w = 0; w < e->w.n_slots; w++)
		for (size_t i = 0; i < e->w.slot[w]->n; i++) {
			struct zu_piece *p = &e->w.slot[w]->pieces[i];

			if (p->claim != x)
				continue;
			p->claim = NULL;
			if (p->got < p->len)
				complete = false;
			else
				(*out_done)++;
		}
	return complete;
}

static void xfer_done(struct zu_http *e, struct xfer *x, CURLcode rc)
{
	bool fatal = false, complete, failed;
	size_t done = 0;
	unsigned *fails;
	double *retry_at;

	count_wire(e, x);
	complete = x->slot ? unclaim(e, x, &done) : false;
	if (x->cancelled)
		return;
	if (x->err.code == -EOVERFLOW)
		x->err.code = -EPROTO; /* an oversize line in an answer is the server's fault */
	if (x->stepped_down)
		return;
	if (x->fatal || (x->err.code && x->err.code != -EPROTO)) {
		/* a verdict on the resource (changed, 404, 416...): retrying cannot help */
		set_fatal(e, &x->err);
		return;
	}
	if (x->ans == ANS_WHOLE) {
		if (e->out_ri >= e->n)
			return; /* stopped on purpose: all bytes needed are out */
		if (rc == CURLE_OK && e->head) {
			e->out_ri = e->n; /* the resource ends before the bytes asked for */
			return;
		}
		if (rc == CURLE_OK) {
			zu_err_set(&x->err, -EBADMSG, "truncated: the .zck on the server has %" PRIu64
				   " bytes, the header needs more", x->body);
			set_fatal(e, &x->err);
			return;
		}
	}
	if (x->stalled)
		zu_err_set(&x->err, -ETIMEDOUT, "%s: no byte for %u s", e->url, e->cfg->timeout_s);
	failed = x->failed || x->err.code;
	if (!failed && rc != CURLE_OK) {
		curl_failure(x, rc, &fatal);
		failed = true;
	}
	if (fatal) {
		set_fatal(e, &x->err);
		return;
	}
	if (!failed && x->ans == ANS_MULTI && zu_mp_finish(&x->mp, &x->err) < 0)
		failed = true;
	if (x->slot && !failed && !complete && x->ans == ANS_SINGLE && x->n_asked > 1) {
		/* one range for a request of several: the server serves no more per request */
		if (e->max_ranges > 1)
			e->st.stepdowns++;
		e->max_ranges = 1;
		e->mode = ZU_FETCH_MODE_SINGLE;
	}
	if (x->slot && !failed && !complete && x->ans == ANS_MULTI && done &&
	    done < x->n_asked && done < e->max_ranges) {
		/* a server that answers the first N ranges of more (lighttpd): ask N */
		e->max_ranges = done;
		e->st.stepdowns++;
	}
	if (x->slot && !failed && complete && (x->ans == ANS_MULTI || x->ans == ANS_SINGLE))
		e->probing = false; /* answered as asked: the step-down found its level */
	if (x->slot && complete) {
		x->slot->fails = 0;
		return;
	}
	end_part(x);
	if (!failed && x->stray)
		zu_err_set(&x->err, -EPROTO, "the answer's part for bytes %" PRIu64 "-%" PRIu64
			   " held none of the bytes asked for where they were asked (a Content-Range "
			   "outside or astride the ranges asked); %s of them missing",
			   x->stray_first, x->stray_last, x->placed ? "some" : "all");
	else if (!failed)
		zu_err_set(&x->err, -EPROTO, "the answer lacked %s of the bytes asked for",
			   x->placed ? "some" : "all");
	fails = x->slot ? &x->slot->fails : &e->whole_fails;
	retry_at = x->slot ? &x->slot->retry_at : &e->whole_retry_at;
	e->last_err = x->err;
	if (x->placed) {
		*fails = 0; /* progress: ask again at once for the rest */
		return;
	}
	if (++*fails >= e->cfg->attempts) {
		zu_err_prefix(&x->err, "giving up after %u attempt%s", *fails,
			      *fails == 1 ? "" : "s");
		set_fatal(e, &x->err);
		return;
	}
	e->st.retries++;
	*retry_at = now_s() + backoff_ms(*fails) / 1000.0;
}

/* Handles finished transfers; removes them. Returns how many. */
static size_t reap(struct zu_http *e)
{
	size_t n = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		xfer_done(e, x, m->data.result);
		n++;
		for (size_t i = 0; i < e->n_xf; i++)
			if (e->xf[i] == x) {
				e->xf[i] = e->xf[--e->n_xf];
				break;
			}
		xfer_free(x);
	}
	return n;
}

/*
 * Transfers that brought no byte for --timeout seconds are abandoned (and
 * asked again like any failure). Our own clock, not libcurl's low-speed
 * check, which averages over seconds and notices a stall after a burst late.
 */
static size_t expire_stalled(struct zu_http *e)
{
	double now = now_s();
	size_t n = 0;

	for (size_t i = 0; i < e->n_xf;) {
		struct xfer *x = e->xf[i];

		if (now - x->last_byte < (double)e->cfg->timeout_s) {
			i++;
			continue;
		}
		x->stalled = true;
		curl_multi_remove_handle(e->multi, x->easy);
		xfer_done(e, x, CURLE_OPERATION_TIMEDOUT);
		e->xf[i] = e->xf[--e->n_xf];
		xfer_free(x);
		n++;
	}
	return n;
}

static void drop_all(struct zu_http *e)
{
	for (size_t i = 0; i < e->n_xf; i++)
		xfer_free(e->xf[i]);
	e->n_xf = 0;
	zu_window_drop(&e->w, true);
}

static bool job_done(const struct zu_http *e)
{
	if (e->mode == ZU_FETCH_MODE_WHOLE)
		return e->out_ri >= e->n;
	return zu_window_done(&e->w);
}

/* Slots left behind by a switch to whole-file mode are freed once unreferenced. */
static void drop_stale_slots(struct zu_http *e)
{
	if (e->mode == ZU_FETCH_MODE_WHOLE)
		zu_window_drop(&e->w, false);
}

int zu_http_run(struct zu_http *e, const struct zu_frame_range *r, size_t n, bool head,
		int out_fd, struct zu_err *err)
{
	int ret = 0;

	if (head && n == 1) {
		e->head_range = r[0];
		r = &e->head_range;
	}
	e->r = r;
	e->n = n;
	e->head = head;
	e->out_fd = out_fd;
	zu_window_start(&e->w, r, n);
	e->out_ri = 0;
	e->out_off = n ? r[0].off : 0;
	e->whole_fails = 0;
	e->whole_retry_at = 0;
	e->fatal = 0;
	zu_err_clear(&e->fatal_err);
	clip_head(e);
	ret = check_size(e, err);
	if (ret < 0)
		return ret;
	while (!e->fatal) {
		int running = 0;
		CURLMcode mc;

		drop_stale_slots(e);
		if (e->mode != ZU_FETCH_MODE_WHOLE && deliver(e) < 0)
			break;
		if (job_done(e))
			break;
		ret = schedule(e);
		if (ret < 0) {
			zu_err_set(&e->fatal_err, ret, "cannot start a transfer: %s",
				   e->last_err.code ? e->last_err.msg : strerror(-ret));
			e->fatal = ret;
			break;
		}
		mc = curl_multi_perform(e->multi, &running);
		if (mc != CURLM_OK) {
			zu_err_set(&e->fatal_err, -EIO, "curl: %s", curl_multi_strerror(mc));
			e->fatal = -EIO;
			break;
		}
		if (reap(e) + expire_stalled(e) || e->fatal || job_done(e))
			continue; /* start what the finished transfers left to do, without waiting */
		if (check_size(e, &e->fatal_err) < 0) {
			e->fatal = e->fatal_err.code;
			break;
		}
		mc = curl_multi_poll(e->multi, NULL, 0, 100, NULL);
		if (mc != CURLM_OK) {
			zu_err_set(&e->fatal_err, -EIO, "curl: %s", curl_multi_strerror(mc));
			e->fatal = -EIO;
		}
	}
	if (e->fatal) {
		*err = e->fatal_err;
		ret = e->fatal;
	}
	drop_all(e);
	if (e->mode == ZU_FETCH_MODE_NONE)
		e->mode = e->max_ranges > 1 ? ZU_FETCH_MODE_MULTI : ZU_FETCH_MODE_SINGLE;
	return ret;
}

void zu_http_stats(const struct zu_http *e, struct zu_fetch_stats *out)
{
	*out = e->st;
	out->mode = (uint32_t)(e->mode == ZU_FETCH_MODE_MULTI && e->max_ranges == 1
				       ? ZU_FETCH_MODE_SINGLE : e->mode);
	out->max_ranges = (uint32_t)e->max_ranges;
	out->connections = e->cfg->connections;
}

int zu_http_global_init(struct zu_err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return zu_err_set(err, -EIO, "libcurl initialisation failed");
	return 0;
}

int zu_http_new(const char *url, const struct zu_net_cfg *cfg, const struct zu_http_tls *tls,
		struct zu_http **out, struct zu_err *err)
{
	struct zu_http *e;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return zu_err_set(err, -ENOMEM, "out of memory");
	e->cfg = cfg;
	e->tls = tls;
	e->size = UINT64_MAX;
	/* one multi-range request alone until the server shows it answers one in kind */
	e->probing = true;
	e->max_ranges = cfg->max_ranges ? cfg->max_ranges : ZU_LIMITS_MAX_RANGES;
	if (e->max_ranges > ZU_LIMITS_MAX_RANGES)
		e->max_ranges = ZU_LIMITS_MAX_RANGES;
	e->url = strdup(url);
	e->multi = curl_multi_init();
	if (!e->url || !e->multi)
		goto oom;
	for (size_t i = 0; i < cfg->n_headers; i++) {
		struct curl_slist *t = curl_slist_append(e->headers, cfg->headers[i]);

		if (!t)
			goto oom;
		e->headers = t;
	}
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->connections);
	curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*out = e;
	return 0;
oom:
	zu_http_free(e);
	return zu_err_set(err, -ENOMEM, "out of memory");
}

void zu_http_free(struct zu_http *e)
{
	if (!e)
		return;
	drop_all(e);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	curl_slist_free_all(e->headers);
	curl_slist_free_all(e->headers_ir);
	free(e->url);
	free(e);
}
