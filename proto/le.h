/* SPDX-License-Identifier: MIT */
/* Little-endian integers in byte buffers, byte by byte (no alignment, any host order). */
#ifndef MEMSCAN_LE_H
#define MEMSCAN_LE_H

#include <stddef.h>
#include <stdint.h>

/* Writes the low N bytes of V at P, least significant first. */
static inline void le_put(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The N-byte (at most 8) little-endian integer at P. */
static inline uint64_t le_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

#endif /* MEMSCAN_LE_H */
