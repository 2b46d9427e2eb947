/* SPDX-License-Identifier: MIT */
/* Run finding: the AVX2, scalar and dispatched versions agree with a byte loop everywhere. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#define LEN 1200

static size_t ref_diff(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
	for (; i < len; i++)
		if (a[i] != b[i])
			return i;
	return len;
}

static size_t ref_same(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
	for (; i < len; i++)
		if (a[i] == b[i])
			return i;
	return len;
}

/* Every implementation against the byte loop for every start I. */
static void check_all(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i <= len; i++) {
		size_t d = ref_diff(a, b, i, len), s = ref_same(a, b, i, len);
		assert_int_equal(ms_find_diff_scalar(a, b, i, len), d);
		assert_int_equal(ms_find_same_scalar(a, b, i, len), s);
		assert_int_equal(ms_find_diff(a, b, i, len), d);
		assert_int_equal(ms_find_same(a, b, i, len), s);
#if defined(__x86_64__) || defined(__i386__)
		if (ms_have_avx2()) {
			assert_int_equal(ms_find_diff_avx2(a, b, i, len), d);
			assert_int_equal(ms_find_same_avx2(a, b, i, len), s);
		}
#endif
	}
}

static void test_single_change_every_position(void **state)
{
	uint8_t *a = malloc(LEN + 1), *b = malloc(LEN + 1);

	(void)state;
	for (size_t k = 0; k < LEN; k++)
		a[k] = (uint8_t)(k * 7 + 3);
	/* a one-byte change at each position, at each alignment of the buffers (offset 1) */
	for (size_t off = 0; off < 2; off++) {
		for (size_t p = 0; p < LEN - off; p += (p < 300 || p > LEN - 300) ? 1 : 37) {
			memcpy(b + off, a + off, LEN - off);
			b[off + p] ^= 0x5A;
			check_all(a + off, b + off, LEN - off);
		}
	}
	free(a);
	free(b);
}

static void test_random_runs(void **state)
{
	uint8_t *a = malloc(LEN), *b = malloc(LEN);
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 60; round++) {
		for (size_t k = 0; k < LEN; k++)
			a[k] = b[k] = (uint8_t)rand_r(&seed);
		/* runs of random lengths, some long (several vectors), some of one byte */
		for (int r = 0; r < 1 + round % 9; r++) {
			size_t at = (size_t)rand_r(&seed) % LEN,
			       n = 1 + (size_t)rand_r(&seed) % (round % 3 ? 8 : 300);
			for (size_t k = at; k < at + n && k < LEN; k++)
				b[k] = (uint8_t)(a[k] + 1 + rand_r(&seed) % 255);
		}
		check_all(a, b, LEN);
	}
	free(a);
	free(b);
}

/* Equal bytes inside a changed stretch: find_same must stop at the first one, in every lane. */
static void test_equal_byte_in_every_lane(void **state)
{
	uint8_t a[256], b[256];

	(void)state;
	for (size_t p = 0; p < sizeof(a); p++) {
		for (size_t k = 0; k < sizeof(a); k++) {
			a[k] = (uint8_t)k;
			b[k] = (uint8_t)(k + 1);
		}
		b[p] = a[p];
		check_all(a, b, sizeof(a));
	}
}

static void test_scalar_switch(void **state)
{
	uint8_t a[64] = { 0 }, b[64] = { 0 };

	(void)state;
	b[40] = 1;
	ms_set_simd(0);
	assert_int_equal(ms_have_avx2(), 0);
	assert_int_equal(ms_find_diff(a, b, 0, sizeof(a)), 40);
	assert_int_equal(ms_find_same(a, b, 40, sizeof(a)), 41);
	ms_set_simd(1);
	assert_int_equal(ms_find_diff(a, b, 0, sizeof(a)), 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_change_every_position),
		cmocka_unit_test(test_random_runs),
		cmocka_unit_test(test_equal_byte_in_every_lane),
		cmocka_unit_test(test_scalar_switch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
