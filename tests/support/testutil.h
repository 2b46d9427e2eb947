/* SPDX-License-Identifier: MIT */
/* Test helpers of every suite (libmemscan only): start the fixture target and talk to it, files, temporary
 * directories, diffs compared. cliutil.h runs the CLI, agentutil.h starts agents. */
#ifndef MEMSCAN_TESTUTIL_H
#define MEMSCAN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cmocka.h>

#include <memscan/memscan.h>

/* MS_UNDER_ASAN is 1 in builds under AddressSanitizer (agent and core included: they are built
 * alike), whose scans run about 20 times slower and whose quarantine keeps freed memory resident. */
#if defined(__SANITIZE_ADDRESS__)
#define MS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_UNDER_ASAN 1
#endif
#endif

/* A running tests/fixtures/target.c; addresses are those it printed on its "ready" line. */
typedef struct ms_fixture {
	pid_t pid;
	FILE *to;                    /* the fixture's stdin */
	FILE *from;                  /* the fixture's stdout */
	uint64_t arena, arena_len;   /* rw anonymous region (own VMA) with deterministic bytes */
	uint64_t marker[3];          /* three copies of MS_FIXTURE_MARKER inside the arena */
	uint64_t straddle;           /* MS_FIXTURE_STRADDLE starts here and crosses ... */
	uint64_t boundary;           /* ... this boundary between two adjacent regions (rw-p | r--p) */
	uint64_t holey, holey_len;   /* readable mapping: first page readable, the rest unreadable */
	uint64_t counter;            /* 8-byte counter in the arena, bumped every --tick-ms */
	uint64_t sparse, sparse_len; /* --sparse-pages N: rw anonymous region (own VMA), one page in
	                              * MS_FIXTURE_SPARSE_STEP written, the others never touched */
} ms_fixture;

/* Sparse region: page k with k % MS_FIXTURE_SPARSE_STEP == 0 holds MS_FIXTURE_SPARSE_BYTE at its
 * first byte and zeros elsewhere; every other page was never written. */
#define MS_FIXTURE_SPARSE_STEP 64
#define MS_FIXTURE_SPARSE_BYTE 0xA5

/* --pointers: the arena from this offset on holds 64-byte objects whose first word (and every fourth
 * one's word at +40) points at another object of it; 16 words of the fixture's .bss point at objects. */
#define MS_FIXTURE_POINTERS_OFFSET 0x10000
#define MS_FIXTURE_POINTERS_OBJECT 64

/* The bytes the fixture writes at each marker address and across the boundary. */
#define MS_FIXTURE_MARKER     "4D 5A 90 00 4D 53 43 41 4E 2D 46 49 58"
#define MS_FIXTURE_MARKER_LEN 13
#define MS_FIXTURE_STRADDLE   "CA FE BA BE"
/* arena byte at offset i (outside the markers and the counter) */
#define MS_FIXTURE_ARENA_BYTE(i) ((uint8_t)((i)*31u + 7u))

/* How the helpers start a program (the fixture, the CLI, the agent): PATH replaces the built program
 * (NULL: the one built), RUN_AS is a command prefix that execs it with other credentials (e.g.
 * setpriv ..., NULL-terminated; NULL: as this process). */
typedef struct ms_launch {
	const char *path;
	const char *const *run_as;
} ms_launch;
extern ms_launch ms_launch_fixture; /* ms_launch_cli: cliutil.h, ms_launch_agent: agentutil.h */
/* Execs ARGV (ARGV[0] is replaced by L's path, else by BUILT) as L says; returns only on failure. */
void ms_launch_exec(const ms_launch *l, const char *built, const char *const *argv);

/* Starts the fixture with EXTRA_ARGS (NULL-terminated, may be NULL) and parses its ready line.
 * Returns 0 or -1. */
int ms_fixture_start(ms_fixture *f, const char *const *extra_args);
/* Starts the fixture (with EXTRA_ARGS, as ms_fixture_start), opens it into *PROC and lists its arena's region
 * alone into *ARENA. Returns 0 or -1 (then stop the fixture and free what was set). */
int ms_fixture_start_arena(ms_fixture *f, const char *const *extra_args, memscan_process **proc,
                           memscan_region_list **arena);
/* Sends one command line (printf-style) and waits for "ok". Returns 0, or -1 on "err"/EOF. */
int ms_fixture_cmd(ms_fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Kills and reaps the fixture (if still running) and closes the pipes. Safe to call twice. */
void ms_fixture_stop(ms_fixture *f);

/* Pages of F's sparse region that /proc/PID/pagemap reports present: a read through the kernel maps
 * a page that was never written, skipping it leaves it absent. */
size_t ms_sparse_present(const ms_fixture *f);
/* Pages of F's sparse region: all of them, and those the fixture wrote (the ones present at first). */
size_t ms_sparse_pages(const ms_fixture *f);
size_t ms_sparse_written(const ms_fixture *f);
/* Skips the current test unless reads of PID zero-fill pages never written instead of reading them
 * (pagemap and PROCMAP_QUERY, Linux 6.11+): elsewhere every page is read, whatever the options. */
void ms_skip_unless_absent_skipped(pid_t pid);
/* Asserts that DATA holds the bytes of F's sparse region (see MS_FIXTURE_SPARSE_STEP). */
void ms_assert_sparse_bytes(const ms_fixture *f, const uint8_t *data);

/* The whole file at PATH (malloc'd; asserts it can be read), *RET_LEN its size. */
uint8_t *ms_file_read(const char *path, size_t *ret_len);
/* Asserts that the files at A and B hold the same bytes. */
void ms_assert_files_equal(const char *a, const char *b);
/* Asserts that two diffs hold the same runs (address, length, region, old and new bytes) and the same
 * appeared and vanished ranges. */
void ms_assert_diffs_equal(const memscan_diff *a, const memscan_diff *b);

/* cmocka group fixtures: *state becomes a running ms_fixture (default options), stopped after. */
int ms_fixture_setup(void **state);
int ms_fixture_teardown(void **state);
/* The fixture's PID as text, in a static buffer (valid until the next call). */
const char *ms_fixture_pid_str(const ms_fixture *f);
/* A PID that names no process: a child of ours that exited and was reaped. */
pid_t ms_reaped_pid(void);

/* Formats "0x%llx" into a static rotating buffer (8 slots), for building argv. */
const char *ms_hex(uint64_t v);
/* Number of lines in S. */
size_t ms_count_lines(const char *s);
/* A fresh temporary directory (mkdtemp) whose path is returned in a static buffer; removed by
 * ms_tmpdir_remove. */
const char *ms_tmpdir(void);
void ms_tmpdir_remove(const char *dir);
/* cmocka setup and teardown of one test: a fresh scratch directory (ms_tmpdir), removed afterwards. */
int ms_scratch_setup(void **state);
int ms_scratch_teardown(void **state);
/* SCRATCH/NAME in the current scratch directory, in one of four rotating static buffers. */
const char *ms_scratch_path(const char *name);
/* Writes LEN bytes of DATA into PATH (created or truncated), then sets its MODE; asserts each step. */
void ms_write_file(const char *path, const void *data, size_t len, mode_t mode);
void ms_write_str(const char *path, const char *text, mode_t mode);
/* The file at PATH, NUL-terminated, in a static 64 KiB buffer (valid until the next call). */
const char *ms_slurp(const char *path);
/* The permission bits of PATH (lstat; asserts it exists); whether PATH exists (lstat). */
mode_t ms_mode_of(const char *path);
bool ms_exists(const char *path);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t ms_now_ms(void);
/* Reads LEN bytes at ADDR of F's memory with pread of /proc/PID/mem (independently of libmemscan);
 * asserts that every byte was read. */
void ms_fixture_peek(const ms_fixture *f, uint64_t addr, void *buf, size_t len);
/* Writes LEN bytes at ADDR (in the arena) through the fixture's `set` command, one per byte. */
void ms_fixture_poke(ms_fixture *f, uint64_t addr, const void *bytes, size_t len);
/* The 256-byte string of 255 'a' and a 'b' (NUL-terminated). */
const char *ms_long_str(void);
/* Fills F's arena with 'a' and ends it with a 'b': the one place holding ms_long_str(), returned; a
 * value scan for that string compares at length everywhere (work that takes a while, on purpose). */
uint64_t ms_fixture_fill_long_str(ms_fixture *f);

/* Asserts that the libmemscan-client call R (of client C) returns WANT, else fails with the client's
 * last error. */
#define ms_assert_call(c, r, want)                                                                           \
	do {                                                                                                 \
		int r_ = (r);                                                                                \
		if (r_ != (want))                                                                            \
			fail_msg("%s -> %d (%s), want %d: %s", #r, r_, memscan_strerror(r_), (int)(want),    \
			         memscan_client_last_error(c));                                              \
	} while (0)

#endif /* MEMSCAN_TESTUTIL_H */
