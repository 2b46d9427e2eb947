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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_error_enum_equals_c_api),
		cmocka_unit_test(test_wire_region_round_trip_and_validation),
		cmocka_unit_test(test_wire_unpack_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
