/* SPDX-License-Identifier: MIT */
/* Fuzzes memscan_snapshot_load, also with the checksums recomputed; what loads saves and reloads identically.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int input_fd = -1;   /* memfd holding the current input */
static char input_path[64]; /* /proc/self/fd/N of it */
static char scratch[4096];  /* private directory for the saved copies */
static char save_a[4096], save_b[4096];
/* Inputs that loaded as they were, and only once the harness recomputed their checksums. */
static unsigned long loaded_raw, loaded_fixed;

/* Format offsets and sizes (docs/snapshot-format.md), as the harness needs them to fix checksums. */
#define SNAP_HEADER   64u
#define SNAP_RECORD   64u
#define SNAP_HOLE     16u
#define SNAP_SUM      8u
#define SNAP_TRAILER  32u
#define SNAP_MAX_PATH 4096u

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* MSSUM64 written out word by word from the format's description, independently of the library's
 * vectorized one: a = 1 + sum of the little-endian 32-bit words (the last one zero-padded), b = sum
 * of a after each word, result b ^ (a rotated by 32) ^ byte count. */
static uint64_t mssum64(const uint8_t *p, size_t len)
{
	uint64_t a = 1, b = 0;
	uint8_t last[4] = { 0 };
	size_t i;

	for (i = 0; i + 4 <= len; i += 4) {
		a += le32(p + i);
		b += a;
	}
	if (i < len) {
		memcpy(last, p + i, len - i);
		a += le32(last);
		b += a;
	}
	return b ^ (a << 32 | a >> 32) ^ (uint64_t)len;
}

/* Rewrites every checksum of the snapshot file in BUF (LEN bytes) that the layout lets the harness
 * find: the header's, each region record's as far as the records fit in LEN, and the trailer's
 * after them. Everything else stays as the fuzzer made it. */
static void fix_sums(uint8_t *buf, size_t len)
{
	size_t pos = SNAP_HEADER, count, rec;
	uint64_t start, end, path_len, holes;

	if (len < SNAP_HEADER)
		return;
	put_le64(buf + 56, mssum64(buf, 56));
	count = le32(buf + 20);
	if (le32(buf + 8) == 2) {
		/* version 2: the filter block follows the header, its own checksum last */
		uint64_t flen = le64(buf + 40);

		if (flen < SNAP_SUM || flen > len - pos)
			return;
		put_le64(buf + pos + flen - SNAP_SUM, mssum64(buf + pos, (size_t)flen - SNAP_SUM));
		pos += (size_t)flen;
	}
	for (size_t i = 0; i < count && len - pos >= SNAP_RECORD; i++) {
		start = le64(buf + pos);
		end = le64(buf + pos + 8);
		path_len = le32(buf + pos + 52);
		holes = le32(buf + pos + 56);
		if (end <= start || path_len > SNAP_MAX_PATH || holes > len || end - start > len)
			return; /* the loader refuses the record before its checksum */
		rec = SNAP_RECORD + (size_t)(path_len + 7) / 8 * 8 + (size_t)holes * SNAP_HOLE +
		      (size_t)(end - start);
		if (rec > len - pos || len - pos - rec < SNAP_SUM)
			return;
		put_le64(buf + pos + rec, mssum64(buf + pos, rec));
		pos += rec + SNAP_SUM;
	}
	if (len - pos >= SNAP_TRAILER)
		put_le64(buf + pos + 24, mssum64(buf + pos, 24));
}

/* Reads all of PATH into a new buffer. */
static uint8_t *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	FUZZ_CHECK(buf != NULL);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		FUZZ_CHECK(n > 0);
		got += (size_t)n;
	}
	close(fd);
	*ret_len = got;
	return buf;
}

static void same_region(const memscan_region *a, const memscan_region *b)
{
	FUZZ_CHECK(a->start == b->start && a->end == b->end && a->offset == b->offset);
	FUZZ_CHECK(a->inode == b->inode && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor);
	FUZZ_CHECK(a->perms == b->perms && a->kind == b->kind && !a->deleted == !b->deleted);
	FUZZ_CHECK(a->path && b->path && strcmp(a->path, b->path) == 0);
}

/* Both record the same filter (format version 2), or neither does. */
static void same_filter(const memscan_snapshot *a, const memscan_snapshot *b)
{
	memscan_filter fa, fb;
	bool ha = memscan_snapshot_get_filter(a, &fa), hb = memscan_snapshot_get_filter(b, &fb);

	FUZZ_CHECK(ha == hb);
	if (!ha)
		return;
	FUZZ_CHECK(fa.perms == fb.perms && fa.kinds == fb.kinds && fa.max_size == fb.max_size);
	FUZZ_CHECK(fa.range_start == fb.range_start && fa.range_end == fb.range_end);
	FUZZ_CHECK(fa.path_substr && fb.path_substr && strcmp(fa.path_substr, fb.path_substr) == 0);
}

/* Two snapshots hold identical regions, bytes and holes. */
static void same_snapshot(const memscan_snapshot *a, const memscan_snapshot *b)
{
	size_t i, j, n = memscan_snapshot_region_count(a);
	memscan_snapshot_region ra, rb;
	uint64_t prev_end = 0;

	FUZZ_CHECK(n == memscan_snapshot_region_count(b));
	FUZZ_CHECK(memscan_snapshot_pid(a) == memscan_snapshot_pid(b));
	FUZZ_CHECK(memscan_snapshot_time_ns(a) == memscan_snapshot_time_ns(b));
	FUZZ_CHECK(memscan_snapshot_bytes(a) == memscan_snapshot_bytes(b));
	same_filter(a, b);
	for (i = 0; i < n; i++) {
		ra = memscan_snapshot_get(a, i);
		rb = memscan_snapshot_get(b, i);
		same_region(&ra.region, &rb.region);
		/* sorted, disjoint, non-empty */
		FUZZ_CHECK(ra.region.start < ra.region.end);
		FUZZ_CHECK(i == 0 || ra.region.start >= prev_end);
		prev_end = ra.region.end;
		FUZZ_CHECK(ra.data && rb.data);
		FUZZ_CHECK(memcmp(ra.data, rb.data, (size_t)(ra.region.end - ra.region.start)) == 0);
		FUZZ_CHECK((ra.holes ? ra.holes->count : 0) == (rb.holes ? rb.holes->count : 0));
		for (j = 0; ra.holes && j < ra.holes->count; j++) {
			FUZZ_CHECK(ra.holes->items[j].start == rb.holes->items[j].start);
			FUZZ_CHECK(ra.holes->items[j].end == rb.holes->items[j].end);
			FUZZ_CHECK(ra.holes->items[j].start < ra.holes->items[j].end);
			FUZZ_CHECK(ra.holes->items[j].start >= ra.region.start);
			FUZZ_CHECK(ra.holes->items[j].end <= ra.region.end);
		}
	}
	ra = memscan_snapshot_get(a, n);
	FUZZ_CHECK(ra.data == NULL);
}

static void cleanup(void)
{
	unlink(save_a);
	unlink(save_b);
	rmdir(scratch);
}

/* Seeds made by the library itself: empty, one file region, and regions with holes. */
static void write_seeds(const char *dir)
{
	memscan_snapshot *snap = NULL;
	memscan_region r;
	uint8_t *buf;
	char path[4096];

	FUZZ_CHECK(memscan_snapshot_new(4242, 1700000000123456789ull, &snap) == MEMSCAN_OK);
	FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/empty.snap", dir) < sizeof(path));
	FUZZ_CHECK(memscan_snapshot_save(snap, path) == MEMSCAN_OK);

	memset(&r, 0, sizeof(r));
	r.start = 0x400000;
	r.end = 0x400040;
	r.offset = 0x1000;
	r.inode = 1234567;
	r.dev_major = 8;
	r.dev_minor = 1;
	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC;
	r.kind = MEMSCAN_KIND_FILE;
	r.path = "/usr/bin/target";
	FUZZ_CHECK(memscan_snapshot_add_region(snap, &r, &buf) == MEMSCAN_OK);
	memcpy(buf,
	       "\x7f"
	       "ELF memscan fuzz seed: file region bytes",
	       41);
	FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/one.snap", dir) < sizeof(path));
	FUZZ_CHECK(memscan_snapshot_save(snap, path) == MEMSCAN_OK);

	memset(&r, 0, sizeof(r));
	r.start = 0x600000;
	r.end = 0x600030;
	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	r.kind = MEMSCAN_KIND_HEAP;
	r.path = "[heap]";
	FUZZ_CHECK(memscan_snapshot_add_region(snap, &r, &buf) == MEMSCAN_OK);
	memset(buf, 0xAB, 0x30);
	FUZZ_CHECK(memscan_snapshot_add_hole(snap, (memscan_range){ 0x600010, 0x600020 }) == MEMSCAN_OK);
	memset(&r, 0, sizeof(r));
	r.start = 0x7ff000;
	r.end = 0x7ff020;
	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_SHARED;
	r.kind = MEMSCAN_KIND_FILE;
	r.deleted = 1;
	r.path = "/dev/shm/gone";
	FUZZ_CHECK(memscan_snapshot_add_region(snap, &r, &buf) == MEMSCAN_OK);
	memset(buf, 0x11, 0x20);
	FUZZ_CHECK(memscan_snapshot_add_hole(snap, (memscan_range){ 0x7ff000, 0x7ff008 }) == MEMSCAN_OK);
	FUZZ_CHECK(memscan_snapshot_add_hole(snap, (memscan_range){ 0x7ff018, 0x7ff020 }) == MEMSCAN_OK);
	FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/holes.snap", dir) < sizeof(path));
	FUZZ_CHECK(memscan_snapshot_save(snap, path) == MEMSCAN_OK);
	memscan_snapshot_free(snap);
}

/* Makes DATA the whole content of the memfd and loads it; the rest as memscan_snapshot_load says. */
static int load_input(const uint8_t *data, size_t size, memscan_snapshot **ret_snap)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	FUZZ_CHECK(ftruncate(input_fd, 0) == 0);
	while (off < size) {
		n = pwrite(input_fd, data + off, size - off, (off_t)off);
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	rc = memscan_snapshot_load(input_path, ret_snap);
	if (rc != MEMSCAN_OK) {
		FUZZ_CHECK(*ret_snap == NULL);
		FUZZ_CHECK(rc == MEMSCAN_ERR_BAD_FORMAT || rc == MEMSCAN_ERR_TRUNCATED ||
		           rc == MEMSCAN_ERR_UNSUPPORTED_VERSION || rc == MEMSCAN_ERR_LIMIT ||
		           rc == MEMSCAN_ERR_NO_MEMORY);
	} else {
		FUZZ_CHECK(*ret_snap != NULL);
	}
	return rc;
}

/* What loads is valid: it saves, loads back identical, and saves to the very same bytes. */
static void check_loaded(const memscan_snapshot *first)
{
	memscan_snapshot *second = NULL;
	uint8_t *bytes_a, *bytes_b;
	size_t len_a, len_b;

	FUZZ_CHECK(memscan_snapshot_save(first, save_a) == MEMSCAN_OK);
	FUZZ_CHECK(memscan_snapshot_load(save_a, &second) == MEMSCAN_OK);
	same_snapshot(first, second);
	FUZZ_CHECK(memscan_snapshot_save(second, save_b) == MEMSCAN_OK);
	bytes_a = slurp(save_a, &len_a);
	bytes_b = slurp(save_b, &len_b);
	FUZZ_CHECK(len_a == len_b && memcmp(bytes_a, bytes_b, len_a) == 0);
	free(bytes_a);
	free(bytes_b);
	memscan_snapshot_free(second);
}

/* The harness's own checks, at every start: its checksum is the library's (a saved file is left as
 * it is), and a saved file with one data byte changed fails its checksum until fix_sums, then loads
 * with that byte. Without this, mutated inputs would never get past the checksums. */
static void self_check(void)
{
	static const char name[] = "holes.snap";
	memscan_snapshot *snap = NULL;
	memscan_snapshot_region r;
	uint8_t *file, *copy;
	char path[4096];
	size_t len, data_off;

	write_seeds(scratch);
	FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/%s", scratch, name) < sizeof(path));
	file = slurp(path, &len);
	copy = malloc(len);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, file, len);
	fix_sums(copy, len);
	FUZZ_CHECK(memcmp(copy, file, len) == 0);
	/* the first region's first data byte: header, record, path "/usr/bin/target" padded to 16 */
	data_off = SNAP_HEADER + SNAP_RECORD + 16;
	FUZZ_CHECK(copy[data_off] == 0x7f);
	copy[data_off] = 0x42;
	FUZZ_CHECK(load_input(copy, len, &snap) == MEMSCAN_ERR_BAD_FORMAT);
	fix_sums(copy, len);
	FUZZ_CHECK(load_input(copy, len, &snap) == MEMSCAN_OK);
	r = memscan_snapshot_get(snap, 0);
	FUZZ_CHECK(r.data && r.data[0] == 0x42);
	memscan_snapshot_free(snap);
	free(copy);
	free(file);
	FUZZ_CHECK(unlink(path) == 0);
	for (const char *other = "empty.snap\0one.snap\0"; *other; other += strlen(other) + 1) {
		FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/%s", scratch, other) < sizeof(path));
		FUZZ_CHECK(unlink(path) == 0);
	}
}

static void print_stats(void)
{
	fprintf(stderr,
	        "fuzz_snapshot: %lu inputs loaded as they were, %lu more with their checksums recomputed\n",
	        loaded_raw, loaded_fixed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	fuzz_seed_mode(write_seeds);
	input_fd = memfd_create("fuzz_snapshot", MFD_CLOEXEC);
	FUZZ_CHECK(input_fd >= 0);
	FUZZ_CHECK((size_t)snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd) <
	           sizeof(input_path));
	/* memscan_snapshot_save writes a temporary file next to its target and renames it, which a
	 * /proc/self/fd path cannot do: saved copies go to a private directory instead */
	FUZZ_CHECK((size_t)snprintf(scratch, sizeof(scratch), "%s/memscan-fuzz-snapshot.XXXXXX",
	                            tmp && *tmp ? tmp : "/tmp") < sizeof(scratch));
	FUZZ_CHECK(mkdtemp(scratch) != NULL);
	FUZZ_CHECK((size_t)snprintf(save_a, sizeof(save_a), "%s/a.snap", scratch) < sizeof(save_a));
	FUZZ_CHECK((size_t)snprintf(save_b, sizeof(save_b), "%s/b.snap", scratch) < sizeof(save_b));
	atexit(cleanup);
	self_check();
	atexit(print_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memscan_snapshot *snap = NULL;
	uint8_t *fixed;

	if (load_input(data, size, &snap) == MEMSCAN_OK) {
		loaded_raw++;
		check_loaded(snap);
		memscan_snapshot_free(snap);
		return 0;
	}
	/* the same bytes with checksums that hold: the loader's checks past them */
	fixed = malloc(size ? size : 1);
	FUZZ_CHECK(fixed != NULL);
	memcpy(fixed, data, size);
	fix_sums(fixed, size);
	if (memcmp(fixed, data, size) != 0 && load_input(fixed, size, &snap) == MEMSCAN_OK) {
		loaded_fixed++;
		check_loaded(snap);
		memscan_snapshot_free(snap);
	}
	free(fixed);
	return 0;
}
