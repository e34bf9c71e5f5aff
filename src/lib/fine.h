/* SPDX-License-Identifier: MIT */
/*
 * fine - the "fine" profile's layout: pieces inside zchunk chunks. Pure codec
 * (no I/O, no zstd): the header element that announces the layout, the piece
 * geometry of a chunk, and the piece table each chunk starts with. Never
 * trusts a table: lengths are checked here, contents only by the coarse
 * chunk digest once a chunk is rebuilt.
 *
 * Byte layout of one chunk's compressed bytes in a fine .zck:
 *   skippable zstd frame: u32le magic ZU_FINE_MAGIC, u32le payload size,
 *                         payload = u8 version (2), then per piece:
 *                         u16le frame length, the piece's 8-byte hash
 *                         (piecehash.h: XXH64, little-endian)
 *   one independent zstd frame per piece, in order (content size set)
 * Pieces = the chunk cut at image offsets that are multiples of the piece
 * size, clipped at the chunk's edges. All of it concatenated is one valid
 * zstd stream: zck, unzck and SWUpdate decode it as an ordinary chunk.
 * Header optional element ZU_ELEM_FINE (4 bytes): version (2), log2 of the
 * piece size, digest bytes per entry (8), length bytes per entry.
 * Version 1 (never released) named pieces by 16 bytes of their SHA-256; a
 * device hashes every block of its sources with the piece hash, and SHA-256
 * made that pass slower than the disk on CPUs without SHA instructions.
 */
#ifndef ZU_FINE_H
#define ZU_FINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Optional element id, next to ZU_ELEM_IMAGE_SHA256 (0x7a75). */
#define ZU_ELEM_FINE 0x7a76u
#define ZU_FINE_ELEM_LEN 4u
#define ZU_FINE_VERSION 2u
/* zstd skippable frame magic (0x184D2A50..5F); the low nibble 0xE marks zckup's table. */
#define ZU_FINE_MAGIC 0x184D2A5Eu
#define ZU_FINE_SKIP_HDR 8u     /* magic + size */
#define ZU_FINE_PIECE_SHIFT 12u /* 4 KiB: the ext4 block */
#define ZU_FINE_DIGEST_LEN 8u /* ZU_PIECEHASH_LEN */
#define ZU_FINE_LEN_BYTES 2u

/* What the header element says; valid = the element was present and well formed. */
struct zu_fine_layout {
	bool valid;
	uint8_t piece_shift;  /* 9..20 */
	uint8_t digest_len;   /* ZU_FINE_DIGEST_LEN */
	uint8_t len_bytes;    /* 2 or 4 */
};

/* The layout zckup make --profile fine writes. */
#define ZU_FINE_LAYOUT_DEFAULT                                                                     \
	{ .valid = true, .piece_shift = ZU_FINE_PIECE_SHIFT, .digest_len = ZU_FINE_DIGEST_LEN,     \
	  .len_bytes = ZU_FINE_LEN_BYTES }

/* Parses the element's data (size bytes); -EBADMSG with the reason when malformed. */
int zu_fine_elem_parse(const uint8_t *data, uint64_t size, struct zu_fine_layout *out,
		       struct zu_err *err) __attribute__((warn_unused_result));
/* Writes the element's ZU_FINE_ELEM_LEN data bytes. */
void zu_fine_elem_write(const struct zu_fine_layout *l, uint8_t out[ZU_FINE_ELEM_LEN]);

/* Pieces of a chunk at image offset off, of len bytes (0 for len 0). */
uint64_t zu_fine_n_pieces(const struct zu_fine_layout *l, uint64_t off, uint64_t len);
/* Offset (within the chunk) and length of piece k of that chunk. */
void zu_fine_piece(const struct zu_fine_layout *l, uint64_t off, uint64_t len, uint64_t k,
		   uint64_t *out_start, uint64_t *out_len);
static inline size_t zu_fine_entry_len(const struct zu_fine_layout *l)
{
	return (size_t)l->len_bytes + l->digest_len;
}
/* Bytes of a chunk's whole table (skippable frame header included); 0 on overflow. */
uint64_t zu_fine_table_len(const struct zu_fine_layout *l, uint64_t n_pieces);

/* One decoded table entry; digest points into the table bytes. */
struct zu_fine_entry {
	uint32_t frame_len;
	const uint8_t *digest;
};

/*
 * Checks a chunk's table bytes (exactly zu_fine_table_len() of them): magic,
 * size, version, and that the frames it lists fit in the chunk's comp_len.
 * -EBADMSG otherwise. On success entries can be read with zu_fine_entry_get().
 */
int zu_fine_table_check(const struct zu_fine_layout *l, const uint8_t *t, size_t n,
			uint64_t n_pieces, uint64_t comp_len, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_fine_entry_get(const struct zu_fine_layout *l, const uint8_t *t, uint64_t k,
		       struct zu_fine_entry *out);
/* Writes the table header (skippable frame header + version) for n_pieces. */
void zu_fine_table_start(const struct zu_fine_layout *l, uint8_t *t, uint64_t n_pieces);
/* Writes entry k. */
void zu_fine_entry_put(const struct zu_fine_layout *l, uint8_t *t, uint64_t k,
		       uint32_t frame_len, const uint8_t *digest);

#endif
