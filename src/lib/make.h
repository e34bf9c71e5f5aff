/* SPDX-License-Identifier: MIT */
/*
 * make - builds a .zck from an image: zchunk chunking, zstd per chunk on
 * several threads, SHA-256 of compressed and uncompressed chunks, the whole
 * image's SHA-256 in zckup's optional element. Written atomically; optionally
 * also the detached header. Build-host side: it may use a temp file for the body.
 */
#ifndef ZU_MAKE_H
#define ZU_MAKE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"
#include "make_dict.h"
#include "progress.h"
#include "zu_limits.h"

struct zu_make_params {
	const char *image;
	const char *output;
	const char *header_out;  /* NULL: none */
	int level;
	int threads;             /* >= 1 */
	struct zu_progress progress; /* ZU_PHASE_MAKE, total = image bytes */
	/* NULL: compat profile (one zstd frame per chunk); else the fine layout (fine.h). */
	const struct zu_fine_layout *fine;
	/*
	 * The limits apply enforces (NULL: the defaults): an image whose header
	 * would break them is refused (-EOVERFLOW) before any output is written.
	 */
	const struct zu_limits *lim;
	struct zu_dict_params dict; /* make_dict.h; mode 0: no dictionary */
};

struct zu_make_result {
	uint64_t image_len;
	uint64_t zck_len;
	uint64_t header_len;
	size_t n_chunks;
	uint8_t image_digest[ZU_DIGEST_LEN];
	uint8_t header_digest[ZU_DIGEST_LEN];
	size_t dict_len;          /* 0: no dictionary */
	size_t dict_comp_len;
	size_t dict_samples;      /* auto: chunks trained on */
	uint64_t dict_saved;      /* auto: bytes it saves the whole image, estimated */
	const char *dict_skipped; /* auto without a dictionary: why (static text); else NULL */
};

int zu_make_run(const struct zu_make_params *p, struct zu_make_result *out, struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
