/* SPDX-License-Identifier: MIT */
/* Unit tests of ms_buf_alloc: zeroed buffers; in AddressSanitizer builds, the bytes past the end are
 * poisoned. */
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Sizes around a page and around the huge-page threshold, where an mmap'd buffer has slack after it. */
static const size_t buf_sizes[] = { 1, 7, 4095, 4096, 4097, 65536 + 3, (2u << 20) + 5 };

static void test_buf_zeroed_and_writable(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(buf_sizes) / sizeof(buf_sizes[0]); i++) {
		size_t len = buf_sizes[i];
		uint8_t *p = ms_buf_alloc(len);

		assert_non_null(p);
		assert_int_equal(p[0], 0);
		assert_int_equal(p[len - 1], 0);
		memset(p, 0x5A, len);
		assert_int_equal(p[len / 2], 0x5A);
		ms_buf_free(p, len);
	}
	ms_buf_free(NULL, 0);
}

/* An overrun of any buffer is reported: the byte after the last one is poisoned (with mmap'd
 * buffers it was not, up to the end of the page). */
static void test_buf_tail_poisoned(void **state)
{
	(void)state;
#ifdef TEST_ASAN
	for (size_t i = 0; i < sizeof(buf_sizes) / sizeof(buf_sizes[0]); i++) {
		size_t len = buf_sizes[i];
		uint8_t *p = ms_buf_alloc(len);

		assert_non_null(p);
		assert_false(__asan_address_is_poisoned(p));
		assert_false(__asan_address_is_poisoned(p + len - 1));
		assert_true(__asan_address_is_poisoned(p + len));
		assert_true(__asan_address_is_poisoned(p - 1));
		ms_buf_free(p, len);
	}
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_zeroed_and_writable),
		cmocka_unit_test(test_buf_tail_poisoned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
