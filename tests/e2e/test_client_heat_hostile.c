/* SPDX-License-Identifier: MIT */
/* libmemscan-client's remote heatmaps against a fake agent (real channel and keys on 127.0.0.1): an
 * agent too old for heats is named so, a malformed heat reply and every kind of malformed page of
 * counts are refused as PROTOCOL before the callbacks see a bad cell, and the session stays usable. */
#include "fakeagent.h"
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#define FAKE_PAGE (4u << 20)
#define BASE      0x7f0000000000ull
#define HEAT_ID   7

/* What the fake answers to heat requests. */
enum mode {
	M_UNKNOWN_OP,  /* as an agent that predates the operations */
	M_HONEST,      /* one region, two cells, three samples, two bins */
	M_NO_STATS,    /* a page without its totals */
	M_CELL_SIZE,   /* a cell size other than the heat's */
	M_NUMBERING,   /* first_cell not where the pages got to */
	M_DISORDER,    /* cells out of address order */
	M_ALIGN,       /* a cell address not a multiple of the cell size */
	M_BIN_COUNT,   /* a cell with one bin too few */
	M_BIN_OVER,    /* a bin counting more than the cell's changes */
	M_CHANGES,     /* more changes than samples */
	M_ZERO,        /* a cell that never changed */
	M_REGION,      /* a cell naming a region not sent */
	M_NO_REGIONS,  /* cells before the regions the totals announce */
	M_SHORT,       /* the last page ends one cell short of the totals */
	M_OVER_MAX,    /* more cells than the heat may count */
	M_BAD_START,   /* a heat reply with another cell size than asked for */
	M_START_NO_ID, /* a heat reply without an id */
	M_START_MORE,  /* a heat reply granting more cells than asked for */
	M_PATHS,       /* pages of regions whose paths add up to more than 64 MiB */
};

static ms_fake fa;
static enum mode mode;
static int delivered; /* cells handed to the callback */

static void send_start(ms_fake *f, const Memscan__V1__HeatStart *hs)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatReply rep = MEMSCAN__V1__HEAT_REPLY__INIT;

	rep.heat_id = mode == M_START_NO_ID ? 0 : HEAT_ID;
	rep.pid = hs->target ? hs->target->pid : 0;
	rep.cell_size = mode == M_BAD_START ? 8192 : hs->cell_size ? hs->cell_size : 4096;
	rep.bins = hs->bins;
	rep.max_cells = mode == M_START_MORE ? hs->max_cells + 1 : 100;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT;
	resp.heat = &rep;
	ms_fake_send(f, &resp);
}

/* One page: a region, then the cells (two; three with M_OVER_MAX), spoiled as MODE says. */
static void send_cells(ms_fake *f)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatCellPage page = MEMSCAN__V1__HEAT_CELL_PAGE__INIT;
	Memscan__V1__HeatStats st = MEMSCAN__V1__HEAT_STATS__INIT;
	Memscan__V1__Region reg = MEMSCAN__V1__REGION__INIT;
	Memscan__V1__HeatRegion hr = MEMSCAN__V1__HEAT_REGION__INIT, *hrs[1] = { &hr };
	Memscan__V1__HeatCell c[3], *cs[3];
	uint32_t bins[3][2] = { { 1, 1 }, { 0, 1 }, { 1, 0 } };
	size_t n = mode == M_OVER_MAX ? 3 : mode == M_SHORT ? 1 : 2;

	reg.start = BASE;
	reg.end = BASE + 0x10000;
	reg.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	reg.kind = MEMSCAN_KIND_ANON;
	reg.path = (char *)"";
	hr.region = &reg;
	hr.changes = 2;
	hr.bytes = 3;
	hr.cells = n;
	for (size_t i = 0; i < 3; i++) {
		memscan__v1__heat_cell__init(&c[i]);
		c[i].address = BASE + 0x1000 * (i + 1);
		c[i].changes = bins[i][0] + bins[i][1];
		c[i].bytes = c[i].changes;
		c[i].region = 1;
		c[i].bins = bins[i];
		c[i].n_bins = 2;
		cs[i] = &c[i];
	}
	st.samples = 3;
	st.cells = mode == M_SHORT ? 2 : n;
	st.regions = 1;
	st.changed_bytes = 3;
	page.stats = mode == M_NO_STATS ? NULL : &st;
	page.cell_size = mode == M_CELL_SIZE ? 8192 : 4096;
	page.bins = 2;
	page.regions = hrs;
	page.n_regions = mode == M_NO_REGIONS ? 0 : 1;
	page.first_cell = mode == M_NUMBERING ? 5 : 0;
	page.cells = cs;
	page.n_cells = n;
	if (mode == M_DISORDER)
		c[1].address = c[0].address;
	if (mode == M_ALIGN)
		c[1].address += 8;
	if (mode == M_BIN_COUNT)
		c[1].n_bins = 1;
	if (mode == M_BIN_OVER)
		bins[1][1] = 5;
	if (mode == M_CHANGES)
		c[1].changes = 4;
	if (mode == M_ZERO)
		c[1].changes = 0;
	if (mode == M_REGION)
		c[1].region = 2;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS;
	resp.heat_cells = &page;
	ms_fake_send(f, &resp);
}

/* M_PATHS: regions with 4000-byte paths, 900 a page, 20000 in all (80 MB of paths), from SENT on. */
#define PATHS_REGIONS 20000u
#define PATHS_PAGE    900u
static uint64_t paths_sent;

static void send_paths(ms_fake *f)
{
	static char path[4001];
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HeatCellPage page = MEMSCAN__V1__HEAT_CELL_PAGE__INIT;
	Memscan__V1__HeatStats st = MEMSCAN__V1__HEAT_STATS__INIT;
	static Memscan__V1__Region reg[PATHS_PAGE];
	static Memscan__V1__HeatRegion hr[PATHS_PAGE], *hrs[PATHS_PAGE];
	size_t n = PATHS_REGIONS - paths_sent < PATHS_PAGE ? PATHS_REGIONS - paths_sent : PATHS_PAGE;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	for (size_t i = 0; i < n; i++) {
		memscan__v1__region__init(&reg[i]);
		reg[i].start = BASE + 0x1000 * (paths_sent + i);
		reg[i].end = reg[i].start + 0x1000;
		reg[i].perms = MEMSCAN_PERM_READ;
		reg[i].kind = MEMSCAN_KIND_FILE;
		reg[i].path = path;
		memscan__v1__heat_region__init(&hr[i]);
		hr[i].region = &reg[i];
		hr[i].changes = hr[i].bytes = 1;
		hrs[i] = &hr[i];
	}
	st.samples = 1;
	st.regions = PATHS_REGIONS;
	page.stats = &st;
	page.cell_size = 4096;
	page.bins = 2;
	page.first_region = paths_sent;
	page.regions = hrs;
	page.n_regions = n;
	paths_sent += n;
	page.next_cursor = paths_sent < PATHS_REGIONS ? paths_sent : 0;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HEAT_CELLS;
	resp.heat_cells = &page;
	ms_fake_send(f, &resp);
}

static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	if (mode == M_PATHS && (req->op_case == MEMSCAN__V1__REQUEST__OP_HEAT_CELLS ||
	                        req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT)) {
		paths_sent = req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT ? paths_sent : 0;
		send_paths(f);
	} else if (mode == M_UNKNOWN_OP)
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation");
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_HEAT_START)
		send_start(f, req->heat_start);
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_HEAT_CELLS)
		send_cells(f);
	else
		ms_fake_send_error(f, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation");
}

static int count_cell(void *ctx, const memscan_heat_cell *c)
{
	(void)ctx;
	(void)c;
	delivered++;
	return 0;
}

/* A fake that does (HEATMAP) or does not announce heats, and a client of it. */
static memscan_client *fake_client(int heatmap)
{
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	fa.heatmap = heatmap;
	return ms_fake_client(&fa, 0);
}

static void finish(memscan_client *c)
{
	memscan_client_free(c);
	ms_fake_stop(&fa);
}

/* No FEATURE_HEATMAP in Hello: refused before asking; the feature announced but the operation
 * unknown: reported the same way. */
static void test_agent_too_old(void **state)
{
	memscan_client *c = fake_client(0);
	memscan_client_heat h;

	(void)state;
	assert_int_equal(memscan_client_heat_start(c, 42, NULL, NULL, &h), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	assert_non_null(strstr(memscan_client_last_error(c), "too old for remote heatmaps"));
	assert_int_equal(memscan_client_heat_sample(c, 7, 0, NULL), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	finish(c);
	c = fake_client(1);
	mode = M_UNKNOWN_OP;
	assert_int_equal(memscan_client_heat_start(c, 42, NULL, NULL, &h), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	assert_non_null(strstr(memscan_client_last_error(c), "does not know the operation"));
	finish(c);
}

static void test_bad_heat_replies_refused(void **state)
{
	static const enum mode bad[] = { M_BAD_START, M_START_NO_ID };
	memscan_heat_options o = { .cell_size = 4096, .bins = 2 };
	memscan_client *c = fake_client(1);
	memscan_client_heat h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mode = bad[i];
		assert_int_equal(memscan_client_heat_start(c, 42, NULL, &o, &h), MEMSCAN_ERR_PROTOCOL);
		assert_int_equal(h.id, 0);
	}
	/* more cells than asked for would let the agent make the caller keep more counts than it chose */
	mode = M_START_MORE;
	o.max_cells = 50;
	assert_int_equal(memscan_client_heat_start(c, 42, NULL, &o, &h), MEMSCAN_ERR_PROTOCOL);
	o.max_cells = 0;
	mode = M_HONEST;
	assert_int_equal(memscan_client_heat_start(c, 42, NULL, &o, &h), MEMSCAN_OK);
	assert_int_equal(h.id, HEAT_ID);
	assert_int_equal(h.max_cells, 100);
	finish(c);
}

static void test_bad_count_pages_refused(void **state)
{
	static const enum mode bad[] = { M_NO_STATS,   M_CELL_SIZE, M_NUMBERING, M_DISORDER, M_ALIGN,
		                         M_BIN_COUNT,  M_BIN_OVER,  M_CHANGES,   M_ZERO,     M_REGION,
		                         M_NO_REGIONS, M_SHORT,     M_OVER_MAX };
	const memscan_client_heat heat = {
		.id = HEAT_ID, .pid = 42, .cell_size = 4096, .bins = 2, .max_cells = 2
	};
	memscan_client *c = fake_client(1);
	memscan_client_heat_stats st;

	(void)state;
	mode = M_HONEST;
	delivered = 0;
	assert_int_equal(memscan_client_heat_cells(c, &heat, NULL, count_cell, NULL, &st), MEMSCAN_OK);
	assert_int_equal(delivered, 2);
	assert_int_equal(st.samples, 3);
	assert_int_equal(st.cells, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mode = bad[i];
		delivered = 0;
		if (memscan_client_heat_cells(c, &heat, NULL, count_cell, NULL, &st) != MEMSCAN_ERR_PROTOCOL)
			fail_msg("mode %d accepted: %s", (int)bad[i], memscan_client_last_error(c));
		assert_true(delivered <= 2); /* the cells before the bad one at most */
		assert_int_equal(st.cells, 0);
		/* the session stays in step */
		mode = M_HONEST;
		assert_int_equal(memscan_client_heat_cells(c, &heat, NULL, NULL, NULL, NULL), MEMSCAN_OK);
	}
	finish(c);
}

/* Region paths over the pages of one heat's counts are capped as a region listing's are (64 MiB): a
 * hostile agent cannot make the caller keep more by numbering them right. */
static void test_count_paths_capped(void **state)
{
	const memscan_client_heat heat = {
		.id = HEAT_ID, .pid = 42, .cell_size = 4096, .bins = 2, .max_cells = 2
	};
	memscan_client *c = fake_client(1);

	(void)state;
	mode = M_PATHS;
	assert_int_equal(memscan_client_heat_cells(c, &heat, NULL, NULL, NULL, NULL), MEMSCAN_ERR_LIMIT);
	assert_non_null(strstr(memscan_client_last_error(c), "region paths"));
	assert_true(paths_sent < PATHS_REGIONS); /* stopped at the cap, not at the end */
	finish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_too_old),
		cmocka_unit_test(test_bad_heat_replies_refused),
		cmocka_unit_test(test_bad_count_pages_refused),
		cmocka_unit_test(test_count_paths_capped),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
