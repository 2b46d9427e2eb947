/* SPDX-License-Identifier: MIT */
/* Value scans through the agent: scan and narrow keep the candidates on the agent as a value set of
 * the calling key (vsets.c); only the count and a first page of candidates cross the network, more
 * pages on request (ValueCandidates), and ValueRelease drops the set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Longest value text accepted (a string is at most MEMSCAN_VALUE_STR_MAX bytes once encoded). */
#define AGENT_VALUE_TEXT_MAX 4096
/* Most candidates in one page, and the bytes a page of them may take (a reply is at most 4 MiB). */
#define AGENT_VSET_PAGE_MAX   65536u
#define AGENT_VSET_PAGE_BYTES (3u << 20)
/* What a set costs besides its candidates: its region table and bookkeeping (an estimate). */
#define AGENT_VSET_OVERHEAD 4096u

/* The bytes SET holds: an unknown-value set holds a copy of its regions (SCANNED_BYTES), an exact
 * set an address and two values per candidate. */
static uint64_t vset_cost(const memscan_value_set *set, uint64_t scanned_bytes)
{
	uint64_t each = 8 + 2 * (uint64_t)memscan_value_set_width(set);

	if (memscan_value_set_is_unknown(set))
		return scanned_bytes + AGENT_VSET_OVERHEAD;
	return memscan_value_set_count(set) * each + AGENT_VSET_OVERHEAD;
}

/* ---- one page of candidates ---- */

struct vset_page {
	Memscan__V1__Candidate *items;
	Memscan__V1__Candidate **ptrs;
	uint8_t *bytes; /* values and old values, 2 * width each */
	Memscan__V1__Region *regions;
	Memscan__V1__Region **region_ptrs;
	const memscan_region **seen; /* the set's regions the page uses, in order */
	size_t n, max, n_regions, width;
	size_t room; /* packed bytes the page may still take (AGENT_VSET_PAGE_BYTES at first) */
};

/* Packed bytes of a candidate of WIDTH bytes with its old value, framing included (at most). */
#define AGENT_CANDIDATE_PACKED(width) (32 + 2 * (size_t)(width))

static int vset_page_add(void *ctx, const memscan_candidate *c)
{
	struct vset_page *pg = ctx;
	Memscan__V1__Candidate *it = &pg->items[pg->n];
	uint8_t *b = pg->bytes + pg->n * 2 * pg->width;
	size_t cost = AGENT_CANDIDATE_PACKED(pg->width);
	int new_region = !pg->n_regions || pg->seen[pg->n_regions - 1] != c->region;

	if (new_region) {
		wire_region_to_proto(c->region, &pg->regions[pg->n_regions]);
		cost += memscan__v1__region__get_packed_size(&pg->regions[pg->n_regions]) + 8;
	}
	if (pg->n && cost > pg->room)
		return 1; /* the page is full (long region paths take room too) */
	pg->room -= cost < pg->room ? cost : pg->room;
	if (new_region) {
		pg->seen[pg->n_regions] = c->region;
		pg->region_ptrs[pg->n_regions] = &pg->regions[pg->n_regions];
		pg->n_regions++;
	}
	memscan__v1__candidate__init(it);
	it->address = c->address;
	memcpy(b, c->value, pg->width);
	it->value.data = b;
	it->value.len = pg->width;
	if (c->old) {
		memcpy(b + pg->width, c->old, pg->width);
		it->old.data = b + pg->width;
		it->old.len = pg->width;
	}
	it->region_index = (uint32_t)(pg->n_regions - 1);
	pg->ptrs[pg->n] = it;
	return ++pg->n >= pg->max;
}

static void vset_page_free(struct vset_page *pg)
{
	free(pg->items);
	free(pg->ptrs);
	free(pg->bytes);
	free(pg->regions);
	free(pg->region_ptrs);
	free(pg->seen);
}

/* Fills OUT with up to WANT candidates of SET from FIRST on (fewer: what a page holds). */
static int vset_page_fill(agent_req *r, const memscan_value_set *set, uint64_t first, uint64_t want,
                          struct vset_page *pg, Memscan__V1__CandidatePage *out)
{
	uint64_t count = memscan_value_set_count(set);
	size_t cap, width = memscan_value_set_width(set);
	int err;

	memset(pg, 0, sizeof(*pg));
	memscan__v1__candidate_page__init(out);
	out->first = first;
	if (first >= count || want == 0)
		return MEMSCAN_OK;
	cap = AGENT_VSET_PAGE_BYTES / AGENT_CANDIDATE_PACKED(width);
	cap = cap < AGENT_VSET_PAGE_MAX ? cap : AGENT_VSET_PAGE_MAX;
	pg->max = (size_t)(want < count - first ? want : count - first);
	pg->max = pg->max < cap ? pg->max : cap;
	pg->width = width;
	pg->room = AGENT_VSET_PAGE_BYTES;
	pg->items = calloc(pg->max, sizeof(*pg->items));
	pg->ptrs = calloc(pg->max, sizeof(*pg->ptrs));
	pg->bytes = calloc(pg->max, 2 * width);
	pg->regions = calloc(pg->max, sizeof(*pg->regions));
	pg->region_ptrs = calloc(pg->max, sizeof(*pg->region_ptrs));
	pg->seen = calloc(pg->max, sizeof(*pg->seen));
	if (!pg->items || !pg->ptrs || !pg->bytes || !pg->regions || !pg->region_ptrs || !pg->seen)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory building a page of candidates");
	err = memscan_value_set_foreach(set, first, vset_page_add, pg);
	if (err != MEMSCAN_OK && err != MEMSCAN_ERR_STOPPED)
		return agent_fail(r, err, "listing candidates: %s", memscan_strerror(err));
	out->candidates = pg->ptrs;
	out->n_candidates = pg->n;
	out->regions = pg->region_ptrs;
	out->n_regions = pg->n_regions;
	return MEMSCAN_OK;
}

/* Replies with V's id and count and its first PAGE candidates. */
static int vset_reply(agent_req *r, const agent_vset *v, uint32_t page)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ValueSetReply rep = MEMSCAN__V1__VALUE_SET_REPLY__INIT;
	Memscan__V1__CandidatePage cp;
	struct vset_page pg;
	const memscan_value_set *set = v->set;
	int err = vset_page_fill(r, set, 0, page, &pg, &cp);

	if (err == MEMSCAN_OK) {
		rep.set_id = v->id;
		rep.count = memscan_value_set_count(set);
		rep.type = (char *)memscan_value_type_name(memscan_value_set_type(set));
		rep.width = (uint32_t)memscan_value_set_width(set);
		rep.pid = memscan_value_set_pid(set);
		rep.start_time = memscan_value_set_start_time(set);
		rep.unknown = memscan_value_set_is_unknown(set);
		rep.bytes = v->bytes;
		rep.page = &cp;
		resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_VALUE_SET;
		resp.value_set = &rep;
		err = agent_pack(r, &resp);
	}
	vset_page_free(&pg);
	return err;
}

/* ---- scan ---- */

static int vset_parse_type(agent_req *r, const char *text, memscan_value_type *ret)
{
	if (memscan_value_type_parse(text ? text : "", ret) != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG,
		                  "unknown value type '%.32s': i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 str",
		                  text ? text : "");
	return MEMSCAN_OK;
}

/* Parses TEXT as a value of TYPE; the library's error and the offset of what is wrong come back. */
static int vset_parse_value(agent_req *r, memscan_value_type type, const char *text, int utf16,
                            int has_epsilon, double epsilon, memscan_value **ret)
{
	memscan_value_options o = { 0 };
	size_t off = 0;
	int err;

	if (!text || strlen(text) > AGENT_VALUE_TEXT_MAX)
		return agent_fail(r, MEMSCAN_ERR_LIMIT, "value text longer than %d bytes",
		                  AGENT_VALUE_TEXT_MAX);
	o.flags = (utf16 ? MEMSCAN_VALUE_UTF16 : 0) | (has_epsilon ? MEMSCAN_VALUE_EPSILON : 0);
	o.epsilon = epsilon;
	err = memscan_value_parse(type, text, &o, ret, &off);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "bad %s value '%.64s' at offset %zu: %s",
		                  memscan_value_type_name(type), text, off, memscan_strerror(err));
	return MEMSCAN_OK;
}

/* LIMIT from a scan or narrow capped at MAX: too many candidates, or the key's budget (CAPPED). */
static int vset_limit(agent_req *r, uint64_t max, int capped)
{
	char size[32];

	if (capped)
		return agent_fail(r, MEMSCAN_ERR_BUSY,
		                  "more than %llu candidates, all this key's value-set budget holds "
		                  "(%s): release sets (memscan release SET), narrow the scan, or "
		                  "raise the agent's --set-budget (set_budget in agent.conf)",
		                  (unsigned long long)max,
		                  memscan_size_format(r->ag->cfg.set_budget, size, sizeof(size)));
	return agent_fail(r, MEMSCAN_ERR_LIMIT,
	                  "more than %llu candidates: narrow the scan (filters, a value range) or raise "
	                  "--max",
	                  (unsigned long long)max);
}

/* The candidate limit of a scan or narrow: the one asked for (0: the library's default), lowered to
 * what the key's budget holds (*RET_CAPPED set then). */
static uint64_t vset_max(agent_req *r, uint64_t asked, size_t width, uint64_t give_back, int *ret_capped)
{
	uint64_t max = asked ? asked : MEMSCAN_VALUE_SET_MAX_DEFAULT;
	uint64_t room = agent_vset_max_candidates(r, width, give_back);

	max = max < MEMSCAN_VALUE_SET_MAX ? max : MEMSCAN_VALUE_SET_MAX;
	*ret_capped = room < max;
	return room < max ? room : max;
}

static int vset_run_scan(agent_req *r, memscan_process *proc, const memscan_region_list *regions,
                         memscan_value_type type, memscan_value_set **ret)
{
	const Memscan__V1__ValueScan *vs = r->req->value_scan;
	memscan_value_scan_options o = { .align = vs->align };
	memscan_value *val = NULL;
	int capped = 0, err;

	if (vs->unknown) {
		err = agent_vset_room(r, memscan_region_list_bytes(regions) + AGENT_VSET_OVERHEAD);
		if (err != MEMSCAN_OK)
			return err;
		err = memscan_value_scan_unknown(proc, regions, type, &o, ret);
		if (err != MEMSCAN_OK)
			agent_fail(r, err, "unknown-value scan of process %d: %s", memscan_process_pid(proc),
			           memscan_strerror(err));
		return err;
	}
	err = vset_parse_value(r, type, vs->value, vs->utf16, vs->has_epsilon, vs->epsilon, &val);
	if (err != MEMSCAN_OK)
		return err;
	o.max_candidates = vset_max(r, vs->max_candidates, memscan_value_width(val), 0, &capped);
	err = memscan_value_scan(proc, regions, val, &o, ret);
	if (err == MEMSCAN_ERR_LIMIT)
		vset_limit(r, o.max_candidates, capped);
	else if (err != MEMSCAN_OK)
		agent_fail(r, err, "value scan of process %d: %s", memscan_process_pid(proc),
		           memscan_strerror(err));
	memscan_value_free(val);
	return err;
}

/* Keeps SET (the store's on success; freed otherwise) as a new set and replies with it. */
static int vset_keep_new(agent_req *r, memscan_value_set *set, uint64_t bytes, uint32_t page)
{
	agent_vset *v = NULL;
	int err = agent_vset_add(r, set, bytes, &v);

	if (err != MEMSCAN_OK) {
		memscan_value_set_free(set);
		return err;
	}
	err = vset_reply(r, v, page);
	agent_vset_unclaim(r->ag, v);
	return err;
}

int agent_op_value_scan(agent_req *r)
{
	const Memscan__V1__ValueScan *vs = r->req->value_scan;
	memscan_region_list *regions = NULL;
	memscan_process *proc = NULL;
	memscan_value_set *set = NULL;
	memscan_value_type type = 0;
	int err;

	r->pid = vs->target ? vs->target->pid : 0;
	err = vset_parse_type(r, vs->type, &type);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, vs->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_target_regions(r, proc, vs->filter, &regions);
	if (err == MEMSCAN_OK)
		err = vset_run_scan(r, proc, regions, type, &set);
	if (err == MEMSCAN_OK) {
		r->bytes = memscan_region_list_bytes(regions);
		err = vset_keep_new(r, set, vset_cost(set, r->bytes), vs->page);
	}
	memscan_region_list_free(regions);
	memscan_process_free(proc);
	return err;
}

/* ---- narrow, candidates, release ---- */

/* Opens the process V's set was made from, with every check a target gets; if it fails (the
 * process exited, its PID was reused, the key's limits no longer hold) V is dropped, and so said. */
static int vset_open_target(agent_req *r, agent_vset *v, memscan_process **ret)
{
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	uint64_t id = v->id;
	size_t len;
	int err;

	t.pid = memscan_value_set_pid(v->set);
	t.start_time = memscan_value_set_start_time(v->set);
	err = agent_open_target(r, &t, ret);
	if (err == MEMSCAN_OK)
		return MEMSCAN_OK;
	if (err == MEMSCAN_ERR_NO_PROCESS)
		agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d of value set %016llx has exited", t.pid,
		           (unsigned long long)id);
	agent_vset_drop(r->ag, v);
	len = strlen(r->msg);
	snprintf(r->msg + len, sizeof(r->msg) - len, " (value set %016llx released: scan again)",
	         (unsigned long long)id);
	return r->err;
}

static int vset_parse_pred(agent_req *r, const memscan_value_set *set, memscan_value_pred *pred,
                           memscan_value **ret_val)
{
	const Memscan__V1__ValueNarrow *vn = r->req->value_narrow;

	*ret_val = NULL;
	pred->kind = (memscan_value_pred_kind)vn->predicate;
	pred->value = NULL;
	if (vn->predicate < MEMSCAN_PRED_ANY || vn->predicate > MEMSCAN_PRED_BETWEEN)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "unknown predicate %u", vn->predicate);
	if (pred->kind < MEMSCAN_PRED_INCREASED_BY)
		return MEMSCAN_OK; /* compares with the recorded value only */
	return vset_parse_value(r, memscan_value_set_type(set), vn->value, vn->utf16, vn->has_epsilon,
	                        vn->epsilon, ret_val);
}

static int vset_run_narrow(agent_req *r, agent_vset *v, memscan_process *proc, memscan_value_set **ret)
{
	const Memscan__V1__ValueNarrow *vn = r->req->value_narrow;
	memscan_value_pred pred;
	memscan_value *val = NULL;
	uint64_t max;
	int capped = 0, err = vset_parse_pred(r, v->set, &pred, &val);

	if (err != MEMSCAN_OK)
		return err;
	pred.value = val;
	max = vset_max(r, vn->max_candidates, memscan_value_set_width(v->set), vn->keep ? 0 : v->bytes,
	               &capped);
	err = memscan_value_set_narrow(proc, v->set, &pred, max, ret);
	if (err == MEMSCAN_ERR_LIMIT)
		vset_limit(r, max, capped);
	else if (err != MEMSCAN_OK)
		agent_fail(r, err, "narrowing value set %016llx of process %d: %s", (unsigned long long)v->id,
		           memscan_process_pid(proc), memscan_strerror(err));
	memscan_value_free(val);
	return err;
}

int agent_op_value_narrow(agent_req *r)
{
	const Memscan__V1__ValueNarrow *vn = r->req->value_narrow;
	memscan_process *proc = NULL;
	memscan_value_set *out = NULL;
	agent_vset *v = NULL;
	int err = agent_vset_claim(r, vn->set_id, &v);

	if (err != MEMSCAN_OK)
		return err;
	err = vset_open_target(r, v, &proc);
	if (err != MEMSCAN_OK)
		return err; /* V is gone */
	err = vset_run_narrow(r, v, proc, &out);
	r->bytes = err == MEMSCAN_OK ? memscan_value_set_count(v->set) * memscan_value_set_width(v->set) : 0;
	if (err == MEMSCAN_OK && vn->keep) {
		err = vset_keep_new(r, out, vset_cost(out, 0), vn->page);
	} else if (err == MEMSCAN_OK) {
		err = agent_vset_replace(r, v, out, vset_cost(out, 0));
		if (err != MEMSCAN_OK)
			memscan_value_set_free(out);
		else
			err = vset_reply(r, v, vn->page);
	}
	agent_vset_unclaim(r->ag, v);
	memscan_process_free(proc);
	return err;
}

int agent_op_value_candidates(agent_req *r)
{
	const Memscan__V1__ValueCandidates *vc = r->req->value_candidates;
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__CandidatePage cp;
	memscan_process *proc = NULL;
	struct vset_page pg;
	agent_vset *v = NULL;
	int err = agent_vset_claim(r, vc->set_id, &v);

	if (err != MEMSCAN_OK)
		return err;
	/* the values are the target's memory: the key must still be allowed to read it */
	err = vset_open_target(r, v, &proc);
	if (err != MEMSCAN_OK)
		return err; /* V is gone */
	memscan_process_free(proc);
	err = vset_page_fill(r, v->set, vc->first, vc->count, &pg, &cp);
	if (err == MEMSCAN_OK) {
		r->bytes = (uint64_t)pg.n * pg.width;
		resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_CANDIDATES;
		resp.candidates = &cp;
		err = agent_pack(r, &resp);
	}
	vset_page_free(&pg);
	agent_vset_unclaim(r->ag, v);
	return err;
}

int agent_op_value_release(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ValueReleaseReply rel = MEMSCAN__V1__VALUE_RELEASE_REPLY__INIT;
	int err = agent_vset_release(r, r->req->value_release->set_id);

	if (err != MEMSCAN_OK)
		return err;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_VALUE_RELEASE;
	resp.value_release = &rel;
	return agent_pack(r, &resp);
}
