/* SPDX-License-Identifier: MIT */
/*
 * meta - zckup's signed metadata: canonical build and strict parse. One
 * accepted spelling per value, so the signed bytes and what is checked are
 * the same thing; no lenient reading of untrusted input.
 */
#include "config.h"

#include "meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

#define META_MAGIC "zckup-metadata=1"
#define TIME_MIN_YEAR 1970
#define TIME_MAX_YEAR 9999

/* ---- versions ------------------------------------------------------------ */

/* Splits v into numbers; returns the count, or -EINVAL with a message. */
static int version_parse(const char *v, uint64_t parts[ZU_META_VERSION_PARTS], struct zu_err *err)
{
	size_t len = strlen(v), n = 0;
	const char *p = v;

	if (len == 0 || len > ZU_META_VERSION_MAX)
		return zu_err_set(err, -EINVAL, "version '%.80s': 1 to %d characters", v,
				  ZU_META_VERSION_MAX);
	for (;;) {
		uint64_t x = 0;
		const char *start = p;

		if (n == ZU_META_VERSION_PARTS)
			return zu_err_set(err, -EINVAL, "version '%s': more than %d numbers", v,
					  ZU_META_VERSION_PARTS);
		while (*p >= '0' && *p <= '9') {
			if (__builtin_mul_overflow(x, 10, &x) ||
			    __builtin_add_overflow(x, (uint64_t)(*p - '0'), &x))
				return zu_err_set(err, -EINVAL, "version '%s': a number beyond 2^64",
						  v);
			p++;
		}
		if (p == start || (*start == '0' && p - start > 1))
			return zu_err_set(err, -EINVAL,
					  "version '%s' at character %zu: expected a number without "
					  "leading zeros (versions are like 1.2.10)",
					  v, (size_t)(start - v) + 1);
		parts[n++] = x;
		if (*p == '\0')
			return (int)n;
		if (*p != '.')
			return zu_err_set(err, -EINVAL,
					  "version '%s' at character %zu: only digits and dots "
					  "(versions are like 1.2.10)",
					  v, (size_t)(p - v) + 1);
		p++;
	}
}

int zu_version_check(const char *v, struct zu_err *err)
{
	uint64_t parts[ZU_META_VERSION_PARTS];
	int n = version_parse(v, parts, err);

	return n < 0 ? n : 0;
}

int zu_version_cmp(const char *a, const char *b, int *out, struct zu_err *err)
{
	uint64_t pa[ZU_META_VERSION_PARTS], pb[ZU_META_VERSION_PARTS];
	int na = version_parse(a, pa, err), nb;

	if (na < 0)
		return na;
	nb = version_parse(b, pb, err);
	if (nb < 0)
		return nb;
	*out = 0;
	for (int i = 0; i < ZU_META_VERSION_PARTS && (i < na || i < nb); i++) {
		uint64_t x = i < na ? pa[i] : 0, y = i < nb ? pb[i] : 0;

		if (x != y) {
			*out = x < y ? -1 : 1;
			break;
		}
	}
	return 0;
}

int zu_hw_check(const char *s, struct zu_err *err)
{
	size_t len = strlen(s);

	if (len == 0 || len > ZU_META_HW_MAX)
		return zu_err_set(err, -EINVAL, "hardware string: 1 to %d characters, got %zu",
				  ZU_META_HW_MAX, len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return zu_err_set(err, -EINVAL,
					  "hardware string: character %zu is not printable ASCII "
					  "(spaces neither)",
					  i + 1);
	return 0;
}

/* ---- UTC times (proleptic Gregorian, no leap seconds, like time_t) -------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = z / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int zu_time_parse(const char *s, size_t n, int64_t *out, struct zu_err *err)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, se;

	if (n != ZU_META_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &se))
		return zu_err_set(err, -EINVAL, "time '%.*s': expected YYYY-MM-DDTHH:MM:SSZ (UTC)",
				  (int)(n > 40 ? 40 : n), s);
	if (y < TIME_MIN_YEAR || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 || mi > 59 || se > 59)
		return zu_err_set(err, -EINVAL, "time '%.20s' does not exist (years %d..%d)", s,
				  TIME_MIN_YEAR, TIME_MAX_YEAR);
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

int zu_time_format(int64_t t, char out[ZU_META_TIME_LEN + 1], struct zu_err *err)
{
	int64_t y, secs;
	unsigned m, d;
	char buf[64];

	if (t < 0 || t > days_from_civil(TIME_MAX_YEAR, 12, 31) * 86400 + 86399)
		return zu_err_set(err, -EINVAL, "time %" PRId64 " is outside years %d..%d", t,
				  TIME_MIN_YEAR, TIME_MAX_YEAR);
	civil_from_days(t / 86400, &y, &m, &d);
	secs = t % 86400;
	snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d,
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	memcpy(out, buf, ZU_META_TIME_LEN);
	out[ZU_META_TIME_LEN] = '\0';
	return 0;
}

/* ---- the file ------------------------------------------------------------ */

int zu_meta_build(const struct zu_meta *m, char *out, size_t cap, size_t *out_len,
		  struct zu_err *err)
{
	char hex[65], when[ZU_META_TIME_LEN + 1] = "";
	int n, r;

	r = zu_version_check(m->version, err);
	if (r == 0 && m->hw_compat[0])
		r = zu_hw_check(m->hw_compat, err);
	if (r == 0 && m->has_expires)
		r = zu_time_format(m->expires, when, err);
	if (r < 0)
		return r;
	zu_hex(m->header_sha256, 32, hex);
	n = snprintf(out, cap,
		     META_MAGIC "\nheader-sha256=%s\nheader-bytes=%" PRIu64 "\nversion=%s\n%s%s%s%s%s",
		     hex, m->header_bytes, m->version, m->has_expires ? "expires=" : "", when,
		     m->has_expires ? "\n" : "", m->hw_compat[0] ? "hw-compat=" : "",
		     m->hw_compat);
	if (n < 0 || (size_t)n >= cap || (m->hw_compat[0] && (size_t)n + 1 >= cap))
		return zu_err_set(err, -EOVERFLOW, "metadata does not fit in %zu bytes", cap);
	if (m->hw_compat[0])
		out[n++] = '\n';
	*out_len = (size_t)n;
	return 0;
}

/* One line "key=value\n" at *pos; the value is [*out_v, *out_v + *out_n). */
static int next_line(const char *buf, size_t n, size_t *pos, unsigned lineno, const char *key,
		     const char **out_v, size_t *out_n, struct zu_err *err)
{
	size_t klen = strlen(key);
	const char *line = buf + *pos, *nl = memchr(line, '\n', n - *pos);

	if (!nl)
		return zu_err_set(err, -EBADMSG, "metadata line %u: no end of line ('\\n')",
				  lineno);
	if ((size_t)(nl - line) <= klen || memcmp(line, key, klen) || line[klen] != '=')
		return zu_err_set(err, -EBADMSG, "metadata line %u: expected '%s=...'", lineno,
				  key);
	*out_v = line + klen + 1;
	*out_n = (size_t)(nl - *out_v);
	*pos += (size_t)(nl - line) + 1;
	return 0;
}

static bool line_is(const char *buf, size_t n, size_t pos, const char *key)
{
	size_t klen = strlen(key);

	return n - pos > klen && !memcmp(buf + pos, key, klen) && buf[pos + klen] == '=';
}

/* Copies a value into a C string, refusing bytes outside printable ASCII. */
static int value_str(const char *v, size_t n, size_t max, char *out, unsigned lineno,
		     struct zu_err *err)
{
	if (n == 0 || n > max)
		return zu_err_set(err, -EBADMSG, "metadata line %u: value of 1 to %zu bytes",
				  lineno, max);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return zu_err_set(err, -EBADMSG,
					  "metadata line %u: byte %zu of the value is not printable",
					  lineno, i + 1);
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int parse_u64(const char *v, size_t n, unsigned lineno, uint64_t *out, struct zu_err *err)
{
	uint64_t x = 0;

	if (n == 0 || n > 20 || (v[0] == '0' && n > 1))
		return zu_err_set(err, -EBADMSG, "metadata line %u: not a canonical decimal",
				  lineno);
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || __builtin_mul_overflow(x, 10, &x) ||
		    __builtin_add_overflow(x, (uint64_t)(v[i] - '0'), &x))
			return zu_err_set(err, -EBADMSG,
					  "metadata line %u: not a decimal number below 2^64",
					  lineno);
	}
	*out = x;
	return 0;
}

static int parse_sha(const char *v, size_t n, uint8_t out[32], struct zu_err *err)
{
	char hex[65];

	if (n != 64)
		return zu_err_set(err, -EBADMSG, "metadata line 2: header-sha256 wants 64 hex "
				  "digits, got %zu characters", n);
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return zu_err_set(err, -EBADMSG,
					  "metadata line 2: header-sha256 wants lower-case hex");
	memcpy(hex, v, 64);
	hex[64] = '\0';
	if (zu_unhex_sha256(hex, out) < 0)
		return zu_err_set(err, -EBADMSG, "metadata line 2: bad header-sha256");
	return 0;
}

/* A value that the checks for its kind refused: malformed metadata. */
static int bad_value(struct zu_err *err, unsigned lineno)
{
	zu_err_prefix(err, "metadata line %u", lineno);
	err->code = -EBADMSG;
	return -EBADMSG;
}

int zu_meta_parse(const void *data, size_t n, struct zu_meta *out, struct zu_err *err)
{
	const char *buf = data, *v;
	struct zu_meta m = { 0 };
	size_t pos = 0, vn;
	unsigned lineno = 1;
	int r;

	*out = m;
	if (n > ZU_META_MAX)
		return zu_err_set(err, -EOVERFLOW, "metadata of %zu bytes: at most %d", n,
				  ZU_META_MAX);
	if (n < sizeof(META_MAGIC) || memcmp(buf, META_MAGIC "\n", sizeof(META_MAGIC)))
		return zu_err_set(err, -EBADMSG,
				  "not zckup metadata: the first line is not '" META_MAGIC "'");
	pos = sizeof(META_MAGIC);
	lineno++;
	r = next_line(buf, n, &pos, lineno, "header-sha256", &v, &vn, err);
	if (r == 0)
		r = parse_sha(v, vn, m.header_sha256, err);
	if (r == 0)
		r = next_line(buf, n, &pos, ++lineno, "header-bytes", &v, &vn, err);
	if (r == 0)
		r = parse_u64(v, vn, lineno, &m.header_bytes, err);
	if (r == 0)
		r = next_line(buf, n, &pos, ++lineno, "version", &v, &vn, err);
	if (r == 0)
		r = value_str(v, vn, ZU_META_VERSION_MAX, m.version, lineno, err);
	if (r == 0 && zu_version_check(m.version, err) < 0)
		r = bad_value(err, lineno);
	if (r == 0 && pos < n && line_is(buf, n, pos, "expires")) {
		r = next_line(buf, n, &pos, ++lineno, "expires", &v, &vn, err);
		if (r == 0 && zu_time_parse(v, vn, &m.expires, err) < 0)
			r = bad_value(err, lineno);
		m.has_expires = r == 0;
	}
	if (r == 0 && pos < n && line_is(buf, n, pos, "hw-compat")) {
		r = next_line(buf, n, &pos, ++lineno, "hw-compat", &v, &vn, err);
		if (r == 0)
			r = value_str(v, vn, ZU_META_HW_MAX, m.hw_compat, lineno, err);
		if (r == 0 && zu_hw_check(m.hw_compat, err) < 0)
			r = bad_value(err, lineno);
	}
	if (r == 0 && pos != n)
		r = zu_err_set(err, -EBADMSG,
			       "metadata line %u: unexpected (after version come only expires= "
			       "and hw-compat=, in this order, once each)",
			       lineno + 1);
	if (r < 0)
		return r;
	*out = m;
	return 0;
}
