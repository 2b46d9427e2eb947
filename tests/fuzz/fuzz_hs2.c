/* SPDX-License-Identifier: MIT */
/* Fuzzes the client's handshake end: hostile HS2 bytes into chan_client_finish; only the agent's opens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "fuzz_chan.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Input: a mode byte, then the frame. Mode bit 0 set: the frame is the rest XOR the genuine HS2 the
 * agent answers this handshake with (zero bytes give the genuine one; its encrypted part changes
 * with every HS1, which carries the time). Clear: the rest as it is (ephemeral keys of the
 * fuzzer's choosing, such as low-order points). */
#define MODE_OVER_GENUINE 1u
#define GRANTED_PERMS     (CHAN_PERM_LIST | CHAN_PERM_SCAN)

static unsigned long hs2_accepted;

/* One handshake: the client starts it, the agent (replayed keys) makes its genuine HS2, and the
 * client is handed FRAME (made from the input). Only the genuine HS2 completes it. */
static void finish(const uint8_t *data, size_t size)
{
	uint8_t hs1[CHAN_HS1_LEN], genuine[CHAN_HS2_LEN], *frame;
	chan_session *agent = NULL, *client = NULL;
	chan_client_hs *chs = NULL;
	size_t len = size - 1;
	int rc;

	fuzz_rng_rewind();
	FUZZ_CHECK(chan_client_start(fuzz_client_priv, fuzz_agent_pub, hs1, &chs) == 0);
	fuzz_chan_agent_reply(hs1, GRANTED_PERMS, genuine, &agent);
	frame = malloc(len ? len : 1);
	FUZZ_CHECK(frame != NULL);
	memcpy(frame, data + 1, len);
	for (size_t i = 0; (data[0] & MODE_OVER_GENUINE) && i < len && i < sizeof(genuine); i++)
		frame[i] ^= genuine[i];
	rc = chan_client_finish(chs, frame, len, &client);
	if (rc == 0) {
		hs2_accepted++;
		FUZZ_CHECK(len == sizeof(genuine) && memcmp(frame, genuine, len) == 0);
		FUZZ_CHECK(chan_session_id(client) == FUZZ_SESSION_ID);
		FUZZ_CHECK(chan_session_perms(client) == GRANTED_PERMS);
	} else {
		FUZZ_CHECK(client == NULL);
		FUZZ_CHECK(len != sizeof(genuine) || memcmp(frame, genuine, len) != 0);
	}
	free(frame);
	chan_session_free(client);
	chan_session_free(agent);
	chan_client_hs_free(chs);
}

/* Seeds: the genuine HS2 (all zero over it), and raw frames whose ephemeral key is the zero point
 * or the agent's genuine one. */
static void write_seeds(const char *dir)
{
	uint8_t seed[1 + CHAN_HS2_LEN] = { MODE_OVER_GENUINE }, hs1[CHAN_HS1_LEN];
	chan_session *agent = NULL;
	chan_client_hs *chs = NULL;

	fuzz_write_seed(dir, "genuine.bin", seed, sizeof(seed));
	fuzz_rng_rewind();
	FUZZ_CHECK(chan_client_start(fuzz_client_priv, fuzz_agent_pub, hs1, &chs) == 0);
	fuzz_chan_agent_reply(hs1, GRANTED_PERMS, seed + 1, &agent);
	seed[0] = 0;
	fuzz_write_seed(dir, "raw_stale.bin", seed, sizeof(seed));
	memset(seed + 1 + CHAN_HEADER_LEN, 0, NOISE_KEY_LEN);
	fuzz_write_seed(dir, "raw_zero_key.bin", seed, sizeof(seed));
	chan_session_free(agent);
	chan_client_hs_free(chs);
}

static void print_stats(void)
{
	fprintf(stderr, "fuzz_hs2: %lu HS2 frames accepted (each the agent's genuine one)\n", hs2_accepted);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t genuine[1 + CHAN_HS2_LEN] = { MODE_OVER_GENUINE };
	uint8_t flipped[sizeof(genuine)];
	fuzz_chan_init();
	fuzz_seed_mode(write_seeds);
	/* the genuine HS2 completes a handshake; with one bit flipped it does not */
	finish(genuine, sizeof(genuine));
	FUZZ_CHECK(hs2_accepted == 1);
	memcpy(flipped, genuine, sizeof(genuine));
	flipped[sizeof(flipped) - 1] ^= 0x80;
	finish(flipped, sizeof(flipped));
	FUZZ_CHECK(hs2_accepted == 1);
	hs2_accepted = 0;
	atexit(print_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1)
		finish(data, size);
	return 0;
}
