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

/* A candidate set (values.c; values_file.c saves and loads it). */
struct memscan_value_set {
	int pid;
	uint64_t start_time;
	memscan_value_type type;
	size_t width;
	uint64_t align;
	size_t max;                   /* most candidates an exact set may hold */
	memscan_region_list *regions; /* the regions scanned (ordered by address) */
	memscan_snapshot *snap;       /* unknown-value set: the bytes of the regions; else NULL */
	uint64_t count;
	uint64_t *addr; /* exact set: sorted addresses, ... */
	uint8_t *cur;   /* ... their values (COUNT * WIDTH bytes) ... */
	uint8_t *old;   /* ... and the values before those (NULL after a scan) */
	size_t cap_addr, cap_cur, cap_old;
};

/* The candidates of an unknown-value set: its aligned slots that meet no hole of its snapshot. */
uint64_t ms_value_set_count_unknown(const memscan_value_set *set);

#endif /* MEMSCAN_VALUES_H */
