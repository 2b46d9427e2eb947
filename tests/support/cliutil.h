/* SPDX-License-Identifier: MIT */
/* Test helpers of the end-to-end suites: run the memscan CLI and capture its output. */
#ifndef MEMSCAN_CLIUTIL_H
#define MEMSCAN_CLIUTIL_H

#include "testutil.h"

/* How the CLI is started (see ms_launch). */
extern ms_launch ms_launch_cli;

/* The result of running the memscan CLI. */
typedef struct ms_run {
	int status; /* exit code, or 128+signal */
	char *out;  /* stdout, NUL-terminated */
	size_t out_len;
	char *err;        /* stderr, NUL-terminated */
	long max_rss_kib; /* its peak resident memory (getrusage's ru_maxrss) */
} ms_run;

/* Runs the memscan CLI with ARGV (argv[0] excluded, NULL-terminated), no stdin, 60 s limit.
 * Returns 0 if it ran (whatever its exit code), -1 otherwise. */
int ms_run_cli(ms_run *r, const char *const *argv);
void ms_run_free(ms_run *r);
/* In a child: execs the CLI with ARGV (argv[0] excluded, NULL-terminated) as ms_run_cli does (its
 * launcher, SIGPIPE at its default); exits 127 if it cannot. */
void ms_exec_cli(const char *const *argv) __attribute__((noreturn));
/* Runs the CLI with ARGV and asserts that it refused it as a usage error: exit 2, "memscan: ..." on
 * stderr. */
void ms_assert_usage_error(const char *const *argv);
/* Runs the CLI with the given arguments, asserting that it ran: RUN(&r, "scan", pid, "--pattern", "00"). */
#define RUN(r, ...)                                                                                          \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		assert_int_equal(ms_run_cli((r), argv_), 0);                                                 \
	} while (0)

/* An interactive CLI run (e.g. `memscan hunt`): lines written to its stdin, its stdout read line by
 * line, its stderr collected in a file. */
typedef struct ms_session {
	pid_t pid;
	FILE *to; /* the CLI's stdin */
	int from; /* the CLI's stdout */
	char err_path[64];
	char pending[8192]; /* stdout read but not returned yet */
	size_t npending;
} ms_session;

/* Starts the CLI with ARGV (argv[0] excluded, NULL-terminated). Returns 0 or -1. */
int ms_session_start(ms_session *s, const char *const *argv);
/* Writes one line (printf-style; the newline is added) to the CLI's stdin. */
void ms_session_send(ms_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next line of the CLI's stdout without its newline, in BUF; asserts one comes within 20 s. */
void ms_session_line(ms_session *s, char *buf, size_t size);
/* Closes the CLI's stdin, waits for it to exit (at most 20 s) and returns its exit status; *RET_ERR
 * (if not NULL) receives its stderr (malloc'd). */
int ms_session_end(ms_session *s, char **ret_err);

#endif /* MEMSCAN_CLIUTIL_H */
