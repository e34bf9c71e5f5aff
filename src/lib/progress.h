/* SPDX-License-Identifier: MIT */
/*
 * progress - how long-running internal stages report bytes done, and learn
 * that the caller wants them to stop (checked between chunks or blocks).
 */
#ifndef ZU_PROGRESS_H
#define ZU_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum zu_phase {
	ZU_PHASE_INDEX,
	ZU_PHASE_FETCH,
	ZU_PHASE_WRITE,
	ZU_PHASE_MAKE,
	ZU_PHASE_CHECK,
	ZU_PHASE_PIECES,
};

/*
 * The caller's stop request: a C11 atomic, so zckup_cancel() may set it from
 * another thread (a volatile sig_atomic_t is only safe within one thread and
 * its signal handlers) as well as from a signal handler (atomic_int is
 * lock-free on every target we build for: checked below).
 */
typedef atomic_int zu_cancel_t;
#if ATOMIC_INT_LOCK_FREE != 2
#error "zckup needs a lock-free atomic_int for its async-signal-safe cancel flag"
#endif

/* Whether the stop was requested; f may be NULL. */
static inline bool zu_cancel_requested(const zu_cancel_t *f)
{
	return f && atomic_load_explicit(f, memory_order_relaxed) != 0;
}

struct zu_progress {
	void (*fn)(void *user, enum zu_phase phase, uint64_t done, uint64_t total);
	void *user;
	const zu_cancel_t *cancel; /* NULL, or set non-zero to stop */
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
	if (p && zu_cancel_requested(p->cancel))
		return zu_err_set(err, -ECANCELED, "cancelled");
	return 0;
}

#endif
