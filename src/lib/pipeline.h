/* SPDX-License-Identifier: MIT */
/*
 * pipeline - a bounded ring of jobs worked on by a pool of threads and handed
 * back strictly in submission order, then optionally passed, still in order,
 * to one "tail" thread. The caller owns the job objects (one per slot) and
 * their buffers, so memory is fixed at creation whatever the number of jobs.
 * It knows nothing of chunks or files: only threads, slots and order.
 *
 * One thread (the "driver") submits, takes and releases; work runs on the
 * workers, tail on the tail thread. A job's life: submit -> work (any
 * worker) -> take (driver, in order) -> release -> tail (in order) -> slot
 * free for the next submit. A failing work does not stop the others: its
 * code and message are handed back by take, in order, so that everything
 * before it is still delivered; the driver then stops by freeing the pipe.
 */
#ifndef ZU_PIPELINE_H
#define ZU_PIPELINE_H

#include <stddef.h>

#include "err.h"

struct zu_pipe_params {
	unsigned n_workers;  /* worker threads, >= 1 */
	size_t n_slots;      /* jobs submitted and not yet free, >= 1 */
	void *const *jobs;   /* n_slots caller-owned job objects, borrowed; slot k is jobs[k] */
	/* Runs on a worker; worker is its number in [0, n_workers), for per-thread state. */
	int (*work)(void *user, unsigned worker, void *job, struct zu_err *err);
	/* Optional (NULL: none): runs on the tail thread for each released job, in order. */
	int (*tail)(void *user, void *job, struct zu_err *err);
	void *user;
};

struct zu_pipe;

/* Starts the threads. Returns a new pipe in *out; free with zu_pipe_free(). */
int zu_pipe_new(const struct zu_pipe_params *p, struct zu_pipe **out, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Stops the threads (jobs not started are dropped, running ones finish) and joins them. */
void zu_pipe_free(struct zu_pipe *q);

/* Jobs submitted and not yet taken. The driver submits only while this is below n_slots. */
size_t zu_pipe_pending(const struct zu_pipe *q);
/*
 * The job object of the next submission, to fill before zu_pipe_submit().
 * Waits while its slot is still with the tail thread. Driver only, and only
 * when zu_pipe_pending() < n_slots (else it would wait for itself).
 */
void *zu_pipe_next_slot(struct zu_pipe *q);
/* Hands the job returned by zu_pipe_next_slot() to the workers. */
void zu_pipe_submit(struct zu_pipe *q);
/*
 * Waits for the oldest pending job (zu_pipe_pending() > 0) and returns it in
 * *out_job, with its work's result: 0, or <0 with err filled from the work's.
 * The job stays the driver's until zu_pipe_release().
 */
int zu_pipe_take(struct zu_pipe *q, void **out_job, struct zu_err *err)
	__attribute__((warn_unused_result));
/* Passes the last taken job to the tail thread (or frees its slot when there is no tail). */
void zu_pipe_release(struct zu_pipe *q);
/*
 * Waits until the tail thread has handled every released job; returns the
 * first tail failure (after which tail is not called again), or 0.
 */
int zu_pipe_drain(struct zu_pipe *q, struct zu_err *err) __attribute__((warn_unused_result));

#endif
