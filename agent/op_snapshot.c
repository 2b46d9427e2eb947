/* SPDX-License-Identifier: MIT */
/* Snapshot (the agent keeps it: its baseline read now, its region table paged) and Release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static size_t agent_fill_snap_region(agent_pending *p, size_t index, void *item)
{
	memscan_snapshot_region sr = memscan_snapshot_get(memscan_detector_baseline(p->snap->det), index);

	wire_region_to_proto(&sr.region, item);
	return memscan__v1__region__get_packed_size(item);
}

static int agent_emit_snapshot(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__SnapshotReply rep = MEMSCAN__V1__SNAPSHOT_REPLY__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	agent_pending *p = &r->s->pending;
	const memscan_snapshot *base = memscan_detector_baseline(p->snap->det);

	rep.snapshot_id = p->snap->id;
	rep.total_bytes = memscan_snapshot_bytes(base);
	rep.time_ns = memscan_snapshot_time_ns(base);
	rep.start_time = memscan_process_start_time(p->snap->proc);
	page.start_time = rep.start_time;
	rep.regions = &page;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT;
	resp.snapshot = &rep;
	return agent_items_page(r, memscan_snapshot_region_count(base), sizeof(Memscan__V1__Region),
	                        agent_fill_snap_region, &resp, &page.n_regions, (void ***)&page.regions,
	                        &page.next_cursor);
}

/* The snapshot stays kept when its reply ends: nothing to release. */
static const agent_page_ops agent_snapshot_ops = { agent_emit_snapshot, NULL };

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

/* A snapshot being taken: its baseline read on a worker, or on its job's thread (job.c) when the
 * client asked for progress; linked into the session only once read. */
struct agent_take {
	agent_snap *snap; /* not linked yet; its proc is the job's meanwhile */
	memscan_region_list *regions;
};

static void agent_take_drop(agent *ag, agent_session *s, void *state)
{
	struct agent_take *t = state;

	agent_snap_free(ag, s, t->snap); /* unlinked: frees it and gives its bytes back */
	memscan_region_list_free(t->regions);
	free(t);
}

/* Reads the baseline (on a worker, or on the job's thread). */
static int agent_take_run(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len)
{
	struct agent_take *t = state;
	int err = memscan_detector_new(&t->snap->det);

	(void)j;
	if (err == MEMSCAN_OK)
		err = memscan_detector_initialize(t->snap->det, proc, t->regions);
	if (err != MEMSCAN_OK)
		snprintf(msg, msg_len, "snapshot of process %d failed: %s", memscan_process_pid(proc),
		         memscan_strerror(err));
	return err;
}

/* Keeps the snapshot read (PROC its process from now on) and answers with its first page. */
static int agent_take_finish(agent_req *r, memscan_process *proc, void *state, int err, const char *msg)
{
	struct agent_take *t = state;
	agent_snap *snap = t->snap;

	snap->proc = proc;
	if (err != MEMSCAN_OK) {
		agent_take_drop(r->ag, r->s, t);
		return agent_fail(r, err, "%s", msg);
	}
	/* kept, the handle holds its pidfd only: what the read opened (maps, pagemap) goes until the
	 * next diff needs it again, so kept snapshots cost one descriptor each */
	memscan_process_trim(snap->proc);
	snap->next = r->s->snaps;
	r->s->snaps = snap;
	r->s->snap_count++;
	memscan_region_list_free(t->regions);
	free(t);
	r->bytes = memscan_snapshot_bytes(memscan_detector_baseline(snap->det));
	agent_pending_start(r, &agent_snapshot_ops);
	r->s->pending.snap = snap;
	r->s->pending.target = snap->proc;
	return agent_page_emit(r);
}

static const agent_job_kind agent_take_job = { agent_take_run, agent_take_finish, agent_take_drop };

/* The snapshot's bytes charged, and what taking it needs, into *RET (PROC stays the caller's). */
static int agent_take_new(agent_req *r, memscan_process *proc, const memscan_filter *f,
                          struct agent_take **ret)
{
	struct agent_take *t = calloc(1, sizeof(*t));
	uint64_t bytes;
	int err;

	*ret = NULL;
	if (!t || !(t->snap = agent_snap_new(r->s, NULL, f))) {
		free(t);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	err = memscan_regions_read(proc, f, &t->regions);
	if (err != MEMSCAN_OK) {
		agent_take_drop(r->ag, r->s, t);
		return agent_fail(r, err, "cannot list the regions of process %d: %s", r->pid,
		                  memscan_strerror(err));
	}
	bytes = memscan_region_list_bytes(t->regions);
	if (agent_budget_reserve(r->ag, r->s, bytes, r->msg, sizeof(r->msg)) != 0) {
		agent_take_drop(r->ag, r->s, t);
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	t->snap->base_bytes = bytes;
	*ret = t;
	return MEMSCAN_OK;
}

int agent_op_snapshot(agent_req *r)
{
	const Memscan__V1__Snapshot *sn = r->req->snapshot;
	memscan_process *proc = NULL;
	struct agent_take *t = NULL;
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
	err = agent_take_new(r, proc, &f, &t);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return err;
	}
	return agent_job_run(r, proc, t->snap->base_bytes, sn->progress_ms, &agent_take_job, t);
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
