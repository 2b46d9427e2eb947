/* SPDX-License-Identifier: MIT */
/* memscan-bench: the bench's own agent on loopback (agent.c) and the counting TCP relay (relay.c). */
#ifndef MEMSCAN_BENCH_REMOTE_H
#define MEMSCAN_BENCH_REMOTE_H

#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>

/* A memscan-agent started by the bench, and the throwaway keys it and its clients use. */
typedef struct remote {
	const bench_opts *o;
	child agent;
	char url[128];
	char agent_pub[256];
	char key_dir[300];
	int nkeys;
} remote;

/* ---- agent.c ---- */
/* Starts the agent on 127.0.0.1 port 0 with keys in O's tmpdir: the agent's, "main" and "proxy" for
 * the measuring clients, c0..c(clients-1) for the concurrent ones, all authorized. 0 or -1. */
int remote_start(remote *rm, const bench_opts *o);
/* Stops the agent (SIGTERM, then what child_stop does); a remote that never started is fine. */
void remote_stop(remote *rm);
/* Connects the client of key NAME to URL (the agent's, or a relay in front of it); *RET on success. */
int remote_client_open(const remote *rm, const char *name, const char *url, struct memscan_client **ret);

/* ---- relay.c ---- */
/* A TCP relay on 127.0.0.1 in front of the agent that counts the bytes it carries both ways. */
typedef struct proxy {
	int lfd, port, up_port;
	atomic_uint_least64_t bytes;
	atomic_int stop;
	pthread_t th;
} proxy;

/* A connected TCP socket to 127.0.0.1:PORT (TCP_NODELAY), or -1. */
int connect_loopback(int port);
/* A listening socket on 127.0.0.1 at a port the kernel picks (*RET_PORT), or -1. */
int listen_loopback(int *ret_port);
/* Starts relaying from a new port (P->port) to 127.0.0.1:UP_PORT in a thread of its own. 0 or -1. */
int proxy_start(proxy *p, int up_port);
void proxy_stop(proxy *p);
/* The port of a tcp:// URL, or -1. */
int url_port(const char *url);

#endif /* MEMSCAN_BENCH_REMOTE_H */
