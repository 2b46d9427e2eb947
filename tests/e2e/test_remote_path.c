/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the remote user's path, against a real agent on 127.0.0.1 and on an ipc://
 * socket in a scratch directory: pinning (refused replacement, pins found by address), the words of
 * transport errors, ipc:// targets, and `memscan remote CMD --help`. */
#include "agentutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ms_agent env;
static ms_fixture fx;
static char cfg_dir[4096], sock_dir[4096];
static char ipc_url[4200];   /* ipc://SOCK_DIR/agent.sock */
static char hostport[64];    /* 127.0.0.1:PORT */
static char agent_pub[4300]; /* the agent's .pub file */

/* "A:B" in a static rotating buffer. */
static const char *join(const char *a, const char *b)
{
	static char buf[4][4300];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s:%s", a, b);
	return buf[slot];
}

/* Runs ARGV; asserts exit EXIT and NEEDLE in stderr (NULL: anything), and that AVOID (if not NULL)
 * is not in it. */
static void expect_run(const char *const *argv, int exit_code, const char *needle, const char *avoid)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, argv), 0);
	if (r.status != exit_code || (needle && !strstr(r.err, needle)) || (avoid && strstr(r.err, avoid)))
		fail_msg("%s %s: expected exit %d with '%s'%s%s in stderr, got exit %d:\n%s", argv[0],
		         argv[1], exit_code, needle ? needle : "", avoid ? " and without " : "",
		         avoid ? avoid : "", r.status, r.err);
	ms_run_free(&r);
}

/* The fingerprint of key file PATH, as `memscan fingerprint` prints it. */
static const char *fingerprint_of(const char *path)
{
	static char fp[128];
	ms_run r;

	RUN(&r, "fingerprint", path);
	assert_int_equal(r.status, 0);
	assert_int_equal(sscanf(r.out, "%127s", fp), 1);
	ms_run_free(&r);
	return fp;
}

/* A TCP port on 127.0.0.1 nobody listens on (bound, then released). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether "localhost" resolves to 127.0.0.1 first (nng dials the first address). */
static int localhost_is_v4(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int v4;

	if (getaddrinfo("localhost", "7777", &hints, &ai) != 0)
		return 0;
	v4 = ai->ai_family == AF_INET &&
	     ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	freeaddrinfo(ai);
	return v4;
}

/* Whether nothing listens on 127.0.0.1:PORT (a bind succeeds). */
static int port_unused(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons((uint16_t)port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The agent's address and .pub file, known once the suite started it. */
static void names(void)
{
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	snprintf(agent_pub, sizeof(agent_pub), "%s.pub", env.agent.path);
}

static void trust_agent(const char *where)
{
	const char *a[] = { "trust", where, agent_pub, NULL };

	expect_run(a, 0, NULL, NULL);
}

/* A different key is never pinned over the agent's without --replace; the same key again is fine. */
static void test_trust_refuses_replacement(void **state)
{
	char other_pub[4300], agent_fp[128];
	ms_run r;

	(void)state;
	names();
	snprintf(other_pub, sizeof(other_pub), "%s.pub", env.full.path);
	snprintf(agent_fp, sizeof(agent_fp), "%s", fingerprint_of(agent_pub));
	trust_agent(hostport);
	RUN(&r, "trust", hostport, agent_pub);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, agent_fp));
	ms_run_free(&r);
	{
		const char *a[] = { "trust", hostport, other_pub, NULL };
		expect_run(a, 1, agent_fp, NULL);
		expect_run(a, 1, fingerprint_of(other_pub), NULL);
		expect_run(a, 1, "--replace", NULL);
	}
	/* still the agent's key: it still connects */
	{
		const char *a[] = { "remote", "ps", hostport, "--identity", env.full.path, NULL };
		expect_run(a, 0, NULL, NULL);
	}
	RUN(&r, "trust", "--replace", hostport, other_pub);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, fingerprint_of(other_pub)));
	ms_run_free(&r);
	RUN(&r, "trust", hostport, "--replace", agent_pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
}

/* A pin for 127.0.0.1:PORT serves localhost:PORT; a pin by name only is not found by address, and
 * the error says so. */
static void test_pin_found_by_address(void **state)
{
	char port[16], other_cfg[4200];

	(void)state;
	names();
	trust_agent(hostport);
	snprintf(port, sizeof(port), "%d", ms_agent_port(&env));
	if (localhost_is_v4()) { /* else the agent, on 127.0.0.1 only, is not where localhost leads */
		const char *a[] = {
			"remote", "ps", join("localhost", port), "--identity", env.full.path, NULL
		};
		expect_run(a, 0, NULL, NULL);
	} else {
		print_message("localhost does not resolve to 127.0.0.1 first: its connection is not tried\n");
	}
	snprintf(other_cfg, sizeof(other_cfg), "%s/by-name", cfg_dir);
	setenv("XDG_CONFIG_HOME", other_cfg, 1);
	trust_agent(join("localhost", port));
	{
		const char *a[] = { "remote", "ps", hostport, "--identity", env.full.path, NULL };
		expect_run(a, 1, "a pin made for a host name is not found when connecting by address", NULL);
	}
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
}

/* No pin: the error prints the command to run and where the agent's .pub file is. */
static void test_no_pin_says_what_to_run(void **state)
{
	char cmd[200], empty_cfg[4200];

	(void)state;
	names();
	snprintf(empty_cfg, sizeof(empty_cfg), "%s/empty", cfg_dir);
	setenv("XDG_CONFIG_HOME", empty_cfg, 1);
	snprintf(cmd, sizeof(cmd), "memscan trust %s /etc/memscan/agent.key.pub", hostport);
	{
		const char *a[] = { "remote",     "regions",     join(hostport, ms_fixture_pid_str(&fx)),
			            "--identity", env.full.path, NULL };
		expect_run(a, 1, cmd, NULL);
		expect_run(a, 1, "next to the agent's key", NULL);
		expect_run(a, 1, "first log line", NULL);
	}
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
}

/* Every remote command on TARGET ipc:///PATH:PID, and trust/ps on ipc:///PATH. */
static void test_ipc_targets(void **state)
{
	const char *t;
	char snap[4200], range[64];
	ms_run l, r;

	(void)state;
	names();
	t = join(ipc_url, ms_fixture_pid_str(&fx));
	trust_agent(ipc_url);
	snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)fx.arena,
	         (unsigned long long)(fx.arena + fx.arena_len));
	RUN(&r, "remote", "ps", ipc_url, "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "CMDLINE"));
	ms_run_free(&r);
	RUN(&l, "regions", ms_fixture_pid_str(&fx), "--range", range);
	RUN(&r, "remote", "regions", t, "--range", range, "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_string_equal(l.out, r.out);
	ms_run_free(&l);
	ms_run_free(&r);
	RUN(&r, "remote", "read", t, ms_hex(fx.marker[0]), "13", "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "4d5a 9000"));
	ms_run_free(&r);
	RUN(&r, "remote", "scan", t, "--pattern", MS_FIXTURE_MARKER, "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_int_equal(ms_count_lines(r.out), 3);
	ms_run_free(&r);
	snprintf(snap, sizeof(snap), "%s/ipc.snap", cfg_dir);
	RUN(&r, "remote", "snapshot", t, "-o", snap, "--range", range, "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "diff", t, "--interval", "10ms", "--range", range, "--identity", env.full.path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "# 0 runs"));
	ms_run_free(&r);
	{
		const char *a[] = { "remote", "regions", "ipc://:5", NULL };
		expect_run(a, 2, "ipc:///PATH:PID", NULL);
	}
}

static void test_transport_errors(void **state)
{
	char port[16], refused[64], words[160], hint[160];
	int p = free_port();

	(void)state;
	names();
	assert_true(p > 0);
	snprintf(refused, sizeof(refused), "127.0.0.1:%d", p);
	trust_agent(refused);
	snprintf(words, sizeof(words), "connection refused: is memscan-agent running on %s?", refused);
	{
		const char *a[] = { "remote",     "regions",     join(refused, ms_fixture_pid_str(&fx)),
			            "--identity", env.full.path, NULL };
		expect_run(a, 1, words, "if ");
	}
	/* an unresolvable host is reported as such, not as one without a pin */
	{
		const char *a[] = {
			"remote",     "regions",     join("no-such-host.invalid", ms_fixture_pid_str(&fx)),
			"--identity", env.full.path, NULL
		};
		expect_run(a, 1, "cannot resolve no-such-host.invalid", "no key");
	}
	/* HOST:N tries the default port; N may have been meant as one */
	if (port_unused(7777)) {
		snprintf(port, sizeof(port), "%d", ms_agent_port(&env));
		snprintf(hint, sizeof(hint), "if %s is a port, write %s:PID", port, hostport);
		trust_agent("127.0.0.1:7777");
		{
			const char *a[] = {
				"remote", "regions", hostport, "--identity", env.full.path, NULL
			};
			expect_run(a, 1, hint, NULL);
		}
	}
	/* the agent's --listen without a transport */
	{
		const char *args[] = { "--listen", "127.0.0.1:7777", NULL };
		ms_agent bad;

		assert_int_equal(ms_agent_init(&bad), 0);
		assert_int_not_equal(ms_agent_start(&bad, args), 0);
		assert_int_equal(ms_agent_wait(&bad, 10000), 2);
		assert_true(ms_agent_err_has(&bad, "tcp://127.0.0.1:7777"));
		ms_agent_stop(&bad);
		ms_agent_cleanup(&bad);
	}
}

/* The agent's .pub line without its comment ("memscan-x25519 BASE64"). */
static const char *agent_key_line(void)
{
	static char line[128];
	const char *text = ms_slurp(agent_pub);

	assert_int_equal(sscanf(text, "memscan-x25519 %100s", line + 15), 1);
	memcpy(line, "memscan-x25519 ", 15);
	return line;
}

/* `memscan keyscan` prints the agent's key line and fingerprint; its output pins the agent through
 * `memscan trust HOST:PORT -`; the agent audits it. */
static void test_keyscan(void **state)
{
	char expect[256], empty_cfg[4200], *err = NULL;
	const char *where[] = { hostport, ipc_url };
	ms_session sess;
	ms_run r;

	(void)state;
	names();
	for (size_t i = 0; i < 2; i++) {
		RUN(&r, "keyscan", where[i]);
		assert_int_equal(r.status, 0);
		snprintf(expect, sizeof(expect), "%s %s\n", agent_key_line(), where[i]);
		assert_string_equal(r.out, expect);
		assert_non_null(strstr(r.err, env.fp));
		assert_non_null(strstr(r.err, "not authenticated"));
		ms_run_free(&r);
	}
	assert_int_equal(ms_agent_wait_err(&env, "keyscan peer=", 5000), 1);
	/* piped into trust: a fresh known_agents gets the agent's key, and remote ps works */
	snprintf(empty_cfg, sizeof(empty_cfg), "%s/from-keyscan", cfg_dir);
	setenv("XDG_CONFIG_HOME", empty_cfg, 1);
	{
		const char *a[] = { "trust", hostport, "-", NULL };
		assert_int_equal(ms_session_start(&sess, a), 0);
		ms_session_send(&sess, "%s %s", agent_key_line(), hostport);
		assert_int_equal(ms_session_end(&sess, &err), 0);
		free(err);
	}
	{
		const char *a[] = { "remote", "ps", hostport, "--identity", env.full.path, NULL };
		expect_run(a, 0, NULL, NULL);
	}
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
}

/* On the wire: the answer is the header and the key; the pipe then serves nothing else, not even a
 * second keyscan or a handshake of an authorized key; beyond the rate, pipes are closed. */
static void test_keyscan_wire(void **state)
{
	uint8_t req[CHAN_KEYSCAN_LEN], hs1[CHAN_HS1_LEN], *frame = NULL, pub[NOISE_KEY_LEN];
	size_t len = 0, answered = 0;
	noise_hs *hs = NULL;
	ms_tcp_peer t;

	(void)state;
	chan_keyscan_request(req);
	assert_int_equal(ms_peer_tcp_open(&t, &env, 3000), 0);
	assert_int_equal(ms_peer_tcp_send(&t, req, sizeof(req)), 0);
	assert_int_equal(ms_peer_tcp_recv(&t, &frame, &len), 1);
	assert_int_equal(chan_agent_key_read(frame, len, pub), 0);
	assert_memory_equal(pub, env.agent.pub, NOISE_KEY_LEN);
	free(frame);
	assert_int_equal(ms_peer_make_hs1(env.full.priv, env.agent.pub, NULL, hs1, &hs), 0);
	noise_hs_free(hs);
	assert_int_equal(ms_peer_tcp_send(&t, hs1, sizeof(hs1)), 0);
	assert_true(ms_peer_tcp_closed(&t));
	ms_peer_tcp_close(&t);
	assert_int_equal(ms_agent_wait_err(&env, "reason=after-keyscan", 5000), 1);
	/* a burst of keyscans: at most AGENT_KEYSCAN_PER_SEC (16) a second are answered, so some of 48
	 * made within three seconds are refused */
	for (int i = 0; i < 48; i++) {
		assert_int_equal(ms_peer_tcp_open(&t, &env, 3000), 0);
		assert_int_equal(ms_peer_tcp_send(&t, req, sizeof(req)), 0);
		if (ms_peer_tcp_recv(&t, &frame, &len) == 1)
			answered++;
		free(frame);
		frame = NULL;
		ms_peer_tcp_close(&t);
	}
	assert_true(answered >= 1 && answered < 48);
	assert_int_equal(ms_agent_wait_err(&env, "reason=keyscan-rate", 5000), 1);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

/* An agent started with --no-keyscan closes the connection, and the CLI says what to do instead. */
static void test_keyscan_off(void **state)
{
	const char *args[] = { "--no-keyscan", NULL };
	char where[64];
	ms_agent quiet;

	(void)state;
	assert_int_equal(ms_agent_init(&quiet), 0);
	assert_int_equal(ms_agent_start(&quiet, args), 0);
	snprintf(where, sizeof(where), "127.0.0.1:%d", ms_agent_port(&quiet));
	{
		const char *a[] = { "keyscan", where, NULL };
		expect_run(a, 1, "copy its .pub file", NULL);
	}
	assert_int_equal(ms_agent_wait_err(&quiet, "reason=keyscan-disabled", 5000), 1);
	assert_int_equal(ms_agent_finish(&quiet), 0);
}

/* `memscan remote CMD --help` shows the remote synopsis and options, not the local ones. */
static void test_remote_help(void **state)
{
	ms_run r;

	(void)state;
	names();
	RUN(&r, "remote", "regions", "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: memscan remote regions TARGET [FILTERS]"));
	assert_non_null(strstr(r.out, "--identity FILE"));
	assert_non_null(strstr(r.out, "ipc:///PATH:PID"));
	assert_non_null(strstr(r.out, "--range START-END"));
	assert_null(strstr(r.out, "memscan regions PID"));
	ms_run_free(&r);
	RUN(&r, "remote", "diff", "--help");
	assert_non_null(strstr(r.out, "usage: memscan remote diff TARGET [--interval"));
	assert_null(strstr(r.out, "FILE_A FILE_B ["));
	ms_run_free(&r);
	RUN(&r, "remote", "ps", "--help");
	assert_non_null(strstr(r.out, "usage: memscan remote ps HOST[:PORT] [NAME]"));
	ms_run_free(&r);
	/* a command whose forms all take a set file keeps them; SOURCE (a PID or a file) is TARGET */
	RUN(&r, "remote", "narrow", "--help");
	assert_non_null(strstr(r.out, "usage: memscan remote narrow SET PREDICATE"));
	ms_run_free(&r);
	RUN(&r, "remote", "resolve", "--help");
	assert_non_null(strstr(r.out, "usage: memscan remote resolve TARGET CHAIN"));
	ms_run_free(&r);
	/* usage errors point to the remote help */
	{
		const char *a[] = { "remote", "regions", "h:1", "--frob", NULL };
		expect_run(a, 2, "see 'memscan remote regions --help'", NULL);
	}
	{
		const char *a[] = { "remote", "read", NULL };
		expect_run(a, 2, "see 'memscan remote read --help'", NULL);
	}
	/* the local help is unchanged */
	RUN(&r, "regions", "--help");
	assert_non_null(strstr(r.out, "usage: memscan regions PID"));
	assert_null(strstr(r.out, "--identity"));
	ms_run_free(&r);
}

int main(void)
{
	const char *args[] = { "--listen", ipc_url, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trust_refuses_replacement),
		cmocka_unit_test(test_pin_found_by_address),
		cmocka_unit_test(test_no_pin_says_what_to_run),
		cmocka_unit_test(test_ipc_targets),
		cmocka_unit_test(test_transport_errors),
		cmocka_unit_test(test_remote_help),
		cmocka_unit_test(test_keyscan),
		cmocka_unit_test(test_keyscan_wire),
		cmocka_unit_test(test_keyscan_off),
	};
	int rc;

	snprintf(cfg_dir, sizeof(cfg_dir), "%s", ms_tmpdir());
	snprintf(sock_dir, sizeof(sock_dir), "%s", ms_tmpdir());
	snprintf(ipc_url, sizeof(ipc_url), "ipc://%s/agent.sock", sock_dir);
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
	rc = ms_agent_run_suite("remote_path", &env, &fx, args, tests, sizeof(tests) / sizeof(tests[0]));
	ms_tmpdir_remove(cfg_dir);
	ms_tmpdir_remove(sock_dir);
	return rc;
}
