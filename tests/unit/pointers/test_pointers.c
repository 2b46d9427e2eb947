/* SPDX-License-Identifier: MIT */
/* Unit tests of pointers.c and pointers_search.c: the index and the search over hand-built snapshots
 * whose chains are known (libgame.so's data and bss -> heap objects -> a value), and their hooks
 * (cancel, progress). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memscan/memscan.h>
#include "internal.h"
#include "pointers_index.h"
#include "testutil.h"

#define LOAD   0x10000u /* libgame.so r--p, its load address */
#define DATA   0x11000u /* libgame.so rw-p */
#define BSS    0x12000u /* anonymous, right after it */
#define HEAP   0x500000u
#define GAME   0x500100u
#define PLAYER 0x502000u
#define HEALTH 0x502008u /* the target: player->health */

static void put(memscan_snapshot *snap, uint64_t addr, uint64_t value)
{
	for (size_t i = 0; i < memscan_snapshot_region_count(snap); i++) {
		memscan_snapshot_region r = memscan_snapshot_get(snap, i);

		if (addr >= r.region.start && addr + 8 <= r.region.end) {
			memcpy((uint8_t *)r.data + (addr - r.region.start), &value, 8);
			return;
		}
	}
	fail_msg("no region holds 0x%llx", (unsigned long long)addr);
}

static void add(memscan_snapshot *snap, uint64_t start, uint64_t end, uint32_t perms, uint32_t kind,
                const char *path)
{
	memscan_region g = { .start = start, .end = end, .perms = perms, .kind = kind, .path = path };
	uint8_t *data;

	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
}

/* libgame.so+0x1f40 -> game, game+0x18 -> player, player+0x8 = health; bss+0x10 -> player directly;
 * r--p +0x100 -> player (a base only with ALL_BASES); bss+0x20 -> player+0x10 (NEGATIVE only). */
static memscan_snapshot *game_snapshot(uint64_t player)
{
	memscan_snapshot *snap = NULL;
	const uint32_t R = MEMSCAN_PERM_READ, RW = R | MEMSCAN_PERM_WRITE;

	assert_int_equal(memscan_snapshot_new(42, 1, &snap), MEMSCAN_OK);
	add(snap, LOAD, DATA, R, MEMSCAN_KIND_FILE, "/opt/game/libgame.so");
	add(snap, DATA, BSS, RW, MEMSCAN_KIND_FILE, "/opt/game/libgame.so");
	add(snap, BSS, BSS + 0x1000, RW, MEMSCAN_KIND_ANON, "");
	add(snap, HEAP, HEAP + 0x10000, RW, MEMSCAN_KIND_HEAP, "[heap]");
	put(snap, DATA + 0xf40, GAME);
	put(snap, GAME + 0x18, player);
	put(snap, BSS + 0x10, player);
	put(snap, LOAD + 0x100, player);
	put(snap, BSS + 0x20, player + 0x10);
	put(snap, player + 0x8, 100);
	return snap;
}

static memscan_pointer_chains *search(const memscan_snapshot *snap, uint64_t addr, unsigned depth,
                                      unsigned flags, uint64_t max)
{
	memscan_pointer_search_options o;
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;

	memscan_pointer_search_options_default(&o);
	o.depth = depth;
	o.flags = flags;
	if (max)
		o.max_chains = max;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_search(idx, addr, &o, &c), MEMSCAN_OK);
	memscan_pointer_index_free(idx);
	return c;
}

/* Asserts that C's chains, in order, have the text forms EXPECT (NULL-terminated). */
static void assert_chains(const memscan_pointer_chains *c, const char *const *expect)
{
	char text[512];
	size_t n = 0;

	for (; expect[n]; n++) {
		assert_true(n < memscan_pointer_chains_count(c));
		assert_int_equal(
		    memscan_pointer_chain_format(memscan_pointer_chains_get(c, n), text, sizeof(text)),
		    MEMSCAN_OK);
		assert_string_equal(text, expect[n]);
	}
	assert_int_equal(memscan_pointer_chains_count(c), n);
}

static void test_search_finds_static_chains(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_chains *c = search(snap, HEALTH, 4, 0, 0);
	const char *const expect[] = { "libgame.so+0x2010 -> 0x8", "libgame.so+0x1f40 -> 0x18 -> 0x8", NULL };

	(void)state;
	assert_chains(c, expect);
	assert_int_equal(memscan_pointer_chains_target(c), HEALTH);
	memscan_pointer_chains_free(c);
	memscan_snapshot_free(snap);
}

static void test_search_all_bases_and_negative(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_chains *c = search(snap, HEALTH, 2, MEMSCAN_POINTER_ALL_BASES, 0);
	const char *const all[] = { "libgame.so+0x100 -> 0x8", "libgame.so+0x2010 -> 0x8",
		                    "[heap]+0x118 -> 0x8", "libgame.so+0x1f40 -> 0x18 -> 0x8", NULL };
	const char *const neg[] = { "libgame.so+0x2010 -> 0x8", "libgame.so+0x2020 -> -0x8",
		                    "libgame.so+0x1f40 -> 0x18 -> 0x8", NULL };

	(void)state;
	assert_chains(c, all);
	memscan_pointer_chains_free(c);
	c = search(snap, HEALTH, 2, MEMSCAN_POINTER_NEGATIVE, 0);
	assert_chains(c, neg);
	memscan_pointer_chains_free(c);
	memscan_snapshot_free(snap);
}

static void test_search_depth_and_max(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_chains *c = search(snap, HEALTH, 1, 0, 0);
	const char *const one[] = { "libgame.so+0x2010 -> 0x8", NULL };

	(void)state;
	assert_chains(c, one);
	memscan_pointer_chains_free(c);
	c = search(snap, HEALTH, 4, 0, 1); /* --max 1: the shortest chain alone */
	assert_chains(c, one);
	memscan_pointer_chains_free(c);
	memscan_snapshot_free(snap);
}

static void test_search_refuses_bad_input(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_search_options o;
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;

	(void)state;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	memscan_pointer_search_options_default(&o);
	assert_int_equal(memscan_pointer_search(idx, 0x900000, &o, &c), MEMSCAN_ERR_NOT_FOUND);
	o.depth = 0;
	assert_int_equal(memscan_pointer_search(idx, HEALTH, &o, &c), MEMSCAN_ERR_INVALID_ARG);
	o.depth = MEMSCAN_POINTER_DEPTH_MAX + 1;
	assert_int_equal(memscan_pointer_search(idx, HEALTH, &o, &c), MEMSCAN_ERR_INVALID_ARG);
	memscan_pointer_search_options_default(&o);
	o.max_bytes = 64; /* less than the visited-words bitmap */
	assert_int_equal(memscan_pointer_search(idx, HEALTH, &o, &c), MEMSCAN_ERR_LIMIT);
	assert_null(c);
	memscan_pointer_index_free(idx);
	assert_int_equal(memscan_pointer_index_build(snap, 256, &idx), MEMSCAN_ERR_LIMIT);
	assert_null(idx);
	memscan_snapshot_free(snap);
}

static void test_index_counts_pointer_words(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_index *idx = NULL;

	(void)state;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_index_count(idx), 5); /* the five pointers put above */
	assert_true(memscan_pointer_index_bytes(idx) <= memscan_snapshot_bytes(snap) / 2);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

#define DENSE 0x1000000u /* a heap-like region of random words, one in four a pointer into it */

/* GAME_SNAPSHOT plus SIZE bytes at DENSE, with a chain from the bss through it to HEALTH. */
static memscan_snapshot *dense_snapshot(uint64_t size)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_region g = { .start = DENSE, .end = DENSE + size, .perms = 3, .kind = 1, .path = "" };
	uint8_t *data;
	uint64_t x = 12345;

	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v;

		x = x * 6364136223846793005u + 1442695040888963407u;
		v = (x >> 33) % 4 == 0 ? g.start + ((x >> 8) % size) : x >> 40;
		memcpy(data + i, &v, 8);
	}
	put(snap, g.start + 0x40, HEALTH - 0x10);
	put(snap, BSS + 0x30, g.start + 0x38);
	return snap;
}

/* A large heap full of pointers: every worker count gives the same chains. */
static void test_index_parallel_equals_sequential(void **state)
{
	memscan_snapshot *snap = dense_snapshot(8u << 20);
	memscan_pointer_chains *seq, *par;

	(void)state;
	ms_set_worker_limit(1);
	seq = search(snap, HEALTH, 3, MEMSCAN_POINTER_ALL_BASES, MEMSCAN_POINTER_CHAINS_MAX);
	ms_set_worker_limit(0);
	par = search(snap, HEALTH, 3, MEMSCAN_POINTER_ALL_BASES, MEMSCAN_POINTER_CHAINS_MAX);
	assert_true(memscan_pointer_chains_count(seq) > 4);
	assert_int_equal(memscan_pointer_chains_count(seq), memscan_pointer_chains_count(par));
	for (size_t i = 0; i < memscan_pointer_chains_count(seq); i++)
		assert_memory_equal(memscan_pointer_chains_get(seq, i), memscan_pointer_chains_get(par, i),
		                    sizeof(memscan_pointer_chain));
	memscan_pointer_chains_free(seq);
	memscan_pointer_chains_free(par);
	memscan_snapshot_free(snap);
}

/* Random memory full of pointers: every chain found leads to the address (followed independently by
 * memscan_pointer_resolve), and the one-pointer chains are exactly the base words whose value lies in
 * the window (counted by brute force). */
static void test_search_sound_and_complete(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_region g = {
		.start = 0x2000000, .end = 0x2000000 + (1u << 20), .perms = 3, .kind = 1, .path = ""
	};
	memscan_pointer_resolution res;
	memscan_pointer_chains *c;
	uint64_t x = 99, target = g.start + 0x80010, want = 0;
	uint8_t *data;

	(void)state;
	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
	for (size_t i = 0; i < (1u << 20); i += 8) {
		uint64_t v;

		x = x * 6364136223846793005u + 1442695040888963407u;
		v = (x >> 60) < 6 ? g.start + ((x >> 12) % (1u << 20)) : x >> 50;
		memcpy(data + i, &v, 8);
	}
	for (uint64_t a = 0; a < 0x1000; a += 8) { /* the bss page: pointers into the random region */
		x = x * 6364136223846793005u + 1442695040888963407u;
		put(snap, BSS + a, g.start + 0x7f000 + ((x >> 12) % 0x3000));
	}
	for (size_t i = 0; i < memscan_snapshot_region_count(snap); i++) {
		memscan_snapshot_region r = memscan_snapshot_get(snap, i);

		if (r.region.start != DATA && r.region.start != BSS)
			continue; /* the default bases: libgame.so's data and its bss */
		for (uint64_t a = 0; a + 8 <= r.region.end - r.region.start; a += 8) {
			uint64_t v;

			memcpy(&v, r.data + a, 8);
			want += v <= target &&
			        target - v <= 0x1000; /* the window lies inside the random region */
		}
	}
	c = search(snap, target, 3, MEMSCAN_POINTER_NEGATIVE, MEMSCAN_POINTER_CHAINS_MAX);
	assert_true(memscan_pointer_chains_count(c) > want);
	for (size_t i = 0; i < memscan_pointer_chains_count(c); i++) {
		const memscan_pointer_chain *ch = memscan_pointer_chains_get(c, i);

		assert_int_equal(memscan_pointer_resolve(NULL, snap, ch, &res), MEMSCAN_OK);
		assert_int_equal(res.address, target);
	}
	memscan_pointer_chains_free(c);
	c = search(snap, target, 1, 0, MEMSCAN_POINTER_CHAINS_MAX);
	assert_int_equal(memscan_pointer_chains_count(c), want);
	memscan_pointer_chains_free(c);
	memscan_snapshot_free(snap);
}

/* What the hooks saw. The cancel hook answers yes from its CANCEL_AT-th call (0: never) and naps
 * NAP_MS first, which spaces the pieces of work so that progress reports fall between start and end. */
struct seen {
	pthread_mutex_t lock;
	unsigned calls, cancel_at, nap_ms;
	unsigned report_nap_ms; /* the first report past 0 naps this long before it is noted */
	int napped;
	uint64_t reports, first, last, total;
	int back, over, between; /* a report went back, passed TOTAL, lay strictly inside (0, TOTAL) */
	uint64_t lo, hi;         /* and whether one lay in [LO, HI) */
	int in_range;
};

static int seen_cancel(void *ctx)
{
	struct seen *w = ctx;
	unsigned n;

	pthread_mutex_lock(&w->lock);
	n = ++w->calls;
	pthread_mutex_unlock(&w->lock);
	if (w->nap_ms)
		nanosleep(&(struct timespec){ 0, (long)w->nap_ms * 1000000 }, NULL);
	return w->cancel_at && n >= w->cancel_at;
}

static void seen_progress(void *ctx, uint64_t done)
{
	struct seen *w = ctx;
	int nap;

	pthread_mutex_lock(&w->lock);
	nap = done > 0 && w->report_nap_ms && !w->napped++;
	pthread_mutex_unlock(&w->lock);
	if (nap)
		nanosleep(&(struct timespec){ 0, (long)w->report_nap_ms * 1000000 }, NULL);
	pthread_mutex_lock(&w->lock);
	if (w->reports++ == 0)
		w->first = done;
	else if (done < w->last)
		w->back = 1;
	w->last = done;
	w->over |= done > w->total;
	w->between |= done > 0 && done < w->total;
	w->in_range |= done >= w->lo && done < w->hi;
	pthread_mutex_unlock(&w->lock);
}

static memscan_hooks seen_start(struct seen *w, uint64_t total, unsigned cancel_at, unsigned nap_ms)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	w->total = total;
	w->cancel_at = cancel_at;
	w->nap_ms = nap_ms;
	return (memscan_hooks){ seen_cancel, w, seen_progress, w };
}

/* Progress went from 0 to TOTAL without going back or past it, with reports in between. */
static void assert_progress(const struct seen *w)
{
	assert_true(w->reports >= 3);
	assert_int_equal(w->first, 0);
	assert_false(w->back);
	assert_false(w->over);
	assert_true(w->between);
	assert_int_equal(w->last, w->total);
}

static void assert_same_chains(const memscan_pointer_chains *a, const memscan_pointer_chains *b)
{
	assert_int_equal(memscan_pointer_chains_count(a), memscan_pointer_chains_count(b));
	for (size_t i = 0; i < memscan_pointer_chains_count(a); i++)
		assert_memory_equal(memscan_pointer_chains_get(a, i), memscan_pointer_chains_get(b, i),
		                    sizeof(memscan_pointer_chain));
}

/* A search that crosses many index entries: 64 KiB windows in a dense heap, two levels expanded. */
static memscan_pointer_search_options wide_search(void)
{
	memscan_pointer_search_options o;

	memscan_pointer_search_options_default(&o);
	o.depth = 3;
	o.max_offset = 0x10000;
	o.max_chains = MEMSCAN_POINTER_CHAINS_MAX;
	return o;
}

/* A cancel hook that answers yes from its second call stops the build: CANCELLED, no index. */
static void test_index_build_cancelled(void **state)
{
	memscan_snapshot *snap = dense_snapshot(16u << 20);
	memscan_pointer_index *idx = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, memscan_snapshot_bytes(snap), 2, 0);

	(void)state;
	assert_int_equal(memscan_pointer_index_build_hooked(snap, 0, &h, &idx), MEMSCAN_ERR_CANCELLED);
	assert_null(idx);
	assert_true(w.calls >= 2);
	assert_true(w.last < w.total);
	memscan_snapshot_free(snap);
}

/* The build asks while it places the first pass's counts (work that grows with the buckets times the
 * workers) before the second pass: on one worker, a yes at the first question after the first pass's
 * stops it there, CANCELLED, where it went on to fail the index's budget checked after the placing
 * (LIMIT: MAX fits the counts, not the entries). */
static void test_index_build_cancelled_while_placing(void **state)
{
	memscan_snapshot *snap = dense_snapshot(16u << 20);
	uint64_t bytes = memscan_snapshot_bytes(snap), counts = ((bytes >> PTR_BUCKET_SHIFT) + 1) * 4;
	unsigned first = (unsigned)((bytes / 8 + PTR_CHUNK_WORDS - 1) / PTR_CHUNK_WORDS) + 1;
	memscan_pointer_index *idx = NULL;
	struct seen w;
	memscan_hooks h;
	uint64_t max;

	(void)state;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	max = memscan_pointer_index_bytes(idx) + counts - 1;
	memscan_pointer_index_free(idx);
	idx = NULL;
	ms_set_worker_limit(1);
	h = seen_start(&w, bytes, 0, 0);
	assert_int_equal(memscan_pointer_index_build_hooked(snap, max, &h, &idx), MEMSCAN_ERR_LIMIT);
	h = seen_start(&w, bytes, first + 1, 0);
	assert_int_equal(memscan_pointer_index_build_hooked(snap, max, &h, &idx), MEMSCAN_ERR_CANCELLED);
	ms_set_worker_limit(0);
	assert_null(idx);
	assert_int_equal(w.calls, first + 1);
	memscan_snapshot_free(snap);
}

/* The search asks while it prepares and while it expands: a yes at its second call (preparing), its
 * third (the first while expanding) or its last stops it with CANCELLED and no chains. */
static void test_search_cancelled(void **state)
{
	memscan_snapshot *snap = dense_snapshot(16u << 20);
	memscan_pointer_search_options o = wide_search();
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, 0, 0);
	unsigned calls;

	(void)state;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_search_hooked(idx, HEALTH, &o, &h, &c), MEMSCAN_OK);
	memscan_pointer_chains_free(c);
	calls = w.calls;
	assert_true(calls > 8);
	for (unsigned i = 0; i < 3; i++) {
		const unsigned at[] = { 2, 3, calls };

		h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, at[i], 0);
		c = NULL;
		assert_int_equal(memscan_pointer_search_hooked(idx, HEALTH, &o, &h, &c),
		                 MEMSCAN_ERR_CANCELLED);
		assert_null(c);
		assert_int_equal(w.calls, at[i]);
	}
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

/* A search prepares by going through the index's entries twice, asking every PTR_SETUP_CHECK_EVERY of
 * them both times, also when one bucket holds most of them: 3M words that point at HEALTH (as objects
 * at their vtable). A yes at the second question of the second time stops it (CANCELLED), where that
 * time asked once per million buckets and the search ended without the question. */
static void test_search_cancelled_in_one_bucket(void **state)
{
	const uint64_t words = 3u << 20;
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_region g = { .start = DENSE, .end = DENSE + words * 8, .perms = 3, .kind = 1, .path = "" };
	memscan_pointer_search_options o = wide_search();
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;
	struct seen w;
	memscan_hooks h;
	unsigned first;
	uint8_t *data;

	(void)state;
	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
	for (uint64_t i = 0; i < words; i++)
		memcpy(data + i * 8, &(uint64_t){ HEALTH }, 8);
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	first = (unsigned)((memscan_pointer_index_count(idx) - 1) / PTR_SETUP_CHECK_EVERY + 1);
	o.depth = 1;
	h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, first + 2, 0);
	assert_int_equal(memscan_pointer_search_hooked(idx, HEALTH, &o, &h, &c), MEMSCAN_ERR_CANCELLED);
	assert_null(c);
	assert_int_equal(w.calls, first + 2);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

/* One address whose window holds half a million holders is checked within: the search's first
 * question after it prepared (its third) comes before its budget of about 170 000 addresses runs out
 * (LIMIT otherwise). */
static void test_search_cancelled_within_one_address(void **state)
{
	const uint64_t size = 16u << 20;
	memscan_snapshot *snap = dense_snapshot(size);
	memscan_pointer_search_options o = wide_search();
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, 3, 0);

	(void)state;
	o.depth = 2;
	o.max_offset = size;
	o.max_bytes = size / 64 + size / 32768 + (4u << 20);
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_search(idx, DENSE + size - 8, &o, &c), MEMSCAN_ERR_LIMIT);
	assert_int_equal(memscan_pointer_search_hooked(idx, DENSE + size - 8, &o, &h, &c),
	                 MEMSCAN_ERR_CANCELLED);
	assert_null(c);
	assert_int_equal(w.calls, 3);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

/* Progress of a build on two workers: 0 at the start, reports in between, never back, ends at the
 * snapshot's bytes; the index equals one built without hooks (same chains found through it). */
static void test_index_build_progress(void **state)
{
	memscan_snapshot *snap = dense_snapshot(32u << 20);
	memscan_pointer_search_options o = wide_search();
	memscan_pointer_index *hooked = NULL, *plain = NULL;
	memscan_pointer_chains *a = NULL, *b = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, memscan_snapshot_bytes(snap), 0, 25);

	(void)state;
	ms_set_worker_limit(2);
	assert_int_equal(memscan_pointer_index_build_hooked(snap, 0, &h, &hooked), MEMSCAN_OK);
	ms_set_worker_limit(0);
	assert_progress(&w);
	assert_int_equal(memscan_pointer_index_build(snap, 0, &plain), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_index_count(hooked), memscan_pointer_index_count(plain));
	assert_int_equal(memscan_pointer_index_bytes(hooked), memscan_pointer_index_bytes(plain));
	o.depth = 2;
	assert_int_equal(memscan_pointer_search(hooked, HEALTH, &o, &a), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_search(plain, HEALTH, &o, &b), MEMSCAN_OK);
	assert_true(memscan_pointer_chains_count(a) > 0);
	assert_same_chains(a, b);
	memscan_pointer_chains_free(a);
	memscan_pointer_chains_free(b);
	memscan_pointer_index_free(hooked);
	memscan_pointer_index_free(plain);
	memscan_snapshot_free(snap);
}

/* Two workers report the build's progress; the first report past 0 is slow to arrive (its thread
 * naps 250 ms in the callback, as a thread the system put aside would): the other worker's reports
 * meanwhile must not overtake it, or the callback sees DONE go back. They did: each report carried
 * the count its own thread had reached, and reports ran at the same time. */
static void test_index_build_progress_slow_report(void **state)
{
	memscan_snapshot *snap = dense_snapshot(32u << 20);
	memscan_pointer_index *idx = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, memscan_snapshot_bytes(snap), 0, 50);

	(void)state;
	w.report_nap_ms = 250;
	ms_set_worker_limit(2);
	assert_int_equal(memscan_pointer_index_build_hooked(snap, 0, &h, &idx), MEMSCAN_OK);
	ms_set_worker_limit(0);
	assert_true(w.napped);
	assert_false(w.back);
	assert_int_equal(w.last, w.total);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

/* Progress of a search: from 0 to the total, never back, the middle level reported in its third; the
 * chains equal those found without hooks. One stopped by max_chains ends at the total too. */
static void test_search_progress(void **state)
{
	memscan_snapshot *snap = dense_snapshot(16u << 20);
	memscan_pointer_search_options o = wide_search();
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *a = NULL, *b = NULL;
	struct seen w;
	memscan_hooks h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, 0, 5);

	(void)state;
	w.lo = MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL / 3;
	w.hi = MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL * 2 / 3;
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_search_hooked(idx, HEALTH, &o, &h, &a), MEMSCAN_OK);
	assert_progress(&w);
	assert_true(w.in_range);
	assert_int_equal(memscan_pointer_search(idx, HEALTH, &o, &b), MEMSCAN_OK);
	assert_true(memscan_pointer_chains_count(a) > 0);
	assert_same_chains(a, b);
	memscan_pointer_chains_free(a);
	memscan_pointer_chains_free(b);
	o.max_chains = 1;
	h = seen_start(&w, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL, 0, 0);
	assert_int_equal(memscan_pointer_search_hooked(idx, HEALTH, &o, &h, &a), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_count(a), 1);
	assert_int_equal(w.first, 0);
	assert_int_equal(w.last, MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL);
	memscan_pointer_chains_free(a);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_finds_static_chains),
		cmocka_unit_test(test_search_all_bases_and_negative),
		cmocka_unit_test(test_search_depth_and_max),
		cmocka_unit_test(test_search_refuses_bad_input),
		cmocka_unit_test(test_index_counts_pointer_words),
		cmocka_unit_test(test_index_parallel_equals_sequential),
		cmocka_unit_test(test_search_sound_and_complete),
		cmocka_unit_test(test_index_build_cancelled),
		cmocka_unit_test(test_index_build_cancelled_while_placing),
		cmocka_unit_test(test_search_cancelled),
		cmocka_unit_test(test_search_cancelled_within_one_address),
		cmocka_unit_test(test_search_cancelled_in_one_bucket),
		cmocka_unit_test(test_index_build_progress),
		cmocka_unit_test(test_index_build_progress_slow_report),
		cmocka_unit_test(test_search_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
