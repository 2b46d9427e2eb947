/* SPDX-License-Identifier: MIT */
/* libmemscan-client's wait on Progress replies against a fake agent (real channel and keys on
 * 127.0.0.1): a scan is asked with progress_ms only of an agent that lists FEATURE_PROGRESS; Progress
 * without a cursor, Progress that never moves, Progress where none was asked for and a final reply of
 * the wrong kind are refused; honest Progress then the matches reaches the callbacks; a diff's pages
 * report how far it compared, and a page beyond its total is refused. */
#include "fakeagent.h"
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#define FAKE_PAGE  (4u << 20)
#define BASE       0x7f0000000000ull
#define REGION_LEN 0x10000u
#define START_TIME 1234u

/* What the fake answers to a Scan and to each Next after it. */
enum mode {
	M_HONEST,     /* Progress 100, Progress 200, then a page of two matches */
	M_NO_CURSOR,  /* Progress with next_cursor 0 */
	M_STUCK,      /* Progress with the same done, forever, every 50 ms */
	M_UNASKED,    /* Progress in answer to ListRegions too */
	M_AFTER_PAGE, /* a page of one match with a cursor, then Progress to its Next */
	M_WRONG_KIND, /* Progress, then a region page instead of the matches */
	M_ERROR,      /* Progress, then an Error: the work failed */
	M_DIFF,       /* a diff page at half the region compared, then the last at all of it */
	M_DIFF_PAST,  /* a diff page that says it compared more than the total */
};

static ms_fake fa;
static enum mode mode;
static uint32_t asked_ms; /* progress_ms of the last Scan */
static uint64_t nexts[8]; /* cursors of the Next requests since that Scan */
static size_t next_count;
static uint32_t diff_ms; /* progress_ms of the last Diff */
static int in_diff;      /* the Next requests continue a Diff */

static void send_progress(ms_fake *f, uint64_t done, uint64_t cursor)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;

	pr.done = done;
	pr.total = REGION_LEN;
	pr.next_cursor = cursor;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	resp.progress = &pr;
	ms_fake_send(f, &resp);
}

/* A page of N matches (at BASE + 0x100, + 0x200, ...) continued by CURSOR. */
static void send_matches(ms_fake *f, size_t n, uint64_t cursor)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ScanPage page = MEMSCAN__V1__SCAN_PAGE__INIT;
	Memscan__V1__Match m[2], *ms[2];

	for (size_t i = 0; i < n && i < 2; i++) {
		memscan__v1__match__init(&m[i]);
		m[i].address = BASE + 0x100 * (i + 1);
		m[i].region_start = BASE;
		ms[i] = &m[i];
	}
	page.matches = ms;
	page.n_matches = n;
	page.next_cursor = cursor;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SCAN;
	resp.scan = &page;
	ms_fake_send(f, &resp);
}

/* A diff page without runs: COMPARED of the region's bytes, continued by CURSOR. */
static void send_diff_page(ms_fake *f, uint64_t compared, uint64_t cursor)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__DiffPage page = MEMSCAN__V1__DIFF_PAGE__INIT;

	page.compared_bytes = compared;
	page.total_bytes = REGION_LEN;
	page.next_cursor = cursor;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &page;
	ms_fake_send(f, &resp);
}

static void diff_step(ms_fake *f, size_t step)
{
	if (mode == M_DIFF_PAST)
		send_diff_page(f, REGION_LEN + 1, 11);
	else if (step == 0)
		send_diff_page(f, REGION_LEN / 2, 11);
	else
		send_diff_page(f, REGION_LEN, 0);
}

/* The answer to the STEP-th request of a scan (0: the Scan itself, then each Next). */
static void scan_step(ms_fake *f, size_t step)
{
	switch (mode) {
	case M_HONEST:
		if (step < 2)
			send_progress(f, 100 * (step + 1), 7 + step);
		else
			send_matches(f, 2, 0);
		break;
	case M_NO_CURSOR:
		send_progress(f, 100, 0);
		break;
	case M_STUCK:
		usleep(50 * 1000); /* as an agent that waits its progress_ms */
		send_progress(f, 100, 7 + step);
		break;
	case M_AFTER_PAGE:
		if (step == 0)
			send_matches(f, 1, 9);
		else
			send_progress(f, 100, 10);
		break;
	case M_WRONG_KIND:
		if (step == 0)
			send_progress(f, 100, 7);
		else
			ms_fake_send_regions(f, BASE, REGION_LEN, START_TIME);
		break;
	default:
		if (step == 0)
			send_progress(f, 100, 7);
		else
			ms_fake_send_error(f, MEMSCAN_ERR_PROCESS_GONE, "process 42 exited mid-scan");
		break;
	}
}

static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_LIST_REGIONS:
		if (mode == M_UNASKED)
			send_progress(f, 100, 7);
		else
			ms_fake_send_regions(f, BASE, REGION_LEN, START_TIME);
		break;
	case MEMSCAN__V1__REQUEST__OP_SCAN:
		asked_ms = req->scan->progress_ms;
		next_count = 0;
		in_diff = 0;
		scan_step(f, 0);
		break;
	case MEMSCAN__V1__REQUEST__OP_SNAPSHOT:
		ms_fake_send_snapshot(f, 5, REGION_LEN, BASE, REGION_LEN);
		break;
	case MEMSCAN__V1__REQUEST__OP_DIFF:
		diff_ms = req->diff->progress_ms;
		next_count = 0;
		in_diff = 1;
		diff_step(f, 0);
		break;
	case MEMSCAN__V1__REQUEST__OP_NEXT:
		if (next_count < sizeof(nexts) / sizeof(nexts[0]))
			nexts[next_count] = req->next->cursor;
		next_count++;
		if (in_diff)
			diff_step(f, next_count);
		else
			scan_step(f, next_count);
		break;
	default:
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation");
	}
}

struct seen {
	uint64_t done[8];
	size_t reports;
	uint64_t match[4];
	size_t matches;
};

static void on_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	if (s->reports < 8)
		s->done[s->reports] = done;
	s->reports++;
}

static int on_match(void *ctx, uint64_t address, const memscan_region *region)
{
	struct seen *s = ctx;

	assert_int_equal(region->start, BASE);
	if (s->matches < 4)
		s->match[s->matches] = address;
	s->matches++;
	return 0;
}

/* A fake that does (PROGRESS) or does not list FEATURE_PROGRESS, and a client of it reporting to S. */
static memscan_client *fake_client(int progress, struct seen *s)
{
	memscan_client *c;

	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	fa.progress = progress;
	c = ms_fake_client(&fa, 0);
	memset(s, 0, sizeof(*s));
	ms_assert_call(c, memscan_client_set_progress(c, on_progress, s), MEMSCAN_OK);
	return c;
}

static void finish(memscan_client *c)
{
	memscan_client_free(c);
	ms_fake_stop(&fa);
}

static int scan(memscan_client *c, struct seen *s)
{
	return memscan_client_scan(c, 42, NULL, "4D 5A", NULL, on_match, s, NULL);
}

/* Progress, Progress, then the matches: each Next carries the cursor of the Progress before it, the
 * callback hears each done, and the matches arrive. */
static void test_progress_then_matches(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);
	uint64_t count = 0;

	(void)state;
	mode = M_HONEST;
	ms_assert_call(c, memscan_client_scan(c, 42, NULL, "4D 5A", NULL, on_match, &s, &count), MEMSCAN_OK);
	assert_int_equal(asked_ms, 250);
	assert_int_equal(next_count, 2);
	assert_int_equal(nexts[0], 7);
	assert_int_equal(nexts[1], 8);
	assert_int_equal(s.reports, 2);
	assert_int_equal(s.done[0], 100);
	assert_int_equal(s.done[1], 200);
	assert_int_equal(count, 2);
	assert_int_equal(s.match[0], BASE + 0x100);
	assert_int_equal(s.match[1], BASE + 0x200);
	finish(c);
}

/* An agent without FEATURE_PROGRESS is not asked for it, and Progress from it is refused. */
static void test_not_asked_without_feature(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(0, &s);

	(void)state;
	mode = M_HONEST;
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(asked_ms, 0);
	assert_int_equal(next_count, 0);
	assert_int_equal(s.reports, 0);
	finish(c);
}

/* Progress without a cursor to wait on: PROTOCOL, nothing reported, no Next sent. */
static void test_progress_without_cursor(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);

	(void)state;
	mode = M_NO_CURSOR;
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_PROTOCOL);
	assert_non_null(strstr(memscan_client_last_error(c), "without a cursor"));
	assert_int_equal(next_count, 0);
	assert_int_equal(s.matches, 0);
	finish(c);
}

/* Progress whose done never moves: TIMEOUT once the client's timeout (1 s) passed without a move,
 * the session dropped; the next call connects again and is served. */
static void test_progress_stuck_times_out(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);
	memscan_region_list *list = NULL;
	int handshakes;
	int64_t t0, took;

	(void)state;
	mode = M_STUCK;
	ms_assert_call(c, memscan_client_set_timeout_ms(c, 1000), MEMSCAN_OK);
	t0 = ms_now_ms();
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_TIMEOUT);
	took = ms_now_ms() - t0;
	print_message("gave up on a stuck agent after %lld ms, %zu Next sent\n", (long long)took, next_count);
	assert_non_null(strstr(memscan_client_last_error(c), "no progress"));
	assert_true(took >= 1000 && took < 5000);
	assert_true(next_count >= 5);
	handshakes = atomic_load(&fa.handshakes);
	mode = M_HONEST;
	ms_assert_call(c, memscan_client_list_regions(c, 42, NULL, &list), MEMSCAN_OK);
	assert_int_equal(atomic_load(&fa.handshakes), handshakes + 1);
	assert_int_equal(memscan_region_list_count(list), 1);
	memscan_region_list_free(list);
	finish(c);
}

/* Progress where none was asked for (a region listing, a Next of a scan's pages) and a final reply of
 * another kind than the scan's: PROTOCOL. */
static void test_progress_unasked_refused(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);
	memscan_region_list *list = NULL;

	(void)state;
	mode = M_UNASKED;
	ms_assert_call(c, memscan_client_list_regions(c, 42, NULL, &list), MEMSCAN_ERR_PROTOCOL);
	assert_null(list);
	mode = M_AFTER_PAGE;
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(s.matches, 1); /* the first page's */
	assert_int_equal(s.reports, 0);
	mode = M_WRONG_KIND;
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_PROTOCOL);
	assert_non_null(strstr(memscan_client_last_error(c), "unexpected reply"));
	assert_int_equal(s.matches, 1);
	assert_int_equal(s.reports, 1);
	finish(c);
}

/* Progress, then the work's error: that error, with the agent's message. */
static void test_progress_then_error(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);

	(void)state;
	mode = M_ERROR;
	ms_assert_call(c, scan(c, &s), MEMSCAN_ERR_PROCESS_GONE);
	assert_non_null(strstr(memscan_client_last_error(c), "exited mid-scan"));
	assert_int_equal(s.reports, 1);
	finish(c);
}

/* A kept snapshot of the fake's region, for a diff. */
static uint64_t kept(memscan_client *c)
{
	uint64_t id = 0;

	ms_assert_call(c, memscan_client_snapshot(c, 42, NULL, &id, NULL, NULL), MEMSCAN_OK);
	assert_int_equal(id, 5);
	return id;
}

/* A diff's pages say how far the comparison is: the callback hears each compared_bytes. */
static void test_diff_pages_report_progress(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);
	memscan_diff *d = NULL;
	uint64_t id = kept(c);

	(void)state;
	mode = M_DIFF;
	s.reports = 0;
	ms_assert_call(c, memscan_client_diff(c, id, 0, &d), MEMSCAN_OK);
	assert_int_equal(diff_ms, 250);
	assert_int_equal(next_count, 1);
	assert_int_equal(nexts[0], 11);
	assert_int_equal(memscan_diff_run_count(d), 0);
	assert_int_equal(s.reports, 2);
	assert_int_equal(s.done[0], REGION_LEN / 2);
	assert_int_equal(s.done[1], REGION_LEN);
	memscan_diff_free(d);
	finish(c);
}

/* A diff page that says it compared more than there is: PROTOCOL, nothing reported of it. */
static void test_diff_compared_past_total(void **state)
{
	struct seen s;
	memscan_client *c = fake_client(1, &s);
	memscan_diff *d = NULL;
	uint64_t id = kept(c);

	(void)state;
	mode = M_DIFF_PAST;
	s.reports = 0;
	ms_assert_call(c, memscan_client_diff(c, id, 0, &d), MEMSCAN_ERR_PROTOCOL);
	assert_null(d);
	assert_non_null(strstr(memscan_client_last_error(c), "compared"));
	assert_int_equal(s.reports, 0);
	finish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_then_matches),
		cmocka_unit_test(test_not_asked_without_feature),
		cmocka_unit_test(test_progress_without_cursor),
		cmocka_unit_test(test_progress_stuck_times_out),
		cmocka_unit_test(test_progress_unasked_refused),
		cmocka_unit_test(test_progress_then_error),
		cmocka_unit_test(test_diff_pages_report_progress),
		cmocka_unit_test(test_diff_compared_past_total),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
