/* SPDX-License-Identifier: MIT */
/* Compressed read pages: a few zstd compressors, shared by the workers and reused for every page. */
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

/* Runs on the worker that built the page, never on nng's I/O threads. */
void agent_compress_page(agent_req *r, Memscan__V1__ReadPage *page)
{
	agent_zpool *z = &r->ag->zpool;
	const uint8_t *frame;
	size_t len;

	if (!r->s->pending.zstd || !page->data.len || !z->count || r->enc)
		return;
	r->enc = agent_zpool_take(z);
	if (zpage_compress(r->enc, page->data.data, page->data.len, &frame, &len) != 0) {
		agent_compress_release(r); /* the page goes as it is */
		return;
	}
	page->encoding = MEMSCAN__V1__ENCODING__ENCODING_ZSTD;
	page->raw_length = page->data.len;
	page->data.data = (uint8_t *)frame;
	page->data.len = len;
}

void agent_compress_release(agent_req *r)
{
	if (!r->enc)
		return;
	agent_zpool_give(&r->ag->zpool, r->enc);
	r->enc = NULL;
}
