/* SPDX-License-Identifier: MIT */
/* Operation handlers: Hello, ListProcesses, ListRegions, Read, Scan, Next. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int agent_op_hello(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HelloReply hello = MEMSCAN__V1__HELLO_REPLY__INIT;
	Memscan__V1__Encoding encodings[] = { MEMSCAN__V1__ENCODING__ENCODING_ZSTD };

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.agent_version = (char *)MEMSCAN_AGENT_VERSION;
	hello.granted_perms = chan_session_perms(r->s->chan);
	hello.max_page_bytes = WIRE_MAX_PAGE_BYTES;
	hello.encodings = encodings;
	hello.n_encodings = sizeof(encodings) / sizeof(encodings[0]);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HELLO;
	resp.hello = &hello;
	return agent_pack(r, &resp);
}

/* Keeps only the processes whose uid the key may see. */
static size_t agent_filter_procs(const agent_session *s, memscan_proc_info *list, size_t count)
{
	size_t n = 0;

	if (s->uid_min > s->uid_max)
		return count;
	for (size_t i = 0; i < count; i++)
		if (list[i].uid >= s->uid_min && list[i].uid <= s->uid_max)
			list[n++] = list[i];
	return n;
}

int agent_op_list_processes(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	memscan_proc_info *list = NULL;
	size_t count = 0;
	int err = memscan_process_list(&list, &count);

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot list processes: %s", memscan_strerror(err));
	p->kind = AGENT_PAGE_PROCS;
	p->procs = list;
	p->proc_count = agent_filter_procs(r->s, list, count);
	err = agent_pending_charge(r, (uint64_t)count * sizeof(*list), "the process list kept for paging");
	if (err != MEMSCAN_OK) {
		agent_pending_clear(p);
		return err;
	}
	return agent_page_emit(r);
}

/* What LIST holds in memory (regions and their paths), as charged to the budgets. */
static uint64_t agent_region_list_size(const memscan_region_list *list)
{
	size_t n = memscan_region_list_count(list);
	uint64_t bytes = (uint64_t)n * sizeof(memscan_region);

	for (size_t i = 0; i < n; i++)
		bytes += strlen(memscan_region_list_get(list, i)->path) + 1;
	return bytes;
}

/* Lists the regions of PROC selected by FILTER into *RET. */
static int agent_regions(agent_req *r, memscan_process *proc, const Memscan__V1__Filter *filter,
                         memscan_region_list **ret)
{
	memscan_filter f;
	int err;

	wire_filter_from_proto(filter, &f);
	if (r->light) {
		/* on an nng thread: a process with many regions is listed by a worker instead */
		err = memscan_regions_read_max(proc, &f, AGENT_LIGHT_MAPS_MAX, ret);
		if (err == MEMSCAN_ERR_LIMIT) {
			r->defer = 1;
			return err;
		}
	} else {
		err = memscan_regions_read(proc, &f, ret);
	}
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot list the regions of process %d: %s",
		                  memscan_process_pid(proc), memscan_strerror(err));
	return MEMSCAN_OK;
}

int agent_op_list_regions(agent_req *r)
{
	const Memscan__V1__ListRegions *lr = r->req->list_regions;
	agent_pending *p = &r->s->pending;
	memscan_process *proc;
	int err = agent_open_target_cached(r, lr->target, &proc);

	if (err != MEMSCAN_OK)
		return err;
	err = agent_regions(r, proc, lr->filter, &p->regions);
	if (err == MEMSCAN_OK) {
		p->kind = AGENT_PAGE_REGIONS;
		p->start_time = memscan_process_start_time(proc);
		err = agent_pending_charge(r, agent_region_list_size(p->regions),
		                           "the region list kept for paging");
		if (err != MEMSCAN_OK)
			agent_pending_clear(p);
	}
	return err == MEMSCAN_OK ? agent_page_emit(r) : err;
}

/* A read of a kept snapshot: the range must lie inside one of its regions. */
static int agent_read_snapshot(agent_req *r, const Memscan__V1__Read *rd)
{
	agent_snap *snap = agent_snap_find(r->s, rd->snapshot_id);
	agent_pending *p = &r->s->pending;
	const memscan_snapshot *base;

	if (!snap)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no snapshot %llu in this session",
		                  (unsigned long long)rd->snapshot_id);
	if (agent_snap_check(r, snap) != MEMSCAN_OK)
		return r->err;
	base = memscan_detector_baseline(snap->det);
	for (size_t i = 0; i < memscan_snapshot_region_count(base); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(base, i);

		if (rd->address < sr.region.start || rd->address >= sr.region.end ||
		    rd->length > sr.region.end - rd->address)
			continue;
		p->kind = AGENT_PAGE_READ_SNAP;
		p->snap = snap;
		p->zstd = rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		p->snap_region = sr;
		p->addr = rd->address;
		p->end = rd->address + rd->length;
		return agent_page_emit(r);
	}
	return agent_fail(r, MEMSCAN_ERR_NOT_FOUND,
	                  "snapshot %llu has no region holding [0x%llx, +%llu): read inside one region",
	                  (unsigned long long)rd->snapshot_id, (unsigned long long)rd->address,
	                  (unsigned long long)rd->length);
}

int agent_op_read(agent_req *r)
{
	const Memscan__V1__Read *rd = r->req->read;
	agent_pending *p = &r->s->pending;
	memscan_process *proc;
	int err;

	if (rd->length == 0 || rd->length > AGENT_READ_MAX)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "length %llu: must be 1 to %llu bytes",
		                  (unsigned long long)rd->length, (unsigned long long)AGENT_READ_MAX);
	if (rd->length > UINT64_MAX - rd->address)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "0x%llx + %llu overflows the address space",
		                  (unsigned long long)rd->address, (unsigned long long)rd->length);
	if (rd->snapshot_id)
		return agent_read_snapshot(r, rd);
	err = agent_open_target(r, rd->target, &proc);
	if (err != MEMSCAN_OK)
		return err;
	p->kind = AGENT_PAGE_READ_LIVE;
	p->zstd = rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	p->proc = proc;
	p->addr = rd->address;
	p->end = rd->address + rd->length;
	return agent_page_emit(r);
}

/* The matches of a scan as they come: the array is charged to the budgets as it grows (16 bytes a
 * match, up to 256 MiB), since a client may keep it pending by never asking for the next page. */
struct agent_scan_ctx {
	agent_req *r;
	struct agent_match *items;
	size_t count, cap;
	uint64_t charged;
	int nomem;
	char over[160]; /* the budget's refusal, if the array could not grow */
};

/* Doubles the match array, charging its growth first; -1 (NOMEM or OVER set) if it cannot. */
static int agent_scan_grow(struct agent_scan_ctx *c)
{
	size_t cap = c->cap ? 2 * c->cap : 1024;
	uint64_t more = (uint64_t)(cap - c->cap) * sizeof(*c->items);
	struct agent_match *grown;

	if (agent_budget_reserve(c->r->ag, c->r->s, more, c->over, sizeof(c->over)) != 0)
		return -1;
	grown = realloc(c->items, cap * sizeof(*grown));
	if (!grown) {
		agent_budget_release(c->r->ag, c->r->s, more);
		c->nomem = 1;
		return -1;
	}
	c->items = grown;
	c->cap = cap;
	c->charged += more;
	return 0;
}

static int agent_on_match(void *arg, uint64_t address, const memscan_region *region)
{
	struct agent_scan_ctx *c = arg;

	if (c->count == c->cap && agent_scan_grow(c) != 0)
		return 1;
	c->items[c->count].address = address;
	c->items[c->count].region_start = region->start;
	c->count++;
	return 0;
}

/* Parses the scan pattern; BAD_PATTERN names the offset. */
static int agent_scan_pattern(agent_req *r, const char *text, memscan_pattern **ret)
{
	size_t off = 0;
	int err;

	if (!text || !text[0])
		return agent_fail(r, MEMSCAN_ERR_BAD_PATTERN, "empty pattern");
	if (strlen(text) > AGENT_PATTERN_TEXT_MAX)
		return agent_fail(r, MEMSCAN_ERR_BAD_PATTERN, "pattern text longer than %d characters",
		                  AGENT_PATTERN_TEXT_MAX);
	err = memscan_pattern_parse(text, ret, &off);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "bad pattern at offset %zu: %s", off, memscan_strerror(err));
	return MEMSCAN_OK;
}

static int agent_run_scan(agent_req *r, memscan_process *proc, const memscan_region_list *regions,
                          const memscan_pattern *pat, struct agent_scan_ctx *c)
{
	const Memscan__V1__Scan *sc = r->req->scan;
	memscan_scan_options opt = { 0 };
	int err;

	opt.align = sc->align;
	opt.max_results = sc->max_results && sc->max_results < AGENT_SCAN_MAX_MATCHES
	                      ? sc->max_results
	                      : AGENT_SCAN_MAX_MATCHES;
	opt.no_memmap = sc->no_memmap;
	err = memscan_scan(proc, regions, pat, &opt, agent_on_match, c, NULL);
	if (c->nomem)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory after %zu matches", c->count);
	if (c->over[0])
		return agent_fail(r, MEMSCAN_ERR_BUSY,
		                  "scan stopped after %zu matches (narrow it, or lower max_results): %s",
		                  c->count, c->over);
	if (err != MEMSCAN_OK && err != MEMSCAN_ERR_STOPPED)
		return agent_fail(r, err, "scanning process %d: %s", memscan_process_pid(proc),
		                  memscan_strerror(err));
	return MEMSCAN_OK;
}

/* Hands C's matches to the session's pending result, trimmed to their count (and the charge with
 * them). */
static void agent_scan_keep(agent_req *r, struct agent_scan_ctx *c)
{
	agent_pending *p = &r->s->pending;
	uint64_t used = (uint64_t)c->count * sizeof(*c->items);
	struct agent_match *trimmed;

	if (!c->count) {
		free(c->items);
		c->items = NULL;
	} else if ((trimmed = realloc(c->items, c->count * sizeof(*c->items))) != NULL) {
		c->items = trimmed;
	} else {
		used = c->charged; /* kept as it is */
	}
	agent_budget_release(r->ag, r->s, c->charged - used);
	c->charged = used;
	p->kind = AGENT_PAGE_SCAN;
	p->matches = c->items;
	p->match_count = c->count;
	p->ag = r->ag;
	p->owner = r->s;
	p->charged += c->charged;
	c->items = NULL;
	c->charged = 0;
}

int agent_op_scan(agent_req *r)
{
	const Memscan__V1__Scan *sc = r->req->scan;
	struct agent_scan_ctx c = { .r = r };
	memscan_region_list *regions = NULL;
	memscan_pattern *pat = NULL;
	memscan_process *proc = NULL;
	int err;

	r->pid = sc->target ? sc->target->pid : 0;
	err = agent_scan_pattern(r, sc->pattern, &pat);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, sc->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_regions(r, proc, sc->filter, &regions);
	if (err == MEMSCAN_OK)
		err = agent_run_scan(r, proc, regions, pat, &c);
	if (err == MEMSCAN_OK) {
		agent_scan_keep(r, &c);
		r->s->pending.proc = proc; /* checked again at every page */
		proc = NULL;
		r->bytes = memscan_region_list_bytes(regions);
		err = agent_page_emit(r);
	}
	agent_budget_release(r->ag, r->s, c.charged);
	free(c.items);
	memscan_region_list_free(regions);
	memscan_pattern_free(pat);
	memscan_process_free(proc);
	return err;
}

int agent_op_next(agent_req *r)
{
	agent_pending *p = &r->s->pending;

	if (!p->cursor || r->req->next->cursor != p->cursor) {
		agent_pending_clear(p);
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "cursor %llu is not this session's next page",
		                  (unsigned long long)r->req->next->cursor);
	}
	return agent_page_emit(r);
}
