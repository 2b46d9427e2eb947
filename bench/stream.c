/* SPDX-License-Identifier: MIT */
/* memscan-bench stream measures: a snapshot streamed into a file against the machine's write floor,
 * and the peak resident memory of `memscan snapshot` (B2). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "bench.h"

/* The floor's buffer: reused for every write, as the streamed snapshot reuses its buffers. */
#define FLOOR_CHUNK ((size_t)8 << 20)
/* Bytes written between two starts of writeback (the snapshot writer's step). */
#define FLOOR_KICK ((uint64_t)16 << 20)

/* Writes BYTES from one pre-faulted buffer into a new file at PATH, then fsyncs it: the least time
 * this file system needs for a file of that size. Seconds, or -1. */
static double floor_pass(const char *path, uint8_t *buf, uint64_t bytes)
{
	double t0 = now_s();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0;

	for (uint64_t done = 0; ok && done < bytes;) {
		size_t n = bytes - done < FLOOR_CHUNK ? (size_t)(bytes - done) : FLOOR_CHUNK;
		ssize_t w = write(fd, buf, n);

		ok = w > 0;
		done += ok ? (uint64_t)w : 0;
		/* hand each step to the disk while the next is written, as the snapshot writer does:
		 * the best a writer can do, so the floor is not slowed by one long final fsync */
		if (ok && done % FLOOR_KICK == 0)
			(void)sync_file_range(fd, (off_t)(done - FLOOR_KICK), FLOOR_KICK,
			                      SYNC_FILE_RANGE_WRITE);
	}
	ok = ok && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return ok ? now_s() - t0 : -1;
}

static void bench_floor(const bench_opts *o)
{
	figure *f = fig_new("floor.write_fsync", "GB/s",
	                    "write of the target's bytes from one reused 8 MiB buffer + fsync, same dir");
	uint8_t *buf = mmap(NULL, FLOOR_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char path[320];

	if (buf == MAP_FAILED) {
		fig_skip(f, "mmap failed");
		return;
	}
	for (size_t i = 0; i < FLOOR_CHUNK; i++)
		buf[i] = (uint8_t)(i * 131u + 7u); /* resident, and not all zeros */
	snprintf(path, sizeof(path), "%s/floor.bin", o->tmpdir);
	for (int r = 0; r < o->reps; r++) {
		double dt = floor_pass(path, buf, g_target_bytes);

		if (dt <= 0) {
			fig_skip(f, "writing %s failed", path);
			break;
		}
		fig_add(f, (double)g_target_bytes / dt / GB);
	}
	fig_note(f, "file in %s", o->tmpdir);
	munmap(buf, FLOOR_CHUNK);
}

static void bench_stream_snapshot(const bench_opts *o, memscan_process *proc)
{
	figure *f = fig_new("memscan.snapshot_stream", "GB/s",
	                    "memscan_snapshot_write_process (streamed into a file, fsynced)");
	char path[320];

	snprintf(path, sizeof(path), "%s/stream.snap", o->tmpdir);
	for (int r = 0; r < o->reps; r++) {
		memscan_snapshot_file_info info;
		double t0 = now_s();
		int rc = memscan_snapshot_write_process(proc, NULL, NULL, path, &info);

		if (rc != MEMSCAN_OK) {
			fig_skip(f, "memscan_snapshot_write_process: %s", memscan_strerror(rc));
			break;
		}
		fig_add(f, (double)g_target_bytes / (now_s() - t0) / GB);
		unlink(path);
	}
	fig_note(f, "file in %s", o->tmpdir);
}

/* Runs `memscan snapshot PID -o PATH`; its peak RSS in MiB (VmHWM, sampled until it exits: the
 * child's getrusage would count the bench's own memory, which a forked child starts with), or -1. */
static double cli_snapshot_rss(pid_t pid, const char *path)
{
	char pid_s[24];
	const char *argv[] = { BENCH_CLI_PATH, "snapshot", pid_s, "-o", path, NULL };
	long hwm = -1, v;
	int st, gate[2];
	char byte;
	pid_t c;

	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	if (pipe2(gate, O_CLOEXEC) < 0)
		return -1;
	c = fork();
	if (c == 0) {
		int null_fd = open("/dev/null", O_RDWR);

		if (null_fd < 0 || dup2(null_fd, 1) < 0 || dup2(null_fd, 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(gate[1]);
	/* the pipe closes at the exec: before it, VmHWM is the forked copy of the bench's */
	while (c > 0 && read(gate[0], &byte, 1) < 0 && errno == EINTR)
		;
	close(gate[0]);
	if (c < 0)
		return -1;
	while (waitpid(c, &st, WNOHANG) == 0) {
		v = proc_status_kib(c, "VmHWM");
		if (v > hwm)
			hwm = v;
		usleep(1000);
	}
	unlink(path);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && hwm > 0 ? (double)hwm / 1024.0 : -1;
}

static void bench_cli_rss(const bench_opts *o, const target *t)
{
	figure *f = fig_new("cli.snapshot_rss", "MiB", "peak RSS (VmHWM) of `memscan snapshot PID -o FILE`");
	char path[320];

	snprintf(path, sizeof(path), "%s/cli.snap", o->tmpdir);
	for (int r = 0; r < o->slow_reps; r++) {
		double rss = cli_snapshot_rss(t->c.pid, path);

		if (rss < 0) {
			fig_skip(f, "%s snapshot failed", BENCH_CLI_PATH);
			return;
		}
		fig_add(f, rss);
	}
	fig_note(f, "target regions %.0f MiB", (double)g_target_bytes / MIB);
}

/* Reads the files A and B through one reused buffer; seconds, or -1. */
static double read_pass(const char *a, const char *b, uint8_t *buf)
{
	double t0 = now_s();
	const char *paths[] = { a, b };

	for (int i = 0; i < 2; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		ssize_t n;

		if (fd < 0)
			return -1;
		while ((n = read(fd, buf, FLOOR_CHUNK)) > 0)
			;
		close(fd);
		if (n < 0)
			return -1;
	}
	return now_s() - t0;
}

static int count_part(void *ctx, const memscan_diff *part)
{
	*(uint64_t *)ctx += memscan_diff_changed_bytes(part);
	return 0;
}

/* B13: `diff FILE FILE`'s library call against reading both files (warm in the page cache). */
static void bench_diff_files(const bench_opts *o, memscan_process *proc)
{
	figure *fr = fig_new("floor.read_two_files", "GB/s",
	                     "read(2) of two snapshot files of the target, 8 MiB buffer");
	figure *fd =
	    fig_new("memscan.diff_files", "GB/s", "memscan_diff_files of the same two files (bytes of both)");
	char a[320], b[320];
	uint8_t *buf = mmap(NULL, FLOOR_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memscan_snapshot_file_info info;
	double bytes = 2.0 * (double)g_target_bytes;

	snprintf(a, sizeof(a), "%s/diff_a.snap", o->tmpdir);
	snprintf(b, sizeof(b), "%s/diff_b.snap", o->tmpdir);
	if (buf == MAP_FAILED || memscan_snapshot_write_process(proc, NULL, NULL, a, &info) != MEMSCAN_OK ||
	    memscan_snapshot_write_process(proc, NULL, NULL, b, &info) != MEMSCAN_OK) {
		fig_skip(fr, "snapshot files could not be written");
		fig_skip(fd, "snapshot files could not be written");
		goto out;
	}
	(void)read_pass(a, b, buf); /* warm: both measures read from the page cache */
	for (int r = 0; r < o->reps; r++) {
		uint64_t changed = 0;
		double dt = read_pass(a, b, buf), t0;

		if (dt > 0)
			fig_add(fr, bytes / dt / GB);
		t0 = now_s();
		if (memscan_diff_files(a, b, 0, count_part, &changed, NULL) != MEMSCAN_OK) {
			fig_skip(fd, "memscan_diff_files failed");
			break;
		}
		fig_add(fd, bytes / (now_s() - t0) / GB);
	}
out:
	unlink(a);
	unlink(b);
	if (buf != MAP_FAILED)
		munmap(buf, FLOOR_CHUNK);
}

void bench_stream(const bench_opts *o, target *t)
{
	memscan_process *proc = NULL;
	int rc = memscan_process_open((int)t->c.pid, &proc);

	if (rc != MEMSCAN_OK) {
		bench_log("memscan_process_open(%d): %s", (int)t->c.pid, memscan_strerror(rc));
		return;
	}
	bench_floor(o);
	bench_stream_snapshot(o, proc);
	bench_cli_rss(o, t);
	bench_diff_files(o, proc);
	memscan_process_free(proc);
}

/* B2's streamed-snapshot ratios: time against the write floor (as a rate ratio: time <= 1.25 x the
 * floor's is rate >= 0.8 x), against gcore, and the CLI's peak RSS against 64 MiB (the binary's own
 * baseline, a few MiB, is not subtracted). */
void stream_ratios(void)
{
	double s = fig_median("memscan.snapshot_stream"), fl = fig_median("floor.write_fsync");
	double g = fig_median("peer.gcore"), rss = fig_median("cli.snapshot_rss");
	ratio *r;

	r = ratio_new("B2", "streamed snapshot to a file / write floor (rate)", 0.8, 0);
	ratio_set(r, s < 0 || fl <= 0 ? -1 : s / fl);
	r = ratio_new("B2", "streamed snapshot to a file / gcore", 1.5, 0);
	ratio_set(r, s < 0 || g <= 0 ? -1 : s / g);
	r = ratio_new("B2", "CLI snapshot peak RSS / 64 MiB", 1.0, 1);
	ratio_set(r, rss < 0 ? -1 : rss / 64.0);
	s = fig_median("memscan.diff_files");
	fl = fig_median("floor.read_two_files");
	r = ratio_new("B13", "diff of two snapshot files / reading both", 0.7, 0);
	ratio_set(r, s < 0 || fl <= 0 ? -1 : s / fl);
}
