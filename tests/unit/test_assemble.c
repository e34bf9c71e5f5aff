/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for assemble. A small .zck body is built by hand (chunks
 * compressed with ZSTD_compress at known file offsets, a zu_header filled
 * directly), served by the file backend or by a scripted backend that splits
 * records at odd sizes, and written into a memory sink.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "assemble.h"
#include "hash.h"
#include "test_rng.h"

#define SEED 0xa55e3b1u
#define N_CHUNKS 7
#define BODY_START 100 /* where the header would end */
#define DICT_LEN 4096

/* ---- the hand-made .zck ---------------------------------------------------- */

struct fixture {
	uint8_t *image;
	uint8_t *body; /* the whole .zck (header area left zero) */
	size_t body_len;
	uint8_t dict[DICT_LEN];
	struct zu_chunk chunks[N_CHUNKS];
	uint8_t digests[N_CHUNKS + 1][2 * ZU_DIGEST_LEN]; /* the chunks' (and dict's) digests */
	struct zu_header h;
	char zck_path[64];
	char seed_path[64];
	int seed_fd;
};

static void sha(const void *p, size_t n, uint8_t out[32])
{
	struct zu_err err = ZU_ERR_INIT;

	assert_int_equal(zu_sha256_buf(p, n, out, &err), 0);
}

static size_t compress_chunk(const struct fixture *fx, const uint8_t *src, size_t n, uint8_t *dst,
			     size_t cap, uint64_t comp_type, bool use_dict)
{
	ZSTD_CCtx *cc;
	size_t r;

	if (comp_type == ZU_COMP_NONE) {
		assert_true(n <= cap);
		memcpy(dst, src, n);
		return n;
	}
	cc = ZSTD_createCCtx();
	assert_non_null(cc);
	if (use_dict)
		r = ZSTD_compress_usingDict(cc, dst, cap, src, n, fx->dict, DICT_LEN, 3);
	else
		r = ZSTD_compressCCtx(cc, dst, cap, src, n, 3);
	assert_false(ZSTD_isError(r));
	ZSTD_freeCCtx(cc);
	return r;
}

static void put_body(struct fixture *fx, struct zu_chunk *c, const uint8_t *comp, size_t n)
{
	fx->body = realloc(fx->body, fx->body_len + n);
	assert_non_null(fx->body);
	memcpy(fx->body + fx->body_len, comp, n);
	c->file_offset = fx->body_len;
	c->comp_len = n;
	sha(comp, n, c->digest);
	fx->body_len += n;
	if (c->comp_len > fx->h.max_chunk_len)
		fx->h.max_chunk_len = c->comp_len;
	if (c->len > fx->h.max_chunk_len)
		fx->h.max_chunk_len = c->len;
}

static void write_file(char *path, const char *tag, const uint8_t *p, size_t n)
{
	int fd;

	snprintf(path, 64, "/tmp/zu_test_asm_%s_XXXXXX", tag);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void add_dict(struct fixture *fx, uint64_t *rng)
{
	uint8_t comp[DICT_LEN + 512];

	for (size_t i = 0; i < DICT_LEN; i++)
		fx->dict[i] = (uint8_t)('A' + test_rng_next(rng) % 20);
	fx->h.has_dict = true;
	fx->h.dict.len = DICT_LEN;
	sha(fx->dict, DICT_LEN, fx->h.dict.udigest);
	put_body(fx, &fx->h.dict, comp,
		 compress_chunk(fx, fx->dict, DICT_LEN, comp, sizeof(comp), ZU_COMP_ZSTD, false));
}

/*
 * Image: N_CHUNKS chunks of 1..12 KiB of compressible text (with pieces of the
 * dict when there is one). The seed file holds every chunk, in reverse order
 * and shifted, so seed offsets differ from image offsets.
 */
static void fixture_build(struct fixture *fx, uint64_t comp_type, bool with_dict)
{
	uint64_t rng = test_rng_seed(SEED);
	uint8_t comp[16384];
	uint8_t *seed;
	uint64_t off = 0;

	memset(fx, 0, sizeof(*fx));
	fx->h.comp_type = comp_type;
	fx->h.n_chunks = N_CHUNKS;
	fx->h.chunks = fx->chunks;
	for (size_t i = 0; i < N_CHUNKS; i++) {
		fx->chunks[i].digest = fx->digests[i];
		fx->chunks[i].udigest = fx->digests[i] + ZU_DIGEST_LEN;
	}
	fx->h.dict.digest = fx->digests[N_CHUNKS];
	fx->h.dict.udigest = fx->digests[N_CHUNKS] + ZU_DIGEST_LEN;
	fx->body_len = BODY_START;
	fx->body = calloc(1, BODY_START);
	assert_non_null(fx->body);
	if (with_dict)
		add_dict(fx, &rng);
	for (size_t i = 0; i < N_CHUNKS; i++)
		fx->chunks[i].len = 1024 + test_rng_next(&rng) % (11u << 10);
	for (size_t i = 0; i < N_CHUNKS; i++) {
		fx->chunks[i].image_offset = off;
		off += fx->chunks[i].len;
	}
	fx->h.image_len = off;
	fx->image = malloc(off);
	assert_non_null(fx->image);
	for (uint64_t i = 0; i < off; i++) {
		if (with_dict && (i / 64) % 2)
			fx->image[i] = fx->dict[i % DICT_LEN];
		else
			fx->image[i] = (uint8_t)('a' + test_rng_next(&rng) % 6);
	}
	for (size_t i = 0; i < N_CHUNKS; i++) {
		struct zu_chunk *c = &fx->chunks[i];
		const uint8_t *src = fx->image + c->image_offset;

		sha(src, c->len, c->udigest);
		put_body(fx, c, comp,
			 compress_chunk(fx, src, c->len, comp, sizeof(comp), comp_type, with_dict));
	}
	fx->h.data_len = fx->body_len - BODY_START;
	fx->h.has_image_digest = true;
	sha(fx->image, off, fx->h.image_digest);
	write_file(fx->zck_path, "zck", fx->body, fx->body_len);

	seed = calloc(1, off + 1000);
	assert_non_null(seed);
	for (size_t i = 0, pos = 333; i < N_CHUNKS; i++) {
		const struct zu_chunk *c = &fx->chunks[N_CHUNKS - 1 - i];

		memcpy(seed + pos, fx->image + c->image_offset, c->len);
		pos += c->len + 1;
	}
	write_file(fx->seed_path, "seed", seed, off + 1000);
	free(seed);
	fx->seed_fd = open(fx->seed_path, O_RDWR);
	assert_true(fx->seed_fd >= 0);
}

static uint64_t seed_offset(const struct fixture *fx, size_t chunk)
{
	uint64_t pos = 333;

	for (size_t i = 0; i < N_CHUNKS; i++) {
		size_t k = N_CHUNKS - 1 - i;

		if (k == chunk)
			return pos;
		pos += fx->chunks[k].len + 1;
	}
	fail();
	return 0;
}

static void fixture_free(struct fixture *fx)
{
	close(fx->seed_fd);
	unlink(fx->zck_path);
	unlink(fx->seed_path);
	free(fx->image);
	free(fx->body);
}

/* ---- a hand-made plan ------------------------------------------------------- */

struct test_plan {
	struct zu_plan plan;
	struct zu_seed_loc locs[N_CHUNKS];
	struct zu_range ranges[N_CHUNKS + 1];
};

/* Chunks whose bit is set in seed_mask are SEED. merge joins ranges across SEED chunks. */
static void plan_build(struct test_plan *tp, const struct fixture *fx, unsigned seed_mask,
		       bool merge, size_t max_ranges)
{
	struct zu_plan *p = &tp->plan;
	struct zu_range *last = NULL;

	memset(tp, 0, sizeof(*tp));
	p->n_chunks = N_CHUNKS;
	p->locs = tp->locs;
	p->ranges = tp->ranges;
	p->max_ranges = max_ranges;
	for (size_t i = 0; i < N_CHUNKS; i++) {
		const struct zu_chunk *c = &fx->chunks[i];

		if (seed_mask & (1u << i)) {
			tp->locs[i] = (struct zu_seed_loc){ 0, seed_offset(fx, i) };
			p->n_seed++;
			continue;
		}
		tp->locs[i] = (struct zu_seed_loc){ ZU_NO_SOURCE, 0 };
		p->n_net++;
		if (p->n_net == 1 && fx->h.has_dict) {
			p->need_dict = true;
			tp->ranges[p->n_ranges++] =
				(struct zu_range){ fx->h.dict.file_offset, fx->h.dict.comp_len };
			last = &tp->ranges[p->n_ranges - 1];
		}
		if (last && (merge || last->off + last->len == c->file_offset)) {
			last->len = c->file_offset + c->comp_len - last->off;
		} else {
			tp->ranges[p->n_ranges++] = (struct zu_range){ c->file_offset, c->comp_len };
			last = &tp->ranges[p->n_ranges - 1];
		}
	}
	for (size_t i = 0; i < p->n_ranges; i++)
		p->fetch_bytes += tp->ranges[i].len;
}

/* ---- memory sink ------------------------------------------------------------ */

struct mem_sink {
	uint8_t *buf;
	uint64_t cap, next_off, committed_size;
	bool committed, aborted;
	bool gaps_ok;  /* chunks in place are skipped */
};

static int mem_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct mem_sink *m = priv;

	(void)err;
	assert_false(m->committed || m->aborted);
	if (m->gaps_ok)
		assert_true(off >= m->next_off);
	else
		assert_int_equal(off, m->next_off); /* strictly in image order */
	assert_true(off + n <= m->cap);
	memcpy(m->buf + off, p, n);
	m->next_off = off + n;
	return 0;
}

static int mem_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct mem_sink *m = priv;

	(void)err;
	m->committed = true;
	m->committed_size = size;
	return 0;
}

static void mem_abort(void *priv)
{
	struct mem_sink *m = priv;

	m->aborted = true;
}

static const struct zu_sink_ops mem_ops = {
	.name = "mem", .write_at = mem_write_at, .commit = mem_commit, .abort = mem_abort,
};

/* ---- scripted fetch backend: serves the body in records of odd sizes ---- */

struct split_backend {
	const uint8_t *body;
	size_t body_len;
	const struct zu_range *r;
	size_t n, cur;
	uint64_t done;
	uint64_t rng;
	size_t max_rec;
	uint64_t drop; /* bytes of the last range never sent (a lying backend) */
};

static int split_request(void *priv, const struct zu_range *r, size_t n, struct zu_err *err)
{
	struct split_backend *b = priv;

	(void)err;
	b->r = r;
	b->n = n;
	b->cur = 0;
	b->done = 0;
	return 0;
}

static int split_next(void *priv, struct zu_fetch_rec *out, struct zu_err *err)
{
	struct split_backend *b = priv;
	const struct zu_range *c;
	size_t len;
	uint64_t clen;

	(void)err;
	if (b->cur == b->n)
		return 0;
	c = &b->r[b->cur];
	clen = c->len - (b->cur == b->n - 1 ? b->drop : 0);
	if (b->done == clen)
		return 0;
	len = 1 + test_rng_next(&b->rng) % b->max_rec;
	if (len > clen - b->done)
		len = (size_t)(clen - b->done);
	assert_true(c->off + b->done + len <= b->body_len);
	out->off = c->off + b->done;
	out->data = b->body + out->off;
	out->len = len;
	b->done += len;
	if (b->done == c->len) {
		b->cur++;
		b->done = 0;
	}
	return 1;
}

static const struct zu_fetch_ops split_ops = {
	.name = "split", .request = split_request, .next = split_next,
};

/* ---- running ------------------------------------------------------------------ */

/* worker threads of the next run_assemble (0: online CPUs) */
static unsigned n_threads;
/* readable target of the next run_assemble, -1: none */
static int target_fd = -1;
/* per source of the next run_assemble: places from an unchecked index header */
static const bool *index_unchecked;

struct run {
	struct mem_sink mem;
	struct zu_sink sink;
	struct zu_assemble_stats st;
	struct zu_err err;
	uint64_t last_done, last_total;
	int n_progress;
};

static void on_progress(void *user, enum zu_phase phase, uint64_t done, uint64_t total)
{
	struct run *r = user;

	if (phase == ZU_PHASE_FETCH) {
		/* fetch progress counts bytes received against the plan's total */
		assert_true(done <= total);
		return;
	}
	assert_int_equal(phase, ZU_PHASE_WRITE);
	assert_true(done >= r->last_done);
	r->last_done = done;
	r->last_total = total;
	r->n_progress++;
}

static int run_assemble(struct run *run, const struct fixture *fx, const struct test_plan *tp,
			struct zu_fetch *f)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_assemble_params p = {
		.h = &fx->h,
		.plan = &tp->plan,
		.source_fds = &fx->seed_fd,
		.n_sources = 1,
		.fetch = f,
		.sink = &run->sink,
		.progress = { .fn = on_progress, .user = run },
		.lim = &lim,
		.threads = n_threads,
		.target_fd = target_fd,
		.index_unchecked = index_unchecked,
	};

	memset(run, 0, sizeof(*run));
	run->mem.cap = fx->h.image_len;
	run->mem.buf = calloc(1, fx->h.image_len);
	assert_non_null(run->mem.buf);
	run->mem.gaps_ok = target_fd >= 0;
	run->sink = (struct zu_sink){ &mem_ops, &run->mem };
	return zu_assemble_run(&p, &run->st, &run->err);
}

static void expect_image(struct run *run, const struct fixture *fx)
{
	assert_true(run->mem.committed);
	assert_false(run->mem.aborted);
	assert_int_equal(run->mem.committed_size, fx->h.image_len);
	assert_memory_equal(run->mem.buf, fx->image, fx->h.image_len);
	assert_int_equal(run->last_done, fx->h.image_len);
	assert_int_equal(run->last_total, fx->h.image_len);
	free(run->mem.buf);
}

static void expect_failure(struct run *run, int code, const char *needle)
{
	printf("error (expected): %s\n", run->err.msg);
	assert_int_equal(run->err.code, code);
	assert_non_null(strstr(run->err.msg, needle));
	assert_true(run->mem.aborted);
	assert_false(run->mem.committed);
	free(run->mem.buf);
}

static struct zu_fetch *open_file_fetch(const struct fixture *fx)
{
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = NULL;

	assert_int_equal(zu_fetch_open(fx->zck_path, &lim, NULL, &f, &err), 0);
	return f;
}

/* ---- tests -------------------------------------------------------------------- */

static void assemble_all_net_from_file(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct zu_fetch *f;

	(void)state;
	printf("seed %#x\n", SEED);
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	plan_build(&tp, &fx, 0, false, 0);
	assert_int_equal(tp.plan.n_ranges, 1); /* contiguous chunks: one range */
	f = open_file_fetch(&fx);
	assert_int_equal(run_assemble(&run, &fx, &tp, f), 0);
	assert_int_equal(run.st.n_net, N_CHUNKS);
	assert_int_equal(run.st.n_seed, 0);
	assert_int_equal(run.st.net_bytes, fx.h.image_len);
	assert_int_equal(run.st.fetched_bytes, fx.h.data_len);
	assert_int_equal(run.st.n_requests, 1);
	assert_int_equal(run.st.n_ranges, 1);
	expect_image(&run, &fx);
	zu_fetch_free(f);
	fixture_free(&fx);
}

static void assemble_all_seed_without_fetcher(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	plan_build(&tp, &fx, (1u << N_CHUNKS) - 1, false, 0);
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), 0);
	assert_int_equal(run.st.n_seed, N_CHUNKS);
	assert_int_equal(run.st.seed_bytes, fx.h.image_len);
	assert_int_equal(run.st.fetched_bytes, 0);
	assert_int_equal(run.st.n_requests, 0);
	expect_image(&run, &fx);
	fixture_free(&fx);
}

/* SEED chunks between NET ones; merged ranges carry the SEED chunks' bytes as gap. */
static void assemble_mixed_with_gaps_and_batches(void **state)
{
	const unsigned mask = (1u << 1) | (1u << 2) | (1u << 5);
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct zu_fetch *f;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	for (int merge = 0; merge < 2; merge++) {
		plan_build(&tp, &fx, mask, merge, 1);
		assert_int_equal(tp.plan.n_ranges, merge ? 1 : 3);
		f = open_file_fetch(&fx);
		assert_int_equal(run_assemble(&run, &fx, &tp, f), 0);
		assert_int_equal(run.st.n_seed, 3);
		assert_int_equal(run.st.n_net, N_CHUNKS - 3);
		assert_int_equal(run.st.n_requests, tp.plan.n_ranges); /* max_ranges 1 */
		assert_int_equal(run.st.n_ranges, tp.plan.n_ranges);
		if (merge)
			assert_int_equal(run.st.fetched_bytes, fx.h.data_len);
		else
			assert_true(run.st.fetched_bytes < fx.h.data_len);
		expect_image(&run, &fx);
		zu_fetch_free(f);
	}
	fixture_free(&fx);
}

/* The result must not depend on how records are split, nor on the number of workers. */
static void assemble_records_split_at_odd_sizes(void **state)
{
	const size_t max_rec[] = { 1, 3, 17, 255, 4099, 100000 };
	const unsigned masks[] = { 0, 0x12, 0x41 };
	struct fixture fx;
	struct test_plan tp;
	struct run run;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	for (size_t m = 0; m < 2 * sizeof(masks) / sizeof(masks[0]); m++) {
		n_threads = m % 2 ? 5 : 1;
		for (size_t k = 0; k < sizeof(max_rec) / sizeof(max_rec[0]); k++) {
			struct split_backend b = { fx.body, fx.body_len, NULL, 0, 0, 0,
						   test_rng_seed(SEED + k), max_rec[k], 0 };
			struct zu_fetch f = { .ops = &split_ops, .priv = &b };

			printf("mask %#x max record %zu seed %#zx threads %u\n", masks[m / 2],
			       max_rec[k], SEED + k, n_threads);
			plan_build(&tp, &fx, masks[m / 2], m / 2 == 2, 2);
			assert_int_equal(run_assemble(&run, &fx, &tp, &f), 0);
			expect_image(&run, &fx);
		}
	}
	n_threads = 0;
	fixture_free(&fx);
}

static void assemble_with_dictionary(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct zu_fetch *f;
	uint8_t tmp[16384];

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, true);

	/* the dict really matters: its chunks do not decompress without it */
	assert_int_equal(fx.h.dict.file_offset, BODY_START);
	assert_true(ZSTD_isError(ZSTD_decompress(tmp, sizeof(tmp), fx.body + fx.chunks[1].file_offset,
						 fx.chunks[1].comp_len)));
	/* dict range alone, then dict merged with chunk 0's bytes in one range */
	for (unsigned mask = 0; mask < 2; mask++) {
		plan_build(&tp, &fx, mask, false, 0);
		assert_true(tp.plan.need_dict);
		assert_int_equal(tp.plan.n_ranges, mask ? 2 : 1);
		f = open_file_fetch(&fx);
		assert_int_equal(run_assemble(&run, &fx, &tp, f), 0);
		expect_image(&run, &fx);
		zu_fetch_free(f);
	}

	/* a damaged dict is refused before any chunk is written */
	fx.h.dict.digest[3] ^= 1;
	f = open_file_fetch(&fx);
	assert_int_not_equal(run_assemble(&run, &fx, &tp, f), 0);
	assert_int_equal(run.mem.next_off, fx.chunks[0].len); /* only the SEED chunk 0 */
	expect_failure(&run, -EILSEQ, "chunk 1: dictionary chunk (index entry 0, ");
	zu_fetch_free(f);
	fixture_free(&fx);
}

static void assemble_uncompressed_chunks_are_copied(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct zu_fetch *f;

	(void)state;
	fixture_build(&fx, ZU_COMP_NONE, false);
	plan_build(&tp, &fx, 0x8, false, 0);
	f = open_file_fetch(&fx);
	assert_int_equal(run_assemble(&run, &fx, &tp, f), 0);
	expect_image(&run, &fx);
	zu_fetch_free(f);
	fixture_free(&fx);
}

static void assemble_refuses_corrupted_compressed_byte(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct zu_fetch *f;
	char needle[32];

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	/* flip one byte in the middle of chunk 4 */
	fx.body[fx.chunks[4].file_offset + fx.chunks[4].comp_len / 2] ^= 0x20;
	unlink(fx.zck_path);
	write_file(fx.zck_path, "zck", fx.body, fx.body_len);
	plan_build(&tp, &fx, 0, false, 0);
	f = open_file_fetch(&fx);
	assert_int_equal(run_assemble(&run, &fx, &tp, f), -EILSEQ);
	/* chunks before it were written, nothing after */
	assert_int_equal(run.mem.next_off, fx.chunks[4].image_offset);
	snprintf(needle, sizeof(needle), "chunk 4: ");
	expect_failure(&run, -EILSEQ, needle);
	assert_non_null(strstr(run.err.msg, "compressed digest mismatch"));
	zu_fetch_free(f);
	fixture_free(&fx);
}

static void assemble_refuses_changed_seed(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	char needle[96];
	uint8_t x = 0xff;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	assert_int_equal(pwrite(fx.seed_fd, &x, 1, seed_offset(&fx, 2) + 10), 1);
	plan_build(&tp, &fx, (1u << N_CHUNKS) - 1, false, 0);
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), -EILSEQ);
	snprintf(needle, sizeof(needle), "chunk 2: source 0 offset %" PRIu64
		 " changed since indexing", seed_offset(&fx, 2));
	expect_failure(&run, -EILSEQ, needle);
	fixture_free(&fx);
}

/* A place from an unchecked index header that does not hold its chunk: said so, sink aborted. */
static void assemble_reports_stale_unchecked_index_place(void **state)
{
	const bool yes = true;
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	uint8_t x = 0xff;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	assert_int_equal(pwrite(fx.seed_fd, &x, 1, seed_offset(&fx, 4) + 3), 1);
	plan_build(&tp, &fx, (1u << N_CHUNKS) - 1, false, 0);
	index_unchecked = &yes;
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), -EILSEQ);
	index_unchecked = NULL;
	assert_true(run.st.index_stale);
	assert_int_equal(run.mem.next_off, fx.chunks[4].image_offset); /* 0..3 written */
	expect_failure(&run, -EILSEQ, "chunk 4: source 0 offset");
	fixture_free(&fx);
}

static void assemble_refuses_image_digest_mismatch(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	fx.h.image_digest[0] ^= 1;
	plan_build(&tp, &fx, (1u << N_CHUNKS) - 1, false, 0);
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), -EILSEQ);
	assert_int_equal(run.mem.next_off, fx.h.image_len); /* all written, then refused */
	expect_failure(&run, -EILSEQ, "image digest mismatch");
	fixture_free(&fx);
}

/* A backend that ends a batch early is caught by the fetch front end, and the sink aborted. */
static void assemble_aborts_on_short_batch(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	struct split_backend b;
	struct zu_fetch f = { .ops = &split_ops, .priv = &b };

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	plan_build(&tp, &fx, 0, false, 0);
	/* the plan asks for 50 bytes past the last chunk; the backend never sends them */
	tp.ranges[0].len += 50;
	b = (struct split_backend){ .body = fx.body, .body_len = fx.body_len,
				    .rng = test_rng_seed(SEED), .max_rec = 5000, .drop = 50 };
	assert_int_equal(run_assemble(&run, &fx, &tp, &f), -EPROTO);
	assert_int_equal(run.mem.next_off, fx.h.image_len); /* every chunk came, then the end */
	expect_failure(&run, -EPROTO, "batch ended");
	fixture_free(&fx);
}

/*
 * SEED chunks are compared with a raw target as they are written: equal ones
 * are counted in place and not written, except the head chunks once anything
 * is written (written first, before the first chunk that differs).
 */
static void assemble_compares_seed_chunks_with_target(void **state)
{
	struct fixture fx;
	struct test_plan tp;
	struct run run;
	char path[64];
	uint64_t head = 0, off3;
	size_t n_head = 0;

	(void)state;
	fixture_build(&fx, ZU_COMP_ZSTD, false);
	plan_build(&tp, &fx, (1u << N_CHUNKS) - 1, false, 0);
	for (size_t i = 0; i < N_CHUNKS && fx.chunks[i].image_offset < ZU_RAW_HEAD; i++) {
		head += fx.chunks[i].len;
		n_head++;
	}
	assert_true(n_head < 3); /* chunk 3 is beyond the head */
	/* the target holds the image already: nothing is written */
	write_file(path, "target", fx.image, fx.h.image_len);
	target_fd = open(path, O_RDONLY);
	assert_true(target_fd >= 0);
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), 0);
	assert_int_equal(run.st.written_bytes, 0);
	assert_int_equal(run.st.n_in_place, N_CHUNKS);
	assert_int_equal(run.st.in_place_bytes, fx.h.image_len);
	assert_int_equal(run.st.n_seed, 0);
	assert_true(run.mem.committed);
	free(run.mem.buf);
	/* one byte of chunk 3 differs (and the target is one chunk short): head, 3 and 6 written */
	off3 = fx.chunks[3].image_offset;
	close(target_fd);
	fx.image[off3 + 5] ^= 0x40;
	unlink(path);
	write_file(path, "target", fx.image, fx.chunks[6].image_offset);
	fx.image[off3 + 5] ^= 0x40;
	target_fd = open(path, O_RDONLY);
	assert_true(target_fd >= 0);
	assert_int_equal(run_assemble(&run, &fx, &tp, NULL), 0);
	assert_int_equal(run.st.written_bytes, head + fx.chunks[3].len + fx.chunks[6].len);
	assert_int_equal(run.st.n_in_place, N_CHUNKS - 2);
	assert_int_equal(run.st.n_seed, 2);
	assert_memory_equal(run.mem.buf, fx.image, head);
	assert_memory_equal(run.mem.buf + off3, fx.image + off3, fx.chunks[3].len);
	assert_true(run.mem.committed);
	free(run.mem.buf);
	close(target_fd);
	target_fd = -1;
	unlink(path);
	fixture_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(assemble_all_net_from_file),
		cmocka_unit_test(assemble_all_seed_without_fetcher),
		cmocka_unit_test(assemble_mixed_with_gaps_and_batches),
		cmocka_unit_test(assemble_records_split_at_odd_sizes),
		cmocka_unit_test(assemble_with_dictionary),
		cmocka_unit_test(assemble_uncompressed_chunks_are_copied),
		cmocka_unit_test(assemble_refuses_corrupted_compressed_byte),
		cmocka_unit_test(assemble_refuses_changed_seed),
		cmocka_unit_test(assemble_refuses_image_digest_mismatch),
		cmocka_unit_test(assemble_reports_stale_unchecked_index_place),
		cmocka_unit_test(assemble_aborts_on_short_batch),
		cmocka_unit_test(assemble_compares_seed_chunks_with_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
