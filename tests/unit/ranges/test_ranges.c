/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_ranges: adding in order (merging, refusing disorder) and membership. */
#include <stdint.h>
#include <stdlib.h>

#include <memscan/memscan.h>

#include "testutil.h"

static void test_ranges_add_merges_and_refuses_disorder(void **state)
{
	memscan_ranges r = { 0 };

	(void)state;
	assert_int_equal(memscan_ranges_add(&r, 0x1000, 0x2000), MEMSCAN_OK);
	assert_int_equal(memscan_ranges_add(&r, 0x2000, 0x3000), MEMSCAN_OK); /* continues: merged */
	assert_int_equal(r.count, 1);
	assert_int_equal(r.items[0].end, 0x3000);
	assert_int_equal(memscan_ranges_add(&r, 0x5000, 0x5000), MEMSCAN_OK); /* empty: nothing */
	assert_int_equal(r.count, 1);
	assert_int_equal(memscan_ranges_add(&r, 0x4000, 0x4800), MEMSCAN_OK);
	assert_int_equal(r.count, 2);
	/* before the last range's end, or backwards: refused, unchanged */
	assert_int_equal(memscan_ranges_add(&r, 0x4700, 0x5000), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_ranges_add(&r, 0x9000, 0x8000), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_ranges_add(NULL, 1, 2), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.items[1].start, 0x4000);
	assert_int_equal(r.items[1].end, 0x4800);
	/* many: the array grows */
	for (uint64_t a = 0x10000; a < 0x10000 + 1000 * 0x20; a += 0x20)
		assert_int_equal(memscan_ranges_add(&r, a, a + 0x10), MEMSCAN_OK);
	assert_int_equal(r.count, 1002);
	assert_int_equal(memscan_ranges_bytes(&r), 0x2000 + 0x800 + 1000 * 0x10);
	memscan_ranges_release(&r);
}

static void test_ranges_contains(void **state)
{
	memscan_ranges r = { 0 };

	(void)state;
	assert_false(memscan_ranges_contains(NULL, 5));
	assert_false(memscan_ranges_contains(&r, 5));
	for (uint64_t a = 0; a < 100; a++)
		assert_int_equal(memscan_ranges_add(&r, a * 100 + 10, a * 100 + 20), MEMSCAN_OK);
	for (uint64_t a = 0; a < 100; a++) {
		assert_false(memscan_ranges_contains(&r, a * 100 + 9));
		assert_true(memscan_ranges_contains(&r, a * 100 + 10));
		assert_true(memscan_ranges_contains(&r, a * 100 + 19));
		assert_false(memscan_ranges_contains(&r, a * 100 + 20)); /* end is exclusive */
	}
	memscan_ranges_release(&r);
}

static void test_region_list_find(void **state)
{
	memscan_region_list *list;
	memscan_region reg = { 0 };

	(void)state;
	assert_int_equal(memscan_region_list_find(NULL, 5), SIZE_MAX);
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_find(list, 5), SIZE_MAX);
	reg.path = "";
	for (uint64_t a = 1; a <= 50; a++) {
		reg.start = a * 0x10000;
		reg.end = reg.start + 0x100 * a; /* gaps between them */
		assert_int_equal(memscan_region_list_add(list, &reg), MEMSCAN_OK);
	}
	for (size_t i = 0; i < 50; i++) {
		const memscan_region *r = memscan_region_list_get(list, i);

		assert_int_equal(memscan_region_list_find(list, r->start), i);
		assert_int_equal(memscan_region_list_find(list, r->end - 1), i);
		assert_int_equal(memscan_region_list_find(list, r->end), SIZE_MAX);
		assert_int_equal(memscan_region_list_find(list, r->start - 1), SIZE_MAX);
	}
	memscan_region_list_free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranges_add_merges_and_refuses_disorder),
		cmocka_unit_test(test_ranges_contains),
		cmocka_unit_test(test_region_list_find),
	};

	return cmocka_run_group_tests_name("ranges", tests, NULL, NULL);
}
