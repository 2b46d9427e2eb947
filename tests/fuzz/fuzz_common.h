/* SPDX-License-Identifier: MIT */
/* Helpers shared by the fuzz targets: aborting checks and writing generated seed files. */
#ifndef MEMSCAN_FUZZ_COMMON_H
#define MEMSCAN_FUZZ_COMMON_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/memscan.h>

/* The environment variable that makes a target write its generated seeds into a directory and exit
 * (scripts/fuzz.sh), for seeds that are binary or depend on the library's own output. */
#define FUZZ_SEED_ENV "MEMSCAN_FUZZ_WRITE_SEEDS"

/* A broken property: report it and abort, which libFuzzer records as a crash with its input. */
#define FUZZ_CHECK(cond)                                                                                     \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

/* Seed mode (scripts/fuzz.sh): with FUZZ_SEED_ENV set, writes the target's generated seeds into
 * that directory with WRITE_SEEDS and exits. */
static inline void fuzz_seed_mode(void (*write_seeds)(const char *dir))
{
	const char *dir = getenv(FUZZ_SEED_ENV);

	if (dir && *dir) {
		write_seeds(dir);
		exit(0);
	}
}

/* DIR/NAME into PATH (LEN bytes); aborts if it does not fit. */
static inline void fuzz_path(char *path, size_t len, const char *dir, const char *name)
{
	FUZZ_CHECK((size_t)snprintf(path, len, "%s/%s", dir, name) < len);
}

/* Makes PATH hold exactly LEN bytes of DATA, with MODE; aborts on failure. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const uint8_t *p = data;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(fchmod(fd, mode) == 0);
	while (len) {
		n = write(fd, p, len);
		FUZZ_CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

/* Writes LEN bytes of DATA to DIR/NAME (replacing it); aborts on failure. */
static inline void fuzz_write_seed(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];

	fuzz_path(path, sizeof(path), dir, name);
	fuzz_write_file(path, data, len, 0644);
}

/* A new private directory for the files a target writes (/dev/shm if it can, so that writing a
 * file per input costs no disk I/O) into DIR (LEN bytes); aborts on failure. */
static inline void fuzz_private_dir(const char *target, char *dir, size_t len)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	FUZZ_CHECK((size_t)snprintf(dir, len, "%s/memscan-%s.XXXXXX", base && *base ? base : "/tmp", target) <
	           len);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
}

/* An error text as the key file functions leave it: one NUL-terminated line within its LEN bytes,
 * not empty when RC says they failed. */
static inline void fuzz_check_err(const char *err, size_t len, int rc)
{
	const char *nul = memchr(err, '\0', len);

	FUZZ_CHECK(nul != NULL);
	FUZZ_CHECK(memchr(err, '\n', (size_t)(nul - err)) == NULL);
	FUZZ_CHECK(!rc || nul > err);
}

/* Adds the anonymous read-write region [START, END) to LIST (a region of this process to scan). */
static inline void fuzz_add_region(memscan_region_list *list, uint64_t start, uint64_t end)
{
	memscan_region r;

	memset(&r, 0, sizeof(r));
	r.start = start;
	r.end = end;
	r.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	r.kind = MEMSCAN_KIND_ANON;
	r.path = "";
	FUZZ_CHECK(memscan_region_list_add(list, &r) == MEMSCAN_OK);
}

/* The scan targets' haystack of FUZZ_HAYSTACK_LEN bytes: every byte value, then runs and repeats
 * that fuzzed patterns are likely to hit. */
#define FUZZ_HAYSTACK_LEN 512
static inline void fuzz_fill_haystack(uint8_t h[FUZZ_HAYSTACK_LEN])
{
	size_t i = 0;

	for (; i < 256; i++)
		h[i] = (uint8_t)i;
	for (; i < 320; i++)
		h[i] = 0; /* a zero run */
	for (; i < 384; i++)
		h[i] = (i & 1) ? 0x5A : 0x4D; /* "MZMZ..." */
	for (; i < 448; i++)
		h[i] = 0xFF;
	for (; i < FUZZ_HAYSTACK_LEN; i++)
		h[i] = (uint8_t)(i * 37 + 11); /* a fixed jumble */
}

#endif /* MEMSCAN_FUZZ_COMMON_H */
