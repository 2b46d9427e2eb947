/* SPDX-License-Identifier: MIT */
/* Totals of the client's progress. Against a fake agent (real channel and keys on 127.0.0.1) whose
 * Progress replies say the work has no total (0) while their done grows: done beyond the total is
 * refused as PROTOCOL at the first such reply, whatever the total, so such an agent cannot keep a
 * client waiting by moving done forever; a total it keeps is what memscan_client_set_progress_total's
 * callback receives. Against a real agent and the fixture: reads, a live snapshot written to a file,
 * a kept snapshot's download and its diff give that callback their own totals. */
#include "agentutil.h"
#include "fakeagent.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_PAGE (4u << 20)
#define BASE      0x7f0000000000ull
#define LEN       0x10000u
/* Progress replies the fake sends before the snapshot's reply: many, where one is too many */
#define MAX_PROGRESS 40

static ms_fake fa;
static uint64_t total;  /* what the fake's Progress replies announce */
static size_t requests; /* Snapshot and Next requests the fake answered */

/* What a progress callback with totals saw: reports, the last done and total, and whether a total
 * differed from WANT, done passed it or went back. */
struct totals {
	uint64_t want, calls, done, total;
	int wrong;
};

static void on_total(void *ctx, uint64_t done, uint64_t total_now)
{
	struct totals *t = ctx;

	t->wrong |= total_now != t->want || done > total_now || (t->calls && done < t->done);
	t->done = done;
	t->total = total_now;
	t->calls++;
}

/* Asserts T saw at least one report, all of WANT; resets it to WANT for the next call. */
static void assert_totals(struct totals *t, uint64_t want)
{
	print_message("%llu reports, the last %llu of %llu\n", (unsigned long long)t->calls,
	              (unsigned long long)t->done, (unsigned long long)t->total);
	assert_true(t->calls >= 1);
	assert_false(t->wrong);
	memset(t, 0, sizeof(*t));
	t->want = want;
}

static void send_progress(ms_fake *f, uint64_t done)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;

	pr.done = done;
	pr.total = total;
	pr.next_cursor = 7 + requests;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	resp.progress = &pr;
	ms_fake_send(f, &resp);
}

/* A kept snapshot answered with MAX_PROGRESS Progress replies, done 100 more each time, then its
 * reply. */
static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	if (req->op_case == MEMSCAN__V1__REQUEST__OP_SNAPSHOT ||
	    req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT) {
		requests++;
		if (requests <= MAX_PROGRESS)
			send_progress(f, 100 * requests);
		else
			ms_fake_send_snapshot(f, 5, LEN, BASE, LEN);
	} else if (req->op_case == MEMSCAN__V1__REQUEST__OP_RELEASE) {
		ms_fake_send_error(f, MEMSCAN_ERR_NOT_FOUND, "no such snapshot");
	} else {
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "not in this fake");
	}
}

/* A kept snapshot of the fake whose Progress replies announce TOTAL, reported to SEEN (if not NULL)
 * with totals; its result. */
static int snapshot_with_total(uint64_t announced, struct totals *seen)
{
	memscan_client *c;
	uint64_t id = 0;
	int r;

	total = announced;
	requests = 0;
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	fa.progress = 1;
	c = ms_fake_client(&fa, 0);
	if (seen)
		ms_assert_call(c, memscan_client_set_progress_total(c, on_total, seen), MEMSCAN_OK);
	r = memscan_client_snapshot(c, 42, NULL, &id, NULL, NULL);
	if (r != MEMSCAN_OK)
		assert_non_null(strstr(memscan_client_last_error(c), "beyond its total"));
	memscan_client_free(c);
	ms_fake_stop(&fa);
	return r;
}

static void test_done_without_total_refused(void **state)
{
	(void)state;
	assert_int_equal(snapshot_with_total(0, NULL), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(requests, 1); /* no Next after the first such reply */
}

/* The same agent with a total its done stays within is followed to the snapshot's reply, and each
 * of its Progress replies reaches the callback with that total. */
static void test_done_within_total_followed(void **state)
{
	struct totals seen = { .want = 100 * MAX_PROGRESS };

	(void)state;
	assert_int_equal(snapshot_with_total(100 * MAX_PROGRESS, &seen), MEMSCAN_OK);
	assert_int_equal(requests, MAX_PROGRESS + 1);
	assert_int_equal(seen.calls, MAX_PROGRESS);
	assert_int_equal(seen.done, 100 * MAX_PROGRESS);
	assert_totals(&seen, 0);
}

/* ---- a real agent ---- */

/* The fixture's arena (64 MiB, a counter ticking in it) served by a real agent; a client of the full
 * key reporting to SEEN with totals. */
static void real_start(ms_agent *a, ms_fixture *fx, memscan_filter *f, struct totals *seen,
                       memscan_client **ret)
{
	static const char *const fx_args[] = { "--pages", "16384", "--tick-ms", "5", NULL };

	assert_int_equal(ms_fixture_start(fx, fx_args), 0);
	assert_int_equal(ms_agent_init(a), 0);
	assert_int_equal(ms_agent_start(a, NULL), 0);
	memscan_filter_default(f);
	f->range_start = fx->arena;
	f->range_end = fx->arena + fx->arena_len;
	*ret = ms_agent_client(a, &a->full);
	ms_assert_call(*ret, memscan_client_set_progress_total(*ret, on_total, seen), MEMSCAN_OK);
}

/* A read counts up to its length; a live snapshot written to a file, a kept one downloaded and its
 * diff up to the arena's bytes (listed by the call itself, or announced by the agent's pages). */
static void test_real_agent_totals(void **state)
{
	struct totals seen = { .want = 4u << 20 };
	memscan_snapshot *snap = NULL;
	memscan_diff *diff = NULL;
	memscan_client *c;
	memscan_filter f;
	ms_fixture fx;
	char path[4200];
	const char *dir = ms_tmpdir();
	uint8_t *buf = malloc(4u << 20);
	uint64_t id = 0;
	ms_agent a;

	(void)state;
	assert_non_null(buf);
	real_start(&a, &fx, &f, &seen, &c);
	ms_assert_call(c, memscan_client_read(c, fx.pid, fx.arena, buf, 4u << 20, NULL), MEMSCAN_OK);
	assert_totals(&seen, fx.arena_len);
	snprintf(path, sizeof(path), "%s/live.snap", dir);
	ms_assert_call(c, memscan_client_snapshot_write(c, fx.pid, &f, path, NULL), MEMSCAN_OK);
	assert_totals(&seen, fx.arena_len);
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, &f, &id, NULL, NULL), MEMSCAN_OK);
	assert_false(seen.wrong); /* whether the agent took long enough to report is not asserted */
	memset(&seen, 0, sizeof(seen));
	seen.want = fx.arena_len;
	ms_assert_call(c, memscan_client_snapshot_fetch(c, id, &snap), MEMSCAN_OK);
	assert_totals(&seen, fx.arena_len);
	ms_assert_call(c, memscan_client_diff(c, id, 0, &diff), MEMSCAN_OK);
	assert_int_equal(seen.done, fx.arena_len); /* the last page: all compared */
	assert_totals(&seen, 0);
	memscan_diff_free(diff);
	memscan_snapshot_free(snap);
	memscan_client_free(c);
	free(buf);
	assert_int_equal(ms_agent_finish(&a), 0);
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_done_without_total_refused),
		cmocka_unit_test(test_done_within_total_followed),
		cmocka_unit_test(test_real_agent_totals),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
