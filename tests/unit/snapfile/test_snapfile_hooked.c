/* SPDX-License-Identifier: MIT */
/* Unit tests of memscan_snapshot_load_hooked: the load asks the cancel hook as it reads (CANCELLED,
 * nothing returned), reports the file's bytes read up to its size, and loads what the plain load does. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEAP_BYTES ((uint64_t)20 << 20) /* five of the load's 4 MiB steps */

struct env {
	const char *dir;
	char path[4200];
	uint64_t file_size;
};

/* What the hooks saw: the cancel questions (the answer is yes from the STOP_AT-th on; 0: never) and
 * the progress reports. */
struct seen {
	unsigned asked, stop_at;
	unsigned reports;
	uint64_t first, last;
	int went_back;
};

static int ask(void *ctx)
{
	struct seen *s = ctx;

	return ++s->asked >= s->stop_at && s->stop_at;
}

static void report(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	s->first = s->reports ? s->first : done;
	s->went_back |= s->reports && done < s->last;
	s->last = done;
	s->reports++;
}

/* Adds a region of LEN bytes at START filled with a pattern; its bytes, to change. */
static uint8_t *add_filled(memscan_snapshot *snap, uint64_t start, uint64_t len, uint32_t kind,
                           const char *path)
{
	memscan_region g = { .start = start,
		             .end = start + len,
		             .perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE,
		             .kind = kind,
		             .path = path };
	uint8_t *data;

	assert_int_equal(memscan_snapshot_add_region(snap, &g, &data), MEMSCAN_OK);
	for (uint64_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 131u + (i >> 12) + start);
	return data;
}

/* A snapshot file of a small region with a hole, a 20 MiB heap and a stack page. */
static int setup(void **state)
{
	static struct env e;
	memscan_range hole = { 0x10800, 0x10c00 };
	memscan_snapshot *snap = NULL;
	struct stat st;

	e.dir = ms_tmpdir();
	if (!e.dir)
		return -1;
	snprintf(e.path, sizeof(e.path), "%s/hooked.snap", e.dir);
	assert_int_equal(memscan_snapshot_new(4242, 99, &snap), MEMSCAN_OK);
	memset(add_filled(snap, 0x10000, 0x1000, MEMSCAN_KIND_ANON, "") + 0x800, 0, 0x400);
	assert_int_equal(memscan_snapshot_add_hole(snap, hole), MEMSCAN_OK);
	add_filled(snap, 0x7f0000000000, HEAP_BYTES, MEMSCAN_KIND_HEAP, "[heap]");
	add_filled(snap, 0x7ffff0000000, 0x1000, MEMSCAN_KIND_STACK, "[stack]");
	assert_int_equal(memscan_snapshot_save(snap, e.path), MEMSCAN_OK);
	memscan_snapshot_free(snap);
	assert_int_equal(stat(e.path, &st), 0);
	e.file_size = (uint64_t)st.st_size;
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	ms_tmpdir_remove(((struct env *)*state)->dir);
	return 0;
}

/* The bytes SNAP saves to, in a file of the test's directory named NAME. */
static uint8_t *saved_bytes(const struct env *e, const memscan_snapshot *snap, const char *name,
                            size_t *ret_len)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/%s", e->dir, name);
	assert_int_equal(memscan_snapshot_save(snap, path), MEMSCAN_OK);
	return ms_file_read(path, ret_len);
}

/* Loaded with both hooks never stopping it: the snapshot the plain load gives (the same bytes saved),
 * the cancel asked at least once per 4 MiB of the heap, the progress from 0 up to the file's size. */
static void test_load_hooked_equals_plain(void **state)
{
	const struct env *e = *state;
	struct seen s = { 0 };
	memscan_hooks h = { ask, &s, report, &s };
	memscan_snapshot *plain = NULL, *hooked = NULL;
	uint8_t *a, *b;
	size_t alen, blen;

	assert_int_equal(memscan_snapshot_load(e->path, &plain), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_load_hooked(e->path, &h, &hooked), MEMSCAN_OK);
	assert_non_null(hooked);
	assert_true(memscan_snapshot_bytes(hooked) == 2 * 0x1000 + HEAP_BYTES);
	a = saved_bytes(e, plain, "plain.snap", &alen);
	b = saved_bytes(e, hooked, "hooked2.snap", &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_true(s.asked >= HEAP_BYTES / ((uint64_t)4 << 20));
	assert_true(s.reports >= 2);
	assert_true(s.first == 0);
	assert_false(s.went_back);
	assert_true(s.last == e->file_size);
	free(a);
	free(b);
	memscan_snapshot_free(plain);
	memscan_snapshot_free(hooked);
}

/* Stopped at the cancel's first question, then at its fourth (in the heap): CANCELLED, nothing
 * returned (nothing leaked either: the sanitizer build checks), the progress short of the size. */
static void test_load_cancelled(void **state)
{
	const struct env *e = *state;
	static const unsigned stops[] = { 1, 4 };

	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		struct seen s = { .stop_at = stops[i] };
		memscan_hooks h = { ask, &s, report, &s };
		memscan_snapshot *snap = (memscan_snapshot *)&s; /* cleared by the call */

		assert_int_equal(memscan_snapshot_load_hooked(e->path, &h, &snap), MEMSCAN_ERR_CANCELLED);
		assert_null(snap);
		assert_int_equal(s.asked, stops[i]);
		assert_true(s.last < e->file_size);
		assert_null(memscan_snapshot_file_error(NULL));
	}
}

/* A file of one 4 MiB region with a 8-byte hole every 16 bytes: 262144 holes, 4 MiB of hole records
 * read before the region's bytes. */
static void holey_file(const struct env *e, char *path, size_t size)
{
	memscan_snapshot *snap = NULL;
	const uint64_t start = 0x20000000, len = (uint64_t)4 << 20;

	snprintf(path, size, "%s/holey.snap", e->dir);
	assert_int_equal(memscan_snapshot_new(4242, 99, &snap), MEMSCAN_OK);
	add_filled(snap, start, len, MEMSCAN_KIND_ANON, "");
	for (uint64_t a = start; a < start + len; a += 16) {
		memscan_range hole = { a + 8, a + 16 };

		assert_int_equal(memscan_snapshot_add_hole(snap, hole), MEMSCAN_OK);
	}
	assert_int_equal(memscan_snapshot_save(snap, path), MEMSCAN_OK);
	memscan_snapshot_free(snap);
}

/* A region's holes are read with the cancel asked (and the progress counted) every 65536 of them
 * (1 MiB of records), as its bytes every 4 MiB: stopped at the second question, while the holes are
 * read, the load returns CANCELLED with nothing returned and no file at fault. */
static void test_load_cancelled_in_holes(void **state)
{
	const struct env *e = *state;
	char path[4300];
	struct seen all = { 0 }, s = { .stop_at = 2 };
	memscan_hooks h_all = { ask, &all, report, &all }, h = { ask, &s, report, &s };
	memscan_snapshot *snap = NULL;
	struct stat st;

	holey_file(e, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(memscan_snapshot_load_hooked(path, &h_all, &snap), MEMSCAN_OK);
	memscan_snapshot_free(snap);
	snap = NULL;
	assert_true(all.asked >= 4); /* 3 in the holes, 1 in the bytes */
	assert_false(all.went_back);
	assert_true(all.last == (uint64_t)st.st_size);
	assert_int_equal(memscan_snapshot_load_hooked(path, &h, &snap), MEMSCAN_ERR_CANCELLED);
	assert_null(snap);
	assert_int_equal(s.asked, 2);
	assert_true(s.last < ((uint64_t)4 << 20)); /* no report of the bytes after */
	assert_null(memscan_snapshot_file_error(NULL));
}

/* Hooks may be partly NULL, or NULL altogether. */
static void test_load_hooks_optional(void **state)
{
	const struct env *e = *state;
	struct seen s = { 0 };
	memscan_hooks only_progress = { NULL, NULL, report, &s };
	memscan_snapshot *snap = NULL;

	assert_int_equal(memscan_snapshot_load_hooked(e->path, &only_progress, &snap), MEMSCAN_OK);
	assert_true(s.last == e->file_size);
	memscan_snapshot_free(snap);
	assert_int_equal(memscan_snapshot_load_hooked(e->path, NULL, &snap), MEMSCAN_OK);
	memscan_snapshot_free(snap);
	assert_int_equal(memscan_snapshot_load_hooked(NULL, NULL, &snap), MEMSCAN_ERR_INVALID_ARG);
	assert_null(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_hooked_equals_plain),
		cmocka_unit_test(test_load_cancelled),
		cmocka_unit_test(test_load_cancelled_in_holes),
		cmocka_unit_test(test_load_hooks_optional),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
