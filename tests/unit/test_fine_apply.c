/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for fine_apply: a fine .zck made by zu_make_run from a generated
 * image, an old image with a few 4 KiB blocks changed and its content shifted
 * by whole blocks, the coarse index, then tables, piece index and rebuild of
 * every missing chunk through the file fetch backend. Rebuilt chunks must be
 * the new image's bytes whatever the window size; a lying table must never
 * give wrong bytes.
 */
#include "config.h"

#include <fcntl.h>
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

#include "fetch/fetch.h"
#include "fine_apply.h"
#include "hash.h"
#include "index.h"
#include "io.h"
#include "make.h"
#include "test_rng.h"

#define SEED 0x5eed0f1eULL
#define IMAGE_LEN (3u << 20)

struct fixture {
	char dir[64], image[96], old[96], zck[96];
	uint8_t *img;
	size_t len;
	struct zu_header h;
	struct zu_seed_loc *locs;
	int old_fd;
	struct zu_index_cuts cuts; /* the index's record of old.img's cuts */
};

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/* Text-like blocks with some noise: compressible, and no two 4 KiB blocks alike. */
static void gen(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = test_rng_seed(seed);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)("fine pieces of a chunk "[i % 23] ^ (test_rng_next(&s) % 5 == 0));
}

static void load_header(struct fixture *f)
{
	const struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t lead[ZU_LEAD_MAX];
	size_t hlen = 0;
	uint8_t *buf;
	int fd = open(f->zck, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, lead, sizeof(lead), 0), (ssize_t)sizeof(lead));
	assert_int_equal(zu_header_size(lead, sizeof(lead), &lim, &hlen, &err), 0);
	buf = malloc(hlen);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, hlen, 0), (ssize_t)hlen);
	close(fd);
	assert_int_equal(zu_header_parse_take(&f->h, &buf, hlen, &lim, &err), 0);
	assert_true(f->h.fine.valid);
}

static int setup(void **state)
{
	const struct zu_fine_layout lay = ZU_FINE_LAYOUT_DEFAULT;
	struct fixture *f = calloc(1, sizeof(*f));
	struct zu_make_params mp = { 0 };
	struct zu_make_result res = { 0 };
	struct zu_index_source src = { 0 };
	struct zu_index_params ip = { 0 };
	struct zu_index_stats st = { 0 };
	struct zu_err err = ZU_ERR_INIT;
	uint8_t *old;
	uint64_t s = test_rng_seed(SEED + 1);

	if (!f)
		return -1;
	fprintf(stderr, "test_fine_apply: seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fine_apply-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->image, sizeof(f->image), "%s/new.img", f->dir);
	snprintf(f->old, sizeof(f->old), "%s/old.img", f->dir);
	snprintf(f->zck, sizeof(f->zck), "%s/new.zck", f->dir);
	f->len = IMAGE_LEN;
	f->img = malloc(f->len);
	old = malloc(f->len + 8192);
	if (!f->img || !old)
		return -1;
	gen(f->img, f->len, SEED);
	write_file(f->image, f->img, f->len);
	/* old: two blocks inserted at the front (content shifted by whole blocks), and
	 * 24 blocks of the new image different in the old one */
	gen(old, 8192, SEED + 2);
	memcpy(old + 8192, f->img, f->len);
	for (int i = 0; i < 24; i++) {
		size_t at = 8192 + ((size_t)(test_rng_next(&s) % (f->len / 4096))) * 4096;

		old[at + test_rng_next(&s) % 4000] ^= 0x55;
	}
	write_file(f->old, old, f->len + 8192);
	free(old);
	mp = (struct zu_make_params){ .image = f->image, .output = f->zck, .level = 3,
				      .threads = 2, .fine = &lay };
	if (zu_make_run(&mp, &res, &err) < 0)
		return -1;
	load_header(f);
	f->old_fd = open(f->old, O_RDONLY | O_CLOEXEC);
	f->locs = calloc(f->h.n_chunks, sizeof(*f->locs));
	if (f->old_fd < 0 || !f->locs)
		return -1;
	src = (struct zu_index_source){ .fd = f->old_fd, .size = f->len + 8192 };
	ip = (struct zu_index_params){ .h = &f->h, .sources = &src, .n_sources = 1,
				       .cuts = &f->cuts };
	if (zu_index_run(&ip, f->locs, &st, &err) < 0 || !f->cuts.complete)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->old_fd);
	unlink(f->image);
	unlink(f->old);
	unlink(f->zck);
	rmdir(f->dir);
	zu_header_fini(&f->h);
	zu_index_cuts_free(&f->cuts, 1);
	free(f->locs);
	free(f->img);
	free(f);
	return 0;
}

/* Missing chunk i as apply makes it (prepare, build, verify, else fetch it whole). */
static int make_chunk(struct zu_fine *fine, const struct zu_fine_io *io, struct zu_decomp *dc,
		      const struct zu_header *h, size_t i, uint8_t *cbuf, uint8_t *ubuf,
		      struct zu_err *err)
{
	const struct zu_chunk *c = &h->chunks[i];
	uint8_t d[ZU_SHA256_LEN];
	int r = zu_fine_prepare_chunk(fine, io, i, cbuf, (size_t)h->max_chunk_len, err);

	if (r == 0)
		r = zu_fine_build_chunk(fine, io->source_fds, io->n_sources, dc, i, cbuf, ubuf, err);
	if (r < 0)
		return r;
	if (r == 1) {
		assert_int_equal(zu_sha256_buf(ubuf, (size_t)c->len, d, err), 0);
		if (memcmp(d, c->udigest, ZU_SHA256_LEN) == 0)
			return 0;
	}
	return zu_fine_fallback_chunk(fine, io, i, ubuf, err);
}

struct walk_sum {
	uint64_t fetch, tables, reused;
};

static void walk_add(void *user, const struct zu_fine_item *it)
{
	struct walk_sum *w = user;

	w->fetch += it->fetch_bytes;
	if (it->table)
		w->tables += it->fetch_bytes;
	if (it->reused) {
		assert_int_equal(it->fetch_bytes, 0);
		w->reused += it->image_len;
	}
}

/*
 * How run_fine fetches: stream plays a backend that cuts requests itself (the
 * downloader: the frames come as one stream); zero_source_after_index zeroes a
 * copy of the source once its pieces are found, so that no chunk rebuilds.
 */
struct run_cfg {
	bool stream;
	bool zero_source_after_index;
	size_t out_requests;  /* batches asked of the fetcher, tables included */
	uint64_t out_bytes;   /* payload bytes it handed on */
};

static int run_fine_cfg(struct fixture *f, const char *zck, size_t max_ranges,
			const struct zu_index_cuts *cuts, unsigned threads,
			struct run_cfg *cfg, struct zu_fine_stats *out, size_t *out_missing);

/* Tables, piece index, then every missing chunk; returns the stats. */
static int run_fine(struct fixture *f, const char *zck, size_t max_ranges,
		    const struct zu_index_cuts *cuts, unsigned threads, struct zu_fine_stats *out,
		    size_t *out_missing)
{
	struct run_cfg cfg = { 0 };

	return run_fine_cfg(f, zck, max_ranges, cuts, threads, &cfg, out, out_missing);
}

/* A copy of the old image, for a run that changes it. */
static int copy_old(const struct fixture *f, const char *path)
{
	uint8_t *b = malloc(f->len + 8192);
	int fd;

	assert_non_null(b);
	assert_int_equal(pread(f->old_fd, b, f->len + 8192, 0), (ssize_t)(f->len + 8192));
	write_file(path, b, f->len + 8192);
	free(b);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static int run_fine_cfg(struct fixture *f, const char *zck, size_t max_ranges,
			const struct zu_index_cuts *cuts, unsigned threads,
			struct run_cfg *cfg, struct zu_fine_stats *out, size_t *out_missing)
{
	const struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_fetch_ops stream_ops;
	char copy[128];
	int src_fd = f->old_fd;
	struct zu_fetch *fetch = NULL;
	struct zu_fine *fine = NULL;
	const struct zu_range *tr = NULL;
	struct zu_err err = ZU_ERR_INIT;
	uint64_t size = f->len + 8192;
	uint8_t *ubuf = malloc((size_t)f->h.max_chunk_len);
	uint8_t *cbuf = malloc((size_t)f->h.max_chunk_len);
	struct zu_decomp *dc = NULL;
	size_t ntr = 0;
	int r;

	assert_non_null(ubuf);
	assert_non_null(cbuf);
	assert_int_equal(zu_decomp_new(NULL, 0, &dc, &err), 0);
	assert_int_equal(zu_fine_new(&f->h, f->locs, &fine, &tr, &ntr, &err), 0);
	assert_true(ntr > 0);
	assert_int_equal(zu_fetch_open(zck, &lim, NULL, &fetch, &err), 0);
	if (cfg->stream) {
		stream_ops = *fetch->ops;
		stream_ops.whole_batch = true;
		fetch->ops = &stream_ops;
	}
	if (cfg->zero_source_after_index) {
		snprintf(copy, sizeof(copy), "%s/zeroed.img", f->dir);
		src_fd = copy_old(f, copy);
	}
	assert_int_equal(zu_fetch_request(fetch, tr, ntr, &err), 0);
	assert_int_equal(zu_fine_read_tables(fine, fetch, &err), 0);
	assert_int_equal(zu_fine_index(fine, &src_fd, &size, cuts, 1, threads, NULL, &err), 0);
	if (cfg->zero_source_after_index) {
		assert_int_equal(ftruncate(src_fd, 0), 0);
		assert_int_equal(ftruncate(src_fd, (off_t)size), 0);
	}
	*out_missing = 0;
	r = 0;
	for (size_t i = 0; r == 0 && i < f->h.n_chunks; i++) {
		const struct zu_chunk *c = &f->h.chunks[i];
		struct zu_fine_io io = { .fetch = fetch, .source_fds = &src_fd, .n_sources = 1,
					 .max_ranges = max_ranges, .url = zck, .lim = &lim };

		if (f->locs[i].source != ZU_NO_SOURCE)
			continue;
		(*out_missing)++;
		r = make_chunk(fine, &io, dc, &f->h, i, cbuf, ubuf, &err);
		/* never wrong bytes: either the chunk as it is in the new image, or an error */
		if (r == 0)
			assert_memory_equal(ubuf, f->img + c->image_offset, (size_t)c->len);
	}
	cfg->out_requests = fetch->n_requests;
	cfg->out_bytes = fetch->bytes;
	/* the stream ended where its ranges do: the fetcher takes a new batch */
	if (r == 0 && cfg->stream)
		assert_int_equal(zu_fetch_request(fetch, tr, 1, &err), 0);
	zu_fine_get_stats(fine, out);
	{ /* explain's walk: the same figures, item by item */
		struct walk_sum w = { 0 };

		zu_fine_walk(fine, walk_add, &w);
		assert_int_equal(w.fetch, out->fetch_bytes);
		assert_int_equal(w.tables, out->table_bytes);
		assert_int_equal(w.reused, out->reused_bytes);
	}
	zu_fine_free(fine);
	zu_fetch_free(fetch);
	if (cfg->zero_source_after_index) {
		close(src_fd);
		unlink(copy);
	}
	zu_decomp_free(dc);
	free(cbuf);
	free(ubuf);
	return r;
}

static void fine_rebuilds_missing_chunks_from_source_pieces(void **state)
{
	struct fixture *f = *state;
	struct zu_fine_stats st, st1;
	size_t missing = 0;

	assert_int_equal(run_fine(f, f->zck, 0, &f->cuts, 1, &st, &missing), 0);
	assert_true(missing > 0);
	assert_int_equal(st.n_chunks, missing);
	/* each missing chunk lacks one block or so: most pieces come from the source */
	assert_true(st.n_reused > 4 * st.n_fetched);
	assert_int_equal(st.n_fallback, 0);
	assert_int_equal(st.n_bad_tables, 0);
	assert_true(st.fetch_bytes < st.table_bytes + st.frame_bytes + 256 * st.n_ranges + 1);
	/* the same bytes however the frames are cut into windows */
	assert_int_equal(run_fine(f, f->zck, 1, &f->cuts, 2, &st1, &missing), 0);
	assert_int_equal(st1.n_reused, st.n_reused);
	assert_int_equal(st1.n_fallback, 0);
}

/* The frames as one stream (the downloader's way): the same chunks and figures as windows. */
static void fine_stream_gives_what_windows_give(void **state)
{
	struct fixture *f = *state;
	struct run_cfg win = { 0 }, stream = { .stream = true };
	struct zu_fine_stats st_w, st;
	size_t missing = 0, missing_s = 0;

	/* windows of one range each (a chunk opens one): a batch per window */
	assert_int_equal(run_fine_cfg(f, f->zck, 1, &f->cuts, 1, &win, &st_w, &missing), 0);
	assert_int_equal(run_fine_cfg(f, f->zck, 1, &f->cuts, 1, &stream, &st, &missing_s), 0);
	assert_int_equal(missing_s, missing);
	assert_true(st.n_ranges > 2);
	assert_true(win.out_requests > 2);
	/* one batch of tables, one of every frame: the bytes the plan counts, and no more */
	assert_int_equal(stream.out_requests, 2);
	assert_int_equal(stream.out_bytes, st.fetch_bytes);
	assert_int_equal(st.n_fallback, 0);
	assert_int_equal(st.side_bytes, 0);
}

/*
 * Every rebuild fails (the source zeroed after its pieces were found): each
 * chunk is fetched whole beside the stream, which goes on to the end; only
 * the last one, after the stream ended, comes on the stream's own fetcher.
 */
static void fine_fallback_does_not_stall_the_stream(void **state)
{
	struct fixture *f = *state;
	struct run_cfg cfg = { .stream = true, .zero_source_after_index = true };
	struct zu_fine_stats st;
	uint64_t side = 0;
	size_t missing = 0, last = SIZE_MAX;

	assert_int_equal(run_fine_cfg(f, f->zck, 0, &f->cuts, 1, &cfg, &st, &missing), 0);
	assert_true(missing > 1);
	assert_int_equal(st.n_fallback, missing);
	for (size_t i = 0; i < f->h.n_chunks; i++)
		if (f->locs[i].source == ZU_NO_SOURCE) {
			if (last != SIZE_MAX)
				side += f->h.chunks[last].comp_len;
			last = i;
		}
	assert_int_equal(st.side_bytes, side);
	assert_int_equal(st.fallback_bytes, side + f->h.chunks[last].comp_len);
}

/* Two digests of a missing chunk's table swapped: never wrong bytes, and a clear error. */
static void fine_lying_table_never_gives_wrong_bytes(void **state)
{
	struct fixture *f = *state;
	char lie[128];
	size_t missing = 0, len, first = SIZE_MAX;
	uint64_t size = 0;
	struct zu_fine_stats st;
	uint8_t *z, tmp[ZU_FINE_DIGEST_LEN];
	struct zu_err err = ZU_ERR_INIT;
	int fd;

	for (size_t i = 0; i < f->h.n_chunks && first == SIZE_MAX; i++)
		if (f->locs[i].source == ZU_NO_SOURCE && f->h.chunks[i].len > 3 * 4096)
			first = i;
	assert_true(first != SIZE_MAX);
	fd = open(f->zck, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(zu_io_size(fd, &size, &err), 0);
	len = (size_t)size;
	z = malloc(len);
	assert_non_null(z);
	assert_int_equal(pread(fd, z, len, 0), (ssize_t)len);
	close(fd);
	{
		const size_t ent = ZU_FINE_LEN_BYTES + ZU_FINE_DIGEST_LEN;
		uint8_t *e1 = z + f->h.chunks[first].file_offset + ZU_FINE_SKIP_HDR + 1 + ent +
			      ZU_FINE_LEN_BYTES;
		uint8_t *e2 = e1 + ent;

		memcpy(tmp, e1, sizeof(tmp));
		memcpy(e1, e2, sizeof(tmp));
		memcpy(e2, tmp, sizeof(tmp));
	}
	snprintf(lie, sizeof(lie), "%s/lie.zck", f->dir);
	write_file(lie, z, len);
	free(z);
	assert_int_equal(run_fine(f, lie, 0, &f->cuts, 2, &st, &missing), -EILSEQ);
	assert_int_equal(st.n_fallback, 1);
	unlink(lie);
}

/*
 * The cuts the index records (sequential and on threads, segments small enough
 * to need merging) are the chunker's, and finding pieces with them gives what
 * running the chunker again gives.
 */
static void fine_index_cuts_are_the_chunkers(void **state)
{
	struct fixture *f = *state;
	struct zu_index_tuning tune = { .seg_bytes = 64 * 1024, .lookback_bytes = 256 * 1024 };
	struct zu_index_source src = { .fd = f->old_fd, .size = f->len + 8192 };
	struct zu_fine_stats with, without;
	struct zu_seed_loc *locs = calloc(f->h.n_chunks, sizeof(*locs));
	struct zu_err err = ZU_ERR_INIT;
	size_t missing = 0;

	assert_non_null(locs);
	assert_true(f->cuts.n > 8);
	for (int threads = 2; threads <= 3; threads++) {
		struct zu_index_cuts par = { 0 };
		struct zu_index_params ip = { .h = &f->h, .sources = &src, .n_sources = 1,
					      .threads = threads, .tuning = &tune, .cuts = &par };

		assert_int_equal(zu_index_run(&ip, locs, NULL, &err), 0);
		assert_true(par.complete);
		assert_int_equal(par.n, f->cuts.n);
		assert_memory_equal(par.at, f->cuts.at, f->cuts.n * sizeof(*par.at));
		zu_index_cuts_free(&par, 1);
	}
	free(locs);
	assert_int_equal(run_fine(f, f->zck, 0, &f->cuts, 1, &with, &missing), 0);
	assert_int_equal(run_fine(f, f->zck, 0, NULL, 1, &without, &missing), 0);
	assert_true(with.n_reused > 0);
	assert_int_equal(with.n_reused, without.n_reused);
	assert_int_equal(with.reused_bytes, without.reused_bytes);
	assert_int_equal(with.fetch_bytes, without.fetch_bytes);
	assert_int_equal(with.n_fallback, 0);
	/* parts of the source on 2, 3 and 7 threads: the same pieces at the same places */
	for (unsigned t = 2; t <= 7; t += t == 3 ? 4 : 1) {
		struct zu_fine_stats par;

		assert_int_equal(run_fine(f, f->zck, 0, &f->cuts, t, &par, &missing), 0);
		assert_int_equal(par.n_reused, with.n_reused);
		assert_int_equal(par.reused_bytes, with.reused_bytes);
		assert_int_equal(par.fetch_bytes, with.fetch_bytes);
		assert_int_equal(par.source_bytes, with.source_bytes);
		assert_int_equal(par.n_fallback, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fine_rebuilds_missing_chunks_from_source_pieces),
		cmocka_unit_test(fine_lying_table_never_gives_wrong_bytes),
		cmocka_unit_test(fine_stream_gives_what_windows_give),
		cmocka_unit_test(fine_fallback_does_not_stall_the_stream),
		cmocka_unit_test(fine_index_cuts_are_the_chunkers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
