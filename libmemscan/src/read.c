/* SPDX-License-Identifier: MIT */
/* Reading another process's memory: batched process_vm_readv, /proc/PID/mem fallback, holes. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* iovecs per process_vm_readv call (the kernel's UIO_MAXIOV). */
#define MS_IOV_BATCH 1024
/* Most bytes one process_vm_readv or pread moves: byte counts stay far from SSIZE_MAX, and a
 * cancelled operation (memscan_process_set_cancel) is seen within one call, ~10 ms at memory speed. */
#define MS_READ_MAX_CHUNK ((size_t)64 << 20)
/* Holes per read: a range of this many unreadable pages is still reported exactly; the array
 * grows with the holes found, at most one entry per page read. */

void memscan_ranges_clear(memscan_ranges *ranges)
{
	if (ranges)
		ranges->count = 0;
}

void memscan_ranges_release(memscan_ranges *ranges)
{
	if (!ranges)
		return;
	free(ranges->items);
	memset(ranges, 0, sizeof(*ranges));
}

uint64_t memscan_ranges_bytes(const memscan_ranges *ranges)
{
	uint64_t total = 0;

	for (size_t i = 0; ranges && i < ranges->count; i++)
		total += ranges->items[i].end - ranges->items[i].start;
	return total;
}

int ms_ranges_append(memscan_ranges *ranges, uint64_t start, uint64_t end)
{
	if (ranges->count && ranges->items[ranges->count - 1].end == start) {
		ranges->items[ranges->count - 1].end = end;
		return 0;
	}
	return ms_ranges_push(ranges, start, end);
}

int ms_ranges_push(memscan_ranges *ranges, uint64_t start, uint64_t end)
{
	if (ranges->count == ranges->capacity) {
		size_t cap = ranges->capacity ? ranges->capacity * 2 : 8;
		memscan_range *items = realloc(ranges->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		ranges->items = items;
		ranges->capacity = cap;
	}
	ranges->items[ranges->count].start = start;
	ranges->items[ranges->count].end = end;
	ranges->count++;
	return 0;
}

int ms_ranges_copy(memscan_ranges *dst, const memscan_ranges *src)
{
	dst->count = 0;
	for (size_t i = 0; i < src->count; i++)
		if (ms_ranges_append(dst, src->items[i].start, src->items[i].end) < 0)
			return -ENOMEM;
	return 0;
}

/* One process_vm_readv call over up to MS_IOV_BATCH pieces of REQS starting at request *I, offset
 * *OFF. Returns bytes read (may be short) or -errno. */
static ssize_t readv_batch(memscan_process *proc, struct ms_read_req *reqs, size_t n, size_t i, size_t off)
{
	struct iovec local[MS_IOV_BATCH], remote[MS_IOV_BATCH];
	size_t k = 0, total = 0;
	ssize_t got;

	for (; i < n && k < MS_IOV_BATCH && total < MS_READ_MAX_CHUNK; i++, off = 0) {
		size_t len = reqs[i].len - off;
		if (len == 0)
			continue;
		if (len > MS_READ_MAX_CHUNK - total)
			len = MS_READ_MAX_CHUNK - total;
		total += len;
		local[k].iov_base = (uint8_t *)reqs[i].buf + off;
		local[k].iov_len = len;
		remote[k].iov_base = (void *)(uintptr_t)(reqs[i].addr + off);
		remote[k].iov_len = len;
		k++;
		if (len < reqs[i].len - off)
			break; /* the rest of this request goes in the next call */
	}
	got = process_vm_readv(proc->pid, local, (unsigned long)k, remote, (unsigned long)k, 0);
	return got < 0 ? -errno : got;
}

/* One pread of /proc/PID/mem for request REQ at offset OFF. Returns bytes read or -errno. */
static ssize_t pread_one(memscan_process *proc, struct ms_read_req *req, size_t off)
{
	size_t len = req->len - off;
	uint64_t addr = req->addr + off;
	int fd = ms_process_mem_fd(proc);
	ssize_t got;

	if (fd < 0)
		return fd == -ENOENT ? -ESRCH : fd;
	if (addr > (uint64_t)LLONG_MAX)
		return -EIO; /* kernel half of the address space: not a file offset */
	if (len > MS_READ_MAX_CHUNK)
		len = MS_READ_MAX_CHUNK;
	do
		got = pread(fd, (uint8_t *)req->buf + off, len, (off_t)addr);
	while (got < 0 && errno == EINTR);
	return got < 0 ? -errno : got;
}

static int use_proc_mem(const memscan_process *proc)
{
	return proc->method == MEMSCAN_READ_PROC_MEM ||
	       (proc->method == MEMSCAN_READ_AUTO && proc->readv_refused);
}

/* Marks the page at REQ offset *OFF as a hole (zeroed) and moves past it. */
static int skip_hole_page(struct ms_read_req *req, size_t *off, size_t page)
{
	uint64_t addr = req->addr + *off;
	uint64_t next = (addr / page + 1) * page;
	size_t len = (size_t)(next - addr);

	if (len > req->len - *off)
		len = req->len - *off;
	memset((uint8_t *)req->buf + *off, 0, len);
	req->hole_bytes += len;
	if (req->holes && ms_ranges_append(req->holes, addr, addr + len) < 0)
		return MEMSCAN_ERR_NO_MEMORY;
	*off += len;
	return MEMSCAN_OK;
}

/* Reads with one method; returns bytes read or -errno for the next piece at request I offset OFF. */
static ssize_t read_piece(memscan_process *proc, struct ms_read_req *reqs, size_t n, size_t i, size_t off)
{
	ssize_t got;

	if (use_proc_mem(proc))
		return pread_one(proc, &reqs[i], off);
	got = readv_batch(proc, reqs, n, i, off);
	if ((got == -ENOSYS || got == -EPERM) && proc->method == MEMSCAN_READ_AUTO) {
		/* seccomp or a kernel without the syscall: try /proc/PID/mem, opened now; if that is
		 * refused too (the target's 0600 file), the syscall's refusal is the answer */
		ssize_t alt = pread_one(proc, &reqs[i], off);

		if (alt >= 0)
			proc->readv_refused = 1;
		if (alt != -EACCES && alt != -EPERM)
			got = alt;
	}
	return got;
}

/* Reads REQS (hole_bytes accumulate), batching many requests into each call. */
static int read_dense(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	size_t page = memscan_page_size(), i = 0, off = 0;
	int r;

	while (i < n) {
		ssize_t got;

		if (off == reqs[i].len) {
			i++, off = 0;
			continue;
		}
		if (ms_cancelled(proc))
			return MEMSCAN_ERR_CANCELLED;
		got = read_piece(proc, reqs, n, i, off);
		if (got == -ESRCH)
			return MEMSCAN_ERR_PROCESS_GONE;
		if (got == -ENOMEM && use_proc_mem(proc))
			got = 0; /* /proc/PID/mem says ENOMEM for a process without an mm */
		if (got < 0 && got != -EFAULT && got != -EIO && got != -ENOMEM && got != -EINVAL)
			return ms_err_from_errno((int)-got);
		if (got <= 0) {
			/* the first byte at (i, off) is unreadable */
			r = skip_hole_page(&reqs[i], &off, page);
			if (r != MEMSCAN_OK)
				return r;
			continue;
		}
		/* advance over what was read, possibly across several requests */
		while (got > 0 && i < n) {
			size_t take = reqs[i].len - off;
			if ((size_t)got < take)
				take = (size_t)got;
			off += take;
			got -= (ssize_t)take;
			if (off == reqs[i].len)
				i++, off = 0;
		}
	}
	return MEMSCAN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Pages never written: /proc/PID/pagemap tells which pages of a private anonymous mapping are
 * neither present nor swapped. Those read as zeros; reading them through the kernel would cost a
 * fault each and map the zero page into the target, so they are zero-filled here instead.
 * ------------------------------------------------------------------------------------------- */

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

static int sparse_eligible(const memscan_process *proc, const struct ms_read_req *req, size_t page)
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
	r = read_dense(proc, &sub, 1);
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
static int read_sparse(memscan_process *proc, struct ms_read_req *req, size_t page)
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

int ms_read_batch_raw(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	size_t page = memscan_page_size(), first = 0;
	int r = MEMSCAN_OK;

	for (size_t k = 0; k < n; k++)
		reqs[k].hole_bytes = 0;
	/* runs of ordinary requests are batched together; a request that may be sparse goes alone */
	for (size_t i = 0; i < n && r == MEMSCAN_OK; i++) {
		if (!sparse_eligible(proc, &reqs[i], page))
			continue;
		r = read_dense(proc, reqs + first, i - first);
		if (r == MEMSCAN_OK)
			r = read_sparse(proc, &reqs[i], page);
		first = i + 1;
	}
	return r == MEMSCAN_OK ? read_dense(proc, reqs + first, n - first) : r;
}

int ms_read_batch(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	int r = ms_read_batch_raw(proc, reqs, n);

	/* a process that exited may have had its PID reused: what we read could be someone else's */
	return r == MEMSCAN_OK ? memscan_process_check_alive(proc) : r;
}

/* ---------------------------------------------------------------------------------------------
 * Workers: independent pieces of one job spread over the CPUs this process may use
 * ------------------------------------------------------------------------------------------- */

static atomic_uint g_worker_limit; /* 0 = as many as CPUs (tests set 1 to force sequential runs) */

void ms_set_worker_limit(unsigned n)
{
	atomic_store(&g_worker_limit, n);
}

unsigned ms_worker_count(void)
{
	unsigned limit = atomic_load(&g_worker_limit), n = 1;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = (unsigned)CPU_COUNT(&set);
	if (n < 1)
		n = 1;
	if (n > MS_WORKERS_MAX)
		n = MS_WORKERS_MAX;
	if (limit && n > limit)
		n = limit;
	return n;
}

struct ms_worker_arg {
	ms_work_fn fn;
	void *ctx;
	unsigned index;
};

static void *worker_main(void *p)
{
	struct ms_worker_arg *w = p;

	w->fn(w->ctx, w->index);
	return NULL;
}

void ms_run_workers(unsigned n, ms_work_fn fn, void *ctx)
{
	struct ms_worker_arg args[MS_WORKERS_MAX];
	pthread_t tids[MS_WORKERS_MAX];
	int started[MS_WORKERS_MAX] = { 0 };

	if (n > MS_WORKERS_MAX)
		n = MS_WORKERS_MAX;
	for (unsigned k = 1; k < n; k++) {
		args[k] = (struct ms_worker_arg){ fn, ctx, k };
		started[k] = pthread_create(&tids[k], NULL, worker_main, &args[k]) == 0;
	}
	fn(ctx, 0);
	for (unsigned k = 1; k < n; k++) {
		if (started[k])
			pthread_join(tids[k], NULL);
		else
			fn(ctx,
			   k); /* no thread: the work queue is shared, so this only drains what is left */
	}
}

/* ---------------------------------------------------------------------------------------------
 * Parallel batched reads: requests cut into pieces, pieces grouped into units read by workers
 * ------------------------------------------------------------------------------------------- */

/* Bytes per unit of work: large calls stay near the copy ceiling, and 2 workers get many units. */
#define MS_PAR_UNIT ((size_t)8 << 20)
/* Below this many bytes, a thread costs more than it saves. */
#define MS_PAR_MIN ((size_t)16 << 20)

struct ms_par_read {
	memscan_process *proc;
	struct ms_read_req *pieces;
	size_t *owner;      /* original request of each piece */
	size_t *unit_first; /* unit u holds pieces [unit_first[u], unit_first[u + 1]) */
	int *unit_err;
	size_t units;
	atomic_size_t next;
	int refused[MS_WORKERS_MAX];
};

static void par_read_worker(void *p, unsigned worker)
{
	struct ms_par_read *pr = p;
	memscan_process proc = *pr->proc; /* own copy: readv_refused is written while reading */
	size_t u;

	while ((u = atomic_fetch_add(&pr->next, 1)) < pr->units) {
		size_t first = pr->unit_first[u];
		pr->unit_err[u] = ms_read_batch(&proc, pr->pieces + first, pr->unit_first[u + 1] - first);
	}
	pr->refused[worker] = proc.readv_refused;
}

/* Cuts REQS into pieces of at most MS_PAR_UNIT bytes grouped into units of about MS_PAR_UNIT. */
static size_t par_plan(struct ms_par_read *pr, struct ms_read_req *reqs, size_t n, memscan_ranges *holes)
{
	size_t np = 0, nu = 0, unit_bytes = 0, unit_pieces = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t off = 0; off < reqs[i].len;) {
			size_t len = reqs[i].len - off < MS_PAR_UNIT ? reqs[i].len - off : MS_PAR_UNIT;
			if (unit_pieces == 0 || unit_bytes + len > MS_PAR_UNIT || unit_pieces == 1024) {
				pr->unit_first[nu++] = np;
				unit_bytes = unit_pieces = 0;
			}
			pr->pieces[np] = (struct ms_read_req){ .addr = reqs[i].addr + off,
				                               .buf = (uint8_t *)reqs[i].buf + off,
				                               .len = len,
				                               .holes = reqs[i].holes ? &holes[np] : NULL,
				                               .absent_zero = reqs[i].absent_zero,
				                               .dst_zeroed = reqs[i].dst_zeroed };
			pr->owner[np++] = i;
			unit_bytes += len;
			unit_pieces++;
			off += len;
		}
	}
	pr->unit_first[nu] = np;
	return nu;
}

/* Gives each request the holes and hole bytes of its pieces, in address order. */
static int par_merge(struct ms_par_read *pr, struct ms_read_req *reqs, size_t np)
{
	for (size_t k = 0; k < np; k++) {
		struct ms_read_req *req = &reqs[pr->owner[k]];
		const memscan_ranges *h = pr->pieces[k].holes;

		req->hole_bytes += pr->pieces[k].hole_bytes;
		for (size_t j = 0; h && j < h->count; j++)
			if (ms_ranges_append(req->holes, h->items[j].start, h->items[j].end) < 0)
				return MEMSCAN_ERR_NO_MEMORY;
	}
	return MEMSCAN_OK;
}

static int par_read_run(struct ms_par_read *pr, struct ms_read_req *reqs, size_t n, size_t np,
                        memscan_ranges *holes, unsigned workers)
{
	int r = MEMSCAN_OK;

	pr->units = par_plan(pr, reqs, n, holes);
	if (workers > pr->units)
		workers = (unsigned)pr->units;
	ms_run_workers(workers, par_read_worker, pr);
	for (unsigned k = 0; k < workers; k++)
		if (pr->refused[k])
			pr->proc->readv_refused = 1;
	for (size_t u = 0; u < pr->units && r == MEMSCAN_OK; u++)
		r = pr->unit_err[u]; /* the first failure in address order, as a sequential read reports */
	for (size_t k = 0; k < n; k++)
		reqs[k].hole_bytes = 0;
	return r == MEMSCAN_OK ? par_merge(pr, reqs, np) : r;
}

int ms_read_batch_par(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	struct ms_par_read pr = { .proc = proc };
	unsigned workers = ms_worker_count();
	memscan_ranges *holes = NULL;
	size_t np = 0, total = 0;
	int r = MEMSCAN_ERR_NO_MEMORY;

	for (size_t i = 0; i < n; i++) {
		total += reqs[i].len;
		np += (reqs[i].len + MS_PAR_UNIT - 1) / MS_PAR_UNIT;
	}
	if (workers < 2 || total < MS_PAR_MIN)
		return ms_read_batch(proc, reqs, n);
	pr.pieces = calloc(np, sizeof(*pr.pieces));
	pr.owner = calloc(np, sizeof(*pr.owner));
	pr.unit_first = calloc(np + 1, sizeof(*pr.unit_first));
	pr.unit_err = calloc(np, sizeof(*pr.unit_err));
	holes = calloc(np, sizeof(*holes));
	if (pr.pieces && pr.owner && pr.unit_first && pr.unit_err && holes)
		r = par_read_run(&pr, reqs, n, np, holes, workers);
	for (size_t k = 0; holes && k < np; k++)
		memscan_ranges_release(&holes[k]);
	free(holes);
	free(pr.unit_err);
	free(pr.unit_first);
	free(pr.owner);
	free(pr.pieces);
	return r;
}

int memscan_read(memscan_process *proc, uint64_t addr, void *buf, size_t len, memscan_ranges *holes)
{
	return ms_read_range(proc, addr, buf, len, holes, 0);
}

int ms_read_range(memscan_process *proc, uint64_t addr, void *buf, size_t len, memscan_ranges *holes,
                  int absent_zero)
{
	struct ms_read_req req = {
		.addr = addr, .buf = buf, .len = len, .holes = holes, .absent_zero = absent_zero
	};
	int r;

	if (!proc || (!buf && len) || len == 0 || addr + len < addr)
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_read_batch(proc, &req, 1);
	if (r != MEMSCAN_OK)
		return r;
	if (req.hole_bytes == len)
		return MEMSCAN_ERR_UNREADABLE;
	return req.hole_bytes ? MEMSCAN_ERR_PARTIAL : MEMSCAN_OK;
}
