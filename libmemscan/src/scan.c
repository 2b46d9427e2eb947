/* SPDX-License-Identifier: MIT */
/* Pattern scanner: a streaming matcher fed with address-ordered segments of local or remote memory. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pattern.h"

/* Largest single read of a region in the default mode (cache-sized: the matcher then reads the
 * bytes hot, and a call this large is near the copy ceiling), and the chunk size with no_memmap. */
#define MS_SCAN_PIECE_MAX ((size_t)1 << 20)
#define MS_SCAN_CHUNK     ((size_t)64 << 10)

/* A pattern is at most MEMSCAN_PATTERN_MAX bytes, so a match straddles at most this many bytes
 * of the memory fed before a segment. */
#define MS_CARRY_MAX (MEMSCAN_PATTERN_MAX - 1)

/*
 * The streaming matcher. Segments are fed in ascending address order; a segment that starts where
 * the previous one ended continues the same stream, so a match may start in the carry (the last
 * len - 1 bytes of the stream) and end in the new segment. Such junction matches are reported
 * before the segment's own, which keeps matches in strict address order.
 */
struct ms_matcher {
	const memscan_pattern *pat;
	uint64_t align; /* >= 1 */
	uint64_t max;   /* 0 = no limit */
	memscan_match_fn on_match;
	void *ctx;
	const memscan_region_list *regions; /* to name the region of a junction match; may be NULL */
	uint64_t count;
	int full; /* max results reached */

	int fed;                            /* a segment was fed: carry_end is meaningful */
	uint64_t carry_end;                 /* one past the last byte fed */
	uint64_t seg_start;                 /* start of the last segment fed ... */
	const memscan_region *seg_region;   /* ... and its region */
	size_t carry_len;                   /* <= pat->len - 1 */
	uint8_t carry[MS_CARRY_MAX];        /* the stream's last carry_len bytes, ending at carry_end */
	uint8_t junction[2 * MS_CARRY_MAX]; /* carry + the head of the new segment */
	uint64_t *table;                    /* ms_match_block's cache: kept across matcher_init */
};

static void matcher_init(struct ms_matcher *m, const memscan_pattern *pat, const memscan_scan_options *opt,
                         memscan_match_fn on_match, void *ctx)
{
	memset(m, 0, offsetof(struct ms_matcher, carry));
	m->pat = pat;
	m->align = opt && opt->align > 1 ? opt->align : 1;
	m->max = opt ? opt->max_results : 0;
	m->on_match = on_match;
	m->ctx = ctx;
}

/* Frees a matcher allocated with calloc (NULL is fine). */
static void matcher_free(struct ms_matcher *m)
{
	if (m)
		ms_match_free(m->table);
	free(m);
}

/* Reports a match at ADDR: MEMSCAN_OK to go on (m->full tells whether to stop), or STOPPED. */
static int report(struct ms_matcher *m, uint64_t addr, const memscan_region *region)
{
	m->count++;
	if (m->on_match && m->on_match(m->ctx, addr, region))
		return MEMSCAN_ERR_STOPPED;
	if (m->max && m->count >= m->max)
		m->full = 1;
	return MEMSCAN_OK;
}

/* Where ms_match_block's hits go: the matcher, at ADDR + start, in REGION (NULL: looked up). */
struct ms_feed {
	struct ms_matcher *m;
	uint64_t addr;
	const memscan_region *region;
};

static const memscan_region *region_of(const struct ms_matcher *m, uint64_t addr);

static int feed_hit(void *ctx, size_t start)
{
	struct ms_feed *f = ctx;
	uint64_t addr = f->addr + start;
	int err = report(f->m, addr, f->region ? f->region : region_of(f->m, addr));

	return err ? err : f->m->full ? MS_MATCH_FULL : 0;
}

/* Matches starting in DATA's first STARTS bytes (DATA holds STARTS + len - 1): OK or STOPPED. */
static int match_block(struct ms_matcher *m, const uint8_t *data, size_t starts, uint64_t addr,
                       const memscan_region *region)
{
	struct ms_feed f = { m, addr, region };
	struct ms_block b = { data, starts, addr, m->align, feed_hit, &f, &m->table };
	int err = ms_match_block(m->pat, &b);

	return err == MS_MATCH_FULL ? MEMSCAN_OK : err;
}

/* Region holding ADDR, a byte fed before the current segment: the previous segment's region when
 * ADDR lies in it, else looked up in the region list (sorted by address). */
static const memscan_region *region_of(const struct ms_matcher *m, uint64_t addr)
{
	size_t i;

	if (addr >= m->seg_start || !m->regions)
		return m->seg_region;
	i = memscan_region_list_find(m->regions, addr);
	return i == SIZE_MAX ? m->seg_region : memscan_region_list_get(m->regions, i);
}

/* Matches starting in the carry and ending in the segment DATA (LEN bytes at ADDR). */
static int scan_junction(struct ms_matcher *m, const uint8_t *data, size_t len)
{
	size_t plen = m->pat->len, head, total, starts;
	uint64_t base = m->carry_end - m->carry_len;

	head = len < plen - 1 ? len : plen - 1;
	total = m->carry_len + head;
	if (total < plen)
		return MEMSCAN_OK;
	memcpy(m->junction, m->carry, m->carry_len);
	memcpy(m->junction + m->carry_len, data, head);
	starts = total - plen + 1 < m->carry_len ? total - plen + 1 : m->carry_len;
	return match_block(m, m->junction, starts, base, NULL);
}

/* Appends DATA to the stream's tail, keeping its last len - 1 bytes. */
static void carry_update(struct ms_matcher *m, const uint8_t *data, size_t len, uint64_t addr)
{
	size_t want = m->pat->len - 1, keep;

	if (len >= want) {
		memcpy(m->carry, data + len - want, want);
		m->carry_len = want;
	} else {
		keep = m->carry_len < want - len ? m->carry_len : want - len;
		memmove(m->carry, m->carry + m->carry_len - keep, keep);
		memcpy(m->carry + keep, data, len);
		m->carry_len = keep + len;
	}
	m->carry_end = addr + len;
}

/* Feeds LEN bytes at ADDR (inside REGION, may be NULL). OK (check m->full) or STOPPED. */
static int matcher_feed(struct ms_matcher *m, const uint8_t *data, size_t len, uint64_t addr,
                        const memscan_region *region)
{
	int err = MEMSCAN_OK;

	if (len == 0 || m->full)
		return MEMSCAN_OK;
	if (!m->fed || m->carry_end != addr)
		m->carry_len = 0;
	err = scan_junction(m, data, len);
	if (!err && !m->full && len >= m->pat->len)
		err = match_block(m, data, len - m->pat->len + 1, addr, region);
	carry_update(m, data, len, addr);
	m->fed = 1;
	m->seg_start = addr;
	m->seg_region = region;
	return err;
}

int memscan_scan_buffer(const uint8_t *data, size_t len, uint64_t base, const memscan_pattern *pattern,
                        const memscan_scan_options *options, memscan_match_fn on_match, void *ctx,
                        uint64_t *ret_matches)
{
	struct ms_matcher *m;
	int err;

	if (ret_matches)
		*ret_matches = 0;
	if (!pattern || (!data && len) || (uint64_t)len > UINT64_MAX - base)
		return MEMSCAN_ERR_INVALID_ARG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return MEMSCAN_ERR_NO_MEMORY;
	matcher_init(m, pattern, options, on_match, ctx);
	err = matcher_feed(m, data, len, base, NULL);
	if (!err && ret_matches)
		*ret_matches = m->count;
	matcher_free(m);
	return err;
}

/* ---------------------------------------------------------------------------------------------
 * Scanning a process
 * ------------------------------------------------------------------------------------------- */

/* What one memscan_scan owns: the matcher, the read buffer and the holes of the last read. */
struct ms_scan {
	memscan_process *proc;
	struct ms_matcher *m;
	size_t chunk_max; /* largest single read */
	uint8_t *buf;
	size_t buf_len;
	memscan_ranges holes;
};

/* Allocates the read buffer once, for the largest single read of REGIONS. */
static int scan_buf_alloc(struct ms_scan *s, const memscan_region_list *regions)
{
	size_t i, n = memscan_region_list_count(regions), len = 0;
	const memscan_region *r;

	for (i = 0; i < n; i++) {
		r = memscan_region_list_get(regions, i);
		if (r && r->end > r->start && r->end - r->start > len)
			len = r->end - r->start < s->chunk_max ? (size_t)(r->end - r->start) : s->chunk_max;
	}
	if (len == 0)
		return MEMSCAN_OK;
	s->buf = ms_buf_alloc(len);
	if (!s->buf)
		return MEMSCAN_ERR_NO_MEMORY;
	s->buf_len = len;
	return MEMSCAN_OK;
}

/* Feeds the readable parts of a partial read of LEN bytes at ADDR: the gaps between its holes
 * become separate segments, so no match covers a hole. */
static int feed_partial(struct ms_scan *s, uint64_t addr, size_t len, const memscan_region *region)
{
	uint64_t cur = addr, end = addr + len, hs, he;
	size_t i;
	int err;

	for (i = 0; i < s->holes.count && cur < end; i++) {
		hs = s->holes.items[i].start < cur ? cur : s->holes.items[i].start;
		he = s->holes.items[i].end > end ? end : s->holes.items[i].end;
		if (hs >= he)
			continue;
		err = matcher_feed(s->m, s->buf + (cur - addr), (size_t)(hs - cur), cur, region);
		if (err || s->m->full)
			return err;
		cur = he;
	}
	return matcher_feed(s->m, s->buf + (cur - addr), (size_t)(end - cur), cur, region);
}

/* Reads and scans LEN bytes at ADDR. Unreadable pieces are skipped (the next read is then not
 * contiguous with what was fed before it). */
static int scan_piece(struct ms_scan *s, uint64_t addr, size_t len, const memscan_region *region)
{
	int err;

	memscan_ranges_clear(&s->holes);
	err = ms_read_range(s->proc, addr, s->buf, len, &s->holes, ms_region_absent_zero(region));
	if (err == MEMSCAN_OK)
		return matcher_feed(s->m, s->buf, len, addr, region);
	if (err == MEMSCAN_ERR_PARTIAL)
		return feed_partial(s, addr, len, region);
	if (err == MEMSCAN_ERR_UNREADABLE)
		return MEMSCAN_OK;
	return err;
}

static int scan_region(struct ms_scan *s, const memscan_region *region)
{
	uint64_t addr, left;
	size_t len;
	int err;

	for (addr = region->start; addr < region->end && !s->m->full; addr += len) {
		left = region->end - addr;
		len = left < s->chunk_max ? (size_t)left : s->chunk_max;
		err = scan_piece(s, addr, len, region);
		if (err)
			return err;
	}
	return MEMSCAN_OK;
}

static int scan_regions(struct ms_scan *s, const memscan_region_list *regions)
{
	size_t i, n = memscan_region_list_count(regions);
	const memscan_region *r;
	int err;

	for (i = 0; i < n && !s->m->full; i++) {
		r = memscan_region_list_get(regions, i);
		if (!r || r->end <= r->start)
			continue;
		err = scan_region(s, r);
		if (err)
			return err;
	}
	return MEMSCAN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parallel scan: workers read and match units of the stream into lists of hits; the caller reports
 * them in address order (same matches, same order, same callbacks on the caller's thread)
 * ------------------------------------------------------------------------------------------- */

#define MS_SCAN_UNIT       ((uint64_t)4 << 20)
#define MS_SCAN_PAR_MIN    ((uint64_t)16 << 20)
#define MS_UNIT_HITS_MAX   ((size_t)1 << 16) /* beyond this the caller rescans the unit itself */
#define MS_UNITS_IN_FLIGHT 4                 /* per worker: bounds the hits held in memory */

struct ms_hit {
	uint64_t addr;
	const memscan_region *region;
};

struct ms_sunit {
	size_t region; /* index in the list */
	uint64_t start, end;
	struct ms_hit *hits;
	size_t count, cap;
	int err, overflow, done;
};

struct ms_pscan {
	memscan_process *proc;
	const memscan_region_list *regions;
	const memscan_pattern *pat;
	const memscan_scan_options *opt;
	size_t chunk;
	struct ms_sunit *units;
	size_t n, next, emitted; /* next: first unclaimed unit; emitted: units reported */
	int stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ms_matcher *main; /* the caller's matcher: count, max, callback */
	int refused[MS_WORKERS_MAX];
};

/* Where a unit's hits go: collected by a worker, or forwarded to the caller's matcher. */
struct ms_sink {
	struct ms_pscan *ps;
	struct ms_sunit *u;
	int forward, stopped;
};

static int sink_hit(void *ctx, uint64_t addr, const memscan_region *region)
{
	struct ms_sink *k = ctx;
	struct ms_sunit *u = k->u;

	if (addr >= u->end)
		return 0; /* starts in the overlap: the next unit reports it */
	if (k->forward) {
		if (report(k->ps->main, addr, region) != MEMSCAN_OK)
			k->stopped = 1;
		return k->stopped || k->ps->main->full;
	}
	if (u->count == u->cap &&
	    ms_grow(&u->hits, &u->cap, u->count + 1, sizeof(*u->hits), MS_UNIT_HITS_MAX) != 0) {
		u->overflow = 1; /* at the maximum or out of memory: the caller rescans the unit itself */
		return 1;
	}
	u->hits[u->count++] = (struct ms_hit){ addr, region };
	return 0;
}

/* The next listed, non-empty region after index I if it starts at ADDR, else SIZE_MAX. */
static size_t next_contiguous(const memscan_region_list *list, size_t i, uint64_t addr)
{
	size_t n = memscan_region_list_count(list);

	for (i++; i < n; i++) {
		const memscan_region *r = memscan_region_list_get(list, i);
		if (r && r->end > r->start)
			return r->start == addr ? i : SIZE_MAX;
	}
	return SIZE_MAX;
}

/* Feeds up to len - 1 bytes of the stream after the unit, so matches starting in it are whole. */
static int feed_overlap(struct ms_scan *s, const struct ms_pscan *ps, const struct ms_sunit *u)
{
	size_t need = ps->pat->len - 1, ri = u->region, len;
	uint64_t addr = u->end;
	const memscan_region *r = memscan_region_list_get(ps->regions, ri);
	int err = MEMSCAN_OK;

	while (need && !err) {
		if (addr >= r->end) {
			ri = next_contiguous(ps->regions, ri, addr);
			if (ri == SIZE_MAX)
				break;
			r = memscan_region_list_get(ps->regions, ri);
		}
		len = r->end - addr < need ? (size_t)(r->end - addr) : need;
		err = scan_piece(s, addr, len, r);
		need -= len;
		addr += len;
	}
	return err;
}

/* Reads and matches unit U with S (its buffer and matcher), sending hits to SINK. */
static int scan_unit(struct ms_scan *s, struct ms_pscan *ps, struct ms_sunit *u, struct ms_sink *sink)
{
	const memscan_region *r = memscan_region_list_get(ps->regions, u->region);
	int err = MEMSCAN_OK;
	size_t len;

	matcher_init(s->m, ps->pat, ps->opt, sink_hit, sink);
	s->m->max = 0;
	s->m->regions = ps->regions;
	for (uint64_t a = u->start; a < u->end && !err; a += len) {
		len = u->end - a < s->chunk_max ? (size_t)(u->end - a) : s->chunk_max;
		err = scan_piece(s, a, len, r);
	}
	if (!err)
		err = feed_overlap(s, ps, u);
	return err;
}

/* Claims the next unit for a worker (NULL when there is none or the caller is done). */
static struct ms_sunit *claim(struct ms_pscan *ps, int wait_window)
{
	struct ms_sunit *u = NULL;
	size_t window = MS_UNITS_IN_FLIGHT * MS_WORKERS_MAX;

	pthread_mutex_lock(&ps->lock);
	while (wait_window && !ps->stop && ps->next < ps->n && ps->next >= ps->emitted + window)
		pthread_cond_wait(&ps->cond, &ps->lock);
	if (!ps->stop && ps->next < ps->n)
		u = &ps->units[ps->next++];
	pthread_mutex_unlock(&ps->lock);
	return u;
}

static void unit_done(struct ms_pscan *ps, struct ms_sunit *u)
{
	pthread_mutex_lock(&ps->lock);
	u->done = 1;
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
}

/* A worker's own read buffer and matcher. */
static int worker_scan_init(struct ms_scan *s, const struct ms_pscan *ps, memscan_process *proc)
{
	memset(s, 0, sizeof(*s));
	s->proc = proc;
	s->chunk_max = ps->chunk;
	s->m = calloc(1, sizeof(*s->m));
	s->buf = ms_buf_alloc(ps->chunk);
	s->buf_len = ps->chunk;
	return s->m && s->buf ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

static void worker_scan_free(struct ms_scan *s)
{
	ms_buf_free(s->buf, s->buf_len);
	memscan_ranges_release(&s->holes);
	matcher_free(s->m);
}

static void collect_unit(struct ms_scan *s, struct ms_pscan *ps, struct ms_sunit *u, int ready)
{
	struct ms_sink sink = { .ps = ps, .u = u };

	u->err = ready;
	if (ready == MEMSCAN_OK)
		u->err = scan_unit(s, ps, u, &sink);
	if (u->overflow)
		u->err = MEMSCAN_OK; /* the caller rescans it */
	unit_done(ps, u);
}

static void pscan_worker(struct ms_pscan *ps, unsigned index)
{
	memscan_process proc = *ps->proc; /* own copy: readv_refused is written while reading */
	struct ms_scan s;
	struct ms_sunit *u;
	int ready = worker_scan_init(&s, ps, &proc);

	while ((u = claim(ps, 1)) != NULL)
		collect_unit(&s, ps, u, ready);
	worker_scan_free(&s);
	ps->refused[index] = proc.readv_refused;
}

/* Reports unit U's hits through the caller's matcher (or rescans it when its hits overflowed). */
static int emit_unit(struct ms_scan *s, struct ms_pscan *ps, struct ms_sunit *u)
{
	struct ms_sink sink = { .ps = ps, .u = u, .forward = 1 };
	int err = MEMSCAN_OK;

	if (u->overflow) {
		u->count = 0;
		err = scan_unit(s, ps, u, &sink);
		if (sink.stopped)
			return MEMSCAN_ERR_STOPPED;
		return err == MEMSCAN_ERR_STOPPED && ps->main->full ? MEMSCAN_OK : err;
	}
	for (size_t i = 0; i < u->count && !err && !ps->main->full; i++)
		err = report(ps->main, u->hits[i].addr, u->hits[i].region);
	return err ? err : u->err;
}

/* The caller's part: waits for each unit in order (scanning it itself if nobody took it yet). */
static int pscan_emitter(struct ms_pscan *ps, unsigned index)
{
	memscan_process proc = *ps->proc;
	struct ms_scan s;
	int err = worker_scan_init(&s, ps, &proc);

	for (size_t k = 0; k < ps->n && !err && !ps->main->full; k++) {
		struct ms_sunit *u = &ps->units[k], *mine = NULL;
		pthread_mutex_lock(&ps->lock);
		if (ps->next == k)
			mine = &ps->units[ps->next++];
		while (!mine && !u->done)
			pthread_cond_wait(&ps->cond, &ps->lock);
		pthread_mutex_unlock(&ps->lock);
		if (mine)
			collect_unit(&s, ps, mine, MEMSCAN_OK);
		err = emit_unit(&s, ps, u);
		free(u->hits);
		u->hits = NULL;
		pthread_mutex_lock(&ps->lock);
		ps->emitted = k + 1;
		pthread_cond_broadcast(&ps->cond);
		pthread_mutex_unlock(&ps->lock);
	}
	pthread_mutex_lock(&ps->lock);
	ps->stop = 1;
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
	worker_scan_free(&s);
	ps->refused[index] = proc.readv_refused;
	return err;
}

struct ms_pscan_run {
	struct ms_pscan *ps;
	int err;
};

static void pscan_main(void *p, unsigned index)
{
	struct ms_pscan_run *run = p;

	if (index == 0)
		run->err = pscan_emitter(run->ps, index);
	else
		pscan_worker(run->ps, index);
}

/* Cuts the non-empty regions of the list into units. */
static int pscan_plan(struct ms_pscan *ps)
{
	size_t n = memscan_region_list_count(ps->regions), k = 0, total = 0;

	for (size_t i = 0; i < n; i++) {
		const memscan_region *r = memscan_region_list_get(ps->regions, i);
		if (r && r->end > r->start)
			total += (size_t)((r->end - r->start + MS_SCAN_UNIT - 1) / MS_SCAN_UNIT);
	}
	ps->units = calloc(total ? total : 1, sizeof(*ps->units));
	if (!ps->units)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < n; i++) {
		const memscan_region *r = memscan_region_list_get(ps->regions, i);
		for (uint64_t a = r ? r->start : 0; r && a < r->end; a += MS_SCAN_UNIT, k++) {
			ps->units[k].region = i;
			ps->units[k].start = a;
			ps->units[k].end = r->end - a < MS_SCAN_UNIT ? r->end : a + MS_SCAN_UNIT;
		}
	}
	ps->n = k;
	return MEMSCAN_OK;
}

static int scan_parallel(struct ms_pscan *ps, unsigned workers)
{
	struct ms_pscan_run run = { .ps = ps };
	int err = pscan_plan(ps);

	if (err)
		return err;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->cond, NULL);
	ms_run_workers(workers + 1, pscan_main, &run);
	pthread_cond_destroy(&ps->cond);
	pthread_mutex_destroy(&ps->lock);
	for (unsigned k = 0; k <= workers && k < MS_WORKERS_MAX; k++)
		if (ps->refused[k])
			ps->proc->readv_refused = 1;
	for (size_t k = 0; k < ps->n; k++)
		free(ps->units[k].hits);
	free(ps->units);
	return run.err;
}

/* Scans with workers when that pays off; *RET_DONE = 0 asks for the sequential path. */
static int scan_try_parallel(struct ms_pscan *ps, int *ret_done)
{
	unsigned workers = ms_worker_count();

	*ret_done = 0;
	if (workers < 2 || memscan_region_list_bytes(ps->regions) < MS_SCAN_PAR_MIN)
		return MEMSCAN_OK;
	if (workers + 1 > MS_WORKERS_MAX)
		workers = MS_WORKERS_MAX - 1;
	*ret_done = 1;
	return scan_parallel(ps, workers);
}

/* REGIONS == NULL scans the regions memscan_filter_default selects, listed now. */
int memscan_scan(memscan_process *proc, const memscan_region_list *regions, const memscan_pattern *pattern,
                 const memscan_scan_options *options, memscan_match_fn on_match, void *ctx,
                 uint64_t *ret_matches)
{
	struct ms_scan s = { .proc = proc };
	memscan_region_list *own = NULL;
	memscan_filter filter;
	int err = MEMSCAN_OK;

	if (ret_matches)
		*ret_matches = 0;
	if (!proc || !pattern)
		return MEMSCAN_ERR_INVALID_ARG;
	ms_process_prepare_absent(proc);
	if (!regions) {
		memscan_filter_default(&filter);
		err = memscan_regions_read(proc, &filter, &own);
		if (err)
			return err;
		regions = own;
	}
	s.m = calloc(1, sizeof(*s.m));
	if (!s.m)
		err = MEMSCAN_ERR_NO_MEMORY;
	if (!err) {
		matcher_init(s.m, pattern, options, on_match, ctx);
		s.m->regions = regions;
		s.chunk_max = options && options->no_memmap ? MS_SCAN_CHUNK : MS_SCAN_PIECE_MAX;
		err = scan_buf_alloc(&s, regions);
	}
	if (!err) {
		struct ms_pscan ps = { .proc = proc,
			               .regions = regions,
			               .pat = pattern,
			               .opt = options,
			               .chunk = s.chunk_max,
			               .main = s.m };
		int done = 0;

		err = scan_try_parallel(&ps, &done);
		if (!err && !done)
			err = scan_regions(&s, regions);
	}
	if (!err && ret_matches)
		*ret_matches = s.m->count;
	if (s.buf)
		ms_buf_free(s.buf, s.buf_len);
	memscan_ranges_release(&s.holes);
	matcher_free(s.m);
	memscan_region_list_free(own);
	return err;
}
