/* SPDX-License-Identifier: MIT */
/*
 * fetch_http_none - the HTTP(S) engine of a build without libcurl
 * (meson -Dhttp=disabled, e.g. a static CLI for an initramfs): every http://
 * or https:// URL is refused with -ENOTSUP; local files and file:// URLs,
 * which never reach the downloader, work as in any build.
 */
#include "config.h"

#include "fetch/fetch_http.h"

#include <errno.h>

int zu_http_global_init(struct zu_err *err)
{
	(void)err;
	return 0;
}

int zu_http_new(const char *url, const struct zu_net_cfg *cfg, const struct zu_http_tls *tls,
		struct zu_http **out, struct zu_err *err)
{
	(void)cfg;
	(void)tls;
	*out = NULL;
	return zu_err_set(err, -ENOTSUP, "%s: this zckup was built without HTTP(S) (-Dhttp=disabled)",
			  url);
}

int zu_http_run(struct zu_http *e, const struct zu_frame_range *r, size_t n, bool head,
		int out_fd, struct zu_err *err)
{
	(void)e;
	(void)r;
	(void)n;
	(void)head;
	(void)out_fd;
	return zu_err_set(err, -ENOTSUP, "built without HTTP(S) (-Dhttp=disabled)");
}

void zu_http_stats(const struct zu_http *e, struct zu_fetch_stats *out)
{
	(void)e;
	(void)out;
}

void zu_http_free(struct zu_http *e)
{
	(void)e;
}
