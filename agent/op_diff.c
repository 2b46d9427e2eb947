/* SPDX-License-Identifier: MIT */
/* Diff against a kept snapshot: streamed page by page (read, compared and with update written into the
 * baseline as it goes), the changed runs paged. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Framing of one change run besides its bytes. */
#define AGENT_RUN_OVERHEAD 48
/* Below this much room a long run is not split on this page but starts the next one. */
#define AGENT_SPLIT_MIN 4096

/* Adds change runs (or pieces of one) of p->u.diff.part from the pending position while *ROOM allows, after
 * the N0 items already on the page; returns the items added. */
static size_t agent_fill_runs(agent_pending *p, size_t *room, Memscan__V1__ChangeRun *items,
                              Memscan__V1__ChangeRun **ptrs, size_t n0, size_t max)
{
	size_t total = memscan_diff_run_count(p->u.diff.part), n = n0;

	while (p->index < total && n < max) {
		memscan_change_run run = memscan_diff_run(p->u.diff.part, p->index);
		uint64_t left = run.length - p->u.diff.offset, piece = left;

		if (2 * left + AGENT_RUN_OVERHEAD > *room) {
			if (n && *room < AGENT_SPLIT_MIN)
				break;
			piece = (*room - AGENT_RUN_OVERHEAD) / 2;
		}
		memscan__v1__change_run__init(&items[n]);
		items[n].address = run.address + p->u.diff.offset;
		items[n].old_bytes.data = (uint8_t *)run.old_bytes + p->u.diff.offset;
		items[n].old_bytes.len = piece;
		items[n].new_bytes.data = (uint8_t *)run.new_bytes + p->u.diff.offset;
		items[n].new_bytes.len = piece;
		items[n].region_index = (uint32_t)run.region_index;
		ptrs[n] = &items[n];
		n++;
		*room -= 2 * piece + AGENT_RUN_OVERHEAD;
		p->u.diff.offset += piece;
		if (p->u.diff.offset == run.length) {
			p->index++;
			p->u.diff.offset = 0;
		}
		if (piece < left)
			break; /* split at the page boundary */
	}
	return n - n0;
}

/* Parts of a streamed diff one page may draw from (the page points into each until it is packed). */
#define AGENT_PAGE_PARTS 8
/* A diff whose pages are bounded in time (progress_ms) reads at most this much per part, so that a
 * part over unchanged memory comes back in a few tens of milliseconds. */
#define AGENT_DIFF_READ_STEP ((size_t)64 << 20)

/* Replaces the exhausted current part with the stream's next one, found with about ROOM bytes; the
 * old part goes to KEPT (freed once the page is packed). */
static int agent_next_part(agent_req *r, size_t room, memscan_diff **kept, size_t *kept_n)
{
	agent_pending *p = &r->s->pending;
	size_t n = memscan_diff_run_count(p->u.diff.part);
	memscan_change_run last = memscan_diff_run(p->u.diff.part, n ? n - 1 : 0), first;
	int done, err;

	kept[(*kept_n)++] = p->u.diff.part;
	p->u.diff.part = NULL;
	p->index = 0;
	p->u.diff.offset = 0;
	err = memscan_diff_stream_next_within(p->u.diff.stream, room,
	                                      p->u.diff.progress_ms ? AGENT_DIFF_READ_STEP : SIZE_MAX,
	                                      &p->u.diff.part, &done);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	n = memscan_diff_run_count(p->u.diff.part);
	first = memscan_diff_run(p->u.diff.part, 0);
	/* a run the previous part ended with and this one continues counts once, as the client joins it */
	p->u.diff.runs += n;
	if (n && last.length && last.region_index == first.region_index &&
	    last.address + last.length == first.address)
		p->u.diff.runs--;
	return MEMSCAN_OK;
}

/* The runs of one diff page: from the whole diff, or drawn from the stream's parts as they come, until
 * the page is full, the stream ends, or (progress_ms) the page's time, from START_MS, is up. */
static int agent_diff_runs(agent_req *r, size_t room, Memscan__V1__ChangeRun *items,
                           Memscan__V1__ChangeRun **ptrs, size_t max, memscan_diff **kept, size_t *kept_n,
                           uint64_t start_ms, size_t *ret_n)
{
	agent_pending *p = &r->s->pending;
	size_t n = 0;
	int err = MEMSCAN_OK;

	for (;;) {
		n += agent_fill_runs(p, &room, items, ptrs, n, max);
		if (n == max || room < AGENT_SPLIT_MIN || *kept_n == AGENT_PAGE_PARTS ||
		    p->index < memscan_diff_run_count(p->u.diff.part) ||
		    memscan_diff_stream_done(p->u.diff.stream) ||
		    (p->u.diff.progress_ms &&
		     chan_monotonic_ns() / 1000000u - start_ms >= p->u.diff.progress_ms))
			break;
		err = agent_next_part(r, room, kept, kept_n);
		if (err != MEMSCAN_OK)
			break;
	}
	*ret_n = n;
	return err;
}

static int agent_diff_more(const agent_pending *p)
{
	return p->index < memscan_diff_run_count(p->u.diff.part) ||
	       !memscan_diff_stream_done(p->u.diff.stream);
}

static int agent_emit_diff(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__DiffPage page = MEMSCAN__V1__DIFF_PAGE__INIT;
	agent_pending *p = &r->s->pending;
	Memscan__V1__Range *aitems = NULL, **aptrs = NULL, *vitems = NULL, **vptrs = NULL;
	Memscan__V1__ChangeRun *items = NULL, **ptrs = NULL;
	memscan_diff *kept[AGENT_PAGE_PARTS];
	size_t room = WIRE_MAX_PAGE_BYTES, ranges_cost, kept_n = 0,
	       before = memscan_diff_stream_changed_bytes(p->u.diff.stream);
	uint64_t start_ms = chan_monotonic_ns() / 1000000u;
	/* each run costs at least its framing and two bytes, so the page's room bounds its runs */
	size_t max = room / (AGENT_RUN_OVERHEAD + 2) + 1;
	int err = MEMSCAN_ERR_NO_MEMORY;

	if (max > AGENT_PAGE_MAX_ITEMS)
		max = AGENT_PAGE_MAX_ITEMS;
	/* a stream's first part carries the ranges that appeared or vanished: the first page sends them */
	if (!p->u.diff.part && !p->u.diff.ranges_sent &&
	    agent_next_part(r, room, kept, &kept_n) != MEMSCAN_OK)
		goto out;
	if (!p->u.diff.ranges_sent) {
		if (agent_ranges_to_proto(memscan_diff_appeared(p->u.diff.part), 0, UINT64_MAX, &aitems,
		                          &aptrs, &page.n_appeared) ||
		    agent_ranges_to_proto(memscan_diff_vanished(p->u.diff.part), 0, UINT64_MAX, &vitems,
		                          &vptrs, &page.n_vanished))
			goto out;
		page.appeared = aptrs;
		page.vanished = vptrs;
		ranges_cost = 24 * (page.n_appeared + page.n_vanished);
		room -= ranges_cost < room / 2 ? ranges_cost : room / 2;
		p->u.diff.ranges_sent = 1;
	}
	items = calloc(max, sizeof(*items));
	ptrs = calloc(max, sizeof(*ptrs));
	if (!items || !ptrs)
		goto out;
	err = agent_diff_runs(r, room, items, ptrs, max, kept, &kept_n, start_ms, &page.n_runs);
	if (err == MEMSCAN_OK)
		err = agent_page_check(r); /* the runs are of a process the key may still read */
	if (err != MEMSCAN_OK)
		goto out;
	page.runs = ptrs;
	agent_compress_runs(r, &page);
	page.changed_bytes = memscan_diff_stream_changed_bytes(p->u.diff.stream);
	page.run_count = p->u.diff.runs;
	if (p->u.diff.progress_ms)
		page.compared_bytes = memscan_diff_stream_compared_bytes(p->u.diff.stream, &page.total_bytes);
	r->bytes = page.changed_bytes - before;
	page.next_cursor = agent_page_cursor(p, agent_diff_more(p));
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &page;
	err = agent_page_finish(r, &resp);
out:
	agent_compress_release(r);
	if (err != MEMSCAN_OK && !r->out) {
		agent_pending_clear(p);
		if (!r->err)
			agent_fail(r, err, "out of memory building a diff page");
	}
	while (kept_n)
		memscan_diff_free(kept[--kept_n]);
	free(aitems);
	free(aptrs);
	free(vitems);
	free(vptrs);
	free(items);
	free(ptrs);
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
	int err = memscan_detector_stream(snap->det, snap->proc, regions, flags, &p->u.diff.stream);
	uint64_t fresh;

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	/* the stream freed the detector's second buffer, if an earlier diff had left one */
	agent_budget_release(r->ag, r->s, snap->cur_bytes);
	snap->cur_bytes = 0;
	fresh = memscan_diff_stream_new_bytes(p->u.diff.stream);
	if (fresh && agent_budget_reserve(r->ag, r->s, fresh, r->msg, sizeof(r->msg)) != 0) {
		memscan_diff_stream_free(p->u.diff.stream);
		p->u.diff.stream = NULL;
		r->err = MEMSCAN_ERR_BUSY;
		return MEMSCAN_ERR_BUSY;
	}
	snap->cur_bytes = fresh;
	p->snap = snap;
	p->target = snap->proc;
	p->u.diff.update = (flags & MEMSCAN_STREAM_UPDATE) != 0;
	return MEMSCAN_OK;
}

/* A streamed diff of SNAP ended: its baseline's size is what the budgets now hold. */
static void agent_diff_settle(agent *ag, agent_session *s, agent_snap *snap)
{
	uint64_t held = memscan_snapshot_bytes(memscan_detector_baseline(snap->det));
	uint64_t charged = snap->base_bytes + snap->cur_bytes;

	if (charged > held)
		agent_budget_release(ag, s, charged - held);
	snap->base_bytes = held;
	snap->cur_bytes = 0;
	memscan_process_trim(snap->proc);
}

/* Ends a diff's pending result. With FINISH (the session goes on) an update diff abandoned early
 * first reads the rest into its baseline, so that the baseline is one whole read, not part new, part
 * old; that read touches the process after the last page's check, so the key's limits are checked
 * again after it, and a snapshot that fails is released (it may now hold bytes the key may not see). */
static void agent_diff_clear(agent_pending *p, int finish)
{
	memscan_diff_stream *stream = p->u.diff.stream;
	agent_snap *snap = p->snap;
	int read_more = finish && p->u.diff.update && stream && !memscan_diff_stream_done(stream);

	/* a failure here means the stream had ended (the process exited): nothing to undo */
	if (read_more && memscan_diff_stream_finish(stream) != MEMSCAN_OK)
		read_more = 0;
	if (finish && stream && snap)
		agent_diff_settle(p->ag, p->owner, snap);
	memscan_diff_stream_free(stream);
	memscan_diff_free(p->u.diff.part);
	if (read_more && snap) {
		agent_req r = { .ag = p->ag, .s = p->owner };

		if (agent_target_recheck(&r, snap->proc) != MEMSCAN_OK) {
			agent_log("snapshot %llu released after finishing its diff: %s",
			          (unsigned long long)snap->id, r.msg);
			agent_snap_free(p->ag, p->owner, snap);
		}
	}
}

static const agent_page_ops agent_diff_ops = { agent_emit_diff, agent_diff_clear };

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
	agent_pending_start(r, &agent_diff_ops);
	r->s->pending.zstd = d->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	err = agent_diff_stream(r, snap, regions);
	r->s->pending.u.diff.progress_ms = agent_progress_wait_ms(d->progress_ms);
	memscan_region_list_free(regions);
	if (err != MEMSCAN_OK) {
		agent_pending_clear(&r->s->pending);
		return err;
	}
	return agent_page_emit(r);
}
