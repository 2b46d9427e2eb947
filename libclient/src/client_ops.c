/* SPDX-License-Identifier: MIT */
/* Remote processes, regions and reads, paged and turned into libmemscan's result types. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* Largest Read request (agents refuse more than 1 GiB at once); longer reads take several. */
#define CLIENT_READ_CHUNK (256ull << 20)

void client_filter(const memscan_filter *filter, int use_default, Memscan__V1__Filter *out)
{
	wire_filter_to_proto(filter, filter ? 0 : use_default, out);
}

int client_add_regions(memscan_client *c, memscan_region_list *list, uint64_t *path_bytes,
                       const Memscan__V1__RegionPage *page)
{
	size_t n = memscan_region_list_count(list);
	uint64_t last_end = n ? memscan_region_list_get(list, n - 1)->end : 0;
	memscan_region r;
	int rv;

	if (page->n_regions > CLIENT_REGIONS_MAX - n)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "agent sent more than %u regions",
		                   CLIENT_REGIONS_MAX);
	for (size_t i = 0; i < page->n_regions; i++) {
		if (wire_region_from_proto(page->regions[i], &r) != MEMSCAN_OK || r.start < last_end)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an invalid region table");
		*path_bytes += strlen(r.path);
		if (*path_bytes > CLIENT_REGION_PATHS_MAX)
			return client_fail(c, MEMSCAN_ERR_LIMIT,
			                   "agent sent more than %llu bytes of region paths",
			                   (unsigned long long)CLIENT_REGION_PATHS_MAX);
		rv = memscan_region_list_add(list, &r);
		if (rv != MEMSCAN_OK)
			return client_fail(c, rv, "region table: %s", memscan_strerror(rv));
		last_end = r.end;
	}
	return MEMSCAN_OK;
}

/* ---- processes ---- */

struct proc_acc {
	memscan_proc_info *items;
	size_t count, cap;
};

static int proc_grow(memscan_client *c, struct proc_acc *a, size_t add)
{
	if (add > CLIENT_PROCS_MAX - a->count)
		return client_fail(c, MEMSCAN_ERR_LIMIT,
		                   "agent sent more than %u processes (more than a host has PIDs)",
		                   CLIENT_PROCS_MAX);
	if (wire_grow(&a->items, &a->cap, a->count + add, sizeof(*a->items), CLIENT_PROCS_MAX) != 0)
		return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	return MEMSCAN_OK;
}

static int proc_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__ProcessPage *page = resp->processes;
	struct proc_acc *a = ctx;
	int r;

	if (!page)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty process page");
	r = proc_grow(c, a, page->n_processes);
	for (size_t i = 0; r == MEMSCAN_OK && i < page->n_processes; i++) {
		if (!page->processes[i])
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty process entry");
		wire_proc_from_proto(page->processes[i], &a->items[a->count++]);
	}
	*ret_cursor = page->next_cursor;
	return r;
}

int memscan_client_list_processes(memscan_client *c, memscan_proc_info **ret_list, size_t *ret_count)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListProcesses lp = MEMSCAN__V1__LIST_PROCESSES__INIT;
	struct proc_acc a = { 0 };
	int r;

	if (ret_list)
		*ret_list = NULL;
	if (ret_count)
		*ret_count = 0;
	if (!c || !ret_list || !ret_count)
		return MEMSCAN_ERR_INVALID_ARG;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_PROCESSES;
	req.list_processes = &lp;
	client_lock(c);
	r = proc_grow(c, &a, 1);
	if (r == MEMSCAN_OK)
		r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_PROCESSES,
		                 MEMSCAN__V1__RESPONSE__RESULT_PROCESSES, proc_page, &a);
	client_unlock(c);
	if (r != MEMSCAN_OK) {
		free(a.items);
		return r;
	}
	*ret_list = a.items;
	*ret_count = a.count;
	return MEMSCAN_OK;
}

/* ---- regions ---- */

static int region_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	struct client_regions *a = ctx;

	if (!resp->regions)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty region page");
	a->start_time = resp->regions->start_time;
	*ret_cursor = resp->regions->next_cursor;
	return client_add_regions(c, a->list, &a->path_bytes, resp->regions);
}

/* The start time of PID whose regions are LIST, as the agent sent it: 0 only for PID 1. Start times
 * are clock ticks after boot, so 0 names a process forked within the first tick: init, or a kernel
 * thread (which has no regions); any other process gets a nonzero one from every agent. Later reads
 * name the process by it, and 0 there means "whatever has this PID now", which a reused PID would
 * pass. */
static int check_start_time(memscan_client *c, int pid, const struct client_regions *a)
{
	if (a->start_time || pid == 1 || !memscan_region_list_count(a->list))
		return MEMSCAN_OK;
	return client_fail(c, MEMSCAN_ERR_PROTOCOL,
	                   "agent at %s listed the regions of PID %d without its start time, which "
	                   "later reads need to refuse a reused PID: upgrade or fix the agent",
	                   c->url, pid);
}

int client_list_regions(memscan_client *c, int pid, const memscan_filter *filter, int use_default,
                        struct client_regions *a)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListRegions lr = MEMSCAN__V1__LIST_REGIONS__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f;
	int r;

	t.pid = pid;
	client_filter(filter, use_default, &f);
	lr.target = &t;
	lr.filter = &f;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_REGIONS;
	req.list_regions = &lr;
	a->start_time = 0;
	a->path_bytes = 0;
	r = memscan_region_list_new(&a->list);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "out of memory");
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_REGIONS,
	                 MEMSCAN__V1__RESPONSE__RESULT_REGIONS, region_page, a);
	if (r == MEMSCAN_OK)
		r = check_start_time(c, pid, a);
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(a->list);
		a->list = NULL;
	}
	return r;
}

int memscan_client_list_regions(memscan_client *c, int pid, const memscan_filter *filter,
                                memscan_region_list **ret_list)
{
	struct client_regions a = { 0 };
	int r;

	if (ret_list)
		*ret_list = NULL;
	if (!c || pid <= 0 || !ret_list)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = client_list_regions(c, pid, filter, 0, &a);
	client_unlock(c);
	if (r == MEMSCAN_OK)
		*ret_list = a.list;
	return r;
}

/* ---- reads ---- */

int memscan_client_set_compression(memscan_client *c, int on)
{
	zpage_dec *dec = NULL;

	if (!c)
		return MEMSCAN_ERR_INVALID_ARG;
	if (on && !(dec = zpage_dec_new()))
		return MEMSCAN_ERR_NO_MEMORY;
	client_lock(c);
	if (!on || !c->dec) {
		zpage_dec_free(c->dec);
		c->dec = dec;
		dec = NULL;
	}
	client_unlock(c);
	zpage_dec_free(dec);
	return MEMSCAN_OK;
}

void memscan_client_transfer_stats(const memscan_client *c, uint64_t *ret_bytes, uint64_t *ret_wire_bytes)
{
	uint64_t bytes = 0, wire = 0;

	if (c) {
		client_lock(c);
		bytes = c->data_bytes;
		wire = c->wire_bytes;
		client_unlock(c);
	}
	if (ret_bytes)
		*ret_bytes = bytes;
	if (ret_wire_bytes)
		*ret_wire_bytes = wire;
}

/* Where the bytes of a page for s->pos go: the sink's buffer, or without one (bytes handed on) its
 * scratch buffer, grown to LEN (at most WIRE_MAX_PAGE_BYTES: what a page holds, the caller checks).
 * NULL if out of memory. */
static uint8_t *page_dst(struct client_read_sink *s, uint64_t len)
{
	if (s->buf)
		return s->buf + (s->pos - s->addr);
	if (wire_grow(&s->scratch, &s->scratch_cap, (size_t)len, 1, WIRE_MAX_PAGE_BYTES) != 0)
		return NULL;
	return s->scratch;
}

/* The bytes page P carries for s->pos, copied into the sink's buffer or (when asked for)
 * decompressed; *RET_DATA: where they are now (without a sink buffer, possibly P's own, which the
 * caller may change), *RET_LEN: how many. A page that does not fit, or does not decode to exactly the
 * bytes it announces, is refused. */
static int page_bytes(memscan_client *c, struct client_read_sink *s, const Memscan__V1__ReadPage *p,
                      uint8_t **ret_data, uint64_t *ret_len)
{
	uint64_t room = s->chunk_end - s->pos;
	uint8_t *dst;

	if (p->encoding == MEMSCAN__V1__ENCODING__ENCODING_RAW) {
		if (p->data.len > room)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a read page out of place");
		*ret_data = s->buf ? s->buf + (s->pos - s->addr) : p->data.data;
		if (p->data.len && s->buf)
			memcpy(*ret_data, p->data.data, p->data.len);
		*ret_len = p->data.len;
	} else if (p->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD && s->zstd) {
		if (!p->raw_length || p->raw_length > room)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL,
			                   "agent sent a compressed read page out of place (%llu bytes)",
			                   (unsigned long long)p->raw_length);
		if (!s->buf && p->raw_length > WIRE_MAX_PAGE_BYTES)
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL,
			    "agent sent a compressed read page of %llu bytes, more than a page (%u)",
			    (unsigned long long)p->raw_length, WIRE_MAX_PAGE_BYTES);
		dst = page_dst(s, p->raw_length);
		if (!dst)
			return client_fail(c, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		if (zpage_decompress(c->dec, p->data.data, p->data.len, dst, (size_t)p->raw_length) != 0)
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL,
			    "agent sent a compressed read page at 0x%llx that does not decode to "
			    "the %llu bytes it announces",
			    (unsigned long long)p->address, (unsigned long long)p->raw_length);
		*ret_data = dst;
		*ret_len = p->raw_length;
	} else {
		return client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                   "agent sent a read page in an encoding (%d) this client did not ask for",
		                   (int)p->encoding);
	}
	c->data_bytes += *ret_len;
	c->wire_bytes += p->data.len;
	client_progress_note(c);
	return MEMSCAN_OK;
}

static int sink_hole(struct client_read_sink *s, uint64_t start, uint64_t end)
{
	int r = MEMSCAN_OK;

	if (s->buf)
		memset(s->buf + (start - s->addr), 0, (size_t)(end - start));
	s->hole_bytes += end - start;
	if (s->pending.end && s->pending.end == start) {
		s->pending.end = end;
		return MEMSCAN_OK;
	}
	if (s->pending.end)
		r = s->on_hole(s->hole_ctx, s->pending);
	s->pending.start = start;
	s->pending.end = end;
	return r;
}

static int sink_flush(struct client_read_sink *s)
{
	int r = MEMSCAN_OK;

	if (s->pending.end)
		r = s->on_hole(s->hole_ctx, s->pending);
	s->pending.start = s->pending.end = 0;
	return r;
}

/* The most separate holes a read of LEN bytes can have: memory is unreadable by whole pages (4 KiB at
 * least), each hole apart from the next by a readable one, and the read's ends may cut pages. Each
 * hole costs the client a range (in the caller's list, or the file writer's), so an agent sending
 * byte-sized ones would otherwise make it hold eight times the read's size. */
static size_t holes_max(size_t len)
{
	return len / 4096 + 2;
}

static int read_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__ReadPage *p = resp->read;
	struct client_read_sink *s = ctx;
	uint64_t len = 0, end, prev;
	uint8_t *data = NULL;
	int r;

	if (!p || p->address != s->pos)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a read page out of place");
	if (client_cancelled(c))
		return client_fail(c, MEMSCAN_ERR_CANCELLED, "the read was cancelled");
	r = page_bytes(c, s, p, &data, &len);
	if (r != MEMSCAN_OK)
		return r;
	if (!len && p->next_cursor)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty read page");
	end = s->pos + len;
	prev = s->pos;
	for (size_t i = 0; i < p->n_holes; i++) {
		const Memscan__V1__Range *h = p->holes[i];

		if (!h || h->start < prev || h->end <= h->start || h->end > end)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a read page with bad holes");
		if (h->start != s->pending.end && ++s->hole_count > holes_max(s->len))
			return client_fail(
			    c, MEMSCAN_ERR_PROTOCOL,
			    "agent sent more than %zu holes in a read of %zu bytes (holes are whole "
			    "pages of memory)",
			    holes_max(s->len), s->len);
		r = sink_hole(s, h->start, h->end);
		if (r != MEMSCAN_OK)
			return client_fail(c, r, "holes: %s", memscan_strerror(r));
		prev = h->end;
	}
	if (!s->buf && len) {
		for (size_t i = 0; i < p->n_holes; i++) /* zeros, whatever the agent sent there */
			memset(data + (p->holes[i]->start - s->pos), 0,
			       (size_t)(p->holes[i]->end - p->holes[i]->start));
		r = s->on_data(s->data_ctx, data, (size_t)len);
		if (r != MEMSCAN_OK)
			return client_fail(c, r, "storing the bytes read: %s", memscan_strerror(r));
	}
	s->pos = end;
	*ret_cursor = p->next_cursor;
	return MEMSCAN_OK;
}

/* Hands LEN zero bytes to a sink without a buffer. */
static int sink_zeros(struct client_read_sink *s, uint64_t len)
{
	static const uint8_t zeros[4096];
	int r = MEMSCAN_OK;

	while (r == MEMSCAN_OK && len > 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		r = s->on_data(s->data_ctx, zeros, n);
		len -= n;
	}
	return r;
}

/* A Read request for [ADDR, +LEN) of process PID or kept snapshot SNAPSHOT_ID. */
struct read_req {
	Memscan__V1__Request req;
	Memscan__V1__Read rd;
	Memscan__V1__Target t;
};

static void read_req_init(struct read_req *q, int pid, uint64_t snapshot_id, const struct client_read_sink *s,
                          uint64_t addr, uint64_t len)
{
	memscan__v1__request__init(&q->req);
	memscan__v1__read__init(&q->rd);
	memscan__v1__target__init(&q->t);
	q->t.pid = pid;
	q->t.start_time = s->start_time;
	q->rd.target = &q->t;
	q->rd.address = addr;
	q->rd.length = len;
	q->rd.snapshot_id = snapshot_id;
	if (s->zstd)
		q->rd.encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	q->req.op_case = MEMSCAN__V1__REQUEST__OP_READ;
	q->req.read = &q->rd;
}

/* The end of the Read of [START, +LEN) that ended with R. */
static int read_done(memscan_client *c, struct client_read_sink *s, uint64_t start, uint64_t len, int r)
{
	if (r == MEMSCAN_ERR_UNREADABLE && s->pos == start) {
		/* nothing readable: all of it is one hole, as memscan_read reports it */
		r = sink_hole(s, start, start + len);
		if (r == MEMSCAN_OK && !s->buf)
			r = sink_zeros(s, len);
		if (r != MEMSCAN_OK)
			return client_fail(c, r, "storing the bytes read: %s", memscan_strerror(r));
		s->pos = start + len;
	}
	/* agents say so only of a whole read of one page: after bytes, the rest would be neither bytes
	 * nor holes (a buffer left half filled, or a reused one's old bytes written as read) */
	if (r == MEMSCAN_ERR_UNREADABLE && s->pos != start + len)
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL,
		                "agent called a read unreadable after sending %llu of its %llu bytes",
		                (unsigned long long)(s->pos - start), (unsigned long long)len);
	if (r == MEMSCAN_OK && s->pos != start + len)
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent ended a read early");
	return r;
}

/* One Read request for [s->pos, +LEN), paged. */
static int read_chunk(memscan_client *c, int pid, uint64_t snapshot_id, struct client_read_sink *s,
                      uint64_t len)
{
	struct read_req q;
	uint64_t start = s->pos;
	int r;

	read_req_init(&q, pid, snapshot_id, s, start, len);
	s->chunk_end = start + len;
	r = client_paged(c, &q.req, MEMSCAN__V1__RESPONSE__RESULT_READ, MEMSCAN__V1__RESPONSE__RESULT_READ,
	                 read_page, s);
	return read_done(c, s, start, len, r);
}

/* ---- pipelined reads: one agent page per request, the next one sent before this one is opened ---- */

/* Agents with pages at least this large are worth pipelining (Hello tells). */
#define CLIENT_PIPE_MIN_PAGE (64u << 10)
/* The most a pipelined request asks for, whatever the agent's page: a page this size goes through
 * receiving, decrypting, unpacking and storing while it is still in the caches, in buffers the
 * allocator reuses. Measured on a 32 MiB download (2-vCPU guest): 512 KiB or 1 MiB requests cost the
 * client half the CPU time of 2 or 4 MiB ones (50 against 70-98 ms), the agent the same. */
#define CLIENT_PIPE_PAGE (1u << 20)

uint64_t client_pipe_page(const memscan_client *c)
{
	return c->page_bytes < CLIENT_PIPE_PAGE ? c->page_bytes : CLIENT_PIPE_PAGE;
}

static int send_read(memscan_client *c, int pid, uint64_t snapshot_id, const struct client_read_sink *s,
                     uint64_t addr, uint64_t len)
{
	struct read_req q;

	read_req_init(&q, pid, snapshot_id, s, addr, len);
	return client_send(c, &q.req);
}

/* Opens the reply to the Read of [START, +LEN) (one page) into the sink. */
static int read_take(memscan_client *c, struct client_read_sink *s, struct client_frame *f, uint64_t start,
                     uint64_t len)
{
	Memscan__V1__Response *resp;
	uint64_t cursor = 0;
	int r = client_open_frame(c, f, MEMSCAN__V1__RESPONSE__RESULT_READ, &resp);

	s->chunk_end = start + len;
	if (r == MEMSCAN_OK) {
		r = read_page(c, resp, s, &cursor);
		wire_free_response(resp);
		if (r == MEMSCAN_OK && cursor)
			r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent split a read of one page");
	}
	return read_done(c, s, start, len, r);
}

/* The reply to a request sent ahead of a failure is still due: take it (keeping the first error's
 * text), so that the session stays in step. */
static void read_drain(memscan_client *c)
{
	char err[CLIENT_ERR_LEN];
	Memscan__V1__Response *resp = NULL;
	struct client_frame f;

	memcpy(err, c->err, sizeof(err));
	if (client_recv_frame(c, &f) == MEMSCAN_OK &&
	    client_open_frame(c, &f, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, &resp) == MEMSCAN_OK)
		wire_free_response(resp);
	memcpy(c->err, err, sizeof(err));
}

/* Reads [s->pos, end) in requests of one agent page each: the request for page K+1 goes out as soon as
 * reply K has arrived, so the agent reads and seals K+1 while the client decrypts and copies K. */
static int read_pipelined(memscan_client *c, int pid, uint64_t snapshot_id, struct client_read_sink *s)
{
	uint64_t end = s->addr + s->len, page = client_pipe_page(c), at = s->pos;
	uint64_t len = end - at < page ? end - at : page, next_len = 0;
	struct client_frame f;
	int r = client_ensure_session(c), more;

	if (r == MEMSCAN_OK)
		r = send_read(c, pid, snapshot_id, s, at, len);
	while (r == MEMSCAN_OK) {
		r = client_recv_frame(c, &f);
		if (r != MEMSCAN_OK)
			break;
		more = at + len < end;
		if (more) {
			next_len = end - (at + len) < page ? end - (at + len) : page;
			r = send_read(c, pid, snapshot_id, s, at + len, next_len);
			if (r != MEMSCAN_OK) {
				nng_msg_free(f.msg); /* the connection is gone with the send */
				break;
			}
		}
		r = read_take(c, s, &f, at, len);
		if (r != MEMSCAN_OK && more)
			read_drain(c);
		if (!more)
			break;
		at += len;
		len = next_len;
	}
	return r;
}

int client_read_into(memscan_client *c, int pid, uint64_t snapshot_id, struct client_read_sink *sink)
{
	uint64_t end = sink->addr + sink->len;
	int r = MEMSCAN_OK;

	sink->pos = sink->addr;
	sink->hole_bytes = 0;
	sink->hole_count = 0;
	/* asked for only when on and the agent said it can (an old agent would send raw pages anyway) */
	sink->zstd = c->dec && c->agent_zstd;
	sink->pending.start = sink->pending.end = 0;
	if (c->page_bytes >= CLIENT_PIPE_MIN_PAGE && client_session_live(c) &&
	    sink->len > client_pipe_page(c))
		r = read_pipelined(c, pid, snapshot_id, sink);
	while (r == MEMSCAN_OK && sink->pos < end)
		r = read_chunk(c, pid, snapshot_id, sink,
		               end - sink->pos < CLIENT_READ_CHUNK ? end - sink->pos : CLIENT_READ_CHUNK);
	free(sink->scratch);
	sink->scratch = NULL;
	sink->scratch_cap = 0;
	if (r != MEMSCAN_OK)
		return r;
	r = sink_flush(sink);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "holes: %s", memscan_strerror(r));
	if (sink->hole_bytes == sink->len)
		return MEMSCAN_ERR_UNREADABLE;
	return sink->hole_bytes ? MEMSCAN_ERR_PARTIAL : MEMSCAN_OK;
}

int client_ranges_hole(void *ctx, memscan_range hole)
{
	/* the sink hands holes over in address order, merged: out of order means a bad page */
	return ctx ? memscan_ranges_add(ctx, hole.start, hole.end) : MEMSCAN_OK;
}

int memscan_client_read(memscan_client *c, int pid, uint64_t addr, void *buf, size_t len,
                        memscan_ranges *holes)
{
	struct client_read_sink s = {
		.buf = buf, .addr = addr, .len = len, .on_hole = client_ranges_hole, .hole_ctx = holes
	};
	int r;

	if (!c || pid <= 0 || !buf || !len || (uint64_t)len > UINT64_MAX - addr)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	client_progress_begin(c, len);
	r = client_read_into(c, pid, 0, &s);
	client_unlock(c);
	return r;
}
