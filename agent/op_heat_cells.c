/* SPDX-License-Identifier: MIT */
/* HeatCells: a heat's counts, paged: first the regions that changed, then the cells in address order,
 * every page with the heat's totals. Counts only: no byte of the target is in them. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Room a page keeps for its totals and framing besides its items. */
#define AGENT_HEAT_PAGE_SLACK 1024u
/* Framing of one item inside a page (tag, length) on top of its packed size. */
#define AGENT_HEAT_ITEM_OVERHEAD 8u

/* One page's items: the regions (each with its Region) and the cells. */
struct heat_page {
	Memscan__V1__HeatRegion *regions, **region_ptrs;
	Memscan__V1__Region *region_items;
	Memscan__V1__HeatCell *cells, **cell_ptrs;
	size_t n_regions, n_cells, room;
};

static void heat_page_free(struct heat_page *pg)
{
	free(pg->regions);
	free(pg->region_ptrs);
	free(pg->region_items);
	free(pg->cells);
	free(pg->cell_ptrs);
}

static int heat_page_alloc(struct heat_page *pg, size_t max)
{
	memset(pg, 0, sizeof(*pg));
	pg->room = WIRE_MAX_PAGE_BYTES - AGENT_HEAT_PAGE_SLACK;
	pg->regions = calloc(max, sizeof(*pg->regions));
	pg->region_ptrs = calloc(max, sizeof(*pg->region_ptrs));
	pg->region_items = calloc(max, sizeof(*pg->region_items));
	pg->cells = calloc(max, sizeof(*pg->cells));
	pg->cell_ptrs = calloc(max, sizeof(*pg->cell_ptrs));
	return pg->regions && pg->region_ptrs && pg->region_items && pg->cells && pg->cell_ptrs ? 0 : -1;
}

/* Takes SIZE bytes of the page's room for an item (the first always fits); 0 if the page is full. */
static int heat_page_take(struct heat_page *pg, size_t size)
{
	size += AGENT_HEAT_ITEM_OVERHEAD;
	if ((pg->n_regions || pg->n_cells) && size > pg->room)
		return 0;
	pg->room -= size < pg->room ? size : pg->room;
	return 1;
}

/* Adds region INDEX of HEAT to the page; 0 if it is full. */
static int heat_page_region(struct heat_page *pg, const memscan_heat *heat, size_t index)
{
	Memscan__V1__HeatRegion *it = &pg->regions[pg->n_regions];
	memscan_heat_region hr;

	if (memscan_heat_region_get(heat, index, &hr) != MEMSCAN_OK)
		return 0;
	memscan__v1__heat_region__init(it);
	wire_region_to_proto(&hr.region, &pg->region_items[pg->n_regions]);
	it->region = &pg->region_items[pg->n_regions];
	it->changes = hr.changes;
	it->bytes = hr.bytes;
	it->cells = hr.cells;
	if (!heat_page_take(pg, memscan__v1__heat_region__get_packed_size(it)))
		return 0;
	pg->region_ptrs[pg->n_regions++] = it;
	return 1;
}

/* Adds cell INDEX of HEAT to the page; 0 if it is full. *RET_ERR: a failure to order the cells. */
static int heat_page_cell(struct heat_page *pg, memscan_heat *heat, size_t index, int *ret_err)
{
	Memscan__V1__HeatCell *it = &pg->cells[pg->n_cells];
	memscan_heat_cell c;

	*ret_err = memscan_heat_cell_get(heat, index, &c);
	if (*ret_err != MEMSCAN_OK)
		return 0;
	memscan__v1__heat_cell__init(it);
	it->address = c.address;
	it->changes = c.changes;
	it->bytes = c.bytes;
	it->region = c.region == SIZE_MAX ? 0 : (uint32_t)c.region + 1;
	it->n_bins = c.bins ? memscan_heat_bins(heat) : 0;
	it->bins = (uint32_t *)c.bins; /* the heat's, unchanged until the page is packed */
	if (!heat_page_take(pg, memscan__v1__heat_cell__get_packed_size(it)))
		return 0;
	pg->cell_ptrs[pg->n_cells++] = it;
	return 1;
}

/* The key's limits on H's process, checked again before a page: a process that exited leaves the
 * counts readable (they were taken while the key could read it), so the paging goes on; any other
 * failure releases H (agent_heat_recheck) and fails R. */
static int heat_cells_check(agent_req *r, agent_heat *h)
{
	int err = h->ended ? MEMSCAN_OK : agent_heat_recheck(r, h);

	if (err != MEMSCAN_ERR_PROCESS_GONE)
		return err;
	r->err = MEMSCAN_OK;
	r->msg[0] = '\0';
	return MEMSCAN_OK;
}

static int agent_emit_heat_cells(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatCellPage page = MEMSCAN__V1__HEAT_CELL_PAGE__INIT;
	Memscan__V1__HeatStats st = MEMSCAN__V1__HEAT_STATS__INIT;
	agent_pending *p = &r->s->pending;
	memscan_heat *heat = p->u.heat.heat->heat;
	size_t nreg = memscan_heat_region_count(heat), total = nreg + memscan_heat_cell_count(heat);
	size_t max = total - p->index < AGENT_PAGE_MAX_ITEMS ? total - p->index : AGENT_PAGE_MAX_ITEMS;
	struct heat_page pg;
	int err = MEMSCAN_OK;

	if (p->index && heat_cells_check(r, p->u.heat.heat) != MEMSCAN_OK) {
		agent_pending_abandon(p); /* the heat may be gone: nothing of it is touched */
		return r->err;
	}
	if (heat_page_alloc(&pg, max ? max : 1) != 0) {
		heat_page_free(&pg);
		agent_pending_clear(p);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory building a page of counts");
	}
	page.first_region = p->index < nreg ? p->index : nreg;
	page.first_cell = p->index < nreg ? 0 : p->index - nreg;
	while (p->index < total && pg.n_regions + pg.n_cells < max && err == MEMSCAN_OK &&
	       (p->index < nreg ? heat_page_region(&pg, heat, p->index)
	                        : heat_page_cell(&pg, heat, p->index - nreg, &err)))
		p->index++;
	if (err != MEMSCAN_OK) {
		heat_page_free(&pg);
		agent_pending_clear(p);
		return agent_fail(r, err, "listing the counts: %s", memscan_strerror(err));
	}
	st.samples = memscan_heat_samples(heat);
	st.cells = memscan_heat_cell_count(heat);
	st.regions = nreg;
	st.changed_bytes = memscan_heat_changed_bytes(heat);
	page.stats = &st;
	page.cell_size = memscan_heat_cell_size(heat);
	page.bins = memscan_heat_bins(heat);
	page.regions = pg.region_ptrs;
	page.n_regions = pg.n_regions;
	page.cells = pg.cell_ptrs;
	page.n_cells = pg.n_cells;
	page.next_cursor = agent_page_cursor(p, p->index < total);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS;
	resp.heat_cells = &page;
	err = agent_page_finish(r, &resp);
	heat_page_free(&pg);
	return err;
}

/* The heat stays kept when its counts were sent: nothing to release. */
static const agent_page_ops agent_heat_cells_ops = { agent_emit_heat_cells, NULL };

int agent_op_heat_cells(agent_req *r)
{
	uint64_t id = r->req->heat_cells->heat_id;
	agent_heat *h = agent_heat_find(r->s, id);
	int err;

	if (!h)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND,
		                  "no heat %llu in this session (a heat ends with its session)",
		                  (unsigned long long)id);
	r->pid = memscan_process_pid(h->proc);
	err = heat_cells_check(r, h);
	if (err != MEMSCAN_OK)
		return err;
	agent_pending_start(r, &agent_heat_cells_ops);
	r->s->pending.u.heat.heat = h;
	/* no target for the generic check: heat_cells_check, before every page, lets the counts of a
	 * process that exited meanwhile be sent to the end */
	r->s->pending.target = NULL;
	return agent_page_emit(r);
}
