/* SPDX-License-Identifier: MIT */
/* Pointer index: every pointer word of a snapshot by the address it points to, built on every CPU in
 * two passes (count per bucket, then store), so that each bucket holds its entries in holder order. */
#include <endian.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pointers.h"
#include "pointers_index.h"

/* Holders are numbered by 8-byte word of the snapshot's concatenated regions in 32 bits. */
#define PTR_SOURCE_MAX ((uint64_t)32 << 30)

/* The region holding ADDR, or SIZE_MAX. */
size_t ptr_index_region(const memscan_pointer_index *idx, uint64_t addr)
{
	return ms_span_find(idx->regs, idx->nregs, sizeof(*idx->regs), addr);
}

uint64_t ptr_index_addr(const memscan_pointer_index *idx, uint64_t pos)
{
	size_t lo = 0, hi = idx->nregs;

	while (hi - lo > 1) { /* the last region whose pos is at most POS */
		size_t mid = lo + (hi - lo) / 2;

		if (idx->regs[mid].pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return idx->regs[lo].start + (pos - idx->regs[lo].pos);
}

static int index_regions(memscan_pointer_index *idx, const memscan_snapshot *snap)
{
	uint64_t pos = 0;

	idx->regs = calloc(snap->count ? snap->count : 1, sizeof(*idx->regs));
	if (!idx->regs)
		return MEMSCAN_ERR_NO_MEMORY;
	for (size_t i = 0; i < snap->count; i++) {
		const struct ms_snap_region *sr = &snap->regions[i];

		idx->regs[i] = (struct ptr_ireg){ sr->region.start, sr->region.end, pos, sr->data };
		pos += sr->region.end - sr->region.start;
	}
	idx->nregs = snap->count;
	idx->total = pos;
	if (pos >= PTR_SOURCE_MAX || (pos & 7))
		return MEMSCAN_ERR_LIMIT;
	idx->nbuckets = (size_t)((pos >> PTR_BUCKET_SHIFT) + 1);
	return MEMSCAN_OK;
}

struct build {
	memscan_pointer_index *idx;
	unsigned nworkers;
	int fill;           /* second pass: store entries (counts hold each worker's cursors) */
	uint32_t *counts;   /* nworkers x nbuckets */
	atomic_int stop;    /* a worker saw the cancel hook answer yes */
	struct ms_hooks cb; /* the caller's; its progress: half the bytes both passes went through */
};

/* Counts or stores the pointer words of [W0, W1) (word numbers) for worker K. */
static void scan_words(struct build *b, unsigned k, uint64_t w0, uint64_t w1)
{
	const memscan_pointer_index *idx = b->idx;
	uint32_t *cnt = b->counts + (size_t)k * idx->nbuckets;
	uint64_t lo = idx->regs[0].start, span = idx->regs[idx->nregs - 1].end - lo;
	size_t ri = ms_span_find(idx->regs, idx->nregs, sizeof(*idx->regs), ptr_index_addr(idx, w0 * 8));
	const struct ptr_ireg *c = &idx->regs[0];

	for (; ri < idx->nregs && idx->regs[ri].pos < w1 * 8; ri++) {
		const struct ptr_ireg *g = &idx->regs[ri];
		uint64_t a = w0 * 8 > g->pos ? w0 * 8 - g->pos : 0, e = g->end - g->start;

		if (w1 * 8 - g->pos < e)
			e = w1 * 8 - g->pos;
		for (; a < e; a += 8) {
			uint64_t v, pos;

			memcpy(&v, g->data + a, 8);
			v = le64toh(v);
			if (v - lo >= span)
				continue;
			if (v - c->start >= c->end - c->start) {
				size_t t = ptr_index_region(idx, v);

				if (t == SIZE_MAX)
					continue;
				c = &idx->regs[t];
			}
			pos = c->pos + (v - c->start);
			if (b->fill)
				idx->entries[cnt[pos >> PTR_BUCKET_SHIFT]++] =
				    (pos & PTR_BUCKET_MASK) << 32 | ((g->pos + a) >> 3);
			else
				cnt[pos >> PTR_BUCKET_SHIFT]++;
		}
	}
}

/* Whether the build is to stop: another worker saw it, or the cancel hook says so now. */
static int build_stopped(struct build *b)
{
	if (atomic_load_explicit(&b->stop, memory_order_relaxed))
		return 1;
	if (!ms_hooks_cancelled(&b->cb))
		return 0;
	atomic_store(&b->stop, 1);
	return 1;
}

static void scan_worker(void *ctx, unsigned k)
{
	struct build *b = ctx;
	uint64_t words = b->idx->total / 8, w = words * k / b->nworkers, end = words * (k + 1) / b->nworkers;

	while (w < end && !build_stopped(b)) {
		uint64_t n = end - w < PTR_CHUNK_WORDS ? end - w : PTR_CHUNK_WORDS;

		scan_words(b, k, w, w + n);
		ms_progress_count(&b->cb.progress, n * 4); /* each pass counts half of its words' bytes */
		w += n;
	}
}

/* Runs one pass of B over the snapshot on every worker; CANCELLED if it was stopped. */
static int build_pass(struct build *b)
{
	if (b->idx->nregs)
		ms_run_workers(b->nworkers, scan_worker, b);
	return build_stopped(b) ? MEMSCAN_ERR_CANCELLED : MEMSCAN_OK;
}

/* Turns the workers' counts into bucket starts and each worker's cursors; the total in IDX->count.
 * CANCELLED if the cancel hook says so meanwhile (its work grows with buckets times workers). */
static int place(struct build *b)
{
	memscan_pointer_index *idx = b->idx;
	uint64_t run = 0;

	for (size_t i = 0; i < idx->nbuckets; i++) {
		if (i % PTR_PLACE_CHECK_EVERY == 0 && build_stopped(b))
			return MEMSCAN_ERR_CANCELLED;
		idx->bucket[i] = run;
		for (unsigned k = 0; k < b->nworkers; k++) {
			uint32_t *c = &b->counts[(size_t)k * idx->nbuckets + i];
			uint64_t n = *c;

			*c = (uint32_t)run;
			run += n;
		}
	}
	idx->bucket[idx->nbuckets] = run;
	idx->count = run;
	return MEMSCAN_OK;
}

static int build_entries(memscan_pointer_index *idx, uint64_t max_bytes, const memscan_hooks *hooks)
{
	struct build b = { .idx = idx, .nworkers = ms_worker_count() };
	uint64_t fixed = (idx->nbuckets + 1) * 8 + idx->nregs * sizeof(*idx->regs);
	uint64_t temp = (uint64_t)b.nworkers * idx->nbuckets * 4;
	int r = MEMSCAN_OK;

	if (fixed + temp > max_bytes)
		return MEMSCAN_ERR_LIMIT;
	b.counts = calloc(idx->nbuckets, (size_t)b.nworkers * 4);
	idx->bucket = malloc((idx->nbuckets + 1) * 8);
	if (!b.counts || !idx->bucket) {
		r = MEMSCAN_ERR_NO_MEMORY;
		goto cleanup;
	}
	ms_hooks_init(&b.cb, hooks);
	r = build_pass(&b);
	if (r == MEMSCAN_OK)
		r = place(&b);
	if (r != MEMSCAN_OK)
		goto cleanup;
	idx->bytes = fixed + idx->count * 8;
	if (idx->bytes + temp > max_bytes) {
		r = MEMSCAN_ERR_LIMIT;
		goto cleanup;
	}
	idx->entries = malloc(idx->count ? idx->count * 8 : 1);
	if (!idx->entries) {
		r = MEMSCAN_ERR_NO_MEMORY;
		goto cleanup;
	}
	b.fill = 1;
	r = build_pass(&b);
	if (r == MEMSCAN_OK)
		ms_progress_final(&b.cb.progress, idx->total);
cleanup:
	free(b.counts);
	return r;
}

int memscan_pointer_index_build(const memscan_snapshot *snapshot, uint64_t max_bytes,
                                memscan_pointer_index **ret_index)
{
	return memscan_pointer_index_build_hooked(snapshot, max_bytes, NULL, ret_index);
}

int memscan_pointer_index_build_hooked(const memscan_snapshot *snapshot, uint64_t max_bytes,
                                       const memscan_hooks *hooks, memscan_pointer_index **ret_index)
{
	memscan_pointer_index *idx;
	int r;

	if (ret_index)
		*ret_index = NULL;
	if (!snapshot || !ret_index)
		return MEMSCAN_ERR_INVALID_ARG;
	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return MEMSCAN_ERR_NO_MEMORY;
	idx->snap = snapshot;
	r = index_regions(idx, snapshot);
	if (r == MEMSCAN_OK)
		r = build_entries(idx, max_bytes ? max_bytes : MEMSCAN_POINTER_INDEX_BUDGET_DEFAULT, hooks);
	if (r != MEMSCAN_OK) {
		memscan_pointer_index_free(idx);
		return r;
	}
	*ret_index = idx;
	return MEMSCAN_OK;
}

uint64_t memscan_pointer_index_count(const memscan_pointer_index *index)
{
	return index ? index->count : 0;
}

uint64_t memscan_pointer_index_bytes(const memscan_pointer_index *index)
{
	return index ? index->bytes : 0;
}

void memscan_pointer_index_free(memscan_pointer_index *index)
{
	if (!index)
		return;
	free(index->regs);
	free(index->bucket);
	free(index->entries);
	free(index);
}
