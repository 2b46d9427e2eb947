/* SPDX-License-Identifier: MIT */
/* Growing arrays with a maximum, for the agent, libclient and proto (libmemscan has its own
 * ms_grow: it may use libc only). Every array that grows names its maximum, with the reason. */
#ifndef MEMSCAN_GROW_H
#define MEMSCAN_GROW_H

#include <stddef.h>

/* The first allocation holds at least this many bytes (and at least the elements asked for). */
#define WIRE_GROW_FIRST_BYTES 256

/* Makes room for NEED elements of ELEM bytes in the array *ITEMSP (a T **, capacity *CAP elements):
 * the capacity doubles and never exceeds MAX. 0 (also when the room is already there), -E2BIG when
 * NEED > MAX (report it as the caller's LIMIT), -ENOMEM when the bytes overflow size_t or realloc
 * fails; on failure *ITEMSP and *CAP are unchanged and the array still belongs to the caller. */
int wire_grow(void *itemsp, size_t *cap, size_t need, size_t elem, size_t max);
/* The capacity wire_grow would choose (CAP itself when NEED fits), for a caller that charges the
 * growth to a budget first; 0 when NEED cannot be had. */
size_t wire_grow_next(size_t cap, size_t need, size_t elem, size_t max);

#endif
