/* SPDX-License-Identifier: MIT */
/* Fuzzes the agent's frame path without a network: HS1, DATA frames of a fresh session, requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "chan.h"
#include "fuzz_chan.h"
#include "fuzz_common.h"
#include "fuzz_proto.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Requests sealed and opened per session before a new handshake, far below CHAN_MAX_MESSAGES. */
#define SESSION_ROUNDS (1u << 20)

/* The session for round trips (both ends), renewed every SESSION_ROUNDS of them. */
static chan_session *agent_sess, *client_sess;
static unsigned rounds;
/* A fresh replayed session (fuzz_chan.h) that fuzzed DATA frames go to: a frame sealed at counter 0
 * in any such session opens in it. Renewed whenever a frame opened. */
static chan_session *open_agent, *open_client;
/* Inputs that passed the agent's checks before decryption (type, length, session id, counter), and
 * those that opened. */
static unsigned long frames_decrypted, frames_opened;

static void renew(chan_session **agent, chan_session **client)
{
	chan_session_free(*agent);
	chan_session_free(*client);
	*agent = *client = NULL;
	fuzz_chan_handshake(NULL, agent, client);
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

/* PT sealed as the first request of a fresh replayed session: a DATA frame that opens in any. */
static uint8_t *seal_first(const uint8_t *pt, size_t pt_len, size_t *ret_len)
{
	chan_session *agent = NULL, *client = NULL;
	uint8_t *frame = malloc(pt_len + CHAN_DATA_OVERHEAD);

	FUZZ_CHECK(frame != NULL);
	renew(&agent, &client);
	FUZZ_CHECK(chan_seal(client, pt, pt_len, frame, pt_len + CHAN_DATA_OVERHEAD, ret_len) == 0);
	chan_session_free(agent);
	chan_session_free(client);
	return frame;
}

/* Seeds: a valid HS1 for the fixed keys, requests as plaintext, and one sealed DATA frame (it opens
 * in the target's replayed session). */
static void write_seeds(const char *dir)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;
	Memscan__V1__ListRegions lr = MEMSCAN__V1__LIST_REGIONS__INIT;
	Memscan__V1__Scan scan = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Read rd = MEMSCAN__V1__READ__INIT;
	Memscan__V1__Diff diff = MEMSCAN__V1__DIFF__INIT;
	Memscan__V1__PointerScan ps = MEMSCAN__V1__POINTER_SCAN__INIT;
	Memscan__V1__Target target = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter filter = MEMSCAN__V1__FILTER__INIT;
	uint8_t hs1[CHAN_HS1_LEN], *pt = NULL, *frame;
	size_t pt_len = 0, frame_len = 0;

	fuzz_chan_handshake(hs1, &agent_sess, &client_sess);
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

	ps.target = &target;
	ps.address = 0x55d0c8a2b2a8;
	ps.depth = 4;
	ps.max_offset = 0x1000;
	ps.max_chains = 10000;
	ps.progress_ms = 250; /* a search answered with Progress */
	req.op_case = MEMSCAN__V1__REQUEST__OP_POINTER_SCAN;
	req.pointer_scan = &ps;
	seed_request(dir, "req_pointer_scan.bin", &req, NULL, NULL);

	frame = seal_first(pt, pt_len, &frame_len);
	fuzz_write_seed(dir, "data_hello.bin", frame, frame_len);
	free(frame);
	free(pt);
}

/* HS1 as the agent reads it; an accepted one (a seed, not a forgery) is answered with HS2. */
static void fuzz_hs1(const uint8_t *data, size_t size)
{
	uint8_t pub[NOISE_KEY_LEN], tai[CHAN_TAI64N_LEN], hs2[CHAN_HS2_LEN];
	chan_agent_hs *hs = NULL;
	chan_session *s = NULL;

	if (chan_agent_read_hs1(fuzz_agent_priv, data, size, pub, tai, &hs) != 0) {
		FUZZ_CHECK(hs == NULL);
		return;
	}
	FUZZ_CHECK(hs != NULL);
	FUZZ_CHECK(size == CHAN_HS1_LEN);
	FUZZ_CHECK(chan_agent_write_hs2(hs, FUZZ_SESSION_ID, CHAN_PERM_LIST, hs2, &s) == 0);
	FUZZ_CHECK(chan_frame_type(hs2, sizeof(hs2)) == CHAN_TYPE_HS2);
	chan_session_free(s);
	chan_agent_hs_free(hs);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A frame that opened is the one the client seals for its plaintext: nothing else opens. It opens
 * in place too, and a plaintext buffer that overlaps it otherwise is refused without moving the
 * session on. */
static void check_opened(const uint8_t *data, size_t size, const uint8_t *pt, size_t pt_len)
{
	uint8_t *again = malloc(size), *copy = malloc(size);
	size_t len = 0;

	FUZZ_CHECK(again && copy);
	FUZZ_CHECK(pt_len + CHAN_DATA_OVERHEAD == size);
	FUZZ_CHECK(chan_seal(open_client, pt, pt_len, again, size, &len) == 0);
	FUZZ_CHECK(len == size && memcmp(again, data, size) == 0);
	renew(&open_agent, &open_client);
	memcpy(copy, data, size);
	FUZZ_CHECK(
	    chan_open(open_agent, copy, size, copy + CHAN_DATA_AD_LEN, size - CHAN_DATA_AD_LEN, &len) == 0);
	FUZZ_CHECK(len == pt_len && memcmp(copy + CHAN_DATA_AD_LEN, pt, pt_len) == 0);
	renew(&open_agent, &open_client);
	memcpy(copy, data, size);
	FUZZ_CHECK(chan_open(open_agent, copy, size, copy + 1, size - 1, &len) != 0);
	FUZZ_CHECK(chan_open(open_agent, data, size, again, size, &len) == 0);
	renew(&open_agent, &open_client);
	free(again);
	free(copy);
}

/* The input as a DATA frame for a fresh replayed agent session: the seed and what the fuzzer makes
 * of it get past the checks to decryption; only an exact genuine frame opens, into a separate
 * buffer or in place. */
static void fuzz_open(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), *pt = malloc(size ? size : 1);
	size_t pt_len = 0;
	int type = chan_frame_type(data, size);

	FUZZ_CHECK(copy && pt);
	FUZZ_CHECK(type == -1 || (type >= CHAN_TYPE_HS1 && type <= CHAN_TYPE_AGENT_KEY));
	if (type == CHAN_TYPE_DATA && size >= CHAN_DATA_OVERHEAD &&
	    le64(data + CHAN_HEADER_LEN) == FUZZ_SESSION_ID && le64(data + CHAN_HEADER_LEN + 8) == 0)
		frames_decrypted++;
	if (chan_open(open_agent, data, size, pt, size, &pt_len) == 0) {
		frames_opened++;
		check_opened(data, size, pt, pt_len);
		goto out;
	}
	memcpy(copy, data, size);
	if (size >= CHAN_DATA_AD_LEN && chan_open(open_agent, copy, size, copy + CHAN_DATA_AD_LEN,
	                                          size - CHAN_DATA_AD_LEN, &pt_len) == 0) {
		fprintf(stderr, "fuzz_frames: a DATA frame opened in place but not into a separate buffer\n");
		abort();
	}
	/* a plaintext buffer overlapping the frame other than exactly in place is refused */
	if (size > CHAN_DATA_OVERHEAD)
		FUZZ_CHECK(chan_open(open_agent, copy, size, copy + 1, size - 1, &pt_len) != 0);
out:
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
	if (rounds++ >= SESSION_ROUNDS) {
		renew(&agent_sess, &client_sess);
		rounds = 0;
	}
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

static ProtobufCMessage *unpack_request(const uint8_t *data, size_t len)
{
	Memscan__V1__Request *req = wire_unpack_request(data, len, WIRE_UNPACK_BUDGET_AGENT);

	return req ? &req->base : NULL;
}

static void free_request(ProtobufCMessage *m)
{
	wire_free_request((Memscan__V1__Request *)m);
}

/* The input as a request's plaintext: bounded unpacking; what unpacks packs to a canonical form. */
static void fuzz_request(const uint8_t *data, size_t size)
{
	ProtobufCMessage *req = unpack_request(data, size);

	if (!req)
		return;
	check_request((Memscan__V1__Request *)req);
	fuzz_check_repack(req, unpack_request, free_request);
	free_request(req);
}

static void print_stats(void)
{
	fprintf(stderr, "fuzz_frames: %lu DATA frames reached decryption, %lu opened\n", frames_decrypted,
	        frames_opened);
}

/* The seed DATA frame, made again, opens: fuzzed frames start from one the agent decrypts. */
static void self_check(void)
{
	static const char text[] = "any plaintext";
	unsigned long opened = frames_opened;
	size_t len = 0;
	uint8_t *frame = seal_first((const uint8_t *)text, sizeof(text), &len);

	fuzz_open(frame, len);
	FUZZ_CHECK(frames_opened == opened + 1);
	frame[len - 1] ^= 1;
	fuzz_open(frame, len);
	FUZZ_CHECK(frames_opened == opened + 1);
	free(frame);
	frames_decrypted = frames_opened = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_chan_init();
	fuzz_seed_mode(write_seeds);
	renew(&agent_sess, &client_sess);
	renew(&open_agent, &open_client);
	self_check();
	atexit(print_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_hs1(data, size);
	fuzz_open(data, size);
	round_trip(data, size);
	fuzz_request(data, size);
	return 0;
}
