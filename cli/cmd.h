/* SPDX-License-Identifier: MIT */
/* The memscan CLI's commands and their usage texts. */
#ifndef MEMSCAN_CLI_CMD_H
#define MEMSCAN_CLI_CMD_H

#include <stdio.h>

#include <memscan/memscan.h>

#include "args.h"

/* One subcommand: ARGV[0] is the command name. Returns the exit code. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

struct cli_cmd {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
	const char *usage; /* full help text */
};

/* The command table (main.c), and the names of the commands `memscan remote` runs, space-separated
 * (cmd_remote.c): what `memscan completion` offers. */
const struct cli_cmd *cli_commands(size_t *ret_count);
const char *cli_remote_command_names(void);

/* Prints the help of command NAME to OUT; returns CLI_OK, or CLI_USAGE if there is no such command. */
int cli_print_help(FILE *out, const char *name);

/* cli_parse, then prints the command's help if --help was given (setting *RET_DONE). */
int cli_parse_cmd(int argc, char **argv, const char *name, uint32_t allowed, int max_pos, struct cli_opts *o,
                  int *ret_done);
int cmd_ps(int argc, char **argv);
int cmd_regions(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_narrow(int argc, char **argv);
int cmd_matches(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_hunt(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_fingerprint(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_keyscan(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_heatmap(int argc, char **argv);
int cmd_pointers(int argc, char **argv);
int cmd_resolve(int argc, char **argv);

#endif /* MEMSCAN_CLI_CMD_H */
