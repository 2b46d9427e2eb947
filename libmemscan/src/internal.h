/* SPDX-License-Identifier: MIT */
/* libmemscan's private declarations: shared by its modules and its unit tests, never installed. */
#ifndef MEMSCAN_INTERNAL_H
#define MEMSCAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memscan/memscan.h"

/* Longest path kept for a region (longer maps paths are rejected as LIMIT). */
#define MS_PATH_MAX 4096

/* Descriptors a handle opens only when needed, shared with the copies of the handle that workers
 * make (they may open one while reading). */
struct ms_proc_lazy {
	/* /proc/PID/mem: MS_FD_UNTRIED until a read needs it (process_vm_readv refused, or the
	 * PROC_MEM method), then the descriptor or -errno. Opened late because it is the target's
	 * 0600 file: a reader holding only CAP_SYS_PTRACE cannot open it, yet reads with
	 * process_vm_readv. */
	_Atomic int mem_fd;
};

struct memscan_process {
	int pid;
	int pidfd; /* pidfd_open(pid): the process, not a PID that may be reused; -1 without the syscall */
	struct ms_proc_lazy *lazy;
	/* /proc/PID/pagemap and /proc/PID/maps for skipping absent pages (ms_process_prepare_absent):
	 * MS_FD_UNTRIED until then, -1 if they cannot be opened (then every page is read) */
	int pagemap_fd, maps_fd;
	uint64_t start_time;
	memscan_read_method method;
	int readv_refused;           /* AUTO saw process_vm_readv refused: use /proc/PID/mem from now on */
	int keep_absent;             /* memscan_process_set_skip_absent(proc, 0): read absent pages too */
	memscan_cancel_fn cancel_fn; /* memscan_process_set_cancel: asked between pieces of work */
	void *cancel_ctx;
	struct ms_progress *progress; /* memscan_process_set_progress (progress.c); shared with copies */
	struct ms_file_src *file;     /* memscan_process_open_file (filesrc.c): a snapshot file, not a
	                               * process; shared with copies, freed with the handle */
};

struct ms_read_req;
/* Handles over snapshot files (filesrc.c): their regions, their reads (memscan_read's contract,
 * hole_bytes counted), and the source's release. */
int ms_filesrc_regions(const memscan_process *proc, const memscan_filter *filter,
                       memscan_region_list **ret_list);
int ms_filesrc_read(memscan_process *proc, struct ms_read_req *reqs, size_t n);
void ms_filesrc_free(struct ms_file_src *src);
/* Clips R to F's range (when F has one): -1 if nothing of R is left (regions.c). */
int ms_filter_clip(const memscan_filter *f, memscan_region *r);

/* A progress report's state: the caller's callback, the count so far, when the next report is due. */
struct ms_progress {
	memscan_progress_fn fn;
	void *ctx;
	_Atomic uint64_t done;
	_Atomic uint64_t due_ns; /* no report before then; 0: the next count reports */
	_Atomic int busy;        /* a report is under way: the callback is called by one thread at a time */
};

/* Counts BYTES that a read of PROC covered and reports progress when due (progress.c). */
void ms_progress_add(memscan_process *proc, uint64_t bytes);
/* Sets P's count to DONE (of work counted by a caller other than a process's reads) and reports it
 * when due; nothing without a callback. */
void ms_progress_set(struct ms_progress *p, uint64_t done);
/* Adds N to P's count (from any thread) and reports it when due; nothing without a callback. */
void ms_progress_count(struct ms_progress *p, uint64_t n);
/* Reports DONE now, due or not (the end of an operation, after its workers are joined). */
void ms_progress_final(struct ms_progress *p, uint64_t done);
/* Frees PROC's progress state (memscan_process_free). */
void ms_progress_free(memscan_process *proc);

/* A caller's memscan_hooks as an operation without a process handle runs them (progress.c): the
 * cancel question, and the progress throttled as a process's is. */
struct ms_hooks {
	memscan_cancel_fn cancel;
	void *cancel_ctx;
	struct ms_progress progress;
};
/* Fills H from HOOKS (NULL: none) and reports 0 to its progress callback. */
void ms_hooks_init(struct ms_hooks *h, const memscan_hooks *hooks);
/* 1 when H's cancel hook says stop (asked now; from any thread). */
static inline int ms_hooks_cancelled(const struct ms_hooks *h)
{
	return h->cancel && h->cancel(h->cancel_ctx);
}

/* 1 when PROC's operation is to stop (memscan_process_set_cancel). */
static inline int ms_cancelled(const memscan_process *proc)
{
	return proc && proc->cancel_fn && proc->cancel_fn(proc->cancel_ctx);
}

/* A region list: regions plus a pool of their paths. */
struct memscan_region_list {
	memscan_region *items;
	size_t count;
	size_t capacity;
	char **paths; /* one heap string per region (items[i].path points to paths[i]) */
};

/* Local buffers for copies of remote memory: anonymous mmap, huge-page advised when large; zeroed.
 * AddressSanitizer builds take them from its heap instead, so that overruns are reported. */
void *ms_buf_alloc(size_t len);
void ms_buf_free(void *buf, size_t len);

/* Errors inside libmemscan, one convention: a function that another module (or the public API) calls
 * returns a memscan_err (MEMSCAN_OK = 0). Only a file's own wrappers of system calls return -errno
 * (read_small_file, the read pieces, the /proc/PID/mem descriptor), and the same file translates
 * them once, with ms_err_from_errno, where it hands the result on. */

/* Growing arrays (grow.c). Every array that grows names its maximum, with the reason next to it.
 * ms_grow makes room for NEED elements of ELEM bytes in the array *ITEMSP (a T **, capacity *CAP
 * elements): the capacity doubles, the first allocation holds at least MS_GROW_FIRST_BYTES, and it
 * never exceeds MAX. MEMSCAN_OK (also when the room is already there), LIMIT when NEED > MAX,
 * NO_MEMORY when the bytes overflow size_t or realloc fails; on failure *ITEMSP and *CAP are
 * unchanged and the array is still the caller's. */
#define MS_GROW_FIRST_BYTES 256
int ms_grow(void *itemsp, size_t *cap, size_t need, size_t elem, size_t max);
/* The capacity ms_grow would choose (CAP itself when NEED fits); 0 when NEED cannot be had. */
size_t ms_grow_next(size_t cap, size_t need, size_t elem, size_t max);
/* Bytes of the largest address space a process can have (57 bits: x86-64 and arm64 with 5-level
 * page tables), or SIZE_MAX where that is smaller: the bound of arrays that grow with what is found
 * in a process's memory (holes, changed bytes and runs) and have no tighter one. */
#define MS_ADDRESS_SPACE_MAX (SIZE_MAX < ((uint64_t)1 << 57) ? SIZE_MAX : (size_t)((uint64_t)1 << 57))

/* Appends [start, end) to RANGES, merging with the last range when adjacent. MEMSCAN_OK, NO_MEMORY,
 * or LIMIT past the most ranges a list holds (one per page of the largest address space). */
int ms_ranges_append(memscan_ranges *ranges, uint64_t start, uint64_t end);
/* Appends [start, end) as a range of its own, even when adjacent to the last. As ms_ranges_append. */
int ms_ranges_push(memscan_ranges *ranges, uint64_t start, uint64_t end);
/* The index of the item of ITEMS (COUNT items of STRIDE bytes, each starting with uint64_t start and
 * end as memscan_range and memscan_region do, sorted and disjoint) that holds ADDR, or SIZE_MAX. */
size_t ms_span_find(const void *items, size_t count, size_t stride, uint64_t addr);
_Static_assert(offsetof(memscan_region, start) == offsetof(memscan_range, start) &&
                   offsetof(memscan_region, end) == offsetof(memscan_range, end),
               "ms_span_find reads regions as ranges");
/* Copies SRC into DST (DST's storage is reused). MEMSCAN_OK or as ms_ranges_append. */
int ms_ranges_copy(memscan_ranges *dst, const memscan_ranges *src);

/* One piece of a batched read: LEN bytes at remote ADDR into BUF. Unreadable pages are zeroed,
 * counted in HOLE_BYTES and appended to HOLES (if not NULL). */
struct ms_read_req {
	uint64_t addr;
	void *buf;
	size_t len;
	memscan_ranges *holes;
	size_t hole_bytes;
	/* The range lies in a private anonymous mapping (ms_region_absent_zero): pages that
	 * /proc/PID/pagemap reports neither present nor swapped hold zeros and are not read. */
	int absent_zero;
	int dst_zeroed; /* BUF is fresh (all zeros): pages not read need not be zero-filled either */
};

#define MS_FD_UNTRIED (-100000) /* below every -errno */
/* The /proc/PID/mem descriptor of PROC, opened on first use (thread-safe); -errno if it cannot be. */
int ms_process_mem_fd(memscan_process *proc);
/* Opens what skipping absent pages needs, once per process handle; call before reads with
 * absent_zero set (and before workers copy the handle). Failure only means every page is read. */
void ms_process_prepare_absent(memscan_process *proc);

/* The MEMSCAN_KIND_* of a mapping with PATH as /proc/PID/maps names it ("" for none). */
uint32_t ms_region_kind_of(const char *path);

/* 1 when the kernel answers PROCMAP_QUERY on PROC's maps_fd. */
int ms_vma_query_works(const memscan_process *proc);

/* 1 when REGION is readable private anonymous memory (anon, heap, stack; no backing file, not
 * shared): a page of it that was never written reads as zeros, so it need not be read. */
int ms_region_absent_zero(const memscan_region *region);

/* Reads REQS as they are (read_dense.c), batching many requests into each call; unreadable pages
 * become holes (hole_bytes accumulate). MEMSCAN_OK even with holes, else the error that stopped it. */
int ms_read_dense(memscan_process *proc, struct ms_read_req *reqs, size_t n);
/* Whether REQ is worth reading with pagemap's help (pagemap.c): absent_zero, page aligned, long
 * enough, and the handle prepared (ms_process_prepare_absent) and not keeping absent pages. */
int ms_sparse_eligible(const memscan_process *proc, const struct ms_read_req *req, size_t page);
/* Reads REQ, zero-filling runs of never-written pages instead of reading them (pagemap.c). */
int ms_read_sparse(memscan_process *proc, struct ms_read_req *req, size_t page);

/* Reads every request, batching many into each process_vm_readv call. MEMSCAN_OK even with holes
 * (see each request's hole_bytes); PROCESS_GONE, PERMISSION or NO_MEMORY stop the batch. */
int ms_read_batch(memscan_process *proc, struct ms_read_req *reqs, size_t n);
/* The same without the final liveness check: for callers that read in many small batches and
 * check once at the end. */
int ms_read_batch_raw(memscan_process *proc, struct ms_read_req *reqs, size_t n);

/* The same, with the requests cut into pieces read by several workers when the batch is large
 * (results identical: holes in address order, the first failure in address order). */
int ms_read_batch_par(memscan_process *proc, struct ms_read_req *reqs, size_t n);

/* memscan_read, with the request's absent_zero (reads within one region of a region list). */
int ms_read_range(memscan_process *proc, uint64_t addr, void *buf, size_t len, memscan_ranges *holes,
                  int absent_zero);

/* Workers: FN(CTX, 0) runs on the caller, FN(CTX, k) for 0 < k < N on new threads; returns when
 * all are done. FN shares out the work itself (e.g. an atomic counter), so a thread that cannot be
 * started costs time, never correctness. */
#define MS_WORKERS_MAX 8
typedef void (*ms_work_fn)(void *ctx, unsigned worker);
void ms_run_workers(unsigned n, ms_work_fn fn, void *ctx);
/* Workers worth running: the CPUs this process may use, at most MS_WORKERS_MAX or the limit. */
unsigned ms_worker_count(void);
/* Caps ms_worker_count (tests: 1 forces the sequential paths); 0 removes the cap. */
void ms_set_worker_limit(unsigned n);

/* CPU features (cpu.c): 1 when the AVX2 paths may run (the CPU has AVX2 and ms_set_simd did not
 * turn them off). */
int ms_have_avx2(void);
/* Tests: 0 makes every dispatched function take its scalar path, 1 restores the dispatch. */
void ms_set_simd(int on);

/* Run finding (diff.c): index of the first byte at or after I (< LEN) where A and B differ /
 * are equal, or LEN. Dispatched to AVX2 when the CPU has it; the scalar versions give the same
 * answers. */
size_t ms_find_diff(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
size_t ms_find_same(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
size_t ms_find_diff_scalar(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
size_t ms_find_same_scalar(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
#if defined(__x86_64__) || defined(__i386__)
size_t ms_find_diff_avx2(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
size_t ms_find_same_avx2(const uint8_t *a, const uint8_t *b, size_t i, size_t len);
#endif

/* Appends a run to a diff (diff.c), copying LEN old and new bytes; runs must come in address
 * order. Reserve makes room for RUNS more runs holding BYTES changed bytes in all. */
int ms_diff_push(memscan_diff *d, uint64_t addr, size_t len, size_t region, const uint8_t *old_b,
                 const uint8_t *new_b);
int ms_diff_reserve(memscan_diff *d, size_t runs, size_t bytes);
/* Appends [S, E) of region G, which only one snapshot holds, to OUT (appeared or vanished), or the
 * parts of it that OTHER (the other snapshot's filter, if known) would not have selected to OUTSIDE. */
struct ms_filter_rec;
int ms_coverage_add(const struct ms_filter_rec *other, const memscan_region *g, uint64_t s, uint64_t e,
                    memscan_ranges *out, memscan_ranges *outside);
/* Empties D (runs, bytes and ranges), keeping its buffers for the next runs. */
void ms_diff_clear(memscan_diff *d);
/* As ms_diff_push, but bytes that continue the last run (same region, next address) extend it. */
int ms_diff_append(memscan_diff *d, uint64_t addr, size_t len, size_t region, const uint8_t *old_b,
                   const uint8_t *new_b);

/* Calls FN(CTX, OFF, LEN) for each maximal run of differing bytes of A and B in [OFF, END), in
 * order; stops at the first FN that does not return MEMSCAN_OK and returns its value. */
typedef int (*ms_run_fn)(void *ctx, size_t off, size_t len);
int ms_for_each_run(const uint8_t *a, const uint8_t *b, size_t off, size_t end, ms_run_fn fn, void *ctx);

/* Differing stretches [off, off + len), in order; a stretch that continues the last one extends it. */
struct ms_span {
	size_t off, len;
};
struct ms_spans {
	struct ms_span *items;
	size_t count, cap;
};
int ms_spans_add(struct ms_spans *sp, size_t off, size_t len);
/* Pushes (ms_diff_append) [S, E) of region REGION minus the old holes HO and the new holes HN; OLD_B
 * and NEW_B hold the bytes from address S on. The hole cursors KO, KN only move forward: start them
 * at 0 for each region and keep them while the addresses grow. */
int ms_diff_push_clipped(memscan_diff *d, const memscan_ranges *ho, const memscan_ranges *hn, size_t *ko,
                         size_t *kn, size_t region, uint64_t s, uint64_t e, const uint8_t *old_b,
                         const uint8_t *new_b);
void ms_spans_release(struct ms_spans *sp);
/* The first address >= CUR inside no hole of H (holes sorted; the cursor *K only moves forward: start
 * it at 0 for each list and keep it while CUR grows), and where the next hole starts (*NEXT_HOLE,
 * UINT64_MAX when none). */
uint64_t ms_holes_skip(const memscan_ranges *h, size_t *k, uint64_t cur, uint64_t *next_hole);

/* Duplicates a region's path into a new heap string (never NULL on success). */
char *ms_strdup(const char *s);

/* Maps an errno value from a failed read or open to a memscan_err. */
int ms_err_from_errno(int e);

/* A filter kept by a snapshot or a writer: a copy with its own path (memscan_snapshot_set_filter). */
struct ms_filter_rec {
	int known;
	memscan_filter f;
	char *path; /* f.path_substr points here */
};
/* Sets REC to a copy of F (NULL: unknown); NO_MEMORY leaves REC as it was. */
int ms_filter_rec_set(struct ms_filter_rec *rec, const memscan_filter *f);
void ms_filter_rec_release(struct ms_filter_rec *rec);

/* One region of a snapshot: the region (path owned here), its buffer and its holes. */
struct ms_snap_region {
	memscan_region region;
	char *path;
	uint8_t *data;
	size_t capacity; /* bytes allocated for data (>= region size) */
	memscan_ranges holes;
};

struct memscan_snapshot {
	int pid;
	uint64_t time_ns;
	uint64_t total_bytes;
	struct ms_snap_region *regions; /* sorted by start address, non-overlapping */
	size_t count;
	size_t capacity;
	struct ms_filter_rec sel; /* the filter the regions were selected with, if known */
};

/* Appends an empty region of SIZE bytes to SNAP (buffer allocated, holes empty). 0 or an error. */
int ms_snapshot_add_region(memscan_snapshot *snap, const memscan_region *region, struct ms_snap_region **ret);
/* Frees a region's buffer, path and holes and zeroes it (ms_buf_free of a NULL buffer is a no-op). */
void ms_snap_region_release(struct ms_snap_region *sr);
/* A new empty snapshot. */
int ms_snapshot_new(memscan_snapshot **ret_snap);

/* The regions of LIST by ascending start address: an array of pointers into LIST (free it), or NULL
 * when out of memory. */
const memscan_region **ms_regions_sorted(const memscan_region_list *list);
/* PROC's regions that the default filter selects (memscan_filter_default). */
int ms_regions_default(memscan_process *proc, memscan_region_list **ret_list);

uint64_t ms_now_ns(void);

/* A piece [off, off + len) of region REGION handed to one worker. */
struct ms_unit {
	size_t region, off, len;
};

/* A ChangeDetector (detector.c; detector_stream.c updates its baseline in place). */
struct memscan_detector {
	memscan_snapshot *baseline;
	memscan_snapshot *current; /* what detect_changes read last; its buffers are reused */
	int current_fresh;         /* current was read by the last detect_changes and nothing since */
};

#endif /* MEMSCAN_INTERNAL_H */
