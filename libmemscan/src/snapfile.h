/* SPDX-License-Identifier: MIT */
/* Snapshot files, what the writer and the reader share: the format's constants, little-endian fields,
 * the MSSUM64 checksum and the validation both apply (docs/snapshot-format.md). Private to libmemscan. */
#ifndef MEMSCAN_SNAPFILE_H
#define MEMSCAN_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* ---- format constants (docs/snapshot-format.md) ---------------------------------------------- */

#define SF_MAGIC         "\x89MSNAP\r\n"
#define SF_TRAILER_MAGIC "MSNAPEND"
#define SF_MAGIC_LEN     8
#define SF_VERSION       2u /* written when a filter is recorded; 1 otherwise */
#define SF_VERSION_PLAIN 1u
/* Filter block (version 2): perms, kinds, range, max size, path length, reserved, path, padding,
 * checksum (docs/snapshot-format.md). */
#define SF_FILTER_FIXED 40u
#define SF_FILTER_MAX   (SF_FILTER_FIXED + SF_MAX_PATH + SF_SUM_SIZE)
#define SF_HEADER_SIZE  64u
#define SF_RECORD_SIZE  64u /* fixed part of a region record */
#define SF_HOLE_SIZE    16u
#define SF_SUM_SIZE     8u
#define SF_TRAILER_SIZE 32u
#define SF_MIN_RECORD   (SF_RECORD_SIZE + SF_SUM_SIZE)
#define SF_MAX_REGIONS  (1u << 20)
#define SF_MAX_REGION   (UINT64_C(1) << 40)
#define SF_MAX_PATH     4096u
#define SF_FLAG_DELETED 1u
#define SF_PERMS_MASK   0xfu
#define SF_BUF_SIZE     (64u * 1024u)
#define SF_IO_CHUNK     (8u * 1024u * 1024u)
/* Written data is handed to the disk in steps this large while the rest is still being written, so
 * that the final fsync finds little left to do. */
#define SF_WRITEBACK_STEP (16u * 1024u * 1024u)

/* ---- little-endian encoding ------------------------------------------------------------------ */

static inline void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- MSSUM64: the format's checksum (snapfile.c) ---------------------------------------------- */

struct sf_sum {
	uint64_t a, b, n;
	uint8_t tail[4];
	unsigned ntail;
};

void sf_sum_init(struct sf_sum *s);
/* Adds LEN bytes at P (any length: a partial word waits in TAIL). */
void sf_sum_update(struct sf_sum *s, const uint8_t *p, size_t len);
/* The checksum of everything added so far (S is unchanged). */
uint64_t sf_sum_final(const struct sf_sum *s);
/* The checksum of the LEN bytes at P. */
uint64_t sf_sum_buf(const uint8_t *p, size_t len);
/* The state of summing X then Y, from X's (a whole number of 4-byte words) and Y's own: the sum is
 * a Fletcher-style pair, so the words of Y add (X's a - 1) to b once each. */
void sf_sum_concat(struct sf_sum *x, const struct sf_sum *y);

/* Encodes F into B (SF_FILTER_MAX bytes at least), checksum included; returns its length. */
size_t sf_filter_put(uint8_t *b, const memscan_filter *f);
/* Decodes the LEN-byte filter block B into F, its path into PATH (SF_MAX_PATH + 1 bytes):
 * BAD_FORMAT unless LEN is exactly the block's length and its fields and checksum are right. */
int sf_filter_get(const uint8_t *b, size_t len, memscan_filter *f, char *path);

/* A snapshot file read record by record, with every check memscan_snapshot_load makes, in the
 * same order (snapfile_read.c): open (the header), then for each region sf_in_next (its record's
 * head, path and holes) and its bytes in order by sf_in_data / sf_in_skip (a region's bytes not read
 * when the next sf_in_next comes are read and checked then, as is its checksum); the sf_in_next after
 * the last region checks the trailer and the end of the file and sets *RET_DONE. */
struct sf_in;
/* Forgets the file the thread's last call failed on (memscan_snapshot_file_error); the sf_in_*
 * calls note the first file that fails. */
void sf_error_clear(void);
int sf_in_open(const char *path, struct sf_in **ret);
void sf_in_close(struct sf_in *f);
int32_t sf_in_pid(const struct sf_in *f);
uint64_t sf_in_time_ns(const struct sf_in *f);
uint64_t sf_in_total(const struct sf_in *f);
/* The file offset of the current region's first data byte (its bytes are contiguous there). */
uint64_t sf_in_data_offset(const struct sf_in *f);
/* Bytes of the file read so far (its size once the trailer was checked). */
uint64_t sf_in_pos(const struct sf_in *f);
/* Asked with the bytes of the file read so far while a long list of a region's holes is read (every
 * 65536 of them): nonzero stops the read, which fails with CANCELLED. */
typedef int (*sf_tick_fn)(void *ctx, uint64_t pos);
void sf_in_set_tick(struct sf_in *f, sf_tick_fn fn, void *ctx);
/* The filter the file records (version 2), or NULL; valid until sf_in_close. */
const memscan_filter *sf_in_filter(const struct sf_in *f);
/* *RET_REGION (its path) and *RET_HOLES stay valid until the next call. */
int sf_in_next(struct sf_in *f, const memscan_region **ret_region, const memscan_ranges **ret_holes,
               int *ret_done);
/* The next LEN bytes of the current region into BUF / read and dropped (INVALID_ARG past its end). */
int sf_in_data(struct sf_in *f, uint8_t *buf, size_t len);
int sf_in_skip(struct sf_in *f, uint64_t len);

/* The region fields that open a region record, in snapshot files and value-set files alike
 * (docs/snapshot-format.md): start, end, offset, inode, dev, perms, kind, flags, path length. */
#define SF_REGION_FIELDS 56u
/* Encodes G (its path PATH_LEN bytes long) into B's first SF_REGION_FIELDS bytes. */
void sf_put_region(uint8_t *b, const memscan_region *g, uint32_t path_len);
/* Decodes B's region fields into G (path left alone) and the path length: BAD_FORMAT unless start <
 * end, the perms, kind and flags are known and the path is at most SF_MAX_PATH bytes. */
int sf_get_region(const uint8_t *b, memscan_region *g, uint32_t *ret_path_len);

/* ---- validation shared by save and load -------------------------------------------------------- */

static inline int sf_kind_valid(uint32_t kind)
{
	return kind == MEMSCAN_KIND_ANON || kind == MEMSCAN_KIND_HEAP || kind == MEMSCAN_KIND_STACK ||
	       kind == MEMSCAN_KIND_FILE || kind == MEMSCAN_KIND_SPECIAL;
}

/* 0 if [start, end) is a valid hole of [rstart, rend) following a hole that ended at PREV_END. */
static inline int sf_hole_valid(uint64_t start, uint64_t end, uint64_t rstart, uint64_t rend,
                                uint64_t prev_end)
{
	return start < end && start >= rstart && end <= rend && start >= prev_end;
}

static inline int sf_is_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static inline const char *sf_region_path(const struct ms_snap_region *r)
{
	if (r->path)
		return r->path;
	return r->region.path ? r->region.path : "";
}

#endif /* MEMSCAN_SNAPFILE_H */
