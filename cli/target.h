/* SPDX-License-Identifier: MIT */
/* What a CLI command works on: a local process (libmemscan) or a process behind an agent (libclient).
 * Every command runs the same code on both, so `memscan remote X` prints what `memscan X` prints. */
#ifndef MEMSCAN_CLI_TARGET_H
#define MEMSCAN_CLI_TARGET_H

#include <memscan/client.h>
#include <memscan/memscan.h>

#include "args.h"

struct cli_target {
	int pid;
	memscan_process *proc;  /* local */
	memscan_client *client; /* remote */
	char where[300];        /* "" locally, " on HOST:PORT" remotely: appended to "PID 42" in messages */
	int quiet;              /* no progress line on stderr (--quiet) */
};

/* Set by `memscan remote`: commands then take TARGET (HOST[:PORT]:PID) instead of PID. */
extern int cli_remote_mode;

/* Set in a fleet member reached by address: the HOST:PORT its agent's pin is looked up under. */
extern const char *cli_pin_name;
/* HOST (a name or IPv4 address, not [IPv6] or ipc://), port and PID (WITH_PID) of a remote TARGET
 * TEXT; 0, or -1 if it is not one. */
int cli_target_host(const char *text, int with_pid, char *host, size_t host_len, unsigned *port, int *pid);

/* "PID" or "TARGET (HOST[:PORT]:PID)", for messages. */
const char *cli_target_name(void);
/* CLI_OK if T is a process, not a snapshot file; else says WHY (why a process is needed and what to
 * do instead) and returns CLI_USAGE. */
int cli_target_need_process(const struct cli_target *t, const char *why);
/* The agent address TEXT (HOST[:PORT], [IPv6]:PORT or ipc:///PATH): its nng URL into RET_URL and its
 * name as known_agents writes it into RET_NAME. CLI_OK, or CLI_USAGE (message printed). */
int cli_agent_address(const char *text, char *ret_url, size_t url_len, char *ret_name, size_t name_len);
/* Opens the agent at TEXT (HOST[:PORT] or ipc:///PATH, for `memscan remote ps`). */
int cli_target_open_host(const struct cli_opts *o, const char *text, struct cli_target *t);
/* Checks the syntax of TEXT (a PID, or a remote TARGET): CLI_OK or CLI_USAGE (message printed). */
int cli_target_check(const char *text);
/* Opens TEXT (see above) with O's --identity; prints errors, returns the exit code. */
int cli_target_open(const struct cli_opts *o, const char *text, struct cli_target *t);
void cli_target_close(struct cli_target *t);
/* Reports ERR met on T while doing WHAT (with the agent's own message for remote targets); returns
 * the exit code. */
int cli_target_err(const struct cli_target *t, int err, const char *what);

/* The regions selected by FILTER (NULL = all): memscan_err. */
int cli_target_regions(struct cli_target *t, const memscan_filter *filter, memscan_region_list **ret);
/* The default filter plus the user's, into *RET_FILTER. */
void cli_target_filter(const struct cli_filter *user, memscan_filter *ret_filter);
/* The same, and the regions it selects; prints errors and returns the exit code. */
int cli_target_select(struct cli_target *t, const struct cli_filter *user, memscan_filter *ret_filter,
                      memscan_region_list **ret_list);
/* memscan_read's contract. */
int cli_target_read(struct cli_target *t, uint64_t addr, void *buf, size_t len, memscan_ranges *holes);
/* memscan_scan over the regions FILTER selects (LIST: the same regions, listed already). */
int cli_target_scan(struct cli_target *t, const memscan_filter *filter, const memscan_region_list *list,
                    const char *pattern_text, const memscan_pattern *pattern,
                    const memscan_scan_options *opts, memscan_match_fn on_match, void *ctx);
/* Remote targets: a snapshot of the regions FILTER selects (listed once, by the library) streamed from
 * the agent into PATH (neither end ever holds it whole), FILTER recorded; INFO receives what was
 * written. memscan_err. */
int cli_target_download(struct cli_target *t, const memscan_filter *filter, const char *path,
                        memscan_snapshot_file_info *info);

/* Change detection: a baseline held locally (detector) or on the agent (a kept snapshot). */
struct cli_watch {
	struct cli_target *t;
	memscan_filter filter;
	memscan_detector *det;
	uint64_t remote_id;
	memscan_region_list *list; /* local: the regions the last detection read (its runs' region_index) */
};
int cli_watch_begin(struct cli_watch *w, struct cli_target *t, const memscan_filter *filter);
/* What changed since the baseline; ACCEPT makes what was read the new baseline (a remote baseline
 * stays as it was without; the local one always takes it: a streamed detection holds one copy of the
 * target). memscan_err. */
int cli_watch_detect(struct cli_watch *w, int accept, memscan_diff **ret);
void cli_watch_end(struct cli_watch *w);

#endif /* MEMSCAN_CLI_TARGET_H */
