/* SPDX-License-Identifier: MIT */
/* Protobuf helpers shared by the agent and libclient. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* protobuf-c allocates a block per item and per string of a message. Here the blocks of one unpacked
 * message are carved from a few chunks, which are charged to a byte budget (a hostile message cannot
 * make us allocate more than it, whatever counts it announces) and freed together when the last
 * block is: a bump and a count instead of a malloc and a free per block. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[]; /* SIZE bytes */
};

struct arena {
	size_t left; /* budget not charged yet */
	size_t live; /* blocks not freed, plus one held while unpacking */
	size_t next; /* size of the next chunk */
	struct arena_chunk *chunks;
};

/* Before each block: the arena it belongs to (a multiple of the strictest alignment in size). */
typedef union arena_hdr {
	struct arena *arena;
	max_align_t align;
} arena_hdr;

/* Smallest and largest chunk sizes: a small request takes one small chunk, a page a few large ones. */
#define ARENA_CHUNK_MIN (4u << 10)
#define ARENA_CHUNK_MAX (1u << 20)

static struct arena_chunk *arena_grow(struct arena *a, size_t need)
{
	size_t size = a->next < a->left ? a->next : a->left;
	struct arena_chunk *c;

	if (need > size)
		size = need;
	if (size > a->left || size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	a->left -= size;
	c->used = 0;
	c->size = size;
	c->next = a->chunks;
	a->chunks = c;
	if (a->next < ARENA_CHUNK_MAX)
		a->next *= 2;
	return c;
}

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct arena_chunk *c = a->chunks;
	size_t need;
	arena_hdr *h;

	if (size > SIZE_MAX - 2 * sizeof(arena_hdr))
		return NULL;
	need = (sizeof(arena_hdr) + size + sizeof(arena_hdr) - 1) / sizeof(arena_hdr) * sizeof(arena_hdr);
	if (!c || need > c->size - c->used) {
		c = arena_grow(a, need);
		if (!c)
			return NULL;
	}
	h = (arena_hdr *)((uint8_t *)c->data + c->used);
	c->used += need;
	h->arena = a;
	a->live++;
	return h + 1;
}

/* Drops one reference to A; the last one frees every chunk and A. */
static void arena_put(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (--a->live > 0)
		return;
	for (c = a->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

static void arena_free(void *data, void *ptr)
{
	(void)data;
	if (ptr)
		arena_put(((arena_hdr *)ptr - 1)->arena);
}

/* Frees the blocks of a message unpacked here. */
static ProtobufCAllocator arena_release = { arena_alloc, arena_free, NULL };

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                                size_t budget)
{
	struct arena *a = calloc(1, sizeof(*a));
	ProtobufCAllocator alloc = { arena_alloc, arena_free, a };
	ProtobufCMessage *msg;

	if (!a)
		return NULL;
	a->left = budget;
	a->live = 1; /* ours until unpacking ends: a failure frees its blocks, not the arena under us */
	a->next = ARENA_CHUNK_MIN;
	msg = protobuf_c_message_unpack(desc, &alloc, len, data);
	arena_put(a);
	return msg;
}

Memscan__V1__Request *wire_unpack_request(const uint8_t *data, size_t len, size_t budget)
{
	return (Memscan__V1__Request *)unpack(&memscan__v1__request__descriptor, data, len, budget);
}

Memscan__V1__Response *wire_unpack_response(const uint8_t *data, size_t len, size_t budget)
{
	return (Memscan__V1__Response *)unpack(&memscan__v1__response__descriptor, data, len, budget);
}

int wire_unpack_zruns(zpage_dec *d, const uint8_t *frame, size_t len, uint64_t raw_len, size_t budget,
                      Memscan__V1__ChangeRunList **ret)
{
	uint8_t *raw;

	*ret = NULL;
	if (!raw_len || raw_len > WIRE_MAX_PAGE_BYTES)
		return WIRE_ZRUNS_BOUND;
	raw =
	    zpage_dec_buffer(d, (size_t)raw_len, WIRE_MAX_PAGE_BYTES); /* D's own, kept: no page allocates */
	if (!raw)
		return WIRE_ZRUNS_NO_MEMORY;
	if (zpage_decompress(d, frame, len, raw, (size_t)raw_len) != 0)
		return WIRE_ZRUNS_FRAME;
	*ret = (Memscan__V1__ChangeRunList *)unpack(&memscan__v1__change_run_list__descriptor, raw,
	                                            (size_t)raw_len, budget);
	return *ret ? 0 : WIRE_ZRUNS_MALFORMED;
}

void wire_free_runs(Memscan__V1__ChangeRunList *list)
{
	if (list)
		protobuf_c_message_free_unpacked(&list->base, &arena_release);
}

void wire_free_request(Memscan__V1__Request *req)
{
	if (req)
		protobuf_c_message_free_unpacked(&req->base, &arena_release);
}

void wire_free_response(Memscan__V1__Response *resp)
{
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, &arena_release);
}

uint8_t *wire_pack(const ProtobufCMessage *msg, size_t *ret_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return NULL;
	*ret_len = protobuf_c_message_pack(msg, buf);
	return buf;
}

Memscan__V1__ErrorCode wire_err_to_proto(int err)
{
	if (err < 0 || err >= MEMSCAN_ERR_COUNT)
		return MEMSCAN__V1__ERROR_CODE__PROTOCOL;
	return (Memscan__V1__ErrorCode)err; /* same numbers by construction; test_wire checks the names */
}

int wire_err_from_proto(Memscan__V1__ErrorCode code)
{
	if ((int)code <= 0 || (int)code >= MEMSCAN_ERR_COUNT)
		return MEMSCAN_ERR_PROTOCOL; /* an Error reply never says OK */
	return (int)code;
}

void wire_region_to_proto(const memscan_region *in, Memscan__V1__Region *out)
{
	memscan__v1__region__init(out);
	out->start = in->start;
	out->end = in->end;
	out->offset = in->offset;
	out->inode = in->inode;
	out->dev_major = in->dev_major;
	out->dev_minor = in->dev_minor;
	out->perms = in->perms;
	out->kind = in->kind;
	out->deleted = in->deleted != 0;
	out->path = (char *)in->path;
}

static int valid_kind(uint32_t kind)
{
	return kind == MEMSCAN_KIND_ANON || kind == MEMSCAN_KIND_HEAP || kind == MEMSCAN_KIND_STACK ||
	       kind == MEMSCAN_KIND_FILE || kind == MEMSCAN_KIND_SPECIAL;
}

int wire_region_from_proto(const Memscan__V1__Region *in, memscan_region *out)
{
	if (!in || in->end <= in->start || !valid_kind(in->kind) || (in->perms & ~0xfu) || !in->path ||
	    strlen(in->path) >= 4096)
		return MEMSCAN_ERR_PROTOCOL;
	memset(out, 0, sizeof(*out));
	out->start = in->start;
	out->end = in->end;
	out->offset = in->offset;
	out->inode = in->inode;
	out->dev_major = in->dev_major;
	out->dev_minor = in->dev_minor;
	out->perms = in->perms;
	out->kind = in->kind;
	out->deleted = in->deleted;
	out->path = in->path;
	return MEMSCAN_OK;
}

void wire_filter_to_proto(const memscan_filter *in, int use_default, Memscan__V1__Filter *out)
{
	memscan__v1__filter__init(out);
	out->use_default = use_default != 0;
	if (!in)
		return;
	out->perms = in->perms;
	out->kinds = in->kinds;
	out->path_substr = (char *)(in->path_substr ? in->path_substr : "");
	out->range_start = in->range_start;
	out->range_end = in->range_end;
	out->max_size = in->max_size;
}

void wire_filter_from_proto(const Memscan__V1__Filter *in, memscan_filter *out)
{
	if (!in || in->use_default)
		memscan_filter_default(out);
	else
		memset(out, 0, sizeof(*out));
	if (!in)
		return;
	out->perms |= in->perms;
	if (in->kinds)
		out->kinds = in->kinds;
	if (in->path_substr && in->path_substr[0])
		out->path_substr = in->path_substr;
	out->range_start = in->range_start;
	out->range_end = in->range_end;
	out->max_size = in->max_size;
}

void wire_proc_to_proto(const memscan_proc_info *in, Memscan__V1__ProcessInfo *out)
{
	memscan__v1__process_info__init(out);
	out->pid = in->pid;
	out->ppid = in->ppid;
	out->uid = in->uid;
	out->rss_bytes = in->rss_bytes;
	out->name = (char *)in->name;
	out->cmdline = (char *)in->cmdline;
}

void wire_proc_from_proto(const Memscan__V1__ProcessInfo *in, memscan_proc_info *out)
{
	memset(out, 0, sizeof(*out));
	out->pid = in->pid;
	out->ppid = in->ppid;
	out->uid = in->uid;
	out->rss_bytes = in->rss_bytes;
	snprintf(out->name, sizeof(out->name), "%s", in->name ? in->name : "");
	snprintf(out->cmdline, sizeof(out->cmdline), "%s", in->cmdline ? in->cmdline : "");
}

/* ---- region pages written directly (see wire.h) ---- */

/* Field numbers and wire types of the messages written here (memscan.proto). */
#define WIRE_VARINT           0u
#define WIRE_LEN              2u
#define WIRE_TAG(field, type) ((uint8_t)(((field) << 3) | (type)))
#define WIRE_RESPONSE_REGIONS 12u /* Response.regions */
#define WIRE_PAGE_REGIONS     1u  /* RegionPage.regions */
#define WIRE_PAGE_CURSOR      2u  /* RegionPage.next_cursor */
#define WIRE_PAGE_START_TIME  3u  /* RegionPage.start_time */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *out, uint64_t v)
{
	while (v >= 0x80) {
		*out++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*out++ = (uint8_t)v;
	return out;
}

/* A proto3 scalar field: absent when zero. */
static size_t scalar_size(uint64_t v)
{
	return v ? 1 + varint_size(v) : 0;
}

static uint8_t *put_scalar(uint8_t *out, unsigned field, uint64_t v)
{
	if (!v)
		return out;
	*out++ = WIRE_TAG(field, WIRE_VARINT);
	return put_varint(out, v);
}

/* The Region message alone (fields 1-10 of memscan.proto's Region, in field order). */
static size_t region_size(const memscan_region *r, size_t *ret_path_len)
{
	size_t path_len = r->path ? strlen(r->path) : 0;

	*ret_path_len = path_len;
	return scalar_size(r->start) + scalar_size(r->end) + scalar_size(r->offset) + scalar_size(r->inode) +
	       scalar_size(r->dev_major) + scalar_size(r->dev_minor) + scalar_size(r->perms) +
	       scalar_size(r->kind) + scalar_size(r->deleted != 0) +
	       (path_len ? 1 + varint_size(path_len) + path_len : 0);
}

size_t wire_region_item_size(const memscan_region *r)
{
	size_t path_len, len = region_size(r, &path_len);

	return 1 + varint_size(len) + len;
}

static size_t page_size(size_t items_len, uint64_t next_cursor, uint64_t start_time)
{
	return items_len + scalar_size(next_cursor) + scalar_size(start_time);
}

size_t wire_regions_reply_size(size_t items_len, uint64_t next_cursor, uint64_t start_time)
{
	size_t page = page_size(items_len, next_cursor, start_time);

	return 1 + varint_size(page) + page;
}

static uint8_t *put_region(uint8_t *out, const memscan_region *r)
{
	size_t path_len, len = region_size(r, &path_len);

	*out++ = WIRE_TAG(WIRE_PAGE_REGIONS, WIRE_LEN);
	out = put_varint(out, len);
	out = put_scalar(out, 1, r->start);
	out = put_scalar(out, 2, r->end);
	out = put_scalar(out, 3, r->offset);
	out = put_scalar(out, 4, r->inode);
	out = put_scalar(out, 5, r->dev_major);
	out = put_scalar(out, 6, r->dev_minor);
	out = put_scalar(out, 7, r->perms);
	out = put_scalar(out, 8, r->kind);
	out = put_scalar(out, 9, r->deleted != 0);
	if (path_len) {
		*out++ = WIRE_TAG(10, WIRE_LEN);
		out = put_varint(out, path_len);
		memcpy(out, r->path, path_len);
		out += path_len;
	}
	return out;
}

size_t wire_regions_reply_put(const memscan_region_list *list, size_t first, size_t n, size_t items_len,
                              uint64_t next_cursor, uint64_t start_time, uint8_t *out)
{
	uint8_t *p = out;

	*p++ = WIRE_TAG(WIRE_RESPONSE_REGIONS, WIRE_LEN);
	p = put_varint(p, page_size(items_len, next_cursor, start_time));
	for (size_t i = first; i < first + n; i++)
		p = put_region(p, memscan_region_list_get(list, i));
	p = put_scalar(p, WIRE_PAGE_CURSOR, next_cursor);
	p = put_scalar(p, WIRE_PAGE_START_TIME, start_time);
	return (size_t)(p - out);
}
