/* SPDX-License-Identifier: MIT */
/* The life of the agent's jobs (agent/job.c) seen by an honest peer on 127.0.0.1 with real keys: a
 * scan asked with progress_ms and dropped, failed or cut short by SIGTERM leaves an agent that exits
 * cleanly, an audit line with what it read, and its places for the jobs after it. */
#include "agentutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ARENA_PAGES "131072" /* 512 MiB: scanned in about 0.1-0.5 s, many times the 50 ms wait */

static ms_agent env;
static ms_fixture fx;

/* A fixture with a 512 MiB arena, into F. */
static void arena_start(ms_fixture *f)
{
	static const char *const args[] = { "--pages", ARENA_PAGES, NULL };

	assert_int_equal(ms_fixture_start(f, args), 0);
}

/* An agent of its own with WORKERS workers, into A. */
static void agent_start(ms_agent *a, const char *workers)
{
	const char *const args[] = { "--workers", workers, NULL };

	assert_int_equal(ms_agent_init(a), 0);
	assert_int_equal(ms_agent_start(a, args), 0);
}

/* Stops A with SIGTERM: it must exit 0 (under ASan: LeakSanitizer found nothing). */
static void agent_end(ms_agent *a)
{
	assert_int_equal(ms_agent_terminate(a, 30000), 0);
	ms_agent_stop(a);
	ms_agent_cleanup(a);
}

/* A scan of the arena for the fixture's marker, asked with PROGRESS_MS. */
static Memscan__V1__Response *scan_req(ms_peer *p, const ms_fixture *f, uint32_t progress_ms)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = f->pid;
	fl.use_default = 1;
	fl.range_start = f->arena;
	fl.range_end = f->arena + f->arena_len;
	sc.target = &t;
	sc.filter = &fl;
	sc.pattern = (char *)MS_FIXTURE_MARKER;
	sc.progress_ms = progress_ms;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	return ms_peer_call(p, &req);
}

/* A scan asked with progress_ms 50 and answered with Progress: its cursor. */
static uint64_t scan_running(ms_peer *p, const ms_fixture *f)
{
	Memscan__V1__Response *resp = scan_req(p, f, 50);
	uint64_t cursor;

	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	cursor = resp->progress->next_cursor;
	wire_free_response(resp);
	return cursor;
}

/* Follows Progress replies from RESP on with Next until one says DONE > 0; returns its DONE. */
static uint64_t progress_past_zero(ms_peer *p, Memscan__V1__Response *resp)
{
	uint64_t done = 0;

	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		uint64_t cursor = resp->progress->next_cursor;

		done = resp->progress->done;
		wire_free_response(resp);
		if (done)
			return done;
		resp = ms_peer_next(p, cursor);
	}
	fail_msg("the scan ended before it said it read anything");
	return 0;
}

/* Follows Progress replies with Next until another reply, which it returns. */
static Memscan__V1__Response *follow(ms_peer *p, Memscan__V1__Response *resp)
{
	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		uint64_t cursor = resp->progress->next_cursor;

		wire_free_response(resp);
		resp = ms_peer_next(p, cursor);
	}
	return resp;
}

/* As follow, *RET_PROGRESS set if RESP was Progress (the work ran as a job). */
static Memscan__V1__Response *follow_if(ms_peer *p, Memscan__V1__Response *resp, int *ret_progress)
{
	assert_non_null(resp);
	*ret_progress = resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	return follow(p, resp);
}

/* Every way a job ends gives its place back: with 4 workers (2 places: half the workers run jobs at
 * most), more jobs than that end in turn, and a scan still runs as a job after them. */
static void test_job_places_come_back(void **state)
{
	Memscan__V1__Response *resp;
	ms_agent a;
	ms_peer p;

	(void)state;
	agent_start(&a, "4");
	for (int i = 0; i < 3; i++) {
		uint64_t cursor;

		assert_int_equal(ms_peer_connect(&p, &a, &a.full, 10000), 0);
		cursor = scan_running(&p, &fx);
		resp = ms_peer_hello(&p);
		wire_free_response(resp);
		(void)scan_running(&p, &fx);
		ms_peer_expect_error(ms_peer_next(&p, cursor), MEMSCAN_ERR_NOT_FOUND);
		resp = follow(&p, scan_req(&p, &fx, 50));
		assert_non_null(resp);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
		wire_free_response(resp);
		(void)scan_running(&p, &fx);
		ms_peer_close(&p);
	}
	assert_int_equal(ms_peer_connect(&p, &a, &a.full, 10000), 0);
	(void)scan_running(&p, &fx);
	(void)scan_running(&p, &fx);
	ms_peer_close(&p);
	agent_end(&a);
}

/* Seconds since T0 (CLOCK_MONOTONIC). */
static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A job whose work is done but whose client never asks for its result holds no place: with one
 * worker, another session's scan asked with progress_ms still runs as a job (answered with
 * Progress), not on the worker. */
static void test_done_job_frees_its_place(void **state)
{
	Memscan__V1__Response *resp;
	struct timespec t0;
	ms_peer idle, busy;
	uint64_t cursor;
	int progress = 0;
	double took;
	ms_agent a;

	(void)state;
	agent_start(&a, "1");
	assert_int_equal(ms_peer_connect(&busy, &a, &a.full, 10000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	resp = follow(&busy, scan_req(&busy, &fx, 50));
	took = since(&t0);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	wire_free_response(resp);

	assert_int_equal(ms_peer_connect(&idle, &a, &a.full, 10000), 0);
	cursor = scan_running(&idle, &fx);
	/* its scan is over after about TOOK: until then the place is rightly taken (a loaded machine
	 * may take longer, hence the tries) */
	for (int i = 0; i < 10; i++) {
		usleep((useconds_t)(took * 1e6) + 100000);
		resp = follow_if(&busy, scan_req(&busy, &fx, 50), &progress);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
		wire_free_response(resp);
		if (progress)
			break;
	}
	assert_true(progress);
	resp = follow(&idle, ms_peer_next(&idle, cursor));
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	wire_free_response(resp);
	ms_peer_close(&idle);
	ms_peer_close(&busy);
	agent_end(&a);
}

/* The target exits while it is scanned: the scan's answer is PROCESS_GONE, not a hang. */
static void test_target_exits_mid_scan(void **state)
{
	Memscan__V1__Response *resp;
	ms_fixture f;
	ms_peer p;
	pid_t pid;

	(void)state;
	arena_start(&f);
	pid = f.pid;
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	resp = scan_req(&p, &f, 50);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	/* killed and reaped: whether its scan ended before or not, its result is not sent */
	ms_fixture_stop(&f);
	resp = follow(&p, resp);
	ms_peer_expect_error(resp, MEMSCAN_ERR_PROCESS_GONE);
	ms_peer_close(&p);
	/* audited with what it read before the process went */
	assert_true(ms_agent_audited_bytes(&env, "scan", pid, "result=PROCESS_GONE") > 0);
}

/* The agent is stopped (SIGTERM) while a scan runs on its job's thread: it exits 0 (under ASan:
 * LeakSanitizer found nothing). */
static void test_sigterm_mid_scan(void **state)
{
	ms_agent a;
	ms_peer p;

	(void)state;
	agent_start(&a, "2");
	assert_int_equal(ms_peer_connect(&p, &a, &a.full, 10000), 0);
	(void)scan_running(&p, &fx);
	agent_end(&a);
	ms_peer_close(&p);
}

/* Work dropped by another request (BY_HELLO), or by its client leaving, is audited once, CANCELLED,
 * with the bytes it had read (protocol.md), not 0. */
static void dropped_scan_audited(int by_hello)
{
	uint64_t done;
	ms_fixture f;
	ms_peer p;

	arena_start(&f);
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	done = progress_past_zero(&p, scan_req(&p, &f, 50));
	if (by_hello)
		wire_free_response(ms_peer_hello(&p));
	else
		ms_peer_close(&p);
	assert_true(ms_agent_audited_bytes(&env, "scan", f.pid, "result=CANCELLED") >= (long long)done);
	if (by_hello)
		ms_peer_close(&p);
	ms_fixture_stop(&f);
}

static void test_dropped_scan_audited(void **state)
{
	(void)state;
	dropped_scan_audited(1);
	dropped_scan_audited(0);
}

/* A scan asked without progress_ms runs on the worker; its client leaving mid-scan (its wait given up
 * after 10 ms) stops it, audited CANCELLED with what its reads covered, not 0. */
static void test_inline_scan_audited(void **state)
{
	Memscan__V1__Response *resp;
	long long bytes;
	ms_fixture f;
	ms_peer p;

	(void)state;
	arena_start(&f);
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	assert_int_equal(nng_socket_set_ms(p.sock, NNG_OPT_RECVTIMEO, 10), 0);
	resp = scan_req(&p, &f, 0);
	assert_null(resp); /* 512 MiB is not scanned in 10 ms */
	ms_peer_close(&p);
	bytes = ms_agent_audited_bytes(&env, "scan", f.pid, "result=CANCELLED");
	print_message("audited CANCELLED with %lld bytes\n", bytes);
	assert_true(bytes > 0);
	ms_fixture_stop(&f);
}

int main(void)
{
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_mid_scan),         cmocka_unit_test(test_dropped_scan_audited),
		cmocka_unit_test(test_inline_scan_audited),      cmocka_unit_test(test_job_places_come_back),
		cmocka_unit_test(test_done_job_frees_its_place), cmocka_unit_test(test_target_exits_mid_scan),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return ms_agent_run_suite_fx("agent job", &env, &fx, fixture_args, NULL, tests,
	                             sizeof(tests) / sizeof(tests[0]));
}
