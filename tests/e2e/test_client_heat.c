/* SPDX-License-Identifier: MIT */
/* libmemscan-client's remote heatmaps against a real agent on 127.0.0.1 (real keys) and the fixture:
 * exact counts of known writes (cells, bins, regions, totals), a heat of another session or unknown,
 * bad bins and options, a key without the read grant, the session budget (refused, and max_cells
 * lowered to what it holds; region paths charged), the cell maximum, the per-session count; the agent
 * stays up. */
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/client.h>

/* The session budget of the suite's agent: 512 KiB, so that a heat of the whole arena (128 pages)
 * does not fit, one of 4 pages does, and so do 16 heats of one page (20 KiB each). */
#define BUDGET       "512K"
#define BUDGET_BYTES (512u << 10)
#define ARENA_PAGES  128

static ms_agent env;
static ms_fixture fx;

static memscan_client *client_of(const ms_agent_key *key)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_identity_file(c, key->path), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_agent_key(c, env.agent.pub), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_connect(c, env.url), MEMSCAN_OK);
	return c;
}

/* PAGES pages of the arena from page FIRST. */
static memscan_filter arena_at(unsigned first, unsigned pages)
{
	memscan_filter f = { .range_start = fx.arena + (uint64_t)first * 4096,
		             .range_end = fx.arena + (uint64_t)(first + pages) * 4096 };

	return f;
}

/* The first PAGES pages of the arena. */
static memscan_filter arena_pages(unsigned pages)
{
	return arena_at(0, pages);
}

static void bump(uint64_t addr)
{
	assert_int_equal(ms_fixture_cmd(&fx, "bump %llx", (unsigned long long)addr), 0);
}

/* What the counts callbacks received. */
struct got {
	memscan_heat_cell cells[8];
	uint32_t bins[8][4];
	memscan_heat_region regions[2];
	size_t ncells, nregions;
};

static int on_region(void *ctx, const memscan_heat_region *r)
{
	struct got *g = ctx;

	assert_true(g->nregions < 2);
	g->regions[g->nregions++] = *r;
	return 0;
}

static int on_cell(void *ctx, const memscan_heat_cell *c)
{
	struct got *g = ctx;

	assert_true(g->ncells < 8);
	g->cells[g->ncells] = *c;
	memcpy(g->bins[g->ncells], c->bins, 3 * sizeof(uint32_t));
	g->ncells++;
	return 0;
}

/* Page 2 changes in bins 0 and 1, page 5 in bin 1, nothing in bin 2: the counts say exactly that. */
static void test_heat_counts_exact(void **state)
{
	memscan_heat_options o = { .cell_size = 4096, .bins = 3 };
	memscan_filter f = arena_pages(8);
	memscan_client *c = client_of(&env.full);
	memscan_client_heat_stats st;
	memscan_client_heat h;
	struct got g = { 0 };
	uint64_t p2 = fx.arena + 2 * 4096 + 0x21, p5 = fx.arena + 5 * 4096 + 0x42;

	(void)state;
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &f, &o, &h), MEMSCAN_OK);
	assert_int_equal(h.pid, fx.pid);
	assert_int_equal(h.baseline_bytes, 8 * 4096);
	assert_int_equal(h.cell_size, 4096);
	assert_int_equal(h.bins, 3);
	bump(p2);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 0, &st), MEMSCAN_OK);
	assert_int_equal(st.samples, 1);
	assert_int_equal(st.cells, 1);
	bump(p2);
	bump(p5);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 1, &st), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 2, &st), MEMSCAN_OK);
	assert_int_equal(st.samples, 3);
	assert_int_equal(st.cells, 2);
	assert_int_equal(st.regions, 1);
	assert_int_equal(st.changed_bytes, 3);

	ms_assert_call(c, memscan_client_heat_cells(c, &h, on_region, on_cell, &g, &st), MEMSCAN_OK);
	assert_int_equal(st.samples, 3);
	assert_int_equal(g.ncells, 2);
	assert_int_equal(g.cells[0].address, fx.arena + 2 * 4096);
	assert_int_equal(g.cells[0].size, 4096);
	assert_int_equal(g.cells[0].changes, 2);
	assert_int_equal(g.cells[0].bytes, 2);
	assert_int_equal(g.cells[0].region, 0);
	assert_int_equal(g.bins[0][0], 1);
	assert_int_equal(g.bins[0][1], 1);
	assert_int_equal(g.bins[0][2], 0);
	assert_int_equal(g.cells[1].address, fx.arena + 5 * 4096);
	assert_int_equal(g.cells[1].changes, 1);
	assert_int_equal(g.bins[1][0], 0);
	assert_int_equal(g.bins[1][1], 1);
	assert_int_equal(g.nregions, 1);
	assert_int_equal(g.regions[0].changes, 2);
	assert_int_equal(g.regions[0].cells, 2);
	assert_int_equal(g.regions[0].bytes, 3);
	assert_true(g.regions[0].region.start <= fx.arena && g.regions[0].region.end >= fx.arena + 8 * 4096);
	ms_assert_call(c, memscan_client_heat_release(c, h.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_release(c, h.id), MEMSCAN_ERR_NOT_FOUND);
	memscan_client_free(c);
}

/* A heat is its session's: another connection of the same key cannot use it, as an unknown id; a
 * bin out of range is refused; the owner's heat still works afterwards. */
static void test_heat_other_session_unknown_bad_bin(void **state)
{
	memscan_heat_options o = { .bins = 2 };
	memscan_filter f = arena_pages(4);
	memscan_client *a = client_of(&env.full), *b = client_of(&env.full);
	memscan_client_heat h, fake;

	(void)state;
	ms_assert_call(a, memscan_client_heat_start(a, fx.pid, &f, &o, &h), MEMSCAN_OK);
	ms_assert_call(b, memscan_client_heat_sample(b, h.id, 0, NULL), MEMSCAN_ERR_NOT_FOUND);
	assert_non_null(strstr(memscan_client_last_error(b), "in this session"));
	ms_assert_call(b, memscan_client_heat_cells(b, &h, NULL, NULL, NULL, NULL), MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(b, memscan_client_heat_release(b, h.id), MEMSCAN_ERR_NOT_FOUND);
	fake = h;
	fake.id = h.id + 1;
	ms_assert_call(a, memscan_client_heat_sample(a, fake.id, 0, NULL), MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(a, memscan_client_heat_cells(a, &fake, NULL, NULL, NULL, NULL), MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(a, memscan_client_heat_sample(a, h.id, 2, NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_non_null(strstr(memscan_client_last_error(a), "time bin 2 out of range"));
	ms_assert_call(a, memscan_client_heat_sample(a, h.id, 1, NULL), MEMSCAN_OK);
	ms_assert_call(a, memscan_client_heat_release(a, h.id), MEMSCAN_OK);
	memscan_client_free(a);
	memscan_client_free(b);
	assert_true(ms_agent_err_has(&env, "op=heat_sample") && ms_agent_err_has(&env, "result=NOT_FOUND"));
}

static void test_heat_bad_options_denied(void **state)
{
	static const memscan_heat_options bad[] = {
		{ .cell_size = 3000 },
		{ .cell_size = (uint64_t)1 << 31 },
		{ .bins = 1025 },
		{ .max_cells = (uint64_t)1 << 27 },
	};
	memscan_filter f = arena_pages(4);
	memscan_client *c = client_of(&env.full), *l = client_of(&env.listonly);
	memscan_client_heat h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &f, &bad[i], &h),
		               MEMSCAN_ERR_INVALID_ARG);
	ms_assert_call(c, memscan_client_heat_start(c, 0, &f, NULL, &h), MEMSCAN_ERR_INVALID_ARG);
	ms_assert_call(l, memscan_client_heat_start(l, fx.pid, &f, NULL, &h), MEMSCAN_ERR_DENIED);
	assert_non_null(strstr(memscan_client_last_error(l), "not granted 'read'"));
	memscan_client_free(c);
	memscan_client_free(l);
}

/* The whole arena's baseline exceeds the session budget: BUSY naming the setting. Four pages fit, and
 * the cells the heat may count are what the rest of the budget holds (120 bytes a cell, 16 KiB for
 * the table); more changed cells than a heat's maximum is LIMIT. */
static void test_heat_budget_and_cell_limit(void **state)
{
	memscan_heat_options o = { .cell_size = 64 }, two = { .cell_size = 64, .max_cells = 2 };
	memscan_filter whole = arena_pages(ARENA_PAGES), part = arena_pages(4);
	memscan_client *c = client_of(&env.full);
	memscan_client_heat h;

	(void)state;
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &whole, &o, &h), MEMSCAN_ERR_BUSY);
	assert_non_null(strstr(memscan_client_last_error(c), "--session-budget"));
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &part, &o, &h), MEMSCAN_OK);
	assert_int_equal(h.max_cells, (BUDGET_BYTES - 4 * 4096 - (16u << 10)) / 120);
	ms_assert_call(c, memscan_client_heat_release(c, h.id), MEMSCAN_OK);

	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &part, &two, &h), MEMSCAN_OK);
	assert_int_equal(h.max_cells, 2);
	for (int i = 0; i < 3; i++)
		bump(fx.arena + 4096 + 64 * (uint64_t)i);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 0, NULL), MEMSCAN_ERR_LIMIT);
	assert_non_null(strstr(memscan_client_last_error(c), "more than 2 cells changed"));
	ms_assert_call(c, memscan_client_heat_release(c, h.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* What a sample counted is charged to the session's budget, also when it ends in LIMIT: the next
 * heat's max_cells (what the rest of the budget holds) shows it. A sample whose new cells would outgrow
 * the budget counts only as many as the budget holds, fails BUSY naming it, and the heat keeps them:
 * the agent never holds counts it did not charge. */
static void test_heat_counts_charged(void **state)
{
	memscan_heat_options two = { .cell_size = 64, .max_cells = 2 }, o = { .cell_size = 64 };
	memscan_heat_options bytes = { .cell_size = 1 };
	memscan_filter fa = arena_at(10, 4), fb = arena_at(20, 1), fc = arena_at(30, 2);
	memscan_client *c = client_of(&env.full);
	memscan_client_heat a, b;
	memscan_client_heat_stats st;
	const uint64_t fixed = 16u << 10, region = 512, cell = 120;

	(void)state;
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fa, &two, &a), MEMSCAN_OK);
	for (int i = 0; i < 3; i++)
		bump(fx.arena + 10 * 4096 + 64 * (uint64_t)i);
	ms_assert_call(c, memscan_client_heat_sample(c, a.id, 0, NULL), MEMSCAN_ERR_LIMIT);
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fb, &o, &b), MEMSCAN_OK);
	/* A: its baseline, its table, two cells and a region; B: its baseline and table */
	assert_int_equal(b.max_cells,
	                 (BUDGET_BYTES - (4 * 4096 + fixed + 2 * cell + region) - (4096 + fixed)) / cell);
	ms_assert_call(c, memscan_client_heat_release(c, a.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_release(c, b.id), MEMSCAN_OK);

	/* one-byte cells of page 20 may count 4198 cells, but once page 30's heat holds its share the
	 * budget has room for 3989: the page's ~4080 changed bytes do not all fit */
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fb, &bytes, &a), MEMSCAN_OK);
	assert_int_equal(a.max_cells, (BUDGET_BYTES - 4096 - fixed) / cell);
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fc, &o, &b), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&fx, "scramble %s 1000 7", ms_hex(fx.arena + 20 * 4096)), 0);
	ms_assert_call(c, memscan_client_heat_sample(c, a.id, 0, NULL), MEMSCAN_ERR_BUSY);
	assert_non_null(strstr(memscan_client_last_error(c), "--session-budget"));
	ms_assert_call(c, memscan_client_heat_cells(c, &a, NULL, NULL, NULL, &st), MEMSCAN_OK);
	assert_int_equal(st.cells, (BUDGET_BYTES - (4096 + fixed) - (2 * 4096 + fixed) - region) / cell);
	ms_assert_call(c, memscan_client_heat_release(c, a.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_release(c, b.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* The paths of the regions a heat counts are charged too: a heat of the fixture's stack ("[stack]",
 * changed by the command the fixture reads into it) costs 7 bytes more than an anonymous region's.
 * The next heat's max_cells shows the room left, in units of its cell cost (120 + 8 per bin): bins
 * are chosen so that 7 bytes more or less change the quotient. */
static void test_heat_charges_region_paths(void **state)
{
	memscan_filter fs = { .path_substr = "[stack]" }, fb = arena_at(20, 1);
	memscan_heat_options o = { .cell_size = 4096 };
	memscan_client *c = client_of(&env.full);
	memscan_client_heat a, b;
	memscan_client_heat_stats st;
	const uint64_t fixed = 16u << 10, region = 512, cell = 120, path = strlen("[stack]");
	uint64_t room;
	uint32_t bins = 0;

	(void)state;
	assert_int_equal(ms_fixture_cmd(&fx, "ping"), 0);
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fs, &o, &a), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&fx, "set %s 1", ms_hex(fx.arena + 40 * 4096)), 0);
	ms_assert_call(c, memscan_client_heat_sample(c, a.id, 0, NULL), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_cells(c, &a, NULL, NULL, NULL, &st), MEMSCAN_OK);
	assert_int_equal(st.regions, 1);
	assert_true(st.cells >= 1);
	room = BUDGET_BYTES - (a.baseline_bytes + fixed + st.cells * cell + region + path) - (4096 + fixed);
	while (bins < MEMSCAN_HEAT_BINS_MAX && room / (cell + 8 * bins) == (room + path) / (cell + 8 * bins))
		bins++;
	assert_true(bins < MEMSCAN_HEAT_BINS_MAX);
	o.bins = bins;
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &fb, &o, &b), MEMSCAN_OK);
	assert_int_equal(b.max_cells, room / (cell + 8 * bins));
	ms_assert_call(c, memscan_client_heat_release(c, a.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_release(c, b.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* Counts the cells handed over; the first one stops the process the heat watches (CTX). */
static int stop_at_first(void *ctx, const memscan_heat_cell *c)
{
	ms_fixture *target = ctx;

	(void)c;
	if (target->pid > 0)
		ms_fixture_stop(target);
	return 0;
}

/* The process exits while its counts are paged (one-byte cells over 56 scrambled pages make them
 * more than one page): the pages after it still come, as the counts of a process that exited before
 * HeatCells do. An agent of the default budget, for the ~27 MB the counts are charged. */
static void test_heat_cells_after_exit(void **state)
{
	static const char *const fixture_args[] = { "--pages", "56", NULL };
	memscan_heat_options bytes = { .cell_size = 1 };
	memscan_client_heat_stats st;
	memscan_client_heat h;
	memscan_client *c = NULL;
	ms_fixture gone;
	ms_agent big;
	memscan_filter f;

	(void)state;
	assert_int_equal(ms_fixture_start(&gone, fixture_args), 0);
	assert_int_equal(ms_agent_init(&big), 0);
	assert_int_equal(ms_agent_start(&big, NULL), 0);
	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_identity_file(c, big.full.path), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_agent_key(c, big.agent.pub), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_connect(c, big.url), MEMSCAN_OK);
	f = (memscan_filter){ .range_start = gone.arena, .range_end = gone.arena + 56 * 4096 };
	ms_assert_call(c, memscan_client_heat_start(c, gone.pid, &f, &bytes, &h), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&gone, "scramble %s 38000 9", ms_hex(gone.arena)), 0);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 0, &st), MEMSCAN_OK);
	assert_true(st.cells > 200000);
	ms_assert_call(c, memscan_client_heat_cells(c, &h, NULL, stop_at_first, &gone, &st), MEMSCAN_OK);
	assert_true(st.cells > 200000);
	ms_assert_call(c, memscan_client_heat_sample(c, h.id, 0, NULL), MEMSCAN_ERR_PROCESS_GONE);
	memscan_client_free(c);
	assert_int_equal(ms_agent_terminate(&big, 30000), 0);
	ms_agent_stop(&big);
	ms_agent_cleanup(&big);
}

/* A session keeps at most 16 heats; releasing one makes room. */
static void test_heat_count_limit(void **state)
{
	memscan_filter f = arena_pages(1);
	memscan_client *c = client_of(&env.full);
	memscan_client_heat h[17];

	(void)state;
	for (int i = 0; i < 16; i++)
		ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &f, NULL, &h[i]), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &f, NULL, &h[16]), MEMSCAN_ERR_LIMIT);
	assert_non_null(strstr(memscan_client_last_error(c), "16 heats"));
	ms_assert_call(c, memscan_client_heat_release(c, h[3].id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_heat_start(c, fx.pid, &f, NULL, &h[3]), MEMSCAN_OK);
	memscan_client_free(c); /* the session's end frees them all */
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

int main(void)
{
	static const char *const agent_args[] = { "--session-budget", BUDGET, NULL };
	static const char *const fixture_args[] = { "--pages", "128", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heat_counts_exact),
		cmocka_unit_test(test_heat_other_session_unknown_bad_bin),
		cmocka_unit_test(test_heat_bad_options_denied),
		cmocka_unit_test(test_heat_budget_and_cell_limit),
		cmocka_unit_test(test_heat_counts_charged),
		cmocka_unit_test(test_heat_charges_region_paths),
		cmocka_unit_test(test_heat_cells_after_exit),
		cmocka_unit_test(test_heat_count_limit),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return ms_agent_run_suite_fx("client heat", &env, &fx, fixture_args, agent_args, tests,
	                             sizeof(tests) / sizeof(tests[0]));
}
