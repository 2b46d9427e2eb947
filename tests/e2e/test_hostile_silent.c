/* SPDX-License-Identifier: MIT */
/* Descriptors of a real memscan-agent: its limit, and connections that never send a byte while it is
 * held to 1024. */
#include "agentutil.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#define SILENT 600
/* The per-peer cap the agent runs with (all connections here come from 127.0.0.1). */
#define PER_PEER 32

/* Waits up to MS for the agent to end the connections in T (it first sends its own 8-byte SP header,
 * then EOF or a reset); returns how many it ended. */
static size_t wait_closed(ms_tcp_peer *t, size_t n, int ms)
{
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	size_t closed = 0;
	int64_t end = ms_now_ms() + ms;

	assert_non_null(pfd);
	for (size_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ t[i].fd, POLLIN, 0 };
	while (closed < n && ms_now_ms() < end) {
		if (poll(pfd, n, 100) <= 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			uint8_t buf[64];
			ssize_t r;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			r = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
				pfd[i].fd = -1;
				closed++;
			}
		}
	}
	free(pfd);
	return closed;
}

/* `memscan remote ps` against A with the full key; its run time in *RET_MS. */
static int remote_ps(const ms_agent *a, int64_t *ret_ms)
{
	char hostport[64], pub[4300];
	int64_t start;
	int status;
	ms_run r;

	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(a));
	snprintf(pub, sizeof(pub), "%s.pub", a->agent.path);
	RUN(&r, "trust", hostport, pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	start = ms_now_ms();
	RUN(&r, "remote", "ps", hostport, "--identity", a->full.path);
	*ret_ms = ms_now_ms() - start;
	status = r.status;
	if (status != 0)
		print_error("remote ps failed (%d): %s\n", status, r.err);
	else
		assert_true(ms_count_lines(r.out) > 1);
	ms_run_free(&r);
	return status;
}

/* The soft and hard RLIMIT_NOFILE of process PID, from /proc/PID/limits. */
static void nofile_limits(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
	char path[64], line[256];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "Max open files %llu %llu", soft, hard) == 2;
	fclose(f);
	assert_true(found);
}

/* Started with a soft descriptor limit of 256 under a higher hard one, the agent runs with the hard
 * one (the unit's LimitNOFILE is the hard limit). */
static void test_agent_raises_nofile(void **state)
{
	unsigned long long soft = 0, hard = 0;
	ms_agent *a = *state;

	nofile_limits(a->pid, &soft, &hard);
	print_message("agent descriptor limits: soft %llu, hard %llu\n", soft, hard);
	assert_true(hard > 256);
	assert_int_equal(soft, hard);
}

/* 600 TCP connections that never send their SP header, to an agent limited to 1024 descriptors: the
 * agent ends them (those past the 1 s handshake timeout, and at once those beyond the per-peer cap)
 * instead of holding each for nng's 10 s, its descriptors stay near the cap, and `memscan remote ps`
 * is served within 10 s while they are open. */
static void test_silent_connections_shed(void **state)
{
	struct rlimit lim = { 1024, 1024 };
	ms_tcp_peer *t = calloc(SILENT, sizeof(*t));
	ms_agent *a = *state;
	size_t opened = 0, closed, fds, peak = 0;
	int64_t start = ms_now_ms(), ps_ms = 0;

	assert_non_null(t);
	assert_int_equal(prlimit(a->pid, RLIMIT_NOFILE, &lim, NULL), 0);
	for (; opened < SILENT; opened++) {
		if (ms_peer_tcp_dial(&t[opened], a, 5000) != 0)
			break;
		if (opened % 50 == 0) {
			fds = ms_agent_fd_count(a);
			peak = fds > peak ? fds : peak;
		}
	}
	print_message("%zu silent connections opened in %lld ms; agent descriptors peaked at %zu\n", opened,
	              (long long)(ms_now_ms() - start), peak);
	if (opened < SILENT) {
		for (size_t i = 0; i < opened; i++)
			ms_peer_tcp_close(&t[i]);
		free(t);
	}
	assert_int_equal(opened, SILENT);
	assert_int_equal(remote_ps(a, &ps_ms), 0);
	print_message("remote ps served in %lld ms\n", (long long)ps_ms);
	assert_true(ps_ms < 10000);
	/* one sweep (every 0.5 s) leaves at most the per-peer cap of them */
	usleep(1200 * 1000);
	fds = ms_agent_fd_count(a);
	print_message("agent descriptors with %d silent connections open: %zu\n", SILENT, fds);
	assert_true(fds <= PER_PEER + 24);
	/* and the rest go once they are older than the handshake timeout, long before nng's 10 s */
	closed = wait_closed(t, SILENT, 3000);
	print_message("%zu of %d ended by the agent %lld ms after the first was opened\n", closed, SILENT,
	              (long long)(ms_now_ms() - start));
	assert_int_equal(closed, SILENT);
	assert_true(ms_agent_err_has(a, "sent no SP header"));
	for (size_t i = 0; i < opened; i++)
		ms_peer_tcp_close(&t[i]);
	free(t);
	assert_int_equal(ms_agent_serving(a, (int)getpid()), 0);
}

/* Starts A with a soft descriptor limit of 256 (this process's goes back to its hard limit after). */
static int agent_start_low_nofile(ms_agent *a, const char *const *args)
{
	struct rlimit own, low;
	int rc;

	if (getrlimit(RLIMIT_NOFILE, &own) != 0 || own.rlim_max <= 256)
		return -1;
	low = (struct rlimit){ 256, own.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &low) != 0)
		return -1;
	rc = ms_agent_start(a, args);
	own.rlim_cur = own.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &own) == 0 ? rc : -1;
}

static int setup(void **state)
{
	static ms_agent a;
	const char *args[] = { "--max-per-peer", "32", NULL };
	const char *dir = ms_tmpdir();

	/* the CLI's known_agents goes to a fresh directory */
	if (!dir || setenv("XDG_CONFIG_HOME", dir, 1) != 0)
		return -1;
	if (ms_agent_init(&a) != 0 || agent_start_low_nofile(&a, args) != 0)
		return -1;
	*state = &a;
	return 0;
}

static int teardown(void **state)
{
	int rc = ms_agent_finish(*state);

	ms_tmpdir_remove(getenv("XDG_CONFIG_HOME"));
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_agent_raises_nofile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_connections_shed, setup, teardown),
	};
	struct rlimit own;

	signal(SIGPIPE, SIG_IGN);
	/* this process holds the 600 connections too */
	if (getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_cur < own.rlim_max) {
		own.rlim_cur = own.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &own);
	}
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
