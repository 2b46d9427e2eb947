/* SPDX-License-Identifier: MIT */
/* Unit tests of the ChangeDetector against the fixture. */
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "testutil.h"

static void start(ms_fixture *f, memscan_process **p, memscan_detector **det)
{
	assert_int_equal(ms_fixture_start(f, NULL), 0);
	assert_int_equal(memscan_process_open(f->pid, p), MEMSCAN_OK);
	assert_int_equal(memscan_detector_new(det), MEMSCAN_OK);
}

static void test_detector_sees_exactly_the_changed_bytes(void **state)
{
	memscan_region_list *arena;
	memscan_filter filter = { 0 };
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *d;
	memscan_change c[4];
	ms_fixture f;

	(void)state;
	start(&f, &p, &det);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_ERR_NOT_FOUND);
	/* the whole process: nothing changes while the fixture waits for a command (the ping and the
	 * pause let it finish answering and block in read()) */
	assert_int_equal(ms_fixture_cmd(&f, "ping"), 0);
	usleep(100 * 1000);
	assert_int_equal(memscan_detector_initialize(det, p, NULL), MEMSCAN_OK);
	assert_true(memscan_detector_snapshot_count(det) > 3);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);
	/* from here on only the arena: handling a command also changes the fixture's stack and stdio */
	filter.range_start = f.arena;
	filter.range_end = f.arena + f.arena_len;
	assert_int_equal(memscan_regions_read(p, &filter, &arena), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, arena), MEMSCAN_OK);
	assert_int_equal(memscan_detector_snapshot_count(det), 1);
	assert_int_equal(memscan_detector_accept(det), MEMSCAN_ERR_NOT_FOUND); /* nothing read since */
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);

	assert_int_equal(ms_fixture_cmd(&f, "set %s ab", ms_hex(f.arena + 0x3000)), 0);
	assert_int_equal(ms_fixture_cmd(&f, "fill %s 3 00", ms_hex(f.arena + 0x4ffe)), 0);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 2);
	assert_true(memscan_diff_run(d, 0).address == f.arena + 0x3000);
	assert_true(memscan_diff_run(d, 1).address == f.arena + 0x4ffe);
	assert_int_equal(memscan_diff_run(d, 1).length, 3);
	assert_int_equal(memscan_diff_changes(d, 0, c, 4), 4);
	assert_int_equal(c[0].old_value, MS_FIXTURE_ARENA_BYTE(0x3000));
	assert_int_equal(c[0].new_value, 0xab);
	memscan_diff_free(d);

	/* detect_changes leaves the baseline alone: the same changes show again */
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 2);
	memscan_diff_free(d);
	/* update_snapshots moves the baseline: nothing changed since */
	assert_int_equal(memscan_detector_update_snapshots(det, p, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);
	/* and the next change is seen against the new baseline */
	assert_int_equal(ms_fixture_cmd(&f, "bump %s", ms_hex(f.arena + 0x3000)), 0);
	assert_int_equal(memscan_detector_update_snapshots(det, p, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);
	/* accept makes what detect read the baseline, without reading again */
	assert_int_equal(ms_fixture_cmd(&f, "bump %s", ms_hex(f.arena + 0x10)), 0);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 1);
	memscan_diff_free(d);
	assert_int_equal(memscan_detector_accept(det), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&f, "bump %s", ms_hex(f.arena + 0x20)), 0);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 1);
	assert_true(memscan_diff_run(d, 0).address == f.arena + 0x20);
	memscan_diff_free(d);

	memscan_region_list_free(arena);
	memscan_detector_free(det);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_detector_reports_vanished_regions(void **state)
{
	memscan_region_list *now;
	memscan_filter filter;
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *d;
	ms_fixture f;
	int found = 0;

	(void)state;
	start(&f, &p, &det);
	assert_int_equal(memscan_detector_initialize(det, p, NULL), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&f, "unmap-arena"), 0);
	memscan_filter_default(&filter);
	assert_int_equal(memscan_regions_read(p, &filter, &now), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_changes(det, p, now, &d), MEMSCAN_OK);
	for (size_t i = 0; i < memscan_diff_vanished(d)->count; i++)
		if (memscan_diff_vanished(d)->items[i].start <= f.arena &&
		    memscan_diff_vanished(d)->items[i].end >= f.arena + f.arena_len)
			found = 1;
	assert_true(found);
	memscan_diff_free(d);
	assert_int_equal(memscan_detector_update_snapshots(det, p, now), MEMSCAN_OK);
	assert_int_equal(memscan_detector_snapshot_count(det), memscan_region_list_count(now));
	memscan_region_list_free(now);
	memscan_detector_free(det);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_detector_process_exit(void **state)
{
	memscan_detector *det;
	memscan_process *p;
	memscan_diff *d = NULL;
	ms_fixture f;

	(void)state;
	start(&f, &p, &det);
	assert_int_equal(memscan_detector_initialize(det, p, NULL), MEMSCAN_OK);
	ms_fixture_stop(&f);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &d), MEMSCAN_ERR_PROCESS_GONE);
	assert_null(d);
	memscan_detector_free(det);
	memscan_process_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detector_sees_exactly_the_changed_bytes),
		cmocka_unit_test(test_detector_reports_vanished_regions),
		cmocka_unit_test(test_detector_process_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
