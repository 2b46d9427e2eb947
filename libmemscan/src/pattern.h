/* SPDX-License-Identifier: MIT */
/* The parsed byte pattern, shared by pattern.c (parser), match.c (matcher) and scan.c; never installed. */
#ifndef MEMSCAN_PATTERN_H
#define MEMSCAN_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "memscan/memscan.h"

/* Part of the pattern checked in one step by the verifier: a run of fully fixed bytes (compared with
 * memcmp against value[off...]) or one byte with a single fixed nibble (mask 0xF0 or 0x0F). */
struct ms_piece {
	uint16_t off, len; /* inside the pattern; a nibble piece has len 1 */
	uint16_t score;    /* how selective it looks (ms_pattern_score): pieces are checked best first */
	uint8_t mask, value;
};

/* A byte at position i matches when (byte & mask[i]) == value[i]; value[i] has no bit outside
 * mask[i]. */
struct memscan_pattern {
	size_t len;         /* 1 ... MEMSCAN_PATTERN_MAX */
	size_t first;       /* the most selective-looking position (a nonzero mask: there always is one) */
	size_t second;      /* the next one, or FIRST again when only one position has a nonzero mask */
	size_t piece_count; /* pieces[] cover every nonzero mask, in the order the verifier checks them */
	uint8_t *value;     /* len bytes, after pieces[] */
	uint8_t *mask;      /* len bytes, after value */
	struct ms_piece pieces[];
};

/* Selectivity of one pattern byte, in bits: a fixed nibble 0 counts 1 (zeros are everywhere in
 * memory), F counts 2, any other 4; a wildcard nibble 0. */
unsigned ms_pattern_score(uint8_t mask, uint8_t value);

/* What the block matcher reports: a match starting at DATA + START. 0 goes on; any other value stops
 * the block, which returns it. */
typedef int (*ms_hit_fn)(void *ctx, size_t start);

/* Returned by a hit function to stop without an error (e.g. max results reached). */
#define MS_MATCH_FULL (-1)

/* One block of memory to match: candidate starts [0, STARTS), DATA holding STARTS + len - 1 bytes
 * (STARTS may be 0). A start s is a candidate only when (ADDR + s) % ALIGN == 0 (ALIGN >= 1). */
struct ms_block {
	const uint8_t *data;
	size_t starts;
	uint64_t addr;
	uint64_t align;
	ms_hit_fn on_hit;
	void *ctx;
	uint64_t **table; /* the caller's cache of the bit-parallel table: NULL at first, ms_match_free */
};

/* Reports every match of PAT in the block, in increasing order (match.c). 0, NO_MEMORY, or the
 * first nonzero value of on_hit. The work is bounded per byte for any pattern and any memory. */
int ms_match_block(const memscan_pattern *pat, const struct ms_block *blk);
/* Frees a table cached by ms_match_block (NULL is fine). */
void ms_match_free(uint64_t *table);

#endif /* MEMSCAN_PATTERN_H */
