/* SPDX-License-Identifier: MIT */
/* Snapshot files, reading: memscan_snapshot_load, which checks every field and checksum it reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "snapfile.h"

/* ---- buffered reader ------------------------------------------------------------------------- */

struct sf_reader {
	int fd;
	uint64_t size; /* file size (fstat) */
	uint64_t pos;  /* bytes consumed */
	size_t off, have;
	struct sf_sum sum;
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
		return MEMSCAN_ERR_BAD_FORMAT;
	if (avail < 12)
		return MEMSCAN_ERR_TRUNCATED;
	if (get_u32(b + 8) != SF_VERSION)
		return MEMSCAN_ERR_UNSUPPORTED_VERSION;
	if (avail < SF_HEADER_SIZE)
		return MEMSCAN_ERR_TRUNCATED;
	if (get_u32(b + 12) != SF_HEADER_SIZE || get_u64(b + 56) != sf_sum_buf(b, 56))
		return MEMSCAN_ERR_BAD_FORMAT;
	if (get_u64(b + 40) != 0 || get_u64(b + 48) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	h->pid = (int32_t)get_u32(b + 16);
	h->count = get_u32(b + 20);
	h->time_ns = get_u64(b + 24);
	h->total = get_u64(b + 32);
	if (h->pid < 0 || h->count > SF_MAX_REGIONS || h->total > (uint64_t)h->count * SF_MAX_REGION)
		return MEMSCAN_ERR_BAD_FORMAT;
	/* No overflow: count <= 2^20 and total <= 2^60. */
	if (rd_left(r) < (uint64_t)h->count * SF_MIN_RECORD + SF_TRAILER_SIZE + h->total)
		return MEMSCAN_ERR_TRUNCATED;
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

/* Reads and checks the holes into HOLES (cleared first). */
static int load_holes(struct sf_reader *r, const struct sf_record *rec, memscan_ranges *holes)
{
	uint64_t prev = rec->region.start;

	memscan_ranges_clear(holes);
	for (uint32_t i = 0; i < rec->hole_count; i++) {
		uint8_t b[SF_HOLE_SIZE];
		uint64_t start, end;
		int rc = rd_get(r, b, sizeof(b), 1);

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

/* Reads the data straight into the region's buffer; hole bytes must be zero. */
static int load_data(struct sf_reader *r, struct ms_snap_region *sr)
{
	uint64_t base = sr->region.start;
	int rc = rd_get(r, sr->data, (size_t)(sr->region.end - base), 1);

	if (rc)
		return rc;
	for (size_t i = 0; i < sr->holes.count; i++) {
		const memscan_range *h = &sr->holes.items[i];

		if (!sf_is_zero(sr->data + (h->start - base), (size_t)(h->end - h->start)))
			return MEMSCAN_ERR_BAD_FORMAT;
	}
	return rd_check_sum(r);
}

/* Scratch space reused for every region. */
struct sf_scratch {
	char path[SF_MAX_PATH + 1];
	memscan_ranges holes;
};

/* Loads one region; BUDGET is what the header's total leaves for it and the regions after it. */
static int load_region(struct sf_reader *r, memscan_snapshot *snap, uint32_t after, uint64_t prev_end,
                       uint64_t budget, struct sf_scratch *s)
{
	struct sf_record rec = { 0 };
	struct ms_snap_region *sr = NULL;
	int rc = load_record_head(r, &rec, prev_end);

	if (rc)
		return rc;
	if (rec.region.end - rec.region.start > budget)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (rd_left(r) < record_need(&rec, after))
		return MEMSCAN_ERR_TRUNCATED;
	rc = load_path(r, rec.path_len, s->path);
	if (!rc)
		rc = load_holes(r, &rec, &s->holes);
	if (rc)
		return rc;
	rec.region.path = s->path;
	rc = ms_snapshot_add_region(snap, &rec.region, &sr);
	if (rc)
		return rc;
	rc = ms_ranges_copy(&sr->holes, &s->holes);
	if (rc)
		return rc;
	return load_data(r, sr);
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

static int load_regions(struct sf_reader *r, const struct sf_header *h, memscan_snapshot *snap)
{
	struct sf_scratch *s = calloc(1, sizeof(*s));
	uint64_t prev_end = 0, total = 0;
	int rc = MEMSCAN_OK;

	if (!s)
		return MEMSCAN_ERR_NO_MEMORY;
	for (uint32_t i = 0; i < h->count && !rc; i++) {
		const memscan_region *g;

		rc = load_region(r, snap, h->count - i - 1, prev_end, h->total - total, s);
		if (rc)
			break;
		g = &snap->regions[snap->count - 1].region;
		prev_end = g->end;
		total += g->end - g->start;
	}
	if (!rc && total != h->total)
		rc = MEMSCAN_ERR_BAD_FORMAT;
	memscan_ranges_release(&s->holes);
	free(s);
	return rc;
}

static int load_fd(int fd, memscan_snapshot **ret_snapshot)
{
	struct sf_reader *r = NULL;
	struct sf_header h = { 0 };
	memscan_snapshot *snap = NULL;
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return MEMSCAN_ERR_IO;
	r = malloc(sizeof(*r));
	if (!r)
		return MEMSCAN_ERR_NO_MEMORY;
	r->fd = fd;
	r->size = (uint64_t)st.st_size;
	r->pos = 0;
	r->off = r->have = 0;
	sf_sum_init(&r->sum);
	rc = load_header(r, &h);
	if (rc)
		goto out;
	rc = ms_snapshot_new(&snap);
	if (rc)
		goto out;
	snap->pid = h.pid;
	snap->time_ns = h.time_ns;
	rc = load_regions(r, &h, snap);
	if (!rc)
		rc = load_trailer(r, &h);
	if (rc)
		goto out;
	snap->total_bytes = h.total;
	*ret_snapshot = snap;
	snap = NULL;
out:
	memscan_snapshot_free(snap);
	free(r);
	return rc;
}

int memscan_snapshot_load(const char *path, memscan_snapshot **ret_snapshot)
{
	int fd, rc;

	if (ret_snapshot)
		*ret_snapshot = NULL;
	if (!path || !*path || !ret_snapshot)
		return MEMSCAN_ERR_INVALID_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return MEMSCAN_ERR_IO;
	rc = load_fd(fd, ret_snapshot);
	close(fd);
	return rc;
}
