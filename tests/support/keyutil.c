/* SPDX-License-Identifier: MIT */
/* Helpers of the key file tests (proto/keyfile*.c): fresh public keys and key lines built from them. */
#include "keyutil.h"

#include <string.h>

#include <sodium.h>

uint8_t ms_pubs[3][KEYFILE_KEY_LEN];
char ms_b64s[3][MS_KEY_B64_LEN + 1];

int ms_keys_group_setup(void **state)
{
	uint8_t priv[KEYFILE_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		crypto_box_keypair(ms_pubs[i], priv);
		sodium_bin2base64(ms_b64s[i], sizeof(ms_b64s[i]), ms_pubs[i], KEYFILE_KEY_LEN,
		                  sodium_base64_VARIANT_ORIGINAL);
	}
	sodium_memzero(priv, sizeof(priv));
	return 0;
}

void ms_key_subst(char *out, size_t len, const char *tmpl, const char *key)
{
	size_t n = 0;

	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '@' && (p[1] == 'K' || p[1] == 'S')) {
			size_t klen = strlen(key) - (p[1] == 'S');
			assert_true(n + klen < len);
			memcpy(out + n, key, klen);
			n += klen;
			p++;
			continue;
		}
		assert_true(n + 1 < len);
		out[n++] = *p;
	}
	out[n] = '\0';
}
