/* SPDX-License-Identifier: MIT */
/*
 * fetch_window - the downloader's bounded reorder window. A job's ranges are
 * cut into slots (at most ZU_PLAN_REQUEST_BYTES and ZU_LIMITS_MAX_RANGES
 * pieces each, the unit one request asks for); at most ZU_WINDOW_BYTES of
 * slots exist at once. Bytes of answers are placed by their offset wherever
 * they arrive from, and written out strictly in resource order from the head
 * slot. No I/O, no clock, no HTTP: testable on its own.
 */
#ifndef ZU_FETCH_WINDOW_H
#define ZU_FETCH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fetch/frame.h"

#define ZU_WINDOW_BYTES (16u << 20)
#define ZU_WINDOW_SLOTS 64u

/* A sub-range of a job's range, held in one slot. */
struct zu_piece {
	uint64_t off, len;  /* in the resource */
	uint64_t got;       /* bytes received from off on (a byte lands only right after them) */
	size_t at;          /* where in the slot's buffer */
	void *claim;        /* the request asking for it now (the caller's), or NULL */
};

struct zu_slot {
	struct zu_piece *pieces;
	size_t n;
	uint8_t *buf;       /* page-aligned */
	uint64_t bytes;
	size_t out_piece;   /* delivery: first piece not completely written out */
	uint64_t out_got;   /* bytes of it written out */
	uint64_t released;  /* bytes from the start of buf given back to the system */
	unsigned users;     /* requests pointing into the slot: it stays while they do */
	unsigned fails;     /* requests in a row that brought nothing */
	double retry_at;
};

struct zu_window {
	const struct zu_frame_range *r; /* the job's ranges: sorted, disjoint; borrowed */
	size_t n;
	size_t make_ri;                 /* slot creation cursor: range index... */
	uint64_t make_off;              /* ...and absolute offset in it */
	struct zu_slot *slot[ZU_WINDOW_SLOTS]; /* in resource order */
	size_t n_slots;
	uint64_t bytes;                 /* of all slots */
};

/* Writes n bytes at off out, in order; <0 stops delivery with that code. */
typedef int (*zu_window_emit_fn)(void *user, uint64_t off, const uint8_t *p, uint64_t n);

/* Starts a job (the window must be empty). */
void zu_window_start(struct zu_window *w, const struct zu_frame_range *r, size_t n);
/* Cuts new slots while there is room; -ENOMEM. */
int zu_window_grow(struct zu_window *w) __attribute__((warn_unused_result));
/* Every range of the job is in a slot already (or was written out). */
bool zu_window_all_cut(const struct zu_window *w);
/* Nothing left to cut and nothing held. */
bool zu_window_done(const struct zu_window *w);
/*
 * Places resource bytes [off, off+n) where a piece's received prefix ends;
 * other bytes are dropped. Bytes that repeat ones already received (and still
 * held) must be equal: *out_conflict is set otherwise. Returns bytes placed.
 */
uint64_t zu_window_place(struct zu_window *w, uint64_t off, const uint8_t *p, size_t n,
			 bool *out_conflict);
/*
 * Writes out, in order, what the head slots hold; frees each slot written
 * out whole that no request points into. 0, or the emit function's code.
 */
int zu_window_deliver(struct zu_window *w, zu_window_emit_fn emit, void *user)
	__attribute__((warn_unused_result));
/* The first byte not yet written out; UINT64_MAX when none is left. */
uint64_t zu_window_next_out(const struct zu_window *w);
/* The resource turned out to have size bytes: the job's last range and pieces end there. */
void zu_window_clip(struct zu_window *w, struct zu_frame_range *last, uint64_t size);
/* Stops cutting slots: what is left of the job goes another way. */
void zu_window_stop_cutting(struct zu_window *w);
/* Frees every slot no request points into; all of them when force. */
void zu_window_drop(struct zu_window *w, bool force);

#endif
