/* SPDX-License-Identifier: MIT */
/* Change statistics in the CLI: a heat's cells and regions printed as text (hottest first) or JSON. */
#include "stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "progress.h"

int cli_stats_collect(struct cli_stats *s, memscan_heat *heat, uint64_t elapsed_ms)
{
	int err = MEMSCAN_OK;

	memset(s, 0, sizeof(*s));
	s->samples = memscan_heat_samples(heat);
	s->cell_size = memscan_heat_cell_size(heat);
	s->changed_bytes = memscan_heat_changed_bytes(heat);
	s->bins = memscan_heat_bins(heat);
	s->elapsed_ms = elapsed_ms;
	s->ncells = memscan_heat_cell_count(heat);
	s->nregions = memscan_heat_region_count(heat);
	s->cells = calloc(s->ncells ? s->ncells : 1, sizeof(*s->cells));
	s->regions = calloc(s->nregions ? s->nregions : 1, sizeof(*s->regions));
	if (!s->cells || !s->regions)
		err = MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; err == MEMSCAN_OK && i < s->ncells; i++)
		err = memscan_heat_cell_get(heat, i, &s->cells[i]);
	for (size_t i = 0; err == MEMSCAN_OK && i < s->nregions; i++)
		err = memscan_heat_region_get(heat, i, &s->regions[i]);
	if (err != MEMSCAN_OK)
		cli_stats_release(s);
	return err;
}

void cli_stats_release(struct cli_stats *s)
{
	for (size_t i = 0; s->owns_paths && i < s->nregions; i++)
		free((char *)s->regions[i].region.path);
	free(s->bin_store);
	free(s->cells);
	free(s->regions);
	memset(s, 0, sizeof(*s));
}

void cli_stats_region_name(const memscan_region *r, char *buf, size_t size)
{
	if (r->path && r->path[0])
		snprintf(buf, size, "%s", r->path);
	else
		snprintf(buf, size, "[%s]", memscan_kind_name(r->kind));
}

/* Hottest first: more changes, then more bytes, then the lower address (a stable order). */
static int cell_hotter(const void *a, const void *b)
{
	const memscan_heat_cell *x = *(memscan_heat_cell *const *)a, *y = *(memscan_heat_cell *const *)b;

	if (x->changes != y->changes)
		return x->changes > y->changes ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return (x->address > y->address) - (x->address < y->address);
}

static int region_hotter(const void *a, const void *b)
{
	const memscan_heat_region *x = *(memscan_heat_region *const *)a,
	                          *y = *(memscan_heat_region *const *)b;

	if (x->changes != y->changes)
		return x->changes > y->changes ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return (x->region.start > y->region.start) - (x->region.start < y->region.start);
}

/* Pointers to S's first N cells or regions, hottest first (free them); NULL if out of memory. */
static const void **hottest(const void *items, size_t n, size_t elem, int (*cmp)(const void *, const void *))
{
	const void **order = calloc(n ? n : 1, sizeof(*order));

	if (!order)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = (const char *)items + i * elem;
	qsort(order, n, sizeof(*order), cmp);
	return order;
}

static uint64_t per_second(uint64_t bytes, uint64_t ms)
{
	return ms ? (uint64_t)((double)bytes * 1000.0 / (double)ms) : bytes;
}

static const char *cell_region_name(const struct cli_stats *s, const memscan_heat_cell *c, char *buf,
                                    size_t size)
{
	if (c->region < s->nregions)
		cli_stats_region_name(&s->regions[c->region].region, buf, size);
	else
		snprintf(buf, size, "-");
	return buf;
}

static void print_summary(FILE *out, const struct cli_stats *s)
{
	char cell[32], changed[32], rate[32];
	uint64_t bytes = s->changed_bytes;

	fprintf(out,
	        "# %" PRIu64
	        " samples in %.1f s; %zu cells of %s changed in %zu regions; %s changed (%s/s)\n",
	        s->samples, (double)s->elapsed_ms / 1000.0, s->ncells,
	        cli_human_size(s->cell_size, cell, sizeof(cell)), s->nregions,
	        cli_human_size(bytes, changed, sizeof(changed)),
	        cli_human_size(per_second(bytes, s->elapsed_ms), rate, sizeof(rate)));
}

static void print_cells_text(FILE *out, const struct cli_stats *s, size_t top)
{
	const void **order = hottest(s->cells, s->ncells, sizeof(*s->cells), cell_hotter);
	char name[512];

	if (!order)
		return;
	fputs("hottest cells:\n  ADDRESS             CHANGES      BYTES  REGION\n", out);
	for (size_t i = 0; i < s->ncells && i < top; i++) {
		const memscan_heat_cell *c = order[i];
		fprintf(out, "  0x%-16" PRIx64 " %7" PRIu64 " %10" PRIu64 "  ", c->address, c->changes,
		        c->bytes);
		out_text_str(out, cell_region_name(s, c, name, sizeof(name)));
		fputc('\n', out);
	}
	free(order);
}

static void print_regions_text(FILE *out, const struct cli_stats *s, size_t top)
{
	const void **order = hottest(s->regions, s->nregions, sizeof(*s->regions), region_hotter);
	char name[512], perms[5];

	if (!order)
		return;
	fputs("hottest regions:\n  START-END                           PERMS CHANGES   CELLS      BYTES  "
	      "NAME\n",
	      out);
	for (size_t i = 0; i < s->nregions && i < top; i++) {
		const memscan_heat_region *r = order[i];
		memscan_perms_format(r->region.perms, perms);
		fprintf(out, "  %016" PRIx64 "-%016" PRIx64 " %s %7" PRIu64 " %7" PRIu64 " %10" PRIu64 "  ",
		        r->region.start, r->region.end, perms, r->changes, r->cells, r->bytes);
		cli_stats_region_name(&r->region, name, sizeof(name));
		out_text_str(out, name);
		fputc('\n', out);
	}
	free(order);
}

void cli_stats_print_text(FILE *out, const struct cli_stats *s, size_t top)
{
	print_summary(out, s);
	if (s->ncells)
		print_cells_text(out, s, top);
	if (s->nregions)
		print_regions_text(out, s, top);
}

static void cell_json(FILE *out, const memscan_heat_cell *c)
{
	fprintf(out, "{\"address\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"changes\":%" PRIu64 "}",
	        c->address, c->size, c->changes);
}

void cli_stats_print_cells_json(FILE *out, const struct cli_stats *s)
{
	for (size_t i = 0; i < s->ncells; i++) {
		cell_json(out, &s->cells[i]);
		fputc('\n', out);
	}
}

static void region_json(FILE *out, const memscan_heat_region *r)
{
	char perms[5];

	memscan_perms_format(r->region.perms, perms);
	fprintf(out,
	        "{\"start\":\"0x%" PRIx64 "\",\"end\":\"0x%" PRIx64
	        "\",\"perms\":\"%s\",\"kind\":\"%s\",\"path\":",
	        r->region.start, r->region.end, perms, memscan_kind_name(r->region.kind));
	out_json_str(out, r->region.path);
	fprintf(out, ",\"changes\":%" PRIu64 ",\"cells\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", r->changes,
	        r->cells, r->bytes);
}

void cli_stats_print_json(FILE *out, const struct cli_stats *s, size_t top)
{
	const void **cells = hottest(s->cells, s->ncells, sizeof(*s->cells), cell_hotter);
	const void **regions = hottest(s->regions, s->nregions, sizeof(*s->regions), region_hotter);
	uint64_t bytes = s->changed_bytes;

	if (cells && regions) {
		fprintf(out,
		        "{\"stats\":{\"samples\":%" PRIu64 ",\"seconds\":%.3f,\"changed_bytes\":%" PRIu64
		        ",\"bytes_per_second\":%" PRIu64 ",\"cell_size\":%" PRIu64 ",\"regions\":[",
		        s->samples, (double)s->elapsed_ms / 1000.0, bytes, per_second(bytes, s->elapsed_ms),
		        s->cell_size);
		for (size_t i = 0; i < s->nregions; i++) {
			fputs(i ? "," : "", out);
			region_json(out, regions[i]);
		}
		fputs("],\"hottest\":[", out);
		for (size_t i = 0; i < s->ncells && i < top; i++) {
			fputs(i ? "," : "", out);
			cell_json(out, cells[i]);
		}
		fputs("]}}\n", out);
	}
	free(cells);
	free(regions);
}
