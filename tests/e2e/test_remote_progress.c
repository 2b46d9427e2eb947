/* SPDX-License-Identifier: MIT */
/* Remote scans answered with Progress, against a real agent on 127.0.0.1 and the fixture: the client
 * sees how far the agent's scan is, a cancel stops it, a client that leaves (the CLI killed) stops it,
 * and `memscan remote scan` on a terminal draws the progress line and exits 130 on Ctrl-C. */
#include "agentutil.h"
#include "ttyutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/client.h>

/* The arena: 256 MiB of 0x41. The slow pattern is 4095 x 41 then 42: every start passes the
 * matcher's filter and fails only at its last byte (the bounded matcher's worst case, about 2 s for
 * the arena on 2 cores); a 0x42 planted at PLANT[i] + 4095 makes a match at PLANT[i]. */
#define ARENA_PAGES "65536"
#define SLOW_BYTES  MEMSCAN_PATTERN_MAX

/* Under AddressSanitizer the agent's matcher runs about 20 times slower: a scan of the same time
 * covers less, and a scan told to stop takes longer to notice (it asks between 1 MiB pieces). */
#ifdef MS_UNDER_ASAN
#define PART_LEN ((uint64_t)4 << 20) /* the first 4 MiB: a scan of about a second */
#define SLOWER   4
#else
#define PART_LEN ((uint64_t)64 << 20) /* the first 64 MiB: a scan of about a second */
#define SLOWER   1
#endif
static const uint64_t plant_at[] = { 1u << 20, PART_LEN / 2, PART_LEN - 2 * SLOW_BYTES };
#define PLANTS (sizeof(plant_at) / sizeof(plant_at[0]))

/* Agent CPU time (ticks) a scan stopped for good may still use in the measured window: a running
 * one uses two cores, a hundred ticks a second each. */
#define IDLE_TICKS 10

struct env {
	ms_fixture fx;
	ms_agent a;
	char *pattern;
	char whole[64];    /* --range of the arena */
	uint64_t long_len; /* bytes from the arena's start that take the agent over a second */
	char longr[64];    /* their --range */
	char target[96];   /* HOST:PORT:PID */
	char dir[4096];    /* XDG_CONFIG_HOME of the CLI: the agent's key pinned there */
};

static int setup(void **state)
{
	static const char *const fx_args[] = { "--pages", ARENA_PAGES, NULL };
	static struct env e;
	char pub[4300], hostport[64];
	uint8_t b = 0x42;
	ms_run r;

	if (ms_fixture_start(&e.fx, fx_args) != 0 ||
	    ms_fixture_cmd(&e.fx, "fill %s %llx 41", ms_hex(e.fx.arena), (unsigned long long)e.fx.arena_len))
		return -1;
	for (size_t i = 0; i < PLANTS; i++)
		ms_fixture_poke(&e.fx, e.fx.arena + plant_at[i] + SLOW_BYTES - 1, &b, 1);
	e.pattern = malloc(3 * SLOW_BYTES);
	if (!e.pattern || ms_agent_init(&e.a) != 0 || ms_agent_start(&e.a, NULL) != 0)
		return -1;
	for (size_t i = 0; i < SLOW_BYTES; i++)
		memcpy(e.pattern + 3 * i, i + 1 < SLOW_BYTES ? "41 " : "42", 3);
	snprintf(e.whole, sizeof(e.whole), "%s-%s", ms_hex(e.fx.arena), ms_hex(e.fx.arena + e.fx.arena_len));
	snprintf(e.dir, sizeof(e.dir), "%s", ms_tmpdir());
	setenv("XDG_CONFIG_HOME", e.dir, 1);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(&e.a));
	snprintf(e.target, sizeof(e.target), "%s:%d", hostport, (int)e.fx.pid);
	snprintf(pub, sizeof(pub), "%s.pub", e.a.agent.path);
	if (ms_run_cli(&r, (const char *const[]){ "trust", hostport, pub, NULL }) != 0 || r.status != 0)
		return -1;
	ms_run_free(&r);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	int rc = ms_agent_finish(&e->a); /* exit code 0 after SIGTERM: no leak, no sanitizer report */

	ms_fixture_stop(&e->fx);
	ms_tmpdir_remove(e->dir);
	free(e->pattern);
	return rc;
}

/* A client of the suite's agent with its full key. */
static memscan_client *client_open(struct env *e)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_identity_file(c, e->a.full.path), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_agent_key(c, e->a.agent.pub), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_connect(c, e->a.url), MEMSCAN_OK);
	return c;
}

/* The agent's CPU time so far (user + system, in clock ticks) from /proc/PID/stat. */
static unsigned long long agent_ticks(const ms_agent *a)
{
	char path[64], buf[1024], *p;
	unsigned long long utime = 0, stime = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)a->pid);
	f = fopen(path, "re");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces: fields 3 on follow its ')' */
	assert_non_null(p);
	assert_int_equal(
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime), 2);
	return utime + stime;
}

/* Asserts that the agent does no work any more: after a moment for a stopping scan to notice, its
 * CPU time grows by at most IDLE_TICKS in half a second (in the first such window; under ASan in one of
 * seven: a scan asks whether to stop between 1 MiB pieces, which take a quarter second there, over
 * two seconds when four scans share the two cores; a scan that runs on takes tens of seconds). */
static void assert_agent_idle(const ms_agent *a)
{
	unsigned long long t0, t1;

	usleep(400 * 1000 * SLOWER);
	for (int i = 0;; i++) {
		t0 = agent_ticks(a);
		usleep(500 * 1000);
		t1 = agent_ticks(a);
		if (t1 - t0 <= IDLE_TICKS || i + 1 >= 2 * SLOWER - 1)
			break;
	}
	print_message("agent CPU time over 0.5 s once stopped: %llu ticks\n", t1 - t0);
	assert_true(t1 - t0 <= IDLE_TICKS);
}

struct seen {
	unsigned calls;
	uint64_t last;
	int backwards;  /* a report below the one before it */
	int stop_after; /* the cancel callback asks to stop once this many reports came (0: never) */
	uint64_t match[PLANTS + 1];
	size_t matches;
};

static void on_progress(void *ctx, uint64_t done)
{
	struct seen *s = ctx;

	if (s->calls && done < s->last)
		s->backwards = 1;
	s->last = done;
	s->calls++;
}

static int on_cancel(void *ctx)
{
	const struct seen *s = ctx;

	return s->stop_after && s->calls >= (unsigned)s->stop_after;
}

static int on_match(void *ctx, uint64_t address, const memscan_region *region)
{
	struct seen *s = ctx;

	(void)region;
	if (s->matches < PLANTS + 1)
		s->match[s->matches] = address;
	s->matches++;
	return 0;
}

static int kill_target(void *ctx)
{
	ms_fixture *f = ctx;

	if (f->pid > 0)
		kill(f->pid, SIGKILL);
	return 0;
}

static void range_filter(const struct env *e, uint64_t len, memscan_filter *f)
{
	memscan_filter_default(f);
	f->range_start = e->fx.arena;
	f->range_end = e->fx.arena + len;
}

static void assert_planted_matches(const struct env *e, const struct seen *s)
{
	assert_int_equal(s->matches, PLANTS);
	for (size_t i = 0; i < PLANTS; i++)
		assert_int_equal(s->match[i], e->fx.arena + plant_at[i]);
}

/* Times a scan of PART_LEN without a callback (its matches into *RET_PLAIN) and sets e->long_len to
 * what this agent scans in about 1.2 s on this machine (at most the arena; the plants all lie in
 * PART_LEN, so a longer scan has the same matches). */
static void calibrate(struct env *e, memscan_client *c, struct seen *ret_plain)
{
	memscan_filter f;
	int64_t t0, took;
	uint64_t len;

	range_filter(e, PART_LEN, &f);
	t0 = ms_now_ms();
	ms_assert_call(c, memscan_client_scan(c, e->fx.pid, &f, e->pattern, NULL, on_match, ret_plain, NULL),
	               MEMSCAN_OK);
	took = ms_now_ms() - t0;
	len = PART_LEN * 1200 / (uint64_t)(took > 0 ? took : 1);
	len = len < PART_LEN ? PART_LEN : len > e->fx.arena_len ? e->fx.arena_len : len & ~((1ull << 20) - 1);
	e->long_len = len;
	snprintf(e->longr, sizeof(e->longr), "%s-%s", ms_hex(e->fx.arena), ms_hex(e->fx.arena + len));
	print_message("remote scan of %llu MiB: %lld ms; scans of %llu MiB from now on\n",
	              (unsigned long long)(PART_LEN >> 20), (long long)took, (unsigned long long)(len >> 20));
}

/* A scan of over a second: the callback hears of it several times, never backwards nor past the
 * bytes scanned, and the matches are those of a scan without a callback (and those planted). */
static void test_scan_progress_reported(void **state)
{
	struct env *e = *state;
	memscan_client *c = client_open(e);
	struct seen with = { 0 }, without = { 0 };
	memscan_filter f;
	uint64_t count = 0, len;
	int64_t t0;

	calibrate(e, c, &without);
	assert_int_equal(without.calls, 0);
	assert_planted_matches(e, &without);
	ms_assert_call(c, memscan_client_set_progress(c, on_progress, &with), MEMSCAN_OK);
	/* twice as long while it was too quick for two reports (the other jobs on this machine may
	 * have slowed the timed scan down): a scan of the whole arena takes seconds */
	for (len = e->long_len;; len = 2 * len < e->fx.arena_len ? 2 * len : e->fx.arena_len) {
		memset(&with, 0, sizeof(with));
		range_filter(e, len, &f);
		t0 = ms_now_ms();
		ms_assert_call(
		    c, memscan_client_scan(c, e->fx.pid, &f, e->pattern, NULL, on_match, &with, &count),
		    MEMSCAN_OK);
		print_message("remote scan of %llu MiB: %lld ms, %u progress reports, the last %llu bytes\n",
		              (unsigned long long)(len >> 20), (long long)(ms_now_ms() - t0), with.calls,
		              (unsigned long long)with.last);
		if (with.calls >= 2 || len == e->fx.arena_len)
			break;
	}
	assert_true(with.calls >= 2);
	assert_false(with.backwards);
	assert_true(with.last > 0 && with.last <= len);
	assert_int_equal(count, PLANTS);
	assert_planted_matches(e, &with);
	memscan_client_free(c);
}

/* A cancel asked at the first progress report: CANCELLED within about a second of the start (the
 * whole scan takes two), the agent's scan stopped with it (not left to run until the client's next
 * request); the next request is answered at once, as is a small scan after it. */
static void test_scan_cancel_after_first_progress(void **state)
{
	struct env *e = *state;
	memscan_client *c = client_open(e);
	struct seen s = { .stop_after = 1 }, small = { 0 };
	memscan_region_list *list = NULL;
	memscan_filter f;
	int64_t t0, took;

	range_filter(e, e->fx.arena_len, &f);
	ms_assert_call(c, memscan_client_set_progress(c, on_progress, &s), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_cancel(c, on_cancel, &s), MEMSCAN_OK);
	t0 = ms_now_ms();
	ms_assert_call(c, memscan_client_scan(c, e->fx.pid, &f, e->pattern, NULL, on_match, &s, NULL),
	               MEMSCAN_ERR_CANCELLED);
	took = ms_now_ms() - t0;
	print_message("remote scan cancelled after %lld ms\n", (long long)took);
	assert_int_equal(s.calls, 1);
	assert_true(took < 1500);
	assert_agent_idle(&e->a); /* the client told the agent to drop it: it does not run on */
	ms_assert_call(c, memscan_client_set_cancel(c, NULL, NULL), MEMSCAN_OK);
	t0 = ms_now_ms();
	ms_assert_call(c, memscan_client_list_regions(c, e->fx.pid, &f, &list), MEMSCAN_OK);
	took = ms_now_ms() - t0;
	print_message("the next request answered after %lld ms\n", (long long)took);
	/* the scan stopped when it was dropped, not seconds later at its end */
	assert_true(took < 1000 * SLOWER);
	assert_int_equal(memscan_region_list_bytes(list), e->fx.arena_len);
	memscan_region_list_free(list);
	assert_agent_idle(&e->a);
	range_filter(e, 2u << 20, &f);
	ms_assert_call(c, memscan_client_scan(c, e->fx.pid, &f, e->pattern, NULL, on_match, &small, NULL),
	               MEMSCAN_OK);
	assert_int_equal(small.matches, 1); /* the one planted at 1 MiB */
	memscan_client_free(c);
}

static int cancel_once_matched(void *ctx)
{
	const struct seen *s = ctx;

	return s->matches > 0;
}

/* A cancel asked once matches came: the scan's further pages are not fetched (CANCELLED with one
 * page of the 4 million matches), and the next request on the client is answered. */
static void test_scan_cancel_between_pages(void **state)
{
	struct env *e = *state;
	memscan_client *c = client_open(e);
	memscan_scan_options o = { .align = 4 };
	memscan_region_list *list = NULL;
	struct seen s = { 0 };
	memscan_filter f;

	range_filter(e, 16u << 20, &f);
	ms_assert_call(c, memscan_client_set_cancel(c, cancel_once_matched, &s), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_scan(c, e->fx.pid, &f, "41 41 41 41", &o, on_match, &s, NULL),
	               MEMSCAN_ERR_CANCELLED);
	print_message("cancelled after %zu of %u matches\n", s.matches, 4u << 20);
	assert_true(s.matches > 0 && s.matches < (4u << 20));
	ms_assert_call(c, memscan_client_set_cancel(c, NULL, NULL), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_list_regions(c, e->fx.pid, &f, &list), MEMSCAN_OK);
	memscan_region_list_free(list);
	memscan_client_free(c);
}

/* The target exits mid-scan (killed at the first progress report): the scan's reply is PROCESS_GONE,
 * not matches of a process that is no more. */
static void test_scan_target_exits(void **state)
{
	static const char *const fx_args[] = { "--pages", ARENA_PAGES, NULL };
	struct env *e = *state;
	memscan_client *c = client_open(e);
	struct seen s = { 0 };
	memscan_filter f;
	ms_fixture gone;

	assert_int_equal(ms_fixture_start(&gone, fx_args), 0);
	assert_int_equal(
	    ms_fixture_cmd(&gone, "fill %s %llx 41", ms_hex(gone.arena), (unsigned long long)gone.arena_len),
	    0);
	memscan_filter_default(&f);
	f.range_start = gone.arena;
	f.range_end = gone.arena + gone.arena_len;
	s.stop_after = 1; /* on_cancel never stops: it kills the target at the first report */
	ms_assert_call(c, memscan_client_set_progress(c, on_progress, &s), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_cancel(c, kill_target, &gone), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_scan(c, gone.pid, &f, e->pattern, NULL, on_match, &s, NULL),
	               MEMSCAN_ERR_PROCESS_GONE);
	assert_true(s.calls >= 1);
	assert_int_equal(s.matches, 0);
	ms_fixture_stop(&gone);
	memscan_client_free(c);
}

/* A Scan of the arena's first LEN bytes asked with PROGRESS_MS by peer P; its first reply. */
/* Scan SC (its pattern, align and progress_ms set) of the arena's first LEN bytes by peer P; its
 * first reply. */
static Memscan__V1__Response *peer_scan_with(struct env *e, ms_peer *p, Memscan__V1__Scan *sc, uint64_t len)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = e->fx.pid;
	fl.use_default = 1;
	fl.range_start = e->fx.arena;
	fl.range_end = e->fx.arena + len;
	sc->target = &t;
	sc->filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = sc;
	return ms_peer_call(p, &req);
}

/* A Scan of the arena's first LEN bytes for the slow pattern asked with PROGRESS_MS by peer P. */
static Memscan__V1__Response *peer_scan_len(struct env *e, ms_peer *p, uint32_t progress_ms, uint64_t len)
{
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;

	sc.pattern = e->pattern;
	sc.progress_ms = progress_ms;
	return peer_scan_with(e, p, &sc, len);
}

/* The same of the whole arena. */
static Memscan__V1__Response *peer_scan(struct env *e, ms_peer *p, uint32_t progress_ms)
{
	return peer_scan_len(e, p, progress_ms, e->fx.arena_len);
}

/* The cursor of Progress reply RESP (freed), asserting what it holds (TOTAL bytes to scan). */
static uint64_t progress_cursor(Memscan__V1__Response *resp, uint64_t total)
{
	uint64_t cursor;

	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROGRESS);
	assert_int_equal(resp->progress->total, total);
	assert_true(resp->progress->done <= resp->progress->total);
	cursor = resp->progress->next_cursor;
	assert_true(cursor != 0);
	wire_free_response(resp);
	return cursor;
}

/* A peer's Next with another cursor than the Progress gave drops the scan (NOT_FOUND, the agent goes
 * idle), and nothing is pending after it. */
static void test_peer_wrong_cursor(void **state)
{
	struct env *e = *state;
	uint64_t cursor;
	int64_t t0;
	ms_peer p;

	assert_int_equal(ms_peer_connect(&p, &e->a, &e->a.full, 10000), 0);
	cursor = progress_cursor(peer_scan(e, &p, 1), e->fx.arena_len); /* the agent waits at least 50 ms */
	cursor = progress_cursor(ms_peer_next(&p, cursor), e->fx.arena_len);
	t0 = ms_now_ms();
	ms_peer_expect_error(ms_peer_next(&p, cursor + 1), MEMSCAN_ERR_NOT_FOUND);
	assert_true(ms_now_ms() - t0 < 1000 * SLOWER); /* stopped, not waited for to its end */
	assert_agent_idle(&e->a);
	ms_peer_expect_error(ms_peer_next(&p, cursor), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_close(&p);
}

/* At most half as many scans run on threads of their own as the agent has workers (4 here: 2): with
 * two under way, a third asked with progress_ms (long enough to outlast its 50 ms wait) runs as before
 * and answers with its matches, not with Progress; the two stop when their sessions end. */
static void test_jobs_bounded_by_workers(void **state)
{
	struct env *e = *state;
	uint64_t len = (16u << 20) / SLOWER / SLOWER, planted = 0;
	Memscan__V1__Response *resp;
	ms_peer p[3];

	for (size_t i = 0; i < PLANTS; i++)
		planted += plant_at[i] + SLOW_BYTES <= len;

	for (int i = 0; i < 3; i++)
		assert_int_equal(ms_peer_connect(&p[i], &e->a, &e->a.full, 20000), 0);
	for (int i = 0; i < 2; i++)
		progress_cursor(peer_scan(e, &p[i], 50), e->fx.arena_len);
	resp = peer_scan_len(e, &p[2], 50, len);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	assert_int_equal(resp->scan->n_matches, planted);
	wire_free_response(resp);
	for (int i = 0; i < 3; i++)
		ms_peer_close(&p[i]);
	assert_agent_idle(&e->a);
}

/* Progress never says more than the total nor goes back, even where libmemscan's reads cover bytes
 * twice: 4 million matches at every 32 bytes overflow what a worker keeps of a 4 MiB unit, so the
 * caller scans each unit again (its reads counted anew: up to 1.6 times the total here). */
static void test_progress_within_total(void **state)
{
	struct env *e = *state;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Response *resp;
	uint64_t last = 0, replies = 0;
	ms_peer p;

	sc.pattern = (char *)"41 41 41 41";
	sc.align = 32;
	sc.progress_ms = 50;
	assert_int_equal(ms_peer_connect(&p, &e->a, &e->a.full, 20000), 0);
	resp = peer_scan_with(e, &p, &sc, (128u << 20) / SLOWER);
	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		if (resp->progress->done > resp->progress->total || resp->progress->done < last)
			fail_msg("progress %llu of %llu after %llu", (unsigned long long)resp->progress->done,
			         (unsigned long long)resp->progress->total, (unsigned long long)last);
		last = resp->progress->done;
		replies++;
		resp = ms_peer_next(&p, progress_cursor(resp, (128u << 20) / SLOWER));
	}
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	print_message("%llu progress replies, the last %llu bytes\n", (unsigned long long)replies,
	              (unsigned long long)last);
	assert_true(replies >= 2);
	wire_free_response(resp);
	ms_peer_close(&p);
}

/* SIGTERM while a session holds a scan under way (no request in flight): the agent stops it and
 * exits 0 promptly (under ASan: nothing leaked). */
static void test_sigterm_with_scan_pending(void **state)
{
	struct env *e = *state;
	ms_agent a;
	ms_peer p;
	int64_t t0;

	assert_int_equal(ms_agent_init(&a), 0);
	assert_int_equal(ms_agent_start(&a, NULL), 0);
	assert_int_equal(ms_peer_connect(&p, &a, &a.full, 10000), 0);
	progress_cursor(peer_scan(e, &p, 100), e->fx.arena_len);
	t0 = ms_now_ms();
	assert_int_equal(ms_agent_terminate(&a, 10000), 0);
	print_message("agent exited %lld ms after SIGTERM\n", (long long)(ms_now_ms() - t0));
	assert_true(ms_now_ms() - t0 < 1000 * SLOWER);
	ms_peer_close(&p);
	ms_agent_stop(&a);
	ms_agent_cleanup(&a);
}

/* ---- the CLI on a pseudo-terminal ---- */

/* `memscan remote scan` of over a second: the progress line is drawn ("scan ... of N MiB") and
 * cleared at the end; with --quiet the terminal stays blank. */
static void test_cli_remote_scan_progress(void **state)
{
	struct env *e = *state;
	const char *argv[] = { "memscan", "remote", "scan",       e->target,      "--pattern", e->pattern,
		               "--range", e->longr, "--identity", e->a.full.path, NULL,        NULL };
	ms_tty t;
	char of[64];

	if (!e->long_len) {
		memscan_client *c = client_open(e);
		struct seen plain = { 0 };

		calibrate(e, c, &plain);
		memscan_client_free(c);
	}
	ms_tty_start(&t, argv);
	assert_int_equal(ms_tty_finish(&t, 20000), 0);
	assert_non_null(strstr(t.out, "\rmemscan: scan "));
	snprintf(of, sizeof(of), " of %llu MiB (", (unsigned long long)(e->long_len >> 20));
	assert_non_null(strstr(strstr(t.out, "\rmemscan: scan "), of));
	assert_true(t.len >= 4);
	assert_string_equal(t.out + t.len - 4, "\r\033[K");
	argv[10] = "--quiet";
	ms_tty_start(&t, argv);
	assert_int_equal(ms_tty_finish(&t, 20000), 0);
	assert_string_equal(t.out, "");
}

/* Ctrl-C while the scan of the whole arena runs (its progress line drawn): exit 130 promptly. */
static void test_cli_remote_scan_sigint(void **state)
{
	struct env *e = *state;
	const char *argv[] = { "memscan", "remote", "scan",       e->target,      "--pattern", e->pattern,
		               "--range", e->whole, "--identity", e->a.full.path, NULL };
	ms_tty t;
	int64_t t0;
	int rc;

	ms_tty_start(&t, argv);
	assert_true(ms_tty_pump(&t, "\rmemscan: scan ", 0, 5000));
	t0 = ms_now_ms();
	assert_int_equal(kill(t.pid, SIGINT), 0);
	rc = ms_tty_finish(&t, 5000);
	print_message("memscan remote scan exited %lld ms after SIGINT\n", (long long)(ms_now_ms() - t0));
	assert_int_equal(rc, 130);
	assert_true(ms_now_ms() - t0 < 1500);
	assert_agent_idle(&e->a);
}

/* Ctrl-C while the matches of a finished remote scan arrive (4 million, page after page, about a
 * second of output): exit 130 promptly, not once the last page came, and with part of them only. */
static void test_cli_sigint_while_matches_arrive(void **state)
{
	struct env *e = *state;
	char range[64];
	const char *argv[] = { "memscan",     "remote",       "scan", e->target, "--pattern",
		               "41 41 41 41", "--align",      "4",    "--range", range,
		               "--identity",  e->a.full.path, NULL };
	ms_tty t;
	int64_t t0;
	int rc;

	snprintf(range, sizeof(range), "%s-%s", ms_hex(e->fx.arena), ms_hex(e->fx.arena + (16u << 20)));
	ms_tty_start(&t, argv);
	assert_true(ms_tty_pump(&t, NULL, 1, 20000)); /* the first matches are out */
	t0 = ms_now_ms();
	assert_int_equal(kill(t.pid, SIGINT), 0);
	rc = ms_tty_finish(&t, 20000);
	print_message("memscan remote scan exited %lld ms after SIGINT, %llu bytes of matches printed\n",
	              (long long)(ms_now_ms() - t0), (unsigned long long)t.out_bytes);
	assert_int_equal(rc, 130);
	assert_true(ms_now_ms() - t0 < 500 * SLOWER);
}

/* The CLI killed outright mid-scan (SIGKILL: nothing said to the agent): its session ends with the
 * connection, the scan stops, and the agent serves the next client. */
static void test_cli_killed_mid_scan(void **state)
{
	struct env *e = *state;
	const char *argv[] = { "memscan", "remote", "scan",       e->target,      "--pattern", e->pattern,
		               "--range", e->whole, "--identity", e->a.full.path, NULL };
	ms_tty t;

	ms_tty_start(&t, argv);
	assert_true(ms_tty_pump(&t, "\rmemscan: scan ", 0, 5000));
	assert_int_equal(kill(t.pid, SIGKILL), 0);
	assert_int_equal(ms_tty_finish(&t, 5000), 128 + SIGKILL);
	assert_agent_idle(&e->a);
	assert_int_equal(ms_agent_serving(&e->a, e->fx.pid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_progress_reported),
		cmocka_unit_test(test_scan_cancel_after_first_progress),
		cmocka_unit_test(test_scan_cancel_between_pages),
		cmocka_unit_test(test_scan_target_exits),
		cmocka_unit_test(test_peer_wrong_cursor),
		cmocka_unit_test(test_jobs_bounded_by_workers),
		cmocka_unit_test(test_sigterm_with_scan_pending),
		cmocka_unit_test(test_progress_within_total),
		cmocka_unit_test(test_cli_remote_scan_progress),
		cmocka_unit_test(test_cli_remote_scan_sigint),
		cmocka_unit_test(test_cli_killed_mid_scan),
		cmocka_unit_test(test_cli_sigint_while_matches_arrive),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
