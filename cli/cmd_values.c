/* SPDX-License-Identifier: MIT */
/* memscan CLI value commands: scan --type, narrow and matches, over candidate sets (vset.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cmd.h"
#include "output.h"
#include "target.h"
#include "cmd_values.h"
#include "vout.h"
#include "vset.h"

#define TYPE_LIST   "i8, u8, i16, u16, i32, u32, i64, u64, f32, f64 or str"
#define VALUE_SHOWN 48 /* value characters quoted in error messages */

int cli_value_type(const char *text, memscan_value_type *ret)
{
	if (memscan_value_type_parse(text, ret) == MEMSCAN_OK)
		return CLI_OK;
	cli_err("unknown type '%s': expected %s", text, TYPE_LIST);
	return CLI_USAGE;
}

static int is_float(memscan_value_type type)
{
	return type == MEMSCAN_VALUE_F32 || type == MEMSCAN_VALUE_F64;
}

/* What a value of TYPE looks like, for messages. */
static const char *value_hint(memscan_value_type type)
{
	if (type == MEMSCAN_VALUE_STR)
		return "valid UTF-8 text of 1 to 256 bytes";
	if (is_float(type))
		return "a decimal number like 3.75 or -1e3, or a range A..B";
	return "a decimal or 0x hex integer, or a range A..B";
}

int cli_value_parse(memscan_value_type type, const char *what, const char *text,
                    const memscan_value_options *vopts, memscan_value **ret)
{
	size_t off = 0;
	int err = memscan_value_parse(type, text, vopts, ret, &off);

	if (err == MEMSCAN_OK)
		return CLI_OK;
	if (err == MEMSCAN_ERR_LIMIT)
		cli_err("%s '%.*s%s' does not fit %s (at offset %zu): %s", what, VALUE_SHOWN, text,
		        strlen(text) > VALUE_SHOWN ? "..." : "", memscan_value_type_name(type), off,
		        type == MEMSCAN_VALUE_STR ? "at most 256 bytes once encoded"
		                                  : "it is outside the type's range");
	else if (err == MEMSCAN_ERR_BAD_FORMAT)
		cli_err("%s '%.*s%s' is not a value of type %s (at offset %zu): expected %s", what,
		        VALUE_SHOWN, text, strlen(text) > VALUE_SHOWN ? "..." : "",
		        memscan_value_type_name(type), off, value_hint(type));
	else
		return cli_lib_err(err, 0, "parsing the value");
	return CLI_USAGE;
}

/* --utf16 and --epsilon into VOPTS, checked against TYPE. */
static int value_options(const struct cli_opts *o, memscan_value_type type, memscan_value_options *vopts)
{
	char *end = NULL;

	memset(vopts, 0, sizeof(*vopts));
	if (o->utf16 && type != MEMSCAN_VALUE_STR) {
		cli_err("--utf16 applies to --type str only");
		return CLI_USAGE;
	}
	if (o->utf16)
		vopts->flags |= MEMSCAN_VALUE_UTF16;
	if (!o->epsilon)
		return CLI_OK;
	if (!is_float(type)) {
		cli_err("--epsilon applies to --type f32 and f64 only");
		return CLI_USAGE;
	}
	vopts->epsilon = strtod(o->epsilon, &end);
	if (end == o->epsilon || *end || !(vopts->epsilon >= 0) || isinf(vopts->epsilon)) {
		cli_err("invalid --epsilon '%s': expected a number >= 0, e.g. 0.01", o->epsilon);
		return CLI_USAGE;
	}
	vopts->flags |= MEMSCAN_VALUE_EPSILON;
	return CLI_OK;
}

/* ---- scan --type ------------------------------------------------------------------------- */

/* The checks of `scan --type` before anything is opened; Q receives the parsed value. */
static int scan_check(const struct cli_opts *o, struct cli_vquery *q, memscan_value **ret_value)
{
	int ret;

	if (o->pattern) {
		cli_err("--pattern and --type cannot be combined: --pattern looks for bytes, --type for a "
		        "value");
		return CLI_USAGE;
	}
	ret = cli_value_type(o->type, &q->type);
	if (ret == CLI_OK && !o->value && !o->unknown) {
		cli_err("scan --type needs --value V, or --unknown -o SET to remember every value (see "
		        "'memscan scan --help')");
		ret = CLI_USAGE;
	} else if (ret == CLI_OK && o->value && o->unknown) {
		cli_err("--value and --unknown cannot be combined");
		ret = CLI_USAGE;
	} else if (ret == CLI_OK && o->unknown && !o->output) {
		cli_err("--unknown needs -o SET: the set of every value is too big to print; narrow it "
		        "afterwards with 'memscan narrow SET --changed' and the like");
		ret = CLI_USAGE;
	} else if (ret == CLI_OK && o->unknown && q->type == MEMSCAN_VALUE_STR) {
		cli_err("--unknown needs a number type (%s without str)", TYPE_LIST);
		ret = CLI_USAGE;
	}
	if (ret == CLI_OK)
		ret = value_options(o, q->type, &q->vopts);
	if (ret == CLI_OK && o->value)
		ret = cli_value_parse(q->type, "value", o->value, &q->vopts, ret_value);
	q->text = o->value;
	q->value = *ret_value;
	return ret;
}

int cli_value_regions(struct cli_target *t, const struct cli_filter *user, struct cli_vregions *r)
{
	int err;

	/* writable regions by default; --perms chooses instead (--perms r: every readable region) */
	if (user->perms)
		memscan_filter_default(&r->filter);
	else
		memscan_filter_values(&r->filter);
	cli_filter_apply(user, &r->filter);
	r->list = NULL;
	if (t->client) /* the agent selects the regions (and totals the progress line with them) */
		return CLI_OK;
	err = cli_target_regions(t, &r->filter, &r->list);
	return err == MEMSCAN_OK ? CLI_OK : cli_target_err(t, err, "reading the memory map");
}

/* Reports ERR of a value scan or narrowing of T that allowed at most MAX candidates. */
static int set_err(const struct cli_target *t, int err, uint64_t max, const char *what)
{
	if (err == MEMSCAN_ERR_LIMIT && !t->client) { /* an agent says which limit */
		cli_err("more than %llu candidates while %s in PID %d: nothing was written; use a more "
		        "specific value or predicate, select fewer regions (FILTERS), or allow more with "
		        "--max N (with -o)",
		        (unsigned long long)(max ? max : MEMSCAN_VALUE_SET_MAX_DEFAULT), what, t->pid);
		return CLI_FAIL;
	}
	return cli_target_err(t, err, what);
}

/* "N candidates of TYPE in PID P saved to PATH" (unknown-value sets count slots). */
static void print_saved(const struct cli_vset *set, const char *path)
{
	printf("%llu %s of %s in PID %d saved to ", (unsigned long long)cli_vset_count(set),
	       cli_vset_is_unknown(set) ? "slots (unknown value)" : "candidates",
	       memscan_value_type_name(cli_vset_type(set)), set->t->pid);
	out_text_str(stdout, path);
	fputc('\n', stdout);
}

static int scan_output(const struct cli_opts *o, struct cli_vset *set)
{
	struct cli_vout v;
	int err;

	if (o->output) {
		err = cli_vset_save(set, o->output);
		if (err != MEMSCAN_OK) {
			cli_err("cannot write set file '%s': %s", o->output, memscan_strerror(err));
			return CLI_FAIL;
		}
		print_saved(set, o->output);
		return CLI_OK;
	}
	cli_vout_init(&v, set, stdout, o->json, o->max ? o->max : UINT64_MAX);
	err = cli_vout_print(&v, set);
	cli_vout_release(&v);
	return err == MEMSCAN_OK ? CLI_OK : cli_target_err(set->t, err, "printing the candidates");
}

/* A printed local scan with --max N: the first N candidates in address order, found without holding
 * more than N (a range with more is halved), and whether there are more. */
struct first_n {
	struct cli_target *t;
	const struct cli_opts *o;
	const struct cli_vquery *q;
	memscan_filter filter; /* the scan's regions; its range is set per part */
	uint64_t left;         /* candidates still to print */
	int more;              /* there are more than were printed */
};

/* Scans [START, END) for at most MAX candidates into RET. memscan_err. */
static int first_scan_part(struct first_n *f, uint64_t start, uint64_t end, uint64_t max,
                           struct cli_vset *ret)
{
	memscan_value_scan_options sopts = { .align = f->o->align, .max_candidates = max };
	struct cli_vregions r = { .filter = f->filter };
	int err;

	memset(ret, 0, sizeof(*ret));
	r.filter.range_start = start;
	r.filter.range_end = end;
	err = cli_target_regions(f->t, &r.filter, &r.list);
	if (err == MEMSCAN_OK)
		err = cli_vset_scan(f->t, &r, f->q, &sopts, ret);
	memscan_region_list_free(r.list);
	return err;
}

static int first_print(struct first_n *f, uint64_t start, uint64_t end)
{
	uint64_t width = memscan_value_width(f->q->value), mid;
	int small;
	struct cli_vset set;
	struct cli_vout v;
	int err;

	if (f->more)
		return MEMSCAN_OK;
	/* all printed: one more candidate in what is left says there are more; a range too small to
	 * halve holds at most a candidate an address */
	small = end - start < 2 * width + 2;
	err = first_scan_part(f, start, end, small ? end - start + 1 : f->left ? f->left : 1, &set);
	if (err == MEMSCAN_OK) {
		f->more = cli_vset_count(&set) > f->left;
		cli_vout_init(&v, &set, stdout, f->o->json, f->left);
		v.no_rest = 1;
		err = cli_vout_print(&v, &set);
		f->left -= v.printed;
		cli_vout_release(&v);
	} else if (err == MEMSCAN_ERR_LIMIT && !f->left) {
		f->more = 1;
		err = MEMSCAN_OK;
	} else if (err == MEMSCAN_ERR_LIMIT) {
		/* a value ending by MID is on the left, one starting after MID - WIDTH on the right */
		mid = start + (end - start) / 2;
		err = first_print(f, start, mid);
		if (err == MEMSCAN_OK)
			err = first_print(f, mid - width + 1, end);
	}
	cli_vset_free(&set);
	return err;
}

/* Prints the first O->max candidates of Q in T's regions R, then '... and more' if there are more. */
static int scan_print_first(const struct cli_opts *o, struct cli_target *t, const struct cli_vregions *r,
                            const struct cli_vquery *q)
{
	struct first_n f = { .t = t, .o = o, .q = q, .filter = r->filter, .left = o->max };
	uint64_t start = 0, end = UINT64_MAX;
	int err;

	if (r->filter.range_end > r->filter.range_start) {
		start = r->filter.range_start;
		end = r->filter.range_end;
	}
	err = first_print(&f, start, end);
	if (err != MEMSCAN_OK)
		return set_err(t, err, o->max, "scanning");
	if (f.more && !o->json)
		printf("... and more\n");
	return CLI_OK;
}

int cmd_scan_values(const struct cli_opts *o)
{
	memscan_value_scan_options sopts = { .align = o->align };
	struct cli_vregions r = { 0 };
	struct cli_target t = { 0 };
	struct cli_vset set = { 0 };
	struct cli_vquery q = { 0 };
	memscan_value *value = NULL;
	int ret, err;

	if (!o->type) {
		cli_err(
		    "--value, --unknown, --epsilon, --utf16 and -o belong to value scans: add --type TYPE "
		    "(%s)",
		    TYPE_LIST);
		return CLI_USAGE;
	}
	ret = scan_check(o, &q, &value);
	if (ret == CLI_OK && o->output && o->max > MEMSCAN_VALUE_SET_MAX) {
		cli_err("--max %llu is above the largest set, %llu candidates", (unsigned long long)o->max,
		        (unsigned long long)MEMSCAN_VALUE_SET_MAX);
		ret = CLI_USAGE;
	}
	if (ret == CLI_OK)
		ret = cli_target_open(o, o->pos[0], &t);
	if (ret == CLI_OK && o->output) /* a set is narrowed against its process as it runs */
		ret = cli_target_need_process(&t, "scan -o saves a set to narrow as its process runs, and a "
		                                  "snapshot file does not run: scan it without -o");
	if (ret == CLI_OK)
		ret = cli_value_regions(&t, &o->filter, &r);
	if (ret == CLI_OK && o->max && !o->output && !t.client && q.value) {
		ret = scan_print_first(o, &t, &r, &q); /* never more than --max held, however many match */
	} else if (ret == CLI_OK) {
		/* with -o, --max bounds the set; printed (remote: the agent's budget bounds it), what is
		 * shown, so that many matches are no failure */
		sopts.max_candidates = o->output ? o->max : o->max ? MEMSCAN_VALUE_SET_MAX : 0;
		err = cli_vset_scan(&t, &r, &q, &sopts, &set);
		ret = err == MEMSCAN_OK ? scan_output(o, &set)
		                        : set_err(&t, err, sopts.max_candidates, "scanning");
	}
	cli_vset_free(&set);
	memscan_region_list_free(r.list);
	memscan_value_free(value);
	cli_target_close(&t);
	return ret;
}
