/* SPDX-License-Identifier: MIT */
/* Byte patterns: parsing "4D 5A ?? 0?" text into value/mask bytes and matching them. */
#include <stdint.h>
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

static unsigned nibble_score(unsigned mask, unsigned value)
{
	if (!mask)
		return 0;
	return value == 0 ? 1 : value == 0xF ? 2 : 4;
}

unsigned ms_pattern_score(uint8_t mask, uint8_t value)
{
	return nibble_score(mask >> 4, value >> 4) + nibble_score(mask & 0xF, value & 0xF);
}

/* The position with the best score (first on ties) other than SKIP, or SKIP if there is none. */
static size_t pick_position(const struct ms_pattern_text *pt, size_t skip)
{
	size_t best = skip;
	unsigned best_score = 0, score;

	for (size_t i = 0; i < pt->len; i++) {
		score = ms_pattern_score(pt->mask[i], pt->value[i]);
		if (i != skip && score > best_score) {
			best = i;
			best_score = score;
		}
	}
	return best;
}

/* Runs longer than this are checked after every shorter piece: a long memcmp costs more than it
 * adds in selectivity over its first bytes. */
#define MS_PIECE_SHORT 16

/* Verification order: short pieces before long ones, then the most selective first, then by
 * position. */
static int piece_cmp(const void *pa, const void *pb)
{
	const struct ms_piece *a = pa, *b = pb;
	int along = a->len > MS_PIECE_SHORT, blong = b->len > MS_PIECE_SHORT;

	if (along != blong)
		return along - blong;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* Cuts the pattern into pieces (runs of fully fixed bytes, single nibble bytes) into OUT; their
 * count. */
static size_t pattern_pieces(const struct ms_pattern_text *pt, struct ms_piece *out)
{
	size_t n = 0, i = 0, run;
	unsigned score;

	while (i < pt->len) {
		if (pt->mask[i] == 0) {
			i++;
			continue;
		}
		run = 1;
		score = ms_pattern_score(pt->mask[i], pt->value[i]);
		while (pt->mask[i] == 0xFF && i + run < pt->len && pt->mask[i + run] == 0xFF)
			score += ms_pattern_score(0xFF, pt->value[i + run++]);
		out[n++] = (struct ms_piece){ .off = (uint16_t)i,
			                      .len = (uint16_t)run,
			                      .score = (uint16_t)(score < UINT16_MAX ? score : UINT16_MAX),
			                      .mask = pt->mask[i],
			                      .value = pt->value[i] };
		i += run;
	}
	qsort(out, n, sizeof(*out), piece_cmp);
	return n;
}

static int pattern_build(const struct ms_pattern_text *pt, memscan_pattern **ret_pattern)
{
	memscan_pattern *pat;
	size_t pieces = 0;

	for (size_t i = 0; i < pt->len; i++)
		pieces += pt->mask[i] && (i == 0 || pt->mask[i] != 0xFF || pt->mask[i - 1] != 0xFF);
	pat = malloc(sizeof(*pat) + pieces * sizeof(pat->pieces[0]) + 2 * pt->len);
	if (!pat)
		return MEMSCAN_ERR_NO_MEMORY;
	pat->len = pt->len;
	pat->value = (uint8_t *)(pat->pieces + pieces);
	pat->mask = pat->value + pt->len;
	memcpy(pat->value, pt->value, pt->len);
	memcpy(pat->mask, pt->mask, pt->len);
	pat->first = pick_position(pt, SIZE_MAX);
	pat->second = pick_position(pt, pat->first);
	pat->piece_count = pattern_pieces(pt, pat->pieces);
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
	if (!err && (pt->len == 0 || pick_position(pt, SIZE_MAX) == SIZE_MAX))
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

bool memscan_pattern_matches(const memscan_pattern *pattern, const uint8_t *data)
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
