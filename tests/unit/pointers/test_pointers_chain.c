/* SPDX-License-Identifier: MIT */
/* Unit tests of pointers_chain.c and pointers_resolve.c: the text form, chains files (round trip,
 * damage refused), and chains followed and rescanned in hand-built snapshots and in the fixture. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>
#include "testutil.h"

static memscan_pointer_chain parsed(const char *text)
{
	memscan_pointer_chain c;

	assert_int_equal(memscan_pointer_chain_parse(text, &c), MEMSCAN_OK);
	return c;
}

static void test_chain_text_round_trip(void **state)
{
	memscan_pointer_chain c = parsed("libgame.so+0x1f40 -> 0x18 -> 0x8");
	char text[512];

	(void)state;
	assert_string_equal(c.module, "libgame.so");
	assert_int_equal(c.offset, 0x1f40);
	assert_int_equal(c.depth, 2);
	assert_int_equal(c.offsets[0], 0x18);
	assert_int_equal(c.offsets[1], 8);
	c = parsed("libstdc++.so.6+1f40->+0x18->-0x8");
	assert_string_equal(c.module, "libstdc++.so.6");
	assert_int_equal(c.offsets[1], -8);
	assert_int_equal(memscan_pointer_chain_format(&c, text, sizeof(text)), MEMSCAN_OK);
	assert_string_equal(text, "libstdc++.so.6+0x1f40 -> 0x18 -> -0x8");
	assert_int_equal(memscan_pointer_chain_format(&c, text, 10), MEMSCAN_ERR_LIMIT);
	c = parsed("[heap]+0x10 -> 0x0");
	assert_string_equal(c.module, "[heap]");
}

static void test_chain_text_refused(void **state)
{
	const char *bad[] = { "",
		              "libgame.so",
		              "libgame.so+0x10",
		              "+0x10 -> 0x8",
		              "libgame.so+zz -> 0x8",
		              "libgame.so+0x10 -> ",
		              "libgame.so+0x10 -> 0x8 junk",
		              "libgame.so+0x10 => 0x8",
		              "a+0 ->1 ->2 ->3 ->4 ->5 ->6 ->7 ->8 ->9",
		              "a+0x10 -> 0x10000000000000000" };
	memscan_pointer_chain c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(memscan_pointer_chain_parse(bad[i], &c), MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(memscan_pointer_chain_parse("a+0 ->1 ->2 ->3 ->4 ->5 ->6 ->7 ->8", &c), MEMSCAN_OK);
	assert_int_equal(c.depth, 8);
}

static memscan_pointer_chains *two_chains(void)
{
	memscan_pointer_chains *l = NULL;
	memscan_pointer_chain a = parsed("libgame.so+0x1f40 -> 0x18 -> 0x8"),
	                      b = parsed("[heap]+0x8 -> -0x20");

	assert_int_equal(memscan_pointer_chains_new(0x7f0012345678, &l), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_add(l, &a), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_add(l, &b), MEMSCAN_OK);
	return l;
}

static void test_chains_file_round_trip(void **state)
{
	memscan_pointer_chains *l = two_chains(), *back = NULL;
	const char *path = ms_scratch_path("c.ptrs");

	(void)state;
	assert_int_equal(memscan_pointer_chains_save(l, path), MEMSCAN_OK);
	assert_int_equal(ms_mode_of(path) & 0777, 0600);
	assert_int_equal(memscan_pointer_chains_load(path, &back), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_target(back), 0x7f0012345678);
	assert_int_equal(memscan_pointer_chains_count(back), 2);
	for (size_t i = 0; i < 2; i++)
		assert_memory_equal(memscan_pointer_chains_get(l, i), memscan_pointer_chains_get(back, i),
		                    sizeof(memscan_pointer_chain));
	memscan_pointer_chains_free(back);
	memscan_pointer_chains_free(l);
}

static void test_chains_file_damage_refused(void **state)
{
	memscan_pointer_chains *l = two_chains(), *back = NULL;
	const char *path = ms_scratch_path("c.ptrs"), *bad = ms_scratch_path("bad.ptrs");
	size_t len;
	uint8_t *b;

	(void)state;
	assert_int_equal(memscan_pointer_chains_save(l, path), MEMSCAN_OK);
	b = ms_file_read(path, &len);
	b[40] ^= 1; /* a module name's byte: the checksum no longer matches */
	ms_write_file(bad, b, len, 0600);
	assert_int_equal(memscan_pointer_chains_load(bad, &back), MEMSCAN_ERR_BAD_FORMAT);
	b[40] ^= 1;
	b[8] = 2; /* a newer version */
	ms_write_file(bad, b, len, 0600);
	assert_int_equal(memscan_pointer_chains_load(bad, &back), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	b[8] = 1;
	ms_write_file(bad, b, 20, 0600);
	assert_int_equal(memscan_pointer_chains_load(bad, &back), MEMSCAN_ERR_TRUNCATED);
	ms_write_file(bad, b, len - 3, 0600);
	assert_int_equal(memscan_pointer_chains_load(bad, &back), MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(memscan_pointer_chains_load(ms_scratch_path("none"), &back), MEMSCAN_ERR_IO);
	assert_null(back);
	free(b);
	memscan_pointer_chains_free(l);
}

/* libgame.so: r--p at 0x10000, rw-p at 0x11000; heap at 0x500000 with game at 0x500100. */
static memscan_snapshot *game(uint64_t player, uint64_t game_ptr)
{
	memscan_snapshot *snap = NULL;
	memscan_region g[] = {
		{ .start = 0x10000,
		  .end = 0x11000,
		  .perms = 1,
		  .kind = MEMSCAN_KIND_FILE,
		  .path = "/x/libgame.so" },
		{ .start = 0x11000,
		  .end = 0x12000,
		  .perms = 3,
		  .kind = MEMSCAN_KIND_FILE,
		  .path = "/x/libgame.so" },
		{ .start = 0x500000,
		  .end = 0x510000,
		  .perms = 3,
		  .kind = MEMSCAN_KIND_HEAP,
		  .path = "[heap]" },
	};
	uint8_t *d[3];

	assert_int_equal(memscan_snapshot_new(1, 1, &snap), MEMSCAN_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(memscan_snapshot_add_region(snap, &g[i], &d[i]), MEMSCAN_OK);
	memcpy(d[1] + 0xf40, &game_ptr, 8);
	memcpy(d[2] + 0x118, &player, 8);
	return snap;
}

static void test_resolve_reports_the_broken_step(void **state)
{
	memscan_snapshot *ok = game(0x502000, 0x500100), *null = game(0, 0x500100),
	                 *wild = game(0x502000, 0x900000);
	memscan_pointer_chain c = parsed("libgame.so+0x1f40 -> 0x18 -> 0x8");
	memscan_pointer_resolution res;

	(void)state;
	assert_int_equal(memscan_pointer_resolve(NULL, ok, &c, &res), MEMSCAN_OK);
	assert_int_equal(res.address, 0x502008);
	assert_int_equal(memscan_pointer_resolve(NULL, null, &c, &res), MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(res.step, 2);
	assert_int_equal(res.at, 0x500118);
	assert_true(res.null);
	assert_int_equal(memscan_pointer_resolve(NULL, wild, &c, &res), MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(res.step, 2);
	assert_int_equal(res.at, 0x900018);
	assert_false(res.null);
	c = parsed("libother.so+0x10 -> 0x8");
	assert_int_equal(memscan_pointer_resolve(NULL, ok, &c, &res), MEMSCAN_ERR_NOT_FOUND);
	assert_int_equal(res.step, 0);
	assert_int_equal(memscan_pointer_resolve(NULL, NULL, &c, &res), MEMSCAN_ERR_INVALID_ARG);
	memscan_snapshot_free(ok);
	memscan_snapshot_free(null);
	memscan_snapshot_free(wild);
}

static void test_rescan_keeps_what_still_reaches(void **state)
{
	memscan_snapshot *moved = game(0x503000, 0x500100);
	memscan_pointer_chains *l = NULL, *kept = NULL;
	memscan_pointer_chain a = parsed("libgame.so+0x1f40 -> 0x18 -> 0x8"),
	                      b = parsed("[heap]+0x118 -> 0x10");

	(void)state;
	assert_int_equal(memscan_pointer_chains_new(0x502008, &l), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_add(l, &a), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_add(l, &b), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_rescan(NULL, moved, l, 0x503008, &kept), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_count(kept), 1);
	assert_string_equal(memscan_pointer_chains_get(kept, 0)->module, "libgame.so");
	assert_int_equal(memscan_pointer_chains_target(kept), 0x503008);
	memscan_pointer_chains_free(kept);
	memscan_pointer_chains_free(l);
	memscan_snapshot_free(moved);
}

static int always_cancel(void *ctx)
{
	(void)ctx;
	return 1;
}

/* A live process: the chains found in a snapshot of the fixture resolve the same way in the process.
 * Once the process's cancel question says stop, following and rescanning stop with CANCELLED (not
 * chains that broke, which a rescan would drop). */
static void test_resolve_in_process_matches_snapshot(void **state)
{
	memscan_pointer_resolution res;
	ms_fixture f;
	memscan_process *proc = NULL;
	memscan_snapshot *snap = NULL;
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL, *kept = NULL;
	memscan_pointer_search_options o;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &proc), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(proc, NULL, &snap), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_index_build(snap, 0, &idx), MEMSCAN_OK);
	assert_true(memscan_pointer_index_count(idx) > 0);
	memscan_pointer_search_options_default(&o);
	o.depth = 2;
	o.max_chains = 50;
	/* the arena's first byte: whatever points near it from static data is checked both ways */
	assert_int_equal(memscan_pointer_search(idx, f.arena, &o, &c), MEMSCAN_OK);
	assert_true(memscan_pointer_chains_count(c) > 0); /* the fixture's globals hold the arena */
	assert_int_equal(memscan_pointer_rescan(proc, NULL, c, f.arena, &kept), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_count(kept), memscan_pointer_chains_count(c));
	memscan_pointer_chains_free(kept);
	assert_int_equal(memscan_process_set_cancel(proc, always_cancel, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_resolve(proc, NULL, memscan_pointer_chains_get(c, 0), &res),
	                 MEMSCAN_ERR_CANCELLED);
	kept = NULL;
	assert_int_equal(memscan_pointer_rescan(proc, NULL, c, f.arena, &kept), MEMSCAN_ERR_CANCELLED);
	assert_null(kept);
	memscan_pointer_chains_free(c);
	memscan_pointer_index_free(idx);
	memscan_snapshot_free(snap);
	memscan_process_free(proc);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_text_round_trip),
		cmocka_unit_test(test_chain_text_refused),
		cmocka_unit_test_setup_teardown(test_chains_file_round_trip, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_chains_file_damage_refused, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test(test_resolve_reports_the_broken_step),
		cmocka_unit_test(test_rescan_keeps_what_still_reaches),
		cmocka_unit_test(test_resolve_in_process_matches_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
