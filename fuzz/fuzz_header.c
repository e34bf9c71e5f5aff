/* SPDX-License-Identifier: MIT */
/*
 * fuzz_header - libFuzzer target for the zchunk header parser. Each input is
 * parsed as given, and again with its header checksum recomputed (otherwise
 * almost every mutation stops at the checksum). Accepted headers must obey
 * the invariants callers rely on, and survive a build/parse round trip.
 */
#include "config.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "hash.h"


/* Small limits keep each run fast; the logic is the same as with the defaults. */
static const struct zu_limits fuzz_limits = {
	.max_header = 1u << 20, .max_chunk = 1u << 20, .max_chunks = 1u << 14, .max_ranges = 16
};


static void check_invariants(const struct zu_header *h)
{
	uint64_t file_off = h->raw_len + h->dict.comp_len, image_off = 0;

	CHECK(h->raw && h->raw_len > 0);
	CHECK(h->n_chunks < fuzz_limits.max_chunks);
	CHECK(h->n_chunks == 0 || h->chunks);
	CHECK(h->flags & ZU_FLAG_UNCOMPRESSED);
	CHECK(!(h->flags & ~(uint64_t)ZU_FLAGS_KNOWN));
	CHECK(h->has_dict == (h->dict.comp_len != 0));
	for (size_t i = 0; i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];

		CHECK(c->file_offset == file_off && c->image_offset == image_off);
		CHECK(c->len <= fuzz_limits.max_chunk && c->comp_len <= fuzz_limits.max_chunk);
		CHECK(c->len <= h->max_chunk_len && c->comp_len <= h->max_chunk_len);
		file_off += c->comp_len;
		image_off += c->len;
	}
	CHECK(image_off == h->image_len);
	CHECK(file_off == h->raw_len + h->data_len);
}

/* What zu_header_build makes of an accepted header must parse to the same chunks. */
static void check_round_trip(const struct zu_header *h)
{
	struct zu_header_params p = { .chunks = h->chunks, .n_chunks = h->n_chunks,
				      .image_digest = h->has_image_digest ? h->image_digest : NULL,
				      .detached = h->detached };
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h2 = ZU_HEADER_INIT;
	uint8_t *out = NULL;
	size_t out_len = 0;

	CHECK(zu_header_build(&p, &out, &out_len, &err) == 0);
	CHECK(zu_header_parse(&h2, out, out_len, &fuzz_limits, &err) == 0);
	CHECK(h2.n_chunks == h->n_chunks && h2.image_len == h->image_len);
	CHECK(h2.detached == h->detached && h2.has_image_digest == h->has_image_digest);
	for (size_t i = 0; i < h->n_chunks; i++) {
		CHECK(memcmp(h2.chunks[i].digest, h->chunks[i].digest, ZU_DIGEST_LEN) == 0);
		CHECK(memcmp(h2.chunks[i].udigest, h->chunks[i].udigest, ZU_DIGEST_LEN) == 0);
		CHECK(h2.chunks[i].len == h->chunks[i].len);
		CHECK(h2.chunks[i].comp_len == h->chunks[i].comp_len);
	}
	zu_header_fini(&h2);
	free(out);
	/* Swapping the magic keeps the checksum valid. */
	CHECK(zu_header_rewrite_magic(h, !h->detached, &out, &out_len, &err) == 0);
	CHECK(zu_header_parse(&h2, out, out_len, &fuzz_limits, &err) == 0);
	CHECK(h2.detached != h->detached);
	zu_header_fini(&h2);
	free(out);
}

static void parse_one(const uint8_t *buf, size_t n)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	int r = zu_header_parse(&h, buf, n, &fuzz_limits, &err);

	if (r < 0) {
		CHECK(err.code == r && err.msg[0] != '\0');
		CHECK(!h.raw && !h.chunks);
		return;
	}
	check_invariants(&h);
	check_round_trip(&h);
	zu_header_fini(&h);
}

/* Recomputes the header checksum in a copy, as if the magic were "\0ZCK1". */
static uint8_t *with_fixed_checksum(const uint8_t *data, size_t n)
{
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 6;
	uint64_t size;
	uint8_t *copy, *tmp;

	if (n < 6 || zu_cint_read(data, n, &pos, &size, &err) < 0 || n - pos < ZU_DIGEST_LEN)
		return NULL;
	copy = malloc(n);
	tmp = malloc(n);
	if (!copy || !tmp)
		abort();
	memcpy(copy, data, n);
	memcpy(tmp, data, pos);
	memcpy(tmp, "\0ZCK1", 5);
	memcpy(tmp + pos, data + pos + ZU_DIGEST_LEN, n - pos - ZU_DIGEST_LEN);
	CHECK(zu_sha256_buf(tmp, n - ZU_DIGEST_LEN, copy + pos, &err) == 0);
	free(tmp);
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zu_err err = ZU_ERR_INIT;
	size_t hlen = 0;
	uint8_t *fixed;
	int r;

	parse_one(data, size);
	r = zu_header_size(data, size, &fuzz_limits, &hlen, &err);
	if (r < 0) {
		CHECK(r == -EAGAIN || r == -EBADMSG || r == -EOVERFLOW);
		CHECK(r != -EAGAIN || size < ZU_LEAD_MAX);
		return 0;
	}
	CHECK(hlen <= fuzz_limits.max_header);
	if (hlen > size)
		return 0;
	parse_one(data, hlen);
	fixed = with_fixed_checksum(data, hlen);
	if (fixed)
		parse_one(fixed, hlen);
	free(fixed);
	return 0;
}
