/* SPDX-License-Identifier: MIT */
/*
 * multipart - multipart/byteranges bodies, Content-Range and Content-Type values. A byte-at-a-time
 * state machine where every step consumes input; the only buffer is one header line. Part data is
 * counted off by the Content-Range length, and then the boundary must follow at once (after an
 * optional CRLF or LF), so a server whose ranges do not match its data is caught, and a boundary
 * string inside the data is just data.
 */
#include "config.h"

#include "fetch/multipart.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Bytes accepted before the first boundary: RFC 2046 allows a preamble, servers send "\r\n". */
#define PREAMBLE_MAX 1024
/* Room for one quoted excerpt of input in a message. */
#define SHOW_MAX 56

enum mp_state {
	MP_PRE_LINE,  /* preamble, at a line start: k bytes of the delimiter matched */
	MP_PRE_SKIP,  /* preamble, in a line that is not a delimiter */
	MP_SEP,       /* a part's data ended: CR, LF or the delimiter's first byte */
	MP_SEP_CR,    /* ... got CR, need LF */
	MP_DELIM,     /* k bytes of the delimiter matched */
	MP_TAIL,      /* delimiter matched, k bytes of padding after it */
	MP_TAIL_DASH, /* delimiter and one '-' */
	MP_TAIL_CR,   /* delimiter line's CR, need LF */
	MP_HEADERS,
	MP_DATA,
	MP_EPILOGUE, /* closing delimiter seen: everything else is ignored */
	MP_FAILED,
};

static bool is_ows(int c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 tchar. */
static bool is_tchar(int c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 2046 bchars (the space is allowed, but not last). */
static bool is_bchar(int c)
{
	return is_alnum(c) || (c != 0 && strchr("'()+_,-./:=? ", c) != NULL);
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* The n bytes at s equal lit, ignoring ASCII case (never the locale's). */
static bool ieq(const char *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower((unsigned char)s[i]) != lit[i])
			return false;
	return true;
}

/* Input bytes for a message: printable ASCII as is, the rest escaped, cut with "..." to fit. */
static const char *show(char out[SHOW_MAX], const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char e[8];
		size_t k;

		if (b[i] == '\r' || b[i] == '\n' || b[i] == '\t')
			snprintf(e, sizeof(e), "\\%c", b[i] == '\r' ? 'r' : b[i] == '\n' ? 'n' : 't');
		else if (b[i] == '"' || b[i] == '\\')
			snprintf(e, sizeof(e), "\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			snprintf(e, sizeof(e), "%c", b[i]);
		else
			snprintf(e, sizeof(e), "\\x%02x", b[i]);
		k = strlen(e);
		if (o + k > SHOW_MAX - 4) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, e, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

/* Why b (len bytes) cannot be a boundary, or NULL when it can. */
static const char *boundary_problem(const char *b, size_t len)
{
	if (len == 0)
		return "is empty";
	if (len > ZU_MP_BOUNDARY_MAX)
		return "is longer than 70 bytes";
	for (size_t i = 0; i < len; i++)
		if (!is_bchar((unsigned char)b[i]))
			return "has a byte RFC 2046 does not allow";
	if (b[len - 1] == ' ')
		return "ends in a space";
	return NULL;
}

/* 1*DIGIT at v[*i..e): 0, -ENOENT when there is no digit, -ERANGE over 64 bits. */
static int parse_num(const char *v, size_t e, size_t *i, uint64_t *out)
{
	uint64_t x = 0;
	size_t start = *i;

	while (*i < e && is_digit((unsigned char)v[*i])) {
		if (zu_mul_overflow(x, 10, &x) || zu_add_overflow(x, (uint64_t)(v[*i] - '0'), &x))
			return -ERANGE;
		(*i)++;
	}
	if (*i == start)
		return -ENOENT;
	*out = x;
	return 0;
}

int zu_http_parse_content_range(const char *v, size_t n, uint64_t *out_first, uint64_t *out_last,
				uint64_t *out_total, struct zu_err *err)
{
	static const char *const what[] = { "first byte", "last byte", "total length" };
	uint64_t num[3] = { 0, 0, UINT64_MAX };
	char s[SHOW_MAX];
	size_t b = 0, e, i;

	if (!v) { /* an absent header reads as an empty value */
		v = "";
		n = 0;
	}
	e = n;
	while (b < e && is_ows((unsigned char)v[b]))
		b++;
	while (e > b && is_ows((unsigned char)v[e - 1]))
		e--;
	show(s, v + b, e - b);
	if (e - b < 5 || !ieq(v + b, 5, "bytes") || e - b == 5 || !is_ows((unsigned char)v[b + 5]))
		return zu_err_set(err, -EPROTO, "Content-Range \"%s\" does not start with \"bytes \"",
				  s);
	i = b + 5;
	while (i < e && is_ows((unsigned char)v[i]))
		i++;
	for (int k = 0; k < 3; k++) {
		static const char sep[] = "-/";
		int r;

		if (k == 2 && i < e && v[i] == '*') {
			i++;
			break;
		}
		r = parse_num(v, e, &i, &num[k]);
		if (r == -ERANGE)
			return zu_err_set(err, -EPROTO,
					  "Content-Range \"%s\": the %s does not fit in 64 bits", s,
					  what[k]);
		if (r < 0)
			return zu_err_set(err, -EPROTO,
					  "Content-Range \"%s\" is not \"bytes FIRST-LAST/TOTAL\" "
					  "(no %s at byte %zu)",
					  s, what[k], i - b);
		if (k < 2 && (i == e || v[i] != sep[k]))
			return zu_err_set(err, -EPROTO,
					  "Content-Range \"%s\" is not \"bytes FIRST-LAST/TOTAL\" "
					  "(expected '%c' at byte %zu)",
					  s, sep[k], i - b);
		if (k < 2)
			i++;
		/* UINT64_MAX stands for '*'; a real total that large cannot exist anyway. */
		if (k == 2 && num[2] == UINT64_MAX)
			return zu_err_set(err, -EPROTO,
					  "Content-Range \"%s\": the total length does not fit in 64 "
					  "bits",
					  s);
	}
	if (i != e)
		return zu_err_set(err, -EPROTO,
				  "Content-Range \"%s\" is not \"bytes FIRST-LAST/TOTAL\" (junk at "
				  "byte %zu)",
				  s, i - b);
	if (num[1] < num[0])
		return zu_err_set(err, -EPROTO, "Content-Range \"%s\": last byte before first byte",
				  s);
	if (num[2] != UINT64_MAX && num[1] >= num[2])
		return zu_err_set(err, -EPROTO,
				  "Content-Range \"%s\": last byte is not inside the total length", s);
	/* The part's length and the offsets after its last byte must fit in 64 bits. */
	if (num[1] == UINT64_MAX)
		return zu_err_set(err, -EPROTO,
				  "Content-Range \"%s\": the range length does not fit in 64 bits", s);
	*out_first = num[0];
	*out_last = num[1];
	*out_total = num[2];
	return 0;
}

/* One parameter value at v[*i..n): a token-like run or a quoted-string, unescaped into b. */
static int param_value(const char *v, size_t n, size_t *i, char *b, size_t *len)
{
	size_t k = 0;

	if (*i < n && v[*i] == '"') {
		for ((*i)++; *i < n && v[*i] != '"'; (*i)++) {
			unsigned char c = (unsigned char)v[*i];

			if (c == '\\') {
				if (++(*i) == n)
					return -1;
				c = (unsigned char)v[*i];
			}
			/* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text; no other control. */
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
			if (k < ZU_MP_BOUNDARY_MAX + 1)
				b[k] = (char)c;
			k++;
		}
		if (*i == n)
			return -1;
		(*i)++;
	} else {
		/* Wider than a token: some servers send bchars such as '/' or '=' unquoted. */
		while (*i < n) {
			unsigned char c = (unsigned char)v[*i];

			if (c <= 0x20 || c == 0x7f || c == ';' || c == '"')
				break;
			if (k < ZU_MP_BOUNDARY_MAX + 1)
				b[k] = (char)c;
			k++;
			(*i)++;
		}
		if (k == 0)
			return -1;
	}
	*len = k;
	return 0;
}

int zu_http_parse_multipart_type(const char *v, size_t n, char *boundary, struct zu_err *err)
{
	char b[ZU_MP_BOUNDARY_MAX + 1], s[SHOW_MAX];
	size_t i = 0, t, blen = 0;
	bool have = false;
	const char *why;

	if (!v) {
		v = "";
		n = 0;
	}
	while (i < n && is_ows((unsigned char)v[i]))
		i++;
	for (t = i; i < n && is_tchar((unsigned char)v[i]); i++)
		;
	if (!ieq(v + t, i - t, "multipart") || i == n || v[i] != '/')
		return 0;
	for (t = ++i; i < n && is_tchar((unsigned char)v[i]); i++)
		;
	if (!ieq(v + t, i - t, "byteranges"))
		return 0;
	show(s, v, n);
	for (;;) {
		size_t name, vlen = 0;
		char val[ZU_MP_BOUNDARY_MAX + 1];
		bool is_b;

		while (i < n && is_ows((unsigned char)v[i]))
			i++;
		if (i == n)
			break;
		if (v[i] != ';')
			return zu_err_set(err, -EPROTO,
					  "Content-Type \"%s\": expected ';' at byte %zu", s, i);
		i++;
		while (i < n && is_ows((unsigned char)v[i]))
			i++;
		if (i == n || v[i] == ';')
			continue; /* empty parameters are allowed */
		for (name = i; i < n && is_tchar((unsigned char)v[i]); i++)
			;
		if (i == name || i == n || v[i] != '=')
			return zu_err_set(err, -EPROTO,
					  "Content-Type \"%s\": malformed parameter at byte %zu", s,
					  name);
		is_b = ieq(v + name, i - name, "boundary");
		i++;
		if (param_value(v, n, &i, val, &vlen) < 0)
			return zu_err_set(err, -EPROTO,
					  "Content-Type \"%s\": malformed parameter value at byte %zu", s,
					  name);
		if (!is_b)
			continue;
		if (have)
			return zu_err_set(err, -EPROTO, "Content-Type \"%s\": boundary given twice",
					  s);
		have = true;
		blen = vlen;
		memcpy(b, val, vlen < sizeof(b) ? vlen : sizeof(b));
	}
	if (!have)
		return zu_err_set(err, -EPROTO, "Content-Type \"%s\" has no boundary parameter", s);
	why = boundary_problem(b, blen);
	if (why)
		return zu_err_set(err, -EPROTO, "Content-Type \"%s\": the boundary %s", s, why);
	memcpy(boundary, b, blen);
	boundary[blen] = '\0';
	return 1;
}

/* Copies the stored failure into err; returns its code. */
static int mp_replay(const struct zu_mp *mp, struct zu_err *err)
{
	if (err) {
		err->code = mp->fail.code;
		memcpy(err->msg, mp->fail.msg, sizeof(err->msg));
	}
	return mp->fail.code;
}

/* Stops the parser for good with code and a message; returns code. */
static int mp_fail(struct zu_mp *mp, struct zu_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int mp_fail(struct zu_mp *mp, struct zu_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mp->fail.msg, sizeof(mp->fail.msg), fmt, ap);
	va_end(ap);
	mp->fail.code = code;
	mp->state = MP_FAILED;
	return mp_replay(mp, err);
}

/*
 * A callback returned r < 0: keep its own message if it wrote one (see multipart.h). err->code
 * was zeroed for the call, so an older message with the same code is not taken for it.
 */
static int mp_cb_fail(struct zu_mp *mp, struct zu_err *err, int r, const char *which)
{
	if (err && err->code == r && err->msg[0] != '\0') {
		char own[ZU_ERR_MSG_LEN];

		memcpy(own, err->msg, sizeof(own));
		own[sizeof(own) - 1] = '\0';
		return mp_fail(mp, err, r, "part %zu (bytes %" PRIu64 "-%" PRIu64 "): %s",
			       mp->n_parts, mp->first, mp->last, own);
	}
	return mp_fail(mp, err, r, "part %zu (bytes %" PRIu64 "-%" PRIu64 "): stopped by the %s "
		       "callback (code %d)",
		       mp->n_parts, mp->first, mp->last, which, r);
}

int zu_mp_init(struct zu_mp *mp, const char *boundary, const struct zu_mp_callbacks *cb, void *user,
	       struct zu_err *err)
{
	const char *why;
	size_t len;

	if (!mp || !boundary || !cb || !cb->part || !cb->data) {
		if (mp)
			return mp_fail(mp, err, -EINVAL, "multipart parser: NULL argument");
		return zu_err_set(err, -EINVAL, "multipart parser: NULL argument");
	}
	memset(mp, 0, sizeof(*mp));
	len = strnlen(boundary, ZU_MP_BOUNDARY_MAX + 1);
	why = boundary_problem(boundary, len);
	if (why) {
		char s[SHOW_MAX];

		return mp_fail(mp, err, -EINVAL, "multipart boundary \"%s\" %s",
			       show(s, boundary, len), why);
	}
	mp->cb = *cb;
	mp->user = user;
	mp->state = MP_PRE_LINE;
	memcpy(mp->delim, "--", 2);
	memcpy(mp->delim + 2, boundary, len);
	mp->delim_len = len + 2;
	mp->delim[mp->delim_len] = '\0';
	return 0;
}

size_t zu_mp_parts(const struct zu_mp *mp)
{
	return mp->n_parts;
}

/*
 * Where a delimiter had to be and was not: the server's lengths do not match its data. Messages
 * show only the offending byte, so that they do not depend on how the body was split.
 */
static int mp_fail_sep(struct zu_mp *mp, const uint8_t *p, struct zu_err *err)
{
	char s[SHOW_MAX];

	return mp_fail(mp, err, -EPROTO,
		       "expected \"%s\" after the %" PRIu64 " bytes of part %zu (bytes %" PRIu64
		       "-%" PRIu64 "), got \"%s\" at body offset %" PRIu64,
		       mp->delim, mp->last - mp->first + 1, mp->n_parts, mp->first, mp->last,
		       show(s, p, 1), mp->pos);
}

static int mp_fail_tail(struct zu_mp *mp, const uint8_t *p, struct zu_err *err)
{
	char s[SHOW_MAX];

	return mp_fail(mp, err, -EPROTO,
		       "boundary \"%s\" followed by \"%s\" at body offset %" PRIu64
		       ", not by \"--\" or a line break",
		       mp->delim, show(s, p, 1), mp->pos);
}

static void mp_start_headers(struct zu_mp *mp)
{
	mp->state = MP_HEADERS;
	mp->line_len = 0;
	mp->n_headers = 0;
	mp->have_range = false;
}

/* The boundary and its line: preamble, separator after data, delimiter, padding, "--". */
static int mp_byte(struct zu_mp *mp, const uint8_t *p, struct zu_err *err)
{
	uint8_t c = p[0];

	switch (mp->state) {
	case MP_PRE_LINE:
		if (c == (uint8_t)mp->delim[mp->k]) {
			if (++mp->k == mp->delim_len) {
				mp->state = MP_TAIL;
				mp->k = 0;
			}
			return 0;
		}
		/* Not a delimiter (it must start the line): the bytes so far are preamble. */
		mp->pre += mp->k + 1;
		mp->k = 0;
		mp->state = c == '\n' ? MP_PRE_LINE : MP_PRE_SKIP;
		break;
	case MP_PRE_SKIP:
		mp->pre++;
		if (c == '\n')
			mp->state = MP_PRE_LINE;
		break;
	case MP_SEP:
		if (c == '\r') {
			mp->state = MP_SEP_CR;
		} else if (c == '\n') {
			mp->state = MP_DELIM;
			mp->k = 0;
		} else if (c == (uint8_t)mp->delim[0]) {
			mp->state = MP_DELIM;
			mp->k = 1;
		} else {
			return mp_fail_sep(mp, p, err);
		}
		return 0;
	case MP_SEP_CR:
		if (c != '\n')
			return mp_fail_sep(mp, p, err);
		mp->state = MP_DELIM;
		mp->k = 0;
		return 0;
	case MP_DELIM:
		if (c != (uint8_t)mp->delim[mp->k])
			return mp_fail_sep(mp, p, err);
		if (++mp->k == mp->delim_len) {
			mp->state = MP_TAIL;
			mp->k = 0;
		}
		return 0;
	case MP_TAIL:
		if (c == '-' && mp->k == 0) {
			mp->state = MP_TAIL_DASH;
		} else if (is_ows(c)) {
			if (++mp->k + mp->delim_len > ZU_MP_LINE_MAX)
				return mp_fail(mp, err, -EOVERFLOW,
					       "boundary line at body offset %" PRIu64
					       " longer than %d bytes (padding)",
					       mp->pos - mp->k - mp->delim_len + 1, ZU_MP_LINE_MAX);
		} else if (c == '\r') {
			mp->state = MP_TAIL_CR;
		} else if (c == '\n') {
			mp_start_headers(mp);
		} else {
			return mp_fail_tail(mp, p, err);
		}
		return 0;
	case MP_TAIL_DASH:
		if (c != '-')
			return mp_fail_tail(mp, p, err);
		if (mp->n_parts == 0)
			return mp_fail(mp, err, -EPROTO,
				       "closing boundary \"%s--\" at body offset %" PRIu64
				       " before the first part",
				       mp->delim, mp->pos - 1 - mp->delim_len);
		mp->state = MP_EPILOGUE;
		return 0;
	case MP_TAIL_CR:
		if (c != '\n')
			return mp_fail_tail(mp, p, err);
		mp_start_headers(mp);
		return 0;
	default:
		assert(!"mp_byte: not a one-byte state");
		return mp_fail(mp, err, -EPROTO, "multipart parser: bad state %d", mp->state);
	}
	if (mp->pre > PREAMBLE_MAX)
		return mp_fail(mp, err, -EPROTO,
			       "more than %d bytes before the first boundary \"%s\" (body does not "
			       "start with a part)",
			       PREAMBLE_MAX, mp->delim);
	return 0;
}

/* The headers ended: the part starts. */
static int mp_part_start(struct zu_mp *mp, struct zu_err *err)
{
	int r, saved;

	if (!mp->have_range)
		return mp_fail(mp, err, -EPROTO,
			       "part %zu has no Content-Range header (its headers end at body offset "
			       "%" PRIu64 ")",
			       mp->n_parts + 1, mp->line_at);
	mp->n_parts++;
	mp->off = mp->first;
	mp->left = mp->last - mp->first + 1; /* no overflow: last < UINT64_MAX */
	mp->state = MP_DATA;
	saved = err ? err->code : 0;
	if (err)
		err->code = 0;
	r = mp->cb.part(mp->user, mp->first, mp->last, mp->total);
	if (r < 0)
		return mp_cb_fail(mp, err, r, "part");
	if (err && err->code == 0)
		err->code = saved;
	return 0;
}

/* One complete header line (its LF dropped). */
static int mp_header_line(struct zu_mp *mp, struct zu_err *err)
{
	const char *s = mp->line, *colon;
	size_t len = mp->line_len, name;
	struct zu_err e = ZU_ERR_INIT;
	int r;

	mp->line_len = 0;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len > ZU_MP_LINE_MAX)
		return mp_fail(mp, err, -EOVERFLOW,
			       "header line of part %zu at body offset %" PRIu64
			       " is longer than %d bytes",
			       mp->n_parts + 1, mp->line_at, ZU_MP_LINE_MAX);
	if (len == 0)
		return mp_part_start(mp, err);
	if (++mp->n_headers > ZU_MP_HEADERS_MAX)
		return mp_fail(mp, err, -EOVERFLOW,
			       "part %zu has more than %d header lines (body offset %" PRIu64 ")",
			       mp->n_parts + 1, ZU_MP_HEADERS_MAX, mp->line_at);
	if (is_ows((unsigned char)s[0]))
		return mp_fail(mp, err, -EPROTO,
			       "header line of part %zu at body offset %" PRIu64
			       " starts with a space (obsolete line folding is refused)",
			       mp->n_parts + 1, mp->line_at);
	/* A bare CR or a NUL in a header is how header smuggling starts: refuse them all. */
	if (memchr(s, '\r', len) || memchr(s, '\0', len))
		return mp_fail(mp, err, -EPROTO,
			       "header line of part %zu at body offset %" PRIu64
			       " has a CR or NUL byte inside",
			       mp->n_parts + 1, mp->line_at);
	colon = memchr(s, ':', len);
	for (name = 0; colon && s + name < colon; name++)
		if (!is_tchar((unsigned char)s[name]))
			break;
	if (!colon || name == 0 || s + name != colon) {
		char shown[SHOW_MAX];

		return mp_fail(mp, err, -EPROTO,
			       "header line \"%s\" of part %zu at body offset %" PRIu64
			       " is not \"Name: value\"",
			       show(shown, s, len), mp->n_parts + 1, mp->line_at);
	}
	if (!ieq(s, name, "content-range"))
		return 0; /* Content-Type and the rest do not matter here */
	if (mp->have_range)
		return mp_fail(mp, err, -EPROTO,
			       "part %zu has a second Content-Range header (body offset %" PRIu64 ")",
			       mp->n_parts + 1, mp->line_at);
	r = zu_http_parse_content_range(colon + 1, len - name - 1, &mp->first, &mp->last,
					&mp->total, &e);
	if (r < 0)
		return mp_fail(mp, err, r, "part %zu (body offset %" PRIu64 "): %s", mp->n_parts + 1,
			       mp->line_at, e.msg);
	mp->have_range = true;
	return 0;
}

/* Header bytes up to and including the next LF; *used = bytes taken. */
static int mp_headers(struct zu_mp *mp, const uint8_t *p, size_t n, size_t *used,
		      struct zu_err *err)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t take = lf ? (size_t)(lf - p) : n;

	if (mp->line_len == 0)
		mp->line_at = mp->pos;
	if (take > sizeof(mp->line) - mp->line_len)
		return mp_fail(mp, err, -EOVERFLOW,
			       "header line of part %zu at body offset %" PRIu64
			       " is longer than %d bytes",
			       mp->n_parts + 1, mp->line_at, ZU_MP_LINE_MAX);
	memcpy(mp->line + mp->line_len, p, take);
	mp->line_len += take;
	if (!lf) {
		*used = n;
		return 0;
	}
	*used = take + 1;
	return mp_header_line(mp, err);
}

static int mp_data(struct zu_mp *mp, const uint8_t *p, size_t n, size_t *used, struct zu_err *err)
{
	size_t k = mp->left < n ? (size_t)mp->left : n;
	int r, saved = err ? err->code : 0;

	if (err)
		err->code = 0;
	r = mp->cb.data(mp->user, mp->off, p, k);
	if (r < 0)
		return mp_cb_fail(mp, err, r, "data");
	if (err && err->code == 0)
		err->code = saved;
	mp->off += k;
	mp->left -= k;
	if (mp->left == 0)
		mp->state = MP_SEP;
	*used = k;
	return 0;
}

int zu_mp_feed(struct zu_mp *mp, const uint8_t *p, size_t n, struct zu_err *err)
{
	size_t i = 0;

	if (mp->state == MP_FAILED)
		return mp_replay(mp, err);
	if (!p && n > 0)
		return zu_err_set(err, -EINVAL, "multipart parser: NULL input");
	while (i < n) {
		size_t used = 1;
		int r;

		switch (mp->state) {
		case MP_DATA:
			r = mp_data(mp, p + i, n - i, &used, err);
			break;
		case MP_HEADERS:
			r = mp_headers(mp, p + i, n - i, &used, err);
			break;
		case MP_EPILOGUE:
			used = n - i;
			r = 0;
			break;
		default:
			r = mp_byte(mp, p + i, err);
			break;
		}
		if (r < 0)
			return r;
		/* Every step consumes input: no loop can spin on a hostile body. */
		assert(used > 0 && used <= n - i);
		i += used;
		mp->pos += used;
	}
	return 0;
}

int zu_mp_finish(struct zu_mp *mp, struct zu_err *err)
{
	switch (mp->state) {
	case MP_FAILED:
		return mp_replay(mp, err);
	case MP_EPILOGUE:
		return 0;
	case MP_PRE_LINE:
	case MP_PRE_SKIP:
		return mp_fail(mp, err, -EPROTO,
			       "body ended after %" PRIu64 " bytes, before the first boundary \"%s\"",
			       mp->pos, mp->delim);
	case MP_HEADERS:
		return mp_fail(mp, err, -EPROTO,
			       "body ended after %" PRIu64 " bytes, in the headers of part %zu",
			       mp->pos, mp->n_parts + 1);
	case MP_DATA:
		return mp_fail(mp, err, -EPROTO,
			       "body ended %" PRIu64 " bytes short in the part of range %" PRIu64
			       "-%" PRIu64 " (part %zu)",
			       mp->left, mp->first, mp->last, mp->n_parts);
	case MP_TAIL:
	case MP_TAIL_DASH:
	case MP_TAIL_CR:
		if (mp->n_parts == 0)
			return mp_fail(mp, err, -EPROTO,
				       "body ended after %" PRIu64 " bytes, in the first boundary "
				       "line",
				       mp->pos);
		break;
	default:
		break;
	}
	return mp_fail(mp, err, -EPROTO,
		       "body ended after %" PRIu64 " bytes, after the part of range %" PRIu64
		       "-%" PRIu64 " (part %zu) without the closing boundary \"%s--\"",
		       mp->pos, mp->first, mp->last, mp->n_parts, mp->delim);
}
