/* SPDX-License-Identifier: MIT */
/* Hello, ListProcesses, ListRegions: what there is, and their pages. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int agent_op_hello(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HelloReply hello = MEMSCAN__V1__HELLO_REPLY__INIT;
	Memscan__V1__Encoding encodings[] = { MEMSCAN__V1__ENCODING__ENCODING_ZSTD };
	Memscan__V1__Feature features[] = { MEMSCAN__V1__FEATURE__FEATURE_VALUE_SETS,
		                            MEMSCAN__V1__FEATURE__FEATURE_HEATMAP,
		                            MEMSCAN__V1__FEATURE__FEATURE_PROGRESS };

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.agent_version = (char *)MEMSCAN_AGENT_VERSION;
	hello.granted_perms = chan_session_perms(r->s->chan);
	hello.max_page_bytes = WIRE_MAX_PAGE_BYTES;
	hello.encodings = encodings;
	hello.n_encodings = sizeof(encodings) / sizeof(encodings[0]);
	hello.features = features;
	hello.n_features = sizeof(features) / sizeof(features[0]);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HELLO;
	resp.hello = &hello;
	return agent_pack(r, &resp);
}

static size_t agent_fill_proc(agent_pending *p, size_t index, void *item)
{
	wire_proc_to_proto(&p->u.procs.items[index], item);
	return memscan__v1__process_info__get_packed_size(item);
}

static int agent_emit_procs(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ProcessPage page = MEMSCAN__V1__PROCESS_PAGE__INIT;
	agent_pending *p = &r->s->pending;

	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROCESSES;
	resp.processes = &page;
	return agent_items_page(r, p->u.procs.count, sizeof(Memscan__V1__ProcessInfo), agent_fill_proc, &resp,
	                        &page.n_processes, (void ***)&page.processes, &page.next_cursor);
}

/* A regions page, written straight into its frame (wire_regions_reply_put): the hot reply of a
 * small request, which protobuf-c's generic packing made several times slower. */
static int agent_emit_regions(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	const memscan_region_list *list = p->u.regions.list;
	size_t total = memscan_region_list_count(list), first = p->index, n = 0, items = 0;
	size_t room = WIRE_MAX_PAGE_BYTES, len;
	uint64_t cursor;
	uint8_t *out;

	while (first + n < total && n < AGENT_PAGE_MAX_ITEMS) {
		size_t size = wire_region_item_size(memscan_region_list_get(list, first + n));

		if (n && size > room)
			break;
		room -= size < room ? size : room;
		items += size;
		n++;
	}
	p->index += n;
	cursor = agent_page_cursor(p, p->index < total);
	len = wire_regions_reply_size(items, cursor, p->u.regions.start_time);
	out = agent_reply_frame(r, len);
	if (out)
		r->out_len =
		    wire_regions_reply_put(list, first, n, items, cursor, p->u.regions.start_time, out);
	if (!out || cursor == 0)
		agent_pending_clear(p);
	return r->err;
}

static void agent_procs_clear(agent_pending *p, int finish)
{
	(void)finish;
	free(p->u.procs.items);
}

static void agent_regions_clear(agent_pending *p, int finish)
{
	(void)finish;
	memscan_region_list_free(p->u.regions.list);
}

static const agent_page_ops agent_procs_ops = { agent_emit_procs, agent_procs_clear };
static const agent_page_ops agent_regions_ops = { agent_emit_regions, agent_regions_clear };

/* Keeps only the processes the key may touch (agent_target_visible: every uid, the executable). */
static size_t agent_filter_procs(agent_req *r, memscan_proc_info *list, size_t count)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		if (agent_target_visible(r->s, list[i].pid))
			list[n++] = list[i];
	return n;
}

int agent_op_list_processes(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	memscan_proc_info *list = NULL;
	size_t count = 0;
	int err = memscan_process_list(&list, &count);

	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot list processes: %s", memscan_strerror(err));
	agent_pending_start(r, &agent_procs_ops);
	p->u.procs.items = list;
	p->u.procs.count = agent_filter_procs(r, list, count);
	err = agent_pending_charge(r, (uint64_t)count * sizeof(*list), "the process list kept for paging");
	if (err != MEMSCAN_OK) {
		agent_pending_clear(p);
		return err;
	}
	return agent_page_emit(r);
}

/* What LIST holds in memory (regions and their paths), as charged to the budgets. */
static uint64_t agent_region_list_size(const memscan_region_list *list)
{
	size_t n = memscan_region_list_count(list);
	uint64_t bytes = (uint64_t)n * sizeof(memscan_region);

	for (size_t i = 0; i < n; i++)
		bytes += strlen(memscan_region_list_get(list, i)->path) + 1;
	return bytes;
}

int agent_target_regions(agent_req *r, memscan_process *proc, const Memscan__V1__Filter *filter,
                         memscan_region_list **ret)
{
	memscan_filter f;
	int err;

	wire_filter_from_proto(filter, &f);
	if (r->light) {
		/* on an nng thread: a process with many regions is listed by a worker instead */
		err = memscan_regions_read_max(proc, &f, AGENT_LIGHT_MAPS_MAX, ret);
		if (err == MEMSCAN_ERR_LIMIT) {
			r->defer = 1;
			return err;
		}
	} else {
		err = memscan_regions_read(proc, &f, ret);
	}
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot list the regions of process %d: %s",
		                  memscan_process_pid(proc), memscan_strerror(err));
	return MEMSCAN_OK;
}

int agent_op_list_regions(agent_req *r)
{
	const Memscan__V1__ListRegions *lr = r->req->list_regions;
	agent_pending *p = &r->s->pending;
	memscan_process *proc;
	int err = agent_open_target_cached(r, lr->target, &proc);

	if (err != MEMSCAN_OK)
		return err;
	err = agent_target_regions(r, proc, lr->filter, &p->u.regions.list);
	if (err == MEMSCAN_OK) {
		agent_pending_start(r, &agent_regions_ops);
		p->target = proc; /* the session's cached handle */
		p->u.regions.start_time = memscan_process_start_time(proc);
		err = agent_pending_charge(r, agent_region_list_size(p->u.regions.list),
		                           "the region list kept for paging");
		if (err != MEMSCAN_OK)
			agent_pending_clear(p);
	}
	return err == MEMSCAN_OK ? agent_page_emit(r) : err;
}
