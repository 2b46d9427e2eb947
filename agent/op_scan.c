/* SPDX-License-Identifier: MIT */
/* Scan: a pattern scan of a process; its matches are kept (budgeted) and paged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "grow.h"

static size_t agent_fill_match(agent_pending *p, size_t index, void *item)
{
	Memscan__V1__Match *m = item;

	memscan__v1__match__init(m);
	m->address = p->u.scan.items[index].address;
	m->region_start = p->u.scan.items[index].region_start;
	return memscan__v1__match__get_packed_size(m);
}

static int agent_emit_scan(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ScanPage page = MEMSCAN__V1__SCAN_PAGE__INIT;
	agent_pending *p = &r->s->pending;

	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SCAN;
	resp.scan = &page;
	return agent_items_page(r, p->u.scan.count, sizeof(Memscan__V1__Match), agent_fill_match, &resp,
	                        &page.n_matches, (void ***)&page.matches, &page.next_cursor);
}

static void agent_scan_clear(agent_pending *p, int finish)
{
	(void)finish;
	free(p->u.scan.items);
}

static const agent_page_ops agent_scan_ops = { agent_emit_scan, agent_scan_clear };

/* The matches of a scan as they come: the array is charged to the budgets as it grows (16 bytes a
 * match, up to 256 MiB), since a client may keep it pending by never asking for the next page. */
struct agent_scan_ctx {
	agent *ag;
	agent_session *s;
	struct agent_match *items;
	size_t count, cap;
	uint64_t charged;
	int nomem;
	char over[160]; /* the budget's refusal, if the array could not grow */
};

/* A scan: what it looks for and where, and its matches as they come (job.c runs it when the client
 * asked for progress). */
struct agent_scan {
	struct agent_scan_ctx c;
	memscan_region_list *regions;
	memscan_pattern *pat;
	memscan_scan_options opt;
};

/* Doubles the match array (at most AGENT_SCAN_MAX_MATCHES: the scan stops there), charging its
 * growth first; -1 (NOMEM or OVER set) if it cannot. */
static int agent_scan_grow(struct agent_scan_ctx *c)
{
	size_t cap = wire_grow_next(c->cap, c->count + 1, sizeof(*c->items), AGENT_SCAN_MAX_MATCHES);
	uint64_t more = (uint64_t)(cap - c->cap) * sizeof(*c->items);

	if (cap == 0) {
		c->nomem = 1;
		return -1;
	}
	if (agent_budget_reserve(c->ag, c->s, more, c->over, sizeof(c->over)) != 0)
		return -1;
	if (wire_grow(&c->items, &c->cap, cap, sizeof(*c->items), AGENT_SCAN_MAX_MATCHES) != 0) {
		agent_budget_release(c->ag, c->s, more);
		c->nomem = 1;
		return -1;
	}
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

static void agent_scan_drop(agent *ag, agent_session *s, void *state)
{
	struct agent_scan *sc = state;

	if (!sc)
		return;
	agent_budget_release(ag, s, sc->c.charged);
	free(sc->c.items);
	memscan_region_list_free(sc->regions);
	memscan_pattern_free(sc->pat);
	free(sc);
}

/* The scan itself (on a worker, or on its job's thread). */
static int agent_scan_run(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len)
{
	struct agent_scan *sc = state;
	int err = memscan_scan(proc, sc->regions, sc->pat, &sc->opt, agent_on_match, &sc->c, NULL);

	(void)j;
	if (sc->c.nomem) {
		snprintf(msg, msg_len, "out of memory after %zu matches", sc->c.count);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	if (sc->c.over[0]) {
		snprintf(msg, msg_len, "scan stopped after %zu matches (narrow it, or lower max_results): %s",
		         sc->c.count, sc->c.over);
		return MEMSCAN_ERR_BUSY;
	}
	if (err != MEMSCAN_OK && err != MEMSCAN_ERR_STOPPED) {
		snprintf(msg, msg_len, "scanning process %d: %s", memscan_process_pid(proc),
		         memscan_strerror(err));
		return err;
	}
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
	agent_pending_start(r, &agent_scan_ops);
	p->u.scan.items = c->items;
	p->u.scan.count = c->count;
	p->charged += c->charged;
	c->items = NULL;
	c->charged = 0;
}

/* The scan's reply once it ran: its first page of matches, or its error. */
static int agent_scan_finish(agent_req *r, memscan_process *proc, void *state, int err, const char *msg)
{
	struct agent_scan *sc = state;

	if (err != MEMSCAN_OK) {
		agent_fail(r, err, "%s", msg);
	} else {
		agent_scan_keep(r, &sc->c);
		r->s->pending.proc = r->s->pending.target = proc; /* checked again at every page */
		proc = NULL;
		r->bytes = memscan_region_list_bytes(sc->regions);
		err = agent_page_emit(r);
	}
	agent_scan_drop(r->ag, r->s, sc);
	memscan_process_free(proc);
	return err;
}

static const agent_job_kind agent_scan_job = { agent_scan_run, agent_scan_finish, agent_scan_drop };

int agent_op_scan(agent_req *r)
{
	const Memscan__V1__Scan *req = r->req->scan;
	struct agent_scan *sc = calloc(1, sizeof(*sc));
	memscan_process *proc = NULL;
	int err;

	r->pid = req->target ? req->target->pid : 0;
	if (!sc)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	sc->c.ag = r->ag;
	sc->c.s = r->s;
	sc->opt.align = req->align;
	sc->opt.max_results = req->max_results && req->max_results < AGENT_SCAN_MAX_MATCHES
	                          ? req->max_results
	                          : AGENT_SCAN_MAX_MATCHES;
	sc->opt.no_memmap = req->no_memmap;
	err = agent_scan_pattern(r, req->pattern, &sc->pat);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, req->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_target_regions(r, proc, req->filter, &sc->regions);
	if (err != MEMSCAN_OK) {
		agent_scan_drop(r->ag, r->s, sc);
		memscan_process_free(proc);
		return err;
	}
	return agent_job_run(r, proc, memscan_region_list_bytes(sc->regions), req->progress_ms,
	                     &agent_scan_job, sc);
}
