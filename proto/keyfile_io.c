/* SPDX-License-Identifier: MIT */
/* Safe key file I/O: checked opens in checked directories, exclusive creation, atomic replacement, mkdir -p.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile_internal.h"

static const char *errstr(int neg_errno, char *buf, size_t len)
{
	return strerror_r(-neg_errno, buf, len);
}

int keyfile_fail_errno(char *err, size_t err_len, int rc, const char *path, const char *what)
{
	char buf[128];

	return keyfile_fail(err, err_len, rc, "%s: %s: %s", path, what, errstr(rc, buf, sizeof(buf)));
}

static int check_stat(const char *path, const struct stat *st, enum keyfile_kind kind, size_t max, char *err,
                      size_t err_len)
{
	unsigned mode = (unsigned)st->st_mode & 07777;

	if (!S_ISREG(st->st_mode))
		return keyfile_fail(err, err_len, -EINVAL, "%s: not a regular file", path);
	if (kind != KEYFILE_PUBLIC && keyfile_safe_owner(path, st, err, err_len) != 0)
		return -EPERM;
	if (kind == KEYFILE_SECRET && (mode & 077))
		return keyfile_fail(err, err_len, -EPERM,
		                    "%s: mode %04o lets group or others access a private key: chmod 600 %s",
		                    path, mode, path);
	if (kind == KEYFILE_TRUST && (mode & 022))
		return keyfile_fail(err, err_len, -EPERM,
		                    "%s: mode %04o lets group or others write it: chmod go-w %s", path, mode,
		                    path);
	if ((unsigned long long)st->st_size > max)
		return keyfile_fail(err, err_len, -EINVAL, "%s: larger than %zu bytes", path, max);
	return 0;
}

/* The directory part of PATH ("." if none) into OUT (PATH_MAX bytes). */
int keyfile_dir_of(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return snprintf(out, PATH_MAX, ".") < PATH_MAX ? 0 : -ENAMETOOLONG;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

/* Opens PATH's directory, checks it and every directory above it (keyfile_safe.h), then opens PATH in
 * that directory with FLAGS and O_NOFOLLOW, so the file opened is the one in the directories checked.
 * The descriptor, or a negative errno with ERR set. */
static int open_in_safe_dir(const char *path, int flags, char *err, size_t err_len)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int dirfd, fd, rc;

	if (keyfile_dir_of(path, dir) != 0)
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return keyfile_fail_errno(err, err_len, -errno, path, "open");
	rc = keyfile_safe_dirs(path, dirfd, err, err_len);
	if (rc) {
		close(dirfd);
		return rc;
	}
	fd = openat(dirfd, slash ? slash + 1 : path, flags | O_NOFOLLOW);
	rc = fd < 0 ? -errno : fd;
	close(dirfd);
	if (rc == -ELOOP)
		return keyfile_fail(err, err_len, rc, "%s: is a symbolic link; refusing to follow it", path);
	if (rc < 0)
		return keyfile_fail_errno(err, err_len, rc, path, "open");
	return rc;
}

/* Opens PATH for reading without blocking (FIFOs) or following a final symlink (unless KIND is
 * KEYFILE_PUBLIC), and checks it is a regular file of at most MAX bytes with acceptable permissions and,
 * unless KIND is KEYFILE_PUBLIC, owner and directories (keyfile_safe.h). */
int keyfile_open_checked(const char *path, enum keyfile_kind kind, size_t max, int *ret_fd, size_t *ret_size,
                         char *err, size_t err_len)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd, rc;

	if (kind != KEYFILE_PUBLIC)
		fd = open_in_safe_dir(path, flags, err, err_len);
	else if ((fd = open(path, flags)) < 0)
		fd = keyfile_fail_errno(err, err_len, -errno, path, "open");
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0) {
		rc = keyfile_fail_errno(err, err_len, -errno, path, "fstat");
		goto out;
	}
	rc = check_stat(path, &st, kind, max, err, err_len);
out:
	if (rc) {
		close(fd);
		return rc;
	}
	*ret_fd = fd;
	if (ret_size)
		*ret_size = (size_t)st.st_size;
	return 0;
}

/* Reads up to CAP bytes of FD (stops early at end of file). */
int keyfile_read_all(int fd, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_len = len;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads a whole KEYFILE_TRUST file into a malloc'd buffer. */
int keyfile_read_text(const char *path, char **ret_buf, size_t *ret_len, char *err, size_t err_len)
{
	size_t size, len = 0;
	char *buf = NULL;
	int fd, rc;

	rc = keyfile_open_checked(path, KEYFILE_TRUST, TEXT_FILE_MAX, &fd, &size, err, err_len);
	if (rc)
		return rc;
	buf = malloc(size + 1);
	if (!buf) {
		rc = keyfile_fail(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = keyfile_read_all(fd, buf, size + 1, &len);
	if (rc) {
		rc = keyfile_fail_errno(err, err_len, rc, path, "read");
		goto out;
	}
	if (len > size)
		rc = keyfile_fail(err, err_len, -EAGAIN, "%s: changed while being read", path);
out:
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* Best effort: makes a rename or a creation in DIR durable. */
void keyfile_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	fsync(fd);
	close(fd);
}

/* Writes LEN bytes to FD, makes them MODE (umask-proof) and durable, and closes FD. */
static int finish_file(int fd, mode_t mode, const char *data, size_t len)
{
	int rc = 0;

	if (fchmod(fd, mode) != 0)
		rc = -errno;
	if (!rc)
		rc = write_all(fd, data, len);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	return rc;
}

/* Creates PATH (never overwriting, never through a symlink) holding DATA. Nothing is left on failure. */
int keyfile_write_new(const char *path, mode_t mode, const char *data, size_t len, char *err, size_t err_len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	int rc;

	if (fd < 0 && errno == EEXIST)
		return keyfile_fail(err, err_len, -EEXIST, "%s: already exists; not overwriting it", path);
	if (fd < 0)
		return keyfile_fail_errno(err, err_len, -errno, path, "create");
	rc = finish_file(fd, mode, data, len);
	if (rc) {
		unlink(path);
		return keyfile_fail_errno(err, err_len, rc, path, "write");
	}
	return 0;
}

/* Replaces PATH with DATA atomically: a 0600 temporary file in the same directory, then rename. */
int keyfile_write_replace(const char *path, const char *dir, const char *data, size_t len, char *err,
                          size_t err_len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return keyfile_fail_errno(err, err_len, -errno, tmp, "create");
	rc = finish_file(fd, 0600, data, len);
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return keyfile_fail_errno(err, err_len, rc, path, "replace");
	}
	keyfile_fsync_dir(dir);
	return 0;
}

int keyfile_replace(const char *path, const void *data, size_t len, char *err, size_t err_len)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path) >=
	         (int)sizeof(dir))
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	return keyfile_write_replace(path, dir, data, len, err, err_len);
}

/* mkdir -p DIR with mode 0700 for what it creates. DIR is restored before returning. */
int keyfile_mkdir_p(char *dir, char *err, size_t err_len)
{
	for (char *p = dir + 1; *p; p++) {
		int r;
		if (*p != '/')
			continue;
		*p = '\0';
		r = mkdir(dir, 0700);
		*p = '/';
		if (r != 0 && errno != EEXIST)
			return keyfile_fail_errno(err, err_len, -errno, dir, "mkdir");
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return keyfile_fail_errno(err, err_len, -errno, dir, "mkdir");
	return 0;
}
