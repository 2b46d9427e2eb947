/* SPDX-License-Identifier: MIT */
/* PointerScan: chains from static bases to an address, searched here (only the chains are paged back;
 * asked with progress_ms, the search is a job answered with Progress), or given chains followed in the
 * live process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* The search's own memory (addresses in flight), charged with the snapshot and the index. */
#define AGENT_POINTER_SEARCH_BYTES ((uint64_t)64 << 20)
/* Chains one request may ask to follow (a request is at most 64 KiB; a chain at most ~350 bytes). */
#define AGENT_POINTER_FOLLOW_MAX 128

static size_t agent_fill_chain(agent_pending *p, size_t index, void *item)
{
	const memscan_pointer_chain *c = memscan_pointer_chains_get(p->u.pointers.chains, index);
	Memscan__V1__PointerChain *m = item;

	memscan__v1__pointer_chain__init(m);
	m->module = (char *)c->module;
	m->offset = c->offset;
	m->n_offsets = c->depth;
	m->offsets = (int64_t *)c->offsets;
	if (p->u.pointers.res) { /* following: where it led */
		const memscan_pointer_resolution *res = &p->u.pointers.res[index];

		m->status = wire_err_to_proto(p->u.pointers.status[index]);
		m->address = res->address;
		m->step = res->step;
		m->at = res->at;
		m->null = res->null;
	}
	return memscan__v1__pointer_chain__get_packed_size(m);
}

static int agent_emit_pointers(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__PointerPage page = MEMSCAN__V1__POINTER_PAGE__INIT;
	agent_pending *p = &r->s->pending;

	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_POINTERS;
	resp.pointers = &page;
	page.address = memscan_pointer_chains_target(p->u.pointers.chains);
	return agent_items_page(r, memscan_pointer_chains_count(p->u.pointers.chains),
	                        sizeof(Memscan__V1__PointerChain), agent_fill_chain, &resp, &page.n_chains,
	                        (void ***)&page.chains, &page.next_cursor);
}

static void agent_pointers_clear(agent_pending *p, int finish)
{
	(void)finish;
	memscan_pointer_chains_free(p->u.pointers.chains);
	free(p->u.pointers.res);
	free(p->u.pointers.status);
	memset(&p->u.pointers, 0, sizeof(p->u.pointers));
}

static const agent_page_ops agent_pointers_ops = { agent_emit_pointers, agent_pointers_clear };

/* The search's options from the request: INVALID_ARG fails R. */
static int agent_pointer_options(agent_req *r, memscan_pointer_search_options *o)
{
	const Memscan__V1__PointerScan *ps = r->req->pointer_scan;

	memscan_pointer_search_options_default(o);
	o->depth = ps->depth;
	o->max_offset = ps->max_offset;
	o->max_chains = ps->max_chains;
	o->flags = ps->flags & (MEMSCAN_POINTER_NEGATIVE | MEMSCAN_POINTER_ALL_BASES);
	o->max_bytes = AGENT_POINTER_SEARCH_BYTES;
	if (o->depth < 1 || o->depth > MEMSCAN_POINTER_DEPTH_MAX || o->max_chains < 1 ||
	    o->max_chains > MEMSCAN_POINTER_CHAINS_MAX || ps->flags != o->flags)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG,
		                  "depth must be 1 to %d, max_chains 1 to %llu, flags 1 and 2 only",
		                  MEMSCAN_POINTER_DEPTH_MAX, (unsigned long long)MEMSCAN_POINTER_CHAINS_MAX);
	return MEMSCAN_OK;
}

/* A search: what it looks for and where, what it charged, and the chains once found (job.c runs it on
 * a thread of its own when the client asked for progress). */
struct agent_psearch {
	agent_session *s; /* whose end stops a search run on the worker */
	memscan_region_list *list;
	memscan_pointer_search_options o;
	uint64_t addr, bytes, charged;
	int read_all; /* the snapshot was taken: BYTES were read (the audit's) */
	memscan_pointer_chains *chains;
};

static void agent_psearch_drop(agent *ag, agent_session *s, void *state)
{
	struct agent_psearch *ps = state;

	if (!ps)
		return;
	agent_budget_release(ag, s, ps->charged);
	memscan_pointer_chains_free(ps->chains);
	memscan_region_list_free(ps->list);
	free(ps);
}

/* A phase after the read, reporting to job J: DONE of UNITS (the library's total for the phase) is
 * reported as BASE + DONE scaled to BYTES, the phase's third of the job's total. */
struct agent_phase {
	agent_job *j;
	uint64_t base, bytes, units;
};

static void agent_phase_progress(void *ctx, uint64_t done)
{
	const struct agent_phase *ph = ctx;
	uint64_t part =
	    done >= ph->units ? ph->bytes : (uint64_t)((double)done / (double)ph->units * (double)ph->bytes);

	agent_job_report(ph->j, ph->base + part);
}

/* Snapshot, index and search. On job J each is a third of the total (three times the regions' bytes)
 * and stops when the job is dropped; on the worker (J NULL) they report nothing and stop when the
 * session ends or the agent stops, as PROC's reads do. */
static int agent_psearch_run(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len)
{
	struct agent_psearch *ps = state;
	struct agent_phase ph = { j, ps->bytes, ps->bytes, ps->bytes };
	memscan_hooks h = { agent_job_cancelled, j, agent_phase_progress, &ph },
	              plain = { agent_session_cancelled, ps->s, NULL, NULL }, *hooks = j ? &h : &plain;
	memscan_snapshot *snap = NULL;
	memscan_pointer_index *idx = NULL;
	int err = memscan_snapshot_take(proc, ps->list, &snap);

	if (err == MEMSCAN_OK) {
		ps->read_all = 1;
		agent_job_read(j, ps->bytes);            /* all of it (the reads' last report may be older) */
		ph.units = memscan_snapshot_bytes(snap); /* the index's DONE ends there */
		err = memscan_pointer_index_build_hooked(snap, ps->bytes / 2 + (1u << 20), hooks, &idx);
	}
	if (err == MEMSCAN_OK) {
		ph.base = 2 * ps->bytes;
		ph.units = MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL;
		err = memscan_pointer_search_hooked(idx, ps->addr, &ps->o, hooks, &ps->chains);
	}
	if (err == MEMSCAN_ERR_NOT_FOUND)
		snprintf(msg, msg_len, "address 0x%llx is not mapped in process %d",
		         (unsigned long long)ps->addr, memscan_process_pid(proc));
	else if (err != MEMSCAN_OK)
		snprintf(msg, msg_len, "pointer scan of process %d: %s", memscan_process_pid(proc),
		         memscan_strerror(err));
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
	return err;
}

/* The search's reply once it ran: its first page of chains (kept, charged, for the next), or its
 * error; audited with the regions' bytes once they were read, else with what the reads reported. */
static int agent_psearch_finish(agent_req *r, memscan_process *proc, void *state, int err, const char *msg)
{
	struct agent_psearch *ps = state;

	if (ps->read_all)
		r->bytes = ps->bytes;
	agent_budget_release(r->ag, r->s, ps->charged); /* the snapshot, index and search are gone */
	ps->charged = 0;
	if (err != MEMSCAN_OK) {
		agent_fail(r, err, "%s", msg);
	} else {
		agent_pending_start(r, &agent_pointers_ops);
		r->s->pending.u.pointers.chains = ps->chains; /* the pending result's now */
		r->s->pending.proc = r->s->pending.target = proc;
		ps->chains = NULL;
		proc = NULL;
		err = agent_pending_charge(r,
		                           memscan_pointer_chains_count(r->s->pending.u.pointers.chains) *
		                               sizeof(memscan_pointer_chain),
		                           "the chains kept for paging");
		if (err != MEMSCAN_OK)
			agent_pending_clear(&r->s->pending);
		else
			err = agent_page_emit(r);
	}
	agent_psearch_drop(r->ag, r->s, ps);
	memscan_process_free(proc);
	return err;
}

static const agent_job_kind agent_psearch_job = { agent_psearch_run, agent_psearch_finish,
	                                          agent_psearch_drop };

/* The most the chain list of a search asked for MAX chains may hold: its capacity doubles up to the
 * step past MAX, at most MEMSCAN_POINTER_CHAINS_MAX chains. */
static uint64_t agent_chains_cap_bytes(uint64_t max)
{
	return (2 * max < MEMSCAN_POINTER_CHAINS_MAX ? 2 * max : MEMSCAN_POINTER_CHAINS_MAX) *
	       sizeof(memscan_pointer_chain);
}

/* The regions of PS's search listed and what it will hold charged to the budgets: the snapshot, an
 * index of at most half of it, the search's own memory and the chains it finds. */
static int agent_psearch_charge(agent_req *r, memscan_process *proc, struct agent_psearch *ps)
{
	char over[160];
	uint64_t need;
	int err = agent_target_regions(r, proc, NULL, &ps->list);

	if (err != MEMSCAN_OK)
		return err;
	ps->bytes = memscan_region_list_bytes(ps->list);
	need = ps->bytes + ps->bytes / 2 + (1u << 20) + ps->o.max_bytes +
	       agent_chains_cap_bytes(ps->o.max_chains);
	if (agent_budget_reserve(r->ag, r->s, need, over, sizeof(over)) != 0)
		return agent_fail(r, MEMSCAN_ERR_BUSY,
		                  "a pointer scan of process %d needs its memory read: %s",
		                  memscan_process_pid(proc), over);
	ps->charged = need;
	return MEMSCAN_OK;
}

/* PointerScan without follow: the search, answered with Progress if asked for (and a job's place is
 * free), else at once. */
static int agent_psearch(agent_req *r)
{
	const Memscan__V1__PointerScan *req = r->req->pointer_scan;
	struct agent_psearch *ps = calloc(1, sizeof(*ps));
	memscan_process *proc = NULL;
	int err;

	if (!ps)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	ps->s = r->s;
	ps->addr = req->address;
	err = agent_pointer_options(r, &ps->o);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, req->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_psearch_charge(r, proc, ps);
	if (err != MEMSCAN_OK) {
		agent_psearch_drop(r->ag, r->s, ps);
		memscan_process_free(proc);
		return err;
	}
	return agent_job_run(r, proc, 3 * ps->bytes, req->progress_ms, &agent_psearch_job, ps);
}

/* The chains of PointerScan.follow, checked, into a new list. */
static int agent_follow_chains(agent_req *r, memscan_pointer_chains **ret)
{
	const Memscan__V1__PointerScan *ps = r->req->pointer_scan;
	memscan_pointer_chain c;
	int err = memscan_pointer_chains_new(0, ret);

	for (size_t i = 0; err == MEMSCAN_OK && i < ps->n_follow; i++) {
		const Memscan__V1__PointerChain *m = ps->follow[i];
		size_t len = m->module ? strlen(m->module) : 0;

		if (len == 0 || len >= MEMSCAN_POINTER_MODULE_MAX || m->n_offsets < 1 ||
		    m->n_offsets > MEMSCAN_POINTER_DEPTH_MAX)
			return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "chain %zu to follow is malformed", i);
		memset(&c, 0, sizeof(c));
		memcpy(c.module, m->module, len);
		c.offset = m->offset;
		c.depth = (unsigned)m->n_offsets;
		memcpy(c.offsets, m->offsets, m->n_offsets * sizeof(*c.offsets));
		err = memscan_pointer_chains_add(*ret, &c);
	}
	return err == MEMSCAN_OK ? err : agent_fail(r, err, "cannot keep the chains to follow");
}

/* PointerScan.follow: each chain followed in PROC, kept with where it led for paging. */
static int agent_follow(agent_req *r, memscan_process *proc)
{
	const Memscan__V1__PointerScan *ps = r->req->pointer_scan;
	agent_pending *p = &r->s->pending;
	memscan_pointer_chains *chains = NULL;
	memscan_pointer_resolution *res = calloc(ps->n_follow, sizeof(*res));
	int *status = calloc(ps->n_follow, sizeof(*status)), err;

	if (ps->n_follow > AGENT_POINTER_FOLLOW_MAX)
		err = agent_fail(r, MEMSCAN_ERR_LIMIT, "at most %d chains to follow a request",
		                 AGENT_POINTER_FOLLOW_MAX);
	else if (!res || !status)
		err = agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	else
		err = agent_follow_chains(r, &chains);
	for (size_t i = 0; err == MEMSCAN_OK && i < ps->n_follow; i++) {
		status[i] =
		    memscan_pointer_resolve(proc, NULL, memscan_pointer_chains_get(chains, i), &res[i]);
		if (status[i] != MEMSCAN_OK && status[i] != MEMSCAN_ERR_NOT_FOUND &&
		    status[i] != MEMSCAN_ERR_UNREADABLE)
			err = agent_fail(r, status[i], "following chain %zu in process %d: %s", i,
			                 memscan_process_pid(proc), memscan_strerror(status[i]));
	}
	if (err != MEMSCAN_OK) {
		memscan_pointer_chains_free(chains);
		free(res);
		free(status);
		return err;
	}
	agent_pending_start(r, &agent_pointers_ops);
	p->u.pointers.chains = chains;
	p->u.pointers.res = res;
	p->u.pointers.status = status;
	return MEMSCAN_OK;
}

int agent_op_pointers(agent_req *r)
{
	const Memscan__V1__PointerScan *ps = r->req->pointer_scan;
	memscan_process *proc = NULL;
	int err;

	r->pid = ps->target ? ps->target->pid : 0;
	if (!ps->n_follow)
		return agent_psearch(r);
	err = agent_open_target(r, ps->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_follow(r, proc);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return err;
	}
	r->s->pending.proc = r->s->pending.target = proc;
	err = agent_pending_charge(
	    r,
	    ps->n_follow * (sizeof(memscan_pointer_chain) + sizeof(memscan_pointer_resolution) + sizeof(int)),
	    "the chains followed");
	if (err != MEMSCAN_OK)
		agent_pending_clear(&r->s->pending);
	else
		err = agent_page_emit(r);
	return err;
}
