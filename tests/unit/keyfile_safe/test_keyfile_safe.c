/* SPDX-License-Identifier: MIT */
/* Key file path safety: owners and modes of key files and of every directory above them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"
#include "keyutil.h"

/* Someone else: the uid the tests give files and directories they should not trust. */
#define OTHER_UID 1000

static char err[1024];

static int setup(void **state)
{
	err[0] = '\0';
	return ms_scratch_setup(state);
}

/* Makes DIR/NAME a directory with exactly MODE. */
static void make_dir(const char *name, mode_t mode)
{
	assert_int_equal(mkdir(ms_scratch_path(name), 0700), 0);
	assert_int_equal(chmod(ms_scratch_path(name), mode), 0);
}

/* The three kinds of trusted file in DIR/SUB: a private key "id", "authorized_keys" and "known_agents"
 * (which trusts 127.0.0.1:7777), each 0600 and owned by this process. */
static void make_files(const char *sub)
{
	char path[4400], text[200];
	uint8_t got[KEYFILE_KEY_LEN];
	FILE *f;

	snprintf(path, sizeof(path), "%s/id", ms_scratch_path(sub));
	assert_int_equal(keyfile_generate(path, "t", got, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/authorized_keys", ms_scratch_path(sub));
	snprintf(text, sizeof(text), "perms=list memscan-x25519 %s\n", ms_b64s[0]);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/known_agents", ms_scratch_path(sub));
	assert_int_equal(keyfile_trust_agent(path, "127.0.0.1:7777", ms_pubs[0], err, sizeof(err)), 0);
}

/* Loads DIR/SUB/NAME as what it is; the result, with ERR set on failure. */
static int load(const char *sub, const char *name)
{
	uint8_t priv[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];
	keyfile_auth *list = NULL;
	char path[4400];
	size_t count = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", ms_scratch_path(sub), name);
	err[0] = '\0';
	if (strcmp(name, "id") == 0)
		return keyfile_load_private(path, priv, got, err, sizeof(err));
	if (strcmp(name, "known_agents") == 0)
		return keyfile_known_agent(path, "127.0.0.1:7777", got, err, sizeof(err));
	rc = keyfile_load_authorized(path, &list, &count, err, sizeof(err));
	free(list);
	return rc;
}

static const char *const names[] = { "id", "authorized_keys", "known_agents" };

/* All three files of DIR/SUB load. */
static void expect_all_load(const char *sub)
{
	for (size_t i = 0; i < 3; i++) {
		if (load(sub, names[i]) != 0)
			fail_msg("%s/%s: %s", sub, names[i], err);
	}
}

/* All three files of DIR/SUB are refused with -EPERM and a message holding NEEDLE and FIX. */
static void expect_all_refused(const char *sub, const char *needle, const char *fix)
{
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(load(sub, names[i]), -EPERM);
		if (!strstr(err, needle) || !strstr(err, fix) || !strstr(err, names[i]))
			fail_msg("%s: message lacks '%s' or '%s': %s", names[i], needle, fix, err);
	}
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* giving a file to someone else needs root */
}

static void test_safe_private_dir_accepted(void **state)
{
	(void)state;
	make_dir("ok", 0700);
	make_files("ok");
	expect_all_load("ok");
	/* a directory others may read and enter, but not write, is fine too */
	assert_int_equal(chmod(ms_scratch_path("ok"), 0755), 0);
	expect_all_load("ok");
}

static void test_safe_file_owner_refused(void **state)
{
	char path[4400], fix[64];

	(void)state;
	need_root();
	make_dir("d", 0700);
	make_files("d");
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", ms_scratch_path("d"), names[i]);
		assert_int_equal(chown(path, OTHER_UID, (gid_t)-1), 0);
	}
	snprintf(fix, sizeof(fix), "chown root %s/", ms_scratch_path("d"));
	expect_all_refused("d", "owned by uid 1000", fix);
}

static void test_safe_writable_dir_refused(void **state)
{
	const mode_t bad[] = { 0777, 0770, 0707, 0720, 0702 };
	char needle[64], fix[4400];

	(void)state;
	make_dir("d", 0700);
	make_files("d");
	snprintf(fix, sizeof(fix), "chmod go-w %s", ms_scratch_path("d"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(ms_scratch_path("d"), bad[i]), 0);
		snprintf(needle, sizeof(needle), "mode %04o", (unsigned)bad[i]);
		expect_all_refused("d", needle, fix);
	}
}

static void test_safe_ancestor_checked(void **state)
{
	char fix[4400];

	(void)state;
	make_dir("up", 0700);
	make_dir("up/mid", 0700);
	make_dir("up/mid/d", 0700);
	make_files("up/mid/d");
	/* the file's own directory is private, but one above it is open to all */
	assert_int_equal(chmod(ms_scratch_path("up"), 0777), 0);
	snprintf(fix, sizeof(fix), "chmod go-w %s", ms_scratch_path("up"));
	expect_all_refused("up/mid/d", "mode 0777", fix);
	assert_int_equal(chmod(ms_scratch_path("up"), 0711), 0);
	expect_all_load("up/mid/d");
}

static void test_safe_sticky_dir_accepted(void **state)
{
	(void)state;
	/* like /tmp: others may create entries but not rename or delete ours */
	make_dir("sticky", 01777);
	make_files("sticky");
	expect_all_load("sticky");
	make_dir("sticky/inner", 0700);
	make_files("sticky/inner");
	expect_all_load("sticky/inner");
}

static void test_safe_dir_owner_refused(void **state)
{
	char fix[4400];

	(void)state;
	need_root();
	make_dir("d", 0755);
	make_files("d");
	assert_int_equal(chown(ms_scratch_path("d"), OTHER_UID, (gid_t)-1), 0);
	snprintf(fix, sizeof(fix), "chown root %s", ms_scratch_path("d"));
	expect_all_refused("d", "owned by uid 1000", fix);
	/* sticky does not help when someone else owns the directory: its owner may still swap entries */
	assert_int_equal(chmod(ms_scratch_path("d"), 01777), 0);
	expect_all_refused("d", "owned by uid 1000", fix);
}

static void test_safe_symlinked_dir_resolved(void **state)
{
	char fix[4400];

	(void)state;
	make_dir("real", 0700);
	make_files("real");
	assert_int_equal(symlink(ms_scratch_path("real"), ms_scratch_path("link")), 0);
	expect_all_load("link");
	/* the directories checked are the ones the file really lies in, not the link's */
	assert_int_equal(chmod(ms_scratch_path("real"), 0777), 0);
	snprintf(fix, sizeof(fix), "chmod go-w %s", ms_scratch_path("real"));
	expect_all_refused("link", "mode 0777", fix);
}

static void test_safe_relative_path(void **state)
{
	uint8_t priv[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int rc_ok, rc_bad;

	(void)state;
	assert_true(cwd >= 0);
	make_dir("d", 0700);
	make_files("d");
	assert_int_equal(chdir(ms_scratch_path("d")), 0);
	rc_ok = keyfile_load_private("id", priv, got, err, sizeof(err));
	assert_int_equal(chmod(".", 0777), 0);
	rc_bad = keyfile_load_private("id", priv, got, err, sizeof(err));
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	assert_int_equal(rc_ok, 0);
	assert_int_equal(rc_bad, -EPERM);
	assert_non_null(strstr(err, ms_scratch_path("d")));
}

static void test_safe_trust_refuses_writable_dir(void **state)
{
	char path[4400];

	(void)state;
	make_dir("open", 0777);
	snprintf(path, sizeof(path), "%s/known_agents", ms_scratch_path("open"));
	assert_int_equal(keyfile_trust_agent(path, "127.0.0.1:7777", ms_pubs[0], err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod go-w"));
	assert_int_equal(access(path, F_OK), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, ms_scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_safe_private_dir_accepted),       T(test_safe_file_owner_refused),
		T(test_safe_writable_dir_refused),       T(test_safe_ancestor_checked),
		T(test_safe_sticky_dir_accepted),        T(test_safe_dir_owner_refused),
		T(test_safe_symlinked_dir_resolved),     T(test_safe_relative_path),
		T(test_safe_trust_refuses_writable_dir),
	};

	return cmocka_run_group_tests(tests, ms_keys_group_setup, NULL);
}
