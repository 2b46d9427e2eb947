/* SPDX-License-Identifier: MIT */
/* The Noise IK implementation against the published test vector, and the channel's refusals. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chan.h"
#include "noise.h"
#include "noise_vectors.h"
#include "testutil.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t bin_len;

	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &bin_len, NULL), 0);
	return bin_len;
}

static void test_noise_matches_published_vector(void **state)
{
	uint8_t prologue[64], is[32], ie[32], irs[32], rs_priv[32], re[32], rs_pub[32], is_pub[32];
	uint8_t payload[256], expect[256], out[256], got[256], k1i[32], k2i[32], k1r[32], k2r[32], hh[32];
	size_t plen, elen, olen, glen, prologue_len;
	noise_hs *ini, *resp;

	(void)state;
	assert_true(sodium_init() >= 0);
	prologue_len = unhex(NV_INIT_PROLOGUE, prologue, sizeof(prologue));
	unhex(NV_INIT_STATIC, is, 32);
	unhex(NV_INIT_EPHEMERAL, ie, 32);
	unhex(NV_INIT_REMOTE_STATIC, irs, 32);
	unhex(NV_RESP_STATIC, rs_priv, 32);
	unhex(NV_RESP_EPHEMERAL, re, 32);
	crypto_scalarmult_base(rs_pub, rs_priv);
	assert_memory_equal(rs_pub, irs, 32);
	crypto_scalarmult_base(is_pub, is);

	ini = noise_hs_new(1, prologue, prologue_len, is, irs);
	resp = noise_hs_new(0, prologue, prologue_len, rs_priv, NULL);
	assert_non_null(ini);
	assert_non_null(resp);

	/* message 1: -> e, es, s, ss */
	plen = unhex(NV_MESSAGES[0].payload, payload, sizeof(payload));
	elen = unhex(NV_MESSAGES[0].ciphertext, expect, sizeof(expect));
	assert_int_equal(noise_write_msg1(ini, ie, payload, plen, out, sizeof(out), &olen), 0);
	assert_int_equal(olen, elen);
	assert_memory_equal(out, expect, elen);
	assert_int_equal(noise_read_msg1(resp, out, olen, got, sizeof(got), &glen), 0);
	assert_int_equal(glen, plen);
	assert_memory_equal(got, payload, plen);
	assert_memory_equal(resp->rs, is_pub, 32); /* the responder learned the initiator's static key */

	/* message 2: <- e, ee, se */
	plen = unhex(NV_MESSAGES[1].payload, payload, sizeof(payload));
	elen = unhex(NV_MESSAGES[1].ciphertext, expect, sizeof(expect));
	assert_int_equal(noise_write_msg2(resp, re, payload, plen, out, sizeof(out), &olen), 0);
	assert_int_equal(olen, elen);
	assert_memory_equal(out, expect, elen);
	assert_int_equal(noise_read_msg2(ini, out, olen, got, sizeof(got), &glen), 0);
	assert_memory_equal(got, payload, plen);
	assert_memory_equal(ini->h, resp->h, 32);
	assert_int_equal(unhex(NV_HANDSHAKE_HASH, hh, sizeof(hh)), 32);
	assert_memory_equal(ini->h, hh, 32);

	/* transport: initiator -> responder under k1, replies under k2, counters from 0 */
	assert_int_equal(noise_split(ini, k1i, k2i), 0);
	assert_int_equal(noise_split(resp, k1r, k2r), 0);
	assert_memory_equal(k1i, k1r, 32);
	assert_memory_equal(k2i, k2r, 32);
	for (size_t i = 2; i < sizeof(NV_MESSAGES) / sizeof(NV_MESSAGES[0]); i++) {
		const uint8_t *k = (i % 2 == 0) ? k1i : k2i;
		uint64_t n = (i - 2) / 2;
		plen = unhex(NV_MESSAGES[i].payload, payload, sizeof(payload));
		elen = unhex(NV_MESSAGES[i].ciphertext, expect, sizeof(expect));
		noise_encrypt(k, n, NULL, 0, payload, plen, out);
		assert_int_equal(plen + NOISE_TAG_LEN, elen);
		assert_memory_equal(out, expect, elen);
		assert_int_equal(noise_decrypt(k, n, NULL, 0, out, elen, got), 0);
		assert_memory_equal(got, payload, plen);
		out[0] ^= 1;
		assert_int_equal(noise_decrypt(k, n, NULL, 0, out, elen, got), -1);
	}
	noise_hs_free(ini);
	noise_hs_free(resp);
}

/* A completed handshake between fresh keys. */
struct pair {
	uint8_t agent_pub[32], agent_priv[32], client_pub[32], client_priv[32];
	chan_session *client, *agent;
};

static void pair_up(struct pair *p)
{
	uint8_t hs1[CHAN_HS1_LEN], hs2[CHAN_HS2_LEN], seen_pub[32], tai[CHAN_TAI64N_LEN];
	chan_client_hs *c;
	chan_agent_hs *a;

	crypto_box_keypair(p->agent_pub, p->agent_priv);
	crypto_box_keypair(p->client_pub, p->client_priv);
	assert_int_equal(chan_client_start(p->client_priv, p->agent_pub, hs1, &c), 0);
	assert_int_equal(chan_agent_read_hs1(p->agent_priv, hs1, sizeof(hs1), seen_pub, tai, &a), 0);
	assert_memory_equal(seen_pub, p->client_pub, 32);
	assert_int_equal(chan_agent_write_hs2(a, 77, CHAN_PERM_LIST | CHAN_PERM_SCAN, hs2, &p->agent), 0);
	assert_int_equal(chan_client_finish(c, hs2, sizeof(hs2), &p->client), 0);
	assert_int_equal(chan_session_id(p->client), 77);
	assert_int_equal(chan_session_perms(p->client), CHAN_PERM_LIST | CHAN_PERM_SCAN);
	chan_client_hs_free(c);
	chan_agent_hs_free(a);
}

static void pair_free(struct pair *p)
{
	chan_session_free(p->client);
	chan_session_free(p->agent);
}

static void test_chan_round_trips_and_refuses_replay(void **state)
{
	uint8_t req[128], rep[128], pt[128], old_req[128];
	size_t len, rlen, plen, old_len;
	struct pair p;

	(void)state;
	pair_up(&p);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(chan_seal(p.client, (const uint8_t *)"hello", 5, req, sizeof(req), &len), 0);
		/* a second request while one is out is refused: never two plaintexts under one counter */
		assert_int_equal(chan_seal(p.client, (const uint8_t *)"again", 5, rep, sizeof(rep), &rlen),
		                 -1);
		assert_int_equal(chan_open(p.agent, req, len, pt, sizeof(pt), &plen), 0);
		assert_int_equal(plen, 5);
		assert_memory_equal(pt, "hello", 5);
		if (i == 0) {
			memcpy(old_req, req, len);
			old_len = len;
		}
		/* the same DATA again on the same session: replay */
		assert_int_equal(chan_open(p.agent, req, len, pt, sizeof(pt), &plen), -1);
		assert_int_equal(chan_seal(p.agent, (const uint8_t *)"world!", 6, rep, sizeof(rep), &rlen),
		                 0);
		/* reflection: the agent's reply sent back to the agent, the client's request to the client */
		assert_int_equal(chan_open(p.agent, rep, rlen, pt, sizeof(pt), &plen), -1);
		assert_int_equal(chan_open(p.client, req, len, pt, sizeof(pt), &plen), -1);
		assert_int_equal(chan_open(p.client, rep, rlen, pt, sizeof(pt), &plen), 0);
		assert_memory_equal(pt, "world!", 6);
		/* the reply cannot be accepted twice */
		assert_int_equal(chan_open(p.client, rep, rlen, pt, sizeof(pt), &plen), -1);
	}
	/* an old request later: counter mismatch */
	assert_int_equal(chan_open(p.agent, old_req, old_len, pt, sizeof(pt), &plen), -1);
	pair_free(&p);
}

/* A pipelining client claims reply N, seals request N+1 while reply N is still closed, then opens it;
 * a claimed frame that does not authenticate never opens, and nothing else can be claimed or opened. */
static void test_chan_claim_then_open(void **state)
{
	uint8_t req[128], rep[128], bad[128], pt[128];
	size_t len, rlen, plen;
	uint64_t n = 99;
	struct pair p;

	(void)state;
	pair_up(&p);
	assert_int_equal(chan_seal(p.client, (const uint8_t *)"one", 3, req, sizeof(req), &len), 0);
	assert_int_equal(chan_open(p.agent, req, len, pt, sizeof(pt), &plen), 0);
	assert_int_equal(chan_seal(p.agent, (const uint8_t *)"reply-1", 7, rep, sizeof(rep), &rlen), 0);
	/* not claimed yet: nothing to open */
	assert_int_equal(chan_open_claimed(p.client, 0, rep, rlen, pt, sizeof(pt), &plen), -1);
	assert_int_equal(chan_claim(p.client, rep, rlen, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(chan_claim(p.client, rep, rlen, &n), -1); /* once */
	/* the next request goes out before the reply is opened */
	assert_int_equal(chan_seal(p.client, (const uint8_t *)"two", 3, req, sizeof(req), &len), 0);
	assert_int_equal(chan_open_claimed(p.client, 0, rep, rlen, pt, sizeof(pt), &plen), 0);
	assert_int_equal(plen, 7);
	assert_memory_equal(pt, "reply-1", 7);
	/* the agent sees plain alternation */
	assert_int_equal(chan_open(p.agent, req, len, pt, sizeof(pt), &plen), 0);
	assert_memory_equal(pt, "two", 3);
	assert_int_equal(chan_seal(p.agent, (const uint8_t *)"reply-2", 7, rep, sizeof(rep), &rlen), 0);
	/* a claimed reply with a flipped ciphertext byte does not open; a wrong counter is refused */
	memcpy(bad, rep, rlen);
	bad[CHAN_DATA_AD_LEN + 2] ^= 1;
	assert_int_equal(chan_claim(p.client, bad, rlen, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(chan_open_claimed(p.client, 1, bad, rlen, pt, sizeof(pt), &plen), -1);
	assert_int_equal(chan_open_claimed(p.client, 0, rep, rlen, pt, sizeof(pt), &plen), -1);
	/* the genuine frame under its own counter still opens: claiming only moved the turn */
	assert_int_equal(chan_open_claimed(p.client, 1, rep, rlen, pt, sizeof(pt), &plen), 0);
	assert_memory_equal(pt, "reply-2", 7);
	pair_free(&p);
}

/* Sealing and opening in place (plaintext at frame + CHAN_DATA_AD_LEN) give the same frames as with
 * separate buffers; any other overlap is refused. */
static void test_chan_in_place(void **state)
{
	uint8_t frame[256], pt[256];
	size_t len, plen, clen;
	struct pair p, q;

	(void)state;
	pair_up(&p);
	memcpy(frame + CHAN_DATA_AD_LEN, "in place, please", 16);
	assert_int_equal(chan_seal(p.client, frame + CHAN_DATA_AD_LEN, 16, frame, sizeof(frame), &len), 0);
	assert_int_equal(len, 16 + CHAN_DATA_OVERHEAD);
	assert_int_equal(
	    chan_open(p.agent, frame, len, frame + CHAN_DATA_AD_LEN, len - CHAN_DATA_OVERHEAD, &plen), 0);
	assert_int_equal(plen, 16);
	assert_memory_equal(frame + CHAN_DATA_AD_LEN, "in place, please", 16);
	/* the agent's reply, in place, opened by the client into another buffer */
	memcpy(frame + CHAN_DATA_AD_LEN, "reply", 5);
	assert_int_equal(chan_seal(p.agent, frame + CHAN_DATA_AD_LEN, 5, frame, sizeof(frame), &len), 0);
	assert_int_equal(chan_open(p.client, frame, len, pt, sizeof(pt), &plen), 0);
	assert_memory_equal(pt, "reply", 5);
	/* overlapping, but not exactly in place: refused (and the session's turn is not used up) */
	memcpy(frame + 4, "shifted", 7);
	assert_int_equal(chan_seal(p.client, frame + 4, 7, frame, sizeof(frame), &len), -1);
	assert_int_equal(chan_seal(p.client, frame + 4, 7, frame + 2, sizeof(frame) - 2, &len), -1);
	assert_int_equal(chan_seal(p.client, (const uint8_t *)"ok", 2, frame, sizeof(frame), &len), 0);
	assert_int_equal(chan_open(p.agent, frame, len, frame + 1, sizeof(frame) - 1, &plen), -1);
	assert_int_equal(chan_open(p.agent, frame, len, pt, sizeof(pt), &plen), 0);
	/* a tampered frame opened in place is refused too */
	pair_up(&q);
	memcpy(frame + CHAN_DATA_AD_LEN, "tamper", 6);
	assert_int_equal(chan_seal(q.client, frame + CHAN_DATA_AD_LEN, 6, frame, sizeof(frame), &clen), 0);
	frame[CHAN_DATA_AD_LEN + 2] ^= 1;
	assert_int_equal(
	    chan_open(q.agent, frame, clen, frame + CHAN_DATA_AD_LEN, clen - CHAN_DATA_OVERHEAD, &plen), -1);
	pair_free(&q);
	pair_free(&p);
}

static void test_chan_rejects_every_mangled_frame(void **state)
{
	uint8_t req[128], bad[160], pt[160];
	size_t len, plen;
	struct pair p;

	(void)state;
	pair_up(&p);
	assert_int_equal(chan_seal(p.client, (const uint8_t *)"payload", 7, req, sizeof(req), &len), 0);
	/* every flipped bit position of every byte */
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, req, len);
		bad[i] ^= 0x40;
		assert_int_equal(chan_open(p.agent, bad, len, pt, sizeof(pt), &plen), -1);
	}
	/* every truncation, and an extra trailing byte */
	for (size_t l = 0; l < len; l++)
		assert_int_equal(chan_open(p.agent, req, l, pt, sizeof(pt), &plen), -1);
	memcpy(bad, req, len);
	bad[len] = 0;
	assert_int_equal(chan_open(p.agent, bad, len + 1, pt, sizeof(pt), &plen), -1);
	/* a skipped counter (re-encrypted correctly would need the key; a raised field fails the AEAD) */
	memcpy(bad, req, len);
	bad[CHAN_HEADER_LEN + 8] = 1;
	assert_int_equal(chan_open(p.agent, bad, len, pt, sizeof(pt), &plen), -1);
	/* nothing above disturbed the session: the original still opens */
	assert_int_equal(chan_open(p.agent, req, len, pt, sizeof(pt), &plen), 0);
	pair_free(&p);
}

static void test_chan_handshake_refusals(void **state)
{
	uint8_t hs1[CHAN_HS1_LEN], hs2[CHAN_HS2_LEN], bad[CHAN_HS1_LEN + 1], pub[32], tai[12], other_pub[32],
	    other_priv[32];
	chan_client_hs *c;
	chan_agent_hs *a;
	chan_session *s;
	struct pair p;

	(void)state;
	pair_up(&p);
	crypto_box_keypair(other_pub, other_priv);
	/* a client that pinned another agent key: the agent cannot read its HS1 */
	assert_int_equal(chan_client_start(p.client_priv, other_pub, hs1, &c), 0);
	assert_int_equal(chan_agent_read_hs1(p.agent_priv, hs1, sizeof(hs1), pub, tai, &a), -1);
	chan_client_hs_free(c);
	/* HS1 bytes: each flip, each truncation, an extra byte, a zero (low-order) ephemeral, bad header */
	assert_int_equal(chan_client_start(p.client_priv, p.agent_pub, hs1, &c), 0);
	for (size_t i = 0; i < sizeof(hs1); i++) {
		memcpy(bad, hs1, sizeof(hs1));
		bad[i] ^= 1;
		assert_int_equal(chan_agent_read_hs1(p.agent_priv, bad, sizeof(hs1), pub, tai, &a), -1);
	}
	assert_int_equal(chan_agent_read_hs1(p.agent_priv, hs1, sizeof(hs1) - 1, pub, tai, &a), -1);
	memcpy(bad, hs1, sizeof(hs1));
	assert_int_equal(chan_agent_read_hs1(p.agent_priv, bad, sizeof(hs1) + 1, pub, tai, &a), -1);
	memcpy(bad, hs1, sizeof(hs1));
	memset(bad + CHAN_HEADER_LEN, 0, 32);
	assert_int_equal(chan_agent_read_hs1(p.agent_priv, bad, sizeof(hs1), pub, tai, &a), -1);
	/* the untouched HS1 is fine; a tampered HS2 makes the client abort */
	assert_int_equal(chan_agent_read_hs1(p.agent_priv, hs1, sizeof(hs1), pub, tai, &a), 0);
	assert_int_equal(chan_agent_write_hs2(a, 5, CHAN_PERM_READ, hs2, &s), 0);
	hs2[CHAN_HS2_LEN - 1] ^= 1;
	{
		chan_session *cs = NULL;
		assert_int_equal(chan_client_finish(c, hs2, sizeof(hs2), &cs), -1);
		assert_null(cs);
	}
	/* a DATA frame or an HS2 in place of HS1 */
	{
		chan_agent_hs *none = NULL;
		assert_int_equal(chan_agent_read_hs1(p.agent_priv, hs2, sizeof(hs2), pub, tai, &none), -1);
		assert_null(none);
	}
	chan_session_free(s);
	chan_agent_hs_free(a);
	chan_client_hs_free(c);
	assert_int_equal(chan_frame_type((const uint8_t *)"\x02\x01\x00\x00", 4), -1); /* version 2 */
	assert_int_equal(chan_frame_type((const uint8_t *)"\x01\x09\x00\x00", 4), -1); /* type 9 */
	assert_int_equal(chan_frame_type((const uint8_t *)"\x01\x01\x00\x01", 4), -1); /* nonzero pad */
	pair_free(&p);
}

/* Keyscan frames: the request is the header alone, the answer the header and the key, exactly. */
static void test_chan_keyscan_frames(void **state)
{
	uint8_t req[CHAN_KEYSCAN_LEN], ans[CHAN_AGENT_KEY_LEN + 1], pub[NOISE_KEY_LEN], got[NOISE_KEY_LEN];

	(void)state;
	memset(pub, 0x5a, sizeof(pub));
	chan_keyscan_request(req);
	assert_true(chan_is_keyscan(req, sizeof(req)));
	assert_false(chan_is_keyscan(req, sizeof(req) - 1));
	chan_agent_key_write(pub, ans);
	assert_false(chan_is_keyscan(ans, CHAN_AGENT_KEY_LEN)); /* the answer is no request */
	assert_false(chan_is_keyscan(ans, CHAN_KEYSCAN_LEN));
	assert_int_equal(chan_agent_key_read(ans, CHAN_AGENT_KEY_LEN, got), 0);
	assert_memory_equal(got, pub, sizeof(pub));
	assert_int_equal(chan_agent_key_read(ans, CHAN_AGENT_KEY_LEN - 1, got), -1);
	assert_int_equal(chan_agent_key_read(ans, CHAN_AGENT_KEY_LEN + 1, got), -1);
	ans[1] = CHAN_TYPE_HS2;
	assert_int_equal(chan_agent_key_read(ans, CHAN_AGENT_KEY_LEN, got), -1);
	req[3] = 1;
	assert_false(chan_is_keyscan(req, sizeof(req)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noise_matches_published_vector),
		cmocka_unit_test(test_chan_round_trips_and_refuses_replay),
		cmocka_unit_test(test_chan_in_place),
		cmocka_unit_test(test_chan_claim_then_open),
		cmocka_unit_test(test_chan_rejects_every_mangled_frame),
		cmocka_unit_test(test_chan_handshake_refusals),
		cmocka_unit_test(test_chan_keyscan_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
