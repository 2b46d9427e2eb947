/* SPDX-License-Identifier: MIT */
/* Files written whole or not at all (afile.c). */
#ifndef MEMSCAN_AFILE_H
#define MEMSCAN_AFILE_H

#include <stdio.h>

#include "internal.h"

/* The file being written: FD (or, once ms_afile_stream was asked for, F) is an unnamed file in the
 * destination's directory (UNNAMED; TMP is the pattern of the name it gets at commit), or else the
 * temporary sibling TMP. */
typedef struct ms_afile {
	char *path, *tmp;
	int fd;
	int unnamed;
	FILE *f;
} ms_afile;

/* Creates the file to write (mode 0600): unnamed in PATH's directory where the file system allows,
 * else a temporary sibling of PATH. memscan_err: NO_MEMORY, IO. */
int ms_afile_open(ms_afile *af, const char *path);
/* A stdio stream on it (the stream then owns the descriptor); NULL if it cannot be made. */
FILE *ms_afile_stream(ms_afile *af);
/* Flushes, fsyncs and closes it, renames it over PATH and syncs PATH's directory; on failure the
 * temporary file is removed and PATH is as it was. Releases AF either way. memscan_err: IO. */
int ms_afile_commit(ms_afile *af);
/* Removes the temporary file and releases AF (nothing is written to PATH). Safe after commit. */
void ms_afile_abort(ms_afile *af);

#endif /* MEMSCAN_AFILE_H */
