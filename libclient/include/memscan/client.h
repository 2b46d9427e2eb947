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
/* What memscan_client_snapshot_save wrote. */
typedef struct memscan_snapshot_file_info {
	size_t regions;      /* region records */
	uint64_t bytes;      /* their total size */
	uint64_t hole_bytes; /* of which unreadable (stored as zeros) */
} memscan_snapshot_file_info;
/* Downloads the kept snapshot ID straight into a snapshot file at PATH (docs/snapshot-format.md,
 * through memscan_snapshot_writer): the client holds one page at a time, not the snapshot, and the
 * file is written while the agent reads the next page. The file appears at PATH, whole and fsynced,
 * only on success. RET_INFO (optional) receives what was written. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_snapshot_save(memscan_client *client, uint64_t id,
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
typedef int (*memscan_diff_part_fn)(void *ctx, const memscan_diff *part);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_diff_parts(memscan_client *client, uint64_t id,
                                                            unsigned flags, memscan_diff_part_fn on_part,
                                                            void *ctx);
/* Frees the kept snapshot ID on the agent. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_client_release(memscan_client *client, uint64_t id);

/* ---- keys: the files `memscan keygen`, `fingerprint` and `trust` work with ------------------- */

/* "SHA256:" + 43 base64 characters + NUL. */
#define MEMSCAN_FINGERPRINT_LEN 51

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

#ifdef __cplusplus
}
#endif
#endif /* MEMSCAN_CLIENT_H */
