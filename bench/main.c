/* SPDX-License-Identifier: MIT */
/* memscan-bench: measures memscan against the read ceiling and its peers, prints a table and writes JSON. */
#include "bench.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#ifndef BENCH_SOURCE_DIR
#define BENCH_SOURCE_DIR "."
#endif
#ifndef BENCH_AGENT_PATH
#define BENCH_AGENT_PATH "memscan-agent"
#endif
#ifndef BENCH_TARGET_PATH
#define BENCH_TARGET_PATH "memscan-bench-target"
#endif

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memscan-bench [--quick] [--json-out FILE] [options]\n"
	        "Measures memscan against the process_vm_readv ceiling, scanmem, gcore and gdbserver\n"
	        "(docs/benchmarks.md). Prints a table; writes every figure and the B1-B9 ratios as JSON.\n"
	        "  --quick             smaller targets, fewer repetitions (under a minute)\n"
	        "  --json-out FILE     default " BENCH_SOURCE_DIR "/bench/results/latest.json\n"
	        "  --reps N            repetitions of each measure (full 5, quick 3)\n"
	        "  --size N            main target size in MiB (full 512, quick 128)\n"
	        "  --agent PATH        memscan-agent (default: the one of this build tree)\n"
	        "  --target PATH       memscan-bench-target (default: the one of this build tree)\n"
	        "  --no-peers          skip scanmem, gcore and gdbserver\n"
	        "  --no-remote         skip the agent measures\n"
	        "  --link RATE         only remote downloads, plain and --compress, in a private network\n"
	        "                      namespace whose loopback tc shapes to RATE (e.g. 1gbit, 100mbit);\n"
	        "                      needs root and iproute2\n");
}

/* A tc rate: a whole number and kbit, mbit or gbit. */
static int valid_rate(const char *v)
{
	size_t n = strspn(v, "0123456789");

	return n > 0 && n < 10 &&
	       (!strcmp(v + n, "kbit") || !strcmp(v + n, "mbit") || !strcmp(v + n, "gbit"));
}

/* Moves the bench (and every process it starts from now on) into a new network namespace whose
 * loopback tc shapes to RATE: the agent and its clients then talk over a slow link. */
static int link_setup(const char *rate)
{
	char ip[512], tc[512];
	double wall;

	if (!find_program("ip", ip, sizeof(ip)) || !find_program("tc", tc, sizeof(tc))) {
		bench_log("--link needs ip and tc: apt-get install iproute2");
		return -1;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		bench_log("--link: a network namespace of its own: %s (run as root)", strerror(errno));
		return -1;
	}
	const char *up[] = { ip, "link", "set", "lo", "up", NULL };
	/* the burst holds a few of lo's 64 KiB segments */
	const char *shape[] = { tc,     "qdisc", "add",   "dev", "lo",      "root",  "tbf",
		                "rate", rate,    "burst", "1mb", "latency", "100ms", NULL };
	if (run_command(up, NULL, 10000, &wall) != 0 || run_command(shape, NULL, 10000, &wall) != 0) {
		bench_log("--link: ip link set lo up / tc qdisc add dev lo root tbf rate %s failed", rate);
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, bench_opts *o)
{
	long reps = 0, size = 0;

	memset(o, 0, sizeof(*o));
	o->agent_path = BENCH_AGENT_PATH;
	o->target_path = BENCH_TARGET_PATH;
	o->needle = 0x5EC7E7A1u;
	o->needles = 1000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (!strcmp(a, "--quick")) {
			o->quick = 1;
		} else if (!strcmp(a, "--no-peers")) {
			o->no_peers = 1;
		} else if (!strcmp(a, "--no-remote")) {
			o->no_remote = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (v && !strcmp(a, "--json-out")) {
			o->json_out = v;
			i++;
		} else if (v && !strcmp(a, "--link")) {
			if (!valid_rate(v))
				return -1;
			o->link_rate = v;
			i++;
		} else if (v && !strcmp(a, "--agent")) {
			o->agent_path = v;
			i++;
		} else if (v && !strcmp(a, "--target")) {
			o->target_path = v;
			i++;
		} else if (v && !strcmp(a, "--reps")) {
			reps = strtol(v, &end, 10);
			if (*end || reps < 1 || reps > BENCH_MAX_RUNS)
				return -1;
			i++;
		} else if (v && !strcmp(a, "--size")) {
			size = strtol(v, &end, 10);
			if (*end || size < 16 || size > 65536)
				return -1;
			i++;
		} else {
			return -1;
		}
	}
	if (o->quick) {
		o->reps = 3;
		o->slow_reps = 1;
		o->target_size = 128ull << 20;
		o->watch_size = 256ull << 20;
		o->gdb_range = 8ull << 20;
		o->watch_intervals = 15;
		o->clients = 16;
		o->client_reqs = 50;
		o->latency_reqs = 200;
	} else {
		o->reps = 5;
		o->slow_reps = 3;
		o->target_size = 512ull << 20;
		o->watch_size = 1024ull << 20;
		o->gdb_range = 32ull << 20;
		o->watch_intervals = 30;
		o->clients = 64;
		o->client_reqs = 200;
		o->latency_reqs = 500;
	}
	if (reps)
		o->reps = (int)reps;
	if (o->slow_reps > o->reps)
		o->slow_reps = o->reps;
	if (size)
		o->target_size = (uint64_t)size << 20;
	return 0;
}

/* a / b, or -1 if either is missing */
static double div_or_missing(double a, double b)
{
	return a < 0 || b <= 0 ? -1 : a / b;
}

static void compute_ratios(const bench_opts *o)
{
	double ceil = fig_median("ceiling.vm_readv"), held = fig_median("agent.held");
	double aead = fig_median("base.aead_chacha20"), zstd = fig_median("base.zstd1"), slow, budget;
	double w1 = fig_median("remote.wire_0.01pct"), w2 = fig_median("remote.wire_1pct");
	double p90 = fig_median("watch.interval_p90"), cores = fig_median("clients.total_cores");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ratio *r;

	r = ratio_new("B1", "scan / ceiling", 0.75, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.scan"), ceil));
	r = ratio_new("B1", "scan / scanmem first scan", 40, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.scan"), fig_median("peer.scanmem_scan")));
	r = ratio_new("B2", "snapshot to memory / ceiling", 0.7, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.snapshot_mem"), ceil));
	r = ratio_new("B2", "snapshot to a file / gcore", 5, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.snapshot_file"), fig_median("peer.gcore")));
	stream_ratios();
	fleet_ratios();
	snapcli_ratios();
	r = ratio_new("B3", "detection at 0.01% / ceiling", 0.7, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.detect_0.01pct"), ceil));
	r = ratio_new("B3", "detection at 1% / ceiling", 0.4, 0);
	ratio_set(r, div_or_missing(fig_median("memscan.detect_1pct"), ceil));
	r = ratio_new("B4", "remote diff wall / local detection (0.01%)", 1.3, 1);
	ratio_set(
	    r, div_or_missing(fig_median("remote.diff_0.01pct"), fig_median("local.detect_accept_0.01pct")));
	r = ratio_new("B4", "wire bytes / (encoded change runs + 4 KiB), worst", 1.5, 1);
	ratio_set(r, w1 < 0 && w2 < 0 ? -1 : (w1 > w2 ? w1 : w2));
	slow = aead;
	if (zstd > 0 && (slow < 0 || zstd < slow))
		slow = zstd;
	r = ratio_new("B5", "remote snapshot to file / slower of (AEAD, zstd -1)", 0.8, 0);
	ratio_set(r, div_or_missing(fig_median("remote.snapshot_file"), slow));
	r = ratio_new("B5", "remote snapshot to file / gdbserver remote dump", 50, 0);
	ratio_set(r, div_or_missing(fig_median("remote.snapshot_file"), fig_median("peer.gdbserver_dump")));
	r = ratio_new("B6", "small remote request p50 / bare nng round trip p50", 1.5, 1);
	ratio_set(r, div_or_missing(fig_median("remote.regions_p50"), fig_median("nng.reqrep_4k_p50")));
	budget = held < 0 ? -1 : 1.1 * held + 32;
	r = ratio_new("B7", "agent RSS holding a snapshot / (1.1 x held + 32 MiB)", 1.0, 1);
	ratio_set(r, div_or_missing(fig_median("agent.rss_holding"), budget));
	r = ratio_new("B7", "agent peak RSS in a 50% diff / (1.1 x held + 32 MiB)", 1.0, 1);
	ratio_set(r, div_or_missing(fig_median("agent.hwm_diff50"), budget));
	r = ratio_new("B8", "errors among the concurrent clients", 0, 1);
	ratio_set(r, fig_median("clients.errors"));
	ratio_note(r, "%d x %d", o->clients, o->client_reqs);
	r = ratio_new("B8", "cores busy (agent + clients) / cores", 0.75, 0);
	ratio_set(r, cores < 0 ? -1 : cores / (double)ncpu);
	ratio_note(r, "agent alone %.2f cores", fig_median("clients.agent_cores"));
	r = ratio_new("M1", "4095 x 00 + 1? / 4D 5A 90 00, time over zeros", 4, 1);
	ratio_set(r,
	          div_or_missing(fig_median("match.plain4_zeros"), fig_median("match.zeros_nibble_zeros")));
	r = ratio_new("M1", "4096 x 00 (all match) / 4D 5A 90 00, time over zeros", 400, 1);
	ratio_set(r, div_or_missing(fig_median("match.plain4_zeros"), fig_median("match.zeros4096_zeros")));
	r = ratio_new("P1", "pointer index + depth-4 search / snapshot file load", 4, 1);
	ratio_set(r, div_or_missing(fig_median("pointers.index_search"), fig_median("pointers.load")));
	ratio_note(r, "%.2fx the file's plain read",
	           div_or_missing(fig_median("pointers.index_search"), fig_median("pointers.read_file")));
	r = ratio_new("P2", "pointer index bytes / snapshot bytes", 0.5, 1);
	ratio_set(r, fig_median("pointers.index_mem"));
	r = ratio_new("B9", "watch p90 interval (scaled to 1 GiB) / 100 ms", 1.0, 1);
	ratio_set(r, p90 < 0 ? -1 : p90 * (double)(1ull << 30) / (double)o->watch_size / 100.0);
	if (o->watch_size != (1ull << 30))
		ratio_note(r, "measured on %.0f MiB, scaled linearly", (double)o->watch_size / MIB);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int make_parent_dirs(const char *path)
{
	char buf[1024];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* Prints the table, removes the scratch directory and writes the JSON: main's exit status. */
static int finish(const bench_opts *o, double t_start)
{
	double total = now_s() - t_start;

	print_table(o);
	printf("total %.1f s\n", total);
	nftw(o->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (make_parent_dirs(o->json_out) != 0 || write_json(o, o->json_out, total) != 0)
		return 1;
	printf("json: %s\n", o->json_out);
	return 0;
}

int main(int argc, char **argv)
{
	bench_opts o;
	target t;
	char json_default[1024];
	const char *tmp = getenv("TMPDIR");
	double t_start = now_s();

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (parse_opts(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		bench_log("libsodium failed to initialize");
		return 1;
	}
	if (!o.json_out) {
		snprintf(json_default, sizeof(json_default), "%s/bench/results/%s.json", BENCH_SOURCE_DIR,
		         o.link_rate ? "link" : "latest");
		o.json_out = json_default;
	}
	snprintf(o.tmpdir, sizeof(o.tmpdir), "%s/memscan-bench.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(o.tmpdir)) {
		bench_log("mkdtemp %s: %s", o.tmpdir, strerror(errno));
		return 1;
	}
	if (access(o.target_path, X_OK) != 0 || (!o.no_remote && access(o.agent_path, X_OK) != 0)) {
		bench_log("missing %s or %s (build memscan-bench-target and memscan-agent, or pass "
		          "--target/--agent)",
		          o.target_path, o.agent_path);
		nftw(o.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	bench_log("%s run: target %.0f MiB, %d repetitions, scratch %s", o.quick ? "quick" : "full",
	          (double)o.target_size / MIB, o.reps, o.tmpdir);
	if (o.link_rate) {
		if (link_setup(o.link_rate) != 0) {
			nftw(o.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			return 1;
		}
		bench_log("link: loopback shaped to %s in a network namespace of its own", o.link_rate);
		bench_link(&o);
		return finish(&o, t_start);
	}

	bench_log("baselines: AEAD, memcpy, zstd");
	bench_baselines(&o);
	bench_log("matcher: worst-case patterns over zeroed memory");
	bench_match(&o);
	if (target_start(&o, &t, o.target_size, o.needles) != 0) {
		bench_log("cannot start the target");
		nftw(o.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	bench_log("target %d: %.0f MiB at 0x%" PRIx64 ", %" PRIu64 " needles", (int)t.c.pid,
	          (double)t.size / MIB, t.addr, t.needles);
	bench_log("local: ceiling, scan, snapshot, detection");
	bench_local(&o, &t);
	bench_log("stream: snapshot into a file, write floor, CLI peak RSS");
	bench_stream(&o, &t);
	bench_log("peers: scanmem, gcore, gdbserver");
	bench_peers(&o, &t);
	bench_log("remote: agent over loopback");
	bench_remote(&o, &t);
	target_stop(&t);
	bench_log("watch: %.0f MiB target", (double)o.watch_size / MIB);
	bench_watch(&o);
	bench_log("sparse: %.0f MiB region, one page in 64 written", (double)o.watch_size / MIB);
	bench_sparse(&o);
	bench_log("values: exact, narrowing and unknown-value scans, %.0f MiB target",
	          (double)o.target_size / MIB);
	bench_values(&o);
	bench_log("pointers: index and depth-4 search over a %.0f MiB snapshot file",
	          (double)o.target_size / MIB);
	bench_pointers(&o);
	bench_log("fleet: remote scan over %d agents on loopback against one", 16);
	bench_fleet(&o);
	bench_log("snapshot CLI: remote and local snapshot into a file, %u MiB target", 32u);
	bench_snapcli(&o);

	compute_ratios(&o);
	return finish(&o, t_start);
}
