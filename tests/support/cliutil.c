/* SPDX-License-Identifier: MIT */
/* Test helpers of the end-to-end suites: run the memscan CLI and capture its output. */
#include "cliutil.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLI_TIMEOUT_MS 60000

ms_launch ms_launch_cli;

/* A growable NUL-terminated byte buffer. */
struct buf {
	char *data;
	size_t len, cap;
};

static int buf_ensure(struct buf *b)
{
	if (b->data)
		return 0;
	b->data = calloc(1, 1);
	b->cap = b->data ? 1 : 0;
	return b->data ? 0 : -1;
}

static int buf_read_fd(struct buf *b, int fd)
{
	ssize_t got;

	if (b->cap - b->len < 4097) {
		size_t cap = b->cap ? b->cap * 2 : 8192;
		char *p = realloc(b->data, cap);

		if (!p)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	got = read(fd, b->data + b->len, b->cap - b->len - 1);
	if (got < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	b->len += (size_t)got;
	b->data[b->len] = '\0';
	return got == 0 ? 0 : 1;
}

/* In a child: execs the CLI with ARGV (argv[0] excluded); never returns. */
void ms_exec_cli(const char *const *argv)
{
	const char *args[64];
	size_t n = 0;

	signal(SIGPIPE, SIG_DFL);
	/* under ASan: nng's own leaks are not the CLI's (support/lsan-cli.supp says which and why) */
	if (!getenv("LSAN_OPTIONS"))
		setenv("LSAN_OPTIONS", "suppressions=" MEMSCAN_LSAN_CLI_SUPP, 1);
	args[n++] = MEMSCAN_CLI_PATH;
	while (argv && *argv && n < 63)
		args[n++] = *argv++;
	args[n] = NULL;
	ms_launch_exec(&ms_launch_cli, MEMSCAN_CLI_PATH, args);
	_exit(127);
}

static void cli_child(int out_fd, int err_fd, const char *const *argv)
{
	int null_fd = open("/dev/null", O_RDONLY);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	ms_exec_cli(argv);
}

/* Drains both pipes until EOF on both or the deadline; returns -1 on timeout or error. */
static int collect_output(int out_fd, int err_fd, struct buf *out, struct buf *err)
{
	int64_t deadline = ms_now_ms() + CLI_TIMEOUT_MS;
	struct pollfd pfd[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };

	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int64_t left = deadline - ms_now_ms();
		int i;

		if (left <= 0)
			return -1;
		if (poll(pfd, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < 2; i++) {
			int r;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			r = buf_read_fd(i == 0 ? out : err, pfd[i].fd);
			if (r < 0)
				return -1;
			if (r == 0)
				pfd[i].fd = -1;
		}
	}
	return 0;
}

/* Reaps PID: its exit code (or 128+signal), its peak resident memory into *MAX_RSS_KIB. */
static int wait_status(pid_t pid, long *max_rss_kib)
{
	struct rusage ru;
	int st;

	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	*max_rss_kib = ru.ru_maxrss;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int ms_run_cli(ms_run *r, const char *const *argv)
{
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	struct buf out = { 0 }, err = { 0 };
	pid_t pid = -1;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(out_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC))
		goto out;
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0)
		cli_child(out_p[1], err_p[1], argv);
	close(out_p[1]);
	close(err_p[1]);
	out_p[1] = err_p[1] = -1;
	if (collect_output(out_p[0], err_p[0], &out, &err) < 0)
		kill(pid, SIGKILL);
	r->status = wait_status(pid, &r->max_rss_kib);
	if (r->status < 0)
		goto out;
	/* both strings exist even when nothing was written */
	if (buf_ensure(&out) || buf_ensure(&err))
		goto out;
	r->out = out.data;
	r->out_len = out.len;
	r->err = err.data;
	out.data = err.data = NULL;
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	free(out.data);
	free(err.data);
	return ret;
}

void ms_run_free(ms_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

int ms_session_start(ms_session *s, const char *const *argv)
{
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->err_path, sizeof(s->err_path), "/tmp/memscan-session-err.XXXXXX");
	err_fd = mkstemp(s->err_path);
	if (err_fd < 0 || pipe2(in_p, O_CLOEXEC) || pipe2(out_p, O_CLOEXEC))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		if (dup2(in_p[0], STDIN_FILENO) < 0 || dup2(out_p[1], STDOUT_FILENO) < 0 ||
		    dup2(err_fd, STDERR_FILENO) < 0)
			_exit(127);
		ms_exec_cli(argv);
	}
	close(in_p[0]);
	close(out_p[1]);
	close(err_fd);
	s->to = fdopen(in_p[1], "w");
	s->from = out_p[0];
	return s->to ? 0 : -1;
}

void ms_session_send(ms_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(s->to, fmt, ap);
	va_end(ap);
	fputc('\n', s->to);
	assert_int_equal(fflush(s->to), 0);
}

void ms_session_line(ms_session *s, char *buf, size_t size)
{
	int64_t deadline = ms_now_ms() + 20000;
	char *nl;

	while (!(nl = memchr(s->pending, '\n', s->npending))) {
		struct pollfd pfd = { .fd = s->from, .events = POLLIN };
		ssize_t got;

		assert_true(s->npending < sizeof(s->pending) && ms_now_ms() < deadline);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		got = read(s->from, s->pending + s->npending, sizeof(s->pending) - s->npending);
		if (got <= 0)
			fail_msg("the CLI's output ended before a line came; it holds '%.*s'",
			         (int)s->npending, s->pending);
		s->npending += (size_t)got;
	}
	*nl = '\0';
	snprintf(buf, size, "%s", s->pending);
	s->npending -= (size_t)(nl + 1 - s->pending);
	memmove(s->pending, nl + 1, s->npending);
}

int ms_session_end(ms_session *s, char **ret_err)
{
	int64_t deadline = ms_now_ms() + 20000;
	int st = 0, status;
	pid_t got;

	if (s->to)
		fclose(s->to);
	s->to = NULL;
	while ((got = waitpid(s->pid, &st, WNOHANG)) == 0 && ms_now_ms() < deadline)
		usleep(10000);
	if (got == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &st, 0);
	}
	close(s->from);
	status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (ret_err) {
		size_t len;

		*ret_err = (char *)ms_file_read(s->err_path, &len);
		*ret_err = realloc(*ret_err, len + 1);
		assert_non_null(*ret_err);
		(*ret_err)[len] = '\0';
	}
	unlink(s->err_path);
	assert_true(got != 0);
	return status;
}

void ms_assert_usage_error(const char *const *argv)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, argv), 0);
	assert_int_equal(r.status, 2);
	assert_memory_equal(r.err, "memscan: ", 9);
	ms_run_free(&r);
}
