/* SPDX-License-Identifier: MIT */
/* Key management for client tools: key generation, fingerprints, agent pinning (proto/keyfile). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include <memscan/client.h>

#include "client_internal.h"
#include "keyfile.h"

int client_key_err(int r)
{
	switch (r) {
	case 0:
		return MEMSCAN_OK;
	case -EINVAL:
	case -ELOOP:
	case -ERANGE:
		return MEMSCAN_ERR_INVALID_ARG;
	case -EPERM:
	case -EACCES:
		return MEMSCAN_ERR_PERMISSION;
	case -ENOENT:
		return MEMSCAN_ERR_NOT_FOUND;
	case -ENOMEM:
		return MEMSCAN_ERR_NO_MEMORY;
	case -EKEYREJECTED: /* a different key is pinned for that agent */
		return MEMSCAN_ERR_AUTH;
	default:
		return MEMSCAN_ERR_IO;
	}
}

int memscan_key_generate(const char *path, const char *comment, char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN],
                         char *err, size_t err_len)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	int r;

	if (!path || !ret_fingerprint || sodium_init() < 0)
		return MEMSCAN_ERR_INVALID_ARG;
	r = keyfile_generate(path, comment, pub, err, err_len);
	if (r == 0)
		keyfile_fingerprint(pub, ret_fingerprint);
	return client_key_err(r);
}

int memscan_key_fingerprint(const char *path, char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN], char *err,
                            size_t err_len)
{
	uint8_t pub[KEYFILE_KEY_LEN], *priv;
	char priv_err[512];
	int r, rp;

	if (!path || !ret_fingerprint || sodium_init() < 0)
		return MEMSCAN_ERR_INVALID_ARG;
	r = keyfile_load_public(path, pub, err, err_len);
	if (r == -EINVAL) {
		/* not a .pub file: perhaps a private key file, whose public half we can derive */
		priv = sodium_malloc(KEYFILE_KEY_LEN);
		if (!priv)
			return MEMSCAN_ERR_NO_MEMORY;
		rp = keyfile_load_private(path, priv, pub, priv_err, sizeof(priv_err));
		sodium_free(priv);
		/* a private key refused for its permissions says so, rather than "not a .pub line" */
		if (rp == 0 || rp == -EPERM)
			r = rp;
		if (rp == -EPERM && err && err_len)
			snprintf(err, err_len, "%s", priv_err);
	}
	if (r == 0)
		keyfile_fingerprint(pub, ret_fingerprint);
	return client_key_err(r);
}

/* Refuses to replace a pin of HOSTPORT in PATH by a different key unless REPLACE: -EKEYREJECTED
 * naming both fingerprints. Pinning the same key again is fine. */
static int check_replace(const char *path, const char *hostport, const uint8_t pub[KEYFILE_KEY_LEN],
                         int replace, char *err, size_t err_len)
{
	char old_fp[MEMSCAN_FINGERPRINT_LEN], new_fp[MEMSCAN_FINGERPRINT_LEN];
	uint8_t old[KEYFILE_KEY_LEN];
	int r = keyfile_known_agent(path, hostport, old, NULL, 0);

	if (r == -ENOENT || (r == 0 && (replace || sodium_memcmp(old, pub, KEYFILE_KEY_LEN) == 0)))
		return 0;
	if (r != 0) /* let the rewrite report what is wrong with the file */
		return 0;
	keyfile_fingerprint(old, old_fp);
	keyfile_fingerprint(pub, new_fp);
	if (err && err_len)
		snprintf(err, err_len,
		         "%s is pinned to a different key in %s: pinned %s, given %s; if the agent's key "
		         "really changed (check its fingerprint on the agent's host), run 'memscan trust "
		         "--replace'",
		         hostport, path, old_fp, new_fp);
	return -EKEYREJECTED;
}

static int key_trust(const char *known_agents, const char *hostport, const char *public_line, int replace,
                     char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN], char *err, size_t err_len)
{
	char path[4096];
	uint8_t pub[KEYFILE_KEY_LEN];
	int r;

	if (!hostport || !public_line || !ret_fingerprint || sodium_init() < 0)
		return MEMSCAN_ERR_INVALID_ARG;
	if (keyfile_parse_public(public_line, pub, NULL) != 0) {
		if (err && err_len)
			snprintf(err, err_len,
			         "not a memscan public key line (expected \"memscan-x25519 BASE64 "
			         "[comment]\", as in the agent's .pub file)");
		return MEMSCAN_ERR_INVALID_ARG;
	}
	if (!known_agents) {
		r = keyfile_default_known_agents(path, sizeof(path));
		if (r != 0) {
			if (err && err_len)
				snprintf(err, err_len, "no known_agents path: set HOME or XDG_CONFIG_HOME");
			return client_key_err(r);
		}
		known_agents = path;
	}
	r = check_replace(known_agents, hostport, pub, replace, err, err_len);
	if (r == 0)
		r = keyfile_trust_agent(known_agents, hostport, pub, err, err_len);
	if (r == 0)
		keyfile_fingerprint(pub, ret_fingerprint);
	return client_key_err(r);
}

int memscan_key_trust(const char *known_agents, const char *hostport, const char *public_line,
                      char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN], char *err, size_t err_len)
{
	return key_trust(known_agents, hostport, public_line, 0, ret_fingerprint, err, err_len);
}

int memscan_key_trust_replace(const char *known_agents, const char *hostport, const char *public_line,
                              char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN], char *err, size_t err_len)
{
	return key_trust(known_agents, hostport, public_line, 1, ret_fingerprint, err, err_len);
}

int memscan_key_default_identity(char *out, size_t out_len)
{
	if (!out || !out_len)
		return MEMSCAN_ERR_INVALID_ARG;
	return client_key_err(keyfile_default_identity(out, out_len));
}
