/* SPDX-License-Identifier: MIT */
/* Reading remote memory page by page as it is: batched process_vm_readv, /proc/PID/mem fallback, holes. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* iovecs per process_vm_readv call (the kernel's UIO_MAXIOV). */
#define MS_IOV_BATCH 1024
/* Most bytes one process_vm_readv or pread moves: byte counts stay far from SSIZE_MAX, and a
 * cancelled operation (memscan_process_set_cancel) is seen within one call, ~10 ms at memory speed. */
#define MS_READ_MAX_CHUNK ((size_t)64 << 20)

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
	if (req->holes && ms_ranges_append(req->holes, addr, addr + len) != MEMSCAN_OK)
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
int ms_read_dense(memscan_process *proc, struct ms_read_req *reqs, size_t n)
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
