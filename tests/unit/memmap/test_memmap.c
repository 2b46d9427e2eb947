/* SPDX-License-Identifier: MIT */
/* Unit tests of MappedMemory and MemoryMapper against the fixture. */
#include <string.h>

#include <memscan/memscan.h>

#include "testutil.h"

/* The fixture's region that starts at ADDR. */
static const memscan_region *find_region(const memscan_region_list *list, uint64_t addr)
{
	for (size_t i = 0; i < memscan_region_list_count(list); i++)
		if (memscan_region_list_get(list, i)->start == addr)
			return memscan_region_list_get(list, i);
	return NULL;
}

static void test_mapped_region_and_refresh(void **state)
{
	memscan_region_list *list;
	const memscan_region *arena;
	memscan_mapped *m;
	memscan_process *p;
	ms_fixture f;
	size_t off;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(p, NULL, &list), MEMSCAN_OK);
	arena = find_region(list, f.arena);
	assert_non_null(arena);
	assert_int_equal(memscan_mapped_new(p, arena, &m), MEMSCAN_OK);
	assert_true(memscan_mapped_address(m) == f.arena);
	assert_int_equal(memscan_mapped_size(m), f.arena_len);
	assert_int_equal(memscan_mapped_holes(m)->count, 0);
	off = f.marker[0] - f.arena;
	assert_int_equal(memscan_mapped_data(m)[off], 0x4D);
	assert_int_equal(memscan_mapped_data(m)[5], MS_FIXTURE_ARENA_BYTE(5));
	/* the copy is a snapshot: it changes only on refresh */
	assert_int_equal(ms_fixture_cmd(&f, "set %s 77", ms_hex(f.arena + 5)), 0);
	assert_int_equal(memscan_mapped_data(m)[5], MS_FIXTURE_ARENA_BYTE(5));
	assert_int_equal(memscan_mapped_refresh(m, p), MEMSCAN_OK);
	assert_int_equal(memscan_mapped_data(m)[5], 0x77);
	assert_int_equal(memscan_mapped_refresh(m, p), MEMSCAN_OK);
	assert_int_equal(memscan_mapped_data(m)[5], 0x77);
	/* a failed refresh keeps the previous contents */
	assert_int_equal(ms_fixture_cmd(&f, "unmap-arena"), 0);
	assert_int_equal(memscan_mapped_refresh(m, p), MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(memscan_mapped_data(m)[5], 0x77);
	memscan_mapped_free(m);
	memscan_region_list_free(list);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

static void test_mapper_indexes_and_holes(void **state)
{
	memscan_region_list *list;
	memscan_mapper *mapper;
	memscan_process *p;
	size_t a, h;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(p, NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_mapper_new(&mapper), MEMSCAN_OK);
	assert_true(memscan_mapper_is_empty(mapper));
	assert_int_equal(memscan_mapper_map_region(mapper, p, find_region(list, f.arena), &a), MEMSCAN_OK);
	assert_int_equal(memscan_mapper_map_region(mapper, p, find_region(list, f.holey), &h), MEMSCAN_OK);
	assert_int_equal(a, 0);
	assert_int_equal(h, 1);
	assert_int_equal(memscan_mapper_len(mapper), 2);
	assert_false(memscan_mapper_is_empty(mapper));
	assert_null(memscan_mapper_get(mapper, 2));
	assert_int_equal(memscan_mapped_holes(memscan_mapper_get(mapper, h))->count, 1);
	assert_true(memscan_mapped_holes(memscan_mapper_get(mapper, h))->items[0].start == f.holey + 4096);
	assert_int_equal(memscan_mapped_data(memscan_mapper_get(mapper, h))[0], 0x5C);
	assert_string_equal(memscan_mapped_region(memscan_mapper_get(mapper, h))->path,
	                    find_region(list, f.holey)->path);
	memscan_mapper_clear(mapper);
	assert_true(memscan_mapper_is_empty(mapper));
	memscan_mapper_free(mapper);
	memscan_region_list_free(list);
	memscan_process_free(p);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapped_region_and_refresh),
		cmocka_unit_test(test_mapper_indexes_and_holes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
