/* SPDX-License-Identifier: MIT */
/*
 * make_dict - the dictionary of `zckup make --dict` (make_dict.h). Auto mode
 * trains with zstd's fastCover on whole chunks (the unit each frame is
 * compressed from) picked evenly over the image up to a byte cap, so the
 * training's memory is the cap plus fastCover's 2^f counters, whatever the
 * image size.
 */
#include "config.h"

#include "make_dict.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "chunker.h"
#include "hash.h"
#include "io.h"

#define MD_READ_BUF (1u << 20)
/* Fewer samples than this, or fewer sample bytes than 4 dictionaries, train nothing useful. */
#define MD_MIN_SAMPLES 16u
#define MD_MIN_SAMPLE_RATIO 4u
/* Sample bytes compressed with and without the dictionary to tell whether it pays. */
#define MD_EVAL_BYTES (4u << 20)
/*
 * Runs of one byte longer than this are cut to this length in the samples.
 * fastCover ends the whole dictionary at the first epoch whose best segment
 * scores 0, and an epoch of an ext4 image's zero blocks does: without the cut,
 * bench/dict.sh's image gave a 3 KiB dictionary when 112 KiB were asked (16
 * MiB of samples). zstd encodes such runs in a few bytes anyway, so they teach
 * a dictionary nothing.
 */
#define MD_RUN_KEEP 16u
/* A chunk with fewer bytes left than this after the cut is not a sample. */
#define MD_SAMPLE_MIN 256u

/* Samples gathered so far: one buffer, up to cap bytes, and the size of each. */
struct md_samples {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t *sizes;
	size_t n;
	size_t n_cap;
	uint64_t image_len;   /* the image's size, for spreading the samples */
	uint64_t scanned;     /* image bytes already cut into chunks */
	uint64_t varied;      /* bytes the chunks would give as samples (runs cut) */
	uint8_t *chunk;       /* the chunk being cut (ZU_CHUNKER_MAX bytes) */
	size_t chunk_len;
};

void zu_make_dict_parse(const char *arg, struct zu_dict_params *p)
{
	p->path = NULL;
	if (!arg || strcmp(arg, "none") == 0) {
		p->mode = ZU_DICT_NONE;
	} else if (strcmp(arg, "auto") == 0) {
		p->mode = ZU_DICT_AUTO;
	} else {
		p->mode = ZU_DICT_FILE;
		p->path = arg;
	}
}

/* Cuts every run of one byte value to MD_RUN_KEEP bytes, in place; returns the new length. */
static size_t md_cut_runs(uint8_t *p, size_t n)
{
	size_t out = 0, run = 0;

	for (size_t i = 0; i < n; i++) {
		run = (i > 0 && p[i] == p[i - 1]) ? run + 1 : 1;
		if (run <= MD_RUN_KEEP)
			p[out++] = p[i];
	}
	return out;
}

/*
 * Keeps the chunk just cut when the samples are behind an even spread of cap
 * bytes over the image (so a run of skipped chunks is made up right after it).
 */
static int md_take_chunk(struct md_samples *s, struct zu_err *err)
{
	uint64_t end = s->scanned + s->chunk_len;
	long double due = (long double)s->cap * (long double)end / (long double)s->image_len;

	s->scanned = end;
	s->chunk_len = md_cut_runs(s->chunk, s->chunk_len);
	if (s->chunk_len < MD_SAMPLE_MIN)
		goto out;
	s->varied += s->chunk_len;
	if ((long double)s->len >= due || s->chunk_len > s->cap - s->len)
		goto out;
	if (s->n == s->n_cap) {
		size_t cap = s->n_cap ? 2 * s->n_cap : 1024;
		size_t *p = realloc(s->sizes, cap * sizeof(*p));

		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot grow the sample table to %zu", cap);
		s->sizes = p;
		s->n_cap = cap;
	}
	memcpy(s->buf + s->len, s->chunk, s->chunk_len);
	s->len += s->chunk_len;
	s->sizes[s->n++] = s->chunk_len;
out:
	s->chunk_len = 0;
	return 0;
}

static int md_feed(struct md_samples *s, struct zu_chunker *ch, const uint8_t *p, size_t n,
		   struct zu_err *err)
{
	while (n > 0) {
		size_t k = zu_chunker_scan(ch, p, n);
		bool cut = k != ZU_CHUNKER_NO_CUT;
		int r;

		if (!cut)
			k = n;
		if (k > n || k > ZU_CHUNKER_MAX - s->chunk_len)
			return zu_err_set(err, -EIO, "chunker returned a cut past its input");
		memcpy(s->chunk + s->chunk_len, p, k);
		s->chunk_len += k;
		if (cut && s->chunk_len > 0) {
			r = md_take_chunk(s, err);
			if (r < 0)
				return r;
		}
		p += k;
		n -= k;
	}
	return 0;
}

/* Reads the whole image with pread and keeps the samples; memory: the cap, one chunk, 1 MiB. */
static int md_gather(const struct zu_dict_source *src, struct md_samples *s, struct zu_err *err)
{
	struct zu_chunker ch;
	uint8_t *buf = malloc(MD_READ_BUF);
	uint64_t off = 0;
	int r = 0;

	if (!buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate a read buffer");
	zu_chunker_init(&ch);
	while (r == 0 && off < s->image_len) {
		uint64_t left = s->image_len - off;
		size_t n = left < MD_READ_BUF ? (size_t)left : MD_READ_BUF;

		r = zu_io_pread_full(src->fd, buf, n, off, err);
		if (r < 0) {
			zu_err_prefix(err, "%s (reading it for the dictionary)", src->path);
			break;
		}
		r = md_feed(s, &ch, buf, n, err);
		off += n;
	}
	if (r == 0 && s->chunk_len > 0)
		r = md_take_chunk(s, err);
	free(buf);
	return r;
}

/* fastCover with zstd's own parameter search (as `zstd --train`): d = 8, f = 20, 4 steps of k. */
static int md_train(const struct zu_dict_source *src, const struct md_samples *s, size_t size,
		    struct zu_dict *d, struct zu_err *err)
{
	ZDICT_fastCover_params_t fp;
	size_t n;

	memset(&fp, 0, sizeof(fp));
	fp.d = 8;
	fp.f = 20;
	fp.steps = 4;
	fp.accel = 1;
	fp.splitPoint = 0.75;
	/* One task per step of k: more threads than steps would idle. */
	fp.nbThreads = src->threads < (int)fp.steps ? (unsigned)src->threads : fp.steps;
	fp.zParams.compressionLevel = src->level;
	d->buf = malloc(size);
	if (!d->buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate a %zu-byte dictionary", size);
	n = ZDICT_optimizeTrainFromBuffer_fastCover(d->buf, size, s->buf, s->sizes,
						    (unsigned)s->n, &fp);
	if (ZDICT_isError(n)) {
		free(d->buf);
		d->buf = NULL;
		return zu_err_set(err, -EIO, "training a %zu-byte dictionary on %zu chunks (%zu "
				  "bytes) failed: %s", size, s->n, s->len, ZDICT_getErrorName(n));
	}
	d->len = n;
	return 0;
}

/* The dictionary's frame (no dictionary, content size, no checksum: like every chunk), digests, CDict. */
static int md_finish(const struct zu_dict_source *src, struct zu_dict *d, struct zu_err *err)
{
	ZSTD_CCtx *cctx = NULL;
	size_t cap = ZSTD_compressBound(d->len), z;
	int r;

	d->frame = malloc(cap);
	cctx = ZSTD_createCCtx();
	if (!d->frame || !cctx) {
		r = zu_err_set(err, -ENOMEM, "cannot compress the dictionary");
		goto out;
	}
	z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, src->level);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(z))
		z = ZSTD_compress2(cctx, d->frame, cap, d->buf, d->len);
	if (ZSTD_isError(z)) {
		r = zu_err_set(err, -EIO, "compressing the %zu-byte dictionary: %s", d->len,
			       ZSTD_getErrorName(z));
		goto out;
	}
	d->frame_len = z;
	if (d->frame_len > src->lim->max_chunk) {
		r = zu_err_set(err, -EOVERFLOW, "dictionary compresses to %zu bytes, over the limit "
			       "of %zu", d->frame_len, src->lim->max_chunk);
		goto out;
	}
	r = zu_sha256_buf(d->frame, d->frame_len, d->digest, err);
	if (r == 0)
		r = zu_sha256_buf("", 0, d->udigest, err);
	if (r < 0)
		goto out;
	d->cdict = ZSTD_createCDict(d->buf, d->len, src->level);
	if (!d->cdict) {
		r = zu_err_set(err, -EBADMSG, "zstd refuses the %zu-byte dictionary", d->len);
		goto out;
	}
	d->entry.digest = d->digest;
	d->entry.udigest = d->udigest;
	d->entry.comp_len = d->frame_len;
	d->entry.len = d->len;
out:
	ZSTD_freeCCtx(cctx);
	return r;
}

/* Forgets the dictionary itself, keeps what was measured (auto without a dictionary). */
static void md_drop(struct zu_dict *d)
{
	ZSTD_freeCDict(d->cdict);
	free(d->buf);
	free(d->frame);
	d->cdict = NULL;
	d->buf = NULL;
	d->frame = NULL;
	d->len = 0;
	d->frame_len = 0;
}

static int md_csize(ZSTD_CCtx *cc, void *dst, size_t cap, const uint8_t *src, size_t n,
		    size_t *sum, struct zu_err *err)
{
	size_t z = ZSTD_compress2(cc, dst, cap, src, n);

	if (ZSTD_isError(z))
		return zu_err_set(err, -EIO, "zstd compression of a %zu-byte sample failed: %s", n,
				  ZSTD_getErrorName(z));
	*sum += z;
	return 0;
}

/*
 * Compresses up to MD_EVAL_BYTES of samples (spread over them) with and without
 * the dictionary and scales the difference to the image's varied bytes. A
 * dictionary that saves less than its own compressed size over the whole image
 * can save no update anything (an update fetches a part of the image, plus the
 * dictionary once): then it is dropped.
 */
static int md_evaluate(const struct zu_dict_source *src, const struct md_samples *s,
		       struct zu_dict *d, struct zu_err *err)
{
	ZSTD_CCtx *plain = ZSTD_createCCtx(), *with = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(ZU_CHUNKER_MAX), step, off = 0, a = 0, b = 0, n = 0;
	uint8_t *dst = malloc(cap);
	long double saved;
	int r = 0;

	if (!plain || !with || !dst) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate zstd contexts");
		goto out;
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(plain, ZSTD_c_compressionLevel, src->level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(with, ZSTD_c_compressionLevel, src->level)) ||
	    ZSTD_isError(ZSTD_CCtx_refCDict(with, d->cdict))) {
		r = zu_err_set(err, -EIO, "cannot set up zstd contexts");
		goto out;
	}
	step = s->len / MD_EVAL_BYTES + 1;
	for (size_t i = 0; r == 0 && i < s->n; i++) {
		if (i % step == 0) {
			r = md_csize(plain, dst, cap, s->buf + off, s->sizes[i], &a, err);
			if (r == 0)
				r = md_csize(with, dst, cap, s->buf + off, s->sizes[i], &b, err);
			n += s->sizes[i];
		}
		off += s->sizes[i];
	}
	if (r < 0 || n == 0)
		goto out;
	saved = ((long double)a - (long double)b) * (long double)s->varied / (long double)n;
	d->saved_estimate = saved > 0 ? (uint64_t)saved : 0;
	if (saved <= (long double)d->frame_len)
		d->skipped = "a trained dictionary would save the image less than its own size";
out:
	free(dst);
	ZSTD_freeCCtx(plain);
	ZSTD_freeCCtx(with);
	return r;
}

static int md_auto(const struct zu_dict_params *p, const struct zu_dict_source *src,
		   struct zu_dict *d, struct zu_err *err)
{
	struct md_samples s = { 0 };
	size_t size = p->size ? p->size : ZU_DICT_DEFAULT_SIZE;
	struct stat st;
	int r;

	if (size < ZU_DICT_MIN_SIZE || size > ZU_DICT_MAX_SIZE)
		return zu_err_set(err, -EINVAL, "dictionary size %zu is not in %u..%u", size,
				  ZU_DICT_MIN_SIZE, ZU_DICT_MAX_SIZE);
	if (fstat(src->fd, &st) < 0)
		return zu_err_sys(err, errno, "%s", src->path);
	if ((!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) ||
	    zu_io_size(src->fd, &s.image_len, err) < 0)
		return zu_err_set(err, -EINVAL, "%s: --dict auto reads the image twice, which needs "
				  "a regular file or a block device", src->path);
	s.cap = p->max_samples ? p->max_samples : ZU_DICT_DEFAULT_SAMPLES;
	if (s.cap < ZU_CHUNKER_MAX || s.cap > ZU_DICT_MAX_SAMPLES)
		return zu_err_set(err, -EINVAL, "sample cap of %zu bytes is not in %u..%u", s.cap,
				  ZU_CHUNKER_MAX, ZU_DICT_MAX_SAMPLES);
	if (s.image_len < s.cap)
		s.cap = (size_t)s.image_len;
	if (s.image_len == 0) {
		d->skipped = "the image is empty";
		return 0;
	}
	s.buf = malloc(s.cap ? s.cap : 1);
	s.chunk = malloc(ZU_CHUNKER_MAX);
	if (!s.buf || !s.chunk) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate %zu bytes of training samples", s.cap);
		goto out;
	}
	r = md_gather(src, &s, err);
	if (r < 0)
		goto out;
	d->n_samples = s.n;
	d->sample_bytes = s.len;
	if (s.n < MD_MIN_SAMPLES || s.len < MD_MIN_SAMPLE_RATIO * (uint64_t)size) {
		d->skipped = "too little varied data in the image to train on";
		goto out;
	}
	r = md_train(src, &s, size, d, err);
	if (r == 0)
		r = md_finish(src, d, err);
	if (r == 0)
		r = md_evaluate(src, &s, d, err);
	if (r == 0 && d->skipped)
		md_drop(d);
out:
	free(s.buf);
	free(s.sizes);
	free(s.chunk);
	return r;
}

static int md_read_file(const char *path, const struct zu_limits *lim, struct zu_dict *d,
			struct zu_err *err)
{
	uint64_t size = 0;
	int fd = -1, r;

	r = zu_io_open_ro(path, &fd, err);
	if (r < 0)
		return zu_err_prefix(err, "dictionary");
	r = zu_io_size(fd, &size, err);
	if (r < 0) {
		zu_err_prefix(err, "dictionary %s", path);
		goto out;
	}
	if (size == 0) {
		r = zu_err_set(err, -EBADMSG, "dictionary %s is empty", path);
		goto out;
	}
	if (size > lim->max_chunk) {
		r = zu_err_set(err, -EOVERFLOW, "dictionary %s has %" PRIu64 " bytes, over the "
			       "limit of %zu that zckup apply enforces on a chunk", path, size,
			       lim->max_chunk);
		goto out;
	}
	d->buf = malloc((size_t)size);
	if (!d->buf) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate %" PRIu64 " bytes", size);
		goto out;
	}
	d->len = (size_t)size;
	r = zu_io_pread_full(fd, d->buf, d->len, 0, err);
	if (r < 0)
		zu_err_prefix(err, "dictionary %s", path);
out:
	close(fd);
	return r;
}


int zu_make_dict_prepare(const struct zu_dict_params *p, const struct zu_dict_source *src,
			 struct zu_dict *d, struct zu_err *err)
{
	int r = 0;

	*d = (struct zu_dict)ZU_DICT_INIT;
	if ((p->size || p->max_samples) && p->mode != ZU_DICT_AUTO)
		return zu_err_set(err, -EINVAL,
				  "a dictionary or sample size is only for --dict auto");
	switch (p->mode) {
	case ZU_DICT_NONE:
		return 0;
	case ZU_DICT_AUTO:
		r = md_auto(p, src, d, err);
		break;
	case ZU_DICT_FILE:
		if (!p->path || !*p->path)
			return zu_err_set(err, -EINVAL, "--dict wants auto, none or a file");
		r = md_read_file(p->path, src->lim, d, err);
		break;
	default:
		return zu_err_set(err, -EINVAL, "unknown dictionary mode %d", (int)p->mode);
	}
	if (r == 0 && p->mode == ZU_DICT_FILE)
		r = md_finish(src, d, err);
	if (r < 0)
		zu_make_dict_fini(d);
	return r;
}

void zu_make_dict_fini(struct zu_dict *d)
{
	if (!d)
		return;
	ZSTD_freeCDict(d->cdict);
	free(d->buf);
	free(d->frame);
	*d = (struct zu_dict)ZU_DICT_INIT;
}
