/* SPDX-License-Identifier: MIT */
/* The client object: creation, keys, settings, and letting go of its connection and kept snapshots. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "client_internal.h"
#include "keyfile.h"

int client_fail(memscan_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

int memscan_client_new(memscan_client **ret_client)
{
	memscan_client *c;

	if (!ret_client)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_client = NULL;
	if (sodium_init() < 0)
		return MEMSCAN_ERR_NO_MEMORY;
	c = calloc(1, sizeof(*c));
	if (!c)
		return MEMSCAN_ERR_NO_MEMORY;
	c->priv = sodium_malloc(KEYFILE_KEY_LEN);
	if (!c->priv || nng_aio_alloc(&c->aio, NULL, NULL) != 0) {
		sodium_free(c->priv);
		free(c);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		nng_aio_free(c->aio);
		sodium_free(c->priv);
		free(c);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	c->timeout_ms = CLIENT_DEFAULT_TIMEOUT;
	atomic_init(&c->sock_id, 0);
	atomic_init(&c->lost, 0);
	*ret_client = c;
	return MEMSCAN_OK;
}

void memscan_client_free(memscan_client *c)
{
	if (!c)
		return;
	client_drop(c);
	nng_aio_free(c->aio);
	zpage_dec_free(c->dec);
	free(c->kept);
	sodium_free(c->priv);
	free(c->known_agents);
	free(c->agent_name);
	free(c->url);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void client_lock(const memscan_client *c)
{
	pthread_mutex_lock(&((memscan_client *)c)->lock);
}

void client_unlock(const memscan_client *c)
{
	pthread_mutex_unlock(&((memscan_client *)c)->lock);
}

/* Loads the private key file PATH as the identity; a failure leaves the previous one in place. */
int client_load_identity(memscan_client *c, const char *path)
{
	uint8_t pub[KEYFILE_KEY_LEN], *priv = sodium_malloc(KEYFILE_KEY_LEN);
	int rv;

	if (!priv)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	rv = keyfile_load_private(path, priv, pub, c->err, sizeof(c->err));
	if (rv == 0) {
		memcpy(c->priv, priv, KEYFILE_KEY_LEN);
		c->have_identity = 1;
	}
	sodium_free(priv);
	return rv < 0 ? client_key_err(rv) : MEMSCAN_OK;
}

int memscan_client_set_identity_file(memscan_client *c, const char *path)
{
	int r;

	if (!c || !path)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = client_load_identity(c, path);
	client_unlock(c);
	return r;
}

_Static_assert(MEMSCAN_KEY_LEN == KEYFILE_KEY_LEN, "the public key size is the channel's");

int memscan_client_set_identity(memscan_client *c, const uint8_t private_key[MEMSCAN_KEY_LEN])
{
	if (!c || !private_key)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	memcpy(c->priv, private_key, KEYFILE_KEY_LEN);
	c->have_identity = 1;
	client_unlock(c);
	return MEMSCAN_OK;
}

int memscan_client_set_agent_key_line(memscan_client *c, const char *line)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	if (!c || !line)
		return MEMSCAN_ERR_INVALID_ARG;
	if (keyfile_parse_public(line, pub, NULL) < 0) {
		client_lock(c);
		client_fail(c, MEMSCAN_ERR_INVALID_ARG,
		            "not an agent key line (expected `%s BASE64 [comment]`)", KEYFILE_PUB_PREFIX);
		client_unlock(c);
		return MEMSCAN_ERR_INVALID_ARG;
	}
	return memscan_client_set_agent_key(c, pub);
}

int memscan_client_set_agent_key(memscan_client *c, const uint8_t public_key[MEMSCAN_KEY_LEN])
{
	if (!c || !public_key)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	memcpy(c->pinned_pub, public_key, KEYFILE_KEY_LEN);
	c->have_pinned = 1;
	client_unlock(c);
	return MEMSCAN_OK;
}

/* Replaces *FIELD with a copy of VALUE (NULL clears it). */
static int set_string(memscan_client *c, char **field, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy)
			return MEMSCAN_ERR_NO_MEMORY;
	}
	client_lock(c);
	free(*field);
	*field = copy;
	client_unlock(c);
	return MEMSCAN_OK;
}

int memscan_client_set_known_agents_file(memscan_client *c, const char *path)
{
	if (!c || !path)
		return MEMSCAN_ERR_INVALID_ARG;
	return set_string(c, &c->known_agents, path);
}

int memscan_client_set_agent_name(memscan_client *c, const char *hostport)
{
	if (!c || (hostport && (!hostport[0] || strlen(hostport) >= CLIENT_PATH_MAX)))
		return MEMSCAN_ERR_INVALID_ARG;
	return set_string(c, &c->agent_name, hostport);
}

/* How long a send may wait for a connection (see client_send_frame). */
int client_send_timeout(int timeout_ms)
{
	return timeout_ms < CLIENT_SEND_TIMEOUT ? timeout_ms : CLIENT_SEND_TIMEOUT;
}

int memscan_client_set_timeout_ms(memscan_client *c, int timeout_ms)
{
	if (!c || timeout_ms <= 0)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	c->timeout_ms = timeout_ms;
	if (c->sock_open) {
		(void)nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
		(void)nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, client_send_timeout(timeout_ms));
	}
	client_unlock(c);
	return MEMSCAN_OK;
}

uint32_t memscan_client_granted_perms(const memscan_client *c)
{
	uint32_t perms;

	if (!c)
		return 0;
	client_lock(c);
	perms = c->perms;
	client_unlock(c);
	return perms;
}

const char *memscan_client_last_error(const memscan_client *c)
{
	if (!c)
		return "no client";
	return c->err[0] ? c->err : "no error";
}

void client_drop(memscan_client *c)
{
	chan_session_free(c->session);
	c->session = NULL;
	if (c->sock_open) {
		nng_close(c->sock);
		c->sock_open = 0;
	}
	atomic_store(&c->sock_id, 0);
	c->pipe_id = 0;
	client_kept_clear(c);
}

void client_kept_clear(memscan_client *c)
{
	for (size_t i = 0; i < c->kept_count; i++)
		memscan_region_list_free(c->kept[i].regions);
	c->kept_count = 0;
}
