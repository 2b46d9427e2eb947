/* SPDX-License-Identifier: MIT */
/* memscan CLI commands on candidate sets: narrow SET PREDICATE and matches SET. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cmd.h"
#include "cmd_values.h"
#include "output.h"
#include "vout.h"
#include "vset.h"

static const char *const pred_names[] = {
	[MEMSCAN_PRED_ANY] = "any",
	[MEMSCAN_PRED_CHANGED] = "--changed",
	[MEMSCAN_PRED_UNCHANGED] = "--unchanged",
	[MEMSCAN_PRED_INCREASED] = "--increased",
	[MEMSCAN_PRED_DECREASED] = "--decreased",
	[MEMSCAN_PRED_INCREASED_BY] = "--increased-by",
	[MEMSCAN_PRED_DECREASED_BY] = "--decreased-by",
	[MEMSCAN_PRED_EQ] = "--eq",
	[MEMSCAN_PRED_NE] = "--ne",
	[MEMSCAN_PRED_GT] = "--gt",
	[MEMSCAN_PRED_LT] = "--lt",
	[MEMSCAN_PRED_BETWEEN] = "--between",
};

#define PRED_HELP                                                                                            \
	"--changed, --unchanged, --increased, --decreased, --increased-by D, --decreased-by D, --eq V, "     \
	"--ne V, --gt V, --lt V or --between A B"

const char *cli_pred_name(int kind)
{
	if (kind <= 0 || (size_t)kind >= sizeof(pred_names) / sizeof(pred_names[0]))
		return "?";
	return pred_names[kind];
}

static int takes_value(int kind)
{
	return kind >= MEMSCAN_PRED_INCREASED_BY;
}

static int fits_str(int kind)
{
	return kind == MEMSCAN_PRED_ANY || kind == MEMSCAN_PRED_CHANGED || kind == MEMSCAN_PRED_UNCHANGED ||
	       kind == MEMSCAN_PRED_EQ || kind == MEMSCAN_PRED_NE;
}

/* A str operand in the encoding of the set (WIDTH bytes): UTF-8, else UTF-16LE if that fits. */
static int parse_str(const char *text, size_t width, memscan_value **ret)
{
	memscan_value_options utf16 = { .flags = MEMSCAN_VALUE_UTF16 };
	int ret_code = cli_value_parse(MEMSCAN_VALUE_STR, "value", text, NULL, ret);

	if (ret_code != CLI_OK || memscan_value_width(*ret) == width)
		return ret_code;
	memscan_value_free(*ret);
	*ret = NULL;
	if (memscan_value_parse(MEMSCAN_VALUE_STR, text, &utf16, ret, NULL) == MEMSCAN_OK &&
	    memscan_value_width(*ret) == width)
		return CLI_OK;
	memscan_value_free(*ret);
	*ret = NULL;
	cli_err("'%s' cannot equal this set's strings: they are %zu bytes long (in UTF-8 or UTF-16LE)", text,
	        width);
	return CLI_USAGE;
}

int cli_pred_parse(memscan_value_type type, size_t width, int kind, const char *a, const char *b,
                   struct cli_vpred *p, memscan_value **ret_value)
{
	int n, ret;

	memset(p, 0, sizeof(*p));
	*ret_value = NULL;
	p->pred.kind = (memscan_value_pred_kind)kind;
	if (type == MEMSCAN_VALUE_STR && !fits_str(kind)) {
		cli_err("%s does not apply to a set of str: str sets take --changed, --unchanged, --eq and "
		        "--ne",
		        cli_pred_name(kind));
		return CLI_USAGE;
	}
	if (!takes_value(kind))
		return CLI_OK;
	n = kind == MEMSCAN_PRED_BETWEEN ? snprintf(p->text, sizeof(p->text), "%s..%s", a, b)
	                                 : snprintf(p->text, sizeof(p->text), "%s", a);
	if (n < 0 || (size_t)n >= sizeof(p->text)) {
		cli_err("the operand of %s is too long", cli_pred_name(kind));
		return CLI_USAGE;
	}
	if ((kind == MEMSCAN_PRED_INCREASED_BY || kind == MEMSCAN_PRED_DECREASED_BY) && a[0] == '-') {
		cli_err("%s %s: the difference must be >= 0 (use the other of --increased-by and "
		        "--decreased-by)",
		        cli_pred_name(kind), a);
		return CLI_USAGE;
	}
	if (kind == MEMSCAN_PRED_BETWEEN && (strstr(a, "..") || strstr(b, ".."))) {
		cli_err("--between A B takes two numbers, not ranges");
		return CLI_USAGE;
	}
	if (type == MEMSCAN_VALUE_STR)
		ret = parse_str(p->text, width, ret_value);
	else
		ret = cli_value_parse(type, cli_pred_name(kind), p->text, NULL, ret_value);
	p->pred.value = *ret_value;
	return ret;
}

/* Reports ERR of narrowing SET with P; LIMIT and a predicate the library refuses explained. */
static int narrow_err(const struct cli_vset *set, const struct cli_vpred *p, int err)
{
	if (err == MEMSCAN_ERR_INVALID_ARG) {
		cli_err("%s%s%s does not apply to this set of %s (see 'memscan narrow --help')",
		        cli_pred_name(p->pred.kind), p->text[0] ? " " : "", p->text,
		        memscan_value_type_name(cli_vset_type(set)));
		return CLI_USAGE;
	}
	if (err == MEMSCAN_ERR_LIMIT && !set->t->client) { /* an agent says which limit */
		cli_err("more than %llu candidates survive in PID %d: nothing was written; narrow with a "
		        "stricter predicate first",
		        (unsigned long long)cli_vset_narrow_max(set), set->t->pid);
		return CLI_FAIL;
	}
	return cli_target_err(set->t, err, "narrowing the set");
}

/* Prints up to MAX candidates of SET (with module names) and the summary line SUMMARY (text: on
 * stdout after them; JSON: on stderr, so stdout holds only candidates). */
static int print_set(const struct cli_opts *o, const struct cli_vset *set, const char *summary)
{
	struct cli_vout v;
	int err;

	cli_vout_init(&v, set, stdout, o->json, o->max ? o->max : CLI_VOUT_SHOWN);
	err = cli_vout_print(&v, set);
	cli_vout_release(&v);
	if (err != MEMSCAN_OK)
		return cli_target_err(set->t, err, "printing the candidates");
	fputs(summary, o->json ? stderr : stdout);
	return CLI_OK;
}

static int narrow_run(const struct cli_opts *o, struct cli_vset *set)
{
	const char *path = o->output ? o->output : o->pos[0];
	memscan_value *operand = NULL;
	struct cli_vset left = { 0 };
	struct cli_vpred p;
	char summary[512];
	int ret, err;

	ret = cli_pred_parse(cli_vset_type(set), cli_vset_width(set), o->pred, o->pred_arg[0], o->pred_arg[1],
	                     &p, &operand);
	set->replace = !strcmp(path, o->pos[0]); /* SET is rewritten: an agent narrows it in place */
	if (ret == CLI_OK) {
		err = cli_vset_narrow(set, &p, 0, &left);
		ret = err == MEMSCAN_OK ? CLI_OK : narrow_err(set, &p, err);
	}
	if (ret == CLI_OK && (err = cli_vset_save(&left, path)) != MEMSCAN_OK) {
		cli_err("cannot write set file '%s': %s", path, memscan_strerror(err));
		ret = CLI_FAIL;
	}
	if (ret == CLI_OK) {
		snprintf(summary, sizeof(summary),
		         "%llu of %llu candidates left (%s in PID %d), saved to %s\n",
		         (unsigned long long)cli_vset_count(&left), (unsigned long long)cli_vset_count(set),
		         memscan_value_type_name(cli_vset_type(set)), set->t->pid, path);
		ret = print_set(o, &left, summary);
	}
	cli_vset_free(&left);
	memscan_value_free(operand);
	return ret;
}

static int matches_run(const struct cli_opts *o, struct cli_vset *set)
{
	struct cli_vpred any = { .pred = { .kind = MEMSCAN_PRED_ANY } };
	struct cli_vset now = { 0 };
	char summary[256];
	int ret, err;

	if (cli_vset_is_unknown(set)) {
		cli_err("'%s' remembers every value of %llu slots (an --unknown scan): narrow it first, e.g. "
		        "'memscan narrow %s --changed'",
		        o->pos[0], (unsigned long long)cli_vset_count(set), o->pos[0]);
		return CLI_FAIL;
	}
	err = cli_vset_narrow(set, &any, 0, &now);
	ret = err == MEMSCAN_OK ? CLI_OK : narrow_err(set, &any, err);
	if (ret == CLI_OK) {
		snprintf(summary, sizeof(summary), "%llu of %llu candidates readable now (%s in PID %d)\n",
		         (unsigned long long)cli_vset_count(&now), (unsigned long long)cli_vset_count(set),
		         memscan_value_type_name(cli_vset_type(set)), set->t->pid);
		ret = print_set(o, &now, summary);
	}
	cli_vset_free(&now);
	return ret;
}

typedef int (*set_cmd_fn)(const struct cli_opts *o, struct cli_vset *set);

/* A command on the set file SET: parses ARGV with ALLOWED, opens SET and its process, runs RUN. */
static int set_cmd(int argc, char **argv, const char *name, uint32_t allowed, set_cmd_fn run)
{
	struct cli_target t = { 0 };
	struct cli_vset set = { 0 };
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, name, allowed, 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos < 1) {
		cli_err("missing SET: the set file 'memscan scan PID --type T ... -o SET' wrote");
		return CLI_USAGE;
	}
	if ((allowed & OPT_BIT(OPT_PRED)) && o.npred != 1) {
		cli_err("%s takes %s predicate: %s", name, o.npred ? "exactly one" : "a", PRED_HELP);
		return CLI_USAGE;
	}
	ret = cli_vset_open(&o, o.pos[0], &t, &set);
	if (ret == CLI_OK)
		ret = run(&o, &set);
	cli_vset_free(&set);
	cli_target_close(&t);
	return ret;
}

/* A set file may be a reference to a set an agent keeps: --identity names the key that made it. */
int cmd_narrow(int argc, char **argv)
{
	return set_cmd(argc, argv, "narrow",
	               OPT_BIT(OPT_PRED) | OPT_BIT(OPT_OUTPUT) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_MAX) |
	                   OPT_BIT(OPT_IDENTITY) | OPT_BIT(OPT_QUIET),
	               narrow_run);
}

int cmd_matches(int argc, char **argv)
{
	return set_cmd(argc, argv, "matches",
	               OPT_BIT(OPT_JSON) | OPT_BIT(OPT_MAX) | OPT_BIT(OPT_IDENTITY) | OPT_BIT(OPT_QUIET),
	               matches_run);
}

int cmd_release(int argc, char **argv)
{
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "release", OPT_BIT(OPT_IDENTITY), 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos < 1) {
		cli_err("missing SET: the set file 'memscan remote scan ... -o SET' wrote");
		return CLI_USAGE;
	}
	ret = cli_vset_release(&o, o.pos[0]);
	if (ret == CLI_OK) {
		fputs("released ", stdout);
		out_text_str(stdout, o.pos[0]);
		fputc('\n', stdout);
	}
	return ret;
}
