/* SPDX-License-Identifier: MIT */
/* libmemscan-client against a hostile agent that sends bad compressed read and diff pages: a fake
 * agent (tests/support/fakeagent.h: the channel's agent side over 127.0.0.1 with real keys)
 * answers Reads and Diffs with crafted pages. Every bad page must fail the call with a clear PROTOCOL error,
 * write nothing past the caller's buffer, and leave the client's session in step for the next call. */
#include "fakeagent.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "zpage.h"

#define FAKE_PAGE (64u << 10) /* the fake agent's page: reads of several pages are pipelined */
#define BASE      0x7f0000000000ull
#define BOMB_LEN  (64u << 20)

/* What the fake agent does to the one Read it spoils (the BAD_AT-th since the test armed it). */
enum fake_mode {
	MODE_HONEST,
	MODE_FLIP,      /* one byte of the frame flipped (at FLIP_AT) */
	MODE_TRUNCATE,  /* the frame's last byte missing */
	MODE_LONGER,    /* raw_length beyond what the Read asked for */
	MODE_SHORTER,   /* raw_length one less than the frame decodes to */
	MODE_ZERO_LEN,  /* ZSTD with raw_length 0 */
	MODE_UNASKED,   /* compressed although the client did not ask */
	MODE_UNKNOWN,   /* an encoding nobody knows */
	MODE_BOMB,      /* a small frame of 64 MiB of zeros, raw_length the page's */
	MODE_TWO_FRAMES /* a frame of the first half, then one of the second */
};

/* What the fake agent does to the one diff page it spoils (the DBAD_AT-th since the test armed it). */
enum fake_dmode {
	DMODE_HONEST,
	DMODE_TRUNCATE,   /* the frame's last byte missing */
	DMODE_TWO_FRAMES, /* a frame of the packed runs' first half, then one of the second */
	DMODE_SHORTER,    /* raw_length one less than the frame decodes to */
	DMODE_LONGER,     /* raw_length one more */
	DMODE_OVER,       /* a frame of 4 MiB + 1 zeros, raw_length saying so: over the page bound */
	DMODE_CUT,        /* a frame of the packed runs cut short by a byte: no ChangeRunList */
	DMODE_MANY,       /* a frame of 4 MiB of empty runs: unpacking them would take ~200 MiB */
	DMODE_BAD_RUN,    /* packed runs, one of whose new bytes are a byte short */
	DMODE_BOTH,       /* packed runs, and the plain runs too */
	DMODE_PACKED_RAW, /* plain runs, and packed_runs set on a RAW page */
	DMODE_UNKNOWN,    /* an encoding nobody knows */
	DMODE_UNASKED     /* compressed although the client did not ask */
};

/* The fake agent's diffs: DIFF_PAGES pages of DIFF_RUNS runs of DIFF_RUN_LEN bytes, apart. */
#define DIFF_PAGES   3
#define DIFF_RUNS    64
#define DIFF_RUN_LEN 256
#define DIFF_STRIDE  512

/* The snapshot the fake agent keeps: one region holding every diff run. */
#define SNAP_ID  1
#define SNAP_LEN ((uint64_t)DIFF_PAGES * DIFF_RUNS * DIFF_STRIDE)

static ms_fake fa;

static struct fake {
	atomic_int mode, bad_at, reads, flip_at;
	atomic_int dmode, dbad_at, dpages;
	int dzstd, dnext; /* the diff being paged: asked compressed; its next page */
	zpage_enc *enc;
	uint8_t *raw, *bad; /* a page's bytes; a spoiled frame */
	uint8_t *run_bytes; /* the old and new bytes of a diff page's runs */
} fk;

/* The fake target's memory: compressible, and different at every address. */
static uint8_t mem_byte(uint64_t addr)
{
	return (uint8_t)((addr / 64) ^ (addr >> 16));
}

/* Frames of the two halves of the page, one after the other, into fk.bad; their length. */
static size_t two_frames(size_t len)
{
	size_t half = len / 2, n = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, half, 1);

	return n + ZSTD_compress(fk.bad + n, BOMB_LEN - n, fk.raw + half, len - half, 1);
}

/* Spoils PAGE (compressed honestly if it could be) as MODE says. */
static void spoil(Memscan__V1__ReadPage *page, int mode, size_t len)
{
	if (page->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD)
		memcpy(fk.bad, page->data.data, page->data.len);
	switch (mode) {
	case MODE_FLIP:
		fk.bad[(size_t)atomic_load(&fk.flip_at) % page->data.len] ^= 0x5A;
		page->data.data = fk.bad;
		break;
	case MODE_TRUNCATE:
		page->data.data = fk.bad;
		page->data.len--;
		break;
	case MODE_LONGER:
		page->raw_length = len + 1;
		break;
	case MODE_SHORTER:
		page->raw_length = len - 1;
		break;
	case MODE_ZERO_LEN:
		page->raw_length = 0;
		break;
	case MODE_UNKNOWN:
		page->encoding = (Memscan__V1__Encoding)7;
		break;
	case MODE_BOMB:
		page->data.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.bad + BOMB_LEN, BOMB_LEN, 1);
		page->data.data = fk.bad;
		break;
	case MODE_TWO_FRAMES:
		page->data.len = two_frames(len);
		page->data.data = fk.bad;
		break;
	}
}

static void fake_read(const Memscan__V1__Read *rd)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReadPage page = MEMSCAN__V1__READ_PAGE__INIT;
	size_t len = rd->length < FAKE_PAGE ? (size_t)rd->length : FAKE_PAGE, zlen;
	int n = atomic_fetch_add(&fk.reads, 1),
	    mode = n == atomic_load(&fk.bad_at) ? atomic_load(&fk.mode) : 0;
	const uint8_t *z;

	for (size_t i = 0; i < len; i++)
		fk.raw[i] = mem_byte(rd->address + i);
	page.address = rd->address;
	page.data.data = fk.raw;
	page.data.len = len;
	if ((rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD || mode == MODE_UNASKED) &&
	    zpage_compress(fk.enc, fk.raw, len, &z, &zlen) == 0) {
		page.encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		page.raw_length = len;
		page.data.data = (uint8_t *)z;
		page.data.len = zlen;
	}
	spoil(&page, mode, len);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_READ;
	resp.read = &page;
	ms_fake_send(&fa, &resp);
}

/* Run J of diff page K: its address; old bytes are the memory's, new ones flip a bit. */
static uint64_t run_addr(int k, int j)
{
	return BASE + ((uint64_t)k * DIFF_RUNS + (uint64_t)j) * DIFF_STRIDE;
}

/* Fills the runs of page K. */
static void diff_runs(int k, Memscan__V1__ChangeRun *runs, Memscan__V1__ChangeRun **ptrs)
{
	uint8_t *bytes = fk.run_bytes;

	for (int j = 0; j < DIFF_RUNS; j++) {
		uint8_t *old = bytes + 2 * (size_t)j * DIFF_RUN_LEN, *new = old + DIFF_RUN_LEN;

		memscan__v1__change_run__init(&runs[j]);
		runs[j].address = run_addr(k, j);
		for (size_t i = 0; i < DIFF_RUN_LEN; i++) {
			old[i] = mem_byte(runs[j].address + i);
			new[i] = old[i] ^ 1;
		}
		runs[j].old_bytes = (ProtobufCBinaryData){ DIFF_RUN_LEN, old };
		runs[j].new_bytes = (ProtobufCBinaryData){ DIFF_RUN_LEN, new };
		ptrs[j] = &runs[j];
	}
}

/* Packs LIST into fk.raw and compresses it (frame in fk.bad) into PAGE. */
static void pack_runs(Memscan__V1__DiffPage *page, const Memscan__V1__ChangeRunList *list, size_t cut)
{
	size_t len = memscan__v1__change_run_list__pack(list, fk.raw) - cut;

	page->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	page->raw_length = len;
	page->packed_runs.data = fk.bad;
	page->packed_runs.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, len, 1);
}

/* Spoils diff page PAGE (its runs packed into fk.raw and compressed into fk.bad if so) as MODE says. */
static void dspoil(Memscan__V1__DiffPage *page, Memscan__V1__ChangeRunList *list, int mode)
{
	size_t half = page->raw_length / 2, n;

	switch (mode) {
	case DMODE_TRUNCATE:
		page->packed_runs.len--;
		break;
	case DMODE_TWO_FRAMES:
		n = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, half, 1);
		page->packed_runs.len =
		    n + ZSTD_compress(fk.bad + n, BOMB_LEN - n, fk.raw + half, page->raw_length - half, 1);
		break;
	case DMODE_SHORTER:
		page->raw_length--;
		break;
	case DMODE_LONGER:
		page->raw_length++;
		break;
	case DMODE_OVER:
		page->raw_length = WIRE_MAX_PAGE_BYTES + 1;
		page->packed_runs.len =
		    ZSTD_compress(fk.bad, BOMB_LEN, fk.bad + BOMB_LEN, page->raw_length, 1);
		break;
	case DMODE_CUT:
		pack_runs(page, list, 1);
		break;
	case DMODE_MANY:
		for (size_t i = 0; i < WIRE_MAX_PAGE_BYTES; i += 2) {
			fk.raw[i] = 0x0a; /* field 1, length-delimited: an empty ChangeRun */
			fk.raw[i + 1] = 0;
		}
		page->raw_length = WIRE_MAX_PAGE_BYTES;
		page->packed_runs.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, WIRE_MAX_PAGE_BYTES, 1);
		break;
	case DMODE_BAD_RUN:
		list->runs[DIFF_RUNS / 2]->new_bytes.len--;
		pack_runs(page, list, 0);
		break;
	case DMODE_BOTH:
		page->runs = list->runs;
		page->n_runs = list->n_runs;
		break;
	case DMODE_PACKED_RAW:
		page->encoding = MEMSCAN__V1__ENCODING__ENCODING_RAW;
		page->raw_length = 0;
		page->runs = list->runs;
		page->n_runs = list->n_runs;
		break;
	case DMODE_UNKNOWN:
		page->encoding = (Memscan__V1__Encoding)7;
		break;
	}
}

/* Sends the next page of the diff being paged (compressed if asked, or if spoiled as unasked). */
static void fake_diff_page(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__DiffPage page = MEMSCAN__V1__DIFF_PAGE__INIT;
	Memscan__V1__ChangeRunList list = MEMSCAN__V1__CHANGE_RUN_LIST__INIT;
	Memscan__V1__ChangeRun runs[DIFF_RUNS], *ptrs[DIFF_RUNS];
	int k = fk.dnext++, n = atomic_fetch_add(&fk.dpages, 1),
	    mode = n == atomic_load(&fk.dbad_at) ? atomic_load(&fk.dmode) : 0;

	diff_runs(k, runs, ptrs);
	list.runs = ptrs;
	list.n_runs = DIFF_RUNS;
	if (fk.dzstd || mode == DMODE_UNASKED || (mode != DMODE_HONEST && mode != DMODE_PACKED_RAW))
		pack_runs(&page, &list, 0);
	else {
		page.runs = ptrs;
		page.n_runs = DIFF_RUNS;
	}
	dspoil(&page, &list, mode);
	if (mode == DMODE_PACKED_RAW)
		page.packed_runs = (ProtobufCBinaryData){ 1, fk.bad };
	page.changed_bytes = (uint64_t)(k + 1) * DIFF_RUNS * DIFF_RUN_LEN;
	page.run_count = (uint64_t)(k + 1) * DIFF_RUNS;
	page.next_cursor = fk.dnext < DIFF_PAGES ? 1000u + (unsigned)fk.dnext : 0;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &page;
	ms_fake_send(&fa, &resp);
}

/* The snapshot (one region, SNAP_LEN bytes) the diffs are taken against. */
static void fake_snapshot(void)
{
	ms_fake_send_snapshot(&fa, SNAP_ID, SNAP_LEN, BASE, SNAP_LEN);
}

static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	(void)f;
	if (req->op_case == MEMSCAN__V1__REQUEST__OP_READ)
		fake_read(req->read);
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_SNAPSHOT)
		fake_snapshot();
	else if (req->op_case == MEMSCAN__V1__REQUEST__OP_DIFF) {
		fk.dzstd = req->diff->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		fk.dnext = 0;
		fake_diff_page();
	} else if (req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT)
		fake_diff_page();
}

static int fake_start(void)
{
	fk.enc = zpage_enc_new(FAKE_PAGE);
	fk.raw = malloc(BOMB_LEN);
	fk.bad = malloc(2 * (size_t)BOMB_LEN); /* a frame, then (bomb) the zeros it is made from */
	fk.run_bytes = malloc(2 * DIFF_RUNS * DIFF_RUN_LEN);
	if (!fk.enc || !fk.raw || !fk.bad || !fk.run_bytes)
		return -1;
	memset(fk.bad + BOMB_LEN, 0, BOMB_LEN);
	return ms_fake_start(&fa, FAKE_PAGE, fake_request);
}

static void fake_stop(void)
{
	ms_fake_stop(&fa);
	zpage_enc_free(fk.enc);
	free(fk.raw);
	free(fk.bad);
	free(fk.run_bytes);
}

/* ---- the client side ---- */

static memscan_client *client_open(int compress)
{
	return ms_fake_client(&fa, compress);
}

/* A client that took the fake agent's snapshot, to diff it. */
static memscan_client *client_open_snap(int compress)
{
	memscan_client *c = client_open(compress);
	uint64_t id = 0, bytes = 0;

	if (memscan_client_snapshot(c, 1, NULL, &id, NULL, &bytes) != MEMSCAN_OK)
		fail_msg("snapshot: %s", memscan_client_last_error(c));
	assert_int_equal(id, SNAP_ID);
	assert_int_equal(bytes, SNAP_LEN);
	return c;
}

/* Reads LEN bytes at ADDR into a buffer of exactly LEN (ASan guards its end); checks the bytes when
 * the read succeeds. Returns its code. */
static int read_check(memscan_client *c, uint64_t addr, size_t len)
{
	uint8_t *buf = malloc(len);
	int r;

	assert_non_null(buf);
	r = memscan_client_read(c, 1, addr, buf, len, NULL);
	for (size_t i = 0; r == MEMSCAN_OK && i < len; i++)
		if (buf[i] != mem_byte(addr + i))
			fail_msg("byte %zu of the read at 0x%llx differs", i, (unsigned long long)addr);
	free(buf);
	return r;
}

/* Spoils the BAD_AT-th Read from now as MODE; the read of LEN fails with PROTOCOL and a message
 * holding WHAT; then an honest read works in the same session (no new handshake). */
static void expect_refused(memscan_client *c, int mode, int bad_at, size_t len, const char *what)
{
	int hs = atomic_load(&fa.handshakes);

	atomic_store(&fk.reads, 0);
	atomic_store(&fk.bad_at, bad_at);
	atomic_store(&fk.mode, mode);
	assert_int_equal(read_check(c, BASE, len), MEMSCAN_ERR_PROTOCOL);
	if (!strstr(memscan_client_last_error(c), what))
		fail_msg("mode %d: '%s' does not say '%s'", mode, memscan_client_last_error(c), what);
	atomic_store(&fk.mode, MODE_HONEST);
	assert_int_equal(read_check(c, BASE + 4096, 3 * FAKE_PAGE + 5), MEMSCAN_OK);
	assert_int_equal(atomic_load(&fa.handshakes), hs);
}

static void test_honest_compressed_pages(void **state)
{
	memscan_client *c = client_open(1);
	uint64_t bytes = 0, wire = 0;

	(void)state;
	assert_int_equal(read_check(c, BASE, 100), MEMSCAN_OK);
	assert_int_equal(read_check(c, BASE + 1, 5 * FAKE_PAGE + 3), MEMSCAN_OK); /* pipelined */
	memscan_client_transfer_stats(c, &bytes, &wire);
	assert_int_equal(bytes, 100 + 5 * FAKE_PAGE + 3);
	assert_true(wire < bytes / 4);
	memscan_client_free(c);
}

static void test_bad_frames_refused(void **state)
{
	memscan_client *c = client_open(1);
	const char *decode = "does not decode";

	(void)state;
	/* a single page, and the second page of a pipelined read (the third is already asked for) */
	for (int at = 0; at < 2; at++) {
		size_t len = at ? 4 * FAKE_PAGE : FAKE_PAGE;

		expect_refused(c, MODE_TRUNCATE, at, len, decode);
		expect_refused(c, MODE_SHORTER, at, len, decode);
		expect_refused(c, MODE_BOMB, at, len, decode);
		expect_refused(c, MODE_TWO_FRAMES, at, len, decode);
		expect_refused(c, MODE_LONGER, at, len, "out of place");
		expect_refused(c, MODE_ZERO_LEN, at, len, "out of place");
		expect_refused(c, MODE_UNKNOWN, at, len, "encoding (7)");
	}
	memscan_client_free(c);
}

/* A flipped byte may still decode to the right length (the frames carry no checksum: the channel's
 * AEAD vouches for the agent's bytes), so the call may succeed with other bytes; refused or not, it
 * never writes outside the buffer and the session stays in step. */
static void test_flipped_frames_contained(void **state)
{
	memscan_client *c = client_open(1);
	uint8_t *buf = malloc(2 * FAKE_PAGE);
	int hs = atomic_load(&fa.handshakes), refused = 0;

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < 64; i++) {
		int r;

		atomic_store(&fk.reads, 0);
		atomic_store(&fk.bad_at, i % 2);
		atomic_store(&fk.flip_at, i * 37);
		atomic_store(&fk.mode, MODE_FLIP);
		r = memscan_client_read(c, 1, BASE, buf, (i % 2 + 1) * (size_t)FAKE_PAGE, NULL);
		assert_true(r == MEMSCAN_OK || r == MEMSCAN_ERR_PROTOCOL);
		refused += r == MEMSCAN_ERR_PROTOCOL;
		atomic_store(&fk.mode, MODE_HONEST);
		assert_int_equal(read_check(c, BASE + 4096, 2 * FAKE_PAGE + 5), MEMSCAN_OK);
	}
	print_message("%d of 64 flipped frames refused\n", refused);
	assert_true(refused > 0);
	assert_int_equal(atomic_load(&fa.handshakes), hs);
	free(buf);
	memscan_client_free(c);
}

static void test_compressed_page_unasked_refused(void **state)
{
	memscan_client *c = client_open(0);

	(void)state;
	expect_refused(c, MODE_UNASKED, 0, FAKE_PAGE, "did not ask for");
	expect_refused(c, MODE_UNASKED, 1, 3 * FAKE_PAGE, "did not ask for");
	memscan_client_free(c);
}

/* ---- diffs ---- */

/* Diffs through C; checks the runs when the diff succeeds (all DIFF_PAGES pages, joined nowhere).
 * Returns its code. */
static int diff_check(memscan_client *c)
{
	memscan_diff *d = NULL;
	int r = memscan_client_diff(c, SNAP_ID, 0, &d);

	if (r != MEMSCAN_OK)
		return r;
	assert_int_equal(memscan_diff_run_count(d), DIFF_PAGES * DIFF_RUNS);
	for (int k = 0; k < DIFF_PAGES; k++)
		for (int j = 0; j < DIFF_RUNS; j++) {
			memscan_change_run run = memscan_diff_run(d, (size_t)(k * DIFF_RUNS + j));

			assert_int_equal(run.address, run_addr(k, j));
			assert_int_equal(run.length, DIFF_RUN_LEN);
			for (size_t i = 0; i < DIFF_RUN_LEN; i++)
				if (run.old_bytes[i] != mem_byte(run.address + i) ||
				    run.new_bytes[i] != (run.old_bytes[i] ^ 1))
					fail_msg("byte %zu of run %d.%d differs", i, k, j);
		}
	memscan_diff_free(d);
	return r;
}

/* Spoils the BAD_AT-th diff page from now as MODE: the diff fails with PROTOCOL and a message
 * holding WHAT; then an honest diff works in the same session (no new handshake). */
static void expect_diff_refused(memscan_client *c, int mode, int bad_at, const char *what)
{
	int hs = atomic_load(&fa.handshakes);

	atomic_store(&fk.dpages, 0);
	atomic_store(&fk.dbad_at, bad_at);
	atomic_store(&fk.dmode, mode);
	assert_int_equal(diff_check(c), MEMSCAN_ERR_PROTOCOL);
	if (!strstr(memscan_client_last_error(c), what))
		fail_msg("mode %d: '%s' does not say '%s'", mode, memscan_client_last_error(c), what);
	atomic_store(&fk.dmode, DMODE_HONEST);
	assert_int_equal(diff_check(c), MEMSCAN_OK);
	assert_int_equal(read_check(c, BASE + 4096, FAKE_PAGE + 5), MEMSCAN_OK);
	assert_int_equal(atomic_load(&fa.handshakes), hs);
}

/* The fake agent keeps one session: one client at a time. */
static void test_honest_diff_pages(void **state)
{
	memscan_client *plain = client_open_snap(0), *packed;
	uint64_t bytes = 0, wire = 0;

	(void)state;
	assert_int_equal(diff_check(plain), MEMSCAN_OK);
	memscan_client_transfer_stats(plain, &bytes, &wire);
	assert_int_equal(bytes, 2 * DIFF_PAGES * DIFF_RUNS * DIFF_RUN_LEN);
	assert_int_equal(wire, bytes);
	memscan_client_free(plain);
	packed = client_open_snap(1);
	assert_int_equal(diff_check(packed), MEMSCAN_OK);
	memscan_client_transfer_stats(packed, &bytes, &wire);
	assert_int_equal(bytes, 2 * DIFF_PAGES * DIFF_RUNS * DIFF_RUN_LEN);
	assert_true(wire < bytes / 4);
	memscan_client_free(packed);
}

static void test_bad_diff_pages_refused(void **state)
{
	memscan_client *c = client_open_snap(1);
	const char *decode = "do not decode", *unpack = "do not unpack";

	(void)state;
	/* the first page, and one after a good page (its runs already taken) */
	for (int at = 0; at < 2; at++) {
		expect_diff_refused(c, DMODE_TRUNCATE, at, decode);
		expect_diff_refused(c, DMODE_TWO_FRAMES, at, decode);
		expect_diff_refused(c, DMODE_SHORTER, at, decode);
		expect_diff_refused(c, DMODE_LONGER, at, decode);
		expect_diff_refused(c, DMODE_OVER, at, "out of bounds");
		expect_diff_refused(c, DMODE_CUT, at, unpack);
		expect_diff_refused(c, DMODE_MANY, at, unpack);
		expect_diff_refused(c, DMODE_BAD_RUN, at, "invalid change run");
		expect_diff_refused(c, DMODE_BOTH, at, "also has plain change runs");
		expect_diff_refused(c, DMODE_PACKED_RAW, at, "packed change runs in a plain");
		expect_diff_refused(c, DMODE_UNKNOWN, at, "encoding (7)");
	}
	memscan_client_free(c);
}

static void test_compressed_diff_unasked_refused(void **state)
{
	memscan_client *c = client_open_snap(0);

	(void)state;
	expect_diff_refused(c, DMODE_UNASKED, 0, "did not ask for");
	expect_diff_refused(c, DMODE_UNASKED, 2, "did not ask for");
	expect_diff_refused(c, DMODE_PACKED_RAW, 1, "packed change runs in a plain");
	memscan_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_compressed_pages),
		cmocka_unit_test(test_bad_frames_refused),
		cmocka_unit_test(test_flipped_frames_contained),
		cmocka_unit_test(test_compressed_page_unasked_refused),
		cmocka_unit_test(test_honest_diff_pages),
		cmocka_unit_test(test_bad_diff_pages_refused),
		cmocka_unit_test(test_compressed_diff_unasked_refused),
	};
	int fails;

	alarm(110);
	if (fake_start() != 0) {
		print_error("cannot start the fake agent\n");
		return 1;
	}
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	fake_stop();
	return fails != 0;
}
