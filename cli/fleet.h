/* SPDX-License-Identifier: MIT */
/* memscan CLI: one remote command over every agent of a hosts file (`@FILE`), output labelled by host. */
#ifndef MEMSCAN_CLI_FLEET_H
#define MEMSCAN_CLI_FLEET_H

/* The index in ARGV (`remote CMD ...`) of a fleet TARGET (@FILE or @FILE:PID), or 0 if there is none. */
int cli_fleet_target(int argc, char **argv);
/* Runs `remote CMD` on every host of ARGV[TARGET]'s file at once: stdout and stderr lines prefixed with
 * "HOST  " ("host" added to --json objects). 0 if all succeeded, else 1 (2: the same usage error on
 * all). */
int cli_fleet_run(int argc, char **argv, int target);

#endif /* MEMSCAN_CLI_FLEET_H */
