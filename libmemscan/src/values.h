/* SPDX-License-Identifier: MIT */
/* Private declarations of the value scans (value_parse.c, values.c, values_par.c, values_file.c): parsed
 * values and predicates, candidate sets, and the parallel jobs. */
#ifndef MEMSCAN_VALUES_H
#define MEMSCAN_VALUES_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"
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
	_Atomic(uint64_t) *total; /* a part of a parallel job (values_par.c): the candidates of all its
	                           * parts, which MAX bounds */
};

/* The candidates of an unknown-value set: its aligned slots that meet no hole of its snapshot. */
uint64_t ms_value_set_count_unknown(const memscan_value_set *set);

/* The first slot at or after A (every AL bytes, W wide, fitting before END; Q holds A's bytes on) whose
 * number lies in the bounds of V (a number type): A tight loop per type instead of a call per slot.
 * END when none does. */
uint64_t ms_value_find_bounds(const memscan_value *v, uint64_t a, uint64_t end, const uint8_t *q, uint64_t al,
                              uint64_t w);

/* Bytes of pages (and requests) one narrowing batch reads, and the most a scan reads at a time: a
 * worker's scratch buffer, the memory a job holds besides the sets. */
#define VS_SCRATCH_BYTES ((size_t)4 << 20)
#define VS_BATCH_REQS    1024

/* One unit of a parallel value job: the slots that start in [START, END) of region REGION (scans and
 * unknown-value narrowing), or the candidates START to END - 1 of a set (exact narrowing). */
struct vs_unit {
	size_t region;
	uint64_t start, end;
	memscan_value_set *part; /* what the unit found (PART->total shared with the other parts) */
	int err;
};

/* A worker's scratch: VS_SCRATCH_BYTES of buffer, VS_BATCH_REQS requests, the holes of a read. */
struct vs_scratch {
	uint8_t *buf;
	struct ms_read_req *reqs;
	memscan_ranges holes;
};

/* Runs unit U of JOB, reading with PROC (the worker's copy), into U->part. */
typedef int (*vs_unit_fn)(void *job, memscan_process *proc, struct vs_scratch *sc, struct vs_unit *u);

/* Runs the N UNITS of JOB on the workers (as many as CPUs, at most N) and moves what they found into
 * OUT (empty) in unit order. The first error of a unit in order, or LIMIT past OUT's maximum. */
int ms_value_run(memscan_process *proc, struct vs_unit *units, size_t n, vs_unit_fn fn, void *job,
                 memscan_value_set *out);

#endif /* MEMSCAN_VALUES_H */
