/* SPDX-License-Identifier: MIT */
/* Streaming detection: its parts, joined, are exactly the diff detect_changes finds; parts stay within
 * their bound; an update stream leaves the baseline equal to the memory; holes; failures. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define AREA ((size_t)24 << 20)    /* many units of work */
#define MID  (AREA / 2 + 5 * 4096) /* the second region starts mid-unit */

static uint8_t *area;
#define AREA2 ((size_t)3 << 20) /* a second mapping: appears and vanishes */
static uint8_t *area2;

/* Two adjacent regions over the test's own buffer. */
static memscan_region_list *area_list(void)
{
	memscan_region_list *list;
	memscan_region r = { 0 };
	uint64_t base = (uint64_t)(uintptr_t)area;

	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	r.kind = MEMSCAN_KIND_ANON;
	r.path = "";
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	r.start = base, r.end = base + MID;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = base + MID, r.end = base + AREA;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	return list;
}

/* Changes across 256 KiB chunk edges, 1 MiB unit edges and the region edge; scattered bytes; one long
 * run over several units. */
static void change_area(unsigned seed)
{
	size_t edges[] = { 256 << 10, 1 << 20, 3 << 20, MID, AREA - 1 };

	for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
		for (size_t j = edges[k] - 5; j < edges[k] + 5 && j < AREA; j++)
			area[j] ^= 0xFF;
	for (int k = 0; k < 3000; k++)
		area[(size_t)rand_r(&seed) % AREA] ^= (uint8_t)(1 + rand_r(&seed) % 255);
	for (size_t j = (5u << 20) - 1000; j < (8u << 20) + 1000; j++)
		area[j] = (uint8_t)~area[j];
}

/* A diff with adjacent runs of one region joined, as a consumer of parts would see it. */
static void join_into(memscan_diff *all, const memscan_diff *part)
{
	for (size_t i = 0; i < memscan_diff_appeared(part)->count; i++)
		assert_int_equal(memscan_diff_add_appeared(all, memscan_diff_appeared(part)->items[i]),
		                 MEMSCAN_OK);
	for (size_t i = 0; i < memscan_diff_vanished(part)->count; i++)
		assert_int_equal(memscan_diff_add_vanished(all, memscan_diff_vanished(part)->items[i]),
		                 MEMSCAN_OK);
	for (size_t i = 0; i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);
		assert_int_equal(ms_diff_append(all, run.address, run.length, run.region_index, run.old_bytes,
		                                run.new_bytes),
		                 MEMSCAN_OK);
	}
}

/* Streams the whole detection with parts of about MAX bytes; returns the joined diff and checks every
 * part's bound. */
static memscan_diff *stream_all(memscan_detector *det, memscan_process *p, const memscan_region_list *regions,
                                unsigned flags, size_t max)
{
	memscan_diff_stream *st;
	memscan_diff *all, *part;
	size_t parts = 0;
	int done = 0;

	assert_int_equal(memscan_diff_new(&all), MEMSCAN_OK);
	assert_int_equal(memscan_detector_stream(det, p, regions, flags, &st), MEMSCAN_OK);
	while (!done) {
		assert_int_equal(memscan_diff_stream_next(st, max, &part, &done), MEMSCAN_OK);
		/* the bound: MAX plus at most two 1 MiB units per worker (both bytes of each change) */
		assert_true(2 * memscan_diff_changed_bytes(part) <=
		            max + ms_worker_count() * ((size_t)4 << 20));
		join_into(all, part);
		memscan_diff_free(part);
		assert_true(++parts < 100000);
	}
	assert_true(memscan_diff_stream_done(st));
	assert_int_equal(memscan_diff_stream_changed_bytes(st), memscan_diff_changed_bytes(all));
	/* after the end: empty parts, still done */
	assert_int_equal(memscan_diff_stream_next(st, max, &part, &done), MEMSCAN_OK);
	assert_true(done);
	assert_int_equal(memscan_diff_run_count(part), 0);
	memscan_diff_free(part);
	memscan_diff_stream_free(st);
	return all;
}

static void start(memscan_process **p, memscan_detector **det, memscan_region_list **list)
{
	*list = area_list();
	assert_int_equal(memscan_process_open((int)getpid(), p), MEMSCAN_OK);
	assert_int_equal(memscan_detector_new(det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(*det, *p, *list), MEMSCAN_OK);
}

static void finish(memscan_process *p, memscan_detector *det, memscan_region_list *list)
{
	memscan_detector_free(det);
	memscan_process_free(p);
	memscan_region_list_free(list);
}

/* Whatever the part size, the worker count or the compare path: the joined parts are the diff
 * detect_changes finds, and a stream without update leaves the baseline alone. */
static void test_stream_equals_detect(void **state)
{
	size_t sizes[] = { 4096, 300000, (size_t)64 << 20 };
	memscan_region_list *list;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *ref, *got;

	(void)state;
	start(&p, &det, &list);
	change_area(1);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &ref), MEMSCAN_OK);
	assert_true(memscan_diff_changed_bytes(ref) > (3u << 20));
	for (unsigned k = 0; k < 3; k++) {
		ms_set_worker_limit(k == 1 ? 1 : 0);
		ms_set_simd(k != 2);
		got = stream_all(det, p, NULL, 0, sizes[k]);
		ms_set_simd(1);
		ms_set_worker_limit(0);
		ms_assert_diffs_equal(ref, got);
		memscan_diff_free(got);
	}
	/* a stream keeps no second copy: the one detect_changes left was freed */
	assert_null(det->current);
	/* the baseline is untouched: detect still finds the same */
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &got), MEMSCAN_OK);
	ms_assert_diffs_equal(ref, got);
	memscan_diff_free(got);
	memscan_diff_free(ref);
	finish(p, det, list);
}

/* With update, the stream reports the changes once and leaves the baseline equal to the memory. */
static void test_stream_update(void **state)
{
	memscan_region_list *list;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *ref, *got;
	const memscan_snapshot *base;

	(void)state;
	start(&p, &det, &list);
	for (unsigned round = 2; round < 4; round++) {
		change_area(round);
		assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &ref), MEMSCAN_OK);
		got = stream_all(det, p, NULL, MEMSCAN_STREAM_UPDATE, 100000);
		ms_assert_diffs_equal(ref, got);
		memscan_diff_free(got);
		memscan_diff_free(ref);
		/* accept now has nothing fresh to swap in: the stream's read is the baseline */
		assert_int_equal(memscan_detector_accept(det), MEMSCAN_ERR_NOT_FOUND);
		base = memscan_detector_baseline(det);
		assert_memory_equal(memscan_snapshot_get(base, 0).data, area, MID);
		assert_memory_equal(memscan_snapshot_get(base, 1).data, area + MID, AREA - MID);
		got = stream_all(det, p, NULL, 0, 1 << 20);
		assert_int_equal(memscan_diff_run_count(got), 0);
		memscan_diff_free(got);
	}
	finish(p, det, list);
}

/* An update stream abandoned after one part: finish reads the rest into the baseline. */
static void test_stream_finish(void **state)
{
	memscan_region_list *list;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff_stream *st;
	memscan_diff *part;
	int done = 0;

	(void)state;
	start(&p, &det, &list);
	change_area(5);
	assert_int_equal(memscan_detector_stream(det, p, NULL, MEMSCAN_STREAM_UPDATE, &st), MEMSCAN_OK);
	assert_int_equal(memscan_diff_stream_next(st, 4096, &part, &done), MEMSCAN_OK);
	assert_false(done);
	assert_true(memscan_diff_run_count(part) > 0);
	memscan_diff_free(part);
	assert_int_equal(memscan_diff_stream_finish(st), MEMSCAN_OK);
	assert_true(memscan_diff_stream_done(st));
	memscan_diff_stream_free(st);
	assert_memory_equal(memscan_snapshot_get(memscan_detector_baseline(det), 1).data, area + MID,
	                    AREA - MID);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &part), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(part), 0);
	memscan_diff_free(part);
	finish(p, det, list);
}

static void assert_holes(const memscan_ranges *h, uint64_t start, uint64_t end)
{
	assert_int_equal(h->count, 1);
	assert_true(h->items[0].start == start);
	assert_true(h->items[0].end == end);
}

/* Pages unreadable in the new read are skipped like detect_changes skips them; with update they
 * become the baseline's holes, and once readable again they are not reported (a hole has no old
 * bytes) but do enter the baseline. */
static void test_stream_holes(void **state)
{
	uint64_t hole = (uint64_t)(uintptr_t)area + (2u << 20) - 4096;
	memscan_region_list *list;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *ref, *got;

	(void)state;
	start(&p, &det, &list);
	change_area(7);
	assert_int_equal(mprotect((void *)(uintptr_t)hole, 3 * 4096, PROT_NONE), 0);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &ref), MEMSCAN_OK);
	got = stream_all(det, p, NULL, MEMSCAN_STREAM_UPDATE, 50000);
	ms_assert_diffs_equal(ref, got);
	memscan_diff_free(got);
	memscan_diff_free(ref);
	assert_holes(memscan_snapshot_get(memscan_detector_baseline(det), 0).holes, hole, hole + 3 * 4096);
	assert_int_equal(mprotect((void *)(uintptr_t)hole, 3 * 4096, PROT_READ | PROT_WRITE), 0);
	area[(2u << 20) + 17] ^= 0x5A;       /* inside the former hole */
	area[(2u << 20) + 3 * 4096] ^= 0x5A; /* just after it */
	got = stream_all(det, p, NULL, MEMSCAN_STREAM_UPDATE, 50000);
	assert_int_equal(memscan_diff_run_count(got), 1);
	assert_true(memscan_diff_run(got, 0).address == hole + 4 * 4096);
	memscan_diff_free(got);
	assert_int_equal(memscan_snapshot_get(memscan_detector_baseline(det), 0).holes->count, 0);
	assert_memory_equal(memscan_snapshot_get(memscan_detector_baseline(det), 0).data, area, MID);
	finish(p, det, list);
}

/* detect_update: the diff detect_changes finds, and the read becomes the baseline; with other regions
 * (one vanished) it reports the layout change as detect_changes + accept would. */
static void test_detect_update(void **state)
{
	memscan_region_list *list, *first;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *ref, *got;

	(void)state;
	start(&p, &det, &list);
	change_area(9);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &ref), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_update(det, p, list, &got), MEMSCAN_OK);
	ms_assert_diffs_equal(ref, got);
	memscan_diff_free(ref);
	memscan_diff_free(got);
	assert_memory_equal(memscan_snapshot_get(memscan_detector_baseline(det), 0).data, area, MID);
	assert_int_equal(memscan_detector_detect_update(det, p, NULL, &got), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(got), 0);
	memscan_diff_free(got);

	assert_int_equal(memscan_region_list_new(&first), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_add(first, memscan_region_list_get(list, 0)), MEMSCAN_OK);
	area[100] ^= 1;
	assert_int_equal(memscan_detector_detect_update(det, p, first, &got), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(got), 1);
	assert_int_equal(memscan_diff_vanished(got)->count, 1);
	memscan_diff_free(got);
	assert_int_equal(memscan_detector_snapshot_count(det), 1);
	assert_int_equal(memscan_detector_detect_update(NULL, p, NULL, &got), MEMSCAN_ERR_INVALID_ARG);
	memscan_region_list_free(first);
	finish(p, det, list);
}

/* A region list from N address pairs. */
static memscan_region_list *list_of(const uint64_t (*r)[2], size_t n)
{
	memscan_region_list *list;
	memscan_region g = { 0 };

	g.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	g.kind = MEMSCAN_KIND_ANON;
	g.path = "";
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	for (size_t i = 0; i < n; i++) {
		g.start = r[i][0];
		g.end = r[i][1];
		assert_int_equal(memscan_region_list_add(list, &g), MEMSCAN_OK);
	}
	return list;
}

/* The baseline holds exactly the memory of LIST now, in address order (skipping the page at SKIP, if
 * not 0). */
static void assert_baseline_is(memscan_detector *det, const memscan_region_list *list, uint64_t skip)
{
	const memscan_snapshot *b = memscan_detector_baseline(det);
	uint64_t prev = 0;

	assert_int_equal(memscan_snapshot_region_count(b), memscan_region_list_count(list));
	for (size_t i = 0; i < memscan_snapshot_region_count(b); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(b, i);
		uint64_t start = sr.region.start, end = sr.region.end,
		         cut = skip > start && skip < end ? skip : end;
		size_t k = 0;

		while (k < memscan_region_list_count(list) &&
		       memscan_region_list_get(list, k)->start != start)
			k++;
		assert_true(k < memscan_region_list_count(list) &&
		            memscan_region_list_get(list, k)->end == end);
		assert_true(start >= prev);
		prev = end;
		assert_memory_equal(sr.data, (const void *)(uintptr_t)start, cut - start);
		if (cut < end)
			assert_memory_equal(sr.data + (cut + 4096 - start),
			                    (const void *)(uintptr_t)(cut + 4096), end - cut - 4096);
	}
}

/* Regions that shrank, grew, appeared, vanished or split: streamed with and without update, the parts
 * add up to what diffing a snapshot of the old layout with one of the new gives, and an update leaves
 * the baseline in the new layout, equal to the memory. */
static void test_stream_layout_changes(void **state)
{
	uint64_t b = (uint64_t)(uintptr_t)area, m = b + MID, e = b + AREA, a2 = (uint64_t)(uintptr_t)area2;
	const uint64_t l0[][2] = { { b, m }, { m, e - (2u << 20) } };
	const uint64_t l1[][2] = { { b, m - (1u << 20) }, { m, e }, { a2, a2 + AREA2 } };
	const uint64_t l2[][2] = { { b, m - (1u << 20) }, { m, m + (3u << 20) }, { m + (3u << 20), e } };
	memscan_region_list *r0 = list_of(l0, 2), *r1 = list_of(l1, 3), *r2 = list_of(l2, 3);
	memscan_snapshot *before, *now;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *ref, *got;
	uint64_t hole = m + (1u << 20) + 4096 * 7;

	(void)state;
	assert_int_equal(memscan_process_open((int)getpid(), &p), MEMSCAN_OK);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, r0), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(p, r0, &before), MEMSCAN_OK);
	change_area(13);
	memset(area2 + 1000, 0x42, 5000);
	assert_int_equal(memscan_snapshot_take(p, r1, &now), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(before, now, &ref), MEMSCAN_OK);
	assert_int_equal(memscan_diff_appeared(ref)->count, 2);
	assert_int_equal(memscan_diff_vanished(ref)->count, 1);
	/* without update, twice (the baseline stays), once on one worker in small parts */
	ms_set_worker_limit(1);
	got = stream_all(det, p, r1, 0, 70000);
	ms_set_worker_limit(0);
	ms_assert_diffs_equal(ref, got);
	memscan_diff_free(got);
	assert_int_equal(memscan_snapshot_region_count(memscan_detector_baseline(det)), 2);
	got = stream_all(det, p, r1, MEMSCAN_STREAM_UPDATE, 300000);
	ms_assert_diffs_equal(ref, got);
	memscan_diff_free(got);
	memscan_diff_free(ref);
	assert_baseline_is(det, r1, 0);
	assert_int_equal(memscan_detector_detect_update(det, p, r1, &got), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(got), 0);
	assert_int_equal(memscan_diff_appeared(got)->count + memscan_diff_vanished(got)->count, 0);
	memscan_diff_free(got);
	memscan_snapshot_free(before);
	memscan_snapshot_free(now);

	/* a split region with an unreadable page, and a vanished mapping, through detect_update */
	assert_int_equal(memscan_snapshot_take(p, r1, &before), MEMSCAN_OK);
	change_area(14);
	assert_int_equal(mprotect((void *)(uintptr_t)hole, 4096, PROT_NONE), 0);
	assert_int_equal(memscan_snapshot_take(p, r2, &now), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(before, now, &ref), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_update(det, p, r2, &got), MEMSCAN_OK);
	assert_int_equal(mprotect((void *)(uintptr_t)hole, 4096, PROT_READ | PROT_WRITE), 0);
	ms_assert_diffs_equal(ref, got);
	assert_int_equal(memscan_diff_vanished(got)->count, 1);
	assert_true(memscan_diff_vanished(got)->items[0].start == a2);
	memscan_diff_free(got);
	memscan_diff_free(ref);
	for (size_t i = 0; i < memscan_snapshot_region_count(memscan_detector_baseline(det)); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(memscan_detector_baseline(det), i);
		if (sr.region.start == m)
			assert_holes(sr.holes, hole, hole + 4096);
		else
			assert_int_equal(sr.holes->count, 0);
	}
	assert_baseline_is(det, r2, hole);
	memscan_snapshot_free(before);
	memscan_snapshot_free(now);
	memscan_region_list_free(r0);
	memscan_region_list_free(r1);
	memscan_region_list_free(r2);
	memscan_detector_free(det);
	memscan_process_free(p);
}

static void test_stream_bad_input(void **state)
{
	memscan_region_list *list;
	memscan_detector *det, *empty;
	memscan_process *p;
	memscan_diff_stream *st = (memscan_diff_stream *)&st;
	memscan_diff *part = (memscan_diff *)&part;
	int done;

	(void)state;
	start(&p, &det, &list);
	assert_int_equal(memscan_detector_new(&empty), MEMSCAN_OK);
	assert_int_equal(memscan_detector_stream(empty, p, NULL, 0, &st), MEMSCAN_ERR_NOT_FOUND);
	assert_null(st);
	assert_int_equal(memscan_detector_stream(NULL, p, NULL, 0, &st), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_detector_stream(det, NULL, NULL, 0, &st), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_detector_stream(det, p, NULL, 0x80, &st), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_detector_stream(det, p, NULL, 0, NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_diff_stream_next(NULL, 1, &part, &done), MEMSCAN_ERR_INVALID_ARG);
	assert_null(part);
	assert_int_equal(memscan_diff_stream_finish(NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_false(memscan_diff_stream_done(NULL));
	memscan_diff_stream_free(NULL);
	memscan_detector_free(empty);
	finish(p, det, list);
}

/* The target exits in the middle of a stream: PROCESS_GONE, and it stays the stream's answer. */
static void test_stream_process_gone(void **state)
{
	memscan_region_list *list;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff_stream *st;
	memscan_diff *part;
	ms_fixture f;
	int done = 0;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(p, NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, list), MEMSCAN_OK);
	assert_int_equal(memscan_detector_stream(det, p, NULL, MEMSCAN_STREAM_UPDATE, &st), MEMSCAN_OK);
	ms_fixture_stop(&f);
	assert_int_equal(memscan_diff_stream_next(st, 1, &part, &done), MEMSCAN_ERR_PROCESS_GONE);
	assert_null(part);
	assert_int_equal(memscan_diff_stream_next(st, 1, &part, &done), MEMSCAN_ERR_PROCESS_GONE);
	assert_int_equal(memscan_diff_stream_finish(st), MEMSCAN_ERR_PROCESS_GONE);
	memscan_diff_stream_free(st);
	finish(p, det, list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_equals_detect), cmocka_unit_test(test_stream_update),
		cmocka_unit_test(test_stream_finish),        cmocka_unit_test(test_stream_holes),
		cmocka_unit_test(test_stream_bad_input),     cmocka_unit_test(test_stream_process_gone),
		cmocka_unit_test(test_detect_update),        cmocka_unit_test(test_stream_layout_changes),
	};
	unsigned seed = 11;
	int r;

	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	area2 = mmap(NULL, AREA2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || area2 == MAP_FAILED)
		return 1;
	for (size_t k = 0; k < AREA; k += 4)
		area[k] = (uint8_t)rand_r(&seed);
	for (size_t k = 0; k < AREA2; k += 8)
		area2[k] = (uint8_t)rand_r(&seed);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	munmap(area2, AREA2);
	munmap(area, AREA);
	return r;
}
