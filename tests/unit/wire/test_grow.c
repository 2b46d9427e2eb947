/* SPDX-License-Identifier: MIT */
/* Unit tests of wire_grow (proto): doubling from a first allocation, the caller's maximum, size_t overflow,
 * and requests that need no growth (the cases are in tests/unit/grow/grow_cases.h). */
#include "grow.h"

#define GROW             wire_grow
#define GROW_NEXT        wire_grow_next
#define GROW_FIRST_BYTES WIRE_GROW_FIRST_BYTES
#define GROW_ERR_LIMIT   (-E2BIG)
#define GROW_ERR_NOMEM   (-ENOMEM)
#include "../grow/grow_cases.h"

int main(void)
{
	const struct CMUnitTest tests[] = { GROW_TESTS };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
