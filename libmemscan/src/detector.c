/* SPDX-License-Identifier: MIT */
/* ChangeDetector: a baseline snapshot, a reused current snapshot, and their diff. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct memscan_detector {
	memscan_snapshot *baseline;
	memscan_snapshot *current; /* what detect_changes read last; its buffers are reused */
	int current_fresh;         /* current was read by the last detect_changes and nothing since */
};

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

int memscan_detector_detect_changes(memscan_detector *det, memscan_process *proc,
                                    const memscan_region_list *regions, memscan_diff **ret_diff)
{
	int r;

	if (ret_diff)
		*ret_diff = NULL;
	if (!det || !proc || !ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->baseline)
		return MEMSCAN_ERR_NOT_FOUND; /* initialize first */
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
