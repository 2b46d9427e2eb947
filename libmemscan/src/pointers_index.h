/* SPDX-License-Identifier: MIT */
/* The pointer index's layout, shared by its builder (pointers.c) and the search (pointers_search.c). */
#ifndef MEMSCAN_POINTERS_INDEX_H
#define MEMSCAN_POINTERS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Targets are numbered by position in the snapshot's concatenated regions ("pos") and grouped in
 * buckets of 256 positions: an entry holds the target's position inside its bucket (high 32 bits) and
 * the holder's word number (position / 8, low 32 bits). A bucket's entries are in holder order (not
 * sorted by target: a query reads its few buckets whole). */
#define PTR_BUCKET_SHIFT 8
#define PTR_BUCKET_MASK  ((UINT64_C(1) << PTR_BUCKET_SHIFT) - 1)

/* Words a worker of the index's build goes through between two looks at the caller's cancel hook and
 * two progress counts: 4 MiB, a few milliseconds at memory speed. */
#define PTR_CHUNK_WORDS ((uint64_t)512 << 10)
/* Buckets the build places (each with every worker's count of it) between two looks at the cancel
 * hook: a few milliseconds with the most workers. */
#define PTR_PLACE_CHECK_EVERY ((size_t)1 << 16)

/* Index entries the search goes through while it prepares between two looks at the cancel hook. */
#define PTR_SETUP_CHECK_EVERY ((uint64_t)1 << 20)

/* A region of the indexed snapshot; starts with start and end, so ms_span_find finds one. */
struct ptr_ireg {
	uint64_t start, end;
	uint64_t pos; /* position of START */
	const uint8_t *data;
};

struct memscan_pointer_index {
	const memscan_snapshot *snap;
	struct ptr_ireg *regs;
	size_t nregs;
	uint64_t total; /* bytes of the snapshot's regions */
	size_t nbuckets;
	uint64_t *bucket;  /* nbuckets + 1 starts into entries */
	uint64_t *entries; /* by bucket, each in holder order */
	uint64_t count;
	uint64_t bytes; /* memory of the index */
};

/* The region holding ADDR, or SIZE_MAX. */
size_t ptr_index_region(const memscan_pointer_index *idx, uint64_t addr);
/* The address at position POS (< total). */
uint64_t ptr_index_addr(const memscan_pointer_index *idx, uint64_t pos);

#endif /* MEMSCAN_POINTERS_INDEX_H */
