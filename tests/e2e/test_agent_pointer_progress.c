/* SPDX-License-Identifier: MIT */
/* Remote pointer searches answered with Progress (docs/protocol.md, "Pointer scans on the agent"), seen
 * by an honest peer and by libmemscan-client on 127.0.0.1 with real keys, against the fixture with a
 * pointer-dense arena: Progress grows to three times the regions' bytes and the chains then equal those
 * of a search asked without progress_ms; a search dropped by a Hello (while read, indexed or searched)
 * or by its client leaving stops within a few ms of work, gives its budget back and is audited
 * CANCELLED with the bytes it read; the client's progress callback sees the thirds go by and its
 * cancel leaves the session usable; `memscan remote pointers` on a terminal names the phases on its
 * progress line (nothing with --quiet) and Ctrl-C stops it promptly, the agent's search with it. */
#include "agentutil.h"
#include "ttyutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The arena: large enough that reading and indexing it take a few hundred ms (slower under ASan, so
 * smaller there). The session budget holds one search of it (the snapshot, half again for the index,
 * 64 MiB for the search), not two. */
#ifdef MS_UNDER_ASAN
#define ARENA_PAGES    "65536" /* 256 MiB */
#define SESSION_BUDGET "600M"
#else
#define ARENA_PAGES    "131072" /* 512 MiB */
#define SESSION_BUDGET "1200M"
#endif
#define DEPTH 4 /* a search of a few tens of ms after the index */
/* A search of a second and more (it follows about all the objects within 48 MiB of the target, well
 * within the agent's 64 MiB search budget): a drop that waited for it would show. */
#define DEEP_DEPTH      8
#define DEEP_MAX_OFFSET 0x1000
/* A dropped search's Hello is answered within this (a second and more without the stop). */
#ifdef MS_UNDER_ASAN
#define DROP_MS 700
#else
#define DROP_MS 300
#endif
/* How long a client asking for a deep search without progress_ms waits before it leaves: past the
 * read and the index (a few hundred ms), well before the search's end (a second and more after). */
#ifdef MS_UNDER_ASAN
#define LEAVE_MS 1500
#else
#define LEAVE_MS 800
#endif

static ms_agent env;
static ms_fixture fx;

/* An address inside an object in the middle of the pointer fill: many objects point near it. */
static uint64_t target_addr(void)
{
	uint64_t objects = (fx.arena_len - MS_FIXTURE_POINTERS_OFFSET) / MS_FIXTURE_POINTERS_OBJECT;

	return fx.arena + MS_FIXTURE_POINTERS_OFFSET + objects / 2 * MS_FIXTURE_POINTERS_OBJECT + 16;
}

static Memscan__V1__Response *search_req(ms_peer *p, unsigned depth, uint32_t progress_ms)
{
	return ms_peer_pointer_scan(p, fx.pid, target_addr(), depth, 0x1000, progress_ms);
}

static Memscan__V1__Response *deep_req(ms_peer *p)
{
	return ms_peer_pointer_scan(p, fx.pid, target_addr(), DEEP_DEPTH, DEEP_MAX_OFFSET, 50);
}

static void connect_full(ms_peer *p)
{
	assert_int_equal(ms_peer_connect(p, &env, &env.full, 10000), 0);
}

/* The chains of RESP (a first PointerPage, freed) and the pages after it, into a new list. */
static memscan_pointer_chains *take_chains(ms_peer *p, Memscan__V1__Response *resp)
{
	memscan_pointer_chains *out = NULL;

	assert_int_equal(memscan_pointer_chains_new(target_addr(), &out), MEMSCAN_OK);
	while (resp) {
		uint64_t cursor;

		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_POINTERS);
		for (size_t i = 0; i < resp->pointers->n_chains; i++) {
			const Memscan__V1__PointerChain *m = resp->pointers->chains[i];
			memscan_pointer_chain c = { .offset = m->offset, .depth = (unsigned)m->n_offsets };

			snprintf(c.module, sizeof(c.module), "%s", m->module);
			memcpy(c.offsets, m->offsets, m->n_offsets * sizeof(*c.offsets));
			assert_int_equal(memscan_pointer_chains_add(out, &c), MEMSCAN_OK);
		}
		cursor = resp->pointers->next_cursor;
		wire_free_response(resp);
		resp = cursor ? ms_peer_next(p, cursor) : NULL;
	}
	return out;
}

/* Asserts A and B hold the same chains in the same order; their count. */
static size_t assert_same_chains(const memscan_pointer_chains *a, const memscan_pointer_chains *b)
{
	size_t n = memscan_pointer_chains_count(a);

	assert_int_equal(memscan_pointer_chains_count(b), n);
	for (size_t i = 0; i < n; i++) {
		const memscan_pointer_chain *x = memscan_pointer_chains_get(a, i),
		                            *y = memscan_pointer_chains_get(b, i);

		assert_string_equal(x->module, y->module);
		assert_int_equal(x->offset, y->offset);
		assert_int_equal(x->depth, y->depth);
		assert_memory_equal(x->offsets, y->offsets, x->depth * sizeof(*x->offsets));
	}
	return n;
}

/* The chains of a search asked without progress_ms, on a session of its own. */
static memscan_pointer_chains *plain_chains(void)
{
	memscan_pointer_chains *c;
	ms_peer p;

	connect_full(&p);
	c = take_chains(&p, search_req(&p, DEPTH, 0));
	ms_peer_close(&p);
	return c;
}

static void test_search_answered_with_progress(void **state)
{
	memscan_pointer_chains *with, *without;
	Memscan__V1__Response *resp;
	uint64_t total = 0;
	size_t n = 0;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = ms_peer_follow_progress(&p, search_req(&p, DEPTH, 50), &n, &total);
	assert_non_null(resp);
	assert_true(n >= 1); /* the arena is not read and indexed in 50 ms */
	assert_int_equal(total % 3, 0);
	assert_true(total / 3 >= fx.arena_len); /* the readable regions hold the arena */
	with = take_chains(&p, resp);
	ms_peer_close(&p);
	without = plain_chains();
	print_message("%zu Progress replies of %llu, %zu chains\n", n, (unsigned long long)total,
	              memscan_pointer_chains_count(with));
	assert_true(assert_same_chains(with, without) > 0); /* the fixture's roots in .bss lead there */
	memscan_pointer_chains_free(with);
	memscan_pointer_chains_free(without);
}

/* A Hello at the first Progress (the target still being read) drops the search within DROP_MS: the
 * session budget then holds a whole search again (it could not while the first held its charge), and
 * the dropped one is audited CANCELLED with no more than the bytes of its read. */
static void test_hello_drops_search(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t total;
	int64_t t0;
	ms_peer p;

	(void)state;
	connect_full(&p);
	resp = search_req(&p, DEPTH, 50);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	total = resp->progress->total;
	print_message("first Progress at %llu of %llu\n", (unsigned long long)resp->progress->done,
	              (unsigned long long)total);
	wire_free_response(resp);
	t0 = ms_now_ms();
	wire_free_response(ms_peer_hello(&p));
	assert_true(ms_now_ms() - t0 < DROP_MS);
	memscan_pointer_chains_free(take_chains(&p, search_req(&p, DEPTH, 0)));
	ms_peer_close(&p);
	assert_true(ms_agent_audited_bytes(&env, "pointers", fx.pid, "result=CANCELLED") <=
	            (long long)(total / 3));
}

/* Follows Progress replies from RESP on with Next until DONE reaches the THIRD third (1: the index,
 * 2: the search) of the total; asserts it does before the next third, and returns the total. */
static uint64_t progress_until(ms_peer *p, Memscan__V1__Response *resp, unsigned third)
{
	uint64_t total = 0, done = 0;

	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		uint64_t cursor = resp->progress->next_cursor;

		total = resp->progress->total;
		done = resp->progress->done;
		wire_free_response(resp);
		if (done >= total / 3 * third)
			break;
		resp = ms_peer_next(p, cursor);
	}
	assert_true(total > 0 && done >= total / 3 * third);
	assert_true(done < total / 3 * (third + 1)); /* caught within its third */
	return total;
}

/* A deep search dropped by a Hello in its THIRD third: the Hello is answered within DROP_MS (the
 * search would have taken seconds), a whole search fits the session budget again, and the dropped
 * one is audited CANCELLED with the bytes it read (its first third), not more. */
static void drop_in_third(unsigned third)
{
	Memscan__V1__Response *resp;
	uint64_t total;
	int64_t t0, took;
	ms_peer p;

	connect_full(&p);
	total = progress_until(&p, deep_req(&p), third);
	t0 = ms_now_ms();
	resp = ms_peer_hello(&p);
	took = ms_now_ms() - t0;
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	print_message("dropped in third %u: Hello answered in %lld ms\n", third + 1, (long long)took);
	assert_true(took < DROP_MS);
	memscan_pointer_chains_free(take_chains(&p, search_req(&p, DEPTH, 0)));
	ms_peer_close(&p);
	assert_int_equal(ms_agent_audited_bytes(&env, "pointers", fx.pid, "result=CANCELLED"),
	                 (long long)(total / 3));
}

static void test_hello_mid_index_drops(void **state)
{
	(void)state;
	drop_in_third(1);
}

static void test_hello_mid_search_drops(void **state)
{
	(void)state;
	drop_in_third(2);
}

/* Waits until the audit counts more CANCELLED lines than BEFORE (5 s at most); the ms it took from T0. */
static int64_t cancelled_after(size_t before, int64_t t0)
{
	while (ms_agent_err_count(&env, "result=CANCELLED") == before && ms_now_ms() - t0 < 5000)
		usleep(2000);
	return ms_now_ms() - t0;
}

/* Closes P, whose search is under way: audited CANCELLED within DROP_MS (BEFORE: the CANCELLED lines
 * before), the agent still serving. */
static void assert_leaving_cancels(ms_peer *p, size_t before)
{
	int64_t t0 = ms_now_ms(), took;

	ms_peer_close(p);
	took = cancelled_after(before, t0);
	print_message("audited CANCELLED %lld ms after the client left\n", (long long)took);
	assert_true(took < DROP_MS);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

/* A client that leaves mid-search ends its session: the search stops as promptly, audited CANCELLED. */
static void test_client_leaves_mid_search(void **state)
{
	size_t before = ms_agent_err_count(&env, "result=CANCELLED");
	ms_peer p;

	(void)state;
	connect_full(&p);
	progress_until(&p, deep_req(&p), 2);
	assert_leaving_cancels(&p, before);
}

/* A search asked without progress_ms runs on the agent's worker, not as a job: its client leaving
 * mid-search (its wait given up after LEAVE_MS) stops it as promptly, audited CANCELLED, where it
 * used to run to its end for nobody (and hold the agent's stop as long). */
static void test_client_leaves_inline_search(void **state)
{
	size_t before = ms_agent_err_count(&env, "result=CANCELLED");
	Memscan__V1__Response *resp;
	int64_t t0;
	ms_peer p;

	(void)state;
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, LEAVE_MS), 0);
	t0 = ms_now_ms();
	resp = ms_peer_pointer_scan(&p, fx.pid, target_addr(), DEEP_DEPTH, DEEP_MAX_OFFSET, 0);
	assert_null(resp); /* the search goes on past the wait */
	print_message("left %lld ms after asking\n", (long long)(ms_now_ms() - t0));
	assert_leaving_cancels(&p, before);
}

/* A search asked without progress_ms whose client leaves while the target is still being read (its
 * wait given up after 30 ms): stopped there, audited CANCELLED with less than the regions' bytes, where
 * the audit line said all of them, read or not. */
static void test_client_leaves_inline_read(void **state)
{
	size_t before = ms_agent_err_count(&env, "result=CANCELLED");
	Memscan__V1__Response *resp;
	long long bytes;
	ms_peer p;

	(void)state;
	connect_full(&p);
	assert_int_equal(nng_socket_set_ms(p.sock, NNG_OPT_RECVTIMEO, 30), 0);
	resp = ms_peer_pointer_scan(&p, fx.pid, target_addr(), DEEP_DEPTH, DEEP_MAX_OFFSET, 0);
	assert_null(resp); /* the arena is not read in 30 ms */
	ms_peer_close(&p);
	assert_true(cancelled_after(before, ms_now_ms()) < 5000);
	bytes = ms_agent_audited_bytes(&env, "pointers", fx.pid, "result=CANCELLED");
	print_message("audited CANCELLED with %lld bytes of the arena's %llu\n", bytes,
	              (unsigned long long)fx.arena_len);
	assert_true(bytes >= 0 && bytes < (long long)fx.arena_len);
}

/* The bytes of the target's readable regions (the default filter: what the agent searches). */
static uint64_t regions_bytes(void)
{
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_region_list *list = NULL;
	memscan_filter f;
	uint64_t bytes;

	memscan_filter_default(&f);
	ms_assert_call(c, memscan_client_list_regions(c, fx.pid, &f, &list), MEMSCAN_OK);
	bytes = memscan_region_list_bytes(list);
	memscan_region_list_free(list);
	memscan_client_free(c);
	return bytes;
}

/* A depth-2 search of the fixture for its target address, up to MAX chains. */
static Memscan__V1__Response *scan_max(ms_peer *p, uint64_t max)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__PointerScan ps = MEMSCAN__V1__POINTER_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;

	t.pid = fx.pid;
	ps.target = &t;
	ps.address = target_addr();
	ps.depth = 2;
	ps.max_offset = 0x100;
	ps.max_chains = max;
	req.op_case = MEMSCAN__V1__REQUEST__OP_POINTER_SCAN;
	req.pointer_scan = &ps;
	return ms_peer_call(p, &req);
}

/* A search's chains are charged at the most its list may come to hold (its capacity doubles up to
 * max_chains' next step; 336 bytes a chain): on an agent whose session budget holds a search of the
 * fixture with 64 MiB to spare, a search asked for up to 1M chains (350 MB of them) is BUSY, naming
 * the budget, where its chains went uncharged; asked for 10000 (7 MB) it runs. */
static void test_chains_charged(void **state)
{
	uint64_t r = regions_bytes();
	char budget[32];
	const char *const args[] = { "--session-budget", budget, NULL };
	ms_agent *a = *state;
	Memscan__V1__Response *resp;
	ms_peer p;

	snprintf(budget, sizeof(budget), "%llu", (unsigned long long)(r + r / 2 + (129u << 20)));
	assert_int_equal(ms_agent_start(a, args), 0);
	assert_int_equal(ms_peer_connect(&p, a, &a->full, 10000), 0);
	resp = scan_max(&p, MEMSCAN_POINTER_CHAINS_MAX);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_non_null(strstr(resp->error->message, "budget"));
	ms_peer_expect_error(resp, MEMSCAN_ERR_BUSY);
	resp = scan_max(&p, 10000);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_POINTERS);
	wire_free_response(resp);
	ms_peer_close(&p);
}

struct reports {
	uint64_t last, count, cancel_after;
	int backwards;
};

static void on_progress(void *ctx, uint64_t done)
{
	struct reports *r = ctx;

	r->backwards |= done < r->last;
	r->last = done;
	r->count++;
}

static int on_cancel(void *ctx)
{
	const struct reports *r = ctx;

	return r->cancel_after && r->count >= r->cancel_after;
}

/* The client's callbacks: reports that never go back, past the read's third (the index's and the
 * search's thirds come after it); a cancel at the first report stops the call, and the same client
 * searches again with the chains of a search asked without progress_ms. */
static void test_client_reports_and_cancels(void **state)
{
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_pointer_search_options o;
	memscan_pointer_chains *got = NULL, *plain;
	struct reports r = { .cancel_after = 1 };

	(void)state;
	memscan_pointer_search_options_default(&o);
	o.depth = DEPTH;
	o.max_chains = 100000;
	assert_int_equal(memscan_client_set_progress(c, on_progress, &r), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_cancel(c, on_cancel, &r), MEMSCAN_OK);
	assert_int_equal(memscan_client_pointer_search(c, fx.pid, target_addr(), &o, &got),
	                 MEMSCAN_ERR_CANCELLED);
	assert_null(got);
	assert_int_equal(r.count, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(memscan_client_pointer_search(c, fx.pid, target_addr(), &o, &got), MEMSCAN_OK);
	print_message("%llu reports, the last at %llu\n", (unsigned long long)r.count,
	              (unsigned long long)r.last);
	assert_true(r.count >= 1);
	assert_false(r.backwards);
	assert_true(r.last >= fx.arena_len); /* the read's third at least */
	plain = plain_chains();
	assert_true(assert_same_chains(got, plain) > 0);
	memscan_pointer_chains_free(plain);
	memscan_pointer_chains_free(got);
	memscan_client_free(c);
}

/* ARGV (NULL-terminated, 16 at most) for `memscan remote pointers` of the target address on the agent,
 * with ARGS after the target: its key pinned (once) in a configuration directory of the test's. */
static void cli_argv(const char **argv, const char *const *args)
{
	static char target[96], to[32], cfg[4096];
	size_t n = 0;

	if (!cfg[0]) {
		const char *dir = ms_tmpdir();

		assert_non_null(dir);
		snprintf(cfg, sizeof(cfg), "%s", dir);
		assert_int_equal(ms_agent_trust(&env, cfg), 0);
	}
	snprintf(target, sizeof(target), "127.0.0.1:%d:%d", ms_agent_port(&env), (int)fx.pid);
	snprintf(to, sizeof(to), "0x%llx", (unsigned long long)target_addr());
	for (const char *fixed[] = { "memscan", "remote", "pointers", target, "--to", to, "--identity",
	                             env.full.path, "--max", "100000" };
	     n < sizeof(fixed) / sizeof(fixed[0]); n++)
		argv[n] = fixed[n];
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
}

/* " of SIZE (": the total of the progress line, three times the bytes of the target's readable regions. */
static void total_text(char *buf, size_t len)
{
	char size[32];

	snprintf(buf, len, " of %s (", memscan_size_format(3 * regions_bytes(), size, sizeof(size)));
}

/* A deep search on a terminal: the line names the phases it reports from the agent, the search's
 * last, and is cleared at the end; the same with --quiet draws nothing. */
static void test_cli_phases_on_tty(void **state)
{
	static const char *const deep[] = { "--depth", "8", NULL };
	static const char *const quiet[] = { "--depth", "4", "--quiet", NULL };
	const char *argv[20];
	const char *search;
	char total[48];
	ms_tty t;

	size_t lists;

	(void)state;
	total_text(total, sizeof(total));
	cli_argv(argv, deep); /* finds the target's address first */
	lists = ms_agent_err_count(&env, "op=list_regions ");
	ms_tty_start(&t, argv);
	assert_int_equal(ms_tty_finish(&t, 60000), 0);
	assert_true(t.out_bytes > 0); /* the chains */
	/* the line's total is the agent's own: the CLI lists no regions for it */
	assert_int_equal(ms_agent_err_count(&env, "op=list_regions "), lists);
	search = strstr(t.out, "\rmemscan: pointer scan: searching ");
	assert_non_null(search);
	assert_non_null(strstr(search, total));
	assert_true(strstr(t.out, "\rmemscan: pointer scan: indexing ") ||
	            strstr(t.out, "\rmemscan: pointer scan: reading "));
	assert_true(t.len >= 4);
	assert_string_equal(t.out + t.len - 4, "\r\033[K");
	cli_argv(argv, quiet);
	ms_tty_start(&t, argv);
	assert_int_equal(ms_tty_finish(&t, 60000), 0);
	assert_string_equal(t.out, "");
}

/* Ctrl-C while the agent searches: exit 130 within about a quarter second (the next Progress, then a
 * Hello that drops the search), and the search audited CANCELLED by then. */
static void test_cli_ctrl_c_stops_search(void **state)
{
	static const char *const deep[] = { "--depth", "8", NULL };
	size_t before = ms_agent_err_count(&env, "result=CANCELLED");
	const char *argv[20];
	int64_t t0, took;
	ms_tty t;

	(void)state;
	cli_argv(argv, deep);
	ms_tty_start(&t, argv);
	assert_true(ms_tty_pump(&t, "\rmemscan: pointer scan: searching ", 0, 30000));
	t0 = ms_now_ms();
	assert_int_equal(kill(t.pid, SIGINT), 0);
	assert_int_equal(ms_tty_finish(&t, 5000), 130);
	took = ms_now_ms() - t0;
	print_message("memscan remote pointers exited %lld ms after SIGINT\n", (long long)took);
	assert_true(took < 1000);
	assert_non_null(strstr(t.out, "interrupted while searching pointers"));
	assert_true(ms_agent_err_count(&env, "result=CANCELLED") > before);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

/* `remote pointers --rescan` of many chains on a terminal: a line counts them as the agent follows
 * them, and Ctrl-C stops between requests: exit 130 with the chains file as it was. */
static void test_cli_rescan_ctrl_c(void **state)
{
	static const char *const none[] = { NULL };
	memscan_pointer_chains *many = NULL;
	memscan_pointer_chain chain;
	const char *argv[20];
	char path[4200];
	uint8_t *before, *after;
	size_t before_len, after_len;
	ms_tty t;

	(void)state;
	snprintf(path, sizeof(path), "%s/rescan.chains", ms_tmpdir());
	assert_int_equal(memscan_pointer_chain_parse("memscan-fixture+0x0 -> 0x8", &chain), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_new(target_addr(), &many), MEMSCAN_OK);
	for (int i = 0; i < 200000; i++)
		assert_int_equal(memscan_pointer_chains_add(many, &chain), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_save(many, path), MEMSCAN_OK);
	memscan_pointer_chains_free(many);
	before = ms_file_read(path, &before_len);
	assert_non_null(before);
	cli_argv(argv, none);
	argv[8] = "--rescan"; /* in place of --max: a rescan takes no search options */
	argv[9] = path;
	ms_tty_start(&t, argv);
	assert_true(ms_tty_pump(&t, "\rmemscan: following chains ", 0, 30000));
	assert_int_equal(kill(t.pid, SIGINT), 0);
	assert_int_equal(ms_tty_finish(&t, 5000), 130);
	assert_non_null(strstr(t.out, " of 200000 ("));
	assert_non_null(strstr(t.out, "interrupted"));
	after = ms_file_read(path, &after_len);
	assert_non_null(after);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);
	unlink(path);
	assert_int_equal(ms_agent_serving(&env, fx.pid), 0);
}

int main(void)
{
	static const char *const agent_args[] = { "--session-budget", SESSION_BUDGET, NULL };
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, "--pointers", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_answered_with_progress),
		cmocka_unit_test(test_hello_drops_search),
		cmocka_unit_test(test_hello_mid_index_drops),
		cmocka_unit_test(test_hello_mid_search_drops),
		cmocka_unit_test(test_client_leaves_mid_search),
		cmocka_unit_test(test_client_leaves_inline_search),
		cmocka_unit_test(test_client_leaves_inline_read),
		cmocka_unit_test_setup_teardown(test_chains_charged, ms_agent_setup, ms_agent_teardown),
		cmocka_unit_test(test_client_reports_and_cancels),
		cmocka_unit_test(test_cli_phases_on_tty),
		cmocka_unit_test(test_cli_ctrl_c_stops_search),
		cmocka_unit_test(test_cli_rescan_ctrl_c),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return ms_agent_run_suite_fx("agent pointer progress", &env, &fx, fixture_args, agent_args, tests,
	                             sizeof(tests) / sizeof(tests[0]));
}
