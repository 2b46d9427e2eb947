/* SPDX-License-Identifier: MIT */
/* PointerScan: chains from static bases to an address, searched here; only the chains are paged back. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* The search's own memory (addresses in flight), charged with the snapshot and the index. */
#define AGENT_POINTER_SEARCH_BYTES ((uint64_t)64 << 20)

static size_t agent_fill_chain(agent_pending *p, size_t index, void *item)
{
	const memscan_pointer_chain *c = memscan_pointer_chains_get(p->u.pointers.chains, index);
	Memscan__V1__PointerChain *m = item;

	memscan__v1__pointer_chain__init(m);
	m->module = (char *)c->module;
	m->offset = c->offset;
	m->n_offsets = c->depth;
	m->offsets = (int64_t *)c->offsets;
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
	p->u.pointers.chains = NULL;
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

/* Snapshot, index and search, with what they hold charged to the budgets (BUDGET: the charge). */
static int agent_pointer_search(agent_req *r, memscan_process *proc, const memscan_pointer_search_options *o,
                                memscan_pointer_chains **ret, uint64_t *budget)
{
	memscan_region_list *list = NULL;
	memscan_snapshot *snap = NULL;
	memscan_pointer_index *idx = NULL;
	uint64_t addr = r->req->pointer_scan->address, bytes;
	char over[160];
	int err = agent_target_regions(r, proc, NULL, &list);

	if (err != MEMSCAN_OK)
		return err;
	bytes = memscan_region_list_bytes(list); /* the snapshot, then an index of at most half of it */
	if (agent_budget_reserve(r->ag, r->s, bytes + bytes / 2 + (1u << 20) + o->max_bytes, over,
	                         sizeof(over)) != 0) {
		memscan_region_list_free(list);
		return agent_fail(r, MEMSCAN_ERR_BUSY,
		                  "a pointer scan of process %d needs its memory read: %s",
		                  memscan_process_pid(proc), over);
	}
	*budget = bytes + bytes / 2 + (1u << 20) + o->max_bytes;
	err = memscan_snapshot_take(proc, list, &snap);
	if (err == MEMSCAN_OK)
		err = memscan_pointer_index_build(snap, bytes / 2 + (1u << 20), &idx);
	if (err == MEMSCAN_OK)
		err = memscan_pointer_search(idx, addr, o, ret);
	if (err == MEMSCAN_ERR_NOT_FOUND)
		agent_fail(r, err, "address 0x%llx is not mapped in process %d", (unsigned long long)addr,
		           memscan_process_pid(proc));
	else if (err != MEMSCAN_OK)
		agent_fail(r, err, "pointer scan of process %d: %s", memscan_process_pid(proc),
		           memscan_strerror(err));
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
	r->bytes = bytes;
	memscan_region_list_free(list);
	return err;
}

int agent_op_pointers(agent_req *r)
{
	const Memscan__V1__PointerScan *ps = r->req->pointer_scan;
	memscan_pointer_chains *chains = NULL;
	memscan_pointer_search_options o;
	memscan_process *proc = NULL;
	uint64_t budget = 0;
	int err;

	r->pid = ps->target ? ps->target->pid : 0;
	err = agent_pointer_options(r, &o);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, ps->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_pointer_search(r, proc, &o, &chains, &budget);
	agent_budget_release(r->ag, r->s, budget);
	if (err == MEMSCAN_OK) {
		agent_pending_start(r, &agent_pointers_ops);
		r->s->pending.u.pointers.chains = chains; /* the pending result's now */
		r->s->pending.proc = r->s->pending.target = proc;
		proc = NULL;
		err = agent_pending_charge(
		    r, memscan_pointer_chains_count(chains) * sizeof(memscan_pointer_chain),
		    "the chains kept for paging");
		if (err != MEMSCAN_OK)
			agent_pending_clear(&r->s->pending);
		else
			err = agent_page_emit(r);
	}
	memscan_process_free(proc);
	return err;
}
