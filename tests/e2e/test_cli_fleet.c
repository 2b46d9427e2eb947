/* SPDX-License-Identifier: MIT */
/* End-to-end tests of fleets: `memscan remote CMD @HOSTS` over three real agents on loopback (one line
 * labelled per host, "host" in --json, a member down reported with its host, the progress line on a
 * terminal), pattern pins in known_agents, and memscan_client_set_agent_name. */
#include "agentutil.h"
#include "ttyutil.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <memscan/client.h>

#define NAGENTS 3

static ms_agent env[NAGENTS], dns[2]; /* dns: agent 0's port on 127.0.0.2 and 127.0.0.3 */
static ms_fixture fx;
static char cfg_dir[4096], hosts[4200], hosts_down[4200], known[4200];
/* the hosts file's names: localhost:P0 (a pattern pin), 127.0.0.1:Pi */
static char host[NAGENTS][32];
static const void *seen_base; /* the members list_member's ctx indexes by */

static int trust(const char *name, const char *pub)
{
	const char *argv[] = { "trust", name, pub, NULL };
	ms_run r;
	int ok = ms_run_cli(&r, argv) == 0 && r.status == 0;

	ms_run_free(&r);
	return ok ? 0 : -1;
}

/* Agent A with agent 0's key and authorized_keys (EXTRA: more arguments, or NULL). */
static int start_like_first(ms_agent *a, const char *const *extra)
{
	char *auth;
	int rc;

	if (a != &env[0] && ms_agent_init(a) != 0)
		return -1;
	if (a == &env[0])
		return ms_agent_start(a, extra);
	auth = strdup(ms_slurp(env[0].auth_path));
	a->agent = env[0].agent;
	rc = auth && ms_agent_write_auth_text(a, auth) == 0 ? ms_agent_start(a, extra) : -1;
	free(auth);
	return rc;
}

/* Three agents sharing agent 0's key and authorized_keys, each on its own port. */
static int start_agents(void)
{
	if (ms_agent_init(&env[0]) != 0)
		return -1;
	for (int i = 0; i < NAGENTS; i++) {
		if (start_like_first(&env[i], NULL) != 0)
			return -1;
		snprintf(host[i], sizeof(host[i]), "%s:%d", i ? "127.0.0.1" : "localhost",
		         ms_agent_port(&env[i]));
	}
	return 0;
}

static int group_setup(void **state)
{
	char pub[4300], pattern[64], text[512];

	(void)state;
	if (ms_fixture_start(&fx, NULL) != 0 || start_agents() != 0)
		return -1;
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
	snprintf(known, sizeof(known), "%s/memscan/known_agents", cfg_dir);
	snprintf(pub, sizeof(pub), "%s.pub", env[0].agent.path);
	/* localhost:P0 is covered by a pattern only; port 1 has no agent (the member that is down) */
	snprintf(pattern, sizeof(pattern), "local*:%d", ms_agent_port(&env[0]));
	if (trust(pattern, pub) || trust(host[1], pub) || trust(host[2], pub) || trust("127.0.0.1:1", pub))
		return -1;
	snprintf(hosts, sizeof(hosts), "%s/hosts.txt", cfg_dir);
	snprintf(text, sizeof(text), "# the fleet\n%s\n  %s\n\n%s   # third\n", host[0], host[1], host[2]);
	ms_write_str(hosts, text, 0600);
	snprintf(hosts_down, sizeof(hosts_down), "%s/down.txt", cfg_dir);
	snprintf(text, sizeof(text), "%s\n127.0.0.1:1\n%s\n%s\n", host[0], host[1], host[2]);
	ms_write_str(hosts_down, text, 0600);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		ms_agent_stop(&dns[i]);
		if (dns[i].dir[0])
			ms_agent_cleanup(&dns[i]);
	}
	for (int i = NAGENTS - 1; i >= 0; i--) {
		ms_agent_stop(&env[i]);
		ms_agent_cleanup(&env[i]);
	}
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(cfg_dir);
	return 0;
}

static const char *pid_target(const char *name)
{
	static char buf[4][4300];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof(buf[slot]), "%s:%d", name, fx.pid);
	return buf[slot];
}

/* The lines of OUT that start with PREFIX, PREFIX removed, in order. */
static char *lines_of(const char *out, const char *prefix)
{
	size_t n = strlen(prefix), len = 0;
	char *res = calloc(1, strlen(out) + 1);

	assert_non_null(res);
	for (const char *p = out; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (!strncmp(p, prefix, n)) {
			memcpy(res + len, p + n, l - n);
			len += l - n;
		}
		p += l;
	}
	return res;
}

/* Every line of OUT starts with the label of one of the hosts. */
static void assert_all_labelled(const char *out, int json)
{
	size_t total = 0;

	for (int i = 0; i < NAGENTS; i++) {
		char prefix[128], *mine;

		if (json)
			snprintf(prefix, sizeof(prefix), "{\"host\":\"%s\",\"pid\":", host[i]);
		else
			snprintf(prefix, sizeof(prefix), "%s  ", host[i]);
		mine = lines_of(out, prefix);
		assert_true(ms_count_lines(mine) > 0);
		total += ms_count_lines(mine);
		free(mine);
	}
	assert_int_equal(total, ms_count_lines(out));
}

static const char *at(const char *path)
{
	static char buf[2][4300];
	static int slot;

	slot = (slot + 1) % 2;
	snprintf(buf[slot], sizeof(buf[slot]), "@%s", path);
	return buf[slot];
}

/* `remote ps @HOSTS`: each agent's list, each line labelled with its host, the fixture in each. */
static void test_fleet_ps_text(void **state)
{
	char fx_line[160];
	ms_run r;

	(void)state;
	RUN(&r, "remote", "ps", at(hosts), "--identity", env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_all_labelled(r.out, 0);
	for (int i = 0; i < NAGENTS; i++) {
		snprintf(fx_line, sizeof(fx_line), "%s  %7d ", host[i], fx.pid);
		assert_non_null(strstr(r.out, fx_line));
	}
	ms_run_free(&r);
}

/* --json: "host" is the first field of every object. */
static void test_fleet_ps_json(void **state)
{
	char fx_obj[128];
	ms_run r;

	(void)state;
	RUN(&r, "remote", "ps", at(hosts), "--json", "--identity", env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_all_labelled(r.out, 1);
	for (int i = 0; i < NAGENTS; i++) {
		snprintf(fx_obj, sizeof(fx_obj), "{\"host\":\"%s\",\"pid\":%d,", host[i], fx.pid);
		assert_non_null(strstr(r.out, fx_obj));
	}
	ms_run_free(&r);
}

/* A member that is down: its failure on stderr with its host, exit 1, the others' scan output whole
 * (each host's lines equal that host's own `remote scan`). */
static void test_fleet_member_down(void **state)
{
	ms_run r, one;

	(void)state;
	RUN(&r, "remote", "scan", at(pid_target(hosts_down)), "--pattern", MS_FIXTURE_MARKER, "--identity",
	    env[0].full.path);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "127.0.0.1:1  memscan: "));
	assert_non_null(strstr(r.err, "refused"));
	for (int i = 0; i < NAGENTS; i++) {
		char prefix[160], *mine, *err_mine;

		RUN(&one, "remote", "scan", pid_target(host[i]), "--pattern", MS_FIXTURE_MARKER, "--identity",
		    env[0].full.path);
		assert_int_equal(one.status, 0);
		assert_true(ms_count_lines(one.out) > 0);
		snprintf(prefix, sizeof(prefix), "%s  ", host[i]);
		mine = lines_of(r.out, prefix);
		err_mine = lines_of(r.err, prefix);
		assert_string_equal(mine, one.out);
		assert_string_equal(err_mine, "");
		free(mine);
		free(err_mine);
		ms_run_free(&one);
	}
	ms_run_free(&r);
}

/* What a terminal shows of RAW (carriage returns and "\033[K" applied): the lines that scrolled up,
 * each ended by '\n' (malloc'd), and in LAST the line the cursor is on. */
static char *screen_of(const char *raw, char *last, size_t last_size)
{
	char *res = calloc(1, strlen(raw) + 1), cur[4096];
	size_t len = 0, n = 0, col = 0;

	assert_non_null(res);
	for (const char *p = raw; *p; p++) {
		if (!strncmp(p, "\033[K", 3)) {
			n = col;
			p += 2;
		} else if (*p == '\r') {
			col = 0;
		} else if (*p == '\n') {
			memcpy(res + len, cur, n);
			len += n;
			res[len++] = '\n';
			n = col = 0;
		} else if (col < sizeof(cur)) {
			cur[col++] = *p;
			n = col > n ? col : n;
		}
	}
	snprintf(last, last_size, "%.*s", (int)n, cur);
	return res;
}

/* `remote scan @HOSTS:PID` with stdout and stderr on a terminal, EXTRA (or NULL) added: its exit code,
 * what the terminal received into T. SIGINT goes to its process group (as Ctrl-C) once AT shows. */
static int scan_on_tty(ms_tty *t, const char *cmd, const char *extra, const char *at_text)
{
	const char *argv[] = { "memscan", "remote", cmd, at(pid_target(hosts)), "--identity", NULL, NULL,
		               NULL,      NULL,     NULL };
	int n = 5;

	argv[n++] = env[0].full.path;
	if (!strcmp(cmd, "scan")) {
		argv[n++] = "--pattern";
		argv[n++] = MS_FIXTURE_MARKER;
	} else {
		argv[n++] = "--interval";
		argv[n++] = "20s";
	}
	argv[n] = extra;
	ms_tty_start_shared(t, argv);
	if (at_text && ms_tty_pump(t, at_text, 0, 20000))
		kill(-t->pid, SIGINT);
	return ms_tty_finish(t, 30000);
}

/* On a terminal: one line counting the agents done, cleared before each labelled line (none mixed into
 * it, each starting with its host) and at the end; none with -q. */
static void test_fleet_progress_line(void **state)
{
	static ms_tty t;
	char last[256], *screen;

	(void)state;
	assert_int_equal(scan_on_tty(&t, "scan", NULL, NULL), 0);
	assert_non_null(strstr(t.out, "\rmemscan: agents 0 of 3 (0%)"));
	screen = screen_of(t.out, last, sizeof(last));
	assert_all_labelled(screen, 0);
	assert_null(strstr(screen, "agents"));
	assert_string_equal(last, "");
	free(screen);

	assert_int_equal(scan_on_tty(&t, "scan", "-q", NULL), 0);
	assert_null(strstr(t.out, "agents"));
	assert_null(strchr(t.out, '\033'));
	screen = screen_of(t.out, last, sizeof(last));
	assert_all_labelled(screen, 0);
	assert_string_equal(last, "");
	free(screen);
}

/* Ctrl-C during a fleet run: the runner ends by the signal as before, its line cleared. */
static void test_fleet_progress_interrupted(void **state)
{
	static ms_tty t;
	char last[256], *screen;

	(void)state;
	assert_int_equal(scan_on_tty(&t, "diff", NULL, "of 3"), 128 + SIGINT);
	/* cleared once, by the runner: a member forked as the signal came clears nothing */
	assert_string_equal(t.out, "\rmemscan: agents 0 of 3 (0%), ETA ?\033[K\r\033[K");
	screen = screen_of(t.out, last, sizeof(last));
	assert_string_equal(last, "");
	assert_null(strstr(screen, "agents"));
	free(screen);
}

/* regions and diff run on every member too. */
static void test_fleet_regions_diff(void **state)
{
	ms_run r;

	(void)state;
	RUN(&r, "remote", "regions", at(pid_target(hosts)), "--identity", env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_all_labelled(r.out, 0);
	ms_run_free(&r);
	/* -q (the fleet's progress line off) is taken by every command a fleet runs */
	RUN(&r, "remote", "regions", at(pid_target(hosts)), "-q", "--identity", env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_all_labelled(r.out, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "ps", at(hosts), "--quiet", "--identity", env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_all_labelled(r.out, 0);
	ms_run_free(&r);
	RUN(&r, "remote", "diff", at(pid_target(hosts)), "--interval", "50ms", "--json", "--identity",
	    env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	ms_run_free(&r);
	/* commands that work on one agent say so */
	RUN(&r, "remote", "read", at(pid_target(hosts)), "0x1000", "4", "--identity", env[0].full.path);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "ps, regions, scan and diff"));
	ms_run_free(&r);
}

/* A member reached by address is held to the key pinned for the name given (here by a pattern). */
static void test_client_agent_name(void **state)
{
	char url[96], name[96], other[96];
	memscan_client *c = NULL;
	int port = ms_agent_port(&env[0]);

	(void)state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(name, sizeof(name), "localhost:%d", port);
	snprintf(other, sizeof(other), "elsewhere:%d", port);
	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_identity_file(c, env[0].full.path), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_known_agents_file(c, known), MEMSCAN_OK);
	/* 127.0.0.1:P0 itself has no pin */
	assert_int_equal(memscan_client_connect(c, url), MEMSCAN_ERR_AUTH);
	assert_int_equal(memscan_client_set_agent_name(c, other), MEMSCAN_OK);
	assert_int_equal(memscan_client_connect(c, url), MEMSCAN_ERR_AUTH);
	assert_non_null(strstr(memscan_client_last_error(c), other));
	assert_int_equal(memscan_client_set_agent_name(c, name), MEMSCAN_OK);
	assert_int_equal(memscan_client_connect(c, url), MEMSCAN_OK);
	memscan_client_free(c);
}

/* memscan_fleet_run's callback: lists the member's processes, notes whether the fixture is there. */
static int list_member(void *ctx, const memscan_fleet_member *member, memscan_client *client, int err)
{
	int *seen = ctx;
	memscan_proc_info *list = NULL;
	size_t n = 0;

	if (err != MEMSCAN_OK)
		return err;
	err = memscan_client_list_processes(client, &list, &n);
	for (size_t i = 0; err == MEMSCAN_OK && i < n; i++)
		if (list[i].pid == fx.pid)
			seen[member - (const memscan_fleet_member *)seen_base] = 1;
	free(list);
	return err;
}

/* The library's fleet: a hosts file into members (label, URL, pin name), bad lines refused, and a
 * callback per member on threads, each with its own connected client; the member down fails alone. */
static void test_client_fleet(void **state)
{
	memscan_fleet_member *m = NULL;
	memscan_fleet_options opts = { .identity_file = env[0].full.path, .known_agents_file = known };
	char spec[4400], bad[4300], err[512], url[64];
	int seen[4] = { 0 }, results[4];
	size_t n = 0;

	(void)state;
	snprintf(spec, sizeof(spec), "@%s", hosts_down);
	assert_int_equal(memscan_fleet_resolve(spec, &m, &n, err, sizeof(err)), MEMSCAN_OK);
	assert_int_equal(n, 4);
	assert_string_equal(m[0].host, host[0]);
	assert_string_equal(m[0].pin_name, host[0]);
	snprintf(url, sizeof(url), "tcp://%s", host[2]);
	assert_string_equal(m[3].url, url);
	assert_string_equal(m[1].url, "tcp://127.0.0.1:1");
	seen_base = m;
	assert_int_equal(memscan_fleet_run(m, n, &opts, list_member, seen, results), MEMSCAN_ERR_CONNECT);
	assert_int_equal(results[1], MEMSCAN_ERR_CONNECT);
	for (int i = 0; i < 4; i++)
		if (i != 1) {
			assert_int_equal(results[i], MEMSCAN_OK);
			assert_int_equal(seen[i], 1);
		}
	free(m);
	snprintf(bad, sizeof(bad), "%s/bad_hosts.txt", cfg_dir);
	ms_write_str(bad, "# ok\nagent-1:7777\n::1:7777\n", 0600);
	snprintf(spec, sizeof(spec), "@%s", bad);
	assert_int_equal(memscan_fleet_resolve(spec, &m, &n, err, sizeof(err)), MEMSCAN_ERR_INVALID_ARG);
	assert_null(m);
	assert_non_null(strstr(err, "bad_hosts.txt:3: want one HOST"));
	assert_int_equal(memscan_fleet_resolve("host:99999", &m, &n, err, sizeof(err)),
	                 MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_fleet_resolve("[::1]:7777", &m, &n, err, sizeof(err)), MEMSCAN_OK);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].url, "tcp://[::1]:7777");
	free(m);
}

/* A private /etc/hosts (this process's own mount namespace) where fleet.test names 127.0.0.1-3. 0, or -1
 * if this process cannot have one (not root). */
static int private_etc_hosts(void)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/etc_hosts", cfg_dir);
	ms_write_str(path,
	             "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 fleet.test\n127.0.0.2 fleet.test\n"
	             "127.0.0.3 fleet.test\n",
	             0644);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	return mount(path, "/etc/hosts", NULL, MS_BIND, NULL);
}

/* A name resolving to three agents (a headless Service): each reached by address, labelled with it,
 * and held to the key pinned for the name (a pattern: none of the addresses has a pin of its own). */
static void test_fleet_dns_name(void **state)
{
	char listen[2][64], pattern[64], name[64], label[96], pub[4300];
	int port = ms_agent_port(&env[0]);
	ms_run r;

	(void)state;
	if (private_etc_hosts() != 0)
		skip();
	for (int i = 0; i < 2; i++) {
		const char *extra[] = { "--listen", listen[i], NULL };

		snprintf(listen[i], sizeof(listen[i]), "tcp://127.0.0.%d:%d", i + 2, port);
		assert_int_equal(start_like_first(&dns[i], extra), 0);
	}
	snprintf(name, sizeof(name), "fleet.test:%d", port);
	{
		memscan_fleet_member *m = NULL;
		size_t n = 0;

		assert_int_equal(memscan_fleet_resolve(name, &m, &n, NULL, 0), MEMSCAN_OK);
		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(m[i].pin_name, name);
		free(m);
	}
	RUN(&r, "remote", "ps", name, "--identity", env[0].full.path);
	assert_int_equal(r.status, 1); /* nothing pinned for fleet.test yet */
	assert_non_null(strstr(r.err, "127.0.0.2:"));
	ms_run_free(&r);
	snprintf(pattern, sizeof(pattern), "*.test:%d", port);
	snprintf(pub, sizeof(pub), "%s.pub", env[0].agent.path);
	assert_int_equal(trust(pattern, pub), 0);
	RUN(&r, "remote", "scan", pid_target(name), "--pattern", MS_FIXTURE_MARKER, "--identity",
	    env[0].full.path);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	for (int i = 1; i <= 3; i++) {
		char *mine;

		snprintf(label, sizeof(label), "127.0.0.%d:%d  ", i, port);
		mine = lines_of(r.out, label);
		assert_true(ms_count_lines(mine) > 0);
		free(mine);
	}
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_ps_text),       cmocka_unit_test(test_fleet_ps_json),
		cmocka_unit_test(test_fleet_member_down),   cmocka_unit_test(test_fleet_regions_diff),
		cmocka_unit_test(test_client_agent_name),   cmocka_unit_test(test_client_fleet),
		cmocka_unit_test(test_fleet_progress_line), cmocka_unit_test(test_fleet_progress_interrupted),
		cmocka_unit_test(test_fleet_dns_name),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
