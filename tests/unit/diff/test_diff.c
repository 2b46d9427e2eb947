/* SPDX-License-Identifier: MIT */
/* Unit tests of diff_snapshots: runs at page and region edges, holes, appeared/vanished, expansion. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "internal.h"
#include "testutil.h"

#define PAGE 4096u

/* Adds a region [start, start+len) filled with SEED-derived bytes. */
static struct ms_snap_region *add(memscan_snapshot *s, uint64_t start, size_t len, uint8_t seed)
{
	memscan_region r = { .start = start, .end = start + len, .perms = MEMSCAN_PERM_READ, .path = "" };
	struct ms_snap_region *sr;

	assert_int_equal(ms_snapshot_add_region(s, &r, &sr), MEMSCAN_OK);
	for (size_t i = 0; i < len; i++)
		sr->data[i] = (uint8_t)(i * 13 + seed);
	return sr;
}

static memscan_snapshot *snap_new(void)
{
	memscan_snapshot *s;
	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	return s;
}

static void test_diff_identical_is_empty(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	memscan_diff *d;

	(void)state;
	add(a, 0x10000, 3 * PAGE, 1);
	add(b, 0x10000, 3 * PAGE, 1);
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	assert_true(memscan_diff_changed_bytes(d) == 0);
	assert_int_equal(memscan_diff_appeared(d)->count, 0);
	assert_int_equal(memscan_diff_vanished(d)->count, 0);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_runs_at_page_edges(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	struct ms_snap_region *nb;
	memscan_change_run run;
	memscan_diff *d;

	(void)state;
	add(a, 0x10000, 3 * PAGE, 1);
	nb = add(b, 0x10000, 3 * PAGE, 1);
	/* a run crossing the first page boundary, the first byte, and the last byte */
	for (size_t i = PAGE - 3; i < PAGE + 2; i++)
		nb->data[i] ^= 0xff;
	nb->data[0] ^= 0x01;
	nb->data[3 * PAGE - 1] ^= 0x80;
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 3);
	run = memscan_diff_run(d, 0);
	assert_true(run.address == 0x10000 && run.length == 1);
	assert_int_equal(run.old_bytes[0], 1);
	assert_int_equal(run.new_bytes[0], 0);
	run = memscan_diff_run(d, 1);
	assert_true(run.address == 0x10000 + PAGE - 3 && run.length == 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(run.new_bytes[i], (uint8_t)~run.old_bytes[i]);
	run = memscan_diff_run(d, 2);
	assert_true(run.address == 0x10000 + 3 * PAGE - 1 && run.length == 1);
	assert_true(memscan_diff_changed_bytes(d) == 7);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_runs_never_span_regions(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	struct ms_snap_region *n1, *n2;
	memscan_diff *d;

	(void)state;
	add(a, 0x10000, PAGE, 1);
	add(a, 0x11000, PAGE, 2);
	n1 = add(b, 0x10000, PAGE, 1);
	n2 = add(b, 0x11000, PAGE, 2);
	n1->data[PAGE - 1] ^= 1;
	n2->data[0] ^= 1;
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 2);
	assert_int_equal(memscan_diff_run(d, 0).region_index, 0);
	assert_int_equal(memscan_diff_run(d, 1).region_index, 1);
	assert_true(memscan_diff_run(d, 1).address == 0x11000);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_skips_holes(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	struct ms_snap_region *oa, *nb;
	memscan_diff *d;

	(void)state;
	oa = add(a, 0x10000, 4 * PAGE, 1);
	nb = add(b, 0x10000, 4 * PAGE, 1);
	/* page 1 unreadable in the old snapshot, page 2 in the new one: changes there are not reported */
	assert_int_equal(ms_ranges_append(&oa->holes, 0x11000, 0x12000), 0);
	assert_int_equal(ms_ranges_append(&nb->holes, 0x12000, 0x13000), 0);
	memset(nb->data + PAGE, 0, 2 * PAGE);
	nb->data[PAGE - 1] ^= 1;
	nb->data[3 * PAGE] ^= 1;
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 2);
	assert_true(memscan_diff_run(d, 0).address == 0x10000 + PAGE - 1);
	assert_true(memscan_diff_run(d, 1).address == 0x10000 + 3 * PAGE);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_appeared_and_vanished(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	memscan_diff *d;

	(void)state;
	add(a, 0x10000, 2 * PAGE, 1); /* shrinks to one page */
	add(a, 0x20000, PAGE, 1);     /* vanishes */
	add(b, 0x10000, PAGE, 1);
	add(b, 0x30000, PAGE, 1); /* appears */
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	assert_int_equal(memscan_diff_appeared(d)->count, 1);
	assert_true(memscan_diff_appeared(d)->items[0].start == 0x30000);
	assert_int_equal(memscan_diff_vanished(d)->count, 2);
	assert_true(memscan_diff_vanished(d)->items[0].start == 0x11000);
	assert_true(memscan_diff_vanished(d)->items[0].end == 0x12000);
	assert_true(memscan_diff_vanished(d)->items[1].start == 0x20000);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_expands_to_memory_changes(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	struct ms_snap_region *nb;
	memscan_change out[16];
	memscan_diff *d;
	size_t n;

	(void)state;
	add(a, 0x10000, PAGE, 0);
	nb = add(b, 0x10000, PAGE, 0);
	nb->data[10] = 0xAA;
	nb->data[11] = 0xBB;
	nb->data[100] = 0xCC;
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	n = memscan_diff_changes(d, 0, out, 16);
	assert_int_equal(n, 3);
	assert_true(out[0].address == 0x1000a && out[0].old_value == (uint8_t)(10 * 13) &&
	            out[0].new_value == 0xAA);
	assert_true(out[1].address == 0x1000b && out[1].new_value == 0xBB);
	assert_true(out[2].address == 0x10064 && out[2].new_value == 0xCC);
	/* paging through: start at change number 2, at most one */
	n = memscan_diff_changes(d, 2, out, 1);
	assert_int_equal(n, 1);
	assert_true(out[0].address == 0x10064);
	assert_int_equal(memscan_diff_changes(d, 3, out, 16), 0);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_random_against_reference(void **state)
{
	memscan_snapshot *a = snap_new(), *b = snap_new();
	struct ms_snap_region *na;
	const size_t len = 64 * PAGE;
	memscan_change *out = malloc(len * sizeof(*out));
	uint8_t *old_copy;
	memscan_diff *d;
	size_t expect = 0, n, k = 0;

	(void)state;
	srand(7);
	old_copy = add(a, 0x400000, len, 3)->data;
	na = add(b, 0x400000, len, 3);
	for (int i = 0; i < 500; i++) {
		size_t at = (size_t)rand() % len, run = 1 + (size_t)rand() % 40;
		for (size_t j = at; j < at + run && j < len; j++)
			na->data[j] = (uint8_t)rand();
	}
	for (size_t i = 0; i < len; i++)
		expect += old_copy[i] != na->data[i];
	assert_int_equal(memscan_diff_snapshots(a, b, &d), MEMSCAN_OK);
	assert_true(memscan_diff_changed_bytes(d) == expect);
	n = memscan_diff_changes(d, 0, out, len);
	assert_int_equal(n, expect);
	for (size_t i = 0; i < len; i++) {
		if (old_copy[i] == na->data[i])
			continue;
		assert_true(out[k].address == 0x400000 + i);
		assert_int_equal(out[k].old_value, old_copy[i]);
		assert_int_equal(out[k].new_value, na->data[i]);
		k++;
	}
	/* runs are maximal: two consecutive runs never touch */
	for (size_t i = 1; i < memscan_diff_run_count(d); i++) {
		memscan_change_run p = memscan_diff_run(d, i - 1), c = memscan_diff_run(d, i);
		assert_true(p.address + p.length < c.address);
	}
	free(out);
	memscan_diff_free(d);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

static void test_diff_built_from_runs(void **state)
{
	const uint8_t o[2] = { 1, 2 }, n[2] = { 3, 4 };
	memscan_change_run run = { .address = 0x1000, .length = 2, .old_bytes = o, .new_bytes = n };
	memscan_diff *d;

	(void)state;
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_add_run(d, &run), MEMSCAN_OK);
	/* out of order or overlapping runs are refused */
	run.address = 0x1001;
	assert_int_equal(memscan_diff_add_run(d, &run), MEMSCAN_ERR_INVALID_ARG);
	run.length = 0;
	run.address = 0x2000;
	assert_int_equal(memscan_diff_add_run(d, &run), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_diff_add_appeared(d, (memscan_range){ 5, 5 }), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_diff_run_count(d), 1);
	assert_int_equal(memscan_diff_run(d, 0).new_bytes[1], 4);
	memscan_diff_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_identical_is_empty),
		cmocka_unit_test(test_diff_runs_at_page_edges),
		cmocka_unit_test(test_diff_runs_never_span_regions),
		cmocka_unit_test(test_diff_skips_holes),
		cmocka_unit_test(test_diff_appeared_and_vanished),
		cmocka_unit_test(test_diff_expands_to_memory_changes),
		cmocka_unit_test(test_diff_random_against_reference),
		cmocka_unit_test(test_diff_built_from_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
