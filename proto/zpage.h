/* SPDX-License-Identifier: MIT */
/* Compressed read pages (zstd): the agent's compressor and the client's checked decompressor. */
#ifndef MEMSCAN_ZPAGE_H
#define MEMSCAN_ZPAGE_H

#include <stddef.h>
#include <stdint.h>

/* zstd's fastest level: a heap still shrinks 4-20 times, at more than a gigabyte a second. */
#define ZPAGE_LEVEL 1

typedef struct zpage_enc zpage_enc;
typedef struct zpage_dec zpage_dec;

/* A compressor of pages of at most MAX_LEN bytes; NULL if no memory. Its zstd context and its output
 * buffer (MAX_LEN bytes: a page is sent compressed only when that makes it smaller) are made at its
 * first use and reused by every page after it. Not thread-safe: one per thread. */
zpage_enc *zpage_enc_new(size_t max_len);
void zpage_enc_free(zpage_enc *e);
/* Compresses the LEN bytes at SRC (0 < LEN <= MAX_LEN) into one zstd frame. 0 with the frame in
 * *RET (E's buffer, valid until the next call) and its length *RET_LEN < LEN; -1 if the frame would
 * not be smaller or on failure (then send the page raw). */
int zpage_compress(zpage_enc *e, const uint8_t *src, size_t len, const uint8_t **ret, size_t *ret_len);
/* E's input buffer, MAX_LEN bytes made at its first use and kept: for a caller that builds the bytes
 * it then compresses (a packed list of change runs), so that no page allocates. NULL if no memory. */
uint8_t *zpage_enc_input(zpage_enc *e);

/* A decompressor; NULL if no memory. Not thread-safe. */
zpage_dec *zpage_dec_new(void);
void zpage_dec_free(zpage_dec *d);
/* Decodes SRC (SRC_LEN bytes from the network) into DST, which it must fill exactly: 0 if SRC is one
 * zstd frame that declares and decodes to exactly DST_LEN (> 0) bytes; -1 otherwise (DST's content
 * is then unspecified). Nothing is allocated from sizes SRC announces: DST is the only output. */
int zpage_decompress(zpage_dec *d, const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len);
/* D's output buffer of at least LEN bytes, kept and grown (never shrunk, never beyond MAX: the
 * caller's bound on a page) across calls: for bytes decoded only to be unpacked, so that no page
 * allocates. NULL if no memory or LEN > MAX. */
uint8_t *zpage_dec_buffer(zpage_dec *d, size_t len, size_t max);

#endif /* MEMSCAN_ZPAGE_H */
