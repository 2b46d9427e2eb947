/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the streamed snapshot and diff paths: bounded memory whatever the target's size. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>

/* The fixture's arena: 256 MiB, several times the bound, so that holding it would show. */
#define BIG_PAGES "65536"
/* The bound on resident memory above the CLI's own baseline (BENCH.md B2, B13). */
#define RSS_BOUND_KIB (64L * 1024)

struct env {
	ms_fixture fx;
	char dir[4096];
};

static int setup(void **state)
{
	static const char *const fx_args[] = { "--pages", BIG_PAGES, NULL };
	struct env *e = calloc(1, sizeof(*e));

	if (!e || ms_fixture_start(&e->fx, fx_args) != 0)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "%s", ms_tmpdir());
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ms_fixture_stop(&e->fx);
	ms_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static const char *in_dir(const struct env *e, const char *name)
{
	static char buf[4][4200];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", e->dir, name);
	return p;
}

/* Peak RSS of `memscan snapshot` of the fixture into PATH, with EXTRA (a filter option and its
 * value, or NULL). */
static long snapshot_rss(const struct env *e, const char *path, const char *opt, const char *val)
{
	ms_run r;
	long rss;

	if (opt)
		RUN(&r, "snapshot", ms_fixture_pid_str(&e->fx), "-o", path, opt, val);
	else
		RUN(&r, "snapshot", ms_fixture_pid_str(&e->fx), "-o", path);
	assert_int_equal(r.status, 0);
	rss = r.max_rss_kib;
	ms_run_free(&r);
	return rss;
}

/* A snapshot of the whole fixture (256 MiB arena) stays within 64 MiB of the resident memory of a
 * one-page snapshot, and holds what an in-memory snapshot of the same process holds. */
static void test_stream_snapshot_rss(void **state)
{
	struct env *e = *state;
	const char *big = in_dir(e, "big.snap"), *small = in_dir(e, "small.snap");
	char range[80];
	memscan_snapshot *file = NULL, *mem = NULL;
	memscan_process *proc = NULL;
	memscan_diff *d = NULL;
	long base, rss;

	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)e->fx.arena,
	         (unsigned long long)e->fx.arena + 4096);
	base = snapshot_rss(e, small, "--range", range);
	rss = snapshot_rss(e, big, NULL, NULL);
	print_message("snapshot of %llu MiB: peak RSS %ld KiB, one page: %ld KiB\n",
	              (unsigned long long)(e->fx.arena_len >> 20), rss, base);
	assert_true(rss <= base + RSS_BOUND_KIB);

	assert_int_equal(memscan_snapshot_load(big, &file), MEMSCAN_OK);
	assert_int_equal(memscan_process_open(e->fx.pid, &proc), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(proc, NULL, &mem), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(file), memscan_snapshot_region_count(mem));
	assert_int_equal(memscan_snapshot_bytes(file), memscan_snapshot_bytes(mem));
	assert_int_equal(memscan_diff_snapshots(mem, file, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	assert_int_equal(memscan_diff_appeared(d)->count, 0);
	assert_int_equal(memscan_diff_vanished(d)->count, 0);
	for (size_t i = 0; i < memscan_snapshot_region_count(mem); i++) {
		memscan_snapshot_region a = memscan_snapshot_get(mem, i), b = memscan_snapshot_get(file, i);

		assert_int_equal(memscan_ranges_bytes(a.holes), memscan_ranges_bytes(b.holes));
	}
	memscan_diff_free(d);
	memscan_snapshot_free(mem);
	memscan_snapshot_free(file);
	memscan_process_free(proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_snapshot_rss),
	};

	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
