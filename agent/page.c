/* SPDX-License-Identifier: MIT */
/* Paged results: each reply holds at most WIRE_MAX_PAGE_BYTES of payload; Next continues with a
 * cursor. What a kind of result does lives in its operation's file, behind its agent_page_ops. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Protobuf framing of one item inside a page (tag, length) on top of its packed size. */
#define AGENT_ITEM_OVERHEAD 8

void agent_pending_start(agent_req *r, const agent_page_ops *ops)
{
	agent_pending *p = &r->s->pending;

	p->ops = ops;
	p->ag = r->ag;
	p->owner = r->s;
}

/* Ends the pending result: its kind's state (FINISH: completing what must be), then what every kind
 * may hold. */
static void agent_pending_end(agent_pending *p, int finish)
{
	if (p->ops && p->ops->clear)
		p->ops->clear(p, finish);
	memscan_process_free(p->proc);
	if (p->charged)
		agent_budget_release(p->ag, p->owner, p->charged);
	memset(p, 0, sizeof(*p));
}

void agent_pending_clear(agent_pending *p)
{
	agent_pending_end(p, 1);
}

void agent_pending_abandon(agent_pending *p)
{
	agent_pending_end(p, 0);
}

int agent_page_check(agent_req *r)
{
	agent_pending *p = &r->s->pending;
	agent_snap *snap = p->snap;

	if (!p->target || agent_target_recheck(r, p->target) == MEMSCAN_OK)
		return MEMSCAN_OK;
	agent_pending_abandon(p);
	if (snap)
		agent_snap_drop(r, snap);
	return r->err;
}

uint64_t agent_page_cursor(agent_pending *p, int more)
{
	p->cursor = more ? agent_random_id() : 0;
	return p->cursor;
}

int agent_page_finish(agent_req *r, Memscan__V1__Response *resp)
{
	int err = agent_pack(r, resp);

	if (err != MEMSCAN_OK || r->s->pending.cursor == 0)
		agent_pending_clear(&r->s->pending);
	return err;
}

/* Fills up to a page of items from p->index on: arrays of ITEM_SIZE-byte items and pointers to them. */
static size_t agent_fill_page(agent_pending *p, size_t total, size_t item_size, agent_fill_fn fill,
                              uint8_t **ret_items, void ***ret_ptrs)
{
	size_t max = total - p->index, room = WIRE_MAX_PAGE_BYTES, n = 0;

	if (max > AGENT_PAGE_MAX_ITEMS)
		max = AGENT_PAGE_MAX_ITEMS;
	*ret_items = calloc(max ? max : 1, item_size);
	*ret_ptrs = calloc(max ? max : 1, sizeof(void *));
	if (!*ret_items || !*ret_ptrs)
		return SIZE_MAX;
	while (n < max) {
		void *item = *ret_items + n * item_size;
		size_t size = fill(p, p->index + n, item) + AGENT_ITEM_OVERHEAD;

		if (n && size > room)
			break;
		room -= size < room ? size : room;
		(*ret_ptrs)[n++] = item;
	}
	p->index += n;
	return n;
}

int agent_items_page(agent_req *r, size_t total, size_t item_size, agent_fill_fn fill,
                     Memscan__V1__Response *resp, size_t *n_field, void ***items_field,
                     uint64_t *cursor_field)
{
	agent_pending *p = &r->s->pending;
	uint8_t *items;
	void **ptrs;
	size_t n = agent_fill_page(p, total, item_size, fill, &items, &ptrs);
	int err;

	if (n == SIZE_MAX) {
		free(items);
		free(ptrs);
		agent_pending_clear(p);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory building a page");
	}
	*n_field = n;
	*items_field = ptrs;
	*cursor_field = agent_page_cursor(p, p->index < total);
	err = agent_page_finish(r, resp);
	free(items);
	free(ptrs);
	return err;
}

int agent_ranges_to_proto(const memscan_ranges *ranges, uint64_t start, uint64_t end,
                          Memscan__V1__Range **ret_items, Memscan__V1__Range ***ret_ptrs, size_t *ret_n)
{
	size_t count = ranges ? ranges->count : 0, n = 0;

	*ret_items = calloc(count ? count : 1, sizeof(**ret_items));
	*ret_ptrs = calloc(count ? count : 1, sizeof(**ret_ptrs));
	if (!*ret_items || !*ret_ptrs)
		return -1;
	for (size_t i = 0; i < count; i++) {
		memscan_range h = ranges->items[i];

		if (h.end <= start || h.start >= end)
			continue;
		memscan__v1__range__init(&(*ret_items)[n]);
		(*ret_items)[n].start = h.start > start ? h.start : start;
		(*ret_items)[n].end = h.end < end ? h.end : end;
		(*ret_ptrs)[n] = &(*ret_items)[n];
		n++;
	}
	*ret_n = n;
	return 0;
}

int agent_page_emit(agent_req *r)
{
	const agent_page_ops *ops = r->s->pending.ops;

	if (!ops)
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "no paged result to continue");
	if (agent_page_check(r) != MEMSCAN_OK)
		return r->err;
	return ops->emit(r);
}

int agent_op_next(agent_req *r)
{
	agent_pending *p = &r->s->pending;

	if (!p->cursor || r->req->next->cursor != p->cursor) {
		agent_pending_clear(p);
		return agent_fail(r, MEMSCAN_ERR_NOT_FOUND, "cursor %llu is not this session's next page",
		                  (unsigned long long)r->req->next->cursor);
	}
	return agent_page_emit(r);
}
