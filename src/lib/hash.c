/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "hash.h"

#include <openssl/evp.h>
#include <string.h>

int zu_sha256_init(struct zu_sha256 *s, struct zu_err *err)
{
	s->md_ctx = EVP_MD_CTX_new();
	if (!s->md_ctx)
		return zu_err_set(err, -ENOMEM, "cannot allocate a SHA-256 context");
	return zu_sha256_reset(s, err);
}

int zu_sha256_reset(struct zu_sha256 *s, struct zu_err *err)
{
	if (EVP_DigestInit_ex(s->md_ctx, EVP_sha256(), NULL) != 1)
		return zu_err_set(err, -EIO, "SHA-256 init failed in libcrypto");
	return 0;
}

int zu_sha256_update(struct zu_sha256 *s, const void *p, size_t n, struct zu_err *err)
{
	if (EVP_DigestUpdate(s->md_ctx, p, n) != 1)
		return zu_err_set(err, -EIO, "SHA-256 update failed in libcrypto");
	return 0;
}

int zu_sha256_final(struct zu_sha256 *s, uint8_t out[ZU_SHA256_LEN], struct zu_err *err)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(s->md_ctx, out, &len) != 1 || len != ZU_SHA256_LEN)
		return zu_err_set(err, -EIO, "SHA-256 final failed in libcrypto");
	return 0;
}

void zu_sha256_fini(struct zu_sha256 *s)
{
	EVP_MD_CTX_free(s->md_ctx);
	s->md_ctx = NULL;
}

int zu_sha256_buf(const void *p, size_t n, uint8_t out[ZU_SHA256_LEN], struct zu_err *err)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != ZU_SHA256_LEN)
		return zu_err_set(err, -EIO, "SHA-256 digest failed in libcrypto");
	return 0;
}

void zu_hex(const uint8_t *d, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int zu_unhex_sha256(const char *s, uint8_t out[ZU_SHA256_LEN])
{
	if (strlen(s) != 2 * ZU_SHA256_LEN)
		return -EINVAL;
	for (size_t i = 0; i < ZU_SHA256_LEN; i++) {
		int hi = hex_value(s[2 * i]);
		int lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
