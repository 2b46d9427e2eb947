/* SPDX-License-Identifier: MIT */
/* memscan-bench-target: a process with a big random buffer, planted int32 needles and controlled changes. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

/*
 * Usage: memscan-bench-target --size N[K|M|G] [--needle V] [--needles N] [--seed S]
 *                             [--change-fraction F --change-every-ms MS] [--sparse N[K|M|G]]
 * Prints "ready ADDR SIZE NEEDLES" once the buffer is filled and resident. With --sparse, it also maps
 * a second region of N bytes where only one page in SPARSE_EVERY is written (random bytes), the others
 * never touched, and appends " SPARSE_ADDR N" to the ready line. Then reads commands on stdin:
 *   change F   change the fraction F (0 < F <= 0.9) of the buffer's bytes, in runs of 64 bytes spread
 *              evenly over it (every changed byte really differs); replies "ok BYTES RUNS"
 *   quit       exits
 * With --change-every-ms, it changes --change-fraction of the buffer by itself at that period.
 * The buffer holds exactly NEEDLES copies of the little-endian int32 V (accidental copies in the random
 * fill are broken), at 4-byte aligned offsets. The needle value is kept complemented outside the buffer
 * so that the process's other memory does not hold it. Changes never touch the needles (their bytes are
 * put back and not counted), so scans after changes still find exactly NEEDLES copies.
 */

#define RUN_LEN      64
#define SPARSE_EVERY 64

static uint64_t rng_state;

static uint64_t splitmix64(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		end++;
		break;
	case 'G':
	case 'g':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || v == 0)
		return -1;
	*ret = v;
	return 0;
}

/* Breaks every copy of the needle found in BUF (the first byte is flipped to one the needle lacks). */
static size_t break_needles(uint8_t *buf, size_t len, const uint8_t needle[4])
{
	uint8_t repl = (uint8_t)(needle[0] ^ 1);
	size_t broken = 0;
	uint8_t *p = buf, *end = buf + len;

	while (repl == needle[1] || repl == needle[2] || repl == needle[3])
		repl++;
	while (p + 4 <= end) {
		uint8_t *hit = memmem(p, (size_t)(end - p), needle, 4);

		if (!hit)
			break;
		hit[0] = repl;
		broken++;
		p = hit + 1;
	}
	return broken;
}

static uint64_t *needle_offs;
static uint64_t needle_count;
static uint64_t needle_not;

/* Puts back the needle bytes a change overwrote (so scans after changes still find every needle);
 * returns how many bytes were put back. */
static uint64_t restore_needles(uint8_t *buf)
{
	uint64_t restored = 0;

	for (uint64_t k = 0; k < needle_count; k++) {
		for (int i = 0; i < 4; i++) {
			uint8_t b = (uint8_t)((~needle_not) >> (8 * i));

			if (buf[needle_offs[k] + i] != b) {
				buf[needle_offs[k] + i] = b;
				restored++;
			}
		}
	}
	return restored;
}

/* Changes the fraction F of BUF in runs of RUN_LEN bytes; every changed byte gets a different value,
 * except the needles, which are kept. */
static void change(uint8_t *buf, size_t size, double f, unsigned gen, uint64_t *ret_bytes, uint64_t *ret_runs)
{
	uint64_t want = (uint64_t)(f * (double)size + 0.5), runs, stride, shift, done = 0;

	*ret_bytes = 0;
	*ret_runs = 0;
	if (want == 0)
		return;
	runs = (want + RUN_LEN - 1) / RUN_LEN;
	stride = (size / runs) & ~(uint64_t)7;
	if (stride < RUN_LEN + 8)
		return;
	/* a different position in each stride at each call, so repeated changes touch other bytes */
	shift = ((uint64_t)gen * 24) % (stride - RUN_LEN);
	shift &= ~(uint64_t)7;
	for (uint64_t r = 0; r < runs && done < want; r++) {
		uint64_t off = r * stride + shift, len = want - done < RUN_LEN ? want - done : RUN_LEN;

		if (off + len > size)
			break;
		for (uint64_t i = 0; i < len; i += 8) {
			uint64_t x = splitmix64() | 0x0101010101010101ull, w;
			size_t n = len - i < 8 ? (size_t)(len - i) : 8;

			memcpy(&w, buf + off + i, n);
			w ^= x;
			memcpy(buf + off + i, &w, n);
		}
		done += len;
		(*ret_runs)++;
	}
	*ret_bytes = done - restore_needles(buf);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: memscan-bench-target --size N[K|M|G] [--needle V] [--needles N] [--seed S]\n"
	        "                            [--change-fraction F --change-every-ms MS] [--fill heap]\n"
	        "                            [--sparse N]\n");
}

/* --fill heap: 64-byte objects as an allocator lays them out (a link to the next one, a small
 * reference count, a type tag, a short name, zero padding): what compression meets in a real heap. */
static void fill_objects(uint8_t *buf, uint64_t size)
{
	for (uint64_t off = 0; off + 64 <= size; off += 64) {
		uint64_t link = 0x00005610a0000000ull + off + 64, refs = splitmix64() % 5;
		uint32_t tag = 0xC0DE0000u | (uint32_t)(off / 64 % 7);
		char name[24];

		memset(buf + off, 0, 64);
		memcpy(buf + off, &link, 8);
		memcpy(buf + off + 8, &refs, 8);
		memcpy(buf + off + 16, &tag, 4);
		snprintf(name, sizeof(name), "obj-%06" PRIu64, off / 64 % 1000000);
		memcpy(buf + off + 24, name, strlen(name));
	}
}

int main(int argc, char **argv)
{
	uint64_t size = 0, seed = 0x5EED, nneedles = 1000, sparse_size = 0, bytes, runs;
	uint8_t *sparse = NULL;
	double every_f = 0.0;
	long every_ms = 0;
	unsigned gen = 0;
	int heap = 0;
	uint8_t nb[4];
	uint8_t *buf;
	char line[256];

	needle_not = ~(uint64_t)0x5EC7E7A1u;
	/* options come in pairs: NAME VALUE */
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(argv[i], "--size")) {
			if (parse_size(v, &size) != 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "--sparse")) {
			if (parse_size(v, &sparse_size) != 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "--needle")) {
			needle_not = ~(uint64_t)strtoull(v, &end, 0);
		} else if (!strcmp(argv[i], "--needles")) {
			nneedles = strtoull(v, &end, 0);
		} else if (!strcmp(argv[i], "--seed")) {
			seed = strtoull(v, &end, 0);
		} else if (!strcmp(argv[i], "--change-fraction")) {
			every_f = strtod(v, &end);
		} else if (!strcmp(argv[i], "--change-every-ms")) {
			every_ms = strtol(v, &end, 10);
		} else if (!strcmp(argv[i], "--fill") && !strcmp(v, "heap")) {
			heap = 1;
		} else {
			usage();
			return 2;
		}
		if (end && *end) {
			usage();
			return 2;
		}
	}
	if (size < 4096 || (nneedles && size / nneedles < 16)) {
		usage();
		return 2;
	}
	/* let a non-root parent (the bench) read us under Yama ptrace_scope=1 */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "memscan-bench-target: mmap %" PRIu64 ": %s\n", size, strerror(errno));
		return 1;
	}
	rng_state = seed;
	for (uint64_t off = 0; !heap && off < size; off += 8) {
		uint64_t x = splitmix64();

		memcpy(buf + off, &x, size - off < 8 ? (size_t)(size - off) : 8);
	}
	if (heap)
		fill_objects(buf, size);
	for (int i = 0; i < 4; i++)
		nb[i] = (uint8_t)((~needle_not) >> (8 * i));
	break_needles(buf, (size_t)size, nb);
	needle_offs = calloc(nneedles ? nneedles : 1, sizeof(*needle_offs));
	if (!needle_offs)
		return 1;
	if (nneedles) {
		uint64_t slot = size / nneedles;

		for (uint64_t k = 0; k < nneedles; k++) {
			uint64_t off = k * slot + ((splitmix64() % (slot - 8)) & ~(uint64_t)3);

			memcpy(buf + off, nb, 4);
			needle_offs[k] = off;
		}
		needle_count = nneedles;
	}
	memset(nb, 0, sizeof(nb));
	__asm__ volatile("" : : "r"(nb) : "memory");
	if (sparse_size) {
		long page = sysconf(_SC_PAGESIZE);

		sparse_size = (sparse_size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
		sparse = mmap(NULL, sparse_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sparse == MAP_FAILED) {
			fprintf(stderr, "memscan-bench-target: mmap %" PRIu64 ": %s\n", sparse_size,
			        strerror(errno));
			return 1;
		}
		madvise(sparse, sparse_size, MADV_NOHUGEPAGE); /* the untouched pages stay unpopulated */
		for (uint64_t off = 0; off < sparse_size; off += (uint64_t)page * SPARSE_EVERY)
			for (long i = 0; i < page; i += 8) {
				uint64_t x = splitmix64();
				memcpy(sparse + off + i, &x, 8);
			}
	}

	printf("ready 0x%" PRIxPTR " %" PRIu64 " %" PRIu64, (uintptr_t)buf, size, nneedles);
	if (sparse)
		printf(" 0x%" PRIxPTR " %" PRIu64, (uintptr_t)sparse, sparse_size);
	printf("\n");
	fflush(stdout);

	for (;;) {
		struct pollfd pfd = { 0, POLLIN, 0 };
		int pr = poll(&pfd, 1, every_ms > 0 ? (int)every_ms : -1);
		double f;

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		if (pr == 0) {
			change(buf, (size_t)size, every_f, gen++, &bytes, &runs);
			continue;
		}
		if (!fgets(line, sizeof(line), stdin))
			break;
		if (!strncmp(line, "quit", 4))
			break;
		if (sscanf(line, "change %lf", &f) == 1 && f >= 0.0 && f <= 0.9) {
			change(buf, (size_t)size, f, gen++, &bytes, &runs);
			printf("ok %" PRIu64 " %" PRIu64 "\n", bytes, runs);
		} else {
			printf("error unknown command\n");
		}
		fflush(stdout);
	}
	munmap(buf, size);
	return 0;
}
