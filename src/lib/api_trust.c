/* SPDX-License-Identifier: MIT */
/*
 * api_trust - the public signature and anti-rollback entry points: which
 * bytes are signed (metadata, then the header as a .zck starts with it), the
 * reading of signature and metadata (bounded, through the fetcher), and the
 * checks of the signed metadata. Cryptography is in sig.c, the metadata
 * format in meta.c.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_private.h"
#include "hash.h"
#include "io.h"
#include "meta.h"
#include "sig.h"

static const uint8_t canonical_magic[5] = { 0, 'Z', 'C', 'K', '1' };
static const uint8_t detached_magic[5] = { 0, 'Z', 'H', 'R', '1' };

_Static_assert((int)ZCKUP_SIG_CMS == (int)ZU_SIG_CMS &&
		       (int)ZCKUP_SIG_ED25519 == (int)ZU_SIG_ED25519 &&
		       (int)ZCKUP_SIG_RSA_PSS == (int)ZU_SIG_RSA_PSS &&
		       (int)ZCKUP_PURPOSE_ANY == (int)ZU_SIG_PURPOSE_ANY &&
		       (int)ZCKUP_PURPOSE_CODE_SIGN == (int)ZU_SIG_PURPOSE_CODE_SIGN,
	       "public and internal signature enums agree");
_Static_assert(ZCKUP_TRUST_VERSION_MAX == ZU_META_VERSION_MAX &&
		       ZCKUP_TRUST_HW_MAX == ZU_META_HW_MAX,
	       "public and internal metadata sizes agree");

/*
 * The signed bytes: meta (may be empty), then the header with the given magic
 * ("\0ZCK1" as the .zck starts, what zckup sign signs; or "\0ZHR1", the
 * detached file as shipped). Borrows the header's own bytes when they already
 * are exactly that.
 */
static int signed_message(const struct zu_header *h, const uint8_t magic[5], const char *meta,
			  size_t meta_len, uint8_t **out_owned, const uint8_t **out_msg,
			  size_t *out_len, struct zu_err *err)
{
	uint8_t *buf;

	*out_owned = NULL;
	if (h->raw_len < sizeof(canonical_magic))
		return zu_err_set(err, -EINVAL, "no parsed header");
	if (meta_len == 0 && !memcmp(h->raw, magic, sizeof(canonical_magic))) {
		*out_msg = h->raw;
		*out_len = h->raw_len;
		return 0;
	}
	buf = malloc(meta_len + h->raw_len);
	if (!buf)
		return zu_err_set(err, -ENOMEM, "out of memory for %zu signed bytes",
				  meta_len + h->raw_len);
	if (meta_len)
		memcpy(buf, meta, meta_len);
	memcpy(buf + meta_len, magic, sizeof(canonical_magic));
	memcpy(buf + meta_len + sizeof(canonical_magic), h->raw + sizeof(canonical_magic),
	       h->raw_len - sizeof(canonical_magic));
	*out_owned = buf;
	*out_msg = buf;
	*out_len = meta_len + h->raw_len;
	return 0;
}

/* Prefixes the message and makes the failure an authentication failure. */
static int reject(struct zu_err *err, const char *what)
{
	zu_err_prefix(err, "%s", what);
	err->code = -EKEYREJECTED;
	return -EKEYREJECTED;
}

/*
 * Reads at most max bytes of the resource at loc (path or URL) into a new
 * buffer. A resource that does not exist is -EKEYREJECTED: an update whose
 * signature is absent is refused as unauthenticated.
 */
static int read_small(zckup_ctx *ctx, const char *loc, size_t max, const char *what,
		      uint8_t **out, size_t *out_len)
{
	struct zu_fetch *f = NULL;
	uint8_t *buf = malloc(max + 1);
	ssize_t got = -ENOMEM;
	int r;

	if (!buf)
		return zu_err_set(&ctx->err, -ENOMEM, "out of memory");
	r = zu_fetch_open(loc, &ctx->lim, &ctx->net, &f, &ctx->err);
	if (r == 0) {
		got = zu_fetch_read_head(f, buf, max + 1, &ctx->err);
		r = got < 0 ? (int)got : 0;
	}
	zu_fetch_free(f);
	if (r == -ENOENT)
		r = reject(&ctx->err, what);
	else if (r == 0 && (size_t)got > max)
		r = zu_err_set(&ctx->err, -EKEYREJECTED, "the %s %s has more than %zu bytes",
			       what, loc, max);
	else if (r == 0 && got == 0)
		r = zu_err_set(&ctx->err, -EKEYREJECTED, "the %s %s is empty", what, loc);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = (size_t)got;
	return 0;
}

static int check_opts(zckup_ctx *ctx, const struct zckup_trust_opts *o)
{
	struct zu_err *err = &ctx->err;

	if (!o->pubkey == !o->ca_file)
		return zu_err_set(err, -EINVAL,
				  "verification needs exactly one of a public key and a CA file");
	if (o->purpose != ZCKUP_PURPOSE_SMIME_SIGN && o->purpose != ZCKUP_PURPOSE_CODE_SIGN &&
	    o->purpose != ZCKUP_PURPOSE_ANY)
		return zu_err_set(err, -EINVAL, "unknown certificate purpose %d", (int)o->purpose);
	if (o->min_version && zu_version_check(o->min_version, err) < 0)
		return zu_err_prefix(err, "minimum version");
	if (o->hw_compat && zu_hw_check(o->hw_compat, err) < 0)
		return zu_err_prefix(err, "device hardware");
	return 0;
}

/* The metadata names this header (checksum and size). */
static int check_binding(zckup_ctx *ctx, const struct zu_header *h, const struct zu_meta *m)
{
	char want[2 * ZU_DIGEST_LEN + 1], got[2 * ZU_DIGEST_LEN + 1];

	if (memcmp(m->header_sha256, h->header_digest, ZU_DIGEST_LEN) ||
	    m->header_bytes != h->raw_len) {
		zu_hex(m->header_sha256, ZU_DIGEST_LEN, want);
		zu_hex(h->header_digest, ZU_DIGEST_LEN, got);
		return zu_err_set(&ctx->err, -EKEYREJECTED,
				  "the metadata is for header %s (%" PRIu64 " bytes), not this "
				  "header %s (%zu bytes)",
				  want, m->header_bytes, got, h->raw_len);
	}
	return 0;
}

/* The signed claims against the device; all refusals -EKEYREJECTED. */
static int check_claims(zckup_ctx *ctx, const struct zu_meta *m, const struct zckup_trust_opts *o)
{
	char when[ZU_META_TIME_LEN + 1] = "?";
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	int cmp = 0, r;

	if (m->has_expires && now >= m->expires) {
		if (zu_time_format(m->expires, when, &ctx->err) < 0)
			when[0] = '\0';
		return zu_err_set(&ctx->err, -EKEYREJECTED, "the signature expired at %s", when);
	}
	if (o->min_version) {
		r = zu_version_cmp(m->version, o->min_version, &cmp, &ctx->err);
		if (r < 0)
			return r;
		if (cmp < 0)
			return zu_err_set(&ctx->err, -EKEYREJECTED,
					  "version %s is older than the minimum %s (rollback refused)",
					  m->version, o->min_version);
	}
	if (o->hw_compat && strcmp(o->hw_compat, m->hw_compat) != 0)
		return zu_err_set(&ctx->err, -EKEYREJECTED,
				  m->hw_compat[0] ? "the image is for hardware '%s', not '%s'"
						  : "the image names no hardware%s, the device is '%s'",
				  m->hw_compat, o->hw_compat);
	if (!o->hw_compat && m->hw_compat[0])
		return zu_err_set(&ctx->err, -EKEYREJECTED,
				  "the image is only for hardware '%s': say which hardware the "
				  "device is",
				  m->hw_compat);
	return 0;
}

static void fill_info(struct zckup_trust_info *out, const struct zu_sig_result *res,
		      const struct zu_meta *m, bool has_meta)
{
	memset(out, 0, sizeof(*out));
	out->kind = (enum zckup_sig_kind)res->alg;
	snprintf(out->signer, sizeof(out->signer), "%s", res->signer);
	if (!has_meta)
		return;
	out->has_metadata = 1;
	memcpy(out->version, m->version, sizeof(out->version));
	out->has_expires = m->has_expires;
	out->expires = m->expires;
	memcpy(out->hw_compat, m->hw_compat, sizeof(out->hw_compat));
}

/* Fetches (or borrows) the signature and metadata bytes. */
static int load_inputs(zckup_ctx *ctx, const struct zckup_trust_opts *o, uint8_t **sig_owned,
		       const uint8_t **sig, size_t *sig_len, uint8_t **meta_owned,
		       const uint8_t **meta, size_t *meta_len)
{
	int r = 0;

	if (o->signature_data) {
		*sig = o->signature_data;
		*sig_len = o->signature_bytes;
	} else if (o->signature) {
		r = read_small(ctx, o->signature, ZU_SIG_MAX, "signature", sig_owned, sig_len);
		*sig = *sig_owned;
	} else {
		return zu_err_set(&ctx->err, -EKEYREJECTED,
				  "no signature given, and a %s is configured: unsigned headers "
				  "are refused",
				  o->pubkey ? "public key" : "CA file");
	}
	if (r < 0)
		return r;
	if (o->metadata_data) {
		*meta = o->metadata_data;
		*meta_len = o->metadata_bytes;
	} else if (o->metadata) {
		r = read_small(ctx, o->metadata, ZU_META_MAX, "metadata", meta_owned, meta_len);
		*meta = *meta_owned;
	}
	if (r == 0 && !*meta && (o->min_version || o->hw_compat))
		r = zu_err_set(&ctx->err, -EKEYREJECTED,
			       "no signed metadata given, and a %s is required: a header "
			       "without a signed version cannot be checked against rollback",
			       o->min_version ? "minimum version" : "hardware match");
	return r;
}

/*
 * Verifies sig over the header as the .zck starts with it and, if that is
 * refused, over the detached file's bytes: integrators sign the .zckh they
 * ship (openssl cms -sign -in v2.zckh). Both forms hold the same header bytes
 * and differ only in the fixed magic, so a signature over either names the
 * same header (README "Signed headers"). When both fail, the first refusal's
 * message is kept, with what else was tried.
 */
static int verify_either_form(zckup_ctx *ctx, const struct zu_sig_trust *t,
			      const struct zu_header *h, const uint8_t *meta, size_t meta_len,
			      const uint8_t *sig, size_t sig_len, struct zu_sig_result *res)
{
	const uint8_t *forms[2] = { canonical_magic, detached_magic };
	struct zu_err first = ZU_ERR_INIT;
	int r = 0;

	for (int i = 0; i < 2; i++) {
		uint8_t *owned = NULL;
		const uint8_t *msg = NULL;
		size_t len = 0;

		r = signed_message(h, forms[i], (const char *)meta, meta_len, &owned, &msg, &len,
				   &ctx->err);
		if (r == 0)
			r = zu_sig_verify(t, msg, len, sig, sig_len, res, &ctx->err);
		free(owned);
		if (r != -EKEYREJECTED)
			return r;
		if (i == 0)
			first = ctx->err;
	}
	ctx->err = first;
	zu_err_prefix(&ctx->err, "neither over the header as the .zck starts with it (\\0ZCK1) "
				 "nor over the detached .zckh file (\\0ZHR1)");
	return -EKEYREJECTED;
}

ZCKUP_API int zckup_header_verify(zckup_ctx *ctx, const zckup_header *zh,
				  const struct zckup_trust_opts *o, struct zckup_trust_info *out)
{
	const struct zu_sig_trust t = { .pubkey = o ? o->pubkey : NULL,
					.ca_file = o ? o->ca_file : NULL,
					.purpose = o ? (enum zu_sig_purpose)o->purpose : 0,
					.now = o ? o->now : 0 };
	uint8_t *sig_owned = NULL, *meta_owned = NULL;
	const uint8_t *sig = NULL, *meta = NULL;
	size_t sig_len = 0, meta_len = 0;
	struct zu_sig_result res = { 0 };
	struct zu_meta m = { 0 };
	int r;

	zu_err_clear(&ctx->err);
	if (!zh || !o)
		return zu_err_set(&ctx->err, -EINVAL, "verify needs a header and options");
	r = check_opts(ctx, o);
	if (r == 0)
		r = load_inputs(ctx, o, &sig_owned, &sig, &sig_len, &meta_owned, &meta, &meta_len);
	if (r == 0 && meta && zu_meta_parse(meta, meta_len, &m, &ctx->err) < 0)
		r = reject(&ctx->err, "signed metadata");
	/* before the signature, for a precise message: metadata paired with another header */
	if (r == 0 && meta)
		r = check_binding(ctx, &zh->h, &m);
	if (r == 0)
		r = verify_either_form(ctx, &t, &zh->h, meta, meta_len, sig, sig_len, &res);
	if (r != 0) {
		if (r == -EKEYREJECTED && !meta)
			zu_err_prefix(&ctx->err, "header signature (if it was made with "
						 "metadata, give the metadata too)");
		else if (r == -EKEYREJECTED)
			zu_err_prefix(&ctx->err, "signature over metadata and header");
	}
	if (r == 0 && meta)
		r = check_claims(ctx, &m, o);
	free(meta_owned);
	free(sig_owned);
	if (r < 0)
		return zu_api_fail(ctx, r);
	if (out)
		fill_info(out, &res, &m, meta != NULL);
	zu_api_log(ctx, ZCKUP_LOG_INFO, "header signature verified (%s%s%s)",
		   zu_sig_alg_name(res.alg), meta ? ", version " : "", meta ? m.version : "");
	return 0;
}

static int sign_check(zckup_ctx *ctx, const struct zckup_sign_opts *o)
{
	if (!o->key || !o->signature_out)
		return zu_err_set(&ctx->err, -EINVAL, "signing needs a key and a signature file");
	if ((o->chain && !o->cert) || (o->rsa_pss && o->cert))
		return zu_err_set(&ctx->err, -EINVAL,
				  "a chain goes with a certificate; PSS with raw RSA signatures");
	if (!o->version && (o->expires || o->hw_compat || o->metadata_out))
		return zu_err_set(&ctx->err, -EINVAL,
				  "metadata (expiry, hardware, file) needs a version");
	if (o->version && !o->metadata_out)
		return zu_err_set(&ctx->err, -EINVAL, "a version needs a metadata file to write");
	return 0;
}

ZCKUP_API int zckup_header_sign(zckup_ctx *ctx, const zckup_header *zh,
				const struct zckup_sign_opts *o, struct zckup_trust_info *out)
{
	const struct zu_sig_signer s = { .key = o ? o->key : NULL, .cert = o ? o->cert : NULL,
					 .chain = o ? o->chain : NULL,
					 .rsa_pss = o ? o->rsa_pss != 0 : false };
	uint8_t *msg_owned = NULL, *sig = NULL;
	const uint8_t *msg = NULL;
	size_t msg_len = 0, sig_len = 0, meta_len = 0;
	char meta[ZU_META_MAX];
	struct zu_meta m = { 0 };
	struct zu_sig_result res = { 0 };
	int r;

	zu_err_clear(&ctx->err);
	if (!zh || !o)
		return zu_err_set(&ctx->err, -EINVAL, "sign needs a header and options");
	r = sign_check(ctx, o);
	if (r == 0 && o->version)
		r = zu_version_check(o->version, &ctx->err);
	if (r == 0 && o->hw_compat)
		r = zu_hw_check(o->hw_compat, &ctx->err);
	if (r == 0 && o->version) {
		memcpy(m.header_sha256, zh->h.header_digest, ZU_DIGEST_LEN);
		m.header_bytes = zh->h.raw_len;
		snprintf(m.version, sizeof(m.version), "%s", o->version);
		m.has_expires = o->expires != 0;
		m.expires = o->expires;
		if (o->hw_compat)
			snprintf(m.hw_compat, sizeof(m.hw_compat), "%s", o->hw_compat);
		r = zu_meta_build(&m, meta, sizeof(meta), &meta_len, &ctx->err);
	}
	if (r == 0)
		r = signed_message(&zh->h, canonical_magic, meta, meta_len, &msg_owned, &msg,
				   &msg_len, &ctx->err);
	if (r == 0)
		r = zu_sig_sign(&s, msg, msg_len, &sig, &sig_len, &res.alg, &ctx->err);
	free(msg_owned);
	if (r == 0 && meta_len)
		r = zu_io_write_file_atomic(o->metadata_out, meta, meta_len, &ctx->err);
	if (r == 0)
		r = zu_io_write_file_atomic(o->signature_out, sig, sig_len, &ctx->err);
	free(sig);
	if (r < 0)
		return zu_api_fail(ctx, r);
	if (out)
		fill_info(out, &res, &m, meta_len != 0);
	return 0;
}

ZCKUP_API int zckup_version_compare(const char *a, const char *b, int *out)
{
	struct zu_err err = ZU_ERR_INIT;

	if (!a || !b || !out)
		return -EINVAL;
	return zu_version_cmp(a, b, out, &err);
}
