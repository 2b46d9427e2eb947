/* SPDX-License-Identifier: MIT */
/* Pointer chains: their text form, lists of them, and chains files (docs/pointer-format.md). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "internal.h"
#include "snapfile.h"

#define PF_MAGIC         "MSPTRS\r\n"
#define PF_TRAILER_MAGIC "MSPTREND"
#define PF_VERSION       1u
#define PF_HEADER_SIZE   32u
#define PF_TRAILER_SIZE  16u
/* A record: name length, name, offset, depth, offsets. */
#define PF_RECORD_MAX (4u + MEMSCAN_POINTER_MODULE_MAX + 8u + 4u + 8u * MEMSCAN_POINTER_DEPTH_MAX)
/* The largest file a list of MEMSCAN_POINTER_CHAINS_MAX chains makes. */
#define PF_FILE_MAX ((uint64_t)PF_HEADER_SIZE + PF_TRAILER_SIZE + MEMSCAN_POINTER_CHAINS_MAX * PF_RECORD_MAX)

struct memscan_pointer_chains {
	uint64_t target;
	memscan_pointer_chain *items;
	size_t count, cap;
};

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Hex digits (0x optional) at *P up to a space, '-' of "->" or the end; advances *P. */
static int parse_hex(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; isxdigit((unsigned char)*s); s++, n++) {
		if (v >> 60)
			return MEMSCAN_ERR_BAD_FORMAT; /* more than 64 bits */
		v = v << 4 | (uint64_t)(isdigit((unsigned char)*s) ? *s - '0'
		                                                   : (tolower((unsigned char)*s) - 'a' + 10));
	}
	if (n == 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	*p = s;
	*ret = v;
	return MEMSCAN_OK;
}

/* "-> [+|-]HEX" at *P. */
static int parse_step(const char **p, int64_t *ret)
{
	const char *s = skip_space(*p);
	uint64_t v;
	int neg = 0;

	if (s[0] != '-' || s[1] != '>')
		return MEMSCAN_ERR_BAD_FORMAT;
	s = skip_space(s + 2);
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (parse_hex(&s, &v) != MEMSCAN_OK || v > (uint64_t)INT64_MAX)
		return MEMSCAN_ERR_BAD_FORMAT;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	*p = s;
	return MEMSCAN_OK;
}

/* "NAME+HEX" at the start of TEXT: the name ends at the last '+' before the first "->". */
static int parse_base(const char **p, memscan_pointer_chain *c)
{
	const char *s = skip_space(*p), *arrow = strstr(s, "->"), *plus = NULL, *end;
	size_t len;

	for (const char *q = s; *q && (!arrow || q < arrow); q++)
		if (*q == '+')
			plus = q;
	if (!plus)
		return MEMSCAN_ERR_BAD_FORMAT;
	for (end = plus; end > s && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	len = (size_t)(end - s);
	if (len == 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (len >= MEMSCAN_POINTER_MODULE_MAX)
		return MEMSCAN_ERR_LIMIT;
	memcpy(c->module, s, len);
	c->module[len] = '\0';
	s = skip_space(plus + 1);
	if (parse_hex(&s, &c->offset) != MEMSCAN_OK)
		return MEMSCAN_ERR_BAD_FORMAT;
	*p = s;
	return MEMSCAN_OK;
}

int memscan_pointer_chain_parse(const char *text, memscan_pointer_chain *ret_chain)
{
	memscan_pointer_chain c;
	const char *p = text;
	int r;

	if (ret_chain)
		memset(ret_chain, 0, sizeof(*ret_chain));
	if (!text || !ret_chain)
		return MEMSCAN_ERR_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	r = parse_base(&p, &c);
	if (r != MEMSCAN_OK)
		return r;
	while (*skip_space(p)) {
		if (c.depth == MEMSCAN_POINTER_DEPTH_MAX)
			return MEMSCAN_ERR_BAD_FORMAT;
		if (parse_step(&p, &c.offsets[c.depth]) != MEMSCAN_OK)
			return MEMSCAN_ERR_BAD_FORMAT;
		c.depth++;
	}
	if (c.depth == 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	*ret_chain = c;
	return MEMSCAN_OK;
}

static int chain_valid(const memscan_pointer_chain *c)
{
	size_t len = strnlen(c->module, MEMSCAN_POINTER_MODULE_MAX);

	return len > 0 && len < MEMSCAN_POINTER_MODULE_MAX && c->depth >= 1 &&
	       c->depth <= MEMSCAN_POINTER_DEPTH_MAX;
}

int memscan_pointer_chain_format(const memscan_pointer_chain *chain, char *buf, size_t size)
{
	size_t at;
	int n;

	if (!chain || !buf || size == 0 || !chain_valid(chain))
		return MEMSCAN_ERR_INVALID_ARG;
	n = snprintf(buf, size, "%s+0x%" PRIx64, chain->module, chain->offset);
	for (unsigned k = 0; n >= 0 && (size_t)n < size && k < chain->depth; k++) {
		int64_t o = chain->offsets[k];
		uint64_t mag = o < 0 ? -(uint64_t)o : (uint64_t)o;

		at = (size_t)n;
		n = snprintf(buf + at, size - at, " -> %s0x%" PRIx64, o < 0 ? "-" : "", mag);
		n = n < 0 ? n : n + (int)at;
	}
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return MEMSCAN_ERR_LIMIT;
	}
	return MEMSCAN_OK;
}

int memscan_pointer_chains_new(uint64_t target, memscan_pointer_chains **ret_chains)
{
	if (!ret_chains)
		return MEMSCAN_ERR_INVALID_ARG;
	*ret_chains = calloc(1, sizeof(**ret_chains));
	if (!*ret_chains)
		return MEMSCAN_ERR_NO_MEMORY;
	(*ret_chains)->target = target;
	return MEMSCAN_OK;
}

int memscan_pointer_chains_add(memscan_pointer_chains *chains, const memscan_pointer_chain *chain)
{
	int r;

	if (!chains || !chain || !chain_valid(chain))
		return MEMSCAN_ERR_INVALID_ARG;
	r = ms_grow(&chains->items, &chains->cap, chains->count + 1, sizeof(*chains->items),
	            MEMSCAN_POINTER_CHAINS_MAX);
	if (r != MEMSCAN_OK)
		return r;
	chains->items[chains->count++] = *chain;
	return MEMSCAN_OK;
}

size_t memscan_pointer_chains_count(const memscan_pointer_chains *chains)
{
	return chains ? chains->count : 0;
}

const memscan_pointer_chain *memscan_pointer_chains_get(const memscan_pointer_chains *chains, size_t index)
{
	return chains && index < chains->count ? &chains->items[index] : NULL;
}

uint64_t memscan_pointer_chains_target(const memscan_pointer_chains *chains)
{
	return chains ? chains->target : 0;
}

void memscan_pointer_chains_free(memscan_pointer_chains *chains)
{
	if (!chains)
		return;
	free(chains->items);
	free(chains);
}

/* ---- chains files ---------------------------------------------------------------------------- */

/* The file's bytes before the trailer's checksum, in a new buffer of *RET_LEN bytes. */
static int encode(const memscan_pointer_chains *c, uint8_t **ret, size_t *ret_len)
{
	size_t cap = PF_HEADER_SIZE + PF_TRAILER_SIZE + c->count * PF_RECORD_MAX, n = 0;
	uint8_t *b = malloc(cap);

	if (!b)
		return MEMSCAN_ERR_NO_MEMORY;
	memcpy(b, PF_MAGIC, 8);
	put_u32(b + 8, PF_VERSION);
	put_u32(b + 12, 0);
	put_u64(b + 16, c->target);
	put_u64(b + 24, c->count);
	n = PF_HEADER_SIZE;
	for (size_t i = 0; i < c->count; i++) {
		const memscan_pointer_chain *ch = &c->items[i];
		uint32_t len = (uint32_t)strlen(ch->module);

		put_u32(b + n, len);
		memcpy(b + n + 4, ch->module, len);
		n += 4 + len;
		put_u64(b + n, ch->offset);
		put_u32(b + n + 8, ch->depth);
		n += 12;
		for (unsigned k = 0; k < ch->depth; k++, n += 8)
			put_u64(b + n, (uint64_t)ch->offsets[k]);
	}
	memcpy(b + n, PF_TRAILER_MAGIC, 8);
	*ret = b;
	*ret_len = n + 8;
	return MEMSCAN_OK;
}

int memscan_pointer_chains_save(const memscan_pointer_chains *chains, const char *path)
{
	uint8_t *b = NULL;
	size_t len;
	ms_afile af;
	FILE *f;
	int r;

	if (!chains || !path)
		return MEMSCAN_ERR_INVALID_ARG;
	r = encode(chains, &b, &len);
	if (r != MEMSCAN_OK)
		return r;
	put_u64(b + len, sf_sum_buf(b, len));
	r = ms_afile_open(&af, path); /* mode 0600: chains name a process's layout */
	f = r == MEMSCAN_OK ? ms_afile_stream(&af) : NULL;
	if (r == MEMSCAN_OK && (!f || fwrite(b, 1, len + 8, f) != len + 8)) {
		ms_afile_abort(&af);
		r = MEMSCAN_ERR_IO;
	} else if (r == MEMSCAN_OK) {
		r = ms_afile_commit(&af);
	}
	free(b);
	return r;
}

/* The whole file at PATH in a new buffer, if it is at most PF_FILE_MAX bytes. */
static int read_whole(const char *path, uint8_t **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *b = NULL;
	int r = MEMSCAN_OK;

	if (!f)
		return MEMSCAN_ERR_IO;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		r = MEMSCAN_ERR_IO;
		goto cleanup;
	}
	if ((uint64_t)st.st_size > PF_FILE_MAX) {
		r = MEMSCAN_ERR_BAD_FORMAT;
		goto cleanup;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		r = MEMSCAN_ERR_NO_MEMORY;
		goto cleanup;
	}
	if (fread(b, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(b);
		r = MEMSCAN_ERR_IO;
		goto cleanup;
	}
	*ret = b;
	*ret_len = (size_t)st.st_size;
cleanup:
	fclose(f);
	return r;
}

/* One record at B[*AT..END) into C. */
static int decode_record(const uint8_t *b, size_t *at, size_t end, memscan_pointer_chain *c)
{
	size_t n = *at;
	uint32_t len;

	memset(c, 0, sizeof(*c));
	if (end - n < 4)
		return MEMSCAN_ERR_TRUNCATED;
	len = get_u32(b + n);
	if (len == 0 || len >= MEMSCAN_POINTER_MODULE_MAX)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (end - n - 4 < (size_t)len + 12)
		return MEMSCAN_ERR_TRUNCATED;
	if (memchr(b + n + 4, 0, len))
		return MEMSCAN_ERR_BAD_FORMAT;
	memcpy(c->module, b + n + 4, len);
	n += 4 + len;
	c->offset = get_u64(b + n);
	c->depth = get_u32(b + n + 8);
	n += 12;
	if (c->depth < 1 || c->depth > MEMSCAN_POINTER_DEPTH_MAX)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (end - n < 8u * c->depth)
		return MEMSCAN_ERR_TRUNCATED;
	for (unsigned k = 0; k < c->depth; k++, n += 8)
		c->offsets[k] = (int64_t)get_u64(b + n);
	*at = n;
	return MEMSCAN_OK;
}

static int decode(const uint8_t *b, size_t len, memscan_pointer_chains *c)
{
	size_t at = PF_HEADER_SIZE, end;
	uint64_t count;
	memscan_pointer_chain ch;
	int r;

	if (len < PF_HEADER_SIZE + PF_TRAILER_SIZE)
		return len >= 8 && memcmp(b, PF_MAGIC, 8) != 0 ? MEMSCAN_ERR_BAD_FORMAT
		                                               : MEMSCAN_ERR_TRUNCATED;
	if (memcmp(b, PF_MAGIC, 8) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if (get_u32(b + 8) > PF_VERSION)
		return MEMSCAN_ERR_UNSUPPORTED_VERSION;
	if (get_u32(b + 8) != PF_VERSION || get_u32(b + 12) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	end = len - PF_TRAILER_SIZE;
	if (memcmp(b + end, PF_TRAILER_MAGIC, 8) != 0 || get_u64(b + end + 8) != sf_sum_buf(b, end + 8))
		return MEMSCAN_ERR_BAD_FORMAT;
	c->target = get_u64(b + 16);
	count = get_u64(b + 24);
	if (count > MEMSCAN_POINTER_CHAINS_MAX)
		return MEMSCAN_ERR_BAD_FORMAT;
	for (uint64_t i = 0; i < count; i++) {
		r = decode_record(b, &at, end, &ch);
		if (r == MEMSCAN_OK)
			r = memscan_pointer_chains_add(c, &ch);
		if (r != MEMSCAN_OK)
			return r == MEMSCAN_ERR_TRUNCATED ? MEMSCAN_ERR_BAD_FORMAT : r;
	}
	return at == end ? MEMSCAN_OK : MEMSCAN_ERR_BAD_FORMAT;
}

int memscan_pointer_chains_load(const char *path, memscan_pointer_chains **ret_chains)
{
	memscan_pointer_chains *c = NULL;
	uint8_t *b = NULL;
	size_t len = 0;
	int r;

	if (ret_chains)
		*ret_chains = NULL;
	if (!path || !ret_chains)
		return MEMSCAN_ERR_INVALID_ARG;
	r = read_whole(path, &b, &len);
	if (r == MEMSCAN_OK)
		r = memscan_pointer_chains_new(0, &c);
	if (r == MEMSCAN_OK)
		r = decode(b, len, c);
	free(b);
	if (r != MEMSCAN_OK) {
		memscan_pointer_chains_free(c);
		return r;
	}
	*ret_chains = c;
	return MEMSCAN_OK;
}
