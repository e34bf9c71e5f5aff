/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for format: zchunk header parse/build against golden files made
 * by Debian's zck (tests/data/README.md) and the malformed corpus
 * (tests/data/malformed/README.md).
 */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"
#include "hash.h"

static const struct zu_limits lim_default = ZU_LIMITS_DEFAULT;

/* tests/data, found from this file's path (meson compiles it relative to the build root). */
static void data_path(char *out, size_t cap, const char *name)
{
	const char *env = getenv("ZU_TEST_DATA");
	const char *file = __FILE__;
	const char *slash = strrchr(file, '/');
	int n;

	if (env)
		n = snprintf(out, cap, "%s/%s", env, name);
	else if (slash)
		n = snprintf(out, cap, "%.*s/../data/%s", (int)(slash - file), file, name);
	else
		n = snprintf(out, cap, "../data/%s", name);
	assert_true(n > 0 && (size_t)n < cap);
}

static uint8_t *read_data(const char *name, size_t *out_len)
{
	char path[4096];
	uint8_t *buf;
	FILE *f;
	long len;

	data_path(path, sizeof(path), name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (set ZU_TEST_DATA to tests/data)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*out_len = (size_t)len;
	return buf;
}

static void hex_is(const uint8_t *d, const char *want)
{
	char got[2 * ZU_DIGEST_LEN + 1];

	zu_hex(d, ZU_DIGEST_LEN, got);
	assert_string_equal(got, want);
}

/* Reads a golden file and parses its header; returns the whole file. */
static uint8_t *parse_golden(const char *name, struct zu_header *h, size_t *out_len)
{
	struct zu_err err = ZU_ERR_INIT;
	size_t len, hlen = 0;
	uint8_t *buf = read_data(name, &len);
	int r;

	assert_int_equal(zu_header_size(buf, len, &lim_default, &hlen, &err), 0);
	assert_true(hlen <= len);
	r = zu_header_parse(h, buf, hlen, &lim_default, &err);
	if (r < 0)
		fail_msg("%s: %s", name, err.msg);
	assert_int_equal(h->raw_len, hlen);
	assert_memory_equal(h->raw, buf, hlen);
	*out_len = len;
	return buf;
}

static void format_parses_golden_mixed_like_zck_read_header(void **state)
{
	struct zu_header h = ZU_HEADER_INIT;
	size_t len;
	uint8_t *buf = parse_golden("mixed.zck", &h, &len);

	(void)state;
	assert_false(h.detached);
	hex_is(h.header_digest, "d28ff905b9cff1ac85258fa1c2060e7ab243656f3f79561de6b7987ac3eac363");
	assert_true(h.flags == ZU_FLAG_UNCOMPRESSED);
	assert_true(h.comp_type == ZU_COMP_ZSTD);
	assert_false(h.has_dict);
	assert_false(h.has_image_digest);
	assert_int_equal(h.n_signatures, 0);
	assert_int_equal(h.n_chunks, 4);
	assert_int_equal(h.raw_len, 424);
	assert_true(h.image_len == 200000);
	assert_true(h.data_len == 141054);
	assert_true(h.max_chunk_len == 98330);
	hex_is(h.chunks[0].digest, "c126a5fe71d1302737e261cfb4cf81e067adf80847a4afba4b75218067266537");
	hex_is(h.chunks[0].udigest, "3bff907baea0665ebe4aa5b2c1f946821b545d7b57d8ca862a33278dc8d064de");
	assert_true(h.chunks[0].file_offset == 424 && h.chunks[0].image_offset == 0);
	assert_true(h.chunks[0].comp_len == 67980 && h.chunks[0].len == 98330);
	assert_true(h.chunks[1].file_offset == 68404 && h.chunks[1].image_offset == 98330);
	assert_true(h.chunks[3].file_offset == 112755 && h.chunks[3].comp_len == 28723);
	assert_true(h.chunks[3].len == 42514);
	zu_header_fini(&h);
	assert_null(h.raw);
	assert_null(h.chunks);
	free(buf);
}

static void format_parses_golden_dict_entry_and_offsets_after_it(void **state)
{
	struct zu_header h = ZU_HEADER_INIT;
	size_t len;
	uint8_t *buf = parse_golden("sections-dict.zck", &h, &len);

	(void)state;
	assert_true(h.has_dict);
	hex_is(h.dict.digest, "bc64f632d7be4002fd7b2dbf99a6c5fdf80171ec15b0274e7be210f3f55729b4");
	hex_is(h.dict.udigest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(h.dict.file_offset == 3381 && h.dict.comp_len == 25175);
	assert_true(h.dict.len == 112640);
	assert_int_equal(h.n_chunks, 48);
	assert_true(h.chunks[0].file_offset == 28556);
	assert_true(h.chunks[0].comp_len == 31 && h.chunks[0].len == 1571);
	assert_true(h.chunks[47].file_offset == 41053 && h.chunks[47].len == 1629);
	assert_true(h.image_len == 108697);
	assert_true(h.data_len == 37712);
	assert_true(h.max_chunk_len == 112640); /* the dict counts */
	zu_header_fini(&h);
	free(buf);
}

/* Property: every chunk's bytes at file_offset hash to its digest, and the body ends the file. */
static void check_offsets_against_body(const char *name)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	uint8_t d[ZU_DIGEST_LEN];
	size_t len;
	uint8_t *buf = parse_golden(name, &h, &len);
	uint64_t sum = 0;

	if (h.has_dict) {
		assert_int_equal(zu_sha256_buf(buf + h.dict.file_offset, h.dict.comp_len, d, &err),
				 0);
		assert_memory_equal(d, h.dict.digest, ZU_DIGEST_LEN);
	}
	for (size_t i = 0; i < h.n_chunks; i++) {
		const struct zu_chunk *c = &h.chunks[i];

		assert_true(c->file_offset + c->comp_len <= len);
		assert_true(c->image_offset == sum);
		sum += c->len;
		assert_int_equal(zu_sha256_buf(buf + c->file_offset, c->comp_len, d, &err), 0);
		assert_memory_equal(d, c->digest, ZU_DIGEST_LEN);
		if (h.comp_type == ZU_COMP_NONE)
			assert_memory_equal(d, c->udigest, ZU_DIGEST_LEN);
	}
	assert_true(sum == h.image_len);
	assert_true(h.n_chunks > 0);
	assert_true(h.chunks[h.n_chunks - 1].file_offset + h.chunks[h.n_chunks - 1].comp_len == len);
	assert_true(h.raw_len + h.data_len == len);
	zu_header_fini(&h);
	free(buf);
}

static void format_offsets_point_at_each_chunk_in_golden_files(void **state)
{
	(void)state;
	check_offsets_against_body("mixed.zck");
	check_offsets_against_body("sections.zck");
	check_offsets_against_body("sections-dict.zck");
	check_offsets_against_body("sections-none.zck");
}

static void format_parses_detached_header_and_rewrites_magic_both_ways(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header full = ZU_HEADER_INIT, det = ZU_HEADER_INIT;
	size_t len, zlen;
	uint8_t *zck = parse_golden("mixed.zck", &full, &len);
	uint8_t *zhr = parse_golden("mixed.zhr", &det, &zlen);
	uint8_t *out = NULL;
	size_t out_len = 0;

	(void)state;
	assert_true(det.detached);
	assert_false(full.detached);
	assert_int_equal(zlen, full.raw_len);
	assert_memory_equal(det.header_digest, full.header_digest, ZU_DIGEST_LEN);
	assert_int_equal(det.n_chunks, full.n_chunks);
	for (size_t i = 0; i < full.n_chunks; i++) {
		const struct zu_chunk *a = &det.chunks[i], *b = &full.chunks[i];

		assert_memory_equal(a->digest, b->digest, ZU_DIGEST_LEN);
		assert_memory_equal(a->udigest, b->udigest, ZU_DIGEST_LEN);
		assert_true(a->file_offset == b->file_offset && a->image_offset == b->image_offset);
		assert_true(a->comp_len == b->comp_len && a->len == b->len);
		/* Parsed in place: the digests are the header's own bytes. */
		assert_ptr_equal(b->udigest, b->digest + ZU_DIGEST_LEN);
		assert_true(b->digest > full.raw && b->digest < full.raw + full.raw_len);
	}
	assert_int_equal(zu_header_rewrite_magic(&full, true, &out, &out_len, &err), 0);
	assert_int_equal(out_len, zlen);
	assert_memory_equal(out, zhr, zlen);
	free(out);
	assert_int_equal(zu_header_rewrite_magic(&det, false, &out, &out_len, &err), 0);
	assert_int_equal(out_len, full.raw_len);
	assert_memory_equal(out, zck, full.raw_len);
	free(out);
	zu_header_fini(&full);
	zu_header_fini(&det);
	free(zck);
	free(zhr);
}

static void format_header_size_needs_only_the_lead(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	size_t len, hlen;
	uint8_t *buf = read_data("mixed.zck", &len);
	static const uint8_t not_zck[] = { 0x00, 'Z', 'X' };

	(void)state;
	/* mixed.zck: magic, type (1 byte), size (2 bytes): 8 bytes tell the size. */
	for (size_t n = 0; n <= ZU_LEAD_MAX; n++) {
		int r;

		hlen = 0;
		r = zu_header_size(buf, n, &lim_default, &hlen, &err);
		if (n < 8) {
			assert_int_equal(r, -EAGAIN);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(hlen, 424);
		}
	}
	/* A wrong magic is refused at once, without waiting for more bytes. */
	assert_int_equal(zu_header_size(not_zck, sizeof(not_zck), &lim_default, &hlen, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "magic"));
	free(buf);
}

static void build_golden(const char *name, bool detached, const char *want_name)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_header_params p;
	size_t len, want_len;
	uint8_t *buf = parse_golden(name, &h, &len);
	uint8_t *want = read_data(want_name, &want_len);
	uint8_t *out = NULL;
	size_t out_len = 0;

	p = (struct zu_header_params){ .chunks = h.chunks, .n_chunks = h.n_chunks,
				       .detached = detached, .dict = h.has_dict ? &h.dict : NULL };
	assert_int_equal(zu_header_build(&p, &out, &out_len, &err), 0);
	assert_int_equal(out_len, h.raw_len);
	assert_memory_equal(out, want, out_len);
	free(out);
	zu_header_fini(&h);
	free(buf);
	free(want);
}

static void format_build_writes_the_same_bytes_as_zck(void **state)
{
	(void)state;
	build_golden("mixed.zck", false, "mixed.zck");
	build_golden("sections.zck", false, "sections.zck");
	build_golden("mixed.zck", true, "mixed.zhr");
	/* The dictionary entry as zck -D writes it: make --dict relies on this. */
	build_golden("sections-dict.zck", false, "sections-dict.zck");
}

static void format_build_with_image_digest_round_trips(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header g = ZU_HEADER_INIT, h = ZU_HEADER_INIT;
	struct zu_header_params p;
	uint8_t digest[ZU_DIGEST_LEN];
	uint8_t *out = NULL;
	size_t len, out_len = 0;
	uint8_t *buf = parse_golden("sections.zck", &g, &len);

	(void)state;
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(0xa0 + i);
	p = (struct zu_header_params){ .chunks = g.chunks, .n_chunks = g.n_chunks,
				       .image_digest = digest };
	assert_int_equal(zu_header_build(&p, &out, &out_len, &err), 0);
	/* Optional element: count, id (3 bytes), size, 32 bytes of data. */
	assert_int_equal(out_len, g.raw_len + 1 + 3 + 1 + ZU_DIGEST_LEN);
	assert_int_equal(zu_header_parse(&h, out, out_len, &lim_default, &err), 0);
	assert_true(h.flags == (ZU_FLAG_UNCOMPRESSED | ZU_FLAG_OPTIONAL_ELEMENTS));
	assert_true(h.has_image_digest);
	assert_memory_equal(h.image_digest, digest, ZU_DIGEST_LEN);
	assert_int_equal(h.n_chunks, g.n_chunks);
	for (size_t i = 0; i < h.n_chunks; i++) {
		assert_memory_equal(h.chunks[i].digest, g.chunks[i].digest, ZU_DIGEST_LEN);
		assert_memory_equal(h.chunks[i].udigest, g.chunks[i].udigest, ZU_DIGEST_LEN);
		assert_true(h.chunks[i].len == g.chunks[i].len);
		assert_true(h.chunks[i].image_offset == g.chunks[i].image_offset);
		assert_true(h.chunks[i].file_offset == g.chunks[i].file_offset + 37);
	}
	zu_header_fini(&h);
	free(out);
	zu_header_fini(&g);
	free(buf);
}

/* Rewrites the header checksum of a built header after a patch. */
static void fix_checksum(uint8_t *buf, size_t n, size_t sum_pos)
{
	struct zu_err err = ZU_ERR_INIT;
	uint8_t *copy = malloc(n);

	assert_non_null(copy);
	memcpy(copy, buf, n);
	memcpy(copy, "\0ZCK1", 5); /* the checksum is always taken with this magic */
	memmove(copy + sum_pos, copy + sum_pos + ZU_DIGEST_LEN, n - sum_pos - ZU_DIGEST_LEN);
	assert_int_equal(zu_sha256_buf(copy, n - ZU_DIGEST_LEN, buf + sum_pos, &err), 0);
	free(copy);
}

static void format_skips_unknown_optional_elements(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_chunk c = { .comp_len = 10, .len = 20 };
	struct zu_header_params p = { .chunks = &c, .n_chunks = 1 };
	uint8_t digest[ZU_DIGEST_LEN] = { 1 };
	uint8_t *out = NULL;
	size_t out_len = 0, sum_pos = 6, id_pos;
	uint64_t size;

	(void)state;
	p.image_digest = digest;
	assert_int_equal(zu_header_build(&p, &out, &out_len, &err), 0);
	assert_int_equal(zu_cint_read(out, out_len, &sum_pos, &size, &err), 0);
	assert_true(sum_pos + ZU_DIGEST_LEN + size == out_len);
	/* checksum, data checksum, flags, compression, count (one byte each), then the id. */
	id_pos = sum_pos + ZU_DIGEST_LEN + ZU_DIGEST_LEN + 3;
	assert_int_equal(out[id_pos], ZU_ELEM_IMAGE_SHA256 & 0x7f);
	out[id_pos] += 2; /* another id of the same length (+1 is ZU_ELEM_FINE) */
	assert_int_not_equal(zu_header_parse(&h, out, out_len, &lim_default, &err), 0);
	fix_checksum(out, out_len, sum_pos);
	assert_int_equal(zu_header_parse(&h, out, out_len, &lim_default, &err), 0);
	assert_false(h.has_image_digest);
	assert_int_equal(h.n_chunks, 1);
	assert_true(h.image_len == 20);
	zu_header_fini(&h);
	free(out);
}

static void format_rejects_every_single_bit_flip_of_a_header(void **state)
{
	struct zu_header h = ZU_HEADER_INIT;
	size_t len;
	uint8_t *buf = read_data("mixed.zhr", &len);

	(void)state;
	for (size_t bit = 0; bit < len * 8; bit++) {
		struct zu_err err = ZU_ERR_INIT;
		int r;

		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = zu_header_parse(&h, buf, len, &lim_default, &err);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (r == 0)
			fail_msg("bit %zu flipped: header still accepted", bit);
		assert_true(r == -EBADMSG || r == -EOVERFLOW || r == -EINVAL);
		assert_int_equal(err.code, r);
		assert_true(err.msg[0] != '\0');
		assert_null(h.raw);
		assert_null(h.chunks);
	}
	free(buf);
}

static void format_rejects_wrong_buffer_lengths(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	size_t len;
	uint8_t *buf = read_data("mixed.zck", &len);

	(void)state;
	assert_int_equal(zu_header_parse(&h, buf, 425, &lim_default, &err), -EINVAL);
	assert_int_equal(zu_header_parse(&h, buf, 423, &lim_default, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_int_equal(zu_header_parse(&h, buf, 0, &lim_default, &err), -EBADMSG);
	assert_int_equal(zu_header_parse(&h, buf, 424, &lim_default, &err), 0);
	zu_header_fini(&h);
	free(buf);
}

static void format_applies_limits(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	size_t len, hlen;
	uint8_t *buf = read_data("mixed.zck", &len);

	(void)state;
	lim.max_chunks = 4; /* mixed.zck has 5 entries with the dict */
	assert_int_equal(zu_header_parse(&h, buf, 424, &lim, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "chunk count 5"));
	lim = lim_default;
	lim.max_chunk = 98329; /* its largest chunk is 98330 */
	assert_int_equal(zu_header_parse(&h, buf, 424, &lim, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "index entry 1"));
	lim = lim_default;
	lim.max_header = 423;
	assert_int_equal(zu_header_size(buf, len, &lim, &hlen, &err), -EOVERFLOW);
	lim.max_header = 424;
	assert_int_equal(zu_header_size(buf, len, &lim, &hlen, &err), 0);
	free(buf);
}

static void format_detects_offset_overflow(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_limits lim = { .max_header = SIZE_MAX, .max_chunk = SIZE_MAX,
				 .max_chunks = SIZE_MAX, .max_ranges = 1 };
	struct zu_chunk c[4];
	struct zu_header_params p = { .chunks = c, .n_chunks = 4 };
	uint8_t *out = NULL;
	size_t out_len = 0;

	(void)state;
	memset(c, 0, sizeof(c));
	for (size_t i = 0; i < 4; i++)
		c[i].comp_len = c[i].len = UINT64_C(1) << 62;
	assert_int_equal(zu_header_build(&p, &out, &out_len, &err), 0);
	if ((uint64_t)SIZE_MAX < UINT64_C(1) << 62) {
		/*
		 * 32-bit: a chunk of 2^62 bytes is over every size_t limit, so it
		 * is refused before any offset is summed; the sum of lengths that
		 * pass a limit cannot overflow 64 bits there (armhf, cross.sh).
		 */
		assert_int_equal(zu_header_parse(&h, out, out_len, &lim, &err), -EOVERFLOW);
		assert_non_null(strstr(err.msg, ", limit "));
		assert_null(h.chunks);
		free(out);
		return;
	}
	assert_int_equal(zu_header_parse(&h, out, out_len, &lim, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "overflow"));
	assert_null(h.chunks);
	free(out);
	/* Three such chunks fit. */
	p.n_chunks = 3;
	assert_int_equal(zu_header_build(&p, &out, &out_len, &err), 0);
	assert_int_equal(zu_header_parse(&h, out, out_len, &lim, &err), 0);
	assert_true(h.image_len == 3 * (UINT64_C(1) << 62));
	zu_header_fini(&h);
	free(out);
}

static void format_explains_unsupported_files(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h = ZU_HEADER_INIT;
	size_t len, hlen = 0;
	uint8_t *buf = read_data("malformed/no-uncompressed-digests.zck", &len);

	(void)state;
	assert_int_equal(zu_header_size(buf, len, &lim_default, &hlen, &err), 0);
	assert_int_equal(zu_header_parse(&h, buf, hlen, &lim_default, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "zck -u -h sha256"));
	free(buf);
	buf = read_data("malformed/chunk-checksum-sha512.zck", &len);
	assert_int_equal(zu_header_size(buf, len, &lim_default, &hlen, &err), 0);
	assert_int_equal(zu_header_parse(&h, buf, hlen, &lim_default, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "chunk checksum type 2"));
	free(buf);
	buf = read_data("malformed/chunk-count-2p40.zck", &len);
	assert_int_equal(zu_header_size(buf, len, &lim_default, &hlen, &err), 0);
	assert_int_equal(zu_header_parse(&h, buf, hlen, &lim_default, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "1099511627776"));
	free(buf);
}

static int code_of(const char *s)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = { { "-EBADMSG", -EBADMSG }, { "-EOVERFLOW", -EOVERFLOW },
		      { "-EINVAL", -EINVAL } };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strncmp(s, codes[i].name, strlen(codes[i].name)) == 0 &&
		    s[strlen(codes[i].name)] == ' ')
			return codes[i].code;
	fail_msg("unknown code in malformed/README.md: %.20s", s);
	return 0;
}

/* The parse a .zck reader does: size from the lead, then the header bytes. */
static int parse_file(const uint8_t *buf, size_t len, struct zu_err *err)
{
	struct zu_header h = ZU_HEADER_INIT;
	size_t hlen = 0;
	int r = zu_header_size(buf, len, &lim_default, &hlen, err);

	if (r < 0 && r != -EAGAIN)
		return r;
	if (r == -EAGAIN || hlen > len)
		hlen = len;
	r = zu_header_parse(&h, buf, hlen, &lim_default, err);
	zu_header_fini(&h);
	return r;
}

static char *next_line(char *s)
{
	char *nl = strchr(s, '\n');

	return nl && nl[1] ? nl + 1 : NULL;
}

static void format_rejects_each_malformed_file_with_its_code(void **state)
{
	size_t len, n_rows = 0;
	char *readme = (char *)read_data("malformed/README.md", &len);
	char names[64][64];
	char dir[4096];
	struct dirent *de;
	DIR *d;

	(void)state;
	readme[len] = '\0';
	for (char *line = readme; line; line = next_line(line)) {
		char path[128], *end;
		struct zu_err err = ZU_ERR_INIT;
		uint8_t *buf;
		size_t flen;
		int want, got;

		if (strncmp(line, "| `", 3) != 0)
			continue;
		end = strchr(line + 3, '`');
		assert_non_null(end);
		assert_true(end - (line + 3) < 64 && n_rows < 64);
		snprintf(names[n_rows], sizeof(names[0]), "%.*s", (int)(end - (line + 3)), line + 3);
		assert_true(strncmp(end, "` | ", 4) == 0);
		want = code_of(end + 4);
		snprintf(path, sizeof(path), "malformed/%s", names[n_rows]);
		buf = read_data(path, &flen);
		got = parse_file(buf, flen, &err);
		if (got != want)
			fail_msg("%s: expected %s, got %d (%s)", names[n_rows], end + 4, got, err.msg);
		assert_int_equal(err.code, got);
		print_message("  %-32s %s\n", names[n_rows], err.msg);
		free(buf);
		n_rows++;
	}
	assert_true(n_rows >= 20);
	/* Every file in the directory has a row. */
	data_path(dir, sizeof(dir), "malformed");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		bool listed = false;

		if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0 ||
		    strcmp(de->d_name, "make_malformed.py") == 0)
			continue;
		for (size_t i = 0; i < n_rows; i++)
			listed = listed || strcmp(names[i], de->d_name) == 0;
		if (!listed)
			fail_msg("malformed/%s has no row in malformed/README.md", de->d_name);
	}
	closedir(d);
	free(readme);
}

/* As a reader of a file does: the lead's size, then a parse of that many bytes (or fewer). */
static int parse_as_reader(const uint8_t *buf, size_t n, struct zu_err *err)
{
	struct zu_header h;
	size_t want = 0;
	int r = zu_header_size(buf, n, &lim_default, &want, err);

	if (r == -EAGAIN)
		return zu_err_set(err, -EBADMSG, "lead cut short");
	if (r < 0)
		return r;
	r = zu_header_parse(&h, buf, want < n ? want : n, &lim_default, err);
	if (r == 0)
		zu_header_fini(&h);
	return r;
}

/*
 * Item 7 of issue 7, extending format_rejects_every_single_bit_flip_of_a_header
 * (mixed.zhr, parsed whole): read as a reader does, every truncation at every
 * byte of mixed.zhr and of a header zckup builds (with its optional element),
 * and every single-bit flip of the latter, are refused with -EBADMSG or
 * -EOVERFLOW: never parsed, never another code.
 */
static void format_refuses_every_truncation_and_every_bit_flip(void **state)
{
	struct zu_err err = ZU_ERR_INIT;
	uint8_t dg[2 * 50][ZU_DIGEST_LEN], image[ZU_DIGEST_LEN];
	struct zu_chunk c[50];
	struct zu_header_params hp = { .chunks = c, .n_chunks = 50, .image_digest = image };
	uint8_t *bufs[2] = { NULL, NULL };
	size_t lens[2] = { 0, 0 };
	size_t tried = 0;

	(void)state;
	bufs[0] = read_data("mixed.zhr", &lens[0]);
	for (size_t i = 0; i < 50; i++) {
		memset(dg[2 * i], (int)i, ZU_DIGEST_LEN);
		memset(dg[2 * i + 1], (int)(i + 100), ZU_DIGEST_LEN);
		c[i] = (struct zu_chunk){ .digest = dg[2 * i], .udigest = dg[2 * i + 1],
					  .comp_len = 100 + i, .len = 30000 + 7 * i };
	}
	memset(image, 0x5a, sizeof(image));
	assert_int_equal(zu_header_build(&hp, &bufs[1], &lens[1], &err), 0);
	for (size_t k = 0; k < 2; k++) {
		uint8_t *b = bufs[k];
		size_t n = lens[k];

		assert_int_equal(parse_as_reader(b, n, &err), 0);
		for (size_t cut = 0; cut < n; cut++, tried++) {
			int r = parse_as_reader(b, cut, &err);

			if (r != -EBADMSG)
				fail_msg("header %zu cut at %zu of %zu: %d %s", k, cut, n, r, err.msg);
		}
		for (size_t bit = 0; k == 1 && bit < 8 * n; bit++, tried++) {
			int r;

			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			r = parse_as_reader(b, n, &err);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (r != -EBADMSG && r != -EOVERFLOW)
				fail_msg("header %zu, bit %zu flipped: %d %s", k, bit, r, err.msg);
		}
	}
	print_message("%zu truncated or flipped headers refused\n", tried);
	free(bufs[0]);
	free(bufs[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_parses_golden_mixed_like_zck_read_header),
		cmocka_unit_test(format_parses_golden_dict_entry_and_offsets_after_it),
		cmocka_unit_test(format_offsets_point_at_each_chunk_in_golden_files),
		cmocka_unit_test(format_parses_detached_header_and_rewrites_magic_both_ways),
		cmocka_unit_test(format_header_size_needs_only_the_lead),
		cmocka_unit_test(format_build_writes_the_same_bytes_as_zck),
		cmocka_unit_test(format_build_with_image_digest_round_trips),
		cmocka_unit_test(format_skips_unknown_optional_elements),
		cmocka_unit_test(format_rejects_every_single_bit_flip_of_a_header),
		cmocka_unit_test(format_rejects_wrong_buffer_lengths),
		cmocka_unit_test(format_applies_limits),
		cmocka_unit_test(format_detects_offset_overflow),
		cmocka_unit_test(format_refuses_every_truncation_and_every_bit_flip),
		cmocka_unit_test(format_explains_unsupported_files),
		cmocka_unit_test(format_rejects_each_malformed_file_with_its_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
