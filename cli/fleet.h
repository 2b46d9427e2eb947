/* SPDX-License-Identifier: MIT */
/* memscan CLI: one remote command over every agent of a hosts file (`@FILE`), output labelled by host. */
#ifndef MEMSCAN_CLI_FLEET_H
#define MEMSCAN_CLI_FLEET_H

#include "cmd.h"

/* When ARGV (`remote CMD ...`) names a fleet, runs CMD on every member at once and sets *RET_CODE;
 * returns 1, or 0 for a single host. A fleet is a hosts file TARGET (@FILE, @FILE:PID: one
 * HOST[:PORT] a line) or a TARGET right after CMD whose name resolves to several addresses of one
 * family (members connect by address, pins looked up under the name). Stdout and stderr lines are
 * prefixed with "HOST  " ("host" added to --json objects); *RET_CODE is 0 if every member succeeded,
 * else 1 (2: the same usage error on all). Each member runs RUN (memscan remote) on its own host. */
int cli_fleet(int argc, char **argv, cli_cmd_fn run, int *ret_code);

#endif /* MEMSCAN_CLI_FLEET_H */
