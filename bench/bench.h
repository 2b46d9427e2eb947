/* SPDX-License-Identifier: MIT */
/* memscan-bench: shared declarations of the benchmark driver (figures, ratios, child processes). */
#ifndef MEMSCAN_BENCH_H
#define MEMSCAN_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_RUNS 64
#define GB             1e9
#define MIB            (1024.0 * 1024.0)

/* The run's settings (from the command line). */
typedef struct bench_opts {
	int quick;
	int reps;                 /* repetitions of each measure */
	int slow_reps;            /* repetitions of the slow measures (peers, remote snapshot) */
	uint64_t target_size;     /* main target buffer */
	uint64_t watch_size;      /* B9 target buffer */
	uint64_t gdb_range;       /* bytes gdbserver dumps / searches */
	int watch_intervals;      /* B9 intervals */
	int clients, client_reqs; /* B8 */
	int latency_reqs;         /* B6 */
	int no_peers, no_remote;
	const char *link_rate; /* --link: tc's rate ("1gbit"); only the shaped-link measures run */
	const char *json_out;
	const char *agent_path;
	const char *target_path;
	char tmpdir[256];
	uint32_t needle;
	uint64_t needles;
} bench_opts;

/* One measured figure: every repetition and their median. */
typedef struct figure {
	char name[48];
	char unit[12];
	char desc[120];
	double runs[BENCH_MAX_RUNS];
	int n;
	double median;
	int skipped;
	char note[200];
} figure;

/* One target ratio (B1..B9). */
typedef struct ratio {
	char id[8];
	char desc[120];
	double value;
	double target;
	int at_most; /* 1: value <= target passes; 0: value >= target passes */
	int valid;
	char note[200];
} ratio;

/* ---- util.c ---- */
double now_s(void);
double median_of(const double *v, int n);
double percentile_of(const double *v, int n, double p);
figure *fig_new(const char *name, const char *unit, const char *desc);
figure *fig_get(const char *name);
void fig_add(figure *f, double v);
void fig_skip(figure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fig_note(figure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double fig_median(const char *name); /* the median, or -1 if missing or skipped */
ratio *ratio_new(const char *id, const char *desc, double target, int at_most);
void ratio_set(ratio *r, double value);
void ratio_note(ratio *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_table(const bench_opts *o);
int write_json(const bench_opts *o, const char *path, double total_s);

/* A child process (target, agent, gdbserver) with its stdin/stdout as pipes. */
typedef struct child {
	pid_t pid;
	int in_fd;  /* its stdin, or -1 */
	int out_fd; /* its stdout, or -1 */
} child;

/* Starts ARGV[0] with stdin/stdout piped (stderr to ERR_PATH, or /dev/null if NULL). */
int child_start(child *c, const char *const *argv, const char *err_path);
/* Reads one line of the child's stdout within TIMEOUT_MS. */
int child_read_line(child *c, char *line, size_t len, int timeout_ms);
int child_write_line(child *c, const char *line);
void child_stop(child *c);
/* Runs ARGV to completion (stdout to OUT_PATH or /dev/null, stderr alike), within TIMEOUT_MS.
 * Returns the exit status, or -1 if it could not run or timed out; RET_WALL gets the wall time. */
int run_command(const char *const *argv, const char *out_path, int timeout_ms, double *ret_wall);
/* The first line of the file at PATH, without its newline, into OUT (LEN bytes); -1 if it cannot
 * be read. */
int bench_read_line(const char *path, char *out, size_t len);
/* The full path of PROG in $PATH, or NULL. */
const char *find_program(const char *prog, char *buf, size_t len);

/* A running memscan-bench-target. */
typedef struct target {
	child c;
	uint64_t addr, size, needles;
	uint64_t sparse_addr, sparse_size; /* the --sparse region, if asked for */
} target;

/* Starts memscan-bench-target with a SIZE-byte buffer of random bytes holding NEEDLES needles. */
int target_start(const bench_opts *o, target *t, uint64_t size, uint64_t needles);
/* The same with --fill FILL ("heap": heap-like objects instead of random bytes; NULL: random) and, if
 * SPARSE is not 0, a SPARSE-byte region where one page in 64 was written. */
int target_start_ex(const bench_opts *o, target *t, uint64_t size, uint64_t needles, const char *fill,
                    uint64_t sparse);
/* Asks the target to change the fraction F of its buffer; RET_BYTES gets how many bytes changed. */
int target_change(target *t, double f, uint64_t *ret_bytes, uint64_t *ret_runs);
void target_stop(target *t);

/* /proc readers. */
long proc_status_kib(pid_t pid, const char *field); /* VmRSS, VmHWM... or -1 */
double proc_cpu_s(pid_t pid);                       /* utime + stime in seconds, or -1 */
double self_cpu_s(void);

/* ---- local.c / peers.c / remote.c ---- */
void bench_baselines(const bench_opts *o);
void bench_local(const bench_opts *o, target *t);
void bench_match(const bench_opts *o);
void bench_watch(const bench_opts *o);
void bench_sparse(const bench_opts *o);
/* pointers.c: index plus depth-4 search over a heap-like snapshot file of target_size bytes. */
void bench_pointers(const bench_opts *o);
/* fleet.c: `memscan remote scan` over 16 agents on loopback against one; its ratio (F1). */
void bench_fleet(const bench_opts *o);
void fleet_ratios(void);
/* fleet.c too: `memscan remote snapshot` into a file against `memscan snapshot`, 32 MiB (B15). */
void bench_snapcli(const bench_opts *o);
void snapcli_ratios(void);
void bench_peers(const bench_opts *o, target *t);
void bench_remote(const bench_opts *o, target *t);
/* values.c: B10-B12 on a target of its own (1 M needles in 512 MiB), scanmem in full runs only. */
void bench_values(const bench_opts *o);
/* stream.c: the streamed snapshot into a file, the write floor, the CLI's peak RSS; their ratios. */
void bench_stream(const bench_opts *o, target *t);
void stream_ratios(void);
/* zstd.c: remote downloads with compression, of the main (random) target and of a heap-like one
 * (client CL, connected to the bench's agent). */
struct memscan_client;
void bench_remote_zstd(const bench_opts *o, struct memscan_client *cl, target *t);
/* Snapshots PID and downloads it SLOW_REPS times through CL with compression ON; the download rate
 * goes into F, with the page payload per memory byte in the note. */
void bench_fetch_rate(const bench_opts *o, struct memscan_client *cl, pid_t pid, int on, figure *f);
/* link.c: --link, downloads through the agent over a loopback shaped by tc (the caller has moved
 * the bench into its own network namespace and shaped its loopback). */
void bench_link(const bench_opts *o);
/* Bytes of the target's default-filter regions (what every whole-process measure reads). */
extern uint64_t g_target_bytes;

#endif /* MEMSCAN_BENCH_H */
