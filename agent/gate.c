/* SPDX-License-Identifier: MIT */
/* The gate: TCP connections nng accepted that have not sent their SP header yet, capped and timed out. */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "grow.h"

/* nng 1.5's TCP transport accepts every connection and waits up to 10 s (a fixed time) for the peer's
 * 8-byte SP header before the agent hears of it (NNG_PIPE_EV_ADD_PRE): until then no cap and no
 * handshake timeout of the agent applies, and each such connection holds a descriptor. So the
 * housekeeper lists the agent's own descriptors, finds TCP connections to its listeners that belong
 * to no session, and shuts down those waiting longer than the handshake timeout, and the oldest of
 * those beyond the caps. shutdown(2) only: nng then sees the connection end and closes its descriptor
 * itself. Every look at a descriptor goes through a duplicate in a slot of the gate's own (dup3), so
 * what is checked and what is shut down are one socket, whatever nng closes or opens meanwhile. */

/* Most connections one sweep lists: one per descriptor, and a process has at most fs.nr_open's
 * default (2^20) unless the administrator raised that too; any beyond wait for the next sweep. */
#define AGENT_GATE_LIST_MAX ((size_t)1 << 20)

/* One connection without a session. */
struct agent_gate_conn {
	uint64_t ino;   /* the socket's inode: its identity while it lives */
	uint64_t since; /* first seen (monotonic ns) */
	agent_addr addr;
	int fd;
	int shed;
};

static int agent_addr_from(const struct sockaddr_storage *ss, agent_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		ret->family = 4;
		ret->port = ntohs(in->sin_port);
		memcpy(ret->ip, &in->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		ret->family = 6;
		ret->port = ntohs(in6->sin6_port);
		memcpy(ret->ip, &in6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

void agent_addr_from_nng(const nng_sockaddr *sa, agent_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (sa->s_family == NNG_AF_INET) {
		ret->family = 4;
		ret->port = ntohs(sa->s_in.sa_port);
		memcpy(ret->ip, &sa->s_in.sa_addr, 4);
	} else if (sa->s_family == NNG_AF_INET6) {
		ret->family = 6;
		ret->port = ntohs(sa->s_in6.sa_port);
		memcpy(ret->ip, sa->s_in6.sa_addr, 16);
	}
}

static int agent_ip_cmp(const agent_addr *a, const agent_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->ip, b->ip, sizeof(a->ip));
}

static int agent_addr_cmp(const void *x, const void *y)
{
	const agent_addr *a = x, *b = y;
	int c = agent_ip_cmp(a, b);

	return c ? c : (a->port > b->port) - (a->port < b->port);
}

int agent_gate_init(agent *ag)
{
	agent_gate *g = &ag->gate;

	g->ports = calloc(ag->listener_count ? ag->listener_count : 1, sizeof(*g->ports));
	g->dir = opendir("/proc/self/fd");
	if (!g->ports || !g->dir)
		goto fail;
	g->home = dirfd(g->dir);
	g->spare = fcntl(g->home, F_DUPFD_CLOEXEC, 0);
	if (g->spare < 0)
		goto fail;
	for (size_t i = 0; i < ag->listener_count; i++) {
		int port;

		if (nng_listener_get_int(ag->listeners[i], NNG_OPT_TCP_BOUND_PORT, &port) == 0 && port > 0)
			g->ports[g->nports++] = (uint16_t)port;
	}
	atomic_store(&g->ready, 1);
	return 0;
fail:
	fprintf(stderr, "memscan-agent: cannot watch connections before their SP header (/proc/self/fd)\n");
	agent_gate_free(ag);
	return -1;
}

void agent_gate_free(agent *ag)
{
	agent_gate *g = &ag->gate;

	atomic_store(&g->ready, 0);
	if (g->spare > 0)
		close(g->spare);
	if (g->dir)
		closedir(g->dir);
	free(g->ports);
	free(g->seen);
	memset(g, 0, sizeof(*g));
}

/* Points the gate's slot at what FD refers to (the slot keeps it open until pointed elsewhere). */
static int agent_gate_hold(agent_gate *g, int fd)
{
	return dup3(fd, g->spare, O_CLOEXEC) < 0 ? -1 : 0;
}

/* Points the gate's slot at FD's socket and fills C if it is a connection to one of the listeners;
 * 0 then, -1 otherwise. */
static int agent_gate_look(agent_gate *g, int fd, struct agent_gate_conn *c)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer), alen = sizeof(int);
	agent_addr mine;
	struct stat st;
	int listening = 1;

	/* most descriptors are not sockets (pidfds, /proc files): one fstat tells, nothing else is done
	 * with them, so a descriptor closed and reused meanwhile does not matter here */
	if (fd == g->home || fd == g->spare || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    agent_gate_hold(g, fd) != 0)
		return -1;
	if (fstat(g->spare, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(g->spare, SOL_SOCKET, SO_ACCEPTCONN, &listening, &alen) != 0 || listening ||
	    getsockname(g->spare, (struct sockaddr *)&local, &llen) != 0 || agent_addr_from(&local, &mine) ||
	    getpeername(g->spare, (struct sockaddr *)&peer, &plen) != 0 || agent_addr_from(&peer, &c->addr))
		return -1;
	for (size_t i = 0; i < g->nports; i++) {
		if (g->ports[i] == mine.port) {
			c->ino = (uint64_t)st.st_ino;
			c->fd = fd;
			c->shed = 0;
			return 0;
		}
	}
	return -1;
}

static int agent_conn_by_ino(const void *x, const void *y)
{
	const struct agent_gate_conn *a = x, *b = y;

	return (a->ino > b->ino) - (a->ino < b->ino);
}

/* Lists the connections to the listeners that have no session (SESSIONS, sorted), with the time each
 * was first seen; the caller frees *RET. */
static size_t agent_gate_list(agent_gate *g, const agent_addr *sessions, size_t nsess, uint64_t now,
                              struct agent_gate_conn **ret)
{
	size_t n = 0, cap = 0;
	struct dirent *de;

	*ret = NULL;
	rewinddir(g->dir);
	while ((de = readdir(g->dir)) != NULL) {
		struct agent_gate_conn c, *prev;
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd < 0 || fd > INT32_MAX || agent_gate_look(g, (int)fd, &c))
			continue;
		if (nsess && bsearch(&c.addr, sessions, nsess, sizeof(*sessions), agent_addr_cmp))
			continue;
		if (n == cap && wire_grow(ret, &cap, n + 1, sizeof(**ret), AGENT_GATE_LIST_MAX) != 0)
			break; /* judged: the connections listed so far */
		prev = g->seen_n ? bsearch(&c, g->seen, g->seen_n, sizeof(c), agent_conn_by_ino) : NULL;
		c.since = prev ? prev->since : now;
		(*ret)[n++] = c;
	}
	return n;
}

/* Newest first: first seen later, or seen in the same sweep and created later (sockets' inodes grow). */
static int agent_conn_newest(const void *x, const void *y)
{
	const struct agent_gate_conn *a = x, *b = y;

	if (a->since != b->since)
		return a->since < b->since ? 1 : -1;
	return (a->ino < b->ino) - (a->ino > b->ino);
}

/* Connections of one address together (for the per-peer count), newest first. */
static int agent_conn_by_ip_newest(const void *x, const void *y)
{
	const struct agent_gate_conn *a = x, *b = y;
	int c = agent_ip_cmp(&a->addr, &b->addr);

	return c ? c : agent_conn_newest(x, y);
}

/* Sessions of the same address as C (SESSIONS sorted). */
static size_t agent_sessions_of(const agent_addr *sessions, size_t nsess, const agent_addr *c)
{
	size_t n = 0;

	for (size_t i = 0; i < nsess; i++)
		n += agent_ip_cmp(&sessions[i], c) == 0;
	return n;
}

/* Marks what to shed: waiting past the handshake timeout; beyond max_connections_per_peer with that
 * address's sessions; beyond max_connections with all ALL sessions (the newest are kept). */
static void agent_gate_judge(agent *ag, struct agent_gate_conn *v, size_t n, const agent_addr *sessions,
                             size_t nsess, size_t all, uint64_t now)
{
	uint64_t limit = (uint64_t)ag->cfg.handshake_timeout_ms * 1000000ull;
	size_t kept = 0, same = 0;

	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), agent_conn_by_ip_newest);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || agent_ip_cmp(&v[i].addr, &v[i - 1].addr) != 0)
			same = agent_sessions_of(sessions, nsess, &v[i].addr);
		v[i].shed = now - v[i].since > limit || same >= ag->cfg.max_per_peer;
		same += !v[i].shed;
	}
	qsort(v, n, sizeof(*v), agent_conn_newest);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].shed && all + kept >= ag->cfg.max_connections)
			v[i].shed = 1;
		kept += !v[i].shed;
	}
}

/* Shuts the marked connections down, but for those that became sessions since they were judged
 * (SESSIONS: the addresses of the sessions now, sorted); returns how many. */
static size_t agent_gate_shed(agent_gate *g, const struct agent_gate_conn *v, size_t n,
                              const agent_addr *sessions, size_t nsess)
{
	size_t shed = 0;

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (!v[i].shed ||
		    (nsess && bsearch(&v[i].addr, sessions, nsess, sizeof(*sessions), agent_addr_cmp)))
			continue;
		if (agent_gate_hold(g, v[i].fd) != 0)
			continue;
		/* the same socket as judged, not one that took its descriptor number since */
		if (fstat(g->spare, &st) == 0 && (uint64_t)st.st_ino == v[i].ino &&
		    shutdown(g->spare, SHUT_RDWR) == 0)
			shed++;
	}
	return shed;
}

/* The remote addresses of the TCP sessions, sorted (the caller frees *RET); all sessions in *RET_ALL. */
static size_t agent_session_addrs(agent *ag, agent_addr **ret, size_t *ret_all)
{
	size_t n = 0;

	pthread_mutex_lock(&ag->table_lock);
	*ret_all = ag->session_count;
	*ret = calloc(ag->session_count ? ag->session_count : 1, sizeof(**ret));
	for (agent_session *s = ag->sessions; *ret && s; s = s->next)
		if (s->peer_addr.family)
			(*ret)[n++] = s->peer_addr;
	pthread_mutex_unlock(&ag->table_lock);
	if (n)
		qsort(*ret, n, sizeof(**ret), agent_addr_cmp);
	return n;
}

void agent_gate_sweep(agent *ag)
{
	agent_gate *g = &ag->gate;
	struct agent_gate_conn *v = NULL;
	agent_addr *sessions = NULL;
	uint64_t now = chan_monotonic_ns();
	size_t nsess, all, n, shed, kept = 0;

	if (!atomic_load(&g->ready) || g->nports == 0)
		return;
	nsess = agent_session_addrs(ag, &sessions, &all);
	if (!sessions)
		return;
	n = agent_gate_list(g, sessions, nsess, now, &v);
	agent_gate_judge(ag, v, n, sessions, nsess, all, now);
	free(sessions);
	/* a connection whose header arrived meanwhile is a session now: look again, just before */
	nsess = agent_session_addrs(ag, &sessions, &all);
	shed = sessions ? agent_gate_shed(g, v, n, sessions, nsess) : 0;
	(void)agent_gate_hold(g, g->home); /* the slot holds no socket between sweeps */
	if (shed)
		agent_log("gate: closed %zu of %zu connections that sent no SP header (timeout or caps)",
		          shed, n);
	/* what is still open is remembered, by inode, for the next sweep */
	for (size_t i = 0; i < n; i++)
		if (!v[i].shed)
			v[kept++] = v[i];
	if (kept)
		qsort(v, kept, sizeof(*v), agent_conn_by_ino);
	free(g->seen);
	g->seen = v;
	g->seen_n = kept;
	free(sessions);
}
