/* SPDX-License-Identifier: MIT */
/* memscan-agent life cycle: start-up refusals, config, signals (SIGHUP revocation, SIGTERM), handshake
 * limits. */
#include "agentutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs the agent expecting it to refuse to start; its exit code (-1 if it started). */
static int ta_run_expect_exit(ms_agent *e, const char *const *extra)
{
	if (ms_agent_start(e, extra) == 0) {
		ms_agent_stop(e);
		return -1;
	}
	return ms_agent_wait(e, 10000);
}

static void test_refuses_readable_key(void **state)
{
	ms_agent *e = *state;

	assert_int_equal(chmod(e->agent.path, 0644), 0);
	assert_int_equal(ta_run_expect_exit(e, NULL), 1);
	assert_true(ms_agent_err_has(e, "chmod"));
}

static void test_refuses_malformed_authorized_keys(void **state)
{
	ms_agent *e = *state;
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
	ms_agent *e = *state;
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
	assert_true(ms_agent_err_has(e, needle));
}

/* Caps whose descriptors could not fit the limit get one line at start (every kept snapshot and each of
 * a session's 16 heats holds a pidfd: clients could make the agent unable to accept or open anything). */
static void test_warns_descriptor_limit(void **state)
{
	ms_agent *e = *state;
	const char *fits[] = { "--max-connections", "8", "--max-snapshots", "4", NULL };
	const char *over[] = { "--max-connections", "1000000", "--max-snapshots", "256", NULL };

	assert_int_equal(ms_agent_start(e, fits), 0);
	assert_int_equal(ms_agent_terminate(e, 10000), 0);
	assert_false(ms_agent_err_has(e, "descriptors, over the limit"));
	assert_int_equal(ms_agent_start(e, over), 0);
	assert_int_equal(ms_agent_terminate(e, 10000), 0);
	assert_true(ms_agent_err_has(e, "could hold 277000064 descriptors, over the limit of"));
}

static void test_config_file(void **state)
{
	char conf[4300];
	const char *with_conf[] = { "--config", conf, NULL };
	ms_agent *e = *state;
	ms_peer c;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/agent.conf", e->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "workers = 2\nmax_connections = 10\nmax_connections_per_peer = 5\nsession_budget = 64M\n"
	           "global_budget = 1G\nhandshake_timeout_ms = 2000\nlisten = tcp://127.0.0.1:0\n");
	fclose(f);
	assert_int_equal(ms_agent_start(e, with_conf), 0);
	assert_int_equal(ms_peer_connect(&c, e, &e->full, 5000), 0);
	wire_free_response(ms_peer_hello(&c));
	ms_peer_close(&c);
}

static void test_sighup_revokes(void **state)
{
	Memscan__V1__Response *resp;
	ms_agent *e = *state;
	ms_peer full, list;

	assert_int_equal(ms_agent_start(e, NULL), 0);
	assert_int_equal(ms_peer_connect(&full, e, &e->full, 3000), 0);
	assert_int_equal(ms_peer_connect(&list, e, &e->listonly, 2000), 0);
	resp = ms_peer_hello(&list);
	assert_non_null(resp);
	wire_free_response(resp);
	/* a malformed file is refused and the old list kept */
	assert_int_equal(truncate(e->auth_path, 10), 0);
	assert_int_equal(kill(e->pid, SIGHUP), 0);
	assert_true(ms_agent_wait_err(e, "keeping the previous authorized keys", 5000));
	resp = ms_peer_hello(&list);
	assert_non_null(resp);
	wire_free_response(resp);
	/* then the list key is removed: its session ends, the other one goes on */
	assert_int_equal(ms_agent_write_auth(e, 1, 0), 0);
	assert_int_equal(kill(e->pid, SIGHUP), 0);
	assert_true(ms_agent_wait_err(e, "revoked", 5000));
	assert_null(ms_peer_hello(&list));
	ms_peer_close(&list);
	assert_int_not_equal(ms_peer_connect(&list, e, &e->listonly, 1000), 0);
	ms_peer_close(&list);
	resp = ms_peer_hello(&full);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	ms_peer_close(&full);
}

static void test_sigterm_exits_zero(void **state)
{
	ms_agent *e = *state;
	ms_peer c;

	assert_int_equal(ms_agent_start(e, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, e, &e->full, 3000), 0);
	wire_free_response(ms_peer_hello(&c));
	assert_int_equal(kill(e->pid, SIGTERM), 0);
	assert_int_equal(ms_agent_wait(e, 10000), 0);
	ms_peer_close(&c);
}

static void test_handshake_timeout_and_replay(void **state)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL, *hs2 = NULL;
	ms_agent *e = *state;
	ms_peer idle, a, b;

	assert_int_equal(ms_agent_start(e, NULL), 0);
	/* a connection that never handshakes is closed */
	assert_int_equal(ms_peer_open(&idle, e, 1000), 0);
	assert_true(ms_agent_wait_err(e, "reason=handshake-timeout", 5000));
	ms_peer_close(&idle);
	/* an HS1 replayed on another connection gets nothing */
	assert_int_equal(chan_client_start(e->full.priv, e->agent.pub, hs1, &hs), 0);
	assert_int_equal(ms_peer_open(&a, e, 3000), 0);
	assert_int_equal(ms_peer_handshake(&a, hs, hs1), 0);
	assert_int_equal(chan_client_start(e->full.priv, e->agent.pub, (uint8_t[CHAN_HS1_LEN]){ 0 }, &hs2),
	                 0);
	assert_int_equal(ms_peer_open(&b, e, 1000), 0);
	assert_int_not_equal(ms_peer_handshake(&b, hs2, hs1), 0);
	assert_true(ms_agent_wait_err(e, "reason=replayed-hs1", 5000));
	ms_peer_close(&b);
	wire_free_response(ms_peer_hello(&a));
	ms_peer_close(&a);
	chan_client_hs_free(hs);
	chan_client_hs_free(hs2);
}

static void test_connection_caps(void **state)
{
	const char *caps[] = { "--max-per-peer", "2", NULL };
	ms_agent *e = *state;
	ms_tcp_peer t;
	ms_peer c[2];
	int ok = 0;

	assert_int_equal(ms_agent_start(e, caps), 0);
	assert_int_equal(ms_peer_connect(&c[0], e, &e->full, 3000), 0);
	assert_int_equal(ms_peer_connect(&c[1], e, &e->full, 3000), 0);
	/* the third connection is closed at once. (A raw peer: nng 1.5's REQ dialer leaks its pipe
	 * when the far end refuses it, which LeakSanitizer would blame on this test.) */
	if (ms_peer_tcp_open(&t, e, 2000) == 0)
		assert_true(ms_peer_tcp_closed(&t));
	ms_peer_tcp_close(&t);
	assert_true(ms_agent_wait_err(e, "reason=max-per-peer", 5000));
	ms_peer_close(&c[1]);
	/* a slot freed is usable again (once the agent has seen the connection go) */
	for (int i = 0; i < 20 && !ok; i++) {
		ok = ms_peer_tcp_open(&t, e, 1000) == 0 && ms_peer_tcp_handshake(&t, e, &e->full) == 0;
		ms_peer_tcp_close(&t);
		if (!ok)
			usleep(100000);
	}
	assert_true(ok);
	ms_peer_close(&c[0]);
}

/* A Snapshot request for [START, END) of process PID (the filter's end may be changed later). */
struct snap_req {
	Memscan__V1__Request req;
	Memscan__V1__Snapshot sn;
	Memscan__V1__Target t;
	Memscan__V1__Filter fl;
};

static void snap_req_init(struct snap_req *q, int pid, uint64_t start, uint64_t end)
{
	memscan__v1__request__init(&q->req);
	memscan__v1__snapshot__init(&q->sn);
	memscan__v1__target__init(&q->t);
	memscan__v1__filter__init(&q->fl);
	q->t.pid = pid;
	q->fl.use_default = 1;
	q->fl.range_start = start;
	q->fl.range_end = end;
	q->sn.target = &q->t;
	q->sn.filter = &q->fl;
	q->req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	q->req.snapshot = &q->sn;
}

/* A fixture, an agent whose sessions may keep 128 KiB, and a peer connected to it. */
static void start_with_budget(ms_agent *e, ms_fixture *f, ms_peer *c)
{
	const char *budget[] = { "--session-budget", "128K", NULL };

	assert_int_equal(ms_fixture_start(f, NULL), 0);
	assert_int_equal(ms_agent_start(e, budget), 0);
	assert_int_equal(ms_peer_connect(c, e, &e->full, 5000), 0);
}

/* Snapshots beyond the session budget answer BUSY before anything is read. */
static void test_budget_busy(void **state)
{
	Memscan__V1__Response *resp;
	struct snap_req q;
	ms_agent *e = *state;
	ms_fixture f;
	ms_peer c;

	start_with_budget(e, &f, &c);
	snap_req_init(&q, f.pid, f.arena, f.arena + f.arena_len); /* 256 KiB */
	resp = ms_peer_call(&c, &q.req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BUSY);
	wire_free_response(resp);
	q.fl.range_end = f.arena + 64 * 1024; /* fits */
	resp = ms_peer_call(&c, &q.req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_int_equal(resp->snapshot->total_bytes, 64 * 1024);
	wire_free_response(resp);
	q.fl.range_end = f.arena + 96 * 1024; /* 64 + 96 KiB no longer fit */
	resp = ms_peer_call(&c, &q.req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BUSY);
	wire_free_response(resp);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* One call expecting reply RESULT (or, if RESULT is 0, the error CODE). */
static void call_expect(ms_peer *c, const Memscan__V1__Request *req, int result, int code)
{
	Memscan__V1__Response *resp = ms_peer_call(c, req);

	assert_non_null(resp);
	if (result) {
		assert_int_equal(resp->result_case, result);
	} else {
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
		assert_int_equal(resp->error->code, code);
	}
	wire_free_response(resp);
}

/* A diff streams against the kept baseline: it needs no budget for a second copy (96 KiB kept under a
 * 128 KiB budget diffs, updates and refilters), and the budget comes back whole on release. */
static void test_budget_streamed_diff(void **state)
{
	Memscan__V1__Request dreq = MEMSCAN__V1__REQUEST__INIT, rreq = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;
	Memscan__V1__Release rel = MEMSCAN__V1__RELEASE__INIT;
	Memscan__V1__Response *resp;
	struct snap_req q;
	ms_agent *e = *state;
	ms_fixture f;
	ms_peer c;

	start_with_budget(e, &f, &c);
	snap_req_init(&q, f.pid, f.arena, f.arena + 96 * 1024);
	resp = ms_peer_call(&c, &q.req);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	d.snapshot_id = resp->snapshot->snapshot_id;
	wire_free_response(resp);
	assert_int_equal(ms_fixture_cmd(&f, "set %s 77", ms_hex(f.arena + 0x100)), 0);
	dreq.op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	dreq.diff = &d;
	d.update = 1;
	call_expect(&c, &dreq, MEMSCAN__V1__RESPONSE__RESULT_DIFF, 0);
	d.refilter = 1;
	call_expect(&c, &dreq, MEMSCAN__V1__RESPONSE__RESULT_DIFF, 0);
	q.fl.range_end = f.arena + 64 * 1024; /* 96 + 64 KiB: over the budget, nothing was leaked below it */
	call_expect(&c, &q.req, 0, MEMSCAN_ERR_BUSY);
	rel.snapshot_id = d.snapshot_id;
	rreq.op_case = MEMSCAN__V1__REQUEST__OP_RELEASE;
	rreq.release = &rel;
	call_expect(&c, &rreq, MEMSCAN__V1__RESPONSE__RESULT_RELEASE, 0);
	q.fl.range_end = f.arena + 128 * 1024; /* the whole budget is back */
	call_expect(&c, &q.req, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT, 0);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refuses_readable_key, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_malformed_authorized_keys, ms_agent_setup,
		                                ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_usage_errors, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_config_file, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_warns_descriptor_limit, ms_agent_setup,
		                                ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_sighup_revokes, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_exits_zero, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout_and_replay, ms_agent_setup,
		                                ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_connection_caps, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_budget_busy, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test_setup_teardown(test_budget_streamed_diff, ms_agent_setup, ms_agent_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
