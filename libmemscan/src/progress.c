/* SPDX-License-Identifier: MIT */
/* Progress of long operations: the bytes a process handle's reads covered, reported to the caller's
 * callback a few times a second (memscan_process_set_progress), and sizes written for people. The
 * library never prints either. */
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* Time between two reports: often enough for a moving display, rare enough to cost nothing. */
#define MS_PROGRESS_EVERY_NS 100000000ull

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int memscan_process_set_progress(memscan_process *proc, memscan_progress_fn fn, void *ctx)
{
	if (!proc)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!proc->progress) {
		if (!fn)
			return MEMSCAN_OK;
		proc->progress = calloc(1, sizeof(*proc->progress));
		if (!proc->progress)
			return MEMSCAN_ERR_NO_MEMORY;
	}
	proc->progress->fn = fn;
	proc->progress->ctx = fn ? ctx : NULL;
	atomic_store(&proc->progress->done, 0);
	atomic_store(&proc->progress->due_ns, 0);
	return MEMSCAN_OK;
}

/* Calls P's callback with its count as it is now, unless another thread is calling it: one report at
 * a time, each of a count at least the one before, so DONE never goes back (a report of the count its
 * thread reached earlier could arrive after one of a later count). */
static void progress_report(struct ms_progress *p)
{
	if (atomic_exchange(&p->busy, 1))
		return; /* the report under way is as recent */
	p->fn(p->ctx, atomic_load(&p->done));
	atomic_store(&p->busy, 0);
}

/* Reports P's count when a report is due. */
static void progress_due(struct ms_progress *p)
{
	uint64_t due = atomic_load(&p->due_ns), now = monotonic_ns();

	/* one thread wins each report; the others go on reading */
	if (now >= due && atomic_compare_exchange_strong(&p->due_ns, &due, now + MS_PROGRESS_EVERY_NS))
		progress_report(p);
}

void ms_progress_count(struct ms_progress *p, uint64_t n)
{
	if (!p->fn)
		return;
	atomic_fetch_add(&p->done, n);
	progress_due(p);
}

void ms_progress_add(memscan_process *proc, uint64_t bytes)
{
	if (proc->progress)
		ms_progress_count(proc->progress, bytes);
}

void ms_progress_set(struct ms_progress *p, uint64_t done)
{
	if (!p->fn)
		return;
	atomic_store(&p->done, done);
	progress_due(p);
}

void ms_progress_final(struct ms_progress *p, uint64_t done)
{
	if (!p->fn)
		return;
	atomic_store(&p->done, done);
	atomic_store(&p->due_ns, monotonic_ns() + MS_PROGRESS_EVERY_NS);
	while (atomic_exchange(&p->busy, 1)) /* the last report: after any under way */
		sched_yield();
	p->fn(p->ctx, done);
	atomic_store(&p->busy, 0);
}

void ms_progress_free(memscan_process *proc)
{
	free(proc->progress);
	proc->progress = NULL;
}

void ms_hooks_init(struct ms_hooks *h, const memscan_hooks *hooks)
{
	*h = (struct ms_hooks){ .cancel = NULL };
	if (hooks) {
		h->cancel = hooks->cancel;
		h->cancel_ctx = hooks->cancel_ctx;
		h->progress.fn = hooks->progress;
		h->progress.ctx = hooks->progress_ctx;
	}
	ms_progress_set(&h->progress, 0);
}

const char *memscan_size_format(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (!buf || !size)
		return buf;
	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	for (v /= 1024; v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]); u++)
		v /= 1024;
	if (v < 100 && (uint64_t)(v * 10 + 0.5) % 10 != 0)
		snprintf(buf, size, "%.1f %s", v, units[u]);
	else
		snprintf(buf, size, "%.0f %s", v, units[u]);
	return buf;
}
