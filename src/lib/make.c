/* SPDX-License-Identifier: MIT */
/*
 * make - builds a .zck from an image (make.h). The main thread reads the image
 * sequentially, cuts it with the zchunk chunker, hashes the whole image and
 * fills a ring of chunk slots; worker threads hash and compress one chunk each
 * (one zstd frame per chunk); the main thread appends the frames in order to
 * an unlinked body file. At the end, header + body go to a temp file renamed
 * over the output. Memory is bounded by the ring, except the chunk table the
 * header itself needs. Never leaves a partial output or a temp file behind.
 */
#include "config.h"

#include "make.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "chunker.h"
#include "cint.h"
#include "fine_make.h"
#include "hash.h"
#include "io.h"

#define MK_READ_BUF (1u << 20)
#define MK_SLOTS_PER_THREAD 4
#define MK_MAX_THREADS 1024
#define MK_PROGRESS_STEP (1u << 20)
#define MK_COPY_BUF (1u << 20)
/*
 * Header bytes besides the index entries, rounded up: lead (5 + 1 + size
 * cint + 32), preface (32 + flags + compression + the image digest element,
 * 37), index size, type and count cints, the dict entry (66) and the
 * signature count. An upper bound, so make never writes a header apply refuses.
 */
#define MK_HEADER_FIXED 256u

/* A slot cycles FREE (main fills) -> FILLED -> BUSY (a worker) -> DONE -> FREE (main wrote). */
enum mk_state { MK_FREE, MK_FILLED, MK_BUSY, MK_DONE };

struct mk_slot {
	enum mk_state state;
	int ret;       /* worker's result; the message is in mk_pipe.werr */
	uint64_t uoff; /* image offset of the chunk (the fine profile cuts pieces there) */
	size_t ulen;
	size_t clen;
	uint8_t *ubuf; /* ZU_CHUNKER_MAX bytes */
	uint8_t *cbuf; /* mk_pipe.ccap bytes */
	uint8_t udigest[ZU_DIGEST_LEN];
	uint8_t digest[ZU_DIGEST_LEN];
};

/* Shared between the main thread and the workers; every field below lock is under it. */
struct mk_pipe {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a slot was filled, or finish/abort was set */
	pthread_cond_t done; /* a slot became DONE */
	struct mk_slot *slots;
	size_t n_slots;
	size_t ccap;
	int level;
	const struct zu_fine_layout *fine; /* NULL: one frame per chunk */
	const ZSTD_CDict *cdict; /* NULL: no dictionary */
	uint64_t filled;  /* sequence number of the next slot the main thread submits */
	uint64_t taken;   /* ... a worker takes */
	uint64_t written; /* ... the main thread writes */
	bool finish;      /* no more input: workers exit once idle */
	bool abort;       /* failure: workers exit now */
	struct zu_err werr; /* first worker failure */
};

struct mk_worker {
	pthread_t thread;
	bool started;
	struct mk_pipe *pipe;
	ZSTD_CCtx *cctx;
	struct zu_sha256 sha;
	struct zu_err err;
};

/* State of the main thread for one run. */
struct mk_run {
	struct mk_pipe pipe;
	bool pipe_ready;
	struct mk_worker *workers;
	size_t n_workers;
	struct mk_slot *cur; /* slot being filled, NULL when none */
	struct zu_chunker chunker;
	struct zu_sha256 image_sha;
	int body_fd;
	uint64_t body_len;
	uint64_t image_len;
	struct zu_chunk *chunks;
	uint8_t *digests;    /* 2 * ZU_DIGEST_LEN per chunk; the chunks point here */
	size_t n_chunks;
	size_t cap_chunks;
	struct zu_limits lim; /* the limits apply enforces: make writes nothing it would refuse */
	const struct zu_fine_layout *fine; /* NULL: compat profile */
	uint64_t header_est;  /* header bytes so far, an upper bound (MK_HEADER_FIXED + entries) */
	uint64_t image_len_done; /* image bytes in the chunk table (for messages) */
	uint64_t chunk_start;    /* image bytes handed to slots so far */
	struct zu_dict dict;     /* its frame starts the body */
};

/* ---- workers ------------------------------------------------------------- */

static int mk_compress(struct mk_worker *w, struct mk_slot *s, size_t ccap)
{
	size_t n;
	int r;

	r = zu_sha256_reset(&w->sha, &w->err);
	if (r == 0)
		r = zu_sha256_update(&w->sha, s->ubuf, s->ulen, &w->err);
	if (r == 0)
		r = zu_sha256_final(&w->sha, s->udigest, &w->err);
	if (r < 0)
		return r;
	if (w->pipe->fine) {
		r = zu_fine_compress(w->pipe->fine, w->cctx, s->uoff, s->ubuf, s->ulen, s->cbuf,
				     ccap, &s->clen, &w->err);
		if (r < 0)
			return r;
		return zu_sha256_buf(s->cbuf, s->clen, s->digest, &w->err);
	}
	n = ZSTD_compress2(w->cctx, s->cbuf, ccap, s->ubuf, s->ulen);
	if (ZSTD_isError(n))
		return zu_err_set(&w->err, -EIO, "zstd compression of %zu bytes failed: %s", s->ulen,
				  ZSTD_getErrorName(n));
	s->clen = n;
	return zu_sha256_buf(s->cbuf, s->clen, s->digest, &w->err);
}

static void *mk_worker_main(void *arg)
{
	struct mk_worker *w = arg;
	struct mk_pipe *pp = w->pipe;

	pthread_mutex_lock(&pp->lock);
	for (;;) {
		struct mk_slot *s;
		int r;

		while (!pp->abort && !pp->finish && pp->taken == pp->filled)
			pthread_cond_wait(&pp->work, &pp->lock);
		if (pp->abort || pp->taken == pp->filled)
			break;
		s = &pp->slots[pp->taken++ % pp->n_slots];
		s->state = MK_BUSY;
		pthread_mutex_unlock(&pp->lock);
		r = mk_compress(w, s, pp->ccap);
		pthread_mutex_lock(&pp->lock);
		s->ret = r;
		s->state = MK_DONE;
		if (r < 0 && pp->werr.code == 0)
			pp->werr = w->err;
		/* Only the main thread waits for DONE slots. */
		pthread_cond_signal(&pp->done);
	}
	pthread_mutex_unlock(&pp->lock);
	return NULL;
}

static int mk_worker_init(struct mk_worker *w, struct mk_pipe *pp, struct zu_err *err)
{
	size_t z;
	int r;

	w->pipe = pp;
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx)
		return zu_err_set(err, -ENOMEM, "cannot allocate a zstd compression context");
	/* Like zck: content size in each frame header, no frame checksum (digests cover it). */
	z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, pp->level);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(z))
		z = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(z) && pp->cdict)
		z = ZSTD_CCtx_refCDict(w->cctx, pp->cdict);
	if (ZSTD_isError(z))
		return zu_err_set(err, -EINVAL, "zstd level %d: %s", pp->level,
				  ZSTD_getErrorName(z));
	r = zu_sha256_init(&w->sha, err);
	if (r < 0)
		return r;
	r = pthread_create(&w->thread, NULL, mk_worker_main, w);
	if (r != 0)
		return zu_err_sys(err, r, "cannot start a compression thread");
	w->started = true;
	return 0;
}

/* ---- the slot ring --------------------------------------------------------- */

/* Always leaves the lock and conditions initialised; mk_pipe_fini() undoes it. */
static int mk_pipe_init(struct mk_pipe *pp, size_t n_slots, int level,
			const struct zu_fine_layout *fine, struct zu_err *err)
{
	memset(pp, 0, sizeof(*pp));
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->work, NULL);
	pthread_cond_init(&pp->done, NULL);
	pp->level = level;
	pp->fine = fine;
	pp->ccap = fine ? zu_fine_comp_bound(fine, ZU_CHUNKER_MAX)
			: ZSTD_compressBound(ZU_CHUNKER_MAX);
	pp->slots = calloc(n_slots, sizeof(*pp->slots));
	if (!pp->slots)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu chunk slots", n_slots);
	pp->n_slots = n_slots;
	for (size_t i = 0; i < n_slots; i++) {
		pp->slots[i].ubuf = malloc(ZU_CHUNKER_MAX);
		pp->slots[i].cbuf = malloc(pp->ccap);
		if (!pp->slots[i].ubuf || !pp->slots[i].cbuf)
			return zu_err_set(err, -ENOMEM, "cannot allocate chunk buffers");
	}
	return 0;
}

static void mk_pipe_fini(struct mk_pipe *pp)
{
	for (size_t i = 0; pp->slots && i < pp->n_slots; i++) {
		free(pp->slots[i].ubuf);
		free(pp->slots[i].cbuf);
	}
	free(pp->slots);
	pp->slots = NULL;
	pthread_cond_destroy(&pp->done);
	pthread_cond_destroy(&pp->work);
	pthread_mutex_destroy(&pp->lock);
}

/* Stops the workers (at once when abort, else once the ring is empty) and frees them. */
static void mk_workers_stop(struct mk_run *m, bool abort)
{
	struct mk_pipe *pp = &m->pipe;

	if (!m->workers)
		return;
	pthread_mutex_lock(&pp->lock);
	if (abort)
		pp->abort = true;
	pp->finish = true;
	pthread_cond_broadcast(&pp->work);
	pthread_mutex_unlock(&pp->lock);
	for (size_t i = 0; i < m->n_workers; i++) {
		struct mk_worker *w = &m->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		ZSTD_freeCCtx(w->cctx);
		zu_sha256_fini(&w->sha);
	}
	free(m->workers);
	m->workers = NULL;
}

static int mk_workers_start(struct mk_run *m, const struct zu_make_params *p, struct zu_err *err)
{
	size_t n = (size_t)p->threads;
	int r;

	r = mk_pipe_init(&m->pipe, n * MK_SLOTS_PER_THREAD, p->level, p->fine, err);
	m->pipe_ready = true;
	if (r < 0)
		return r;
	m->pipe.cdict = m->dict.cdict;
	m->workers = calloc(n, sizeof(*m->workers));
	if (!m->workers)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu workers", n);
	m->n_workers = n;
	for (size_t i = 0; i < n; i++) {
		r = mk_worker_init(&m->workers[i], &m->pipe, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Checks the next chunk against the limits apply enforces (chunk count, chunk
 * size, header size), so make fails early instead of writing a .zck that
 * every device would refuse.
 */
static int mk_check_limits(struct mk_run *m, const struct mk_slot *s, struct zu_err *err)
{
	uint64_t entry = 2 * ZU_DIGEST_LEN + zu_cint_len(s->clen) + zu_cint_len(s->ulen);

	/* +1: the dictionary entry counts in the index as well. */
	if (m->n_chunks + 1 >= m->lim.max_chunks)
		return zu_err_set(err, -EOVERFLOW,
				  "image needs more than %zu chunks (at image offset %" PRIu64
				  "), the limit zckup apply enforces: split the image",
				  m->lim.max_chunks - 1, m->image_len_done);
	if (s->clen > m->lim.max_chunk || s->ulen > m->lim.max_chunk)
		return zu_err_set(err, -EOVERFLOW,
				  "chunk %zu of %zu bytes (%zu compressed) exceeds the limit of %zu",
				  m->n_chunks, s->ulen, s->clen, m->lim.max_chunk);
	m->header_est += entry;
	if (m->header_est > m->lim.max_header)
		return zu_err_set(err, -EOVERFLOW,
				  "header of %zu+ chunks (at image offset %" PRIu64 ") would exceed "
				  "the limit of %zu header bytes zckup apply enforces: split the image",
				  m->n_chunks + 1, m->image_len_done, m->lim.max_header);
	return 0;
}

/* Points every chunk at its digests (the arrays may have moved while growing). */
static void mk_link_digests(struct mk_run *m)
{
	for (size_t i = 0; i < m->n_chunks; i++) {
		m->chunks[i].digest = m->digests + 2 * ZU_DIGEST_LEN * i;
		m->chunks[i].udigest = m->chunks[i].digest + ZU_DIGEST_LEN;
	}
}

static int mk_add_chunk(struct mk_run *m, const struct mk_slot *s, struct zu_err *err)
{
	struct zu_chunk *c;
	uint8_t *d;
	int r;

	r = mk_check_limits(m, s, err);
	if (r < 0)
		return r;
	if (m->n_chunks == m->cap_chunks) {
		size_t cap = m->cap_chunks ? 2 * m->cap_chunks : 1024;
		struct zu_chunk *p;

		p = realloc(m->chunks, cap * sizeof(*p));
		if (!p)
			return zu_err_set(err, -ENOMEM, "cannot grow the chunk table to %zu", cap);
		m->chunks = p;
		d = realloc(m->digests, cap * 2 * ZU_DIGEST_LEN);
		if (!d)
			return zu_err_set(err, -ENOMEM, "cannot grow the chunk table to %zu", cap);
		m->digests = d;
		m->cap_chunks = cap;
	}
	c = &m->chunks[m->n_chunks];
	memset(c, 0, sizeof(*c));
	if (m->n_chunks > 0)
		c->image_offset = c[-1].image_offset + c[-1].len;
	d = m->digests + 2 * ZU_DIGEST_LEN * m->n_chunks;
	m->n_chunks++;
	memcpy(d, s->digest, ZU_DIGEST_LEN);
	memcpy(d + ZU_DIGEST_LEN, s->udigest, ZU_DIGEST_LEN);
	m->image_len_done += s->ulen;
	/* Offset in the body: the header's length is not known yet (zu_header_build ignores it). */
	c->file_offset = m->body_len;
	c->comp_len = s->clen;
	c->len = s->ulen;
	return 0;
}

/* Waits for the oldest unwritten slot, appends its frame to the body, frees the slot. */
static int mk_write_head(struct mk_run *m, struct zu_err *err)
{
	struct mk_pipe *pp = &m->pipe;
	struct mk_slot *s = &pp->slots[pp->written % pp->n_slots];
	int r;

	pthread_mutex_lock(&pp->lock);
	while (s->state != MK_DONE)
		pthread_cond_wait(&pp->done, &pp->lock);
	if (s->ret < 0)
		*err = pp->werr;
	pthread_mutex_unlock(&pp->lock);
	if (s->ret < 0)
		return s->ret;
	r = mk_add_chunk(m, s, err);
	if (r < 0)
		return r;
	r = zu_io_write_full(m->body_fd, s->cbuf, s->clen, err);
	if (r < 0)
		return zu_err_prefix(err, "temporary body file");
	m->body_len += s->clen;
	pthread_mutex_lock(&pp->lock);
	s->state = MK_FREE;
	pp->written++;
	pthread_mutex_unlock(&pp->lock);
	return 0;
}

/* ---- reading and cutting ------------------------------------------------------ */

/* Hands the current chunk (if any bytes) to the workers. */
static int mk_submit(struct mk_run *m)
{
	struct mk_pipe *pp = &m->pipe;

	if (!m->cur || m->cur->ulen == 0)
		return 0;
	pthread_mutex_lock(&pp->lock);
	m->cur->state = MK_FILLED;
	pp->filled++;
	pthread_cond_signal(&pp->work);
	pthread_mutex_unlock(&pp->lock);
	m->cur = NULL;
	return 0;
}

static int mk_append(struct mk_run *m, const uint8_t *p, size_t n, struct zu_err *err)
{
	struct mk_pipe *pp = &m->pipe;

	if (n == 0)
		return 0;
	if (!m->cur) {
		struct mk_slot *s = &pp->slots[pp->filled % pp->n_slots];

		/*
		 * The ring is full: the slot still holds chunk filled - n_slots, so write
		 * until it is out. Only this thread changes filled and written.
		 */
		while (pp->filled - pp->written >= pp->n_slots) {
			int r = mk_write_head(m, err);

			if (r < 0)
				return r;
		}
		s->ulen = 0;
		s->ret = 0;
		s->uoff = m->chunk_start;
		m->cur = s;
	}
	if (n > ZU_CHUNKER_MAX - m->cur->ulen)
		return zu_err_set(err, -EOVERFLOW, "chunker produced a chunk over %u bytes",
				  ZU_CHUNKER_MAX);
	memcpy(m->cur->ubuf + m->cur->ulen, p, n);
	m->cur->ulen += n;
	m->chunk_start += n;
	return 0;
}

static int mk_feed(struct mk_run *m, const uint8_t *p, size_t n, struct zu_err *err)
{
	while (n > 0) {
		size_t k = zu_chunker_scan(&m->chunker, p, n);
		int r;

		if (k == ZU_CHUNKER_NO_CUT)
			return mk_append(m, p, n, err);
		if (k > n || (k == 0 && (!m->cur || m->cur->ulen == 0)))
			return zu_err_set(err, -EIO, "chunker returned an empty or too long cut");
		r = mk_append(m, p, k, err);
		if (r == 0)
			r = mk_submit(m);
		if (r < 0)
			return r;
		p += k;
		n -= k;
	}
	return 0;
}

static int mk_read_image(struct mk_run *m, int fd, const struct zu_make_params *p,
			 uint64_t total, struct zu_err *err)
{
	uint8_t *buf = malloc(MK_READ_BUF);
	uint64_t reported = 0;
	int r = 0;

	if (!buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate a read buffer");
	for (;;) {
		ssize_t got = zu_io_read_full(fd, buf, MK_READ_BUF, err);

		if (got < 0) {
			r = zu_err_prefix(err, "%s", p->image);
			break;
		}
		if (got == 0)
			break;
		r = zu_sha256_update(&m->image_sha, buf, (size_t)got, err);
		if (r == 0)
			r = mk_feed(m, buf, (size_t)got, err);
		if (r < 0)
			break;
		m->image_len += (uint64_t)got;
		if (m->image_len - reported >= MK_PROGRESS_STEP) {
			reported = m->image_len;
			zu_progress_report(&p->progress, ZU_PHASE_MAKE, reported, total);
		}
		r = zu_progress_check_cancel(&p->progress, err);
		if (r < 0)
			break;
	}
	free(buf);
	if (r < 0)
		return r;
	r = mk_submit(m);
	while (r == 0 && m->pipe.written < m->pipe.filled)
		r = mk_write_head(m, err);
	return r;
}

/* ---- output files ------------------------------------------------------------ */

/* "<path>.zckup-XXXXXX": a temp name in path's directory (malloc'd; NULL on ENOMEM). */
static char *mk_tmpname(const char *path)
{
	size_t n = strlen(path) + sizeof(".zckup-XXXXXX");
	char *t = malloc(n);

	if (t)
		snprintf(t, n, "%s.zckup-XXXXXX", path);
	return t;
}

/* Directory part of path (malloc'd; NULL on ENOMEM). */
static char *mk_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;
	char *d;

	if (!slash)
		return strdup(".");
	n = slash == path ? 1 : (size_t)(slash - path);
	d = malloc(n + 1);
	if (d) {
		memcpy(d, path, n);
		d[n] = '\0';
	}
	return d;
}

/*
 * An unlinked file in the output's directory: nothing to clean up if we die,
 * and the final copy stays within one filesystem (copy_file_range may reflink).
 */
static int mk_open_body(const char *output, int *out_fd, struct zu_err *err)
{
	char *dir = mk_dirname(output);
	char *tmp = NULL;
	int fd, r = 0;

	if (!dir)
		return zu_err_set(err, -ENOMEM, "out of memory");
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No O_TMPFILE on this filesystem: a named file, unlinked at once. */
		tmp = mk_tmpname(output);
		if (!tmp) {
			free(dir);
			return zu_err_set(err, -ENOMEM, "out of memory");
		}
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmp);
	}
	if (fd < 0)
		r = zu_err_sys(err, errno, "%s: cannot create a temporary file", dir);
	else
		*out_fd = fd;
	free(tmp);
	free(dir);
	return r;
}

static int mk_copy_rw(int in, uint64_t ioff, int out, uint64_t ooff, uint64_t len,
		      struct zu_err *err)
{
	uint8_t *buf = malloc(MK_COPY_BUF);
	int r = 0;

	if (!buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate a copy buffer");
	while (r == 0 && len > 0) {
		size_t n = len < MK_COPY_BUF ? (size_t)len : MK_COPY_BUF;

		r = zu_io_pread_full(in, buf, n, ioff, err);
		if (r == 0)
			r = zu_io_pwrite_full(out, buf, n, ooff, err);
		ioff += n;
		ooff += n;
		len -= n;
	}
	free(buf);
	return r;
}

/* Copies the body after the header, in the kernel when it can. */
static int mk_copy_body(int in, int out, uint64_t len, uint64_t out_off, struct zu_err *err)
{
	off_t ioff = 0, ooff = (off_t)out_off;

	while (len > 0) {
		size_t want = len < (1u << 30) ? (size_t)len : (1u << 30);
		ssize_t n = copy_file_range(in, &ioff, out, &ooff, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
			      errno == EINVAL || errno == EBADF))
			return mk_copy_rw(in, (uint64_t)ioff, out, (uint64_t)ooff, len, err);
		if (n < 0)
			return zu_err_sys(err, errno, "copy_file_range");
		if (n == 0)
			return zu_err_set(err, -EIO, "temporary body file ends %" PRIu64
					  " bytes early", len);
		len -= (uint64_t)n;
	}
	return 0;
}

struct mk_headers {
	uint8_t *full;
	size_t full_len;
	uint8_t *detached; /* NULL when no header_out */
	size_t detached_len;
};

/*
 * output temp = header + body, fsync, rename; then the detached header
 * (atomic too). Nothing is ever deleted at either path: a failure before the
 * output's rename leaves both paths as they were (a file already at the
 * header's path included); a failure writing the header after it leaves the
 * new .zck and the old header file, and says so.
 */
static int mk_write_output(const struct mk_run *m, const struct zu_make_params *p,
			   const struct mk_headers *h, struct zu_err *err)
{
	struct zu_atomic_file af;
	int r;

	r = zu_atomic_open(&af, p->output, err);
	if (r < 0)
		return r;
	r = zu_io_write_full(af.fd, h->full, h->full_len, err);
	if (r == 0)
		r = mk_copy_body(m->body_fd, af.fd, m->body_len, h->full_len, err);
	if (r < 0) {
		zu_atomic_abort(&af);
		return zu_err_prefix(err, "%s", af.path);
	}
	r = zu_atomic_commit(&af, err);
	if (r < 0 || !h->detached)
		return r;
	r = zu_io_write_file_atomic(p->header_out, h->detached, h->detached_len, err);
	if (r < 0)
		zu_err_prefix(err, "%s was written, but not its detached header", p->output);
	return r;
}

/* The header checksum from the lead: magic, checksum type (ci), header size (ci), digest. */
static int mk_lead_digest(const uint8_t *hdr, size_t n, uint8_t out[ZU_DIGEST_LEN],
			  struct zu_err *err)
{
	size_t pos = 5;
	uint64_t v;
	int r;

	if (n < pos)
		return zu_err_set(err, -EBADMSG, "built header of %zu bytes is too short", n);
	r = zu_cint_read(hdr, n, &pos, &v, err);
	if (r == 0)
		r = zu_cint_read(hdr, n, &pos, &v, err);
	if (r < 0)
		return zu_err_prefix(err, "built header");
	if (n - pos < ZU_DIGEST_LEN)
		return zu_err_set(err, -EBADMSG, "built header of %zu bytes is too short", n);
	memcpy(out, hdr + pos, ZU_DIGEST_LEN);
	return 0;
}

static int mk_build_headers(const struct mk_run *m, const uint8_t *image_digest, bool detached,
			    struct mk_headers *h, struct zu_err *err)
{
	struct zu_header_params hp = {
		.chunks = m->chunks,
		.n_chunks = m->n_chunks,
		.image_digest = image_digest,
		.fine = m->fine,
		.detached = false,
		.dict = m->dict.frame ? &m->dict.entry : NULL,
	};
	int r;

	r = zu_header_build(&hp, &h->full, &h->full_len, err);
	if (r < 0 || !detached)
		return r;
	hp.detached = true;
	return zu_header_build(&hp, &h->detached, &h->detached_len, err);
}

static int mk_check_params(const struct zu_make_params *p, struct zu_err *err)
{
	if (!p || !p->image || !p->output)
		return zu_err_set(err, -EINVAL, "make needs an image and an output path");
	if (p->threads < 1 || p->threads > MK_MAX_THREADS)
		return zu_err_set(err, -EINVAL, "thread count %d is not in 1..%d", p->threads,
				  MK_MAX_THREADS);
	if (p->level < 1 || p->level > ZSTD_maxCLevel())
		return zu_err_set(err, -EINVAL, "zstd level %d is not in 1..%d", p->level,
				  ZSTD_maxCLevel());
	if (p->header_out && strcmp(p->header_out, p->output) == 0)
		return zu_err_set(err, -EINVAL, "%s: header and output are the same path",
				  p->output);
	/* The fine profile's pieces are decoded one frame at a time without a dictionary. */
	if (p->fine && p->dict.mode != ZU_DICT_NONE)
		return zu_err_set(err, -EINVAL,
				  "the fine profile takes no dictionary: --profile fine or --dict");
	/* Same file under other names too (links, a loop device showing it). */
	const char *paths[3] = { p->image, p->output, p->header_out };
	const char *names[3] = { "image", "output", "header" };

	for (size_t i = 0; i < 3; i++) {
		for (size_t j = i + 1; j < 3; j++) {
			struct zu_io_region a = { paths[i], 0, UINT64_MAX };
			struct zu_io_region b = { paths[j], 0, UINT64_MAX };

			if (paths[i] && paths[j] && zu_io_regions_overlap(&a, &b))
				return zu_err_set(err, -EINVAL,
						  "%s %s and %s %s are the same file: refusing to "
						  "replace the %s", names[i], paths[i], names[j],
						  paths[j], names[i]);
		}
	}
	return 0;
}

/*
 * Refuses up front an image that cannot fit the limits even if every chunk
 * were as long as the chunker ever cuts (fewest chunks, smallest entries).
 * Closer cases are caught as chunks are cut (mk_check_limits), before any
 * output is written.
 */
static int mk_check_size(struct mk_run *m, const struct zu_make_params *p, int fd,
			 struct zu_err *err)
{
	struct zu_err scratch = ZU_ERR_INIT;
	uint64_t size = 0, min_chunks, min_header;

	if (zu_io_size(fd, &size, &scratch) < 0)
		return 0; /* a pipe or character device: checked as chunks are cut */
	min_chunks = size / ZU_CHUNKER_MAX;
	min_header = MK_HEADER_FIXED + min_chunks * (2 * ZU_DIGEST_LEN + 2);
	if (min_chunks + 1 > m->lim.max_chunks || min_header > m->lim.max_header)
		return zu_err_set(err, -EOVERFLOW,
				  "%s: an image of %" PRIu64 " bytes needs at least %" PRIu64
				  " chunks, a header of at least %" PRIu64 " bytes: beyond the "
				  "limits zckup apply enforces (%zu chunks, %zu header bytes); split "
				  "the image",
				  p->image, size, min_chunks, min_header, m->lim.max_chunks - 1,
				  m->lim.max_header);
	return 0;
}

/* Reads, cuts, compresses; on success the body is in m->body_fd and the table in m. */
static int mk_make_body(struct mk_run *m, const struct zu_make_params *p, int fd,
			uint8_t image_digest[ZU_DIGEST_LEN], struct zu_err *err)
{
	struct zu_err scratch = ZU_ERR_INIT;
	uint64_t total = 0;
	int r;

	/* Progress only: an unknown size (0) is fine. */
	if (zu_io_size(fd, &total, &scratch) < 0)
		total = 0;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	zu_chunker_init(&m->chunker);
	r = zu_sha256_init(&m->image_sha, err);
	if (r == 0)
		r = mk_open_body(p->output, &m->body_fd, err);
	if (r == 0 && m->dict.frame) {
		r = zu_io_write_full(m->body_fd, m->dict.frame, m->dict.frame_len, err);
		if (r < 0)
			zu_err_prefix(err, "temporary body file");
		m->body_len = m->dict.frame_len;
	}
	if (r == 0)
		r = mk_workers_start(m, p, err);
	if (r == 0)
		r = mk_read_image(m, fd, p, total, err);
	mk_workers_stop(m, r < 0);
	if (r == 0)
		r = zu_sha256_final(&m->image_sha, image_digest, err);
	if (r == 0)
		zu_progress_report(&p->progress, ZU_PHASE_MAKE, m->image_len, total);
	return r;
}

int zu_make_run(const struct zu_make_params *p, struct zu_make_result *out, struct zu_err *err)
{
	struct mk_run m;
	struct mk_headers h = { 0 };
	uint8_t image_digest[ZU_DIGEST_LEN];
	uint8_t header_digest[ZU_DIGEST_LEN];
	int fd = -1, r;

	memset(&m, 0, sizeof(m));
	m.body_fd = -1;
	r = mk_check_params(p, err);
	if (r < 0)
		return r;
	if (p->lim) {
		m.lim = *p->lim;
	} else {
		const struct zu_limits def = ZU_LIMITS_DEFAULT;

		m.lim = def;
	}
	m.header_est = MK_HEADER_FIXED;
	m.fine = p->fine;
	r = zu_io_open_ro(p->image, &fd, err);
	if (r < 0)
		goto out;
	r = mk_check_size(&m, p, fd, err);
	if (r == 0) {
		const struct zu_dict_source ds = { p->image, fd, p->level, p->threads, &m.lim };

		r = zu_make_dict_prepare(&p->dict, &ds, &m.dict, err);
	}
	if (r == 0)
		r = mk_make_body(&m, p, fd, image_digest, err);
	if (r == 0) {
		mk_link_digests(&m);
		r = mk_build_headers(&m, image_digest, p->header_out != NULL, &h, err);
	}
	if (r == 0 && h.full_len > m.lim.max_header)
		r = zu_err_set(err, -EOVERFLOW, "built header of %zu bytes exceeds the limit of %zu",
			       h.full_len, m.lim.max_header);
	if (r == 0)
		r = mk_lead_digest(h.full, h.full_len, header_digest, err);
	if (r == 0)
		r = mk_write_output(&m, p, &h, err);
	if (r < 0 || !out)
		goto out;
	memset(out, 0, sizeof(*out));
	out->image_len = m.image_len;
	out->header_len = h.full_len;
	out->zck_len = h.full_len + m.body_len;
	out->n_chunks = m.n_chunks;
	memcpy(out->image_digest, image_digest, ZU_DIGEST_LEN);
	memcpy(out->header_digest, header_digest, ZU_DIGEST_LEN);
	out->dict_len = m.dict.len;
	out->dict_comp_len = m.dict.frame_len;
	out->dict_samples = m.dict.n_samples;
	out->dict_saved = m.dict.saved_estimate;
	out->dict_skipped = m.dict.skipped;
out:
	mk_workers_stop(&m, true);
	if (m.pipe_ready)
		mk_pipe_fini(&m.pipe);
	zu_sha256_fini(&m.image_sha);
	if (m.body_fd >= 0)
		close(m.body_fd);
	if (fd >= 0)
		close(fd);
	free(m.chunks);
	free(m.digests);
	zu_make_dict_fini(&m.dict);
	free(h.full);
	free(h.detached);
	return r;
}
