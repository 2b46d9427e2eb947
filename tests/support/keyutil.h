/* SPDX-License-Identifier: MIT */
/* Helpers of the key file tests (proto/keyfile*.c): fresh public keys and key lines built from them. */
#ifndef MEMSCAN_KEYUTIL_H
#define MEMSCAN_KEYUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "keyfile.h"
#include "testutil.h"

#define MS_KEY_B64_LEN 44 /* base64 of a KEYFILE_KEY_LEN-byte key */

/* Three valid public keys and their base64, made by ms_keys_group_setup. */
extern uint8_t ms_pubs[3][KEYFILE_KEY_LEN];
extern char ms_b64s[3][MS_KEY_B64_LEN + 1];
/* cmocka group setup: initializes libsodium and makes ms_pubs and ms_b64s. */
int ms_keys_group_setup(void **state);
/* TMPL with every "@K" replaced by KEY and every "@S" by KEY without its last character, into OUT. */
void ms_key_subst(char *out, size_t len, const char *tmpl, const char *key);

#endif /* MEMSCAN_KEYUTIL_H */
