/* SPDX-License-Identifier: MIT */
/* authorized_keys (proto/keyfile_authorized.c): valid lines, comments, every refused line and size, the
 * file loaded from disk. The exe= option: test_exe.c. */
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

/* ---- authorized_keys ---- */

static void test_authorized_valid(void **state)
{
	keyfile_auth *list = NULL;
	size_t count = 0;
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text),
	         "# memscan clients\n"
	         "\n"
	         "   \t\n"
	         "perms=list,read,scan uids=1000-1999 memscan-x25519 %s alice laptop\n"
	         "  # indented comment\n"
	         "\tuids=0-0   perms=scan memscan-x25519 %s\n"
	         "memscan-x25519 %s no perms at all perms=read",
	         ms_b64s[0], ms_b64s[1], ms_b64s[2]);
	assert_int_equal(keyfile_parse_authorized(text, strlen(text), &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 3);
	assert_memory_equal(list[0].pub, ms_pubs[0], KEYFILE_KEY_LEN);
	assert_int_equal(list[0].perms, CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	assert_int_equal(list[0].uid_min, 1000);
	assert_int_equal(list[0].uid_max, 1999);
	assert_string_equal(list[0].comment, "alice laptop");
	assert_memory_equal(list[1].pub, ms_pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(list[1].perms, CHAN_PERM_SCAN);
	assert_int_equal(list[1].uid_min, 0);
	assert_int_equal(list[1].uid_max, 0);
	assert_string_equal(list[1].comment, "");
	/* no options: no permission, any uid; text after the key is only a comment */
	assert_memory_equal(list[2].pub, ms_pubs[2], KEYFILE_KEY_LEN);
	assert_int_equal(list[2].perms, 0);
	assert_true(list[2].uid_min > list[2].uid_max);
	assert_string_equal(list[2].comment, "no perms at all perms=read");
	free(list);
}

static void test_authorized_comment_truncated(void **state)
{
	keyfile_auth *list = NULL;
	size_t count = 0;
	char text[1024];
	int n;

	(void)state;
	/* 125 ASCII bytes then a 3-byte character: it must not be cut in half */
	n = snprintf(text, sizeof(text), "perms=read memscan-x25519 %s %0125d\xe2\x82\xac tail\n", ms_b64s[0],
	             0);
	assert_int_equal(keyfile_parse_authorized(text, (size_t)n, &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	assert_int_equal(strlen(list[0].comment), 125);
	free(list);
}

/* TEXT has a bad line number NO (after NO - 1 good or ignorable lines): the whole file is refused. */
static void expect_rejected(const char *text, size_t len, size_t no, const char *needle)
{
	keyfile_auth *list = (keyfile_auth *)&list;
	size_t count = 42;
	char want[32];

	err[0] = '\0';
	assert_int_equal(keyfile_parse_authorized(text, len, &list, &count, err, sizeof(err)), -EINVAL);
	assert_null(list);
	assert_int_equal(count, 0);
	snprintf(want, sizeof(want), "line %zu:", no);
	if (!strstr(err, want) || (needle && !strstr(err, needle)))
		fail_msg("for %s: got error '%s', want '%s' and '%s'", text, err, want, needle ? needle : "");
}

static void test_authorized_rejects_whole_file(void **state)
{
	static const struct {
		const char *line;
		const char *needle;
	} bad[] = {
		{ "foo=1 memscan-x25519 @K", "unknown option" },
		{ "perms=read perms=scan memscan-x25519 @K", "repeated" },
		{ "uids=1-2 uids=3-4 memscan-x25519 @K", "repeated" },
		{ "perms= memscan-x25519 @K", "empty perms" },
		{ "perms=read, memscan-x25519 @K", "perms=" },
		{ "perms=,read memscan-x25519 @K", "perms=" },
		{ "perms=read,,scan memscan-x25519 @K", "perms=" },
		{ "perms=write memscan-x25519 @K", "unknown permission 'write'" },
		{ "perms=READ memscan-x25519 @K", "unknown permission" },
		{ "perms=read,read memscan-x25519 @K", "repeated" },
		{ "uids=abc-2 memscan-x25519 @K", "uids=" },
		{ "uids=5-1 memscan-x25519 @K", "minimum above maximum" },
		{ "uids=1-4294967296 memscan-x25519 @K", "uids=" },
		{ "uids=0-4294967296 memscan-x25519 @K", "uids=" },
		{ "uids=4294967296-4294967297 memscan-x25519 @K", "uids=" },
		{ "uids=1-99999999999999999999999 memscan-x25519 @K", "uids=" },
		{ "uids=-1-5 memscan-x25519 @K", "uids=" },
		{ "uids=+1-5 memscan-x25519 @K", "uids=" },
		{ "uids=1000 memscan-x25519 @K", "uids=" },
		{ "uids=1-2x memscan-x25519 @K", "uids=" },
		{ "uids=1- memscan-x25519 @K", "uids=" },
		{ "uids= 1-2 memscan-x25519 @K", "uids=" },
		{ "ssh-ed25519 @K", "unknown option or key type" },
		{ "perms=read", "no 'memscan-x25519" },
		{ "perms=read @K", "unknown option" },
		{ "memscan-x25519 @S", "bad key" },
		{ "memscan-x25519 @KAAAA", "bad key" },
		{ "memscan-x25519  @K", "bad key" },
		{ "memscan-x25519 @K\r", "carriage return" },
		{ "memscan-x25519 @K \x1b[31mred", "control character 0x1b" },
		{ "perms=read memscan-x25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "bad key" },
	};
	char text[1024], line[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms_key_subst(line, sizeof(line), bad[i].line, ms_b64s[1]);
		snprintf(text, sizeof(text), "# ok\nperms=read memscan-x25519 %s\n%s\nmemscan-x25519 %s\n",
		         ms_b64s[0], line, ms_b64s[2]);
		expect_rejected(text, strlen(text), 3, bad[i].needle);
	}
}

static void test_authorized_rejects_bytes_and_sizes(void **state)
{
	size_t big = (size_t)KEYFILE_LINES_MAX + 1, len, count = 1;
	char text[256], *buf, *line;
	keyfile_auth *list = NULL;
	int n;

	(void)state;
	/* a NUL byte in line 2 (even in a comment) */
	n = snprintf(text, sizeof(text), "memscan-x25519 %s\n# x", ms_b64s[0]);
	memcpy(text + n, "\0y\n", 3);
	expect_rejected(text, (size_t)n + 3, 2, "NUL");
	/* the same key twice: ambiguous permissions */
	n = snprintf(text, sizeof(text), "perms=read memscan-x25519 %s\n#\nperms=scan memscan-x25519 %s\n",
	             ms_b64s[0], ms_b64s[0]);
	expect_rejected(text, (size_t)n, 3, "same key as line 1");

	/* a line of KEYFILE_LINE_MAX - 1 bytes (plus newline) is fine, one more byte is not */
	line = malloc(KEYFILE_LINE_MAX + 2);
	assert_non_null(line);
	memset(line, '#', KEYFILE_LINE_MAX + 1);
	line[KEYFILE_LINE_MAX - 1] = '\n';
	assert_int_equal(keyfile_parse_authorized(line, KEYFILE_LINE_MAX, &list, &count, err, sizeof(err)),
	                 0);
	assert_int_equal(count, 0);
	line[KEYFILE_LINE_MAX - 1] = '#';
	line[KEYFILE_LINE_MAX] = '\n';
	expect_rejected(line, KEYFILE_LINE_MAX + 1, 1, "too long");
	free(line);

	/* KEYFILE_LINES_MAX lines are fine, one more is not */
	len = big * 2;
	buf = malloc(len);
	assert_non_null(buf);
	for (size_t i = 0; i < big; i++)
		memcpy(buf + 2 * i, "#\n", 2);
	assert_int_equal(keyfile_parse_authorized(buf, len - 2, &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
	expect_rejected(buf, len, big, "too many lines");
	free(buf);
}

static void test_authorized_empty(void **state)
{
	keyfile_auth *list = (keyfile_auth *)&list;
	size_t count = 7;

	(void)state;
	assert_int_equal(keyfile_parse_authorized("", 0, &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
	assert_null(list);
	count = 7;
	assert_int_equal(keyfile_parse_authorized(NULL, 0, &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
	count = 7;
	assert_int_equal(keyfile_parse_authorized("# nobody\n\n", 10, &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
	ms_write_str(ms_scratch_path("authorized_keys"), "", 0600);
	count = 7;
	assert_int_equal(
	    keyfile_load_authorized(ms_scratch_path("authorized_keys"), &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 0);
}

static void test_load_authorized_file(void **state)
{
	keyfile_auth *list = NULL;
	size_t count = 0;
	char text[256];

	(void)state;
	snprintf(text, sizeof(text), "perms=list memscan-x25519 %s\n", ms_b64s[0]);
	ms_write_str(ms_scratch_path("ak"), text, 0644);
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("ak"), &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	assert_int_equal(list[0].perms, CHAN_PERM_LIST);
	free(list);
	list = NULL;

	assert_int_equal(chmod(ms_scratch_path("ak"), 0664), 0);
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("ak"), &list, &count, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "0664"));
	assert_null(list);
	assert_int_equal(chmod(ms_scratch_path("ak"), 0646), 0);
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("ak"), &list, &count, err, sizeof(err)),
	                 -EPERM);
	assert_int_equal(chmod(ms_scratch_path("ak"), 0600), 0);
	assert_int_equal(symlink(ms_scratch_path("ak"), ms_scratch_path("ak-link")), 0);
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("ak-link"), &list, &count, err, sizeof(err)),
	                 -ELOOP);

	/* parse errors from a file name the file and the line */
	snprintf(text, sizeof(text), "\nperms=lsit memscan-x25519 %s\n", ms_b64s[0]);
	ms_write_str(ms_scratch_path("ak"), text, 0600);
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("ak"), &list, &count, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, ms_scratch_path("ak")));
	assert_non_null(strstr(err, "line 2:"));
	assert_int_equal(keyfile_load_authorized(ms_scratch_path("none"), &list, &count, err, sizeof(err)),
	                 -ENOENT);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, ms_scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_authorized_valid),
		T(test_authorized_comment_truncated),
		T(test_authorized_rejects_whole_file),
		T(test_authorized_rejects_bytes_and_sizes),
		T(test_authorized_empty),
		T(test_load_authorized_file),
	};

	return cmocka_run_group_tests(tests, ms_keys_group_setup, NULL);
}
