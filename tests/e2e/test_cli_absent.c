/* SPDX-License-Identifier: MIT */
/* End-to-end tests of --read-absent: by default scan, snapshot and diff PID zero-fill the pages of the
 * fixture's sparse region that were never written and leave them unmapped in the target; with the
 * option every page is read through the kernel (which maps the zero page into each), the bytes being
 * the same. `memscan remote` refuses the option: there the agent reads. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#define SPARSE_PAGES "1024" /* 4 MiB, one page in 64 written */

struct absent_cli {
	ms_fixture f;
	const char *dir;
	char pid[16];
	char range[64]; /* the sparse region, for --range */
};

/* A fresh fixture for every test: a read that maps the zero page cannot be undone. */
static int setup(void **state)
{
	static const char *const args[] = { "--sparse-pages", SPARSE_PAGES, NULL };
	struct absent_cli *c = calloc(1, sizeof(*c));

	if (!c || ms_fixture_start(&c->f, args) != 0 || !(c->dir = ms_tmpdir()))
		return -1;
	snprintf(c->pid, sizeof(c->pid), "%d", (int)c->f.pid);
	snprintf(c->range, sizeof(c->range), "%llx-%llx", (unsigned long long)c->f.sparse,
	         (unsigned long long)(c->f.sparse + c->f.sparse_len));
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct absent_cli *c = *state;

	ms_fixture_stop(&c->f);
	ms_tmpdir_remove(c->dir);
	free(c);
	return 0;
}

/* Asserts that the snapshot file at PATH holds the sparse region alone, whole and with its bytes. */
static void assert_sparse_snapshot(const struct absent_cli *c, const char *path)
{
	memscan_snapshot *snap = NULL;
	memscan_snapshot_region r;

	assert_int_equal(memscan_snapshot_load(path, &snap), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(snap), 1);
	r = memscan_snapshot_get(snap, 0);
	assert_int_equal(r.region.start, c->f.sparse);
	assert_int_equal(r.region.end, c->f.sparse + c->f.sparse_len);
	assert_int_equal(memscan_ranges_bytes(r.holes), 0);
	ms_assert_sparse_bytes(&c->f, r.data);
	memscan_snapshot_free(snap);
}

static void test_snapshot(void **state)
{
	struct absent_cli *c = *state;
	char skipped[4200], read[4200];
	ms_run r;

	ms_skip_unless_absent_skipped(c->f.pid);
	snprintf(skipped, sizeof(skipped), "%s/skipped.snap", c->dir);
	snprintf(read, sizeof(read), "%s/read.snap", c->dir);
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_written(&c->f));

	/* by default the pages never written are zero-filled: the target's page tables stay as they were */
	RUN(&r, "snapshot", c->pid, "-o", skipped, "--range", c->range);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_written(&c->f));

	/* --read-absent reads them through the kernel, which maps the zero page into every one */
	RUN(&r, "snapshot", c->pid, "-o", read, "--range", c->range, "--read-absent");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	ms_run_free(&r);
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_pages(&c->f));

	/* and the bytes are the same */
	assert_sparse_snapshot(c, skipped);
	assert_sparse_snapshot(c, read);
	RUN(&r, "diff", skipped, read);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);

	/* the two-files form of diff reads no process: the option is refused there */
	RUN(&r, "diff", skipped, read, "--read-absent");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--read-absent"));
	assert_non_null(strstr(r.err, "'diff PID' only"));
	ms_run_free(&r);
}

/* The same matches either way; only --read-absent maps the never-written pages. */
static void test_scan(void **state)
{
	struct absent_cli *c = *state;
	ms_run a, b;

	ms_skip_unless_absent_skipped(c->f.pid);
	RUN(&a, "scan", c->pid, "--pattern", "A5 00 00 00", "--range", c->range);
	assert_int_equal(a.status, 0);
	assert_int_equal(ms_count_lines(a.out), ms_sparse_written(&c->f));
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_written(&c->f));

	RUN(&b, "scan", c->pid, "--pattern", "A5 00 00 00", "--range", c->range, "--read-absent");
	assert_int_equal(b.status, 0);
	assert_string_equal(a.out, b.out);
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_pages(&c->f));
	ms_run_free(&a);
	ms_run_free(&b);
}

static void test_diff_pid(void **state)
{
	struct absent_cli *c = *state;
	ms_run r;

	ms_skip_unless_absent_skipped(c->f.pid);
	RUN(&r, "diff", c->pid, "--interval", "50ms", "--range", c->range, "--read-absent");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);
	assert_int_equal(ms_sparse_present(&c->f), ms_sparse_pages(&c->f));
}

static void test_help(void **state)
{
	static const char *const cmds[] = { "scan", "snapshot", "diff", "remote" };
	ms_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, cmds[i], "--help");
		assert_int_equal(r.status, 0);
		if (!strstr(r.out, "\n  --read-absent ")) /* its own line, not only the usage line */
			fail_msg("'memscan %s --help' does not explain --read-absent:\n%s", cmds[i], r.out);
		ms_run_free(&r);
	}
	/* read always reads (it is not a whole-region read), so it has no such option */
	RUN(&r, "read", "1", "0x1000", "1", "--read-absent");
	assert_int_equal(r.status, 2);
	ms_run_free(&r);
}

/* Remotely the option is refused before anything is contacted (nothing listens on port 1), with a
 * message that says where the choice is made. */
static void test_remote_refused(void **state)
{
	struct absent_cli *c = *state;
	char target[64], out[4200];
	ms_run r;

	snprintf(target, sizeof(target), "127.0.0.1:1:%d", (int)c->f.pid);
	snprintf(out, sizeof(out), "%s/remote.snap", c->dir);
	for (int i = 0; i < 3; i++) {
		const char *argv[3][12] = {
			{ "remote", "scan", target, "--pattern", "A5", "--read-absent", NULL },
			{ "remote", "snapshot", target, "-o", out, "--read-absent", NULL },
			{ "remote", "diff", target, "--read-absent", "--interval", "50ms", NULL },
		};

		assert_int_equal(ms_run_cli(&r, argv[i]), 0);
		assert_int_equal(r.status, 2);
		assert_string_equal(r.out, "");
		if (!strstr(r.err, "agent's choice") || !strstr(r.err, "memscan-agent --read-absent"))
			fail_msg("'%s %s' refused with an unclear message: %s", argv[i][0], argv[i][1],
			         r.err);
		ms_run_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_pid, setup, teardown),
		cmocka_unit_test(test_help),
		cmocka_unit_test_setup_teardown(test_remote_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
