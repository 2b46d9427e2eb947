/* SPDX-License-Identifier: MIT */
/* Byte patterns: parsing "4D 5A ?? 0?" text into value/mask bytes and matching them. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pattern.h"

/* Bytes being parsed, before the pattern is allocated at its final size. */
struct ms_pattern_text {
	size_t len;
	uint8_t value[MEMSCAN_PATTERN_MAX];
	uint8_t mask[MEMSCAN_PATTERN_MAX];
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* One token character: a hex digit (mask 0xF) or '?' (mask 0). -1 on anything else. */
static int parse_nibble(char c, uint8_t *value, uint8_t *mask)
{
	*mask = 0xF;
	if (c >= '0' && c <= '9')
		*value = (uint8_t)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*value = (uint8_t)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*value = (uint8_t)(c - 'A' + 10);
	else if (c == '?')
		*value = *mask = 0;
	else
		return -1;
	return 0;
}

/* Parses the two-character token at TEXT into byte number pt->len. Returns the offset (from
 * TEXT) of the offending character, or -1 if the token is good. A token cut short by the end of
 * the text is blamed on its first character (the end is not a character). */
static int parse_token(const char *text, struct ms_pattern_text *pt)
{
	uint8_t hi, hi_mask, lo, lo_mask;

	if (parse_nibble(text[0], &hi, &hi_mask))
		return 0;
	if (text[1] == '\0')
		return 0;
	if (parse_nibble(text[1], &lo, &lo_mask))
		return 1;
	pt->value[pt->len] = (uint8_t)(hi << 4 | lo);
	pt->mask[pt->len] = (uint8_t)(hi_mask << 4 | lo_mask);
	pt->len++;
	return -1;
}

/* Fills PT from TEXT. BAD_PATTERN with *ret_offset set on malformed or too long text. */
static int parse_text(const char *text, struct ms_pattern_text *pt, size_t *ret_offset)
{
	size_t i = 0;
	int bad;

	for (;;) {
		while (is_space(text[i]))
			i++;
		if (text[i] == '\0')
			return MEMSCAN_OK;
		if (pt->len == MEMSCAN_PATTERN_MAX) {
			*ret_offset = i;
			return MEMSCAN_ERR_BAD_PATTERN;
		}
		bad = parse_token(text + i, pt);
		if (bad >= 0) {
			*ret_offset = i + (size_t)bad;
			return MEMSCAN_ERR_BAD_PATTERN;
		}
		i += 2;
	}
}

/* How likely a fixed byte is to be rare in memory: 0x00 is the most common, then 0xFF. */
static int byte_rarity(uint8_t b)
{
	if (b == 0x00)
		return 0;
	if (b == 0xFF)
		return 1;
	return 2;
}

/* The fully fixed position with the rarest-looking byte (first on ties), or NO_ANCHOR. */
static size_t pick_anchor(const struct ms_pattern_text *pt)
{
	size_t best = MS_PATTERN_NO_ANCHOR;
	int best_rarity = -1;
	size_t i;

	for (i = 0; i < pt->len; i++) {
		if (pt->mask[i] != 0xFF)
			continue;
		if (byte_rarity(pt->value[i]) > best_rarity) {
			best = i;
			best_rarity = byte_rarity(pt->value[i]);
		}
	}
	return best;
}

/* Two adjacent fully fixed bytes with the rarest-looking values (first on ties), or NO_ANCHOR: a
 * pair filter passes one random position in 65536 where one byte passes one in 256. */
static size_t pick_pair(const struct ms_pattern_text *pt)
{
	size_t best = MS_PATTERN_NO_ANCHOR;
	int best_rarity = -1;

	for (size_t i = 0; i + 1 < pt->len; i++) {
		int rarity = byte_rarity(pt->value[i]) + byte_rarity(pt->value[i + 1]);
		if (pt->mask[i] != 0xFF || pt->mask[i + 1] != 0xFF || rarity <= best_rarity)
			continue;
		best = i;
		best_rarity = rarity;
	}
	return best;
}

/* The first position with a fixed nibble, or NO_ANCHOR if the pattern is wildcards only. */
static size_t pick_probe(const struct ms_pattern_text *pt)
{
	size_t i;

	for (i = 0; i < pt->len; i++)
		if (pt->mask[i])
			return i;
	return MS_PATTERN_NO_ANCHOR;
}

static int pattern_build(const struct ms_pattern_text *pt, memscan_pattern **ret_pattern)
{
	memscan_pattern *pat;

	pat = malloc(sizeof(*pat) + 2 * pt->len);
	if (!pat)
		return MEMSCAN_ERR_NO_MEMORY;
	pat->len = pt->len;
	pat->value = pat->bytes;
	pat->mask = pat->bytes + pt->len;
	memcpy(pat->value, pt->value, pt->len);
	memcpy(pat->mask, pt->mask, pt->len);
	pat->anchor = pick_anchor(pt);
	pat->probe = pick_probe(pt);
	pat->pair = pick_pair(pt);
	*ret_pattern = pat;
	return MEMSCAN_OK;
}

/* Empty, whitespace-only and wildcard-only patterns are blamed on offset 0: the whole text. */
int memscan_pattern_parse(const char *text, memscan_pattern **ret_pattern, size_t *ret_error_offset)
{
	struct ms_pattern_text *pt;
	size_t offset = 0;
	int err;

	if (ret_pattern)
		*ret_pattern = NULL;
	if (ret_error_offset)
		*ret_error_offset = 0;
	if (!text || !ret_pattern)
		return MEMSCAN_ERR_INVALID_ARG;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return MEMSCAN_ERR_NO_MEMORY;
	err = parse_text(text, pt, &offset);
	if (!err && (pt->len == 0 || pick_probe(pt) == MS_PATTERN_NO_ANCHOR))
		err = MEMSCAN_ERR_BAD_PATTERN;
	if (!err)
		err = pattern_build(pt, ret_pattern);
	else if (err == MEMSCAN_ERR_BAD_PATTERN && ret_error_offset)
		*ret_error_offset = offset;
	free(pt);
	return err;
}

size_t memscan_pattern_length(const memscan_pattern *pattern)
{
	return pattern ? pattern->len : 0;
}

int memscan_pattern_matches(const memscan_pattern *pattern, const uint8_t *data)
{
	size_t i;

	if (!pattern || !data)
		return 0;
	for (i = 0; i < pattern->len; i++)
		if ((data[i] & pattern->mask[i]) != pattern->value[i])
			return 0;
	return 1;
}

void memscan_pattern_free(memscan_pattern *pattern)
{
	free(pattern);
}
