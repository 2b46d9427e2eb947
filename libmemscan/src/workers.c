/* SPDX-License-Identifier: MIT */
/* Workers: independent pieces of one job spread over the CPUs this process may use. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"

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
