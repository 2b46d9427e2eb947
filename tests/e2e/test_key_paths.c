/* SPDX-License-Identifier: MIT */
/* Key file path safety end to end: the agent refuses to start, and the CLI refuses to connect, with key
 * files someone else owns or that lie in directories others can write to. */
#include "agentutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Someone else: the uid the tests give files and directories they should not trust. */
#define OTHER_UID 1000

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* giving a file to someone else needs root */
}

/* Starts the agent expecting a refusal: exit code 1 and a one-line reason holding NEEDLE and FIX. */
static void expect_agent_refuses(ms_agent *e, const char *needle, const char *fix)
{
	if (ms_agent_start(e, NULL) == 0) {
		ms_agent_stop(e);
		fail_msg("the agent started");
	}
	assert_int_equal(ms_agent_wait(e, 10000), 1);
	assert_int_equal(ms_agent_err_count(e, "\n"), 1);
	assert_int_equal(ms_agent_err_count(e, "memscan-agent: "), 1);
	if (!ms_agent_err_has(e, needle) || !ms_agent_err_has(e, fix))
		fail_msg("the agent's error lacks '%s' or '%s'", needle, fix);
}

/* DIR/SUB made with MODE, and the agent's authorized_keys moved into it. */
static void move_auth_into(ms_agent *e, const char *sub, mode_t mode)
{
	char sub_dir[4120], moved[sizeof(e->auth_path)];

	snprintf(sub_dir, sizeof(sub_dir), "%s/%s", e->dir, sub);
	assert_int_equal(mkdir(sub_dir, 0700), 0);
	assert_int_equal(chmod(sub_dir, mode), 0);
	snprintf(moved, sizeof(moved), "%.4100s/authorized_keys", sub_dir);
	assert_int_equal(rename(e->auth_path, moved), 0);
	memcpy(e->auth_path, moved, sizeof(moved));
}

static void test_agent_refuses_foreign_authorized_keys(void **state)
{
	char fix[4400];
	ms_agent *e = *state;

	need_root();
	assert_int_equal(chown(e->auth_path, OTHER_UID, (gid_t)-1), 0);
	snprintf(fix, sizeof(fix), "chown root %s", e->auth_path);
	expect_agent_refuses(e, "owned by uid 1000", fix);
	/* given back to root, the same file is fine */
	assert_int_equal(chown(e->auth_path, 0, (gid_t)-1), 0);
	assert_int_equal(ms_agent_start(e, NULL), 0);
}

static void test_agent_refuses_authorized_keys_in_open_dir(void **state)
{
	char fix[4400];
	ms_agent *e = *state;

	move_auth_into(e, "open", 0777);
	snprintf(fix, sizeof(fix), "chmod go-w %s/open", e->dir);
	expect_agent_refuses(e, "mode 0777", fix);
	/* sticky, like /tmp, nobody else can replace it: accepted */
	snprintf(fix, sizeof(fix), "%s/open", e->dir);
	assert_int_equal(chmod(fix, 01777), 0);
	assert_int_equal(ms_agent_start(e, NULL), 0);
}

static void test_agent_refuses_key_in_foreign_dir(void **state)
{
	char fix[4400];
	ms_agent *e = *state;

	need_root();
	assert_int_equal(chown(e->dir, OTHER_UID, (gid_t)-1), 0);
	snprintf(fix, sizeof(fix), "chown root %s", e->dir);
	expect_agent_refuses(e, "is owned by uid 1000", fix);
	assert_int_equal(chown(e->dir, 0, (gid_t)-1), 0);
}

/* SIGHUP with authorized_keys now in a directory anyone may write to: the agent keeps the keys it had
 * and says why. */
static void test_agent_reload_keeps_keys(void **state)
{
	ms_agent *e = *state;
	int ok;

	assert_int_equal(ms_agent_start(e, NULL), 0);
	assert_int_equal(chmod(e->dir, 0777), 0);
	assert_int_equal(kill(e->pid, SIGHUP), 0);
	ok = ms_agent_wait_err(e, "keeping the previous authorized keys", 5000);
	assert_int_equal(chmod(e->dir, 0700), 0);
	assert_true(ok);
	assert_true(ms_agent_err_has(e, "chmod go-w"));
	assert_int_equal(ms_agent_serving(e, getpid()), 0);
}

/* ---- the client ---- */

/* Runs `memscan remote ps 127.0.0.1:PORT --identity ID` with known_agents under CFG; the run. */
static void remote_ps(ms_run *r, const ms_agent *e, const char *id)
{
	char hp[64];
	const char *argv[] = { "remote", "ps", hp, "--identity", id, NULL };

	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ms_agent_port(e));
	assert_int_equal(ms_run_cli(r, argv), 0);
}

/* The CLI fails (exit 1) with a message holding NEEDLE and FIX. */
static void expect_cli_refuses(const ms_agent *e, const char *id, const char *needle, const char *fix)
{
	ms_run r;

	remote_ps(&r, e, id);
	if (r.status != 1 || !strstr(r.err, needle) || !strstr(r.err, fix))
		fail_msg("exit %d, stderr lacks '%s' or '%s': %s", r.status, needle, fix, r.err);
	ms_run_free(&r);
}

static void expect_cli_works(const ms_agent *e, const char *id)
{
	ms_run r;

	remote_ps(&r, e, id);
	if (r.status != 0)
		fail_msg("exit %d: %s", r.status, r.err);
	ms_run_free(&r);
}

/* Starts the agent and pins its key in a fresh XDG_CONFIG_HOME under the agent's directory; the path
 * of known_agents into KNOWN. */
static void client_setup(ms_agent *e, char *known, size_t len)
{
	char cfg[4200], pub[4300];
	const char *argv[] = { "trust", NULL, pub, NULL };
	char hp[64];
	ms_run r;

	assert_int_equal(ms_agent_start(e, NULL), 0);
	snprintf(cfg, sizeof(cfg), "%s/cfg", e->dir);
	setenv("XDG_CONFIG_HOME", cfg, 1);
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ms_agent_port(e));
	argv[1] = hp;
	snprintf(pub, sizeof(pub), "%s.pub", e->agent.path);
	assert_int_equal(ms_run_cli(&r, argv), 0);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	snprintf(known, len, "%s/memscan/known_agents", cfg);
	expect_cli_works(e, e->full.path);
}

static void test_client_refuses_foreign_files(void **state)
{
	char known[4300], fix[4400];
	ms_agent *e = *state;

	need_root();
	client_setup(e, known, sizeof(known));
	assert_int_equal(chown(known, OTHER_UID, (gid_t)-1), 0);
	snprintf(fix, sizeof(fix), "chown root %s", known);
	expect_cli_refuses(e, e->full.path, "owned by uid 1000", fix);
	assert_int_equal(chown(known, 0, (gid_t)-1), 0);
	assert_int_equal(chown(e->full.path, OTHER_UID, (gid_t)-1), 0);
	snprintf(fix, sizeof(fix), "chown root %s", e->full.path);
	expect_cli_refuses(e, e->full.path, "owned by uid 1000", fix);
	assert_int_equal(chown(e->full.path, 0, (gid_t)-1), 0);
	expect_cli_works(e, e->full.path);
}

static void test_client_refuses_open_dirs(void **state)
{
	char known[4300], fix[4400], id_dir[4200], id[4300], *slash;
	ms_agent *e = *state;

	client_setup(e, known, sizeof(known));
	/* known_agents in a directory anyone may write to */
	slash = strrchr(known, '/');
	*slash = '\0';
	assert_int_equal(chmod(known, 0777), 0);
	snprintf(fix, sizeof(fix), "chmod go-w %s", known);
	expect_cli_refuses(e, e->full.path, "mode 0777", fix);
	assert_int_equal(chmod(known, 0700), 0);
	/* the identity in a directory its group may write to */
	snprintf(id_dir, sizeof(id_dir), "%s/ids", e->dir);
	assert_int_equal(mkdir(id_dir, 0700), 0);
	snprintf(id, sizeof(id), "%s/full.key", id_dir);
	assert_int_equal(rename(e->full.path, id), 0);
	expect_cli_works(e, id);
	assert_int_equal(chmod(id_dir, 0770), 0);
	snprintf(fix, sizeof(fix), "chmod go-w %s", id_dir);
	expect_cli_refuses(e, id, "mode 0770", fix);
	unsetenv("XDG_CONFIG_HOME");
}

#define T(f) cmocka_unit_test_setup_teardown(f, ms_agent_setup, ms_agent_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_agent_refuses_foreign_authorized_keys),
		T(test_agent_refuses_authorized_keys_in_open_dir),
		T(test_agent_refuses_key_in_foreign_dir),
		T(test_agent_reload_keeps_keys),
		T(test_client_refuses_foreign_files),
		T(test_client_refuses_open_dirs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
