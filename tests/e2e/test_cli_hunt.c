/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan hunt` through a pipe: a hunt for values the test changes in the
 * fixture, every prompt command, bad input that leaves the session going, and a target that exits. */
#include "cliutil.h"

#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOT_A 0x31000 /* arena offsets of the hunted u32 values */
#define SLOT_B 0x31100

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

static void poke_u32(ms_fixture *f, uint64_t addr, uint32_t v)
{
	ms_fixture_poke(f, addr, &v, sizeof(v));
}

/* Sends LINE and expects EXPECT as the next line of output. */
static void step(ms_session *s, const char *line, const char *expect)
{
	char got[512];

	ms_session_send(s, "%s", line);
	ms_session_line(s, got, sizeof(got));
	if (strcmp(got, expect))
		fail_msg("after '%s': got '%s', expected '%s'", line, got, expect);
}

/* Sends "list" and expects one candidate, ADDR, with its value now (read with pread) and OLD. */
static void list_one(ms_session *s, const ms_fixture *f, uint64_t addr, uint32_t old)
{
	char got[512], expect[128];
	uint32_t now;

	ms_session_send(s, "list");
	ms_session_line(s, got, sizeof(got));
	ms_fixture_peek(f, addr, &now, sizeof(now));
	snprintf(expect, sizeof(expect), "0x%llx  u32  %u  (was %u)", (unsigned long long)addr, now, old);
	assert_string_equal(got, expect);
	ms_session_line(s, got, sizeof(got));
	assert_string_equal(got, "1 candidate");
}

static void test_hunt(void **state)
{
	ms_fixture *f = *state;
	const char *argv[] = {
		"hunt", ms_fixture_pid_str(f), "--type", "u32", "--range", arena_range(f), NULL
	};
	uint64_t a = f->arena + SLOT_A, b = f->arena + SLOT_B;
	ms_session s;
	char *err;

	poke_u32(f, a, 4242);
	poke_u32(f, b, 4242);
	assert_int_equal(ms_session_start(&s, argv), 0);
	step(&s, "4242", "2 candidates");
	poke_u32(f, a, 4250);
	step(&s, ">", "1 candidate");
	list_one(&s, f, a, 4250);
	poke_u32(f, a, 4245);
	step(&s, "-5", "1 candidate");
	step(&s, "+1", "0 candidates");
	step(&s, "undo", "1 candidate");
	step(&s, "undo", "1 candidate");
	step(&s, "undo", "2 candidates");
	/* from the scan (both 4242): A changed, B did not */
	step(&s, "=", "1 candidate");
	list_one(&s, f, b, 4242);
	step(&s, "undo", "2 candidates");
	step(&s, "!=", "1 candidate");
	poke_u32(f, a, 4000);
	step(&s, "<", "1 candidate");
	step(&s, "4000", "1 candidate");
	step(&s, "4001", "0 candidates");
	step(&s, "reset", "no candidates: type a value to scan for, or 'snapshot'");
	step(&s, "type i16", "type i16; no candidates: type a value to scan for, or 'snapshot'");
	step(&s, "type u32", "type u32; no candidates: type a value to scan for, or 'snapshot'");
	/* unknown initial value: remember every slot, then keep the one that changed */
	ms_session_send(&s, "snapshot");
	{
		char got[128], expect[128];

		ms_session_line(&s, got, sizeof(got));
		snprintf(expect, sizeof(expect), "%llu slots of u32 remembered (unknown value)",
		         (unsigned long long)(f->arena_len / 4));
		assert_string_equal(got, expect);
	}
	poke_u32(f, a, 77);
	step(&s, "!=", "1 candidate");
	list_one(&s, f, a, 77);
	ms_session_send(&s, "quit");
	assert_int_equal(ms_session_end(&s, &err), 0);
	assert_string_equal(err, "");
	free(err);
}

/* Bad lines say what is wrong on stderr and the session goes on; end of input ends it. */
static void test_hunt_bad_input(void **state)
{
	ms_fixture *f = *state;
	const char *argv[] = {
		"hunt", ms_fixture_pid_str(f), "--type", "u8", "--range", arena_range(f), NULL
	};
	uint8_t *arena = malloc(f->arena_len);
	char sevens[32];
	size_t n = 0;
	ms_session s;
	char *err;

	assert_non_null(arena);
	ms_fixture_peek(f, f->arena, arena, f->arena_len);
	for (size_t i = 0; i < f->arena_len; i++)
		n += arena[i] == 7;
	free(arena);
	snprintf(sevens, sizeof(sevens), "%zu candidates", n);
	assert_int_equal(ms_session_start(&s, argv), 0);
	ms_session_send(&s, ">");
	ms_session_send(&s, "300");
	ms_session_send(&s, "12x");
	ms_session_send(&s, "type zz");
	ms_session_send(&s, "frobnicate now");
	ms_session_send(&s, "%s", "   ");
	ms_session_send(&s, "undo");
	step(&s, "7", sevens); /* the first line of output: the lines before printed only errors */
	ms_session_send(&s, "-x");
	ms_session_send(&s, "256");
	step(&s, "7", sevens);
	assert_int_equal(ms_session_end(&s, &err), 0);
	assert_non_null(strstr(err, "nothing to compare yet"));
	assert_non_null(strstr(err, "'300' does not fit u8"));
	assert_non_null(strstr(err, "'12x' is not a value of type u8 (at offset 2)"));
	assert_non_null(strstr(err, "unknown type 'zz'"));
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	assert_non_null(strstr(err, "nothing to undo"));
	assert_non_null(strstr(err, "'x' is not a value of type u8"));
	assert_non_null(strstr(err, "value '256' does not fit u8"));
	free(err);
}

/* Hunts in a fresh fixture that exits after the first step (a scan for 7 when SCAN_FIRST, else
 * none), then steps on: the hunt must say the PID exited and end with status 1. */
static void hunt_until_exit(int scan_first)
{
	ms_fixture g = { 0 };
	const char *argv[] = { "hunt", NULL, "--type", "u8", "--range", NULL, NULL };
	ms_session s;
	char *err, pid[16], expect[64];

	assert_int_equal(ms_fixture_start(&g, NULL), 0);
	snprintf(pid, sizeof(pid), "%d", (int)g.pid);
	argv[1] = pid;
	argv[5] = arena_range(&g);
	assert_int_equal(ms_session_start(&s, argv), 0);
	/* 1024 bytes of 7 in a fresh arena, less the two markers and the counter written over three */
	if (scan_first)
		step(&s, "7", "1021 candidates");
	else
		step(&s, "type", "type u8"); /* the target is open */
	snprintf(expect, sizeof(expect), "PID %d exited", (int)g.pid);
	ms_fixture_stop(&g);
	ms_session_send(&s, scan_first ? ">" : "7");
	assert_int_equal(ms_session_end(&s, &err), 1);
	if (!strstr(err, expect))
		fail_msg("stderr '%s' does not say '%s'", err, expect);
	free(err);
}

/* The hunted process exits: the next step says so and the session ends with status 1. */
static void test_hunt_target_exits(void **state)
{
	(void)state;
	hunt_until_exit(1);
}

/* A process that exits before the first scan ends the hunt with status 1 too. */
static void test_hunt_exits_before_scan(void **state)
{
	(void)state;
	hunt_until_exit(0);
}

/* Commands that take no argument refuse one, snapshot refuses str, an over-long line is refused. */
static void test_hunt_refusals(void **state)
{
	ms_fixture *f = *state;
	const char *argv[] = {
		"hunt", ms_fixture_pid_str(f), "--type", "str", "--range", arena_range(f), NULL
	};
	static char long_line[5000];
	ms_session s;
	char *err;

	memset(long_line, 'M', sizeof(long_line) - 1);
	assert_int_equal(ms_session_start(&s, argv), 0);
	ms_session_send(&s, "quit now");
	ms_session_send(&s, "list all");
	ms_session_send(&s, "snapshot");
	ms_session_send(&s, "%s", long_line);
	step(&s, "list", "no candidates: type a value to scan for, or 'snapshot'");
	assert_int_equal(ms_session_end(&s, &err), 0);
	assert_non_null(strstr(err, "quit takes no argument"));
	assert_non_null(strstr(err, "list takes no argument"));
	assert_non_null(strstr(err, "snapshot remembers numbers, not strings"));
	assert_non_null(strstr(err, "line too long (at most 4094 bytes)"));
	assert_null(strstr(err, "invalid argument"));
	free(err);
}

/* Past --undo-memory the oldest steps are dropped, said once, and undo then has less to go back to:
 * a u8 snapshot of the arena (1 byte a slot), then two '=' (10 bytes a candidate each) in 12 bytes
 * an arena byte keep only the last step. */
static void test_hunt_undo_memory(void **state)
{
	ms_fixture *f = *state;
	char budget[32], got[256];
	const char *argv[] = { "hunt",         ms_fixture_pid_str(f), "--type", "u8", "--range",
		               arena_range(f), "--undo-memory",       budget,   NULL };
	ms_session s;
	char *err;

	snprintf(budget, sizeof(budget), "%llu", (unsigned long long)f->arena_len * 12);
	assert_int_equal(ms_session_start(&s, argv), 0);
	ms_session_send(&s, "snapshot");
	ms_session_line(&s, got, sizeof(got));
	assert_non_null(strstr(got, "slots of u8 remembered"));
	ms_session_send(&s, "=");
	ms_session_line(&s, got, sizeof(got));
	assert_true(strtoull(got, NULL, 10) > f->arena_len / 2);
	ms_session_send(&s, "=");
	ms_session_line(&s, got, sizeof(got));
	ms_session_send(&s, "=");
	ms_session_line(&s, got, sizeof(got));
	step(&s, "undo", "no candidates: type a value to scan for, or 'snapshot'");
	assert_int_equal(ms_session_end(&s, &err), 0);
	assert_non_null(strstr(err, "undo history trimmed to 1 step (memory"));
	assert_null(strstr(strstr(err, "trimmed") + 1, "trimmed")); /* said once */
	free(err);
}

/* Waits until the CLI of S blocks reading its stdin (/proc/PID/syscall names read), at most 10 s. */
static void wait_for_prompt(const ms_session *s)
{
	char path[64], line[256];
	int64_t deadline = ms_now_ms() + 10000;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)s->pid);
	for (;;) {
		FILE *fp = fopen(path, "r");
		long nr = -2;

		assert_non_null(fp);
		if (fgets(line, sizeof(line), fp) && line[0] >= '0' && line[0] <= '9') /* not "running" */
			nr = strtol(line, NULL, 10);
		fclose(fp);
		if (nr == SYS_read)
			return;
		assert_true(ms_now_ms() < deadline);
		usleep(2000);
	}
}

/* Ctrl-C at the prompt does not end the session; SIGTERM does (status 143, as shells report). */
static void test_hunt_signals(void **state)
{
	ms_fixture *f = *state;
	const char *argv[] = {
		"hunt", ms_fixture_pid_str(f), "--type", "u16", "--range", arena_range(f), NULL
	};
	ms_session s;
	char *err;

	assert_int_equal(ms_session_start(&s, argv), 0);
	step(&s, "type", "type u16"); /* started: its handler is in place (ld.so reads files too) */
	wait_for_prompt(&s);
	kill(s.pid, SIGINT);
	step(&s, "reset", "no candidates: type a value to scan for, or 'snapshot'");
	wait_for_prompt(&s);
	kill(s.pid, SIGINT);
	step(&s, "type", "type u16");
	wait_for_prompt(&s);
	kill(s.pid, SIGTERM);
	assert_int_equal(ms_session_end(&s, &err), 128 + SIGTERM);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hunt),
		cmocka_unit_test(test_hunt_bad_input),
		cmocka_unit_test(test_hunt_target_exits),
		cmocka_unit_test(test_hunt_exits_before_scan),
		cmocka_unit_test(test_hunt_refusals),
		cmocka_unit_test(test_hunt_undo_memory),
		cmocka_unit_test(test_hunt_signals),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
