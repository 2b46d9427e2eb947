/* SPDX-License-Identifier: MIT */
/* Remote pattern scans: the region list, then the matches paged in and handed to the caller in order. */
#include <string.h>

#include "client_internal.h"

/* Longest pattern text sent (the agent accepts requests of at most 64 KiB). */
#define CLIENT_PATTERN_TEXT_MAX (32u << 10)

struct scan_state {
	const memscan_region_list *regions;
	memscan_match_fn on_match;
	void *ctx;
	uint64_t count;
	uint64_t last;
	uint64_t max; /* the max_results asked for (0: any number) */
};

/* The listed region starting at START, or NULL. */
static const memscan_region *region_at(const memscan_region_list *list, uint64_t start)
{
	const memscan_region *r = memscan_region_list_get(list, memscan_region_list_find(list, start));

	return r && r->start == start ? r : NULL;
}

static int report_match(memscan_client *c, struct scan_state *st, const Memscan__V1__Match *m)
{
	const memscan_region *r;
	memscan_region gone = { 0 };

	if (!m || (st->count && m->address <= st->last) || m->address < m->region_start)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent matches out of order");
	if (st->max && st->count >= st->max)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent more matches than the %llu asked for",
		                   (unsigned long long)st->max);
	r = region_at(st->regions, m->region_start);
	if (!r || m->address >= r->end) {
		/* mapped after the region list was taken: only its start is known */
		gone.start = m->region_start;
		gone.end = m->address + 1;
		gone.kind = MEMSCAN_KIND_ANON;
		gone.path = "";
		r = &gone;
	}
	st->count++;
	st->last = m->address;
	if (st->on_match && st->on_match(st->ctx, m->address, r))
		return client_fail(c, MEMSCAN_ERR_STOPPED, "scan stopped by the callback");
	return MEMSCAN_OK;
}

static int scan_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__ScanPage *p = resp->scan;
	int r = MEMSCAN_OK;

	if (!p)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty scan page");
	for (size_t i = 0; r == MEMSCAN_OK && i < p->n_matches; i++)
		r = report_match(c, ctx, p->matches[i]);
	*ret_cursor = p->next_cursor;
	/* the rest stays the session's pending result: the next request drops it */
	if (r == MEMSCAN_OK && p->next_cursor && client_cancelled(c))
		return client_fail(c, MEMSCAN_ERR_CANCELLED, "cancelled");
	return r;
}

static int check_pattern(memscan_client *c, const char *pattern)
{
	memscan_pattern *pat = NULL;
	size_t off = 0;
	int r;

	if (strlen(pattern) > CLIENT_PATTERN_TEXT_MAX)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "pattern text longer than %u bytes",
		                   CLIENT_PATTERN_TEXT_MAX);
	r = memscan_pattern_parse(pattern, &pat, &off);
	memscan_pattern_free(pat);
	if (r != MEMSCAN_OK)
		return client_fail(c, r, "bad pattern at offset %zu", off);
	return MEMSCAN_OK;
}

static int scan(memscan_client *c, int pid, const memscan_filter *filter, const char *pattern,
                const memscan_scan_options *o, struct scan_state *st)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f;
	struct client_regions a = { 0 };
	int r = client_list_regions(c, pid, filter, 1, &a);

	if (r != MEMSCAN_OK)
		return r;
	t.pid = pid;
	t.start_time = a.start_time; /* the process whose regions were listed */
	client_filter(filter, 1, &f);
	sc.target = &t;
	sc.filter = &f;
	sc.pattern = (char *)pattern;
	if (o) {
		sc.align = o->align;
		sc.max_results = o->max_results;
		st->max = o->max_results;
		sc.no_memmap = o->no_memmap != 0;
	}
	sc.progress_ms = client_progress_ms(c);
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	st->regions = a.list;
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_SCAN, MEMSCAN__V1__RESPONSE__RESULT_SCAN,
	                 scan_page, st);
	memscan_region_list_free(a.list);
	return r;
}

int memscan_client_scan(memscan_client *c, int pid, const memscan_filter *filter, const char *pattern,
                        const memscan_scan_options *options, memscan_match_fn on_match, void *ctx,
                        uint64_t *ret_matches)
{
	struct scan_state st = { .on_match = on_match, .ctx = ctx };
	int r;

	if (ret_matches)
		*ret_matches = 0;
	if (!c || pid <= 0 || !pattern)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = check_pattern(c, pattern);
	if (r == MEMSCAN_OK)
		r = scan(c, pid, filter, pattern, options, &st);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_matches)
		*ret_matches = st.count;
	return r;
}
