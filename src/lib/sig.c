/* SPDX-License-Identifier: MIT */
/*
 * sig - raw and CMS detached signatures through OpenSSL 3 (EVP, CMS, X509).
 * Every OpenSSL return value is checked; OpenSSL's own reason goes into the
 * message. The error queue is cleared on the way in and out so that one
 * failure never leaks into the next call's message.
 */
#include "config.h"

#include "sig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h> /* before cms.h, which declares its PEM functions only after it */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

const char *zu_sig_alg_name(enum zu_sig_alg alg)
{
	switch (alg) {
	case ZU_SIG_ED25519:
		return "ed25519";
	case ZU_SIG_ECDSA_P256:
		return "ecdsa-p256-sha256";
	case ZU_SIG_RSA_PKCS1:
		return "rsa-pkcs1-sha256";
	case ZU_SIG_RSA_PSS:
		return "rsa-pss-sha256";
	case ZU_SIG_CMS:
		return "cms";
	case ZU_SIG_NONE:
	default:
		return "none";
	}
}

/* OpenSSL's last reason, or a fallback, for a message. */
static const char *ossl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no reason given";
	ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}

static int ossl_fail(struct zu_err *err, int code, const char *what)
{
	char why[256];

	return zu_err_set(err, code, "%s (%s)", what, ossl_reason(why, sizeof(why)));
}

/* Opens a PEM file, so that a missing or unreadable one gets its errno. */
static int open_pem(const char *path, const char *what, FILE **out, struct zu_err *err)
{
	*out = fopen(path, "re");
	if (!*out)
		return zu_err_sys(err, errno, "%s %s", what, path);
	return 0;
}

static int load_pubkey(const char *path, EVP_PKEY **out, struct zu_err *err)
{
	FILE *f;
	int r = open_pem(path, "public key", &f, err);

	if (r < 0)
		return r;
	*out = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!*out)
		return ossl_fail(err, -EINVAL, "not a PEM public key (BEGIN PUBLIC KEY)");
	return 0;
}

static int load_privkey(const char *path, EVP_PKEY **out, struct zu_err *err)
{
	FILE *f;
	int r = open_pem(path, "private key", &f, err);

	if (r < 0)
		return r;
	*out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!*out)
		return ossl_fail(err, -EINVAL, "not an unencrypted PEM private key");
	return 0;
}

/* Which raw algorithm a key makes; -EINVAL for keys zckup does not use. */
static int key_alg(EVP_PKEY *pk, bool rsa_pss, enum zu_sig_alg *out, struct zu_err *err)
{
	char group[64] = "";
	int id = EVP_PKEY_get_base_id(pk);

	switch (id) {
	case EVP_PKEY_ED25519:
		*out = ZU_SIG_ED25519;
		return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			return zu_err_set(err, -EINVAL, "ECDSA key on curve '%s': only P-256",
					  group[0] ? group : "unknown");
		*out = ZU_SIG_ECDSA_P256;
		return 0;
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		if (EVP_PKEY_get_bits(pk) < ZU_SIG_RSA_MIN_BITS)
			return zu_err_set(err, -EINVAL, "RSA key of %d bits: at least %d",
					  EVP_PKEY_get_bits(pk), ZU_SIG_RSA_MIN_BITS);
		*out = rsa_pss || id == EVP_PKEY_RSA_PSS ? ZU_SIG_RSA_PSS : ZU_SIG_RSA_PKCS1;
		return 0;
	default:
		return zu_err_set(err, -EINVAL,
				  "key type %s: use Ed25519, ECDSA P-256 or RSA (2048 bits or more)",
				  OBJ_nid2sn(id));
	}
}

/* Sets up md for sign (sign true) or verify with alg's digest and padding. */
static int md_init(EVP_MD_CTX *md, EVP_PKEY *pk, enum zu_sig_alg alg, bool sign)
{
	const EVP_MD *dg = alg == ZU_SIG_ED25519 ? NULL : EVP_sha256();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = sign ? EVP_DigestSignInit(md, &pctx, dg, NULL, pk)
		      : EVP_DigestVerifyInit(md, &pctx, dg, NULL, pk);

	if (ok != 1)
		return 0;
	if (alg == ZU_SIG_RSA_PKCS1 && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	if (alg == ZU_SIG_RSA_PSS)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0 &&
		       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_DIGEST
								     : RSA_PSS_SALTLEN_AUTO) > 0;
	return 1;
}

/* 1 verifies, 0 does not (including a signature that does not decode). */
static int raw_check(EVP_PKEY *pk, enum zu_sig_alg alg, const void *msg, size_t n,
		     const void *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && md_init(md, pk, alg, false) &&
		 EVP_DigestVerify(md, sig, sig_len, msg, n) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

static int verify_raw(const struct zu_sig_trust *t, const void *msg, size_t n, const void *sig,
		      size_t sig_len, struct zu_sig_result *out, struct zu_err *err)
{
	EVP_PKEY *pk = NULL;
	enum zu_sig_alg alg = ZU_SIG_NONE;
	int r;

	r = load_pubkey(t->pubkey, &pk, err);
	if (r == 0)
		r = key_alg(pk, false, &alg, err);
	if (r < 0)
		goto out;
	if (raw_check(pk, alg, msg, n, sig, sig_len)) {
		out->alg = alg;
	} else if (alg == ZU_SIG_RSA_PKCS1 && raw_check(pk, ZU_SIG_RSA_PSS, msg, n, sig, sig_len)) {
		out->alg = ZU_SIG_RSA_PSS; /* an RSA key verifies either padding */
	} else {
		r = zu_err_set(err, -EKEYREJECTED,
			       "the %zu-byte signature does not verify with the %s key %s", sig_len,
			       zu_sig_alg_name(alg), t->pubkey);
	}
out:
	EVP_PKEY_free(pk);
	return r;
}

static int load_ca(const struct zu_sig_trust *t, X509_STORE **out, struct zu_err *err)
{
	X509_STORE *store = NULL;
	FILE *f;
	int r = open_pem(t->ca_file, "CA file", &f, err);

	if (r < 0)
		return r;
	fclose(f);
	store = X509_STORE_new();
	if (!store)
		return zu_err_set(err, -ENOMEM, "out of memory");
	if (X509_STORE_load_file(store, t->ca_file) != 1) {
		X509_STORE_free(store);
		return ossl_fail(err, -EINVAL, "no PEM certificate in the CA file");
	}
	/* smime_sign is what CMS_verify() applies when the store sets no purpose */
	if (t->purpose != ZU_SIG_PURPOSE_SMIME_SIGN &&
	    X509_STORE_set_purpose(store, X509_PURPOSE_ANY) != 1) {
		X509_STORE_free(store);
		return ossl_fail(err, -ENOMEM, "cannot set the certificate purpose");
	}
	if (t->now)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)t->now);
	*out = store;
	return 0;
}

/* Purpose codesign: every signer certificate names codeSigning in its extended key usage. */
static int check_code_sign(STACK_OF(X509) *signers, struct zu_err *err)
{
	for (int i = 0; i < sk_X509_num(signers); i++) {
		X509 *x = sk_X509_value(signers, i);

		if (!(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
		    !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN))
			return zu_err_set(err, -EKEYREJECTED,
					  "the signer certificate lacks the extended key usage "
					  "codeSigning (purpose codesign)");
		if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
		    !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
			return zu_err_set(err, -EKEYREJECTED,
					  "the signer certificate's key usage lacks digitalSignature");
	}
	return 0;
}

static CMS_ContentInfo *decode_cms(const void *sig, size_t sig_len)
{
	BIO *in = BIO_new_mem_buf(sig, (int)sig_len);
	CMS_ContentInfo *cms = NULL;

	if (!in)
		return NULL;
	if (sig_len > 10 && !memcmp(sig, "-----BEGIN", 10))
		cms = PEM_read_bio_CMS(in, NULL, NULL, NULL);
	else
		cms = d2i_CMS_bio(in, NULL);
	BIO_free(in);
	return cms;
}

static int verify_cms(const struct zu_sig_trust *t, const void *msg, size_t n, const void *sig,
		      size_t sig_len, struct zu_sig_result *out, struct zu_err *err)
{
	X509_STORE *store = NULL;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *signers = NULL;
	BIO *data = NULL;
	char why[256];
	int r;

	r = load_ca(t, &store, err);
	if (r < 0)
		return r;
	cms = decode_cms(sig, sig_len);
	if (!cms) {
		r = ossl_fail(err, -EKEYREJECTED, "the signature is not a CMS (PKCS#7) structure");
		goto out;
	}
	if (!CMS_is_detached(cms)) {
		r = zu_err_set(err, -EKEYREJECTED,
			       "the CMS signature embeds its content: sign detached (no -nodetach)");
		goto out;
	}
	data = BIO_new_mem_buf(msg, (int)n);
	if (!data) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (CMS_verify(cms, NULL, store, data, NULL, CMS_BINARY) != 1) {
		r = zu_err_set(err, -EKEYREJECTED,
			       "the CMS signature does not verify against the CA file %s (%s)",
			       t->ca_file, ossl_reason(why, sizeof(why)));
		goto out;
	}
	signers = CMS_get0_signers(cms);
	if (!signers || sk_X509_num(signers) < 1) {
		r = zu_err_set(err, -EKEYREJECTED, "the CMS signature names no signer");
		goto out;
	}
	if (t->purpose == ZU_SIG_PURPOSE_CODE_SIGN) {
		r = check_code_sign(signers, err);
		if (r < 0)
			goto out;
	}
	out->alg = ZU_SIG_CMS;
	X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)), out->signer,
			  sizeof(out->signer));
out:
	sk_X509_free(signers);
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	X509_STORE_free(store);
	return r;
}

int zu_sig_verify(const struct zu_sig_trust *t, const void *msg, size_t n, const void *sig,
		  size_t sig_len, struct zu_sig_result *out, struct zu_err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (!t->pubkey == !t->ca_file)
		return zu_err_set(err, -EINVAL, "give exactly one of a public key and a CA file");
	if (n > INT32_MAX || sig_len > ZU_SIG_MAX)
		return zu_err_set(err, -EOVERFLOW, "message or signature too large");
	if (sig_len == 0)
		return zu_err_set(err, -EKEYREJECTED, "the signature is empty");
	ERR_clear_error();
	if (t->pubkey)
		r = verify_raw(t, msg, n, sig, sig_len, out, err);
	else
		r = verify_cms(t, msg, n, sig, sig_len, out, err);
	ERR_clear_error();
	return r;
}

/* ---- signing ------------------------------------------------------------- */

static int load_certs(const char *path, STACK_OF(X509) **out, struct zu_err *err)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	FILE *f;
	int r;

	if (!sk)
		return zu_err_set(err, -ENOMEM, "out of memory");
	r = open_pem(path, "certificate file", &f, err);
	if (r < 0) {
		sk_X509_free(sk);
		return r;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			r = zu_err_set(err, -ENOMEM, "out of memory");
			break;
		}
	}
	fclose(f);
	ERR_clear_error(); /* the read that ends the loop */
	if (r == 0 && sk_X509_num(sk) == 0)
		r = zu_err_set(err, -EINVAL, "%s holds no PEM certificate", path);
	if (r < 0) {
		sk_X509_pop_free(sk, X509_free);
		return r;
	}
	*out = sk;
	return 0;
}

static int sign_raw(EVP_PKEY *pk, const struct zu_sig_signer *s, const void *msg, size_t n,
		    uint8_t **out, size_t *out_len, enum zu_sig_alg *out_alg, struct zu_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	enum zu_sig_alg alg = ZU_SIG_NONE;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = key_alg(pk, s->rsa_pss, &alg, err);
	if (r < 0)
		goto out;
	if (!md || !md_init(md, pk, alg, true) || EVP_DigestSign(md, NULL, &len, msg, n) != 1) {
		r = ossl_fail(err, -EINVAL, "cannot start a signature with this key");
		goto out;
	}
	buf = malloc(len);
	if (!buf) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestSign(md, buf, &len, msg, n) != 1) {
		r = ossl_fail(err, -EINVAL, "signing failed");
		goto out;
	}
	*out = buf;
	*out_len = len;
	*out_alg = alg;
	buf = NULL;
out:
	free(buf);
	EVP_MD_CTX_free(md);
	return r;
}

static int sign_cms(EVP_PKEY *pk, const struct zu_sig_signer *s, const void *msg, size_t n,
		    uint8_t **out, size_t *out_len, struct zu_err *err)
{
	STACK_OF(X509) *cert = NULL, *chain = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *data = NULL, *der = NULL;
	BUF_MEM *mem = NULL;
	int r;

	r = load_certs(s->cert, &cert, err);
	if (r == 0 && s->chain)
		r = load_certs(s->chain, &chain, err);
	if (r < 0)
		goto out;
	if (X509_check_private_key(sk_X509_value(cert, 0), pk) != 1) {
		r = ossl_fail(err, -EINVAL, "the certificate does not belong to the key");
		goto out;
	}
	data = BIO_new_mem_buf(msg, (int)n);
	der = BIO_new(BIO_s_mem());
	if (!data || !der) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	cms = CMS_sign(sk_X509_value(cert, 0), pk, chain, data, CMS_BINARY | CMS_DETACHED);
	if (!cms || i2d_CMS_bio(der, cms) != 1 || BIO_get_mem_ptr(der, &mem) != 1 || !mem) {
		r = ossl_fail(err, -EINVAL, "CMS signing failed");
		goto out;
	}
	*out = malloc(mem->length ? mem->length : 1);
	if (!*out) {
		r = zu_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, mem->data, mem->length);
	*out_len = mem->length;
out:
	CMS_ContentInfo_free(cms);
	BIO_free(der);
	BIO_free(data);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cert, X509_free);
	return r;
}

int zu_sig_sign(const struct zu_sig_signer *s, const void *msg, size_t n, uint8_t **out,
		size_t *out_len, enum zu_sig_alg *out_alg, struct zu_err *err)
{
	EVP_PKEY *pk = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	if (!s->key)
		return zu_err_set(err, -EINVAL, "signing needs a private key");
	if (n > INT32_MAX)
		return zu_err_set(err, -EOVERFLOW, "message too large to sign");
	ERR_clear_error();
	r = load_privkey(s->key, &pk, err);
	if (r == 0 && s->cert) {
		r = sign_cms(pk, s, msg, n, out, out_len, err);
		*out_alg = ZU_SIG_CMS;
	} else if (r == 0) {
		r = sign_raw(pk, s, msg, n, out, out_len, out_alg, err);
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return r;
}
