/* SPDX-License-Identifier: MIT */
/*
 * progress - how long-running internal stages report bytes done, and learn
 * that the caller wants them to stop (checked between chunks or blocks).
 */
#ifndef ZU_PROGRESS_H
#define ZU_PROGRESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum zu_phase { ZU_PHASE_INDEX, ZU_PHASE_FETCH, ZU_PHASE_WRITE, ZU_PHASE_MAKE, ZU_PHASE_CHECK };

struct zu_progress {
	void (*fn)(void *user, enum zu_phase phase, uint64_t done, uint64_t total);
	void *user;
	const volatile sig_atomic_t *cancel; /* NULL, or set non-zero to stop */
};

static inline void zu_progress_report(const struct zu_progress *p, enum zu_phase phase,
				      uint64_t done, uint64_t total)
{
	if (p && p->fn)
		p->fn(p->user, phase, done, total);
}

/* -ECANCELED when the caller asked to stop, else 0. */
static inline int zu_progress_check_cancel(const struct zu_progress *p, struct zu_err *err)
{
	if (p && p->cancel && *p->cancel)
		return zu_err_set(err, -ECANCELED, "cancelled");
	return 0;
}

#endif
