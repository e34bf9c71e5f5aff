/* SPDX-License-Identifier: MIT */
/*
 * zckup.h - the one public header of libzckup.
 *
 * libzckup brings an image (partition, file) from the version a device runs to a
 * new version described by a zchunk (.zck) header, reusing every chunk the device
 * already holds and fetching only the rest.
 *
 * Conventions: every fallible call returns 0 (or a count) on success and a
 * negative errno-style code on failure; the message for the last failure is
 * zckup_errmsg(ctx). Codes have fixed meanings (doc/errors.md):
 *   -EINVAL bad option or API misuse     -EBADMSG malformed input
 *   -EOVERFLOW a length or limit exceeded -EPROTO  server broke protocol
 *   -EILSEQ digest mismatch               -EKEYREJECTED header authentication failed
 *   -EIO/-ENOSPC/-ENOMEM/-ENOENT/-EACCES  from the system
 *   -ECANCELED cancelled by the caller
 * One zckup_ctx per thread; objects are not thread-safe.
 */
#ifndef ZCKUP_H
#define ZCKUP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZCKUP_API __attribute__((visibility("default")))
#define ZCKUP_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ZCKUP_API
#define ZCKUP_WARN_UNUSED
#endif

#define ZCKUP_VERSION "0.1.0"
#define ZCKUP_DIGEST_LEN 32

/* ---- context, errors, logging, progress ---------------------------------- */

typedef struct zckup_ctx zckup_ctx;

enum zckup_log_level { ZCKUP_LOG_ERROR, ZCKUP_LOG_WARNING, ZCKUP_LOG_INFO, ZCKUP_LOG_DEBUG };
typedef void (*zckup_log_fn)(void *user, enum zckup_log_level lvl, const char *module,
			     const char *msg);

enum zckup_phase {
	ZCKUP_PHASE_INDEX,  /* reading the sources */
	ZCKUP_PHASE_FETCH,  /* reading the .zck */
	ZCKUP_PHASE_WRITE,  /* verifying and writing the image */
	ZCKUP_PHASE_MAKE,   /* building a .zck */
	ZCKUP_PHASE_CHECK,  /* reading what the target already holds */
	ZCKUP_PHASE_PIECES, /* reading the sources again for a fine .zck's pieces */
};

struct zckup_progress {
	enum zckup_phase phase;
	uint64_t done_bytes;    /* bytes handled in this phase so far */
	uint64_t total_bytes;   /* 0 when unknown */
	uint64_t fetched_bytes; /* bytes read from the .zck so far (phase WRITE) */
};
typedef void (*zckup_progress_fn)(void *user, const struct zckup_progress *p);

/* Returns a new context, or NULL when out of memory. Free with zckup_ctx_free(). */
ZCKUP_API zckup_ctx *zckup_ctx_new(void);
ZCKUP_API void zckup_ctx_free(zckup_ctx *ctx);
/* Message of the last failure on ctx; valid until the next call on ctx. */
ZCKUP_API const char *zckup_errmsg(const zckup_ctx *ctx);
/* Code of the last failure on ctx (0 when none). */
ZCKUP_API int zckup_errcode(const zckup_ctx *ctx);
/* Messages up to level max go to fn; fn NULL silences the library (default). */
ZCKUP_API void zckup_set_log(zckup_ctx *ctx, enum zckup_log_level max, zckup_log_fn fn,
			     void *user);
/* fn is called about every MiB of progress, and at the end of each phase. */
ZCKUP_API void zckup_set_progress(zckup_ctx *ctx, zckup_progress_fn fn, void *user);

/*
 * Asks the call running on ctx (apply, plan, make) to stop: it returns
 * -ECANCELED at its next check (between chunks or 1 MiB blocks, and every
 * 100 ms while a write into a pipe or the wait for an --exec command blocks),
 * after aborting its destination. Safe from a signal handler and from any
 * other thread (a C11 atomic flag). The request stays until zckup_ctx_free();
 * use a new context to go on.
 */
ZCKUP_API void zckup_cancel(zckup_ctx *ctx);

/*
 * Limits applied to untrusted input, and by zckup_make() to what it writes:
 * an image whose header would break them is refused (-EOVERFLOW) before any
 * output is written, so make never writes a .zck that apply refuses. Zero
 * fields take the defaults.
 */
struct zckup_limits {
	size_t max_header_bytes; /* default 64 MiB */
	size_t max_chunk_bytes;  /* largest chunk, compressed or not; default 16 MiB */
	size_t max_chunks;       /* default 4 Mi */
};
ZCKUP_API void zckup_set_limits(zckup_ctx *ctx, const struct zckup_limits *lim);

/*
 * Threads that plan and apply use to index the sources (chunk and hash them):
 * 0 = the online CPUs (default; those of the process's affinity mask, as set
 * by taskset or a cpuset), 1 = none besides the calling one, N = N
 * worker threads (each with its own 1.125 MiB read buffer; at most 64 index
 * workers). The result does not depend on it: the same chunks are found at the
 * same places. apply's write pass (reading and verifying reused chunks,
 * decompressing and verifying fetched ones) takes the same count, or with 0
 * one worker fewer than the CPUs (at least one): its writing thread and the
 * image digest's thread need the rest. Returns 0, or -EINVAL when threads is
 * not in 0..1024.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_set_threads(zckup_ctx *ctx, int threads);

/* ---- network ------------------------------------------------------------- */

/*
 * How a remote .zck (http://, https://) is fetched. The transfers run in a
 * separate process forked from the caller, with dropped privileges (see
 * README "Security"). Strings are borrowed: they must stay valid while ctx
 * is used. Zero fields take the defaults.
 */
struct zckup_net_opts {
	unsigned connections;        /* transfers in flight (HTTP/1.1 connections or HTTP/2
					streams); default 4, at most 16 */
	unsigned attempts;           /* tries of a transfer that brings no byte; default 6 */
	unsigned timeout_s;          /* seconds without a byte before a transfer is retried;
					default 30 */
	size_t max_ranges;           /* ranges per request before any step-down; default 150 */
	const char *cacert;          /* PEM file of trusted CAs; default: the system's */
	const char *capath;          /* directory of trusted CAs (readable by the downloader) */
	const char *cert, *key;      /* client certificate and key (PEM), for mutual TLS */
	int insecure;                /* 1: do not verify the server's certificate */
	const char *const *headers;  /* extra request headers, "Name: value" */
	size_t n_headers;            /* at most 32 */
	const char *user;            /* the downloader's user; default "nobody" when root */
};
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_set_net(zckup_ctx *ctx, const struct zckup_net_opts *o);

/* ---- headers ------------------------------------------------------------- */

typedef struct zckup_header zckup_header;

/*
 * Reads and checks the header of a .zck file or a detached header (.zckh) at
 * path: structure, limits and the header checksum. If expect_sha256 is not NULL
 * it must be the header's checksum, or the SHA-256 of the header's bytes as a
 * detached .zckh or as at the start of the .zck (-EKEYREJECTED otherwise).
 * Returns a new header in *out; free with zckup_header_free().
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_open(zckup_ctx *ctx, const char *path,
						   const uint8_t *expect_sha256,
						   zckup_header **out);
ZCKUP_API void zckup_header_free(zckup_header *h);
/*
 * Like zckup_header_open(), but reads the header from the start of the .zck
 * at url (http://, https://, file:// or a path): the lead first, then the
 * rest. The connection is kept in ctx for a zckup_apply() of the same url.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_fetch(zckup_ctx *ctx, const char *url,
						    const uint8_t *expect_sha256,
						    zckup_header **out);

struct zckup_header_info {
	int detached;                /* 1 when read from a detached header */
	uint64_t header_bytes;       /* lead + preface + index + signatures */
	uint64_t data_bytes;         /* compressed body, dict included */
	uint64_t image_bytes;        /* uncompressed image */
	size_t n_chunks;             /* data chunks, dict not counted */
	uint64_t flags;              /* zchunk preface flags */
	int has_dict;
	uint64_t dict_bytes;         /* compressed size of the dict */
	int has_image_digest;        /* zckup's whole-image SHA-256 element present */
	int has_fine;                /* zckup's fine layout element present (profile fine) */
	unsigned fine_piece_bytes;   /* its piece size; 0 without it */
	uint8_t image_digest[ZCKUP_DIGEST_LEN];
	uint8_t header_digest[ZCKUP_DIGEST_LEN]; /* the header checksum from the lead */
	size_t n_signatures;
	uint64_t largest_chunk_bytes;
};
ZCKUP_API void zckup_header_get_info(const zckup_header *h, struct zckup_header_info *out);

struct zckup_chunk_info {
	uint8_t digest[ZCKUP_DIGEST_LEN];   /* SHA-256 of the compressed chunk */
	uint8_t udigest[ZCKUP_DIGEST_LEN];  /* SHA-256 of the uncompressed chunk */
	uint64_t file_offset;               /* offset of the compressed chunk in the .zck */
	uint64_t image_offset;              /* offset of the chunk in the image */
	uint64_t comp_bytes;
	uint64_t bytes;
};
/*
 * Describes data chunk i (the dict is described by the info). Returns 0, or
 * -EINVAL when h or out is NULL or i >= n_chunks (out is then zeroed, if given).
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_get_chunk(const zckup_header *h, size_t i,
						       struct zckup_chunk_info *out);
/* Writes h as a detached header ("\0ZHR1") to path, atomically. */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_write_detached(zckup_ctx *ctx,
							     const zckup_header *h,
							     const char *path);

/* ---- trust: signatures, anti-rollback ------------------------------------ */

/*
 * What is signed (README "Security"): the header's bytes in either file
 * form, as at the start of a .zck (magic "\0ZCK1", what zckup_header_sign()
 * signs) or as the detached .zckh (magic "\0ZHR1"), whichever form h was read
 * from, preceded, when there is signed metadata, by the metadata's bytes. The metadata ("zckup-metadata=1" lines) names the header's
 * checksum and size, a version, an optional expiry and an optional hardware
 * string.
 */
enum zckup_sig_kind {
	ZCKUP_SIG_NONE,
	ZCKUP_SIG_ED25519,           /* raw Ed25519 (64 bytes) */
	ZCKUP_SIG_ECDSA_P256,        /* raw ECDSA P-256 with SHA-256, DER (openssl dgst) */
	ZCKUP_SIG_RSA_PKCS1,         /* raw RSA PKCS#1 v1.5 with SHA-256 */
	ZCKUP_SIG_RSA_PSS,           /* raw RSA-PSS with SHA-256, MGF1-SHA-256 */
	ZCKUP_SIG_CMS,               /* CMS (PKCS#7) SignedData, detached, DER or PEM */
};

/* Purpose the CMS signer's certificate must have (the chain is always checked). */
enum zckup_cert_purpose {
	ZCKUP_PURPOSE_SMIME_SIGN,    /* default: as `openssl cms -verify` (key usage
					digitalSignature/nonRepudiation, extended key usage
					emailProtection when the certificate has one) */
	ZCKUP_PURPOSE_CODE_SIGN,     /* extended key usage codeSigning required */
	ZCKUP_PURPOSE_ANY,           /* no purpose or key-usage check */
};

/*
 * Where the signature and metadata come from: a location (a path, file://PATH,
 * http:// or https://, read through the ctx's network settings, at most 64 KiB
 * and 1 KiB), or the bytes themselves (*_data, which win). Strings and bytes
 * are borrowed for the call.
 */
struct zckup_trust_opts {
	const char *pubkey;          /* PEM public key: raw signatures */
	const char *ca_file;         /* PEM CA bundle: CMS signatures; exactly one of the two */
	enum zckup_cert_purpose purpose;
	const char *signature;       /* location of the detached signature */
	const void *signature_data;
	size_t signature_bytes;
	const char *metadata;        /* location of the signed metadata; NULL: none */
	const void *metadata_data;
	size_t metadata_bytes;
	const char *min_version;     /* refuse metadata whose version is lower (see
					zckup_version_compare()); requires metadata */
	const char *hw_compat;       /* the device's hardware string: the metadata must
					name exactly this one; requires metadata */
	int64_t now;                 /* seconds since 1970 for expiry and certificate
					validity; 0 = the system clock */
};

#define ZCKUP_TRUST_VERSION_MAX 64
#define ZCKUP_TRUST_HW_MAX 128

/* What a successful verification established. */
struct zckup_trust_info {
	enum zckup_sig_kind kind;
	char signer[256];            /* CMS: subject of the signer certificate; else "" */
	int has_metadata;
	char version[ZCKUP_TRUST_VERSION_MAX + 1];   /* "" without metadata */
	int has_expires;
	int64_t expires;             /* seconds since 1970, UTC */
	char hw_compat[ZCKUP_TRUST_HW_MAX + 1];      /* "" when the metadata names none */
};

/*
 * Authenticates h: the signature must verify over the signed bytes with the
 * public key (Ed25519, ECDSA P-256, RSA of 2048 bits or more, PKCS#1 v1.5 or
 * PSS) or as a CMS signature whose signer chains up to a certificate of the
 * CA file (intermediates taken from the signature) with the purpose asked
 * for. With metadata, it must name h's checksum and size, not be expired,
 * carry a version not below min_version, and name hw_compat when the device
 * or the metadata gives one. Reads nothing but the key or CA file, the
 * signature and the metadata. On success fills *out (may be NULL).
 * Returns 0; -EKEYREJECTED when any of this fails, a signature is not
 * given or does not exist (no such file, 404), or signature or metadata are
 * malformed or too large; -EINVAL for bad options or an unusable key or CA
 * file; system codes when a file or URL cannot be read.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_verify(zckup_ctx *ctx, const zckup_header *h,
						     const struct zckup_trust_opts *o,
						     struct zckup_trust_info *out);

struct zckup_sign_opts {
	const char *key;             /* PEM private key (unencrypted) */
	const char *cert;            /* its certificate: write a CMS signature (DER) */
	const char *chain;           /* PEM certificates to include in the CMS (intermediates) */
	int rsa_pss;                 /* raw RSA: PSS (salt length 32), not PKCS#1 v1.5 */
	const char *version;         /* with a version, metadata is written and signed too */
	int64_t expires;             /* metadata expiry, seconds since 1970; 0 = none */
	const char *hw_compat;       /* metadata hardware string; NULL = none */
	const char *signature_out;   /* the signature file, written atomically */
	const char *metadata_out;    /* the metadata file (needed with a version) */
};

/*
 * Signs h as described above and writes the signature (and the metadata)
 * atomically. On success fills *out (may be NULL) with what was signed.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_header_sign(zckup_ctx *ctx, const zckup_header *h,
						   const struct zckup_sign_opts *o,
						   struct zckup_trust_info *out);

/*
 * Compares versions of the metadata format: 1 to 16 dot-separated decimal
 * numbers without leading zeros, compared number by number, a missing number
 * counting as 0 ("1.2" == "1.2.0" < "1.10"). *out is <0, 0 or >0.
 * Returns 0, or -EINVAL when a or b is not such a version.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_version_compare(const char *a, const char *b, int *out);

/* ---- make ---------------------------------------------------------------- */

struct zckup_make_opts {
	const char *image;       /* input image path */
	const char *output;      /* .zck to write (atomically) */
	const char *header_out;  /* optional detached header to write too */
	int level;               /* zstd level; 0 = default (ZCKUP_MAKE_DEFAULT_LEVEL) */
	int threads;             /* compression threads; 0 = online CPUs */
	/*
	 * ZCKUP_PROFILE_COMPAT (0): one zstd frame per chunk, as zck writes.
	 * ZCKUP_PROFILE_FINE: the same chunks (same digests of the uncompressed
	 * chunks), each stored as a piece table in a zstd skippable frame then one
	 * zstd frame per 4 KiB-aligned piece; still one valid zstd stream per
	 * chunk, so zck, unzck and SWUpdate read it as usual, and a header
	 * element lets zckup fetch only the pieces a device lacks (README).
	 * `zckup make` picks FINE unless a dictionary is asked for; 0 stays
	 * COMPAT here so that zeroed options keep meaning what they always did.
	 */
	int profile;
	/*
	 * zstd dictionary, stored as zchunk's dictionary chunk (index entry 0,
	 * first in the body) and used for every chunk: NULL or "none" for none,
	 * "auto" to train one on the image's own chunks (the image must then be
	 * a regular file or block device: it is read twice), anything else is
	 * the path of a dictionary file, used as is ("./auto" for a file named
	 * auto). Devices fetch it once per update that fetches any chunk.
	 */
	const char *dict;
	size_t dict_size;        /* "auto": dictionary bytes, 1 KiB..1 MiB; 0 = default (256 KiB) */
	/* "auto": sample bytes trained on at most (about the training's memory); 0 = 64 MiB. */
	size_t dict_samples;
};
#define ZCKUP_MAKE_DEFAULT_LEVEL 19
#define ZCKUP_PROFILE_COMPAT 0
#define ZCKUP_PROFILE_FINE 1

struct zckup_make_stats {
	uint64_t image_bytes;
	uint64_t zck_bytes;
	uint64_t header_bytes;
	size_t n_chunks;
	uint8_t image_digest[ZCKUP_DIGEST_LEN];
	uint8_t header_digest[ZCKUP_DIGEST_LEN];
	uint64_t dict_bytes;      /* 0: no dictionary */
	uint64_t dict_comp_bytes; /* what a device fetches for it (once) */
	size_t dict_samples;      /* "auto": chunks it was trained on */
	/* "auto": what the dictionary saves the whole .zck, estimated on samples (0: none). */
	uint64_t dict_saved_estimate;
	/* "auto" that wrote no dictionary: why (static text, never freed); else NULL. */
	const char *dict_skipped;
};
/*
 * Builds o->output from o->image. Returns 0, or -EINVAL (bad options, an
 * unusable --dict), -EBADMSG (a dictionary file zstd refuses), -EOVERFLOW (a
 * header or chunk beyond the limits apply enforces), -EIO, -ENOMEM, -ECANCELED.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_make(zckup_ctx *ctx, const struct zckup_make_opts *o,
					    struct zckup_make_stats *out);

/* ---- plan ---------------------------------------------------------------- */

struct zckup_source {
	const char *path;    /* file or block device */
	uint64_t size;       /* index only this many bytes; 0 = the whole source */
	/*
	 * The header (.zckh or .zck) of the image the source holds, e.g. the one
	 * saved by zckup_apply_opts.save_index when it was installed; borrowed,
	 * must outlive the call. NULL: the source is indexed by reading it (the
	 * zchunk chunker over all of it). With an index the source is not read to
	 * plan: each chunk of the new image whose uncompressed digest the index
	 * has is taken to be at that chunk's image offset (if it ends within
	 * size). The index need not be authenticated: zckup_plan_new() reports
	 * those places unchecked; zckup_apply() verifies each of them (as it
	 * reads it for the image onto a raw target or an atomic output, starting
	 * over with all of them checked first if one is stale; else before it
	 * plans), and a place that does not hold its chunk (the
	 * source was modified since, or the index is another image's) has the
	 * chunk fetched instead (zckup_apply_stats.n_stale_index), never an error
	 * and never a wrong output. Open it with zckup_header_open(), which
	 * checks its structure, checksum and limits (and an optional pin).
	 */
	const zckup_header *index;
};

struct zckup_plan_opts {
	const struct zckup_source *sources;
	size_t n_sources;
	size_t max_ranges;   /* ranges per request; 0 = 150 */
	const char *target;  /* optional raw target: chunks it already holds at their
				place count as in place (see zckup_apply_opts) */
	uint64_t target_offset;
	/*
	 * Optional: where the .zck is (as zckup_apply_opts.url). With a header
	 * of the fine profile, the plan then fetches the piece tables of the
	 * missing chunks and reads the sources for their pieces, to report what
	 * apply would fetch (zckup_plan_stats.fine*). NULL: coarse figures only.
	 */
	const char *url;
	int no_fine;         /* 1: plan as for a compat .zck */
};

typedef struct zckup_plan zckup_plan;

/*
 * Indexes the sources with the zchunk chunker and decides for each chunk of h
 * whether a source holds it (SEED) or it must be fetched (NET). h must outlive
 * the plan. Returns a new plan in *out; free with zckup_plan_free().
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_plan_new(zckup_ctx *ctx, const zckup_header *h,
						const struct zckup_plan_opts *o,
						zckup_plan **out);
ZCKUP_API void zckup_plan_free(zckup_plan *p);

struct zckup_plan_stats {
	size_t n_chunks;
	size_t n_seed;               /* chunks found in a source */
	size_t n_net;                /* chunks to fetch */
	uint64_t seed_bytes;         /* uncompressed bytes reused */
	uint64_t net_bytes;          /* uncompressed bytes of the chunks to fetch */
	uint64_t net_comp_bytes;     /* compressed bytes of the chunks to fetch */
	uint64_t fetch_bytes;        /* bytes the ranges cover (gaps and dict included) */
	size_t n_ranges;             /* byte ranges after coalescing */
	size_t n_requests;           /* requests of at most max_ranges ranges, if the server
					serves that many ranges per request */
	uint64_t source_bytes;       /* bytes of the sources indexed */
	size_t n_in_place;           /* chunks the target already holds */
	uint64_t in_place_bytes;
	uint64_t wire_bytes_estimate; /* fetch_bytes plus HTTP framing, estimated */
	size_t n_index_located;      /* of n_seed: located through a source's index header,
					unchecked (source_bytes counts no byte for them) */
	/*
	 * Fine profile, when zckup_plan_opts.url was given and the header has the
	 * fine layout: the piece tables of the missing chunks were fetched (those
	 * bytes are fine_table_bytes) and the sources read for their pieces.
	 * fine_fetch_bytes is what apply would read from the .zck (tables, then
	 * frames of the pieces no source holds, gaps included), to compare with
	 * fetch_bytes.
	 */
	int fine;
	uint64_t fine_fetch_bytes;
	uint64_t fine_table_bytes;
	size_t n_pieces;
	size_t n_pieces_reused;
	uint64_t pieces_reused_bytes;
	size_t n_pieces_fetched;
	uint64_t pieces_frame_bytes;
	size_t n_fine_ranges;
};
ZCKUP_API void zckup_plan_get_stats(const zckup_plan *p, struct zckup_plan_stats *out);

enum zckup_origin {
	ZCKUP_FROM_FETCH,            /* read from the .zck */
	ZCKUP_FROM_SOURCE,           /* copied from a source */
	ZCKUP_FROM_TARGET,           /* already in place in the target: not written */
};

/*
 * Where chunk i comes from. By origin:
 *   ZCKUP_FROM_SOURCE  source = index into opts.sources, source_offset = where
 *                      the chunk starts in that source;
 *   ZCKUP_FROM_TARGET  source = 0, source_offset = where it already is in the
 *                      target (target_offset + the chunk's image offset);
 *   ZCKUP_FROM_FETCH   source = 0, source_offset = 0 (the .zck offset is the
 *                      chunk's file_offset, zckup_header_get_chunk()).
 * No sentinel values: origin says which case it is.
 */
struct zckup_plan_chunk {
	int from_source;             /* 1 = ZCKUP_FROM_SOURCE, else 0 */
	size_t source;
	uint64_t source_offset;
	enum zckup_origin origin;
};
/* Returns 0, or -EINVAL when p or out is NULL or i is not a chunk (out zeroed, if given). */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_plan_get_chunk(const zckup_plan *p, size_t i,
						     struct zckup_plan_chunk *out);

/* ---- apply --------------------------------------------------------------- */

/*
 * A custom destination for the image ("chain handler"), for integrators: a
 * UBI volume, a socket, a decrypting layer... Bytes come strictly in image
 * order, without gaps, each range verified before it is passed on.
 * Return 0 or a negative errno; zckup reports the failure with its message.
 */
struct zckup_sink_ops {
	int (*write)(void *user, uint64_t off, const void *p, size_t n);
	/* The whole image was written and verified (size bytes): make it durable. */
	int (*commit)(void *user, uint64_t size);
	/* The update failed: undo what can be undone. May be NULL. */
	void (*abort)(void *user);
};

/*
 * Called for each chunk once it is verified and passed on, in image order.
 * source and offset as in struct zckup_plan_chunk for that origin: the source
 * index and offset in it (ZCKUP_FROM_SOURCE), 0 and the offset in the target
 * (ZCKUP_FROM_TARGET), 0 and 0 (ZCKUP_FROM_FETCH).
 */
typedef void (*zckup_chunk_fn)(void *user, size_t index, enum zckup_origin origin,
			       size_t source, uint64_t offset);

struct zckup_apply_opts {
	const zckup_header *header;  /* authenticated header of the new image */
	const char *url;             /* where the .zck is: http://, https://, file://PATH or
					a path; checked to hold this header before use */
	const struct zckup_source *sources;
	size_t n_sources;
	size_t max_ranges;           /* 0 = 150 */
	/* The destination: exactly one of target, output, exec, use_fd, sink. */
	const char *target;          /* raw: block device or file, written in place */
	uint64_t target_offset;      /* raw: the image starts here */
	int no_in_place;             /* raw: rewrite every chunk, even those already there */
	const char *output;          /* a file replaced atomically */
	const char *exec;            /* a shell command that reads the image on its stdin */
	int use_fd;                  /* 1: stream the image to fd (e.g. STDOUT_FILENO) */
	int fd;
	const struct zckup_sink_ops *sink; /* custom sink, with sink_user */
	void *sink_user;
	zckup_chunk_fn on_chunk;     /* optional */
	void *chunk_user;
	/*
	 * Optional: after the image is committed, o->header is written here as a
	 * detached header (atomically), to be given as the index of the source
	 * that now holds this image at the next update (zckup_source.index).
	 * When that write fails, zckup_apply() fails (the image stays written).
	 */
	const char *save_index;
	/* 1: fetch missing chunks whole even when the header has the fine layout. */
	int no_fine;
};

enum zckup_fetch_mode {
	ZCKUP_FETCH_NONE,            /* nothing was fetched */
	ZCKUP_FETCH_FILE,            /* from a local file */
	ZCKUP_FETCH_MULTI_RANGE,     /* several ranges per request (multipart answers) */
	ZCKUP_FETCH_SINGLE_RANGE,    /* one range per request: the server serves no more */
	ZCKUP_FETCH_WHOLE_FILE,      /* the server ignores Range: the file was streamed */
};

struct zckup_apply_stats {
	uint64_t image_bytes;
	uint64_t seed_bytes;         /* uncompressed bytes reused from sources */
	uint64_t net_bytes;          /* uncompressed bytes of fetched chunks */
	uint64_t fetched_bytes;      /* bytes read from the .zck (what the wire would carry) */
	uint64_t in_place_bytes;     /* bytes the target already held: checked, not written */
	uint64_t written_bytes;      /* bytes written to the destination */
	size_t n_seed;
	size_t n_net;
	size_t n_in_place;
	size_t n_requests;           /* HTTP requests (header reads included) or file batches */
	size_t n_ranges;
	double seconds;
	uint64_t wire_bytes;         /* HTTP: response headers and bodies received */
	uint64_t sent_bytes;         /* HTTP: request bytes sent */
	size_t n_retries;            /* transfers asked again after a failure */
	size_t n_stepdowns;          /* times the server made zckup ask fewer ranges */
	enum zckup_fetch_mode fetch_mode;
	unsigned http_version;       /* 10, 11, 20; 0 when nothing was fetched over HTTP */
	/*
	 * What was verified: every chunk always (against the header's SHA-256
	 * digests, the header by its checksum); the whole image too only when
	 * the header carries zckup's image digest (1: it did and it matched;
	 * 0: the header has none, e.g. made by zck).
	 */
	int image_digest_checked;
	/*
	 * Sources with an index header (zckup_source.index): chunks located by
	 * it and checked before planning, and those of them that were not at the
	 * claimed place (stale index, modified source) and were fetched instead.
	 */
	size_t n_index_located;
	size_t n_stale_index;
	uint64_t stale_index_bytes;
	/*
	 * Fine profile (a header made by zckup make --profile fine): the missing
	 * chunks were rebuilt from pieces. fine = 1 when that path was taken.
	 * Pieces found in a source and reused, pieces whose zstd frames were
	 * fetched, the piece tables' bytes, and the chunks whose rebuild did not
	 * match the header's digest (or whose table was malformed) and were
	 * fetched whole instead. fetched_bytes counts all of it.
	 */
	int fine;
	size_t n_pieces_reused;
	uint64_t pieces_reused_bytes;
	size_t n_pieces_fetched;
	uint64_t pieces_fetched_bytes;   /* uncompressed */
	uint64_t piece_table_bytes;
	size_t n_fine_fallback;
	size_t n_bad_piece_tables;
};

/*
 * Writes the image described by o->header to the destination. Every chunk is
 * checked against its digest before it is passed on; when the header carries
 * zckup's whole-image digest, that is checked before commit. A raw target is
 * first read to find chunks already at their place (resume after an
 * interruption, fewer writes onto a slot that holds most of the image); those
 * are neither fetched nor rewritten. On failure the destination is aborted:
 * an atomic output is left untouched, a command is killed.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_apply(zckup_ctx *ctx, const struct zckup_apply_opts *o,
					     struct zckup_apply_stats *out);

/* ---- verify -------------------------------------------------------------- */

struct zckup_verify_opts {
	const char *path; /* the installed image: a file or block device */
	/*
	 * Nonzero: path is a slot that may be larger than the image; the bytes
	 * after the image are not checked (a block device always counts as a
	 * slot). Zero: a regular file must be exactly the image's size.
	 */
	int slot;
};

struct zckup_verify_stats {
	uint64_t image_bytes;       /* the header's image size */
	uint64_t path_bytes;        /* size of path */
	uint64_t read_bytes;        /* bytes read and hashed */
	size_t n_chunks;            /* data chunks of the header */
	size_t n_bad_chunks;        /* chunks that differ, or that path does not hold whole */
	size_t first_bad_chunk;     /* index of the first of them (n_chunks when none) */
	uint64_t first_bad_offset;  /* its image offset (image_bytes when none) */
	int size_ok;                /* path's size fits: equal, or at least (a slot) */
	int image_digest_checked;   /* the header has zckup's image digest and it was compared */
	int image_digest_ok;
};

/*
 * Tells whether o->path holds exactly the image h describes: reads it once,
 * in order, and compares every chunk with its uncompressed SHA-256 and, when
 * h carries zckup's whole-image digest, the whole image with it. Every chunk
 * is read even after a mismatch, so that *out counts them all. Returns 0
 * when it is the image; -EILSEQ when it is not (a chunk or the image digest
 * differs, path is shorter than the image or, unless a slot, longer), with
 * the first difference in zckup_errmsg(); -EINVAL for bad arguments; a
 * system error (-ENOENT, -EIO...) when path cannot be read; -ECANCELED after
 * zckup_cancel(). *out (may be NULL) is filled in every case but -EINVAL.
 * Progress is reported in phase ZCKUP_PHASE_CHECK.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_verify(zckup_ctx *ctx, const zckup_header *h,
					      const struct zckup_verify_opts *o,
					      struct zckup_verify_stats *out);

/*
 * Size of the ext2/3/4 or squashfs filesystem at the start of path (a
 * partition or file), for zckup_source.size: a filesystem inside a larger
 * partition is indexed only as far as it reaches. -EBADMSG when none is found
 * or the filesystem claims more bytes than path has.
 */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_detect_fs_size(zckup_ctx *ctx, const char *path,
						      uint64_t *out_size);

/* ---- explain ------------------------------------------------------------- */

/*
 * What a device holding old_image fetches for the image a header describes,
 * attributed to what those bytes are: the files of new_image (the image the
 * .zck was made from, read with the reader of its file system: ext2/3/4,
 * squashfs, tar; any other image by offset ranges), its file-system
 * metadata and free space. The plan is zckup_plan_new()'s with old_image as
 * the one source (and url for a fine .zck's piece tables), so the totals are
 * plan's to the byte: fetch_bytes equals zckup_plan_stats.fine_fetch_bytes
 * for a fine plan, else fetch_bytes. A file system that cannot be read (a
 * truncated or corrupt image) is a warning on the log: its bytes are then
 * attributed by offset ranges. Strings are borrowed for the call.
 */
struct zckup_explain_opts {
	const char *old_image;       /* what the device holds */
	const char *new_image;       /* the image header describes (its size, and its SHA-256
					when the header has the image digest, are checked) */
	const zckup_header *header;  /* of the .zck made from new_image */
	const char *url;             /* the .zck: fine piece tables are read from it; NULL: none */
	int no_fine;                 /* 1: plan as for a compat .zck */
	size_t map_cells;            /* cells of the image map; 0 = 1024 */
};

enum zckup_explain_class {
	ZCKUP_EXPLAIN_UNCHANGED,     /* nothing fetched for it */
	ZCKUP_EXPLAIN_NEW,           /* a file the old image does not have */
	ZCKUP_EXPLAIN_CHANGED,       /* a file whose size or content changed */
	ZCKUP_EXPLAIN_MOVED,         /* same content as in the old image, cut into chunks anew */
	ZCKUP_EXPLAIN_METADATA,      /* file-system metadata (superblock, tables, directories...) */
	ZCKUP_EXPLAIN_FREE,          /* free space */
	ZCKUP_EXPLAIN_OTHER,         /* anything else, named by its offsets */
};
/*
 * The file systems explain reads file by file in this build, space-separated:
 * "ext4 squashfs tar" with libext2fs and libsquashfs found at build time,
 * fewer without them (those images are then explained by offset ranges);
 * "" in a library built without explain (-Dexplain=disabled), whose
 * zckup_explain_new() fails with -ENOTSUP.
 */
ZCKUP_API const char *zckup_explain_readers(void);
/* "unchanged", "new", "changed", "moved", "metadata", "free", "other". */
ZCKUP_API const char *zckup_explain_class_name(enum zckup_explain_class c);

typedef struct zckup_explain zckup_explain;
/* Returns a new explanation in *out; free with zckup_explain_free(). */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_explain_new(zckup_ctx *ctx,
						   const struct zckup_explain_opts *o,
						   zckup_explain **out);
ZCKUP_API void zckup_explain_free(zckup_explain *e);

struct zckup_explain_totals {
	uint64_t image_bytes;
	uint64_t reused_bytes;       /* uncompressed bytes taken from old_image */
	uint64_t fetch_bytes;        /* bytes read from the .zck: the sum over all files */
	uint64_t plan_fetch_bytes;   /* plan's figure (equal to fetch_bytes) */
	int fine;                    /* the plan fetched pieces (fine profile) */
	const char *fs_type;         /* new image: "ext4", "squashfs", "tar" or "none" (static) */
	const char *old_fs_type;     /* old image, the same way */
	size_t n_files, n_dirs, n_cells;
	int has_dpkg;                /* both images carry a dpkg database (/var/lib/dpkg/status) */
	size_t n_dpkg;               /* files listed by zckup_explain_get_dpkg() */
};
ZCKUP_API void zckup_explain_get_totals(const zckup_explain *e, struct zckup_explain_totals *out);

/*
 * A file (or a pseudo-file: "[ext4 inode tables]", "[offsets 0x..-0x..]") or a
 * directory ("/usr/lib", the sums of everything under it; "[free space]" and
 * the other groups of pseudo-files). Paths are borrowed, valid until
 * zckup_explain_free().
 */
struct zckup_explain_entry {
	const char *path;
	uint64_t bytes;              /* file size (directories: of the files under it) */
	uint64_t image_bytes;        /* bytes of the image it occupies */
	uint64_t reused_bytes;       /* of those, reused from the old image */
	uint64_t fetch_bytes;        /* .zck bytes fetched for it */
	enum zckup_explain_class cls;
	size_t n_files;              /* directories: entries under it; files: 0 */
};
/* Entry i, most bytes fetched first. 0, or -EINVAL when i is out of range (out zeroed). */
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_explain_get_file(const zckup_explain *e, size_t i,
						       struct zckup_explain_entry *out);
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_explain_get_dir(const zckup_explain *e, size_t i,
						      struct zckup_explain_entry *out);

/* One cell of the image map: a run of the image in offset order. */
struct zckup_explain_cell {
	uint64_t image_offset, bytes;
	uint64_t reused_bytes;       /* reused from the old image */
	uint64_t fetched_image_bytes; /* image bytes fetched (the rest of bytes) */
	uint64_t fetch_bytes;        /* .zck bytes fetched for them */
	const char *top_path;        /* the costliest file there (borrowed), "" when none */
};
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_explain_get_cell(const zckup_explain *e, size_t i,
						       struct zckup_explain_cell *out);

/*
 * A file of the new image that changed (other size or content than in the
 * old image) although the Debian package owning it (info/PKG.list) has the
 * same version in both dpkg status files: the usual sign of a build that is
 * not reproducible. Strings borrowed, valid until zckup_explain_free().
 */
struct zckup_explain_dpkg {
	const char *path, *package, *version;
	uint64_t fetch_bytes;
};
ZCKUP_API ZCKUP_WARN_UNUSED int zckup_explain_get_dpkg(const zckup_explain *e, size_t i,
						       struct zckup_explain_dpkg *out);

ZCKUP_API const char *zckup_version(void);

#ifdef __cplusplus
}
#endif
#endif /* ZCKUP_H */
