/* SPDX-License-Identifier: MIT */
/* Snapshots kept on the agent: Snapshot, Diff (against the kept baseline), Release; budgets. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

agent_snap *agent_snap_find(agent_session *s, uint64_t id)
{
	agent_snap *snap;

	for (snap = s->snaps; snap && id; snap = snap->next)
		if (snap->id == id)
			return snap;
	return NULL;
}

/* Unlinks SNAP from S, frees it and gives its bytes back to the budgets. */
void agent_snap_free(agent *ag, agent_session *s, agent_snap *snap)
{
	agent_snap **pp;

	for (pp = &s->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == snap) {
			*pp = snap->next;
			s->snap_count--;
			break;
		}
	}
	agent_budget_release(ag, s, snap->base_bytes + snap->cur_bytes);
	memscan_detector_free(snap->det);
	memscan_process_free(snap->proc);
	free(snap->path_copy);
	free(snap);
}

void agent_snaps_free_all(agent *ag, agent_session *s)
{
	while (s->snaps)
		agent_snap_free(ag, s, s->snaps);
}

/* A new kept snapshot of PROC (taken over) with a copy of the filter F. */
static agent_snap *agent_snap_new(agent_session *s, memscan_process *proc, const memscan_filter *f)
{
	agent_snap *snap = calloc(1, sizeof(*snap));

	if (!snap)
		return NULL;
	snap->filter = *f;
	if (f->path_substr) {
		snap->path_copy = strdup(f->path_substr);
		if (!snap->path_copy) {
			free(snap);
			return NULL;
		}
		snap->filter.path_substr = snap->path_copy;
	}
	do
		snap->id = agent_random_id();
	while (agent_snap_find(s, snap->id));
	snap->proc = proc;
	return snap;
}

/* Reads the baseline of SNAP (regions REGIONS), charging BYTES first. */
static int agent_snap_take(agent_req *r, agent_snap *snap, const memscan_region_list *regions, uint64_t bytes)
{
	int err;

	if (agent_budget_reserve(r->ag, r->s, bytes, r->msg, sizeof(r->msg)) != 0) {
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	snap->base_bytes = bytes;
	err = memscan_detector_new(&snap->det);
	if (err == MEMSCAN_OK)
		err = memscan_detector_initialize(snap->det, snap->proc, regions);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "snapshot of process %d failed: %s",
		                  memscan_process_pid(snap->proc), memscan_strerror(err));
	return MEMSCAN_OK;
}

int agent_op_snapshot(agent_req *r)
{
	const Memscan__V1__Snapshot *sn = r->req->snapshot;
	memscan_region_list *regions = NULL;
	memscan_process *proc = NULL;
	agent_snap *snap = NULL;
	memscan_filter f;
	int err;

	if (r->s->snap_count >= AGENT_MAX_SNAPSHOTS)
		return agent_fail(r, MEMSCAN_ERR_LIMIT,
		                  "this session already keeps %u snapshots: release some",
		                  AGENT_MAX_SNAPSHOTS);
	err = agent_open_target(r, sn->target, &proc);
	if (err != MEMSCAN_OK)
		return err;
	wire_filter_from_proto(sn->filter, &f);
	err = memscan_regions_read(proc, &f, &regions);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
		                  memscan_strerror(err));
	}
	snap = agent_snap_new(r->s, proc, &f);
	if (!snap) {
		memscan_process_free(proc);
		err = agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		goto out;
	}
	/* linked first, so that agent_snap_free undoes whatever part succeeded */
	snap->next = r->s->snaps;
	r->s->snaps = snap;
	r->s->snap_count++;
	err = agent_snap_take(r, snap, regions, memscan_region_list_bytes(regions));
	if (err != MEMSCAN_OK) {
		agent_snap_free(r->ag, r->s, snap);
		goto out;
	}
	r->bytes = memscan_snapshot_bytes(memscan_detector_baseline(snap->det));
	r->s->pending.kind = AGENT_PAGE_SNAPSHOT;
	r->s->pending.snap = snap;
	err = agent_page_emit(r);
out:
	memscan_region_list_free(regions);
	return err;
}

/* Charges what the detector's next read may hold beyond what it holds now. */
static int agent_diff_charge(agent_req *r, agent_snap *snap, uint64_t need)
{
	if (need <= snap->cur_bytes)
		return MEMSCAN_OK;
	if (agent_budget_reserve(r->ag, r->s, need - snap->cur_bytes, r->msg, sizeof(r->msg)) != 0) {
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	snap->cur_bytes = need;
	return MEMSCAN_OK;
}

/* True if REGIONS are the regions SNAP's baseline holds (same ranges, same order). */
static int agent_same_layout(const agent_snap *snap, const memscan_region_list *regions)
{
	const memscan_snapshot *base = memscan_detector_baseline(snap->det);
	size_t n = memscan_snapshot_region_count(base);

	if (n != memscan_region_list_count(regions))
		return 0;
	for (size_t i = 0; i < n; i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(base, i);
		const memscan_region *g = memscan_region_list_get(regions, i);
		if (sr.region.start != g->start || sr.region.end != g->end)
			return 0;
	}
	return 1;
}

/* A diff whose regions may have changed: read whole (the detector holds a second copy, charged to the
 * budgets), diffed, then paged. */
static int agent_diff_whole(agent_req *r, agent_snap *snap, const memscan_region_list *regions)
{
	uint64_t held;
	int err = agent_diff_charge(r, snap, memscan_region_list_bytes(regions));

	if (err == MEMSCAN_OK)
		err = memscan_detector_detect_changes(snap->det, snap->proc, regions, &r->s->pending.diff);
	if (err != MEMSCAN_OK && !r->err)
		agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	if (err == MEMSCAN_OK && r->req->diff->update && memscan_detector_accept(snap->det) == MEMSCAN_OK) {
		/* the buffers swap roles: the read becomes the baseline */
		held = snap->base_bytes;
		snap->base_bytes = snap->cur_bytes;
		snap->cur_bytes = held;
	}
	if (err == MEMSCAN_OK)
		r->bytes = memscan_diff_changed_bytes(r->s->pending.diff);
	return err;
}

/* The regions did not change (always, without refilter): streamed, read and compared page by page,
 * with update written into the baseline as it goes. The agent holds no second copy of the target. */
static int agent_diff_stream(agent_req *r, agent_snap *snap)
{
	unsigned flags = r->req->diff->update ? MEMSCAN_STREAM_UPDATE : 0;
	int err = memscan_detector_stream(snap->det, snap->proc, flags, &r->s->pending.stream);

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	/* the stream freed the detector's second buffer, if an earlier whole diff had left one */
	agent_budget_release(r->ag, r->s, snap->cur_bytes);
	snap->cur_bytes = 0;
	return MEMSCAN_OK;
}

int agent_op_diff(agent_req *r)
{
	const Memscan__V1__Diff *d = r->req->diff;
	agent_snap *snap = agent_snap_find(r->s, d->snapshot_id);
	memscan_region_list *regions = NULL;
	int err;

	if (!snap)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no snapshot %llu in this session",
		                  (unsigned long long)d->snapshot_id);
	r->pid = memscan_process_pid(snap->proc);
	if (memscan_process_check_alive(snap->proc) != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d of snapshot %llu exited", r->pid,
		                  (unsigned long long)d->snapshot_id);
	if (d->refilter) {
		err = memscan_regions_read(snap->proc, &snap->filter, &regions);
		if (err != MEMSCAN_OK)
			return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
			                  memscan_strerror(err));
	}
	r->s->pending.kind = AGENT_PAGE_DIFF;
	if (regions && !agent_same_layout(snap, regions))
		err = agent_diff_whole(r, snap, regions);
	else
		err = agent_diff_stream(r, snap);
	memscan_region_list_free(regions);
	if (err != MEMSCAN_OK) {
		agent_pending_clear(&r->s->pending);
		return err;
	}
	return agent_page_emit(r);
}

int agent_op_release(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReleaseReply rel = MEMSCAN__V1__RELEASE_REPLY__INIT;
	agent_snap *snap = agent_snap_find(r->s, r->req->release->snapshot_id);

	if (!snap)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no snapshot %llu in this session",
		                  (unsigned long long)r->req->release->snapshot_id);
	r->pid = memscan_process_pid(snap->proc);
	r->bytes = snap->base_bytes + snap->cur_bytes;
	agent_snap_free(r->ag, r->s, snap);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_RELEASE;
	resp.release = &rel;
	return agent_pack(r, &resp);
}
