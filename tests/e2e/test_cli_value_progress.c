/* SPDX-License-Identifier: MIT */
/* End-to-end tests of remote value commands on a terminal (a pseudo-terminal here), against a real
 * agent on 127.0.0.1 and a 256 MiB fixture arena: a value scan and a narrowing draw the progress
 * line from the agent's progress replies and clear it (nothing with --quiet), and Ctrl-C stops a
 * remote narrowing at the next of them. */
#include "ttyutil.h"
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define ARENA_PAGES "65536"        /* 256 MiB: a string scan of it takes a while */
#define NARROWED    (128ull << 20) /* the arena's bytes whose u16 slots a narrowing compares */
#define FOUND       (16ull << 20)  /* ... and the bytes whose u8 slots, all found, another does */

static ms_agent env;
static ms_fixture fx;
static const char *cfg_dir; /* XDG_CONFIG_HOME: the agent's key pinned in its known_agents */
static char target[96], whole[64], half[64];

/* OUT holds a progress line "\rmemscan: WHAT ... of TOTAL (" and ends by clearing it. */
static void assert_line(const char *out, const char *what, const char *total)
{
	char needle[64];
	size_t len = strlen(out);

	snprintf(needle, sizeof(needle), "\rmemscan: %s ", what);
	assert_non_null(strstr(out, needle));
	snprintf(needle, sizeof(needle), " of %s (", total);
	assert_non_null(strstr(out, needle));
	assert_true(len >= 4);
	assert_string_equal(out + len - 4, "\r\033[K");
}

/* Runs the CLI with the given arguments, asserting that it ran and exited 0. */
#define RUN_OK(...)                                                                                          \
	do {                                                                                                 \
		ms_run r_;                                                                                   \
		RUN(&r_, __VA_ARGS__);                                                                       \
		assert_int_equal(r_.status, 0);                                                              \
		ms_run_free(&r_);                                                                            \
	} while (0)

/* Releases the set REF names, once the agent has let it go: the narrowing a CLI interrupted stops
 * when that CLI's connection closes, which the agent may learn after the next CLI's request came
 * (the set is then "in use by another request of this key: retry"; at most 2 s of retries). */
static void release_when_free(const char *ref)
{
	for (int i = 0; i < 40; i++) {
		ms_run r;
		int busy;

		RUN(&r, "release", ref, "--identity", env.full.path);
		busy = r.status != 0 && strstr(r.err, "in use by another request") != NULL;
		if (!busy)
			assert_int_equal(r.status, 0);
		ms_run_free(&r);
		if (!busy)
			return;
		usleep(50000);
	}
	fail_msg("the set of '%s' stayed in use", ref);
}

/* An unknown-value scan of 128 MiB of u16 slots kept on the agent, then its narrowings on a
 * terminal: the line counts the set's bytes read again (nothing with --quiet); Ctrl-C once the line
 * shows stops the narrowing at the agent's next progress reply, the CLI says so and exits 130, and
 * the set is there and free. */
static void test_remote_narrow_on_tty(void **state)
{
	char ref[4200], ref2[4210], ref3[4210];
	const char *narrow[] = {
		"narrow", ref, "--eq", "9735", "-o", ref2, "--identity", env.full.path, NULL
	};
	const char *quiet[] = { "narrow", ref,  "--eq",       "9735",        "-o",
		                ref2,     "-q", "--identity", env.full.path, NULL };
	const char *stopped[] = { "narrow", ref, "--eq", "1", "-o", ref3, "--identity", env.full.path, NULL };
	const char *out;
	int status;

	(void)state;
	snprintf(ref, sizeof(ref), "%s/u16.ref", cfg_dir);
	snprintf(ref2, sizeof(ref2), "%s.2", ref);
	snprintf(ref3, sizeof(ref3), "%s.3", ref);
	RUN_OK("remote", "scan", target, "-t", "u16", "--unknown", "-o", ref, "--range", half, "--identity",
	       env.full.path);
	out = ms_run_on_tty(narrow, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_line(out, "narrow", "128 MiB");
	out = ms_run_on_tty(quiet, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
	out = ms_run_on_tty(stopped, NULL, "\rmemscan: narrow ", &status);
	assert_int_equal(status, 130);
	assert_non_null(strstr(out, "interrupted while"));
	assert_false(ms_exists(ref3));
	RUN_OK("release", ref2, "--identity", env.full.path);
	release_when_free(ref);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

/* A value scan of the whole arena on a terminal: the line counts the regions' bytes. */
static void test_remote_scan_on_tty(void **state)
{
	const char *scan[] = { "remote",      "scan",    target, "-t",         "str",         "-v",
		               ms_long_str(), "--range", whole,  "--identity", env.full.path, NULL };
	const char *out;
	int status;

	(void)state;
	ms_fixture_fill_long_str(&fx);
	out = ms_run_on_tty(scan, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_line(out, "scan", "256 MiB");
}

/* Found values filling FOUND (the arena all 0x61 once test_remote_scan_on_tty filled it): a u8 at
 * every byte, then their narrowing on a terminal: the line shows the total the agent gives it (the
 * pages they lie in), where the CLI knows none. */
static void test_remote_narrow_found_on_tty(void **state)
{
	char ref[4200], ref2[4210], range[64];
	const char *narrow[] = {
		"narrow", ref, "--unchanged", "-o", ref2, "--identity", env.full.path, NULL
	};
	const char *out;
	int64_t t0;
	int status;

	(void)state;
	snprintf(ref, sizeof(ref), "%s/u8.ref", cfg_dir);
	snprintf(ref2, sizeof(ref2), "%s.2", ref);
	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + FOUND));
	RUN_OK("remote", "scan", target, "-t", "u8", "-v", "97", "-o", ref, "--range", range, "--identity",
	       env.full.path);
	t0 = ms_now_ms();
	out = ms_run_on_tty(narrow, NULL, NULL, &status);
	print_message("narrowing of found values: %lld ms\n", (long long)(ms_now_ms() - t0));
	assert_int_equal(status, 0);
	assert_line(out, "narrow", "16 MiB");
	RUN_OK("release", ref2, "--identity", env.full.path);
	RUN_OK("release", ref, "--identity", env.full.path);
}

/* Pins the agent's key in CFG_DIR's known_agents; sets TARGET and the ranges. */
static int trust_agent(void)
{
	cfg_dir = ms_tmpdir();
	snprintf(target, sizeof(target), "127.0.0.1:%d:%d", ms_agent_port(&env), (int)fx.pid);
	snprintf(whole, sizeof(whole), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + fx.arena_len));
	snprintf(half, sizeof(half), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + NARROWED));
	return cfg_dir ? ms_agent_trust(&env, cfg_dir) : -1;
}

int main(void)
{
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_narrow_on_tty),
		cmocka_unit_test(test_remote_scan_on_tty),
		cmocka_unit_test(test_remote_narrow_found_on_tty),
	};
	int fails, rc;

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	if (sodium_init() < 0 || ms_fixture_start(&fx, fixture_args) != 0 || ms_agent_init(&env) != 0 ||
	    ms_agent_start(&env, NULL) != 0 || trust_agent() != 0) {
		print_error("cannot start the fixture or the agent\n");
		return 1;
	}
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	rc = ms_agent_finish(&env);
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(cfg_dir);
	return fails || rc != 0;
}
