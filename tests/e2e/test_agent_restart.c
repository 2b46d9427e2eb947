/* SPDX-License-Identifier: MIT */
/* An HS1 recorded before a memscan-agent restarts opens no session after it. */
#include "agentutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Sends HS1 on a fresh raw connection to A; 1 if the agent answered with an HS2 frame, 0 if it closed
 * the connection without a byte. */
static int send_hs1(const ms_agent *a, const uint8_t hs1[CHAN_HS1_LEN])
{
	uint8_t *reply = NULL;
	size_t len = 0;
	ms_tcp_peer t;
	int answered;

	assert_int_equal(ms_peer_tcp_open(&t, a, 3000), 0);
	assert_int_equal(ms_peer_tcp_send(&t, hs1, CHAN_HS1_LEN), 0);
	answered = ms_peer_tcp_recv(&t, &reply, &len);
	assert_true(answered == 0 || answered == 1);
	if (answered == 1) {
		assert_int_equal(len, CHAN_HS2_LEN);
		assert_int_equal(chan_frame_type(reply, len), CHAN_TYPE_HS2);
	}
	free(reply);
	ms_peer_tcp_close(&t);
	return answered;
}

/* An HS1 made by the client's channel code is answered once; replayed to the same agent it is refused
 * (the last label per key); replayed after the agent restarted (which forgot that label) it is refused
 * too, since it is older than the agent's start: the connection is closed, no session is logged, and
 * a fresh handshake of the same key is served. */
static void test_hs1_replayed_after_restart(void **state)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL;
	ms_agent *a = *state;

	assert_int_equal(chan_client_start(a->full.priv, a->agent.pub, hs1, &hs), 0);
	assert_int_equal(send_hs1(a, hs1), 1);
	assert_int_equal(send_hs1(a, hs1), 0);
	assert_true(ms_agent_wait_err(a, "reason=replayed-hs1", 5000));

	assert_int_equal(ms_agent_terminate(a, 10000), 0);
	assert_int_equal(ms_agent_start(a, NULL), 0);
	assert_int_equal(send_hs1(a, hs1), 0);
	assert_true(ms_agent_wait_err(a, "reason=hs1-before-agent-start", 5000));
	assert_int_equal(ms_agent_err_count(a, "session peer="), 0);
	assert_int_equal(ms_agent_serving(a, (int)getpid()), 0);
	assert_int_equal(ms_agent_err_count(a, "session peer="), 1);
	chan_client_hs_free(hs);
}

static int setup(void **state)
{
	static ms_agent a;

	if (ms_agent_init(&a) != 0 || ms_agent_start(&a, NULL) != 0)
		return -1;
	*state = &a;
	return 0;
}

static int teardown(void **state)
{
	return ms_agent_finish(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hs1_replayed_after_restart, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
