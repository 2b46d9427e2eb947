/* SPDX-License-Identifier: MIT */
/* Fuzzes the pointer chains' parsers: the text form (parse, format, parse again: the same chain) and
 * chains files (as they are and with the checksum recomputed: what loads saves and reloads identical). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "fuzz_common.h"
#include "snapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int input_fd = -1;
static char input_path[64];
static char saved_path[256];

static void check_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), out[MEMSCAN_POINTER_MODULE_MAX + 32 * (MEMSCAN_POINTER_DEPTH_MAX + 1)];
	memscan_pointer_chain c, again;
	int rc;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	rc = memscan_pointer_chain_parse(text, &c);
	FUZZ_CHECK(rc == MEMSCAN_OK || rc == MEMSCAN_ERR_BAD_FORMAT || rc == MEMSCAN_ERR_LIMIT);
	if (rc == MEMSCAN_OK) {
		FUZZ_CHECK(c.depth >= 1 && c.depth <= MEMSCAN_POINTER_DEPTH_MAX && c.module[0]);
		FUZZ_CHECK(memscan_pointer_chain_format(&c, out, sizeof(out)) == MEMSCAN_OK);
		FUZZ_CHECK(memscan_pointer_chain_parse(out, &again) == MEMSCAN_OK);
		FUZZ_CHECK(memcmp(&c, &again, sizeof(c)) == 0);
	}
	free(text);
}

/* Loads DATA through the memfd; a list that loads is saved, reloaded and compared. */
static void check_file(const uint8_t *data, size_t size)
{
	memscan_pointer_chains *l = NULL, *back = NULL;
	int rc;

	FUZZ_CHECK(ftruncate(input_fd, 0) == 0);
	FUZZ_CHECK(pwrite(input_fd, data, size, 0) == (ssize_t)size);
	rc = memscan_pointer_chains_load(input_path, &l);
	if (rc != MEMSCAN_OK) {
		FUZZ_CHECK(l == NULL);
		FUZZ_CHECK(rc == MEMSCAN_ERR_BAD_FORMAT || rc == MEMSCAN_ERR_TRUNCATED ||
		           rc == MEMSCAN_ERR_UNSUPPORTED_VERSION);
		return;
	}
	FUZZ_CHECK(memscan_pointer_chains_save(l, saved_path) == MEMSCAN_OK);
	FUZZ_CHECK(memscan_pointer_chains_load(saved_path, &back) == MEMSCAN_OK);
	FUZZ_CHECK(memscan_pointer_chains_count(back) == memscan_pointer_chains_count(l));
	FUZZ_CHECK(memscan_pointer_chains_target(back) == memscan_pointer_chains_target(l));
	for (size_t i = 0; i < memscan_pointer_chains_count(l); i++)
		FUZZ_CHECK(!memcmp(memscan_pointer_chains_get(l, i), memscan_pointer_chains_get(back, i),
		                   sizeof(memscan_pointer_chain)));
	memscan_pointer_chains_free(back);
	memscan_pointer_chains_free(l);
}

/* Seeds: a chain's text, and a chains file of two chains. */
static void write_seeds(const char *dir)
{
	static const char *const texts[] = { "libgame.so+0x1f40 -> 0x18 -> 0x8", "[heap]+0x10->-0x8->+0x0" };
	memscan_pointer_chains *l = NULL;
	memscan_pointer_chain c;
	char path[512];

	FUZZ_CHECK(memscan_pointer_chains_new(0x7f0012345678, &l) == MEMSCAN_OK);
	for (size_t i = 0; i < 2; i++) {
		FUZZ_CHECK(memscan_pointer_chain_parse(texts[i], &c) == MEMSCAN_OK);
		FUZZ_CHECK(memscan_pointer_chains_add(l, &c) == MEMSCAN_OK);
		fuzz_write_seed(dir, i ? "text2" : "text1", texts[i], strlen(texts[i]));
	}
	fuzz_path(path, sizeof(path), dir, "chains.ptrs");
	FUZZ_CHECK(memscan_pointer_chains_save(l, path) == MEMSCAN_OK);
	memscan_pointer_chains_free(l);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[200];

	(void)argc;
	(void)argv;
	fuzz_seed_mode(write_seeds);
	input_fd = memfd_create("fuzz_pointers", MFD_CLOEXEC);
	FUZZ_CHECK(input_fd >= 0);
	FUZZ_CHECK((size_t)snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd) <
	           sizeof(input_path));
	fuzz_private_dir("fuzz_pointers", dir, sizeof(dir));
	fuzz_path(saved_path, sizeof(saved_path), dir, "saved.ptrs");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	check_text(data, size);
	check_file(data, size);
	if (size < 16)
		return 0;
	fixed = malloc(size); /* the same file with its checksum made right: the loader's other checks */
	FUZZ_CHECK(fixed != NULL);
	memcpy(fixed, data, size);
	put_u64(fixed + size - 8, sf_sum_buf(fixed, size - 8));
	check_file(fixed, size);
	free(fixed);
	return 0;
}
