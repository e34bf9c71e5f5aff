/* SPDX-License-Identifier: MIT */
/*
 * err - the error context every fallible internal function fills.
 * The function that detects a failure writes the facts; callers only prefix
 * context. Needs no allocation, so it works when memory is exhausted.
 */
#ifndef ZU_ERR_H
#define ZU_ERR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define ZU_ERR_MSG_LEN 512

struct zu_err {
	int code;
	char msg[ZU_ERR_MSG_LEN];
};

#define ZU_ERR_INIT { 0, { 0 } }

/* Sets code and message; returns code (so: return zu_err_set(err, -EBADMSG, ...)). */
int zu_err_set(struct zu_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Puts "formatted: " before the existing message; returns e->code. */
int zu_err_prefix(struct zu_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets -errno_value with "what: strerror(errno_value)"; returns the code. */
int zu_err_sys(struct zu_err *e, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void zu_err_clear(struct zu_err *e);

/* Overflow-checked arithmetic for lengths taken from untrusted input. */
static inline int zu_add_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

static inline int zu_mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

#endif
