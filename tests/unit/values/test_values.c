/* SPDX-License-Identifier: MIT */
/* Unit tests of values.c against the fixture process: scans of every type checked against a
 * brute-force reference over the arena read independently (pread of /proc/PID/mem), align 1, holes,
 * the candidate limit, unknown-value sets, every predicate after the fixture changes values, and the
 * bytes a narrowing reads. */
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memscan/memscan.h>
#include "internal.h" /* the bytes a handle's reads covered: proc->progress->done */
#include "testutil.h"

struct fx_state {
	ms_fixture f;
	memscan_process *proc;
	memscan_region_list *arena; /* the arena's region alone */
	uint8_t *bytes;             /* the arena, read with pread */
};

static int setup(void **state)
{
	struct fx_state *s = calloc(1, sizeof(*s));

	/* 300 pages: more than one 1 MiB window of a scan */
	static const char *const args[] = { "--pages", "300", NULL };

	if (!s || ms_fixture_start_arena(&s->f, args, &s->proc, &s->arena) != 0)
		return -1;
	s->bytes = malloc(s->f.arena_len);
	*state = s;
	return s->bytes ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx_state *s = *state;

	memscan_region_list_free(s->arena);
	memscan_process_free(s->proc);
	ms_fixture_stop(&s->f);
	free(s->bytes);
	free(s);
	return 0;
}

/* LEN bytes of the fixture at ADDR, read through /proc/PID/mem (independently of libmemscan). */
static void pread_mem(const ms_fixture *f, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)f->pid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)addr), (ssize_t)len);
	close(fd);
}

/* Writes N bytes at ADDR of the fixture with its set command. */
static void put(ms_fixture *f, uint64_t addr, const void *bytes, size_t n)
{
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ms_fixture_cmd(f, "set %llx %x", (unsigned long long)(addr + k),
		                                ((const uint8_t *)bytes)[k]),
		                 0);
}

/* Candidates kept by collect (more are counted only): above the 4800 u8 matches of the arena. */
#define COLLECT_MAX 8192

struct collected {
	uint64_t addr[COLLECT_MAX];
	uint8_t value[COLLECT_MAX][8], old[COLLECT_MAX][8];
	int has_old[COLLECT_MAX];
	size_t n;
	int bad_region;
};

static int collect(void *ctx, const memscan_candidate *c)
{
	struct collected *col = ctx;

	if (!c->region || c->address < c->region->start || c->address + c->width > c->region->end)
		col->bad_region = 1;
	if (col->n < COLLECT_MAX) {
		col->addr[col->n] = c->address;
		memcpy(col->value[col->n], c->value, c->width < 8 ? c->width : 8);
		col->has_old[col->n] = c->old != NULL;
		if (c->old)
			memcpy(col->old[col->n], c->old, c->width < 8 ? c->width : 8);
	}
	col->n++;
	return 0;
}

static void collect_all(const memscan_value_set *set, struct collected *col)
{
	memset(col, 0, sizeof(*col));
	assert_int_equal(memscan_value_set_foreach(set, 0, collect, col), MEMSCAN_OK);
	assert_int_equal(col->n, memscan_value_set_count(set));
	assert_false(col->bad_region);
}

/* The test's own reading of the W bytes at P as type T: 1 if it equals TEXT's number (floats: within
 * half a unit of its last digit, given as HALF). */
static int ref_match(memscan_value_type t, const uint8_t *p, long double want, double half)
{
	uint64_t u = 0;
	size_t w = memscan_value_type_size(t);
	long double x;

	for (size_t k = 0; k < w; k++)
		u |= (uint64_t)p[k] << (8 * k);
	switch (t) {
	case MEMSCAN_VALUE_I8:
		x = (int8_t)u;
		break;
	case MEMSCAN_VALUE_I16:
		x = (int16_t)u;
		break;
	case MEMSCAN_VALUE_I32:
		x = (int32_t)u;
		break;
	case MEMSCAN_VALUE_I64:
		x = (int64_t)u;
		break;
	case MEMSCAN_VALUE_F32: {
		float f;
		uint32_t v = (uint32_t)u;
		memcpy(&f, &v, 4);
		return fabs((double)f - (double)want) <= half;
	}
	case MEMSCAN_VALUE_F64: {
		double d;
		memcpy(&d, &u, 8);
		return fabs(d - (double)want) <= half;
	}
	default:
		x = u;
		break;
	}
	return fabsl(x - want) <= half; /* HALF: an integer range's half width */
}

/* Writes BYTES at arena offset OFF, scans the arena for TEXT as T with ALIGN, and checks the set
 * against a brute-force reference over the arena read with pread; returns the count. */
static uint64_t check_scan(struct fx_state *s, memscan_value_type t, const char *text, long double want,
                           double half, const void *bytes, uint64_t off, uint64_t align)
{
	memscan_value_scan_options opt = { .align = align };
	size_t w = memscan_value_type_size(t), found = 0, ref = 0;
	memscan_value *v = NULL;
	memscan_value_set *set = NULL;
	struct collected *col = malloc(sizeof(*col));

	put(&s->f, s->f.arena + off, bytes, w);
	assert_int_equal(memscan_value_parse(t, text, NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, &opt, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_type(set), t);
	assert_false(memscan_value_set_is_unknown(set));
	collect_all(set, col);
	pread_mem(&s->f, s->f.arena, s->bytes, s->f.arena_len);
	for (uint64_t o = 0; o + w <= s->f.arena_len; o += align ? align : w) {
		if (!ref_match(t, s->bytes + o, want, half))
			continue;
		assert_true(ref < col->n && ref < COLLECT_MAX);
		assert_int_equal(col->addr[ref], s->f.arena + o);
		assert_memory_equal(col->value[ref], s->bytes + o, w);
		assert_false(col->has_old[ref]);
		found |= o == off;
		ref++;
	}
	assert_int_equal(ref, col->n);
	assert_true(found);
	memscan_value_set_free(set);
	memscan_value_free(v);
	free(col);
	return ref;
}

static void test_every_type(void **state)
{
	struct fx_state *s = *state;
	uint8_t b1 = 0xC8, b2[2] = { 0xFE, 0xCA }, b4[4] = { 0xEE, 0xFF, 0xC0, 0x5E };
	uint8_t b8[8] = { 1, 2, 3, 4, 5, 6, 7, 0x88 };
	float f = 3.7499999f;
	double d = -2.5e-3;

	check_scan(s, MEMSCAN_VALUE_U8, "200", 200, 0, &b1, 64, 0);
	check_scan(s, MEMSCAN_VALUE_I8, "-56", -56, 0, &b1, 64, 0);
	check_scan(s, MEMSCAN_VALUE_U16, "0xCAFE", 0xCAFE, 0, b2, 128, 0);
	check_scan(s, MEMSCAN_VALUE_I16, "-13570", -13570, 0, b2, 128, 0);
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_U32, "0x5EC0FFEE", 0x5EC0FFEE, 0, b4, 256, 0), 1);
	check_scan(s, MEMSCAN_VALUE_I32, "1589706734", 1589706734, 0, b4, 256, 0);
	assert_int_equal(
	    check_scan(s, MEMSCAN_VALUE_U64, "0x8807060504030201", 0x8807060504030201ull, 0, b8, 512, 0), 1);
	check_scan(s, MEMSCAN_VALUE_I64, "-8644934341102468607", -8644934341102468607.0L, 0, b8, 512, 0);
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_F32, "3.75", 3.75, 0.005, &f, 1024, 0), 1);
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_F64, "-0.0025", -0.0025, 0.00005, &d, 2048, 0), 1);
	/* integer ranges take the slot-by-slot path, exact integers the first-byte search */
	check_scan(s, MEMSCAN_VALUE_I16, "-13575..-13565", -13570, 5, b2, 128, 0);
}

static void test_window_edges(void **state)
{
	struct fx_state *s = *state;
	uint8_t a[4] = { 0x13, 0x57, 0x9B, 0x2F }, b[4] = { 0x24, 0x68, 0xAC, 0x3E };
	uint64_t mib = (uint64_t)1 << 20;

	/* values across the 1 MiB boundary between two windows of a scan, aligned and not */
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_U32, "0x2F9B5713", 0x2F9B5713, 0, a, mib - 4, 0), 1);
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_U32, "0x3EAC6824", 0x3EAC6824, 0, b, mib - 2, 1), 1);
	assert_int_equal(
	    check_scan(s, MEMSCAN_VALUE_U32, "0x3EAC6000..0x3EAC6fff", 0x3EAC6800, 0x800, b, mib - 2, 1), 1);
}

static void test_unaligned(void **state)
{
	struct fx_state *s = *state;
	uint8_t b4[4] = { 0x11, 0xAB, 0x22, 0x7C };
	memscan_value *v = NULL;
	memscan_value_set *set = NULL;

	/* natural alignment misses the value at an odd address; align 1 finds it */
	assert_int_equal(check_scan(s, MEMSCAN_VALUE_U32, "0x7C22AB11", 0x7C22AB11, 0, b4, 4097, 1), 1);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U32, "0x7C22AB11", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(set), 0);
	memscan_value_set_free(set);
	memscan_value_free(v);
}

static void test_string_and_default_regions(void **state)
{
	struct fx_state *s = *state;
	memscan_value_options u16 = { .flags = MEMSCAN_VALUE_UTF16 };
	memscan_value *v = NULL;
	memscan_value_set *set = NULL;
	struct collected *col = malloc(sizeof(*col));

	put(&s->f, s->f.arena + 8193, "Q\0z\0!\0", 6);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_STR, "Qz!", &u16, &v, NULL), MEMSCAN_OK);
	/* NULL regions: the writable ones, listed now; str aligns to 1 */
	assert_int_equal(memscan_value_scan(s->proc, NULL, v, NULL, &set), MEMSCAN_OK);
	collect_all(set, col);
	assert_int_equal(col->n, 1);
	assert_int_equal(col->addr[0], s->f.arena + 8193);
	assert_int_equal(memscan_value_set_width(set), 6);
	memscan_value_set_free(set);
	memscan_value_free(v);
	free(col);
}

static void test_holes_never_match(void **state)
{
	struct fx_state *s = *state;
	memscan_filter filter = { .range_start = s->f.holey, .range_end = s->f.holey + s->f.holey_len };
	memscan_region_list *holey = NULL;
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *unk = NULL;
	struct collected *col = malloc(sizeof(*col));
	uint64_t page = memscan_page_size();

	assert_int_equal(memscan_regions_read(s->proc, &filter, &holey), MEMSCAN_OK);
	assert_int_equal(memscan_region_list_count(holey), 1);
	/* unreadable bytes read as zeros: none of them may match 0 */
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "0", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, holey, v, NULL, &set), MEMSCAN_OK);
	collect_all(set, col);
	assert_true(col->n <= page);
	for (size_t k = 0; k < col->n && k < COLLECT_MAX; k++)
		assert_true(col->addr[k] < s->f.holey + page);
	assert_int_equal(memscan_value_scan_unknown(s->proc, holey, MEMSCAN_VALUE_U32, NULL, &unk),
	                 MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(unk), page / 4);
	collect_all(unk, col);
	assert_int_equal(col->addr[col->n - 1], s->f.holey + page - 4);
	memscan_value_set_free(unk);
	memscan_value_set_free(set);
	memscan_value_free(v);
	memscan_region_list_free(holey);
	free(col);
}

static void test_limit_and_bad_args(void **state)
{
	struct fx_state *s = *state;
	memscan_value_scan_options opt = { .max_candidates = 10 };
	memscan_value *v = NULL;
	memscan_value_set *set = (memscan_value_set *)1;

	/* every 256th arena byte is 7: more than 10 */
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, &opt, &set), MEMSCAN_ERR_LIMIT);
	assert_null(set);
	opt.max_candidates = MEMSCAN_VALUE_SET_MAX + 1;
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, &opt, &set), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_value_scan(NULL, s->arena, v, NULL, &set), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, MEMSCAN_VALUE_STR, NULL, &set),
	                 MEMSCAN_ERR_INVALID_ARG);
	memscan_value_free(v);
}

static int cancel_now(void *ctx)
{
	(void)ctx;
	return 1;
}

static void test_cancel_and_other_process(void **state)
{
	struct fx_state *s = *state;
	memscan_process *self = NULL;
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *out = NULL;
	memscan_value_pred pred = { .kind = MEMSCAN_PRED_ANY };

	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_process_open(getpid(), &self), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_narrow(self, set, &pred, 0, &out), MEMSCAN_ERR_PROCESS_GONE);
	assert_int_equal(memscan_process_set_cancel(s->proc, cancel_now, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &pred, 0, &out), MEMSCAN_ERR_CANCELLED);
	memscan_value_set_free(set);
	set = NULL;
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_ERR_CANCELLED);
	assert_null(set);
	assert_int_equal(memscan_process_set_cancel(s->proc, NULL, NULL), MEMSCAN_OK);
	memscan_process_free(self);
	memscan_value_free(v);
}

/* Narrows SET with KIND (against TEXT, if not NULL) and checks that exactly the candidates of
 * ADDRS whose bit is in WANT survive, with their values now (pread) and OLD_VALUE as old. */
static memscan_value_set *check_narrow(struct fx_state *s, const memscan_value_set *set,
                                       memscan_value_pred_kind kind, const char *text, const uint64_t *addrs,
                                       unsigned want, int32_t old_value)
{
	memscan_value *v = NULL;
	memscan_value_pred pred = { .kind = kind };
	memscan_value_set *out = NULL;
	struct collected *col = malloc(sizeof(*col));
	size_t n = 0;

	if (text)
		assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_I32, text, NULL, &v, NULL), MEMSCAN_OK);
	pred.value = v;
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &pred, 0, &out), MEMSCAN_OK);
	collect_all(out, col);
	for (unsigned k = 0; k < 4; k++) {
		uint8_t now[4];
		if (!(want & (1u << k)))
			continue;
		assert_true(n < col->n);
		assert_int_equal(col->addr[n], addrs[k]);
		pread_mem(&s->f, addrs[k], now, 4);
		assert_memory_equal(col->value[n], now, 4);
		assert_true(col->has_old[n]);
		assert_memory_equal(col->old[n], &old_value, 4);
		n++;
	}
	assert_int_equal(n, col->n);
	memscan_value_free(v);
	free(col);
	return out;
}

static void test_every_predicate(void **state)
{
	struct fx_state *s = *state;
	uint64_t a[4] = { s->f.arena + 0x3000, s->f.arena + 0x3010, s->f.arena + 0x3020,
		          s->f.arena + 0x5000 };
	int32_t hundred = 100, now[4] = { 100, 105, 97, -3 }, more = 106;
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *changed, *up;
	static const struct {
		memscan_value_pred_kind kind;
		const char *text;
		unsigned want; /* bits of a[] that survive */
	} cases[] = {
		{ MEMSCAN_PRED_ANY, NULL, 15 },
		{ MEMSCAN_PRED_CHANGED, NULL, 14 },
		{ MEMSCAN_PRED_UNCHANGED, NULL, 1 },
		{ MEMSCAN_PRED_INCREASED, NULL, 2 },
		{ MEMSCAN_PRED_DECREASED, NULL, 12 },
		{ MEMSCAN_PRED_INCREASED_BY, "5", 2 },
		{ MEMSCAN_PRED_DECREASED_BY, "3", 4 },
		{ MEMSCAN_PRED_DECREASED_BY, "103", 8 },
		{ MEMSCAN_PRED_DECREASED_BY, "1..200", 12 },
		{ MEMSCAN_PRED_EQ, "105", 2 },
		{ MEMSCAN_PRED_NE, "100", 14 },
		{ MEMSCAN_PRED_GT, "99", 3 },
		{ MEMSCAN_PRED_LT, "0", 8 },
		{ MEMSCAN_PRED_BETWEEN, "97..100", 5 },
	};

	for (int k = 0; k < 4; k++)
		put(&s->f, a[k], &hundred, 4);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_I32, "100", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(set), 4);
	for (int k = 1; k < 4; k++)
		put(&s->f, a[k], &now[k], 4);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		memscan_value_set_free(
		    check_narrow(s, set, cases[c].kind, cases[c].text, a, cases[c].want, 100));
	/* a narrowed set narrows again: its values are the old ones now */
	changed = check_narrow(s, set, MEMSCAN_PRED_CHANGED, NULL, a, 14, 100);
	put(&s->f, a[1], &more, 4);
	up = check_narrow(s, changed, MEMSCAN_PRED_INCREASED_BY, "1", a, 2, 105);
	memscan_value_set_free(up);
	memscan_value_set_free(changed);
	memscan_value_set_free(set);
	memscan_value_free(v);
}

static void test_unknown_then_changed(void **state)
{
	struct fx_state *s = *state;
	memscan_value_set *unk = NULL, *out = NULL;
	memscan_value_pred pred = { .kind = MEMSCAN_PRED_CHANGED };
	struct collected *col = malloc(sizeof(*col));
	uint64_t at = s->f.arena + 0x6004;
	uint8_t before[4], after[4], flip;

	assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, MEMSCAN_VALUE_U32, NULL, &unk),
	                 MEMSCAN_OK);
	assert_true(memscan_value_set_is_unknown(unk));
	assert_int_equal(memscan_value_set_count(unk), s->f.arena_len / 4);
	pread_mem(&s->f, at, before, 4);
	flip = (uint8_t)(before[2] ^ 0x40);
	put(&s->f, at + 2, &flip, 1);
	pread_mem(&s->f, at, after, 4);
	assert_int_equal(memscan_value_set_narrow(s->proc, unk, &pred, 0, &out), MEMSCAN_OK);
	collect_all(out, col);
	assert_int_equal(col->n, 1);
	assert_int_equal(col->addr[0], at);
	assert_memory_equal(col->value[0], after, 4);
	assert_memory_equal(col->old[0], before, 4);
	memscan_value_set_free(out);
	pred.kind = MEMSCAN_PRED_UNCHANGED;
	assert_int_equal(memscan_value_set_narrow(s->proc, unk, &pred, 0, &out), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(out), s->f.arena_len / 4 - 1);
	assert_false(memscan_value_set_is_unknown(out));
	memscan_value_set_free(out);
	memscan_value_set_free(unk);
	/* align 1: every slot that holds a changed byte, around two changes far apart */
	assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, MEMSCAN_VALUE_U32,
	                                            &(memscan_value_scan_options){ .align = 1 }, &unk),
	                 MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(unk), s->f.arena_len - 3);
	put(&s->f, at + 2, &before[2], 1);
	pread_mem(&s->f, at + 0x10000, after, 1);
	after[0] ^= 0x40;
	put(&s->f, at + 0x10000, after, 1);
	pred.kind = MEMSCAN_PRED_CHANGED;
	assert_int_equal(memscan_value_set_narrow(s->proc, unk, &pred, 0, &out), MEMSCAN_OK);
	collect_all(out, col);
	assert_int_equal(col->n, 8);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(col->addr[k], at - 1 + (uint64_t)k);
		assert_int_equal(col->addr[4 + k], at + 0x10000 - 3 + (uint64_t)k);
	}
	memscan_value_set_free(out);
	pred.kind = MEMSCAN_PRED_ANY; /* more survivors than the limit */
	assert_int_equal(memscan_value_set_narrow(s->proc, unk, &pred, 10, &out), MEMSCAN_ERR_LIMIT);
	assert_null(out);
	memscan_value_set_free(unk);
	free(col);
}

static void count_nothing(void *ctx, uint64_t done)
{
	(void)ctx;
	(void)done;
}

/* The bytes narrowing SET read through S's handle (what its progress reports count): PRED CHANGED. */
static uint64_t narrow_read(struct fx_state *s, const memscan_value_set *set)
{
	memscan_value_pred pred = { .kind = MEMSCAN_PRED_CHANGED };
	memscan_value_set *out = NULL;
	uint64_t done;

	assert_int_equal(memscan_process_set_progress(s->proc, count_nothing, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &pred, 0, &out), MEMSCAN_OK);
	done = atomic_load(&s->proc->progress->done);
	assert_int_equal(memscan_process_set_progress(s->proc, NULL, NULL), MEMSCAN_OK);
	memscan_value_set_free(out);
	return done;
}

/* memscan_value_set_narrow_bytes is what the narrowing then reads, exactly: an unknown-value set's
 * regions (the arena, over a 1 MiB window, with a slot straddling the windows read twice) whatever
 * its alignment, below the width too (where its slots times their width are up to 8 times more), and
 * the pages of an exact set's candidates. */
static void test_narrow_bytes(void **state)
{
	static const struct {
		memscan_value_type type;
		uint64_t align;
	} cases[] = { { MEMSCAN_VALUE_U32, 0 }, { MEMSCAN_VALUE_U32, 1 }, { MEMSCAN_VALUE_U16, 1 },
		      { MEMSCAN_VALUE_U64, 2 }, { MEMSCAN_VALUE_U8, 0 },  { MEMSCAN_VALUE_U64, 3 } };
	struct fx_state *s = *state;
	memscan_value_set *set = NULL;
	memscan_value *v = NULL;
	uint64_t bytes;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memscan_value_scan_options o = { .align = cases[i].align };

		assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, cases[i].type, &o, &set),
		                 MEMSCAN_OK);
		bytes = memscan_value_set_narrow_bytes(set);
		print_message("%s align %llu: %llu bytes, %llu slots\n",
		              memscan_value_type_name(cases[i].type), (unsigned long long)cases[i].align,
		              (unsigned long long)bytes, (unsigned long long)memscan_value_set_count(set));
		assert_true(bytes >= s->f.arena_len - 8 && bytes <= s->f.arena_len + 8);
		assert_int_equal(narrow_read(s, set), bytes);
		memscan_value_set_free(set);
	}
	/* the fixture's markers (the tests before may have changed one): candidates pages apart */
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U32, "0x00905a4d", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(
	    memscan_value_scan(s->proc, s->arena, v, &(memscan_value_scan_options){ .align = 1 }, &set),
	    MEMSCAN_OK);
	bytes = memscan_value_set_narrow_bytes(set);
	assert_true(memscan_value_set_count(set) >= 2 && bytes >= 2 * memscan_page_size());
	assert_int_equal(narrow_read(s, set), bytes);
	memscan_value_set_free(set);
	memscan_value_free(v);
	assert_int_equal(memscan_value_set_narrow_bytes(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_string_and_default_regions),
		cmocka_unit_test(test_holes_never_match),
		cmocka_unit_test(test_limit_and_bad_args),
		cmocka_unit_test(test_cancel_and_other_process),
		cmocka_unit_test(test_every_predicate),
		cmocka_unit_test(test_unknown_then_changed),
		cmocka_unit_test(test_narrow_bytes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
