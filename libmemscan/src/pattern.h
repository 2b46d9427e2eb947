/* SPDX-License-Identifier: MIT */
/* The parsed byte pattern, shared by pattern.c (parser) and scan.c (matcher); never installed. */
#ifndef MEMSCAN_PATTERN_H
#define MEMSCAN_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "memscan/memscan.h"

/* No byte of the pattern is fully fixed: the scanner probes with a mask instead of memchr. */
#define MS_PATTERN_NO_ANCHOR SIZE_MAX

/* A byte at position i matches when (byte & mask[i]) == value[i]; value[i] has no bit outside
 * mask[i]. */
struct memscan_pattern {
	size_t len;      /* 1 ... MEMSCAN_PATTERN_MAX */
	size_t anchor;   /* a fully fixed position, likely the rarest byte; or MS_PATTERN_NO_ANCHOR */
	size_t probe;    /* the first position with a nonzero mask (there always is one) */
	size_t pair;     /* p with bytes p and p + 1 fully fixed, likely the rarest pair; or NO_ANCHOR */
	uint8_t *value;  /* len bytes, inside bytes[] */
	uint8_t *mask;   /* len bytes, inside bytes[] */
	uint8_t bytes[]; /* value then mask */
};

#endif /* MEMSCAN_PATTERN_H */
