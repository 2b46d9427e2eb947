/* SPDX-License-Identifier: MIT */
/* Address ranges (memscan_ranges): the public type holes, appeared and vanished regions come in. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void memscan_ranges_clear(memscan_ranges *ranges)
{
	if (ranges)
		ranges->count = 0;
}

void memscan_ranges_release(memscan_ranges *ranges)
{
	if (!ranges)
		return;
	free(ranges->items);
	memset(ranges, 0, sizeof(*ranges));
}

uint64_t memscan_ranges_bytes(const memscan_ranges *ranges)
{
	uint64_t total = 0;

	for (size_t i = 0; ranges && i < ranges->count; i++)
		total += ranges->items[i].end - ranges->items[i].start;
	return total;
}

int ms_ranges_append(memscan_ranges *ranges, uint64_t start, uint64_t end)
{
	if (ranges->count && ranges->items[ranges->count - 1].end == start) {
		ranges->items[ranges->count - 1].end = end;
		return MEMSCAN_OK;
	}
	return ms_ranges_push(ranges, start, end);
}

/* Ranges in one list: the ranges describe parts of one address space at least a page apart (holes,
 * appeared and vanished memory), so there are never more than one per page of the largest. */
#define MS_RANGES_MAX (MS_ADDRESS_SPACE_MAX / 4096)

/* Holes per read: a range of this many unreadable pages is still reported exactly; the array
 * grows with the holes found, at most one entry per page read. */
int ms_ranges_push(memscan_ranges *ranges, uint64_t start, uint64_t end)
{
	int r = ms_grow(&ranges->items, &ranges->capacity, ranges->count + 1, sizeof(*ranges->items),
	                MS_RANGES_MAX);

	if (r != MEMSCAN_OK)
		return r;
	ranges->items[ranges->count].start = start;
	ranges->items[ranges->count].end = end;
	ranges->count++;
	return MEMSCAN_OK;
}

int ms_ranges_copy(memscan_ranges *dst, const memscan_ranges *src)
{
	int r = MEMSCAN_OK;

	dst->count = 0;
	for (size_t i = 0; r == MEMSCAN_OK && i < src->count; i++)
		r = ms_ranges_append(dst, src->items[i].start, src->items[i].end);
	return r;
}

int memscan_ranges_add(memscan_ranges *ranges, uint64_t start, uint64_t end)
{
	if (!ranges || end < start || (ranges->count && start < ranges->items[ranges->count - 1].end))
		return MEMSCAN_ERR_INVALID_ARG;
	if (end == start)
		return MEMSCAN_OK;
	return ms_ranges_append(ranges, start, end);
}

size_t ms_span_find(const void *items, size_t count, size_t stride, uint64_t addr)
{
	const uint8_t *base = items;
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		memscan_range r; /* copied, not aliased: the items may be regions */

		memcpy(&r, base + mid * stride, sizeof(r));
		if (addr < r.start)
			hi = mid;
		else if (addr >= r.end)
			lo = mid + 1;
		else
			return mid;
	}
	return SIZE_MAX;
}

bool memscan_ranges_contains(const memscan_ranges *ranges, uint64_t addr)
{
	return ranges && ms_span_find(ranges->items, ranges->count, sizeof(memscan_range), addr) != SIZE_MAX;
}
