/* SPDX-License-Identifier: MIT */
/* Candidate sets as the CLI's value commands see them: scan, narrow, iterate, save and load, whatever
 * holds the set (libmemscan here; an agent can hold one too). The commands use nothing else. */
#ifndef MEMSCAN_CLI_VSET_H
#define MEMSCAN_CLI_VSET_H

#include <stddef.h>
#include <stdint.h>

#include <memscan/memscan.h>

#include "target.h"

/* A value to look for or compare with: its text (what a remote holder parses again) and its parse. */
struct cli_vquery {
	memscan_value_type type;
	const char *text;            /* NULL for an unknown-value scan */
	memscan_value_options vopts; /* --utf16, --epsilon */
	const memscan_value *value;  /* TEXT parsed (NULL for an unknown-value scan) */
};

/* A narrowing predicate: its kind, its operands' text and their parse. */
struct cli_vpred {
	memscan_value_pred pred;
	char text[1040]; /* the operand as parsed ("A..B" for --between), or "" */
};

/* The regions a scan covers: the filter that selected them and the regions it listed. */
struct cli_vregions {
	memscan_filter filter;
	memscan_region_list *list;
};

/* A candidate set and the process it belongs to. */
struct cli_vset {
	struct cli_target *t;     /* the process (not owned) */
	memscan_value_set *local; /* the set, held in this process */
};

/* Scans T's regions R for Q's value (or, when Q has no value, remembers every slot of Q's type).
 * memscan_err; RET is set on success. */
int cli_vset_scan(struct cli_target *t, const struct cli_vregions *r, const struct cli_vquery *q,
                  const memscan_value_scan_options *opts, struct cli_vset *ret);
/* Reads SET's candidates now and keeps those P accepts, into RET (at most MAX; 0 = the default). */
int cli_vset_narrow(const struct cli_vset *set, const struct cli_vpred *p, uint64_t max,
                    struct cli_vset *ret);
/* memscan_value_set_foreach on SET. */
int cli_vset_foreach(const struct cli_vset *set, uint64_t first, memscan_candidate_fn fn, void *ctx);
uint64_t cli_vset_count(const struct cli_vset *set);
memscan_value_type cli_vset_type(const struct cli_vset *set);
/* Bytes each candidate's value occupies. */
size_t cli_vset_width(const struct cli_vset *set);
int cli_vset_is_unknown(const struct cli_vset *set);
/* Writes SET to PATH atomically. memscan_err. */
int cli_vset_save(const struct cli_vset *set, const char *path);
/* Loads the set file PATH and opens the process it was made from into T (with O's options), checking
 * that it is the same process. Prints what is wrong; returns the exit code. */
int cli_vset_open(const struct cli_opts *o, const char *path, struct cli_target *t, struct cli_vset *ret);
/* Every region of SET's process now (for module names). memscan_err. */
int cli_vset_regions(const struct cli_vset *set, memscan_region_list **ret);
void cli_vset_free(struct cli_vset *set);

#endif /* MEMSCAN_CLI_VSET_H */
