/* SPDX-License-Identifier: MIT */
/* Output of the memscan CLI: error messages, JSON strings, hexdumps, regions, diffs. */
#ifndef MEMSCAN_CLI_OUTPUT_H
#define MEMSCAN_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <memscan/memscan.h>

/* "memscan: MESSAGE\n" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports library error ERR met while doing WHAT to PID (0 = no process involved) and returns the
 * exit code for it (CLI_USAGE for bad patterns and arguments, else CLI_FAIL). */
int cli_lib_err(int err, int pid, const char *what);
/* Says why reading PID was refused and what to do, from this process's capabilities (and Yama's
 * setting, where the kernel has Yama). */
void cli_permission_err(int pid);

/* A JSON string (with quotes); invalid UTF-8 and control bytes become \u00XX. */
void out_json_str(FILE *out, const char *s);
void out_json_strn(FILE *out, const char *s, size_t len);
/* Bytes as a lowercase hex string without spaces (no quotes). */
void out_hex(FILE *out, const uint8_t *data, size_t len);
/* Text with control bytes (C0, DEL, C1), bytes that are not UTF-8 and backslashes escaped as \xNN /
 * \\, for one-line text output that cannot steer a terminal. */
void out_text_str(FILE *out, const char *s);
/* Terminal columns out_text_str takes to print S (a UTF-8 character: one). */
size_t out_text_width(const char *s);

/* An xxd-style hexdump of LEN bytes read at ADDR; bytes inside HOLES print as "??". */
void out_hexdump(FILE *out, uint64_t addr, const uint8_t *data, size_t len, const memscan_ranges *holes);

/* BYTES for people, "512 B", "4.0 KiB", "132 KiB", "1.5 GiB", into BUF (OUT_SIZE_LEN bytes); returns BUF. */
#define OUT_SIZE_LEN 16
const char *out_size(uint64_t bytes, char *buf);
/* The header line of out_region_text's columns. */
void out_region_header(FILE *out);
void out_region_text(FILE *out, const memscan_region *r);
void out_region_json(FILE *out, const memscan_region *r);

/* Prints DIFF (runs, or single bytes if BYTES) and its appeared/vanished ranges. TIME (if not NULL)
 * is added as a "time" field to every JSON object. */
void out_diff(FILE *out, const memscan_diff *diff, int json, int bytes, const char *time);
/* "# N runs, M bytes changed" style summary line (text mode), with an optional timestamp. */
void out_diff_summary(FILE *out, const memscan_diff *diff, const char *time);
/* The same line from the counts (a diff printed part by part). */
void out_diff_summary_counts(FILE *out, size_t runs, uint64_t changed, size_t appeared, size_t vanished,
                             size_t outside, const char *time);

/* The current UTC time as "2026-11-26T12:00:00.123Z" into BUF (at least 32 bytes). */
void out_timestamp(char *buf, size_t size);

/* Reports snapshot-file error ERR, naming the file at fault and what is wrong with it
 * (memscan_snapshot_file_error), or as cli_lib_err while doing WHAT; returns the exit code. */
int cli_snapfile_err(int err, const char *what);

#endif /* MEMSCAN_CLI_OUTPUT_H */
