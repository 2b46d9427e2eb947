/* SPDX-License-Identifier: MIT */
/* Opt-in zstd compression of read pages, end to end: libmemscan-client and a raw peer against a real
 * agent on 127.0.0.1 with real keys, reading the fixture. Its arena is periodic (compresses to almost
 * nothing) except its last RANDOM_LEN bytes, scrambled at start (no compressor shrinks them). */
#include "agentutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/client.h>
#include <sodium.h>

#include "zpage.h"

#define ARENA_PAGES "2048"     /* 8 MiB of 4 KiB pages: reads of several agent pages */
#define RANDOM_LEN  (3u << 20) /* the scrambled tail of the arena */
#define MIB         (1u << 20)

static ms_agent env;
static ms_fixture fx;
static memscan_process *local; /* the fixture, read here for the reference bytes */

static uint64_t random_start(void)
{
	return fx.arena + fx.arena_len - RANDOM_LEN;
}

/* A client of the full key, connected, with compression ON or off. */
static memscan_client *client_open(int on)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_identity_file(c, env.full.path), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_agent_key(c, env.agent.pub), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_compression(c, on), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_connect(c, env.url), MEMSCAN_OK);
	return c;
}

/* What a client received since the last call: memory bytes and page payload bytes. */
struct traffic {
	uint64_t bytes, wire;
};

static struct traffic traffic_since(const memscan_client *c, struct traffic *last)
{
	struct traffic now, d;

	memscan_client_transfer_stats(c, &now.bytes, &now.wire);
	d.bytes = now.bytes - last->bytes;
	d.wire = now.wire - last->wire;
	*last = now;
	return d;
}

/* Reads [ADDR, +LEN) through C and locally: same code, same bytes, same holes. Returns the code. */
static int compare_read(memscan_client *c, uint64_t addr, size_t len)
{
	uint8_t *remote = malloc(len), *mine = malloc(len);
	memscan_ranges rh = { 0 }, lh = { 0 };
	int rr, lr;

	assert_non_null(remote);
	assert_non_null(mine);
	rr = memscan_client_read(c, fx.pid, addr, remote, len, &rh);
	lr = memscan_read(local, addr, mine, len, &lh);
	if (rr != lr)
		fail_msg("remote read %d (%s), local %d", rr, memscan_client_last_error(c), lr);
	assert_memory_equal(remote, mine, len);
	assert_int_equal(rh.count, lh.count);
	for (size_t i = 0; i < rh.count; i++) {
		assert_int_equal(rh.items[i].start, lh.items[i].start);
		assert_int_equal(rh.items[i].end, lh.items[i].end);
	}
	memscan_ranges_release(&rh);
	memscan_ranges_release(&lh);
	free(remote);
	free(mine);
	return rr;
}

/* The same kept snapshot downloaded without and with compression: byte for byte the same, and the
 * compressed download carried far fewer bytes (only the random tail stays its size). */
static void test_fetch_compressed_identical(void **state)
{
	memscan_filter f = { .range_start = fx.arena, .range_end = fx.arena + fx.arena_len };
	memscan_client *c = client_open(0);
	memscan_snapshot *plain = NULL, *packed = NULL;
	memscan_snapshot_region a, b;
	struct traffic t = { 0 }, d;
	uint64_t id = 0;

	(void)state;
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, &f, &id, NULL, NULL), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_snapshot_fetch(c, id, &plain), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_int_equal(d.bytes, fx.arena_len);
	assert_int_equal(d.wire, fx.arena_len);

	ms_assert_call(c, memscan_client_set_compression(c, 1), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_snapshot_fetch(c, id, &packed), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_int_equal(d.bytes, fx.arena_len);
	assert_true(d.wire >= RANDOM_LEN);
	assert_true(d.wire < RANDOM_LEN + MIB / 8);
	print_message("compressed fetch: %llu bytes carried by %llu\n", (unsigned long long)d.bytes,
	              (unsigned long long)d.wire);

	assert_int_equal(memscan_snapshot_region_count(packed), 1);
	a = memscan_snapshot_get(plain, 0);
	b = memscan_snapshot_get(packed, 0);
	assert_int_equal(a.region.start, b.region.start);
	assert_int_equal(a.region.end, b.region.end);
	assert_memory_equal(a.data, b.data, fx.arena_len);
	assert_int_equal(b.holes->count, 0);
	memscan_snapshot_free(plain);
	memscan_snapshot_free(packed);
	ms_assert_call(c, memscan_client_release(c, id), MEMSCAN_OK);
	memscan_client_free(c);
}

/* A kept snapshot of every default region (the arena's compressible and random parts, the holey
 * region) saved straight into a file with compression is the file saved without. */
static void test_save_compressed_identical(void **state)
{
	memscan_client *c = client_open(0);
	char plain[512], packed[512];
	struct traffic t = { 0 }, d;
	uint64_t id = 0;
	const char *dir = ms_tmpdir();

	(void)state;
	assert_non_null(dir);
	snprintf(plain, sizeof(plain), "%s/plain.snap", dir);
	snprintf(packed, sizeof(packed), "%s/packed.snap", dir);
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, NULL, &id, NULL, NULL), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_snapshot_save(c, id, plain, NULL), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_int_equal(d.wire, d.bytes);
	ms_assert_call(c, memscan_client_set_compression(c, 1), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_snapshot_save(c, id, packed, NULL), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_true(d.wire < d.bytes - MIB); /* the arena's compressible part shrank */
	ms_assert_files_equal(plain, packed);
	ms_assert_call(c, memscan_client_release(c, id), MEMSCAN_OK);
	memscan_client_free(c);
	ms_tmpdir_remove(dir);
}

/* Live reads with compression: pipelined, odd offsets, holes, a single page; all as local reads. */
static void test_read_compressed_matches_local(void **state)
{
	memscan_client *c = client_open(1);
	size_t page = memscan_page_size();
	struct traffic t = { 0 }, d;

	(void)state;
	assert_int_equal(compare_read(c, fx.arena, fx.arena_len), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_int_equal(d.bytes, fx.arena_len);
	assert_true(d.wire < fx.arena_len / 2);
	assert_int_equal(compare_read(c, fx.arena + 7, fx.arena_len - 9), MEMSCAN_OK);
	assert_int_equal(compare_read(c, fx.marker[0], 64), MEMSCAN_OK);
	assert_int_equal(compare_read(c, fx.holey, fx.holey_len), MEMSCAN_ERR_PARTIAL);
	assert_int_equal(compare_read(c, fx.holey + page, 2 * page), MEMSCAN_ERR_UNREADABLE);
	memscan_client_free(c);
}

/* Random bytes do not shrink: the agent sends them raw, and the client takes them as they come. */
static void test_incompressible_sent_raw(void **state)
{
	memscan_client *c = client_open(1);
	struct traffic t = { 0 }, d;

	(void)state;
	assert_int_equal(compare_read(c, random_start(), RANDOM_LEN), MEMSCAN_OK);
	d = traffic_since(c, &t);
	assert_int_equal(d.bytes, RANDOM_LEN);
	assert_int_equal(d.wire, RANDOM_LEN);
	memscan_client_free(c);
}

/* More clients compressing at once than the agent has compressors (one per core): they wait for one
 * in turn, and every read is right. */
#define READERS 6

struct reader {
	memscan_client *c;
	const uint8_t *want; /* the arena, read here before */
	int ok;
};

/* No cmocka assertion in a thread: the verdict goes to r->ok. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *buf = malloc(fx.arena_len);

	r->ok = buf != NULL;
	for (uint64_t i = 0; r->ok && i < 3; i++) {
		uint64_t off = i * 4096, len = fx.arena_len - 2 * off;

		r->ok = memscan_client_read(r->c, fx.pid, fx.arena + off, buf, len, NULL) == MEMSCAN_OK &&
		        memcmp(buf, r->want + off, len) == 0;
	}
	free(buf);
	return NULL;
}

static void test_concurrent_compressed_reads(void **state)
{
	struct reader r[READERS];
	pthread_t th[READERS];
	uint8_t *want = malloc(fx.arena_len);

	(void)state;
	assert_non_null(want);
	assert_int_equal(memscan_read(local, fx.arena, want, fx.arena_len, NULL), MEMSCAN_OK);
	for (int i = 0; i < READERS; i++) {
		r[i].c = client_open(1); /* one after the other: one key, fresh handshake timestamps */
		r[i].want = want;
	}
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (!r[i].ok)
			fail_msg("reader %d: %s", i, memscan_client_last_error(r[i].c));
		memscan_client_free(r[i].c);
	}
	free(want);
}

/* One Read of [ADDR, +LEN) (at most a page) through a raw peer, ENCODING asked for. */
static Memscan__V1__ReadPage *peer_read(ms_peer *p, Memscan__V1__Response **resp, uint64_t addr, uint64_t len,
                                        Memscan__V1__Encoding encoding)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Read rd = MEMSCAN__V1__READ__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;

	t.pid = fx.pid;
	rd.target = &t;
	rd.address = addr;
	rd.length = len;
	rd.encoding = encoding;
	req.op_case = MEMSCAN__V1__REQUEST__OP_READ;
	req.read = &rd;
	*resp = ms_peer_call(p, &req);
	assert_non_null(*resp);
	assert_int_equal((*resp)->result_case, MEMSCAN__V1__RESPONSE__RESULT_READ);
	assert_int_equal((*resp)->read->next_cursor, 0);
	return (*resp)->read;
}

/* The agent says it can compress, compresses only when asked and only what shrinks, and its frame
 * decodes to the page's bytes. */
static void test_agent_compresses_when_asked(void **state)
{
	Memscan__V1__Response *resp;
	Memscan__V1__ReadPage *page;
	uint8_t *want = malloc(MIB), *got = malloc(MIB);
	zpage_dec *dec = zpage_dec_new();
	ms_peer p;

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	assert_non_null(dec);
	assert_int_equal(ms_peer_connect(&p, &env, &env.full, 5000), 0);
	resp = ms_peer_hello(&p);
	assert_non_null(resp);
	assert_int_equal(resp->hello->n_encodings, 1);
	assert_int_equal(resp->hello->encodings[0], MEMSCAN__V1__ENCODING__ENCODING_ZSTD);
	wire_free_response(resp);

	assert_int_equal(memscan_read(local, fx.arena, want, MIB, NULL), MEMSCAN_OK);
	page = peer_read(&p, &resp, fx.arena, MIB, MEMSCAN__V1__ENCODING__ENCODING_ZSTD);
	assert_int_equal(page->encoding, MEMSCAN__V1__ENCODING__ENCODING_ZSTD);
	assert_int_equal(page->raw_length, MIB);
	assert_true(page->data.len < MIB / 100);
	assert_int_equal(zpage_decompress(dec, page->data.data, page->data.len, got, MIB), 0);
	assert_memory_equal(got, want, MIB);
	wire_free_response(resp);

	page = peer_read(&p, &resp, fx.arena, MIB, MEMSCAN__V1__ENCODING__ENCODING_RAW);
	assert_int_equal(page->encoding, MEMSCAN__V1__ENCODING__ENCODING_RAW);
	assert_int_equal(page->raw_length, 0);
	assert_int_equal(page->data.len, MIB);
	assert_memory_equal(page->data.data, want, MIB);
	wire_free_response(resp);

	page = peer_read(&p, &resp, random_start(), MIB, MEMSCAN__V1__ENCODING__ENCODING_ZSTD);
	assert_int_equal(page->encoding, MEMSCAN__V1__ENCODING__ENCODING_RAW);
	assert_int_equal(page->data.len, MIB);
	wire_free_response(resp);

	ms_peer_close(&p);
	zpage_dec_free(dec);
	free(want);
	free(got);
}

/* ---- diffs ---- */

/* Diffs kept snapshot ID through C with compression ON: the diff, and what carried it. */
static memscan_diff *diff_with(memscan_client *c, uint64_t id, int update, int on, struct traffic *d)
{
	struct traffic t = { 0 };
	memscan_diff *diff = NULL;

	ms_assert_call(c, memscan_client_set_compression(c, on), MEMSCAN_OK);
	traffic_since(c, &t);
	ms_assert_call(c, memscan_client_diff(c, id, update ? MEMSCAN_DIFF_UPDATE : 0, &diff), MEMSCAN_OK);
	*d = traffic_since(c, &t);
	assert_int_equal(d->bytes, 2 * memscan_diff_changed_bytes(diff));
	return diff;
}

/* The parts memscan_client_diff_parts hands on (as --watch gets them), copied. */
struct parts {
	memscan_diff *all[64];
	size_t n;
};

static int keep_part(void *ctx, const memscan_diff *part)
{
	struct parts *ps = ctx;
	memscan_diff *copy = NULL;

	if (ps->n == sizeof(ps->all) / sizeof(ps->all[0]) || memscan_diff_new(&copy) != MEMSCAN_OK)
		return 1;
	ps->all[ps->n++] = copy;
	for (size_t i = 0; i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);

		if (memscan_diff_add_run(copy, &run) != MEMSCAN_OK)
			return 1;
	}
	return 0;
}

static void parts_free(struct parts *ps)
{
	while (ps->n)
		memscan_diff_free(ps->all[--ps->n]);
}

/* Two snapshots of the arena's compressible part, changed, diffed with and without compression (one
 * shot, then with update, then part by part as --watch does): the same runs and bytes, and the
 * compressed diffs carried far fewer. */
static void test_diff_compressed_identical(void **state)
{
	uint64_t start = fx.arena + 0x10000, len = 4 * MIB;
	memscan_filter f = { .range_start = fx.arena, .range_end = random_start() };
	memscan_client *c = client_open(0);
	memscan_diff *plain, *packed;
	struct parts pp = { 0 }, zp = { 0 };
	struct traffic dp, dz;
	uint64_t a = 0, b = 0, changed = 0;

	(void)state;
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, &f, &a, NULL, NULL), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, &f, &b, NULL, NULL), MEMSCAN_OK);
	assert_int_equal(ms_fixture_cmd(&fx, "fill %s %llx 0", ms_hex(start), (unsigned long long)len), 0);

	plain = diff_with(c, a, 0, 0, &dp);
	packed = diff_with(c, a, 0, 1, &dz);
	assert_true(memscan_diff_run_count(plain) > 1000); /* a run of 255 bytes in every 256 */
	assert_true(dp.bytes > WIRE_MAX_PAGE_BYTES);       /* several pages */
	ms_assert_diffs_equal(plain, packed);
	assert_int_equal(dp.wire, dp.bytes);
	assert_int_equal(dz.bytes, dp.bytes);
	assert_true(dz.wire < dz.bytes / 20);
	print_message("compressed diff: %llu bytes of runs carried by %llu\n", (unsigned long long)dz.bytes,
	              (unsigned long long)dz.wire);
	memscan_diff_free(plain);
	memscan_diff_free(packed);

	/* with update: A's new baseline from a plain diff, B's from a compressed one */
	plain = diff_with(c, a, 1, 0, &dp);
	packed = diff_with(c, b, 1, 1, &dz);
	ms_assert_diffs_equal(plain, packed);
	assert_true(dz.wire < dz.bytes / 20);
	memscan_diff_free(plain);
	memscan_diff_free(packed);

	/* the next comparison, part by part, against the two new baselines */
	assert_int_equal(
	    ms_fixture_cmd(&fx, "fill %s %llx 11", ms_hex(start + 4096), (unsigned long long)(len / 2)), 0);
	ms_assert_call(c, memscan_client_set_compression(c, 0), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_diff_parts(c, a, MEMSCAN_DIFF_UPDATE, keep_part, &pp), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_compression(c, 1), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_diff_parts(c, b, MEMSCAN_DIFF_UPDATE, keep_part, &zp), MEMSCAN_OK);
	assert_true(pp.n >= 2); /* pages */
	assert_int_equal(pp.n, zp.n);
	for (size_t i = 0; i < pp.n; i++) {
		ms_assert_diffs_equal(pp.all[i], zp.all[i]);
		changed += memscan_diff_changed_bytes(pp.all[i]);
	}
	assert_int_equal(changed, len / 2);
	parts_free(&pp);
	parts_free(&zp);

	/* both baselines now hold the same bytes: nothing changed since */
	packed = diff_with(c, b, 0, 1, &dz);
	assert_int_equal(memscan_diff_run_count(packed), 0);
	memscan_diff_free(packed);
	ms_assert_call(c, memscan_client_release(c, a), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_release(c, b), MEMSCAN_OK);
	memscan_client_free(c);
}

/* Random bytes changed to other random bytes: the runs do not shrink, the agent sends them plain,
 * and the diff is the same as without compression. */
static void test_diff_incompressible_sent_plain(void **state)
{
	memscan_filter f = { .range_start = random_start(), .range_end = random_start() + RANDOM_LEN };
	memscan_client *c = client_open(1);
	memscan_diff *plain, *packed;
	struct traffic dp, dz;
	uint64_t id = 0;

	(void)state;
	ms_assert_call(c, memscan_client_snapshot(c, fx.pid, &f, &id, NULL, NULL), MEMSCAN_OK);
	assert_int_equal(
	    ms_fixture_cmd(&fx, "scramble %llx %x 0dd", (unsigned long long)random_start(), RANDOM_LEN), 0);
	packed = diff_with(c, id, 0, 1, &dz);
	plain = diff_with(c, id, 0, 0, &dp);
	assert_true(dz.bytes > RANDOM_LEN); /* nearly every byte changed */
	ms_assert_diffs_equal(plain, packed);
	assert_int_equal(dz.wire, dz.bytes);
	memscan_diff_free(plain);
	memscan_diff_free(packed);
	assert_int_equal(
	    ms_fixture_cmd(&fx, "scramble %llx %x 5eed", (unsigned long long)random_start(), RANDOM_LEN), 0);
	ms_assert_call(c, memscan_client_release(c, id), MEMSCAN_OK);
	memscan_client_free(c);
}

int main(void)
{
	static const char *const fixture_args[] = { "--pages", ARENA_PAGES, NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_compressed_identical),
		cmocka_unit_test(test_save_compressed_identical),
		cmocka_unit_test(test_read_compressed_matches_local),
		cmocka_unit_test(test_incompressible_sent_raw),
		cmocka_unit_test(test_concurrent_compressed_reads),
		cmocka_unit_test(test_agent_compresses_when_asked),
		/* last: they change the arena */
		cmocka_unit_test(test_diff_compressed_identical),
		cmocka_unit_test(test_diff_incompressible_sent_plain),
	};
	int rc, fails;

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	if (sodium_init() < 0 || ms_fixture_start(&fx, fixture_args) != 0 ||
	    ms_fixture_cmd(&fx, "scramble %llx %x 5eed", (unsigned long long)random_start(), RANDOM_LEN) !=
	        0 ||
	    memscan_process_open(fx.pid, &local) != MEMSCAN_OK || ms_agent_init(&env) != 0 ||
	    ms_agent_start(&env, NULL) != 0) {
		print_error("cannot start the fixture or the agent\n");
		return 1;
	}
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	rc = ms_agent_terminate(&env, 30000);
	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, env.err_path);
	ms_agent_stop(&env);
	memscan_process_free(local);
	ms_fixture_stop(&fx);
	if (rc == 0 && fails == 0)
		ms_agent_cleanup(&env);
	return fails || rc != 0;
}
