/* SPDX-License-Identifier: MIT */
/* authorized_keys: the agent's list of client keys, their permissions and target limits (uids=, exe=). */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "grow.h"
#include "keyfile_internal.h"

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

	if (keyfile_parse_public_n(p, strlen(p), a->pub, &off) != 0) {
		snprintf(why, why_len, "bad key (want '" KEYFILE_PUB_PREFIX " BASE64 [comment]', 32 bytes)");
		return -EINVAL;
	}
	copy_comment(a->comment, sizeof(a->comment), p + off);
	return 0;
}

/* "[OPTION ...] memscan-x25519 BASE64 [comment]" */
static int parse_auth_line(char *line, keyfile_auth *a, char *why, size_t why_len)
{
	char *p = keyfile_skip_blanks(line);
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
			next = keyfile_skip_blanks(next + 1);
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

/* Room for one more entry; 0 or -ENOMEM (-E2BIG cannot happen: a file has at most
 * KEYFILE_LINES_MAX lines, keyfile_next_line stops it there, and an entry is a line). */
static int acc_grow(struct auth_acc *acc)
{
	size_t cap = acc->cap, nos_cap = acc->cap; /* the line numbers follow the entries' capacity */
	int r = wire_grow(&acc->list, &cap, acc->count + 1, sizeof(*acc->list), KEYFILE_LINES_MAX);

	if (r == 0)
		r = wire_grow(&acc->nos, &nos_cap, cap, sizeof(*acc->nos), KEYFILE_LINES_MAX);
	if (r == 0)
		acc->cap = cap;
	return r;
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
		rc = keyfile_fail_line(err, err_len, name, keys[i].no, why);
	}
	free(keys);
	return rc;
}

static int parse_authorized_named(const char *name, const char *text, size_t len, struct auth_acc *acc,
                                  char *err, size_t err_len)
{
	struct keyfile_lines it = { .text = text, .len = len };
	char line[KEYFILE_LINE_MAX], why[160];
	int rc;

	while ((rc = keyfile_next_line(&it, line, why, sizeof(why))) > 0) {
		if (keyfile_ignorable(line))
			continue;
		if (acc_grow(acc) != 0)
			return keyfile_fail(err, err_len, -ENOMEM, "out of memory");
		rc = parse_auth_line(line, &acc->list[acc->count], why, sizeof(why));
		if (rc)
			break;
		acc->nos[acc->count++] = it.no;
	}
	if (rc < 0)
		return keyfile_fail_line(err, err_len, name, it.no, why);
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
	keyfile_err_reset(err, err_len);
	return parse_authorized(NULL, text, len, ret_list, ret_count, err, err_len);
}

int keyfile_load_authorized(const char *path, keyfile_auth **ret_list, size_t *ret_count, char *err,
                            size_t err_len)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	keyfile_err_reset(err, err_len);
	if (!path || !ret_list || !ret_count)
		return keyfile_fail(err, err_len, -EINVAL, "authorized keys: bad arguments");
	*ret_list = NULL;
	*ret_count = 0;
	rc = keyfile_read_text(path, &text, &len, err, err_len);
	if (rc)
		return rc;
	rc = parse_authorized(path, text, len, ret_list, ret_count, err, err_len);
	free(text);
	return rc;
}
