/* SPDX-License-Identifier: MIT */
/*
 * sink_user - adapts an integrator's public struct zckup_sink_ops to the
 * internal sink interface: checks the in-order contract and turns the
 * integrator's -errno returns into messages.
 */
#include "config.h"

#include "sink/sink_user.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct user_priv {
	const struct zckup_sink_ops *ops;
	void *user;
	uint64_t next; /* offset the next write must start at */
};

static int user_status(int r, const char *what, uint64_t off, struct zu_err *err)
{
	if (r >= 0)
		return 0;
	return zu_err_set(err, r, "custom sink %s at offset %" PRIu64 " failed: %s", what, off,
			  strerror(-r));
}

static int user_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct user_priv *s = priv;
	int r;

	if (off != s->next)
		return zu_err_set(err, -ENOTRECOVERABLE, "custom sink: write at %" PRIu64 ", expected %" PRIu64,
				  off, s->next);
	r = s->ops->write(s->user, off, p, n);
	s->next += n;
	return user_status(r, "write", off, err);
}

static int user_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct user_priv *s = priv;

	return s->ops->commit ? user_status(s->ops->commit(s->user, size), "commit", size, err) : 0;
}

static void user_abort(void *priv)
{
	struct user_priv *s = priv;

	if (s->ops->abort)
		s->ops->abort(s->user);
}

static void user_free(void *priv)
{
	free(priv);
}

static const struct zu_sink_ops zu_sink_user_ops = {
	.name = "custom",
	.write_at = user_write_at,
	.commit = user_commit,
	.abort = user_abort,
	.free = user_free,
};

int zu_sink_user_open(const struct zckup_sink_ops *ops, void *user, struct zu_sink *out,
		      struct zu_err *err)
{
	struct user_priv *s;

	if (!ops || !ops->write)
		return zu_err_set(err, -EINVAL, "custom sink without a write function");
	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "out of memory");
	s->ops = ops;
	s->user = user;
	out->ops = &zu_sink_user_ops;
	out->priv = s;
	return 0;
}
