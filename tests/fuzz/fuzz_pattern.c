/* SPDX-License-Identifier: MIT */
/* Fuzzes memscan_pattern_parse, then checks the scanner's matches against a brute-force reference. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"
#include "internal.h"

#define BUF_LEN     FUZZ_HAYSTACK_LEN
#define MAX_MATCHES (BUF_LEN + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The reference: the documented grammar, parsed independently of pattern.c. */
struct ref_pattern {
	size_t len;
	uint8_t value[MEMSCAN_PATTERN_MAX];
	uint8_t mask[MEMSCAN_PATTERN_MAX];
};

/* The haystack (fuzz_fill_haystack). */
static uint8_t haystack[BUF_LEN];

/* This process, for memscan_scan over the haystack split into adjacent regions (junction matches). */
static memscan_process *self;

struct collect {
	uint64_t addr[MAX_MATCHES];
	size_t n;
	size_t stop_after; /* 0 = never stop */
};

static int ref_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int ref_nibble(char c, uint8_t *v, uint8_t *m)
{
	*m = 0xF;
	if (c >= '0' && c <= '9')
		*v = (uint8_t)(c - '0');
	else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		*v = (uint8_t)((c | 0x20) - 'a' + 10);
	else if (c == '?')
		*v = *m = 0;
	else
		return -1;
	return 0;
}

/* 0 and the pattern, or -1 and the offset of the offending character (0 for an empty pattern). */
static int ref_parse(const char *s, struct ref_pattern *p, size_t *ret_off)
{
	size_t i = 0, k, fixed = 0;
	uint8_t hv, hm, lv, lm;

	p->len = 0;
	*ret_off = 0;
	for (;;) {
		while (ref_space(s[i]))
			i++;
		if (!s[i])
			break;
		if (p->len == MEMSCAN_PATTERN_MAX || ref_nibble(s[i], &hv, &hm) || !s[i + 1]) {
			*ret_off = i;
			return -1;
		}
		if (ref_nibble(s[i + 1], &lv, &lm)) {
			*ret_off = i + 1;
			return -1;
		}
		p->value[p->len] = (uint8_t)(hv << 4 | lv);
		p->mask[p->len] = (uint8_t)(hm << 4 | lm);
		p->len++;
		i += 2;
	}
	for (k = 0; k < p->len; k++)
		fixed |= p->mask[k];
	return p->len && fixed ? 0 : -1;
}

static int ref_match_at(const struct ref_pattern *p, const uint8_t *d)
{
	for (size_t i = 0; i < p->len; i++)
		if ((d[i] & p->mask[i]) != p->value[i])
			return 0;
	return 1;
}

/* Expected addresses of matches in haystack[0, len) at BASE, honouring align and max_results. */
static size_t ref_scan(const struct ref_pattern *p, size_t len, uint64_t base, uint64_t align, uint64_t max,
                       uint64_t *out)
{
	size_t n = 0;

	for (size_t s = 0; s + p->len <= len; s++) {
		if (align > 1 && (base + s) % align)
			continue;
		if (!ref_match_at(p, haystack + s))
			continue;
		out[n++] = base + s;
		if (max && n >= max)
			break;
	}
	return n;
}

static int on_match(void *ctx, uint64_t address, const memscan_region *region)
{
	struct collect *c = ctx;

	FUZZ_CHECK(c->n < MAX_MATCHES);
	/* strictly ascending addresses */
	FUZZ_CHECK(c->n == 0 || c->addr[c->n - 1] < address);
	c->addr[c->n++] = address;
	if (region)
		FUZZ_CHECK(address >= region->start && address < region->end);
	return c->stop_after && c->n >= c->stop_after;
}

static void check_same(const struct collect *c, const uint64_t *want, size_t nwant)
{
	FUZZ_CHECK(c->n == nwant);
	for (size_t i = 0; i < nwant; i++)
		FUZZ_CHECK(c->addr[i] == want[i]);
}

static void check_buffer(const memscan_pattern *pat, const struct ref_pattern *ref, size_t len, uint64_t base,
                         uint64_t align, uint64_t max)
{
	static uint64_t want[MAX_MATCHES];
	static struct collect c;
	memscan_scan_options opt = { .align = align, .max_results = max };
	size_t nwant = ref_scan(ref, len, base, align, max, want);
	uint64_t count = 0;
	int rc;

	c.n = 0;
	c.stop_after = 0;
	rc = memscan_scan_buffer(haystack, len, base, pat, &opt, on_match, &c, &count);
	FUZZ_CHECK(rc == MEMSCAN_OK);
	FUZZ_CHECK(count == nwant);
	check_same(&c, want, nwant);

	/* a callback that stops at the second match: STOPPED, and nothing after it */
	if (nwant >= 2) {
		c.n = 0;
		c.stop_after = 2;
		rc = memscan_scan_buffer(haystack, len, base, pat, &opt, on_match, &c, &count);
		FUZZ_CHECK(rc == MEMSCAN_ERR_STOPPED);
		check_same(&c, want, 2);
	}
}

/* memscan_scan over the haystack in this process, cut into adjacent regions at CUT1 and CUT2: the
 * matches straddling a cut come from the matcher's carry, and must equal the single-buffer ones. */
static void check_process(const memscan_pattern *pat, const struct ref_pattern *ref, size_t cut1, size_t cut2,
                          uint64_t align, int no_memmap)
{
	static uint64_t want[MAX_MATCHES];
	static struct collect c;
	memscan_scan_options opt = { .align = align, .no_memmap = no_memmap };
	uint64_t base = (uint64_t)(uintptr_t)haystack, count = 0;
	size_t cuts[4] = { 0, cut1 < BUF_LEN ? cut1 : BUF_LEN, cut2 < BUF_LEN ? cut2 : BUF_LEN, BUF_LEN },
	       nwant;
	memscan_region_list *list = NULL;
	int rc;

	if (!self)
		return;
	FUZZ_CHECK(memscan_region_list_new(&list) == MEMSCAN_OK);
	for (int i = 0; i < 3; i++) {
		if (cuts[i + 1] > cuts[i])
			fuzz_add_region(list, base + cuts[i], base + cuts[i + 1]);
	}
	nwant = ref_scan(ref, BUF_LEN, base, align, 0, want);
	c.n = 0;
	c.stop_after = 0;
	rc = memscan_scan(self, list, pat, &opt, on_match, &c, &count);
	FUZZ_CHECK(rc == MEMSCAN_OK);
	FUZZ_CHECK(count == nwant);
	check_same(&c, want, nwant);
	memscan_region_list_free(list);
}

/* The scanner against the reference on one parsed pattern of length PLEN. */
static void check_all(const memscan_pattern *pat, const struct ref_pattern *ref, size_t plen)
{
	size_t len, last;

	/* whole and cut-short buffers, odd bases, alignments and result caps; the cut length is taken
	 * from the pattern so that matches ending exactly at the buffer's end are tried */
	last = plen <= BUF_LEN ? BUF_LEN - plen : 0;
	check_buffer(pat, ref, BUF_LEN, 0x1000, 0, 0);
	check_buffer(pat, ref, BUF_LEN, 0x1003, 4, 0);
	check_buffer(pat, ref, BUF_LEN, 0x7, 3, 0);
	check_buffer(pat, ref, BUF_LEN, 0x1000, 0, 3);
	check_buffer(pat, ref, BUF_LEN, UINT64_MAX - BUF_LEN, 2, 0);
	for (len = 0; len < 4; len++)
		check_buffer(pat, ref, plen + len <= BUF_LEN ? plen + len : BUF_LEN, 0x2000, 0, 0);
	check_buffer(pat, ref, plen - 1 < BUF_LEN ? plen - 1 : BUF_LEN, 0x2000, 0, 0);
	check_buffer(pat, ref, last + 1, 0x2001, 0, 1);

	/* a remote-style scan of the same bytes, cut around where the pattern would straddle */
	check_process(pat, ref, 250, 256 + plen / 2, 0, 0);
	check_process(pat, ref, 1, 2, 0, 1);
	check_process(pat, ref, 300, 301 + (plen & 63), 2, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_fill_haystack(haystack);
	if (memscan_process_open(getpid(), &self) != MEMSCAN_OK)
		self = NULL; /* then only memscan_scan_buffer is checked */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref_pattern ref;
	memscan_pattern *pat = NULL;
	size_t off = 0, ref_off, plen;
	char *text;
	int rc, ref_rc;

	/* the pattern text is the input up to its first NUL */
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	rc = memscan_pattern_parse(text, &pat, &off);
	ref_rc = ref_parse(text, &ref, &ref_off);
	FUZZ_CHECK(rc == MEMSCAN_OK || rc == MEMSCAN_ERR_BAD_PATTERN);
	FUZZ_CHECK((rc == MEMSCAN_OK) == (ref_rc == 0));
	if (rc != MEMSCAN_OK) {
		FUZZ_CHECK(pat == NULL);
		FUZZ_CHECK(off == ref_off);
		FUZZ_CHECK(off == 0 || off < strlen(text));
		free(text);
		return 0;
	}
	FUZZ_CHECK(off == 0);
	plen = memscan_pattern_length(pat);
	FUZZ_CHECK(plen == ref.len);

	/* the pattern's own matcher agrees with the reference wherever it fits */
	for (size_t s = 0; s + plen <= BUF_LEN; s++)
		FUZZ_CHECK(!memscan_pattern_matches(pat, haystack + s) == !ref_match_at(&ref, haystack + s));

	/* every check runs on the SIMD path where the CPU has it, then on the scalar one */
	for (int simd = 1; simd >= 0; simd--) {
		ms_set_simd(simd);
		check_all(pat, &ref, plen);
	}
	ms_set_simd(1);

	memscan_pattern_free(pat);
	free(text);
	return 0;
}
