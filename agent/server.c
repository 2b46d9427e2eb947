/* SPDX-License-Identifier: MIT */
/* The REP socket: listeners, worker contexts, and per-frame handling (handshake, then DATA). */
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "agent.h"
#include "grow.h"

/* Prints "listening URL" with the port the listener actually bound. */
static void agent_print_listener(nng_listener l, const char *url)
{
	char buf[INET6_ADDRSTRLEN];
	nng_sockaddr sa;

	if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET && inet_ntop(AF_INET, &sa.s_in.sa_addr, buf, sizeof(buf))) {
			printf("listening tcp://%s:%u\n", buf, ntohs(sa.s_in.sa_port));
			return;
		}
		if (sa.s_family == NNG_AF_INET6 && inet_ntop(AF_INET6, sa.s_in6.sa_addr, buf, sizeof(buf))) {
			printf("listening tcp://[%s]:%u\n", buf, ntohs(sa.s_in6.sa_port));
			return;
		}
	}
	printf("listening %s\n", url);
}

static int agent_listen_all(agent *ag)
{
	ag->listeners = calloc(ag->cfg.listen_count, sizeof(*ag->listeners));
	if (!ag->listeners)
		return -1;
	for (size_t i = 0; i < ag->cfg.listen_count; i++) {
		const char *url = ag->cfg.listen[i];
		int rv = nng_listener_create(&ag->listeners[i], ag->sock, url);

		if (rv == 0)
			rv = nng_listener_start(ag->listeners[i], 0);
		if (rv != 0) {
			fprintf(stderr,
			        "memscan-agent: cannot listen on %s: %s (check the address and that "
			        "nothing else uses it)\n",
			        url, nng_strerror(rv));
			return -1;
		}
		ag->listener_count++;
	}
	return 0;
}

/* True if PUB is authorized: its grant into *RET, the generation of the keys that say so in *RET_GEN. */
static int agent_check_authorized(agent *ag, const uint8_t pub[KEYFILE_KEY_LEN], keyfile_auth *ret,
                                  uint64_t *ret_gen)
{
	int found = 0;

	pthread_mutex_lock(&ag->auth_lock);
	*ret_gen = ag->auth_gen;
	for (size_t i = 0; i < ag->auth_count; i++) {
		if (sodium_memcmp(ag->auth[i].pub, pub, KEYFILE_KEY_LEN) == 0) {
			*ret = ag->auth[i];
			found = 1;
		}
	}
	pthread_mutex_unlock(&ag->auth_lock);
	return found;
}

/* Records TAI as the newest HS1 of PUB; -1 if it is not strictly newer than the last one (or no
 * memory), -2 if it is not newer than the agent's start (a label recorded before a restart, or a
 * lagging clock), -3 if PUB is new and the table holds AGENT_REPLAY_MAX keys already. */
static int agent_check_fresh(agent *ag, const uint8_t pub[KEYFILE_KEY_LEN],
                             const uint8_t tai[CHAN_TAI64N_LEN])
{
	int r = 0;

	if (memcmp(tai, ag->start_tai, CHAN_TAI64N_LEN) <= 0)
		return -2;
	pthread_mutex_lock(&ag->auth_lock);
	for (size_t i = 0; i < ag->replay_count; i++) {
		if (memcmp(ag->replay[i].pub, pub, KEYFILE_KEY_LEN) != 0)
			continue;
		if (memcmp(tai, ag->replay[i].tai, CHAN_TAI64N_LEN) <= 0)
			r = -1;
		else
			memcpy(ag->replay[i].tai, tai, CHAN_TAI64N_LEN);
		goto out;
	}
	r = wire_grow(&ag->replay, &ag->replay_cap, ag->replay_count + 1, sizeof(*ag->replay),
	              AGENT_REPLAY_MAX);
	if (r != 0) {
		r = r == -E2BIG ? -3 : -1;
		goto out;
	}
	memcpy(ag->replay[ag->replay_count].pub, pub, KEYFILE_KEY_LEN);
	memcpy(ag->replay[ag->replay_count].tai, tai, CHAN_TAI64N_LEN);
	ag->replay_count++;
out:
	pthread_mutex_unlock(&ag->auth_lock);
	return r;
}

static nng_msg *agent_msg_from(const uint8_t *data, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, len) != 0)
		return NULL;
	memcpy(nng_msg_body(m), data, len);
	return m;
}

/* Whether one more keyscan fits in this second's allowance (AGENT_KEYSCAN_PER_SEC). */
static int agent_keyscan_allowed(agent *ag)
{
	uint64_t now = chan_monotonic_ns() / 1000000000ull;
	int ok;

	pthread_mutex_lock(&ag->auth_lock);
	if (ag->keyscan_second != now) {
		ag->keyscan_second = now;
		ag->keyscan_count = 0;
	}
	ok = ag->keyscan_count < AGENT_KEYSCAN_PER_SEC;
	if (ok)
		ag->keyscan_count++;
	pthread_mutex_unlock(&ag->auth_lock);
	return ok;
}

/* A keyscan on a pipe without a session: the agent's public key, public information and nothing
 * else (docs/protocol.md), once per pipe and within the rate; NULL (close the pipe) otherwise. */
static nng_msg *agent_keyscan(agent *ag, agent_session *s)
{
	uint8_t out[CHAN_AGENT_KEY_LEN];
	const char *reason = NULL;

	if (!ag->cfg.keyscan)
		reason = "keyscan-disabled";
	else if (s->keyscanned)
		reason = "second-keyscan";
	else if (!agent_keyscan_allowed(ag))
		reason = "keyscan-rate";
	if (reason) {
		agent_refused(s->peer, reason, NULL);
		return NULL;
	}
	s->keyscanned = 1;
	chan_agent_key_write(ag->pub, out);
	agent_log("keyscan peer=%s: sent the agent's public key %s", s->peer, ag->fp);
	return agent_msg_from(out, sizeof(out));
}

/* Handles HS1 on a pipe without a session. Returns the HS2 reply or NULL (close the pipe). */
static nng_msg *agent_handshake(agent *ag, agent_session *s, const uint8_t *frame, size_t len)
{
	uint8_t pub[KEYFILE_KEY_LEN], tai[CHAN_TAI64N_LEN], out[CHAN_HS2_LEN];
	char fp[KEYFILE_FINGERPRINT_LEN] = "";
	chan_agent_hs *hs = NULL;
	keyfile_auth auth;
	nng_msg *reply = NULL;
	const char *reason = NULL;
	uint64_t gen = 0;
	int fresh;

	if (s->keyscanned) {
		reason = "after-keyscan"; /* a keyscan's pipe serves nothing else */
		goto out;
	}
	if (chan_agent_read_hs1(ag->priv, frame, len, pub, tai, &hs) != 0) {
		reason = chan_frame_type(frame, len) == CHAN_TYPE_HS1 ? "bad-hs1" : "no-handshake";
		goto out;
	}
	keyfile_fingerprint(pub, fp);
	if (!agent_check_authorized(ag, pub, &auth, &gen)) {
		reason = "unauthorized-key";
		goto out;
	}
	fresh = agent_check_fresh(ag, pub, tai);
	if (fresh != 0) {
		reason = fresh == -2   ? "hs1-before-agent-start"
		         : fresh == -3 ? "replay-table-full"
		                       : "replayed-hs1";
		goto out;
	}
	if (chan_agent_write_hs2(hs, agent_random_id(), auth.perms, out, &s->chan) != 0) {
		reason = "hs2-failed";
		goto out;
	}
	reply = agent_msg_from(out, sizeof(out));
	if (!reply || agent_session_set_identity(ag, s, &auth, gen) != 0) {
		/* a reload that removed the key or changed its grant came during the handshake */
		reason = reply ? "revoked-during-handshake" : "no-memory";
		nng_msg_free(reply);
		reply = NULL;
		chan_session_free(s->chan);
		s->chan = NULL;
		goto out;
	}
	agent_log("session peer=%s key=%s perms=0x%x", s->peer, s->fp, auth.perms);
out:
	if (reason)
		agent_refused(s->peer, reason, fp);
	chan_agent_hs_free(hs);
	sodium_memzero(&auth, sizeof(auth));
	return reply;
}

/* Seals the packed Response in REPLY (OUT_LEN bytes at CHAN_DATA_AD_LEN) in place; NULL if it cannot. */
static nng_msg *agent_seal(agent_session *s, nng_msg *reply, size_t out_len)
{
	uint8_t *body = nng_msg_body(reply);
	size_t sealed = 0;

	if (chan_seal(s->chan, body + CHAN_DATA_AD_LEN, out_len, body, nng_msg_len(reply), &sealed) != 0) {
		nng_msg_free(reply);
		return NULL;
	}
	if (sealed < nng_msg_len(reply))
		nng_msg_chop(reply, nng_msg_len(reply) - sealed);
	return reply;
}

/* Opens C's DATA frame in place and unpacks it (c->req stays NULL if it is malformed: an error
 * reply). -1 if it does not authenticate (close the pipe). Called with the session's lock held. */
static int agent_open_data(struct agent_ctx *c)
{
	agent_session *s = c->s;
	uint8_t *frame = nng_msg_body(c->msg);
	size_t len = nng_msg_len(c->msg);

	if (len < CHAN_DATA_OVERHEAD || chan_open(s->chan, frame, len, frame + CHAN_DATA_AD_LEN,
	                                          len - CHAN_DATA_OVERHEAD, &c->pt_len) != 0) {
		agent_refused(s->peer,
		              chan_frame_type(frame, len) == CHAN_TYPE_HS1 ? "second-hs1" : "bad-data-frame",
		              s->fp);
		return -1;
	}
	c->req = wire_unpack_request(frame + CHAN_DATA_AD_LEN, c->pt_len, WIRE_UNPACK_BUDGET_AGENT);
	return 0;
}

/* Ends C's request: wipes and frees the request. With a REPLY to send, C keeps the session for
 * agent_ctx_reply and REPLY is returned; otherwise the session is released, the pipe closed, and NULL
 * returned. */
static nng_msg *agent_end(agent *ag, struct agent_ctx *c, nng_msg *reply)
{
	nng_pipe pipe = nng_msg_get_pipe(c->msg);
	agent_session *s = c->s;

	wire_free_request(c->req);
	if (c->pt_len)
		sodium_memzero((uint8_t *)nng_msg_body(c->msg) + CHAN_DATA_AD_LEN, c->pt_len);
	nng_msg_free(c->msg);
	c->req = NULL;
	c->msg = NULL;
	c->pt_len = 0;
	if (s) {
		if (!reply)
			agent_session_hang_up(ag, s);
		atomic_store(&s->in_flight, 0);
		if (reply)
			return reply;
		c->s = NULL;
		agent_session_put(ag, s);
	}
	agent_close_pipe(ag, pipe);
	return NULL;
}

/* Takes MSG on: finds its session and claims it (one request at a time), opens a DATA frame. -1 after
 * ending the request (the pipe is closed). */
static int agent_begin(agent *ag, struct agent_ctx *c, nng_msg *msg)
{
	agent_session *s = agent_session_get(ag, (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)));
	int r = 0;

	c->msg = msg;
	c->req = NULL;
	c->pt_len = 0;
	c->s = NULL;
	if (!s || atomic_exchange(&s->in_flight, 1) != 0) {
		/* a second request while one is in flight: the connection goes, and so does the reply the
		 * first one is building */
		if (s)
			agent_session_hang_up(ag, s);
		agent_session_put(ag, s);
		agent_end(ag, c, NULL);
		return -1;
	}
	c->s = s;
	pthread_mutex_lock(&s->lock);
	if (s->closed || (s->chan && agent_open_data(c) != 0))
		r = -1;
	pthread_mutex_unlock(&s->lock);
	if (r != 0)
		agent_end(ag, c, NULL);
	return r;
}

/* Handles C's request; AGENT_DEFER when LIGHT (on an nng thread) and it needs more than bounded work
 * (a handshake, or see agent_handle_request): nothing is done then, a worker calls again. Else the
 * request is ended, and the reply (NULL: the pipe is closed) is in *RET_REPLY. */
static int agent_finish(agent *ag, struct agent_ctx *c, int light, nng_msg **ret_reply)
{
	agent_session *s = c->s;
	nng_msg *reply = NULL;
	size_t out_len = 0;
	int r = 0;

	if (!s->chan && light)
		return AGENT_DEFER; /* a handshake takes several X25519 operations */
	pthread_mutex_lock(&s->lock);
	if (s->closed) {
		r = -1;
	} else if (!s->chan && chan_is_keyscan(nng_msg_body(c->msg), nng_msg_len(c->msg))) {
		reply = agent_keyscan(ag, s);
	} else if (!s->chan) {
		reply = agent_handshake(ag, s, nng_msg_body(c->msg), nng_msg_len(c->msg));
	} else {
		r = agent_handle_request(ag, s, c->req, light, &reply, &out_len);
		if (r == 0)
			reply = agent_seal(s, reply, out_len);
	}
	pthread_mutex_unlock(&s->lock);
	if (r == AGENT_DEFER)
		return r;
	*ret_reply = agent_end(ag, c, reply);
	return 0;
}

/* Arms C to receive the next request (not once the agent stops: the context ends there). */
static void agent_ctx_recv(struct agent_ctx *c)
{
	if (atomic_load(&c->ag->stopping))
		return;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

/* Sends REPLY on C and releases C's session, or receives again if there is none. A session the agent
 * is closing (or whose pipe went, e.g. after a pipelined second request) gets no reply: nng 1.5 may
 * lose a message handed to a closing pipe. The check and the hand-over happen under the close lock,
 * which the agent's own closes of pipes take too, so none comes between them. */
static void agent_ctx_reply(struct agent_ctx *c, nng_msg *reply)
{
	agent *ag = c->ag;
	agent_session *s = c->s;
	int closed;

	if (!reply) {
		agent_ctx_recv(c);
		return;
	}
	c->s = NULL;
	pthread_mutex_lock(&ag->close_lock);
	closed = agent_session_closed(ag, s);
	if (closed) {
		nng_msg_free(reply);
		nng_pipe_close(s->pipe);
	} else {
		c->sending = 1;
		nng_aio_set_msg(c->aio, reply);
		nng_aio_set_timeout(c->aio, 30000);
		nng_ctx_send(c->ctx, c->aio);
	}
	pthread_mutex_unlock(&ag->close_lock);
	agent_session_put(ag, s);
	if (closed)
		agent_ctx_recv(c); /* C is ours again only when nothing was sent */
}

static void agent_queue_work(agent *ag, struct agent_ctx *c)
{
	pthread_mutex_lock(&ag->work_lock);
	c->next = NULL;
	if (ag->work_tail)
		ag->work_tail->next = c;
	else
		ag->work_head = c;
	ag->work_tail = c;
	pthread_cond_signal(&ag->work_cond);
	pthread_mutex_unlock(&ag->work_lock);
}

/* nng's completion of C's receive or send, on one of nng's threads. A received request is handled
 * right here if it is light (bounded work, see agent_handle_request): no hand-over to another thread
 * on the way to the reply. Anything else goes to the workers. */
static void agent_ctx_cb(void *arg)
{
	struct agent_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	nng_msg *msg, *reply = NULL;

	if (c->sending) {
		c->sending = 0;
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		nng_aio_set_msg(c->aio, NULL);
		agent_ctx_recv(c);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
			agent_ctx_recv(c); /* a transient failure */
		return;
	}
	msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	if (agent_begin(c->ag, c, msg) != 0) {
		agent_ctx_recv(c);
		return;
	}
	if (agent_finish(c->ag, c, 1, &reply) == AGENT_DEFER)
		agent_queue_work(c->ag, c);
	else
		agent_ctx_reply(c, reply);
}

/* Takes the next deferred request; NULL once the agent stops (requests still queued are dropped). */
static struct agent_ctx *agent_next_work(agent *ag)
{
	struct agent_ctx *c;

	pthread_mutex_lock(&ag->work_lock);
	for (;;) {
		while (!ag->work_head && !atomic_load(&ag->stopping))
			pthread_cond_wait(&ag->work_cond, &ag->work_lock);
		c = ag->work_head;
		if (c) {
			ag->work_head = c->next;
			if (!ag->work_head)
				ag->work_tail = NULL;
		}
		if (!c || !atomic_load(&ag->stopping))
			break;
		pthread_mutex_unlock(&ag->work_lock);
		agent_end(ag, c, NULL);
		pthread_mutex_lock(&ag->work_lock);
	}
	pthread_mutex_unlock(&ag->work_lock);
	return c;
}

static void *agent_worker_main(void *arg)
{
	agent *ag = arg;
	struct agent_ctx *c;

	while ((c = agent_next_work(ag)) != NULL) {
		nng_msg *reply = NULL;

		agent_finish(ag, c, 0, &reply);
		agent_ctx_reply(c, reply);
	}
	return NULL;
}

static int agent_open_socket(agent *ag)
{
	int rv = nng_rep0_open(&ag->sock);

	if (rv == 0)
		/* nng counts the REQ header (request id, and a hop or so of backtrace) in the limit */
		rv = nng_socket_set_size(ag->sock, NNG_OPT_RECVMAXSZ, WIRE_AGENT_RECV_MAX + 64);
	if (rv == 0)
		rv = nng_pipe_notify(ag->sock, NNG_PIPE_EV_ADD_PRE, agent_pipe_event, ag);
	if (rv == 0)
		rv = nng_pipe_notify(ag->sock, NNG_PIPE_EV_REM_POST, agent_pipe_event, ag);
	if (rv != 0)
		fprintf(stderr, "memscan-agent: cannot open the socket: %s\n", nng_strerror(rv));
	return rv ? -1 : 0;
}

/* Opens the contexts (more than workers: while every worker is busy with a long request, light ones
 * are still taken in and answered) and starts the workers. */
static int agent_start_workers(agent *ag)
{
	unsigned nctx = ag->cfg.workers * AGENT_CTX_PER_WORKER;

	ag->ctxs = calloc(nctx, sizeof(*ag->ctxs));
	ag->threads = calloc(ag->cfg.workers, sizeof(*ag->threads));
	if (!ag->ctxs || !ag->threads)
		goto fail;
	for (unsigned i = 0; i < nctx; i++) {
		struct agent_ctx *c = &ag->ctxs[i];

		c->ag = ag;
		if (nng_aio_alloc(&c->aio, agent_ctx_cb, c) != 0)
			goto fail;
		if (nng_ctx_open(&c->ctx, ag->sock) != 0) {
			nng_aio_free(c->aio);
			goto fail;
		}
		ag->ctx_count++;
	}
	for (unsigned i = 0; i < ag->cfg.workers; i++) {
		if (pthread_create(&ag->threads[i], NULL, agent_worker_main, ag) != 0)
			goto fail;
		ag->thread_count++;
	}
	for (size_t i = 0; i < ag->ctx_count; i++)
		agent_ctx_recv(&ag->ctxs[i]);
	return 0;
fail:
	fprintf(stderr, "memscan-agent: cannot start worker threads\n");
	return -1;
}

/* Stops the contexts and the workers. The socket is closed only afterwards: closing it under a
 * context in use crashes nng 1.5. */
static void agent_stop_workers(agent *ag)
{
	atomic_store(&ag->stopping, 1);
	/* no operation starts on a stopped aio; a callback running now ends first */
	for (size_t i = 0; i < ag->ctx_count; i++)
		nng_aio_stop(ag->ctxs[i].aio);
	pthread_mutex_lock(&ag->work_lock);
	pthread_cond_broadcast(&ag->work_cond);
	pthread_mutex_unlock(&ag->work_lock);
	for (size_t i = 0; i < ag->thread_count; i++)
		pthread_join(ag->threads[i], NULL);
	/* a reply a worker sent meanwhile was refused: wait for that completion too. A send on an aio
	 * already stopped does not start and runs no callback: its reply is still on the aio */
	for (size_t i = 0; i < ag->ctx_count; i++) {
		nng_msg *unsent;

		nng_aio_stop(ag->ctxs[i].aio);
		unsent = nng_aio_get_msg(ag->ctxs[i].aio);
		if (unsent)
			nng_msg_free(unsent);
		nng_ctx_close(ag->ctxs[i].ctx);
		nng_aio_free(ag->ctxs[i].aio);
	}
	free(ag->ctxs);
	free(ag->threads);
	ag->ctxs = NULL;
	ag->threads = NULL;
	ag->ctx_count = 0;
	ag->thread_count = 0;
}

/* Opens the socket (size cap before any listener), starts workers and listeners, prints the banner. */
int agent_server_start(agent *ag)
{
	if (agent_open_socket(ag) != 0 || agent_zpool_init(ag) != 0)
		return -1;
	if (agent_start_workers(ag) != 0 || agent_housekeeper_start(ag) != 0)
		return -1;
	if (agent_listen_all(ag) != 0 || agent_gate_init(ag) != 0)
		return -1;
	printf("memscan-agent %s key %s\n", MEMSCAN_AGENT_VERSION, ag->fp);
	for (size_t i = 0; i < ag->listener_count; i++)
		agent_print_listener(ag->listeners[i], ag->cfg.listen[i]);
	fflush(stdout);
	return 0;
}

void agent_server_stop(agent *ag)
{
	for (size_t i = 0; i < ag->listener_count; i++)
		nng_listener_close(ag->listeners[i]);
	agent_housekeeper_stop(ag);    /* also sets stopping */
	agent_sessions_cancel_all(ag); /* requests in progress stop: the workers can be joined now */
	agent_gate_free(ag);
	agent_stop_workers(ag);
	agent_zpool_free(ag);
	nng_close(ag->sock);
	free(ag->listeners);
	ag->listeners = NULL;
	ag->listener_count = 0;
	agent_sessions_free_all(ag);
}

/* SIGHUP: loads authorized_keys again; keeps the old list if the new one is malformed. */
int agent_reload_authorized(agent *ag)
{
	keyfile_auth *list = NULL, *old;
	size_t count = 0;
	char err[512] = "";
	int rv = keyfile_load_authorized(ag->cfg.auth_path, &list, &count, err, sizeof(err));

	if (rv != 0) {
		agent_log("reload: keeping the previous authorized keys: %s", err[0] ? err : "cannot load");
		return -1;
	}
	pthread_mutex_lock(&ag->auth_lock);
	old = ag->auth;
	ag->auth = list;
	ag->auth_count = count;
	ag->auth_gen++;
	pthread_mutex_unlock(&ag->auth_lock);
	free(old);
	agent_log("reload: %zu authorized keys from %s", count, ag->cfg.auth_path);
	agent_revoke_sessions(ag);
	return 0;
}
