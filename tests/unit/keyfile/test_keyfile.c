/* SPDX-License-Identifier: MIT */
/* Key pairs and their files (proto/keyfile.c): generation, strict parsing, permissions, public key
 * lines, fingerprints, default paths. authorized_keys and known_agents: keyfile_authorized/, keyfile_known/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "chan.h"
#include "keyfile.h"
#include "keyutil.h"

static char err[512];

static int setup(void **state)
{
	err[0] = '\0';
	return ms_scratch_setup(state);
}

static int load_priv(const char *path, uint8_t pub[KEYFILE_KEY_LEN])
{
	uint8_t *priv = sodium_malloc(KEYFILE_KEY_LEN);
	int rc;

	assert_non_null(priv);
	rc = keyfile_load_private(path, priv, pub, err, sizeof(err));
	sodium_free(priv);
	return rc;
}

/* ---- generate / load ---- */

static void test_generate_then_load(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], loaded[KEYFILE_KEY_LEN], derived[KEYFILE_KEY_LEN];
	uint8_t *priv = sodium_malloc(KEYFILE_KEY_LEN);
	const char *key = ms_scratch_path("id"), *pubfile = ms_scratch_path("id.pub");
	char expect[256], b64[MS_KEY_B64_LEN + 1];

	(void)state;
	assert_non_null(priv);
	assert_int_equal(keyfile_generate(key, "alice@test box", pub, err, sizeof(err)), 0);
	assert_false(sodium_is_zero(pub, sizeof(pub)));
	assert_int_equal(keyfile_load_private(key, priv, loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded, pub, sizeof(pub));
	crypto_scalarmult_base(derived, priv);
	assert_memory_equal(derived, pub, sizeof(pub));
	sodium_free(priv);

	sodium_bin2base64(b64, sizeof(b64), pub, sizeof(pub), sodium_base64_VARIANT_ORIGINAL);
	snprintf(expect, sizeof(expect), "memscan-x25519 %s alice@test box\n", b64);
	assert_string_equal(ms_slurp(pubfile), expect);
	memset(loaded, 0, sizeof(loaded));
	assert_int_equal(keyfile_load_public(pubfile, loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded, pub, sizeof(pub));

	/* the private file is exactly one line: prefix, space, 44 base64 characters, newline */
	assert_int_equal(strlen(ms_slurp(key)), strlen(KEYFILE_PRIV_PREFIX) + 1 + MS_KEY_B64_LEN + 1);
	assert_int_equal(strncmp(ms_slurp(key), KEYFILE_PRIV_PREFIX " ", strlen(KEYFILE_PRIV_PREFIX) + 1), 0);
}

static void test_generate_modes_ignore_umask(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("a"), "a", pub, err, sizeof(err)), 0);
	umask(077);
	assert_int_equal(keyfile_generate(ms_scratch_path("b"), "b", pub, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(ms_mode_of(ms_scratch_path("a")), 0600);
	assert_int_equal(ms_mode_of(ms_scratch_path("a.pub")), 0644);
	assert_int_equal(ms_mode_of(ms_scratch_path("b")), 0600);
	assert_int_equal(ms_mode_of(ms_scratch_path("b.pub")), 0644);
}

/* The key's directory and its missing parents are created, 0700 whatever the umask. */
static void test_generate_creates_directory(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], loaded[KEYFILE_KEY_LEN];
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("new/sub/id"), "x", pub, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(ms_mode_of(ms_scratch_path("new")), 0700);
	assert_int_equal(ms_mode_of(ms_scratch_path("new/sub")), 0700);
	assert_int_equal(ms_mode_of(ms_scratch_path("new/sub/id")), 0600);
	assert_int_equal(keyfile_load_public(ms_scratch_path("new/sub/id.pub"), loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded, pub, sizeof(pub));
	/* an existing directory is used as it is */
	assert_int_equal(keyfile_generate(ms_scratch_path("new/sub/id2"), "x", pub, err, sizeof(err)), 0);
	/* a file where a directory should be: the reason names it */
	ms_write_str(ms_scratch_path("file"), "x\n", 0600);
	assert_true(keyfile_generate(ms_scratch_path("file/id"), "x", pub, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "file"));
}

static void test_generate_default_comment(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], parsed[KEYFILE_KEY_LEN];
	char line[512];
	size_t off = 0, n;

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), NULL, pub, err, sizeof(err)), 0);
	n = (size_t)snprintf(line, sizeof(line), "%s", ms_slurp(ms_scratch_path("id.pub")));
	assert_true(n > 1 && line[n - 1] == '\n');
	line[n - 1] = '\0';
	assert_int_equal(keyfile_parse_public(line, parsed, &off), 0);
	assert_memory_equal(parsed, pub, sizeof(pub));
	assert_true(off < n - 1);
	assert_non_null(strchr(line + off, '@'));
}

static void test_generate_never_overwrites(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	char before_key[256], before_pub[256];

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "first", pub, err, sizeof(err)), 0);
	snprintf(before_key, sizeof(before_key), "%s", ms_slurp(ms_scratch_path("id")));
	snprintf(before_pub, sizeof(before_pub), "%s", ms_slurp(ms_scratch_path("id.pub")));
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "second", pub, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_string_equal(ms_slurp(ms_scratch_path("id")), before_key);
	assert_string_equal(ms_slurp(ms_scratch_path("id.pub")), before_pub);
}

static void test_generate_existing_pub_leaves_nothing(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	ms_write_str(ms_scratch_path("id.pub"), "someone else's\n", 0644);
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "x", pub, err, sizeof(err)), -EEXIST);
	assert_false(ms_exists(ms_scratch_path("id")));
	assert_string_equal(ms_slurp(ms_scratch_path("id.pub")), "someone else's\n");
}

static void test_generate_refuses_symlink(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	ms_write_str(ms_scratch_path("target"), "precious\n", 0600);
	assert_int_equal(symlink(ms_scratch_path("target"), ms_scratch_path("id")), 0);
	assert_true(keyfile_generate(ms_scratch_path("id"), "x", pub, err, sizeof(err)) < 0);
	assert_string_equal(ms_slurp(ms_scratch_path("target")), "precious\n");
	assert_false(ms_exists(ms_scratch_path("id.pub")));
	/* a dangling link must not be followed either */
	assert_int_equal(symlink(ms_scratch_path("nowhere"), ms_scratch_path("id2")), 0);
	assert_true(keyfile_generate(ms_scratch_path("id2"), "x", pub, err, sizeof(err)) < 0);
	assert_false(ms_exists(ms_scratch_path("nowhere")));
}

static void test_generate_bad_comment(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "two\nlines", pub, err, sizeof(err)),
	                 -EINVAL);
	assert_false(ms_exists(ms_scratch_path("id")));
	assert_false(ms_exists(ms_scratch_path("id.pub")));
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), " leading", pub, err, sizeof(err)), -EINVAL);
	/* an empty comment means none */
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "", pub, err, sizeof(err)), 0);
	assert_int_equal(strlen(ms_slurp(ms_scratch_path("id.pub"))),
	                 strlen(KEYFILE_PUB_PREFIX) + 1 + MS_KEY_B64_LEN + 1);
}

/* ---- private key permissions and shape ---- */

static void test_private_mode_refused(void **state)
{
	static const mode_t bad[] = { 0640, 0604, 0660, 0602, 0620, 0601, 0700 | 0004 };
	uint8_t pub[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];
	char want[64];

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "x", pub, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(ms_scratch_path("id"), bad[i]), 0);
		assert_int_equal(load_priv(ms_scratch_path("id"), got), -EPERM);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)bad[i]);
		assert_non_null(strstr(err, want));
		assert_non_null(strstr(err, "chmod 600"));
		assert_non_null(strstr(err, ms_scratch_path("id")));
	}
	assert_int_equal(chmod(ms_scratch_path("id"), 0400), 0);
	assert_int_equal(load_priv(ms_scratch_path("id"), got), 0);
	assert_memory_equal(got, pub, sizeof(pub));
}

static void test_private_symlink_and_non_regular_refused(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_generate(ms_scratch_path("id"), "x", pub, err, sizeof(err)), 0);
	assert_int_equal(symlink(ms_scratch_path("id"), ms_scratch_path("link")), 0);
	assert_int_equal(load_priv(ms_scratch_path("link"), got), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(load_priv(ms_scratch_path("id"), got), 0);

	assert_int_equal(mkdir(ms_scratch_path("d"), 0700), 0);
	assert_int_equal(load_priv(ms_scratch_path("d"), got), -EINVAL);
	assert_non_null(strstr(err, "regular file"));
	/* a FIFO must be refused without blocking on open */
	assert_int_equal(mkfifo(ms_scratch_path("fifo"), 0600), 0);
	assert_int_equal(load_priv(ms_scratch_path("fifo"), got), -EINVAL);
	assert_int_equal(load_priv(ms_scratch_path("missing"), got), -ENOENT);
}

static void test_private_malformed(void **state)
{
	char good[MS_KEY_B64_LEN + 1], wrong[MS_KEY_B64_LEN + 1], nonc[MS_KEY_B64_LEN + 1];
	const char *zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t got[KEYFILE_KEY_LEN];
	char cases[16][256];
	size_t n = 0;

	(void)state;
	snprintf(good, sizeof(good), "%s", ms_b64s[0]);
	snprintf(nonc, sizeof(nonc), "%s", ms_b64s[0]);
	nonc[42] = alphabet[(strchr(alphabet, nonc[42]) - alphabet) | 1]; /* nonzero unused bits */
	snprintf(wrong, sizeof(wrong), "%.43s", good);
	snprintf(cases[n++], 256, "memscan-x25519 %s\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private  %s\n", good);
	snprintf(cases[n++], 256, " memscan-x25519-private %s\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\n", wrong);
	snprintf(cases[n++], 256, "memscan-x25519-private %sAAAA\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s x\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\n\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\nmemscan-x25519-private %s\n", good, good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\r\n", good);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\n", nonc);
	snprintf(cases[n++], 256, "memscan-x25519-private %s\n", zero);
	snprintf(cases[n++], 256, "memscan-x25519-private\n");
	snprintf(cases[n++], 256, "\n");
	snprintf(cases[n++], 256, "%s", "");
	for (size_t i = 0; i < n; i++) {
		ms_write_str(ms_scratch_path("k"), cases[i], 0600);
		err[0] = '\0';
		assert_int_equal(load_priv(ms_scratch_path("k"), got), -EINVAL);
		assert_non_null(strstr(err, ms_scratch_path("k")));
	}
	snprintf(cases[0], 256, "memscan-x25519-private %s\n#\n", good);
	ms_write_str(ms_scratch_path("k"), cases[0], 0600);
	assert_int_equal(load_priv(ms_scratch_path("k"), got), -EINVAL);
	assert_non_null(strstr(err, "more than one line"));
	/* controls: the same key is fine with or without the final newline */
	snprintf(cases[0], 256, "memscan-x25519-private %s\n", good);
	ms_write_str(ms_scratch_path("k"), cases[0], 0600);
	assert_int_equal(load_priv(ms_scratch_path("k"), got), 0);
	snprintf(cases[0], 256, "memscan-x25519-private %s", good);
	ms_write_str(ms_scratch_path("k"), cases[0], 0600);
	assert_int_equal(load_priv(ms_scratch_path("k"), got), 0);
}

static void test_private_too_large(void **state)
{
	char *big = malloc(KEYFILE_LINE_MAX + 2);
	uint8_t got[KEYFILE_KEY_LEN];

	(void)state;
	assert_non_null(big);
	memset(big, 'A', KEYFILE_LINE_MAX + 1);
	ms_write_file(ms_scratch_path("k"), big, KEYFILE_LINE_MAX + 1, 0600);
	free(big);
	assert_int_equal(load_priv(ms_scratch_path("k"), got), -EINVAL);
	assert_non_null(strstr(err, "larger"));
}

/* ---- public lines ---- */

static void test_parse_public_edges(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	char line[256], ok_nc[128], ok_c[128];
	size_t off = 99;
	const char *bad_tmpl[] = {
		"memscan-x25519  @K",        "memscan-x25519 @K  two spaces",
		"memscan-x25519 @K ",        "memscan-x25519\t@K",
		"memscan-x25519 @K\tc",      " memscan-x25519 @K",
		"memscan-x25519 @K\n",       "memscan-ed25519 @K",
		"memscan-x25519 @KAAAA",     "memscan-x25519 @K bell\a",
		"memscan-x25519-private @K", "MEMSCAN-X25519 @K",
		"memscan-x25519 @K\r",       "memscan-x25519 =@K",
	};

	(void)state;
	snprintf(ok_nc, sizeof(ok_nc), "memscan-x25519 %s", ms_b64s[1]);
	assert_int_equal(keyfile_parse_public(ok_nc, pub, &off), 0);
	assert_memory_equal(pub, ms_pubs[1], sizeof(pub));
	assert_int_equal(off, strlen(ok_nc));
	snprintf(ok_c, sizeof(ok_c), "memscan-x25519 %s bob at home \xc3\xa9\tok", ms_b64s[1]);
	assert_int_equal(keyfile_parse_public(ok_c, pub, &off), 0);
	assert_string_equal(ok_c + off, "bob at home \xc3\xa9\tok");
	assert_int_equal(keyfile_parse_public(ok_c, pub, NULL), 0);

	for (size_t i = 0; i < sizeof(bad_tmpl) / sizeof(bad_tmpl[0]); i++) {
		ms_key_subst(line, sizeof(line), bad_tmpl[i], ms_b64s[1]);
		assert_int_equal(keyfile_parse_public(line, pub, NULL), -EINVAL);
	}
	snprintf(line, sizeof(line), "memscan-x25519 %.43s", ms_b64s[1]);
	assert_int_equal(keyfile_parse_public(line, pub, NULL), -EINVAL);
	assert_int_equal(keyfile_parse_public("memscan-x25519", pub, NULL), -EINVAL);
	assert_int_equal(keyfile_parse_public("memscan-x25519 ", pub, NULL), -EINVAL);
	assert_int_equal(keyfile_parse_public("", pub, NULL), -EINVAL);
}

static void test_parse_public_refuses_weak_keys(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	/* zero and u=1 are points of small order; any shared secret with them is predictable */
	assert_int_equal(
	    keyfile_parse_public("memscan-x25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pub, NULL),
	    -EINVAL);
	assert_int_equal(
	    keyfile_parse_public("memscan-x25519 AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pub, NULL),
	    -EINVAL);
	/* an ordinary point (bytes 0..31) passes */
	assert_int_equal(
	    keyfile_parse_public("memscan-x25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", pub, NULL),
	    0);
	assert_int_equal(pub[31], 31);
}

static void test_load_public_file(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	char text[256];

	(void)state;
	snprintf(text, sizeof(text), "memscan-x25519 %s c\n", ms_b64s[2]);
	ms_write_str(ms_scratch_path("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(ms_scratch_path("p.pub"), pub, err, sizeof(err)), 0);
	assert_memory_equal(pub, ms_pubs[2], sizeof(pub));
	snprintf(text, sizeof(text), "memscan-x25519 %s", ms_b64s[2]);
	ms_write_str(ms_scratch_path("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(ms_scratch_path("p.pub"), pub, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "memscan-x25519 %s\nmemscan-x25519 %s\n", ms_b64s[2], ms_b64s[1]);
	ms_write_str(ms_scratch_path("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(ms_scratch_path("p.pub"), pub, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "p.pub"));
	ms_write_file(ms_scratch_path("p.pub"), "memscan-x25519 \0", 16, 0644);
	assert_int_equal(keyfile_load_public(ms_scratch_path("p.pub"), pub, err, sizeof(err)), -EINVAL);
}

static void test_format_public_round_trip(void **state)
{
	char out[KEYFILE_LINE_MAX], expect[128];
	uint8_t back[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_format_public(ms_pubs[0], out, sizeof(out)), 0);
	snprintf(expect, sizeof(expect), "memscan-x25519 %s", ms_b64s[0]);
	assert_string_equal(out, expect);
	assert_int_equal(keyfile_parse_public(out, back, NULL), 0);
	assert_memory_equal(back, ms_pubs[0], sizeof(back));
	/* exactly enough room works, one byte less does not */
	assert_int_equal(keyfile_format_public(ms_pubs[0], out, strlen(expect) + 1), 0);
	assert_int_equal(keyfile_format_public(ms_pubs[0], out, strlen(expect)), -ERANGE);
}

static void test_fingerprint(void **state)
{
	uint8_t zero[KEYFILE_KEY_LEN] = { 0 }, seq[KEYFILE_KEY_LEN];
	char fp[KEYFILE_FINGERPRINT_LEN], again[KEYFILE_FINGERPRINT_LEN];

	(void)state;
	for (int i = 0; i < KEYFILE_KEY_LEN; i++)
		seq[i] = (uint8_t)i;
	/* expected values computed independently (Python hashlib + base64) */
	keyfile_fingerprint(zero, fp);
	assert_string_equal(fp, "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU");
	keyfile_fingerprint(seq, fp);
	assert_string_equal(fp, "SHA256:Yw3NKWbEM2aRElRIu7JbT/QSpJxzLbLIq8G4WBvXEN0");
	assert_int_equal(strlen(fp), 7 + 43);

	keyfile_fingerprint(ms_pubs[0], fp);
	keyfile_fingerprint(ms_pubs[0], again);
	assert_string_equal(fp, again);
	assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
	assert_int_equal(strlen(fp), 50);
	assert_null(strchr(fp, '='));
	keyfile_fingerprint(ms_pubs[1], again);
	assert_string_not_equal(fp, again);
}

/* ---- default paths ---- */

static void test_default_paths(void **state)
{
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
	char out[256];

	(void)state;
	setenv("HOME", "/home/tester", 1);
	setenv("XDG_CONFIG_HOME", "/xdg/cfg", 1);
	assert_int_equal(keyfile_default_identity(out, sizeof(out)), 0);
	assert_string_equal(out, "/xdg/cfg/memscan/id_x25519");
	assert_int_equal(keyfile_default_known_agents(out, sizeof(out)), 0);
	assert_string_equal(out, "/xdg/cfg/memscan/known_agents");
	assert_int_equal(keyfile_default_identity(out, 10), -ENAMETOOLONG);

	setenv("XDG_CONFIG_HOME", "relative/cfg", 1); /* not absolute: ignored, as the XDG spec says */
	assert_int_equal(keyfile_default_identity(out, sizeof(out)), 0);
	assert_string_equal(out, "/home/tester/.config/memscan/id_x25519");
	unsetenv("XDG_CONFIG_HOME");
	assert_int_equal(keyfile_default_known_agents(out, sizeof(out)), 0);
	assert_string_equal(out, "/home/tester/.config/memscan/known_agents");
	unsetenv("HOME");
	assert_int_equal(keyfile_default_identity(out, sizeof(out)), -ENOENT);
	assert_int_equal(keyfile_default_known_agents(out, sizeof(out)), -ENOENT);

	if (old_home)
		setenv("HOME", old_home, 1);
	if (old_xdg)
		setenv("XDG_CONFIG_HOME", old_xdg, 1);
	free(old_home);
	free(old_xdg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, ms_scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_generate_then_load),
		T(test_generate_modes_ignore_umask),
		T(test_generate_creates_directory),
		T(test_generate_default_comment),
		T(test_generate_never_overwrites),
		T(test_generate_existing_pub_leaves_nothing),
		T(test_generate_refuses_symlink),
		T(test_generate_bad_comment),
		T(test_private_mode_refused),
		T(test_private_symlink_and_non_regular_refused),
		T(test_private_malformed),
		T(test_private_too_large),
		T(test_parse_public_edges),
		T(test_parse_public_refuses_weak_keys),
		T(test_load_public_file),
		T(test_format_public_round_trip),
		T(test_fingerprint),
		T(test_default_paths),
	};

	return cmocka_run_group_tests(tests, ms_keys_group_setup, NULL);
}
