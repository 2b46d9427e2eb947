/* SPDX-License-Identifier: MIT */
/* Heatmaps counted on the agent: start, sample, the counts (paged, every page checked before the
 * caller sees it), release. */
#include <string.h>

#include "client_internal.h"

/* Cells and regions one heat's counts may hold: the agent's highest cell maximum (64 Mi), and the
 * regions a heat remembers at most (memscan_heat: 128 Ki). */
#define CLIENT_HEAT_CELLS_MAX   ((uint64_t)1 << 26)
#define CLIENT_HEAT_REGIONS_MAX ((uint64_t)1 << 17)

/* A live session with an agent that counts heats: UNSUPPORTED_VERSION from one too old. */
static int heat_ready(memscan_client *c)
{
	int r = client_ensure_session(c);

	if (r == MEMSCAN_OK && !c->agent_heatmap)
		return client_fail(c, MEMSCAN_ERR_UNSUPPORTED_VERSION,
		                   "agent at %s is too old for remote heatmaps: upgrade memscan-agent there",
		                   c->url);
	return r;
}

/* client_call for a heat operation (an agent that does not know the operation is too old). */
static int hcall(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase expect,
                 Memscan__V1__Response **ret)
{
	int r = heat_ready(c);

	*ret = NULL;
	if (r == MEMSCAN_OK)
		r = client_call(c, req, expect, ret);
	if (r == MEMSCAN_ERR_UNKNOWN_OP)
		r = client_fail(
		    c, MEMSCAN_ERR_UNSUPPORTED_VERSION,
		    "agent at %s is too old for remote heatmaps (it does not know the operation): "
		    "upgrade memscan-agent there",
		    c->url);
	return r;
}

static int take_heat(memscan_client *c, const Memscan__V1__HeatReply *rep, const memscan_heat_options *o,
                     int pid, memscan_client_heat *ret)
{
	uint64_t cell = o && o->cell_size ? o->cell_size : 4096;
	/* the agent may lower the maximum (to its budget), never raise it: the caller sized what it keeps
	 * of the counts by what it asked for */
	uint64_t most = o && o->max_cells ? o->max_cells : MEMSCAN_HEAT_CELLS_DEFAULT;

	if (!rep || !rep->heat_id || rep->pid != pid || rep->cell_size != cell ||
	    rep->bins != (o ? o->bins : 0) || !rep->max_cells || rep->max_cells > most ||
	    rep->max_cells > CLIENT_HEAT_CELLS_MAX)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed heat reply");
	*ret = (memscan_client_heat){ .id = rep->heat_id,
		                      .pid = rep->pid,
		                      .start_time = rep->start_time,
		                      .baseline_bytes = rep->total_bytes,
		                      .cell_size = rep->cell_size,
		                      .bins = rep->bins,
		                      .max_cells = rep->max_cells };
	return MEMSCAN_OK;
}

int memscan_client_heat_start(memscan_client *c, int pid, const memscan_filter *filter,
                              const memscan_heat_options *options, memscan_client_heat *ret_heat)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatStart hs = MEMSCAN__V1__HEAT_START__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f = MEMSCAN__V1__FILTER__INIT;
	Memscan__V1__Response *resp = NULL;
	int r;

	if (ret_heat)
		memset(ret_heat, 0, sizeof(*ret_heat));
	if (!c || pid <= 0 || !ret_heat)
		return MEMSCAN_ERR_INVALID_ARG;
	t.pid = pid;
	client_filter(filter, 1, &f);
	hs.target = &t;
	hs.filter = &f;
	if (options) {
		hs.cell_size = options->cell_size;
		hs.bins = options->bins;
		hs.max_cells = options->max_cells;
	}
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_START;
	req.heat_start = &hs;
	client_lock(c);
	hs.progress_ms = client_progress_ms(c); /* the baseline read says how far it is */
	r = hcall(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HEAT, &resp);
	if (r == MEMSCAN_OK)
		r = take_heat(c, resp->heat, options, pid, ret_heat);
	client_unlock(c);
	wire_free_response(resp);
	return r;
}

static int take_stats(memscan_client *c, const Memscan__V1__HeatStats *st, memscan_client_heat_stats *ret)
{
	if (!st || st->cells > CLIENT_HEAT_CELLS_MAX || st->regions > CLIENT_HEAT_REGIONS_MAX ||
	    ((st->cells || st->regions) && !st->samples))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent malformed heat totals");
	*ret = (memscan_client_heat_stats){ st->samples, st->cells, st->regions, st->changed_bytes };
	return MEMSCAN_OK;
}

int memscan_client_heat_sample(memscan_client *c, uint64_t id, uint32_t bin,
                               memscan_client_heat_stats *ret_stats)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatSample hs = MEMSCAN__V1__HEAT_SAMPLE__INIT;
	Memscan__V1__Response *resp = NULL;
	memscan_client_heat_stats st;
	int r;

	if (ret_stats)
		memset(ret_stats, 0, sizeof(*ret_stats));
	if (!c || !id)
		return MEMSCAN_ERR_INVALID_ARG;
	hs.heat_id = id;
	hs.bin = bin;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_SAMPLE;
	req.heat_sample = &hs;
	client_lock(c);
	r = hcall(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HEAT_SAMPLE, &resp);
	if (r == MEMSCAN_OK)
		r = take_stats(c, resp->heat_sample, &st);
	client_unlock(c);
	wire_free_response(resp);
	if (r == MEMSCAN_OK && ret_stats)
		*ret_stats = st;
	return r;
}

/* The counts being received: what the first page said, and how far the pages got. */
struct heat_rx {
	memscan_heat_region_fn on_region;
	memscan_heat_cell_fn on_cell;
	void *ctx;
	memscan_client_heat heat; /* what the pages must agree with */
	memscan_client_heat_stats stats;
	uint64_t regions, cells; /* handed over so far */
	uint64_t last;           /* the last cell's address */
	uint64_t path_bytes;     /* of the regions' paths so far (CLIENT_REGION_PATHS_MAX, as a listing) */
	int started;
};

/* Checks a page's totals and layout against the first page's. */
static int check_page(memscan_client *c, struct heat_rx *rx, const Memscan__V1__HeatCellPage *pg)
{
	memscan_client_heat_stats st;
	int r = take_stats(c, pg->stats, &st);

	if (r != MEMSCAN_OK)
		return r;
	if (!rx->started) {
		rx->stats = st;
		rx->started = 1;
	}
	if (memcmp(&st, &rx->stats, sizeof(st)) || st.cells > rx->heat.max_cells ||
	    pg->cell_size != rx->heat.cell_size || pg->bins != rx->heat.bins ||
	    pg->first_region != rx->regions || pg->first_cell != rx->cells ||
	    pg->n_regions > rx->stats.regions - rx->regions || pg->n_cells > rx->stats.cells - rx->cells ||
	    (pg->n_cells && rx->regions + pg->n_regions != rx->stats.regions))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a page of counts out of order");
	return MEMSCAN_OK;
}

static int deliver_region(memscan_client *c, struct heat_rx *rx, const Memscan__V1__HeatRegion *it)
{
	memscan_heat_region hr = { 0 };

	if (!it || !it->region || wire_region_from_proto(it->region, &hr.region) != 0 || !it->changes ||
	    it->changes > rx->stats.samples || it->cells > rx->stats.cells || it->bytes < it->changes)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed region of counts");
	rx->path_bytes += strlen(hr.region.path);
	if (rx->path_bytes > CLIENT_REGION_PATHS_MAX)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "agent sent more than %llu bytes of region paths",
		                   (unsigned long long)CLIENT_REGION_PATHS_MAX);
	hr.changes = it->changes;
	hr.bytes = it->bytes;
	hr.cells = it->cells;
	rx->regions++;
	if (rx->on_region && rx->on_region(rx->ctx, &hr))
		return client_fail(c, MEMSCAN_ERR_STOPPED, "stopped by the callback");
	return MEMSCAN_OK;
}

static int deliver_cell(memscan_client *c, struct heat_rx *rx, const Memscan__V1__HeatCell *it)
{
	memscan_heat_cell cell = { 0 };
	int bad = !it || !it->changes || it->changes > rx->stats.samples || it->bytes < it->changes ||
	          it->address & (rx->heat.cell_size - 1) || (rx->cells && it->address <= rx->last) ||
	          it->region > rx->regions || it->n_bins != rx->heat.bins;

	for (size_t i = 0; !bad && i < it->n_bins; i++)
		bad = it->bins[i] > it->changes;
	if (bad)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed cell of counts");
	cell.address = it->address;
	cell.size = rx->heat.cell_size;
	cell.changes = it->changes;
	cell.bytes = it->bytes;
	cell.region = it->region ? it->region - 1 : SIZE_MAX;
	cell.bins = it->n_bins ? it->bins : NULL;
	rx->last = it->address;
	rx->cells++;
	if (rx->on_cell && rx->on_cell(rx->ctx, &cell))
		return client_fail(c, MEMSCAN_ERR_STOPPED, "stopped by the callback");
	return MEMSCAN_OK;
}

static int on_cells_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx,
                         uint64_t *ret_cursor)
{
	const Memscan__V1__HeatCellPage *pg = resp->heat_cells;
	struct heat_rx *rx = ctx;
	int r =
	    pg ? check_page(c, rx, pg) : client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent no page of counts");

	for (size_t i = 0; r == MEMSCAN_OK && i < pg->n_regions; i++)
		r = deliver_region(c, rx, pg->regions[i]);
	for (size_t i = 0; r == MEMSCAN_OK && i < pg->n_cells; i++)
		r = deliver_cell(c, rx, pg->cells[i]);
	if (r == MEMSCAN_OK && !pg->next_cursor &&
	    (rx->regions != rx->stats.regions || rx->cells != rx->stats.cells))
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent's counts ended early");
	*ret_cursor = pg ? pg->next_cursor : 0;
	return r;
}

int memscan_client_heat_cells(memscan_client *c, const memscan_client_heat *heat,
                              memscan_heat_region_fn on_region, memscan_heat_cell_fn on_cell, void *ctx,
                              memscan_client_heat_stats *ret_stats)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatCells hc = MEMSCAN__V1__HEAT_CELLS__INIT;
	struct heat_rx rx = { .on_region = on_region, .on_cell = on_cell, .ctx = ctx };
	int r;

	if (ret_stats)
		memset(ret_stats, 0, sizeof(*ret_stats));
	if (!c || !heat || !heat->id)
		return MEMSCAN_ERR_INVALID_ARG;
	rx.heat = *heat;
	hc.heat_id = heat->id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_CELLS;
	req.heat_cells = &hc;
	client_lock(c);
	r = heat_ready(c);
	if (r == MEMSCAN_OK)
		r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS,
		                 MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS, on_cells_page, &rx);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_stats)
		*ret_stats = rx.stats;
	return r;
}

int memscan_client_heat_release(memscan_client *c, uint64_t id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatRelease hr = MEMSCAN__V1__HEAT_RELEASE__INIT;
	Memscan__V1__Response *resp = NULL;
	int r;

	if (!c || !id)
		return MEMSCAN_ERR_INVALID_ARG;
	hr.heat_id = id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_RELEASE;
	req.heat_release = &hr;
	client_lock(c);
	r = hcall(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HEAT_RELEASE, &resp);
	client_unlock(c);
	wire_free_response(resp);
	return r;
}
