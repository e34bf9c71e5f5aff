/* SPDX-License-Identifier: MIT */
/* cli_explain - the page of zckup explain --html (explain_html.c); public API only. */
#ifndef ZCKUP_CLI_EXPLAIN_H
#define ZCKUP_CLI_EXPLAIN_H

#include "zckup.h"

/*
 * Writes one self-contained HTML page (inline style and script, no network)
 * to path: a map of the image along its offsets, bars of the top files and
 * directories, the totals. Returns EXIT_OK or EXIT_IO (message printed).
 */
int cli_explain_html(const zckup_explain *e, const char *old, const char *new, const char *path);

#endif
