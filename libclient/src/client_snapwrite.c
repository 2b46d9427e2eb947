/* SPDX-License-Identifier: MIT */
/* A live process's regions streamed straight into a snapshot file: listed, then read page by page with
 * the next page asked for ahead, and nothing kept on the agent (memscan_client_snapshot_write). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens the file at PATH for PID's snapshot, FILTER recorded as the one its regions were selected
 * with. */
static int open_file(memscan_client *c, const char *path, int pid, const memscan_filter *filter,
                     memscan_snapshot_writer **ret)
{
	memscan_snapshot_writer *w = NULL;
	int r = memscan_snapshot_writer_open(path, pid, &w);

	if (r == MEMSCAN_OK)
		r = memscan_snapshot_writer_set_filter(w, filter);
	if (r != MEMSCAN_OK) {
		memscan_snapshot_writer_free(w);
		return client_fail(c, r, "cannot create '%s': %s", path, memscan_strerror(r));
	}
	*ret = w;
	return MEMSCAN_OK;
}

/* ---- small regions, read in groups ---- */

/* The bytes of a group of small regions read at once: a pipelined Read's (or this, from an agent that
 * did not say its page size). */
#define GROUP_MAX_DEFAULT (1u << 20)

static size_t group_max(const memscan_client *c)
{
	return c->page_bytes ? (size_t)client_pipe_page(c) : GROUP_MAX_DEFAULT;
}

static uint64_t region_size(const memscan_region *r)
{
	return r->end - r->start;
}

/* The end of the group starting at region I of LIST: the adjacent regions after it (a library's
 * mappings lie end to end) while they fit in MAX bytes together; I alone if it does not fit. */
static size_t group_end(const memscan_region_list *list, size_t i, size_t max)
{
	size_t n = memscan_region_list_count(list), j = i + 1;
	uint64_t bytes = region_size(memscan_region_list_get(list, i));

	while (j < n && bytes <= max) {
		const memscan_region *prev = memscan_region_list_get(list, j - 1),
		                     *r = memscan_region_list_get(list, j);

		if (r->start != prev->end || region_size(r) > max - bytes)
			break;
		bytes += region_size(r);
		j++;
	}
	return j;
}

/* The part of HOLE inside REG into *RET; 0 if none. */
static int hole_clip(memscan_range hole, const memscan_region *reg, memscan_range *ret)
{
	ret->start = hole.start > reg->start ? hole.start : reg->start;
	ret->end = hole.end < reg->end ? hole.end : reg->end;
	return ret->start < ret->end;
}

/* Writes region REG, whose bytes are DATA, with the parts of HOLES inside it; a region wholly in holes
 * is left out, as snapshots leave out what they could not read at all. */
static int put_region(const memscan_region *reg, const uint8_t *data, const memscan_ranges *holes,
                      memscan_snapshot_writer *w, memscan_snapshot_file_info *info)
{
	uint64_t hole_bytes = 0;
	memscan_range h;
	int r;

	for (size_t i = 0; i < holes->count; i++)
		if (hole_clip(holes->items[i], reg, &h))
			hole_bytes += h.end - h.start;
	if (hole_bytes == region_size(reg))
		return MEMSCAN_OK;
	r = memscan_snapshot_writer_begin_region(w, reg);
	/* holes first: the writer stores zeros there whatever the bytes hold */
	for (size_t i = 0; r == MEMSCAN_OK && i < holes->count; i++)
		if (hole_clip(holes->items[i], reg, &h))
			r = memscan_snapshot_writer_add_hole(w, h);
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_writer_write(w, data, (size_t)region_size(reg));
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_writer_end_region(w);
	if (r != MEMSCAN_OK)
		return r;
	info->regions++;
	info->bytes += region_size(reg);
	info->hole_bytes += hole_bytes;
	return MEMSCAN_OK;
}

/* Reads regions I to J - 1 of LIST (end to end, at most BUF's size in all) with one Read into BUF, then
 * writes each. */
static int save_group(memscan_client *c, const struct client_save_src *src, const memscan_region_list *list,
                      size_t i, size_t j, uint8_t *buf, memscan_snapshot_writer *w,
                      memscan_snapshot_file_info *info)
{
	const memscan_region *first = memscan_region_list_get(list, i);
	memscan_ranges holes = { 0 };
	struct client_read_sink s = { .buf = buf,
		                      .addr = first->start,
		                      .len =
		                          (size_t)(memscan_region_list_get(list, j - 1)->end - first->start),
		                      .start_time = src->start_time,
		                      .on_hole = client_ranges_hole,
		                      .hole_ctx = &holes };
	int r = client_read_into(c, src->pid, 0, &s);

	if (r == MEMSCAN_ERR_PARTIAL || r == MEMSCAN_ERR_UNREADABLE)
		r = MEMSCAN_OK;
	for (size_t k = i; r == MEMSCAN_OK && k < j; k++) {
		const memscan_region *reg = memscan_region_list_get(list, k);

		r = put_region(reg, buf + (reg->start - first->start), &holes, w, info);
		if (r != MEMSCAN_OK)
			client_fail(c, r, "writing the snapshot file: %s", memscan_strerror(r));
	}
	memscan_ranges_release(&holes);
	return r;
}

/* Saves LIST into W: regions larger than a group streamed page by page, the others read in groups. */
static int save_live(memscan_client *c, const struct client_save_src *src, const memscan_region_list *list,
                     memscan_snapshot_writer *w, memscan_snapshot_file_info *info)
{
	size_t n = memscan_region_list_count(list), max = group_max(c), j;
	uint8_t *buf = NULL;
	int r = MEMSCAN_OK;

	for (size_t i = 0; r == MEMSCAN_OK && i < n; i = j) {
		const memscan_region *reg = memscan_region_list_get(list, i);

		j = group_end(list, i, max);
		if (region_size(reg) > max) {
			r = client_save_region(c, src, reg, w, info);
			continue;
		}
		if (!buf && !(buf = malloc(max)))
			r = client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		if (r == MEMSCAN_OK)
			r = save_group(c, src, list, i, j, buf, w, info);
	}
	free(buf);
	return r;
}

/* ---- the snapshot ---- */

static int write_live(memscan_client *c, int pid, const memscan_filter *filter, const char *path,
                      memscan_snapshot_file_info *info)
{
	struct client_regions a = { 0 };
	struct client_save_src src = { .pid = pid };
	memscan_snapshot_writer *w = NULL;
	memscan_filter dflt;
	int r = client_list_regions(c, pid, filter, 1, &a);

	if (r != MEMSCAN_OK)
		return r;
	if (!filter) {
		memscan_filter_default(&dflt); /* what the agent selected with */
		filter = &dflt;
	}
	/* every read names the process listed: a PID reused meanwhile is refused, not read */
	src.start_time = a.start_time;
	client_progress_begin(c, memscan_region_list_bytes(a.list));
	r = open_file(c, path, pid, filter, &w);
	if (r == MEMSCAN_OK)
		r = save_live(c, &src, a.list, w, info);
	/* the regions were read one after another: the file's time is when the last one was */
	if (r == MEMSCAN_OK && (r = memscan_snapshot_writer_commit(w, wall_ns())) != MEMSCAN_OK)
		client_fail(c, r, "cannot write '%s': %s", path, memscan_strerror(r));
	memscan_snapshot_writer_free(w); /* removes the temporary file unless committed */
	memscan_region_list_free(a.list);
	return r;
}

int memscan_client_snapshot_write(memscan_client *c, int pid, const memscan_filter *filter, const char *path,
                                  memscan_snapshot_file_info *ret_info)
{
	memscan_snapshot_file_info info = { 0 };
	int r;

	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	if (!c || pid <= 0 || !path || !*path)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = write_live(c, pid, filter, path, &info);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_info)
		*ret_info = info;
	return r;
}
