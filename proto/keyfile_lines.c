/* SPDX-License-Identifier: MIT */
/* Line-oriented key files (authorized_keys, known_agents): bounded lines, refused bytes, comments. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "keyfile_internal.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

int keyfile_fail_line(char *err, size_t err_len, const char *name, size_t no, const char *why)
{
	if (name)
		return keyfile_fail(err, err_len, -EINVAL, "%s: line %zu: %s", name, no, why);
	return keyfile_fail(err, err_len, -EINVAL, "line %zu: %s", no, why);
}

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
int keyfile_next_line(struct keyfile_lines *it, char line[KEYFILE_LINE_MAX], char *why, size_t why_len)
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

char *keyfile_skip_blanks(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Blank lines and '#' comments. */
int keyfile_ignorable(char *line)
{
	char *p = keyfile_skip_blanks(line);

	return *p == '\0' || *p == '#';
}
