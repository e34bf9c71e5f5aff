/* SPDX-License-Identifier: MIT */
/*
 * levers - what a device would fetch to go from OLD to NEW under variants of the chunking and
 * of the per-chunk zstd parameters (issue 10, item 4). Measurement only: it shares the chunker
 * with src/lib but writes no .zck. Not a test and not built by meson; bench/levers.sh builds
 * it by hand, e.g. from the repository root:
 *   cc -O2 -std=c11 -pthread -Isrc/lib -o /tmp/levers bench/levers.c \
 *      src/lib/chunker.c src/lib/chunker_table.c -lzstd -lcrypto
 *   /tmp/levers [-q] [-j THREADS] [-p NAME] [-t TSV] OLD NEW
 * -q leaves out the slow row (level 22 with maxed search: ~6 minutes a 512 MiB ext4 pair).
 *
 * For each variant: cut both images, hash every chunk (SHA-256 of the uncompressed bytes),
 * and compress only the distinct new chunks the old image's chunks do not hold ("missing";
 * a chunk repeated in NEW is fetched once). payload = sum of their compressed sizes. The
 * header estimate is the index entries alone (the lead and fixed fields are the same for every
 * variant): per chunk two 32-byte digests + the cints of the compressed and uncompressed
 * lengths. Compressed lengths of chunks that are not missing are not known without compressing
 * the whole image at level 19, so their cint length is taken from a zstd level-1 compression
 * (cint lengths change only at 2^14 and 2^21, so the proxy is off by at most one byte an entry).
 * Every compressed frame is decoded back with ZSTD_decompressDCtx into a buffer of the
 * chunk's length (what libzck's end_dchunk and zckup's decomp.c do) and compared.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format for the magicless row (information only) */
#include "config.h"

#include "chunker.h"
#include "chunker_table.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define DIG 32
#define W ZU_CHUNKER_WINDOW

/* How images are cut. kind ZCK uses zu_chunker_scan (zchunk's exact cuts); GEN is a plain
 * buzhash with the same table, a mask of `bits` bits, and min/max, for sizes zchunk cannot do. */
enum cut_kind { CUT_ZCK, CUT_GEN };
struct cut {
	enum cut_kind kind;
	unsigned bits;   /* GEN: match bits */
	size_t min, max; /* GEN: chunk limits (ZCK: 8 KiB..128 KiB, fixed) */
	size_t align;    /* 0, or round each cut up to a multiple of this image offset */
};

struct zparm {
	int level;
	int strategy;    /* 0: the level's */
	int wlog;        /* 0: the level's */
	int max_search;  /* searchLog, chainLog, hashLog, targetLength at their upper bounds */
	int csize;       /* ZSTD_c_contentSizeFlag (zckup make sets 1) */
	int checksum;    /* ZSTD_c_checksumFlag (zckup make sets 0) */
	int dictid;      /* ZSTD_c_dictIDFlag (no effect without a dictionary) */
	int magicless;   /* ZSTD_f_zstd1_magicless: not decodable by zck/zckup, information */
};

struct variant {
	const char *name;
	const struct cut *cut;
	struct zparm z;
	int slow;    /* minutes a 512 MiB pair: left out by -q */
	int repeats; /* a missing chunk that NEW holds k times is fetched k times */
};

static const struct cut cut_zck = { CUT_ZCK, 15, 8192, 131072, 0 };
static const struct cut cut_zck_a4k = { CUT_ZCK, 15, 8192, 131072, 4096 };
static const struct cut cut_g15 = { CUT_GEN, 15, 8192, 131072, 0 };
static const struct cut cut_g14 = { CUT_GEN, 14, 4096, 131072, 0 };
static const struct cut cut_g13 = { CUT_GEN, 13, 2048, 131072, 0 };
static const struct cut cut_g12 = { CUT_GEN, 12, 1024, 131072, 0 };
static const struct cut cut_g14_a4k = { CUT_GEN, 14, 4096, 131072, 4096 };
static const struct cut cut_g13_a4k = { CUT_GEN, 13, 2048, 131072, 4096 };

/* What zckup make sets (make.c), and zstd's default dictID flag, which it leaves alone. */
#define ZDEF .level = 19, .csize = 1, .dictid = 1
#define ROW(name, cut, ...) { name, cut, { __VA_ARGS__ }, 0, 0 }
static const struct variant variants[] = {
	ROW("1 baseline l19", &cut_zck, ZDEF),
	/* What zckup plan fetches today: it has no target-to-target copy for NET chunks. */
	{ "1r baseline, repeats refetched", &cut_zck, { ZDEF }, 0, 1 },
	ROW("2 l19 btultra2", &cut_zck, ZDEF, .strategy = ZSTD_btultra2),
	ROW("3a l19 wlog17", &cut_zck, ZDEF, .wlog = 17),
	ROW("3b l19 wlog23", &cut_zck, ZDEF, .wlog = 23),
	{ "4 l22 search max", &cut_zck, { .level = 22, .csize = 1, .max_search = 1 }, 1, 0 },
	ROW("5a no content size", &cut_zck, .level = 19, .csize = 0, .dictid = 1),
	ROW("5b checksum off/dictID off", &cut_zck, .level = 19, .csize = 1, .checksum = 0),
	ROW("5c magicless (info)", &cut_zck, ZDEF, .magicless = 1),
	ROW("6 zck cuts + 4K align", &cut_zck_a4k, ZDEF),
	ROW("7a gen 15b/8K (control)", &cut_g15, ZDEF),
	ROW("7b gen 14b/4K (~1/2)", &cut_g14, ZDEF),
	ROW("7c gen 13b/2K (~1/4)", &cut_g13, ZDEF),
	ROW("7d gen 12b/1K (~1/8)", &cut_g12, ZDEF),
	ROW("7e gen 14b/4K + 4K align", &cut_g14_a4k, ZDEF),
	ROW("7f gen 13b/2K + 4K align", &cut_g13_a4k, ZDEF),
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

struct chunk {
	uint64_t off;
	uint32_t len;
	uint32_t idx; /* position in the image's chunk list (kept through sorting) */
	uint8_t dig[DIG];
};

struct layout {
	const struct cut *cut;
	struct chunk *oldc, *newc; /* oldc sorted by digest; newc in image order */
	size_t n_old, n_new;
	uint32_t *miss; /* indexes into newc of the missing distinct chunks */
	size_t n_miss;
	uint64_t miss_bytes;
	uint32_t *dist;    /* per new chunk: its distinct chunk's number */
	int32_t *miss_pos; /* per distinct chunk: its place in miss, or -1 */
	uint64_t *l1len;   /* per distinct chunk: level-1 compressed size (header proxy) */
};

static void die(const char *what)
{
	fprintf(stderr, "levers: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		die("calloc");
	return p;
}

static unsigned cint_len(uint64_t v)
{
	unsigned n = 1;

	while (v >= 128) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint32_t rol32(uint32_t v, unsigned s)
{
	s &= 31;
	return (v << s) | (v >> ((32 - s) & 31));
}

/* Length of the next GEN chunk of p[0..n); a rolling hash, so cuts depend only on content. */
static size_t gen_cut(const struct cut *c, const uint8_t *p, size_t n)
{
	const uint32_t mask = (1u << c->bits) - 1;
	size_t lim = n < c->max ? n : c->max;
	uint32_t h = 0;

	if (lim <= c->min)
		return lim;
	for (size_t i = c->min - W; i < c->min; i++)
		h = rol32(h, 1) ^ zu_buzhash_table[p[i]];
	for (size_t i = c->min; i < lim; i++) {
		h = rol32(h, 1) ^ zu_buzhash_out_table[p[i - W]] ^ zu_buzhash_table[p[i]];
		if ((h & mask) == 0)
			return i; /* the hit byte starts the next chunk, as in zchunk */
	}
	return lim;
}

static size_t next_cut(const struct cut *c, const uint8_t *p, size_t n)
{
	size_t k;

	if (c->kind == CUT_GEN) {
		k = gen_cut(c, p, n);
	} else {
		struct zu_chunker ch;

		zu_chunker_init(&ch);
		k = zu_chunker_scan(&ch, p, n);
		if (k == ZU_CHUNKER_NO_CUT)
			k = n;
	}
	/* Alignment: the offset of p is a multiple of align (cuts start there), so rounding the
	 * length rounds the image offset; the chunker restarts at the moved cut. */
	if (c->align && k % c->align) {
		k += c->align - k % c->align;
		if (k > c->max)
			k = c->max;
		if (k > n)
			k = n;
	}
	return k;
}

static int cmp_dig(const void *a, const void *b)
{
	return memcmp(((const struct chunk *)a)->dig, ((const struct chunk *)b)->dig, DIG);
}

static struct chunk *cut_image(const struct cut *c, const uint8_t *p, size_t n, size_t *out_n)
{
	size_t cap = n / 1024 + 16, cnt = 0;
	struct chunk *v = xcalloc(cap, sizeof(*v));

	for (size_t off = 0; off < n;) {
		size_t k = next_cut(c, p + off, n - off);

		if (cnt == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				die("realloc");
		}
		v[cnt].off = off;
		v[cnt].len = (uint32_t)k;
		v[cnt].idx = (uint32_t)cnt;
		cnt++;
		off += k;
	}
	*out_n = cnt;
	return v;
}

/* ---- a tiny parallel-for: SHA-256 of chunks, or zstd of chunks -------------------------- */

enum job_kind { JOB_SHA, JOB_ZSTD };
struct job {
	enum job_kind kind;
	const uint8_t *img;
	struct chunk *chunks;
	const uint32_t *sel; /* NULL: all chunks */
	size_t n;
	const struct zparm *z;
	uint64_t *out_len; /* JOB_ZSTD: compressed length per selected chunk */
	size_t next;
	pthread_mutex_t lock;
};

static void set_z(ZSTD_CCtx *cc, const struct zparm *z)
{
	size_t r = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, z->level);
	const ZSTD_cParameter maxed[] = { ZSTD_c_searchLog, ZSTD_c_chainLog, ZSTD_c_hashLog,
					  ZSTD_c_targetLength };

	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, z->csize);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, z->checksum);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, z->dictid);
	if (!ZSTD_isError(r) && z->strategy)
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_strategy, z->strategy);
	if (!ZSTD_isError(r) && z->wlog)
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, z->wlog);
	if (!ZSTD_isError(r) && z->magicless)
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_format, ZSTD_f_zstd1_magicless);
	/* zstd shrinks window, hash and chain logs to the source size afterwards
	 * (ZSTD_adjustCParams), so the upper bounds cost no memory on <= 128 KiB chunks. */
	for (size_t i = 0; z->max_search && i < sizeof(maxed) / sizeof(maxed[0]); i++)
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(cc, maxed[i], ZSTD_cParam_getBounds(maxed[i]).upperBound);
	if (ZSTD_isError(r)) {
		fprintf(stderr, "levers: zstd parameter: %s\n", ZSTD_getErrorName(r));
		exit(1);
	}
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	size_t cap = ZSTD_compressBound(256 * 1024);
	uint8_t *cbuf = NULL, *dbuf = NULL;
	ZSTD_CCtx *cc = NULL;
	ZSTD_DCtx *dc = NULL;

	if (j->kind == JOB_ZSTD) {
		cbuf = xcalloc(cap, 1);
		dbuf = xcalloc(256 * 1024, 1);
		cc = ZSTD_createCCtx();
		dc = ZSTD_createDCtx();
		if (!cc || !dc)
			die("zstd context");
		set_z(cc, j->z);
		if (j->z->magicless)
			ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
	}
	for (;;) {
		size_t i;
		struct chunk *c;

		pthread_mutex_lock(&j->lock);
		i = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n)
			break;
		c = &j->chunks[j->sel ? j->sel[i] : i];
		if (j->kind == JOB_SHA) {
			if (!EVP_Digest(j->img + c->off, c->len, c->dig, NULL, EVP_sha256(), NULL))
				die("EVP_Digest");
			continue;
		}
		size_t n = ZSTD_compress2(cc, cbuf, cap, j->img + c->off, c->len);
		size_t d = ZSTD_isError(n) ? n : ZSTD_decompressDCtx(dc, dbuf, c->len, cbuf, n);

		if (ZSTD_isError(d) || d != c->len || memcmp(dbuf, j->img + c->off, c->len)) {
			fprintf(stderr, "levers: chunk at %llu does not round-trip (%s)\n",
				(unsigned long long)c->off, ZSTD_isError(d) ? ZSTD_getErrorName(d) : "size");
			exit(1);
		}
		j->out_len[i] = n;
	}
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(cbuf);
	free(dbuf);
	return NULL;
}

static int g_threads = 2;

static void run_job(struct job *j)
{
	pthread_t t[16];
	int n = g_threads < 1 ? 1 : g_threads > 16 ? 16 : g_threads;

	j->next = 0;
	pthread_mutex_init(&j->lock, NULL);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, job_main, j))
			die("pthread_create");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&j->lock);
}

static uint64_t compress_sel(const uint8_t *img, struct chunk *ch, const uint32_t *sel, size_t n,
			     const struct zparm *z, uint64_t *out_len)
{
	struct job j = { .kind = JOB_ZSTD, .img = img, .chunks = ch, .sel = sel, .n = n, .z = z,
			 .out_len = out_len };
	uint64_t sum = 0;

	run_job(&j);
	for (size_t i = 0; i < n; i++)
		sum += out_len[i];
	return sum;
}

/* ---- one layout: cut, hash, find the missing chunks ------------------------------------ */

static void build_layout(struct layout *L, const struct cut *c, const uint8_t *po, size_t no,
			 const uint8_t *pn, size_t nn)
{
	struct job jo = { .kind = JOB_SHA, .img = po }, jn = { .kind = JOB_SHA, .img = pn };
	static const struct zparm l1 = { .level = 1, .csize = 1 };
	struct chunk *sorted;
	uint32_t *first;
	size_t n_first = 0;

	L->cut = c;
	L->oldc = cut_image(c, po, no, &L->n_old);
	L->newc = cut_image(c, pn, nn, &L->n_new);
	jo.chunks = L->oldc;
	jo.n = L->n_old;
	jn.chunks = L->newc;
	jn.n = L->n_new;
	run_job(&jo);
	run_job(&jn);
	qsort(L->oldc, L->n_old, sizeof(*L->oldc), cmp_dig);

	/* Distinct new chunks: sort a copy by digest; a run of equal digests is one chunk. */
	sorted = xcalloc(L->n_new, sizeof(*sorted));
	memcpy(sorted, L->newc, L->n_new * sizeof(*sorted));
	qsort(sorted, L->n_new, sizeof(*sorted), cmp_dig);
	first = xcalloc(L->n_new, sizeof(*first));
	L->miss = xcalloc(L->n_new, sizeof(*L->miss));
	L->dist = xcalloc(L->n_new, sizeof(*L->dist));
	L->miss_pos = xcalloc(L->n_new, sizeof(*L->miss_pos));
	for (size_t i = 0; i < L->n_new; i++) {
		if (!i || memcmp(sorted[i].dig, sorted[i - 1].dig, DIG)) {
			L->miss_pos[n_first] = -1;
			if (!bsearch(&sorted[i], L->oldc, L->n_old, sizeof(*L->oldc), cmp_dig)) {
				L->miss_pos[n_first] = (int32_t)L->n_miss;
				L->miss[L->n_miss++] = sorted[i].idx;
				L->miss_bytes += sorted[i].len;
			}
			first[n_first++] = sorted[i].idx;
		}
		L->dist[sorted[i].idx] = (uint32_t)(n_first - 1);
	}
	L->l1len = xcalloc(n_first, sizeof(*L->l1len));
	compress_sel(pn, L->newc, first, n_first, &l1, L->l1len);
	free(first);
	free(sorted);
}

/* Counting every occurrence of a missing chunk, as a planner without copies would fetch. */
static void sum_repeats(const struct layout *L, const uint64_t *miss_len, size_t *out_n,
			uint64_t *out_ubytes, uint64_t *out_payload)
{
	*out_n = 0;
	*out_ubytes = *out_payload = 0;
	for (size_t i = 0; i < L->n_new; i++) {
		int32_t m = L->miss_pos[L->dist[i]];

		if (m >= 0) {
			(*out_n)++;
			*out_ubytes += L->newc[i].len;
			*out_payload += miss_len[m];
		}
	}
}

/* Index entry bytes: the missing chunks' entries with their real compressed size. */
static uint64_t header_entries(const struct layout *L, const uint64_t *miss_len)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < L->n_new; i++) {
		uint32_t d = L->dist[i];
		uint64_t clen = L->miss_pos[d] >= 0 ? miss_len[L->miss_pos[d]] : L->l1len[d];

		sum += 2 * DIG + cint_len(L->newc[i].len) + cint_len(clen);
	}
	return sum;
}

static const uint8_t *map_file(const char *path, size_t *out_n)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	void *p;

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	*out_n = (size_t)st.st_size;
	p = mmap(NULL, *out_n ? *out_n : 1, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die(path);
	close(fd);
	return p;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *pair = "pair", *tsv_path = NULL;
	struct layout lay[N_VARIANTS];
	size_t n_lay = 0, no, nn;
	const uint8_t *po, *pn;
	uint64_t base_total = 0;
	FILE *tsv = NULL;
	int opt, quick = 0;

	while ((opt = getopt(argc, argv, "j:p:qt:")) != -1) {
		if (opt == 'q')
			quick = 1;
		else if (opt == 'j')
			g_threads = (int)strtol(optarg, NULL, 10);
		else if (opt == 'p')
			pair = optarg;
		else if (opt == 't')
			tsv_path = optarg;
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: levers [-q] [-j THREADS] [-p NAME] [-t TSV] OLD NEW\n");
		return 2;
	}
	po = map_file(argv[optind], &no);
	pn = map_file(argv[optind + 1], &nn);
	if (tsv_path) {
		tsv = fopen(tsv_path, "a");
		if (!tsv)
			die(tsv_path);
	}
	printf("pair %s: old %zu bytes, new %zu bytes; header = index entries only\n", pair, no, nn);
	printf("%-30s %7s %7s %7s %11s %11s %9s %11s %7s %6s\n", "variant", "chunks", "avg KiB",
	       "missing", "miss ubytes", "payload", "header", "pay+hdr", "ratio", "sec");
	for (size_t v = 0; v < N_VARIANTS; v++) {
		const struct variant *V = &variants[v];
		struct layout *L = NULL;
		double t0 = now_s();
		uint64_t *lens, payload, hdr, total, miss_bytes;
		size_t n_miss;

		if (quick && V->slow)
			continue;
		for (size_t i = 0; i < n_lay; i++)
			if (lay[i].cut == V->cut)
				L = &lay[i];
		if (!L) {
			L = &lay[n_lay++];
			memset(L, 0, sizeof(*L));
			build_layout(L, V->cut, po, no, pn, nn);
		}
		lens = xcalloc(L->n_miss, sizeof(*lens));
		payload = compress_sel(pn, L->newc, L->miss, L->n_miss, &V->z, lens);
		hdr = header_entries(L, lens);
		n_miss = L->n_miss;
		miss_bytes = L->miss_bytes;
		if (V->repeats)
			sum_repeats(L, lens, &n_miss, &miss_bytes, &payload);
		free(lens);
		total = payload + hdr;
		if (v == 0)
			base_total = total;
		printf("%-30s %7zu %7.1f %7zu %11llu %11llu %9llu %11llu %7.4f %6.1f\n", V->name,
		       L->n_new, (double)nn / (double)L->n_new / 1024.0, n_miss,
		       (unsigned long long)miss_bytes, (unsigned long long)payload,
		       (unsigned long long)hdr, (unsigned long long)total,
		       (double)total / (double)base_total, now_s() - t0);
		fflush(stdout);
		if (tsv)
			fprintf(tsv, "%s\t%s\t%zu\t%zu\t%llu\t%llu\t%llu\t%llu\t%.4f\n", pair, V->name,
				L->n_new, n_miss, (unsigned long long)miss_bytes,
				(unsigned long long)payload, (unsigned long long)hdr,
				(unsigned long long)total, (double)total / (double)base_total);
	}
	if (tsv)
		fclose(tsv);
	return 0;
}
