/* SPDX-License-Identifier: MIT */
/* Hostile peers against a real memscan-agent: replays, reflection, counters, tampering, bad frames. */
#include "agentutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* One agent for the whole file; the per-test checks count its audit and refusal lines. */
static ms_agent env;
static ms_fixture fx;

#define AUDIT   "audit time="
#define REFUSED "refused time="

static size_t count(const char *needle)
{
	return ms_agent_err_count(&env, needle);
}

/* Refusals this file provokes (handshake timeouts of idle connections are counted apart). */
static size_t refusals(void)
{
	return count(REFUSED) - count("reason=handshake-timeout");
}

/* A fresh honest session still works: Hello and ListRegions of the fixture. */
static void honest_check(void)
{
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

static uint8_t *pack(const Memscan__V1__Request *req, size_t *len)
{
	uint8_t *pt = wire_pack(&req->base, len);

	assert_non_null(pt);
	return pt;
}

static uint8_t *pack_hello(size_t *len)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	return pack(&req, len);
}

/* Snapshot of the first 64 KiB of the fixture's arena. */
static uint8_t *pack_snapshot(size_t *len)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = fx.pid;
	fl.use_default = 1;
	fl.range_start = fx.arena;
	fl.range_end = fx.arena + 64 * 1024;
	sn.target = &t;
	sn.filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	return pack(&req, len);
}

/* PT sealed for T's session under counter N (malloc'd, *FLEN bytes). */
static uint8_t *seal(const ms_tcp_peer *t, uint64_t n, const uint8_t *pt, size_t len, size_t *flen)
{
	uint8_t *frame = malloc(len + CHAN_DATA_OVERHEAD);

	assert_non_null(frame);
	ms_peer_seal_raw(t->k1, t->sid, n, pt, len, frame);
	*flen = len + CHAN_DATA_OVERHEAD;
	return frame;
}

/* Sends FRAME (sealed under N) and returns the decoded reply; the raw reply frame in *RAW if wanted. */
static Memscan__V1__Response *exchange(ms_tcp_peer *t, uint64_t n, const uint8_t *frame, size_t len,
                                       uint8_t **raw, size_t *raw_len)
{
	Memscan__V1__Response *resp = NULL;
	uint8_t *reply = NULL;
	size_t rlen = 0;

	assert_int_equal(ms_peer_tcp_send(t, frame, len), 0);
	if (ms_peer_tcp_recv(t, &reply, &rlen) == 1)
		resp = ms_peer_tcp_open_reply(t, n, reply, rlen);
	if (raw) {
		*raw = reply;
		*raw_len = rlen;
	} else {
		free(reply);
	}
	return resp;
}

/* A raw peer with an established session of the full key. */
static void session(ms_tcp_peer *t)
{
	assert_int_equal(ms_peer_tcp_open(t, &env, 2000), 0);
	assert_int_equal(ms_peer_tcp_handshake(t, &env, &env.full), 0);
}

/* A Hello as request T->n on T's session: it must be answered. */
static void hello_ok(ms_tcp_peer *t)
{
	size_t len;
	uint8_t *pt = pack_hello(&len);
	Memscan__V1__Response *resp = ms_peer_tcp_call_pt(t, pt, len);

	free(pt);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
}

/* Sends FRAME on T: the agent must close the connection without a byte of reply and log one refusal. */
static void expect_dropped(ms_tcp_peer *t, const uint8_t *frame, size_t len)
{
	size_t before = refusals();

	assert_int_equal(ms_peer_tcp_send(t, frame, len), 0);
	assert_true(ms_peer_tcp_closed(t));
	ms_peer_tcp_close(t);
	/* the agent logs the refusal as it closes the pipe: give the line a moment to land */
	for (int i = 0; i < 200 && refusals() < before + 1; i++)
		usleep(10 * 1000);
	assert_int_equal(refusals(), before + 1);
}

/* FRAME as the first message of a fresh connection: dropped the same way. */
static void expect_first_dropped(const uint8_t *frame, size_t len)
{
	ms_tcp_peer t;

	assert_int_equal(ms_peer_tcp_open(&t, &env, 2000), 0);
	expect_dropped(&t, frame, len);
}

/* FRAME as the first request of a fresh session (after a completed handshake): dropped. */
static void expect_session_dropped(const uint8_t *frame, size_t len)
{
	ms_tcp_peer t;

	session(&t);
	expect_dropped(&t, frame, len);
}

/* 5: an HS1 replayed on a new connection, while its session lives and after it ended; an older HS1 that
 * was never used but is older than the last one seen. */
static void test_hs1_replay_rejected(void **state)
{
	uint8_t old_hs1[CHAN_HS1_LEN], new_hs1[CHAN_HS1_LEN], *reply = NULL;
	size_t audits = count(AUDIT), replayed = count("reason=replayed-hs1"), len;
	noise_hs *old_hs = NULL, *new_hs = NULL;
	ms_tcp_peer a, b;

	(void)state;
	session(&a);
	hello_ok(&a);
	expect_first_dropped(a.hs1, CHAN_HS1_LEN);
	hello_ok(&a); /* the replay did not disturb the live session */
	ms_peer_tcp_close(&a);
	expect_first_dropped(a.hs1, CHAN_HS1_LEN);
	assert_int_equal(count("reason=replayed-hs1"), replayed + 2);

	assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, old_hs1, &old_hs), 0);
	assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, new_hs1, &new_hs), 0);
	assert_int_equal(ms_peer_tcp_open(&b, &env, 2000), 0);
	assert_int_equal(ms_peer_tcp_send(&b, new_hs1, CHAN_HS1_LEN), 0);
	assert_int_equal(ms_peer_tcp_recv(&b, &reply, &len), 1);
	assert_int_equal(ms_peer_tcp_finish(&b, new_hs, reply, len), 0);
	free(reply);
	expect_first_dropped(old_hs1, CHAN_HS1_LEN);
	assert_int_equal(count("reason=replayed-hs1"), replayed + 3);
	hello_ok(&b);
	ms_peer_tcp_close(&b);
	noise_hs_free(old_hs);
	noise_hs_free(new_hs);
	assert_int_equal(count(AUDIT), audits + 3); /* the three Hellos, nothing else ran */
	honest_check();
}

/* 6: a DATA frame replayed on the same connection: dropped, and its side effect happened once. */
static void test_data_replay_same_pipe_runs_once(void **state)
{
	size_t snaps = count("op=snapshot"), audits = count(AUDIT), len, flen;
	uint8_t *pt = pack_snapshot(&len), *frame;
	Memscan__V1__Response *resp;
	ms_tcp_peer t;

	(void)state;
	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	resp = exchange(&t, 0, frame, flen, NULL, NULL);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_true(resp->snapshot->snapshot_id != 0);
	wire_free_response(resp);
	expect_dropped(&t, frame, flen);
	assert_int_equal(count("op=snapshot"), snaps + 1);
	assert_int_equal(count(AUDIT), audits + 1);
	free(frame);

	/* the same after a later request: replaying request 0 once request 1 was served */
	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	resp = exchange(&t, 0, frame, flen, NULL, NULL);
	assert_non_null(resp);
	wire_free_response(resp);
	t.n = 1;
	hello_ok(&t);
	expect_dropped(&t, frame, flen);
	assert_int_equal(count("op=snapshot"), snaps + 2);
	free(frame);

	/* pipelined: the frame twice back to back, before any reply (the agent has several workers): the
	 * second one closes the connection */
	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	assert_int_equal(ms_peer_tcp_send(&t, frame, flen), 0);
	assert_int_equal(ms_peer_tcp_send(&t, frame, flen), 0);
	for (int replies = 0, r = 1; r != 0; replies++) {
		uint8_t *reply = NULL;
		size_t rlen;

		assert_true(replies <= 1); /* at most one reply, then the close */
		r = ms_peer_tcp_recv(&t, &reply, &rlen);
		assert_true(r >= 0);
		free(reply);
	}
	ms_peer_tcp_close(&t);
	/* the second copy makes the agent drop the connection; the first may have run, or may find the
	 * session closed before it starts: never twice. Let a worker still busy with it finish first. */
	usleep(300 * 1000);
	assert_true(count("op=snapshot") - (snaps + 2) <= 1);
	free(frame);
	free(pt);
	honest_check();
}

/* 7: a DATA frame replayed on another connection: as it is, re-addressed to the other session, and on a
 * connection without a session. */
static void test_data_replay_other_pipe_rejected(void **state)
{
	size_t snaps = count("op=snapshot"), len, flen;
	uint8_t *pt = pack_snapshot(&len), *frame;
	Memscan__V1__Response *resp;
	ms_tcp_peer a, b;

	(void)state;
	session(&a);
	frame = seal(&a, 0, pt, len, &flen);
	resp = exchange(&a, 0, frame, flen, NULL, NULL);
	assert_non_null(resp);
	wire_free_response(resp);
	a.n = 1;

	expect_session_dropped(frame, flen);
	session(&b);
	for (int i = 0; i < 8; i++)
		frame[CHAN_HEADER_LEN + i] = (uint8_t)(b.sid >> (8 * i));
	expect_dropped(&b, frame, flen);
	expect_first_dropped(frame, flen);
	hello_ok(&a); /* the victim's session goes on */
	ms_peer_tcp_close(&a);
	assert_int_equal(count("op=snapshot"), snaps + 1);
	free(frame);
	free(pt);
	honest_check();
}

/* 8: the agent's own messages sent back to it: its HS2 (on the same connection and on a new one), its
 * reply (as it is, with the next counter, and re-addressed to another session). */
static void test_reflection_rejected(void **state)
{
	size_t audits = count(AUDIT), len, flen, rlen;
	uint8_t *pt = pack_hello(&len), *frame, *reply = NULL;
	Memscan__V1__Response *resp;
	ms_tcp_peer t, u;

	(void)state;
	session(&t);
	expect_dropped(&t, t.hs2, CHAN_HS2_LEN);
	session(&t);
	expect_first_dropped(t.hs2, CHAN_HS2_LEN);
	ms_peer_tcp_close(&t);

	/* its reply to request 0, relabelled with the counter it expects next, on the same session */
	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	resp = exchange(&t, 0, frame, flen, &reply, &rlen);
	assert_non_null(resp);
	wire_free_response(resp);
	reply[CHAN_HEADER_LEN + 8] = 1;
	expect_dropped(&t, reply, rlen);
	free(reply);
	free(frame);
	/* its reply as it is, then re-addressed to another session still expecting counter 0 */
	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	resp = exchange(&t, 0, frame, flen, &reply, &rlen);
	assert_non_null(resp);
	wire_free_response(resp);
	expect_dropped(&t, reply, rlen);
	session(&u);
	for (int i = 0; i < 8; i++)
		reply[CHAN_HEADER_LEN + i] = (uint8_t)(u.sid >> (8 * i));
	expect_dropped(&u, reply, rlen);
	assert_int_equal(count(AUDIT), audits + 2);
	free(reply);
	free(frame);
	free(pt);
	honest_check();
}

/* Sends a Hello sealed under N on a fresh session after SERVED good requests: dropped. */
static void expect_counter_dropped(uint64_t served, uint64_t n)
{
	size_t len, flen;
	uint8_t *pt = pack_hello(&len), *frame;
	ms_tcp_peer t;

	session(&t);
	for (uint64_t i = 0; i < served; i++)
		hello_ok(&t);
	frame = seal(&t, n, pt, len, &flen);
	expect_dropped(&t, frame, flen);
	free(frame);
	free(pt);
}

/* 9: skipped, repeated, reordered and maximal counters, each with a valid AEAD under the session key. */
static void test_bad_counters_rejected(void **state)
{
	size_t audits = count(AUDIT), len, f0len, f1len;
	uint8_t *pt = pack_hello(&len), *f0, *f1;
	ms_tcp_peer t;

	(void)state;
	expect_counter_dropped(0, 1);
	expect_counter_dropped(1, 2);
	expect_counter_dropped(2, 0);
	expect_counter_dropped(2, 1);
	expect_counter_dropped(0, UINT64_MAX);
	expect_counter_dropped(1, UINT64_MAX);
	expect_counter_dropped(0, CHAN_MAX_MESSAGES);
	expect_counter_dropped(0, 1ull << 32);
	/* reordered: request 1 before request 0 */
	session(&t);
	f0 = seal(&t, 0, pt, len, &f0len);
	f1 = seal(&t, 1, pt, len, &f1len);
	expect_dropped(&t, f1, f1len);
	assert_int_equal(count(AUDIT), audits + 1 + 2 + 2 + 1);
	free(f0);
	free(f1);
	free(pt);
	honest_check();
}

/* 10: every single flipped bit position of an HS1, truncations and an extra byte: all dropped, and the
 * untouched HS1 still works afterwards (none of the failures consumed its timestamp). */
static void test_tampered_hs1_rejected(void **state)
{
	static const size_t cuts[] = { 0, 1, 4, 36, 84, CHAN_HS1_LEN - 1 };
	uint8_t hs1[CHAN_HS1_LEN], bad[2 * CHAN_HS1_LEN], *reply = NULL;
	size_t audits = count(AUDIT), len;
	noise_hs *hs = NULL;
	ms_tcp_peer t;

	(void)state;
	assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, hs1, &hs), 0);
	for (size_t i = 0; i < CHAN_HS1_LEN; i++) {
		memcpy(bad, hs1, CHAN_HS1_LEN);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		expect_first_dropped(bad, CHAN_HS1_LEN);
	}
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		expect_first_dropped(hs1, cuts[i]);
	memcpy(bad, hs1, CHAN_HS1_LEN);
	bad[CHAN_HS1_LEN] = 0;
	expect_first_dropped(bad, CHAN_HS1_LEN + 1);
	memcpy(bad + CHAN_HS1_LEN, hs1, CHAN_HS1_LEN);
	expect_first_dropped(bad, 2 * CHAN_HS1_LEN);

	assert_int_equal(ms_peer_tcp_open(&t, &env, 2000), 0);
	assert_int_equal(ms_peer_tcp_send(&t, hs1, CHAN_HS1_LEN), 0);
	assert_int_equal(ms_peer_tcp_recv(&t, &reply, &len), 1);
	assert_int_equal(ms_peer_tcp_finish(&t, hs, reply, len), 0);
	free(reply);
	noise_hs_free(hs);
	hello_ok(&t);
	ms_peer_tcp_close(&t);
	assert_int_equal(count(AUDIT), audits + 1);
	honest_check();
}

/* 10: every flipped bit position of a DATA frame, truncations and an extra byte, each on a fresh session;
 * the untouched frame is then answered on yet another one. */
static void test_tampered_data_rejected(void **state)
{
	size_t audits = count(AUDIT), len, flen;
	uint8_t *pt = pack_hello(&len), *frame, *bad;
	Memscan__V1__Response *resp;
	ms_tcp_peer t;

	(void)state;
	flen = len + CHAN_DATA_OVERHEAD;
	bad = malloc(flen + 1);
	assert_non_null(bad);
	for (size_t i = 0; i < flen; i++) {
		session(&t);
		ms_peer_seal_raw(t.k1, t.sid, 0, pt, len, bad);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		expect_dropped(&t, bad, flen);
	}
	for (size_t cut = 0; cut < flen; cut += cut < CHAN_DATA_AD_LEN ? 4 : 1) {
		session(&t);
		ms_peer_seal_raw(t.k1, t.sid, 0, pt, len, bad);
		expect_dropped(&t, bad, cut);
	}
	session(&t);
	ms_peer_seal_raw(t.k1, t.sid, 0, pt, len, bad);
	bad[flen] = 0;
	expect_dropped(&t, bad, flen + 1);

	session(&t);
	frame = seal(&t, 0, pt, len, &flen);
	resp = exchange(&t, 0, frame, flen, NULL, NULL);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	ms_peer_tcp_close(&t);
	assert_int_equal(count(AUDIT), audits + 1);
	free(frame);
	free(bad);
	free(pt);
	honest_check();
}

/* Low-order Curve25519 points (and non-canonical encodings of them): DH with any of them is all zeros. */
static const uint8_t low_order[][NOISE_KEY_LEN] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
	  0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	/* p - 1 (order 2), p (= 0), p + 1 (= 1) */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	/* 0 and the first order-8 point with the (ignored) top bit set */
	{ [31] = 0x80 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x80 },
};

/* 11: an all-zero or low-order ephemeral key in HS1 (the rest of a valid HS1 kept), a low-order static
 * key (correctly encrypted: only the agent's ss DH can catch it), and an all-zero HS1. */
static void test_low_order_keys_rejected(void **state)
{
	uint8_t hs1[CHAN_HS1_LEN], scalar[NOISE_KEY_LEN], out[NOISE_KEY_LEN];
	size_t audits = count(AUDIT), bad = count("reason=bad-hs1");
	size_t n = sizeof(low_order) / sizeof(low_order[0]);
	noise_hs *hs = NULL;

	(void)state;
	randombytes_buf(scalar, sizeof(scalar));
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(crypto_scalarmult(out, scalar, low_order[i]), 0); /* really low order */
		assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, hs1, &hs), 0);
		noise_hs_free(hs);
		memcpy(hs1 + CHAN_HEADER_LEN, low_order[i], NOISE_KEY_LEN);
		expect_first_dropped(hs1, CHAN_HS1_LEN);
		assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, low_order[i], hs1, &hs), 0);
		noise_hs_free(hs);
		expect_first_dropped(hs1, CHAN_HS1_LEN);
	}
	memset(hs1, 0, sizeof(hs1));
	hs1[0] = CHAN_VERSION;
	hs1[1] = CHAN_TYPE_HS1;
	expect_first_dropped(hs1, CHAN_HS1_LEN);
	assert_int_equal(count("reason=bad-hs1"), bad + 2 * n + 1);
	assert_int_equal(count(AUDIT), audits);
	honest_check();
}

/* Sets byte AT of a DATA frame to VALUE and seals it again, so only the header is wrong, not the AEAD. */
static void reseal_with(const ms_tcp_peer *t, uint8_t *frame, const uint8_t *pt, size_t len, size_t at,
                        uint8_t value)
{
	ms_peer_seal_raw(t->k1, t->sid, 0, pt, len, frame);
	frame[at] = value;
	noise_encrypt(t->k1, 0, frame, CHAN_DATA_AD_LEN, pt, len, frame + CHAN_DATA_AD_LEN);
}

/* 12: bad version, type or reserved bytes (HS1, and DATA with a valid AEAD over the bad header),
 * plaintext protobuf before and after the handshake, a second HS1, DATA before any handshake, and a
 * message without a REQ request id. */
static void test_bad_frames_rejected(void **state)
{
	static const struct {
		size_t at;
		uint8_t value;
	} hdr[] = { { 0, 0 }, { 0, 2 },    { 0, 0xff }, { 1, 0 },   { 1, CHAN_TYPE_HS2 },
		    { 1, 4 }, { 1, 0xff }, { 2, 1 },    { 3, 0x80 } };
	size_t audits = count(AUDIT), len, flen;
	uint8_t hs1[CHAN_HS1_LEN], *pt = pack_hello(&len), *frame;
	static const uint8_t no_id[32] = { 0 };
	noise_hs *hs = NULL;
	ms_tcp_peer t;

	(void)state;
	flen = len + CHAN_DATA_OVERHEAD;
	frame = malloc(flen);
	assert_non_null(frame);
	for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, hs1, &hs), 0);
		noise_hs_free(hs);
		hs1[hdr[i].at] = hdr[i].value;
		expect_first_dropped(hs1, CHAN_HS1_LEN);
		session(&t);
		reseal_with(&t, frame, pt, len, hdr[i].at, hdr[i].value);
		expect_dropped(&t, frame, flen);
	}
	expect_first_dropped(pt, len);   /* plaintext protobuf, no handshake */
	expect_session_dropped(pt, len); /* plaintext protobuf in a session */
	expect_first_dropped(NULL, 0);   /* an empty message */
	session(&t);                     /* a second HS1 on an established connection */
	hello_ok(&t);
	assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, hs1, &hs), 0);
	noise_hs_free(hs);
	expect_dropped(&t, hs1, CHAN_HS1_LEN);
	session(&t); /* DATA of a session on a connection that never had one */
	ms_peer_seal_raw(t.k1, t.sid, 0, pt, len, frame);
	expect_first_dropped(frame, flen);
	hello_ok(&t);
	ms_peer_tcp_close(&t);
	assert_int_equal(count(AUDIT), audits + 2);

	/* a message whose first words have no request id bit: nng's REP never delivers it, and the
	 * connection, which never completes a handshake, is closed by the handshake timeout */
	assert_int_equal(ms_peer_tcp_open(&t, &env, 3000), 0);
	assert_int_equal(ms_peer_tcp_write(&t, (const uint8_t[8]){ [7] = sizeof(no_id) }, 8), 0);
	assert_int_equal(ms_peer_tcp_write(&t, no_id, sizeof(no_id)), 0);
	assert_true(ms_peer_tcp_closed(&t));
	ms_peer_tcp_close(&t);
	assert_int_equal(count(AUDIT), audits + 2);
	free(frame);
	free(pt);
	honest_check();
}

int main(void)
{
	/* hundreds of connections come and go: the agent may not have seen the last ones close yet when
	 * the next opens, so the per-peer cap is raised (its own test is in test_agent_life.c) */
	const char *args[] = {
		"--global-budget", "24M", "--max-per-peer", "4096", "--max-connections", "4096", NULL
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs1_replay_rejected),
		cmocka_unit_test(test_data_replay_same_pipe_runs_once),
		cmocka_unit_test(test_data_replay_other_pipe_rejected),
		cmocka_unit_test(test_reflection_rejected),
		cmocka_unit_test(test_bad_counters_rejected),
		cmocka_unit_test(test_tampered_hs1_rejected),
		cmocka_unit_test(test_tampered_data_rejected),
		cmocka_unit_test(test_low_order_keys_rejected),
		cmocka_unit_test(test_bad_frames_rejected),
	};
	return ms_agent_run_suite("test_hostile", &env, &fx, args, tests, sizeof(tests) / sizeof(tests[0]));
}
