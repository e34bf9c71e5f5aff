/* SPDX-License-Identifier: MIT */
/*
 * precheck - zu_index_check() split over threads. The places that source
 * index headers claim are checked before the plan (a stale one must be
 * fetched, and the fetch is asked for up front), so on the critical path:
 * the located chunks are cut into runs of about equal bytes, each checked by
 * zu_index_check() on its own thread, and the results put back together.
 * Same results and stats as one zu_index_check(); never reads anything else.
 */
#ifndef ZU_PRECHECK_H
#define ZU_PRECHECK_H

#include "err.h"
#include "index.h"

/* As zu_index_check(), on up to n_threads threads (0 or 1: on this one). */
int zu_precheck_run(const struct zu_index_params *p, struct zu_seed_loc *locs,
		    unsigned n_threads, struct zu_index_check_stats *out_stats,
		    struct zu_err *err) __attribute__((warn_unused_result));

#endif
