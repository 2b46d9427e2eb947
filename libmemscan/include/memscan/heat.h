/* SPDX-License-Identifier: MIT */
/* libmemscan: change statistics (where and how often memory changes). Included by <memscan/memscan.h>; see it
 * for the conventions. */
#ifndef MEMSCAN_API_HEAT_H
#define MEMSCAN_API_HEAT_H

#include <memscan/memscan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Change statistics: where and how often memory changes over a watch
 * ------------------------------------------------------------------------------------------- */

/* Counts, per cell of memory (CELL_SIZE bytes aligned to a multiple of it), in how many samples
 * (diffs, e.g. one per interval of a watch) at least one of its bytes changed, and per region the
 * same for the region. Only counts are kept: memory grows with the cells that change (about 48
 * bytes, plus 4 per time bin, each), never with the target's size, up to MAX_CELLS. */
typedef struct memscan_heat memscan_heat;

/* Default most cells a heat counts, and the most time bins a cell keeps. */
#define MEMSCAN_HEAT_CELLS_DEFAULT ((uint64_t)1 << 20)
#define MEMSCAN_HEAT_BINS_MAX      1024u

typedef struct memscan_heat_options {
	uint64_t cell_size; /* bytes per cell: a power of two up to 1 GiB; 0 = 4096 */
	uint32_t bins;      /* time bins kept per cell (samples counted per bin); 0 = totals only */
	uint64_t max_cells; /* cells that may change before memscan_heat_add returns LIMIT; 0 = the
	                     * default, at most 64 Mi */
} memscan_heat_options;

/* A new, empty heat (OPTIONS NULL = the defaults), released with memscan_heat_free. INVALID_ARG for a
 * cell size that is not a power of two or too large, too many bins or too high a maximum. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_new(const memscan_heat_options *options,
                                                   memscan_heat **ret_heat);
/* Changes the most cells HEAT counts before memscan_heat_add returns LIMIT, to MAX_CELLS: at least the
 * cells it holds (which may then be all it counts) and at most 64 Mi; INVALID_ARG otherwise. A
 * caller that charges the counts to a budget lowers it to what the budget still holds before each
 * part it adds, so that the counts never outgrow the budget (memscan-agent does). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_set_max_cells(memscan_heat *heat, uint64_t max_cells);
/* Counts DIFF as one sample in time bin BIN (< the heat's bins; ignored when it keeps none): every
 * cell and region holding at least one changed byte counts once, and the changed bytes are summed.
 * REGIONS (may be NULL: no per-region counts) is the list DIFF's runs' region_index refers to (for a
 * detector's diffs, the regions it read, sorted by address); a run outside its region is INVALID_ARG.
 * LIMIT when more cells change than the heat's maximum; after a failure the heat holds part of the
 * sample. Appeared and vanished ranges are not counted. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_add(memscan_heat *heat, const memscan_diff *diff,
                                                   const memscan_region_list *regions, uint32_t bin);
/* Counts DIFF into the sample the last memscan_heat_add began, as part of it: a streamed detection's
 * later parts (memscan_diff_stream_next), so that a cell or region changed in several parts counts
 * once for the sample. BIN and REGIONS as for memscan_heat_add (REGIONS the same list). INVALID_ARG
 * before the first sample; LIMIT as memscan_heat_add. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_add_more(memscan_heat *heat, const memscan_diff *diff,
                                                        const memscan_region_list *regions, uint32_t bin);
/* Samples counted; the cell size; time bins per cell; changed bytes summed over every sample. */
MEMSCAN_API uint64_t memscan_heat_samples(const memscan_heat *heat);
MEMSCAN_API uint64_t memscan_heat_cell_size(const memscan_heat *heat);
MEMSCAN_API uint32_t memscan_heat_bins(const memscan_heat *heat);
MEMSCAN_API uint64_t memscan_heat_changed_bytes(const memscan_heat *heat);

/* One cell that changed at least once. */
typedef struct memscan_heat_cell {
	uint64_t address;     /* its first address: a multiple of SIZE */
	uint64_t size;        /* the cell size */
	uint64_t changes;     /* samples in which at least one of its bytes changed */
	uint64_t bytes;       /* changed bytes, summed over the samples */
	size_t region;        /* the heat region (memscan_heat_region_get) of its first change; SIZE_MAX
	                       * when the samples came without regions */
	const uint32_t *bins; /* BINS counts (changes per time bin), owned by the heat: valid until the
	                       * next memscan_heat_add or memscan_heat_free; NULL without bins */
} memscan_heat_cell;

/* Cells that changed at least once. */
MEMSCAN_API size_t memscan_heat_cell_count(const memscan_heat *heat);
/* The cell at INDEX in address order into *RET_CELL. NOT_FOUND past the end; NO_MEMORY if the order
 * cannot be built (it is built on the first call after cells were added, so HEAT is not const: one
 * thread at a time). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_cell_get(memscan_heat *heat, size_t index,
                                                        memscan_heat_cell *ret_cell);

/* One region that changed at least once; the same range with another path is another region. */
typedef struct memscan_heat_region {
	memscan_region region; /* its path is owned by the heat: valid until memscan_heat_free */
	uint64_t changes;      /* samples in which at least one of its bytes changed */
	uint64_t bytes;        /* changed bytes, summed over the samples */
	uint64_t cells;        /* cells counted in it */
} memscan_heat_region;

MEMSCAN_API size_t memscan_heat_region_count(const memscan_heat *heat);
/* The region at INDEX, in the order regions first changed. NOT_FOUND past the end. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_heat_region_get(const memscan_heat *heat, size_t index,
                                                          memscan_heat_region *ret_region);
MEMSCAN_API void memscan_heat_free(memscan_heat *heat);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCAN_API_HEAT_H */
