/* SPDX-License-Identifier: MIT */
/* known_agents (proto/keyfile_known.c): trusting and replacing a pinned key, other lines kept verbatim,
 * lookups and bad HOST:PORTs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan.h"
#include "keyutil.h"

static char err[512];

static int setup(void **state)
{
	err[0] = '\0';
	return ms_scratch_setup(state);
}

/* ---- known_agents ---- */

static void test_known_agents_trust_and_replace(void **state)
{
	const char *path = ms_scratch_path("cfg/memscan/known_agents");
	uint8_t got[KEYFILE_KEY_LEN];
	char expect[512];

	(void)state;
	assert_int_equal(keyfile_trust_agent(path, "10.0.0.1:7777", ms_pubs[0], err, sizeof(err)), 0);
	assert_int_equal(ms_mode_of(ms_scratch_path("cfg")) & 0077, 0);
	assert_int_equal(ms_mode_of(ms_scratch_path("cfg/memscan")) & 0077, 0);
	assert_int_equal(ms_mode_of(path), 0600);
	assert_int_equal(keyfile_trust_agent(path, "[::1]:7777", ms_pubs[1], err, sizeof(err)), 0);
	assert_int_equal(keyfile_trust_agent(path, "10.0.0.1:7777", ms_pubs[2], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect), "[::1]:7777 memscan-x25519 %s\n10.0.0.1:7777 memscan-x25519 %s\n",
	         ms_b64s[1], ms_b64s[2]);
	assert_string_equal(ms_slurp(path), expect);

	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[2], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "[::1]:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:7778", got, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "memscan trust 10.0.0.1:7778"));
	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:777", got, err, sizeof(err)), -ENOENT);
}

static void test_known_agents_keeps_other_lines_verbatim(void **state)
{
	const char *path = ms_scratch_path("known_agents");
	char text[512], expect[1024];

	(void)state;
	snprintf(text, sizeof(text),
	         "# pinned from the console\n\nb.example:7777 memscan-x25519 %s office  box", ms_b64s[0]);
	ms_write_str(path, text, 0600);
	assert_int_equal(keyfile_trust_agent(path, "a.example:7777", ms_pubs[1], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect), "%s\na.example:7777 memscan-x25519 %s\n", text, ms_b64s[1]);
	assert_string_equal(ms_slurp(path), expect);
	assert_int_equal(keyfile_trust_agent(path, "b.example:7777", ms_pubs[2], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect),
	         "# pinned from the console\n\na.example:7777 memscan-x25519 %s\nb.example:7777 "
	         "memscan-x25519 %s\n",
	         ms_b64s[1], ms_b64s[2]);
	assert_string_equal(ms_slurp(path), expect);
	assert_int_equal(ms_mode_of(path), 0600);
}

static void test_known_agents_first_match_and_errors(void **state)
{
	const char *path = ms_scratch_path("known_agents");
	uint8_t got[KEYFILE_KEY_LEN];
	char text[512], before[512];

	(void)state;
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "memscan trust h:1"));
	/* hand-edited duplicates: the first line wins */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\nh:1 memscan-x25519 %s\n", ms_b64s[0],
	         ms_b64s[1]);
	ms_write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[0], KEYFILE_KEY_LEN);
	/* any malformed line fails the lookup, naming the line; trust refuses to rewrite it */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\n# c\nbroken\n", ms_b64s[0]);
	ms_write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 3:"));
	snprintf(before, sizeof(before), "%s", ms_slurp(path));
	assert_int_equal(keyfile_trust_agent(path, "h:2", ms_pubs[1], err, sizeof(err)), -EINVAL);
	assert_string_equal(ms_slurp(path), before);
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\nh:1x memscan-x25519 %s\n", ms_b64s[0],
	         ms_b64s[1]);
	ms_write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2:"));
	/* group-writable or a symlink: refused */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\n", ms_b64s[0]);
	ms_write_str(path, text, 0620);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EPERM);
	assert_int_equal(keyfile_trust_agent(path, "h:2", ms_pubs[1], err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(symlink(path, ms_scratch_path("link")), 0);
	assert_int_equal(keyfile_known_agent(ms_scratch_path("link"), "h:1", got, err, sizeof(err)), -ELOOP);
}

static void test_known_agents_bad_hostport(void **state)
{
	static const char *bad[] = { "",           "host",        "::1:7777",   "[::1]7777", "host:0",
		                     "host:65536", "host:+80",    "host:80x",   "ho st:1",   "#h:1",
		                     ":7777",      "[]:7777",     "[::1:7777",  "::1]:7777", "h\n:1",
		                     "h:",         "[::1]]:7777", "[[::1]:7777" };
	const char *path = ms_scratch_path("known_agents");
	uint8_t got[KEYFILE_KEY_LEN], zero[KEYFILE_KEY_LEN] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(keyfile_trust_agent(path, bad[i], ms_pubs[0], err, sizeof(err)), -EINVAL);
		assert_int_equal(keyfile_known_agent(path, bad[i], got, err, sizeof(err)), -EINVAL);
	}
	assert_false(ms_exists(path));
	assert_int_equal(keyfile_trust_agent(path, "h:1", zero, err, sizeof(err)), -EINVAL);
	assert_false(ms_exists(path));
	assert_int_equal(keyfile_trust_agent(path, "agent.example.org:65535", ms_pubs[0], err, sizeof(err)),
	                 0);
	assert_int_equal(keyfile_known_agent(path, "agent.example.org:65535", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[0], KEYFILE_KEY_LEN);
	/* an agent's local socket is pinned by its ipc:/// URL; "ipc://" alone or relative names are not */
	assert_int_equal(
	    keyfile_trust_agent(path, "ipc:///run/memscan/agent.sock", ms_pubs[1], err, sizeof(err)), 0);
	assert_int_equal(keyfile_known_agent(path, "ipc:///run/memscan/agent.sock", got, err, sizeof(err)),
	                 0);
	assert_memory_equal(got, ms_pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "ipc:///run/memscan/other.sock", got, err, sizeof(err)),
	                 -ENOENT);
	assert_int_equal(keyfile_trust_agent(path, "ipc:///", ms_pubs[1], err, sizeof(err)), -EINVAL);
	assert_int_equal(keyfile_trust_agent(path, "ipc://agent.sock", ms_pubs[1], err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(keyfile_trust_agent(path, "ipc:///a b", ms_pubs[1], err, sizeof(err)), -EINVAL);
}

/* A fleet's pattern line covers its members' names on the same port; an exact pin wins over it. */
static void test_known_agents_patterns(void **state)
{
	const char *path = ms_scratch_path("known_agents");
	uint8_t got[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_trust_agent(path, "*.memscan.svc:7777", ms_pubs[0], err, sizeof(err)), 0);
	assert_int_equal(keyfile_trust_agent(path, "node-?.lab:7777", ms_pubs[2], err, sizeof(err)), 0);
	assert_int_equal(keyfile_trust_agent(path, "pod-b.memscan.svc:7777", ms_pubs[1], err, sizeof(err)),
	                 0);
	assert_int_equal(keyfile_known_agent(path, "pod-a.memscan.svc:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[0], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "x.y.MEMSCAN.svc:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[0], KEYFILE_KEY_LEN);
	/* the exact pin comes after the pattern in the file and still wins */
	assert_int_equal(keyfile_known_agent(path, "pod-b.memscan.svc:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "node-3.lab:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[2], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "node-12.lab:7777", got, err, sizeof(err)), -ENOENT);
	assert_int_equal(keyfile_known_agent(path, "pod-a.memscan.svc:7778", got, err, sizeof(err)), -ENOENT);
	assert_int_equal(keyfile_known_agent(path, "memscan.svc:7777", got, err, sizeof(err)), -ENOENT);
	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:7777", got, err, sizeof(err)), -ENOENT);
	/* a pattern is replaced as a line of its own */
	assert_int_equal(keyfile_trust_agent(path, "*.memscan.svc:7777", ms_pubs[2], err, sizeof(err)), 0);
	assert_int_equal(keyfile_known_agent(path, "pod-a.memscan.svc:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, ms_pubs[2], KEYFILE_KEY_LEN);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, ms_scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_known_agents_trust_and_replace),
		T(test_known_agents_keeps_other_lines_verbatim),
		T(test_known_agents_first_match_and_errors),
		T(test_known_agents_bad_hostport),
		T(test_known_agents_patterns),
	};

	return cmocka_run_group_tests(tests, ms_keys_group_setup, NULL);
}
