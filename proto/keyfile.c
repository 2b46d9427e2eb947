/* SPDX-License-Identifier: MIT */
/* Keys: X25519 key pairs and their files, public key lines, fingerprints, default client paths. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyfile_internal.h"

#define FP_PREFIX "SHA256:"

_Static_assert(KEYFILE_FINGERPRINT_LEN ==
                   sizeof(FP_PREFIX) - 1 +
                       sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                                 sodium_base64_VARIANT_ORIGINAL_NO_PADDING),
               "fingerprint length");

/* ---- keys ---- */

/* Decodes exactly one canonical padded base64 key of LEN characters at S. OUT is wiped on failure. */
static int decode_key(const char *s, size_t len, uint8_t out[KEYFILE_KEY_LEN])
{
	char check[B64_KEY_LEN + 1];
	const char *end = NULL;
	size_t bin_len = 0;
	int rc = -EINVAL;

	if (len != B64_KEY_LEN)
		goto out;
	if (sodium_base642bin(out, KEYFILE_KEY_LEN, s, len, NULL, &bin_len, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	if (end != s + len || bin_len != KEYFILE_KEY_LEN)
		goto out;
	sodium_bin2base64(check, sizeof(check), out, KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	if (sodium_memcmp(check, s, len) != 0)
		goto out;
	rc = 0;
out:
	if (rc)
		sodium_memzero(out, KEYFILE_KEY_LEN);
	sodium_memzero(check, sizeof(check));
	return rc;
}

/* False for keys of small order (and other encodings X25519 refuses): they would make every shared
 * secret zero. The scalar is public; clamping makes it a multiple of the cofactor. */
int keyfile_pub_usable(const uint8_t pub[KEYFILE_KEY_LEN])
{
	static const uint8_t scalar[KEYFILE_KEY_LEN] = { 9 };
	uint8_t q[KEYFILE_KEY_LEN];

	return crypto_scalarmult(q, scalar, pub) == 0;
}

static int comment_ok(const char *s, size_t len)
{
	if (len && (s[0] == ' ' || s[0] == '\t'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* "memscan-x25519 BASE64 [comment]" in the LEN bytes at S. */
int keyfile_parse_public_n(const char *s, size_t len, uint8_t pub[KEYFILE_KEY_LEN],
                           size_t *ret_comment_offset)
{
	const char *key = s + PUB_PREFIX_LEN + 1, *sp;
	size_t key_len, off;

	if (len < PUB_PREFIX_LEN + 1 || memcmp(s, KEYFILE_PUB_PREFIX, PUB_PREFIX_LEN) != 0 ||
	    s[PUB_PREFIX_LEN] != ' ')
		return -EINVAL;
	sp = memchr(key, ' ', len - PUB_PREFIX_LEN - 1);
	key_len = sp ? (size_t)(sp - key) : len - PUB_PREFIX_LEN - 1;
	if (decode_key(key, key_len, pub) != 0)
		return -EINVAL;
	off = PUB_PREFIX_LEN + 1 + key_len;
	if (sp) {
		off++; /* the comment starts after the space, and is not empty */
		if (off == len || !comment_ok(s + off, len - off))
			goto bad;
	}
	if (!keyfile_pub_usable(pub))
		goto bad;
	if (ret_comment_offset)
		*ret_comment_offset = off;
	return 0;
bad:
	sodium_memzero(pub, KEYFILE_KEY_LEN);
	return -EINVAL;
}

int keyfile_parse_public(const char *line, uint8_t ret_pub[KEYFILE_KEY_LEN], size_t *ret_comment_offset)
{
	if (!line || !ret_pub)
		return -EINVAL;
	return keyfile_parse_public_n(line, strlen(line), ret_pub, ret_comment_offset);
}

int keyfile_format_public(const uint8_t pub[KEYFILE_KEY_LEN], char *out, size_t out_len)
{
	if (!pub || !out || out_len < PUB_KEY_TEXT_LEN + 1)
		return -ERANGE;
	memcpy(out, KEYFILE_PUB_PREFIX, PUB_PREFIX_LEN);
	out[PUB_PREFIX_LEN] = ' ';
	sodium_bin2base64(out + PUB_PREFIX_LEN + 1, B64_KEY_LEN + 1, pub, KEYFILE_KEY_LEN,
	                  sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

void keyfile_fingerprint(const uint8_t pub[KEYFILE_KEY_LEN], char out[KEYFILE_FINGERPRINT_LEN])
{
	uint8_t hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, pub, KEYFILE_KEY_LEN);
	memcpy(out, FP_PREFIX, sizeof(FP_PREFIX) - 1);
	sodium_bin2base64(out + sizeof(FP_PREFIX) - 1, KEYFILE_FINGERPRINT_LEN - (sizeof(FP_PREFIX) - 1),
	                  hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* ---- key pairs ---- */

/* "user@host", with anything but visible ASCII replaced by '_'. */
static void default_comment(char *out, size_t len)
{
	char host[256] = "localhost", pwbuf[2048];
	struct passwd pw, *res = NULL;
	const char *user = secure_getenv("USER");

	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res && res->pw_name[0])
		user = res->pw_name;
	if (!user || !user[0])
		user = "memscan";
	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "%s@%s", user, host);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
}

/* The .pub line for PUB and COMMENT ("" for none) into OUT (KEYFILE_LINE_MAX + 1 bytes). */
static int format_pub_line(const uint8_t pub[KEYFILE_KEY_LEN], const char *comment, char *out,
                           size_t *ret_len)
{
	char key[PUB_KEY_TEXT_LEN + 1];
	int n;

	if (!comment_ok(comment, strlen(comment)))
		return -EINVAL;
	keyfile_format_public(pub, key, sizeof(key));
	n = snprintf(out, KEYFILE_LINE_MAX + 1, "%s%s%s\n", key, comment[0] ? " " : "", comment);
	if (n < 0 || n > KEYFILE_LINE_MAX)
		return -EINVAL;
	*ret_len = (size_t)n;
	return 0;
}

/* "memscan-x25519-private BASE64\n" for PRIV into OUT (PRIV_LINE_LEN + 1 bytes, sodium_malloc'd). */
static void format_priv_line(const uint8_t *priv, char *out)
{
	memcpy(out, KEYFILE_PRIV_PREFIX, PRIV_PREFIX_LEN);
	out[PRIV_PREFIX_LEN] = ' ';
	sodium_bin2base64(out + PRIV_PREFIX_LEN + 1, B64_KEY_LEN + 1, priv, KEYFILE_KEY_LEN,
	                  sodium_base64_VARIANT_ORIGINAL);
	out[PRIV_LINE_LEN - 1] = '\n';
	out[PRIV_LINE_LEN] = '\0';
}

/* Creates PATH's directory if missing (0700), writes PATH (0600) then PUB_PATH (0644); removes PATH
 * again if PUB_PATH cannot be created. */
static int write_pair(const char *path, const char *pub_path, const char *priv_line, const char *pub_line,
                      size_t pub_len, char *err, size_t err_len)
{
	char dir[PATH_MAX];
	int rc;

	if (keyfile_dir_of(path, dir) != 0)
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	rc = keyfile_mkdir_p(dir, err, err_len);
	if (rc)
		return rc;
	rc = keyfile_write_new(path, 0600, priv_line, PRIV_LINE_LEN, err, err_len);
	if (rc)
		return rc;
	rc = keyfile_write_new(pub_path, 0644, pub_line, pub_len, err, err_len);
	if (rc) {
		unlink(path);
		return rc;
	}
	keyfile_fsync_dir(dir);
	return 0;
}

int keyfile_generate(const char *path, const char *comment, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                     size_t err_len)
{
	char pub_path[PATH_MAX], dflt[512], pub_line[KEYFILE_LINE_MAX + 1];
	uint8_t *priv = NULL;
	char *priv_line = NULL;
	size_t pub_len;
	int rc;

	keyfile_err_reset(err, err_len);
	if (!path || !path[0] || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "keygen: no file name");
	if (sodium_init() < 0)
		return keyfile_fail(err, err_len, -EIO, "%s: libsodium failed to initialise", path);
	if (snprintf(pub_path, sizeof(pub_path), "%s.pub", path) >= (int)sizeof(pub_path))
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	if (!comment) {
		default_comment(dflt, sizeof(dflt));
		comment = dflt;
	}
	priv = sodium_malloc(KEYFILE_KEY_LEN);
	priv_line = sodium_malloc(PRIV_LINE_LEN + 1);
	if (!priv || !priv_line) {
		rc = keyfile_fail(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	crypto_box_keypair(ret_pub, priv);
	if (format_pub_line(ret_pub, comment, pub_line, &pub_len) != 0) {
		rc = keyfile_fail(err, err_len, -EINVAL, "%s: comment too long or has control characters",
		                  path);
		goto out;
	}
	format_priv_line(priv, priv_line);
	rc = write_pair(path, pub_path, priv_line, pub_line, pub_len, err, err_len);
out:
	sodium_free(priv);
	sodium_free(priv_line);
	if (rc)
		sodium_memzero(ret_pub, KEYFILE_KEY_LEN);
	return rc;
}

/* "memscan-x25519-private BASE64" with an optional final newline. NULL, or why not. */
static const char *parse_private(const char *buf, size_t len, uint8_t *priv)
{
	if (len && buf[len - 1] == '\n')
		len--;
	if (!len)
		return "empty file";
	if (memchr(buf, '\n', len))
		return "more than one line";
	if (len < PRIV_PREFIX_LEN + 1 || memcmp(buf, KEYFILE_PRIV_PREFIX, PRIV_PREFIX_LEN) != 0 ||
	    buf[PRIV_PREFIX_LEN] != ' ')
		return "not a '" KEYFILE_PRIV_PREFIX " BASE64' line";
	if (decode_key(buf + PRIV_PREFIX_LEN + 1, len - PRIV_PREFIX_LEN - 1, priv) != 0)
		return "the key is not exactly 32 bytes of base64 (44 characters), or is followed by "
		       "something";
	if (sodium_is_zero(priv, KEYFILE_KEY_LEN))
		return "the key is all zero";
	return NULL;
}

int keyfile_load_private(const char *path, uint8_t *ret_priv, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                         size_t err_len)
{
	const char *why;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	keyfile_err_reset(err, err_len);
	if (!path || !ret_priv || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "load key: bad arguments");
	if (sodium_init() < 0)
		return keyfile_fail(err, err_len, -EIO, "%s: libsodium failed to initialise", path);
	rc = keyfile_open_checked(path, KEYFILE_SECRET, KEYFILE_LINE_MAX, &fd, NULL, err, err_len);
	if (rc)
		return rc;
	buf = sodium_malloc(KEYFILE_LINE_MAX + 1);
	if (!buf) {
		rc = keyfile_fail(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = keyfile_read_all(fd, buf, KEYFILE_LINE_MAX + 1, &len);
	if (rc) {
		rc = keyfile_fail_errno(err, err_len, rc, path, "read");
		goto out;
	}
	why = len > KEYFILE_LINE_MAX ? "file too large" : parse_private(buf, len, ret_priv);
	if (!why && crypto_scalarmult_base(ret_pub, ret_priv) != 0)
		why = "not a usable X25519 private key";
	if (why)
		rc = keyfile_fail(err, err_len, -EINVAL, "%s: %s", path, why);
out:
	close(fd);
	sodium_free(buf);
	if (rc)
		sodium_memzero(ret_priv, KEYFILE_KEY_LEN);
	return rc;
}

int keyfile_load_public(const char *path, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err, size_t err_len)
{
	char buf[KEYFILE_LINE_MAX + 1];
	size_t len = 0;
	int fd, rc;

	keyfile_err_reset(err, err_len);
	if (!path || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "load public key: bad arguments");
	rc = keyfile_open_checked(path, KEYFILE_PUBLIC, KEYFILE_LINE_MAX, &fd, NULL, err, err_len);
	if (rc)
		return rc;
	rc = keyfile_read_all(fd, buf, sizeof(buf), &len);
	close(fd);
	if (rc)
		return keyfile_fail_errno(err, err_len, rc, path, "read");
	if (len > KEYFILE_LINE_MAX)
		return keyfile_fail(err, err_len, -EINVAL, "%s: file too large", path);
	if (len && buf[len - 1] == '\n')
		len--;
	if (memchr(buf, '\n', len) || memchr(buf, '\0', len) ||
	    keyfile_parse_public_n(buf, len, ret_pub, NULL) != 0)
		return keyfile_fail(err, err_len, -EINVAL,
		                    "%s: not one '" KEYFILE_PUB_PREFIX " BASE64 [comment]' line", path);
	return 0;
}

/* ---- default paths ---- */

static int default_path(const char *file, char *out, size_t out_len)
{
	const char *xdg = secure_getenv("XDG_CONFIG_HOME"), *home = secure_getenv("HOME");
	int n;

	if (!out || !out_len)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (xdg && xdg[0] == '/')
		n = snprintf(out, out_len, "%s/memscan/%s", xdg, file);
	else if (home && home[0] == '/')
		n = snprintf(out, out_len, "%s/.config/memscan/%s", home, file);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= out_len) {
		out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int keyfile_default_identity(char *out, size_t out_len)
{
	return default_path("id_x25519", out, out_len);
}

int keyfile_default_known_agents(char *out, size_t out_len)
{
	return default_path("known_agents", out, out_len);
}
