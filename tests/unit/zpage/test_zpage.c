/* SPDX-License-Identifier: MIT */
/* Compressed read pages and diff page runs: round trips, pages that do not shrink, and every kind of
 * frame a hostile agent could send instead of an honest one (each must be refused without writing
 * past the page). */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "testutil.h"
#include "wire.h"
#include "zpage.h"

#define PAGE (256u << 10)

/* Heap-like bytes: runs of zeros, small counters, repeated pointers. */
static void fill_compressible(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (i / 64) % 3 == 0 ? 0 : (uint8_t)(i % 17);
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
}

/* A fresh page-sized destination, exactly LEN bytes (so ASan sees any write past it). */
static int decode(zpage_dec *d, const uint8_t *src, size_t src_len, size_t len)
{
	uint8_t *dst = malloc(len ? len : 1);
	int r;

	assert_non_null(dst);
	r = zpage_decompress(d, src, src_len, dst, len);
	free(dst);
	return r;
}

static void test_zpage_round_trip(void **state)
{
	uint8_t *page = malloc(PAGE), *back = malloc(PAGE);
	zpage_enc *e = zpage_enc_new(PAGE);
	zpage_dec *d = zpage_dec_new();
	const uint8_t *frame = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(e);
	assert_non_null(d);
	fill_compressible(page, PAGE);
	for (int round = 0; round < 3; round++) { /* the context and buffer are reused */
		assert_int_equal(zpage_compress(e, page, PAGE, &frame, &len), 0);
		assert_true(len < PAGE / 10);
		memset(back, 0xAA, PAGE);
		assert_int_equal(zpage_decompress(d, frame, len, back, PAGE), 0);
		assert_memory_equal(back, page, PAGE);
	}
	/* a short page, then a one-byte page (no frame is smaller than one byte) */
	assert_int_equal(zpage_compress(e, page, 4096, &frame, &len), 0);
	assert_int_equal(zpage_decompress(d, frame, len, back, 4096), 0);
	assert_memory_equal(back, page, 4096);
	assert_int_equal(zpage_compress(e, page, 1, &frame, &len), -1);
	free(page);
	free(back);
	zpage_enc_free(e);
	zpage_dec_free(d);
}

static void test_zpage_incompressible_or_oversized_stays_raw(void **state)
{
	uint8_t *page = malloc(PAGE + 1);
	zpage_enc *e = zpage_enc_new(PAGE);
	const uint8_t *frame = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(page);
	fill_random(page, PAGE + 1, 42);
	assert_int_equal(zpage_compress(e, page, PAGE, &frame, &len), -1);
	fill_compressible(page, PAGE + 1);
	assert_int_equal(zpage_compress(e, page, PAGE + 1, &frame, &len), -1); /* over max_len */
	assert_int_equal(zpage_compress(e, page, 0, &frame, &len), -1);
	assert_int_equal(zpage_compress(NULL, page, 16, &frame, &len), -1);
	assert_null(frame);
	zpage_enc_free(e);
	zpage_enc_free(NULL);
	zpage_dec_free(NULL);
	free(page);
}

/* A frame of LEN compressible bytes made by zstd itself with content size flag CSIZE; malloc'd. */
static uint8_t *make_frame(size_t len, int csize, size_t *ret_len)
{
	uint8_t *src = malloc(len), *out = malloc(ZSTD_compressBound(len));
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	assert_non_null(src);
	assert_non_null(out);
	fill_compressible(src, len);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, csize)));
	*ret_len = ZSTD_compress2(cc, out, ZSTD_compressBound(len), src, len);
	assert_false(ZSTD_isError(*ret_len));
	ZSTD_freeCCtx(cc);
	free(src);
	return out;
}

static void test_zpage_hostile_frames_refused(void **state)
{
	zpage_dec *d = zpage_dec_new();
	size_t len, len2, big_len;
	uint8_t *frame = make_frame(PAGE, 1, &len), *two, *nosize = make_frame(PAGE, 0, &len2);
	uint8_t *bomb = make_frame(64u << 20, 1, &big_len);
	uint8_t skippable[16] = { 0x50, 0x2A, 0x4D, 0x18, 8, 0, 0, 0 };

	(void)state;
	assert_int_equal(decode(d, frame, len, PAGE), 0);
	/* announced length other than the page's, either way */
	assert_int_equal(decode(d, frame, len, PAGE - 1), -1);
	assert_int_equal(decode(d, frame, len, PAGE + 1), -1);
	/* 64 MiB announced, a page expected: refused before anything is decoded or allocated */
	assert_int_equal(decode(d, bomb, big_len, PAGE), -1);
	/* no content size in the frame */
	assert_int_equal(decode(d, nosize, len2, PAGE), -1);
	/* truncated at every length */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(decode(d, frame, cut, PAGE), -1);
	/* a trailing byte, a second frame */
	two = malloc(2 * len + 1);
	assert_non_null(two);
	memcpy(two, frame, len);
	two[len] = 0;
	assert_int_equal(decode(d, two, len + 1, PAGE), -1);
	memcpy(two + len, frame, len);
	assert_int_equal(decode(d, two, 2 * len, PAGE), -1);
	assert_int_equal(decode(d, two, 2 * len, 2 * PAGE), -1);
	/* a skippable frame alone; garbage; nothing */
	assert_int_equal(decode(d, skippable, sizeof(skippable), PAGE), -1);
	memset(two, 0x5A, len);
	assert_int_equal(decode(d, two, len, PAGE), -1);
	assert_int_equal(decode(d, NULL, 0, PAGE), -1);
	assert_int_equal(decode(d, frame, len, 0), -1);
	assert_int_equal(zpage_decompress(NULL, frame, len, two, PAGE), -1);
	/* every single flipped byte: refused, or decoded to exactly the page (there is no checksum:
	 * the channel's AEAD is what vouches for the agent's bytes) and never a byte past it */
	for (size_t i = 0; i < len; i++) {
		memcpy(two, frame, len);
		two[i] ^= 0x41;
		(void)decode(d, two, len, PAGE);
	}
	free(two);
	free(bomb);
	free(nosize);
	free(frame);
	zpage_dec_free(d);
}

/* Packed runs (wire_unpack_zruns): an honest list comes back as it went; a bound, a frame or bytes
 * that are wrong each get their own refusal, with nothing left to free. */
static void test_zruns(void **state)
{
	Memscan__V1__ChangeRun runs[3], *ptrs[3];
	Memscan__V1__ChangeRunList list = MEMSCAN__V1__CHANGE_RUN_LIST__INIT, *got = NULL;
	uint8_t bytes[64], *packed, *frame = malloc(ZSTD_compressBound(WIRE_MAX_PAGE_BYTES + 1)),
	                            *zeros = calloc(1, WIRE_MAX_PAGE_BYTES + 1);
	zpage_dec *d = zpage_dec_new();
	size_t packed_len, n;

	(void)state;
	assert_non_null(frame);
	assert_non_null(zeros);
	assert_non_null(d);
	fill_compressible(bytes, sizeof(bytes));
	for (size_t i = 0; i < 3; i++) {
		memscan__v1__change_run__init(&runs[i]);
		runs[i].address = 0x1000 * (i + 1);
		runs[i].old_bytes = (ProtobufCBinaryData){ 16, bytes + 16 * i };
		runs[i].new_bytes = (ProtobufCBinaryData){ 16, bytes + 16 * i + 8 };
		runs[i].region_index = (uint32_t)i;
		ptrs[i] = &runs[i];
	}
	list.runs = ptrs;
	list.n_runs = 3;
	packed = wire_pack(&list.base, &packed_len);
	assert_non_null(packed);
	n = ZSTD_compress(frame, ZSTD_compressBound(packed_len), packed, packed_len, 1);
	assert_int_equal(wire_unpack_zruns(d, frame, n, packed_len, WIRE_UNPACK_BUDGET_CLIENT, &got), 0);
	assert_int_equal(got->n_runs, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(got->runs[i]->address, runs[i].address);
		assert_int_equal(got->runs[i]->region_index, i);
		assert_int_equal(got->runs[i]->old_bytes.len, 16);
		assert_memory_equal(got->runs[i]->old_bytes.data, runs[i].old_bytes.data, 16);
		assert_memory_equal(got->runs[i]->new_bytes.data, runs[i].new_bytes.data, 16);
	}
	wire_free_runs(got);

	assert_int_equal(wire_unpack_zruns(d, frame, n, 0, WIRE_UNPACK_BUDGET_CLIENT, &got),
	                 WIRE_ZRUNS_BOUND);
	assert_int_equal(wire_unpack_zruns(d, frame, n, packed_len + 1, WIRE_UNPACK_BUDGET_CLIENT, &got),
	                 WIRE_ZRUNS_FRAME);
	assert_int_equal(wire_unpack_zruns(d, frame, n - 1, packed_len, WIRE_UNPACK_BUDGET_CLIENT, &got),
	                 WIRE_ZRUNS_FRAME);
	/* an allocator capped below what the list takes */
	assert_int_equal(wire_unpack_zruns(d, frame, n, packed_len, 64, &got), WIRE_ZRUNS_MALFORMED);
	/* a frame of bytes cut short of the list */
	n = ZSTD_compress(frame, ZSTD_compressBound(packed_len), packed, packed_len - 1, 1);
	assert_int_equal(wire_unpack_zruns(d, frame, n, packed_len - 1, WIRE_UNPACK_BUDGET_CLIENT, &got),
	                 WIRE_ZRUNS_MALFORMED);
	/* a page of zeros and one byte more: refused for its size, before anything is decoded */
	n = ZSTD_compress(frame, ZSTD_compressBound(WIRE_MAX_PAGE_BYTES + 1), zeros, WIRE_MAX_PAGE_BYTES + 1,
	                  1);
	assert_int_equal(
	    wire_unpack_zruns(d, frame, n, WIRE_MAX_PAGE_BYTES + 1, WIRE_UNPACK_BUDGET_CLIENT, &got),
	    WIRE_ZRUNS_BOUND);
	assert_null(got);
	/* the decoder's kept buffer, left holding the bytes of the failures above, serves the next page */
	n = ZSTD_compress(frame, ZSTD_compressBound(packed_len), packed, packed_len, 1);
	assert_int_equal(wire_unpack_zruns(d, frame, n, packed_len, WIRE_UNPACK_BUDGET_CLIENT, &got), 0);
	assert_int_equal(got->n_runs, 3);
	assert_int_equal(got->runs[2]->address, runs[2].address);
	assert_memory_equal(got->runs[2]->new_bytes.data, runs[2].new_bytes.data, 16);
	wire_free_runs(got);
	free(packed);
	free(frame);
	free(zeros);
	zpage_dec_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zpage_round_trip),
		cmocka_unit_test(test_zpage_incompressible_or_oversized_stays_raw),
		cmocka_unit_test(test_zpage_hostile_frames_refused),
		cmocka_unit_test(test_zruns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
