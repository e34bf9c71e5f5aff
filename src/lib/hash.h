/* SPDX-License-Identifier: MIT */
/*
 * hash - SHA-256 through OpenSSL EVP (so the CPU's SHA extensions are used).
 * The only module that includes OpenSSL.
 */
#ifndef ZU_HASH_H
#define ZU_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ZU_SHA256_LEN 32

struct zu_sha256 {
	void *md_ctx; /* EVP_MD_CTX */
};

#define ZU_SHA256_INIT { NULL }

/* Allocates the digest context and starts a digest. Free with zu_sha256_fini(). */
int zu_sha256_init(struct zu_sha256 *s, struct zu_err *err) __attribute__((warn_unused_result));
/* Starts a new digest on an initialised context. */
int zu_sha256_reset(struct zu_sha256 *s, struct zu_err *err) __attribute__((warn_unused_result));
int zu_sha256_update(struct zu_sha256 *s, const void *p, size_t n, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_sha256_final(struct zu_sha256 *s, uint8_t out[ZU_SHA256_LEN], struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_sha256_fini(struct zu_sha256 *s);
/* One-shot digest of p[0..n). */
int zu_sha256_buf(const void *p, size_t n, uint8_t out[ZU_SHA256_LEN], struct zu_err *err)
	__attribute__((warn_unused_result));
/* Lower-case hex of a digest into out (2*len+1 bytes). */
void zu_hex(const uint8_t *d, size_t len, char *out);
/* Parses 64 hex digits into out; -EINVAL when malformed. */
int zu_unhex_sha256(const char *s, uint8_t out[ZU_SHA256_LEN]);

#endif
