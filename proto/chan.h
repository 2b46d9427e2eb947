/* SPDX-License-Identifier: MIT */
/* The secure channel: fixed binary frames (HS1, HS2, DATA) over Noise IK, with per-direction counters. */
#ifndef MEMSCAN_CHAN_H
#define MEMSCAN_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "noise.h"

#define CHAN_VERSION         1
#define CHAN_TYPE_HS1        1
#define CHAN_TYPE_HS2        2
#define CHAN_TYPE_DATA       3
#define CHAN_TYPE_KEYSCAN    4 /* client -> agent, before any handshake: the header alone */
#define CHAN_TYPE_AGENT_KEY  5 /* agent -> client: header || the agent's static public key */
#define CHAN_HEADER_LEN      4
#define CHAN_TAI64N_LEN      12
#define CHAN_HS2_PAYLOAD_LEN 12 /* session id (8, LE) || granted permission bits (4, LE) */
#define CHAN_HS1_LEN         (CHAN_HEADER_LEN + NOISE_MSG1_OVERHEAD + CHAN_TAI64N_LEN)      /* 112 */
#define CHAN_HS2_LEN         (CHAN_HEADER_LEN + NOISE_MSG2_OVERHEAD + CHAN_HS2_PAYLOAD_LEN) /* 64 */
#define CHAN_KEYSCAN_LEN     CHAN_HEADER_LEN                                                /* 4 */
#define CHAN_AGENT_KEY_LEN   (CHAN_HEADER_LEN + NOISE_KEY_LEN)                              /* 36 */
#define CHAN_DATA_AD_LEN     (CHAN_HEADER_LEN + 8 + 8)                                      /* 20 */
#define CHAN_DATA_OVERHEAD   (CHAN_DATA_AD_LEN + NOISE_TAG_LEN)                             /* 36 */
#define CHAN_PROLOGUE        "memscan/1"

/* A session ends after this many requests (SECURITY.md: 2^24 messages). */
#define CHAN_MAX_MESSAGES (1ull << 24)
/* ... or after this long in all, or this long idle. */
#define CHAN_MAX_AGE_NS  (15ull * 60 * 1000000000ull)
#define CHAN_MAX_IDLE_NS (5ull * 60 * 1000000000ull)

/* Permission bits granted to a client key. */
enum {
	CHAN_PERM_LIST = 1u << 0, /* processes, regions */
	CHAN_PERM_READ = 1u << 1, /* read, snapshot, diff: reveal bytes */
	CHAN_PERM_SCAN = 1u << 2, /* scan: match addresses, which disclose contents as read does */
};

/* An established session. Keys live in sodium_malloc memory, wiped by chan_session_free. */
typedef struct chan_session chan_session;

/* The type byte of a frame after checking its version and zero bytes; -1 if malformed. */
int chan_frame_type(const uint8_t *frame, size_t len);

/* ---- keyscan: the agent's static public key, asked for in the clear (docs/protocol.md) ---- */
/* The request: the header alone. */
void chan_keyscan_request(uint8_t out[CHAN_KEYSCAN_LEN]);
/* True if FRAME is exactly a keyscan request. */
int chan_is_keyscan(const uint8_t *frame, size_t len);
/* The answer: header || PUB. */
void chan_agent_key_write(const uint8_t pub[NOISE_KEY_LEN], uint8_t out[CHAN_AGENT_KEY_LEN]);
/* Reads an answer: exact length and type. Nothing authenticates it: the key is what someone on the
 * path claims until a person compared its fingerprint with the agent's. 0 or -1. */
int chan_agent_key_read(const uint8_t *frame, size_t len, uint8_t ret_pub[NOISE_KEY_LEN]);

/* ---- client (initiator) ---- */
typedef struct chan_client_hs chan_client_hs;
/* Starts a handshake to the agent whose static public key is AGENT_PUB; writes HS1 into OUT. */
int chan_client_start(const uint8_t client_priv[NOISE_KEY_LEN], const uint8_t agent_pub[NOISE_KEY_LEN],
                      uint8_t out[CHAN_HS1_LEN], chan_client_hs **ret_hs);
/* Completes it with the agent's HS2. -1 on any mismatch (wrong agent key, tampering). */
int chan_client_finish(chan_client_hs *hs, const uint8_t *frame, size_t len, chan_session **ret_session);
void chan_client_hs_free(chan_client_hs *hs);

/* ---- agent (responder) ---- */
typedef struct chan_agent_hs chan_agent_hs;
/* Reads HS1: checks lengths, decrypts the client's static key and TAI64N timestamp. The caller then
 * checks the key against its authorized keys and the timestamp against the last one it saw. */
int chan_agent_read_hs1(const uint8_t agent_priv[NOISE_KEY_LEN], const uint8_t *frame, size_t len,
                        uint8_t ret_client_pub[NOISE_KEY_LEN], uint8_t ret_tai64n[CHAN_TAI64N_LEN],
                        chan_agent_hs **ret_hs);
/* Writes HS2 granting PERMS under SESSION_ID and returns the session. */
int chan_agent_write_hs2(chan_agent_hs *hs, uint64_t session_id, uint32_t perms, uint8_t out[CHAN_HS2_LEN],
                         chan_session **ret_session);
void chan_agent_hs_free(chan_agent_hs *hs);

/* ---- transport ---- */
/* Client: seals request number N (the session's next counter) into OUT (len + CHAN_DATA_OVERHEAD).
 * Agent: seals the reply to the request it last opened, under the same counter. -1 if the session
 * is exhausted or the call is out of turn. PT may lie exactly at OUT + CHAN_DATA_AD_LEN (sealing in
 * place: the frame's header goes in front, the tag after); any other overlap is refused. */
int chan_seal(chan_session *s, const uint8_t *pt, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);
/* Opens a DATA frame: exact session id, exactly the expected counter, authentic. PT receives
 * len - CHAN_DATA_OVERHEAD bytes. -1 on any failure (the caller then drops the connection). PT may
 * be FRAME + CHAN_DATA_AD_LEN (opening in place; FRAME is then overwritten); no other overlap. */
__attribute__((warn_unused_result)) int chan_open(chan_session *s, const uint8_t *frame, size_t len,
                                                  uint8_t *pt, size_t pt_cap, size_t *pt_len);
/* Opening in two steps, for a client that pipelines: chan_claim checks a DATA frame's type, session id
 * and counter (exactly the expected one) and moves the session on as chan_open does, WITHOUT
 * authenticating it, so the next request may be sealed and sent while this reply is still being
 * decrypted; *RET_COUNTER is the frame's counter. chan_open_claimed then authenticates and decrypts
 * it. The rules of chan_open hold: a claimed frame that does not open ends the connection, and its
 * plaintext is never used before it opened. */
__attribute__((warn_unused_result)) int chan_claim(chan_session *s, const uint8_t *frame, size_t len,
                                                   uint64_t *ret_counter);
__attribute__((warn_unused_result)) int chan_open_claimed(chan_session *s, uint64_t counter,
                                                          const uint8_t *frame, size_t len, uint8_t *pt,
                                                          size_t pt_cap, size_t *pt_len);
uint64_t chan_session_id(const chan_session *s);
uint32_t chan_session_perms(const chan_session *s);
/* True if the session must end (message count, age or idleness at time NOW_NS). */
int chan_session_expired(const chan_session *s, uint64_t now_ns);
void chan_session_free(chan_session *s);

/* TAI64N label of the current time, and comparison (memcmp order is time order). */
void chan_tai64n_now(uint8_t out[CHAN_TAI64N_LEN]);
uint64_t chan_monotonic_ns(void);

#endif /* MEMSCAN_CHAN_H */
