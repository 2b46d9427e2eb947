/* SPDX-License-Identifier: MIT */
/* Value sets kept on a real agent (127.0.0.1, real keys) through libmemscan-client, against the
 * fixture: scan, narrow from another connection, candidates paged, checked against the fixture's
 * memory read independently (pread of /proc/PID/mem); other keys, release, the per-key set limit and
 * budget, a process that exited, idle expiry, bad values, and remote set reference files. */
#include "agentutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/client.h>
#include <sodium.h>

#define ARENA_PAGES "256"        /* 1 MiB: an unknown-value scan of it is over the set budget below */
#define SET_BUDGET  "512K"       /* --set-budget of the suite's agent */
#define MAX_SETS    4            /* --max-sets of the suite's agent */
#define WINDOW      (128u << 10) /* the arena's first 128 KiB: u8 unknown scans fit the budget */
#define PLANTED     100000       /* an i32 the arena's byte pattern never holds */

static ms_agent env;
static ms_fixture fx;

/* LEN bytes of PID at ADDR, read through /proc/PID/mem, independently of memscan. */
static void pread_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)addr), (ssize_t)len);
	close(fd);
}

static void put_i32(ms_fixture *f, uint64_t addr, int32_t v)
{
	uint32_t u = (uint32_t)v;

	for (int k = 0; k < 4; k++)
		assert_int_equal(ms_fixture_cmd(f, "set %llx %x", (unsigned long long)(addr + k),
		                                (unsigned)(u >> (8 * k)) & 0xff),
		                 0);
}

static memscan_filter arena_filter(uint64_t len)
{
	memscan_filter f = { .perms = MEMSCAN_PERM_WRITE,
		             .range_start = fx.arena,
		             .range_end = fx.arena + len };

	return f;
}

/* Candidates as received, checked against the fixture's memory as they come. */
struct got {
	uint64_t addr[16];
	int32_t value[16], old[16];
	int has_old[16];
	size_t n;
	uint64_t total, last;
	pid_t pid;
	int disorder, mismatch;
};

static int collect(void *ctx, const memscan_candidate *c)
{
	struct got *g = ctx;
	uint8_t now[8];

	if (g->total && c->address <= g->last)
		g->disorder = 1;
	if (c->address < c->region->start || c->address >= c->region->end)
		g->disorder = 1;
	g->last = c->address;
	pread_mem(g->pid, c->address, now, c->width);
	if (memcmp(now, c->value, c->width) != 0)
		g->mismatch = 1;
	if (g->n < 16) {
		if (c->width == 4) {
			memcpy(&g->value[g->n], c->value, 4);
			if (c->old)
				memcpy(&g->old[g->n], c->old, 4);
		}
		g->has_old[g->n] = c->old != NULL;
		g->addr[g->n++] = c->address;
	}
	g->total++;
	return 0;
}

/* Plants PLANTED at three aligned arena addresses. */
static void plant(uint64_t at[3])
{
	for (int i = 0; i < 3; i++) {
		at[i] = fx.arena + 0x1000 * (uint64_t)(i + 1) + 0x40;
		put_i32(&fx, at[i], PLANTED);
	}
}

/* Scan from one connection, narrow from a second, candidates from a third: the set outlives them;
 * every value is the fixture's memory now (pread). */
static void test_scan_then_narrow_across_connections(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	memscan_client_vset set, nar;
	struct got g = { .pid = fx.pid };
	memscan_client_page page = { 10, collect, &g };
	memscan_client *c = ms_agent_client(&env, &env.full);
	uint64_t at[3], got_n = 0;

	(void)state;
	plant(at);
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_I32, "100000", NULL, NULL, &page, &set),
	    MEMSCAN_OK);
	assert_int_equal(set.count, 3);
	assert_int_equal(set.pid, fx.pid);
	assert_int_equal(set.width, 4);
	assert_int_equal(g.total, 3);
	assert_false(g.disorder || g.mismatch);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g.addr[i], at[i]);
		assert_int_equal(g.value[i], PLANTED);
		assert_false(g.has_old[i]);
	}
	memscan_client_free(c);

	put_i32(&fx, at[1], PLANTED + 5);
	c = ms_agent_client(&env, &env.full);
	memset(&g, 0, sizeof(g));
	g.pid = fx.pid;
	ms_assert_call(
	    c,
	    memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_INCREASED, NULL, NULL, 0, false, &page, &nar),
	    MEMSCAN_OK);
	assert_int_equal(nar.id, set.id); /* narrowed in place */
	assert_int_equal(nar.count, 1);
	assert_int_equal(g.total, 1);
	assert_int_equal(g.addr[0], at[1]);
	assert_int_equal(g.value[0], PLANTED + 5);
	assert_true(g.has_old[0]);
	assert_int_equal(g.old[0], PLANTED);
	memscan_client_free(c);

	c = ms_agent_client(&env, &env.full);
	memset(&g, 0, sizeof(g));
	g.pid = fx.pid;
	ms_assert_call(c, memscan_client_value_candidates(c, set.id, 0, 100, collect, &g, &got_n),
	               MEMSCAN_OK);
	assert_int_equal(got_n, 1);
	assert_int_equal(g.addr[0], at[1]);
	assert_false(g.mismatch);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_value_candidates(c, set.id, 0, 1, collect, &g, NULL),
	               MEMSCAN_ERR_NOT_FOUND);
	assert_non_null(strstr(memscan_client_last_error(c), "no value set"));
	memscan_client_free(c);
	for (int i = 0; i < 3; i++)
		put_i32(&fx, at[i], 0);
}

/* An unknown-value scan of 128 KiB of u8 slots, its candidates fetched in several pages (the agent
 * sends at most 65536 a page), then narrowed to the two bytes that changed. */
static void test_unknown_paged_then_changed(void **state)
{
	memscan_filter f = arena_filter(WINDOW);
	memscan_client *c = ms_agent_client(&env, &env.full);
	struct got g = { .pid = fx.pid };
	memscan_client_page page = { 16, collect, &g };
	memscan_client_vset set, nar;
	uint64_t got_n = 0;

	(void)state;
	ms_assert_call(c, memscan_client_value_scan_unknown(c, fx.pid, &f, MEMSCAN_VALUE_U8, NULL, &set),
	               MEMSCAN_OK);
	assert_true(set.unknown);
	assert_int_equal(set.count, WINDOW);
	assert_true(set.bytes >= WINDOW);
	ms_assert_call(c, memscan_client_value_candidates(c, set.id, 0, UINT64_MAX, collect, &g, &got_n),
	               MEMSCAN_OK);
	assert_int_equal(got_n, WINDOW);
	assert_int_equal(g.total, WINDOW);
	assert_int_equal(g.addr[0], fx.arena);
	assert_false(g.disorder || g.mismatch);

	assert_int_equal(ms_fixture_cmd(&fx, "bump %llx", (unsigned long long)(fx.arena + 0x123)), 0);
	assert_int_equal(ms_fixture_cmd(&fx, "bump %llx", (unsigned long long)(fx.arena + WINDOW - 1)), 0);
	memset(&g, 0, sizeof(g));
	g.pid = fx.pid;
	ms_assert_call(
	    c, memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_CHANGED, NULL, NULL, 0, true, &page, &nar),
	    MEMSCAN_OK);
	assert_int_not_equal(nar.id, set.id); /* KEEP: a new set */
	assert_false(nar.unknown);
	assert_int_equal(nar.count, 2);
	assert_int_equal(g.addr[0], fx.arena + 0x123);
	assert_int_equal(g.addr[1], fx.arena + WINDOW - 1);
	assert_false(g.mismatch);
	ms_assert_call(c, memscan_client_value_release(c, nar.id), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* Another key with the scan grant never finds the set; a key without it is denied. */
static void test_other_key_cannot_use_set(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	memscan_client *c = ms_agent_client(&env, &env.full), *o = ms_agent_client(&env, &env.stranger),
	               *l = ms_agent_client(&env, &env.listonly);
	memscan_client_vset set, nar;
	uint64_t at[3];

	(void)state;
	plant(at);
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_I32, "100000", NULL, NULL, NULL, &set),
	    MEMSCAN_OK);
	ms_assert_call(o, memscan_client_value_candidates(o, set.id, 0, 10, NULL, NULL, NULL),
	               MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(
	    o, memscan_client_value_narrow(o, set.id, MEMSCAN_PRED_ANY, NULL, NULL, 0, false, NULL, &nar),
	    MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(o, memscan_client_value_release(o, set.id), MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(l, memscan_client_value_release(l, set.id), MEMSCAN_ERR_DENIED);
	ms_assert_call(
	    l, memscan_client_value_scan(l, fx.pid, &f, MEMSCAN_VALUE_I32, "1", NULL, NULL, NULL, &nar),
	    MEMSCAN_ERR_DENIED);
	/* still there for its owner */
	ms_assert_call(
	    c,
	    memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_UNCHANGED, NULL, NULL, 0, false, NULL, &nar),
	    MEMSCAN_OK);
	assert_int_equal(nar.count, 3);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
	memscan_client_free(o);
	memscan_client_free(l);
	for (int i = 0; i < 3; i++)
		put_i32(&fx, at[i], 0);
}

/* At most --max-sets sets a key; one released makes room again. */
static void test_set_count_limit(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_client_vset sets[MAX_SETS], extra;

	(void)state;
	for (int i = 0; i < MAX_SETS; i++)
		ms_assert_call(c,
		               memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL,
		                                         NULL, &sets[i]),
		               MEMSCAN_OK);
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &extra),
	    MEMSCAN_ERR_LIMIT);
	assert_non_null(strstr(memscan_client_last_error(c), "--max-sets"));
	ms_assert_call(c, memscan_client_value_release(c, sets[0].id), MEMSCAN_OK);
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &sets[0]),
	    MEMSCAN_OK);
	for (int i = 0; i < MAX_SETS; i++)
		ms_assert_call(c, memscan_client_value_release(c, sets[i].id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* An unknown-value scan of the whole arena (1 MiB) is over the key's 512 KiB set budget: refused,
 * naming the agent's option, and so is an exact scan with more candidates than it holds; a smaller
 * unknown-value scan fits. */
static void test_set_budget_refusal(void **state)
{
	memscan_filter whole = arena_filter(fx.arena_len), part = arena_filter(WINDOW);
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_client_vset set;

	(void)state;
	ms_assert_call(c, memscan_client_value_scan_unknown(c, fx.pid, &whole, MEMSCAN_VALUE_U8, NULL, &set),
	               MEMSCAN_ERR_BUSY);
	assert_non_null(strstr(memscan_client_last_error(c), "--set-budget"));
	assert_non_null(strstr(memscan_client_last_error(c), "of 512 KiB in use"));
	/* every byte of the arena matches: 1 Mi candidates of 10 bytes each, stopped at the budget */
	ms_assert_call(
	    c,
	    memscan_client_value_scan(c, fx.pid, &whole, MEMSCAN_VALUE_U8, "0..255", NULL, NULL, NULL, &set),
	    MEMSCAN_ERR_BUSY);
	assert_non_null(strstr(memscan_client_last_error(c), "--set-budget"));
	assert_non_null(strstr(memscan_client_last_error(c), "budget holds (512 KiB)"));
	ms_assert_call(c, memscan_client_value_scan_unknown(c, fx.pid, &part, MEMSCAN_VALUE_U8, NULL, &set),
	               MEMSCAN_OK);
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* A set whose process exited: narrowing says so (PROCESS_GONE) and the agent drops the set. */
static void test_process_exited(void **state)
{
	ms_fixture other;
	memscan_filter f;
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_client_vset set, nar;

	(void)state;
	assert_int_equal(ms_fixture_start(&other, NULL), 0);
	f = (memscan_filter){ .perms = MEMSCAN_PERM_WRITE,
		              .range_start = other.arena,
		              .range_end = other.arena + other.arena_len };
	ms_assert_call(c, memscan_client_value_scan_unknown(c, other.pid, &f, MEMSCAN_VALUE_U32, NULL, &set),
	               MEMSCAN_OK);
	ms_fixture_stop(&other);
	ms_assert_call(
	    c, memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_CHANGED, NULL, NULL, 0, false, NULL, &nar),
	    MEMSCAN_ERR_PROCESS_GONE);
	assert_non_null(strstr(memscan_client_last_error(c), "released"));
	ms_assert_call(c, memscan_client_value_release(c, set.id), MEMSCAN_ERR_NOT_FOUND);
	memscan_client_free(c);
}

/* Values the agent cannot parse come back with the library's reason and the offset. */
static void test_bad_values(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_client_vset set;

	(void)state;
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_I32, "12x", NULL, NULL, NULL, &set),
	    MEMSCAN_ERR_BAD_FORMAT);
	assert_non_null(strstr(memscan_client_last_error(c), "offset 2"));
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U8, "300", NULL, NULL, NULL, &set),
	    MEMSCAN_ERR_LIMIT);
	ms_assert_call(
	    c, memscan_client_value_narrow(c, 12345, MEMSCAN_PRED_ANY, NULL, NULL, 0, false, NULL, &set),
	    MEMSCAN_ERR_NOT_FOUND);
	memscan_client_free(c);
}

/* A reference file round-trips; a flipped byte, a short file and another agent's key are refused. */
static void test_reference_file(void **state)
{
	memscan_client *c = ms_agent_client(&env, &env.full);
	memscan_client_vset_ref ref = { 0 }, back;
	char path[4300];
	uint8_t *bytes;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/set.ref", env.dir);
	snprintf(ref.agent, sizeof(ref.agent), "127.0.0.1:%d", ms_agent_port(&env));
	ms_assert_call(c, memscan_client_agent_fingerprint(c, ref.fingerprint), MEMSCAN_OK);
	ref.set =
	    (memscan_client_vset){ 0x1122334455667788ull, fx.pid, 42, MEMSCAN_VALUE_I32, 4, 3, false, 4100 };
	assert_int_equal(memscan_client_vset_ref_save(&ref, path), MEMSCAN_OK);
	assert_true(memscan_client_vset_ref_probe(path));
	assert_int_equal(memscan_client_vset_ref_load(path, &back), MEMSCAN_OK);
	assert_memory_equal(&back.set, &ref.set, sizeof(ref.set));
	assert_string_equal(back.agent, ref.agent);
	ms_assert_call(c, memscan_client_vset_ref_check(c, &back), MEMSCAN_OK);
	back.fingerprint[10] ^= 1;
	ms_assert_call(c, memscan_client_vset_ref_check(c, &back), MEMSCAN_ERR_AUTH);

	bytes = ms_file_read(path, &len);
	bytes[30] ^= 0x40;
	ms_write_file(path, bytes, len, 0600);
	assert_int_equal(memscan_client_vset_ref_load(path, &back), MEMSCAN_ERR_BAD_FORMAT);
	ms_write_file(path, bytes, 100, 0600);
	assert_int_equal(memscan_client_vset_ref_load(path, &back), MEMSCAN_ERR_TRUNCATED);
	free(bytes);
	memscan_client_free(c);
}

static int write_auth(int with_other);

/* The exit status and the first line of output of the agent run with ARGS (its options are checked
 * before it loads a key). */
static int agent_options(const char *args, char *line, size_t len)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --listen tcp://127.0.0.1:0 %s 2>&1", MEMSCAN_AGENT_PATH, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, (int)len, p))
		line[0] = '\0';
	return WEXITSTATUS(pclose(p));
}

/* The value-set settings: bad flags refused (exit 2), the config file's keys applied, --help. */
static void test_set_options(void **state)
{
	static const char *const bad[] = { "--set-idle 0", "--set-idle 5x",   "--set-idle 31d",
		                           "--max-sets 0", "--max-sets 1025", "--set-budget 1Q" };
	memscan_filter f = arena_filter(fx.arena_len);
	const char *extra[] = { "--config", NULL, NULL };
	char line[512], conf[4300];
	memscan_client_vset a, b;
	memscan_client *c;
	ms_agent other;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(agent_options(bad[i], line, sizeof(line)), 2);
		assert_non_null(strstr(line, "bad value"));
	}
	assert_int_equal(agent_options("--help", line, sizeof(line)), 0);
	assert_int_equal(ms_agent_init(&other), 0);
	snprintf(conf, sizeof(conf), "%s/agent.conf", other.dir);
	ms_write_str(conf, "set_idle = 10m\nmax_sets = 1\nset_budget = 64M\n", 0600);
	extra[1] = conf;
	assert_int_equal(ms_agent_start(&other, extra), 0);
	c = ms_agent_client(&other, &other.full);
	ms_assert_call(c,
	               memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &a),
	               MEMSCAN_OK);
	ms_assert_call(c,
	               memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &b),
	               MEMSCAN_ERR_LIMIT);
	assert_non_null(strstr(memscan_client_last_error(c), "keeps 1 value sets"));
	memscan_client_free(c);
	assert_int_equal(ms_agent_finish(&other), 0);
}

/* A reload that removes a key drops its sets (the other key's stay). */
static void test_revoked_key_sets_dropped(void **state)
{
	memscan_filter f = arena_filter(fx.arena_len);
	memscan_client *c = ms_agent_client(&env, &env.full), *o = ms_agent_client(&env, &env.stranger);
	memscan_client_vset mine, theirs, nar;

	(void)state;
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &mine),
	    MEMSCAN_OK);
	ms_assert_call(
	    o, memscan_client_value_scan(o, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &theirs),
	    MEMSCAN_OK);
	memscan_client_free(o);
	assert_int_equal(write_auth(0), 0);
	assert_int_equal(kill(env.pid, SIGHUP), 0);
	assert_true(ms_agent_wait_err(&env, "released (its key is no longer granted scan)", 5000));
	assert_int_equal(ms_agent_err_count(&env, "released (its key"), 1);
	ms_assert_call(
	    c, memscan_client_value_narrow(c, mine.id, MEMSCAN_PRED_ANY, NULL, NULL, 0, false, NULL, &nar),
	    MEMSCAN_OK);
	ms_assert_call(c, memscan_client_value_release(c, mine.id), MEMSCAN_OK);
	memscan_client_free(c);
	assert_int_equal(write_auth(1), 0);
	assert_int_equal(kill(env.pid, SIGHUP), 0);
}

/* An agent with --set-idle 1s drops a set nobody used for that long. */
static void test_idle_expiry(void **state)
{
	static const char *const extra[] = { "--set-idle", "1s", NULL };
	memscan_filter f = arena_filter(fx.arena_len);
	ms_agent idle;
	memscan_client *c;
	memscan_client_vset set, nar;

	(void)state;
	assert_int_equal(ms_agent_init(&idle), 0);
	assert_int_equal(ms_agent_start(&idle, extra), 0);
	c = ms_agent_client(&idle, &idle.full);
	ms_assert_call(
	    c, memscan_client_value_scan(c, fx.pid, &f, MEMSCAN_VALUE_U32, "7", NULL, NULL, NULL, &set),
	    MEMSCAN_OK);
	assert_true(ms_agent_wait_err(&idle, "expired (idle", 5000));
	ms_assert_call(
	    c, memscan_client_value_narrow(c, set.id, MEMSCAN_PRED_ANY, NULL, NULL, 0, false, NULL, &nar),
	    MEMSCAN_ERR_NOT_FOUND);
	memscan_client_free(c);
	assert_int_equal(ms_agent_finish(&idle), 0);
}

/* authorized_keys of the suite: full, listonly, and (WITH_OTHER) the stranger with scan too. */
static int write_auth(int with_other)
{
	char full[128], list[128], other[128], text[512];

	keyfile_format_public(env.full.pub, full, sizeof(full));
	keyfile_format_public(env.listonly.pub, list, sizeof(list));
	keyfile_format_public(env.stranger.pub, other, sizeof(other));
	snprintf(text, sizeof(text), "perms=list,read,scan %s full\nperms=list %s listonly\n%s%s%s", full,
	         list, with_other ? "perms=scan " : "", with_other ? other : "",
	         with_other ? " other\n" : "");
	return ms_agent_write_auth_text(&env, text);
}

int main(void)
{
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	static const char *const agent_args[] = { "--set-budget", SET_BUDGET, "--max-sets", "4", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_then_narrow_across_connections),
		cmocka_unit_test(test_unknown_paged_then_changed),
		cmocka_unit_test(test_other_key_cannot_use_set),
		cmocka_unit_test(test_set_count_limit),
		cmocka_unit_test(test_set_budget_refusal),
		cmocka_unit_test(test_process_exited),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_revoked_key_sets_dropped),
		cmocka_unit_test(test_set_options),
		cmocka_unit_test(test_idle_expiry),
	};
	int fails, rc;

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	if (sodium_init() < 0 || ms_fixture_start(&fx, fixture_args) != 0 || ms_agent_init(&env) != 0 ||
	    write_auth(1) != 0 || ms_agent_start(&env, agent_args) != 0) {
		print_error("cannot start the fixture or the agent\n");
		return 1;
	}
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	rc = ms_agent_terminate(&env, 30000);
	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, env.err_path);
	ms_agent_stop(&env);
	if (!fails && rc == 0)
		ms_agent_cleanup(&env);
	ms_fixture_stop(&fx);
	return fails || rc != 0;
}
