/* SPDX-License-Identifier: MIT */
/* sink_user - an integrator's struct zckup_sink_ops behind the internal sink interface. */
#ifndef ZU_SINK_USER_H
#define ZU_SINK_USER_H

#include "sink/sink.h"
#include "zckup.h"

/* ops and user are borrowed and must outlive the sink. */
int zu_sink_user_open(const struct zckup_sink_ops *ops, void *user, struct zu_sink *out,
		      struct zu_err *err) __attribute__((warn_unused_result));

#endif
