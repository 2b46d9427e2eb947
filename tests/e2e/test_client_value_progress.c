/* SPDX-License-Identifier: MIT */
/* Value scans and narrowings on a real agent (127.0.0.1, real keys) answered with Progress: against a
 * 256 MiB fixture arena the client's progress callback sees the agent's work go (done never goes
 * back, never past the bytes asked for), the sets equal those libmemscan makes here of the same
 * process, and a cancel between two progress replies stops the work with CANCELLED while the
 * session, the set narrowed and the agent stay usable. */
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <memscan/client.h>
#include <sodium.h>

#define ARENA_PAGES  "65536"        /* 256 MiB: a string scan of it takes a while */
#define NARROWED     (128ull << 20) /* the arena's bytes whose u16 slots a narrowing compares */
#define TOTALS_RANGE (32ull << 20)  /* the arena's bytes whose totals test_progress_totals checks */
#define FOUND_RANGE  (24ull << 20)  /* ... and the bytes whose u16 slots all hold the value it finds */
#define NARROW_TO    "9735"         /* a u16 one slot in 128 of the arena holds (bytes 07 26) */

static ms_agent env;
static ms_fixture fx;

/* What the progress callback saw; the cancel callback says stop once STOP_AFTER reports came. */
struct seen {
	uint64_t calls, last, max;
	int backwards;
	uint64_t stop_after; /* 0: never */
	uint64_t asked;      /* cancel callback calls */
};

static void on_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	if (done < s->last)
		s->backwards = 1;
	s->last = done;
	s->max = done > s->max ? done : s->max;
	s->calls++;
}

static int on_cancel(void *ctx)
{
	struct seen *s = ctx;

	s->asked++;
	return s->stop_after && s->calls >= s->stop_after;
}

/* A client of the full key with S as its progress and cancel callbacks' context. */
static memscan_client *client_seeing(struct seen *s)
{
	memscan_client *c = ms_agent_client(&env, &env.full);

	memset(s, 0, sizeof(*s));
	ms_assert_call(c, memscan_client_set_progress(c, on_progress, s), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_cancel(c, on_cancel, s), MEMSCAN_OK);
	return c;
}

/* The arena's first LEN bytes. */
static memscan_filter arena_filter(uint64_t len)
{
	memscan_filter f = { .perms = MEMSCAN_PERM_WRITE,
		             .range_start = fx.arena,
		             .range_end = fx.arena + len };

	return f;
}

/* Candidate addresses as they come (at most 16 kept), and how many. */
struct addrs {
	uint64_t at[16];
	uint64_t n;
};

static int keep_addr(void *ctx, const memscan_candidate *c)
{
	struct addrs *a = ctx;

	if (a->n < 16)
		a->at[a->n] = c->address;
	a->n++;
	return 0;
}

/* The same value scan of the arena's first LEN bytes made here by libmemscan: its candidates'
 * addresses. */
static void local_scan(uint64_t len, memscan_value_type type, const char *text, struct addrs *ret)
{
	memscan_filter f = arena_filter(len);
	memscan_region_list *list = NULL;
	memscan_process *proc = NULL;
	memscan_value_set *set = NULL;
	memscan_value *v = NULL;

	memset(ret, 0, sizeof(*ret));
	assert_int_equal(memscan_process_open(fx.pid, &proc), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(proc, &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_value_parse(type, text, NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(proc, list, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_foreach(set, 0, keep_addr, ret), MEMSCAN_OK);
	memscan_value_set_free(set);
	memscan_value_free(v);
	memscan_region_list_free(list);
	memscan_process_free(proc);
}

/* The bytes libmemscan's narrowing of the same unknown-value scan of the arena's first LEN bytes
 * (TYPE at every ALIGN bytes) made here reads (memscan_value_set_narrow_bytes, which unit
 * values/test_values checks against the reads' count). */
static uint64_t local_narrow_bytes(uint64_t len, memscan_value_type type, uint64_t align)
{
	memscan_value_scan_options o = { .align = align };
	memscan_filter f = arena_filter(len);
	memscan_region_list *list = NULL;
	memscan_process *proc = NULL;
	memscan_value_set *set = NULL;
	uint64_t n;

	assert_int_equal(memscan_process_open(fx.pid, &proc), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(proc, &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan_unknown(proc, list, type, &o, &set), MEMSCAN_OK);
	n = memscan_value_set_narrow_bytes(set);
	memscan_value_set_free(set);
	memscan_region_list_free(list);
	memscan_process_free(proc);
	return n;
}

/* At most about TOTAL: libmemscan counts the bytes it reads, and reads the last bytes of a window
 * again with the next when a value or pattern may straddle the two. */
#define ABOUT(total) ((total) + (total) / 64)

static void assert_progress_seen(const struct seen *s, uint64_t total)
{
	assert_true(s->calls >= 1);
	assert_false(s->backwards);
	assert_true(s->max <= ABOUT(total));
}

/* A value scan of the whole arena for a 256-byte string whose first 255 bytes the arena repeats
 * (each place is compared at length): progress reported, and the one place holding it is
 * the set. */
static void test_value_scan_progress(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	struct addrs got = { 0 };
	memscan_client_page page = { 16, keep_addr, &got };
	memscan_client_vset set;
	struct seen s;
	memscan_client *c = client_seeing(&s);
	uint64_t at = ms_fixture_fill_long_str(&fx);

	(void)state;
	ms_assert_call(c,
	               memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_STR, ms_long_str(), NULL, NULL,
	                                         &page, &set),
	               MEMSCAN_OK);
	print_message("value scan: %llu progress reports\n", (unsigned long long)s.calls);
	assert_progress_seen(&s, fx.arena_len);
	assert_int_equal(set.count, 1);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.at[0], at);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* An unknown-value scan of the arena's u16 slots, then its narrowing to one value: the narrowing
 * reports its progress (the scan's, if any, never goes back), and what it keeps equals libmemscan's
 * scan for the value here. */
static void test_narrow_progress(void **state)
{
	memscan_filter f = arena_filter(NARROWED);
	struct addrs got = { 0 }, want;
	memscan_client_page page = { 16, keep_addr, &got };
	memscan_client_vset set, nar;
	struct seen s;
	memscan_client *c = client_seeing(&s);

	(void)state;
	ms_assert_call(c, memscan_client_value_scan_unknown(c, fx.pid, &f, MEMSCAN_VALUE_U16, NULL, &set),
	               MEMSCAN_OK);
	assert_false(s.backwards);
	assert_true(s.max <= ABOUT(NARROWED));
	assert_true(set.unknown);
	assert_int_equal(set.count, NARROWED / 2);
	memset(&s, 0, sizeof(s));
	ms_assert_call(
	    c, memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_EQ, NARROW_TO, NULL, 0, true, &page, &nar),
	    MEMSCAN_OK);
	print_message("narrowing: %llu progress reports\n", (unsigned long long)s.calls);
	assert_progress_seen(&s, NARROWED);
	local_scan(NARROWED, MEMSCAN_VALUE_U16, NARROW_TO, &want);
	assert_true(want.n > 16);
	assert_int_equal(nar.count, want.n);
	assert_int_equal(got.n, 16);
	assert_memory_equal(got.at, want.at, sizeof(got.at));
	ms_assert_call(c, memscan_client_value_release(c, nar.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* A cancel once the first progress report came: the value scan, then the narrowing, end with
 * CANCELLED; the same client's next requests are answered (the set being narrowed is free again and
 * as it was), and the agent serves on. */
static void test_cancel_after_first_report(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len), tail = f, half = arena_filter(NARROWED);
	memscan_client_vset set, small;
	uint64_t got_n = 0;
	struct addrs got = { 0 };
	struct seen s;
	memscan_client *c = client_seeing(&s);

	(void)state;
	ms_fixture_fill_long_str(&fx);
	s.stop_after = 1;
	ms_assert_call(c,
	               memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_STR, ms_long_str(), NULL, NULL,
	                                         NULL, &set),
	               MEMSCAN_ERR_CANCELLED);
	assert_int_equal(s.calls, 1);
	s.stop_after = 0;
	tail.range_start = fx.arena + fx.arena_len - 4096;
	ms_assert_call(c,
	               memscan_client_value_scan(c, fx.pid, &tail, MEMSCAN_VALUE_STR, ms_long_str(), NULL,
	                                         NULL, NULL, &small),
	               MEMSCAN_OK);
	assert_int_equal(small.count, 1);
	ms_assert_call(c, memscan_client_value_release(c, small.id), MEMSCAN_OK);

	ms_assert_call(c, memscan_client_value_scan_unknown(c, fx.pid, &half, MEMSCAN_VALUE_U16, NULL, &set),
	               MEMSCAN_OK);
	s.calls = 0;
	s.stop_after = 1;
	ms_assert_call(
	    c, memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_EQ, "1", NULL, 0, false, NULL, &small),
	    MEMSCAN_ERR_CANCELLED);
	assert_int_equal(s.calls, 1);
	s.stop_after = 0;
	ms_assert_call(c, memscan_client_value_candidates(c, set.id, 0, 1, keep_addr, &got, &got_n),
	               MEMSCAN_OK);
	assert_int_equal(got_n, 1);
	assert_int_equal(got.at[0], fx.arena); /* still every slot: no slot holds 1 */
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

/* What the Progress replies to one request said: how many, whether each total was WANT_TOTAL and
 * done never went back or past it. */
struct totals {
	uint64_t want_total, replies, last;
	int overshoots; /* done may pass the total: a scan for found values counts more than its regions
	                   (libmemscan) */
	int wrong;
};

/* Sends REQ through peer P, then Next while the agent answers with Progress (checking each against
 * T); the final reply, a value set (asserted). */
static Memscan__V1__Response *call_with_progress(ms_peer *p, const Memscan__V1__Request *req,
                                                 struct totals *t)
{
	Memscan__V1__Response *resp = ms_peer_call(p, req);

	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		uint64_t cursor = resp->progress->next_cursor, done = resp->progress->done;

		t->wrong |= resp->progress->total != t->want_total || done < t->last ||
		            (!t->overshoots && done > ABOUT(t->want_total));
		t->last = done;
		t->replies++;
		wire_free_response(resp);
		assert_true(cursor != 0);
		resp = ms_peer_next(p, cursor);
	}
	assert_non_null(resp);
	if (resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_ERROR)
		fail_msg("agent error: %s", resp->error->message);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_VALUE_SET);
	return resp;
}

/* Releases set ID through peer P. */
static void peer_release(ms_peer *p, uint64_t id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueRelease rel = MEMSCAN__V1__VALUE_RELEASE__INIT;
	Memscan__V1__Response *resp;

	rel.set_id = id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_RELEASE;
	req.value_release = &rel;
	resp = ms_peer_call(p, &req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_VALUE_RELEASE);
	wire_free_response(resp);
}

/* The totals the agent reports, seen by a peer of its own (50 ms waits), for u32 slots at every
 * byte of TOTALS_RANGE: a scan's are the selected regions' bytes; a narrowing's of the unknown set
 * the bytes it reads again, exactly: its copy's bytes and the 3 bytes past each 1 MiB window that its
 * last slots straddle (not its slots times their width, nor the copy's bytes alone); a narrowing's of
 * found values the pages they lie in. */
static void test_progress_totals(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueScan vs = MEMSCAN__V1__VALUE_SCAN__INIT;
	Memscan__V1__ValueNarrow vn = MEMSCAN__V1__VALUE_NARROW__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter pf;
	memscan_filter f = arena_filter(TOTALS_RANGE);
	struct totals scan = { .want_total = TOTALS_RANGE };
	struct totals narrow = { .want_total = local_narrow_bytes(TOTALS_RANGE, MEMSCAN_VALUE_U32, 1) };
	struct totals found = { .want_total = FOUND_RANGE, .overshoots = 1 };
	struct totals exact = { .want_total = FOUND_RANGE };
	Memscan__V1__Response *resp;
	uint64_t id;
	ms_peer p;

	(void)state;
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
	wire_filter_to_proto(&f, 0, &pf);
	pf.path_substr = (char *)"";
	t.pid = fx.pid;
	vs.target = &t;
	vs.filter = &pf;
	vs.type = (char *)"u32";
	vs.value = (char *)"";
	vs.unknown = 1;
	vs.align = 1;
	vs.progress_ms = 50;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_SCAN;
	req.value_scan = &vs;
	resp = call_with_progress(&p, &req, &scan);
	id = resp->value_set->set_id;
	wire_free_response(resp);
	vn.set_id = id;
	vn.predicate = MEMSCAN_PRED_EQ;
	vn.value = (char *)"1";
	vn.keep = 1;
	vn.progress_ms = 50;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_NARROW;
	req.value_narrow = &vn;
	resp = call_with_progress(&p, &req, &narrow);
	print_message("Progress replies: scan %llu, narrowing %llu of %llu bytes\n",
	              (unsigned long long)scan.replies, (unsigned long long)narrow.replies,
	              (unsigned long long)narrow.want_total);
	assert_true(narrow.want_total > TOTALS_RANGE); /* the windows' straddles are read twice */
	assert_true(narrow.replies >= 1);
	assert_false(scan.wrong || narrow.wrong);
	peer_release(&p, resp->value_set->set_id);
	peer_release(&p, id);
	wire_free_response(resp);

	/* found values filling FOUND_RANGE: their narrowing's total is its pages */
	ms_fixture_fill_long_str(&fx);
	f = arena_filter(FOUND_RANGE);
	wire_filter_to_proto(&f, 0, &pf);
	pf.path_substr = (char *)"";
	vs.type = (char *)"u16";
	vs.value = (char *)"24929"; /* "aa" */
	vs.unknown = 0;
	vs.align = 0;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_SCAN;
	req.value_scan = &vs; /* the oneof's member, which the narrowing took */
	resp = call_with_progress(&p, &req, &found);
	id = resp->value_set->set_id;
	wire_free_response(resp);
	vn.set_id = id;
	vn.predicate = MEMSCAN_PRED_UNCHANGED;
	vn.value = (char *)"";
	vn.keep = 0;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_NARROW;
	req.value_narrow = &vn;
	resp = call_with_progress(&p, &req, &exact);
	print_message("Progress replies: narrowing found values %llu\n", (unsigned long long)exact.replies);
	assert_true(exact.replies >= 1);
	assert_false(found.wrong || exact.wrong);
	wire_free_response(resp);
	peer_release(&p, id);
	ms_peer_close(&p);
}

int main(void)
{
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_narrow_progress),
		cmocka_unit_test(test_progress_totals),
		cmocka_unit_test(test_value_scan_progress),
		cmocka_unit_test(test_cancel_after_first_report),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return ms_agent_run_suite_fx("client value progress", &env, &fx, fixture_args, NULL, tests,
	                             sizeof(tests) / sizeof(tests[0]));
}
