/* SPDX-License-Identifier: MIT */
/* Snapshot files: memscan_snapshot_save / memscan_snapshot_load (format: docs/snapshot-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ---- format constants (docs/snapshot-format.md) ---------------------------------------------- */

#define SF_MAGIC         "\x89MSNAP\r\n"
#define SF_TRAILER_MAGIC "MSNAPEND"
#define SF_MAGIC_LEN     8
#define SF_VERSION       1u
#define SF_HEADER_SIZE   64u
#define SF_RECORD_SIZE   64u /* fixed part of a region record */
#define SF_HOLE_SIZE     16u
#define SF_SUM_SIZE      8u
#define SF_TRAILER_SIZE  32u
#define SF_MIN_RECORD    (SF_RECORD_SIZE + SF_SUM_SIZE)
#define SF_MAX_REGIONS   (1u << 20)
#define SF_MAX_REGION    (UINT64_C(1) << 40)
#define SF_MAX_PATH      4096u
#define SF_FLAG_DELETED  1u
#define SF_PERMS_MASK    0xfu
#define SF_BUF_SIZE      (64u * 1024u)
#define SF_IO_CHUNK      (8u * 1024u * 1024u)
/* Written data is handed to the disk in steps this large while the rest is still being written, so
 * that the final fsync finds little left to do. */
#define SF_WRITEBACK_STEP (16u * 1024u * 1024u)

/* ---- little-endian encoding ------------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- MSSUM64: the format's checksum (detects accidental corruption only, not tampering) -------- */

struct sf_sum {
	uint64_t a, b, n;
	uint8_t tail[4];
	unsigned ntail;
};

static void sum_init(struct sf_sum *s)
{
	memset(s, 0, sizeof(*s));
	s->a = 1;
}

static void sum_word(struct sf_sum *s, uint32_t w)
{
	s->a += w;
	s->b += s->a;
}

static void sum_update(struct sf_sum *s, const uint8_t *p, size_t len)
{
	s->n += len;
	while (len > 0 && s->ntail > 0) {
		s->tail[s->ntail++] = *p++;
		len--;
		if (s->ntail == 4) {
			sum_word(s, get_u32(s->tail));
			s->ntail = 0;
		}
	}
	for (; len >= 4; p += 4, len -= 4)
		sum_word(s, get_u32(p));
	while (len-- > 0)
		s->tail[s->ntail++] = *p++;
}

static uint64_t sum_final(const struct sf_sum *s)
{
	struct sf_sum t = *s;

	if (t.ntail > 0) {
		memset(t.tail + t.ntail, 0, 4 - t.ntail);
		sum_word(&t, get_u32(t.tail));
	}
	return t.b ^ (t.a << 32 | t.a >> 32) ^ t.n;
}

static uint64_t sum_buf(const uint8_t *p, size_t len)
{
	struct sf_sum s;

	sum_init(&s);
	sum_update(&s, p, len);
	return sum_final(&s);
}

/* ---- validation shared by save and load -------------------------------------------------------- */

static int kind_valid(uint32_t kind)
{
	return kind == MEMSCAN_KIND_ANON || kind == MEMSCAN_KIND_HEAP || kind == MEMSCAN_KIND_STACK ||
	       kind == MEMSCAN_KIND_FILE || kind == MEMSCAN_KIND_SPECIAL;
}

/* 0 if [start, end) is a valid hole of [rstart, rend) following a hole that ended at PREV_END. */
static int hole_valid(uint64_t start, uint64_t end, uint64_t rstart, uint64_t rend, uint64_t prev_end)
{
	return start < end && start >= rstart && end <= rend && start >= prev_end;
}

static int is_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static const char *region_path(const struct ms_snap_region *r)
{
	if (r->path)
		return r->path;
	return r->region.path ? r->region.path : "";
}

/* ---- buffered writer ------------------------------------------------------------------------- */

struct sf_writer {
	int fd;
	uint64_t off, kicked; /* bytes written; bytes whose writeback was started */
	size_t len;
	struct sf_sum sum;
	uint8_t buf[SF_BUF_SIZE];
};

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len > SF_IO_CHUNK ? SF_IO_CHUNK : len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MEMSCAN_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return MEMSCAN_OK;
}

/* Writes LEN bytes at the end of the file; starts the writeback of each SF_WRITEBACK_STEP written
 * (asynchronous and advisory: durability is the final fsync's job). */
static int wr_write(struct sf_writer *w, const uint8_t *p, size_t len)
{
	int rc = MEMSCAN_OK;

	while (rc == MEMSCAN_OK && len > 0) {
		size_t n = len > SF_WRITEBACK_STEP ? SF_WRITEBACK_STEP : len;

		rc = write_all(w->fd, p, n);
		w->off += n;
		p += n;
		len -= n;
		if (rc == MEMSCAN_OK && w->off - w->kicked >= SF_WRITEBACK_STEP) {
			(void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->off - w->kicked),
			                      SYNC_FILE_RANGE_WRITE);
			w->kicked = w->off;
		}
	}
	return rc;
}

static int wr_flush(struct sf_writer *w)
{
	int rc = wr_write(w, w->buf, w->len);

	w->len = 0;
	return rc;
}

/* Appends LEN bytes; they count in the running checksum when SUMMED. Large blocks bypass the buffer. */
static int wr_put(struct sf_writer *w, const uint8_t *p, size_t len, int summed)
{
	if (summed)
		sum_update(&w->sum, p, len);
	if (len >= SF_BUF_SIZE) {
		int rc = wr_flush(w);

		return rc ? rc : wr_write(w, p, len);
	}
	if (w->len + len > SF_BUF_SIZE) {
		int rc = wr_flush(w);

		if (rc)
			return rc;
	}
	memcpy(w->buf + w->len, p, len);
	w->len += len;
	return MEMSCAN_OK;
}

static int wr_zeros(struct sf_writer *w, uint64_t len)
{
	static const uint8_t zeros[4096];

	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int rc = wr_put(w, zeros, n, 1);

		if (rc)
			return rc;
		len -= n;
	}
	return MEMSCAN_OK;
}

/* Writes the running checksum (not itself summed) and restarts it. */
static int wr_sum(struct sf_writer *w)
{
	uint8_t b[8];

	put_u64(b, sum_final(&w->sum));
	sum_init(&w->sum);
	return wr_put(w, b, sizeof(b), 0);
}

/* ---- save ----------------------------------------------------------------------------------- */

static int save_check_region(const struct ms_snap_region *r, uint64_t prev_end)
{
	const memscan_region *g = &r->region;
	uint64_t hprev = g->start;

	if (g->start >= g->end || g->start < prev_end || !r->data)
		return MEMSCAN_ERR_INVALID_ARG;
	if (g->perms & ~SF_PERMS_MASK || !kind_valid(g->kind))
		return MEMSCAN_ERR_INVALID_ARG;
	if (g->end - g->start > SF_MAX_REGION || strlen(region_path(r)) > SF_MAX_PATH)
		return MEMSCAN_ERR_LIMIT;
	if (r->holes.count > 0 && !r->holes.items)
		return MEMSCAN_ERR_INVALID_ARG;
	for (size_t i = 0; i < r->holes.count; i++) {
		const memscan_range *h = &r->holes.items[i];

		if (!hole_valid(h->start, h->end, g->start, g->end, hprev))
			return MEMSCAN_ERR_INVALID_ARG;
		hprev = h->end;
	}
	return MEMSCAN_OK;
}

/* Checks everything a loader would check, so that every saved file loads; sums the region sizes. */
static int save_check(const memscan_snapshot *snap, uint64_t *ret_total)
{
	uint64_t prev_end = 0, total = 0;

	if (snap->pid < 0 || (snap->count > 0 && !snap->regions))
		return MEMSCAN_ERR_INVALID_ARG;
	if (snap->count > SF_MAX_REGIONS)
		return MEMSCAN_ERR_LIMIT;
	for (size_t i = 0; i < snap->count; i++) {
		const struct ms_snap_region *r = &snap->regions[i];
		int rc = save_check_region(r, prev_end);

		if (rc)
			return rc;
		prev_end = r->region.end;
		total += r->region.end - r->region.start;
	}
	*ret_total = total;
	return MEMSCAN_OK;
}

static int save_header(struct sf_writer *w, const memscan_snapshot *snap, uint64_t total)
{
	uint8_t h[SF_HEADER_SIZE] = { 0 };

	memcpy(h, SF_MAGIC, SF_MAGIC_LEN);
	put_u32(h + 8, SF_VERSION);
	put_u32(h + 12, SF_HEADER_SIZE);
	put_u32(h + 16, (uint32_t)snap->pid);
	put_u32(h + 20, (uint32_t)snap->count);
	put_u64(h + 24, snap->time_ns);
	put_u64(h + 32, total);
	put_u64(h + 56, sum_buf(h, 56));
	return wr_put(w, h, sizeof(h), 0);
}

static int save_record_head(struct sf_writer *w, const struct ms_snap_region *r)
{
	static const uint8_t pad[8];
	const memscan_region *g = &r->region;
	const char *path = region_path(r);
	size_t plen = strlen(path);
	uint8_t h[SF_RECORD_SIZE] = { 0 };
	int rc;

	put_u64(h, g->start);
	put_u64(h + 8, g->end);
	put_u64(h + 16, g->offset);
	put_u64(h + 24, g->inode);
	put_u32(h + 32, g->dev_major);
	put_u32(h + 36, g->dev_minor);
	put_u32(h + 40, g->perms);
	put_u32(h + 44, g->kind);
	put_u32(h + 48, g->deleted ? SF_FLAG_DELETED : 0);
	put_u32(h + 52, (uint32_t)plen);
	put_u32(h + 56, (uint32_t)r->holes.count);
	rc = wr_put(w, h, sizeof(h), 1);
	if (!rc)
		rc = wr_put(w, (const uint8_t *)path, plen, 1);
	if (!rc)
		rc = wr_put(w, pad, (8 - plen % 8) % 8, 1);
	return rc;
}

static int save_holes(struct sf_writer *w, const memscan_ranges *holes)
{
	for (size_t i = 0; i < holes->count; i++) {
		uint8_t b[SF_HOLE_SIZE];
		int rc;

		put_u64(b, holes->items[i].start);
		put_u64(b + 8, holes->items[i].end);
		rc = wr_put(w, b, sizeof(b), 1);
		if (rc)
			return rc;
	}
	return MEMSCAN_OK;
}

/* Region bytes straight from the buffer; hole bytes are written as zeros whatever the buffer holds. */
static int save_data(struct sf_writer *w, const struct ms_snap_region *r)
{
	uint64_t base = r->region.start, pos = base;
	int rc = MEMSCAN_OK;

	for (size_t i = 0; i <= r->holes.count && !rc; i++) {
		uint64_t next = i < r->holes.count ? r->holes.items[i].start : r->region.end;

		rc = wr_put(w, r->data + (pos - base), (size_t)(next - pos), 1);
		if (!rc && i < r->holes.count) {
			rc = wr_zeros(w, r->holes.items[i].end - next);
			pos = r->holes.items[i].end;
		}
	}
	return rc;
}

static int save_region(struct sf_writer *w, const struct ms_snap_region *r)
{
	int rc = save_record_head(w, r);

	if (!rc)
		rc = save_holes(w, &r->holes);
	if (!rc)
		rc = save_data(w, r);
	if (!rc)
		rc = wr_sum(w);
	return rc;
}

static int save_trailer(struct sf_writer *w, const memscan_snapshot *snap, uint64_t total)
{
	uint8_t t[SF_TRAILER_SIZE] = { 0 };

	memcpy(t, SF_TRAILER_MAGIC, SF_MAGIC_LEN);
	put_u32(t + 8, (uint32_t)snap->count);
	put_u64(t + 16, total);
	put_u64(t + 24, sum_buf(t, 24));
	return wr_put(w, t, sizeof(t), 0);
}

static int save_body(int fd, const memscan_snapshot *snap, uint64_t total)
{
	struct sf_writer *w = malloc(sizeof(*w));
	int rc;

	if (!w)
		return MEMSCAN_ERR_NO_MEMORY;
	w->fd = fd;
	w->off = w->kicked = 0;
	w->len = 0;
	sum_init(&w->sum);
	rc = save_header(w, snap, total);
	for (size_t i = 0; i < snap->count && !rc; i++)
		rc = save_region(w, &snap->regions[i]);
	if (!rc)
		rc = save_trailer(w, snap, total);
	if (!rc)
		rc = wr_flush(w);
	free(w);
	return rc;
}

/* PATH + ".tmp.XXXXXX", for mkstemp. */
static char *temp_name(const char *path)
{
	static const char suffix[] = ".tmp.XXXXXX";
	size_t len = strlen(path);
	char *s = malloc(len + sizeof(suffix));

	if (!s)
		return NULL;
	memcpy(s, path, len);
	memcpy(s + len, suffix, sizeof(suffix));
	return s;
}

/* Makes the rename durable; best effort (some file systems refuse fsync on directories). */
static void sync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash) {
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		if (!dir)
			return;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
	}
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int memscan_snapshot_save(const memscan_snapshot *snapshot, const char *path)
{
	uint64_t total = 0;
	char *tmp = NULL;
	int fd = -1, rc;

	if (!snapshot || !path || !*path)
		return MEMSCAN_ERR_INVALID_ARG;
	rc = save_check(snapshot, &total);
	if (rc)
		return rc;
	tmp = temp_name(path);
	if (!tmp)
		return MEMSCAN_ERR_NO_MEMORY;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = MEMSCAN_ERR_IO;
		goto out_free;
	}
	rc = fchmod(fd, 0600) < 0 ? MEMSCAN_ERR_IO : save_body(fd, snapshot, total);
	if (!rc && fsync(fd) < 0)
		rc = MEMSCAN_ERR_IO;
	if (close(fd) < 0 && !rc)
		rc = MEMSCAN_ERR_IO;
	if (!rc && rename(tmp, path) < 0)
		rc = MEMSCAN_ERR_IO;
	if (rc)
		unlink(tmp);
	else
		sync_parent_dir(path);
out_free:
	free(tmp);
	return rc;
}

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
			sum_update(&r->sum, p, n);
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
	uint64_t want = sum_final(&r->sum);
	int rc = rd_get(r, b, sizeof(b), 0);

	sum_init(&r->sum);
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
	if (get_u32(b + 12) != SF_HEADER_SIZE || get_u64(b + 56) != sum_buf(b, 56))
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
	uint32_t flags;
	int rc = rd_get(r, b, sizeof(b), 1);

	if (rc)
		return rc;
	g->start = get_u64(b);
	g->end = get_u64(b + 8);
	g->offset = get_u64(b + 16);
	g->inode = get_u64(b + 24);
	g->dev_major = get_u32(b + 32);
	g->dev_minor = get_u32(b + 36);
	g->perms = get_u32(b + 40);
	g->kind = get_u32(b + 44);
	flags = get_u32(b + 48);
	g->deleted = (flags & SF_FLAG_DELETED) != 0;
	rec->path_len = get_u32(b + 52);
	rec->hole_count = get_u32(b + 56);
	if (g->start >= g->end || g->start < prev_end || g->end - g->start > SF_MAX_REGION)
		return MEMSCAN_ERR_BAD_FORMAT;
#if SIZE_MAX < UINT64_MAX
	if (g->end - g->start > SIZE_MAX)
		return MEMSCAN_ERR_LIMIT;
#endif
	if (flags & ~SF_FLAG_DELETED || get_u32(b + 60) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (g->perms & ~SF_PERMS_MASK || !kind_valid(g->kind) || rec->path_len > SF_MAX_PATH)
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
	if (memchr(path, '\0', len) || !is_zero(pad, npad))
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
		if (!hole_valid(start, end, rec->region.start, rec->region.end, prev))
			return MEMSCAN_ERR_BAD_FORMAT;
		if (ms_ranges_append(holes, start, end) < 0)
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

		if (!is_zero(sr->data + (h->start - base), (size_t)(h->end - h->start)))
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
		return rc < 0 ? MEMSCAN_ERR_NO_MEMORY : rc;
	if (ms_ranges_copy(&sr->holes, &s->holes) < 0)
		return MEMSCAN_ERR_NO_MEMORY;
	return load_data(r, sr);
}

static int load_trailer(struct sf_reader *r, const struct sf_header *h)
{
	uint8_t t[SF_TRAILER_SIZE];
	int rc = rd_get(r, t, sizeof(t), 0);

	if (rc)
		return rc;
	if (memcmp(t, SF_TRAILER_MAGIC, SF_MAGIC_LEN) != 0 || get_u64(t + 24) != sum_buf(t, 24))
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
	sum_init(&r->sum);
	rc = load_header(r, &h);
	if (rc)
		goto out;
	rc = ms_snapshot_new(&snap);
	if (rc) {
		rc = rc < 0 ? MEMSCAN_ERR_NO_MEMORY : rc;
		goto out;
	}
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
