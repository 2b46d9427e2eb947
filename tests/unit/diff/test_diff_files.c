/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_diff_files: the streamed diff of two snapshot files gives what
 * memscan_diff_snapshots gives for the loaded files, whatever the layout and the part size. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define MIB  ((uint64_t)1 << 20)
#define BASE UINT64_C(0x10000000)

/* One region to build: [start, end) filled by SEED, with an optional hole. */
struct spec {
	uint64_t start, end;
	uint8_t seed;
	uint64_t hole_start, hole_end; /* none when equal */
	uint32_t perms;                /* 0: read and write */
	const char *path;              /* NULL: anonymous; else a file mapping */
};

static uint8_t fill_byte(uint64_t addr, uint8_t seed)
{
	return (uint8_t)((addr * 131u) ^ (addr >> 9) ^ seed);
}

/* A snapshot of the regions SPECS, with FLIPS (addresses whose byte is inverted) applied. */
static memscan_snapshot *build(const struct spec *specs, size_t n, const uint64_t *flips, size_t nflips)
{
	memscan_snapshot *s = NULL;

	assert_int_equal(memscan_snapshot_new(42, 1, &s), MEMSCAN_OK);
	for (size_t i = 0; i < n; i++) {
		memscan_region g = { .start = specs[i].start,
			             .end = specs[i].end,
			             .perms = specs[i].perms ? specs[i].perms
			                                     : MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE,
			             .kind = specs[i].path ? MEMSCAN_KIND_FILE : MEMSCAN_KIND_ANON,
			             .path = specs[i].path ? specs[i].path : "" };
		uint8_t *data = NULL;

		assert_int_equal(memscan_snapshot_add_region(s, &g, &data), MEMSCAN_OK);
		for (uint64_t a = g.start; a < g.end; a++)
			data[a - g.start] = fill_byte(a, specs[i].seed);
		for (size_t k = 0; k < nflips; k++)
			if (flips[k] >= g.start && flips[k] < g.end)
				data[flips[k] - g.start] ^= 0xFF;
		if (specs[i].hole_start < specs[i].hole_end)
			assert_int_equal(memscan_snapshot_add_hole(
			                     s, (memscan_range){ specs[i].hole_start, specs[i].hole_end }),
			                 MEMSCAN_OK);
	}
	return s;
}

struct gather {
	memscan_diff *all;
	size_t parts;
};

static int gather_part(void *ctx, const memscan_diff *part)
{
	struct gather *g = ctx;
	const memscan_ranges *app = memscan_diff_appeared(part), *van = memscan_diff_vanished(part);

	for (size_t i = 0; i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);
		assert_int_equal(memscan_diff_add_run(g->all, &run), MEMSCAN_OK);
	}
	for (size_t i = 0; i < app->count; i++)
		assert_int_equal(memscan_diff_add_appeared(g->all, app->items[i]), MEMSCAN_OK);
	for (size_t i = 0; i < van->count; i++)
		assert_int_equal(memscan_diff_add_vanished(g->all, van->items[i]), MEMSCAN_OK);
	for (int in_new = 0; in_new < 2; in_new++) {
		const memscan_ranges *out = memscan_diff_outside(part, in_new);

		for (size_t i = 0; i < out->count; i++)
			assert_int_equal(memscan_diff_add_outside(g->all, out->items[i], in_new), MEMSCAN_OK);
	}
	g->parts++;
	return 0;
}

/* Saves OLD and NEW, diffs the files with parts of MAX_BYTES and checks the result against
 * memscan_diff_snapshots of the loaded files; returns the number of parts. */
static size_t check_files(memscan_snapshot *old_s, memscan_snapshot *new_s, size_t max_bytes)
{
	const char *a = ms_scratch_path("a.snap"), *b = ms_scratch_path("b.snap");
	memscan_snapshot *la = NULL, *lb = NULL;
	memscan_diff *want = NULL;
	memscan_diff_files_info info;
	struct gather g = { 0 };

	assert_int_equal(memscan_snapshot_save(old_s, a), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_save(new_s, b), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(a, &la), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(b, &lb), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(la, lb, &want), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&g.all), MEMSCAN_OK);
	assert_int_equal(memscan_diff_files(a, b, max_bytes, gather_part, &g, &info), MEMSCAN_OK);
	ms_assert_diffs_equal(want, g.all);
	for (int in_new = 0; in_new < 2; in_new++) {
		const memscan_ranges *x = memscan_diff_outside(want, in_new),
		                     *y = memscan_diff_outside(g.all, in_new);

		assert_int_equal(x->count, y->count);
		for (size_t i = 0; i < x->count; i++) {
			assert_int_equal(x->items[i].start, y->items[i].start);
			assert_int_equal(x->items[i].end, y->items[i].end);
		}
	}
	assert_int_equal(info.outside_old, memscan_diff_outside(want, 1)->count);
	assert_int_equal(info.outside_new, memscan_diff_outside(want, 0)->count);
	assert_int_equal(info.runs, memscan_diff_run_count(want));
	assert_int_equal(info.changed_bytes, memscan_diff_changed_bytes(want));
	assert_int_equal(info.appeared, memscan_diff_appeared(want)->count);
	assert_int_equal(info.vanished, memscan_diff_vanished(want)->count);
	assert_int_equal(info.old_pid, 42);
	memscan_diff_free(g.all);
	memscan_diff_free(want);
	memscan_snapshot_free(la);
	memscan_snapshot_free(lb);
	return g.parts;
}

/* Regions that match, grow, shrink, split, appear and vanish; holes on either side; runs across
 * the 1 MiB chunks and at the edge of two adjacent old regions that one new region spans. */
static void test_diff_files_layouts(void **state)
{
	const struct spec old_specs[] = {
		{ BASE, BASE + 3 * MIB, 1, BASE + MIB + 100, BASE + MIB + 4196, 0, NULL },
		{ BASE + 4 * MIB, BASE + 5 * MIB, 2, 0, 0, 0, NULL },
		{ BASE + 5 * MIB, BASE + 6 * MIB, 3, 0, 0, 0, NULL }, /* adjacent to the one before */
		{ BASE + 8 * MIB, BASE + 9 * MIB, 4, 0, 0, 0, NULL }, /* vanishes */
		{ BASE + 10 * MIB, BASE + 12 * MIB, 5, 0, 0, 0, NULL },
	};
	const struct spec new_specs[] = {
		{ BASE, BASE + 3 * MIB, 1, BASE + 2 * MIB, BASE + 2 * MIB + 8192, 0, NULL },
		{ BASE + 4 * MIB, BASE + 6 * MIB, 2, 0, 0, 0, NULL }, /* spans the two adjacent old regions */
		{ BASE + 11 * MIB, BASE + 13 * MIB, 5, 0, 0, 0, NULL }, /* overlaps, then appears */
		{ BASE + 20 * MIB, BASE + 20 * MIB + 4096, 9, 0, 0, 0, NULL },
	};
	const uint64_t flips[] = { BASE + 7,       BASE + MIB - 2,   BASE + MIB - 1,      BASE + MIB,
		                   BASE + MIB + 1, BASE + MIB + 200, BASE + 2 * MIB + 10, BASE + 5 * MIB - 1,
		                   BASE + 5 * MIB };
	memscan_snapshot *o = build(old_specs, 5, NULL, 0);
	memscan_snapshot *n = build(new_specs, 4, flips, sizeof(flips) / sizeof(flips[0]));

	(void)state;
	assert_int_equal(check_files(o, n, 0), 1);
	assert_true(check_files(o, n, 1) > 2); /* a part per run: none split */
	assert_int_equal(check_files(n, o, 0), 1);
	memscan_snapshot_free(o);
	memscan_snapshot_free(n);
}

/* Every byte changed: one run of 3 MiB across four chunks, never split; then a byte in 1009 changed:
 * thousands of runs in many small parts. */
static void test_diff_files_many_runs(void **state)
{
	const struct spec a[] = { { BASE, BASE + 3 * MIB + 4096, 7, 0, 0, 0, NULL } };
	const struct spec b[] = { { BASE, BASE + 3 * MIB + 4096, 8, 0, 0, 0, NULL } };
	size_t nflips = (3 * MIB + 4096) / 1009;
	uint64_t *flips = calloc(nflips, sizeof(*flips));
	memscan_snapshot *o = build(a, 1, NULL, 0), *n = build(b, 1, NULL, 0), *m;

	(void)state;
	assert_int_equal(check_files(o, n, 100), 1);
	for (size_t i = 0; i < nflips; i++)
		flips[i] = BASE + 1009 * i;
	m = build(a, 1, flips, nflips);
	assert_true(check_files(o, m, 100) >= nflips / 100);
	free(flips);
	memscan_snapshot_free(m);
	memscan_snapshot_free(o);
	memscan_snapshot_free(n);
}

/* The loaded diff of OLD and NEW saved to files (after check_files compared the streamed one). */
static memscan_diff *files_diff(memscan_snapshot *old_s, memscan_snapshot *new_s)
{
	const char *a = ms_scratch_path("a.snap"), *b = ms_scratch_path("b.snap");
	memscan_snapshot *la = NULL, *lb = NULL;
	memscan_diff *d = NULL;

	(void)check_files(old_s, new_s, 0);
	assert_int_equal(memscan_snapshot_load(a, &la), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(b, &lb), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(la, lb, &d), MEMSCAN_OK);
	memscan_snapshot_free(la);
	memscan_snapshot_free(lb);
	return d;
}

static void assert_ranges(const memscan_ranges *r, const memscan_range *want, size_t n)
{
	assert_int_equal(r->count, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r->items[i].start, want[i].start);
		assert_int_equal(r->items[i].end, want[i].end);
	}
}

/* b.snap records WANT (format version 2), and a damaged filter block makes it unreadable. */
static void check_filter_file(const memscan_filter *want)
{
	const char *b = ms_scratch_path("b.snap"), *bad = ms_scratch_path("badf.snap");
	memscan_snapshot *s = NULL;
	memscan_filter got;
	uint8_t *bytes;
	size_t len;

	assert_int_equal(memscan_snapshot_load(b, &s), MEMSCAN_OK);
	assert_true(memscan_snapshot_get_filter(s, &got));
	assert_int_equal(got.perms, want->perms);
	assert_int_equal(got.kinds, want->kinds);
	assert_int_equal(got.range_start, want->range_start);
	assert_int_equal(got.range_end, want->range_end);
	assert_string_equal(got.path_substr, "");
	memscan_snapshot_free(s);
	bytes = ms_file_read(b, &len);
	assert_int_equal(bytes[8], 2);
	bytes[64 + 8] ^= 1; /* the filter's range_start */
	ms_write_file(bad, bytes, len, 0600);
	assert_int_equal(memscan_snapshot_load(bad, &s), MEMSCAN_ERR_BAD_FORMAT);
	free(bytes);
}

/* Snapshots taken with different filters: what the other's filter did not select (a read-only file
 * mapping left out by a read-write filter, the part of a region outside the other's range) is outside
 * its selection, never vanished or appeared; a region both filters select that is gone still
 * vanished; and files that record no filter (version 1) diff as before. */
static void test_diff_files_filters(void **state)
{
	const struct spec old_specs[] = {
		{ BASE, BASE + MIB, 1, 0, 0, MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC, "/usr/lib/libx.so" },
		{ BASE + 2 * MIB, BASE + 4 * MIB, 2, 0, 0, 0, NULL },
		{ BASE + 6 * MIB, BASE + 7 * MIB, 3, 0, 0, 0, NULL }, /* gone from the new one */
	};
	const struct spec new_specs[] = { { BASE + 2 * MIB, BASE + 3 * MIB, 2, 0, 0, 0, NULL } };
	const uint64_t flips[] = { BASE + 2 * MIB + 5 };
	memscan_snapshot *o = build(old_specs, 3, NULL, 0), *n = build(new_specs, 1, flips, 1);
	memscan_filter fo, fn;
	memscan_diff *d;

	(void)state;
	memscan_filter_default(&fo);
	memset(&fn, 0, sizeof(fn));
	fn.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	fn.range_start = BASE + 2 * MIB;
	fn.range_end = BASE + 3 * MIB;
	/* no filter recorded: everything the new one lacks vanished */
	d = files_diff(o, n);
	assert_ranges(memscan_diff_vanished(d),
	              (const memscan_range[]){ { BASE, BASE + MIB },
	                                       { BASE + 3 * MIB, BASE + 4 * MIB },
	                                       { BASE + 6 * MIB, BASE + 7 * MIB } },
	              3);
	memscan_diff_free(d);
	assert_int_equal(memscan_snapshot_set_filter(o, &fo), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_set_filter(n, &fn), MEMSCAN_OK);
	d = files_diff(o, n);
	assert_int_equal(memscan_diff_run_count(d), 1);
	assert_int_equal(memscan_diff_run(d, 0).address, BASE + 2 * MIB + 5);
	assert_int_equal(memscan_diff_vanished(d)->count, 0);
	assert_int_equal(memscan_diff_appeared(d)->count, 0);
	assert_ranges(memscan_diff_outside(d, 0),
	              (const memscan_range[]){ { BASE, BASE + MIB },
	                                       { BASE + 3 * MIB, BASE + 4 * MIB },
	                                       { BASE + 6 * MIB, BASE + 7 * MIB } },
	              3);
	assert_int_equal(memscan_diff_outside(d, 1)->count, 0);
	memscan_diff_free(d);
	/* the new filter selects the gone region's place: it vanished */
	fn.range_end = BASE + 8 * MIB;
	assert_int_equal(memscan_snapshot_set_filter(n, &fn), MEMSCAN_OK);
	d = files_diff(o, n);
	assert_ranges(
	    memscan_diff_vanished(d),
	    (const memscan_range[]){ { BASE + 3 * MIB, BASE + 4 * MIB }, { BASE + 6 * MIB, BASE + 7 * MIB } },
	    2);
	assert_ranges(memscan_diff_outside(d, 0), (const memscan_range[]){ { BASE, BASE + MIB } }, 1);
	memscan_diff_free(d);
	check_filter_file(&fn);
	memscan_snapshot_free(o);
	memscan_snapshot_free(n);
}

static int stop_at_once(void *ctx, const memscan_diff *part)
{
	(void)ctx;
	(void)part;
	return 1;
}

struct seen {
	unsigned calls;
	uint64_t last;
};

static void note_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	s->calls++;
	s->last = done;
}

static int no_stop(void *ctx, const memscan_diff *part)
{
	(void)ctx;
	(void)part;
	return 0;
}

/* memscan_diff_files_opts reports the bytes of both files read: at the start, never more than the
 * two files hold; without a callback it diffs as memscan_diff_files does. */
static void test_diff_files_progress(void **state)
{
	const struct spec a[] = { { BASE, BASE + 4 * MIB, 7, 0, 0, 0, NULL } };
	const char *p = ms_scratch_path("p.snap");
	memscan_snapshot *s = build(a, 1, NULL, 0);
	memscan_diff_files_options opt = { .progress = note_progress };
	struct seen seen = { 0 };
	memscan_diff_files_info info;
	size_t len;

	(void)state;
	opt.progress_ctx = &seen;
	assert_int_equal(memscan_snapshot_save(s, p), MEMSCAN_OK);
	free(ms_file_read(p, &len));
	assert_int_equal(memscan_diff_files_opts(p, p, &opt, no_stop, NULL, &info), MEMSCAN_OK);
	assert_true(seen.calls >= 1);
	assert_true(seen.last > 0 && seen.last <= 2 * (uint64_t)len);
	assert_int_equal(info.runs, 0);
	assert_int_equal(memscan_diff_files_opts(p, p, NULL, no_stop, NULL, &info), MEMSCAN_OK);
	memscan_snapshot_free(s);
}

/* A callback that stops ends the diff with STOPPED; a damaged file fails as loading it fails, and
 * memscan_snapshot_file_error names it. */
static void test_diff_files_errors(void **state)
{
	const struct spec a[] = { { BASE, BASE + 2 * MIB, 7, 0, 0, 0, NULL } };
	const char *p = ms_scratch_path("e.snap"), *bad = ms_scratch_path("bad.snap");
	memscan_snapshot *s = build(a, 1, NULL, 0), *loaded = NULL;
	uint8_t *bytes;
	size_t len;

	(void)state;
	assert_int_equal(memscan_snapshot_save(s, p), MEMSCAN_OK);
	assert_int_equal(memscan_diff_files(p, p, 0, stop_at_once, NULL, NULL), MEMSCAN_ERR_STOPPED);
	assert_null(memscan_snapshot_file_error(NULL));
	bytes = ms_file_read(p, &len);
	bytes[len / 2] ^= 1; /* a data byte: the record's checksum no longer matches */
	ms_write_file(bad, bytes, len, 0600);
	assert_int_equal(memscan_snapshot_load(bad, &loaded), MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(memscan_diff_files(p, bad, 0, stop_at_once, NULL, NULL), MEMSCAN_ERR_BAD_FORMAT);
	assert_string_equal(memscan_snapshot_file_error(NULL), bad);
	ms_write_file(bad, bytes, len / 2, 0600);
	assert_int_equal(memscan_diff_files(bad, p, 0, stop_at_once, NULL, NULL), MEMSCAN_ERR_TRUNCATED);
	assert_string_equal(memscan_snapshot_file_error(NULL), bad);
	assert_int_equal(memscan_diff_files(p, ms_scratch_path("missing"), 0, stop_at_once, NULL, NULL),
	                 MEMSCAN_ERR_IO);
	assert_string_equal(memscan_snapshot_file_error(NULL), ms_scratch_path("missing"));
	free(bytes);
	memscan_snapshot_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diff_files_layouts, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_diff_files_many_runs, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_diff_files_errors, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_diff_files_filters, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_diff_files_progress, ms_scratch_setup,
		                                ms_scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
