/* SPDX-License-Identifier: MIT */
/*
 * format - zchunk v1 headers (full file "\0ZCK1" and detached "\0ZHR1"): parse
 * and write lead, preface, index and signatures. Pure functions on buffers,
 * bounded by struct zu_limits; no length field is trusted. No I/O here.
 * Facts: shared/spec/zchunk-chunker.md ("The file").
 */
#ifndef ZU_FORMAT_H
#define ZU_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cint.h"
#include "err.h"
#include "fine.h"
#include "zu_limits.h"

#define ZU_DIGEST_LEN 32

/* Lead checksum / chunk checksum type ids (zchunk). zckup handles SHA-256 only. */
#define ZU_HASH_SHA1 0
#define ZU_HASH_SHA256 1
#define ZU_HASH_SHA512 2
#define ZU_HASH_SHA512_128 3

/* Preface flags. */
#define ZU_FLAG_DATA_STREAMS 1u
#define ZU_FLAG_OPTIONAL_ELEMENTS 2u
#define ZU_FLAG_UNCOMPRESSED 4u
#define ZU_FLAGS_KNOWN (ZU_FLAG_OPTIONAL_ELEMENTS | ZU_FLAG_UNCOMPRESSED)

/* Compression types. */
#define ZU_COMP_NONE 0
#define ZU_COMP_ZSTD 2

/*
 * zckup's optional element: the whole uncompressed image's SHA-256 (32 bytes).
 * Id chosen far above zchunk's own range; readers skip unknown ids.
 */
#define ZU_ELEM_IMAGE_SHA256 0x7a75u

/* Bytes needed to know a header's full size: magic, type, size (cint), checksum. */
#define ZU_LEAD_MAX (5 + 2 * ZU_CINT_MAX_LEN + ZU_DIGEST_LEN)

/*
 * One index entry. The digests are not copied: in a parsed header they point
 * into zu_header.raw (the entry's own bytes), which keeps the per-chunk cost
 * at this struct (48 bytes) plus the entry in the header bytes (about 70).
 * Whoever builds a zu_chunk by hand points them at storage that outlives it.
 */
struct zu_chunk {
	uint8_t *digest;                /* ZU_DIGEST_LEN bytes: SHA-256 of the compressed chunk */
	uint8_t *udigest;               /* ZU_DIGEST_LEN bytes: SHA-256 of the uncompressed chunk */
	uint64_t file_offset;           /* of the compressed chunk in a full .zck */
	uint64_t image_offset;          /* of the chunk in the uncompressed image */
	uint64_t comp_len;
	uint64_t len;                   /* uncompressed */
};

struct zu_header {
	uint8_t *raw;              /* the header bytes as read (owned, malloc'd); magic as read;
				      the chunks' digests point into it */
	size_t raw_len;            /* == lead + preface + index + signatures */
	bool detached;             /* magic was "\0ZHR1" */
	uint8_t header_digest[ZU_DIGEST_LEN]; /* checksum stored in the lead (verified) */
	uint8_t data_digest[ZU_DIGEST_LEN];
	uint64_t flags;
	uint64_t comp_type;
	bool has_dict;
	struct zu_chunk dict;      /* index entry 0; all zero when there is no dict */
	size_t n_chunks;           /* data chunks, dict excluded */
	struct zu_chunk *chunks;   /* owned; n_chunks entries */
	uint64_t image_len;        /* sum of len */
	uint64_t data_len;         /* sum of comp_len, dict included */
	uint64_t max_chunk_len;    /* largest len or comp_len of any entry */
	bool has_image_digest;
	uint8_t image_digest[ZU_DIGEST_LEN];
	struct zu_fine_layout fine; /* fine.h; .valid when the header has the element */
	size_t n_signatures;
};

#define ZU_HEADER_INIT { 0 }

/*
 * Given the first n bytes of a file, tells how many bytes the whole header
 * has (*out_len). -EAGAIN when n is too short to tell (read more, up to
 * ZU_LEAD_MAX); -EBADMSG for a wrong magic or a malformed lead; -EOVERFLOW
 * when the size exceeds lim->max_header.
 */
int zu_header_size(const uint8_t *buf, size_t n, const struct zu_limits *lim, size_t *out_len,
		   struct zu_err *err) __attribute__((warn_unused_result));

/*
 * Reads the lead at the start of a file: the whole header's size and the
 * header checksum it records (not verified here). Errors as zu_header_size();
 * -EAGAIN also when the checksum is not within the n bytes.
 */
int zu_header_lead(const uint8_t *buf, size_t n, const struct zu_limits *lim, size_t *out_len,
		   uint8_t out_digest[ZU_DIGEST_LEN], struct zu_err *err)
	__attribute__((warn_unused_result));

/*
 * Parses and verifies a whole header in buf[0..n) (n == its size from
 * zu_header_size(); extra bytes are refused). Checks the header checksum,
 * that only known flags are set, ZU_FLAG_UNCOMPRESSED is set, chunk
 * checksums are SHA-256, zstd or no compression, every length within limits,
 * every offset free of overflow. Copies buf; on success *h owns its memory
 * (free with zu_header_fini()); on failure *h is left empty.
 */
int zu_header_parse(struct zu_header *h, const uint8_t *buf, size_t n,
		    const struct zu_limits *lim, struct zu_err *err)
	__attribute__((warn_unused_result));
/*
 * zu_header_parse() in place: takes *buf (malloc'd, n bytes) whatever the
 * outcome and sets *buf to NULL. On success it becomes h->raw (no copy: the
 * header's memory is its bytes plus 48 bytes a chunk); on failure it is freed.
 */
int zu_header_parse_take(struct zu_header *h, uint8_t **buf, size_t n,
			 const struct zu_limits *lim, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_header_fini(struct zu_header *h);

/* What zu_header_build() writes. */
struct zu_header_params {
	const struct zu_chunk *chunks; /* data chunks (digest, udigest, comp_len, len used) */
	size_t n_chunks;
	const uint8_t *image_digest;   /* NULL: no zckup optional element */
	const struct zu_fine_layout *fine; /* NULL: no fine layout element */
	bool detached;                 /* write "\0ZHR1" instead of "\0ZCK1" */
	/* Index entry 0 (digest, udigest, comp_len, len used); NULL: no dict (all zeros). */
	const struct zu_chunk *dict;
};

/*
 * Serialises a header with ZU_FLAG_UNCOMPRESSED set (and ZU_FLAG_OPTIONAL_ELEMENTS
 * when image_digest is given),
 * SHA-256 lead and chunk checksums, zstd compression, the dict entry when
 * given (the dict itself goes first in the body), no signatures,
 * data checksum all zeros (as `zck -u -h sha256` writes). Returns a new
 * malloc'd buffer in *out (free()), its length in *out_len.
 */
int zu_header_build(const struct zu_header_params *p, uint8_t **out, size_t *out_len,
		    struct zu_err *err) __attribute__((warn_unused_result));

/*
 * Returns a copy of the parsed header's bytes with the other magic
 * (detached <-> full), checksum unchanged (the checksum is always computed as
 * if the magic were "\0ZCK1"). New malloc'd buffer in *out.
 */
int zu_header_rewrite_magic(const struct zu_header *h, bool detached, uint8_t **out,
			    size_t *out_len, struct zu_err *err) __attribute__((warn_unused_result));

#endif
