/* SPDX-License-Identifier: MIT */
/* Hostile peers against a real memscan-agent: huge announced lengths, churn, fuzzed requests, drops. */
#include "agentutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* One agent for the whole file (global snapshot budget 24 MiB), and a fixture to list. */
static ms_agent env;
static ms_fixture fx;

#define AUDIT "audit time="
/* KiB the agent's RSS may grow by across a test. Under AddressSanitizer freed memory stays resident in
 * its quarantine (up to 256 MiB), so only a gross growth counts there; LeakSanitizer checks the agent
 * when it exits. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_GROWTH (128 * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_GROWTH (128 * 1024)
#endif
#endif
#ifndef RSS_GROWTH
#define RSS_GROWTH (16 * 1024)
#endif

static void honest_check(void)
{
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The agent's RSS is within RSS_GROWTH of RSS0 KiB. */
static void assert_rss_flat(long rss0)
{
	long rss = ms_agent_rss_kib(&env);

	if (rss - rss0 >= RSS_GROWTH)
		print_error("agent RSS grew from %ld to %ld KiB\n", rss0, rss);
	assert_true(rss > 0 && rss - rss0 < RSS_GROWTH);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* 13: raw SP peers (a correct REQ0 header) announcing messages far over the agent's 64 KiB cap, half of
 * them then streaming 4 MiB: every connection is closed, and the agent's memory stays flat while they
 * are open (an agent allocating what was announced would hold 20+ MiB per round). */
static void test_huge_length_refused(void **state)
{
	static const uint64_t lens[] = { UINT64_MAX,    1ull << 63, 1ull << 40, 1ull << 32,
		                         1ull << 30,    64u << 20,  8u << 20,   WIRE_AGENT_RECV_MAX + 1,
		                         (1u << 20) + 1 };
	const size_t nlens = sizeof(lens) / sizeof(lens[0]), batch = 10;
	long rss0 = ms_agent_rss_kib(&env), peak = rss0;
	size_t audits = ms_agent_err_count(&env, AUDIT);
	uint8_t *junk = calloc(1, 4u << 20);

	(void)state;
	assert_true(rss0 > 0);
	assert_non_null(junk);
	for (size_t round = 0; round < 200 / batch; round++) {
		ms_tcp_peer t[10];

		for (size_t i = 0; i < batch; i++) {
			uint8_t len[8];

			put_be64(len, lens[(round * batch + i) % nlens]);
			assert_int_equal(ms_peer_tcp_open(&t[i], &env, 2000), 0);
			assert_int_equal(ms_peer_tcp_write(&t[i], len, sizeof(len)), 0);
			if (i % 2)
				(void)ms_peer_tcp_write(&t[i], junk, 4u << 20); /* fails once refused */
		}
		for (size_t i = 0; i < batch; i++) {
			long rss = ms_agent_rss_kib(&env);

			peak = rss > peak ? rss : peak;
			assert_true(ms_peer_tcp_closed(&t[i]));
			ms_peer_tcp_close(&t[i]);
		}
	}
	free(junk);
	assert_rss_flat(rss0);
	if (peak - rss0 >= RSS_GROWTH)
		print_error("agent RSS peaked at %ld KiB (from %ld)\n", peak, rss0);
	assert_true(peak - rss0 < RSS_GROWTH);
	assert_int_equal(ms_agent_err_count(&env, AUDIT), audits);
	honest_check();
}

/* 16: 300 connections that close at once, reset, send garbage, half a header or a wrong SP protocol;
 * the listener keeps accepting honest clients throughout and after. */
static void test_connect_churn(void **state)
{
	static const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t half_header[5] = { 0, 'S', 'P', 0, 0 };
	long rss0 = ms_agent_rss_kib(&env);
	size_t audits = ms_agent_err_count(&env, AUDIT);
	int64_t start = now_ms();

	(void)state;
	for (int i = 0; i < 300; i++) {
		ms_tcp_peer t;

		assert_int_equal(ms_peer_tcp_dial(&t, &env, 2000), 0);
		switch (i % 6) {
		case 0: /* connect, close */
			break;
		case 1: /* connect, reset */
			ms_peer_tcp_reset_on_close(&t);
			break;
		case 2:
			(void)ms_peer_tcp_write(&t, garbage, i % 12 == 2 ? 3 : sizeof(garbage) - 1);
			break;
		case 3:
			(void)ms_peer_tcp_write(&t, half_header, sizeof(half_header));
			ms_peer_tcp_reset_on_close(&t);
			break;
		case 4: /* a REP0 or PAIR1 peer instead of REQ0: the agent hangs up */
			assert_int_equal(ms_peer_tcp_sp_header(&t, i % 12 == 4 ? MS_SP_PROTO_REP0 : 0x11), 0);
			assert_true(ms_peer_tcp_closed(&t));
			break;
		case 5: /* a complete REQ0 header, then a reset */
			assert_int_equal(ms_peer_tcp_sp_header(&t, MS_SP_PROTO_REQ0), 0);
			ms_peer_tcp_reset_on_close(&t);
			break;
		}
		ms_peer_tcp_close(&t);
		if (i % 100 == 99)
			honest_check();
	}
	for (int i = 0; i < 3; i++)
		honest_check();
	assert_rss_flat(rss0);
	assert_int_equal(ms_agent_err_count(&env, AUDIT), audits + 6 * 2); /* the honest checks' */
	assert_true(now_ms() - start < 20000);
}

/* Sends PT on T: the agent must answer with an authentic Response. Tallies PROTOCOL errors. */
static void fuzz_one(ms_tcp_peer *t, const uint8_t *pt, size_t len, size_t *protocol)
{
	Memscan__V1__Response *resp = ms_peer_tcp_call_pt(t, pt, len);

	if (!resp)
		print_error("no reply to a %zu-byte request (request %llu)\n", len,
		            (unsigned long long)t->n - 1);
	assert_non_null(resp);
	if (resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_ERROR) {
		assert_true(resp->error->message && resp->error->message[0]);
		*protocol += resp->error->code == MEMSCAN__V1__ERROR_CODE__PROTOCOL;
	}
	wire_free_response(resp);
}

/* Requests no fuzzer should need luck to find: huge lengths, overlong varints, groups, a oneof set
 * several times over with submessages, tens of thousands of unknown fields. */
static void fuzz_crafted(ms_tcp_peer *t, size_t *protocol)
{
	static const uint8_t huge_len[] = { 0x62, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x00 };
	static const uint8_t overlong[] = { 0x52, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff,
		                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t oneofs[] = { 0x52, 0x02, 0x08, 0x01, 0x62, 0x06, 0x0a, 0x02, 0x08,
		                          0x01, 0x12, 0x00, 0x72, 0x04, 0x0a, 0x02, 0x08, 0x01,
		                          0x62, 0x04, 0x12, 0x02, 0x08, 0x01, 0x52, 0x00 };
	static const uint8_t nul_path[] = { 0x62, 0x0b, 0x0a, 0x02, 0x08, 0x01, 0x12,
		                            0x05, 0x22, 0x03, 'a',  0x00, 'b' };
	/* the largest frame the agent takes: nng's size cap also counts REQ's 4-byte request id */
	size_t cap = WIRE_AGENT_RECV_MAX - 4 - CHAN_DATA_OVERHEAD, n;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	fuzz_one(t, huge_len, sizeof(huge_len), protocol);
	fuzz_one(t, overlong, sizeof(overlong), protocol);
	fuzz_one(t, oneofs, sizeof(oneofs), protocol);
	fuzz_one(t, nul_path, sizeof(nul_path), protocol);
	for (n = 0; n + 3 <= cap; n += 3) { /* unknown field 1000, varint 1 */
		buf[n] = 0xc0;
		buf[n + 1] = 0x3e;
		buf[n + 2] = 0x01;
	}
	fuzz_one(t, buf, n, protocol);
	for (n = 0; n + 3 <= cap; n += 3) { /* unknown field 1000, empty bytes */
		buf[n] = 0xc2;
		buf[n + 1] = 0x3e;
		buf[n + 2] = 0x00;
	}
	fuzz_one(t, buf, n, protocol);
	memset(buf, 0x0b, cap); /* start group, nested as deep as the frame allows */
	fuzz_one(t, buf, cap, protocol);
	memset(buf, 0x62, cap); /* list_regions tags whose lengths are more tags */
	fuzz_one(t, buf, cap, protocol);
	free(buf);
}

/* 17: random and mutated protobuf inside valid DATA frames of one session (a list-only key, so that no
 * lucky request reads memory): every one answered, PROTOCOL errors audited as malformed, the session
 * and the agent go on, memory stays flat. */
static void test_fuzzed_protobuf(void **state)
{
	static const uint8_t seed[randombytes_SEEDBYTES] = "memscan hostile protobuf fuzz 1";
	static const uint8_t valid[] = { 0x62, 0x0a, 0x0a, 0x04, 0x08, 0x01,
		                         0x10, 0x00, 0x12, 0x02, 0x08, 0x01 };
	size_t pool_len = 200 * 512, protocol = 0, malformed = ms_agent_err_count(&env, "op=malformed");
	uint8_t *pool = malloc(pool_len), mutant[sizeof(valid)];
	long rss0 = ms_agent_rss_kib(&env);
	Memscan__V1__Response *resp;
	size_t len;
	ms_tcp_peer t;

	(void)state;
	assert_non_null(pool);
	randombytes_buf_deterministic(pool, pool_len, seed);
	assert_int_equal(ms_peer_tcp_open(&t, &env, 2000), 0);
	assert_int_equal(ms_peer_tcp_handshake(&t, &env, &env.listonly), 0);
	assert_int_equal(t.perms, CHAN_PERM_LIST);
	for (size_t i = 0; i < 200; i++) {
		const uint8_t *pt = pool + i * 512;

		len = ((size_t)pt[0] << 8 | pt[1]) % 512;
		fuzz_one(&t, pt, len, &protocol);
	}
	for (size_t i = 0; i < 100; i++) {
		const uint8_t *r = pool + i * 8;

		memcpy(mutant, valid, sizeof(valid));
		for (int j = 0; j <= r[0] % 3; j++)
			mutant[r[1 + 2 * j] % sizeof(valid)] ^= r[2 + 2 * j] | 1;
		fuzz_one(&t, mutant, r[7] % 5 ? sizeof(valid) : r[6] % sizeof(valid), &protocol);
	}
	fuzz_crafted(&t, &protocol);
	free(pool);
	assert_true(protocol > 0);
	assert_int_equal(ms_agent_err_count(&env, "op=malformed"), malformed + protocol);
	resp = ms_peer_tcp_call_pt(&t, (const uint8_t[]){ 0x52, 0x02, 0x08, 0x01 }, 4); /* Hello */
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	ms_peer_tcp_close(&t);
	assert_rss_flat(rss0);
	honest_check();
}

/* Waits up to MS for COUNT occurrences of NEEDLE in the agent's log. */
static int wait_count(const char *needle, size_t want, int ms)
{
	for (int64_t end = now_ms() + ms; now_ms() < end; usleep(20000))
		if (ms_agent_err_count(&env, needle) >= want)
			return 1;
	return 0;
}

static int local_port(const ms_tcp_peer *t)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(t->fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* 22: clients that send a Snapshot of 16 MiB (two thirds of the agent's global budget) and drop the
 * connection: at once (FIN; the agent may never run it), 20 ms later (reset), and once the snapshot ran
 * but before reading its reply (reset). Each time an honest 16 MiB snapshot succeeds afterwards (BUSY
 * only while the dropped session is being freed), so the dropped session's budget came back; and no
 * dropped request ran more than once. */
static void test_dropped_pipe_frees_session(void **state)
{
	const char *big_args[] = { "--pages", "4096", NULL };
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target tg = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;
	char ran[80], dropped[3][64];
	size_t runs0;
	ms_fixture big;

	(void)state;
	assert_int_equal(ms_fixture_start(&big, big_args), 0);
	assert_int_equal(big.arena_len, 16u << 20);
	snprintf(ran, sizeof(ran), "op=snapshot pid=%d ", (int)big.pid);
	runs0 = ms_agent_err_count(&env, ran);
	tg.pid = big.pid;
	fl.use_default = 1;
	fl.range_start = big.arena;
	fl.range_end = big.arena + big.arena_len;
	sn.target = &tg;
	sn.filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	for (int round = 0; round < 3; round++) {
		size_t len;
		uint8_t *pt = wire_pack(&req.base, &len), *frame = malloc(len + CHAN_DATA_OVERHEAD);
		Memscan__V1__Response *resp = NULL;
		int64_t deadline;
		ms_tcp_peer t;
		ms_peer p;

		assert_true(pt && frame);
		assert_int_equal(ms_peer_tcp_open(&t, &env, 2000), 0);
		snprintf(dropped[round], sizeof(dropped[round]), "peer=127.0.0.1:%d ", local_port(&t));
		assert_int_equal(ms_peer_tcp_handshake(&t, &env, &env.full), 0);
		ms_peer_seal_raw(t.k1, t.sid, 0, pt, len, frame);
		assert_int_equal(ms_peer_tcp_send(&t, frame, len + CHAN_DATA_OVERHEAD), 0);
		if (round == 1)
			usleep(20000);
		if (round == 2)
			assert_true(wait_count(dropped[round], 2, 20000)); /* session + audit lines */
		if (round > 0)
			ms_peer_tcp_reset_on_close(&t);
		ms_peer_tcp_close(&t);
		free(frame);
		free(pt);

		assert_int_equal(ms_peer_connect(&p, &env, &env.full, 10000), 0);
		for (deadline = now_ms() + 10000; now_ms() < deadline; usleep(50000)) {
			resp = ms_peer_call(&p, &req);
			assert_non_null(resp);
			if (resp->result_case != MEMSCAN__V1__RESPONSE__RESULT_ERROR ||
			    resp->error->code != MEMSCAN__V1__ERROR_CODE__BUSY)
				break;
			wire_free_response(resp);
			resp = NULL;
		}
		assert_non_null(resp);
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
		assert_int_equal(resp->snapshot->total_bytes, big.arena_len);
		wire_free_response(ms_peer_release(&p, resp->snapshot->snapshot_id));
		wire_free_response(resp);
		ms_peer_close(&p);
	}
	/* per dropped connection: its "session" line, then one audit line per request it ran */
	usleep(200000);
	for (int round = 0; round < 3; round++) {
		size_t lines = ms_agent_err_count(&env, dropped[round]);

		assert_true(lines >= 1 && lines <= 2);
		if (round == 2)
			assert_int_equal(lines, 2);
	}
	assert_true(ms_agent_err_count(&env, ran) >= runs0 + 3 + 1);
	ms_fixture_stop(&big);
	honest_check();
}

int main(void)
{
	const char *args[] = { "--global-budget", "24M", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_length_refused),
		cmocka_unit_test(test_connect_churn),
		cmocka_unit_test(test_fuzzed_protobuf),
		cmocka_unit_test(test_dropped_pipe_frees_session),
	};
	return ms_agent_run_suite("test_hostile_load", &env, &fx, args, tests,
	                          sizeof(tests) / sizeof(tests[0]));
}
