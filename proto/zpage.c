/* SPDX-License-Identifier: MIT */
/* Compressed read pages: one reused zstd context per compressing thread, strict checks on decoding. */
#include "zpage.h"
#include "grow.h"

#include <stdlib.h>

#include <zstd.h>

struct zpage_enc {
	ZSTD_CCtx *cctx;
	uint8_t *buf; /* MAX_LEN bytes: a frame that does not fit is no smaller than its page */
	uint8_t *in;  /* MAX_LEN bytes for callers that build their input (zpage_enc_input) */
	size_t max_len;
};

struct zpage_dec {
	ZSTD_DCtx *dctx;
	uint8_t *buf; /* zpage_dec_buffer */
	size_t buf_len;
};

zpage_enc *zpage_enc_new(size_t max_len)
{
	zpage_enc *e = calloc(1, sizeof(*e));

	if (e)
		e->max_len = max_len;
	return e;
}

void zpage_enc_free(zpage_enc *e)
{
	if (!e)
		return;
	ZSTD_freeCCtx(e->cctx);
	free(e->buf);
	free(e->in);
	free(e);
}

/* The context and buffer, made once. */
static int zpage_enc_ready(zpage_enc *e)
{
	if (e->cctx && e->buf)
		return 0;
	if (!e->cctx) {
		e->cctx = ZSTD_createCCtx();
		if (!e->cctx ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel, ZPAGE_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_contentSizeFlag, 1))) {
			ZSTD_freeCCtx(e->cctx);
			e->cctx = NULL;
			return -1;
		}
	}
	if (!e->buf)
		e->buf = malloc(e->max_len);
	return e->buf ? 0 : -1;
}

int zpage_compress(zpage_enc *e, const uint8_t *src, size_t len, const uint8_t **ret, size_t *ret_len)
{
	size_t n;

	if (!e || !len || len > e->max_len || zpage_enc_ready(e) != 0)
		return -1;
	/* room for one byte less than the page: zstd stops with an error as soon as it would not fit */
	n = ZSTD_compress2(e->cctx, e->buf, len - 1, src, len);
	if (ZSTD_isError(n) || n >= len)
		return -1;
	*ret = e->buf;
	*ret_len = n;
	return 0;
}

uint8_t *zpage_enc_input(zpage_enc *e)
{
	if (e && !e->in)
		e->in = malloc(e->max_len);
	return e ? e->in : NULL;
}

zpage_dec *zpage_dec_new(void)
{
	zpage_dec *d = calloc(1, sizeof(*d));

	if (d)
		d->dctx = ZSTD_createDCtx();
	if (d && !d->dctx) {
		free(d);
		d = NULL;
	}
	return d;
}

void zpage_dec_free(zpage_dec *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d->buf);
	free(d);
}

int zpage_decompress(zpage_dec *d, const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len)
{
	unsigned long long declared;
	size_t n;

	if (!d || !src || !src_len || !dst || !dst_len)
		return -1;
	/* exactly one frame, filling SRC, that announces exactly DST_LEN bytes */
	declared = ZSTD_getFrameContentSize(src, src_len);
	if (declared != (unsigned long long)dst_len || ZSTD_findFrameCompressedSize(src, src_len) != src_len)
		return -1;
	n = ZSTD_decompressDCtx(d->dctx, dst, dst_len, src, src_len);
	return !ZSTD_isError(n) && n == dst_len ? 0 : -1;
}

uint8_t *zpage_dec_buffer(zpage_dec *d, size_t len, size_t max)
{
	if (!d)
		return NULL;
	if (wire_grow(&d->buf, &d->buf_len, len, 1, max) != 0)
		return NULL;
	return d->buf;
}
