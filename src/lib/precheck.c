/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "precheck.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define PRECHECK_MAX_THREADS 16u

/* One run of chunks [lo, hi), checked through a header view of just those chunks. */
struct pc_part {
	struct zu_header h;
	struct zu_index_params ip;
	struct zu_seed_loc *locs;
	struct zu_index_check_stats st;
	struct zu_err err;
	int rc;
	pthread_t thread;
	bool running;
};

static bool from_index(const struct zu_index_params *p, const struct zu_seed_loc *l,
		       const struct zu_chunk *c)
{
	return l->source < p->n_sources && p->sources[l->source].index && c->len > 0;
}

static void *part_main(void *arg)
{
	struct pc_part *t = arg;

	t->rc = zu_index_check(&t->ip, t->locs, &t->st, &t->err);
	return NULL;
}

/* Cuts the chunks into n runs of about equal located bytes; parts[k] gets run k. */
static void split(const struct zu_index_params *p, struct zu_seed_loc *locs,
		  struct pc_part *parts, unsigned n)
{
	const struct zu_header *h = p->h;
	uint64_t total = 0, acc = 0;
	size_t lo = 0, i = 0;

	for (size_t k = 0; k < h->n_chunks; k++)
		if (from_index(p, &locs[k], &h->chunks[k]))
			total += h->chunks[k].len;
	for (unsigned k = 0; k < n; k++) {
		/* run k ends once the located bytes reach its share of the total */
		uint64_t goal = k + 1 == n ? UINT64_MAX : total / n * (k + 1);

		while (i < h->n_chunks && acc < goal) {
			if (from_index(p, &locs[i], &h->chunks[i]))
				acc += h->chunks[i].len;
			i++;
		}
		parts[k].h = *h;
		parts[k].h.chunks = h->chunks + lo;
		parts[k].h.n_chunks = i - lo;
		parts[k].ip = *p;
		parts[k].ip.h = &parts[k].h;
		parts[k].locs = locs + lo;
		lo = i;
	}
}

int zu_precheck_run(const struct zu_index_params *p, struct zu_seed_loc *locs,
		    unsigned n_threads, struct zu_index_check_stats *out_stats,
		    struct zu_err *err)
{
	struct pc_part *parts;
	struct zu_index_check_stats st = { 0 };
	int r = 0;

	if (n_threads > PRECHECK_MAX_THREADS)
		n_threads = PRECHECK_MAX_THREADS;
	if (n_threads <= 1 || !p || !p->h || p->h->n_chunks < n_threads)
		return zu_index_check(p, locs, out_stats, err);
	parts = calloc(n_threads, sizeof(*parts));
	if (!parts)
		return zu_err_set(err, -ENOMEM, "out of memory");
	split(p, locs, parts, n_threads);
	/* part 0 runs here; a thread that cannot start runs here too */
	for (unsigned k = 1; k < n_threads; k++) {
		struct pc_part *t = &parts[k];

		t->running = pthread_create(&t->thread, NULL, part_main, t) == 0;
	}
	part_main(&parts[0]);
	for (unsigned k = 1; k < n_threads; k++) {
		if (parts[k].running)
			pthread_join(parts[k].thread, NULL);
		else
			part_main(&parts[k]);
	}
	/* the first failure in chunk order, as one pass would have met it */
	for (unsigned k = 0; k < n_threads; k++) {
		if (parts[k].rc < 0 && r == 0) {
			r = parts[k].rc;
			*err = parts[k].err;
		}
		st.n_checked += parts[k].st.n_checked;
		st.n_stale += parts[k].st.n_stale;
		st.stale_bytes += parts[k].st.stale_bytes;
		st.bytes_read += parts[k].st.bytes_read;
	}
	free(parts);
	if (r == 0 && out_stats)
		*out_stats = st;
	return r;
}
