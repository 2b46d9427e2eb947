/* SPDX-License-Identifier: MIT */
/* Value sets kept on the agent: scan, narrow, pages of candidates, release. The agent parses the
 * value texts; a page's candidates are checked (order, widths, region indexes) before the caller
 * sees them. */
#include <string.h>

#include "client_internal.h"

/* Longest value text sent (the agent takes up to 4096 bytes). */
#define CLIENT_VALUE_TEXT_MAX 4096u
/* Candidates asked for in one ValueCandidates (the agent sends at most a page's worth of them). */
#define CLIENT_CANDIDATES_ASK 65536u

/* UNSUPPORTED_VERSION unless the agent serves value sets (its Hello says so). */
static int check_agent(memscan_client *c)
{
	int r = client_ensure_session(c);

	if (r != MEMSCAN_OK)
		return r;
	if (!c->agent_value_sets)
		return client_fail(c, MEMSCAN_ERR_UNSUPPORTED_VERSION,
		                   "agent at %s is too old for value sets: upgrade memscan-agent there",
		                   c->url);
	return MEMSCAN_OK;
}

/* client_call for a value-set operation: an agent that answers UNKNOWN_OP is too old. */
static int vcall(memscan_client *c, const Memscan__V1__Request *req, Memscan__V1__Response__ResultCase expect,
                 Memscan__V1__Response **ret)
{
	int r = check_agent(c);

	*ret = NULL;
	if (r == MEMSCAN_OK)
		r = client_call(c, req, expect, ret);
	if (r == MEMSCAN_ERR_UNKNOWN_OP)
		r = client_fail(c, MEMSCAN_ERR_UNSUPPORTED_VERSION,
		                "agent at %s is too old for value sets (it does not know the operation): "
		                "upgrade memscan-agent there",
		                c->url);
	return r;
}

/* Hands the candidates of PAGE (expected to start at FIRST, of WIDTH bytes) to FN. */
static int deliver_page(memscan_client *c, const Memscan__V1__CandidatePage *page, uint64_t first,
                        size_t width, memscan_candidate_fn fn, void *ctx)
{
	memscan_region reg;
	uint64_t last = 0;

	if (!page || page->first != first)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a page of candidates not asked for");
	for (size_t i = 0; i < page->n_candidates; i++) {
		const Memscan__V1__Candidate *it = page->candidates[i];
		memscan_candidate cand = { 0 };

		if (!it || it->value.len != width || (it->old.len && it->old.len != width) ||
		    it->region_index >= page->n_regions || (i && it->address <= last) ||
		    wire_region_from_proto(page->regions[it->region_index], &reg) != 0 ||
		    it->address < reg.start || it->address - reg.start >= reg.end - reg.start)
			return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed candidate");
		last = it->address;
		cand.address = it->address;
		cand.width = width;
		cand.value = it->value.data;
		cand.old = it->old.len ? it->old.data : NULL;
		cand.region = &reg;
		if (fn && fn(ctx, &cand))
			return client_fail(c, MEMSCAN_ERR_STOPPED, "stopped by the callback");
	}
	return MEMSCAN_OK;
}

/* Fills *RET from the agent's reply and hands its first page to PAGE's callback. */
static int take_set(memscan_client *c, const Memscan__V1__ValueSetReply *rep, const memscan_client_page *page,
                    memscan_client_vset *ret)
{
	memscan_client_vset v = { 0 };

	if (!rep || !rep->set_id || !rep->type ||
	    memscan_value_type_parse(rep->type, &v.type) != MEMSCAN_OK || rep->width == 0 ||
	    rep->width > 2 * MEMSCAN_VALUE_STR_MAX || rep->pid <= 0)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed value set reply");
	if (rep->page && rep->page->n_candidates > (page ? page->count : 0))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent more candidates than asked for");
	v.id = rep->set_id;
	v.pid = rep->pid;
	v.start_time = rep->start_time;
	v.width = rep->width;
	v.count = rep->count;
	v.unknown = rep->unknown;
	v.bytes = rep->bytes;
	if (rep->page && rep->page->n_candidates) {
		int r = deliver_page(c, rep->page, 0, v.width, page->on_candidate, page->ctx);

		if (r != MEMSCAN_OK)
			return r;
	}
	*ret = v;
	return MEMSCAN_OK;
}

static uint32_t page_count(const memscan_client_page *page)
{
	if (!page)
		return 0;
	return page->count < CLIENT_CANDIDATES_ASK ? (uint32_t)page->count : CLIENT_CANDIDATES_ASK;
}

static int check_text(memscan_client *c, const char *text)
{
	if (text && strlen(text) > CLIENT_VALUE_TEXT_MAX)
		return client_fail(c, MEMSCAN_ERR_LIMIT, "value text longer than %u bytes",
		                   CLIENT_VALUE_TEXT_MAX);
	return MEMSCAN_OK;
}

/* Sends REQ (a ValueScan or ValueNarrow, whose progress_ms is *PROGRESS_MS) and takes the set it
 * makes. An agent that can is asked for Progress replies: the progress and cancel callbacks then see
 * the work go. */
static int set_call(memscan_client *c, const Memscan__V1__Request *req, uint32_t *progress_ms,
                    const memscan_client_page *page, memscan_client_vset *ret)
{
	Memscan__V1__Response *resp = NULL;
	int r = check_agent(c); /* the session, and with it what the agent can */

	*progress_ms = client_progress_ms(c);
	if (r == MEMSCAN_OK)
		r = vcall(c, req, MEMSCAN__V1__RESPONSE__RESULT_VALUE_SET, &resp);
	if (r == MEMSCAN_OK)
		r = take_set(c, resp->value_set, page, ret);
	wire_free_response(resp);
	return r;
}

/* The scan request's filter: FILTER, or the value scans' default (writable regions). */
static void value_filter(const memscan_filter *filter, Memscan__V1__Filter *out)
{
	memscan_filter f;

	if (filter) {
		client_filter(filter, 0, out);
		return;
	}
	memscan_filter_values(&f);
	wire_filter_to_proto(&f, 1, out);
	out->path_substr = (char *)"";
}

static int value_scan(memscan_client *c, int pid, const memscan_filter *filter, memscan_value_type type,
                      const char *value, const memscan_value_options *vo, const memscan_value_scan_options *o,
                      const memscan_client_page *page, memscan_client_vset *ret)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueScan vs = MEMSCAN__V1__VALUE_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f;

	t.pid = pid;
	value_filter(filter, &f);
	vs.target = &t;
	vs.filter = &f;
	vs.type = (char *)memscan_value_type_name(type);
	vs.value = (char *)(value ? value : "");
	vs.unknown = value == NULL;
	if (vo) {
		vs.utf16 = (vo->flags & MEMSCAN_VALUE_UTF16) != 0;
		vs.has_epsilon = (vo->flags & MEMSCAN_VALUE_EPSILON) != 0;
		vs.epsilon = vo->epsilon;
	}
	if (o) {
		vs.align = o->align;
		vs.max_candidates = o->max_candidates;
	}
	vs.page = page_count(page);
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_SCAN;
	req.value_scan = &vs;
	return set_call(c, &req, &vs.progress_ms, page, ret);
}

int memscan_client_value_scan(memscan_client *c, int pid, const memscan_filter *filter,
                              memscan_value_type type, const char *value,
                              const memscan_value_options *value_options,
                              const memscan_value_scan_options *options, const memscan_client_page *page,
                              memscan_client_vset *ret_set)
{
	memscan_client_vset v = { 0 };
	int r;

	if (ret_set)
		memset(ret_set, 0, sizeof(*ret_set));
	if (!c || pid <= 0 || !value || !ret_set)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = check_text(c, value);
	if (r == MEMSCAN_OK)
		r = value_scan(c, pid, filter, type, value, value_options, options, page, &v);
	client_unlock(c);
	if (r == MEMSCAN_OK)
		*ret_set = v;
	return r;
}

int memscan_client_value_scan_unknown(memscan_client *c, int pid, const memscan_filter *filter,
                                      memscan_value_type type, const memscan_value_scan_options *options,
                                      memscan_client_vset *ret_set)
{
	memscan_client_vset v = { 0 };
	int r;

	if (ret_set)
		memset(ret_set, 0, sizeof(*ret_set));
	if (!c || pid <= 0 || !ret_set)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = value_scan(c, pid, filter, type, NULL, NULL, options, NULL, &v);
	client_unlock(c);
	if (r == MEMSCAN_OK)
		*ret_set = v;
	return r;
}

int memscan_client_value_narrow(memscan_client *c, uint64_t id, memscan_value_pred_kind kind,
                                const char *value, const memscan_value_options *value_options,
                                uint64_t max_candidates, bool keep, const memscan_client_page *page,
                                memscan_client_vset *ret_set)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueNarrow vn = MEMSCAN__V1__VALUE_NARROW__INIT;
	memscan_client_vset v = { 0 };
	int r;

	if (ret_set)
		memset(ret_set, 0, sizeof(*ret_set));
	if (!c || !id || !ret_set)
		return MEMSCAN_ERR_INVALID_ARG;
	vn.set_id = id;
	vn.predicate = (uint32_t)kind;
	vn.value = (char *)(value ? value : "");
	vn.max_candidates = max_candidates;
	vn.keep = keep;
	vn.page = page_count(page);
	if (value_options) {
		vn.utf16 = (value_options->flags & MEMSCAN_VALUE_UTF16) != 0;
		vn.has_epsilon = (value_options->flags & MEMSCAN_VALUE_EPSILON) != 0;
		vn.epsilon = value_options->epsilon;
	}
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_NARROW;
	req.value_narrow = &vn;
	client_lock(c);
	r = check_text(c, value);
	if (r == MEMSCAN_OK)
		r = set_call(c, &req, &vn.progress_ms, page, &v);
	client_unlock(c);
	if (r == MEMSCAN_OK)
		*ret_set = v;
	return r;
}

/* One ValueCandidates: up to COUNT from FIRST; *RET_N how many came (0: the set ends). */
static int candidates_page(memscan_client *c, uint64_t id, uint64_t first, uint64_t count,
                           memscan_candidate_fn fn, void *ctx, size_t *ret_width, uint64_t *ret_n)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueCandidates vc = MEMSCAN__V1__VALUE_CANDIDATES__INIT;
	Memscan__V1__Response *resp = NULL;
	const Memscan__V1__CandidatePage *p;
	int r;

	vc.set_id = id;
	vc.first = first;
	vc.count = count < CLIENT_CANDIDATES_ASK ? (uint32_t)count : CLIENT_CANDIDATES_ASK;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_CANDIDATES;
	req.value_candidates = &vc;
	*ret_n = 0;
	r = vcall(c, &req, MEMSCAN__V1__RESPONSE__RESULT_CANDIDATES, &resp);
	p = r == MEMSCAN_OK ? resp->candidates : NULL;
	if (r == MEMSCAN_OK && p && p->n_candidates > vc.count)
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent more candidates than asked for");
	if (r == MEMSCAN_OK && p && p->n_candidates) {
		/* every candidate of a set has the set's width: the first page tells it */
		if (!*ret_width)
			*ret_width = p->candidates[0] ? p->candidates[0]->value.len : 0;
		if (*ret_width == 0 || *ret_width > 2 * MEMSCAN_VALUE_STR_MAX)
			r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed candidate");
		else
			r = deliver_page(c, p, first, *ret_width, fn, ctx);
		*ret_n = p->n_candidates;
	}
	wire_free_response(resp);
	return r;
}

int memscan_client_value_candidates(memscan_client *c, uint64_t id, uint64_t first, uint64_t count,
                                    memscan_candidate_fn on_candidate, void *ctx, uint64_t *ret_received)
{
	uint64_t got = 0, n = 0;
	size_t width = 0;
	int r = MEMSCAN_OK;

	if (ret_received)
		*ret_received = 0;
	if (!c || !id)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	do {
		r = candidates_page(c, id, first + got, count - got, on_candidate, ctx, &width, &n);
		got += n;
	} while (r == MEMSCAN_OK && n && got < count);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_received)
		*ret_received = got;
	return r;
}

int memscan_client_value_release(memscan_client *c, uint64_t id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueRelease vr = MEMSCAN__V1__VALUE_RELEASE__INIT;
	Memscan__V1__Response *resp = NULL;
	int r;

	if (!c || !id)
		return MEMSCAN_ERR_INVALID_ARG;
	vr.set_id = id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_RELEASE;
	req.value_release = &vr;
	client_lock(c);
	r = vcall(c, &req, MEMSCAN__V1__RESPONSE__RESULT_VALUE_RELEASE, &resp);
	client_unlock(c);
	wire_free_response(resp);
	return r;
}
