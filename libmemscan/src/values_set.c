/* SPDX-License-Identifier: MIT */
/* Value sets: what a set is (its count, type, width, process) and its release; scans and narrowing
 * (values.c, values_par.c) make them. */
#include <stdlib.h>

#include "internal.h"
#include "values.h"

void memscan_value_set_free(memscan_value_set *set)
{
	if (!set)
		return;
	memscan_region_list_free(set->regions);
	memscan_snapshot_free(set->snap);
	free(set->addr);
	free(set->cur);
	free(set->old);
	free(set);
}

uint64_t memscan_value_set_count(const memscan_value_set *set)
{
	return set ? set->count : 0;
}

memscan_value_type memscan_value_set_type(const memscan_value_set *set)
{
	return set ? set->type : 0;
}

size_t memscan_value_set_width(const memscan_value_set *set)
{
	return set ? set->width : 0;
}

bool memscan_value_set_is_unknown(const memscan_value_set *set)
{
	return set && set->snap;
}

int memscan_value_set_pid(const memscan_value_set *set)
{
	return set ? set->pid : 0;
}

uint64_t memscan_value_set_start_time(const memscan_value_set *set)
{
	return set ? set->start_time : 0;
}
