/* SPDX-License-Identifier: MIT */
/* End-to-end tests of bad input to the memscan CLI: exit code 2 or 1, empty stdout, a clear stderr. */
#include "cliutil.h"

#include <memscan/memscan.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the CLI and checks: exit STATUS, nothing on stdout, stderr naming the cause (NEEDLE). */
#define EXPECT_FAIL(status, needle, ...)                                                                     \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		expect_fail(argv_, status, needle, __LINE__);                                                \
	} while (0)

static void expect_fail(const char *const *argv, int status, const char *needle, int line)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, argv), 0);
	if (r.status != status || r.out_len != 0 || !strstr(r.err, "memscan: ") || !strstr(r.err, needle)) {
		print_error("line %d: %s ...: status %d (want %d), stdout [%s], stderr [%s] (want \"%s\")\n",
		            line, argv[0], r.status, status, r.out, r.err, needle);
		ms_run_free(&r);
		fail();
	}
	ms_run_free(&r);
}

static void test_bad_pids(void **state)
{
	static const char *const bad[] = { "0", "-1", "abc", "12x", "", "+5", "0x10", "99999999999" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_FAIL(2, "invalid PID", "regions", bad[i]);
		EXPECT_FAIL(2, "invalid PID", "read", bad[i], "0x1000", "16");
		EXPECT_FAIL(2, "invalid PID", "scan", bad[i], "--pattern", "00");
		EXPECT_FAIL(2, "invalid PID", "snapshot", bad[i], "-o", "/nonexistent/x");
		EXPECT_FAIL(2, "invalid PID", "diff", bad[i], "--interval", "0s");
	}
}

static void test_no_such_process(void **state)
{
	char pid[16];

	(void)state;
	snprintf(pid, sizeof(pid), "%d", (int)ms_reaped_pid());
	EXPECT_FAIL(1, "no process with PID", "regions", pid);
	EXPECT_FAIL(1, "no process with PID", "read", pid, "0x1000", "16");
	EXPECT_FAIL(1, "no process with PID", "scan", pid, "--pattern", "00");
	EXPECT_FAIL(1, "no process with PID", "snapshot", pid, "-o", "/tmp/memscan-never-written");
	EXPECT_FAIL(1, "no process with PID", "diff", pid, "--interval", "0s");
	assert_int_equal(access("/tmp/memscan-never-written", F_OK), -1);
}

static void test_bad_patterns(void **state)
{
	static const char *const bad[] = { "4G", "?", "", "4D 5", "4D5", "4D 5A ?", "ZZ", "4D-5A", "  " };
	ms_fixture *f = *state;
	char *longpat;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_FAIL(2, "malformed pattern", "scan", ms_fixture_pid_str(f), "--pattern", bad[i]);
	EXPECT_FAIL(2, "invalid hex digit 'G' at offset 1", "scan", ms_fixture_pid_str(f), "--pattern", "4G");
	EXPECT_FAIL(2, "needs a value", "scan", ms_fixture_pid_str(f), "--pattern");
	EXPECT_FAIL(2, "needs a pattern", "scan", ms_fixture_pid_str(f));

	longpat = malloc(2 * (MEMSCAN_PATTERN_MAX + 1) + 1);
	assert_non_null(longpat);
	memset(longpat, 'A', 2 * (MEMSCAN_PATTERN_MAX + 1));
	longpat[2 * (MEMSCAN_PATTERN_MAX + 1)] = '\0';
	EXPECT_FAIL(2, "too long", "scan", ms_fixture_pid_str(f), "--pattern", longpat);
	/* exactly the limit is fine */
	longpat[2 * MEMSCAN_PATTERN_MAX] = '\0';
	{
		const char *argv[] = { "scan", ms_fixture_pid_str(f), "--pattern", longpat, NULL };
		ms_run r;

		assert_int_equal(ms_run_cli(&r, argv), 0);
		assert_int_equal(r.status, 0);
		ms_run_free(&r);
	}
	free(longpat);
}

static void test_unreadable(void **state)
{
	ms_fixture *f = *state;
	char guard[32];

	EXPECT_FAIL(1, "address 0x10 is not readable in PID", "read", ms_fixture_pid_str(f), "0x10", "4");
	EXPECT_FAIL(1, "not mapped", "read", ms_fixture_pid_str(f), "10", "4");
	/* the guard page below the arena is mapped PROT_NONE */
	snprintf(guard, sizeof(guard), "0x%llx", (unsigned long long)(f->arena - 1));
	EXPECT_FAIL(1, "without read permission", "read", ms_fixture_pid_str(f), guard, "1");
	/* beyond the end of the memfd: mapped and readable, but the kernel refuses */
	snprintf(guard, sizeof(guard), "0x%llx", (unsigned long long)(f->holey + f->holey_len - 16));
	EXPECT_FAIL(1, "not readable", "read", ms_fixture_pid_str(f), guard, "16");
}

static void test_usage_errors(void **state)
{
	ms_fixture *f = *state;
	const char *p = ms_fixture_pid_str(f);

	EXPECT_FAIL(2, "unknown command", "frobnicate");
	EXPECT_FAIL(2, "usage: memscan", NULL);
	EXPECT_FAIL(2, "unknown option '--bogus'", "regions", p, "--bogus");
	/* short options bundle; a letter the command does not take is named alone */
	EXPECT_FAIL(2, "unknown option '-x' for 'diff'", "diff", p, "-wx");
	EXPECT_FAIL(2, "option --count needs a value", "diff", p, "-wn");
	EXPECT_FAIL(2, "unknown option '-x'", "ps", "-x");
	EXPECT_FAIL(2, "unknown option '--raw'", "scan", p, "--pattern", "00", "--raw");
	EXPECT_FAIL(2, "unexpected argument", "regions", p, "extra");
	EXPECT_FAIL(2, "missing", "read", p);
	EXPECT_FAIL(2, "missing", "read", p, "0x1000");
	EXPECT_FAIL(2, "missing PID", "regions");
	EXPECT_FAIL(2, "invalid length", "read", p, "0x1000", "0");
	EXPECT_FAIL(2, "invalid length", "read", p, "0x1000", "12abc");
	EXPECT_FAIL(2, "invalid address", "read", p, "0xZZ", "4");
	EXPECT_FAIL(2, "cannot be combined", "read", p, "0x1000", "4", "--raw", "--json");
	EXPECT_FAIL(2, "-o FILE", "snapshot", p);
	EXPECT_FAIL(2, "needs a value", "snapshot", p, "-o");
	EXPECT_FAIL(2, "invalid range", "regions", p, "--range", "10-5");
	EXPECT_FAIL(2, "invalid range", "regions", p, "--range", "xyz");
	EXPECT_FAIL(2, "invalid range", "regions", p, "--range", "1000");
	EXPECT_FAIL(2, "invalid --kind", "regions", p, "--kind", "bogus");
	EXPECT_FAIL(2, "invalid --kind", "regions", p, "--kind", "heap,");
	EXPECT_FAIL(2, "invalid --perms", "regions", p, "--perms", "rq");
	EXPECT_FAIL(2, "invalid duration", "diff", p, "--interval", "abc");
	EXPECT_FAIL(2, "invalid duration", "diff", p, "--interval", "5x");
	EXPECT_FAIL(2, "invalid duration", "diff", p, "--interval", "-1s");
	EXPECT_FAIL(2, "invalid duration", "diff", p, "--interval", "");
	EXPECT_FAIL(2, "--count", "diff", p, "--count", "2");
	EXPECT_FAIL(2, "invalid --align", "scan", p, "--pattern", "00", "--align", "0");
	EXPECT_FAIL(2, "invalid --max", "scan", p, "--pattern", "00", "--max", "x");
	EXPECT_FAIL(2, "diff needs a PID", "diff");
	EXPECT_FAIL(2, "unknown command", "help", "nope");
}

/* Writes LEN bytes of DATA to PATH. */
static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void test_bad_snapshots(void **state)
{
	ms_fixture *f = *state;
	const char *dir = ms_tmpdir();
	char good[4096], garbage[4096], trunc[4096], empty[4096], missing[4096], range[64];
	char junk[4096];
	size_t i;
	ms_run r;

	assert_non_null(dir);
	snprintf(good, sizeof(good), "%s/good.snap", dir);
	snprintf(garbage, sizeof(garbage), "%s/garbage.snap", dir);
	snprintf(trunc, sizeof(trunc), "%s/trunc.snap", dir);
	snprintf(empty, sizeof(empty), "%s/empty.snap", dir);
	snprintf(missing, sizeof(missing), "%s/missing.snap", dir);
	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	{
		const char *argv[] = {
			"snapshot", ms_fixture_pid_str(f), "-o", good, "--range", range, NULL
		};

		assert_int_equal(ms_run_cli(&r, argv), 0);
		assert_int_equal(r.status, 0);
		ms_run_free(&r);
	}
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_file(garbage, junk, sizeof(junk));
	write_file(empty, "", 0);
	{
		/* the first half of a real snapshot */
		FILE *in = fopen(good, "rb");
		char *buf = malloc(f->arena_len);
		size_t n;

		assert_non_null(in);
		assert_non_null(buf);
		n = fread(buf, 1, f->arena_len, in);
		fclose(in);
		assert_true(n > 64);
		write_file(trunc, buf, n / 2);
		free(buf);
	}
	EXPECT_FAIL(1, garbage, "diff", garbage, good);
	EXPECT_FAIL(1, trunc, "diff", good, trunc);
	EXPECT_FAIL(1, "truncated", "diff", good, trunc);
	EXPECT_FAIL(1, empty, "diff", empty, good);
	EXPECT_FAIL(1, "No such file", "diff", missing, good);
	EXPECT_FAIL(2, "apply to 'diff PID' only", "diff", good, good, "--interval", "1s");
	EXPECT_FAIL(1, "cannot write snapshot", "snapshot", ms_fixture_pid_str(f), "-o",
	            "/nonexistent-dir/x.snap");
	ms_tmpdir_remove(dir);
}

static void test_process_gone(void **state)
{
	ms_fixture g;
	char pid[16], addr[32];

	(void)state;
	assert_int_equal(ms_fixture_start(&g, NULL), 0);
	snprintf(pid, sizeof(pid), "%d", (int)g.pid);
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)g.arena);
	assert_int_equal(ms_fixture_cmd(&g, "unmap-arena"), 0);
	EXPECT_FAIL(1, "not mapped", "read", pid, addr, "16");
	ms_fixture_stop(&g);
	EXPECT_FAIL(1, "no process with PID", "read", pid, addr, "16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_pids),     cmocka_unit_test(test_no_such_process),
		cmocka_unit_test(test_bad_patterns), cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_usage_errors), cmocka_unit_test(test_bad_snapshots),
		cmocka_unit_test(test_process_gone),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
