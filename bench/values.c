/* SPDX-License-Identifier: MIT */
/* memscan-bench value scans (B10-B12): an exact i32 scan against the byte-pattern scan and scanmem,
 * narrowing 1 M candidates, and an unknown initial value then --changed with the memory it holds. */
#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/memscan.h>

/* One needle per this many bytes of the target: 1 M candidates in 512 MiB. */
#define VALUES_BYTES_PER_NEEDLE 512

static int count_hit(void *ctx, uint64_t address, const memscan_region *region)
{
	(void)address;
	(void)region;
	(*(uint64_t *)ctx)++;
	return 0;
}

/* Seconds of the byte-pattern scan of REGIONS for the needle's four bytes; -1 on failure. */
static double time_pattern(const bench_opts *o, memscan_process *proc, const memscan_region_list *regions,
                           uint64_t *ret_hits)
{
	char text[32];
	memscan_pattern *pat = NULL;
	double t0, dt = -1;

	snprintf(text, sizeof(text), "%02X %02X %02X %02X", o->needle & 0xff, (o->needle >> 8) & 0xff,
	         (o->needle >> 16) & 0xff, o->needle >> 24);
	*ret_hits = 0;
	if (memscan_pattern_parse(text, &pat, NULL) != MEMSCAN_OK)
		return -1;
	t0 = now_s();
	if (memscan_scan(proc, regions, pat, NULL, count_hit, ret_hits, NULL) == MEMSCAN_OK)
		dt = now_s() - t0;
	memscan_pattern_free(pat);
	return dt;
}

/* Seconds of the exact i32 value scan of REGIONS (NULL: the writable ones) into *RET_SET; -1. */
static double time_value(const bench_opts *o, memscan_process *proc, const memscan_region_list *regions,
                         memscan_value_set **ret_set)
{
	char text[32];
	memscan_value *v = NULL;
	memscan_value_scan_options opt = { .max_candidates = MEMSCAN_VALUE_SET_MAX };
	double t0, dt = -1;

	snprintf(text, sizeof(text), "%" PRId32, (int32_t)o->needle);
	*ret_set = NULL;
	if (memscan_value_parse(MEMSCAN_VALUE_I32, text, NULL, &v, NULL) != MEMSCAN_OK)
		return -1;
	t0 = now_s();
	if (memscan_value_scan(proc, regions, v, &opt, ret_set) == MEMSCAN_OK)
		dt = now_s() - t0;
	memscan_value_free(v);
	return dt;
}

/* B10 first half: the value scan and the pattern scan of the target's buffer, in pairs (the order
 * alternating), and the ratio of each pair: a shared machine's load drifts less within a pair. */
static void values_vs_pattern(const bench_opts *o, target *t, memscan_process *proc,
                              const memscan_region_list *buffer)
{
	figure *fp = fig_new("values.pattern_scan", "GB/s", "memscan_scan, the needle's 4 bytes, the buffer");
	figure *fv = fig_new("values.exact_i32_buffer", "GB/s", "memscan_value_scan, exact i32, the buffer");
	figure *fr =
	    fig_new("values.exact_over_pattern", "x", "value scan rate / pattern scan rate, per pair");
	uint64_t hits = 0, count = 0;

	for (int r = 0; r < 2 * o->reps; r++) {
		memscan_value_set *set = NULL;
		double tp = -1, tv = -1;

		if (r % 2)
			tp = time_pattern(o, proc, buffer, &hits);
		tv = time_value(o, proc, buffer, &set);
		if (r % 2 == 0)
			tp = time_pattern(o, proc, buffer, &hits);
		count = memscan_value_set_count(set);
		memscan_value_set_free(set);
		if (tp <= 0 || tv <= 0) {
			fig_skip(fv, "a scan failed");
			fig_skip(fp, "a scan failed");
			fig_skip(fr, "a scan failed");
			return;
		}
		fig_add(fp, (double)t->size / tp / GB);
		fig_add(fv, (double)t->size / tv / GB);
		fig_add(fr, tp / tv);
	}
	fig_note(fp, "%" PRIu64 " hits (expected %" PRIu64 ")", hits, t->needles);
	fig_note(fv, "%" PRIu64 " candidates (expected %" PRIu64 ")%s", count, t->needles,
	         count == t->needles ? "" : " MISMATCH");
}

/* The bytes per candidate of SET's file (version 2: delta-coded addresses, then the values). */
static void set_file_size(const bench_opts *o, const memscan_value_set *set)
{
	figure *f =
	    fig_new("values.set_file", "B/cand", "set file of the needles' exact i32 set, per candidate");
	char path[320];
	struct stat st;

	snprintf(path, sizeof(path), "%s/needles.set", o->tmpdir);
	if (memscan_value_set_save(set, path) != MEMSCAN_OK || stat(path, &st) != 0 ||
	    memscan_value_set_count(set) == 0) {
		fig_skip(f, "memscan_value_set_save failed");
		return;
	}
	fig_add(f, (double)st.st_size / (double)memscan_value_set_count(set));
	fig_note(f, "%.1f MiB for %" PRIu64 " candidates (version 1 took 12 bytes each)",
	         (double)st.st_size / MIB, memscan_value_set_count(set));
	unlink(path);
}

/* Reads VmRSS or VmHWM of this process in bytes; after clear_peak, VmHWM restarts from VmRSS. */
static double self_bytes(const char *field)
{
	long kib = proc_status_kib(getpid(), field);

	return kib < 0 ? -1 : (double)kib * 1024.0;
}

static void clear_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "we");

	if (f) {
		fputs("5", f); /* resets the peak resident set (VmHWM) to the current one */
		fclose(f);
	}
}

/* B11 and B12's memscan halves: narrowing the 1 M needle set, then an unknown i32 scan of the writable
 * regions, a change of 0.1% of the buffer, and --changed, with the peak memory they added. */
static void values_narrow(const bench_opts *o, target *t, memscan_process *proc)
{
	figure *fw = fig_new("values.exact_i32", "s", "memscan_value_scan, exact i32, writable regions");
	figure *fn = fig_new("values.narrow_1m", "s", "memscan_value_set_narrow of the needles, UNCHANGED");
	figure *fu =
	    fig_new("values.unknown_changed", "s", "memscan_value_scan_unknown i32 + narrow CHANGED");
	figure *fm =
	    fig_new("values.unknown_peak", "x", "peak memory added by unknown + changed / bytes scanned");
	memscan_value_pred unchanged = { .kind = MEMSCAN_PRED_UNCHANGED },
	                   changed = { .kind = MEMSCAN_PRED_CHANGED };
	uint64_t kept = 0, found = 0, scanned = 0, bytes = 0;

	for (int r = 0; r < o->reps; r++) {
		memscan_value_set *set = NULL, *out = NULL, *unk = NULL;
		double tw = time_value(o, proc, NULL, &set), t0 = now_s(), tn, tu, base;
		int rc =
		    set ? memscan_value_set_narrow(proc, set, &unchanged, MEMSCAN_VALUE_SET_MAX, &out) : -1;

		tn = now_s() - t0;
		if (r == 0 && set)
			set_file_size(o, set);
		kept = memscan_value_set_count(out);
		memscan_value_set_free(out);
		memscan_value_set_free(set);
		out = NULL;
		if (tw <= 0 || rc != MEMSCAN_OK) {
			fig_skip(fn, "scan or narrowing failed");
			return;
		}
		fig_add(fw, tw);
		fig_add(fn, tn);
		clear_peak();
		base = self_bytes("VmRSS");
		t0 = now_s();
		rc = memscan_value_scan_unknown(proc, NULL, MEMSCAN_VALUE_I32, NULL, &unk);
		tu = now_s() - t0;
		scanned = memscan_value_set_count(unk) * 4;
		if (rc == MEMSCAN_OK && target_change(t, 0.001, &bytes, NULL) == 0) {
			t0 = now_s();
			rc = memscan_value_set_narrow(proc, unk, &changed, MEMSCAN_VALUE_SET_MAX, &out);
			tu += now_s() - t0;
		}
		found = memscan_value_set_count(out);
		memscan_value_set_free(out);
		memscan_value_set_free(unk);
		if (rc != MEMSCAN_OK || scanned == 0) {
			fig_skip(fu, "unknown scan or narrowing failed");
			return;
		}
		fig_add(fu, tu);
		fig_add(fm, (self_bytes("VmHWM") - base) / (double)scanned);
	}
	fig_note(fn, "%" PRIu64 " of %" PRIu64 " needles kept", kept, t->needles);
	fig_note(fu, "%.0f MiB scanned; %" PRIu64 " slots changed (last change: %" PRIu64 " bytes)",
	         (double)scanned / MIB, found, bytes);
}

/* A scanmem session on PID driven through its stdin, its stderr (where it reports each search's
 * match count) merged into the stdout pipe. */
static int sm_start(child *c, const char *prog, pid_t pid)
{
	char spid[16];
	const char *argv[] = { "/bin/sh", "-c", "exec \"$0\" -p \"$1\" 2>&1", prog, spid, NULL };

	snprintf(spid, sizeof(spid), "%d", (int)pid);
	return child_start(c, argv, NULL);
}

/* Sends one search command and waits for the count scanmem reports when it is done: the seconds
 * between, or -1 (an error, or no answer in 10 minutes); *RET_MATCHES gets the count. */
static double sm_search(child *c, const char *cmd, unsigned long long *ret_matches)
{
	char line[512];
	double t0 = now_s();

	if (child_write_line(c, cmd) != 0)
		return -1;
	while (child_read_line(c, line, sizeof(line), 600000) == 0) {
		char *p = strstr(line, "we currently have ");
		if (strstr(line, "error:"))
			return -1;
		if (p) {
			*ret_matches = strtoull(p + 18, NULL, 10);
			return now_s() - t0;
		}
	}
	return -1;
}

static void sm_stop(child *c)
{
	child_write_line(c, "exit\n");
	child_stop(c);
}

/* scanmem's first int32 scan for the needle and its next scan '=' (one session per repetition). */
static void scanmem_scans(const bench_opts *o, target *t, const char *prog, figure *ff, figure *fn)
{
	char first[48];
	unsigned long long m_first = 0, m_next = 0;

	snprintf(first, sizeof(first), "%" PRId32 "\n", (int32_t)o->needle);
	for (int r = 0; r < o->slow_reps; r++) {
		child c;
		double tf = -1, tn = -1;

		if (sm_start(&c, prog, t->c.pid) == 0 &&
		    child_write_line(&c, "option scan_data_type int32\n") == 0 &&
		    (tf = sm_search(&c, first, &m_first)) >= 0)
			tn = sm_search(&c, "=\n", &m_next);
		sm_stop(&c);
		if (tf < 0 || tn < 0) {
			fig_skip(ff, "scanmem failed");
			fig_skip(fn, "scanmem failed");
			return;
		}
		fig_add(ff, tf);
		fig_add(fn, tn);
	}
	fig_note(ff, "%llu matches", m_first);
	fig_note(fn, "%llu kept", m_next);
}

/* scanmem's 'snapshot', a change of 0.1% of the buffer, then '!=' (once: it takes a minute or more),
 * with its peak resident memory. */
static void scanmem_snapshot(target *t, const char *prog, figure *fs)
{
	unsigned long long m_snap = 0, m_changed = 0;
	uint64_t bytes = 0;
	double ts = -1, tc = -1;
	long hwm = -1;
	child c;

	if (sm_start(&c, prog, t->c.pid) == 0 && child_write_line(&c, "option scan_data_type int32\n") == 0 &&
	    (ts = sm_search(&c, "snapshot\n", &m_snap)) >= 0 && target_change(t, 0.001, &bytes, NULL) == 0)
		tc = sm_search(&c, "!=\n", &m_changed);
	if (tc >= 0)
		hwm = proc_status_kib(c.pid, "VmHWM");
	sm_stop(&c);
	if (ts < 0 || tc < 0) {
		fig_skip(fs, "scanmem failed");
		return;
	}
	fig_add(fs, ts + tc);
	fig_note(fs, "snapshot %.1f s + != %.1f s; %llu slots, %llu changed; peak RSS %.0f MiB", ts, tc,
	         m_snap, m_changed, (double)hwm / 1024.0);
}

/* scanmem's figures: each search timed from the command to scanmem's count, in a running session. */
static void values_scanmem(const bench_opts *o, target *t)
{
	figure *ff = fig_new("peer.scanmem_i32", "s", "scanmem first int32 scan for the needle");
	figure *fn = fig_new("peer.scanmem_next", "s", "scanmem next scan '=' of the needles");
	figure *fs = fig_new("peer.scanmem_snapshot", "s", "scanmem 'snapshot', change 0.1%, then '!='");
	char prog[256];

	if (o->quick || o->no_peers || !find_program("scanmem", prog, sizeof(prog))) {
		const char *why = o->quick      ? "quick run"
		                  : o->no_peers ? "--no-peers"
		                                : "scanmem not installed";
		fig_skip(ff, "%s", why);
		fig_skip(fn, "%s", why);
		fig_skip(fs, "%s", why);
		return;
	}
	scanmem_scans(o, t, prog, ff, fn);
	scanmem_snapshot(t, prog, fs);
}

/* The median of figure A / the median of figure B, or -1 when either is missing. */
static double fig_ratio(const char *a, const char *b)
{
	double x = fig_median(a), y = fig_median(b);

	return x < 0 || y <= 0 ? -1 : x / y;
}

static void values_ratios(void)
{
	ratio_set(ratio_new("B10", "exact i32 value scan / byte-pattern scan, same memory", 0.8, 0),
	          fig_median("values.exact_over_pattern"));
	ratio_set(ratio_new("B10", "exact i32 value scan / ceiling (B1's bound)", 0.75, 0),
	          fig_ratio("values.exact_i32_buffer", "ceiling.vm_readv"));
	ratio_set(ratio_new("B10", "exact i32 value scan / scanmem int32 scan (time)", 30, 0),
	          fig_ratio("peer.scanmem_i32", "values.exact_i32"));
	ratio_set(ratio_new("B11", "narrowing 1 M candidates / scanmem next scan (time)", 10, 0),
	          fig_ratio("peer.scanmem_next", "values.narrow_1m"));
	ratio_set(ratio_new("B12", "unknown then changed / scanmem snapshot then != (time)", 10, 0),
	          fig_ratio("peer.scanmem_snapshot", "values.unknown_changed"));
	ratio_set(ratio_new("B12", "peak memory of unknown then changed / bytes scanned", 1.1, 1),
	          fig_median("values.unknown_peak"));
}

void bench_values(const bench_opts *o)
{
	uint64_t needles = o->target_size / VALUES_BYTES_PER_NEEDLE;
	memscan_process *proc = NULL;
	memscan_region_list *buffer = NULL;
	memscan_filter filt;
	target t;

	if (target_start(o, &t, o->target_size, needles) != 0) {
		bench_log("values: cannot start the target");
		return;
	}
	memscan_filter_default(&filt);
	filt.range_start = t.addr;
	filt.range_end = t.addr + t.size;
	if (memscan_process_open((int)t.c.pid, &proc) != MEMSCAN_OK ||
	    memscan_regions_read(proc, &filt, &buffer) != MEMSCAN_OK) {
		bench_log("values: cannot open the target's buffer");
	} else {
		values_vs_pattern(o, &t, proc, buffer);
		values_narrow(o, &t, proc);
	}
	memscan_region_list_free(buffer);
	memscan_process_free(proc);
	values_scanmem(o, &t);
	target_stop(&t);
	values_ratios();
}
