/* SPDX-License-Identifier: MIT */
/* Feature macros for the whole library, included first by every .c file. */
#ifndef ZU_CONFIG_H
#define ZU_CONFIG_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif
#endif
