/* SPDX-License-Identifier: MIT */
/* Fused, parallel detection and parallel snapshots give what sequential reads and a plain diff give. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define AREA ((size_t)40 << 20) /* several units of work */

static uint8_t *area;

/* A list of two adjacent regions over the test's own buffer (the second starts mid-unit). */
static memscan_region_list *area_list(void)
{
	memscan_region_list *list;
	memscan_region r = { 0 };
	uint64_t base = (uint64_t)(uintptr_t)area, mid = base + (AREA / 2 + 3 * 4096);

	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	r.kind = MEMSCAN_KIND_ANON;
	r.path = "";
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	r.start = base, r.end = mid;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = mid, r.end = base + AREA;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	return list;
}

/* Changes: runs across 512 KiB chunk edges, 8 MiB unit edges and the region edge, single bytes. */
static void change_area(unsigned seed)
{
	size_t mid = AREA / 2 + 3 * 4096;
	size_t edges[] = { 512 << 10, 8 << 20, 16 << 20, mid, AREA - 1 };

	for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
		for (size_t j = edges[k] - 5; j < edges[k] + 5 && j < AREA; j++)
			area[j] ^= 0xFF;
	for (int k = 0; k < 3000; k++)
		area[(size_t)rand_r(&seed) % AREA] ^= (uint8_t)(1 + rand_r(&seed) % 255);
	memset(area + (20u << 20) - 100000, (int)(0x70 + seed % 8), 200000);
}

/* Detects with WORKERS workers; returns the diff and checks it against a plain snapshot diff. */
static memscan_diff *detect_with(memscan_process *p, memscan_detector *det, const memscan_region_list *list,
                                 unsigned workers)
{
	memscan_snapshot *now;
	memscan_diff *d, *ref;

	ms_set_worker_limit(workers);
	assert_int_equal(memscan_detector_detect_changes(det, p, list, &d), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(p, list, &now), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(memscan_detector_baseline(det), now, &ref), MEMSCAN_OK);
	ms_assert_diffs_equal(d, ref);
	memscan_diff_free(ref);
	memscan_snapshot_free(now);
	ms_set_worker_limit(0);
	return d;
}

static void test_parallel_detection_equals_sequential(void **state)
{
	memscan_region_list *list = area_list();
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *seq, *par;

	(void)state;
	assert_int_equal(memscan_process_open((int)getpid(), &p), MEMSCAN_OK);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, list), MEMSCAN_OK);
	for (unsigned round = 0; round < 3; round++) {
		change_area(round + 1);
		ms_set_simd(round != 1); /* round 1 runs the scalar compare */
		seq = detect_with(p, det, list, 1);
		par = detect_with(p, det, list, 0);
		ms_set_simd(1);
		ms_assert_diffs_equal(seq, par);
		assert_true(memscan_diff_changed_bytes(par) > 200000);
		memscan_diff_free(seq);
		memscan_diff_free(par);
		/* accept: the baseline is now what was read, so nothing changed since */
		assert_int_equal(memscan_detector_accept(det), MEMSCAN_OK);
		assert_memory_equal(memscan_snapshot_get(memscan_detector_baseline(det), 0).data, area,
		                    AREA / 2 + 3 * 4096);
		assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &par), MEMSCAN_OK);
		assert_int_equal(memscan_diff_run_count(par), 0);
		memscan_diff_free(par);
	}
	memscan_detector_free(det);
	memscan_process_free(p);
	memscan_region_list_free(list);
}

/* A hole (unmapped page) inside the area: both paths skip it and report it the same. */
static void test_parallel_snapshot_holes(void **state)
{
	memscan_region_list *list = area_list();
	memscan_snapshot *seq, *par;
	memscan_process *p;

	(void)state;
	assert_int_equal(memscan_process_open((int)getpid(), &p), MEMSCAN_OK);
	assert_int_equal(mprotect(area + (9u << 20), 3 * 4096, PROT_NONE), 0);
	ms_set_worker_limit(1);
	assert_int_equal(memscan_snapshot_take(p, list, &seq), MEMSCAN_OK);
	ms_set_worker_limit(0);
	assert_int_equal(memscan_snapshot_take(p, list, &par), MEMSCAN_OK);
	assert_int_equal(mprotect(area + (9u << 20), 3 * 4096, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(memscan_snapshot_region_count(seq), memscan_snapshot_region_count(par));
	for (size_t i = 0; i < memscan_snapshot_region_count(seq); i++) {
		memscan_snapshot_region a = memscan_snapshot_get(seq, i), b = memscan_snapshot_get(par, i);
		assert_int_equal(a.holes->count, b.holes->count);
		for (size_t k = 0; k < a.holes->count; k++) {
			assert_int_equal(a.holes->items[k].start, b.holes->items[k].start);
			assert_int_equal(a.holes->items[k].end, b.holes->items[k].end);
		}
		assert_memory_equal(a.data, b.data, a.region.end - a.region.start);
	}
	assert_int_equal(memscan_snapshot_get(seq, 0).holes->count, 1);
	memscan_snapshot_free(seq);
	memscan_snapshot_free(par);
	memscan_process_free(p);
	memscan_region_list_free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_detection_equals_sequential),
		cmocka_unit_test(test_parallel_snapshot_holes),
	};
	unsigned seed = 7;
	int r;

	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return 1;
	for (size_t k = 0; k < AREA; k += 4)
		area[k] = (uint8_t)rand_r(&seed);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	munmap(area, AREA);
	return r;
}
