/* SPDX-License-Identifier: MIT */
/*
 * fetch_window - the downloader's bounded reorder window (see fetch_window.h).
 * A byte lands only where a piece's received prefix ends, so reordered,
 * merged, coalesced, overlapping or stray parts of answers can never put a
 * byte at the wrong offset; what is not placed is simply asked for again.
 * Written-out bytes of the head slot are given back to the system as they go,
 * so memory follows what waits to be written out, not the request size.
 */
#include "config.h"

#include "fetch/fetch_window.h"
#include "plan.h"
#include "zu_limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RELEASE_STEP (1u << 20) /* written-out bytes given back in steps of this */

static uint64_t range_end(const struct zu_frame_range *r)
{
	return r->off + r->len;
}

void zu_window_start(struct zu_window *w, const struct zu_frame_range *r, size_t n)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->n = n;
	w->make_off = n ? r[0].off : 0;
}

bool zu_window_all_cut(const struct zu_window *w)
{
	return w->make_ri >= w->n;
}

bool zu_window_done(const struct zu_window *w)
{
	return zu_window_all_cut(w) && w->n_slots == 0;
}

static void slot_free(struct zu_slot *s)
{
	free(s->pieces);
	free(s->buf);
	free(s);
}

/* Cuts the next slot at the creation cursor. */
static int cut_slot(struct zu_window *w)
{
	struct zu_slot *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->pieces = calloc(ZU_LIMITS_MAX_RANGES, sizeof(*s->pieces));
	if (!s->pieces) {
		free(s);
		return -ENOMEM;
	}
	while (s->n < ZU_LIMITS_MAX_RANGES && s->bytes < ZU_PLAN_REQUEST_BYTES &&
	       w->make_ri < w->n) {
		const struct zu_frame_range *r = &w->r[w->make_ri];
		uint64_t left = range_end(r) - w->make_off, room = ZU_PLAN_REQUEST_BYTES - s->bytes;
		uint64_t take = left < room ? left : room;
		struct zu_piece *p = &s->pieces[s->n++];

		p->off = w->make_off;
		p->len = take;
		p->at = (size_t)s->bytes;
		s->bytes += take;
		w->make_off += take;
		if (w->make_off == range_end(r) && ++w->make_ri < w->n)
			w->make_off = w->r[w->make_ri].off;
	}
	/* page-aligned, so written-out pages can be given back */
	if (posix_memalign((void **)&s->buf, (size_t)sysconf(_SC_PAGESIZE),
			   s->bytes ? (size_t)s->bytes : 1)) {
		s->buf = NULL;
		slot_free(s);
		return -ENOMEM;
	}
	w->slot[w->n_slots++] = s;
	w->bytes += s->bytes;
	return 0;
}

int zu_window_grow(struct zu_window *w)
{
	while (!zu_window_all_cut(w) && w->n_slots < ZU_WINDOW_SLOTS &&
	       (w->bytes + ZU_PLAN_REQUEST_BYTES <= ZU_WINDOW_BYTES || w->n_slots == 0)) {
		int r = cut_slot(w);

		if (r < 0)
			return r;
	}
	return 0;
}

uint64_t zu_window_place(struct zu_window *w, uint64_t off, const uint8_t *p, size_t n,
			 bool *out_conflict)
{
	uint64_t end = off + n, placed = 0;

	for (size_t k = 0; k < w->n_slots; k++) {
		struct zu_slot *s = w->slot[k];

		if (!s->n || s->pieces[0].off >= end)
			break;
		if (s->pieces[s->n - 1].off + s->pieces[s->n - 1].len <= off)
			continue;
		for (size_t i = 0; i < s->n; i++) {
			struct zu_piece *pc = &s->pieces[i];
			uint64_t want = pc->off + pc->got, stop;
			uint64_t from = off > pc->off ? off : pc->off;
			uint64_t to = end < want ? end : want;
			uint64_t kept = s->released > pc->at ? pc->off + (s->released - pc->at)
							     : pc->off;

			if (from < kept)
				from = kept; /* given back already: nothing to compare with */
			if (from < to && memcmp(s->buf + pc->at + (from - pc->off), p + (from - off),
						(size_t)(to - from)))
				*out_conflict = true;
			if (pc->got == pc->len || want < off || want >= end)
				continue;
			stop = end < pc->off + pc->len ? end : pc->off + pc->len;
			memcpy(s->buf + pc->at + pc->got, p + (want - off), (size_t)(stop - want));
			pc->got += stop - want;
			placed += stop - want;
		}
	}
	return placed;
}

static void release_written(struct zu_slot *s, uint64_t written)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), upto = written / page * page;

	if (upto < s->released + RELEASE_STEP)
		return;
	if (madvise(s->buf + s->released, (size_t)(upto - s->released), MADV_DONTNEED) == 0)
		s->released = upto;
}

int zu_window_deliver(struct zu_window *w, zu_window_emit_fn emit, void *user)
{
	while (w->n_slots) {
		struct zu_slot *s = w->slot[0];

		while (s->out_piece < s->n) {
			struct zu_piece *p = &s->pieces[s->out_piece];

			if (p->got > s->out_got) {
				int r = emit(user, p->off + s->out_got, s->buf + p->at + s->out_got,
					     p->got - s->out_got);

				if (r < 0)
					return r;
				s->out_got = p->got;
				release_written(s, p->at + s->out_got);
			}
			if (s->out_got < p->len)
				return 0;
			s->out_piece++;
			s->out_got = 0;
		}
		if (s->users)
			return 0; /* a request still points into it (an extra part may come) */
		w->bytes -= s->bytes;
		slot_free(s);
		memmove(w->slot, w->slot + 1, (w->n_slots - 1) * sizeof(w->slot[0]));
		w->n_slots--;
	}
	return 0;
}

uint64_t zu_window_next_out(const struct zu_window *w)
{
	for (size_t k = 0; k < w->n_slots; k++) {
		const struct zu_slot *s = w->slot[k];

		if (s->out_piece < s->n)
			return s->pieces[s->out_piece].off + s->out_got;
	}
	return zu_window_all_cut(w) ? UINT64_MAX : w->make_off;
}

void zu_window_clip(struct zu_window *w, struct zu_frame_range *last, uint64_t size)
{
	if (range_end(last) <= size)
		return;
	last->len = size > last->off ? size - last->off : 0;
	if (!last->len && w->n == 1)
		w->n = 0;
	for (size_t k = 0; k < w->n_slots; k++)
		for (size_t i = 0; i < w->slot[k]->n; i++) {
			struct zu_piece *p = &w->slot[k]->pieces[i];

			if (p->off + p->len > size)
				p->len = size > p->off ? size - p->off : 0;
			if (p->got > p->len)
				p->got = p->len;
		}
	if (w->make_ri < w->n && w->make_off >= range_end(last))
		w->make_ri = w->n;
}

void zu_window_stop_cutting(struct zu_window *w)
{
	w->make_ri = w->n;
}

void zu_window_drop(struct zu_window *w, bool force)
{
	size_t kept = 0;

	for (size_t k = 0; k < w->n_slots; k++) {
		struct zu_slot *s = w->slot[k];

		if (s->users && !force) {
			w->slot[kept++] = s;
			continue;
		}
		w->bytes -= s->bytes;
		slot_free(s);
	}
	w->n_slots = kept;
}
