/* SPDX-License-Identifier: MIT */
/* MappedMemory and MemoryMapper: local buffers that mirror remote regions, refreshed in place. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Largest number of mappings one mapper holds (each is at least one page). */
#define MS_MAPPER_MAX (1u << 24)

struct memscan_mapped {
	memscan_region region;
	char *path;
	uint8_t *data;
	uint8_t *spare; /* second buffer of the same size, kept for refreshes (no new page faults) */
	size_t size;
	memscan_ranges holes;
};

struct memscan_mapper {
	memscan_mapped **items;
	size_t count;
	size_t capacity;
};

/* Reads the region into M's buffer; holes replace the previous ones only on success. */
static int mapped_fill(memscan_mapped *m, memscan_process *proc, uint8_t *dst)
{
	memscan_ranges holes = { 0 };
	struct ms_read_req req = { .addr = m->region.start,
		                   .buf = dst,
		                   .len = m->size,
		                   .holes = &holes,
		                   .absent_zero = ms_region_absent_zero(&m->region) };
	int r;

	ms_process_prepare_absent(proc);
	r = ms_read_batch(proc, &req, 1);
	if (r == MEMSCAN_OK && req.hole_bytes == m->size)
		r = MEMSCAN_ERR_UNREADABLE;
	if (r != MEMSCAN_OK) {
		memscan_ranges_release(&holes);
		return r;
	}
	memscan_ranges_release(&m->holes);
	m->holes = holes;
	return MEMSCAN_OK;
}

int memscan_mapped_new(memscan_process *proc, const memscan_region *region, memscan_mapped **ret_mapped)
{
	memscan_mapped *m;
	int r;

	if (ret_mapped)
		*ret_mapped = NULL;
	if (!proc || !region || !ret_mapped || region->end <= region->start ||
	    region->end - region->start > SIZE_MAX / 2)
		return MEMSCAN_ERR_INVALID_ARG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return MEMSCAN_ERR_NO_MEMORY;
	m->region = *region;
	m->path = ms_strdup(region->path);
	m->size = (size_t)(region->end - region->start);
	m->data = ms_buf_alloc(m->size);
	if (!m->path || !m->data) {
		r = MEMSCAN_ERR_NO_MEMORY;
		goto fail;
	}
	m->region.path = m->path;
	r = mapped_fill(m, proc, m->data);
	if (r != MEMSCAN_OK)
		goto fail;
	*ret_mapped = m;
	return MEMSCAN_OK;
fail:
	memscan_mapped_free(m);
	return r;
}

int memscan_mapped_refresh(memscan_mapped *m, memscan_process *proc)
{
	uint8_t *fresh;
	int r;

	if (!m || !proc)
		return MEMSCAN_ERR_INVALID_ARG;
	/* read into the spare buffer, so that a failure keeps the previous contents */
	if (!m->spare)
		m->spare = ms_buf_alloc(m->size);
	if (!m->spare)
		return MEMSCAN_ERR_NO_MEMORY;
	r = mapped_fill(m, proc, m->spare);
	if (r == MEMSCAN_OK) {
		fresh = m->spare;
		m->spare = m->data;
		m->data = fresh;
	}
	return r;
}

const uint8_t *memscan_mapped_data(const memscan_mapped *m)
{
	return m ? m->data : NULL;
}

uint64_t memscan_mapped_address(const memscan_mapped *m)
{
	return m ? m->region.start : 0;
}

size_t memscan_mapped_size(const memscan_mapped *m)
{
	return m ? m->size : 0;
}

const memscan_region *memscan_mapped_region(const memscan_mapped *m)
{
	return m ? &m->region : NULL;
}

const memscan_ranges *memscan_mapped_holes(const memscan_mapped *m)
{
	return m ? &m->holes : NULL;
}

void memscan_mapped_free(memscan_mapped *m)
{
	if (!m)
		return;
	ms_buf_free(m->data, m->size);
	ms_buf_free(m->spare, m->size);
	memscan_ranges_release(&m->holes);
	free(m->path);
	free(m);
}

int memscan_mapper_new(memscan_mapper **ret_mapper)
{
	if (!ret_mapper)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_mapper = calloc(1, sizeof(**ret_mapper));
	return *ret_mapper ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

int memscan_mapper_map_region(memscan_mapper *mapper, memscan_process *proc, const memscan_region *region,
                              size_t *ret_index)
{
	memscan_mapped *m;
	int r;

	if (!mapper || !ret_index)
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_grow(&mapper->items, &mapper->capacity, mapper->count + 1, sizeof(*mapper->items),
	            MS_MAPPER_MAX);
	if (r != 0)
		return r;
	r = memscan_mapped_new(proc, region, &m);
	if (r != MEMSCAN_OK)
		return r;
	mapper->items[mapper->count] = m;
	*ret_index = mapper->count++;
	return MEMSCAN_OK;
}

const memscan_mapped *memscan_mapper_get(const memscan_mapper *mapper, size_t index)
{
	if (!mapper || index >= mapper->count)
		return NULL;
	return mapper->items[index];
}

size_t memscan_mapper_len(const memscan_mapper *mapper)
{
	return mapper ? mapper->count : 0;
}

bool memscan_mapper_is_empty(const memscan_mapper *mapper)
{
	return memscan_mapper_len(mapper) == 0;
}

void memscan_mapper_clear(memscan_mapper *mapper)
{
	if (!mapper)
		return;
	for (size_t i = 0; i < mapper->count; i++)
		memscan_mapped_free(mapper->items[i]);
	mapper->count = 0;
}

void memscan_mapper_free(memscan_mapper *mapper)
{
	if (!mapper)
		return;
	memscan_mapper_clear(mapper);
	free(mapper->items);
	free(mapper);
}
