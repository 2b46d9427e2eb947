/* SPDX-License-Identifier: MIT */
/* The cases of the growth helpers' unit tests, shared by libmemscan's ms_grow and proto's wire_grow
 * (the same contract on both sides of the layering): the includer defines GROW, GROW_NEXT,
 * GROW_FIRST_BYTES and the errors GROW_ERR_LIMIT and GROW_ERR_NOMEM (libmemscan returns memscan_err,
 * proto -errno: each layer's convention). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"

struct grow_item {
	uint64_t a, b;
};

static void test_grow_zero_need_allocates_nothing(void **state)
{
	struct grow_item *items = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(GROW(&items, &cap, 0, sizeof(*items), 100), 0);
	assert_null(items);
	assert_int_equal(cap, 0);
	assert_int_equal(GROW_NEXT(0, 0, sizeof(*items), 100), 0);
}

static void test_grow_first_then_doubles(void **state)
{
	struct grow_item *items = NULL;
	size_t cap = 0, first = GROW_FIRST_BYTES / sizeof(*items);

	(void)state;
	assert_int_equal(GROW(&items, &cap, 1, sizeof(*items), 1000), 0);
	assert_non_null(items);
	assert_int_equal(cap, first);
	items[cap - 1].a = 7; /* the whole capacity is usable */
	assert_int_equal(GROW(&items, &cap, first, sizeof(*items), 1000), 0);
	assert_int_equal(cap, first); /* room already there: unchanged */
	assert_int_equal(GROW(&items, &cap, first + 1, sizeof(*items), 1000), 0);
	assert_int_equal(cap, 2 * first);
	assert_int_equal(items[first - 1].a, 7); /* contents kept */
	assert_int_equal(GROW(&items, &cap, 5 * first, sizeof(*items), 1000), 0);
	assert_int_equal(cap, 8 * first); /* doubled until it fits */
	free(items);
}

static void test_grow_large_element_first_holds_one(void **state)
{
	(void)state;
	assert_int_equal(GROW_NEXT(0, 1, 2 * GROW_FIRST_BYTES, 10), 1);
	assert_int_equal(GROW_NEXT(0, 3, 2 * GROW_FIRST_BYTES, 10), 4);
}

static void test_grow_clamped_to_max(void **state)
{
	uint8_t *bytes = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(GROW(&bytes, &cap, 300, 1, 700), 0);
	assert_int_equal(cap, 512);
	assert_int_equal(GROW(&bytes, &cap, 513, 1, 700), 0);
	assert_int_equal(cap, 700); /* doubling would pass the maximum: the maximum */
	assert_int_equal(GROW(&bytes, &cap, 700, 1, 700), 0);
	assert_int_equal(cap, 700);
	bytes[699] = 1;
	free(bytes);
}

static void test_grow_over_max_refused_unchanged(void **state)
{
	struct grow_item *items = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(GROW(&items, &cap, 64, sizeof(*items), 64), 0);
	struct grow_item *before = items;
	assert_int_equal(GROW(&items, &cap, 65, sizeof(*items), 64), GROW_ERR_LIMIT);
	assert_ptr_equal(items, before);
	assert_int_equal(cap, 64);
	assert_int_equal(GROW(&items, &cap, 1, sizeof(*items), 0), 0); /* fits already */
	free(items);
	items = NULL;
	cap = 0;
	assert_int_equal(GROW(&items, &cap, 1, sizeof(*items), 0), GROW_ERR_LIMIT);
	assert_null(items);
}

static void test_grow_size_overflow_refused(void **state)
{
	struct grow_item *items = NULL;
	size_t cap = 0;

	(void)state;
	/* NEED elements would take more than SIZE_MAX bytes: refused before realloc sees a wrapped size */
	assert_int_equal(GROW(&items, &cap, SIZE_MAX / 8, sizeof(*items), SIZE_MAX), GROW_ERR_NOMEM);
	assert_null(items);
	assert_int_equal(cap, 0);
	assert_int_equal(GROW_NEXT(0, SIZE_MAX / 8, sizeof(*items), SIZE_MAX), 0);
	assert_int_equal(GROW_NEXT(0, 1, 0, 10), 0); /* zero-sized elements are a caller's error */
	/* doubling past SIZE_MAX / ELEM stops at what is needed */
	assert_int_equal(GROW_NEXT(SIZE_MAX / 32 + 1, SIZE_MAX / 32 + 2, sizeof(*items), SIZE_MAX),
	                 SIZE_MAX / 32 + 2);
}

#define GROW_TESTS                                                                                           \
	cmocka_unit_test(test_grow_zero_need_allocates_nothing),                                             \
	    cmocka_unit_test(test_grow_first_then_doubles),                                                  \
	    cmocka_unit_test(test_grow_large_element_first_holds_one),                                       \
	    cmocka_unit_test(test_grow_clamped_to_max),                                                      \
	    cmocka_unit_test(test_grow_over_max_refused_unchanged),                                          \
	    cmocka_unit_test(test_grow_size_overflow_refused)
