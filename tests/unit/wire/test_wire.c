/* SPDX-License-Identifier: MIT */
/* The wire schema against the C API: the error enums match, conversions and bounded unpacking hold. */
#include <stdlib.h>
#include <string.h>

#include <memscan/memscan.h>

#include "testutil.h"
#include "wire.h"

#define E(name)                                                                                              \
	{                                                                                                    \
		MEMSCAN_ERR_##name, #name                                                                    \
	}

static const struct {
	int value;
	const char *name;
} c_errors[] = {
	{ MEMSCAN_OK, "OK" },
	E(INVALID_ARG),
	E(NO_PROCESS),
	E(PERMISSION),
	E(PROCESS_GONE),
	E(UNREADABLE),
	E(PARTIAL),
	E(NO_MEMORY),
	E(IO),
	E(BAD_PATTERN),
	E(BAD_FORMAT),
	E(TRUNCATED),
	E(UNSUPPORTED_VERSION),
	E(LIMIT),
	E(NOT_FOUND),
	E(STOPPED),
	E(DENIED),
	E(PROTOCOL),
	E(UNKNOWN_OP),
	E(TIMEOUT),
	E(CONNECT),
	E(AUTH),
	E(BUSY),
	E(CANCELLED),
};

static void test_wire_error_enum_equals_c_api(void **state)
{
	const ProtobufCEnumDescriptor *d = &memscan__v1__error_code__descriptor;
	size_t n = sizeof(c_errors) / sizeof(c_errors[0]);

	(void)state;
	/* every C code is listed above (a new one must be added here and to memscan.proto) */
	assert_int_equal(n, MEMSCAN_ERR_COUNT);
	assert_int_equal(d->n_values, MEMSCAN_ERR_COUNT);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, c_errors[i].value);
		assert_non_null(v);
		assert_string_equal(v->name, c_errors[i].name);
		assert_int_equal(wire_err_to_proto(c_errors[i].value), c_errors[i].value);
		if (c_errors[i].value != MEMSCAN_OK)
			assert_int_equal(wire_err_from_proto((Memscan__V1__ErrorCode)c_errors[i].value),
			                 c_errors[i].value);
	}
	/* out of range either way is a protocol error, never success */
	assert_int_equal(wire_err_from_proto((Memscan__V1__ErrorCode)0), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(wire_err_from_proto((Memscan__V1__ErrorCode)999), MEMSCAN_ERR_PROTOCOL);
	assert_int_equal(wire_err_to_proto(-3), MEMSCAN__V1__ERROR_CODE__PROTOCOL);
}

static void test_wire_region_round_trip_and_validation(void **state)
{
	memscan_region in = { .start = 0x1000,
		              .end = 0x3000,
		              .offset = 0x10,
		              .inode = 7,
		              .dev_major = 8,
		              .dev_minor = 1,
		              .perms = MEMSCAN_PERM_READ,
		              .kind = MEMSCAN_KIND_FILE,
		              .deleted = 1,
		              .path = "/a b (x)" };
	Memscan__V1__Region pr;
	memscan_region out;

	(void)state;
	wire_region_to_proto(&in, &pr);
	assert_int_equal(wire_region_from_proto(&pr, &out), MEMSCAN_OK);
	assert_true(out.start == in.start && out.end == in.end && out.offset == in.offset);
	assert_true(out.inode == 7 && out.dev_major == 8 && out.dev_minor == 1 && out.deleted);
	assert_string_equal(out.path, in.path);
	pr.end = pr.start; /* empty */
	assert_int_equal(wire_region_from_proto(&pr, &out), MEMSCAN_ERR_PROTOCOL);
	pr.end = 0x3000;
	pr.kind = 3; /* not one kind */
	assert_int_equal(wire_region_from_proto(&pr, &out), MEMSCAN_ERR_PROTOCOL);
	pr.kind = MEMSCAN_KIND_ANON;
	pr.perms = 0x100;
	assert_int_equal(wire_region_from_proto(&pr, &out), MEMSCAN_ERR_PROTOCOL);
}

static void test_wire_unpack_is_bounded(void **state)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan scan = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Request *back;
	char pattern[3000];
	uint8_t *buf;
	size_t len;

	(void)state;
	memset(pattern, 'A', sizeof(pattern) - 1);
	pattern[sizeof(pattern) - 1] = '\0';
	scan.pattern = pattern;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &scan;
	buf = wire_pack(&req.base, &len);
	assert_non_null(buf);
	back = wire_unpack_request(buf, len, 1 << 20);
	assert_non_null(back);
	assert_int_equal(back->op_case, MEMSCAN__V1__REQUEST__OP_SCAN);
	assert_string_equal(back->scan->pattern, pattern);
	wire_free_request(back);
	/* the same message under a budget smaller than its strings: refused, nothing leaks */
	assert_null(wire_unpack_request(buf, len, 1024));
	/* every truncation fails cleanly or yields a message; none crashes */
	for (size_t l = 0; l < len; l += 7)
		wire_free_request(wire_unpack_request(buf, l, 1 << 20));
	free(buf);
	/* a huge announced length on a bytes field does not allocate it */
	{
		const uint8_t huge[] = { 0x6a, 0xff, 0xff, 0xff, 0xff, 0x0f }; /* field 13, len 2^32-1 */
		assert_null(wire_unpack_request(huge, sizeof(huge), 1 << 20));
	}
}

/* Packs Response{regions: RegionPage{the N regions of LIST from FIRST, CURSOR, START}} with protobuf-c. */
static uint8_t *pack_regions_reply(const memscan_region_list *list, size_t first, size_t n, uint64_t cursor,
                                   uint64_t start, size_t *ret_len)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__RegionPage page = MEMSCAN__V1__REGION_PAGE__INIT;
	Memscan__V1__Region *items = calloc(n ? n : 1, sizeof(*items));
	Memscan__V1__Region **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	uint8_t *buf;

	assert_non_null(items);
	assert_non_null(ptrs);
	for (size_t i = 0; i < n; i++) {
		wire_region_to_proto(memscan_region_list_get(list, first + i), &items[i]);
		ptrs[i] = &items[i];
	}
	page.n_regions = n;
	page.regions = ptrs;
	page.next_cursor = cursor;
	page.start_time = start;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_REGIONS;
	resp.regions = &page;
	buf = wire_pack(&resp.base, ret_len);
	assert_non_null(buf);
	free(items);
	free(ptrs);
	return buf;
}

/* The directly written region page is byte for byte what protobuf-c packs, whatever fields are zero. */
static void test_wire_regions_reply_equals_protobuf_c(void **state)
{
	static const char maps[] =
	    "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
	    "00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/dbus-daemon (deleted)\n"
	    "00e03000-00e24000 rw-p 00000000 00:00 0           [heap]\n"
	    "7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
	    "7ffc1ffb5000-7ffc1ffd6000 rw-p 00000000 00:00 0   [stack]\n"
	    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";
	static const struct {
		uint64_t cursor, start;
	} tails[] = { { 0, 0 }, { 1, 0 }, { 0, 300 }, { UINT64_MAX, 1ull << 40 } };
	memscan_region_list *list = NULL;
	uint8_t out[4096];

	(void)state;
	assert_int_equal(memscan_regions_parse(maps, strlen(maps), NULL, &list), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(list), 6);
	for (size_t first = 0; first <= 6; first++) {
		for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			size_t n = 6 - first, items = 0, len, want_len, put;
			uint8_t *want =
			    pack_regions_reply(list, first, n, tails[t].cursor, tails[t].start, &want_len);

			for (size_t i = first; i < 6; i++)
				items += wire_region_item_size(memscan_region_list_get(list, i));
			len = wire_regions_reply_size(items, tails[t].cursor, tails[t].start);
			assert_int_equal(len, want_len);
			assert_true(len <= sizeof(out));
			put = wire_regions_reply_put(list, first, n, items, tails[t].cursor, tails[t].start,
			                             out);
			assert_int_equal(put, want_len);
			assert_memory_equal(out, want, want_len);
			free(want);
		}
	}
	memscan_region_list_free(list);
}

/* A page of thousands of items unpacks across several arena chunks and frees whole (LeakSanitizer);
 * under a budget smaller than what it needs, it is refused. */
static void test_wire_unpack_large_page(void **state)
{
	enum { N = 3000 };
	memscan_region_list *list = NULL;
	Memscan__V1__Response *resp;
	size_t items = 0, len;
	uint8_t *buf;

	(void)state;
	assert_int_equal(memscan_region_list_new(&list), MEMSCAN_OK);
	for (uint64_t i = 0; i < N; i++) {
		memscan_region r = { .start = 0x10000 * (i + 1),
			             .end = 0x10000 * (i + 1) + 0x1000,
			             .perms = MEMSCAN_PERM_READ,
			             .kind = MEMSCAN_KIND_FILE,
			             .path = i % 2 ? "/usr/lib/x86_64-linux-gnu/libc.so.6" : "" };
		assert_int_equal(memscan_region_list_add(list, &r), MEMSCAN_OK);
		items += wire_region_item_size(&r);
	}
	len = wire_regions_reply_size(items, 0, 42);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(wire_regions_reply_put(list, 0, N, items, 0, 42, buf), len);
	resp = wire_unpack_response(buf, len, WIRE_UNPACK_BUDGET_CLIENT);
	assert_non_null(resp);
	assert_int_equal(resp->regions->n_regions, N);
	assert_string_equal(resp->regions->regions[N - 1]->path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_int_equal(resp->regions->start_time, 42);
	wire_free_response(resp);
	assert_null(wire_unpack_response(buf, len, 64u << 10));
	free(buf);
	memscan_region_list_free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_error_enum_equals_c_api),
		cmocka_unit_test(test_wire_region_round_trip_and_validation),
		cmocka_unit_test(test_wire_unpack_is_bounded),
		cmocka_unit_test(test_wire_regions_reply_equals_protobuf_c),
		cmocka_unit_test(test_wire_unpack_large_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
