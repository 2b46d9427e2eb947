/* SPDX-License-Identifier: MIT */
/* Snapshot diffs: change runs (address, old bytes, new bytes), per-byte changes, region coverage. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Most changed bytes one diff holds (old + new copies take twice this). */
#define MS_DIFF_MAX_CHANGED (1ull << 36)

struct ms_run {
	uint64_t address;
	size_t length;
	size_t region_index;
	size_t byte_off; /* its bytes: old_pool[byte_off...], new_pool[byte_off...] (= changes before it) */
};

struct memscan_diff {
	struct ms_run *runs;
	size_t count, capacity;
	uint8_t *old_pool, *new_pool; /* two pools with the same layout, so a run can grow in place */
	size_t pool_len, old_cap, new_cap;
	uint64_t changed;
	memscan_ranges appeared, vanished;
	memscan_ranges outside_old, outside_new; /* only in new / old, the other's filter not selecting */
};

static void pool_free(uint8_t *pool, size_t cap);

int memscan_diff_new(memscan_diff **ret_diff)
{
	if (!ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_diff = calloc(1, sizeof(**ret_diff));
	return *ret_diff ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
}

void memscan_diff_free(memscan_diff *d)
{
	if (!d)
		return;
	free(d->runs);
	pool_free(d->old_pool, d->old_cap);
	pool_free(d->new_pool, d->new_cap);
	memscan_ranges_release(&d->appeared);
	memscan_ranges_release(&d->vanished);
	memscan_ranges_release(&d->outside_old);
	memscan_ranges_release(&d->outside_new);
	free(d);
}

void ms_diff_clear(memscan_diff *d)
{
	d->count = 0;
	d->pool_len = 0;
	d->changed = 0;
	memscan_ranges_clear(&d->appeared);
	memscan_ranges_clear(&d->vanished);
	memscan_ranges_clear(&d->outside_old);
	memscan_ranges_clear(&d->outside_new);
}

/* Byte pools at least this large are mapped huge-page advised: a fresh 4 KiB fault costs ~10 us. */
#define MS_POOL_MAPPED_MIN ((size_t)1 << 20)

static void pool_free(uint8_t *pool, size_t cap)
{
	if (cap >= MS_POOL_MAPPED_MIN)
		ms_buf_free(pool, cap);
	else
		free(pool);
}

/* Grows *POOL (capacity *CAP, LEN bytes used) to CAP_NEW bytes. */
static int pool_move(uint8_t **pool, size_t *cap, size_t len, size_t cap_new)
{
	uint8_t *p;

	if (*cap >= cap_new)
		return MEMSCAN_OK;
	if (cap_new < MS_POOL_MAPPED_MIN) {
		p = realloc(*pool, cap_new);
	} else {
		p = ms_buf_alloc(cap_new);
		if (p && len)
			memcpy(p, *pool, len);
		if (p)
			pool_free(*pool, *cap);
	}
	if (!p)
		return MEMSCAN_ERR_NO_MEMORY;
	*pool = p;
	*cap = cap_new;
	return MEMSCAN_OK;
}

/* Changed bytes in one diff (each pool): never more than the address space the two snapshots cover. */
#define MS_DIFF_BYTES_MAX MS_ADDRESS_SPACE_MAX
/* Runs in one diff: two runs are at least one unchanged byte apart, so at most one per two bytes. */
#define MS_DIFF_RUNS_MAX (MS_ADDRESS_SPACE_MAX / 2)

/* Grows both byte pools to hold at least NEED more bytes each (doubling as ms_grow does; the pools
 * have their own allocator: huge-page advised mappings once large). */
static int pool_grow(memscan_diff *d, size_t need)
{
	size_t have = d->old_cap < d->new_cap ? d->old_cap : d->new_cap, cap;
	int r;

	if (need > MS_DIFF_BYTES_MAX - d->pool_len)
		return MEMSCAN_ERR_LIMIT;
	cap = ms_grow_next(have, d->pool_len + need, 1, MS_DIFF_BYTES_MAX);
	r = pool_move(&d->old_pool, &d->old_cap, d->pool_len, cap);
	return r == MEMSCAN_OK ? pool_move(&d->new_pool, &d->new_cap, d->pool_len, cap) : r;
}

static int runs_grow(memscan_diff *d, size_t need)
{
	int r;

	if (need > MS_DIFF_RUNS_MAX - d->count)
		return MEMSCAN_ERR_LIMIT;
	r = ms_grow(&d->runs, &d->capacity, d->count + need, sizeof(*d->runs), MS_DIFF_RUNS_MAX);
	return r;
}

int ms_diff_reserve(memscan_diff *d, size_t runs, size_t bytes)
{
	int r;

	if (bytes > MS_DIFF_MAX_CHANGED)
		return MEMSCAN_ERR_LIMIT;
	r = runs_grow(d, runs);
	return r == MEMSCAN_OK ? pool_grow(d, bytes) : r;
}

/* Room for LEN more bytes in both pools and one more run. */
static int diff_room(memscan_diff *d, size_t len, int new_run)
{
	int r;

	if (d->changed + len > MS_DIFF_MAX_CHANGED)
		return MEMSCAN_ERR_LIMIT;
	if (new_run && d->count == d->capacity && (r = runs_grow(d, 1)) != MEMSCAN_OK)
		return r;
	if ((d->old_cap < d->pool_len + len || d->new_cap < d->pool_len + len) &&
	    (r = pool_grow(d, len)) != MEMSCAN_OK)
		return r;
	return MEMSCAN_OK;
}

/* Appends LEN old and new bytes: to the last run (GROW) or as a new run at ADDR. */
static int diff_push(memscan_diff *d, uint64_t addr, size_t len, size_t region, const uint8_t *old_b,
                     const uint8_t *new_b, int grow)
{
	int r = diff_room(d, len, !grow);

	if (r != MEMSCAN_OK)
		return r;
	memcpy(d->old_pool + d->pool_len, old_b, len);
	memcpy(d->new_pool + d->pool_len, new_b, len);
	if (grow)
		d->runs[d->count - 1].length += len;
	else
		d->runs[d->count++] = (struct ms_run){ addr, len, region, d->pool_len };
	d->pool_len += len;
	d->changed += len;
	return MEMSCAN_OK;
}

int ms_diff_push(memscan_diff *d, uint64_t addr, size_t len, size_t region, const uint8_t *old_b,
                 const uint8_t *new_b)
{
	return diff_push(d, addr, len, region, old_b, new_b, 0);
}

int ms_diff_append(memscan_diff *d, uint64_t addr, size_t len, size_t region, const uint8_t *old_b,
                   const uint8_t *new_b)
{
	const struct ms_run *last = d->count ? &d->runs[d->count - 1] : NULL;
	int grow = last && last->region_index == region && last->address + last->length == addr;

	return diff_push(d, addr, len, region, old_b, new_b, grow);
}

int memscan_diff_add_run(memscan_diff *d, const memscan_change_run *run)
{
	if (!d || !run || !run->length || !run->old_bytes || !run->new_bytes ||
	    run->address + run->length < run->address)
		return MEMSCAN_ERR_INVALID_ARG;
	if (d->count && d->runs[d->count - 1].address + d->runs[d->count - 1].length > run->address)
		return MEMSCAN_ERR_INVALID_ARG; /* runs come in address order, disjoint */
	return diff_push(d, run->address, run->length, run->region_index, run->old_bytes, run->new_bytes, 0);
}

int memscan_diff_add_appeared(memscan_diff *d, memscan_range range)
{
	if (!d || range.end <= range.start)
		return MEMSCAN_ERR_INVALID_ARG;
	return ms_ranges_append(&d->appeared, range.start, range.end);
}

int memscan_diff_add_vanished(memscan_diff *d, memscan_range range)
{
	if (!d || range.end <= range.start)
		return MEMSCAN_ERR_INVALID_ARG;
	return ms_ranges_append(&d->vanished, range.start, range.end);
}

int memscan_diff_add_outside(memscan_diff *d, memscan_range range, int in_new)
{
	if (!d || range.end <= range.start)
		return MEMSCAN_ERR_INVALID_ARG;
	return ms_ranges_append(in_new ? &d->outside_old : &d->outside_new, range.start, range.end);
}

int ms_coverage_add(const struct ms_filter_rec *other, const memscan_region *g, uint64_t s, uint64_t e,
                    memscan_ranges *out, memscan_ranges *outside)
{
	uint64_t lo, hi;
	int r = MEMSCAN_OK;

	if (!other || !other->known)
		return ms_ranges_append(out, s, e);
	if (!memscan_filter_match(&other->f, g))
		return ms_ranges_append(outside, s, e);
	if (other->f.range_end <= other->f.range_start)
		return ms_ranges_append(out, s, e);
	lo = s > other->f.range_start ? s : other->f.range_start;
	hi = e < other->f.range_end ? e : other->f.range_end;
	if (lo >= hi)
		return ms_ranges_append(outside, s, e);
	if (s < lo)
		r = ms_ranges_append(outside, s, lo);
	if (r == MEMSCAN_OK)
		r = ms_ranges_append(out, lo, hi);
	if (r == MEMSCAN_OK && hi < e)
		r = ms_ranges_append(outside, hi, e);
	return r;
}

/* ---------------------------------------------------------------------------------------------
 * Run finding: the first differing / first equal byte, scalar words or AVX2 (same results)
 * ------------------------------------------------------------------------------------------- */

#define MS_ONES  0x0101010101010101ull
#define MS_HIGHS 0x8080808080808080ull

static uint64_t load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

size_t ms_find_diff_scalar(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
	/* long equal stretches are the common case: glibc's vectorized memcmp skips them fastest */
	while (len - i >= 1024 && memcmp(a + i, b + i, 1024) == 0)
		i += 1024;
	for (; i < len && len - i >= 8; i += 8) {
		uint64_t x = load64(a + i) ^ load64(b + i);
		if (x)
			return i + (size_t)__builtin_ctzll(x) / 8; /* little-endian: lowest byte first */
	}
	for (; i < len; i++)
		if (a[i] != b[i])
			return i;
	return len;
}

size_t ms_find_same_scalar(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
	for (; i < len && len - i >= 8; i += 8) {
		uint64_t x = load64(a + i) ^ load64(b + i);
		/* the lowest zero byte of X sets its high bit here (borrows only disturb higher bytes) */
		uint64_t z = (x - MS_ONES) & ~x & MS_HIGHS;
		if (z)
			return i + (size_t)__builtin_ctzll(z) / 8;
	}
	for (; i < len; i++)
		if (a[i] == b[i])
			return i;
	return len;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2"))) static unsigned eq_mask32(const uint8_t *a, const uint8_t *b)
{
	__m256i va = _mm256_loadu_si256((const __m256i *)(const void *)a);
	__m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)b);
	return (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(va, vb));
}

/* True if the 128 bytes at A and B are equal: four loads OR-ed, one test. */
__attribute__((target("avx2"))) static int equal128(const uint8_t *a, const uint8_t *b)
{
	__m256i x = _mm256_setzero_si256();

	for (int k = 0; k < 4; k++) {
		__m256i va = _mm256_loadu_si256((const __m256i *)(const void *)(a + 32 * k));
		__m256i vb = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32 * k));
		x = _mm256_or_si256(x, _mm256_xor_si256(va, vb));
	}
	return _mm256_testz_si256(x, x);
}

__attribute__((target("avx2"))) size_t ms_find_diff_avx2(const uint8_t *a, const uint8_t *b, size_t i,
                                                         size_t len)
{
	while (i < len && len - i >= 128 && equal128(a + i, b + i))
		i += 128;
	for (; i < len && len - i >= 32; i += 32) {
		unsigned ne = ~eq_mask32(a + i, b + i);
		if (ne)
			return i + (size_t)__builtin_ctz(ne);
	}
	return ms_find_diff_scalar(a, b, i, len);
}

__attribute__((target("avx2"))) size_t ms_find_same_avx2(const uint8_t *a, const uint8_t *b, size_t i,
                                                         size_t len)
{
	for (; i < len && len - i >= 32; i += 32) {
		unsigned eq = eq_mask32(a + i, b + i);
		if (eq)
			return i + (size_t)__builtin_ctz(eq);
	}
	return ms_find_same_scalar(a, b, i, len);
}
#endif

size_t ms_find_diff(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
#if defined(__x86_64__) || defined(__i386__)
	if (ms_have_avx2())
		return ms_find_diff_avx2(a, b, i, len);
#endif
	return ms_find_diff_scalar(a, b, i, len);
}

size_t ms_find_same(const uint8_t *a, const uint8_t *b, size_t i, size_t len)
{
#if defined(__x86_64__) || defined(__i386__)
	if (ms_have_avx2())
		return ms_find_same_avx2(a, b, i, len);
#endif
	return ms_find_same_scalar(a, b, i, len);
}

int ms_for_each_run(const uint8_t *a, const uint8_t *b, size_t off, size_t end, ms_run_fn fn, void *ctx)
{
	size_t s, e;
	int r;

	while (off < end) {
		s = ms_find_diff(a, b, off, end);
		if (s == end)
			break;
		e = ms_find_same(a, b, s + 1, end);
		if ((r = fn(ctx, s, e - s)) != MEMSCAN_OK)
			return r;
		off = e;
	}
	return MEMSCAN_OK;
}

int ms_spans_add(struct ms_spans *sp, size_t off, size_t len)
{
	struct ms_span *last = sp->count ? &sp->items[sp->count - 1] : NULL;

	if (last && last->off + last->len == off) {
		last->len += len; /* a run across a chunk edge stays one run */
		return MEMSCAN_OK;
	}
	if (sp->count == sp->cap) {
		int r = ms_grow(&sp->items, &sp->cap, sp->count + 1, sizeof(*sp->items), MS_DIFF_RUNS_MAX);

		if (r != 0)
			return r;
	}
	sp->items[sp->count++] = (struct ms_span){ off, len };
	return MEMSCAN_OK;
}

void ms_spans_release(struct ms_spans *sp)
{
	free(sp->items);
	memset(sp, 0, sizeof(*sp));
}

int ms_diff_push_clipped(memscan_diff *d, const memscan_ranges *ho, const memscan_ranges *hn, size_t *ko,
                         size_t *kn, size_t region, uint64_t s, uint64_t e, const uint8_t *old_b,
                         const uint8_t *new_b)
{
	uint64_t at = s, stop;
	int r;

	while (s < e) {
		while (*ko < ho->count && ho->items[*ko].end <= s)
			(*ko)++;
		while (*kn < hn->count && hn->items[*kn].end <= s)
			(*kn)++;
		if (*ko < ho->count && ho->items[*ko].start <= s) {
			s = ho->items[*ko].end;
			continue;
		}
		if (*kn < hn->count && hn->items[*kn].start <= s) {
			s = hn->items[*kn].end;
			continue;
		}
		stop = e;
		if (*ko < ho->count && ho->items[*ko].start < stop)
			stop = ho->items[*ko].start;
		if (*kn < hn->count && hn->items[*kn].start < stop)
			stop = hn->items[*kn].start;
		r = ms_diff_append(d, s, (size_t)(stop - s), region, old_b + (s - at), new_b + (s - at));
		if (r != MEMSCAN_OK)
			return r;
		s = stop;
	}
	return MEMSCAN_OK;
}

/* Runs of one compared span, pushed into a diff. */
struct span_push {
	memscan_diff *d;
	uint64_t addr;
	const uint8_t *a, *b;
	size_t region;
};

static int span_push_run(void *ctx, size_t off, size_t len)
{
	struct span_push *sp = ctx;

	return diff_push(sp->d, sp->addr + off, len, sp->region, sp->a + off, sp->b + off, 0);
}

/* Compares LEN bytes from address ADDR, emitting maximal runs of differing bytes. */
static int compare_span(memscan_diff *d, uint64_t addr, const uint8_t *a, const uint8_t *b, size_t len,
                        size_t region)
{
	struct span_push sp = { d, addr, a, b, region };

	return ms_for_each_run(a, b, 0, len, span_push_run, &sp);
}

uint64_t ms_holes_skip(const memscan_ranges *h, size_t *k, uint64_t cur, uint64_t *next_hole)
{
	while (*k < h->count && h->items[*k].end <= cur)
		(*k)++;
	while (*k < h->count && h->items[*k].start <= cur) {
		cur = h->items[*k].end;
		(*k)++;
	}
	*next_hole = *k < h->count ? h->items[*k].start : UINT64_MAX;
	return cur;
}

/* Compares [lo, hi) of an old and a new snapshot region, skipping the holes of either. */
static int compare_overlap(memscan_diff *d, const struct ms_snap_region *o, const struct ms_snap_region *n,
                           size_t n_index, uint64_t lo, uint64_t hi)
{
	size_t ko = 0, kn = 0;
	uint64_t cur = lo;
	int r;

	while (cur < hi) {
		uint64_t next_o, next_n, prev, stop;
		do {
			prev = cur;
			cur = ms_holes_skip(&o->holes, &ko, cur, &next_o);
			cur = ms_holes_skip(&n->holes, &kn, cur, &next_n);
		} while (cur != prev);
		if (cur >= hi)
			break;
		stop = hi;
		if (next_o < stop)
			stop = next_o;
		if (next_n < stop)
			stop = next_n;
		r = compare_span(d, cur, o->data + (cur - o->region.start), n->data + (cur - n->region.start),
		                 (size_t)(stop - cur), n_index);
		if (r != MEMSCAN_OK)
			return r;
		cur = stop;
	}
	return MEMSCAN_OK;
}

/* Ranges of A's regions that no region of B covers, appended to OUT (or to OUTSIDE, the parts B's
 * filter would not have selected). If COMPARE is set (A is the new snapshot), overlaps are compared
 * too. */
static int walk_coverage(memscan_diff *d, const memscan_snapshot *a, const memscan_snapshot *b,
                         memscan_ranges *out, memscan_ranges *outside, int compare)
{
	size_t j = 0;
	int r;

	for (size_t i = 0; i < a->count; i++) {
		const struct ms_snap_region *ra = &a->regions[i];
		uint64_t cur = ra->region.start;

		while (j < b->count && b->regions[j].region.end <= cur)
			j++;
		for (size_t k = j; k < b->count && b->regions[k].region.start < ra->region.end; k++) {
			const struct ms_snap_region *rb = &b->regions[k];
			uint64_t lo = rb->region.start > cur ? rb->region.start : cur;
			uint64_t hi = rb->region.end < ra->region.end ? rb->region.end : ra->region.end;

			if (lo > cur &&
			    ms_coverage_add(&b->sel, &ra->region, cur, lo, out, outside) != MEMSCAN_OK)
				return MEMSCAN_ERR_NO_MEMORY;
			if (compare && (r = compare_overlap(d, rb, ra, i, lo, hi)) != MEMSCAN_OK)
				return r;
			cur = hi;
		}
		if (cur < ra->region.end &&
		    ms_coverage_add(&b->sel, &ra->region, cur, ra->region.end, out, outside) != MEMSCAN_OK)
			return MEMSCAN_ERR_NO_MEMORY;
	}
	return MEMSCAN_OK;
}

int memscan_diff_snapshots(const memscan_snapshot *old_snap, const memscan_snapshot *new_snap,
                           memscan_diff **ret_diff)
{
	memscan_diff *d;
	int r;

	if (ret_diff)
		*ret_diff = NULL;
	if (!old_snap || !new_snap || !ret_diff)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_diff_new(&d);
	if (r != MEMSCAN_OK)
		return r;
	r = walk_coverage(d, new_snap, old_snap, &d->appeared, &d->outside_old, 1);
	if (r == MEMSCAN_OK)
		r = walk_coverage(d, old_snap, new_snap, &d->vanished, &d->outside_new, 0);
	if (r != MEMSCAN_OK) {
		memscan_diff_free(d);
		return r;
	}
	*ret_diff = d;
	return MEMSCAN_OK;
}

size_t memscan_diff_run_count(const memscan_diff *d)
{
	return d ? d->count : 0;
}

memscan_change_run memscan_diff_run(const memscan_diff *d, size_t index)
{
	memscan_change_run out = { 0 };

	if (d && index < d->count) {
		const struct ms_run *run = &d->runs[index];
		out.address = run->address;
		out.length = run->length;
		out.region_index = run->region_index;
		out.old_bytes = d->old_pool + run->byte_off;
		out.new_bytes = d->new_pool + run->byte_off;
	}
	return out;
}

uint64_t memscan_diff_changed_bytes(const memscan_diff *d)
{
	return d ? d->changed : 0;
}

size_t memscan_diff_changes(const memscan_diff *d, uint64_t first, memscan_change *out, size_t max)
{
	size_t lo = 0, hi, written = 0;

	if (!d || !out || first >= d->changed)
		return 0;
	/* run k holds changes number byte_off ... byte_off + length - 1: binary search for FIRST */
	hi = d->count;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->runs[mid].byte_off <= first)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t k = lo; k < d->count && written < max; k++) {
		const struct ms_run *run = &d->runs[k];
		size_t skip = k == lo ? (size_t)(first - run->byte_off) : 0;
		for (size_t i = skip; i < run->length && written < max; i++) {
			out[written].address = run->address + i;
			out[written].old_value = d->old_pool[run->byte_off + i];
			out[written].new_value = d->new_pool[run->byte_off + i];
			written++;
		}
	}
	return written;
}

const memscan_ranges *memscan_diff_appeared(const memscan_diff *d)
{
	return d ? &d->appeared : NULL;
}

const memscan_ranges *memscan_diff_vanished(const memscan_diff *d)
{
	return d ? &d->vanished : NULL;
}

const memscan_ranges *memscan_diff_outside(const memscan_diff *d, int in_new)
{
	if (!d)
		return NULL;
	return in_new ? &d->outside_old : &d->outside_new;
}
