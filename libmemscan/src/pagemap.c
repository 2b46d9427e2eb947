/* SPDX-License-Identifier: MIT */
/* Pages never written: which pages of private anonymous memory need not be read (pagemap, PROCMAP_QUERY). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

/* /proc/PID/pagemap tells which pages of a private anonymous mapping are neither present nor
 * swapped. Those read as zeros; reading them through the kernel would cost a fault each and map the
 * zero page into the target, so they are zero-filled here instead. */

/* pagemap entry bits (the kernel's Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_SWAP    (UINT64_C(1) << 62)
#define PM_GUARD   (UINT64_C(1) << 58) /* a guard region (MADV_GUARD_INSTALL): unreadable */
#define PM_BACKED  (PM_PRESENT | PM_SWAP | PM_GUARD)
/* Entries per pagemap read: 4 KiB of entries, 2 MiB of address space with 4 KiB pages. */
#define MS_PAGEMAP_BATCH 512
/* Runs of fewer absent pages are read with their neighbours: skipping would cost about what it
 * saves. Requests shorter than that are read whole. */
#define MS_ABSENT_MIN_PAGES 16

/* The PROCMAP_QUERY ioctl on /proc/PID/maps (Linux 6.11+, include/uapi/linux/fs.h), declared
 * here because older kernel headers lack it. pagemap reports unmapped addresses as absent too, so
 * each run to skip is first checked to lie in a private anonymous mapping that still exists. */
struct ms_procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define MS_PROCMAP_QUERY _IOWR('f', 17, struct ms_procmap_query)
#define MS_VMA_READABLE  UINT64_C(0x1)
#define MS_VMA_SHARED    UINT64_C(0x8)
#define MS_VMA_NAME_MAX  64

int ms_region_absent_zero(const memscan_region *region)
{
	const uint32_t anon = MEMSCAN_KIND_ANON | MEMSCAN_KIND_HEAP | MEMSCAN_KIND_STACK;

	return region && (region->kind & anon) && region->inode == 0 && (region->perms & MEMSCAN_PERM_READ) &&
	       !(region->perms & MEMSCAN_PERM_SHARED);
}

/* How many bytes from ADDR (at most LEN) lie in one private anonymous mapping; 0 when ADDR is
 * unmapped, in another kind of mapping, or the kernel cannot say. */
static uint64_t anon_mapped_bytes(const memscan_process *proc, uint64_t addr, uint64_t len)
{
	char name[MS_VMA_NAME_MAX];
	struct ms_procmap_query q = { .size = sizeof(q),
		                      .query_addr = addr,
		                      .vma_name_size = sizeof(name),
		                      .vma_name_addr = (uintptr_t)name };
	memscan_region vma = { 0 };

	if (ioctl(proc->maps_fd, MS_PROCMAP_QUERY, &q) != 0 || q.vma_start > addr || q.vma_end <= addr)
		return 0;
	name[sizeof(name) - 1] = '\0';
	vma.kind = q.vma_name_size > 1 ? ms_region_kind_of(name) : MEMSCAN_KIND_ANON;
	vma.inode = q.inode;
	vma.perms = (q.vma_flags & MS_VMA_READABLE ? MEMSCAN_PERM_READ : 0) |
	            (q.vma_flags & MS_VMA_SHARED ? MEMSCAN_PERM_SHARED : 0);
	if (!ms_region_absent_zero(&vma))
		return 0;
	return q.vma_end - addr < len ? q.vma_end - addr : len;
}

int ms_vma_query_works(const memscan_process *proc)
{
	/* the query for an address no process maps: ENOENT where the ioctl exists, ENOTTY before */
	struct ms_procmap_query q = { .size = sizeof(q), .query_addr = 0 };

	return ioctl(proc->maps_fd, MS_PROCMAP_QUERY, &q) == 0 || errno == ENOENT;
}

int ms_sparse_eligible(const memscan_process *proc, const struct ms_read_req *req, size_t page)
{
	return req->absent_zero && req->len >= MS_ABSENT_MIN_PAGES * page && proc->pagemap_fd >= 0 &&
	       !proc->keep_absent && req->addr % page == 0 && req->len % page == 0;
}

/* Reads [FROM, TO) of REQ. */
static int sparse_read(memscan_process *proc, struct ms_read_req *req, size_t from, size_t to)
{
	struct ms_read_req sub = { .addr = req->addr + from,
		                   .buf = (uint8_t *)req->buf + from,
		                   .len = to - from,
		                   .holes = req->holes };
	int r;

	if (from == to)
		return MEMSCAN_OK;
	r = ms_read_dense(proc, &sub, 1);
	req->hole_bytes += sub.hole_bytes;
	return r;
}

/* Zero-fills the part of the absent run [FROM, TO) of REQ that is still private anonymous
 * memory, and reads the rest (an unmapped part then becomes a hole, as with any read). */
static int sparse_zero(memscan_process *proc, struct ms_read_req *req, size_t from, size_t to)
{
	while (from < to) {
		uint64_t n = anon_mapped_bytes(proc, req->addr + from, to - from);
		if (n == 0)
			return sparse_read(proc, req, from, to);
		if (!req->dst_zeroed)
			memset((uint8_t *)req->buf + from, 0, (size_t)n);
		from += (size_t)n;
	}
	return MEMSCAN_OK;
}

/* Reads [*FROM, ABSENT) of REQ, then zero-fills the absent run [ABSENT, END); *FROM becomes END. */
static int sparse_run(memscan_process *proc, struct ms_read_req *req, size_t *from, size_t absent, size_t end)
{
	int r = sparse_read(proc, req, *from, absent);

	*from = end;
	return r == MEMSCAN_OK ? sparse_zero(proc, req, absent, end) : r;
}

/* Reads REQ with pagemap's help: each run of at least MS_ABSENT_MIN_PAGES absent pages is
 * zero-filled (sparse_zero), what lies between is read in one piece. If pagemap cannot be read
 * (the process exited, say), the rest is read as usual, which reports it. */
int ms_read_sparse(memscan_process *proc, struct ms_read_req *req, size_t page)
{
	const size_t none = SIZE_MAX, min_run = MS_ABSENT_MIN_PAGES * page;
	uint64_t entries[MS_PAGEMAP_BATCH];
	size_t from = 0, absent_from = none, off = 0;
	int r = MEMSCAN_OK;

	while (off < req->len && r == MEMSCAN_OK) {
		size_t count = (req->len - off) / page, bytes;
		ssize_t got;

		if (count > MS_PAGEMAP_BATCH)
			count = MS_PAGEMAP_BATCH;
		if (ms_cancelled(proc))
			return MEMSCAN_ERR_CANCELLED;
		bytes = count * sizeof(entries[0]);
		do
			got = pread(proc->pagemap_fd, entries, bytes, (off_t)((req->addr + off) / page * 8));
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)bytes)
			break;
		for (size_t k = 0; k < count && r == MEMSCAN_OK; k++) {
			size_t at = off + k * page;
			if (!(entries[k] & PM_BACKED)) {
				if (absent_from == none)
					absent_from = at;
				continue;
			}
			if (absent_from != none && at - absent_from >= min_run)
				r = sparse_run(proc, req, &from, absent_from, at);
			absent_from = none;
		}
		off += count * page;
	}
	if (r == MEMSCAN_OK && absent_from != none && off - absent_from >= min_run)
		r = sparse_run(proc, req, &from, absent_from, off);
	return r == MEMSCAN_OK ? sparse_read(proc, req, from, req->len) : r;
}

void ms_process_prepare_absent(memscan_process *proc)
{
	char path[64];

	if (!proc || proc->keep_absent || proc->pagemap_fd != MS_FD_UNTRIED)
		return;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", proc->pid);
	proc->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", proc->pid);
	proc->maps_fd = proc->pagemap_fd >= 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (proc->maps_fd < 0 || !ms_vma_query_works(proc)) {
		if (proc->pagemap_fd >= 0)
			close(proc->pagemap_fd);
		if (proc->maps_fd >= 0)
			close(proc->maps_fd);
		proc->pagemap_fd = proc->maps_fd = -1;
	}
}

bool memscan_process_skips_absent(memscan_process *proc)
{
	ms_process_prepare_absent(proc);
	return proc && !proc->keep_absent && proc->pagemap_fd >= 0;
}
