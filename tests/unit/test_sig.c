/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sig (raw and CMS signatures), meta (the signed metadata
 * format, versions, times) and the public zckup_header_sign/verify. Keys and
 * certificates are made in code at test time, in a temporary directory.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "zckup.h"

#include "format.h"
#include "meta.h"
#include "sig.h"

static char dir[256];

static void path_of(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

static EVP_PKEY *keygen(const char *kind)
{
	EVP_PKEY *k = NULL;

	if (!strcmp(kind, "ed25519"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (!strcmp(kind, "p256"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (!strcmp(kind, "p384"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (!strcmp(kind, "rsa1024"))
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(k);
	return k;
}

/* Writes name.key (private) and name.pub (public) in dir. */
static void write_key(EVP_PKEY *k, const char *name)
{
	char p[320], file[80];
	FILE *f;

	snprintf(file, sizeof(file), "%s.key", name);
	path_of(p, sizeof(p), file);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	snprintf(file, sizeof(file), "%s.pub", name);
	path_of(p, sizeof(p), file);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

static void new_key(const char *kind, const char *name)
{
	EVP_PKEY *k = keygen(kind);

	write_key(k, name);
	EVP_PKEY_free(k);
}

/* A path in dir; the last 64 results stay valid (a test uses fewer at once). */
static const char *p_(const char *name)
{
	static char buf[64][320];
	static unsigned i;
	char *out = buf[i++ % 64];

	path_of(out, sizeof(buf[0]), name);
	return out;
}

static const uint8_t msg[] = "\0ZCK1 pretend this is a header";

static void sign_and_verify_each_algorithm(void **state)
{
	static const struct { const char *kind; bool pss; enum zu_sig_alg alg; } cases[] = {
		{ "ed25519", false, ZU_SIG_ED25519 },
		{ "p256", false, ZU_SIG_ECDSA_P256 },
		{ "rsa", false, ZU_SIG_RSA_PKCS1 },
		{ "rsa", true, ZU_SIG_RSA_PSS },
	};
	(void)state;
	new_key("ed25519", "other");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct zu_err err = ZU_ERR_INIT;
		struct zu_sig_signer s = { .key = p_("k.key"), .rsa_pss = cases[i].pss };
		struct zu_sig_trust t = { .pubkey = p_("k.pub") };
		struct zu_sig_trust wrong = { .pubkey = p_("other.pub") };
		struct zu_sig_result res;
		enum zu_sig_alg alg = ZU_SIG_NONE;
		uint8_t *sig = NULL, tampered[sizeof(msg)];
		size_t n = 0;

		new_key(cases[i].kind, "k");
		assert_int_equal(zu_sig_sign(&s, msg, sizeof(msg), &sig, &n, &alg, &err), 0);
		assert_int_equal(alg, cases[i].alg);
		assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), 0);
		assert_int_equal(res.alg, cases[i].alg);
		memcpy(tampered, msg, sizeof(msg));
		tampered[7] ^= 1;
		assert_int_equal(zu_sig_verify(&t, tampered, sizeof(msg), sig, n, &res, &err),
				 -EKEYREJECTED);
		assert_non_null(strstr(err.msg, "does not verify"));
		assert_int_equal(zu_sig_verify(&wrong, msg, sizeof(msg), sig, n, &res, &err),
				 -EKEYREJECTED);
		sig[n / 2] ^= 0x40;
		assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err),
				 -EKEYREJECTED);
		assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, 0, &res, &err),
				 -EKEYREJECTED);
		free(sig);
	}
}

static void unusable_keys_are_refused(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_sig_result res;
	const uint8_t sig[64] = { 0 };
	struct zu_sig_trust t = { .pubkey = p_("p384.pub") };
	struct zu_sig_trust none = { .pubkey = p_("absent.pub") };
	struct zu_sig_trust both = { .pubkey = p_("p384.pub"), .ca_file = p_("p384.pub") };

	(void)state;
	new_key("p384", "p384");
	new_key("rsa1024", "rsa1024");
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, sizeof(sig), &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "P-256"));
	t.pubkey = p_("rsa1024.pub");
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, sizeof(sig), &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "2048"));
	assert_int_equal(zu_sig_verify(&none, msg, sizeof(msg), sig, sizeof(sig), &res, &err),
			 -ENOENT);
	assert_int_equal(zu_sig_verify(&both, msg, sizeof(msg), sig, sizeof(sig), &res, &err),
			 -EINVAL);
	t.pubkey = p_("rsa1024.key"); /* a private key is not a public key file */
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, sizeof(sig), &res, &err), -EINVAL);
}

/* ---- a certificate chain made in code ------------------------------------ */

static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		    const char *ext_bc, const char *ext_ku, const char *ext_eku)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	struct { int nid; const char *val; } exts[3] = {
		{ NID_basic_constraints, ext_bc }, { NID_key_usage, ext_ku },
		{ NID_ext_key_usage, ext_eku },
	};
	static long serial = 1;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	for (size_t i = 0; i < 3; i++) {
		X509_EXTENSION *e;

		if (!exts[i].val)
			continue;
		e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].val);
		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void write_certs(const char *name, X509 *a, X509 *b)
{
	FILE *f = fopen(p_(name), "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, a), 1);
	if (b)
		assert_int_equal(PEM_write_X509(f, b), 1);
	fclose(f);
}

static void make_pki(void)
{
	EVP_PKEY *rk = keygen("p256"), *ik = keygen("p256"), *lk = keygen("p256");
	EVP_PKEY *ck = keygen("rsa"), *ok = keygen("p256");
	X509 *root = mkcert(rk, "root", NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign", NULL);
	X509 *inter = mkcert(ik, "inter", root, rk, "critical,CA:TRUE", "critical,keyCertSign",
			     NULL);
	X509 *leaf = mkcert(lk, "leaf", inter, ik, "CA:FALSE", "critical,digitalSignature", NULL);
	X509 *code = mkcert(ck, "code", inter, ik, "CA:FALSE", "critical,digitalSignature",
			    "codeSigning");
	X509 *other = mkcert(ok, "other root", NULL, NULL, "critical,CA:TRUE",
			     "critical,keyCertSign", NULL);

	write_certs("root.pem", root, NULL);
	write_certs("inter.pem", inter, NULL);
	write_certs("leaf.pem", leaf, NULL);
	write_certs("code.pem", code, NULL);
	write_certs("other.pem", other, NULL);
	write_key(lk, "leaf");
	write_key(ck, "code");
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(code);
	X509_free(other);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(ok);
}

static void cms_verifies_chain_and_purpose(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_sig_signer s = { .key = p_("leaf.key"), .cert = p_("leaf.pem"),
				   .chain = p_("inter.pem") };
	struct zu_sig_signer nochain = { .key = p_("leaf.key"), .cert = p_("leaf.pem") };
	struct zu_sig_signer code = { .key = p_("code.key"), .cert = p_("code.pem"),
				      .chain = p_("inter.pem") };
	struct zu_sig_signer mismatched = { .key = p_("code.key"), .cert = p_("leaf.pem") };
	struct zu_sig_trust t = { .ca_file = p_("root.pem") };
	struct zu_sig_result res;
	enum zu_sig_alg alg;
	uint8_t *sig = NULL, *sig2 = NULL, *sig3 = NULL;
	size_t n = 0, n2 = 0, n3 = 0;

	(void)state;
	make_pki();
	assert_int_equal(zu_sig_sign(&s, msg, sizeof(msg), &sig, &n, &alg, &err), 0);
	assert_int_equal(alg, ZU_SIG_CMS);
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), 0);
	assert_int_equal(res.alg, ZU_SIG_CMS);
	assert_non_null(strstr(res.signer, "leaf"));
	/* other bytes, another CA, a certificate whose validity has not begun */
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg) - 1, sig, n, &res, &err),
			 -EKEYREJECTED);
	t.ca_file = p_("other.pem");
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), -EKEYREJECTED);
	t.ca_file = p_("root.pem");
	t.now = 946684800; /* 2000-01-01 */
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), -EKEYREJECTED);
	t.now = 0;
	/* without the intermediate in the signature the chain is broken */
	assert_int_equal(zu_sig_sign(&nochain, msg, sizeof(msg), &sig2, &n2, &alg, &err), 0);
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig2, n2, &res, &err), -EKEYREJECTED);
	/* a codeSigning certificate: not an S/MIME signer, a code signer */
	assert_int_equal(zu_sig_sign(&code, msg, sizeof(msg), &sig3, &n3, &alg, &err), 0);
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig3, n3, &res, &err), -EKEYREJECTED);
	t.purpose = ZU_SIG_PURPOSE_CODE_SIGN;
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig3, n3, &res, &err), 0);
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "codeSigning"));
	t.purpose = ZU_SIG_PURPOSE_ANY;
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig3, n3, &res, &err), 0);
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), sig, n, &res, &err), 0);
	/* garbage is not a CMS; a certificate of another key cannot sign */
	assert_int_equal(zu_sig_verify(&t, msg, sizeof(msg), msg, sizeof(msg), &res, &err),
			 -EKEYREJECTED);
	free(sig2);
	sig2 = NULL;
	assert_int_equal(zu_sig_sign(&mismatched, msg, sizeof(msg), &sig2, &n2, &alg, &err),
			 -EINVAL);
	free(sig);
	free(sig2);
	free(sig3);
}

/* ---- metadata ------------------------------------------------------------ */

static void meta_round_trips_canonically(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_meta m = { .header_bytes = 5448, .has_expires = true, .expires = 1767225600 };
	struct zu_meta back;
	char buf[ZU_META_MAX];
	size_t n = 0;
	static const char want[] =
		"zckup-metadata=1\n"
		"header-sha256=0101010101010101010101010101010101010101010101010101010101010101\n"
		"header-bytes=5448\n"
		"version=1.2.10\n"
		"expires=2026-01-01T00:00:00Z\n"
		"hw-compat=board-a\n";

	(void)state;
	memset(m.header_sha256, 1, sizeof(m.header_sha256));
	strcpy(m.version, "1.2.10");
	strcpy(m.hw_compat, "board-a");
	assert_int_equal(zu_meta_build(&m, buf, sizeof(buf), &n, &err), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(zu_meta_parse(buf, n, &back, &err), 0);
	assert_memory_equal(&back, &m, sizeof(m));
	/* optional lines */
	m.has_expires = false;
	m.hw_compat[0] = '\0';
	assert_int_equal(zu_meta_build(&m, buf, sizeof(buf), &n, &err), 0);
	assert_int_equal(zu_meta_parse(buf, n, &back, &err), 0);
	assert_false(back.has_expires);
	assert_string_equal(back.hw_compat, "");
	assert_memory_equal(buf + n - 15, "version=1.2.10\n", 15);
}

static void meta_parse_is_strict(void **state)
{
	static const char *const head = "zckup-metadata=1\n"
		"header-sha256=0101010101010101010101010101010101010101010101010101010101010101\n";
	static const struct { const char *tail; size_t extra; } bad[] = {
		{ "header-bytes=10\nversion=1\n\n", 0 },                    /* blank line */
		{ "header-bytes=10\nversion=1", 0 },                        /* no final newline */
		{ "header-bytes=10\r\nversion=1\n", 0 },                    /* CR */
		{ "header-bytes=010\nversion=1\n", 0 },                     /* leading zero */
		{ "header-bytes=10\nversion=01\n", 0 },
		{ "header-bytes=10\nversion=1.\n", 0 },
		{ "header-bytes=10\nversion=1 \n", 0 },
		{ "version=1\nheader-bytes=10\n", 0 },                      /* order */
		{ "header-bytes=10\nversion=1\nhw-compat=a\nexpires=2030-01-01T00:00:00Z\n", 0 },
		{ "header-bytes=10\nversion=1\nexpires=2030-02-30T00:00:00Z\n", 0 },
		{ "header-bytes=10\nversion=1\nexpires=2030-01-01 00:00:00Z\n", 0 },
		{ "header-bytes=10\nversion=1\nhw-compat=a b\n", 0 },
		{ "header-bytes=10\nversion=1\nhw-compat=a\nhw-compat=b\n", 0 },
		{ "header-bytes=10\nversion=1\nunknown=1\n", 0 },
		{ "header-bytes=10\nversion=1\n", 1 },              /* a NUL after the end */
		{ "header-bytes=99999999999999999999\nversion=1\n", 0 },    /* beyond 2^64 */
	};
	struct zu_err err = ZU_ERR_INIT;
	struct zu_meta m;
	char buf[2048];
	int n;

	(void)state;
	n = snprintf(buf, sizeof(buf), "%sheader-bytes=10\nversion=1\n", head);
	assert_int_equal(zu_meta_parse(buf, (size_t)n, &m, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(buf, sizeof(buf), "%s%s", head, bad[i].tail);
		if (zu_meta_parse(buf, (size_t)n + bad[i].extra, &m, &err) != -EBADMSG)
			fail_msg("case %zu ('%s') was not refused as malformed", i, bad[i].tail);
	}
	memcpy(buf, head, strlen(head));
	buf[20] = 'A'; /* upper-case hex */
	n = snprintf(buf + strlen(head), sizeof(buf) - strlen(head), "header-bytes=1\nversion=1\n");
	assert_int_equal(zu_meta_parse(buf, strlen(head) + (size_t)n, &m, &err), -EBADMSG);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(zu_meta_parse(buf, ZU_META_MAX + 1, &m, &err), -EOVERFLOW);
	assert_int_equal(zu_meta_parse("zckup-metadata=2\n", 17, &m, &err), -EBADMSG);
	assert_int_equal(zu_meta_parse("", 0, &m, &err), -EBADMSG);
}

static void versions_compare_by_number(void **state)
{
	static const struct { const char *a, *b; int want; } cases[] = {
		{ "1.2", "1.2.0", 0 },   { "1.2", "1.10", -1 },  { "2", "1.99.99", 1 },
		{ "0", "0.0.0.0", 0 },   { "1.0.1", "1", 1 },    { "10.0", "9.9", 1 },
		{ "18446744073709551615", "18446744073709551614", 1 },
	};
	static const char *const invalid[] = { "", ".", "1.", ".1", "1..2", "01", "1.02", "v1",
					       "1-rc1", "1.2 ", "18446744073709551616",
					       "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17" };
	int c = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(zckup_version_compare(cases[i].a, cases[i].b, &c), 0);
		assert_int_equal(c < 0 ? -1 : c > 0, cases[i].want);
		assert_int_equal(zckup_version_compare(cases[i].b, cases[i].a, &c), 0);
		assert_int_equal(c < 0 ? -1 : c > 0, -cases[i].want);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (zckup_version_compare(invalid[i], "1", &c) != -EINVAL)
			fail_msg("version '%s' was accepted", invalid[i]);
}

static void times_are_utc_and_exact(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	char out[ZU_META_TIME_LEN + 1];
	int64_t t = -1;

	(void)state;
	assert_int_equal(zu_time_parse("1970-01-01T00:00:00Z", 20, &t, &err), 0);
	assert_int_equal(t, 0);
	assert_int_equal(zu_time_parse("2024-02-29T23:59:59Z", 20, &t, &err), 0);
	assert_int_equal(t, 1709251199);
	assert_int_equal(zu_time_parse("2023-02-29T00:00:00Z", 20, &t, &err), -EINVAL);
	assert_int_equal(zu_time_parse("1969-12-31T23:59:59Z", 20, &t, &err), -EINVAL);
	assert_int_equal(zu_time_parse("2024-01-01T24:00:00Z", 20, &t, &err), -EINVAL);
	for (int64_t x = 0; x < 4102444800; x += 7777777) {
		assert_int_equal(zu_time_format(x, out, &err), 0);
		assert_int_equal(zu_time_parse(out, strlen(out), &t, &err), 0);
		assert_int_equal(t, x);
	}
	assert_int_equal(zu_time_format(-1, out, &err), -EINVAL);
}

/* ---- the public API over a real header ----------------------------------- */

static zckup_header *test_header(zckup_ctx *ctx, const char *name, uint8_t seed)
{
	struct zu_err err = ZU_ERR_INIT;
	uint8_t d[4][32];
	struct zu_chunk c[2] = { { .digest = d[0], .udigest = d[1], .comp_len = 10, .len = 20 },
				 { .digest = d[2], .udigest = d[3], .comp_len = 11, .len = 21 } };
	struct zu_header_params hp = { .chunks = c, .n_chunks = 2, .detached = true };
	zckup_header *h = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	FILE *f;

	for (size_t i = 0; i < 4; i++)
		memset(d[i], seed + (int)i, 32);
	assert_int_equal(zu_header_build(&hp, &buf, &n, &err), 0);
	f = fopen(p_(name), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
	free(buf);
	assert_int_equal(zckup_header_open(ctx, p_(name), NULL, &h), 0);
	return h;
}

static void header_verify_checks_binding_and_claims(void **state)
{
	zckup_ctx *ctx = zckup_ctx_new();
	zckup_header *h, *h2;
	struct zckup_trust_info in;
	struct zckup_sign_opts so = { .key = p_("api.key"), .version = "2.1", .expires = 2000000000,
				      .hw_compat = "board-a", .signature_out = p_("api.sig"),
				      .metadata_out = p_("api.meta") };
	struct zckup_trust_opts o = { .pubkey = p_("api.pub"), .signature = p_("api.sig"),
				      .metadata = p_("api.meta"), .min_version = "2.1",
				      .hw_compat = "board-a", .now = 1900000000 };
	struct zckup_trust_opts t;

	(void)state;
	assert_non_null(ctx);
	new_key("p256", "api");
	h = test_header(ctx, "a.zckh", 1);
	h2 = test_header(ctx, "b.zckh", 2);
	assert_int_equal(zckup_header_sign(ctx, h, &so, &in), 0);
	assert_int_equal(in.kind, ZCKUP_SIG_ECDSA_P256);
	assert_int_equal(zckup_header_verify(ctx, h, &o, &in), 0);
	assert_string_equal(in.version, "2.1");
	assert_string_equal(in.hw_compat, "board-a");
	assert_int_equal(in.expires, 2000000000);
	t = o;
	t.now = 2000000000; /* the expiry instant itself is expired */
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	assert_non_null(strstr(zckup_errmsg(ctx), "expired"));
	t = o;
	t.min_version = "2.1.1";
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	t.min_version = "2.0.9";
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), 0);
	t.hw_compat = "board-b";
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	t.hw_compat = NULL;
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	/* another header with this metadata and signature */
	assert_int_equal(zckup_header_verify(ctx, h2, &o, &in), -EKEYREJECTED);
	assert_non_null(strstr(zckup_errmsg(ctx), "metadata is for header"));
	/* no signature, no metadata while a minimum version is asked, bad options */
	t = o;
	t.signature = NULL;
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	t = o;
	t.metadata = NULL;
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	t.min_version = NULL;
	t.hw_compat = NULL;
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED); /* signed with it */
	t = o;
	t.min_version = "1.x";
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EINVAL);
	t = o;
	t.ca_file = p_("root.pem");
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EINVAL);
	t = o;
	t.signature = p_("missing.sig");
	assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
	/* in-memory signature and metadata: tampering one byte of the metadata */
	{
		char meta[ZU_META_MAX];
		uint8_t sig[256];
		FILE *f = fopen(p_("api.meta"), "rb");
		size_t mn, sn;

		assert_non_null(f);
		mn = fread(meta, 1, sizeof(meta), f);
		fclose(f);
		f = fopen(p_("api.sig"), "rb");
		assert_non_null(f);
		sn = fread(sig, 1, sizeof(sig), f);
		fclose(f);
		t = o;
		t.signature = t.metadata = NULL;
		t.signature_data = sig;
		t.signature_bytes = sn;
		t.metadata_data = meta;
		t.metadata_bytes = mn;
		assert_int_equal(zckup_header_verify(ctx, h, &t, &in), 0);
		*strstr(meta, "version=2.1") = 'V';
		assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
		*strstr(meta, "Version=2.1") = 'v';
		meta[mn - 2] = 'b'; /* board-a -> board-b, still well formed */
		t.hw_compat = "board-b";
		assert_int_equal(zckup_header_verify(ctx, h, &t, &in), -EKEYREJECTED);
		assert_non_null(strstr(zckup_errmsg(ctx), "does not verify"));
	}
	/* sign refuses a bad version, hardware string or missing metadata file */
	so.version = "1.02";
	assert_int_equal(zckup_header_sign(ctx, h, &so, &in), -EINVAL);
	so.version = "1";
	so.hw_compat = "has space";
	assert_int_equal(zckup_header_sign(ctx, h, &so, &in), -EINVAL);
	so.hw_compat = NULL;
	so.metadata_out = NULL;
	assert_int_equal(zckup_header_sign(ctx, h, &so, &in), -EINVAL);
	zckup_header_free(h);
	zckup_header_free(h2);
	zckup_ctx_free(ctx);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/zu-sig-XXXXXX", tmp && strlen(tmp) < 200 ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[sizeof(dir) + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sign_and_verify_each_algorithm),
		cmocka_unit_test(unusable_keys_are_refused),
		cmocka_unit_test(cms_verifies_chain_and_purpose),
		cmocka_unit_test(meta_round_trips_canonically),
		cmocka_unit_test(meta_parse_is_strict),
		cmocka_unit_test(versions_compare_by_number),
		cmocka_unit_test(times_are_utc_and_exact),
		cmocka_unit_test(header_verify_checks_binding_and_claims),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
