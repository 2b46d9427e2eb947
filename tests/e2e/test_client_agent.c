/* SPDX-License-Identifier: MIT */
/* End-to-end tests of libmemscan-client against a real memscan-agent serving the fixture target. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memscan/client.h>
#include <memscan/memscan.h>

#include "keyfile.h"

#define AGENT_START_MS    15000
#define CLIENT_TIMEOUT_MS 10000
#define WHOLE_RUN_LIMIT_S 110 /* ctest allows 120 */
#define THREADS           8
#define THREAD_REQUESTS   50
#define PATH_LEN          4096
#define ALL_GRANTS        (MEMSCAN_GRANT_LIST | MEMSCAN_GRANT_READ | MEMSCAN_GRANT_SCAN)

static const uint8_t marker_bytes[MS_FIXTURE_MARKER_LEN] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
	                                                     0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };

typedef struct agent_proc {
	pid_t pid;
	int out_fd;
	char url[512];
} agent_proc;

/* Shared by the tests: keys in a temporary directory, a running agent, the fixture, a client. */
typedef struct env {
	char dir[1024];
	char agent_key[PATH_LEN], client_key[PATH_LEN], auth[PATH_LEN];
	uint8_t agent_pub[KEYFILE_KEY_LEN], client_pub[KEYFILE_KEY_LEN];
	char thread_key[THREADS][PATH_LEN]; /* one authorized key per thread of test_concurrent_clients */
	agent_proc agent;
	ms_fixture fx;
	memscan_process *proc; /* local handle on the fixture, for the reference results */
	memscan_client *client;
} env;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void path_in(char *out, const char *dir, const char *name)
{
	snprintf(out, PATH_LEN, "%s/%s", dir, name);
}

/* ---- the agent process ---- */

static int read_line(int fd, char *buf, size_t size, int64_t deadline)
{
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		char c;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

static void agent_child(const env *e, int out_fd)
{
	char log[PATH_LEN];
	int log_fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	path_in(log, e->dir, "agent.log");
	log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (dup2(out_fd, STDOUT_FILENO) < 0 || log_fd < 0 || dup2(log_fd, STDERR_FILENO) < 0)
		_exit(127);
	execl(MEMSCAN_AGENT_PATH, MEMSCAN_AGENT_PATH, "--listen", "tcp://127.0.0.1:0", "--key", e->agent_key,
	      "--authorized-keys", e->auth, (char *)NULL);
	_exit(127);
}

/* Starts an agent with E's keys and waits for its "listening tcp://..." line. */
static int agent_start(const env *e, agent_proc *a)
{
	int fds[2];
	char line[512];
	int64_t deadline = now_ms() + AGENT_START_MS;

	memset(a, 0, sizeof(*a));
	a->pid = -1;
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	a->pid = fork();
	if (a->pid == 0)
		agent_child(e, fds[1]);
	close(fds[1]);
	a->out_fd = fds[0];
	if (a->pid < 0)
		return -1;
	while (read_line(a->out_fd, line, sizeof(line), deadline) == 0) {
		if (!strncmp(line, "listening tcp://", 16)) {
			snprintf(a->url, sizeof(a->url), "%s", line + 10);
			return 0;
		}
	}
	return -1;
}

static void agent_stop(agent_proc *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	a->pid = -1;
	if (a->out_fd > 0)
		close(a->out_fd);
	a->out_fd = -1;
}

/* ---- keys and clients ---- */

/* Writes an authorized_keys file granting everything to the N keys in PUBS. */
static int write_authorized(const char *path, const uint8_t (*pubs)[KEYFILE_KEY_LEN], size_t n)
{
	char key[256];
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs("# test clients\n", f) >= 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = keyfile_format_public(pubs[i], key, sizeof(key)) == 0 &&
		     fprintf(f, "perms=list,read,scan %s test-client-%zu\n", key, i) > 0;
	if (fclose(f) != 0 || !ok)
		return -1;
	return chmod(path, 0600);
}

static int make_key(const env *e, const char *name, uint8_t pub[KEYFILE_KEY_LEN])
{
	char path[PATH_LEN], err[256];

	path_in(path, e->dir, name);
	return keyfile_generate(path, name, pub, err, sizeof(err));
}

/* A client with identity KEY_PATH that pins AGENT_PUB; NULL on failure. */
static memscan_client *client_new(const char *key_path, const uint8_t agent_pub[KEYFILE_KEY_LEN])
{
	memscan_client *c = NULL;

	if (memscan_client_new(&c) != MEMSCAN_OK)
		return NULL;
	if (memscan_client_set_identity_file(c, key_path) != MEMSCAN_OK ||
	    (agent_pub && memscan_client_set_agent_key(c, agent_pub) != MEMSCAN_OK) ||
	    memscan_client_set_timeout_ms(c, CLIENT_TIMEOUT_MS) != MEMSCAN_OK) {
		memscan_client_free(c);
		return NULL;
	}
	return c;
}

/* The agent's key, the main client key and one key per thread, all authorized. */
static int make_keys(env *e)
{
	uint8_t pubs[1 + THREADS][KEYFILE_KEY_LEN];
	char name[64];

	if (make_key(e, "agent.key", e->agent_pub) || make_key(e, "client.key", e->client_pub))
		return -1;
	memcpy(pubs[0], e->client_pub, KEYFILE_KEY_LEN);
	for (int i = 0; i < THREADS; i++) {
		snprintf(name, sizeof(name), "thread%d.key", i);
		path_in(e->thread_key[i], e->dir, name);
		if (make_key(e, name, pubs[1 + i]))
			return -1;
	}
	return write_authorized(e->auth, pubs, 1 + THREADS);
}

static int env_setup(void **state)
{
	static const char *const fixture_args[] = { "--pages", "2048", NULL };
	env *e = calloc(1, sizeof(*e));
	const char *dir = ms_tmpdir();

	if (!e || !dir)
		goto fail;
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	path_in(e->agent_key, e->dir, "agent.key");
	path_in(e->client_key, e->dir, "client.key");
	path_in(e->auth, e->dir, "authorized_keys");
	e->agent.pid = e->fx.pid = -1;
	if (make_keys(e))
		goto fail;
	if (ms_fixture_start(&e->fx, fixture_args) ||
	    memscan_process_open(e->fx.pid, &e->proc) != MEMSCAN_OK || agent_start(e, &e->agent))
		goto fail;
	e->client = client_new(e->client_key, e->agent_pub);
	if (!e->client || memscan_client_connect(e->client, e->agent.url) != MEMSCAN_OK)
		goto fail;
	*state = e;
	return 0;
fail:
	if (e && e->client)
		fprintf(stderr, "setup: %s\n", memscan_client_last_error(e->client));
	*state = e;
	return -1;
}

static int env_teardown(void **state)
{
	env *e = *state;

	if (!e)
		return 0;
	memscan_client_free(e->client);
	memscan_process_free(e->proc);
	agent_stop(&e->agent);
	ms_fixture_stop(&e->fx);
	if (e->dir[0])
		ms_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

static memscan_filter arena_filter(const env *e)
{
	memscan_filter f = { 0 };

	f.range_start = e->fx.arena;
	f.range_end = e->fx.arena + e->fx.arena_len;
	return f;
}

/* ---- connection, listings ---- */

static void test_connect_perms(void **state)
{
	env *e = *state;

	assert_int_equal(memscan_client_granted_perms(e->client), ALL_GRANTS);
}

static void test_list_processes(void **state)
{
	env *e = *state;
	memscan_proc_info *list = NULL;
	size_t count = 0, i;

	ms_assert_call(e->client, memscan_client_list_processes(e->client, &list, &count), MEMSCAN_OK);
	assert_true(count > 1);
	for (i = 0; i < count && list[i].pid != e->fx.pid; i++)
		;
	assert_true(i < count);
	assert_string_equal(list[i].name, "memscan-fixture");
	assert_int_equal(list[i].ppid, (int)getpid());
	free(list);
}

static void assert_regions_equal(const memscan_region_list *a, const memscan_region_list *b)
{
	assert_int_equal(memscan_region_list_count(a), memscan_region_list_count(b));
	for (size_t i = 0; i < memscan_region_list_count(a); i++) {
		const memscan_region *x = memscan_region_list_get(a, i), *y = memscan_region_list_get(b, i);

		assert_int_equal(x->start, y->start);
		assert_int_equal(x->end, y->end);
		assert_int_equal(x->offset, y->offset);
		assert_int_equal(x->inode, y->inode);
		assert_int_equal(x->dev_major, y->dev_major);
		assert_int_equal(x->dev_minor, y->dev_minor);
		assert_int_equal(x->perms, y->perms);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->deleted, y->deleted);
		assert_string_equal(x->path, y->path);
	}
}

static void check_regions(env *e, const memscan_filter *filter)
{
	memscan_region_list *remote = NULL, *local = NULL;

	ms_assert_call(e->client, memscan_client_list_regions(e->client, e->fx.pid, filter, &remote),
	               MEMSCAN_OK);
	assert_int_equal(memscan_regions_read(e->proc, filter, &local), MEMSCAN_OK);
	assert_true(memscan_region_list_count(local) > 0);
	assert_regions_equal(remote, local);
	memscan_region_list_free(remote);
	memscan_region_list_free(local);
}

static void test_list_regions(void **state)
{
	env *e = *state;
	memscan_filter def, arena = arena_filter(e);

	memscan_filter_default(&def);
	check_regions(e, NULL);
	check_regions(e, &def);
	check_regions(e, &arena);
	assert_int_equal(memscan_client_list_regions(e->client, 0, NULL, &(memscan_region_list *){ NULL }),
	                 MEMSCAN_ERR_INVALID_ARG);
}

/* ---- reads ---- */

static void test_read_marker(void **state)
{
	env *e = *state;
	uint8_t buf[MS_FIXTURE_MARKER_LEN];

	for (int m = 0; m < 3; m++) {
		memset(buf, 0xEE, sizeof(buf));
		ms_assert_call(
		    e->client,
		    memscan_client_read(e->client, e->fx.pid, e->fx.marker[m], buf, sizeof(buf), NULL),
		    MEMSCAN_OK);
		assert_memory_equal(buf, marker_bytes, sizeof(buf));
	}
}

/* Reads LEN bytes at ADDR remotely and locally; both must agree on result, bytes and holes. */
static int compare_read(env *e, uint64_t addr, size_t len)
{
	uint8_t *remote = malloc(len), *local = malloc(len);
	memscan_ranges rh = { 0 }, lh = { 0 };
	int rr, lr;

	assert_non_null(remote);
	assert_non_null(local);
	memset(remote, 0xEE, len);
	rr = memscan_client_read(e->client, e->fx.pid, addr, remote, len, &rh);
	lr = memscan_read(e->proc, addr, local, len, &lh);
	if (rr != lr)
		fail_msg("remote read %d (%s), local %d", rr, memscan_client_last_error(e->client), lr);
	assert_memory_equal(remote, local, len);
	assert_int_equal(rh.count, lh.count);
	for (size_t i = 0; i < rh.count; i++) {
		assert_int_equal(rh.items[i].start, lh.items[i].start);
		assert_int_equal(rh.items[i].end, lh.items[i].end);
	}
	memscan_ranges_release(&rh);
	memscan_ranges_release(&lh);
	free(remote);
	free(local);
	return rr;
}

static void test_read_large_and_holes(void **state)
{
	env *e = *state;
	size_t page = memscan_page_size();

	assert_true(e->fx.arena_len > (4u << 20));
	assert_int_equal(compare_read(e, e->fx.arena, e->fx.arena_len), MEMSCAN_OK);
	assert_int_equal(compare_read(e, e->fx.arena + 7, e->fx.arena_len - 9), MEMSCAN_OK);
	assert_int_equal(compare_read(e, e->fx.holey, e->fx.holey_len), MEMSCAN_ERR_PARTIAL);
	assert_int_equal(compare_read(e, e->fx.holey + page, 2 * page), MEMSCAN_ERR_UNREADABLE);
	assert_int_equal(compare_read(e, e->fx.straddle - 100, 200), MEMSCAN_OK);
}

/* A read of several pages is pipelined (the request for the next page leaves before the reply to this
 * one is opened). When a page fails, the reply already asked for is taken too: the session stays in
 * step and keeps its snapshots, and the error is the first page's. */
static void test_read_pipelined_failure(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	memscan_snapshot *remote = NULL;
	size_t len = (size_t)9 << 20;
	uint8_t *buf = malloc(len);
	uint64_t id = 0;

	assert_non_null(buf);
	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	assert_int_equal(memscan_client_read(e->client, ms_reaped_pid(), e->fx.arena, buf, len, NULL),
	                 MEMSCAN_ERR_NO_PROCESS);
	assert_non_null(strstr(memscan_client_last_error(e->client), "process"));
	/* the same session: its kept snapshot is still there */
	ms_assert_call(e->client, memscan_client_snapshot_fetch(e->client, id, &remote), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_bytes(remote), e->fx.arena_len);
	memscan_snapshot_free(remote);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
	free(buf);
}

/* ---- scans ---- */

struct match_list {
	uint64_t addr[64];
	memscan_region region[64];
	size_t n;
	size_t stop_after; /* 0 = never stop */
};

static int collect(void *ctx, uint64_t address, const memscan_region *region)
{
	struct match_list *m = ctx;

	if (m->n < 64) {
		m->addr[m->n] = address;
		m->region[m->n] = *region;
		m->region[m->n].path = "";
	}
	m->n++;
	return m->stop_after && m->n >= m->stop_after;
}

static void compare_scan(env *e, const char *pattern, size_t expect)
{
	struct match_list remote = { 0 }, local = { 0 };
	memscan_region_list *regions = NULL;
	memscan_pattern *pat = NULL;
	memscan_filter def;
	uint64_t rn = 0, ln = 0;

	ms_assert_call(e->client,
	               memscan_client_scan(e->client, e->fx.pid, NULL, pattern, NULL, collect, &remote, &rn),
	               MEMSCAN_OK);
	memscan_filter_default(&def);
	assert_int_equal(memscan_regions_read(e->proc, &def, &regions), MEMSCAN_OK);
	assert_int_equal(memscan_pattern_parse(pattern, &pat, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_scan(e->proc, regions, pat, NULL, collect, &local, &ln), MEMSCAN_OK);
	assert_int_equal(rn, ln);
	assert_int_equal(rn, expect);
	for (size_t i = 0; i < remote.n; i++) {
		assert_int_equal(remote.addr[i], local.addr[i]);
		assert_int_equal(remote.region[i].start, local.region[i].start);
		assert_int_equal(remote.region[i].end, local.region[i].end);
		assert_int_equal(remote.region[i].perms, local.region[i].perms);
	}
	memscan_pattern_free(pat);
	memscan_region_list_free(regions);
}

static void test_scan(void **state)
{
	env *e = *state;
	struct match_list stop = { .stop_after = 1 };
	uint64_t n = 99;

	compare_scan(e, MS_FIXTURE_MARKER, 3);
	compare_scan(e, MS_FIXTURE_STRADDLE, 1);
	assert_int_equal(
	    memscan_client_scan(e->client, e->fx.pid, NULL, MS_FIXTURE_MARKER, NULL, collect, &stop, &n),
	    MEMSCAN_ERR_STOPPED);
	assert_int_equal(stop.n, 1);
	assert_int_equal(memscan_client_scan(e->client, e->fx.pid, NULL, "4D ZZ", NULL, collect, &stop, &n),
	                 MEMSCAN_ERR_BAD_PATTERN);
	/* the session is still usable after both */
	compare_scan(e, MS_FIXTURE_MARKER, 3);
}

/* ---- snapshots and diffs ---- */

static void test_snapshot_fetch(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	memscan_region_list *regions = NULL, *local_regions = NULL;
	memscan_snapshot *remote = NULL, *local = NULL;
	memscan_snapshot_region rr, lr;
	uint64_t id = 0, bytes = 0;

	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, &regions, &bytes),
	               MEMSCAN_OK);
	assert_true(id != 0);
	assert_int_equal(bytes, e->fx.arena_len);
	assert_int_equal(memscan_region_list_count(regions), 1);
	assert_int_equal(memscan_region_list_get(regions, 0)->start, e->fx.arena);
	ms_assert_call(e->client, memscan_client_snapshot_fetch(e->client, id, &remote), MEMSCAN_OK);

	assert_int_equal(memscan_regions_read(e->proc, &f, &local_regions), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(e->proc, local_regions, &local), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(remote), 1);
	assert_int_equal(memscan_snapshot_bytes(remote), memscan_snapshot_bytes(local));
	assert_int_equal(memscan_snapshot_pid(remote), e->fx.pid);
	assert_true(memscan_snapshot_time_ns(remote) > 0);
	rr = memscan_snapshot_get(remote, 0);
	lr = memscan_snapshot_get(local, 0);
	assert_int_equal(rr.region.start, lr.region.start);
	assert_int_equal(rr.region.end, lr.region.end);
	assert_memory_equal(rr.data, lr.data, e->fx.arena_len);
	assert_int_equal(rr.holes->count, 0);

	memscan_snapshot_free(remote);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
	assert_int_equal(memscan_client_snapshot_fetch(e->client, id, &remote), MEMSCAN_ERR_NOT_FOUND);
	assert_null(remote);
	memscan_snapshot_free(local);
	memscan_region_list_free(local_regions);
	memscan_region_list_free(regions);
}

static void test_snapshot_fetch_holes(void **state)
{
	env *e = *state;
	memscan_filter f = { .range_start = e->fx.holey, .range_end = e->fx.holey + e->fx.holey_len };
	memscan_snapshot *remote = NULL;
	memscan_snapshot_region sr;
	uint64_t id = 0;
	size_t page = memscan_page_size();

	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	ms_assert_call(e->client, memscan_client_snapshot_fetch(e->client, id, &remote), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_region_count(remote), 1);
	sr = memscan_snapshot_get(remote, 0);
	assert_int_equal(sr.holes->count, 1);
	assert_int_equal(sr.holes->items[0].start, e->fx.holey + page);
	assert_int_equal(sr.holes->items[0].end, e->fx.holey + e->fx.holey_len);
	assert_int_equal(sr.data[0], 0x5C);
	assert_int_equal(sr.data[page], 0);
	memscan_snapshot_free(remote);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
}

/* A download straight into a file (paged and pipelined over every default region, holes included)
 * is the very file that fetching the snapshot and saving it writes. */
static void test_snapshot_save_streams_the_same_file(void **state)
{
	env *e = *state;
	memscan_snapshot_file_info info = { 0 };
	memscan_snapshot *fetched = NULL;
	char a[1200], b[1200];
	uint64_t id = 0, bytes = 0, holes = 0;

	snprintf(a, sizeof(a), "%s/fetched.snap", e->dir);
	snprintf(b, sizeof(b), "%s/streamed.snap", e->dir);
	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, NULL, &id, NULL, &bytes),
	               MEMSCAN_OK);
	ms_assert_call(e->client, memscan_client_snapshot_fetch(e->client, id, &fetched), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_save(fetched, a), MEMSCAN_OK);
	ms_assert_call(e->client, memscan_client_snapshot_save(e->client, id, b, &info), MEMSCAN_OK);
	for (size_t i = 0; i < memscan_snapshot_region_count(fetched); i++)
		holes += memscan_ranges_bytes(memscan_snapshot_get(fetched, i).holes);
	assert_true(holes >= e->fx.holey_len - memscan_page_size()); /* the holey region's tail */
	assert_int_equal(info.regions, memscan_snapshot_region_count(fetched));
	assert_int_equal(info.bytes, bytes);
	assert_int_equal(info.hole_bytes, holes);
	assert_true(bytes > (2u << 20)); /* several agent pages: the pipelined path */
	ms_assert_files_equal(a, b);
	memscan_snapshot_free(fetched);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
	unlink(a);
	unlink(b);
}

/* A file that cannot be written: a clear error, nothing left behind, and the session goes on. */
static void test_snapshot_save_unwritable(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	memscan_region_list *regions = NULL;
	char path[1200];
	uint64_t id = 0;

	snprintf(path, sizeof(path), "%s/no-such-dir/x.snap", e->dir);
	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	assert_int_equal(memscan_client_snapshot_save(e->client, id, path, NULL), MEMSCAN_ERR_IO);
	assert_non_null(strstr(memscan_client_last_error(e->client), "no-such-dir/x.snap"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(memscan_client_snapshot_save(e->client, id, "", NULL), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_client_snapshot_save(e->client, id + 1000, path, NULL),
	                 MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(e->client, memscan_client_list_regions(e->client, e->fx.pid, &f, &regions),
	               MEMSCAN_OK);
	memscan_region_list_free(regions);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
}

static void test_diff_set_update_release(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	uint64_t id = 0, addr = e->fx.arena + 0x3000;
	uint8_t old = MS_FIXTURE_ARENA_BYTE(0x3000u), new = (uint8_t)(old ^ 0xA5);
	memscan_diff *d = NULL;
	memscan_change_run run;

	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&e->fx, "set %s %x", ms_hex(addr), new), 0);
	for (int update = 0; update < 2; update++) {
		ms_assert_call(e->client,
		               memscan_client_diff(e->client, id, update ? MEMSCAN_DIFF_UPDATE : 0, &d),
		               MEMSCAN_OK);
		assert_int_equal(memscan_diff_run_count(d), 1);
		assert_int_equal(memscan_diff_changed_bytes(d), 1);
		run = memscan_diff_run(d, 0);
		assert_int_equal(run.address, addr);
		assert_int_equal(run.length, 1);
		assert_int_equal(run.region_index, 0);
		assert_int_equal(run.old_bytes[0], old);
		assert_int_equal(run.new_bytes[0], new);
		assert_int_equal(memscan_diff_appeared(d)->count, 0);
		assert_int_equal(memscan_diff_vanished(d)->count, 0);
		memscan_diff_free(d);
	}
	ms_assert_call(e->client, memscan_client_diff(e->client, id, 0, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	memscan_diff_free(d);

	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
	assert_int_equal(memscan_client_diff(e->client, id, 0, &d), MEMSCAN_ERR_NOT_FOUND);
	assert_null(d);
	assert_int_equal(memscan_client_release(e->client, id), MEMSCAN_ERR_NOT_FOUND);
	assert_int_equal(ms_fixture_cmd(&e->fx, "set %s %x", ms_hex(addr), old), 0);
}

static memscan_snapshot *local_arena_snapshot(env *e)
{
	memscan_filter f = arena_filter(e);
	memscan_region_list *regions = NULL;
	memscan_snapshot *s = NULL;

	assert_int_equal(memscan_regions_read(e->proc, &f, &regions), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(e->proc, regions, &s), MEMSCAN_OK);
	memscan_region_list_free(regions);
	return s;
}

/* A change run longer than a reply page arrives in pieces; the client joins them. */
static void test_diff_long_run(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	uint64_t id = 0, start = e->fx.arena + 0x10000, len = e->fx.arena_len - 0x11000;
	memscan_snapshot *a, *b;
	memscan_diff *remote = NULL, *local = NULL;

	assert_true(len > (4u << 20));
	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&e->fx, "fill %s %llx 0", ms_hex(start), (unsigned long long)len), 0);
	ms_assert_call(e->client, memscan_client_diff(e->client, id, MEMSCAN_DIFF_UPDATE, &remote),
	               MEMSCAN_OK);
	memscan_diff_free(remote);
	a = local_arena_snapshot(e);
	assert_int_equal(ms_fixture_cmd(&e->fx, "fill %s %llx ff", ms_hex(start), (unsigned long long)len),
	                 0);
	ms_assert_call(e->client, memscan_client_diff(e->client, id, 0, &remote), MEMSCAN_OK);
	b = local_arena_snapshot(e);
	assert_int_equal(memscan_diff_snapshots(a, b, &local), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(remote), 1);
	assert_int_equal(memscan_diff_run(remote, 0).length, len);
	ms_assert_diffs_equal(remote, local);
	/* an updated snapshot still downloads: its regions are the same */
	memscan_snapshot *fetched = NULL;
	ms_assert_call(e->client, memscan_client_snapshot_fetch(e->client, id, &fetched), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_bytes(fetched), memscan_snapshot_bytes(a));
	assert_memory_equal(memscan_snapshot_get(fetched, 0).data, memscan_snapshot_get(a, 0).data,
	                    e->fx.arena_len);
	memscan_snapshot_free(fetched);
	memscan_diff_free(remote);
	memscan_diff_free(local);
	memscan_snapshot_free(a);
	memscan_snapshot_free(b);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
}

/* What a diff's parts add up to, checked against the whole diff WHOLE as they come. */
struct parts_seen {
	const memscan_diff *whole;
	size_t parts;
	uint64_t bytes;
	size_t stop_after; /* 0 = never stop */
};

/* True if [run, +length) lies inside one run of D with the same old and new bytes. */
static int inside_run(const memscan_diff *d, const memscan_change_run *run)
{
	for (size_t i = 0; i < memscan_diff_run_count(d); i++) {
		memscan_change_run w = memscan_diff_run(d, i);
		if (run->address >= w.address && run->address + run->length <= w.address + w.length) {
			size_t off = (size_t)(run->address - w.address);
			return memcmp(run->old_bytes, w.old_bytes + off, run->length) == 0 &&
			       memcmp(run->new_bytes, w.new_bytes + off, run->length) == 0;
		}
	}
	return 0;
}

static int on_part(void *ctx, const memscan_diff *part)
{
	struct parts_seen *ps = ctx;

	ps->parts++;
	ps->bytes += memscan_diff_changed_bytes(part);
	for (size_t i = 0; ps->whole && i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);
		assert_true(inside_run(ps->whole, &run));
	}
	return ps->stop_after && ps->parts >= ps->stop_after;
}

/* A diff larger than a page, handed over page by page: the parts are the whole diff's runs; a
 * callback that stops the diff gets STOPPED, and an update diff stopped early still leaves the whole
 * new baseline on the agent. */
static void test_diff_parts(void **state)
{
	env *e = *state;
	memscan_filter f = arena_filter(e);
	struct parts_seen ps = { 0 };
	memscan_diff *whole = NULL;
	uint64_t id = 0;

	ms_assert_call(e->client, memscan_client_snapshot(e->client, e->fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	/* the arena past its markers, as in test_diff_long_run */
	assert_int_equal(ms_fixture_cmd(&e->fx, "fill %s %llx 5a", ms_hex(e->fx.arena + 0x10000),
	                                (unsigned long long)(e->fx.arena_len - 0x11000)),
	                 0);
	ms_assert_call(e->client, memscan_client_diff(e->client, id, 0, &whole), MEMSCAN_OK);
	assert_true(memscan_diff_changed_bytes(whole) > (4u << 20));
	ps.whole = whole;
	ms_assert_call(e->client,
	               memscan_client_diff_parts(e->client, id, MEMSCAN_DIFF_REFILTER, on_part, &ps),
	               MEMSCAN_OK);
	assert_true(ps.parts >= 2);
	assert_int_equal(ps.bytes, memscan_diff_changed_bytes(whole));
	memscan_diff_free(whole);

	memset(&ps, 0, sizeof(ps));
	ps.stop_after = 1;
	assert_int_equal(memscan_client_diff_parts(e->client, id, MEMSCAN_DIFF_UPDATE, on_part, &ps),
	                 MEMSCAN_ERR_STOPPED);
	assert_int_equal(ps.parts, 1);
	ms_assert_call(e->client, memscan_client_diff(e->client, id, 0, &whole), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(whole), 0);
	memscan_diff_free(whole);
	assert_int_equal(memscan_client_diff_parts(e->client, id, 0, NULL, &ps), MEMSCAN_ERR_INVALID_ARG);
	/* a flag this library does not know is refused, not ignored */
	assert_int_equal(memscan_client_diff_parts(e->client, id, 1u << 5, on_part, &ps),
	                 MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_client_diff(e->client, id, ~0u, &whole), MEMSCAN_ERR_INVALID_ARG);
	assert_null(whole);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
}

/* ---- authentication ---- */

/*
 * Refused handshakes run in a child (this program, re-executed): nng 1.5.2 sometimes leaks the
 * dialer and pipe of a connection the peer closes right after connecting (a race inside nng, seen
 * with plain REQ sockets too), which LeakSanitizer would report at exit. The child prints what the
 * client returned and leaves without that check; everything else runs under it here.
 */
#define REFUSED_MODE "--refused-handshake"
#define ONE_KEY_MODE "--one-key-clients"

/* Child: connect to URL as IDENTITY pinning the key in PUB_PATH, then make one call. Prints
 * "CONNECT_CODE CALL_CODE ELAPSED_MS LAST_ERROR". */
static int refused_child(char **argv)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	memscan_region_list *list = NULL;
	memscan_client *c;
	int64_t t0 = now_ms();
	int r1, r2;

	if (keyfile_load_public(argv[2], pub, NULL, 0) || !(c = client_new(argv[1], pub)))
		_exit(100);
	r1 = memscan_client_connect(c, argv[0]);
	r2 = memscan_client_list_regions(c, 1, NULL, &list); /* a call handshakes again: refused again */
	printf("%d %d %lld %s\n", r1, r2, (long long)(now_ms() - t0), memscan_client_last_error(c));
	fflush(stdout);
	memscan_client_free(c);
	_exit(0);
}

/* Runs this program with ARGV (mode first, at most 6) and returns the first line it prints in LINE. */
static void run_self(const char *const *argv, char *line, size_t len)
{
	const char *args[8] = { "/proc/self/exe" };
	int fds[2], status = 0;
	pid_t pid;

	for (int i = 0; argv[i] && i < 6; i++)
		args[i + 1] = argv[i];
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(fds[1]);
	line[0] = '\0';
	(void)read_line(fds[0], line, len, now_ms() + 4 * CLIENT_TIMEOUT_MS);
	close(fds[0]);
	kill(pid, SIGKILL); /* it has answered (or is stuck): either way it is done */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Runs refused_child and parses its line into the codes, the time taken and the error text. */
static void run_refused(const env *e, const char *identity, const char *pub_path, int *ret_connect,
                        int *ret_call, int64_t *ret_ms, char *msg, size_t msg_len)
{
	const char *argv[] = { REFUSED_MODE, e->agent.url, identity, pub_path, NULL };
	char line[1024];
	long long ms = 0;
	int n = 0;

	run_self(argv, line, sizeof(line));
	if (sscanf(line, "%d %d %lld %n", ret_connect, ret_call, &ms, &n) != 3 || !n)
		fail_msg("refused-handshake child said \"%s\"", line);
	*ret_ms = ms;
	snprintf(msg, msg_len, "%s", line + n);
}

static void test_wrong_agent_key(void **state)
{
	env *e = *state;
	uint8_t other[KEYFILE_KEY_LEN];
	char pub_path[PATH_LEN], msg[1024];
	int r_connect, r_call;
	int64_t ms;

	assert_int_equal(make_key(e, "other-agent.key", other), 0);
	path_in(pub_path, e->dir, "other-agent.key.pub");
	run_refused(e, e->client_key, pub_path, &r_connect, &r_call, &ms, msg, sizeof(msg));
	assert_int_equal(r_connect, MEMSCAN_ERR_AUTH);
	assert_int_equal(r_call, MEMSCAN_ERR_AUTH);
	assert_non_null(strstr(msg, "closed the connection during the handshake"));
	assert_true(ms < CLIENT_TIMEOUT_MS);
}

static void test_unauthorized_client(void **state)
{
	env *e = *state;
	uint8_t pub[KEYFILE_KEY_LEN];
	char key[PATH_LEN], agent_pub[PATH_LEN], msg[1024];
	int r_connect, r_call;
	int64_t ms;

	assert_int_equal(make_key(e, "stranger.key", pub), 0);
	path_in(key, e->dir, "stranger.key");
	path_in(agent_pub, e->dir, "agent.key.pub");
	run_refused(e, key, agent_pub, &r_connect, &r_call, &ms, msg, sizeof(msg));
	assert_int_equal(r_connect, MEMSCAN_ERR_AUTH);
	assert_int_equal(r_call, MEMSCAN_ERR_AUTH);
	assert_non_null(strstr(msg, "not authorized"));
	assert_true(ms < CLIENT_TIMEOUT_MS);
	/* the agent still serves the authorized client */
	assert_int_equal(memscan_client_granted_perms(e->client), ALL_GRANTS);
	test_read_marker(state);
}

static void test_known_agents(void **state)
{
	env *e = *state;
	char path[PATH_LEN], err[256];
	memscan_client *c;

	path_in(path, e->dir, "known_agents");
	assert_int_equal(keyfile_trust_agent(path, "127.0.0.1:1", e->client_pub, err, sizeof(err)), 0);
	c = client_new(e->client_key, NULL);
	assert_non_null(c);
	assert_int_equal(memscan_client_set_known_agents_file(c, path), MEMSCAN_OK);
	assert_int_equal(memscan_client_connect(c, e->agent.url), MEMSCAN_ERR_AUTH); /* not listed */
	assert_int_equal(keyfile_trust_agent(path, e->agent.url + 6, e->agent_pub, err, sizeof(err)), 0);
	ms_assert_call(c, memscan_client_connect(c, e->agent.url), MEMSCAN_OK);
	assert_int_equal(memscan_client_granted_perms(c), ALL_GRANTS);
	memscan_client_free(c);
}

/* ---- failures of the connection ---- */

static void test_agent_killed(void **state)
{
	env *e = *state;
	agent_proc a;
	memscan_region_list *list = NULL;
	memscan_client *c = client_new(e->client_key, e->agent_pub);
	int64_t t0;

	assert_non_null(c);
	assert_int_equal(agent_start(e, &a), 0);
	ms_assert_call(c, memscan_client_connect(c, a.url), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_list_regions(c, e->fx.pid, NULL, &list), MEMSCAN_OK);
	memscan_region_list_free(list);
	agent_stop(&a);
	t0 = now_ms();
	assert_int_equal(memscan_client_list_regions(c, e->fx.pid, NULL, &list), MEMSCAN_ERR_CONNECT);
	assert_int_equal(memscan_client_list_regions(c, e->fx.pid, NULL, &list), MEMSCAN_ERR_CONNECT);
	assert_true(now_ms() - t0 < 5000);
	memscan_client_free(c);
}

/* Waits (up to a second) until PID is in the stopped state. */
static int wait_stopped(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 1000; i++) {
		f = fopen(path, "r");
		p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		if (f)
			fclose(f);
		if (p && p[1] == ' ' && p[2] == 'T')
			return 0;
		usleep(1000);
	}
	return -1;
}

/* A stopped agent: the call times out; the next call handshakes again on a new connection. */
static void test_timeout_then_new_session(void **state)
{
	env *e = *state;
	agent_proc a;
	memscan_region_list *list = NULL;
	memscan_client *c = client_new(e->client_key, e->agent_pub);
	int64_t t0;

	assert_non_null(c);
	assert_int_equal(agent_start(e, &a), 0);
	ms_assert_call(c, memscan_client_connect(c, a.url), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_timeout_ms(c, 300), MEMSCAN_OK);
	assert_int_equal(kill(a.pid, SIGSTOP), 0);
	assert_int_equal(wait_stopped(a.pid), 0);
	t0 = now_ms();
	assert_int_equal(memscan_client_list_regions(c, e->fx.pid, NULL, &list), MEMSCAN_ERR_TIMEOUT);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(memscan_client_last_error(c), "no answer within 300 ms")); /* time waited */
	assert_int_equal(kill(a.pid, SIGCONT), 0);
	assert_int_equal(memscan_client_set_timeout_ms(c, CLIENT_TIMEOUT_MS), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_list_regions(c, e->fx.pid, NULL, &list), MEMSCAN_OK);
	assert_true(memscan_region_list_count(list) > 0);
	memscan_region_list_free(list);
	memscan_client_free(c);
	agent_stop(&a);
}

/* Refiltering sees a region vanish; after a refiltered update the region table is unknown. */
static void test_diff_refilter(void **state)
{
	env *e = *state;
	ms_fixture fx;
	memscan_filter f;
	memscan_diff *d = NULL;
	memscan_snapshot *snap = NULL;
	uint64_t id = 0;

	assert_int_equal(ms_fixture_start(&fx, NULL), 0);
	f = (memscan_filter){ .range_start = fx.arena, .range_end = fx.arena + fx.arena_len };
	ms_assert_call(e->client, memscan_client_snapshot(e->client, fx.pid, &f, &id, NULL, NULL),
	               MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&fx, "unmap-arena"), 0);
	ms_assert_call(e->client, memscan_client_diff(e->client, id, MEMSCAN_DIFF_REFILTER, &d), MEMSCAN_OK);
	assert_int_equal(memscan_diff_run_count(d), 0);
	assert_int_equal(memscan_diff_vanished(d)->count, 1);
	assert_int_equal(memscan_diff_vanished(d)->items[0].start, fx.arena);
	assert_int_equal(memscan_diff_vanished(d)->items[0].end, fx.arena + fx.arena_len);
	memscan_diff_free(d);
	ms_assert_call(e->client,
	               memscan_client_diff(e->client, id, MEMSCAN_DIFF_UPDATE | MEMSCAN_DIFF_REFILTER, &d),
	               MEMSCAN_OK);
	memscan_diff_free(d);
	assert_int_equal(memscan_client_snapshot_fetch(e->client, id, &snap), MEMSCAN_ERR_NOT_FOUND);
	ms_assert_call(e->client, memscan_client_release(e->client, id), MEMSCAN_OK);
	ms_fixture_stop(&fx);
}

static void test_not_connected(void **state)
{
	env *e = *state;
	memscan_client *c = client_new(e->client_key, e->agent_pub);
	uint8_t b;

	assert_non_null(c);
	assert_int_equal(memscan_client_read(c, e->fx.pid, e->fx.arena, &b, 1, NULL),
	                 MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_client_connect(c, "tcp://127.0.0.1:1"), MEMSCAN_ERR_CONNECT);
	assert_int_equal(memscan_client_connect(c, "http://127.0.0.1:1"), MEMSCAN_ERR_INVALID_ARG);
	memscan_client_free(c);
}

/* A listener on 127.0.0.1 whose accept queue is full (backlog 0, one connection never accepted):
 * the kernel drops further SYNs, so a connect to it waits as for a host that drops packets. The
 * client gives up after its timeout (1 s here), says so, and can connect elsewhere afterwards.
 * Without the limit the dial waits for the kernel's SYN retries (minutes): the test would hang. */
static void test_connect_timeout(void **state)
{
	env *e = *state;
	memscan_client *c = client_new(e->client_key, e->agent_pub);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];
	time_t start;
	uint8_t b;

	assert_non_null(c);
	assert_true(lfd >= 0 && filler >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	ms_assert_call(c, memscan_client_set_timeout_ms(c, 1000), MEMSCAN_OK);
	start = time(NULL);
	assert_int_equal(memscan_client_connect(c, url), MEMSCAN_ERR_TIMEOUT);
	assert_true(time(NULL) - start < 30); /* bounds the wait, not a measurement */
	assert_non_null(strstr(memscan_client_last_error(c), "timed out after 1.0 s"));
	close(filler);
	close(lfd);
	/* the client is whole: it connects to the real agent and reads */
	ms_assert_call(c, memscan_client_connect(c, e->agent.url), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_read(c, e->fx.pid, e->fx.arena, &b, 1, NULL), MEMSCAN_OK);
	memscan_client_free(c);
}

/* ---- concurrency ---- */

struct worker {
	const char *url, *key;
	const uint8_t *agent_pub;
	int pid;
	uint64_t marker;
	memscan_client *shared; /* NULL: the worker makes its own client */
	int errors;
	char first[256];
};

static int worker_request(memscan_client *c, const struct worker *w, int i)
{
	uint8_t buf[MS_FIXTURE_MARKER_LEN];
	memscan_region_list *list = NULL;
	int r;

	if (i % 2) {
		r = memscan_client_list_regions(c, w->pid, NULL, &list);
		if (r == MEMSCAN_OK && memscan_region_list_count(list) == 0)
			r = MEMSCAN_ERR_PROTOCOL;
		memscan_region_list_free(list);
		return r;
	}
	r = memscan_client_read(c, w->pid, w->marker, buf, sizeof(buf), NULL);
	if (r == MEMSCAN_OK && memcmp(buf, marker_bytes, sizeof(buf)))
		r = MEMSCAN_ERR_PROTOCOL;
	return r;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	memscan_client *c = w->shared ? w->shared : client_new(w->key, w->agent_pub);
	int r = c ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;

	if (c && !w->shared)
		r = memscan_client_connect(c, w->url);
	for (int i = 0; i < THREAD_REQUESTS; i++) {
		if (r == MEMSCAN_OK)
			r = worker_request(c, w, i);
		if (r != MEMSCAN_OK && !w->errors++)
			snprintf(w->first, sizeof(w->first), "%s: %s", memscan_strerror(r),
			         c ? memscan_client_last_error(c) : "no client");
		r = MEMSCAN_OK;
	}
	if (!w->shared)
		memscan_client_free(c);
	return NULL;
}

/* Runs the N workers of W at once; returns their errors (and prints the first of each). */
static int run_workers(struct worker *w, int n)
{
	pthread_t t[THREADS];
	int errors = 0;

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0)
			return -1;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		if (w[i].errors)
			fprintf(stderr, "thread %d: %d errors, first: %s\n", i, w[i].errors, w[i].first);
		errors += w[i].errors;
	}
	return errors;
}

static struct worker worker_for(const env *e, int i)
{
	struct worker w = { .url = e->agent.url,
		            .key = e->thread_key[i],
		            .agent_pub = e->agent_pub,
		            .pid = e->fx.pid,
		            .marker = e->fx.marker[i % 3] };

	return w;
}

/* 8 clients with 8 keys on 8 threads, 50 requests each. */
static void test_concurrent_clients(void **state)
{
	struct worker w[THREADS];

	for (int i = 0; i < THREADS; i++)
		w[i] = worker_for(*state, i);
	assert_int_equal(run_workers(w, THREADS), 0);
}

/* Child: THREADS clients with one key (URL KEY AGENT_PUB_PATH PID MARKER); prints the error count.
 * Their simultaneous handshakes race on the agent's per-key timestamp check: the losers are refused
 * and must handshake again (hence a child, as for refused_child). */
static int one_key_child(char **argv)
{
	uint8_t pub[KEYFILE_KEY_LEN];
	struct worker w[THREADS];
	int errors;

	if (keyfile_load_public(argv[2], pub, NULL, 0))
		_exit(100);
	for (int i = 0; i < THREADS; i++)
		w[i] = (struct worker){ .url = argv[0],
			                .key = argv[1],
			                .agent_pub = pub,
			                .pid = (int)strtol(argv[3], NULL, 10),
			                .marker = strtoull(argv[4], NULL, 0) };
	errors = run_workers(w, THREADS);
	printf("%d\n", errors);
	fflush(stdout);
	_exit(0);
}

static void test_concurrent_clients_one_key(void **state)
{
	env *e = *state;
	char pub_path[PATH_LEN], pid[16], line[64] = "";
	const char *argv[] = { ONE_KEY_MODE, e->agent.url, e->client_key,
		               pub_path,     pid,          ms_hex(e->fx.marker[0]),
		               NULL };

	path_in(pub_path, e->dir, "agent.key.pub");
	snprintf(pid, sizeof(pid), "%d", (int)e->fx.pid);
	run_self(argv, line, sizeof(line));
	assert_string_equal(line, "0");
}

/* One client shared by several threads: calls are serialized on it. */
static void test_shared_client(void **state)
{
	env *e = *state;
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = worker_for(e, i);
		w[i].shared = e->client;
	}
	assert_int_equal(run_workers(w, 4), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_perms),
		cmocka_unit_test(test_list_processes),
		cmocka_unit_test(test_list_regions),
		cmocka_unit_test(test_read_marker),
		cmocka_unit_test(test_read_large_and_holes),
		cmocka_unit_test(test_read_pipelined_failure),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_snapshot_fetch),
		cmocka_unit_test(test_snapshot_fetch_holes),
		cmocka_unit_test(test_snapshot_save_streams_the_same_file),
		cmocka_unit_test(test_snapshot_save_unwritable),
		cmocka_unit_test(test_diff_set_update_release),
		cmocka_unit_test(test_diff_long_run),
		cmocka_unit_test(test_diff_parts),
		cmocka_unit_test(test_wrong_agent_key),
		cmocka_unit_test(test_unauthorized_client),
		cmocka_unit_test(test_known_agents),
		cmocka_unit_test(test_agent_killed),
		cmocka_unit_test(test_timeout_then_new_session),
		cmocka_unit_test(test_diff_refilter),
		cmocka_unit_test(test_not_connected),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_concurrent_clients_one_key),
		cmocka_unit_test(test_shared_client),
	};

	if (argc == 5 && !strcmp(argv[1], REFUSED_MODE))
		return refused_child(argv + 2);
	if (argc == 7 && !strcmp(argv[1], ONE_KEY_MODE))
		return one_key_child(argv + 2);
	alarm(WHOLE_RUN_LIMIT_S); /* a hang fails the run instead of stalling it */
	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
