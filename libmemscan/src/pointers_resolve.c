/* SPDX-License-Identifier: MIT */
/* Pointer chains followed in a process or a snapshot: modules, static bases, resolve and rescan. */
#include <stdlib.h>
#include <string.h>

#include "pointers.h"

/* Most modules and bases one source has (a process has at most vm.max_map_count regions). */
#define PTR_REGIONS_MAX ((size_t)1 << 24)

/* The module name of PATH: its last component, or the whole [name]; NULL for anonymous memory. */
static const char *module_name(const char *path, size_t *ret_len)
{
	const char *slash;

	if (!path || !path[0])
		return NULL;
	slash = path[0] == '[' ? NULL : strrchr(path, '/');
	path = slash ? slash + 1 : path;
	*ret_len = strlen(path);
	return *ret_len ? path : NULL;
}

static size_t find_module(const struct ptr_modules *m, const char *name, size_t len)
{
	for (size_t i = 0; i < m->nmods; i++)
		if (m->mods[i].len == len && memcmp(m->mods[i].name, name, len) == 0)
			return i;
	return SIZE_MAX;
}

size_t ptr_modules_find(const struct ptr_modules *m, const char *name)
{
	return find_module(m, name, strlen(name));
}

/* The module of REGION (added when new, at its lowest address), or SIZE_MAX when it has no name. */
static int module_of(struct ptr_modules *m, const memscan_region *g, size_t *ret)
{
	size_t len = 0;
	const char *name = module_name(g->path, &len);
	int r;

	*ret = SIZE_MAX;
	if (!name)
		return MEMSCAN_OK;
	*ret = find_module(m, name, len);
	if (*ret != SIZE_MAX) {
		if (g->start < m->mods[*ret].load)
			m->mods[*ret].load = g->start;
		return MEMSCAN_OK;
	}
	r = ms_grow(&m->mods, &m->mods_cap, m->nmods + 1, sizeof(*m->mods), PTR_REGIONS_MAX);
	if (r != MEMSCAN_OK)
		return r;
	m->mods[m->nmods] = (struct ptr_module){ name, len, g->start };
	*ret = m->nmods++;
	return MEMSCAN_OK;
}

static int add_base(struct ptr_modules *m, const memscan_region *g, size_t module)
{
	int r = ms_grow(&m->bases, &m->bases_cap, m->nbases + 1, sizeof(*m->bases), PTR_REGIONS_MAX);

	if (r == MEMSCAN_OK)
		m->bases[m->nbases++] = (struct ptr_base){ g->start, g->end, module };
	return r;
}

int ptr_modules_build(struct ptr_modules *m, const memscan_region *const *regs, size_t count, int all)
{
	size_t mod, prev_mod = SIZE_MAX;
	int r = MEMSCAN_OK;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < count && r == MEMSCAN_OK; i++) {
		const memscan_region *g = regs[i];
		int bss =
		    prev_mod != SIZE_MAX && g->kind == MEMSCAN_KIND_ANON && regs[i - 1]->end == g->start;

		r = module_of(m, g, &mod);
		if (r != MEMSCAN_OK)
			break;
		if (mod != SIZE_MAX &&
		    (all || (g->kind == MEMSCAN_KIND_FILE && (g->perms & MEMSCAN_PERM_WRITE))))
			r = add_base(m, g, mod);
		else if (bss)
			r = add_base(m, g, prev_mod); /* a file's bss: anonymous, right after its mappings */
		prev_mod = g->kind == MEMSCAN_KIND_FILE ? mod : SIZE_MAX;
	}
	return r;
}

void ptr_modules_release(struct ptr_modules *m)
{
	free(m->mods);
	free(m->bases);
	memset(m, 0, sizeof(*m));
}

/* ---- sources ----------------------------------------------------------------------------------- */

struct ptr_src {
	memscan_process *proc;
	const memscan_snapshot *snap;
	memscan_region_list *list; /* the process's regions */
	struct ptr_modules m;
};

static int src_open(struct ptr_src *s, memscan_process *proc, const memscan_snapshot *snap)
{
	const memscan_region **regs = NULL;
	memscan_filter f;
	size_t n;
	int r;

	memset(s, 0, sizeof(*s));
	if (!proc == !snap)
		return MEMSCAN_ERR_INVALID_ARG;
	s->proc = proc;
	s->snap = snap;
	if (proc) {
		memscan_filter_default(&f);
		r = memscan_regions_read(proc, &f, &s->list);
		if (r != MEMSCAN_OK)
			return r;
	}
	n = proc ? memscan_region_list_count(s->list) : snap->count;
	regs = calloc(n ? n : 1, sizeof(*regs));
	if (!regs)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < n; i++)
		regs[i] = proc ? memscan_region_list_get(s->list, i) : &snap->regions[i].region;
	r = ptr_modules_build(&s->m, regs, n, 1);
	free(regs);
	return r;
}

static void src_close(struct ptr_src *s)
{
	ptr_modules_release(&s->m);
	memscan_region_list_free(s->list);
}

/* The pointer at ADDR: OK, UNREADABLE, PROCESS_GONE, or CANCELLED (the process's cancel question). */
static int src_read8(const struct ptr_src *s, uint64_t addr, uint64_t *ret)
{
	uint8_t b[8];
	size_t i;
	int r;

	if (s->proc) {
		r = memscan_read(s->proc, addr, b, sizeof(b), NULL);
		if (r == MEMSCAN_ERR_PROCESS_GONE || r == MEMSCAN_ERR_CANCELLED)
			return r;
		if (r != MEMSCAN_OK)
			return MEMSCAN_ERR_UNREADABLE;
	} else {
		const struct ms_snap_region *sr;

		i = ms_span_find(s->snap->regions, s->snap->count, sizeof(*s->snap->regions), addr);
		if (i == SIZE_MAX)
			return MEMSCAN_ERR_UNREADABLE;
		sr = &s->snap->regions[i];
		if (sr->region.end - addr < 8 || memscan_ranges_contains(&sr->holes, addr) ||
		    memscan_ranges_contains(&sr->holes, addr + 7))
			return MEMSCAN_ERR_UNREADABLE;
		memcpy(b, sr->data + (addr - sr->region.start), 8);
	}
	*ret = 0;
	for (int k = 7; k >= 0; k--)
		*ret = *ret << 8 | b[k];
	return MEMSCAN_OK;
}

static int resolve_in(const struct ptr_src *s, const memscan_pointer_chain *c,
                      memscan_pointer_resolution *res)
{
	size_t mod = ptr_modules_find(&s->m, c->module);
	uint64_t at, v;
	int r;

	memset(res, 0, sizeof(*res));
	if (mod == SIZE_MAX)
		return MEMSCAN_ERR_NOT_FOUND;
	at = s->m.mods[mod].load + c->offset;
	for (unsigned k = 0; k < c->depth; k++) {
		r = src_read8(s, at, &v);
		if (r != MEMSCAN_OK || v == 0) {
			res->step = k + 1;
			res->at = at;
			res->null = r == MEMSCAN_OK;
			return r == MEMSCAN_OK ? MEMSCAN_ERR_UNREADABLE : r;
		}
		at = v + (uint64_t)c->offsets[k];
	}
	res->address = at;
	return MEMSCAN_OK;
}

int memscan_pointer_resolve(memscan_process *proc, const memscan_snapshot *snap,
                            const memscan_pointer_chain *chain, memscan_pointer_resolution *result)
{
	struct ptr_src s;
	int r;

	if (result)
		memset(result, 0, sizeof(*result));
	if (!chain || !result || chain->depth < 1 || chain->depth > MEMSCAN_POINTER_DEPTH_MAX)
		return MEMSCAN_ERR_INVALID_ARG;
	r = src_open(&s, proc, snap);
	if (r == MEMSCAN_OK)
		r = resolve_in(&s, chain, result);
	src_close(&s);
	return r;
}

int memscan_pointer_rescan(memscan_process *proc, const memscan_snapshot *snap,
                           const memscan_pointer_chains *chains, uint64_t addr,
                           memscan_pointer_chains **ret_chains)
{
	memscan_pointer_chains *out = NULL;
	memscan_pointer_resolution res;
	struct ptr_src s;
	int r;

	if (ret_chains)
		*ret_chains = NULL;
	if (!chains || !ret_chains)
		return MEMSCAN_ERR_INVALID_ARG;
	r = src_open(&s, proc, snap);
	if (r == MEMSCAN_OK)
		r = memscan_pointer_chains_new(addr, &out);
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_pointer_chains_count(chains); i++) {
		const memscan_pointer_chain *c = memscan_pointer_chains_get(chains, i);
		int rr = resolve_in(&s, c, &res);

		if (rr == MEMSCAN_ERR_PROCESS_GONE || rr == MEMSCAN_ERR_CANCELLED)
			r = rr; /* not a chain that broke: the whole rescan stops */
		else if (rr == MEMSCAN_OK && res.address == addr)
			r = memscan_pointer_chains_add(out, c);
	}
	src_close(&s);
	if (r != MEMSCAN_OK) {
		memscan_pointer_chains_free(out);
		return r;
	}
	*ret_chains = out;
	return MEMSCAN_OK;
}
