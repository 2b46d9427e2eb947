/* SPDX-License-Identifier: MIT */
/* memscan as deployed: the agent runs as uid 65534 holding only CAP_SYS_PTRACE (setpriv), the target
 * as another uid (1000); remote and least-privileged local output equal root's local output, and a
 * long remote scan and a remote pointer search report their progress. */
#include "agentutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/client.h>

#define SETPRIV    "/usr/bin/setpriv"
#define AGENT_UID  65534
#define TARGET_UID 1000

/* The arena of the long scan's target: about a second of the slow pattern on two cores, in the plain
 * build and under AddressSanitizer (whose matcher runs about 20 times slower). */
#ifdef MS_UNDER_ASAN
#define LONG_SCAN_PAGES "2048"
#else
#define LONG_SCAN_PAGES "32768"
#endif
/* The pointer arena of the remote pointer search: read and indexed in more than the client's 250 ms
 * Progress wait, within the agent's default 1 GiB session budget. */
#ifdef MS_UNDER_ASAN
#define POINTER_PAGES "65536"
#else
#define POINTER_PAGES "131072"
#endif

/* The agent as deploy/memscan-agent.service runs it: an unprivileged uid, CAP_SYS_PTRACE alone in
 * every set (ambient, so that it survives the exec; bounding, so that nothing else can come back). */
static const char *const as_agent[] = { SETPRIV,
	                                "--reuid=65534",
	                                "--regid=65534",
	                                "--clear-groups",
	                                "--inh-caps=-all,+sys_ptrace",
	                                "--ambient-caps=+sys_ptrace",
	                                "--bounding-set=-all,+sys_ptrace",
	                                NULL };
/* The same uid without any capability. */
static const char *const as_nobody[] = {
	SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
	NULL
};
static const char *const as_target[] = { SETPRIV, "--reuid=1000", "--regid=1000", "--clear-groups", NULL };

static ms_agent env;
static ms_fixture fx;
static char bin_dir[4096], cfg_dir[4096], hostport[64];
static char agent_bin[4200], cli_bin[4200], fixture_bin[4200];
static int unsupported; /* not root, or no setpriv: every test skips */

/* Copies SRC to DIR/basename(SRC) with MODE; the copy's path into DST. */
static int copy_into(const char *src, const char *dir, char *dst, size_t dst_len)
{
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	size_t len = 0;
	uint8_t *data = ms_file_read(src, &len);
	int fd, rc = -1;

	if (!data || snprintf(dst, dst_len, "%s/%s", dir, base) >= (int)dst_len)
		goto out;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		goto out;
	rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
	if (close(fd) != 0 || fchmodat(AT_FDCWD, dst, 0755, 0) != 0)
		rc = -1;
out:
	free(data);
	return rc;
}

/* The programs and libraries, copied where every uid may run them (the build tree may sit below a
 * directory that only root can enter); the libraries are found through LD_LIBRARY_PATH. */
static int install_programs(void)
{
	char lib[4200];
	const char *dir = ms_tmpdir();

	if (!dir)
		return -1;
	snprintf(bin_dir, sizeof(bin_dir), "%s", dir);
	if (chmod(bin_dir, 0755) != 0 ||
	    copy_into(MEMSCAN_AGENT_PATH, bin_dir, agent_bin, sizeof(agent_bin)) ||
	    copy_into(MEMSCAN_CLI_PATH, bin_dir, cli_bin, sizeof(cli_bin)) ||
	    copy_into(MEMSCAN_FIXTURE_PATH, bin_dir, fixture_bin, sizeof(fixture_bin)) ||
	    copy_into(MEMSCAN_CORE_LIB_PATH, bin_dir, lib, sizeof(lib)) ||
	    copy_into(MEMSCAN_CLIENT_LIB_PATH, bin_dir, lib, sizeof(lib)))
		return -1;
	return setenv("LD_LIBRARY_PATH", bin_dir, 1);
}

/* The agent's key and authorized_keys belong to its uid, in a directory it may enter but not list. */
static int hand_keys_to_agent(const ms_agent *a)
{
	char pub[4300];

	snprintf(pub, sizeof(pub), "%s.pub", a->agent.path);
	if (chmod(a->dir, 0711) != 0 || chown(a->agent.path, AGENT_UID, AGENT_UID) != 0 ||
	    chown(pub, AGENT_UID, AGENT_UID) != 0 || chown(a->auth_path, AGENT_UID, AGENT_UID) != 0)
		return -1;
	return 0;
}

static int trust_agent(void)
{
	char pub[4300];
	const char *dir = ms_tmpdir();
	ms_run r;
	int rc;

	if (!dir)
		return -1;
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", dir);
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	{
		const char *argv[] = { "trust", hostport, pub, NULL };
		if (ms_run_cli(&r, argv) != 0)
			return -1;
	}
	rc = r.status == 0 ? 0 : -1;
	ms_run_free(&r);
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || access(SETPRIV, X_OK) != 0) {
		unsupported = 1;
		return 0;
	}
	if (install_programs() != 0)
		return -1;
	ms_launch_fixture = (ms_launch){ fixture_bin, as_target };
	ms_launch_agent = (ms_launch){ agent_bin, as_agent };
	if (ms_fixture_start(&fx, NULL) != 0 || ms_agent_init(&env) != 0 || hand_keys_to_agent(&env) != 0 ||
	    ms_agent_start(&env, NULL) != 0)
		return -1;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	return trust_agent();
}

static int group_teardown(void **state)
{
	(void)state;
	if (unsupported)
		return 0;
	/* SIGTERM: the agent must stop cleanly as deployed too */
	if (ms_agent_terminate(&env, 10000) != 0)
		fprintf(stderr, "agent did not exit cleanly\n");
	ms_agent_cleanup(&env);
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(cfg_dir);
	ms_tmpdir_remove(bin_dir);
	return 0;
}

static void skip_if_unsupported(void)
{
	if (unsupported) {
		print_message("needs root and " SETPRIV ": not run\n");
		skip();
	}
}

/* The value of field NAME ("Uid:", "CapEff:") of /proc/PID/status. */
static const char *status_field(pid_t pid, const char *name)
{
	static char value[256];
	char path[64], *text, *line;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = (char *)ms_file_read(path, &len);
	assert_non_null(text);
	line = strstr(text, name);
	assert_non_null(line);
	line += strlen(name);
	line += strspn(line, " \t");
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(line, "\n"), line);
	free(text);
	return value;
}

static void test_runs_as_deployed(void **state)
{
	(void)state;
	skip_if_unsupported();
	assert_string_equal(status_field(env.pid, "Uid:"), "65534\t65534\t65534\t65534");
	/* CAP_SYS_PTRACE is bit 19: nothing else, in any set */
	assert_string_equal(status_field(env.pid, "CapEff:"), "0000000000080000");
	assert_string_equal(status_field(env.pid, "CapBnd:"), "0000000000080000");
	assert_string_equal(status_field(fx.pid, "Uid:"), "1000\t1000\t1000\t1000");
	/* holding the capability, the agent does not warn */
	assert_false(ms_agent_err_has(&env, "without CAP_SYS_PTRACE"));
}

struct setter {
	const char *addr;
	int ret;
};

/* Half-way through the diff's interval, the fixture writes 0x22 where the diff began at 0x11. */
static void *set_later(void *arg)
{
	struct setter *s = arg;

	usleep(600 * 1000);
	s->ret = ms_fixture_cmd(&fx, "set %s 22", s->addr);
	return NULL;
}

/* Runs memscan ARGV as root, as uid 65534 with only CAP_SYS_PTRACE (local), and through the agent
 * (remote, "HOST:PID" in place of the PID at ARGV[1]); the three must succeed with the same output. */
static void three_ways(const char *const *argv, size_t argc, const char *what_changes)
{
	const char *remote[24];
	ms_run runs[3];
	ms_launch saved = ms_launch_cli;
	char target[96];

	assert_true(argc < 18);
	snprintf(target, sizeof(target), "%s:%d", hostport, (int)fx.pid);
	remote[0] = "remote";
	remote[1] = argv[0];
	remote[2] = target;
	for (size_t i = 2; i < argc; i++)
		remote[i + 1] = argv[i];
	remote[argc + 1] = "--identity";
	remote[argc + 2] = env.full.path;
	remote[argc + 3] = NULL;
	for (int k = 0; k < 3; k++) {
		struct setter set = { what_changes, 0 };
		pthread_t thr;

		if (what_changes) {
			assert_int_equal(ms_fixture_cmd(&fx, "set %s 11", what_changes), 0);
			assert_int_equal(pthread_create(&thr, NULL, set_later, &set), 0);
		}
		ms_launch_cli = k == 1 ? (ms_launch){ cli_bin, as_agent } : saved;
		assert_int_equal(ms_run_cli(&runs[k], k == 2 ? remote : argv), 0);
		ms_launch_cli = saved;
		if (what_changes) {
			pthread_join(thr, NULL);
			assert_int_equal(set.ret, 0);
		}
	}
	for (int k = 0; k < 3; k++)
		if (runs[k].status != 0 || runs[k].out_len == 0 || runs[k].out_len != runs[0].out_len ||
		    memcmp(runs[k].out, runs[0].out, runs[0].out_len) != 0)
			fail_msg(
			    "'%s': %s (exit %d) differs from root's local output (exit %d):\n%s\n---\n%s\n"
			    "stderr: %s",
			    argv[0], k == 1 ? "local as uid 65534 + CAP_SYS_PTRACE" : "remote",
			    runs[k].status, runs[0].status, runs[0].out, runs[k].out, runs[k].err);
	/* a diff shows the byte that changed (its address without the 0x) */
	if (what_changes)
		assert_non_null(strstr(runs[0].out, what_changes + 2));
	for (int k = 0; k < 3; k++)
		ms_run_free(&runs[k]);
}

static const char *pid_str(void)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d", (int)fx.pid);
	return buf;
}

static const char *arena_range(void)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + fx.arena_len));
	return buf;
}

static void test_regions_read_scan(void **state)
{
	(void)state;
	skip_if_unsupported();
	{
		const char *a[] = { "regions", pid_str(), NULL };
		three_ways(a, 2, NULL);
	}
	{
		const char *a[] = { "regions", pid_str(), "--json", NULL };
		three_ways(a, 3, NULL);
	}
	{
		char addr[32];
		snprintf(addr, sizeof(addr), "%s", ms_hex(fx.marker[0] - 8));
		const char *a[] = { "read", pid_str(), addr, "64", NULL };
		three_ways(a, 4, NULL);
	}
	{
		/* the holey mapping: the unreadable pages print as holes the same way */
		char addr[32];
		snprintf(addr, sizeof(addr), "%s", ms_hex(fx.holey));
		const char *a[] = { "read", pid_str(), addr, "8192", NULL };
		three_ways(a, 4, NULL);
	}
	{
		const char *a[] = { "scan", pid_str(), "--pattern", MS_FIXTURE_MARKER, NULL };
		three_ways(a, 4, NULL);
	}
	{
		const char *a[] = { "scan",        pid_str(), "--pattern", "4D 5A ?? 00",
			            "--no-memmap", "--json",  NULL };
		three_ways(a, 6, NULL);
	}
}

static void test_diff(void **state)
{
	char addr[32];

	(void)state;
	skip_if_unsupported();
	snprintf(addr, sizeof(addr), "%s", ms_hex(fx.arena + 0x123));
	{
		/* the byte changes during the interval: one run of one byte, 11 -> 22, all three ways */
		const char *a[] = {
			"diff", pid_str(), "--interval", "1200ms", "--range", arena_range(), NULL
		};
		three_ways(a, 6, addr);
	}
	{
		const char *a[] = { "diff",    pid_str(),     "--interval", "1200ms",
			            "--range", arena_range(), "--json",     NULL };
		three_ways(a, 7, addr);
	}
}

/* A heatmap of one-byte cells over one sample: the byte that changed, counted once, the same all three
 * ways (remotely the agent, as deployed, counts). */
static void test_heatmap(void **state)
{
	char addr[32];

	(void)state;
	skip_if_unsupported();
	snprintf(addr, sizeof(addr), "%s", ms_hex(fx.arena + 0x123));
	{
		const char *a[] = { "heatmap", pid_str(), "--duration", "1200ms",      "--interval", "1200ms",
			            "--cell",  "1",       "--range",    arena_range(), "--json",     NULL };
		three_ways(a, 11, addr);
	}
}

/* A client of the agent with the full key, connected. */
static memscan_client *client_open(void)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_identity_file(c, env.full.path), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_agent_key(c, env.agent.pub), MEMSCAN_OK);
	assert_int_equal(memscan_client_connect(c, env.url), MEMSCAN_OK);
	return c;
}

/* The candidate a narrow kept: its address and value. */
static int first_candidate(void *ctx, const memscan_candidate *c)
{
	uint64_t *got = ctx;

	got[0] = c->address;
	got[1] = c->value[0];
	return 0;
}

/* A value set on the agent as deployed: an unknown-value scan of the target's arena (uid 1000) by
 * the agent running as 65534 with CAP_SYS_PTRACE alone, then narrowed from a second connection to
 * the one byte that changed; the value is the one /proc/PID/mem holds. */
static void test_value_set(void **state)
{
	memscan_filter f = { .perms = MEMSCAN_PERM_WRITE,
		             .range_start = fx.arena,
		             .range_end = fx.arena + fx.arena_len };
	memscan_client_page page = { 4, first_candidate, NULL };
	memscan_client_vset set, nar;
	uint64_t got[2] = { 0 }, addr = fx.arena + 0x321;
	uint8_t byte = 0;
	memscan_client *c;
	char path[64];
	int fd;

	(void)state;
	skip_if_unsupported();
	for (int round = 0; round < 2; round++) {
		c = client_open();
		if (round == 0) {
			assert_int_equal(
			    memscan_client_value_scan_unknown(c, fx.pid, &f, MEMSCAN_VALUE_U8, NULL, &set),
			    MEMSCAN_OK);
			assert_int_equal(set.count, fx.arena_len);
			assert_int_equal(ms_fixture_cmd(&fx, "bump %llx", (unsigned long long)addr), 0);
		} else {
			page.ctx = got;
			assert_int_equal(memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_CHANGED, NULL,
			                                             NULL, 0, false, &page, &nar),
			                 MEMSCAN_OK);
			assert_int_equal(nar.count, 1);
			assert_int_equal(memscan_client_value_release(c, set.id), MEMSCAN_OK);
		}
		memscan_client_free(c);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)fx.pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)addr), 1);
	close(fd);
	assert_int_equal(got[0], addr);
	assert_int_equal(got[1], byte);
}

struct scan_seen {
	unsigned reports;
	uint64_t last, match, matches;
};

static void count_progress(void *ctx, uint64_t done)
{
	struct scan_seen *s = ctx;

	s->reports++;
	s->last = done;
}

static int keep_match(void *ctx, uint64_t address, const memscan_region *region)
{
	struct scan_seen *s = ctx;

	(void)region;
	s->match = address;
	s->matches++;
	return 0;
}

/* A remote scan long enough to be answered with Progress, run on its own thread by the agent as
 * deployed: an arena of 0x41 in another target of uid 1000, the slow pattern (4095 x 41 then 42, the
 * matcher's worst case: about a second) with its one match planted 1 MiB in. */
static void test_remote_scan_progress(void **state)
{
	static const char *const args[] = { "--pages", LONG_SCAN_PAGES, NULL };
	struct scan_seen seen = { 0 };
	ms_fixture big;
	memscan_filter f;
	memscan_client *c;
	char *pattern = malloc(3 * MEMSCAN_PATTERN_MAX);
	uint8_t b = 0x42;

	(void)state;
	skip_if_unsupported();
	assert_non_null(pattern);
	for (size_t i = 0; i < MEMSCAN_PATTERN_MAX; i++)
		memcpy(pattern + 3 * i, i + 1 < MEMSCAN_PATTERN_MAX ? "41 " : "42", 3);
	assert_int_equal(ms_fixture_start(&big, args), 0);
	assert_int_equal(
	    ms_fixture_cmd(&big, "fill %s %llx 41", ms_hex(big.arena), (unsigned long long)big.arena_len), 0);
	ms_fixture_poke(&big, big.arena + (1u << 20) + MEMSCAN_PATTERN_MAX - 1, &b, 1);
	memscan_filter_default(&f);
	f.range_start = big.arena;
	f.range_end = big.arena + big.arena_len;
	c = client_open();
	assert_int_equal(memscan_client_set_progress(c, count_progress, &seen), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_scan(c, big.pid, &f, pattern, NULL, keep_match, &seen, NULL),
	               MEMSCAN_OK);
	print_message("%u progress reports, the last %llu bytes\n", seen.reports,
	              (unsigned long long)seen.last);
	assert_true(seen.reports >= 1);
	assert_true(seen.last > 0 && seen.last <= big.arena_len);
	assert_int_equal(seen.matches, 1);
	assert_int_equal(seen.match, big.arena + (1u << 20));
	memscan_client_free(c);
	ms_fixture_stop(&big);
	free(pattern);
}

/* A remote pointer search of a pointer-dense target of uid 1000 by the agent as deployed, answered
 * with Progress: the client's reports get past the read's third (of three times the regions' bytes)
 * and the chains from the target's static roots come back. */
static void test_remote_pointer_progress(void **state)
{
	static const char *const args[] = { "--pages", POINTER_PAGES, "--pointers", NULL };
	struct scan_seen seen = { 0 };
	memscan_pointer_search_options o;
	memscan_pointer_chains *chains = NULL;
	memscan_client *c;
	ms_fixture big;
	uint64_t addr;

	(void)state;
	skip_if_unsupported();
	assert_int_equal(ms_fixture_start(&big, args), 0);
	addr = big.arena + MS_FIXTURE_POINTERS_OFFSET + (big.arena_len - MS_FIXTURE_POINTERS_OFFSET) / 2 + 16;
	memscan_pointer_search_options_default(&o);
	c = client_open();
	assert_int_equal(memscan_client_set_progress(c, count_progress, &seen), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_pointer_search(c, big.pid, addr, &o, &chains), MEMSCAN_OK);
	print_message("%u progress reports, the last %llu, %zu chains\n", seen.reports,
	              (unsigned long long)seen.last, memscan_pointer_chains_count(chains));
	assert_true(seen.reports >= 1);
	assert_true(seen.last >= big.arena_len && seen.last <= 4 * big.arena_len);
	assert_true(memscan_pointer_chains_count(chains) > 0);
	memscan_pointer_chains_free(chains);
	memscan_client_free(c);
	ms_fixture_stop(&big);
}

static void test_permission_error_without_capability(void **state)
{
	ms_launch saved = ms_launch_cli;
	const char *a[] = { "regions", pid_str(), NULL };
	ms_run r;

	(void)state;
	skip_if_unsupported();
	ms_launch_cli = (ms_launch){ cli_bin, as_nobody };
	assert_int_equal(ms_run_cli(&r, a), 0);
	ms_launch_cli = saved;
	assert_int_equal(r.status, 1);
	assert_int_equal(r.out_len, 0);
	assert_non_null(strstr(r.err, "permission denied reading PID"));
	assert_non_null(strstr(r.err, "CAP_SYS_PTRACE"));
	/* Yama is named only where the kernel has it */
	if (access("/proc/sys/kernel/yama/ptrace_scope", F_OK) == 0)
		assert_non_null(strstr(r.err, "ptrace_scope"));
	else
		assert_null(strstr(r.err, "ptrace_scope"));
	ms_run_free(&r);
}

static void test_agent_warns_without_capability(void **state)
{
	ms_agent weak;

	(void)state;
	skip_if_unsupported();
	ms_launch_agent = (ms_launch){ agent_bin, as_nobody };
	assert_int_equal(ms_agent_init(&weak), 0);
	assert_int_equal(hand_keys_to_agent(&weak), 0);
	assert_int_equal(ms_agent_start(&weak, NULL), 0);
	ms_launch_agent = (ms_launch){ agent_bin, as_agent };
	assert_int_equal(ms_agent_err_count(&weak, "warning: running as uid 65534 without CAP_SYS_PTRACE"),
	                 1);
	assert_int_equal(ms_agent_terminate(&weak, 10000), 0);
	ms_agent_cleanup(&weak);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_as_deployed),
		cmocka_unit_test(test_regions_read_scan),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_heatmap),
		cmocka_unit_test(test_value_set),
		cmocka_unit_test(test_remote_scan_progress),
		cmocka_unit_test(test_remote_pointer_progress),
		cmocka_unit_test(test_permission_error_without_capability),
		cmocka_unit_test(test_agent_warns_without_capability),
	};

	return cmocka_run_group_tests_name("least_privilege", tests, group_setup, group_teardown);
}
