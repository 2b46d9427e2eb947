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

/*
 * Word by word, each step waits for the one before (b needs the new a): ~4.7 GB/s. The same sum in
 * SF_LANES independent lanes, lane l taking words l, l + SF_LANES, ...: after M rounds
 * A[l] = sum of its words and B[l] = sum of (M - j + 1) * word j of the lane, and for the K = M *
 * SF_LANES words a word at position i (1-based) weighs K + 1 - i = SF_LANES * (M - j + 1) - l in b,
 * so b grows by K * a + SF_LANES * sum(B) - sum(l * A[l]) and a by sum(A). Everything wraps modulo
 * 2^64 as the word-by-word sum does, so the result is the same. Compiled twice: the AVX2 copy
 * vectorizes the lanes (~24 GB/s in cache, ~7.6 GB/s without).
 */
#define SF_LANES 8

static inline __attribute__((always_inline)) void sum_lanes_body(struct sf_sum *s, const uint8_t *p,
                                                                 size_t rounds)
{
	uint64_t A[SF_LANES] = { 0 }, B[SF_LANES] = { 0 }, sa = 0, sb = 0, la = 0;

	for (size_t j = 0; j < rounds; j++, p += 4 * SF_LANES) {
		for (int l = 0; l < SF_LANES; l++) {
			A[l] += get_u32(p + 4 * l);
			B[l] += A[l];
		}
	}
	for (int l = 0; l < SF_LANES; l++) {
		sa += A[l];
		sb += B[l];
		la += (uint64_t)l * A[l];
	}
	s->b += (uint64_t)rounds * SF_LANES * s->a + SF_LANES * sb - la;
	s->a += sa;
}

static void sum_lanes(struct sf_sum *s, const uint8_t *p, size_t rounds)
{
	sum_lanes_body(s, p, rounds);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void sum_lanes_avx2(struct sf_sum *s, const uint8_t *p, size_t rounds)
{
	sum_lanes_body(s, p, rounds);
}
#endif

static void sum_update(struct sf_sum *s, const uint8_t *p, size_t len)
{
	size_t rounds;

	s->n += len;
	while (len > 0 && s->ntail > 0) {
		s->tail[s->ntail++] = *p++;
		len--;
		if (s->ntail == 4) {
			sum_word(s, get_u32(s->tail));
			s->ntail = 0;
		}
	}
	rounds = len / (4 * SF_LANES);
	if (rounds) {
#if defined(__x86_64__) || defined(__i386__)
		if (ms_have_avx2())
			sum_lanes_avx2(s, p, rounds);
		else
#endif
			sum_lanes(s, p, rounds);
		p += rounds * 4 * SF_LANES;
		len -= rounds * 4 * SF_LANES;
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

/* pwrite (WRITE) or pread all of LEN bytes at OFF. */
static int pio_all(int fd, uint8_t *p, size_t len, uint64_t off, int write)
{
	while (len > 0) {
		size_t n = len > SF_IO_CHUNK ? SF_IO_CHUNK : len;
		ssize_t got = write ? pwrite(fd, p, n, (off_t)off) : pread(fd, p, n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return MEMSCAN_ERR_IO;
		p += got;
		off += (uint64_t)got;
		len -= (size_t)got;
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

/* File offset of the next byte wr_put appends. */
static uint64_t wr_tell(const struct sf_writer *w)
{
	return w->off + w->len;
}

/* Appends LEN bytes, summed into SUM if not NULL. Large blocks bypass the buffer. */
static int wr_put(struct sf_writer *w, const uint8_t *p, size_t len, struct sf_sum *sum)
{
	if (sum)
		sum_update(sum, p, len);
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

static int wr_zeros(struct sf_writer *w, uint64_t len, struct sf_sum *sum)
{
	static const uint8_t zeros[4096];

	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int rc = wr_put(w, zeros, n, sum);

		if (rc)
			return rc;
		len -= n;
	}
	return MEMSCAN_OK;
}

/* The state of summing X then Y, from X's (a whole number of 4-byte words) and Y's own: the sum is
 * a Fletcher-style pair, so the words of Y add (X's a - 1) to b once each. */
static void sum_concat(struct sf_sum *x, const struct sf_sum *y)
{
	uint64_t words = (y->n - y->ntail) / 4;

	x->b += y->b + words * (x->a - 1);
	x->a += y->a - 1;
	x->n += y->n;
	memcpy(x->tail, y->tail, sizeof(x->tail));
	x->ntail = y->ntail;
}

/* ---- the snapshot file writer (memscan_snapshot_writer_*; memscan_snapshot_save uses it) ------ */

struct memscan_snapshot_writer {
	struct sf_writer io;
	char *path, *tmp; /* the destination and the temporary file written until commit */
	int pid, failed;  /* after a failure only _free is useful */
	uint32_t count;
	uint64_t total, prev_end;
	/* the region being written (open while in_region) */
	int in_region;
	memscan_region region;
	char *rpath;
	memscan_ranges holes;
	uint64_t rec_off;       /* file offset of its record */
	uint64_t data_off;      /* file offset where its bytes started (0: none written yet) */
	size_t holes_reserved;  /* holes that fit before data_off */
	uint64_t written;       /* its bytes written so far */
	size_t next_hole;       /* first hole not wholly behind the write position */
	struct sf_sum data_sum; /* of its bytes */
};

static int writer_fail(memscan_snapshot_writer *w, int rc)
{
	if (rc != MEMSCAN_OK)
		w->failed = 1;
	return rc;
}

int memscan_snapshot_writer_open(const char *path, int pid, memscan_snapshot_writer **ret_writer)
{
	static const char suffix[] = ".tmp.XXXXXX";
	static const uint8_t placeholder[SF_HEADER_SIZE];
	memscan_snapshot_writer *w;
	int rc;

	if (ret_writer)
		*ret_writer = NULL;
	if (!path || !*path || pid < 0 || !ret_writer)
		return MEMSCAN_ERR_INVALID_ARG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return MEMSCAN_ERR_NO_MEMORY;
	w->io.fd = -1;
	w->pid = pid;
	w->path = strdup(path);
	w->tmp = malloc(strlen(path) + sizeof(suffix));
	if (!w->path || !w->tmp) {
		memscan_snapshot_writer_free(w);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	memcpy(w->tmp, path, strlen(path));
	memcpy(w->tmp + strlen(path), suffix, sizeof(suffix));
	w->io.fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->io.fd < 0) {
		free(w->tmp);
		w->tmp = NULL; /* nothing to remove */
		memscan_snapshot_writer_free(w);
		return MEMSCAN_ERR_IO;
	}
	/* the header is written last, when the counts are known */
	rc = fchmod(w->io.fd, 0600) < 0 ? MEMSCAN_ERR_IO
	                                : wr_put(&w->io, placeholder, sizeof(placeholder), NULL);
	if (rc != MEMSCAN_OK) {
		memscan_snapshot_writer_free(w);
		return rc;
	}
	*ret_writer = w;
	return MEMSCAN_OK;
}

int memscan_snapshot_writer_begin_region(memscan_snapshot_writer *w, const memscan_region *region)
{
	const memscan_region *g = region;

	if (!w || !g || w->failed || w->in_region)
		return MEMSCAN_ERR_INVALID_ARG;
	if (g->start >= g->end || g->start < w->prev_end || g->perms & ~SF_PERMS_MASK || !kind_valid(g->kind))
		return MEMSCAN_ERR_INVALID_ARG;
	if (g->end - g->start > SF_MAX_REGION || strlen(g->path ? g->path : "") > SF_MAX_PATH ||
	    w->count == SF_MAX_REGIONS)
		return MEMSCAN_ERR_LIMIT;
	w->rpath = strdup(g->path ? g->path : "");
	if (!w->rpath)
		return MEMSCAN_ERR_NO_MEMORY;
	w->region = *g;
	w->region.path = w->rpath;
	memscan_ranges_clear(&w->holes);
	w->rec_off = wr_tell(&w->io);
	w->data_off = 0;
	w->holes_reserved = 0;
	w->written = 0;
	w->next_hole = 0;
	sum_init(&w->data_sum);
	w->in_region = 1;
	return MEMSCAN_OK;
}

int memscan_snapshot_writer_add_hole(memscan_snapshot_writer *w, memscan_range hole)
{
	uint64_t prev;

	if (!w || w->failed || !w->in_region)
		return MEMSCAN_ERR_INVALID_ARG;
	prev = w->holes.count ? w->holes.items[w->holes.count - 1].end : w->region.start;
	if (!hole_valid(hole.start, hole.end, w->region.start, w->region.end, prev))
		return MEMSCAN_ERR_INVALID_ARG;
	if (w->holes.count >= (size_t)(w->region.end - w->region.start))
		return MEMSCAN_ERR_LIMIT;
	/* kept apart even when adjacent to the last one (the format allows it): a hole added late must
	 * stay a record of its own, whose bytes end_region checks */
	return ms_ranges_push(&w->holes, hole.start, hole.end) < 0 ? MEMSCAN_ERR_NO_MEMORY : MEMSCAN_OK;
}

/* The record's head: fixed part, path, padding and the holes known now (*RET_LEN bytes); NULL if out
 * of memory. *SUM gets its checksum state. */
static uint8_t *record_head(const memscan_snapshot_writer *w, size_t *ret_len, struct sf_sum *sum)
{
	const memscan_region *g = &w->region;
	size_t plen = strlen(w->rpath), npad = (8 - plen % 8) % 8;
	size_t len = SF_RECORD_SIZE + plen + npad + SF_HOLE_SIZE * w->holes.count;
	uint8_t *h = calloc(1, len), *p;

	if (!h)
		return NULL;
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
	put_u32(h + 56, (uint32_t)w->holes.count);
	memcpy(h + SF_RECORD_SIZE, w->rpath, plen); /* the padding stays zero */
	p = h + SF_RECORD_SIZE + plen + npad;
	for (size_t i = 0; i < w->holes.count; i++, p += SF_HOLE_SIZE) {
		put_u64(p, w->holes.items[i].start);
		put_u64(p + 8, w->holes.items[i].end);
	}
	sum_init(sum);
	sum_update(sum, h, len);
	*ret_len = len;
	return h;
}

/* Appends LEN bytes of the region, bytes inside holes known by now replaced by zeros. */
static int writer_data(memscan_snapshot_writer *w, const uint8_t *p, size_t len)
{
	while (len > 0) {
		uint64_t pos = w->region.start + w->written;
		const memscan_range *h;
		size_t n = len;
		int rc;

		while (w->next_hole < w->holes.count && w->holes.items[w->next_hole].end <= pos)
			w->next_hole++;
		h = w->next_hole < w->holes.count ? &w->holes.items[w->next_hole] : NULL;
		if (h && h->start <= pos) {
			n = h->end - pos < len ? (size_t)(h->end - pos) : len;
			rc = wr_zeros(&w->io, n, &w->data_sum);
		} else {
			if (h && h->start - pos < len)
				n = (size_t)(h->start - pos);
			rc = wr_put(&w->io, p, n, &w->data_sum);
		}
		if (rc != MEMSCAN_OK)
			return rc;
		w->written += n;
		p += n;
		len -= n;
	}
	return MEMSCAN_OK;
}

int memscan_snapshot_writer_write(memscan_snapshot_writer *w, const void *data, size_t len)
{
	struct sf_sum unused;
	int rc = MEMSCAN_OK;

	if (!w || w->failed || !w->in_region || (!data && len))
		return MEMSCAN_ERR_INVALID_ARG;
	if (len > w->region.end - w->region.start - w->written)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!w->data_off && len) {
		/* the record's head goes first, with room for the holes known so far */
		size_t hlen;
		uint8_t *head = record_head(w, &hlen, &unused);

		rc = head ? wr_put(&w->io, head, hlen, NULL) : MEMSCAN_ERR_NO_MEMORY;
		free(head);
		w->holes_reserved = w->holes.count;
		w->data_off = wr_tell(&w->io);
	}
	if (rc == MEMSCAN_OK)
		rc = writer_data(w, data, len);
	return writer_fail(w, rc);
}

/* Moves the region's bytes DELTA bytes further into the file (holes added after they were written
 * need that room), from the end backwards, through the flushed write buffer. */
static int writer_shift(memscan_snapshot_writer *w, uint64_t delta)
{
	uint64_t left = w->written;
	int rc = wr_flush(&w->io);

	while (rc == MEMSCAN_OK && left > 0) {
		size_t n = left < SF_BUF_SIZE ? (size_t)left : SF_BUF_SIZE;
		left -= n;
		rc = pio_all(w->io.fd, w->io.buf, n, w->data_off + left, 0);
		if (rc == MEMSCAN_OK)
			rc = pio_all(w->io.fd, w->io.buf, n, w->data_off + delta + left, 1);
	}
	w->data_off += delta;
	w->io.off = w->data_off + w->written;
	if (rc == MEMSCAN_OK && lseek(w->io.fd, (off_t)w->io.off, SEEK_SET) < 0)
		rc = MEMSCAN_ERR_IO;
	return rc;
}

/* Holes added after the region's bytes began (HOLES_RESERVED on) may cover bytes written before
 * them: those must be zeros (a loader checks). Read back through the flushed write buffer. */
static int writer_check_late_holes(memscan_snapshot_writer *w)
{
	int rc = wr_flush(&w->io);

	for (size_t i = w->holes_reserved; rc == MEMSCAN_OK && i < w->holes.count; i++) {
		const memscan_range *h = &w->holes.items[i];
		for (uint64_t a = h->start; rc == MEMSCAN_OK && a < h->end;) {
			size_t n = h->end - a < SF_BUF_SIZE ? (size_t)(h->end - a) : SF_BUF_SIZE;
			rc = pio_all(w->io.fd, w->io.buf, n, w->data_off + (a - w->region.start), 0);
			if (rc == MEMSCAN_OK && !is_zero(w->io.buf, n))
				rc = MEMSCAN_ERR_INVALID_ARG;
			a += n;
		}
	}
	return rc;
}

int memscan_snapshot_writer_end_region(memscan_snapshot_writer *w)
{
	struct sf_sum head;
	uint8_t b[8], *h;
	size_t hlen;
	int rc = MEMSCAN_OK;

	if (!w || w->failed || !w->in_region || w->written != w->region.end - w->region.start)
		return MEMSCAN_ERR_INVALID_ARG;
	h = record_head(w, &hlen, &head);
	if (!h)
		return writer_fail(w, MEMSCAN_ERR_NO_MEMORY);
	if (w->holes.count > w->holes_reserved) {
		/* holes came after the bytes: make room for them, check their bytes, rewrite the head */
		rc = writer_shift(w, SF_HOLE_SIZE * (uint64_t)(w->holes.count - w->holes_reserved));
		if (rc == MEMSCAN_OK)
			rc = writer_check_late_holes(w);
		if (rc == MEMSCAN_OK)
			rc = pio_all(w->io.fd, h, hlen, w->rec_off, 1);
	}
	free(h);
	if (rc == MEMSCAN_OK) {
		sum_concat(&head, &w->data_sum);
		put_u64(b, sum_final(&head));
		rc = wr_put(&w->io, b, sizeof(b), NULL);
	}
	if (rc == MEMSCAN_OK) {
		w->in_region = 0;
		w->count++;
		w->total += w->region.end - w->region.start;
		w->prev_end = w->region.end;
		free(w->rpath);
		w->rpath = NULL;
	}
	return writer_fail(w, rc);
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

int memscan_snapshot_writer_commit(memscan_snapshot_writer *w, uint64_t time_ns)
{
	uint8_t h[SF_HEADER_SIZE] = { 0 }, t[SF_TRAILER_SIZE] = { 0 };
	int rc;

	if (!w || w->failed || w->in_region || !w->tmp)
		return MEMSCAN_ERR_INVALID_ARG;
	memcpy(t, SF_TRAILER_MAGIC, SF_MAGIC_LEN);
	put_u32(t + 8, w->count);
	put_u64(t + 16, w->total);
	put_u64(t + 24, sum_buf(t, 24));
	rc = wr_put(&w->io, t, sizeof(t), NULL);
	if (rc == MEMSCAN_OK)
		rc = wr_flush(&w->io);
	memcpy(h, SF_MAGIC, SF_MAGIC_LEN);
	put_u32(h + 8, SF_VERSION);
	put_u32(h + 12, SF_HEADER_SIZE);
	put_u32(h + 16, (uint32_t)w->pid);
	put_u32(h + 20, w->count);
	put_u64(h + 24, time_ns);
	put_u64(h + 32, w->total);
	put_u64(h + 56, sum_buf(h, 56));
	if (rc == MEMSCAN_OK)
		rc = pio_all(w->io.fd, h, sizeof(h), 0, 1);
	if (rc == MEMSCAN_OK && fsync(w->io.fd) < 0)
		rc = MEMSCAN_ERR_IO;
	if (close(w->io.fd) < 0 && rc == MEMSCAN_OK)
		rc = MEMSCAN_ERR_IO;
	w->io.fd = -1;
	if (rc == MEMSCAN_OK && rename(w->tmp, w->path) < 0)
		rc = MEMSCAN_ERR_IO;
	if (rc == MEMSCAN_OK) {
		sync_parent_dir(w->path);
		free(w->tmp);
		w->tmp = NULL; /* it is the destination now */
	}
	return writer_fail(w, rc);
}

void memscan_snapshot_writer_free(memscan_snapshot_writer *w)
{
	if (!w)
		return;
	if (w->io.fd >= 0)
		close(w->io.fd);
	if (w->tmp)
		unlink(w->tmp); /* not committed: no partial file is left */
	free(w->tmp);
	free(w->path);
	free(w->rpath);
	memscan_ranges_release(&w->holes);
	free(w);
}

/* ---- save ----------------------------------------------------------------------------------- */

static int save_region(memscan_snapshot_writer *w, const struct ms_snap_region *r)
{
	memscan_region g = r->region;
	int rc;

	g.path = region_path(r);
	rc = memscan_snapshot_writer_begin_region(w, &g);
	for (size_t i = 0; rc == MEMSCAN_OK && i < r->holes.count; i++)
		rc = memscan_snapshot_writer_add_hole(w, r->holes.items[i]);
	if (rc == MEMSCAN_OK && !r->data)
		rc = MEMSCAN_ERR_INVALID_ARG;
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_write(w, r->data, (size_t)(g.end - g.start));
	return rc == MEMSCAN_OK ? memscan_snapshot_writer_end_region(w) : rc;
}

int memscan_snapshot_save(const memscan_snapshot *snapshot, const char *path)
{
	memscan_snapshot_writer *w;
	int rc;

	if (!snapshot || !path || !*path || snapshot->pid < 0 || (snapshot->count > 0 && !snapshot->regions))
		return MEMSCAN_ERR_INVALID_ARG;
	if (snapshot->count > SF_MAX_REGIONS)
		return MEMSCAN_ERR_LIMIT;
	rc = memscan_snapshot_writer_open(path, snapshot->pid, &w);
	for (size_t i = 0; rc == MEMSCAN_OK && i < snapshot->count; i++)
		rc = save_region(w, &snapshot->regions[i]);
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_commit(w, snapshot->time_ns);
	memscan_snapshot_writer_free(w);
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
