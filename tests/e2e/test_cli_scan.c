/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan scan`: markers, the straddling match, read modes, options, JSON. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>

/* The expected text output: one "0xADDR  [anon]" line per address. */
static void expect_lines(char *buf, size_t size, const uint64_t *addrs, size_t n)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(buf + off, size - off, "0x%llx  [anon]\n", (unsigned long long)addrs[i]);
}

static void test_markers(void **state)
{
	ms_fixture *f = *state;
	char expect[256];
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER);
	assert_int_equal(r.status, 0);
	expect_lines(expect, sizeof(expect), f->marker, 3);
	assert_string_equal(r.out, expect);
	assert_string_equal(r.err, "");
	ms_run_free(&r);

	/* wildcards and no spaces */
	RUN(&r, "scan", ms_fixture_pid_str(f), "-p", "4D5A??004D5343414E2D46495?");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

static void test_straddle(void **state)
{
	ms_fixture *f = *state;
	char expect[64];
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_STRADDLE);
	assert_int_equal(r.status, 0);
	expect_lines(expect, sizeof(expect), &f->straddle, 1);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

static void test_no_memmap_identical(void **state)
{
	static const char *const patterns[] = { MS_FIXTURE_MARKER, MS_FIXTURE_STRADDLE, "5C 5C 5C 5C ?? 5C" };
	ms_fixture *f = *state;
	ms_run a, b;
	size_t i;

	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		RUN(&a, "scan", ms_fixture_pid_str(f), "--pattern", patterns[i], "--json");
		RUN(&b, "scan", ms_fixture_pid_str(f), "--pattern", patterns[i], "--json", "--no-memmap");
		assert_int_equal(a.status, 0);
		assert_int_equal(b.status, 0);
		assert_string_equal(a.out, b.out);
		ms_run_free(&a);
		ms_run_free(&b);
	}
}

static void test_align_max(void **state)
{
	ms_fixture *f = *state;
	char expect[256];
	ms_run r;

	/* marker2 sits at arena+0x4101, which is not 16-aligned */
	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--align", "16");
	assert_int_equal(r.status, 0);
	expect_lines(expect, sizeof(expect), f->marker, 2);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--max", "1");
	assert_int_equal(r.status, 0);
	expect_lines(expect, sizeof(expect), f->marker, 1);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

static void test_filters(void **state)
{
	ms_fixture *f = *state;
	char range[64], expect[256];
	ms_run r;

	snprintf(range, sizeof(range), "0x%llx-0x%llx", (unsigned long long)(f->arena + 0x2000),
	         (unsigned long long)(f->arena + f->arena_len));
	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--range", range);
	assert_int_equal(r.status, 0);
	expect_lines(expect, sizeof(expect), f->marker + 1, 2);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--kind", "heap,stack,file");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	ms_run_free(&r);

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--kind", "anon", "--perms",
	    "rw");
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 3);
	ms_run_free(&r);
}

static void test_json(void **state)
{
	ms_fixture *f = *state;
	char expect[512];
	size_t i, off = 0;
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", MS_FIXTURE_MARKER, "--json");
	assert_int_equal(r.status, 0);
	for (i = 0; i < 3; i++)
		off +=
		    (size_t)snprintf(expect + off, sizeof(expect) - off,
		                     "{\"address\":\"0x%llx\",\"region_start\":\"0x%llx\",\"path\":\"\"}\n",
		                     (unsigned long long)f->marker[i], (unsigned long long)f->arena);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

/* No match: nothing on stdout, exit 0, and stderr says what was searched. */
static void test_no_match(void **state)
{
	ms_fixture *f = *state;
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", "4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 99",
	    "--range", "0-1000000");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	assert_non_null(
	    strstr(r.err, "no match for '4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 99' in 0 regions (0 B)"));
	ms_run_free(&r);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--pattern", "4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 4D 5A 99",
	    "--json");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "no match for"));
	assert_non_null(strstr(r.err, " regions ("));
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markers),
		cmocka_unit_test(test_straddle),
		cmocka_unit_test(test_no_memmap_identical),
		cmocka_unit_test(test_align_max),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_no_match),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
