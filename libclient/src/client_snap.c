/* SPDX-License-Identifier: MIT */
/* Snapshots kept on the agent: taking, downloading, diffing against live memory, releasing. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* ---- taking ---- */

struct snap_acc {
	struct client_kept k;
	uint64_t total;
	int got_reply;
};

static int snap_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	struct snap_acc *a = ctx;
	const Memscan__V1__RegionPage *page = resp->regions;

	*ret_cursor = 0;
	/* every page is a SnapshotReply (or, equally, a RegionPage after the first) */
	if (resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT) {
		const Memscan__V1__SnapshotReply *s = resp->snapshot;

		if (!s || !s->snapshot_id || (a->got_reply && s->snapshot_id != a->k.id))
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an invalid snapshot reply");
		if (!a->got_reply) {
			a->got_reply = 1;
			a->k.id = s->snapshot_id;
			a->k.time_ns = s->time_ns;
			a->total = s->total_bytes;
		}
		page = s->regions;
		if (!page)
			return MEMSCAN_OK; /* no region at all */
	} else if (resp->result_case != MEMSCAN__V1__RESPONSE__RESULT_REGIONS) {
		page = NULL;
	}
	if (!page || !a->got_reply)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty region page");
	*ret_cursor = page->next_cursor;
	return client_add_regions(c, a->k.regions, page);
}

static int kept_add(memscan_client *c, const struct client_kept *k)
{
	struct client_kept *grown;

	client_kept_remove(c, k->id);
	if (c->kept_count == c->kept_cap) {
		size_t cap = c->kept_cap ? c->kept_cap * 2 : 8;

		grown = realloc(c->kept, cap * sizeof(*grown));
		if (!grown)
			return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		c->kept = grown;
		c->kept_cap = cap;
	}
	c->kept[c->kept_count++] = *k;
	return MEMSCAN_OK;
}

static int release(memscan_client *c, uint64_t id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Release rel = MEMSCAN__V1__RELEASE__INIT;
	Memscan__V1__Response *resp;
	int r;

	rel.snapshot_id = id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_RELEASE;
	req.release = &rel;
	r = client_call(c, &req, MEMSCAN__V1__RESPONSE__RESULT_RELEASE, &resp);
	wire_free_response(resp);
	if (r == MEMSCAN_OK || r == MEMSCAN_ERR_NOT_FOUND)
		client_kept_remove(c, id);
	return r;
}

static int take(memscan_client *c, int pid, const memscan_filter *filter, struct snap_acc *a)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f;
	int r;

	t.pid = pid;
	client_filter(filter, 1, &f);
	sn.target = &t;
	sn.filter = &f;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	a->k.pid = pid;
	r = memscan_region_list_new(&a->k.regions);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT,
	                 MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, snap_page, a);
	if (r == MEMSCAN_OK)
		r = kept_add(c, &a->k);
	if (r == MEMSCAN_OK)
		return MEMSCAN_OK;
	memscan_region_list_free(a->k.regions);
	a->k.regions = NULL;
	if (a->got_reply && client_session_live(c)) {
		char saved[CLIENT_ERR_LEN];

		/* do not leave an unreachable snapshot held against the agent's budget */
		memcpy(saved, c->err, sizeof(saved));
		(void)release(c, a->k.id);
		memcpy(c->err, saved, sizeof(saved));
	}
	return r;
}

static int copy_regions(const memscan_region_list *in, memscan_region_list **ret)
{
	memscan_region_list *out;
	int r = memscan_region_list_new(&out);

	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(in); i++)
		r = memscan_region_list_add(out, memscan_region_list_get(in, i));
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(out);
		return r;
	}
	*ret = out;
	return MEMSCAN_OK;
}

int memscan_client_snapshot(memscan_client *c, int pid, const memscan_filter *filter, uint64_t *ret_id,
                            memscan_region_list **ret_regions, uint64_t *ret_bytes)
{
	struct snap_acc a = { 0 };
	memscan_region_list *copy = NULL;
	int r;

	if (ret_id)
		*ret_id = 0;
	if (ret_regions)
		*ret_regions = NULL;
	if (ret_bytes)
		*ret_bytes = 0;
	if (!c || pid <= 0 || !ret_id)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = take(c, pid, filter, &a);
	if (r == MEMSCAN_OK && ret_regions && (r = copy_regions(a.k.regions, &copy)) != MEMSCAN_OK)
		client_fail(c, r, "out of memory");
	client_unlock(c);
	if (r != MEMSCAN_OK)
		return r;
	*ret_id = a.k.id;
	if (ret_regions)
		*ret_regions = copy;
	if (ret_bytes)
		*ret_bytes = a.total;
	return MEMSCAN_OK;
}

/* ---- downloading ---- */

/* What a download works from: copies, since the kept entry goes away if the connection drops. */
struct fetch_job {
	memscan_snapshot *snap;
	uint64_t id;
	int pid;
	int updated;
};

/* Reads the bytes of REG into BUF and its holes into HOLES; *RET_GONE if the region has left the
 * baseline of an updated snapshot. */
static int fetch_bytes(memscan_client *c, const struct fetch_job *j, const memscan_region *reg, uint8_t *buf,
                       memscan_ranges *holes, int *ret_gone)
{
	struct client_read_sink s = { .buf = buf,
		                      .addr = reg->start,
		                      .len = (size_t)(reg->end - reg->start),
		                      .on_hole = client_ranges_hole,
		                      .hole_ctx = holes };
	int r = client_read_into(c, j->pid, j->id, &s);

	*ret_gone = r == MEMSCAN_ERR_NOT_FOUND && j->updated;
	if (r == MEMSCAN_ERR_PARTIAL || r == MEMSCAN_ERR_UNREADABLE || *ret_gone)
		return MEMSCAN_OK;
	return r;
}

static int add_region(memscan_client *c, memscan_snapshot *snap, const memscan_region *reg,
                      uint8_t **ret_data)
{
	int r = memscan_snapshot_add_region(snap, reg, ret_data);

	return r == MEMSCAN_OK ? r : client_fail(c, r, "snapshot region: %s", memscan_strerror(r));
}

/* Marks HOLES in the last region added to SNAP. */
static int add_holes(memscan_client *c, memscan_snapshot *snap, const memscan_ranges *holes)
{
	int r = MEMSCAN_OK;

	for (size_t i = 0; r == MEMSCAN_OK && i < holes->count; i++)
		r = memscan_snapshot_add_hole(snap, holes->items[i]);
	return r == MEMSCAN_OK ? r : client_fail(c, r, "snapshot hole: %s", memscan_strerror(r));
}

static int fetch_region(memscan_client *c, const struct fetch_job *j, const memscan_region *reg)
{
	size_t size = (size_t)(reg->end - reg->start);
	memscan_ranges holes = { 0 };
	uint8_t *data = NULL, *tmp = NULL;
	int gone = 0, r;

	if (!j->updated) {
		/* straight into the snapshot's buffer */
		r = add_region(c, j->snap, reg, &data);
		if (r == MEMSCAN_OK)
			r = fetch_bytes(c, j, reg, data, &holes, &gone);
	} else {
		/* an updated snapshot may have lost regions: read first, add what is still there */
		tmp = malloc(size);
		r = tmp ? fetch_bytes(c, j, reg, tmp, &holes, &gone)
		        : client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		if (r == MEMSCAN_OK && !gone && (r = add_region(c, j->snap, reg, &data)) == MEMSCAN_OK)
			memcpy(data, tmp, size);
	}
	if (r == MEMSCAN_OK && !gone)
		r = add_holes(c, j->snap, &holes);
	free(tmp);
	memscan_ranges_release(&holes);
	return r;
}

/* Looks kept snapshot ID up and copies what a download works from: J's pid and flag, the regions. */
static int download_prepare(memscan_client *c, uint64_t id, struct fetch_job *j, uint64_t *ret_time,
                            memscan_region_list **ret_regions)
{
	struct client_kept *k = client_session_live(c) ? client_kept_find(c, id) : NULL;
	int r;

	if (!k)
		return client_fail(c, MEMSCAN_ERR_NOT_FOUND,
		                   "no snapshot %llu kept in this session (snapshots end with their session)",
		                   (unsigned long long)id);
	if (k->refiltered)
		return client_fail(c, MEMSCAN_ERR_NOT_FOUND,
		                   "snapshot %llu took new regions in a refiltered update; its region table "
		                   "cannot be listed again: take a new snapshot to download",
		                   (unsigned long long)id);
	j->id = id;
	j->pid = k->pid;
	j->updated = k->updated;
	*ret_time = k->time_ns;
	r = copy_regions(k->regions, ret_regions);
	return r == MEMSCAN_OK ? r : client_fail(c, r, "out of memory");
}

static int fetch(memscan_client *c, uint64_t id, memscan_snapshot **ret)
{
	struct fetch_job j = { 0 };
	memscan_region_list *regions = NULL;
	uint64_t time_ns = 0;
	int r = download_prepare(c, id, &j, &time_ns, &regions);

	if (r == MEMSCAN_OK && (r = memscan_snapshot_new(j.pid, time_ns, &j.snap)) != MEMSCAN_OK)
		client_fail(c, r, "out of memory");
	c->no_reconnect = 1;
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(regions); i++)
		r = fetch_region(c, &j, memscan_region_list_get(regions, i));
	c->no_reconnect = 0;
	memscan_region_list_free(regions);
	if (r != MEMSCAN_OK) {
		memscan_snapshot_free(j.snap);
		return r;
	}
	*ret = j.snap;
	return MEMSCAN_OK;
}

int memscan_client_snapshot_fetch(memscan_client *c, uint64_t id, memscan_snapshot **ret_snapshot)
{
	int r;

	if (ret_snapshot)
		*ret_snapshot = NULL;
	if (!c || !id || !ret_snapshot)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = fetch(c, id, ret_snapshot);
	client_unlock(c);
	return r;
}

/* ---- downloading into a file ---- */

/* One region on its way into the file: begun at its first byte or hole (an updated snapshot may have
 * lost it, and then nothing arrives). */
struct save_region {
	memscan_snapshot_writer *w;
	const memscan_region *reg;
	int begun;
	uint64_t hole_bytes;
};

static int save_begin(struct save_region *sr)
{
	if (sr->begun)
		return MEMSCAN_OK;
	sr->begun = 1;
	return memscan_snapshot_writer_begin_region(sr->w, sr->reg);
}

static int save_data(void *ctx, const uint8_t *data, size_t len)
{
	struct save_region *sr = ctx;
	int r = save_begin(sr);

	return r == MEMSCAN_OK ? memscan_snapshot_writer_write(sr->w, data, len) : r;
}

static int save_hole(void *ctx, memscan_range hole)
{
	struct save_region *sr = ctx;
	int r = save_begin(sr);

	sr->hole_bytes += hole.end - hole.start;
	return r == MEMSCAN_OK ? memscan_snapshot_writer_add_hole(sr->w, hole) : r;
}

/* Streams region REG of the kept snapshot into W; *RET_SAVED: it was there to save. */
static int save_region(memscan_client *c, const struct fetch_job *j, const memscan_region *reg,
                       memscan_snapshot_writer *w, int *ret_saved, uint64_t *ret_hole_bytes)
{
	struct save_region sr = { .w = w, .reg = reg };
	struct client_read_sink s = { .addr = reg->start,
		                      .len = (size_t)(reg->end - reg->start),
		                      .on_hole = save_hole,
		                      .hole_ctx = &sr,
		                      .on_data = save_data,
		                      .data_ctx = &sr };
	int r = client_read_into(c, j->pid, j->id, &s);

	*ret_saved = 0;
	if (r == MEMSCAN_ERR_NOT_FOUND && j->updated && !sr.begun)
		return MEMSCAN_OK; /* it left the baseline of an updated snapshot */
	if (r != MEMSCAN_OK && r != MEMSCAN_ERR_PARTIAL && r != MEMSCAN_ERR_UNREADABLE)
		return r;
	r = memscan_snapshot_writer_end_region(w);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "writing the snapshot file: %s", memscan_strerror(r));
	*ret_saved = 1;
	*ret_hole_bytes += sr.hole_bytes;
	return MEMSCAN_OK;
}

static int save(memscan_client *c, uint64_t id, const char *path, memscan_snapshot_file_info *info)
{
	struct fetch_job j = { 0 };
	memscan_region_list *regions = NULL;
	memscan_snapshot_writer *w = NULL;
	uint64_t time_ns = 0;
	int r = download_prepare(c, id, &j, &time_ns, &regions), saved;

	if (r == MEMSCAN_OK && (r = memscan_snapshot_writer_open(path, j.pid, &w)) != MEMSCAN_OK)
		client_fail(c, r, "cannot create '%s': %s", path, memscan_strerror(r));
	c->no_reconnect = 1;
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(regions); i++) {
		const memscan_region *reg = memscan_region_list_get(regions, i);
		r = save_region(c, &j, reg, w, &saved, &info->hole_bytes);
		if (r == MEMSCAN_OK && saved) {
			info->regions++;
			info->bytes += reg->end - reg->start;
		}
	}
	c->no_reconnect = 0;
	if (r == MEMSCAN_OK && (r = memscan_snapshot_writer_commit(w, time_ns)) != MEMSCAN_OK)
		client_fail(c, r, "cannot write '%s': %s", path, memscan_strerror(r));
	memscan_snapshot_writer_free(w);
	memscan_region_list_free(regions);
	return r;
}

int memscan_client_snapshot_save(memscan_client *c, uint64_t id, const char *path,
                                 memscan_snapshot_file_info *ret_info)
{
	memscan_snapshot_file_info info = { 0 };
	int r;

	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	if (!c || !id || !path || !*path)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = save(c, id, path, &info);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_info)
		*ret_info = info;
	return r;
}

/* ---- diffing ---- */

/* Runs arrive split at page boundaries: a piece that continues the previous run (same region, next
 * address) is joined to it before the run is added, so the result equals a local diff. */
struct diff_acc {
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
	size_t cap = a->cap ? a->cap : 4096;
	uint8_t *o, *n;

	if (add > SIZE_MAX / 4 - a->len)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "change run too long");
	while (cap < a->len + add)
		cap *= 2;
	if (cap == a->cap)
		return MEMSCAN_OK;
	o = realloc(a->old_bytes, cap);
	if (o)
		a->old_bytes = o;
	n = o ? realloc(a->new_bytes, cap) : NULL;
	if (!n)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	a->new_bytes = n;
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

static int add_ranges(memscan_client *c, memscan_diff *d, Memscan__V1__Range **rs, size_t n, int appeared)
{
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
	return r;
}

static int diff_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__DiffPage *p = resp->diff;
	struct diff_acc *a = ctx;
	int r;

	if (!p)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty diff page");
	r = diff_page_runs(c, a, p);
	if (r == MEMSCAN_OK)
		r = add_ranges(c, a->diff, p->appeared, p->n_appeared, 1);
	if (r == MEMSCAN_OK)
		r = add_ranges(c, a->diff, p->vanished, p->n_vanished, 0);
	*ret_cursor = p->next_cursor;
	return r;
}

/* A Diff with update made a new baseline for kept snapshot ID. */
static void mark_updated(memscan_client *c, uint64_t id, int refilter)
{
	struct client_kept *k = client_kept_find(c, id);

	if (!k)
		return;
	k->updated = 1;
	if (refilter)
		k->refiltered = 1;
}

/* Fills a Diff request; returns whether its pages' runs are asked for compressed. */
static int diff_request(const memscan_client *c, Memscan__V1__Request *req, Memscan__V1__Diff *d, uint64_t id,
                        int update, int refilter)
{
	int zstd = c->dec && c->agent_zstd;

	d->snapshot_id = id;
	d->update = update != 0;
	d->refilter = refilter != 0;
	if (zstd)
		d->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	req->op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	req->diff = d;
	return zstd;
}

static int diff(memscan_client *c, uint64_t id, int update, int refilter, memscan_diff **ret)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;
	struct diff_acc a = { 0 };
	int r;

	a.zstd = diff_request(c, &req, &d, id, update, refilter);
	r = memscan_diff_new(&a.diff);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_DIFF, MEMSCAN__V1__RESPONSE__RESULT_DIFF,
	                 diff_page, &a);
	if (r == MEMSCAN_OK)
		r = run_flush(c, &a);
	if (r == MEMSCAN_OK && update)
		mark_updated(c, id, refilter);
	free(a.old_bytes);
	free(a.new_bytes);
	if (r != MEMSCAN_OK) {
		memscan_diff_free(a.diff);
		return r;
	}
	*ret = a.diff;
	return MEMSCAN_OK;
}

int memscan_client_diff(memscan_client *c, uint64_t id, int update, int refilter, memscan_diff **ret_diff)
{
	int r;

	if (ret_diff)
		*ret_diff = NULL;
	if (!c || !id || !ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = diff(c, id, update, refilter, ret_diff);
	client_unlock(c);
	return r;
}

/* A diff handed to the caller page by page. */
struct diff_parts {
	memscan_diff_part_fn on_part;
	void *ctx;
	int zstd;
};

/* One page as a diff of its own: its pieces joined where they continue each other. */
static int diff_part_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx,
                          uint64_t *ret_cursor)
{
	struct diff_parts *dp = ctx;
	struct diff_acc a = { .zstd = dp->zstd };
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

int memscan_client_diff_parts(memscan_client *c, uint64_t id, int update, int refilter,
                              memscan_diff_part_fn on_part, void *ctx)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;
	struct diff_parts dp = { on_part, ctx, 0 };
	int r;

	if (!c || !id || !on_part)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	dp.zstd = diff_request(c, &req, &d, id, update, refilter);
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_DIFF, MEMSCAN__V1__RESPONSE__RESULT_DIFF,
	                 diff_part_page, &dp);
	/* stopped or not, the agent made (or, at our next request, completes) the new baseline */
	if ((r == MEMSCAN_OK || r == MEMSCAN_ERR_STOPPED) && update)
		mark_updated(c, id, refilter);
	client_unlock(c);
	return r;
}

int memscan_client_release(memscan_client *c, uint64_t id)
{
	int r;

	if (!c || !id)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = release(c, id);
	client_unlock(c);
	return r;
}
