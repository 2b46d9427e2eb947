/* SPDX-License-Identifier: MIT */
/* memscan-bench helpers: clocks, statistics, the figure and ratio tables, JSON, child processes, /proc. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIGURES 96
#define MAX_RATIOS  48

static figure figures[MAX_FIGURES];
static int figure_count;
static ratio ratios[MAX_RATIOS];
static int ratio_count;

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double percentile_of(const double *v, int n, double p)
{
	double *s;
	double r, pos;
	int lo;

	if (n <= 0)
		return -1;
	s = malloc((size_t)n * sizeof(*s));
	if (!s)
		return -1;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	pos = p * (n - 1);
	lo = (int)pos;
	r = lo + 1 < n ? s[lo] + (s[lo + 1] - s[lo]) * (pos - lo) : s[lo];
	free(s);
	return r;
}

double median_of(const double *v, int n)
{
	return percentile_of(v, n, 0.5);
}

void bench_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

figure *fig_new(const char *name, const char *unit, const char *desc)
{
	figure *f = fig_get(name);

	if (f)
		return f;
	if (figure_count == MAX_FIGURES) {
		static figure overflow;

		return &overflow;
	}
	f = &figures[figure_count++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->unit, sizeof(f->unit), "%s", unit);
	snprintf(f->desc, sizeof(f->desc), "%s", desc);
	f->median = -1;
	return f;
}

figure *fig_get(const char *name)
{
	for (int i = 0; i < figure_count; i++)
		if (!strcmp(figures[i].name, name))
			return &figures[i];
	return NULL;
}

void fig_add(figure *f, double v)
{
	if (f->n < BENCH_MAX_RUNS)
		f->runs[f->n++] = v;
	f->median = median_of(f->runs, f->n);
}

void fig_skip(figure *f, const char *fmt, ...)
{
	va_list ap;

	f->skipped = 1;
	va_start(ap, fmt);
	vsnprintf(f->note, sizeof(f->note), fmt, ap);
	va_end(ap);
	bench_log("%s skipped: %s", f->name, f->note);
}

void fig_note(figure *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->note, sizeof(f->note), fmt, ap);
	va_end(ap);
}

double fig_median(const char *name)
{
	figure *f = fig_get(name);

	if (!f || f->skipped || f->n == 0)
		return -1;
	return f->median;
}

ratio *ratio_new(const char *id, const char *desc, double target, int at_most)
{
	ratio *r;

	if (ratio_count == MAX_RATIOS) {
		static ratio overflow;

		return &overflow;
	}
	r = &ratios[ratio_count++];
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->desc, sizeof(r->desc), "%s", desc);
	r->target = target;
	r->at_most = at_most;
	return r;
}

void ratio_set(ratio *r, double value)
{
	r->value = value;
	r->valid = value >= 0;
}

void ratio_note(ratio *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

static const char *ratio_mark(const ratio *r)
{
	if (!r->valid)
		return "n/a";
	if (r->at_most)
		return r->value <= r->target ? "PASS" : "MISS";
	return r->value >= r->target ? "PASS" : "MISS";
}

static void print_value(double v)
{
	if (v < 0)
		printf("%12s", "-");
	else if (v >= 1000)
		printf("%12.0f", v);
	else if (v >= 10)
		printf("%12.1f", v);
	else if (v >= 0.1)
		printf("%12.3f", v);
	else
		printf("%12.5f", v);
}

void print_table(const bench_opts *o)
{
	printf("\n%-28s %-6s %12s %12s %12s  %s\n", "figure", "unit", "median", "min", "max", "what");
	for (int i = 0; i < figure_count; i++) {
		const figure *f = &figures[i];
		double lo = -1, hi = -1;

		if (f->skipped) {
			printf("%-28s %-6s %12s %12s %12s  %s [skipped: %s]\n", f->name, f->unit, "skipped",
			       "-", "-", f->desc, f->note);
			continue;
		}
		for (int k = 0; k < f->n; k++) {
			if (lo < 0 || f->runs[k] < lo)
				lo = f->runs[k];
			if (f->runs[k] > hi)
				hi = f->runs[k];
		}
		printf("%-28s %-6s ", f->name, f->unit);
		print_value(f->n ? f->median : -1);
		print_value(lo);
		print_value(hi);
		printf("  %s%s%s%s\n", f->desc, f->note[0] ? " [" : "", f->note, f->note[0] ? "]" : "");
	}
	printf("\n%-6s %-62s %10s %10s  %s\n", "target", "ratio", "value", "target", "mark");
	for (int i = 0; i < ratio_count; i++) {
		const ratio *r = &ratios[i];

		printf("%-6s %-62s ", r->id, r->desc);
		if (r->valid)
			printf("%10.3f", r->value);
		else
			printf("%10s", "-");
		printf(" %2s%7.3f  %s%s%s\n", r->at_most ? "<=" : ">=", r->target, ratio_mark(r),
		       r->note[0] ? "  " : "", r->note);
	}
	if (o->link_rate)
		printf("\n(link run: loopback shaped to %s, %d repetitions, 64 MiB targets)\n", o->link_rate,
		       o->slow_reps);
	else
		printf("\n(%s run: %d repetitions, target %.0f MiB)\n", o->quick ? "quick" : "full", o->reps,
		       (double)o->target_size / MIB);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v != v || v < -1e300 || v > 1e300)
		fputs("null", f);
	else
		fprintf(f, "%.9g", v);
}

static void cpu_model(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			colon++;
			while (*colon == ' ')
				colon++;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(out, len, "%s", colon);
			break;
		}
	}
	fclose(f);
}

int write_json(const bench_opts *o, const char *path, double total_s)
{
	struct utsname u;
	char model[256], date[64];
	time_t t = time(NULL);
	struct tm tm;
	FILE *f = fopen(path, "w");

	if (!f) {
		bench_log("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	uname(&u);
	cpu_model(model, sizeof(model));
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\n  \"tool\": \"memscan-bench\",\n  \"date\": ");
	json_str(f, date);
	fprintf(f, ",\n  \"mode\": \"%s\",\n  \"repetitions\": %d,\n  \"target_bytes\": %" PRIu64,
	        o->link_rate ? "link"
	        : o->quick   ? "quick"
	                     : "full",
	        o->reps, o->target_size);
	if (o->link_rate) {
		fprintf(f, ",\n  \"link_rate\": ");
		json_str(f, o->link_rate);
	}
	fprintf(f, ",\n  \"total_seconds\": ");
	json_num(f, total_s);
	fprintf(f, ",\n  \"machine\": {\"nproc\": %ld, \"cpu\": ", sysconf(_SC_NPROCESSORS_ONLN));
	json_str(f, model);
	fprintf(f, ", \"kernel\": ");
	json_str(f, u.release);
	fprintf(f, ", \"memory_bytes\": %.0f},\n  \"figures\": [\n",
	        (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE));
	for (int i = 0; i < figure_count; i++) {
		const figure *g = &figures[i];

		fprintf(f, "    {\"name\": ");
		json_str(f, g->name);
		fprintf(f, ", \"unit\": ");
		json_str(f, g->unit);
		fprintf(f, ", \"what\": ");
		json_str(f, g->desc);
		fprintf(f, ", \"skipped\": %s, \"median\": ", g->skipped ? "true" : "false");
		if (g->skipped || !g->n)
			fputs("null", f);
		else
			json_num(f, g->median);
		fprintf(f, ", \"runs\": [");
		for (int k = 0; k < g->n; k++) {
			if (k)
				fputs(", ", f);
			json_num(f, g->runs[k]);
		}
		fprintf(f, "], \"note\": ");
		json_str(f, g->note);
		fprintf(f, "}%s\n", i + 1 < figure_count ? "," : "");
	}
	fprintf(f, "  ],\n  \"ratios\": [\n");
	for (int i = 0; i < ratio_count; i++) {
		const ratio *r = &ratios[i];

		fprintf(f, "    {\"id\": ");
		json_str(f, r->id);
		fprintf(f, ", \"what\": ");
		json_str(f, r->desc);
		fprintf(f, ", \"value\": ");
		if (r->valid)
			json_num(f, r->value);
		else
			fputs("null", f);
		fprintf(f, ", \"target\": ");
		json_num(f, r->target);
		fprintf(f, ", \"pass_if\": \"%s\", \"mark\": \"%s\", \"note\": ", r->at_most ? "<=" : ">=",
		        ratio_mark(r));
		json_str(f, r->note);
		fprintf(f, "}%s\n", i + 1 < ratio_count ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f) != 0) {
		bench_log("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- child processes ---- */

int child_start(child *c, const char *const *argv, const char *err_path)
{
	int in[2], out[2];

	c->pid = -1;
	c->in_fd = c->out_fd = -1;
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	c->pid = fork();
	if (c->pid == 0) {
		int fd = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (c->pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	c->in_fd = in[1];
	c->out_fd = out[0];
	return 0;
}

int child_read_line(child *c, char *line, size_t len, int timeout_ms)
{
	struct pollfd pfd = { c->out_fd, POLLIN, 0 };
	double deadline = now_s() + timeout_ms / 1000.0;
	size_t n = 0;

	while (n + 1 < len) {
		char ch;
		int left = (int)((deadline - now_s()) * 1000);

		if (left < 0 || poll(&pfd, 1, left) <= 0 || read(c->out_fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		line[n++] = ch;
	}
	line[n] = '\0';
	return 0;
}

int child_write_line(child *c, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t w = write(c->in_fd, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

void child_stop(child *c)
{
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->in_fd = c->out_fd = -1;
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	c->pid = -1;
}

int run_command(const char *const *argv, const char *out_path, int timeout_ms, double *ret_wall)
{
	double t0 = now_s();
	int status = 0, pidfd;
	pid_t pid;

	*ret_wall = 0;
	pid = fork();
	if (pid == 0) {
		int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (nul >= 0)
			dup2(nul, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };

		if (poll(&pfd, 1, timeout_ms) <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(pidfd);
			bench_log("%s timed out after %d ms", argv[0], timeout_ms);
			return -1;
		}
		close(pidfd);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	*ret_wall = now_s() - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int bench_read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok = f && fgets(out, (int)len, f);

	if (f)
		fclose(f);
	out[ok ? strcspn(out, "\n") : 0] = '\0';
	return ok ? 0 : -1;
}

const char *find_program(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	const char *p;

	if (!path || !path[0])
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	for (p = path; *p;) {
		size_t n = strcspn(p, ":");

		if (n > 0 && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, p, prog) < len &&
		    access(buf, X_OK) == 0)
			return buf;
		p += n;
		if (*p == ':')
			p++;
	}
	return NULL;
}

/* ---- targets ---- */

int target_start(const bench_opts *o, target *t, uint64_t size, uint64_t needles)
{
	return target_start_ex(o, t, size, needles, NULL, 0);
}

int target_start_ex(const bench_opts *o, target *t, uint64_t size, uint64_t needles, const char *fill,
                    uint64_t sparse)
{
	char sz[32], nd[32], nn[32], sp[32], line[256];
	const char *argv[12] = { o->target_path, "--size", sz, "--needle", nd, "--needles", nn };
	unsigned long long addr, got, count, saddr = 0, ssize = 0;
	size_t n = 7;

	if (fill) {
		argv[n++] = "--fill";
		argv[n++] = fill;
	}
	if (sparse) {
		argv[n++] = "--sparse";
		argv[n++] = sp;
	}
	argv[n] = NULL;
	memset(t, 0, sizeof(*t));
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	snprintf(nd, sizeof(nd), "0x%08" PRIX32, o->needle);
	snprintf(nn, sizeof(nn), "%" PRIu64, needles);
	snprintf(sp, sizeof(sp), "%" PRIu64, sparse);
	if (child_start(&t->c, argv, NULL) != 0)
		return -1;
	if (child_read_line(&t->c, line, sizeof(line), 120000) != 0 ||
	    sscanf(line, "ready %llx %llu %llu %llx %llu", &addr, &got, &count, &saddr, &ssize) !=
	        (sparse ? 5 : 3)) {
		bench_log("target %s did not start", o->target_path);
		child_stop(&t->c);
		return -1;
	}
	t->addr = addr;
	t->size = got;
	t->needles = count;
	t->sparse_addr = saddr;
	t->sparse_size = ssize;
	return 0;
}

int target_change(target *t, double f, uint64_t *ret_bytes, uint64_t *ret_runs)
{
	char line[128];
	unsigned long long b, r;

	snprintf(line, sizeof(line), "change %.9f\n", f);
	if (child_write_line(&t->c, line) != 0 || child_read_line(&t->c, line, sizeof(line), 60000) != 0 ||
	    sscanf(line, "ok %llu %llu", &b, &r) != 2)
		return -1;
	*ret_bytes = b;
	if (ret_runs)
		*ret_runs = r;
	return 0;
}

void target_stop(target *t)
{
	if (t->c.pid > 0)
		child_write_line(&t->c, "quit\n");
	child_stop(&t->c);
}

/* ---- /proc ---- */

long proc_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

double proc_cpu_s(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec * 1e-6;
}
