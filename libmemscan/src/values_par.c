/* SPDX-License-Identifier: MIT */
/* Value jobs on both cores (a scan or a narrowing cut into units that workers run, each into a part
 * of the result, the parts joined in unit order) and the per-type loop of range and float scans. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "values.h"

struct vs_run {
	memscan_process *proc;
	struct vs_unit *units;
	size_t n;
	vs_unit_fn fn;
	void *job;
	const memscan_value_set *out;
	_Atomic(uint64_t) total; /* candidates of all parts: never more than out->max */
	atomic_size_t next;      /* the first unit no worker took */
	atomic_int stop;         /* a unit failed: take no more */
	int refused[MS_WORKERS_MAX];
};

static memscan_value_set *part_new(struct vs_run *run)
{
	memscan_value_set *p = calloc(1, sizeof(*p));

	if (p) {
		p->type = run->out->type;
		p->width = run->out->width;
		p->align = run->out->align;
		p->max = run->out->max;
		p->total = &run->total;
	}
	return p;
}

static void scratch_free(struct vs_scratch *sc)
{
	if (sc->buf)
		ms_buf_free(sc->buf, VS_SCRATCH_BYTES);
	free(sc->reqs);
	memscan_ranges_release(&sc->holes);
}

static void run_unit(struct vs_run *run, struct vs_unit *u, memscan_process *proc, struct vs_scratch *sc)
{
	if (!sc->buf || !sc->reqs)
		u->err = MEMSCAN_ERR_NO_MEMORY;
	else if (ms_cancelled(proc))
		u->err = MEMSCAN_ERR_CANCELLED;
	else if (!(u->part = part_new(run)))
		u->err = MEMSCAN_ERR_NO_MEMORY;
	else
		u->err = run->fn(run->job, proc, sc, u);
	if (u->err != MEMSCAN_OK)
		atomic_store(&run->stop, 1);
}

static void run_worker(void *p, unsigned index)
{
	struct vs_run *run = p;
	memscan_process proc = *run->proc; /* own copy: readv_refused is written while reading */
	struct vs_scratch sc = { .buf = ms_buf_alloc(VS_SCRATCH_BYTES),
		                 .reqs = calloc(VS_BATCH_REQS, sizeof(*sc.reqs)) };
	size_t i;

	while (!atomic_load(&run->stop) && (i = atomic_fetch_add(&run->next, 1)) < run->n)
		run_unit(run, &run->units[i], &proc, &sc);
	scratch_free(&sc);
	if (index < MS_WORKERS_MAX)
		run->refused[index] = proc.readv_refused;
}

/* Moves the parts' candidates into OUT (empty), in unit order, freeing each part on the way. */
static int join_parts(struct vs_unit *units, size_t n, memscan_value_set *out)
{
	uint64_t total = 0, at = 0;
	int has_old = 0;
	size_t w = out->width;

	for (size_t i = 0; i < n; i++) {
		total += units[i].part ? units[i].part->count : 0;
		has_old |= units[i].part && units[i].part->old;
	}
	if (total > out->max)
		return MEMSCAN_ERR_LIMIT;
	if (total) {
		out->addr = malloc((size_t)total * sizeof(*out->addr));
		out->cur = malloc((size_t)total * w);
		out->old = has_old ? malloc((size_t)total * w) : NULL;
		if (!out->addr || !out->cur || (has_old && !out->old))
			return MEMSCAN_ERR_NO_MEMORY;
		out->cap_addr = (size_t)total;
		out->cap_cur = (size_t)total * w;
		out->cap_old = has_old ? (size_t)total * w : 0;
	}
	for (size_t i = 0; i < n; i++) {
		memscan_value_set *p = units[i].part;
		if (!p || !p->count)
			continue;
		memcpy(out->addr + at, p->addr, (size_t)p->count * sizeof(*p->addr));
		memcpy(out->cur + at * w, p->cur, (size_t)p->count * w);
		if (has_old)
			memcpy(out->old + at * w, p->old, (size_t)p->count * w);
		at += p->count;
		memscan_value_set_free(p);
		units[i].part = NULL;
	}
	out->count = total;
	return MEMSCAN_OK;
}

int ms_value_run(memscan_process *proc, struct vs_unit *units, size_t n, vs_unit_fn fn, void *job,
                 memscan_value_set *out)
{
	struct vs_run run = { .proc = proc, .units = units, .n = n, .fn = fn, .job = job, .out = out };
	unsigned workers = ms_worker_count();
	int r = MEMSCAN_OK;

	if (workers > n)
		workers = n ? (unsigned)n : 1;
	ms_process_prepare_absent(proc);
	ms_run_workers(workers, run_worker, &run);
	for (unsigned k = 0; k < workers && k < MS_WORKERS_MAX; k++)
		if (run.refused[k])
			proc->readv_refused = 1;
	for (size_t i = 0; i < n && r == MEMSCAN_OK; i++)
		r = units[i].err;
	if (r == MEMSCAN_OK)
		r = join_parts(units, n, out);
	for (size_t i = 0; i < n; i++) {
		memscan_value_set_free(units[i].part);
		units[i].part = NULL;
	}
	return r;
}

/* The slots from A on (fitting before END) as numbers of type T, compared as CAST with VALUE's bounds
 * in FIELD: the first inside them, or END. */
#define VS_FIND(T, CAST, FIELD)                                                                              \
	do {                                                                                                 \
		const CAST lo = v->lo.FIELD, hi = v->hi.FIELD;                                               \
		for (; end - a >= w; a += al, q += al) {                                                     \
			T x;                                                                                 \
			memcpy(&x, q, sizeof(x));                                                            \
			if ((CAST)x >= lo && (CAST)x <= hi)                                                  \
				return a;                                                                    \
		}                                                                                            \
		return end;                                                                                  \
	} while (0)

uint64_t ms_value_find_bounds(const memscan_value *v, uint64_t a, uint64_t end, const uint8_t *q, uint64_t al,
                              uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return a; /* the loads below read host order: leave every slot to scan_slot */
#endif
	switch (v->type) {
	case MEMSCAN_VALUE_I8:
		VS_FIND(int8_t, int64_t, i);
	case MEMSCAN_VALUE_U8:
		VS_FIND(uint8_t, uint64_t, u);
	case MEMSCAN_VALUE_I16:
		VS_FIND(int16_t, int64_t, i);
	case MEMSCAN_VALUE_U16:
		VS_FIND(uint16_t, uint64_t, u);
	case MEMSCAN_VALUE_I32:
		VS_FIND(int32_t, int64_t, i);
	case MEMSCAN_VALUE_U32:
		VS_FIND(uint32_t, uint64_t, u);
	case MEMSCAN_VALUE_I64:
		VS_FIND(int64_t, int64_t, i);
	case MEMSCAN_VALUE_U64:
		VS_FIND(uint64_t, uint64_t, u);
	case MEMSCAN_VALUE_F32:
		VS_FIND(float, double, f);
	case MEMSCAN_VALUE_F64:
		VS_FIND(double, double, f);
	default:
		return a;
	}
}
