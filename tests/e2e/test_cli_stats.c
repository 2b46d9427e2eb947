/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan diff PID --watch --stats`: the summary after --count batches (text and
 * JSON) and after SIGTERM, its counts checked against what the fixture changes; misuse of the options. */
#include "cliutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

static uint64_t counter_cell(const ms_fixture *f)
{
	return f->counter & ~(uint64_t)4095;
}

/* The counter ticks every 5 ms: it changes in each of the three batches, nothing else of the arena. */
static void test_stats_count_text(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char needle[160];
	const char *sum;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "-i", "100ms", "-w", "-n", "3", "--stats", "--range",
	    arena_range(&f));
	assert_int_equal(r.status, 0);
	sum = strstr(r.out, "\n# 3 samples in 0.");
	assert_non_null(sum);
	assert_non_null(strstr(sum, " s; 1 cells of 4 KiB changed in 1 regions; "));
	snprintf(needle, sizeof(needle), "\n  0x%-16llx       3 ", (unsigned long long)counter_cell(&f));
	assert_non_null(strstr(sum, needle));
	snprintf(needle, sizeof(needle), "\n  %016llx-%016llx rw-p       3       1 ",
	         (unsigned long long)f.arena, (unsigned long long)(f.arena + f.arena_len));
	assert_non_null(strstr(sum, needle));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_stats_count_json(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char expect[512];
	const char *last;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "-i", "100ms", "-w", "-n", "2", "--stats", "--cell", "64",
	    "--json", "--range", arena_range(&f));
	assert_int_equal(r.status, 0);
	last = strstr(r.out, "{\"stats\":{\"samples\":2,\"seconds\":0.");
	assert_non_null(last);
	assert_non_null(strstr(last, ",\"cell_size\":64,\"regions\":[{"));
	snprintf(expect, sizeof(expect),
	         "\"regions\":[{\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"perms\":\"rw-p\",\"kind\":\"anon\","
	         "\"path\":\"\",\"changes\":2,\"cells\":1,",
	         (unsigned long long)f.arena, (unsigned long long)(f.arena + f.arena_len));
	assert_non_null(strstr(last, expect));
	snprintf(expect, sizeof(expect),
	         "\"hottest\":[{\"address\":\"0x%llx\",\"size\":64,\"changes\":2}]}}\n",
	         (unsigned long long)f.counter);
	assert_non_null(strstr(last, expect));
	assert_int_equal(ms_count_lines(last), 1);
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

/* Runs the CLI with ARGV, sends SIGTERM after DELAY_MS and returns its stdout (malloc'd) and status. */
static char *run_then_term(const char *const *argv, unsigned delay_ms, int *ret_status)
{
	static char out[65536];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(MEMSCAN_CLI_PATH, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	usleep(delay_ms * 1000);
	assert_int_equal(kill(pid, SIGTERM), 0);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	out[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return strdup(out);
}

static void test_stats_sigterm(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	const char *argv[] = {
		"memscan", "diff", NULL, "-i", "100ms", "-w", "--stats", "--range", NULL, NULL
	};
	char needle[160], *out;
	int status;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	argv[2] = ms_fixture_pid_str(&f);
	argv[8] = arena_range(&f);
	out = run_then_term(argv, 650, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, " samples in 0."));
	snprintf(needle, sizeof(needle), "\n  0x%-16llx ", (unsigned long long)counter_cell(&f));
	assert_non_null(strstr(out, needle));
	assert_non_null(strstr(out, "hottest regions:\n"));
	free(out);
	ms_fixture_stop(&f);
}

static void test_stats_misuse(void **state)
{
	static const char *const bad[][8] = {
		{ "diff", "1", "--stats", NULL },
		{ "diff", "1", "-w", "--cell", "64", NULL },
		{ "diff", "1", "-w", "--stats", "--cell", "96", NULL },
		{ "diff", "a.snap", "b.snap", "--stats", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ms_assert_usage_error(bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_count_text),
		cmocka_unit_test(test_stats_count_json),
		cmocka_unit_test(test_stats_sigterm),
		cmocka_unit_test(test_stats_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
