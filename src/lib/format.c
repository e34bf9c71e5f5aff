/* SPDX-License-Identifier: MIT */
/*
 * format - zchunk v1 header parser and writer. Every length and count read
 * from the header is checked against what is left of the buffer and against
 * struct zu_limits before it is used or allocated; every offset sum is
 * overflow-checked. Never does I/O and never trusts the input.
 */
#include "config.h"

#include "format.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define MAGIC_LEN 5

static const uint8_t magic_full[MAGIC_LEN] = { 0, 'Z', 'C', 'K', '1' };
static const uint8_t magic_detached[MAGIC_LEN] = { 0, 'Z', 'H', 'R', '1' };

/* Smallest index entry with uncompressed digests: two digests, two one-byte cints. */
#define ENTRY_MIN (2 * ZU_DIGEST_LEN + 2)

/* A cursor over one region of the header (the whole header, or the index). */
struct rd {
	const uint8_t *buf;
	size_t end;         /* end of the region */
	size_t pos;
	const char *region; /* for messages */
	struct zu_err *err;
};

struct lead {
	bool detached;
	size_t sum_pos; /* offset of the header checksum */
	size_t total;   /* bytes of the whole header */
};

static int rd_cint(struct rd *r, const char *what, uint64_t *out)
{
	int ret = zu_cint_read(r->buf, r->end, &r->pos, out, r->err);

	if (ret < 0)
		zu_err_prefix(r->err, "%s in the %s (which ends at offset %zu)", what, r->region,
			      r->end);
	return ret;
}

static int rd_bytes(struct rd *r, uint64_t len, const char *what, const uint8_t **out)
{
	if (len > r->end - r->pos)
		return zu_err_set(r->err, -EBADMSG,
				  "%s at offset %zu: needs %" PRIu64 " bytes, only %zu left (the %s "
				  "ends at offset %zu)",
				  what, r->pos, len, r->end - r->pos, r->region, r->end);
	*out = r->buf + r->pos;
	r->pos += (size_t)len;
	return 0;
}

/* A cint of the lead; -EAGAIN when the buffer may simply be too short yet. */
static int lead_cint(const uint8_t *buf, size_t n, size_t *pos, const char *what, uint64_t *out,
		     struct zu_err *err)
{
	int r = zu_cint_read(buf, n, pos, out, err);

	if (r == -EBADMSG && n < ZU_LEAD_MAX)
		return zu_err_set(err, -EAGAIN, "lead: %zu bytes are too few to read the %s", n,
				  what);
	if (r < 0)
		zu_err_prefix(err, "lead %s", what);
	return r;
}

static int parse_lead(const uint8_t *buf, size_t n, const struct zu_limits *lim, struct lead *l,
		      struct zu_err *err)
{
	size_t m = n < MAGIC_LEN ? n : MAGIC_LEN;
	size_t pos = MAGIC_LEN, size_at;
	uint64_t type, size, total;
	int r;

	if (n == 0)
		return zu_err_set(err, -EAGAIN, "lead: no bytes to read the magic from");
	if (memcmp(buf, magic_full, m) == 0) {
		l->detached = false;
	} else if (memcmp(buf, magic_detached, m) == 0) {
		l->detached = true;
	} else {
		char hex[2 * MAGIC_LEN + 1];

		zu_hex(buf, m, hex);
		return zu_err_set(err, -EBADMSG,
				  "not a zchunk header: magic at offset 0 is %s, expected "
				  "005a434b31 (\\0ZCK1) or 005a485231 (\\0ZHR1)",
				  hex);
	}
	if (n < MAGIC_LEN)
		return zu_err_set(err, -EAGAIN, "lead: %zu bytes are too few for the magic", n);
	r = lead_cint(buf, n, &pos, "checksum type", &type, err);
	if (r < 0)
		return r;
	if (type != ZU_HASH_SHA256)
		return zu_err_set(err, -EBADMSG,
				  "lead checksum type %" PRIu64 " at offset %d not supported: "
				  "expected 1 (SHA-256)",
				  type, MAGIC_LEN);
	size_at = pos;
	r = lead_cint(buf, n, &pos, "header size", &size, err);
	if (r < 0)
		return r;
	if (zu_add_overflow(pos + ZU_DIGEST_LEN, size, &total) || total > lim->max_header)
		return zu_err_set(err, -EOVERFLOW,
				  "lead header size %" PRIu64 " at offset %zu exceeds the limit of "
				  "%zu header bytes",
				  size, size_at, lim->max_header);
	l->sum_pos = pos;
	l->total = (size_t)total;
	return 0;
}

int zu_header_size(const uint8_t *buf, size_t n, const struct zu_limits *lim, size_t *out_len,
		   struct zu_err *err)
{
	struct lead l = { 0 };
	int r = parse_lead(buf, n, lim, &l, err);

	if (r < 0)
		return r;
	*out_len = l.total;
	return 0;
}

int zu_header_lead(const uint8_t *buf, size_t n, const struct zu_limits *lim, size_t *out_len,
		   uint8_t out_digest[ZU_DIGEST_LEN], struct zu_err *err)
{
	struct lead l = { 0 };
	int r = parse_lead(buf, n, lim, &l, err);

	if (r < 0)
		return r;
	if (n < l.sum_pos + ZU_DIGEST_LEN)
		return zu_err_set(err, -EAGAIN, "lead: %zu bytes are too few for the checksum", n);
	memcpy(out_digest, buf + l.sum_pos, ZU_DIGEST_LEN);
	*out_len = l.total;
	return 0;
}

/* SHA-256 of the header minus its checksum, with the magic taken as "\0ZCK1". */
static int header_sum(const uint8_t *buf, size_t n, size_t sum_pos, uint8_t out[ZU_DIGEST_LEN],
		      struct zu_err *err)
{
	struct zu_sha256 s = ZU_SHA256_INIT;
	size_t tail = sum_pos + ZU_DIGEST_LEN;
	int r;

	r = zu_sha256_init(&s, err);
	if (r < 0)
		goto out;
	r = zu_sha256_update(&s, magic_full, MAGIC_LEN, err);
	if (r < 0)
		goto out;
	r = zu_sha256_update(&s, buf + MAGIC_LEN, sum_pos - MAGIC_LEN, err);
	if (r < 0)
		goto out;
	r = zu_sha256_update(&s, buf + tail, n - tail, err);
	if (r < 0)
		goto out;
	r = zu_sha256_final(&s, out, err);
out:
	zu_sha256_fini(&s);
	return r;
}

static int parse_elements(struct rd *r, struct zu_header *h)
{
	size_t at = r->pos;
	uint64_t count;
	int ret;

	ret = rd_cint(r, "optional element count", &count);
	if (ret < 0)
		return ret;
	/* Each element takes at least two bytes, so a huge count fails before any loop. */
	if (count > (r->end - r->pos) / 2)
		return zu_err_set(r->err, -EBADMSG,
				  "optional element count %" PRIu64 " at offset %zu: only %zu bytes "
				  "left in the header",
				  count, at, r->end - r->pos);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t id, size;
		const uint8_t *data = NULL;

		at = r->pos;
		ret = rd_cint(r, "optional element id", &id);
		if (ret < 0)
			return ret;
		ret = rd_cint(r, "optional element size", &size);
		if (ret < 0)
			return ret;
		ret = rd_bytes(r, size, "optional element data", &data);
		if (ret < 0)
			return ret;
		if (id == ZU_ELEM_FINE) {
			if (h->fine.valid)
				return zu_err_set(r->err, -EBADMSG,
						  "optional element 0x%" PRIx64 " (fine layout) at "
						  "offset %zu: given twice", id, at);
			ret = zu_fine_elem_parse(data, size, &h->fine, r->err);
			if (ret < 0)
				return zu_err_prefix(r->err, "optional element at offset %zu", at);
			continue;
		}
		if (id != ZU_ELEM_IMAGE_SHA256)
			continue; /* unknown ids are skipped, as zchunk readers do */
		if (size != ZU_DIGEST_LEN || h->has_image_digest)
			return zu_err_set(r->err, -EBADMSG,
					  "optional element 0x%" PRIx64 " (image SHA-256) at offset "
					  "%zu: %s (size %" PRIu64 ", expected %d)",
					  id, at, h->has_image_digest ? "given twice" : "wrong size",
					  size, ZU_DIGEST_LEN);
		memcpy(h->image_digest, data, ZU_DIGEST_LEN);
		h->has_image_digest = true;
	}
	return 0;
}

static int parse_preface(struct rd *r, struct zu_header *h)
{
	const uint8_t *data = NULL;
	size_t at;
	int ret;

	ret = rd_bytes(r, ZU_DIGEST_LEN, "data checksum", &data);
	if (ret < 0)
		return ret;
	memcpy(h->data_digest, data, ZU_DIGEST_LEN);
	at = r->pos;
	ret = rd_cint(r, "flags", &h->flags);
	if (ret < 0)
		return ret;
	if (h->flags & ZU_FLAG_DATA_STREAMS)
		return zu_err_set(r->err, -EBADMSG,
				  "preface flags 0x%" PRIx64 " at offset %zu: data streams (flag 1) "
				  "are not supported",
				  h->flags, at);
	if (h->flags & ~(uint64_t)ZU_FLAGS_KNOWN)
		return zu_err_set(r->err, -EBADMSG,
				  "preface flags 0x%" PRIx64 " at offset %zu: unknown flag bits 0x%" PRIx64,
				  h->flags, at, h->flags & ~(uint64_t)ZU_FLAGS_KNOWN);
	if (!(h->flags & ZU_FLAG_UNCOMPRESSED))
		return zu_err_set(r->err, -EBADMSG,
				  "preface flags 0x%" PRIx64 " at offset %zu: no uncompressed chunk "
				  "digests (flag 4), which delta matching needs; make the file with "
				  "`zck -u -h sha256` (or zckup make)",
				  h->flags, at);
	at = r->pos;
	ret = rd_cint(r, "compression type", &h->comp_type);
	if (ret < 0)
		return ret;
	if (h->comp_type != ZU_COMP_ZSTD && h->comp_type != ZU_COMP_NONE)
		return zu_err_set(r->err, -EBADMSG,
				  "compression type %" PRIu64 " at offset %zu not supported: expected "
				  "2 (zstd) or 0 (none)",
				  h->comp_type, at);
	if (h->flags & ZU_FLAG_OPTIONAL_ELEMENTS)
		return parse_elements(r, h);
	return 0;
}

/* One index entry (digest, udigest, comp_len, len), lengths checked against max_chunk. */
static int parse_entry(struct rd *r, struct zu_chunk *c, size_t idx, const struct zu_limits *lim)
{
	const uint8_t *d = NULL;
	size_t at = r->pos;
	int ret;

	ret = rd_bytes(r, 2 * ZU_DIGEST_LEN, "entry digests", &d);
	if (ret == 0)
		ret = rd_cint(r, "compressed length", &c->comp_len);
	if (ret == 0)
		ret = rd_cint(r, "uncompressed length", &c->len);
	if (ret < 0) {
		zu_err_prefix(r->err, "index entry %zu (offset %zu)", idx, at);
		return ret;
	}
	/* r->buf is the header's own raw bytes (zu_header_parse_take): no copy. */
	c->digest = (uint8_t *)(uintptr_t)d;
	c->udigest = (uint8_t *)(uintptr_t)(d + ZU_DIGEST_LEN);
	if (c->comp_len > lim->max_chunk || c->len > lim->max_chunk)
		return zu_err_set(r->err, -EOVERFLOW,
				  "index entry %zu (offset %zu): compressed length %" PRIu64
				  ", uncompressed length %" PRIu64 ", limit %zu",
				  idx, at, c->comp_len, c->len, lim->max_chunk);
	return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Reads the dict entry and the chunks, and places them in the file and the image. */
static int parse_entries(struct rd *r, struct zu_header *h, const struct zu_limits *lim,
			 size_t hdr_len)
{
	uint64_t file_off, image_off = 0;
	int ret;

	ret = parse_entry(r, &h->dict, 0, lim);
	if (ret < 0)
		return ret;
	if (h->dict.comp_len == 0 && h->dict.len != 0)
		return zu_err_set(r->err, -EBADMSG,
				  "index entry 0 (dictionary): uncompressed length %" PRIu64
				  " with compressed length 0",
				  h->dict.len);
	h->has_dict = h->dict.comp_len != 0;
	h->dict.file_offset = hdr_len;
	h->data_len = h->dict.comp_len;
	h->max_chunk_len = max_u64(h->dict.comp_len, h->dict.len);
	if (zu_add_overflow(hdr_len, h->dict.comp_len, &file_off))
		return zu_err_set(r->err, -EOVERFLOW, "index entry 0: file offset overflows");
	for (size_t i = 0; i < h->n_chunks; i++) {
		struct zu_chunk *c = &h->chunks[i];

		ret = parse_entry(r, c, i + 1, lim);
		if (ret < 0)
			return ret;
		/* Even an empty chunk is a zstd frame of a few bytes: 0 is a lie. */
		if (c->comp_len == 0)
			return zu_err_set(r->err, -EBADMSG,
					  "index entry %zu: compressed length 0 (uncompressed length "
					  "%" PRIu64 "): every chunk stores at least one byte",
					  i + 1, c->len);
		c->file_offset = file_off;
		c->image_offset = image_off;
		if (zu_add_overflow(file_off, c->comp_len, &file_off) ||
		    zu_add_overflow(image_off, c->len, &image_off) ||
		    zu_add_overflow(h->data_len, c->comp_len, &h->data_len))
			return zu_err_set(r->err, -EOVERFLOW,
					  "index entry %zu: file or image offset overflows 64 bits",
					  i + 1);
		h->max_chunk_len = max_u64(h->max_chunk_len, max_u64(c->comp_len, c->len));
	}
	h->image_len = image_off;
	return 0;
}

static int parse_index(struct rd *r, struct zu_header *h, const struct zu_limits *lim)
{
	size_t hdr_end = r->end, at = r->pos, end;
	uint64_t size, type, count;
	int ret;

	ret = rd_cint(r, "index size", &size);
	if (ret < 0)
		return ret;
	if (size > r->end - r->pos)
		return zu_err_set(r->err, -EBADMSG,
				  "index size %" PRIu64 " at offset %zu exceeds the %zu bytes left "
				  "in the header",
				  size, at, r->end - r->pos);
	end = r->pos + (size_t)size;
	r->end = end;
	r->region = "index";
	at = r->pos;
	ret = rd_cint(r, "chunk checksum type", &type);
	if (ret < 0)
		return ret;
	if (type != ZU_HASH_SHA256)
		return zu_err_set(r->err, -EBADMSG,
				  "chunk checksum type %" PRIu64 " at offset %zu not supported: "
				  "expected 1 (SHA-256); make the file with `zck -u -h sha256`",
				  type, at);
	at = r->pos;
	ret = rd_cint(r, "chunk count", &count);
	if (ret < 0)
		return ret;
	if (count == 0)
		return zu_err_set(r->err, -EBADMSG,
				  "chunk count 0 at offset %zu: the dictionary entry is missing", at);
	if (count > lim->max_chunks)
		return zu_err_set(r->err, -EOVERFLOW,
				  "chunk count %" PRIu64 " at offset %zu exceeds the limit of %zu",
				  count, at, lim->max_chunks);
	/* Checked before allocating, so a lying count cannot make us allocate. */
	if (count > (r->end - r->pos) / ENTRY_MIN)
		return zu_err_set(r->err, -EBADMSG,
				  "chunk count %" PRIu64 " at offset %zu: %d bytes or more per entry "
				  "do not fit in the %zu bytes left in the index",
				  count, at, ENTRY_MIN, r->end - r->pos);
	h->n_chunks = (size_t)count - 1;
	if (h->n_chunks > 0) {
		h->chunks = calloc(h->n_chunks, sizeof(*h->chunks));
		if (!h->chunks)
			return zu_err_set(r->err, -ENOMEM, "cannot allocate %zu chunk records",
					  h->n_chunks);
	}
	ret = parse_entries(r, h, lim, hdr_end);
	if (ret < 0)
		return ret;
	if (r->pos != end)
		return zu_err_set(r->err, -EBADMSG,
				  "index size %" PRIu64 " says the index ends at offset %zu, but its "
				  "%" PRIu64 " entries end at offset %zu",
				  size, end, count, r->pos);
	r->end = hdr_end;
	r->region = "header";
	return 0;
}

static int parse_signatures(struct rd *r, struct zu_header *h)
{
	size_t at = r->pos;
	uint64_t count;
	int ret;

	ret = rd_cint(r, "signature count", &count);
	if (ret < 0)
		return ret;
	if (count > (r->end - r->pos) / 2)
		return zu_err_set(r->err, -EBADMSG,
				  "signature count %" PRIu64 " at offset %zu: only %zu bytes left in "
				  "the header",
				  count, at, r->end - r->pos);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t type, size;
		const uint8_t *data = NULL;

		ret = rd_cint(r, "signature type", &type);
		if (ret == 0)
			ret = rd_cint(r, "signature size", &size);
		if (ret == 0)
			ret = rd_bytes(r, size, "signature data", &data);
		if (ret < 0) {
			zu_err_prefix(r->err, "signature %" PRIu64, i);
			return ret;
		}
	}
	h->n_signatures = (size_t)count;
	if (r->pos != r->end)
		return zu_err_set(r->err, -EBADMSG,
				  "%zu unexpected bytes after the signatures at offset %zu (the "
				  "header size says the header ends at %zu)",
				  r->end - r->pos, r->pos, r->end);
	return 0;
}

static int check_lead(const uint8_t *buf, size_t n, const struct zu_limits *lim, struct lead *l,
		      struct zu_err *err)
{
	int r = parse_lead(buf, n, lim, l, err);

	if (r == -EAGAIN)
		return zu_err_set(err, -EBADMSG, "header truncated: %zu bytes do not hold the lead",
				  n);
	if (r < 0)
		return r;
	if (n < l->total)
		return zu_err_set(err, -EBADMSG, "header truncated: the lead says %zu bytes, got %zu",
				  l->total, n);
	if (n > l->total)
		return zu_err_set(err, -EINVAL,
				  "%zu bytes passed, but the header has %zu: pass exactly the header",
				  n, l->total);
	return 0;
}

int zu_header_parse(struct zu_header *h, const uint8_t *buf, size_t n,
		    const struct zu_limits *lim, struct zu_err *err)
{
	uint8_t *copy;

	*h = (struct zu_header)ZU_HEADER_INIT;
	copy = malloc(n ? n : 1);
	if (!copy)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu bytes for the header", n);
	if (n)
		memcpy(copy, buf, n);
	return zu_header_parse_take(h, &copy, n, lim, err);
}

int zu_header_parse_take(struct zu_header *h, uint8_t **bufp, size_t n,
			 const struct zu_limits *lim, struct zu_err *err)
{
	struct zu_header tmp = ZU_HEADER_INIT;
	uint8_t sum[ZU_DIGEST_LEN];
	uint8_t *buf = *bufp;
	struct lead l = { 0 };
	struct rd r;
	int ret;

	*h = tmp;
	*bufp = NULL;
	/* Owned from here: freed with tmp on failure, kept as h->raw on success. */
	tmp.raw = buf;
	ret = check_lead(buf, n, lim, &l, err);
	if (ret < 0)
		goto out;
	ret = header_sum(buf, n, l.sum_pos, sum, err);
	if (ret < 0)
		goto out;
	if (memcmp(sum, buf + l.sum_pos, ZU_DIGEST_LEN) != 0) {
		char want[2 * ZU_DIGEST_LEN + 1], got[2 * ZU_DIGEST_LEN + 1];

		zu_hex(buf + l.sum_pos, ZU_DIGEST_LEN, want);
		zu_hex(sum, ZU_DIGEST_LEN, got);
		ret = zu_err_set(err, -EBADMSG,
				 "header checksum mismatch: lead (offset %zu) says %s, the %zu header "
				 "bytes hash to %s",
				 l.sum_pos, want, n, got);
		goto out;
	}
	tmp.detached = l.detached;
	memcpy(tmp.header_digest, sum, ZU_DIGEST_LEN);
	r = (struct rd){ .buf = buf, .end = n, .pos = l.sum_pos + ZU_DIGEST_LEN,
			 .region = "header", .err = err };
	ret = parse_preface(&r, &tmp);
	if (ret == 0)
		ret = parse_index(&r, &tmp, lim);
	if (ret == 0)
		ret = parse_signatures(&r, &tmp);
	if (ret < 0)
		goto out;
	tmp.raw_len = n;
	*h = tmp;
	return 0;
out:
	zu_header_fini(&tmp);
	return ret;
}

void zu_header_fini(struct zu_header *h)
{
	if (!h)
		return;
	free(h->raw);
	free(h->chunks);
	*h = (struct zu_header)ZU_HEADER_INIT;
}

/* Builder: sizes first (overflow-checked), then one pass of writes. */
struct wr {
	uint8_t *buf;
	size_t pos;
};

static void put_cint(struct wr *w, uint64_t v)
{
	w->pos += zu_cint_write(w->buf + w->pos, v);
}

static void put_bytes(struct wr *w, const void *p, size_t n)
{
	memcpy(w->buf + w->pos, p, n);
	w->pos += n;
}

static void put_zeros(struct wr *w, size_t n)
{
	memset(w->buf + w->pos, 0, n);
	w->pos += n;
}

static uint64_t build_flags(const struct zu_header_params *p)
{
	return ZU_FLAG_UNCOMPRESSED |
	       (p->image_digest || p->fine ? ZU_FLAG_OPTIONAL_ELEMENTS : 0);
}

/* Bytes of the index after its size field; -EOVERFLOW when they cannot be counted. */
static int index_body_len(const struct zu_header_params *p, uint64_t *out, struct zu_err *err)
{
	uint64_t len = zu_cint_len(ZU_HASH_SHA256) + zu_cint_len((uint64_t)p->n_chunks + 1) +
		       2 * ZU_DIGEST_LEN;

	if (p->dict)
		len += zu_cint_len(p->dict->comp_len) + zu_cint_len(p->dict->len);
	else
		len += 2;

	for (size_t i = 0; i < p->n_chunks; i++) {
		const struct zu_chunk *c = &p->chunks[i];
		uint64_t entry = 2 * ZU_DIGEST_LEN + zu_cint_len(c->comp_len) + zu_cint_len(c->len);

		if (zu_add_overflow(len, entry, &len))
			return zu_err_set(err, -EOVERFLOW, "index of %zu chunks is too large",
					  p->n_chunks);
	}
	*out = len;
	return 0;
}

static void put_entry(struct wr *w, const struct zu_chunk *c)
{
	/* A chunk built without digests (tests, sizes only) gets zeros. */
	if (c->digest)
		put_bytes(w, c->digest, ZU_DIGEST_LEN);
	else
		put_zeros(w, ZU_DIGEST_LEN);
	if (c->udigest)
		put_bytes(w, c->udigest, ZU_DIGEST_LEN);
	else
		put_zeros(w, ZU_DIGEST_LEN);
	put_cint(w, c->comp_len);
	put_cint(w, c->len);
}

static void put_index(struct wr *w, const struct zu_header_params *p, uint64_t body_len)
{
	static const struct zu_chunk no_dict = { 0 }; /* all zeros with zero lengths */

	put_cint(w, body_len);
	put_cint(w, ZU_HASH_SHA256);
	put_cint(w, (uint64_t)p->n_chunks + 1);
	put_entry(w, p->dict ? p->dict : &no_dict);
	for (size_t i = 0; i < p->n_chunks; i++)
		put_entry(w, &p->chunks[i]);
}

int zu_header_build(const struct zu_header_params *p, uint8_t **out, size_t *out_len,
		    struct zu_err *err)
{
	uint64_t flags = build_flags(p), body = 0, preface, index, size, total;
	struct wr w = { NULL, 0 };
	size_t sum_pos;
	int ret;

	*out = NULL;
	*out_len = 0;
	if (p->n_chunks > 0 && !p->chunks)
		return zu_err_set(err, -EINVAL, "%zu chunks given without a chunk array",
				  p->n_chunks);
	ret = index_body_len(p, &body, err);
	if (ret < 0)
		return ret;
	preface = ZU_DIGEST_LEN + zu_cint_len(flags) + zu_cint_len(ZU_COMP_ZSTD);
	if (p->image_digest || p->fine)
		preface += zu_cint_len(2);
	if (p->image_digest)
		preface += zu_cint_len(ZU_ELEM_IMAGE_SHA256) + zu_cint_len(ZU_DIGEST_LEN) +
			   ZU_DIGEST_LEN;
	if (p->fine)
		preface += zu_cint_len(ZU_ELEM_FINE) + zu_cint_len(ZU_FINE_ELEM_LEN) +
			   ZU_FINE_ELEM_LEN;
	index = zu_cint_len(body) + body;
	/* The signature count (0) takes one byte. */
	if (zu_add_overflow(index, preface + 1, &size) ||
	    zu_add_overflow(size, MAGIC_LEN + 1 + zu_cint_len(size) + ZU_DIGEST_LEN, &total) ||
	    total > SIZE_MAX)
		return zu_err_set(err, -EOVERFLOW, "header of %zu chunks is too large", p->n_chunks);
	w.buf = malloc((size_t)total);
	if (!w.buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate %" PRIu64 " header bytes", total);
	put_bytes(&w, p->detached ? magic_detached : magic_full, MAGIC_LEN);
	put_cint(&w, ZU_HASH_SHA256);
	put_cint(&w, size);
	sum_pos = w.pos;
	put_zeros(&w, ZU_DIGEST_LEN);
	put_zeros(&w, ZU_DIGEST_LEN); /* data checksum: zck -u writes zeros */
	put_cint(&w, flags);
	put_cint(&w, ZU_COMP_ZSTD);
	if (p->image_digest || p->fine)
		put_cint(&w, (uint64_t)!!p->image_digest + !!p->fine);
	if (p->image_digest) {
		put_cint(&w, ZU_ELEM_IMAGE_SHA256);
		put_cint(&w, ZU_DIGEST_LEN);
		put_bytes(&w, p->image_digest, ZU_DIGEST_LEN);
	}
	if (p->fine) {
		uint8_t e[ZU_FINE_ELEM_LEN];

		zu_fine_elem_write(p->fine, e);
		put_cint(&w, ZU_ELEM_FINE);
		put_cint(&w, ZU_FINE_ELEM_LEN);
		put_bytes(&w, e, ZU_FINE_ELEM_LEN);
	}
	put_index(&w, p, body);
	put_cint(&w, 0);
	assert(w.pos == total);
	ret = header_sum(w.buf, w.pos, sum_pos, w.buf + sum_pos, err);
	if (ret < 0) {
		free(w.buf);
		return ret;
	}
	*out = w.buf;
	*out_len = w.pos;
	return 0;
}

int zu_header_rewrite_magic(const struct zu_header *h, bool detached, uint8_t **out,
			    size_t *out_len, struct zu_err *err)
{
	*out = NULL;
	*out_len = 0;
	if (!h->raw || h->raw_len < MAGIC_LEN)
		return zu_err_set(err, -EINVAL, "no parsed header to rewrite");
	*out = malloc(h->raw_len);
	if (!*out)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu header bytes", h->raw_len);
	memcpy(*out, h->raw, h->raw_len);
	/* The checksum stays valid: it is always taken as if the magic were "\0ZCK1". */
	memcpy(*out, detached ? magic_detached : magic_full, MAGIC_LEN);
	*out_len = h->raw_len;
	return 0;
}
