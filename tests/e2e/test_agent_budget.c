/* SPDX-License-Identifier: MIT */
/* What sessions keep on a real memscan-agent is bounded: pending scan results under the budgets, kept
 * snapshots under max_snapshots and their descriptors. */
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One agent for the whole file: a global budget of 40 MiB, at most 40 snapshots per session. */
static ms_agent env;
static ms_fixture fx;

#define GLOBAL_BUDGET_MIB 40
#define MAX_SNAPSHOTS     40
/* AddressSanitizer's quarantine keeps freed memory resident: only plain builds measure the RSS. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Matches a scan keeps: an array of 16 MiB (16 bytes a match) once complete. */
#define SCAN_MATCHES (1u << 20)

/* Scan of BIG's sparse region (zeros but for one byte in 64 pages) for zero bytes: SCAN_MATCHES
 * matches, the first page of them answered. */
static Memscan__V1__Response *scan_all(ms_peer *p, const ms_fixture *big)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = big->pid;
	fl.use_default = 1;
	fl.range_start = big->sparse;
	fl.range_end = big->sparse + big->sparse_len;
	sc.target = &t;
	sc.filter = &fl;
	sc.pattern = (char *)"00";
	sc.max_results = SCAN_MATCHES;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	return ms_peer_call(p, &req);
}

static int is_scan_page(const Memscan__V1__Response *resp)
{
	return resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_SCAN && resp->scan->n_matches > 0 &&
	       resp->scan->next_cursor != 0;
}

/* Asserts RESP is a BUSY error naming a budget, and frees it. */
static void expect_budget_error(Memscan__V1__Response *resp)
{
	assert_non_null(resp);
	if (resp->result_case != MEMSCAN__V1__RESPONSE__RESULT_ERROR)
		print_error("a scan kept past the budget was answered with result %d\n", resp->result_case);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN__V1__ERROR_CODE__BUSY);
	assert_non_null(strstr(resp->error->message, "budget"));
	/* sizes for people, and the setting that raises the budget */
	assert_non_null(strstr(resp->error->message, " MiB of "));
	assert_non_null(strstr(resp->error->message, "_budget in agent.conf, or --"));
	wire_free_response(resp);
}

/* Pages through the rest of a scan (the pending result is then dropped). */
static void drain(ms_peer *p, Memscan__V1__Response *first)
{
	uint64_t cursor = first->scan->next_cursor;

	while (cursor) {
		Memscan__V1__Response *next = ms_peer_next(p, cursor);

		assert_non_null(next);
		assert_int_equal(next->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
		cursor = next->scan->next_cursor;
		wire_free_response(next);
	}
}

/* Six sessions each scan for 1 Mi matches (16 MiB kept) and stop after the first page. Under a global
 * budget of 40 MiB the first two keep theirs, the later four get a budget error, the agent's memory
 * stays near what the two hold; paging one to its end gives its share back to the next scan. */
static void test_pending_scans_budgeted(void **state)
{
	const char *big_args[] = { "--sparse-pages", "512", NULL };
	Memscan__V1__Response *first[2], *resp = NULL;
	long rss0 = ms_agent_rss_kib(&env), rss;
	ms_peer p[6], late;
	ms_fixture big;

	(void)state;
	assert_int_equal(ms_fixture_start(&big, big_args), 0);
	assert_true(big.sparse_len >= 2 * SCAN_MATCHES);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(ms_peer_connect(&p[i], &env, &env.full, 10000), 0);
		resp = scan_all(&p[i], &big);
		if (i < 2) {
			assert_true(is_scan_page(resp));
			first[i] = resp;
		} else {
			expect_budget_error(resp);
		}
	}
	rss = ms_agent_rss_kib(&env);
	print_message("agent RSS %ld KiB before, %ld KiB with two scans kept and four refused\n", rss0, rss);
#ifndef UNDER_ASAN
	/* two arrays of 16 MiB are kept (and reply frames and some free heap); six would be 96 MiB */
	assert_true(rss > 0 && rss - rss0 < 64 * 1024);
#endif
	drain(&p[0], first[0]);
	resp = scan_all(&p[2], &big);
	assert_true(is_scan_page(resp));
	wire_free_response(resp);
	resp = NULL;
	/* sessions that end give their pending results back too */
	for (int i = 0; i < 6; i++)
		ms_peer_close(&p[i]);
	assert_int_equal(ms_peer_connect(&late, &env, &env.full, 10000), 0);
	for (int64_t end = ms_now_ms() + 10000; ms_now_ms() < end; usleep(50000)) {
		wire_free_response(resp);
		resp = scan_all(&late, &big);
		assert_non_null(resp);
		if (resp->result_case != MEMSCAN__V1__RESPONSE__RESULT_ERROR)
			break;
	}
	assert_true(is_scan_page(resp));
	wire_free_response(resp);
	ms_peer_close(&late);
	wire_free_response(first[0]);
	wire_free_response(first[1]);
	ms_fixture_stop(&big);
}

/* Snapshot of one page of the fixture's arena. */
static Memscan__V1__Response *snap_page(ms_peer *p)
{
	return ms_peer_snapshot(p, fx.pid, fx.arena, fx.arena + 4096);
}

/* A session keeps at most max_snapshots snapshots: the next one is refused with LIMIT, and after a
 * release one more fits. */
static void test_snapshot_cap(void **state)
{
	uint64_t ids[MAX_SNAPSHOTS];
	Memscan__V1__Response *resp;
	ms_peer p;

	(void)state;
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	for (int i = 0; i < MAX_SNAPSHOTS; i++) {
		resp = snap_page(&p);
		assert_non_null(resp);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
		ids[i] = resp->snapshot->snapshot_id;
		wire_free_response(resp);
	}
	ms_peer_expect_error(snap_page(&p), MEMSCAN__V1__ERROR_CODE__LIMIT);
	wire_free_response(ms_peer_release(&p, ids[0]));
	resp = snap_page(&p);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	wire_free_response(resp);
	ms_peer_close(&p);
}

/* Each kept snapshot holds one descriptor (the process's pidfd), not one per /proc file: a session
 * keeping max_snapshots of them adds at most that many plus a few to the agent's descriptors. */
static void test_snapshot_descriptors_bounded(void **state)
{
	size_t before, after;
	ms_peer p;

	(void)state;
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	wire_free_response(ms_peer_hello(&p));
	before = ms_agent_fd_count(&env);
	for (int i = 0; i < MAX_SNAPSHOTS; i++) {
		Memscan__V1__Response *resp = snap_page(&p);

		assert_non_null(resp);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
		wire_free_response(resp);
	}
	after = ms_agent_fd_count(&env);
	print_message("agent descriptors: %zu before, %zu with %d snapshots kept\n", before, after,
	              MAX_SNAPSHOTS);
	assert_true(after <= before + MAX_SNAPSHOTS + 4);
	ms_peer_close(&p);
}

int main(void)
{
	const char *args[] = { "--global-budget", "40M", "--max-snapshots", "40", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pending_scans_budgeted),
		cmocka_unit_test(test_snapshot_cap),
		cmocka_unit_test(test_snapshot_descriptors_bounded),
	};
	return ms_agent_run_suite("test_agent_budget", &env, &fx, args, tests,
	                          sizeof(tests) / sizeof(tests[0]));
}
