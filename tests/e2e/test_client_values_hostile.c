/* SPDX-License-Identifier: MIT */
/* libmemscan-client's value-set calls against a fake agent (real channel and keys on 127.0.0.1): an
 * agent too old for value sets is named so, and malformed candidate pages are refused as PROTOCOL
 * before the caller's callback sees a bad candidate. */
#include "fakeagent.h"
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#define FAKE_PAGE (4u << 20)
#define BASE      0x10000ull

/* What the fake answers to value-set requests. */
enum mode {
	M_UNKNOWN_OP,   /* as an agent that predates the operations */
	M_HONEST,       /* two good candidates */
	M_DISORDER,     /* addresses out of order */
	M_WIDTH,        /* a value of the wrong width */
	M_REGION_INDEX, /* a region index past the page's regions */
	M_OUTSIDE,      /* an address outside its region */
	M_TOO_MANY,     /* more candidates than asked for */
};

static ms_fake fa;
static enum mode mode;
static int delivered; /* candidates handed to the callback */

/* A page of three candidates (two unless M_TOO_MANY) in one region, spoiled as MODE says. */
static void send_candidates(ms_fake *f, uint64_t first)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__CandidatePage page = MEMSCAN__V1__CANDIDATE_PAGE__INIT;
	Memscan__V1__Region reg = MEMSCAN__V1__REGION__INIT, *regs[1] = { &reg };
	Memscan__V1__Candidate c[3], *cs[3];
	static uint8_t v[8] = { 1, 0, 0, 0, 2, 0, 0, 0 };

	reg.start = BASE;
	reg.end = BASE + 0x1000;
	reg.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	reg.kind = MEMSCAN_KIND_ANON;
	reg.path = (char *)"";
	for (int i = 0; i < 3; i++) {
		memscan__v1__candidate__init(&c[i]);
		c[i].address = BASE + 0x10 * (uint64_t)(i + 1);
		c[i].value.data = v;
		c[i].value.len = 4;
		cs[i] = &c[i];
	}
	if (mode == M_DISORDER)
		c[1].address = c[0].address;
	if (mode == M_WIDTH)
		c[1].value.len = 8;
	if (mode == M_REGION_INDEX)
		c[1].region_index = 1;
	if (mode == M_OUTSIDE)
		c[1].address = BASE + 0x1000;
	page.first = first;
	page.candidates = cs;
	page.n_candidates = mode == M_TOO_MANY ? 3 : 2;
	page.regions = regs;
	page.n_regions = 1;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_CANDIDATES;
	resp.candidates = &page;
	ms_fake_send(f, &resp);
}

static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	if (mode == M_UNKNOWN_OP)
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation");
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_VALUE_CANDIDATES)
		send_candidates(f, req->value_candidates->first);
	else
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation");
}

static int count_candidate(void *ctx, const memscan_candidate *c)
{
	(void)ctx;
	(void)c;
	delivered++;
	return 0;
}

/* A fake that does (VALUE_SETS) or does not announce value sets, and a client of it. */
static memscan_client *fake_client(int value_sets)
{
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	fa.value_sets = value_sets;
	return ms_fake_client(&fa, 0);
}

static void finish(memscan_client *c)
{
	memscan_client_free(c);
	ms_fake_stop(&fa);
}

/* No FEATURE_VALUE_SETS in Hello: refused before asking, "too old". */
static void test_agent_without_feature(void **state)
{
	memscan_client *c = fake_client(0);
	memscan_client_vset set;

	(void)state;
	assert_int_equal(
	    memscan_client_value_scan(c, 42, NULL, MEMSCAN_VALUE_I32, "1", NULL, NULL, NULL, &set),
	    MEMSCAN_ERR_UNSUPPORTED_VERSION);
	assert_non_null(strstr(memscan_client_last_error(c), "too old for value sets"));
	assert_int_equal(memscan_client_value_release(c, 7), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	finish(c);
}

/* The feature announced but the operation unknown: reported the same way. */
static void test_agent_answers_unknown_op(void **state)
{
	memscan_client *c = fake_client(1);
	memscan_client_vset set;

	(void)state;
	mode = M_UNKNOWN_OP;
	assert_int_equal(
	    memscan_client_value_narrow(c, 7, MEMSCAN_PRED_ANY, NULL, NULL, 0, false, NULL, &set),
	    MEMSCAN_ERR_UNSUPPORTED_VERSION);
	assert_non_null(strstr(memscan_client_last_error(c), "too old for value sets"));
	finish(c);
}

static void test_bad_candidate_pages_refused(void **state)
{
	static const enum mode bad[] = { M_DISORDER, M_WIDTH, M_REGION_INDEX, M_OUTSIDE, M_TOO_MANY };
	memscan_client *c = fake_client(1);
	uint64_t n = 0;

	(void)state;
	mode = M_HONEST;
	delivered = 0;
	assert_int_equal(memscan_client_value_candidates(c, 7, 0, 2, count_candidate, NULL, &n), MEMSCAN_OK);
	assert_int_equal(n, 2);
	assert_int_equal(delivered, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mode = bad[i];
		delivered = 0;
		if (memscan_client_value_candidates(c, 7, 0, 2, count_candidate, NULL, &n) !=
		    MEMSCAN_ERR_PROTOCOL)
			fail_msg("mode %d accepted: %s", (int)bad[i], memscan_client_last_error(c));
		assert_true(delivered <= 1); /* the candidates before the bad one at most */
	}
	finish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_without_feature),
		cmocka_unit_test(test_agent_answers_unknown_op),
		cmocka_unit_test(test_bad_candidate_pages_refused),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
