/* SPDX-License-Identifier: MIT */
/* Error strings, version, and small helpers shared by libmemscan's modules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef MEMSCAN_VERSION_STRING
#define MEMSCAN_VERSION_STRING "0.0.0"
#endif

/* Buffers at least this large are asked to use transparent huge pages. */
#define MS_HUGEPAGE_MIN (2u << 20)

static const char *const ms_errors[MEMSCAN_ERR_COUNT] = {
	[MEMSCAN_OK] = "success",
	[MEMSCAN_ERR_INVALID_ARG] = "invalid argument",
	[MEMSCAN_ERR_NO_PROCESS] = "no such process",
	[MEMSCAN_ERR_PERMISSION] = "permission denied",
	[MEMSCAN_ERR_PROCESS_GONE] = "process exited",
	[MEMSCAN_ERR_UNREADABLE] = "memory not readable",
	[MEMSCAN_ERR_PARTIAL] = "memory partially readable",
	[MEMSCAN_ERR_NO_MEMORY] = "out of memory",
	[MEMSCAN_ERR_IO] = "input/output error",
	[MEMSCAN_ERR_BAD_PATTERN] = "malformed pattern",
	[MEMSCAN_ERR_BAD_FORMAT] = "malformed data",
	[MEMSCAN_ERR_TRUNCATED] = "data truncated",
	[MEMSCAN_ERR_UNSUPPORTED_VERSION] = "unsupported format version",
	[MEMSCAN_ERR_LIMIT] = "size limit exceeded",
	[MEMSCAN_ERR_NOT_FOUND] = "not found",
	[MEMSCAN_ERR_STOPPED] = "stopped by callback",
	[MEMSCAN_ERR_DENIED] = "operation not permitted for this key",
	[MEMSCAN_ERR_PROTOCOL] = "protocol error",
	[MEMSCAN_ERR_UNKNOWN_OP] = "unknown operation",
	[MEMSCAN_ERR_TIMEOUT] = "timed out",
	[MEMSCAN_ERR_CONNECT] = "cannot connect to agent",
	[MEMSCAN_ERR_AUTH] = "authentication failed",
	[MEMSCAN_ERR_BUSY] = "agent busy (limit reached)",
	[MEMSCAN_ERR_CANCELLED] = "cancelled",
};

const char *memscan_strerror(int err)
{
	if (err < 0 || err >= MEMSCAN_ERR_COUNT || !ms_errors[err])
		return "unknown error";
	return ms_errors[err];
}

const char *memscan_version(void)
{
	return MEMSCAN_VERSION_STRING;
}

size_t memscan_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	return ps > 0 ? (size_t)ps : 4096;
}

int ms_err_from_errno(int e)
{
	switch (e) {
	case ESRCH:
		return MEMSCAN_ERR_PROCESS_GONE;
	case EPERM:
	case EACCES:
		return MEMSCAN_ERR_PERMISSION;
	case ENOMEM:
		return MEMSCAN_ERR_NO_MEMORY;
	case EFAULT:
	case EIO:
		return MEMSCAN_ERR_UNREADABLE;
	case ENOENT:
		return MEMSCAN_ERR_NO_PROCESS;
	case EINVAL:
		return MEMSCAN_ERR_INVALID_ARG;
	case EMFILE: /* out of descriptors: a limit, not an I/O failure */
	case ENFILE:
		return MEMSCAN_ERR_LIMIT;
	default:
		return MEMSCAN_ERR_IO;
	}
}

/* AddressSanitizer builds (MEMSCAN_SANITIZE: gcc defines __SANITIZE_ADDRESS__, clang has the feature)
 * take the buffers from the sanitizer's heap instead: an mmap'd buffer has no redzones, so a read or
 * write past its end (up to the page end, or into a neighbouring mapping) would go unreported. */
#if defined(__SANITIZE_ADDRESS__)
#define MS_BUF_FROM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_BUF_FROM_HEAP 1
#endif
#endif

#ifdef MS_BUF_FROM_HEAP
void *ms_buf_alloc(size_t len)
{
	return calloc(1, len ? len : 1); /* zeroed, as a fresh mapping is */
}

void ms_buf_free(void *buf, size_t len)
{
	(void)len;
	free(buf);
}
#else
/* A mapping of LEN bytes starting on a huge-page boundary, so that THP can back all of it: the
 * extra head and tail of a larger mapping are unmapped again. */
static void *map_aligned(size_t len)
{
	size_t span = len + MS_HUGEPAGE_MIN;
	uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t start, head;

	if (p == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)p + MS_HUGEPAGE_MIN - 1) & ~(uintptr_t)(MS_HUGEPAGE_MIN - 1);
	head = start - (uintptr_t)p;
	if (head)
		munmap(p, head);
	if (span - head > len)
		munmap((uint8_t *)start + len, span - head - len);
	return (void *)start;
}

void *ms_buf_alloc(size_t len)
{
	void *p;

	if (len == 0)
		len = 1;
	if (len < MS_HUGEPAGE_MIN || len > SIZE_MAX - MS_HUGEPAGE_MIN) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	p = map_aligned(len);
	if (p)
		(void)madvise(p, len, MADV_HUGEPAGE); /* advisory: page faults cost ~10 us per 4 KiB */
	return p;
}

void ms_buf_free(void *buf, size_t len)
{
	if (buf)
		munmap(buf, len ? len : 1);
}
#endif

char *ms_strdup(const char *s)
{
	return strdup(s ? s : "");
}

uint64_t ms_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
