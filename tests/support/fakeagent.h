/* SPDX-License-Identifier: MIT */
/* A fake agent for hostile-agent tests: the channel's agent side on a REP socket, in a thread, on
 * 127.0.0.1 with real keys, answering Hello itself and every other request with the test's handler. */
#ifndef MEMSCAN_FAKEAGENT_H
#define MEMSCAN_FAKEAGENT_H

#include <pthread.h>
#include <stdatomic.h>

#include <memscan/client.h>
#include <nng/nng.h>

#include "agentutil.h"
#include "chan.h"
#include "wire.h"

typedef struct ms_fake ms_fake;
/* Answers REQ (any operation but Hello) with ms_fake_send, or not at all; runs on the fake's thread. */
typedef void (*ms_fake_fn)(ms_fake *f, const Memscan__V1__Request *req);

struct ms_fake {
	nng_socket sock;
	pthread_t thread;
	atomic_int stop, handshakes;
	uint8_t priv[32], pub[32];               /* the fake agent's key */
	uint8_t client_priv[32], client_pub[32]; /* the one client key it admits */
	chan_session *sess;                      /* one session at a time */
	uint64_t page_bytes;                     /* announced in Hello */
	int value_sets; /* Hello announces FEATURE_VALUE_SETS (set it before a client connects) */
	int heatmap;    /* ... and FEATURE_HEATMAP */
	int progress;   /* ... and FEATURE_PROGRESS */
	ms_fake_fn on_request;
	char url[64];
};

/* Starts F on tcp://127.0.0.1:0 with fresh keys, announcing PAGE_BYTES pages and ZSTD; 0 or -1. */
int ms_fake_start(ms_fake *f, uint64_t page_bytes, ms_fake_fn on_request);
void ms_fake_stop(ms_fake *f);
/* For the CLI: starts F as ms_fake_start does (1 MiB pages) with the keys of agent A (ms_agent_init
 * here, never started), pinned in A's directory made the CLI's XDG_CONFIG_HOME; TARGET receives
 * "127.0.0.1:PORT:42". Fails the test if it cannot. */
void ms_fake_start_pinned(ms_fake *f, ms_agent *a, ms_fake_fn on_request, char *target, size_t len);
/* Seals RESP as the reply to the request being answered and sends it. */
void ms_fake_send(ms_fake *f, const Memscan__V1__Response *resp);
/* Sends a SnapshotReply: snapshot ID announcing TOTAL bytes, with one anonymous region [START, +LEN). */
void ms_fake_send_snapshot(ms_fake *f, uint64_t id, uint64_t total, uint64_t start, uint64_t len);
/* Sends a RegionPage, the last: one anonymous region [START, +LEN) of a process started at START_TIME. */
void ms_fake_send_regions(ms_fake *f, uint64_t start, uint64_t len, uint64_t start_time);
/* Sends an Error reply with CODE (a memscan_err) and MESSAGE. */
void ms_fake_send_error(ms_fake *f, int code, const char *message);
/* A client with F's keys (compression on if COMPRESS, 5 s timeout), connected; fails the test if not. */
memscan_client *ms_fake_client(ms_fake *f, int compress);

#endif /* MEMSCAN_FAKEAGENT_H */
