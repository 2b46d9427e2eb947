/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_snapshot_write_process: a process streamed into a snapshot file. */
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* 16 MiB arena: more than one chunk of the stream (MEMSCAN_SNAPSHOT_STREAM_BYTES / 4). */
#define ARENA_PAGES "4096"

struct env {
	ms_fixture fx;
	memscan_process *proc;
	memscan_region_list *arena;
};

static int setup(void **state)
{
	static const char *const args[] = { "--pages", ARENA_PAGES, NULL };
	struct env *e = calloc(1, sizeof(*e));

	if (!e || ms_fixture_start_arena(&e->fx, args, &e->proc, &e->arena) != 0)
		return -1;
	*state = e;
	return ms_scratch_setup(state) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ms_scratch_teardown(state);
	memscan_region_list_free(e->arena);
	memscan_process_free(e->proc);
	ms_fixture_stop(&e->fx);
	free(e);
	return 0;
}

/* Files in the scratch directory. */
static size_t scratch_files(void)
{
	const char *dir = ms_scratch_path("");
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The file holds what memscan_snapshot_take reads of the same (stopped) process, region by region
 * with the same holes, and the info counts what it holds. */
static void test_stream_equals_take(void **state)
{
	struct env *e = *state;
	const char *path = ms_scratch_path("s.snap");
	memscan_snapshot_file_info info;
	memscan_snapshot *file = NULL, *mem = NULL;
	memscan_diff *d = NULL;
	uint64_t holes = 0;

	/* the fixture changes a counter as it runs: stopped, both reads see the same bytes */
	assert_int_equal(kill(e->fx.pid, SIGSTOP), 0);
	assert_int_equal(memscan_snapshot_write_process(e->proc, NULL, NULL, path, &info), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(e->proc, NULL, &mem), MEMSCAN_OK);
	assert_int_equal(kill(e->fx.pid, SIGCONT), 0);
	assert_int_equal(memscan_snapshot_load(path, &file), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(file), memscan_snapshot_region_count(mem));
	assert_int_equal(info.regions, memscan_snapshot_region_count(mem));
	assert_int_equal(info.bytes, memscan_snapshot_bytes(mem));
	assert_int_equal(memscan_snapshot_pid(file), e->fx.pid);
	for (size_t i = 0; i < memscan_snapshot_region_count(mem); i++) {
		memscan_snapshot_region a = memscan_snapshot_get(mem, i), b = memscan_snapshot_get(file, i);

		assert_int_equal(a.region.start, b.region.start);
		assert_int_equal(a.region.end, b.region.end);
		assert_int_equal(memscan_ranges_bytes(a.holes), memscan_ranges_bytes(b.holes));
		holes += memscan_ranges_bytes(b.holes);
	}
	assert_int_equal(info.hole_bytes, holes);
	assert_true(holes > 0); /* the fixture's holey mapping */
	assert_int_equal(memscan_diff_snapshots(mem, file, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);
	memscan_snapshot_free(mem);
	memscan_snapshot_free(file);
}

/* A listed region unmapped before it is read is left out of the file, as memscan_snapshot_take
 * leaves it out of the snapshot. */
static void test_stream_drops_vanished(void **state)
{
	struct env *e = *state;
	const char *path = ms_scratch_path("v.snap");
	memscan_snapshot_file_info info;
	memscan_snapshot *file = NULL;

	assert_int_equal(ms_fixture_cmd(&e->fx, "unmap-arena"), 0);
	assert_int_equal(memscan_snapshot_write_process(e->proc, e->arena, NULL, path, &info), MEMSCAN_OK);
	assert_int_equal(info.regions, 0);
	assert_int_equal(memscan_snapshot_load(path, &file), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(file), 0);
	memscan_snapshot_free(file);
}

static int cancel_now(void *ctx)
{
	(void)ctx;
	return 1;
}

/* A cancelled stream returns CANCELLED and leaves neither the file nor its temporary behind. */
static void test_stream_cancel_leaves_nothing(void **state)
{
	struct env *e = *state;
	memscan_snapshot_file_info info;

	assert_int_equal(memscan_process_set_cancel(e->proc, cancel_now, NULL), MEMSCAN_OK);
	assert_int_equal(
	    memscan_snapshot_write_process(e->proc, NULL, NULL, ms_scratch_path("c.snap"), &info),
	    MEMSCAN_ERR_CANCELLED);
	assert_int_equal(memscan_process_set_cancel(e->proc, NULL, NULL), MEMSCAN_OK);
	assert_int_equal(info.regions, 0);
	assert_int_equal(scratch_files(), 0);
}

/* An unwritable destination is IO, with nothing left behind. */
static void test_stream_bad_path(void **state)
{
	struct env *e = *state;

	assert_int_equal(
	    memscan_snapshot_write_process(e->proc, NULL, NULL, ms_scratch_path("no/such/dir"), NULL),
	    MEMSCAN_ERR_IO);
	assert_int_equal(memscan_snapshot_write_process(NULL, NULL, NULL, "x", NULL),
	                 MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(scratch_files(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_equals_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_drops_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_cancel_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_bad_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
