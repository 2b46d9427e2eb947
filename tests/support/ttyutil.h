/* SPDX-License-Identifier: MIT */
/* Test helpers of the end-to-end suites: the memscan CLI run on a pseudo-terminal (what a user sees
 * on stderr: progress lines), its stdout on a pipe, drained and counted. */
#ifndef MEMSCAN_TTYUTIL_H
#define MEMSCAN_TTYUTIL_H

#include "cliutil.h"

/* A CLI run on a pseudo-terminal: what the terminal received so far, how many bytes the CLI wrote
 * to its stdout. */
typedef struct ms_tty {
	pid_t pid;
	int master, outp; /* the terminal and the stdout pipe; -1 once at their end */
	char out[1 << 16];
	size_t len;
	uint64_t out_bytes;
} ms_tty;

/* Starts the CLI with ARGV (ARGV[0] is its name, NULL-terminated) as ms_run_cli does, SIGINT at its
 * default. */
void ms_tty_start(ms_tty *t, const char *const *argv);
/* The same with its stdout on the terminal too (what a user sees of both), T->out_bytes left 0. */
void ms_tty_start_shared(ms_tty *t, const char *const *argv);
/* Reads the terminal and stdout until NEEDLE (if not NULL) shows on the terminal or OUT_MIN (if not
 * 0) bytes came on stdout (1), both ended or MS passed (0). */
int ms_tty_pump(ms_tty *t, const char *needle, uint64_t out_min, int ms);
/* Reads both to their end and reaps the CLI (killed if it runs on after MS): its exit code, 128 +
 * the signal that ended it, or -1. */
int ms_tty_finish(ms_tty *t, int ms);
/* Runs the CLI with ARGV (argv[0] excluded) on a pseudo-terminal, INPUT (may be NULL) typed at it,
 * and sends it SIGINT once the terminal shows INTERRUPT_AT (if not NULL); returns what the terminal
 * received (its stderr), NUL-terminated, in a static buffer; *RET_STATUS: its exit code (-1 if it
 * ran on for a minute). */
const char *ms_run_on_tty(const char *const *argv, const char *input, const char *interrupt_at,
                          int *ret_status);

#endif /* MEMSCAN_TTYUTIL_H */
