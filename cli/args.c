/* SPDX-License-Identifier: MIT */
/* Command-line option parsing for the memscan CLI: options, PIDs, addresses, lengths, durations. */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "output.h"
#include "target.h"

/* "remote " in the help a message points to, when the command runs remotely. */
#define REMOTE_WORD (cli_remote_mode ? "remote " : "")

struct opt_spec {
	const char *name;
	char short_name; /* 0 = none */
	int has_arg;     /* operands it takes: 0, 1, or 2 (--between A B) */
	enum cli_opt_id id;
};

/* The memscan_value_pred_kind of each OPT_PRED option. */
static const struct {
	const char *name;
	memscan_value_pred_kind kind;
} pred_kinds[] = {
	{ "changed", MEMSCAN_PRED_CHANGED },
	{ "unchanged", MEMSCAN_PRED_UNCHANGED },
	{ "increased", MEMSCAN_PRED_INCREASED },
	{ "decreased", MEMSCAN_PRED_DECREASED },
	{ "increased-by", MEMSCAN_PRED_INCREASED_BY },
	{ "decreased-by", MEMSCAN_PRED_DECREASED_BY },
	{ "eq", MEMSCAN_PRED_EQ },
	{ "ne", MEMSCAN_PRED_NE },
	{ "gt", MEMSCAN_PRED_GT },
	{ "lt", MEMSCAN_PRED_LT },
	{ "between", MEMSCAN_PRED_BETWEEN },
};

static const struct opt_spec opt_specs[] = {
	{ "help", 'h', 0, OPT_HELP },
	{ "json", 0, 0, OPT_JSON },
	{ "range", 0, 1, OPT_RANGE },
	{ "perms", 0, 1, OPT_PERMS },
	{ "kind", 0, 1, OPT_KIND },
	{ "path", 0, 1, OPT_PATH },
	{ "raw", 0, 0, OPT_RAW },
	{ "pattern", 'p', 1, OPT_PATTERN },
	{ "no-memmap", 0, 0, OPT_NO_MEMMAP },
	{ "align", 0, 1, OPT_ALIGN },
	{ "max", 0, 1, OPT_MAX },
	{ "output", 'o', 1, OPT_OUTPUT },
	{ "interval", 'i', 1, OPT_INTERVAL },
	{ "watch", 'w', 0, OPT_WATCH },
	{ "bytes", 0, 0, OPT_BYTES },
	{ "count", 'n', 1, OPT_COUNT },
	{ "identity", 0, 1, OPT_IDENTITY },
	{ "compress", 0, 0, OPT_COMPRESS },
	{ "read-absent", 0, 0, OPT_READ_ABSENT },
	{ "type", 't', 1, OPT_TYPE },
	{ "value", 'v', 1, OPT_VALUE },
	{ "epsilon", 0, 1, OPT_EPSILON },
	{ "utf16", 0, 0, OPT_UTF16 },
	{ "unknown", 0, 0, OPT_UNKNOWN },
	{ "changed", 0, 0, OPT_PRED },
	{ "unchanged", 0, 0, OPT_PRED },
	{ "increased", 0, 0, OPT_PRED },
	{ "decreased", 0, 0, OPT_PRED },
	{ "increased-by", 0, 1, OPT_PRED },
	{ "decreased-by", 0, 1, OPT_PRED },
	{ "eq", 0, 1, OPT_PRED },
	{ "ne", 0, 1, OPT_PRED },
	{ "gt", 0, 1, OPT_PRED },
	{ "lt", 0, 1, OPT_PRED },
	{ "between", 0, 2, OPT_PRED },
	{ "duration", 'd', 1, OPT_DURATION },
	{ "cell", 0, 1, OPT_CELL },
	{ "stats", 0, 0, OPT_STATS },
	{ "quiet", 'q', 0, OPT_QUIET },
	{ "undo-memory", 0, 1, OPT_UNDO_MEMORY },
};

#define NSPECS          (sizeof(opt_specs) / sizeof(opt_specs[0]))
#define MAX_DURATION_MS (7ull * 24 * 3600 * 1000)

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int all_digits(const char *s, int hex)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (hex ? !is_hex(*s) : !(*s >= '0' && *s <= '9'))
			return 0;
	return 1;
}

/* Hex number with an optional 0x prefix; -1 on anything else or overflow. */
static int parse_hex(const char *s, uint64_t *ret)
{
	unsigned long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!all_digits(s, 1))
		return -1;
	errno = 0;
	v = strtoull(s, NULL, 16);
	if (errno)
		return -1;
	*ret = v;
	return 0;
}

/* Decimal, or hex with a 0x prefix; -1 on anything else or overflow. */
static int parse_number(const char *s, uint64_t *ret)
{
	unsigned long long v;
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	if (hex)
		s += 2;
	if (!all_digits(s, hex))
		return -1;
	errno = 0;
	v = strtoull(s, NULL, hex ? 16 : 10);
	if (errno)
		return -1;
	*ret = v;
	return 0;
}

int cli_parse_pid(const char *text, int *ret_pid)
{
	uint64_t v;

	if (!all_digits(text, 0) || parse_number(text, &v) || v == 0 || v > INT_MAX) {
		cli_err("invalid PID '%s': expected a positive decimal process ID (see 'memscan ps')", text);
		return CLI_USAGE;
	}
	*ret_pid = (int)v;
	return CLI_OK;
}

int cli_parse_addr(const char *text, const char *what, uint64_t *ret_addr)
{
	if (parse_hex(text, ret_addr)) {
		cli_err("invalid %s '%s': expected a hex address like 0x7f0012345000 (0x optional)", what,
		        text);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int cli_parse_count(const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;

	if (parse_number(text, &v) || v < min || v > max) {
		cli_err("invalid %s '%s': expected a number from %llu to %llu (decimal, or hex with 0x)",
		        what, text, (unsigned long long)min, (unsigned long long)max);
		return CLI_USAGE;
	}
	*ret = v;
	return CLI_OK;
}

/* Milliseconds per unit SUFFIX ("" = seconds), or 0 if unknown. */
static uint64_t duration_unit(const char *suffix)
{
	if (!*suffix || !strcmp(suffix, "s"))
		return 1000;
	if (!strcmp(suffix, "ms"))
		return 1;
	if (!strcmp(suffix, "m"))
		return 60 * 1000;
	if (!strcmp(suffix, "h"))
		return 3600 * 1000;
	return 0;
}

/* A decimal number followed by a unit: the number into *RET, the unit's text into *RET_UNIT; -1 if
 * TEXT does not start with digits or the number overflows. */
static int number_with_unit(const char *text, uint64_t *ret, const char **ret_unit)
{
	char digits[24];
	size_t n = strspn(text, "0123456789");

	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, text, n);
	digits[n] = '\0';
	*ret_unit = text + n;
	return parse_number(digits, ret);
}

int cli_parse_duration(const char *text, uint64_t *ret_ms)
{
	const char *suffix;
	uint64_t v, unit;

	if (number_with_unit(text, &v, &suffix))
		goto bad;
	unit = duration_unit(suffix);
	if (!unit || v > MAX_DURATION_MS / unit)
		goto bad;
	*ret_ms = v * unit;
	return CLI_OK;
bad:
	cli_err("invalid duration '%s': expected a whole number with an optional unit ms, s, m or h "
	        "(e.g. 500ms, 2s, 1m; at most 7 days)",
	        text);
	return CLI_USAGE;
}

/* Bytes per unit SUFFIX ("" = bytes), or 0 if unknown. */
static uint64_t size_unit(const char *suffix)
{
	static const char *const units[][2] = { { "K", "KiB" }, { "M", "MiB" }, { "G", "GiB" } };

	if (!*suffix || !strcmp(suffix, "B"))
		return 1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcasecmp(suffix, units[i][0]) || !strcasecmp(suffix, units[i][1]))
			return 1ull << (10 * (i + 1));
	return 0;
}

int cli_parse_size(const char *text, const char *what, uint64_t min, uint64_t max, uint64_t *ret)
{
	const char *suffix;
	uint64_t v, unit;

	if (number_with_unit(text, &v, &suffix))
		goto bad;
	unit = size_unit(suffix);
	if (!unit || v > UINT64_MAX / unit || v * unit < min || v * unit > max)
		goto bad;
	*ret = v * unit;
	return CLI_OK;
bad:
	cli_err("invalid %s '%s': expected a size from %llu to %llu bytes, a number with an optional unit "
	        "K, M or G (e.g. 4K, 64KiB, 1M)",
	        what, text, (unsigned long long)min, (unsigned long long)max);
	return CLI_USAGE;
}

static int parse_range(const char *text, struct cli_filter *f)
{
	char buf[64];
	const char *dash = strchr(text, '-');
	size_t n = dash ? (size_t)(dash - text) : 0;
	uint64_t start, end;

	if (!dash || n >= sizeof(buf))
		goto bad;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (parse_hex(buf, &start) || parse_hex(dash + 1, &end))
		goto bad;
	if (end <= start) {
		cli_err("invalid range '%s': END must be greater than START", text);
		return CLI_USAGE;
	}
	f->range_start = start;
	f->range_end = end;
	return CLI_OK;
bad:
	cli_err("invalid range '%s': expected START-END in hex, e.g. 7f0000000000-7f0000100000", text);
	return CLI_USAGE;
}

static int parse_kinds(const char *text, struct cli_filter *f)
{
	char item[32];
	const char *p = text;

	for (;;) {
		size_t n = strcspn(p, ",");
		uint32_t kind;

		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		if (memscan_kind_parse(item, &kind) != MEMSCAN_OK)
			goto bad;
		f->kinds |= kind;
		if (!p[n])
			return CLI_OK;
		p += n + 1;
	}
bad:
	cli_err("invalid --kind '%s': expected heap, stack, anon, file or special (comma-separated)", text);
	return CLI_USAGE;
}

static int parse_perms(const char *text, struct cli_filter *f)
{
	uint32_t perms;

	if (!*text || memscan_perms_parse(text, &perms) != MEMSCAN_OK) {
		cli_err("invalid --perms '%s': expected letters r, w, x, s (e.g. rw or r-x)", text);
		return CLI_USAGE;
	}
	f->perms |= perms;
	return CLI_OK;
}

static int set_string(const char *val, const char *name, const char **ret)
{
	if (!*val) {
		cli_err("option --%s needs a non-empty value", name);
		return CLI_USAGE;
	}
	*ret = val;
	return CLI_OK;
}

static int pred_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(pred_kinds) / sizeof(pred_kinds[0]); i++)
		if (!strcmp(pred_kinds[i].name, name))
			return pred_kinds[i].kind;
	return 0;
}

/* Stores the value of option SPEC in OPTS; VAL2 is the second operand of a two-operand option. */
static int apply_opt(struct cli_opts *o, const struct opt_spec *spec, const char *val, const char *val2)
{
	o->seen |= OPT_BIT(spec->id);
	switch (spec->id) {
	case OPT_HELP:
		return CLI_OK;
	case OPT_JSON:
		o->json = 1;
		return CLI_OK;
	case OPT_RAW:
		o->raw = 1;
		return CLI_OK;
	case OPT_NO_MEMMAP:
		o->no_memmap = 1;
		return CLI_OK;
	case OPT_WATCH:
		o->watch = 1;
		return CLI_OK;
	case OPT_BYTES:
		o->bytes = 1;
		return CLI_OK;
	case OPT_COMPRESS:
		o->compress = 1;
		return CLI_OK;
	case OPT_READ_ABSENT:
		o->read_absent = 1;
		return CLI_OK;
	case OPT_UTF16:
		o->utf16 = 1;
		return CLI_OK;
	case OPT_UNKNOWN:
		o->unknown = 1;
		return CLI_OK;
	case OPT_TYPE: /* the value options are checked by the command, which knows the type */
		return set_string(val, spec->name, &o->type);
	case OPT_VALUE:
		o->value = val; /* may be empty: a str value then says what is wrong */
		return CLI_OK;
	case OPT_EPSILON:
		return set_string(val, spec->name, &o->epsilon);
	case OPT_PRED:
		o->pred = pred_kind(spec->name);
		o->npred++;
		o->pred_arg[0] = val;
		o->pred_arg[1] = val2;
		return CLI_OK;
	case OPT_STATS:
		o->stats = 1;
		return CLI_OK;
	case OPT_QUIET:
		o->quiet = 1;
		return CLI_OK;
	case OPT_DURATION:
		return cli_parse_duration(val, &o->duration_ms);
	case OPT_UNDO_MEMORY:
		return cli_parse_size(val, "--undo-memory", 1, UINT64_MAX, &o->undo_memory);
	case OPT_CELL:
		return cli_parse_size(val, "--cell", 1, 1ull << 30, &o->cell);
	case OPT_RANGE:
		return parse_range(val, &o->filter);
	case OPT_PERMS:
		return parse_perms(val, &o->filter);
	case OPT_KIND:
		return parse_kinds(val, &o->filter);
	case OPT_PATH:
		return set_string(val, spec->name, &o->filter.path);
	case OPT_PATTERN:
		o->pattern = val; /* validated by the command, which explains what is wrong */
		return CLI_OK;
	case OPT_OUTPUT:
		return set_string(val, spec->name, &o->output);
	case OPT_IDENTITY:
		return set_string(val, spec->name, &o->identity);
	case OPT_ALIGN:
		return cli_parse_count(val, "--align", 1, 1ull << 30, &o->align);
	case OPT_MAX:
		return cli_parse_count(val, "--max", 1, UINT64_MAX, &o->max);
	case OPT_COUNT:
		return cli_parse_count(val, "--count", 1, UINT64_MAX, &o->count);
	case OPT_INTERVAL:
		return cli_parse_duration(val, &o->interval_ms);
	}
	return CLI_USAGE;
}

static const struct opt_spec *find_long(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NSPECS; i++)
		if (strlen(opt_specs[i].name) == len && !strncmp(opt_specs[i].name, name, len))
			return &opt_specs[i];
	return NULL;
}

static const struct opt_spec *find_short(char c)
{
	size_t i;

	for (i = 0; i < NSPECS; i++)
		if (opt_specs[i].short_name && opt_specs[i].short_name == c)
			return &opt_specs[i];
	return NULL;
}

/* A positional argument: "-", anything not starting with '-', and negative numbers like "-1"
 * (which the PID parser then rejects with a clear message). */
static int is_positional(const char *arg)
{
	return arg[0] != '-' || arg[1] == '\0' || (arg[1] >= '0' && arg[1] <= '9');
}

static int unknown_option(const char *cmd, const char *arg)
{
	cli_err("unknown option '%s' for '%s' (see 'memscan %s%s --help')", arg, cmd, REMOTE_WORD, cmd);
	return CLI_USAGE;
}

/* Short flags bundled in ARG ("-wn5", "-w -n 5" alike): each letter a flag, until one that takes a
 * value, which is the rest of ARG or the next argument. Returns that letter's option (its value in
 * *RET_VAL, NULL if it comes next), NULL with *RET_ERR set when a letter is not allowed, or NULL
 * with CLI_OK when ARG held flags only. */
static const struct opt_spec *parse_short_bundle(const char *arg, uint32_t allowed, struct cli_opts *o,
                                                 const char **ret_val, int *ret_err)
{
	*ret_val = NULL;
	*ret_err = CLI_OK;
	for (size_t j = 1; arg[j]; j++) {
		const struct opt_spec *spec = find_short(arg[j]);

		if (!spec || !(allowed & OPT_BIT(spec->id))) {
			char one[3] = { '-', arg[j], '\0' };

			*ret_err =
			    j == 1 && !arg[2] ? unknown_option(o->cmd, arg) : unknown_option(o->cmd, one);
			return NULL;
		}
		if (spec->has_arg) {
			*ret_val = arg[j + 1] ? arg + j + 1 : NULL;
			return spec;
		}
		*ret_err = apply_opt(o, spec, NULL, NULL);
		if (*ret_err != CLI_OK)
			return NULL;
	}
	return NULL;
}

/* Parses the option at ARGV[*I]; advances *I past its value. */
static int parse_option(int argc, char **argv, int *i, uint32_t allowed, struct cli_opts *o)
{
	const char *arg = argv[*i], *val = NULL, *val2 = NULL;
	const struct opt_spec *spec;

	if (arg[1] == '-') {
		const char *eq = strchr(arg + 2, '=');

		spec = find_long(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
		if (eq)
			val = eq + 1;
	} else {
		int err;

		spec = parse_short_bundle(arg, allowed, o, &val, &err);
		if (!spec)
			return err;
	}
	if (!spec || !(allowed & OPT_BIT(spec->id)) || (val && !spec->has_arg))
		return unknown_option(o->cmd, arg);
	if (spec->has_arg && !val) {
		if (*i + 1 >= argc) {
			cli_err("option --%s needs a value (see 'memscan %s%s --help')", spec->name,
			        REMOTE_WORD, o->cmd);
			return CLI_USAGE;
		}
		val = argv[++*i];
	}
	if (spec->has_arg == 2) {
		if (*i + 1 >= argc) {
			cli_err("option --%s needs two values (see 'memscan %s%s --help')", spec->name,
			        REMOTE_WORD, o->cmd);
			return CLI_USAGE;
		}
		val2 = argv[++*i];
	}
	return apply_opt(o, spec, val, val2);
}

static int wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

static int add_positional(struct cli_opts *o, int max_pos, const char *arg)
{
	if (o->npos >= max_pos) {
		cli_err("unexpected argument '%s' (see 'memscan %s%s --help')", arg, REMOTE_WORD, o->cmd);
		return CLI_USAGE;
	}
	o->pos[o->npos++] = arg;
	return CLI_OK;
}

int cli_parse(int argc, char **argv, const char *cmd, uint32_t allowed, int max_pos, struct cli_opts *o)
{
	int i, ret, only_pos = 0;

	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->interval_ms = 1000;
	if (wants_help(argc, argv)) {
		o->seen = OPT_BIT(OPT_HELP);
		return CLI_OK;
	}
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!only_pos && !strcmp(arg, "--")) {
			only_pos = 1;
			continue;
		}
		if (only_pos || is_positional(arg))
			ret = add_positional(o, max_pos, arg);
		else
			ret = parse_option(argc, argv, &i, allowed | OPT_BIT(OPT_HELP), o);
		if (ret != CLI_OK)
			return ret;
	}
	return CLI_OK;
}

/* Whether the option ARG is --quiet or bundles -q; *RET_SKIP: how many values follow it. */
static int arg_quiet(const char *arg, int *ret_skip)
{
	const struct opt_spec *spec;

	*ret_skip = 0;
	if (arg[1] == '-') {
		spec = find_long(arg + 2, strcspn(arg + 2, "="));
		if (spec && !strchr(arg, '='))
			*ret_skip = spec->has_arg;
		return spec && spec->id == OPT_QUIET;
	}
	for (size_t j = 1; arg[j] && (spec = find_short(arg[j])); j++) {
		if (spec->id == OPT_QUIET)
			return 1;
		if (spec->has_arg) {
			*ret_skip = arg[j + 1] ? spec->has_arg - 1 : spec->has_arg;
			break;
		}
	}
	return 0;
}

int cli_args_quiet(int argc, char **argv)
{
	int skip;

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i += 1 + skip) {
		skip = 0;
		if (!is_positional(argv[i]) && arg_quiet(argv[i], &skip))
			return 1;
	}
	return 0;
}

void cli_filter_apply(const struct cli_filter *user, memscan_filter *base)
{
	base->perms |= user->perms;
	if (user->kinds)
		base->kinds = user->kinds;
	if (user->path)
		base->path_substr = user->path;
	if (user->range_end > user->range_start) {
		base->range_start = user->range_start;
		base->range_end = user->range_end;
	}
}
