/* SPDX-License-Identifier: MIT */
/* libmemscan-client internals: the client object, the request exchange and paging shared by the operations.
 */
#ifndef MEMSCAN_CLIENT_INTERNAL_H
#define MEMSCAN_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include <memscan/client.h>

#include "chan.h"
#include "grow.h"
#include "wire.h"
#include "zpage.h"

#define CLIENT_ERR_LEN         512
#define CLIENT_DEFAULT_TIMEOUT 30000
/* Longest wait to hand a request to the connection. */
#define CLIENT_SEND_TIMEOUT 2000
/* Re-dial delay of a socket whose connection dropped: never, in practice. */
#define CLIENT_NO_REDIAL_MS (24 * 3600 * 1000)
#define CLIENT_PATH_MAX     4096
/* Handshakes tried when the agent closes the connection during one (see reconnect in client_conn.c). */
#define CLIENT_HANDSHAKE_TRIES 4

/*
 * What one call gathers from an agent is capped, so that a hostile or broken agent cannot make the
 * client grow without bound by sending page after page (docs/api.md, Client limits):
 */
/* Processes in one list: hosts run thousands, rarely a hundred thousand; at this cap the list takes
 * 344 MiB. */
#define CLIENT_PROCS_MAX (1u << 20)
/* Regions in one region table: 32 times Linux's default vm.max_map_count (65530), twice the
 * vm.max_map_count some distributions set for games (1048576). */
#define CLIENT_REGIONS_MAX (1u << 21)
/* Bytes of paths in one region table: most regions have no path, and a process maps few files. */
#define CLIENT_REGION_PATHS_MAX ((uint64_t)64 << 20)
/* Snapshots the client records as kept for its session: an agent keeps at most 256 a session (its
 * highest max_snapshots); four times that leaves room for a raise of the agent's ceiling. */
#define CLIENT_KEPT_MAX 1024u
/* Changed bytes of one diff, kept twice (old and new): more than any machine holds, and a quarter of
 * size_t so that neither copy nor a doubling overflows. */
#define CLIENT_DIFF_BYTES_MAX (SIZE_MAX / 4)

/* A snapshot the agent keeps for this session, with the region table its reply listed. */
struct client_kept {
	uint64_t id;
	int pid;
	uint64_t time_ns;
	memscan_region_list *regions;
	/* the most changed bytes a diff of it can report: the bytes announced when it was taken (its
	 * regions' sizes add up to them), plus those of the ranges updates reported as appeared */
	uint64_t diff_bound;
	int updated;    /* a Diff made a new baseline: some regions may have left it */
	int refiltered; /* ... with regions listed again: the table above is no longer the snapshot's */
};

struct memscan_client {
	pthread_mutex_t lock;
	uint8_t *priv; /* sodium_malloc: the client's private key */
	int have_identity;
	uint8_t pinned_pub[32]; /* the agent key set by the caller */
	int have_pinned;
	uint8_t agent_pub[32]; /* the agent key in use for URL */
	int have_agent_pub;
	char *known_agents;
	char *agent_name; /* memscan_client_set_agent_name: the HOST:PORT pins are looked up under */
	int timeout_ms;
	char *url;
	nng_socket sock;
	int sock_open;
	atomic_uint sock_id; /* nng_socket_id of SOCK, for the pipe callback */
	atomic_int lost;     /* set by the pipe callback: the connection of SOCK closed */
	int pipe_id;         /* the pipe the session was established on */
	nng_aio *aio;        /* every send and receive: nng_sendmsg/nng_recvmsg would set up one per call */
	chan_session *session;
	uint32_t perms;
	uint64_t page_bytes;             /* the agent's largest page payload (Hello), 0 if it did not say */
	int agent_zstd;                  /* the agent can compress read pages (Hello) */
	int agent_value_sets;            /* the agent keeps value sets (Hello's features) */
	int agent_heatmap;               /* the agent counts heats (Hello's features) */
	int agent_progress;              /* the agent answers long work with Progress (Hello's features) */
	zpage_dec *dec;                  /* set while compression is on (memscan_client_set_compression) */
	uint64_t data_bytes, wire_bytes; /* read bytes received, and the page payloads that carried them */
	memscan_progress_fn progress_fn; /* memscan_client_set_progress: data bytes since progress_base */
	memscan_client_progress_total_fn progress_total_fn; /* or _set_progress_total: the call's */
	void *progress_ctx;
	uint64_t progress_base, progress_due_ns;
	uint64_t call_base, call_total; /* the call under way: data bytes when it began, what it reads */
	memscan_cancel_fn cancel_fn;    /* memscan_client_set_cancel */
	void *cancel_ctx;
	int hs_closed;    /* the agent closed the connection during the last handshake */
	int no_reconnect; /* set while a call depends on the current session (a kept snapshot) */
	struct client_kept *kept;
	size_t kept_count, kept_cap;
	char err[CLIENT_ERR_LEN];
};

/* The client's mutex (every public call holds it). */
void client_lock(const memscan_client *c);
void client_unlock(const memscan_client *c);

/* Records the description returned by memscan_client_last_error; returns CODE. */
int client_fail(memscan_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True if the session is established and usable now. */
int client_session_live(memscan_client *c);
/* Makes sure a live session exists (connecting and handshaking again if needed). */
int client_ensure_session(memscan_client *c);
/* Forgets the connection and session (and the snapshots the session kept). */
void client_drop(memscan_client *c);
/* Loads the private key file PATH as the identity; a failure leaves the previous one in place. */
int client_load_identity(memscan_client *c, const char *path);
/* How long a send may wait for a connection: the timeout, at most CLIENT_SEND_TIMEOUT. */
int client_send_timeout(int timeout_ms);
/* The longest a connection may take to be set up (connect), at most the client's timeout. */
#define CLIENT_CONNECT_TIMEOUT 10000
/* nng_dial(SOCK, URL) that gives up after TIMEOUT_MS: then SOCK is closed and *RET_TIMED_OUT is set,
 * whatever nng's result (NNG_ECLOSED, or 0 for a dial that succeeded as the watchdog fired)
 * (client_dial.c). */
int client_dial_within(nng_socket sock, const char *url, int timeout_ms, int *ret_timed_out);

/* Sends MSG (the connection's on success, freed on failure); a failure drops the connection (CONNECT). */
int client_send_frame(memscan_client *c, nng_msg *msg, const char *what);
/* Receives the next frame with the socket's receive timeout: 0 or an nng error (*RET_MSG NULL). */
int client_sock_recv(memscan_client *c, nng_msg **ret_msg);

/* Sends REQ in the session and returns the reply in *RET (released with wire_free_response). An
 * Error reply is turned into its code (and message); a reply of another kind than EXPECT into PROTOCOL
 * (EXPECT ..._RESULT__NOT_SET: any kind, the caller checks). */
/* The exchange in its steps, for a caller that pipelines (sends request N+1 once reply N has arrived,
 * before opening it: the agent works on the next page while this one is decrypted). The session must
 * be live. Any failure drops the connection, except an Error reply (client_open_frame returns its
 * code). A reply received and claimed, not opened yet: */
struct client_frame {
	nng_msg *msg;
	uint64_t counter;
};
/* Packs REQ straight into its frame, seals it in place and sends it. */
int client_send(memscan_client *c, const Memscan__V1__Request *req);
/* Waits for the next reply frame of the session and claims it (chan_claim). */
int client_recv_frame(memscan_client *c, struct client_frame *f);
/* Authenticates and unpacks a claimed frame (freed) into *RET, checked as client_call checks it. */
int client_open_frame(memscan_client *c, struct client_frame *f, Memscan__V1__Response__ResultCase expect,
                      Memscan__V1__Response **ret);
/* The three steps for one request in the live session (client_exchange.c); client_call makes sure
 * of the session first (client_conn.c). */
int client_exchange(memscan_client *c, const Memscan__V1__Request *req,
                    Memscan__V1__Response__ResultCase expect, Memscan__V1__Response **ret);

int client_call(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase expect,
                Memscan__V1__Response **ret);
/* The progress_ms to send with work that may run long (Scan, ValueScan, ValueNarrow): 0 when the
 * agent cannot answer with Progress. client_call then reports each Progress reply to the progress
 * callback (the bytes of the target the agent went through), checks the cancel callback and waits
 * on, so that no such request waits on the agent longer than that. */
uint32_t client_progress_ms(const memscan_client *c);

/* Handles one page; returns OK or an error (STOPPED included) that ends the paging. *RET_CURSOR
 * receives the page's next_cursor. */
typedef int (*client_page_fn)(memscan_client *c, const Memscan__V1__Response *resp, void *ctx,
                              uint64_t *ret_cursor);
/* Sends REQ (whose reply is FIRST), then Next{cursor} (replies of kind NEXT) until the last page. */
int client_paged(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase first,
                 Memscan__V1__Response__ResultCase next, client_page_fn fn, void *ctx);

/* Appends the regions of PAGE to LIST (validated, within CLIENT_REGIONS_MAX and, counted in
 * *PATH_BYTES, CLIENT_REGION_PATHS_MAX). */
int client_add_regions(memscan_client *c, memscan_region_list *list, uint64_t *path_bytes,
                       const Memscan__V1__RegionPage *page);
/* A region table being listed. */
struct client_regions {
	memscan_region_list *list;
	uint64_t start_time; /* of the process listed */
	uint64_t path_bytes;
};
/* PID's regions passing FILTER (NULL: all, or the default filter with USE_DEFAULT) into A. */
int client_list_regions(memscan_client *c, int pid, const memscan_filter *filter, int use_default,
                        struct client_regions *a);
/* Filter for a request: FILTER, or with USE_DEFAULT and no FILTER the default one. */
void client_filter(const memscan_filter *filter, int use_default, Memscan__V1__Filter *out);

/* Kept snapshots. */
struct client_kept *client_kept_find(memscan_client *c, uint64_t id);
/* Kept snapshot ID of the live session, or NULL with NOT_FOUND recorded (snapshots end with their
 * session). */
struct client_kept *client_kept_live(memscan_client *c, uint64_t id);
void client_kept_remove(memscan_client *c, uint64_t id);
void client_kept_clear(memscan_client *c);

/* Where a paged read lands: BUF covers [ADDR, ADDR + LEN); holes go to ON_HOLE merged. */
struct client_read_sink {
	uint8_t *buf;
	uint64_t addr;
	size_t len;
	uint64_t pos;          /* next address expected */
	uint64_t chunk_end;    /* end of the Read request in flight */
	uint64_t hole_bytes;   /* total hole bytes */
	memscan_range pending; /* hole not yet handed on (end == 0: none) */
	size_t hole_count;     /* separate holes the pages brought (a bound on what they cost) */
	int zstd;              /* the pages are asked for compressed */
	uint64_t start_time;   /* a live read: the process must still be the one of this start time
	                        * (0: not checked) */
	int (*on_hole)(void *ctx, memscan_range hole);
	void *hole_ctx;
	/* without BUF, every byte goes to ON_DATA instead, in address order (bytes in holes as zeros);
	 * a hole may be handed on after its bytes */
	int (*on_data)(void *ctx, const uint8_t *data, size_t len);
	void *data_ctx;
	uint8_t *scratch; /* without BUF: decompressed pages (client_read_into frees it) */
	size_t scratch_cap;
};

/* An ON_HOLE that appends to a memscan_ranges (CTX, may be NULL), joining adjacent ranges as memscan_read. */
int client_ranges_hole(void *ctx, memscan_range hole);
/* Reads [SINK->addr, +len) of PID (or of kept snapshot SNAPSHOT_ID) into the sink: OK, PARTIAL or
 * UNREADABLE as memscan_read. */
int client_read_into(memscan_client *c, int pid, uint64_t snapshot_id, struct client_read_sink *sink);
/* The bytes one pipelined Read asks for: the agent's page, or less (client_ops.c says why). */
uint64_t client_pipe_page(const memscan_client *c);

/* Where a region saved into a file is read from: kept snapshot ID (UPDATED: its baseline may have
 * lost regions), or with ID 0 the live process PID (START_TIME as for a read sink). */
struct client_save_src {
	int pid;
	uint64_t id;
	uint64_t start_time;
	int updated;
};
/* Reads region REG from SRC into W and counts it in INFO; a region that left an updated snapshot, or
 * (live) that was wholly unreadable, is left out of the file as snapshots leave such regions out. */
int client_save_region(memscan_client *c, const struct client_save_src *src, const memscan_region *reg,
                       memscan_snapshot_writer *w, memscan_snapshot_file_info *info);

/* A key-file result (0 or -errno from proto/keyfile) as a memscan_err. */
int client_key_err(int rv);

/* A call that receives memory bytes begins: it is going to read TOTAL of them (0: not known), which
 * the progress callback then counts against (lock held). */
void client_progress_begin(memscan_client *c, uint64_t total);
/* Reports the data bytes received to the progress callback when a report is due (lock held). */
void client_progress_note(memscan_client *c);
/* Reports DONE of TOTAL (0: not known) of the agent's work to the progress callback (lock held). */
void client_progress_report(memscan_client *c, uint64_t done, uint64_t total);
/* Nonzero once the caller's cancel callback asks to stop (lock held). */
int client_cancelled(memscan_client *c);

#endif /* MEMSCAN_CLIENT_INTERNAL_H */
