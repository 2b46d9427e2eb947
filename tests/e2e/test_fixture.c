/* SPDX-License-Identifier: MIT */
/* Sanity test of the fixture target and the test helpers: layout, stdin commands, CLI runner. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint8_t marker[MS_FIXTURE_MARKER_LEN] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
	                                               0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };

/* Reads LEN bytes at ADDR of F through /proc/PID/mem; returns the byte count read or -1. */
static ssize_t peek(const ms_fixture *f, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)f->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return got;
}

static uint8_t peek_byte(const ms_fixture *f, uint64_t addr)
{
	uint8_t b = 0;

	assert_int_equal(peek(f, addr, &b, 1), 1);
	return b;
}

static void test_layout(void **state)
{
	ms_fixture f;
	uint8_t buf[MS_FIXTURE_MARKER_LEN];
	uint8_t st[4];
	int i;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_true(f.pid > 0);
	assert_int_equal(f.arena_len, 64 * (uint64_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(f.marker[0] - f.arena, 0x100);
	assert_int_equal(f.marker[1] - f.arena, 0x2100);
	assert_int_equal(f.marker[2] - f.arena, 0x4101);
	assert_int_equal(f.counter - f.arena, 0x8000);
	assert_int_equal(f.boundary - f.straddle, 2);
	for (i = 0; i < 3; i++) {
		assert_int_equal(peek(&f, f.marker[i], buf, sizeof(buf)), sizeof(buf));
		assert_memory_equal(buf, marker, sizeof(buf));
	}
	assert_int_equal(peek_byte(&f, f.arena + 5), MS_FIXTURE_ARENA_BYTE(5u));
	assert_int_equal(peek_byte(&f, f.arena + 0x3000), MS_FIXTURE_ARENA_BYTE(0x3000u));
	assert_int_equal(peek(&f, f.straddle, st, 4), 4);
	assert_int_equal(st[0], 0xCA);
	assert_int_equal(st[3], 0xBE);
	assert_int_equal(peek_byte(&f, f.holey), 0x5C);
	assert_int_equal(f.holey_len, 4 * (uint64_t)sysconf(_SC_PAGESIZE));
	ms_fixture_stop(&f);
	ms_fixture_stop(&f);
}

static void test_commands(void **state)
{
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_fixture_cmd(&f, "ping"), 0);
	assert_int_equal(ms_fixture_cmd(&f, "set %s %x", ms_hex(f.marker[0]), 0xAB), 0);
	assert_int_equal(peek_byte(&f, f.marker[0]), 0xAB);
	assert_int_equal(ms_fixture_cmd(&f, "bump %s", ms_hex(f.marker[0])), 0);
	assert_int_equal(peek_byte(&f, f.marker[0]), 0xAC);
	assert_int_equal(ms_fixture_cmd(&f, "fill %s 10 ee", ms_hex(f.arena)), 0);
	assert_int_equal(peek_byte(&f, f.arena + 0xf), 0xEE);
	assert_int_equal(peek_byte(&f, f.arena + 0x10), MS_FIXTURE_ARENA_BYTE(0x10u));
	assert_int_equal(ms_fixture_cmd(&f, "set %s 1", ms_hex(f.straddle)), 0);
	assert_int_equal(peek_byte(&f, f.straddle), 0x01);
	/* outside the writable areas, and unknown commands, are refused */
	assert_int_equal(ms_fixture_cmd(&f, "set %s 1", ms_hex(f.boundary)), -1);
	assert_int_equal(ms_fixture_cmd(&f, "frobnicate"), -1);
	assert_int_equal(ms_fixture_cmd(&f, "unmap-arena"), 0);
	assert_int_equal(peek(&f, f.arena, (uint8_t[1]){ 0 }, 1), -1);
	assert_int_equal(ms_fixture_cmd(&f, "exit"), 0);
	ms_fixture_stop(&f);
}

static void test_counter_ticks(void **state)
{
	const char *args[] = { "--tick-ms", "10", "--pages", "9", NULL };
	ms_fixture f;
	uint64_t a = 0, b = 0;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_int_equal(f.arena_len, 9 * (uint64_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(peek(&f, f.counter, &a, 8), 8);
	usleep(200 * 1000);
	assert_int_equal(peek(&f, f.counter, &b, 8), 8);
	assert_true(b > a);
	ms_fixture_stop(&f);
}

/* --pointers: past the fixture's own bytes, every object's first word points at an object of the
 * fill, and the fixture's bytes before it are as without the option. */
static void test_pointer_fill(void **state)
{
	const char *args[] = { "--pages", "32", "--pointers", NULL };
	uint64_t first, end, word;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	first = f.arena + MS_FIXTURE_POINTERS_OFFSET;
	end = f.arena + f.arena_len;
	for (uint64_t o = first; o < end; o += 97 * MS_FIXTURE_POINTERS_OBJECT) {
		assert_int_equal(peek(&f, o, &word, 8), 8);
		assert_true(word >= first && word < end);
		assert_int_equal((word - first) % MS_FIXTURE_POINTERS_OBJECT, 0);
	}
	assert_int_equal(peek_byte(&f, f.arena + 0x9000), MS_FIXTURE_ARENA_BYTE(0x9000));
	ms_fixture_stop(&f);
}

static void test_bad_args(void **state)
{
	const char *args[] = { "--pages", "8", NULL };
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), -1);
	ms_fixture_stop(&f);
}

static void test_helpers(void **state)
{
	const char *dir;
	char path[4096];
	FILE *fp;

	(void)state;
	assert_string_equal(ms_hex(0x10), "0x10");
	assert_int_equal(ms_count_lines(""), 0);
	assert_int_equal(ms_count_lines("a\nb"), 2);
	assert_int_equal(ms_count_lines("a\nb\n"), 2);
	dir = ms_tmpdir();
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/f", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	ms_tmpdir_remove(dir);
	assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),        cmocka_unit_test(test_commands),
		cmocka_unit_test(test_counter_ticks), cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_helpers),       cmocka_unit_test(test_pointer_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
