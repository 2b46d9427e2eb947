/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan pointers` and `memscan resolve` against tests/fixtures/chains.c: the
 * known static chains found live and in a snapshot file, a chain that survives a restart (ASLR),
 * rescans that cut chains, broken chains, and every usage error. */
#include "agentutil.h"
#include "cliutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A running chains fixture and the addresses it printed. */
struct chains_fx {
	pid_t pid;
	FILE *to, *from;
	char pid_str[16];
	uint64_t health, data, bss, decoy, load;
};

static void fx_stop(struct chains_fx *c)
{
	if (c->to)
		fclose(c->to);
	if (c->from)
		fclose(c->from);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	memset(c, 0, sizeof(*c));
}

/* Reads one line from C's stdout, waiting at most 10 s. */
static void fx_line(struct chains_fx *c, char *line, size_t size)
{
	struct pollfd p = { .fd = fileno(c->from), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_non_null(fgets(line, (int)size, c->from));
}

static void fx_health(struct chains_fx *c, int v);

/* Starts the fixture and lets it settle: its first command allocates stdin's buffer, so the memory
 * read by one command is the memory read by the next. */
static void fx_start(struct chains_fx *c, int decoy)
{
	int in[2], out[2];
	char line[512];

	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(MEMSCAN_CHAINS_PATH, "memscan-chains", decoy ? "--decoy" : NULL, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->to = fdopen(in[1], "w");
	c->from = fdopen(out[0], "r");
	assert_non_null(c->to);
	assert_non_null(c->from);
	fx_line(c, line, sizeof(line));
	assert_int_equal(sscanf(line,
	                        "ready health=0x%" SCNx64 " data=0x%" SCNx64 " bss=0x%" SCNx64
	                        " decoy=0x%" SCNx64 " load=0x%" SCNx64,
	                        &c->health, &c->data, &c->bss, &c->decoy, &c->load),
	                 5);
	snprintf(c->pid_str, sizeof(c->pid_str), "%d", (int)c->pid);
	fx_health(c, 100);
}

/* Waits until C sleeps (blocked reading its next command), so that its memory stays as it is. */
static void fx_wait_asleep(const struct chains_fx *c)
{
	char path[64], buf[256], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)c->pid);
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		usleep(5000);
	}
	fail_msg("the chains fixture %d does not settle", (int)c->pid);
}

static void fx_health(struct chains_fx *c, int v)
{
	char line[64];

	fprintf(c->to, "health %d\n", v);
	fflush(c->to);
	fx_line(c, line, sizeof(line));
	assert_string_equal(line, "ok\n");
	fx_wait_asleep(c);
}

/* The text of the chain from the static pointer at ADDR in C (module memscan-chains). */
static const char *chain_text(const struct chains_fx *c, uint64_t addr, const char *rest)
{
	static char buf[4][128];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "memscan-chains+0x%" PRIx64 "%s", addr - c->load, rest);
	return buf[k];
}

/* Whether OUT holds LINE as a whole line. */
static int has_line(const char *out, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
		if ((p == out || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static const char *hex(uint64_t v)
{
	static char buf[4][24];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "0x%" PRIx64, v);
	return buf[k];
}

static void test_pointers_finds_static_chains(void **state)
{
	struct chains_fx c;
	char json[256];
	ms_run r;

	(void)state;
	fx_start(&c, 0);
	RUN(&r, "pointers", c.pid_str, "--to", hex(c.health));
	assert_int_equal(r.status, 0);
	assert_true(has_line(r.out, chain_text(&c, c.data, " -> 0x18 -> 0x10")));
	assert_true(has_line(r.out, chain_text(&c, c.bss, " -> 0x18 -> 0x10")));
	ms_run_free(&r);
	RUN(&r, "pointers", c.pid_str, "--to", hex(c.health), "--json", "--depth", "2");
	assert_int_equal(r.status, 0);
	snprintf(json, sizeof(json),
	         "{\"base\":\"memscan-chains\",\"offset\":\"0x%" PRIx64
	         "\",\"offsets\":[\"0x18\",\"0x10\"],\"address\":\"0x%" PRIx64 "\"}",
	         c.data - c.load, c.health);
	assert_true(has_line(r.out, json));
	ms_run_free(&r);
	RUN(&r, "pointers", c.pid_str, "--to", hex(c.health), "--depth", "1"); /* both chains need 2 */
	assert_int_equal(r.status, 0);
	assert_false(has_line(r.out, chain_text(&c, c.data, " -> 0x18 -> 0x10")));
	ms_run_free(&r);
	fx_stop(&c);
}

/* Whether the kernel randomizes addresses (it does unless kernel.randomize_va_space is 0). */
static int aslr_on(void)
{
	FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
	int v = 2;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 2;
		fclose(f);
	}
	return v != 0;
}

/* Run 1 finds and saves the chains; run 2 (new addresses) resolves them and rescans them. */
static void test_chain_survives_restart(void **state)
{
	const char *paths = ms_scratch_path("run1.ptrs"), *kept = ms_scratch_path("kept.ptrs");
	struct chains_fx c1, c2;
	char data_chain[128], decoy_chain[128], expect[128];
	ms_run r;
	size_t found;

	(void)state;
	fx_start(&c1, 1);
	snprintf(data_chain, sizeof(data_chain), "%s", chain_text(&c1, c1.data, " -> 0x18 -> 0x10"));
	snprintf(decoy_chain, sizeof(decoy_chain), "%s", chain_text(&c1, c1.decoy, " -> 0x10"));
	RUN(&r, "pointers", c1.pid_str, "--to", hex(c1.health), "-o", paths);
	assert_int_equal(r.status, 0);
	assert_true(has_line(r.out, data_chain));
	assert_true(has_line(r.out, decoy_chain));
	found = ms_count_lines(r.out);
	ms_run_free(&r);
	fx_stop(&c1);

	fx_start(&c2, 0);
	if (aslr_on()) {
		assert_true(c2.health != c1.health); /* ASLR: the value moved */
		assert_true(c2.load != c1.load);
	}
	fx_health(&c2, 77);
	RUN(&r, "resolve", c2.pid_str, data_chain, "--type", "i32");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "0x%" PRIx64 "  i32  77\n", c2.health);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	RUN(&r, "resolve", c2.pid_str, decoy_chain);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "breaks at step 1"));
	assert_non_null(strstr(r.err, "null"));
	ms_run_free(&r);

	RUN(&r, "pointers", c2.pid_str, "--rescan", paths, "--to", hex(c2.health), "-o", kept);
	assert_int_equal(r.status, 0);
	assert_true(has_line(r.out, data_chain));
	assert_true(has_line(r.out, chain_text(&c2, c2.bss, " -> 0x18 -> 0x10")));
	assert_false(has_line(r.out, decoy_chain));
	assert_true(ms_count_lines(r.out) < found); /* the rescan cut chains */
	ms_run_free(&r);
	RUN(&r, "pointers", c2.pid_str, "--rescan", kept, "--to", hex(c2.health), "--json");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, hex(c2.health)));
	ms_run_free(&r);
	fx_stop(&c2);
}

/* Asserts that A and B are the same text, naming the first line where they differ. */
static void assert_same_lines(const char *a, const char *b)
{
	size_t line = 1, i = 0;

	for (; a[i] && a[i] == b[i]; i++)
		line += a[i] == '\n';
	if (a[i] == b[i])
		return;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	fail_msg("line %zu differs:\n%.200s\nvs\n%.200s", line, a + i, b + i);
}

static void test_snapshot_gives_same_chains(void **state)
{
	const char *snap = ms_scratch_path("chains.snap");
	struct chains_fx c;
	char expect[64];
	ms_run live, file;

	(void)state;
	fx_start(&c, 1);
	RUN(&live, "snapshot", c.pid_str, "-o", snap);
	assert_int_equal(live.status, 0);
	ms_run_free(&live);
	RUN(&live, "pointers", c.pid_str, "--to", hex(c.health), "--json");
	RUN(&file, "pointers", snap, "--to", hex(c.health), "--json");
	assert_int_equal(live.status, 0);
	assert_int_equal(file.status, 0);
	assert_true(ms_count_lines(live.out) >= 3);
	assert_same_lines(live.out, file.out);
	ms_run_free(&live);
	ms_run_free(&file);
	RUN(&file, "resolve", snap, chain_text(&c, c.bss, "->0x18->0x10"), "--type", "i32");
	snprintf(expect, sizeof(expect), "0x%" PRIx64 "  i32  100\n", c.health);
	assert_int_equal(file.status, 0);
	assert_string_equal(file.out, expect);
	ms_run_free(&file);
	fx_stop(&c);
}

static void expect_status(int status, const char *err_part, const char *const *argv)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, argv), 0);
	if (r.status != status || !strstr(r.err, err_part))
		fail_msg("%s %s: exit %d (want %d), stderr: %s", argv[0], argv[1], r.status, status, r.err);
	assert_string_equal(r.out, "");
	ms_run_free(&r);
}

#define EXPECT(status, err_part, ...)                                                                        \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		expect_status((status), (err_part), argv_);                                                  \
	} while (0)

static void test_errors(void **state)
{
	const char *bad = ms_scratch_path("bad.snap"), *none = ms_scratch_path("none");
	struct chains_fx c;
	const char *h;

	(void)state;
	fx_start(&c, 0);
	h = hex(c.health);
	EXPECT(2, "--depth", "pointers", c.pid_str, "--to", h, "--depth", "0");
	EXPECT(2, "--depth", "pointers", c.pid_str, "--to", h, "--depth", "9");
	EXPECT(2, "--to", "pointers", c.pid_str);
	EXPECT(2, "not mapped", "pointers", c.pid_str, "--to", "0x10");
	EXPECT(2, "--bases", "pointers", c.pid_str, "--to", h, "--bases", "some");
	EXPECT(2, "unknown option", "pointers", c.pid_str, "--to", h, "--frobnicate");
	EXPECT(2, "neither a PID nor a snapshot", "pointers", none, "--to", h);
	EXPECT(2, "--rescan", "pointers", c.pid_str, "--rescan", none, "--to", h, "--depth", "2");
	EXPECT(1, "cannot load chains", "pointers", c.pid_str, "--rescan", none, "--to", h);
	EXPECT(2, "not mapped", "pointers", c.pid_str, "--rescan", none, "--to", "0x10");
	EXPECT(2, "invalid chain", "resolve", c.pid_str, "memscan-chains");
	EXPECT(2, "invalid chain", "resolve", c.pid_str, "memscan-chains+0x10 -> 0x8 ->");
	EXPECT(2, "invalid chain", "resolve", c.pid_str, "a+0 ->1 ->2 ->3 ->4 ->5 ->6 ->7 ->8 ->9");
	EXPECT(2, "--type", "resolve", c.pid_str, "memscan-chains+0x10 -> 0x8", "--type", "i33");
	EXPECT(1, "not mapped", "resolve", c.pid_str, "nosuch.so+0x10 -> 0x8");
	EXPECT(1, "no process", "resolve", "999999999", "memscan-chains+0x10 -> 0x8");
	ms_write_str(bad, "not a snapshot", 0600);
	EXPECT(1, "cannot load snapshot", "pointers", bad, "--to", h);
	EXPECT(1, "cannot load snapshot", "resolve", bad, "memscan-chains+0x10 -> 0x8");
	fx_stop(&c);
}

/* Runs ARGV locally and, with "remote" before it, TARGET for its source and --identity KEY after it,
 * through the agent; both must exit STATUS and print the same. */
static void same_remote(int status, const char *target, const char *key, const char *const *argv, size_t argc)
{
	const char *remote[24];
	ms_run l, r;

	assert_true(argc < 20);
	remote[0] = "remote";
	for (size_t i = 0; i < argc; i++)
		remote[i + 1] = i == 1 ? target : argv[i];
	remote[argc + 1] = "--identity";
	remote[argc + 2] = key;
	remote[argc + 3] = NULL;
	assert_int_equal(ms_run_cli(&l, (const char *const *)argv), 0);
	assert_int_equal(ms_run_cli(&r, remote), 0);
	if (l.status != status || r.status != status)
		fail_msg("%s: local exit %d, remote exit %d (want %d): %s / %s", argv[0], l.status, r.status,
		         status, l.err, r.err);
	assert_same_lines(l.out, r.out);
	ms_run_free(&l);
	ms_run_free(&r);
}

#define SAME_REMOTE(status, target, key, ...)                                                                \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		same_remote((status), (target), (key), argv_, sizeof(argv_) / sizeof(argv_[0]) - 1);         \
	} while (0)

/* Through a real agent: searches, rescans and resolves run there and print what they print locally;
 * the agent's refusals. */
static void test_remote_pointers(void **state)
{
	const char *paths = ms_scratch_path("remote.ptrs"), *kept_l = ms_scratch_path("kl.ptrs"),
	           *kept_r = ms_scratch_path("kr.ptrs");
	char hostport[64], target[80], pub[4300], cfg[256], data_chain[128], decoy_chain[128];
	struct chains_fx c, c2;
	ms_agent env;
	ms_run r;

	(void)state;
	assert_int_equal(ms_agent_init(&env), 0);
	assert_int_equal(ms_agent_start(&env, NULL), 0);
	snprintf(cfg, sizeof(cfg), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", cfg, 1); /* the CLI's known_agents: a fresh one */
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	RUN(&r, "trust", hostport, pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	fx_start(&c, 1);
	snprintf(target, sizeof(target), "%s:%d", hostport, (int)c.pid);
	snprintf(data_chain, sizeof(data_chain), "%s", chain_text(&c, c.data, " -> 0x18 -> 0x10"));
	snprintf(decoy_chain, sizeof(decoy_chain), "%s", chain_text(&c, c.decoy, " -> 0x10"));
	SAME_REMOTE(0, target, env.full.path, "pointers", c.pid_str, "--to", hex(c.health), "--json",
	            "--negative");
	RUN(&r, "remote", "pointers", target, "--to", hex(c.health), "--depth", "2", "--max", "2",
	    "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 2);
	ms_run_free(&r);
	RUN(&r, "remote", "pointers", target, "--to", hex(c.health), "-o", paths, "--identity",
	    env.full.path);
	assert_int_equal(r.status, 0);
	assert_true(has_line(r.out, decoy_chain));
	ms_run_free(&r);
	EXPECT(2, "not mapped", "remote", "pointers", target, "--to", "0x10", "--identity", env.full.path);
	EXPECT(1, "scan", "remote", "pointers", target, "--to", hex(c.health), "--identity",
	       env.listonly.path);
	EXPECT(2, "--identity", "pointers", c.pid_str, "--to", hex(c.health), "--identity", env.full.path);
	fx_stop(&c);

	fx_start(&c2, 0); /* a restart: the rescan and resolve on the agent match the local ones */
	snprintf(target, sizeof(target), "%s:%d", hostport, (int)c2.pid);
	SAME_REMOTE(0, target, env.full.path, "pointers", c2.pid_str, "--rescan", paths, "--to",
	            hex(c2.health), "-o", kept_l);
	RUN(&r, "remote", "pointers", target, "--rescan", paths, "--to", hex(c2.health), "-o", kept_r,
	    "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_true(has_line(r.out, data_chain));
	assert_false(has_line(r.out, decoy_chain));
	ms_run_free(&r);
	ms_assert_files_equal(kept_l, kept_r);
	SAME_REMOTE(0, target, env.full.path, "resolve", c2.pid_str, data_chain, "--type", "i32");
	SAME_REMOTE(1, target, env.full.path, "resolve", c2.pid_str, decoy_chain);
	EXPECT(1, "breaks at step 1", "remote", "resolve", target, decoy_chain, "--identity", env.full.path);
	EXPECT(1, "not mapped", "remote", "resolve", target, "nosuch.so+0x10 -> 0x8", "--identity",
	       env.full.path);
	fx_stop(&c2);
	ms_agent_cleanup(&env);
	ms_tmpdir_remove(cfg);
	unsetenv("XDG_CONFIG_HOME");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointers_finds_static_chains),
		cmocka_unit_test_setup_teardown(test_chain_survives_restart, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_gives_same_chains, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_errors, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_remote_pointers, ms_scratch_setup, ms_scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
