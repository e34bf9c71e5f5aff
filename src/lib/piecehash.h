/* SPDX-License-Identifier: MIT */
/*
 * piecehash - the 64-bit hash that names a piece in a fine table (fine.h):
 * XXH64 with seed 0, as published by the xxHash project (the same value
 * `xxhsum -H64` prints), stored little-endian. Not cryptographic, and need
 * not be: a piece found by it is only a candidate, and the rebuilt chunk must
 * match the header's SHA-256 before it is used. Chosen because a device hashes
 * every 4 KiB block of its sources with it: at several GB/s it costs a small
 * fraction of reading them, where SHA-256 without CPU extensions (many ARM
 * cores) is slower than the disk.
 */
#ifndef ZU_PIECEHASH_H
#define ZU_PIECEHASH_H

#include <stddef.h>
#include <stdint.h>

#define ZU_PIECEHASH_LEN 8

uint64_t zu_piecehash(const void *p, size_t n);
/* The hash as stored in a table: 8 bytes, little-endian on every host. */
void zu_piecehash_bytes(const void *p, size_t n, uint8_t out[ZU_PIECEHASH_LEN]);

#endif
