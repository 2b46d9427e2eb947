/* SPDX-License-Identifier: MIT */
/* Growing arrays with a maximum: the one place the agent, libclient and proto enlarge an array. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

size_t wire_grow_next(size_t cap, size_t need, size_t elem, size_t max)
{
	size_t next;

	if (need > max || elem == 0 || need > SIZE_MAX / elem)
		return 0;
	if (need <= cap)
		return cap;
	next = cap ? cap : (WIRE_GROW_FIRST_BYTES + elem - 1) / elem;
	while (next < need)
		next = next > max / 2 ? max : 2 * next;
	if (next > max)
		next = max;
	if (next > SIZE_MAX / elem)
		next = need; /* doubling would overflow: exactly what is needed, which fits */
	return next;
}

int wire_grow(void *itemsp, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t next;
	void *items, *grown;

	if (need <= *cap)
		return 0;
	next = wire_grow_next(*cap, need, elem, max);
	if (next == 0)
		return need > max ? -E2BIG : -ENOMEM;
	memcpy(&items, itemsp, sizeof(items)); /* *ITEMSP is a T *: copied, not read through void ** */
	grown = realloc(items, next * elem);
	if (!grown)
		return -ENOMEM;
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = next;
	return 0;
}
