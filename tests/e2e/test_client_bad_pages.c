/* SPDX-License-Identifier: MIT */
/* libmemscan-client against a hostile agent that sends bad compressed read and diff pages: a fake
 * agent (the channel's agent side on a REP socket, in a thread, over 127.0.0.1 with real keys)
 * answers Reads and Diffs with crafted pages. Every bad page must fail the call with a clear PROTOCOL error,
 * write nothing past the caller's buffer, and leave the client's session in step for the next call. */
#include "agentutil.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/client.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>
#include <zstd.h>

#include "zpage.h"

#define FAKE_PAGE (64u << 10) /* the fake agent's page: reads of several pages are pipelined */
#define BASE      0x7f0000000000ull
#define BOMB_LEN  (64u << 20)

/* What the fake agent does to the one Read it spoils (the BAD_AT-th since the test armed it). */
enum fake_mode {
	MODE_HONEST,
	MODE_FLIP,      /* one byte of the frame flipped (at FLIP_AT) */
	MODE_TRUNCATE,  /* the frame's last byte missing */
	MODE_LONGER,    /* raw_length beyond what the Read asked for */
	MODE_SHORTER,   /* raw_length one less than the frame decodes to */
	MODE_ZERO_LEN,  /* ZSTD with raw_length 0 */
	MODE_UNASKED,   /* compressed although the client did not ask */
	MODE_UNKNOWN,   /* an encoding nobody knows */
	MODE_BOMB,      /* a small frame of 64 MiB of zeros, raw_length the page's */
	MODE_TWO_FRAMES /* a frame of the first half, then one of the second */
};

/* What the fake agent does to the one diff page it spoils (the DBAD_AT-th since the test armed it). */
enum fake_dmode {
	DMODE_HONEST,
	DMODE_TRUNCATE,   /* the frame's last byte missing */
	DMODE_TWO_FRAMES, /* a frame of the packed runs' first half, then one of the second */
	DMODE_SHORTER,    /* raw_length one less than the frame decodes to */
	DMODE_LONGER,     /* raw_length one more */
	DMODE_OVER,       /* a frame of 4 MiB + 1 zeros, raw_length saying so: over the page bound */
	DMODE_CUT,        /* a frame of the packed runs cut short by a byte: no ChangeRunList */
	DMODE_MANY,       /* a frame of 4 MiB of empty runs: unpacking them would take ~200 MiB */
	DMODE_BAD_RUN,    /* packed runs, one of whose new bytes are a byte short */
	DMODE_BOTH,       /* packed runs, and the plain runs too */
	DMODE_PACKED_RAW, /* plain runs, and packed_runs set on a RAW page */
	DMODE_UNKNOWN,    /* an encoding nobody knows */
	DMODE_UNASKED     /* compressed although the client did not ask */
};

/* The fake agent's diffs: DIFF_PAGES pages of DIFF_RUNS runs of DIFF_RUN_LEN bytes, apart. */
#define DIFF_PAGES   3
#define DIFF_RUNS    64
#define DIFF_RUN_LEN 256
#define DIFF_STRIDE  512

static struct fake {
	nng_socket sock;
	pthread_t thread;
	atomic_int stop, mode, bad_at, reads, handshakes, flip_at;
	atomic_int dmode, dbad_at, dpages;
	int dzstd, dnext; /* the diff being paged: asked compressed; its next page */
	uint8_t priv[32], pub[32];
	chan_session *sess;
	zpage_enc *enc;
	uint8_t *raw, *bad; /* a page's bytes; a spoiled frame */
	uint8_t *run_bytes; /* the old and new bytes of a diff page's runs */
	char url[64];
} fk;

static uint8_t client_priv[32], client_pub[32];

/* The fake target's memory: compressible, and different at every address. */
static uint8_t mem_byte(uint64_t addr)
{
	return (uint8_t)((addr / 64) ^ (addr >> 16));
}

static void fake_send(const Memscan__V1__Response *resp)
{
	size_t len = protobuf_c_message_get_packed_size(&resp->base), sealed = 0;
	nng_msg *m = NULL;
	uint8_t *body;

	if (nng_msg_alloc(&m, len + CHAN_DATA_OVERHEAD) != 0)
		abort();
	body = nng_msg_body(m);
	protobuf_c_message_pack(&resp->base, body + CHAN_DATA_AD_LEN);
	if (chan_seal(fk.sess, body + CHAN_DATA_AD_LEN, len, body, nng_msg_len(m), &sealed) != 0 ||
	    nng_sendmsg(fk.sock, m, 0) != 0)
		nng_msg_free(m);
}

static void fake_hello(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HelloReply h = MEMSCAN__V1__HELLO_REPLY__INIT;
	Memscan__V1__Encoding enc[] = { MEMSCAN__V1__ENCODING__ENCODING_ZSTD };

	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.agent_version = (char *)"fake";
	h.granted_perms = CHAN_PERM_LIST | CHAN_PERM_READ;
	h.max_page_bytes = FAKE_PAGE;
	h.encodings = enc;
	h.n_encodings = 1;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HELLO;
	resp.hello = &h;
	fake_send(&resp);
}

/* Frames of the two halves of the page, one after the other, into fk.bad; their length. */
static size_t two_frames(size_t len)
{
	size_t half = len / 2, n = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, half, 1);

	return n + ZSTD_compress(fk.bad + n, BOMB_LEN - n, fk.raw + half, len - half, 1);
}

/* Spoils PAGE (compressed honestly if it could be) as MODE says. */
static void spoil(Memscan__V1__ReadPage *page, int mode, size_t len)
{
	if (page->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD)
		memcpy(fk.bad, page->data.data, page->data.len);
	switch (mode) {
	case MODE_FLIP:
		fk.bad[(size_t)atomic_load(&fk.flip_at) % page->data.len] ^= 0x5A;
		page->data.data = fk.bad;
		break;
	case MODE_TRUNCATE:
		page->data.data = fk.bad;
		page->data.len--;
		break;
	case MODE_LONGER:
		page->raw_length = len + 1;
		break;
	case MODE_SHORTER:
		page->raw_length = len - 1;
		break;
	case MODE_ZERO_LEN:
		page->raw_length = 0;
		break;
	case MODE_UNKNOWN:
		page->encoding = (Memscan__V1__Encoding)7;
		break;
	case MODE_BOMB:
		page->data.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.bad + BOMB_LEN, BOMB_LEN, 1);
		page->data.data = fk.bad;
		break;
	case MODE_TWO_FRAMES:
		page->data.len = two_frames(len);
		page->data.data = fk.bad;
		break;
	}
}

static void fake_read(const Memscan__V1__Read *rd)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__ReadPage page = MEMSCAN__V1__READ_PAGE__INIT;
	size_t len = rd->length < FAKE_PAGE ? (size_t)rd->length : FAKE_PAGE, zlen;
	int n = atomic_fetch_add(&fk.reads, 1),
	    mode = n == atomic_load(&fk.bad_at) ? atomic_load(&fk.mode) : 0;
	const uint8_t *z;

	for (size_t i = 0; i < len; i++)
		fk.raw[i] = mem_byte(rd->address + i);
	page.address = rd->address;
	page.data.data = fk.raw;
	page.data.len = len;
	if ((rd->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD || mode == MODE_UNASKED) &&
	    zpage_compress(fk.enc, fk.raw, len, &z, &zlen) == 0) {
		page.encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		page.raw_length = len;
		page.data.data = (uint8_t *)z;
		page.data.len = zlen;
	}
	spoil(&page, mode, len);
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_READ;
	resp.read = &page;
	fake_send(&resp);
}

/* Run J of diff page K: its address; old bytes are the memory's, new ones flip a bit. */
static uint64_t run_addr(int k, int j)
{
	return BASE + ((uint64_t)k * DIFF_RUNS + (uint64_t)j) * DIFF_STRIDE;
}

/* Fills the runs of page K. */
static void diff_runs(int k, Memscan__V1__ChangeRun *runs, Memscan__V1__ChangeRun **ptrs)
{
	uint8_t *bytes = fk.run_bytes;

	for (int j = 0; j < DIFF_RUNS; j++) {
		uint8_t *old = bytes + 2 * (size_t)j * DIFF_RUN_LEN, *new = old + DIFF_RUN_LEN;

		memscan__v1__change_run__init(&runs[j]);
		runs[j].address = run_addr(k, j);
		for (size_t i = 0; i < DIFF_RUN_LEN; i++) {
			old[i] = mem_byte(runs[j].address + i);
			new[i] = old[i] ^ 1;
		}
		runs[j].old_bytes = (ProtobufCBinaryData){ DIFF_RUN_LEN, old };
		runs[j].new_bytes = (ProtobufCBinaryData){ DIFF_RUN_LEN, new };
		ptrs[j] = &runs[j];
	}
}

/* Packs LIST into fk.raw and compresses it (frame in fk.bad) into PAGE. */
static void pack_runs(Memscan__V1__DiffPage *page, const Memscan__V1__ChangeRunList *list, size_t cut)
{
	size_t len = memscan__v1__change_run_list__pack(list, fk.raw) - cut;

	page->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	page->raw_length = len;
	page->packed_runs.data = fk.bad;
	page->packed_runs.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, len, 1);
}

/* Spoils diff page PAGE (its runs packed into fk.raw and compressed into fk.bad if so) as MODE says. */
static void dspoil(Memscan__V1__DiffPage *page, Memscan__V1__ChangeRunList *list, int mode)
{
	size_t half = page->raw_length / 2, n;

	switch (mode) {
	case DMODE_TRUNCATE:
		page->packed_runs.len--;
		break;
	case DMODE_TWO_FRAMES:
		n = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, half, 1);
		page->packed_runs.len =
		    n + ZSTD_compress(fk.bad + n, BOMB_LEN - n, fk.raw + half, page->raw_length - half, 1);
		break;
	case DMODE_SHORTER:
		page->raw_length--;
		break;
	case DMODE_LONGER:
		page->raw_length++;
		break;
	case DMODE_OVER:
		page->raw_length = WIRE_MAX_PAGE_BYTES + 1;
		page->packed_runs.len =
		    ZSTD_compress(fk.bad, BOMB_LEN, fk.bad + BOMB_LEN, page->raw_length, 1);
		break;
	case DMODE_CUT:
		pack_runs(page, list, 1);
		break;
	case DMODE_MANY:
		for (size_t i = 0; i < WIRE_MAX_PAGE_BYTES; i += 2) {
			fk.raw[i] = 0x0a; /* field 1, length-delimited: an empty ChangeRun */
			fk.raw[i + 1] = 0;
		}
		page->raw_length = WIRE_MAX_PAGE_BYTES;
		page->packed_runs.len = ZSTD_compress(fk.bad, BOMB_LEN, fk.raw, WIRE_MAX_PAGE_BYTES, 1);
		break;
	case DMODE_BAD_RUN:
		list->runs[DIFF_RUNS / 2]->new_bytes.len--;
		pack_runs(page, list, 0);
		break;
	case DMODE_BOTH:
		page->runs = list->runs;
		page->n_runs = list->n_runs;
		break;
	case DMODE_PACKED_RAW:
		page->encoding = MEMSCAN__V1__ENCODING__ENCODING_RAW;
		page->raw_length = 0;
		page->runs = list->runs;
		page->n_runs = list->n_runs;
		break;
	case DMODE_UNKNOWN:
		page->encoding = (Memscan__V1__Encoding)7;
		break;
	}
}

/* Sends the next page of the diff being paged (compressed if asked, or if spoiled as unasked). */
static void fake_diff_page(void)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__DiffPage page = MEMSCAN__V1__DIFF_PAGE__INIT;
	Memscan__V1__ChangeRunList list = MEMSCAN__V1__CHANGE_RUN_LIST__INIT;
	Memscan__V1__ChangeRun runs[DIFF_RUNS], *ptrs[DIFF_RUNS];
	int k = fk.dnext++, n = atomic_fetch_add(&fk.dpages, 1),
	    mode = n == atomic_load(&fk.dbad_at) ? atomic_load(&fk.dmode) : 0;

	diff_runs(k, runs, ptrs);
	list.runs = ptrs;
	list.n_runs = DIFF_RUNS;
	if (fk.dzstd || mode == DMODE_UNASKED || (mode != DMODE_HONEST && mode != DMODE_PACKED_RAW))
		pack_runs(&page, &list, 0);
	else {
		page.runs = ptrs;
		page.n_runs = DIFF_RUNS;
	}
	dspoil(&page, &list, mode);
	if (mode == DMODE_PACKED_RAW)
		page.packed_runs = (ProtobufCBinaryData){ 1, fk.bad };
	page.changed_bytes = (uint64_t)(k + 1) * DIFF_RUNS * DIFF_RUN_LEN;
	page.run_count = (uint64_t)(k + 1) * DIFF_RUNS;
	page.next_cursor = fk.dnext < DIFF_PAGES ? 1000u + (unsigned)fk.dnext : 0;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_DIFF;
	resp.diff = &page;
	fake_send(&resp);
}

static void fake_data(nng_msg *m)
{
	uint8_t *frame = nng_msg_body(m);
	size_t len = nng_msg_len(m), pt_len = 0;
	Memscan__V1__Request *req;

	if (!fk.sess || len < CHAN_DATA_OVERHEAD ||
	    chan_open(fk.sess, frame, len, frame + CHAN_DATA_AD_LEN, len - CHAN_DATA_OVERHEAD, &pt_len) != 0)
		return;
	req = wire_unpack_request(frame + CHAN_DATA_AD_LEN, pt_len, WIRE_UNPACK_BUDGET_AGENT);
	if (req && req->op_case == MEMSCAN__V1__REQUEST__OP_HELLO)
		fake_hello();
	else if (req && req->op_case == MEMSCAN__V1__REQUEST__OP_READ)
		fake_read(req->read);
	else if (req && req->op_case == MEMSCAN__V1__REQUEST__OP_DIFF) {
		fk.dzstd = req->diff->encoding == MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
		fk.dnext = 0;
		fake_diff_page();
	} else if (req && req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT)
		fake_diff_page();
	wire_free_request(req);
}

static void fake_handshake(nng_msg *m)
{
	uint8_t pub[32], tai[CHAN_TAI64N_LEN], hs2[CHAN_HS2_LEN];
	chan_agent_hs *hs = NULL;
	nng_msg *r = NULL;

	chan_session_free(fk.sess);
	fk.sess = NULL;
	if (chan_agent_read_hs1(fk.priv, nng_msg_body(m), nng_msg_len(m), pub, tai, &hs) == 0 &&
	    chan_agent_write_hs2(hs, 42, CHAN_PERM_LIST | CHAN_PERM_READ, hs2, &fk.sess) == 0 &&
	    nng_msg_alloc(&r, 0) == 0 && nng_msg_append(r, hs2, sizeof(hs2)) == 0 &&
	    nng_sendmsg(fk.sock, r, 0) == 0)
		r = NULL;
	atomic_fetch_add(&fk.handshakes, 1);
	nng_msg_free(r);
	chan_agent_hs_free(hs);
}

static void *fake_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&fk.stop)) {
		nng_msg *m = NULL;

		if (nng_recvmsg(fk.sock, &m, 0) != 0)
			continue;
		if (chan_frame_type(nng_msg_body(m), nng_msg_len(m)) == CHAN_TYPE_HS1)
			fake_handshake(m);
		else
			fake_data(m);
		nng_msg_free(m);
	}
	return NULL;
}

static int fake_start(void)
{
	nng_listener l;
	nng_sockaddr sa;

	crypto_box_keypair(fk.pub, fk.priv);
	crypto_box_keypair(client_pub, client_priv);
	fk.enc = zpage_enc_new(FAKE_PAGE);
	fk.raw = malloc(BOMB_LEN);
	fk.bad = malloc(2 * (size_t)BOMB_LEN); /* a frame, then (bomb) the zeros it is made from */
	fk.run_bytes = malloc(2 * DIFF_RUNS * DIFF_RUN_LEN);
	if (!fk.enc || !fk.raw || !fk.bad || !fk.run_bytes || nng_rep0_open(&fk.sock) != 0 ||
	    nng_socket_set_ms(fk.sock, NNG_OPT_RECVTIMEO, 100) != 0 ||
	    nng_listener_create(&l, fk.sock, "tcp://127.0.0.1:0") != 0 || nng_listener_start(l, 0) != 0 ||
	    nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0)
		return -1;
	memset(fk.bad + BOMB_LEN, 0, BOMB_LEN);
	snprintf(fk.url, sizeof(fk.url), "tcp://127.0.0.1:%u", ntohs(sa.s_in.sa_port));
	return pthread_create(&fk.thread, NULL, fake_main, NULL) == 0 ? 0 : -1;
}

static void fake_stop(void)
{
	atomic_store(&fk.stop, 1);
	pthread_join(fk.thread, NULL);
	nng_close(fk.sock);
	chan_session_free(fk.sess);
	zpage_enc_free(fk.enc);
	free(fk.raw);
	free(fk.bad);
	free(fk.run_bytes);
}

/* ---- the client side ---- */

static memscan_client *client_open(int compress)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_identity(c, client_priv), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_agent_key(c, fk.pub), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_timeout_ms(c, 5000), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_compression(c, compress), MEMSCAN_OK);
	if (memscan_client_connect(c, fk.url) != MEMSCAN_OK)
		fail_msg("connect: %s", memscan_client_last_error(c));
	return c;
}

/* Reads LEN bytes at ADDR into a buffer of exactly LEN (ASan guards its end); checks the bytes when
 * the read succeeds. Returns its code. */
static int read_check(memscan_client *c, uint64_t addr, size_t len)
{
	uint8_t *buf = malloc(len);
	int r;

	assert_non_null(buf);
	r = memscan_client_read(c, 1, addr, buf, len, NULL);
	for (size_t i = 0; r == MEMSCAN_OK && i < len; i++)
		if (buf[i] != mem_byte(addr + i))
			fail_msg("byte %zu of the read at 0x%llx differs", i, (unsigned long long)addr);
	free(buf);
	return r;
}

/* Spoils the BAD_AT-th Read from now as MODE; the read of LEN fails with PROTOCOL and a message
 * holding WHAT; then an honest read works in the same session (no new handshake). */
static void expect_refused(memscan_client *c, int mode, int bad_at, size_t len, const char *what)
{
	int hs = atomic_load(&fk.handshakes);

	atomic_store(&fk.reads, 0);
	atomic_store(&fk.bad_at, bad_at);
	atomic_store(&fk.mode, mode);
	assert_int_equal(read_check(c, BASE, len), MEMSCAN_ERR_PROTOCOL);
	if (!strstr(memscan_client_last_error(c), what))
		fail_msg("mode %d: '%s' does not say '%s'", mode, memscan_client_last_error(c), what);
	atomic_store(&fk.mode, MODE_HONEST);
	assert_int_equal(read_check(c, BASE + 4096, 3 * FAKE_PAGE + 5), MEMSCAN_OK);
	assert_int_equal(atomic_load(&fk.handshakes), hs);
}

static void test_honest_compressed_pages(void **state)
{
	memscan_client *c = client_open(1);
	uint64_t bytes = 0, wire = 0;

	(void)state;
	assert_int_equal(read_check(c, BASE, 100), MEMSCAN_OK);
	assert_int_equal(read_check(c, BASE + 1, 5 * FAKE_PAGE + 3), MEMSCAN_OK); /* pipelined */
	memscan_client_transfer_stats(c, &bytes, &wire);
	assert_int_equal(bytes, 100 + 5 * FAKE_PAGE + 3);
	assert_true(wire < bytes / 4);
	memscan_client_free(c);
}

static void test_bad_frames_refused(void **state)
{
	memscan_client *c = client_open(1);
	const char *decode = "does not decode";

	(void)state;
	/* a single page, and the second page of a pipelined read (the third is already asked for) */
	for (int at = 0; at < 2; at++) {
		size_t len = at ? 4 * FAKE_PAGE : FAKE_PAGE;

		expect_refused(c, MODE_TRUNCATE, at, len, decode);
		expect_refused(c, MODE_SHORTER, at, len, decode);
		expect_refused(c, MODE_BOMB, at, len, decode);
		expect_refused(c, MODE_TWO_FRAMES, at, len, decode);
		expect_refused(c, MODE_LONGER, at, len, "out of place");
		expect_refused(c, MODE_ZERO_LEN, at, len, "out of place");
		expect_refused(c, MODE_UNKNOWN, at, len, "encoding (7)");
	}
	memscan_client_free(c);
}

/* A flipped byte may still decode to the right length (the frames carry no checksum: the channel's
 * AEAD vouches for the agent's bytes), so the call may succeed with other bytes; refused or not, it
 * never writes outside the buffer and the session stays in step. */
static void test_flipped_frames_contained(void **state)
{
	memscan_client *c = client_open(1);
	uint8_t *buf = malloc(2 * FAKE_PAGE);
	int hs = atomic_load(&fk.handshakes), refused = 0;

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < 64; i++) {
		int r;

		atomic_store(&fk.reads, 0);
		atomic_store(&fk.bad_at, i % 2);
		atomic_store(&fk.flip_at, i * 37);
		atomic_store(&fk.mode, MODE_FLIP);
		r = memscan_client_read(c, 1, BASE, buf, (i % 2 + 1) * (size_t)FAKE_PAGE, NULL);
		assert_true(r == MEMSCAN_OK || r == MEMSCAN_ERR_PROTOCOL);
		refused += r == MEMSCAN_ERR_PROTOCOL;
		atomic_store(&fk.mode, MODE_HONEST);
		assert_int_equal(read_check(c, BASE + 4096, 2 * FAKE_PAGE + 5), MEMSCAN_OK);
	}
	print_message("%d of 64 flipped frames refused\n", refused);
	assert_true(refused > 0);
	assert_int_equal(atomic_load(&fk.handshakes), hs);
	free(buf);
	memscan_client_free(c);
}

static void test_compressed_page_unasked_refused(void **state)
{
	memscan_client *c = client_open(0);

	(void)state;
	expect_refused(c, MODE_UNASKED, 0, FAKE_PAGE, "did not ask for");
	expect_refused(c, MODE_UNASKED, 1, 3 * FAKE_PAGE, "did not ask for");
	memscan_client_free(c);
}

/* ---- diffs ---- */

/* Diffs through C; checks the runs when the diff succeeds (all DIFF_PAGES pages, joined nowhere).
 * Returns its code. */
static int diff_check(memscan_client *c)
{
	memscan_diff *d = NULL;
	int r = memscan_client_diff(c, 1, 0, 0, &d);

	if (r != MEMSCAN_OK)
		return r;
	assert_int_equal(memscan_diff_run_count(d), DIFF_PAGES * DIFF_RUNS);
	for (int k = 0; k < DIFF_PAGES; k++)
		for (int j = 0; j < DIFF_RUNS; j++) {
			memscan_change_run run = memscan_diff_run(d, (size_t)(k * DIFF_RUNS + j));

			assert_int_equal(run.address, run_addr(k, j));
			assert_int_equal(run.length, DIFF_RUN_LEN);
			for (size_t i = 0; i < DIFF_RUN_LEN; i++)
				if (run.old_bytes[i] != mem_byte(run.address + i) ||
				    run.new_bytes[i] != (run.old_bytes[i] ^ 1))
					fail_msg("byte %zu of run %d.%d differs", i, k, j);
		}
	memscan_diff_free(d);
	return r;
}

/* Spoils the BAD_AT-th diff page from now as MODE: the diff fails with PROTOCOL and a message
 * holding WHAT; then an honest diff works in the same session (no new handshake). */
static void expect_diff_refused(memscan_client *c, int mode, int bad_at, const char *what)
{
	int hs = atomic_load(&fk.handshakes);

	atomic_store(&fk.dpages, 0);
	atomic_store(&fk.dbad_at, bad_at);
	atomic_store(&fk.dmode, mode);
	assert_int_equal(diff_check(c), MEMSCAN_ERR_PROTOCOL);
	if (!strstr(memscan_client_last_error(c), what))
		fail_msg("mode %d: '%s' does not say '%s'", mode, memscan_client_last_error(c), what);
	atomic_store(&fk.dmode, DMODE_HONEST);
	assert_int_equal(diff_check(c), MEMSCAN_OK);
	assert_int_equal(read_check(c, BASE + 4096, FAKE_PAGE + 5), MEMSCAN_OK);
	assert_int_equal(atomic_load(&fk.handshakes), hs);
}

/* The fake agent keeps one session: one client at a time. */
static void test_honest_diff_pages(void **state)
{
	memscan_client *plain = client_open(0), *packed;
	uint64_t bytes = 0, wire = 0;

	(void)state;
	assert_int_equal(diff_check(plain), MEMSCAN_OK);
	memscan_client_transfer_stats(plain, &bytes, &wire);
	assert_int_equal(bytes, 2 * DIFF_PAGES * DIFF_RUNS * DIFF_RUN_LEN);
	assert_int_equal(wire, bytes);
	memscan_client_free(plain);
	packed = client_open(1);
	assert_int_equal(diff_check(packed), MEMSCAN_OK);
	memscan_client_transfer_stats(packed, &bytes, &wire);
	assert_int_equal(bytes, 2 * DIFF_PAGES * DIFF_RUNS * DIFF_RUN_LEN);
	assert_true(wire < bytes / 4);
	memscan_client_free(packed);
}

static void test_bad_diff_pages_refused(void **state)
{
	memscan_client *c = client_open(1);
	const char *decode = "do not decode", *unpack = "do not unpack";

	(void)state;
	/* the first page, and one after a good page (its runs already taken) */
	for (int at = 0; at < 2; at++) {
		expect_diff_refused(c, DMODE_TRUNCATE, at, decode);
		expect_diff_refused(c, DMODE_TWO_FRAMES, at, decode);
		expect_diff_refused(c, DMODE_SHORTER, at, decode);
		expect_diff_refused(c, DMODE_LONGER, at, decode);
		expect_diff_refused(c, DMODE_OVER, at, "out of bounds");
		expect_diff_refused(c, DMODE_CUT, at, unpack);
		expect_diff_refused(c, DMODE_MANY, at, unpack);
		expect_diff_refused(c, DMODE_BAD_RUN, at, "invalid change run");
		expect_diff_refused(c, DMODE_BOTH, at, "also has plain change runs");
		expect_diff_refused(c, DMODE_PACKED_RAW, at, "packed change runs in a plain");
		expect_diff_refused(c, DMODE_UNKNOWN, at, "encoding (7)");
	}
	memscan_client_free(c);
}

static void test_compressed_diff_unasked_refused(void **state)
{
	memscan_client *c = client_open(0);

	(void)state;
	expect_diff_refused(c, DMODE_UNASKED, 0, "did not ask for");
	expect_diff_refused(c, DMODE_UNASKED, 2, "did not ask for");
	expect_diff_refused(c, DMODE_PACKED_RAW, 1, "packed change runs in a plain");
	memscan_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_compressed_pages),
		cmocka_unit_test(test_bad_frames_refused),
		cmocka_unit_test(test_flipped_frames_contained),
		cmocka_unit_test(test_compressed_page_unasked_refused),
		cmocka_unit_test(test_honest_diff_pages),
		cmocka_unit_test(test_bad_diff_pages_refused),
		cmocka_unit_test(test_compressed_diff_unasked_refused),
	};
	int fails;

	alarm(110);
	if (sodium_init() < 0 || fake_start() != 0) {
		print_error("cannot start the fake agent\n");
		return 1;
	}
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	fake_stop();
	return fails != 0;
}
