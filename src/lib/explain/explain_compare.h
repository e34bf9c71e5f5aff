/* SPDX-License-Identifier: MIT */
/*
 * explain_compare - reason classes of the files that cost fetched bytes, by
 * looking them up in the old image's file system and comparing contents.
 * Reads both images (borrowed descriptors); changes only the classes.
 */
#ifndef ZU_EXPLAIN_COMPARE_H
#define ZU_EXPLAIN_COMPARE_H

#include "explain/explain.h"

struct zu_explain_classify_params {
	const struct zu_xfs *new_xfs; /* what res was attributed with */
	int new_fd;
	const struct zu_xfs *old_xfs; /* NULL or type NULL: every costly file is "new" */
	int old_fd;
};

int zu_explain_classify(const struct zu_explain_classify_params *p, struct zu_explain_result *res,
			struct zu_err *err) __attribute__((warn_unused_result));

#endif
