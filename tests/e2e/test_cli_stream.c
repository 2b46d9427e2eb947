/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the streamed snapshot and diff paths: bounded memory whatever the target's size. */
#include "cliutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* `memscan snapshot` of LEN bytes of the arena from its offset OFF into PATH. */
static void snap_range(const struct env *e, const char *path, uint64_t off, uint64_t len)
{
	char range[80];
	ms_run r;

	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)(e->fx.arena + off),
	         (unsigned long long)(e->fx.arena + off + len));
	RUN(&r, "snapshot", ms_fixture_pid_str(&e->fx), "-o", path, "--range", range);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
}

/* Runs the CLI with ARGV (NULL-terminated) and its stdout into OUT; its exit status, and its peak
 * RSS into *RET_RSS_KIB. (ms_run_cli keeps stdout in memory: too much for a large diff.) */
static int run_to_file(const char *const *argv, const char *out, long *ret_rss_kib)
{
	const char *args[16] = { MEMSCAN_CLI_PATH };
	struct rusage ru;
	size_t n = 1;
	int st;
	pid_t pid;

	while (*argv && n < 15)
		args[n++] = *argv++;
	args[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execv(MEMSCAN_CLI_PATH, (char *const *)args);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(wait4(pid, &st, 0, &ru), pid);
	*ret_rss_kib = ru.ru_maxrss;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Peak RSS of `memscan diff A B` (text output into OUT). */
static long diff_rss(const char *a, const char *b, const char *out)
{
	const char *argv[] = { "diff", a, b, NULL };
	long rss = 0;

	assert_int_equal(run_to_file(argv, out, &rss), 0);
	return rss;
}

/* Diffing two snapshots of the 256 MiB arena (one byte changed) stays within 64 MiB of diffing two
 * one-page snapshots, with the output a loaded diff gives. */
static void test_stream_diff_rss(void **state)
{
	struct env *e = *state;
	const char *a = in_dir(e, "a.snap"), *b = in_dir(e, "b.snap"), *out = in_dir(e, "out.txt");
	const char *sa = in_dir(e, "sa.snap"), *sb = in_dir(e, "sb.snap");
	uint64_t at = e->fx.arena + 0x5000;
	uint8_t old = MS_FIXTURE_ARENA_BYTE(0x5000u);
	char expect[256];
	long base, rss;

	snap_range(e, sa, 0, 4096);
	snap_range(e, sb, 0, 4096);
	snap_range(e, a, 0, e->fx.arena_len);
	assert_int_equal(ms_fixture_cmd(&e->fx, "set %s %x", ms_hex(at), old ^ 0x5A), 0);
	snap_range(e, b, 0, e->fx.arena_len);
	assert_int_equal(ms_fixture_cmd(&e->fx, "set %s %x", ms_hex(at), old), 0);
	base = diff_rss(sa, sb, out);
	rss = diff_rss(a, b, out);
	print_message("diff of two %llu MiB snapshots: peak RSS %ld KiB, of two pages: %ld KiB\n",
	              (unsigned long long)(e->fx.arena_len >> 20), rss, base);
	assert_true(rss <= base + RSS_BOUND_KIB);
	snprintf(expect, sizeof(expect), "# 1 runs, 1 bytes changed\n0x%llx  1 byte  old: %02x  new: %02x\n",
	         (unsigned long long)at, old, old ^ 0x5A);
	assert_string_equal(ms_slurp(out), expect);
}

/* Lines in the file at PATH, and its first line into FIRST. */
static size_t file_lines(const char *path, char *first, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c, prev = '\n';

	assert_non_null(f);
	first[0] = '\0';
	assert_non_null(fgets(first, (int)len, f));
	rewind(f);
	while ((c = getc(f)) != EOF) {
		n += c == '\n';
		prev = c;
	}
	assert_int_equal(prev, '\n');
	fclose(f);
	return n;
}

/* A diff too large to keep (10 MiB of the arena rewritten) is counted first and printed part by part:
 * the summary and the runs are those of the loaded snapshots' diff, in bounded memory. */
static void test_stream_diff_large(void **state)
{
	struct env *e = *state;
	const char *a = in_dir(e, "la.snap"), *b = in_dir(e, "lb.snap"), *out = in_dir(e, "large.txt");
	const char *sa = in_dir(e, "lsa.snap");
	const uint64_t off = 0x100000, len = (uint64_t)10 << 20;
	const char *json[] = { "diff", a, b, "--json", NULL };
	memscan_snapshot *la = NULL, *lb = NULL;
	memscan_diff *d = NULL;
	char first[256], expect[256];
	uint64_t changed;
	size_t runs;
	long rss = 0, base;

	snap_range(e, a, 0, e->fx.arena_len);
	assert_int_equal(
	    ms_fixture_cmd(&e->fx, "fill %s %llx c3", ms_hex(e->fx.arena + off), (unsigned long long)len), 0);
	snap_range(e, b, 0, e->fx.arena_len);
	assert_int_equal(memscan_snapshot_load(a, &la), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(b, &lb), MEMSCAN_OK);
	assert_int_equal(memscan_diff_snapshots(la, lb, &d), MEMSCAN_OK);
	runs = memscan_diff_run_count(d);
	changed = memscan_diff_changed_bytes(d);
	/* freed before the CLI runs: a forked child's peak RSS starts from its parent's */
	memscan_diff_free(d);
	memscan_snapshot_free(lb);
	memscan_snapshot_free(la);
	assert_true(changed > ((uint64_t)8 << 20));
	assert_int_equal(run_to_file(json, out, &rss), 0);
	assert_int_equal(file_lines(out, first, sizeof(first)), runs);
	snap_range(e, sa, 0, 4096);
	base = diff_rss(sa, sa, out);
	rss = diff_rss(a, b, out);
	print_message("diff with %llu changed bytes: peak RSS %ld KiB, of two pages: %ld KiB\n",
	              (unsigned long long)changed, rss, base);
	(void)file_lines(out, first, sizeof(first));
	snprintf(expect, sizeof(expect), "# %zu runs, %llu bytes changed\n", runs,
	         (unsigned long long)changed);
	assert_string_equal(first, expect);
	assert_true(rss <= base + RSS_BOUND_KIB);
}

/* Runs `memscan diff A B`, expecting exit 1 and a message on stderr that holds each of WANT
 * (NULL-terminated) and not "malformed data". */
static void expect_file_error(const char *a, const char *b, const char *const *want)
{
	ms_run r;

	RUN(&r, "diff", a, b);
	print_message("%s", r.err);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	for (; *want; want++)
		assert_non_null(strstr(r.err, *want));
	assert_null(strstr(r.err, "malformed data"));
	ms_run_free(&r);
}

/* Each kind of bad snapshot file gets a message that names it and says what is wrong: a directory, a
 * missing file, a checksum mismatch, a truncated file, a newer format version. */
static void test_stream_file_errors(void **state)
{
	struct env *e = *state;
	const char *good = in_dir(e, "good.snap"), *bad = in_dir(e, "bad.snap");
	const char *missing = in_dir(e, "missing.snap");
	uint8_t *bytes;
	size_t len;

	snap_range(e, good, 0, 16384);
	bytes = ms_file_read(good, &len);
	assert_true(len > 16384);
	expect_file_error(e->dir, good, (const char *const[]){ e->dir, "is a directory", NULL });
	expect_file_error(good, missing, (const char *const[]){ missing, "No such file or directory", NULL });
	bytes[len - 4096] ^= 0x20; /* a byte of the region's data */
	ms_write_file(bad, bytes, len, 0600);
	expect_file_error(good, bad,
	                  (const char *const[]){ bad, "checksum mismatch in region record 1 of 1",
	                                         ms_hex(e->fx.arena), NULL });
	bytes[len - 4096] ^= 0x20;
	ms_write_file(bad, bytes, len - 100, 0600);
	expect_file_error(bad, good, (const char *const[]){ bad, "truncated", "cut short", NULL });
	bytes[8] = 3; /* the format version */
	ms_write_file(bad, bytes, len, 0600);
	expect_file_error(good, bad, (const char *const[]){ bad, "format version 3", "newer memscan", NULL });
	free(bytes);
}

/* Snapshots taken with different filters: the region the second one's --perms rw left out is
 * reported as outside its selection, never as vanished (or, the other way round, appeared). */
static void test_stream_filtered_diff(void **state)
{
	struct env *e = *state;
	const char *a = in_dir(e, "fa.snap"), *b = in_dir(e, "fb.snap");
	uint64_t lo = e->fx.boundary - 4096, hi = e->fx.boundary + 4096;
	char range[80], expect[512];
	ms_run r;

	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)lo, (unsigned long long)hi);
	RUN(&r, "snapshot", ms_fixture_pid_str(&e->fx), "-o", a, "--range", range);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "snapshot", ms_fixture_pid_str(&e->fx), "-o", b, "--range", range, "--perms", "rw");
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "diff", a, b);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "# 0 runs, 0 bytes changed, 1 outside the other's selection\n"
	         "= 0x%llx-0x%llx only in the old snapshot: outside the new one's selection\n",
	         (unsigned long long)e->fx.boundary, (unsigned long long)hi);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	RUN(&r, "diff", b, a, "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"outside_selection\":{\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"only_in\":\"new\"}}\n",
	         (unsigned long long)e->fx.boundary, (unsigned long long)hi);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_snapshot_rss),  cmocka_unit_test(test_stream_diff_rss),
		cmocka_unit_test(test_stream_diff_large),    cmocka_unit_test(test_stream_file_errors),
		cmocka_unit_test(test_stream_filtered_diff),
	};

	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
