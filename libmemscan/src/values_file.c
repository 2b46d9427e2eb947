/* SPDX-License-Identifier: MIT */
/* Candidate set files (docs/value-set-format.md): save and load, versioned and checksummed with the
 * snapshot files' MSSUM64. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "internal.h"
#include "snapfile.h"
#include "values.h"

#define VF_MAGIC         "\x89MSVSET\n"
#define VF_TRAILER_MAGIC "MSVSEND\n"
#define VF_VERSION       2u /* what the writer writes; the reader also reads version 1 */
#define VF_VERSION_1     1u
#define VF_HEADER_SIZE   64u
#define VF_REGION_SIZE   SF_REGION_FIELDS
#define VF_FLAG_UNKNOWN  1u
#define VF_FLAG_OLD      2u
/* Exact sets' addresses (version 2): LEB128 numbers, each the distance from the previous address (the
 * first: from 0) in units of the alignment, at most VF_LEB_MAX bytes each; written and read through a
 * buffer of VF_CHUNK bytes. */
#define VF_LEB_MAX 10u
#define VF_CHUNK   ((size_t)64 << 10)

/* An output file and the checksum of what was written to it; the first failure sticks. */
struct vf_out {
	FILE *f;
	struct sf_sum sum;
	int err;
};

static void out_put(struct vf_out *o, const void *p, size_t n)
{
	if (o->err || n == 0)
		return;
	sf_sum_update(&o->sum, p, n);
	if (fwrite(p, 1, n, o->f) != n)
		o->err = MEMSCAN_ERR_IO;
}

static void out_u64(struct vf_out *o, uint64_t v)
{
	uint8_t b[8];

	put_u64(b, v);
	out_put(o, b, 8);
}

static void write_header(struct vf_out *o, const memscan_value_set *s)
{
	uint8_t h[VF_HEADER_SIZE] = { 0 };

	memcpy(h, VF_MAGIC, 8);
	put_u32(h + 8, VF_VERSION);
	put_u32(h + 12, (uint32_t)s->type);
	put_u32(h + 16, (uint32_t)s->width);
	put_u32(h + 20, (s->snap ? VF_FLAG_UNKNOWN : 0) | (s->old ? VF_FLAG_OLD : 0));
	put_u64(h + 24, s->align);
	put_u32(h + 32, (uint32_t)s->pid);
	put_u64(h + 40, s->start_time);
	put_u64(h + 48, s->count);
	put_u64(h + 56, memscan_region_list_count(s->regions));
	out_put(o, h, sizeof(h));
}

static void write_regions(struct vf_out *o, const memscan_value_set *s)
{
	for (size_t i = 0; i < memscan_region_list_count(s->regions); i++) {
		const memscan_region *rg = memscan_region_list_get(s->regions, i);
		uint8_t b[VF_REGION_SIZE];
		size_t plen = strlen(rg->path);
		sf_put_region(b, rg, (uint32_t)plen);
		out_put(o, b, sizeof(b));
		out_put(o, rg->path, plen);
	}
}

/* The LEB128 form of V into B (VF_LEB_MAX bytes): its length. */
static size_t leb_put(uint8_t *b, uint64_t v)
{
	size_t n = 0;

	do {
		uint8_t c = (uint8_t)(v & 0x7f);
		v >>= 7;
		b[n++] = (uint8_t)(c | (v ? 0x80 : 0));
	} while (v);
	return n;
}

/* The distance of candidate I from the one before it, in units of S's alignment. */
static uint64_t addr_step(const memscan_value_set *s, uint64_t i)
{
	return (s->addr[i] - (i ? s->addr[i - 1] : 0)) / s->align;
}

/* The addresses of an exact set: their bytes (u64), then their LEB128 steps. */
static void write_addresses(struct vf_out *o, const memscan_value_set *s)
{
	uint8_t *buf = malloc(VF_CHUNK), b[VF_LEB_MAX];
	uint64_t total = 0;
	size_t used = 0;

	if (!buf) {
		o->err = MEMSCAN_ERR_NO_MEMORY;
		return;
	}
	for (uint64_t i = 0; i < s->count; i++)
		total += leb_put(b, addr_step(s, i));
	out_u64(o, total);
	for (uint64_t i = 0; i < s->count; i++) {
		if (VF_CHUNK - used < VF_LEB_MAX) {
			out_put(o, buf, used);
			used = 0;
		}
		used += leb_put(buf + used, addr_step(s, i));
	}
	out_put(o, buf, used);
	free(buf);
}

static void write_candidates(struct vf_out *o, const memscan_value_set *s)
{
	if (!s->snap) {
		write_addresses(o, s);
		out_put(o, s->cur, (size_t)s->count * s->width);
		if (s->old)
			out_put(o, s->old, (size_t)s->count * s->width);
		return;
	}
	out_u64(o, memscan_snapshot_region_count(s->snap));
	for (size_t i = 0; i < memscan_snapshot_region_count(s->snap); i++) {
		memscan_snapshot_region sr = memscan_snapshot_get(s->snap, i);
		out_u64(o, sr.region.start);
		out_u64(o, sr.region.end);
		out_u64(o, sr.holes->count);
		for (size_t h = 0; h < sr.holes->count; h++) {
			out_u64(o, sr.holes->items[h].start);
			out_u64(o, sr.holes->items[h].end);
		}
		out_put(o, sr.data, (size_t)(sr.region.end - sr.region.start));
	}
}

int memscan_value_set_save(const memscan_value_set *set, const char *path)
{
	struct vf_out o = { 0 };
	ms_afile af;
	uint8_t b[8];
	int r;

	if (!set || !path)
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_afile_open(&af, path); /* mode 0600: a set holds the target's memory */
	if (r != MEMSCAN_OK)
		return r;
	o.f = ms_afile_stream(&af);
	if (!o.f) {
		ms_afile_abort(&af);
		return MEMSCAN_ERR_IO;
	}
	sf_sum_init(&o.sum);
	write_header(&o, set);
	write_regions(&o, set);
	write_candidates(&o, set);
	out_put(&o, VF_TRAILER_MAGIC, 8);
	put_u64(b, sf_sum_final(&o.sum));
	out_put(&o, b, 8);
	if (o.err != MEMSCAN_OK) {
		ms_afile_abort(&af);
		return o.err;
	}
	return ms_afile_commit(&af);
}

/* An input file: the bytes left in it and the checksum of what was read. */
struct vf_in {
	FILE *f;
	uint64_t left;
	struct sf_sum sum;
};

static int in_get(struct vf_in *in, void *p, size_t n)
{
	if (n > in->left)
		return MEMSCAN_ERR_TRUNCATED;
	if (n && fread(p, 1, n, in->f) != n)
		return ferror(in->f) ? MEMSCAN_ERR_IO : MEMSCAN_ERR_TRUNCATED;
	in->left -= n;
	sf_sum_update(&in->sum, p, n);
	return MEMSCAN_OK;
}

static int in_u64(struct vf_in *in, uint64_t *v)
{
	uint8_t b[8];
	int r = in_get(in, b, 8);

	*v = get_u64(b);
	return r;
}

static int read_header(struct vf_in *in, memscan_value_set *s, uint32_t *flags, uint64_t *nregions,
                       uint32_t *version)
{
	uint8_t h[VF_HEADER_SIZE];
	size_t size;
	int r = in_get(in, h, sizeof(h));

	if (r != MEMSCAN_OK)
		return r;
	if (memcmp(h, VF_MAGIC, 8) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	*version = get_u32(h + 8);
	if (*version != VF_VERSION && *version != VF_VERSION_1)
		return MEMSCAN_ERR_UNSUPPORTED_VERSION;
	s->type = (memscan_value_type)get_u32(h + 12);
	s->width = get_u32(h + 16);
	*flags = get_u32(h + 20);
	s->align = get_u64(h + 24);
	s->pid = (int)get_u32(h + 32);
	s->start_time = get_u64(h + 40);
	s->count = get_u64(h + 48);
	*nregions = get_u64(h + 56);
	size = memscan_value_type_size(s->type);
	if (s->type < MEMSCAN_VALUE_I8 || s->type > MEMSCAN_VALUE_STR ||
	    (size ? s->width != size : s->width == 0 || s->width > MEMSCAN_VALUE_STR_MAX) ||
	    (*flags & ~(VF_FLAG_UNKNOWN | VF_FLAG_OLD)) || s->align == 0 || s->pid <= 0 ||
	    get_u32(h + 36) != 0 || ((*flags & VF_FLAG_UNKNOWN) && (size == 0 || (*flags & VF_FLAG_OLD))) ||
	    *nregions > SF_MAX_REGIONS || (!(*flags & VF_FLAG_UNKNOWN) && s->count > MEMSCAN_VALUE_SET_MAX))
		return MEMSCAN_ERR_BAD_FORMAT;
	return MEMSCAN_OK;
}

static int read_regions(struct vf_in *in, memscan_value_set *s, uint64_t n)
{
	char *path = malloc(SF_MAX_PATH + 1);
	int r = path ? memscan_region_list_new(&s->regions) : MEMSCAN_ERR_NO_MEMORY;
	uint64_t prev_end = 0;

	for (uint64_t i = 0; r == MEMSCAN_OK && i < n; i++) {
		uint8_t b[VF_REGION_SIZE];
		memscan_region rg = { 0 };
		uint32_t plen;
		r = in_get(in, b, sizeof(b));
		if (r != MEMSCAN_OK)
			break;
		rg.path = path;
		if (sf_get_region(b, &rg, &plen) != MEMSCAN_OK || rg.start < prev_end) {
			r = MEMSCAN_ERR_BAD_FORMAT;
			break;
		}
		r = in_get(in, path, plen);
		path[plen] = '\0';
		if (r == MEMSCAN_OK && strlen(path) != plen)
			r = MEMSCAN_ERR_BAD_FORMAT; /* a NUL inside the path */
		if (r == MEMSCAN_OK)
			r = memscan_region_list_add(s->regions, &rg);
		prev_end = rg.end;
	}
	free(path);
	return r;
}

/* Checks candidate I's address A against the one before (PREV) and S's regions and alignment. */
static int check_addr(const memscan_value_set *s, uint64_t i, uint64_t a, uint64_t prev)
{
	if ((i && a <= prev) || a % s->align || memscan_region_list_find(s->regions, a) == SIZE_MAX)
		return MEMSCAN_ERR_BAD_FORMAT; /* out of order, unaligned, or outside the set's regions */
	return MEMSCAN_OK;
}

/* Version 1: COUNT u64 addresses. */
static int read_addresses_v1(struct vf_in *in, memscan_value_set *s)
{
	int r = MEMSCAN_OK;

	for (uint64_t i = 0; r == MEMSCAN_OK && i < s->count; i++) {
		r = in_u64(in, &s->addr[i]);
		if (r == MEMSCAN_OK)
			r = check_addr(s, i, s->addr[i], i ? s->addr[i - 1] : 0);
	}
	return r;
}

/* One LEB128 number from P (AVAIL bytes) into *V: its length, or 0 when it is cut short, longer than
 * VF_LEB_MAX bytes, beyond 64 bits or not in its shortest form. */
static size_t leb_get(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t n = 0; n < avail && n < VF_LEB_MAX; n++) {
		uint64_t bits = p[n] & 0x7f;
		if (n == VF_LEB_MAX - 1 && bits > 1)
			return 0; /* past 64 bits */
		x |= bits << (7 * n);
		if (!(p[n] & 0x80)) {
			*v = x;
			return n && !p[n] ? 0 : n + 1; /* a last byte 0 after others: not the shortest form */
		}
	}
	return 0;
}

/* The chunked input of the address steps: BUF holds HAVE bytes, POS of them used; LEFT are in the
 * file still. */
struct vf_steps {
	uint8_t *buf;
	size_t have, pos;
	uint64_t left;
};

/* Makes sure a whole number (VF_LEB_MAX bytes) is in the buffer when the stream holds one. */
static int steps_fill(struct vf_in *in, struct vf_steps *st)
{
	size_t take;
	int r;

	if (st->have - st->pos >= VF_LEB_MAX || st->left == 0)
		return MEMSCAN_OK;
	memmove(st->buf, st->buf + st->pos, st->have - st->pos);
	st->have -= st->pos;
	st->pos = 0;
	take = st->left < VF_CHUNK - st->have ? (size_t)st->left : VF_CHUNK - st->have;
	r = in_get(in, st->buf + st->have, take);
	st->have += take;
	st->left -= take;
	return r;
}

/* Version 2: the byte count of the steps, then COUNT LEB128 steps (see VF_LEB_MAX). */
static int read_addresses_v2(struct vf_in *in, memscan_value_set *s, uint64_t values_bytes)
{
	struct vf_steps st = { 0 };
	uint64_t prev = 0, step;
	int r = in_u64(in, &st.left);

	if (r != MEMSCAN_OK)
		return r;
	if (st.left < s->count || st.left / VF_LEB_MAX > s->count)
		return MEMSCAN_ERR_BAD_FORMAT; /* each step is 1 to VF_LEB_MAX bytes */
	if (st.left > in->left || values_bytes > in->left - st.left)
		return MEMSCAN_ERR_TRUNCATED;
	st.buf = malloc(VF_CHUNK);
	if (!st.buf)
		return MEMSCAN_ERR_NO_MEMORY;
	for (uint64_t i = 0; r == MEMSCAN_OK && i < s->count; i++) {
		size_t n;
		r = steps_fill(in, &st);
		if (r != MEMSCAN_OK)
			break;
		n = leb_get(st.buf + st.pos, st.have - st.pos, &step);
		if (n == 0 || step == 0 || step > (UINT64_MAX - prev) / s->align) {
			r = MEMSCAN_ERR_BAD_FORMAT; /* malformed, not ascending, or past the address space */
			break;
		}
		st.pos += n;
		s->addr[i] = prev + step * s->align;
		r = check_addr(s, i, s->addr[i], prev);
		prev = s->addr[i];
	}
	if (r == MEMSCAN_OK && (st.pos != st.have || st.left != 0))
		r = MEMSCAN_ERR_BAD_FORMAT; /* bytes after the last step */
	free(st.buf);
	return r;
}

static int read_exact(struct vf_in *in, memscan_value_set *s, int has_old, uint32_t version)
{
	uint64_t n = s->count, values = n * (has_old ? 2 : 1) * (uint64_t)s->width;
	int r;

	/* the least the candidates take: for version 2, a byte count and a byte per address */
	if (values + (version == VF_VERSION_1 ? 8 * n : 8 + n) > in->left)
		return MEMSCAN_ERR_TRUNCATED;
	s->max = (size_t)(n > MEMSCAN_VALUE_SET_MAX_DEFAULT ? n : MEMSCAN_VALUE_SET_MAX_DEFAULT);
	s->addr = malloc((size_t)n * 8 + 1);
	s->cur = malloc((size_t)n * s->width + 1);
	s->old = has_old ? malloc((size_t)n * s->width + 1) : NULL;
	if (!s->addr || !s->cur || (has_old && !s->old))
		return MEMSCAN_ERR_NO_MEMORY;
	s->cap_addr = (size_t)n;
	s->cap_cur = s->cap_old = (size_t)n * s->width;
	r = version == VF_VERSION_1 ? read_addresses_v1(in, s) : read_addresses_v2(in, s, values);
	if (r == MEMSCAN_OK)
		r = in_get(in, s->cur, (size_t)n * s->width);
	if (r == MEMSCAN_OK && has_old)
		r = in_get(in, s->old, (size_t)n * s->width);
	return r;
}

static int read_snapshot_region(struct vf_in *in, memscan_value_set *s, uint64_t *prev_end)
{
	uint64_t start, end, nholes, hprev = 0;
	memscan_region rg = { .kind = MEMSCAN_KIND_ANON, .path = "" };
	uint8_t *data = NULL;
	int r = in_u64(in, &start);

	if (r == MEMSCAN_OK)
		r = in_u64(in, &end);
	if (r == MEMSCAN_OK)
		r = in_u64(in, &nholes);
	if (r != MEMSCAN_OK)
		return r;
	if (start >= end || start < *prev_end || end - start > SF_MAX_REGION || nholes > (end - start) ||
	    memscan_region_list_find(s->regions, start) == SIZE_MAX ||
	    memscan_region_list_find(s->regions, end - 1) != memscan_region_list_find(s->regions, start))
		return MEMSCAN_ERR_BAD_FORMAT; /* not inside one region of the set */
	if (nholes * 16 + (end - start) > in->left)
		return MEMSCAN_ERR_TRUNCATED;
	rg.start = start;
	rg.end = end;
	*prev_end = end;
	r = memscan_snapshot_add_region(s->snap, &rg, &data);
	for (uint64_t h = 0; r == MEMSCAN_OK && h < nholes; h++) {
		memscan_range hole;
		r = in_u64(in, &hole.start);
		if (r == MEMSCAN_OK)
			r = in_u64(in, &hole.end);
		if (r == MEMSCAN_OK && !sf_hole_valid(hole.start, hole.end, start, end, hprev))
			r = MEMSCAN_ERR_BAD_FORMAT;
		if (r == MEMSCAN_OK)
			r = memscan_snapshot_add_hole(s->snap, hole);
		hprev = hole.end;
	}
	return r == MEMSCAN_OK ? in_get(in, data, (size_t)(end - start)) : r;
}

static int read_unknown(struct vf_in *in, memscan_value_set *s)
{
	uint64_t n, prev_end = 0;
	int r = in_u64(in, &n);

	if (r == MEMSCAN_OK && n > SF_MAX_REGIONS)
		r = MEMSCAN_ERR_BAD_FORMAT;
	if (r == MEMSCAN_OK)
		r = memscan_snapshot_new(s->pid, 0, &s->snap);
	for (uint64_t i = 0; r == MEMSCAN_OK && i < n; i++)
		r = read_snapshot_region(in, s, &prev_end);
	if (r == MEMSCAN_OK && ms_value_set_count_unknown(s) != s->count)
		r = MEMSCAN_ERR_BAD_FORMAT;
	return r;
}

static int read_trailer(struct vf_in *in)
{
	uint64_t want = 0;
	uint8_t t[8], b[8];
	int r = in_get(in, t, 8);

	if (r == MEMSCAN_OK)
		want = sf_sum_final(&in->sum);
	if (r == MEMSCAN_OK)
		r = in_get(in, b, 8);
	if (r != MEMSCAN_OK)
		return r;
	if (memcmp(t, VF_TRAILER_MAGIC, 8) != 0 || get_u64(b) != want || in->left != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	return MEMSCAN_OK;
}

int memscan_value_set_load(const char *path, memscan_value_set **ret_set)
{
	struct vf_in in = { 0 };
	memscan_value_set *s = NULL;
	struct stat st;
	uint64_t nregions = 0;
	uint32_t flags = 0, version = 0;
	int r;

	if (ret_set)
		*ret_set = NULL;
	if (!path || !ret_set)
		return MEMSCAN_ERR_INVALID_ARG;
	in.f = fopen(path, "rb");
	if (!in.f)
		return MEMSCAN_ERR_IO;
	s = calloc(1, sizeof(*s));
	r = s ? MEMSCAN_OK : MEMSCAN_ERR_NO_MEMORY;
	if (r == MEMSCAN_OK && fstat(fileno(in.f), &st) != 0)
		r = MEMSCAN_ERR_IO;
	in.left = r == MEMSCAN_OK ? (uint64_t)st.st_size : 0;
	sf_sum_init(&in.sum);
	if (r == MEMSCAN_OK)
		r = read_header(&in, s, &flags, &nregions, &version);
	if (r == MEMSCAN_OK)
		r = read_regions(&in, s, nregions);
	if (r == MEMSCAN_OK)
		r = flags & VF_FLAG_UNKNOWN ? read_unknown(&in, s)
		                            : read_exact(&in, s, !!(flags & VF_FLAG_OLD), version);
	if (r == MEMSCAN_OK)
		r = read_trailer(&in);
	fclose(in.f);
	if (r != MEMSCAN_OK) {
		memscan_value_set_free(s);
		return r;
	}
	*ret_set = s;
	return MEMSCAN_OK;
}
