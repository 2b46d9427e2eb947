/* SPDX-License-Identifier: MIT */
/* Fuzzes remote set reference files (memscan_client_vset_ref_load): a file is accepted only as
 * memscan_client_vset_ref_save would write what it holds. The BLAKE2b checksum is recomputed on a
 * copy of each 416-byte input, so that the fields behind it are fuzzed too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/client.h>
#include <sodium.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define VREF_SIZE     416 /* docs/value-set-format.md, Remote set references */
#define VREF_SUM_OFF  384
#define VREF_SUM_SIZE 32

static char dir[4096], path[4200], again[4200];
static unsigned long loaded;

/* Loads PATH (holding DATA); an accepted file saves back to the same bytes, with sane fields. */
static void check_load(const uint8_t *data, size_t size)
{
	memscan_client_vset_ref ref;
	uint8_t *back;
	size_t n = 0;
	int rc = memscan_client_vset_ref_load(path, &ref);

	if (rc != MEMSCAN_OK) {
		FUZZ_CHECK(rc == MEMSCAN_ERR_BAD_FORMAT || rc == MEMSCAN_ERR_TRUNCATED ||
		           rc == MEMSCAN_ERR_UNSUPPORTED_VERSION);
		FUZZ_CHECK(ref.set.id == 0 && ref.agent[0] == '\0');
		return;
	}
	loaded++;
	FUZZ_CHECK(size == VREF_SIZE);
	FUZZ_CHECK(ref.set.id != 0 && ref.set.pid > 0 && ref.set.width > 0);
	FUZZ_CHECK(ref.agent[0] && strlen(ref.agent) < sizeof(ref.agent));
	FUZZ_CHECK(strlen(ref.fingerprint) == MEMSCAN_FINGERPRINT_LEN - 1);
	FUZZ_CHECK(memscan_client_vset_ref_save(&ref, again) == MEMSCAN_OK);
	back = (uint8_t *)malloc(VREF_SIZE + 1);
	FUZZ_CHECK(back != NULL);
	{
		FILE *f = fopen(again, "rb");

		FUZZ_CHECK(f != NULL);
		n = fread(back, 1, VREF_SIZE + 1, f);
		fclose(f);
	}
	FUZZ_CHECK(n == size && memcmp(back, data, size) == 0);
	free(back);
}

/* A seed: a reference as memscan_client_vset_ref_save writes it. */
static void write_seeds(const char *out)
{
	memscan_client_vset_ref ref = { 0 };
	char seed[4200];

	snprintf(ref.agent, sizeof(ref.agent), "agent.example:7777");
	snprintf(ref.fingerprint, sizeof(ref.fingerprint), "SHA256:%043d", 7);
	ref.set =
	    (memscan_client_vset){ 0x1122334455667788ull, 4242, 12345, MEMSCAN_VALUE_I32, 4, 3, false, 4120 };
	fuzz_path(seed, sizeof(seed), out, "set.ref");
	FUZZ_CHECK(memscan_client_vset_ref_save(&ref, seed) == MEMSCAN_OK);
}

static void cleanup(void)
{
	unlink(path);
	unlink(again);
	rmdir(dir);
	fprintf(stderr, "fuzz_vref: %lu references loaded\n", loaded);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(sodium_init() >= 0);
	fuzz_seed_mode(write_seeds);
	fuzz_private_dir("fuzz-vref", dir, sizeof(dir));
	fuzz_path(path, sizeof(path), dir, "set.ref");
	fuzz_path(again, sizeof(again), dir, "again.ref");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t fixed[VREF_SIZE];

	fuzz_write_file(path, data, size, 0600);
	check_load(data, size);
	if (size != VREF_SIZE)
		return 0;
	memcpy(fixed, data, size);
	crypto_generichash(fixed + VREF_SUM_OFF, VREF_SUM_SIZE, fixed, VREF_SUM_OFF, NULL, 0);
	fuzz_write_file(path, fixed, size, 0600);
	check_load(fixed, size);
	return 0;
}
