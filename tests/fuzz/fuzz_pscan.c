/* SPDX-License-Identifier: MIT */
/* Fuzzes memscan_scan's parallel scanner: for any pattern, the same matches as memscan_scan_buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * memscan_scan cuts regions into 4 MiB units and scans them with workers once the regions hold
 * 16 MiB (scan.c; with one CPU it scans alone). The haystack is just over that: pseudo-random bytes,
 * with copies of the small haystack every 256 KiB and across every 4 MiB boundary, so that matches
 * straddle units, regions and read chunks, and a run of zeros across the first boundary, where a
 * pattern of up to MEMSCAN_PATTERN_MAX zeros matches; a pattern of one fixed nibble matches more
 * often than a unit keeps (the caller then rescans it). There is one short run because every
 * candidate position costs a comparison of the whole pattern: zeros throughout would make a long
 * pattern of zeros take minutes under the sanitizers. Results are capped; their count and an order-sensitive
 * hash of their addresses are compared.
 */
#define BIG_LEN      (((size_t)16 << 20) + 8192)
#define BIG_UNIT     ((size_t)4 << 20)
#define BIG_STRIDE   ((size_t)256 << 10)
#define PAR_MAX_HITS 5000
#define ZERO_RUN     (MEMSCAN_PATTERN_MAX + 512)

static uint8_t *big;
static memscan_process *self;
static unsigned long scans;

/* Matches folded into a count and an order-sensitive hash. */
struct digest {
	uint64_t n, hash, last;
	int ordered;
};

static int on_digest(void *ctx, uint64_t address, const memscan_region *region)
{
	struct digest *d = ctx;

	d->ordered &= d->n == 0 || address > d->last;
	d->last = address;
	d->hash = (d->hash ^ address) * 0x100000001b3ull;
	d->n++;
	if (region)
		FUZZ_CHECK(address >= region->start && address < region->end);
	return 0;
}

/* memscan_scan over the haystack cut into two adjacent regions at CUT (units of the second start
 * off the 4 MiB grid) reports what memscan_scan_buffer reports on the same bytes, in order. */
static void check_cut(const memscan_pattern *pat, size_t cut, const memscan_scan_options *opt)
{
	struct digest want = { .hash = 0xcbf29ce484222325ull, .ordered = 1 }, got = want;
	uint64_t base = (uint64_t)(uintptr_t)big, count = 0;
	memscan_region_list *list = NULL;
	size_t cuts[3] = { 0, cut, BIG_LEN };

	FUZZ_CHECK(memscan_scan_buffer(big, BIG_LEN, base, pat, opt, on_digest, &want, &count) == MEMSCAN_OK);
	FUZZ_CHECK(count == want.n && want.ordered);
	FUZZ_CHECK(memscan_region_list_new(&list) == MEMSCAN_OK);
	for (int i = 0; i < 2; i++)
		fuzz_add_region(list, base + cuts[i], base + cuts[i + 1]);
	FUZZ_CHECK(memscan_scan(self, list, pat, opt, on_digest, &got, &count) == MEMSCAN_OK);
	FUZZ_CHECK(count == got.n && got.ordered);
	FUZZ_CHECK(got.n == want.n && got.hash == want.hash);
	memscan_region_list_free(list);
	scans++;
}

static void print_stats(void)
{
	fprintf(stderr, "fuzz_pscan: %lu scans of 16 MiB compared\n", scans);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t small[FUZZ_HAYSTACK_LEN];

	FUZZ_CHECK(memscan_process_open(getpid(), &self) == MEMSCAN_OK);
	fuzz_fill_haystack(small);
	big = malloc(BIG_LEN);
	FUZZ_CHECK(big != NULL);
	for (size_t i = 0, x = 12345; i < BIG_LEN; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		big[i] = (uint8_t)(x >> 56);
	}
	for (size_t at = 0; at + sizeof(small) <= BIG_LEN; at += BIG_STRIDE)
		memcpy(big + at, small, sizeof(small));
	for (size_t at = BIG_UNIT; at < BIG_LEN; at += BIG_UNIT)
		memcpy(big + at - sizeof(small) / 2, small, sizeof(small));
	memset(big + BIG_UNIT - ZERO_RUN / 2, 0, ZERO_RUN);
	memcpy(big + BIG_LEN - sizeof(small), small, sizeof(small));
	atexit(print_stats);
	return 0;
}

/* Input: the pattern text (up to its first NUL); its length picks the cut and the options. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memscan_scan_options opt = { .max_results = PAR_MAX_HITS };
	memscan_pattern *pat = NULL;
	char *text = malloc(size + 1);
	size_t plen;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	if (memscan_pattern_parse(text, &pat, NULL) == MEMSCAN_OK) {
		plen = memscan_pattern_length(pat);
		opt.align = plen % 3 == 0 ? 4 : 0;
		opt.no_memmap = (int)(plen & 1);
		check_cut(pat, BIG_UNIT + 4096 + (size * 4099 + plen * 65537) % BIG_UNIT, &opt);
		memscan_pattern_free(pat);
	}
	free(text);
	return 0;
}
