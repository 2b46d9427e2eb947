/* SPDX-License-Identifier: MIT */
/* Pattern scanner: a streaming matcher fed with address-ordered segments of local or remote memory. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pattern.h"

/* Largest single read of a region in the default mode, and the chunk size with no_memmap. */
#define MS_SCAN_PIECE_MAX ((size_t)64 << 20)
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

/* Checks a candidate start at DATA (address ADDR) and reports it if it matches. */
static int try_at(struct ms_matcher *m, const uint8_t *data, uint64_t addr, const memscan_region *region)
{
	if (addr % m->align || !memscan_pattern_matches(m->pat, data))
		return MEMSCAN_OK;
	return report(m, addr, region);
}

/* Region holding ADDR, a byte fed before the current segment: the previous segment's region when
 * ADDR lies in it, else looked up in the region list (sorted by address). */
static const memscan_region *region_of(const struct ms_matcher *m, uint64_t addr)
{
	const memscan_region *r;
	size_t lo = 0, hi, mid;

	if (addr >= m->seg_start || !m->regions)
		return m->seg_region;
	hi = memscan_region_list_count(m->regions);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = memscan_region_list_get(m->regions, mid);
		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return m->seg_region;
}

/* Matches starting in the carry and ending in the segment DATA (LEN bytes at ADDR). */
static int scan_junction(struct ms_matcher *m, const uint8_t *data, size_t len)
{
	size_t plen = m->pat->len, head, total, p;
	uint64_t base = m->carry_end - m->carry_len;
	int err;

	head = len < plen - 1 ? len : plen - 1;
	total = m->carry_len + head;
	if (total < plen)
		return MEMSCAN_OK;
	memcpy(m->junction, m->carry, m->carry_len);
	memcpy(m->junction + m->carry_len, data, head);
	for (p = 0; p < m->carry_len && p + plen <= total && !m->full; p++) {
		err = try_at(m, m->junction + p, base + p, region_of(m, base + p));
		if (err)
			return err;
	}
	return MEMSCAN_OK;
}

/* Matches wholly inside DATA, found with memchr on the anchor byte. */
static int scan_anchor(struct ms_matcher *m, const uint8_t *data, size_t len, uint64_t addr,
                       const memscan_region *region)
{
	size_t plen = m->pat->len, anchor = m->pat->anchor, at = anchor, start;
	uint8_t byte = m->pat->value[anchor];
	const uint8_t *hit;
	int err;

	while (at + (plen - anchor) <= len && !m->full) {
		hit = memchr(data + at, byte, len - (plen - anchor) + 1 - at);
		if (!hit)
			break;
		at = (size_t)(hit - data);
		start = at - anchor;
		err = try_at(m, data + start, addr + start, region);
		if (err)
			return err;
		at++;
	}
	return MEMSCAN_OK;
}

/* Matches wholly inside DATA when no byte is fully fixed: a masked probe, then the full check. */
static int scan_probe(struct ms_matcher *m, const uint8_t *data, size_t len, uint64_t addr,
                      const memscan_region *region)
{
	const memscan_pattern *pat = m->pat;
	uint8_t mask = pat->mask[pat->probe], value = pat->value[pat->probe];
	size_t s, step = 1;
	int err;

	s = 0;
	if (m->align > 1) {
		s = (size_t)((m->align - addr % m->align) % m->align);
		step = m->align > len ? len + 1 : (size_t)m->align;
	}
	for (; s < len && len - s >= pat->len && !m->full; s += step) {
		if ((data[s + pat->probe] & mask) != value)
			continue;
		err = try_at(m, data + s, addr + s, region);
		if (err)
			return err;
	}
	return MEMSCAN_OK;
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
	if (!err && m->pat->anchor != MS_PATTERN_NO_ANCHOR)
		err = scan_anchor(m, data, len, addr, region);
	else if (!err)
		err = scan_probe(m, data, len, addr, region);
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
	m = malloc(sizeof(*m));
	if (!m)
		return MEMSCAN_ERR_NO_MEMORY;
	matcher_init(m, pattern, options, on_match, ctx);
	err = matcher_feed(m, data, len, base, NULL);
	if (!err && ret_matches)
		*ret_matches = m->count;
	free(m);
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
	err = memscan_read(s->proc, addr, s->buf, len, &s->holes);
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
	if (!regions) {
		memscan_filter_default(&filter);
		err = memscan_regions_read(proc, &filter, &own);
		if (err)
			return err;
		regions = own;
	}
	s.m = malloc(sizeof(*s.m));
	if (!s.m)
		err = MEMSCAN_ERR_NO_MEMORY;
	if (!err) {
		matcher_init(s.m, pattern, options, on_match, ctx);
		s.m->regions = regions;
		s.chunk_max = options && options->no_memmap ? MS_SCAN_CHUNK : MS_SCAN_PIECE_MAX;
		err = scan_buf_alloc(&s, regions);
	}
	if (!err)
		err = scan_regions(&s, regions);
	if (!err && ret_matches)
		*ret_matches = s.m->count;
	if (s.buf)
		ms_buf_free(s.buf, s.buf_len);
	memscan_ranges_release(&s.holes);
	free(s.m);
	memscan_region_list_free(own);
	return err;
}
