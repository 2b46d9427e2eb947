/* SPDX-License-Identifier: MIT */
/* Streaming detection: the live memory is read and compared with a detector's baseline one unit at a
 * time, and the change runs are handed out in parts of bounded size. No second copy of the target is
 * held (a detector's detect_changes keeps one), and with MEMSCAN_STREAM_UPDATE each unit's changed
 * bytes are written into the baseline as soon as they are compared, so the baseline ends as the read. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One unit of work: read and compared by one worker, in chunks of MS_STREAM_CHUNK. Small enough that
 * the part a call hands out overshoots its bound by little, large enough that claiming is cheap. */
#define MS_STREAM_UNIT ((size_t)1 << 20)
/* Read into a per-worker buffer and compared while it is hot in the cache. */
#define MS_STREAM_CHUNK ((size_t)256 << 10)

struct ms_stream_unit {
	struct ms_unit at;      /* first (ms_plan_units fills it): [off, off + len) of baseline region */
	struct ms_spans runs;   /* raw runs (holes not yet clipped), offsets from the region's start */
	uint8_t *old_b, *new_b; /* the runs' bytes, one run after another */
	size_t bytes, cap;
	memscan_ranges holes; /* what this read could not read */
	int err;
};

struct memscan_diff_stream {
	memscan_detector *det;
	memscan_snapshot *base;
	memscan_process *proc;
	int update;
	struct ms_stream_unit *units;
	size_t n, pos;             /* all units; the first one not yet handed out */
	memscan_ranges *new_holes; /* per baseline region: the holes of this read so far */
	size_t ko, kn;             /* hole cursors of the region being handed out */
	uint8_t *scratch[MS_WORKERS_MAX];
	int err; /* sticky: the first failure */
	uint64_t changed;
	/* one call's batch: workers claim units from POS on until OUT reaches MAX_OUT */
	atomic_size_t claim, out;
	size_t max_out;
	int collect; /* keep the runs (0 when only finishing an update) */
	int refused[MS_WORKERS_MAX];
};

/* The bytes of a run (or of its part inside one chunk) appended to unit U. */
static int unit_keep(struct ms_stream_unit *u, const uint8_t *old_b, const uint8_t *new_b, size_t len)
{
	if (u->cap - u->bytes < len) {
		size_t cap = u->cap ? u->cap : 4096;
		uint8_t *o, *n;

		while (cap - u->bytes < len)
			cap *= 2;
		o = realloc(u->old_b, cap);
		if (o)
			u->old_b = o;
		n = o ? realloc(u->new_b, cap) : NULL;
		if (!n)
			return MEMSCAN_ERR_NO_MEMORY;
		u->new_b = n;
		u->cap = cap;
	}
	memcpy(u->old_b + u->bytes, old_b, len);
	memcpy(u->new_b + u->bytes, new_b, len);
	u->bytes += len;
	return MEMSCAN_OK;
}

/* One chunk being compared: its baseline bytes, what was just read, where it starts in the region. */
struct chunk_cmp {
	struct memscan_diff_stream *st;
	struct ms_stream_unit *u;
	uint8_t *base;
	const uint8_t *now;
	size_t off;
};

static int chunk_run(void *ctx, size_t at, size_t len)
{
	struct chunk_cmp *c = ctx;
	int r = MEMSCAN_OK;

	if (c->st->collect) {
		r = ms_spans_add(&c->u->runs, c->off + at, len);
		if (r == MEMSCAN_OK)
			r = unit_keep(c->u, c->base + at, c->now + at, len);
	}
	if (r == MEMSCAN_OK && c->st->update)
		memcpy(c->base + at, c->now + at, len); /* after the old bytes were kept */
	return r;
}

static int stream_unit(struct memscan_diff_stream *st, struct ms_stream_unit *u, memscan_process *proc,
                       uint8_t *buf)
{
	struct ms_snap_region *o = &st->base->regions[u->at.region];
	int r = MEMSCAN_OK;

	for (size_t off = u->at.off; off < u->at.off + u->at.len && r == MEMSCAN_OK; off += MS_STREAM_CHUNK) {
		size_t len = u->at.off + u->at.len - off < MS_STREAM_CHUNK ? u->at.off + u->at.len - off
		                                                           : MS_STREAM_CHUNK;
		struct ms_read_req req = {
			.addr = o->region.start + off, .buf = buf, .len = len, .holes = &u->holes
		};
		struct chunk_cmp c = { st, u, o->data + off, buf, off };

		r = ms_read_batch_raw(proc, &req, 1);
		if (r == MEMSCAN_OK)
			r = ms_for_each_run(c.base, buf, 0, len, chunk_run, &c);
	}
	return r;
}

static void stream_worker(void *p, unsigned worker)
{
	struct memscan_diff_stream *st = p;
	memscan_process proc = *st->proc; /* own copy: readv_refused is written while reading */
	size_t k;

	if (!st->scratch[worker])
		st->scratch[worker] = ms_buf_alloc(MS_STREAM_CHUNK);
	while (atomic_load(&st->out) < st->max_out && (k = atomic_fetch_add(&st->claim, 1)) < st->n) {
		struct ms_stream_unit *u = &st->units[k];

		u->err = st->scratch[worker] ? stream_unit(st, u, &proc, st->scratch[worker])
		                             : MEMSCAN_ERR_NO_MEMORY;
		atomic_fetch_add(&st->out, 2 * u->bytes);
	}
	st->refused[worker] = proc.readv_refused;
}

static void unit_release(struct ms_stream_unit *u)
{
	ms_spans_release(&u->runs);
	free(u->old_b);
	free(u->new_b);
	u->old_b = u->new_b = NULL;
	u->bytes = u->cap = 0;
	memscan_ranges_release(&u->holes);
}

/* Hands unit U's runs to PART, clipped by the holes of either read. */
static int unit_hand_out(struct memscan_diff_stream *st, const struct ms_stream_unit *u, memscan_diff *part)
{
	const struct ms_snap_region *o = &st->base->regions[u->at.region];
	size_t at = 0;
	int r = MEMSCAN_OK;

	for (size_t j = 0; j < u->runs.count && r == MEMSCAN_OK; j++) {
		const struct ms_span *sp = &u->runs.items[j];
		uint64_t s = o->region.start + sp->off;

		r = ms_diff_push_clipped(part, &o->holes, &st->new_holes[u->at.region], &st->ko, &st->kn,
		                         u->at.region, s, s + sp->len, u->old_b + at, u->new_b + at);
		at += sp->len;
	}
	return r;
}

/* The region of unit K was read to its end: with an update its holes become the new read's. */
static void region_done(struct memscan_diff_stream *st, size_t region)
{
	memscan_ranges *held = &st->base->regions[region].holes, *now = &st->new_holes[region];

	if (st->update) {
		memscan_ranges swap = *held;
		*held = *now;
		*now = swap;
	}
	memscan_ranges_release(now);
	st->ko = st->kn = 0;
}

/* Hands out units [st->pos, end) in order; the first unit that failed stops the stream. */
static int stream_assemble(struct memscan_diff_stream *st, size_t end, memscan_diff *part)
{
	int r = MEMSCAN_OK;

	for (; st->pos < end && r == MEMSCAN_OK; st->pos++) {
		struct ms_stream_unit *u = &st->units[st->pos];
		memscan_ranges *nh = &st->new_holes[u->at.region];

		r = u->err;
		for (size_t j = 0; r == MEMSCAN_OK && j < u->holes.count; j++)
			if (ms_ranges_append(nh, u->holes.items[j].start, u->holes.items[j].end) < 0)
				r = MEMSCAN_ERR_NO_MEMORY;
		if (r == MEMSCAN_OK && part)
			r = unit_hand_out(st, u, part);
		unit_release(u);
		if (r == MEMSCAN_OK &&
		    (st->pos + 1 == st->n || st->units[st->pos + 1].at.region != u->at.region))
			region_done(st, u->at.region);
	}
	for (size_t k = st->pos; k < end; k++)
		unit_release(&st->units[k]); /* read past a failure */
	return r;
}

/* Reads, compares and hands out units until about MAX_OUT bytes of runs were found (PART: NULL when
 * the runs are not wanted). */
static int stream_step(struct memscan_diff_stream *st, size_t max_out, memscan_diff *part)
{
	unsigned workers = ms_worker_count();
	size_t end;
	int r;

	if (st->err != MEMSCAN_OK)
		return st->err;
	atomic_store(&st->claim, st->pos);
	atomic_store(&st->out, 0);
	st->max_out = max_out ? max_out : 1;
	st->collect = part != NULL;
	if (workers > st->n - st->pos)
		workers = (unsigned)(st->n - st->pos);
	ms_run_workers(workers ? workers : 1, stream_worker, st);
	for (unsigned k = 0; k < MS_WORKERS_MAX; k++)
		if (st->refused[k])
			st->proc->readv_refused = 1;
	end = atomic_load(&st->claim);
	r = stream_assemble(st, end < st->n ? end : st->n, part);
	if (r == MEMSCAN_OK)
		r = memscan_process_check_alive(st->proc);
	if (r == MEMSCAN_OK && st->pos == st->n && st->update)
		st->base->time_ns = ms_now_ns();
	st->err = r;
	return r;
}

/* Cuts every region of the baseline into units. */
static int stream_plan(struct memscan_diff_stream *st)
{
	st->units = ms_plan_units(st->base, MS_STREAM_UNIT, sizeof(*st->units), &st->n);
	st->new_holes = calloc(st->base->count ? st->base->count : 1, sizeof(*st->new_holes));
	return st->units && st->new_holes ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

int memscan_detector_stream(memscan_detector *det, memscan_process *proc, unsigned flags,
                            memscan_diff_stream **ret_stream)
{
	memscan_diff_stream *st;
	int r;

	if (ret_stream)
		*ret_stream = NULL;
	if (!det || !proc || !ret_stream || (flags & ~MEMSCAN_STREAM_UPDATE))
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->baseline)
		return MEMSCAN_ERR_NOT_FOUND; /* initialize first */
	st = calloc(1, sizeof(*st));
	if (!st)
		return MEMSCAN_ERR_NO_MEMORY;
	st->det = det;
	st->base = det->baseline;
	st->proc = proc;
	st->update = (flags & MEMSCAN_STREAM_UPDATE) != 0;
	r = stream_plan(st);
	if (r != MEMSCAN_OK) {
		memscan_diff_stream_free(st);
		return r;
	}
	/* a stream needs no second copy: drop the one an earlier detect_changes kept for reuse */
	memscan_snapshot_free(det->current);
	det->current = NULL;
	det->current_fresh = 0;
	*ret_stream = st;
	return MEMSCAN_OK;
}

int memscan_diff_stream_next(memscan_diff_stream *st, size_t max_bytes, memscan_diff **ret_part,
                             int *ret_done)
{
	memscan_diff *part = NULL;
	int r;

	if (ret_part)
		*ret_part = NULL;
	if (!st || !ret_part || !ret_done)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_diff_new(&part);
	if (r == MEMSCAN_OK && st->pos < st->n)
		r = stream_step(st, max_bytes, part);
	else if (r == MEMSCAN_OK)
		r = st->err;
	if (r != MEMSCAN_OK) {
		memscan_diff_free(part);
		return r;
	}
	st->changed += memscan_diff_changed_bytes(part);
	*ret_part = part;
	*ret_done = st->pos == st->n;
	return MEMSCAN_OK;
}

int memscan_diff_stream_finish(memscan_diff_stream *st)
{
	int r = MEMSCAN_OK;

	if (!st)
		return MEMSCAN_ERR_INVALID_ARG;
	while (r == MEMSCAN_OK && st->pos < st->n)
		r = stream_step(st, SIZE_MAX, NULL);
	return r == MEMSCAN_OK ? st->err : r;
}

int memscan_diff_stream_done(const memscan_diff_stream *st)
{
	return st && st->pos == st->n;
}

uint64_t memscan_diff_stream_changed_bytes(const memscan_diff_stream *st)
{
	return st ? st->changed : 0;
}

void memscan_diff_stream_free(memscan_diff_stream *st)
{
	if (!st)
		return;
	for (size_t k = 0; st->units && k < st->n; k++)
		unit_release(&st->units[k]);
	for (size_t i = 0; st->new_holes && i < st->base->count; i++)
		memscan_ranges_release(&st->new_holes[i]);
	for (unsigned k = 0; k < MS_WORKERS_MAX; k++)
		if (st->scratch[k])
			ms_buf_free(st->scratch[k], MS_STREAM_CHUNK);
	free(st->units);
	free(st->new_holes);
	free(st);
}
