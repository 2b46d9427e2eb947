/* SPDX-License-Identifier: MIT */
/* Unit tests of pointers.c and pointers_search.c: the index and the search over hand-built snapshots
 * whose chains are known (libgame.so's data and bss -> heap objects -> a value). */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>
#include "internal.h"
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

/* A large heap full of pointers: every worker count gives the same chains. */
static void test_index_parallel_equals_sequential(void **state)
{
	memscan_snapshot *snap = game_snapshot(PLAYER);
	memscan_pointer_chains *seq, *par;
	memscan_region g = {
		.start = 0x1000000, .end = 0x1000000 + (8u << 20), .perms = 3, .kind = 1, .path = ""
	};
	uint8_t *data;
	uint64_t x = 12345;

	(void)state;
	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
	for (size_t i = 0; i < (8u << 20); i += 8) {
		uint64_t v;

		x = x * 6364136223846793005u + 1442695040888963407u;
		v = (x >> 33) % 4 == 0 ? g.start + ((x >> 8) % (8u << 20)) : x >> 40;
		memcpy(data + i, &v, 8);
	}
	put(snap, g.start + 0x40, HEALTH - 0x10);
	put(snap, BSS + 0x30, g.start + 0x38);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
