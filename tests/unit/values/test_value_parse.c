/* SPDX-License-Identifier: MIT */
/* Unit tests of value_parse.c: type names, values of every type parsed from text (hex, ranges, floats
 * at their written precision, epsilon, UTF-8 and UTF-16LE strings), bad input and its offsets, and
 * the predicates that narrow sets. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>
#include "testutil.h"
#include "values.h"

static memscan_value *parse(memscan_value_type t, const char *text, const memscan_value_options *opt)
{
	memscan_value *v = NULL;

	assert_int_equal(memscan_value_parse(t, text, opt, &v, NULL), MEMSCAN_OK);
	assert_non_null(v);
	return v;
}

/* Asserts that TEXT fails to parse as T with ERR at offset OFF. */
static void parse_fails(memscan_value_type t, const char *text, int err, size_t off)
{
	memscan_value *v = (memscan_value *)1;
	size_t at = 999;

	assert_int_equal(memscan_value_parse(t, text, NULL, &v, &at), err);
	assert_null(v);
	assert_int_equal(at, off);
}

static int matches_u64(const memscan_value *v, uint64_t x)
{
	uint8_t b[8];

	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(x >> (8 * k));
	return memscan_value_matches(v, b);
}

static int matches_f32(const memscan_value *v, float x)
{
	uint8_t b[4];

	memcpy(b, &x, 4); /* little-endian host */
	return memscan_value_matches(v, b);
}

static int matches_f64(const memscan_value *v, double x)
{
	uint8_t b[8];

	memcpy(b, &x, 8);
	return memscan_value_matches(v, b);
}

static void test_type_names(void **state)
{
	static const char *const names[] = { "i8",  "u8",  "i16", "u16", "i32", "u32",
		                             "i64", "u64", "f32", "f64", "str" };
	static const size_t sizes[] = { 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 0 };
	memscan_value_type t;

	(void)state;
	for (size_t k = 0; k < 11; k++) {
		assert_int_equal(memscan_value_type_parse(names[k], &t), MEMSCAN_OK);
		assert_int_equal(t, MEMSCAN_VALUE_I8 + (int)k);
		assert_string_equal(memscan_value_type_name(t), names[k]);
		assert_int_equal(memscan_value_type_size(t), sizes[k]);
	}
	assert_int_equal(memscan_value_type_parse("int32", &t), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(t, 0);
	assert_int_equal(memscan_value_type_parse("", &t), MEMSCAN_ERR_INVALID_ARG);
	assert_string_equal(memscan_value_type_name(99), "?");
	assert_int_equal(memscan_value_parse(99, "1", NULL, &(memscan_value *){ NULL }, NULL),
	                 MEMSCAN_ERR_INVALID_ARG);
}

static void test_integers(void **state)
{
	memscan_value *v;

	(void)state;
	v = parse(MEMSCAN_VALUE_I8, "-128", NULL);
	assert_true(matches_u64(v, 0x80));
	assert_false(matches_u64(v, 0x7f));
	assert_int_equal(memscan_value_width(v), 1);
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_U16, "0xBEEF", NULL);
	assert_true(matches_u64(v, 0xbeef));
	assert_false(matches_u64(v, 0xbeee));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_I32, "-2", NULL);
	assert_true(matches_u64(v, 0xfffffffe));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_U64, "18446744073709551615", NULL);
	assert_true(matches_u64(v, UINT64_MAX));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_I64, "-9223372036854775808", NULL);
	assert_true(matches_u64(v, (uint64_t)1 << 63));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_I16, "-5..0x10", NULL); /* inclusive range */
	assert_true(matches_u64(v, 0xfffb));
	assert_true(matches_u64(v, 0x10));
	assert_true(matches_u64(v, 0));
	assert_false(matches_u64(v, 0x11));
	assert_false(matches_u64(v, 0xfffa));
	memscan_value_free(v);
}

static void test_bad_integers(void **state)
{
	(void)state;
	parse_fails(MEMSCAN_VALUE_U8, "256", MEMSCAN_ERR_LIMIT, 0);
	parse_fails(MEMSCAN_VALUE_I8, "-129", MEMSCAN_ERR_LIMIT, 0);
	parse_fails(MEMSCAN_VALUE_U32, "-1", MEMSCAN_ERR_LIMIT, 0);
	parse_fails(MEMSCAN_VALUE_U64, "18446744073709551616", MEMSCAN_ERR_LIMIT, 19);
	parse_fails(MEMSCAN_VALUE_I32, "12a", MEMSCAN_ERR_BAD_FORMAT, 2);
	parse_fails(MEMSCAN_VALUE_I32, "", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_I32, "ten", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_I32, "1.5", MEMSCAN_ERR_BAD_FORMAT, 1);
	parse_fails(MEMSCAN_VALUE_U16, "0xg", MEMSCAN_ERR_BAD_FORMAT, 2);
	parse_fails(MEMSCAN_VALUE_I32, "5..1", MEMSCAN_ERR_BAD_FORMAT, 1); /* A above B */
	parse_fails(MEMSCAN_VALUE_I32, "1..", MEMSCAN_ERR_BAD_FORMAT, 3);
	parse_fails(MEMSCAN_VALUE_I32, "..4", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_U8, "1..300", MEMSCAN_ERR_LIMIT, 3);
}

static void test_floats(void **state)
{
	memscan_value_options eps = { .flags = MEMSCAN_VALUE_EPSILON, .epsilon = 0.001 };
	memscan_value *v;

	(void)state;
	v = parse(MEMSCAN_VALUE_F32, "3.75", NULL); /* what rounds to 3.75 at two decimals */
	assert_true(matches_f32(v, 3.75f));
	assert_true(matches_f32(v, 3.7499999f));
	assert_true(matches_f32(v, 3.754f));
	assert_false(matches_f32(v, 3.756f));
	assert_false(matches_f32(v, 3.74f));
	assert_false(matches_f32(v, __builtin_nanf("")));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_F64, "100", NULL);
	assert_true(matches_f64(v, 100.4));
	assert_false(matches_f64(v, 100.6));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_F64, "-1.5e2", NULL); /* -150 at one digit past the point of 1.5e2: +-5 */
	assert_true(matches_f64(v, -154.9));
	assert_false(matches_f64(v, -155.1));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_F64, "3.75", &eps);
	assert_true(matches_f64(v, 3.7505));
	assert_false(matches_f64(v, 3.752));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_F32, "1.5..2", NULL);
	assert_true(matches_f32(v, 1.5f));
	assert_true(matches_f32(v, 2.4f));
	assert_false(matches_f32(v, 1.4f));
	memscan_value_free(v);
	parse_fails(MEMSCAN_VALUE_F32, "1e39", MEMSCAN_ERR_LIMIT, 0);
	parse_fails(MEMSCAN_VALUE_F64, "nan", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_F64, "inf", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_F64, "1.2.3", MEMSCAN_ERR_BAD_FORMAT, 3);
	parse_fails(MEMSCAN_VALUE_F64, "1e", MEMSCAN_ERR_BAD_FORMAT, 2);
	eps.epsilon = -1;
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_F64, "1", &eps, &v, NULL),
	                 MEMSCAN_ERR_INVALID_ARG);
}

static void test_strings(void **state)
{
	memscan_value_options u16 = { .flags = MEMSCAN_VALUE_UTF16 };
	static const uint8_t want16[] = { 'h', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde }; /* hé😀 */
	char longtext[MEMSCAN_VALUE_STR_MAX + 2];
	memscan_value *v;

	(void)state;
	v = parse(MEMSCAN_VALUE_STR, "h\xc3\xa9\xf0\x9f\x98\x80", NULL);
	assert_int_equal(memscan_value_width(v), 7);
	assert_true(memscan_value_matches(v, (const uint8_t *)"h\xc3\xa9\xf0\x9f\x98\x80"));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_STR, "h\xc3\xa9\xf0\x9f\x98\x80", &u16);
	assert_int_equal(memscan_value_width(v), sizeof(want16));
	assert_true(memscan_value_matches(v, want16));
	memscan_value_free(v);
	v = parse(MEMSCAN_VALUE_STR, "1..2", NULL); /* strings have no ranges: the text itself */
	assert_int_equal(memscan_value_width(v), 4);
	memscan_value_free(v);
	parse_fails(MEMSCAN_VALUE_STR, "", MEMSCAN_ERR_BAD_FORMAT, 0);
	parse_fails(MEMSCAN_VALUE_STR, "ab\xc3", MEMSCAN_ERR_BAD_FORMAT, 2);
	parse_fails(MEMSCAN_VALUE_STR, "a\xc0\x80", MEMSCAN_ERR_BAD_FORMAT, 1); /* overlong */
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	parse_fails(MEMSCAN_VALUE_STR, longtext, MEMSCAN_ERR_LIMIT, MEMSCAN_VALUE_STR_MAX);
}

/* ms_pred_keep on i32 OLD -> NOW with the predicate KIND against VALUE_TEXT (or none). */
static int keeps(memscan_value_pred_kind kind, const char *value_text, int32_t old, int32_t now)
{
	memscan_value *v = value_text ? parse(MEMSCAN_VALUE_I32, value_text, NULL) : NULL;
	memscan_value_pred pred = { .kind = kind, .value = v };
	int k;

	assert_int_equal(ms_pred_check(&pred, MEMSCAN_VALUE_I32, 4), MEMSCAN_OK);
	k = ms_pred_keep(&pred, MEMSCAN_VALUE_I32, 4, (const uint8_t *)&old, (const uint8_t *)&now);
	memscan_value_free(v);
	return k;
}

static void test_predicates(void **state)
{
	memscan_value *v = parse(MEMSCAN_VALUE_I32, "-1", NULL);
	memscan_value *s = parse(MEMSCAN_VALUE_STR, "abcd", NULL);
	memscan_value_pred bad = { .kind = MEMSCAN_PRED_DECREASED_BY, .value = v };

	(void)state;
	assert_true(keeps(MEMSCAN_PRED_INCREASED, NULL, -5, 3));
	assert_false(keeps(MEMSCAN_PRED_INCREASED, NULL, 3, -5)); /* signed order, not bytes */
	assert_true(keeps(MEMSCAN_PRED_DECREASED, NULL, 3, -5));
	assert_true(keeps(MEMSCAN_PRED_INCREASED_BY, "8", -5, 3));
	assert_false(keeps(MEMSCAN_PRED_INCREASED_BY, "8", 3, -5));
	assert_true(keeps(MEMSCAN_PRED_DECREASED_BY, "1..10", 3, -5));
	assert_true(keeps(MEMSCAN_PRED_INCREASED_BY, "2147483647", -1, INT32_MAX - 1));
	assert_true(keeps(MEMSCAN_PRED_GT, "2", 0, 3));
	assert_false(keeps(MEMSCAN_PRED_GT, "3", 0, 3));
	assert_true(keeps(MEMSCAN_PRED_LT, "-4", 0, -5));
	assert_true(keeps(MEMSCAN_PRED_BETWEEN, "-5..3", 0, -5));
	assert_true(keeps(MEMSCAN_PRED_NE, "4", 0, 3));
	assert_true(keeps(MEMSCAN_PRED_CHANGED, NULL, 0, 3));
	assert_true(keeps(MEMSCAN_PRED_UNCHANGED, NULL, 3, 3));
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_I32, 4), MEMSCAN_ERR_INVALID_ARG); /* D < 0 */
	bad.kind = MEMSCAN_PRED_EQ;
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_U32, 4), MEMSCAN_ERR_INVALID_ARG); /* type */
	bad.value = NULL;
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_I32, 4), MEMSCAN_ERR_INVALID_ARG);
	bad.kind = MEMSCAN_PRED_INCREASED;
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_STR, 4), MEMSCAN_ERR_INVALID_ARG);
	bad = (memscan_value_pred){ .kind = MEMSCAN_PRED_EQ, .value = s };
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_STR, 4), MEMSCAN_OK);
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_STR, 5), MEMSCAN_ERR_INVALID_ARG);
	bad.kind = 0;
	assert_int_equal(ms_pred_check(&bad, MEMSCAN_VALUE_STR, 4), MEMSCAN_ERR_INVALID_ARG);
	memscan_value_free(v);
	memscan_value_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),   cmocka_unit_test(test_integers),
		cmocka_unit_test(test_bad_integers), cmocka_unit_test(test_floats),
		cmocka_unit_test(test_strings),      cmocka_unit_test(test_predicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
