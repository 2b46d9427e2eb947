/* SPDX-License-Identifier: MIT */
/* The heatmap picture: an SVG of address cells (rows, grouped by region, labelled with addresses and
 * region names) by time (columns of samples), each coloured by how often it changed, with a legend. */
#include "svg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "progress.h"

#define LEFT     190 /* room for the address labels */
#define TOP      78  /* title and legend */
#define ROW_H    12
#define HEAD_H   18 /* a region's header line */
#define RIGHT    70 /* the per-row totals */
#define AXIS_H   40
#define GRID_W   840
#define COL_MIN  4
#define COL_MAX  40
#define EMPTY_BG "#eeeeee"

/* Light to dark: a sequential scale that stays readable in grey. */
static const char *const step_colour[SVG_STEPS] = { "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404" };

/* The step (1..SVG_STEPS) of COUNT changes when the hottest bin counts MAX. */
static unsigned step_of(uint64_t count, uint64_t max)
{
	uint64_t s = (count * SVG_STEPS + max - 1) / max;

	return s < 1 ? 1 : s > SVG_STEPS ? SVG_STEPS : (unsigned)s;
}

/* Text for XML: printable ASCII, with markup characters escaped; anything else becomes '?'. */
static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			fputs("&amp;", out);
		else if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else
			fputc(c >= 0x20 && c < 0x7f ? c : '?', out);
	}
}

struct layout {
	const struct cli_stats *s;
	const memscan_heat_cell **rows;
	size_t nrows, nheads;
	uint32_t bins;
	unsigned col_w;
	uint64_t max_bin;
};

static uint64_t region_start(const struct cli_stats *s, const memscan_heat_cell *c)
{
	return c->region < s->nregions ? s->regions[c->region].region.start : 0;
}

static int by_region_address(const void *a, const void *b, void *ctx)
{
	const memscan_heat_cell *x = *(const memscan_heat_cell *const *)a,
	                        *y = *(const memscan_heat_cell *const *)b;
	uint64_t rx = region_start(ctx, x), ry = region_start(ctx, y);

	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	return (x->address > y->address) - (x->address < y->address);
}

static int by_changes(const void *a, const void *b)
{
	const memscan_heat_cell *x = *(const memscan_heat_cell *const *)a,
	                        *y = *(const memscan_heat_cell *const *)b;

	if (x->changes != y->changes)
		return x->changes > y->changes ? -1 : 1;
	return (x->address > y->address) - (x->address < y->address);
}

/* The rows to draw: every cell, or the SVG_ROWS_MAX hottest; grouped by region, in address order. */
static int layout_rows(struct layout *l, const struct cli_stats *s)
{
	memset(l, 0, sizeof(*l));
	l->s = s;
	l->bins = s->bins;
	l->rows = calloc(s->ncells ? s->ncells : 1, sizeof(*l->rows));
	if (!l->rows)
		return CLI_FAIL;
	for (size_t i = 0; i < s->ncells; i++)
		l->rows[i] = &s->cells[i];
	l->nrows = s->ncells;
	if (l->nrows > SVG_ROWS_MAX) {
		qsort(l->rows, l->nrows, sizeof(*l->rows), by_changes);
		l->nrows = SVG_ROWS_MAX;
	}
	qsort_r(l->rows, l->nrows, sizeof(*l->rows), by_region_address, (void *)s);
	for (size_t i = 0; i < l->nrows; i++) {
		if (i == 0 || l->rows[i]->region != l->rows[i - 1]->region)
			l->nheads++;
		for (uint32_t b = 0; b < l->bins; b++)
			if (l->rows[i]->bins[b] > l->max_bin)
				l->max_bin = l->rows[i]->bins[b];
	}
	l->col_w = l->bins ? GRID_W / l->bins : COL_MAX;
	l->col_w = l->col_w < COL_MIN ? COL_MIN : l->col_w > COL_MAX ? COL_MAX : l->col_w;
	return CLI_OK;
}

static void write_title(FILE *out, const struct layout *l, const struct svg_heatmap_info *info)
{
	char cell[32];

	fprintf(out,
	        "<text id=\"title\" x=\"8\" y=\"20\" font-size=\"15\" font-weight=\"bold\">memscan heatmap "
	        "of PID %d"
	        "</text>\n",
	        info->pid);
	fprintf(out,
	        "<text x=\"8\" y=\"38\">%" PRIu64 " samples, one every %" PRIu64
	        " ms; cells of %s; %zu cells changed",
	        l->s->samples, info->interval_ms, cli_human_size(l->s->cell_size, cell, sizeof(cell)),
	        l->s->ncells);
	if (l->s->ncells > l->nrows)
		fprintf(out, " (the %zu hottest drawn)", l->nrows);
	fputs("</text>\n", out);
}

/* The colour scale: one swatch per step, labelled with the changes per time column it stands for. */
static void write_legend(FILE *out, const struct layout *l)
{
	uint64_t max = l->max_bin ? l->max_bin : 1;

	fprintf(out, "<g id=\"legend\"><text x=\"8\" y=\"62\">changes per column:</text>\n");
	fprintf(out,
	        "<rect id=\"legend-0\" x=\"140\" y=\"50\" width=\"36\" height=\"16\" fill=\"%s\"/>"
	        "<text x=\"158\" y=\"62\" text-anchor=\"middle\">0</text>\n",
	        EMPTY_BG);
	for (unsigned k = 1; k <= SVG_STEPS; k++) {
		uint64_t lo = (k - 1) * max / SVG_STEPS + 1, hi = k * max / SVG_STEPS;
		unsigned x = 140 + 44 * k;

		fprintf(out,
		        "<rect id=\"legend-%u\" x=\"%u\" y=\"50\" width=\"36\" height=\"16\" fill=\"%s\"/>",
		        k, x, step_colour[k - 1]);
		if (lo < hi)
			fprintf(out,
			        "<text x=\"%u\" y=\"78\" text-anchor=\"middle\">%" PRIu64 "-%" PRIu64
			        "</text>\n",
			        x + 18, lo, hi);
		else if (lo == hi)
			fprintf(out, "<text x=\"%u\" y=\"78\" text-anchor=\"middle\">%" PRIu64 "</text>\n",
			        x + 18, hi);
		else
			fputc('\n', out);
	}
	fputs("</g>\n", out);
}

static void write_region_head(FILE *out, const struct layout *l, const memscan_heat_cell *c, unsigned y)
{
	char name[512], perms[5] = "----";

	fprintf(out, "<text class=\"region\" x=\"8\" y=\"%u\" font-weight=\"bold\">", y + 13);
	if (c->region < l->s->nregions) {
		const memscan_region *r = &l->s->regions[c->region].region;
		memscan_perms_format(r->perms, perms);
		cli_stats_region_name(r, name, sizeof(name));
		fprintf(out, "0x%" PRIx64 "-0x%" PRIx64 " %s ", r->start, r->end, perms);
		xml_text(out, name);
	}
	fputs("</text>\n", out);
}

static void write_row(FILE *out, const struct layout *l, const memscan_heat_cell *c, unsigned y)
{
	fprintf(out, "<text class=\"addr\" x=\"%u\" y=\"%u\" text-anchor=\"end\">0x%" PRIx64 "</text>",
	        LEFT - 6, y + ROW_H - 2, c->address);
	fprintf(out, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\"/>\n", LEFT, y,
	        l->col_w * l->bins, ROW_H - 1, EMPTY_BG);
	for (uint32_t b = 0; b < l->bins; b++) {
		if (!c->bins[b])
			continue;
		fprintf(out,
		        "<rect class=\"cell\" x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\" "
		        "data-address=\"0x%" PRIx64 "\" data-bin=\"%u\" data-changes=\"%" PRIu32 "\"/>\n",
		        LEFT + b * l->col_w, y, l->col_w, ROW_H - 1,
		        step_colour[step_of(c->bins[b], l->max_bin) - 1], c->address, b, c->bins[b]);
	}
	fprintf(out, "<text class=\"total\" x=\"%u\" y=\"%u\">%" PRIu64 "</text>\n",
	        LEFT + l->col_w * l->bins + 6, y + ROW_H - 2, c->changes);
}

/* Seconds at the start of a few columns, under the grid. */
static void write_axis(FILE *out, const struct layout *l, const struct svg_heatmap_info *info, unsigned y)
{
	uint32_t every = l->bins > 8 ? (l->bins + 7) / 8 : 1;

	fprintf(out, "<g id=\"time-axis\">");
	for (uint32_t b = 0; b <= l->bins; b += every) {
		double t = (double)b * (double)info->samples_per_bin * (double)info->interval_ms / 1000.0;
		fprintf(out, "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\">%.1f s</text>",
		        LEFT + b * l->col_w, y + 14, t);
	}
	fprintf(out, "<text x=\"%u\" y=\"%u\">time</text></g>\n", LEFT + l->col_w * l->bins + 6, y + 14);
}

static void write_body(FILE *out, const struct layout *l, const struct svg_heatmap_info *info)
{
	unsigned y = TOP + 8;

	for (size_t i = 0; i < l->nrows; i++) {
		if (i == 0 || l->rows[i]->region != l->rows[i - 1]->region) {
			write_region_head(out, l, l->rows[i], y);
			y += HEAD_H;
		}
		write_row(out, l, l->rows[i], y);
		y += ROW_H;
	}
	if (!l->nrows)
		fprintf(out, "<text x=\"8\" y=\"%u\">no cell changed</text>\n", (y += HEAD_H) - 4);
	write_axis(out, l, info, y);
}

int svg_heatmap_write(FILE *out, const struct cli_stats *s, const struct svg_heatmap_info *info)
{
	struct layout l;
	unsigned w, h;

	if (layout_rows(&l, s) != CLI_OK)
		return CLI_FAIL;
	w = LEFT + l.col_w * l.bins + RIGHT;
	w = w < 560 ? 560 : w;
	h = TOP + 8 + (unsigned)(l.nheads * HEAD_H + l.nrows * ROW_H) + (l.nrows ? 0 : HEAD_H) + AXIS_H;
	fprintf(out,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
	        "font-family=\"monospace\" font-size=\"11\">\n"
	        "<rect id=\"background\" width=\"%u\" height=\"%u\" fill=\"#ffffff\"/>\n",
	        w, h, w, h, w, h);
	write_title(out, &l, info);
	write_legend(out, &l);
	write_body(out, &l, info);
	fputs("</svg>\n", out);
	free(l.rows);
	return CLI_OK;
}
