/* SPDX-License-Identifier: MIT */
/*
 * api_explain_none - libzckup built with -Dexplain=disabled (a device's
 * build: explain is a build-host tool): the explain entry points exist, and
 * zckup_explain_new() says it is not built in (-ENOTSUP).
 */
#include "config.h"

#include <string.h>

#include "api_private.h"

ZCKUP_API int zckup_explain_new(zckup_ctx *ctx, const struct zckup_explain_opts *o,
				zckup_explain **out)
{
	(void)o;
	if (out)
		*out = NULL;
	return zu_err_set(&ctx->err, -ENOTSUP, "explain is not built in (-Dexplain=disabled)");
}

ZCKUP_API void zckup_explain_free(zckup_explain *e)
{
	(void)e;
}

ZCKUP_API const char *zckup_explain_readers(void)
{
	return "";
}

ZCKUP_API const char *zckup_explain_class_name(enum zckup_explain_class c)
{
	(void)c;
	return "other";
}

ZCKUP_API void zckup_explain_get_totals(const zckup_explain *e, struct zckup_explain_totals *out)
{
	(void)e;
	memset(out, 0, sizeof(*out));
	out->fs_type = out->old_fs_type = "none";
}

ZCKUP_API int zckup_explain_get_file(const zckup_explain *e, size_t i,
				     struct zckup_explain_entry *out)
{
	(void)e;
	(void)i;
	if (out)
		memset(out, 0, sizeof(*out));
	return -EINVAL;
}

ZCKUP_API int zckup_explain_get_dir(const zckup_explain *e, size_t i,
				    struct zckup_explain_entry *out)
{
	return zckup_explain_get_file(e, i, out);
}

ZCKUP_API int zckup_explain_get_cell(const zckup_explain *e, size_t i,
				     struct zckup_explain_cell *out)
{
	(void)e;
	(void)i;
	if (out)
		memset(out, 0, sizeof(*out));
	return -EINVAL;
}

ZCKUP_API int zckup_explain_get_dpkg(const zckup_explain *e, size_t i,
				     struct zckup_explain_dpkg *out)
{
	(void)e;
	(void)i;
	if (out)
		memset(out, 0, sizeof(*out));
	return -EINVAL;
}
