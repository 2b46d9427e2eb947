/* SPDX-License-Identifier: MIT */
/* Snapshots kept on the agent: taking, downloading, releasing (diffing them: client_diff.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* ---- kept snapshots ---- */

struct client_kept *client_kept_find(memscan_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->kept_count; i++)
		if (c->kept[i].id == id)
			return &c->kept[i];
	return NULL;
}

struct client_kept *client_kept_live(memscan_client *c, uint64_t id)
{
	struct client_kept *k = client_session_live(c) ? client_kept_find(c, id) : NULL;

	if (!k)
		client_fail(c, MEMSCAN_ERR_NOT_FOUND,
		            "no snapshot %llu kept in this session (snapshots end with their session)",
		            (unsigned long long)id);
	return k;
}

void client_kept_remove(memscan_client *c, uint64_t id)
{
	struct client_kept *k = client_kept_find(c, id);

	if (!k)
		return;
	memscan_region_list_free(k->regions);
	*k = c->kept[--c->kept_count];
}

/* ---- taking ---- */

struct snap_acc {
	struct client_kept k;
	uint64_t total;      /* the bytes the agent announced */
	uint64_t sum;        /* the sizes of the regions taken so far */
	uint64_t path_bytes; /* the bytes of their paths */
	int got_reply;
};

/* Refuses a page whose regions would hold more bytes than the snapshot was announced to, before
 * they are listed (a download allocates their sizes). */
static int snap_sizes(memscan_client *c, struct snap_acc *a, const Memscan__V1__RegionPage *page)
{
	uint64_t sum = a->sum;

	for (size_t i = 0; i < page->n_regions; i++) {
		const Memscan__V1__Region *r = page->regions[i];

		if (!r || r->end <= r->start)
			continue; /* client_add_regions refuses it */
		if (r->end - r->start > a->total - sum)
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL,
			    "agent sent snapshot regions of more bytes than the %llu it announced",
			    (unsigned long long)a->total);
		sum += r->end - r->start;
	}
	a->sum = sum;
	return MEMSCAN_OK;
}

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
	if (snap_sizes(c, a, page) != MEMSCAN_OK)
		return MEMSCAN_ERR_PROTOCOL;
	return client_add_regions(c, a->k.regions, &a->path_bytes, page);
}

static int kept_add(memscan_client *c, const struct client_kept *k)
{
	int r;

	client_kept_remove(c, k->id);
	r = wire_grow(&c->kept, &c->kept_cap, c->kept_count + 1, sizeof(*c->kept), CLIENT_KEPT_MAX);
	if (r == -E2BIG)
		return client_fail(c, MEMSCAN_ERR_LIMIT,
		                   "the agent keeps more than %u snapshots for this session: release some",
		                   CLIENT_KEPT_MAX);
	if (r != 0)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
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
	sn.progress_ms = client_progress_ms(c);
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	a->k.pid = pid;
	r = memscan_region_list_new(&a->k.regions);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT,
	                 MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, snap_page, a);
	if (r == MEMSCAN_OK && a->sum != a->total)
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                "agent announced a snapshot of %llu bytes whose regions hold %llu",
		                (unsigned long long)a->total, (unsigned long long)a->sum);
	a->k.diff_bound = a->total;
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
	struct client_kept *k = client_kept_live(c, id);
	int r;

	if (!k)
		return MEMSCAN_ERR_NOT_FOUND;
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

	client_progress_begin(c, memscan_region_list_bytes(regions));
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

int client_save_region(memscan_client *c, const struct client_save_src *src, const memscan_region *reg,
                       memscan_snapshot_writer *w, memscan_snapshot_file_info *info)
{
	struct save_region sr = { .w = w, .reg = reg };
	struct client_read_sink s = { .addr = reg->start,
		                      .len = (size_t)(reg->end - reg->start),
		                      .start_time = src->start_time,
		                      .on_hole = save_hole,
		                      .hole_ctx = &sr,
		                      .on_data = save_data,
		                      .data_ctx = &sr };
	int r = client_read_into(c, src->pid, src->id, &s);

	if (r == MEMSCAN_ERR_NOT_FOUND && src->updated && !sr.begun)
		return MEMSCAN_OK; /* it left the baseline of an updated snapshot */
	if (r == MEMSCAN_ERR_UNREADABLE && !src->id) {
		/* live: gone or unreadable since it was listed */
		r = sr.begun ? memscan_snapshot_writer_drop_region(w) : MEMSCAN_OK;
		return r == MEMSCAN_OK
		           ? r
		           : client_fail(c, r, "writing the snapshot file: %s", memscan_strerror(r));
	}
	if (r != MEMSCAN_OK && r != MEMSCAN_ERR_PARTIAL && r != MEMSCAN_ERR_UNREADABLE)
		return r;
	r = memscan_snapshot_writer_end_region(w);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "writing the snapshot file: %s", memscan_strerror(r));
	info->regions++;
	info->bytes += reg->end - reg->start;
	info->hole_bytes += sr.hole_bytes;
	return MEMSCAN_OK;
}

static int save(memscan_client *c, uint64_t id, const char *path, memscan_snapshot_file_info *info)
{
	struct fetch_job j = { 0 };
	struct client_save_src src = { 0 };
	memscan_region_list *regions = NULL;
	memscan_snapshot_writer *w = NULL;
	uint64_t time_ns = 0;
	int r = download_prepare(c, id, &j, &time_ns, &regions);

	client_progress_begin(c, memscan_region_list_bytes(regions));
	if (r == MEMSCAN_OK && (r = memscan_snapshot_writer_open(path, j.pid, &w)) != MEMSCAN_OK)
		client_fail(c, r, "cannot create '%s': %s", path, memscan_strerror(r));
	src.pid = j.pid;
	src.id = j.id;
	src.updated = j.updated;
	c->no_reconnect = 1;
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(regions); i++)
		r = client_save_region(c, &src, memscan_region_list_get(regions, i), w, info);
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
