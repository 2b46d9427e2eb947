/* SPDX-License-Identifier: MIT */
/* The REP socket: listeners, worker contexts, and per-frame handling (handshake, then DATA). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "agent.h"

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

/* Replies to an HS1 if it comes from an authorized key with a fresh timestamp; NULL otherwise. */
static int agent_check_authorized(agent *ag, const uint8_t pub[KEYFILE_KEY_LEN], keyfile_auth *ret)
{
	int found = 0;

	pthread_mutex_lock(&ag->auth_lock);
	for (size_t i = 0; i < ag->auth_count; i++) {
		if (sodium_memcmp(ag->auth[i].pub, pub, KEYFILE_KEY_LEN) == 0) {
			*ret = ag->auth[i];
			found = 1;
		}
	}
	pthread_mutex_unlock(&ag->auth_lock);
	return found;
}

/* Records TAI as the newest HS1 of PUB; -1 if it is not strictly newer than the last one. */
static int agent_check_fresh(agent *ag, const uint8_t pub[KEYFILE_KEY_LEN],
                             const uint8_t tai[CHAN_TAI64N_LEN])
{
	agent_replay *grown;
	int r = 0;

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
	grown = realloc(ag->replay, (ag->replay_count + 1) * sizeof(*grown));
	if (!grown) {
		r = -1;
		goto out;
	}
	ag->replay = grown;
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

/* Handles HS1 on a pipe without a session. Returns the HS2 reply or NULL (close the pipe). */
static nng_msg *agent_handshake(agent *ag, agent_session *s, const uint8_t *frame, size_t len)
{
	uint8_t pub[KEYFILE_KEY_LEN], tai[CHAN_TAI64N_LEN], out[CHAN_HS2_LEN];
	char fp[KEYFILE_FINGERPRINT_LEN] = "";
	chan_agent_hs *hs = NULL;
	keyfile_auth auth;
	nng_msg *reply = NULL;
	const char *reason = NULL;

	if (chan_agent_read_hs1(ag->priv, frame, len, pub, tai, &hs) != 0) {
		reason = chan_frame_type(frame, len) == CHAN_TYPE_HS1 ? "bad-hs1" : "no-handshake";
		goto out;
	}
	keyfile_fingerprint(pub, fp);
	if (!agent_check_authorized(ag, pub, &auth)) {
		reason = "unauthorized-key";
		goto out;
	}
	if (agent_check_fresh(ag, pub, tai) != 0) {
		reason = "replayed-hs1";
		goto out;
	}
	if (chan_agent_write_hs2(hs, agent_random_id(), auth.perms, out, &s->chan) != 0) {
		reason = "hs2-failed";
		goto out;
	}
	reply = agent_msg_from(out, sizeof(out));
	if (!reply) {
		chan_session_free(s->chan);
		s->chan = NULL;
		reason = "no-memory";
		goto out;
	}
	agent_session_set_identity(ag, s, &auth);
	agent_log("session peer=%s key=%s perms=0x%x", s->peer, s->fp, auth.perms);
out:
	if (reason)
		agent_refused(s->peer, reason, fp);
	chan_agent_hs_free(hs);
	sodium_memzero(&auth, sizeof(auth));
	return reply;
}

/* Handles one DATA frame on an established session: opened in place in MSG, the reply packed into
 * its own frame and sealed in place. NULL: close the pipe. */
static nng_msg *agent_data(agent *ag, agent_session *s, nng_msg *msg)
{
	uint8_t *frame = nng_msg_body(msg), *pt = frame + CHAN_DATA_AD_LEN;
	size_t len = nng_msg_len(msg), pt_len = 0, out_len = 0, sealed = 0;
	nng_msg *reply = NULL;

	if (len < CHAN_DATA_OVERHEAD ||
	    chan_open(s->chan, frame, len, pt, len - CHAN_DATA_OVERHEAD, &pt_len) != 0) {
		agent_refused(s->peer,
		              chan_frame_type(frame, len) == CHAN_TYPE_HS1 ? "second-hs1" : "bad-data-frame",
		              s->fp);
		return NULL;
	}
	if (agent_handle_request(ag, s, pt, pt_len, &reply, &out_len) == 0) {
		uint8_t *body = nng_msg_body(reply);

		if (chan_seal(s->chan, body + CHAN_DATA_AD_LEN, out_len, body, nng_msg_len(reply), &sealed) !=
		    0) {
			nng_msg_free(reply);
			reply = NULL;
		} else if (sealed < nng_msg_len(reply)) {
			nng_msg_chop(reply, nng_msg_len(reply) - sealed);
		}
	}
	sodium_memzero(pt, pt_len);
	return reply;
}

/* Handles one received message; returns the reply, or NULL after closing the pipe. */
static nng_msg *agent_handle_msg(agent *ag, nng_msg *msg)
{
	nng_pipe pipe = nng_msg_get_pipe(msg);
	const uint8_t *frame = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	agent_session *s = agent_session_get(ag, (uint32_t)nng_pipe_id(pipe));
	nng_msg *reply = NULL;

	if (!s)
		goto out;
	if (atomic_exchange(&s->in_flight, 1) == 0) {
		pthread_mutex_lock(&s->lock);
		if (!s->closed)
			reply = s->chan ? agent_data(ag, s, msg) : agent_handshake(ag, s, frame, len);
		pthread_mutex_unlock(&s->lock);
		atomic_store(&s->in_flight, 0);
		/* the pipe went away while we worked (e.g. a pipelined second request closed it): the reply
		 * has nowhere to go, and nng 1.5 may not free a reply queued for a closing pipe */
		if (reply && agent_session_closed(ag, s)) {
			nng_msg_free(reply);
			reply = NULL;
		}
	}
	agent_session_put(ag, s);
out:
	if (!reply)
		nng_pipe_close(pipe);
	return reply;
}

static void *agent_worker_main(void *arg)
{
	struct agent_worker *w = arg;
	agent *ag = w->ag;

	while (!atomic_load(&ag->stopping)) {
		nng_msg *msg, *reply;

		nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			continue; /* cancelled at shutdown, or a transient failure */
		msg = nng_aio_get_msg(w->aio);
		reply = agent_handle_msg(ag, msg);
		nng_msg_free(msg);
		if (!reply)
			continue;
		nng_aio_set_msg(w->aio, reply);
		nng_aio_set_timeout(w->aio, 30000);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			nng_msg_free(reply);
	}
	atomic_store(&w->done, 1);
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

static int agent_start_workers(agent *ag)
{
	ag->workers = calloc(ag->cfg.workers, sizeof(*ag->workers));
	if (!ag->workers)
		return -1;
	for (unsigned i = 0; i < ag->cfg.workers; i++) {
		struct agent_worker *w = &ag->workers[i];

		w->ag = ag;
		atomic_init(&w->done, 0);
		if (nng_aio_alloc(&w->aio, NULL, NULL) != 0)
			goto fail;
		if (nng_ctx_open(&w->ctx, ag->sock) != 0 ||
		    pthread_create(&w->thread, NULL, agent_worker_main, w)) {
			nng_aio_free(w->aio);
			goto fail;
		}
		ag->worker_count++;
	}
	return 0;
fail:
	fprintf(stderr, "memscan-agent: cannot start worker threads\n");
	return -1;
}

/* Stops the workers: cancels their pending operations until each has seen STOPPING and returned
 * (the socket is closed only afterwards: closing it under a context in use crashes nng 1.5). */
static void agent_stop_workers(agent *ag)
{
	size_t running = ag->worker_count;

	atomic_store(&ag->stopping, 1);
	while (running) {
		running = 0;
		for (size_t i = 0; i < ag->worker_count; i++) {
			if (atomic_load(&ag->workers[i].done))
				continue;
			nng_aio_cancel(ag->workers[i].aio);
			running++;
		}
		if (running)
			usleep(20000);
	}
	for (size_t i = 0; i < ag->worker_count; i++) {
		pthread_join(ag->workers[i].thread, NULL);
		nng_ctx_close(ag->workers[i].ctx);
		nng_aio_free(ag->workers[i].aio);
	}
	free(ag->workers);
	ag->workers = NULL;
	ag->worker_count = 0;
}

/* Opens the socket (size cap before any listener), starts workers and listeners, prints the banner. */
int agent_server_start(agent *ag)
{
	if (agent_open_socket(ag) != 0 || agent_zpool_init(ag) != 0)
		return -1;
	if (agent_start_workers(ag) != 0 || agent_housekeeper_start(ag) != 0)
		return -1;
	if (agent_listen_all(ag) != 0)
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
	agent_housekeeper_stop(ag); /* also sets stopping */
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
	pthread_mutex_unlock(&ag->auth_lock);
	free(old);
	agent_log("reload: %zu authorized keys from %s", count, ag->cfg.auth_path);
	agent_revoke_sessions(ag);
	return 0;
}
