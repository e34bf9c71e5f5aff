/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "inplace.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "io.h"

/* Read this much at a time: the target is read once, front to back. */
#define INPLACE_BLOCK (1u << 20)

struct ip_run {
	const struct zu_inplace_params *p;
	uint8_t *buf;
	size_t cap;
	uint64_t base;  /* image offset of buf[0] */
	size_t fill;
	struct zu_sha256 sha;
};

/* Makes image bytes [off, off + len) available in buf; len <= cap. */
static int ip_window(struct ip_run *x, uint64_t off, size_t len, const uint8_t **out,
		     struct zu_err *err)
{
	size_t want;
	int r;

	if (off >= x->base && off + len <= x->base + x->fill) {
		*out = x->buf + (off - x->base);
		return 0;
	}
	/* checking a few chunks here and there: read those, not the blocks around them */
	want = x->p->only ? len : x->cap;
	if (x->p->target_size - x->p->target_offset - off < want)
		want = (size_t)(x->p->target_size - x->p->target_offset - off);
	r = zu_io_pread_full(x->p->target_fd, x->buf, want, x->p->target_offset + off, err);
	if (r < 0)
		return r;
	x->base = off;
	x->fill = want;
	*out = x->buf;
	return 0;
}

static int ip_chunk_matches(struct ip_run *x, const struct zu_chunk *c, bool *out,
			    struct zu_err *err)
{
	uint8_t got[ZU_SHA256_LEN];
	const uint8_t *p;
	int r;

	r = ip_window(x, c->image_offset, (size_t)c->len, &p, err);
	if (r == 0)
		r = zu_sha256_reset(&x->sha, err);
	if (r == 0)
		r = zu_sha256_update(&x->sha, p, (size_t)c->len, err);
	if (r == 0)
		r = zu_sha256_final(&x->sha, got, err);
	if (r < 0)
		return r;
	*out = memcmp(got, c->udigest, ZU_SHA256_LEN) == 0;
	return 0;
}

int zu_inplace_scan(const struct zu_inplace_params *p, bool *out_in_place, uint64_t *out_bytes,
		    struct zu_err *err)
{
	const struct zu_header *h = p->h;
	struct ip_run x = { .p = p, .sha = ZU_SHA256_INIT };
	uint64_t avail, held = 0;
	int r;

	memset(out_in_place, 0, h->n_chunks * sizeof(*out_in_place));
	*out_bytes = 0;
	if (p->target_size <= p->target_offset)
		return 0;
	avail = p->target_size - p->target_offset;
	x.cap = h->max_chunk_len > INPLACE_BLOCK ? (size_t)h->max_chunk_len : INPLACE_BLOCK;
	x.buf = malloc(x.cap);
	if (!x.buf)
		return zu_err_set(err, -ENOMEM, "cannot allocate %zu bytes", x.cap);
	r = zu_sha256_init(&x.sha, err);
	if (!p->only)
		posix_fadvise(p->target_fd, (off_t)p->target_offset, (off_t)avail,
			      POSIX_FADV_SEQUENTIAL);
	for (size_t i = 0; r == 0 && i < h->n_chunks; i++) {
		const struct zu_chunk *c = &h->chunks[i];

		if (c->len == 0 || (p->only && !p->only[i]))
			continue;
		/* A target shorter than the image (an interrupted file) holds a prefix. */
		if (c->image_offset + c->len > avail)
			break;
		r = zu_progress_check_cancel(&p->progress, err);
		if (r == 0)
			r = ip_chunk_matches(&x, c, &out_in_place[i], err);
		if (r < 0)
			zu_err_prefix(err, "target at offset %" PRIu64, p->target_offset + c->image_offset);
		else if (out_in_place[i])
			held += c->len;
		if ((i & 31) == 0)
			zu_progress_report(&p->progress, ZU_PHASE_CHECK, c->image_offset, h->image_len);
	}
	zu_sha256_fini(&x.sha);
	free(x.buf);
	*out_bytes = held;
	return r;
}
