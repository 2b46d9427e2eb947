/* SPDX-License-Identifier: MIT */
/* Change statistics counted on an agent: its heat's cells and regions received into a cli_stats, which
 * the text, JSON and SVG output then draw exactly as they draw a local heat's. */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* Regions a heat remembers at most (as memscan_heat). */
#define STATS_REGIONS_MAX ((size_t)1 << 17)

struct stats_rx {
	struct cli_stats *s;
	size_t cells_cap, regions_cap, max_cells;
	int err; /* why a callback stopped */
};

/* Makes room for one more of *ITEMS (N held, *CAP allocated, ELEM bytes each, MAX at most). */
static int grow(void **items, size_t *cap, size_t n, size_t elem, size_t max)
{
	size_t next = *cap ? 2 * *cap : 256;
	void *p;

	if (n < *cap)
		return MEMSCAN_OK;
	if (n >= max)
		return MEMSCAN_ERR_LIMIT;
	next = next < max ? next : max;
	p = realloc(*items, next * elem);
	if (!p)
		return MEMSCAN_ERR_NO_MEMORY;
	*items = p;
	*cap = next;
	return MEMSCAN_OK;
}

static int rx_region(void *ctx, const memscan_heat_region *r)
{
	struct stats_rx *rx = ctx;
	struct cli_stats *s = rx->s;
	char *path;

	rx->err =
	    grow((void **)&s->regions, &rx->regions_cap, s->nregions, sizeof(*s->regions), STATS_REGIONS_MAX);
	path = rx->err == MEMSCAN_OK ? strdup(r->region.path ? r->region.path : "") : NULL;
	if (!path) {
		rx->err = rx->err ? rx->err : MEMSCAN_ERR_NO_MEMORY;
		return 1;
	}
	s->regions[s->nregions] = *r;
	s->regions[s->nregions++].region.path = path;
	return 0;
}

static int rx_cell(void *ctx, const memscan_heat_cell *c)
{
	struct stats_rx *rx = ctx;
	struct cli_stats *s = rx->s;
	size_t before = rx->cells_cap;

	rx->err = grow((void **)&s->cells, &rx->cells_cap, s->ncells, sizeof(*s->cells), rx->max_cells);
	if (rx->err == MEMSCAN_OK && s->bins && rx->cells_cap != before) {
		uint32_t *b = realloc(s->bin_store, rx->cells_cap * s->bins * sizeof(*b));
		if (b)
			s->bin_store = b;
		else
			rx->err = MEMSCAN_ERR_NO_MEMORY;
	}
	if (rx->err != MEMSCAN_OK)
		return 1;
	s->cells[s->ncells] = *c;
	s->cells[s->ncells].bins = NULL; /* set once the store stops moving */
	if (s->bins && c->bins)
		memcpy(s->bin_store + s->ncells * s->bins, c->bins, s->bins * sizeof(*c->bins));
	s->ncells++;
	return 0;
}

int cli_stats_collect_remote(struct cli_stats *s, memscan_client *client, const memscan_client_heat *heat,
                             uint64_t elapsed_ms)
{
	struct stats_rx rx = { .s = s, .max_cells = (size_t)heat->max_cells };
	memscan_client_heat_stats st;
	int err;

	memset(s, 0, sizeof(*s));
	s->owns_paths = 1;
	s->bins = heat->bins; /* the client checked that every cell has as many */
	s->cell_size = heat->cell_size;
	s->elapsed_ms = elapsed_ms;
	err = memscan_client_heat_cells(client, heat, rx_region, rx_cell, &rx, &st);
	if (err == MEMSCAN_ERR_STOPPED && rx.err != MEMSCAN_OK)
		err = rx.err;
	for (size_t i = 0; err == MEMSCAN_OK && s->bins && i < s->ncells; i++)
		s->cells[i].bins = s->bin_store + i * s->bins;
	if (err != MEMSCAN_OK) {
		cli_stats_release(s);
		return err;
	}
	s->samples = st.samples;
	s->changed_bytes = st.changed_bytes;
	return MEMSCAN_OK;
}
