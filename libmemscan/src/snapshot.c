/* SPDX-License-Identifier: MIT */
/* MemorySnapshot: the bytes of a set of regions at one instant, read in large batches. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Most regions one snapshot holds (a process has at most vm.max_map_count of them). */
#define MS_SNAPSHOT_REGIONS_MAX (1u << 24)

int ms_snapshot_new(memscan_snapshot **ret_snap)
{
	*ret_snap = calloc(1, sizeof(**ret_snap));
	return *ret_snap ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

void ms_snap_region_release(struct ms_snap_region *sr)
{
	ms_buf_free(sr->data, sr->capacity);
	memscan_ranges_release(&sr->holes);
	free(sr->path);
	memset(sr, 0, sizeof(*sr));
}

int ms_snapshot_add_region(memscan_snapshot *snap, const memscan_region *region, struct ms_snap_region **ret)
{
	struct ms_snap_region *sr;
	uint64_t size;

	if (!snap || !region || region->end <= region->start)
		return MEMSCAN_ERR_INVALID_ARG;
	size = region->end - region->start;
	if (size > SIZE_MAX / 2)
		return MEMSCAN_ERR_LIMIT;
	if (snap->count && snap->regions[snap->count - 1].region.end > region->start)
		return MEMSCAN_ERR_INVALID_ARG; /* regions must come sorted and disjoint */
	if (snap->count == snap->capacity) {
		int r = ms_grow(&snap->regions, &snap->capacity, snap->count + 1, sizeof(*snap->regions),
		                MS_SNAPSHOT_REGIONS_MAX);

		if (r != 0)
			return r;
		for (size_t i = 0; i < snap->count; i++)
			snap->regions[i].region.path = snap->regions[i].path;
	}
	sr = &snap->regions[snap->count];
	memset(sr, 0, sizeof(*sr));
	sr->region = *region;
	sr->path = ms_strdup(region->path);
	sr->capacity = (size_t)size;
	sr->data = ms_buf_alloc(sr->capacity);
	if (!sr->path || !sr->data) {
		ms_snap_region_release(sr);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	sr->region.path = sr->path;
	snap->count++;
	snap->total_bytes += size;
	if (ret)
		*ret = sr;
	return MEMSCAN_OK;
}

/* Removes region I (wholly unreadable or vanished) from SNAP. */
static void snapshot_drop(memscan_snapshot *snap, size_t i)
{
	snap->total_bytes -= snap->regions[i].region.end - snap->regions[i].region.start;
	ms_snap_region_release(&snap->regions[i]);
	memmove(&snap->regions[i], &snap->regions[i + 1], (snap->count - i - 1) * sizeof(snap->regions[0]));
	snap->count--;
	for (size_t k = i; k < snap->count; k++)
		snap->regions[k].region.path = snap->regions[k].path;
}

/* Reads every region of SNAP in batches. TAKING: a new snapshot, whose buffers are fresh (zeroed),
 * and whose wholly unreadable regions are dropped. */
static int snapshot_read(memscan_snapshot *snap, memscan_process *proc, int taking)
{
	struct ms_read_req *reqs;
	int r;

	ms_process_prepare_absent(proc);
	if (snap->count == 0) {
		snap->time_ns = ms_now_ns();
		return memscan_process_check_alive(proc);
	}
	reqs = calloc(snap->count, sizeof(*reqs));
	if (!reqs)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < snap->count; i++) {
		struct ms_snap_region *sr = &snap->regions[i];
		memscan_ranges_clear(&sr->holes);
		reqs[i].addr = sr->region.start;
		reqs[i].buf = sr->data;
		reqs[i].len = (size_t)(sr->region.end - sr->region.start);
		reqs[i].holes = &sr->holes;
		reqs[i].absent_zero = ms_region_absent_zero(&sr->region);
		reqs[i].dst_zeroed = taking;
	}
	r = ms_read_batch_par(proc, reqs, snap->count);
	if (r == MEMSCAN_OK && taking) {
		for (size_t i = snap->count; i-- > 0;)
			if (reqs[i].hole_bytes == reqs[i].len)
				snapshot_drop(snap, i);
	}
	free(reqs);
	snap->time_ns = ms_now_ns();
	return r;
}

static int region_cmp(const void *a, const void *b)
{
	const memscan_region *x = *(const memscan_region *const *)a, *y = *(const memscan_region *const *)b;
	return (x->start > y->start) - (x->start < y->start);
}

int ms_regions_default(memscan_process *proc, memscan_region_list **ret_list)
{
	memscan_filter filter;

	memscan_filter_default(&filter);
	return memscan_regions_read(proc, &filter, ret_list);
}

const memscan_region **ms_regions_sorted(const memscan_region_list *list)
{
	size_t n = memscan_region_list_count(list);
	const memscan_region **order = calloc(n ? n : 1, sizeof(*order));

	if (!order)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = memscan_region_list_get(list, i);
	qsort(order, n, sizeof(*order), region_cmp);
	return order;
}

/* Adds LIST's regions to SNAP in address order. */
static int snapshot_add_list(memscan_snapshot *snap, const memscan_region_list *list)
{
	size_t n = memscan_region_list_count(list);
	const memscan_region **order = ms_regions_sorted(list);
	int r = MEMSCAN_OK;

	if (!order)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < n && r == MEMSCAN_OK; i++)
		r = ms_snapshot_add_region(snap, order[i], NULL);
	free(order);
	return r;
}

int memscan_snapshot_take(memscan_process *proc, const memscan_region_list *regions,
                          memscan_snapshot **ret_snapshot)
{
	memscan_region_list *own = NULL;
	memscan_snapshot *snap = NULL;
	int r;

	if (ret_snapshot)
		*ret_snapshot = NULL;
	if (!proc || !ret_snapshot)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!regions) {
		r = ms_regions_default(proc, &own);
		if (r != MEMSCAN_OK)
			return r;
		regions = own;
	}
	r = ms_snapshot_new(&snap);
	if (r == MEMSCAN_OK && own) {
		memscan_filter filter;

		memscan_filter_default(&filter);
		r = ms_filter_rec_set(&snap->sel, &filter);
	}
	if (r == MEMSCAN_OK) {
		snap->pid = proc->pid;
		r = snapshot_add_list(snap, regions);
	}
	if (r == MEMSCAN_OK)
		r = snapshot_read(snap, proc, 1);
	memscan_region_list_free(own);
	if (r != MEMSCAN_OK) {
		memscan_snapshot_free(snap);
		return r;
	}
	*ret_snapshot = snap;
	return MEMSCAN_OK;
}

int memscan_snapshot_refresh(memscan_snapshot *snap, memscan_process *proc)
{
	if (!snap || !proc)
		return MEMSCAN_ERR_INVALID_ARG;
	return snapshot_read(snap, proc, 0);
}

size_t memscan_snapshot_region_count(const memscan_snapshot *snap)
{
	return snap ? snap->count : 0;
}

memscan_snapshot_region memscan_snapshot_get(const memscan_snapshot *snap, size_t index)
{
	memscan_snapshot_region out = { 0 };

	if (snap && index < snap->count) {
		out.region = snap->regions[index].region;
		out.data = snap->regions[index].data;
		out.holes = &snap->regions[index].holes;
	}
	return out;
}

uint64_t memscan_snapshot_bytes(const memscan_snapshot *snap)
{
	return snap ? snap->total_bytes : 0;
}

int memscan_snapshot_pid(const memscan_snapshot *snap)
{
	return snap ? snap->pid : 0;
}

uint64_t memscan_snapshot_time_ns(const memscan_snapshot *snap)
{
	return snap ? snap->time_ns : 0;
}

int ms_filter_rec_set(struct ms_filter_rec *rec, const memscan_filter *f)
{
	char *path = NULL;

	if (f && !(path = strdup(f->path_substr ? f->path_substr : "")))
		return MEMSCAN_ERR_NO_MEMORY;
	free(rec->path);
	memset(rec, 0, sizeof(*rec));
	if (f) {
		rec->known = 1;
		rec->f = *f;
		rec->path = path;
		rec->f.path_substr = path;
	}
	return MEMSCAN_OK;
}

void ms_filter_rec_release(struct ms_filter_rec *rec)
{
	(void)ms_filter_rec_set(rec, NULL);
}

int memscan_snapshot_set_filter(memscan_snapshot *snap, const memscan_filter *filter)
{
	return snap ? ms_filter_rec_set(&snap->sel, filter) : MEMSCAN_ERR_INVALID_ARG;
}

bool memscan_snapshot_get_filter(const memscan_snapshot *snap, memscan_filter *ret_filter)
{
	if (ret_filter)
		memset(ret_filter, 0, sizeof(*ret_filter));
	if (!snap || !snap->sel.known)
		return false;
	if (ret_filter)
		*ret_filter = snap->sel.f;
	return true;
}

void memscan_snapshot_free(memscan_snapshot *snap)
{
	if (!snap)
		return;
	ms_filter_rec_release(&snap->sel);
	for (size_t i = 0; i < snap->count; i++)
		ms_snap_region_release(&snap->regions[i]);
	free(snap->regions);
	free(snap);
}

int memscan_snapshot_new(int pid, uint64_t time_ns, memscan_snapshot **ret_snapshot)
{
	int r;

	if (!ret_snapshot)
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_snapshot_new(ret_snapshot);
	if (r == MEMSCAN_OK) {
		(*ret_snapshot)->pid = pid;
		(*ret_snapshot)->time_ns = time_ns;
	}
	return r;
}

int memscan_snapshot_add_region(memscan_snapshot *snap, const memscan_region *region, uint8_t **ret_data)
{
	struct ms_snap_region *sr;
	int r;

	if (!ret_data)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_data = NULL;
	r = ms_snapshot_add_region(snap, region, &sr);
	if (r == MEMSCAN_OK)
		*ret_data = sr->data;
	return r;
}

int memscan_snapshot_add_hole(memscan_snapshot *snap, memscan_range hole)
{
	struct ms_snap_region *sr;

	if (!snap || !snap->count || hole.end <= hole.start)
		return MEMSCAN_ERR_INVALID_ARG;
	sr = &snap->regions[snap->count - 1];
	if (hole.start < sr->region.start || hole.end > sr->region.end ||
	    (sr->holes.count && sr->holes.items[sr->holes.count - 1].end > hole.start))
		return MEMSCAN_ERR_INVALID_ARG;
	memset(sr->data + (hole.start - sr->region.start), 0, (size_t)(hole.end - hole.start));
	return ms_ranges_append(&sr->holes, hole.start, hole.end);
}
