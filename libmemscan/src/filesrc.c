/* SPDX-License-Identifier: MIT */
/* Process handles over snapshot files (memscan_process_open_file): the file's regions instead of
 * /proc/PID/maps, its bytes (read where they lie in the file, as asked) instead of the process's, so
 * every operation on a handle (regions, reads, pattern and value scans, snapshots) works on a snapshot
 * taken earlier, elsewhere. The file is checked whole once, a record at a time; only its region table
 * is kept in memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "snapfile.h"

/* One region of the file: what it was, its holes, where its bytes start in the file. */
struct ms_file_region {
	memscan_region region; /* its path points into the source's list */
	memscan_ranges holes;
	uint64_t data_off;
};

struct ms_file_src {
	int fd;
	memscan_region_list *list; /* the regions, and the pool of their paths */
	struct ms_file_region *regions;
	size_t count, cap;
	struct stat st; /* the file as checked: a file changed since is refused */
};

void ms_filesrc_free(struct ms_file_src *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->count; i++)
		memscan_ranges_release(&src->regions[i].holes);
	free(src->regions);
	memscan_region_list_free(src->list);
	if (src->fd >= 0)
		close(src->fd);
	free(src);
}

/* Adds the region F is at to SRC (its holes copied, its data offset noted), then skips its bytes,
 * which checks them. */
static int add_region(struct ms_file_src *src, struct sf_in *f, const memscan_region *g,
                      const memscan_ranges *holes)
{
	struct ms_file_region *fr;
	int r = memscan_region_list_add(src->list, g);

	if (r != MEMSCAN_OK)
		return r;
	r = ms_grow(&src->regions, &src->cap, src->count + 1, sizeof(*src->regions), SIZE_MAX);
	if (r != MEMSCAN_OK)
		return r;
	fr = &src->regions[src->count++];
	memset(fr, 0, sizeof(*fr));
	fr->data_off = sf_in_data_offset(f);
	for (size_t k = 0; r == MEMSCAN_OK && k < holes->count; k++)
		r = memscan_ranges_add(&fr->holes, holes->items[k].start, holes->items[k].end);
	return r == MEMSCAN_OK ? sf_in_skip(f, g->end - g->start) : r;
}

/* Reads PATH's region table, checking every byte of the file on the way. */
static int file_index(const char *path, struct ms_file_src *src, int *ret_pid)
{
	struct sf_in *f = NULL;
	int r = sf_in_open(path, &f), done = 0;

	if (r != MEMSCAN_OK)
		return r;
	*ret_pid = sf_in_pid(f);
	while (r == MEMSCAN_OK) {
		const memscan_region *g;
		const memscan_ranges *holes;

		r = sf_in_next(f, &g, &holes, &done);
		if (r != MEMSCAN_OK || done)
			break;
		r = add_region(src, f, g, holes);
	}
	sf_in_close(f);
	if (r != MEMSCAN_OK)
		return r;
	/* the list's paths moved as it grew: point the regions at their final copies */
	for (size_t i = 0; i < src->count; i++)
		src->regions[i].region = *memscan_region_list_get(src->list, i);
	return MEMSCAN_OK;
}

int memscan_process_open_file(const char *path, memscan_process **ret_proc)
{
	struct ms_file_src *src;
	memscan_process *proc = NULL;
	int r, pid = 0;

	if (ret_proc)
		*ret_proc = NULL;
	if (!path || !ret_proc)
		return MEMSCAN_ERR_INVALID_ARG;
	src = calloc(1, sizeof(*src));
	if (!src)
		return MEMSCAN_ERR_NO_MEMORY;
	src->fd = -1;
	r = memscan_region_list_new(&src->list);
	if (r == MEMSCAN_OK)
		r = file_index(path, src, &pid);
	if (r == MEMSCAN_OK) {
		src->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (src->fd < 0 || fstat(src->fd, &src->st) < 0)
			r = MEMSCAN_ERR_IO;
	}
	if (r == MEMSCAN_OK) {
		proc = calloc(1, sizeof(*proc));
		r = proc ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
	}
	if (r != MEMSCAN_OK) {
		ms_filesrc_free(src);
		return r;
	}
	proc->pid = pid;
	proc->pidfd = -1;
	proc->pagemap_fd = proc->maps_fd = -1; /* nothing of /proc: every byte comes from the file */
	proc->keep_absent = 1;
	proc->file = src;
	*ret_proc = proc;
	return MEMSCAN_OK;
}

bool memscan_process_is_file(const memscan_process *proc)
{
	return proc && proc->file;
}

int ms_filesrc_regions(const memscan_process *proc, const memscan_filter *filter,
                       memscan_region_list **ret_list)
{
	const struct ms_file_src *src = proc->file;
	memscan_region_list *list = NULL;
	int r = memscan_region_list_new(&list);

	for (size_t i = 0; r == MEMSCAN_OK && i < src->count; i++) {
		memscan_region g = src->regions[i].region;

		if (memscan_filter_match(filter, &g) && ms_filter_clip(filter, &g) == 0)
			r = memscan_region_list_add(list, &g);
	}
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(list);
		return r;
	}
	*ret_list = list;
	return MEMSCAN_OK;
}

/* Marks [A, B) of REQ a hole: zeros, counted, listed. */
static int req_hole(struct ms_read_req *req, uint64_t a, uint64_t b)
{
	memset((uint8_t *)req->buf + (a - req->addr), 0, (size_t)(b - a));
	req->hole_bytes += (size_t)(b - a);
	return req->holes ? ms_ranges_append(req->holes, a, b) : MEMSCAN_OK;
}

/* Copies [A, B) of region FR (inside it) into REQ from the file; its holes stay holes. */
static int req_copy(const struct ms_file_src *src, const struct ms_file_region *fr, struct ms_read_req *req,
                    uint64_t a, uint64_t b)
{
	size_t k = 0, nh = fr->holes.count;
	int r = MEMSCAN_OK;

	while (r == MEMSCAN_OK && a < b) {
		memscan_range h = { b, b };

		for (; k < nh; k++) { /* the first hole that ends after A */
			h = fr->holes.items[k];
			if (h.end > a)
				break;
		}
		if (k == nh)
			h.start = h.end = b;
		if (h.start <= a) { /* A is in a hole */
			uint64_t e = h.end < b ? h.end : b;

			r = req_hole(req, a, e);
			a = e;
			continue;
		}
		uint64_t e = h.start < b ? h.start : b;
		size_t len = (size_t)(e - a);
		ssize_t got = pread(src->fd, (uint8_t *)req->buf + (a - req->addr), len,
		                    (off_t)(fr->data_off + (a - fr->region.start)));

		if (got != (ssize_t)len)
			return MEMSCAN_ERR_IO;
		a = e;
	}
	return r;
}

int ms_filesrc_read(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	const struct ms_file_src *src = proc->file;
	struct stat st;
	int r = MEMSCAN_OK;

	/* the file as it was checked, or nothing: a snapshot rewritten since would mix two files */
	if (fstat(src->fd, &st) < 0 || st.st_size != src->st.st_size ||
	    st.st_mtim.tv_sec != src->st.st_mtim.tv_sec || st.st_mtim.tv_nsec != src->st.st_mtim.tv_nsec)
		return MEMSCAN_ERR_PROCESS_GONE;
	for (size_t i = 0; i < n && r == MEMSCAN_OK; i++) {
		struct ms_read_req *req = &reqs[i];
		uint64_t a = req->addr, end = req->addr + req->len;
		size_t k = memscan_region_list_find(src->list, a);

		if (ms_cancelled(proc))
			return MEMSCAN_ERR_CANCELLED;
		if (k == SIZE_MAX) /* before the first region that ends after A: from there on */
			for (k = 0; k < src->count && src->regions[k].region.end <= a; k++)
				;
		for (; r == MEMSCAN_OK && a < end; k++) {
			const struct ms_file_region *fr = k < src->count ? &src->regions[k] : NULL;
			uint64_t rs = fr ? fr->region.start : end, re = fr ? fr->region.end : end;

			if (a < rs) { /* a gap between regions: not in the snapshot */
				uint64_t e = rs < end ? rs : end;

				r = req_hole(req, a, e);
				a = e;
			}
			if (r == MEMSCAN_OK && fr && a < end && a < re) {
				uint64_t e = re < end ? re : end;

				r = req_copy(src, fr, req, a, e);
				a = e;
			}
			if (!fr)
				break;
		}
	}
	return r;
}
