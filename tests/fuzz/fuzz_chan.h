/* SPDX-License-Identifier: MIT */
/* Channel helpers shared by the frame fuzz targets: a replayable random source, fixed keys, handshakes. */
#ifndef MEMSCAN_FUZZ_CHAN_H
#define MEMSCAN_FUZZ_CHAN_H

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "chan.h"
#include "fuzz_common.h"

#define FUZZ_SESSION_ID    0x1122334455667788ull
#define FUZZ_SESSION_PERMS (CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN)

/* Fixed static keys: the agent's, and the one authorized client's. */
static uint8_t fuzz_agent_priv[NOISE_KEY_LEN], fuzz_agent_pub[NOISE_KEY_LEN];
static uint8_t fuzz_client_priv[NOISE_KEY_LEN], fuzz_client_pub[NOISE_KEY_LEN];

/*
 * libsodium's random source, replaced by one that can be replayed: call number N gives the bytes of
 * randombytes_buf_deterministic seeded with N. fuzz_rng_rewind() before a handshake makes its
 * ephemeral keys, hence its session keys (Noise derives them from the DH results only), the same
 * every time, so a DATA frame sealed once opens in every later session made the same way. The
 * handshake messages still differ: HS1 carries the time, and HS2 is bound to HS1.
 */
static uint64_t fuzz_rng_calls;

static const char *fuzz_rng_name(void)
{
	return "memscan-fuzz-replayable";
}

static void fuzz_rng_buf(void *const buf, const size_t size)
{
	uint8_t seed[randombytes_SEEDBYTES] = { 0 };

	memcpy(seed, &fuzz_rng_calls, sizeof(fuzz_rng_calls));
	fuzz_rng_calls++;
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t fuzz_rng_random(void)
{
	uint32_t v;

	fuzz_rng_buf(&v, sizeof(v));
	return v;
}

static void fuzz_rng_rewind(void)
{
	fuzz_rng_calls = 0;
}

/* Installs the replayable source (before sodium_init) and makes the fixed key pairs. */
static inline void fuzz_chan_init(void)
{
	static randombytes_implementation rng = {
		.implementation_name = fuzz_rng_name,
		.random = fuzz_rng_random,
		.buf = fuzz_rng_buf,
	};

	FUZZ_CHECK(randombytes_set_implementation(&rng) == 0);
	FUZZ_CHECK(sodium_init() >= 0);
	for (int i = 0; i < NOISE_KEY_LEN; i++) {
		fuzz_agent_priv[i] = (uint8_t)(0xA0 + i);
		fuzz_client_priv[i] = (uint8_t)(0x10 + 3 * i);
	}
	FUZZ_CHECK(crypto_scalarmult_base(fuzz_agent_pub, fuzz_agent_priv) == 0);
	FUZZ_CHECK(crypto_scalarmult_base(fuzz_client_pub, fuzz_client_priv) == 0);
}

/* The agent's side of a handshake: reads HS1 (from the fixed client) and writes HS2 granting PERMS. */
static inline void fuzz_chan_agent_reply(const uint8_t hs1[CHAN_HS1_LEN], uint32_t perms,
                                         uint8_t hs2[CHAN_HS2_LEN], chan_session **ret_agent)
{
	uint8_t pub[NOISE_KEY_LEN], tai[CHAN_TAI64N_LEN];
	chan_agent_hs *ahs = NULL;

	FUZZ_CHECK(chan_agent_read_hs1(fuzz_agent_priv, hs1, CHAN_HS1_LEN, pub, tai, &ahs) == 0);
	FUZZ_CHECK(memcmp(pub, fuzz_client_pub, sizeof(pub)) == 0);
	FUZZ_CHECK(chan_agent_write_hs2(ahs, FUZZ_SESSION_ID, perms, hs2, ret_agent) == 0);
	chan_agent_hs_free(ahs);
}

/* A full handshake in memory, replayed (same session keys every time): HS1 into HS1_OUT if not NULL. */
static inline void fuzz_chan_handshake(uint8_t *hs1_out, chan_session **ret_agent, chan_session **ret_client)
{
	uint8_t hs1[CHAN_HS1_LEN], hs2[CHAN_HS2_LEN];
	chan_client_hs *chs = NULL;

	fuzz_rng_rewind();
	FUZZ_CHECK(chan_client_start(fuzz_client_priv, fuzz_agent_pub, hs1, &chs) == 0);
	fuzz_chan_agent_reply(hs1, FUZZ_SESSION_PERMS, hs2, ret_agent);
	FUZZ_CHECK(chan_client_finish(chs, hs2, sizeof(hs2), ret_client) == 0);
	FUZZ_CHECK(chan_session_id(*ret_client) == FUZZ_SESSION_ID);
	FUZZ_CHECK(chan_session_perms(*ret_client) == FUZZ_SESSION_PERMS);
	chan_client_hs_free(chs);
	if (hs1_out)
		memcpy(hs1_out, hs1, sizeof(hs1));
}

#endif /* MEMSCAN_FUZZ_CHAN_H */
