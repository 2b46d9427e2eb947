/* SPDX-License-Identifier: MIT */
/* What the key file modules share (private to proto/): key text sizes, checked file I/O, line iteration. */
#ifndef MEMSCAN_KEYFILE_INTERNAL_H
#define MEMSCAN_KEYFILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

#include "keyfile.h"
#include "keyfile_safe.h"

/*
 * Strictness, in one place:
 * - A key is exactly 44 characters of padded standard base64 for exactly 32 bytes, in canonical form
 *   (it re-encodes to the same text), and public keys of small order are refused.
 * - A public line is "memscan-x25519" SP KEY [SP COMMENT]: exactly one space between fields, and a
 *   comment, if the space is there, is non-empty, does not start with a blank and holds no control
 *   character other than tab.
 * - A line, its newline included, is at most KEYFILE_LINE_MAX bytes; a file has at most
 *   KEYFILE_LINES_MAX lines. authorized_keys and known_agents may not contain NUL, CR (CRLF files are
 *   refused rather than half-understood) or any other control character but tab.
 * - In authorized_keys and known_agents, leading blanks are skipped, blank lines and lines whose first
 *   non-blank character is '#' are ignored, and options are separated by one or more blanks.
 * - authorized_keys may not list the same key twice (which line's permissions would apply?).
 * - known_agents: the first line for a HOST:PORT wins (keyfile_trust_agent never writes two); the
 *   whole file must parse, whichever line is looked up. HOST:PORT is compared byte for byte.
 * - Private keys and authorized_keys/known_agents are opened with O_NOFOLLOW and O_NONBLOCK, must be
 *   regular files, and are refused if group or others may read/write a private key, or write
 *   authorized_keys or known_agents (either would let them choose whom we trust). They must also be
 *   owned by root or this process's user and lie in directories nobody else can write to
 *   (keyfile_safe.h). .pub files may be symbolic links (they hold nothing secret).
 */

#define PUB_PREFIX_LEN  (sizeof(KEYFILE_PUB_PREFIX) - 1)
#define PRIV_PREFIX_LEN (sizeof(KEYFILE_PRIV_PREFIX) - 1)
/* Padded base64 of a key: 44 characters. */
#define B64_KEY_LEN (sodium_base64_ENCODED_LEN(KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL) - 1)
/* "memscan-x25519 BASE64" and "memscan-x25519-private BASE64\n" */
#define PUB_KEY_TEXT_LEN (PUB_PREFIX_LEN + 1 + B64_KEY_LEN)
#define PRIV_LINE_LEN    (PRIV_PREFIX_LEN + 1 + B64_KEY_LEN + 1)
/* Largest authorized_keys or known_agents file read. */
#define TEXT_FILE_MAX ((size_t)16 << 20)

static inline void keyfile_err_reset(char *err, size_t err_len)
{
	if (err && err_len)
		err[0] = '\0';
}

/* ---- keys (keyfile.c) ---- */

/* "memscan-x25519 BASE64 [comment]" in the LEN bytes at S; RET_COMMENT_OFFSET (optional) receives where
 * the comment starts. 0 or -EINVAL (PUB wiped). */
int keyfile_parse_public_n(const char *s, size_t len, uint8_t pub[KEYFILE_KEY_LEN],
                           size_t *ret_comment_offset);
/* False for keys of small order (and other encodings X25519 refuses): they would make every shared
 * secret zero. */
int keyfile_pub_usable(const uint8_t pub[KEYFILE_KEY_LEN]);

/* ---- safe file I/O (keyfile_io.c) ---- */

enum keyfile_kind {
	KEYFILE_SECRET, /* private key: no symlink, no group/other bit at all */
	KEYFILE_TRUST,  /* authorized_keys, known_agents: no symlink, not writable by group/other */
	KEYFILE_PUBLIC, /* .pub: anything readable */
};

/* "PATH: WHAT: strerror(RC)" into ERR; returns RC (a negative errno). */
int keyfile_fail_errno(char *err, size_t err_len, int rc, const char *path, const char *what);
/* The directory part of PATH ("." if none) into OUT (PATH_MAX bytes). */
int keyfile_dir_of(const char *path, char *out);
/* Opens PATH for reading without blocking (FIFOs) or following a final symlink (unless KIND is
 * KEYFILE_PUBLIC), and checks it is a regular file of at most MAX bytes with acceptable permissions and,
 * unless KIND is KEYFILE_PUBLIC, owner and directories (keyfile_safe.h). */
int keyfile_open_checked(const char *path, enum keyfile_kind kind, size_t max, int *ret_fd, size_t *ret_size,
                         char *err, size_t err_len);
/* Reads up to CAP bytes of FD (stops early at end of file). */
int keyfile_read_all(int fd, char *buf, size_t cap, size_t *ret_len);
/* Reads a whole KEYFILE_TRUST file (at most TEXT_FILE_MAX bytes) into a malloc'd buffer. */
int keyfile_read_text(const char *path, char **ret_buf, size_t *ret_len, char *err, size_t err_len);
/* Best effort: makes a rename or a creation in DIR durable. */
void keyfile_fsync_dir(const char *dir);
/* Creates PATH (never overwriting, never through a symlink) holding DATA. Nothing is left on failure. */
int keyfile_write_new(const char *path, mode_t mode, const char *data, size_t len, char *err, size_t err_len);
/* Replaces PATH (in DIR) with DATA atomically: a 0600 temporary file in the same directory, then rename. */
int keyfile_write_replace(const char *path, const char *dir, const char *data, size_t len, char *err,
                          size_t err_len);
/* mkdir -p DIR with mode 0700 for what it creates. DIR is restored before returning. */
int keyfile_mkdir_p(char *dir, char *err, size_t err_len);

/* ---- line-oriented files (keyfile_lines.c) ---- */

struct keyfile_lines {
	const char *text;
	size_t len, pos;
	size_t no;           /* number of the current line, from 1 */
	size_t cur, cur_len; /* where the current line is in TEXT, newline excluded */
};

/* The next line of IT, NUL-terminated in LINE. 1, 0 at the end, or -EINVAL with WHY. */
int keyfile_next_line(struct keyfile_lines *it, char line[KEYFILE_LINE_MAX], char *why, size_t why_len);
char *keyfile_skip_blanks(char *p);
/* Blank lines and '#' comments. */
int keyfile_ignorable(char *line);
/* "NAME: line N: WHY", or "line N: WHY" without a file name; returns -EINVAL. */
int keyfile_fail_line(char *err, size_t err_len, const char *name, size_t no, const char *why);

#endif /* MEMSCAN_KEYFILE_INTERNAL_H */
