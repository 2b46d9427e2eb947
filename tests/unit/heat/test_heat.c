/* SPDX-License-Identifier: MIT */
/* Change statistics: cells and regions counted once per sample, bytes summed, time bins, the cell
 * limit and bad input, from hand-made diffs and from a detector watching the fixture. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define BASE 0x10000000ull

/* Two regions: [BASE, BASE + 64 KiB) anon and [BASE + 64 KiB, BASE + 96 KiB) "/lib/x". */
static memscan_region_list *two_regions(void)
{
	memscan_region_list *list;
	memscan_region r = { .perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE, .kind = MEMSCAN_KIND_ANON };

	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	r.start = BASE, r.end = BASE + 0x10000, r.path = "";
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = BASE + 0x10000, r.end = BASE + 0x18000, r.path = "/lib/x", r.kind = MEMSCAN_KIND_FILE;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	return list;
}

static void add_run(memscan_diff *d, uint64_t addr, size_t len, size_t region)
{
	static uint8_t zeros[0x4000], ones[0x4000];
	memscan_change_run run = { addr, len, region, zeros, ones };

	assert_true(len <= sizeof(zeros));
	memset(ones, 1, sizeof(ones));
	assert_int_equal(memscan_diff_add_run(d, &run), MEMSCAN_OK);
}

static memscan_heat_cell cell_at(memscan_heat *h, size_t i)
{
	memscan_heat_cell c;

	assert_int_equal(memscan_heat_cell_get(h, i, &c), MEMSCAN_OK);
	return c;
}

static void test_heat_hand_diffs(void **state)
{
	memscan_heat_options o = { .cell_size = 4096, .bins = 2 };
	memscan_region_list *list = two_regions();
	memscan_diff *d1, *d2;
	memscan_heat *h;
	memscan_heat_region hr;
	memscan_heat_cell c;

	(void)state;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	/* sample 1: two runs in cell 0 (counted once), a run across cells 1 and 2, one in region 2 */
	assert_int_equal(memscan_diff_new(&d1), MEMSCAN_OK);
	add_run(d1, BASE + 0x10, 4, 0);
	add_run(d1, BASE + 0x20, 2, 0);
	add_run(d1, BASE + 0x1ffe, 4, 0);
	add_run(d1, BASE + 0x10000, 1, 1);
	/* sample 2: cell 0 again, and cell 5 */
	assert_int_equal(memscan_diff_new(&d2), MEMSCAN_OK);
	add_run(d2, BASE + 0xfff, 1, 0);
	add_run(d2, BASE + 0x5000, 0x1000, 0);
	assert_int_equal(memscan_heat_add(h, d1, list, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d2, list, 1), MEMSCAN_OK);

	assert_int_equal(memscan_heat_samples(h), 2);
	assert_int_equal(memscan_heat_changed_bytes(h), 4 + 2 + 4 + 1 + 1 + 0x1000);
	assert_int_equal(memscan_heat_cell_count(h), 5);
	c = cell_at(h, 0);
	assert_int_equal(c.address, BASE);
	assert_int_equal(c.size, 4096);
	assert_int_equal(c.changes, 2);
	assert_int_equal(c.bytes, 7);
	assert_int_equal(c.bins[0], 1);
	assert_int_equal(c.bins[1], 1);
	c = cell_at(h, 1);
	assert_int_equal(c.address, BASE + 0x1000);
	assert_int_equal(c.changes, 1);
	assert_int_equal(c.bytes, 2);
	c = cell_at(h, 2);
	assert_int_equal(c.address, BASE + 0x2000);
	assert_int_equal(c.bytes, 2);
	c = cell_at(h, 3);
	assert_int_equal(c.address, BASE + 0x5000);
	assert_int_equal(c.bytes, 0x1000);
	assert_int_equal(c.bins[0], 0);
	assert_int_equal(c.bins[1], 1);
	c = cell_at(h, 4);
	assert_int_equal(c.address, BASE + 0x10000);
	assert_int_equal(c.region, 1);
	assert_int_equal(memscan_heat_cell_get(h, 5, &c), MEMSCAN_ERR_NOT_FOUND);

	assert_int_equal(memscan_heat_region_count(h), 2);
	assert_int_equal(memscan_heat_region_get(h, 0, &hr), MEMSCAN_OK);
	assert_int_equal(hr.region.start, BASE);
	assert_int_equal(hr.changes, 2);
	assert_int_equal(hr.cells, 4);
	assert_int_equal(hr.bytes, 4 + 2 + 4 + 1 + 0x1000);
	assert_int_equal(memscan_heat_region_get(h, 1, &hr), MEMSCAN_OK);
	assert_string_equal(hr.region.path, "/lib/x");
	assert_int_equal(hr.changes, 1);
	assert_int_equal(hr.cells, 1);
	assert_int_equal(memscan_heat_region_get(h, 2, &hr), MEMSCAN_ERR_NOT_FOUND);

	memscan_diff_free(d1);
	memscan_diff_free(d2);
	memscan_heat_free(h);
	memscan_region_list_free(list);
}

/* A sample handed over in parts (a streamed detection): what changed in several parts counts once. */
static void test_heat_add_more_parts(void **state)
{
	memscan_heat_options o = { .cell_size = 4096, .bins = 2 };
	memscan_region_list *list = two_regions();
	memscan_diff *p1, *p2;
	memscan_heat *h;
	memscan_heat_region hr;
	memscan_heat_cell c;

	(void)state;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&p1), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&p2), MEMSCAN_OK);
	add_run(p1, BASE + 0x10, 4, 0);
	add_run(p2, BASE + 0x20, 2, 0); /* the same cell and region, in the second part */
	add_run(p2, BASE + 0x10000, 1, 1);
	/* no sample begun yet: a part has nothing to belong to */
	assert_int_equal(memscan_heat_add_more(h, p2, list, 0), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_heat_add(h, p1, list, 1), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add_more(h, p2, list, 1), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add_more(h, p2, list, 2), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_heat_samples(h), 1);
	assert_int_equal(memscan_heat_changed_bytes(h), 4 + 2 + 1);
	c = cell_at(h, 0);
	assert_int_equal(c.changes, 1);
	assert_int_equal(c.bytes, 4 + 2);
	assert_int_equal(c.bins[1], 1);
	assert_int_equal(memscan_heat_region_get(h, 0, &hr), MEMSCAN_OK);
	assert_int_equal(hr.changes, 1);
	assert_int_equal(hr.bytes, 4 + 2);
	assert_int_equal(memscan_heat_region_get(h, 1, &hr), MEMSCAN_OK);
	assert_int_equal(hr.changes, 1);
	assert_int_equal(hr.bytes, 1);

	memscan_diff_free(p1);
	memscan_diff_free(p2);
	memscan_heat_free(h);
	memscan_region_list_free(list);
}

/* Many cells (the hash table grows), a one-byte cell size, a large cell, no regions. */
static void test_heat_sizes(void **state)
{
	memscan_heat_options o = { .cell_size = 1 };
	memscan_heat *h;
	memscan_diff *d;
	memscan_heat_cell c;

	(void)state;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	add_run(d, BASE, 3000, 0);
	assert_int_equal(memscan_heat_add(h, d, NULL, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d, NULL, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_cell_count(h), 3000);
	for (size_t i = 0; i < 3000; i++) {
		c = cell_at(h, i);
		assert_int_equal(c.address, BASE + i);
		assert_int_equal(c.changes, 2);
		assert_int_equal(c.region, SIZE_MAX);
		assert_null(c.bins);
	}
	assert_int_equal(memscan_heat_region_count(h), 0);
	memscan_heat_free(h);

	o.cell_size = 1 << 20;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d, NULL, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_cell_count(h), 1);
	c = cell_at(h, 0);
	assert_int_equal(c.address, BASE & ~(uint64_t)0xfffff);
	assert_int_equal(c.bytes, 3000);
	memscan_heat_free(h);
	memscan_diff_free(d);

	/* the top cell of the address space (vsyscall's page lies there), of the largest size: its end
	 * is 2^64, which does not fit in 64 bits; the bytes are still counted right */
	o.cell_size = (uint64_t)1 << 30;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	add_run(d, 0xffffffffff600000ull, 16, 0);
	add_run(d, 0xffffffffff600ff0ull, 16, 0);
	assert_int_equal(memscan_heat_add(h, d, NULL, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_cell_count(h), 1);
	c = cell_at(h, 0);
	assert_int_equal(c.address, 0xffffffffc0000000ull);
	assert_int_equal(c.bytes, 32);
	memscan_heat_free(h);
	memscan_diff_free(d);
}

/* One region list of N anonymous pages, each followed by a gap, with path PATH. */
static memscan_region_list *pages_list(size_t n, const char *path, uint64_t len)
{
	memscan_region r = { .perms = MEMSCAN_PERM_READ, .kind = MEMSCAN_KIND_ANON, .path = path };
	memscan_region_list *list;

	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	for (size_t i = 0; i < n; i++) {
		r.start = BASE + 0x2000 * (uint64_t)i, r.end = r.start + len;
		assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	}
	return list;
}

/* Regions are told apart by start, end and path, however many there are (the table that finds them
 * grows): 3000 regions changing twice each are 3000 regions of two changes; the same start with
 * another end or path is another region. */
static void test_heat_many_regions(void **state)
{
	memscan_region_list *many = pages_list(3000, "", 0x1000), *other_path = pages_list(1, "/b", 0x1000);
	memscan_region_list *other_end = pages_list(1, "", 0x2000);
	memscan_heat_region hr;
	memscan_diff *d, *one;
	memscan_heat *h;

	(void)state;
	assert_int_equal(memscan_heat_new(NULL, &h), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&one), MEMSCAN_OK);
	for (size_t i = 0; i < 3000; i++)
		add_run(d, BASE + 0x2000 * (uint64_t)i + 8, 1, i);
	add_run(one, BASE + 8, 1, 0);
	assert_int_equal(memscan_heat_add(h, d, many, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d, many, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_region_count(h), 3000);
	for (size_t i = 0; i < 3000; i++) {
		assert_int_equal(memscan_heat_region_get(h, i, &hr), MEMSCAN_OK);
		assert_int_equal(hr.region.start, BASE + 0x2000 * (uint64_t)i);
		assert_int_equal(hr.changes, 2);
	}
	assert_int_equal(memscan_heat_add(h, one, other_path, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, one, other_end, 0), MEMSCAN_OK);
	assert_int_equal(memscan_heat_region_count(h), 3002);
	assert_int_equal(memscan_heat_region_get(h, 0, &hr), MEMSCAN_OK);
	assert_int_equal(hr.changes, 2);
	assert_int_equal(memscan_heat_region_get(h, 3001, &hr), MEMSCAN_OK);
	assert_int_equal(hr.region.end, BASE + 0x2000);
	assert_int_equal(hr.changes, 1);
	memscan_diff_free(d);
	memscan_diff_free(one);
	memscan_heat_free(h);
	memscan_region_list_free(many);
	memscan_region_list_free(other_path);
	memscan_region_list_free(other_end);
}

static void test_heat_limits_and_bad_input(void **state)
{
	memscan_heat_options o = { .cell_size = 4096, .max_cells = 2, .bins = 4 };
	memscan_region_list *list = two_regions();
	memscan_heat *h;
	memscan_diff *d;

	(void)state;
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	add_run(d, BASE, 0x3000, 0); /* three cells */
	assert_int_equal(memscan_heat_add(h, d, list, 0), MEMSCAN_ERR_LIMIT);
	assert_int_equal(memscan_heat_cell_count(h), 2);
	assert_int_equal(memscan_heat_add(h, d, list, 4), MEMSCAN_ERR_INVALID_ARG); /* bin out of range */
	assert_int_equal(memscan_heat_add(NULL, d, list, 0), MEMSCAN_ERR_INVALID_ARG);
	/* the maximum moves: never below the cells held; lowered to them, a new cell is LIMIT, raised,
	 * the third cell is counted */
	assert_int_equal(memscan_heat_set_max_cells(h, 1), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_heat_set_max_cells(h, ((uint64_t)1 << 26) + 1), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_heat_set_max_cells(NULL, 2), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_heat_set_max_cells(h, 2), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d, list, 1), MEMSCAN_ERR_LIMIT);
	assert_int_equal(memscan_heat_cell_count(h), 2);
	assert_int_equal(memscan_heat_set_max_cells(h, 3), MEMSCAN_OK);
	assert_int_equal(memscan_heat_add(h, d, list, 1), MEMSCAN_OK);
	assert_int_equal(memscan_heat_cell_count(h), 3);
	assert_int_equal(memscan_heat_add(h, d, list, 1), MEMSCAN_OK); /* the same three: no new cell */
	memscan_heat_free(h);
	memscan_diff_free(d);

	/* a run outside the region its index names */
	assert_int_equal(memscan_heat_new(NULL, &h), MEMSCAN_OK);
	assert_int_equal(memscan_heat_cell_size(h), 4096);
	assert_int_equal(memscan_diff_new(&d), MEMSCAN_OK);
	add_run(d, BASE + 0x10000, 1, 0);
	assert_int_equal(memscan_heat_add(h, d, list, 0), MEMSCAN_ERR_INVALID_ARG);
	memscan_heat_free(h);
	memscan_diff_free(d);

	o = (memscan_heat_options){ .cell_size = 3000 };
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_ERR_INVALID_ARG);
	assert_null(h);
	o = (memscan_heat_options){ .bins = MEMSCAN_HEAT_BINS_MAX + 1 };
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_ERR_INVALID_ARG);
	o = (memscan_heat_options){ .max_cells = UINT64_MAX };
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_ERR_INVALID_ARG);
	memscan_heat_free(NULL);
	memscan_region_list_free(list);
}

/* A detector watching the fixture's arena: the fixture writes page 2 in every sample, page 5 in every
 * second one and page 7 once; the heat counts exactly that. */
static void test_heat_fixture(void **state)
{
	memscan_heat_options o = { .cell_size = 4096, .bins = 3 };
	memscan_process *p = NULL;
	memscan_region_list *arena = NULL;
	memscan_detector *det = NULL;
	memscan_heat *h = NULL;
	memscan_heat_region hr;
	ms_fixture f;
	const size_t page = memscan_page_size(), samples = 6;

	(void)state;
	assert_int_equal(ms_fixture_start_arena(&f, NULL, &p, &arena), 0);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, arena), MEMSCAN_OK);
	assert_int_equal(memscan_heat_new(&o, &h), MEMSCAN_OK);
	for (size_t s = 0; s < samples; s++) {
		memscan_diff *d = NULL;

		assert_int_equal(
		    ms_fixture_cmd(&f, "bump %llx", (unsigned long long)(f.arena + 2 * page + 9)), 0);
		if (s % 2 == 0)
			assert_int_equal(ms_fixture_cmd(&f, "fill %llx 20 %zx",
			                                (unsigned long long)(f.arena + 5 * page), s + 1),
			                 0);
		if (s == 3)
			assert_int_equal(
			    ms_fixture_cmd(&f, "set %llx 0", (unsigned long long)(f.arena + 8 * page - 1)),
			    0);
		assert_int_equal(memscan_detector_detect_update(det, p, arena, &d), MEMSCAN_OK);
		assert_int_equal(memscan_heat_add(h, d, arena, (uint32_t)(s / 2)), MEMSCAN_OK);
		memscan_diff_free(d);
	}
	assert_int_equal(memscan_heat_samples(h), samples);
	assert_int_equal(memscan_heat_cell_count(h), 3);
	if (page == 4096) {
		memscan_heat_cell c = cell_at(h, 0);
		assert_int_equal(c.address, f.arena + 2 * page);
		assert_int_equal(c.changes, samples);
		assert_int_equal(c.bins[0], 2);
		assert_int_equal(c.bins[2], 2);
		c = cell_at(h, 1);
		assert_int_equal(c.address, f.arena + 5 * page);
		assert_int_equal(c.changes, samples / 2);
		assert_int_equal(c.bytes, 0x20 * (samples / 2));
		assert_int_equal(c.bins[1], 1);
		c = cell_at(h, 2);
		assert_int_equal(c.address, f.arena + 7 * page);
		assert_int_equal(c.changes, 1);
		assert_int_equal(c.bins[1], 1);
	}
	assert_int_equal(memscan_heat_region_count(h), 1);
	assert_int_equal(memscan_heat_region_get(h, 0, &hr), MEMSCAN_OK);
	assert_int_equal(hr.region.start, f.arena);
	assert_int_equal(hr.changes, samples);
	assert_int_equal(hr.cells, 3);
	memscan_heat_free(h);
	memscan_detector_free(det);
	memscan_region_list_free(arena);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heat_hand_diffs),           cmocka_unit_test(test_heat_add_more_parts),
		cmocka_unit_test(test_heat_many_regions),         cmocka_unit_test(test_heat_sizes),
		cmocka_unit_test(test_heat_limits_and_bad_input), cmocka_unit_test(test_heat_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
