/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan ps`, `regions`, `read`, help and version against the fixture target. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *range_str(uint64_t start, uint64_t end)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)start, (unsigned long long)end);
	return buf;
}

/* True if some line of OUT, parsed as "%d", equals PID. */
static int ps_lists(const char *out, int pid)
{
	const char *line = out;

	while (line && *line) {
		int p;

		if (sscanf(line, "%d", &p) == 1 && p == pid)
			return 1;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return 0;
}

static void test_ps(void **state)
{
	ms_fixture *f = *state;
	char needle[64];
	ms_run r;

	RUN(&r, "ps");
	assert_int_equal(r.status, 0);
	assert_true(ps_lists(r.out, f->pid));
	assert_non_null(strstr(r.out, "memscan-fixture"));
	ms_run_free(&r);

	RUN(&r, "ps", "--json");
	assert_int_equal(r.status, 0);
	snprintf(needle, sizeof(needle), "{\"pid\":%d,\"ppid\":%d,", (int)f->pid, (int)getpid());
	assert_non_null(strstr(r.out, needle));
	assert_non_null(strstr(r.out, "\"name\":\"memscan-fixture\""));
	ms_run_free(&r);
}

/* The column where "CMDLINE" starts in the header of OUT; every line's command line starts there. */
static void ps_expect_aligned(const char *out)
{
	const char *nl = strchr(out, '\n'), *col = strstr(out, "CMDLINE");
	size_t at;

	assert_non_null(nl);
	assert_true(col && col < nl);
	at = (size_t)(col - out);
	for (const char *line = nl + 1; *line; line = strchr(line, '\n') + 1) {
		assert_true((size_t)(strchr(line, '\n') - line) >= at); /* a kernel thread: no command line */
		assert_true(line[at - 1] == ' ' && line[at] != ' ');
	}
}

static void test_ps_filter(void **state)
{
	ms_fixture *f = *state;
	char needle[32];
	ms_run r;

	RUN(&r, "ps", "memscan-fix");
	assert_int_equal(r.status, 0);
	assert_true(ps_lists(r.out, f->pid));
	/* only processes whose name holds it: each line (after the header) names memscan-fixture */
	for (const char *line = strchr(r.out, '\n') + 1; *line; line = strchr(line, '\n') + 1)
		assert_non_null(strstr(line, "memscan-fixture"));
	ps_expect_aligned(r.out);
	ms_run_free(&r);

	/* the name column is as wide as the longest name listed */
	RUN(&r, "ps");
	assert_int_equal(r.status, 0);
	ps_expect_aligned(r.out);
	ms_run_free(&r);

	snprintf(needle, sizeof(needle), "no-such-name-%d", (int)getpid());
	RUN(&r, "ps", needle);
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 1); /* the header */
	ms_run_free(&r);
}

static void test_regions_all(void **state)
{
	ms_fixture *f = *state;
	ms_run r;

	RUN(&r, "regions", ms_fixture_pid_str(f));
	assert_int_equal(r.status, 0);
	assert_true(ms_count_lines(r.out) > 5);
	assert_non_null(strstr(r.out, "[stack]"));
	assert_non_null(strstr(r.out, "memscan-fixture"));
	assert_string_equal(r.err, "");
	ms_run_free(&r);
}

static void test_regions_range(void **state)
{
	ms_fixture *f = *state;
	const char *body;
	char expect[128];
	ms_run r;

	RUN(&r, "regions", ms_fixture_pid_str(f), "--range", range_str(f->arena, f->arena + f->arena_len));
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 2); /* the header, the arena */
	assert_memory_equal(r.out, "START-END ", 10);
	body = strchr(r.out, '\n') + 1;
	snprintf(expect, sizeof(expect), "%08llx-%08llx rw-p 00000000 00:00 0 ", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	assert_memory_equal(body, expect, strlen(expect));
	assert_non_null(strstr(body, "anon"));
	/* its size, for people: the arena is whole pages, at least 36 KiB */
	assert_non_null(strstr(body, f->arena_len < (1 << 20) ? " KiB anon" : " MiB anon"));
	ms_run_free(&r);

	RUN(&r, "regions", ms_fixture_pid_str(f), "--json", "--range",
	    range_str(f->arena, f->arena + f->arena_len));
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 1);
	snprintf(expect, sizeof(expect), "{\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"perms\":\"rw-p\",",
	         (unsigned long long)f->arena, (unsigned long long)(f->arena + f->arena_len));
	assert_memory_equal(r.out, expect, strlen(expect));
	assert_non_null(strstr(r.out, "\"kind\":\"anon\""));
	assert_non_null(strstr(r.out, "\"path\":\"\""));
	assert_non_null(strstr(r.out, "\"deleted\":false}"));
	snprintf(expect, sizeof(expect), "\"size\":%llu,", (unsigned long long)f->arena_len);
	assert_non_null(strstr(r.out, expect));
	ms_run_free(&r);
}

static void test_regions_straddle_and_filters(void **state)
{
	ms_fixture *f = *state;
	ms_run r;

	/* the two pages around the boundary are two regions: rw-p then r--p */
	RUN(&r, "regions", ms_fixture_pid_str(f), "--range", range_str(f->straddle, f->boundary + 2));
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 3); /* the header and two regions */
	assert_non_null(strstr(r.out, " rw-p "));
	assert_non_null(strstr(r.out, " r--p "));
	ms_run_free(&r);

	RUN(&r, "regions", ms_fixture_pid_str(f), "--kind", "stack");
	assert_int_equal(r.status, 0);
	assert_true(ms_count_lines(r.out) >= 2);
	assert_non_null(strstr(r.out, "[stack]"));
	assert_null(strstr(r.out, "memscan-fixture"));
	ms_run_free(&r);

	RUN(&r, "regions", ms_fixture_pid_str(f), "--path", "memfd:memscan-fixture-holey", "--json");
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 1);
	assert_non_null(strstr(r.out, "\"perms\":\"r--s\""));
	assert_non_null(strstr(r.out, "\"deleted\":true"));
	ms_run_free(&r);
}

static void test_read_hexdump(void **state)
{
	ms_fixture *f = *state;
	char expect[128];
	ms_run r;

	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->marker[0]), "13");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "0x%016llx: 4d5a 9000 4d53 4341 4e2d 4649 58",
	         (unsigned long long)f->marker[0]);
	assert_memory_equal(r.out, expect, strlen(expect));
	assert_non_null(strstr(r.out, "  MZ..MSCAN-FIX\n"));
	assert_int_equal(ms_count_lines(r.out), 1);
	ms_run_free(&r);

	/* 0x prefix optional; 40 bytes = 3 lines */
	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->marker[0]) + 2, "40");
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 3);
	ms_run_free(&r);
}

static void test_read_raw_json(void **state)
{
	static const uint8_t marker[] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
		                          0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };
	ms_fixture *f = *state;
	char expect[256];
	ms_run r;

	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->marker[1]), "13", "--raw");
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out_len, 13);
	assert_memory_equal(r.out, marker, 13);
	ms_run_free(&r);

	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->marker[2]), "13", "--json");
	assert_int_equal(r.status, 0);
	snprintf(
	    expect, sizeof(expect),
	    "{\"address\":\"0x%llx\",\"length\":13,\"data\":\"4d5a90004d5343414e2d464958\",\"holes\":[]}\n",
	    (unsigned long long)f->marker[2]);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

static void test_read_holes(void **state)
{
	ms_fixture *f = *state;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	char expect[128];
	ms_run r;

	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->holey), "8192");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "5c5c 5c5c"));
	assert_non_null(strstr(r.out, "???? ????"));
	assert_non_null(strstr(r.err, "unreadable"));
	ms_run_free(&r);

	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->holey), "8192", "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "\"holes\":[{\"start\":\"0x%llx\",\"end\":\"0x%llx\"}]}",
	         (unsigned long long)(f->holey + page), (unsigned long long)(f->holey + 8192));
	if (page == 4096)
		assert_non_null(strstr(r.out, expect));
	ms_run_free(&r);

	/* --raw refuses a partial read: nothing on stdout */
	RUN(&r, "read", ms_fixture_pid_str(f), ms_hex(f->holey), "8192", "--raw");
	assert_int_equal(r.status, 1);
	assert_int_equal(r.out_len, 0);
	assert_non_null(strstr(r.err, "unreadable"));
	ms_run_free(&r);
}

static void test_help_version(void **state)
{
	static const char *const cmds[] = { "ps", "regions", "read", "scan", "snapshot", "diff" };
	char head[64];
	size_t i;
	ms_run r;

	(void)state;
	RUN(&r, "help");
	assert_int_equal(r.status, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(r.out, cmds[i]));
	ms_run_free(&r);
	RUN(&r, "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: memscan"));
	ms_run_free(&r);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(head, sizeof(head), "usage: memscan %s", cmds[i]);
		RUN(&r, "help", cmds[i]);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, head));
		ms_run_free(&r);
		RUN(&r, cmds[i], "--help");
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, head));
		ms_run_free(&r);
		RUN(&r, cmds[i], "-h");
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, head));
		ms_run_free(&r);
	}
	RUN(&r, "--version");
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "memscan ", 8);
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ps),
		cmocka_unit_test(test_ps_filter),
		cmocka_unit_test(test_regions_all),
		cmocka_unit_test(test_regions_range),
		cmocka_unit_test(test_regions_straddle_and_filters),
		cmocka_unit_test(test_read_hexdump),
		cmocka_unit_test(test_read_raw_json),
		cmocka_unit_test(test_read_holes),
		cmocka_unit_test(test_help_version),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
