/* SPDX-License-Identifier: MIT */
/*
 * chunker_table - private to the chunker: zchunk's buzhash constants (MIT-licensed data from the
 * urlblock project, see chunker_table.c) and the same values pre-rotated for the byte that
 * leaves the window, so the hot loop does one lookup per byte and side.
 */
#ifndef ZU_CHUNKER_TABLE_H
#define ZU_CHUNKER_TABLE_H

#include <stdint.h>

/* T[x]: what byte x adds when it enters the window. */
extern const uint32_t zu_buzhash_table[256];
/* rol(T[x], 16) (48 mod 32): what byte x removes when it leaves the window. */
extern const uint32_t zu_buzhash_out_table[256];

#endif
