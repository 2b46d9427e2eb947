/* SPDX-License-Identifier: MIT */
/* The calls that need a live session: one request and its reply (client_call), waiting past the
 * Progress replies of long work, and paged results (client_paged). */
#include <string.h>

#include "client_internal.h"

/* The wait a request that may run long asks for (progress_ms, see client_progress_ms). */
#define CLIENT_PROGRESS_MS 250

uint32_t client_progress_ms(const memscan_client *c)
{
	return c->agent_progress ? CLIENT_PROGRESS_MS : 0;
}

/* The progress_ms REQ was sent with (0: it asked for no Progress replies). */
static uint32_t asked_progress(const Memscan__V1__Request *req)
{
	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_SNAPSHOT:
		return req->snapshot ? req->snapshot->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_HEAT_START:
		return req->heat_start ? req->heat_start->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_SCAN:
		return req->scan ? req->scan->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_VALUE_SCAN:
		return req->value_scan ? req->value_scan->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_VALUE_NARROW:
		return req->value_narrow ? req->value_narrow->progress_ms : 0;
	case MEMSCAN__V1__REQUEST__OP_POINTER_SCAN:
		return req->pointer_scan ? req->pointer_scan->progress_ms : 0;
	default:
		return 0;
	}
}

/* The next page of a paged result: only in the session that holds it. */
static int call_next(memscan_client *c, uint64_t cursor, Memscan__V1__Response__ResultCase expect,
                     Memscan__V1__Response **ret)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Next next = MEMSCAN__V1__NEXT__INIT;

	*ret = NULL;
	if (!client_session_live(c)) {
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_CONNECT,
		                   "agent at %s: connection lost during a paged result", c->url);
	}
	next.cursor = cursor;
	req.op_case = MEMSCAN__V1__REQUEST__OP_NEXT;
	req.next = &next;
	return client_exchange(c, &req, expect, ret);
}

/* Drops the work the agent goes on with after a Progress reply (the client stopped waiting for it):
 * any other request does, and Hello is the lightest. The first error's text is kept. */
static void drop_work(memscan_client *c)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello h = MEMSCAN__V1__HELLO__INIT;
	Memscan__V1__Response *resp = NULL;
	char err[CLIENT_ERR_LEN];

	memcpy(err, c->err, sizeof(err));
	h.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &h;
	if (client_session_live(c) &&
	    client_exchange(c, &req, MEMSCAN__V1__RESPONSE__RESULT_HELLO, &resp) == MEMSCAN_OK)
		wire_free_response(resp);
	memcpy(c->err, err, sizeof(err));
}

/* Checks one Progress reply against the ones before (*TOTAL, *LAST, *MOVED: when DONE last grew):
 * a cursor to wait on, DONE within a TOTAL that stays the same, and DONE moving at least once per
 * timeout; a failure drops the connection (the agent then stops the work). */
static int check_progress(memscan_client *c, const Memscan__V1__Progress *p, int first, uint64_t *total,
                          uint64_t *last, uint64_t *moved)
{
	const char *bad = NULL;

	if (!p || !p->next_cursor)
		bad = "a progress reply without a cursor";
	else if ((!first && p->total != *total) || p->done > p->total) /* a total of 0 too */
		bad = "a progress reply beyond its total";
	if (bad) {
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s sent %s", c->url, bad);
	}
	*total = p->total;
	if (first || p->done > *last) {
		*last = p->done;
		*moved = chan_monotonic_ns() / 1000000u;
	} else if (chan_monotonic_ns() / 1000000u - *moved > (uint64_t)c->timeout_ms) {
		client_drop(c);
		return client_fail(c, MEMSCAN_ERR_TIMEOUT, "agent at %s: the work made no progress for %d ms",
		                   c->url, c->timeout_ms);
	}
	return MEMSCAN_OK;
}

/* While *RESP is Progress: reports how far the agent is to the progress callback and waits on with
 * Next, until the reply proper (of kind EXPECT). */
static int wait_progress(memscan_client *c, Memscan__V1__Response **resp,
                         Memscan__V1__Response__ResultCase expect)
{
	uint64_t total = 0, last = 0, moved = 0, cursor;
	int r = MEMSCAN_OK, first = 1;

	while (r == MEMSCAN_OK && (*resp)->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		r = check_progress(c, (*resp)->progress, first, &total, &last, &moved);
		cursor = r == MEMSCAN_OK ? (*resp)->progress->next_cursor : 0;
		wire_free_response(*resp);
		*resp = NULL;
		if (r != MEMSCAN_OK)
			return r;
		first = 0;
		client_progress_report(c, last, total);
		if (client_cancelled(c)) {
			client_fail(c, MEMSCAN_ERR_CANCELLED, "cancelled");
			drop_work(c);
			return MEMSCAN_ERR_CANCELLED;
		}
		r = call_next(c, cursor, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, resp);
	}
	if (r == MEMSCAN_OK && expect != MEMSCAN__V1__RESPONSE__RESULT__NOT_SET &&
	    (*resp)->result_case != expect) {
		wire_free_response(*resp);
		*resp = NULL;
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent at %s answered with an unexpected reply",
		                c->url);
	}
	return r;
}

int client_call(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase expect,
                Memscan__V1__Response **ret)
{
	int r = client_ensure_session(c);

	*ret = NULL;
	if (r != MEMSCAN_OK)
		return r;
	if (!asked_progress(req))
		return client_exchange(c, req, expect, ret);
	r = client_exchange(c, req, MEMSCAN__V1__RESPONSE__RESULT__NOT_SET, ret);
	return r == MEMSCAN_OK ? wait_progress(c, ret, expect) : r;
}

int client_paged(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase first,
                 Memscan__V1__Response__ResultCase next, client_page_fn fn, void *ctx)
{
	Memscan__V1__Response *resp;
	uint64_t cursor = 0;
	int r = client_call(c, req, first, &resp);

	while (r == MEMSCAN_OK) {
		r = fn(c, resp, ctx, &cursor);
		wire_free_response(resp);
		if (r != MEMSCAN_OK || cursor == 0)
			break;
		r = call_next(c, cursor, next, &resp);
	}
	return r;
}
