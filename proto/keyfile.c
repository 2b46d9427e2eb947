/* SPDX-License-Identifier: MIT */
/* Key files: X25519 key pairs, public key lines, fingerprints, authorized_keys and known_agents. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "chan.h"
#include "keyfile.h"
#include "keyfile_safe.h"

/*
 * Strictness, in one place:
 * - A key is exactly 44 characters of padded standard base64 for exactly 32 bytes, in canonical form
 *   (it re-encodes to the same text), and public keys of small order are refused.
 * - A public line is "memscan-x25519" SP KEY [SP COMMENT]: exactly one space between fields, and a
 *   comment, if the space is there, is non-empty, does not start with a blank and holds no control
 *   character other than tab.
 * - A line, its newline included, is at most KEYFILE_LINE_MAX bytes; a file has at most
 *   KEYFILE_LINES_MAX lines. authorized_keys and known_agents may not contain NUL, CR (CRLF files are
 *   refused rather than half-understood) or any other control character but tab.
 * - In authorized_keys and known_agents, leading blanks are skipped, blank lines and lines whose first
 *   non-blank character is '#' are ignored, and options are separated by one or more blanks.
 * - authorized_keys may not list the same key twice (which line's permissions would apply?).
 * - known_agents: the first line for a HOST:PORT wins (keyfile_trust_agent never writes two); the
 *   whole file must parse, whichever line is looked up. HOST:PORT is compared byte for byte.
 * - Private keys and authorized_keys/known_agents are opened with O_NOFOLLOW and O_NONBLOCK, must be
 *   regular files, and are refused if group or others may read/write a private key, or write
 *   authorized_keys or known_agents (either would let them choose whom we trust). They must also be
 *   owned by root or this process's user and lie in directories nobody else can write to
 *   (keyfile_safe.h). .pub files may be symbolic links (they hold nothing secret).
 */

#define PUB_PREFIX_LEN  (sizeof(KEYFILE_PUB_PREFIX) - 1)
#define PRIV_PREFIX_LEN (sizeof(KEYFILE_PRIV_PREFIX) - 1)
/* Padded base64 of a key: 44 characters. */
#define B64_KEY_LEN (sodium_base64_ENCODED_LEN(KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL) - 1)
/* "memscan-x25519 BASE64" and "memscan-x25519-private BASE64\n" */
#define PUB_KEY_TEXT_LEN (PUB_PREFIX_LEN + 1 + B64_KEY_LEN)
#define PRIV_LINE_LEN    (PRIV_PREFIX_LEN + 1 + B64_KEY_LEN + 1)
/* Largest authorized_keys or known_agents file read. */
#define TEXT_FILE_MAX ((size_t)16 << 20)
/* Longest HOST:PORT accepted. */
#define HOSTPORT_MAX 300
#define FP_PREFIX    "SHA256:"
#define STR_(x)      #x
#define STR(x)       STR_(x)

_Static_assert(KEYFILE_FINGERPRINT_LEN ==
                   sizeof(FP_PREFIX) - 1 +
                       sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                                 sodium_base64_VARIANT_ORIGINAL_NO_PADDING),
               "fingerprint length");

/* ---- errors ---- */

static void err_reset(char *err, size_t err_len)
{
	if (err && err_len)
		err[0] = '\0';
}

static const char *errstr(int neg_errno, char *buf, size_t len)
{
	return strerror_r(-neg_errno, buf, len);
}

static int fail_errno(char *err, size_t err_len, int rc, const char *path, const char *what)
{
	char buf[128];

	return keyfile_fail(err, err_len, rc, "%s: %s: %s", path, what, errstr(rc, buf, sizeof(buf)));
}

/* "NAME: line N: WHY", or "line N: WHY" without a file name. */
static int fail_line(char *err, size_t err_len, const char *name, size_t no, const char *why)
{
	if (name)
		return keyfile_fail(err, err_len, -EINVAL, "%s: line %zu: %s", name, no, why);
	return keyfile_fail(err, err_len, -EINVAL, "line %zu: %s", no, why);
}

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
static int pub_usable(const uint8_t pub[KEYFILE_KEY_LEN])
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
static int parse_public_n(const char *s, size_t len, uint8_t pub[KEYFILE_KEY_LEN], size_t *ret_comment_offset)
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
	if (!pub_usable(pub))
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
	return parse_public_n(line, strlen(line), ret_pub, ret_comment_offset);
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

/* ---- files ---- */

enum file_kind {
	FILE_SECRET, /* private key: no symlink, no group/other bit at all */
	FILE_TRUST,  /* authorized_keys, known_agents: no symlink, not writable by group/other */
	FILE_PUBLIC, /* .pub: anything readable */
};

static int check_stat(const char *path, const struct stat *st, enum file_kind kind, size_t max, char *err,
                      size_t err_len)
{
	unsigned mode = (unsigned)st->st_mode & 07777;

	if (!S_ISREG(st->st_mode))
		return keyfile_fail(err, err_len, -EINVAL, "%s: not a regular file", path);
	if (kind != FILE_PUBLIC && keyfile_safe_owner(path, st, err, err_len) != 0)
		return -EPERM;
	if (kind == FILE_SECRET && (mode & 077))
		return keyfile_fail(err, err_len, -EPERM,
		                    "%s: mode %04o lets group or others access a private key: chmod 600 %s",
		                    path, mode, path);
	if (kind == FILE_TRUST && (mode & 022))
		return keyfile_fail(err, err_len, -EPERM,
		                    "%s: mode %04o lets group or others write it: chmod go-w %s", path, mode,
		                    path);
	if ((unsigned long long)st->st_size > max)
		return keyfile_fail(err, err_len, -EINVAL, "%s: larger than %zu bytes", path, max);
	return 0;
}

/* The directory part of PATH ("." if none) into OUT (PATH_MAX bytes). */
static int dir_of(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return snprintf(out, PATH_MAX, ".") < PATH_MAX ? 0 : -ENAMETOOLONG;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

/* Opens PATH's directory, checks it and every directory above it (keyfile_safe.h), then opens PATH in
 * that directory with FLAGS and O_NOFOLLOW, so the file opened is the one in the directories checked.
 * The descriptor, or a negative errno with ERR set. */
static int open_in_safe_dir(const char *path, int flags, char *err, size_t err_len)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int dirfd, fd, rc;

	if (dir_of(path, dir) != 0)
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return fail_errno(err, err_len, -errno, path, "open");
	rc = keyfile_safe_dirs(path, dirfd, err, err_len);
	if (rc) {
		close(dirfd);
		return rc;
	}
	fd = openat(dirfd, slash ? slash + 1 : path, flags | O_NOFOLLOW);
	rc = fd < 0 ? -errno : fd;
	close(dirfd);
	if (rc == -ELOOP)
		return keyfile_fail(err, err_len, rc, "%s: is a symbolic link; refusing to follow it", path);
	if (rc < 0)
		return fail_errno(err, err_len, rc, path, "open");
	return rc;
}

/* Opens PATH for reading without blocking (FIFOs) or following a final symlink (unless KIND is
 * FILE_PUBLIC), and checks it is a regular file of at most MAX bytes with acceptable permissions and,
 * unless KIND is FILE_PUBLIC, owner and directories (keyfile_safe.h). */
static int open_checked(const char *path, enum file_kind kind, size_t max, int *ret_fd, size_t *ret_size,
                        char *err, size_t err_len)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd, rc;

	if (kind != FILE_PUBLIC)
		fd = open_in_safe_dir(path, flags, err, err_len);
	else if ((fd = open(path, flags)) < 0)
		fd = fail_errno(err, err_len, -errno, path, "open");
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0) {
		rc = fail_errno(err, err_len, -errno, path, "fstat");
		goto out;
	}
	rc = check_stat(path, &st, kind, max, err, err_len);
out:
	if (rc) {
		close(fd);
		return rc;
	}
	*ret_fd = fd;
	if (ret_size)
		*ret_size = (size_t)st.st_size;
	return 0;
}

/* Reads up to CAP bytes of FD (stops early at end of file). */
static int read_all(int fd, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_len = len;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads a whole FILE_TRUST file into a malloc'd buffer. */
static int read_text_file(const char *path, char **ret_buf, size_t *ret_len, char *err, size_t err_len)
{
	size_t size, len = 0;
	char *buf = NULL;
	int fd, rc;

	rc = open_checked(path, FILE_TRUST, TEXT_FILE_MAX, &fd, &size, err, err_len);
	if (rc)
		return rc;
	buf = malloc(size + 1);
	if (!buf) {
		rc = keyfile_fail(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = read_all(fd, buf, size + 1, &len);
	if (rc) {
		rc = fail_errno(err, err_len, rc, path, "read");
		goto out;
	}
	if (len > size)
		rc = keyfile_fail(err, err_len, -EAGAIN, "%s: changed while being read", path);
out:
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* Best effort: makes a rename or a creation in DIR durable. */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	fsync(fd);
	close(fd);
}

/* Writes LEN bytes to FD, makes them MODE (umask-proof) and durable, and closes FD. */
static int finish_file(int fd, mode_t mode, const char *data, size_t len)
{
	int rc = 0;

	if (fchmod(fd, mode) != 0)
		rc = -errno;
	if (!rc)
		rc = write_all(fd, data, len);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	return rc;
}

/* Creates PATH (never overwriting, never through a symlink) holding DATA. Nothing is left on failure. */
static int write_new_file(const char *path, mode_t mode, const char *data, size_t len, char *err,
                          size_t err_len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	int rc;

	if (fd < 0 && errno == EEXIST)
		return keyfile_fail(err, err_len, -EEXIST, "%s: already exists; not overwriting it", path);
	if (fd < 0)
		return fail_errno(err, err_len, -errno, path, "create");
	rc = finish_file(fd, mode, data, len);
	if (rc) {
		unlink(path);
		return fail_errno(err, err_len, rc, path, "write");
	}
	return 0;
}

/* Replaces PATH with DATA atomically: a 0600 temporary file in the same directory, then rename. */
static int write_replace(const char *path, const char *dir, const char *data, size_t len, char *err,
                         size_t err_len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, err_len, -errno, tmp, "create");
	rc = finish_file(fd, 0600, data, len);
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return fail_errno(err, err_len, rc, path, "replace");
	}
	fsync_dir(dir);
	return 0;
}

/* mkdir -p DIR with mode 0700 for what it creates. DIR is restored before returning. */
static int mkdir_p(char *dir, char *err, size_t err_len)
{
	for (char *p = dir + 1; *p; p++) {
		int r;
		if (*p != '/')
			continue;
		*p = '\0';
		r = mkdir(dir, 0700);
		*p = '/';
		if (r != 0 && errno != EEXIST)
			return fail_errno(err, err_len, -errno, dir, "mkdir");
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fail_errno(err, err_len, -errno, dir, "mkdir");
	return 0;
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

/* Writes PATH (0600) then PUB_PATH (0644); removes PATH again if PUB_PATH cannot be created. */
static int write_pair(const char *path, const char *pub_path, const char *priv_line, const char *pub_line,
                      size_t pub_len, char *err, size_t err_len)
{
	char dir[PATH_MAX];
	int rc;

	rc = write_new_file(path, 0600, priv_line, PRIV_LINE_LEN, err, err_len);
	if (rc)
		return rc;
	rc = write_new_file(pub_path, 0644, pub_line, pub_len, err, err_len);
	if (rc) {
		unlink(path);
		return rc;
	}
	if (dir_of(path, dir) == 0)
		fsync_dir(dir);
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

	err_reset(err, err_len);
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

	err_reset(err, err_len);
	if (!path || !ret_priv || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "load key: bad arguments");
	if (sodium_init() < 0)
		return keyfile_fail(err, err_len, -EIO, "%s: libsodium failed to initialise", path);
	rc = open_checked(path, FILE_SECRET, KEYFILE_LINE_MAX, &fd, NULL, err, err_len);
	if (rc)
		return rc;
	buf = sodium_malloc(KEYFILE_LINE_MAX + 1);
	if (!buf) {
		rc = keyfile_fail(err, err_len, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = read_all(fd, buf, KEYFILE_LINE_MAX + 1, &len);
	if (rc) {
		rc = fail_errno(err, err_len, rc, path, "read");
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

	err_reset(err, err_len);
	if (!path || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "load public key: bad arguments");
	rc = open_checked(path, FILE_PUBLIC, KEYFILE_LINE_MAX, &fd, NULL, err, err_len);
	if (rc)
		return rc;
	rc = read_all(fd, buf, sizeof(buf), &len);
	close(fd);
	if (rc)
		return fail_errno(err, err_len, rc, path, "read");
	if (len > KEYFILE_LINE_MAX)
		return keyfile_fail(err, err_len, -EINVAL, "%s: file too large", path);
	if (len && buf[len - 1] == '\n')
		len--;
	if (memchr(buf, '\n', len) || memchr(buf, '\0', len) || parse_public_n(buf, len, ret_pub, NULL) != 0)
		return keyfile_fail(err, err_len, -EINVAL,
		                    "%s: not one '" KEYFILE_PUB_PREFIX " BASE64 [comment]' line", path);
	return 0;
}

/* ---- line-oriented files ---- */

struct lines {
	const char *text;
	size_t len, pos;
	size_t no;           /* number of the current line, from 1 */
	size_t cur, cur_len; /* where the current line is in TEXT, newline excluded */
};

static const char *check_line_bytes(const char *s, size_t n, char *why, size_t why_len)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return "NUL byte";
		if (c == '\r')
			return "carriage return (save the file with Unix line endings)";
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(why, why_len, "control character 0x%02x", c);
			return why;
		}
	}
	return NULL;
}

/* The next line of IT, NUL-terminated in LINE. 1, 0 at the end, or -EINVAL with WHY. */
static int next_line(struct lines *it, char line[KEYFILE_LINE_MAX], char *why, size_t why_len)
{
	const char *s, *nl, *bad;
	size_t n;

	if (it->pos >= it->len)
		return 0;
	it->no++;
	s = it->text + it->pos;
	nl = memchr(s, '\n', it->len - it->pos);
	n = nl ? (size_t)(nl - s) : it->len - it->pos;
	it->cur = it->pos;
	it->cur_len = n;
	it->pos += n + (nl != NULL);
	if (it->no > KEYFILE_LINES_MAX)
		bad = "too many lines (at most " STR(KEYFILE_LINES_MAX) ")";
	else if (n >= KEYFILE_LINE_MAX)
		bad = "line too long (at most " STR(KEYFILE_LINE_MAX) " bytes with its newline)";
	else
		bad = check_line_bytes(s, n, why, why_len);
	if (bad) {
		if (bad != why)
			snprintf(why, why_len, "%s", bad);
		return -EINVAL;
	}
	memcpy(line, s, n);
	line[n] = '\0';
	return 1;
}

static char *skip_blanks(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Blank lines and '#' comments. */
static int ignorable(char *line)
{
	char *p = skip_blanks(line);

	return *p == '\0' || *p == '#';
}

/* ---- authorized_keys ---- */

static uint32_t perm_bit(const char *word, size_t len)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} perms[] = { { "list", CHAN_PERM_LIST }, { "read", CHAN_PERM_READ }, { "scan", CHAN_PERM_SCAN } };

	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (strlen(perms[i].name) == len && memcmp(perms[i].name, word, len) == 0)
			return perms[i].bit;
	return 0;
}

static int parse_perms(const char *val, uint32_t *perms, char *why, size_t why_len)
{
	if (!*val) {
		snprintf(why, why_len, "empty perms= (want a comma-separated list of list, read, scan)");
		return -EINVAL;
	}
	for (;;) {
		size_t n = strcspn(val, ",");
		uint32_t bit = perm_bit(val, n);
		if (!bit) {
			snprintf(why, why_len, "unknown permission '%.*s' in perms= (want list, read, scan)",
			         (int)(n > 40 ? 40 : n), val);
			return -EINVAL;
		}
		if (*perms & bit) {
			snprintf(why, why_len, "permission '%.*s' repeated in perms=", (int)n, val);
			return -EINVAL;
		}
		*perms |= bit;
		if (!val[n])
			return 0;
		val += n + 1;
	}
}

/* A decimal uid at S (digits only) ending at *RET_END. */
static int parse_uid(const char *s, char **ret_end, uint32_t *ret)
{
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, ret_end, 10);
	if (errno || v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_uids(const char *val, uint32_t *min, uint32_t *max, char *why, size_t why_len)
{
	char *end;

	if (parse_uid(val, &end, min) != 0 || *end != '-' || parse_uid(end + 1, &end, max) != 0 || *end) {
		snprintf(why, why_len, "bad uids=%.40s (want MIN-MAX in decimal, at most %lu)", val,
		         (unsigned long)UINT32_MAX);
		return -EINVAL;
	}
	if (*min > *max) {
		snprintf(why, why_len, "bad uids=%.40s (minimum above maximum)", val);
		return -EINVAL;
	}
	return 0;
}

/* exe=PATTERN[,PATTERN...]: each pattern an absolute path, wildcards allowed, none empty. */
static int parse_exe(const char *val, char *exe, char *why, size_t why_len)
{
	size_t len = strlen(val);

	if (len == 0 || len >= KEYFILE_EXE_MAX) {
		snprintf(why, why_len, "bad exe= (want absolute path patterns, at most %d characters)",
		         KEYFILE_EXE_MAX - 1);
		return -EINVAL;
	}
	for (const char *p = val;;) {
		size_t n = strcspn(p, ",");

		if (n == 0 || p[0] != '/') {
			snprintf(why, why_len,
			         "bad exe=%.60s (each pattern must be an absolute path, e.g. "
			         "exe=/usr/games/*)",
			         val);
			return -EINVAL;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	memcpy(exe, val, len + 1);
	return 0;
}

int keyfile_exe_allowed(const char *exe, const char *path)
{
	char pat[KEYFILE_EXE_MAX];

	if (!exe[0])
		return 1;
	for (const char *p = exe;;) {
		size_t n = strcspn(p, ",");

		if (n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = '\0';
			if (fnmatch(pat, path, FNM_PATHNAME) == 0)
				return 1;
		}
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* One NAME=VALUE token. SEEN tracks repeats: bit 0 perms, bit 1 uids, bit 2 exe. */
static int parse_option(char *tok, unsigned *seen, keyfile_auth *a, char *why, size_t why_len)
{
	char *eq = strchr(tok, '=');
	unsigned bit;

	if (!eq) {
		snprintf(why, why_len, "unknown option or key type '%.40s'", tok);
		return -EINVAL;
	}
	*eq = '\0';
	bit = !strcmp(tok, "perms") ? 1u : !strcmp(tok, "uids") ? 2u : !strcmp(tok, "exe") ? 4u : 0u;
	if (!bit) {
		snprintf(why, why_len, "unknown option '%.40s=' (want perms=, uids= or exe=)", tok);
		return -EINVAL;
	}
	if (*seen & bit) {
		snprintf(why, why_len, "option %s= repeated", tok);
		return -EINVAL;
	}
	*seen |= bit;
	if (bit == 1u)
		return parse_perms(eq + 1, &a->perms, why, why_len);
	if (bit == 4u)
		return parse_exe(eq + 1, a->exe, why, why_len);
	return parse_uids(eq + 1, &a->uid_min, &a->uid_max, why, why_len);
}

/* Copies S into DST (LEN bytes), cut at a UTF-8 character boundary if too long. */
static void copy_comment(char *dst, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len) {
		n = len - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static int parse_auth_key(const char *p, keyfile_auth *a, char *why, size_t why_len)
{
	size_t off;

	if (parse_public_n(p, strlen(p), a->pub, &off) != 0) {
		snprintf(why, why_len, "bad key (want '" KEYFILE_PUB_PREFIX " BASE64 [comment]', 32 bytes)");
		return -EINVAL;
	}
	copy_comment(a->comment, sizeof(a->comment), p + off);
	return 0;
}

/* "[OPTION ...] memscan-x25519 BASE64 [comment]" */
static int parse_auth_line(char *line, keyfile_auth *a, char *why, size_t why_len)
{
	char *p = skip_blanks(line);
	unsigned seen = 0;

	memset(a, 0, sizeof(*a));
	a->uid_min = 1;
	a->uid_max = 0;
	for (;;) {
		size_t n = strcspn(p, " \t");
		char *next = p + n;
		int rc;
		if (n == PUB_PREFIX_LEN && memcmp(p, KEYFILE_PUB_PREFIX, n) == 0)
			return parse_auth_key(p, a, why, why_len);
		if (*next) {
			*next = '\0';
			next = skip_blanks(next + 1);
		}
		rc = parse_option(p, &seen, a, why, why_len);
		if (rc)
			return rc;
		if (!*next) {
			snprintf(why, why_len, "no '" KEYFILE_PUB_PREFIX " BASE64' after the options");
			return -EINVAL;
		}
		p = next;
	}
}

/* The parsed entries and, for error messages, the line each came from. */
struct auth_acc {
	keyfile_auth *list;
	size_t *nos;
	size_t count, cap;
};

static int acc_grow(struct auth_acc *acc)
{
	size_t cap = acc->cap ? acc->cap * 2 : 16;
	keyfile_auth *list;
	size_t *nos;

	if (acc->count < acc->cap)
		return 0;
	list = realloc(acc->list, cap * sizeof(*list));
	if (!list)
		return -ENOMEM;
	acc->list = list;
	nos = realloc(acc->nos, cap * sizeof(*nos));
	if (!nos)
		return -ENOMEM;
	acc->nos = nos;
	acc->cap = cap;
	return 0;
}

struct key_at {
	uint8_t pub[KEYFILE_KEY_LEN];
	size_t no;
};

static int key_at_cmp(const void *a, const void *b)
{
	const struct key_at *x = a, *y = b;
	int c = memcmp(x->pub, y->pub, KEYFILE_KEY_LEN);

	if (c)
		return c;
	return x->no < y->no ? -1 : x->no > y->no;
}

/* Refuses a key listed twice, naming the later line. */
static int check_duplicates(const struct auth_acc *acc, const char *name, char *err, size_t err_len)
{
	struct key_at *keys;
	char why[64];
	int rc = 0;

	if (acc->count < 2)
		return 0;
	keys = calloc(acc->count, sizeof(*keys));
	if (!keys)
		return keyfile_fail(err, err_len, -ENOMEM, "out of memory");
	for (size_t i = 0; i < acc->count; i++) {
		memcpy(keys[i].pub, acc->list[i].pub, KEYFILE_KEY_LEN);
		keys[i].no = acc->nos[i];
	}
	qsort(keys, acc->count, sizeof(*keys), key_at_cmp);
	for (size_t i = 1; i < acc->count && !rc; i++) {
		if (memcmp(keys[i - 1].pub, keys[i].pub, KEYFILE_KEY_LEN) != 0)
			continue;
		snprintf(why, sizeof(why), "same key as line %zu", keys[i - 1].no);
		rc = fail_line(err, err_len, name, keys[i].no, why);
	}
	free(keys);
	return rc;
}

static int parse_authorized_named(const char *name, const char *text, size_t len, struct auth_acc *acc,
                                  char *err, size_t err_len)
{
	struct lines it = { .text = text, .len = len };
	char line[KEYFILE_LINE_MAX], why[160];
	int rc;

	while ((rc = next_line(&it, line, why, sizeof(why))) > 0) {
		if (ignorable(line))
			continue;
		if (acc_grow(acc) != 0)
			return keyfile_fail(err, err_len, -ENOMEM, "out of memory");
		rc = parse_auth_line(line, &acc->list[acc->count], why, sizeof(why));
		if (rc)
			break;
		acc->nos[acc->count++] = it.no;
	}
	if (rc < 0)
		return fail_line(err, err_len, name, it.no, why);
	return check_duplicates(acc, name, err, err_len);
}

static int parse_authorized(const char *name, const char *text, size_t len, keyfile_auth **ret_list,
                            size_t *ret_count, char *err, size_t err_len)
{
	struct auth_acc acc = { 0 };
	int rc;

	if (!ret_list || !ret_count || (!text && len))
		return keyfile_fail(err, err_len, -EINVAL, "authorized keys: bad arguments");
	*ret_list = NULL;
	*ret_count = 0;
	rc = parse_authorized_named(name, text, len, &acc, err, err_len);
	free(acc.nos);
	if (rc) {
		free(acc.list);
		return rc;
	}
	*ret_list = acc.list;
	*ret_count = acc.count;
	return 0;
}

int keyfile_parse_authorized(const char *text, size_t len, keyfile_auth **ret_list, size_t *ret_count,
                             char *err, size_t err_len)
{
	err_reset(err, err_len);
	return parse_authorized(NULL, text, len, ret_list, ret_count, err, err_len);
}

int keyfile_load_authorized(const char *path, keyfile_auth **ret_list, size_t *ret_count, char *err,
                            size_t err_len)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	err_reset(err, err_len);
	if (!path || !ret_list || !ret_count)
		return keyfile_fail(err, err_len, -EINVAL, "authorized keys: bad arguments");
	*ret_list = NULL;
	*ret_count = 0;
	rc = read_text_file(path, &text, &len, err, err_len);
	if (rc)
		return rc;
	rc = parse_authorized(path, text, len, ret_list, ret_count, err, err_len);
	free(text);
	return rc;
}

/* ---- known_agents ---- */

/* PORT: 1-65535 in decimal, digits only. */
static int port_ok(const char *s)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return !errno && !*end && v >= 1 && v <= 65535;
}

/* HOST:PORT or [IPV6]:PORT, visible ASCII without '#'. */
static int hostport_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const char *colon = n ? strrchr(s, ':') : NULL;
	size_t host_len;

	if (!n || n > HOSTPORT_MAX || !colon || colon == s || !port_ok(colon + 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '#')
			return 0;
	host_len = (size_t)(colon - s);
	if (s[0] == '[')
		return host_len > 2 && s[host_len - 1] == ']' && !memchr(s + 1, '[', host_len - 1) &&
		       !memchr(s, ']', host_len - 1);
	return !memchr(s, ':', host_len) && !memchr(s, '[', host_len) && !memchr(s, ']', host_len);
}

/* "HOST:PORT memscan-x25519 BASE64 [comment]"; HOST:PORT is left NUL-terminated in LINE. */
static int parse_known_line(char *line, char **ret_host, uint8_t pub[KEYFILE_KEY_LEN], char *why,
                            size_t why_len)
{
	char *host = skip_blanks(line);
	char *sp = strchr(host, ' ');

	if (!sp) {
		snprintf(why, why_len, "want 'HOST:PORT " KEYFILE_PUB_PREFIX " BASE64 [comment]'");
		return -EINVAL;
	}
	*sp = '\0';
	if (!hostport_ok(host)) {
		snprintf(why, why_len, "bad HOST:PORT '%.60s'", host);
		return -EINVAL;
	}
	if (parse_public_n(sp + 1, strlen(sp + 1), pub, NULL) != 0) {
		snprintf(why, why_len, "bad key (want '" KEYFILE_PUB_PREFIX " BASE64 [comment]', 32 bytes)");
		return -EINVAL;
	}
	*ret_host = host;
	return 0;
}

/* Validates all of TEXT and finds the first line for HOSTPORT. 1 if found, 0 if not, or -EINVAL. */
static int find_known(const char *name, const char *text, size_t len, const char *hostport,
                      uint8_t ret_pub[KEYFILE_KEY_LEN], char *err, size_t err_len)
{
	struct lines it = { .text = text, .len = len };
	char line[KEYFILE_LINE_MAX], why[160];
	uint8_t pub[KEYFILE_KEY_LEN];
	int rc, found = 0;
	char *host;

	while ((rc = next_line(&it, line, why, sizeof(why))) > 0) {
		if (ignorable(line))
			continue;
		rc = parse_known_line(line, &host, pub, why, sizeof(why));
		if (rc)
			break;
		if (!found && strcmp(host, hostport) == 0) {
			memcpy(ret_pub, pub, KEYFILE_KEY_LEN);
			found = 1;
		}
	}
	if (rc < 0)
		return fail_line(err, err_len, name, it.no, why);
	return found;
}

static int fail_unknown_agent(char *err, size_t err_len, const char *path, const char *hostport)
{
	return keyfile_fail(
	    err, err_len, -ENOENT,
	    "%s: no key for %s: get the agent's key or fingerprint from a trusted source and run "
	    "`memscan trust %s KEY`",
	    path, hostport, hostport);
}

int keyfile_known_agent(const char *path, const char *hostport, uint8_t ret_pub[KEYFILE_KEY_LEN], char *err,
                        size_t err_len)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	err_reset(err, err_len);
	if (!path || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "known agents: bad arguments");
	if (!hostport_ok(hostport))
		return keyfile_fail(err, err_len, -EINVAL, "bad HOST:PORT '%.60s'", hostport ? hostport : "");
	rc = read_text_file(path, &text, &len, err, err_len);
	if (rc == -ENOENT)
		return fail_unknown_agent(err, err_len, path, hostport);
	if (rc)
		return rc;
	rc = find_known(path, text, len, hostport, ret_pub, err, err_len);
	free(text);
	if (rc == 0)
		return fail_unknown_agent(err, err_len, path, hostport);
	return rc < 0 ? rc : 0;
}

/* OLD's lines except HOSTPORT's (verbatim, each with a newline), then NEW_LINE, into a malloc'd *RET. */
static int rebuild_known(const char *name, const char *old, size_t old_len, const char *hostport,
                         const char *new_line, char **ret, size_t *ret_len, char *err, size_t err_len)
{
	struct lines it = { .text = old, .len = old_len };
	char line[KEYFILE_LINE_MAX], why[160];
	size_t new_len = strlen(new_line), len = 0, kept = 0;
	uint8_t pub[KEYFILE_KEY_LEN];
	char *out, *host;
	int rc;

	out = malloc(old_len + 1 + new_len);
	if (!out)
		return keyfile_fail(err, err_len, -ENOMEM, "out of memory");
	while ((rc = next_line(&it, line, why, sizeof(why))) > 0) {
		if (!ignorable(line)) {
			rc = parse_known_line(line, &host, pub, why, sizeof(why));
			if (rc)
				break;
			if (strcmp(host, hostport) == 0)
				continue;
		}
		memcpy(out + len, old + it.cur, it.cur_len);
		len += it.cur_len;
		out[len++] = '\n';
		kept++;
	}
	if (rc == 0 && kept >= KEYFILE_LINES_MAX)
		rc = keyfile_fail(err, err_len, -EINVAL, "%s: too many lines (at most %d)", name,
		                  KEYFILE_LINES_MAX);
	else if (rc < 0)
		rc = fail_line(err, err_len, name, it.no, why);
	if (rc) {
		free(out);
		return rc;
	}
	memcpy(out + len, new_line, new_len);
	*ret = out;
	*ret_len = len + new_len;
	return 0;
}

/* The line keyfile_trust_agent appends: "HOSTPORT memscan-x25519 BASE64\n". */
static int known_line(const char *hostport, const uint8_t pub[KEYFILE_KEY_LEN], char *out, size_t out_len)
{
	char key[PUB_KEY_TEXT_LEN + 1];
	int n;

	keyfile_format_public(pub, key, sizeof(key));
	n = snprintf(out, out_len, "%s %s\n", hostport, key);
	return n < 0 || (size_t)n >= out_len ? -ENAMETOOLONG : 0;
}

static int trust_checks(const char *path, const char *hostport, const uint8_t *pub, char *err, size_t err_len)
{
	if (!path || !path[0] || !pub)
		return keyfile_fail(err, err_len, -EINVAL, "trust: bad arguments");
	if (!hostport_ok(hostport))
		return keyfile_fail(err, err_len, -EINVAL,
		                    "bad HOST:PORT '%.60s' (want HOST:PORT or [IPV6]:PORT)",
		                    hostport ? hostport : "");
	if (!pub_usable(pub))
		return keyfile_fail(err, err_len, -EINVAL, "not a usable X25519 public key");
	return 0;
}

int keyfile_trust_agent(const char *path, const char *hostport, const uint8_t pub[KEYFILE_KEY_LEN], char *err,
                        size_t err_len)
{
	char dir[PATH_MAX], new_line[HOSTPORT_MAX + PUB_KEY_TEXT_LEN + 3];
	char *old = NULL, *out = NULL;
	size_t old_len = 0, out_len = 0;
	int rc;

	err_reset(err, err_len);
	rc = trust_checks(path, hostport, pub, err, err_len);
	if (rc)
		return rc;
	if (known_line(hostport, pub, new_line, sizeof(new_line)) != 0 || dir_of(path, dir) != 0)
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	rc = mkdir_p(dir, err, err_len);
	if (rc)
		return rc;
	rc = read_text_file(path, &old, &old_len, err, err_len);
	if (rc && rc != -ENOENT)
		return rc;
	err_reset(err, err_len);
	rc = rebuild_known(path, old, old_len, hostport, new_line, &out, &out_len, err, err_len);
	if (!rc)
		rc = write_replace(path, dir, out, out_len, err, err_len);
	free(old);
	free(out);
	return rc;
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
