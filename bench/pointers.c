/* SPDX-License-Identifier: MIT */
/* memscan-bench: pointer scans. Index plus a depth-4 search over a heap-like snapshot file, against the
 * time to load that file, and the index's memory against the snapshot's bytes (ratios P1, P2). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "bench.h"

#define PB_HEAP   0x7f1200000000ull /* where the synthetic heap lies */
#define PB_MODULE 0x555500000000ull /* libbench.so: r--p page, then 64 KiB rw-p data */
#define PB_OBJECT 64u               /* bytes of a heap object */

static uint64_t pb_state = 0x9E3779B97F4A7C15ull;

static uint64_t pb_rand(void)
{
	uint64_t z = (pb_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* 64-byte objects as an allocator lays them out: a link to a random object (one in four objects: a
 * second one to its parent), a count, a tag, a short name; the module's data holds a root every 1 KiB. */
static void fill_heap(uint8_t *heap, uint64_t size, uint8_t *data, uint64_t data_size)
{
	uint64_t nobj = size / PB_OBJECT;

	for (uint64_t i = 0; i < nobj; i++) {
		uint8_t *o = heap + i * PB_OBJECT;

		put64(o, PB_HEAP + (pb_rand() % nobj) * PB_OBJECT);
		put64(o + 8, pb_rand() % 5);
		put64(o + 16, 0xC0DE0000u | (i % 7));
		snprintf((char *)o + 24, 16, "obj-%06" PRIu64, i % 1000000);
		if (i % 4 == 0)
			put64(o + 40, PB_HEAP + (pb_rand() % nobj) * PB_OBJECT);
	}
	for (uint64_t off = 0; off < data_size; off += 1024)
		put64(data + off, PB_HEAP + (pb_rand() % nobj) * PB_OBJECT);
}

/* Writes the synthetic snapshot of SIZE heap bytes to PATH. */
static int make_snapshot(const char *path, uint64_t size)
{
	memscan_region code = { .start = PB_MODULE,
		                .end = PB_MODULE + 4096,
		                .perms = MEMSCAN_PERM_READ,
		                .kind = MEMSCAN_KIND_FILE,
		                .path = "/usr/lib/libbench.so" };
	memscan_region data = code, heap = { .start = PB_HEAP,
		                             .end = PB_HEAP + size,
		                             .perms = 3,
		                             .kind = MEMSCAN_KIND_HEAP,
		                             .path = "[heap]" };
	memscan_snapshot *snap = NULL;
	uint8_t *c, *d, *h;
	int r;

	data.start = code.end;
	data.end = data.start + 65536;
	data.perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	r = memscan_snapshot_new(1, 1, &snap);
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_add_region(snap, &code, &c);
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_add_region(snap, &data, &d);
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_add_region(snap, &heap, &h);
	if (r == MEMSCAN_OK) {
		fill_heap(h, size, d, data.end - data.start);
		r = memscan_snapshot_save(snap, path);
	}
	memscan_snapshot_free(snap);
	return r;
}

/* Seconds to read the whole file at PATH into a reused buffer (the page cache's rate). */
static double read_file_s(const char *path, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	double t0 = now_s();
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, len)) > 0)
		;
	close(fd);
	return n < 0 ? -1 : now_s() - t0;
}

/* One index and search of SNAP: seconds, and the index's bytes and chains found. */
static double index_and_search(const memscan_snapshot *snap, uint64_t addr, uint64_t *ret_bytes,
                               size_t *ret_chains)
{
	memscan_pointer_index *idx = NULL;
	memscan_pointer_chains *c = NULL;
	double t0 = now_s(), t = -1;

	if (memscan_pointer_index_build(snap, 0, &idx) == MEMSCAN_OK &&
	    memscan_pointer_search(idx, addr, NULL, &c) == MEMSCAN_OK) {
		t = now_s() - t0;
		*ret_bytes = memscan_pointer_index_bytes(idx);
		*ret_chains = memscan_pointer_chains_count(c);
	}
	memscan_pointer_chains_free(c);
	memscan_pointer_index_free(idx);
	return t;
}

static void measure(const bench_opts *o, const char *path, uint64_t size)
{
	figure *fl = fig_get("pointers.load"), *fr = fig_get("pointers.read_file");
	figure *fs = fig_get("pointers.index_search"), *fm = fig_get("pointers.index_mem");
	size_t buf_len = 8u << 20, chains = 0;
	uint8_t *buf = malloc(buf_len);
	uint64_t bytes = 0, addr = PB_HEAP + (size / 2 / PB_OBJECT) * PB_OBJECT + 8;

	for (int i = 0; buf && i < o->reps; i++) {
		memscan_snapshot *snap = NULL;
		double t0 = now_s(), tl, ts;

		fig_add(fr, read_file_s(path, buf, buf_len));
		if (memscan_snapshot_load(path, &snap) != MEMSCAN_OK) {
			fig_skip(fs, "cannot load the snapshot");
			break;
		}
		tl = now_s() - t0;
		ts = index_and_search(snap, addr, &bytes, &chains);
		memscan_snapshot_free(snap);
		if (ts < 0) {
			fig_skip(fs, "the index or the search failed");
			break;
		}
		fig_add(fl, tl);
		fig_add(fs, ts);
		fig_add(fm, (double)bytes / (double)(size + 69632));
	}
	fig_note(fs,
	         "%.0f MiB heap of 64-byte objects; depth 4, max offset 0x1000, %zu chains (stops at 10000)",
	         (double)size / MIB, chains);
	free(buf);
}

void bench_pointers(const bench_opts *o)
{
	char path[512];
	uint64_t size = o->target_size;

	fig_new("pointers.read_file", "s", "reading the snapshot file into a reused buffer (page cache)");
	fig_new("pointers.load", "s", "memscan_snapshot_load of the snapshot file");
	fig_new("pointers.index_search", "s", "pointer index of the loaded snapshot plus a depth-4 search");
	fig_new("pointers.index_mem", "ratio", "the index's bytes / the snapshot's bytes");
	snprintf(path, sizeof(path), "%s/pointers.snap", o->tmpdir);
	if (make_snapshot(path, size) != MEMSCAN_OK) {
		fig_skip(fig_get("pointers.index_search"), "cannot write the snapshot file");
		return;
	}
	measure(o, path, size);
	unlink(path);
}
