/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the value commands on a target with more values than the default candidate
 * limit (16M): a printed scan with --max N, narrowing an unknown-value set of all of them, matches,
 * and the hunt's snapshot then '='. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>

#define BIG_PAGES "4352" /* a 17 MiB arena: 17.8M u8 slots, more than MEMSCAN_VALUE_SET_MAX_DEFAULT */

static ms_fixture big;

static int big_setup(void **state)
{
	const char *args[] = { "--pages", BIG_PAGES, NULL };

	(void)state;
	return ms_fixture_start(&big, args);
}

static int big_teardown(void **state)
{
	(void)state;
	ms_fixture_stop(&big);
	return 0;
}

static const char *arena_range(void)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)big.arena,
	         (unsigned long long)(big.arena + big.arena_len));
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A printed scan with --max N prints the first N matches (in address order, values read with pread)
 * and that there are more, however many there are; and all of them when there are not more. */
static void test_printed_scan_max(void **state)
{
	char expect[256], line[64];
	uint8_t b[3];
	ms_run r;

	(void)state;
	assert_true(big.arena_len > MEMSCAN_VALUE_SET_MAX_DEFAULT);
	RUN(&r, "scan", ms_fixture_pid_str(&big), "--type", "u8", "--value", "0..255", "--range",
	    arena_range(), "--max", "3");
	assert_int_equal(r.status, 0);
	ms_fixture_peek(&big, big.arena, b, sizeof(b));
	expect[0] = '\0';
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "0x%llx  u8  %u\n", (unsigned long long)big.arena + (unsigned)i,
		         b[i]);
		strncat(expect, line, sizeof(expect) - strlen(expect) - 1);
	}
	strncat(expect, "... and more\n", sizeof(expect) - strlen(expect) - 1);
	if (strcmp(r.out, expect))
		fail_msg("got [%s] expected [%s]", r.out, expect);
	ms_run_free(&r);
	/* the arena's last 3 bytes: exactly 3 matches, no "more" */
	snprintf(line, sizeof(line), "%llx-%llx", (unsigned long long)(big.arena + big.arena_len - 3),
	         (unsigned long long)(big.arena + big.arena_len));
	RUN(&r, "scan", ms_fixture_pid_str(&big), "--type", "u8", "--value", "0..255", "--range", line,
	    "--max", "3");
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 3);
	assert_null(strstr(r.out, "more"));
	ms_run_free(&r);
}

/* An unknown-value set of more slots than the default limit narrows, and its survivors list. */
static void test_narrow_big_unknown(void **state)
{
	const char *set = ms_scratch_path("u"), *left = ms_scratch_path("l");
	char expect[64];
	ms_run r;

	(void)state;
	RUN(&r, "scan", ms_fixture_pid_str(&big), "--type", "u8", "--unknown", "--range", arena_range(), "-o",
	    set);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "narrow", set, "--unchanged", "-o", left, "--max", "2");
	if (r.status != 0)
		fail_msg("narrow failed: %s", r.err);
	/* the counter bytes may have changed; everything else did not */
	snprintf(expect, sizeof(expect), " of %llu candidates left", (unsigned long long)big.arena_len);
	assert_non_null(strstr(r.out, expect));
	ms_run_free(&r);
	RUN(&r, "matches", left, "--max", "2");
	if (r.status != 0)
		fail_msg("matches failed: %s", r.err);
	assert_int_equal(count_lines(r.out), 4); /* two, "... and N more", the summary */
	ms_run_free(&r);
}

/* The hunt's snapshot of more slots than the default limit, then '=': the candidates that did not
 * change, not a refusal. */
static void test_hunt_snapshot_big(void **state)
{
	const char *argv[] = { "hunt", ms_fixture_pid_str(&big), "--type", "u8", "--range", arena_range(),
		               NULL };
	char got[256], expect[128];
	ms_session s;
	char *err;

	(void)state;
	assert_int_equal(ms_session_start(&s, argv), 0);
	ms_session_send(&s, "snapshot");
	ms_session_line(&s, got, sizeof(got));
	snprintf(expect, sizeof(expect), "%llu slots of u8 remembered (unknown value)",
	         (unsigned long long)big.arena_len);
	assert_string_equal(got, expect);
	ms_session_send(&s, "=");
	ms_session_line(&s, got, sizeof(got));
	assert_non_null(strstr(got, " candidates"));
	assert_true(strtoull(got, NULL, 10) > MEMSCAN_VALUE_SET_MAX_DEFAULT);
	assert_int_equal(ms_session_end(&s, &err), 0);
	assert_string_equal(err, "");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printed_scan_max),
		cmocka_unit_test_setup_teardown(test_narrow_big_unknown, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test(test_hunt_snapshot_big),
	};

	return cmocka_run_group_tests(tests, big_setup, big_teardown);
}
