/* SPDX-License-Identifier: MIT */
/* Paged results: each reply holds at most WIRE_MAX_PAGE_BYTES of payload; Next continues with a cursor. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Protobuf framing of one item inside a page (tag, length) on top of its packed size. */
#define AGENT_ITEM_OVERHEAD 8
/* Framing of one change run besides its bytes. */
#define AGENT_RUN_OVERHEAD 48
/* Below this much room a long run is not split on this page but starts the next one. */
#define AGENT_SPLIT_MIN 4096

void agent_pending_abandon(agent_pending *p)
{
	memscan_diff_stream_free(p->stream);
	p->stream = NULL;
	agent_pending_clear(p);
}

void agent_pending_clear(agent_pending *p)
{
	/* a failure here means the stream had ended already (the process exited): nothing to undo */
	int ended = p->stream ? memscan_diff_stream_finish(p->stream) : MEMSCAN_OK;

	(void)ended;
	if (p->stream && p->snap)
		agent_diff_settle(p->ag, p->owner, p->snap);
	memscan_diff_stream_free(p->stream);
	free(p->procs);
	memscan_region_list_free(p->regions);
	memscan_process_free(p->proc);
	memscan_diff_free(p->diff);
	free(p->matches);
	if (p->charged)
		agent_budget_release(p->ag, p->owner, p->charged);
	memset(p, 0, sizeof(*p));
}

/* Checks the key's limits again on the process the pending result reads or came from (before every
 * page, and after a page's bytes were read from it): a failure drops the result, and a kept snapshot
 * it belongs to. */
static int agent_page_check(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	memscan_process *proc = p->proc;

	if (p->snap)
		return agent_snap_check(r, p->snap);
	if (!proc && p->kind == AGENT_PAGE_REGIONS)
		proc = r->s->proc_cache;
	if (!proc || agent_target_recheck(r, proc) == MEMSCAN_OK)
		return MEMSCAN_OK;
	agent_pending_abandon(p);
	return r->err;
}

/* Sets the page's cursor: a fresh random one if more follows, else 0. */
static uint64_t agent_page_cursor(agent_pending *p, int more)
{
	p->cursor = more ? agent_random_id() : 0;
	return p->cursor;
}

/* Packs RESP; the pending result is dropped if this was its last page. */
static int agent_page_finish(agent_req *r, Memscan__V1__Response *resp)
{
	int err = agent_pack(r, resp);

	if (err != MEMSCAN_OK || r->s->pending.cursor == 0)
		agent_pending_clear(&r->s->pending);
	return err;
}

/* Fills item INDEX into ITEM and returns its packed size. */
typedef size_t (*agent_fill_fn)(agent_pending *p, size_t index, void *item);

/* Fills up to a page of items from p->index on: arrays of ITEM_SIZE-byte items and pointers to them. */
static size_t agent_fill_page(agent_pending *p, size_t total, size_t item_size, agent_fill_fn fill,
                              uint8_t **ret_items, void ***ret_ptrs)
{
	size_t max = total - p->index, room = WIRE_MAX_PAGE_BYTES, n = 0;

	if (max > AGENT_PAGE_MAX_ITEMS)
		max = AGENT_PAGE_MAX_ITEMS;
	*ret_items = calloc(max ? max : 1, item_size);
	*ret_ptrs = calloc(max ? max : 1, sizeof(void *));
	if (!*ret_items || !*ret_ptrs)
		return SIZE_MAX;
	while (n < max) {
		void *item = *ret_items + n * item_size;
		size_t size = fill(p, p->index + n, item) + AGENT_ITEM_OVERHEAD;

		if (n && size > room)
			break;
		room -= size < room ? size : room;
		(*ret_ptrs)[n++] = item;
	}
	p->index += n;
	return n;
}

static size_t agent_fill_proc(agent_pending *p, size_t index, void *item)
{
	wire_proc_to_proto(&p->procs[index], item);
	return memscan__v1__process_info__get_packed_size(item);
}

static size_t agent_fill_snap_region(agent_pending *p, size_t index, void *item)
{
	memscan_snapshot_region sr = memscan_snapshot_get(memscan_detector_baseline(p->snap->det), index);

	wire_region_to_proto(&sr.region, item);
	return memscan__v1__region__get_packed_size(item);
}

static size_t agent_fill_match(agent_pending *p, size_t index, void *item)
{
	Memscan__V1__Match *m = item;

	memscan__v1__match__init(m);
	m->address = p->matches[index].address;
	m->region_start = p->matches[index].region_start;
	return memscan__v1__match__get_packed_size(m);
}

/* One page of items into *N_FIELD / *ITEMS_FIELD; returns MEMSCAN_OK or NO_MEMORY. */
static int agent_items_page(agent_req *r, size_t total, size_t item_size, agent_fill_fn fill,
                            Memscan__V1__Response *resp, size_t *n_field, void ***items_field,
                            uint64_t *cursor_field)
{
	agent_pending *p = &r->s->pending;
	uint8_t *items;
	void **ptrs;
	size_t n = agent_fill_page(p, total, item_size, fill, &items, &ptrs);
	int err;

	if (n == SIZE_MAX) {
		free(items);
		free(ptrs);
		agent_pending_clear(p);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory building a page");
	}
	*n_field = n;
	*items_field = ptrs;
	*cursor_field = agent_page_cursor(p, p->index < total);
	err = agent_page_finish(r, resp);
	free(items);
	free(ptrs);
	return err;
}

static int agent_emit_procs(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ProcessPage page = MEMSCAN__V1__PROCESS_PAGE__INIT;
	agent_pending *p = &r->s->pending;

	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROCESSES;
	resp.processes = &page;
	return agent_items_page(r, p->proc_count, sizeof(Memscan__V1__ProcessInfo), agent_fill_proc, &resp,
	                        &page.n_processes, (void ***)&page.processes, &page.next_cursor);
}

/* A regions page, written straight into its frame (wire_regions_reply_put): the hot reply of a
 * small request, which protobuf-c's generic packing made several times slower. */
static int agent_emit_regions(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	const memscan_region_list *list = p->regions;
	size_t total = memscan_region_list_count(list), first = p->index, n = 0, items = 0;
	size_t room = WIRE_MAX_PAGE_BYTES, len;
	uint64_t cursor;
	uint8_t *out;

	while (first + n < total && n < AGENT_PAGE_MAX_ITEMS) {
		size_t size = wire_region_item_size(memscan_region_list_get(list, first + n));

		if (n && size > room)
			break;
		room -= size < room ? size : room;
		items += size;
		n++;
	}
	p->index += n;
	cursor = agent_page_cursor(p, p->index < total);
	len = wire_regions_reply_size(items, cursor, p->start_time);
	out = agent_reply_frame(r, len);
	if (out)
		r->out_len = wire_regions_reply_put(list, first, n, items, cursor, p->start_time, out);
	if (!out || cursor == 0)
		agent_pending_clear(p);
	return r->err;
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

static int agent_emit_scan(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ScanPage page = MEMSCAN__V1__SCAN_PAGE__INIT;
	agent_pending *p = &r->s->pending;

	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SCAN;
	resp.scan = &page;
	return agent_items_page(r, p->match_count, sizeof(Memscan__V1__Match), agent_fill_match, &resp,
	                        &page.n_matches, (void ***)&page.matches, &page.next_cursor);
}

/* Range arrays: the parts of RANGES inside [START, END), as protobuf Ranges (clipped). */
static int agent_ranges_to_proto(const memscan_ranges *ranges, uint64_t start, uint64_t end,
                                 Memscan__V1__Range **ret_items, Memscan__V1__Range ***ret_ptrs,
                                 size_t *ret_n)
{
	size_t count = ranges ? ranges->count : 0, n = 0;

	*ret_items = calloc(count ? count : 1, sizeof(**ret_items));
	*ret_ptrs = calloc(count ? count : 1, sizeof(**ret_ptrs));
	if (!*ret_items || !*ret_ptrs)
		return -1;
	for (size_t i = 0; i < count; i++) {
		memscan_range h = ranges->items[i];

		if (h.end <= start || h.start >= end)
			continue;
		memscan__v1__range__init(&(*ret_items)[n]);
		(*ret_items)[n].start = h.start > start ? h.start : start;
		(*ret_items)[n].end = h.end < end ? h.end : end;
		(*ret_ptrs)[n] = &(*ret_items)[n];
		n++;
	}
	*ret_n = n;
	return 0;
}

/* Reads the next page of a live read into BUF (LEN bytes) and its holes. *WHOLE_HOLE is set when no
 * byte of this page was readable but the read goes on (the page is then one hole). */
static int agent_read_live(agent_req *r, uint8_t *buf, size_t len, memscan_ranges *holes, int *whole_hole)
{
	agent_pending *p = &r->s->pending;
	int err = memscan_read(p->proc, p->addr, buf, len, holes);

	*whole_hole = 0;
	if (err == MEMSCAN_OK || err == MEMSCAN_ERR_PARTIAL)
		return MEMSCAN_OK;
	if (err == MEMSCAN_ERR_UNREADABLE && !(p->index == 0 && p->end - p->addr == len)) {
		memset(buf, 0, len);
		*whole_hole = 1;
		return MEMSCAN_OK;
	}
	return agent_fail(r, err, "reading %zu bytes at 0x%llx of process %d: %s", len,
	                  (unsigned long long)p->addr, memscan_process_pid(p->proc), memscan_strerror(err));
}

/* The next page of a snapshot read: its bytes, straight from the kept snapshot (packed once, into
 * the reply frame). */
static const uint8_t *agent_read_snap(const agent_pending *p)
{
	const memscan_snapshot_region *sr = &p->snap_region;

	return sr->data + (p->addr - sr->region.start);
}

/* Fills PAGE's bytes for a live read into a new buffer *RET_BUF; *HSRC: its holes (WHOLE_VIEW when
 * nothing of it was readable). */
static int agent_page_live(agent_req *r, size_t len, Memscan__V1__ReadPage *page, memscan_ranges *holes,
                           const memscan_ranges *whole_view, const memscan_ranges **hsrc, uint8_t **ret_buf)
{
	int whole_hole = 0, err;

	*ret_buf = malloc(len);
	if (!*ret_buf)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory for a %zu-byte page", len);
	err = agent_read_live(r, *ret_buf, len, holes, &whole_hole);
	if (err == MEMSCAN_OK)
		err = agent_page_check(r); /* the bytes are of a process the key may still read */
	*hsrc = whole_hole ? whole_view : holes;
	page->data.data = *ret_buf;
	return err;
}

static int agent_emit_read(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReadPage page = MEMSCAN__V1__READ_PAGE__INIT;
	agent_pending *p = &r->s->pending;
	uint64_t left = p->end - p->addr;
	size_t len = left < WIRE_MAX_PAGE_BYTES ? (size_t)left : WIRE_MAX_PAGE_BYTES;
	memscan_ranges holes = { 0 };
	memscan_range whole = { p->addr, p->addr + len };
	memscan_ranges whole_view = { &whole, 1, 1 };
	const memscan_ranges *hsrc = p->snap_region.holes;
	Memscan__V1__Range *hitems = NULL, **hptrs = NULL;
	uint8_t *buf = NULL;
	int err = MEMSCAN_OK;

	if (p->kind == AGENT_PAGE_READ_LIVE)
		err = agent_page_live(r, len, &page, &holes, &whole_view, &hsrc, &buf);
	else
		page.data.data = (uint8_t *)agent_read_snap(p);
	if (err == MEMSCAN_OK &&
	    agent_ranges_to_proto(hsrc, p->addr, p->addr + len, &hitems, &hptrs, &page.n_holes) != 0)
		err = agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	if (err != MEMSCAN_OK)
		goto out;
	page.address = p->addr;
	page.data.len = len;
	page.holes = hptrs;
	agent_compress_page(r, &page);
	r->bytes += len;
	p->addr += len;
	p->index++;
	page.next_cursor = agent_page_cursor(p, p->addr < p->end);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_READ;
	resp.read = &page;
	err = agent_page_finish(r, &resp);
out:
	agent_compress_release(r);
	if (err != MEMSCAN_OK)
		agent_pending_clear(p);
	memscan_ranges_release(&holes);
	free(hitems);
	free(hptrs);
	free(buf);
	return err;
}

/* Adds change runs (or pieces of one) of p->diff from the pending position while *ROOM allows, after
 * the N0 items already on the page; returns the items added. */
static size_t agent_fill_runs(agent_pending *p, size_t *room, Memscan__V1__ChangeRun *items,
                              Memscan__V1__ChangeRun **ptrs, size_t n0, size_t max)
{
	size_t total = memscan_diff_run_count(p->diff), n = n0;

	while (p->index < total && n < max) {
		memscan_change_run run = memscan_diff_run(p->diff, p->index);
		uint64_t left = run.length - p->offset, piece = left;

		if (2 * left + AGENT_RUN_OVERHEAD > *room) {
			if (n && *room < AGENT_SPLIT_MIN)
				break;
			piece = (*room - AGENT_RUN_OVERHEAD) / 2;
		}
		memscan__v1__change_run__init(&items[n]);
		items[n].address = run.address + p->offset;
		items[n].old_bytes.data = (uint8_t *)run.old_bytes + p->offset;
		items[n].old_bytes.len = piece;
		items[n].new_bytes.data = (uint8_t *)run.new_bytes + p->offset;
		items[n].new_bytes.len = piece;
		items[n].region_index = (uint32_t)run.region_index;
		ptrs[n] = &items[n];
		n++;
		*room -= 2 * piece + AGENT_RUN_OVERHEAD;
		p->offset += piece;
		if (p->offset == run.length) {
			p->index++;
			p->offset = 0;
		}
		if (piece < left)
			break; /* split at the page boundary */
	}
	return n - n0;
}

/* Parts of a streamed diff one page may draw from (the page points into each until it is packed). */
#define AGENT_PAGE_PARTS 8

/* Replaces the exhausted current part with the stream's next one, found with about ROOM bytes; the
 * old part goes to KEPT (freed once the page is packed). */
static int agent_next_part(agent_req *r, size_t room, memscan_diff **kept, size_t *kept_n)
{
	agent_pending *p = &r->s->pending;
	size_t n = memscan_diff_run_count(p->diff);
	memscan_change_run last = memscan_diff_run(p->diff, n ? n - 1 : 0), first;
	int done, err;

	kept[(*kept_n)++] = p->diff;
	p->diff = NULL;
	p->index = 0;
	p->offset = 0;
	err = memscan_diff_stream_next(p->stream, room, &p->diff, &done);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "diff of process %d failed: %s", r->pid, memscan_strerror(err));
	n = memscan_diff_run_count(p->diff);
	first = memscan_diff_run(p->diff, 0);
	/* a run the previous part ended with and this one continues counts once, as the client joins it */
	p->stream_runs += n;
	if (n && last.length && last.region_index == first.region_index &&
	    last.address + last.length == first.address)
		p->stream_runs--;
	return MEMSCAN_OK;
}

/* The runs of one diff page: from the whole diff, or drawn from the stream's parts as they come. */
static int agent_diff_runs(agent_req *r, size_t room, Memscan__V1__ChangeRun *items,
                           Memscan__V1__ChangeRun **ptrs, size_t max, memscan_diff **kept, size_t *kept_n,
                           size_t *ret_n)
{
	agent_pending *p = &r->s->pending;
	size_t n = 0;
	int err = MEMSCAN_OK;

	for (;;) {
		n += agent_fill_runs(p, &room, items, ptrs, n, max);
		if (n == max || room < AGENT_SPLIT_MIN || *kept_n == AGENT_PAGE_PARTS ||
		    p->index < memscan_diff_run_count(p->diff) || memscan_diff_stream_done(p->stream))
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
	return p->index < memscan_diff_run_count(p->diff) || !memscan_diff_stream_done(p->stream);
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
	       before = memscan_diff_stream_changed_bytes(p->stream);
	/* each run costs at least its framing and two bytes, so the page's room bounds its runs */
	size_t max = room / (AGENT_RUN_OVERHEAD + 2) + 1;
	int err = MEMSCAN_ERR_NO_MEMORY;

	if (max > AGENT_PAGE_MAX_ITEMS)
		max = AGENT_PAGE_MAX_ITEMS;
	/* a stream's first part carries the ranges that appeared or vanished: the first page sends them */
	if (!p->diff && !p->diff_ranges_sent && agent_next_part(r, room, kept, &kept_n) != MEMSCAN_OK)
		goto out;
	if (!p->diff_ranges_sent) {
		if (agent_ranges_to_proto(memscan_diff_appeared(p->diff), 0, UINT64_MAX, &aitems, &aptrs,
		                          &page.n_appeared) ||
		    agent_ranges_to_proto(memscan_diff_vanished(p->diff), 0, UINT64_MAX, &vitems, &vptrs,
		                          &page.n_vanished))
			goto out;
		page.appeared = aptrs;
		page.vanished = vptrs;
		ranges_cost = 24 * (page.n_appeared + page.n_vanished);
		room -= ranges_cost < room / 2 ? ranges_cost : room / 2;
		p->diff_ranges_sent = 1;
	}
	items = calloc(max, sizeof(*items));
	ptrs = calloc(max, sizeof(*ptrs));
	if (!items || !ptrs)
		goto out;
	err = agent_diff_runs(r, room, items, ptrs, max, kept, &kept_n, &page.n_runs);
	if (err == MEMSCAN_OK)
		err = agent_page_check(r); /* the runs are of a process the key may still read */
	if (err != MEMSCAN_OK)
		goto out;
	page.runs = ptrs;
	agent_compress_runs(r, &page);
	page.changed_bytes = memscan_diff_stream_changed_bytes(p->stream);
	page.run_count = p->stream_runs;
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

/* Sends the next page of the session's pending result. */
int agent_page_emit(agent_req *r)
{
	if (agent_page_check(r) != MEMSCAN_OK)
		return r->err;
	switch (r->s->pending.kind) {
	case AGENT_PAGE_PROCS:
		return agent_emit_procs(r);
	case AGENT_PAGE_REGIONS:
		return agent_emit_regions(r);
	case AGENT_PAGE_READ_LIVE:
	case AGENT_PAGE_READ_SNAP:
		return agent_emit_read(r);
	case AGENT_PAGE_SNAPSHOT:
		return agent_emit_snapshot(r);
	case AGENT_PAGE_DIFF:
		return agent_emit_diff(r);
	case AGENT_PAGE_SCAN:
		return agent_emit_scan(r);
	}
	return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no paged result to continue");
}
