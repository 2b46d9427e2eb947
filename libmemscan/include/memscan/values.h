/* SPDX-License-Identifier: MIT */
/* libmemscan: value scans, candidate sets and narrowing. Included by <memscan/memscan.h>; see it for the
 * conventions. */
#ifndef MEMSCAN_API_VALUES_H
#define MEMSCAN_API_VALUES_H

#include <memscan/memscan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Value scans: typed values, candidate sets and narrowing
 * ------------------------------------------------------------------------------------------- */

/* The types a value scan looks for. Numbers are little-endian; STR is the bytes of a string. */
typedef enum memscan_value_type {
	MEMSCAN_VALUE_I8 = 1,
	MEMSCAN_VALUE_U8,
	MEMSCAN_VALUE_I16,
	MEMSCAN_VALUE_U16,
	MEMSCAN_VALUE_I32,
	MEMSCAN_VALUE_U32,
	MEMSCAN_VALUE_I64,
	MEMSCAN_VALUE_U64,
	MEMSCAN_VALUE_F32,
	MEMSCAN_VALUE_F64,
	MEMSCAN_VALUE_STR,
} memscan_value_type;

/* Longest string a STR value may hold, in bytes once encoded. */
#define MEMSCAN_VALUE_STR_MAX 256

/* "i8" .. "f64", "str": a static string; "?" for a type that does not exist. */
MEMSCAN_API const char *memscan_value_type_name(memscan_value_type type);
/* Parses a type name as memscan_value_type_name writes it; INVALID_ARG for any other text. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_value_type_parse(const char *text, memscan_value_type *ret_type);
/* Bytes of a number of TYPE (1, 2, 4 or 8); 0 for STR and unknown types. */
MEMSCAN_API size_t memscan_value_type_size(memscan_value_type type);

/* A value to look for (or compare with), parsed from text. */
typedef struct memscan_value memscan_value;

#define MEMSCAN_VALUE_UTF16   1u /* STR: look for the UTF-16LE form of the text instead of UTF-8 */
#define MEMSCAN_VALUE_EPSILON 2u /* floats: match within EPSILON of the number, not its written precision */
typedef struct memscan_value_options {
	unsigned flags; /* MEMSCAN_VALUE_* */
	double epsilon; /* with MEMSCAN_VALUE_EPSILON: the tolerance (>= 0; 0 = exactly) */
} memscan_value_options;

/* Parses TEXT as a value of TYPE. Integers: decimal or 0x hex, with an optional sign, inside the
 * type's range. Floats: a decimal ("3.75", "-1e3"), which matches every number that rounds to it at
 * its written precision (3.75 matches 3.7449..3.7549, 100 matches 99.5..100.5) unless OPTIONS sets
 * an epsilon. Numbers may be an inclusive range "A..B" (A <= B). STR: the text itself (valid UTF-8,
 * 1 to MEMSCAN_VALUE_STR_MAX bytes once encoded). OPTIONS may be NULL. Errors: INVALID_ARG (NULL,
 * unknown TYPE, bad options), BAD_FORMAT (not a number of that kind, a malformed range, bad UTF-8),
 * LIMIT (out of the type's range, a string too long); RET_ERROR_OFFSET (if not NULL) then receives
 * the offset in TEXT of what is wrong. The value is released with memscan_value_free. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_value_parse(memscan_value_type type, const char *text,
                                                      const memscan_value_options *options,
                                                      memscan_value **ret_value, size_t *ret_error_offset);
MEMSCAN_API memscan_value_type memscan_value_get_type(const memscan_value *value);
/* Bytes a match of VALUE occupies: the type's size, or the string's encoded length. */
MEMSCAN_API size_t memscan_value_width(const memscan_value *value);
/* True when the memscan_value_width(VALUE) bytes at BYTES hold a match of VALUE (NaN never does). */
MEMSCAN_API bool memscan_value_matches(const memscan_value *value, const uint8_t *bytes);
MEMSCAN_API void memscan_value_free(memscan_value *value);

/* The candidates a scan found (or, for an unknown-value scan, every slot of the regions it read):
 * what the caller asked to keep, narrowed step by step. */
typedef struct memscan_value_set memscan_value_set;

/* Default and highest number of candidates an exact set holds (each costs 8 bytes of address and
 * two values). Unknown-value sets hold a copy of the scanned bytes instead and have no count limit. */
#define MEMSCAN_VALUE_SET_MAX_DEFAULT ((uint64_t)16 << 20)
#define MEMSCAN_VALUE_SET_MAX         ((uint64_t)1 << 31)

typedef struct memscan_value_scan_options {
	uint64_t align; /* a candidate's address is a multiple of this; 0 = the type's size (STR: 1) */
	uint64_t max_candidates; /* more matches than this is LIMIT; 0 = MEMSCAN_VALUE_SET_MAX_DEFAULT */
} memscan_value_scan_options;

/* The regions value scans look in when the caller has no preference: the default filter's regions
 * that are also writable (values that change live there). */
MEMSCAN_API void memscan_filter_values(memscan_filter *filter);

/* Scans REGIONS of PROC (NULL = memscan_filter_values's regions, listed now) for every aligned
 * match of VALUE and returns them as a new set (released with memscan_value_set_free). Unreadable
 * bytes never match; a match never spans two regions. OPTIONS may be NULL. LIMIT when more than
 * max_candidates match (nothing returned); PROCESS_GONE, CANCELLED as reads report them. */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_value_scan(memscan_process *proc, const memscan_region_list *regions, const memscan_value *value,
                   const memscan_value_scan_options *options, memscan_value_set **ret_set);
/* The unknown-initial-value scan: remembers every aligned slot of TYPE (a number type) in REGIONS
 * (as memscan_value_scan) by keeping a copy of their bytes, to be narrowed by how values change. */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_value_scan_unknown(memscan_process *proc, const memscan_region_list *regions, memscan_value_type type,
                           const memscan_value_scan_options *options, memscan_value_set **ret_set);

MEMSCAN_API uint64_t memscan_value_set_count(const memscan_value_set *set);
MEMSCAN_API memscan_value_type memscan_value_set_type(const memscan_value_set *set);
/* Bytes each candidate's value occupies. */
MEMSCAN_API size_t memscan_value_set_width(const memscan_value_set *set);
/* True for the set of an unknown-value scan (not narrowed yet). */
MEMSCAN_API bool memscan_value_set_is_unknown(const memscan_value_set *set);
/* PID and start time of the process the set was made from; narrowing checks them. */
MEMSCAN_API int memscan_value_set_pid(const memscan_value_set *set);
MEMSCAN_API uint64_t memscan_value_set_start_time(const memscan_value_set *set);

/* One candidate: its address, the value the set recorded and the one before it. Pointers are owned
 * by the set and valid during the callback only. */
typedef struct memscan_candidate {
	uint64_t address;
	size_t width;
	const uint8_t *value;         /* WIDTH bytes: the value when last read */
	const uint8_t *old;           /* the value the read before that found; NULL after a scan */
	const memscan_region *region; /* the scanned region that holds the candidate */
} memscan_candidate;

/* Called for each candidate in address order; nonzero stops (memscan_value_set_foreach: STOPPED). */
typedef int (*memscan_candidate_fn)(void *ctx, const memscan_candidate *candidate);
/* Calls FN for the candidates of SET from number FIRST (0 = the first) on. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_value_set_foreach(const memscan_value_set *set, uint64_t first,
                                                            memscan_candidate_fn fn, void *ctx);

/* Narrowing: what the value of each candidate now must be, against the value the set recorded
 * (OLD) or against VALUE. INCREASED_BY and DECREASED_BY take the difference as VALUE (a number or
 * range of the set's type, >= 0); EQ and BETWEEN keep what VALUE matches (BETWEEN: a range "A..B"),
 * NE what it does not; GT keeps values above VALUE's (upper) number, LT below its (lower) one. ANY
 * keeps every readable candidate with its current value (a refresh). STR sets take ANY, CHANGED,
 * UNCHANGED, EQ and NE only. */
typedef enum memscan_value_pred_kind {
	MEMSCAN_PRED_ANY = 1,
	MEMSCAN_PRED_CHANGED,
	MEMSCAN_PRED_UNCHANGED,
	MEMSCAN_PRED_INCREASED,
	MEMSCAN_PRED_DECREASED,
	MEMSCAN_PRED_INCREASED_BY,
	MEMSCAN_PRED_DECREASED_BY,
	MEMSCAN_PRED_EQ,
	MEMSCAN_PRED_NE,
	MEMSCAN_PRED_GT,
	MEMSCAN_PRED_LT,
	MEMSCAN_PRED_BETWEEN,
} memscan_value_pred_kind;

typedef struct memscan_value_pred {
	memscan_value_pred_kind kind;
	const memscan_value *value; /* the kinds that compare with a value: one of the set's type */
} memscan_value_pred;

/* Reads the candidates of SET in PROC now (only the pages that hold them, a few MiB at a time) and
 * returns the ones PRED keeps as a new set, whose candidates record the value read now and, as
 * old, the value SET recorded. SET is left as it was. A candidate whose bytes cannot be read is
 * dropped. INVALID_ARG for a predicate that does not fit the set's type, PROCESS_GONE if PROC is
 * not the process the set was made from (or it exited), LIMIT when more than MAX_CANDIDATES (0 =
 * MEMSCAN_VALUE_SET_MAX_DEFAULT) survive. */
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_value_set_narrow(memscan_process *proc, const memscan_value_set *set, const memscan_value_pred *pred,
                         uint64_t max_candidates, memscan_value_set **ret_set);
/* The bytes of the process memscan_value_set_narrow reads to narrow SET, which its progress reports
 * (memscan_process_set_progress) count up to: an unknown-value set's regions, exactly (a slot that
 * straddles two windows of a read is read with both); the pages an exact set's candidates lie in
 * (about: a page two batches of candidates share is read with both). 0 for NULL. */
MEMSCAN_API uint64_t memscan_value_set_narrow_bytes(const memscan_value_set *set);
/* Writes SET to a set file at PATH (docs/value-set-format.md: versioned, checksummed): through a
 * temporary sibling (mode 0600), fsynced and renamed over PATH, so PATH is whole or as it was. An
 * unknown-value set's file holds a copy of its regions' bytes. IO if the file cannot be written. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_value_set_save(const memscan_value_set *set, const char *path);
/* Loads a set file. BAD_FORMAT (a field, the order of addresses or the checksum is wrong), TRUNCATED
 * or UNSUPPORTED_VERSION name what is wrong, IO if it cannot be read; nothing is returned for a file
 * that fails any check. Narrowing the set checks that the process it names still runs. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_value_set_load(const char *path, memscan_value_set **ret_set);
MEMSCAN_API void memscan_value_set_free(memscan_value_set *set);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCAN_API_VALUES_H */
