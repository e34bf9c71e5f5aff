/* SPDX-License-Identifier: MIT */
/*
 * make_dict - the zstd dictionary of `zckup make --dict`: trained from the
 * image's own chunks (auto) or read from a file, compressed as zchunk stores
 * its dictionary chunk (index entry 0, first in the body), and digested into a
 * ZSTD_CDict that make's workers share. Build-host side; memory is bounded by
 * the sample cap, never by the image size. Never writes any file.
 */
#ifndef ZU_MAKE_DICT_H
#define ZU_MAKE_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "format.h"
#include "zu_limits.h"

enum zu_dict_mode {
	ZU_DICT_NONE = 0, /* no dictionary (entry 0 all zeros) */
	ZU_DICT_AUTO,     /* trained from the image's chunks */
	ZU_DICT_FILE,     /* read from a file, used as is */
};

/* Dictionary bytes of ZU_DICT_AUTO: the fewest bytes read of those measured (README "Dictionaries"). */
#define ZU_DICT_DEFAULT_SIZE (256u << 10)
/* Training samples at most (whole chunks spread over the image); also the training's memory. */
#define ZU_DICT_DEFAULT_SAMPLES (64u << 20)
#define ZU_DICT_MAX_SAMPLES (1u << 30)
#define ZU_DICT_MIN_SIZE 1024u
#define ZU_DICT_MAX_SIZE (1u << 20)

struct zu_dict_params {
	enum zu_dict_mode mode;
	const char *path;  /* ZU_DICT_FILE */
	size_t size;       /* ZU_DICT_AUTO: dictionary bytes; 0 = ZU_DICT_DEFAULT_SIZE */
	size_t max_samples; /* ZU_DICT_AUTO: sample bytes; 0 = ZU_DICT_DEFAULT_SAMPLES */
};

struct ZSTD_CDict_s;

struct zu_dict {
	uint8_t *buf;      /* the dictionary (NULL: none) */
	size_t len;
	uint8_t *frame;    /* buf as one zstd frame without a dictionary, as zchunk stores it */
	size_t frame_len;
	uint8_t digest[ZU_DIGEST_LEN];  /* SHA-256 of frame */
	uint8_t udigest[ZU_DIGEST_LEN]; /* SHA-256 of no bytes: what zck writes for the dict */
	struct zu_chunk entry;           /* index entry 0; points at digest and udigest */
	struct ZSTD_CDict_s *cdict;      /* for every chunk; shared read-only by the workers */
	size_t n_samples;                /* auto: chunks trained on */
	uint64_t sample_bytes;
	uint64_t saved_estimate;         /* auto: bytes it saves the whole image (measured) */
	const char *skipped;             /* auto without a dictionary: why (static text) */
};

#define ZU_DICT_INIT { 0 }

/* What the image gives to train on: it is read with pread, its file offset is left alone. */
struct zu_dict_source {
	const char *path; /* for messages */
	int fd;           /* a regular file or block device */
	int level;        /* zstd level of the chunks (and of the dict's frame) */
	int threads;      /* for the training's parameter search */
	const struct zu_limits *lim;
};

/*
 * Prepares the dictionary p asks for into *d (mode NONE leaves it empty). AUTO
 * reads the whole image once more (pread), cuts it like make does and trains on
 * up to max_samples bytes of whole chunks spread evenly over it (runs of one
 * byte cut to 16 bytes, chunks left with little skipped), then measures the dictionary on (part of) the
 * samples; when there is too little to train on, or the dictionary would save
 * the whole image less than its own compressed size, *d holds no dictionary
 * and d->skipped says why (not an error). -EINVAL for a bad parameter or
 * an image that cannot be read twice; -EBADMSG when a FILE dictionary is empty
 * or zstd refuses it; -EOVERFLOW when it is over lim->max_chunk; -EIO, -ENOMEM.
 * On success free *d with zu_make_dict_fini(); on failure it is left empty.
 */
int zu_make_dict_prepare(const struct zu_dict_params *p, const struct zu_dict_source *src,
			 struct zu_dict *d, struct zu_err *err) __attribute__((warn_unused_result));
void zu_make_dict_fini(struct zu_dict *d);

/*
 * Parses "auto", "none" or a path (anything else; "./auto" for a file named
 * auto) into p->mode and p->path (borrowed). Never fails.
 */
void zu_make_dict_parse(const char *arg, struct zu_dict_params *p);

#endif
