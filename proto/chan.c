/* SPDX-License-Identifier: MIT */
/* Secure channel framing on top of Noise IK: exact lengths first, then X25519 and AEAD, nothing else. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chan.h"
#include "le.h"

struct chan_session {
	uint8_t *keys; /* sodium_malloc: send key || receive key */
	uint64_t id;
	uint64_t counter; /* client: next request; agent: next expected request */
	uint32_t perms;
	int is_client;
	int awaiting; /* client: a request is out; agent: a request was opened, its reply not sealed */
	uint64_t created_ns, last_ns;
};

struct chan_client_hs {
	noise_hs *noise;
};

struct chan_agent_hs {
	noise_hs *noise;
};

static void put_header(uint8_t *p, uint8_t type)
{
	p[0] = CHAN_VERSION;
	p[1] = type;
	p[2] = 0;
	p[3] = 0;
}

int chan_frame_type(const uint8_t *frame, size_t len)
{
	if (len < CHAN_HEADER_LEN || frame[0] != CHAN_VERSION || frame[2] != 0 || frame[3] != 0)
		return -1;
	if (frame[1] < CHAN_TYPE_HS1 || frame[1] > CHAN_TYPE_AGENT_KEY)
		return -1;
	return frame[1];
}

void chan_keyscan_request(uint8_t out[CHAN_KEYSCAN_LEN])
{
	put_header(out, CHAN_TYPE_KEYSCAN);
}

int chan_is_keyscan(const uint8_t *frame, size_t len)
{
	return len == CHAN_KEYSCAN_LEN && chan_frame_type(frame, len) == CHAN_TYPE_KEYSCAN;
}

void chan_agent_key_write(const uint8_t pub[NOISE_KEY_LEN], uint8_t out[CHAN_AGENT_KEY_LEN])
{
	put_header(out, CHAN_TYPE_AGENT_KEY);
	memcpy(out + CHAN_HEADER_LEN, pub, NOISE_KEY_LEN);
}

int chan_agent_key_read(const uint8_t *frame, size_t len, uint8_t ret_pub[NOISE_KEY_LEN])
{
	if (len != CHAN_AGENT_KEY_LEN || chan_frame_type(frame, len) != CHAN_TYPE_AGENT_KEY)
		return -1;
	memcpy(ret_pub, frame + CHAN_HEADER_LEN, NOISE_KEY_LEN);
	return 0;
}

uint64_t chan_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void chan_tai64n_now(uint8_t out[CHAN_TAI64N_LEN])
{
	struct timespec ts;
	uint64_t secs;

	clock_gettime(CLOCK_REALTIME, &ts);
	secs = 0x400000000000000aull + (uint64_t)ts.tv_sec; /* TAI64: 2^62 + 10 s offset + Unix seconds */
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(secs >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)((uint32_t)ts.tv_nsec >> (24 - 8 * i));
}

static chan_session *session_new(const uint8_t send[NOISE_KEY_LEN], const uint8_t recv[NOISE_KEY_LEN],
                                 uint64_t id, uint32_t perms, int is_client)
{
	chan_session *s = sodium_malloc(sizeof(*s));

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->keys = sodium_malloc(2 * NOISE_KEY_LEN);
	if (!s->keys) {
		sodium_free(s);
		return NULL;
	}
	memcpy(s->keys, send, NOISE_KEY_LEN);
	memcpy(s->keys + NOISE_KEY_LEN, recv, NOISE_KEY_LEN);
	s->id = id;
	s->perms = perms;
	s->is_client = is_client;
	s->created_ns = s->last_ns = chan_monotonic_ns();
	return s;
}

void chan_session_free(chan_session *s)
{
	if (!s)
		return;
	sodium_free(s->keys);
	sodium_free(s);
}

int chan_client_start(const uint8_t client_priv[NOISE_KEY_LEN], const uint8_t agent_pub[NOISE_KEY_LEN],
                      uint8_t out[CHAN_HS1_LEN], chan_client_hs **ret_hs)
{
	uint8_t tai[CHAN_TAI64N_LEN];
	chan_client_hs *hs;
	size_t len;

	*ret_hs = NULL;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -1;
	hs->noise =
	    noise_hs_new(1, (const uint8_t *)CHAN_PROLOGUE, strlen(CHAN_PROLOGUE), client_priv, agent_pub);
	if (!hs->noise)
		goto fail;
	put_header(out, CHAN_TYPE_HS1);
	chan_tai64n_now(tai);
	if (noise_write_msg1(hs->noise, NULL, tai, sizeof(tai), out + CHAN_HEADER_LEN,
	                     CHAN_HS1_LEN - CHAN_HEADER_LEN, &len) ||
	    len != CHAN_HS1_LEN - CHAN_HEADER_LEN)
		goto fail;
	*ret_hs = hs;
	return 0;
fail:
	chan_client_hs_free(hs);
	return -1;
}

int chan_client_finish(chan_client_hs *hs, const uint8_t *frame, size_t len, chan_session **ret_session)
{
	uint8_t payload[CHAN_HS2_PAYLOAD_LEN], k1[NOISE_KEY_LEN], k2[NOISE_KEY_LEN];
	size_t plen;
	int r = -1;

	*ret_session = NULL;
	if (len != CHAN_HS2_LEN || chan_frame_type(frame, len) != CHAN_TYPE_HS2)
		return -1;
	if (noise_read_msg2(hs->noise, frame + CHAN_HEADER_LEN, len - CHAN_HEADER_LEN, payload,
	                    sizeof(payload), &plen) ||
	    plen != CHAN_HS2_PAYLOAD_LEN || noise_split(hs->noise, k1, k2))
		goto out;
	*ret_session = session_new(k1, k2, le_get(payload, 8),
	                           (uint32_t)payload[8] | (uint32_t)payload[9] << 8 |
	                               (uint32_t)payload[10] << 16 | (uint32_t)payload[11] << 24,
	                           1);
	r = *ret_session ? 0 : -1;
out:
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return r;
}

void chan_client_hs_free(chan_client_hs *hs)
{
	if (!hs)
		return;
	noise_hs_free(hs->noise);
	free(hs);
}

int chan_agent_read_hs1(const uint8_t agent_priv[NOISE_KEY_LEN], const uint8_t *frame, size_t len,
                        uint8_t ret_client_pub[NOISE_KEY_LEN], uint8_t ret_tai64n[CHAN_TAI64N_LEN],
                        chan_agent_hs **ret_hs)
{
	uint8_t payload[CHAN_TAI64N_LEN];
	chan_agent_hs *hs;
	size_t plen;

	*ret_hs = NULL;
	if (len != CHAN_HS1_LEN || chan_frame_type(frame, len) != CHAN_TYPE_HS1)
		return -1;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -1;
	hs->noise = noise_hs_new(0, (const uint8_t *)CHAN_PROLOGUE, strlen(CHAN_PROLOGUE), agent_priv, NULL);
	if (!hs->noise ||
	    noise_read_msg1(hs->noise, frame + CHAN_HEADER_LEN, len - CHAN_HEADER_LEN, payload,
	                    sizeof(payload), &plen) ||
	    plen != CHAN_TAI64N_LEN) {
		chan_agent_hs_free(hs);
		return -1;
	}
	memcpy(ret_client_pub, hs->noise->rs, NOISE_KEY_LEN);
	memcpy(ret_tai64n, payload, CHAN_TAI64N_LEN);
	*ret_hs = hs;
	return 0;
}

int chan_agent_write_hs2(chan_agent_hs *hs, uint64_t session_id, uint32_t perms, uint8_t out[CHAN_HS2_LEN],
                         chan_session **ret_session)
{
	uint8_t payload[CHAN_HS2_PAYLOAD_LEN], k1[NOISE_KEY_LEN], k2[NOISE_KEY_LEN];
	size_t len;
	int r = -1;

	*ret_session = NULL;
	le_put(payload, session_id, 8);
	for (int i = 0; i < 4; i++)
		payload[8 + i] = (uint8_t)(perms >> (8 * i));
	put_header(out, CHAN_TYPE_HS2);
	if (noise_write_msg2(hs->noise, NULL, payload, sizeof(payload), out + CHAN_HEADER_LEN,
	                     CHAN_HS2_LEN - CHAN_HEADER_LEN, &len) ||
	    len != CHAN_HS2_LEN - CHAN_HEADER_LEN || noise_split(hs->noise, k1, k2))
		goto out;
	/* the agent sends with k2 and receives with k1 */
	*ret_session = session_new(k2, k1, session_id, perms, 0);
	r = *ret_session ? 0 : -1;
out:
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return r;
}

void chan_agent_hs_free(chan_agent_hs *hs)
{
	if (!hs)
		return;
	noise_hs_free(hs->noise);
	free(hs);
}

/* True if [A, +A_LEN) and [B, +B_LEN) share a byte. */
static int chan_overlap(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return a_len && b_len && x < y + b_len && y < x + a_len;
}

int chan_seal(chan_session *s, const uint8_t *pt, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint64_t n;

	if (!s || out_cap < CHAN_DATA_OVERHEAD || len > out_cap - CHAN_DATA_OVERHEAD)
		return -1;
	if (pt != out + CHAN_DATA_AD_LEN && chan_overlap(pt, len, out, len + CHAN_DATA_OVERHEAD))
		return -1; /* only exact in-place sealing */
	if (s->is_client) {
		/* one request at a time; never two plaintexts under one counter */
		if (s->awaiting || s->counter >= CHAN_MAX_MESSAGES)
			return -1;
		n = s->counter;
	} else {
		if (!s->awaiting)
			return -1;
		n = s->counter - 1; /* the counter of the request being answered */
	}
	put_header(out, CHAN_TYPE_DATA);
	le_put(out + CHAN_HEADER_LEN, s->id, 8);
	le_put(out + CHAN_HEADER_LEN + 8, n, 8);
	noise_encrypt(s->keys, n, out, CHAN_DATA_AD_LEN, pt, len, out + CHAN_DATA_AD_LEN);
	*out_len = len + CHAN_DATA_OVERHEAD;
	s->awaiting = s->is_client ? 1 : 0;
	s->last_ns = chan_monotonic_ns();
	return 0;
}

/* The checks before opening a DATA frame: type, length, turn, session id, exactly the expected
 * counter (returned in *RET_COUNTER). Changes nothing. */
static int chan_check(const chan_session *s, const uint8_t *frame, size_t len, uint64_t *ret_counter)
{
	if (!s || len < CHAN_DATA_OVERHEAD || chan_frame_type(frame, len) != CHAN_TYPE_DATA)
		return -1;
	if (s->is_client && !s->awaiting)
		return -1; /* a reply nobody asked for (e.g. a reflected request) */
	if (!s->is_client && (s->awaiting || s->counter >= CHAN_MAX_MESSAGES))
		return -1; /* one request in flight per session */
	*ret_counter = le_get(frame + CHAN_HEADER_LEN + 8, 8);
	if (le_get(frame + CHAN_HEADER_LEN, 8) != s->id || *ret_counter != s->counter)
		return -1;
	return 0;
}

/* A frame was taken: the other side's turn. */
static void chan_advance(chan_session *s)
{
	s->counter++;
	s->awaiting = s->is_client ? 0 : 1;
	s->last_ns = chan_monotonic_ns();
}

int chan_claim(chan_session *s, const uint8_t *frame, size_t len, uint64_t *ret_counter)
{
	if (chan_check(s, frame, len, ret_counter))
		return -1;
	chan_advance(s);
	return 0;
}

/* Authenticates and decrypts DATA frame FRAME under counter N. */
static int chan_decrypt(const chan_session *s, uint64_t n, const uint8_t *frame, size_t len, uint8_t *pt,
                        size_t pt_cap, size_t *pt_len)
{
	if (len - CHAN_DATA_OVERHEAD > pt_cap)
		return -1;
	if (pt != frame + CHAN_DATA_AD_LEN && chan_overlap(pt, len - CHAN_DATA_OVERHEAD, frame, len))
		return -1; /* only exact in-place opening */
	if (noise_decrypt(s->keys + NOISE_KEY_LEN, n, frame, CHAN_DATA_AD_LEN, frame + CHAN_DATA_AD_LEN,
	                  len - CHAN_DATA_AD_LEN, pt))
		return -1;
	*pt_len = len - CHAN_DATA_OVERHEAD;
	return 0;
}

int chan_open_claimed(chan_session *s, uint64_t n, const uint8_t *frame, size_t len, uint8_t *pt,
                      size_t pt_cap, size_t *pt_len)
{
	/* only a frame claimed before: its counter is behind the session's and written in it */
	if (!s || len < CHAN_DATA_OVERHEAD || n >= s->counter || le_get(frame + CHAN_HEADER_LEN + 8, 8) != n)
		return -1;
	return chan_decrypt(s, n, frame, len, pt, pt_cap, pt_len);
}

int chan_open(chan_session *s, const uint8_t *frame, size_t len, uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
	uint64_t n;

	/* authenticated before the session moves on: a forged or reflected frame changes nothing */
	if (chan_check(s, frame, len, &n) || chan_decrypt(s, n, frame, len, pt, pt_cap, pt_len))
		return -1;
	chan_advance(s);
	return 0;
}

uint64_t chan_session_id(const chan_session *s)
{
	return s ? s->id : 0;
}

uint32_t chan_session_perms(const chan_session *s)
{
	return s ? s->perms : 0;
}

int chan_session_expired(const chan_session *s, uint64_t now_ns)
{
	/* NOW_NS may have been read before another thread touched the session: never underflow */
	uint64_t age = now_ns > s->created_ns ? now_ns - s->created_ns : 0;
	uint64_t idle = now_ns > s->last_ns ? now_ns - s->last_ns : 0;

	return s->counter >= CHAN_MAX_MESSAGES || age > CHAN_MAX_AGE_NS || idle > CHAN_MAX_IDLE_NS;
}
