/* SPDX-License-Identifier: MIT */
/* memscan-bench local measures: hardware baselines, the process_vm_readv ceiling, scan, snapshot, detect. */
#include "bench.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include <sodium.h>
#ifdef BENCH_HAVE_ZSTD
#include <zstd.h>
#endif

#define CHUNK (16u << 20)

uint64_t g_target_bytes;

static void *big_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, len); /* pre-faulted */
	return p;
}

/* A 'heap-like' buffer for the compressor: zeros, small integers and pointer-like words. */
static void fill_heapish(uint8_t *buf, size_t len)
{
	uint64_t s = 12345;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		switch ((s >> 60) & 3) {
		case 0:
		case 1:
			w = 0;
			break;
		case 2:
			w = (s >> 33) & 0xff;
			break;
		default:
			w = 0x00007f0000000000ull | ((s >> 20) & 0xffffff0ull);
			break;
		}
		memcpy(buf + i, &w, 8);
	}
}

void bench_baselines(const bench_opts *o)
{
	size_t len = CHUNK, big = 64u << 20;
	figure *fa =
	    fig_new("base.aead_chacha20", "GB/s", "ChaCha20-Poly1305 (libsodium) encrypt, 16 MiB, one core");
	figure *fm = fig_new("base.memcpy", "GB/s", "memcpy 64 MiB between pre-faulted buffers, one core");
	figure *fz =
	    fig_new("base.zstd1", "GB/s", "zstd -1 compress, 1 MiB blocks of a heap-like 16 MiB, one core");
	uint8_t *a = big_alloc(big), *b = big_alloc(big + crypto_aead_chacha20poly1305_ietf_ABYTES);
	uint8_t key[32], nonce[12] = { 0 }, mac[16];

	if (!a || !b) {
		fig_skip(fa, "out of memory");
		return;
	}
	randombytes_buf(key, sizeof(key));
	randombytes_buf(a, len);
	for (int r = 0; r < o->reps; r++) {
		unsigned long long maclen;
		double t0 = now_s();

		for (int k = 0; k < 4; k++) {
			nonce[0] = (uint8_t)(r * 4 + k);
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(b, mac, &maclen, a, len, NULL, 0,
			                                                   NULL, nonce, key);
		}
		fig_add(fa, 4.0 * (double)len / (now_s() - t0) / GB);
	}
	for (int r = 0; r < o->reps; r++) {
		double t0 = now_s();

		memcpy(b, a, big);
		__asm__ volatile("" : : "r"(b) : "memory");
		fig_add(fm, (double)big / (now_s() - t0) / GB);
	}
#ifdef BENCH_HAVE_ZSTD
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		size_t cap = ZSTD_compressBound(1u << 20), out_total = 0;

		fill_heapish(a, len);
		for (int r = 0; r < o->reps && cc; r++) {
			double t0 = now_s();

			out_total = 0;
			for (size_t off = 0; off < len; off += 1u << 20) {
				size_t z = ZSTD_compressCCtx(cc, b, cap, a + off, 1u << 20, 1);

				if (!ZSTD_isError(z))
					out_total += z;
			}
			fig_add(fz, (double)len / (now_s() - t0) / GB);
		}
		if (out_total)
			fig_note(fz, "ratio %.1f:1", (double)len / (double)out_total);
		ZSTD_freeCCtx(cc);
	}
#else
	(void)fill_heapish;
	fig_skip(fz, "built without libzstd");
#endif
	munmap(a, big);
	munmap(b, big + crypto_aead_chacha20poly1305_ietf_ABYTES);
}

/* Reads every region of LIST in 16 MiB process_vm_readv calls into BUF; returns the bytes read. */
static uint64_t ceiling_pass(pid_t pid, const memscan_region_list *list, uint8_t *buf)
{
	uint64_t total = 0;

	for (size_t i = 0; i < memscan_region_list_count(list); i++) {
		const memscan_region *rg = memscan_region_list_get(list, i);

		for (uint64_t a = rg->start; a < rg->end;) {
			size_t n = rg->end - a < CHUNK ? (size_t)(rg->end - a) : CHUNK;
			struct iovec l = { buf, n }, rem = { (void *)(uintptr_t)a, n };
			ssize_t got = process_vm_readv(pid, &l, 1, &rem, 1, 0);

			if (got <= 0) {
				a = (a + 4096) & ~(uint64_t)4095; /* skip an unreadable page */
				continue;
			}
			total += (uint64_t)got;
			a += (uint64_t)got;
		}
	}
	return total;
}

/* The ceiling with both cores: two threads take the CHUNK-sized pieces of the regions in turn, each
 * into its own reused buffer. */
struct ceiling2 {
	pid_t pid;
	struct iovec *pieces; /* remote ranges */
	size_t n;
	atomic_size_t next;
	atomic_uint_fast64_t got;
};

struct ceiling2_arg {
	struct ceiling2 *c;
	uint8_t *buf;
};

static void *ceiling2_thread(void *p)
{
	struct ceiling2_arg *a = p;
	struct ceiling2 *c = a->c;
	size_t k;

	while ((k = atomic_fetch_add(&c->next, 1)) < c->n) {
		struct iovec l = { a->buf, c->pieces[k].iov_len };
		ssize_t got = process_vm_readv(c->pid, &l, 1, &c->pieces[k], 1, 0);

		if (got > 0)
			atomic_fetch_add(&c->got, (uint64_t)got);
	}
	return NULL;
}

/* One pass of the two-core ceiling; returns the bytes read. */
static uint64_t ceiling2_pass(struct ceiling2 *c, uint8_t *bufs[2])
{
	struct ceiling2_arg args[2] = { { c, bufs[0] }, { c, bufs[1] } };
	pthread_t th;
	int started;

	atomic_store(&c->next, 0);
	atomic_store(&c->got, 0);
	started = pthread_create(&th, NULL, ceiling2_thread, &args[1]) == 0;
	ceiling2_thread(&args[0]);
	if (started)
		pthread_join(th, NULL);
	return atomic_load(&c->got);
}

/* ceiling.vm_readv_2cores: what B9 (a full re-read per interval) is bounded by on this machine. */
static void bench_ceiling2(const bench_opts *o, pid_t pid, const memscan_region_list *list)
{
	figure *f =
	    fig_new("ceiling.vm_readv_2cores", "GB/s",
	            "process_vm_readv of the same regions by two threads, 16 MiB calls, reused buffers");
	struct ceiling2 c = { .pid = pid };
	uint8_t *bufs[2] = { big_alloc(CHUNK), big_alloc(CHUNK) };
	size_t cap = 0;

	for (size_t i = 0; i < memscan_region_list_count(list); i++) {
		const memscan_region *rg = memscan_region_list_get(list, i);
		cap += (size_t)((rg->end - rg->start + CHUNK - 1) / CHUNK);
	}
	c.pieces = calloc(cap ? cap : 1, sizeof(*c.pieces));
	if (!c.pieces || !bufs[0] || !bufs[1]) {
		fig_skip(f, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < memscan_region_list_count(list); i++) {
		const memscan_region *rg = memscan_region_list_get(list, i);
		for (uint64_t a = rg->start; a < rg->end; a += CHUNK)
			c.pieces[c.n++] =
			    (struct iovec){ (void *)(uintptr_t)a,
				            rg->end - a < CHUNK ? (size_t)(rg->end - a) : CHUNK };
	}
	ceiling2_pass(&c, bufs); /* warm-up */
	for (int r = 0; r < o->reps; r++) {
		double t0 = now_s();

		ceiling2_pass(&c, bufs);
		fig_add(f, (double)g_target_bytes / (now_s() - t0) / GB);
	}
out:
	free(c.pieces);
	for (int k = 0; k < 2; k++)
		if (bufs[k])
			munmap(bufs[k], CHUNK);
}

struct match_ctx {
	uint64_t lo, hi, inside, total;
};

static int count_match(void *ctx, uint64_t address, const memscan_region *region)
{
	struct match_ctx *m = ctx;

	(void)region;
	m->total++;
	if (address >= m->lo && address < m->hi)
		m->inside++;
	return 0;
}

static void bench_scan(const bench_opts *o, target *t, memscan_process *proc)
{
	static const char *names[2] = { "memscan.scan", "memscan.scan_no_memmap" };
	static const char *descs[2] = { "memscan_scan for the int32 needle, default read mode",
		                        "memscan_scan for the int32 needle, no_memmap (small chunks)" };
	char text[32];
	memscan_pattern *pat = NULL;

	snprintf(text, sizeof(text), "%02X %02X %02X %02X", o->needle & 0xff, (o->needle >> 8) & 0xff,
	         (o->needle >> 16) & 0xff, o->needle >> 24);
	if (memscan_pattern_parse(text, &pat, NULL) != MEMSCAN_OK) {
		bench_log("cannot parse pattern %s", text);
		return;
	}
	for (int mode = 0; mode < 2; mode++) {
		figure *f = fig_new(names[mode], "GB/s", descs[mode]);
		memscan_scan_options so = { 0 };
		struct match_ctx m = { 0 };

		so.no_memmap = mode;
		for (int r = 0; r < o->reps; r++) {
			uint64_t count = 0;
			double t0, dt;
			int rc;

			memset(&m, 0, sizeof(m));
			m.lo = t->addr;
			m.hi = t->addr + t->size;
			t0 = now_s();
			rc = memscan_scan(proc, NULL, pat, &so, count_match, &m, &count);
			dt = now_s() - t0;
			if (rc != MEMSCAN_OK) {
				fig_skip(f, "memscan_scan: %s", memscan_strerror(rc));
				break;
			}
			fig_add(f, (double)g_target_bytes / dt / GB);
		}
		if (!f->skipped)
			fig_note(f,
			         "%" PRIu64 " matches in the buffer (expected %" PRIu64 "), %" PRIu64
			         " in all%s",
			         m.inside, t->needles, m.total, m.inside == t->needles ? "" : " MISMATCH");
		if (!f->skipped && m.inside != t->needles)
			bench_log("%s found %" PRIu64 " needles, expected %" PRIu64, names[mode], m.inside,
			          t->needles);
	}
	memscan_pattern_free(pat);
}

/* Median seconds of memscan_scan_buffer over BUF for TEXT, into figure NAME (GB/s); -1 on failure. */
static double match_figure(const bench_opts *o, const char *name, const char *desc, const char *text,
                           const uint8_t *buf, size_t len)
{
	figure *f = fig_new(name, "GB/s", desc);
	memscan_pattern *pat = NULL;
	uint64_t count = 0;

	if (memscan_pattern_parse(text, &pat, NULL) != MEMSCAN_OK) {
		fig_skip(f, "cannot parse the pattern");
		return -1;
	}
	for (int r = 0; r < o->reps; r++) {
		double t0 = now_s();

		if (memscan_scan_buffer(buf, len, 0x10000, pat, NULL, NULL, NULL, &count) != MEMSCAN_OK) {
			fig_skip(f, "memscan_scan_buffer failed");
			break;
		}
		fig_add(f, (double)len / (now_s() - t0) / GB);
	}
	if (!f->skipped)
		fig_note(f, "%" PRIu64 " matches in %.0f MiB of zeros", count, (double)len / MIB);
	memscan_pattern_free(pat);
	return f->skipped ? -1 : f->median;
}

/* The matcher's worst cases against a plain pattern, all over the same zeroed memory: 4095 zeros
 * then 1? (every start passes a zero-byte filter), and 4096 zeros (every start matches). */
void bench_match(const bench_opts *o)
{
	size_t len = o->quick ? (size_t)16 << 20 : (size_t)64 << 20, n = 0;
	char *text = malloc(3 * MEMSCAN_PATTERN_MAX + 1);
	uint8_t *buf = big_alloc(len);

	if (buf && text) {
		memset(buf, 0, len);
		match_figure(o, "match.plain4_zeros", "memscan_scan_buffer, 4D 5A 90 00 over zeros",
		             "4D 5A 90 00", buf, len);
		for (n = 0; n + 1 < MEMSCAN_PATTERN_MAX; n++)
			memcpy(text + 3 * n, "00 ", 3);
		memcpy(text + 3 * n, "1?", 3);
		match_figure(o, "match.zeros_nibble_zeros",
		             "memscan_scan_buffer, 4095 x 00 then 1? over zeros", text, buf, len);
		memcpy(text + 3 * n, "00", 3);
		match_figure(o, "match.zeros4096_zeros",
		             "memscan_scan_buffer, 4096 x 00 over zeros (every start matches)", text, buf,
		             len);
	}
	if (buf)
		munmap(buf, len);
	free(text);
}

static void bench_snapshot(const bench_opts *o, memscan_process *proc)
{
	figure *fm = fig_new("memscan.snapshot_mem", "GB/s", "memscan_snapshot_take of the whole target");
	figure *ff =
	    fig_new("memscan.snapshot_file", "GB/s", "memscan_snapshot_take + memscan_snapshot_save");
	char path[320];

	snprintf(path, sizeof(path), "%s/local.snap", o->tmpdir);
	for (int r = 0; r < o->reps; r++) {
		memscan_snapshot *s = NULL;
		double t0 = now_s();
		int rc = memscan_snapshot_take(proc, NULL, &s);

		if (rc != MEMSCAN_OK) {
			fig_skip(fm, "memscan_snapshot_take: %s", memscan_strerror(rc));
			break;
		}
		fig_add(fm, (double)g_target_bytes / (now_s() - t0) / GB);
		memscan_snapshot_free(s);
	}
	for (int r = 0; r < o->reps; r++) {
		memscan_snapshot *s = NULL;
		double t0 = now_s();
		int rc = memscan_snapshot_take(proc, NULL, &s);

		if (rc == MEMSCAN_OK)
			rc = memscan_snapshot_save(s, path);
		if (rc != MEMSCAN_OK) {
			fig_skip(ff, "snapshot to file: %s", memscan_strerror(rc));
			memscan_snapshot_free(s);
			break;
		}
		fig_add(ff, (double)g_target_bytes / (now_s() - t0) / GB);
		memscan_snapshot_free(s);
		unlink(path);
	}
	fig_note(ff, "file in %s", o->tmpdir);
}

/* Detection at a fraction: change, detect (timed), verify, accept; WATCH: detect_update (timed), as
 * `memscan diff --watch` does. Returns 0 on success. */
static int detect_once(target *t, memscan_process *proc, memscan_detector *det, double frac, int watch,
                       double *ret_dt, uint64_t *ret_expected, uint64_t *ret_got)
{
	memscan_diff *diff = NULL;
	uint64_t expected = 0;
	double t0;
	int rc;

	if (target_change(t, frac, &expected, NULL) != 0) {
		bench_log("the target did not answer 'change'");
		return -1;
	}
	t0 = now_s();
	if (watch)
		rc = memscan_detector_detect_update(det, proc, NULL, &diff);
	else
		rc = memscan_detector_detect_changes(det, proc, NULL, &diff);
	*ret_dt = now_s() - t0;
	if (rc != MEMSCAN_OK) {
		bench_log("detection: %s", memscan_strerror(rc));
		return -1;
	}
	*ret_expected = expected;
	*ret_got = memscan_diff_changed_bytes(diff);
	memscan_diff_free(diff);
	rc = watch ? MEMSCAN_OK : memscan_detector_accept(det);
	return rc == MEMSCAN_OK ? 0 : -1;
}

static int plausible(uint64_t expected, uint64_t got)
{
	/* the buffer's changes, plus at most 64 KiB of the target's own bookkeeping (stdio, stack) */
	return got >= expected && got <= expected + 65536;
}

static void bench_detect(const bench_opts *o, target *t, memscan_process *proc)
{
	static const double fracs[3] = { 0.0001, 0.01, 0.5 };
	static const char *names[3] = { "memscan.detect_0.01pct", "memscan.detect_1pct",
		                        "memscan.detect_50pct" };
	memscan_detector *det = NULL;
	int rc;

	if (memscan_detector_new(&det) != MEMSCAN_OK)
		return;
	rc = memscan_detector_initialize(det, proc, NULL);
	for (int k = 0; k < 3; k++) {
		char desc[120];
		figure *f;
		uint64_t expected = 0, got = 0;
		int bad = 0;

		snprintf(desc, sizeof(desc), "detector re-read + diff, %g%% of the buffer changed",
		         fracs[k] * 100);
		f = fig_new(names[k], "GB/s", desc);
		if (rc != MEMSCAN_OK) {
			fig_skip(f, "detector_initialize: %s", memscan_strerror(rc));
			continue;
		}
		for (int r = 0; r < o->reps; r++) {
			double dt;

			if (detect_once(t, proc, det, fracs[k], 0, &dt, &expected, &got) != 0) {
				fig_skip(f, "detection failed");
				break;
			}
			fig_add(f, (double)g_target_bytes / dt / GB);
			bad += !plausible(expected, got);
		}
		if (!f->skipped)
			fig_note(f, "last: %" PRIu64 " bytes changed, %" PRIu64 " reported%s", expected, got,
			         bad ? "; IMPLAUSIBLE count" : "");
	}
	memscan_detector_free(det);
}

void bench_local(const bench_opts *o, target *t)
{
	memscan_process *proc = NULL;
	memscan_region_list *list = NULL;
	memscan_filter filt;
	figure *fc = fig_new("ceiling.vm_readv", "GB/s",
	                     "process_vm_readv of the target's regions, 16 MiB calls, reused buffer");
	uint8_t *buf;
	int rc;

	rc = memscan_process_open((int)t->c.pid, &proc);
	if (rc != MEMSCAN_OK) {
		bench_log("memscan_process_open(%d): %s", (int)t->c.pid, memscan_strerror(rc));
		return;
	}
	memscan_filter_default(&filt);
	rc = memscan_regions_read(proc, &filt, &list);
	if (rc != MEMSCAN_OK) {
		bench_log("memscan_regions_read: %s", memscan_strerror(rc));
		memscan_process_free(proc);
		return;
	}
	g_target_bytes = memscan_region_list_bytes(list);
	buf = big_alloc(CHUNK);
	if (buf) {
		uint64_t got = 0;

		ceiling_pass(t->c.pid, list, buf); /* warm-up */
		for (int r = 0; r < o->reps; r++) {
			double t0 = now_s();

			got = ceiling_pass(t->c.pid, list, buf);
			fig_add(fc, (double)g_target_bytes / (now_s() - t0) / GB);
		}
		fig_note(fc, "%zu regions, %.1f MiB, %.1f MiB readable", memscan_region_list_count(list),
		         (double)g_target_bytes / MIB, (double)got / MIB);
		munmap(buf, CHUNK);
	}
	bench_ceiling2(o, t->c.pid, list);
	memscan_region_list_free(list);

	bench_scan(o, t, proc);
	bench_snapshot(o, proc);
	bench_detect(o, t, proc);
	memscan_process_free(proc);
}

/* B9: a watch loop (detect_update, as `memscan diff --watch`) on a big target with 0.01% changing
 * between intervals. */
void bench_watch(const bench_opts *o)
{
	char desc[120];
	figure *fm, *fp;
	target t;
	memscan_process *proc = NULL;
	memscan_detector *det = NULL;
	double *dts;
	int n = 0, bad = 0;

	snprintf(desc, sizeof(desc), "watch interval detection, %.0f MiB target, 0.01%% changed: median",
	         (double)o->watch_size / MIB);
	fm = fig_new("watch.interval_p50", "ms", desc);
	snprintf(desc, sizeof(desc), "watch interval detection, %.0f MiB target, 0.01%% changed: p90",
	         (double)o->watch_size / MIB);
	fp = fig_new("watch.interval_p90", "ms", desc);
	dts = calloc((size_t)o->watch_intervals, sizeof(*dts));
	if (!dts || target_start(o, &t, o->watch_size, 0) != 0) {
		fig_skip(fm, "cannot start the watch target");
		fig_skip(fp, "cannot start the watch target");
		free(dts);
		return;
	}
	if (memscan_process_open((int)t.c.pid, &proc) != MEMSCAN_OK ||
	    memscan_detector_new(&det) != MEMSCAN_OK ||
	    memscan_detector_initialize(det, proc, NULL) != MEMSCAN_OK) {
		fig_skip(fm, "cannot initialize the detector");
		fig_skip(fp, "cannot initialize the detector");
	} else {
		for (int i = 0; i < o->watch_intervals; i++) {
			uint64_t expected, got;

			if (detect_once(&t, proc, det, 0.0001, 1, &dts[n], &expected, &got) != 0)
				break;
			bad += !plausible(expected, got);
			n++;
		}
		for (int i = 0; i < n && i < BENCH_MAX_RUNS; i++) {
			fm->runs[fm->n++] = dts[i] * 1000;
			fp->runs[fp->n++] = dts[i] * 1000;
		}
		fm->median = median_of(dts, n) * 1000;
		fp->median = percentile_of(dts, n, 0.9) * 1000;
		fig_note(fp, "%d intervals%s", n, bad ? "; IMPLAUSIBLE change counts" : "");
	}
	memscan_detector_free(det);
	memscan_process_free(proc);
	target_stop(&t);
	free(dts);
}

/* Pages of [ADDR, ADDR + LEN) that PID's pagemap reports present, or -1. */
static long present_pages(pid_t pid, uint64_t addr, uint64_t len)
{
	uint64_t entries[512];
	long page = sysconf(_SC_PAGESIZE), present = 0;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (uint64_t off = 0; off < len; off += 512 * (uint64_t)page) {
		size_t n = (len - off) / (uint64_t)page < 512 ? (size_t)((len - off) / (uint64_t)page) : 512;
		if (pread(fd, entries, n * 8, (off_t)((addr + off) / (uint64_t)page * 8)) !=
		    (ssize_t)(n * 8)) {
			present = -1;
			break;
		}
		for (size_t k = 0; k < n; k++)
			present += (long)(entries[k] >> 63);
	}
	close(fd);
	return present;
}

/* Times REPS snapshots of LIST's regions into F (GB/s of address space). */
static void sparse_snapshots(figure *f, memscan_process *proc, const memscan_region_list *list, int reps)
{
	for (int r = 0; r < reps; r++) {
		memscan_snapshot *s = NULL;
		double t0 = now_s();
		int rc = memscan_snapshot_take(proc, list, &s);

		if (rc != MEMSCAN_OK) {
			fig_skip(f, "memscan_snapshot_take: %s", memscan_strerror(rc));
			return;
		}
		fig_add(f, (double)memscan_region_list_bytes(list) / (now_s() - t0) / GB);
		memscan_snapshot_free(s);
	}
}

/* Sparse memory (a big private anonymous region with one page in 64 ever written, as a reserved heap
 * or arena is): snapshots that skip the never-written pages (pagemap), then snapshots that read every
 * page: the first such read maps the zero page into the target, later ones read it. The order matters:
 * after a read of every page, no page is absent any more. */
void bench_sparse(const bench_opts *o)
{
	figure *fs = fig_new("memscan.sparse_skip", "GB/s",
	                     "snapshot of a sparse region (1 page in 64 written), absent pages skipped");
	figure *ff = fig_new("memscan.sparse_read_first", "GB/s",
	                     "the same, every page read (first time: the kernel maps the zero page)");
	figure *fa = fig_new("memscan.sparse_read", "GB/s", "the same, every page read (zero page mapped)");
	memscan_region_list *list = NULL;
	memscan_process *proc = NULL;
	memscan_filter filt;
	target t;

	if (target_start_ex(o, &t, 4096, 0, NULL, o->watch_size) != 0) {
		fig_skip(fs, "cannot start the sparse target");
		return;
	}
	memscan_filter_default(&filt);
	filt.range_start = t.sparse_addr;
	filt.range_end = t.sparse_addr + t.sparse_size;
	if (memscan_process_open((int)t.c.pid, &proc) != MEMSCAN_OK ||
	    memscan_regions_read(proc, &filt, &list) != MEMSCAN_OK || memscan_region_list_count(list) != 1) {
		fig_skip(fs, "cannot list the sparse region");
	} else if (!memscan_process_skips_absent(proc)) {
		fig_skip(fs, "pagemap or PROCMAP_QUERY (Linux 6.11+) unavailable");
	} else {
		long mapped0 = present_pages(t.c.pid, t.sparse_addr, t.sparse_size), mapped1, mapped2;

		sparse_snapshots(fs, proc, list, o->reps);
		mapped1 = present_pages(t.c.pid, t.sparse_addr, t.sparse_size);
		if (memscan_process_set_skip_absent(proc, 0) == MEMSCAN_OK) {
			sparse_snapshots(ff, proc, list, 1);
			sparse_snapshots(fa, proc, list, o->reps);
		}
		mapped2 = present_pages(t.c.pid, t.sparse_addr, t.sparse_size);
		fig_note(
		    fs,
		    "%.0f MiB region; %.2fx reading every page the first time, %.2fx later; pages mapped in "
		    "the target: %ld, %ld after skipping, %ld after reading every page",
		    (double)t.sparse_size / MIB,
		    fig_median("memscan.sparse_skip") / fig_median("memscan.sparse_read_first"),
		    fig_median("memscan.sparse_skip") / fig_median("memscan.sparse_read"), mapped0, mapped1,
		    mapped2);
	}
	memscan_region_list_free(list);
	memscan_process_free(proc);
	target_stop(&t);
}
