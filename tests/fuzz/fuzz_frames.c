/* SPDX-License-Identifier: MIT */
/* Fuzzes the agent's frame path without a network: HS1, DATA frames of a live session, requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <memscan/memscan.h>

#include "chan.h"
#include "fuzz_common.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SESSION_ID    0x1122334455667788ull
#define SESSION_PERMS (CHAN_PERM_LIST | CHAN_PERM_READ | CHAN_PERM_SCAN)
/* Requests sealed and opened per session before a new handshake, far below CHAN_MAX_MESSAGES. */
#define SESSION_ROUNDS (1u << 20)

/* Fixed static keys: the agent's, and the one authorized client's. */
static uint8_t agent_priv[NOISE_KEY_LEN], agent_pub[NOISE_KEY_LEN];
static uint8_t client_priv[NOISE_KEY_LEN], client_pub[NOISE_KEY_LEN];

/* The established session, both ends, renewed every SESSION_ROUNDS round trips. */
static chan_session *agent_sess, *client_sess;
static unsigned rounds;

/* A full handshake in memory: HS1 into HS1_OUT (if not NULL), then both sessions. */
static void handshake(uint8_t *hs1_out)
{
	uint8_t hs1[CHAN_HS1_LEN], hs2[CHAN_HS2_LEN], pub[NOISE_KEY_LEN], tai[CHAN_TAI64N_LEN];
	chan_client_hs *chs = NULL;
	chan_agent_hs *ahs = NULL;

	chan_session_free(agent_sess);
	chan_session_free(client_sess);
	agent_sess = client_sess = NULL;
	FUZZ_CHECK(chan_client_start(client_priv, agent_pub, hs1, &chs) == 0);
	FUZZ_CHECK(chan_agent_read_hs1(agent_priv, hs1, sizeof(hs1), pub, tai, &ahs) == 0);
	FUZZ_CHECK(memcmp(pub, client_pub, sizeof(pub)) == 0);
	FUZZ_CHECK(chan_agent_write_hs2(ahs, SESSION_ID, SESSION_PERMS, hs2, &agent_sess) == 0);
	FUZZ_CHECK(chan_client_finish(chs, hs2, sizeof(hs2), &client_sess) == 0);
	FUZZ_CHECK(chan_session_id(client_sess) == SESSION_ID);
	FUZZ_CHECK(chan_session_perms(client_sess) == SESSION_PERMS);
	chan_client_hs_free(chs);
	chan_agent_hs_free(ahs);
	if (hs1_out)
		memcpy(hs1_out, hs1, sizeof(hs1));
	rounds = 0;
}

/* Packs REQ into a seed file NAME (the plaintext of a request). */
static void seed_request(const char *dir, const char *name, Memscan__V1__Request *req, uint8_t **ret_buf,
                         size_t *ret_len)
{
	size_t len = 0;
	uint8_t *buf = wire_pack(&req->base, &len);

	FUZZ_CHECK(buf != NULL);
	fuzz_write_seed(dir, name, buf, len);
	if (ret_buf) {
		*ret_buf = buf;
		*ret_len = len;
	} else {
		free(buf);
	}
}

/* Seeds: a valid HS1 for the fixed keys, requests as plaintext, and one sealed DATA frame (its
 * session keys are gone by the time it is fuzzed, but its layout is right). */
static void write_seeds(const char *dir)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;
	Memscan__V1__ListRegions lr = MEMSCAN__V1__LIST_REGIONS__INIT;
	Memscan__V1__Scan scan = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Read rd = MEMSCAN__V1__READ__INIT;
	Memscan__V1__Diff diff = MEMSCAN__V1__DIFF__INIT;
	Memscan__V1__Target target = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter filter = MEMSCAN__V1__FILTER__INIT;
	uint8_t hs1[CHAN_HS1_LEN], *pt = NULL, *frame;
	size_t pt_len = 0, frame_len = 0;

	handshake(hs1);
	fuzz_write_seed(dir, "hs1.bin", hs1, sizeof(hs1));

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	seed_request(dir, "req_hello.bin", &req, &pt, &pt_len);

	target.pid = 1234;
	target.start_time = 987654;
	filter.perms = MEMSCAN_PERM_READ;
	filter.kinds = MEMSCAN_KIND_HEAP | MEMSCAN_KIND_ANON;
	filter.path_substr = "libc";
	filter.range_start = 0x1000;
	filter.range_end = 0x7fff0000;
	lr.target = &target;
	lr.filter = &filter;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_REGIONS;
	req.list_regions = &lr;
	seed_request(dir, "req_list_regions.bin", &req, NULL, NULL);

	scan.target = &target;
	scan.filter = &filter;
	scan.pattern = "4D 5A ?? 0? 50 45";
	scan.align = 4;
	scan.max_results = 100;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &scan;
	seed_request(dir, "req_scan.bin", &req, NULL, NULL);

	rd.target = &target;
	rd.address = 0x7ffff7dd0000;
	rd.length = 4096;
	req.op_case = MEMSCAN__V1__REQUEST__OP_READ;
	req.read = &rd;
	seed_request(dir, "req_read.bin", &req, NULL, NULL);

	diff.snapshot_id = 7;
	diff.update = 1;
	req.op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	req.diff = &diff;
	seed_request(dir, "req_diff.bin", &req, NULL, NULL);

	frame = malloc(pt_len + CHAN_DATA_OVERHEAD);
	FUZZ_CHECK(frame != NULL);
	FUZZ_CHECK(chan_seal(client_sess, pt, pt_len, frame, pt_len + CHAN_DATA_OVERHEAD, &frame_len) == 0);
	fuzz_write_seed(dir, "data_hello.bin", frame, frame_len);
	free(frame);
	free(pt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv(FUZZ_SEED_ENV);

	FUZZ_CHECK(sodium_init() >= 0);
	for (int i = 0; i < NOISE_KEY_LEN; i++) {
		agent_priv[i] = (uint8_t)(0xA0 + i);
		client_priv[i] = (uint8_t)(0x10 + 3 * i);
	}
	FUZZ_CHECK(crypto_scalarmult_base(agent_pub, agent_priv) == 0);
	FUZZ_CHECK(crypto_scalarmult_base(client_pub, client_priv) == 0);
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	handshake(NULL);
	return 0;
}

/* HS1 as the agent reads it; an accepted one (a seed, not a forgery) is answered with HS2. */
static void fuzz_hs1(const uint8_t *data, size_t size)
{
	uint8_t pub[NOISE_KEY_LEN], tai[CHAN_TAI64N_LEN], hs2[CHAN_HS2_LEN];
	chan_agent_hs *hs = NULL;
	chan_session *s = NULL;

	if (chan_agent_read_hs1(agent_priv, data, size, pub, tai, &hs) != 0) {
		FUZZ_CHECK(hs == NULL);
		return;
	}
	FUZZ_CHECK(hs != NULL);
	FUZZ_CHECK(size == CHAN_HS1_LEN);
	FUZZ_CHECK(chan_agent_write_hs2(hs, SESSION_ID, CHAN_PERM_LIST, hs2, &s) == 0);
	FUZZ_CHECK(chan_frame_type(hs2, sizeof(hs2)) == CHAN_TYPE_HS2);
	chan_session_free(s);
	chan_agent_hs_free(hs);
}

/* The input as a DATA frame for the live agent session: nobody without the session keys can make
 * one it accepts, opened into a separate buffer or in place. */
static void fuzz_open(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), *pt = malloc(size ? size : 1);
	size_t pt_len = 0;
	int type = chan_frame_type(data, size);

	FUZZ_CHECK(copy && pt);
	FUZZ_CHECK(type == -1 || (type >= CHAN_TYPE_HS1 && type <= CHAN_TYPE_DATA));
	if (chan_open(agent_sess, data, size, pt, size, &pt_len) == 0) {
		fprintf(stderr, "fuzz_frames: a DATA frame forged without the session keys was accepted\n");
		abort();
	}
	memcpy(copy, data, size);
	if (size >= CHAN_DATA_AD_LEN && chan_open(agent_sess, copy, size, copy + CHAN_DATA_AD_LEN,
	                                          size - CHAN_DATA_AD_LEN, &pt_len) == 0) {
		fprintf(stderr, "fuzz_frames: a forged DATA frame was accepted in place\n");
		abort();
	}
	/* a plaintext buffer overlapping the frame other than exactly in place is refused */
	if (size > CHAN_DATA_OVERHEAD)
		FUZZ_CHECK(chan_open(agent_sess, copy, size, copy + 1, size - 1, &pt_len) != 0);
	free(copy);
	free(pt);
}

/* The input as a request's plaintext, sealed by the client and opened by the agent, then a reply
 * the other way (in place): both arrive intact, and the session stays in step. */
static void round_trip(const uint8_t *data, size_t size)
{
	size_t cap = size + CHAN_DATA_OVERHEAD, frame_len = 0, pt_len = 0;
	uint8_t *frame, *pt;

	if (size > WIRE_AGENT_RECV_MAX)
		return;
	if (rounds++ >= SESSION_ROUNDS)
		handshake(NULL);
	frame = malloc(cap);
	pt = malloc(size ? size : 1);
	FUZZ_CHECK(frame && pt);
	FUZZ_CHECK(chan_seal(client_sess, data, size, frame, cap, &frame_len) == 0);
	FUZZ_CHECK(frame_len == cap);
	/* the agent refuses to open the same request twice, or a tampered one */
	FUZZ_CHECK(chan_open(agent_sess, frame, frame_len, pt, size, &pt_len) == 0);
	FUZZ_CHECK(pt_len == size && memcmp(pt, data, size) == 0);
	FUZZ_CHECK(chan_open(agent_sess, frame, frame_len, pt, size, &pt_len) != 0);

	/* the reply: the same bytes, sealed in place by the agent, opened in place by the client */
	memcpy(frame + CHAN_DATA_AD_LEN, data, size);
	FUZZ_CHECK(chan_seal(agent_sess, frame + CHAN_DATA_AD_LEN, size, frame, cap, &frame_len) == 0);
	FUZZ_CHECK(chan_open(client_sess, frame, frame_len, frame + CHAN_DATA_AD_LEN, size, &pt_len) == 0);
	FUZZ_CHECK(pt_len == size && memcmp(frame + CHAN_DATA_AD_LEN, data, size) == 0);
	free(frame);
	free(pt);
}

/* What the agent does with a request before acting on it. */
static void check_request(const Memscan__V1__Request *req)
{
	memscan_pattern *pat = NULL;
	memscan_filter f;
	const Memscan__V1__Filter *pf = NULL;

	switch (req->op_case) {
	case MEMSCAN__V1__REQUEST__OP_LIST_REGIONS:
		pf = req->list_regions ? req->list_regions->filter : NULL;
		break;
	case MEMSCAN__V1__REQUEST__OP_SNAPSHOT:
		pf = req->snapshot ? req->snapshot->filter : NULL;
		break;
	case MEMSCAN__V1__REQUEST__OP_SCAN:
		FUZZ_CHECK(req->scan != NULL);
		pf = req->scan->filter;
		FUZZ_CHECK(req->scan->pattern != NULL);
		if (memscan_pattern_parse(req->scan->pattern, &pat, NULL) == MEMSCAN_OK)
			FUZZ_CHECK(memscan_pattern_length(pat) >= 1);
		memscan_pattern_free(pat);
		break;
	default:
		break;
	}
	wire_filter_from_proto(pf, &f);
	if (pf && pf->path_substr && pf->path_substr[0])
		FUZZ_CHECK(f.path_substr == pf->path_substr);
}

/* True if M or a message inside it kept unknown fields. protobuf-c reads a field number 0 written
 * as a non-minimal varint ("82 00") as an unknown field, and packs it back as "02", which it then
 * refuses: only messages without unknown fields are sure to read back. */
static int has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const char *base = (const char *)m;
	ProtobufCMessage *const *subs;
	size_t n;

	if (m->n_unknown_fields)
		return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			subs = *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
		} else {
			n = 1;
			subs = (ProtobufCMessage *const *)(const void *)(base + f->offset);
		}
		for (size_t k = 0; k < n; k++)
			if (subs[k] && has_unknown(subs[k]))
				return 1;
	}
	return 0;
}

/* The input as a request's plaintext: bounded unpacking; what unpacks packs to a canonical form. */
static void fuzz_request(const uint8_t *data, size_t size)
{
	Memscan__V1__Request *req, *again;
	uint8_t *packed, *repacked;
	size_t len = 0, len2 = 0;

	req = wire_unpack_request(data, size, WIRE_UNPACK_BUDGET_AGENT);
	if (!req)
		return;
	check_request(req);
	packed = wire_pack(&req->base, &len);
	FUZZ_CHECK(packed != NULL);
	again = wire_unpack_request(packed, len, WIRE_UNPACK_BUDGET_AGENT);
	if (!again) {
		FUZZ_CHECK(has_unknown(&req->base));
		free(packed);
		wire_free_request(req);
		return;
	}
	FUZZ_CHECK(again->op_case == req->op_case);
	repacked = wire_pack(&again->base, &len2);
	FUZZ_CHECK(repacked != NULL);
	FUZZ_CHECK(len2 == len && memcmp(packed, repacked, len) == 0);
	free(repacked);
	free(packed);
	wire_free_request(again);
	wire_free_request(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_hs1(data, size);
	fuzz_open(data, size);
	round_trip(data, size);
	fuzz_request(data, size);
	return 0;
}
