/* SPDX-License-Identifier: MIT */
/* Unit tests for explain: exact attribution of segments to files, offsets, cells, directories. */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "explain/explain.h"
#include "explain/xfs.h"
#include "test_rng.h"

static void add_file(struct zu_xfs *x, const char *path, enum zu_xfs_kind kind, uint64_t off,
		     uint64_t len)
{
	struct zu_err err = ZU_ERR_INIT;
	size_t idx;

	assert_int_equal(zu_xfs_add_file(x, path, len, kind, &idx, &err), 0);
	assert_int_equal(zu_xfs_add_extent(x, idx, off, len, &err), 0);
}

static const struct zu_xentry *find(const struct zu_xentry *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].path, path))
			return &v[i];
	return NULL;
}

/* Random segments over random files: every share, summed any way, is the total exactly. */
static void explain_shares_add_up_to_the_byte(void **state)
{
	uint64_t seed = 20, rng = test_rng_seed(seed);
	const uint64_t image = 5u << 20;
	struct zu_xfs x = ZU_XFS_INIT;
	struct zu_xsegs segs = { 0 };
	struct zu_explain_result res;
	struct zu_err err = ZU_ERR_INIT;
	uint64_t want = 0, files = 0, cells = 0, image_bytes = 0;

	(void)state;
	printf("# seed %" PRIu64 "\n", seed);
	x.type = "test";
	x.image_len = image;
	/* files with holes between them: the holes become offset ranges */
	for (uint64_t off = 0, i = 0; off < image; i++) {
		uint64_t len = 1 + test_rng_next(&rng) % 300000, gap = test_rng_next(&rng) % 20000;
		char path[64];

		snprintf(path, sizeof(path), "/d%" PRIu64 "/f%" PRIu64, i % 5, i);
		add_file(&x, path, ZU_XFS_FILE, off, len);
		off += len + gap;
	}
	for (uint64_t off = 0; off < image;) {
		uint64_t len = 1 + test_rng_next(&rng) % 200000;
		bool reused = test_rng_next(&rng) % 3 == 0;
		struct zu_xseg s = { .off = off, .len = len < image - off ? len : image - off,
				     .reused = reused,
				     .fetch = reused ? 0 : test_rng_next(&rng) % 99991 };

		assert_int_equal(zu_xsegs_add(&segs, &s, &err), 0);
		want += s.fetch;
		off += s.len;
	}
	{ /* a dict: bytes without an image range */
		struct zu_xseg s = { .fetch = 777 };

		assert_int_equal(zu_xsegs_add(&segs, &s, &err), 0);
		want += 777;
	}
	struct zu_explain_params p = { .xfs = &x, .segs = &segs, .image_len = image, .n_cells = 100 };

	assert_int_equal(zu_explain_attribute(&p, &res, &err), 0);
	assert_int_equal(zu_explain_rollup(&res, &err), 0);
	for (size_t i = 0; i < res.n_files; i++) {
		files += res.files[i].fetch_bytes;
		image_bytes += res.files[i].image_bytes;
		if (i)
			assert_true(res.files[i - 1].fetch_bytes >= res.files[i].fetch_bytes);
	}
	for (size_t i = 0; i < res.n_cells; i++)
		cells += res.cells[i].fetch_bytes;
	assert_int_equal(res.fetch_bytes, want);
	assert_int_equal(files, want);
	assert_int_equal(cells + 777, want); /* the dict is in no cell */
	assert_int_equal(image_bytes, image);
	assert_true(res.n_cells <= 100);
	assert_non_null(find(res.files, res.n_files, "[zck dictionary]"));
	assert_non_null(find(res.files, res.n_files, "[offsets 0x000000000-0x000100000]") ||
			find(res.files, res.n_files, "[offsets 0x000100000-0x000200000]"));
	{ /* "/" and the groups add up to the total too, and "/d1" to its files */
		const struct zu_xentry *root = find(res.dirs, res.n_dirs, "/");
		const struct zu_xentry *other = find(res.dirs, res.n_dirs, "[other: by offsets]");
		uint64_t d1 = 0;

		assert_non_null(root);
		assert_non_null(other);
		assert_int_equal(root->fetch_bytes + other->fetch_bytes, want);
		for (size_t i = 0; i < res.n_files; i++)
			if (!strncmp(res.files[i].path, "/d1/", 4))
				d1 += res.files[i].fetch_bytes;
		assert_int_equal(find(res.dirs, res.n_dirs, "/d1")->fetch_bytes, d1);
	}
	zu_explain_result_fini(&res);
	zu_xsegs_fini(&segs);
	zu_xfs_fini(&x);
}

/* A range claimed twice (a lying file system) belongs to the first claim only. */
static void explain_twice_claimed_bytes_count_once(void **state)
{
	struct zu_xfs x = ZU_XFS_INIT;
	struct zu_xsegs segs = { 0 };
	struct zu_explain_result res;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_xseg s = { .off = 0, .len = 8192, .fetch = 1000 };

	(void)state;
	x.type = "test";
	x.image_len = 8192;
	add_file(&x, "/a", ZU_XFS_FILE, 0, 6000);
	add_file(&x, "/b", ZU_XFS_FILE, 4000, 4192);
	assert_int_equal(zu_xsegs_add(&segs, &s, &err), 0);
	struct zu_explain_params p = { .xfs = &x, .segs = &segs, .image_len = 8192 };

	assert_int_equal(zu_explain_attribute(&p, &res, &err), 0);
	assert_int_equal(find(res.files, res.n_files, "/a")->image_bytes, 6000);
	assert_int_equal(find(res.files, res.n_files, "/b")->image_bytes, 2192);
	/* 1000 bytes over 8192: floor(1000 * 6000 / 8192) for /a, the rest for /b */
	assert_int_equal(find(res.files, res.n_files, "/a")->fetch_bytes, 732);
	assert_int_equal(find(res.files, res.n_files, "/b")->fetch_bytes, 268);
	zu_explain_result_fini(&res);
	zu_xsegs_fini(&segs);
	zu_xfs_fini(&x);
}

/* A 4 GiB image still makes at most 1024 map cells, each of whole 4 KiB blocks, covering it all. */
static void explain_map_of_4_gib_stays_small(void **state)
{
	const uint64_t image = 4ull << 30;
	struct zu_xsegs segs = { 0 };
	struct zu_explain_result res;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_xseg a = { .off = 0, .len = image / 2, .reused = true };
	struct zu_xseg b = { .off = image / 2, .len = image / 2, .fetch = 123456789 };
	uint64_t covered = 0, fetch = 0;

	(void)state;
	assert_int_equal(zu_xsegs_add(&segs, &a, &err), 0);
	assert_int_equal(zu_xsegs_add(&segs, &b, &err), 0);
	struct zu_explain_params p = { .segs = &segs, .image_len = image };

	assert_int_equal(zu_explain_attribute(&p, &res, &err), 0);
	assert_true(res.n_cells > 0 && res.n_cells <= 1024);
	for (size_t i = 0; i < res.n_cells; i++) {
		assert_int_equal(res.cells[i].off, covered);
		assert_int_equal(res.cells[i].off % 4096, 0);
		covered += res.cells[i].len;
		fetch += res.cells[i].fetch_bytes;
	}
	assert_int_equal(covered, image);
	assert_int_equal(fetch, 123456789);
	assert_int_equal(res.n_files, 4096); /* 1 MiB offset windows: no file system */
	zu_explain_result_fini(&res);
	zu_xsegs_fini(&segs);
}

/* A segment beyond the image is a broken invariant, not a silent loss. */
static void explain_refuses_segments_beyond_the_image(void **state)
{
	struct zu_xsegs segs = { 0 };
	struct zu_explain_result res;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_xseg s = { .off = 4000, .len = 200, .fetch = 5 };

	(void)state;
	assert_int_equal(zu_xsegs_add(&segs, &s, &err), 0);
	struct zu_explain_params p = { .segs = &segs, .image_len = 4096 };

	assert_int_equal(zu_explain_attribute(&p, &res, &err), -ENOTRECOVERABLE);
	zu_xsegs_fini(&segs);
}

/* Extents beyond the image (a lying file system) are clipped or dropped. */
static void xfs_clips_extents_to_the_image(void **state)
{
	struct zu_xfs x = ZU_XFS_INIT;
	struct zu_err err = ZU_ERR_INIT;
	size_t idx;

	(void)state;
	x.image_len = 1000;
	assert_int_equal(zu_xfs_add_file(&x, "/f", 5000, ZU_XFS_FILE, &idx, &err), 0);
	assert_int_equal(zu_xfs_add_extent(&x, idx, 900, 5000, &err), 0);
	assert_int_equal(zu_xfs_add_extent(&x, idx, 2000, 10, &err), 0);
	assert_int_equal(x.n_ext, 1);
	assert_int_equal(x.ext[0].len, 100);
	assert_int_equal(zu_xfs_add_extent(&x, 7, 0, 10, &err), -EINVAL);
	zu_xfs_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(explain_shares_add_up_to_the_byte),
		cmocka_unit_test(explain_twice_claimed_bytes_count_once),
		cmocka_unit_test(explain_map_of_4_gib_stays_small),
		cmocka_unit_test(explain_refuses_segments_beyond_the_image),
		cmocka_unit_test(xfs_clips_extents_to_the_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
