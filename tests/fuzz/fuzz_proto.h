/* SPDX-License-Identifier: MIT */
/* Protobuf checks shared by the fuzz targets that unpack messages: what unpacks packs to a canonical form. */
#ifndef MEMSCAN_FUZZ_PROTO_H
#define MEMSCAN_FUZZ_PROTO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "wire.h"

/* True if M or a message inside it kept unknown fields. protobuf-c reads a field number 0 written
 * as a non-minimal varint ("82 00") as an unknown field, and packs it back as "02", which it then
 * refuses: only messages without unknown fields are sure to read back. */
static inline int has_unknown(const ProtobufCMessage *m)
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

/* MSG (unpacked from fuzz input by UNPACK) packs; unless it kept unknown fields, the packed bytes
 * unpack again and pack to the very same bytes. */
static inline void fuzz_check_repack(const ProtobufCMessage *msg,
                                     ProtobufCMessage *(*unpack)(const uint8_t *data, size_t len),
                                     void (*free_msg)(ProtobufCMessage *m))
{
	ProtobufCMessage *again;
	uint8_t *packed, *repacked;
	size_t len = 0, len2 = 0;

	packed = wire_pack(msg, &len);
	FUZZ_CHECK(packed != NULL);
	again = unpack(packed, len);
	if (!again) {
		FUZZ_CHECK(has_unknown(msg));
		free(packed);
		return;
	}
	repacked = wire_pack(again, &len2);
	FUZZ_CHECK(repacked != NULL);
	FUZZ_CHECK(len2 == len && memcmp(packed, repacked, len) == 0);
	free(repacked);
	free(packed);
	free_msg(again);
}

#endif /* MEMSCAN_FUZZ_PROTO_H */
