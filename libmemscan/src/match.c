/* SPDX-License-Identifier: MIT */
/* The block matcher: every match of a pattern in a block of memory, with bounded work per byte. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pattern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/*
 * Why the work per byte is bounded, whatever the pattern and the memory.
 *
 * A filter looks at two positions of every candidate start (the pattern's two most selective
 * bytes, pattern.c): a constant cost per byte, 32 starts per step with AVX2. Starts that pass are
 * verified piece by piece (fixed runs with memcmp, nibbles one by one, short pieces and the most
 * selective first, so that most candidates fail on their first piece). A verification costs up to
 * the pattern's length, and memory that defeats the filter (zeros under a pattern of zeros, a
 * periodic pattern over its own period) could make every start cost that much: 4096 compares per
 * byte. So the bytes compared are counted, and once they pass MS_WORK_PER_START per start looked
 * at (plus MS_WORK_BURST for the block), the rest of the block is matched bit-parallel (shift-and):
 * one table lookup and ceil(len / 64) word operations per byte, 64 at most, whatever the memory.
 * Work per block: filter + 16 compares per start + 8192 + 64 words per byte after the switch.
 * Both methods are exact, so the matches do not depend on where (or whether) the switch happens.
 */
#define MS_WORK_PER_START ((size_t)16)
#define MS_WORK_BURST     ((size_t)2 * MEMSCAN_PATTERN_MAX)
#define MS_WORDS_MAX      ((MEMSCAN_PATTERN_MAX + 63) / 64)

/* Returned inside this file when the verification budget is spent. */
#define MS_MATCH_SWITCH (-2)

struct ms_run {
	const memscan_pattern *pat;
	const struct ms_block *blk;
	size_t work;   /* bytes compared by verification so far */
	size_t resume; /* where the bit-parallel matcher takes over after MS_MATCH_SWITCH */
};

/* 1 if every piece of the pattern matches at D; the bytes compared are added to *WORK. */
static int verify(const memscan_pattern *pat, const uint8_t *d, size_t *work)
{
	for (size_t i = 0; i < pat->piece_count; i++) {
		const struct ms_piece *p = &pat->pieces[i];
		*work += p->len;
		if (p->len == 1) {
			if ((d[p->off] & p->mask) != p->value)
				return 0;
		} else if (memcmp(d + p->off, pat->value + p->off, p->len) != 0) {
			return 0;
		}
	}
	return 1;
}

/* A start S that passed the filter: alignment, the budget, verification, the report. */
static int candidate(struct ms_run *r, size_t s)
{
	const struct ms_block *b = r->blk;

	if (b->align > 1 && (b->addr + s) % b->align)
		return 0;
	if (r->work > MS_WORK_PER_START * s + MS_WORK_BURST) {
		r->resume = s;
		return MS_MATCH_SWITCH;
	}
	if (!verify(r->pat, b->data + s, &r->work))
		return 0;
	return b->on_hit(b->ctx, s);
}

/* Starts [FROM, starts) filtered one by one: memchr when the first position is a whole byte. */
static int filter_scalar(struct ms_run *r, size_t from)
{
	const memscan_pattern *pat = r->pat;
	const uint8_t *d = r->blk->data, *hit;
	size_t p = pat->first, q = pat->second, starts = r->blk->starts;
	uint8_t mp = pat->mask[p], vp = pat->value[p], mq = pat->mask[q], vq = pat->value[q];
	int err;

	for (size_t s = from; s < starts; s++) {
		if (mp == 0xFF) {
			hit = memchr(d + s + p, vp, starts - s);
			if (!hit)
				break;
			s = (size_t)(hit - d) - p;
		} else if ((d[s + p] & mp) != vp) {
			continue;
		}
		if ((d[s + q] & mq) == vq && (err = candidate(r, s)) != 0)
			return err;
	}
	return 0;
}

#if defined(__x86_64__) || defined(__i386__)
struct ms_filter_avx2 {
	__m256i m0, v0, m1, v1;
};

/* Starts in [s, s + 32) whose two filter positions match: a bit mask. */
__attribute__((target("avx2"))) static unsigned filter_mask32(const uint8_t *d, size_t s, size_t p, size_t q,
                                                              const struct ms_filter_avx2 *f)
{
	__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(d + s + p));
	__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(d + s + q));
	__m256i ha = _mm256_cmpeq_epi8(_mm256_and_si256(a, f->m0), f->v0);
	__m256i hb = _mm256_cmpeq_epi8(_mm256_and_si256(b, f->m1), f->v1);
	return (unsigned)_mm256_movemask_epi8(_mm256_and_si256(ha, hb));
}

/* Candidates of the 32 * N starts from I, in order. */
__attribute__((target("avx2"))) static int filter_step(struct ms_run *r, size_t i, const unsigned *hits,
                                                       size_t n)
{
	int err;

	for (size_t k = 0; k < n; k++)
		for (unsigned h = hits[k]; h; h &= h - 1)
			if ((err = candidate(r, i + 32 * k + (size_t)__builtin_ctz(h))) != 0)
				return err;
	return 0;
}

/* The filter 32 starts at a time (128 per step, their masks tested together: hits are rare); the
 * last starts go through filter_scalar. Loads reach data[i + max(p, q) + 31] <= data[len - 1]. */
__attribute__((target("avx2"))) static int filter_avx2(struct ms_run *r)
{
	const memscan_pattern *pat = r->pat;
	const uint8_t *d = r->blk->data;
	size_t p = pat->first, q = pat->second, starts = r->blk->starts, i = 0;
	struct ms_filter_avx2 f = { _mm256_set1_epi8((char)pat->mask[p]),
		                    _mm256_set1_epi8((char)pat->value[p]),
		                    _mm256_set1_epi8((char)pat->mask[q]),
		                    _mm256_set1_epi8((char)pat->value[q]) };
	int err;

	while (i + 32 <= starts) {
		size_t n = i + 128 <= starts ? 4 : 1;
		unsigned hits[4] = { filter_mask32(d, i, p, q, &f), 0, 0, 0 };

		for (size_t k = 1; k < n; k++)
			hits[k] = filter_mask32(d, i + 32 * k, p, q, &f);
		if ((hits[0] | hits[1] | hits[2] | hits[3]) && (err = filter_step(r, i, hits, n)) != 0)
			return err;
		i += 32 * n;
	}
	return filter_scalar(r, i);
}
#endif

/* The shift-and table: for each byte value, the bit set of pattern positions it matches. */
static uint64_t *table_build(const memscan_pattern *pat)
{
	size_t words = (pat->len + 63) / 64;
	uint64_t *t = calloc(256 * words, sizeof(*t));

	if (!t)
		return NULL;
	for (size_t j = 0; j < pat->len; j++)
		for (unsigned c = 0; c < 256; c++)
			if ((c & pat->mask[j]) == pat->value[j])
				t[c * words + j / 64] |= (uint64_t)1 << (j % 64);
	return t;
}

/* One shift-and step over WORDS words: NEXT[k] = (CUR[k] << 1 | CUR[k - 1] >> 63) & T[k]. CUR[-1]
 * and NEXT[-1] hold a sentinel with the top bit set, which feeds the 1 that starts a new match. */
static void sa_step_scalar(uint64_t *restrict next, const uint64_t *restrict cur, const uint64_t *restrict t,
                           size_t words)
{
	const uint64_t *prev = cur - 1; /* CUR[-1] on: indexing CUR with k - 1 would wrap at k = 0 */

	for (size_t k = 0; k < words; k++)
		next[k] = (cur[k] << 1 | prev[k] >> 63) & t[k];
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void
sa_step_avx2(uint64_t *restrict next, const uint64_t *restrict cur, const uint64_t *restrict t, size_t words)
{
	size_t k = 0;

	for (; k + 4 <= words; k += 4) {
		__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(cur + k));
		__m256i p = _mm256_loadu_si256((const __m256i *)(const void *)(cur + k - 1));
		__m256i v = _mm256_or_si256(_mm256_slli_epi64(c, 1), _mm256_srli_epi64(p, 63));
		v = _mm256_and_si256(v, _mm256_loadu_si256((const __m256i *)(const void *)(t + k)));
		_mm256_storeu_si256((__m256i *)(void *)(next + k), v);
	}
	sa_step_scalar(next + k, cur + k, t + k, words - k);
}
#endif

/* Bit j of state word j / 64 is set after byte i when the pattern's first j + 1 bytes match the
 * bytes ending at i. Only words up to TOP + 1 can be nonzero after a step, so partial matches that
 * die young keep the step short; each buffer's words above its state's top are kept zero. Matches starting at
 * or after FROM are reported. */
static int shift_and(struct ms_run *r, size_t from)
{
	const struct ms_block *b = r->blk;
	size_t len = r->pat->len, words = (len + 63) / 64, end = b->starts + len - 1, top = 0, next_top = 0;
	uint64_t st[2][MS_WORDS_MAX + 1] = { { 0 } }, last = (uint64_t)1 << ((len - 1) % 64);
	uint64_t *cur = st[0] + 1, *next = st[1] + 1, *swap;
	int avx2 = ms_have_avx2(), err;

	if (!*b->table && !(*b->table = table_build(r->pat)))
		return MEMSCAN_ERR_NO_MEMORY;
	st[0][0] = st[1][0] = (uint64_t)1 << 63;
	for (size_t i = from; i < end; i++) {
		const uint64_t *t = *b->table + (size_t)b->data[i] * words;
		size_t lim = top + 2 < words ? top + 2 : words;
#if defined(__x86_64__) || defined(__i386__)
		if (avx2 && lim >= 8)
			sa_step_avx2(next, cur, t, lim);
		else
#endif
			sa_step_scalar(next, cur, t, lim);
		for (size_t k = lim; k <= next_top; k++)
			next[k] = 0; /* words of the state before CUR above the new state's reach */
		swap = cur, cur = next, next = swap;
		next_top = top;
		for (top = lim - 1; top > 0 && !cur[top]; top--)
			;
		if (!(cur[words - 1] & last))
			continue;
		size_t s = i + 1 - len;
		if ((b->align <= 1 || (b->addr + s) % b->align == 0) && (err = b->on_hit(b->ctx, s)) != 0)
			return err;
	}
	return 0;
}

int ms_match_block(const memscan_pattern *pat, const struct ms_block *blk)
{
	struct ms_run r = { .pat = pat, .blk = blk };
	int err;

	if (blk->starts == 0)
		return 0;
#if defined(__x86_64__) || defined(__i386__)
	if (ms_have_avx2())
		err = filter_avx2(&r);
	else
#endif
		err = filter_scalar(&r, 0);
	if (err == MS_MATCH_SWITCH)
		err = shift_and(&r, r.resume);
	return err;
}

void ms_match_free(uint64_t *table)
{
	free(table);
}
