/* SPDX-License-Identifier: MIT */
/* Local buffers for copies of remote memory, strings, the clock and the page size: the small
 * utilities libmemscan's modules share. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Buffers at least this large are asked to use transparent huge pages. */
#define MS_HUGEPAGE_MIN (2u << 20)

size_t memscan_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	return ps > 0 ? (size_t)ps : 4096;
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
