/* SPDX-License-Identifier: MIT */
/* Work the agent answers with Progress (docs/protocol.md, "Long work answered with Progress"), and
 * diff pages bounded in time, seen by
 * an honest peer on 127.0.0.1 with real keys: a kept snapshot of a 512 MiB arena asked with
 * progress_ms is answered with Progress until it is read, then with its reply and region pages; the
 * same without progress_ms gets no Progress; any other request drops the work and its budget; a client
 * that leaves mid-read leaves the agent serving; the key's scan and read grants still apply; a diff
 * asked with progress_ms comes in pages that say how far it compared, with the runs of a plain one;
 * a heat's baseline is answered with Progress too. */
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_PAGES "131072" /* 512 MiB: read in about 0.1-0.3 s, many times the 50 ms wait */
#define ARENA_BYTES (512ull << 20)

static ms_agent env;
static ms_fixture fx;

/* A kept snapshot of the whole arena, asked with PROGRESS_MS. */
static Memscan__V1__Response *snapshot_req(ms_peer *p, uint32_t progress_ms)
{
	return ms_peer_snapshot_progress(p, fx.pid, fx.arena, fx.arena + fx.arena_len, progress_ms);
}

static void connect_full(ms_peer *p)
{
	assert_int_equal(ms_peer_connect(p, &env, &env.full, 10000), 0);
}

/* The snapshot's region pages after its first reply: their bytes add up to TOTAL. */
static uint64_t release_after_pages(ms_peer *p, Memscan__V1__Response *resp)
{
	uint64_t id = resp->snapshot->snapshot_id, cursor = resp->snapshot->regions->next_cursor;
	uint64_t total = resp->snapshot->total_bytes;

	wire_free_response(resp);
	while (cursor) {
		resp = ms_peer_next(p, cursor);
		assert_non_null(resp);
		cursor = resp->snapshot && resp->snapshot->regions ? resp->snapshot->regions->next_cursor : 0;
		wire_free_response(resp);
	}
	resp = ms_peer_release(p, id);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_RELEASE);
	wire_free_response(resp);
	return total;
}

static void test_snapshot_answered_with_progress(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t total = 0;
	size_t n = 0;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = ms_peer_follow_progress(&p, snapshot_req(&p, 50), &n, &total);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_true(n >= 1); /* 512 MiB is not read in 50 ms */
	assert_int_equal(total, ARENA_BYTES);
	assert_int_equal(resp->snapshot->total_bytes, ARENA_BYTES);
	assert_int_equal(release_after_pages(&p, resp), ARENA_BYTES);
	ms_peer_close(&p);
}

static void test_snapshot_without_progress_ms(void **state)
{
	Memscan__V1__Response *resp;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = snapshot_req(&p, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_int_equal(release_after_pages(&p, resp), ARENA_BYTES);
	ms_peer_close(&p);
}

/* A Hello while the snapshot is read drops it: the session budget (600 MiB) holds a second one whole,
 * which it could not if the first still held its 512 MiB; a stale cursor finds nothing. */
static void test_other_request_drops_work(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t cursor;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = snapshot_req(&p, 50);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	cursor = resp->progress->next_cursor;
	wire_free_response(resp);
	resp = ms_peer_hello(&p);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	ms_peer_expect_error(ms_peer_next(&p, cursor), MEMSCAN_ERR_NOT_FOUND);
	resp = snapshot_req(&p, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	release_after_pages(&p, resp);
	ms_peer_close(&p);
}

/* The client leaves while the snapshot is read: the agent drops it and serves the next client. */
static void test_client_leaves_mid_work(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t total;
	size_t n;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = snapshot_req(&p, 50);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	wire_free_response(resp);
	ms_peer_close(&p);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
	/* its budget came back: a whole snapshot fits in the next session */
	connect_full(&p);
	resp = ms_peer_follow_progress(&p, snapshot_req(&p, 50), &n, &total);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	release_after_pages(&p, resp);
	ms_peer_close(&p);
}

/* The runs of diff pages from RESP on (freed), followed with Next: their addresses into AT (up to 8),
 * how many pages came and, with CHECK, each page's comparison checked against the one before (done
 * growing within the whole arena, all of it at the last page). */
static size_t diff_pages(ms_peer *p, Memscan__V1__Response *resp, int check, uint64_t *at, size_t *ret_runs)
{
	uint64_t last = 0, cursor = 1;
	size_t pages = 0, runs = 0;

	while (cursor) {
		const Memscan__V1__DiffPage *d;

		assert_non_null(resp);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
		d = resp->diff;
		for (size_t i = 0; i < d->n_runs; i++) {
			assert_int_equal(d->runs[i]->old_bytes.len, 1);
			assert_int_not_equal(d->runs[i]->old_bytes.data[0], d->runs[i]->new_bytes.data[0]);
			if (runs < 8)
				at[runs] = d->runs[i]->address;
			runs++;
		}
		if (check) {
			assert_int_equal(d->total_bytes, ARENA_BYTES);
			assert_true(d->compared_bytes >= last && d->compared_bytes <= d->total_bytes);
			last = d->compared_bytes;
			if (!d->next_cursor)
				assert_int_equal(last, ARENA_BYTES);
		} else {
			assert_int_equal(d->total_bytes, 0); /* not asked for: the page is as before */
		}
		cursor = d->next_cursor;
		pages++;
		wire_free_response(resp);
		resp = cursor ? ms_peer_next(p, cursor) : NULL;
	}
	*ret_runs = runs;
	return pages;
}

/* A diff asked with progress_ms answers page by page as it compares (pages without runs among them,
 * over unchanged memory), saying how far it is; the runs are those of the same diff without it. */
static void test_diff_pages_within_time(void **state)
{
	uint64_t at[8], plain[8], a1 = fx.arena + 4096 + 7, a2 = fx.arena + (384ull << 20) + 3, id;
	Memscan__V1__Response *resp;
	size_t runs, plain_runs, pages;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = snapshot_req(&p, 0);
	assert_non_null(resp);
	id = resp->snapshot->snapshot_id;
	wire_free_response(resp); /* its region table fits one page */
	assert_int_equal(ms_fixture_cmd(&fx, "set %llx 5a", (unsigned long long)a1), 0);
	assert_int_equal(ms_fixture_cmd(&fx, "set %llx a5", (unsigned long long)a2), 0);
	pages = diff_pages(&p, ms_peer_diff_progress(&p, id, 0, 0, 50), 1, at, &runs);
	assert_true(pages >= 2); /* 512 MiB are not compared within 50 ms, nor in one 64 MiB step */
	assert_int_equal(runs, 2);
	assert_true(at[0] == a1 && at[1] == a2);
	assert_int_equal(diff_pages(&p, ms_peer_diff(&p, id, 0, 0), 0, plain, &plain_runs), 1);
	assert_int_equal(plain_runs, 2);
	assert_memory_equal(plain, at, 2 * sizeof(at[0]));
	resp = ms_peer_release(&p, id);
	wire_free_response(resp);
	ms_peer_close(&p);
}

/* A heat of the arena asked with progress_ms: Progress while its baseline is read, then the heat,
 * which samples; dropped by a Hello mid-read, it is not kept (its budget back: a second one fits). */
static void test_heat_start_answered_with_progress(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t total = 0, heat;
	size_t n = 0;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = ms_peer_heat_start_progress(&p, fx.pid, fx.arena, fx.arena + fx.arena_len, 50);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	wire_free_response(resp);
	wire_free_response(ms_peer_hello(&p)); /* drops it */
	resp = ms_peer_follow_progress(
	    &p, ms_peer_heat_start_progress(&p, fx.pid, fx.arena, fx.arena + fx.arena_len, 50), &n, &total);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HEAT);
	assert_true(n >= 1);
	assert_int_equal(total, ARENA_BYTES);
	assert_int_equal(resp->heat->total_bytes, ARENA_BYTES);
	heat = resp->heat->heat_id;
	wire_free_response(resp);
	resp = ms_peer_heat_sample(&p, heat);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HEAT_SAMPLE);
	wire_free_response(resp);
	ms_peer_close(&p);
}

/* A key granted list only is refused before any work starts, Progress or not. */
static void test_grant_still_checked(void **state)
{
	ms_peer p;

	(void)state;
	assert_int_equal(ms_peer_connect(&p, &env, &env.listonly, 10000), 0);
	ms_peer_expect_error(snapshot_req(&p, 50), MEMSCAN_ERR_DENIED);
	ms_peer_close(&p);
}

int main(void)
{
	/* the session budget holds one arena snapshot, not two */
	static const char *const agent_args[] = { "--session-budget", "600M", NULL };
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_answered_with_progress),
		cmocka_unit_test(test_snapshot_without_progress_ms),
		cmocka_unit_test(test_other_request_drops_work),
		cmocka_unit_test(test_client_leaves_mid_work),
		cmocka_unit_test(test_diff_pages_within_time),
		cmocka_unit_test(test_heat_start_answered_with_progress),
		cmocka_unit_test(test_grant_still_checked),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return ms_agent_run_suite_fx("agent progress", &env, &fx, fixture_args, agent_args, tests,
	                             sizeof(tests) / sizeof(tests[0]));
}
