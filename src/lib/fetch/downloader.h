/* SPDX-License-Identifier: MIT */
/*
 * downloader - the body of the unprivileged fetch process: sheds every file
 * descriptor but its socket, drops to an unprivileged user, forbids new
 * privileges, then serves jobs (head reads, range lists) from the privileged
 * process with the HTTP engine until its socket closes.
 */
#ifndef ZU_DOWNLOADER_H
#define ZU_DOWNLOADER_H

#include "fetch/fetch.h"

/* In the child after fork(); never returns. */
void zu_downloader_main(int sock, const char *url, const struct zu_net_cfg *cfg)
	__attribute__((noreturn));

#endif
