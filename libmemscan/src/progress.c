/* SPDX-License-Identifier: MIT */
/* Progress of long operations: the bytes a process handle's reads covered, reported to the caller's
 * callback a few times a second (memscan_process_set_progress). The library never prints it. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* Time between two reports: often enough for a moving display, rare enough to cost nothing. */
#define MS_PROGRESS_EVERY_NS 100000000ull

struct ms_progress {
	memscan_progress_fn fn;
	void *ctx;
	_Atomic uint64_t done;
	_Atomic uint64_t due_ns; /* no report before then; 0: the next read reports */
};

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

void ms_progress_add(memscan_process *proc, uint64_t bytes)
{
	struct ms_progress *p = proc->progress;
	uint64_t done, due, now;

	if (!p || !p->fn)
		return;
	done = atomic_fetch_add(&p->done, bytes) + bytes;
	due = atomic_load(&p->due_ns);
	now = monotonic_ns();
	/* one thread wins each report; the others go on reading */
	if (now >= due && atomic_compare_exchange_strong(&p->due_ns, &due, now + MS_PROGRESS_EVERY_NS))
		p->fn(p->ctx, done);
}

void ms_progress_free(memscan_process *proc)
{
	free(proc->progress);
	proc->progress = NULL;
}
