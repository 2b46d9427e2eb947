/* SPDX-License-Identifier: MIT */
/* Output of the CLI's value commands: candidates as text or JSON lines, with module and offset. */
#ifndef MEMSCAN_CLI_VOUT_H
#define MEMSCAN_CLI_VOUT_H

#include <stdint.h>
#include <stdio.h>

#include <memscan/memscan.h>

#include "vset.h"

/* Candidates shown by default by narrow, matches and hunt's list. */
#define CLI_VOUT_SHOWN 20

/* How candidates are printed. */
struct cli_vout {
	FILE *out;
	int json;
	uint64_t max;              /* print at most this many (UINT64_MAX: all) */
	memscan_value_type type;   /* the set's */
	memscan_region_list *maps; /* every region of the process now, for module names; or NULL */
	size_t cached;             /* index in MAPS of the last region named, or SIZE_MAX */
	uint64_t cached_base;      /* its module's load address */
	uint64_t printed;
	int no_rest; /* no '... and K more' line (the caller says it) */
};

/* Prepares V to print SET's candidates to OUT, listing the process's regions for module names. */
void cli_vout_init(struct cli_vout *v, const struct cli_vset *set, FILE *out, int json, uint64_t max);
void cli_vout_release(struct cli_vout *v);
/* Prints the first V->max candidates of SET, then "... and N more" (text only). memscan_err. */
int cli_vout_print(struct cli_vout *v, const struct cli_vset *set);
/* One value of TYPE (WIDTH bytes at BYTES): a number, or a quoted string with escapes. */
void cli_vout_value(FILE *out, memscan_value_type type, const uint8_t *bytes, size_t width, int json);

#endif /* MEMSCAN_CLI_VOUT_H */
