/* SPDX-License-Identifier: MIT */
/* Agent test helpers: a real memscan-agent on throwaway keys, an honest REQ peer and a raw TCP peer. */
#ifndef MEMSCAN_AGENTUTIL_H
#define MEMSCAN_AGENTUTIL_H

#include "cliutil.h"
#include "testutil.h"

#include <memscan/client.h>
#include <nng/nng.h>

#include "chan.h"
#include "keyfile.h"
#include "noise.h"
#include "wire.h"

/* ---- a running agent ---- */

/* How the agent is started (see ms_launch). */
extern ms_launch ms_launch_agent;

typedef struct ms_agent_key {
	char path[4200];
	uint8_t priv[KEYFILE_KEY_LEN];
	uint8_t pub[KEYFILE_KEY_LEN];
} ms_agent_key;

typedef struct ms_agent {
	char dir[4096]; /* temporary directory holding keys, authorized_keys and the agent's stderr */
	char auth_path[4200];
	char err_path[4200];
	ms_agent_key agent, full, listonly, stranger;
	pid_t pid;
	int out_fd; /* the agent's stdout */
	char url[200];
	char fp[KEYFILE_FINGERPRINT_LEN + 8];
} ms_agent;

/* A temporary directory with four fresh keys (agent, full, listonly, stranger) and an authorized_keys
 * granting full list,read,scan and listonly list. 0 or -1. */
int ms_agent_init(ms_agent *a);
/* cmocka setup and teardown of one test: *STATE is a fresh ms_agent (ms_agent_init, not started),
 * stopped and removed afterwards. */
int ms_agent_setup(void **state);
int ms_agent_teardown(void **state);
/* Generates key NAME in the agent's directory into K. */
int ms_agent_make_key(ms_agent *a, ms_agent_key *k, const char *name);
/* Rewrites authorized_keys with the full and/or listonly lines. */
int ms_agent_write_auth(ms_agent *a, int with_full, int with_list);
/* Rewrites authorized_keys with TEXT as it is. */
int ms_agent_write_auth_text(ms_agent *a, const char *text);
/* Starts the agent on tcp://127.0.0.1:0 (4 workers, 1 s handshake timeout) with EXTRA (NULL-terminated,
 * may be NULL) appended; 0 once it printed its banner and listening line. */
int ms_agent_start(ms_agent *a, const char *const *extra);
/* Waits up to MS for the agent to exit; its exit code (128+signal if killed), or -1. */
int ms_agent_wait(ms_agent *a, int ms);
/* SIGTERM, then waits up to MS: the exit code (0 expected, also under LeakSanitizer), or -1. */
int ms_agent_terminate(ms_agent *a, int ms);
/* Kills (SIGKILL) and reaps the agent if it still runs; closes its stdout. Safe to call twice. */
void ms_agent_stop(ms_agent *a);
/* Removes the temporary directory unless MEMSCAN_TEST_KEEP is set. */
void ms_agent_cleanup(ms_agent *a);
/* Whether the agent's stderr contains NEEDLE; how many times; waits up to MS for it to appear. */
int ms_agent_err_has(const ms_agent *a, const char *needle);
size_t ms_agent_err_count(const ms_agent *a, const char *needle);
int ms_agent_wait_err(const ms_agent *a, const char *needle, int ms);
/* SIGTERM, requiring exit code 0 (as ms_agent_run_suite does), then ms_agent_stop, and the temporary
 * directory removed if the agent exited cleanly. 0 or -1. */
int ms_agent_finish(ms_agent *a);
/* The bytes of A's last audit line of operation OP ("scan") on PID that ended with RESULT
 * ("result=CANCELLED"), waiting up to 5 s for one; -1 if there is none. */
long long ms_agent_audited_bytes(const ms_agent *a, const char *op, int pid, const char *result);
/* Descriptors the agent holds now (entries of /proc/PID/fd; asserts it can be read). */
size_t ms_agent_fd_count(const ms_agent *a);
/* The agent's resident set (VmRSS) in KiB, or -1. */
long ms_agent_rss_kib(const ms_agent *a);
/* The TCP port the agent listens on, or -1. */
int ms_agent_port(const ms_agent *a);
/* main() of a suite that shares one fixture FX and one agent A (started with ARGS): starts both, runs
 * TESTS (MEMSCAN_TEST_FILTER selects some), then stops the agent with SIGTERM and requires exit code
 * 0, so that its sanitizers' verdict counts. Returns the process exit code. */
int ms_agent_run_suite(const char *name, ms_agent *a, ms_fixture *fx, const char *const *args,
                       const struct CMUnitTest *tests, size_t count);
/* The same with the fixture started with FIXTURE_ARGS (NULL-terminated, may be NULL). */
int ms_agent_run_suite_fx(const char *name, ms_agent *a, ms_fixture *fx, const char *const *fixture_args,
                          const char *const *args, const struct CMUnitTest *tests, size_t count);

/* Pins A's key for the CLI: XDG_CONFIG_HOME becomes CONFIG_HOME, whose known_agents then names A's
 * address (127.0.0.1:PORT) with its key (`memscan trust`). 0 or -1. */
int ms_agent_trust(const ms_agent *a, const char *config_home);
/* A libmemscan-client of KEY connected to agent A (its key pinned); asserts each step. */
memscan_client *ms_agent_client(const ms_agent *a, const ms_agent_key *key);

/* ---- an honest peer: nng REQ socket and the channel's client side ---- */

typedef struct ms_peer {
	nng_socket sock;
	chan_session *s;
} ms_peer;

/* Opens a REQ socket dialed to the agent; sends and receives time out after TIMEO_MS. */
int ms_peer_open(ms_peer *p, const ms_agent *a, int timeo_ms);
/* Sends DATA as one message, as it is. */
int ms_peer_send(ms_peer *p, const uint8_t *data, size_t len);
/* Sends HS1 and completes handshake HS with the reply; -1 if there is none in time. */
int ms_peer_handshake(ms_peer *p, chan_client_hs *hs, const uint8_t hs1[CHAN_HS1_LEN]);
/* Opens and handshakes with KEY; -1 if the agent did not answer within TIMEO_MS. */
int ms_peer_connect(ms_peer *p, const ms_agent *a, const ms_agent_key *key, int timeo_ms);
void ms_peer_close(ms_peer *p);
/* Sends plaintext PT as the next request; the decoded Response, or NULL (no answer / bad reply). */
Memscan__V1__Response *ms_peer_call_pt(ms_peer *p, const uint8_t *pt, size_t len);
Memscan__V1__Response *ms_peer_call(ms_peer *p, const Memscan__V1__Request *req);
Memscan__V1__Response *ms_peer_hello(ms_peer *p);
Memscan__V1__Response *ms_peer_next(ms_peer *p, uint64_t cursor);
/* ListRegions of PID (default filter), START_TIME 0 = whatever process has the PID now. */
Memscan__V1__Response *ms_peer_list_regions(ms_peer *p, int pid, uint64_t start_time);
/* Snapshot of the default-filtered regions of PID within [START, END). */
Memscan__V1__Response *ms_peer_snapshot(ms_peer *p, int pid, uint64_t start, uint64_t end);
/* The same asked with PROGRESS_MS: Progress replies until it is read (docs/protocol.md). */
Memscan__V1__Response *ms_peer_snapshot_progress(ms_peer *p, int pid, uint64_t start, uint64_t end,
                                                 uint32_t progress_ms);
Memscan__V1__Response *ms_peer_release(ms_peer *p, uint64_t snapshot_id);
/* HeatStart of the default-filtered regions of PID (no bins); HeatSample of heat HEAT_ID in bin 0. */
Memscan__V1__Response *ms_peer_heat_start(ms_peer *p, int pid);
/* HeatStart of PID's default-filtered regions within [START, END) (0, 0: all), asked with
 * PROGRESS_MS. */
Memscan__V1__Response *ms_peer_heat_start_progress(ms_peer *p, int pid, uint64_t start, uint64_t end,
                                                   uint32_t progress_ms);
Memscan__V1__Response *ms_peer_heat_sample(ms_peer *p, uint64_t heat_id);
/* PointerScan of PID for ADDR (depth DEPTH, max_offset MAX_OFFSET, at most 100000 chains), asked with
 * PROGRESS_MS. */
Memscan__V1__Response *ms_peer_pointer_scan(ms_peer *p, int pid, uint64_t addr, unsigned depth,
                                            uint64_t max_offset, uint32_t progress_ms);
/* Follows Progress replies from RESP on with Next until another reply, which it returns; counts them
 * into *RET_COUNT and asserts each against the one before (a cursor, DONE growing within a TOTAL that
 * stays the same, *RET_TOTAL). */
Memscan__V1__Response *ms_peer_follow_progress(ms_peer *p, Memscan__V1__Response *resp, size_t *ret_count,
                                               uint64_t *ret_total);
/* Read of LEN bytes at ADDR of PID (START_TIME 0: whatever process has the PID), or of kept snapshot
 * SNAPSHOT_ID if not 0. */
Memscan__V1__Response *ms_peer_read(ms_peer *p, int pid, uint64_t start_time, uint64_t addr, uint64_t len,
                                    uint64_t snapshot_id);
/* Scan of PID's default-filtered regions for PATTERN. */
Memscan__V1__Response *ms_peer_scan(ms_peer *p, int pid, const char *pattern);
/* Diff against kept snapshot SNAPSHOT_ID. */
Memscan__V1__Response *ms_peer_diff(ms_peer *p, uint64_t snapshot_id, int update, int refilter);
/* The same asked with PROGRESS_MS: each page within about that time, with how far it compared. */
Memscan__V1__Response *ms_peer_diff_progress(ms_peer *p, uint64_t snapshot_id, int update, int refilter,
                                             uint32_t progress_ms);
/* 0 if a fresh session of the full key gets a Hello and a ListRegions of PID answered; -1 otherwise. */
int ms_agent_serving(const ms_agent *a, int pid);
/* Asserts RESP is an Error with CODE and a message, and frees it. */
void ms_peer_expect_error(Memscan__V1__Response *resp, int code);

/* ---- a raw peer: a TCP socket speaking nng's SP/TCP framing by hand, and Noise IK by hand ---- */

#define MS_SP_PROTO_REQ0 0x30
#define MS_SP_PROTO_REP0 0x31

typedef struct ms_tcp_peer {
	int fd;
	uint32_t req_id; /* REQ0 request id of the next message (high bit set on the wire) */
	/* after ms_peer_tcp_handshake */
	uint8_t hs1[CHAN_HS1_LEN], hs2[CHAN_HS2_LEN]; /* what was sent and received */
	uint8_t k1[NOISE_KEY_LEN], k2[NOISE_KEY_LEN]; /* client -> agent, agent -> client */
	uint64_t sid;
	uint32_t perms;
	uint64_t n; /* counter of the next request */
} ms_tcp_peer;

/* Connects to the agent's port; receives and sends time out after TIMEO_MS. No SP header sent. */
int ms_peer_tcp_dial(ms_tcp_peer *t, const ms_agent *a, int timeo_ms);
/* Sends the SP header announcing PROTO and checks the agent's (REP0). */
int ms_peer_tcp_sp_header(ms_tcp_peer *t, uint16_t proto);
/* Dial, then the SP header as a REQ0 peer. */
int ms_peer_tcp_open(ms_tcp_peer *t, const ms_agent *a, int timeo_ms);
/* Writes LEN raw bytes (no framing); 0 or -1 (e.g. the agent closed the connection). */
int ms_peer_tcp_write(ms_tcp_peer *t, const void *data, size_t len);
/* Sends FRAME as one REQ0 message: 8-byte big-endian length, request id, FRAME. */
int ms_peer_tcp_send(ms_tcp_peer *t, const uint8_t *frame, size_t len);
/* Receives one REP0 message: 1 with the frame (request id stripped) in malloc'd *RET, 0 if the agent
 * closed the connection, -1 on timeout or malformed framing. */
int ms_peer_tcp_recv(ms_tcp_peer *t, uint8_t **ret, size_t *ret_len);
/* 1 if the agent closes the connection without sending a single byte (within the timeout). */
int ms_peer_tcp_closed(ms_tcp_peer *t);
/* Lingering off: closing resets the connection (RST) instead of FIN. */
void ms_peer_tcp_reset_on_close(ms_tcp_peer *t);
void ms_peer_tcp_close(ms_tcp_peer *t);

/* Writes an HS1 from PRIV to AGENT_PUB into OUT, claiming static key FAKE_S_PUB instead of PRIV's
 * public key if not NULL; the handshake state is returned for ms_peer_tcp_finish (free it with
 * noise_hs_free). 0 or -1. */
int ms_peer_make_hs1(const uint8_t priv[NOISE_KEY_LEN], const uint8_t agent_pub[NOISE_KEY_LEN],
                     const uint8_t *fake_s_pub, uint8_t out[CHAN_HS1_LEN], noise_hs **ret);
/* Completes HS with the agent's HS2 FRAME: keys, session id and permissions into T. */
int ms_peer_tcp_finish(ms_tcp_peer *t, noise_hs *hs, const uint8_t *frame, size_t len);
/* Sends a fresh HS1 of KEY and completes the handshake with the reply. 0 or -1. */
int ms_peer_tcp_handshake(ms_tcp_peer *t, const ms_agent *a, const ms_agent_key *key);
/* Seals PT as a DATA frame of session SID under counter N and key K; OUT holds len + 36 bytes. */
void ms_peer_seal_raw(const uint8_t k[NOISE_KEY_LEN], uint64_t sid, uint64_t n, const uint8_t *pt, size_t len,
                      uint8_t *out);
/* Opens an agent reply sealed under counter N; the decoded Response or NULL. */
Memscan__V1__Response *ms_peer_tcp_open_reply(ms_tcp_peer *t, uint64_t n, const uint8_t *frame, size_t len);
/* Seals PT under the next counter, sends it and opens the reply; NULL if none or not authentic. */
Memscan__V1__Response *ms_peer_tcp_call_pt(ms_tcp_peer *t, const uint8_t *pt, size_t len);

#endif /* MEMSCAN_AGENTUTIL_H */
