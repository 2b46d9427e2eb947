/* SPDX-License-Identifier: MIT */
/* Files written whole or not at all: an unnamed file in the destination's directory (O_TMPFILE, mode
 * 0600: what memscan writes names or holds a process's memory), so that a process killed while writing
 * leaves nothing behind; at commit it is fsynced, given a temporary name and renamed over the
 * destination. Where the file system has no unnamed files, a named temporary sibling is written
 * instead (removed on failure or abort, not after SIGKILL). Snapshot files, value-set files and
 * pointer-chain files are all written through it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "afile.h"

/* The directory of PATH into a new string ("." for a bare name). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

/* An unnamed file in PATH's directory, or -1 (the file system has none, the directory is not there:
 * the named way then says why; or there is no /proc to name it through at commit, which without
 * CAP_DAC_READ_SEARCH is the only way, and a file that cannot be named would lose the write). */
static int open_unnamed(const char *path)
{
	char *dir = access("/proc/self/fd", X_OK) == 0 ? dir_of(path) : NULL;
	int fd = dir ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;

	free(dir);
	return fd;
}

int ms_afile_open(ms_afile *af, const char *path)
{
	static const char suffix[] = ".tmp.XXXXXX";
	size_t len = strlen(path);

	memset(af, 0, sizeof(*af));
	af->fd = -1;
	af->path = strdup(path);
	af->tmp = malloc(len + sizeof(suffix));
	if (!af->path || !af->tmp) {
		ms_afile_abort(af);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	memcpy(af->tmp, path, len);
	memcpy(af->tmp + len, suffix, sizeof(suffix));
	af->fd = open_unnamed(path);
	if (af->fd >= 0) {
		af->unnamed = 1; /* AF->tmp is only a pattern until commit names the file */
		return MEMSCAN_OK;
	}
	af->fd = mkostemp(af->tmp, O_CLOEXEC);
	if (af->fd < 0) {
		free(af->tmp);
		af->tmp = NULL; /* nothing to remove */
		ms_afile_abort(af);
		return MEMSCAN_ERR_IO;
	}
	if (fchmod(af->fd, 0600) < 0) {
		ms_afile_abort(af);
		return MEMSCAN_ERR_IO;
	}
	return MEMSCAN_OK;
}

/* Gives the unnamed file FD a temporary name from AF->tmp's pattern (its X's replaced), so that it
 * can be renamed over the destination: the name exists only from now until the rename. */
static int name_unnamed(ms_afile *af, int fd)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char proc[64];
	size_t len = strlen(af->tmp);

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int attempt = 0; attempt < 100; attempt++) {
		struct timespec ts;
		uint64_t r;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)getpid() << 20 ^ (uint64_t)attempt;
		for (size_t i = len - 6; i < len; i++, r /= 36)
			af->tmp[i] = digits[r % 36];
		if (linkat(AT_FDCWD, proc, AT_FDCWD, af->tmp, AT_SYMLINK_FOLLOW) == 0) {
			af->unnamed = 0; /* named now: abort removes it */
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

FILE *ms_afile_stream(ms_afile *af)
{
	if (!af->f && af->fd >= 0) {
		af->f = fdopen(af->fd, "wb");
		if (af->f)
			af->fd = -1; /* the stream owns it now */
	}
	return af->f;
}

/* Makes the rename durable; best effort (some file systems refuse fsync on directories). */
static void sync_parent_dir(const char *path)
{
	char *dir = dir_of(path);
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	free(dir);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int ms_afile_commit(ms_afile *af)
{
	int fd = af->f ? fileno(af->f) : af->fd, rc = MEMSCAN_OK;

	if (fd < 0 || (af->f && fflush(af->f) != 0) || fsync(fd) != 0)
		rc = MEMSCAN_ERR_IO;
	if (rc == MEMSCAN_OK && af->unnamed && name_unnamed(af, fd) != 0)
		rc = MEMSCAN_ERR_IO;
	if (af->f ? fclose(af->f) != 0 : (af->fd >= 0 && close(af->fd) < 0))
		rc = MEMSCAN_ERR_IO;
	af->f = NULL;
	af->fd = -1;
	if (rc == MEMSCAN_OK && rename(af->tmp, af->path) < 0)
		rc = MEMSCAN_ERR_IO;
	if (rc == MEMSCAN_OK) {
		sync_parent_dir(af->path);
		free(af->tmp);
		af->tmp = NULL; /* it is the destination now */
	}
	ms_afile_abort(af);
	return rc;
}

void ms_afile_abort(ms_afile *af)
{
	if (af->f)
		fclose(af->f);
	else if (af->fd >= 0)
		close(af->fd);
	if (af->tmp && !af->unnamed)
		unlink(af->tmp); /* not committed: no partial file is left (an unnamed one goes by itself) */
	free(af->tmp);
	free(af->path);
	memset(af, 0, sizeof(*af));
	af->fd = -1;
}
