/* SPDX-License-Identifier: MIT */
/* libmemscan-client against a hostile agent that sends bad compressed read pages: a fake agent (the
 * channel's agent side on a REP socket, in a thread, over 127.0.0.1 with real keys) answers Reads
 * with crafted pages. Every bad page must fail the call with a clear PROTOCOL error, write nothing
 * past the caller's buffer, and leave the client's session in step for the next call. */
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

static struct fake {
	nng_socket sock;
	pthread_t thread;
	atomic_int stop, mode, bad_at, reads, handshakes, flip_at;
	uint8_t priv[32], pub[32];
	chan_session *sess;
	zpage_enc *enc;
	uint8_t *raw, *bad; /* a page's bytes; a spoiled frame */
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
	if (!fk.enc || !fk.raw || !fk.bad || nng_rep0_open(&fk.sock) != 0 ||
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_compressed_pages),
		cmocka_unit_test(test_bad_frames_refused),
		cmocka_unit_test(test_flipped_frames_contained),
		cmocka_unit_test(test_compressed_page_unasked_refused),
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
