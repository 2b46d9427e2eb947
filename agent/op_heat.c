/* SPDX-License-Identifier: MIT */
/* Heatmaps counted on the agent: HeatStart keeps a baseline and empty counts for the session,
 * HeatSample compares the target with the baseline once and counts what changed, HeatRelease drops
 * the heat. The client times the samples; only counts ever leave the agent (op_heat_cells.c pages
 * them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Largest cell and highest cell maximum a heat takes (memscan_heat_new's limits). */
#define AGENT_HEAT_CELL_MAX      ((uint64_t)1 << 30)
#define AGENT_HEAT_CELLS_CEILING ((uint64_t)1 << 26)
/* What the counts cost, charged to the budgets: per cell its entry (40 bytes) and its bins, both
 * with room to grow (twice), its hash slots (at most 4 of 8 bytes) and its place in the address
 * order; per region its entry and (beyond these bytes) its path; and the first hash table. An
 * estimate from above. */
#define AGENT_HEAT_CELL_COST(bins) (2 * (40 + 4 * (uint64_t)(bins)) + 40)
#define AGENT_HEAT_REGION_COST     512u
#define AGENT_HEAT_FIXED           (16u << 10)
/* Changed bytes (old and new) a sample holds at once: the stream hands its runs over in parts of
 * about this size, each counted and freed before the next is read. */
#define AGENT_HEAT_PART_BYTES (4u << 20)

/* The bytes of the paths of H's regions, summed as regions are added (they only ever are). */
static uint64_t heat_path_bytes(agent_heat *h)
{
	size_t count = memscan_heat_region_count(h->heat);
	memscan_heat_region hr;

	for (; h->paths_summed < count; h->paths_summed++)
		if (memscan_heat_region_get(h->heat, h->paths_summed, &hr) == MEMSCAN_OK && hr.region.path)
			h->path_bytes += strlen(hr.region.path);
	return h->path_bytes;
}

static uint64_t heat_cost(agent_heat *h)
{
	return AGENT_HEAT_FIXED + memscan_heat_cell_count(h->heat) * AGENT_HEAT_CELL_COST(h->bins) +
	       memscan_heat_region_count(h->heat) * AGENT_HEAT_REGION_COST + heat_path_bytes(h);
}

/* What a region of REGIONS at INDEX costs once counted: its entry and its path. */
static uint64_t heat_region_cost(const memscan_region_list *regions, size_t index)
{
	const memscan_region *g =
	    index < memscan_region_list_count(regions) ? memscan_region_list_get(regions, index) : NULL;

	return AGENT_HEAT_REGION_COST + (g && g->path ? strlen(g->path) : 0);
}

/* Checks HeatStart's counting options, with what to do instead. */
static int heat_check_options(agent_req *r, const Memscan__V1__HeatStart *hs)
{
	if (hs->cell_size > AGENT_HEAT_CELL_MAX || (hs->cell_size & (hs->cell_size - 1)))
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG,
		                  "invalid cell size %llu: a power of two up to 1 GiB (e.g. 64, 4096)",
		                  (unsigned long long)hs->cell_size);
	if (hs->bins > MEMSCAN_HEAT_BINS_MAX)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "%u time bins asked for: at most %u", hs->bins,
		                  MEMSCAN_HEAT_BINS_MAX);
	if (hs->max_cells > AGENT_HEAT_CELLS_CEILING)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "max_cells %llu is above %llu",
		                  (unsigned long long)hs->max_cells,
		                  (unsigned long long)AGENT_HEAT_CELLS_CEILING);
	return MEMSCAN_OK;
}

/* A new heat with a copy of the filter F, not linked into R's session yet (heat_link) and without
 * its process (its baseline's read has it until then). */
static agent_heat *heat_new(agent_req *r, const memscan_filter *f)
{
	agent_heat *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->filter = *f;
	if (f->path_substr) {
		h->path_copy = strdup(f->path_substr);
		if (!h->path_copy) {
			free(h);
			return NULL;
		}
		h->filter.path_substr = h->path_copy;
	}
	do
		h->id = agent_random_id();
	while (agent_heat_find(r->s, h->id));
	return h;
}

/* H, its baseline read from PROC (taken over), becomes one of R's session's heats. */
static void heat_link(agent_req *r, agent_heat *h, memscan_process *proc)
{
	h->proc = proc;
	memscan_process_trim(h->proc); /* kept, it holds its pidfd only */
	h->next = r->s->heats;
	r->s->heats = h;
	r->s->heat_count++;
}

/* The cells H may count: what was asked for (0: the library's default), at most what the session's
 * budget has room for besides what it holds now; 0 after failing R with BUSY. */
static uint64_t heat_max_cells(agent_req *r, const agent_heat *h, uint64_t asked)
{
	uint64_t budget = r->ag->cfg.session_budget, used, room, fit;
	uint64_t cost = AGENT_HEAT_CELL_COST(h->bins), want = asked ? asked : MEMSCAN_HEAT_CELLS_DEFAULT;

	pthread_mutex_lock(&r->ag->budget_lock);
	used = r->s->budget_used;
	pthread_mutex_unlock(&r->ag->budget_lock);
	room = used < budget ? budget - used : 0;
	fit = room > AGENT_HEAT_FIXED ? (room - AGENT_HEAT_FIXED) / cost : 0;
	if (fit == 0) {
		agent_budget_msg(r->msg, sizeof(r->msg), AGENT_HEAT_FIXED + cost, used, budget,
		                 "this session's memory budget", "select fewer regions", "session_budget");
		r->err = MEMSCAN_ERR_BUSY;
		return 0;
	}
	return want < fit ? want : fit;
}

/* Charges H's baseline (BYTES) and its counts' first bytes, and sets its counting options as HS asks
 * (the read comes after: heat_start_run). */
static int heat_start_charge(agent_req *r, agent_heat *h, uint64_t bytes, const Memscan__V1__HeatStart *hs)
{
	if (agent_budget_reserve(r->ag, r->s, bytes, r->msg, sizeof(r->msg)) != 0) {
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	h->base_bytes = bytes;
	h->bins = hs->bins;
	h->max_cells = heat_max_cells(r, h, hs->max_cells);
	if (!h->max_cells)
		return r->err;
	if (agent_budget_reserve(r->ag, r->s, AGENT_HEAT_FIXED, r->msg, sizeof(r->msg)) != 0) {
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	h->heat_bytes = AGENT_HEAT_FIXED;
	h->cell_size = hs->cell_size;
	return MEMSCAN_OK;
}

/* A heat being started: its baseline read on a worker, or on its job's thread (job.c) when the client
 * asked for progress; linked into the session only once read. */
struct heat_start {
	agent_heat *h;
	memscan_region_list *regions;
};

static void heat_start_drop(agent *ag, agent_session *s, void *state)
{
	struct heat_start *st = state;

	agent_heat_free(ag, s, st->h); /* unlinked: frees it and gives its bytes back */
	memscan_region_list_free(st->regions);
	free(st);
}

/* Sets up the counts and reads the baseline. */
static int heat_start_run(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len)
{
	struct heat_start *st = state;
	agent_heat *h = st->h;
	memscan_heat_options ho = { .cell_size = h->cell_size, .bins = h->bins, .max_cells = h->max_cells };
	int err = memscan_heat_new(&ho, &h->heat);

	(void)j;
	if (err == MEMSCAN_OK)
		err = memscan_detector_new(&h->det);
	if (err == MEMSCAN_OK)
		err = memscan_detector_initialize(h->det, proc, st->regions);
	if (err != MEMSCAN_OK)
		snprintf(msg, msg_len, "baseline of process %d failed: %s", memscan_process_pid(proc),
		         memscan_strerror(err));
	return err;
}

static int heat_reply(agent_req *r, const agent_heat *h);

/* Keeps the heat read (PROC its process from now on) and answers with it. */
static int heat_start_finish(agent_req *r, memscan_process *proc, void *state, int err, const char *msg)
{
	struct heat_start *st = state;
	agent_heat *h = st->h;

	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		heat_start_drop(r->ag, r->s, st);
		return agent_fail(r, err, "%s", msg);
	}
	heat_link(r, h, proc);
	memscan_region_list_free(st->regions);
	free(st);
	r->bytes = memscan_snapshot_bytes(memscan_detector_baseline(h->det));
	err = heat_reply(r, h);
	if (err != MEMSCAN_OK)
		agent_heat_free(r->ag, r->s, h);
	return err;
}

static const agent_job_kind heat_start_job = { heat_start_run, heat_start_finish, heat_start_drop };

static int heat_reply(agent_req *r, const agent_heat *h)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatReply rep = MEMSCAN__V1__HEAT_REPLY__INIT;

	rep.heat_id = h->id;
	rep.pid = memscan_process_pid(h->proc);
	rep.start_time = memscan_process_start_time(h->proc);
	rep.total_bytes = memscan_snapshot_bytes(memscan_detector_baseline(h->det));
	rep.cell_size = memscan_heat_cell_size(h->heat);
	rep.bins = h->bins;
	rep.max_cells = h->max_cells;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT;
	resp.heat = &rep;
	return agent_pack(r, &resp);
}

int agent_op_heat_start(agent_req *r)
{
	const Memscan__V1__HeatStart *hs = r->req->heat_start;
	memscan_region_list *regions = NULL;
	memscan_process *proc = NULL;
	struct heat_start *st;
	agent_heat *h;
	memscan_filter f;
	int err;

	if (r->s->heat_count >= AGENT_MAX_HEATS)
		return agent_fail(r, MEMSCAN_ERR_LIMIT,
		                  "this session already keeps %zu heats, its most: release one",
		                  r->s->heat_count);
	err = heat_check_options(r, hs);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, hs->target, &proc);
	if (err != MEMSCAN_OK)
		return err;
	wire_filter_from_proto(hs->filter, &f);
	err = memscan_regions_read(proc, &f, &regions);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
		                  memscan_strerror(err));
	}
	h = heat_new(r, &f);
	st = h ? calloc(1, sizeof(*st)) : NULL;
	if (!st) {
		if (h)
			agent_heat_free(r->ag, r->s, h);
		memscan_process_free(proc);
		memscan_region_list_free(regions);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	st->h = h;
	st->regions = regions;
	err = heat_start_charge(r, h, memscan_region_list_bytes(regions), hs);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		heat_start_drop(r->ag, r->s, st);
		return err;
	}
	return agent_job_run(r, proc, h->base_bytes, hs->progress_ms, &heat_start_job, st);
}

/* What PART may add to H's counts at most, as heat_cost charges it: a cell for each cell its runs span
 * (one shared with the run before counted once), no more than H may still count, and its regions
 * (of REGIONS) with their paths. *RET_CELLS: those cells. */
static uint64_t heat_part_need(const agent_heat *h, const memscan_diff *part,
                               const memscan_region_list *regions_of, uint64_t *ret_cells)
{
	uint64_t size = memscan_heat_cell_size(h->heat), cells = 0, regions = 0, prev = UINT64_MAX;
	uint64_t held = memscan_heat_cell_count(h->heat),
	         left = h->max_cells > held ? h->max_cells - held : 0;
	size_t region = SIZE_MAX;

	for (size_t i = 0; i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);
		uint64_t first = run.address / size, last;

		if (!run.length)
			continue;
		last = (run.address + run.length - 1) / size;
		cells += last - first + (first != prev);
		prev = last;
		if (run.region_index != region)
			regions += heat_region_cost(regions_of, run.region_index);
		region = run.region_index;
	}
	*ret_cells = cells < left ? cells : left;
	return *ret_cells * AGENT_HEAT_CELL_COST(h->bins) + regions;
}

/* Reserves what PART may add to H's counts, or as much of it as the budgets hold (the reason in WHY),
 * and lowers H's maximum to the cells reserved for, so that the counts never outgrow the budgets
 * (a sample's new cells are allocated before they could be charged). Returns the bytes reserved. */
static uint64_t heat_part_reserve(agent_req *r, agent_heat *h, const memscan_diff *part,
                                  const memscan_region_list *regions_of, char *why, size_t why_len)
{
	uint64_t cells, need = heat_part_need(h, part, regions_of, &cells),
	                cost = AGENT_HEAT_CELL_COST(h->bins);
	uint64_t regions = need - cells * cost, room, count = memscan_heat_cell_count(h->heat);

	if (need && agent_budget_reserve(r->ag, r->s, need, why, why_len) != 0) {
		room = agent_budget_room(r->ag, r->s);
		cells = room > regions ? (room - regions) / cost : 0;
		need = cells ? regions + cells * cost : 0;
		if (need && agent_budget_reserve(r->ag, r->s, need, why, why_len) != 0)
			cells = need = 0; /* another session took the room meanwhile */
	}
	if (memscan_heat_set_max_cells(h->heat, count + cells) != MEMSCAN_OK) {
		agent_budget_release(r->ag, r->s, need); /* not reached: COUNT + CELLS is within range */
		need = 0;
	}
	return need;
}

/* After a part: H's counts are charged what they cost now, out of the RESERVED bytes; the rest of
 * them goes back (a part's regions may still cost more: heat_charge settles that). */
static void heat_part_settle(agent_req *r, agent_heat *h, uint64_t reserved)
{
	uint64_t cost = heat_cost(h), charged = h->heat_bytes + reserved;

	if (cost < charged) {
		agent_budget_release(r->ag, r->s, charged - cost);
		charged = cost;
	}
	h->heat_bytes = charged;
}

/* Counts the parts of stream ST (regions REGIONS) into H as one sample in BIN, each part within what
 * the budgets hold (WHY: the reason when they hold less). On a failure the rest is still read into the
 * baseline, so that it is one whole read. */
static int heat_count_parts(agent_req *r, agent_heat *h, memscan_diff_stream *st,
                            const memscan_region_list *regions, uint32_t bin, char *why, size_t why_len)
{
	int done = 0, first = 1, err = MEMSCAN_OK;

	while (err == MEMSCAN_OK && !done) {
		memscan_diff *part = NULL;
		uint64_t reserved;

		err = memscan_diff_stream_next(st, AGENT_HEAT_PART_BYTES, &part, &done);
		if (err == MEMSCAN_OK) {
			reserved = heat_part_reserve(r, h, part, regions, why, why_len);
			err = (first ? memscan_heat_add : memscan_heat_add_more)(h->heat, part, regions, bin);
			heat_part_settle(r, h, reserved);
		}
		first = 0;
		memscan_diff_free(part);
	}
	if (err != MEMSCAN_OK && !memscan_diff_stream_done(st) &&
	    memscan_diff_stream_finish(st) != MEMSCAN_OK)
		h->ended = 1; /* the stream ended early: the process is gone */
	return err;
}

/* Charges what H's counts grew by beyond what was reserved for them; a heat the budgets cannot hold
 * any more is released. */
static int heat_charge(agent_req *r, agent_heat *h)
{
	uint64_t cost = heat_cost(h), id = h->id;
	char why[200];

	if (cost <= h->heat_bytes)
		return MEMSCAN_OK;
	if (agent_budget_reserve(r->ag, r->s, cost - h->heat_bytes, why, sizeof(why)) == 0) {
		h->heat_bytes = cost;
		return MEMSCAN_OK;
	}
	agent_heat_free(r->ag, r->s, h);
	return agent_fail(r, MEMSCAN_ERR_BUSY, "heat %llu released: its counts grew: %s",
	                  (unsigned long long)id, why);
}

/* Fails R for ERR, the result of counting a sample of H (WHY: why the budgets held fewer cells). */
static int heat_sample_err(agent_req *r, const agent_heat *h, int err, const char *why)
{
	if (err == MEMSCAN_ERR_LIMIT && memscan_heat_cell_count(h->heat) < h->max_cells)
		return agent_fail(r, MEMSCAN_ERR_BUSY, "more cells changed than the budget holds: %s", why);
	if (err == MEMSCAN_ERR_LIMIT)
		return agent_fail(
		    r, err,
		    "more than %llu cells changed (the most this heat counts): use larger cells "
		    "or select fewer regions",
		    (unsigned long long)h->max_cells);
	return agent_fail(r, err, "sample of process %d failed: %s", r->pid, memscan_strerror(err));
}

/* One sample of H in BIN over REGIONS: the regions the baseline does not hold exactly get buffers of
 * their own for the time of the sample, charged to the budgets; the baseline then takes them. What
 * was counted is charged whatever the result (a heat the budgets cannot hold is released). */
static int heat_sample(agent_req *r, agent_heat *h, const memscan_region_list *regions, uint32_t bin)
{
	memscan_diff_stream *st = NULL;
	uint64_t fresh, held;
	char why[200] = "";
	int err = memscan_detector_stream(h->det, h->proc, regions, MEMSCAN_STREAM_UPDATE, &st);

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "sample of process %d failed: %s", r->pid, memscan_strerror(err));
	fresh = memscan_diff_stream_new_bytes(st);
	if (fresh && agent_budget_reserve(r->ag, r->s, fresh, r->msg, sizeof(r->msg)) != 0) {
		memscan_diff_stream_free(st);
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	err = heat_count_parts(r, h, st, regions, bin, why, sizeof(why));
	memscan_diff_stream_free(st);
	held = memscan_snapshot_bytes(memscan_detector_baseline(h->det));
	if (h->base_bytes + fresh > held)
		agent_budget_release(r->ag, r->s, h->base_bytes + fresh - held);
	h->base_bytes = held;
	if (err == MEMSCAN_ERR_PROCESS_GONE)
		h->ended = 1;
	if (heat_charge(r, h) != MEMSCAN_OK)
		return r->err; /* H is gone */
	return err == MEMSCAN_OK ? MEMSCAN_OK : heat_sample_err(r, h, err, why);
}

static int heat_stats_reply(agent_req *r, agent_heat *h)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatStats st = MEMSCAN__V1__HEAT_STATS__INIT;

	st.samples = memscan_heat_samples(h->heat);
	st.cells = memscan_heat_cell_count(h->heat);
	st.regions = memscan_heat_region_count(h->heat);
	st.changed_bytes = memscan_heat_changed_bytes(h->heat);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_SAMPLE;
	resp.heat_sample = &st;
	return agent_pack(r, &resp);
}

/* H of R's session, for a request naming ID: NULL after failing R with NOT_FOUND. */
static agent_heat *heat_of(agent_req *r, uint64_t id)
{
	agent_heat *h = agent_heat_find(r->s, id);

	if (!h) {
		agent_fail(r, MEMSCAN_ERR_NOT_FOUND,
		           "no heat %llu in this session (a heat ends with its session)",
		           (unsigned long long)id);
		return NULL;
	}
	r->pid = memscan_process_pid(h->proc);
	return h;
}

int agent_op_heat_sample(agent_req *r)
{
	const Memscan__V1__HeatSample *hs = r->req->heat_sample;
	agent_heat *h = heat_of(r, hs->heat_id);
	memscan_region_list *regions = NULL;
	int err;

	if (!h)
		return r->err;
	if (h->bins ? hs->bin >= h->bins : hs->bin != 0)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "time bin %u out of range: heat %llu keeps %u",
		                  hs->bin, (unsigned long long)h->id, h->bins);
	if (h->ended)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE,
		                  "process %d exited: heat %llu keeps the counts of its %llu samples", r->pid,
		                  (unsigned long long)h->id,
		                  (unsigned long long)memscan_heat_samples(h->heat));
	err = agent_heat_recheck(r, h);
	if (err != MEMSCAN_OK)
		return err;
	err = memscan_regions_read(h->proc, &h->filter, &regions);
	if (err != MEMSCAN_OK) {
		h->ended = err == MEMSCAN_ERR_PROCESS_GONE;
		return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
		                  memscan_strerror(err));
	}
	r->bytes = memscan_region_list_bytes(regions);
	err = heat_sample(r, h, regions, hs->bin);
	memscan_region_list_free(regions);
	/* what was just read was of a process the key may still read */
	if (err == MEMSCAN_OK)
		err = agent_heat_recheck(r, h);
	if (err != MEMSCAN_OK)
		return err;
	memscan_process_trim(h->proc);
	return heat_stats_reply(r, h);
}

int agent_op_heat_release(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatReleaseReply rel = MEMSCAN__V1__HEAT_RELEASE_REPLY__INIT;
	agent_heat *h = heat_of(r, r->req->heat_release->heat_id);

	if (!h)
		return r->err;
	agent_heat_free(r->ag, r->s, h);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_RELEASE;
	resp.heat_release = &rel;
	return agent_pack(r, &resp);
}
