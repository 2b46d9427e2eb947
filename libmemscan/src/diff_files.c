/* SPDX-License-Identifier: MIT */
/* Diffs of two snapshot files read side by side, a chunk at a time (memscan_diff_files): the runs,
 * appeared and vanished ranges memscan_diff_snapshots gives for the loaded files, in bounded memory. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "snapfile.h"

/* Bytes compared at a time, from each file: large reads, and both chunks stay in the cache. */
#define DF_CHUNK ((size_t)1 << 20)
/* Parts of this many changed bytes when the caller asks for 0. */
#define DF_PART_DEFAULT ((size_t)1 << 20)
#define DF_NO_RUN       UINT64_MAX

/* One of the two files: its current region (NULL past the last) and how far its bytes were read. */
struct df_side {
	struct sf_in *in;
	const memscan_region *g;
	const memscan_ranges *holes;
	size_t index;             /* of the current region in the file */
	uint64_t pos;             /* the current region's bytes below this address were read */
	size_t hk;                /* hole cursor (ms_holes_skip) */
	struct ms_filter_rec sel; /* the filter the file records, if any */
	uint8_t *buf;             /* DF_CHUNK bytes */
	uint64_t addr;            /* address of buf[0] */
};

struct df {
	struct df_side o, n;
	memscan_diff *part;
	size_t max_bytes;
	memscan_diff_part_fn on_part;
	void *ctx;
	memscan_ranges appeared, vanished, outside_old, outside_new;
	uint64_t last_end; /* end of the last run of the piece being compared, or DF_NO_RUN */
	memscan_diff_files_info info;
	struct ms_progress progress; /* bytes of both files read */
};

/* Reports how far both files were read. */
static void df_progress(struct df *d)
{
	ms_progress_set(&d->progress, sf_in_pos(d->o.in) + sf_in_pos(d->n.in));
}

static int side_next(struct df_side *s)
{
	const memscan_region *g = NULL;
	const memscan_ranges *holes = NULL;
	int done = 0, rc = sf_in_next(s->in, &g, &holes, &done);

	if (rc != MEMSCAN_OK)
		return rc;
	if (s->g)
		s->index++;
	s->g = done ? NULL : g;
	s->holes = holes;
	s->pos = g && !done ? g->start : 0;
	s->hk = 0;
	return MEMSCAN_OK;
}

/* Reads S's bytes [addr, addr + len) of its current region into its buffer (those before are read
 * and checked, not kept). */
static int side_read(struct df_side *s, uint64_t addr, size_t len)
{
	int rc = sf_in_skip(s->in, addr - s->pos);

	if (rc == MEMSCAN_OK)
		rc = sf_in_data(s->in, s->buf, len);
	s->pos = addr + len;
	s->addr = addr;
	return rc;
}

/* Hands the part over and empties it for the next runs. */
static int df_emit(struct df *d)
{
	int rc;

	d->info.runs += memscan_diff_run_count(d->part);
	d->info.changed_bytes += memscan_diff_changed_bytes(d->part);
	rc = d->on_part(d->ctx, d->part) ? MEMSCAN_ERR_STOPPED : MEMSCAN_OK;
	ms_diff_clear(d->part); /* its buffers serve the next part */
	return rc;
}

/* A run of differing bytes at OFF in the chunk buffers: a new run, or the continuation of the one
 * that ended the previous chunk of the same piece (a piece's runs are maximal, as a snapshot diff's). */
static int df_run(void *ctx, size_t off, size_t len)
{
	struct df *d = ctx;
	uint64_t addr = d->n.addr + off;
	const uint8_t *ob = d->o.buf + off, *nb = d->n.buf + off;
	int rc = MEMSCAN_OK;

	if (addr == d->last_end)
		rc = ms_diff_append(d->part, addr, len, d->n.index, ob, nb);
	else if (memscan_diff_changed_bytes(d->part) >= d->max_bytes)
		rc = df_emit(d);
	if (rc == MEMSCAN_OK && addr != d->last_end)
		rc = ms_diff_push(d->part, addr, len, d->n.index, ob, nb);
	d->last_end = addr + len;
	return rc;
}

/* Compares the chunk [a, a + len) read into both buffers, outside the holes of either side. */
static int df_compare_chunk(struct df *d, uint64_t a, size_t len)
{
	uint64_t cur = a, end = a + len, prev, next_o, next_n, stop;
	int rc = MEMSCAN_OK;

	while (rc == MEMSCAN_OK && cur < end) {
		do {
			prev = cur;
			cur = ms_holes_skip(d->o.holes, &d->o.hk, cur, &next_o);
			cur = ms_holes_skip(d->n.holes, &d->n.hk, cur, &next_n);
		} while (cur != prev);
		if (cur >= end)
			break;
		stop = end < next_o ? end : next_o;
		stop = stop < next_n ? stop : next_n;
		rc = ms_for_each_run(d->o.buf, d->n.buf, (size_t)(cur - a), (size_t)(stop - a), df_run, d);
		cur = stop;
	}
	return rc;
}

/* Compares [s, e), which both current regions hold: a piece of memscan_diff_snapshots's walk. */
static int df_compare(struct df *d, uint64_t s, uint64_t e)
{
	int rc = MEMSCAN_OK;

	d->last_end = DF_NO_RUN;
	for (uint64_t a = s; rc == MEMSCAN_OK && a < e;) {
		size_t len = e - a < DF_CHUNK ? (size_t)(e - a) : DF_CHUNK;

		rc = side_read(&d->o, a, len);
		if (rc == MEMSCAN_OK)
			rc = side_read(&d->n, a, len);
		if (rc == MEMSCAN_OK)
			rc = df_compare_chunk(d, a, len);
		df_progress(d);
		a += len;
	}
	return rc;
}

/* One step of the walk from X: the next stretch that both files, only the new or only the old one
 * hold is compared, appeared or vanished; *X moves to its end. */
static int df_step(struct df *d, uint64_t *x)
{
	const memscan_region *o = d->o.g, *n = d->n.g;
	uint64_t ns = n ? (n->start > *x ? n->start : *x) : UINT64_MAX;
	uint64_t os = o ? (o->start > *x ? o->start : *x) : UINT64_MAX;
	uint64_t e;
	int rc;

	if (n && o && ns == os) {
		e = n->end < o->end ? n->end : o->end;
		rc = df_compare(d, ns, e);
	} else if (ns < os) {
		e = n->end < os ? n->end : os;
		rc = ms_coverage_add(&d->o.sel, n, ns, e, &d->appeared, &d->outside_old);
	} else {
		e = o->end < ns ? o->end : ns;
		rc = ms_coverage_add(&d->n.sel, o, os, e, &d->vanished, &d->outside_new);
	}
	*x = e;
	df_progress(d);
	if (rc == MEMSCAN_OK && n && n->end <= e)
		rc = side_next(&d->n);
	if (rc == MEMSCAN_OK && o && o->end <= e)
		rc = side_next(&d->o);
	return rc;
}

/* The last part: the runs left and the ranges. */
static int df_finish(struct df *d)
{
	int rc = MEMSCAN_OK;

	for (size_t i = 0; rc == MEMSCAN_OK && i < d->appeared.count; i++)
		rc = memscan_diff_add_appeared(d->part, d->appeared.items[i]);
	for (size_t i = 0; rc == MEMSCAN_OK && i < d->vanished.count; i++)
		rc = memscan_diff_add_vanished(d->part, d->vanished.items[i]);
	for (size_t i = 0; rc == MEMSCAN_OK && i < d->outside_old.count; i++)
		rc = memscan_diff_add_outside(d->part, d->outside_old.items[i], 1);
	for (size_t i = 0; rc == MEMSCAN_OK && i < d->outside_new.count; i++)
		rc = memscan_diff_add_outside(d->part, d->outside_new.items[i], 0);
	d->info.appeared = d->appeared.count;
	d->info.vanished = d->vanished.count;
	d->info.outside_old = d->outside_old.count;
	d->info.outside_new = d->outside_new.count;
	return rc == MEMSCAN_OK ? df_emit(d) : rc;
}

static int df_open(struct df *d, const char *old_path, const char *new_path)
{
	int rc = sf_in_open(old_path, &d->o.in);

	if (rc == MEMSCAN_OK)
		rc = sf_in_open(new_path, &d->n.in);
	if (rc != MEMSCAN_OK)
		return rc;
	d->info.old_pid = sf_in_pid(d->o.in);
	d->info.new_pid = sf_in_pid(d->n.in);
	rc = ms_filter_rec_set(&d->o.sel, sf_in_filter(d->o.in));
	if (rc == MEMSCAN_OK)
		rc = ms_filter_rec_set(&d->n.sel, sf_in_filter(d->n.in));
	if (rc != MEMSCAN_OK)
		return rc;
	d->o.buf = ms_buf_alloc(DF_CHUNK);
	d->n.buf = ms_buf_alloc(DF_CHUNK);
	if (!d->o.buf || !d->n.buf)
		return MEMSCAN_ERR_NO_MEMORY;
	rc = memscan_diff_new(&d->part);
	if (rc == MEMSCAN_OK)
		rc = side_next(&d->o);
	return rc == MEMSCAN_OK ? side_next(&d->n) : rc;
}

static void df_release(struct df *d)
{
	sf_in_close(d->o.in);
	sf_in_close(d->n.in);
	ms_buf_free(d->o.buf, DF_CHUNK);
	ms_buf_free(d->n.buf, DF_CHUNK);
	memscan_diff_free(d->part);
	memscan_ranges_release(&d->appeared);
	memscan_ranges_release(&d->vanished);
	memscan_ranges_release(&d->outside_old);
	memscan_ranges_release(&d->outside_new);
	ms_filter_rec_release(&d->o.sel);
	ms_filter_rec_release(&d->n.sel);
}

int memscan_diff_files_opts(const char *old_path, const char *new_path,
                            const memscan_diff_files_options *options, memscan_diff_part_fn on_part,
                            void *ctx, memscan_diff_files_info *ret_info)
{
	static const memscan_diff_files_options defaults = { 0 };
	const memscan_diff_files_options *opt = options ? options : &defaults;
	struct df d = { .max_bytes = opt->max_bytes ? opt->max_bytes : DF_PART_DEFAULT,
		        .on_part = on_part,
		        .ctx = ctx,
		        .progress = { .fn = opt->progress, .ctx = opt->progress_ctx } };
	uint64_t x = 0;
	int rc;

	sf_error_clear();
	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	if (!old_path || !*old_path || !new_path || !*new_path || !on_part)
		return MEMSCAN_ERR_INVALID_ARG;
	rc = df_open(&d, old_path, new_path);
	while (rc == MEMSCAN_OK && (d.o.g || d.n.g))
		rc = df_step(&d, &x);
	if (rc == MEMSCAN_OK)
		rc = df_finish(&d);
	if (rc == MEMSCAN_OK && ret_info)
		*ret_info = d.info;
	df_release(&d);
	return rc;
}

int memscan_diff_files(const char *old_path, const char *new_path, size_t max_bytes,
                       memscan_diff_part_fn on_part, void *ctx, memscan_diff_files_info *ret_info)
{
	memscan_diff_files_options opt = { .max_bytes = max_bytes };

	return memscan_diff_files_opts(old_path, new_path, &opt, on_part, ctx, ret_info);
}
