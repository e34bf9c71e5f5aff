/* SPDX-License-Identifier: MIT */
/*
 * meta - zckup's signed metadata ("zckup-metadata=1"): a few "key=value\n"
 * lines that bind a version, an optional expiry and an optional hardware
 * string to one header's checksum. Build, strict parse, version order and
 * UTC times. Pure: no I/O, no clock, no OpenSSL (fuzzable like format.c).
 * Format facts: README "Artifact format".
 */
#ifndef ZU_META_H
#define ZU_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ZU_META_MAX 1024         /* bytes of a whole metadata file */
#define ZU_META_VERSION_MAX 64   /* characters of a version */
#define ZU_META_VERSION_PARTS 16 /* dot-separated components */
#define ZU_META_HW_MAX 128       /* characters of a hardware string */
#define ZU_META_TIME_LEN 20      /* "YYYY-MM-DDTHH:MM:SSZ" */

struct zu_meta {
	uint8_t header_sha256[32];           /* the header checksum (as the lead records it) */
	uint64_t header_bytes;               /* the header's size */
	char version[ZU_META_VERSION_MAX + 1];
	bool has_expires;
	int64_t expires;                     /* seconds since the epoch, UTC */
	char hw_compat[ZU_META_HW_MAX + 1];  /* "" when absent */
};

/*
 * Parses metadata: exactly the lines "zckup-metadata=1", "header-sha256=",
 * "header-bytes=", "version=", then optionally "expires=" and "hw-compat=",
 * in this order, each ending in "\n", each value canonical (lower-case hex,
 * decimal without leading zeros, a valid version and time). Anything else is
 * -EBADMSG with the line number; more than ZU_META_MAX bytes is -EOVERFLOW.
 */
int zu_meta_parse(const void *buf, size_t n, struct zu_meta *out, struct zu_err *err)
	__attribute__((warn_unused_result));

/*
 * Writes m in the one canonical form into out[0..cap) (no NUL added);
 * *out_len the length. -EINVAL for an invalid version, hardware string or time.
 */
int zu_meta_build(const struct zu_meta *m, char *out, size_t cap, size_t *out_len,
		  struct zu_err *err) __attribute__((warn_unused_result));

/*
 * Checks a version: 1 to ZU_META_VERSION_PARTS dot-separated decimal numbers,
 * each without leading zeros ("0" itself allowed) and below 2^64, at most
 * ZU_META_VERSION_MAX characters. -EINVAL otherwise.
 */
int zu_version_check(const char *v, struct zu_err *err) __attribute__((warn_unused_result));
/*
 * Compares two valid versions number by number, a missing number counting as
 * 0 ("1.2" == "1.2.0" < "1.10"). *out is <0, 0 or >0. -EINVAL when either is
 * not a valid version.
 */
int zu_version_cmp(const char *a, const char *b, int *out, struct zu_err *err)
	__attribute__((warn_unused_result));

/* Checks a hardware string: 1..ZU_META_HW_MAX printable ASCII characters, no space. */
int zu_hw_check(const char *s, struct zu_err *err) __attribute__((warn_unused_result));

/* Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (UTC, years 1970..9999). -EINVAL otherwise. */
int zu_time_parse(const char *s, size_t n, int64_t *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Formats t (0 .. 9999-12-31T23:59:59Z) as "YYYY-MM-DDTHH:MM:SSZ" plus NUL; -EINVAL if out of range. */
int zu_time_format(int64_t t, char out[ZU_META_TIME_LEN + 1], struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
