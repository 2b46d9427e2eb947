/* SPDX-License-Identifier: MIT */
/* memscan-agent life cycle: start-up refusals, config, signals (SIGHUP revocation, SIGTERM), handshake
 * limits. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "chan.h"
#include "keyfile.h"
#include "wire.h"

/* ---- helper: keys, a running agent, a client ---- */

typedef struct ta_key {
	char path[4200];
	uint8_t priv[KEYFILE_KEY_LEN];
	uint8_t pub[KEYFILE_KEY_LEN];
} ta_key;

typedef struct ta_env {
	char dir[4096];
	char auth_path[4200];
	char err_path[4200];
	ta_key agent, full, listonly, stranger;
	pid_t pid;
	int out_fd;
	char url[200];
	char fp[KEYFILE_FINGERPRINT_LEN + 8];
} ta_env;

static int ta_make_key(ta_env *e, ta_key *k, const char *name)
{
	char err[256];

	snprintf(k->path, sizeof(k->path), "%s/%s", e->dir, name);
	if (keyfile_generate(k->path, name, k->pub, err, sizeof(err)) != 0 ||
	    keyfile_load_private(k->path, k->priv, k->pub, err, sizeof(err)) != 0) {
		print_error("%s: %s\n", k->path, err);
		return -1;
	}
	return 0;
}

/* Writes authorized_keys: full gets every permission, listonly only list (unless omitted). */
static int ta_write_auth(ta_env *e, int with_full, int with_list)
{
	char full[128], list[128];
	FILE *f = fopen(e->auth_path, "w");

	if (!f)
		return -1;
	keyfile_format_public(e->full.pub, full, sizeof(full));
	keyfile_format_public(e->listonly.pub, list, sizeof(list));
	if (with_full)
		fprintf(f, "perms=list,read,scan %s full\n", full);
	if (with_list)
		fprintf(f, "# a comment\nperms=list %s listonly\n", list);
	return fclose(f);
}

static int ta_env_init(ta_env *e)
{
	const char *dir = ms_tmpdir();

	memset(e, 0, sizeof(*e));
	if (!dir)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	snprintf(e->auth_path, sizeof(e->auth_path), "%s/authorized_keys", e->dir);
	snprintf(e->err_path, sizeof(e->err_path), "%s/agent.err", e->dir);
	if (ta_make_key(e, &e->agent, "agent.key") || ta_make_key(e, &e->full, "full.key") ||
	    ta_make_key(e, &e->listonly, "list.key") || ta_make_key(e, &e->stranger, "stranger.key"))
		return -1;
	return ta_write_auth(e, 1, 1);
}

/* Reads one line of the agent's stdout (byte by byte, so nothing is buffered past it) within 10 s. */
static int ta_read_line(ta_env *e, char *line, size_t len)
{
	struct pollfd pfd = { e->out_fd, POLLIN, 0 };
	size_t n = 0;

	while (n + 1 < len) {
		char ch;

		if (poll(&pfd, 1, 10000) <= 0 || read(e->out_fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		line[n++] = ch;
	}
	line[n] = '\0';
	return 0;
}

/* Starts the agent with EXTRA (NULL-terminated) after the usual arguments; 0 once it listens. */
static int ta_start(ta_env *e, const char *const *extra)
{
	const char *argv[32] = { MEMSCAN_AGENT_PATH,
		                 "--listen",
		                 "tcp://127.0.0.1:0",
		                 "--key",
		                 e->agent.path,
		                 "--authorized-keys",
		                 e->auth_path,
		                 "--workers",
		                 "4",
		                 "--handshake-timeout",
		                 "1000" };
	char line[512];
	int p[2], n = 11;

	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	if (pipe(p) != 0)
		return -1;
	e->pid = fork();
	if (e->pid == 0) {
		int fd = open(e->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(p[1], 1);
		dup2(fd, 2);
		close(p[0]);
		execv(MEMSCAN_AGENT_PATH, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	e->out_fd = p[0];
	if (e->pid < 0 || ta_read_line(e, line, sizeof(line)) != 0)
		return -1;
	if (sscanf(line, "memscan-agent %*s key %59s", e->fp) != 1)
		return -1;
	if (ta_read_line(e, line, sizeof(line)) != 0 || sscanf(line, "listening %199s", e->url) != 1)
		return -1;
	return 0;
}

/* Waits up to MS for the agent to exit; its exit code, or -1. */
static int ta_wait(ta_env *e, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			e->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	return -1;
}

static void ta_stop(ta_env *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
	if (e->out_fd > 0)
		close(e->out_fd);
	e->out_fd = -1;
}

/* Whether the agent's stderr contains NEEDLE. */
static int ta_err_has(ta_env *e, const char *needle)
{
	char buf[65536];
	int fd = open(e->err_path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, needle) != NULL;
}

typedef struct tc {
	nng_socket sock;
	chan_session *s;
} tc;

static int tc_send(tc *c, const uint8_t *data, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, len) != 0)
		return -1;
	memcpy(nng_msg_body(m), data, len);
	if (nng_sendmsg(c->sock, m, 0) != 0) {
		nng_msg_free(m);
		return -1;
	}
	return 0;
}

/* Opens a REQ socket connected to the agent, receives time out after TIMEO_MS. */
static int tc_open(tc *c, ta_env *e, int timeo_ms)
{
	memset(c, 0, sizeof(*c));
	if (nng_req0_open(&c->sock) ||
	    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_CLIENT_RECV_MAX) ||
	    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) ||
	    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeo_ms) ||
	    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeo_ms) ||
	    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 60000) || nng_dial(c->sock, e->url, NULL, 0)) {
		print_error("cannot connect to %s\n", e->url);
		return -1;
	}
	return 0;
}

/* Sends HS1 and completes the handshake with its reply; -1 if there is none in time. */
static int tc_handshake(tc *c, chan_client_hs *hs, const uint8_t hs1[CHAN_HS1_LEN])
{
	nng_msg *m = NULL;
	int r;

	if (tc_send(c, hs1, CHAN_HS1_LEN) || nng_recvmsg(c->sock, &m, 0))
		return -1;
	r = chan_client_finish(hs, nng_msg_body(m), nng_msg_len(m), &c->s);
	nng_msg_free(m);
	return r;
}

/* Connects and handshakes with KEY; 0, or -1 if the agent did not answer within TIMEO_MS. */
static int tc_connect(tc *c, ta_env *e, const ta_key *key, int timeo_ms)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL;
	int r = -1;

	if (tc_open(c, e, timeo_ms) == 0 && chan_client_start(key->priv, e->agent.pub, hs1, &hs) == 0)
		r = tc_handshake(c, hs, hs1);
	chan_client_hs_free(hs);
	return r;
}

static void tc_close(tc *c)
{
	nng_close(c->sock);
	chan_session_free(c->s);
	c->s = NULL;
}

/* Sends plaintext PT as the next request; the decoded Response, or NULL (no answer / bad reply). */
static Memscan__V1__Response *tc_call_pt(tc *c, const uint8_t *pt, size_t len)
{
	uint8_t *frame = malloc(len + CHAN_DATA_OVERHEAD), *out = NULL;
	Memscan__V1__Response *resp = NULL;
	size_t flen, olen;
	nng_msg *m = NULL;

	if (!frame || chan_seal(c->s, pt, len, frame, len + CHAN_DATA_OVERHEAD, &flen) ||
	    tc_send(c, frame, flen) || nng_recvmsg(c->sock, &m, 0))
		goto out;
	out = malloc(nng_msg_len(m) + 1);
	if (out && chan_open(c->s, nng_msg_body(m), nng_msg_len(m), out, nng_msg_len(m), &olen) == 0)
		resp = wire_unpack_response(out, olen, WIRE_UNPACK_BUDGET_CLIENT);
out:
	nng_msg_free(m);
	free(frame);
	free(out);
	return resp;
}

static Memscan__V1__Response *tc_call(tc *c, const Memscan__V1__Request *req)
{
	size_t len;
	uint8_t *pt = wire_pack(&req->base, &len);
	Memscan__V1__Response *resp = tc_call_pt(c, pt, len);

	free(pt);
	return resp;
}

static Memscan__V1__Response *tc_hello(tc *c)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	return tc_call(c, &req);
}

/* Runs the agent expecting it to refuse to start; its exit code (-1 if it started). */
static int ta_run_expect_exit(ta_env *e, const char *const *extra)
{
	if (ta_start(e, extra) == 0) {
		ta_stop(e);
		return -1;
	}
	return ta_wait(e, 10000);
}

/* Waits up to 5 s for NEEDLE in the agent's stderr. */
static int ta_wait_err(ta_env *e, const char *needle)
{
	for (int i = 0; i < 500; i++) {
		if (ta_err_has(e, needle))
			return 1;
		usleep(10000);
	}
	return 0;
}

static int setup(void **state)
{
	ta_env *e = calloc(1, sizeof(*e));

	if (!e || ta_env_init(e) != 0) {
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	ta_env *e = *state;

	ta_stop(e);
	if (!getenv("MEMSCAN_TEST_KEEP"))
		ms_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static void test_refuses_readable_key(void **state)
{
	ta_env *e = *state;

	assert_int_equal(chmod(e->agent.path, 0644), 0);
	assert_int_equal(ta_run_expect_exit(e, NULL), 1);
	assert_true(ta_err_has(e, "chmod"));
}

static void test_refuses_malformed_authorized_keys(void **state)
{
	ta_env *e = *state;
	FILE *f = fopen(e->auth_path, "a");

	assert_non_null(f);
	fprintf(f, "perms=list,fly memscan-x25519 AAAA\n");
	fclose(f);
	assert_int_equal(ta_run_expect_exit(e, NULL), 1);
}

static void test_usage_errors(void **state)
{
	const char *zero_workers[] = { "--workers", "0", NULL };
	const char *unknown[] = { "--frobnicate", "1", NULL };
	const char *bad_size[] = { "--session-budget", "12Q", NULL };
	char conf[4300], needle[4400];
	const char *with_conf[] = { "--config", conf, NULL };
	ta_env *e = *state;
	FILE *f;

	assert_int_equal(ta_run_expect_exit(e, zero_workers), 2);
	assert_int_equal(ta_run_expect_exit(e, unknown), 2);
	assert_int_equal(ta_run_expect_exit(e, bad_size), 2);
	snprintf(conf, sizeof(conf), "%s/agent.conf", e->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "# memscan-agent\nworkers = 2\nfrobnicate = yes\n");
	fclose(f);
	assert_int_equal(ta_run_expect_exit(e, with_conf), 2);
	snprintf(needle, sizeof(needle), "%s:3: unknown key 'frobnicate'", conf);
	assert_true(ta_err_has(e, needle));
}

static void test_config_file(void **state)
{
	char conf[4300];
	const char *with_conf[] = { "--config", conf, NULL };
	ta_env *e = *state;
	tc c;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/agent.conf", e->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "workers = 2\nmax_connections = 10\nmax_connections_per_peer = 5\nsession_budget = 64M\n"
	           "global_budget = 1G\nhandshake_timeout_ms = 2000\nlisten = tcp://127.0.0.1:0\n");
	fclose(f);
	assert_int_equal(ta_start(e, with_conf), 0);
	assert_int_equal(tc_connect(&c, e, &e->full, 5000), 0);
	wire_free_response(tc_hello(&c));
	tc_close(&c);
}

static void test_sighup_revokes(void **state)
{
	Memscan__V1__Response *resp;
	ta_env *e = *state;
	tc full, list;

	assert_int_equal(ta_start(e, NULL), 0);
	assert_int_equal(tc_connect(&full, e, &e->full, 3000), 0);
	assert_int_equal(tc_connect(&list, e, &e->listonly, 2000), 0);
	resp = tc_hello(&list);
	assert_non_null(resp);
	wire_free_response(resp);
	/* a malformed file is refused and the old list kept */
	assert_int_equal(truncate(e->auth_path, 10), 0);
	assert_int_equal(kill(e->pid, SIGHUP), 0);
	assert_true(ta_wait_err(e, "keeping the previous authorized keys"));
	resp = tc_hello(&list);
	assert_non_null(resp);
	wire_free_response(resp);
	/* then the list key is removed: its session ends, the other one goes on */
	assert_int_equal(ta_write_auth(e, 1, 0), 0);
	assert_int_equal(kill(e->pid, SIGHUP), 0);
	assert_true(ta_wait_err(e, "revoked"));
	assert_null(tc_hello(&list));
	tc_close(&list);
	assert_int_not_equal(tc_connect(&list, e, &e->listonly, 1000), 0);
	tc_close(&list);
	resp = tc_hello(&full);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	tc_close(&full);
}

static void test_sigterm_exits_zero(void **state)
{
	ta_env *e = *state;
	tc c;

	assert_int_equal(ta_start(e, NULL), 0);
	assert_int_equal(tc_connect(&c, e, &e->full, 3000), 0);
	wire_free_response(tc_hello(&c));
	assert_int_equal(kill(e->pid, SIGTERM), 0);
	assert_int_equal(ta_wait(e, 10000), 0);
	tc_close(&c);
}

static void test_handshake_timeout_and_replay(void **state)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL, *hs2 = NULL;
	ta_env *e = *state;
	tc idle, a, b;

	assert_int_equal(ta_start(e, NULL), 0);
	/* a connection that never handshakes is closed */
	assert_int_equal(tc_open(&idle, e, 1000), 0);
	assert_true(ta_wait_err(e, "reason=handshake-timeout"));
	tc_close(&idle);
	/* an HS1 replayed on another connection gets nothing */
	assert_int_equal(chan_client_start(e->full.priv, e->agent.pub, hs1, &hs), 0);
	assert_int_equal(tc_open(&a, e, 3000), 0);
	assert_int_equal(tc_handshake(&a, hs, hs1), 0);
	assert_int_equal(chan_client_start(e->full.priv, e->agent.pub, (uint8_t[CHAN_HS1_LEN]){ 0 }, &hs2),
	                 0);
	assert_int_equal(tc_open(&b, e, 1000), 0);
	assert_int_not_equal(tc_handshake(&b, hs2, hs1), 0);
	assert_true(ta_wait_err(e, "reason=replayed-hs1"));
	tc_close(&b);
	wire_free_response(tc_hello(&a));
	tc_close(&a);
	chan_client_hs_free(hs);
	chan_client_hs_free(hs2);
}

static void test_connection_caps(void **state)
{
	const char *caps[] = { "--max-per-peer", "2", NULL };
	ta_env *e = *state;
	tc c[3];

	assert_int_equal(ta_start(e, caps), 0);
	assert_int_equal(tc_connect(&c[0], e, &e->full, 3000), 0);
	assert_int_equal(tc_connect(&c[1], e, &e->full, 3000), 0);
	assert_int_not_equal(tc_connect(&c[2], e, &e->full, 1000), 0);
	assert_true(ta_wait_err(e, "reason=max-per-peer"));
	tc_close(&c[2]);
	tc_close(&c[1]);
	/* a slot freed is usable again (once the agent has seen the connection go) */
	for (int i = 0; i < 20 && tc_connect(&c[1], e, &e->full, 1000) != 0; i++) {
		tc_close(&c[1]);
		usleep(100000);
	}
	assert_non_null(c[1].s);
	tc_close(&c[1]);
	tc_close(&c[0]);
}

/* Snapshots beyond the session budget answer BUSY before anything is read. */
static void test_budget_busy(void **state)
{
	const char *budget[] = { "--session-budget", "128K", NULL };
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;
	Memscan__V1__Response *resp;
	ta_env *e = *state;
	ms_fixture f;
	tc c;

	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ta_start(e, budget), 0);
	assert_int_equal(tc_connect(&c, e, &e->full, 5000), 0);
	t.pid = f.pid;
	fl.use_default = 1;
	fl.range_start = f.arena;
	fl.range_end = f.arena + f.arena_len; /* 256 KiB */
	sn.target = &t;
	sn.filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	resp = tc_call(&c, &req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BUSY);
	wire_free_response(resp);
	fl.range_end = f.arena + 64 * 1024; /* fits */
	resp = tc_call(&c, &req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_int_equal(resp->snapshot->total_bytes, 64 * 1024);
	wire_free_response(resp);
	fl.range_end = f.arena + 96 * 1024; /* 64 + 96 KiB no longer fit */
	resp = tc_call(&c, &req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BUSY);
	wire_free_response(resp);
	tc_close(&c);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refuses_readable_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_malformed_authorized_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_revokes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_exits_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout_and_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_busy, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
