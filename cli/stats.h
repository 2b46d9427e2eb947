/* SPDX-License-Identifier: MIT */
/* Change statistics in the CLI: a heat fed from a watch, and its cells and regions printed as text
 * (hottest first) or JSON; shared by heatmap and diff --stats. */
#ifndef MEMSCAN_CLI_STATS_H
#define MEMSCAN_CLI_STATS_H

#include <stdio.h>

#include <memscan/client.h>
#include <memscan/memscan.h>

/* The counts of a heat, counted here (memscan_heat) or on an agent: its totals, its cells in address
 * order and its regions in the order they first changed. What the output below draws from. */
struct cli_stats {
	uint64_t samples, cell_size, changed_bytes;
	uint32_t bins; /* time bins each cell's counts are split into (0: totals only) */
	memscan_heat_cell *cells;
	size_t ncells;
	memscan_heat_region *regions;
	size_t nregions;
	uint64_t elapsed_ms; /* the watch's length, for rates */
	/* received from an agent: S owns the cells' bins and the regions' paths */
	uint32_t *bin_store;
	int owns_paths;
};

/* Fills S from HEAT (whose bins and paths S then refers to). memscan_err. */
int cli_stats_collect(struct cli_stats *s, memscan_heat *heat, uint64_t elapsed_ms);
/* Fills S with the counts of HEAT, kept on CLIENT's agent (S owns what it received). memscan_err. */
int cli_stats_collect_remote(struct cli_stats *s, memscan_client *client, const memscan_client_heat *heat,
                             uint64_t elapsed_ms);
void cli_stats_release(struct cli_stats *s);

/* Text: a summary line, the TOP hottest cells and the hottest regions. */
void cli_stats_print_text(FILE *out, const struct cli_stats *s, size_t top);
/* One JSON object per cell that changed: {"address":"0x..","size":N,"changes":N}. */
void cli_stats_print_cells_json(FILE *out, const struct cli_stats *s);
/* One JSON object {"stats": {samples, seconds, changed_bytes, bytes_per_second, cell_size, regions:
 * [...], hottest: [...]}}. */
void cli_stats_print_json(FILE *out, const struct cli_stats *s, size_t top);
/* "[heap]"-style name of a region: its path, or its kind in brackets. */
void cli_stats_region_name(const memscan_region *r, char *buf, size_t size);

#endif /* MEMSCAN_CLI_STATS_H */
