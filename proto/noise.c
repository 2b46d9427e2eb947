/* SPDX-License-Identifier: MIT */
/* Noise_IK_25519_ChaChaPoly_SHA256 (Noise spec rev. 34): SymmetricState, HKDF and the two messages. */
#include <string.h>

#include <sodium.h>

#include "noise.h"

static const char PROTOCOL_NAME[] = "Noise_IK_25519_ChaChaPoly_SHA256"; /* exactly HASHLEN bytes */

static void hmac(const uint8_t key[NOISE_HASH_LEN], const uint8_t *a, size_t alen, const uint8_t *b,
                 size_t blen, uint8_t out[NOISE_HASH_LEN])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, NOISE_HASH_LEN);
	crypto_auth_hmacsha256_update(&st, a, alen);
	if (blen)
		crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, ikm) with two outputs, as the Noise spec defines it on HMAC-SHA256. */
static void hkdf2(const uint8_t ck[NOISE_HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                  uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN])
{
	uint8_t temp[NOISE_HASH_LEN], one = 0x01, two = 0x02, o1[NOISE_HASH_LEN];

	hmac(ck, ikm, ikm_len, NULL, 0, temp);
	hmac(temp, &one, 1, NULL, 0, o1);
	hmac(temp, o1, NOISE_HASH_LEN, &two, 1, out2);
	memcpy(out1, o1, NOISE_HASH_LEN);
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(o1, sizeof(o1));
}

static void mix_hash(noise_hs *hs, const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, hs->h, NOISE_HASH_LEN);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, hs->h);
}

static void mix_key(noise_hs *hs, const uint8_t *ikm, size_t len)
{
	hkdf2(hs->ck, ikm, len, hs->ck, hs->k);
	hs->n = 0;
	hs->has_k = 1;
}

/* MixKey(DH(priv, pub)); -1 if the result is all zeros (a low-order public key). */
static int mix_dh(noise_hs *hs, const uint8_t priv[NOISE_KEY_LEN], const uint8_t pub[NOISE_KEY_LEN])
{
	uint8_t shared[crypto_scalarmult_BYTES];
	int r = crypto_scalarmult(shared, priv, pub);

	if (r == 0)
		mix_key(hs, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return r == 0 ? 0 : -1;
}

static void nonce_of(uint64_t n, uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
	memset(nonce, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void noise_encrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
                   const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	nonce_of(n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, ad_len, NULL, nonce, k);
}

int noise_decrypt(const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad, size_t ad_len,
                  const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (ct_len < NOISE_TAG_LEN)
		return -1;
	nonce_of(n, nonce);
	return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ct_len, ad, ad_len, nonce, k) ==
	               0
	           ? 0
	           : -1;
}

/* EncryptAndHash: with a key, ciphertext = AEAD(k, n++, h, pt); then MixHash(ciphertext). */
static size_t encrypt_and_hash(noise_hs *hs, const uint8_t *pt, size_t len, uint8_t *out)
{
	size_t out_len = len;

	if (hs->has_k) {
		noise_encrypt(hs->k, hs->n++, hs->h, NOISE_HASH_LEN, pt, len, out);
		out_len += NOISE_TAG_LEN;
	} else {
		memmove(out, pt, len);
	}
	mix_hash(hs, out, out_len);
	return out_len;
}

static int decrypt_and_hash(noise_hs *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t h_before[NOISE_HASH_LEN];

	memcpy(h_before, hs->h, NOISE_HASH_LEN);
	mix_hash(hs, ct, len);
	if (!hs->has_k) {
		memmove(out, ct, len);
		return 0;
	}
	return noise_decrypt(hs->k, hs->n++, h_before, NOISE_HASH_LEN, ct, len, out);
}

noise_hs *noise_hs_new(int initiator, const uint8_t *prologue, size_t prologue_len,
                       const uint8_t s_priv[NOISE_KEY_LEN], const uint8_t *rs)
{
	noise_hs *hs;

	if (sodium_init() < 0 || (initiator && !rs))
		return NULL;
	hs = sodium_malloc(sizeof(*hs));
	if (!hs)
		return NULL;
	memset(hs, 0, sizeof(*hs));
	hs->initiator = initiator;
	memcpy(hs->h, PROTOCOL_NAME, NOISE_HASH_LEN);
	memcpy(hs->ck, hs->h, NOISE_HASH_LEN);
	mix_hash(hs, prologue, prologue_len);
	memcpy(hs->s_priv, s_priv, NOISE_KEY_LEN);
	crypto_scalarmult_base(hs->s_pub, hs->s_priv);
	/* pre-message: <- s */
	if (initiator) {
		memcpy(hs->rs, rs, NOISE_KEY_LEN);
		mix_hash(hs, hs->rs, NOISE_KEY_LEN);
	} else {
		mix_hash(hs, hs->s_pub, NOISE_KEY_LEN);
	}
	return hs;
}

void noise_hs_free(noise_hs *hs)
{
	if (hs)
		sodium_free(hs); /* sodium_free wipes the memory */
}

static void set_ephemeral(noise_hs *hs, const uint8_t *e_priv)
{
	if (e_priv)
		memcpy(hs->e_priv, e_priv, NOISE_KEY_LEN);
	else
		randombytes_buf(hs->e_priv, NOISE_KEY_LEN);
	crypto_scalarmult_base(hs->e_pub, hs->e_priv);
}

int noise_write_msg1(noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload, size_t payload_len,
                     uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t pos = 0;

	if (!hs->initiator || hs->step != 0 || out_cap < NOISE_MSG1_OVERHEAD + payload_len)
		return -1;
	set_ephemeral(hs, e_priv); /* e */
	memcpy(out, hs->e_pub, NOISE_KEY_LEN);
	mix_hash(hs, hs->e_pub, NOISE_KEY_LEN);
	pos += NOISE_KEY_LEN;
	if (mix_dh(hs, hs->e_priv, hs->rs)) /* es */
		return -1;
	pos += encrypt_and_hash(hs, hs->s_pub, NOISE_KEY_LEN, out + pos); /* s */
	if (mix_dh(hs, hs->s_priv, hs->rs))                               /* ss */
		return -1;
	pos += encrypt_and_hash(hs, payload, payload_len, out + pos);
	hs->step = 1;
	*out_len = pos;
	return 0;
}

int noise_read_msg1(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t payload_cap,
                    size_t *payload_len)
{
	if (hs->initiator || hs->step != 0 || len < NOISE_MSG1_OVERHEAD ||
	    payload_cap < len - NOISE_MSG1_OVERHEAD)
		return -1;
	hs->step = -1;                      /* unusable unless everything below succeeds */
	memcpy(hs->re, msg, NOISE_KEY_LEN); /* e */
	mix_hash(hs, hs->re, NOISE_KEY_LEN);
	if (mix_dh(hs, hs->s_priv, hs->re)) /* es */
		return -1;
	if (decrypt_and_hash(hs, msg + NOISE_KEY_LEN, NOISE_KEY_LEN + NOISE_TAG_LEN, hs->rs)) /* s */
		return -1;
	if (mix_dh(hs, hs->s_priv, hs->rs)) /* ss */
		return -1;
	if (decrypt_and_hash(hs, msg + 2 * NOISE_KEY_LEN + NOISE_TAG_LEN,
	                     len - (2 * NOISE_KEY_LEN + NOISE_TAG_LEN), payload))
		return -1;
	*payload_len = len - NOISE_MSG1_OVERHEAD;
	hs->step = 1;
	return 0;
}

int noise_write_msg2(noise_hs *hs, const uint8_t *e_priv, const uint8_t *payload, size_t payload_len,
                     uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t pos = 0;

	if (hs->initiator || hs->step != 1 || out_cap < NOISE_MSG2_OVERHEAD + payload_len)
		return -1;
	hs->step = -1;
	set_ephemeral(hs, e_priv); /* e */
	memcpy(out, hs->e_pub, NOISE_KEY_LEN);
	mix_hash(hs, hs->e_pub, NOISE_KEY_LEN);
	pos += NOISE_KEY_LEN;
	if (mix_dh(hs, hs->e_priv, hs->re)) /* ee */
		return -1;
	if (mix_dh(hs, hs->e_priv, hs->rs)) /* se */
		return -1;
	pos += encrypt_and_hash(hs, payload, payload_len, out + pos);
	hs->step = 2;
	*out_len = pos;
	return 0;
}

int noise_read_msg2(noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload, size_t payload_cap,
                    size_t *payload_len)
{
	if (!hs->initiator || hs->step != 1 || len < NOISE_MSG2_OVERHEAD ||
	    payload_cap < len - NOISE_MSG2_OVERHEAD)
		return -1;
	hs->step = -1;
	memcpy(hs->re, msg, NOISE_KEY_LEN); /* e */
	mix_hash(hs, hs->re, NOISE_KEY_LEN);
	if (mix_dh(hs, hs->e_priv, hs->re)) /* ee */
		return -1;
	if (mix_dh(hs, hs->s_priv, hs->re)) /* se */
		return -1;
	if (decrypt_and_hash(hs, msg + NOISE_KEY_LEN, len - NOISE_KEY_LEN, payload))
		return -1;
	*payload_len = len - NOISE_MSG2_OVERHEAD;
	hs->step = 2;
	return 0;
}

int noise_split(noise_hs *hs, uint8_t k1[NOISE_KEY_LEN], uint8_t k2[NOISE_KEY_LEN])
{
	if (hs->step != 2)
		return -1;
	hkdf2(hs->ck, NULL, 0, k1, k2);
	return 0;
}
