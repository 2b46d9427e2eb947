/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan heatmap` and `memscan remote heatmap`: counts against changes the
 * fixture makes at known places and rates (JSON and text), the SVG checked as XML and in a real
 * browser, a target that exits, bad options. Every check runs twice: locally, and through a real agent
 * on 127.0.0.1 (real keys) that counts while the CLI times the samples; the same checks must hold. */
#include "agentutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096u

static ms_agent env;
static char cfg_dir[4096], hostport[64];

/* Runs `memscan heatmap PID ARGS...`, or (REMOTE) `memscan remote heatmap HOST:PORT:PID ARGS...
 * --identity KEY` (KEY: the agent's full key if NULL). */
/* The command line of `memscan heatmap PID ARGS...`, or (REMOTE) `memscan remote heatmap
 * HOST:PORT:PID ARGS... --identity KEY` (KEY: the agent's full key if NULL), into ARGV (32 entries;
 * WHERE holds the remote target). */
static void heat_argv(const char **argv, char where[96], int remote, ms_fixture *f, const char *key,
                      const char *const *args)
{
	size_t n = 0;

	snprintf(where, 96, "%s:%d", hostport, f->pid);
	if (remote)
		argv[n++] = "remote";
	argv[n++] = "heatmap";
	argv[n++] = remote ? where : ms_fixture_pid_str(f);
	while (*args && n < 28)
		argv[n++] = *args++;
	if (remote) {
		argv[n++] = "--identity";
		argv[n++] = key ? key : env.full.path;
	}
	argv[n] = NULL;
}

static void heat_run(ms_run *r, int remote, ms_fixture *f, const char *key, const char *const *args)
{
	const char *argv[32];
	char where[96];

	heat_argv(argv, where, remote, f, key, args);
	assert_int_equal(ms_run_cli(r, argv), 0);
}

#define HEAT(r, remote, f, ...)                                                                              \
	do {                                                                                                 \
		const char *const args_[] = { __VA_ARGS__, NULL };                                           \
		heat_run((r), (remote), (f), NULL, args_);                                                   \
	} while (0)

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

/* Bumps a byte of the arena's page 3 BUMPS times, GAP_MS apart, from FIRST_MS after its start. */
struct bumper {
	ms_fixture *f;
	unsigned first_ms, gap_ms, bumps;
	int ret;
};

static void *bump_thread(void *arg)
{
	struct bumper *b = arg;

	usleep(b->first_ms * 1000);
	for (unsigned i = 0; i < b->bumps && b->ret == 0; i++) {
		b->ret =
		    ms_fixture_cmd(b->f, "bump %llx", (unsigned long long)(b->f->arena + 3 * PAGE + 100));
		usleep(b->gap_ms * 1000);
	}
	return NULL;
}

static void start_bumper(pthread_t *thr, struct bumper *b, ms_fixture *f, unsigned bumps)
{
	*b = (struct bumper){ .f = f, .first_ms = 150, .gap_ms = 200, .bumps = bumps };
	assert_int_equal(pthread_create(thr, NULL, bump_thread, b), 0);
}

/* The counter changes in every sample (it ticks every 5 ms, the samples are 100 ms apart); page 3 in
 * the four samples that follow a bump (200 ms apart); nothing else of the arena changes. */
static void heatmap_json_counts(int remote)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	struct bumper b;
	pthread_t thr;
	char expect[256];
	ms_fixture f;
	ms_run r;

	if (memscan_page_size() != PAGE)
		skip();
	assert_int_equal(ms_fixture_start(&f, args), 0);
	start_bumper(&thr, &b, &f, 4);
	HEAT(&r, remote, &f, "--duration", "1s", "--interval", "100ms", "--range", arena_range(&f), "--json");
	pthread_join(thr, NULL);
	assert_int_equal(b.ret, 0);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"address\":\"0x%llx\",\"size\":4096,\"changes\":4}\n"
	         "{\"address\":\"0x%llx\",\"size\":4096,\"changes\":10}\n",
	         (unsigned long long)(f.arena + 3 * PAGE),
	         (unsigned long long)(f.counter & ~(uint64_t)(PAGE - 1)));
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	/* 64-byte cells: the counter's own cell */
	HEAT(&r, remote, &f, "-d", "300ms", "-i", "100ms", "--cell", "64", "--range", arena_range(&f),
	     "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"size\":64,\"changes\":3}\n",
	         (unsigned long long)f.counter);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_heatmap_json_counts(void **state)
{
	(void)state;
	heatmap_json_counts(0);
}

/* Remotely the agent counts: only heat operations run (no snapshot, diff or read sends bytes), each
 * with its audit line, and the CLI releases its heats. */
static void test_remote_heatmap_json_counts(void **state)
{
	(void)state;
	heatmap_json_counts(1);
	assert_false(ms_agent_err_has(&env, "op=snapshot"));
	assert_false(ms_agent_err_has(&env, "op=diff"));
	assert_false(ms_agent_err_has(&env, "op=read"));
	assert_true(ms_agent_err_has(&env, "op=heat_start"));
	assert_true(ms_agent_err_has(&env, "op=heat_sample"));
	assert_true(ms_agent_err_has(&env, "op=heat_cells"));
	assert_int_equal(ms_agent_err_count(&env, "op=heat_release"),
	                 ms_agent_err_count(&env, "op=heat_start"));
}

static void heatmap_text(int remote)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char needle[128];
	ms_fixture f;
	ms_run r;

	assert_int_equal(ms_fixture_start(&f, args), 0);
	HEAT(&r, remote, &f, "-d", "500ms", "-i", "100ms", "--range", arena_range(&f));
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "# 5 samples in ", 15);
	assert_non_null(strstr(r.out, "; 1 cells of 4 KiB changed in 1 regions; "));
	snprintf(needle, sizeof(needle), "\n  0x%-16llx       5 ",
	         (unsigned long long)(f.counter & ~(uint64_t)4095));
	assert_non_null(strstr(r.out, needle));
	snprintf(needle, sizeof(needle), "\n  %016llx-%016llx rw-p       5       1 ",
	         (unsigned long long)f.arena, (unsigned long long)(f.arena + f.arena_len));
	assert_non_null(strstr(r.out, needle));
	assert_non_null(strstr(r.out, "[anon]\n"));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_heatmap_text(void **state)
{
	(void)state;
	heatmap_text(0);
}

static void test_remote_heatmap_text(void **state)
{
	(void)state;
	heatmap_text(1);
}

/* Runs the SVG checker (XML structure, then a headless Chromium screenshot's pixels). */
static int check_svg(const char *svg, uint64_t hot, uint64_t cold)
{
	char hot_s[32], cold_s[32];
	int status;
	pid_t pid;

	snprintf(hot_s, sizeof(hot_s), "%llx", (unsigned long long)hot);
	snprintf(cold_s, sizeof(cold_s), "%llx", (unsigned long long)cold);
	pid = fork();
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", MEMSCAN_HEATMAP_CHECK, svg, hot_s, cold_s, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* 200 samples in 100 columns (two samples each): the counter fills its columns, page 3 changes in a
 * few samples only; the browser must draw the first in the hottest colour, the second colder. */
static void heatmap_svg(int remote)
{
	const char *args[] = { "--tick-ms", "2", NULL };
	const char *dir = ms_tmpdir();
	char svg[4096], expect[4200];
	struct bumper b;
	pthread_t thr;
	ms_fixture f;
	ms_run r;

	if (memscan_page_size() != PAGE)
		skip();
	assert_non_null(dir);
	snprintf(svg, sizeof(svg), "%s/heat.svg", dir);
	assert_int_equal(ms_fixture_start(&f, args), 0);
	start_bumper(&thr, &b, &f, 3);
	HEAT(&r, remote, &f, "-d", "2s", "-i", "10ms", "--range", arena_range(&f), "-o", svg);
	pthread_join(thr, NULL);
	assert_int_equal(b.ret, 0);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "wrote %s: 2 cells changed in 1 regions over 200 samples\n", svg);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	assert_int_equal(check_svg(svg, f.counter & ~(uint64_t)(PAGE - 1), f.arena + 3 * PAGE), 0);
	ms_fixture_stop(&f);
	ms_tmpdir_remove(dir);
}

static void test_heatmap_svg(void **state)
{
	(void)state;
	heatmap_svg(0);
}

static void test_remote_heatmap_svg(void **state)
{
	(void)state;
	heatmap_svg(1);
}

static void *exit_later(void *arg)
{
	ms_fixture *f = arg;

	usleep(400 * 1000);
	ms_fixture_cmd(f, "exit"); /* "ok", then it exits */
	return NULL;
}

/* The target exits before the duration ends: what was counted is reported, and the exit status is 1
 * (remotely the agent keeps the counts of a process that exited). */
static void heatmap_target_exits(int remote)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char expect[128];
	pthread_t thr;
	ms_fixture f;
	ms_run r;

	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_int_equal(pthread_create(&thr, NULL, exit_later, &f), 0);
	HEAT(&r, remote, &f, "-d", "5s", "-i", "50ms", "--range", arena_range(&f), "--json");
	pthread_join(thr, NULL);
	assert_int_equal(r.status, 1);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"size\":4096,\"changes\":",
	         (unsigned long long)(f.counter & ~(uint64_t)(PAGE - 1)));
	assert_memory_equal(r.out, expect, strlen(expect));
	assert_non_null(strstr(r.err, " exited after "));
	assert_non_null(strstr(r.err, " of 100 samples; the counts above are of those"));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_heatmap_target_exits(void **state)
{
	(void)state;
	heatmap_target_exits(0);
}

static void test_remote_heatmap_target_exits(void **state)
{
	(void)state;
	heatmap_target_exits(1);
}

/* Ctrl-C ends the sampling early: what was counted is reported, exit 0 (remotely the CLI stops asking
 * for samples and fetches the agent's counts). */
static void heatmap_interrupted(int remote)
{
	const char *const fixture_args[] = { "--tick-ms", "5", NULL };
	const char *args[] = { "-d", "20s", "-i", "100ms", "--range", NULL, "--json", NULL };
	const char *argv[32];
	char where[96], line[256], expect[128];
	ms_session s;
	ms_fixture f;

	assert_int_equal(ms_fixture_start(&f, fixture_args), 0);
	args[5] = arena_range(&f);
	heat_argv(argv, where, remote, &f, NULL, args);
	assert_int_equal(ms_session_start(&s, argv), 0);
	usleep(700 * 1000);
	assert_int_equal(kill(s.pid, SIGINT), 0);
	ms_session_line(&s, line, sizeof(line));
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"size\":4096,\"changes\":",
	         (unsigned long long)(f.counter & ~(uint64_t)(PAGE - 1)));
	if (strncmp(line, expect, strlen(expect)) != 0)
		fail_msg("got '%s', want '%s...'", line, expect);
	assert_int_equal(ms_session_end(&s, NULL), 0);
	ms_fixture_stop(&f);
}

static void test_heatmap_interrupted(void **state)
{
	(void)state;
	heatmap_interrupted(0);
}

static void test_remote_heatmap_interrupted(void **state)
{
	(void)state;
	heatmap_interrupted(1);
}

/* A key without the read grant is refused before anything is counted, with the grant named. */
static void test_remote_heatmap_denied(void **state)
{
	const char *const args[] = { "-d", "200ms", NULL };
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	heat_run(&r, 1, &f, env.listonly.path, args);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "not granted 'read' (needed by heat_start)"));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_heatmap_bad_options(void **state)
{
	static const char *const bad[][8] = {
		{ "heatmap", "1", "--cell", "3000", NULL },
		{ "heatmap", "1", "--cell", "4X", NULL },
		{ "heatmap", "1", "--duration", "50ms", "--interval", "100ms", NULL },
		{ "heatmap", "1", "--interval", "0", NULL },
		{ "heatmap", NULL },
		/* a remote heat lives in a session: 15 minutes at most, 5 idle */
		{ "remote", "heatmap", "127.0.0.1:1:1", "--duration", "15m", NULL },
		{ "remote", "heatmap", "127.0.0.1:1:1", "--duration", "10m", "--interval", "5m", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ms_assert_usage_error(bad[i]);
}

static int group_setup(void **state)
{
	char pub[4300];
	ms_run r;

	(void)state;
	if (ms_agent_init(&env) != 0 || ms_agent_start(&env, NULL) != 0)
		return -1;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", cfg_dir, 1); /* the CLI's known_agents: a fresh one */
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	{
		const char *argv[] = { "trust", hostport, pub, NULL };
		if (ms_run_cli(&r, argv) != 0 || r.status != 0)
			return -1;
		ms_run_free(&r);
	}
	return 0;
}

static int group_teardown(void **state)
{
	int rc;

	(void)state;
	rc = ms_agent_finish(&env);
	ms_tmpdir_remove(cfg_dir);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heatmap_json_counts),
		cmocka_unit_test(test_remote_heatmap_json_counts),
		cmocka_unit_test(test_heatmap_text),
		cmocka_unit_test(test_remote_heatmap_text),
		cmocka_unit_test(test_heatmap_svg),
		cmocka_unit_test(test_remote_heatmap_svg),
		cmocka_unit_test(test_heatmap_target_exits),
		cmocka_unit_test(test_remote_heatmap_target_exits),
		cmocka_unit_test(test_heatmap_interrupted),
		cmocka_unit_test(test_remote_heatmap_interrupted),
		cmocka_unit_test(test_remote_heatmap_denied),
		cmocka_unit_test(test_heatmap_bad_options),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
