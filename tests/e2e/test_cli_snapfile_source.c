/* SPDX-License-Identifier: MIT */
/* End-to-end tests of snapshot files as inputs: `memscan regions|read|scan FILE` print what the same
 * commands print for the process the snapshot was taken of (stopped meanwhile), bytes the file does
 * not hold are holes, and what needs a running process says so. */
#include "cliutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct env {
	ms_fixture fx;
	char snap[4200];
};

static int setup(void **state)
{
	static struct env e;
	ms_run r;

	if (ms_scratch_setup(state) != 0 || ms_fixture_start(&e.fx, NULL) != 0)
		return -1;
	/* stopped: the process and the file hold the same bytes */
	if (kill(e.fx.pid, SIGSTOP) != 0)
		return -1;
	snprintf(e.snap, sizeof(e.snap), "%s", ms_scratch_path("fx.snap"));
	RUN(&r, "snapshot", ms_fixture_pid_str(&e.fx), "-o", e.snap, "-q");
	if (r.status != 0)
		return -1;
	ms_run_free(&r);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	kill(e->fx.pid, SIGCONT);
	ms_fixture_stop(&e->fx);
	return ms_scratch_teardown(state);
}

/* Runs ARGV once with the PID and once with the snapshot file in place of "@": same exit, same stdout. */
static void same(struct env *e, const char *const *argv)
{
	const char *with_pid[16], *with_file[16];
	ms_run a, b;
	size_t n = 0;

	for (; argv[n]; n++) {
		with_pid[n] = strcmp(argv[n], "@") ? argv[n] : ms_fixture_pid_str(&e->fx);
		with_file[n] = strcmp(argv[n], "@") ? argv[n] : e->snap;
	}
	with_pid[n] = with_file[n] = NULL;
	assert_int_equal(ms_run_cli(&a, with_pid), 0);
	assert_int_equal(ms_run_cli(&b, with_file), 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, a.status);
	if (strcmp(a.out, b.out))
		fail_msg("memscan %s: the process printed\n%s\nthe snapshot file printed\n%s", argv[0], a.out,
		         b.out);
	assert_true(a.out_len > 0);
	ms_run_free(&a);
	ms_run_free(&b);
}

static void test_same_output(void **state)
{
	struct env *e = *state;
	const char *arena = ms_hex(e->fx.arena);

	{
		const char *a[] = { "read", "@", arena, "300", NULL };
		same(e, a);
	}
	{
		const char *a[] = { "read", "@", arena, "64", "--json", NULL };
		same(e, a);
	}
	{
		const char *a[] = { "scan", "@", "--pattern", MS_FIXTURE_MARKER, NULL };
		same(e, a);
	}
	{
		const char *a[] = {
			"scan", "@", "--type", "u8", "--value", "7", "--max", "50", "--json", NULL
		};
		same(e, a);
	}
	{
		/* the snapshot's regions: those its default filter selected, as a filtered listing shows */
		const char *a[] = { "regions", "@", "--kind", "heap,stack", NULL };
		same(e, a);
	}
}

/* The fixture's holey mapping: pages the process cannot read are holes in the file too. */
static void test_holes(void **state)
{
	struct env *e = *state;
	ms_run r;

	RUN(&r, "read", e->snap, ms_hex(e->fx.holey), "0x3000");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "??"));
	ms_run_free(&r);
	/* an address the snapshot does not hold at all */
	RUN(&r, "read", e->snap, "0x1000", "16");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "in snapshot"));
	ms_run_free(&r);
}

static void test_errors(void **state)
{
	struct env *e = *state;
	const char *dir = ms_scratch_path("");
	ms_run r;

	RUN(&r, "regions", ms_scratch_path("no-such.snap"));
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "or a snapshot file"));
	ms_run_free(&r);
	RUN(&r, "regions", dir);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "is a directory"));
	ms_run_free(&r);
	RUN(&r, "diff", e->snap, "--interval", "0s");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "memscan diff FILE_A FILE_B"));
	ms_run_free(&r);
	RUN(&r, "scan", e->snap, "--type", "u8", "--value", "7", "-o", ms_scratch_path("s.set"));
	assert_int_equal(r.status, 2);
	assert_false(ms_exists(ms_scratch_path("s.set")));
	ms_run_free(&r);
}

/* A corrupt file is refused as it is opened, naming what is wrong. */
static void test_corrupt(void **state)
{
	struct env *e = *state;
	const char *bad = ms_scratch_path("bad.snap");
	size_t len;
	uint8_t *b = ms_file_read(e->snap, &len);
	ms_run r;

	b[len / 2] ^= 0x55;
	ms_write_file(bad, b, len, 0600);
	free(b);
	RUN(&r, "regions", bad);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "checksum"));
	assert_string_equal(r.out, "");
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_output),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
