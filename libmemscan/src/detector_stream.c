/* SPDX-License-Identifier: MIT */
/* Streaming detection: the live memory is read and compared with a detector's baseline one unit at a
 * time, and the change runs are handed out in parts of bounded size. No second copy of the target is
 * held (a detector's detect_changes keeps one). With MEMSCAN_STREAM_UPDATE the baseline becomes the
 * read: a region of the new layout that the baseline holds exactly gets its changed bytes written in
 * place right after they are compared; any other (appeared, grown, shrunk, split) gets a buffer of its
 * own, filled as it is read, and the layouts are swapped once the stream reached its end. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One unit of work: read and compared by one worker, in chunks of MS_STREAM_CHUNK. Small enough that
 * the part a call hands out overshoots its bound by little, large enough that claiming is cheap. */
#define MS_STREAM_UNIT ((size_t)1 << 20)
/* Units in one stream: one per MS_STREAM_UNIT of the regions, which lie in one address space. (A
 * unit keeps at most MS_STREAM_UNIT changed bytes: it covers no more.) */
#define MS_STREAM_UNITS_MAX (MS_ADDRESS_SPACE_MAX / MS_STREAM_UNIT)
/* Read into a per-worker buffer and compared while it is hot in the cache. */
#define MS_STREAM_CHUNK ((size_t)256 << 10)

struct ms_stream_unit {
	struct ms_unit at;      /* [off, off + len) of new-layout region at.region */
	size_t base;            /* the baseline region holding these addresses, or NO_BASE (appeared) */
	struct ms_spans runs;   /* raw runs (holes not yet clipped), offsets from the new region's start */
	uint8_t *old_b, *new_b; /* the runs' bytes, one run after another */
	size_t bytes, cap;
	memscan_ranges holes; /* what this read could not read */
	int err;
};

#define NO_BASE SIZE_MAX

/* A region of the layout being read. */
struct ms_new_region {
	uint64_t start, end;
	size_t exact;    /* the baseline region with exactly this range, or NO_BASE */
	int absent_zero; /* ms_region_absent_zero */
};

struct memscan_diff_stream {
	memscan_snapshot *base;
	memscan_process *proc;
	int update;
	struct ms_new_region *layout;
	size_t layout_n;
	struct ms_snap_region *next; /* update: the new layout's regions (exact ones filled at the end) */
	uint64_t fresh_bytes;        /* bytes of NEXT's own buffers */
	memscan_ranges appeared, vanished;
	int ranges_given;
	struct ms_stream_unit *units;
	size_t n, pos, cap;        /* all units; the first one not yet handed out */
	memscan_ranges *new_holes; /* per new region: the holes of this read so far */
	size_t ko, kn, ko_base;    /* hole cursors: of baseline region KO_BASE, of the new region */
	uint8_t *scratch[MS_WORKERS_MAX];
	int err; /* sticky: the first failure */
	uint64_t changed;
	uint64_t total, compared; /* bytes of all units, and of those handed out */
	/* one call's batch: workers claim units from POS on until OUT reaches MAX_OUT, or until they
	 * claimed READ_MAX bytes of units (READ counts them) */
	atomic_size_t claim, out, read;
	size_t max_out, read_max;
	int collect; /* keep the runs (0 when only finishing an update) */
	int refused[MS_WORKERS_MAX];
};

/* The bytes of a run (or of its part inside one chunk) appended to unit U. */
static int unit_keep(struct ms_stream_unit *u, const uint8_t *old_b, const uint8_t *new_b, size_t len)
{
	if (u->cap - u->bytes < len) {
		/* both buffers have the capacity of the old bytes' (new_b at least as much) */
		size_t cap = u->cap, new_cap = u->cap;
		int r = len > MS_STREAM_UNIT - u->bytes ? MEMSCAN_ERR_LIMIT : MEMSCAN_OK;

		if (r == MEMSCAN_OK)
			r = ms_grow(&u->old_b, &cap, u->bytes + len, 1, MS_STREAM_UNIT);
		if (r == MEMSCAN_OK)
			r = ms_grow(&u->new_b, &new_cap, cap, 1, MS_STREAM_UNIT);
		if (r != MEMSCAN_OK)
			return r;
		u->cap = cap;
	}
	memcpy(u->old_b + u->bytes, old_b, len);
	memcpy(u->new_b + u->bytes, new_b, len);
	u->bytes += len;
	return MEMSCAN_OK;
}

/* One chunk being compared: its baseline bytes, what was just read, where it starts in its new region;
 * IN_PLACE: the changed bytes go into the baseline. */
struct chunk_cmp {
	struct memscan_diff_stream *st;
	struct ms_stream_unit *u;
	uint8_t *base;
	const uint8_t *now;
	size_t off;
	int in_place;
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
	if (r == MEMSCAN_OK && c->in_place)
		memcpy(c->base + at, c->now + at, len); /* after the old bytes were kept */
	return r;
}

static int stream_unit(struct memscan_diff_stream *st, struct ms_stream_unit *u, memscan_process *proc,
                       uint8_t *buf)
{
	const struct ms_new_region *nr = &st->layout[u->at.region];
	struct ms_snap_region *b = u->base != NO_BASE ? &st->base->regions[u->base] : NULL;
	uint8_t *dst = st->update && nr->exact == NO_BASE ? st->next[u->at.region].data : NULL;
	int r = MEMSCAN_OK;

	for (size_t off = u->at.off; off < u->at.off + u->at.len && r == MEMSCAN_OK; off += MS_STREAM_CHUNK) {
		size_t len = u->at.off + u->at.len - off < MS_STREAM_CHUNK ? u->at.off + u->at.len - off
		                                                           : MS_STREAM_CHUNK;
		uint64_t addr = nr->start + off;
		struct ms_read_req req = { .addr = addr,
			                   .buf = buf,
			                   .len = len,
			                   .holes = &u->holes,
			                   .absent_zero = nr->absent_zero };

		r = ms_read_batch_raw(proc, &req, 1);
		if (r == MEMSCAN_OK && b) {
			struct chunk_cmp c = { st,  u,   b->data + (addr - b->region.start),
				               buf, off, st->update && nr->exact != NO_BASE };
			r = ms_for_each_run(c.base, buf, 0, len, chunk_run, &c);
		}
		if (r == MEMSCAN_OK && dst)
			memcpy(dst + off, buf, len);
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
	while (atomic_load(&st->out) < st->max_out && atomic_load(&st->read) < st->read_max &&
	       (k = atomic_fetch_add(&st->claim, 1)) < st->n) {
		struct ms_stream_unit *u = &st->units[k];

		atomic_fetch_add(&st->read, u->at.len);

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
	const struct ms_new_region *nr = &st->layout[u->at.region];
	const struct ms_snap_region *b = &st->base->regions[u->base];
	size_t at = 0;
	int r = MEMSCAN_OK;

	if (st->ko_base != u->base) {
		st->ko_base = u->base;
		st->ko = 0;
	}
	for (size_t j = 0; j < u->runs.count && r == MEMSCAN_OK; j++) {
		const struct ms_span *sp = &u->runs.items[j];
		uint64_t s = nr->start + sp->off;

		r = ms_diff_push_clipped(part, &b->holes, &st->new_holes[u->at.region], &st->ko, &st->kn,
		                         u->at.region, s, s + sp->len, u->old_b + at, u->new_b + at);
		at += sp->len;
	}
	return r;
}

/* New region I was read to its end: with an update its holes become the new read's. */
static void region_done(struct memscan_diff_stream *st, size_t i)
{
	memscan_ranges *now = &st->new_holes[i], *held = NULL;

	if (st->update)
		held = st->layout[i].exact != NO_BASE ? &st->base->regions[st->layout[i].exact].holes
		                                      : &st->next[i].holes;
	if (held) {
		memscan_ranges swap = *held;
		*held = *now;
		*now = swap;
	}
	memscan_ranges_release(now);
	st->kn = 0;
	st->ko_base = NO_BASE;
}

/* Hands out units [st->pos, end) in order; the first unit that failed stops the stream. */
static int stream_assemble(struct memscan_diff_stream *st, size_t end, memscan_diff *part)
{
	int r = MEMSCAN_OK;

	for (; st->pos < end && r == MEMSCAN_OK; st->pos++) {
		struct ms_stream_unit *u = &st->units[st->pos];
		memscan_ranges *nh = &st->new_holes[u->at.region];

		r = u->err;
		st->compared += u->at.len;
		for (size_t j = 0; r == MEMSCAN_OK && j < u->holes.count; j++)
			if (ms_ranges_append(nh, u->holes.items[j].start, u->holes.items[j].end) !=
			    MEMSCAN_OK)
				r = MEMSCAN_ERR_NO_MEMORY;
		if (r == MEMSCAN_OK && part && u->base != NO_BASE)
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

/* The update is complete: the baseline takes the new layout. Exact regions move over with their
 * buffers (updated in place); the others' buffers were filled by the read; the rest is freed. */
static void stream_swap_layout(struct memscan_diff_stream *st)
{
	memscan_snapshot *base = st->base;
	uint64_t total = 0;

	for (size_t i = 0; i < st->layout_n; i++) {
		if (st->layout[i].exact != NO_BASE) {
			st->next[i] = base->regions[st->layout[i].exact];
			memset(&base->regions[st->layout[i].exact], 0, sizeof(base->regions[0]));
		}
		st->next[i].region.path = st->next[i].path;
		total += st->layout[i].end - st->layout[i].start;
	}
	for (size_t j = 0; j < base->count; j++)
		ms_snap_region_release(&base->regions[j]);
	free(base->regions);
	base->regions = st->next;
	base->count = base->capacity = st->layout_n;
	base->total_bytes = total;
	st->next = NULL;
	st->fresh_bytes = 0;
}

/* Every unit was handed out and, with update, the baseline took the new layout. */
static int stream_ended(const struct memscan_diff_stream *st)
{
	return st->pos == st->n && !st->next;
}

/* Reads, compares and hands out units until about MAX_OUT bytes of runs were found, or about
 * READ_MAX bytes were compared (PART: NULL when the runs are not wanted). */
static int stream_step(struct memscan_diff_stream *st, size_t max_out, size_t read_max, memscan_diff *part)
{
	unsigned workers = ms_worker_count();
	size_t end;
	int r;

	if (st->err != MEMSCAN_OK)
		return st->err;
	atomic_store(&st->claim, st->pos);
	atomic_store(&st->out, 0);
	atomic_store(&st->read, 0);
	st->max_out = max_out ? max_out : 1;
	st->read_max = read_max ? read_max : 1;
	st->collect = part != NULL;
	if (workers > st->n - st->pos)
		workers = (unsigned)(st->n - st->pos);
	if (workers)
		ms_run_workers(workers, stream_worker, st);
	for (unsigned k = 0; k < MS_WORKERS_MAX; k++)
		if (st->refused[k])
			st->proc->readv_refused = 1;
	end = atomic_load(&st->claim);
	r = stream_assemble(st, end < st->n ? end : st->n, part);
	if (r == MEMSCAN_OK)
		r = memscan_process_check_alive(st->proc);
	if (r == MEMSCAN_OK && st->pos == st->n && st->update) {
		if (st->next)
			stream_swap_layout(st);
		st->base->time_ns = ms_now_ns();
	}
	st->err = r;
	return r;
}

/* ---- the plan: new layout, its pieces against the baseline, units ---- */

static int layout_cmp(const void *a, const void *b)
{
	const struct ms_new_region *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

/* The new layout: REGIONS sorted, or the baseline's own regions. */
static int plan_layout(struct memscan_diff_stream *st, const memscan_region_list *regions)
{
	size_t n = regions ? memscan_region_list_count(regions) : st->base->count;

	st->layout = calloc(n ? n : 1, sizeof(*st->layout));
	if (!st->layout)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < n; i++) {
		const memscan_region *g =
		    regions ? memscan_region_list_get(regions, i) : &st->base->regions[i].region;
		st->layout[i].start = g->start;
		st->layout[i].end = g->end;
		st->layout[i].absent_zero = ms_region_absent_zero(g);
	}
	qsort(st->layout, n, sizeof(*st->layout), layout_cmp);
	for (size_t i = 0; i < n; i++)
		if (st->layout[i].end <= st->layout[i].start ||
		    (i + 1 < n && st->layout[i].end > st->layout[i + 1].start))
			return MEMSCAN_ERR_INVALID_ARG; /* empty or overlapping regions */
	st->layout_n = n;
	return MEMSCAN_OK;
}

/* Appends the units of [lo, hi) of new region I, compared with baseline region BASE (or NO_BASE). */
static int plan_piece(struct memscan_diff_stream *st, size_t i, uint64_t lo, uint64_t hi, size_t base)
{
	for (uint64_t a = lo; a < hi; a += MS_STREAM_UNIT) {
		struct ms_stream_unit *u;

		if (st->n == st->cap) {
			int r =
			    ms_grow(&st->units, &st->cap, st->n + 1, sizeof(*st->units), MS_STREAM_UNITS_MAX);

			if (r != 0)
				return r;
		}
		u = &st->units[st->n++];
		memset(u, 0, sizeof(*u));
		u->at.region = i;
		u->at.off = (size_t)(a - st->layout[i].start);
		u->at.len = (size_t)(hi - a < MS_STREAM_UNIT ? hi - a : MS_STREAM_UNIT);
		u->base = base;
		st->total += u->at.len;
	}
	return MEMSCAN_OK;
}

/* Cuts each new region into pieces: those a baseline region covers are compared with it, the others
 * appeared. Baseline ranges no new region covers vanished. */
static int plan_units(struct memscan_diff_stream *st)
{
	const memscan_snapshot *b = st->base;
	size_t j = 0;
	int r = MEMSCAN_OK;

	for (size_t i = 0; i < st->layout_n && r == MEMSCAN_OK; i++) {
		struct ms_new_region *nr = &st->layout[i];
		uint64_t cur = nr->start;

		nr->exact = NO_BASE;
		while (j < b->count && b->regions[j].region.end <= cur)
			j++;
		for (size_t k = j; r == MEMSCAN_OK && k < b->count && b->regions[k].region.start < nr->end;
		     k++) {
			const memscan_region *g = &b->regions[k].region;
			uint64_t lo = g->start > cur ? g->start : cur,
			         hi = g->end < nr->end ? g->end : nr->end;

			if (g->start == nr->start && g->end == nr->end)
				nr->exact = k;
			if (lo > cur && (r = plan_piece(st, i, cur, lo, NO_BASE)) == MEMSCAN_OK)
				r = ms_ranges_append(&st->appeared, cur, lo) != MEMSCAN_OK
				        ? MEMSCAN_ERR_NO_MEMORY
				        : r;
			if (r == MEMSCAN_OK)
				r = plan_piece(st, i, lo, hi, k);
			cur = hi;
		}
		if (r == MEMSCAN_OK && cur < nr->end &&
		    (r = plan_piece(st, i, cur, nr->end, NO_BASE)) == MEMSCAN_OK)
			r = ms_ranges_append(&st->appeared, cur, nr->end) != MEMSCAN_OK
			        ? MEMSCAN_ERR_NO_MEMORY
			        : r;
	}
	j = 0;
	for (size_t k = 0; k < b->count && r == MEMSCAN_OK; k++) {
		const memscan_region *g = &b->regions[k].region;
		uint64_t cur = g->start;

		while (j < st->layout_n && st->layout[j].end <= cur)
			j++;
		for (size_t i = j; i < st->layout_n && st->layout[i].start < g->end; i++) {
			if (st->layout[i].start > cur &&
			    ms_ranges_append(&st->vanished, cur, st->layout[i].start) != MEMSCAN_OK)
				return MEMSCAN_ERR_NO_MEMORY;
			cur = st->layout[i].end < g->end ? st->layout[i].end : g->end;
		}
		if (cur < g->end && ms_ranges_append(&st->vanished, cur, g->end) != MEMSCAN_OK)
			return MEMSCAN_ERR_NO_MEMORY;
	}
	return r;
}

/* Update: the new layout's regions; those the baseline does not hold exactly get their own buffer
 * (from REGIONS, for their descriptions). */
static int plan_next(struct memscan_diff_stream *st, const memscan_region_list *regions)
{
	st->next = calloc(st->layout_n ? st->layout_n : 1, sizeof(*st->next));
	if (!st->next)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; regions && i < memscan_region_list_count(regions); i++) {
		const memscan_region *g = memscan_region_list_get(regions, i);
		struct ms_new_region key = { .start = g->start, .end = g->end };
		struct ms_new_region *nr = bsearch(&key, st->layout, st->layout_n, sizeof(key), layout_cmp);
		struct ms_snap_region *sr;

		if (!nr || nr->exact != NO_BASE)
			continue;
		sr = &st->next[nr - st->layout];
		sr->region = *g;
		sr->capacity = (size_t)(g->end - g->start);
		sr->path = ms_strdup(g->path);
		sr->data = ms_buf_alloc(sr->capacity);
		if (!sr->path || !sr->data)
			return MEMSCAN_ERR_NO_MEMORY;
		sr->region.path = sr->path;
		st->fresh_bytes += sr->capacity;
	}
	return MEMSCAN_OK;
}

int memscan_detector_stream(memscan_detector *det, memscan_process *proc, const memscan_region_list *regions,
                            unsigned flags, memscan_diff_stream **ret_stream)
{
	memscan_diff_stream *st;
	int r;

	if (ret_stream)
		*ret_stream = NULL;
	if (!det || !proc || !ret_stream || (flags & ~MEMSCAN_STREAM_UPDATE))
		return MEMSCAN_ERR_INVALID_ARG;
	if (!det->baseline)
		return MEMSCAN_ERR_NOT_FOUND; /* initialize first */
	ms_process_prepare_absent(proc);
	st = calloc(1, sizeof(*st));
	if (!st)
		return MEMSCAN_ERR_NO_MEMORY;
	st->base = det->baseline;
	st->proc = proc;
	st->update = (flags & MEMSCAN_STREAM_UPDATE) != 0;
	st->ko_base = NO_BASE;
	r = plan_layout(st, regions);
	if (r == MEMSCAN_OK)
		r = plan_units(st);
	if (r == MEMSCAN_OK) {
		st->new_holes = calloc(st->layout_n ? st->layout_n : 1, sizeof(*st->new_holes));
		r = st->new_holes ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
	}
	if (r == MEMSCAN_OK && st->update)
		r = plan_next(st, regions);
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
	return memscan_diff_stream_next_within(st, max_bytes, SIZE_MAX, ret_part, ret_done);
}

int memscan_diff_stream_next_within(memscan_diff_stream *st, size_t max_bytes, size_t max_read,
                                    memscan_diff **ret_part, int *ret_done)
{
	memscan_diff *part = NULL;
	int r;

	if (ret_part)
		*ret_part = NULL;
	if (!st || !ret_part || !ret_done)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_diff_new(&part);
	if (r == MEMSCAN_OK && !st->ranges_given) {
		for (size_t i = 0; r == MEMSCAN_OK && i < st->appeared.count; i++)
			r = memscan_diff_add_appeared(part, st->appeared.items[i]);
		for (size_t i = 0; r == MEMSCAN_OK && i < st->vanished.count; i++)
			r = memscan_diff_add_vanished(part, st->vanished.items[i]);
	}
	if (r == MEMSCAN_OK && !stream_ended(st))
		r = stream_step(st, max_bytes, max_read, part);
	else if (r == MEMSCAN_OK)
		r = st->err;
	if (r != MEMSCAN_OK) {
		memscan_diff_free(part);
		return r;
	}
	st->ranges_given = 1;
	st->changed += memscan_diff_changed_bytes(part);
	*ret_part = part;
	*ret_done = stream_ended(st);
	return MEMSCAN_OK;
}

int memscan_diff_stream_finish(memscan_diff_stream *st)
{
	int r = MEMSCAN_OK;

	if (!st)
		return MEMSCAN_ERR_INVALID_ARG;
	while (r == MEMSCAN_OK && !stream_ended(st))
		r = stream_step(st, SIZE_MAX, SIZE_MAX, NULL);
	return r == MEMSCAN_OK ? st->err : r;
}

bool memscan_diff_stream_done(const memscan_diff_stream *st)
{
	return st && stream_ended(st);
}

uint64_t memscan_diff_stream_changed_bytes(const memscan_diff_stream *st)
{
	return st ? st->changed : 0;
}

uint64_t memscan_diff_stream_compared_bytes(const memscan_diff_stream *st, uint64_t *ret_total)
{
	if (ret_total)
		*ret_total = st ? st->total : 0;
	return st ? st->compared : 0;
}

uint64_t memscan_diff_stream_new_bytes(const memscan_diff_stream *st)
{
	return st ? st->fresh_bytes : 0;
}

void memscan_diff_stream_free(memscan_diff_stream *st)
{
	if (!st)
		return;
	for (size_t k = 0; st->units && k < st->n; k++)
		unit_release(&st->units[k]);
	for (size_t i = 0; st->new_holes && i < st->layout_n; i++)
		memscan_ranges_release(&st->new_holes[i]);
	for (size_t i = 0; st->next && i < st->layout_n; i++)
		ms_snap_region_release(&st->next[i]); /* exact regions were never moved here before the end */
	for (unsigned k = 0; k < MS_WORKERS_MAX; k++)
		if (st->scratch[k])
			ms_buf_free(st->scratch[k], MS_STREAM_CHUNK);
	memscan_ranges_release(&st->appeared);
	memscan_ranges_release(&st->vanished);
	free(st->next);
	free(st->units);
	free(st->new_holes);
	free(st->layout);
	free(st);
}
