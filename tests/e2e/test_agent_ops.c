/* SPDX-License-Identifier: MIT */
/* memscan-agent end to end: a real agent on 127.0.0.1 driven by a raw REQ socket and the channel. */
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

/* Asserts RESP is an Error with CODE and frees it. */
static void assert_error(Memscan__V1__Response *resp, int code)
{
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	if ((int)resp->error->code != code)
		print_error("unexpected error %d: %s\n", resp->error->code, resp->error->message);
	assert_int_equal(resp->error->code, code);
	assert_true(resp->error->message && resp->error->message[0]);
	wire_free_response(resp);
}

static Memscan__V1__Response *tc_next(tc *c, uint64_t cursor)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Next next = MEMSCAN__V1__NEXT__INIT;

	next.cursor = cursor;
	req.op_case = MEMSCAN__V1__REQUEST__OP_NEXT;
	req.next = &next;
	return tc_call(c, &req);
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

/* Reads [ADDR, ADDR+LEN) of PID (live, or snapshot SNAP_ID), joining pages; holes counted in *HOLES. */
static Memscan__V1__Response *tc_read(tc *c, int pid, uint64_t start_time, uint64_t addr, uint64_t len,
                                      uint64_t snap_id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Read rd = MEMSCAN__V1__READ__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;

	t.pid = pid;
	t.start_time = start_time;
	rd.target = &t;
	rd.address = addr;
	rd.length = len;
	rd.snapshot_id = snap_id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_READ;
	req.read = &rd;
	return tc_call(c, &req);
}

static uint8_t *tc_read_all(tc *c, int pid, uint64_t addr, uint64_t len, uint64_t snap_id, size_t *holes,
                            int *pages)
{
	Memscan__V1__Response *resp = tc_read(c, pid, 0, addr, len, snap_id);
	uint8_t *buf = calloc(1, len);
	uint64_t at = addr;

	*holes = 0;
	*pages = 0;
	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_READ) {
		uint64_t next = resp->read->next_cursor;

		assert_int_equal(resp->read->address, at);
		assert_true(resp->read->data.len <= WIRE_MAX_PAGE_BYTES &&
		            at - addr + resp->read->data.len <= len);
		memcpy(buf + (at - addr), resp->read->data.data, resp->read->data.len);
		at += resp->read->data.len;
		*holes += resp->read->n_holes;
		(*pages)++;
		wire_free_response(resp);
		resp = next ? tc_next(c, next) : NULL;
	}
	if (resp) {
		print_error("read: result %d\n", resp->result_case);
		wire_free_response(resp);
		free(buf);
		return NULL;
	}
	assert_int_equal(at, addr + len);
	return buf;
}

/* ---- tests on one shared agent ---- */

static ta_env env;

static int group_setup(void **state)
{
	(void)state;
	if (ta_env_init(&env) != 0 || ta_start(&env, NULL) != 0) {
		print_error("cannot start the agent\n");
		return -1;
	}
	return 0;
}

/* Stops the agent with SIGTERM: it must exit 0 (under ASan: without leaks or errors). */
static int group_teardown(void **state)
{
	int rc;

	(void)state;
	kill(env.pid, SIGTERM);
	rc = ta_wait(&env, 30000);
	ta_stop(&env);
	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, env.err_path);
	if (!getenv("MEMSCAN_TEST_KEEP") && rc == 0)
		ms_tmpdir_remove(env.dir);
	return rc == 0 ? 0 : -1;
}

static void test_banner(void **state)
{
	char fp[KEYFILE_FINGERPRINT_LEN];

	(void)state;
	keyfile_fingerprint(env.agent.pub, fp);
	assert_string_equal(env.fp, fp);
	assert_true(strncmp(env.url, "tcp://127.0.0.1:", 16) == 0);
	assert_true(strtol(env.url + 16, NULL, 10) > 0);
}

static void test_hello(void **state)
{
	Memscan__V1__Response *resp;
	tc c;

	(void)state;
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	assert_int_equal(chan_session_perms(c.s), CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	resp = tc_hello(&c);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	assert_int_equal(resp->hello->protocol_version, WIRE_PROTOCOL_VERSION);
	assert_int_equal(resp->hello->granted_perms, CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	assert_int_equal(resp->hello->max_page_bytes, WIRE_MAX_PAGE_BYTES);
	wire_free_response(resp);
	tc_close(&c);
	assert_true(ta_err_has(&env, "op=hello pid=0 bytes=0 result=OK"));
}

static void test_unauthorized_key(void **state)
{
	struct timespec t0, t1;
	tc c;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_not_equal(tc_connect(&c, &env, &env.stranger, 2000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	tc_close(&c);
	assert_true(ta_err_has(&env, "reason=unauthorized-key"));
	/* the agent still serves authorized clients */
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	wire_free_response(tc_hello(&c));
	tc_close(&c);
}

static void test_list_processes(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListProcesses lp = MEMSCAN__V1__LIST_PROCESSES__INIT;
	Memscan__V1__Response *resp;
	int found = 0;
	tc c;

	(void)state;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_PROCESSES;
	req.list_processes = &lp;
	assert_int_equal(tc_connect(&c, &env, &env.listonly, 5000), 0);
	resp = tc_call(&c, &req);
	while (resp) {
		uint64_t next;

		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROCESSES);
		for (size_t i = 0; i < resp->processes->n_processes; i++)
			found += resp->processes->processes[i]->pid == env.pid;
		next = resp->processes->next_cursor;
		wire_free_response(resp);
		resp = next ? tc_next(&c, next) : NULL;
	}
	assert_int_equal(found, 1);
	tc_close(&c);
}

static Memscan__V1__Response *tc_list_regions(tc *c, int pid, uint64_t start_time)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListRegions lr = MEMSCAN__V1__LIST_REGIONS__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	t.start_time = start_time;
	f.use_default = 1;
	lr.target = &t;
	lr.filter = &f;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_REGIONS;
	req.list_regions = &lr;
	return tc_call(c, &req);
}

static void test_list_regions(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t start_time;
	ms_fixture f;
	int arena = 0;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	resp = tc_list_regions(&c, f.pid, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	assert_int_equal(resp->regions->next_cursor, 0);
	start_time = resp->regions->start_time;
	assert_true(start_time != 0);
	for (size_t i = 0; i < resp->regions->n_regions; i++)
		arena += resp->regions->regions[i]->start == f.arena &&
		         resp->regions->regions[i]->end == f.arena + f.arena_len;
	assert_int_equal(arena, 1);
	wire_free_response(resp);
	/* pinned start time: the same process answers, another one is gone */
	resp = tc_list_regions(&c, f.pid, start_time);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	wire_free_response(resp);
	assert_error(tc_list_regions(&c, f.pid, start_time + 1), MEMSCAN_ERR_PROCESS_GONE);
	assert_error(tc_list_regions(&c, 0, 0), MEMSCAN_ERR_INVALID_ARG);
	tc_close(&c);
	ms_fixture_stop(&f);
}

static const uint8_t marker[MS_FIXTURE_MARKER_LEN] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
	                                               0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };

static void test_read(void **state)
{
	ms_fixture f;
	size_t holes;
	uint8_t *buf;
	int pages;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	buf = tc_read_all(&c, f.pid, f.marker[1], MS_FIXTURE_MARKER_LEN, 0, &holes, &pages);
	assert_non_null(buf);
	assert_memory_equal(buf, marker, MS_FIXTURE_MARKER_LEN);
	assert_int_equal(holes, 0);
	assert_int_equal(pages, 1);
	free(buf);
	/* first page readable, the rest a hole */
	buf = tc_read_all(&c, f.pid, f.holey, f.holey_len, 0, &holes, &pages);
	assert_non_null(buf);
	assert_int_equal(buf[0], 0x5C);
	assert_int_equal(holes, 1);
	free(buf);
	assert_error(tc_read(&c, f.pid, 0, f.arena, 0, 0), MEMSCAN_ERR_INVALID_ARG);
	assert_error(tc_read(&c, f.pid, 0, UINT64_MAX - 4, 16, 0), MEMSCAN_ERR_INVALID_ARG);
	assert_error(tc_read(&c, f.pid, 0, 4096, 16, 0), MEMSCAN_ERR_UNREADABLE);
	/* the agent itself is never served */
	assert_error(tc_read(&c, env.pid, 0, f.arena, 16, 0), MEMSCAN_ERR_DENIED);
	tc_close(&c);
	ms_fixture_stop(&f);
}

/* Reads /proc/PID/mem directly, for comparison. */
static uint8_t *peek_mem(int pid, uint64_t addr, size_t len)
{
	char path[64];
	uint8_t *buf = malloc(len);
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)addr), (ssize_t)len);
	close(fd);
	return buf;
}

static void test_read_paged(void **state)
{
	const char *args[] = { "--pages", "2048", NULL };
	uint8_t *buf, *want;
	ms_fixture f;
	size_t holes;
	int pages;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_true(f.arena_len > WIRE_MAX_PAGE_BYTES);
	assert_int_equal(tc_connect(&c, &env, &env.full, 10000), 0);
	buf = tc_read_all(&c, f.pid, f.arena, f.arena_len, 0, &holes, &pages);
	assert_non_null(buf);
	assert_int_equal(holes, 0);
	assert_true(pages >= 2);
	want = peek_mem(f.pid, f.arena, f.arena_len);
	assert_memory_equal(buf, want, f.arena_len);
	free(want);
	free(buf);
	tc_close(&c);
	ms_fixture_stop(&f);
}

static Memscan__V1__Response *tc_scan(tc *c, int pid, const char *pattern)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	f.use_default = 1;
	sc.target = &t;
	sc.filter = &f;
	sc.pattern = (char *)pattern;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	return tc_call(c, &req);
}

static void test_scan(void **state)
{
	Memscan__V1__Response *resp;
	ms_fixture f;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_connect(&c, &env, &env.full, 10000), 0);
	resp = tc_scan(&c, f.pid, MS_FIXTURE_MARKER);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	assert_int_equal(resp->scan->n_matches, 3);
	assert_int_equal(resp->scan->next_cursor, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(resp->scan->matches[i]->address, f.marker[i]);
		assert_int_equal(resp->scan->matches[i]->region_start, f.arena);
	}
	wire_free_response(resp);
	resp = tc_scan(&c, f.pid, "4D 5Z");
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BAD_PATTERN);
	assert_non_null(strstr(resp->error->message, "offset 4"));
	wire_free_response(resp);
	tc_close(&c);
	ms_fixture_stop(&f);
}

static Memscan__V1__Response *tc_snapshot(tc *c, const ms_fixture *f)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = f->pid;
	fl.use_default = 1;
	fl.range_start = f->arena;
	fl.range_end = f->arena + f->arena_len;
	sn.target = &t;
	sn.filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	return tc_call(c, &req);
}

static Memscan__V1__Response *tc_diff(tc *c, uint64_t id, int update, int refilter)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;

	d.snapshot_id = id;
	d.update = update;
	d.refilter = refilter;
	req.op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	req.diff = &d;
	return tc_call(c, &req);
}

static Memscan__V1__Response *tc_release(tc *c, uint64_t id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Release rel = MEMSCAN__V1__RELEASE__INIT;

	rel.snapshot_id = id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_RELEASE;
	req.release = &rel;
	return tc_call(c, &req);
}

/* Diffs and checks there is exactly one one-byte run at ADDR from OLD to NEW (or none if ADDR is 0). */
static void check_diff(tc *c, uint64_t id, int update, uint64_t addr, uint8_t old, uint8_t new)
{
	Memscan__V1__Response *resp = tc_diff(c, id, update, 0);

	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
	assert_int_equal(resp->diff->next_cursor, 0);
	assert_int_equal(resp->diff->n_runs, addr ? 1 : 0);
	assert_int_equal(resp->diff->run_count, addr ? 1 : 0);
	assert_int_equal(resp->diff->changed_bytes, addr ? 1 : 0);
	if (addr) {
		Memscan__V1__ChangeRun *run = resp->diff->runs[0];

		assert_int_equal(run->address, addr);
		assert_int_equal(run->old_bytes.len, 1);
		assert_int_equal(run->old_bytes.data[0], old);
		assert_int_equal(run->new_bytes.data[0], new);
	}
	wire_free_response(resp);
}

static void test_snapshot_diff(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t id;
	ms_fixture f;
	size_t holes;
	uint8_t *buf;
	int pages;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_connect(&c, &env, &env.full, 10000), 0);
	resp = tc_snapshot(&c, &f);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	id = resp->snapshot->snapshot_id;
	assert_true(id != 0);
	assert_int_equal(resp->snapshot->total_bytes, f.arena_len);
	assert_true(resp->snapshot->time_ns != 0 && resp->snapshot->start_time != 0);
	assert_int_equal(resp->snapshot->regions->n_regions, 1);
	assert_int_equal(resp->snapshot->regions->regions[0]->start, f.arena);
	wire_free_response(resp);

	check_diff(&c, id, 0, 0, 0, 0);
	assert_int_equal(ms_fixture_cmd(&f, "set %s ab", ms_hex(f.marker[0])), 0);
	check_diff(&c, id, 0, f.marker[0], 0x4D, 0xAB);
	check_diff(&c, id, 1, f.marker[0], 0x4D, 0xAB); /* and make it the baseline */
	check_diff(&c, id, 0, 0, 0, 0);
	assert_int_equal(ms_fixture_cmd(&f, "set %s 11", ms_hex(f.marker[0])), 0);
	check_diff(&c, id, 0, f.marker[0], 0xAB, 0x11);

	/* the kept bytes: the updated baseline */
	buf = tc_read_all(&c, 0, f.marker[0], 4, id, &holes, &pages);
	assert_non_null(buf);
	assert_int_equal(buf[0], 0xAB);
	assert_int_equal(buf[1], 0x5A);
	free(buf);
	assert_error(tc_read(&c, 0, 0, f.arena + f.arena_len - 2, 4, id), MEMSCAN_ERR_NOT_FOUND);

	resp = tc_release(&c, id);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_RELEASE);
	wire_free_response(resp);
	assert_error(tc_diff(&c, id, 0, 0), MEMSCAN_ERR_NOT_FOUND);
	assert_error(tc_release(&c, id), MEMSCAN_ERR_NOT_FOUND);
	tc_close(&c);
	ms_fixture_stop(&f);
}

/* A change run larger than a page comes in pieces split at page boundaries; joined, they are the run. */
static void test_diff_paged(void **state)
{
	const char *args[] = { "--pages", "2048", NULL };
	Memscan__V1__Response *resp;
	uint64_t id, at, next;
	int pages = 0;
	ms_fixture f;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_int_equal(
	    ms_fixture_cmd(&f, "fill %s %llx 0", ms_hex(f.arena), (unsigned long long)f.arena_len), 0);
	assert_int_equal(tc_connect(&c, &env, &env.full, 10000), 0);
	resp = tc_snapshot(&c, &f);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	id = resp->snapshot->snapshot_id;
	wire_free_response(resp);
	assert_int_equal(
	    ms_fixture_cmd(&f, "fill %s %llx ff", ms_hex(f.arena), (unsigned long long)f.arena_len), 0);
	resp = tc_diff(&c, id, 0, 1);
	for (at = f.arena; resp; pages++) {
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
		assert_int_equal(resp->diff->run_count, 1);
		assert_int_equal(resp->diff->changed_bytes, f.arena_len);
		for (size_t i = 0; i < resp->diff->n_runs; i++) {
			Memscan__V1__ChangeRun *run = resp->diff->runs[i];

			assert_int_equal(run->address, at);
			assert_int_equal(run->old_bytes.len, run->new_bytes.len);
			assert_true(run->old_bytes.data[0] == 0 &&
			            run->new_bytes.data[run->new_bytes.len - 1] == 0xff);
			at += run->new_bytes.len;
		}
		next = resp->diff->next_cursor;
		wire_free_response(resp);
		resp = next ? tc_next(&c, next) : NULL;
	}
	assert_int_equal(at, f.arena + f.arena_len);
	assert_true(pages >= 4);
	wire_free_response(tc_release(&c, id));
	tc_close(&c);
	ms_fixture_stop(&f);
}

static void test_denied(void **state)
{
	ms_fixture f;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_connect(&c, &env, &env.listonly, 5000), 0);
	assert_int_equal(chan_session_perms(c.s), CHAN_PERM_LIST);
	assert_error(tc_read(&c, f.pid, 0, f.arena, 16, 0), MEMSCAN_ERR_DENIED);
	assert_error(tc_scan(&c, f.pid, "4D 5A"), MEMSCAN_ERR_DENIED);
	assert_error(tc_snapshot(&c, &f), MEMSCAN_ERR_DENIED);
	assert_error(tc_next(&c, 12345), MEMSCAN_ERR_NOT_FOUND);
	/* what it is granted still works */
	wire_free_response(tc_list_regions(&c, f.pid, 0));
	tc_close(&c);
	assert_true(ta_err_has(&env, "op=read pid=0 bytes=0 result=DENIED"));
	ms_fixture_stop(&f);
}

static void test_unknown_op_and_garbage(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
	Memscan__V1__Response *resp;
	tc c;

	(void)state;
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	assert_error(tc_call(&c, &req), MEMSCAN_ERR_UNKNOWN_OP);
	assert_error(tc_call_pt(&c, garbage, sizeof(garbage)), MEMSCAN_ERR_PROTOCOL);
	/* the same session goes on */
	resp = tc_hello(&c);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	tc_close(&c);
}

/* Sessions come and go (with a snapshot left behind): the agent frees them and keeps serving. */
static void test_session_churn(void **state)
{
	ms_fixture f;
	tc c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
		if (i % 10 == 0)
			wire_free_response(tc_snapshot(&c, &f));
		else
			wire_free_response(tc_hello(&c));
		tc_close(&c);
	}
	assert_int_equal(tc_connect(&c, &env, &env.full, 5000), 0);
	wire_free_response(tc_hello(&c));
	tc_close(&c);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_banner),           cmocka_unit_test(test_hello),
		cmocka_unit_test(test_unauthorized_key), cmocka_unit_test(test_list_processes),
		cmocka_unit_test(test_list_regions),     cmocka_unit_test(test_read),
		cmocka_unit_test(test_read_paged),       cmocka_unit_test(test_scan),
		cmocka_unit_test(test_snapshot_diff),    cmocka_unit_test(test_diff_paged),
		cmocka_unit_test(test_denied),           cmocka_unit_test(test_unknown_op_and_garbage),
		cmocka_unit_test(test_session_churn),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
