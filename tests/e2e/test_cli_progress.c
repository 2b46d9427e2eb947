/* SPDX-License-Identifier: MIT */
/* End-to-end tests of progress lines: on a terminal (a pseudo-terminal here) snapshot, scan, diff (of
 * a process and of two files) and heatmap draw one line rewritten in place and clear it at the end, as does a
 * remote snapshot's download; nothing on a pipe or with --quiet. */
#include "ttyutil.h"
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The CLI run with ARGV (argv[0] included) on a pseudo-terminal: ms_run_on_tty. */
static const char *run_on_tty_input(const char *const *argv, const char *input, int *ret_status)
{
	return ms_run_on_tty(argv + 1, input, NULL, ret_status);
}

static const char *run_on_tty(const char *const *argv, int *ret_status)
{
	return run_on_tty_input(argv, NULL, ret_status);
}

/* OUT holds a progress line of WHAT ("\rmemscan: WHAT ... of ...") and ends by clearing it. */
static void assert_progress(const char *out, const char *what)
{
	char needle[64];
	size_t len = strlen(out);

	snprintf(needle, sizeof(needle), "\rmemscan: %s ", what);
	assert_non_null(strstr(out, needle));
	assert_non_null(strstr(strstr(out, needle), " of "));
	assert_non_null(strstr(out, "ETA "));
	assert_true(len >= 4);
	assert_string_equal(out + len - 4, "\r\033[K");
}

struct env {
	ms_fixture f;
	char snap[4200];
	char range[64];
	const char *dir;
};

static int setup(void **state)
{
	static const char *const args[] = { "--pages", "16384", "--tick-ms", "5", NULL }; /* 64 MiB */
	static struct env e;

	if (ms_fixture_start(&e.f, args) != 0)
		return -1;
	e.dir = ms_tmpdir();
	snprintf(e.snap, sizeof(e.snap), "%s/a.snap", e.dir);
	snprintf(e.range, sizeof(e.range), "%llx-%llx", (unsigned long long)e.f.arena,
	         (unsigned long long)(e.f.arena + e.f.arena_len));
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ms_fixture_stop(&e->f);
	ms_tmpdir_remove(e->dir);
	return 0;
}

static void test_progress_on_tty(void **state)
{
	struct env *e = *state;
	const char *pid = ms_fixture_pid_str(&e->f);
	const char *snap[] = { "memscan", "snapshot", pid, "-o", e->snap, "--range", e->range, NULL };
	const char *scan[] = { "memscan", "scan", pid, "-p", "4D 5A 90 00", "--range", e->range, NULL };
	const char *diff[] = { "memscan", "diff", pid, "-i", "10ms", "--range", e->range, NULL };
	const char *heat[] = { "memscan", "heatmap", pid,       "-d",     "300ms",
		               "-i",      "100ms",   "--range", e->range, NULL };
	const char *out;
	int status;

	out = run_on_tty(snap, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "snapshot");
	assert_non_null(strstr(out, " of 64 MiB ("));
	out = run_on_tty(scan, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "scan");
	out = run_on_tty(diff, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "baseline");
	assert_progress(out, "diff");
	out = run_on_tty(heat, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "heatmap sample");
	assert_non_null(strstr(out, "heatmap sample 3 of 3 (100%)"));
}

/* diff FILE_A FILE_B: both files read side by side show as one total; -q shows nothing. */
static void test_progress_diff_files(void **state)
{
	struct env *e = *state;
	const char *pid = ms_fixture_pid_str(&e->f);
	char b[4210];
	const char *snap_b[] = { "memscan", "snapshot", pid, "-o", b, "--range", e->range, "-q", NULL };
	const char *snap_a[] = { "memscan", "snapshot", pid, "-o", e->snap, "--range", e->range, "-q", NULL };
	const char *diff[] = { "memscan", "diff", e->snap, b, NULL };
	const char *quiet[] = { "memscan", "diff", e->snap, b, "--quiet", NULL };
	const char *out;
	int status;

	snprintf(b, sizeof(b), "%s.b", e->snap);
	run_on_tty(snap_a, &status);
	assert_int_equal(status, 0);
	run_on_tty(snap_b, &status); /* the counter ticks every 5 ms: they differ */
	assert_int_equal(status, 0);
	out = run_on_tty(diff, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "diff");
	assert_non_null(strstr(out, " of 128 MiB (")); /* two 64 MiB arenas and their headers */
	out = run_on_tty(quiet, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
}

/* The value commands: scan --type (printed, and --unknown -o), narrow, matches and hunt's steps. */
static void test_progress_values(void **state)
{
	struct env *e = *state;
	const char *pid = ms_fixture_pid_str(&e->f);
	char set[4210], part[64];
	const char *vscan[] = { "memscan", "scan",       pid,       "-t",     "u32",
		                "-v",      "0x12345678", "--range", e->range, NULL };
	const char *unknown[] = { "memscan", "scan", pid,       "-t", "u32", "--unknown",
		                  "-o",      set,    "--range", part, NULL };
	const char *narrow[] = { "memscan", "narrow", set, "--changed", NULL };
	const char *overlapping[] = { "memscan", "scan", pid, "-t",      "u32", "--unknown", "--align",
		                      "1",       "-o",   set, "--range", part,  NULL };
	const char *matches[] = { "memscan", "matches", set, NULL };
	const char *quiet[] = { "memscan", "matches", set, "-q", NULL };
	const char *hunt[] = { "memscan", "hunt", pid, "-t", "u8", "--range", e->range, NULL };
	const char *out;
	int status;

	snprintf(set, sizeof(set), "%s.set", e->snap); /* next to the snapshot: E->dir may be reused */
	/* the unknown-value set copies what it covers: 8 MiB of the arena, counter included */
	snprintf(part, sizeof(part), "%llx-%llx", (unsigned long long)e->f.arena,
	         (unsigned long long)(e->f.arena + (8u << 20)));
	out = run_on_tty(vscan, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "scan");
	assert_non_null(strstr(out, " of 64 MiB ("));
	out = run_on_tty(unknown, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "scan");
	out = run_on_tty(narrow, &status); /* the counter ticks every 5 ms: it changed */
	assert_int_equal(status, 0);
	assert_progress(out, "narrow");
	/* slots at every byte overlap: the narrowing reads the 8 MiB again, not 4 bytes a slot */
	run_on_tty(overlapping, &status);
	assert_int_equal(status, 0);
	out = run_on_tty(narrow, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "narrow");
	assert_non_null(strstr(out, " of 8 MiB ("));
	assert_null(strstr(out, " of 32 MiB ("));
	out = run_on_tty(matches, &status);
	assert_int_equal(status, 0);
	assert_progress(out, "narrow");
	out = run_on_tty(quiet, &status);
	assert_int_equal(status, 0);
	assert_null(strstr(out, "\rmemscan: "));
	out = run_on_tty_input(hunt, "7\nquit\n", &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "\rmemscan: scan "));
}

/* --quiet on a terminal, and a pipe (ms_run_cli): no progress at all. */
static void test_progress_quiet_and_pipe(void **state)
{
	struct env *e = *state;
	const char *pid = ms_fixture_pid_str(&e->f);
	const char *snap[] = {
		"memscan", "snapshot", pid, "-o", e->snap, "--range", e->range, "--quiet", NULL
	};
	const char *heat[] = { "memscan", "heatmap", pid, "-d", "200ms", "-q", "--range", e->range, NULL };
	const char *out;
	int status;
	ms_run r;

	out = run_on_tty(snap, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
	out = run_on_tty(heat, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
	RUN(&r, "snapshot", pid, "-o", e->snap, "--range", e->range);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	ms_run_free(&r);
	RUN(&r, "heatmap", pid, "-d", "200ms", "--range", e->range);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	ms_run_free(&r);
}

/* A real agent on 127.0.0.1 (its key pinned in a throwaway known_agents): the download of a remote
 * snapshot shows its progress too, and a remote diff its comparison's, both against the totals the
 * library gives: the regions are listed once, by the library for the download, by the CLI for the
 * diff (which reports a bad filter before any baseline), never again for a line's total. */
static void test_progress_remote_download(void **state)
{
	struct env *e = *state;
	ms_agent a;
	char pub[4300], hostport[64], target[96];
	const char *out;
	int status;
	ms_run r;

	assert_int_equal(ms_agent_init(&a), 0);
	assert_int_equal(ms_agent_start(&a, NULL), 0);
	setenv("XDG_CONFIG_HOME", e->dir, 1);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&a));
	snprintf(target, sizeof(target), "%s:%d", hostport, (int)e->f.pid);
	snprintf(pub, sizeof(pub), "%s.pub", a.agent.path);
	RUN(&r, "trust", hostport, pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	{
		const char *argv[] = { "memscan", "remote", "snapshot",   target,      "-o", e->snap,
			               "--range", e->range, "--identity", a.full.path, NULL };
		out = run_on_tty(argv, &status);
	}
	assert_int_equal(status, 0);
	assert_progress(out, "download");
	assert_non_null(strstr(out, " of 64 MiB ("));
	assert_int_equal(ms_agent_err_count(&a, "op=list_regions "), 1);
	{
		const char *argv[] = { "memscan", "remote", "diff",       target,      "-i", "10ms",
			               "--range", e->range, "--identity", a.full.path, NULL };
		out = run_on_tty(argv, &status);
	}
	assert_int_equal(status, 0);
	assert_progress(out, "diff");
	assert_non_null(strstr(strstr(out, "\rmemscan: diff "), " of 64 MiB ("));
	assert_int_equal(ms_agent_err_count(&a, "op=list_regions "), 2);
	ms_agent_stop(&a);
	ms_agent_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_remote_download), cmocka_unit_test(test_progress_on_tty),
		cmocka_unit_test(test_progress_values),          cmocka_unit_test(test_progress_diff_files),
		cmocka_unit_test(test_progress_quiet_and_pipe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
