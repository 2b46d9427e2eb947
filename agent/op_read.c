/* SPDX-License-Identifier: MIT */
/* Read: a live read of a process, or a read of a kept snapshot, page by page. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Reads the next page of a live read into BUF (LEN bytes) and its holes. *WHOLE_HOLE is set when no
 * byte of this page was readable but the read goes on (the page is then one hole). */
static int agent_read_live(agent_req *r, uint8_t *buf, size_t len, memscan_ranges *holes, int *whole_hole)
{
	agent_pending *p = &r->s->pending;
	int err = memscan_read(p->proc, p->u.read.addr, buf, len, holes);

	*whole_hole = 0;
	if (err == MEMSCAN_OK || err == MEMSCAN_ERR_PARTIAL)
		return MEMSCAN_OK;
	if (err == MEMSCAN_ERR_UNREADABLE && !(p->index == 0 && p->u.read.end - p->u.read.addr == len)) {
		memset(buf, 0, len);
		*whole_hole = 1;
		return MEMSCAN_OK;
	}
	return agent_fail(r, err, "reading %zu bytes at 0x%llx of process %d: %s", len,
	                  (unsigned long long)p->u.read.addr, memscan_process_pid(p->proc),
	                  memscan_strerror(err));
}

/* The next page of a snapshot read: its bytes, straight from the kept snapshot (packed once, into
 * the reply frame). */
static const uint8_t *agent_read_snap(const agent_pending *p)
{
	const memscan_snapshot_region *sr = &p->u.read.snap_region;

	return sr->data + (p->u.read.addr - sr->region.start);
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

/* The next page of a read, live or of a kept snapshot. */
static int agent_emit_read(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReadPage page = MEMSCAN__V1__READ_PAGE__INIT;
	agent_pending *p = &r->s->pending;
	uint64_t left = p->u.read.end - p->u.read.addr;
	size_t len = left < WIRE_MAX_PAGE_BYTES ? (size_t)left : WIRE_MAX_PAGE_BYTES;
	memscan_ranges holes = { 0 };
	memscan_range whole = { p->u.read.addr, p->u.read.addr + len };
	memscan_ranges whole_view = { &whole, 1, 1 };
	const memscan_ranges *hsrc = p->u.read.snap_region.holes;
	Memscan__V1__Range *hitems = NULL, **hptrs = NULL;
	uint8_t *buf = NULL;
	int err = MEMSCAN_OK;

	if (p->proc)
		err = agent_page_live(r, len, &page, &holes, &whole_view, &hsrc, &buf);
	else
		page.data.data = (uint8_t *)agent_read_snap(p);
	if (err == MEMSCAN_OK && agent_ranges_to_proto(hsrc, p->u.read.addr, p->u.read.addr + len, &hitems,
	                                               &hptrs, &page.n_holes) != 0)
		err = agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	if (err != MEMSCAN_OK)
		goto out;
	page.address = p->u.read.addr;
	page.data.len = len;
	page.holes = hptrs;
	agent_compress_page(r, &page);
	r->bytes += len;
	p->u.read.addr += len;
	p->index++;
	page.next_cursor = agent_page_cursor(p, p->u.read.addr < p->u.read.end);
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

/* A live read's handle is released with the pending result (its proc); a snapshot read keeps none. */
static const agent_page_ops agent_read_ops = { agent_emit_read, NULL };

/* A read of a kept snapshot: the range must lie inside one of its regions. */
static int agent_read_snapshot(agent_req *r, const Memscan__V1__Read *rd)
{
	agent_snap *snap = agent_snap_find(r->s, rd->snapshot_id);
	agent_pending *p = &r->s->pending;
	const memscan_snapshot *base;

	if (!snap)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no snapshot %llu in this session",
		                  (unsigned long long)rd->snapshot_id);
	if (agent_snap_check(r, snap) != MEMSCAN_OK)
		return r->err;
	base = memscan_detector_baseline(snap->det);
	for (size_t i = 0; i < memscan_snapshot_region_count(base); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(base, i);

		if (rd->address < sr.region.start || rd->address >= sr.region.end ||
		    rd->length > sr.region.end - rd->address)
			continue;
		agent_pending_start(r, &agent_read_ops);
		p->snap = snap;
		p->target = snap->proc;
		p->zstd = rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		p->u.read.snap_region = sr;
		p->u.read.addr = rd->address;
		p->u.read.end = rd->address + rd->length;
		return agent_page_emit(r);
	}
	return agent_fail(r, MEMSCAN_ERR_NOT_FOUND,
	                  "snapshot %llu has no region holding [0x%llx, +%llu): read inside one region",
	                  (unsigned long long)rd->snapshot_id, (unsigned long long)rd->address,
	                  (unsigned long long)rd->length);
}

int agent_op_read(agent_req *r)
{
	const Memscan__V1__Read *rd = r->req->read;
	agent_pending *p = &r->s->pending;
	memscan_process *proc;
	int err;

	if (rd->length == 0 || rd->length > AGENT_READ_MAX)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "length %llu: must be 1 to %llu bytes",
		                  (unsigned long long)rd->length, (unsigned long long)AGENT_READ_MAX);
	if (rd->length > UINT64_MAX - rd->address)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "0x%llx + %llu overflows the address space",
		                  (unsigned long long)rd->address, (unsigned long long)rd->length);
	if (rd->snapshot_id)
		return agent_read_snapshot(r, rd);
	err = agent_open_target(r, rd->target, &proc);
	if (err != MEMSCAN_OK)
		return err;
	agent_pending_start(r, &agent_read_ops);
	p->proc = p->target = proc;
	p->zstd = rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	p->u.read.addr = rd->address;
	p->u.read.end = rd->address + rd->length;
	return agent_page_emit(r);
}
