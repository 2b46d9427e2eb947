/* SPDX-License-Identifier: MIT */
/* Unit tests of memory reads against the fixture: both methods, holes, unmapped memory, exits. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "internal.h"
#include "testutil.h"

static const uint8_t MARKER[MS_FIXTURE_MARKER_LEN] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
	                                               0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };

static const memscan_read_method METHODS[] = { MEMSCAN_READ_AUTO, MEMSCAN_READ_VM_READV,
	                                       MEMSCAN_READ_PROC_MEM };

static void test_read_marker_with_every_method(void **state)
{
	uint8_t buf[MS_FIXTURE_MARKER_LEN];
	memscan_process *p;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(memscan_process_set_read_method(p, METHODS[m]), MEMSCAN_OK);
		for (int k = 0; k < 3; k++) {
			memset(buf, 0xEE, sizeof(buf));
			assert_int_equal(memscan_read(p, f.marker[k], buf, sizeof(buf), NULL), MEMSCAN_OK);
			assert_memory_equal(buf, MARKER, sizeof(buf));
		}
	}
	assert_int_equal(memscan_process_set_read_method(p, (memscan_read_method)7), MEMSCAN_ERR_INVALID_ARG);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_read_whole_arena_matches_formula(void **state)
{
	memscan_process *p;
	uint8_t *buf;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	buf = malloc(f.arena_len);
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(memscan_process_set_read_method(p, METHODS[m]), MEMSCAN_OK);
		assert_int_equal(memscan_read(p, f.arena, buf, f.arena_len, NULL), MEMSCAN_OK);
		for (size_t i = 0; i < 0x100; i++)
			assert_int_equal(buf[i], MS_FIXTURE_ARENA_BYTE(i));
		assert_memory_equal(buf + (f.marker[1] - f.arena), MARKER, sizeof(MARKER));
		assert_int_equal(buf[f.arena_len - 1], MS_FIXTURE_ARENA_BYTE(f.arena_len - 1));
	}
	free(buf);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_read_partial_reports_holes_not_garbage(void **state)
{
	memscan_ranges holes = { 0 };
	memscan_process *p;
	uint8_t *buf;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	buf = malloc(f.holey_len);
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(memscan_process_set_read_method(p, METHODS[m]), MEMSCAN_OK);
		memset(buf, 0xEE, f.holey_len);
		memscan_ranges_clear(&holes);
		assert_int_equal(memscan_read(p, f.holey, buf, f.holey_len, &holes), MEMSCAN_ERR_PARTIAL);
		assert_int_equal(holes.count, 1);
		assert_true(holes.items[0].start == f.holey + 4096);
		assert_true(holes.items[0].end == f.holey + f.holey_len);
		assert_int_equal(buf[0], 0x5C);
		assert_int_equal(buf[4095], 0x5C);
		for (size_t i = 4096; i < f.holey_len; i++)
			assert_int_equal(buf[i], 0); /* never garbage */
		/* the unreadable part alone */
		memscan_ranges_clear(&holes);
		assert_int_equal(memscan_read(p, f.holey + 8192, buf, 4096, &holes), MEMSCAN_ERR_UNREADABLE);
	}
	memscan_ranges_release(&holes);
	free(buf);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_read_unmapped_address(void **state)
{
	memscan_process *p;
	uint8_t buf[16];
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_read(p, 0x10, buf, sizeof(buf), NULL), MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(memscan_read(p, 0xffffffffff600000ull, buf, sizeof(buf), NULL),
	                 MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(memscan_read(p, UINT64_MAX - 4, buf, sizeof(buf), NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_read(p, f.arena, buf, 0, NULL), MEMSCAN_ERR_INVALID_ARG);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_read_region_unmapped_after_listing(void **state)
{
	memscan_region_list *list;
	memscan_filter filter = { 0 };
	memscan_snapshot *snap;
	memscan_process *p;
	uint8_t buf[64];
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	filter.range_start = f.arena;
	filter.range_end = f.arena + f.arena_len;
	assert_int_equal(memscan_regions_read(p, &filter, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 1);
	assert_int_equal(ms_fixture_cmd(&f, "unmap-arena"), 0);
	assert_int_equal(memscan_read(p, f.arena, buf, sizeof(buf), NULL), MEMSCAN_ERR_UNREADABLE);
	/* a snapshot of the listed (now vanished) region holds nothing, and says so without failing */
	assert_int_equal(memscan_snapshot_take(p, list, &snap), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(snap), 0);
	memscan_snapshot_free(snap);
	memscan_region_list_free(list);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_read_after_exit_is_process_gone(void **state)
{
	memscan_region_list *list;
	memscan_snapshot *snap = NULL;
	memscan_process *p;
	uint8_t buf[64];
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(p, NULL, &list), MEMSCAN_OK);
	ms_fixture_stop(&f);
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(memscan_process_set_read_method(p, METHODS[m]), MEMSCAN_OK);
		assert_int_equal(memscan_read(p, f.arena, buf, sizeof(buf), NULL), MEMSCAN_ERR_PROCESS_GONE);
		/* the target exits between listing and snapshot: an error, never a half snapshot */
		assert_int_equal(memscan_snapshot_take(p, list, &snap), MEMSCAN_ERR_PROCESS_GONE);
		assert_null(snap);
	}
	memscan_region_list_free(list);
	assert_int_equal(memscan_regions_read(p, NULL, &list), MEMSCAN_ERR_PROCESS_GONE);
	assert_null(list);
	memscan_process_free(p);
}

static void test_read_batch_many_requests(void **state)
{
	struct ms_read_req reqs[2000];
	memscan_ranges holes = { 0 };
	static uint8_t bufs[2000][8];
	memscan_process *p;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	/* more requests than one process_vm_readv call takes, with an unreadable one in the middle */
	for (size_t i = 0; i < 2000; i++) {
		reqs[i] = (struct ms_read_req){ .addr = f.arena + i * 8, .buf = bufs[i], .len = 8 };
		if (i == 1500)
			reqs[i] = (struct ms_read_req){
				.addr = f.holey + 8192, .buf = bufs[i], .len = 8, .holes = &holes
			};
	}
	assert_int_equal(ms_read_batch(p, reqs, 2000), MEMSCAN_OK);
	for (size_t i = 0; i < 2000; i++) {
		if (i == 1500) {
			assert_int_equal(reqs[i].hole_bytes, 8);
			continue;
		}
		assert_int_equal(reqs[i].hole_bytes, 0);
		size_t off = i * 8;
		if (off + 8 <= 0x100)
			assert_int_equal(bufs[i][3], MS_FIXTURE_ARENA_BYTE(off + 3));
	}
	assert_int_equal(holes.count, 1);
	memscan_ranges_release(&holes);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_marker_with_every_method),
		cmocka_unit_test(test_read_whole_arena_matches_formula),
		cmocka_unit_test(test_read_partial_reports_holes_not_garbage),
		cmocka_unit_test(test_read_unmapped_address),
		cmocka_unit_test(test_read_region_unmapped_after_listing),
		cmocka_unit_test(test_read_after_exit_is_process_gone),
		cmocka_unit_test(test_read_batch_many_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
