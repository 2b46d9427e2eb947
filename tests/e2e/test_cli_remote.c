/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan remote ...` and the key commands against a real agent on loopback:
 * remote output equals local output, remote diff and watch, errors, keygen/fingerprint/trust. */
#include "agentutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ms_agent env;
static ms_fixture fx;
static char cfg_dir[4096];
static char hostport[64];    /* 127.0.0.1:PORT */
static char v6_hostport[64]; /* [::1]:PORT */

/* "HOSTPORT:PID" in a static rotating buffer. */
static const char *target(const char *hp, int pid)
{
	static char buf[4][96];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s:%d", hp, pid);
	return buf[slot];
}

static const char *arena_range(void)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + fx.arena_len));
	return buf;
}

/* The agent's next stdout line (its second `listening` line) into LINE. */
static int agent_line(char *line, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(env.out_fd, &line[n], 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	return n ? 0 : -1;
}

static int group_setup(void **state)
{
	const char *args[] = { "--listen", "tcp://[::1]:0", NULL };
	char line[256], pub[4300];
	const char *dir;
	ms_run r;

	(void)state;
	if (ms_fixture_start(&fx, NULL) != 0 || ms_agent_init(&env) != 0 || ms_agent_start(&env, args) != 0)
		return -1;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	if (agent_line(line, sizeof(line)) != 0 || sscanf(line, "listening tcp://%63s", v6_hostport) != 1)
		return -1;
	/* the CLI's default known_agents lives under XDG_CONFIG_HOME: a fresh one for this test */
	dir = ms_tmpdir();
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", dir);
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	for (int i = 0; i < 2; i++) {
		const char *argv[] = { "trust", i ? v6_hostport : hostport, pub, NULL };
		if (ms_run_cli(&r, argv) != 0 || r.status != 0 || !strstr(r.out, "pinned")) {
			ms_run_free(&r);
			return -1;
		}
		ms_run_free(&r);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ms_agent_cleanup(&env);
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(cfg_dir);
	return 0;
}

/* Runs the local command ARGV (PID in argv[1]) and its remote twin; both must succeed and print the
 * same bytes. */
static void same_output(const char **argv, size_t argc)
{
	const char *local[16], *remote[20];
	ms_run l, r;
	size_t i;

	assert_true(argc < 14);
	for (i = 0; i < argc; i++)
		local[i] = argv[i];
	local[argc] = NULL;
	remote[0] = "remote";
	remote[1] = argv[0];
	remote[2] = target(hostport, fx.pid);
	for (i = 2; i < argc; i++)
		remote[i + 1] = argv[i];
	remote[argc + 1] = "--identity";
	remote[argc + 2] = env.full.path;
	remote[argc + 3] = NULL;
	assert_int_equal(ms_run_cli(&l, local), 0);
	assert_int_equal(ms_run_cli(&r, remote), 0);
	if (l.status != 0 || r.status != 0 || l.out_len == 0 || l.out_len != r.out_len ||
	    memcmp(l.out, r.out, l.out_len) != 0)
		fail_msg("'%s' local (exit %d) and remote (exit %d) differ:\n%s\n---\n%s\nstderr: %s",
		         argv[0], l.status, r.status, l.out, r.out, r.err);
	ms_run_free(&l);
	ms_run_free(&r);
}

static void test_remote_output_equals_local(void **state)
{
	const char *pid = ms_fixture_pid_str(&fx);
	char pid_copy[16];

	(void)state;
	snprintf(pid_copy, sizeof(pid_copy), "%s", pid);
	{
		const char *a[] = { "regions", pid_copy, "--range", arena_range() };
		same_output(a, 4);
	}
	{
		const char *a[] = { "regions", pid_copy, "--kind", "anon", "--perms", "rw", "--json" };
		same_output(a, 7);
	}
	{
		const char *a[] = { "read", pid_copy, ms_hex(fx.marker[0]), "48" };
		same_output(a, 4);
	}
	{
		const char *a[] = { "read", pid_copy, ms_hex(fx.holey), "8192", "--json" };
		same_output(a, 5); /* half of it is a hole: reported the same way */
	}
	{
		const char *a[] = { "read", pid_copy, ms_hex(fx.marker[1]), "13", "--raw" };
		same_output(a, 5);
	}
	{
		const char *a[] = { "scan", pid_copy, "--pattern", MS_FIXTURE_MARKER };
		same_output(a, 4);
	}
	{
		const char *a[] = { "scan",   pid_copy,     "--pattern", MS_FIXTURE_STRADDLE,
			            "--json", "--no-memmap" };
		same_output(a, 6); /* the match that straddles two regions */
	}
	{
		const char *a[] = { "scan",    pid_copy, "--pattern", "4D 5A 9? 00",
			            "--align", "16",     "--max",     "1" };
		same_output(a, 8);
	}
}

static void test_remote_snapshot_equals_local(void **state)
{
	char local_path[4200], remote_path[4200];
	ms_run r;

	(void)state;
	snprintf(local_path, sizeof(local_path), "%s/local.snap", cfg_dir);
	snprintf(remote_path, sizeof(remote_path), "%s/remote.snap", cfg_dir);
	RUN(&r, "snapshot", ms_fixture_pid_str(&fx), "-o", local_path, "--range", arena_range());
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "snapshot", target(hostport, fx.pid), "-o", remote_path, "--range", arena_range(),
	    "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "1 regions"));
	ms_run_free(&r);
	RUN(&r, "diff", local_path, remote_path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);
}

/* --compress: the same snapshot file and the same read output as without; refused locally. */
static void test_remote_compress(void **state)
{
	char local_path[4200], remote_path[4200];
	const char *pid = ms_fixture_pid_str(&fx);
	ms_run l, r;

	(void)state;
	snprintf(local_path, sizeof(local_path), "%s/local-z.snap", cfg_dir);
	snprintf(remote_path, sizeof(remote_path), "%s/remote-z.snap", cfg_dir);
	RUN(&r, "snapshot", pid, "-o", local_path, "--range", arena_range());
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "snapshot", target(hostport, fx.pid), "-o", remote_path, "--range", arena_range(),
	    "--compress", "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "diff", local_path, remote_path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "# 0 runs, 0 bytes changed\n");
	ms_run_free(&r);

	RUN(&l, "read", pid, ms_hex(fx.holey), "8192", "--json");
	RUN(&r, "remote", "read", target(hostport, fx.pid), ms_hex(fx.holey), "8192", "--json", "--compress",
	    "--identity", env.full.path);
	assert_int_equal(l.status, 0);
	assert_int_equal(r.status, 0);
	assert_string_equal(l.out, r.out);
	ms_run_free(&l);
	ms_run_free(&r);

	RUN(&r, "snapshot", pid, "-o", local_path, "--compress");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--compress"));
	ms_run_free(&r);
	RUN(&r, "diff", pid, "--interval", "10ms", "--compress");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--compress"));
	ms_run_free(&r);
	RUN(&r, "remote", "scan", target(hostport, fx.pid), "--pattern", "4D", "--compress", "--identity",
	    env.full.path);
	assert_int_equal(r.status, 2);
	ms_run_free(&r);
	RUN(&r, "remote", "--help");
	assert_non_null(strstr(r.out, "--compress"));
	ms_run_free(&r);
}

static void test_remote_diff_and_watch(void **state)
{
	ms_fixture tick;
	ms_run r;

	(void)state;
	{
		const char *args[] = { "--tick-ms", "40", NULL };
		assert_int_equal(ms_fixture_start(&tick, args), 0);
	}
	/* the counter changes during the interval: its address shows in the runs */
	RUN(&r, "remote", "diff", target(hostport, tick.pid), "--interval", "300ms", "--json", "--range",
	    ms_hex(tick.arena), "--identity", env.full.path);
	/* --range wants START-END: a lone address is a usage error, and nothing reaches the agent */
	assert_int_equal(r.status, 2);
	assert_int_equal(r.out_len, 0);
	ms_run_free(&r);
	{
		char range[64];
		snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)tick.arena,
		         (unsigned long long)(tick.arena + tick.arena_len));
		RUN(&r, "remote", "diff", target(hostport, tick.pid), "--interval", "300ms", "--json",
		    "--range", range, "--identity", env.full.path);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, ms_hex(tick.counter)));
		ms_run_free(&r);
		/* watching over IPv6: three batches, each timestamped, each with the counter */
		RUN(&r, "remote", "diff", target(v6_hostport, tick.pid), "--watch", "--interval", "200ms",
		    "--count", "3", "--range", range, "--identity", env.full.path);
		assert_int_equal(r.status, 0);
		assert_int_equal(ms_count_lines(r.out), 6);
		assert_non_null(strstr(r.out, "# 20"));
		ms_run_free(&r);
		/* ... and compressed: the same batches */
		RUN(&r, "remote", "diff", target(hostport, tick.pid), "--watch", "--interval", "200ms",
		    "--count", "2", "--compress", "--range", range, "--identity", env.full.path);
		assert_int_equal(r.status, 0);
		assert_int_equal(ms_count_lines(r.out), 4);
		assert_non_null(strstr(r.out, ms_hex(tick.counter)));
		ms_run_free(&r);
	}
	ms_fixture_stop(&tick);
}

/* Runs ARGS (remote, with the given identity appended) and expects EXIT, empty stdout and NEEDLE in
 * stderr. */
static void remote_fails(int exit_code, const char *needle, const char *const *args)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, args), 0);
	if (r.status != exit_code || r.out_len != 0 || !strstr(r.err, needle))
		fail_msg("expected exit %d and '%s', got exit %d, stdout '%s', stderr '%s'", exit_code,
		         needle, r.status, r.out, r.err);
	ms_run_free(&r);
}

static void test_remote_errors(void **state)
{
	char bad_port[64];

	(void)state;
	snprintf(bad_port, sizeof(bad_port), "127.0.0.1:1:%d", fx.pid);
	{
		const char *a[] = { "remote", "regions", "127.0.0.1:", "--identity", env.full.path, NULL };
		remote_fails(2, "invalid target", a);
	}
	{
		const char *a[] = { "remote", "regions", "::1:7777:5", "--identity", env.full.path, NULL };
		remote_fails(2, "invalid target", a);
	}
	{
		const char *a[] = { "remote", "frobnicate", "x", NULL };
		remote_fails(2, "unknown remote command", a);
	}
	{
		const char *a[] = { "remote", "diff", "a.snap", "b.snap", NULL };
		remote_fails(2, "one TARGET", a);
	}
	{
		/* no agent key pinned for that address: refused before anything is sent */
		const char *a[] = { "remote", "regions", bad_port, "--identity", env.full.path, NULL };
		remote_fails(1, "trust", a);
	}
	{
		/* a key the agent does not know */
		const char *a[] = { "remote",     "regions",         target(hostport, fx.pid),
			            "--identity", env.stranger.path, NULL };
		remote_fails(1, "not authorized", a);
	}
	{
		/* a key allowed to list, not to read */
		const char *a[] = { "remote", "read",       target(hostport, fx.pid), ms_hex(fx.marker[0]),
			            "4",      "--identity", env.listonly.path,        NULL };
		remote_fails(1, "read", a);
	}
	{
		const char *a[] = { "remote",     "regions",     target(hostport, ms_reaped_pid()),
			            "--identity", env.full.path, NULL };
		remote_fails(1, "no process", a);
	}
	{
		const char *a[] = { "remote", "scan", target(hostport, fx.pid), "--pattern", "4G", NULL };
		remote_fails(2, "malformed pattern", a);
	}
	{
		const char *a[] = { "remote",     "regions",          target(hostport, fx.pid),
			            "--identity", "/nonexistent/key", NULL };
		remote_fails(1, "/nonexistent/key", a);
	}
	{
		/* the agent itself: refused to every key, so no word about this key's grant */
		const char *a[] = { "remote",     "regions",     target(hostport, env.pid),
			            "--identity", env.full.path, NULL };
		ms_run r;

		remote_fails(1, "is the agent itself", a);
		assert_int_equal(ms_run_cli(&r, a), 0);
		assert_null(strstr(r.err, "authorized_keys"));
		ms_run_free(&r);
	}
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

static void test_keys_commands(void **state)
{
	char key[4200], pub[4300], fp[128] = "";
	struct stat st;
	ms_run r;

	(void)state;
	snprintf(key, sizeof(key), "%s/id_test", cfg_dir);
	snprintf(pub, sizeof(pub), "%s.pub", key);
	RUN(&r, "keygen", "-f", key, "-C", "tester");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "fingerprint SHA256:"));
	sscanf(strstr(r.out, "fingerprint ") + 12, "%127s", fp);
	ms_run_free(&r);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* never overwritten */
	RUN(&r, "keygen", "-f", key);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.out_len, 0);
	ms_run_free(&r);
	/* a missing directory is created, 0700 (libclient does it, not the CLI) */
	snprintf(pub, sizeof(pub), "%s/keys/sub/id", cfg_dir);
	RUN(&r, "keygen", "-f", pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	assert_int_equal(stat(pub, &st), 0);
	snprintf(pub, sizeof(pub), "%s/keys/sub", cfg_dir);
	assert_int_equal(stat(pub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(pub, sizeof(pub), "%s.pub", key);
	/* the fingerprint of the .pub and of the private file agree with keygen's */
	RUN(&r, "fingerprint", pub);
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.out, fp, strlen(fp)) == 0);
	ms_run_free(&r);
	RUN(&r, "fingerprint", key);
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.out, fp, strlen(fp)) == 0);
	ms_run_free(&r);
	/* a private key others may read is refused */
	assert_int_equal(chmod(key, 0644), 0);
	RUN(&r, "fingerprint", key);
	assert_int_equal(r.status, 1);
	ms_run_free(&r);
	RUN(&r, "trust", "10.1.2.3:7777", "memscan-x25519 notbase64");
	assert_int_equal(r.status, 2);
	assert_int_equal(r.out_len, 0);
	ms_run_free(&r);
	RUN(&r, "trust", "10.1.2.3:7777", pub);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, fp));
	ms_run_free(&r);
}

/* A key limited to uids 1000-1999 may not touch the fixture (run by this test's uid, outside it). */
static void test_remote_uid_limit(void **state)
{
	char line[200], auth[512];
	ms_run r;

	(void)state;
	if (getuid() >= 1000 && getuid() <= 1999)
		skip();
	keyfile_format_public(env.full.pub, line, sizeof(line));
	snprintf(auth, sizeof(auth), "perms=list,read,scan uids=1000-1999 %s limited\n", line);
	assert_int_equal(ms_agent_write_auth_text(&env, auth), 0);
	kill(env.pid, SIGHUP);
	assert_true(ms_agent_wait_err(&env, "reload", 3000));
	RUN(&r, "remote", "read", target(hostport, fx.pid), ms_hex(fx.marker[0]), "4", "--identity",
	    env.full.path);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.out_len, 0);
	ms_run_free(&r);
	assert_int_equal(ms_agent_write_auth(&env, 1, 1), 0);
	kill(env.pid, SIGHUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_output_equals_local),
		cmocka_unit_test(test_remote_snapshot_equals_local),
		cmocka_unit_test(test_remote_compress),
		cmocka_unit_test(test_remote_diff_and_watch),
		cmocka_unit_test(test_remote_errors),
		cmocka_unit_test(test_keys_commands),
		cmocka_unit_test(test_remote_uid_limit),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
