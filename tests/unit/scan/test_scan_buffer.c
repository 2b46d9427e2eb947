/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_scan_buffer: edges, overlaps, masks, options, and a brute-force reference. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>
#include "testutil.h"

#define MAX_HITS 4096

/* Matches collected by the callback. */
struct hits {
	uint64_t addr[MAX_HITS];
	size_t count;
	size_t stop_after; /* return nonzero on this many-th match; 0 = never */
	int region_seen;   /* a non-NULL region was passed */
};

static int collect(void *ctx, uint64_t address, const memscan_region *region)
{
	struct hits *h = ctx;

	assert_true(h->count < MAX_HITS);
	h->addr[h->count++] = address;
	if (region)
		h->region_seen = 1;
	return h->stop_after && h->count >= h->stop_after;
}

static memscan_pattern *parse(const char *text)
{
	memscan_pattern *pat = NULL;

	assert_int_equal(memscan_pattern_parse(text, &pat, NULL), MEMSCAN_OK);
	return pat;
}

/* Scans DATA at BASE for TEXT with OPT (may be NULL); returns the match count, hits in H. */
static uint64_t scan(const char *text, const uint8_t *data, size_t len, uint64_t base,
                     const memscan_scan_options *opt, struct hits *h)
{
	memscan_pattern *pat = parse(text);
	uint64_t n = 999;

	memset(h, 0, sizeof(*h));
	assert_int_equal(memscan_scan_buffer(data, len, base, pat, opt, collect, h, &n), MEMSCAN_OK);
	assert_int_equal(n, h->count);
	assert_false(h->region_seen);
	memscan_pattern_free(pat);
	return n;
}

static void test_scan_buffer_match_at_start_and_end(void **state)
{
	static const uint8_t data[] = { 0xDE, 0xAD, 0x01, 0x02, 0x03, 0xDE, 0xAD };
	struct hits h;

	assert_int_equal(scan("DE AD", data, sizeof(data), 0x1000, NULL, &h), 2);
	assert_int_equal(h.addr[0], 0x1000);
	assert_int_equal(h.addr[1], 0x1005);
}

static void test_scan_buffer_pattern_as_long_as_buffer(void **state)
{
	static const uint8_t data[] = { 0x11, 0x22, 0x33 };
	struct hits h;

	assert_int_equal(scan("11 22 33", data, 3, 0x40, NULL, &h), 1);
	assert_int_equal(h.addr[0], 0x40);
	assert_int_equal(scan("11 22 33 44", data, 3, 0x40, NULL, &h), 0);
	assert_int_equal(scan("22 33", data, 2, 0x40, NULL, &h), 0);
}

static void test_scan_buffer_empty_buffer(void **state)
{
	struct hits h;

	assert_int_equal(scan("00", NULL, 0, 0, NULL, &h), 0);
}

static void test_scan_buffer_overlapping_matches(void **state)
{
	static const uint8_t data[] = { 0xAA, 0xAA, 0xAA };
	struct hits h;

	assert_int_equal(scan("AA AA", data, sizeof(data), 0, NULL, &h), 2);
	assert_int_equal(h.addr[0], 0);
	assert_int_equal(h.addr[1], 1);
}

static void test_scan_buffer_nibble_masks(void **state)
{
	static const uint8_t data[] = { 0x41, 0x0D, 0x4F, 0xFD, 0x51, 0x0D, 0x42, 0x0C };
	struct hits h;

	assert_int_equal(scan("4? ?D", data, sizeof(data), 0x100, NULL, &h), 2);
	assert_int_equal(h.addr[0], 0x100);
	assert_int_equal(h.addr[1], 0x102);
}

static void test_scan_buffer_alignment(void **state)
{
	uint8_t data[64];
	memscan_scan_options opt = { .align = 16 };
	struct hits h;

	memset(data, 0x7E, sizeof(data));
	/* base 0x1008: offsets 8, 24, 40, 56 are 16-aligned */
	assert_int_equal(scan("7E 7E", data, sizeof(data), 0x1008, &opt, &h), 4);
	assert_int_equal(h.addr[0], 0x1010);
	assert_int_equal(h.addr[3], 0x1040);
	assert_int_equal(scan("?E ?E", data, sizeof(data), 0x1008, &opt, &h), 4);
	assert_int_equal(h.addr[0], 0x1010);
	opt.align = 1;
	assert_int_equal(scan("7E 7E", data, sizeof(data), 0x1008, &opt, &h), 63);
	opt.align = 0;
	assert_int_equal(scan("7E", data, sizeof(data), 0x1008, &opt, &h), 64);
	opt.align = 1u << 20;
	assert_int_equal(scan("7E", data, sizeof(data), 0x1008, &opt, &h), 0);
	assert_int_equal(scan("7E", data, sizeof(data), 1u << 20, &opt, &h), 1);
	assert_int_equal(scan("?E", data, sizeof(data), 1u << 20, &opt, &h), 1);
}

static void test_scan_buffer_max_results(void **state)
{
	uint8_t data[32];
	memscan_scan_options opt = { .max_results = 3 };
	struct hits h;

	memset(data, 0x33, sizeof(data));
	assert_int_equal(scan("33", data, sizeof(data), 0, &opt, &h), 3);
	assert_int_equal(h.addr[2], 2);
	assert_int_equal(scan("3? 3?", data, sizeof(data), 0, &opt, &h), 3);
	opt.max_results = 1;
	opt.align = 8;
	assert_int_equal(scan("33 33", data, sizeof(data), 4, &opt, &h), 1);
	assert_int_equal(h.addr[0], 8);
	opt.max_results = 100;
	opt.align = 0;
	assert_int_equal(scan("33", data, sizeof(data), 0, &opt, &h), 32);
}

static void test_scan_buffer_callback_stops(void **state)
{
	uint8_t data[16];
	memscan_pattern *pat = parse("5A");
	struct hits h;
	uint64_t n = 42;

	memset(data, 0x5A, sizeof(data));
	memset(&h, 0, sizeof(h));
	h.stop_after = 2;
	assert_int_equal(memscan_scan_buffer(data, sizeof(data), 0, pat, NULL, collect, &h, &n),
	                 MEMSCAN_ERR_STOPPED);
	assert_int_equal(h.count, 2);
	assert_int_equal(n, 0);
	memscan_pattern_free(pat);
}

static void test_scan_buffer_no_callback_counts(void **state)
{
	static const uint8_t data[] = { 1, 2, 1, 2, 1 };
	memscan_pattern *pat = parse("01 ?? 01");
	uint64_t n = 0;

	assert_int_equal(memscan_scan_buffer(data, sizeof(data), 0, pat, NULL, NULL, NULL, &n), MEMSCAN_OK);
	assert_int_equal(n, 2);
	memscan_pattern_free(pat);
}

static void test_scan_buffer_all_wildcards_but_one(void **state)
{
	static const uint8_t data[] = { 0x00, 0x10, 0x20, 0x97, 0x30, 0x40, 0xA7, 0x50, 0x60 };
	struct hits h;

	assert_int_equal(scan("?? ?? 97 ??", data, sizeof(data), 0, NULL, &h), 1);
	assert_int_equal(h.addr[0], 1);
	assert_int_equal(scan("?? ?? ?7 ??", data, sizeof(data), 0, NULL, &h), 2);
	assert_int_equal(h.addr[0], 1);
	assert_int_equal(h.addr[1], 4);
	/* the fixed nibble first: no room after the last 7 for the trailing wildcards */
	assert_int_equal(scan("?7 ?? ?? ??", data, sizeof(data), 0, NULL, &h), 1);
	assert_int_equal(h.addr[0], 3);
}

static void test_scan_buffer_single_byte_pattern(void **state)
{
	static const uint8_t data[] = { 0x00, 0x09, 0x00, 0x00, 0x09 };
	struct hits h;

	assert_int_equal(scan("09", data, sizeof(data), 0x10, NULL, &h), 2);
	assert_int_equal(h.addr[0], 0x11);
	assert_int_equal(h.addr[1], 0x14);
	assert_int_equal(scan("00", data, sizeof(data), 0x10, NULL, &h), 3);
	assert_int_equal(scan("0?", data, sizeof(data), 0x10, NULL, &h), 5);
}

static void test_scan_buffer_invalid_args(void **state)
{
	static const uint8_t data[] = { 1 };
	memscan_pattern *pat = parse("01");
	uint64_t n = 5;

	assert_int_equal(memscan_scan_buffer(data, 1, 0, NULL, NULL, NULL, NULL, &n),
	                 MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(n, 0);
	assert_int_equal(memscan_scan_buffer(NULL, 1, 0, pat, NULL, NULL, NULL, &n), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_scan_buffer(data, 2, UINT64_MAX, pat, NULL, NULL, NULL, &n),
	                 MEMSCAN_ERR_INVALID_ARG);
	memscan_pattern_free(pat);
}

/* ---- brute-force reference over random buffers and patterns ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* A few byte values, so that random patterns match often; 0x00 and 0xFF included. */
static uint8_t rnd_byte(void)
{
	static const uint8_t alphabet[] = { 0x00, 0xFF, 0x41, 0x42, 0x4F, 0xF4 };

	return alphabet[rnd() % sizeof(alphabet)];
}

struct ref_pattern {
	size_t len;
	uint8_t value[16];
	uint8_t mask[16];
	char text[16 * 3 + 1];
};

static const char hexdig[] = "0123456789ABCDEF";

/* A random pattern with at least one fixed nibble, written out as text (spaces or not). */
static void ref_random(struct ref_pattern *p)
{
	static const uint8_t masks[] = { 0xFF, 0xFF, 0xFF, 0xF0, 0x0F, 0x00, 0x00 };
	size_t i, t = 0, fixed = 0;
	int spaced = rnd() & 1;

	p->len = 1 + rnd() % 6;
	for (i = 0; i < p->len; i++) {
		p->mask[i] = masks[rnd() % sizeof(masks)];
		p->value[i] = rnd_byte() & p->mask[i];
		fixed |= p->mask[i];
	}
	if (!fixed) {
		p->mask[0] = 0xF0;
		p->value[0] = 0x40;
	}
	for (i = 0; i < p->len; i++) {
		p->text[t++] = (p->mask[i] & 0xF0) ? hexdig[p->value[i] >> 4] : '?';
		p->text[t++] = (p->mask[i] & 0x0F) ? hexdig[p->value[i] & 0xF] : '?';
		if (spaced)
			p->text[t++] = ' ';
	}
	p->text[t] = '\0';
}

/* Brute force: every offset, every byte. */
static size_t ref_scan(const struct ref_pattern *p, const uint8_t *data, size_t len, uint64_t base,
                       uint64_t align, uint64_t max, uint64_t *out)
{
	size_t s, i, n = 0;

	for (s = 0; s + p->len <= len; s++) {
		if (align > 1 && (base + s) % align)
			continue;
		for (i = 0; i < p->len; i++)
			if ((data[s + i] & p->mask[i]) != p->value[i])
				break;
		if (i < p->len)
			continue;
		out[n++] = base + s;
		if (max && n == max)
			break;
	}
	return n;
}

static void test_scan_buffer_matches_reference(void **state)
{
	static const uint64_t aligns[] = { 0, 1, 2, 4, 8 };
	static struct hits h;
	static uint64_t want[MAX_HITS];
	uint8_t data[2000];
	struct ref_pattern p;
	memscan_scan_options opt;
	size_t i, iter, nwant, total = 0;

	for (iter = 0; iter < 400; iter++) {
		for (i = 0; i < sizeof(data); i++)
			data[i] = (iter & 1) ? rnd_byte() : (uint8_t)rnd();
		ref_random(&p);
		memset(&opt, 0, sizeof(opt));
		opt.align = aligns[rnd() % 5];
		opt.max_results = rnd() % 4 ? 0 : 1 + rnd() % 20;
		nwant = ref_scan(&p, data, sizeof(data), 0x7000 + iter % 8, opt.align, opt.max_results, want);
		assert_int_equal(scan(p.text, data, sizeof(data), 0x7000 + iter % 8, &opt, &h), nwant);
		assert_memory_equal(h.addr, want, nwant * sizeof(want[0]));
		total += nwant;
	}
	/* the reference must have found plenty, or the comparison proves little */
	assert_true(total > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_buffer_match_at_start_and_end),
		cmocka_unit_test(test_scan_buffer_pattern_as_long_as_buffer),
		cmocka_unit_test(test_scan_buffer_empty_buffer),
		cmocka_unit_test(test_scan_buffer_overlapping_matches),
		cmocka_unit_test(test_scan_buffer_nibble_masks),
		cmocka_unit_test(test_scan_buffer_alignment),
		cmocka_unit_test(test_scan_buffer_max_results),
		cmocka_unit_test(test_scan_buffer_callback_stops),
		cmocka_unit_test(test_scan_buffer_no_callback_counts),
		cmocka_unit_test(test_scan_buffer_all_wildcards_but_one),
		cmocka_unit_test(test_scan_buffer_single_byte_pattern),
		cmocka_unit_test(test_scan_buffer_invalid_args),
		cmocka_unit_test(test_scan_buffer_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
