/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan remote snapshot` streamed into a file (memscan_client_snapshot_write):
 * the file equals the local one, the agent holds no copy of the target, a client that leaves stops
 * the reads, a key without the read permission gets nothing. */
#include "agentutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A target far larger than the agent's session budget (16 MiB): a snapshot the agent kept would be
 * refused. 256 MiB, so that a download takes long enough to be left midway. */
#define BIG_PAGES "65536"

/* AddressSanitizer's quarantine keeps freed memory resident: only plain builds measure the RSS. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static ms_agent env;
static ms_fixture fx;  /* the small fixture (default arena), for comparisons */
static ms_fixture big; /* the large one */
static char dir[4096];
static char hostport[64];

static const char *target(int pid)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "%s:%d", hostport, pid);
	return buf;
}

static int group_setup(void **state)
{
	static const char *const big_args[] = { "--pages", BIG_PAGES, NULL };
	const char *args[] = { "--session-budget", "16M", NULL };
	char pub[4300];
	ms_run r;
	int ok;

	(void)state;
	if (ms_fixture_start(&fx, NULL) != 0 || ms_fixture_start(&big, big_args) != 0 ||
	    ms_agent_init(&env) != 0 || ms_agent_start(&env, args) != 0)
		return -1;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	snprintf(dir, sizeof(dir), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	{
		const char *argv[] = { "trust", hostport, pub, NULL };
		ok = ms_run_cli(&r, argv) == 0 && r.status == 0;
	}
	ms_run_free(&r);
	return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
	/* SIGTERM, exit code 0 required: the sanitizers' verdict on the agent counts */
	int rc = ms_agent_finish(&env);

	(void)state;
	ms_fixture_stop(&fx);
	ms_fixture_stop(&big);
	ms_tmpdir_remove(dir);
	return rc;
}

static void asserted_load(const char *path, memscan_snapshot **ret)
{
	assert_int_equal(memscan_snapshot_load(path, ret), MEMSCAN_OK);
}

/* Both files hold the same regions (addresses, permissions, paths), holes and filter. */
static void assert_same_tables(const char *a_path, const char *b_path)
{
	memscan_snapshot *a, *b;
	memscan_filter fa, fb;

	asserted_load(a_path, &a);
	asserted_load(b_path, &b);
	assert_int_equal(memscan_snapshot_region_count(a), memscan_snapshot_region_count(b));
	for (size_t i = 0; i < memscan_snapshot_region_count(a); i++) {
		memscan_snapshot_region ra = memscan_snapshot_get(a, i), rb = memscan_snapshot_get(b, i);

		assert_int_equal(ra.region.start, rb.region.start);
		assert_int_equal(ra.region.end, rb.region.end);
		assert_int_equal(ra.region.perms, rb.region.perms);
		assert_string_equal(ra.region.path, rb.region.path);
		assert_int_equal(ra.holes ? ra.holes->count : 0, rb.holes ? rb.holes->count : 0);
	}
	/* the remote file records the filter its regions were selected with, as the local one does */
	assert_true(memscan_snapshot_get_filter(a, &fa));
	assert_true(memscan_snapshot_get_filter(b, &fb));
	assert_int_equal(fa.perms, fb.perms);
	assert_int_equal(fa.kinds, fb.kinds);
	assert_int_equal(fa.range_start, fb.range_start);
	assert_int_equal(fa.range_end, fb.range_end);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
}

/* Sum of the bytes of the agent's audit lines of OP for PID. */
static uint64_t audit_bytes(const char *op, int pid)
{
	char needle[64], line[1024];
	uint64_t sum = 0;
	FILE *f = fopen(env.err_path, "re");

	assert_non_null(f);
	snprintf(needle, sizeof(needle), "op=%s pid=%d ", op, pid);
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, needle);
		unsigned long long b;

		if (at && sscanf(at + strlen(needle), "bytes=%llu", &b) == 1)
			sum += b;
	}
	fclose(f);
	return sum;
}

/* The whole (stopped) fixture, default filter: the remote file has the local one's region table,
 * holes, filter and bytes; the small regions that lie end to end were read together, in fewer Reads
 * than there are regions. */
static void test_stream_equals_local(void **state)
{
	char local_path[4200], remote_path[4200], needle[64];
	size_t reads, regions = 0;
	ms_run r;

	(void)state;
	snprintf(local_path, sizeof(local_path), "%s/local.snap", dir);
	snprintf(remote_path, sizeof(remote_path), "%s/remote.snap", dir);
	assert_int_equal(kill(fx.pid, SIGSTOP), 0);
	RUN(&r, "snapshot", ms_fixture_pid_str(&fx), "-o", local_path);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "snapshot", target(fx.pid), "-o", remote_path, "--identity", env.full.path);
	assert_int_equal(kill(fx.pid, SIGCONT), 0);
	if (r.status != 0)
		fail_msg("remote snapshot: exit %d: %s", r.status, r.err);
	assert_non_null(strstr(r.out, "wrote "));
	assert_int_equal(sscanf(strstr(r.out, ": ") + 2, "%zu regions", &regions), 1);
	ms_run_free(&r);
	snprintf(needle, sizeof(needle), "op=read pid=%d ", (int)fx.pid);
	reads = ms_agent_err_count(&env, needle);
	print_message("%zu regions in %zu reads\n", regions, reads);
	assert_true(regions > 2 && reads < regions);
	/* listed once, by the library (the CLI lists nothing to total its progress line) */
	snprintf(needle, sizeof(needle), "op=list_regions pid=%d ", (int)fx.pid);
	assert_int_equal(ms_agent_err_count(&env, needle), 1);
	RUN(&r, "diff", local_path, remote_path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);
	assert_same_tables(local_path, remote_path);
}

/* Peak resident memory (VmHWM) of PID in KiB. */
static long hwm_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	assert_true(v > 0);
	return v;
}

/* 256 MiB through an agent whose session budget is 16 MiB: the agent keeps no copy of the target
 * (a kept snapshot would be refused by the budget) and its peak memory grows by far less than the
 * target's size (measured in plain builds). */
static void test_stream_bounded(void **state)
{
	char path[4200];
	long before = hwm_kib(env.pid), after;
	ms_run r;

	(void)state;
	snprintf(path, sizeof(path), "%s/big.snap", dir);
	RUN(&r, "remote", "snapshot", target(big.pid), "-o", path, "--kind", "anon", "--identity",
	    env.full.path);
	if (r.status != 0)
		fail_msg("remote snapshot of %llu bytes under a 16 MiB budget: exit %d: %s",
		         (unsigned long long)big.arena_len, r.status, r.err);
	ms_run_free(&r);
	after = hwm_kib(env.pid);
	print_message("agent peak RSS %ld KiB -> %ld KiB for a %llu MiB target\n", before, after,
	              (unsigned long long)(big.arena_len >> 20));
#ifndef UNDER_ASAN
	assert_true((uint64_t)(after - before) * 1024 < big.arena_len / 4);
#endif
	assert_int_equal(unlink(path), 0);
}

/* Starts `remote snapshot` of the large fixture into PATH and waits until the agent has answered 8 MiB
 * of reads more than READ_BEFORE: the CLI is downloading. */
static void start_big_download(ms_session *s, const char *path, uint64_t read_before)
{
	const char *argv[] = { "remote", "snapshot", target(big.pid), "-o",          path, "--kind",
		               "anon",   "--quiet",  "--identity",    env.full.path, NULL };

	assert_int_equal(ms_session_start(s, argv), 0);
	for (int i = 0; i < 20000 && audit_bytes("read", big.pid) - read_before < (8u << 20); i++)
		usleep(500);
	assert_true(audit_bytes("read", big.pid) - read_before >= (8u << 20));
}

/* Files in the test directory whose names begin with PREFIX (the file or its temporary sibling). */
static int files_named(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* A CLI killed mid-download (SIGKILL: no handler runs): the agent reads at most the pages asked for
 * ahead, not the rest of the target, and serves the next client; the file being written had no name,
 * so nothing is left behind, neither the file nor a temporary one holding the target's memory. */
static void test_stream_client_leaves(void **state)
{
	char path[4200];
	uint64_t read_before = audit_bytes("read", big.pid), read_after, kept;
	ms_session s;
	int status;

	(void)state;
	snprintf(path, sizeof(path), "%s/left.snap", dir);
	start_big_download(&s, path, read_before);
	assert_int_equal(kill(s.pid, SIGKILL), 0);
	assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
	fclose(s.to);
	close(s.from);
	unlink(s.err_path);
	assert_int_equal(ms_agent_serving(&env, big.pid), 0);
	read_after = audit_bytes("read", big.pid) - read_before;
	kept = audit_bytes("snapshot", big.pid);
	print_message("agent read %llu MiB of %llu MiB for the client that left\n",
	              (unsigned long long)(read_after >> 20), (unsigned long long)(big.arena_len >> 20));
	assert_true(read_after + kept < big.arena_len / 2);
	assert_int_equal(access(path, F_OK), -1); /* no file appears */
	assert_int_equal(files_named("left.snap"), 0);
}

/* Ctrl-C mid-download: the CLI stops at the next page, says so, exits 130 and leaves no file, not even
 * the temporary one; the agent serves the next client. */
static void test_stream_interrupted(void **state)
{
	uint64_t read_before = audit_bytes("read", big.pid);
	char path[4200], err[4096] = "";
	ms_session s;
	ssize_t n;
	FILE *f;
	int status;

	(void)state;
	snprintf(path, sizeof(path), "%s/interrupted.snap", dir);
	start_big_download(&s, path, read_before);
	/* the file being written has no name until it is whole */
	assert_int_equal(files_named("interrupted.snap"), 0);
	assert_int_equal(kill(s.pid, SIGINT), 0);
	assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
	fclose(s.to);
	close(s.from);
	f = fopen(s.err_path, "re");
	assert_non_null(f);
	n = (ssize_t)fread(err, 1, sizeof(err) - 1, f);
	err[n > 0 ? n : 0] = '\0';
	fclose(f);
	unlink(s.err_path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 130)
		fail_msg("interrupted remote snapshot: status 0x%x, stderr: %s", status, err);
	assert_non_null(strstr(err, "interrupted"));
	assert_int_equal(files_named("interrupted.snap"), 0);
	assert_int_equal(ms_agent_serving(&env, big.pid), 0);
}

/* A key with the list permission only: the regions may be listed, not read; no file appears. */
static void test_stream_needs_read(void **state)
{
	char path[4200], line[96];
	ms_run r;

	(void)state;
	snprintf(path, sizeof(path), "%s/denied.snap", dir);
	snprintf(line, sizeof(line), "op=read pid=%d bytes=0 result=DENIED", (int)fx.pid);
	RUN(&r, "remote", "snapshot", target(fx.pid), "-o", path, "--identity", env.listonly.path);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "authorized_keys does not grant"));
	ms_run_free(&r);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(ms_agent_err_has(&env, line));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_equals_local),  cmocka_unit_test(test_stream_bounded),
		cmocka_unit_test(test_stream_client_leaves), cmocka_unit_test(test_stream_interrupted),
		cmocka_unit_test(test_stream_needs_read),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
