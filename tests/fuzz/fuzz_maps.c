/* SPDX-License-Identifier: MIT */
/* Fuzzes /proc/PID/maps parsing: memscan_regions_parse on the input, memscan_maps_parse_line per line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"

#define PATHBUF_BIG   8192 /* larger than any path the parser accepts */
#define PATHBUF_SMALL 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int kind_valid(uint32_t kind)
{
	return kind == MEMSCAN_KIND_ANON || kind == MEMSCAN_KIND_HEAP || kind == MEMSCAN_KIND_STACK ||
	       kind == MEMSCAN_KIND_FILE || kind == MEMSCAN_KIND_SPECIAL;
}

static void check_region(const memscan_region *r)
{
	FUZZ_CHECK(r->start < r->end);
	FUZZ_CHECK((r->perms & ~0xfu) == 0);
	FUZZ_CHECK(kind_valid(r->kind));
	FUZZ_CHECK(r->path != NULL);
	FUZZ_CHECK(strlen(r->path) < PATHBUF_BIG);
}

static int same_region(const memscan_region *a, const memscan_region *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset && a->inode == b->inode &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor && a->perms == b->perms &&
	       a->kind == b->kind && !a->deleted == !b->deleted && strcmp(a->path, b->path) == 0;
}

/* Every region a filter keeps must pass it and lie inside its range once clipped. */
static void check_filtered(const char *text, size_t len, const memscan_filter *f)
{
	memscan_region_list *list = NULL;
	const memscan_region *r;
	size_t i, n;

	if (memscan_regions_parse(text, len, f, &list) != MEMSCAN_OK) {
		FUZZ_CHECK(list == NULL);
		return;
	}
	n = memscan_region_list_count(list);
	for (i = 0; i < n; i++) {
		r = memscan_region_list_get(list, i);
		FUZZ_CHECK(r != NULL);
		check_region(r);
		FUZZ_CHECK(memscan_filter_match(f, r));
		if (f->range_end > f->range_start)
			FUZZ_CHECK(r->start >= f->range_start && r->end <= f->range_end);
		if (f->max_size)
			FUZZ_CHECK(r->end - r->start <= f->max_size);
	}
	FUZZ_CHECK(memscan_region_list_get(list, n) == NULL);
	memscan_region_list_free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size, *nl, *line_end;
	static char pathbuf[PATHBUF_BIG], small[PATHBUF_SMALL];
	memscan_region_list *all = NULL;
	memscan_region region, region_small;
	memscan_filter f;
	int rc_all, rc, rc_small, all_lines_ok = 1;
	size_t nlines = 0, n = 0;
	uint64_t bytes = 0;

	/* the whole text, unfiltered: the input buffer is exactly SIZE bytes, not NUL-terminated */
	rc_all = memscan_regions_parse(text, size, NULL, &all);
	FUZZ_CHECK((rc_all == MEMSCAN_OK) == (all != NULL));
	if (all)
		n = memscan_region_list_count(all);

	/* each line on its own gives the same verdict and the same regions */
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line_end = nl ? nl : end;
		if (line_end > p) {
			rc = memscan_maps_parse_line(p, (size_t)(line_end - p), &region, pathbuf,
			                             sizeof(pathbuf));
			rc_small = memscan_maps_parse_line(p, (size_t)(line_end - p), &region_small, small,
			                                   sizeof(small));
			FUZZ_CHECK(rc == MEMSCAN_OK || rc == MEMSCAN_ERR_BAD_FORMAT ||
			           rc == MEMSCAN_ERR_LIMIT);
			if (rc == MEMSCAN_OK) {
				check_region(&region);
				FUZZ_CHECK(region.path == pathbuf);
				/* a small buffer only refuses long paths, and gives the same region otherwise
				 */
				FUZZ_CHECK(rc_small == MEMSCAN_OK || rc_small == MEMSCAN_ERR_LIMIT);
				if (rc_small == MEMSCAN_OK)
					FUZZ_CHECK(same_region(&region, &region_small));
				else
					FUZZ_CHECK(strlen(pathbuf) >= sizeof(small));
				if (all && nlines < n) {
					FUZZ_CHECK(
					    same_region(&region, memscan_region_list_get(all, nlines)));
					bytes += region.end - region.start;
				}
				nlines++;
			} else {
				FUZZ_CHECK(rc_small != MEMSCAN_OK);
				all_lines_ok = 0;
			}
		}
		p = nl ? nl + 1 : end;
	}
	FUZZ_CHECK((rc_all == MEMSCAN_OK) == all_lines_ok);
	if (all) {
		FUZZ_CHECK(n == nlines);
		FUZZ_CHECK(memscan_region_list_bytes(all) == bytes);
	}
	memscan_region_list_free(all);

	/* filters: the default one, and one with a path, permissions, a clipping range and a size cap */
	memscan_filter_default(&f);
	check_filtered(text, size, &f);
	memset(&f, 0, sizeof(f));
	f.perms = MEMSCAN_PERM_READ;
	f.kinds = MEMSCAN_KIND_FILE | MEMSCAN_KIND_ANON | MEMSCAN_KIND_HEAP;
	f.path_substr = "lib";
	f.range_start = 0x10000;
	f.range_end = 0x7f0000000000;
	f.max_size = 1u << 30;
	check_filtered(text, size, &f);
	f.path_substr = NULL;
	f.kinds = 0;
	f.range_start = 0x400000;
	f.range_end = 0x401000;
	check_filtered(text, size, &f);
	return 0;
}
