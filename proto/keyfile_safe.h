/* SPDX-License-Identifier: MIT */
/* Key file path safety: who owns a key file and every directory above it, and who may write there. */
#ifndef MEMSCAN_KEYFILE_SAFE_H
#define MEMSCAN_KEYFILE_SAFE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * The rule, like sshd's StrictModes: a private key, authorized_keys or known_agents is trusted only if
 * nobody but root and this process's effective user could have written it or put it in place.
 * - The file is owned by root or by the effective uid (its mode is checked by the caller).
 * - Every directory that really holds it, from its own up to / (walked with ".." from the directory
 *   the file was opened in, so symbolic links in the path are resolved and the directories checked are
 *   the ones the file lies in), is owned by root or by the effective uid, and is not writable by group
 *   or others unless it is sticky (mode +t, as /tmp): in a sticky directory only a file's owner, the
 *   directory's owner and root may rename or delete an entry, so others cannot swap ours.
 * Each check returns 0 or -EPERM with ERR (ERR_LEN bytes) naming PATH, the offender, its owner and
 * mode, and the command that fixes it; other negatives are the errno of a failed call.
 */

/* Checks the directory chain above DIRFD (an open descriptor of the directory PATH was opened in;
 * O_PATH is enough). DIRFD stays open. */
int keyfile_safe_dirs(const char *path, int dirfd, char *err, size_t err_len);
/* Checks the owner of the opened file ST (from fstat) reached through PATH. */
int keyfile_safe_owner(const char *path, const struct stat *st, char *err, size_t err_len);

/* Writes the message FMT into ERR (ERR_LEN bytes; nothing if NULL) and returns RC: how every key file
 * function fails. */
__attribute__((format(printf, 4, 5))) int keyfile_fail(char *err, size_t err_len, int rc, const char *fmt,
                                                       ...);

#endif /* MEMSCAN_KEYFILE_SAFE_H */
