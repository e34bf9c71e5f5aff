/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int zu_err_set(struct zu_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* out = a ": " b, cut to fit: a message may be truncated, never overflowed. */
static void join_truncated(char *out, size_t cap, const char *a, const char *b)
{
	size_t len = 0;
	const char *parts[3] = { a, ": ", b };

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(parts[i]);

		if (n > cap - 1 - len)
			n = cap - 1 - len;
		memcpy(out + len, parts[i], n);
		len += n;
	}
	out[len] = '\0';
}

int zu_err_prefix(struct zu_err *e, const char *fmt, ...)
{
	char head[ZU_ERR_MSG_LEN];
	char old[ZU_ERR_MSG_LEN];
	va_list ap;

	if (!e)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	join_truncated(e->msg, sizeof(e->msg), head, old);
	return e->code;
}

int zu_err_sys(struct zu_err *e, int errno_value, const char *fmt, ...)
{
	char head[ZU_ERR_MSG_LEN];
	va_list ap;
	int code = errno_value > 0 ? -errno_value : -EIO;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	join_truncated(e->msg, sizeof(e->msg), head, strerror(-code));
	e->code = code;
	return code;
}

void zu_err_clear(struct zu_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}
