/* SPDX-License-Identifier: MIT */
/* Region lists and filters: which regions a filter selects (and clips), and the list that holds them
 * with a pool of their paths. regions.c fills lists from /proc/PID/maps, filesrc.c from a snapshot file. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* At most this many regions in one list (vm.max_map_count can be raised, but not this far). */
#define MS_REGIONS_MAX (1u << 24)

bool memscan_filter_match(const memscan_filter *f, const memscan_region *r)
{
	if (!f)
		return 1;
	if ((r->perms & f->perms) != f->perms)
		return 0;
	if (f->kinds && !(r->kind & f->kinds))
		return 0;
	if (f->path_substr && f->path_substr[0] && !strstr(r->path, f->path_substr))
		return 0;
	if (f->max_size && r->end - r->start > f->max_size)
		return 0;
	return 1;
}

/* Applies the filter's range to R: 0 = keep (clipped), -1 = outside. */
int ms_filter_clip(const memscan_filter *f, memscan_region *r)
{
	if (!f || f->range_end <= f->range_start)
		return 0;
	if (r->end <= f->range_start || r->start >= f->range_end)
		return -1;
	if (r->start < f->range_start)
		r->start = f->range_start;
	if (r->end > f->range_end)
		r->end = f->range_end;
	return 0;
}

int memscan_region_list_new(memscan_region_list **ret_list)
{
	if (!ret_list)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_list = calloc(1, sizeof(**ret_list));
	return *ret_list ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

int memscan_region_list_add(memscan_region_list *list, const memscan_region *region)
{
	char *path;

	if (!list || !region || region->end <= region->start)
		return MEMSCAN_ERR_INVALID_ARG;
	if (list->count == list->capacity) {
		/* the paths follow the regions' capacity (at least as many) */
		size_t cap = list->capacity, paths_cap = list->capacity;
		int r = ms_grow(&list->items, &cap, list->count + 1, sizeof(*list->items), MS_REGIONS_MAX);

		if (r == 0)
			r = ms_grow(&list->paths, &paths_cap, cap, sizeof(*list->paths), MS_REGIONS_MAX);
		if (r != 0)
			return r;
		list->capacity = cap;
		/* items moved: re-point the paths */
		for (size_t i = 0; i < list->count; i++)
			list->items[i].path = list->paths[i];
	}
	path = ms_strdup(region->path);
	if (!path)
		return MEMSCAN_ERR_NO_MEMORY;
	list->items[list->count] = *region;
	list->items[list->count].path = path;
	list->paths[list->count] = path;
	list->count++;
	return MEMSCAN_OK;
}

size_t memscan_region_list_count(const memscan_region_list *list)
{
	return list ? list->count : 0;
}

const memscan_region *memscan_region_list_get(const memscan_region_list *list, size_t index)
{
	if (!list || index >= list->count)
		return NULL;
	return &list->items[index];
}

size_t memscan_region_list_find(const memscan_region_list *list, uint64_t addr)
{
	return list ? ms_span_find(list->items, list->count, sizeof(memscan_region), addr) : SIZE_MAX;
}

uint64_t memscan_region_list_bytes(const memscan_region_list *list)
{
	uint64_t total = 0;

	for (size_t i = 0; list && i < list->count; i++)
		total += list->items[i].end - list->items[i].start;
	return total;
}

void memscan_region_list_free(memscan_region_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->paths[i]);
	free(list->paths);
	free(list->items);
	free(list);
}
