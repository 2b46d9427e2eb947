/* SPDX-License-Identifier: MIT */
/* memscan-agent end to end: a real agent on 127.0.0.1 driven by a raw REQ socket and the channel. */
#include "agentutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Reads [ADDR, ADDR+LEN) of PID (live, or snapshot SNAP_ID), joining pages; holes counted in *HOLES. */
static uint8_t *tc_read_all(ms_peer *c, int pid, uint64_t addr, uint64_t len, uint64_t snap_id, size_t *holes,
                            int *pages)
{
	Memscan__V1__Response *resp = ms_peer_read(c, pid, 0, addr, len, snap_id);
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
		resp = next ? ms_peer_next(c, next) : NULL;
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

static ms_agent env;

static int group_setup(void **state)
{
	(void)state;
	if (ms_agent_init(&env) != 0 || ms_agent_start(&env, NULL) != 0) {
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
	rc = ms_agent_terminate(&env, 30000);
	ms_agent_stop(&env);
	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, env.err_path);
	else
		ms_agent_cleanup(&env);
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
	ms_peer c;

	(void)state;
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	assert_int_equal(chan_session_perms(c.s), CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	resp = ms_peer_hello(&c);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	assert_int_equal(resp->hello->protocol_version, WIRE_PROTOCOL_VERSION);
	assert_int_equal(resp->hello->granted_perms, CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN);
	assert_int_equal(resp->hello->max_page_bytes, WIRE_MAX_PAGE_BYTES);
	wire_free_response(resp);
	ms_peer_close(&c);
	assert_true(ms_agent_err_has(&env, "op=hello pid=0 bytes=0 result=OK"));
}

static void test_unauthorized_key(void **state)
{
	struct timespec t0, t1;
	ms_peer c;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_not_equal(ms_peer_connect(&c, &env, &env.stranger, 2000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	ms_peer_close(&c);
	assert_true(ms_agent_err_has(&env, "reason=unauthorized-key"));
	/* the agent still serves authorized clients */
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	wire_free_response(ms_peer_hello(&c));
	ms_peer_close(&c);
}

static void test_list_processes(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListProcesses lp = MEMSCAN__V1__LIST_PROCESSES__INIT;
	Memscan__V1__Response *resp;
	int found = 0;
	ms_peer c;

	(void)state;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_PROCESSES;
	req.list_processes = &lp;
	assert_int_equal(ms_peer_connect(&c, &env, &env.listonly, 5000), 0);
	resp = ms_peer_call(&c, &req);
	while (resp) {
		uint64_t next;

		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROCESSES);
		for (size_t i = 0; i < resp->processes->n_processes; i++)
			found += resp->processes->processes[i]->pid == env.pid;
		next = resp->processes->next_cursor;
		wire_free_response(resp);
		resp = next ? ms_peer_next(&c, next) : NULL;
	}
	assert_int_equal(found, 1);
	ms_peer_close(&c);
}

static void test_list_regions(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t start_time;
	ms_fixture f;
	int arena = 0;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	resp = ms_peer_list_regions(&c, f.pid, 0);
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
	resp = ms_peer_list_regions(&c, f.pid, start_time);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	wire_free_response(resp);
	ms_peer_expect_error(ms_peer_list_regions(&c, f.pid, start_time + 1), MEMSCAN_ERR_PROCESS_GONE);
	ms_peer_expect_error(ms_peer_list_regions(&c, 0, 0), MEMSCAN_ERR_INVALID_ARG);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* A process whose maps text is longer than a light listing reads (AGENT_LIGHT_MAPS_MAX): listed whole
 * by a worker, and a small one again right after, on nng's threads. */
static void test_list_regions_many(void **state)
{
	enum { PAGES = 1200 };
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *area = mmap(NULL, (size_t)page * PAGES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	Memscan__V1__Response *resp;
	size_t inside = 0;
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_true(area != MAP_FAILED);
	/* every other page another protection: one region per page */
	for (int i = 1; i < PAGES; i += 2)
		assert_int_equal(mprotect(area + (size_t)i * (size_t)page, (size_t)page, PROT_NONE), 0);
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	resp = ms_peer_list_regions(&c, getpid(), 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	for (size_t i = 0; i < resp->regions->n_regions; i++)
		inside += resp->regions->regions[i]->start >= (uintptr_t)area &&
		          resp->regions->regions[i]->end <= (uintptr_t)area + (size_t)page * PAGES;
	assert_int_equal(inside, PAGES / 2); /* the default filter keeps the readable ones */
	wire_free_response(resp);
	resp = ms_peer_list_regions(&c, f.pid, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	wire_free_response(resp);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
	munmap(area, (size_t)page * PAGES);
}

static const uint8_t marker[MS_FIXTURE_MARKER_LEN] = { 0x4D, 0x5A, 0x90, 0x00, 0x4D, 0x53, 0x43,
	                                               0x41, 0x4E, 0x2D, 0x46, 0x49, 0x58 };

static void test_read(void **state)
{
	ms_fixture f;
	size_t holes;
	uint8_t *buf;
	int pages;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
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
	ms_peer_expect_error(ms_peer_read(&c, f.pid, 0, f.arena, 0, 0), MEMSCAN_ERR_INVALID_ARG);
	ms_peer_expect_error(ms_peer_read(&c, f.pid, 0, UINT64_MAX - 4, 16, 0), MEMSCAN_ERR_INVALID_ARG);
	ms_peer_expect_error(ms_peer_read(&c, f.pid, 0, 4096, 16, 0), MEMSCAN_ERR_UNREADABLE);
	/* the agent itself is never served */
	ms_peer_expect_error(ms_peer_read(&c, env.pid, 0, f.arena, 16, 0), MEMSCAN_ERR_DENIED);
	ms_peer_close(&c);
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
	Memscan__V1__Response *resp;
	uint8_t *buf, *want;
	char line[160];
	ms_fixture f;
	size_t holes;
	int pages;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	assert_true(f.arena_len > WIRE_MAX_PAGE_BYTES);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 10000), 0);
	buf = tc_read_all(&c, f.pid, f.arena, f.arena_len, 0, &holes, &pages);
	assert_non_null(buf);
	assert_int_equal(holes, 0);
	assert_true(pages >= 2);
	want = peek_mem(f.pid, f.arena, f.arena_len);
	assert_memory_equal(buf, want, f.arena_len);
	free(want);
	free(buf);
	/* one audit line for the whole read, with the bytes of all its pages, none per page */
	snprintf(line, sizeof(line), "op=read pid=%d bytes=%llu result=OK", (int)f.pid,
	         (unsigned long long)f.arena_len);
	assert_true(ms_agent_wait_err(&env, line, 2000));
	assert_int_equal(ms_agent_err_count(&env, line), 1);

	/* a paged read left after its first page: its line when the next request drops it */
	resp = ms_peer_read(&c, f.pid, 0, f.arena, f.arena_len, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_READ);
	assert_true(resp->read->next_cursor != 0);
	snprintf(line, sizeof(line), "op=read pid=%d bytes=%zu result=CANCELLED", (int)f.pid,
	         resp->read->data.len);
	wire_free_response(resp);
	assert_int_equal(ms_agent_err_count(&env, line), 0);
	wire_free_response(ms_peer_list_regions(&c, f.pid, 0));
	assert_true(ms_agent_wait_err(&env, line, 2000));
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

static void test_scan(void **state)
{
	Memscan__V1__Response *resp;
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 10000), 0);
	resp = ms_peer_scan(&c, f.pid, MS_FIXTURE_MARKER);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SCAN);
	assert_int_equal(resp->scan->n_matches, 3);
	assert_int_equal(resp->scan->next_cursor, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(resp->scan->matches[i]->address, f.marker[i]);
		assert_int_equal(resp->scan->matches[i]->region_start, f.arena);
	}
	wire_free_response(resp);
	resp = ms_peer_scan(&c, f.pid, "4D 5Z");
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, MEMSCAN_ERR_BAD_PATTERN);
	assert_non_null(strstr(resp->error->message, "offset 4"));
	wire_free_response(resp);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* Diffs and checks there is exactly one one-byte run at ADDR from OLD to NEW (or none if ADDR is 0). */
static void check_diff(ms_peer *c, uint64_t id, int update, uint64_t addr, uint8_t old, uint8_t new)
{
	Memscan__V1__Response *resp = ms_peer_diff(c, id, update, 0);

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
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 10000), 0);
	resp = ms_peer_snapshot(&c, f.pid, f.arena, f.arena + f.arena_len);
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
	ms_peer_expect_error(ms_peer_read(&c, 0, 0, f.arena + f.arena_len - 2, 4, id), MEMSCAN_ERR_NOT_FOUND);

	resp = ms_peer_release(&c, id);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_RELEASE);
	wire_free_response(resp);
	ms_peer_expect_error(ms_peer_diff(&c, id, 0, 0), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_expect_error(ms_peer_release(&c, id), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* A fixture with an 8 MiB arena of zeros, a kept snapshot of it (returned), then every byte set to ff:
 * a diff bigger than a page. */
static uint64_t start_whole_change(ms_fixture *f, ms_peer *c)
{
	const char *args[] = { "--pages", "2048", NULL };
	Memscan__V1__Response *resp;
	uint64_t id;

	assert_int_equal(ms_fixture_start(f, args), 0);
	assert_int_equal(
	    ms_fixture_cmd(f, "fill %s %llx 0", ms_hex(f->arena), (unsigned long long)f->arena_len), 0);
	assert_int_equal(ms_peer_connect(c, &env, &env.full, 10000), 0);
	resp = ms_peer_snapshot(c, f->pid, f->arena, f->arena + f->arena_len);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	id = resp->snapshot->snapshot_id;
	wire_free_response(resp);
	assert_int_equal(
	    ms_fixture_cmd(f, "fill %s %llx ff", ms_hex(f->arena), (unsigned long long)f->arena_len), 0);
	return id;
}

/* A change run larger than a page comes in pieces split at page boundaries; joined, they are the run.
 * The diff is streamed: each page counts what was found so far, the last one the totals. */
static void test_diff_paged(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t id, at, next, found = 0;
	int pages = 0;
	ms_fixture f;
	ms_peer c;

	(void)state;
	id = start_whole_change(&f, &c);
	resp = ms_peer_diff(&c, id, 0, 1);
	for (at = f.arena; resp; pages++) {
		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
		assert_int_equal(resp->diff->run_count, 1);
		assert_true(resp->diff->changed_bytes >= found && resp->diff->changed_bytes <= f.arena_len);
		found = resp->diff->changed_bytes;
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
		resp = next ? ms_peer_next(&c, next) : NULL;
	}
	assert_int_equal(at, f.arena + f.arena_len);
	assert_int_equal(found, f.arena_len);
	assert_true(pages >= 4);
	wire_free_response(ms_peer_release(&c, id));
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* An update diff abandoned after its first page (the client sent another request instead of Next):
 * the agent reads the rest into the baseline, so the baseline is one whole read, not half old. */
static void test_diff_abandoned_update(void **state)
{
	Memscan__V1__Response *resp;
	uint64_t id;
	uint8_t *buf;
	size_t holes = 0;
	int pages = 0;
	ms_fixture f;
	ms_peer c;

	(void)state;
	id = start_whole_change(&f, &c);
	resp = ms_peer_diff(&c, id, 1, 0);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
	assert_true(resp->diff->next_cursor != 0);
	assert_true(resp->diff->changed_bytes < f.arena_len);
	wire_free_response(resp);
	/* a new diff drops the old one's pages: nothing changed since the (finished) update */
	resp = ms_peer_diff(&c, id, 0, 0);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
	assert_int_equal(resp->diff->n_runs, 0);
	assert_int_equal(resp->diff->next_cursor, 0);
	wire_free_response(resp);
	buf = tc_read_all(&c, 0, f.arena + f.arena_len - 4096, 4096, id, &holes, &pages);
	assert_non_null(buf);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0xff);
	assert_int_equal(holes, 0);
	free(buf);
	wire_free_response(ms_peer_release(&c, id));
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

static void test_denied(void **state)
{
	char line[128];
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.listonly, 5000), 0);
	assert_int_equal(chan_session_perms(c.s), CHAN_PERM_LIST);
	ms_peer_expect_error(ms_peer_read(&c, f.pid, 0, f.arena, 16, 0), MEMSCAN_ERR_DENIED);
	ms_peer_expect_error(ms_peer_scan(&c, f.pid, "4D 5A"), MEMSCAN_ERR_DENIED);
	ms_peer_expect_error(ms_peer_snapshot(&c, f.pid, f.arena, f.arena + f.arena_len), MEMSCAN_ERR_DENIED);
	ms_peer_expect_error(ms_peer_next(&c, 12345), MEMSCAN_ERR_NOT_FOUND);
	/* what it is granted still works */
	wire_free_response(ms_peer_list_regions(&c, f.pid, 0));
	ms_peer_close(&c);
	/* a denial names the process it was asked for */
	snprintf(line, sizeof(line), "op=read pid=%d bytes=0 result=DENIED", (int)f.pid);
	assert_true(ms_agent_err_has(&env, line));
	snprintf(line, sizeof(line), "op=scan pid=%d bytes=0 result=DENIED", (int)f.pid);
	assert_true(ms_agent_err_has(&env, line));
	ms_fixture_stop(&f);
}

static void test_unknown_op_and_garbage(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
	Memscan__V1__Response *resp;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	ms_peer_expect_error(ms_peer_call(&c, &req), MEMSCAN_ERR_UNKNOWN_OP);
	ms_peer_expect_error(ms_peer_call_pt(&c, garbage, sizeof(garbage)), MEMSCAN_ERR_PROTOCOL);
	/* the same session goes on */
	resp = ms_peer_hello(&c);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HELLO);
	wire_free_response(resp);
	ms_peer_close(&c);
}

/* Sessions come and go (with a snapshot left behind): the agent frees them and keeps serving. */
static void test_session_churn(void **state)
{
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
		if (i % 10 == 0)
			wire_free_response(ms_peer_snapshot(&c, f.pid, f.arena, f.arena + f.arena_len));
		else
			wire_free_response(ms_peer_hello(&c));
		ms_peer_close(&c);
	}
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	wire_free_response(ms_peer_hello(&c));
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_banner),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_unauthorized_key),
		cmocka_unit_test(test_list_processes),
		cmocka_unit_test(test_list_regions),
		cmocka_unit_test(test_list_regions_many),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_read_paged),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_snapshot_diff),
		cmocka_unit_test(test_diff_paged),
		cmocka_unit_test(test_diff_abandoned_update),
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_unknown_op_and_garbage),
		cmocka_unit_test(test_session_churn),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
