/* SPDX-License-Identifier: MIT */
/* The baselines of `memscan remote heatmap` and `memscan remote diff --watch` on a terminal (a
 * pseudo-terminal here), against a fake agent (real channel and keys on 127.0.0.1) that reports
 * their progress for as long as the test needs: the line counts against the total the agent reports
 * (not the bytes of the regions the CLI listed), and Ctrl-C stops the baseline with exit 130. A real
 * agent reads a baseline too quickly for a test to see its progress reliably. */
#include "agentutil.h"
#include "fakeagent.h"
#include "ttyutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE       0x7f0000000000ull
#define LISTED     (16ull << 20) /* the region the fake lists */
#define TOTAL      (48ull << 20) /* the total its progress reports give */
#define STEP       (1ull << 20)  /* done grows by this much a report ... */
#define REPORTS    200           /* ... for this many reports (20 ms apart), then the work fails */
#define REPORT_GAP 20000         /* us */

static ms_fake fa;
static unsigned reports; /* progress reports sent for the work under way */

/* The next progress report of the baseline being read: done one STEP more (below TOTAL). */
static void send_progress(ms_fake *f)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;

	reports++;
	pr.done = reports * STEP < TOTAL ? reports * STEP : TOTAL - 1;
	pr.total = TOTAL;
	pr.next_cursor = 100 + reports;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	resp.progress = &pr;
	usleep(REPORT_GAP);
	ms_fake_send(f, &resp);
}

/* A baseline (kept snapshot or heat) is reported on until the client stops waiting; past REPORTS the
 * work fails, so a client that never stops ends the test. */
static void fake_request(ms_fake *f, const Memscan__V1__Request *req)
{
	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_LIST_REGIONS:
		ms_fake_send_regions(f, BASE, LISTED, 12345);
		break;
	case MEMSCAN__V1__REQUEST__OP_SNAPSHOT:
	case MEMSCAN__V1__REQUEST__OP_HEAT_START:
		reports = 0;
		send_progress(f);
		break;
	case MEMSCAN__V1__REQUEST__OP_NEXT:
		if (reports < REPORTS)
			send_progress(f);
		else
			ms_fake_send_error(f, MEMSCAN_ERR_IO, "the fake ran out of reports");
		break;
	default:
		ms_fake_send_error(f, MEMSCAN_ERR_INVALID_ARG, "not in this fake");
		break;
	}
}

/* The fake (ms_fake_start_pinned) announcing progress replies and heats. */
static void fake_start(ms_agent *a, char *target, size_t len)
{
	ms_fake_start_pinned(&fa, a, fake_request, target, len);
	fa.progress = 1;
	fa.heatmap = 1;
}

/* Runs `memscan remote CMD TARGET OPT -i 1s` (OPT: two words, the second may be NULL) with the
 * fake's keys on a terminal until its baseline line shows, then Ctrl-C: the line counted against
 * the agent's TOTAL, and the CLI stopped with 130. */
static void assert_baseline_line(const char *cmd, const char *opt, const char *opt_arg)
{
	const char *argv[12], *out;
	char target[96];
	size_t n = 0;
	int status;
	ms_agent a;

	fake_start(&a, target, sizeof(target));
	argv[n++] = "remote";
	argv[n++] = cmd;
	argv[n++] = target;
	argv[n++] = opt;
	if (opt_arg)
		argv[n++] = opt_arg;
	argv[n++] = "-i";
	argv[n++] = "1s";
	argv[n++] = "--identity";
	argv[n++] = a.full.path;
	argv[n] = NULL;
	out = ms_run_on_tty(argv, NULL, "\rmemscan: baseline ", &status);
	print_message("%u progress reports sent\n", reports);
	assert_non_null(strstr(out, "\rmemscan: baseline "));
	assert_non_null(strstr(strstr(out, "\rmemscan: baseline "), " of 48 MiB ("));
	assert_null(strstr(out, " of 16 MiB ("));
	assert_non_null(strstr(out, "interrupted while"));
	assert_int_equal(status, 130);
	assert_true(reports < REPORTS);
	ms_fake_stop(&fa);
	ms_agent_cleanup(&a);
}

static void test_heatmap_baseline(void **state)
{
	(void)state;
	assert_baseline_line("heatmap", "-d", "10s");
}

static void test_diff_watch_baseline(void **state)
{
	(void)state;
	assert_baseline_line("diff", "--watch", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heatmap_baseline),
		cmocka_unit_test(test_diff_watch_baseline),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
