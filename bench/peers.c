/* SPDX-License-Identifier: MIT */
/* memscan-bench peers: scanmem's first int32 scan, gcore's dump, gdbserver's remote dump and find. */
#include "bench.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads a whole (small) file into a NUL-terminated malloc'd string. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t cap = 4096, len = 0;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *g = realloc(buf, cap * 2);

			if (!g) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = g;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

static void peer_scanmem(const bench_opts *o, target *t)
{
	figure *f =
	    fig_new("peer.scanmem_scan", "GB/s", "scanmem 'option region_scan_level 3', first int32 scan");
	char prog[256], pid[16], cmds[256], out[320];
	const char *argv[] = { prog, "-p", pid, "-c", cmds, NULL };
	unsigned long long matches = 0;

	if (!find_program("scanmem", prog, sizeof(prog))) {
		fig_skip(f, "scanmem not installed");
		return;
	}
	snprintf(pid, sizeof(pid), "%d", (int)t->c.pid);
	snprintf(cmds, sizeof(cmds),
	         "option region_scan_level 3;option scan_data_type int32;%" PRId32 ";exit",
	         (int32_t)o->needle);
	snprintf(out, sizeof(out), "%s/scanmem.out", o->tmpdir);
	for (int r = 0; r < o->slow_reps; r++) {
		double wall;
		int rc = run_command(argv, out, 300000, &wall);
		char *text = slurp(out), *p;

		if (rc != 0 || !text) {
			fig_skip(f, "scanmem failed (exit %d)", rc);
			free(text);
			break;
		}
		p = strstr(text, "we currently have ");
		if (p)
			matches = strtoull(p + 18, NULL, 10);
		free(text);
		fig_add(f, (double)g_target_bytes / wall / GB);
	}
	if (!f->skipped)
		fig_note(f, "%llu matches; wall time of the whole scanmem process", matches);
	unlink(out);
}

static void peer_gcore(const bench_opts *o, target *t)
{
	figure *f = fig_new("peer.gcore", "GB/s", "gcore -o FILE PID (gdb's core dump of the whole target)");
	char prog[256], pid[16], base[300], core[320];
	const char *argv[] = { prog, "-o", base, pid, NULL };

	if (!find_program("gcore", prog, sizeof(prog))) {
		fig_skip(f, "gcore not installed");
		return;
	}
	snprintf(pid, sizeof(pid), "%d", (int)t->c.pid);
	snprintf(base, sizeof(base), "%s/core", o->tmpdir);
	snprintf(core, sizeof(core), "%s/core.%d", o->tmpdir, (int)t->c.pid);
	for (int r = 0; r < o->slow_reps; r++) {
		double wall;
		int rc = run_command(argv, NULL, 300000, &wall);

		if (rc != 0 || access(core, F_OK) != 0) {
			fig_skip(f, "gcore failed (exit %d)", rc);
			break;
		}
		unlink(core);
		fig_add(f, (double)g_target_bytes / wall / GB);
	}
	if (!f->skipped)
		fig_note(f, "wall time incl. gdb start-up");
}

static int free_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Parses gdb output with "@T <ns>" stamps printed between commands; fills up to MAX intervals. */
static int parse_stamps(const char *text, double *stamps, int max)
{
	int n = 0;

	for (const char *p = strstr(text, "@T "); p && n < max; p = strstr(p + 3, "@T "))
		stamps[n++] = (double)strtoull(p + 3, NULL, 10) * 1e-9;
	return n;
}

static void peer_gdbserver(const bench_opts *o, target *t)
{
	figure *fd = fig_new("peer.gdbserver_dump", "GB/s",
	                     "gdb 'dump binary memory' through gdbserver over loopback (sub-range)");
	figure *ff = fig_new("peer.gdbserver_find", "GB/s", "gdb 'find /w' run by gdbserver (sub-range)");
	char gdbserver[256], gdb[256], pid[16], hostport[64], out[320], dumpf[320], err[320];
	char ex[8][512];
	uint64_t lo = t->addr, hi = t->addr + o->gdb_range;
	int reps = o->slow_reps;

	if (!find_program("gdbserver", gdbserver, sizeof(gdbserver)) ||
	    !find_program("gdb", gdb, sizeof(gdb))) {
		fig_skip(fd, "gdb or gdbserver not installed");
		fig_skip(ff, "gdb or gdbserver not installed");
		return;
	}
	if (hi > t->addr + t->size)
		hi = t->addr + t->size;
	snprintf(pid, sizeof(pid), "%d", (int)t->c.pid);
	snprintf(out, sizeof(out), "%s/gdb.out", o->tmpdir);
	snprintf(err, sizeof(err), "%s/gdbserver.err", o->tmpdir);
	snprintf(dumpf, sizeof(dumpf), "%s/gdb.dump", o->tmpdir);
	for (int r = 0; r < reps; r++) {
		int port = free_port();
		const char *sargv[] = { gdbserver, "--once", "--attach", hostport, pid, NULL };
		const char *gargv[24];
		child srv;
		double wall, st[8];
		char *text;
		int rc, n = 0, ns, ready = 0;
		unsigned long long found = 0;

		snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", port);
		if (port < 0 || child_start(&srv, sargv, err) != 0) {
			fig_skip(fd, "cannot start gdbserver");
			fig_skip(ff, "cannot start gdbserver");
			return;
		}
		/* gdbserver prints "Listening on port N" on stderr once it attached */
		for (int i = 0; i < 500 && !ready; i++) {
			char *e = slurp(err);

			ready = e && strstr(e, "Listening on port");
			free(e);
			if (!ready)
				usleep(10000);
		}
		snprintf(ex[0], sizeof(ex[0]), "target remote %s", hostport);
		snprintf(ex[1], sizeof(ex[1]), "dump binary memory %s 0x%" PRIx64 " 0x%" PRIx64, dumpf, lo,
		         hi);
		snprintf(ex[2], sizeof(ex[2]), "find /w 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%08" PRIx32, lo,
		         hi - 1, o->needle);
		gargv[n++] = gdb;
		gargv[n++] = "-nx";
		gargv[n++] = "-batch";
		gargv[n++] = "-ex";
		gargv[n++] = "set pagination off";
		gargv[n++] = "-ex";
		gargv[n++] = "set sysroot /";
		gargv[n++] = "-ex";
		gargv[n++] = ex[0];
		gargv[n++] = "-ex";
		gargv[n++] = "shell echo @T $(date +%s%N)";
		gargv[n++] = "-ex";
		gargv[n++] = ex[1];
		gargv[n++] = "-ex";
		gargv[n++] = "shell echo @T $(date +%s%N)";
		gargv[n++] = "-ex";
		gargv[n++] = ex[2];
		gargv[n++] = "-ex";
		gargv[n++] = "shell echo @T $(date +%s%N)";
		gargv[n++] = "-ex";
		gargv[n++] = "detach";
		gargv[n] = NULL;
		rc = ready ? run_command(gargv, out, 600000, &wall) : -1;
		child_stop(&srv);
		text = slurp(out);
		ns = text ? parse_stamps(text, st, 8) : 0;
		if (text) {
			char *p = strstr(text, "pattern");

			while (p && p > text && p[-1] == ' ')
				p--;
			while (p && p > text && p[-1] >= '0' && p[-1] <= '9')
				p--;
			if (p)
				found = strtoull(p, NULL, 10);
		}
		free(text);
		unlink(dumpf);
		if (rc != 0 || ns != 3) {
			fig_skip(fd, "gdb/gdbserver session failed (exit %d, %d stamps)", rc, ns);
			fig_skip(ff, "gdb/gdbserver session failed");
			return;
		}
		/* each stamp costs a shell: ~2 ms, negligible against the dump */
		fig_add(fd, (double)(hi - lo) / (st[1] - st[0]) / GB);
		fig_add(ff, (double)(hi - lo) / (st[2] - st[1]) / GB);
		fig_note(ff, "%.0f MiB; %llu matches", (double)(hi - lo) / MIB, found);
	}
	fig_note(fd, "%.0f MiB of the buffer, timed inside the gdb session", (double)(hi - lo) / MIB);
	unlink(err);
}

void bench_peers(const bench_opts *o, target *t)
{
	if (o->no_peers) {
		fig_skip(fig_new("peer.scanmem_scan", "GB/s", "scanmem first int32 scan"), "--no-peers");
		fig_skip(fig_new("peer.gcore", "GB/s", "gcore dump"), "--no-peers");
		fig_skip(fig_new("peer.gdbserver_dump", "GB/s", "gdbserver remote dump"), "--no-peers");
		fig_skip(fig_new("peer.gdbserver_find", "GB/s", "gdbserver find"), "--no-peers");
		return;
	}
	peer_scanmem(o, t);
	peer_gcore(o, t);
	peer_gdbserver(o, t);
}
