/* SPDX-License-Identifier: MIT */
/* Pointer search: breadth first backwards from an address through the index to static bases. */
#include <stdlib.h>
#include <string.h>

#include "pointers.h"
#include "pointers_index.h"

/* An address reached: the offset from the pointer read to the address it leads to, and the node of
 * that address (UINT32_MAX for the start). */
struct ptr_node {
	uint64_t addr;
	int64_t offset;
	uint32_t parent;
	uint32_t level;
};

/* An entry of the index whose holder lies in a base: what the last level of a search looks at. */
struct ptr_static {
	uint64_t pos, word;
};

/* Index entries or addresses gone through between two looks at the hooks: at most a few
 * milliseconds of work, however large the windows are. */
#define PTR_SEARCH_CHECK_EVERY ((uint64_t)1 << 16)

struct search {
	const memscan_pointer_index *idx;
	const memscan_pointer_search_options *o;
	struct ms_hooks cb; /* the caller's; progress of MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL */
	uint64_t work;      /* entries and addresses gone through */
	unsigned level;     /* the level being expanded */
	size_t level_start, level_end, cur; /* its nodes, and the one being expanded */
	struct ptr_modules m;
	struct ptr_node *nodes;
	size_t nnodes, cap, max_nodes;
	uint8_t *seen;           /* one bit per word of the snapshot: followed already */
	uint8_t *basemap;        /* one bit per page of the snapshot: a base */
	struct ptr_static *stat; /* the entries whose holder is in a base, in index order */
	size_t nstat;
	memscan_pointer_chains *out;
};

void memscan_pointer_search_options_default(memscan_pointer_search_options *options)
{
	if (!options)
		return;
	memset(options, 0, sizeof(*options));
	options->depth = MEMSCAN_POINTER_DEPTH_DEFAULT;
	options->max_offset = MEMSCAN_POINTER_MAX_OFFSET_DEFAULT;
	options->max_chains = MEMSCAN_POINTER_CHAINS_DEFAULT;
	options->max_bytes = MEMSCAN_POINTER_SEARCH_BUDGET_DEFAULT;
}

/* Positions [*RET_LO, *RET_HI) of the mapped addresses in [LO, HI]; 0 when there are none. */
static int window(const memscan_pointer_index *idx, uint64_t lo, uint64_t hi, uint64_t *ret_lo,
                  uint64_t *ret_hi)
{
	size_t a = 0, b = idx->nregs, c = 0, d = idx->nregs;

	while (a < b) { /* the first region ending after LO */
		size_t mid = a + (b - a) / 2;

		if (idx->regs[mid].end <= lo)
			a = mid + 1;
		else
			b = mid;
	}
	while (c < d) { /* one past the last region starting at or before HI */
		size_t mid = c + (d - c) / 2;

		if (idx->regs[mid].start <= hi)
			c = mid + 1;
		else
			d = mid;
	}
	if (a == idx->nregs || c == 0)
		return 0;
	*ret_lo = idx->regs[a].pos + (lo > idx->regs[a].start ? lo - idx->regs[a].start : 0);
	c--;
	*ret_hi =
	    idx->regs[c].pos + ((hi < idx->regs[c].end ? hi : idx->regs[c].end - 1) - idx->regs[c].start) + 1;
	return *ret_lo < *ret_hi;
}

/* DONE of a search at its current node: each level an equal share, within a level by nodes. */
static uint64_t search_done(const struct search *s)
{
	uint64_t share = MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL / s->o->depth;
	uint64_t n = s->level_end - s->level_start;

	return share * s->level + (n ? share * (s->cur - s->level_start) / n : 0);
}

/* Counts one piece of work; every PTR_SEARCH_CHECK_EVERY of them, reports progress and asks the
 * cancel hook. CANCELLED once it says so. */
static int search_tick(struct search *s)
{
	if (++s->work % PTR_SEARCH_CHECK_EVERY)
		return MEMSCAN_OK;
	ms_progress_set(&s->cb.progress, search_done(s));
	return ms_hooks_cancelled(&s->cb) ? MEMSCAN_ERR_CANCELLED : MEMSCAN_OK;
}

static int seen_test_set(struct search *s, uint64_t word)
{
	uint8_t bit = (uint8_t)(1u << (word & 7));
	int was = (s->seen[word >> 3] & bit) != 0;

	s->seen[word >> 3] |= bit;
	return was;
}

/* Reports the chain from holder H (in base BASE) through node N with first offset OFF. */
static int emit(struct search *s, const struct ptr_base *base, uint64_t h, int64_t off, size_t n)
{
	const struct ptr_module *mod = &s->m.mods[base->module];
	memscan_pointer_chain c;
	int r;

	if (mod->len >= MEMSCAN_POINTER_MODULE_MAX)
		return MEMSCAN_OK; /* a name no chain can carry */
	memset(&c, 0, sizeof(c));
	memcpy(c.module, mod->name, mod->len);
	c.offset = h - mod->load;
	c.offsets[c.depth++] = off;
	for (; s->nodes[n].parent != UINT32_MAX; n = s->nodes[n].parent)
		c.offsets[c.depth++] = s->nodes[n].offset;
	r = memscan_pointer_chains_add(s->out, &c);
	if (r == MEMSCAN_OK && memscan_pointer_chains_count(s->out) >= s->o->max_chains)
		return MEMSCAN_ERR_STOPPED;
	return r;
}

/* Whether the holder word WORD lies in a base (one bit per page of positions: bases are regions). */
static int in_base(const struct search *s, uint64_t word)
{
	uint64_t page = word >> 9;

	return (s->basemap[page >> 3] >> (page & 7)) & 1;
}

/* One holder (word number WORD) of a pointer to position POS found for node N (address T). */
static int holder(struct search *s, size_t n, uint64_t t, uint64_t pos, uint64_t word)
{
	uint32_t level = s->nodes[n].level + 1;
	int base = in_base(s, word), r;
	uint64_t h, v;

	if (!base && level >= s->o->depth)
		return MEMSCAN_OK; /* the last level: only chains end here */
	h = ptr_index_addr(s->idx, word * 8);
	v = ptr_index_addr(s->idx, pos);
	if (base) {
		size_t b = ms_span_find(s->m.bases, s->m.nbases, sizeof(*s->m.bases), h);

		r = b == SIZE_MAX ? MEMSCAN_OK : emit(s, &s->m.bases[b], h, (int64_t)(t - v), n);
		if (r != MEMSCAN_OK)
			return r;
	}
	if (level >= s->o->depth || seen_test_set(s, word))
		return MEMSCAN_OK;
	if (s->nnodes >= s->max_nodes)
		return MEMSCAN_ERR_LIMIT;
	r = ms_grow(&s->nodes, &s->cap, s->nnodes + 1, sizeof(*s->nodes), s->max_nodes);
	if (r != MEMSCAN_OK)
		return r;
	s->nodes[s->nnodes++] = (struct ptr_node){ h, (int64_t)(t - v), (uint32_t)n, level };
	return MEMSCAN_OK;
}

/* The holders in bases of pointers into [PLO, PHI), for node N at the last level: the same ones, in
 * the same order, as the whole index gives, from the short list of base entries. */
static int visit_static(struct search *s, size_t n, uint64_t plo, uint64_t phi)
{
	size_t a = 0, z = s->nstat;
	int r;

	while (a < z) { /* the first entry of PLO's bucket or a later one */
		size_t mid = a + (z - a) / 2;

		if (s->stat[mid].pos >> PTR_BUCKET_SHIFT < plo >> PTR_BUCKET_SHIFT)
			a = mid + 1;
		else
			z = mid;
	}
	for (; a < s->nstat && s->stat[a].pos >> PTR_BUCKET_SHIFT <= (phi - 1) >> PTR_BUCKET_SHIFT; a++) {
		r = search_tick(s);
		if (r == MEMSCAN_OK && s->stat[a].pos >= plo && s->stat[a].pos < phi)
			r = holder(s, n, s->nodes[n].addr, s->stat[a].pos, s->stat[a].word);
		if (r != MEMSCAN_OK)
			return r;
	}
	return MEMSCAN_OK;
}

/* Every holder of a pointer into node N's window, bucket by bucket, each in holder order. */
static int visit(struct search *s, size_t n)
{
	const memscan_pointer_index *idx = s->idx;
	uint64_t t = s->nodes[n].addr, mo = s->o->max_offset, plo, phi;
	uint64_t lo = t >= mo ? t - mo : 0, hi = t;
	int r;

	if (s->o->flags & MEMSCAN_POINTER_NEGATIVE)
		hi = t + mo < t ? UINT64_MAX : t + mo;
	if (!window(idx, lo, hi, &plo, &phi))
		return MEMSCAN_OK;
	if (s->nodes[n].level + 1 >= s->o->depth)
		return visit_static(s, n, plo, phi);
	for (uint64_t bk = plo >> PTR_BUCKET_SHIFT; bk <= (phi - 1) >> PTR_BUCKET_SHIFT; bk++) {
		r = search_tick(s); /* a wide window may cross many empty buckets */
		if (r != MEMSCAN_OK)
			return r;
		for (uint64_t e = idx->bucket[bk]; e < idx->bucket[bk + 1]; e++) {
			uint64_t pos = bk << PTR_BUCKET_SHIFT | idx->entries[e] >> 32;

			r = search_tick(s);
			if (r == MEMSCAN_OK && pos >= plo && pos < phi)
				r = holder(s, n, t, pos, idx->entries[e] & UINT32_MAX);
			if (r != MEMSCAN_OK)
				return r;
		}
	}
	return MEMSCAN_OK;
}

/* Marks the pages of positions that the bases cover. */
static int basemap_build(struct search *s, uint64_t bytes)
{
	s->basemap = calloc(1, (size_t)bytes);
	if (!s->basemap)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < s->m.nbases; i++) {
		size_t ri = ptr_index_region(s->idx, s->m.bases[i].start);
		const struct ptr_ireg *g = &s->idx->regs[ri];
		uint64_t p0 = g->pos + (s->m.bases[i].start - g->start),
		         p1 = p0 + (s->m.bases[i].end - s->m.bases[i].start);

		for (uint64_t page = p0 >> 12; page < (p1 + 4095) >> 12; page++)
			s->basemap[page >> 3] |= (uint8_t)(1u << (page & 7));
	}
	return MEMSCAN_OK;
}

/* Whether the cancel hook says to stop, asked at every PTR_SETUP_CHECK_EVERY-th step I of a loop. */
static int setup_cancelled(const struct search *s, uint64_t i)
{
	return i % PTR_SETUP_CHECK_EVERY == 0 && ms_hooks_cancelled(&s->cb);
}

/* Lists the entries whose holder is in a base, if they fit in BUDGET bytes (RET_BYTES: their size). */
static int static_build(struct search *s, uint64_t budget, uint64_t *ret_bytes)
{
	const memscan_pointer_index *idx = s->idx;
	size_t n = 0;

	for (uint64_t e = 0; e < idx->count; e++) {
		if (setup_cancelled(s, e))
			return MEMSCAN_ERR_CANCELLED;
		n += (size_t)in_base(s, idx->entries[e] & UINT32_MAX);
	}
	*ret_bytes = (uint64_t)n * sizeof(*s->stat);
	if (*ret_bytes > budget)
		return MEMSCAN_ERR_LIMIT;
	s->stat = malloc(n ? n * sizeof(*s->stat) : 1);
	if (!s->stat)
		return MEMSCAN_ERR_NO_MEMORY;
	/* by entry, not by bucket: one bucket may hold most of them (a vtable every object points to) */
	for (uint64_t e = 0, bk = 0; e < idx->count; e++) {
		if (setup_cancelled(s, e))
			return MEMSCAN_ERR_CANCELLED;
		while (idx->bucket[bk + 1] <= e)
			bk++;
		if (in_base(s, idx->entries[e] & UINT32_MAX))
			s->stat[s->nstat++] =
			    (struct ptr_static){ bk << PTR_BUCKET_SHIFT | idx->entries[e] >> 32,
				                 idx->entries[e] & UINT32_MAX };
	}
	return MEMSCAN_OK;
}

static int search_setup(struct search *s, uint64_t addr)
{
	const memscan_snapshot *snap = s->idx->snap;
	const memscan_region **regs = calloc(snap->count ? snap->count : 1, sizeof(*regs));
	uint64_t seen_bytes = s->idx->total / 64 + 1, map_bytes = s->idx->total / 32768 + 1, stat_bytes;
	size_t ri;
	int r;

	if (!regs)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < snap->count; i++)
		regs[i] = &snap->regions[i].region;
	r = ptr_modules_build(&s->m, regs, snap->count, (s->o->flags & MEMSCAN_POINTER_ALL_BASES) != 0);
	free(regs);
	if (r != MEMSCAN_OK)
		return r;
	if (seen_bytes + map_bytes + sizeof(*s->nodes) > s->o->max_bytes)
		return MEMSCAN_ERR_LIMIT;
	r = basemap_build(s, map_bytes);
	if (r == MEMSCAN_OK)
		r = static_build(s, s->o->max_bytes - seen_bytes - map_bytes - sizeof(*s->nodes),
		                 &stat_bytes);
	if (r != MEMSCAN_OK)
		return r;
	s->max_nodes = (size_t)((s->o->max_bytes - seen_bytes - map_bytes - stat_bytes) / sizeof(*s->nodes));
	if (s->max_nodes > UINT32_MAX)
		s->max_nodes = UINT32_MAX;
	s->seen = calloc(1, (size_t)seen_bytes);
	if (!s->seen)
		return MEMSCAN_ERR_NO_MEMORY;
	ri = ptr_index_region(s->idx, addr);
	if ((addr & 7) == 0) /* the start is followed already */
		seen_test_set(s, (s->idx->regs[ri].pos + (addr - s->idx->regs[ri].start)) / 8);
	r = ms_grow(&s->nodes, &s->cap, 1, sizeof(*s->nodes), s->max_nodes);
	if (r == MEMSCAN_OK)
		s->nodes[s->nnodes++] = (struct ptr_node){ addr, 0, UINT32_MAX, 0 };
	return r;
}

static int search_run(struct search *s)
{
	int r = MEMSCAN_OK;

	for (s->level = 0; s->level < s->o->depth && s->level_start < s->nnodes; s->level++) {
		s->level_end = s->nnodes;
		for (s->cur = s->level_start; s->cur < s->level_end && r == MEMSCAN_OK; s->cur++) {
			r = search_tick(s);
			if (r == MEMSCAN_OK)
				r = visit(s, s->cur);
		}
		if (r != MEMSCAN_OK)
			break;
		s->level_start = s->level_end;
	}
	if (r == MEMSCAN_OK || r == MEMSCAN_ERR_STOPPED)
		ms_progress_final(&s->cb.progress, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL);
	return r == MEMSCAN_ERR_STOPPED ? MEMSCAN_OK : r;
}

int memscan_pointer_search(const memscan_pointer_index *index, uint64_t addr,
                           const memscan_pointer_search_options *options, memscan_pointer_chains **ret_chains)
{
	return memscan_pointer_search_hooked(index, addr, options, NULL, ret_chains);
}

int memscan_pointer_search_hooked(const memscan_pointer_index *index, uint64_t addr,
                                  const memscan_pointer_search_options *options, const memscan_hooks *hooks,
                                  memscan_pointer_chains **ret_chains)
{
	memscan_pointer_search_options defaults;
	struct search s = { .idx = index, .o = options };
	int r;

	if (ret_chains)
		*ret_chains = NULL;
	if (!options) {
		memscan_pointer_search_options_default(&defaults);
		s.o = &defaults;
	}
	if (!index || !ret_chains || s.o->depth < 1 || s.o->depth > MEMSCAN_POINTER_DEPTH_MAX ||
	    s.o->max_chains < 1 || s.o->max_chains > MEMSCAN_POINTER_CHAINS_MAX)
		return MEMSCAN_ERR_INVALID_ARG;
	if (ptr_index_region(index, addr) == SIZE_MAX)
		return MEMSCAN_ERR_NOT_FOUND;
	ms_hooks_init(&s.cb, hooks);
	r = memscan_pointer_chains_new(addr, &s.out);
	if (r == MEMSCAN_OK)
		r = search_setup(&s, addr);
	if (r == MEMSCAN_OK)
		r = search_run(&s);
	ptr_modules_release(&s.m);
	free(s.nodes);
	free(s.seen);
	free(s.basemap);
	free(s.stat);
	if (r != MEMSCAN_OK) {
		memscan_pointer_chains_free(s.out);
		return r;
	}
	*ret_chains = s.out;
	return MEMSCAN_OK;
}
