/* SPDX-License-Identifier: MIT */
/* Unit tests of /proc/PID/maps line parsing, classification and filters. */
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "testutil.h"

static int parse(const char *line, memscan_region *r, char *path, size_t size)
{
	return memscan_maps_parse_line(line, strlen(line), r, path, size);
}

static void test_maps_anonymous_line(void **state)
{
	char path[256];
	memscan_region r;

	(void)state;
	assert_int_equal(parse("7f1c2e000000-7f1c2e021000 rw-p 00000000 00:00 0 ", &r, path, sizeof(path)),
	                 MEMSCAN_OK);
	assert_true(r.start == 0x7f1c2e000000ull);
	assert_true(r.end == 0x7f1c2e021000ull);
	assert_int_equal(r.perms, MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE);
	assert_int_equal(r.kind, MEMSCAN_KIND_ANON);
	assert_string_equal(r.path, "");
	assert_int_equal(r.deleted, 0);
	/* no trailing space at all */
	assert_int_equal(parse("1000-2000 r--p 00000000 00:00 0", &r, path, sizeof(path)), MEMSCAN_OK);
	assert_int_equal(r.kind, MEMSCAN_KIND_ANON);
}

static void test_maps_file_with_spaces_and_deleted(void **state)
{
	char path[256];
	memscan_region r;

	(void)state;
	assert_int_equal(parse("55d0c0a00000-55d0c0a01000 r-xs 00001000 fd:01 1234567                    "
	                       "/tmp/my dir/lib  two.so (deleted)",
	                       &r, path, sizeof(path)),
	                 MEMSCAN_OK);
	assert_string_equal(r.path, "/tmp/my dir/lib  two.so");
	assert_int_equal(r.deleted, 1);
	assert_int_equal(r.kind, MEMSCAN_KIND_FILE);
	assert_int_equal(r.perms, MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC | MEMSCAN_PERM_SHARED);
	assert_int_equal(r.dev_major, 0xfd);
	assert_int_equal(r.dev_minor, 1);
	assert_true(r.inode == 1234567);
	assert_true(r.offset == 0x1000);
}

static void test_maps_offset_above_4gib(void **state)
{
	char path[256];
	memscan_region r;

	(void)state;
	assert_int_equal(
	    parse("7f0000000000-7f0000001000 r--p 1f00000000 08:02 99 /data/big.bin", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_true(r.offset == 0x1f00000000ull);
	assert_true(r.inode == 99);
}

/* Every inode number the kernel can print (an unsigned long) parses; one past 2^64 - 1 is refused.
 * The fuzz target's reference parser found 18446744073709551610..15 refused, and with them the
 * whole maps text. */
static void test_maps_largest_inode(void **state)
{
	char path[256];
	memscan_region r;

	(void)state;
	assert_int_equal(
	    parse("1000-2000 r--p 00000000 00:2f 18446744073709551615 /nfs/f", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_true(r.inode == UINT64_MAX);
	assert_int_equal(
	    parse("1000-2000 r--p 00000000 00:2f 18446744073709551610 /nfs/f", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_true(r.inode == UINT64_MAX - 5);
	assert_int_equal(
	    parse("1000-2000 r--p 00000000 00:2f 18446744073709551616 /nfs/f", &r, path, sizeof(path)),
	    MEMSCAN_ERR_BAD_FORMAT);
	assert_int_equal(
	    parse("1000-2000 r--p 00000000 00:2f 184467440737095516150 /f", &r, path, sizeof(path)),
	    MEMSCAN_ERR_BAD_FORMAT);
}

static void test_maps_special_regions(void **state)
{
	char path[256];
	memscan_region r;

	(void)state;
	assert_int_equal(
	    parse("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]", &r,
	          path, sizeof(path)),
	    MEMSCAN_OK);
	assert_true(r.start == 0xffffffffff600000ull);
	assert_int_equal(r.kind, MEMSCAN_KIND_SPECIAL);
	assert_int_equal(r.perms, MEMSCAN_PERM_EXEC);
	assert_int_equal(
	    parse("555555559000-55555557a000 rw-p 00000000 00:00 0 [heap]", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_int_equal(r.kind, MEMSCAN_KIND_HEAP);
	assert_int_equal(
	    parse("7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_int_equal(r.kind, MEMSCAN_KIND_STACK);
	assert_int_equal(
	    parse("7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [anon:jit]", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_int_equal(r.kind, MEMSCAN_KIND_ANON);
	assert_int_equal(
	    parse("7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]", &r, path, sizeof(path)),
	    MEMSCAN_OK);
	assert_int_equal(r.kind, MEMSCAN_KIND_SPECIAL);
}

static void test_maps_malformed_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"1000 rw-p 00000000 00:00 0",                            /* no '-' */
		"2000-1000 rw-p 00000000 00:00 0",                       /* end before start */
		"1000-1000 rw-p 00000000 00:00 0",                       /* empty */
		"1000-2000 rw-q 00000000 00:00 0",                       /* bad sharing flag */
		"1000-2000 rwz-p 00000000 00:00 0",                      /* perms too long */
		"1000-2000 rw-p 0000000g 00:00 0",                       /* bad offset */
		"1000-2000 rw-p 00000000 0000 0",                        /* bad device */
		"1000-2000 rw-p 00000000 00:00 x",                       /* bad inode */
		"1000-2000 rw-p 00000000 00:00 12x /a",                  /* inode with junk */
		"10000000000000000-2 rw-p 0 00:00 0",                    /* 17 hex digits */
		"1000-20",                                               /* ends inside a number */
		"1000-2000",                                             /* ends after a number */
		"1000--2000 rw-p 00000000 00:00 0",                      /* empty number */
		"1000-2000 rw-p 00000000 00:00 99999999999999999999 /a", /* inode overflow */
	};
	char path[256];
	memscan_region r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &r, path, sizeof(path));
		if (rc != MEMSCAN_ERR_BAD_FORMAT)
			fail_msg("line %zu \"%s\" gave %d", i, bad[i], rc);
	}
	/* a path longer than the buffer is a limit, not a silent truncation */
	assert_int_equal(parse("1000-2000 rw-p 00000000 00:00 0 /a/very/long/path", &r, path, 8),
	                 MEMSCAN_ERR_LIMIT);
}

static const char MAPS[] = "00400000-00401000 r-xp 00000000 08:01 100 /usr/bin/prog\n"
                           "00600000-00700000 rw-p 00000000 00:00 0 [heap]\n"
                           "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
                           "7f0000100000-7f0000200000 r--p 00000000 08:01 200 /usr/lib/libc.so.6\n"
                           "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\n"
                           "7ffd00000000-7ffd00001000 r--p 00000000 00:00 0 [vvar]\n"
                           "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";

static void test_regions_filters(void **state)
{
	memscan_region_list *list;
	memscan_filter f;

	(void)state;
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 7);
	memscan_region_list_free(list);

	memscan_filter_default(&f);
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 5); /* no [vvar], no [vsyscall] */
	memscan_region_list_free(list);

	memset(&f, 0, sizeof(f));
	f.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	f.kinds = MEMSCAN_KIND_HEAP | MEMSCAN_KIND_STACK;
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 2);
	assert_string_equal(memscan_region_list_get(list, 0)->path, "[heap]");
	assert_string_equal(memscan_region_list_get(list, 1)->path, "[stack]");
	memscan_region_list_free(list);

	memset(&f, 0, sizeof(f));
	f.path_substr = "libc";
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 1);
	memscan_region_list_free(list);

	/* a range clips the regions that straddle its edges */
	memset(&f, 0, sizeof(f));
	f.range_start = 0x7f00000ff000ull;
	f.range_end = 0x7f0000101000ull;
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 2);
	assert_true(memscan_region_list_get(list, 0)->start == 0x7f00000ff000ull);
	assert_true(memscan_region_list_get(list, 0)->end == 0x7f0000100000ull);
	assert_true(memscan_region_list_get(list, 1)->start == 0x7f0000100000ull);
	assert_true(memscan_region_list_get(list, 1)->end == 0x7f0000101000ull);
	assert_true(memscan_region_list_bytes(list) == 0x2000);
	memscan_region_list_free(list);

	memset(&f, 0, sizeof(f));
	f.max_size = 0x1000;
	assert_int_equal(memscan_regions_parse(MAPS, strlen(MAPS), &f, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 3);
	memscan_region_list_free(list);

	/* one bad line fails the whole parse */
	static const char bad_maps[] = "1000-2000 rw-p 0 00:00 0\nbogus\n";
	assert_int_equal(memscan_regions_parse(bad_maps, strlen(bad_maps), NULL, &list),
	                 MEMSCAN_ERR_BAD_FORMAT);
	assert_null(list);
}

static void test_perms_and_kinds_text(void **state)
{
	char buf[5];
	uint32_t v;

	(void)state;
	memscan_perms_format(MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC, buf);
	assert_string_equal(buf, "r-xp");
	assert_int_equal(memscan_perms_parse("rw", &v), MEMSCAN_OK);
	assert_int_equal(v, MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE);
	assert_int_equal(memscan_perms_parse("r-x", &v), MEMSCAN_OK);
	assert_int_equal(v, MEMSCAN_PERM_READ | MEMSCAN_PERM_EXEC);
	assert_int_equal(memscan_perms_parse("rq", &v), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_perms_parse("", &v), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_kind_parse("heap", &v), MEMSCAN_OK);
	assert_int_equal(v, MEMSCAN_KIND_HEAP);
	assert_string_equal(memscan_kind_name(MEMSCAN_KIND_FILE), "file");
	assert_int_equal(memscan_kind_parse("Heap", &v), MEMSCAN_ERR_INVALID_ARG);
	for (int e = 0; e < MEMSCAN_ERR_COUNT; e++)
		assert_string_not_equal(memscan_strerror(e), "unknown error");
	assert_string_equal(memscan_strerror(MEMSCAN_ERR_COUNT), "unknown error");
	assert_string_equal(memscan_strerror(-1), "unknown error");
}

/* A bounded listing of this process: the whole list under a generous bound, LIMIT and no list under
 * one shorter than its maps text. */
static void test_regions_read_max(void **state)
{
	memscan_process *proc = NULL;
	memscan_region_list *list = NULL;

	(void)state;
	assert_int_equal(memscan_process_open(getpid(), &proc), MEMSCAN_OK);
	assert_int_equal(memscan_regions_read_max(proc, NULL, 64u << 20, &list), MEMSCAN_OK);
	assert_true(memscan_region_list_count(list) > 0);
	memscan_region_list_free(list);
	list = NULL;
	assert_int_equal(memscan_regions_read_max(proc, NULL, 100, &list), MEMSCAN_ERR_LIMIT);
	assert_null(list);
	memscan_process_free(proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_anonymous_line),
		cmocka_unit_test(test_maps_file_with_spaces_and_deleted),
		cmocka_unit_test(test_maps_offset_above_4gib),
		cmocka_unit_test(test_maps_largest_inode),
		cmocka_unit_test(test_maps_special_regions),
		cmocka_unit_test(test_maps_malformed_lines),
		cmocka_unit_test(test_regions_filters),
		cmocka_unit_test(test_perms_and_kinds_text),
		cmocka_unit_test(test_regions_read_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
