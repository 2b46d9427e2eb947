/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan heatmap`: counts against changes the fixture makes at known places and
 * rates (JSON and text), the SVG checked as XML and in a real browser, bad options. */
#include "cliutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096u

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
static void test_heatmap_json_counts(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	struct bumper b;
	pthread_t thr;
	char expect[256];
	ms_fixture f;
	ms_run r;

	(void)state;
	if (memscan_page_size() != PAGE)
		skip();
	assert_int_equal(ms_fixture_start(&f, args), 0);
	start_bumper(&thr, &b, &f, 4);
	RUN(&r, "heatmap", ms_fixture_pid_str(&f), "--duration", "1s", "--interval", "100ms", "--range",
	    arena_range(&f), "--json");
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
	RUN(&r, "heatmap", ms_fixture_pid_str(&f), "-d", "300ms", "-i", "100ms", "--cell", "64", "--range",
	    arena_range(&f), "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"size\":64,\"changes\":3}\n",
	         (unsigned long long)f.counter);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_heatmap_text(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char needle[128];
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	RUN(&r, "heatmap", ms_fixture_pid_str(&f), "-d", "500ms", "-i", "100ms", "--range", arena_range(&f));
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
static void test_heatmap_svg(void **state)
{
	const char *args[] = { "--tick-ms", "2", NULL };
	const char *dir = ms_tmpdir();
	char svg[4096], expect[4200];
	struct bumper b;
	pthread_t thr;
	ms_fixture f;
	ms_run r;

	(void)state;
	if (memscan_page_size() != PAGE)
		skip();
	assert_non_null(dir);
	snprintf(svg, sizeof(svg), "%s/heat.svg", dir);
	assert_int_equal(ms_fixture_start(&f, args), 0);
	start_bumper(&thr, &b, &f, 3);
	RUN(&r, "heatmap", ms_fixture_pid_str(&f), "-d", "2s", "-i", "10ms", "--range", arena_range(&f), "-o",
	    svg);
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

static void *exit_later(void *arg)
{
	ms_fixture *f = arg;

	usleep(400 * 1000);
	ms_fixture_cmd(f, "exit"); /* "ok", then it exits */
	return NULL;
}

/* The target exits before the duration ends: what was counted is reported, and the exit status is 1. */
static void test_heatmap_target_exits(void **state)
{
	const char *args[] = { "--tick-ms", "5", NULL };
	char expect[128];
	pthread_t thr;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_int_equal(pthread_create(&thr, NULL, exit_later, &f), 0);
	RUN(&r, "heatmap", ms_fixture_pid_str(&f), "-d", "5s", "-i", "50ms", "--range", arena_range(&f),
	    "--json");
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

static void test_heatmap_bad_options(void **state)
{
	static const char *const bad[][8] = {
		{ "heatmap", "1", "--cell", "3000", NULL },
		{ "heatmap", "1", "--cell", "4X", NULL },
		{ "heatmap", "1", "--duration", "50ms", "--interval", "100ms", NULL },
		{ "heatmap", "1", "--interval", "0", NULL },
		{ "heatmap", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ms_assert_usage_error(bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heatmap_json_counts), cmocka_unit_test(test_heatmap_text),
		cmocka_unit_test(test_heatmap_svg),         cmocka_unit_test(test_heatmap_target_exits),
		cmocka_unit_test(test_heatmap_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
