/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_process_set_cancel: every long operation stops with CANCELLED when asked. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include "internal.h"
#include "testutil.h"

/* Large enough for many read calls, pieces and worker units (64 MiB calls, 8 MiB units, 1 MiB scan
 * pieces). */
#define AREA ((size_t)96 << 20)

static uint8_t *area;

/* Says "stop" from its STOP_AT-th question on (0: never), counting the questions. */
struct canceller {
	atomic_uint asked;
	unsigned stop_at;
};

static int ask(void *ctx)
{
	struct canceller *c = ctx;
	unsigned n = atomic_fetch_add(&c->asked, 1) + 1;

	return c->stop_at && n >= c->stop_at;
}

static int count_match(void *ctx, uint64_t address, const memscan_region *region)
{
	(void)address;
	(void)region;
	(*(uint64_t *)ctx)++;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < AREA; i += 4096)
		memcpy(area + i + 100, "\x4D\x5A\x90\x00", 4); /* a match in every page */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(area, AREA);
	return 0;
}

static memscan_region_list *area_list(void)
{
	memscan_region_list *list;
	memscan_region r = { .perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE,
		             .kind = MEMSCAN_KIND_ANON,
		             .path = "" };

	r.start = (uint64_t)(uintptr_t)area;
	r.end = r.start + AREA;
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	return list;
}

static memscan_process *open_self(struct canceller *c)
{
	memscan_process *p;

	assert_int_equal(memscan_process_open((int)getpid(), &p), MEMSCAN_OK);
	assert_int_equal(memscan_process_set_cancel(p, ask, c), MEMSCAN_OK);
	return p;
}

/* A scan stopped at its 5th question reports CANCELLED with only some of the matches; without a
 * stop, it asks many times and finds them all. Both read modes, one worker and several. */
static void test_cancel_scan_stops_midway(void **state)
{
	memscan_region_list *list = area_list();
	memscan_pattern *pat;

	(void)state;
	assert_int_equal(memscan_pattern_parse("4D 5A 90 00", &pat, NULL), MEMSCAN_OK);
	for (unsigned workers = 1; workers <= 2; workers++) {
		for (int no_memmap = 0; no_memmap < 2; no_memmap++) {
			memscan_scan_options opt = { .no_memmap = no_memmap };
			struct canceller all = { 0 }, early = { .stop_at = 5 };
			memscan_process *p = open_self(&all);
			uint64_t n = 0;

			ms_set_worker_limit(workers);
			assert_int_equal(memscan_scan(p, list, pat, &opt, count_match, &n, NULL), MEMSCAN_OK);
			assert_int_equal(n, AREA / 4096);
			assert_true(atomic_load(&all.asked) >= AREA >> 20);
			n = 0;
			assert_int_equal(memscan_process_set_cancel(p, ask, &early), MEMSCAN_OK);
			assert_int_equal(memscan_scan(p, list, pat, &opt, count_match, &n, NULL),
			                 MEMSCAN_ERR_CANCELLED);
			assert_true(n < AREA / 4096 / 2);
			memscan_process_free(p);
		}
	}
	ms_set_worker_limit(0);
	memscan_pattern_free(pat);
	memscan_region_list_free(list);
}

/* Snapshots, reads, detection, streams and mappings stop with CANCELLED; a detached flag is not
 * asked any more. */
static void test_cancel_every_operation(void **state)
{
	memscan_region_list *list = area_list();
	struct canceller c = { 0 };
	memscan_process *p = open_self(&c);
	memscan_snapshot *snap = NULL;
	memscan_detector *det = NULL;
	memscan_diff_stream *st = NULL;
	memscan_diff *diff = NULL;
	memscan_mapped *m = NULL;
	uint8_t *buf = malloc(AREA);
	int done = 0;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, p, list), MEMSCAN_OK);
	c.stop_at = atomic_load(&c.asked) + 2;
	assert_int_equal(memscan_snapshot_take(p, list, &snap), MEMSCAN_ERR_CANCELLED);
	assert_null(snap);
	assert_int_equal(memscan_read(p, (uint64_t)(uintptr_t)area, buf, AREA, NULL), MEMSCAN_ERR_CANCELLED);
	assert_int_equal(memscan_mapped_new(p, memscan_region_list_get(list, 0), &m), MEMSCAN_ERR_CANCELLED);
	assert_int_equal(memscan_detector_detect_changes(det, p, NULL, &diff), MEMSCAN_ERR_CANCELLED);
	assert_int_equal(memscan_detector_stream(det, p, NULL, MEMSCAN_STREAM_UPDATE, &st), MEMSCAN_OK);
	assert_int_equal(memscan_diff_stream_next(st, 1 << 20, &diff, &done), MEMSCAN_ERR_CANCELLED);
	memscan_diff_stream_free(st);
	assert_int_equal(memscan_process_set_cancel(p, NULL, &c), MEMSCAN_OK);
	c.asked = 0;
	assert_int_equal(memscan_snapshot_take(p, list, &snap), MEMSCAN_OK);
	assert_int_equal(atomic_load(&c.asked), 0);
	assert_int_equal(memscan_process_set_cancel(NULL, ask, &c), MEMSCAN_ERR_INVALID_ARG);
	memscan_snapshot_free(snap);
	memscan_detector_free(det);
	memscan_process_free(p);
	memscan_region_list_free(list);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_scan_stops_midway),
		cmocka_unit_test(test_cancel_every_operation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
