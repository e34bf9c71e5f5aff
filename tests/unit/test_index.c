/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for index: sources in temp files, target headers built by hand
 * from data cut with the chunker. Every run is compared with a naive reference
 * (cut the whole source in one call, hash every chunk, first match wins).
 */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chunker.h"
#include "hash.h"
#include "index.h"
#include "test_rng.h"

#define MAX_CUTS 4096
#define MIB (1u << 20)

#define SEED 0x2545f4914f6cdd1du

/* One stream for the whole run, seeded in main(): tests draw from it in order. */
static uint64_t rng_state;

/* Chunk boundaries of p[0..n) as the chunker cuts it in one call. */
struct cuts {
	size_t n;
	uint64_t off[MAX_CUTS];
	uint64_t len[MAX_CUTS];
	uint8_t digest[MAX_CUTS][ZU_SHA256_LEN];
};

static void cut(const uint8_t *p, size_t n, struct cuts *c)
{
	struct zu_chunker ck;
	struct zu_err err = ZU_ERR_INIT;
	size_t pos = 0, start = 0;

	zu_chunker_init(&ck);
	c->n = 0;
	while (pos < n) {
		size_t k = zu_chunker_scan(&ck, p + pos, n - pos);

		if (k == ZU_CHUNKER_NO_CUT)
			break;
		pos += k;
		assert_true(c->n < MAX_CUTS);
		c->off[c->n] = start;
		c->len[c->n++] = pos - start;
		start = pos;
	}
	if (n > start) {
		assert_true(c->n < MAX_CUTS);
		c->off[c->n] = start;
		c->len[c->n++] = n - start;
	}
	for (size_t i = 0; i < c->n; i++)
		assert_int_equal(zu_sha256_buf(p + c->off[i], c->len[i], c->digest[i], &err), 0);
}

/* A target header listing chunks (in the given order); only len and udigest matter. */
static void header_init(struct zu_header *h, size_t n)
{
	*h = (struct zu_header)ZU_HEADER_INIT;
	h->n_chunks = n;
	h->chunks = calloc(n ? n : 1, sizeof(*h->chunks));
	assert_non_null(h->chunks);
}

static void header_set(struct zu_header *h, size_t i, const struct cuts *c, size_t j)
{
	h->chunks[i].len = c->len[j];
	memcpy(h->chunks[i].udigest, c->digest[j], ZU_SHA256_LEN);
}

/* A target header of all chunks of c, in order. */
static void header_from(struct zu_header *h, const struct cuts *c)
{
	header_init(h, c->n);
	for (size_t i = 0; i < c->n; i++)
		header_set(h, i, c, i);
}

/* A temp file holding p[0..n); unlinked at once, so only the fd keeps it. */
static int temp_source(const void *p, size_t n)
{
	char path[] = "/tmp/zu_test_index_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

/* What zu_index_run must find: first source, then lowest offset, per digest. */
static void reference(const struct zu_header *h, const uint8_t *const *data, const uint64_t *sizes,
		      size_t n_src, struct zu_seed_loc *locs)
{
	static struct cuts c;

	for (size_t i = 0; i < h->n_chunks; i++)
		locs[i] = (struct zu_seed_loc){ .source = ZU_NO_SOURCE };
	for (size_t s = 0; s < n_src; s++) {
		cut(data[s], sizes[s], &c);
		for (size_t j = 0; j < c.n; j++) {
			for (size_t i = 0; i < h->n_chunks; i++) {
				if (locs[i].source == ZU_NO_SOURCE && h->chunks[i].len == c.len[j] &&
				    !memcmp(h->chunks[i].udigest, c.digest[j], ZU_SHA256_LEN))
					locs[i] = (struct zu_seed_loc){ (uint32_t)s, c.off[j] };
			}
		}
	}
}

struct progress_log {
	size_t calls;
	uint64_t last_done, total;
	int bad;
};

static void on_progress(void *user, enum zu_phase phase, uint64_t done, uint64_t total)
{
	struct progress_log *l = user;

	if (phase != ZU_PHASE_INDEX || done < l->last_done || done > total ||
	    (l->calls && total != l->total))
		l->bad = 1;
	l->calls++;
	l->last_done = done;
	l->total = total;
}

/* Runs the index over sources made of data[s][0..file_len[s]) limited to sizes[s]. */
static int run_index(const struct zu_header *h, const uint8_t *const *data, const size_t *file_len,
		     const uint64_t *sizes, size_t n_src, struct zu_seed_loc *locs,
		     struct zu_index_stats *st, struct progress_log *pl)
{
	struct zu_index_source src[4];
	struct zu_index_params p = { .h = h, .sources = src, .n_sources = n_src };
	struct zu_err err = ZU_ERR_INIT;
	int r;

	assert_true(n_src <= 4);
	for (size_t s = 0; s < n_src; s++)
		src[s] = (struct zu_index_source){ temp_source(data[s], file_len[s]), sizes[s] };
	if (pl) {
		p.progress.fn = on_progress;
		p.progress.user = pl;
	}
	r = zu_index_run(&p, locs, st, &err);
	if (r < 0)
		print_message("zu_index_run: %d %s\n", r, err.msg);
	for (size_t s = 0; s < n_src; s++)
		close(src[s].fd);
	return r;
}

/* Indexes and checks the result equals the reference; returns the number found. */
static size_t check_index(const struct zu_header *h, const uint8_t *const *data,
			  const uint64_t *sizes, size_t n_src, struct zu_index_stats *st,
			  struct zu_seed_loc *out_locs)
{
	struct zu_seed_loc *got = calloc(h->n_chunks + 1, sizeof(*got));
	struct zu_seed_loc *want = calloc(h->n_chunks + 1, sizeof(*want));
	size_t file_len[4], found = 0;

	assert_non_null(got);
	assert_non_null(want);
	for (size_t s = 0; s < n_src; s++)
		file_len[s] = (size_t)sizes[s];
	assert_int_equal(run_index(h, data, file_len, sizes, n_src, got, st, NULL), 0);
	reference(h, data, sizes, n_src, want);
	for (size_t i = 0; i < h->n_chunks; i++) {
		if (got[i].source != want[i].source || got[i].offset != want[i].offset)
			fail_msg("chunk %zu: got (%" PRIu32 ", %" PRIu64 ") want (%" PRIu32
				 ", %" PRIu64 ")",
				 i, got[i].source, got[i].offset, want[i].source, want[i].offset);
		found += got[i].source != ZU_NO_SOURCE;
	}
	assert_int_equal(st->n_found, found);
	if (out_locs)
		memcpy(out_locs, got, h->n_chunks * sizeof(*got));
	free(got);
	free(want);
	return found;
}

static void index_finds_chunks_of_shuffled_target(void **state)
{
	static struct cuts c;
	size_t n = 6 * MIB + 777, perm[MAX_CUTS];
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	uint64_t size = n;
	struct zu_header h;
	struct zu_index_stats st;

	(void)state;
	cut(s, n, &c);
	assert_true(c.n > 100);
	/* The target lists the source's chunks in shuffled order. */
	for (size_t i = 0; i < c.n; i++)
		perm[i] = i;
	for (size_t i = c.n - 1; i > 0; i--) {
		size_t j = test_rng_next(&rng_state) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	header_init(&h, c.n);
	for (size_t i = 0; i < c.n; i++)
		header_set(&h, i, &c, perm[i]);
	assert_int_equal(check_index(&h, data, &size, 1, &st, NULL), c.n);
	assert_int_equal(st.bytes_read, n);
	free(h.chunks);
	free(s);
}

static void index_misses_only_chunks_touched_by_changed_byte(void **state)
{
	static struct cuts c;
	static struct zu_seed_loc locs[MAX_CUTS];
	size_t n = 3 * MIB, hit = 0, missing = 0;
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	uint64_t size = n;
	struct zu_header h;
	struct zu_index_stats st;

	(void)state;
	cut(s, n, &c);
	header_from(&h, &c);
	for (int round = 0; round < 4; round++) {
		size_t pos = test_rng_next(&rng_state) % n;

		s[pos] ^= 0x5a;
		missing = c.n - check_index(&h, data, &size, 1, &st, locs);
		/* The chunk holding pos is gone; damage stays local. */
		for (size_t i = 0; i < c.n; i++)
			if (c.off[i] <= pos && pos < c.off[i] + c.len[i])
				hit = i;
		assert_true(missing >= 1 && missing <= 4);
		assert_int_equal(locs[hit].source, ZU_NO_SOURCE);
		for (size_t i = 0; i < c.n; i++)
			if (i + 2 < hit || i > hit + 2)
				assert_int_equal(locs[i].offset, c.off[i]);
		s[pos] ^= 0x5a;
	}
	free(h.chunks);
	free(s);
}

static void index_gives_duplicates_the_lowest_offset(void **state)
{
	static struct cuts c;
	size_t n = 4 * MIB, dups = 0;
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	uint64_t size = n;
	struct zu_header h;
	struct zu_index_stats st;

	(void)state;
	/* Two zero runs give many identical chunks. */
	memset(s + 300000, 0, MIB);
	memset(s + 2 * MIB + 100000, 0, MIB / 2);
	cut(s, n, &c);
	header_from(&h, &c);
	assert_int_equal(check_index(&h, data, &size, 1, &st, NULL), c.n);
	for (size_t i = 1; i < c.n; i++)
		for (size_t j = 0; j < i; j++)
			if (!memcmp(c.digest[i], c.digest[j], ZU_SHA256_LEN)) {
				dups++;
				break;
			}
	assert_true(dups >= 4); /* else this test proves nothing */
	free(h.chunks);
	free(s);
}

static void index_compares_full_digests_when_prefixes_collide(void **state)
{
	static struct cuts c;
	static struct zu_seed_loc locs[MAX_CUTS];
	size_t n = 3 * MIB, zero = MAX_CUTS, later = 0;
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	uint64_t size = n;
	struct zu_header h;
	struct zu_index_stats st;

	(void)state;
	memset(s + 200000, 0, 2 * MIB);
	cut(s, n, &c);
	for (size_t i = 0; i < c.n; i++) {
		if (c.len[i] != ZU_CHUNKER_MAX || s[c.off[i]] != 0)
			continue;
		if (zero == MAX_CUTS)
			zero = i;
		else if (!memcmp(c.digest[i], c.digest[zero], ZU_SHA256_LEN))
			later++;
	}
	assert_true(zero < MAX_CUTS && later >= 2);
	/* A zero chunk, then a digest sharing its first 8 bytes that no source has. */
	header_init(&h, 2);
	header_set(&h, 0, &c, zero);
	header_set(&h, 1, &c, zero);
	h.chunks[1].udigest[ZU_SHA256_LEN - 1] ^= 1;
	assert_int_equal(check_index(&h, data, &size, 1, &st, locs), 1);
	assert_int_equal(locs[0].offset, c.off[zero]);
	assert_int_equal(locs[1].source, ZU_NO_SOURCE);
	free(h.chunks);
	free(s);
}

static void index_prefers_first_source(void **state)
{
	static struct cuts ca, cb;
	size_t na = 2 * MIB + 5, nb = MIB + 99;
	uint8_t *a = test_rng_alloc(&rng_state, na), *b = test_rng_alloc(&rng_state, nb);
	const uint8_t *data[] = { a, b, a };
	uint64_t sizes[] = { na, nb, na };
	struct zu_header h;
	struct zu_index_stats st;
	static struct zu_seed_loc locs[2 * MAX_CUTS];

	(void)state;
	cut(a, na, &ca);
	cut(b, nb, &cb);
	/* Target: B's chunks then A's; A is in sources 0 and 2, B in source 1. */
	header_init(&h, ca.n + cb.n);
	for (size_t i = 0; i < cb.n; i++)
		header_set(&h, i, &cb, i);
	for (size_t i = 0; i < ca.n; i++)
		header_set(&h, cb.n + i, &ca, i);
	assert_int_equal(check_index(&h, data, sizes, 3, &st, locs), ca.n + cb.n);
	for (size_t i = 0; i < cb.n; i++)
		assert_int_equal(locs[i].source, 1);
	for (size_t i = 0; i < ca.n; i++) {
		assert_int_equal(locs[cb.n + i].source, 0);
		assert_int_equal(locs[cb.n + i].offset, ca.off[i]);
	}
	free(h.chunks);
	free(a);
	free(b);
}

static void index_stops_at_source_size(void **state)
{
	static struct cuts c;
	size_t n = 3 * MIB, limits[] = { MIB + 12345, 2 * MIB, 70000, 0 };
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	struct zu_header h;
	struct zu_index_stats st;
	struct zu_seed_loc locs[MAX_CUTS];

	(void)state;
	cut(s, n, &c);
	header_from(&h, &c);
	for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		uint64_t size = limits[k];
		size_t found;

		/* The file holds all n bytes; only the first size may be read. */
		assert_int_equal(run_index(&h, data, &n, &size, 1, locs, &st, NULL), 0);
		assert_int_equal(st.bytes_read, size);
		found = 0;
		for (size_t i = 0; i < c.n; i++) {
			if (locs[i].source == ZU_NO_SOURCE)
				continue;
			found++;
			assert_true(locs[i].offset + h.chunks[i].len <= size);
		}
		assert_true(found < c.n);
		assert_true(size < 100000 || found > 0);
		assert_int_equal(check_index(&h, data, &size, 1, &st, NULL), found);
	}
	free(h.chunks);
	free(s);
}

static void index_is_independent_of_block_boundaries(void **state)
{
	static struct cuts c;
	size_t body = 5 * MIB;
	uint8_t *b = test_rng_alloc(&rng_state, body), *s = malloc(body + 200000);
	const uint8_t *data[] = { s };
	struct zu_header h;
	struct zu_index_stats st;
	const size_t shifts[] = { 0, 1, 47, 4095, 65536, 131071, 131072, 199999 };

	(void)state;
	assert_non_null(s);
	cut(b, body, &c);
	header_from(&h, &c);
	/* The same chunks behind prefixes of many lengths straddle 1 MiB reads differently. */
	for (size_t k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
		uint64_t size = shifts[k] + body;
		size_t straddle = 0, found;

		memset(s, 0x33, shifts[k]);
		memcpy(s + shifts[k], b, body);
		found = check_index(&h, data, &size, 1, &st, NULL);
		assert_true(found >= c.n - 3);
		for (size_t i = 0; i < c.n; i++)
			straddle += (shifts[k] + c.off[i]) / MIB !=
				    (shifts[k] + c.off[i] + c.len[i] - 1) / MIB;
		assert_true(straddle >= 3);
	}
	free(h.chunks);
	free(b);
	free(s);
}

static void index_hashes_only_wanted_lengths(void **state)
{
	static struct cuts c;
	size_t n = 4 * MIB;
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s };
	uint64_t size = n, want_hashed = 0;
	struct zu_header h;
	struct zu_index_stats st;

	(void)state;
	cut(s, n, &c);
	assert_true(c.n > 8);
	/* Chunks 3 and 7 plus one the source lacks (so the run never stops early). */
	header_init(&h, 3);
	header_set(&h, 0, &c, 3);
	header_set(&h, 1, &c, 7);
	h.chunks[2].len = c.len[5];
	memset(h.chunks[2].udigest, 0xab, ZU_SHA256_LEN);
	for (size_t i = 0; i < c.n; i++)
		if (c.len[i] == c.len[3] || c.len[i] == c.len[7] || c.len[i] == c.len[5])
			want_hashed += c.len[i];
	assert_int_equal(check_index(&h, data, &size, 1, &st, NULL), 2);
	assert_int_equal(st.bytes_hashed, want_hashed);
	assert_true(st.bytes_hashed < n / 4);
	assert_int_equal(st.bytes_read, n);
	free(h.chunks);
	free(s);
}

static void index_stops_reading_when_all_found_and_reports_progress(void **state)
{
	static struct cuts c;
	size_t n = 8 * MIB;
	uint8_t *s = test_rng_alloc(&rng_state, n);
	const uint8_t *data[] = { s, s };
	uint64_t sizes[] = { n, n };
	size_t lens[] = { n, n };
	struct zu_header h;
	struct zu_index_stats st;
	struct zu_seed_loc locs[4];
	struct progress_log pl = { 0 };

	(void)state;
	cut(s, n, &c);
	header_init(&h, 2);
	header_set(&h, 0, &c, 1);
	header_set(&h, 1, &c, 0);
	assert_int_equal(run_index(&h, data, lens, sizes, 2, locs, &st, &pl), 0);
	assert_int_equal(locs[0].offset, c.off[1]);
	assert_int_equal(locs[1].offset, 0);
	assert_int_equal(st.bytes_read, MIB);
	assert_int_equal(st.n_found, 2);
	assert_false(pl.bad);
	assert_int_equal(pl.total, 2 * n);
	assert_int_equal(pl.last_done, 2 * n);

	/* Nothing found: one report per 1 MiB block, plus start and end. */
	memset(h.chunks[0].udigest, 0, ZU_SHA256_LEN);
	memset(h.chunks[1].udigest, 0, ZU_SHA256_LEN);
	pl = (struct progress_log){ 0 };
	assert_int_equal(run_index(&h, data, lens, sizes, 2, locs, &st, &pl), 0);
	assert_int_equal(st.bytes_read, 2 * n);
	assert_int_equal(st.n_found, 0);
	assert_false(pl.bad);
	assert_int_equal(pl.calls, 2 * n / MIB + 2);
	assert_int_equal(pl.last_done, 2 * n);
	free(h.chunks);
	free(s);
}

static void index_handles_empty_header_and_empty_chunks(void **state)
{
	uint8_t *s = test_rng_alloc(&rng_state, MIB);
	const uint8_t *data[] = { s };
	uint64_t size = MIB;
	size_t len = MIB;
	struct zu_header h;
	struct zu_index_stats st;
	struct zu_seed_loc locs[2];
	struct zu_err err = ZU_ERR_INIT;

	(void)state;
	header_init(&h, 0);
	assert_int_equal(run_index(&h, data, &len, &size, 1, locs, &st, NULL), 0);
	assert_int_equal(st.bytes_read, 0);
	free(h.chunks);

	/* An empty chunk is in any source; one with a wrong digest is in none. */
	header_init(&h, 2);
	assert_int_equal(zu_sha256_buf("", 0, h.chunks[0].udigest, &err), 0);
	assert_int_equal(run_index(&h, data, &len, &size, 1, locs, &st, NULL), 0);
	assert_int_equal(locs[0].source, 0);
	assert_int_equal(locs[0].offset, 0);
	assert_int_equal(locs[1].source, ZU_NO_SOURCE);
	assert_int_equal(st.n_found, 1);
	assert_int_equal(st.bytes_read, 0);
	free(h.chunks);
	free(s);
}

static void index_reports_short_source_and_bad_arguments(void **state)
{
	static struct cuts c;
	uint8_t *s = test_rng_alloc(&rng_state, MIB);
	struct zu_header h;
	struct zu_seed_loc locs[MAX_CUTS];
	struct zu_err err = ZU_ERR_INIT;
	struct zu_index_source src = { temp_source(s, MIB), 2 * MIB };
	struct zu_index_params p = { .h = &h, .sources = &src, .n_sources = 1 };

	(void)state;
	cut(s, MIB, &c);
	header_from(&h, &c);
	memset(h.chunks[0].udigest, 0, ZU_SHA256_LEN); /* keeps the run going to the end */
	assert_int_equal(zu_index_run(&p, locs, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "source 0"));
	assert_non_null(strstr(err.msg, "truncated"));
	close(src.fd);

	src.fd = -1;
	assert_int_equal(zu_index_run(&p, locs, NULL, &err), -EINVAL);
	assert_int_equal(zu_index_run(NULL, locs, NULL, &err), -EINVAL);
	p.sources = NULL;
	assert_int_equal(zu_index_run(&p, locs, NULL, &err), -EINVAL);
	free(h.chunks);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(index_finds_chunks_of_shuffled_target),
		cmocka_unit_test(index_misses_only_chunks_touched_by_changed_byte),
		cmocka_unit_test(index_gives_duplicates_the_lowest_offset),
		cmocka_unit_test(index_compares_full_digests_when_prefixes_collide),
		cmocka_unit_test(index_prefers_first_source),
		cmocka_unit_test(index_stops_at_source_size),
		cmocka_unit_test(index_is_independent_of_block_boundaries),
		cmocka_unit_test(index_hashes_only_wanted_lengths),
		cmocka_unit_test(index_stops_reading_when_all_found_and_reports_progress),
		cmocka_unit_test(index_handles_empty_header_and_empty_chunks),
		cmocka_unit_test(index_reports_short_source_and_bad_arguments),
	};

	rng_state = test_rng_seed(SEED);
	printf("index test seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
