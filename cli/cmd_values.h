/* SPDX-License-Identifier: MIT */
/* What the CLI's value commands (scan --type, narrow, matches, hunt) share: types, values, predicates. */
#ifndef MEMSCAN_CLI_CMD_VALUES_H
#define MEMSCAN_CLI_CMD_VALUES_H

#include <stddef.h>

#include <memscan/memscan.h>

#include "args.h"
#include "target.h"
#include "vset.h"

/* The type named TEXT; else prints the types there are and returns CLI_USAGE. */
int cli_value_type(const char *text, memscan_value_type *ret);
/* memscan_value_parse of TEXT (called WHAT in messages); errors name the offset: CLI_USAGE. */
int cli_value_parse(memscan_value_type type, const char *what, const char *text,
                    const memscan_value_options *vopts, memscan_value **ret);
/* The regions value scans of T cover: writable ones, or as the user's filters say; listed into R's
 * list for a local T (an agent selects them itself: the list stays NULL). Exit code. */
int cli_value_regions(struct cli_target *t, const struct cli_filter *user, struct cli_vregions *r);
/* The option name of predicate KIND ("--increased-by"). */
const char *cli_pred_name(int kind);
/* Predicate KIND with operands A (and B for BETWEEN) for a set of TYPE whose values are WIDTH bytes
 * into P; *RET_VALUE holds the parsed operand (free it with memscan_value_free). Exit code. */
int cli_pred_parse(memscan_value_type type, size_t width, int kind, const char *a, const char *b,
                   struct cli_vpred *p, memscan_value **ret_value);

/* The commands of the hunt prompt: its 'help' and part of 'memscan hunt --help'. */
#define HUNT_COMMANDS_HELP                                                                                   \
	"  V          scan for the value V (first step), then keep the candidates that equal V\n"            \
	"  value V    the same, for a V that looks like a command (e.g. a negative number: value -5)\n"      \
	"  snapshot   remember every value (unknown initial value), to narrow with > < = !=\n"               \
	"  > < = !=   keep the candidates that increased, decreased, did not change, changed\n"              \
	"  +N -N      keep the candidates that increased / decreased by N\n"                                 \
	"  list       the first 20 candidates and their values now\n"                                        \
	"  type T     switch to type T (i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 str); starts over\n"           \
	"  undo       back one step (the last 8 are kept, within --undo-memory)\n"                           \
	"  reset      drop the candidates and start over\n"                                                  \
	"  help       this text\n"                                                                           \
	"  quit       leave (also: exit, q, end of input)\n"

/* `memscan scan PID --type ...`, after cmd_scan parsed the options. */
int cmd_scan_values(const struct cli_opts *o);

#endif /* MEMSCAN_CLI_CMD_VALUES_H */
