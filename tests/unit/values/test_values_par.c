/* SPDX-License-Identifier: MIT */
/* Unit tests of the value scans' fast paths on a 16 MiB arena (large enough for both cores): exact
 * integers through the pattern scanner and ranges and floats through the per-type loop, checked
 * against a brute-force reference over the arena read with pread, for every integer type, aligned and
 * not, across the 1 MiB read and 4 MiB unit boundaries; narrowing on both cores equals one core. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include "internal.h"
#include "testutil.h"

#define MIB ((uint64_t)1 << 20)

struct fx_state {
	ms_fixture f;
	memscan_process *proc;
	memscan_region_list *arena;
	uint8_t *bytes; /* the arena, read with pread */
};

static int setup(void **state)
{
	struct fx_state *s = calloc(1, sizeof(*s));
	/* 4160 pages: 16.25 MiB, above the 16 MiB from which pattern scans use both cores */
	static const char *const args[] = { "--pages", "4160", NULL };

	if (!s || ms_fixture_start_arena(&s->f, args, &s->proc, &s->arena) != 0)
		return -1;
	s->bytes = malloc(s->f.arena_len);
	*state = s;
	return s->bytes ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx_state *s = *state;

	ms_set_worker_limit(0);
	memscan_region_list_free(s->arena);
	memscan_process_free(s->proc);
	ms_fixture_stop(&s->f);
	free(s->bytes);
	free(s);
	return 0;
}

/* The arena now, read through /proc/PID/mem (independently of libmemscan). */
static void read_arena(struct fx_state *s)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)s->f.pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, s->bytes, s->f.arena_len, (off_t)s->f.arena), (ssize_t)s->f.arena_len);
	close(fd);
}

static void put(struct fx_state *s, uint64_t off, const uint8_t *bytes, size_t n)
{
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ms_fixture_cmd(&s->f, "set %llx %x",
		                                (unsigned long long)(s->f.arena + off + k), bytes[k]),
		                 0);
}

/* The addresses of a set, in order. */
struct addrs {
	uint64_t *a;
	size_t n, cap;
};

static int add_addr(void *ctx, const memscan_candidate *c)
{
	struct addrs *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->a = realloc(l->a, l->cap * sizeof(*l->a));
		assert_non_null(l->a);
	}
	l->a[l->n++] = c->address;
	return 0;
}

static void addrs_of(const memscan_value_set *set, struct addrs *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(memscan_value_set_foreach(set, 0, add_addr, l), MEMSCAN_OK);
	assert_int_equal(l->n, memscan_value_set_count(set));
}

/* The number the W bytes at P hold as an integer of type T (signed types sign-extended), widened. */
static long double ref_int(memscan_value_type t, const uint8_t *p)
{
	size_t w = memscan_value_type_size(t);
	uint64_t u = 0;

	for (size_t k = 0; k < w; k++)
		u |= (uint64_t)p[k] << (8 * k);
	if ((t == MEMSCAN_VALUE_I8 || t == MEMSCAN_VALUE_I16 || t == MEMSCAN_VALUE_I32 ||
	     t == MEMSCAN_VALUE_I64) &&
	    w < 8 && (u >> (8 * w - 1)) & 1)
		return (long double)(int64_t)(u | ~(((uint64_t)1 << (8 * w)) - 1));
	if (t == MEMSCAN_VALUE_I64)
		return (long double)(int64_t)u;
	return (long double)u;
}

/* The addresses of a scan for TEXT (T, ALIGN) with one worker and with all: the same; their count. */
static size_t scan_both(struct fx_state *s, memscan_value_type t, const char *text, uint64_t align,
                        struct addrs *l)
{
	memscan_value_scan_options opt = { .align = align };
	memscan_value *v = NULL;
	memscan_value_set *one = NULL, *all = NULL;
	struct addrs l1;

	assert_int_equal(memscan_value_parse(t, text, NULL, &v, NULL), MEMSCAN_OK);
	ms_set_worker_limit(1);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, &opt, &one), MEMSCAN_OK);
	ms_set_worker_limit(0);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, &opt, &all), MEMSCAN_OK);
	addrs_of(one, &l1);
	addrs_of(all, l);
	assert_int_equal(l1.n, l->n);
	if (l1.n)
		assert_memory_equal(l1.a, l->a, l1.n * sizeof(*l1.a));
	free(l1.a);
	memscan_value_set_free(one);
	memscan_value_set_free(all);
	memscan_value_free(v);
	return l->n;
}

/* The most significant byte of the W-byte two's complement form of X. */
static uint8_t top_byte(long double x, size_t w)
{
	uint64_t u = x < 0 ? (uint64_t)(int64_t)x : (uint64_t)x;

	return (uint8_t)(u >> (8 * (w - 1)));
}

/* Scans the arena for TEXT (T, ALIGN) with one worker and with all, and checks both against the
 * reference: the slots whose integer lies in [LO, HI]. Returns the count. */
static size_t check_scan(struct fx_state *s, memscan_value_type t, const char *text, long double lo,
                         long double hi, uint64_t align)
{
	size_t w = memscan_value_type_size(t), step = align ? align : w, ref = 0;
	uint8_t top_lo = top_byte(lo, w), top_hi = top_byte(hi, w);
	struct addrs l;

	scan_both(s, t, text, align, &l);
	read_arena(s);
	for (uint64_t o = 0; o + w <= s->f.arena_len; o += step) {
		long double x;
		if (top_lo == top_hi && s->bytes[o + w - 1] != top_lo)
			continue; /* the last byte of every number in [LO, HI] is this one */
		x = ref_int(t, s->bytes + o);
		if (x < lo || x > hi)
			continue;
		assert_true(ref < l.n);
		assert_int_equal(l.a[ref], s->f.arena + o);
		ref++;
	}
	assert_int_equal(ref, l.n);
	free(l.a);
	return ref;
}

struct int_case {
	memscan_value_type type;
	const char *text, *range;
	long double num, lo, hi;
};

/* Writes the W little-endian bytes of X at OFF. */
static void put_num(struct fx_state *s, uint64_t off, uint64_t x, size_t w)
{
	uint8_t b[8];

	for (size_t k = 0; k < w; k++)
		b[k] = (uint8_t)(x >> (8 * k));
	put(s, off, b, w);
}

static void test_every_integer_type(void **state)
{
	struct fx_state *s = *state;
	static const struct int_case cases[] = {
		{ MEMSCAN_VALUE_U8, "0xd1", "0xd0..0xd2", 0xd1, 0xd0, 0xd2 },
		{ MEMSCAN_VALUE_I8, "-47", "-48..-46", -47, -48, -46 },
		{ MEMSCAN_VALUE_U16, "0xd1e2", "0xd1e0..0xd1e3", 0xd1e2, 0xd1e0, 0xd1e3 },
		{ MEMSCAN_VALUE_I16, "-11806", "-11807..-11805", -11806, -11807, -11805 },
		{ MEMSCAN_VALUE_U32, "0xd1e2f304", "0xd1e2f300..0xd1e2f3ff", 0xd1e2f304u, 0xd1e2f300u,
		  0xd1e2f3ffu },
		{ MEMSCAN_VALUE_I32, "-773655804", "-773655807..-773655800", -773655804, -773655807,
		  -773655800 },
		{ MEMSCAN_VALUE_U64, "0xd1e2f30415263748", "0xd1e2f30415263740..0xd1e2f3041526374f",
		  (long double)0xd1e2f30415263748ull, (long double)0xd1e2f30415263740ull,
		  (long double)0xd1e2f3041526374full },
		{ MEMSCAN_VALUE_I64, "-3322208553837602999", "-3322208553837603000..-3322208553837602990",
		  -3322208553837602999.0L, -3322208553837603000.0L, -3322208553837602990.0L },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct int_case *c = &cases[i];
		size_t w = memscan_value_type_size(c->type);
		uint64_t x = c->num < 0 ? (uint64_t)(int64_t)c->num : (uint64_t)c->num;
		/* aligned: ending at the 1 MiB read boundary; unaligned: across the 4 MiB unit boundary */
		uint64_t aligned = MIB - w, across = 4 * MIB - 1;

		put_num(s, aligned, x, w);
		put_num(s, across, x, w);
		assert_true(check_scan(s, c->type, c->text, c->num, c->num, 0) >= 1);
		assert_true(check_scan(s, c->type, c->text, c->num, c->num, 1) >= 2);
		assert_true(check_scan(s, c->type, c->range, c->lo, c->hi, 1) >= 2);
	}
}

static void test_floats(void **state)
{
	struct fx_state *s = *state;
	float f = 1234.5f;
	double d = -98765.4321;
	uint8_t b[8];
	struct addrs l;
	size_t n = 0;
	int found = 0;

	/* across the 4 MiB unit boundary (unaligned) and at the end of the arena */
	memcpy(b, &f, 4);
	put(s, 4 * MIB - 2, b, 4);
	memcpy(b, &d, 8);
	put(s, s->f.arena_len - 8, b, 8);
	read_arena(s);
	scan_both(s, MEMSCAN_VALUE_F32, "1234.5", 1, &l);
	/* the reference: every offset holding a float that rounds to 1234.5 at one decimal */
	for (uint64_t o = 0; o + 4 <= s->f.arena_len; o++) {
		float x;
		memcpy(&x, s->bytes + o, 4);
		if (!((double)x >= 1234.45 && (double)x <= 1234.55))
			continue;
		assert_true(n < l.n);
		assert_int_equal(l.a[n++], s->f.arena + o);
		found |= o == 4 * MIB - 2;
	}
	assert_int_equal(n, l.n);
	assert_true(found);
	free(l.a);
	assert_int_equal(scan_both(s, MEMSCAN_VALUE_F64, "-98765.4321", 1, &l), 1);
	assert_int_equal(l.a[0], s->f.arena + s->f.arena_len - 8);
	free(l.a);
}

/* Narrows SET by PRED with one worker and with all: the same candidates; returns the second set. */
static memscan_value_set *narrow_both(struct fx_state *s, const memscan_value_set *set,
                                      memscan_value_pred_kind kind)
{
	memscan_value_pred pred = { .kind = kind };
	memscan_value_set *one = NULL, *all = NULL;
	struct addrs l1, l2;

	ms_set_worker_limit(1);
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &pred, 0, &one), MEMSCAN_OK);
	ms_set_worker_limit(0);
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &pred, 0, &all), MEMSCAN_OK);
	addrs_of(one, &l1);
	addrs_of(all, &l2);
	assert_int_equal(l1.n, l2.n);
	if (l1.n)
		assert_memory_equal(l1.a, l2.a, l1.n * sizeof(*l1.a));
	free(l1.a);
	free(l2.a);
	memscan_value_set_free(one);
	return all;
}

static void test_narrow_both_cores(void **state)
{
	struct fx_state *s = *state;
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *changed, *same, *unk = NULL;
	uint8_t b = 0x3c;
	/* the first byte holding 7 at or after each: in the first, a middle and the last unit */
	uint64_t offs[3] = { 7 * 256 + 100, 8 * MIB + 3, 16 * MIB - 300 };
	struct addrs l;
	size_t kept;

	/* a u8 value every 256 bytes: ~66000 candidates, several units of an exact narrowing */
	read_arena(s);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_true(memscan_value_set_count(set) > 60000);
	assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, MEMSCAN_VALUE_U16, NULL, &unk),
	                 MEMSCAN_OK);
	/* change three candidates of the exact set (offsets holding 7) and, with them, the unknown set */
	kept = 0;
	for (uint64_t o = 0; o < s->f.arena_len && kept < 3; o++)
		if (s->bytes[o] == 7 && o >= offs[kept])
			put(s, o, &b, 1), offs[kept++] = o;
	changed = narrow_both(s, set, MEMSCAN_PRED_CHANGED);
	addrs_of(changed, &l);
	assert_int_equal(l.n, 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(l.a[k], s->f.arena + offs[k]);
	free(l.a);
	same = narrow_both(s, set, MEMSCAN_PRED_UNCHANGED);
	assert_int_equal(memscan_value_set_count(same), memscan_value_set_count(set) - 3);
	/* more survivors than the maximum, spread over the units of both workers */
	{
		memscan_value_pred any = { .kind = MEMSCAN_PRED_ANY };
		memscan_value_set *none = (memscan_value_set *)1;
		assert_int_equal(memscan_value_set_narrow(s->proc, set, &any, 40000, &none),
		                 MEMSCAN_ERR_LIMIT);
		assert_null(none);
	}
	memscan_value_set_free(changed);
	/* the unknown u16 set: each changed byte is in one aligned slot */
	changed = narrow_both(s, unk, MEMSCAN_PRED_CHANGED);
	addrs_of(changed, &l);
	assert_int_equal(l.n, 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(l.a[k], s->f.arena + offs[k] / 2 * 2);
	free(l.a);
	memscan_value_set_free(changed);
	memscan_value_set_free(same);
	memscan_value_set_free(unk);
	memscan_value_set_free(set);
	memscan_value_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_integer_type),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_narrow_both_cores),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
