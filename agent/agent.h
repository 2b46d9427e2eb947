/* SPDX-License-Identifier: MIT */
/* memscan-agent internals: configuration, sessions, kept snapshots, paging and request handling. */
#ifndef MEMSCAN_AGENT_H
#define MEMSCAN_AGENT_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include <memscan/memscan.h>

#include "chan.h"
#include "keyfile.h"
#include "wire.h"
#include "zpage.h"

#ifndef MEMSCAN_AGENT_VERSION
#define MEMSCAN_AGENT_VERSION "0.0.0"
#endif

/* Exit codes. */
#define AGENT_EXIT_USAGE   2
#define AGENT_EXIT_RUNTIME 1

/* Largest live Read (paged lazily, so this bounds time, not memory). */
#define AGENT_READ_MAX (1ull << 30)
/* Most scan matches kept for paging, whatever max_results says. */
#define AGENT_SCAN_MAX_MATCHES (16u << 20)
/* Most items in one page (bounds what the client allocates while unpacking it). */
#define AGENT_PAGE_MAX_ITEMS 200000u
/* Heap blocks up to this size are reused (not mmapped afresh): a reply frame of a full page fits. */
#define AGENT_HEAP_BLOCK_MAX (8u << 20)
/* Free heap kept resident at the top of an arena (above it, it goes back to the system). */
#define AGENT_HEAP_KEEP (12u << 20)
/* Most snapshots one session may keep: the highest max_snapshots accepted, and its default. Each
 * kept snapshot holds descriptors of its process (a pidfd, and /proc files while in use). */
#define AGENT_MAX_SNAPSHOTS     256u
#define AGENT_DEFAULT_SNAPSHOTS 64u
/* Most --listen addresses: one listener each; a list this long is a mistake, not a host's needs. */
#define AGENT_LISTEN_MAX 256u
/* Most keys whose newest handshake label is remembered (replay protection): authorized_keys holds at
 * most KEYFILE_LINES_MAX keys, and the labels of keys a reload removed stay (a key put back must
 * still be fresh), so room for sixteen reloads that bring wholly new files. A full table refuses new
 * keys' handshakes (reason=replay-table-full) until the agent restarts. */
#define AGENT_REPLAY_MAX (16u * KEYFILE_LINES_MAX)
/* Keyscans answered per second, all peers together: enough for people and fleet tooling, too few for
 * the agent to serve as a reflector (each answer is 36 bytes to a peer that completed a TCP
 * connection). */
#define AGENT_KEYSCAN_PER_SEC 16u
/* Longest scan pattern text accepted. */
#define AGENT_PATTERN_TEXT_MAX (4 * MEMSCAN_PATTERN_MAX)

typedef struct agent_config {
	char **listen;
	size_t listen_count, listen_cap;
	char *key_path;
	char *auth_path;
	unsigned workers;
	unsigned max_connections;
	unsigned max_per_peer;
	uint64_t session_budget;
	uint64_t global_budget;
	unsigned handshake_timeout_ms;
	unsigned max_snapshots; /* per session */
	int keyscan;            /* answer keyscan requests with the agent's public key (default yes) */
	int read_absent;        /* read pages pagemap reports never written instead of zero-filling them */
	uint64_t set_idle_ms;   /* a value set unused this long is dropped */
	unsigned max_sets;      /* value sets one client key may keep */
	uint64_t set_budget;    /* bytes the value sets of one client key may hold */
} agent_config;

/* Value sets (vsets.c): the most one key may keep (the highest max_sets accepted) and the default;
 * the default idle time and per-key budget. Sets hold no descriptor (only a PID and start time). */
#define AGENT_MAX_SETS            1024u
#define AGENT_DEFAULT_SETS        16u
#define AGENT_DEFAULT_SET_IDLE_MS (30ull * 60 * 1000)
#define AGENT_DEFAULT_SET_BUDGET  (1ull << 30)

/* A value set kept on the agent for a client key: it outlives the connection that made it. */
typedef struct agent_vset {
	uint64_t id;
	uint8_t owner[KEYFILE_KEY_LEN]; /* the client key that made it: only it finds the set */
	memscan_value_set *set;
	uint64_t bytes;   /* charged to the owner's set budget and to the agent's budget */
	uint64_t used_ns; /* last use (monotonic): idle sets expire */
	int busy;         /* a request works on it (not expired, released or used by another) */
	struct agent_vset *next;
} agent_vset;

/* A snapshot kept on the agent for one session. */
typedef struct agent_snap {
	uint64_t id;
	memscan_process *proc; /* pins the process: a reused PID answers PROCESS_GONE */
	memscan_detector *det;
	memscan_filter filter; /* path_substr points to path_copy */
	char *path_copy;
	uint64_t base_bytes, cur_bytes; /* charged to the budgets: baseline and detector's current read */
	struct agent_snap *next;
} agent_snap;

/* Heats a session may keep at once: each holds a pidfd and a baseline (charged to the budgets). */
#define AGENT_MAX_HEATS 16u

/* A heat kept on the agent for one session (op_heat.c): a watching detector and the counts of what
 * its samples found changed; only the counts ever leave the agent. */
typedef struct agent_heat {
	uint64_t id;
	memscan_process *proc; /* pins the process: a reused PID answers PROCESS_GONE */
	memscan_detector *det;
	memscan_filter filter; /* path_substr points to path_copy */
	char *path_copy;
	memscan_heat *heat;
	uint32_t bins;
	uint64_t cell_size; /* as HeatStart asked (0: the library's default) */
	uint64_t max_cells;
	uint64_t base_bytes, heat_bytes; /* charged to the budgets: the baseline and the counts */
	size_t paths_summed;             /* the heat's first regions whose paths path_bytes sums */
	uint64_t path_bytes;
	int ended; /* its process exited: no more samples, the counts stay readable */
	struct agent_heat *next;
} agent_heat;

/* One scan match, as kept for paging. */
struct agent_match {
	uint64_t address;
	uint64_t region_start;
};

struct agent_pending;
struct agent_req;

/* What one kind of paged result does (nng's rep0_ctx_ops is the model): each operation file defines
 * its kind's table and keeps its state in its member of agent_pending's union. */
typedef struct agent_page_ops {
	/* Builds the next page into the request's reply (the pending result is dropped after its last). */
	int (*emit)(struct agent_req *r);
	/* Releases the kind's state; FINISH: the session goes on, so complete what must not be left half
	 * done (a diff with update reads the rest into its baseline). May be NULL. */
	void (*clear)(struct agent_pending *p, int finish);
} agent_page_ops;

/* The one paged result a session keeps. */
typedef struct agent_pending {
	const agent_page_ops *ops; /* its kind; NULL = nothing pending */
	uint64_t cursor;           /* what the next Next must carry; 0 = the last page was sent */
	size_t index;              /* next item */
	int zstd;                  /* read, diff: the client asked for compressed pages */
	struct agent *ag;          /* whose budgets CHARGED (and a diff's snapshot) are charged to */
	struct agent_session *owner;
	uint64_t charged;        /* bytes kept for paging, charged to OWNER's and AG's budgets */
	memscan_process *target; /* the process the result reads or came from: checked at every page */
	memscan_process *proc;   /* owned: a live read's or a scan's target */
	agent_snap *snap;        /* a snapshot reply, a snapshot read or a diff: its kept snapshot */
	union {
		struct {
			memscan_proc_info *items;
			size_t count;
		} procs;
		struct {
			memscan_region_list *list;
			uint64_t start_time;
		} regions;
		struct {
			uint64_t addr, end;                  /* next address, end */
			memscan_snapshot_region snap_region; /* snapshot read: the region holding the range */
		} read;
		struct {
			memscan_diff *part;          /* the current part of STREAM */
			memscan_diff_stream *stream; /* read and compared page by page */
			uint64_t offset;             /* bytes of the current run already sent */
			uint64_t runs; /* runs handed out by STREAM so far (joined across parts) */
			int ranges_sent, update;
			uint32_t progress_ms; /* each page within about this (0: no bound) */
		} diff;
		struct {
			struct agent_match *items;
			size_t count;
		} scan;
		struct {
			agent_heat *heat; /* the session's: cleared before any other request runs */
		} heat;
		struct agent_job *job; /* work answered with Progress until it is done (job.c) */
		struct {
			memscan_pointer_chains *chains;
			memscan_pointer_resolution *res; /* following: where each chain led */
			int *status;                     /* following: each one's memscan_err */
		} pointers;
	} u;
} agent_pending;

/* A TCP peer's address, comparable as bytes (family 0: not TCP). */
typedef struct agent_addr {
	uint8_t family; /* 4 or 6 */
	uint16_t port;
	uint8_t ip[16]; /* IPv4 in the first 4 bytes */
} agent_addr;

typedef struct agent_session {
	/* protected by the table lock */
	struct agent_session *next;
	unsigned refs;
	int closed;  /* the pipe is gone: free when the last reference drops */
	int hung_up; /* the agent is closing the pipe: a reply still being built is dropped */
	int hs_done;
	uint32_t pipe_id;
	nng_pipe pipe;
	uint64_t created_ns;
	char peer[80];    /* "127.0.0.1:4242", "[::1]:4242", "ipc" */
	char peer_ip[64]; /* what the per-peer cap counts */
	agent_addr peer_addr;
	uint8_t client_pub[KEYFILE_KEY_LEN];
	char fp[KEYFILE_FINGERPRINT_LEN];
	uint32_t perms, uid_min, uid_max;
	char exe[KEYFILE_EXE_MAX]; /* the key's exe= patterns ("" = any executable) */

	/* a request of this session is being handled: a second one arriving meanwhile (a client that
	 * pipelines, which the protocol forbids) closes the pipe instead of occupying another worker */
	atomic_int in_flight;
	/* set when the pipe goes (or the agent hangs up, or stops): the session's process handles ask it
	 * (memscan_process_set_cancel), so a request whose client left stops within ~10 ms */
	atomic_int cancel;

	/* protected by LOCK (one request at a time) */
	pthread_mutex_t lock;
	chan_session *chan;
	int keyscanned; /* the pipe asked for the agent's key: nothing else is served on it */
	agent_snap *snaps;
	size_t snap_count;
	agent_heat *heats;
	size_t heat_count;
	agent_pending pending;
	/* the audit line of the operation whose paged result is being sent: written once, with the
	 * bytes of all its pages, when the result ends (see agent_audit_request) */
	struct {
		const char *op; /* NULL: none open */
		int pid;
		uint64_t bytes;
	} audit;
	uint64_t budget_used;
	memscan_process *proc_cache; /* the last target of a listing: see agent_open_target_cached */
} agent_session;

typedef struct agent_replay {
	uint8_t pub[KEYFILE_KEY_LEN];
	uint8_t tai[CHAN_TAI64N_LEN];
} agent_replay;

/* REP contexts per worker thread. */
#define AGENT_CTX_PER_WORKER 2

/* One REP context: a state machine on nng's callbacks (server.c), with the request it is handling. */
struct agent_ctx {
	struct agent *ag;
	nng_ctx ctx;
	nng_aio *aio;
	int sending;             /* the aio carries a reply (else it receives) */
	struct agent_session *s; /* the request's session: referenced, its in_flight claimed */
	nng_msg *msg;            /* its frame (DATA: opened in place, PT_LEN bytes of plaintext) */
	size_t pt_len;
	Memscan__V1__Request *req; /* DATA: the unpacked request, NULL if malformed */
	struct agent_ctx *next;    /* in the workers' queue */
};

/* The compressors of read and diff pages, shared by the workers: as many as cores (compression is
 * CPU-bound; more would only hold memory: each keeps a zstd context and a page-sized output buffer,
 * ~4.6 MiB once used, and a page-sized input buffer once it has packed diff runs). */
typedef struct agent_zpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	zpage_enc **idle;
	size_t idle_n, count;
	int ready;
} agent_zpool;

/* Watches TCP connections that have not sent their SP header yet (gate.c). */
typedef struct agent_gate {
	atomic_int ready;
	void *dir;       /* DIR of /proc/self/fd */
	int home, spare; /* its descriptor; a slot of ours pointed (dup3) at the socket looked at */
	uint16_t *ports; /* the TCP listeners' ports */
	size_t nports;
	struct agent_gate_conn *seen; /* last sweep's connections without a session, by inode */
	size_t seen_n;
} agent_gate;

typedef struct agent {
	agent_config cfg;
	uint8_t *priv; /* sodium_malloc */
	uint8_t pub[KEYFILE_KEY_LEN];
	char fp[KEYFILE_FINGERPRINT_LEN];
	pid_t self_pid;

	pthread_mutex_t auth_lock;
	keyfile_auth *auth;
	size_t auth_count;
	uint64_t auth_gen; /* bumped by every reload of AUTH */
	agent_replay *replay;
	size_t replay_count, replay_cap;
	/* an HS1 labelled before this (the agent's start) is refused: the labels above are not kept
	 * across a restart */
	uint8_t start_tai[CHAN_TAI64N_LEN];
	/* keyscans answered in the current second (under AUTH_LOCK): at most AGENT_KEYSCAN_PER_SEC */
	uint64_t keyscan_second;
	unsigned keyscan_count;

	pthread_mutex_t table_lock;
	/* taken by every close of a session's pipe by the agent and by the hand-over of a reply after the
	 * check that its session is not closing (see agent_ctx_reply); taken before the table lock */
	pthread_mutex_t close_lock;
	agent_session *sessions;
	size_t session_count;
	int shutting_down;

	pthread_mutex_t budget_lock;
	uint64_t global_used;

	pthread_mutex_t vset_lock; /* taken before budget_lock */
	agent_vset *vsets;

	agent_zpool zpool;
	agent_gate gate;

	nng_socket sock;
	nng_listener *listeners;
	size_t listener_count;
	struct agent_ctx *ctxs;
	size_t ctx_count;
	pthread_t *threads; /* the workers: requests that are not light */
	size_t thread_count;
	pthread_mutex_t work_lock;
	pthread_cond_t work_cond;
	struct agent_ctx *work_head, *work_tail;
	pthread_t housekeeper;
	int housekeeper_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	atomic_int stopping;
	atomic_int jobs; /* work running on threads of its own (job.c): at most half cfg.workers */
} agent;

/* One request being handled: inputs, the packed reply or an error, and what the audit line says. */
typedef struct agent_req {
	agent *ag;
	agent_session *s;
	const Memscan__V1__Request *req;
	zpage_enc *enc; /* a compressor taken from the pool for this reply (see compress.c) */
	nng_msg *out;   /* the reply frame: packed Response at CHAN_DATA_AD_LEN, room for the tag */
	size_t out_len; /* bytes of the packed Response */
	int err;
	char msg[256];
	const char *op;
	int pid;
	uint64_t bytes;
	int light; /* on an nng thread: bounded work only (agent_handle_request) */
	int defer; /* ... and this request needs more: hand it to a worker */
} agent_req;

/* config.c */
int agent_config_parse(int argc, char **argv, agent_config *cfg);
void agent_config_free(agent_config *cfg);
int agent_parse_size(const char *s, uint64_t *ret);

/* session.c */
/* A condition variable whose timed waits count on CLOCK_MONOTONIC (0, or a pthread error). */
int agent_cond_init_monotonic(pthread_cond_t *cond);
void agent_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg);
agent_session *agent_session_get(agent *ag, uint32_t pipe_id);
void agent_session_put(agent *ag, agent_session *s);
/* True once the session's pipe is gone or being closed by the agent (read under the table lock). */
int agent_session_closed(agent *ag, agent_session *s);
/* Marks S as being closed by the agent, before its pipe is: a worker that finishes a request on it
 * later drops the reply instead of sending it to a closing pipe (nng 1.5 loses such a message). */
void agent_session_hang_up(agent *ag, agent_session *s);
/* Completes S's handshake with the grant AUTH, found in the authorized keys of generation GEN; -1
 * (S stays without an identity) if the keys were reloaded since and no longer grant exactly that. */
int agent_session_set_identity(agent *ag, agent_session *s, const keyfile_auth *auth, uint64_t gen);
/* Closes PIPE under the close lock (see agent_ctx_reply in server.c): mark its session hung up or
 * closed first. Returns nng_pipe_close's result. */
int agent_close_pipe(agent *ag, nng_pipe pipe);
void agent_sessions_free_all(agent *ag);
/* Makes PROC's long operations stop once S's pipe goes or the agent stops (S outlives PROC's use). */
int agent_session_watch(agent_session *s, memscan_process *proc);
/* The question agent_session_watch asks, for work that takes hooks instead of a process handle: nonzero
 * once session S (CTX)'s pipe went or the agent is stopping. */
int agent_session_cancelled(void *ctx);
/* Cancels the work of every session: the agent is stopping. */
void agent_sessions_cancel_all(agent *ag);
int agent_housekeeper_start(agent *ag);
void agent_housekeeper_stop(agent *ag);
void agent_revoke_sessions(agent *ag);

/* budget.c */
/* "SIZE (N bytes) exceed WHAT (USED of BUDGET in use; REMEDY or raise KEY in agent.conf, or --KEY)" into
 * MSG, sizes for people (memscan_size_format), KEY's '_' as '-' in the option. */
void agent_budget_msg(char *msg, size_t msg_len, uint64_t bytes, uint64_t used, uint64_t budget,
                      const char *what, const char *remedy, const char *key);
/* Charges BYTES to S's and the agent's budgets; -1 with the reason in MSG if either would be exceeded. */
int agent_budget_reserve(agent *ag, agent_session *s, uint64_t bytes, char *msg, size_t msg_len);
void agent_budget_release(agent *ag, agent_session *s, uint64_t bytes);
/* Bytes S could reserve now: the smaller of what its session budget and the agent's budget have left. */
uint64_t agent_budget_room(agent *ag, const agent_session *s);
/* Charges BYTES that R's pending result keeps to the session's and the agent's budgets (given back
 * when it is cleared); fails R with BUSY, naming WHAT, if either budget would be exceeded. */
int agent_pending_charge(agent_req *r, uint64_t bytes, const char *what);
/* Charges BYTES to the agent's budget alone (value sets, which outlive sessions); -1 with the
 * reason in MSG if it would be exceeded. */
int agent_global_reserve(agent *ag, uint64_t bytes, char *msg, size_t msg_len);
void agent_global_release(agent *ag, uint64_t bytes);
/* A random nonzero id (snapshots, cursors). */
uint64_t agent_random_id(void);

/* snaps.c */
agent_snap *agent_snap_find(agent_session *s, uint64_t id);
void agent_snap_free(agent *ag, agent_session *s, agent_snap *snap);
void agent_snaps_free_all(agent *ag, agent_session *s);
/* agent_target_recheck on SNAP's process; on failure SNAP is released as well (agent_snap_drop). */
int agent_snap_check(agent_req *r, agent_snap *snap);
/* Releases SNAP, which failed a check of R's key limits (it may hold bytes read after the process
 * changed, which no later check could tell apart), and says so in R's message. */
void agent_snap_drop(agent_req *r, agent_snap *snap);

/* vsets.c: value sets by key, budgets, idle expiry */
/* Finds set ID of R's key and claims it for R (agent_vset_unclaim when done): NOT_FOUND if this key
 * has no such set, BUSY if another request works on it. */
int agent_vset_claim(agent_req *r, uint64_t id, agent_vset **ret);
void agent_vset_unclaim(agent *ag, agent_vset *v);
/* Fails R with BUSY unless BYTES more fit in R's key's set budget and the agent's budget. */
int agent_vset_room(agent_req *r, uint64_t bytes);
/* Candidates that fit in R's key's set budget at WIDTH bytes each, GIVE_BACK bytes of the key's
 * sets being released for them (at least 1). */
uint64_t agent_vset_max_candidates(agent_req *r, size_t width, uint64_t give_back);
/* Keeps SET (owned by the store on success) as a new set of R's key charged BYTES: LIMIT at the
 * key's max_sets, BUSY over a budget. The new set is claimed by R. */
int agent_vset_add(agent_req *r, memscan_value_set *set, uint64_t bytes, agent_vset **ret);
/* Replaces V's set (claimed by R) with SET, charged BYTES instead (SET is the store's on success). */
int agent_vset_replace(agent_req *r, agent_vset *v, memscan_value_set *set, uint64_t bytes);
/* Frees V, claimed by R (it is gone from the store). */
void agent_vset_drop(agent *ag, agent_vset *v);
/* Releases set ID of R's key: NOT_FOUND, BUSY as agent_vset_claim. */
int agent_vset_release(agent_req *r, uint64_t id);
/* Drops the sets idle for longer than set_idle (the housekeeper calls it). */
void agent_vsets_expire(agent *ag);
/* Drops the sets of keys the authorized keys no longer grant scan (after a reload). */
void agent_vsets_revoke(agent *ag);
void agent_vsets_free_all(agent *ag);

/* page.c */
/* R's session's pending result becomes one of kind OPS (its union member filled by the caller). */
void agent_pending_start(agent_req *r, const agent_page_ops *ops);
/* Drops the paged result; a streamed diff with update first reads the rest into its baseline. */
void agent_pending_clear(agent_pending *p);
/* Drops the paged result without finishing anything (the session is going away). */
void agent_pending_abandon(agent_pending *p);
/* Checks the key's limits again on the pending result's target (before every page, and after a
 * page's bytes were read): a failure drops the result, and a kept snapshot it belongs to. */
int agent_page_check(agent_req *r);
/* Sets the page's cursor: a fresh random one if more follows, else 0. */
uint64_t agent_page_cursor(agent_pending *p, int more);
/* Packs RESP; the pending result is dropped if this was its last page. */
int agent_page_finish(agent_req *r, Memscan__V1__Response *resp);
/* Fills item INDEX into ITEM and returns its packed size. */
typedef size_t (*agent_fill_fn)(agent_pending *p, size_t index, void *item);
/* One page of items (of TOTAL, ITEM_SIZE bytes each, filled by FILL) into *N_FIELD / *ITEMS_FIELD
 * and *CURSOR_FIELD of RESP, packed; returns MEMSCAN_OK or NO_MEMORY. */
int agent_items_page(agent_req *r, size_t total, size_t item_size, agent_fill_fn fill,
                     Memscan__V1__Response *resp, size_t *n_field, void ***items_field,
                     uint64_t *cursor_field);
/* The parts of RANGES inside [START, END), as protobuf Ranges (clipped); -1 if no memory. */
int agent_ranges_to_proto(const memscan_ranges *ranges, uint64_t start, uint64_t end,
                          Memscan__V1__Range **ret_items, Memscan__V1__Range ***ret_ptrs, size_t *ret_n);
/* Sends the next page of the session's pending result. */
int agent_page_emit(agent_req *r);
int agent_op_next(agent_req *r);

/* op_list.c, op_read.c, op_scan.c, op_snapshot.c, op_diff.c: one file an operation */
int agent_op_hello(agent_req *r);
int agent_op_list_processes(agent_req *r);
int agent_op_list_regions(agent_req *r);
/* Lists the regions of PROC selected by FILTER into *RET (on an nng thread, only a small listing:
 * a larger one defers R to a worker). */
int agent_target_regions(agent_req *r, memscan_process *proc, const Memscan__V1__Filter *filter,
                         memscan_region_list **ret);
int agent_op_read(agent_req *r);
int agent_op_scan(agent_req *r);
int agent_op_snapshot(agent_req *r);
int agent_op_release(agent_req *r);
int agent_op_diff(agent_req *r);
int agent_op_pointers(agent_req *r); /* op_pointers.c */
/* op_values.c */
int agent_op_value_scan(agent_req *r);
int agent_op_value_narrow(agent_req *r);
int agent_op_value_candidates(agent_req *r);
int agent_op_value_release(agent_req *r);

/* op_heat.c, heats.c: heatmaps counted on the agent */
int agent_op_heat_start(agent_req *r);
int agent_op_heat_sample(agent_req *r);
int agent_op_heat_cells(agent_req *r);
int agent_op_heat_release(agent_req *r);
agent_heat *agent_heat_find(agent_session *s, uint64_t id);
/* Unlinks HEAT from S, frees it and gives its bytes back to the budgets. */
void agent_heat_free(agent *ag, agent_session *s, agent_heat *heat);
void agent_heats_free_all(agent *ag, agent_session *s);
/* Checks the key's limits on H's process again: a process that exited ends the heat (PROCESS_GONE;
 * its counts stay readable); any other failure releases H (it fails R). */
int agent_heat_recheck(agent_req *r, agent_heat *h);

/* gate.c */
/* Starts watching the listeners' connections (after they listen); -1 if it cannot. */
int agent_gate_init(agent *ag);
/* Shuts down connections that sent no SP header within the handshake timeout, or beyond the caps
 * (oldest first). Called by the housekeeper. */
void agent_gate_sweep(agent *ag);
void agent_gate_free(agent *ag);
void agent_addr_from_nng(const nng_sockaddr *sa, agent_addr *ret);

/* compress.c */
int agent_zpool_init(agent *ag);
void agent_zpool_free(agent *ag);
/* Replaces PAGE's bytes with their zstd frame if the client asked for compression and the frame is
 * smaller. The frame lives in a compressor R holds until agent_compress_release (after packing). */
void agent_compress_page(agent_req *r, Memscan__V1__ReadPage *page);
/* Replaces PAGE's runs with the zstd frame of their packed ChangeRunList, likewise (the frame must
 * also save the few bytes its fields add, and the list must fit in a page). */
void agent_compress_runs(agent_req *r, Memscan__V1__DiffPage *page);
void agent_compress_release(agent_req *r);

/* dispatch.c */
/* agent_handle_request's answer to a LIGHT call for a request that is not. */
#define AGENT_DEFER 1
/* Maps text a light listing reads at most (~0.3 us a line of ~100 bytes: ~50 us). */
#define AGENT_LIGHT_MAPS_MAX (16u << 10)
/* Handles one authenticated request (REQ NULL: it did not unpack): 0 with the packed Response in
 * *RET_OUT, or -1 if not even an error reply could be built (the caller then closes the pipe).
 * LIGHT: the caller is one of nng's threads, which must not be held up: only requests whose work is
 * small and bounded are handled (hello, list_regions of a process whose maps text is under
 * AGENT_LIGHT_MAPS_MAX, error replies), and only while no paged result is pending (dropping one may
 * mean finishing a diff); any other returns AGENT_DEFER with nothing done or audited, for the caller
 * to call again from a worker thread. */
int agent_handle_request(agent *ag, agent_session *s, const Memscan__V1__Request *req, int light,
                         nng_msg **ret_out, size_t *ret_len);

/* reply.c */
/* A message for a DATA frame whose plaintext is PT_LEN bytes at CHAN_DATA_AD_LEN; NULL if no memory. */
nng_msg *agent_frame_alloc(size_t pt_len);
/* Fails R with ERR and a message (what the client reads in the Error reply); returns ERR. */
int agent_fail(agent_req *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Packs RESP into a new reply frame of R (replacing any built before); NO_MEMORY fails R. */
int agent_pack(agent_req *r, Memscan__V1__Response *resp);
/* A new reply frame for LEN bytes of packed Response (replacing any reply built before); returns
 * where to write them, or NULL after failing R with NO_MEMORY. */
uint8_t *agent_reply_frame(agent_req *r, size_t len);
/* Frees the reply frame R built, if any. */
void agent_drop_out(agent_req *r);
/* Replaces R's reply with an Error reply of R's code and message; -1 if it cannot be built. */
int agent_pack_error(agent_req *r);

/* target.c */
/* Validates TARGET and opens it: a PID > 0 that names a whole process (no thread ID), never the agent
 * or one of its threads, within the key's limits (uids=, exe=), and the same process as TARGET's start
 * time names. The handle's work stops when the session's client leaves (agent_session_watch). */
int agent_open_target(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc);
/* As agent_open_target, but the handle is the session's to keep (the caller never frees it): an open
 * handle of the same PID whose process has not exited is reused, with every check made again. */
int agent_open_target_cached(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc);
/* Checks the key's limits again on PROC, opened earlier and touched again (a kept snapshot, a paged
 * result): alive, uids=, exe=. A process that ran a setuid program keeps its PID and start time, so
 * only this check stops a limited key from reading it. Fails R (DENIED or PROCESS_GONE). */
int agent_target_recheck(agent_req *r, memscan_process *proc);
/* Whether S's key may touch process PID (uids=, exe=), for listings: 1 or 0. */
int agent_target_visible(const agent_session *s, int pid);

/* job.c: long work (a scan, a kept snapshot, a heat baseline, a value scan, a narrowing) asked with
 * progress_ms runs on a thread of its own, and its request, then each Next, is answered within about
 * progress_ms: with Progress while it goes on, with the operation's own reply when it is done. */
typedef struct agent_job agent_job;
typedef struct agent_job_kind {
	/* On the work's thread J (NULL: the work runs on the worker, as asked without progress_ms): the
	 * work on PROC (whose cancel asks the job's end and the session's, and whose progress the Progress
	 * replies report); an error's text into MSG. Touches nothing of the session but its budgets
	 * (agent_budget_reserve). */
	int (*run)(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len);
	/* On a worker once RUN returned ERR (with MSG): the reply, as the operation without progress
	 * builds it; owns PROC (watched by the session again) and STATE from then on. */
	int (*finish)(agent_req *r, memscan_process *proc, void *state, int err, const char *msg);
	/* The work was dropped before its reply (another request, the session's end): releases STATE and
	 * what it charged. */
	void (*drop)(agent *ag, agent_session *s, void *state);
} agent_job_kind;
/* The wait a request asked with PROGRESS_MS gets: 0 (none asked) or kept within 50..1000 ms. */
uint32_t agent_progress_wait_ms(uint32_t progress_ms);
/* True if work asked with PROGRESS_MS should run as a job: asked, and a job's place is free (half
 * the workers run jobs at most). */
int agent_job_wanted(agent *ag, uint32_t progress_ms);
/* Runs KIND's work on PROC (owned from now on, even on failure, as STATE is) and answers R: as a job
 * whose Progress replies count TOTAL bytes when asked with PROGRESS_MS and agent_job_wanted, else on
 * the worker at once. Either way work that fails or stops short is audited with the bytes its reads
 * covered. */
int agent_job_run(agent_req *r, memscan_process *proc, uint64_t total, uint32_t progress_ms,
                  const agent_job_kind *kind, void *state);
/* For a kind's RUN whose work goes on past PROC's reads (a pointer scan's index and search), as
 * libmemscan's callbacks: whether job J (CTX; NULL: never) is to stop, as PROC's cancel says; DONE of
 * its total reached (nothing for NULL); and DONE bytes of PROC read (what PROC's reads report, which
 * stop reporting short of their end: the last report may be 100 ms old). DONE never goes back nor
 * past the total: the most reported is kept. The audit counts only the bytes read. */
int agent_job_cancelled(void *ctx);
void agent_job_report(void *ctx, uint64_t done);
void agent_job_read(void *ctx, uint64_t done);

/* server.c */
int agent_server_start(agent *ag);
void agent_server_stop(agent *ag);
int agent_reload_authorized(agent *ag);

/* audit.c */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_audit(const agent_session *s, const char *op, int pid, uint64_t bytes, int err);
/* The audit of request R, one line per operation: a paged result's line waits for its last page (or
 * for the result to be dropped: CANCELLED) and counts the bytes of every page. */
void agent_audit_request(agent_session *s, const agent_req *r);
/* Writes the line of S's operation still open, if any, with result ERR. */
void agent_audit_close(agent_session *s, int err);
void agent_refused(const char *peer, const char *reason, const char *fp);

/* journal.c: systemd. agent_journal_detect (at start) finds whether stderr is the journal; then audit
 * lines go there as entries with MEMSCAN_* fields (0, or -1: write the line to stderr instead). The
 * notices tell systemd the agent is ready, reloading or stopping (Type=notify). */
void agent_journal_detect(void);
bool agent_journal_on(void);
int agent_journal_audit(const char *message, const char *peer, const char *key, const char *op, int pid,
                        uint64_t bytes, const char *result, bool ok);
int agent_journal_refused(const char *message, const char *peer, const char *key, const char *reason);
void agent_notify_ready(const char *fp);
void agent_notify_reloading(void);
void agent_notify_stopping(void);
const char *agent_err_name(int err);

#endif /* MEMSCAN_AGENT_H */
