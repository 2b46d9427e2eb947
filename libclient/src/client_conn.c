/* SPDX-License-Identifier: MIT */
/* The connection: agent address and keys, dialing, the Noise IK handshake and Hello, reconnecting, and
 * the calls that need a live session (client_call, client_paged). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "client_internal.h"
#include "keyfile.h"

static int tcp_scheme(const char *url)
{
	return !strncmp(url, "tcp://", 6) || !strncmp(url, "tcp4://", 7) || !strncmp(url, "tcp6://", 7);
}

/* The known_agents key of URL: HOST:PORT for TCP ("[::1]:7777"), the URL itself otherwise. */
static int url_hostport(const char *url, char *out, size_t out_len)
{
	const char *p = url;
	size_t n;

	if (tcp_scheme(url))
		p = strstr(url, "://") + 3;
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	if (!n || n >= out_len)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int set_url(memscan_client *c, const char *url)
{
	char hostport[CLIENT_PATH_MAX];
	char *copy;

	if ((!tcp_scheme(url) && strncmp(url, "ipc://", 6)) || url_hostport(url, hostport, sizeof(hostport)))
		return client_fail(
		    c, MEMSCAN_ERR_INVALID_ARG,
		    "%s: not an agent address (tcp://HOST:PORT, tcp://[V6]:PORT or ipc:///PATH)", url);
	copy = strdup(url);
	if (!copy)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	free(c->url);
	c->url = copy;
	return MEMSCAN_OK;
}

static int resolve_identity(memscan_client *c)
{
	char path[CLIENT_PATH_MAX];
	int rv;

	if (c->have_identity)
		return MEMSCAN_OK;
	rv = keyfile_default_identity(path, sizeof(path));
	if (rv < 0)
		return client_fail(
		    c, client_key_err(rv),
		    "no client key set and no default key path (HOME unset?): see `memscan keygen`");
	return client_load_identity(c, path);
}

/* HOST (brackets removed) and PORT of a TCP HOSTPORT ("h:7777", "[::1]:7777"); -1 if not TCP. */
static int split_hostport(const char *hostport, char *host, size_t host_len, const char **ret_port)
{
	const char *colon = strrchr(hostport, ':');
	size_t n;

	if (!colon || !strncmp(hostport, "ipc://", 6))
		return -1;
	n = (size_t)(colon - hostport);
	if (hostport[0] == '[' && n >= 2 && hostport[n - 1] == ']') {
		hostport++;
		n -= 2;
	}
	if (n >= host_len)
		return -1;
	memcpy(host, hostport, n);
	host[n] = '\0';
	*ret_port = colon + 1;
	return 0;
}

/* Resolves a TCP agent address before anything else, so that an unresolvable host is reported as
 * such; *RET (freeaddrinfo) is NULL for ipc://. */
static int resolve_host(memscan_client *c, const char *hostport, struct addrinfo **ret)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		                  .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_NUMERICSERV };
	char host[CLIENT_PATH_MAX];
	const char *port;
	int rv;

	*ret = NULL;
	if (split_hostport(hostport, host, sizeof(host), &port))
		return MEMSCAN_OK;
	rv = getaddrinfo(host, port, &hints, ret);
	if (rv)
		return client_fail(c, MEMSCAN_ERR_CONNECT, "cannot resolve %s: %s", host,
		                   rv == EAI_SYSTEM ? strerror(errno) : gai_strerror(rv));
	return MEMSCAN_OK;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" of AI, as `memscan trust` writes an address. */
static int numeric_hostport(const struct addrinfo *ai, char *out, size_t out_len)
{
	char addr[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), port, sizeof(port),
	                NI_NUMERICHOST | NI_NUMERICSERV))
		return -1;
	snprintf(out, out_len, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, port);
	return 0;
}

/* The pin of HOSTPORT as written, else of the first of its addresses AI that has one. */
static int find_pin(memscan_client *c, const char *path, const char *hostport, const struct addrinfo *ai)
{
	char addr[CLIENT_PATH_MAX];
	int rv = keyfile_known_agent(path, hostport, c->agent_pub, c->err, sizeof(c->err));

	for (; rv == -ENOENT && ai; ai = ai->ai_next)
		if (numeric_hostport(ai, addr, sizeof(addr)) == 0 && strcmp(addr, hostport))
			rv = keyfile_known_agent(path, addr, c->agent_pub, c->err, sizeof(c->err));
	return rv;
}

static int no_pin(memscan_client *c, const char *path, const char *hostport)
{
	return client_fail(
	    c, MEMSCAN_ERR_AUTH,
	    "no key for %s in %s: pin the agent's key with `memscan trust %s /etc/memscan/agent.key.pub` "
	    "(the .pub file lies next to the agent's key on its host, copy it from there; the agent's first "
	    "log line shows its fingerprint, compare it with `memscan fingerprint`)%s",
	    hostport, path, hostport,
	    strncmp(hostport, "ipc://", 6) ? "; a pin made for a host name is not found when connecting "
	                                     "by address"
	                                   : "");
}

static int resolve_agent_key(memscan_client *c)
{
	char path[CLIENT_PATH_MAX], hostport[CLIENT_PATH_MAX];
	struct addrinfo *ai = NULL;
	int rv;

	c->have_agent_pub = 0;
	if (url_hostport(c->url, hostport, sizeof(hostport)))
		return client_fail(c, MEMSCAN_ERR_INVALID_ARG, "%s: not an agent address", c->url);
	rv = resolve_host(c, hostport, &ai);
	if (rv != MEMSCAN_OK)
		return rv;
	if (c->have_pinned) {
		memcpy(c->agent_pub, c->pinned_pub, KEYFILE_KEY_LEN);
		c->have_agent_pub = 1;
		rv = MEMSCAN_OK;
	} else if (c->known_agents || keyfile_default_known_agents(path, sizeof(path)) == 0) {
		if (c->known_agents)
			snprintf(path, sizeof(path), "%s", c->known_agents);
		rv = c->agent_name
		         ? keyfile_known_agent(path, c->agent_name, c->agent_pub, c->err, sizeof(c->err))
		         : -ENOENT;
		if (rv == -ENOENT)
			rv = find_pin(c, path, hostport, ai);
		if (rv == -ENOENT)
			rv = no_pin(c, path, c->agent_name ? c->agent_name : hostport);
		else if (rv < 0)
			rv = client_key_err(rv);
		else
			c->have_agent_pub = 1;
	} else
		rv = client_fail(c, MEMSCAN_ERR_AUTH,
		                 "no agent key pinned and no known_agents file (HOME unset?)");
	if (ai)
		freeaddrinfo(ai);
	return rv;
}

/* Pipe notifications run on nng's threads: they only flag the connection as lost. */
static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	memscan_client *c = arg;

	(void)ev;
	if ((unsigned)nng_socket_id(nng_pipe_socket(p)) == atomic_load(&c->sock_id))
		atomic_store(&c->lost, 1);
}

static int open_socket(memscan_client *c)
{
	int rv = nng_req0_open(&c->sock);

	if (rv)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "cannot open a socket: %s", nng_strerror(rv));
	c->sock_open = 1;
	atomic_store(&c->lost, 0);
	atomic_store(&c->sock_id, (unsigned)nng_socket_id(c->sock));
	/* never re-send a request on another connection; bound what the agent can make us allocate; no
	 * silent re-dial (a lost connection is a lost session: the next call opens a new socket) */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_CLIENT_RECV_MAX)) ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms)) ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, client_send_timeout(c->timeout_ms))) ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, CLIENT_NO_REDIAL_MS)) ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLIENT_NO_REDIAL_MS)) ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_removed, c)))
		return client_fail(c, MEMSCAN_ERR_CONNECT, "cannot set up the socket: %s", nng_strerror(rv));
	return MEMSCAN_OK;
}

static int send_hs1(memscan_client *c, const uint8_t hs1[CHAN_HS1_LEN])
{
	nng_msg *msg;

	if (nng_msg_alloc(&msg, 0) || nng_msg_append(msg, hs1, CHAN_HS1_LEN)) {
		nng_msg_free(msg);
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	return client_send_frame(c, msg, "sending the handshake");
}

static int recv_hs2(memscan_client *c, chan_client_hs *hs)
{
	nng_msg *msg = NULL;
	int rv = client_sock_recv(c, &msg);

	if (rv == NNG_ETIMEDOUT)
		return client_fail(c, MEMSCAN_ERR_TIMEOUT,
		                   "agent at %s did not answer the handshake within %d ms", c->url,
		                   c->timeout_ms);
	if (rv) {
		c->hs_closed = 1;
		return client_fail(
		    c, MEMSCAN_ERR_AUTH,
		    "agent at %s closed the connection during the handshake: this client's key is "
		    "not authorized there, or the pinned agent key is wrong (check `memscan "
		    "fingerprint` and the agent's authorized_keys)",
		    c->url);
	}
	rv = chan_client_finish(hs, nng_msg_body(msg), nng_msg_len(msg), &c->session);
	c->pipe_id = nng_pipe_id(nng_msg_get_pipe(msg));
	nng_msg_free(msg);
	if (rv)
		return client_fail(
		    c, MEMSCAN_ERR_AUTH,
		    "agent at %s answered the handshake with a reply that does not authenticate: "
		    "the pinned agent key is wrong",
		    c->url);
	c->perms = chan_session_perms(c->session);
	return MEMSCAN_OK;
}

static int handshake(memscan_client *c)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL;
	int r;

	if (chan_client_start(c->priv, c->agent_pub, hs1, &hs))
		return client_fail(c, MEMSCAN_ERR_AUTH, "cannot start a handshake with this agent key");
	r = send_hs1(c, hs1);
	if (r == MEMSCAN_OK)
		r = recv_hs2(c, hs);
	chan_client_hs_free(hs);
	return r;
}

static int hello(memscan_client *c)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello h = MEMSCAN__V1__HELLO__INIT;
	Memscan__V1__Response *resp;
	int r;

	h.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &h;
	r = client_exchange(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HELLO, &resp);
	if (r)
		return r;
	if (resp->hello->protocol_version != WIRE_PROTOCOL_VERSION)
		r = client_fail(c, MEMSCAN_ERR_UNSUPPORTED_VERSION,
		                "agent at %s speaks protocol version %u, this client version %u", c->url,
		                resp->hello->protocol_version, WIRE_PROTOCOL_VERSION);
	else {
		c->perms = resp->hello->granted_perms;
		c->page_bytes = resp->hello->max_page_bytes;
		c->agent_zstd = 0;
		for (size_t i = 0; i < resp->hello->n_encodings; i++)
			if (resp->hello->encodings[i] == MEMSCAN__V1__ENCODING__ENCODING_ZSTD)
				c->agent_zstd = 1;
		c->agent_value_sets = 0;
		c->agent_heatmap = 0;
		c->agent_progress = 0;
		for (size_t i = 0; i < resp->hello->n_features; i++) {
			if (resp->hello->features[i] == MEMSCAN__V1__FEATURE__FEATURE_VALUE_SETS)
				c->agent_value_sets = 1;
			if (resp->hello->features[i] == MEMSCAN__V1__FEATURE__FEATURE_HEATMAP)
				c->agent_heatmap = 1;
			if (resp->hello->features[i] == MEMSCAN__V1__FEATURE__FEATURE_PROGRESS)
				c->agent_progress = 1;
		}
	}
	wire_free_response(resp);
	return r;
}

static int dial(memscan_client *c)
{
	char where[CLIENT_PATH_MAX];
	int limit = c->timeout_ms < CLIENT_CONNECT_TIMEOUT ? c->timeout_ms : CLIENT_CONNECT_TIMEOUT;
	int timed_out, rv = client_dial_within(c->sock, c->url, limit, &timed_out);

	if (!rv && !timed_out)
		return MEMSCAN_OK;
	if (url_hostport(c->url, where, sizeof(where)))
		snprintf(where, sizeof(where), "%s", c->url);
	if (timed_out) {
		/* the watchdog closed the socket, even when the dial succeeded just before it did */
		c->sock_open = 0;
		atomic_store(&c->sock_id, 0);
		return client_fail(c, MEMSCAN_ERR_TIMEOUT,
		                   "connecting to %s timed out after %.1f s: is the host up, and does a "
		                   "firewall let its port through?",
		                   where, limit / 1000.0);
	}
	if (rv == NNG_ECONNREFUSED || (rv == NNG_ENOENT && !strncmp(c->url, "ipc://", 6)))
		return client_fail(c, MEMSCAN_ERR_CONNECT,
		                   "connection refused: is memscan-agent running on %s?", where);
	if (rv == NNG_ETIMEDOUT)
		return client_fail(c, MEMSCAN_ERR_TIMEOUT, "connecting to %s timed out", where);
	return client_fail(c, MEMSCAN_ERR_CONNECT, "cannot connect to the agent at %s: %s", where,
	                   nng_strerror(rv));
}

/* Drops any connection, then connects to URL, handshakes and says Hello. */
/* Opens a connection and handshakes; *RET_CLOSED tells whether the agent closed it during the
 * handshake. */
static int connect_once(memscan_client *c, int *ret_closed)
{
	int r = open_socket(c);

	c->hs_closed = 0;
	if (r == MEMSCAN_OK)
		r = dial(c);
	if (r == MEMSCAN_OK)
		r = handshake(c);
	*ret_closed = r == MEMSCAN_ERR_AUTH && c->hs_closed;
	return r;
}

/* A pause of 10 to 30 ms times TRY before handshaking again. */
static void handshake_backoff(int try)
{
	uint32_t ms = (uint32_t)(10 * try) + randombytes_uniform((uint32_t)(20 * try));
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

static int reconnect(memscan_client *c)
{
	int r, closed = 0;

	client_drop(c);
	r = resolve_identity(c);
	if (r == MEMSCAN_OK)
		r = resolve_agent_key(c);
	/* The agent refuses an HS1 whose timestamp is not newer than the last one of this key: when
	 * several clients with one key connect at once, some lose that race. A new HS1 (new time, new
	 * ephemeral key) settles it; a key that is really refused is refused every time. */
	for (int try = 1; r == MEMSCAN_OK; try++) {
		r = connect_once(c, &closed);
		if (r == MEMSCAN_OK || !closed || try == CLIENT_HANDSHAKE_TRIES)
			break;
		client_drop(c);
		handshake_backoff(try);
		r = MEMSCAN_OK;
	}
	if (r == MEMSCAN_OK)
		r = hello(c);
	if (r != MEMSCAN_OK)
		client_drop(c);
	return r;
}

int memscan_client_connect(memscan_client *c, const char *url)
{
	int r;

	if (!c || !url)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = set_url(c, url);
	if (r == MEMSCAN_OK)
		r = reconnect(c);
	client_unlock(c);
	return r;
}

int client_session_live(memscan_client *c)
{
	return c->sock_open && c->session && !atomic_load(&c->lost) &&
	       !chan_session_expired(c->session, chan_monotonic_ns());
}

int client_ensure_session(memscan_client *c)
{
	if (!c->url)
		return client_fail(c, MEMSCAN_ERR_INVALID_ARG,
		                   "not connected: call memscan_client_connect first");
	if (client_session_live(c))
		return MEMSCAN_OK;
	if (c->no_reconnect) {
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_CONNECT,
		                   "agent at %s: the session holding the snapshot ended", c->url);
	}
	return reconnect(c);
}

/* ---- keyscan: the agent's key before any handshake ---- */

/* Sends a keyscan request on the dialed socket and reads the agent's answer into PUB. */
static int keyscan_exchange(memscan_client *c, uint8_t pub[KEYFILE_KEY_LEN])
{
	uint8_t frame[CHAN_KEYSCAN_LEN];
	nng_msg *msg = NULL;
	int rv;

	chan_keyscan_request(frame);
	if (nng_msg_alloc(&msg, 0) || nng_msg_append(msg, frame, sizeof(frame))) {
		nng_msg_free(msg);
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	rv = client_send_frame(c, msg, "sending the keyscan request");
	if (rv != MEMSCAN_OK)
		return rv;
	rv = client_sock_recv(c, &msg);
	if (rv == NNG_ETIMEDOUT)
		return client_fail(c, MEMSCAN_ERR_TIMEOUT,
		                   "agent at %s did not answer the keyscan within %d ms", c->url,
		                   c->timeout_ms);
	if (rv)
		return client_fail(
		    c, MEMSCAN_ERR_PROTOCOL,
		    "agent at %s closed the connection instead of telling its key: keyscan is "
		    "off there (memscan-agent --no-keyscan), over its rate, or the agent predates "
		    "it; copy its .pub file (/etc/memscan/agent.key.pub) from its host instead",
		    c->url);
	rv = chan_agent_key_read(nng_msg_body(msg), nng_msg_len(msg), pub);
	nng_msg_free(msg);
	if (rv)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                   "agent at %s answered the keyscan with a malformed key", c->url);
	return MEMSCAN_OK;
}

int memscan_client_keyscan(memscan_client *c, const char *url, char *ret_line, size_t line_len,
                           char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN])
{
	char hostport[CLIENT_PATH_MAX];
	uint8_t pub[KEYFILE_KEY_LEN];
	struct addrinfo *ai = NULL;
	int r;

	if (ret_line && line_len)
		ret_line[0] = '\0';
	if (ret_fingerprint)
		ret_fingerprint[0] = '\0';
	if (!c || !url || !ret_line || line_len < MEMSCAN_KEY_LINE_LEN || !ret_fingerprint)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	client_drop(c);
	r = set_url(c, url);
	if (r == MEMSCAN_OK && url_hostport(c->url, hostport, sizeof(hostport)) == 0)
		r = resolve_host(c, hostport, &ai);
	if (ai)
		freeaddrinfo(ai);
	if (r == MEMSCAN_OK)
		r = open_socket(c);
	if (r == MEMSCAN_OK)
		r = dial(c);
	if (r == MEMSCAN_OK)
		r = keyscan_exchange(c, pub);
	client_drop(c);
	if (r == MEMSCAN_OK) {
		keyfile_format_public(pub, ret_line, line_len);
		keyfile_fingerprint(pub, ret_fingerprint);
	}
	client_unlock(c);
	return r;
}

/* ---- calls in a live session ---- */

/* The wait a request that may run long asks for (progress_ms, see client_progress_ms). */
#define CLIENT_PROGRESS_MS 250

uint32_t client_progress_ms(const memscan_client *c)
{
	return c->agent_progress ? CLIENT_PROGRESS_MS : 0;
}

/* The progress_ms REQ was sent with (0: it asked for no Progress replies). */
static uint32_t asked_progress(const Memscan__V1__Request *req)
{
	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_SCAN:
		return req->scan ? req->scan->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_VALUE_SCAN:
		return req->value_scan ? req->value_scan->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_VALUE_NARROW:
		return req->value_narrow ? req->value_narrow->progress_ms : 0;
	default:
		return 0;
	}
}

/* The next page of a paged result: only in the session that holds it. */
static int call_next(memscan_client *c, uint64_t cursor, Memscan__V1__Response__ResultCase expect,
                     Memscan__V1__Response **ret)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Next next = MEMSCAN__V1__NEXT__INIT;

	*ret = NULL;
	if (!client_session_live(c)) {
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_CONNECT,
		                   "agent at %s: connection lost during a paged result", c->url);
	}
	next.cursor = cursor;
	req.op_case = MEMSCAN__V1__REQUEST__OP_NEXT;
	req.next = &next;
	return client_exchange(c, &req, expect, ret);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Asks the agent to drop the work it goes on with (a Next without a cursor: NOT_FOUND, the work
 * stopped), so that a cancelled scan stops now rather than at the session's next request. */
static void drop_work(memscan_client *c)
{
	Memscan__V1__Response *resp = NULL;

	if (call_next(c, 0, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, &resp) == MEMSCAN_OK)
		wire_free_response(resp);
}

/* While *RESP is Progress: reports how far the agent is to the progress callback and waits on with
 * Next, until the reply proper (of kind EXPECT). An agent whose work does not move for the client's
 * timeout is given up, as one that does not answer is. */
static int wait_progress(memscan_client *c, Memscan__V1__Response **resp,
                         Memscan__V1__Response__ResultCase expect)
{
	uint64_t last = 0, moved = now_ms(), cursor, done;
	int r = MEMSCAN_OK;

	while (r == MEMSCAN_OK && (*resp)->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		cursor = (*resp)->progress ? (*resp)->progress->next_cursor : 0;
		done = (*resp)->progress ? (*resp)->progress->done : 0;
		wire_free_response(*resp);
		*resp = NULL;
		if (!cursor)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL,
			                   "agent at %s sent a progress reply without a cursor", c->url);
		if (done > last) {
			last = done;
			moved = now_ms();
		} else if (now_ms() - moved > (uint64_t)c->timeout_ms) {
			client_drop(c); /* the work stops with the session */
			return client_fail(c, MEMSCAN_ERR_TIMEOUT,
			                   "agent at %s: the work made no progress for %d ms", c->url,
			                   c->timeout_ms);
		}
		if (c->progress_fn)
			c->progress_fn(c->progress_ctx, done);
		if (client_cancelled(c)) {
			drop_work(c);
			return client_fail(c, MEMSCAN_ERR_CANCELLED, "cancelled");
		}
		r = call_next(c, cursor, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, resp);
	}
	if (r == MEMSCAN_OK && expect != MEMSCAN__V1__RESPONSE__RESULT__NOT_SET &&
	    (*resp)->result_case != expect) {
		wire_free_response(*resp);
		*resp = NULL;
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s answered with an unexpected reply",
		                c->url);
	}
	return r;
}

int client_call(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase expect,
                Memscan__V1__Response **ret)
{
	int r = client_ensure_session(c);

	*ret = NULL;
	if (r != MEMSCAN_OK)
		return r;
	if (!asked_progress(req))
		return client_exchange(c, req, expect, ret);
	r = client_exchange(c, req, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, ret);
	return r == MEMSCAN_OK ? wait_progress(c, ret, expect) : r;
}

int client_paged(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase first,
                 Memscan__V1__Response__ResultCase next, client_page_fn fn, void *ctx)
{
	Memscan__V1__Response *resp;
	uint64_t cursor = 0;
	int r = client_call(c, req, first, &resp);

	while (r == MEMSCAN_OK) {
		r = fn(c, resp, ctx, &cursor);
		wire_free_response(resp);
		if (r != MEMSCAN_OK || cursor == 0)
			break;
		r = call_next(c, cursor, next, &resp);
	}
	return r;
}
