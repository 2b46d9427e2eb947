/* SPDX-License-Identifier: MIT */
/* Parallel scans report exactly the sequential scan's matches, in the same order. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define AREA    ((size_t)24 << 20)
#define MAXHITS 400000

static uint8_t *area;

struct hits {
	uint64_t addr[MAXHITS];
	uint64_t region[MAXHITS];
	size_t n;
	size_t stop_at; /* 0 = never stop */
};

static int on_hit(void *ctx, uint64_t address, const memscan_region *region)
{
	struct hits *h = ctx;

	if (h->n < MAXHITS) {
		h->addr[h->n] = address;
		h->region[h->n] = region ? region->start : 0;
	}
	h->n++;
	return h->stop_at && h->n >= h->stop_at;
}

/* Three regions: two adjacent (a junction 3 bytes before the edge), one after a gap. */
static memscan_region_list *area_list(void)
{
	memscan_region_list *list;
	memscan_region r = { 0 };
	uint64_t base = (uint64_t)(uintptr_t)area;

	r.perms = MEMSCAN_PERM_READ;
	r.path = "";
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	r.start = base, r.end = base + (9u << 20);
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = r.end, r.end = base + (18u << 20);
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	r.start = base + (18u << 20) + 4096, r.end = base + AREA;
	assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
	return list;
}

static void plant(size_t at)
{
	static const uint8_t needle[4] = { 0xA1, 0xE7, 0xC7, 0x5E };

	memcpy(area + at, needle, sizeof(needle));
}

static uint64_t run_scan(memscan_process *p, const memscan_region_list *list, const memscan_pattern *pat,
                         const memscan_scan_options *opt, struct hits *h, unsigned workers, int simd, int *rc)
{
	uint64_t count = 0;
	size_t stop = h->stop_at;

	memset(h, 0, sizeof(*h));
	h->stop_at = stop;
	ms_set_worker_limit(workers);
	ms_set_simd(simd);
	*rc = memscan_scan(p, list, pat, opt, on_hit, h, &count);
	ms_set_worker_limit(0);
	ms_set_simd(1);
	return count;
}

static void compare_modes(memscan_process *p, const memscan_region_list *list, const char *text,
                          const memscan_scan_options *opt, size_t stop_at, size_t min_hits)
{
	static struct hits seq, par;
	memscan_pattern *pat;
	uint64_t cs, cp;
	int rs, rp;

	assert_int_equal(memscan_pattern_parse(text, &pat, NULL), MEMSCAN_OK);
	for (int simd = 0; simd < 2; simd++) {
		seq.stop_at = par.stop_at = stop_at;
		cs = run_scan(p, list, pat, opt, &seq, 1, 1, &rs);
		cp = run_scan(p, list, pat, opt, &par, 0, simd, &rp);
		assert_int_equal(rs, rp);
		assert_int_equal(cs, cp);
		assert_int_equal(seq.n, par.n);
		assert_true(seq.n >= min_hits);
		for (size_t i = 0; i < seq.n && i < MAXHITS; i++) {
			assert_int_equal(seq.addr[i], par.addr[i]);
			assert_int_equal(seq.region[i], par.region[i]);
		}
	}
	memscan_pattern_free(pat);
}

static void test_parallel_scan_equals_sequential(void **state)
{
	memscan_region_list *list = area_list();
	memscan_scan_options opt = { 0 }, max = { .max_results = 70000 }, al = { .align = 4 };
	memscan_scan_options small = { .no_memmap = 1 };
	memscan_process *p;

	(void)state;
	assert_int_equal(memscan_process_open((int)getpid(), &p), MEMSCAN_OK);
	compare_modes(p, list, "A1 E7 C7 5E", &opt, 0, 8);
	compare_modes(p, list, "A1 E7 C7 5E", &small, 0, 8);
	compare_modes(p, list, "A1 E7 C7 5E", &al, 0, 2);
	compare_modes(p, list, "A1 ?? C7 5E", &opt, 0, 8);
	compare_modes(p, list, "00 00 00", &opt, 0, 100000); /* far more hits than a unit holds */
	compare_modes(p, list, "00 00 00", &max, 0, 70000);
	compare_modes(p, list, "00 00", &opt, 123457, 123457); /* the callback stops the scan */
	memscan_process_free(p);
	memscan_region_list_free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_scan_equals_sequential),
	};
	unsigned seed = 99;
	int r;

	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return 1;
	for (size_t k = 0; k < AREA; k++)
		area[k] = (uint8_t)(1 + rand_r(&seed) % 255);
	memset(area + (2u << 20), 0, 1u << 20); /* a zero stretch: hits everywhere for "00 00 00" */
	plant(0);
	plant((4u << 20) - 2);          /* across a unit edge */
	plant((9u << 20) - 3);          /* across the junction of two adjacent regions */
	plant((1u << 20) - 1);          /* across a 1 MiB piece edge */
	plant((12u << 20) + 1);         /* unaligned */
	plant((16u << 20) - 4);         /* aligned, ends at a unit edge */
	plant((18u << 20) + 4096 - 2);  /* straddles the gap: no match */
	plant((18u << 20) + 4096 + 64); /* in the last region */
	plant(AREA - 4);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	munmap(area, AREA);
	return r;
}
