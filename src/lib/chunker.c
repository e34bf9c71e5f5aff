/* SPDX-License-Identifier: MIT */
/*
 * chunker - cuts a byte stream exactly where libzck's automatic chunking cuts it
 * (shared/spec/zchunk-chunker.md). Pure: no I/O, no allocation, no global state.
 *
 * The buzhash state is a function of the last 48 bytes fed, so the hot loop reads the byte
 * leaving the window straight from the caller's buffer and leaves the ring buffer in
 * struct zu_chunker alone; the ring is only written when the fast loop stops (hit, limit or end
 * of the call), and used for the first 48 bytes of a call, after a reset and after a restart
 * (whose re-fed byte makes the window differ from the buffer).
 */
#include "config.h"

#include "chunker.h"
#include "chunker_table.h"

#include <assert.h>
#include <string.h>

#define W ZU_CHUNKER_WINDOW
#define MATCH_MASK 0x7fffu /* 15 match bits: a cut on average every 32 KiB */

static inline uint32_t rol32(uint32_t v, unsigned int s)
{
	s &= 31;
	return (v << s) | (v >> ((32 - s) & 31));
}

static inline int is_hit(uint32_t o)
{
	return (o & MATCH_MASK) == 0;
}

void zu_chunker_init(struct zu_chunker *c)
{
	memset(c, 0, sizeof(*c));
}

uint64_t zu_chunker_pending(const struct zu_chunker *c)
{
	return c->committed + c->run;
}

/* One step of zchunk's buzhash through the ring buffer; returns the hash output o. */
static uint32_t feed_slow(struct zu_chunker *c, uint8_t b)
{
	uint8_t out;

	if (c->fill < W) {
		c->window[c->fill++] = b;
		if (c->fill < W) {
			/* Never a boundary while the window fills: zchunk returns 1 here. */
			c->h ^= rol32(zu_buzhash_table[b], W - c->fill);
			return 1;
		}
		c->h ^= zu_buzhash_table[b];
		c->head = 0;
		return c->h;
	}
	out = c->window[c->head];
	c->h = rol32(c->h, 1) ^ zu_buzhash_out_table[out] ^ zu_buzhash_table[b];
	c->window[c->head] = b;
	c->head = c->head + 1 == W ? 0 : c->head + 1;
	return c->h;
}

/*
 * Feeds p[i..lim) while the window equals the 48 buffer bytes before each one (the caller
 * guarantees i >= 48 and a full window equal to p[i-48..i)). Stops after feeding the first
 * byte whose output is a hit and returns its index, or returns lim. Four bytes per round
 * shorten the dependency chain on h: h4 = rol(h, 4) ^ y with y built off the chain.
 */
static size_t feed_fast(uint32_t *hp, const uint8_t *p, size_t i, size_t lim)
{
	const uint32_t *t = zu_buzhash_table;
	const uint32_t *to = zu_buzhash_out_table;
	uint32_t h = *hp;

	while (lim - i >= 4) {
		const uint8_t *q = p + i;
		uint32_t x0 = to[q[0 - W]] ^ t[q[0]];
		uint32_t x1 = to[q[1 - W]] ^ t[q[1]];
		uint32_t x2 = to[q[2 - W]] ^ t[q[2]];
		uint32_t x3 = to[q[3 - W]] ^ t[q[3]];
		uint32_t y1 = x0;
		uint32_t y2 = rol32(y1, 1) ^ x1;
		uint32_t y3 = rol32(y2, 1) ^ x2;
		uint32_t y4 = rol32(y3, 1) ^ x3;

		if (is_hit(rol32(h, 1) ^ y1) || is_hit(rol32(h, 2) ^ y2) ||
		    is_hit(rol32(h, 3) ^ y3) || is_hit(rol32(h, 4) ^ y4))
			break; /* the byte-wise loop below finds which one */
		h = rol32(h, 4) ^ y4;
		i += 4;
	}
	for (; i < lim; i++) {
		h = rol32(h, 1) ^ to[p[i - W]] ^ t[p[i]];
		if (is_hit(h)) {
			*hp = h;
			return i;
		}
	}
	*hp = h;
	return lim;
}

/*
 * The restart quirk: the hit candidate b did not end the chunk (fewer than 8192 bytes
 * committed), so zchunk feeds the same byte again, and again while that keeps hitting.
 * Fixed-point corner: after 47 re-feeds the window holds 48 copies of b, the hash is then
 * constant and a further hit would make zchunk loop forever. We stop there and treat the
 * candidate as a non-hit (it joins the chunk). Before that point we re-feed exactly as zchunk
 * does, so every input zchunk can chunk gets zchunk's cuts. (With zchunk's table no byte
 * value's fixed point matches the mask, so this exit is unreachable in practice.)
 */
static void restart_same_byte(struct zu_chunker *c, uint8_t b)
{
	for (unsigned int refeeds = 1;; refeeds++) {
		if (!is_hit(feed_slow(c, b)))
			return;
		if (refeeds + 1 >= W)
			return;
	}
}

/* Ends the chunk before p[k]; the next call starts a fresh hash at p[k]. */
static size_t cut_at(struct zu_chunker *c, size_t k)
{
	zu_chunker_init(c);
	return k;
}

size_t zu_chunker_scan(struct zu_chunker *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t i = 0;
	/* Trailing fed bytes that are p[i-contig..i) in order; >= 48 means window == buffer. */
	size_t contig = 0;

	while (i < n) {
		uint64_t total = c->committed + c->run;
		uint32_t o;

		/* The byte that reaches the maximum is fed too, but the reset discards it. */
		if (total >= ZU_CHUNKER_MAX)
			return cut_at(c, i);
		if (contig >= W) {
			uint64_t room = ZU_CHUNKER_MAX - total;
			size_t lim = n - i < room ? n : i + (size_t)room;
			size_t j = feed_fast(&c->h, p, i, lim);
			size_t end = j < lim ? j + 1 : lim;

			assert(c->fill == W);
			memcpy(c->window, p + end - W, W);
			c->head = 0;
			c->run += j - i;
			i = j;
			if (j == lim)
				continue;
			o = c->h;
		} else {
			o = feed_slow(c, p[i]);
			contig++;
		}
		if (is_hit(o)) {
			c->committed += c->run;
			c->run = 0;
			if (c->committed >= ZU_CHUNKER_MIN)
				return cut_at(c, i);
			restart_same_byte(c, p[i]);
			contig = 1; /* the window now repeats p[i] */
		}
		c->run++;
		i++;
	}
	return ZU_CHUNKER_NO_CUT;
}
