/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the agent under systemd's protocols, with the test in systemd's place: readiness,
 * reload and stop notices on NOTIFY_SOCKET (Type=notify), and audit lines as journal entries with
 * MEMSCAN_* fields when JOURNAL_STREAM says stderr is the journal. For the journal the test runs in a
 * mount namespace of its own, with a tmpfs on /run holding its own /run/systemd/journal/socket. */
#include "agentutil.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DGRAM_MAX 8192

/* A datagram socket bound at PATH; -1 on failure. */
static int dgram_bind(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Receives datagrams on FD until one contains NEEDLE (copied to OUT) or MS pass: 1 if found. */
static int dgram_wait(int fd, const char *needle, char *out, int ms)
{
	int64_t end = ms_now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - ms_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recv(fd, out, DGRAM_MAX - 1, 0);
		if (n < 0)
			return 0;
		out[n] = '\0';
		if (strstr(out, needle))
			return 1;
	}
}

/* True if the datagram MSG holds the line FIELD ("KEY=value" or a "KEY=" prefix). */
static int has_field(const char *msg, const char *field)
{
	for (const char *p = strstr(msg, field); p; p = strstr(p + 1, field))
		if (p == msg || p[-1] == '\n')
			return 1;
	return 0;
}

static void test_notify_ready_reload_stop(void **state)
{
	ms_agent *a = *state;
	char path[4200], msg[DGRAM_MAX];
	ms_peer peer;
	int fd;

	snprintf(path, sizeof(path), "%s/notify.sock", a->dir);
	fd = dgram_bind(path);
	assert_true(fd >= 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(ms_agent_start(a, NULL), 0);
	unsetenv("NOTIFY_SOCKET");

	assert_true(dgram_wait(fd, "READY=1", msg, 10000));
	assert_true(has_field(msg, "STATUS=serving; key SHA256:"));
	/* ready means served: a client gets through at once */
	assert_int_equal(ms_peer_connect(&peer, a, &a->full, 5000), 0);
	ms_peer_close(&peer);

	assert_int_equal(kill(a->pid, SIGHUP), 0);
	assert_true(dgram_wait(fd, "RELOADING=1", msg, 10000));
	assert_true(has_field(msg, "MONOTONIC_USEC="));
	assert_true(dgram_wait(fd, "READY=1", msg, 10000));

	assert_int_equal(kill(a->pid, SIGTERM), 0);
	assert_true(dgram_wait(fd, "STOPPING=1", msg, 10000));
	assert_int_equal(ms_agent_wait(a, 10000), 0);
	close(fd);
}

/* The test process's own mount namespace with an empty /run, and the journal's socket in it. */
static int journal_socket(void)
{
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
		print_error("cannot make a mount namespace with its own /run: %s (the test needs root)\n",
		            strerror(errno));
		return -1;
	}
	if (mkdir("/run/systemd", 0755) != 0 || mkdir("/run/systemd/journal", 0755) != 0)
		return -1;
	return dgram_bind("/run/systemd/journal/socket");
}

static void test_journal_fields(void **state)
{
	Memscan__V1__Response *hello;
	ms_agent *a = *state;
	char stream[64], msg[DGRAM_MAX];
	int fd = journal_socket(), err_fd;
	struct stat st;
	ms_peer peer;

	assert_true(fd >= 0);
	/* systemd connects stderr to the journal and names it in JOURNAL_STREAM; the agent's stderr is
	 * this file, whose inode stays when the start truncates it */
	err_fd = open(a->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(err_fd >= 0 && fstat(err_fd, &st) == 0);
	close(err_fd);
	snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
	assert_int_equal(ms_agent_start(a, NULL), 0);
	unsetenv("JOURNAL_STREAM");

	assert_int_equal(ms_peer_connect(&peer, a, &a->full, 5000), 0);
	hello = ms_peer_hello(&peer);
	assert_non_null(hello);
	wire_free_response(hello);
	ms_peer_close(&peer);
	assert_true(dgram_wait(fd, "MEMSCAN_EVENT=audit", msg, 10000));
	assert_true(has_field(msg, "MEMSCAN_OP=hello"));
	assert_true(has_field(msg, "MEMSCAN_PID=0"));
	assert_true(has_field(msg, "MEMSCAN_KEY=SHA256:"));
	assert_true(has_field(msg, "MEMSCAN_RESULT=OK"));
	assert_true(has_field(msg, "MEMSCAN_PEER=127.0.0.1:"));
	assert_true(has_field(msg, "SYSLOG_IDENTIFIER=memscan-agent"));
	assert_true(has_field(msg, "PRIORITY=6"));
	assert_true(has_field(msg, "MESSAGE=audit "));

	/* a key the agent does not know: refused, as a warning with its reason */
	assert_int_not_equal(ms_peer_connect(&peer, a, &a->stranger, 2000), 0);
	ms_peer_close(&peer);
	assert_true(dgram_wait(fd, "MEMSCAN_EVENT=refused", msg, 10000));
	assert_true(has_field(msg, "MEMSCAN_REASON=unauthorized-key"));
	assert_true(has_field(msg, "PRIORITY=4"));

	/* the entries went to the journal, not also as lines to stderr */
	assert_false(ms_agent_err_has(a, "audit time="));
	assert_false(ms_agent_err_has(a, "refused time="));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_ready_reload_stop, ms_agent_setup,
		                                ms_agent_teardown),
		/* last: it leaves this process in its own mount namespace */
		cmocka_unit_test_setup_teardown(test_journal_fields, ms_agent_setup, ms_agent_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
