/* SPDX-License-Identifier: MIT */
/* Noise_IK_25519_ChaChaPoly_SHA256 handshake state machine, built only from libsodium primitives. */
#ifndef MEMSCAN_NOISE_H
#define MEMSCAN_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define NOISE_KEY_LEN  32
#define NOISE_HASH_LEN 32
#define NOISE_TAG_LEN  16
/* message 1 (-> e, es, s, ss) and message 2 (<- e, ee, se) sizes without their payloads */
#define NOISE_MSG1_OVERHEAD (NOISE_KEY_LEN + NOISE_KEY_LEN + NOISE_TAG_LEN + NOISE_TAG_LEN)
#define NOISE_MSG2_OVERHEAD (NOISE_KEY_LEN + NOISE_TAG_LEN)

/* Handshake state. Holds secrets: allocate with noise_hs_new (sodium_malloc), free with noise_hs_free. */
typedef struct noise_hs {
	uint8_t ck[NOISE_HASH_LEN];
	uint8_t h[NOISE_HASH_LEN];
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
	int has_k;
	int initiator;
	int step; /* messages processed so far */
	uint8_t s_priv[NOISE_KEY_LEN], s_pub[NOISE_KEY_LEN];
	uint8_t e_priv[NOISE_KEY_LEN], e_pub[NOISE_KEY_LEN];
	uint8_t rs[NOISE_KEY_LEN], re[NOISE_KEY_LEN];
} noise_hs;

/* Initializes a handshake. S_PRIV is the local static private key; RS the responder's static public
 * key (initiator only; NULL for the responder, which learns the initiator's from message 1).
 * Returns a new state or NULL (out of memory, sodium_init failure, bad key). */
noise_hs *noise_hs_new(int initiator, const uint8_t *prologue, size_t prologue_len,
                       const uint8_t s_priv[NOISE_KEY_LEN], const uint8_t *rs);
void noise_hs_free(noise_hs *hs);

/* Each returns 0 or -1. E_PRIV = NULL draws a fresh ephemeral key (tests pass a fixed one). OUT
 * must hold overhead + payload bytes; *OUT_LEN receives the message length. A read fails on any
 * length mismatch, a low-order key (all-zero DH) or an authentication failure; the state is then
 * unusable. Read payloads need room for len - overhead bytes. */
int noise_write_msg1(noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload, size_t payload_len,
                     uint8_t *out, size_t out_cap, size_t *out_len);
int noise_read_msg1(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t payload_cap,
                    size_t *payload_len);
int noise_write_msg2(noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload, size_t payload_len,
                     uint8_t *out, size_t out_cap, size_t *out_len);
int noise_read_msg2(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t payload_cap,
                    size_t *payload_len);
/* After message 2: K1 protects initiator -> responder, K2 responder -> initiator. */
int noise_split(noise_hs *hs, uint8_t k1[NOISE_KEY_LEN], uint8_t k2[NOISE_KEY_LEN]);

/* Transport AEAD: ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || little-endian N. OUT receives
 * len + 16 bytes (encrypt) or ct_len - 16 bytes (decrypt). Decrypt returns -1 on forgery. */
void noise_encrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
                   const uint8_t *pt, size_t len, uint8_t *out);
__attribute__((warn_unused_result)) int noise_decrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n,
                                                      const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                                                      size_t ct_len, uint8_t *out);

#endif /* MEMSCAN_NOISE_H */
