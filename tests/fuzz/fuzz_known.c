/* SPDX-License-Identifier: MIT */
/* Fuzzes the client's known_agents file: keyfile_known_agent lookups, and keyfile_trust_agent rewriting it.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_common.h"
#include "keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Looked up in every input; the seeds hold lines for the first two. */
static const char *const hostports[] = { "127.0.0.1:7777", "[::1]:7777", "agent.example:443" };
#define ADDED_HOSTPORT "added.example:1"

static char dir[4096], path[4200], copy_path[4200];
static unsigned long lookups_found;

/* Whether some line's first word is a host pattern ('*' or '?') covering HOSTPORT: the same port
 * after the last ':', and the host part matching as fnmatch does, ignoring case. */
static int pattern_written(const uint8_t *data, size_t size, const char *hostport)
{
	const char *hc = strrchr(hostport, ':');
	char word[512], host[512];
	size_t i = 0;

	snprintf(host, sizeof(host), "%.*s", (int)(hc - hostport), hostport);
	while (i < size) {
		size_t n = 0;
		char *pc;

		while (i < size && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (i < size && data[i] != ' ' && data[i] != '\t' && data[i] != '\n' &&
		       n + 1 < sizeof(word))
			word[n++] = (char)data[i++];
		word[n] = '\0';
		pc = strrchr(word, ':');
		if (pc && strpbrk(word, "*?") && !strcmp(pc, hc)) {
			*pc = '\0';
			if (fnmatch(word, host, FNM_CASEFOLD) == 0)
				return 1;
		}
		while (i < size && data[i] != '\n')
			i++;
		i++;
	}
	return 0;
}

/* A key found for HOSTPORT was written in the file: "HOSTPORT " starts a line (after blanks), or a
 * host pattern covering it does, and the key's base64 (the only spelling the parser takes) is in the
 * text. */
static void check_found(const uint8_t *data, size_t size, const char *hostport, const uint8_t *pub)
{
	char b64[sodium_base64_ENCODED_LEN(KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), pub, KEYFILE_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	FUZZ_CHECK(memmem(data, size, b64, strlen(b64)) != NULL);
	FUZZ_CHECK(memmem(data, size, hostport, strlen(hostport)) != NULL ||
	           pattern_written(data, size, hostport));
}

/* Looks up every hostport in PATH_; returns the verdict (0 if the file is valid, -EINVAL if not),
 * which is the same for all of them. FOUND[i] receives whether hostport i has a key, in PUBS[i]. */
static int lookup_all(const char *file, int found[], uint8_t pubs[][KEYFILE_KEY_LEN])
{
	char err[256], tiny[8];
	uint8_t pub[KEYFILE_KEY_LEN];
	int rc, rc_tiny, verdict = 0;

	for (size_t i = 0; i < sizeof(hostports) / sizeof(hostports[0]); i++) {
		rc = keyfile_known_agent(file, hostports[i], pubs[i], err, sizeof(err));
		fuzz_check_err(err, sizeof(err), rc);
		FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL);
		rc_tiny = keyfile_known_agent(file, hostports[i], pub, tiny, sizeof(tiny));
		FUZZ_CHECK(rc_tiny == rc);
		fuzz_check_err(tiny, sizeof(tiny), 0);
		found[i] = rc == 0;
		if (i == 0)
			verdict = rc == -EINVAL ? rc : 0;
		FUZZ_CHECK((rc == -EINVAL) == (verdict == -EINVAL));
	}
	return verdict;
}

/* Trusting a new agent in a valid file keeps every other lookup's answer and adds the new one. */
static void check_trust(const uint8_t *data, size_t size, const int found[], uint8_t pubs[][KEYFILE_KEY_LEN])
{
	static const uint8_t added[KEYFILE_KEY_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	uint8_t again[3][KEYFILE_KEY_LEN], pub[KEYFILE_KEY_LEN];
	int found_again[3];
	char err[256];

	fuzz_write_file(copy_path, data, size, 0600);
	if (keyfile_trust_agent(copy_path, ADDED_HOSTPORT, added, err, sizeof(err)) != 0) {
		fuzz_check_err(err, sizeof(err), 1);
		return; /* e.g. too many lines to add one */
	}
	FUZZ_CHECK(lookup_all(copy_path, found_again, again) == 0);
	for (size_t i = 0; i < sizeof(hostports) / sizeof(hostports[0]); i++) {
		FUZZ_CHECK(found_again[i] == found[i]);
		FUZZ_CHECK(!found[i] || memcmp(again[i], pubs[i], KEYFILE_KEY_LEN) == 0);
	}
	FUZZ_CHECK(keyfile_known_agent(copy_path, ADDED_HOSTPORT, pub, err, sizeof(err)) == 0);
	FUZZ_CHECK(memcmp(pub, added, sizeof(pub)) == 0);
}

static void write_seeds(const char *out)
{
	uint8_t a[KEYFILE_KEY_LEN], b[KEYFILE_KEY_LEN];
	char ka[128], kb[128], text[1024];
	int n;

	for (int i = 0; i < KEYFILE_KEY_LEN; i++) {
		a[i] = (uint8_t)(0x31 + i);
		b[i] = (uint8_t)(0xC0 ^ i);
	}
	FUZZ_CHECK(keyfile_format_public(a, ka, sizeof(ka)) == 0);
	FUZZ_CHECK(keyfile_format_public(b, kb, sizeof(kb)) == 0);
	n = snprintf(text, sizeof(text), "# agents\n127.0.0.1:7777 %s lab agent\n\n  [::1]:7777\t%s\n", ka,
	             kb);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	fuzz_write_seed(out, "two_agents", text, (size_t)n);
	n = snprintf(text, sizeof(text), "127.0.0.1:7777 %s\n127.0.0.1:7777 %s\n", ka, kb);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	fuzz_write_seed(out, "twice", text, (size_t)n);
}

static void cleanup(void)
{
	unlink(path);
	unlink(copy_path);
	rmdir(dir);
	fprintf(stderr, "fuzz_known: %lu lookups found a key\n", lookups_found);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FUZZ_CHECK(sodium_init() >= 0);
	fuzz_seed_mode(write_seeds);
	fuzz_private_dir("fuzz-known", dir, sizeof(dir));
	fuzz_path(path, sizeof(path), dir, "known_agents");
	fuzz_path(copy_path, sizeof(copy_path), dir, "known_agents.trusted");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pubs[3][KEYFILE_KEY_LEN];
	int found[3];

	fuzz_write_file(path, data, size, 0600);
	if (lookup_all(path, found, pubs) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(hostports) / sizeof(hostports[0]); i++) {
		if (!found[i])
			continue;
		lookups_found++;
		check_found(data, size, hostports[i], pubs[i]);
	}
	check_trust(data, size, found, pubs);
	return 0;
}
