/* SPDX-License-Identifier: MIT */
/* Work that stops: an agent request whose client left or whose agent stops, a local CLI on Ctrl-C. */
#include "agentutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The fixture's arena: 256 MiB of 0x41. The slow pattern is 4095 x 41 then 42: every start passes
 * the matcher's filter and verification fails only at the last byte, the bounded matcher's worst case
 * (a few seconds for this arena). */
#define ARENA_PAGES "65536"
#define SLOW_BYTES  MEMSCAN_PATTERN_MAX

struct env {
	ms_fixture fx;
	ms_agent a;
	char *pattern;
	char *slow_str; /* the longest str value: 'A's then a 'B' */
	char dir[4096];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int setup(void **state)
{
	static const char *const fx_args[] = { "--pages", ARENA_PAGES, NULL };
	struct env *e = calloc(1, sizeof(*e));

	if (!e || ms_fixture_start(&e->fx, fx_args) != 0)
		return -1;
	if (ms_fixture_cmd(&e->fx, "fill %s %llx 41", ms_hex(e->fx.arena),
	                   (unsigned long long)e->fx.arena_len))
		return -1;
	e->pattern = malloc(3 * SLOW_BYTES);
	e->slow_str = malloc(MEMSCAN_VALUE_STR_MAX + 1);
	if (!e->pattern || !e->slow_str || ms_agent_init(&e->a) != 0)
		return -1;
	memset(e->slow_str, 'A', MEMSCAN_VALUE_STR_MAX - 1);
	e->slow_str[MEMSCAN_VALUE_STR_MAX - 1] = 'B';
	e->slow_str[MEMSCAN_VALUE_STR_MAX] = '\0';
	for (size_t i = 0; i < SLOW_BYTES; i++)
		memcpy(e->pattern + 3 * i, i + 1 < SLOW_BYTES ? "41 " : "42", 3);
	snprintf(e->dir, sizeof(e->dir), "%s", ms_tmpdir());
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ms_agent_stop(&e->a);
	ms_agent_cleanup(&e->a);
	ms_fixture_stop(&e->fx);
	ms_tmpdir_remove(e->dir);
	free(e->pattern);
	free(e->slow_str);
	free(e);
	return 0;
}

/* Starts the agent, connects C and sends REQ, slow work on the arena; C's receive timeout ends the
 * wait while the agent works (its audit line, with OP, not written yet). Returns the time then, in ms. */
static double start_slow(struct env *e, ms_peer *c, const Memscan__V1__Request *req, const char *op)
{
	assert_int_equal(ms_agent_start(&e->a, NULL), 0);
	assert_int_equal(ms_peer_connect(c, &e->a, &e->a.full, 500), 0);
	assert_null(ms_peer_call(c, req)); /* still working when the 500 ms receive timeout ends */
	assert_int_equal(ms_agent_err_count(&e->a, op), 0);
	return now_ms();
}

static void arena_filter(const struct env *e, Memscan__V1__Filter *fl)
{
	fl->use_default = 1;
	fl->range_start = e->fx.arena;
	fl->range_end = e->fx.arena + e->fx.arena_len;
}

/* The slow pattern scan of the arena (see start_slow). */
static double start_slow_scan(struct env *e, ms_peer *c)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = e->fx.pid;
	arena_filter(e, &fl);
	sc.target = &t;
	sc.filter = &fl;
	sc.pattern = e->pattern;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	return start_slow(e, c, &req, "op=scan");
}

/* A client that leaves mid-scan frees its worker: the scan's audit line says CANCELLED soon after
 * the connection closes, and another client is served. */
static void test_cancel_client_leaves(void **state)
{
	struct env *e = *state;
	ms_peer c;
	double t0 = start_slow_scan(e, &c);

	ms_peer_close(&c);
	assert_int_equal(ms_agent_wait_err(&e->a, "op=scan", 2000), 1);
	print_message("scan cancelled %.0f ms after its client left\n", now_ms() - t0);
	assert_int_equal(ms_agent_err_has(&e->a, "result=CANCELLED"), 1);
	assert_int_equal(ms_agent_serving(&e->a, e->fx.pid), 0);
	assert_int_equal(ms_agent_terminate(&e->a, 10000), 0);
}

/* The same for a value scan kept on the agent: a u8 range that no byte of the arena (0x41) matches,
 * checked slot by slot at every address (seconds for 256 MiB). Nothing is kept. */
static void test_cancel_value_scan_client_leaves(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ValueScan vs = MEMSCAN__V1__VALUE_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;
	struct env *e = *state;
	ms_peer c;
	double t0;

	t.pid = e->fx.pid;
	arena_filter(e, &fl);
	vs.target = &t;
	vs.filter = &fl;
	/* 255 x 'A' then 'B' over 256 MiB of 'A': every start verifies, at the matcher's bounded worst
	 * (value scans of integers and short strings run at memory speed: they would end in time) */
	vs.type = (char *)"str";
	vs.value = e->slow_str;
	vs.align = 1;
	req.op_case = MEMSCAN__V1__REQUEST__OP_VALUE_SCAN;
	req.value_scan = &vs;
	/* the scan reads 256 MiB (tens of ms at least): the client gives up after 5 ms, while it runs */
	assert_int_equal(ms_agent_start(&e->a, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &e->a, &e->a.full, 5000), 0);
	assert_int_equal(nng_socket_set_ms(c.sock, NNG_OPT_RECVTIMEO, 5), 0);
	assert_null(ms_peer_call(&c, &req));
	assert_int_equal(ms_agent_err_count(&e->a, "op=value_scan"), 0);
	t0 = now_ms();
	ms_peer_close(&c);
	assert_int_equal(ms_agent_wait_err(&e->a, "op=value_scan", 2000), 1);
	print_message("value scan cancelled %.0f ms after its client left\n", now_ms() - t0);
	assert_int_equal(ms_agent_err_has(&e->a, "result=CANCELLED"), 1);
	assert_int_equal(ms_agent_serving(&e->a, e->fx.pid), 0);
	assert_int_equal(ms_agent_terminate(&e->a, 10000), 0);
}

/* SIGTERM while a scan runs: the scan stops (CANCELLED) and the agent exits 0 promptly. */
static void test_cancel_sigterm_mid_request(void **state)
{
	struct env *e = *state;
	ms_peer c;
	double t0 = start_slow_scan(e, &c);

	assert_int_equal(kill(e->a.pid, SIGTERM), 0);
	assert_int_equal(ms_agent_wait(&e->a, 2000), 0);
	print_message("agent exited %.0f ms after SIGTERM\n", now_ms() - t0);
	assert_int_equal(ms_agent_err_has(&e->a, "result=CANCELLED"), 1);
	ms_peer_close(&c);
}

/* Starts the CLI with ARGV (after the program name), its output to /dev/null and SIGINT at its
 * default (the test's own disposition is not inherited). */
static pid_t cli_spawn(const char *const *argv)
{
	const char *args[16] = { MEMSCAN_CLI_PATH };
	pid_t pid;
	size_t n = 1;

	while (*argv && n < 15)
		args[n++] = *argv++;
	args[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		execv(MEMSCAN_CLI_PATH, (char *const *)args);
		_exit(127);
	}
	assert_true(pid > 0);
	return pid;
}

/* The exit code of PID, 1000 + the signal if a signal ended it (a shell would show 128 + the signal
 * for both: the test tells them apart), waiting up to MS; -1 (and the process killed) if it runs on. */
static int cli_wait(pid_t pid, int ms)
{
	double end = now_ms() + ms;
	int status;

	while (now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
		usleep(2000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Ctrl-C during a long local scan: the scan stops and the CLI exits 130, as shells expect. */
static void test_cancel_cli_sigint_scan(void **state)
{
	struct env *e = *state;
	char range[80];
	const char *argv[] = { "scan", ms_fixture_pid_str(&e->fx), "--pattern", e->pattern, "--range", range,
		               NULL };
	pid_t pid;
	double t0;

	snprintf(range, sizeof(range), "%s-%s", ms_hex(e->fx.arena), ms_hex(e->fx.arena + e->fx.arena_len));
	pid = cli_spawn(argv);
	usleep(500 * 1000); /* started, and scanning (the whole scan takes seconds) */
	t0 = now_ms();
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(cli_wait(pid, 2000), 130);
	print_message("memscan scan exited %.0f ms after SIGINT\n", now_ms() - t0);
}

/* The first entry of DIR whose name starts with PREFIX, into NAME; 1 if there is one. */
static int dir_has(const char *dir, const char *prefix, char *name, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(name, len, "%s", de->d_name);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

/* 1 if process PID holds open a file in DIR (the snapshot it writes: unnamed until complete, so it
 * shows only in /proc/PID/fd, as "DIR/#INODE (deleted)", or as a temporary sibling). */
static int writing_in(pid_t pid, const char *dir)
{
	char fddir[64], link[4300], target[4300];
	DIR *d;
	struct dirent *de;
	int found = 0;
	ssize_t n;

	snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)pid);
	d = opendir(fddir);
	if (!d)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		snprintf(link, sizeof(link), "%s/%s", fddir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = strncmp(target, dir, strlen(dir)) == 0 && target[strlen(dir)] == '/';
	}
	closedir(d);
	return found;
}

/* Ctrl-C while a local snapshot is being written (its file open in the directory): exit 130, and
 * neither the file nor a temporary one is left behind. */
static void test_cancel_cli_sigint_snapshot(void **state)
{
	struct env *e = *state;
	char out[4200], name[256];
	const char *argv[] = { "snapshot", ms_fixture_pid_str(&e->fx), "-o", out, NULL };
	double end = now_ms() + 10000;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/s.snap", e->dir);
	pid = cli_spawn(argv);
	while (!writing_in(pid, e->dir) && now_ms() < end)
		usleep(500);
	assert_int_equal(kill(pid, SIGSTOP), 0); /* then the signal waits for it, early in the write */
	assert_true(writing_in(pid, e->dir));
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(cli_wait(pid, 5000), 130);
	assert_false(dir_has(e->dir, "s.snap", name, sizeof(name)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_client_leaves),
		cmocka_unit_test(test_cancel_sigterm_mid_request),
		cmocka_unit_test(test_cancel_cli_sigint_scan),
		cmocka_unit_test(test_cancel_cli_sigint_snapshot),
		cmocka_unit_test(test_cancel_value_scan_client_leaves),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
