/* SPDX-License-Identifier: MIT */
/*
 * index_int - what index.c (lookup, sequential scan, index headers) shares with
 * index_par.c (the same scan on worker threads). Private to the index module:
 * nothing here is used outside those two files.
 */
#ifndef ZU_INDEX_INT_H
#define ZU_INDEX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "err.h"
#include "format.h"
#include "hash.h"
#include "index.h"

/* Bytes per pread(), at offsets that are multiples of it: read errors hit the same blocks. */
#define ZU_INDEX_BLOCK (1u << 20)
/* Head room for the unfinished chunk carried over to the next block. */
#define ZU_INDEX_CARRY ZU_CHUNKER_MAX

/* One target chunk in the lookup: see index.c. */
struct ix_ent {
	uint64_t key;
	uint32_t idx;
	uint32_t n_left; /* written by the merging thread only; workers read key and idx */
};

struct ix_table {
	const struct zu_header *h; /* the digests the entries refer to */
	uint64_t key[2];           /* secret of digest_key() */
	struct ix_ent *ents;
	size_t n_ents;
	uint64_t *len_bits; /* bit L set when a target chunk has length L (1..CARRY) */
	uint64_t max_len;   /* longest such length; 0 when none */
};

static inline bool zu_ix_len_wanted(const struct ix_table *t, uint64_t len)
{
	return len >= 1 && len <= t->max_len && (t->len_bits[len / 64] >> (len % 64) & 1);
}

/* The head of the run of entries whose digest is d, or NULL. Reads only key and idx. */
struct ix_ent *zu_ix_table_find(const struct ix_table *t, const uint8_t *d);

/* A range of one source to chunk: [chunk_from, to), read in aligned blocks. */
struct ix_job {
	uint32_t src_idx;
	uint64_t chunk_from; /* the chunker starts fresh here: a true cut, or a guess */
	uint64_t own_from;   /* chunks ending at or after this are hashed when wanted */
	uint64_t to;         /* end of the range; == the source's size: the tail is a chunk */
};

/* What a scan calls; a return > 0 stops the scan (it then returns 0), < 0 fails it. */
struct ix_scan_ops {
	/* n more bytes were read; checks cancel */
	int (*on_block)(void *user, size_t n, struct zu_err *err);
	/* a chunk [start, end) was cut; head = its digest's entries when it was hashed and found */
	int (*on_chunk)(void *user, uint64_t start, uint64_t end, bool hashed,
			struct ix_ent *head);
};

/* One thread's reading and hashing state: ZU_INDEX_CARRY + ZU_INDEX_BLOCK bytes of buffer. */
struct ix_reader {
	const struct ix_table *t;
	uint8_t *buf;
	struct zu_sha256 sha;
	struct zu_chunker ck;
};

int zu_ix_reader_init(struct ix_reader *rd, const struct ix_table *t, struct zu_err *err)
	__attribute__((warn_unused_result));
void zu_ix_reader_fini(struct ix_reader *rd);

/* Chunks src over j's range, hashing and looking up the wanted chunks it owns. */
int zu_ix_scan(struct ix_reader *rd, const struct zu_index_source *src, const struct ix_job *j,
	       const struct ix_scan_ops *ops, void *user, struct zu_err *err)
	__attribute__((warn_unused_result));

/* The state of one zu_index_run(). */
struct ix_run {
	const struct zu_index_params *p;
	const struct zu_header *h;
	struct zu_seed_loc *locs;
	struct ix_table t;
	size_t n_left; /* matchable target chunks without a location */
	struct zu_index_stats st;
	uint64_t done, total;
};

/* Keeps end as a cut of source src when the caller asked for cuts (end < the source's size). */
void zu_ix_record_cut(struct ix_run *x, uint32_t src, uint64_t end);
/* Source src was chunked to its end: its recorded cuts are all of them. */
void zu_ix_cuts_complete(struct ix_run *x, uint32_t src);
/* Gives every unlocated chunk of head's run the location (src, off). */
void zu_ix_locate(struct ix_run *x, struct ix_ent *head, uint32_t src, uint64_t off);
/* Locates the chunks a source's index header lists (nothing is read). */
void zu_ix_from_header(struct ix_run *x, uint32_t src_idx);
/* Indexes every source in order, the read ones on worker threads; same result as sequential. */
int zu_ix_run_parallel(struct ix_run *x, int threads, struct zu_err *err)
	__attribute__((warn_unused_result));

#endif
