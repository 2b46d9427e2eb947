/* SPDX-License-Identifier: MIT */
/* Key files: generation, strict parsing, permissions, authorized_keys, known_agents, default paths. */
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
#include "testutil.h"

#define B64_LEN 44

/* Three valid public keys and their base64, made once. */
static uint8_t pubs[3][KEYFILE_KEY_LEN];
static char b64s[3][B64_LEN + 1];
/* The scratch directory of the running test. */
static char dir[4096];
static char err[512];

static int group_setup(void **state)
{
	uint8_t priv[KEYFILE_KEY_LEN];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		crypto_box_keypair(pubs[i], priv);
		sodium_bin2base64(b64s[i], sizeof(b64s[i]), pubs[i], KEYFILE_KEY_LEN,
		                  sodium_base64_VARIANT_ORIGINAL);
	}
	sodium_memzero(priv, sizeof(priv));
	return 0;
}

static int setup(void **state)
{
	const char *d = ms_tmpdir();

	(void)state;
	if (!d || snprintf(dir, sizeof(dir), "%s", d) >= (int)sizeof(dir))
		return -1;
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ms_tmpdir_remove(dir);
	return 0;
}

/* DIR/NAME in one of four rotating buffers. */
static const char *in_dir(const char *name)
{
	static char bufs[4][4200];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void write_str(const char *path, const char *text, mode_t mode)
{
	write_file(path, text, strlen(text), mode);
}

/* The whole file, NUL-terminated, into a static buffer. */
static const char *slurp(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* TMPL with every "@K" replaced by KEY and every "@S" by KEY without its last character, into OUT. */
static void subst(char *out, size_t len, const char *tmpl, const char *key)
{
	size_t n = 0;

	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '@' && (p[1] == 'K' || p[1] == 'S')) {
			size_t klen = strlen(key) - (p[1] == 'S');
			assert_true(n + klen < len);
			memcpy(out + n, key, klen);
			n += klen;
			p++;
			continue;
		}
		assert_true(n + 1 < len);
		out[n++] = *p;
	}
	out[n] = '\0';
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
	const char *key = in_dir("id"), *pubfile = in_dir("id.pub");
	char expect[256], b64[B64_LEN + 1];

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
	assert_string_equal(slurp(pubfile), expect);
	memset(loaded, 0, sizeof(loaded));
	assert_int_equal(keyfile_load_public(pubfile, loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded, pub, sizeof(pub));

	/* the private file is exactly one line: prefix, space, 44 base64 characters, newline */
	assert_int_equal(strlen(slurp(key)), strlen(KEYFILE_PRIV_PREFIX) + 1 + B64_LEN + 1);
	assert_int_equal(strncmp(slurp(key), KEYFILE_PRIV_PREFIX " ", strlen(KEYFILE_PRIV_PREFIX) + 1), 0);
}

static void test_generate_modes_ignore_umask(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("a"), "a", pub, err, sizeof(err)), 0);
	umask(077);
	assert_int_equal(keyfile_generate(in_dir("b"), "b", pub, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(in_dir("a")), 0600);
	assert_int_equal(mode_of(in_dir("a.pub")), 0644);
	assert_int_equal(mode_of(in_dir("b")), 0600);
	assert_int_equal(mode_of(in_dir("b.pub")), 0644);
}

/* The key's directory and its missing parents are created, 0700 whatever the umask. */
static void test_generate_creates_directory(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], loaded[KEYFILE_KEY_LEN];
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("new/sub/id"), "x", pub, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(in_dir("new")), 0700);
	assert_int_equal(mode_of(in_dir("new/sub")), 0700);
	assert_int_equal(mode_of(in_dir("new/sub/id")), 0600);
	assert_int_equal(keyfile_load_public(in_dir("new/sub/id.pub"), loaded, err, sizeof(err)), 0);
	assert_memory_equal(loaded, pub, sizeof(pub));
	/* an existing directory is used as it is */
	assert_int_equal(keyfile_generate(in_dir("new/sub/id2"), "x", pub, err, sizeof(err)), 0);
	/* a file where a directory should be: the reason names it */
	write_str(in_dir("file"), "x\n", 0600);
	assert_true(keyfile_generate(in_dir("file/id"), "x", pub, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "file"));
}

static void test_generate_default_comment(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], parsed[KEYFILE_KEY_LEN];
	char line[512];
	size_t off = 0, n;

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("id"), NULL, pub, err, sizeof(err)), 0);
	n = (size_t)snprintf(line, sizeof(line), "%s", slurp(in_dir("id.pub")));
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
	assert_int_equal(keyfile_generate(in_dir("id"), "first", pub, err, sizeof(err)), 0);
	snprintf(before_key, sizeof(before_key), "%s", slurp(in_dir("id")));
	snprintf(before_pub, sizeof(before_pub), "%s", slurp(in_dir("id.pub")));
	assert_int_equal(keyfile_generate(in_dir("id"), "second", pub, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_string_equal(slurp(in_dir("id")), before_key);
	assert_string_equal(slurp(in_dir("id.pub")), before_pub);
}

static void test_generate_existing_pub_leaves_nothing(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	write_str(in_dir("id.pub"), "someone else's\n", 0644);
	assert_int_equal(keyfile_generate(in_dir("id"), "x", pub, err, sizeof(err)), -EEXIST);
	assert_false(exists(in_dir("id")));
	assert_string_equal(slurp(in_dir("id.pub")), "someone else's\n");
}

static void test_generate_refuses_symlink(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	write_str(in_dir("target"), "precious\n", 0600);
	assert_int_equal(symlink(in_dir("target"), in_dir("id")), 0);
	assert_true(keyfile_generate(in_dir("id"), "x", pub, err, sizeof(err)) < 0);
	assert_string_equal(slurp(in_dir("target")), "precious\n");
	assert_false(exists(in_dir("id.pub")));
	/* a dangling link must not be followed either */
	assert_int_equal(symlink(in_dir("nowhere"), in_dir("id2")), 0);
	assert_true(keyfile_generate(in_dir("id2"), "x", pub, err, sizeof(err)) < 0);
	assert_false(exists(in_dir("nowhere")));
}

static void test_generate_bad_comment(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("id"), "two\nlines", pub, err, sizeof(err)), -EINVAL);
	assert_false(exists(in_dir("id")));
	assert_false(exists(in_dir("id.pub")));
	assert_int_equal(keyfile_generate(in_dir("id"), " leading", pub, err, sizeof(err)), -EINVAL);
	/* an empty comment means none */
	assert_int_equal(keyfile_generate(in_dir("id"), "", pub, err, sizeof(err)), 0);
	assert_int_equal(strlen(slurp(in_dir("id.pub"))), strlen(KEYFILE_PUB_PREFIX) + 1 + B64_LEN + 1);
}

/* ---- private key permissions and shape ---- */

static void test_private_mode_refused(void **state)
{
	static const mode_t bad[] = { 0640, 0604, 0660, 0602, 0620, 0601, 0700 | 0004 };
	uint8_t pub[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];
	char want[64];

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("id"), "x", pub, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(in_dir("id"), bad[i]), 0);
		assert_int_equal(load_priv(in_dir("id"), got), -EPERM);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)bad[i]);
		assert_non_null(strstr(err, want));
		assert_non_null(strstr(err, "chmod 600"));
		assert_non_null(strstr(err, in_dir("id")));
	}
	assert_int_equal(chmod(in_dir("id"), 0400), 0);
	assert_int_equal(load_priv(in_dir("id"), got), 0);
	assert_memory_equal(got, pub, sizeof(pub));
}

static void test_private_symlink_and_non_regular_refused(void **state)
{
	uint8_t pub[KEYFILE_KEY_LEN], got[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_generate(in_dir("id"), "x", pub, err, sizeof(err)), 0);
	assert_int_equal(symlink(in_dir("id"), in_dir("link")), 0);
	assert_int_equal(load_priv(in_dir("link"), got), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(load_priv(in_dir("id"), got), 0);

	assert_int_equal(mkdir(in_dir("d"), 0700), 0);
	assert_int_equal(load_priv(in_dir("d"), got), -EINVAL);
	assert_non_null(strstr(err, "regular file"));
	/* a FIFO must be refused without blocking on open */
	assert_int_equal(mkfifo(in_dir("fifo"), 0600), 0);
	assert_int_equal(load_priv(in_dir("fifo"), got), -EINVAL);
	assert_int_equal(load_priv(in_dir("missing"), got), -ENOENT);
}

static void test_private_malformed(void **state)
{
	char good[B64_LEN + 1], wrong[B64_LEN + 1], nonc[B64_LEN + 1];
	const char *zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t got[KEYFILE_KEY_LEN];
	char cases[16][256];
	size_t n = 0;

	(void)state;
	snprintf(good, sizeof(good), "%s", b64s[0]);
	snprintf(nonc, sizeof(nonc), "%s", b64s[0]);
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
		write_str(in_dir("k"), cases[i], 0600);
		err[0] = '\0';
		assert_int_equal(load_priv(in_dir("k"), got), -EINVAL);
		assert_non_null(strstr(err, in_dir("k")));
	}
	snprintf(cases[0], 256, "memscan-x25519-private %s\n#\n", good);
	write_str(in_dir("k"), cases[0], 0600);
	assert_int_equal(load_priv(in_dir("k"), got), -EINVAL);
	assert_non_null(strstr(err, "more than one line"));
	/* controls: the same key is fine with or without the final newline */
	snprintf(cases[0], 256, "memscan-x25519-private %s\n", good);
	write_str(in_dir("k"), cases[0], 0600);
	assert_int_equal(load_priv(in_dir("k"), got), 0);
	snprintf(cases[0], 256, "memscan-x25519-private %s", good);
	write_str(in_dir("k"), cases[0], 0600);
	assert_int_equal(load_priv(in_dir("k"), got), 0);
}

static void test_private_too_large(void **state)
{
	char *big = malloc(KEYFILE_LINE_MAX + 2);
	uint8_t got[KEYFILE_KEY_LEN];

	(void)state;
	assert_non_null(big);
	memset(big, 'A', KEYFILE_LINE_MAX + 1);
	write_file(in_dir("k"), big, KEYFILE_LINE_MAX + 1, 0600);
	free(big);
	assert_int_equal(load_priv(in_dir("k"), got), -EINVAL);
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
	snprintf(ok_nc, sizeof(ok_nc), "memscan-x25519 %s", b64s[1]);
	assert_int_equal(keyfile_parse_public(ok_nc, pub, &off), 0);
	assert_memory_equal(pub, pubs[1], sizeof(pub));
	assert_int_equal(off, strlen(ok_nc));
	snprintf(ok_c, sizeof(ok_c), "memscan-x25519 %s bob at home \xc3\xa9\tok", b64s[1]);
	assert_int_equal(keyfile_parse_public(ok_c, pub, &off), 0);
	assert_string_equal(ok_c + off, "bob at home \xc3\xa9\tok");
	assert_int_equal(keyfile_parse_public(ok_c, pub, NULL), 0);

	for (size_t i = 0; i < sizeof(bad_tmpl) / sizeof(bad_tmpl[0]); i++) {
		subst(line, sizeof(line), bad_tmpl[i], b64s[1]);
		assert_int_equal(keyfile_parse_public(line, pub, NULL), -EINVAL);
	}
	snprintf(line, sizeof(line), "memscan-x25519 %.43s", b64s[1]);
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
	snprintf(text, sizeof(text), "memscan-x25519 %s c\n", b64s[2]);
	write_str(in_dir("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(in_dir("p.pub"), pub, err, sizeof(err)), 0);
	assert_memory_equal(pub, pubs[2], sizeof(pub));
	snprintf(text, sizeof(text), "memscan-x25519 %s", b64s[2]);
	write_str(in_dir("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(in_dir("p.pub"), pub, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "memscan-x25519 %s\nmemscan-x25519 %s\n", b64s[2], b64s[1]);
	write_str(in_dir("p.pub"), text, 0644);
	assert_int_equal(keyfile_load_public(in_dir("p.pub"), pub, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "p.pub"));
	write_file(in_dir("p.pub"), "memscan-x25519 \0", 16, 0644);
	assert_int_equal(keyfile_load_public(in_dir("p.pub"), pub, err, sizeof(err)), -EINVAL);
}

static void test_format_public_round_trip(void **state)
{
	char out[KEYFILE_LINE_MAX], expect[128];
	uint8_t back[KEYFILE_KEY_LEN];

	(void)state;
	assert_int_equal(keyfile_format_public(pubs[0], out, sizeof(out)), 0);
	snprintf(expect, sizeof(expect), "memscan-x25519 %s", b64s[0]);
	assert_string_equal(out, expect);
	assert_int_equal(keyfile_parse_public(out, back, NULL), 0);
	assert_memory_equal(back, pubs[0], sizeof(back));
	/* exactly enough room works, one byte less does not */
	assert_int_equal(keyfile_format_public(pubs[0], out, strlen(expect) + 1), 0);
	assert_int_equal(keyfile_format_public(pubs[0], out, strlen(expect)), -ERANGE);
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

	keyfile_fingerprint(pubs[0], fp);
	keyfile_fingerprint(pubs[0], again);
	assert_string_equal(fp, again);
	assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
	assert_int_equal(strlen(fp), 50);
	assert_null(strchr(fp, '='));
	keyfile_fingerprint(pubs[1], again);
	assert_string_not_equal(fp, again);
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
	         b64s[0], b64s[1], b64s[2]);
	assert_int_equal(keyfile_parse_authorized(text, strlen(text), &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 3);
	assert_memory_equal(list[0].pub, pubs[0], KEYFILE_KEY_LEN);
	assert_int_equal(list[0].perms, CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	assert_int_equal(list[0].uid_min, 1000);
	assert_int_equal(list[0].uid_max, 1999);
	assert_string_equal(list[0].comment, "alice laptop");
	assert_memory_equal(list[1].pub, pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(list[1].perms, CHAN_PERM_SCAN);
	assert_int_equal(list[1].uid_min, 0);
	assert_int_equal(list[1].uid_max, 0);
	assert_string_equal(list[1].comment, "");
	/* no options: no permission, any uid; text after the key is only a comment */
	assert_memory_equal(list[2].pub, pubs[2], KEYFILE_KEY_LEN);
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
	n = snprintf(text, sizeof(text), "perms=read memscan-x25519 %s %0125d\xe2\x82\xac tail\n", b64s[0],
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
		subst(line, sizeof(line), bad[i].line, b64s[1]);
		snprintf(text, sizeof(text), "# ok\nperms=read memscan-x25519 %s\n%s\nmemscan-x25519 %s\n",
		         b64s[0], line, b64s[2]);
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
	n = snprintf(text, sizeof(text), "memscan-x25519 %s\n# x", b64s[0]);
	memcpy(text + n, "\0y\n", 3);
	expect_rejected(text, (size_t)n + 3, 2, "NUL");
	/* the same key twice: ambiguous permissions */
	n = snprintf(text, sizeof(text), "perms=read memscan-x25519 %s\n#\nperms=scan memscan-x25519 %s\n",
	             b64s[0], b64s[0]);
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
	write_str(in_dir("authorized_keys"), "", 0600);
	count = 7;
	assert_int_equal(keyfile_load_authorized(in_dir("authorized_keys"), &list, &count, err, sizeof(err)),
	                 0);
	assert_int_equal(count, 0);
}

static void test_load_authorized_file(void **state)
{
	keyfile_auth *list = NULL;
	size_t count = 0;
	char text[256];

	(void)state;
	snprintf(text, sizeof(text), "perms=list memscan-x25519 %s\n", b64s[0]);
	write_str(in_dir("ak"), text, 0644);
	assert_int_equal(keyfile_load_authorized(in_dir("ak"), &list, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	assert_int_equal(list[0].perms, CHAN_PERM_LIST);
	free(list);
	list = NULL;

	assert_int_equal(chmod(in_dir("ak"), 0664), 0);
	assert_int_equal(keyfile_load_authorized(in_dir("ak"), &list, &count, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "0664"));
	assert_null(list);
	assert_int_equal(chmod(in_dir("ak"), 0646), 0);
	assert_int_equal(keyfile_load_authorized(in_dir("ak"), &list, &count, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(in_dir("ak"), 0600), 0);
	assert_int_equal(symlink(in_dir("ak"), in_dir("ak-link")), 0);
	assert_int_equal(keyfile_load_authorized(in_dir("ak-link"), &list, &count, err, sizeof(err)), -ELOOP);

	/* parse errors from a file name the file and the line */
	snprintf(text, sizeof(text), "\nperms=lsit memscan-x25519 %s\n", b64s[0]);
	write_str(in_dir("ak"), text, 0600);
	assert_int_equal(keyfile_load_authorized(in_dir("ak"), &list, &count, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, in_dir("ak")));
	assert_non_null(strstr(err, "line 2:"));
	assert_int_equal(keyfile_load_authorized(in_dir("none"), &list, &count, err, sizeof(err)), -ENOENT);
}

/* ---- known_agents ---- */

static void test_known_agents_trust_and_replace(void **state)
{
	const char *path = in_dir("cfg/memscan/known_agents");
	uint8_t got[KEYFILE_KEY_LEN];
	char expect[512];

	(void)state;
	assert_int_equal(keyfile_trust_agent(path, "10.0.0.1:7777", pubs[0], err, sizeof(err)), 0);
	assert_int_equal(mode_of(in_dir("cfg")) & 0077, 0);
	assert_int_equal(mode_of(in_dir("cfg/memscan")) & 0077, 0);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(keyfile_trust_agent(path, "[::1]:7777", pubs[1], err, sizeof(err)), 0);
	assert_int_equal(keyfile_trust_agent(path, "10.0.0.1:7777", pubs[2], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect), "[::1]:7777 memscan-x25519 %s\n10.0.0.1:7777 memscan-x25519 %s\n",
	         b64s[1], b64s[2]);
	assert_string_equal(slurp(path), expect);

	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, pubs[2], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "[::1]:7777", got, err, sizeof(err)), 0);
	assert_memory_equal(got, pubs[1], KEYFILE_KEY_LEN);
	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:7778", got, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "memscan trust 10.0.0.1:7778"));
	assert_int_equal(keyfile_known_agent(path, "10.0.0.1:777", got, err, sizeof(err)), -ENOENT);
}

static void test_known_agents_keeps_other_lines_verbatim(void **state)
{
	const char *path = in_dir("known_agents");
	char text[512], expect[1024];

	(void)state;
	snprintf(text, sizeof(text),
	         "# pinned from the console\n\nb.example:7777 memscan-x25519 %s office  box", b64s[0]);
	write_str(path, text, 0600);
	assert_int_equal(keyfile_trust_agent(path, "a.example:7777", pubs[1], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect), "%s\na.example:7777 memscan-x25519 %s\n", text, b64s[1]);
	assert_string_equal(slurp(path), expect);
	assert_int_equal(keyfile_trust_agent(path, "b.example:7777", pubs[2], err, sizeof(err)), 0);
	snprintf(expect, sizeof(expect),
	         "# pinned from the console\n\na.example:7777 memscan-x25519 %s\nb.example:7777 "
	         "memscan-x25519 %s\n",
	         b64s[1], b64s[2]);
	assert_string_equal(slurp(path), expect);
	assert_int_equal(mode_of(path), 0600);
}

static void test_known_agents_first_match_and_errors(void **state)
{
	const char *path = in_dir("known_agents");
	uint8_t got[KEYFILE_KEY_LEN];
	char text[512], before[512];

	(void)state;
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "memscan trust h:1"));
	/* hand-edited duplicates: the first line wins */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\nh:1 memscan-x25519 %s\n", b64s[0], b64s[1]);
	write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), 0);
	assert_memory_equal(got, pubs[0], KEYFILE_KEY_LEN);
	/* any malformed line fails the lookup, naming the line; trust refuses to rewrite it */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\n# c\nbroken\n", b64s[0]);
	write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 3:"));
	snprintf(before, sizeof(before), "%s", slurp(path));
	assert_int_equal(keyfile_trust_agent(path, "h:2", pubs[1], err, sizeof(err)), -EINVAL);
	assert_string_equal(slurp(path), before);
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\nh:1x memscan-x25519 %s\n", b64s[0], b64s[1]);
	write_str(path, text, 0600);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2:"));
	/* group-writable or a symlink: refused */
	snprintf(text, sizeof(text), "h:1 memscan-x25519 %s\n", b64s[0]);
	write_str(path, text, 0620);
	assert_int_equal(keyfile_known_agent(path, "h:1", got, err, sizeof(err)), -EPERM);
	assert_int_equal(keyfile_trust_agent(path, "h:2", pubs[1], err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(symlink(path, in_dir("link")), 0);
	assert_int_equal(keyfile_known_agent(in_dir("link"), "h:1", got, err, sizeof(err)), -ELOOP);
}

static void test_known_agents_bad_hostport(void **state)
{
	static const char *bad[] = { "",           "host",        "::1:7777",   "[::1]7777", "host:0",
		                     "host:65536", "host:+80",    "host:80x",   "ho st:1",   "#h:1",
		                     ":7777",      "[]:7777",     "[::1:7777",  "::1]:7777", "h\n:1",
		                     "h:",         "[::1]]:7777", "[[::1]:7777" };
	const char *path = in_dir("known_agents");
	uint8_t got[KEYFILE_KEY_LEN], zero[KEYFILE_KEY_LEN] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(keyfile_trust_agent(path, bad[i], pubs[0], err, sizeof(err)), -EINVAL);
		assert_int_equal(keyfile_known_agent(path, bad[i], got, err, sizeof(err)), -EINVAL);
	}
	assert_false(exists(path));
	assert_int_equal(keyfile_trust_agent(path, "h:1", zero, err, sizeof(err)), -EINVAL);
	assert_false(exists(path));
	assert_int_equal(keyfile_trust_agent(path, "agent.example.org:65535", pubs[0], err, sizeof(err)), 0);
	assert_int_equal(keyfile_known_agent(path, "agent.example.org:65535", got, err, sizeof(err)), 0);
	assert_memory_equal(got, pubs[0], KEYFILE_KEY_LEN);
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

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
		T(test_authorized_valid),
		T(test_authorized_comment_truncated),
		T(test_authorized_rejects_whole_file),
		T(test_authorized_rejects_bytes_and_sizes),
		T(test_authorized_empty),
		T(test_load_authorized_file),
		T(test_known_agents_trust_and_replace),
		T(test_known_agents_keeps_other_lines_verbatim),
		T(test_known_agents_first_match_and_errors),
		T(test_known_agents_bad_hostport),
		T(test_default_paths),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
