/* SPDX-License-Identifier: MIT */
/*
 * test_make - zu_make_run end to end on generated images in a temp directory:
 * the .zck parses, its chunks are the chunker's cuts, every chunk is one zstd
 * frame matching both digests, output does not depend on the thread count,
 * and failures leave no output and no temp file.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "chunker.h"
#include "format.h"
#include "hash.h"
#include "make.h"
#include "test_rng.h"

#define SEED 0x5eedc0ffee123457ull
#define IMAGE_LEN (6u << 20)

struct fixture {
	char dir[64];
	char image[128];
	uint8_t *bytes; /* the image, IMAGE_LEN bytes */
};

/* Random, repeated (copies of earlier regions), zero and text-like regions. */
static void gen_image(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = test_rng_seed(seed);
	size_t pos = 0;

	while (pos < n) {
		size_t len = 1 + test_rng_next(&s) % (300u << 10);
		unsigned kind = (unsigned)(test_rng_next(&s) % 4);

		if (len > n - pos)
			len = n - pos;
		for (size_t i = 0; i < len; i++) {
			if (kind == 0 || (kind == 1 && pos < (1u << 20)))
				p[pos + i] = (uint8_t)test_rng_next(&s);
			else if (kind == 1)
				p[pos + i] = p[pos + i - (1u << 20) + 4096];
			else if (kind == 2)
				p[pos + i] = 0;
			else
				p[pos + i] = (uint8_t)("zckup make test "[i % 16] ^
						       (test_rng_next(&s) % 7 == 0));
		}
		pos += len;
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static uint8_t *read_file(const char *path, size_t *out_len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*out_len = (size_t)st.st_size;
	return p;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fprintf(stderr, "test_make: seed 0x%016" PRIx64 "\n", (uint64_t)SEED);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_make-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->image, sizeof(f->image), "%s/image", f->dir);
	f->bytes = malloc(IMAGE_LEN);
	if (!f->bytes)
		return -1;
	gen_image(f->bytes, IMAGE_LEN, SEED);
	write_file(f->image, f->bytes, IMAGE_LEN);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f->bytes);
	free(f);
	return 0;
}

static void path_in(const struct fixture *f, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

static void make_ok(const char *image, const char *out, const char *hdr, int threads,
		    struct zu_make_result *res)
{
	struct zu_make_params p = {
		.image = image, .output = out, .header_out = hdr, .level = 3, .threads = threads,
	};
	struct zu_err err = ZU_ERR_INIT;
	int r = zu_make_run(&p, res, &err);

	if (r < 0)
		fail_msg("zu_make_run: %d %s", r, err.msg);
}

/* Parses the header at the start of buf[0..n). */
static void parse(struct zu_header *h, const uint8_t *buf, size_t n)
{
	const struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_err err = ZU_ERR_INIT;
	size_t len = 0;

	if (zu_header_size(buf, n, &lim, &len, &err) < 0)
		fail_msg("zu_header_size: %s", err.msg);
	assert_true(len <= n);
	if (zu_header_parse(h, buf, len, &lim, &err) < 0)
		fail_msg("zu_header_parse: %s", err.msg);
}

static void sha(const void *p, size_t n, uint8_t out[ZU_DIGEST_LEN])
{
	struct zu_err err = ZU_ERR_INIT;

	assert_int_equal(zu_sha256_buf(p, n, out, &err), 0);
}

/* Chunk lengths of img[0..n) cut by the chunker fed in one call per cut. */
static size_t reference_cuts(const uint8_t *img, size_t n, uint64_t *lens, size_t cap)
{
	struct zu_chunker c;
	size_t count = 0, pos = 0;

	zu_chunker_init(&c);
	while (pos < n) {
		size_t k = zu_chunker_scan(&c, img + pos, n - pos);

		assert_true(count < cap);
		if (k == ZU_CHUNKER_NO_CUT) {
			lens[count++] = n - pos;
			break;
		}
		lens[count++] = k;
		pos += k;
	}
	return count;
}

static void check_chunk(const struct zu_chunk *c, const uint8_t *zck, size_t zck_len,
			const uint8_t *img, size_t i)
{
	uint8_t d[ZU_DIGEST_LEN];
	uint8_t *u = malloc(c->len + 1);
	size_t n;

	assert_non_null(u);
	assert_true(c->file_offset + c->comp_len <= zck_len);
	sha(zck + c->file_offset, c->comp_len, d);
	if (memcmp(d, c->digest, sizeof(d)) != 0)
		fail_msg("chunk %zu: compressed digest differs", i);
	assert_int_equal(ZSTD_getFrameContentSize(zck + c->file_offset, c->comp_len), c->len);
	assert_int_equal(ZSTD_findFrameCompressedSize(zck + c->file_offset, c->comp_len),
			 c->comp_len);
	n = ZSTD_decompress(u, c->len + 1, zck + c->file_offset, c->comp_len);
	assert_false(ZSTD_isError(n));
	assert_int_equal(n, c->len);
	sha(u, n, d);
	if (memcmp(d, c->udigest, sizeof(d)) != 0)
		fail_msg("chunk %zu: uncompressed digest differs", i);
	assert_memory_equal(u, img + c->image_offset, n);
	free(u);
}

static void make_writes_zck_whose_chunks_rebuild_the_image(void **state)
{
	struct fixture *f = *state;
	struct zu_make_result res;
	struct zu_header h = ZU_HEADER_INIT;
	static uint64_t lens[IMAGE_LEN / ZU_CHUNKER_MIN + 2];
	uint8_t d[ZU_DIGEST_LEN], zeros[ZU_DIGEST_LEN] = { 0 };
	char out[256];
	size_t zck_len, n_ref;
	uint64_t sum = 0, off;
	uint8_t *zck;

	path_in(f, "out.zck", out, sizeof(out));
	make_ok(f->image, out, NULL, 2, &res);
	zck = read_file(out, &zck_len);
	parse(&h, zck, zck_len);
	assert_false(h.detached);
	assert_true(h.flags & ZU_FLAG_UNCOMPRESSED);
	assert_int_equal(h.comp_type, ZU_COMP_ZSTD);
	assert_false(h.has_dict);
	assert_memory_equal(h.data_digest, zeros, sizeof(zeros));
	assert_int_equal(res.zck_len, zck_len);
	assert_int_equal(res.header_len, h.raw_len);
	assert_int_equal(res.image_len, IMAGE_LEN);
	assert_int_equal(res.n_chunks, h.n_chunks);
	assert_memory_equal(res.header_digest, h.header_digest, ZU_DIGEST_LEN);
	sha(f->bytes, IMAGE_LEN, d);
	assert_true(h.has_image_digest);
	assert_memory_equal(h.image_digest, d, sizeof(d));
	assert_memory_equal(res.image_digest, d, sizeof(d));

	/* The index lists exactly the chunker's cuts, whatever make's read size. */
	n_ref = reference_cuts(f->bytes, IMAGE_LEN, lens, sizeof(lens) / sizeof(lens[0]));
	assert_true(n_ref > 100);
	assert_int_equal(h.n_chunks, n_ref);
	off = h.raw_len;
	for (size_t i = 0; i < h.n_chunks; i++) {
		assert_int_equal(h.chunks[i].len, lens[i]);
		assert_int_equal(h.chunks[i].image_offset, sum);
		assert_int_equal(h.chunks[i].file_offset, off);
		sum += h.chunks[i].len;
		off += h.chunks[i].comp_len;
		check_chunk(&h.chunks[i], zck, zck_len, f->bytes, i);
	}
	assert_int_equal(sum, IMAGE_LEN);
	assert_int_equal(off, zck_len);
	zu_header_fini(&h);
	free(zck);
	unlink(out);
}

static void make_output_is_identical_for_one_two_and_five_threads(void **state)
{
	struct fixture *f = *state;
	struct zu_make_result r1, r2, r5;
	char o1[256], o2[256], o5[256];
	uint8_t *b1, *b2, *b5;
	size_t n1, n2, n5;

	path_in(f, "t1.zck", o1, sizeof(o1));
	path_in(f, "t2.zck", o2, sizeof(o2));
	path_in(f, "t5.zck", o5, sizeof(o5));
	make_ok(f->image, o1, NULL, 1, &r1);
	make_ok(f->image, o2, NULL, 2, &r2);
	make_ok(f->image, o5, NULL, 5, &r5);
	b1 = read_file(o1, &n1);
	b2 = read_file(o2, &n2);
	b5 = read_file(o5, &n5);
	assert_int_equal(n1, n2);
	assert_int_equal(n1, n5);
	assert_memory_equal(b1, b2, n1);
	assert_memory_equal(b1, b5, n1);
	assert_memory_equal(r1.header_digest, r2.header_digest, ZU_DIGEST_LEN);
	free(b1);
	free(b2);
	free(b5);
	unlink(o1);
	unlink(o2);
	unlink(o5);
}

static void make_dict_ok(const char *image, const char *out, const struct zu_dict_params *d,
			 int threads, struct zu_make_result *res)
{
	struct zu_make_params p = {
		.image = image, .output = out, .level = 3, .threads = threads, .dict = *d,
	};
	struct zu_err err = ZU_ERR_INIT;
	int r = zu_make_run(&p, res, &err);

	if (r < 0)
		fail_msg("zu_make_run: %d %s", r, err.msg);
}

/* The dictionary is index entry 0 and the body's first frame (as zck -D), every chunk needs it. */
static void make_with_dict_file_stores_it_first_and_compresses_every_chunk_with_it(void **state)
{
	struct fixture *f = *state;
	struct zu_dict_params dp = { .mode = ZU_DICT_FILE };
	struct zu_make_result r1, r4;
	struct zu_header h = ZU_HEADER_INIT;
	const size_t dict_len = 32768;
	char dpath[256], o1[256], o4[256];
	uint8_t d[ZU_DIGEST_LEN], *b1, *b4, *u;
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	size_t n1, n4, n;

	path_in(f, "raw.dict", dpath, sizeof(dpath));
	path_in(f, "d1.zck", o1, sizeof(o1));
	path_in(f, "d4.zck", o4, sizeof(o4));
	write_file(dpath, f->bytes + (2u << 20), dict_len);
	dp.path = dpath;
	make_dict_ok(f->image, o1, &dp, 1, &r1);
	make_dict_ok(f->image, o4, &dp, 4, &r4);
	b1 = read_file(o1, &n1);
	b4 = read_file(o4, &n4);
	assert_int_equal(n1, n4);
	assert_memory_equal(b1, b4, n1);
	assert_int_equal(r1.dict_len, dict_len);
	parse(&h, b1, n1);
	assert_true(h.has_dict);
	assert_int_equal(h.dict.len, dict_len);
	assert_int_equal(h.dict.comp_len, r1.dict_comp_len);
	assert_int_equal(h.dict.file_offset, h.raw_len);
	sha("", 0, d);
	assert_memory_equal(h.dict.udigest, d, sizeof(d)); /* what zck writes */
	sha(b1 + h.dict.file_offset, h.dict.comp_len, d);
	assert_memory_equal(h.dict.digest, d, sizeof(d));
	u = malloc(ZU_CHUNKER_MAX + dict_len);
	assert_non_null(u);
	n = ZSTD_decompress(u, dict_len, b1 + h.dict.file_offset, h.dict.comp_len);
	assert_int_equal(n, dict_len);
	assert_memory_equal(u, f->bytes + (2u << 20), dict_len);
	for (size_t i = 0; i < h.n_chunks; i++) {
		const struct zu_chunk *c = &h.chunks[i];

		n = ZSTD_decompress_usingDict(dctx, u + dict_len, ZU_CHUNKER_MAX,
					      b1 + c->file_offset, c->comp_len, u, dict_len);
		assert_int_equal(n, c->len);
		assert_memory_equal(u + dict_len, f->bytes + c->image_offset, n);
	}
	free(u);
	free(b1);
	free(b4);
	zu_header_fini(&h);
	ZSTD_freeDCtx(dctx);
	unlink(o1);
	unlink(o4);
}

/* auto stores a dictionary, or none and says why; a size without auto is misuse. */
static void make_with_dict_auto_stores_one_or_says_why_not(void **state)
{
	struct fixture *f = *state;
	struct zu_dict_params dp = { .mode = ZU_DICT_AUTO, .size = 16384 };
	struct zu_make_params p = { .image = f->image, .level = 3, .threads = 2 };
	struct zu_make_result res;
	struct zu_header h = ZU_HEADER_INIT;
	struct zu_err err = ZU_ERR_INIT;
	char out[256];
	uint8_t *b;
	size_t n;

	path_in(f, "auto.zck", out, sizeof(out));
	make_dict_ok(f->image, out, &dp, 2, &res);
	b = read_file(out, &n);
	parse(&h, b, n);
	assert_int_equal(h.has_dict, res.dict_len > 0);
	assert_true(res.dict_len > 0 || res.dict_skipped != NULL);
	assert_true(res.dict_samples > 0);
	zu_header_fini(&h);
	free(b);
	p.output = out;
	p.dict = (struct zu_dict_params){ .mode = ZU_DICT_FILE, .path = out, .size = 4096 };
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	p.dict = (struct zu_dict_params){ .mode = ZU_DICT_AUTO, .size = 100 };
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	unlink(out);
}

static void make_missing_image_fails_and_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char img[256], out[256], hdr[256];
	struct zu_make_params p = { .level = 3, .threads = 2 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;
	int before = count_entries(f->dir);

	path_in(f, "no-such-image", img, sizeof(img));
	path_in(f, "never.zck", out, sizeof(out));
	path_in(f, "never.zckh", hdr, sizeof(hdr));
	p.image = img;
	p.output = out;
	p.header_out = hdr;
	assert_int_equal(zu_make_run(&p, &res, &err), -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_non_null(strstr(err.msg, "no-such-image"));
	assert_int_equal(access(out, F_OK), -1);
	assert_int_equal(access(hdr, F_OK), -1);
	assert_int_equal(count_entries(f->dir), before);
}

static void make_into_missing_directory_fails_and_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char out[256];
	struct zu_make_params p = { .image = f->image, .level = 3, .threads = 2 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;
	int before = count_entries(f->dir);

	path_in(f, "missing-dir/out.zck", out, sizeof(out));
	p.output = out;
	assert_int_equal(zu_make_run(&p, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing-dir"));
	assert_int_equal(count_entries(f->dir), before);
}

static void make_empty_image_gives_zero_chunks(void **state)
{
	struct fixture *f = *state;
	char img[256], out[256];
	struct zu_make_result res;
	struct zu_header h = ZU_HEADER_INIT;
	uint8_t d[ZU_DIGEST_LEN];
	uint8_t *zck;
	size_t n;

	path_in(f, "empty", img, sizeof(img));
	path_in(f, "empty.zck", out, sizeof(out));
	write_file(img, "", 0);
	make_ok(img, out, NULL, 2, &res);
	zck = read_file(out, &n);
	parse(&h, zck, n);
	assert_int_equal(h.n_chunks, 0);
	assert_int_equal(h.raw_len, n);
	assert_int_equal(res.n_chunks, 0);
	assert_int_equal(res.image_len, 0);
	assert_int_equal(res.zck_len, n);
	sha("", 0, d);
	assert_true(h.has_image_digest);
	assert_memory_equal(h.image_digest, d, sizeof(d));
	zu_header_fini(&h);
	free(zck);
	unlink(out);
	unlink(img);
}

static void make_writes_detached_header_matching_the_full_one(void **state)
{
	struct fixture *f = *state;
	char out[256], hdr[256];
	struct zu_make_result res;
	struct zu_header full = ZU_HEADER_INIT, det = ZU_HEADER_INIT;
	uint8_t *zck, *dh;
	size_t zn, dn;

	path_in(f, "d.zck", out, sizeof(out));
	path_in(f, "d.zckh", hdr, sizeof(hdr));
	make_ok(f->image, out, hdr, 2, &res);
	zck = read_file(out, &zn);
	dh = read_file(hdr, &dn);
	assert_memory_equal(dh, "\0ZHR1", 5);
	parse(&full, zck, zn);
	parse(&det, dh, dn);
	assert_true(det.detached);
	assert_int_equal(dn, full.raw_len);
	assert_memory_equal(dh + 5, zck + 5, dn - 5);
	assert_memory_equal(det.header_digest, res.header_digest, ZU_DIGEST_LEN);
	assert_int_equal(det.n_chunks, full.n_chunks);
	zu_header_fini(&full);
	zu_header_fini(&det);
	free(zck);
	free(dh);
	unlink(out);
	unlink(hdr);
}

static void make_replaces_an_existing_output(void **state)
{
	struct fixture *f = *state;
	char out[256];
	struct zu_make_result res;
	struct zu_header h = ZU_HEADER_INIT;
	uint8_t *zck;
	size_t n;
	int before;

	path_in(f, "old.zck", out, sizeof(out));
	write_file(out, "stale contents", 14);
	before = count_entries(f->dir);
	make_ok(f->image, out, NULL, 1, &res);
	zck = read_file(out, &n);
	assert_int_equal(n, res.zck_len);
	parse(&h, zck, n);
	assert_int_equal(h.image_len, IMAGE_LEN);
	assert_int_equal(count_entries(f->dir), before);
	zu_header_fini(&h);
	free(zck);
	unlink(out);
}

struct progress_log {
	unsigned calls;
	uint64_t last_done;
	uint64_t total;
	int bad;
};

static void on_progress(void *user, enum zu_phase phase, uint64_t done, uint64_t total)
{
	struct progress_log *l = user;

	if (phase != ZU_PHASE_MAKE || done < l->last_done || done > total)
		l->bad++;
	l->calls++;
	l->last_done = done;
	l->total = total;
}

static void make_reports_progress_up_to_the_image_size(void **state)
{
	struct fixture *f = *state;
	struct progress_log log = { 0 };
	char out[256];
	struct zu_make_params p = { .image = f->image, .level = 1, .threads = 2 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;

	path_in(f, "p.zck", out, sizeof(out));
	p.output = out;
	p.progress.fn = on_progress;
	p.progress.user = &log;
	assert_int_equal(zu_make_run(&p, &res, &err), 0);
	assert_int_equal(log.bad, 0);
	assert_true(log.calls >= IMAGE_LEN >> 20);
	assert_int_equal(log.last_done, IMAGE_LEN);
	assert_int_equal(log.total, IMAGE_LEN);
	unlink(out);
}

static void make_rejects_bad_thread_count_and_level(void **state)
{
	struct fixture *f = *state;
	char out[256];
	struct zu_make_params p = { .image = f->image, .level = 3, .threads = 0 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;
	int before = count_entries(f->dir);

	path_in(f, "bad.zck", out, sizeof(out));
	p.output = out;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	p.threads = 1;
	p.level = 0;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	p.level = ZSTD_maxCLevel() + 1;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	p.level = 3;
	p.header_out = out;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	assert_int_equal(count_entries(f->dir), before);
}

/*
 * Test-only interposition: this program's rename() wins over libc's for the
 * library linked into it, so a commit can be made to fail at its last step.
 */
static const char *fail_rename_to;

int rename(const char *from, const char *to)
{
	if (fail_rename_to && strcmp(to, fail_rename_to) == 0) {
		errno = EIO;
		return -1;
	}
	return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/*
 * Regression (issue 7): the detached header was written (replacing a file
 * already at its path) before the .zck's rename, and removed when that
 * failed: the file that was there was lost. Now nothing at either path
 * changes unless the .zck is in place.
 */
static void make_failed_commit_keeps_a_file_at_the_header_path(void **state)
{
	struct fixture *f = *state;
	char out[256], hdr[256];
	struct zu_make_params p = { .level = 3, .threads = 2 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;
	uint8_t *got;
	size_t n;

	path_in(f, "commit.zck", out, sizeof(out));
	path_in(f, "commit.zckh", hdr, sizeof(hdr));
	write_file(hdr, "previous header", 15);
	p.image = f->image;
	p.output = out;
	p.header_out = hdr;
	fail_rename_to = out;
	assert_int_equal(zu_make_run(&p, &res, &err), -EIO);
	fail_rename_to = NULL;
	assert_int_equal(access(out, F_OK), -1);
	got = read_file(hdr, &n);
	assert_int_equal(n, 15);
	assert_memory_equal(got, "previous header", 15);
	free(got);
}

/*
 * Regression (issue 7): make ignored the limits apply enforces and could
 * write a header every device refuses. Refused up front when the image is
 * too large for any chunking, early (before any output) otherwise.
 */
static void make_refuses_what_apply_would_refuse(void **state)
{
	struct fixture *f = *state;
	char out[256];
	struct zu_limits lim = ZU_LIMITS_DEFAULT;
	struct zu_make_params p = { .level = 3, .threads = 2, .lim = &lim };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_header h;
	uint8_t *zck;
	size_t n;

	path_in(f, "limits.zck", out, sizeof(out));
	p.image = f->image;
	p.output = out;
	/* up front: IMAGE_LEN / 128 KiB chunks at least, more than 3 allowed */
	lim.max_chunks = 3;
	assert_int_equal(zu_make_run(&p, &res, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "split the image"));
	assert_int_equal(access(out, F_OK), -1);
	/* while cutting: a header limit that the minimum fits but the real chunks do not */
	lim = (struct zu_limits)ZU_LIMITS_DEFAULT;
	lim.max_header = 256 + (IMAGE_LEN / 131072) * 66 + 100;
	assert_int_equal(zu_make_run(&p, &res, &err), -EOVERFLOW);
	assert_non_null(strstr(err.msg, "header bytes zckup apply enforces"));
	assert_int_equal(access(out, F_OK), -1);
	/* a header made within limits parses with those limits */
	lim = (struct zu_limits)ZU_LIMITS_DEFAULT;
	assert_int_equal(zu_make_run(&p, &res, &err), 0);
	lim.max_header = res.header_len;
	lim.max_chunks = res.n_chunks + 1;
	zck = read_file(out, &n);
	assert_int_equal(zu_header_parse(&h, zck, res.header_len, &lim, &err), 0);
	zu_header_fini(&h);
	free(zck);
	/* one chunk fewer allowed: make refuses it */
	lim.max_chunks = res.n_chunks;
	unlink(out);
	assert_int_equal(zu_make_run(&p, &res, &err), -EOVERFLOW);
	assert_int_equal(access(out, F_OK), -1);
}

/* Regression (issue 7): `make IMG -o IMG` replaced the image. */
static void make_refuses_output_or_header_that_is_the_image(void **state)
{
	struct fixture *f = *state;
	char lnk[256];
	struct zu_make_params p = { .level = 3, .threads = 2 };
	struct zu_make_result res;
	struct zu_err err = ZU_ERR_INIT;

	path_in(f, "image-link", lnk, sizeof(lnk));
	assert_int_equal(symlink(f->image, lnk), 0);
	p.image = f->image;
	p.output = f->image;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	p.output = lnk; /* another name for the same file */
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "same file"));
	p.output = "/tmp/never-written.zck";
	p.header_out = lnk;
	assert_int_equal(zu_make_run(&p, &res, &err), -EINVAL);
	unlink(lnk);
	assert_int_equal(access(p.output, F_OK), -1);
	{
		size_t n;
		uint8_t *img = read_file(f->image, &n);

		assert_int_equal(n, IMAGE_LEN);
		assert_memory_equal(img, f->bytes, IMAGE_LEN);
		free(img);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(make_writes_zck_whose_chunks_rebuild_the_image),
		cmocka_unit_test(make_output_is_identical_for_one_two_and_five_threads),
		cmocka_unit_test(make_with_dict_file_stores_it_first_and_compresses_every_chunk_with_it),
		cmocka_unit_test(make_with_dict_auto_stores_one_or_says_why_not),
		cmocka_unit_test(make_missing_image_fails_and_leaves_nothing),
		cmocka_unit_test(make_into_missing_directory_fails_and_leaves_nothing),
		cmocka_unit_test(make_empty_image_gives_zero_chunks),
		cmocka_unit_test(make_writes_detached_header_matching_the_full_one),
		cmocka_unit_test(make_replaces_an_existing_output),
		cmocka_unit_test(make_reports_progress_up_to_the_image_size),
		cmocka_unit_test(make_rejects_bad_thread_count_and_level),
		cmocka_unit_test(make_failed_commit_keeps_a_file_at_the_header_path),
		cmocka_unit_test(make_refuses_what_apply_would_refuse),
		cmocka_unit_test(make_refuses_output_or_header_that_is_the_image),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
