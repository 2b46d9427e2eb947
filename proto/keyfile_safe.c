/* SPDX-License-Identifier: MIT */
/* Key file path safety: the owner of a key file and the owners and modes of the directories above it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "keyfile_safe.h"

/* Most directories walked up from a key file: more than any real path has (PATH_MAX bytes hold at
 * most PATH_MAX / 2 components); a deeper chain means something is wrong, not a deep tree. */
#define SAFE_DEPTH_MAX (PATH_MAX / 2)

int keyfile_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int safe_fail_errno(char *err, size_t err_len, int rc, const char *path)
{
	char buf[128];

	return keyfile_fail(err, err_len, rc, "%s: checking the directories that hold it: %s", path,
	                    strerror_r(-rc, buf, sizeof(buf)));
}

static int owner_ok(uid_t owner)
{
	return owner == 0 || owner == geteuid();
}

/* Who may own a key file, for a message ("root", or "root or uid N (this process's user)"), or, with
 * FOR_CHOWN, whom to give it to ("root" or "N"). */
static const char *allowed_owner(int for_chown, char *buf, size_t len)
{
	uid_t uid = geteuid();

	if (uid == 0)
		return "root";
	snprintf(buf, len, for_chown ? "%u" : "root or uid %u (this process's user)", (unsigned)uid);
	return buf;
}

/* The name of directory FD for a message: its path as /proc sees it, else a description. */
static void dir_name(int fd, const char *path, char *out, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	if (n > 0 && out[0] == '/') {
		out[n] = '\0';
		return;
	}
	snprintf(out, len, "a directory above %s", path);
}

/* One directory of the chain: FD with status ST. */
static int dir_check(const char *path, int fd, const struct stat *st, char *err, size_t err_len)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	char name[PATH_MAX], who[64], to[32];

	if (owner_ok(st->st_uid) && (!(mode & 022) || (mode & S_ISVTX)))
		return 0;
	dir_name(fd, path, name, sizeof(name));
	if (!owner_ok(st->st_uid))
		return keyfile_fail(
		    err, err_len, -EPERM,
		    "%s: directory %s (mode %04o) is owned by uid %u, not by %s, and its owner could "
		    "replace the file: chown %s %s, or keep the file in a directory that only %s controls",
		    path, name, mode, (unsigned)st->st_uid, allowed_owner(0, who, sizeof(who)),
		    allowed_owner(1, to, sizeof(to)), name, allowed_owner(0, who, sizeof(who)));
	return keyfile_fail(
	    err, err_len, -EPERM,
	    "%s: directory %s (owner uid %u, mode %04o) lets group or others replace the file: "
	    "chmod go-w %s",
	    path, name, (unsigned)st->st_uid, mode, name);
}

/* Opens the parent of directory CUR (status ST) into *RET_FD and *RET_ST; 1 if CUR is the root. */
static int dir_parent(int cur, const struct stat *st, int *ret_fd, struct stat *ret_st)
{
	int fd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, ret_st) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (ret_st->st_dev == st->st_dev && ret_st->st_ino == st->st_ino) {
		close(fd);
		return 1;
	}
	*ret_fd = fd;
	return 0;
}

int keyfile_safe_dirs(const char *path, int dirfd, char *err, size_t err_len)
{
	struct stat st, up;
	int cur, next = -1, rc;

	cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (cur < 0)
		return safe_fail_errno(err, err_len, -errno, path);
	if (fstat(cur, &st) != 0) {
		rc = safe_fail_errno(err, err_len, -errno, path);
		goto out;
	}
	for (int depth = 0;; depth++) {
		rc = dir_check(path, cur, &st, err, err_len);
		if (rc)
			break;
		if (depth >= SAFE_DEPTH_MAX) {
			rc = safe_fail_errno(err, err_len, -ELOOP, path);
			break;
		}
		rc = dir_parent(cur, &st, &next, &up);
		if (rc) {
			rc = rc > 0 ? 0 : safe_fail_errno(err, err_len, rc, path);
			break;
		}
		close(cur);
		cur = next;
		st = up;
	}
out:
	close(cur);
	return rc;
}

int keyfile_safe_owner(const char *path, const struct stat *st, char *err, size_t err_len)
{
	char who[64], to[32];

	if (owner_ok(st->st_uid))
		return 0;
	return keyfile_fail(err, err_len, -EPERM,
	                    "%s: owned by uid %u (mode %04o), not by %s, so its owner decides what it holds: "
	                    "chown %s %s",
	                    path, (unsigned)st->st_uid, (unsigned)st->st_mode & 07777,
	                    allowed_owner(0, who, sizeof(who)), allowed_owner(1, to, sizeof(to)), path);
}
