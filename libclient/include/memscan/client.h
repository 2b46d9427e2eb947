/* SPDX-License-Identifier: MIT */
/* libmemscan-client: drive memscan agents over the authenticated, encrypted channel. */
#ifndef MEMSCAN_CLIENT_H
#define MEMSCAN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <memscan/memscan.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions are libmemscan's (memscan.h): int returns with memscan_err codes, ret_* out-parameters
 * set only on success, _free accepts NULL, nothing printed. Results are the same C types the local
 * library returns (region lists, diffs, snapshots), so local and remote output share one code path.
 *
 * Thread safety: a memscan_client may be shared by several threads; calls are serialized on it (one
 * request in flight per session, as the channel requires). For parallel requests, use one client
 * per thread.
 *
 * Sessions: the client handshakes on connect and again, transparently, before a call whenever the
 * session has ended (age, idleness, message count, or a dropped connection). A call whose
 * connection dropped mid-request fails with MEMSCAN_ERR_CONNECT or MEMSCAN_ERR_TIMEOUT and is never
 * re-sent by the library (the caller decides whether to repeat it). Snapshots kept on the agent
 * belong to the session that made them and end with it.
 *
 * Limits: what one call gathers from the agent is capped (processes, regions and their paths in one
 * list; a diff's changed bytes by what its snapshot holds; snapshot regions by the bytes announced);
 * going over fails the call with MEMSCAN_ERR_LIMIT or MEMSCAN_ERR_PROTOCOL and leaves the session
 * usable. The caps: docs/api.md, Client limits.
 */

/* The agent's default TCP port. */
#define MEMSCAN_DEFAULT_PORT 7777

/* Permission bits an agent grants a key (memscan_client_granted_perms). */
enum {
	MEMSCAN_GRANT_LIST = 1u << 0, /* processes, regions */
	MEMSCAN_GRANT_READ = 1u << 1, /* read, snapshot, diff */
	MEMSCAN_GRANT_SCAN = 1u << 2, /* scan */
};

typedef struct memscan_client memscan_client;

/* Bytes of an X25519 key, private or public. */
#define MEMSCAN_KEY_LEN 32
/* A key's fingerprint: "SHA256:" + 43 base64 characters + NUL. */
#define MEMSCAN_FINGERPRINT_LEN 51

MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_new(memscan_client **ret_client);
MEMSCAN_API void memscan_client_free(memscan_client *client);

/* The client's own key: a private key file written by `memscan keygen` (refused if group or others
 * may read it), or the MEMSCAN_KEY_LEN raw private key bytes (copied into locked memory). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_identity_file(memscan_client *client, const char *path);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_identity(memscan_client *client,
                                                              const uint8_t private_key[MEMSCAN_KEY_LEN]);
/* The agent's public key, pinned: a `memscan-x25519 BASE64 [comment]` line, or MEMSCAN_KEY_LEN raw bytes.
 * Without one, memscan_client_connect looks the address up in the known_agents file (set below). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_agent_key_line(memscan_client *client, const char *line);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_agent_key(memscan_client *client,
                                                               const uint8_t public_key[MEMSCAN_KEY_LEN]);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_known_agents_file(memscan_client *client,
                                                                       const char *path);
/* Looks the agent's pinned key up under HOSTPORT ("name:7777", exact or pattern lines) rather than
 * under the address connected to: a fleet member reached by its address (a pod IP) is held to the key
 * pinned for the name the user gave. NULL goes back to the address. INVALID_ARG, NO_MEMORY. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_agent_name(memscan_client *client, const char *hostport);
/* Per-request timeout (default 30000 ms). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_timeout_ms(memscan_client *client, int timeout_ms);

/* Compression of the memory bytes that reads, snapshot downloads and diffs (each page's change runs)
 * receive: off by default. With ON, each page is asked for compressed (zstd level 1); the agent
 * compresses it only when that makes it smaller, and an agent that cannot sends it as it is. Worth it
 * on links slower than the two ends can compress (about 1 GB/s a core): 1 GbE, WAN. Off, it costs
 * nothing. NO_MEMORY.
 * Caveat: the size of a compressed page depends on its bytes. Someone who can both put chosen bytes
 * into the target's memory and watch the (encrypted) traffic may learn about the bytes next to
 * theirs from the sizes, as the CRIME and BREACH attacks did against TLS. Leave it off for targets
 * that hold secrets next to data others control, on links others can watch. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_compression(memscan_client *client, int on);
/* Makes the client report the memory bytes it receives (reads, snapshot downloads, diffs' change
 * runs) since this call as FN(CTX, DONE): at the first page, then at most every 100 ms, from the
 * thread making the call, with the client's lock held (FN must not call the client). The caller
 * shows DONE against what it asked for (e.g. the bytes memscan_client_snapshot returned). During
 * memscan_client_scan, memscan_client_snapshot (the agent reading the snapshot it keeps), the
 * value scans and narrowings and memscan_client_diff and _diff_parts (the agent comparing), DONE is
 * instead the bytes of the target the agent went through so far
 * (a few times a second, from agents that list FEATURE_PROGRESS; shown against the selected regions'
 * bytes). FN NULL detaches. INVALID_ARG if CLIENT is NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_progress(memscan_client *client, memscan_progress_fn fn,
                                                              void *ctx);
/* A progress callback that also gets what DONE counts up to: TOTAL, or 0 when it is not known. */
typedef void (*memscan_client_progress_total_fn)(void *ctx, uint64_t done, uint64_t total);
/* As memscan_client_set_progress, with each call's total, and DONE counted from the start of each
 * call, so a caller need not list the regions to know how far a call is:
 * - memscan_client_read (TOTAL: its LEN), memscan_client_snapshot_fetch and _save (the kept
 *   snapshot's region bytes) and memscan_client_snapshot_write (the bytes of the regions it lists):
 *   the memory bytes received of what the call is going to read;
 * - scans, kept snapshots, value scans and narrowings and heat baselines: the bytes of the target
 *   the agent went through, of the total its progress reports give (the selected regions' bytes;
 *   for a narrowing, the bytes it reads again);
 * - memscan_client_diff and _diff_parts: the bytes the agent compared, of the total each page
 *   announces (an agent that announces none: the change runs' bytes received, TOTAL 0).
 * DONE never exceeds a nonzero TOTAL. Reported as memscan_client_set_progress reports (same thread,
 * lock held, FN must not call the client). One callback at a time: this and memscan_client_set_progress
 * each replace the one the other set. FN NULL detaches. INVALID_ARG if CLIENT is NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_client_set_progress_total(memscan_client *client, memscan_client_progress_total_fn fn, void *ctx);
/* Makes the client's reads (memscan_client_read, snapshot downloads and memscan_client_snapshot_write)
 * ask FN(CTX) at every page they receive, and scans, kept snapshots (memscan_client_snapshot), value
 * scans, narrowings and diffs at every progress report or diff page of the agent (a few times a
 * second), on the thread
 * making the call with the client's lock held (FN must not call the client); once it returns
 * nonzero they stop and return CANCELLED, the session still usable (the agent is told to drop the
 * work), and a file being written is removed. FN NULL detaches. INVALID_ARG if CLIENT is NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_set_cancel(memscan_client *client, memscan_cancel_fn fn,
                                                            void *ctx);
/* Memory bytes this client received (reads, snapshot downloads, and the old and new bytes of diffs'
 * change runs) since it was made, into *RET_BYTES, and the bytes of page payload that carried them
 * (compressed or not; framing not counted, except within a compressed diff page's runs) into
 * *RET_WIRE_BYTES. Either may be NULL. */
MEMSCAN_API void memscan_client_transfer_stats(const memscan_client *client, uint64_t *ret_bytes,
                                               uint64_t *ret_wire_bytes);

/* Connects to URL ("tcp://host:port", "tcp://[v6]:port", "ipc:///path") and handshakes. CONNECT if
 * nothing answers, AUTH if the handshake fails (the agent key is not the pinned one, or the agent
 * does not authorize this client: the agent then just closes the connection), TIMEOUT. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_connect(memscan_client *client, const char *url);
/* Permission bits the agent granted this key (MEMSCAN_GRANT_*), valid after connect. */
MEMSCAN_API uint32_t memscan_client_granted_perms(const memscan_client *client);
/* A description of the last failure on this client (the agent's message when it sent one); never NULL.
 * Valid until the next call on this client: with several threads on one client, read it before
 * another thread calls. */
MEMSCAN_API const char *memscan_client_last_error(const memscan_client *client);

/* The agent's processes, like memscan_process_list (array released with free()). */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_client_list_processes(memscan_client *client, memscan_proc_info **ret_list, size_t *ret_count);
/* PID's regions passing FILTER (NULL = all), like memscan_regions_read. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_list_regions(memscan_client *client, int pid,
                                                              const memscan_filter *filter,
                                                              memscan_region_list **ret_list);
/* Reads LEN bytes at ADDR of PID, like memscan_read (OK, PARTIAL with holes zeroed and listed, or
 * UNREADABLE). Large reads are paged. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_read(memscan_client *client, int pid, uint64_t addr,
                                                      void *buf, size_t len, memscan_ranges *holes);
/* Scans PID's regions passing FILTER (NULL = memscan_filter_default) for PATTERN, like memscan_scan:
 * ON_MATCH is called in address order with the region where each match starts. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_scan(memscan_client *client, int pid,
                                                      const memscan_filter *filter, const char *pattern,
                                                      const memscan_scan_options *options,
                                                      memscan_match_fn on_match, void *ctx,
                                                      uint64_t *ret_matches);

/* Takes a snapshot that the agent keeps for this session; RET_ID names it. RET_REGIONS (optional)
 * receives the regions it holds, RET_BYTES (optional) their total size. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_snapshot(memscan_client *client, int pid,
                                                          const memscan_filter *filter, uint64_t *ret_id,
                                                          memscan_region_list **ret_regions,
                                                          uint64_t *ret_bytes);
/* Downloads the kept snapshot ID into a local snapshot (e.g. to memscan_snapshot_save it). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_snapshot_fetch(memscan_client *client, uint64_t id,
                                                                memscan_snapshot **ret_snapshot);
/* memscan_snapshot_file_info (what was written) is declared in memscan.h. */
/* Downloads the kept snapshot ID straight into a snapshot file at PATH (docs/snapshot-format.md,
 * through memscan_snapshot_writer): the client holds one page at a time, not the snapshot, and the
 * file is written while the agent reads the next page. The file appears at PATH, whole and fsynced,
 * only on success. RET_INFO (optional) receives what was written. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_snapshot_save(memscan_client *client, uint64_t id,
                                                               const char *path,
                                                               memscan_snapshot_file_info *ret_info);
/* Takes a snapshot of PID's regions passing FILTER (NULL = memscan_filter_default) straight into a
 * snapshot file at PATH, as memscan_snapshot_write_process does locally: the regions are listed,
 * then read live page by page (the next page asked for while this one is written), so the agent
 * keeps nothing and holds one page at a time whatever the target's size; FILTER (or the default) is
 * recorded in the file. Regions gone or wholly unreadable by the time they are read are left out;
 * reads name the process listed, so a PID reused meanwhile fails with PROCESS_GONE. The file's time
 * is the client's clock when the last region was read. The file appears at PATH, whole and fsynced,
 * only on success. Needs the read permission; every agent serves it (plain Reads). RET_INFO
 * (optional) receives what was written. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_snapshot_write(memscan_client *client, int pid,
                                                                const memscan_filter *filter,
                                                                const char *path,
                                                                memscan_snapshot_file_info *ret_info);
/* Flags of memscan_client_diff and memscan_client_diff_parts. */
enum {
	MEMSCAN_DIFF_UPDATE = 1u << 0,   /* what was read becomes the new baseline (for watching) */
	MEMSCAN_DIFF_REFILTER = 1u << 1, /* list regions again with the snapshot's filter, so regions that
	                                  * appeared or vanished are reported */
};
#define MEMSCAN_DIFF_FLAGS (MEMSCAN_DIFF_UPDATE | MEMSCAN_DIFF_REFILTER)

/* Diffs the live memory against the kept snapshot ID on the agent; only change runs cross the
 * network. FLAGS: MEMSCAN_DIFF_* (0 for a plain diff; any other bit is INVALID_ARG). On success
 * *RET_DIFF is a new diff the caller frees with memscan_diff_free; on failure it is NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_diff(memscan_client *client, uint64_t id, unsigned flags,
                                                      memscan_diff **ret_diff);
/* The same diff with bounded memory whatever its size: ON_PART(CTX, PART) is called for each page as
 * it arrives, PART holding that page's runs (and, in the first, the appeared / vanished ranges); it
 * lives for the call only. The last run of a part may be continued by the first run of the next (same
 * region, next address). A non-zero return stops the diff: MEMSCAN_ERR_STOPPED (with UPDATE, the agent
 * still completes the new baseline before its next request). FLAGS as for memscan_client_diff. */
/* (memscan_diff_part_fn is declared in memscan.h.) */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_diff_parts(memscan_client *client, uint64_t id,
                                                            unsigned flags, memscan_diff_part_fn on_part,
                                                            void *ctx);
/* Frees the kept snapshot ID on the agent. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_release(memscan_client *client, uint64_t id);

/* ---- value sets kept on the agent (docs/api.md, "Remote value sets") ------------------------
 * A remote value scan leaves its candidates on the agent, as a set of this client's key: it outlives
 * the connection (another run with the same key narrows it), other keys never see it, the agent
 * charges it to the key's value-set budget and drops it when released or idle (30 minutes by
 * default). Only counts and the pages of candidates asked for cross the network. Needs the `scan`
 * grant; an agent that predates value sets fails these calls with UNSUPPORTED_VERSION ("agent too
 * old"). Errors the agent found (a bad value, with the offset of what is wrong; a process that
 * exited: the agent then drops the set) come back through memscan_client_last_error. */

/* A value set kept on the agent. */
typedef struct memscan_client_vset {
	uint64_t id;         /* unguessable; names the set to the agent, for this key only */
	int pid;             /* the process it was made from ... */
	uint64_t start_time; /* ... and its start time (a reused PID is refused) */
	memscan_value_type type;
	size_t width;   /* bytes of each candidate's value */
	uint64_t count; /* candidates */
	bool unknown;   /* an unknown-value scan's set, not narrowed yet */
	uint64_t bytes; /* what the agent charges the key for it */
} memscan_client_vset;

/* Candidates wanted with a scan's or narrow's reply: up to COUNT (0: none), handed to ON_CANDIDATE
 * (as memscan_value_set_foreach does; region paths live during the call only). */
typedef struct memscan_client_page {
	uint64_t count;
	memscan_candidate_fn on_candidate;
	void *ctx;
} memscan_client_page;

/* Scans PID's regions passing FILTER (NULL = memscan_filter_values: writable ones) for VALUE (text
 * the agent parses as memscan_value_parse does, with VALUE_OPTIONS, NULL for none) and keeps the
 * matches on the agent; *RET_SET describes the new set. OPTIONS, PAGE may be NULL. While the
 * agent works (an agent with FEATURE_PROGRESS says how far it is every 250 ms) the progress callback
 * (memscan_client_set_progress) receives the bytes of the target it has read, and the cancel
 * callback is asked: CANCELLED then, the session usable (no set is made). The same holds for the
 * unknown-value scan and for narrowing (DONE: about the bytes it reads again). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_value_scan(
    memscan_client *client, int pid, const memscan_filter *filter, memscan_value_type type, const char *value,
    const memscan_value_options *value_options, const memscan_value_scan_options *options,
    const memscan_client_page *page, memscan_client_vset *ret_set);
/* The unknown-initial-value scan on the agent (it keeps a copy of the regions: charged so). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_value_scan_unknown(memscan_client *client, int pid,
                                                                    const memscan_filter *filter,
                                                                    memscan_value_type type,
                                                                    const memscan_value_scan_options *options,
                                                                    memscan_client_vset *ret_set);
/* Narrows set ID on the agent, as memscan_value_set_narrow: KIND, and VALUE (text of the set's type;
 * NULL for the kinds that compare with the recorded value only). The result replaces set ID (same
 * id) unless KEEP, which keeps ID and makes the result a new set. MAX_CANDIDATES 0: the default.
 * PROCESS_GONE if the set's process exited (the agent then drops the set). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_value_narrow(memscan_client *client, uint64_t id,
                                                              memscan_value_pred_kind kind, const char *value,
                                                              const memscan_value_options *value_options,
                                                              uint64_t max_candidates, bool keep,
                                                              const memscan_client_page *page,
                                                              memscan_client_vset *ret_set);
/* Calls ON_CANDIDATE for candidates FIRST .. FIRST+COUNT-1 of set ID (fewer at the set's end), paged
 * as the agent sends them; *RET_RECEIVED (optional) counts them. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_value_candidates(memscan_client *client, uint64_t id,
                                                                  uint64_t first, uint64_t count,
                                                                  memscan_candidate_fn on_candidate,
                                                                  void *ctx, uint64_t *ret_received);
/* Drops set ID on the agent. NOT_FOUND if this key has no such set (released, or expired). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_value_release(memscan_client *client, uint64_t id);

/* ---- heatmaps counted on the agent (docs/api.md, "Remote heatmaps") -------------------------
 * A remote heat keeps a baseline and the counts on the agent, for this session only (it ends with
 * the connection, and sessions end after 15 minutes or 5 idle): the caller times the samples (one
 * memscan_client_heat_sample per interval, each a short request), and only counts cross the network, never
 * the target's bytes. Needs the `read` grant, as diff; an agent that predates heats fails these calls with
 * UNSUPPORTED_VERSION. */

/* A heat kept on the agent. */
typedef struct memscan_client_heat {
	uint64_t id;             /* names the heat to the agent, in this session */
	int pid;                 /* the process it watches ... */
	uint64_t start_time;     /* ... and its start time */
	uint64_t baseline_bytes; /* the baseline the agent read (charged to the session's budget) */
	uint64_t cell_size;      /* bytes per cell */
	uint32_t bins;           /* time bins per cell */
	uint64_t max_cells;      /* cells it may count: more is LIMIT (as the agent's budget allows) */
} memscan_client_heat;

/* A heat's totals (memscan_heat_samples, _cell_count, _region_count, _changed_bytes). */
typedef struct memscan_client_heat_stats {
	uint64_t samples, cells, regions, changed_bytes;
} memscan_client_heat_stats;

/* Starts a heat of PID on the agent: a baseline of the regions FILTER selects (NULL: the default
 * filter) and empty counts as OPTIONS asks (NULL: the defaults; max_cells 0: MEMSCAN_HEAT_CELLS_DEFAULT),
 * max_cells lowered to what the agent's budget holds; an agent that grants more than asked is
 * PROTOCOL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_heat_start(memscan_client *client, int pid,
                                                            const memscan_filter *filter,
                                                            const memscan_heat_options *options,
                                                            memscan_client_heat *ret_heat);
/* One sample of heat ID, counted in time bin BIN (< its bins; 0 without bins): the agent reads the
 * regions again and counts what changed since the last sample. *RET_STATS (optional): the totals.
 * LIMIT when more cells changed than the heat's max_cells; PROCESS_GONE once the process exited (the
 * counts stay readable). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_heat_sample(memscan_client *client, uint64_t id,
                                                             uint32_t bin,
                                                             memscan_client_heat_stats *ret_stats);
/* Called for each region of a heat that changed (in the order they first did; the path lives during
 * the call) and each cell (address order; the region index counts the regions handed over, SIZE_MAX:
 * none; the bins live during the call). Non-zero stops: MEMSCAN_ERR_STOPPED. */
typedef int (*memscan_heat_region_fn)(void *ctx, const memscan_heat_region *region);
typedef int (*memscan_heat_cell_fn)(void *ctx, const memscan_heat_cell *cell);
/* The counts of HEAT (as memscan_client_heat_start described it), paged as the agent sends them,
 * checked (order, ranges, totals, HEAT's cell size, bins and max_cells) before they are handed over;
 * *RET_STATS (optional) the totals. Either callback may be NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_heat_cells(memscan_client *client,
                                                            const memscan_client_heat *heat,
                                                            memscan_heat_region_fn on_region,
                                                            memscan_heat_cell_fn on_cell, void *ctx,
                                                            memscan_client_heat_stats *ret_stats);
/* Drops heat ID on the agent. NOT_FOUND if the session has no such heat. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_heat_release(memscan_client *client, uint64_t id);

/* The fingerprint of the agent key this client talks to (after connect). */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_client_agent_fingerprint(const memscan_client *client, char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN]);

/* A remote set reference file (docs/value-set-format.md, "Remote set references"): which agent
 * keeps the set, that agent's key fingerprint, and the set. */
#define MEMSCAN_VSET_REF_AGENT_MAX 256
typedef struct memscan_client_vset_ref {
	char agent[MEMSCAN_VSET_REF_AGENT_MAX]; /* the agent as the caller names it ("host:port") */
	char fingerprint[MEMSCAN_FINGERPRINT_LEN];
	memscan_client_vset set;
} memscan_client_vset_ref;
/* Writes REF to PATH (mode 0600, through a temporary sibling renamed over PATH). IO, INVALID_ARG. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_vset_ref_save(const memscan_client_vset_ref *ref,
                                                               const char *path);
/* Reads a reference file: BAD_FORMAT (wrong magic, field or checksum), UNSUPPORTED_VERSION,
 * TRUNCATED, IO. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_vset_ref_load(const char *path,
                                                               memscan_client_vset_ref *ret_ref);
/* True if PATH starts as a reference file does (a caller's way to tell it from a local set file). */
MEMSCAN_API bool memscan_client_vset_ref_probe(const char *path);
/* AUTH unless the agent CLIENT is connected to has REF's key fingerprint (a reference is used only
 * with the agent that keeps its set). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_vset_ref_check(memscan_client *client,
                                                                const memscan_client_vset_ref *ref);

/* ---- keys: the files `memscan keygen`, `fingerprint` and `trust` work with ------------------- */

/* Each fills ERR (ERR_LEN bytes, optional) with a one-line reason on failure: INVALID_ARG for a
 * malformed key or file, PERMISSION for a private key file others can read, IO otherwise (the
 * target already exists, a directory cannot be created...). */

/* Writes a new key pair: PATH (private, mode 0600, never overwrites) and PATH.pub
 * ("memscan-x25519 BASE64 COMMENT"; COMMENT NULL = user@host), creating PATH's directory (mode 0700,
 * with its parents) if missing. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_key_generate(const char *path, const char *comment,
                                                       char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN],
                                                       char *err, size_t err_len);
/* The fingerprint of a key file: a .pub file, or a private key file (its public half). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_key_fingerprint(const char *path,
                                                          char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN],
                                                          char *err, size_t err_len);
/* Pins PUBLIC_LINE ("memscan-x25519 BASE64 [comment]") as the key of the agent at HOSTPORT
 * ("host:port", "[v6]:port" or "ipc:///path") in KNOWN_AGENTS (NULL = the default file). Pinning
 * the key already pinned there succeeds; a different key already pinned there is never replaced:
 * AUTH, with ERR naming both fingerprints (use memscan_key_trust_replace once the change is checked). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_key_trust(const char *known_agents, const char *hostport,
                                                    const char *public_line,
                                                    char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN], char *err,
                                                    size_t err_len);
/* memscan_key_trust that replaces whatever key is pinned for HOSTPORT (`memscan trust --replace`). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_key_trust_replace(const char *known_agents, const char *hostport,
                                                            const char *public_line,
                                                            char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN],
                                                            char *err, size_t err_len);
/* The default identity file: $XDG_CONFIG_HOME/memscan/id_x25519 or ~/.config/memscan/id_x25519. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_key_default_identity(char *out, size_t out_len);

/* "memscan-x25519 " + 44 base64 characters + NUL: the room memscan_client_keyscan needs. */
#define MEMSCAN_KEY_LINE_LEN 60

/* Keyscan: asks the agent at URL for its public key, before and without any handshake (no identity
 * or pin needed), and writes its line "memscan-x25519 BASE64" into RET_LINE (LINE_LEN bytes, at least
 * MEMSCAN_KEY_LINE_LEN) and its fingerprint into RET_FINGERPRINT. NOTHING AUTHENTICATES THE ANSWER:
 * whoever sits between this client and the agent can answer with a key of their own. Show the
 * fingerprint to a person who compares it with the one the agent printed at start before pinning the
 * key (memscan_key_trust). Drops any connection CLIENT had; URL becomes its address (as with
 * memscan_client_connect). Errors: CONNECT (unresolvable, refused), TIMEOUT, PROTOCOL (the agent
 * closed the connection: keyscan off, over its rate, or an agent without keyscan). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_keyscan(memscan_client *client, const char *url,
                                                         char *ret_line, size_t line_len,
                                                         char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN]);

/* Pointer scan of PID on the agent (memscan_pointer_search over a snapshot of its readable regions that
 * the agent takes, indexes and drops, charged to its budgets): only the chains come back, into a new
 * list (memscan_pointer_chains_free). OPTIONS NULL = the defaults; their max_bytes is the agent's
 * choice. While the agent works (one with FEATURE_PROGRESS says how far it is every 250 ms) the
 * progress callback (memscan_client_set_progress) receives DONE of three times the bytes of PID's
 * readable regions (memscan_filter_default): the first third while they are read, the second while
 * they are indexed, the last while the search goes on; the cancel callback is asked at each report:
 * CANCELLED then, the session usable (the agent drops the search). NOT_FOUND if ADDR is not mapped in
 * PID, BUSY past the agent's budgets, DENIED without the scan permission, UNKNOWN_OP from an agent
 * that predates pointer scans. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_pointer_search(memscan_client *client, int pid,
                                                                uint64_t addr,
                                                                const memscan_pointer_search_options *options,
                                                                memscan_pointer_chains **ret_chains);
/* Follows every chain of CHAINS in PID now, on the agent (memscan_pointer_resolve there, in batches of
 * 128 chains a request): RESULTS[i] and STATUSES[i] (both CHAINS' count long) receive where chain i led
 * and its memscan_err: OK, NOT_FOUND (the module is not mapped) or UNREADABLE (RESULTS[i].step and .at
 * say which pointer broke). The call itself fails (PROCESS_GONE, DENIED, ...) as a whole. Permission:
 * scan. Before each batch the progress callback gets the chains followed so far (of CHAINS' count,
 * memscan_client_set_progress_total's TOTAL) and the cancel callback is asked: CANCELLED then, the
 * session usable and RESULTS filled up to that batch only. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_pointer_follow(memscan_client *client, int pid,
                                                                const memscan_pointer_chains *chains,
                                                                memscan_pointer_resolution *results,
                                                                int *statuses);

/* ---- fleets: many agents at once ---- */

#define MEMSCAN_FLEET_NAME_LEN 280  /* HOST:PORT of one member, NUL included */
#define MEMSCAN_FLEET_MAX      4096 /* members of one fleet */
#define MEMSCAN_FLEET_PARALLEL 32   /* default of memscan_fleet_options.parallel */

typedef struct memscan_fleet_member {
	char host[MEMSCAN_FLEET_NAME_LEN];     /* its label: HOST[:PORT] as written, or ADDR:PORT */
	char url[MEMSCAN_FLEET_NAME_LEN + 8];  /* where to connect: tcp://HOST:PORT */
	char pin_name[MEMSCAN_FLEET_NAME_LEN]; /* the HOST:PORT its key is looked up under */
} memscan_fleet_member;

/* The members of fleet SPEC: "@FILE" (one HOST[:PORT] or [IPv6]:PORT a line, # comments, blank lines
 * skipped) or "HOST[:PORT]": a name that resolves to several addresses of one family (a headless
 * Service; IPv4 first) is one member per address (ADDR:PORT, pin_name the name), else one member.
 * *RET_MEMBERS (free()) holds *RET_COUNT >= 1 members. INVALID_ARG (bad line or spec, named in ERR),
 * IO (the file), LIMIT (more than MEMSCAN_FLEET_MAX), NO_MEMORY. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_fleet_resolve(const char *spec, memscan_fleet_member **ret_members,
                                                        size_t *ret_count, char *err, size_t err_len);

typedef struct memscan_fleet_options {
	const char *identity_file;     /* NULL: the default identity */
	const char *known_agents_file; /* NULL: the default known_agents */
	int timeout_ms;                /* 0: the client's default */
	int parallel;                  /* threads, 0: MEMSCAN_FLEET_PARALLEL */
} memscan_fleet_options;

/* Called once per member, on one of the fleet's threads, with a client of its own connected to it
 * (ERR is MEMSCAN_OK) or that failed to (ERR says why, memscan_client_last_error(CLIENT) in words).
 * Calls for different members run at the same time. Returns the member's result (memscan_err). */
typedef int (*memscan_fleet_fn)(void *ctx, const memscan_fleet_member *member, memscan_client *client,
                                int err);

/* Connects to every member (at most OPTS->parallel at a time, each held to the key pinned for its
 * pin_name) and calls FN for each; RESULTS (COUNT long, optional) receive what FN returned. MEMSCAN_OK
 * if every FN returned it, else the first member's failure in member order; INVALID_ARG, NO_MEMORY. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_fleet_run(const memscan_fleet_member *members, size_t count,
                                                    const memscan_fleet_options *opts, memscan_fleet_fn fn,
                                                    void *ctx, int *results);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCAN_CLIENT_H */
