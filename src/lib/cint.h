/* SPDX-License-Identifier: MIT */
/*
 * cint - zchunk's compressed integers: 7-bit little-endian groups, the top bit
 * set on the LAST byte only. Pure functions on buffers; never reads past n.
 */
#ifndef ZU_CINT_H
#define ZU_CINT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest encoding of a uint64_t. */
#define ZU_CINT_MAX_LEN 10

/*
 * Decodes one integer from buf[*pos..n) into *out and advances *pos.
 * -EBADMSG when the buffer ends first; -EOVERFLOW when the value does not fit
 * in 64 bits. The message names the offset.
 */
int zu_cint_read(const uint8_t *buf, size_t n, size_t *pos, uint64_t *out, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Encodes v into out (at least ZU_CINT_MAX_LEN bytes); returns the bytes written. */
size_t zu_cint_write(uint8_t *out, uint64_t v);
/* Bytes zu_cint_write() would write for v. */
size_t zu_cint_len(uint64_t v);

#endif
