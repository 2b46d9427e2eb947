/* SPDX-License-Identifier: MIT */
/* libmemscan-client against a fake agent (real channel and keys on 127.0.0.1) whose Progress replies
 * say the work has no total (0) while their done grows: done beyond the total is refused as PROTOCOL
 * at the first such reply, whatever the total, so such an agent cannot keep a client waiting by
 * moving done forever. */
#include "fakeagent.h"
#include "testutil.h"

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

/* A kept snapshot of the fake whose Progress replies announce TOTAL; its result. */
static int snapshot_with_total(uint64_t announced)
{
	memscan_client *c;
	uint64_t id = 0;
	int r;

	total = announced;
	requests = 0;
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	fa.progress = 1;
	c = ms_fake_client(&fa, 0);
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
	assert_int_equal(snapshot_with_total(0), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(requests, 1); /* no Next after the first such reply */
}

/* The same agent with a total its done stays within is followed to the snapshot's reply. */
static void test_done_within_total_followed(void **state)
{
	(void)state;
	assert_int_equal(snapshot_with_total(100 * MAX_PROGRESS), MEMSCAN_OK);
	assert_int_equal(requests, MAX_PROGRESS + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_done_without_total_refused),
		cmocka_unit_test(test_done_within_total_followed),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
