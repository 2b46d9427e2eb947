/* SPDX-License-Identifier: MIT */
/* memscan CLI: pointer scans (pointers SOURCE --to ADDR, --rescan) and chains followed (resolve). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cancel.h"
#include "cmd.h"
#include "output.h"
#include "progress.h"
#include "ptr_source.h"
#include "target.h"

#define PTR_MAX_OFFSET_MAX ((uint64_t)1 << 32) /* a larger window finds nothing a chain could use */
#define CHAIN_TEXT_MAX     (MEMSCAN_POINTER_MODULE_MAX + 32 * (MEMSCAN_POINTER_DEPTH_MAX + 1))

/* The options of pointers and resolve (parsed here: they belong to these commands alone). */
struct ptr_opts {
	const char *cmd;
	const char *to, *depth, *max_offset, *bases, *max, *output, *rescan, *type, *identity;
	int negative, json, help, quiet;
	const char *pos[3];
	int npos;
};

struct ptr_optdef {
	const char *name;
	char short_name;
	size_t field; /* offsetof the const char * (value options) or int (flags) */
	int has_arg;
};

#define PO(f) offsetof(struct ptr_opts, f)
static const struct ptr_optdef pointers_opts[] = {
	{ "to", 0, PO(to), 1 },
	{ "depth", 0, PO(depth), 1 },
	{ "max-offset", 0, PO(max_offset), 1 },
	{ "negative", 0, PO(negative), 0 },
	{ "bases", 0, PO(bases), 1 },
	{ "max", 0, PO(max), 1 },
	{ "output", 'o', PO(output), 1 },
	{ "json", 0, PO(json), 0 },
	{ "quiet", 'q', PO(quiet), 0 },
	{ "rescan", 0, PO(rescan), 1 },
	{ "help", 'h', PO(help), 0 },
	{ "identity", 0, PO(identity), 1 }, /* remote only */
	{ NULL, 0, 0, 0 },
};
static const struct ptr_optdef resolve_opts[] = {
	{ "type", 0, PO(type), 1 },
	{ "quiet", 'q', PO(quiet), 0 },
	{ "help", 'h', PO(help), 0 },
	{ "identity", 0, PO(identity), 1 }, /* remote only */
	{ NULL, 0, 0, 0 },
};

static const struct ptr_optdef *find_opt(const struct ptr_optdef *defs, const char *arg, size_t len)
{
	for (; defs->name; defs++)
		if ((arg[1] == '-' && strlen(defs->name) == len - 2 &&
		     !strncmp(arg + 2, defs->name, len - 2)) ||
		    (arg[1] != '-' && len == 2 && arg[1] == defs->short_name))
			return defs;
	return NULL;
}

static int parse_opts(int argc, char **argv, const struct ptr_optdef *defs, int max_pos, struct ptr_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		size_t len = a[0] == '-' && a[1] == '-' && eq ? (size_t)(eq - a) : strlen(a);
		const struct ptr_optdef *d = a[0] == '-' && a[1] ? find_opt(defs, a, len) : NULL;

		if (a[0] != '-' || !a[1]) {
			if (o->npos == max_pos) {
				cli_err("%s: unexpected argument '%s' (see 'memscan %s --help')", o->cmd, a,
				        o->cmd);
				return CLI_USAGE;
			}
			o->pos[o->npos++] = a;
		} else if (!d) {
			cli_err("%s: unknown option '%s' (see 'memscan %s --help')", o->cmd, a, o->cmd);
			return CLI_USAGE;
		} else if (!d->has_arg) {
			*(int *)((char *)o + d->field) = 1;
		} else if (a[len] == '=' || i + 1 < argc) {
			*(const char **)((char *)o + d->field) = a[len] == '=' ? a + len + 1 : argv[++i];
		} else {
			cli_err("%s: option '%s' needs a value (see 'memscan %s --help')", o->cmd, a, o->cmd);
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

/* ---- output ------------------------------------------------------------------------------------ */

static void print_hex_signed(int64_t v)
{
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

	printf("\"%s0x%" PRIx64 "\"", v < 0 ? "-" : "", mag);
}

static void print_chain(const memscan_pointer_chain *c, uint64_t addr, int json)
{
	char text[CHAIN_TEXT_MAX];

	if (!json) {
		if (memscan_pointer_chain_format(c, text, sizeof(text)) == MEMSCAN_OK)
			printf("%s\n", text);
		return;
	}
	fputs("{\"base\":", stdout);
	out_json_str(stdout, c->module);
	printf(",\"offset\":\"0x%" PRIx64 "\",\"offsets\":[", c->offset);
	for (unsigned k = 0; k < c->depth; k++) {
		fputs(k ? "," : "", stdout);
		print_hex_signed(c->offsets[k]);
	}
	printf("],\"address\":\"0x%" PRIx64 "\"}\n", addr);
}

static void print_chains(const memscan_pointer_chains *c, int json)
{
	for (size_t i = 0; i < memscan_pointer_chains_count(c); i++)
		print_chain(memscan_pointer_chains_get(c, i), memscan_pointer_chains_target(c), json);
}

static int save_chains(const memscan_pointer_chains *c, const char *path)
{
	int err = memscan_pointer_chains_save(c, path);

	if (err != MEMSCAN_OK) {
		cli_err("cannot write %s: %s (check the directory exists and is writable)", path,
		        memscan_strerror(err));
		return CLI_FAIL;
	}
	fprintf(stderr, "memscan: saved %zu chains to %s\n", memscan_pointer_chains_count(c), path);
	return CLI_OK;
}

/* Prints a search's chains, notes when MAX were found, saves them with -o. */
static int report_search(const memscan_pointer_chains *c, const struct ptr_opts *o, uint64_t max)
{
	print_chains(c, o->json);
	if (memscan_pointer_chains_count(c) >= max)
		fprintf(stderr,
		        "memscan: reached --max %" PRIu64 " chains; there may be more (raise --max)\n", max);
	return o->output ? save_chains(c, o->output) : CLI_OK;
}

/* ---- pointers ---------------------------------------------------------------------------------- */

static int search_options(const struct ptr_opts *o, memscan_pointer_search_options *so)
{
	uint64_t v;

	memscan_pointer_search_options_default(so);
	if (o->depth && cli_parse_count(o->depth, "--depth", 1, MEMSCAN_POINTER_DEPTH_MAX, &v) != CLI_OK)
		return CLI_USAGE;
	so->depth = o->depth ? (unsigned)v : so->depth;
	if (o->max_offset &&
	    cli_parse_count(o->max_offset, "--max-offset", 0, PTR_MAX_OFFSET_MAX, &so->max_offset))
		return CLI_USAGE;
	if (o->max && cli_parse_count(o->max, "--max", 1, MEMSCAN_POINTER_CHAINS_MAX, &so->max_chains))
		return CLI_USAGE;
	if (o->bases && strcmp(o->bases, "all") != 0) {
		cli_err("invalid --bases '%s': the only value is 'all' (bases in any named region)",
		        o->bases);
		return CLI_USAGE;
	}
	so->flags = (o->negative ? MEMSCAN_POINTER_NEGATIVE : 0) | (o->bases ? MEMSCAN_POINTER_ALL_BASES : 0);
	return CLI_OK;
}

static int search_err(int err, const struct ptr_source *s, int indexing)
{
	if (err == MEMSCAN_ERR_CANCELLED)
		return cli_lib_err(err, 0, indexing ? "indexing the pointers" : "searching pointers");
	if (err == MEMSCAN_ERR_LIMIT && indexing)
		cli_err(
		    "the pointer index of %s would exceed its budget (4 GiB, or a source of 32 GiB or more): "
		    "search a snapshot of fewer regions, e.g. 'memscan snapshot PID --perms rw -o FILE'",
		    s->text);
	else if (err == MEMSCAN_ERR_LIMIT)
		cli_err("the pointer search of %s needs more memory than its budget: lower --depth or "
		        "--max-offset, or search a smaller snapshot",
		        s->text);
	else
		cli_err("pointer search in %s failed: %s", s->text, memscan_strerror(err));
	return CLI_FAIL;
}

/* Indexes the source's snapshot, a progress line against its bytes unless QUIET. */
static int index_build(const struct ptr_source *s, int quiet, memscan_pointer_index **ret_idx)
{
	struct cli_progress p;
	memscan_hooks h = { cli_cancel_ask, NULL, cli_progress_report, &p };
	int err;

	cli_progress_start_bytes(&p, "pointer index", memscan_snapshot_bytes(s->snap), quiet);
	err = memscan_pointer_index_build_hooked(s->snap, 0, &h, ret_idx);
	cli_progress_end(&p, NULL);
	return err;
}

/* Searches IDX, a progress line by level unless QUIET: "pointer search, level 2 of 4 (37%)". */
static int index_search(const memscan_pointer_index *idx, uint64_t addr,
                        const memscan_pointer_search_options *so, int quiet,
                        memscan_pointer_chains **ret_chains)
{
	struct cli_progress p;
	memscan_hooks h = { cli_cancel_ask, NULL, cli_progress_report, &p };
	int err;

	cli_progress_start_parts(&p, "pointer search", MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, so->depth,
	                         "level", quiet);
	err = memscan_pointer_search_hooked(idx, addr, so, &h, ret_chains);
	cli_progress_end(&p, NULL);
	return err;
}

static int run_search(struct ptr_source *s, const struct ptr_opts *o, uint64_t addr)
{
	memscan_pointer_search_options so;
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;
	int ret = search_options(o, &so), err;

	if (ret == CLI_OK)
		ret = ptr_source_snapshot(s, o->quiet);
	if (ret == CLI_OK)
		ret = ptr_source_check_mapped(s, addr);
	if (ret != CLI_OK)
		return ret;
	err = index_build(s, o->quiet, &idx);
	if (err != MEMSCAN_OK)
		ret = search_err(err, s, 1);
	else if ((err = index_search(idx, addr, &so, o->quiet, &c)) != MEMSCAN_OK)
		ret = search_err(err, s, 0);
	if (ret == CLI_OK)
		ret = report_search(c, o, so.max_chains);
	memscan_pointer_chains_free(c);
	memscan_pointer_index_free(idx);
	return ret;
}

/* The agent's progress of a remote search: its total is three times the bytes of the regions it
 * searches, read, then indexed, then searched (docs/protocol.md), each phase named on the line. */
static void remote_phase_report(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;
	uint64_t third = total / 3;

	p->what = !third             ? "pointer scan" /* no total to tell the phases by */
	          : done < third     ? "pointer scan: reading"
	          : done < 2 * third ? "pointer scan: indexing"
	                             : "pointer scan: searching";
	cli_progress_report_total(p, done, total);
}

/* memscan_client_pointer_search with Ctrl-C stopping it on the agent and, on a terminal unless
 * --quiet, its phases' line against the agent's own total. */
static int remote_search(struct ptr_source *s, const struct ptr_opts *o, uint64_t addr,
                         const memscan_pointer_search_options *so, memscan_pointer_chains **ret)
{
	struct cli_progress p;
	int err = cli_cancel_attach_client(s->t.client);

	cli_progress_start_bytes(&p, "pointer scan: reading", 0, o->quiet);
	if (err == MEMSCAN_OK && p.on)
		err = memscan_client_set_progress_total(s->t.client, remote_phase_report, &p);
	if (err == MEMSCAN_OK)
		err = memscan_client_pointer_search(s->t.client, s->pid, addr, so, ret);
	if (err == MEMSCAN_OK && cli_cancelled()) { /* came while no progress reply could ask it */
		memscan_pointer_chains_free(*ret);
		*ret = NULL;
		err = MEMSCAN_ERR_CANCELLED;
	}
	if (p.on && memscan_client_set_progress_total(s->t.client, NULL, NULL) != MEMSCAN_OK)
		p.on = 0; /* cannot fail when detaching */
	cli_progress_end(&p, NULL);
	return err;
}

/* `memscan remote pointers TARGET --to ADDR ...`: the agent searches, the chains come back. */
static int run_remote_search(struct ptr_source *s, const struct ptr_opts *o, uint64_t addr)
{
	memscan_pointer_search_options so;
	memscan_pointer_chains *c = NULL;
	int ret = search_options(o, &so), err;

	if (ret != CLI_OK)
		return ret;
	err = remote_search(s, o, addr, &so, &c);
	if (err == MEMSCAN_ERR_NOT_FOUND) {
		cli_err("address 0x%" PRIx64
		        " is not mapped in PID %d%s (find the value's address with 'memscan "
		        "remote scan')",
		        addr, s->pid, s->t.where);
		ret = CLI_USAGE;
	} else if (err != MEMSCAN_OK) {
		ret = cli_target_err(&s->t, err, "searching pointers");
	} else {
		ret = report_search(c, o, so.max_chains);
	}
	memscan_pointer_chains_free(c);
	return ret;
}

/* The chains of IN that lead to ADDR in the agent's process (followed there, 128 a request), with
 * the line counting them on a terminal unless QUIET and Ctrl-C stopping between requests. */
static int remote_rescan(struct ptr_source *s, const memscan_pointer_chains *in, uint64_t addr, int quiet,
                         memscan_pointer_chains **ret)
{
	size_t n = memscan_pointer_chains_count(in);
	memscan_pointer_resolution *res = calloc(n ? n : 1, sizeof(*res));
	int *status = calloc(n ? n : 1, sizeof(*status));
	int err = res && status ? memscan_pointer_chains_new(addr, ret) : MEMSCAN_ERR_NO_MEMORY;
	struct cli_progress p;

	if (err == MEMSCAN_OK)
		err = cli_cancel_attach_client(s->t.client);
	cli_progress_start_steps(&p, "following chains", n, quiet);
	if (err == MEMSCAN_OK && p.on)
		err = memscan_client_set_progress_total(s->t.client, cli_progress_report_total, &p);
	if (err == MEMSCAN_OK)
		err = memscan_client_pointer_follow(s->t.client, s->pid, in, res, status);
	if (err == MEMSCAN_OK && cli_cancelled())
		err = MEMSCAN_ERR_CANCELLED; /* came during the last request, which asks no more */
	if (p.on && memscan_client_set_progress_total(s->t.client, NULL, NULL) != MEMSCAN_OK)
		p.on = 0; /* cannot fail when detaching */
	cli_progress_end(&p, NULL);
	for (size_t i = 0; err == MEMSCAN_OK && i < n; i++)
		if (status[i] == MEMSCAN_OK && res[i].address == addr)
			err = memscan_pointer_chains_add(*ret, memscan_pointer_chains_get(in, i));
	free(res);
	free(status);
	return err;
}

/* Chains followed at a time in a local rescan: a progress step, and a look at Ctrl-C for a snapshot
 * source (a process's reads ask it themselves). Each batch reads the process's maps once. */
#define RESCAN_BATCH 8192

/* Appends the chains of FROM to TO. */
static int chains_append(memscan_pointer_chains *to, const memscan_pointer_chains *from)
{
	int err = MEMSCAN_OK;

	for (size_t i = 0; err == MEMSCAN_OK && i < memscan_pointer_chains_count(from); i++)
		err = memscan_pointer_chains_add(to, memscan_pointer_chains_get(from, i));
	return err;
}

/* memscan_pointer_rescan of IN in the source, a batch at a time with a progress line (unless QUIET). */
static int local_rescan(struct ptr_source *s, const memscan_pointer_chains *in, uint64_t addr, int quiet,
                        memscan_pointer_chains **ret)
{
	size_t n = memscan_pointer_chains_count(in);
	struct cli_progress p;
	int err = memscan_pointer_chains_new(addr, ret);

	cli_progress_start_steps(&p, "following chains", n, quiet);
	for (size_t i = 0; err == MEMSCAN_OK && i < n; i += RESCAN_BATCH) {
		memscan_pointer_chains *batch = NULL, *kept = NULL;

		cli_progress_step(&p, i);
		err = memscan_pointer_chains_new(addr, &batch);
		for (size_t k = i; err == MEMSCAN_OK && k < n && k < i + RESCAN_BATCH; k++)
			err = memscan_pointer_chains_add(batch, memscan_pointer_chains_get(in, k));
		if (err == MEMSCAN_OK)
			err = memscan_pointer_rescan(s->proc, s->snap, batch, addr, &kept);
		if (err == MEMSCAN_OK)
			err = cli_cancelled() ? MEMSCAN_ERR_CANCELLED : chains_append(*ret, kept);
		memscan_pointer_chains_free(kept);
		memscan_pointer_chains_free(batch);
	}
	cli_progress_end(&p, NULL);
	if (err != MEMSCAN_OK) {
		memscan_pointer_chains_free(*ret);
		*ret = NULL;
	}
	return err;
}

static int run_rescan(struct ptr_source *s, const struct ptr_opts *o, uint64_t addr)
{
	memscan_pointer_chains *in = NULL, *kept = NULL;
	int ret = ptr_source_check_mapped(s, addr), err;

	if (ret != CLI_OK)
		return ret;
	err = memscan_pointer_chains_load(o->rescan, &in);
	if (err != MEMSCAN_OK) {
		cli_err("cannot load chains %s: %s", o->rescan, memscan_strerror(err));
		return CLI_FAIL;
	}
	/* Ctrl-C's handler is installed by ptr_source_open: a snapshot source stops between batches */
	err = s->remote ? remote_rescan(s, in, addr, o->quiet, &kept)
	                : local_rescan(s, in, addr, o->quiet, &kept);
	if (err != MEMSCAN_OK)
		ret = s->remote ? cli_target_err(&s->t, err, "following the chains")
		                : cli_lib_err(err, s->pid, "following the chains");
	if (ret == CLI_OK) {
		print_chains(kept, o->json);
		ret = save_chains(kept, o->output ? o->output : o->rescan);
	}
	memscan_pointer_chains_free(kept);
	memscan_pointer_chains_free(in);
	return ret;
}

int cmd_pointers(int argc, char **argv)
{
	struct ptr_opts o = { .cmd = "pointers" };
	struct ptr_source s;
	uint64_t addr;
	int ret = parse_opts(argc, argv, pointers_opts, 1, &o);

	if (ret != CLI_OK || o.help)
		return ret != CLI_OK ? ret : cli_print_help(stdout, "pointers");
	if (o.npos != 1 || !o.to) {
		cli_err("pointers needs SOURCE and --to ADDR (see 'memscan pointers --help')");
		return CLI_USAGE;
	}
	if (o.rescan && (o.depth || o.max_offset || o.negative || o.bases || o.max)) {
		cli_err(
		    "--rescan follows the saved chains: --depth, --max-offset, --negative, --bases and --max "
		    "apply to a new search only");
		return CLI_USAGE;
	}
	if (cli_parse_addr(o.to, "--to address", &addr) != CLI_OK)
		return CLI_USAGE;
	if (o.identity && !cli_remote_mode) {
		cli_err("--identity applies to 'memscan remote pointers' only");
		return CLI_USAGE;
	}
	if (!o.rescan) { /* options are checked before the source is read */
		memscan_pointer_search_options so;

		if (search_options(&o, &so) != CLI_OK)
			return CLI_USAGE;
	}
	ret = ptr_source_open(&s, o.pos[0], o.identity, o.quiet);
	if (ret == CLI_OK && o.rescan)
		ret = run_rescan(&s, &o, addr);
	else if (ret == CLI_OK)
		ret = s.remote ? run_remote_search(&s, &o, addr) : run_search(&s, &o, addr);
	ptr_source_close(&s);
	return ret;
}

/* ---- resolve ----------------------------------------------------------------------------------- */

static void print_value(memscan_value_type type, const uint8_t *b)
{
	uint64_t u = 0;
	size_t n = memscan_value_type_size(type);

	for (size_t k = n; k-- > 0;)
		u = u << 8 | b[k];
	if (type == MEMSCAN_VALUE_F32 || type == MEMSCAN_VALUE_F64) {
		float f;
		double d;

		memcpy(&f, b, 4);
		memcpy(&d, b, 8);
		printf(type == MEMSCAN_VALUE_F32 ? "%.9g" : "%.17g",
		       type == MEMSCAN_VALUE_F32 ? (double)f : d);
	} else if (type == MEMSCAN_VALUE_I8 || type == MEMSCAN_VALUE_I16 || type == MEMSCAN_VALUE_I32 ||
	           type == MEMSCAN_VALUE_I64) {
		unsigned shift = (unsigned)(64 - 8 * n);
		int64_t v = (int64_t)(u << shift) >> shift; /* sign-extended */

		printf("%" PRId64, v);
	} else {
		printf("%" PRIu64, u);
	}
}

static int resolve_value(struct ptr_source *s, uint64_t addr, const char *type_name)
{
	uint8_t b[MEMSCAN_VALUE_STR_MAX + 1] = { 0 };
	memscan_value_type type;
	size_t n;
	int err;

	if (memscan_value_type_parse(type_name, &type) != MEMSCAN_OK)
		return CLI_USAGE; /* checked before */
	n = type == MEMSCAN_VALUE_STR ? MEMSCAN_VALUE_STR_MAX : memscan_value_type_size(type);
	err = ptr_source_read(s, addr, b, n);
	if (err != MEMSCAN_OK && !(type == MEMSCAN_VALUE_STR && err == MEMSCAN_ERR_PARTIAL)) {
		cli_err("the chain reaches 0x%" PRIx64 ", whose %s value cannot be read: %s", addr, type_name,
		        memscan_strerror(err));
		return CLI_FAIL;
	}
	printf("0x%" PRIx64 "  %s  ", addr, type_name);
	if (type == MEMSCAN_VALUE_STR)
		out_text_str(stdout, (const char *)b); /* up to the first NUL byte */
	else
		print_value(type, b);
	putchar('\n');
	return CLI_OK;
}
static int resolve_err(int err, const struct ptr_source *s, const memscan_pointer_chain *c,
                       const memscan_pointer_resolution *res)
{
	if (err == MEMSCAN_ERR_NOT_FOUND)
		cli_err("module %s is not mapped in %s (list the modules with 'memscan regions')", c->module,
		        s->text);
	else if (err == MEMSCAN_ERR_UNREADABLE)
		cli_err("the chain breaks at step %u: the pointer at 0x%" PRIx64 " is %s", res->step, res->at,
		        res->null ? "null" : "unreadable");
	else if (s->remote)
		return cli_target_err(&s->t, err, "following the chain");
	else
		return cli_lib_err(err, s->pid, "following the chain");
	return CLI_FAIL;
}

int cmd_resolve(int argc, char **argv)
{
	struct ptr_opts o = { .cmd = "resolve" };
	memscan_pointer_resolution res;
	memscan_pointer_chain chain;
	memscan_value_type type;
	struct ptr_source s;
	int ret = parse_opts(argc, argv, resolve_opts, 2, &o), err;

	if (ret != CLI_OK || o.help)
		return ret != CLI_OK ? ret : cli_print_help(stdout, "resolve");
	if (o.npos != 2) {
		cli_err("resolve needs SOURCE and CHAIN (see 'memscan resolve --help')");
		return CLI_USAGE;
	}
	if (memscan_pointer_chain_parse(o.pos[1], &chain) != MEMSCAN_OK) {
		cli_err(
		    "invalid chain '%s': expected MODULE+0xOFFSET -> 0xOFF -> ... (1 to %d offsets), e.g. "
		    "'libgame.so+0x1f40 -> 0x18 -> 0x8'",
		    o.pos[1], MEMSCAN_POINTER_DEPTH_MAX);
		return CLI_USAGE;
	}
	if (o.type && memscan_value_type_parse(o.type, &type) != MEMSCAN_OK) {
		cli_err("unknown --type '%s': expected i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 or str", o.type);
		return CLI_USAGE;
	}
	if (o.identity && !cli_remote_mode) {
		cli_err("--identity applies to 'memscan remote resolve' only");
		return CLI_USAGE;
	}
	ret = ptr_source_open(&s, o.pos[0], o.identity, o.quiet);
	if (ret == CLI_OK) {
		err = ptr_source_resolve(&s, &chain, &res);
		if (err != MEMSCAN_OK)
			ret = resolve_err(err, &s, &chain, &res);
		else if (o.type)
			ret = resolve_value(&s, res.address, o.type);
		else
			printf("0x%" PRIx64 "\n", res.address);
	}
	ptr_source_close(&s);
	return ret;
}
