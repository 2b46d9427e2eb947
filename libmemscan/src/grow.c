/* SPDX-License-Identifier: MIT */
/* Growing arrays with a maximum: the one place libmemscan enlarges an array with realloc. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t ms_grow_next(size_t cap, size_t need, size_t elem, size_t max)
{
	size_t next;

	if (need > max || elem == 0 || need > SIZE_MAX / elem)
		return 0;
	if (need <= cap)
		return cap;
	next = cap ? cap : (MS_GROW_FIRST_BYTES + elem - 1) / elem;
	while (next < need)
		next = next > max / 2 ? max : 2 * next;
	if (next > max)
		next = max;
	if (next > SIZE_MAX / elem)
		next = need; /* doubling would overflow: exactly what is needed, which fits */
	return next;
}

int ms_grow(void *itemsp, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t next;
	void *items, *grown;

	if (need <= *cap)
		return MEMSCAN_OK;
	next = ms_grow_next(*cap, need, elem, max);
	if (next == 0)
		return need > max ? MEMSCAN_ERR_LIMIT : MEMSCAN_ERR_NO_MEMORY;
	memcpy(&items, itemsp, sizeof(items)); /* *ITEMSP is a T *: copied, not read through void ** */
	grown = realloc(items, next * elem);
	if (!grown)
		return MEMSCAN_ERR_NO_MEMORY;
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = next;
	return MEMSCAN_OK;
}
