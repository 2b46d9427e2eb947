/* SPDX-License-Identifier: MIT */
/* Test helpers of the end-to-end suites: the memscan CLI on a pseudo-terminal. */
#include "ttyutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts the CLI on a pseudo-terminal, its stdout on a pipe if PIPE_OUT. */
static void tty_start(ms_tty *t, const char *const *argv, int pipe_out)
{
	int p[2] = { -1, -1 };

	memset(t, 0, sizeof(*t));
	t->outp = -1;
	if (pipe_out)
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	t->pid = forkpty(&t->master, NULL, NULL, NULL);
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		if (pipe_out)
			dup2(p[1], STDOUT_FILENO);
		signal(SIGINT, SIG_DFL);
		ms_exec_cli(argv + 1);
	}
	if (pipe_out) {
		close(p[1]);
		t->outp = p[0];
	}
}

void ms_tty_start(ms_tty *t, const char *const *argv)
{
	tty_start(t, argv, 1);
}

void ms_tty_start_shared(ms_tty *t, const char *const *argv)
{
	tty_start(t, argv, 0);
}

/* Reads what comes on FD (the terminal into T->out, else counted and dropped); -1 at its end. */
static int tty_read(ms_tty *t, int fd)
{
	static char sink[1 << 16];
	int term = fd == t->master;
	ssize_t n =
	    term ? read(fd, t->out + t->len, sizeof(t->out) - 1 - t->len) : read(fd, sink, sizeof(sink));

	if (n < 0 && errno == EINTR)
		return fd;
	if (n <= 0) { /* EIO from the terminal once the CLI closed it, EOF from the pipe */
		close(fd);
		return -1;
	}
	if (term) {
		t->len += (size_t)n;
		t->out[t->len] = '\0';
	} else {
		t->out_bytes += (uint64_t)n;
	}
	return fd;
}

int ms_tty_pump(ms_tty *t, const char *needle, uint64_t out_min, int ms)
{
	int64_t end = ms_now_ms() + ms;

	while (!(needle && strstr(t->out, needle)) && !(out_min && t->out_bytes >= out_min) &&
	       (t->master >= 0 || t->outp >= 0) && ms_now_ms() < end) {
		struct pollfd pfd[2] = { { t->master, POLLIN, 0 }, { t->outp, POLLIN, 0 } };

		if (poll(pfd, 2, (int)(end - ms_now_ms())) <= 0)
			continue;
		if (pfd[0].revents)
			t->master = tty_read(t, t->master);
		if (pfd[1].revents)
			t->outp = tty_read(t, t->outp);
	}
	return (needle && strstr(t->out, needle)) || (out_min && t->out_bytes >= out_min);
}

int ms_tty_finish(ms_tty *t, int ms)
{
	int64_t end = ms_now_ms() + ms;
	int status;

	ms_tty_pump(t, NULL, 0, ms);
	if (t->master >= 0)
		close(t->master);
	if (t->outp >= 0)
		close(t->outp);
	while (waitpid(t->pid, &status, WNOHANG) == 0) {
		if (ms_now_ms() > end) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, &status, 0);
			return -1;
		}
		usleep(5000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char *ms_run_on_tty(const char *const *argv, const char *input, const char *interrupt_at,
                          int *ret_status)
{
	static ms_tty t;
	const char *args[64] = { "memscan" };
	size_t n = 1;

	while (argv && *argv && n < 63)
		args[n++] = *argv++;
	ms_tty_start(&t, args);
	if (input) /* typed at the terminal: the line discipline keeps it until the CLI reads */
		assert_int_equal(write(t.master, input, strlen(input)), (ssize_t)strlen(input));
	if (interrupt_at && ms_tty_pump(&t, interrupt_at, 0, 60000))
		kill(t.pid, SIGINT);
	*ret_status = ms_tty_finish(&t, 60000);
	return t.out;
}
