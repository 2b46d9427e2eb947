/* SPDX-License-Identifier: MIT */
/* Snapshot files, reading: memscan_snapshot_load(_hooked), which checks every field and checksum it
 * reads. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "snapfile.h"

/* ---- what is wrong with the file the thread's last call failed on (memscan_snapshot_file_error) ---- */

static _Thread_local char g_bad_path[SF_MAX_PATH + 1];
static _Thread_local char g_bad_detail[256];
static _Thread_local int g_bad, g_has_detail;

void sf_error_clear(void)
{
	g_bad = g_has_detail = 0;
}

const char *memscan_snapshot_file_error(const char **ret_detail)
{
	if (ret_detail)
		*ret_detail = g_bad ? g_bad_detail : NULL;
	return g_bad ? g_bad_path : NULL;
}

/* Returns RC, with what is wrong in words (the first reason given before the failure is noted). */
static int why(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int why(int rc, const char *fmt, ...)
{
	va_list ap;

	if (!g_bad && !g_has_detail) {
		va_start(ap, fmt);
		vsnprintf(g_bad_detail, sizeof(g_bad_detail), fmt, ap);
		va_end(ap);
		g_has_detail = 1;
	}
	return rc;
}

/* Returns RC, noting PATH as the file at fault when RC is about a file. */
static int in_fail(const char *path, int rc)
{
	if ((rc == MEMSCAN_ERR_IO || rc == MEMSCAN_ERR_BAD_FORMAT || rc == MEMSCAN_ERR_TRUNCATED ||
	     rc == MEMSCAN_ERR_UNSUPPORTED_VERSION || rc == MEMSCAN_ERR_LIMIT) &&
	    !g_bad) {
		if (!g_has_detail)
			why(rc, "%s",
			    rc == MEMSCAN_ERR_TRUNCATED ? "the file ends early" : memscan_strerror(rc));
		snprintf(g_bad_path, sizeof(g_bad_path), "%s", path);
		g_bad = 1;
	}
	return rc;
}

/* ---- buffered reader ------------------------------------------------------------------------- */

struct sf_reader {
	int fd;
	uint64_t size; /* file size (fstat) */
	uint64_t pos;  /* bytes consumed */
	size_t off, have;
	struct sf_sum sum;
	sf_tick_fn tick; /* asked every SF_HOLES_STEP holes read (sf_in_set_tick), or NULL */
	void *tick_ctx;
	uint8_t buf[SF_BUF_SIZE];
};

/* Reads up to LEN bytes; 0 at end of file, -1 on error. */
static ssize_t read_some(int fd, uint8_t *p, size_t len)
{
	ssize_t n;

	do {
		n = read(fd, p, len > SF_IO_CHUNK ? SF_IO_CHUNK : len);
	} while (n < 0 && errno == EINTR);
	return n;
}

static uint64_t rd_left(const struct sf_reader *r)
{
	return r->size > r->pos ? r->size - r->pos : 0;
}

/* Consumes LEN bytes into P (summed if SUMMED). TRUNCATED if the file ends first. */
static int rd_get(struct sf_reader *r, uint8_t *p, size_t len, int summed)
{
	while (len > 0) {
		size_t n;
		ssize_t got;

		if (r->off == r->have && len < SF_BUF_SIZE) {
			got = read_some(r->fd, r->buf, SF_BUF_SIZE);
			if (got <= 0)
				return got < 0 ? MEMSCAN_ERR_IO : MEMSCAN_ERR_TRUNCATED;
			r->off = 0;
			r->have = (size_t)got;
		}
		if (r->off < r->have) {
			n = r->have - r->off < len ? r->have - r->off : len;
			memcpy(p, r->buf + r->off, n);
			r->off += n;
		} else {
			got = read_some(r->fd, p, len);
			if (got <= 0)
				return got < 0 ? MEMSCAN_ERR_IO : MEMSCAN_ERR_TRUNCATED;
			n = (size_t)got;
		}
		if (summed)
			sf_sum_update(&r->sum, p, n);
		p += n;
		len -= n;
		r->pos += n;
	}
	return MEMSCAN_OK;
}

/* Reads the stored checksum and compares it with the running one, which restarts. */
static int rd_check_sum(struct sf_reader *r)
{
	uint8_t b[8];
	uint64_t want = sf_sum_final(&r->sum);
	int rc = rd_get(r, b, sizeof(b), 0);

	sf_sum_init(&r->sum);
	if (rc)
		return rc;
	return get_u64(b) == want ? MEMSCAN_OK : MEMSCAN_ERR_BAD_FORMAT;
}

/* BAD_FORMAT if anything follows the trailer. */
static int rd_check_eof(struct sf_reader *r)
{
	uint8_t b;
	ssize_t got;

	if (r->off < r->have || r->pos != r->size)
		return MEMSCAN_ERR_BAD_FORMAT;
	got = read_some(r->fd, &b, 1);
	if (got < 0)
		return MEMSCAN_ERR_IO;
	return got == 0 ? MEMSCAN_OK : MEMSCAN_ERR_BAD_FORMAT;
}

/* ---- load ------------------------------------------------------------------------------------ */

/* The decoded header; what is left after it must hold the regions and the trailer. */
struct sf_header {
	int32_t pid;
	uint32_t count;
	uint64_t time_ns;
	uint64_t total;
	uint64_t filter_len; /* version 2: the filter block's bytes (0 in version 1) */
};

/* Magic and version first (so a newer file says UNSUPPORTED_VERSION), then the rest. */
static int load_header(struct sf_reader *r, struct sf_header *h)
{
	uint8_t b[SF_HEADER_SIZE];
	size_t avail = r->size < sizeof(b) ? (size_t)r->size : sizeof(b);
	int rc = rd_get(r, b, avail, 0);

	if (rc)
		return rc;
	if (memcmp(b, SF_MAGIC, avail < SF_MAGIC_LEN ? avail : SF_MAGIC_LEN) != 0)
		return why(MEMSCAN_ERR_BAD_FORMAT, "not a memscan snapshot (it does not start as one)");
	if (avail < 12)
		return why(MEMSCAN_ERR_TRUNCATED, "only %zu bytes, less than a snapshot header", avail);
	if (get_u32(b + 8) != SF_VERSION && get_u32(b + 8) != SF_VERSION_PLAIN)
		return why(MEMSCAN_ERR_UNSUPPORTED_VERSION,
		           "format version %" PRIu32
		           ", newer than the version %u this memscan reads: read it "
		           "with a newer memscan",
		           get_u32(b + 8), SF_VERSION);
	if (avail < SF_HEADER_SIZE)
		return why(MEMSCAN_ERR_TRUNCATED, "only %zu bytes, less than a snapshot header", avail);
	if (get_u64(b + 56) != sf_sum_buf(b, 56))
		return why(MEMSCAN_ERR_BAD_FORMAT, "header checksum mismatch: the header was damaged");
	h->filter_len = get_u64(b + 40);
	if (get_u32(b + 12) != SF_HEADER_SIZE || get_u64(b + 48) != 0 ||
	    (get_u32(b + 8) == SF_VERSION_PLAIN
	         ? h->filter_len != 0
	         : h->filter_len < SF_FILTER_FIXED + SF_SUM_SIZE || h->filter_len > SF_FILTER_MAX))
		return why(MEMSCAN_ERR_BAD_FORMAT, "malformed header (size, filter or reserved fields)");
	h->pid = (int32_t)get_u32(b + 16);
	h->count = get_u32(b + 20);
	h->time_ns = get_u64(b + 24);
	h->total = get_u64(b + 32);
	if (h->pid < 0 || h->count > SF_MAX_REGIONS || h->total > (uint64_t)h->count * SF_MAX_REGION)
		return MEMSCAN_ERR_BAD_FORMAT;
	/* No overflow: count <= 2^20 and total <= 2^60. */
	if (rd_left(r) < h->filter_len + (uint64_t)h->count * SF_MIN_RECORD + SF_TRAILER_SIZE + h->total)
		return why(MEMSCAN_ERR_TRUNCATED,
		           "%" PRIu64 " bytes, too short for the %" PRIu32 " regions of %" PRIu64
		           " bytes its header announces: the file was cut short",
		           r->size, h->count, h->total);
	return MEMSCAN_OK;
}

/* A region record's fixed part, decoded. */
struct sf_record {
	memscan_region region;
	uint32_t path_len;
	uint32_t hole_count;
};

static int load_record_head(struct sf_reader *r, struct sf_record *rec, uint64_t prev_end)
{
	uint8_t b[SF_RECORD_SIZE];
	memscan_region *g = &rec->region;
	int rc = rd_get(r, b, sizeof(b), 1);

	if (rc)
		return rc;
	if (sf_get_region(b, g, &rec->path_len) != MEMSCAN_OK)
		return MEMSCAN_ERR_BAD_FORMAT;
	rec->hole_count = get_u32(b + SF_REGION_FIELDS);
	if (g->start < prev_end || g->end - g->start > SF_MAX_REGION)
		return MEMSCAN_ERR_BAD_FORMAT;
#if SIZE_MAX < UINT64_MAX
	if (g->end - g->start > SIZE_MAX)
		return MEMSCAN_ERR_LIMIT;
#endif
	if (get_u32(b + 60) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (rec->hole_count > g->end - g->start)
		return MEMSCAN_ERR_BAD_FORMAT;
	return MEMSCAN_OK;
}

/* Bytes the rest of this record needs, plus the minimum for the records after it and the trailer. */
static uint64_t record_need(const struct sf_record *rec, uint32_t regions_after)
{
	uint64_t path = rec->path_len + (8u - rec->path_len % 8u) % 8u;

	return path + (uint64_t)rec->hole_count * SF_HOLE_SIZE + (rec->region.end - rec->region.start) +
	       SF_SUM_SIZE + (uint64_t)regions_after * SF_MIN_RECORD + SF_TRAILER_SIZE;
}

/* Reads the path (checked: no NUL, zero padding) into PATH, NUL-terminated. */
static int load_path(struct sf_reader *r, uint32_t len, char *path)
{
	uint8_t pad[8];
	size_t npad = (8u - len % 8u) % 8u;
	int rc = rd_get(r, (uint8_t *)path, len, 1);

	if (!rc)
		rc = rd_get(r, pad, npad, 1);
	if (rc)
		return rc;
	path[len] = '\0';
	if (memchr(path, '\0', len) || !sf_is_zero(pad, npad))
		return MEMSCAN_ERR_BAD_FORMAT;
	return MEMSCAN_OK;
}

/* Holes read between two calls of the reader's tick: 1 MiB of records, a millisecond's work (a
 * region may have one hole per byte, so its records can outweigh its bytes). */
#define SF_HOLES_STEP 65536u

/* Reads and checks the holes into HOLES (cleared first); CANCELLED once the tick says stop. */
static int load_holes(struct sf_reader *r, const struct sf_record *rec, memscan_ranges *holes)
{
	uint64_t prev = rec->region.start;

	memscan_ranges_clear(holes);
	for (uint32_t i = 0; i < rec->hole_count; i++) {
		uint8_t b[SF_HOLE_SIZE];
		uint64_t start, end;
		int rc;

		if (i && i % SF_HOLES_STEP == 0 && r->tick && r->tick(r->tick_ctx, r->pos))
			return MEMSCAN_ERR_CANCELLED;
		rc = rd_get(r, b, sizeof(b), 1);
		if (rc)
			return rc;
		start = get_u64(b);
		end = get_u64(b + 8);
		if (!sf_hole_valid(start, end, rec->region.start, rec->region.end, prev))
			return MEMSCAN_ERR_BAD_FORMAT;
		if (ms_ranges_append(holes, start, end) != MEMSCAN_OK)
			return MEMSCAN_ERR_NO_MEMORY;
		prev = end;
	}
	return MEMSCAN_OK;
}

static int load_trailer(struct sf_reader *r, const struct sf_header *h)
{
	uint8_t t[SF_TRAILER_SIZE];
	int rc = rd_get(r, t, sizeof(t), 0);

	if (rc)
		return rc;
	if (memcmp(t, SF_TRAILER_MAGIC, SF_MAGIC_LEN) != 0 || get_u64(t + 24) != sf_sum_buf(t, 24))
		return MEMSCAN_ERR_BAD_FORMAT;
	if (get_u32(t + 8) != h->count || get_u32(t + 12) != 0 || get_u64(t + 16) != h->total)
		return MEMSCAN_ERR_BAD_FORMAT;
	return rd_check_eof(r);
}

/* ---- a snapshot file read record by record (sf_in_*) ------------------------------------------ */

struct sf_in {
	char *name; /* the path, for memscan_snapshot_file_error */
	struct sf_reader r;
	struct sf_header h;
	uint32_t next;     /* records begun so far */
	uint64_t prev_end; /* end of the last region begun */
	uint64_t total;    /* sizes of the regions begun */
	int in_region, done;
	struct sf_record rec;
	char path[SF_MAX_PATH + 1];
	memscan_ranges holes;
	uint64_t data_pos; /* bytes of the current region's data read so far */
	size_t hole_k;     /* first hole not wholly behind data_pos */
	uint8_t skip[SF_BUF_SIZE];
	int has_filter;
	memscan_filter filter;
	char filter_path[SF_MAX_PATH + 1];
};

/* Version 2: the filter block after the header. */
static int in_filter(struct sf_in *f)
{
	uint8_t b[SF_FILTER_MAX];
	int rc;

	if (!f->h.filter_len)
		return MEMSCAN_OK;
	rc = rd_get(&f->r, b, (size_t)f->h.filter_len, 0);
	if (rc == MEMSCAN_OK && sf_filter_get(b, (size_t)f->h.filter_len, &f->filter, f->filter_path))
		rc = why(MEMSCAN_ERR_BAD_FORMAT, "the recorded filter is damaged (checksum or fields)");
	f->has_filter = rc == MEMSCAN_OK;
	return rc;
}

void sf_in_set_tick(struct sf_in *f, sf_tick_fn fn, void *ctx)
{
	f->r.tick = fn;
	f->r.tick_ctx = ctx;
}

const memscan_filter *sf_in_filter(const struct sf_in *f)
{
	return f->has_filter ? &f->filter : NULL;
}

int sf_in_open(const char *path, struct sf_in **ret)
{
	struct sf_in *f;
	struct stat st;
	int fd, rc;

	*ret = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return in_fail(path, why(MEMSCAN_ERR_IO, "%s", strerror(errno)));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;

		close(fd);
		rc = why(MEMSCAN_ERR_IO, "%s", e == EISDIR ? "is a directory" : "is not a regular file");
		errno = e;
		return in_fail(path, rc);
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(path))) {
		free(f);
		close(fd);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	f->r.fd = fd;
	f->r.size = (uint64_t)st.st_size;
	sf_sum_init(&f->r.sum);
	rc = load_header(&f->r, &f->h);
	if (rc == MEMSCAN_OK)
		rc = in_filter(f);
	if (rc != MEMSCAN_OK) {
		in_fail(path, rc);
		sf_in_close(f);
		return rc;
	}
	*ret = f;
	return MEMSCAN_OK;
}

void sf_in_close(struct sf_in *f)
{
	if (!f)
		return;
	close(f->r.fd);
	memscan_ranges_release(&f->holes);
	free(f->name);
	free(f);
}

int32_t sf_in_pid(const struct sf_in *f)
{
	return f->h.pid;
}

uint64_t sf_in_time_ns(const struct sf_in *f)
{
	return f->h.time_ns;
}

uint64_t sf_in_total(const struct sf_in *f)
{
	return f->h.total;
}

uint64_t sf_in_data_offset(const struct sf_in *f)
{
	return f->r.pos - f->data_pos;
}

uint64_t sf_in_pos(const struct sf_in *f)
{
	return f->r.pos;
}

/* Checks that the bytes [pos, pos + len) of the current region read into P are zero inside holes. */
static int in_check_holes(struct sf_in *f, const uint8_t *p, uint64_t pos, size_t len)
{
	uint64_t lo = f->rec.region.start + pos, hi = lo + len;

	for (size_t k = f->hole_k; k < f->holes.count && f->holes.items[k].start < hi; k++) {
		const memscan_range *h = &f->holes.items[k];
		uint64_t s = h->start > lo ? h->start : lo, e = h->end < hi ? h->end : hi;

		if (s < e && !sf_is_zero(p + (s - lo), (size_t)(e - s)))
			return why(MEMSCAN_ERR_BAD_FORMAT,
			           "region record %" PRIu32 " of %" PRIu32 " (0x%" PRIx64 "-0x%" PRIx64
			           "): bytes inside a hole are not zero",
			           f->next, f->h.count, f->rec.region.start, f->rec.region.end);
	}
	while (f->hole_k < f->holes.count && f->holes.items[f->hole_k].end <= hi)
		f->hole_k++;
	return MEMSCAN_OK;
}

int sf_in_data(struct sf_in *f, uint8_t *buf, size_t len)
{
	uint64_t size = f->rec.region.end - f->rec.region.start;
	int rc;

	if (!f->in_region || len > size - f->data_pos)
		return MEMSCAN_ERR_INVALID_ARG;
	rc = rd_get(&f->r, buf, len, 1);
	if (rc == MEMSCAN_OK)
		rc = in_check_holes(f, buf, f->data_pos, len);
	f->data_pos += len;
	return in_fail(f->name, rc);
}

int sf_in_skip(struct sf_in *f, uint64_t len)
{
	int rc = MEMSCAN_OK;

	while (rc == MEMSCAN_OK && len > 0) {
		size_t n = len < sizeof(f->skip) ? (size_t)len : sizeof(f->skip);

		rc = sf_in_data(f, f->skip, n);
		len -= n;
	}
	return rc;
}

/* The rest of the current region's data (read and checked), then its checksum. */
static int in_end_region(struct sf_in *f)
{
	int rc = sf_in_skip(f, f->rec.region.end - f->rec.region.start - f->data_pos);

	f->in_region = 0;
	if (rc == MEMSCAN_OK && (rc = rd_check_sum(&f->r)) == MEMSCAN_ERR_BAD_FORMAT)
		why(rc,
		    "checksum mismatch in region record %" PRIu32 " of %" PRIu32 " (0x%" PRIx64 "-0x%" PRIx64
		    "): its bytes changed after it was written",
		    f->next, f->h.count, f->rec.region.start, f->rec.region.end);
	return rc;
}

/* After the last record: the sizes add up to the header's total, then the trailer. */
static int in_finish(struct sf_in *f)
{
	f->done = 1;
	if (f->total != f->h.total)
		return MEMSCAN_ERR_BAD_FORMAT;
	return load_trailer(&f->r, &f->h);
}

/* The next record's head, path and holes; BUDGET is what the header's total leaves for it and the
 * regions after it. */
static int in_begin_region(struct sf_in *f)
{
	struct sf_record *rec = &f->rec;
	uint32_t after = f->h.count - f->next - 1;
	int rc = load_record_head(&f->r, rec, f->prev_end);

	if (rc)
		return rc;
	if (rec->region.end - rec->region.start > f->h.total - f->total)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (rd_left(&f->r) < record_need(rec, after))
		return why(MEMSCAN_ERR_TRUNCATED,
		           "cut short in region record %" PRIu32 " of %" PRIu32 " (0x%" PRIx64 "-0x%" PRIx64
		           ")",
		           f->next + 1, f->h.count, rec->region.start, rec->region.end);
	rc = load_path(&f->r, rec->path_len, f->path);
	if (!rc)
		rc = load_holes(&f->r, rec, &f->holes);
	if (rc)
		return rc;
	rec->region.path = f->path;
	f->next++;
	f->prev_end = rec->region.end;
	f->total += rec->region.end - rec->region.start;
	f->data_pos = 0;
	f->hole_k = 0;
	f->in_region = 1;
	return MEMSCAN_OK;
}

int sf_in_next(struct sf_in *f, const memscan_region **ret_region, const memscan_ranges **ret_holes,
               int *ret_done)
{
	int rc = f->in_region ? in_end_region(f) : MEMSCAN_OK;

	*ret_done = 0;
	if (rc == MEMSCAN_OK && f->done)
		rc = MEMSCAN_ERR_INVALID_ARG;
	if (rc == MEMSCAN_OK && f->next == f->h.count) {
		rc = in_finish(f);
		*ret_done = rc == MEMSCAN_OK;
		return in_fail(f->name, rc);
	}
	if (rc == MEMSCAN_OK)
		rc = in_begin_region(f);
	if (rc != MEMSCAN_OK)
		return in_fail(f->name, rc);
	*ret_region = &f->rec.region;
	*ret_holes = &f->holes;
	return MEMSCAN_OK;
}

/* ---- load ------------------------------------------------------------------------------------- */

/* Bytes of a region's data read between two looks at the caller's cancel hook and two progress
 * counts: a few milliseconds of reading, nothing against a region's read. */
#define LOAD_STEP ((size_t)4 << 20)

/* An sf_tick_fn on the hooks H (CTX): POS, the bytes of the file read, to the progress; whether the
 * cancel hook says stop. */
static int load_tick(void *ctx, uint64_t pos)
{
	struct ms_hooks *h = ctx;

	ms_progress_set(&h->progress, pos);
	return ms_hooks_cancelled(h);
}

/* Reads LEN bytes of F's current region into DATA, LOAD_STEP at a time: CANCELLED as soon as H's
 * cancel hook says stop before a step, DONE the bytes of the file read after each. */
static int load_data(struct sf_in *f, uint8_t *data, size_t len, struct ms_hooks *h)
{
	int rc = MEMSCAN_OK;

	for (size_t off = 0; rc == MEMSCAN_OK && off < len; off += LOAD_STEP) {
		if (ms_hooks_cancelled(h))
			return MEMSCAN_ERR_CANCELLED;
		rc = sf_in_data(f, data + off, len - off < LOAD_STEP ? len - off : LOAD_STEP);
		ms_progress_set(&h->progress, sf_in_pos(f));
	}
	return rc;
}

/* Reads the next region of F into SNAP; *RET_DONE once the file's end was reached and checked. */
static int load_region(struct sf_in *f, memscan_snapshot *snap, struct ms_hooks *h, int *ret_done)
{
	const memscan_region *g;
	const memscan_ranges *holes;
	struct ms_snap_region *sr = NULL;
	int rc = sf_in_next(f, &g, &holes, ret_done);

	if (rc || *ret_done)
		return rc;
	rc = ms_snapshot_add_region(snap, g, &sr);
	if (rc)
		return rc;
	rc = ms_ranges_copy(&sr->holes, holes);
	return rc ? rc : load_data(f, sr->data, (size_t)(g->end - g->start), h);
}

int memscan_snapshot_load_hooked(const char *path, const memscan_hooks *hooks,
                                 memscan_snapshot **ret_snapshot)
{
	struct ms_hooks h;
	struct sf_in *f = NULL;
	memscan_snapshot *snap = NULL;
	int rc, done = 0;

	if (ret_snapshot)
		*ret_snapshot = NULL;
	sf_error_clear();
	if (!path || !*path || !ret_snapshot)
		return MEMSCAN_ERR_INVALID_ARG;
	ms_hooks_init(&h, hooks);
	rc = sf_in_open(path, &f);
	if (rc == MEMSCAN_OK)
		rc = ms_snapshot_new(&snap);
	if (rc == MEMSCAN_OK) {
		sf_in_set_tick(f, load_tick, &h); /* a region's holes: its bytes ask in load_data */
		snap->pid = sf_in_pid(f);
		snap->time_ns = sf_in_time_ns(f);
		rc = ms_filter_rec_set(&snap->sel, sf_in_filter(f));
	}
	while (rc == MEMSCAN_OK && !done)
		rc = load_region(f, snap, &h, &done);
	if (rc == MEMSCAN_OK)
		ms_progress_final(&h.progress, sf_in_pos(f)); /* the file's size: its end was checked */
	sf_in_close(f);
	if (rc != MEMSCAN_OK) {
		memscan_snapshot_free(snap);
		return rc;
	}
	*ret_snapshot = snap;
	return MEMSCAN_OK;
}

int memscan_snapshot_load(const char *path, memscan_snapshot **ret_snapshot)
{
	return memscan_snapshot_load_hooked(path, NULL, ret_snapshot);
}
