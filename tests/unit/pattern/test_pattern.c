/* SPDX-License-Identifier: MIT */
/* Unit tests of the byte-pattern parser: accepted forms, every malformed form, anchor, matching. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>
#include "testutil.h"
#include "pattern.h"

/* Parses TEXT, which must be valid, and checks its length. */
static memscan_pattern *parse_ok(const char *text, size_t want_len)
{
	memscan_pattern *pat = NULL;
	size_t off = 77;

	assert_int_equal(memscan_pattern_parse(text, &pat, &off), MEMSCAN_OK);
	assert_non_null(pat);
	assert_int_equal(off, 0);
	assert_int_equal(memscan_pattern_length(pat), want_len);
	return pat;
}

/* Parses TEXT, which must be malformed, and checks the blamed offset. */
static void parse_bad(const char *text, size_t want_offset)
{
	memscan_pattern *pat = (memscan_pattern *)&pat;
	size_t off = 12345;

	assert_int_equal(memscan_pattern_parse(text, &pat, &off), MEMSCAN_ERR_BAD_PATTERN);
	assert_null(pat);
	assert_int_equal(off, want_offset);
}

/* Builds N tokens "AB" (separated by SEP if not '\0') into a new string. */
static char *make_tokens(size_t n, char sep)
{
	size_t step = sep ? 3 : 2, i;
	char *s = malloc(n * step + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[i * step] = 'A';
		s[i * step + 1] = 'B';
		if (sep)
			s[i * step + 2] = sep;
	}
	s[n * step] = '\0';
	return s;
}

static void test_pattern_parse_spaced(void **state)
{
	static const uint8_t yes[] = { 0x4D, 0x5A, 0x77, 0x00 };
	static const uint8_t no[] = { 0x4D, 0x5A, 0x77, 0x01 };
	memscan_pattern *pat = parse_ok("4D 5A ?? 00", 4);

	assert_true(memscan_pattern_matches(pat, yes));
	assert_false(memscan_pattern_matches(pat, no));
	memscan_pattern_free(pat);
}

static void test_pattern_parse_unspaced(void **state)
{
	static const uint8_t yes[] = { 0x4D, 0x5A, 0xFF, 0x00 };
	static const uint8_t no[] = { 0x4D, 0x5B, 0xFF, 0x00 };
	memscan_pattern *pat = parse_ok("4D5A??00", 4);

	assert_true(memscan_pattern_matches(pat, yes));
	assert_false(memscan_pattern_matches(pat, no));
	memscan_pattern_free(pat);
}

static void test_pattern_parse_mixed_whitespace(void **state)
{
	static const uint8_t yes[] = { 0x01, 0x23, 0x45, 0x67 };
	memscan_pattern *pat = parse_ok(" \t01\n23  4567\r\n", 4);

	assert_true(memscan_pattern_matches(pat, yes));
	memscan_pattern_free(pat);
}

static void test_pattern_parse_lower_case(void **state)
{
	static const uint8_t yes[] = { 0xAB, 0xCD, 0xEF };
	static const uint8_t no[] = { 0xAB, 0xCD, 0xEE };
	memscan_pattern *pat = parse_ok("ab cD Ef", 3);

	assert_true(memscan_pattern_matches(pat, yes));
	assert_false(memscan_pattern_matches(pat, no));
	memscan_pattern_free(pat);
}

static void test_pattern_parse_nibble_wildcards(void **state)
{
	static const uint8_t yes1[] = { 0x40, 0x0D, 0x12 };
	static const uint8_t yes2[] = { 0x4F, 0xFD, 0x99 };
	static const uint8_t no_hi[] = { 0x50, 0x0D, 0x00 };
	static const uint8_t no_lo[] = { 0x40, 0x0E, 0x00 };
	memscan_pattern *pat = parse_ok("4? ?D ??", 3);

	assert_true(memscan_pattern_matches(pat, yes1));
	assert_true(memscan_pattern_matches(pat, yes2));
	assert_false(memscan_pattern_matches(pat, no_hi));
	assert_false(memscan_pattern_matches(pat, no_lo));
	memscan_pattern_free(pat);
}

static void test_pattern_value_and_mask(void **state)
{
	memscan_pattern *pat = parse_ok("4? ?d ?? a5", 4);

	assert_memory_equal(pat->value, ((const uint8_t[]){ 0x40, 0x0D, 0x00, 0xA5 }), 4);
	assert_memory_equal(pat->mask, ((const uint8_t[]){ 0xF0, 0x0F, 0x00, 0xFF }), 4);
	assert_int_equal(pat->first, 3);  /* A5 scores 8 */
	assert_int_equal(pat->second, 0); /* 4? scores 4, ?D 4: the first of them */
	memscan_pattern_free(pat);
}

static void test_pattern_parse_single_byte(void **state)
{
	static const uint8_t yes[] = { 0x90 };
	static const uint8_t no[] = { 0x91 };
	memscan_pattern *pat = parse_ok("90", 1);

	assert_true(memscan_pattern_matches(pat, yes));
	assert_false(memscan_pattern_matches(pat, no));
	memscan_pattern_free(pat);
}

static void test_pattern_parse_wildcards_around_one_nibble(void **state)
{
	memscan_pattern *pat = parse_ok("?? ?? ?7 ??", 4);

	assert_int_equal(pat->first, 2);
	assert_int_equal(pat->second, 2); /* the only position with a fixed nibble: filtered alone */
	memscan_pattern_free(pat);
}

static void test_pattern_parse_rejects_empty(void **state)
{
	parse_bad("", 0);
	parse_bad("   ", 0);
	parse_bad("\t\n", 0);
}

static void test_pattern_parse_rejects_lone_char(void **state)
{
	parse_bad("?", 0);
	parse_bad("4", 0);
	parse_bad("4D ?", 3);
	parse_bad("4D 5", 3);
	parse_bad("4D5", 2);
	parse_bad("4D5A5", 4);
	parse_bad("4D 5 ", 4);
}

static void test_pattern_parse_rejects_invalid_chars(void **state)
{
	parse_bad("4G", 1);
	parse_bad("G4", 0);
	parse_bad("0x4D", 1);
	parse_bad("4D,5A", 2);
	parse_bad("4D 5A -1", 6);
	parse_bad("4D*", 2);
	parse_bad("4D\xC3\xA9", 2);
}

static void test_pattern_parse_rejects_space_in_token(void **state)
{
	parse_bad("4 D", 1);
	parse_bad("4D 5\tA", 4);
	parse_bad("? ?", 1);
}

static void test_pattern_parse_rejects_wildcards_only(void **state)
{
	parse_bad("??", 0);
	parse_bad("?? ?? ??", 0);
	parse_bad("????", 0);
}

static void test_pattern_parse_accepts_max_length(void **state)
{
	char *spaced = make_tokens(MEMSCAN_PATTERN_MAX, ' ');
	char *packed = make_tokens(MEMSCAN_PATTERN_MAX, '\0');
	memscan_pattern *pat;

	pat = parse_ok(spaced, MEMSCAN_PATTERN_MAX);
	memscan_pattern_free(pat);
	pat = parse_ok(packed, MEMSCAN_PATTERN_MAX);
	memscan_pattern_free(pat);
	free(spaced);
	free(packed);
}

static void test_pattern_parse_rejects_too_long(void **state)
{
	char *spaced = make_tokens(MEMSCAN_PATTERN_MAX + 1, ' ');
	char *packed = make_tokens(MEMSCAN_PATTERN_MAX + 5, '\0');

	parse_bad(spaced, 3 * MEMSCAN_PATTERN_MAX);
	parse_bad(packed, 2 * MEMSCAN_PATTERN_MAX);
	free(spaced);
	free(packed);
}

static void test_pattern_parse_invalid_args(void **state)
{
	memscan_pattern *pat = (memscan_pattern *)&pat;
	size_t off = 9;

	assert_int_equal(memscan_pattern_parse(NULL, &pat, &off), MEMSCAN_ERR_INVALID_ARG);
	assert_null(pat);
	assert_int_equal(off, 0);
	assert_int_equal(memscan_pattern_parse("4D", NULL, &off), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_pattern_parse("4G", &pat, NULL), MEMSCAN_ERR_BAD_PATTERN);
	assert_null(pat);
	assert_int_equal(memscan_pattern_parse("4D", &pat, NULL), MEMSCAN_OK);
	memscan_pattern_free(pat);
}

/* The filter positions are the two best scores (first on ties): 0x00 scores least, then 0xFF, then
 * any other byte; a nibble 0 least, then F, then any other. */
static void test_pattern_filter_choice(void **state)
{
	static const struct {
		const char *text;
		size_t first, second;
	} cases[] = {
		{ "41 42 43", 0, 1 },    { "00 FF 41", 2, 1 }, { "00 FF", 1, 0 },       { "00 00", 0, 1 },
		{ "4? 00 ?1", 0, 2 },    { "FF 00", 0, 1 },    { "?? 00 7F 7E", 3, 2 }, { "4? ?1", 0, 1 },
		{ "00 00 00 1?", 3, 0 }, { "0? ?0 ?F", 2, 0 },
	};
	memscan_pattern *pat;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(memscan_pattern_parse(cases[i].text, &pat, NULL), MEMSCAN_OK);
		assert_int_equal(pat->first, cases[i].first);
		assert_int_equal(pat->second, cases[i].second);
		memscan_pattern_free(pat);
	}
}

/* Pieces: runs of fixed bytes and nibble bytes, short and selective ones first; every fixed nibble
 * is covered exactly once. */
static void test_pattern_pieces(void **state)
{
	memscan_pattern *pat;
	char text[3 * 40 + 16] = "00 00 ?? 4? 41 42 ?? ";
	size_t i, off = strlen(text);

	for (i = 0; i < 20; i++, off += 3)
		memcpy(text + off, "00 ", 4);
	assert_int_equal(memscan_pattern_parse(text, &pat, NULL), MEMSCAN_OK);
	assert_int_equal(pat->piece_count, 4);
	assert_int_equal(pat->pieces[0].off, 4); /* 41 42: score 16 */
	assert_int_equal(pat->pieces[0].len, 2);
	assert_int_equal(pat->pieces[1].off, 0); /* 00 00: score 4 */
	assert_int_equal(pat->pieces[2].off, 3); /* 4?: score 4, later */
	assert_int_equal(pat->pieces[2].mask, 0xF0);
	assert_int_equal(pat->pieces[3].off, 7); /* 20 bytes: long, last */
	assert_int_equal(pat->pieces[3].len, 20);
	memscan_pattern_free(pat);
}

static void test_pattern_null_handling(void **state)
{
	static const uint8_t data[] = { 0 };

	assert_int_equal(memscan_pattern_length(NULL), 0);
	assert_false(memscan_pattern_matches(NULL, data));
	memscan_pattern_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_parse_spaced),
		cmocka_unit_test(test_pattern_parse_unspaced),
		cmocka_unit_test(test_pattern_parse_mixed_whitespace),
		cmocka_unit_test(test_pattern_parse_lower_case),
		cmocka_unit_test(test_pattern_parse_nibble_wildcards),
		cmocka_unit_test(test_pattern_value_and_mask),
		cmocka_unit_test(test_pattern_parse_single_byte),
		cmocka_unit_test(test_pattern_parse_wildcards_around_one_nibble),
		cmocka_unit_test(test_pattern_parse_rejects_empty),
		cmocka_unit_test(test_pattern_parse_rejects_lone_char),
		cmocka_unit_test(test_pattern_parse_rejects_invalid_chars),
		cmocka_unit_test(test_pattern_parse_rejects_space_in_token),
		cmocka_unit_test(test_pattern_parse_rejects_wildcards_only),
		cmocka_unit_test(test_pattern_parse_accepts_max_length),
		cmocka_unit_test(test_pattern_parse_rejects_too_long),
		cmocka_unit_test(test_pattern_parse_invalid_args),
		cmocka_unit_test(test_pattern_filter_choice),
		cmocka_unit_test(test_pattern_pieces),
		cmocka_unit_test(test_pattern_null_handling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
