/* SPDX-License-Identifier: MIT */
/* Progress of downloads: the memory bytes a client received, reported to the caller's callback a few
 * times a second (memscan_client_set_progress, or with each call's total _set_progress_total); and the
 * caller's wish to stop them (memscan_client_set_cancel). */
#include "client_internal.h"

/* Time between two reports, as libmemscan's. */
#define CLIENT_PROGRESS_EVERY_NS 100000000ull

/* Sets one of the two forms of callback (the other detached) with CTX. */
static int set_progress(memscan_client *c, memscan_progress_fn fn, memscan_client_progress_total_fn total_fn,
                        void *ctx)
{
	if (!c)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	c->progress_fn = fn;
	c->progress_total_fn = total_fn;
	c->progress_ctx = fn || total_fn ? ctx : NULL;
	c->progress_base = c->data_bytes;
	c->progress_due_ns = 0;
	client_unlock(c);
	return MEMSCAN_OK;
}

int memscan_client_set_progress(memscan_client *c, memscan_progress_fn fn, void *ctx)
{
	return set_progress(c, fn, NULL, ctx);
}

int memscan_client_set_progress_total(memscan_client *c, memscan_client_progress_total_fn fn, void *ctx)
{
	return set_progress(c, NULL, fn, ctx);
}

void client_progress_begin(memscan_client *c, uint64_t total)
{
	c->call_base = c->data_bytes;
	c->call_total = total;
}

void client_progress_report(memscan_client *c, uint64_t done, uint64_t total)
{
	if (c->progress_total_fn)
		c->progress_total_fn(c->progress_ctx, done, total && done <= total ? total : 0);
	else if (c->progress_fn)
		c->progress_fn(c->progress_ctx, done);
}

void client_progress_note(memscan_client *c)
{
	uint64_t now;

	if (!c->progress_fn && !c->progress_total_fn)
		return;
	now = chan_monotonic_ns();
	if (now < c->progress_due_ns)
		return;
	c->progress_due_ns = now + CLIENT_PROGRESS_EVERY_NS;
	if (c->progress_total_fn)
		client_progress_report(c, c->data_bytes - c->call_base, c->call_total);
	else
		c->progress_fn(c->progress_ctx, c->data_bytes - c->progress_base);
}

int memscan_client_set_cancel(memscan_client *c, memscan_cancel_fn fn, void *ctx)
{
	if (!c)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	c->cancel_fn = fn;
	c->cancel_ctx = fn ? ctx : NULL;
	client_unlock(c);
	return MEMSCAN_OK;
}

int client_cancelled(memscan_client *c)
{
	return c->cancel_fn && c->cancel_fn(c->cancel_ctx);
}
