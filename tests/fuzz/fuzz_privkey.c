/* SPDX-License-Identifier: MIT */
/* Fuzzes key files read from disk: keyfile_load_private (the client's identity) and keyfile_load_public. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_common.h"
#include "keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define B64_LEN sodium_base64_ENCODED_LEN(KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)

static char dir[4096], path[4200];
static unsigned long keys_loaded;

/* A private key file is accepted only as the one line keyfile_generate writes: the prefix, a space,
 * the key's base64 and an optional newline; the public key returned is the key's. Refused, the key
 * buffer is left zero. */
static void check_private(const uint8_t *data, size_t size)
{
	uint8_t priv[KEYFILE_KEY_LEN], pub[KEYFILE_KEY_LEN], want[KEYFILE_KEY_LEN];
	char err[256], line[sizeof(KEYFILE_PRIV_PREFIX) + B64_LEN + 1];
	size_t n;
	int rc;

	memset(priv, 0xEE, sizeof(priv));
	rc = keyfile_load_private(path, priv, pub, err, sizeof(err));
	fuzz_check_err(err, sizeof(err), rc);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL);
		FUZZ_CHECK(sodium_is_zero(priv, sizeof(priv)));
		return;
	}
	keys_loaded++;
	memcpy(line, KEYFILE_PRIV_PREFIX " ", sizeof(KEYFILE_PRIV_PREFIX));
	sodium_bin2base64(line + sizeof(KEYFILE_PRIV_PREFIX), B64_LEN, priv, sizeof(priv),
	                  sodium_base64_VARIANT_ORIGINAL);
	n = strlen(line);
	FUZZ_CHECK(size == n || (size == n + 1 && data[n] == '\n'));
	FUZZ_CHECK(memcmp(data, line, n) == 0);
	FUZZ_CHECK(!sodium_is_zero(priv, sizeof(priv)));
	FUZZ_CHECK(crypto_scalarmult_base(want, priv) == 0);
	FUZZ_CHECK(memcmp(want, pub, sizeof(pub)) == 0);
}

/* A .pub file is one line that keyfile_parse_public takes, with the same key. */
static void check_public(const uint8_t *data, size_t size)
{
	uint8_t pub[KEYFILE_KEY_LEN], again[KEYFILE_KEY_LEN];
	char err[256], *text;
	int rc;

	rc = keyfile_load_public(path, pub, err, sizeof(err));
	fuzz_check_err(err, sizeof(err), rc);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL);
		return;
	}
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (size && text[size - 1] == '\n')
		text[size - 1] = '\0';
	FUZZ_CHECK(strlen(text) + (size && data[size - 1] == '\n') == size);
	FUZZ_CHECK(strchr(text, '\n') == NULL);
	FUZZ_CHECK(keyfile_parse_public(text, again, NULL) == 0);
	FUZZ_CHECK(memcmp(pub, again, sizeof(pub)) == 0);
	free(text);
}

/* Seeds: a private key line as keyfile_generate writes it, the same without its newline, and the
 * public key line. */
static void write_seeds(const char *out)
{
	uint8_t priv[KEYFILE_KEY_LEN], pub[KEYFILE_KEY_LEN];
	char line[256];
	size_t n;

	for (int i = 0; i < KEYFILE_KEY_LEN; i++)
		priv[i] = (uint8_t)(7 * i + 1);
	FUZZ_CHECK(crypto_scalarmult_base(pub, priv) == 0);
	memcpy(line, KEYFILE_PRIV_PREFIX " ", sizeof(KEYFILE_PRIV_PREFIX));
	sodium_bin2base64(line + sizeof(KEYFILE_PRIV_PREFIX), B64_LEN, priv, sizeof(priv),
	                  sodium_base64_VARIANT_ORIGINAL);
	n = strlen(line);
	line[n] = '\n';
	fuzz_write_seed(out, "id_x25519", line, n + 1);
	fuzz_write_seed(out, "id_x25519_no_newline", line, n);
	FUZZ_CHECK(keyfile_format_public(pub, line, sizeof(line)) == 0);
	n = strlen(line);
	memcpy(line + n, " user@host\n", 11);
	fuzz_write_seed(out, "id_x25519.pub", line, n + 11);
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
	fprintf(stderr, "fuzz_privkey: %lu private keys loaded\n", keys_loaded);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FUZZ_CHECK(sodium_init() >= 0);
	fuzz_seed_mode(write_seeds);
	fuzz_private_dir("fuzz-privkey", dir, sizeof(dir));
	fuzz_path(path, sizeof(path), dir, "id_x25519");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_file(path, data, size, 0600);
	check_private(data, size);
	check_public(data, size);
	return 0;
}
