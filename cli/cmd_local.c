/* SPDX-License-Identifier: MIT */
/* memscan CLI commands on a local process: ps, regions, read and scan. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cmd.h"
#include "cmd_values.h"
#include "output.h"
#include "target.h"

#define READ_MAX_LEN    (256ull << 20) /* largest `read` length */
#define SCAN_BUFFER_MAX 65536          /* matches held back before the scan output starts streaming */
#define PATTERN_SHOWN   48             /* pattern characters quoted in error messages */

int cli_parse_cmd(int argc, char **argv, const char *name, uint32_t allowed, int max_pos, struct cli_opts *o,
                  int *ret_done)
{
	int ret;

	if (cli_remote_mode) /* remote commands take the same options plus the client's key */
		allowed |= OPT_BIT(OPT_IDENTITY);
	else
		allowed &= ~OPTS_REMOTE_ONLY;
	ret = cli_parse(argc, argv, name, allowed, max_pos, o);

	*ret_done = 0;
	/* --read-absent sets up how this host reads a process; remotely the agent reads. It is parsed
	 * there too, so that the refusal says where the choice is made instead of "unknown option" */
	if (ret == CLI_OK && cli_remote_mode && (o->seen & OPT_BIT(OPT_READ_ABSENT))) {
		cli_err(
		    "--read-absent applies to local processes only: on a remote host, reading pages never "
		    "written is the agent's choice (memscan-agent --read-absent)");
		return CLI_USAGE;
	}
	if (ret == CLI_OK && (o->seen & OPT_BIT(OPT_HELP))) {
		*ret_done = 1;
		return cli_print_help(stdout, name);
	}
	return ret;
}

static int need_args(const struct cli_opts *o, int count, const char *what)
{
	if (o->npos >= count)
		return CLI_OK;
	cli_err("missing %s (usage: see 'memscan %s%s --help')", what, cli_remote_mode ? "remote " : "",
	        o->cmd);
	return CLI_USAGE;
}

/* ---- ps ---------------------------------------------------------------------------------- */

/* Widest name column a listing uses: longer names push their command line right. */
#define PS_NAME_MAX_WIDTH 40

static void ps_print_text(const memscan_proc_info *p, size_t name_width)
{
	size_t w = out_text_width(p->name);

	printf("%7d %7d %6u %10llu ", p->pid, p->ppid, p->uid, (unsigned long long)(p->rss_bytes / 1024));
	out_text_str(stdout, p->name);
	printf("%*s ", w < name_width ? (int)(name_width - w) : 0, "");
	out_text_str(stdout, p->cmdline);
	fputc('\n', stdout);
}

/* True if P is listed: no NAME asked, or its name contains NAME. */
static int ps_selected(const memscan_proc_info *p, const char *name)
{
	return !name || strstr(p->name, name) != NULL;
}

static void ps_print(const memscan_proc_info *list, size_t n, int json, const char *name)
{
	size_t i, width = 4; /* "NAME" */

	for (i = 0; i < n; i++)
		if (ps_selected(&list[i], name) && out_text_width(list[i].name) > width)
			width = out_text_width(list[i].name);
	width = width > PS_NAME_MAX_WIDTH ? PS_NAME_MAX_WIDTH : width;
	if (!json)
		printf("%7s %7s %6s %10s %-*s %s\n", "PID", "PPID", "UID", "RSS(KiB)", (int)width, "NAME",
		       "CMDLINE");
	for (i = 0; i < n; i++) {
		const memscan_proc_info *p = &list[i];

		if (!ps_selected(p, name))
			continue;
		if (!json) {
			ps_print_text(p, width);
			continue;
		}
		printf("{\"pid\":%d,\"ppid\":%d,\"uid\":%u,\"rss\":%llu,\"name\":", p->pid, p->ppid, p->uid,
		       (unsigned long long)p->rss_bytes);
		out_json_str(stdout, p->name);
		fputs(",\"cmdline\":", stdout);
		out_json_str(stdout, p->cmdline);
		fputs("}\n", stdout);
	}
}

int cmd_ps(int argc, char **argv)
{
	memscan_proc_info *list = NULL;
	struct cli_target t = { 0 };
	struct cli_opts o;
	size_t n = 0;
	int ret, done, err;

	/* -q: for a fleet run's progress line (`remote ps @HOSTS`); one host draws none */
	ret = cli_parse_cmd(argc, argv, "ps", OPT_BIT(OPT_JSON) | OPT_BIT(OPT_QUIET), cli_remote_mode ? 2 : 1,
	                    &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (!cli_remote_mode) {
		err = memscan_process_list(&list, &n);
		if (err != MEMSCAN_OK)
			return cli_lib_err(err, 0, "listing processes");
	} else {
		ret = need_args(&o, 1, "HOST[:PORT]");
		if (ret == CLI_OK)
			ret = cli_target_open_host(&o, o.pos[0], &t);
		err = ret == CLI_OK ? memscan_client_list_processes(t.client, &list, &n) : MEMSCAN_OK;
		if (ret == CLI_OK && err != MEMSCAN_OK)
			ret = cli_target_err(&t, err, "listing processes");
		cli_target_close(&t);
		if (ret != CLI_OK)
			return ret;
	}
	ps_print(list, n, o.json, o.npos > (cli_remote_mode ? 1 : 0) ? o.pos[o.npos - 1] : NULL);
	free(list);
	return CLI_OK;
}

/* ---- regions ----------------------------------------------------------------------------- */

int cmd_regions(int argc, char **argv)
{
	memscan_region_list *list = NULL;
	memscan_filter filter = { 0 };
	struct cli_target t;
	struct cli_opts o;
	int ret, done, err;
	size_t i, n;

	ret = cli_parse_cmd(argc, argv, "regions", OPT_BIT(OPT_JSON) | OPT_BIT(OPT_QUIET) | OPTS_FILTER, 1,
	                    &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	ret = need_args(&o, 1, cli_target_name());
	if (ret != CLI_OK)
		return ret;
	ret = cli_target_open(&o, o.pos[0], &t);
	if (ret != CLI_OK)
		goto out;
	cli_filter_apply(&o.filter, &filter);
	err = cli_target_regions(&t, &filter, &list);
	if (err != MEMSCAN_OK) {
		ret = cli_target_err(&t, err, "reading the memory map");
		goto out;
	}
	n = memscan_region_list_count(list);
	if (!o.json)
		out_region_header(stdout);
	for (i = 0; i < n; i++) {
		if (o.json)
			out_region_json(stdout, memscan_region_list_get(list, i));
		else
			out_region_text(stdout, memscan_region_list_get(list, i));
	}
out:
	memscan_region_list_free(list);
	cli_target_close(&t);
	return ret;
}

/* ---- read -------------------------------------------------------------------------------- */

struct read_req {
	int pid;
	const char *where; /* the target's " on HOST:PORT" or "" */
	uint64_t addr;
	uint64_t len;
};

static int read_parse(const struct cli_opts *o, struct read_req *req)
{
	int ret = need_args(o, 3,
	                    o->npos == 0   ? (cli_remote_mode ? "TARGET, ADDR and LEN" : "PID, ADDR and LEN")
	                    : o->npos == 1 ? "ADDR and LEN"
	                                   : "LEN");

	if (ret == CLI_OK && o->raw && o->json) {
		cli_err("--raw and --json cannot be combined");
		ret = CLI_USAGE;
	}
	if (ret == CLI_OK)
		ret = cli_target_check(o->pos[0]);
	if (ret == CLI_OK)
		ret = cli_parse_addr(o->pos[1], "address", &req->addr);
	if (ret == CLI_OK)
		ret = cli_parse_count(o->pos[2], "length", 1, READ_MAX_LEN, &req->len);
	if (ret == CLI_OK && req->addr > UINT64_MAX - req->len) {
		cli_err("address 0x%llx + length %llu wraps around the address space",
		        (unsigned long long)req->addr, (unsigned long long)req->len);
		ret = CLI_USAGE;
	}
	return ret;
}

/* Why nothing at ADDR could be read: looks the address up in the memory map. */
static void explain_unreadable(struct cli_target *t, uint64_t addr)
{
	int pid = t->pid;
	const char *where = t->where;
	memscan_region_list *list = NULL;
	const memscan_region *r = NULL;
	size_t i, n;
	char perms[5];

	if (cli_target_regions(t, NULL, &list) == MEMSCAN_OK) {
		n = memscan_region_list_count(list);
		for (i = 0; i < n && !r; i++) {
			const memscan_region *c = memscan_region_list_get(list, i);

			if (addr >= c->start && addr < c->end)
				r = c;
		}
	}
	if (!r) {
		cli_err("address 0x%llx is not readable in PID %d%s (not mapped; see 'memscan %sregions')",
		        (unsigned long long)addr, pid, where, cli_remote_mode ? "remote " : "");
	} else if (!(r->perms & MEMSCAN_PERM_READ)) {
		memscan_perms_format(r->perms, perms);
		cli_err(
		    "address 0x%llx is not readable in PID %d%s (region 0x%llx-0x%llx is %s, without read "
		    "permission)",
		    (unsigned long long)addr, pid, where, (unsigned long long)r->start,
		    (unsigned long long)r->end, perms);
	} else {
		cli_err("address 0x%llx is not readable in PID %d%s (mapped in 0x%llx-0x%llx, but the kernel "
		        "refused the read, e.g. a page beyond the end of a mapped file)",
		        (unsigned long long)addr, pid, where, (unsigned long long)r->start,
		        (unsigned long long)r->end);
	}
	memscan_region_list_free(list);
}

static void holes_note(const struct read_req *req, const memscan_ranges *holes, int fatal)
{
	size_t i;

	fprintf(stderr, "memscan: %s%llu of %llu bytes at 0x%llx are unreadable in PID %d%s:",
	        fatal ? "" : "note: ", (unsigned long long)memscan_ranges_bytes(holes),
	        (unsigned long long)req->len, (unsigned long long)req->addr, req->pid, req->where);
	for (i = 0; i < holes->count && i < 8; i++)
		fprintf(stderr, " 0x%llx-0x%llx", (unsigned long long)holes->items[i].start,
		        (unsigned long long)holes->items[i].end);
	fputs(holes->count > 8 ? " ...\n" : "\n", stderr);
	if (fatal)
		fputs("memscan: --raw needs every byte; use the hexdump or --json output, which mark the "
		      "holes\n",
		      stderr);
	else
		fputs("memscan: note: unreadable bytes are shown as ??\n", stderr);
}

static void read_print_json(const struct read_req *req, const uint8_t *buf, const memscan_ranges *holes)
{
	size_t i;

	printf("{\"address\":\"0x%llx\",\"length\":%llu,\"data\":\"", (unsigned long long)req->addr,
	       (unsigned long long)req->len);
	out_hex(stdout, buf, req->len);
	fputs("\",\"holes\":[", stdout);
	for (i = 0; i < holes->count; i++)
		printf("%s{\"start\":\"0x%llx\",\"end\":\"0x%llx\"}", i ? "," : "",
		       (unsigned long long)holes->items[i].start, (unsigned long long)holes->items[i].end);
	fputs("]}\n", stdout);
}

/* Prints what was read; partial reads are an error only for --raw. */
static int read_output(const struct cli_opts *o, const struct read_req *req, const uint8_t *buf,
                       const memscan_ranges *holes)
{
	if (holes->count && o->raw) {
		holes_note(req, holes, 1);
		return CLI_FAIL;
	}
	if (holes->count)
		holes_note(req, holes, 0);
	if (o->raw)
		fwrite(buf, 1, req->len, stdout);
	else if (o->json)
		read_print_json(req, buf, holes);
	else
		out_hexdump(stdout, req->addr, buf, req->len, holes);
	return CLI_OK;
}

int cmd_read(int argc, char **argv)
{
	memscan_ranges holes = { 0 };
	struct cli_target t = { 0 };
	struct read_req req;
	struct cli_opts o;
	uint8_t *buf = NULL;
	int ret, done, err;

	ret = cli_parse_cmd(argc, argv, "read", OPT_BIT(OPT_JSON) | OPT_BIT(OPT_RAW) | OPT_BIT(OPT_COMPRESS),
	                    3, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	ret = read_parse(&o, &req);
	if (ret != CLI_OK)
		return ret;
	ret = cli_target_open(&o, o.pos[0], &t);
	if (ret != CLI_OK)
		goto out;
	req.pid = t.pid;
	req.where = t.where;
	buf = malloc(req.len);
	if (!buf) {
		ret = cli_lib_err(MEMSCAN_ERR_NO_MEMORY, 0, "allocating the read buffer");
		goto out;
	}
	err = cli_target_read(&t, req.addr, buf, req.len, &holes);
	if (err == MEMSCAN_ERR_UNREADABLE) {
		explain_unreadable(&t, req.addr);
		ret = CLI_FAIL;
	} else if (err != MEMSCAN_OK && err != MEMSCAN_ERR_PARTIAL) {
		ret = cli_target_err(&t, err, "reading memory");
	} else {
		ret = read_output(&o, &req, buf, &holes);
	}
out:
	free(buf);
	memscan_ranges_release(&holes);
	cli_target_close(&t);
	return ret;
}

/* ---- scan -------------------------------------------------------------------------------- */

static int pattern_char_ok(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '?';
}

/* "malformed pattern "TEXT": KIND 'C' at offset OFF (expected ...)" */
static void pattern_err(const char *text, const char *kind, size_t off, char c)
{
	char shown[PATTERN_SHOWN + 4], cbuf[8];
	size_t len = strlen(text);

	snprintf(shown, sizeof(shown), "%.*s%s", PATTERN_SHOWN, text, len > PATTERN_SHOWN ? "..." : "");
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F)
		snprintf(cbuf, sizeof(cbuf), "%c", c);
	else
		snprintf(cbuf, sizeof(cbuf), "\\x%02x", (unsigned char)c);
	fprintf(stderr, "memscan: malformed pattern \"");
	out_text_str(stderr, shown);
	fprintf(stderr, "\": %s '%s' at offset %zu (expected hex byte like 4D, ?? or nibble wildcard 4?)\n",
	        kind, cbuf, off);
}

/* Says what is wrong with TEXT, which the library refused at offset OFF. */
static void pattern_explain(const char *text, size_t off)
{
	size_t len = strlen(text);

	if (strspn(text, " \t") == len) {
		cli_err("malformed pattern \"%s\": the pattern is empty (expected hex bytes like \"4D 5A ?? "
		        "00\")",
		        text);
	} else if (off < len && text[off] != ' ' && text[off] != '\t' && !pattern_char_ok(text[off])) {
		pattern_err(text, "invalid hex digit", off, text[off]);
	} else if (off < len && (text[off] == ' ' || text[off] == '\t')) {
		pattern_err(text, "incomplete byte", off ? off - 1 : 0, off ? text[off - 1] : text[off]);
	} else if (off < len && (off + 1 == len || text[off + 1] == ' ' || text[off + 1] == '\t')) {
		pattern_err(text, "incomplete byte", off, text[off]);
	} else if (off == 0 && strpbrk(text, "0123456789abcdefABCDEF") == NULL) {
		cli_err("malformed pattern \"%s\": it has no fixed nibble, so it would match everywhere",
		        text);
	} else {
		cli_err("pattern too long (the limit is %d bytes)", MEMSCAN_PATTERN_MAX);
	}
}

static int pattern_compile(const char *text, memscan_pattern **ret)
{
	size_t off = 0;
	int err;

	if (!text) {
		cli_err("scan needs a pattern: --pattern \"4D 5A ?? 00\" (see 'memscan scan --help')");
		return CLI_USAGE;
	}
	err = memscan_pattern_parse(text, ret, &off);
	if (err == MEMSCAN_ERR_BAD_PATTERN || err == MEMSCAN_ERR_LIMIT) {
		pattern_explain(text, off);
		return CLI_USAGE;
	}
	if (err != MEMSCAN_OK)
		return cli_lib_err(err, 0, "parsing the pattern");
	return CLI_OK;
}

struct scan_match {
	uint64_t address;
	uint64_t region_start;
	size_t region; /* index in the region list, or SIZE_MAX */
};

struct scan_ctx {
	const memscan_region_list *regions;
	int json;
	int streaming; /* matches print as they come once SCAN_BUFFER_MAX were held back */
	int nomem;
	struct scan_match *items;
	size_t count, cap;
	uint64_t total; /* matches seen */
};

/* Index of the region of LIST starting at START (the list is sorted), or SIZE_MAX. */
static size_t region_index(const memscan_region_list *list, uint64_t start)
{
	size_t i = memscan_region_list_find(list, start);
	const memscan_region *r = memscan_region_list_get(list, i);

	return r && r->start == start ? i : SIZE_MAX;
}

static void match_print(const struct scan_ctx *ctx, const struct scan_match *m)
{
	const memscan_region *r =
	    m->region == SIZE_MAX ? NULL : memscan_region_list_get(ctx->regions, m->region);
	const char *path = r ? r->path : "";

	if (ctx->json) {
		printf("{\"address\":\"0x%llx\",\"region_start\":\"0x%llx\",\"path\":",
		       (unsigned long long)m->address, (unsigned long long)m->region_start);
		out_json_str(stdout, path);
		fputs("}\n", stdout);
		return;
	}
	printf("0x%llx  ", (unsigned long long)m->address);
	if (*path)
		out_text_str(stdout, path);
	else
		printf("[%s]", r ? memscan_kind_name(r->kind) : "?");
	fputc('\n', stdout);
}

static void scan_flush(struct scan_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->count; i++)
		match_print(ctx, &ctx->items[i]);
	ctx->count = 0;
}

/* Holds M back; the array stays within SCAN_BUFFER_MAX (on_match streams from there on). The CLI
 * sees only the public headers, so it grows its one array itself rather than with ms_grow. */
static int scan_push(struct scan_ctx *ctx, const struct scan_match *m)
{
	if (ctx->count == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 64;
		struct scan_match *p = realloc(ctx->items, cap * sizeof(*p));

		if (!p)
			return -1;
		ctx->items = p;
		ctx->cap = cap;
	}
	ctx->items[ctx->count++] = *m;
	return 0;
}

static int on_match(void *arg, uint64_t address, const memscan_region *region)
{
	struct scan_ctx *ctx = arg;
	struct scan_match m = { address, region->start, region_index(ctx->regions, region->start) };

	ctx->total++;
	if (ctx->streaming) {
		match_print(ctx, &m);
		return 0;
	}
	if (scan_push(ctx, &m)) {
		ctx->nomem = 1;
		return 1;
	}
	if (ctx->count >= SCAN_BUFFER_MAX) {
		scan_flush(ctx);
		ctx->streaming = 1;
	}
	return 0;
}

/* No match: said on stderr (stdout stays empty, exit 0), with what was searched. */
static void scan_say_none(const struct cli_opts *o, const struct cli_target *t,
                          const memscan_region_list *list)
{
	uint64_t bytes = 0;
	size_t n = memscan_region_list_count(list);
	char size[OUT_SIZE_LEN];

	for (size_t i = 0; i < n; i++) {
		const memscan_region *r = memscan_region_list_get(list, i);

		bytes += r->end - r->start;
	}
	cli_err("no match for '%s' in %zu regions (%s) of PID %d%s", o->pattern, n, out_size(bytes, size),
	        t->pid, t->where);
}

static int scan_run(const struct cli_opts *o, struct cli_target *t, const memscan_pattern *pat)
{
	memscan_scan_options opts = { .align = o->align, .max_results = o->max, .no_memmap = o->no_memmap };
	struct scan_ctx ctx = { .json = o->json };
	memscan_region_list *list = NULL;
	memscan_filter filter;
	int ret, err;

	ret = cli_target_select(t, &o->filter, &filter, &list);
	if (ret != CLI_OK)
		return ret;
	ctx.regions = list;
	err = cli_target_scan(t, &filter, list, o->pattern, pat, &opts, on_match, &ctx);
	if (ctx.nomem)
		err = MEMSCAN_ERR_NO_MEMORY;
	if (err == MEMSCAN_OK || err == MEMSCAN_ERR_STOPPED)
		scan_flush(&ctx);
	else
		ret = cli_target_err(t, err, "scanning");
	if (ret == CLI_OK && ctx.total == 0)
		scan_say_none(o, t, list);
	free(ctx.items);
	memscan_region_list_free(list);
	return ret;
}

int cmd_scan(int argc, char **argv)
{
	const uint32_t allowed = OPT_BIT(OPT_QUIET) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_PATTERN) |
	                         OPT_BIT(OPT_NO_MEMMAP) | OPT_BIT(OPT_ALIGN) | OPT_BIT(OPT_MAX) |
	                         OPT_BIT(OPT_READ_ABSENT) | OPTS_FILTER | OPTS_VALUE_SCAN;
	memscan_pattern *pat = NULL;
	struct cli_target t = { 0 };
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "scan", allowed, 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	ret = need_args(&o, 1, cli_target_name());
	if (ret == CLI_OK)
		ret = cli_target_check(o.pos[0]);
	if (ret == CLI_OK && (o.type || (o.seen & OPTS_VALUE_SCAN)))
		return cmd_scan_values(&o);
	if (ret == CLI_OK)
		ret = pattern_compile(o.pattern, &pat);
	if (ret == CLI_OK)
		ret = cli_target_open(&o, o.pos[0], &t);
	if (ret == CLI_OK)
		ret = scan_run(&o, &t, pat);
	cli_target_close(&t);
	memscan_pattern_free(pat);
	return ret;
}
