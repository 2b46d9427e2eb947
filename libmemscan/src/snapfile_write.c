/* SPDX-License-Identifier: MIT */
/* Snapshot files, writing: memscan_snapshot_writer_* (streamed, region by region) and memscan_snapshot_save.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "internal.h"
#include "snapfile.h"

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
		sf_sum_update(sum, p, len);
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

/* ---- the snapshot file writer (memscan_snapshot_writer_*; memscan_snapshot_save uses it) ------ */

struct memscan_snapshot_writer {
	struct sf_writer io;
	ms_afile file; /* the temporary file written until commit (its fd is io.fd) */
	int committed;
	int pid, failed;     /* after a failure only _free is useful */
	uint64_t filter_len; /* bytes of the filter block after the header (0: none, version 1) */
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
	w->pid = pid;
	rc = ms_afile_open(&w->file, path);
	if (rc != MEMSCAN_OK) {
		free(w);
		return rc;
	}
	w->io.fd = w->file.fd;
	/* the header is written last, when the counts are known */
	rc = wr_put(&w->io, placeholder, sizeof(placeholder), NULL);
	if (rc != MEMSCAN_OK) {
		memscan_snapshot_writer_free(w);
		return rc;
	}
	*ret_writer = w;
	return MEMSCAN_OK;
}

int memscan_snapshot_writer_set_filter(memscan_snapshot_writer *w, const memscan_filter *filter)
{
	uint8_t b[SF_FILTER_MAX];
	size_t len;
	int rc;

	if (!w || !filter || w->failed || w->in_region || w->count || w->filter_len ||
	    (filter->path_substr && strlen(filter->path_substr) > SF_MAX_PATH))
		return MEMSCAN_ERR_INVALID_ARG;
	len = sf_filter_put(b, filter);
	rc = wr_put(&w->io, b, len, NULL);
	if (rc == MEMSCAN_OK)
		w->filter_len = len;
	return writer_fail(w, rc);
}

int memscan_snapshot_writer_begin_region(memscan_snapshot_writer *w, const memscan_region *region)
{
	const memscan_region *g = region;

	if (!w || !g || w->failed || w->in_region)
		return MEMSCAN_ERR_INVALID_ARG;
	if (g->start >= g->end || g->start < w->prev_end || g->perms & ~SF_PERMS_MASK ||
	    !sf_kind_valid(g->kind))
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
	sf_sum_init(&w->data_sum);
	w->in_region = 1;
	return MEMSCAN_OK;
}

int memscan_snapshot_writer_add_hole(memscan_snapshot_writer *w, memscan_range hole)
{
	uint64_t prev;

	if (!w || w->failed || !w->in_region)
		return MEMSCAN_ERR_INVALID_ARG;
	prev = w->holes.count ? w->holes.items[w->holes.count - 1].end : w->region.start;
	if (!sf_hole_valid(hole.start, hole.end, w->region.start, w->region.end, prev))
		return MEMSCAN_ERR_INVALID_ARG;
	if (w->holes.count >= (size_t)(w->region.end - w->region.start))
		return MEMSCAN_ERR_LIMIT;
	/* kept apart even when adjacent to the last one (the format allows it): a hole added late must
	 * stay a record of its own, whose bytes end_region checks */
	return ms_ranges_push(&w->holes, hole.start, hole.end);
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
	sf_put_region(h, g, (uint32_t)plen);
	put_u32(h + SF_REGION_FIELDS, (uint32_t)w->holes.count);
	memcpy(h + SF_RECORD_SIZE, w->rpath, plen); /* the padding stays zero */
	p = h + SF_RECORD_SIZE + plen + npad;
	for (size_t i = 0; i < w->holes.count; i++, p += SF_HOLE_SIZE) {
		put_u64(p, w->holes.items[i].start);
		put_u64(p + 8, w->holes.items[i].end);
	}
	sf_sum_init(sum);
	sf_sum_update(sum, h, len);
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
			if (rc == MEMSCAN_OK && !sf_is_zero(w->io.buf, n))
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
		sf_sum_concat(&head, &w->data_sum);
		put_u64(b, sf_sum_final(&head));
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

int memscan_snapshot_writer_drop_region(memscan_snapshot_writer *w)
{
	int rc;

	if (!w || w->failed || !w->in_region)
		return MEMSCAN_ERR_INVALID_ARG;
	rc = wr_flush(&w->io);
	if (rc == MEMSCAN_OK &&
	    (ftruncate(w->io.fd, (off_t)w->rec_off) < 0 || lseek(w->io.fd, (off_t)w->rec_off, SEEK_SET) < 0))
		rc = MEMSCAN_ERR_IO;
	if (rc == MEMSCAN_OK) {
		w->io.off = w->rec_off;
		if (w->io.kicked > w->rec_off)
			w->io.kicked = w->rec_off;
		w->in_region = 0;
		free(w->rpath);
		w->rpath = NULL;
	}
	return writer_fail(w, rc);
}

int memscan_snapshot_writer_commit(memscan_snapshot_writer *w, uint64_t time_ns)
{
	uint8_t h[SF_HEADER_SIZE] = { 0 }, t[SF_TRAILER_SIZE] = { 0 };
	int rc;

	if (!w || w->failed || w->in_region || w->committed)
		return MEMSCAN_ERR_INVALID_ARG;
	memcpy(t, SF_TRAILER_MAGIC, SF_MAGIC_LEN);
	put_u32(t + 8, w->count);
	put_u64(t + 16, w->total);
	put_u64(t + 24, sf_sum_buf(t, 24));
	rc = wr_put(&w->io, t, sizeof(t), NULL);
	if (rc == MEMSCAN_OK)
		rc = wr_flush(&w->io);
	memcpy(h, SF_MAGIC, SF_MAGIC_LEN);
	put_u32(h + 8, w->filter_len ? SF_VERSION : SF_VERSION_PLAIN);
	put_u64(h + 40, w->filter_len);
	put_u32(h + 12, SF_HEADER_SIZE);
	put_u32(h + 16, (uint32_t)w->pid);
	put_u32(h + 20, w->count);
	put_u64(h + 24, time_ns);
	put_u64(h + 32, w->total);
	put_u64(h + 56, sf_sum_buf(h, 56));
	if (rc == MEMSCAN_OK)
		rc = pio_all(w->io.fd, h, sizeof(h), 0, 1);
	/* the descriptor goes with the file: committed (fsynced, renamed) or, after a failure, removed */
	if (rc == MEMSCAN_OK)
		rc = ms_afile_commit(&w->file);
	else
		ms_afile_abort(&w->file);
	w->io.fd = -1;
	w->committed = rc == MEMSCAN_OK;
	return writer_fail(w, rc);
}

void memscan_snapshot_writer_free(memscan_snapshot_writer *w)
{
	if (!w)
		return;
	ms_afile_abort(&w->file); /* not committed: no partial file is left */
	free(w->rpath);
	memscan_ranges_release(&w->holes);
	free(w);
}

/* ---- save ----------------------------------------------------------------------------------- */

static int save_region(memscan_snapshot_writer *w, const struct ms_snap_region *r)
{
	memscan_region g = r->region;
	int rc;

	g.path = sf_region_path(r);
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
	if (rc == MEMSCAN_OK && snapshot->sel.known)
		rc = memscan_snapshot_writer_set_filter(w, &snapshot->sel.f);
	for (size_t i = 0; rc == MEMSCAN_OK && i < snapshot->count; i++)
		rc = save_region(w, &snapshot->regions[i]);
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_commit(w, snapshot->time_ns);
	memscan_snapshot_writer_free(w);
	return rc;
}
