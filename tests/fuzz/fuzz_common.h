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
#include <unistd.h>

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

/* Writes LEN bytes of DATA to DIR/NAME (replacing it); aborts on failure. */
static inline void fuzz_write_seed(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	const uint8_t *p = data;
	ssize_t n;
	int fd;

	FUZZ_CHECK((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0);
	while (len) {
		n = write(fd, p, len);
		FUZZ_CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

#endif /* MEMSCAN_FUZZ_COMMON_H */
