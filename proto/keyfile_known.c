/* SPDX-License-Identifier: MIT */
/* known_agents: the client's pinned agent keys by HOST:PORT, looked up and rewritten atomically. */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyfile_internal.h"

/* Longest HOST:PORT accepted. */
#define HOSTPORT_MAX 300

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

/* HOST:PORT, [IPV6]:PORT or ipc:///PATH (an agent's local socket), visible ASCII without '#'. HOST may
 * be a pattern with '*' and '?' (a fleet sharing one key: "*.memscan.svc:7777"). */
static int hostport_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	const char *colon = n ? strrchr(s, ':') : NULL;
	size_t host_len;

	if (!n || n > HOSTPORT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '#')
			return 0;
	if (!strncmp(s, "ipc:///", 7))
		return n > 7;
	if (!colon || colon == s || !port_ok(colon + 1))
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
	char *host = keyfile_skip_blanks(line);
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
	if (keyfile_parse_public_n(sp + 1, strlen(sp + 1), pub, NULL) != 0) {
		snprintf(why, why_len, "bad key (want '" KEYFILE_PUB_PREFIX " BASE64 [comment]', 32 bytes)");
		return -EINVAL;
	}
	*ret_host = host;
	return 0;
}

static int is_pattern(const char *hostport)
{
	return strncmp(hostport, "ipc://", 6) && strpbrk(hostport, "*?");
}

/* Whether the pattern line PAT ("*.svc:7777") covers HOSTPORT: fnmatch on the host, the same port. */
static int pattern_covers(const char *pat, const char *hostport)
{
	const char *pc = strrchr(pat, ':'), *hc = strrchr(hostport, ':');
	char pat_host[HOSTPORT_MAX + 1], host[HOSTPORT_MAX + 1];

	if (!pc || !hc || strcmp(pc, hc) || !strncmp(hostport, "ipc://", 6))
		return 0;
	snprintf(pat_host, sizeof(pat_host), "%.*s", (int)(pc - pat), pat);
	snprintf(host, sizeof(host), "%.*s", (int)(hc - hostport), hostport);
	return fnmatch(pat_host, host, FNM_CASEFOLD) == 0;
}

/* Validates all of TEXT and finds HOSTPORT's key: its first exact line, else the first pattern line
 * that covers it. 1 if found, 0 if not, or -EINVAL. */
static int find_known(const char *name, const char *text, size_t len, const char *hostport,
                      uint8_t ret_pub[KEYFILE_KEY_LEN], char *err, size_t err_len)
{
	struct keyfile_lines it = { .text = text, .len = len };
	char line[KEYFILE_LINE_MAX], why[160];
	uint8_t pub[KEYFILE_KEY_LEN], pat_pub[KEYFILE_KEY_LEN];
	int rc, found = 0, by_pattern = 0;
	char *host;

	while ((rc = keyfile_next_line(&it, line, why, sizeof(why))) > 0) {
		if (keyfile_ignorable(line))
			continue;
		rc = parse_known_line(line, &host, pub, why, sizeof(why));
		if (rc)
			break;
		if (!found && strcmp(host, hostport) == 0) {
			memcpy(ret_pub, pub, KEYFILE_KEY_LEN);
			found = 1;
		} else if (!by_pattern && is_pattern(host) && pattern_covers(host, hostport)) {
			memcpy(pat_pub, pub, KEYFILE_KEY_LEN);
			by_pattern = 1;
		}
	}
	if (rc < 0)
		return keyfile_fail_line(err, err_len, name, it.no, why);
	if (!found && by_pattern)
		memcpy(ret_pub, pat_pub, KEYFILE_KEY_LEN);
	return found || by_pattern;
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

	keyfile_err_reset(err, err_len);
	if (!path || !ret_pub)
		return keyfile_fail(err, err_len, -EINVAL, "known agents: bad arguments");
	if (!hostport_ok(hostport))
		return keyfile_fail(err, err_len, -EINVAL, "bad HOST:PORT '%.60s'", hostport ? hostport : "");
	rc = keyfile_read_text(path, &text, &len, err, err_len);
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
	struct keyfile_lines it = { .text = old, .len = old_len };
	char line[KEYFILE_LINE_MAX], why[160];
	size_t new_len = strlen(new_line), len = 0, kept = 0;
	uint8_t pub[KEYFILE_KEY_LEN];
	char *out, *host;
	int rc;

	out = malloc(old_len + 1 + new_len);
	if (!out)
		return keyfile_fail(err, err_len, -ENOMEM, "out of memory");
	while ((rc = keyfile_next_line(&it, line, why, sizeof(why))) > 0) {
		if (!keyfile_ignorable(line)) {
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
		rc = keyfile_fail_line(err, err_len, name, it.no, why);
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
		                    "bad HOST:PORT '%.60s' (want HOST:PORT, [IPV6]:PORT or ipc:///PATH)",
		                    hostport ? hostport : "");
	if (!keyfile_pub_usable(pub))
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

	keyfile_err_reset(err, err_len);
	rc = trust_checks(path, hostport, pub, err, err_len);
	if (rc)
		return rc;
	if (known_line(hostport, pub, new_line, sizeof(new_line)) != 0 || keyfile_dir_of(path, dir) != 0)
		return keyfile_fail(err, err_len, -ENAMETOOLONG, "%s: path too long", path);
	rc = keyfile_mkdir_p(dir, err, err_len);
	if (rc)
		return rc;
	rc = keyfile_read_text(path, &old, &old_len, err, err_len);
	if (rc && rc != -ENOENT)
		return rc;
	keyfile_err_reset(err, err_len);
	rc = rebuild_known(path, old, old_len, hostport, new_line, &out, &out_len, err, err_len);
	if (!rc)
		rc = keyfile_write_replace(path, dir, out, out_len, err, err_len);
	free(old);
	free(out);
	return rc;
}
