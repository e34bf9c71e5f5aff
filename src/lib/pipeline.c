/* SPDX-License-Identifier: MIT */
/*
 * pipeline - the thread and ordering mechanics behind assemble (pipeline.h).
 * Jobs are numbered from 0 in submission order; job j lives in slot
 * j % n_slots. Four counters, each moved by one kind of thread, say where
 * every job is, so no per-slot state machine is needed beyond "done":
 *
 *   freed <= released <= taken <= submitted,  started <= submitted
 *
 * One mutex guards them. Condition variables are split by who waits, so a
 * finished job wakes the driver only, and a submission one worker.
 */
#include "config.h"

#include "pipeline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pipe_slot {
	bool done;           /* work finished; rc and err hold its result */
	int rc;
	struct zu_err err;
};

struct pipe_worker {
	struct zu_pipe *q;
	unsigned id;
	pthread_t thread;
	bool running;        /* created, to be joined */
};

struct zu_pipe {
	struct zu_pipe_params p;
	struct pipe_slot *slots;
	struct pipe_worker *workers;
	struct pipe_worker tail;
	pthread_mutex_t lock;
	pthread_cond_t work_cv;   /* workers: a job was submitted, or stop */
	pthread_cond_t driver_cv; /* driver: a job is done, or a slot was freed */
	pthread_cond_t tail_cv;   /* tail: a job was released, or stop */
	bool lock_ready, work_ready, driver_ready, tail_ready;
	bool stop;
	/* job counters; see the top of the file */
	uint64_t submitted, started, taken, released, freed;
	int tail_rc;
	struct zu_err tail_err;
};

static struct pipe_slot *slot_of(struct zu_pipe *q, uint64_t job)
{
	return &q->slots[job % q->p.n_slots];
}

static void *worker_main(void *arg)
{
	struct pipe_worker *w = arg;
	struct zu_pipe *q = w->q;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct pipe_slot *s;
		uint64_t job;
		int rc;

		while (!q->stop && q->started == q->submitted)
			pthread_cond_wait(&q->work_cv, &q->lock);
		if (q->stop)
			break;
		job = q->started++;
		s = slot_of(q, job);
		pthread_mutex_unlock(&q->lock);
		/* The slot is this worker's alone until done is set under the lock. */
		zu_err_clear(&s->err);
		rc = q->p.work(q->p.user, w->id, q->p.jobs[job % q->p.n_slots], &s->err);
		pthread_mutex_lock(&q->lock);
		s->rc = rc;
		s->done = true;
		/* Only the driver waits for done jobs, and only for the oldest one. */
		if (job == q->taken)
			pthread_cond_signal(&q->driver_cv);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void *tail_main(void *arg)
{
	struct zu_pipe *q = ((struct pipe_worker *)arg)->q;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		uint64_t job;
		int rc = 0;

		while (!q->stop && q->freed == q->released)
			pthread_cond_wait(&q->tail_cv, &q->lock);
		if (q->stop)
			break;
		job = q->freed;
		if (q->tail_rc == 0) {
			/* tail_err is written only while tail_rc is 0; the driver reads it after */
			pthread_mutex_unlock(&q->lock);
			rc = q->p.tail(q->p.user, q->p.jobs[job % q->p.n_slots], &q->tail_err);
			pthread_mutex_lock(&q->lock);
		}
		if (rc < 0)
			q->tail_rc = rc;
		q->freed++;
		pthread_cond_signal(&q->driver_cv);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static int start_threads(struct zu_pipe *q, struct zu_err *err)
{
	int r;

	for (unsigned i = 0; i < q->p.n_workers; i++) {
		struct pipe_worker *w = &q->workers[i];

		w->q = q;
		w->id = i;
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			return zu_err_sys(err, r, "cannot start worker thread %u", i);
		w->running = true;
	}
	if (!q->p.tail)
		return 0;
	q->tail.q = q;
	r = pthread_create(&q->tail.thread, NULL, tail_main, &q->tail);
	if (r != 0)
		return zu_err_sys(err, r, "cannot start the tail thread");
	q->tail.running = true;
	return 0;
}

int zu_pipe_new(const struct zu_pipe_params *p, struct zu_pipe **out, struct zu_err *err)
{
	struct zu_pipe *q;
	int r;

	*out = NULL;
	if (!p || p->n_workers == 0 || p->n_slots == 0 || !p->jobs || !p->work)
		return zu_err_set(err, -EINVAL, "pipeline without workers, slots or work");
	q = calloc(1, sizeof(*q));
	if (!q)
		return zu_err_set(err, -ENOMEM, "out of memory");
	q->p = *p;
	q->slots = calloc(p->n_slots, sizeof(*q->slots));
	q->workers = calloc(p->n_workers, sizeof(*q->workers));
	if (!q->slots || !q->workers) {
		r = zu_err_set(err, -ENOMEM, "out of memory for %zu slots", p->n_slots);
		goto fail;
	}
	r = -pthread_mutex_init(&q->lock, NULL);
	q->lock_ready = r == 0;
	if (r == 0)
		r = -pthread_cond_init(&q->work_cv, NULL);
	q->work_ready = q->lock_ready && r == 0;
	if (r == 0)
		r = -pthread_cond_init(&q->driver_cv, NULL);
	q->driver_ready = q->work_ready && r == 0;
	if (r == 0)
		r = -pthread_cond_init(&q->tail_cv, NULL);
	q->tail_ready = q->driver_ready && r == 0;
	if (r < 0) {
		zu_err_sys(err, -r, "cannot create pipeline locks");
		goto fail;
	}
	r = start_threads(q, err);
	if (r < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	zu_pipe_free(q);
	return r;
}

void zu_pipe_free(struct zu_pipe *q)
{
	if (!q)
		return;
	if (q->tail_ready) {
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_broadcast(&q->work_cv);
		pthread_cond_broadcast(&q->tail_cv);
		pthread_mutex_unlock(&q->lock);
	}
	for (unsigned i = 0; q->workers && i < q->p.n_workers; i++)
		if (q->workers[i].running)
			pthread_join(q->workers[i].thread, NULL);
	if (q->tail.running)
		pthread_join(q->tail.thread, NULL);
	if (q->tail_ready)
		pthread_cond_destroy(&q->tail_cv);
	if (q->driver_ready)
		pthread_cond_destroy(&q->driver_cv);
	if (q->work_ready)
		pthread_cond_destroy(&q->work_cv);
	if (q->lock_ready)
		pthread_mutex_destroy(&q->lock);
	free(q->workers);
	free(q->slots);
	free(q);
}

size_t zu_pipe_pending(const struct zu_pipe *q)
{
	/* Both counters move on the driver's thread only: no lock needed to read them there. */
	return (size_t)(q->submitted - q->taken);
}

void *zu_pipe_next_slot(struct zu_pipe *q)
{
	uint64_t job = q->submitted;

	pthread_mutex_lock(&q->lock);
	while (job - q->freed >= q->p.n_slots)
		pthread_cond_wait(&q->driver_cv, &q->lock);
	pthread_mutex_unlock(&q->lock);
	return q->p.jobs[job % q->p.n_slots];
}

void zu_pipe_submit(struct zu_pipe *q)
{
	pthread_mutex_lock(&q->lock);
	slot_of(q, q->submitted)->done = false;
	q->submitted++;
	pthread_cond_signal(&q->work_cv);
	pthread_mutex_unlock(&q->lock);
}

int zu_pipe_take(struct zu_pipe *q, void **out_job, struct zu_err *err)
{
	struct pipe_slot *s = slot_of(q, q->taken);
	int rc;

	*out_job = q->p.jobs[q->taken % q->p.n_slots];
	pthread_mutex_lock(&q->lock);
	while (!s->done)
		pthread_cond_wait(&q->driver_cv, &q->lock);
	/* under the lock: workers compare their job with it to know whom to wake */
	q->taken++;
	pthread_mutex_unlock(&q->lock);
	rc = s->rc;
	if (rc < 0)
		*err = s->err;
	return rc;
}

void zu_pipe_release(struct zu_pipe *q)
{
	pthread_mutex_lock(&q->lock);
	q->released++;
	if (q->p.tail)
		pthread_cond_signal(&q->tail_cv);
	else
		q->freed = q->released;
	pthread_mutex_unlock(&q->lock);
}

int zu_pipe_drain(struct zu_pipe *q, struct zu_err *err)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	while (q->freed != q->released)
		pthread_cond_wait(&q->driver_cv, &q->lock);
	rc = q->tail_rc;
	pthread_mutex_unlock(&q->lock);
	if (rc < 0)
		*err = q->tail_err;
	return rc;
}
