/* SPDX-License-Identifier: MIT */
/*
 * multipart - an incremental parser for HTTP multipart/byteranges bodies (RFC 9110 14.6, RFC 2046
 * framing) and the Content-Range and Content-Type values it needs. Pure: bytes in, parts and
 * (offset, bytes) out through callbacks; no I/O, no allocation, memory fixed by struct zu_mp.
 * It parses bytes from hostile servers, so a part's data is delimited by its Content-Range length,
 * never by searching for the boundary: a byte is only ever reported at the offset its part claims.
 */
#ifndef ZU_MULTIPART_H
#define ZU_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ZU_MP_BOUNDARY_MAX 70 /* RFC 2046 */
#define ZU_MP_LINE_MAX 1024   /* longest header line accepted inside the body */
#define ZU_MP_HEADERS_MAX 32  /* header lines per part */

/*
 * "bytes FIRST-LAST/TOTAL", TOTAL possibly '*' (then total = UINT64_MAX).
 * v need not be NUL-terminated (n bytes); surrounding spaces/tabs are allowed, the unit is
 * case-insensitive. Returns 0, or -EPROTO (with a message) when malformed, when LAST < FIRST, when
 * LAST >= TOTAL, or on 64-bit overflow (which includes LAST = 2^64-1, whose length does not fit,
 * and a numeric TOTAL of 2^64-1, which could not be told from '*'). Outputs are written only on
 * success.
 */
int zu_http_parse_content_range(const char *v, size_t n, uint64_t *out_first, uint64_t *out_last,
				uint64_t *out_total, struct zu_err *err)
	__attribute__((warn_unused_result));

/*
 * From a Content-Type value: 1 when it is multipart/byteranges (case-insensitive, parameters in any
 * order, boundary quoted or not) with its boundary copied NUL-terminated into boundary (size >=
 * ZU_MP_BOUNDARY_MAX + 1); 0 when it is some other type; -EPROTO when it is multipart/byteranges
 * without a usable boundary (missing, empty, given twice, longer than ZU_MP_BOUNDARY_MAX, with
 * bytes RFC 2046 forbids) or with malformed parameters. boundary is written only when 1 is
 * returned. Unquoted boundaries may hold any bchar, also '/', '=' and ':' that tokens do not allow.
 */
int zu_http_parse_multipart_type(const char *v, size_t n, char *boundary, struct zu_err *err)
	__attribute__((warn_unused_result));

/*
 * A callback returning <0 stops the parser, which returns that code (and keeps returning it). A
 * callback that can reach the struct zu_err given to zu_mp_feed (through user) may write its own
 * message there with the code it returns; the message is then kept, prefixed with the part.
 * Otherwise the message names the part and the code. (err->code reads 0 during a call.)
 */
struct zu_mp_callbacks {
	/* A part starts; its Content-Range. <0 stops the parser with that code. */
	int (*part)(void *user, uint64_t first, uint64_t last, uint64_t total);
	/* n bytes of the current part, which belong at absolute offset off of the resource. */
	int (*data)(void *user, uint64_t off, const uint8_t *p, size_t n);
};

/* Parser state: callers only embed it and call the functions below. */
struct zu_mp {
	struct zu_mp_callbacks cb;
	void *user;
	int state;
	char delim[2 + ZU_MP_BOUNDARY_MAX + 1]; /* "--BOUNDARY", NUL-terminated for messages */
	size_t delim_len;
	size_t k;           /* delimiter bytes matched, or padding bytes after it */
	size_t pre;         /* preamble bytes so far */
	size_t n_parts;     /* parts whose headers ended (part callback called) */
	size_t n_headers;   /* header lines of the part being read */
	bool have_range;
	uint64_t first, last, total; /* Content-Range of the current (or last) part */
	uint64_t off, left; /* where the next data byte goes, and how many are still due */
	uint64_t pos;       /* body bytes consumed, for messages */
	uint64_t line_at;   /* body offset of the header line being read */
	size_t line_len;
	char line[ZU_MP_LINE_MAX + 1]; /* one header line and its CR */
	struct zu_err fail; /* the error every call returns once one happened */
};

/* boundary without the leading "--". Returns 0 or -EINVAL (bad boundary). cb is copied. */
int zu_mp_init(struct zu_mp *mp, const char *boundary, const struct zu_mp_callbacks *cb, void *user,
	       struct zu_err *err) __attribute__((warn_unused_result));
/*
 * Feeds the next n body bytes (any split, down to 1 byte at a time). 0, or <0 with a message
 * (-EPROTO framing, -EOVERFLOW oversize line or too many headers, or a callback's code). After an
 * error every later call returns the same error; err is written only on error. Data pointers given
 * to callbacks point into p.
 */
int zu_mp_feed(struct zu_mp *mp, const uint8_t *p, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * The body ended. 0 only when the closing boundary ("--BOUNDARY--") was seen; -EPROTO otherwise
 * (message says where: in part headers, N bytes short in the part of range a-b, before the first
 * part...). The epilogue after the closing boundary is ignored without being buffered, however
 * long: callers bound the body size.
 */
int zu_mp_finish(struct zu_mp *mp, struct zu_err *err) __attribute__((warn_unused_result));
/* Parts seen so far (for messages and stats). */
size_t zu_mp_parts(const struct zu_mp *mp);

#endif
