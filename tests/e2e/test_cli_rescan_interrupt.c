/* SPDX-License-Identifier: MIT */
/* `memscan remote pointers` interrupted during a request the client cannot stop (a rescan's last
 * request, a search on an agent without progress replies), against a fake agent (real channel and
 * keys on 127.0.0.1) that holds its answer until the test has sent SIGINT: the CLI stops with 130,
 * prints nothing and writes no -o or chains file, as when Ctrl-C comes between requests. A real agent
 * follows 128 chains too quickly for a signal to land in a request. */
#include "agentutil.h"
#include "fakeagent.h"
#include "ttyutil.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define BASE  0x7f0000000000ull
#define LEN   (1ull << 20)
#define ADDR  (BASE + 0x100)
#define HOLD  10000 /* ms the fake waits for the test's go before answering anyway */
#define ASKED 3     /* chains in the file: one request */

static ms_fake fa;
static atomic_int follow_asked, go;

/* The chains of REQ followed, each to another address than ADDR: a rescan keeps none of them. */
static void send_followed(ms_fake *f, const Memscan__V1__PointerScan *ps)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__PointerPage page = MEMSCAN__V1__POINTER_PAGE__INIT;
	Memscan__V1__PointerChain items[ASKED], *ptrs[ASKED];

	assert_true(ps->n_follow <= ASKED);
	for (size_t i = 0; i < ps->n_follow; i++) {
		memscan__v1__pointer_chain__init(&items[i]);
		items[i].module = ps->follow[i]->module;
		items[i].offset = ps->follow[i]->offset;
		items[i].address = ADDR + 0x40;
		ptrs[i] = &items[i];
	}
	page.address = ps->address; /* a search's, 0 for a follow */
	page.n_chains = ps->n_follow;
	page.chains = ptrs;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_POINTERS;
	resp.pointers = &page;
	ms_fake_send(f, &resp);
}

/* The regions list holds ADDR; a follow request is answered once the test says go. */
static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_LIST_REGIONS:
		ms_fake_send_regions(f, BASE, LEN, 12345);
		break;
	case MEMSCAN__V1__REQUEST__OP_POINTER_SCAN:
		atomic_store(&follow_asked, 1);
		for (int ms = 0; ms < HOLD && !atomic_load(&go); ms++)
			usleep(1000);
		send_followed(f, req->pointer_scan); /* a search (nothing to follow): none found */
		break;
	default:
		ms_fake_send_error(f, MEMSCAN_ERR_INVALID_ARG, "not in this fake");
		break;
	}
}

/* A chains file of ASKED chains to ADDR at PATH, and the same at COPY. */
static void chains_file(const char *path, const char *copy)
{
	memscan_pointer_chains *c = NULL;
	memscan_pointer_chain chain;

	assert_int_equal(memscan_pointer_chain_parse("libgame.so+0x10 -> 0x8", &chain), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_new(ADDR, &c), MEMSCAN_OK);
	for (int i = 0; i < ASKED; i++)
		assert_int_equal(memscan_pointer_chains_add(c, &chain), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_save(c, path), MEMSCAN_OK);
	assert_int_equal(memscan_pointer_chains_save(c, copy), MEMSCAN_OK);
	memscan_pointer_chains_free(c);
}

/* Runs `memscan remote pointers TARGET --to ADDR OPT PATH` with the fake's keys and sends SIGINT once
 * its request is with the fake, which then answers: the CLI's exit code (T: what it wrote). */
static int interrupt_in_request(ms_agent *a, const char *target, const char *opt, const char *path, ms_tty *t)
{
	char to[32];
	const char *argv[] = { "memscan", "remote", "pointers",   target,       "--to", to,
		               opt,       path,     "--identity", a->full.path, NULL };

	snprintf(to, sizeof(to), "0x%llx", (unsigned long long)ADDR);
	atomic_store(&follow_asked, 0);
	atomic_store(&go, 0);
	ms_tty_start(t, argv);
	for (int ms = 0; ms < HOLD && !atomic_load(&follow_asked); ms++)
		usleep(1000);
	assert_true(atomic_load(&follow_asked));
	assert_int_equal(kill(t->pid, SIGINT), 0);
	usleep(200000); /* the signal handled before the answer comes (nothing asserts on the delay) */
	atomic_store(&go, 1);
	return ms_tty_finish(t, 10000);
}

/* SIGINT while a rescan's only request is with the agent: exit 130, "interrupted", the file as it was
 * (without the stop the CLI rewrote it with none of the chains kept and exited 0). */
static void test_rescan_interrupted_in_last_request(void **state)
{
	char target[96], path[4300], copy[4300];
	ms_agent a;
	ms_tty t;

	(void)state;
	ms_fake_start_pinned(&fa, &a, fake_request, target, sizeof(target));
	snprintf(path, sizeof(path), "%s/kept.chains", a.dir);
	snprintf(copy, sizeof(copy), "%s/before.chains", a.dir);
	chains_file(path, copy);
	assert_int_equal(interrupt_in_request(&a, target, "--rescan", path, &t), 130);
	print_message("terminal: %s\n", t.out);
	assert_non_null(strstr(t.out, "interrupted while following the chains"));
	assert_int_equal(t.out_bytes, 0);
	ms_assert_files_equal(path, copy);
	ms_fake_stop(&fa);
	ms_agent_cleanup(&a);
}

/* SIGINT during a search on an agent without progress replies (the fake announces none): exit 130,
 * "interrupted", no -o file and nothing on stdout (without the stop: "saved 0 chains", exit 0). */
static void test_search_interrupted_without_progress(void **state)
{
	char target[96], path[4300];
	ms_agent a;
	ms_tty t;

	(void)state;
	ms_fake_start_pinned(&fa, &a, fake_request, target, sizeof(target));
	snprintf(path, sizeof(path), "%s/found.chains", a.dir);
	assert_int_equal(interrupt_in_request(&a, target, "-o", path, &t), 130);
	print_message("terminal: %s\n", t.out);
	assert_non_null(strstr(t.out, "interrupted while searching pointers"));
	assert_int_equal(t.out_bytes, 0);
	assert_int_equal(access(path, F_OK), -1);
	ms_fake_stop(&fa);
	ms_agent_cleanup(&a);
}

/* A search answered with a progress reply whose total is 0 (an agent with nothing it can count),
 * then its chains. */
static void fake_zero_total(ms_fake *f, const Memscan__V1__Request *req)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;
	static Memscan__V1__PointerScan none = MEMSCAN__V1__POINTER_SCAN__INIT;

	if (req->op_case == MEMSCAN__V1__REQUEST__OP_POINTER_SCAN && req->pointer_scan->progress_ms) {
		pr.next_cursor = 9;
		resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
		resp.progress = &pr;
		ms_fake_send(f, &resp);
	} else if (req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT) {
		none.address = ADDR;
		send_followed(f, &none);
	} else {
		fake_request(f, req);
	}
}

/* The search's line with a total of 0 names no phase (it cannot tell them apart): "pointer scan",
 * never "searching" from the start. */
static void test_search_line_without_total(void **state)
{
	char target[96], to[32];
	const char *argv[] = {
		"memscan", "remote", "pointers", target, "--to", to, "--identity", NULL, NULL
	};
	ms_agent a;
	ms_tty t;

	(void)state;
	ms_fake_start_pinned(&fa, &a, fake_zero_total, target, sizeof(target));
	fa.progress = 1;
	snprintf(to, sizeof(to), "0x%llx", (unsigned long long)ADDR);
	argv[7] = a.full.path;
	ms_tty_start(&t, argv);
	ms_tty_finish(&t, 10000);
	print_message("terminal: %s\n", t.out);
	assert_non_null(strstr(t.out, "\rmemscan: pointer scan 0 B"));
	assert_null(strstr(t.out, "searching"));
	fa.progress = 0;
	ms_fake_stop(&fa);
	ms_agent_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rescan_interrupted_in_last_request),
		cmocka_unit_test(test_search_interrupted_without_progress),
		cmocka_unit_test(test_search_line_without_total),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
