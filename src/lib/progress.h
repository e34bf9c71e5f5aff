/* SPDX-License-Identifier: MIT */
/* progress - how long-running internal stages report bytes done (no I/O here). */
#ifndef ZU_PROGRESS_H
#define ZU_PROGRESS_H

#include <stdint.h>

enum zu_phase { ZU_PHASE_INDEX, ZU_PHASE_FETCH, ZU_PHASE_WRITE, ZU_PHASE_MAKE, ZU_PHASE_CHECK };

struct zu_progress {
	void (*fn)(void *user, enum zu_phase phase, uint64_t done, uint64_t total);
	void *user;
};

static inline void zu_progress_report(const struct zu_progress *p, enum zu_phase phase,
				      uint64_t done, uint64_t total)
{
	if (p && p->fn)
		p->fn(p->user, phase, done, total);
}

#endif
