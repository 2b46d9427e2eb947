/* SPDX-License-Identifier: MIT */
/* Test helpers of every suite (libmemscan only): start the fixture target and talk to it, files, temporary
 * directories, diffs compared. The CLI runner is cliutil.c, the agent helpers agentutil.c. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memscan/memscan.h>

#define FIXTURE_TIMEOUT_MS 15000
#define LINE_MAX_LEN       1024

int64_t ms_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ms_fixture_peek(const ms_fixture *f, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)f->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)addr), (ssize_t)len);
	close(fd);
}

void ms_fixture_poke(ms_fixture *f, uint64_t addr, const void *bytes, size_t len)
{
	const uint8_t *b = bytes;

	for (size_t i = 0; i < len; i++)
		assert_int_equal(ms_fixture_cmd(f, "set %llx %x", (unsigned long long)(addr + i), b[i]), 0);
}

const char *ms_long_str(void)
{
	static char text[257];

	memset(text, 'a', 255);
	text[255] = 'b';
	return text;
}

uint64_t ms_fixture_fill_long_str(ms_fixture *f)
{
	uint64_t end = f->arena + f->arena_len;

	assert_int_equal(ms_fixture_cmd(f, "fill %llx %llx 61", (unsigned long long)f->arena,
	                                (unsigned long long)f->arena_len),
	                 0);
	assert_int_equal(ms_fixture_cmd(f, "set %llx 62", (unsigned long long)(end - 1)), 0);
	return end - 256;
}

/* Reads one line (without the newline) from FD byte by byte, so nothing is buffered past it. */
static int read_line_timeout(int fd, char *buf, size_t size, int timeout_ms)
{
	int64_t deadline = ms_now_ms() + timeout_ms;
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - ms_now_ms();
		ssize_t got;
		char c;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!pfd.revents)
			continue;
		got = read(fd, &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= size)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*ret = v;
	return 0;
}

#define READY_FIELDS   12
#define READY_REQUIRED 10 /* the first ones; sparse and sparse_len are 0 without --sparse-pages */

/* Index of KEY among the ready line's address fields and its slot in F, or -1. */
static int ready_field(ms_fixture *f, const char *key, uint64_t **ret_slot)
{
	static const char *const keys[READY_FIELDS] = { "arena",     "arena_len", "marker0",  "marker1",
		                                        "marker2",   "straddle",  "boundary", "holey",
		                                        "holey_len", "counter",   "sparse",   "sparse_len" };
	uint64_t *const slots[READY_FIELDS] = { &f->arena,     &f->arena_len, &f->marker[0], &f->marker[1],
		                                &f->marker[2], &f->straddle,  &f->boundary,  &f->holey,
		                                &f->holey_len, &f->counter,   &f->sparse,    &f->sparse_len };
	int i;

	for (i = 0; i < READY_FIELDS; i++) {
		if (!strcmp(keys[i], key)) {
			*ret_slot = slots[i];
			return i;
		}
	}
	return -1;
}

/* Parses "ready pid=P key=value ..."; the pid and every address field must be present. */
static int parse_ready(ms_fixture *f, char *line)
{
	const unsigned all = (1u << READY_REQUIRED) - 1;
	unsigned seen = 0;
	int pid_seen = 0;
	char *tok = line, *next;

	if (strncmp(line, "ready ", 6))
		return -1;
	for (tok = line + 6; *tok; tok = next) {
		char *eq, *sp = strchr(tok, ' ');
		uint64_t v, *slot;
		int idx;

		next = sp ? sp + 1 : tok + strlen(tok);
		if (sp)
			*sp = '\0';
		if (!*tok)
			continue;
		eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = '\0';
		if (parse_u64(eq + 1, &v))
			return -1;
		if (!strcmp(tok, "pid")) {
			if ((pid_t)v != f->pid)
				return -1;
			pid_seen = 1;
			continue;
		}
		idx = ready_field(f, tok, &slot);
		if (idx < 0)
			continue;
		*slot = v;
		seen |= 1u << idx;
	}
	return pid_seen && (seen & all) == all ? 0 : -1;
}

ms_launch ms_launch_fixture;

void ms_launch_exec(const ms_launch *l, const char *built, const char *const *argv)
{
	const char *args[96];
	const char *path = l->path ? l->path : built;
	size_t n = 0;

	for (const char *const *p = l->run_as; p && *p && n < 40; p++)
		args[n++] = *p;
	args[n++] = path;
	for (size_t i = 1; argv[i] && n < 95; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(args[0], (char *const *)args);
}

static void fixture_child(int in_fd, int out_fd, const char *const *extra_args)
{
	const char *argv[32];
	size_t n = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	argv[n++] = MEMSCAN_FIXTURE_PATH;
	while (extra_args && *extra_args && n < 31)
		argv[n++] = *extra_args++;
	argv[n] = NULL;
	ms_launch_exec(&ms_launch_fixture, MEMSCAN_FIXTURE_PATH, argv);
	_exit(127);
}

int ms_fixture_start(ms_fixture *f, const char *const *extra_args)
{
	int to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 };
	char line[LINE_MAX_LEN];

	memset(f, 0, sizeof(*f));
	f->pid = -1;
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(to_child, O_CLOEXEC) || pipe2(from_child, O_CLOEXEC))
		goto fail;
	f->pid = fork();
	if (f->pid < 0)
		goto fail;
	if (f->pid == 0)
		fixture_child(to_child[0], from_child[1], extra_args);
	close(to_child[0]);
	close(from_child[1]);
	to_child[0] = from_child[1] = -1;
	f->to = fdopen(to_child[1], "w");
	if (!f->to)
		goto fail;
	to_child[1] = -1;
	f->from = fdopen(from_child[0], "r");
	if (!f->from)
		goto fail;
	from_child[0] = -1;
	if (read_line_timeout(fileno(f->from), line, sizeof(line), FIXTURE_TIMEOUT_MS) ||
	    parse_ready(f, line))
		goto fail;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (to_child[i] >= 0)
			close(to_child[i]);
		if (from_child[i] >= 0)
			close(from_child[i]);
	}
	ms_fixture_stop(f);
	return -1;
}

int ms_fixture_start_arena(ms_fixture *f, const char *const *extra_args, memscan_process **proc,
                           memscan_region_list **arena)
{
	memscan_filter filter = { 0 };

	if (ms_fixture_start(f, extra_args) != 0 || memscan_process_open(f->pid, proc) != MEMSCAN_OK)
		return -1;
	filter.range_start = f->arena;
	filter.range_end = f->arena + f->arena_len;
	return memscan_regions_read(*proc, &filter, arena) == MEMSCAN_OK ? 0 : -1;
}

int ms_fixture_cmd(ms_fixture *f, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;
	int ret;

	if (!f->to || !f->from)
		return -1;
	va_start(ap, fmt);
	ret = vfprintf(f->to, fmt, ap);
	va_end(ap);
	if (ret < 0 || fputc('\n', f->to) == EOF || fflush(f->to) == EOF)
		return -1;
	if (read_line_timeout(fileno(f->from), line, sizeof(line), FIXTURE_TIMEOUT_MS))
		return -1;
	return strcmp(line, "ok") ? -1 : 0;
}

void ms_fixture_stop(ms_fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	f->pid = -1;
	if (f->to)
		fclose(f->to);
	if (f->from)
		fclose(f->from);
	f->to = NULL;
	f->from = NULL;
}

const char *ms_hex(uint64_t v)
{
	static char bufs[8][24];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "0x%llx", (unsigned long long)v);
	return b;
}

size_t ms_count_lines(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (*s == '\n')
			n++;
	if (s[-1] != '\n')
		n++;
	return n;
}

const char *ms_tmpdir(void)
{
	static char path[4096];
	const char *base = getenv("TMPDIR");

	if (!base || !*base)
		base = "/tmp";
	if (snprintf(path, sizeof(path), "%s/memscan-test-XXXXXX", base) >= (int)sizeof(path))
		return NULL;
	return mkdtemp(path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void ms_tmpdir_remove(const char *dir)
{
	if (dir && *dir)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char scratch[4096];

int ms_scratch_setup(void **state)
{
	const char *d = ms_tmpdir();

	(void)state;
	if (!d || snprintf(scratch, sizeof(scratch), "%s", d) >= (int)sizeof(scratch))
		return -1;
	return 0;
}

int ms_scratch_teardown(void **state)
{
	(void)state;
	ms_tmpdir_remove(scratch);
	return 0;
}

const char *ms_scratch_path(const char *name)
{
	static char bufs[4][4200];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", scratch, name);
	return b;
}

void ms_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

void ms_write_str(const char *path, const char *text, mode_t mode)
{
	ms_write_file(path, text, strlen(text), mode);
}

const char *ms_slurp(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

mode_t ms_mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

bool ms_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int ms_fixture_setup(void **state)
{
	ms_fixture *f = calloc(1, sizeof(*f));

	if (!f || ms_fixture_start(f, NULL) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int ms_fixture_teardown(void **state)
{
	ms_fixture_stop(*state);
	free(*state);
	return 0;
}

const char *ms_fixture_pid_str(const ms_fixture *f)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d", (int)f->pid);
	return buf;
}

pid_t ms_reaped_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

uint8_t *ms_file_read(const char *path, size_t *ret_len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *p = NULL, *grown;
	size_t len = 0, cap = 0, n;

	assert_non_null(fp);
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			grown = realloc(p, cap);
			assert_non_null(grown);
			p = grown;
		}
		n = fread(p + len, 1, cap - len, fp);
		len += n;
	} while (n > 0);
	assert_false(ferror(fp));
	fclose(fp);
	*ret_len = len;
	return p;
}

void ms_assert_files_equal(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *fa = ms_file_read(a, &la), *fb = ms_file_read(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(fa, fb, la);
	free(fa);
	free(fb);
}

static void assert_ranges_equal(const memscan_ranges *a, const memscan_ranges *b)
{
	size_t na = a ? a->count : 0, nb = b ? b->count : 0;

	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(a->items[i].start, b->items[i].start);
		assert_int_equal(a->items[i].end, b->items[i].end);
	}
}

void ms_assert_diffs_equal(const memscan_diff *a, const memscan_diff *b)
{
	assert_int_equal(memscan_diff_run_count(a), memscan_diff_run_count(b));
	assert_int_equal(memscan_diff_changed_bytes(a), memscan_diff_changed_bytes(b));
	for (size_t i = 0; i < memscan_diff_run_count(a); i++) {
		memscan_change_run x = memscan_diff_run(a, i), y = memscan_diff_run(b, i);

		assert_int_equal(x.address, y.address);
		assert_int_equal(x.length, y.length);
		assert_int_equal(x.region_index, y.region_index);
		assert_memory_equal(x.old_bytes, y.old_bytes, x.length);
		assert_memory_equal(x.new_bytes, y.new_bytes, x.length);
	}
	assert_ranges_equal(memscan_diff_appeared(a), memscan_diff_appeared(b));
	assert_ranges_equal(memscan_diff_vanished(a), memscan_diff_vanished(b));
}

size_t ms_sparse_pages(const ms_fixture *f)
{
	return f->sparse_len / memscan_page_size();
}

size_t ms_sparse_written(const ms_fixture *f)
{
	return (ms_sparse_pages(f) + MS_FIXTURE_SPARSE_STEP - 1) / MS_FIXTURE_SPARSE_STEP;
}

size_t ms_sparse_present(const ms_fixture *f)
{
	size_t page = memscan_page_size(), n = ms_sparse_pages(f), present = 0;
	uint64_t *entries = calloc(n, sizeof(*entries));
	char path[64];
	int fd;

	assert_non_null(entries);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)f->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, entries, n * 8, (off_t)(f->sparse / page * 8)), (ssize_t)(n * 8));
	for (size_t k = 0; k < n; k++)
		present += entries[k] >> 63; /* bit 63: present */
	close(fd);
	free(entries);
	return present;
}

void ms_skip_unless_absent_skipped(pid_t pid)
{
	memscan_process *proc = NULL;
	int skips;

	assert_int_equal(memscan_process_open(pid, &proc), MEMSCAN_OK);
	skips = memscan_process_skips_absent(proc);
	memscan_process_free(proc);
	if (!skips) {
		print_message(
		    "pagemap or PROCMAP_QUERY (Linux 6.11+) unavailable: nothing is skipped here\n");
		skip();
	}
}

void ms_assert_sparse_bytes(const ms_fixture *f, const uint8_t *data)
{
	size_t page = memscan_page_size();

	for (size_t off = 0; off < f->sparse_len; off++) {
		size_t k = off / page;
		uint8_t want =
		    off % page == 0 && k % MS_FIXTURE_SPARSE_STEP == 0 ? MS_FIXTURE_SPARSE_BYTE : 0;
		if (data[off] != want)
			fail_msg("byte at offset %zu: %u, want %u", off, data[off], want);
	}
}
