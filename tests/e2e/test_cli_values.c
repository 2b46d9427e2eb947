/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan scan --type`, `narrow` and `matches` against the fixture: every type
 * and predicate checked against the fixture's memory read with pread of /proc/PID/mem, the JSON and
 * text shapes, module+offset names, and the bad inputs (exit code, message, no file written). */
#include "cliutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snapfile.h"

#define MAX_FOUND 4096
#define TYPES_AT  0x20000 /* arena offsets the tests plant values at, away from markers and counter */
#define PREDS_AT  0x30000

/* The addresses (and value texts) of a --json output. */
struct found {
	size_t n;
	uint64_t addr[MAX_FOUND];
	char value[MAX_FOUND][48];
};

static void parse_json(const char *out, struct found *f)
{
	const char *line = out;

	f->n = 0;
	while (*line) {
		unsigned long long a;
		const char *v = strstr(line, "\"value\":"), *end;
		size_t len;

		assert_true(f->n < MAX_FOUND);
		assert_int_equal(sscanf(line, "{\"address\":\"0x%llx\"", &a), 1);
		assert_non_null(v);
		v += 8;
		end = *v == '"' ? strchr(v + 1, '"') + 1 : v + strcspn(v, ",}");
		len = (size_t)(end - v) < sizeof(f->value[0]) ? (size_t)(end - v) : sizeof(f->value[0]) - 1;
		memcpy(f->value[f->n], v, len);
		f->value[f->n][len] = '\0';
		f->addr[f->n++] = a;
		line = strchr(line, '\n');
		assert_non_null(line);
		line++;
	}
}

static const char *arena_range(const ms_fixture *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%llx-%llx", (unsigned long long)f->arena,
	         (unsigned long long)(f->arena + f->arena_len));
	return buf;
}

struct type_case {
	const char *type, *value, *printed;
	uint8_t bytes[8];
	size_t width;
	double lo, hi; /* floats: what V's written precision accepts */
};

static const struct type_case type_cases[] = {
	{ "i8", "-5", "-5", { 0xFB }, 1, 0, 0 },
	{ "u8", "200", "200", { 200 }, 1, 0, 0 },
	{ "i16", "-1234", "-1234", { 0x2E, 0xFB }, 2, 0, 0 },
	{ "u16", "0xEA60", "60000", { 0x60, 0xEA }, 2, 0, 0 },
	{ "i32", "-100000", "-100000", { 0x60, 0x79, 0xFE, 0xFF }, 4, 0, 0 },
	{ "u32", "4000000000", "4000000000", { 0x00, 0x28, 0x6B, 0xEE }, 4, 0, 0 },
	{ "i64", "-5000000000", "-5000000000", { 0x00, 0x0E, 0xFA, 0xD5, 0xFE, 0xFF, 0xFF, 0xFF }, 8, 0, 0 },
	{ "u64",
	  "18446744069414584321",
	  "18446744069414584321",
	  { 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF },
	  8,
	  0,
	  0 },
	{ "f32", "3.75", "3.75", { 0x00, 0x00, 0x70, 0x40 }, 4, 3.745, 3.755 },
	{ "f64", "-2.5", "-2.5", { 0, 0, 0, 0, 0, 0, 0x04, 0xC0 }, 8, -2.55, -2.45 },
	{ "str", "hello", "\"hello\"", { 'h', 'e', 'l', 'l', 'o' }, 5, 0, 0 },
};

/* Whether the WIDTH bytes at P hold case C's value (the brute-force reference). */
static int case_matches(const struct type_case *c, const uint8_t *p)
{
	float f;
	double d;

	if (!strcmp(c->type, "f32")) {
		memcpy(&f, p, 4);
		return f >= c->lo && f <= c->hi;
	}
	if (!strcmp(c->type, "f64")) {
		memcpy(&d, p, 8);
		return d >= c->lo && d <= c->hi;
	}
	return !memcmp(p, c->bytes, c->width);
}

static void check_type(ms_fixture *f, const uint8_t *arena, const struct type_case *c, uint64_t planted)
{
	size_t align = strcmp(c->type, "str") ? c->width : 1, n = 0, k;
	struct found *got = calloc(1, sizeof(*got));
	ms_run r;

	assert_non_null(got);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", c->type, "--value", c->value, "--range",
	    arena_range(f), "--json");
	assert_int_equal(r.status, 0);
	parse_json(r.out, got);
	for (k = 0; k + c->width <= f->arena_len; k += align) {
		if (!case_matches(c, arena + k))
			continue;
		assert_true(n < got->n);
		assert_int_equal(got->addr[n], f->arena + k);
		n++;
	}
	assert_int_equal(got->n, n);
	for (k = 0; k < got->n && got->addr[k] != planted; k++)
		;
	assert_true(k < got->n);
	assert_string_equal(got->value[k], c->printed);
	ms_run_free(&r);
	free(got);
}

static void test_every_type(void **state)
{
	ms_fixture *f = *state;
	uint8_t *arena = malloc(f->arena_len);
	size_t i;

	assert_non_null(arena);
	for (i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]); i++)
		ms_fixture_poke(f, f->arena + TYPES_AT + i * 0x40, type_cases[i].bytes, type_cases[i].width);
	ms_fixture_peek(f, f->arena, arena, f->arena_len);
	for (i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]); i++)
		check_type(f, arena, &type_cases[i], f->arena + TYPES_AT + i * 0x40);
	free(arena);
}

/* Runs ARGV, expecting exit STATUS, MESSAGE in stderr, nothing on stdout. */
static void expect_fail(const char *const *argv, int status, const char *message)
{
	ms_run r;

	assert_int_equal(ms_run_cli(&r, argv), 0);
	if (r.status != status || !strstr(r.err, message))
		fail_msg("%s: exit %d, stderr '%s' (expected %d, '%s')", argv[0], r.status, r.err, status,
		         message);
	assert_string_equal(r.out, "");
	ms_run_free(&r);
}

#define FAILS(status, message, ...)                                                                          \
	do {                                                                                                 \
		const char *argv_[] = { __VA_ARGS__, NULL };                                                 \
		expect_fail(argv_, (status), (message));                                                     \
	} while (0)

/* --utf16 looks for the UTF-16LE form of a string; --epsilon widens what a float matches. */
static void test_utf16_epsilon(void **state)
{
	static const uint8_t wide[] = { 'h', 0, 'u', 0, 'n', 0, 't', 0 };
	ms_fixture *f = *state;
	uint64_t at = f->arena + TYPES_AT + 0x1000;
	float v = 3.9f;
	char expect[160];
	ms_run r;

	ms_fixture_poke(f, at, wide, sizeof(wide));
	ms_fixture_poke(f, at + 0x40, &v, sizeof(v));
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", "hunt", "--utf16", "--range",
	    arena_range(f));
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "0x%llx  str  \"h\\u0000u\\u0000n\\u0000t\\u0000\"\n",
	         (unsigned long long)at);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	/* 3.9 is not 3.75 at its written precision, but within 0.2 of it */
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "f32", "--value", "3.75", "--range", arena_range(f),
	    "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "\"0x%llx\"", (unsigned long long)(at + 0x40));
	assert_null(strstr(r.out, expect));
	ms_run_free(&r);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "f32", "--value", "3.75", "--epsilon", "0.2",
	    "--range", arena_range(f), "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "{\"address\":\"0x%llx\",\"type\":\"f32\",\"value\":3.9000001}\n",
	         (unsigned long long)(at + 0x40));
	assert_non_null(strstr(r.out, expect));
	ms_run_free(&r);
}

/* ---- predicates ---------------------------------------------------------------------------- */

#define NSLOTS 5

static uint32_t peek_u32(const ms_fixture *f, uint64_t addr)
{
	uint32_t v;

	ms_fixture_peek(f, addr, &v, sizeof(v));
	return v;
}

static void poke_u32(ms_fixture *f, uint64_t addr, uint32_t v)
{
	ms_fixture_poke(f, addr, &v, sizeof(v));
}

struct pred_case {
	const char *arg[3];
	int (*keep)(uint32_t now); /* with the old value 1000 */
};

static int p_changed(uint32_t v)
{
	return v != 1000;
}
static int p_unchanged(uint32_t v)
{
	return v == 1000;
}
static int p_increased(uint32_t v)
{
	return v > 1000;
}
static int p_decreased(uint32_t v)
{
	return v < 1000;
}
static int p_inc5(uint32_t v)
{
	return v == 1005;
}
static int p_dec10(uint32_t v)
{
	return v == 990;
}
static int p_between(uint32_t v)
{
	return v >= 990 && v <= 1005;
}

static const struct pred_case pred_cases[] = {
	{ { "--changed" }, p_changed },
	{ { "--unchanged" }, p_unchanged },
	{ { "--increased" }, p_increased },
	{ { "--decreased" }, p_decreased },
	{ { "--increased-by", "5" }, p_inc5 },
	{ { "--decreased-by", "10" }, p_dec10 },
	{ { "--eq", "1000" }, p_unchanged },
	{ { "--ne", "1000" }, p_changed },
	{ { "--gt", "1000" }, p_increased },
	{ { "--lt", "1000" }, p_decreased },
	{ { "--between", "990", "1005" }, p_between },
};

/* Runs narrow SET with case C into OUT and checks the survivors against the values read now. */
static void check_pred(ms_fixture *f, const char *set, const char *out, const struct pred_case *c)
{
	const char *argv[12] = { "narrow", set, "-o", out, "--json", "--max", "100" };
	struct found *got = calloc(1, sizeof(*got));
	size_t n = 0, k, i = 7;
	char was[32];
	ms_run r;

	assert_non_null(got);
	for (k = 0; k < 3 && c->arg[k]; k++)
		argv[i++] = c->arg[k];
	assert_int_equal(ms_run_cli(&r, argv), 0);
	assert_int_equal(r.status, 0);
	parse_json(r.out, got);
	for (k = 0; k < NSLOTS; k++) {
		uint64_t a = f->arena + PREDS_AT + k * 0x10;
		uint32_t now = peek_u32(f, a);

		if (!c->keep(now))
			continue;
		assert_true(n < got->n);
		assert_int_equal(got->addr[n], a);
		snprintf(was, sizeof(was), "%u", now);
		assert_string_equal(got->value[n], was);
		n++;
	}
	assert_int_equal(got->n, n);
	assert_non_null(strstr(r.out, "\"old\":1000"));
	ms_run_free(&r);
	free(got);
}

static void test_predicates(void **state)
{
	static const uint32_t after[NSLOTS] = { 1005, 990, 1000, 2000, 1000 };
	ms_fixture *f = *state;
	const char *set = ms_scratch_path("s"), *out = ms_scratch_path("s2");
	uint8_t *before, *again;
	size_t len, len2, k;
	char line[128];
	ms_run r;

	for (k = 0; k < NSLOTS; k++)
		poke_u32(f, f->arena + PREDS_AT + k * 0x10, 1000);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "u32", "--value", "1000", "--range", arena_range(f),
	    "-o", set);
	assert_int_equal(r.status, 0);
	snprintf(line, sizeof(line), "5 candidates of u32 in PID %d saved to %s\n", (int)f->pid, set);
	assert_string_equal(r.out, line);
	ms_run_free(&r);
	for (k = 0; k < NSLOTS; k++)
		poke_u32(f, f->arena + PREDS_AT + k * 0x10, after[k]);
	before = ms_file_read(set, &len);
	for (k = 0; k < sizeof(pred_cases) / sizeof(pred_cases[0]); k++)
		check_pred(f, set, out, &pred_cases[k]);
	/* -o left SET as it was; narrowing in place rewrites it */
	again = ms_file_read(set, &len2);
	assert_true(len == len2 && !memcmp(before, again, len));
	free(again);
	RUN(&r, "narrow", set, "--increased");
	assert_int_equal(r.status, 0);
	snprintf(line, sizeof(line), "0x%llx  u32  1005  (was 1000)\n0x%llx  u32  2000  (was 1000)\n",
	         (unsigned long long)(f->arena + PREDS_AT), (unsigned long long)(f->arena + PREDS_AT + 0x30));
	assert_int_equal(strncmp(r.out, line, strlen(line)), 0);
	assert_non_null(strstr(r.out, "2 of 5 candidates left (u32 in PID"));
	ms_run_free(&r);
	again = ms_file_read(set, &len2);
	assert_false(len == len2 && !memcmp(before, again, len));
	free(again);
	free(before);

	/* matches: the values now, with the ones the set recorded */
	poke_u32(f, f->arena + PREDS_AT, 7);
	RUN(&r, "matches", set);
	assert_int_equal(r.status, 0);
	snprintf(line, sizeof(line), "0x%llx  u32  7  (was 1005)\n0x%llx  u32  2000  (was 2000)\n",
	         (unsigned long long)(f->arena + PREDS_AT), (unsigned long long)(f->arena + PREDS_AT + 0x30));
	assert_int_equal(strncmp(r.out, line, strlen(line)), 0);
	ms_run_free(&r);
}

/* A float and a str set narrowed by the predicates those types take. */
static void test_float_str_narrow(void **state)
{
	ms_fixture *f = *state;
	const char *set = ms_scratch_path("f"), *sset = ms_scratch_path("t");
	uint64_t at = f->arena + PREDS_AT + 0x100;
	double d = 2.5;
	char expect[128];
	ms_run r;

	ms_fixture_poke(f, at, &d, sizeof(d));
	ms_fixture_poke(f, at + 0x20, "needle", 6);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "f64", "--value", "2.5", "--range", arena_range(f),
	    "-o", set);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", "needle", "--range",
	    arena_range(f), "-o", sset);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	d = 3.5;
	ms_fixture_poke(f, at, &d, sizeof(d));
	ms_fixture_poke(f, at + 0x20, "noodle", 6);
	RUN(&r, "narrow", set, "--increased-by", "1", "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"address\":\"0x%llx\",\"type\":\"f64\",\"value\":3.5,\"old\":2.5}\n",
	         (unsigned long long)at);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	RUN(&r, "narrow", sset, "--changed", "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"address\":\"0x%llx\",\"type\":\"str\",\"value\":\"noodle\",\"old\":\"needle\"}\n",
	         (unsigned long long)(at + 0x20));
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
}

/* --unknown remembers every slot; narrowing by --changed then finds the one the test changed. */
static void test_unknown_then_changed(void **state)
{
	ms_fixture *f = *state;
	const char *set = ms_scratch_path("u");
	uint64_t at = f->arena + PREDS_AT + 0x200;
	uint32_t before, after;
	char expect[160];
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "u32", "--unknown", "--range", arena_range(f), "-o",
	    set);
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect), "%llu slots (unknown value) of u32 in PID %d saved to %s\n",
	         (unsigned long long)(f->arena_len / 4), (int)f->pid, set);
	assert_string_equal(r.out, expect);
	ms_run_free(&r);
	FAILS(1, "narrow it first", "matches", set);
	ms_fixture_peek(f, at, &before, sizeof(before));
	poke_u32(f, at, before ^ 0x01000000u);
	ms_fixture_peek(f, at, &after, sizeof(after));
	RUN(&r, "narrow", set, "--changed", "--json");
	assert_int_equal(r.status, 0);
	snprintf(expect, sizeof(expect),
	         "{\"address\":\"0x%llx\",\"type\":\"u32\",\"value\":%u,\"old\":%u}\n",
	         (unsigned long long)at, after, before);
	assert_string_equal(r.out, expect);
	assert_non_null(strstr(r.err, "1 of "));
	ms_run_free(&r);
}

/* ---- module names ---------------------------------------------------------------------------- */

/* The lowest start, in F's /proc/PID/maps, of the regions whose path ends with SUFFIX; *RET_IN (if
 * ADDR is not 0) tells whether one of them holds ADDR. */
static uint64_t module_base(const ms_fixture *f, const char *suffix, uint64_t addr, int *ret_in)
{
	char path[64], line[512];
	uint64_t base = UINT64_MAX;
	FILE *m;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)f->pid);
	m = fopen(path, "r");
	assert_non_null(m);
	if (ret_in)
		*ret_in = 0;
	while (fgets(line, sizeof(line), m)) {
		unsigned long long start, end;
		size_t n = strcspn(line, "\n"), sl = strlen(suffix);

		line[n] = '\0';
		if (n < sl || strcmp(line + n - sl, suffix) || sscanf(line, "%llx-%llx", &start, &end) != 2)
			continue;
		base = start < base ? start : base;
		if (ret_in && addr >= start && addr < end)
			*ret_in = 1;
	}
	fclose(m);
	assert_true(base != UINT64_MAX);
	return base;
}

/* The fixture keeps the arena's address in a global (its executable's data) and on its stack: a u64
 * scan for it names both by module and offset. */
static void test_module_names(void **state)
{
	ms_fixture *f = *state;
	uint64_t exe = module_base(f, "/memscan-fixture", 0, NULL),
	         stack = module_base(f, "[stack]", 0, NULL), v;
	char value[32], expect[256], text[160];
	struct found *got = calloc(1, sizeof(*got));
	int in_exe = 0, in_stack = 0;
	const char *line;
	ms_run r, t;

	assert_non_null(got);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)f->arena);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "u64", "--value", value, "--json");
	RUN(&t, "scan", ms_fixture_pid_str(f), "--type", "u64", "--value", value);
	assert_int_equal(r.status, 0);
	assert_int_equal(t.status, 0);
	parse_json(r.out, got);
	line = r.out;
	for (size_t k = 0; k < got->n; k++, line = strchr(line, '\n') + 1) {
		uint64_t a = got->addr[k];
		int is_exe = a >= exe && a < exe + (64u << 20),
		    is_stack = a >= stack && a < stack + (64u << 20);

		ms_fixture_peek(f, a, &v, sizeof(v));
		assert_int_equal(v, f->arena);
		if (!is_exe && !is_stack)
			continue;
		snprintf(expect, sizeof(expect),
		         "{\"address\":\"0x%llx\",\"type\":\"u64\",\"value\":%s,\"module\":\"%s\",\"offset\":"
		         "\"0x%llx\"}\n",
		         (unsigned long long)a, value, is_exe ? "memscan-fixture" : "[stack]",
		         (unsigned long long)(a - (is_exe ? exe : stack)));
		assert_int_equal(strncmp(line, expect, strlen(expect)), 0);
		snprintf(text, sizeof(text), "0x%llx  u64  %s  %s+0x%llx\n", (unsigned long long)a, value,
		         is_exe ? "memscan-fixture" : "[stack]",
		         (unsigned long long)(a - (is_exe ? exe : stack)));
		assert_non_null(strstr(t.out, text));
		in_exe |= is_exe;
		in_stack |= is_stack;
	}
	assert_true(in_exe && in_stack);
	ms_run_free(&r);
	ms_run_free(&t);
	free(got);
}

/* Value scans look in writable regions; --perms r widens them to every readable one. */
static void test_perms_widen(void **state)
{
	ms_fixture *f = *state;
	struct found *got = calloc(1, sizeof(*got));
	char prefix[64];
	ms_run r;

	assert_non_null(got);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", "GLIBC_2", "--path",
	    "memscan-fixture");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	ms_run_free(&r);
	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", "GLIBC_2", "--path",
	    "memscan-fixture", "--perms", "r", "--json");
	assert_int_equal(r.status, 0);
	parse_json(r.out, got);
	assert_true(got->n >= 1);
	for (size_t k = 0; k < got->n; k++) {
		char bytes[7];

		ms_fixture_peek(f, got->addr[k], bytes, sizeof(bytes));
		assert_memory_equal(bytes, "GLIBC_2", 7);
	}
	snprintf(prefix, sizeof(prefix), "\"module\":\"memscan-fixture\"");
	assert_non_null(strstr(r.out, prefix));
	ms_run_free(&r);
	free(got);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void test_bad_scans(void **state)
{
	ms_fixture *f = *state;
	const char *pid = ms_fixture_pid_str(f), *out = ms_scratch_path("never");

	FAILS(2, "unknown type 'i33'", "scan", pid, "--type", "i33", "--value", "1", "-o", out);
	FAILS(2, "value '256' does not fit u8 (at offset 0)", "scan", pid, "--type", "u8", "--value", "256",
	      "-o", out);
	FAILS(2, "value '12x' is not a value of type i32 (at offset 2)", "scan", pid, "--type", "i32",
	      "--value", "12x", "-o", out);
	FAILS(2, "is not a value of type f32", "scan", pid, "--type", "f32", "--value", "abc", "-o", out);
	FAILS(2, "needs --value V, or --unknown", "scan", pid, "--type", "i32", "-o", out);
	FAILS(2, "--unknown needs -o SET", "scan", pid, "--type", "i32", "--unknown");
	FAILS(2, "--value and --unknown cannot be combined", "scan", pid, "--type", "i32", "--value", "1",
	      "--unknown", "-o", out);
	FAILS(2, "--pattern and --type cannot be combined", "scan", pid, "--type", "i32", "--value", "1",
	      "--pattern", "00", "-o", out);
	FAILS(2, "add --type TYPE", "scan", pid, "--value", "1", "-o", out);
	FAILS(2, "--unknown needs a number type", "scan", pid, "--type", "str", "--unknown", "-o", out);
	FAILS(2, "--epsilon applies to --type f32 and f64 only", "scan", pid, "--type", "i32", "--value", "1",
	      "--epsilon", "0.5", "-o", out);
	FAILS(2, "--utf16 applies to --type str only", "scan", pid, "--type", "i32", "--value", "1",
	      "--utf16", "-o", out);
	/* the arena alone holds 1024 bytes of 7 */
	FAILS(1, "more than 10 candidates", "scan", pid, "--type", "u8", "--value", "7", "--max", "10", "-o",
	      out);
	assert_false(ms_exists(out));
}

/* Writes a copy of FILE with its u64 at OFF set to V and its checksum made right again: what a set
 * file of another process with the same PID would hold. */
static void rewrite_u64(const char *file, const char *copy, size_t off, uint64_t v)
{
	size_t len;
	uint8_t *b = ms_file_read(file, &len);
	uint64_t sum;

	for (size_t i = 0; i < 8; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
	sum = sf_sum_buf(b, len - 8);
	for (size_t i = 0; i < 8; i++)
		b[len - 8 + i] = (uint8_t)(sum >> (8 * i));
	ms_write_file(copy, b, len, 0600);
	free(b);
}

static void test_bad_sets(void **state)
{
	ms_fixture *f = *state, gone = { 0 };
	const char *set = ms_scratch_path("s"), *bad = ms_scratch_path("bad"),
	           *out = ms_scratch_path("never");
	uint8_t *b, *after, version;
	size_t len, len2;
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "u8", "--value", "200", "--range", arena_range(f),
	    "-o", set);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	b = ms_file_read(set, &len);
	FAILS(2, "narrow takes a predicate", "narrow", set);
	FAILS(2, "narrow takes exactly one predicate", "narrow", set, "--changed", "--unchanged");
	FAILS(2, "--eq 'abc' is not a value of type u8", "narrow", set, "--eq", "abc");
	FAILS(2, "the difference must be >= 0", "narrow", set, "--increased-by", "-3");
	FAILS(2, "option --between needs two values", "narrow", set, "--between", "1");
	FAILS(1, "cannot read set file", "narrow", out, "--changed");

	ms_write_file(bad, b, len / 2, 0600);
	FAILS(1, "is truncated", "narrow", bad, "--changed", "-o", out);
	b[len - 20] ^= 0x40;
	ms_write_file(bad, b, len, 0600);
	b[len - 20] ^= 0x40;
	FAILS(1, "is corrupt or not a set file", "matches", bad);
	version = b[8];
	b[8] = 9; /* a version from the future */
	ms_write_file(bad, b, len, 0600);
	b[8] = version;
	FAILS(1, "format version this memscan cannot read", "narrow", bad, "--changed", "-o", out);
	/* the start time at offset 40 of the header: PID N is now another process */
	rewrite_u64(set, bad, 40, 12345);
	FAILS(1, "is now another process", "narrow", bad, "--changed", "-o", out);
	FAILS(1, "is now another process", "matches", bad);

	/* a process that exited */
	assert_int_equal(ms_fixture_start(&gone, NULL), 0);
	RUN(&r, "scan", ms_fixture_pid_str(&gone), "--type", "u8", "--value", "200", "--range",
	    arena_range(&gone), "-o", bad);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	ms_fixture_stop(&gone);
	FAILS(1, "has exited (the set was made from a process started at", "narrow", bad, "--changed");
	FAILS(1, "has exited", "matches", bad);

	after = ms_file_read(set, &len2);
	assert_true(len == len2 && !memcmp(b, after, len));
	assert_false(ms_exists(out));
	free(after);
	free(b);
}

static void test_str_set_predicates(void **state)
{
	ms_fixture *f = *state;
	const char *set = ms_scratch_path("s");
	ms_run r;

	RUN(&r, "scan", ms_fixture_pid_str(f), "--type", "str", "--value", "MSCAN", "--range", arena_range(f),
	    "-o", set);
	assert_int_equal(r.status, 0);
	ms_run_free(&r);
	FAILS(2, "--increased does not apply to a set of str", "narrow", set, "--increased");
	FAILS(2, "--gt does not apply to a set of str", "narrow", set, "--gt", "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_utf16_epsilon),
		cmocka_unit_test_setup_teardown(test_predicates, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_float_str_narrow, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_then_changed, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test(test_module_names),
		cmocka_unit_test(test_perms_widen),
		cmocka_unit_test_setup_teardown(test_bad_scans, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_bad_sets, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_str_set_predicates, ms_scratch_setup,
		                                ms_scratch_teardown),
	};

	return cmocka_run_group_tests(tests, ms_fixture_setup, ms_fixture_teardown);
}
