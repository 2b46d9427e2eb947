/* SPDX-License-Identifier: MIT */
/* Unit tests of the bounded block matcher: adversarial patterns and memory against a naive reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include "internal.h"
#include "testutil.h"

#define BUF_LEN  ((size_t)24 << 10)
#define HITS_MAX BUF_LEN

static uint8_t buf[BUF_LEN];

struct hits {
	uint64_t *addr;
	size_t n;
};

static int collect(void *ctx, uint64_t address, const memscan_region *region)
{
	struct hits *h = ctx;

	(void)region;
	assert_true(h->n < HITS_MAX);
	h->addr[h->n++] = address;
	return 0;
}

/* Pattern text: REPEAT copies of UNIT, then TAIL ("" for none). */
static char *pattern_text(const char *unit, size_t repeat, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *t = malloc(ul * repeat + tl + 1);

	assert_non_null(t);
	for (size_t i = 0; i < repeat; i++)
		memcpy(t + i * ul, unit, ul);
	memcpy(t + ul * repeat, tail, tl + 1);
	return t;
}

/* The reference: every start of LEN bytes at BASE, byte by byte. */
static void naive(const memscan_pattern *pat, const uint8_t *d, size_t len, uint64_t base, uint64_t align,
                  struct hits *h)
{
	size_t plen = memscan_pattern_length(pat);

	h->n = 0;
	for (size_t s = 0; s + plen <= len; s++)
		if ((base + s) % align == 0 && memscan_pattern_matches(pat, d + s))
			h->addr[h->n++] = base + s;
}

static void assert_same(const struct hits *want, const struct hits *got, const char *what)
{
	if (want->n != got->n)
		fprintf(stderr, "%s: %zu matches, the reference %zu\n", what, got->n, want->n);
	assert_int_equal(want->n, got->n);
	assert_memory_equal(want->addr, got->addr, want->n * sizeof(want->addr[0]));
}

/* The scan of BUF as one buffer, and as three adjacent regions of this process (junctions, 64 KiB
 * chunks), with and without AVX2, equals the reference; at least MIN_HITS matches. */
static void check(const char *text, size_t min_hits)
{
	static const uint64_t aligns[] = { 1, 8 };
	uint64_t base = (uint64_t)(uintptr_t)buf, count;
	struct hits want = { calloc(HITS_MAX, sizeof(uint64_t)), 0 },
	            got = { calloc(HITS_MAX, sizeof(uint64_t)), 0 };
	memscan_pattern *pat;
	memscan_process *self;
	memscan_region_list *list;
	memscan_region r = { .perms = MEMSCAN_PERM_READ, .path = "" };

	assert_int_equal(memscan_pattern_parse(text, &pat, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_process_open((int)getpid(), &self), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	for (size_t k = 0; k < 3; k++) {
		r.start = base + k * BUF_LEN / 3;
		r.end = k == 2 ? base + BUF_LEN : base + (k + 1) * BUF_LEN / 3;
		assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	}
	for (size_t a = 0; a < 2; a++) {
		memscan_scan_options opt = { .align = aligns[a] };
		naive(pat, buf, BUF_LEN, base, aligns[a], &want);
		if (a == 0)
			assert_true(want.n >= min_hits);
		for (int simd = 0; simd < 2; simd++) {
			ms_set_simd(simd);
			got.n = 0;
			assert_int_equal(
			    memscan_scan_buffer(buf, BUF_LEN, base, pat, &opt, collect, &got, &count), 0);
			assert_same(&want, &got, "buffer");
			for (opt.no_memmap = 0; opt.no_memmap < 2; opt.no_memmap++) {
				got.n = 0;
				assert_int_equal(memscan_scan(self, list, pat, &opt, collect, &got, &count),
				                 0);
				assert_same(&want, &got, "regions");
			}
			opt.no_memmap = 0;
		}
		ms_set_simd(1);
	}
	memscan_region_list_free(list);
	memscan_process_free(self);
	memscan_pattern_free(pat);
	free(want.addr);
	free(got.addr);
}

/* The case: 4095 zero bytes then 1?, over zeros, then with a few 1x bytes planted (and one
 * almost-match cut short by a nonzero byte). */
static void test_match_zeros_then_nibble(void **state)
{
	char *t = pattern_text("00", MEMSCAN_PATTERN_MAX - 1, "1?");

	(void)state;
	memset(buf, 0, BUF_LEN);
	check(t, 0);
	buf[5000] = 0x17;
	buf[13000] = 0x1F;
	buf[13000 - 100] = 0x01;
	buf[BUF_LEN - 1] = 0x10;
	check(t, 2);
	free(t);
}

/* Every position a match: a run of one byte over memory of that byte (the shift-and path). */
static void test_match_run_over_run(void **state)
{
	char *t = pattern_text("00", MEMSCAN_PATTERN_MAX, "");

	(void)state;
	memset(buf, 0, BUF_LEN);
	buf[20000] = 1;
	check(t, BUF_LEN - 2 * MEMSCAN_PATTERN_MAX - 4096);
	free(t);
	t = pattern_text("41", 300, "");
	memset(buf, 0x41, BUF_LEN);
	buf[7777] = 0x40;
	check(t, 1000);
	free(t);
}

/* All wildcards but one nibble at the end, over bytes that pass that nibble one time in 16. */
static void test_match_wildcards_then_nibble(void **state)
{
	char *t = pattern_text("??", MEMSCAN_PATTERN_MAX - 1, "?3");

	(void)state;
	for (size_t i = 0; i < BUF_LEN; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 5));
	check(t, 500);
	free(t);
}

/* Periodic patterns over their own period: fixed, with wildcards, and a near miss every 1000
 * bytes. */
static void test_match_periodic(void **state)
{
	char *fixed = pattern_text("41 42 ", MEMSCAN_PATTERN_MAX / 2, "");
	char *holes = pattern_text("00 ?? ", MEMSCAN_PATTERN_MAX / 2 - 1, "00 01");
	char *nibbles = pattern_text("4? ?2 ", 1000, "");

	(void)state;
	for (size_t i = 0; i < BUF_LEN; i++)
		buf[i] = i % 2 ? 0x42 : 0x41;
	for (size_t i = 999; i < BUF_LEN; i += 10000)
		buf[i] = 0x43;
	check(fixed, 100);
	check(nibbles, 100);
	memset(buf, 0, BUF_LEN);
	for (size_t i = 1; i < BUF_LEN; i += 2)
		buf[i] = (uint8_t)(i % 4 == 1 ? 0x00 : 0x01);
	buf[20001] = 0x01;
	check(holes, 1);
	free(fixed);
	free(holes);
	free(nibbles);
}

/* Short patterns (no budget switch) still agree, over bytes of a small alphabet. */
static void test_match_short_patterns(void **state)
{
	static const char *texts[] = { "?1", "00", "FF ?? ?? ?? ?? 00", "0? ?0", "41 ?? 42", "?? ?? 0F" };

	(void)state;
	static const uint8_t alphabet[8] = { 0x00, 0x01, 0x0F, 0x41, 0x42, 0xFF, 0xF0, 0x10 };
	uint32_t x = 12345;

	for (size_t i = 0; i < BUF_LEN; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = alphabet[(x >> 16) % 8];
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check(texts[i], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_zeros_then_nibble),     cmocka_unit_test(test_match_run_over_run),
		cmocka_unit_test(test_match_wildcards_then_nibble), cmocka_unit_test(test_match_periodic),
		cmocka_unit_test(test_match_short_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
