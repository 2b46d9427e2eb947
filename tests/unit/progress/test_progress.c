/* SPDX-License-Identifier: MIT */
/* Sizes for people; progress reports: the bytes reads covered, reported at the first read and then now and
 * then, reset by each memscan_process_set_progress, from snapshots, scans, detections and plain reads of the
 * fixture. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

struct seen {
	pthread_mutex_t lock;
	size_t calls;
	uint64_t last, max;
	int backwards; /* a report below an earlier one */
};

static void on_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->calls++;
	if (done < s->max)
		s->backwards = 1;
	s->last = done;
	if (done > s->max)
		s->max = done;
	pthread_mutex_unlock(&s->lock);
}

static void seen_reset(struct seen *s)
{
	s->calls = 0;
	s->last = s->max = 0;
	s->backwards = 0;
}

struct env {
	ms_fixture f;
	memscan_process *p;
	memscan_region_list *arena;
	struct seen seen;
};

static int setup(void **state)
{
	static const char *const args[] = { "--pages", "2048", NULL }; /* 8 MiB: many scan windows */
	struct env *e = calloc(1, sizeof(*e));

	if (!e || ms_fixture_start_arena(&e->f, args, &e->p, &e->arena) != 0)
		return -1;
	pthread_mutex_init(&e->seen.lock, NULL);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	memscan_region_list_free(e->arena);
	memscan_process_free(e->p);
	ms_fixture_stop(&e->f);
	pthread_mutex_destroy(&e->seen.lock);
	free(e);
	return 0;
}

static void test_progress_snapshot(void **state)
{
	struct env *e = *state;
	memscan_snapshot *snap = NULL;

	seen_reset(&e->seen);
	assert_int_equal(memscan_process_set_progress(e->p, on_progress, &e->seen), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(e->p, e->arena, &snap), MEMSCAN_OK);
	assert_true(e->seen.calls >= 1);
	assert_false(e->seen.backwards);
	assert_int_equal(e->seen.max, e->f.arena_len); /* one batch: every byte counted */
	memscan_snapshot_free(snap);

	/* a new setting counts from 0 again, and the first read reports at once */
	seen_reset(&e->seen);
	assert_int_equal(memscan_process_set_progress(e->p, on_progress, &e->seen), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(e->p, e->arena, &snap), MEMSCAN_OK);
	assert_true(e->seen.calls >= 1);
	assert_true(e->seen.max <= e->f.arena_len);
	memscan_snapshot_free(snap);
	assert_int_equal(memscan_process_set_progress(e->p, NULL, NULL), MEMSCAN_OK);
}

static void test_progress_read_and_detach(void **state)
{
	struct env *e = *state;
	uint8_t buf[100];

	seen_reset(&e->seen);
	assert_int_equal(memscan_process_set_progress(e->p, on_progress, &e->seen), MEMSCAN_OK);
	assert_int_equal(memscan_read(e->p, e->f.arena, buf, sizeof(buf), NULL), MEMSCAN_OK);
	assert_int_equal(e->seen.calls, 1);
	assert_int_equal(e->seen.last, sizeof(buf));

	assert_int_equal(memscan_process_set_progress(e->p, NULL, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_read(e->p, e->f.arena, buf, sizeof(buf), NULL), MEMSCAN_OK);
	assert_int_equal(e->seen.calls, 1);
	assert_int_equal(memscan_process_set_progress(NULL, on_progress, NULL), MEMSCAN_ERR_INVALID_ARG);
}

/* A chunked scan and a detection read the whole arena: what they report grows up to its size. */
static void test_progress_scan_and_detect(void **state)
{
	struct env *e = *state;
	memscan_scan_options o = { .no_memmap = 1 };
	memscan_pattern *pat = NULL;
	memscan_detector *det = NULL;
	memscan_diff *diff = NULL;

	assert_int_equal(memscan_pattern_parse(MS_FIXTURE_MARKER, &pat, NULL), MEMSCAN_OK);
	seen_reset(&e->seen);
	assert_int_equal(memscan_process_set_progress(e->p, on_progress, &e->seen), MEMSCAN_OK);
	assert_int_equal(memscan_scan(e->p, e->arena, pat, &o, NULL, NULL, NULL), MEMSCAN_OK);
	assert_true(e->seen.calls >= 1);
	assert_false(e->seen.backwards);
	assert_true(e->seen.max > 0 && e->seen.max <= e->f.arena_len);

	assert_int_equal(memscan_detector_new(&det), MEMSCAN_OK);
	assert_int_equal(memscan_detector_initialize(det, e->p, e->arena), MEMSCAN_OK);
	seen_reset(&e->seen);
	assert_int_equal(memscan_process_set_progress(e->p, on_progress, &e->seen), MEMSCAN_OK);
	assert_int_equal(memscan_detector_detect_update(det, e->p, e->arena, &diff), MEMSCAN_OK);
	assert_true(e->seen.calls >= 1);
	assert_true(e->seen.max > 0 && e->seen.max <= e->f.arena_len);
	assert_int_equal(memscan_process_set_progress(e->p, NULL, NULL), MEMSCAN_OK);
	memscan_diff_free(diff);
	memscan_detector_free(det);
	memscan_pattern_free(pat);
}

static void test_size_format(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 4096, "4 KiB" },
		{ 10188, "9.9 KiB" },
		{ 10235, "10 KiB" },
		{ 102348, "99.9 KiB" },
		{ 102350, "100 KiB" },
		{ 262144, "256 KiB" },
		{ 11177984, "10.7 MiB" },
		{ 3ull << 29, "1.5 GiB" },
		{ 1ull << 40, "1 TiB" },
		{ UINT64_MAX, "16 EiB" },
	};
	char buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(memscan_size_format(cases[i].bytes, buf, sizeof(buf)), cases[i].text);
	assert_string_equal(memscan_size_format(1536, buf, 4), "1.5");
	assert_null(memscan_size_format(1, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_progress_snapshot),
		cmocka_unit_test(test_progress_read_and_detach),
		cmocka_unit_test(test_progress_scan_and_detect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
