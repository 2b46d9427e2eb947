/* SPDX-License-Identifier: MIT */
/* Fuzzes the client's decoding of compressed read pages: whatever frame an agent sends, the page is
 * refused or filled exactly, never written past; what decodes re-encodes to the same bytes. And of a
 * diff page's packed runs (wire_unpack_zruns): refused, or a list whose runs all read, and which
 * packs and compresses to runs that decode again to the same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "fuzz_common.h"
#include "wire.h"
#include "zpage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Largest page the target decodes into (agents send at most 4 MiB; smaller keeps runs fast). */
#define PAGE_MAX (1u << 20)
/* Input: a flag byte, a 2-byte page length, then the frame. Flag bit 0: take the page length the
 * frame announces instead (when it is at most PAGE_MAX), which reaches the decoder proper. Bit 1: the
 * frame is a diff page's packed runs, the page length its raw_length. */
#define HEADER_LEN 3

static zpage_dec *dec;
static zpage_enc *enc;

/* A seed of packed runs: N runs of a few bytes of BYTES each, packed and compressed into SEED. */
static void write_runs_seed(const char *dir, const uint8_t *bytes, size_t n, uint8_t *seed)
{
	Memscan__V1__ChangeRun runs[64], *ptrs[64];
	Memscan__V1__ChangeRunList list = MEMSCAN__V1__CHANGE_RUN_LIST__INIT;
	uint8_t *packed;
	const uint8_t *frame;
	size_t packed_len, len;
	char name[32];

	for (size_t i = 0; i < n; i++) {
		memscan__v1__change_run__init(&runs[i]);
		runs[i].address = 0x7f0000001000ull + 64 * i;
		runs[i].old_bytes = (ProtobufCBinaryData){ 8 + i, (uint8_t *)bytes + 16 * i };
		runs[i].new_bytes = (ProtobufCBinaryData){ 8 + i, (uint8_t *)bytes + 16 * i + 4 };
		runs[i].region_index = (uint32_t)(i / 8);
		ptrs[i] = &runs[i];
	}
	list.runs = ptrs;
	list.n_runs = n;
	packed = wire_pack(&list.base, &packed_len);
	FUZZ_CHECK(packed);
	if (zpage_compress(enc, packed, packed_len, &frame, &len) == 0) {
		seed[0] = 3;
		seed[1] = (uint8_t)(packed_len - 1);
		seed[2] = (uint8_t)((packed_len - 1) >> 8);
		memcpy(seed + HEADER_LEN, frame, len);
		snprintf(name, sizeof(name), "runs-%zu", n);
		fuzz_write_seed(dir, name, seed, HEADER_LEN + len);
	}
	free(packed);
}

/* Seeds: frames of a few honest pages, announced lengths used; packed runs. */
static void write_seeds(const char *dir)
{
	static const size_t lens[] = { 1, 100, 4096, 65536, PAGE_MAX };
	uint8_t *page = malloc(PAGE_MAX), *seed = malloc(HEADER_LEN + PAGE_MAX);
	const uint8_t *frame;
	size_t len;
	char name[32];

	FUZZ_CHECK(page && seed);
	for (size_t i = 0; i < PAGE_MAX; i++)
		page[i] = (i / 48) % 4 == 0 ? 0 : (uint8_t)(i % 13);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		if (zpage_compress(enc, page, lens[k], &frame, &len) != 0)
			continue;
		seed[0] = 1;
		seed[1] = (uint8_t)lens[k];
		seed[2] = (uint8_t)(lens[k] >> 8);
		memcpy(seed + HEADER_LEN, frame, len);
		snprintf(name, sizeof(name), "page-%zu", lens[k]);
		fuzz_write_seed(dir, name, seed, HEADER_LEN + len);
	}
	for (size_t n = 1; n <= 64; n *= 4)
		write_runs_seed(dir, page, n, seed);
	free(page);
	free(seed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dec = zpage_dec_new();
	enc = zpage_enc_new(PAGE_MAX);
	FUZZ_CHECK(dec && enc);
	fuzz_seed_mode(write_seeds);
	return 0;
}

/* Whether a run or the list kept fields it does not know (protobuf-c packs them again as they came,
 * and takes an overlong tag 0 it would refuse in its short form: such a list may not survive a round
 * trip, harmlessly). */
static int has_unknown(const Memscan__V1__ChangeRunList *list)
{
	if (list->base.n_unknown_fields)
		return 1;
	for (size_t i = 0; i < list->n_runs; i++)
		if (list->runs[i]->base.n_unknown_fields)
			return 1;
	return 0;
}

static int bytes_equal(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	return a.len == b.len && (!a.len || memcmp(a.data, b.data, a.len) == 0);
}

/* Packed runs of RAW_LEN bytes: refused, or a list whose bytes all read and that survives a round
 * trip (packed, compressed, decoded again: the same runs). */
static void fuzz_runs(const uint8_t *src, size_t src_len, size_t raw_len)
{
	Memscan__V1__ChangeRunList *list = NULL, *again = NULL;
	const uint8_t *frame;
	size_t packed_len, len;
	unsigned sum = 0;
	uint8_t *packed;

	if (wire_unpack_zruns(dec, src, src_len, raw_len, WIRE_UNPACK_BUDGET_CLIENT, &list) != 0) {
		FUZZ_CHECK(!list);
		return;
	}
	FUZZ_CHECK(list);
	for (size_t i = 0; i < list->n_runs; i++) {
		const Memscan__V1__ChangeRun *r = list->runs[i];

		for (size_t k = 0; k < r->old_bytes.len; k++)
			sum += r->old_bytes.data[k];
		for (size_t k = 0; k < r->new_bytes.len; k++)
			sum += r->new_bytes.data[k];
	}
	(void)sum;
	packed = wire_pack(&list->base, &packed_len);
	FUZZ_CHECK(packed);
	if (packed_len && zpage_compress(enc, packed, packed_len, &frame, &len) == 0) {
		if (wire_unpack_zruns(dec, frame, len, packed_len, WIRE_UNPACK_BUDGET_CLIENT, &again) != 0)
			FUZZ_CHECK(has_unknown(list));
		else
			FUZZ_CHECK(again->n_runs == list->n_runs);
		for (size_t i = 0; again && i < list->n_runs; i++) {
			const Memscan__V1__ChangeRun *a = list->runs[i], *b = again->runs[i];

			FUZZ_CHECK(a->address == b->address && a->region_index == b->region_index &&
			           bytes_equal(a->old_bytes, b->old_bytes) &&
			           bytes_equal(a->new_bytes, b->new_bytes));
		}
		wire_free_runs(again);
	}
	free(packed);
	wire_free_runs(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *src = data + HEADER_LEN, *frame;
	size_t src_len, page_len, len;
	unsigned long long announced;
	uint8_t *page, *again;

	if (size < HEADER_LEN)
		return 0;
	src_len = size - HEADER_LEN;
	page_len = (size_t)data[1] + ((size_t)data[2] << 8) + 1;
	announced = ZSTD_getFrameContentSize(src, src_len);
	if ((data[0] & 1) && announced > 0 && announced <= PAGE_MAX)
		page_len = (size_t)announced;
	if (data[0] & 2) {
		fuzz_runs(src, src_len, page_len);
		return 0;
	}
	page = malloc(page_len); /* exactly the page: ASan reports any byte written past it */
	FUZZ_CHECK(page);
	if (zpage_decompress(dec, src, src_len, page, page_len) == 0) {
		FUZZ_CHECK(announced == page_len);
		if (zpage_compress(enc, page, page_len, &frame, &len) == 0) {
			again = malloc(page_len);
			FUZZ_CHECK(again);
			FUZZ_CHECK(zpage_decompress(dec, frame, len, again, page_len) == 0);
			FUZZ_CHECK(memcmp(again, page, page_len) == 0);
			free(again);
		}
	}
	free(page);
	return 0;
}
