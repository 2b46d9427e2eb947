/* SPDX-License-Identifier: MIT */
/* Command-line option parsing for the memscan CLI: options, PIDs, addresses, lengths, durations. */
#ifndef MEMSCAN_CLI_ARGS_H
#define MEMSCAN_CLI_ARGS_H

#include <stdint.h>

#include <memscan/memscan.h>

/* Exit codes of every command. */
enum {
	CLI_OK = 0,
	CLI_FAIL = 1,  /* runtime failure: no process, permission, unreadable, I/O */
	CLI_USAGE = 2, /* malformed command line */
};

/* Option identifiers; a command allows a set of them (bit 1u << id). */
enum cli_opt_id {
	OPT_HELP,
	OPT_JSON,
	OPT_RANGE,
	OPT_PERMS,
	OPT_KIND,
	OPT_PATH,
	OPT_RAW,
	OPT_PATTERN,
	OPT_NO_MEMMAP,
	OPT_ALIGN,
	OPT_MAX,
	OPT_OUTPUT,
	OPT_INTERVAL,
	OPT_WATCH,
	OPT_BYTES,
	OPT_COUNT,
	OPT_IDENTITY,
	OPT_COMPRESS,
	OPT_READ_ABSENT,
	OPT_TYPE,    /* value scans: the value's type */
	OPT_VALUE,   /* value scans: the value */
	OPT_EPSILON, /* value scans: float tolerance */
	OPT_UTF16,   /* value scans: str in UTF-16LE */
	OPT_UNKNOWN, /* value scans: unknown initial value */
	OPT_PRED,    /* narrowing predicates (--changed, --eq V, ...): one id for all of them */
	OPT_DURATION,
	OPT_CELL,
	OPT_STATS,
	OPT_QUIET,
	OPT_UNDO_MEMORY, /* hunt: bytes its undo history may hold */
};

#define OPT_BIT(id) (1u << (id))
#define OPTS_FILTER (OPT_BIT(OPT_RANGE) | OPT_BIT(OPT_PERMS) | OPT_BIT(OPT_KIND) | OPT_BIT(OPT_PATH))
/* Options of value scans (scan --type). */
#define OPTS_VALUE_SCAN                                                                                      \
	(OPT_BIT(OPT_TYPE) | OPT_BIT(OPT_VALUE) | OPT_BIT(OPT_EPSILON) | OPT_BIT(OPT_UTF16) |                \
	 OPT_BIT(OPT_UNKNOWN) | OPT_BIT(OPT_OUTPUT))
/* Options that only mean something for `memscan remote` (refused locally). */
#define OPTS_REMOTE_ONLY OPT_BIT(OPT_COMPRESS)
#define CLI_MAX_POS      4

/* The user's region filters, added to a base filter by cli_filter_apply. */
struct cli_filter {
	uint32_t perms;
	uint32_t kinds;
	const char *path;
	uint64_t range_start, range_end; /* range_end > range_start when --range was given */
};

/* Everything a command line can hold. */
struct cli_opts {
	const char *cmd; /* the command name, for messages */
	uint32_t seen;   /* OPT_BIT of every option given */
	int json, raw, no_memmap, watch, bytes;
	int compress;    /* remote: ask the agent for compressed pages */
	int read_absent; /* local: read pages pagemap reports never written (no zero-fill) */
	int stats;       /* diff --watch: a summary of where memory changed at the end */
	int quiet;       /* no progress on stderr */
	const char *pattern;
	const char *output;
	const char *identity; /* remote: the client key file */
	uint64_t align, max, count;
	uint64_t interval_ms;
	const char *type, *value, *epsilon; /* value scans, checked by the command */
	int utf16, unknown;
	int pred, npred;         /* the last predicate's memscan_value_pred_kind; how many were given */
	const char *pred_arg[2]; /* its operands (--between takes two) */
	uint64_t duration_ms;    /* heatmap: how long to sample */
	uint64_t cell;           /* heatmap, diff --stats: bytes per cell (a power of two) */
	uint64_t undo_memory;    /* hunt --undo-memory: 0 = the default */
	struct cli_filter filter;
	const char *pos[CLI_MAX_POS];
	int npos;
};

/* Parses ARGV (after the command name) into OPTS, allowing only the options in ALLOWED (--help is
 * always allowed) and at most MAX_POS positional arguments. Prints the error and returns CLI_USAGE,
 * or returns CLI_OK. */
int cli_parse(int argc, char **argv, const char *cmd, uint32_t allowed, int max_pos, struct cli_opts *opts);
/* Whether ARGV (after the command name) asks for no progress (--quiet, or -q alone or bundled; the
 * values of options and what follows "--" skipped), for a runner that leaves the parsing to the command. */
int cli_args_quiet(int argc, char **argv);

/* Value parsers: 0 on success, else print "memscan: ..." and return CLI_USAGE. */
int cli_parse_pid(const char *text, int *ret_pid);
int cli_parse_addr(const char *text, const char *what, uint64_t *ret_addr);
int cli_parse_count(const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *ret);
int cli_parse_duration(const char *text, uint64_t *ret_ms);
/* A size in bytes: a number with an optional unit K, M, G (or KiB, MiB, GiB: powers of 1024), from MIN
 * to MAX. */
int cli_parse_size(const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *ret);

/* BASE plus the user's filters: perms OR-ed in, kinds, path and range replaced when given. */
void cli_filter_apply(const struct cli_filter *user, memscan_filter *base);

#endif /* MEMSCAN_CLI_ARGS_H */
