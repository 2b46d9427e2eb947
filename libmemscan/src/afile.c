/* SPDX-License-Identifier: MIT */
/* Files written whole or not at all: a temporary sibling of the destination (mode 0600: what memscan
 * writes names or holds a process's memory), fsynced and renamed over it at commit, removed otherwise.
 * Snapshot files, value-set files and pointer-chain files are all written through it. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"

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
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		if (!dir)
			return;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
	}
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int ms_afile_commit(ms_afile *af)
{
	int rc = MEMSCAN_OK;

	if (af->f) {
		if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
			rc = MEMSCAN_ERR_IO;
		if (fclose(af->f) != 0)
			rc = MEMSCAN_ERR_IO;
		af->f = NULL;
	} else if (af->fd >= 0) {
		if (fsync(af->fd) < 0)
			rc = MEMSCAN_ERR_IO;
		if (close(af->fd) < 0)
			rc = MEMSCAN_ERR_IO;
		af->fd = -1;
	} else {
		rc = MEMSCAN_ERR_IO;
	}
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
	if (af->tmp)
		unlink(af->tmp); /* not committed: no partial file is left */
	free(af->tmp);
	free(af->path);
	memset(af, 0, sizeof(*af));
	af->fd = -1;
}
