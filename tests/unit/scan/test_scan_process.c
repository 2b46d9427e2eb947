/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_scan: the fixture's markers and straddle, and this process's own memory cut
 * into made-up regions (junctions, tiny regions, holes, chunking) against a brute-force reference. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include "testutil.h"

#define MAX_HITS 100000

struct hits {
	uint64_t addr[MAX_HITS];
	size_t count;
	int bad_region; /* a match was reported with a region that does not hold it */
};

static int collect(void *ctx, uint64_t address, const memscan_region *region)
{
	struct hits *h = ctx;

	if (!region || address < region->start || address >= region->end)
		h->bad_region = 1;
	if (h->count < MAX_HITS)
		h->addr[h->count] = address;
	h->count++;
	return 0;
}

static memscan_pattern *parse(const char *text)
{
	memscan_pattern *pat = NULL;

	assert_int_equal(memscan_pattern_parse(text, &pat, NULL), MEMSCAN_OK);
	return pat;
}

/* Scans LIST of PROC for TEXT; returns the match count (hits in H, reset first). */
static uint64_t scan(memscan_process *proc, const memscan_region_list *list, const char *text,
                     const memscan_scan_options *opt, struct hits *h)
{
	memscan_pattern *pat = parse(text);
	uint64_t n = 12345;

	h->count = 0;
	h->bad_region = 0;
	assert_int_equal(memscan_scan(proc, list, pat, opt, collect, h, &n), MEMSCAN_OK);
	assert_int_equal(n, h->count);
	assert_false(h->bad_region);
	memscan_pattern_free(pat);
	return n;
}

/* ---- the fixture process ---- */

struct fixture_state {
	ms_fixture f;
	memscan_process *proc;
	memscan_region_list *list;
	struct hits h;
};

static int fixture_setup(void **state)
{
	struct fixture_state *s = calloc(1, sizeof(*s));
	memscan_filter filter;

	if (!s || ms_fixture_start(&s->f, NULL) != 0)
		goto fail;
	if (memscan_process_open(s->f.pid, &s->proc) != MEMSCAN_OK)
		goto fail;
	memscan_filter_default(&filter);
	/* skip a sanitizer's terabyte shadow mappings (the fixture is built with the same flags) */
	filter.max_size = 1ull << 30;
	if (memscan_regions_read(s->proc, &filter, &s->list) != MEMSCAN_OK)
		goto fail;
	*state = s;
	return 0;
fail:
	if (s) {
		memscan_process_free(s->proc);
		ms_fixture_stop(&s->f);
	}
	free(s);
	return -1;
}

static int fixture_teardown(void **state)
{
	struct fixture_state *s = *state;

	memscan_region_list_free(s->list);
	memscan_process_free(s->proc);
	ms_fixture_stop(&s->f);
	free(s);
	return 0;
}

static void test_scan_process_finds_markers(void **state)
{
	struct fixture_state *s = *state;
	memscan_scan_options opt = { 0 };

	for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
		assert_int_equal(scan(s->proc, s->list, MS_FIXTURE_MARKER, &opt, &s->h), 3);
		assert_int_equal(s->h.addr[0], s->f.marker[0]);
		assert_int_equal(s->h.addr[1], s->f.marker[1]);
		assert_int_equal(s->h.addr[2], s->f.marker[2]);
	}
}

static void test_scan_process_finds_straddle(void **state)
{
	struct fixture_state *s = *state;
	memscan_scan_options opt = { 0 };

	assert_true(s->f.straddle < s->f.boundary);
	assert_true(s->f.straddle + 4 > s->f.boundary);
	for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
		assert_int_equal(scan(s->proc, s->list, MS_FIXTURE_STRADDLE, &opt, &s->h), 1);
		assert_int_equal(s->h.addr[0], s->f.straddle);
	}
}

static void test_scan_process_aligned_markers(void **state)
{
	struct fixture_state *s = *state;
	memscan_scan_options opt = { .align = 16 };
	size_t i, n = 0;

	for (i = 0; i < 3; i++)
		n += s->f.marker[i] % 16 == 0;
	assert_true(n > 0 && n < 3); /* the fixture puts some markers on and some off 16 */
	for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
		assert_int_equal(scan(s->proc, s->list, MS_FIXTURE_MARKER, &opt, &s->h), n);
		for (i = 0; i < n; i++)
			assert_int_equal(s->h.addr[i] % 16, 0);
	}
}

static void test_scan_process_max_one(void **state)
{
	struct fixture_state *s = *state;
	memscan_scan_options opt = { .max_results = 1 };

	for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
		assert_int_equal(scan(s->proc, s->list, MS_FIXTURE_MARKER, &opt, &s->h), 1);
		assert_int_equal(s->h.addr[0], s->f.marker[0]);
	}
}

/* A common pattern with many matches all over the process: both read modes agree. */
static void test_scan_process_read_modes_agree(void **state)
{
	static const char *const patterns[] = { "00 00 00 00 00 00 00 01", "4? ?? 8B", "FF FF" };
	static struct hits other;
	struct fixture_state *s = *state;
	memscan_scan_options opt = { 0 };
	uint64_t n;
	size_t i;

	/* stopped, so that both modes see the same bytes (this is about the modes, not the target) */
	assert_int_equal(kill(s->f.pid, SIGSTOP), 0);
	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		opt.no_memmap = 0;
		n = scan(s->proc, s->list, patterns[i], &opt, &s->h);
		opt.no_memmap = 1;
		if (scan(s->proc, s->list, patterns[i], &opt, &other) != n) {
			kill(s->f.pid, SIGCONT);
			fail_msg("pattern %s: %llu matches read whole, other count read chunk by chunk",
			         patterns[i], (unsigned long long)n);
		}
		assert_true(n > 0);
		if (n > MAX_HITS)
			n = MAX_HITS;
		assert_memory_equal(s->h.addr, other.addr, n * sizeof(other.addr[0]));
	}
	assert_int_equal(kill(s->f.pid, SIGCONT), 0);
}

/* ---- this process, cut into made-up regions ---- */

struct self_state {
	memscan_process *proc;
	size_t page;
	struct hits h;
	uint64_t want[MAX_HITS];
};

static int self_setup(void **state)
{
	struct self_state *s = calloc(1, sizeof(*s));

	if (!s || memscan_process_open((int)getpid(), &s->proc) != MEMSCAN_OK) {
		free(s);
		return -1;
	}
	s->page = (size_t)sysconf(_SC_PAGESIZE);
	*state = s;
	return 0;
}

static int self_teardown(void **state)
{
	struct self_state *s = *state;

	memscan_process_free(s->proc);
	free(s);
	return 0;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static void fill_random(uint8_t *p, size_t len)
{
	static const uint8_t alphabet[] = { 0x00, 0x3C, 0x3D, 0xC3 };
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = alphabet[rnd() % sizeof(alphabet)];
}

/* A list of adjacent regions covering [start, start + len), cut at CUTS (ascending offsets). */
static memscan_region_list *cut_regions(uint64_t start, size_t len, const size_t *cuts, size_t ncuts)
{
	memscan_region_list *list = NULL;
	memscan_region r = { .perms = MEMSCAN_PERM_READ, .kind = MEMSCAN_KIND_ANON, .path = "" };
	size_t i, from = 0;

	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	for (i = 0; i <= ncuts; i++) {
		r.start = start + from;
		r.end = start + (i < ncuts ? cuts[i] : len);
		assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
		if (i < ncuts)
			from = cuts[i];
	}
	return list;
}

/* Brute force over DATA (LEN bytes at BASE) for the pattern in TEXT; bytes flagged in BAD never
 * match. The pattern's own bytes are checked with memscan_pattern_matches (tested elsewhere). */
static size_t reference(const memscan_pattern *pat, const uint8_t *data, const uint8_t *bad, size_t len,
                        uint64_t base, uint64_t *out)
{
	size_t plen = memscan_pattern_length(pat), i, j, n = 0;

	for (i = 0; i + plen <= len; i++) {
		for (j = 0; bad && j < plen; j++)
			if (bad[i + j])
				break;
		if (bad && j < plen)
			continue;
		if (memscan_pattern_matches(pat, data + i) && n < MAX_HITS)
			out[n++] = base + i;
	}
	return n;
}

/* Scans LIST for TEXT in both read modes and compares with the reference over DATA. */
static void check_both_modes(struct self_state *s, const memscan_region_list *list, const char *text,
                             const uint8_t *data, const uint8_t *bad, size_t len)
{
	memscan_pattern *pat = parse(text);
	memscan_scan_options opt = { 0 };
	size_t n = reference(pat, data, bad, len, (uintptr_t)data, s->want);

	for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
		assert_int_equal(scan(s->proc, list, text, &opt, &s->h), n);
		assert_memory_equal(s->h.addr, s->want, n * sizeof(s->want[0]));
	}
	memscan_pattern_free(pat);
}

static const char *const self_patterns[] = {
	"3C", "3C 3D", "3C ?? 3D", "?C ?D 3C", "C3 00 ?? 3C 3D", "00 00 00", "3? ?? ?? ?? ?? ?D", "?3 ?C",
};

/* Regions of 1 to 9 bytes and larger ones: junction matches cross up to several regions. */
static void test_scan_process_tiny_regions(void **state)
{
	struct self_state *s = *state;
	size_t len = 4096, cuts[600], ncuts = 0, at = 0, i;
	uint8_t *data = malloc(len);
	memscan_region_list *list;

	assert_non_null(data);
	fill_random(data, len);
	while (ncuts < 600) {
		at += (ncuts % 3 == 2) ? 1 + rnd() % 200 : 1 + rnd() % 9;
		if (at >= len)
			break;
		cuts[ncuts++] = at;
	}
	list = cut_regions((uintptr_t)data, len, cuts, ncuts);
	for (i = 0; i < sizeof(self_patterns) / sizeof(self_patterns[0]); i++)
		check_both_modes(s, list, self_patterns[i], data, NULL, len);
	memscan_region_list_free(list);
	free(data);
}

/* Regions larger than a 64 KiB chunk, cut off page boundaries: chunk junctions in no_memmap mode. */
static void test_scan_process_large_regions(void **state)
{
	struct self_state *s = *state;
	size_t len = 300 * 1024, cuts[] = { 70001, 70002, 200000 }, i;
	uint8_t *data = malloc(len);
	memscan_region_list *list;

	assert_non_null(data);
	fill_random(data, len);
	list = cut_regions((uintptr_t)data, len, cuts, 3);
	for (i = 0; i < sizeof(self_patterns) / sizeof(self_patterns[0]); i++)
		check_both_modes(s, list, self_patterns[i], data, NULL, len);
	memscan_region_list_free(list);
	free(data);
}

static const char *const hole_patterns[] = {
	"3C",          "3C 3D", "3C ?? 3D", "?C ?D 3C", "00 00 00", "3? ?? ?? ?? ?? ?D",
	"CA FE BA BE", "FE BA", "CA FE",
};

/* Maps 5 pages whose page 2 is a file page beyond the end of its file: it cannot be read. */
static uint8_t *map_with_hole(size_t page)
{
	uint8_t *p = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = memfd_create("memscan-test-hole", 0);

	assert_true(p != MAP_FAILED);
	assert_true(fd >= 0);
	assert_true(mmap(p + 2 * page, page, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED);
	close(fd);
	return p;
}

/* A hole in the middle: no match covers it, matches up to its edges are found. */
static void test_scan_process_hole_breaks_matches(void **state)
{
	struct self_state *s = *state;
	size_t page = s->page, len = 5 * page, cuts[] = { page / 2, 3 * page + 7 }, i;
	uint8_t *data = map_with_hole(page), *copy = calloc(1, len), *bad = calloc(1, len);
	memscan_region_list *list;

	assert_non_null(copy);
	assert_non_null(bad);
	fill_random(data, 2 * page);
	fill_random(data + 3 * page, 2 * page);
	/* the zeroes the read reports for the hole must not match "00 00 00" */
	/* halves of a match on both sides of the hole, which must not join */
	memcpy(data + 2 * page - 2, "\xCA\xFE", 2);
	memcpy(data + 3 * page, "\xBA\xBE", 2);
	memcpy(copy, data, 2 * page);
	memcpy(copy + 3 * page, data + 3 * page, 2 * page);
	memset(bad + 2 * page, 1, page);
	list = cut_regions((uintptr_t)data, len, cuts, 2);
	for (i = 0; i < sizeof(hole_patterns) / sizeof(hole_patterns[0]); i++) {
		memscan_pattern *pat = parse(hole_patterns[i]);
		memscan_scan_options opt = { 0 };
		size_t n = reference(pat, copy, bad, len, (uintptr_t)data, s->want);

		for (opt.no_memmap = 0; opt.no_memmap <= 1; opt.no_memmap++) {
			assert_int_equal(scan(s->proc, list, hole_patterns[i], &opt, &s->h), n);
			assert_memory_equal(s->h.addr, s->want, n * sizeof(s->want[0]));
		}
		memscan_pattern_free(pat);
	}
	memscan_region_list_free(list);
	munmap(data, len);
	free(copy);
	free(bad);
}

/* A match across the junction of two regions is reported with the region where it starts. */
static void test_scan_process_junction_region(void **state)
{
	struct self_state *s = *state;
	static uint8_t data[64];
	size_t cuts[] = { 30, 31, 32 };
	memscan_region_list *list;

	memset(data, 0x11, sizeof(data));
	memcpy(data + 29, "\xCA\xFE\xBA\xBE", 4);
	list = cut_regions((uintptr_t)data, sizeof(data), cuts, 3);
	assert_int_equal(scan(s->proc, list, "CA FE BA BE", NULL, &s->h), 1);
	assert_int_equal(s->h.addr[0], (uintptr_t)data + 29);
	memscan_region_list_free(list);
}

/* Separate regions that are not adjacent never join into one match. */
static void test_scan_process_gap_breaks_matches(void **state)
{
	struct self_state *s = *state;
	static uint8_t data[64];
	memscan_region_list *list = NULL;
	memscan_region r = { .perms = MEMSCAN_PERM_READ, .kind = MEMSCAN_KIND_ANON, .path = "" };

	/* CA FE | 99 | BA BE: skipping the 99 must not join the halves */
	memset(data, 0x11, sizeof(data));
	memcpy(data + 10, "\xCA\xFE\x99\xBA\xBE", 5);
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	r.start = (uintptr_t)data;
	r.end = r.start + 12;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = (uintptr_t)data + 13;
	r.end = (uintptr_t)data + 64;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	assert_int_equal(scan(s->proc, list, "CA FE BA BE", NULL, &s->h), 0);
	assert_int_equal(scan(s->proc, list, "FE BA", NULL, &s->h), 0);
	assert_int_equal(scan(s->proc, list, "CA FE", NULL, &s->h), 1);
	assert_int_equal(scan(s->proc, list, "BA BE", NULL, &s->h), 1);
	assert_int_equal(s->h.addr[0], (uintptr_t)data + 13);
	memscan_region_list_free(list);
}

static int stop_at_first(void *ctx, uint64_t address, const memscan_region *region)
{
	(*(size_t *)ctx)++;
	return 1;
}

static void test_scan_process_callback_stops(void **state)
{
	struct self_state *s = *state;
	static uint8_t data[256];
	size_t cuts[] = { 100 }, calls = 0;
	memscan_region_list *list;
	memscan_pattern *pat = parse("42");
	uint64_t n = 7;

	memset(data, 0x42, sizeof(data));
	list = cut_regions((uintptr_t)data, sizeof(data), cuts, 1);
	assert_int_equal(memscan_scan(s->proc, list, pat, NULL, stop_at_first, &calls, &n),
	                 MEMSCAN_ERR_STOPPED);
	assert_int_equal(calls, 1);
	assert_int_equal(n, 0);
	assert_int_equal(memscan_scan(s->proc, list, NULL, NULL, NULL, NULL, &n), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_scan(NULL, list, pat, NULL, NULL, NULL, &n), MEMSCAN_ERR_INVALID_ARG);
	memscan_pattern_free(pat);
	memscan_region_list_free(list);
}

int main(void)
{
	const struct CMUnitTest fixture_tests[] = {
		cmocka_unit_test(test_scan_process_finds_markers),
		cmocka_unit_test(test_scan_process_finds_straddle),
		cmocka_unit_test(test_scan_process_aligned_markers),
		cmocka_unit_test(test_scan_process_max_one),
		cmocka_unit_test(test_scan_process_read_modes_agree),
	};
	const struct CMUnitTest self_tests[] = {
		cmocka_unit_test(test_scan_process_tiny_regions),
		cmocka_unit_test(test_scan_process_large_regions),
		cmocka_unit_test(test_scan_process_hole_breaks_matches),
		cmocka_unit_test(test_scan_process_junction_region),
		cmocka_unit_test(test_scan_process_gap_breaks_matches),
		cmocka_unit_test(test_scan_process_callback_stops),
	};
	int failed;

	failed = cmocka_run_group_tests_name("fixture", fixture_tests, fixture_setup, fixture_teardown);
	failed += cmocka_run_group_tests_name("self", self_tests, self_setup, self_teardown);
	return failed;
}
