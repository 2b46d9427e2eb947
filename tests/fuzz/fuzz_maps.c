/* SPDX-License-Identifier: MIT */
/* Fuzzes /proc/PID/maps parsing against a reference parser written here from the format's description. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The format (proc(5)), as memscan reads it: "START-END PERMS OFFSET MAJOR:MINOR INODE[ +PATH]".
 * START, END, OFFSET, MAJOR and MINOR are 1 to 16 hex digits (either case), END > START, MAJOR and
 * MINOR fit 32 bits; PERMS is [r-][w-][x-][sp]; INODE is decimal and fits 64 bits; the fields are
 * separated by exactly one space, and the path by one or more. A path ending in " (deleted)" loses
 * it and marks the region deleted. A NUL anywhere refuses the line (BAD_FORMAT); a path of 4096
 * bytes or more (without the suffix) is refused with LIMIT. Empty lines are skipped; the first line
 * refused refuses the whole text with its error.
 */
#define REF_PATH_MAX    4096
#define REF_HEX_DIGITS  16
#define REF_DELETED     " (deleted)"
#define REF_DELETED_LEN (sizeof(REF_DELETED) - 1)
#define PATHBUF_SMALL   16
#define FILTERS         3

/* One line, parsed by the reference. */
struct ref_line {
	memscan_region r;
	char path[REF_PATH_MAX];
};

static int hex_digit(char c, unsigned *ret)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	const char *d = c ? strchr(digits, c) : NULL;

	if (!d)
		return 0;
	*ret = (unsigned)(d - digits) % 16u;
	return 1;
}

/* A hex field at *POS followed by STOP; *POS moves past STOP. */
static int ref_hex(const char *s, size_t n, size_t *pos, char stop, uint64_t *ret)
{
	size_t i = *pos;
	uint64_t v = 0;
	unsigned d;

	while (i < n && hex_digit(s[i], &d)) {
		if (i - *pos == REF_HEX_DIGITS)
			return -1;
		v = v << 4 | d;
		i++;
	}
	if (i == *pos || i == n || s[i] != stop)
		return -1;
	*pos = i + 1;
	*ret = v;
	return 0;
}

/* A decimal field at *POS that fits 64 bits. */
static int ref_dec(const char *s, size_t n, size_t *pos, uint64_t *ret)
{
	size_t i = *pos;
	uint64_t v = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
		i++;
	}
	if (i == *pos)
		return -1;
	*pos = i;
	*ret = v;
	return 0;
}

static int ref_perms(const char *s, size_t n, size_t *pos, uint32_t *ret)
{
	static const char yes[] = "rwxs", no[] = "---p";
	static const uint32_t bits[] = { MEMSCAN_PERM_READ, MEMSCAN_PERM_WRITE, MEMSCAN_PERM_EXEC,
		                         MEMSCAN_PERM_SHARED };
	uint32_t perms = 0;

	if (n - *pos < 5 || s[*pos + 4] != ' ')
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = s[*pos + (size_t)i];

		if (c == yes[i])
			perms |= bits[i];
		else if (c != no[i])
			return -1;
	}
	*pos += 5;
	*ret = perms;
	return 0;
}

static uint32_t ref_kind(const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || strncmp(path, "[anon:", 6) == 0 || strncmp(path, "[anon_shmem:", 12) == 0)
		return MEMSCAN_KIND_ANON;
	if (strcmp(path, "[heap]") == 0)
		return MEMSCAN_KIND_HEAP;
	if (strcmp(path, "[stack]") == 0 || strncmp(path, "[stack:", 7) == 0)
		return MEMSCAN_KIND_STACK;
	return path[0] == '[' ? MEMSCAN_KIND_SPECIAL : MEMSCAN_KIND_FILE;
}

/* The reference parse of one line (S, N bytes, no newline) into OUT. */
static int ref_parse_line(const char *s, size_t n, struct ref_line *out)
{
	memscan_region *r = &out->r;
	uint64_t major, minor;
	size_t pos = 0, plen;

	memset(r, 0, sizeof(*r));
	if (ref_hex(s, n, &pos, '-', &r->start) || ref_hex(s, n, &pos, ' ', &r->end) ||
	    ref_perms(s, n, &pos, &r->perms) || ref_hex(s, n, &pos, ' ', &r->offset) ||
	    ref_hex(s, n, &pos, ':', &major) || ref_hex(s, n, &pos, ' ', &minor) ||
	    ref_dec(s, n, &pos, &r->inode))
		return MEMSCAN_ERR_BAD_FORMAT;
	if (r->end <= r->start || major > UINT32_MAX || minor > UINT32_MAX || (pos < n && s[pos] != ' '))
		return MEMSCAN_ERR_BAD_FORMAT;
	r->dev_major = (uint32_t)major;
	r->dev_minor = (uint32_t)minor;
	while (pos < n && s[pos] == ' ')
		pos++;
	plen = n - pos;
	if (memchr(s + pos, '\0', plen))
		return MEMSCAN_ERR_BAD_FORMAT;
	if (plen >= REF_DELETED_LEN && memcmp(s + n - REF_DELETED_LEN, REF_DELETED, REF_DELETED_LEN) == 0) {
		r->deleted = 1;
		plen -= REF_DELETED_LEN;
	}
	if (plen >= REF_PATH_MAX)
		return MEMSCAN_ERR_LIMIT;
	memcpy(out->path, s + pos, plen);
	out->path[plen] = '\0';
	r->path = out->path;
	r->kind = ref_kind(out->path);
	return MEMSCAN_OK;
}

/* The reference filter: R (unclipped) passes F, then is clipped to its range; 0 if it is outside. */
static int ref_filter(const memscan_filter *f, memscan_region *r)
{
	if ((r->perms & f->perms) != f->perms || (f->kinds && !(r->kind & f->kinds)))
		return 0;
	if (f->path_substr && f->path_substr[0] && !strstr(r->path, f->path_substr))
		return 0;
	if (f->max_size && r->end - r->start > f->max_size)
		return 0;
	if (f->range_end <= f->range_start)
		return 1;
	if (r->end <= f->range_start || r->start >= f->range_end)
		return 0;
	r->start = r->start > f->range_start ? r->start : f->range_start;
	r->end = r->end < f->range_end ? r->end : f->range_end;
	return 1;
}

static int same_region(const memscan_region *a, const memscan_region *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor && a->perms == b->perms &&
	       a->kind == b->kind && !a->deleted == !b->deleted && strcmp(a->path, b->path) == 0;
}

/* The filters: the default one; one with a path, permissions, a clipping range and a size cap; one
 * with a narrow range only. */
static void make_filters(memscan_filter f[FILTERS])
{
	memscan_filter_default(&f[0]);
	memset(&f[1], 0, sizeof(f[1]));
	f[1].perms = MEMSCAN_PERM_READ;
	f[1].kinds = MEMSCAN_KIND_FILE | MEMSCAN_KIND_ANON | MEMSCAN_KIND_HEAP;
	f[1].path_substr = "lib";
	f[1].range_start = 0x10000;
	f[1].range_end = 0x7f0000000000;
	f[1].max_size = 1u << 30;
	memset(&f[2], 0, sizeof(f[2]));
	f[2].range_start = 0x400000;
	f[2].range_end = 0x401000;
}

/* The library on one line, with a large and a tiny path buffer, against the reference. */
static void check_line(const char *s, size_t n, const struct ref_line *ref, int ref_rc)
{
	static char pathbuf[REF_PATH_MAX + 64], small[PATHBUF_SMALL];
	memscan_region region, region_small;
	int rc, rc_small;

	rc = memscan_maps_parse_line(s, n, &region, pathbuf, sizeof(pathbuf));
	FUZZ_CHECK(rc == ref_rc);
	rc_small = memscan_maps_parse_line(s, n, &region_small, small, sizeof(small));
	if (rc != MEMSCAN_OK) {
		FUZZ_CHECK(rc_small == rc);
		return;
	}
	FUZZ_CHECK(region.path == pathbuf);
	FUZZ_CHECK(same_region(&region, &ref->r));
	/* a small buffer only refuses long paths, and gives the same region otherwise */
	if (strlen(ref->path) >= sizeof(small))
		FUZZ_CHECK(rc_small == MEMSCAN_ERR_LIMIT);
	else
		FUZZ_CHECK(rc_small == MEMSCAN_OK && same_region(&region_small, &ref->r));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size, *nl, *line_end;
	static struct ref_line ref;
	memscan_region_list *all = NULL, *lists[FILTERS] = { NULL };
	memscan_filter filters[FILTERS];
	size_t n_all = 0, n_kept[FILTERS] = { 0 };
	int rc_all, rc_ref = MEMSCAN_OK, rc, rc_lists[FILTERS];
	uint64_t bytes = 0;

	/* the whole text, not NUL-terminated: unfiltered and through each filter */
	rc_all = memscan_regions_parse(text, size, NULL, &all);
	FUZZ_CHECK((rc_all == MEMSCAN_OK) == (all != NULL));
	make_filters(filters);
	for (int k = 0; k < FILTERS; k++) {
		rc_lists[k] = memscan_regions_parse(text, size, &filters[k], &lists[k]);
		FUZZ_CHECK(rc_lists[k] == rc_all);
	}

	/* line by line, the reference gives the same verdicts and, in order, the same regions */
	while (p < end && rc_ref == MEMSCAN_OK) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line_end = nl ? nl : end;
		if (line_end > p) {
			rc = ref_parse_line(p, (size_t)(line_end - p), &ref);
			check_line(p, (size_t)(line_end - p), &ref, rc);
			rc_ref = rc;
		}
		if (rc_ref == MEMSCAN_OK && line_end > p && all) {
			FUZZ_CHECK(n_all < memscan_region_list_count(all));
			FUZZ_CHECK(same_region(memscan_region_list_get(all, n_all++), &ref.r));
			bytes += ref.r.end - ref.r.start;
			for (int k = 0; k < FILTERS; k++) {
				memscan_region kept = ref.r;

				if (!ref_filter(&filters[k], &kept))
					continue;
				FUZZ_CHECK(n_kept[k] < memscan_region_list_count(lists[k]));
				FUZZ_CHECK(
				    same_region(memscan_region_list_get(lists[k], n_kept[k]++), &kept));
			}
		}
		p = nl ? nl + 1 : end;
	}
	FUZZ_CHECK(rc_all == rc_ref);
	if (all) {
		FUZZ_CHECK(n_all == memscan_region_list_count(all));
		FUZZ_CHECK(memscan_region_list_get(all, n_all) == NULL);
		FUZZ_CHECK(memscan_region_list_bytes(all) == bytes);
		for (int k = 0; k < FILTERS; k++)
			FUZZ_CHECK(n_kept[k] == memscan_region_list_count(lists[k]));
	}
	memscan_region_list_free(all);
	for (int k = 0; k < FILTERS; k++)
		memscan_region_list_free(lists[k]);
	return 0;
}
