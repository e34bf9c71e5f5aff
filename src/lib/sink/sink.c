/* SPDX-License-Identifier: MIT */
/*
 * sink - the backend-independent part of sinks: releasing one. Backends live
 * in sink_<kind>.c and fill a struct zu_sink with their ops table.
 */
#include "config.h"

#include "sink/sink.h"

void zu_sink_free(struct zu_sink *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->free)
		s->ops->free(s->priv);
	s->ops = NULL;
	s->priv = NULL;
}

void zu_sink_set_cancel(struct zu_sink *s, const zu_cancel_t *cancel)
{
	if (s && s->ops && s->ops->set_cancel)
		s->ops->set_cancel(s->priv, cancel);
}
