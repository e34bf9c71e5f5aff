/* SPDX-License-Identifier: MIT */
/*
 * fetch_http - the HTTP(S) engine of the downloader process (libcurl). Gets
 * a job's byte ranges from one URL with Range requests and writes them, in
 * order, as data frames to a file descriptor. Runs unprivileged; nothing it
 * receives is trusted by the other side.
 */
#ifndef ZU_FETCH_HTTP_H
#define ZU_FETCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fetch/fetch.h"
#include "fetch/frame.h"

/* Certificates and keys read before privileges were dropped (not NUL-terminated). */
struct zu_blob {
	uint8_t *data;
	size_t len;
};

struct zu_http_tls {
	struct zu_blob cacert, cert, key;
};

struct zu_http;

/* Once per process, before zu_http_new (libcurl's global initialisation). */
int zu_http_global_init(struct zu_err *err) __attribute__((warn_unused_result));
int zu_http_new(const char *url, const struct zu_net_cfg *cfg, const struct zu_http_tls *tls,
		struct zu_http **out, struct zu_err *err) __attribute__((warn_unused_result));
/*
 * Fetches ranges r[0..n) (sorted, disjoint) and writes them to out_fd as
 * ZU_FR_DATA frames in resource order. head: r is one range from offset 0
 * that may reach past the end of the resource; it is cut at the end.
 */
int zu_http_run(struct zu_http *e, const struct zu_frame_range *r, size_t n, bool head,
		int out_fd, struct zu_err *err) __attribute__((warn_unused_result));
void zu_http_stats(const struct zu_http *e, struct zu_fetch_stats *out);
void zu_http_free(struct zu_http *e);

#endif
