/* SPDX-License-Identifier: MIT */
/* Snapshots kept on the agent: Snapshot, Diff (against the kept baseline), Release; budgets. */
#include <stdio.h>
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

int agent_snap_check(agent_req *r, agent_snap *snap)
{
	uint64_t id = snap->id;
	size_t len;
	int err = agent_target_recheck(r, snap->proc);

	if (err == MEMSCAN_OK)
		return MEMSCAN_OK;
	if (r->s->pending.snap == snap)
		agent_pending_abandon(&r->s->pending);
	agent_snap_free(r->ag, r->s, snap);
	len = strlen(r->msg);
	snprintf(r->msg + len, sizeof(r->msg) - len, " (snapshot %llu released)", (unsigned long long)id);
	return err;
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
	/* kept, the handle holds its pidfd only: what the read opened (maps, pagemap) goes until the
	 * next diff needs it again, so kept snapshots cost one descriptor each */
	memscan_process_trim(snap->proc);
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

	if (r->s->snap_count >= r->ag->cfg.max_snapshots)
		return agent_fail(r, MEMSCAN_ERR_LIMIT,
		                  "this session already keeps %zu snapshots, its most (max_snapshots): "
		                  "release some",
		                  r->s->snap_count);
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

/* Streams the diff page by page: the regions are read and compared against the baseline a unit at a
 * time, and with update written into it as they go. The agent holds no second copy of the target;
 * only regions the baseline does not hold exactly (after a refilter) get buffers of their own, charged
 * to the budgets until the diff ends (agent_diff_settle). */
static int agent_diff_stream(agent_req *r, agent_snap *snap, const memscan_region_list *regions)
{
	agent_pending *p = &r->s->pending;
	unsigned flags = r->req->diff->update ? MEMSCAN_STREAM_UPDATE : 0;
	int err = memscan_detector_stream(snap->det, snap->proc, regions, flags, &p->stream);
	uint64_t fresh;

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	/* the stream freed the detector's second buffer, if an earlier diff had left one */
	agent_budget_release(r->ag, r->s, snap->cur_bytes);
	snap->cur_bytes = 0;
	fresh = memscan_diff_stream_new_bytes(p->stream);
	if (fresh && agent_budget_reserve(r->ag, r->s, fresh, r->msg, sizeof(r->msg)) != 0) {
		memscan_diff_stream_free(p->stream);
		p->stream = NULL;
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	snap->cur_bytes = fresh;
	p->ag = r->ag;
	p->owner = r->s;
	p->snap = snap;
	return MEMSCAN_OK;
}

void agent_diff_settle(agent *ag, agent_session *s, agent_snap *snap)
{
	uint64_t held = memscan_snapshot_bytes(memscan_detector_baseline(snap->det));
	uint64_t charged = snap->base_bytes + snap->cur_bytes;

	if (charged > held)
		agent_budget_release(ag, s, charged - held);
	snap->base_bytes = held;
	snap->cur_bytes = 0;
	memscan_process_trim(snap->proc);
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
	err = agent_snap_check(r, snap);
	if (err != MEMSCAN_OK)
		return err;
	if (d->refilter) {
		err = memscan_regions_read(snap->proc, &snap->filter, &regions);
		if (err != MEMSCAN_OK)
			return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
			                  memscan_strerror(err));
	}
	r->s->pending.kind = AGENT_PAGE_DIFF;
	r->s->pending.zstd = d->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	err = agent_diff_stream(r, snap, regions);
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
