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

/* The regions a scan covers: the filter that selected them and the regions it listed (local only). */
struct cli_vregions {
	memscan_filter filter;
	memscan_region_list *list;
};

/* A candidate set and the process it belongs to: held in this process, or by the agent of a remote
 * target (vset_remote.c), which a reference file names instead of a set file. */
struct cli_vset {
	struct cli_target *t;       /* the process (not owned) */
	memscan_value_set *local;   /* the set, held in this process */
	memscan_client_vset remote; /* or the set an agent holds (remote.id != 0) */
	int transient;              /* made on the agent by this run and named by no file yet */
	int replace;                /* its narrowing replaces it (an agent then narrows in place) */
};

/* Scans T's regions R for Q's value (or, when Q has no value, remembers every slot of Q's type).
 * memscan_err; RET is set on success. */
int cli_vset_scan(struct cli_target *t, const struct cli_vregions *r, const struct cli_vquery *q,
                  const memscan_value_scan_options *opts, struct cli_vset *ret);
/* The most candidates a narrowing of SET may keep by default: MEMSCAN_VALUE_SET_MAX_DEFAULT, or SET's
 * own count when it holds more (capped at MEMSCAN_VALUE_SET_MAX). */
uint64_t cli_vset_narrow_max(const struct cli_vset *set);
/* Reads SET's candidates now and keeps those P accepts, into RET (at most MAX; 0 =
 * cli_vset_narrow_max(SET)). With
 * SET->replace, a set an agent holds becomes RET (same id) instead of staying as it was. */
int cli_vset_narrow(const struct cli_vset *set, const struct cli_vpred *p, uint64_t max,
                    struct cli_vset *ret);
/* memscan_value_set_foreach on SET. */
int cli_vset_foreach(const struct cli_vset *set, uint64_t first, memscan_candidate_fn fn, void *ctx);
uint64_t cli_vset_count(const struct cli_vset *set);
memscan_value_type cli_vset_type(const struct cli_vset *set);
/* Bytes each candidate's value occupies. */
size_t cli_vset_width(const struct cli_vset *set);
int cli_vset_is_unknown(const struct cli_vset *set);
/* Writes SET to PATH atomically (a remote set: a reference file naming it; the set a reference at
 * PATH named before is released). memscan_err. */
int cli_vset_save(struct cli_vset *set, const char *path);
/* Loads the set file PATH and opens the process it was made from into T (with O's options), checking
 * that it is the same process. Prints what is wrong; returns the exit code. */
int cli_vset_open(const struct cli_opts *o, const char *path, struct cli_target *t, struct cli_vset *ret);
/* Every region of SET's process now (for module names). memscan_err. */
int cli_vset_regions(const struct cli_vset *set, memscan_region_list **ret);
/* Releases SET (a set of a remote target made by this run and never saved is dropped on the agent). */
void cli_vset_free(struct cli_vset *set);

/* vset_remote.c: the same on an agent (the target is remote, or the set file a reference). */
int cli_vset_remote_scan(struct cli_target *t, const struct cli_vregions *r, const struct cli_vquery *q,
                         const memscan_value_scan_options *opts, struct cli_vset *ret);
int cli_vset_remote_narrow(const struct cli_vset *set, const struct cli_vpred *p, uint64_t max,
                           struct cli_vset *ret);
int cli_vset_remote_foreach(const struct cli_vset *set, uint64_t first, memscan_candidate_fn fn, void *ctx);
int cli_vset_remote_save(struct cli_vset *set, const char *path);
int cli_vset_remote_open(const struct cli_opts *o, const char *path, struct cli_target *t,
                         struct cli_vset *ret);
void cli_vset_remote_free(struct cli_vset *set);
/* `memscan release SET`: drops the set a reference names on its agent, then the file (a local set
 * file is only deleted). Prints what is wrong; returns the exit code. */
int cli_vset_release(const struct cli_opts *o, const char *path);

#endif /* MEMSCAN_CLI_VSET_H */
