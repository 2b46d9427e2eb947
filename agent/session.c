/* SPDX-License-Identifier: MIT */
/* The session table: one entry per nng pipe, connection caps, budgets, housekeeping and revocation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent.h"

/* Fills PEER ("ADDR:PORT") and IP (what the per-peer cap counts) from the pipe's remote address,
 * and ADDR with it if it is TCP. */
static void agent_peer_names(nng_pipe pipe, char *peer, size_t peer_len, char *ip, size_t ip_len,
                             agent_addr *addr)
{
	char buf[INET6_ADDRSTRLEN];
	nng_sockaddr sa;

	snprintf(peer, peer_len, "unknown");
	snprintf(ip, ip_len, "unknown");
	memset(addr, 0, sizeof(*addr));
	if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) != 0)
		return;
	agent_addr_from_nng(&sa, addr);
	if (sa.s_family == NNG_AF_INET && inet_ntop(AF_INET, &sa.s_in.sa_addr, buf, sizeof(buf))) {
		snprintf(ip, ip_len, "%s", buf);
		snprintf(peer, peer_len, "%s:%u", buf, ntohs(sa.s_in.sa_port));
	} else if (sa.s_family == NNG_AF_INET6 && inet_ntop(AF_INET6, sa.s_in6.sa_addr, buf, sizeof(buf))) {
		snprintf(ip, ip_len, "%s", buf);
		snprintf(peer, peer_len, "[%s]:%u", buf, ntohs(sa.s_in6.sa_port));
	} else if (sa.s_family == NNG_AF_IPC) {
		snprintf(ip, ip_len, "ipc");
		snprintf(peer, peer_len, "ipc");
	}
}

static agent_session *agent_session_new(nng_pipe pipe, const char *peer, const char *ip)
{
	agent_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->pipe = pipe;
	s->pipe_id = (uint32_t)nng_pipe_id(pipe);
	s->created_ns = chan_monotonic_ns();
	s->refs = 1; /* the table's */
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", ip);
	return s;
}

/* Wipes keys and releases snapshots, the paged result and the budget. */
static void agent_session_free(agent *ag, agent_session *s)
{
	agent_pending_abandon(&s->pending);          /* a job's bytes go to the audit line below */
	agent_audit_close(s, MEMSCAN_ERR_CANCELLED); /* a paged result its client left */
	agent_snaps_free_all(ag, s);
	agent_heats_free_all(ag, s);
	memscan_process_free(s->proc_cache);
	chan_session_free(s->chan);
	pthread_mutex_destroy(&s->lock);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* Admits a new pipe if the caps allow it (called with the table lock held). */
static int agent_admit(agent *ag, nng_pipe pipe)
{
	char peer[80], ip[64];
	agent_session *s;
	agent_addr addr;
	size_t same = 0;

	if (ag->shutting_down)
		return -1;
	agent_peer_names(pipe, peer, sizeof(peer), ip, sizeof(ip), &addr);
	if (ag->session_count >= ag->cfg.max_connections) {
		agent_refused(peer, "max-connections", NULL);
		return -1;
	}
	for (s = ag->sessions; s; s = s->next)
		same += !strcmp(s->peer_ip, ip);
	if (same >= ag->cfg.max_per_peer) {
		agent_refused(peer, "max-per-peer", NULL);
		return -1;
	}
	s = agent_session_new(pipe, peer, ip);
	if (!s)
		return -1;
	s->peer_addr = addr;
	s->next = ag->sessions;
	ag->sessions = s;
	ag->session_count++;
	return 0;
}

/* Unlinks the entry of PIPE_ID; returns it if it is to be freed now (no other reference). */
static agent_session *agent_unlink(agent *ag, uint32_t pipe_id)
{
	agent_session **pp, *s;

	for (pp = &ag->sessions; *pp; pp = &(*pp)->next) {
		if ((*pp)->pipe_id != pipe_id)
			continue;
		s = *pp;
		*pp = s->next;
		ag->session_count--;
		s->closed = 1;
		atomic_store(&s->cancel, 1);
		return --s->refs == 0 ? s : NULL;
	}
	return NULL;
}

int agent_session_closed(agent *ag, agent_session *s)
{
	int closed;

	pthread_mutex_lock(&ag->table_lock);
	closed = s->closed || s->hung_up;
	pthread_mutex_unlock(&ag->table_lock);
	return closed;
}

void agent_session_hang_up(agent *ag, agent_session *s)
{
	pthread_mutex_lock(&ag->table_lock);
	s->hung_up = 1;
	atomic_store(&s->cancel, 1);
	pthread_mutex_unlock(&ag->table_lock);
}

int agent_session_cancelled(void *ctx)
{
	agent_session *s = ctx;

	return atomic_load(&s->cancel);
}

int agent_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rv = pthread_condattr_init(&attr);

	if (rv == 0) {
		rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		if (rv == 0)
			rv = pthread_cond_init(cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	return rv;
}

int agent_session_watch(agent_session *s, memscan_process *proc)
{
	return memscan_process_set_cancel(proc, agent_session_cancelled, s);
}

void agent_sessions_cancel_all(agent *ag)
{
	pthread_mutex_lock(&ag->table_lock);
	for (agent_session *s = ag->sessions; s; s = s->next)
		atomic_store(&s->cancel, 1);
	pthread_mutex_unlock(&ag->table_lock);
}

void agent_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	agent *ag = arg;
	agent_session *dead = NULL;
	int refuse = 0;

	pthread_mutex_lock(&ag->table_lock);
	if (ev == NNG_PIPE_EV_ADD_PRE)
		refuse = agent_admit(ag, pipe) != 0;
	else if (ev == NNG_PIPE_EV_REM_POST)
		dead = agent_unlink(ag, (uint32_t)nng_pipe_id(pipe));
	pthread_mutex_unlock(&ag->table_lock);
	if (refuse)
		nng_pipe_close(pipe);
	if (dead)
		agent_session_free(ag, dead);
}

agent_session *agent_session_get(agent *ag, uint32_t pipe_id)
{
	agent_session *s;

	pthread_mutex_lock(&ag->table_lock);
	for (s = ag->sessions; s; s = s->next) {
		if (s->pipe_id == pipe_id) {
			s->refs++;
			break;
		}
	}
	pthread_mutex_unlock(&ag->table_lock);
	return s;
}

void agent_session_put(agent *ag, agent_session *s)
{
	int last;

	if (!s)
		return;
	pthread_mutex_lock(&ag->table_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&ag->table_lock);
	if (last)
		agent_session_free(ag, s);
}

/* True if the authorized keys still grant PUB exactly PERMS, the uid range and the exe= patterns. Called with
 * the auth lock held. */
static int agent_grant_current(agent *ag, const uint8_t pub[KEYFILE_KEY_LEN], uint32_t perms,
                               uint32_t uid_min, uint32_t uid_max, const char *exe)
{
	int found = 0;

	for (size_t i = 0; i < ag->auth_count; i++) {
		const keyfile_auth *a = &ag->auth[i];

		if (sodium_memcmp(a->pub, pub, KEYFILE_KEY_LEN) == 0 && a->perms == perms &&
		    a->uid_min == uid_min && a->uid_max == uid_max && !strcmp(a->exe, exe))
			found = 1;
	}
	return found;
}

int agent_session_set_identity(agent *ag, agent_session *s, const keyfile_auth *auth, uint64_t gen)
{
	int current;

	/* under the table lock, as revocation looks at sessions: a reload either happened before (and
	 * is seen here) or revokes this session once it is marked done */
	pthread_mutex_lock(&ag->table_lock);
	pthread_mutex_lock(&ag->auth_lock);
	current = ag->auth_gen == gen ||
	          agent_grant_current(ag, auth->pub, auth->perms, auth->uid_min, auth->uid_max, auth->exe);
	pthread_mutex_unlock(&ag->auth_lock);
	if (!current) {
		pthread_mutex_unlock(&ag->table_lock);
		return -1;
	}
	memcpy(s->client_pub, auth->pub, sizeof(s->client_pub));
	keyfile_fingerprint(auth->pub, s->fp);
	s->perms = auth->perms;
	s->uid_min = auth->uid_min;
	s->uid_max = auth->uid_max;
	memcpy(s->exe, auth->exe, sizeof(s->exe));
	s->hs_done = 1;
	pthread_mutex_unlock(&ag->table_lock);
	return 0;
}

/* At shutdown, after the socket is closed and the workers joined. */
void agent_sessions_free_all(agent *ag)
{
	agent_session *s, *next;

	pthread_mutex_lock(&ag->table_lock);
	ag->shutting_down = 1;
	s = ag->sessions;
	ag->sessions = NULL;
	ag->session_count = 0;
	pthread_mutex_unlock(&ag->table_lock);
	for (; s; s = next) {
		next = s->next;
		agent_session_free(ag, s);
	}
}

/* True if the entry is due to be closed: no handshake in time, or its channel is over. */
static int agent_session_due(agent *ag, agent_session *s, uint64_t now)
{
	int due = 0;

	if (!s->hs_done) {
		due = now > s->created_ns &&
		      now - s->created_ns > (uint64_t)ag->cfg.handshake_timeout_ms * 1000000ull;
		if (due)
			agent_refused(s->peer, "handshake-timeout", NULL);
		return due;
	}
	if (pthread_mutex_trylock(&s->lock) != 0)
		return 0; /* busy with a request: alive */
	/* read the clock only now: a request finishing meanwhile may have moved the session's clock */
	due = s->chan && chan_session_expired(s->chan, chan_monotonic_ns());
	pthread_mutex_unlock(&s->lock);
	if (due)
		agent_log("expired peer=%s key=%s: session over (age, idleness or message count)", s->peer,
		          s->fp);
	return due;
}

int agent_close_pipe(agent *ag, nng_pipe pipe)
{
	int rv;

	pthread_mutex_lock(&ag->close_lock);
	rv = nng_pipe_close(pipe);
	pthread_mutex_unlock(&ag->close_lock);
	return rv;
}

/* Closes the pipes in IDS; an entry whose pipe is already gone is dropped here. */
static void agent_close_pipes(agent *ag, const nng_pipe *pipes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (agent_close_pipe(ag, pipes[i]) == NNG_ENOENT) {
			agent_session *dead;

			pthread_mutex_lock(&ag->table_lock);
			dead = agent_unlink(ag, (uint32_t)nng_pipe_id(pipes[i]));
			pthread_mutex_unlock(&ag->table_lock);
			if (dead)
				agent_session_free(ag, dead);
		}
	}
}

/* Collects pipes for which KEEP returns 0; the caller frees *RET. */
static size_t agent_collect(agent *ag, int (*due)(agent *, agent_session *, uint64_t), nng_pipe **ret)
{
	size_t n = 0;
	agent_session *s;
	uint64_t now;

	pthread_mutex_lock(&ag->table_lock);
	now = chan_monotonic_ns();
	*ret = calloc(ag->session_count ? ag->session_count : 1, sizeof(**ret));
	for (s = ag->sessions; *ret && s; s = s->next) {
		if (due(ag, s, now)) {
			/* a reply still being built for it is dropped, not sent to the closing pipe (nng 1.5
			 * loses such a message: see agent_session_hang_up) */
			s->hung_up = 1;
			(*ret)[n++] = s->pipe;
		}
	}
	pthread_mutex_unlock(&ag->table_lock);
	return n;
}

static void agent_sweep(agent *ag)
{
	nng_pipe *pipes;
	size_t n = agent_collect(ag, agent_session_due, &pipes);

	agent_close_pipes(ag, pipes, n);
	free(pipes);
}

static void *agent_housekeeper_main(void *arg)
{
	agent *ag = arg;
	struct timespec ts;

	pthread_mutex_lock(&ag->stop_lock);
	while (!atomic_load(&ag->stopping)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 500000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ag->stop_cond, &ag->stop_lock, &ts);
		if (atomic_load(&ag->stopping))
			break;
		pthread_mutex_unlock(&ag->stop_lock);
		agent_sweep(ag);
		agent_gate_sweep(ag);
		agent_vsets_expire(ag);
		pthread_mutex_lock(&ag->stop_lock);
	}
	pthread_mutex_unlock(&ag->stop_lock);
	return NULL;
}

int agent_housekeeper_start(agent *ag)
{
	if (pthread_create(&ag->housekeeper, NULL, agent_housekeeper_main, ag) != 0)
		return -1;
	ag->housekeeper_started = 1;
	return 0;
}

void agent_housekeeper_stop(agent *ag)
{
	pthread_mutex_lock(&ag->stop_lock);
	atomic_store(&ag->stopping, 1);
	pthread_cond_broadcast(&ag->stop_cond);
	pthread_mutex_unlock(&ag->stop_lock);
	if (ag->housekeeper_started)
		pthread_join(ag->housekeeper, NULL);
	ag->housekeeper_started = 0;
}

/* True if the session's key is gone from the (new) authorized list or its grant changed. Called with
 * the table lock held; takes the auth lock. */
static int agent_session_revoked(agent *ag, agent_session *s, uint64_t now)
{
	int keep;

	(void)now;
	if (!s->hs_done)
		return 0;
	pthread_mutex_lock(&ag->auth_lock);
	keep = agent_grant_current(ag, s->client_pub, s->perms, s->uid_min, s->uid_max, s->exe);
	pthread_mutex_unlock(&ag->auth_lock);
	if (!keep)
		agent_log("revoked peer=%s key=%s: key removed or its grant changed", s->peer, s->fp);
	return !keep;
}

void agent_revoke_sessions(agent *ag)
{
	nng_pipe *pipes;
	size_t n = agent_collect(ag, agent_session_revoked, &pipes);

	agent_close_pipes(ag, pipes, n);
	free(pipes);
	agent_vsets_revoke(ag);
}
