/* SPDX-License-Identifier: MIT */
/* Sizes for people ("1.5 GiB") and progress lines on a terminal's stderr. */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>

const char *cli_human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	for (v /= 1024; v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]); u++)
		v /= 1024;
	if (v < 10 && (uint64_t)(v * 10 + 0.5) % 10 != 0)
		snprintf(buf, size, "%.1f %s", v, units[u]);
	else
		snprintf(buf, size, "%.0f %s", v, units[u]);
	return buf;
}
