/* SPDX-License-Identifier: MIT */
/* The heatmap picture: an SVG of cells (rows, grouped by region) by time, coloured by changes. */
#ifndef MEMSCAN_CLI_SVG_H
#define MEMSCAN_CLI_SVG_H

#include <stdio.h>

#include "stats.h"

/* Most cell rows drawn: past it the hottest cells are drawn and a note counts the others. */
#define SVG_ROWS_MAX 400

/* Colour steps of the scale (legend swatches ids legend-1 .. legend-SVG_STEPS, hottest last). */
#define SVG_STEPS 5

struct svg_heatmap_info {
	int pid;
	uint64_t interval_ms;     /* between samples */
	uint64_t samples_per_bin; /* samples a time column counts */
};

/* Writes the heatmap of S (its heat kept time bins) to OUT. Every cell rect carries data-address,
 * data-bin and data-changes attributes, so tools can read the picture back. CLI_OK, or CLI_FAIL when
 * out of memory. */
int svg_heatmap_write(FILE *out, const struct cli_stats *s, const struct svg_heatmap_info *info);

#endif /* MEMSCAN_CLI_SVG_H */
