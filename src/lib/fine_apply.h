/* SPDX-License-Identifier: MIT */
/*
 * fine_apply - device side of the fine profile (fine.h). For the chunks no
 * source holds: fetches their piece tables, finds the pieces the sources hold
 * (every 4 KiB-aligned block of a source, and the parts of blocks cut by the
 * source's own zchunk chunk boundaries, looked up by digest in a set of the
 * wanted pieces only), fetches the frames of the others in windows of
 * bounded size, and rebuilds each chunk in image order. A rebuilt chunk is
 * handed on only if it matches the chunk's uncompressed SHA-256 from the
 * authenticated header; otherwise (lying table, stale source, digest
 * collision) the whole chunk is fetched and verified as usual, and counted.
 * Memory: about 100 bytes per piece of the missing chunks (table entry,
 * piece record, two slots of the wanted set, its range) plus, from a backend
 * that fetches request by request (a local file), one window of frames
 * (ZU_FINE_WINDOW_BYTES, or one whole chunk). From the downloader (whole_batch)
 * the frames of all missing chunks come as one stream, in batches of 1 MiB
 * (FA_BATCH_BYTES: what is fetched ahead) that the downloader cuts into
 * requests on all connections, and are copied from each record into the
 * chunk's buffer as they arrive: nothing more is held here (the downloader
 * holds at most the batch). The sources are read a second time
 * (after the coarse index), only when some missing chunk has a table; that
 * pass costs little more than the read: the piece hash runs at several GB/s,
 * and the chunk cuts come from the index's record of them.
 */
#ifndef ZU_FINE_APPLY_H
#define ZU_FINE_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decomp.h"
#include "err.h"
#include "fetch/fetch.h"
#include "format.h"
#include "index.h"
#include "plan.h"
#include "progress.h"

/* Frames fetched per window, at most (or one whole chunk): memory against round trips. */
#define ZU_FINE_WINDOW_BYTES (512u << 10)

struct zu_fine;

struct zu_fine_stats {
	size_t n_chunks;          /* missing chunks handled piece by piece */
	size_t n_pieces;          /* their pieces */
	size_t n_reused;          /* pieces found in a source */
	uint64_t reused_bytes;
	size_t n_fetched;         /* pieces whose frames are fetched */
	uint64_t fetched_piece_bytes; /* their uncompressed bytes */
	uint64_t frame_bytes;     /* their frames' bytes */
	uint64_t table_bytes;     /* piece tables fetched */
	size_t n_bad_tables;      /* tables refused (malformed): chunk fetched whole */
	size_t n_fallback;        /* rebuilt chunks that did not verify: fetched whole */
	uint64_t fallback_bytes;  /* compressed bytes fetched for them */
	uint64_t side_bytes;      /* of those, fetched beside the frame stream */
	uint64_t fetch_bytes;     /* plan: tables + ranges of frames (gaps included) */
	size_t n_ranges;          /* plan: ranges of frames after coalescing */
	uint64_t source_bytes;    /* source bytes read to find pieces */
};

/*
 * A new fine state for the chunks of h that locs marks ZU_NO_SOURCE (h must
 * have a valid fine layout and no dict). h and locs are borrowed and must
 * outlive it. The table ranges to fetch first are in *out_ranges (borrowed,
 * sorted, *out_n of them; none when no chunk is missing).
 */
int zu_fine_new(const struct zu_header *h, const struct zu_seed_loc *locs,
		struct zu_fine **out, const struct zu_range **out_ranges, size_t *out_n,
		struct zu_err *err) __attribute__((warn_unused_result));
void zu_fine_free(struct zu_fine *f);

/*
 * Receives the batch of table ranges already requested on fetch (after
 * whatever came before them in that batch was read) and checks each table;
 * a malformed one sends its chunk to be fetched whole.
 */
int zu_fine_read_tables(struct zu_fine *f, struct zu_fetch *fetch, struct zu_err *err)
	__attribute__((warn_unused_result));

/*
 * Reads the sources (fds[i], sizes[i] bytes) to find the wanted pieces.
 * cuts: NULL, or per source the chunk cuts the index recorded; a complete
 * record spares running the chunker again, and lets up to threads threads
 * (this one included) scan parts of the source at once. The result is the
 * same either way: for each piece, the first source and lowest offset.
 */
int zu_fine_index(struct zu_fine *f, const int *fds, const uint64_t *sizes,
		  const struct zu_index_cuts *cuts, size_t n, unsigned threads,
		  const struct zu_progress *progress, struct zu_err *err)
	__attribute__((warn_unused_result));

/* Fills the plan figures of *out (what apply would fetch after the tables). */
void zu_fine_get_stats(const struct zu_fine *f, struct zu_fine_stats *out);

/*
 * One item of what the plan fetches or reuses for a missing chunk (explain):
 * a piece table (image range = the whole chunk), a piece reused from a
 * source (fetch_bytes 0), a piece's frame, or a whole chunk fetched as is;
 * fetch_bytes includes the gap merged in front of it. Over all items of
 * zu_fine_walk(), fetch_bytes adds up to zu_fine_get_stats()'s fetch_bytes.
 */
struct zu_fine_item {
	size_t chunk;
	uint64_t image_offset;
	uint64_t image_len;
	uint64_t fetch_bytes;
	bool reused;
	bool table;          /* a piece table: bytes for the chunk, not image bytes of its own */
};
typedef void (*zu_fine_item_fn)(void *user, const struct zu_fine_item *it);
/* Calls fn for each item, in .zck order (after zu_fine_index()). */
void zu_fine_walk(const struct zu_fine *f, zu_fine_item_fn fn, void *user);

/* I/O for making missing chunks (below): all borrowed. */
struct zu_fine_io {
	struct zu_fetch *fetch;
	const int *source_fds;
	size_t n_sources;
	size_t max_ranges;        /* ranges per window batch; 0 = default */
	/* where a fallback is fetched while the frame stream flows (below) */
	const char *url;
	const struct zu_limits *lim;
	const struct zu_net_cfg *net;
};

/*
 * Making a missing chunk, in three steps so that the costly one runs on any
 * thread (assemble's workers):
 *
 * zu_fine_prepare_chunk (one thread, chunks asked for in image order): fetches
 * the window the chunk is in when needed (or, from a whole_batch backend, asks
 * for the frames of every missing chunk at the first call and then takes the
 * chunk's from that stream), and copies into cbuf (cap bytes, at
 * least the header's max_chunk_len) what the chunk needs from the .zck: the
 * frames of its pieces that no source holds, in order, or the whole chunk.
 *
 * zu_fine_build_chunk (any thread, once the chunk is prepared; dc is the
 * calling thread's own decoder, without a dictionary): reads the pieces the
 * sources hold and decodes the frames from cbuf into ubuf. Returns 1 when
 * built, 0 when it cannot be (a frame that does not decode, a whole chunk
 * whose compressed digest is wrong), <0 on a read error. A built chunk is not
 * verified: the caller compares it with the header's uncompressed digest, and
 * on 0 or a mismatch calls
 *
 * zu_fine_fallback_chunk (the preparing thread, between preparations): fetches
 * the whole chunk and writes it verified into ubuf; counted in the stats.
 * While the frame stream is being received, on a fetcher of its own opened
 * from io->url (once, kept until zu_fine_free), so the stream is not stopped.
 * Returns <0 when that fails too (-EILSEQ: the .zck does not hold the chunk).
 */
int zu_fine_prepare_chunk(struct zu_fine *f, const struct zu_fine_io *io, size_t i,
			  uint8_t *cbuf, size_t cap, struct zu_err *err)
	__attribute__((warn_unused_result));
int zu_fine_build_chunk(const struct zu_fine *f, const int *source_fds, size_t n_sources,
			struct zu_decomp *dc, size_t i, const uint8_t *cbuf, uint8_t *ubuf,
			struct zu_err *err) __attribute__((warn_unused_result));
int zu_fine_fallback_chunk(struct zu_fine *f, const struct zu_fine_io *io, size_t i,
			   uint8_t *ubuf, struct zu_err *err) __attribute__((warn_unused_result));

#endif
