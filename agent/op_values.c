/* SPDX-License-Identifier: MIT */
/* Value scans through the agent: scan and narrow keep the candidates on the agent as a value set of
 * the calling key (vsets.c); only the count and a first page of candidates cross the network, more
 * pages on request (ValueCandidates), and ValueRelease drops the set. A scan or narrowing asked with
 * progress_ms runs as a job (job.c), answered with Progress until the set is made. */
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

/* ---- what a scan or narrowing is asked ---- */

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

/* ---- a set's process and a narrowing's predicate ---- */

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

/* ---- the work of a scan or narrowing: now, or as a job answered with Progress ---- */

/* A value scan or narrowing: what it works on and what came of it. Its run (on a job's thread when
 * the client asked for progress) touches only these: the budgets were read before it starts, the set
 * store and the reply wait for its finish, on a worker. */
struct vset_work {
	memscan_region_list *regions;   /* a scan's */
	memscan_value *val;             /* a scan's value (NULL: unknown-value scan), a narrowing's operand */
	memscan_value_type type;        /* a scan's */
	memscan_value_scan_options opt; /* a scan's; max_candidates is a narrowing's limit too */
	memscan_value_pred pred;        /* a narrowing's (its value is VAL) */
	agent_vset *v;                  /* a narrowing's set, claimed until the work ends */
	memscan_value_set *out;         /* what the run made */
	uint64_t bytes;                 /* a scan's regions' bytes */
	uint32_t page;                  /* candidates the reply carries */
	int capped, keep;
};

static void vset_work_drop(agent *ag, agent_session *s, void *state)
{
	struct vset_work *w = state;

	(void)s;
	if (!w)
		return;
	if (w->v)
		agent_vset_unclaim(ag, w->v);
	memscan_value_set_free(w->out);
	memscan_value_free(w->val);
	memscan_region_list_free(w->regions);
	free(w);
}

static int vset_work_run(agent_job *j, memscan_process *proc, void *state, char *msg, size_t msg_len)
{
	struct vset_work *w = state;

	(void)j;
	(void)msg; /* the finish words the error: it knows the limits and the set */
	(void)msg_len;
	if (w->v)
		return memscan_value_set_narrow(proc, w->v->set, &w->pred, w->opt.max_candidates, &w->out);
	if (!w->val)
		return memscan_value_scan_unknown(proc, w->regions, w->type, &w->opt, &w->out);
	return memscan_value_scan(proc, w->regions, w->val, &w->opt, &w->out);
}

/* Fails R with ERR of W's run on PROC. */
static int vset_work_fail(agent_req *r, const struct vset_work *w, memscan_process *proc, int err)
{
	const char *why = memscan_strerror(err);
	int pid = memscan_process_pid(proc);

	if (err == MEMSCAN_ERR_LIMIT && w->opt.max_candidates)
		return vset_limit(r, w->opt.max_candidates, w->capped);
	if (w->v)
		return agent_fail(r, err, "narrowing value set %016llx of process %d: %s",
		                  (unsigned long long)w->v->id, pid, why);
	if (!w->val)
		return agent_fail(r, err, "unknown-value scan of process %d: %s", pid, why);
	return agent_fail(r, err, "value scan of process %d: %s", pid, why);
}

/* Keeps what W's narrowing made: as a new set, or in place of its set; replies with it. */
static int vset_narrow_keep(agent_req *r, struct vset_work *w)
{
	memscan_value_set *out = w->out;
	int err;

	w->out = NULL;
	r->bytes = memscan_value_set_count(w->v->set) * memscan_value_set_width(w->v->set);
	if (w->keep)
		return vset_keep_new(r, out, vset_cost(out, 0), w->page);
	err = agent_vset_replace(r, w->v, out, vset_cost(out, 0));
	if (err != MEMSCAN_OK) {
		memscan_value_set_free(out);
		return err;
	}
	return vset_reply(r, w->v, w->page);
}

/* The reply once W ran on PROC with ERR: the set it made, or the error. Frees W and PROC. */
static int vset_work_finish(agent_req *r, memscan_process *proc, void *state, int err, const char *msg)
{
	struct vset_work *w = state;

	(void)msg;
	if (err != MEMSCAN_OK) {
		err = vset_work_fail(r, w, proc, err);
	} else if (w->v) {
		err = vset_narrow_keep(r, w);
	} else {
		r->bytes = w->bytes;
		err = vset_keep_new(r, w->out, vset_cost(w->out, w->bytes), w->page);
		w->out = NULL; /* the store's, or freed */
	}
	vset_work_drop(r->ag, r->s, w);
	memscan_process_free(proc);
	return err;
}

static const agent_job_kind vset_work_job = { vset_work_run, vset_work_finish, vset_work_drop };

/* Runs W on PROC (both owned from now on), reading about TOTAL bytes: as a job when the client asked
 * for progress (PROGRESS_MS) and one is free, else at once. */
static int vset_work_start(agent_req *r, memscan_process *proc, struct vset_work *w, uint64_t total,
                           uint32_t progress_ms)
{
	return agent_job_run(r, proc, total, progress_ms, &vset_work_job, w);
}

/* The scan's value and candidate limit, or (unknown-value scan) the room its copy needs. */
static int vset_scan_prepare(agent_req *r, struct vset_work *w)
{
	const Memscan__V1__ValueScan *vs = r->req->value_scan;
	int err;

	if (vs->unknown)
		return agent_vset_room(r, w->bytes + AGENT_VSET_OVERHEAD);
	err = vset_parse_value(r, w->type, vs->value, vs->utf16, vs->has_epsilon, vs->epsilon, &w->val);
	if (err == MEMSCAN_OK)
		w->opt.max_candidates =
		    vset_max(r, vs->max_candidates, memscan_value_width(w->val), 0, &w->capped);
	return err;
}

int agent_op_value_scan(agent_req *r)
{
	const Memscan__V1__ValueScan *vs = r->req->value_scan;
	struct vset_work *w = calloc(1, sizeof(*w));
	memscan_process *proc = NULL;
	int err;

	r->pid = vs->target ? vs->target->pid : 0;
	if (!w)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	w->opt.align = vs->align;
	w->page = vs->page;
	err = vset_parse_type(r, vs->type, &w->type);
	if (err == MEMSCAN_OK)
		err = agent_open_target(r, vs->target, &proc);
	if (err == MEMSCAN_OK)
		err = agent_target_regions(r, proc, vs->filter, &w->regions);
	if (err == MEMSCAN_OK) {
		w->bytes = memscan_region_list_bytes(w->regions);
		err = vset_scan_prepare(r, w);
	}
	if (err != MEMSCAN_OK) {
		vset_work_drop(r->ag, r->s, w);
		memscan_process_free(proc);
		return err;
	}
	return vset_work_start(r, proc, w, w->bytes, vs->progress_ms);
}

int agent_op_value_narrow(agent_req *r)
{
	const Memscan__V1__ValueNarrow *vn = r->req->value_narrow;
	memscan_process *proc = NULL;
	struct vset_work *w;
	agent_vset *v = NULL;
	int err = agent_vset_claim(r, vn->set_id, &v);

	if (err != MEMSCAN_OK)
		return err;
	err = vset_open_target(r, v, &proc);
	if (err != MEMSCAN_OK)
		return err; /* V is gone */
	w = calloc(1, sizeof(*w));
	if (!w) {
		agent_vset_unclaim(r->ag, v);
		memscan_process_free(proc);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	w->v = v;
	w->page = vn->page;
	w->keep = vn->keep;
	err = vset_parse_pred(r, v->set, &w->pred, &w->val);
	if (err != MEMSCAN_OK) {
		vset_work_drop(r->ag, r->s, w);
		memscan_process_free(proc);
		return err;
	}
	w->pred.value = w->val;
	w->opt.max_candidates = vset_max(r, vn->max_candidates, memscan_value_set_width(v->set),
	                                 vn->keep ? 0 : v->bytes, &w->capped);
	/* the bytes the narrowing reads (exact for an unknown set, whatever its alignment), worked out
	 * only for Progress replies: a large set's pages take a pass to count */
	return vset_work_start(
	    r, proc, w, agent_job_wanted(r->ag, vn->progress_ms) ? memscan_value_set_narrow_bytes(v->set) : 0,
	    vn->progress_ms);
}

/* ---- candidates, release ---- */

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
