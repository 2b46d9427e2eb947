/* SPDX-License-Identifier: MIT */
/* Remote downloads with opt-in zstd pages: what compression costs on bytes that do not shrink (the
 * main target is random) and what it saves on a heap-like target, over loopback. */
#include <inttypes.h>

#include <memscan/client.h>

#include "bench.h"

/* Heap-like target: big enough to span many 4 MiB pages, small enough to keep --quick quick. */
#define HEAP_TARGET_SIZE (64ull << 20)

void bench_fetch_rate(const bench_opts *o, memscan_client *cl, pid_t pid, int on, figure *f)
{
	uint64_t held = 0, bytes = 0, wire = 0;
	int rc = memscan_client_set_compression(cl, on);

	for (int r = 0; rc == MEMSCAN_OK && r < o->slow_reps; r++) {
		memscan_snapshot *s = NULL;
		uint64_t id = 0, b0, w0, b1, w1;
		double t0;

		rc = memscan_client_snapshot(cl, (int)pid, NULL, &id, NULL, &held);
		memscan_client_transfer_stats(cl, &b0, &w0);
		t0 = now_s();
		if (rc == MEMSCAN_OK)
			rc = memscan_client_snapshot_fetch(cl, id, &s);
		if (rc == MEMSCAN_OK)
			fig_add(f, (double)held / (now_s() - t0) / GB);
		memscan_client_transfer_stats(cl, &b1, &w1);
		bytes += b1 - b0;
		wire += w1 - w0;
		memscan_snapshot_free(s);
		if (id && memscan_client_release(cl, id) != MEMSCAN_OK)
			bench_log("release: %s", memscan_client_last_error(cl));
	}
	if (rc != MEMSCAN_OK)
		fig_skip(f, "remote snapshot failed: %s (%s)", memscan_strerror(rc),
		         memscan_client_last_error(cl));
	else if (wire)
		fig_note(f, "%" PRIu64 " MiB; page payload %.4f of the bytes (%.1f:1)", held >> 20,
		         (double)wire / (double)bytes, (double)bytes / (double)wire);
	if (memscan_client_set_compression(cl, 0) != MEMSCAN_OK)
		bench_log("cannot turn compression off");
}

void bench_remote_zstd(const bench_opts *o, memscan_client *cl, target *t)
{
	figure *fz = fig_new("remote.fetch_zstd", "GB/s",
	                     "memscan_client_snapshot_fetch, --compress, main target (random: sent raw)");
	figure *fh =
	    fig_new("remote.fetch_heap", "GB/s", "memscan_client_snapshot_fetch, 64 MiB heap-like target");
	figure *fhz = fig_new("remote.fetch_heap_zstd", "GB/s",
	                      "memscan_client_snapshot_fetch, --compress, 64 MiB heap-like target");
	target heap;

	bench_fetch_rate(o, cl, t->c.pid, 1, fz);
	if (target_start_ex(o, &heap, HEAP_TARGET_SIZE, 0, "heap", 0) != 0) {
		fig_skip(fh, "the heap-like target did not start");
		fig_skip(fhz, "the heap-like target did not start");
		return;
	}
	bench_fetch_rate(o, cl, heap.c.pid, 0, fh);
	bench_fetch_rate(o, cl, heap.c.pid, 1, fhz);
	target_stop(&heap);
}
