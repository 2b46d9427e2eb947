/* SPDX-License-Identifier: MIT */
/* authorized_keys exe= option: parsing (absolute patterns, limits, repeats) and matching. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keyfile.h"
#include "testutil.h"

static char key_b64[64];

static int group_setup(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], priv[KEYFILE_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_box_keypair(pub, priv);
	sodium_bin2base64(key_b64, sizeof(key_b64), pub, sizeof(pub), sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Parses one line "OPTIONS memscan-x25519 KEY c": 0 with the entry in *RET, or the error. */
static int parse_line(const char *options, keyfile_auth *ret, char *err, size_t err_len)
{
	char text[2048];
	keyfile_auth *list = NULL;
	size_t count = 0;
	int rc;

	snprintf(text, sizeof(text), "%s " KEYFILE_PUB_PREFIX " %s c\n", options, key_b64);
	rc = keyfile_parse_authorized(text, strlen(text), &list, &count, err, err_len);
	if (rc == 0) {
		assert_int_equal(count, 1);
		*ret = list[0];
	}
	free(list);
	return rc;
}

static void test_exe_parsed(void **state)
{
	keyfile_auth a;
	char err[512];

	(void)state;
	assert_int_equal(parse_line("perms=read exe=/usr/games/*", &a, err, sizeof(err)), 0);
	assert_string_equal(a.exe, "/usr/games/*");
	assert_int_equal(parse_line("exe=/opt/a/bin/*,/usr/bin/game uids=1000-1999", &a, err, sizeof(err)),
	                 0);
	assert_string_equal(a.exe, "/opt/a/bin/*,/usr/bin/game");
	/* without exe=: any executable */
	assert_int_equal(parse_line("perms=read", &a, err, sizeof(err)), 0);
	assert_string_equal(a.exe, "");
}

static void test_exe_refused(void **state)
{
	static const char *const bad[] = {
		"exe=",           /* empty */
		"exe=games/*",    /* relative */
		"exe=/a,,/b",     /* an empty pattern */
		"exe=/a,",        /* a trailing comma */
		"exe=/a exe=/b",  /* repeated */
		"exe=*/bin/game", /* does not start at / */
	};
	char long_opt[KEYFILE_EXE_MAX + 16];
	keyfile_auth a;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_line(bad[i], &a, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, "exe="));
	}
	memset(long_opt, 'a', sizeof(long_opt) - 1);
	memcpy(long_opt, "exe=/", 5);
	long_opt[sizeof(long_opt) - 1] = '\0';
	assert_int_equal(parse_line(long_opt, &a, err, sizeof(err)), -EINVAL);
}

static void test_exe_matching(void **state)
{
	(void)state;
	assert_true(keyfile_exe_allowed("", "/anything/at/all"));
	assert_true(keyfile_exe_allowed("/usr/games/*", "/usr/games/tetris"));
	/* '*' stays within one directory */
	assert_false(keyfile_exe_allowed("/usr/games/*", "/usr/games/sub/tetris"));
	assert_false(keyfile_exe_allowed("/usr/games/*", "/usr/bin/tetris"));
	assert_true(keyfile_exe_allowed("/opt/x,/usr/games/*", "/usr/games/tetris"));
	assert_true(keyfile_exe_allowed("/opt/x,/usr/games/*", "/opt/x"));
	assert_false(keyfile_exe_allowed("/opt/x,/usr/games/*", "/opt/xy"));
	/* a deleted executable is named "PATH (deleted)": no longer the file the key was meant for */
	assert_false(keyfile_exe_allowed("/usr/games/tetris", "/usr/games/tetris (deleted)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exe_parsed),
		cmocka_unit_test(test_exe_refused),
		cmocka_unit_test(test_exe_matching),
	};

	return cmocka_run_group_tests_name("keyfile_exe", tests, group_setup, NULL);
}
