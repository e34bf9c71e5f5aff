/* SPDX-License-Identifier: MIT */
/*
 * sig - detached signatures through OpenSSL: raw signatures with a public key
 * (Ed25519, ECDSA P-256/SHA-256, RSA PKCS#1 v1.5 and PSS with SHA-256) and CMS
 * (PKCS#7) signatures checked against a CA bundle. Verifies and signs byte
 * buffers; knows nothing of headers or metadata. The only module besides
 * hash.c that includes OpenSSL; never logs key material.
 */
#ifndef ZU_SIG_H
#define ZU_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ZU_SIG_MAX (64u << 10) /* bytes of a signature file (a CMS with its chain) */
#define ZU_SIG_RSA_MIN_BITS 2048
#define ZU_SIG_SIGNER_LEN 256

enum zu_sig_alg {
	ZU_SIG_NONE,
	ZU_SIG_ED25519,
	ZU_SIG_ECDSA_P256,
	ZU_SIG_RSA_PKCS1,
	ZU_SIG_RSA_PSS,
	ZU_SIG_CMS,
};

enum zu_sig_purpose {
	ZU_SIG_PURPOSE_SMIME_SIGN, /* OpenSSL's default for CMS signers */
	ZU_SIG_PURPOSE_CODE_SIGN,  /* extended key usage codeSigning */
	ZU_SIG_PURPOSE_ANY,        /* chain only, no purpose */
};

struct zu_sig_trust {
	const char *pubkey;           /* PEM public key file: raw signatures */
	const char *ca_file;          /* PEM CA bundle: CMS signatures (exactly one of the two) */
	enum zu_sig_purpose purpose;  /* CMS only */
	int64_t now;                  /* certificate validity time; 0 = the clock */
};

struct zu_sig_result {
	enum zu_sig_alg alg;
	char signer[ZU_SIG_SIGNER_LEN]; /* CMS: the signer certificate's subject */
};

/*
 * Verifies sig over msg[0..n). 0 when it verifies; -EKEYREJECTED when it does
 * not (wrong key, tampered bytes, an untrusted or unfit certificate, a
 * signature that cannot be decoded); -EINVAL for an unusable key or CA file
 * (unsupported key type, RSA under 2048 bits, ECDSA on a curve other than
 * P-256); the system's code when a file cannot be read.
 */
int zu_sig_verify(const struct zu_sig_trust *t, const void *msg, size_t n, const void *sig,
		  size_t sig_len, struct zu_sig_result *out, struct zu_err *err)
	__attribute__((warn_unused_result));

struct zu_sig_signer {
	const char *key;    /* PEM private key */
	const char *cert;   /* NULL: raw signature; else CMS (DER) with this certificate */
	const char *chain;  /* CMS: PEM certificates to include (intermediates); may be NULL */
	bool rsa_pss;       /* raw RSA: PSS, salt length 32, instead of PKCS#1 v1.5 */
};

/* Signs msg; a new buffer in *out (free()), its length in *out_len. Errors as zu_sig_verify(). */
int zu_sig_sign(const struct zu_sig_signer *s, const void *msg, size_t n, uint8_t **out,
		size_t *out_len, enum zu_sig_alg *out_alg, struct zu_err *err)
	__attribute__((warn_unused_result));

/* "ed25519", "ecdsa-p256-sha256", "rsa-pkcs1-sha256", "rsa-pss-sha256", "cms". */
const char *zu_sig_alg_name(enum zu_sig_alg alg);

#endif
