/* SPDX-License-Identifier: MIT */
/* Remote set reference files (docs/value-set-format.md, "Remote set references"): which agent keeps
 * a value set, its key's fingerprint and the set; a fixed layout with a BLAKE2b checksum. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_internal.h"
#include "keyfile.h"
#include "le.h"

#define VREF_MAGIC        "\x89MSVREF\n"
#define VREF_VERSION      1u
#define VREF_AGENT_OFF    64u
#define VREF_FP_OFF       (VREF_AGENT_OFF + MEMSCAN_VSET_REF_AGENT_MAX)
#define VREF_FP_SIZE      64u
#define VREF_SUM_OFF      (VREF_FP_OFF + VREF_FP_SIZE)
#define VREF_SUM_SIZE     32u
#define VREF_SIZE         (VREF_SUM_OFF + VREF_SUM_SIZE)
#define VREF_FLAG_UNKNOWN 1u

/* A NUL-terminated text of fewer than SIZE bytes, NUL-padded to SIZE, into P; -1 if too long. */
static int put_text(uint8_t *p, size_t size, const char *text)
{
	size_t len = strnlen(text, size);

	if (len >= size)
		return -1;
	memcpy(p, text, len);
	return 0;
}

/* The text at P (SIZE bytes, NUL-padded with at least one NUL, nothing after the first NUL) into OUT. */
static int get_text(const uint8_t *p, size_t size, char *out)
{
	size_t len = strnlen((const char *)p, size);

	if (len == 0 || len >= size)
		return -1;
	for (size_t i = len; i < size; i++)
		if (p[i])
			return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int vref_encode(const memscan_client_vset_ref *ref, uint8_t buf[VREF_SIZE])
{
	const memscan_client_vset *s = &ref->set;

	memset(buf, 0, VREF_SIZE);
	memcpy(buf, VREF_MAGIC, 8);
	le_put(buf + 8, VREF_VERSION, 4);
	le_put(buf + 12, (uint32_t)s->type, 4);
	le_put(buf + 16, (uint32_t)s->width, 4);
	le_put(buf + 20, s->unknown ? VREF_FLAG_UNKNOWN : 0, 4);
	le_put(buf + 24, s->id, 8);
	le_put(buf + 32, (uint32_t)s->pid, 4);
	le_put(buf + 40, s->start_time, 8);
	le_put(buf + 48, s->count, 8);
	le_put(buf + 56, s->bytes, 8);
	if (!ref->agent[0] || put_text(buf + VREF_AGENT_OFF, MEMSCAN_VSET_REF_AGENT_MAX, ref->agent) ||
	    !ref->fingerprint[0] || put_text(buf + VREF_FP_OFF, VREF_FP_SIZE, ref->fingerprint))
		return -1;
	crypto_generichash(buf + VREF_SUM_OFF, VREF_SUM_SIZE, buf, VREF_SUM_OFF, NULL, 0);
	return 0;
}

static int vref_decode(const uint8_t buf[VREF_SIZE], memscan_client_vset_ref *ref)
{
	memscan_client_vset *s = &ref->set;
	uint8_t sum[VREF_SUM_SIZE];

	if (memcmp(buf, VREF_MAGIC, 8) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	if ((uint32_t)le_get(buf + 8, 4) != VREF_VERSION)
		return MEMSCAN_ERR_UNSUPPORTED_VERSION;
	crypto_generichash(sum, sizeof(sum), buf, VREF_SUM_OFF, NULL, 0);
	if (sodium_memcmp(sum, buf + VREF_SUM_OFF, sizeof(sum)) != 0)
		return MEMSCAN_ERR_BAD_FORMAT;
	memset(ref, 0, sizeof(*ref));
	s->type = (memscan_value_type)(uint32_t)le_get(buf + 12, 4);
	s->width = (uint32_t)le_get(buf + 16, 4);
	s->unknown = ((uint32_t)le_get(buf + 20, 4) & VREF_FLAG_UNKNOWN) != 0;
	s->id = le_get(buf + 24, 8);
	s->pid = (int)(uint32_t)le_get(buf + 32, 4);
	s->start_time = le_get(buf + 40, 8);
	s->count = le_get(buf + 48, 8);
	s->bytes = le_get(buf + 56, 8);
	if (((uint32_t)le_get(buf + 20, 4) & ~VREF_FLAG_UNKNOWN) || (uint32_t)le_get(buf + 36, 4) || !s->id ||
	    s->pid <= 0 || !strcmp(memscan_value_type_name(s->type), "?") || s->width == 0 ||
	    s->width > 2 * MEMSCAN_VALUE_STR_MAX ||
	    get_text(buf + VREF_AGENT_OFF, MEMSCAN_VSET_REF_AGENT_MAX, ref->agent) ||
	    get_text(buf + VREF_FP_OFF, VREF_FP_SIZE, ref->fingerprint) ||
	    strlen(ref->fingerprint) != MEMSCAN_FINGERPRINT_LEN - 1)
		return MEMSCAN_ERR_BAD_FORMAT;
	return MEMSCAN_OK;
}

int memscan_client_vset_ref_save(const memscan_client_vset_ref *ref, const char *path)
{
	uint8_t buf[VREF_SIZE];
	char err[256];

	if (!ref || !path || sodium_init() < 0 || vref_encode(ref, buf) != 0)
		return MEMSCAN_ERR_INVALID_ARG;
	/* replaced whole or left as it was, as every file memscan writes */
	return keyfile_replace(path, buf, sizeof(buf), err, sizeof(err)) == 0 ? MEMSCAN_OK : MEMSCAN_ERR_IO;
}

/* Reads PATH's first bytes (up to LEN) into BUF; how many, or -1. */
static ssize_t read_head(const char *path, uint8_t *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

int memscan_client_vset_ref_load(const char *path, memscan_client_vset_ref *ret_ref)
{
	uint8_t buf[VREF_SIZE + 1];
	memscan_client_vset_ref ref;
	ssize_t n;
	int r;

	if (ret_ref)
		memset(ret_ref, 0, sizeof(*ret_ref));
	if (!path || !ret_ref || sodium_init() < 0)
		return MEMSCAN_ERR_INVALID_ARG;
	n = read_head(path, buf, sizeof(buf));
	if (n < 0)
		return MEMSCAN_ERR_IO;
	if (n < (ssize_t)VREF_SIZE)
		return n >= 8 && memcmp(buf, VREF_MAGIC, 8) == 0 ? MEMSCAN_ERR_TRUNCATED
		                                                 : MEMSCAN_ERR_BAD_FORMAT;
	if (n > (ssize_t)VREF_SIZE)
		return MEMSCAN_ERR_BAD_FORMAT; /* bytes after the checksum */
	r = vref_decode(buf, &ref);
	if (r == MEMSCAN_OK)
		*ret_ref = ref;
	return r;
}

bool memscan_client_vset_ref_probe(const char *path)
{
	uint8_t buf[8];

	return path && read_head(path, buf, sizeof(buf)) == 8 && memcmp(buf, VREF_MAGIC, 8) == 0;
}

int memscan_client_agent_fingerprint(const memscan_client *c, char ret_fingerprint[MEMSCAN_FINGERPRINT_LEN])
{
	if (!c || !ret_fingerprint)
		return MEMSCAN_ERR_INVALID_ARG;
	ret_fingerprint[0] = '\0';
	client_lock(c);
	if (c->have_agent_pub)
		keyfile_fingerprint(c->agent_pub, ret_fingerprint);
	client_unlock(c);
	return ret_fingerprint[0] ? MEMSCAN_OK : MEMSCAN_ERR_INVALID_ARG;
}

int memscan_client_vset_ref_check(memscan_client *c, const memscan_client_vset_ref *ref)
{
	char fp[MEMSCAN_FINGERPRINT_LEN];
	int r;

	if (!c || !ref)
		return MEMSCAN_ERR_INVALID_ARG;
	r = memscan_client_agent_fingerprint(c, fp);
	if (r != MEMSCAN_OK)
		return r;
	client_lock(c);
	if (strcmp(fp, ref->fingerprint) != 0)
		r = client_fail(
		    c, MEMSCAN_ERR_AUTH,
		    "the set reference names an agent with key %s, but the agent at %s has key %s: "
		    "it is not the agent that keeps the set",
		    ref->fingerprint, c->url ? c->url : "?", fp);
	client_unlock(c);
	return r;
}
