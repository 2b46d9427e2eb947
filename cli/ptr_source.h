/* SPDX-License-Identifier: MIT */
/* The source a pointer command works on: a local PID, a snapshot file, or a remote TARGET. */
#ifndef MEMSCAN_CLI_PTR_SOURCE_H
#define MEMSCAN_CLI_PTR_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <memscan/memscan.h>

#include "target.h"

struct ptr_source {
	const char *text;
	int pid;
	memscan_process *proc;
	memscan_snapshot *snap;
	int remote; /* `memscan remote ...`: T is the agent's process */
	struct cli_target t;
};

/* Opens TEXT into S: a TARGET under `memscan remote` (IDENTITY its key), else a PID or a snapshot
 * file, loaded whole with a line against its size (unless QUIET) and Ctrl-C stopping the load.
 * CLI_OK, or a CLI_ exit code with the message printed; S is closed with ptr_source_close either
 * way. */
int ptr_source_open(struct ptr_source *s, const char *text, const char *identity, int quiet);
/* A snapshot of a local source in S->snap: the file's, or one taken now of the process's readable
 * regions (a progress line against their bytes unless QUIET). */
int ptr_source_snapshot(struct ptr_source *s, int quiet);
void ptr_source_close(struct ptr_source *s);
/* CLI_OK if ADDR lies in a region of the source, else CLI_USAGE with the message printed. */
int ptr_source_check_mapped(struct ptr_source *s, uint64_t addr);
/* LEN bytes at ADDR of the source into BUF (a snapshot's strings end at the region's end): OK, or an
 * error. */
int ptr_source_read(struct ptr_source *s, uint64_t addr, uint8_t *buf, size_t len);
/* memscan_pointer_resolve's contract, in the source (remote: followed on the agent). */
int ptr_source_resolve(struct ptr_source *s, const memscan_pointer_chain *c, memscan_pointer_resolution *res);

#endif /* MEMSCAN_CLI_PTR_SOURCE_H */
