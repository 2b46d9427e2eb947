/* SPDX-License-Identifier: MIT */
/* Unit tests of ms_grow (libmemscan): doubling from a first allocation, the caller's maximum, size_t
 * overflow, and requests that need no growth (the cases are in tests/unit/grow/grow_cases.h). */
#include "internal.h"

#define GROW             ms_grow
#define GROW_NEXT        ms_grow_next
#define GROW_FIRST_BYTES MS_GROW_FIRST_BYTES
#define GROW_ERR_LIMIT   MEMSCAN_ERR_LIMIT
#define GROW_ERR_NOMEM   MEMSCAN_ERR_NO_MEMORY
#include "../grow/grow_cases.h"

int main(void)
{
	const struct CMUnitTest tests[] = { GROW_TESTS };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
