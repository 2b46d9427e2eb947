/* SPDX-License-Identifier: MIT */
/* A fake agent for hostile-agent tests: the channel's agent side on a REP socket, in a thread. */
#include "fakeagent.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "testutil.h"

void ms_fake_send(ms_fake *f, const Memscan__V1__Response *resp)
{
	size_t len = protobuf_c_message_get_packed_size(&resp->base), sealed = 0;
	nng_msg *m = NULL;
	uint8_t *body;

	if (nng_msg_alloc(&m, len + CHAN_DATA_OVERHEAD) != 0)
		abort();
	body = nng_msg_body(m);
	protobuf_c_message_pack(&resp->base, body + CHAN_DATA_AD_LEN);
	if (chan_seal(f->sess, body + CHAN_DATA_AD_LEN, len, body, nng_msg_len(m), &sealed) != 0 ||
	    nng_sendmsg(f->sock, m, 0) != 0)
		nng_msg_free(m);
}

static void fake_hello(ms_fake *f)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__HelloReply h = MEMSCAN__V1__HELLO_REPLY__INIT;
	Memscan__V1__Encoding enc[] = { MEMSCAN__V1__ENCODING__ENCODING_ZSTD };
	Memscan__V1__Feature feat[3];
	size_t n = 0;

	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.agent_version = (char *)"fake";
	h.granted_perms = CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN;
	h.max_page_bytes = f->page_bytes;
	h.encodings = enc;
	h.n_encodings = 1;
	if (f->value_sets)
		feat[n++] = MEMSCAN__V1__FEATURE__FEATURE_VALUE_SETS;
	if (f->heatmap)
		feat[n++] = MEMSCAN__V1__FEATURE__FEATURE_HEATMAP;
	if (f->progress)
		feat[n++] = MEMSCAN__V1__FEATURE__FEATURE_PROGRESS;
	h.features = feat;
	h.n_features = n;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_HELLO;
	resp.hello = &h;
	ms_fake_send(f, &resp);
}

void ms_fake_send_error(ms_fake *f, int code, const char *message)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Error e = MEMSCAN__V1__ERROR__INIT;

	e.code = code;
	e.message = (char *)message;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_ERROR;
	resp.error = &e;
	ms_fake_send(f, &resp);
}

/* PAGE listing one anonymous read-write region [START, START + LEN): REG, which *REGS points to. */
static void one_region(Memscan__V1__RegionPage *page, Memscan__V1__Region *reg, Memscan__V1__Region **regs,
                       uint64_t start, uint64_t len)
{
	reg->start = start;
	reg->end = start + len;
	reg->perms = MEMSCAN_PERM_READ | MEMSCAN_PERM_WRITE;
	reg->kind = MEMSCAN_KIND_ANON;
	reg->path = (char *)"";
	*regs = reg;
	page->regions = regs;
	page->n_regions = 1;
}

void ms_fake_send_regions(ms_fake *f, uint64_t start, uint64_t len, uint64_t start_time)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	Memscan__V1__Region reg = MEMSCAN__V1__REGION__INIT, *regs[1];

	one_region(&page, &reg, regs, start, len);
	page.start_time = start_time;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_REGIONS;
	resp.regions = &page;
	ms_fake_send(f, &resp);
}

void ms_fake_send_snapshot(ms_fake *f, uint64_t id, uint64_t total, uint64_t start, uint64_t len)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__SnapshotReply rep = MEMSCAN__V1__SNAPSHOT_REPLY__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	Memscan__V1__Region reg = MEMSCAN__V1__REGION__INIT, *regs[1];

	one_region(&page, &reg, regs, start, len);
	rep.snapshot_id = id;
	rep.total_bytes = total;
	rep.regions = &page;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT;
	resp.snapshot = &rep;
	ms_fake_send(f, &resp);
}

static void fake_data(ms_fake *f, nng_msg *m)
{
	uint8_t *frame = nng_msg_body(m);
	size_t len = nng_msg_len(m), pt_len = 0;
	Memscan__V1__Request *req;

	if (!f->sess || len < CHAN_DATA_OVERHEAD ||
	    chan_open(f->sess, frame, len, frame + CHAN_DATA_AD_LEN, len - CHAN_DATA_OVERHEAD, &pt_len) != 0)
		return;
	req = wire_unpack_request(frame + CHAN_DATA_AD_LEN, pt_len, WIRE_UNPACK_BUDGET_AGENT);
	if (req && req->op_case == MEMSCAN__V1__REQUEST__OP_HELLO)
		fake_hello(f);
	else if (req)
		f->on_request(f, req);
	wire_free_request(req);
}

static void fake_handshake(ms_fake *f, nng_msg *m)
{
	uint8_t pub[32], tai[CHAN_TAI64N_LEN], hs2[CHAN_HS2_LEN];
	uint32_t perms = CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN;
	chan_agent_hs *hs = NULL;
	nng_msg *r = NULL;

	chan_session_free(f->sess);
	f->sess = NULL;
	if (chan_agent_read_hs1(f->priv, nng_msg_body(m), nng_msg_len(m), pub, tai, &hs) == 0 &&
	    chan_agent_write_hs2(hs, 42, perms, hs2, &f->sess) == 0 && nng_msg_alloc(&r, 0) == 0 &&
	    nng_msg_append(r, hs2, sizeof(hs2)) == 0 && nng_sendmsg(f->sock, r, 0) == 0)
		r = NULL;
	atomic_fetch_add(&f->handshakes, 1);
	nng_msg_free(r);
	chan_agent_hs_free(hs);
}

static void *fake_main(void *arg)
{
	ms_fake *f = arg;

	while (!atomic_load(&f->stop)) {
		nng_msg *m = NULL;

		if (nng_recvmsg(f->sock, &m, 0) != 0)
			continue;
		if (chan_frame_type(nng_msg_body(m), nng_msg_len(m)) == CHAN_TYPE_HS1)
			fake_handshake(f, m);
		else
			fake_data(f, m);
		nng_msg_free(m);
	}
	return NULL;
}

int ms_fake_start(ms_fake *f, uint64_t page_bytes, ms_fake_fn on_request)
{
	nng_listener l;
	nng_sockaddr sa;

	memset(f, 0, sizeof(*f));
	f->page_bytes = page_bytes;
	f->on_request = on_request;
	if (sodium_init() < 0)
		return -1;
	crypto_box_keypair(f->pub, f->priv);
	crypto_box_keypair(f->client_pub, f->client_priv);
	if (nng_rep0_open(&f->sock) != 0 || nng_socket_set_ms(f->sock, NNG_OPT_RECVTIMEO, 100) != 0 ||
	    nng_listener_create(&l, f->sock, "tcp://127.0.0.1:0") != 0 || nng_listener_start(l, 0) != 0 ||
	    nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0)
		return -1;
	snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%u", ntohs(sa.s_in.sa_port));
	return pthread_create(&f->thread, NULL, fake_main, f) == 0 ? 0 : -1;
}

void ms_fake_stop(ms_fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	nng_close(f->sock);
	chan_session_free(f->sess);
	f->sess = NULL;
}

memscan_client *ms_fake_client(ms_fake *f, int compress)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_identity(c, f->client_priv), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_agent_key(c, f->pub), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_timeout_ms(c, 5000), MEMSCAN_OK);
	assert_int_equal(memscan_client_set_compression(c, compress), MEMSCAN_OK);
	if (memscan_client_connect(c, f->url) != MEMSCAN_OK)
		fail_msg("connect: %s", memscan_client_last_error(c));
	return c;
}

void ms_fake_start_pinned(ms_fake *f, ms_agent *a, ms_fake_fn on_request, char *target, size_t len)
{
	char pub[4300], hostport[64];
	ms_run r;

	assert_int_equal(ms_agent_init(a), 0);
	assert_int_equal(ms_fake_start(f, 1u << 20, on_request), 0);
	memcpy(f->priv, a->agent.priv, sizeof(f->priv));
	memcpy(f->pub, a->agent.pub, sizeof(f->pub));
	memcpy(f->client_priv, a->full.priv, sizeof(f->client_priv));
	memcpy(f->client_pub, a->full.pub, sizeof(f->client_pub));
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%s", strrchr(f->url, ':') + 1);
	snprintf(target, len, "%s:42", hostport);
	snprintf(pub, sizeof(pub), "%s.pub", a->agent.path);
	setenv("XDG_CONFIG_HOME", a->dir, 1);
	RUN(&r, "trust", hostport, pub);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
}
