/* SPDX-License-Identifier: MIT */
/* Pages never written (absent in /proc/PID/pagemap) are zero-filled instead of read: the bytes are the
 * same as a read gives, the target's page tables are left alone, and a range that was unmapped since
 * its regions were listed is still a hole, not zeros. Against the fixture's --sparse-pages region. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "internal.h"
#include "testutil.h"

#define SPARSE_PAGES "4096" /* 16 MiB, one page in 64 written */

struct absent_env {
	ms_fixture f;
	memscan_process *proc;
	memscan_region_list *list; /* the sparse region alone */
	size_t page;
};

static int setup(void **state)
{
	static const char *const args[] = { "--sparse-pages", SPARSE_PAGES, NULL };
	struct absent_env *e = calloc(1, sizeof(*e));
	memscan_filter filter;

	if (!e || ms_fixture_start(&e->f, args) != 0)
		return -1;
	e->page = memscan_page_size();
	memscan_filter_default(&filter);
	filter.range_start = e->f.sparse;
	filter.range_end = e->f.sparse + e->f.sparse_len;
	if (memscan_process_open(e->f.pid, &e->proc) != MEMSCAN_OK ||
	    memscan_regions_read(e->proc, &filter, &e->list) != MEMSCAN_OK ||
	    memscan_region_list_count(e->list) != 1)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct absent_env *e = *state;

	memscan_region_list_free(e->list);
	memscan_process_free(e->proc);
	ms_fixture_stop(&e->f);
	free(e);
	return 0;
}

static void test_snapshot_zero_fills_without_touching_the_target(void **state)
{
	struct absent_env *e = *state;
	size_t written = ms_sparse_written(&e->f);
	memscan_snapshot *snap;

	ms_skip_unless_absent_skipped(e->f.pid);
	assert_int_equal(ms_sparse_present(&e->f), written);
	assert_int_equal(memscan_snapshot_take(e->proc, e->list, &snap), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(snap), 1);
	assert_int_equal(memscan_snapshot_get(snap, 0).holes->count, 0);
	ms_assert_sparse_bytes(&e->f, memscan_snapshot_get(snap, 0).data);
	/* skipped: the never-written pages are still not mapped in the target */
	assert_int_equal(ms_sparse_present(&e->f), written);

	/* read through the kernel: the same bytes, and every page now maps the zero page */
	assert_int_equal(memscan_process_set_skip_absent(e->proc, 0), MEMSCAN_OK);
	assert_int_equal(memscan_process_skips_absent(e->proc), 0);
	assert_int_equal(memscan_snapshot_refresh(snap, e->proc), MEMSCAN_OK);
	ms_assert_sparse_bytes(&e->f, memscan_snapshot_get(snap, 0).data);
	assert_int_equal(ms_sparse_present(&e->f), ms_sparse_pages(&e->f));
	assert_int_equal(memscan_process_set_skip_absent(e->proc, 1), MEMSCAN_OK);
	memscan_snapshot_free(snap);
}

/* Writes BYTE at ADDR (a page that was absent: 0 before), runs one detection (UPDATE: detect_update,
 * else detect_changes + accept) and checks that it finds exactly that change. */
static void write_and_detect(struct absent_env *e, memscan_detector *det, uint64_t addr, uint8_t byte,
                             int update)
{
	memscan_change_run run;
	memscan_diff *diff;

	assert_int_equal(ms_fixture_cmd(&e->f, "set %llx %x", (unsigned long long)addr, byte), 0);
	if (update)
		assert_int_equal(memscan_detector_detect_update(det, e->proc, NULL, &diff), MEMSCAN_OK);
	else
		assert_int_equal(memscan_detector_detect_changes(det, e->proc, NULL, &diff), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(diff), 1);
	run = memscan_diff_run(diff, 0);
	assert_true(run.address == addr && run.length == 1 && run.old_bytes[0] == 0 &&
	            run.new_bytes[0] == byte);
	memscan_diff_free(diff);
	if (!update)
		assert_int_equal(memscan_detector_accept(det), MEMSCAN_OK);
}

/* A write into a page that was absent when the baseline was taken is found, by both detections. */
static void test_detection_sees_writes_into_absent_pages(void **state)
{
	struct absent_env *e = *state;
	memscan_detector *det;
	memscan_diff *diff;

	ms_skip_unless_absent_skipped(e->f.pid);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, e->proc, e->list), MEMSCAN_OK);
	write_and_detect(e, det, e->f.sparse + 5 * e->page + 100, 0x7f, 0);
	write_and_detect(e, det, e->f.sparse + 700 * e->page + 7, 0x3c, 1);

	/* nothing else changed, and the baseline took both writes */
	assert_int_equal(memscan_detector_detect_update(det, e->proc, NULL, &diff), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(diff), 0);
	memscan_diff_free(diff);
	memscan_detector_free(det);
}

static int count_match(void *ctx, uint64_t address, const memscan_region *region)
{
	(void)address;
	(void)region;
	++*(size_t *)ctx;
	return 0;
}

/* Matches inside absent pages and across their edges are the same whether they are read or not. */
static void test_scan_same_matches_either_way(void **state)
{
	struct absent_env *e = *state;
	size_t written = e->f.sparse_len / e->page / MS_FIXTURE_SPARSE_STEP;
	const char *texts[] = { "A5 00 00 00", "00 00 00 A5" };
	const uint64_t want[] = { written, written - 1 }; /* the second needs a page before the marker */

	for (int mode = 1; mode >= 0; mode--) {
		assert_int_equal(memscan_process_set_skip_absent(e->proc, mode), MEMSCAN_OK);
		for (size_t t = 0; t < 2; t++) {
			for (int no_memmap = 0; no_memmap < 2; no_memmap++) {
				memscan_scan_options opt = { .no_memmap = no_memmap };
				memscan_pattern *pat;
				size_t seen = 0;
				uint64_t n = 0;

				assert_int_equal(memscan_pattern_parse(texts[t], &pat, NULL), MEMSCAN_OK);
				assert_int_equal(
				    memscan_scan(e->proc, e->list, pat, &opt, count_match, &seen, &n),
				    MEMSCAN_OK);
				assert_int_equal(n, want[t]);
				assert_int_equal(seen, want[t]);
				memscan_pattern_free(pat);
			}
		}
	}
	assert_int_equal(memscan_process_set_skip_absent(e->proc, 1), MEMSCAN_OK);
}

/* pagemap calls an unmapped range absent too: it must become a hole, never zeros. */
static void test_unmapped_range_is_a_hole_not_zeros(void **state)
{
	struct absent_env *e = *state;
	memscan_snapshot *snap;
	memscan_mapped *mapped;

	ms_skip_unless_absent_skipped(e->f.pid);
	assert_int_equal(memscan_snapshot_take(e->proc, e->list, &snap), MEMSCAN_OK);
	assert_int_equal(memscan_mapped_new(e->proc, memscan_region_list_get(e->list, 0), &mapped),
	                 MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&e->f, "unmap-sparse"), 0);

	assert_int_equal(memscan_snapshot_refresh(snap, e->proc), MEMSCAN_OK);
	assert_int_equal(memscan_ranges_bytes(memscan_snapshot_get(snap, 0).holes), e->f.sparse_len);
	assert_int_equal(memscan_mapped_refresh(mapped, e->proc), MEMSCAN_ERR_UNREADABLE);
	memscan_mapped_free(mapped);
	memscan_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_zero_fills_without_touching_the_target, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_detection_sees_writes_into_absent_pages, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_scan_same_matches_either_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_range_is_a_hole_not_zeros, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
