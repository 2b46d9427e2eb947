/* SPDX-License-Identifier: MIT */
/* Sizes for people ("1.5 GiB") and progress lines on a terminal's stderr. */
#ifndef MEMSCAN_CLI_PROGRESS_H
#define MEMSCAN_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* BYTES as "512 B", "4 KiB", "1.5 GiB" (one decimal below 10 of a unit) into BUF; returns BUF. */
const char *cli_human_size(uint64_t bytes, char *buf, size_t size);

#endif /* MEMSCAN_CLI_PROGRESS_H */
