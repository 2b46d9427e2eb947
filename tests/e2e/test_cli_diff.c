/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan snapshot` and `memscan diff` (two files, a PID over time, --watch). */
#include "cliutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* Snapshot of the fixture's arena into PATH. */
static void snap_arena(const ms_fixture *f, const char *path)
{
	char expect[512];
	ms_run r;

	RUN(&r, "snapshot", ms_fixture_pid_str(f), "-o", path, "--range", arena_range(f));
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "wrote %s: 1 regions, 256 KiB (%llu bytes), 0 B unreadable\n", path,
	         (unsigned long long)f->arena_len);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

static void test_snapshot_diff_files(void **state)
{
	const char *dir = ms_tmpdir();
	uint64_t at = 0x3000, addr;
	uint8_t old = MS_FIXTURE_ARENA_BYTE(0x3000u), new = (uint8_t)(old ^ 0xFF);
	char a[4096], b[4096], expect[256];
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_non_null(dir);
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	path_in(a, sizeof(a), dir, "a.snap");
	path_in(b, sizeof(b), dir, "b.snap");
	addr = f.arena + at;
	snap_arena(&f, a);
	assert_int_equal(ms_fixture_cmd(&f, "set %s %x", ms_hex(addr), new), 0);
	snap_arena(&f, b);

	RUN(&r, "diff", a, b);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "# 1 runs, 1 bytes changed\n0x%llx  1 byte  old: %02x  new: %02x\n",
	         (unsigned long long)addr, old, new);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	RUN(&r, "diff", a, b, "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"old\":\"%02x\",\"new\":\"%02x\"}\n",
	         (unsigned long long)addr, old, new);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	/* same files the other way round: old and new swap */
	RUN(&r, "diff", b, a, "--json", "--bytes");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"old\":\"%02x\",\"new\":\"%02x\"}\n",
	         (unsigned long long)addr, new, old);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	ms_fixture_stop(&f);
	ms_tmpdir_remove(dir);
}

static void test_diff_bytes_run(void **state)
{
	const char *dir = ms_tmpdir();
	char a[4096], b[4096], expect[512];
	uint64_t addr;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	path_in(a, sizeof(a), dir, "a.snap");
	path_in(b, sizeof(b), dir, "b.snap");
	addr = f.arena + 0x5000;
	snap_arena(&f, a);
	assert_int_equal(ms_fixture_cmd(&f, "fill %s 3 0", ms_hex(addr)), 0);
	snap_arena(&f, b);

	RUN(&r, "diff", a, b, "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"address\":\"0x%llx\",\"old\":\"%02x%02x%02x\",\"new\":\"000000\"}\n",
	         (unsigned long long)addr, MS_FIXTURE_ARENA_BYTE(0x5000u), MS_FIXTURE_ARENA_BYTE(0x5001u),
	         MS_FIXTURE_ARENA_BYTE(0x5002u));
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	RUN(&r, "diff", a, b, "--bytes");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "# 1 runs, 3 bytes changed\n0x%llx  %02x -> 00\n0x%llx  %02x -> 00\n0x%llx  %02x -> 00\n",
	         (unsigned long long)addr, MS_FIXTURE_ARENA_BYTE(0x5000u), (unsigned long long)addr + 1,
	         MS_FIXTURE_ARENA_BYTE(0x5001u), (unsigned long long)addr + 2,
	         MS_FIXTURE_ARENA_BYTE(0x5002u));
	assert_string_equal(r.out, expect);
	ms_run_free(&r);

	ms_fixture_stop(&f);
	ms_tmpdir_remove(dir);
}

static void test_diff_pid_quiet(void **state)
{
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	/* let the fixture settle into its blocking read of stdin (buffers allocated, stack quiet) */
	assert_int_equal(ms_fixture_cmd(&f, "ping"), 0);
	usleep(200 * 1000);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "0s");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);

	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "0", "--json", "--range", arena_range(&f));
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_diff_pid_counter(void **state)
{
	const char *args[] = { "--tick-ms", "50", NULL };
	char needle[64];
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "500ms");
	assert_int_equal(r.status, 0);
	snprintf(needle, sizeof(needle), "\n0x%llx  ", (unsigned long long)f.counter);
	assert_non_null(strstr(r.out, needle));
	ms_run_free(&r);

	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "300ms", "--json", "--range", arena_range(&f));
	assert_int_equal(r.status, 0);
	snprintf(needle, sizeof(needle), "{\"address\":\"0x%llx\",\"old\":\"", (unsigned long long)f.counter);
	assert_memory_equal(r.out, needle, strlen(needle));
	assert_int_equal(ms_count_lines(r.out), 1);
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

static void test_diff_watch(void **state)
{
	const char *args[] = { "--tick-ms", "20", NULL };
	char needle[64];
	const char *p;
	size_t headers = 0;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "200ms", "--watch", "--count", "3", "--range",
	    arena_range(&f));
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 6);
	for (p = r.out; (p = strstr(p, "# 20")); p++)
		headers++;
	assert_int_equal(headers, 3);
	assert_non_null(strstr(r.out, "Z  1 runs, "));
	snprintf(needle, sizeof(needle), "\n0x%llx  ", (unsigned long long)f.counter);
	assert_non_null(strstr(r.out, needle));
	ms_run_free(&r);

	/* bundled short options: -wn2 is -w -n 2 */
	RUN(&r, "diff", ms_fixture_pid_str(&f), "-i", "100ms", "-wn2", "--json", "--range", arena_range(&f));
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 4);
	assert_memory_equal(r.out, "{\"time\":\"20", 11);
	assert_non_null(strstr(r.out, "\"batch\":2,"));
	snprintf(needle, sizeof(needle), "Z\",\"address\":\"0x%llx\"", (unsigned long long)f.counter);
	assert_non_null(strstr(r.out, needle));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

struct unmap_later {
	ms_fixture *f;
	int ret;
};

static void *unmap_thread(void *arg)
{
	struct unmap_later *u = arg;

	usleep(300 * 1000);
	u->ret = ms_fixture_cmd(u->f, "unmap-arena");
	return NULL;
}

static void test_diff_vanished(void **state)
{
	struct unmap_later u;
	char expect[128];
	pthread_t thr;
	ms_fixture f;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	u.f = &f;
	u.ret = -1;
	assert_int_equal(pthread_create(&thr, NULL, unmap_thread, &u), 0);
	RUN(&r, "diff", ms_fixture_pid_str(&f), "--interval", "1500ms", "--json", "--kind", "anon");
	pthread_join(thr, NULL);
	assert_int_equal(u.ret, 0);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"vanished\":{\"start\":\"0x%llx\",\"end\":\"0x%llx\"}}\n",
	         (unsigned long long)f.arena, (unsigned long long)(f.arena + f.arena_len));
	assert_non_null(strstr(r.out, expect));
	ms_run_free(&r);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_diff_files), cmocka_unit_test(test_diff_bytes_run),
		cmocka_unit_test(test_diff_pid_quiet),      cmocka_unit_test(test_diff_pid_counter),
		cmocka_unit_test(test_diff_watch),          cmocka_unit_test(test_diff_vanished),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
