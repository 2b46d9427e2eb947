/* SPDX-License-Identifier: MIT */
/* Compressed read and diff pages: a few zstd compressors, shared by the workers and reused for every
 * page. */
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"

/* Most compressors, whatever the core count says. */
#define AGENT_ZPOOL_MAX 64

int agent_zpool_init(agent *ag)
{
	agent_zpool *z = &ag->zpool;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cores < 1 ? 1 : cores > AGENT_ZPOOL_MAX ? AGENT_ZPOOL_MAX : (size_t)cores;

	if (pthread_mutex_init(&z->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&z->cond, NULL) != 0) {
		pthread_mutex_destroy(&z->lock);
		return -1;
	}
	z->ready = 1;
	z->idle = calloc(n, sizeof(*z->idle));
	if (!z->idle)
		return -1;
	/* each makes its zstd context and buffer at its first page: an agent never asked pays nothing */
	for (; z->count < n; z->count++) {
		z->idle[z->count] = zpage_enc_new(WIRE_MAX_PAGE_BYTES);
		if (!z->idle[z->count])
			return -1;
	}
	z->idle_n = z->count;
	return 0;
}

/* After the workers have stopped: every compressor is idle again. */
void agent_zpool_free(agent *ag)
{
	agent_zpool *z = &ag->zpool;

	if (!z->ready)
		return;
	for (size_t i = 0; i < z->count; i++)
		zpage_enc_free(z->idle[i]);
	free(z->idle);
	pthread_cond_destroy(&z->cond);
	pthread_mutex_destroy(&z->lock);
	z->idle = NULL;
	z->idle_n = z->count = 0;
	z->ready = 0;
}

/* Waits for an idle compressor (they are held only while a page is compressed and packed). */
static zpage_enc *agent_zpool_take(agent_zpool *z)
{
	zpage_enc *e;

	pthread_mutex_lock(&z->lock);
	while (!z->idle_n)
		pthread_cond_wait(&z->cond, &z->lock);
	e = z->idle[--z->idle_n];
	pthread_mutex_unlock(&z->lock);
	return e;
}

static void agent_zpool_give(agent_zpool *z, zpage_enc *e)
{
	pthread_mutex_lock(&z->lock);
	z->idle[z->idle_n++] = e;
	pthread_cond_signal(&z->cond);
	pthread_mutex_unlock(&z->lock);
}

/* Takes a compressor from the pool for R if the client asked for compression: it, or NULL when the
 * bytes go as they are. Runs on the worker that built the page, never on nng's I/O threads. */
static zpage_enc *agent_compressor(agent_req *r)
{
	agent_zpool *z = &r->ag->zpool;

	if (!r->s->pending.zstd || !z->count || r->enc)
		return NULL;
	r->enc = agent_zpool_take(z);
	return r->enc;
}

/* Compresses the LEN bytes at SRC with R's compressor: 0 with the frame in *RET (valid until
 * agent_compress_release), -1 (compressor released) when the bytes go as they are. */
static int agent_compress(agent_req *r, const uint8_t *src, size_t len, const uint8_t **ret, size_t *ret_len)
{
	if (!len || zpage_compress(r->enc, src, len, ret, ret_len) != 0) {
		agent_compress_release(r);
		return -1;
	}
	return 0;
}

void agent_compress_page(agent_req *r, Memscan__V1__ReadPage *page)
{
	const uint8_t *frame;
	size_t len;

	if (!page->data.len || !agent_compressor(r) ||
	    agent_compress(r, page->data.data, page->data.len, &frame, &len) != 0)
		return; /* the page goes as it is */
	page->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	page->raw_length = page->data.len;
	page->data.data = (uint8_t *)frame;
	page->data.len = len;
}

/* The fields a compressed diff page adds (encoding, raw_length, packed_runs' tag and length): a frame
 * must save more than these, so that the page never outgrows its plain self (nor the reply limits). */
#define AGENT_ZRUNS_OVERHEAD 24

void agent_compress_runs(agent_req *r, Memscan__V1__DiffPage *page)
{
	Memscan__V1__ChangeRunList list = MEMSCAN__V1__CHANGE_RUN_LIST__INIT;
	const uint8_t *frame;
	size_t raw_len, len;
	uint8_t *raw;

	if (!page->n_runs)
		return;
	list.runs = page->runs;
	list.n_runs = page->n_runs;
	raw_len = memscan__v1__change_run_list__get_packed_size(&list);
	/* the page's room keeps this within a page; a client refuses more, so never send more. The list
	 * is packed into the compressor's own input buffer: no page allocates. */
	if (raw_len > WIRE_MAX_PAGE_BYTES || !agent_compressor(r))
		return;
	raw = zpage_enc_input(r->enc);
	if (!raw) {
		agent_compress_release(r);
		return;
	}
	memscan__v1__change_run_list__pack(&list, raw);
	if (agent_compress(r, raw, raw_len, &frame, &len) != 0)
		return;
	if (len + AGENT_ZRUNS_OVERHEAD >= raw_len) {
		agent_compress_release(r);
		return;
	}
	page->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	page->raw_length = raw_len;
	page->packed_runs.data = (uint8_t *)frame;
	page->packed_runs.len = len;
	page->n_runs = 0;
}

void agent_compress_release(agent_req *r)
{
	if (!r->enc)
		return;
	agent_zpool_give(&r->ag->zpool, r->enc);
	r->enc = NULL;
}
