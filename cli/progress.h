/* SPDX-License-Identifier: MIT */
/* Sizes for people ("1.5 GiB") and progress lines on a terminal's stderr. */
#ifndef MEMSCAN_CLI_PROGRESS_H
#define MEMSCAN_CLI_PROGRESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <memscan/client.h>
#include <memscan/memscan.h>

/* BYTES as "512 B", "4 KiB", "1.5 GiB" into BUF (memscan_size_format); returns BUF. */
const char *cli_human_size(uint64_t bytes, char *buf, size_t size);

/* One operation's progress line: "memscan: WHAT DONE of TOTAL (P%), RATE/s, ETA T" ("memscan: WHAT
 * DONE, RATE/s" for bytes whose TOTAL is not known: 0), rewritten in place on stderr, only when
 * stderr is a terminal and --quiet was not given; cleared at the end. */
struct cli_progress {
	const char *what;
	uint64_t total;
	int bytes;        /* DONE and TOTAL are bytes (else steps, e.g. samples) */
	unsigned parts;   /* a percentage of TOTAL in PARTS equal parts (cli_progress_start_parts) */
	const char *part; /* what a part is called, e.g. "level" */
	int on;           /* stderr is a terminal and not quiet */
	int drawn;        /* a line is on the screen */
	uint64_t failed;  /* steps: how many of those done failed (cli_progress_step_failed) */
	struct timespec start;
	pthread_mutex_t lock; /* the library reports from its worker threads */
};

/* Starts P for an operation on PROC that reads TOTAL bytes: PROC's reads report to it. */
void cli_progress_start(struct cli_progress *p, memscan_process *proc, const char *what, uint64_t total,
                        int quiet);
/* The same for work through CLIENT, drawn against the total the library reports for each call
 * (memscan_client_set_progress_total), or TOTAL bytes (0: not known) where it reports none;
 * cli_progress_end_client ends it. */
void cli_progress_start_client(struct cli_progress *p, memscan_client *client, const char *what,
                               uint64_t total, int quiet);
void cli_progress_end_client(struct cli_progress *p, memscan_client *client);
/* Whether a progress line is drawn: stderr a terminal, and not QUIET (a total that costs work to
 * know is then worth finding). */
int cli_progress_shown(int quiet);
/* Starts P for TOTAL bytes of work whose library call reports to cli_progress_report(P, DONE). */
void cli_progress_start_bytes(struct cli_progress *p, const char *what, uint64_t total, int quiet);
/* A memscan_progress_fn drawing P (CTX) at DONE; nothing when P is off. */
void cli_progress_report(void *ctx, uint64_t done);
/* A memscan_client_progress_total_fn drawing P (CTX) at DONE of TOTAL (0: the total P started with). */
void cli_progress_report_total(void *ctx, uint64_t done, uint64_t total);
/* Starts P for work counted in TOTAL steps (cli_progress_step reports them). */
void cli_progress_start_steps(struct cli_progress *p, const char *what, uint64_t total, int quiet);
void cli_progress_step(struct cli_progress *p, uint64_t done);
/* The same, FAILED of the DONE steps having failed: "memscan: WHAT 5 of 16 (31%), 1 failed, ETA T". */
void cli_progress_step_failed(struct cli_progress *p, uint64_t done, uint64_t failed);
/* Clears the line (if one was drawn) for other output; P goes on, its next report draws it again. */
void cli_progress_hide(struct cli_progress *p);
/* Starts P for work shown only as a percentage of TOTAL, done in PARTS equal parts one after the
 * other, each called PART: "memscan: WHAT, PART 3 of 4 (62%)" (cli_progress_report reports it). */
void cli_progress_start_parts(struct cli_progress *p, const char *what, uint64_t total, unsigned parts,
                              const char *part, int quiet);
/* Clears the line (if one was drawn) and detaches P from PROC (NULL for steps). */
void cli_progress_end(struct cli_progress *p, memscan_process *proc);

#endif /* MEMSCAN_CLI_PROGRESS_H */
