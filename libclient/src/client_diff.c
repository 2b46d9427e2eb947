/* SPDX-License-Identifier: MIT */
/* Diffs of snapshots kept on the agent: change runs paged in, joined, checked against what the snapshot
 * can hold; whole or page by page. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* What all the pages of one diff may carry, checked as they arrive: no more changed bytes than the
 * snapshot can hold (so endless pages end), and appeared or vanished ranges only in the first page. */
struct diff_limits {
	uint64_t bound;    /* the kept snapshot's diff_bound */
	uint64_t changed;  /* changed bytes taken so far */
	uint64_t appeared; /* bytes of the ranges reported as appeared (saturating) */
	uint64_t pages;    /* pages taken so far */
};

/* Runs arrive split at page boundaries: a piece that continues the previous run (same region, next
 * address) is joined to it before the run is added, so the result equals a local diff. */
struct diff_acc {
	struct diff_limits *lim;
	memscan_diff *diff;
	int zstd;       /* the pages' runs were asked for compressed */
	uint64_t bytes; /* old and new bytes of the run pieces taken */
	uint64_t addr;
	size_t region;
	uint8_t *old_bytes, *new_bytes;
	size_t len, cap;
};

static int run_flush(memscan_client *c, struct diff_acc *a)
{
	memscan_change_run run = { .address = a->addr,
		                   .length = a->len,
		                   .region_index = a->region,
		                   .old_bytes = a->old_bytes,
		                   .new_bytes = a->new_bytes };
	int r;

	if (!a->len)
		return MEMSCAN_OK;
	a->len = 0;
	r = memscan_diff_add_run(a->diff, &run);
	if (r == MEMSCAN_ERR_INVALID_ARG)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent change runs out of order");
	return r != MEMSCAN_OK ? client_fail(c, r, "diff: %s", memscan_strerror(r)) : MEMSCAN_OK;
}

static int run_reserve(memscan_client *c, struct diff_acc *a, size_t add)
{
	size_t cap = a->cap, new_cap = a->cap; /* the new bytes follow the old bytes' capacity */
	int r;

	if (add > CLIENT_DIFF_BYTES_MAX - a->len)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "change run too long");
	r = wire_grow(&a->old_bytes, &cap, a->len + add, 1, CLIENT_DIFF_BYTES_MAX);
	if (r == 0)
		r = wire_grow(&a->new_bytes, &new_cap, cap, 1, CLIENT_DIFF_BYTES_MAX);
	if (r != 0)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	a->cap = cap;
	return MEMSCAN_OK;
}

static int run_piece(memscan_client *c, struct diff_acc *a, const Memscan__V1__ChangeRun *p)
{
	size_t len;
	int r = MEMSCAN_OK;

	if (!p || !p->old_bytes.len || p->old_bytes.len != p->new_bytes.len ||
	    p->old_bytes.len > UINT64_MAX - p->address)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an invalid change run");
	len = p->old_bytes.len;
	if (len > a->lim->bound - a->lim->changed)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                   "agent sent more changed bytes than its snapshot holds (%llu)",
		                   (unsigned long long)a->lim->bound);
	a->lim->changed += len;
	if (!a->len || p->address != a->addr + a->len || p->region_index != a->region) {
		r = run_flush(c, a);
		a->addr = p->address;
		a->region = p->region_index;
	}
	if (r == MEMSCAN_OK)
		r = run_reserve(c, a, len);
	if (r != MEMSCAN_OK)
		return r;
	memcpy(a->old_bytes + a->len, p->old_bytes.data, len);
	memcpy(a->new_bytes + a->len, p->new_bytes.data, len);
	a->len += len;
	a->bytes += 2 * (uint64_t)len;
	return MEMSCAN_OK;
}

static int add_ranges(memscan_client *c, struct diff_acc *a, Memscan__V1__Range **rs, size_t n, int appeared)
{
	memscan_diff *d = a->diff;

	for (size_t i = 0; i < n; i++) {
		memscan_range range;
		int r;

		if (!rs[i])
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty range");
		range.start = rs[i]->start;
		range.end = rs[i]->end;
		r = appeared ? memscan_diff_add_appeared(d, range) : memscan_diff_add_vanished(d, range);
		if (r == MEMSCAN_ERR_INVALID_ARG)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an invalid range");
		if (r != MEMSCAN_OK)
			return client_fail(c, r, "diff: %s", memscan_strerror(r));
		if (appeared)
			a->lim->appeared += range.end - range.start < UINT64_MAX - a->lim->appeared
			                        ? range.end - range.start
			                        : UINT64_MAX - a->lim->appeared;
	}
	return MEMSCAN_OK;
}

static int add_runs(memscan_client *c, struct diff_acc *a, Memscan__V1__ChangeRun **runs, size_t n)
{
	int r = MEMSCAN_OK;

	for (size_t i = 0; r == MEMSCAN_OK && i < n; i++)
		r = run_piece(c, a, runs[i]);
	return r;
}

/* The runs of page P, as they came or (asked for) decompressed and unpacked: checked alike, and
 * counted in the transfer stats as their bytes and the payload that carried them. */
static int diff_page_runs(memscan_client *c, struct diff_acc *a, const Memscan__V1__DiffPage *p)
{
	Memscan__V1__ChangeRunList *list = NULL;
	uint64_t before = a->bytes;
	int r;

	if (p->encoding == MEMSCAN__V1__ENCODING__ENCODING_RAW) {
		if (p->raw_length || p->packed_runs.len)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL,
			                   "agent sent packed change runs in a plain diff page");
		r = add_runs(c, a, p->runs, p->n_runs);
		c->wire_bytes += a->bytes - before;
	} else if (p->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD && a->zstd) {
		if (p->n_runs)
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL,
			    "agent sent a compressed diff page that also has plain change runs");
		r = wire_unpack_zruns(c->dec, p->packed_runs.data, p->packed_runs.len, p->raw_length,
		                      WIRE_UNPACK_BUDGET_CLIENT, &list);
		if (r == WIRE_ZRUNS_NO_MEMORY)
			return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		if (r != 0)
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL, "agent sent compressed change runs that %s (%llu bytes)",
			    r == WIRE_ZRUNS_BOUND   ? "are out of bounds"
			    : r == WIRE_ZRUNS_FRAME ? "do not decode to the bytes they announce"
			                            : "do not unpack as a list of runs",
			    (unsigned long long)p->raw_length);
		r = add_runs(c, a, list->runs, list->n_runs);
		wire_free_runs(list);
		c->wire_bytes += p->packed_runs.len;
	} else {
		return client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                   "agent sent a diff page in an encoding (%d) this client did not ask for",
		                   (int)p->encoding);
	}
	c->data_bytes += a->bytes - before;
	if (!p->total_bytes) /* else the comparison's own progress is reported (diff_page) */
		client_progress_note(c);
	return r;
}

/* How far the agent's comparison is (pages of a Diff asked with progress_ms): to the progress
 * callback; then the cancel callback is asked. */
static int diff_progress(memscan_client *c, const Memscan__V1__DiffPage *p)
{
	if (!p->total_bytes)
		return MEMSCAN_OK;
	if (p->compared_bytes > p->total_bytes)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent compared %llu bytes of a diff of %llu",
		                   (unsigned long long)p->compared_bytes, (unsigned long long)p->total_bytes);
	client_progress_report(c, p->compared_bytes, p->total_bytes);
	if (p->next_cursor && client_cancelled(c))
		return client_fail(c, MEMSCAN_ERR_CANCELLED, "the diff was cancelled");
	return MEMSCAN_OK;
}

static int diff_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__DiffPage *p = resp->diff;
	struct diff_acc *a = ctx;
	int r;

	if (!p)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty diff page");
	if (a->lim->pages++ && (p->n_appeared || p->n_vanished))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                   "agent sent appeared or vanished ranges after a diff's first page");
	r = diff_page_runs(c, a, p);
	if (r == MEMSCAN_OK)
		r = add_ranges(c, a, p->appeared, p->n_appeared, 1);
	if (r == MEMSCAN_OK)
		r = add_ranges(c, a, p->vanished, p->n_vanished, 0);
	if (r == MEMSCAN_OK)
		r = diff_progress(c, p);
	*ret_cursor = p->next_cursor;
	return r;
}

/* A Diff with update made a new baseline for kept snapshot ID, which may have taken the APPEARED
 * bytes. */
static void mark_updated(memscan_client *c, uint64_t id, unsigned flags, uint64_t appeared)
{
	struct client_kept *k = client_kept_find(c, id);

	if (!k)
		return;
	k->updated = 1;
	k->diff_bound += appeared < UINT64_MAX - k->diff_bound ? appeared : UINT64_MAX - k->diff_bound;
	if (flags & MEMSCAN_DIFF_REFILTER)
		k->refiltered = 1;
}

/* Fills a Diff request; returns whether its pages' runs are asked for compressed. */
static int diff_request(const memscan_client *c, Memscan__V1__Request *req, Memscan__V1__Diff *d, uint64_t id,
                        unsigned flags)
{
	int zstd = c->dec && c->agent_zstd;

	d->snapshot_id = id;
	d->update = (flags & MEMSCAN_DIFF_UPDATE) != 0;
	d->refilter = (flags & MEMSCAN_DIFF_REFILTER) != 0;
	if (zstd)
		d->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	/* each page within a quarter second, saying how far the comparison is */
	d->progress_ms = client_progress_ms(c);
	req->op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	req->diff = d;
	return zstd;
}

static int diff(memscan_client *c, uint64_t id, unsigned flags, memscan_diff **ret)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;
	struct client_kept *k = client_kept_live(c, id);
	struct diff_limits lim = { 0 };
	struct diff_acc a = { .lim = &lim };
	int r;

	if (!k)
		return MEMSCAN_ERR_NOT_FOUND;
	lim.bound = k->diff_bound;
	a.zstd = diff_request(c, &req, &d, id, flags);
	client_progress_begin(c, 0); /* the pages say what the agent compares */
	r = memscan_diff_new(&a.diff);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_DIFF, MEMSCAN__V1__RESPONSE__RESULT_DIFF,
	                 diff_page, &a);
	if (r == MEMSCAN_OK)
		r = run_flush(c, &a);
	/* cancelled, an update diff's baseline is still made whole (the agent reads the rest into it
	 * when the next request drops the diff) */
	if ((r == MEMSCAN_OK || r == MEMSCAN_ERR_CANCELLED) && (flags & MEMSCAN_DIFF_UPDATE))
		mark_updated(c, id, flags, lim.appeared);
	free(a.old_bytes);
	free(a.new_bytes);
	if (r != MEMSCAN_OK) {
		memscan_diff_free(a.diff);
		return r;
	}
	*ret = a.diff;
	return MEMSCAN_OK;
}

int memscan_client_diff(memscan_client *c, uint64_t id, unsigned flags, memscan_diff **ret_diff)
{
	int r;

	if (ret_diff)
		*ret_diff = NULL;
	if (!c || !id || !ret_diff || (flags & ~MEMSCAN_DIFF_FLAGS))
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = diff(c, id, flags, ret_diff);
	client_unlock(c);
	return r;
}

/* A diff handed to the caller page by page. */
struct diff_parts {
	memscan_diff_part_fn on_part;
	void *ctx;
	int zstd;
	struct diff_limits lim;
};

/* One page as a diff of its own: its pieces joined where they continue each other. */
static int diff_part_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx,
                          uint64_t *ret_cursor)
{
	struct diff_parts *dp = ctx;
	struct diff_acc a = { .lim = &dp->lim, .zstd = dp->zstd };
	int r = memscan_diff_new(&a.diff);

	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = diff_page(c, resp, &a, ret_cursor);
	if (r == MEMSCAN_OK)
		r = run_flush(c, &a);
	if (r == MEMSCAN_OK && dp->on_part(dp->ctx, a.diff))
		r = client_fail(c, MEMSCAN_ERR_STOPPED, "diff stopped by the callback");
	free(a.old_bytes);
	free(a.new_bytes);
	memscan_diff_free(a.diff);
	return r;
}

int memscan_client_diff_parts(memscan_client *c, uint64_t id, unsigned flags, memscan_diff_part_fn on_part,
                              void *ctx)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;
	struct diff_parts dp = { .on_part = on_part, .ctx = ctx };
	struct client_kept *k;
	int r;

	if (!c || !id || !on_part || (flags & ~MEMSCAN_DIFF_FLAGS))
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	k = client_kept_live(c, id);
	if (!k) {
		client_unlock(c);
		return MEMSCAN_ERR_NOT_FOUND;
	}
	dp.lim.bound = k->diff_bound;
	dp.zstd = diff_request(c, &req, &d, id, flags);
	client_progress_begin(c, 0); /* the pages say what the agent compares */
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_DIFF, MEMSCAN__V1__RESPONSE__RESULT_DIFF,
	                 diff_part_page, &dp);
	/* stopped or not, the agent made (or, at our next request, completes) the new baseline; what
	 * appeared came in the first page, which the callback saw */
	if ((r == MEMSCAN_OK || r == MEMSCAN_ERR_STOPPED || r == MEMSCAN_ERR_CANCELLED) &&
	    (flags & MEMSCAN_DIFF_UPDATE))
		mark_updated(c, id, flags, dp.lim.appeared);
	client_unlock(c);
	return r;
}
