/* SPDX-License-Identifier: MIT */
/* Unit tests of the snapshot file format: round trips, and every kind of damaged or crafted file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "internal.h"
#include "testutil.h"

/* Built with AddressSanitizer (gcc says so one way, clang another)? */
#if defined(__SANITIZE_ADDRESS__)
#define MS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_ASAN 1
#endif
#endif

/* ---- an independent implementation of the format, from docs/snapshot-format.md -------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* MSSUM64, written straight from the document. */
static uint64_t mssum64(const uint8_t *p, size_t n)
{
	uint64_t a = 1, b = 0;

	for (size_t i = 0; i < n; i += 4) {
		uint32_t w = 0;

		for (size_t k = 0; k < 4 && i + k < n; k++)
			w |= (uint32_t)p[i + k] << (8 * k);
		a += w;
		b += a;
	}
	return b ^ (a << 32 | a >> 32) ^ (uint64_t)n;
}

/* A growable byte buffer for building files. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *buf_grow(struct buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	b->len += n;
	return b->p + b->len - n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
	put32(buf_grow(b, 4), v);
}

static void buf_u64(struct buf *b, uint64_t v)
{
	put64(buf_grow(b, 8), v);
}

static void buf_bytes(struct buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(buf_grow(b, n), p, n);
}

static void craft_header(struct buf *b, uint32_t version, int32_t pid, uint32_t count, uint64_t time_ns,
                         uint64_t total)
{
	size_t at = b->len;

	buf_bytes(b, "\x89MSNAP\r\n", 8);
	buf_u32(b, version);
	buf_u32(b, 64);
	buf_u32(b, (uint32_t)pid);
	buf_u32(b, count);
	buf_u64(b, time_ns);
	buf_u64(b, total);
	buf_u64(b, 0);
	buf_u64(b, 0);
	buf_u64(b, mssum64(b->p + at, 56));
}

/* A region record as the test crafts it; DATA may be NULL for zeros. */
struct craft_region {
	uint64_t start, end, offset, inode;
	uint32_t major, minor, perms, kind, flags;
	const char *path;
	uint32_t path_len;
	uint32_t hole_count;
	const memscan_range *holes;
	const uint8_t *data;
};

static void craft_region(struct buf *b, const struct craft_region *r)
{
	size_t at = b->len;
	uint64_t size = r->end - r->start;

	buf_u64(b, r->start);
	buf_u64(b, r->end);
	buf_u64(b, r->offset);
	buf_u64(b, r->inode);
	buf_u32(b, r->major);
	buf_u32(b, r->minor);
	buf_u32(b, r->perms);
	buf_u32(b, r->kind);
	buf_u32(b, r->flags);
	buf_u32(b, r->path_len);
	buf_u32(b, r->hole_count);
	buf_u32(b, 0);
	buf_bytes(b, r->path, r->path_len);
	memset(buf_grow(b, (8 - r->path_len % 8) % 8), 0, (8 - r->path_len % 8) % 8);
	for (uint32_t i = 0; i < r->hole_count; i++) {
		buf_u64(b, r->holes[i].start);
		buf_u64(b, r->holes[i].end);
	}
	if (r->data)
		buf_bytes(b, r->data, (size_t)size);
	else
		memset(buf_grow(b, (size_t)size), 0, (size_t)size);
	buf_u64(b, mssum64(b->p + at, b->len - at));
}

static void craft_trailer(struct buf *b, uint32_t count, uint64_t total)
{
	size_t at = b->len;

	buf_bytes(b, "MSNAPEND", 8);
	buf_u32(b, count);
	buf_u32(b, 0);
	buf_u64(b, total);
	buf_u64(b, mssum64(b->p + at, 24));
}

/* ---- helpers -------------------------------------------------------------------------------- */

struct fx {
	char dir[4096];
	char path[4200];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *d = ms_tmpdir();

	if (!f || !d)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s", d);
	snprintf(f->path, sizeof(f->path), "%s/snap.bin", f->dir);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	ms_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (len)
		assert_int_equal(fwrite(p, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Number of entries in DIR besides . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static memscan_region mkregion(uint64_t start, uint64_t end, uint32_t perms, uint32_t kind, const char *path)
{
	memscan_region r = { 0 };

	r.start = start;
	r.end = end;
	r.perms = perms;
	r.kind = kind;
	r.path = path;
	return r;
}

/* Adds REGION filled with a pattern derived from SEED; returns the stored region. */
static struct ms_snap_region *add_filled(memscan_snapshot *s, const memscan_region *region, unsigned seed)
{
	struct ms_snap_region *sr = NULL;

	assert_int_equal(ms_snapshot_add_region(s, region, &sr), MEMSCAN_OK);
	assert_non_null(sr);
	for (uint64_t i = 0; i < region->end - region->start; i++)
		sr->data[i] = (uint8_t)(i * 131u + seed * 17u + (i >> 8));
	return sr;
}

/* Punches a hole [start, end) (absolute addresses) into SR: zeroes its bytes and records it. */
static void add_hole(struct ms_snap_region *sr, uint64_t start, uint64_t end)
{
	memset(sr->data + (start - sr->region.start), 0, (size_t)(end - start));
	assert_int_equal(ms_ranges_append(&sr->holes, start, end), 0);
}

/* pid 4242, three regions: anon, a deleted file with spaces in its path, one with two holes. */
static memscan_snapshot *sample(void)
{
	memscan_snapshot *s = NULL;
	memscan_region r;
	struct ms_snap_region *sr;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	s->pid = 4242;
	s->time_ns = UINT64_C(1700000000123456789);
	r = mkregion(0x10000, 0x13000, MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE, MEMSCAN_KIND_ANON, "");
	add_filled(s, &r, 1);
	r = mkregion(0x13000, 0x14000, MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC | MEMSCAN_PERM_SHARED,
	             MEMSCAN_KIND_FILE, "/tmp/my lib (v2) .so");
	r.offset = 0x2000;
	r.inode = UINT64_C(0x123456789a);
	r.dev_major = 259;
	r.dev_minor = 7;
	r.deleted = 1;
	add_filled(s, &r, 2);
	r = mkregion(0x7f0000001000, 0x7f0000005000, MEMSCAN_PERM_READ, MEMSCAN_KIND_STACK, "[stack]");
	sr = add_filled(s, &r, 3);
	add_hole(sr, 0x7f0000002000, 0x7f0000003000);
	add_hole(sr, 0x7f0000004000, 0x7f0000004800);
	return s;
}

/* A small snapshot (two tiny regions, one hole) for byte-by-byte damage tests. */
static memscan_snapshot *small_sample(void)
{
	memscan_snapshot *s = NULL;
	memscan_region r;
	struct ms_snap_region *sr;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	s->pid = 7;
	s->time_ns = 99;
	r = mkregion(0x1000, 0x1010, MEMSCAN_PERM_READ, MEMSCAN_KIND_HEAP, "[heap]");
	add_filled(s, &r, 4);
	r = mkregion(0x2000, 0x2031, MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE, MEMSCAN_KIND_FILE, "/a b");
	sr = add_filled(s, &r, 5);
	add_hole(sr, 0x2008, 0x2010);
	return s;
}

static void assert_snap_equal(const memscan_snapshot *a, const memscan_snapshot *b)
{
	assert_int_equal(memscan_snapshot_pid(a), memscan_snapshot_pid(b));
	assert_true(memscan_snapshot_time_ns(a) == memscan_snapshot_time_ns(b));
	assert_true(memscan_snapshot_bytes(a) == memscan_snapshot_bytes(b));
	assert_int_equal(memscan_snapshot_region_count(a), memscan_snapshot_region_count(b));
	for (size_t i = 0; i < memscan_snapshot_region_count(a); i++) {
		memscan_snapshot_region x = memscan_snapshot_get(a, i), y = memscan_snapshot_get(b, i);

		assert_true(x.region.start == y.region.start);
		assert_true(x.region.end == y.region.end);
		assert_true(x.region.offset == y.region.offset);
		assert_true(x.region.inode == y.region.inode);
		assert_int_equal(x.region.dev_major, y.region.dev_major);
		assert_int_equal(x.region.dev_minor, y.region.dev_minor);
		assert_int_equal(x.region.perms, y.region.perms);
		assert_int_equal(x.region.kind, y.region.kind);
		assert_int_equal(!!x.region.deleted, !!y.region.deleted);
		assert_string_equal(x.region.path, y.region.path);
		assert_memory_equal(x.data, y.data, (size_t)(x.region.end - x.region.start));
		assert_int_equal(x.holes->count, y.holes->count);
		for (size_t k = 0; k < x.holes->count; k++) {
			assert_true(x.holes->items[k].start == y.holes->items[k].start);
			assert_true(x.holes->items[k].end == y.holes->items[k].end);
		}
	}
}

/* Saves S to PATH, loads it back, compares, frees both. */
static void roundtrip(memscan_snapshot *s, const char *path)
{
	memscan_snapshot *back = NULL;

	assert_int_equal(memscan_snapshot_save(s, path), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(path, &back), MEMSCAN_OK);
	assert_non_null(back);
	assert_snap_equal(s, back);
	memscan_snapshot_free(back);
	memscan_snapshot_free(s);
}

/* Loading PATH must fail with one of the given codes and return nothing. */
static int load_fails(const char *path)
{
	memscan_snapshot *s = (memscan_snapshot *)&s; /* must be cleared */
	int rc = memscan_snapshot_load(path, &s);

	assert_null(s);
	assert_int_not_equal(rc, MEMSCAN_OK);
	return rc;
}

static int load_bytes_rc(const char *path, const uint8_t *p, size_t len)
{
	write_file(path, p, len);
	return load_fails(path);
}

/* ---- round trips ------------------------------------------------------------------------------ */

static void test_roundtrip_sample(void **state)
{
	struct fx *f = *state;
	struct stat st;

	roundtrip(sample(), f->path);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(dir_entries(f->dir), 1); /* no temporary file left */
}

static void test_roundtrip_empty(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = NULL, *back = NULL;
	size_t len;
	uint8_t *bytes;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	s->pid = 1;
	s->time_ns = 5;
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	bytes = ms_file_read(f->path, &len);
	assert_int_equal(len, 64 + 32);
	free(bytes);
	assert_int_equal(memscan_snapshot_load(f->path, &back), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(back), 0);
	assert_snap_equal(s, back);
	memscan_snapshot_free(back);
	memscan_snapshot_free(s);
}

static void test_path_with_spaces_deleted(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = NULL;
	memscan_region r = mkregion(0x400000, 0x401000, MEMSCAN_PERM_READ, MEMSCAN_KIND_FILE,
	                            "/opt/some dir/lib with spaces.so.1");

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	r.deleted = 1;
	r.inode = 42;
	add_filled(s, &r, 9);
	roundtrip(s, f->path);
}

static void test_holes(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = NULL;
	memscan_region r = mkregion(0x10000, 0x20000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	struct ms_snap_region *sr;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	sr = add_filled(s, &r, 10);
	add_hole(sr, 0x10000, 0x11000); /* at the start */
	add_hole(sr, 0x15000, 0x15001); /* one byte */
	add_hole(sr, 0x1f000, 0x20000); /* at the end */
	r = mkregion(0x20000, 0x21000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	sr = add_filled(s, &r, 11);
	add_hole(sr, 0x20000, 0x21000); /* all of it */
	roundtrip(s, f->path);
}

/* Bytes inside holes are written as zeros even if the buffer holds something else there. */
static void test_hole_bytes_saved_as_zero(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = NULL, *back = NULL;
	memscan_region r = mkregion(0x1000, 0x3000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	struct ms_snap_region *sr;
	memscan_snapshot_region got;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	sr = add_filled(s, &r, 12);
	assert_int_equal(ms_ranges_append(&sr->holes, 0x1800, 0x2100), 0); /* buffer not zeroed */
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(f->path, &back), MEMSCAN_OK);
	got = memscan_snapshot_get(back, 0);
	for (size_t i = 0; i < 0x2000; i++) {
		int in_hole = i >= 0x800 && i < 0x1100;

		assert_int_equal(got.data[i], in_hole ? 0 : sr->data[i]);
	}
	memscan_snapshot_free(back);
	memscan_snapshot_free(s);
}

/* A large region crosses the writer's and reader's buffers and I/O chunks. */
static void test_large_region(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = NULL;
	memscan_region r =
	    mkregion(0x100000000, 0x100000000 + (9u << 20) + 4096, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	struct ms_snap_region *sr;

	assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
	sr = add_filled(s, &r, 13);
	add_hole(sr, 0x100000000 + 4096, 0x100000000 + (200u << 10));
	r = mkregion(r.end + 4096, r.end + 8192, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	add_filled(s, &r, 14);
	roundtrip(s, f->path);
}

static void test_replace_existing(void **state)
{
	struct fx *f = *state;

	write_file(f->path, (const uint8_t *)"old", 3);
	roundtrip(small_sample(), f->path);
	roundtrip(sample(), f->path);
	assert_int_equal(dir_entries(f->dir), 1);
}

/* The test's own encoder produces the very bytes the library writes. */
static void test_matches_document(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample();
	struct buf b = { 0 };
	memscan_range hole = { 0x2008, 0x2010 };
	struct craft_region r0 = { .start = 0x1000,
		                   .end = 0x1010,
		                   .perms = 1,
		                   .kind = MEMSCAN_KIND_HEAP,
		                   .path = "[heap]",
		                   .path_len = 6,
		                   .data = s->regions[0].data };
	struct craft_region r1 = { .start = 0x2000,
		                   .end = 0x2031,
		                   .perms = 3,
		                   .kind = MEMSCAN_KIND_FILE,
		                   .path = "/a b",
		                   .path_len = 4,
		                   .hole_count = 1,
		                   .holes = &hole,
		                   .data = s->regions[1].data };
	uint8_t *bytes;
	size_t len;

	craft_header(&b, 1, 7, 2, 99, 0x10 + 0x31);
	craft_region(&b, &r0);
	craft_region(&b, &r1);
	craft_trailer(&b, 2, 0x10 + 0x31);
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	bytes = ms_file_read(f->path, &len);
	assert_int_equal(len, b.len);
	assert_memory_equal(bytes, b.p, len);
	free(bytes);
	free(b.p);
	memscan_snapshot_free(s);
}

/* Version 2, from the document: the same file with the filter block after the header, its length at
 * header offset 40 and version 2 (header checksum recomputed); it loads with the filter it records. */
static void test_matches_document_v2(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample(), *back = NULL;
	memscan_filter filt = { .perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE,
		                .kinds = MEMSCAN_KIND_HEAP | MEMSCAN_KIND_FILE,
		                .path_substr = "lib",
		                .range_start = 0x1000,
		                .range_end = 0x3000,
		                .max_size = 1 << 20 };
	uint8_t block[56] = { 0 }, *v1, *bytes;
	struct buf b = { 0 };
	size_t len1, len;

	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	v1 = ms_file_read(f->path, &len1);
	put32(block, filt.perms);
	put32(block + 4, filt.kinds);
	put64(block + 8, filt.range_start);
	put64(block + 16, filt.range_end);
	put64(block + 24, filt.max_size);
	put32(block + 32, 3);
	memcpy(block + 40, "lib", 3); /* then 5 bytes of padding */
	put64(block + 48, mssum64(block, 48));
	buf_bytes(&b, v1, 64);
	put32(b.p + 8, 2);
	put64(b.p + 40, sizeof(block));
	put64(b.p + 56, mssum64(b.p, 56));
	buf_bytes(&b, block, sizeof(block));
	buf_bytes(&b, v1 + 64, len1 - 64);
	assert_int_equal(memscan_snapshot_set_filter(s, &filt), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	bytes = ms_file_read(f->path, &len);
	assert_int_equal(len, b.len);
	assert_memory_equal(bytes, b.p, len);
	assert_int_equal(memscan_snapshot_load(f->path, &back), MEMSCAN_OK);
	assert_snap_equal(s, back);
	assert_true(memscan_snapshot_get_filter(back, &filt));
	assert_string_equal(filt.path_substr, "lib");
	assert_int_equal(filt.max_size, 1 << 20);
	memscan_snapshot_free(back);
	free(bytes);
	free(v1);
	free(b.p);
	memscan_snapshot_free(s);
}

/* The library sums data in lanes (AVX2 or not) and the word-by-word rest: at every length around
 * the lane block (32 bytes) and across many blocks, on both paths, its file equals the test's own
 * encoder's, whose MSSUM64 goes word by word. */
static void test_checksum_any_length(void **state)
{
	static const size_t lens[] = {
		1, 3, 4, 5, 31, 32, 33, 35, 36, 63, 64, 65, 97, 255, 4096, 4099, 4127, 1 << 20, (1 << 20) + 29
	};
	struct fx *f = *state;

	for (int simd = 1; simd >= 0; simd--) {
		ms_set_simd(simd);
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			memscan_snapshot *s = NULL;
			memscan_region r =
			    mkregion(0x10000, 0x10000 + lens[k], MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
			struct ms_snap_region *sr;
			struct craft_region cr = {
				.start = r.start, .end = r.end, .perms = 1, .kind = MEMSCAN_KIND_ANON
			};
			struct buf b = { 0 };
			uint8_t *bytes;
			size_t len;

			assert_int_equal(ms_snapshot_new(&s), MEMSCAN_OK);
			s->pid = 7;
			s->time_ns = 99;
			sr = add_filled(s, &r, (unsigned)k);
			cr.data = sr->data;
			craft_header(&b, 1, 7, 1, 99, lens[k]);
			craft_region(&b, &cr);
			craft_trailer(&b, 1, lens[k]);
			assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
			bytes = ms_file_read(f->path, &len);
			if (len != b.len || memcmp(bytes, b.p, len) != 0)
				fail_msg("length %zu, %s path: the file differs from the reference encoding",
				         lens[k], simd ? "SIMD" : "scalar");
			free(bytes);
			free(b.p);
			memscan_snapshot_free(s);
		}
	}
	ms_set_simd(1);
}

/* The example file of docs/snapshot-format.md, byte for byte, loads as described there. */
static void test_document_example(void **state)
{
	static const uint8_t example[] = {
		0x89, 0x4d, 0x53, 0x4e, 0x41, 0x50, 0x0d, 0x0a, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00,
		0x00, 0xd2, 0x04, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c,
		0x97, 0x17, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xcf, 0xb0, 0x21,
		0xea, 0x3f, 0x22, 0xa6, 0x00, 0x10, 0xde, 0xc0, 0xd0, 0x55, 0x00, 0x00, 0x10, 0x10, 0xde,
		0xc0, 0xd0, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5b, 0x68, 0x65, 0x61, 0x70, 0x5d, 0x00,
		0x00, 0x08, 0x10, 0xde, 0xc0, 0xd0, 0x55, 0x00, 0x00, 0x10, 0x10, 0xde, 0xc0, 0xd0, 0x55,
		0x00, 0x00, 0x6d, 0x65, 0x6d, 0x73, 0x63, 0x61, 0x6e, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x96, 0x35, 0x92, 0x37, 0x26, 0x24, 0xbb, 0xf9, 0x4d, 0x53, 0x4e, 0x41,
		0x50, 0x45, 0x4e, 0x44, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0x4e, 0x5d, 0xdd, 0xad, 0x98, 0x9c, 0x85,
	};
	struct fx *f = *state;
	memscan_snapshot *s = NULL;
	memscan_snapshot_region r;

	assert_int_equal(sizeof(example), 208);
	write_file(f->path, example, sizeof(example));
	assert_int_equal(memscan_snapshot_load(f->path, &s), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_pid(s), 1234);
	assert_true(memscan_snapshot_time_ns(s) == UINT64_C(1700000000000000000));
	assert_int_equal(memscan_snapshot_region_count(s), 1);
	r = memscan_snapshot_get(s, 0);
	assert_true(r.region.start == UINT64_C(0x55d0c0de1000) && r.region.end == UINT64_C(0x55d0c0de1010));
	assert_int_equal(r.region.perms, MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE);
	assert_int_equal(r.region.kind, MEMSCAN_KIND_HEAP);
	assert_string_equal(r.region.path, "[heap]");
	assert_memory_equal(r.data, "memscan!\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(r.holes->count, 1);
	assert_true(r.holes->items[0].start == UINT64_C(0x55d0c0de1008));
	memscan_snapshot_free(s);
}

/* Known answers for MSSUM64, as listed in the document. */
static void test_checksum_vectors(void **state)
{
	(void)state;
	assert_true(mssum64((const uint8_t *)"", 0) == UINT64_C(0x0000000100000000));
	assert_true(mssum64((const uint8_t *)"a", 1) == UINT64_C(0x0000006200000063));
	assert_true(mssum64((const uint8_t *)"memscan", 7) == UINT64_C(0x73dbc6d1e7492c38));
	assert_true(mssum64((const uint8_t *)"123456789", 9) == UINT64_C(0x6c6a68a10d080330));
}

/* ---- damaged files ------------------------------------------------------------------------- */

static void test_every_truncation(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample();
	uint8_t *bytes;
	size_t len;

	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	bytes = ms_file_read(f->path, &len);
	for (size_t cut = 0; cut < len; cut++) {
		int rc = load_bytes_rc(f->path, bytes, cut);

		if (rc != MEMSCAN_ERR_TRUNCATED && rc != MEMSCAN_ERR_BAD_FORMAT)
			fail_msg("cut at %zu of %zu: %s", cut, len, memscan_strerror(rc));
	}
	free(bytes);
	memscan_snapshot_free(s);
}

/* Any single flipped bit anywhere is detected. */
static void test_every_bit_flip(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample();
	uint8_t *bytes;
	size_t len;

	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	bytes = ms_file_read(f->path, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			bytes[i] ^= (uint8_t)(1u << bit);
			rc = load_bytes_rc(f->path, bytes, len);
			bytes[i] ^= (uint8_t)(1u << bit);
			if (rc != MEMSCAN_ERR_BAD_FORMAT && rc != MEMSCAN_ERR_TRUNCATED &&
			    rc != MEMSCAN_ERR_UNSUPPORTED_VERSION)
				fail_msg("flip at %zu bit %d: %s", i, bit, memscan_strerror(rc));
		}
	}
	free(bytes);
	memscan_snapshot_free(s);
}

static void test_bad_magic(void **state)
{
	struct fx *f = *state;
	uint8_t *bytes;
	size_t len;

	roundtrip(small_sample(), f->path);
	bytes = ms_file_read(f->path, &len);
	bytes[1] = 'X';
	assert_int_equal(load_bytes_rc(f->path, bytes, len), MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(load_bytes_rc(f->path, (const uint8_t *)"hello, world\n", 13),
	                 MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(load_bytes_rc(f->path, (const uint8_t *)"\x89MS", 3), MEMSCAN_ERR_TRUNCATED);
	free(bytes);
}

static void test_newer_version(void **state)
{
	struct fx *f = *state;
	uint8_t *bytes;
	size_t len;

	roundtrip(small_sample(), f->path);
	bytes = ms_file_read(f->path, &len);
	put32(bytes + 8, 3);
	assert_int_equal(load_bytes_rc(f->path, bytes, len), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	put32(bytes + 8, 0);
	assert_int_equal(load_bytes_rc(f->path, bytes, len), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	/* a version-3 file may be anything after its first 12 bytes */
	put32(bytes + 8, 3);
	assert_int_equal(load_bytes_rc(f->path, bytes, 12), MEMSCAN_ERR_UNSUPPORTED_VERSION);
	free(bytes);
}

static void test_flipped_data_byte(void **state)
{
	struct fx *f = *state;
	uint8_t *bytes;
	size_t len;

	roundtrip(small_sample(), f->path);
	bytes = ms_file_read(f->path, &len);
	/* first region: header 64, record 64, path "[heap]" padded to 8, then its 16 data bytes */
	bytes[64 + 64 + 8 + 3] ^= 0x40;
	assert_int_equal(load_bytes_rc(f->path, bytes, len), MEMSCAN_ERR_BAD_FORMAT);
	free(bytes);
}

static void test_trailing_garbage(void **state)
{
	struct fx *f = *state;
	uint8_t *bytes;
	size_t len;

	roundtrip(small_sample(), f->path);
	bytes = ms_file_read(f->path, &len);
	bytes = realloc(bytes, len + 4096);
	assert_non_null(bytes);
	memset(bytes + len, 0, 4096);
	assert_int_equal(load_bytes_rc(f->path, bytes, len + 1), MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(load_bytes_rc(f->path, bytes, len + 4096), MEMSCAN_ERR_BAD_FORMAT);
	free(bytes);
}

/* One crafted region (valid checksums), loaded; returns the load's code. */
static int load_crafted(const char *path, const struct craft_region *r, uint64_t total)
{
	struct buf b = { 0 };
	memscan_snapshot *s = NULL;
	int rc;

	craft_header(&b, 1, 1, 1, 0, total);
	craft_region(&b, r);
	craft_trailer(&b, 1, total);
	write_file(path, b.p, b.len);
	free(b.p);
	rc = memscan_snapshot_load(path, &s);
	memscan_snapshot_free(s);
	return rc;
}

static void test_crafted_valid(void **state)
{
	struct fx *f = *state;
	memscan_range holes[2] = { { 0x1000, 0x1004 }, { 0x1004, 0x1008 } }; /* adjacent: allowed */
	struct craft_region r = {
		.start = 0x1000, .end = 0x1010, .kind = MEMSCAN_KIND_ANON, .hole_count = 2, .holes = holes
	};
	memscan_snapshot *s = NULL;

	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load(f->path, &s), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(s), 1);
	assert_true(memscan_ranges_bytes(memscan_snapshot_get(s, 0).holes) == 8);
	memscan_snapshot_free(s);
}

static void test_crafted_bad_regions(void **state)
{
	struct fx *f = *state;
	static const uint8_t ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	memscan_range out[1] = { { 0x0ff0, 0x1004 } }, empty[1] = { { 0x1004, 0x1004 } };
	memscan_range unsorted[2] = { { 0x1008, 0x100c }, { 0x1000, 0x1004 } };
	static const memscan_range many[17];
	struct craft_region base = { .start = 0x1000, .end = 0x1010, .kind = MEMSCAN_KIND_ANON };
	struct craft_region r;

	r = base;
	r.end = r.start; /* start >= end */
	assert_int_equal(load_crafted(f->path, &r, 0), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.path = "a\0b";
	r.path_len = 3;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.path = calloc(1, 4098);
	memset((char *)r.path, 'x', 4097);
	r.path_len = 4097;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r.path_len = 4096; /* exactly the limit is fine */
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_OK);
	free((char *)r.path);
	r = base;
	r.hole_count = 1;
	r.holes = out;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r.holes = empty;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r.hole_count = 2;
	r.holes = unsorted;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.hole_count = 17; /* more holes than bytes */
	r.holes = many;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.hole_count = 1;
	r.holes = unsorted + 1;
	r.data = ones; /* nonzero bytes inside a hole */
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.kind = 3; /* not one kind */
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.perms = 0x10;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	r = base;
	r.flags = 2;
	assert_int_equal(load_crafted(f->path, &r, 16), MEMSCAN_ERR_BAD_FORMAT);
	/* total mismatch: a larger total claims bytes the file lacks */
	assert_int_equal(load_crafted(f->path, &base, 17), MEMSCAN_ERR_TRUNCATED);
	assert_int_equal(load_crafted(f->path, &base, 15), MEMSCAN_ERR_BAD_FORMAT);
}

static void test_crafted_overlap(void **state)
{
	struct fx *f = *state;
	struct craft_region a = { .start = 0x1000, .end = 0x1010, .kind = MEMSCAN_KIND_ANON };
	struct craft_region b2 = { .start = 0x100f, .end = 0x1020, .kind = MEMSCAN_KIND_ANON };
	struct buf b = { 0 };

	craft_header(&b, 1, 1, 2, 0, 0x10 + 0x11);
	craft_region(&b, &a);
	craft_region(&b, &b2);
	craft_trailer(&b, 2, 0x10 + 0x11);
	assert_int_equal(load_bytes_rc(f->path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	b.len = 0;
	craft_header(&b, 1, 1, 2, 0, 0x10 + 0x10);
	craft_region(&b, &a);
	craft_region(&b, &a); /* the same one twice: not ascending */
	craft_trailer(&b, 2, 0x10 + 0x10);
	assert_int_equal(load_bytes_rc(f->path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	free(b.p);
}

/* Crafted headers and records that claim far more than the file holds. */
static void huge_claims(const char *path)
{
	struct craft_region r = { .start = 0, .end = 16, .kind = MEMSCAN_KIND_ANON };
	struct buf b = { 0 };

	craft_header(&b, 1, 1, (1u << 20) + 1, 0, 0);
	craft_trailer(&b, (1u << 20) + 1, 0);
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	b.len = 0;
	craft_header(&b, 1, 1, 1u << 20, 0, 0);
	craft_trailer(&b, 1u << 20, 0);
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_TRUNCATED);
	b.len = 0;
	craft_header(&b, 1, 1, 1, 0, UINT64_C(1) << 40);
	craft_trailer(&b, 1, UINT64_C(1) << 40);
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_TRUNCATED);
	b.len = 0;
	craft_header(&b, 1, 1, 1, 0, UINT64_MAX);
	craft_trailer(&b, 1, UINT64_MAX);
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	free(b.p);
	/* a record claiming 1 TiB (header total 16, and header total 1 TiB + 1) */
	r.end = UINT64_C(1) << 40;
	b = (struct buf){ 0 };
	craft_header(&b, 1, 1, 1, 0, 16);
	buf_u64(&b, r.start);
	buf_u64(&b, r.end);
	memset(buf_grow(&b, 48), 0, 48);
	put32(b.p + b.len - 20, MEMSCAN_KIND_ANON);
	memset(buf_grow(&b, 64), 0, 64);
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	put64(b.p + 32, r.end); /* header total = 1 TiB: the file is too short */
	put64(b.p + 56, mssum64(b.p, 56));
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_TRUNCATED);
	put64(b.p + 32, 16);
	put64(b.p + 56, mssum64(b.p, 56));
	put64(b.p + 64 + 8, r.end + 1); /* > 1 TiB: over the limit */
	assert_int_equal(load_bytes_rc(path, b.p, b.len), MEMSCAN_ERR_BAD_FORMAT);
	free(b.p);
}

static void test_huge_claims(void **state)
{
	struct fx *f = *state;

	huge_claims(f->path);
}

#if !defined(MS_ASAN)
/* This process's mapped address space in bytes (first field of /proc/self/statm, in pages). */
static uint64_t vm_size(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	unsigned long long pages = 0;

	if (fp) {
		if (fscanf(fp, "%llu", &pages) != 1)
			pages = 0;
		fclose(fp);
	}
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}
#endif

/* The same claims under a tight address-space limit: any big allocation would turn into NO_MEMORY
 * (and fail the asserts). Sanitizers reserve huge shadow mappings, so this runs only without them. */
static void test_huge_claims_no_allocation(void **state)
{
#if defined(MS_ASAN)
	skip();
#else
	struct fx *f = *state;
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		struct rlimit cur;

		/* what is mapped now plus 256 MiB; only ever tightened */
		rl.rlim_cur = rl.rlim_max = (rlim_t)vm_size() + (256u << 20);
		if (getrlimit(RLIMIT_AS, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY &&
		    cur.rlim_cur < rl.rlim_cur)
			rl = cur;
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
		huge_claims(f->path);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* ---- bad arguments and I/O failures -------------------------------------------------------------- */

static void test_invalid_args(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample();
	memscan_snapshot *got = s;

	assert_int_equal(memscan_snapshot_save(NULL, f->path), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_save(s, NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_save(s, ""), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_load(NULL, &got), MEMSCAN_ERR_INVALID_ARG);
	assert_null(got);
	assert_int_equal(memscan_snapshot_load(f->path, NULL), MEMSCAN_ERR_INVALID_ARG);
	/* a snapshot whose hole lies outside its region cannot be saved (it would not load) */
	assert_int_equal(ms_ranges_append(&s->regions[0].holes, 0x1008, 0x1020), 0);
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(dir_entries(f->dir), 0);
	memscan_snapshot_free(s);
}

static void test_unwritable_path(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = small_sample();
	char path[4300];

	snprintf(path, sizeof(path), "%s/missing/snap.bin", f->dir);
	assert_int_equal(memscan_snapshot_save(s, path), MEMSCAN_ERR_IO);
	assert_int_equal(dir_entries(f->dir), 0);
	/* the temporary file is created, but the rename over a directory fails: it must be removed */
	snprintf(path, sizeof(path), "%s/adir", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(memscan_snapshot_save(s, path), MEMSCAN_ERR_IO);
	assert_int_equal(dir_entries(f->dir), 1);
	memscan_snapshot_free(s);
}

static void test_load_io_errors(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load_fails(f->path), MEMSCAN_ERR_IO); /* missing */
	assert_int_equal(load_fails(f->dir), MEMSCAN_ERR_IO);  /* a directory */
	assert_int_equal(load_bytes_rc(f->path, NULL, 0), MEMSCAN_ERR_TRUNCATED);
}

/* ---- the streaming writer --------------------------------------------------------------------- */

/* Writes S through a memscan_snapshot_writer in pieces of PIECE bytes; with LATE, each hole is added
 * after the bytes it covers (those are zeroed first, as an agent's are), else before. */
static void write_in_pieces(const memscan_snapshot *s, const char *path, size_t piece, int late)
{
	memscan_snapshot_writer *w;

	assert_int_equal(memscan_snapshot_writer_open(path, memscan_snapshot_pid(s), &w), MEMSCAN_OK);
	for (size_t i = 0; i < memscan_snapshot_region_count(s); i++) {
		memscan_snapshot_region r = memscan_snapshot_get(s, i);
		size_t size = (size_t)(r.region.end - r.region.start), h = 0;
		uint8_t *copy = malloc(size);

		assert_non_null(copy);
		memcpy(copy, r.data, size);
		for (size_t k = 0; k < r.holes->count; k++)
			memset(copy + (r.holes->items[k].start - r.region.start), 0,
			       (size_t)(r.holes->items[k].end - r.holes->items[k].start));
		assert_int_equal(memscan_snapshot_writer_begin_region(w, &r.region), MEMSCAN_OK);
		for (size_t off = 0; off < size; off += piece) {
			size_t n = size - off < piece ? size - off : piece;
			/* before: the holes that start in this piece; late: those that end in it */
			for (; !late && h < r.holes->count &&
			       r.holes->items[h].start < r.region.start + off + n;
			     h++)
				assert_int_equal(memscan_snapshot_writer_add_hole(w, r.holes->items[h]),
				                 MEMSCAN_OK);
			assert_int_equal(memscan_snapshot_writer_write(w, copy + off, n), MEMSCAN_OK);
			for (;
			     late && h < r.holes->count && r.holes->items[h].end <= r.region.start + off + n;
			     h++)
				assert_int_equal(memscan_snapshot_writer_add_hole(w, r.holes->items[h]),
				                 MEMSCAN_OK);
		}
		assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_OK);
		free(copy);
	}
	assert_int_equal(memscan_snapshot_writer_commit(w, memscan_snapshot_time_ns(s)), MEMSCAN_OK);
	memscan_snapshot_writer_free(w);
}

/* A file written in pieces, holes before or after their bytes, is the very file save writes. */
static void test_writer_pieces_equal_save(void **state)
{
	struct fx *f = *state;
	memscan_snapshot *s = sample();
	memscan_region r =
	    mkregion(0x7f0000010000, 0x7f0000010000 + (9u << 20), MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	struct ms_snap_region *sr = add_filled(s, &r, 21);
	const size_t pieces[] = { 1, 7, 4096, 1u << 20, 64u << 20 };
	char other[4300];

	add_hole(sr, r.start + 4096, r.start + 3 * 4096);
	add_hole(sr, r.start + (5u << 20), r.start + (5u << 20) + 17);
	add_hole(sr, r.end - 4096, r.end);
	assert_int_equal(memscan_snapshot_save(s, f->path), MEMSCAN_OK);
	snprintf(other, sizeof(other), "%s.pieces", f->path);
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		for (int late = 0; late < 2; late++) {
			if (pieces[p] == 1 && late == 0)
				continue; /* the same path as 7, only slower */
			write_in_pieces(s, other, pieces[p], late);
			ms_assert_files_equal(other, f->path);
		}
	}
	unlink(other);
	memscan_snapshot_free(s);
}

/* Calls out of order are refused, a hole added after non-zero bytes fails the region, and a writer
 * freed without commit leaves no file behind. */
static void test_writer_misuse(void **state)
{
	struct fx *f = *state;
	memscan_region a = mkregion(0x10000, 0x12000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	memscan_region b = mkregion(0x11000, 0x13000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	memscan_range hole = { 0x10100, 0x10200 }, outside = { 0x12000, 0x12100 };
	memscan_snapshot_writer *w;
	uint8_t bytes[0x2000];

	memset(bytes, 0x5A, sizeof(bytes));
	assert_int_equal(memscan_snapshot_writer_open(f->path, -1, &w), MEMSCAN_ERR_INVALID_ARG);
	assert_null(w);
	assert_int_equal(memscan_snapshot_writer_open(f->path, 3, &w), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_write(w, bytes, 1), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_writer_begin_region(w, &a), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_begin_region(w, &a), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_writer_add_hole(w, outside), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_writer_write(w, bytes, sizeof(bytes) + 1), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_snapshot_writer_write(w, bytes, 0x1000), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_ERR_INVALID_ARG); /* short */
	assert_int_equal(memscan_snapshot_writer_commit(w, 1), MEMSCAN_ERR_INVALID_ARG);  /* in a region */
	assert_int_equal(memscan_snapshot_writer_write(w, bytes, 0x1000), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_begin_region(w, &b), MEMSCAN_ERR_INVALID_ARG); /* overlaps */
	b.start = 0x12000;
	assert_int_equal(memscan_snapshot_writer_begin_region(w, &b), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_write(w, bytes, 0x1000), MEMSCAN_OK);
	hole.start = 0x12100;
	hole.end = 0x12200;
	assert_int_equal(memscan_snapshot_writer_add_hole(w, hole), MEMSCAN_OK); /* its bytes are 0x5A */
	assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_ERR_INVALID_ARG);
	/* the file being written has no name yet (O_TMPFILE): a writer killed now leaves nothing */
	assert_int_equal(dir_entries(f->dir), 0);
	memscan_snapshot_writer_free(w);
	assert_int_equal(dir_entries(f->dir), 0);
}

/* A hole added late, adjacent to one added early, is still checked and still lands in the file. */
static void test_writer_late_adjacent_hole(void **state)
{
	struct fx *f = *state;
	memscan_region r = mkregion(0x10000, 0x11000, MEMSCAN_PERM_READ, MEMSCAN_KIND_ANON, "");
	memscan_range early = { 0x10100, 0x10200 }, late = { 0x10200, 0x10300 };
	memscan_snapshot_writer *w;
	memscan_snapshot *back = NULL;
	memscan_snapshot_region got;
	uint8_t bytes[0x1000];

	for (int zeroed = 0; zeroed < 2; zeroed++) {
		memset(bytes, 0x77, sizeof(bytes));
		if (zeroed)
			memset(bytes + 0x200, 0, 0x100);
		assert_int_equal(memscan_snapshot_writer_open(f->path, 5, &w), MEMSCAN_OK);
		assert_int_equal(memscan_snapshot_writer_begin_region(w, &r), MEMSCAN_OK);
		assert_int_equal(memscan_snapshot_writer_add_hole(w, early), MEMSCAN_OK);
		assert_int_equal(memscan_snapshot_writer_write(w, bytes, sizeof(bytes)), MEMSCAN_OK);
		assert_int_equal(memscan_snapshot_writer_add_hole(w, late), MEMSCAN_OK);
		if (!zeroed) {
			/* its bytes were 0x77 when written */
			assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_ERR_INVALID_ARG);
			memscan_snapshot_writer_free(w);
			continue;
		}
		assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_OK);
		assert_int_equal(memscan_snapshot_writer_commit(w, 9), MEMSCAN_OK);
		memscan_snapshot_writer_free(w);
	}
	assert_int_equal(memscan_snapshot_load(f->path, &back), MEMSCAN_OK);
	got = memscan_snapshot_get(back, 0);
	assert_int_equal(got.holes->count, 1); /* adjacent holes are merged when loaded */
	assert_true(got.holes->items[0].start == early.start && got.holes->items[0].end == late.end);
	assert_int_equal(got.data[0x100], 0);
	assert_int_equal(got.data[0x300], 0x77);
	memscan_snapshot_free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_sample, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_empty, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_path_with_spaces_deleted, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_holes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hole_bytes_saved_as_zero, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_large_region, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_replace_existing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_any_length, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_matches_document, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_matches_document_v2, fx_setup, fx_teardown),
		cmocka_unit_test(test_checksum_vectors),
		cmocka_unit_test_setup_teardown(test_document_example, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_bit_flip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_newer_version, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flipped_data_byte, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_trailing_garbage, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crafted_valid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crafted_bad_regions, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crafted_overlap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_huge_claims, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_huge_claims_no_allocation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_args, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_path, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_io_errors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_writer_pieces_equal_save, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_writer_misuse, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_writer_late_adjacent_hole, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
