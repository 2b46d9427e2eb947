/* SPDX-License-Identifier: MIT */
/* Fuzzes the client's decoding of compressed read pages: whatever frame an agent sends, the page is
 * refused or filled exactly, never written past; what decodes re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "fuzz_common.h"
#include "zpage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Largest page the target decodes into (agents send at most 4 MiB; smaller keeps runs fast). */
#define PAGE_MAX (1u << 20)
/* Input: a flag byte, a 2-byte page length, then the frame. Flag bit 0: take the page length the
 * frame announces instead (when it is at most PAGE_MAX), which reaches the decoder proper. */
#define HEADER_LEN 3

static zpage_dec *dec;
static zpage_enc *enc;

/* Seeds: frames of a few honest pages, announced lengths used. */
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
	free(page);
	free(seed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv(FUZZ_SEED_ENV);

	(void)argc;
	(void)argv;
	dec = zpage_dec_new();
	enc = zpage_enc_new(PAGE_MAX);
	FUZZ_CHECK(dec && enc);
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
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
