/* SPDX-License-Identifier: MIT */
/* Output of the CLI's value commands: candidates as text or JSON lines, with module and offset. */
#include "vout.h"

#include <math.h>
#include <string.h>

#include "output.h"

/* The little-endian unsigned number of WIDTH bytes at P. */
static uint64_t load_le(const uint8_t *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = width; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

/* V sign-extended from WIDTH bytes. */
static int64_t sign_extend(uint64_t v, size_t width)
{
	unsigned shift = (unsigned)(64 - 8 * width);

	return (int64_t)(v << shift) >> shift;
}

/* A float as text that reads back to the same number (%.9g for f32, %.17g for f64). Not-a-number and
 * infinities, which JSON has no number for, are JSON strings. */
static void print_float(FILE *out, double d, int digits, int json)
{
	const char *q = json ? "\"" : "";

	if (isnan(d))
		fprintf(out, "%snan%s", q, q);
	else if (isinf(d))
		fprintf(out, "%s%sinf%s", q, d < 0 ? "-" : "", q);
	else
		fprintf(out, "%.*g", digits, d);
}

void cli_vout_value(FILE *out, memscan_value_type type, const uint8_t *bytes, size_t width, int json)
{
	uint64_t u = width <= 8 ? load_le(bytes, width) : 0;
	float f;
	double d;

	switch (type) {
	case MEMSCAN_VALUE_I8:
	case MEMSCAN_VALUE_I16:
	case MEMSCAN_VALUE_I32:
	case MEMSCAN_VALUE_I64:
		fprintf(out, "%lld", (long long)sign_extend(u, width));
		break;
	case MEMSCAN_VALUE_F32:
		memcpy(&f, bytes, sizeof(f));
		print_float(out, f, 9, json);
		break;
	case MEMSCAN_VALUE_F64:
		memcpy(&d, bytes, sizeof(d));
		print_float(out, d, 17, json);
		break;
	case MEMSCAN_VALUE_STR:
		out_json_strn(out, (const char *)bytes, width);
		break;
	default:
		fprintf(out, "%llu", (unsigned long long)u);
		break;
	}
}

static uint64_t module_base(const memscan_region_list *maps, const char *path)
{
	size_t n = memscan_region_list_count(maps);
	uint64_t base = UINT64_MAX;

	for (size_t i = 0; i < n; i++) {
		const memscan_region *r = memscan_region_list_get(maps, i);

		if (!strcmp(r->path, path) && r->start < base)
			base = r->start;
	}
	return base;
}

/* The region of the process's map holding ADDR if it has a path (a file or a name like [heap]), and
 * in *RET_BASE the lowest address any region of that path starts at; else NULL. */
static const memscan_region *module_of(struct cli_vout *v, uint64_t addr, uint64_t *ret_base)
{
	size_t i = v->maps ? memscan_region_list_find(v->maps, addr) : SIZE_MAX;
	const memscan_region *r = i == SIZE_MAX ? NULL : memscan_region_list_get(v->maps, i);

	if (!r || !r->path[0])
		return NULL;
	if (i != v->cached) {
		v->cached = i;
		v->cached_base = module_base(v->maps, r->path);
	}
	*ret_base = v->cached_base;
	return r;
}

static const char *base_name(const char *path)
{
	const char *slash = path[0] == '[' ? NULL : strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void print_json(struct cli_vout *v, const memscan_candidate *c)
{
	const memscan_region *m;
	uint64_t base;

	fprintf(v->out, "{\"address\":\"0x%llx\",\"type\":\"%s\",\"value\":", (unsigned long long)c->address,
	        memscan_value_type_name(v->type));
	cli_vout_value(v->out, v->type, c->value, c->width, 1);
	if (c->old) {
		fputs(",\"old\":", v->out);
		cli_vout_value(v->out, v->type, c->old, c->width, 1);
	}
	m = module_of(v, c->address, &base);
	if (m) {
		fputs(",\"module\":", v->out);
		out_json_str(v->out, base_name(m->path));
		fprintf(v->out, ",\"offset\":\"0x%llx\"", (unsigned long long)(c->address - base));
	}
	fputs("}\n", v->out);
}

static void print_text(struct cli_vout *v, const memscan_candidate *c)
{
	const memscan_region *m;
	uint64_t base;

	fprintf(v->out, "0x%llx  %s  ", (unsigned long long)c->address, memscan_value_type_name(v->type));
	cli_vout_value(v->out, v->type, c->value, c->width, 0);
	if (c->old) {
		fputs("  (was ", v->out);
		cli_vout_value(v->out, v->type, c->old, c->width, 0);
		fputc(')', v->out);
	}
	m = module_of(v, c->address, &base);
	if (m) {
		fputs("  ", v->out);
		out_text_str(v->out, base_name(m->path));
		fprintf(v->out, "+0x%llx", (unsigned long long)(c->address - base));
	}
	fputc('\n', v->out);
}

static int on_candidate(void *ctx, const memscan_candidate *c)
{
	struct cli_vout *v = ctx;

	if (v->printed >= v->max)
		return 1;
	if (v->json)
		print_json(v, c);
	else
		print_text(v, c);
	v->printed++;
	return 0;
}

void cli_vout_init(struct cli_vout *v, const struct cli_vset *set, FILE *out, int json, uint64_t max)
{
	memscan_region_list *maps = NULL;

	memset(v, 0, sizeof(*v));
	v->out = out;
	v->json = json;
	v->max = max;
	v->type = cli_vset_type(set);
	v->cached = SIZE_MAX;
	/* without the map, candidates print without module names (the map may be refused or gone) */
	if (cli_vset_regions(set, &maps) == MEMSCAN_OK)
		v->maps = maps;
}

void cli_vout_release(struct cli_vout *v)
{
	memscan_region_list_free(v->maps);
	v->maps = NULL;
}

int cli_vout_print(struct cli_vout *v, const struct cli_vset *set)
{
	uint64_t count = cli_vset_count(set);
	int err;

	v->printed = 0;
	if (v->max == 0)
		return MEMSCAN_OK;
	err = cli_vset_foreach(set, 0, on_candidate, v);
	if (err != MEMSCAN_OK && err != MEMSCAN_ERR_STOPPED)
		return err;
	if (!v->json && !v->no_rest && count > v->printed)
		fprintf(v->out, "... and %llu more\n", (unsigned long long)(count - v->printed));
	return MEMSCAN_OK;
}
