/* SPDX-License-Identifier: MIT */
/* A key removed by SIGHUP while handshakes of it are in flight keeps no session on a real agent. */
#include "agentutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Threads handshaking with the full key, rounds of removing it, connections kept per thread. */
#define HAMMERS  4
#define ROUNDS   30
#define KEPT_MAX 256

static ms_agent env;

struct hammer {
	pthread_t thread;
	atomic_int *stop;
	ms_tcp_peer kept[KEPT_MAX]; /* connections whose handshake was answered */
	size_t n, tries;
};

/* Handshakes again and again until told to stop (no cmocka assertion off the main thread). */
static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(h->stop) && h->n < KEPT_MAX) {
		ms_tcp_peer *t = &h->kept[h->n];

		h->tries++;
		if (ms_peer_tcp_open(t, &env, 2000) == 0 && ms_peer_tcp_handshake(t, &env, &env.full) == 0)
			h->n++;
		else
			ms_peer_tcp_close(t);
	}
	return NULL;
}

/* Sends SIGHUP and waits for the agent to log that it loaded the keys again. */
static void reload(void)
{
	size_t before = ms_agent_err_count(&env, "reload: ");

	assert_int_equal(kill(env.pid, SIGHUP), 0);
	for (int i = 0; i < 5000 && ms_agent_err_count(&env, "reload: ") == before; i++)
		usleep(1000);
	assert_true(ms_agent_err_count(&env, "reload: ") > before);
}

/* True if the session on T still answers a Hello. */
static int still_served(ms_tcp_peer *t)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;
	Memscan__V1__Response *resp;
	uint8_t *pt;
	size_t len;

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	pt = wire_pack(&req.base, &len);
	assert_non_null(pt);
	resp = ms_peer_tcp_call_pt(t, pt, len);
	free(pt);
	wire_free_response(resp);
	return resp != NULL;
}

/* Rounds of: four threads handshake with the full key without pause while the key is removed from
 * authorized_keys and SIGHUP sent. Every session of the key that existed before the reload is ended
 * by it, every handshake after it is refused, and a handshake that was checked against the old keys
 * but completes after the reload must not keep a session either: once things settle, no connection
 * whose handshake was answered is still served. (Without the generation check such a session
 * survives in most rounds.) */
static void test_key_removed_during_handshake(void **state)
{
	size_t survivors = 0, kept = 0, tries = 0;
	atomic_int stop;
	struct hammer *h = calloc(HAMMERS, sizeof(*h));

	(void)state;
	assert_non_null(h);
	for (int round = 0; round < ROUNDS; round++) {
		atomic_init(&stop, 0);
		for (int i = 0; i < HAMMERS; i++) {
			h[i].stop = &stop;
			h[i].n = 0;
			assert_int_equal(pthread_create(&h[i].thread, NULL, hammer_main, &h[i]), 0);
		}
		usleep(20000);
		assert_int_equal(ms_agent_write_auth(&env, 0, 1), 0);
		reload();
		usleep(20000);
		atomic_store(&stop, 1);
		for (int i = 0; i < HAMMERS; i++)
			pthread_join(h[i].thread, NULL);
		/* revocations land (the reload ends the sessions it finds before it returns) */
		usleep(50000);
		for (int i = 0; i < HAMMERS; i++) {
			for (size_t j = 0; j < h[i].n; j++) {
				survivors += still_served(&h[i].kept[j]);
				ms_peer_tcp_close(&h[i].kept[j]);
			}
			kept += h[i].n;
			tries += h[i].tries;
			h[i].tries = 0;
		}
		assert_int_equal(ms_agent_write_auth(&env, 1, 1), 0);
		reload();
	}
	print_message("%zu handshakes, %zu answered, %zu refused as revoked mid-handshake, %zu survived\n",
	              tries, kept, ms_agent_err_count(&env, "reason=revoked-during-handshake"), survivors);
	free(h);
	assert_int_equal(survivors, 0);
	assert_int_equal(ms_agent_serving(&env, (int)getpid()), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_removed_during_handshake),
	};
	/* hundreds of sessions of one address come and go */
	const char *args[] = { "--max-per-peer", "4096", "--max-connections", "4096", NULL };
	int fails;

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || ms_agent_init(&env) != 0 || ms_agent_start(&env, args) != 0)
		return 1;
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	return ms_agent_finish(&env) != 0 || fails;
}
