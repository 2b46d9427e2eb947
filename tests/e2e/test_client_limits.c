/* SPDX-License-Identifier: MIT */
/* libmemscan-client against a hostile agent that sends too much: endless pages of processes, regions,
 * region paths or change runs, snapshot regions that disagree with the bytes announced, ranges after a
 * diff's first page, more matches than asked. Each call must end with a clear LIMIT or PROTOCOL error
 * at the documented cap (docs/api.md, Client limits) instead of growing, and the client stays usable. */
#include "fakeagent.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The client's caps (libclient/src/client_internal.h), as documented. */
#define PROCS_MAX      (1u << 20)
#define REGIONS_MAX    (1u << 21)
#define PATHS_MAX      ((uint64_t)64 << 20)
#define BASE           0x7f0000000000ull
#define SNAP_ID        7
#define SNAP_LEN       (64u << 10) /* the honest snapshot: one region */
#define RUN_LEN        256
#define RUNS_PER_PAGE  16
#define PATH_LEN       4000
#define PATHS_PER_PAGE 1000

/* What the fake agent answers (the test sets it before each call). */
enum scenario {
	SC_PROCS,   /* process pages: FINITE pages of PAGE_ITEMS, or endless */
	SC_REGIONS, /* region pages of PAGE_ITEMS regions without a path */
	SC_PATHS,   /* region pages of PATHS_PER_PAGE regions with PATH_LEN-byte paths */
	SC_SNAP,    /* a snapshot announcing SNAP_TOTAL bytes of one SNAP_REGION-byte region */
	SC_DIFF,    /* diff pages of RUNS_PER_PAGE runs; appeared ranges as APPEARED_AT says */
	SC_SCAN,    /* one region listed, then MATCHES matches in one page */
};

static ms_fake fa;
static struct {
	int scen;
	int finite;          /* pages before the last (0: endless) */
	uint32_t page_items; /* processes or regions a page */
	uint64_t snap_total, snap_region;
	int appeared_at;       /* the diff page with an appeared range (-1: none) */
	uint64_t appeared_len; /* its length */
	int matches;           /* SC_SCAN */
	int page;              /* pages sent of the current call */
	atomic_int releases;   /* Release requests received */
	uint64_t next_addr;    /* of the next region or run */
} fs;

static void send_resp(Memscan__V1__Response *resp)
{
	ms_fake_send(&fa, resp);
}

/* The cursor of the page being sent: 0 on the last. */
static uint64_t cursor(void)
{
	fs.page++;
	return fs.finite && fs.page >= fs.finite ? 0 : 1000u + (uint64_t)fs.page;
}

static void send_procs(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ProcessPage page = MEMSCAN__V1__PROCESS_PAGE__INIT;
	Memscan__V1__ProcessInfo *items = calloc(fs.page_items, sizeof(*items));
	Memscan__V1__ProcessInfo **ptrs = calloc(fs.page_items, sizeof(*ptrs));

	assert_true(items && ptrs);
	for (uint32_t i = 0; i < fs.page_items; i++) {
		memscan__v1__process_info__init(&items[i]);
		items[i].pid = (int32_t)(fs.page * fs.page_items + i + 1);
		ptrs[i] = &items[i];
	}
	page.processes = ptrs;
	page.n_processes = fs.page_items;
	page.next_cursor = cursor();
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROCESSES;
	resp.processes = &page;
	send_resp(&resp);
	free(items);
	free(ptrs);
}

/* Fills PAGE with N regions of 4 KiB, one after the other, with PATH. */
static void fill_regions(Memscan__V1__RegionPage *page, uint32_t n, char *path)
{
	Memscan__V1__Region *items = calloc(n, sizeof(*items));
	Memscan__V1__Region **ptrs = calloc(n, sizeof(*ptrs));

	assert_true(items && ptrs);
	for (uint32_t i = 0; i < n; i++) {
		memscan__v1__region__init(&items[i]);
		items[i].start = fs.next_addr;
		items[i].end = fs.next_addr + 4096;
		items[i].perms = MEMSCAN_PERM_READ;
		items[i].kind = MEMSCAN_KIND_ANON;
		items[i].path = path;
		fs.next_addr += 8192;
		ptrs[i] = &items[i];
	}
	page->regions = ptrs;
	page->n_regions = n;
}

static void free_regions(Memscan__V1__RegionPage *page)
{
	free(page->n_regions ? page->regions[0] : NULL);
	free(page->regions);
}

static void send_regions(void)
{
	static char long_path[PATH_LEN + 1];
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	int paths = fs.scen == SC_PATHS;

	if (!long_path[0])
		memset(long_path, 'p', PATH_LEN);
	fill_regions(&page, paths ? PATHS_PER_PAGE : fs.page_items, paths ? long_path : (char *)"");
	page.next_cursor = cursor();
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_REGIONS;
	resp.regions = &page;
	send_resp(&resp);
	free_regions(&page);
}

static void send_snapshot(void)
{
	ms_fake_send_snapshot(&fa, SNAP_ID, fs.snap_total, BASE, fs.snap_region);
}

static void send_diff(void)
{
	static uint8_t old_b[RUN_LEN], new_b[RUN_LEN] = { 1 };
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__DiffPage page = MEMSCAN__V1__DIFF_PAGE__INIT;
	Memscan__V1__ChangeRun runs[RUNS_PER_PAGE], *ptrs[RUNS_PER_PAGE];
	Memscan__V1__Range app = MEMSCAN__V1__RANGE__INIT, *apps[] = { &app };

	for (int j = 0; j < RUNS_PER_PAGE; j++) {
		memscan__v1__change_run__init(&runs[j]);
		runs[j].address = fs.next_addr;
		runs[j].old_bytes = (ProtobufCBinaryData){ RUN_LEN, old_b };
		runs[j].new_bytes = (ProtobufCBinaryData){ RUN_LEN, new_b };
		fs.next_addr += 2 * RUN_LEN;
		ptrs[j] = &runs[j];
	}
	if (fs.page == fs.appeared_at) {
		app.start = BASE + SNAP_LEN;
		app.end = app.start + fs.appeared_len;
		page.appeared = apps;
		page.n_appeared = 1;
	}
	page.runs = ptrs;
	page.n_runs = RUNS_PER_PAGE;
	page.next_cursor = cursor();
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &page;
	send_resp(&resp);
}

static void send_scan(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ScanPage page = MEMSCAN__V1__SCAN_PAGE__INIT;
	Memscan__V1__Match m[16], *ptrs[16];

	assert_true(fs.matches <= 16);
	for (int i = 0; i < fs.matches; i++) {
		memscan__v1__match__init(&m[i]);
		m[i].address = BASE + 16 * (uint64_t)i;
		m[i].region_start = BASE;
		ptrs[i] = &m[i];
	}
	page.matches = ptrs;
	page.n_matches = (size_t)fs.matches;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SCAN;
	resp.scan = &page;
	send_resp(&resp);
}

static void send_release(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReleaseReply rel = MEMSCAN__V1__RELEASE_REPLY__INIT;

	atomic_fetch_add(&fs.releases, 1);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_RELEASE;
	resp.release = &rel;
	send_resp(&resp);
}

/* A new call starts its pages afresh; Next continues them. */
static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	(void)f;
	if (req->op_case == MEMSCAN__V1__REQUEST__OP_RELEASE) {
		send_release();
		return;
	}
	if (req->op_case != MEMSCAN__V1__REQUEST__OP_NEXT) {
		fs.page = 0;
		fs.next_addr = BASE;
	}
	if (req->op_case == MEMSCAN__V1__REQUEST__OP_SNAPSHOT)
		send_snapshot();
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_SCAN)
		send_scan();
	else if (fs.scen == SC_PROCS)
		send_procs();
	else if (fs.scen == SC_REGIONS || fs.scen == SC_PATHS || fs.scen == SC_SCAN)
		send_regions();
	else if (fs.scen == SC_DIFF)
		send_diff();
}

/* ---- the client side ---- */

static void expect_error(memscan_client *c, int r, int code, const char *what)
{
	if (r != code || !strstr(memscan_client_last_error(c), what))
		fail_msg("got %d '%s', expected %d with '%s'", r, memscan_client_last_error(c), code, what);
}

/* An honest, small process list still works in the same session. */
static void expect_usable(memscan_client *c)
{
	memscan_proc_info *procs = NULL;
	size_t n = 0;
	int hs = atomic_load(&fa.handshakes);

	fs.scen = SC_PROCS;
	fs.finite = 2;
	fs.page_items = 10;
	assert_int_equal(memscan_client_list_processes(c, &procs, &n), MEMSCAN_OK);
	assert_int_equal(n, 20);
	assert_int_equal(procs[19].pid, 20);
	free(procs);
	assert_int_equal(atomic_load(&fa.handshakes), hs);
}

static void test_endless_processes_capped(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_proc_info *procs = (memscan_proc_info *)&procs;
	size_t n = 7;
	char what[64];

	(void)state;
	fs.scen = SC_PROCS;
	fs.finite = 0;
	fs.page_items = PROCS_MAX / 4;
	snprintf(what, sizeof(what), "more than %u processes", PROCS_MAX);
	expect_error(c, memscan_client_list_processes(c, &procs, &n), MEMSCAN_ERR_LIMIT, what);
	assert_null(procs);
	assert_int_equal(n, 0);
	assert_int_equal(fs.page, 5); /* four pages are the cap exactly; the fifth goes over */
	expect_usable(c);
	memscan_client_free(c);
}

static void test_endless_regions_capped(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_region_list *list = NULL;
	char what[64];

	(void)state;
	fs.scen = SC_REGIONS;
	fs.finite = 0;
	fs.page_items = REGIONS_MAX / 16;
	snprintf(what, sizeof(what), "more than %u regions", REGIONS_MAX);
	expect_error(c, memscan_client_list_regions(c, 1, NULL, &list), MEMSCAN_ERR_LIMIT, what);
	assert_null(list);
	assert_int_equal(fs.page, 17);
	expect_usable(c);
	memscan_client_free(c);
}

static void test_endless_region_paths_capped(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_region_list *list = NULL;
	uint64_t per_page = (uint64_t)PATHS_PER_PAGE * PATH_LEN;
	char what[64];

	(void)state;
	fs.scen = SC_PATHS;
	fs.finite = 0;
	snprintf(what, sizeof(what), "more than %llu bytes of region paths", (unsigned long long)PATHS_MAX);
	expect_error(c, memscan_client_list_regions(c, 1, NULL, &list), MEMSCAN_ERR_LIMIT, what);
	assert_null(list);
	assert_int_equal((uint64_t)fs.page, PATHS_MAX / per_page + 1);
	/* a table just under the cap is taken whole */
	fs.finite = (int)(PATHS_MAX / per_page);
	assert_int_equal(memscan_client_list_regions(c, 1, NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), (size_t)fs.finite * PATHS_PER_PAGE);
	memscan_region_list_free(list);
	expect_usable(c);
	memscan_client_free(c);
}

/* A snapshot whose region disagrees with the bytes announced is refused before anything is kept (or
 * a download allocates the region), and released on the agent. */
static void test_snapshot_totals_checked(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_snapshot *snap = NULL;
	uint64_t id = 9, bytes = 9;

	(void)state;
	fs.scen = SC_SNAP;
	atomic_store(&fs.releases, 0);
	fs.snap_total = SNAP_LEN;
	fs.snap_region = (uint64_t)1 << 40; /* a terabyte in a 64 KiB snapshot */
	expect_error(c, memscan_client_snapshot(c, 1, NULL, &id, NULL, &bytes), MEMSCAN_ERR_PROTOCOL,
	             "snapshot regions of more bytes than the 65536 it announced");
	assert_int_equal(id, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(atomic_load(&fs.releases), 1);
	fs.snap_total = 3 * SNAP_LEN;
	fs.snap_region = SNAP_LEN;
	expect_error(c, memscan_client_snapshot(c, 1, NULL, &id, NULL, &bytes), MEMSCAN_ERR_PROTOCOL,
	             "a snapshot of 196608 bytes whose regions hold 65536");
	assert_int_equal(atomic_load(&fs.releases), 2);
	/* nothing was kept: the id cannot be downloaded or diffed */
	expect_error(c, memscan_client_snapshot_fetch(c, SNAP_ID, &snap), MEMSCAN_ERR_NOT_FOUND,
	             "no snapshot");
	expect_usable(c);
	memscan_client_free(c);
}

/* The honest snapshot of SNAP_LEN bytes, kept by C. */
static void take_snapshot(memscan_client *c)
{
	uint64_t id = 0, bytes = 0;

	fs.scen = SC_SNAP;
	fs.snap_total = fs.snap_region = SNAP_LEN;
	if (memscan_client_snapshot(c, 1, NULL, &id, NULL, &bytes) != MEMSCAN_OK)
		fail_msg("snapshot: %s", memscan_client_last_error(c));
	assert_int_equal(id, SNAP_ID);
	fs.scen = SC_DIFF;
	fs.appeared_at = -1;
}

static int count_part(void *ctx, const memscan_diff *part)
{
	*(uint64_t *)ctx += memscan_diff_changed_bytes(part);
	return 0;
}

/* Pages of RUN_LEN * RUNS_PER_PAGE changed bytes: a snapshot of SNAP_LEN holds so many of them. */
#define PAGES_IN_SNAP (SNAP_LEN / (RUN_LEN * RUNS_PER_PAGE))

static void test_endless_diff_capped(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 1);
	memscan_diff *d = NULL;
	uint64_t parts = 0;
	const char *what = "more changed bytes than its snapshot holds (65536)";

	(void)state;
	take_snapshot(c);
	/* exactly as many changed bytes as the snapshot holds: fine, whole or in parts */
	fs.finite = PAGES_IN_SNAP;
	assert_int_equal(memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_changed_bytes(d), SNAP_LEN);
	memscan_diff_free(d);
	assert_int_equal(memscan_client_diff_parts(c, SNAP_ID, 0, count_part, &parts), MEMSCAN_OK);
	assert_int_equal(parts, SNAP_LEN);
	/* endless: refused at the first page over */
	fs.finite = 0;
	expect_error(c, memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_ERR_PROTOCOL, what);
	assert_null(d);
	assert_int_equal(fs.page, PAGES_IN_SNAP + 1);
	expect_error(c, memscan_client_diff_parts(c, SNAP_ID, 0, count_part, &parts), MEMSCAN_ERR_PROTOCOL,
	             what);
	assert_int_equal(fs.page, PAGES_IN_SNAP + 1);
	expect_usable(c);
	memscan_client_free(c);
}

static void test_diff_ranges_only_in_first_page(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_diff *d = NULL;
	uint64_t parts = 0;
	const char *what = "appeared or vanished ranges after a diff's first page";

	(void)state;
	take_snapshot(c);
	fs.finite = 3;
	fs.appeared_at = 1;
	fs.appeared_len = 4096;
	expect_error(c, memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_ERR_PROTOCOL, what);
	expect_error(c, memscan_client_diff_parts(c, SNAP_ID, 0, count_part, &parts), MEMSCAN_ERR_PROTOCOL,
	             what);
	fs.appeared_at = 0;
	assert_int_equal(memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_appeared(d)->count, 1);
	memscan_diff_free(d);
	memscan_client_free(c);
}

/* A snapshot updated by a diff that reported regions appearing may hold more: its next diff may
 * carry their bytes too, and no more. */
static void test_diff_bound_follows_updates(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_diff *d = NULL;

	(void)state;
	take_snapshot(c);
	fs.finite = 2 * PAGES_IN_SNAP;
	expect_error(c, memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_ERR_PROTOCOL, "(65536)");
	fs.finite = 1;
	fs.appeared_at = 0;
	fs.appeared_len = SNAP_LEN;
	assert_int_equal(memscan_client_diff(c, SNAP_ID, MEMSCAN_DIFF_UPDATE | MEMSCAN_DIFF_REFILTER, &d),
	                 MEMSCAN_OK);
	memscan_diff_free(d);
	fs.appeared_at = -1;
	fs.finite = 2 * PAGES_IN_SNAP;
	assert_int_equal(memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_changed_bytes(d), 2 * SNAP_LEN);
	memscan_diff_free(d);
	fs.finite = 0;
	expect_error(c, memscan_client_diff(c, SNAP_ID, 0, &d), MEMSCAN_ERR_PROTOCOL, "(131072)");
	memscan_client_free(c);
}

static int count_match(void *ctx, uint64_t addr, const memscan_region *r)
{
	(void)addr;
	(void)r;
	++*(int *)ctx;
	return 0;
}

static void test_scan_matches_within_max(void **state)
{
	memscan_client *c = ms_fake_client(&fa, 0);
	memscan_scan_options o = { .max_results = 5 };
	uint64_t n = 0;
	int seen = 0;

	(void)state;
	fs.scen = SC_SCAN;
	fs.finite = 1;
	fs.page_items = 1;
	fs.matches = 5;
	assert_int_equal(memscan_client_scan(c, 1, NULL, "4D 5A", &o, count_match, &seen, &n), MEMSCAN_OK);
	assert_int_equal(n, 5);
	fs.matches = 6;
	expect_error(c, memscan_client_scan(c, 1, NULL, "4D 5A", &o, count_match, &seen, &n),
	             MEMSCAN_ERR_PROTOCOL, "more matches than the 5 asked for");
	assert_int_equal(seen, 10); /* the sixth never reached the callback */
	assert_int_equal(memscan_client_scan(c, 1, NULL, "4D 5A", NULL, count_match, &seen, &n), MEMSCAN_OK);
	assert_int_equal(n, 6);
	expect_usable(c);
	memscan_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endless_processes_capped),
		cmocka_unit_test(test_endless_regions_capped),
		cmocka_unit_test(test_endless_region_paths_capped),
		cmocka_unit_test(test_snapshot_totals_checked),
		cmocka_unit_test(test_endless_diff_capped),
		cmocka_unit_test(test_diff_ranges_only_in_first_page),
		cmocka_unit_test(test_diff_bound_follows_updates),
		cmocka_unit_test(test_scan_matches_within_max),
	};
	int fails;

	alarm(110);
	if (ms_fake_start(&fa, 64u << 10, fake_request) != 0) {
		print_error("cannot start the fake agent\n");
		return 1;
	}
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	ms_fake_stop(&fa);
	return fails != 0;
}
