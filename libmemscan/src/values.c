/* SPDX-License-Identifier: MIT */
/* Value scans: exact and unknown-value scans of a process's regions into candidate sets, iteration,
 * and narrowing that re-reads only the pages holding candidates. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "values.h"

/* Bytes read at a time when a scan walks a region: small enough to stay in cache, and a cancelled
 * scan stops within one window (the scratch buffer holds a window and a slot's width more). */
#define VS_WINDOW ((size_t)1 << 20)
_Static_assert(VS_WINDOW + MEMSCAN_VALUE_STR_MAX <= VS_SCRATCH_BYTES, "a window fits the scratch");
/* Bytes of slot starts per unit of a walk, and candidates per unit of an exact narrowing: units the
 * workers share (2 workers get many), each small enough to keep both busy to the end. */
#define VS_UNIT        ((uint64_t)4 << 20)
#define VS_NARROW_UNIT ((uint64_t)1 << 15)

void memscan_filter_values(memscan_filter *filter)
{
	if (!filter)
		return;
	memscan_filter_default(filter);
	filter->perms |= MEMSCAN_PERM_WRITE;
}

static int copy_regions(const memscan_region_list *src, memscan_region_list **ret)
{
	int r = memscan_region_list_new(ret);

	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(src); i++)
		r = memscan_region_list_add(*ret, memscan_region_list_get(src, i));
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(*ret);
		*ret = NULL;
	}
	return r;
}

static int max_of(uint64_t asked, size_t *ret)
{
	if (asked > MEMSCAN_VALUE_SET_MAX)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret = (size_t)(asked ? asked : MEMSCAN_VALUE_SET_MAX_DEFAULT);
	return MEMSCAN_OK;
}

/* A new empty set of TYPE for PROC, with a copy of REGIONS (NULL: the value filter's, listed now). */
static int set_new(memscan_process *proc, const memscan_region_list *regions, memscan_value_type type,
                   size_t width, const memscan_value_scan_options *opt, memscan_value_set **ret)
{
	memscan_value_set *s;
	memscan_filter filter;
	int r;

	if (!proc || width == 0)
		return MEMSCAN_ERR_INVALID_ARG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return MEMSCAN_ERR_NO_MEMORY;
	s->pid = memscan_process_pid(proc);
	s->start_time = memscan_process_start_time(proc);
	s->type = type;
	s->width = width;
	s->align = opt && opt->align ? opt->align : type == MEMSCAN_VALUE_STR ? 1 : width;
	r = max_of(opt ? opt->max_candidates : 0, &s->max);
	memscan_filter_values(&filter);
	if (r == MEMSCAN_OK)
		r = regions ? copy_regions(regions, &s->regions)
		            : memscan_regions_read(proc, &filter, &s->regions);
	if (r != MEMSCAN_OK) {
		memscan_value_set_free(s);
		return r;
	}
	*ret = s;
	return MEMSCAN_OK;
}

/* Appends a candidate at ADDR holding NOW (and OLD, if not NULL) to S. */
static int set_push(memscan_value_set *s, uint64_t addr, const uint8_t *now, const uint8_t *old)
{
	size_t n = (size_t)s->count + 1;
	int r = s->total && atomic_fetch_add(s->total, 1) >= s->max
	            ? MEMSCAN_ERR_LIMIT
	            : ms_grow(&s->addr, &s->cap_addr, n, sizeof(*s->addr), s->max);

	if (r == MEMSCAN_OK)
		r = ms_grow(&s->cur, &s->cap_cur, n * s->width, 1, s->max * s->width);
	if (r == MEMSCAN_OK && old)
		r = ms_grow(&s->old, &s->cap_old, n * s->width, 1, s->max * s->width);
	if (r != MEMSCAN_OK)
		return r;
	s->addr[n - 1] = addr;
	memcpy(s->cur + (n - 1) * s->width, now, s->width);
	if (old)
		memcpy(s->old + (n - 1) * s->width, old, s->width);
	s->count = n;
	return MEMSCAN_OK;
}

static uint64_t align_up(uint64_t a, uint64_t align)
{
	uint64_t rem = a % align;

	return rem ? a + (align - rem) : a;
}

/* Whether [A, A + W) meets a range of HOLES, whose cursor *K only moves forward (A grows). */
static int in_hole(const memscan_ranges *holes, size_t *k, uint64_t a, size_t w)
{
	while (*k < holes->count && holes->items[*k].end <= a)
		(*k)++;
	return *k < holes->count && holes->items[*k].start < a + w;
}

struct scan_ctx {
	memscan_value_set *set; /* where matches go */
	const memscan_value *value;
};

struct narrow_ctx {
	const memscan_value_set *set;
	memscan_value_set *out; /* where the kept candidates go */
	const memscan_value_pred *pred;
	size_t region; /* unknown sets: the snapshot region being walked */
	size_t hole;   /* and the cursor into its holes */
};

/* A unit's walk context. */
union walk_ctx {
	struct scan_ctx scan;
	struct narrow_ctx narrow;
};

/* Called for each readable slot of a walk: its address and its bytes now. */
typedef int (*slot_fn)(void *ctx, uint64_t addr, const uint8_t *bytes);

/* What a walk does with the slots: FN(CTX, ...) for each readable one, or, when SKIP is not NULL,
 * for those SKIP finds worth it: SKIP returns the first slot at or after A (slots fit before END;
 * BUF holds the bytes from BASE on) worth handing to FN, or END when none is. */
struct walk {
	slot_fn fn;
	void *ctx;
	uint64_t (*skip)(void *ctx, uint64_t a, uint64_t end, const uint8_t *buf, uint64_t base);
};

/* Reads the slots of S's width that start in [FROM, TO) of REGION (their bytes reach at most width - 1
 * past TO, inside the region), a window at a time into BUF (VS_WINDOW + width bytes), and hands W each
 * aligned slot whose bytes could all be read. */
static int walk_span(memscan_process *proc, const memscan_value_set *s, const memscan_region *rg,
                     uint64_t from, uint64_t to, uint8_t *buf, memscan_ranges *holes, const struct walk *w)
{
	uint64_t a = align_up(from, s->align);
	int r = MEMSCAN_OK;

	while (r == MEMSCAN_OK && a < to && rg->end - a >= s->width) {
		uint64_t base = a, end = to - base > VS_WINDOW ? base + VS_WINDOW : to;
		uint64_t rend = rg->end - end > s->width - 1 ? end + s->width - 1 : rg->end;
		size_t k = 0;
		if (ms_cancelled(proc))
			return MEMSCAN_ERR_CANCELLED;
		memscan_ranges_clear(holes);
		r = ms_read_range(proc, base, buf, (size_t)(rend - base), holes, ms_region_absent_zero(rg));
		if (r == MEMSCAN_ERR_PARTIAL || r == MEMSCAN_ERR_UNREADABLE)
			r = MEMSCAN_OK; /* holes never match */
		for (; r == MEMSCAN_OK && a < end; a += s->align) {
			if (w->skip)
				a = w->skip(w->ctx, a, rend, buf, base);
			if (a >= end || rend - a < s->width)
				break;
			if (!in_hole(holes, &k, a, s->width))
				r = w->fn(w->ctx, a, buf + (a - base));
		}
		a = align_up(end, s->align);
	}
	return r;
}

/* Units of VS_UNIT bytes of slot starts over S's regions (*RET_UNITS, freed by the caller). */
static int walk_units(const memscan_value_set *s, struct vs_unit **ret_units, size_t *ret_n)
{
	size_t n = 0, k = 0, count = memscan_region_list_count(s->regions);
	struct vs_unit *u;

	for (size_t i = 0; i < count; i++) {
		const memscan_region *rg = memscan_region_list_get(s->regions, i);
		n += (size_t)((rg->end - rg->start + VS_UNIT - 1) / VS_UNIT);
	}
	u = calloc(n ? n : 1, sizeof(*u));
	if (!u)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < count; i++) {
		const memscan_region *rg = memscan_region_list_get(s->regions, i);
		for (uint64_t a = rg->start; a < rg->end; a += VS_UNIT, k++)
			u[k] = (struct vs_unit){ .region = i,
				                 .start = a,
				                 .end = rg->end - a > VS_UNIT ? a + VS_UNIT : rg->end };
	}
	*ret_units = u;
	*ret_n = n;
	return MEMSCAN_OK;
}

/* Walks every region of SET on the workers: MAKE(JOB, PART, &ctx) sets up a unit's walk into its
 * part, which the unit then runs (see walk_span); the parts are joined into OUT. */
struct walk_job {
	const memscan_value_set *set;
	void (*make)(const void *job, memscan_value_set *part, struct walk *w, union walk_ctx *ctx);
	const void *job;
};

static int walk_unit(void *p, memscan_process *proc, struct vs_scratch *sc, struct vs_unit *u)
{
	struct walk_job *j = p;
	const memscan_region *rg = memscan_region_list_get(j->set->regions, u->region);
	union walk_ctx ctx;
	struct walk w;

	j->make(j->job, u->part, &w, &ctx);
	return walk_span(proc, j->set, rg, u->start, u->end, sc->buf, &sc->holes, &w);
}

static int walk_all(memscan_process *proc, struct walk_job *j, memscan_value_set *out)
{
	struct vs_unit *units = NULL;
	size_t n = 0;
	int r = walk_units(j->set, &units, &n);

	if (r == MEMSCAN_OK)
		r = ms_value_run(proc, units, n, walk_unit, j, out);
	free(units);
	return r;
}
/* The bytes walk_span reads for the slots of S that start in [FROM, TO) of RG, window by window. */
static uint64_t span_bytes(const memscan_value_set *s, const memscan_region *rg, uint64_t from, uint64_t to)
{
	uint64_t a = align_up(from, s->align), n = 0;

	while (a < to && rg->end - a >= s->width) {
		uint64_t end = to - a > VS_WINDOW ? a + VS_WINDOW : to;

		n += (rg->end - end > s->width - 1 ? end + s->width - 1 : rg->end) - a;
		a = align_up(end, s->align);
	}
	return n;
}

/* The bytes of the pages [ADDR, ADDR + WIDTH) of each of S's candidates lies in. */
static uint64_t candidate_pages(const memscan_value_set *s)
{
	uint64_t page = memscan_page_size(), n = 0, next = 0; /* the first page not counted yet */

	for (uint64_t i = 0; i < s->count; i++) {
		uint64_t first = s->addr[i] / page, last = (s->addr[i] + s->width - 1) / page;

		if (i && first < next)
			first = next;
		if (first <= last)
			n += last - first + 1;
		if (last + 1 > next)
			next = last + 1;
	}
	return n * page;
}

uint64_t memscan_value_set_narrow_bytes(const memscan_value_set *set)
{
	uint64_t n = 0;

	if (!set)
		return 0;
	if (!set->snap)
		return candidate_pages(set);
	/* the units and windows of walk_all: a slot at a window's end is read with both */
	for (size_t i = 0; i < memscan_region_list_count(set->regions); i++) {
		const memscan_region *rg = memscan_region_list_get(set->regions, i);

		for (uint64_t a = rg->start; a < rg->end; a += VS_UNIT)
			n += span_bytes(set, rg, a, rg->end - a > VS_UNIT ? a + VS_UNIT : rg->end);
	}
	return n;
}

static int scan_slot(void *p, uint64_t addr, const uint8_t *bytes)
{
	struct scan_ctx *c = p;

	return memscan_value_matches(c->value, bytes) ? set_push(c->set, addr, bytes, NULL) : MEMSCAN_OK;
}

/* For float and integer-range scans: the first slot at or after A whose number lies in the value's
 * bounds (scan_slot checks it again), or END. */
static uint64_t skip_nomatch(void *p, uint64_t a, uint64_t end, const uint8_t *buf, uint64_t base)
{
	const struct scan_ctx *c = p;

	return ms_value_find_bounds(c->value, a, end, buf + (a - base), c->set->align, c->set->width);
}

static void scan_make(const void *job, memscan_value_set *part, struct walk *w, union walk_ctx *ctx)
{
	ctx->scan = (struct scan_ctx){ .set = part, .value = job };
	*w = (struct walk){ .fn = scan_slot, .ctx = &ctx->scan, .skip = skip_nomatch };
}

/* The bytes every match of V holds, into BUF (MEMSCAN_VALUE_STR_MAX bytes): their count, or 0 when
 * matches may differ (a float's tolerance, an integer range). */
static size_t exact_bytes(const memscan_value *v, uint8_t *buf)
{
	size_t w = memscan_value_type_size(v->type);

	if (v->type == MEMSCAN_VALUE_STR) {
		memcpy(buf, v->bytes, v->len);
		return v->len;
	}
	if (v->type == MEMSCAN_VALUE_F32 || v->type == MEMSCAN_VALUE_F64 || v->lo.u != v->hi.u)
		return 0;
	for (size_t k = 0; k < w; k++)
		buf[k] = (uint8_t)(v->lo.u >> (8 * k)); /* little-endian */
	return w;
}

struct hit_ctx {
	memscan_value_set *set;
	const uint8_t *bytes; /* the value every hit holds */
	int err;
};

static int pattern_hit(void *p, uint64_t addr, const memscan_region *rg)
{
	struct hit_ctx *c = p;

	if (!rg)
		rg =
		    memscan_region_list_get(c->set->regions, memscan_region_list_find(c->set->regions, addr));
	if (!rg || rg->end - addr < c->set->width)
		return 0; /* a match across two regions: value matches never span regions */
	c->err = set_push(c->set, addr, c->bytes, NULL);
	return c->err != MEMSCAN_OK;
}

/* An exact value is a byte pattern with an alignment: S's regions go through the pattern scanner
 * (both cores, its SIMD filter), and its hits become the candidates. */
static int scan_pattern(memscan_process *proc, memscan_value_set *s, const uint8_t *bytes, size_t len)
{
	char text[3 * MEMSCAN_VALUE_STR_MAX + 1];
	memscan_scan_options opt = { .align = s->align };
	struct hit_ctx c = { .set = s, .bytes = bytes };
	memscan_pattern *pat = NULL;
	int r;

	for (size_t k = 0; k < len; k++) {
		text[3 * k] = "0123456789abcdef"[bytes[k] >> 4];
		text[3 * k + 1] = "0123456789abcdef"[bytes[k] & 0xF];
		text[3 * k + 2] = ' ';
	}
	text[3 * len] = '\0';
	r = memscan_pattern_parse(text, &pat, NULL);
	if (r == MEMSCAN_OK)
		r = memscan_scan(proc, s->regions, pat, &opt, pattern_hit, &c, NULL);
	if (r == MEMSCAN_ERR_STOPPED && c.err != MEMSCAN_OK)
		r = c.err;
	memscan_pattern_free(pat);
	return r;
}

int memscan_value_scan(memscan_process *proc, const memscan_region_list *regions, const memscan_value *value,
                       const memscan_value_scan_options *options, memscan_value_set **ret_set)
{
	memscan_value_set *s = NULL;
	uint8_t bytes[MEMSCAN_VALUE_STR_MAX];
	size_t n;
	int r;

	if (ret_set)
		*ret_set = NULL;
	if (!ret_set || !value)
		return MEMSCAN_ERR_INVALID_ARG;
	r = set_new(proc, regions, value->type, memscan_value_width(value), options, &s);
	if (r == MEMSCAN_OK && (n = exact_bytes(value, bytes)) != 0) {
		r = scan_pattern(proc, s, bytes, n);
	} else if (r == MEMSCAN_OK) {
		struct walk_job j = { .set = s, .make = scan_make, .job = value };
		r = walk_all(proc, &j, s);
	}
	if (r == MEMSCAN_OK)
		r = memscan_process_check_alive(proc);
	if (r != MEMSCAN_OK) {
		memscan_value_set_free(s);
		return r;
	}
	*ret_set = s;
	return MEMSCAN_OK;
}

/* Aligned slots of width W in [S, E) that meet no hole of HOLES (holes are page-sized, so no slot
 * meets two). */
static uint64_t slots_in(uint64_t s, uint64_t e, uint64_t align, size_t w)
{
	uint64_t first = align_up(s, align);

	return first < e && e - first >= w ? (e - w - first) / align + 1 : 0;
}

uint64_t ms_value_set_count_unknown(const memscan_value_set *set)
{
	uint64_t n = 0;

	for (size_t i = 0; i < memscan_snapshot_region_count(set->snap); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(set->snap, i);
		n += slots_in(sr.region.start, sr.region.end, set->align, set->width);
		for (size_t h = 0; h < sr.holes->count; h++) {
			uint64_t hs = sr.holes->items[h].start, he = sr.holes->items[h].end;
			uint64_t lo =
			    hs - sr.region.start >= set->width - 1 ? hs - (set->width - 1) : sr.region.start;
			/* slots that start in [lo, he) and fit in the region meet the hole */
			n -= slots_in(
			    lo, he + set->width - 1 < sr.region.end ? he + set->width - 1 : sr.region.end,
			    set->align, set->width);
		}
	}
	return n;
}

int memscan_value_scan_unknown(memscan_process *proc, const memscan_region_list *regions,
                               memscan_value_type type, const memscan_value_scan_options *options,
                               memscan_value_set **ret_set)
{
	memscan_value_set *s = NULL;
	int r;

	if (ret_set)
		*ret_set = NULL;
	if (!ret_set || type == MEMSCAN_VALUE_STR)
		return MEMSCAN_ERR_INVALID_ARG;
	r = set_new(proc, regions, type, memscan_value_type_size(type), options, &s);
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_take(proc, s->regions, &s->snap);
	if (r != MEMSCAN_OK) {
		memscan_value_set_free(s);
		return r;
	}
	s->count = ms_value_set_count_unknown(s);
	*ret_set = s;
	return MEMSCAN_OK;
}

static int call_fn(const memscan_value_set *set, memscan_candidate_fn fn, void *ctx, uint64_t addr,
                   const uint8_t *now, const uint8_t *old)
{
	size_t i = memscan_region_list_find(set->regions, addr);
	memscan_candidate c = { .address = addr,
		                .width = set->width,
		                .value = now,
		                .old = old,
		                .region = memscan_region_list_get(set->regions, i) };

	return fn(ctx, &c) ? MEMSCAN_ERR_STOPPED : MEMSCAN_OK;
}

/* The slots of an unknown-value set, from number FIRST on. */
static int foreach_unknown(const memscan_value_set *set, uint64_t first, memscan_candidate_fn fn, void *ctx)
{
	uint64_t n = 0;
	int r = MEMSCAN_OK;

	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_snapshot_region_count(set->snap); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(set->snap, i);
		size_t k = 0;
		for (uint64_t a = align_up(sr.region.start, set->align);
		     r == MEMSCAN_OK && a < sr.region.end && sr.region.end - a >= set->width;
		     a += set->align) {
			if (in_hole(sr.holes, &k, a, set->width) || n++ < first)
				continue;
			r = call_fn(set, fn, ctx, a, sr.data + (a - sr.region.start), NULL);
		}
	}
	return r;
}

int memscan_value_set_foreach(const memscan_value_set *set, uint64_t first, memscan_candidate_fn fn,
                              void *ctx)
{
	int r = MEMSCAN_OK;

	if (!set || !fn)
		return MEMSCAN_ERR_INVALID_ARG;
	if (set->snap)
		return foreach_unknown(set, first, fn, ctx);
	for (uint64_t i = first; r == MEMSCAN_OK && i < set->count; i++)
		r = call_fn(set, fn, ctx, set->addr[i], set->cur + i * set->width,
		            set->old ? set->old + i * set->width : NULL);
	return r;
}

/* ---- narrowing ---- */

static int keep(struct narrow_ctx *c, uint64_t addr, const uint8_t *old, const uint8_t *now)
{
	if (!ms_pred_keep(c->pred, c->set->type, c->set->width, old, now))
		return MEMSCAN_OK;
	return set_push(c->out, addr, now, old);
}

/* The snapshot region of C's set that holds ADDR into *SR (addresses grow from call to call), or 0
 * when the snapshot has no bytes there (a region it found wholly unreadable). */
static int snap_at(struct narrow_ctx *c, uint64_t addr, memscan_snapshot_region *sr)
{
	size_t n = memscan_snapshot_region_count(c->set->snap);

	*sr = memscan_snapshot_get(c->set->snap, c->region);
	while (c->region < n && sr->region.end <= addr) {
		*sr = memscan_snapshot_get(c->set->snap, ++c->region);
		c->hole = 0;
	}
	return c->region < n && addr >= sr->region.start;
}

/* An unknown-value set's slot read now: compared with the snapshot's bytes, unless they were a hole
 * or the snapshot has none. */
static int narrow_slot(void *p, uint64_t addr, const uint8_t *now)
{
	struct narrow_ctx *c = p;
	memscan_snapshot_region sr;

	if (!snap_at(c, addr, &sr) || in_hole(sr.holes, &c->hole, addr, c->set->width))
		return MEMSCAN_OK;
	return keep(c, addr, sr.data + (addr - sr.region.start), now);
}

/* For CHANGED: the first slot at or after A that holds a byte that differs from the snapshot's. */
static uint64_t skip_same(void *p, uint64_t a, uint64_t end, const uint8_t *buf, uint64_t base)
{
	struct narrow_ctx *c = p;
	const memscan_value_set *s = c->set;
	memscan_snapshot_region sr;
	uint64_t d, first, stop;

	if (a >= end || !snap_at(c, a, &sr))
		return a;
	stop = end < sr.region.end ? end : sr.region.end;
	d = a + ms_find_diff(sr.data + (a - sr.region.start), buf + (a - base), 0, (size_t)(stop - a));
	if (d == stop)
		return end; /* no slot left that holds a changed byte */
	first = d >= s->width - 1 ? align_up(d - (s->width - 1), s->align) : a;
	return first > a ? first : a;
}

struct narrow_job {
	const memscan_value_set *set;
	const memscan_value_pred *pred;
};

static void narrow_make(const void *job, memscan_value_set *part, struct walk *w, union walk_ctx *ctx)
{
	const struct narrow_job *j = job;

	ctx->narrow = (struct narrow_ctx){ .set = j->set, .out = part, .pred = j->pred };
	*w = (struct walk){ .fn = narrow_slot, .ctx = &ctx->narrow };
	if (j->pred->kind == MEMSCAN_PRED_CHANGED)
		w->skip = skip_same;
}

/* Plans one batch of candidates I to TO - 1: requests for the pages the candidates hold (adjacent
 * pages merged), at most VS_SCRATCH_BYTES in all. Returns the index past the batch's last candidate. */
static size_t plan_batch(const memscan_value_set *s, size_t i, size_t to, uint8_t *buf,
                         struct ms_read_req *reqs, size_t *ret_n, memscan_ranges *holes)
{
	uint64_t page = memscan_page_size();
	size_t n = 0, used = 0;

	for (; i < to; i++) {
		uint64_t ps = s->addr[i] / page * page, pe = align_up(s->addr[i] + s->width, page);
		struct ms_read_req *last = n ? &reqs[n - 1] : NULL;
		if (last && ps <= last->addr + last->len) {
			uint64_t len = pe - last->addr;
			if (len > last->len) {
				if (used + (len - last->len) > VS_SCRATCH_BYTES)
					break;
				used += (size_t)(len - last->len);
				last->len = (size_t)len;
			}
			continue;
		}
		if (n == VS_BATCH_REQS || used + (pe - ps) > VS_SCRATCH_BYTES)
			break;
		reqs[n++] = (struct ms_read_req){
			.addr = ps, .buf = buf + used, .len = (size_t)(pe - ps), .holes = holes
		};
		used += (size_t)(pe - ps);
	}
	*ret_n = n;
	return i;
}

/* Narrows the candidates of unit U (a range of indices of the job's exact set), a batch at a time. */
static int narrow_unit(void *p, memscan_process *proc, struct vs_scratch *sc, struct vs_unit *u)
{
	const struct narrow_job *j = p;
	struct narrow_ctx c = { .set = j->set, .out = u->part, .pred = j->pred };
	const memscan_value_set *s = j->set;
	int r = MEMSCAN_OK;

	for (size_t i = (size_t)u->start; r == MEMSCAN_OK && i < u->end;) {
		size_t n = 0, end, q = 0, k = 0;
		if (ms_cancelled(proc))
			return MEMSCAN_ERR_CANCELLED;
		memscan_ranges_clear(&sc->holes);
		end = plan_batch(s, i, (size_t)u->end, sc->buf, sc->reqs, &n, &sc->holes);
		r = ms_read_batch_raw(proc, sc->reqs, n);
		for (; r == MEMSCAN_OK && i < end; i++) {
			uint64_t a = s->addr[i];
			while (a >= sc->reqs[q].addr + sc->reqs[q].len)
				q++;
			if (in_hole(&sc->holes, &k, a, s->width))
				continue;
			r = keep(&c, a, s->cur + i * s->width,
			         (const uint8_t *)sc->reqs[q].buf + (a - sc->reqs[q].addr));
		}
	}
	return r;
}

static int narrow_exact(memscan_process *proc, const struct narrow_job *j, memscan_value_set *out)
{
	size_t n = (size_t)((j->set->count + VS_NARROW_UNIT - 1) / VS_NARROW_UNIT);
	struct vs_unit *units = calloc(n ? n : 1, sizeof(*units));
	int r;

	if (!units)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t k = 0; k < n; k++)
		units[k] = (struct vs_unit){ .start = k * VS_NARROW_UNIT,
			                     .end = j->set->count - k * VS_NARROW_UNIT > VS_NARROW_UNIT
			                                ? (k + 1) * VS_NARROW_UNIT
			                                : j->set->count };
	r = ms_value_run(proc, units, n, narrow_unit, (void *)j, out);
	free(units);
	return r;
}

int memscan_value_set_narrow(memscan_process *proc, const memscan_value_set *set,
                             const memscan_value_pred *pred, uint64_t max_candidates,
                             memscan_value_set **ret_set)
{
	struct narrow_job j = { .set = set, .pred = pred };
	memscan_value_scan_options opt = { .max_candidates = max_candidates };
	memscan_value_set *out = NULL;
	int r;

	if (ret_set)
		*ret_set = NULL;
	if (!proc || !set || !ret_set)
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_pred_check(pred, set->type, set->width);
	if (r != MEMSCAN_OK)
		return r;
	if (memscan_process_pid(proc) != set->pid || memscan_process_start_time(proc) != set->start_time)
		return MEMSCAN_ERR_PROCESS_GONE; /* another process, or the PID reused */
	opt.align = set->align;
	r = set_new(proc, set->regions, set->type, set->width, &opt, &out);
	if (r == MEMSCAN_OK && set->snap) {
		struct walk_job w = { .set = set, .make = narrow_make, .job = &j };
		r = walk_all(proc, &w, out);
	} else if (r == MEMSCAN_OK) {
		r = narrow_exact(proc, &j, out);
	}
	if (r == MEMSCAN_OK)
		r = memscan_process_check_alive(proc);
	if (r != MEMSCAN_OK) {
		memscan_value_set_free(out);
		return r;
	}
	*ret_set = out;
	return MEMSCAN_OK;
}
