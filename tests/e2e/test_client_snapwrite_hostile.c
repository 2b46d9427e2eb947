/* SPDX-License-Identifier: MIT */
/* memscan_client_snapshot_write and memscan_client_read against a fake agent (real channel and keys on
 * 127.0.0.1) that breaks the Read protocol: a file must never be committed with bytes the agent did not
 * send, a read must not say "unreadable" about bytes it received, and holes cost the client at most
 * one range a page; regions listed without their process's start time (which the reads that follow
 * name it by) are refused. */
#include "fakeagent.h"
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_PAGE (64u << 10)
#define BASE      0x7f0000000000ull
#define REG_LEN   0x1000u /* two regions end to end: the client reads them in one group */

/* What the fake does to a Read. */
enum mode {
	M_HONEST,           /* one page with every byte */
	M_UNREADABLE_LATER, /* a first page with the first region's bytes, then UNREADABLE for the rest */
	M_BYTE_HOLES,       /* one page with every byte, and byte-sized holes every other byte */
	M_NO_START_TIME,    /* regions listed with a start time of 0 */
};

static ms_fake fa;
static enum mode mode;
static int reads; /* Read requests the fake received */
static uint8_t page_buf[2 * REG_LEN];

static void send_regions(ms_fake *f)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	Memscan__V1__Region reg[2], *regs[2] = { &reg[0], &reg[1] };

	for (int i = 0; i < 2; i++) {
		memscan__v1__region__init(&reg[i]);
		reg[i].start = BASE + (uint64_t)i * REG_LEN;
		reg[i].end = reg[i].start + REG_LEN;
		reg[i].perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
		reg[i].kind = MEMSCAN_KIND_ANON;
		reg[i].path = (char *)"";
	}
	page.n_regions = 2;
	page.regions = regs;
	page.start_time = mode == M_NO_START_TIME ? 0 : 12345;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_REGIONS;
	resp.regions = &page;
	ms_fake_send(f, &resp);
}

/* Byte-sized holes (M_BYTE_HOLES): more than a read of the two regions can have, one a page. */
#define BYTE_HOLES 16

/* A raw page at ADDR of LEN bytes, followed by more (NEXT_CURSOR) or not. */
static void send_page(ms_fake *f, uint64_t addr, size_t len, uint64_t next_cursor)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReadPage page = MEMSCAN__V1__READ_PAGE__INIT;
	Memscan__V1__Range h[BYTE_HOLES], *hs[BYTE_HOLES];

	for (size_t i = 0; mode == M_BYTE_HOLES && len >= 2 * BYTE_HOLES && i < BYTE_HOLES; i++) {
		memscan__v1__range__init(&h[i]);
		h[i].start = addr + 2 * i;
		h[i].end = h[i].start + 1;
		hs[i] = &h[i];
		page.n_holes = i + 1;
	}
	page.holes = hs;

	memset(page_buf, 0xA5, sizeof(page_buf));
	page.address = addr;
	page.data.data = page_buf;
	page.data.len = len;
	page.next_cursor = next_cursor;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_READ;
	resp.read = &page;
	ms_fake_send(f, &resp);
}

static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	const Memscan__V1__Read *rd = req->read;

	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_LIST_REGIONS:
		send_regions(f);
		break;
	case MEMSCAN__V1__REQUEST__OP_READ:
		reads++;
		if (!rd || rd->length > sizeof(page_buf) || rd->length < 2 || mode != M_UNREADABLE_LATER)
			send_page(f, rd ? rd->address : 0,
			          rd && rd->length <= sizeof(page_buf) ? rd->length : 0, 0);
		else
			send_page(f, rd->address, (size_t)rd->length / 2, 1);
		break;
	case MEMSCAN__V1__REQUEST__OP_NEXT:
		ms_fake_send_error(f, MEMSCAN_ERR_UNREADABLE, "nothing readable");
		break;
	default:
		ms_fake_send_error(f, MEMSCAN_ERR_INVALID_ARG, "not in this fake");
		break;
	}
}

/* Entries of DIR (. and .. left out). */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* Starts the fake in mode M and a client of it (*RET_CLIENT), and writes the snapshot into DIR/s.snap;
 * memscan_client_snapshot_write's result. */
static int write_from_fake(enum mode m, const char *dir, memscan_client **ret_client,
                           memscan_snapshot_file_info *info)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/s.snap", dir);
	mode = m;
	reads = 0;
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	*ret_client = ms_fake_client(&fa, 0);
	return memscan_client_snapshot_write(*ret_client, 42, NULL, path, info);
}

static void finish(memscan_client *c, char *dir)
{
	memscan_client_free(c);
	ms_fake_stop(&fa);
	if (dir)
		ms_tmpdir_remove(dir);
}

/* The honest fake: both regions are written whole (the test's baseline). */
static void test_honest_group_written(void **state)
{
	char dir[4096];
	memscan_snapshot_file_info info;
	memscan_client *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", ms_tmpdir());
	assert_int_equal(write_from_fake(M_HONEST, dir, &c, &info), MEMSCAN_OK);
	assert_int_equal(info.regions, 2);
	assert_int_equal(info.bytes, 2 * REG_LEN);
	assert_int_equal(info.hole_bytes, 0);
	assert_int_equal(dir_entries(dir), 1);
	finish(c, dir);
}

/* A group's Read answered in part, then "unreadable": the agent never does that (it says so only of a
 * whole one-page read). The second region's bytes never came, so no file may be committed. */
static void test_unreadable_after_bytes_refused(void **state)
{
	char dir[4096];
	memscan_snapshot_file_info info;
	memscan_client *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", ms_tmpdir());
	assert_int_equal(write_from_fake(M_UNREADABLE_LATER, dir, &c, &info), MEMSCAN_ERR_PROTOCOL);
	assert_non_null(strstr(memscan_client_last_error(c), "unreadable"));
	assert_int_equal(dir_entries(dir), 0); /* neither the file nor its temporary sibling */
	finish(c, dir);
}

/* Byte-sized holes every other byte: each costs the client a range (8 times the read's size in all,
 * for a large region), so more than one a page is refused and no file is committed. */
static void test_byte_holes_refused(void **state)
{
	char dir[4096];
	memscan_snapshot_file_info info;
	memscan_client *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", ms_tmpdir());
	assert_int_equal(write_from_fake(M_BYTE_HOLES, dir, &c, &info), MEMSCAN_ERR_PROTOCOL);
	assert_non_null(strstr(memscan_client_last_error(c), "holes in a read of 8192 bytes"));
	assert_int_equal(dir_entries(dir), 0);
	finish(c, dir);
}

/* The same answer to memscan_client_read: not UNREADABLE (which would claim that none of the bytes
 * could be read, and leave the caller's buffer half filled without a hole to say so). */
static void test_read_unreadable_after_bytes_refused(void **state)
{
	uint8_t buf[2 * REG_LEN];
	memscan_client *c;

	(void)state;
	mode = M_UNREADABLE_LATER;
	assert_int_equal(ms_fake_start(&fa, FAKE_PAGE, fake_request), 0);
	c = ms_fake_client(&fa, 0);
	assert_int_equal(memscan_client_read(c, 42, BASE, buf, sizeof(buf), NULL), MEMSCAN_ERR_PROTOCOL);
	/* the session is still in step */
	mode = M_HONEST;
	assert_int_equal(memscan_client_read(c, 42, BASE, buf, sizeof(buf), NULL), MEMSCAN_OK);
	assert_int_equal(buf[sizeof(buf) - 1], 0xA5);
	finish(c, NULL);
}

/* Regions listed with a start time of 0: the reads would name "whatever has PID 42 now", so a PID
 * reused meanwhile would be read; refused as PROTOCOL before any Read, no file written. PID 1 (init,
 * whose start time is 0 when it was forked within the first clock tick after boot, and whose PID is
 * never reused) is listed. */
static void test_no_start_time_refused(void **state)
{
	char dir[4096];
	memscan_snapshot_file_info info;
	memscan_region_list *list = NULL;
	memscan_client *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", ms_tmpdir());
	assert_int_equal(write_from_fake(M_NO_START_TIME, dir, &c, &info), MEMSCAN_ERR_PROTOCOL);
	assert_non_null(strstr(memscan_client_last_error(c), "without its start time"));
	assert_int_equal(reads, 0);
	assert_int_equal(dir_entries(dir), 0);
	assert_int_equal(memscan_client_list_regions(c, 42, NULL, &list), MEMSCAN_ERR_PROTOCOL);
	assert_null(list);
	assert_int_equal(memscan_client_list_regions(c, 1, NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 2);
	memscan_region_list_free(list);
	finish(c, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_group_written),
		cmocka_unit_test(test_unreadable_after_bytes_refused),
		cmocka_unit_test(test_byte_holes_refused),
		cmocka_unit_test(test_read_unreadable_after_bytes_refused),
		cmocka_unit_test(test_no_start_time_refused),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
