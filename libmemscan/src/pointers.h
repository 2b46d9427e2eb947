/* SPDX-License-Identifier: MIT */
/* Pointer scans, what the index, the search and the resolver share: modules and static bases. */
#ifndef MEMSCAN_POINTERS_H
#define MEMSCAN_POINTERS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A module: a name (a file's last path component, or a [name]) and its load address. */
struct ptr_module {
	const char *name; /* points into a region's path, owned by the region list or snapshot */
	size_t len;
	uint64_t load;
};

/* A region where a chain may start, and the module it belongs to. Starts with start and end, so
 * ms_span_find finds one. */
struct ptr_base {
	uint64_t start, end;
	size_t module;
};

/* The modules and bases of a list of regions (sorted by address). */
struct ptr_modules {
	struct ptr_module *mods;
	size_t nmods, mods_cap;
	struct ptr_base *bases;
	size_t nbases, bases_cap;
};

/* Fills M from the COUNT regions REGS[0..COUNT) (REGS[i] points at a region, sorted by address):
 * every named region makes its module known; bases as memscan_pointer_search describes (ALL: any
 * named region). 0 or an error; M is released with ptr_modules_release either way. */
int ptr_modules_build(struct ptr_modules *m, const memscan_region *const *regs, size_t count, int all);
void ptr_modules_release(struct ptr_modules *m);
/* The module named NAME, or SIZE_MAX. */
size_t ptr_modules_find(const struct ptr_modules *m, const char *name);

#endif /* MEMSCAN_POINTERS_H */
