/* SPDX-License-Identifier: MIT */
/*
 * explain_dpkg - where both images carry a Debian package database
 * (/var/lib/dpkg/status and info/PKG.list), the files that changed although
 * their package's version did not: the usual sign of a build that is not
 * reproducible. Reads only those database files; never trusts their sizes
 * beyond fixed caps.
 */
#ifndef ZU_EXPLAIN_DPKG_H
#define ZU_EXPLAIN_DPKG_H

#include "explain/explain.h"

struct zu_xdpkg {
	char *path, *package, *version;  /* owned */
	uint64_t fetch_bytes;
};

struct zu_xdpkg_list {
	struct zu_xdpkg *v;
	size_t n, cap;
	bool found;      /* both images have a package database */
};

struct zu_explain_dpkg_params {
	const struct zu_xfs *new_xfs, *old_xfs;
	int new_fd, old_fd;
	const struct zu_explain_result *res; /* classes set (explain_compare) */
};

/* Fills *out (free with zu_xdpkg_fini()); an image without a database gives none. */
int zu_explain_dpkg(const struct zu_explain_dpkg_params *p, struct zu_xdpkg_list *out,
		    struct zu_err *err) __attribute__((warn_unused_result));
void zu_xdpkg_fini(struct zu_xdpkg_list *l);

#endif
