/* SPDX-License-Identifier: MIT */
/* ChangeDetector: a baseline snapshot, a reused current snapshot, and their diff. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int memscan_detector_new(memscan_detector **ret_detector)
{
	if (!ret_detector)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_detector = calloc(1, sizeof(**ret_detector));
	return *ret_detector ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

void memscan_detector_free(memscan_detector *det)
{
	if (!det)
		return;
	memscan_snapshot_free(det->baseline);
	memscan_snapshot_free(det->current);
	free(det);
}

int memscan_detector_initialize(memscan_detector *det, memscan_process *proc,
                                const memscan_region_list *regions)
{
	memscan_snapshot *snap;
	int r;

	if (!det || !proc)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_snapshot_take(proc, regions, &snap);
	if (r != MEMSCAN_OK)
		return r;
	memscan_snapshot_free(det->baseline);
	det->baseline = snap;
	det->current_fresh = 0;
	return MEMSCAN_OK;
}

/* True if SNAP holds exactly the regions of LIST (same address ranges, in the same order). */
static int same_layout(const memscan_snapshot *snap, const memscan_region_list *list)
{
	if (!snap || snap->count != memscan_region_list_count(list))
		return 0;
	for (size_t i = 0; i < snap->count; i++) {
		const memscan_region *r = memscan_region_list_get(list, i);
		if (r->start != snap->regions[i].region.start || r->end != snap->regions[i].region.end)
			return 0;
	}
	return 1;
}

/* A list holding the regions of SNAP. */
static int snapshot_regions(const memscan_snapshot *snap, memscan_region_list **ret_list)
{
	memscan_region_list *list;
	int r = memscan_region_list_new(&list);

	for (size_t i = 0; r == MEMSCAN_OK && i < snap->count; i++)
		r = memscan_region_list_add(list, &snap->regions[i].region);
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(list);
		return r;
	}
	*ret_list = list;
	return MEMSCAN_OK;
}

/* Reads REGIONS (NULL = the baseline's) into det->current, reusing its buffers when it can. */
static int read_current(memscan_detector *det, memscan_process *proc, const memscan_region_list *regions)
{
	memscan_region_list *own = NULL;
	memscan_snapshot *snap;
	int r;

	det->current_fresh = 0;
	if (!regions) {
		r = snapshot_regions(det->baseline, &own);
		if (r != MEMSCAN_OK)
			return r;
		regions = own;
	}
	if (same_layout(det->current, regions)) {
		r = memscan_snapshot_refresh(det->current, proc);
	} else {
		r = memscan_snapshot_take(proc, regions, &snap);
		if (r == MEMSCAN_OK) {
			memscan_snapshot_free(det->current);
			det->current = snap;
		}
	}
	memscan_region_list_free(own);
	if (r == MEMSCAN_OK)
		det->current_fresh = 1;
	return r;
}

/* ---------------------------------------------------------------------------------------------
 * Fused detection: each cache-sized chunk is read into the current snapshot and compared with the
 * baseline at once, while it is hot; workers take units of chunks, the caller then assembles the
 * runs in address order (the same runs memscan_diff_snapshots finds).
 * ------------------------------------------------------------------------------------------- */

/* Read and compared at once: fits the L2 cache, and one call this size is near the copy ceiling. */
#define MS_FUSE_CHUNK ((size_t)512 << 10)
/* Shared out among the workers. */
#define MS_FUSE_UNIT ((size_t)8 << 20)

struct ms_fuse_unit {
	struct ms_unit at;
	struct ms_spans runs; /* raw runs (holes not yet skipped), offsets from the region's start */
	memscan_ranges holes;
	int err;
};

struct ms_fuse {
	memscan_process *proc;
	const memscan_snapshot *base;
	memscan_snapshot *cur;
	struct ms_fuse_unit *units;
	size_t n;
	atomic_size_t next;
	int refused[MS_WORKERS_MAX];
};

static int unit_add_run(void *ctx, size_t off, size_t len)
{
	return ms_spans_add(&((struct ms_fuse_unit *)ctx)->runs, off, len);
}

static int fuse_unit(struct ms_fuse *f, struct ms_fuse_unit *u, memscan_process *proc)
{
	const struct ms_snap_region *o = &f->base->regions[u->at.region];
	struct ms_snap_region *n = &f->cur->regions[u->at.region];
	int r = MEMSCAN_OK;

	for (size_t off = u->at.off; off < u->at.off + u->at.len && r == MEMSCAN_OK; off += MS_FUSE_CHUNK) {
		size_t len =
		    u->at.off + u->at.len - off < MS_FUSE_CHUNK ? u->at.off + u->at.len - off : MS_FUSE_CHUNK;
		struct ms_read_req req = { .addr = n->region.start + off,
			                   .buf = n->data + off,
			                   .len = len,
			                   .holes = &u->holes,
			                   .absent_zero = ms_region_absent_zero(&n->region) };

		r = ms_read_batch_raw(proc, &req, 1);
		if (r == MEMSCAN_OK)
			r = ms_for_each_run(o->data, n->data, off, off + len, unit_add_run, u);
	}
	return r;
}

static void fuse_worker(void *p, unsigned worker)
{
	struct ms_fuse *f = p;
	memscan_process proc = *f->proc; /* own copy: readv_refused is written while reading */
	size_t k;

	while ((k = atomic_fetch_add(&f->next, 1)) < f->n)
		f->units[k].err = fuse_unit(f, &f->units[k], &proc);
	f->refused[worker] = proc.readv_refused;
}

/* Cuts every region into units. */
static int fuse_plan(struct ms_fuse *f)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < f->cur->count; i++)
		n += (f->cur->regions[i].capacity + MS_FUSE_UNIT - 1) / MS_FUSE_UNIT;
	f->units = calloc(n ? n : 1, sizeof(*f->units));
	if (!f->units)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < f->cur->count; i++) {
		size_t size = (size_t)(f->cur->regions[i].region.end - f->cur->regions[i].region.start);
		for (size_t off = 0; off < size; off += MS_FUSE_UNIT, k++)
			f->units[k].at =
			    (struct ms_unit){ i, off, size - off < MS_FUSE_UNIT ? size - off : MS_FUSE_UNIT };
	}
	f->n = k;
	return MEMSCAN_OK;
}

/* Pending run being extended across unit edges. */
struct ms_pending {
	size_t region, off, len;
	size_t ko, kn; /* hole cursors of the region */
};

static int pending_flush(memscan_diff *d, const struct ms_fuse *f, struct ms_pending *p)
{
	const struct ms_snap_region *o = &f->base->regions[p->region], *n = &f->cur->regions[p->region];
	uint64_t s = n->region.start + p->off;
	int r = MEMSCAN_OK;

	if (p->len)
		r = ms_diff_push_clipped(d, &o->holes, &n->holes, &p->ko, &p->kn, p->region, s, s + p->len,
		                         o->data + (s - o->region.start), n->data + p->off);
	p->len = 0;
	return r;
}

/* The diff of the units' runs, in address order. */
static int fuse_assemble(const struct ms_fuse *f, memscan_diff *d)
{
	struct ms_pending p = { 0 };
	size_t runs = 0, bytes = 0;
	int r = MEMSCAN_OK;

	for (size_t k = 0; k < f->n; k++)
		for (size_t j = 0; j < f->units[k].runs.count; j++)
			runs++, bytes += f->units[k].runs.items[j].len;
	if ((r = ms_diff_reserve(d, runs, bytes)) != MEMSCAN_OK)
		return r;
	for (size_t k = 0; k < f->n && r == MEMSCAN_OK; k++) {
		const struct ms_fuse_unit *u = &f->units[k];
		for (size_t j = 0; j < u->runs.count && r == MEMSCAN_OK; j++) {
			const struct ms_span *sp = &u->runs.items[j];
			if (p.len && p.region == u->at.region && p.off + p.len == sp->off) {
				p.len += sp->len;
				continue;
			}
			r = pending_flush(d, f, &p);
			if (p.region != u->at.region)
				p.ko = p.kn = 0;
			p.region = u->at.region, p.off = sp->off, p.len = sp->len;
		}
	}
	return r == MEMSCAN_OK ? pending_flush(d, f, &p) : r;
}

/* Gives each current region the holes its units found, in address order. */
static int fuse_collect(const struct ms_fuse *f)
{
	for (size_t i = 0; i < f->cur->count; i++)
		memscan_ranges_clear(&f->cur->regions[i].holes);
	for (size_t k = 0; k < f->n; k++) {
		const memscan_ranges *h = &f->units[k].holes;
		memscan_ranges *dst = &f->cur->regions[f->units[k].at.region].holes;
		if (f->units[k].err != MEMSCAN_OK)
			return f->units[k].err; /* the first failure in address order */
		for (size_t j = 0; j < h->count; j++)
			if (ms_ranges_append(dst, h->items[j].start, h->items[j].end) != MEMSCAN_OK)
				return MEMSCAN_ERR_NO_MEMORY;
	}
	return MEMSCAN_OK;
}

static void fuse_release(struct ms_fuse *f)
{
	for (size_t k = 0; f->units && k < f->n; k++) {
		ms_spans_release(&f->units[k].runs);
		memscan_ranges_release(&f->units[k].holes);
	}
	free(f->units);
}

/* Reads det->current (same layout as the baseline) and diffs it with the baseline. */
static int fuse_run(struct ms_fuse *f, memscan_diff **ret_diff)
{
	unsigned workers = ms_worker_count();
	memscan_diff *d = NULL;
	int r = fuse_plan(f);

	if (r != MEMSCAN_OK)
		return r;
	if (workers > f->n)
		workers = f->n ? (unsigned)f->n : 1;
	ms_run_workers(workers, fuse_worker, f);
	for (unsigned k = 0; k < workers; k++)
		if (f->refused[k])
			f->proc->readv_refused = 1;
	r = fuse_collect(f);
	if (r == MEMSCAN_OK)
		r = memscan_process_check_alive(f->proc);
	f->cur->time_ns = ms_now_ns();
	if (r == MEMSCAN_OK)
		r = memscan_diff_new(&d);
	if (r == MEMSCAN_OK)
		r = fuse_assemble(f, d);
	if (r == MEMSCAN_OK)
		*ret_diff = d;
	else
		memscan_diff_free(d);
	return r;
}

/* An empty snapshot (buffers allocated, not read) with the regions of LIST. */
static int snapshot_shell(int pid, const memscan_region_list *list, memscan_snapshot **ret)
{
	memscan_snapshot *snap;
	int r = ms_snapshot_new(&snap);

	if (r != MEMSCAN_OK)
		return r;
	snap->pid = pid;
	for (size_t i = 0; i < memscan_region_list_count(list) && r == MEMSCAN_OK; i++)
		r = ms_snapshot_add_region(snap, memscan_region_list_get(list, i), NULL);
	if (r != MEMSCAN_OK) {
		memscan_snapshot_free(snap);
		return r;
	}
	*ret = snap;
	return MEMSCAN_OK;
}

/* True if a region of SNAP was wholly unreadable (memscan_snapshot_take would have dropped it). */
static int has_unreadable(const memscan_snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++)
		if (memscan_ranges_bytes(&snap->regions[i].holes) ==
		    snap->regions[i].region.end - snap->regions[i].region.start)
			return 1;
	return 0;
}

/* Fused detection when LIST has the baseline's layout. *RET_DONE = 0 asks for the general path. */
static int detect_fused(memscan_detector *det, memscan_process *proc, const memscan_region_list *list,
                        memscan_diff **ret_diff, int *ret_done)
{
	struct ms_fuse f = { .proc = proc, .base = det->baseline };
	int fresh = 0, r;

	*ret_done = 0;
	if (!same_layout(det->baseline, list))
		return MEMSCAN_OK;
	ms_process_prepare_absent(proc);
	det->current_fresh = 0;
	if (!same_layout(det->current, list)) {
		memscan_snapshot *snap;
		if ((r = snapshot_shell(proc->pid, list, &snap)) != MEMSCAN_OK)
			return r;
		memscan_snapshot_free(det->current);
		det->current = snap;
		fresh = 1;
	}
	f.cur = det->current;
	r = fuse_run(&f, ret_diff);
	fuse_release(&f);
	if (r == MEMSCAN_OK && fresh && has_unreadable(det->current)) {
		memscan_diff_free(*ret_diff); /* a take drops such regions: the general path does that */
		*ret_diff = NULL;
		memscan_snapshot_free(det->current);
		det->current = NULL;
		return MEMSCAN_OK;
	}
	*ret_done = 1;
	if (r == MEMSCAN_OK)
		det->current_fresh = 1;
	return r;
}

int memscan_detector_detect_changes(memscan_detector *det, memscan_process *proc,
                                    const memscan_region_list *regions, memscan_diff **ret_diff)
{
	memscan_region_list *own = NULL;
	int r, done = 0;

	if (ret_diff)
		*ret_diff = NULL;
	if (!det || !proc || !ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->baseline)
		return MEMSCAN_ERR_NOT_FOUND; /* initialize first */
	if (!regions) {
		if ((r = snapshot_regions(det->baseline, &own)) != MEMSCAN_OK)
			return r;
	}
	r = detect_fused(det, proc, regions ? regions : own, ret_diff, &done);
	memscan_region_list_free(own);
	if (done || r != MEMSCAN_OK)
		return r;
	r = read_current(det, proc, regions);
	if (r != MEMSCAN_OK)
		return r;
	return memscan_diff_snapshots(det->baseline, det->current, ret_diff);
}

int memscan_detector_accept(memscan_detector *det)
{
	memscan_snapshot *swap;

	if (!det)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->current_fresh)
		return MEMSCAN_ERR_NOT_FOUND;
	swap = det->baseline;
	det->baseline = det->current;
	det->current = swap; /* the old baseline's buffers serve the next read */
	det->current_fresh = 0;
	return MEMSCAN_OK;
}

int memscan_detector_detect_update(memscan_detector *det, memscan_process *proc,
                                   const memscan_region_list *regions, memscan_diff **ret_diff)
{
	memscan_diff_stream *st;
	int done = 0, r;

	if (ret_diff)
		*ret_diff = NULL;
	if (!ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_detector_stream(det, proc, regions, MEMSCAN_STREAM_UPDATE, &st);
	if (r == MEMSCAN_OK)
		r = memscan_diff_stream_next(st, SIZE_MAX, ret_diff, &done);
	if (r == MEMSCAN_OK && !done) {
		memscan_diff_free(*ret_diff); /* cannot happen: one unbounded part reads to the end */
		*ret_diff = NULL;
		r = MEMSCAN_ERR_LIMIT;
	}
	memscan_diff_stream_free(st);
	return r;
}

int memscan_detector_update_snapshots(memscan_detector *det, memscan_process *proc,
                                      const memscan_region_list *regions)
{
	int r;

	if (!det || !proc)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->baseline)
		return memscan_detector_initialize(det, proc, regions);
	r = read_current(det, proc, regions);
	return r == MEMSCAN_OK ? memscan_detector_accept(det) : r;
}

size_t memscan_detector_snapshot_count(const memscan_detector *det)
{
	return det && det->baseline ? det->baseline->count : 0;
}

const memscan_snapshot *memscan_detector_baseline(const memscan_detector *det)
{
	return det ? det->baseline : NULL;
}
