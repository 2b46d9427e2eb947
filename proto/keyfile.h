/* SPDX-License-Identifier: MIT */
/* Key files: X25519 key pairs, public key lines, fingerprints, authorized_keys and known_agents. */
#ifndef MEMSCAN_KEYFILE_H
#define MEMSCAN_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define KEYFILE_KEY_LEN     32
#define KEYFILE_PUB_PREFIX  "memscan-x25519"
#define KEYFILE_PRIV_PREFIX "memscan-x25519-private"
/* "SHA256:" + unpadded base64 of SHA-256(public key) + NUL */
#define KEYFILE_FINGERPRINT_LEN 51
/* Longest line accepted in any key file, and most lines in one file. */
#define KEYFILE_LINE_MAX  4096
#define KEYFILE_LINES_MAX 100000

/* Every function returns 0 or a negative errno-style code, and fills ERR (if not NULL, ERR_LEN
 * bytes) with a one-line reason naming the file and line, e.g. "agent.key: mode 0644 lets group or
 * others read a private key: chmod 600 agent.key". -EINVAL: malformed; -EPERM: bad permissions;
 * -EEXIST: keygen target exists; other negatives: errno of the failed call. */

/* Creates PATH (0600, O_EXCL|O_NOFOLLOW) holding a new private key and PATH.pub holding
 * "memscan-x25519 BASE64 COMMENT\n", and PATH's directory first (0700, with its parents) if missing.
 * Fails with -EEXIST rather than overwrite. Returns the public key in RET_PUB. */
int keyfile_generate(const char *path, const char *comment, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                     size_t err_len);
/* Loading a private key, authorized_keys or known_agents also refuses a file owned by someone other
 * than root or the effective uid, or below a directory that someone else owns or that group or others
 * may write to without the sticky bit (-EPERM; keyfile_safe.h has the rule). */
/* Loads a private key file (refused if group/other permission bits are set, or not a regular file).
 * RET_PRIV must point to KEYFILE_KEY_LEN bytes, ideally sodium_malloc'd; RET_PUB receives its public key. */
int keyfile_load_private(const char *path, uint8_t *ret_priv, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                         size_t err_len);
/* Parses "memscan-x25519 BASE64 [comment]" (exactly 32 key bytes, nothing else but an optional
 * comment). RET_COMMENT_OFFSET (optional) receives where the comment starts in LINE (or its length). */
int keyfile_parse_public(const char *line, uint8_t ret_pub[KEYFILE_KEY_LEN], size_t *ret_comment_offset);
/* Loads a .pub file (one such line). */
int keyfile_load_public(const char *path, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err, size_t err_len);
/* "memscan-x25519 BASE64" (no newline) into OUT. */
int keyfile_format_public(const uint8_t pub[KEYFILE_KEY_LEN], char *out, size_t out_len);
/* "SHA256:...." fingerprint of PUB into OUT (KEYFILE_FINGERPRINT_LEN bytes). */
void keyfile_fingerprint(const uint8_t pub[KEYFILE_KEY_LEN], char out[KEYFILE_FINGERPRINT_LEN]);

/* Longest exe= value (patterns and commas). */
#define KEYFILE_EXE_MAX 512

/* One authorized client: its key, the permissions granted (CHAN_PERM_* bits of chan.h), an optional
 * range of target uids (uid_min > uid_max means any uid) and optional patterns for the target's
 * executable (exe: comma-separated absolute fnmatch patterns; "" means any executable). */
typedef struct keyfile_auth {
	uint8_t pub[KEYFILE_KEY_LEN];
	uint32_t perms;
	uint32_t uid_min, uid_max;
	char exe[KEYFILE_EXE_MAX];
	char comment[128];
} keyfile_auth;

/* Whether executable path PATH matches one of the comma-separated patterns of EXE (fnmatch with
 * FNM_PATHNAME: '*' stays within one directory); an empty EXE matches everything. */
int keyfile_exe_allowed(const char *exe, const char *path);

/* Parses an authorized_keys file: one client per line, "[OPTION ...] memscan-x25519 BASE64 [comment]"
 * where each OPTION is a space-separated token: perms=LIST (comma-separated from list, read, scan),
 * uids=MIN-MAX (decimal) or exe=PATTERN[,PATTERN...] (absolute paths, fnmatch wildcards). '#' comment lines
 * and blank lines are ignored. Without perms= a key gets no permission at all. Any malformed line, unknown
 * option or repeated option rejects the whole file (the agent then refuses to start, or keeps its previous
 * list on SIGHUP). An empty file gives zero entries: nobody gets in. Loading also refuses a file that group
 * or others can write. The array is released with free(). */
int keyfile_load_authorized(const char *path, keyfile_auth **ret_list, size_t *ret_count, char *err,
                            size_t err_len);
int keyfile_parse_authorized(const char *text, size_t len, keyfile_auth **ret_list, size_t *ret_count,
                             char *err, size_t err_len);

/* known_agents: lines "HOST:PORT memscan-x25519 BASE64 [comment]" (HOST:PORT may also be an agent's
 * ipc:///PATH). Looks up HOSTPORT (as written by keyfile_trust_agent, e.g. "127.0.0.1:7777",
 * "[::1]:7777" or "ipc:///run/memscan/agent.sock"); -ENOENT if absent. This is the one place that
 * decides whether a line names HOSTPORT. */
int keyfile_known_agent(const char *path, const char *hostport, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                        size_t err_len);
/* Adds or replaces HOSTPORT's line in PATH (created 0600 with its directory 0700 if missing),
 * rewriting the file atomically. */
int keyfile_trust_agent(const char *path, const char *hostport, const uint8_t pub[KEYFILE_KEY_LEN], char *err,
                        size_t err_len);

/* Default client paths: $XDG_CONFIG_HOME/memscan/{id_x25519,known_agents}, else ~/.config/memscan/...
 * Returns 0 or -ENAMETOOLONG / -ENOENT (no HOME). */
/* Replaces the file PATH with LEN bytes of DATA atomically and durably: a 0600 temporary sibling,
 * fsynced, renamed over PATH, its directory synced; nothing is left on failure. 0 or -errno (ERR
 * says what failed). */
int keyfile_replace(const char *path, const void *data, size_t len, char *err, size_t err_len);

int keyfile_default_identity(char *out, size_t out_len);
int keyfile_default_known_agents(char *out, size_t out_len);

#endif /* MEMSCAN_KEYFILE_H */
