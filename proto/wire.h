/* SPDX-License-Identifier: MIT */
/* Protobuf helpers shared by the agent and libclient: bounded unpacking, conversions to C types. */
#ifndef MEMSCAN_WIRE_H
#define MEMSCAN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <memscan/memscan.h>

#include "memscan.pb-c.h"
#include "zpage.h"

#define WIRE_PROTOCOL_VERSION 1
/* Largest payload in one reply page; replies carry at most this plus framing and headers. */
#define WIRE_MAX_PAGE_BYTES (4u << 20)
/* Largest frame the agent accepts (requests are small: the longest is a scan pattern). */
#define WIRE_AGENT_RECV_MAX (64u << 10)
/* Largest frame the client accepts. */
#define WIRE_CLIENT_RECV_MAX (WIRE_MAX_PAGE_BYTES + (256u << 10))
/* Memory protobuf-c may allocate while unpacking one message: a hostile message cannot make it
 * allocate more than this, whatever counts it announces. */
#define WIRE_UNPACK_BUDGET_AGENT  (1u << 20)
#define WIRE_UNPACK_BUDGET_CLIENT (64u << 20)

/* Unpacks authenticated plaintext with an allocator capped at BUDGET bytes; NULL on any error. */
Memscan__V1__Request *wire_unpack_request(const uint8_t *data, size_t len, size_t budget);
Memscan__V1__Response *wire_unpack_response(const uint8_t *data, size_t len, size_t budget);
void wire_free_request(Memscan__V1__Request *req);
void wire_free_response(Memscan__V1__Response *resp);

/* Why wire_unpack_zruns refused packed runs. */
enum wire_zruns_err {
	WIRE_ZRUNS_BOUND = -1,     /* raw_length 0 or over WIRE_MAX_PAGE_BYTES */
	WIRE_ZRUNS_FRAME = -2,     /* not one zstd frame decoding to exactly raw_length bytes */
	WIRE_ZRUNS_MALFORMED = -3, /* the bytes are no ChangeRunList (or one beyond the budget) */
	WIRE_ZRUNS_NO_MEMORY = -4,
};
/* A DiffPage's packed runs: FRAME (LEN bytes) must be one zstd frame that announces and decodes to
 * exactly RAW_LEN bytes, 0 < RAW_LEN <= WIRE_MAX_PAGE_BYTES (what a page may hold), and those must
 * unpack as a ChangeRunList with an allocator capped at BUDGET. 0 with the list in *RET (freed with
 * wire_free_runs; its bytes are its own), or a wire_zruns_err. The decoded bytes go to D's own buffer
 * (zpage_dec_buffer: RAW_LEN bytes at most, bounded as said, kept for the next page). */
int wire_unpack_zruns(zpage_dec *d, const uint8_t *frame, size_t len, uint64_t raw_len, size_t budget,
                      Memscan__V1__ChangeRunList **ret);
void wire_free_runs(Memscan__V1__ChangeRunList *list);

/* Packs MSG into a new malloc'd buffer; NULL on allocation failure. */
uint8_t *wire_pack(const ProtobufCMessage *msg, size_t *ret_len);

/* The protobuf ErrorCode for a memscan_err and back (unknown values map to PROTOCOL). */
Memscan__V1__ErrorCode wire_err_to_proto(int err);
int wire_err_from_proto(Memscan__V1__ErrorCode code);

/* Conversions. Outgoing messages point into the C structs (no copies): keep those alive until
 * packed. Incoming conversions validate and copy. */
void wire_region_to_proto(const memscan_region *in, Memscan__V1__Region *out);
/* 0, or MEMSCAN_ERR_PROTOCOL if IN is not a valid region (end <= start, bad kind, ...). */
int wire_region_from_proto(const Memscan__V1__Region *in, memscan_region *out);
void wire_filter_to_proto(const memscan_filter *in, int use_default, Memscan__V1__Filter *out);
/* Builds a filter from IN; PATH_SUBSTR points into IN. NULL IN gives the default filter. */
void wire_filter_from_proto(const Memscan__V1__Filter *in, memscan_filter *out);
void wire_proc_to_proto(const memscan_proc_info *in, Memscan__V1__ProcessInfo *out);

/* A region page written straight from memscan_region items, without protobuf-c: the bytes are those
 * protobuf_c_message_pack gives for the same Response{regions: RegionPage} (a test compares them),
 * at a fraction of the cost (protobuf-c computes each item's size again at every level).
 * wire_region_item_size: the bytes region R adds to a page (field tag, length and the Region).
 * wire_regions_reply_size: the whole Response with ITEMS_LEN bytes of items.
 * wire_regions_reply_put: writes it into OUT (wire_regions_reply_size bytes): the N regions of
 * LIST from FIRST on, whose item sizes add up to ITEMS_LEN; returns the bytes written. */
size_t wire_region_item_size(const memscan_region *r);
size_t wire_regions_reply_size(size_t items_len, uint64_t next_cursor, uint64_t start_time);
size_t wire_regions_reply_put(const memscan_region_list *list, size_t first, size_t n, size_t items_len,
                              uint64_t next_cursor, uint64_t start_time, uint8_t *out);
void wire_proc_from_proto(const Memscan__V1__ProcessInfo *in, memscan_proc_info *out);

#endif /* MEMSCAN_WIRE_H */
