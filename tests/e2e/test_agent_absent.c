/* SPDX-License-Identifier: MIT */
/* memscan-agent --read-absent: a snapshot the agent takes of the fixture's sparse region leaves the
 * pages never written unmapped by default and reads them (mapping the zero page into each) with the
 * option or `read_absent = yes` in its config file. A real agent on 127.0.0.1, a fresh one and a
 * fresh fixture per test. */
#include "agentutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPARSE_PAGES "1024" /* 4 MiB, one page in 64 written */

struct absent_agent {
	ms_agent a;
	ms_fixture f;
};

static int setup(void **state)
{
	static const char *const args[] = { "--sparse-pages", SPARSE_PAGES, NULL };
	struct absent_agent *e = calloc(1, sizeof(*e));

	if (!e || ms_fixture_start(&e->f, args) != 0 || ms_agent_init(&e->a) != 0)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct absent_agent *e = *state;

	ms_agent_stop(&e->a);
	ms_agent_cleanup(&e->a);
	ms_fixture_stop(&e->f);
	free(e);
	return 0;
}

/* Starts the agent with EXTRA, has it take (and release) a snapshot of the sparse region, stops it
 * with SIGTERM (exit 0 required, so that its sanitizers' verdict counts) and returns the pages of the
 * region present afterwards. */
static size_t snapshot_through_agent(struct absent_agent *e, const char *const *extra)
{
	Memscan__V1__Response *resp;
	ms_peer c;

	assert_int_equal(ms_agent_start(&e->a, extra), 0);
	assert_int_equal(ms_peer_connect(&c, &e->a, &e->a.full, 10000), 0);
	wire_free_response(ms_peer_hello(&c));
	resp = ms_peer_snapshot(&c, e->f.pid, e->f.sparse, e->f.sparse + e->f.sparse_len);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	assert_int_equal(resp->snapshot->total_bytes, e->f.sparse_len);
	wire_free_response(ms_peer_release(&c, resp->snapshot->snapshot_id));
	wire_free_response(resp);
	ms_peer_close(&c);
	assert_int_equal(ms_agent_terminate(&e->a, 30000), 0);
	return ms_sparse_present(&e->f);
}

static void test_default_leaves_pages_absent(void **state)
{
	struct absent_agent *e = *state;

	ms_skip_unless_absent_skipped(e->f.pid);
	assert_int_equal(ms_sparse_present(&e->f), ms_sparse_written(&e->f));
	assert_int_equal(snapshot_through_agent(e, NULL), ms_sparse_written(&e->f));
}

static void test_read_absent_flag(void **state)
{
	static const char *const extra[] = { "--read-absent", NULL };
	struct absent_agent *e = *state;

	ms_skip_unless_absent_skipped(e->f.pid);
	assert_int_equal(ms_sparse_present(&e->f), ms_sparse_written(&e->f));
	assert_int_equal(snapshot_through_agent(e, extra), ms_sparse_pages(&e->f));
}

static void test_read_absent_config(void **state)
{
	struct absent_agent *e = *state;
	char conf[4300];
	const char *extra[] = { "--config", conf, NULL };
	FILE *f;

	ms_skip_unless_absent_skipped(e->f.pid);
	snprintf(conf, sizeof(conf), "%s/agent.conf", e->a.dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "read_absent = maybe\n");
	fclose(f);
	assert_int_not_equal(ms_agent_start(&e->a, extra), 0);
	assert_int_equal(ms_agent_wait(&e->a, 10000), 2);
	assert_true(ms_agent_err_has(&e->a, "bad value 'maybe' for read_absent"));

	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "read_absent = yes\n");
	fclose(f);
	assert_int_equal(snapshot_through_agent(e, extra), ms_sparse_pages(&e->f));
}

static void test_help(void **state)
{
	char out[4096];
	size_t n;
	FILE *p;

	(void)state;
	p = popen("'" MEMSCAN_AGENT_PATH "' --help", "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	if (!strstr(out, "\n  --read-absent ") || !strstr(out, "read_absent = yes"))
		fail_msg("memscan-agent --help does not explain --read-absent:\n%s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_leaves_pages_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_absent_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_absent_config, setup, teardown),
		cmocka_unit_test(test_help),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
