/* SPDX-License-Identifier: MIT */
/* Change statistics: how often each cell of memory changed over a watch, counted from diffs. Only
 * counts are kept (a hash of the cells that changed, per cell a few counters and its time bins), never
 * bytes of the target, so a long watch of a large process costs memory in proportion to the cells
 * that change, bounded by the caller's maximum. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HEAT_CELL_DEFAULT ((uint64_t)4096)
#define HEAT_CELL_MAX     ((uint64_t)1 << 30)
/* Highest maximum of cells a caller may ask for: 64 Mi cells of about 48 bytes (plus bins) each. */
#define HEAT_CELLS_CEILING ((uint64_t)1 << 26)
/* Regions a heat remembers: far more than a process maps in practice (the kernel's default
 * vm.max_map_count is 65530). */
#define HEAT_REGIONS_MAX ((size_t)1 << 17)

struct heat_cell {
	uint64_t index; /* address / cell size */
	uint64_t changes, bytes;
	uint64_t last_sample; /* the sample that last counted it, so a sample counts it once */
	size_t region;
};

struct heat_region {
	memscan_region region;
	char *path;
	uint64_t changes, bytes, cells, last_sample;
};

struct memscan_heat {
	uint64_t cell_size;
	unsigned shift;
	uint32_t bins;
	uint64_t max_cells;
	uint64_t samples, changed;
	struct heat_cell *cells;
	size_t count, cap;
	uint32_t *bin_counts; /* cap * bins: cell i's bins at i * bins */
	size_t bins_cap;
	size_t *slots; /* open addressing: cell number + 1, 0 = empty; a power of two, at most half full */
	size_t nslots;
	size_t *order; /* cells in address order, built when asked (memscan_heat_cell_get) */
	size_t order_n;
	struct heat_region *regions;
	size_t nregions, regions_cap;
	size_t *rslots; /* the regions by start: region number + 1, 0 = empty; at most half full */
	size_t nrslots;
};

int memscan_heat_new(const memscan_heat_options *options, memscan_heat **ret_heat)
{
	memscan_heat_options o = { 0 };
	memscan_heat *h;

	if (!ret_heat)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_heat = NULL;
	if (options)
		o = *options;
	if (!o.cell_size)
		o.cell_size = HEAT_CELL_DEFAULT;
	if (!o.max_cells)
		o.max_cells = MEMSCAN_HEAT_CELLS_DEFAULT;
	if (o.cell_size > HEAT_CELL_MAX || (o.cell_size & (o.cell_size - 1)) ||
	    o.bins > MEMSCAN_HEAT_BINS_MAX || o.max_cells > HEAT_CELLS_CEILING)
		return MEMSCAN_ERR_INVALID_ARG;
	h = calloc(1, sizeof(*h));
	if (!h)
		return MEMSCAN_ERR_NO_MEMORY;
	h->cell_size = o.cell_size;
	while (((uint64_t)1 << h->shift) < o.cell_size)
		h->shift++;
	h->bins = o.bins;
	h->max_cells = o.max_cells;
	*ret_heat = h;
	return MEMSCAN_OK;
}

int memscan_heat_set_max_cells(memscan_heat *h, uint64_t max_cells)
{
	if (!h || max_cells < h->count || max_cells > HEAT_CELLS_CEILING)
		return MEMSCAN_ERR_INVALID_ARG;
	h->max_cells = max_cells;
	return MEMSCAN_OK;
}

void memscan_heat_free(memscan_heat *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nregions; i++)
		free(h->regions[i].path);
	free(h->regions);
	free(h->rslots);
	free(h->cells);
	free(h->bin_counts);
	free(h->slots);
	free(h->order);
	free(h);
}

/* Slot of KEY in a table of N slots (a power of two). */
static size_t hash_slot(uint64_t key, size_t n)
{
	uint64_t x = key * 0x9E3779B97F4A7C15ull;

	return (size_t)(x ^ (x >> 29)) & (n - 1);
}

static size_t slot_of(const memscan_heat *h, uint64_t index)
{
	return hash_slot(index, h->nslots);
}

/* Doubles the hash table and puts every cell back. */
static int heat_rehash(memscan_heat *h)
{
	size_t n = h->nslots ? 2 * h->nslots : 1024;
	size_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return MEMSCAN_ERR_NO_MEMORY;
	free(h->slots);
	h->slots = slots;
	h->nslots = n;
	for (size_t i = 0; i < h->count; i++) {
		size_t s = slot_of(h, h->cells[i].index);
		while (h->slots[s])
			s = (s + 1) & (n - 1);
		h->slots[s] = i + 1;
	}
	return MEMSCAN_OK;
}

/* Makes room for one more cell: its entry, its bins and a hash table at most half full. */
static int heat_reserve(memscan_heat *h)
{
	int r = MEMSCAN_OK;

	if (h->count >= h->max_cells)
		return MEMSCAN_ERR_LIMIT;
	if (h->count + 1 > h->nslots / 2)
		r = heat_rehash(h);
	if (r == MEMSCAN_OK)
		r = ms_grow(&h->cells, &h->cap, h->count + 1, sizeof(*h->cells), (size_t)h->max_cells);
	if (r == MEMSCAN_OK && h->bins) {
		size_t before = h->bins_cap;
		r = ms_grow(&h->bin_counts, &h->bins_cap, (h->count + 1) * h->bins, sizeof(uint32_t),
		            (size_t)h->max_cells * h->bins);
		if (r == MEMSCAN_OK)
			memset(h->bin_counts + before, 0, (h->bins_cap - before) * sizeof(uint32_t));
	}
	return r;
}

/* The cell numbered INDEX, added (counting nothing yet) when new. */
static int heat_cell(memscan_heat *h, uint64_t index, size_t region, struct heat_cell **ret)
{
	size_t s;
	int r;

	if (h->nslots) {
		for (s = slot_of(h, index); h->slots[s]; s = (s + 1) & (h->nslots - 1))
			if (h->cells[h->slots[s] - 1].index == index) {
				*ret = &h->cells[h->slots[s] - 1];
				return MEMSCAN_OK;
			}
	}
	r = heat_reserve(h);
	if (r != MEMSCAN_OK)
		return r;
	for (s = slot_of(h, index); h->slots[s]; s = (s + 1) & (h->nslots - 1))
		;
	h->slots[s] = h->count + 1;
	h->cells[h->count] = (struct heat_cell){ .index = index, .region = region };
	if (region != SIZE_MAX)
		h->regions[region].cells++;
	h->order_n = 0; /* the address order is built again when next asked */
	*ret = &h->cells[h->count++];
	return MEMSCAN_OK;
}

/* Puts heat region I into the table by its start (a free slot is there: the table is at most half
 * full). */
static void region_slot_put(memscan_heat *h, size_t i)
{
	size_t s = hash_slot(h->regions[i].region.start, h->nrslots);

	while (h->rslots[s])
		s = (s + 1) & (h->nrslots - 1);
	h->rslots[s] = i + 1;
}

/* Makes the region table room for one more region (doubling it, every region put back). A process
 * may map tens of thousands of regions: looking each up in a list made a sample quadratic in them. */
static int region_slots_reserve(memscan_heat *h)
{
	size_t n = h->nrslots ? 2 * h->nrslots : 64, *slots;

	if (h->nregions + 1 <= h->nrslots / 2)
		return MEMSCAN_OK;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return MEMSCAN_ERR_NO_MEMORY;
	free(h->rslots);
	h->rslots = slots;
	h->nrslots = n;
	for (size_t i = 0; i < h->nregions; i++)
		region_slot_put(h, i);
	return MEMSCAN_OK;
}

/* The heat region for REGION (the same start, end and path), added when new. */
static int heat_region(memscan_heat *h, const memscan_region *region, size_t *ret)
{
	struct heat_region *hr;
	int r;

	for (size_t s = h->nrslots ? hash_slot(region->start, h->nrslots) : 0; h->nrslots && h->rslots[s];
	     s = (s + 1) & (h->nrslots - 1)) {
		hr = &h->regions[h->rslots[s] - 1];
		if (hr->region.start == region->start && hr->region.end == region->end &&
		    !strcmp(hr->path, region->path)) {
			*ret = h->rslots[s] - 1;
			return MEMSCAN_OK;
		}
	}
	r = region_slots_reserve(h);
	if (r == MEMSCAN_OK)
		r = ms_grow(&h->regions, &h->regions_cap, h->nregions + 1, sizeof(*h->regions),
		            HEAT_REGIONS_MAX);
	if (r != MEMSCAN_OK)
		return r;
	hr = &h->regions[h->nregions];
	*hr = (struct heat_region){ .region = *region, .path = ms_strdup(region->path) };
	if (!hr->path)
		return MEMSCAN_ERR_NO_MEMORY;
	hr->region.path = hr->path;
	region_slot_put(h, h->nregions);
	*ret = h->nregions++;
	return MEMSCAN_OK;
}

/* Counts the LEN changed bytes at ADDR (inside heat region REGION, or SIZE_MAX) in bin BIN. */
static int heat_count(memscan_heat *h, uint64_t addr, uint64_t len, size_t region, uint32_t bin)
{
	uint64_t first = addr >> h->shift, last = (addr + len - 1) >> h->shift;

	for (uint64_t i = first; i <= last; i++) {
		/* the cell's last byte, not the one after it: the top cell of the address space ends at 2^64
		 */
		uint64_t lo = i << h->shift, hi = lo + (h->cell_size - 1), end = addr + (len - 1);
		struct heat_cell *c;
		int r = heat_cell(h, i, region, &c);

		if (r != MEMSCAN_OK)
			return r;
		c->bytes += (hi < end ? hi : end) - (lo > addr ? lo : addr) + 1;
		if (c->last_sample == h->samples)
			continue;
		c->last_sample = h->samples;
		c->changes++;
		if (h->bins && h->bin_counts[(size_t)(c - h->cells) * h->bins + bin] < UINT32_MAX)
			h->bin_counts[(size_t)(c - h->cells) * h->bins + bin]++;
	}
	return MEMSCAN_OK;
}

/* Counts one run of the sample, with its region's totals. MAP caches heat regions by list index. */
static int heat_run(memscan_heat *h, const memscan_change_run *run, const memscan_region_list *regions,
                    size_t *map, uint32_t bin)
{
	size_t hr = SIZE_MAX;
	int r;

	if (regions) {
		const memscan_region *reg = memscan_region_list_get(regions, run->region_index);
		if (!reg || run->address < reg->start || run->address + run->length > reg->end)
			return MEMSCAN_ERR_INVALID_ARG;
		if (map[run->region_index] == SIZE_MAX) {
			r = heat_region(h, reg, &map[run->region_index]);
			if (r != MEMSCAN_OK)
				return r;
		}
		hr = map[run->region_index];
		h->regions[hr].bytes += run->length;
		if (h->regions[hr].last_sample != h->samples) {
			h->regions[hr].last_sample = h->samples;
			h->regions[hr].changes++;
		}
	}
	h->changed += run->length;
	return heat_count(h, run->address, run->length, hr, bin);
}

/* Counts DIFF in BIN: as a new sample (NEW_SAMPLE), or into the current one. */
static int heat_add(memscan_heat *h, const memscan_diff *diff, const memscan_region_list *regions,
                    uint32_t bin, int new_sample)
{
	size_t n, *map = NULL;
	int r = MEMSCAN_OK;

	if (!h || !diff || (h->bins && bin >= h->bins) || (!new_sample && !h->samples))
		return MEMSCAN_ERR_INVALID_ARG;
	n = regions ? memscan_region_list_count(regions) : 0;
	if (n) {
		map = malloc(n * sizeof(*map));
		if (!map)
			return MEMSCAN_ERR_NO_MEMORY;
		memset(map, 0xff, n * sizeof(*map)); /* SIZE_MAX: not looked up yet */
	}
	if (new_sample)
		h->samples++;
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_diff_run_count(diff); i++) {
		memscan_change_run run = memscan_diff_run(diff, i);
		if (run.length)
			r = heat_run(h, &run, regions, map, bin);
	}
	free(map);
	return r;
}

int memscan_heat_add(memscan_heat *h, const memscan_diff *diff, const memscan_region_list *regions,
                     uint32_t bin)
{
	return heat_add(h, diff, regions, bin, 1);
}

int memscan_heat_add_more(memscan_heat *h, const memscan_diff *diff, const memscan_region_list *regions,
                          uint32_t bin)
{
	return heat_add(h, diff, regions, bin, 0);
}

uint64_t memscan_heat_samples(const memscan_heat *h)
{
	return h ? h->samples : 0;
}

uint64_t memscan_heat_cell_size(const memscan_heat *h)
{
	return h ? h->cell_size : 0;
}

uint32_t memscan_heat_bins(const memscan_heat *h)
{
	return h ? h->bins : 0;
}

uint64_t memscan_heat_changed_bytes(const memscan_heat *h)
{
	return h ? h->changed : 0;
}

size_t memscan_heat_cell_count(const memscan_heat *h)
{
	return h ? h->count : 0;
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
	const struct heat_cell *cells = ctx;
	uint64_t x = cells[*(const size_t *)a].index, y = cells[*(const size_t *)b].index;

	return (x > y) - (x < y);
}

/* The cells' address order (rebuilt after cells were added). */
static int heat_order(memscan_heat *h)
{
	size_t *order;

	if (h->order_n == h->count)
		return MEMSCAN_OK;
	order = realloc(h->order, (h->count ? h->count : 1) * sizeof(*order));
	if (!order)
		return MEMSCAN_ERR_NO_MEMORY;
	h->order = order;
	for (size_t i = 0; i < h->count; i++)
		order[i] = i;
	qsort_r(order, h->count, sizeof(*order), order_cmp, h->cells);
	h->order_n = h->count;
	return MEMSCAN_OK;
}

int memscan_heat_cell_get(memscan_heat *h, size_t index, memscan_heat_cell *ret_cell)
{
	const struct heat_cell *c;
	int r;

	if (!ret_cell)
		return MEMSCAN_ERR_INVALID_ARG;
	memset(ret_cell, 0, sizeof(*ret_cell));
	if (!h)
		return MEMSCAN_ERR_INVALID_ARG;
	if (index >= h->count)
		return MEMSCAN_ERR_NOT_FOUND;
	r = heat_order(h);
	if (r != MEMSCAN_OK)
		return r;
	c = &h->cells[h->order[index]];
	*ret_cell = (memscan_heat_cell){ .address = c->index << h->shift,
		                         .size = h->cell_size,
		                         .changes = c->changes,
		                         .bytes = c->bytes,
		                         .region = c->region,
		                         .bins = h->bins ? h->bin_counts + h->order[index] * h->bins : NULL };
	return MEMSCAN_OK;
}

size_t memscan_heat_region_count(const memscan_heat *h)
{
	return h ? h->nregions : 0;
}

int memscan_heat_region_get(const memscan_heat *h, size_t index, memscan_heat_region *ret_region)
{
	const struct heat_region *hr;

	if (!ret_region)
		return MEMSCAN_ERR_INVALID_ARG;
	memset(ret_region, 0, sizeof(*ret_region));
	if (!h)
		return MEMSCAN_ERR_INVALID_ARG;
	if (index >= h->nregions)
		return MEMSCAN_ERR_NOT_FOUND;
	hr = &h->regions[index];
	*ret_region = (memscan_heat_region){
		.region = hr->region, .changes = hr->changes, .bytes = hr->bytes, .cells = hr->cells
	};
	return MEMSCAN_OK;
}
