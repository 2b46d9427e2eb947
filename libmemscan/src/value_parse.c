/* SPDX-License-Identifier: MIT */
/* Value types and values parsed from text (integers, floats at their written precision, ranges,
 * strings), decoding of remote bytes, and the predicates that narrow candidate sets. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "values.h"

static const char *const type_names[] = { NULL,  "i8",  "u8",  "i16", "u16", "i32",
	                                  "u32", "i64", "u64", "f32", "f64", "str" };

const char *memscan_value_type_name(memscan_value_type type)
{
	return type >= MEMSCAN_VALUE_I8 && type <= MEMSCAN_VALUE_STR ? type_names[type] : "?";
}

int memscan_value_type_parse(const char *text, memscan_value_type *ret_type)
{
	if (ret_type)
		*ret_type = 0;
	if (!text || !ret_type)
		return MEMSCAN_ERR_INVALID_ARG;
	for (int t = MEMSCAN_VALUE_I8; t <= MEMSCAN_VALUE_STR; t++) {
		if (!strcmp(text, type_names[t])) {
			*ret_type = (memscan_value_type)t;
			return MEMSCAN_OK;
		}
	}
	return MEMSCAN_ERR_INVALID_ARG;
}

size_t memscan_value_type_size(memscan_value_type type)
{
	static const unsigned char sizes[] = { 0, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 0 };

	return type >= MEMSCAN_VALUE_I8 && type <= MEMSCAN_VALUE_STR ? sizes[type] : 0;
}

static int is_float(memscan_value_type t)
{
	return t == MEMSCAN_VALUE_F32 || t == MEMSCAN_VALUE_F64;
}

static int is_signed(memscan_value_type t)
{
	return t == MEMSCAN_VALUE_I8 || t == MEMSCAN_VALUE_I16 || t == MEMSCAN_VALUE_I32 ||
	       t == MEMSCAN_VALUE_I64;
}

union ms_num ms_value_decode(memscan_value_type type, const uint8_t *p)
{
	union ms_num n = { .u = 0 };
	size_t w = memscan_value_type_size(type);
	uint64_t u = 0;

	for (size_t k = 0; k < w; k++)
		u |= (uint64_t)p[k] << (8 * k);
	if (type == MEMSCAN_VALUE_F32) {
		float f;
		uint32_t v = (uint32_t)u;
		memcpy(&f, &v, sizeof(f));
		n.f = f;
	} else if (type == MEMSCAN_VALUE_F64) {
		memcpy(&n.f, &u, sizeof(n.f));
	} else if (is_signed(type) && w < 8 && (u >> (8 * w - 1)) & 1) {
		n.i = (int64_t)(u | ~(((uint64_t)1 << (8 * w)) - 1)); /* sign-extended */
	} else {
		n.u = u;
	}
	return n;
}

/* Parses an integer of TYPE from [S, E); BAD_FORMAT or LIMIT with *BAD at the offending character. */
static int parse_int(memscan_value_type type, const char *s, const char *e, union ms_num *out,
                     const char **bad)
{
	const char *p = s;
	int neg = 0, base = 10;
	uint64_t mag = 0, lim_pos, lim_neg;
	size_t w = memscan_value_type_size(type);

	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (e - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	*bad = p;
	if (p == e)
		return MEMSCAN_ERR_BAD_FORMAT;
	for (; p < e; p++) {
		int d = *p >= '0' && *p <= '9'                 ? *p - '0'
		        : base == 16 && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
		        : base == 16 && *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
		                                               : -1;
		*bad = p;
		if (d < 0)
			return MEMSCAN_ERR_BAD_FORMAT;
		if (mag > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return MEMSCAN_ERR_LIMIT;
		mag = mag * (uint64_t)base + (uint64_t)d;
	}
	*bad = s;
	lim_pos = is_signed(type) ? ((uint64_t)1 << (8 * w - 1)) - 1
	                          : (w == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w)) - 1);
	lim_neg = is_signed(type) ? (uint64_t)1 << (8 * w - 1) : 0;
	if (neg ? mag > lim_neg : mag > lim_pos)
		return MEMSCAN_ERR_LIMIT;
	if (is_signed(type))
		out->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	else
		out->u = mag;
	return MEMSCAN_OK;
}

/* 10 to the power E (E clamped to what a double can hold), without libm. */
static double pow10_of(long e)
{
	double p = 1;

	for (long k = 0; k < e && k < 400; k++)
		p *= 10;
	for (long k = 0; k > e && k > -400; k--)
		p /= 10;
	return p;
}

/* Parses a decimal float from [S, E): *OUT the number, *HALF half a unit of its last written digit. */
static int parse_float(memscan_value_type type, const char *s, const char *e, double *out, double *half,
                       const char **bad)
{
	const char *p = s;
	char buf[128];
	int digits = 0, frac = 0;
	long exp10 = 0;

	if (p < e && (*p == '-' || *p == '+'))
		p++;
	for (; p < e && *p >= '0' && *p <= '9'; p++)
		digits++;
	if (p < e && *p == '.')
		for (p++; p < e && *p >= '0' && *p <= '9'; p++, frac++)
			digits++;
	*bad = p;
	if (digits == 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (p < e && (*p == 'e' || *p == 'E')) {
		const char *q = p + 1;
		int neg = 0, ed = 0;
		if (q < e && (*q == '-' || *q == '+'))
			neg = *q++ == '-';
		for (; q < e && *q >= '0' && *q <= '9' && ed < 5; q++, ed++)
			exp10 = exp10 * 10 + (*q - '0');
		*bad = q;
		if (ed == 0 || (q < e && *q >= '0' && *q <= '9'))
			return MEMSCAN_ERR_BAD_FORMAT;
		exp10 = neg ? -exp10 : exp10;
		p = q;
	}
	*bad = p;
	if (p != e)
		return MEMSCAN_ERR_BAD_FORMAT;
	*bad = s;
	if ((size_t)(e - s) >= sizeof(buf))
		return MEMSCAN_ERR_LIMIT;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	*out = strtod(buf, NULL);
	if (!isfinite(*out) || (type == MEMSCAN_VALUE_F32 && fabs(*out) > FLT_MAX))
		return MEMSCAN_ERR_LIMIT;
	*half = 0.5 * pow10_of(exp10 - frac);
	return MEMSCAN_OK;
}

/* One number of VALUE's type from [S, E) into *A, and the bounds it matches into *LO, *HI. */
static int parse_number(memscan_value *v, const memscan_value_options *opt, const char *s, const char *e,
                        union ms_num *a, union ms_num *lo, union ms_num *hi, const char **bad)
{
	double half = 0;
	int r;

	if (!is_float(v->type)) {
		r = parse_int(v->type, s, e, a, bad);
		*lo = *hi = *a;
		return r;
	}
	r = parse_float(v->type, s, e, &a->f, &half, bad);
	if (opt && (opt->flags & MEMSCAN_VALUE_EPSILON))
		half = opt->epsilon;
	lo->f = a->f - half;
	hi->f = a->f + half;
	return r;
}

static int cmp_num(memscan_value_type t, union ms_num x, union ms_num y)
{
	if (is_float(t))
		return x.f < y.f ? -1 : x.f > y.f;
	if (is_signed(t))
		return x.i < y.i ? -1 : x.i > y.i;
	return x.u < y.u ? -1 : x.u > y.u;
}

static int parse_numbers(memscan_value *v, const memscan_value_options *opt, const char *text,
                         const char **bad)
{
	const char *end = text + strlen(text), *dots = strstr(text, "..");
	union ms_num lo2, hi2;
	int r;

	if (!dots) {
		r = parse_number(v, opt, text, end, &v->a, &v->lo, &v->hi, bad);
		v->b = v->a;
		return r;
	}
	r = parse_number(v, opt, text, dots, &v->a, &v->lo, &hi2, bad);
	if (r == MEMSCAN_OK)
		r = parse_number(v, opt, dots + 2, end, &v->b, &lo2, &v->hi, bad);
	if (r == MEMSCAN_OK && cmp_num(v->type, v->a, v->b) > 0) {
		*bad = dots;
		r = MEMSCAN_ERR_BAD_FORMAT; /* A..B with A above B */
	}
	return r;
}

/* The code point of the UTF-8 sequence at *P (moved past it), or -1 if it is malformed. */
static long utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	int n = p[0] < 0x80             ? 0
	        : (p[0] & 0xE0) == 0xC0 ? 1
	        : (p[0] & 0xF0) == 0xE0 ? 2
	        : (p[0] & 0xF8) == 0xF0 ? 3
	                                : -1;
	long cp = n == 0 ? p[0] : n == 1 ? p[0] & 0x1F : n == 2 ? p[0] & 0x0F : p[0] & 0x07;
	static const long least[] = { 0, 0x80, 0x800, 0x10000 };

	if (n < 0)
		return -1;
	for (int k = 1; k <= n; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[k] & 0x3F);
	}
	if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*pp = p + n + 1;
	return cp;
}

static int parse_string(memscan_value *v, const memscan_value_options *opt, const char *text,
                        const char **bad)
{
	int utf16 = opt && (opt->flags & MEMSCAN_VALUE_UTF16);
	const unsigned char *p = (const unsigned char *)text;
	uint8_t out[MEMSCAN_VALUE_STR_MAX];
	size_t n = 0;

	*bad = text;
	if (!*p)
		return MEMSCAN_ERR_BAD_FORMAT;
	while (*p) {
		const unsigned char *at = p;
		long cp = utf8_next(&p);
		size_t need = !utf16 ? (size_t)(p - at) : cp >= 0x10000 ? 4 : 2;
		*bad = (const char *)at;
		if (cp < 0)
			return MEMSCAN_ERR_BAD_FORMAT;
		if (n + need > sizeof(out))
			return MEMSCAN_ERR_LIMIT;
		if (!utf16) {
			memcpy(out + n, at, need);
		} else if (cp < 0x10000) {
			out[n] = (uint8_t)cp;
			out[n + 1] = (uint8_t)(cp >> 8);
		} else {
			long hi = 0xD800 + ((cp - 0x10000) >> 10), lo = 0xDC00 + ((cp - 0x10000) & 0x3FF);
			uint8_t u[4] = { (uint8_t)hi, (uint8_t)(hi >> 8), (uint8_t)lo, (uint8_t)(lo >> 8) };
			memcpy(out + n, u, 4);
		}
		n += need;
	}
	v->bytes = malloc(n);
	if (!v->bytes)
		return MEMSCAN_ERR_NO_MEMORY;
	memcpy(v->bytes, out, n);
	v->len = n;
	return MEMSCAN_OK;
}

int memscan_value_parse(memscan_value_type type, const char *text, const memscan_value_options *options,
                        memscan_value **ret_value, size_t *ret_error_offset)
{
	memscan_value *v = NULL;
	const char *bad = text;
	int r;

	if (ret_value)
		*ret_value = NULL;
	if (ret_error_offset)
		*ret_error_offset = 0;
	if (!text || !ret_value || (!memscan_value_type_size(type) && type != MEMSCAN_VALUE_STR))
		return MEMSCAN_ERR_INVALID_ARG;
	if (options && (options->flags & MEMSCAN_VALUE_EPSILON) && !(options->epsilon >= 0))
		return MEMSCAN_ERR_INVALID_ARG;
	v = calloc(1, sizeof(*v));
	if (!v)
		return MEMSCAN_ERR_NO_MEMORY;
	v->type = type;
	r = type == MEMSCAN_VALUE_STR ? parse_string(v, options, text, &bad)
	                              : parse_numbers(v, options, text, &bad);
	if (r != MEMSCAN_OK) {
		if (ret_error_offset)
			*ret_error_offset = (size_t)(bad - text);
		memscan_value_free(v);
		return r;
	}
	*ret_value = v;
	return MEMSCAN_OK;
}

memscan_value_type memscan_value_get_type(const memscan_value *value)
{
	return value ? value->type : 0;
}

size_t memscan_value_width(const memscan_value *value)
{
	if (!value)
		return 0;
	return value->type == MEMSCAN_VALUE_STR ? value->len : memscan_value_type_size(value->type);
}

/* Whether N lies in [LO, HI] (NaN never does). */
static int in_range(memscan_value_type t, union ms_num n, union ms_num lo, union ms_num hi)
{
	if (is_float(t))
		return n.f >= lo.f && n.f <= hi.f;
	return cmp_num(t, n, lo) >= 0 && cmp_num(t, n, hi) <= 0;
}

bool memscan_value_matches(const memscan_value *value, const uint8_t *bytes)
{
	if (!value || !bytes)
		return false;
	if (value->type == MEMSCAN_VALUE_STR)
		return memcmp(bytes, value->bytes, value->len) == 0;
	return in_range(value->type, ms_value_decode(value->type, bytes), value->lo, value->hi);
}

void memscan_value_free(memscan_value *value)
{
	if (!value)
		return;
	free(value->bytes);
	free(value);
}

int ms_pred_check(const memscan_value_pred *pred, memscan_value_type type, size_t width)
{
	memscan_value_pred_kind k;

	if (!pred || pred->kind < MEMSCAN_PRED_ANY || pred->kind > MEMSCAN_PRED_BETWEEN)
		return MEMSCAN_ERR_INVALID_ARG;
	k = pred->kind;
	if (k <= MEMSCAN_PRED_UNCHANGED || k == MEMSCAN_PRED_INCREASED || k == MEMSCAN_PRED_DECREASED)
		return type == MEMSCAN_VALUE_STR && k > MEMSCAN_PRED_UNCHANGED ? MEMSCAN_ERR_INVALID_ARG
		                                                               : MEMSCAN_OK;
	if (!pred->value || pred->value->type != type)
		return MEMSCAN_ERR_INVALID_ARG;
	if (type == MEMSCAN_VALUE_STR)
		return (k == MEMSCAN_PRED_EQ || k == MEMSCAN_PRED_NE) && pred->value->len == width
		           ? MEMSCAN_OK
		           : MEMSCAN_ERR_INVALID_ARG;
	if ((k == MEMSCAN_PRED_INCREASED_BY || k == MEMSCAN_PRED_DECREASED_BY) &&
	    (is_float(type) ? pred->value->a.f < 0 : is_signed(type) && pred->value->a.i < 0))
		return MEMSCAN_ERR_INVALID_ARG; /* a difference is given as a number >= 0 */
	return MEMSCAN_OK;
}

/* Whether HI - LO (HI above LO) lies in D's range. */
static int diff_in(memscan_value_type t, union ms_num lo, union ms_num hi, const memscan_value *d)
{
	uint64_t diff;

	if (is_float(t)) {
		double f = hi.f - lo.f;
		return f >= d->lo.f && f <= d->hi.f;
	}
	if (cmp_num(t, hi, lo) <= 0)
		return 0;
	diff = hi.u - lo.u; /* two's complement: right for the signed domain too, as HI > LO */
	if (is_signed(t))
		return d->hi.i >= 0 && diff >= (uint64_t)(d->lo.i > 0 ? d->lo.i : 0) &&
		       diff <= (uint64_t)d->hi.i;
	return diff >= d->lo.u && diff <= d->hi.u;
}

int ms_pred_keep(const memscan_value_pred *pred, memscan_value_type t, size_t width, const uint8_t *old,
                 const uint8_t *now)
{
	union ms_num o, n;

	switch (pred->kind) {
	case MEMSCAN_PRED_ANY:
		return 1;
	case MEMSCAN_PRED_CHANGED:
		return memcmp(old, now, width) != 0;
	case MEMSCAN_PRED_UNCHANGED:
		return memcmp(old, now, width) == 0;
	case MEMSCAN_PRED_EQ:
	case MEMSCAN_PRED_BETWEEN:
		return memscan_value_matches(pred->value, now);
	case MEMSCAN_PRED_NE:
		return !memscan_value_matches(pred->value, now);
	default:
		break;
	}
	o = ms_value_decode(t, old);
	n = ms_value_decode(t, now);
	if (is_float(t) && (isnan(n.f) || isnan(o.f)))
		return 0;
	switch (pred->kind) {
	case MEMSCAN_PRED_INCREASED:
		return cmp_num(t, n, o) > 0;
	case MEMSCAN_PRED_DECREASED:
		return cmp_num(t, n, o) < 0;
	case MEMSCAN_PRED_INCREASED_BY:
		return diff_in(t, o, n, pred->value);
	case MEMSCAN_PRED_DECREASED_BY:
		return diff_in(t, n, o, pred->value);
	case MEMSCAN_PRED_GT:
		return cmp_num(t, n, pred->value->b) > 0;
	case MEMSCAN_PRED_LT:
		return cmp_num(t, n, pred->value->a) < 0;
	default:
		return 0;
	}
}
