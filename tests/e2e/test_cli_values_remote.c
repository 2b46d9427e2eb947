/* SPDX-License-Identifier: MIT */
/* The CLI's value commands through a real agent on 127.0.0.1 (real keys, the default identity):
 * `memscan remote scan HOST:PID --type ... -o SET` leaves the set on the agent and writes a
 * reference; `memscan narrow SET`, `matches SET` and `release SET` follow it to the agent. Values are
 * checked against what the fixture was told to write; remote output equals local output. */
#include "agentutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/client.h>

#define PLANTED "100000" /* an i32 the arena's byte pattern never holds */

static ms_agent env;
static ms_fixture fx;
static char cfg_dir[4096], hostport[64];

static const char *target(int pid)
{
	static char buf[2][96];
	static int slot;

	slot ^= 1;
	snprintf(buf[slot], sizeof(buf[slot]), "%s:%d", hostport, pid);
	return buf[slot];
}

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

static const char *set_path(const char *name)
{
	static char buf[2][4200];
	static int slot;

	slot ^= 1;
	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", cfg_dir, name);
	return buf[slot];
}

static void put_i32(uint64_t addr, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		assert_int_equal(
		    ms_fixture_cmd(&fx, "set %llx %x", (unsigned long long)(addr + k), (v >> (8 * k)) & 0xff),
		    0);
}

/* Runs the CLI; fails the test unless it exits with WANT. R holds the output. */
#define RUN_EXPECT(r, want, ...)                                                                             \
	do {                                                                                                 \
		RUN(r, __VA_ARGS__);                                                                         \
		if ((r)->status != (want))                                                                   \
			fail_msg("exit %d, want %d\nstdout: %s\nstderr: %s", (r)->status, (want), (r)->out,  \
			         (r)->err);                                                                  \
	} while (0)

/* A remote scan leaves the set on the agent; narrow (another run) finds the one that increased,
 * matches shows its value now, release drops it and the file. */
static void test_scan_narrow_matches_release(void **state)
{
	uint64_t at[3];
	char line[128];
	ms_run r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		at[i] = fx.arena + 0x2000 * (uint64_t)(i + 1) + 0x80;
		put_i32(at[i], 100000);
	}
	RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "i32", "--value", PLANTED, "--range",
	           arena_range(&fx), "-o", set_path("s1"));
	assert_non_null(strstr(r.out, "3 candidates of i32"));
	ms_run_free(&r);
	assert_true(memscan_client_vset_ref_probe(set_path("s1")));
	assert_int_equal(ms_mode_of(set_path("s1")) & 0777, 0600);

	put_i32(at[1], 100005);
	RUN_EXPECT(&r, 0, "narrow", set_path("s1"), "--increased");
	assert_non_null(strstr(r.out, "1 of 3 candidates left"));
	snprintf(line, sizeof(line), "%s  i32  100005  (was 100000)", ms_hex(at[1]));
	if (!strstr(r.out, line))
		fail_msg("no '%s' in:\n%s", line, r.out);
	ms_run_free(&r);

	put_i32(at[1], 100007);
	RUN_EXPECT(&r, 0, "matches", set_path("s1"), "--json");
	snprintf(line, sizeof(line), "\"address\":\"%s\",\"type\":\"i32\",\"value\":100007,\"old\":100005",
	         ms_hex(at[1]));
	if (!strstr(r.out, line))
		fail_msg("no '%s' in:\n%s", line, r.out);
	assert_int_equal(ms_count_lines(r.out), 1);
	ms_run_free(&r);

	RUN_EXPECT(&r, 0, "release", set_path("s1"));
	assert_non_null(strstr(r.out, "released"));
	ms_run_free(&r);
	assert_false(ms_exists(set_path("s1")));
	assert_true(ms_agent_err_has(&env, "op=value_release"));
	for (int i = 0; i < 3; i++)
		put_i32(at[i], 0);
}

/* Printed without -o, a remote scan prints what the local one prints. */
static void test_remote_output_equals_local(void **state)
{
	uint64_t at = fx.arena + 0x3040;
	ms_run l, r;

	(void)state;
	put_i32(at, 100000);
	RUN_EXPECT(&l, 0, "scan", ms_fixture_pid_str(&fx), "--type", "i32", "--value", PLANTED, "--range",
	           arena_range(&fx));
	RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "i32", "--value", PLANTED, "--range",
	           arena_range(&fx));
	assert_string_equal(l.out, r.out);
	assert_non_null(strstr(r.out, ms_hex(at)));
	ms_run_free(&l);
	ms_run_free(&r);
	put_i32(at, 0);
}

/* The agent keeps at most 2 sets for this key (--max-sets 2): printed scans, in-place narrows and
 * matches leave nothing behind (a third set would be refused), and -o SET2 keeps both. */
static void test_nothing_left_behind(void **state)
{
	ms_run r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "u32", "--value", "7",
		           "--range", arena_range(&fx));
		ms_run_free(&r);
	}
	RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "u8", "--unknown", "--range",
	           arena_range(&fx), "-o", set_path("u"));
	ms_run_free(&r);
	assert_int_equal(ms_fixture_cmd(&fx, "bump %llx", (unsigned long long)(fx.arena + 0x777)), 0);
	for (int i = 0; i < 3; i++) {
		RUN_EXPECT(&r, 0, "narrow", set_path("u"), i ? "--unchanged" : "--changed");
		ms_run_free(&r);
		RUN_EXPECT(&r, 0, "matches", set_path("u"));
		assert_non_null(strstr(r.out, ms_hex(fx.arena + 0x777)));
		ms_run_free(&r);
	}
	RUN_EXPECT(&r, 0, "narrow", set_path("u"), "--unchanged", "-o", set_path("u2"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "narrow", set_path("u2"), "--unchanged");
	assert_non_null(strstr(r.out, "1 of 1 candidates left"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 1, "remote", "scan", target(fx.pid), "--type", "u32", "--value", "7", "-o",
	           set_path("x"));
	assert_non_null(strstr(r.err, "--max-sets"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "release", set_path("u"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "release", set_path("u2"));
	ms_run_free(&r);
}

/* Starts a second agent (EXTRA args) that authorizes the default identity, pinned at its address,
 * which goes into HP (64 bytes). */
static void start_other_agent(ms_agent *other, const char *const *extra, char *hp)
{
	char pub[4300], line[128], auth[256];
	ms_run r;

	assert_int_equal(ms_agent_init(other), 0);
	keyfile_format_public(env.full.pub, line, sizeof(line));
	snprintf(auth, sizeof(auth), "perms=list,read,scan %s me\n", line);
	assert_int_equal(ms_agent_write_auth_text(other, auth), 0);
	assert_int_equal(ms_agent_start(other, extra), 0);
	snprintf(pub, sizeof(pub), "%s.pub", other->agent.path);
	snprintf(hp, 64, "127.0.0.1:%d", ms_agent_port(other));
	RUN_EXPECT(&r, 0, "trust", hp, pub);
	ms_run_free(&r);
}

/* A reference names its agent's key: an agent with another key at that address is refused. */
static void test_reference_to_other_agent_refused(void **state)
{
	memscan_client_vset_ref ref;
	ms_agent other;
	char hp[64];
	ms_run r;

	(void)state;
	RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "u32", "--value", "7", "-o",
	           set_path("o"));
	ms_run_free(&r);
	start_other_agent(&other, NULL, hp);
	assert_int_equal(memscan_client_vset_ref_load(set_path("o"), &ref), MEMSCAN_OK);
	snprintf(ref.agent, sizeof(ref.agent), "%s", hp);
	assert_int_equal(memscan_client_vset_ref_save(&ref, set_path("o2")), MEMSCAN_OK);
	/* the other agent authorizes the same key, so only the fingerprint check stands in the way */
	RUN_EXPECT(&r, 1, "narrow", set_path("o2"), "--changed");
	assert_non_null(strstr(r.err, "not the agent that keeps the set"));
	ms_run_free(&r);
	assert_int_equal(ms_agent_finish(&other), 0);
	RUN_EXPECT(&r, 0, "release", set_path("o"));
	ms_run_free(&r);
	unlink(set_path("o2"));
}

/* A UTF-16LE string set: narrowing with --eq sends the operand in the set's encoding. */
static void test_utf16_string(void **state)
{
	static const uint8_t hey[] = { 'h', 0, 'e', 0, 'y', 0 };
	uint64_t at = fx.arena + 0x5001;
	ms_run r;

	(void)state;
	for (size_t k = 0; k < sizeof(hey); k++)
		assert_int_equal(ms_fixture_cmd(&fx, "set %llx %x", (unsigned long long)(at + k), hey[k]), 0);
	RUN_EXPECT(&r, 0, "remote", "scan", target(fx.pid), "--type", "str", "--utf16", "--value", "hey",
	           "--range", arena_range(&fx), "-o", set_path("s"));
	assert_non_null(strstr(r.out, "1 candidates of str"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "narrow", set_path("s"), "--eq", "hey");
	assert_non_null(strstr(r.out, "1 of 1 candidates left"));
	assert_non_null(strstr(r.out, ms_hex(at)));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "narrow", set_path("s"), "--ne", "hey");
	assert_non_null(strstr(r.out, "0 of 1 candidates left"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "release", set_path("s"));
	ms_run_free(&r);
}

/* `memscan remote hunt` through a pipe, its sets on an agent that keeps at most 3 a key: a scan, a
 * narrowing, list and undo; when it ends, the agent holds none of them (a scan keeping 3 sets
 * succeeds right after). */
static void test_remote_hunt(void **state)
{
	static const char *const extra[] = { "--max-sets", "3", NULL };
	uint64_t a = fx.arena + 0x6100, b = fx.arena + 0x6200;
	uint32_t v = 4242;
	char hp[64], tgt[96], got[512], want[128];
	ms_agent other;
	ms_session s;
	ms_run r;

	(void)state;
	start_other_agent(&other, extra, hp);
	snprintf(tgt, sizeof(tgt), "%s:%d", hp, (int)fx.pid);
	ms_fixture_poke(&fx, a, &v, sizeof(v));
	ms_fixture_poke(&fx, b, &v, sizeof(v));
	{
		const char *argv[] = { "remote",  "hunt",           tgt, "--type", "u32",
			               "--range", arena_range(&fx), NULL };
		assert_int_equal(ms_session_start(&s, argv), 0);
	}
	ms_session_send(&s, "4242");
	ms_session_line(&s, got, sizeof(got));
	assert_string_equal(got, "2 candidates");
	v = 4250;
	ms_fixture_poke(&fx, a, &v, sizeof(v));
	ms_session_send(&s, ">");
	ms_session_line(&s, got, sizeof(got));
	assert_string_equal(got, "1 candidate");
	ms_session_send(&s, "list");
	ms_session_line(&s, got, sizeof(got));
	snprintf(want, sizeof(want), "0x%llx  u32  4250  (was 4250)", (unsigned long long)a);
	assert_string_equal(got, want);
	ms_session_line(&s, got, sizeof(got));
	assert_string_equal(got, "1 candidate");
	ms_session_send(&s, "undo");
	ms_session_line(&s, got, sizeof(got));
	assert_string_equal(got, "2 candidates");
	assert_int_equal(ms_session_end(&s, NULL), 0);
	for (int i = 0; i < 6; i++) { /* three sets kept at once, then released */
		char name[8];

		snprintf(name, sizeof(name), "h%d", i % 3);
		if (i < 3)
			RUN_EXPECT(&r, 0, "remote", "scan", tgt, "--type", "u32", "--value", "7", "-o",
			           set_path(name));
		else
			RUN_EXPECT(&r, 0, "release", set_path(name));
		ms_run_free(&r);
	}
	assert_int_equal(ms_agent_finish(&other), 0);
	v = 0;
	ms_fixture_poke(&fx, a, &v, sizeof(v));
	ms_fixture_poke(&fx, b, &v, sizeof(v));
}

/* The set's process exited: narrow says so (exit 1); a bad value is a usage error (exit 2). */
static void test_errors(void **state)
{
	ms_fixture gone;
	ms_run r;

	(void)state;
	assert_int_equal(ms_fixture_start(&gone, NULL), 0);
	RUN_EXPECT(&r, 0, "remote", "scan", target(gone.pid), "--type", "u32", "--unknown", "--range",
	           arena_range(&gone), "-o", set_path("g"));
	ms_run_free(&r);
	ms_fixture_stop(&gone);
	RUN_EXPECT(&r, 1, "narrow", set_path("g"), "--changed");
	assert_non_null(strstr(r.err, "exited"));
	ms_run_free(&r);
	RUN_EXPECT(&r, 0, "release", set_path("g")); /* the agent dropped it already */
	ms_run_free(&r);
	RUN_EXPECT(&r, 2, "remote", "scan", target(fx.pid), "--type", "i32", "--value", "12x");
	assert_non_null(strstr(r.err, "offset 2"));
	ms_run_free(&r);
}

static int group_setup(void **state)
{
	static const char *const args[] = { "--max-sets", "2", NULL };
	char pub[4300], key_dir[4200], key[4300];
	uint8_t *bytes;
	size_t len;
	ms_run r;

	(void)state;
	if (ms_fixture_start(&fx, NULL) != 0 || ms_agent_init(&env) != 0 || ms_agent_start(&env, args) != 0)
		return -1;
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&env));
	snprintf(cfg_dir, sizeof(cfg_dir), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", cfg_dir, 1);
	/* the default identity: the agent's full key */
	snprintf(key_dir, sizeof(key_dir), "%s/memscan", cfg_dir);
	snprintf(key, sizeof(key), "%s/id_x25519", key_dir);
	bytes = ms_file_read(env.full.path, &len);
	if (!bytes || mkdir(key_dir, 0700) != 0)
		return -1;
	ms_write_file(key, bytes, len, 0600);
	free(bytes);
	snprintf(pub, sizeof(pub), "%s.pub", env.agent.path);
	{
		const char *argv[] = { "trust", hostport, pub, NULL };
		if (ms_run_cli(&r, argv) != 0 || r.status != 0)
			return -1;
		ms_run_free(&r);
	}
	return 0;
}

static int group_teardown(void **state)
{
	int rc;

	(void)state;
	rc = ms_agent_finish(&env);
	ms_fixture_stop(&fx);
	ms_tmpdir_remove(cfg_dir);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_narrow_matches_release),
		cmocka_unit_test(test_remote_output_equals_local),
		cmocka_unit_test(test_nothing_left_behind),
		cmocka_unit_test(test_reference_to_other_agent_refused),
		cmocka_unit_test(test_utf16_string),
		cmocka_unit_test(test_remote_hunt),
		cmocka_unit_test(test_errors),
	};

	alarm(110);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
