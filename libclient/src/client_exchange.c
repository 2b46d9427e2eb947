/* SPDX-License-Identifier: MIT */
/* The request exchange on the current session: sealing and sending a request, receiving, opening and
 * checking its reply; a failure drops the connection. */
#include <stdio.h>

#include <nng/nng.h>
#include <sodium.h>

#include "client_internal.h"

/* A failed send or receive: the connection and its session are gone (a request is never sent
 * again under its counter). */
static int transport_fail(memscan_client *c, int rv, const char *what)
{
	int code = rv == NNG_ETIMEDOUT ? MEMSCAN_ERR_TIMEOUT : MEMSCAN_ERR_CONNECT;

	if (rv == NNG_ETIMEDOUT)
		client_fail(c, code, "agent at %s: %s: no answer within %d ms", c->url, what, c->timeout_ms);
	else
		client_fail(c, code, "agent at %s: %s: %s", c->url, what, nng_strerror(rv));
	client_drop(c);
	return code;
}

/* nng_sendmsg with the client's own aio: with the socket's send timeout; MSG stays the caller's on
 * failure. */
static int sock_send(memscan_client *c, nng_msg *msg)
{
	int rv;

	nng_aio_set_msg(c->aio, msg);
	nng_aio_set_timeout(c->aio, NNG_DURATION_DEFAULT);
	nng_send_aio(c->sock, c->aio);
	nng_aio_wait(c->aio);
	rv = nng_aio_result(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	return rv;
}

/* nng_recvmsg with the client's own aio, with the socket's receive timeout. */
int client_sock_recv(memscan_client *c, nng_msg **ret_msg)
{
	int rv;

	nng_aio_set_timeout(c->aio, NNG_DURATION_DEFAULT);
	nng_recv_aio(c->sock, c->aio);
	nng_aio_wait(c->aio);
	rv = nng_aio_result(c->aio);
	*ret_msg = rv ? NULL : nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	return rv;
}

/* Sending only hands the frame to the connection: it waits only when there is none (the agent went
 * away and nng has not reported it yet), so a send that times out means CONNECT. */
int client_send_frame(memscan_client *c, nng_msg *msg, const char *what)
{
	int rv = sock_send(c, msg);

	if (rv) {
		nng_msg_free(msg);
		return transport_fail(c, rv == NNG_ETIMEDOUT ? NNG_ECONNRESET : rv, what);
	}
	return MEMSCAN_OK;
}

int client_send(memscan_client *c, const Memscan__V1__Request *req)
{
	size_t len = protobuf_c_message_get_packed_size(&req->base), out_len;
	uint8_t *body;
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len + CHAN_DATA_OVERHEAD))
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	body = nng_msg_body(msg);
	len = protobuf_c_message_pack(&req->base, body + CHAN_DATA_AD_LEN);
	if (chan_seal(c->session, body + CHAN_DATA_AD_LEN, len, body, nng_msg_len(msg), &out_len)) {
		nng_msg_free(msg);
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "the session cannot send another request");
	}
	return client_send_frame(c, msg, "sending a request");
}

static int protocol_drop(memscan_client *c, const char *what)
{
	client_drop(c);
	return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s: %s; connection dropped", c->url, what);
}

int client_recv_frame(memscan_client *c, struct client_frame *f)
{
	nng_msg *msg = NULL;
	size_t len;
	int rv = client_sock_recv(c, &msg);

	f->msg = NULL;
	if (rv)
		return transport_fail(c, rv, "waiting for the reply");
	len = nng_msg_len(msg);
	if (nng_pipe_id(nng_msg_get_pipe(msg)) != c->pipe_id ||
	    chan_claim(c->session, nng_msg_body(msg), len, &f->counter)) {
		nng_msg_free(msg);
		return protocol_drop(c, "unexpected reply frame");
	}
	f->msg = msg;
	return MEMSCAN_OK;
}

/* Opens a claimed reply in place: *RET_LEN bytes of plaintext at CHAN_DATA_AD_LEN in f->msg (release
 * it with release_reply); on failure the frame is freed and the connection dropped. */
static int open_frame(memscan_client *c, struct client_frame *f, size_t *ret_len)
{
	uint8_t *frame = nng_msg_body(f->msg);
	size_t len = nng_msg_len(f->msg);

	if (chan_open_claimed(c->session, f->counter, frame, len, frame + CHAN_DATA_AD_LEN,
	                      len - CHAN_DATA_OVERHEAD, ret_len)) {
		nng_msg_free(f->msg);
		f->msg = NULL;
		return protocol_drop(c, "a reply that does not authenticate");
	}
	return MEMSCAN_OK;
}

/* Wipes the plaintext of an opened reply and frees it. */
static void release_reply(nng_msg *msg, size_t pt_len)
{
	if (!msg)
		return;
	sodium_memzero((uint8_t *)nng_msg_body(msg) + CHAN_DATA_AD_LEN, pt_len);
	nng_msg_free(msg);
}

/* Copies an agent's message, replacing control characters (it may reach a terminal). */
static int agent_error(memscan_client *c, const Memscan__V1__Error *e)
{
	int code = wire_err_from_proto(e->code);
	const char *m = e->message && e->message[0] ? e->message : memscan_strerror(code);
	size_t i;

	snprintf(c->err, sizeof(c->err), "%s", m);
	for (i = 0; c->err[i]; i++)
		if ((unsigned char)c->err[i] < 0x20 || c->err[i] == 0x7f)
			c->err[i] = '?';
	return code;
}

static int check_reply(memscan_client *c, Memscan__V1__Response *resp,
                       Memscan__V1__Response__ResultCase expect)
{
	if (resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_ERROR && resp->error)
		return agent_error(c, resp->error);
	if (resp->result_case == MEMSCAN__V1__RESPONSE__RESULT__NOT_SET ||
	    (expect != MEMSCAN__V1__RESPONSE__RESULT__NOT_SET && resp->result_case != expect))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s answered with an unexpected reply",
		                   c->url);
	return MEMSCAN_OK;
}

int client_open_frame(memscan_client *c, struct client_frame *f, Memscan__V1__Response__ResultCase expect,
                      Memscan__V1__Response **ret)
{
	Memscan__V1__Response *resp;
	size_t len = 0;
	int r = open_frame(c, f, &len);

	*ret = NULL;
	if (r != MEMSCAN_OK)
		return r;
	resp = wire_unpack_response((uint8_t *)nng_msg_body(f->msg) + CHAN_DATA_AD_LEN, len,
	                            WIRE_UNPACK_BUDGET_CLIENT);
	release_reply(f->msg, len);
	f->msg = NULL;
	if (!resp)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s sent a malformed reply", c->url);
	r = check_reply(c, resp, expect);
	if (r != MEMSCAN_OK) {
		wire_free_response(resp);
		return r;
	}
	*ret = resp;
	return MEMSCAN_OK;
}

int client_exchange(memscan_client *c, const Memscan__V1__Request *req,
                    Memscan__V1__Response__ResultCase expect, Memscan__V1__Response **ret)
{
	struct client_frame f;
	int r = client_send(c, req);

	*ret = NULL;
	if (r == MEMSCAN_OK)
		r = client_recv_frame(c, &f);
	return r == MEMSCAN_OK ? client_open_frame(c, &f, expect, ret) : r;
}
