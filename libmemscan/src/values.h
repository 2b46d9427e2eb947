/* SPDX-License-Identifier: MIT */
/* Private declarations of the value scans (value_parse.c, values.c): parsed values and predicates. */
#ifndef MEMSCAN_VALUES_H
#define MEMSCAN_VALUES_H

#include <stdint.h>

#include "memscan/memscan.h"

/* A number of one of the three domains a value type compares in. */
union ms_num {
	int64_t i;  /* i8 .. i64 */
	uint64_t u; /* u8 .. u64 */
	double f;   /* f32, f64 */
};

struct memscan_value {
	memscan_value_type type;
	union ms_num lo, hi; /* what matches: [lo, hi], the tolerance of a float included */
	union ms_num a, b;   /* the numbers as written (A..B, or A and A): gt and lt compare with them */
	uint8_t *bytes;      /* str: the bytes to find */
	size_t len;
};

/* The number BYTES (little-endian, the type's width) holds. */
union ms_num ms_value_decode(memscan_value_type type, const uint8_t *bytes);
/* 1 when the predicate keeps a candidate that held OLD and now holds NOW (each WIDTH bytes). */
int ms_pred_keep(const memscan_value_pred *pred, memscan_value_type type, size_t width, const uint8_t *old,
                 const uint8_t *now);
/* MEMSCAN_OK when PRED is valid for sets of TYPE, else INVALID_ARG. */
int ms_pred_check(const memscan_value_pred *pred, memscan_value_type type, size_t width);

#endif /* MEMSCAN_VALUES_H */
