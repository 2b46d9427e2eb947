/* SPDX-License-Identifier: MIT */
/* Unit tests of values_file.c: exact and unknown-value sets of the fixture saved and loaded whole
 * (same candidates, values and old values; a loaded set narrows), and damaged files refused. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <memscan/memscan.h>
#include "snapfile.h"
#include "testutil.h"

struct fx_state {
	ms_fixture f;
	memscan_process *proc;
	memscan_region_list *arena;
	char dir[256];
};

static int setup(void **state)
{
	struct fx_state *s = calloc(1, sizeof(*s));

	if (!s || ms_fixture_start_arena(&s->f, NULL, &s->proc, &s->arena) != 0)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "%s", ms_tmpdir());
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct fx_state *s = *state;

	ms_tmpdir_remove(s->dir);
	memscan_region_list_free(s->arena);
	memscan_process_free(s->proc);
	ms_fixture_stop(&s->f);
	free(s);
	return 0;
}

/* Each candidate as address, width, value and old value (0xff.. when none), in 32 bytes. */
struct flat {
	uint8_t *rows;
	size_t n, cap;
};

static int flatten(void *ctx, const memscan_candidate *c)
{
	struct flat *fl = ctx;
	uint8_t row[32];

	memset(row, 0xff, sizeof(row));
	memcpy(row, &c->address, 8);
	row[8] = (uint8_t)c->width;
	memcpy(row + 12, c->value, c->width);
	if (c->old)
		memcpy(row + 20, c->old, c->width);
	if (fl->n < fl->cap)
		memcpy(fl->rows + 32 * fl->n, row, 32);
	fl->n++;
	return 0;
}

/* Asserts that A and B hold the same candidates with the same values. */
static void assert_same_sets(const memscan_value_set *a, const memscan_value_set *b)
{
	struct flat fa = { .cap = 4096 }, fb = { .cap = 4096 };

	assert_int_equal(memscan_value_set_count(a), memscan_value_set_count(b));
	assert_int_equal(memscan_value_set_type(a), memscan_value_set_type(b));
	assert_int_equal(memscan_value_set_is_unknown(a), memscan_value_set_is_unknown(b));
	assert_int_equal(memscan_value_set_pid(a), memscan_value_set_pid(b));
	assert_int_equal(memscan_value_set_start_time(a), memscan_value_set_start_time(b));
	fa.rows = malloc(32 * fa.cap);
	fb.rows = malloc(32 * fb.cap);
	assert_int_equal(memscan_value_set_foreach(a, 0, flatten, &fa), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_foreach(b, 0, flatten, &fb), MEMSCAN_OK);
	assert_int_equal(fa.n, fb.n);
	assert_memory_equal(fa.rows, fb.rows, 32 * (fa.n < fa.cap ? fa.n : fa.cap));
	free(fa.rows);
	free(fb.rows);
}

static memscan_value_set *save_load(const memscan_value_set *set, const char *path)
{
	memscan_value_set *back = NULL;

	assert_int_equal(memscan_value_set_save(set, path), MEMSCAN_OK);
	assert_int_equal(ms_mode_of(path) & 0777, 0600);
	assert_int_equal(memscan_value_set_load(path, &back), MEMSCAN_OK);
	assert_same_sets(set, back);
	return back;
}

static void test_exact_round_trip(void **state)
{
	struct fx_state *s = *state;
	char path[300];
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *narrowed = NULL, *back = NULL, *again = NULL;
	memscan_value_pred any = { .kind = MEMSCAN_PRED_ANY };

	snprintf(path, sizeof(path), "%s/exact.set", s->dir);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_true(memscan_value_set_count(set) >= 1000); /* 7 every 256 arena bytes */
	memscan_value_set_free(save_load(set, path));
	/* with old values, and a loaded set narrows like the original */
	assert_int_equal(memscan_value_set_narrow(s->proc, set, &any, 0, &narrowed), MEMSCAN_OK);
	back = save_load(narrowed, path);
	assert_int_equal(memscan_value_set_narrow(s->proc, back, &any, 0, &again), MEMSCAN_OK);
	assert_same_sets(again, narrowed);
	memscan_value_set_free(again);
	memscan_value_set_free(back);
	memscan_value_set_free(narrowed);
	memscan_value_set_free(set);
	memscan_value_free(v);
}

static void test_unknown_round_trip(void **state)
{
	struct fx_state *s = *state;
	char path[300];
	memscan_value_set *set = NULL, *back = NULL, *changed = NULL;
	memscan_value_pred pred = { .kind = MEMSCAN_PRED_CHANGED };
	size_t len = 0;
	uint8_t *bytes;

	snprintf(path, sizeof(path), "%s/unknown.set", s->dir);
	assert_int_equal(memscan_value_scan_unknown(s->proc, s->arena, MEMSCAN_VALUE_I16, NULL, &set),
	                 MEMSCAN_OK);
	back = save_load(set, path);
	bytes = ms_file_read(path, &len);
	assert_true(len >= s->f.arena_len); /* the regions' bytes */
	free(bytes);
	assert_int_equal(ms_fixture_cmd(&s->f, "set %llx 5a", (unsigned long long)s->f.arena + 0x1001), 0);
	assert_int_equal(memscan_value_set_narrow(s->proc, back, &pred, 0, &changed), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_count(changed), 1);
	memscan_value_set_free(changed);
	memscan_value_set_free(back);
	memscan_value_set_free(set);
}

/* Loading DATA (LEN bytes) written to PATH fails with ERR. */
static void load_fails(const char *path, const uint8_t *data, size_t len, int err)
{
	memscan_value_set *set = (memscan_value_set *)1;

	ms_write_file(path, data, len, 0600);
	assert_int_equal(memscan_value_set_load(path, &set), err);
	assert_null(set);
}

static void test_damaged_files(void **state)
{
	struct fx_state *s = *state;
	char path[300], bad[300];
	memscan_value *v = NULL;
	memscan_value_set *set = NULL;
	uint8_t *good, *copy;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/good.set", s->dir);
	snprintf(bad, sizeof(bad), "%s/bad.set", s->dir);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_save(set, path), MEMSCAN_OK);
	good = ms_file_read(path, &len);
	copy = malloc(len);
	for (size_t at = 0; at < len; at += len / 7 + 1) { /* one flipped bit anywhere */
		memcpy(copy, good, len);
		copy[at] ^= 0x10;
		ms_write_file(bad, copy, len, 0600);
		assert_int_not_equal(memscan_value_set_load(bad, &(memscan_value_set *){ NULL }), MEMSCAN_OK);
	}
	memcpy(copy, good, len);
	copy[len - 17] ^= 1; /* the last value, before the trailer: only the checksum sees it */
	load_fails(bad, copy, len, MEMSCAN_ERR_BAD_FORMAT);
	load_fails(bad, good, len - 9, MEMSCAN_ERR_TRUNCATED);
	load_fails(bad, good, 40, MEMSCAN_ERR_TRUNCATED);
	memcpy(copy, good, len);
	copy[8] = 3; /* version */
	load_fails(bad, copy, len, MEMSCAN_ERR_UNSUPPORTED_VERSION);
	memcpy(copy, good, len);
	copy[0] = 'X';
	load_fails(bad, copy, len, MEMSCAN_ERR_BAD_FORMAT);
	memscan_value_set_free(set);
	assert_int_equal(memscan_value_set_load("/nonexistent/x.set", &set), MEMSCAN_ERR_IO);
	assert_null(set);
	free(copy);
	free(good);
	memscan_value_free(v);
}

/* Rewrites the checksum of a set file (DATA, LEN bytes) so that only the other checks see a change. */
static void reseal(uint8_t *data, size_t len)
{
	put_u64(data + len - 8, sf_sum_buf(data, len - 8));
}

struct v1_file {
	uint8_t *data;
	size_t len, at;
};

static int put_address(void *ctx, const memscan_candidate *c)
{
	struct v1_file *v = ctx;

	put_u64(v->data + v->at, c->address);
	v->at += 8;
	return 0;
}

/* Version 2 files are read and compact; version 1 files (u64 addresses) are still read; damaged
 * address steps are refused even when the checksum matches. */
static void test_versions_and_steps(void **state)
{
	struct fx_state *s = *state;
	char path[300], bad[300];
	memscan_value *v = NULL;
	memscan_value_set *set = NULL, *back = NULL;
	uint8_t *good, *copy;
	size_t len = 0, n, w, cand, steps, vals;
	struct v1_file v1;

	snprintf(path, sizeof(path), "%s/v2.set", s->dir);
	snprintf(bad, sizeof(bad), "%s/bad.set", s->dir);
	assert_int_equal(memscan_value_parse(MEMSCAN_VALUE_U8, "7", NULL, &v, NULL), MEMSCAN_OK);
	assert_int_equal(memscan_value_scan(s->proc, s->arena, v, NULL, &set), MEMSCAN_OK);
	assert_int_equal(memscan_value_set_save(set, path), MEMSCAN_OK);
	good = ms_file_read(path, &len);
	n = memscan_value_set_count(set);
	w = memscan_value_set_width(set);
	assert_int_equal(get_u32(good + 8), 2);
	/* the candidates follow the header and the one region record */
	cand = 64 + 56 + strlen(memscan_region_list_get(s->arena, 0)->path);
	steps = get_u64(good + cand);
	vals = cand + 8 + steps;
	assert_int_equal(vals + n * w + 16, len);
	assert_true(steps <= 2 * n + 8);        /* 7 every 256 bytes: 2-byte steps, not 8-byte addresses */
	assert_int_equal(good[vals - 2], 0x80); /* the last step: 256 */
	assert_int_equal(good[vals - 1], 0x02);

	/* the same set as a version 1 file */
	v1.len = cand + 8 * n + n * w + 16;
	v1.data = malloc(v1.len);
	memcpy(v1.data, good, cand);
	put_u32(v1.data + 8, 1);
	v1.at = cand;
	assert_int_equal(memscan_value_set_foreach(set, 0, put_address, &v1), MEMSCAN_OK);
	memcpy(v1.data + v1.at, good + vals, n * w);
	memcpy(v1.data + v1.len - 16, "MSVSEND\n", 8);
	reseal(v1.data, v1.len);
	ms_write_file(bad, v1.data, v1.len, 0600);
	assert_int_equal(memscan_value_set_load(bad, &back), MEMSCAN_OK);
	assert_same_sets(set, back);
	memscan_value_set_free(back);
	v1.data[cand + 8 + 3] ^= 0x40; /* a v1 address out of its region */
	reseal(v1.data, v1.len);
	load_fails(bad, v1.data, v1.len, MEMSCAN_ERR_BAD_FORMAT);

	copy = malloc(len);
	/* the steps' byte count one more (a byte after the last step) and one less (a step cut short) */
	for (int d = -1; d <= 1; d += 2) {
		memcpy(copy, good, len);
		put_u64(copy + cand, steps + (uint64_t)(int64_t)d);
		reseal(copy, len);
		load_fails(bad, copy, len, MEMSCAN_ERR_BAD_FORMAT);
	}
	/* the last step as 0 (not ascending), as 5 in two bytes (not the shortest form), and the
	 * first step far past the regions */
	static const uint8_t last[2][2] = { { 0x00, 0x00 }, { 0x85, 0x00 } };
	for (int k = 0; k < 2; k++) {
		memcpy(copy, good, len);
		memcpy(copy + vals - 2, last[k], 2);
		reseal(copy, len);
		load_fails(bad, copy, len, MEMSCAN_ERR_BAD_FORMAT);
	}
	memcpy(copy, good, len);
	for (size_t k = cand + 8; k < vals; k++)
		if (!(copy[k] & 0x80)) {
			copy[k] = 0x7f; /* the first step's last byte: its top bits */
			break;
		}
	reseal(copy, len);
	load_fails(bad, copy, len, MEMSCAN_ERR_BAD_FORMAT);
	/* a resealed good file still loads: the checks above failed on the steps alone */
	memcpy(copy, good, len);
	reseal(copy, len);
	ms_write_file(bad, copy, len, 0600);
	assert_int_equal(memscan_value_set_load(bad, &back), MEMSCAN_OK);
	memscan_value_set_free(back);
	free(copy);
	free(v1.data);
	free(good);
	memscan_value_set_free(set);
	memscan_value_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_round_trip),
		cmocka_unit_test(test_unknown_round_trip),
		cmocka_unit_test(test_damaged_files),
		cmocka_unit_test(test_versions_and_steps),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
