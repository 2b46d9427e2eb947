/* SPDX-License-Identifier: MIT */
/* Reading another process's memory: batches of requests, never-written pages skipped, parallel reads. */
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

int ms_read_batch_raw(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	size_t page = memscan_page_size(), first = 0;
	uint64_t bytes = 0;
	int r = MEMSCAN_OK;

	for (size_t k = 0; k < n; k++) {
		reqs[k].hole_bytes = 0;
		bytes += reqs[k].len;
	}
	if (proc->file) { /* a snapshot file: its bytes, where they lie in it */
		r = ms_filesrc_read(proc, reqs, n);
		if (r == MEMSCAN_OK)
			ms_progress_add(proc, bytes);
		return r;
	}
	/* runs of ordinary requests are batched together; a request that may be sparse goes alone */
	for (size_t i = 0; i < n && r == MEMSCAN_OK; i++) {
		if (!ms_sparse_eligible(proc, &reqs[i], page))
			continue;
		r = ms_read_dense(proc, reqs + first, i - first);
		if (r == MEMSCAN_OK)
			r = ms_read_sparse(proc, &reqs[i], page);
		first = i + 1;
	}
	if (r == MEMSCAN_OK)
		r = ms_read_dense(proc, reqs + first, n - first);
	if (r == MEMSCAN_OK)
		ms_progress_add(proc, bytes);
	return r;
}

int ms_read_batch(memscan_process *proc, struct ms_read_req *reqs, size_t n)
{
	int r = ms_read_batch_raw(proc, reqs, n);

	/* a process that exited may have had its PID reused: what we read could be someone else's */
	return r == MEMSCAN_OK ? memscan_process_check_alive(proc) : r;
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
			if (ms_ranges_append(req->holes, h->items[j].start, h->items[j].end) != MEMSCAN_OK)
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
