/* SPDX-License-Identifier: MIT */
/* End-to-end tests of what the CLI prints from a target's memory: bytes a target controls never reach
 * the terminal as control sequences (C0, DEL, C1 such as CSI, or bytes that are not UTF-8). */
#include "cliutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h" /* cli/output.c is linked in: its functions are tested directly too */

/* A string the target holds: X, CSI (C2 9B, a C1 control in UTF-8), "[31m", Y. */
static const char csi_text[] = "X\xc2\x9b[31mY";

static void test_value_with_c1_is_escaped(void **state)
{
	ms_fixture *f = *state;
	uint64_t at = f->arena + 0x100;
	ms_run r;

	ms_fixture_poke(f, at, csi_text, sizeof(csi_text) - 1);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", csi_text, "--range",
	    "0-7fffffffffff");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "X\\u009b[31mY"));
	assert_null(strchr(r.out, '\x9b')); /* not one raw C1 byte */
	ms_run_free(&r);

	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", csi_text, "--json");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"value\":\"X\\u009b[31mY\""));
	assert_null(strchr(r.out, '\x9b'));
	ms_run_free(&r);
}

/* Sizes for people: the unit is chosen after rounding. */
static void test_sizes(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 10235, "10 KiB" },
		{ 135168, "132 KiB" },
		{ 1048575, "1.0 MiB" },
		{ (1ull << 30) - 4096, "1.0 GiB" },
		{ 1610612736, "1.5 GiB" },
		{ UINT64_MAX, "16 EiB" },
	};
	char buf[OUT_SIZE_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(out_size(cases[i].bytes, buf), cases[i].text);
}

/* Text output escapes what could steer a terminal and keeps UTF-8 text as it is. */
static void test_text_escapes(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	out_text_str(f, "a\\b\x1b[1m\xc2\x9b\xff caf\xc3\xa9");
	fclose(f);
	assert_string_equal(buf, "a\\\\b\\x1b[1m\\xc2\\x9b\\xff caf\xc3\xa9");
	assert_int_equal(out_text_width("caf\xc3\xa9"), 4);
	assert_int_equal(out_text_width("\x1b"), 4);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_text_escapes),
		cmocka_unit_test(test_value_with_c1_is_escaped),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
