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
	char *err; /* stderr, NUL-terminated */
} ms_run;

/* Runs the memscan CLI with ARGV (argv[0] excluded, NULL-terminated), no stdin, 60 s limit.
 * Returns 0 if it ran (whatever its exit code), -1 otherwise. */
int ms_run_cli(ms_run *r, const char *const *argv);
void ms_run_free(ms_run *r);
/* Runs the CLI with ARGV and asserts that it refused it as a usage error: exit 2, "memscan: ..." on
 * stderr. */
void ms_assert_usage_error(const char *const *argv);
/* Runs the CLI with the given arguments, asserting that it ran: RUN(&r, "scan", pid, "--pattern", "00"). */
#define RUN(r, ...)                                                                                          \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		assert_int_equal(ms_run_cli((r), argv_), 0);                                                 \
	} while (0)

#endif /* MEMSCAN_CLIUTIL_H */
