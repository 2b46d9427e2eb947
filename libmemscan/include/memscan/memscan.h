/* SPDX-License-Identifier: MIT */
/* libmemscan: read-only inspection of another Linux process's memory. */
#ifndef MEMSCAN_MEMSCAN_H
#define MEMSCAN_MEMSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MEMSCAN_API       __attribute__((visibility("default")))
#define MEMSCAN_NODISCARD __attribute__((warn_unused_result))
#else
#define MEMSCAN_API
#define MEMSCAN_NODISCARD
#endif

/*
 * Conventions
 * - Every function that can fail returns an int: MEMSCAN_OK (0) or a value of memscan_err.
 * - Out-parameters are named ret_*; they are cleared on entry and set only on success.
 * - What a _new/_open/_take/_load returns is released by the matching _free; every _free accepts NULL.
 * - The library never prints and never exits.
 * - Thread safety: distinct objects may be used from distinct threads; one object must not be used
 *   from two threads at once unless its comment says so.
 */

/* Error codes. Values are only ever appended; the wire protocol carries the same numbers. */
typedef enum memscan_err {
	MEMSCAN_OK = 0,
	MEMSCAN_ERR_INVALID_ARG = 1,  /* NULL pointer, PID <= 0, empty range, bad option */
	MEMSCAN_ERR_NO_PROCESS = 2,   /* no process with that PID */
	MEMSCAN_ERR_PERMISSION = 3,   /* not allowed to read that process (ptrace access mode) */
	MEMSCAN_ERR_PROCESS_GONE = 4, /* the process exited (or its PID was reused) since it was opened */
	MEMSCAN_ERR_UNREADABLE = 5,   /* no byte of the requested range could be read */
	MEMSCAN_ERR_PARTIAL = 6,      /* some bytes were read; the holes are reported */
	MEMSCAN_ERR_NO_MEMORY = 7,    /* allocation failed */
	MEMSCAN_ERR_IO = 8,           /* a file could not be read or written (errno-level failure) */
	MEMSCAN_ERR_BAD_PATTERN = 9,  /* a malformed byte pattern */
	MEMSCAN_ERR_BAD_FORMAT = 10,  /* malformed input: snapshot file, maps line */
	MEMSCAN_ERR_TRUNCATED = 11,   /* input ended early */
	MEMSCAN_ERR_UNSUPPORTED_VERSION = 12, /* a snapshot file of a version this build cannot read */
	MEMSCAN_ERR_LIMIT = 13,               /* a documented size limit was exceeded */
	MEMSCAN_ERR_NOT_FOUND = 14,           /* no such index / region / object */
	MEMSCAN_ERR_STOPPED = 15,             /* a callback asked to stop early */
	/* remote operation (libmemscan-client, memscan-agent) */
	MEMSCAN_ERR_DENIED = 16,     /* the agent does not grant this key that operation or target */
	MEMSCAN_ERR_PROTOCOL = 17,   /* a malformed, unexpected or unauthenticated message */
	MEMSCAN_ERR_UNKNOWN_OP = 18, /* the agent does not know the requested operation */
	MEMSCAN_ERR_TIMEOUT = 19,    /* no answer in time */
	MEMSCAN_ERR_CONNECT = 20,    /* could not connect to the agent */
	MEMSCAN_ERR_AUTH = 21,       /* handshake failed: wrong agent key, or this key is not authorized */
	MEMSCAN_ERR_BUSY = 22,       /* a budget or connection limit of the agent is reached */
	MEMSCAN_ERR_CANCELLED = 23,  /* the caller cancelled the operation (memscan_process_set_cancel) */
} memscan_err;

/* Number of defined codes (one past the highest); a test compares it with the wire enum. */
#define MEMSCAN_ERR_COUNT 24

/* A static, human-readable description of an error code; never NULL (unknown codes included). */
MEMSCAN_API const char *memscan_strerror(int err);

/* The library version, "MAJOR.MINOR.PATCH": a static string. */
MEMSCAN_API const char *memscan_version(void);

/* BYTES for people into BUF (SIZE bytes, 16 are enough): "512 B", "4 KiB", "10.7 MiB", "1.5 GiB"
 * (powers of 1024; one decimal below 100 of a unit, none when it is 0). Returns BUF. */
MEMSCAN_API const char *memscan_size_format(uint64_t bytes, char *buf, size_t size);

/* System page size in bytes. */
MEMSCAN_API size_t memscan_page_size(void);

/* ---------------------------------------------------------------------------------------------
 * Process handle
 * ------------------------------------------------------------------------------------------- */

typedef struct memscan_process memscan_process;

/* How memory is read. AUTO uses process_vm_readv and falls back to /proc/PID/mem when the kernel
 * refuses the syscall (ENOSYS, or EPERM under seccomp). The others force one method. */
typedef enum memscan_read_method {
	MEMSCAN_READ_AUTO = 0,
	MEMSCAN_READ_VM_READV = 1,
	MEMSCAN_READ_PROC_MEM = 2,
} memscan_read_method;

/* Opens process PID for reading. Distinct errors: INVALID_ARG (pid <= 0), NO_PROCESS (no such process,
 * or PID is the ID of a thread that does not lead its thread group: a handle names a whole process),
 * PERMISSION (this process may not read PID's memory: it needs the target's uid or CAP_SYS_PTRACE).
 * The handle remembers the process start time and holds a pidfd, so a process that exits (and any
 * process that later reuses its PID) is reported as PROCESS_GONE rather than read by mistake. It
 * holds that one descriptor; /proc/PID/mem is opened only if process_vm_readv is refused (it is the
 * target's 0600 file, which a reader holding only CAP_SYS_PTRACE cannot open), and /proc/PID/maps and
 * pagemap only while absent pages are skipped (pagemap is optional: without it every page is read). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_open(int pid, memscan_process **ret_proc);
MEMSCAN_API void memscan_process_free(memscan_process *proc);
/* Closes the descriptors PROC opened on demand (see memscan_process_open), leaving the pidfd; they
 * are opened again when next needed. For a handle kept idle, e.g. by a server keeping many. Not
 * thread-safe: no other call may use PROC meanwhile. */
MEMSCAN_API void memscan_process_trim(memscan_process *proc);
/* The process (thread group) that thread ID ID belongs to: ID itself for a process's main thread,
 * another PID for any other thread; -1 if there is no such thread or ID <= 0. */
MEMSCAN_API int memscan_thread_group(int id);
/* 1 when this process holds CAP_SYS_PTRACE in its effective set, which reading another user's
 * processes needs (root normally holds it; a least-privileged reader holds only it). */
MEMSCAN_API bool memscan_holds_cap_ptrace(void);
/* A handle over a snapshot FILE (docs/snapshot-format.md) instead of a process: memscan_regions_read
 * lists the file's regions (filters apply), reads return its bytes (bytes it does not hold, its holes
 * and the gaps between its regions, are holes), so pattern and value scans, snapshots and pointer
 * scans work on a snapshot taken earlier or elsewhere. The whole file is checked once (every
 * checksum) as it is opened, a record at a time; then only its region table is held, and bytes are
 * read from the file as asked. memscan_process_pid gives the PID the file records; nothing is read
 * from /proc. A file changed after it was opened makes reads fail with PROCESS_GONE. Errors as
 * memscan_snapshot_load's (memscan_snapshot_file_error says what is wrong). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_open_file(const char *path, memscan_process **ret_proc);
/* True for a handle made by memscan_process_open_file. */
MEMSCAN_API bool memscan_process_is_file(const memscan_process *proc);
MEMSCAN_API int memscan_process_pid(const memscan_process *proc);
/* Start time in clock ticks since boot (field 22 of /proc/PID/stat). */
MEMSCAN_API uint64_t memscan_process_start_time(const memscan_process *proc);
/* MEMSCAN_OK while the opened process is alive, else PROCESS_GONE. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_check_alive(const memscan_process *proc);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_set_read_method(memscan_process *proc,
                                                                  memscan_read_method method);
/* Pages of private anonymous memory (anon, heap, stack regions) that /proc/PID/pagemap reports
 * neither present nor swapped were never written: they read as zeros. By default (SKIP = 1) reads
 * of whole regions (snapshots, detection, mapping, scans) fill such pages with zeros instead of
 * reading them, which is faster on sparse memory and leaves the target's page tables as they were
 * (a read through the kernel would map the zero page there). The bytes are the same either way.
 * SKIP = 0 reads every page. memscan_read() of an arbitrary range always reads. Only runs of at
 * least 16 absent pages are skipped; shorter ones are read with their neighbours. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_set_skip_absent(memscan_process *proc, bool skip);
/* 1 when reads of PROC skip absent pages: enabled, /proc/PID/pagemap readable and the kernel
 * answers PROCMAP_QUERY (Linux 6.11+; each skipped range is checked to be still mapped private
 * anonymous memory, so an unmapped range is reported as a hole, not as zeros). */
MEMSCAN_API bool memscan_process_skips_absent(memscan_process *proc);

/* Asked by long operations whether to stop: nonzero means stop. It is called from the thread that
 * called the operation and from the library's worker threads, possibly at the same time, so it must
 * be thread-safe and quick (typically: load an atomic flag that a signal handler or another thread
 * sets). */
typedef int (*memscan_cancel_fn)(void *ctx);

/* Makes every long operation on PROC cancellable: reads (memscan_read, mapped memory), scans,
 * snapshots (take, refresh), change detection and diff streams check FN(CTX) between pieces of work
 * at most about 10 ms apart (each read call moves at most 64 MiB; a scan matches at most 1 MiB between
 * reads) and, once it returns nonzero, stop and return MEMSCAN_ERR_CANCELLED. What the operation had
 * built is then released as on any failure; a detector's baseline or an UPDATE stream is left as
 * their failures leave them. Copies of the handle the library makes for its workers share FN and CTX,
 * which must stay valid while PROC is used. FN NULL detaches. INVALID_ARG if PROC is NULL. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_set_cancel(memscan_process *proc, memscan_cancel_fn fn,
                                                             void *ctx);

/* Progress of long operations: DONE is the number of bytes of PROC's memory that reads covered since
 * memscan_process_set_progress (pages skipped as never written and unreadable pages count as read).
 * The caller, who knows what its operation reads (e.g. the sizes of the regions it passed), shows it
 * against that. Called from the library's threads, like memscan_cancel_fn: it must be thread-safe
 * and quick, and must not call the library on PROC. */
typedef void (*memscan_progress_fn)(void *ctx, uint64_t done);

/* Makes the reads of PROC (and of the copies its workers make) report progress to FN(CTX, DONE): at
 * the first read, then at most every 100 ms while reads go on, one call at a time (from whichever
 * thread), DONE never going back.
 * Every call resets DONE to 0, so a caller sets it before each operation it shows; FN NULL detaches.
 * INVALID_ARG if PROC is NULL, NO_MEMORY. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_set_progress(memscan_process *proc, memscan_progress_fn fn,
                                                               void *ctx);

/* What a long operation that takes no process handle (a pointer index or search, a snapshot file's
 * load) asks and tells as it goes; any member may be NULL. CANCEL is asked between pieces of work at
 * most about 10 ms apart, from the calling thread and the library's workers (as memscan_cancel_fn
 * is); once it returns nonzero the operation stops, frees what it built and returns
 * MEMSCAN_ERR_CANCELLED. PROGRESS gets DONE as memscan_process_set_progress's callback does (at the
 * start, then at most every 100 ms, from any of the library's threads; DONE never goes back), against
 * the total the function taking the hooks names. */
typedef struct memscan_hooks {
	memscan_cancel_fn cancel;
	void *cancel_ctx;
	memscan_progress_fn progress;
	void *progress_ctx;
} memscan_hooks;

/* One process of the host, as `memscan ps` lists it. */
typedef struct memscan_proc_info {
	int pid;
	int ppid;
	uint32_t uid;
	uint64_t rss_bytes;
	char name[64];     /* comm, NUL-terminated */
	char cmdline[256]; /* arguments joined by spaces, truncated, NUL-terminated; may be empty */
} memscan_proc_info;

/* Lists the host's processes sorted by PID into a new array released with free(). Processes that
 * vanish while listed are skipped. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_process_list(memscan_proc_info **ret_list, size_t *ret_count);

/* ---------------------------------------------------------------------------------------------
 * Memory regions (/proc/PID/maps)
 * ------------------------------------------------------------------------------------------- */

enum {
	MEMSCAN_PERM_READ = 1u << 0,
	MEMSCAN_PERM_WRITE = 1u << 1,
	MEMSCAN_PERM_EXEC = 1u << 2,
	MEMSCAN_PERM_SHARED = 1u << 3, /* 's' in maps; otherwise private ('p') */
};

typedef enum memscan_region_kind {
	MEMSCAN_KIND_ANON = 1u << 0,    /* anonymous mapping without a name */
	MEMSCAN_KIND_HEAP = 1u << 1,    /* [heap] */
	MEMSCAN_KIND_STACK = 1u << 2,   /* [stack] and [stack:TID] */
	MEMSCAN_KIND_FILE = 1u << 3,    /* backed by a file (possibly deleted) */
	MEMSCAN_KIND_SPECIAL = 1u << 4, /* [vdso], [vvar], [vsyscall] and other [names] */
} memscan_region_kind;

typedef struct memscan_region {
	uint64_t start; /* first address */
	uint64_t end;   /* one past the last address */
	uint64_t offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t perms;   /* MEMSCAN_PERM_* */
	uint32_t kind;    /* one memscan_region_kind */
	int deleted;      /* the backing file was deleted: path had " (deleted)", stripped here */
	const char *path; /* never NULL ("" for anonymous); owned by the list that holds the region */
} memscan_region;

/* Region selection. A zeroed filter selects every region. */
typedef struct memscan_filter {
	uint32_t perms;          /* every bit here must be present in the region */
	uint32_t kinds;          /* OR of memscan_region_kind; 0 = any kind */
	const char *path_substr; /* NULL or "" = any path */
	uint64_t range_start;    /* if range_end > range_start: keep only [range_start, range_end), */
	uint64_t range_end;      /*   clipping regions that straddle its edges */
	uint64_t max_size;       /* skip regions larger than this; 0 = no limit */
} memscan_filter;

/* The filter used for scans, snapshots and diffs when the caller has no preference: readable
 * regions, excluding [vvar] and [vsyscall], which the kernel does not let another process read. */
MEMSCAN_API void memscan_filter_default(memscan_filter *filter);

typedef struct memscan_region_list memscan_region_list;

/* Reads /proc/PID/maps of an open process and keeps the regions that pass FILTER (NULL = all). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_regions_read(memscan_process *proc, const memscan_filter *filter,
                                                       memscan_region_list **ret_list);
/* As memscan_regions_read, but LIMIT (and no list) if the maps text is MAX_TEXT bytes or longer: a
 * bound on the time one listing takes (the kernel writes a maps line in ~0.3 us), for a caller that
 * must not be held up by a process with thousands of regions. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_regions_read_max(memscan_process *proc,
                                                           const memscan_filter *filter, size_t max_text,
                                                           memscan_region_list **ret_list);
/* Parses maps text (the content of a /proc/PID/maps file). Used for tests and for maps text
 * received from elsewhere. BAD_FORMAT names no line; see memscan_maps_parse_line for one line. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_regions_parse(const char *text, size_t len,
                                                        const memscan_filter *filter,
                                                        memscan_region_list **ret_list);
/* Parses one maps line (without the newline). PATHBUF receives the path; REGION->path points
 * into it. BAD_FORMAT on anything malformed, LIMIT if the path does not fit. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_maps_parse_line(const char *line, size_t len,
                                                          memscan_region *region, char *pathbuf,
                                                          size_t pathbuf_size);
/* An empty list, to fill with memscan_region_list_add (e.g. regions received over a network). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_region_list_new(memscan_region_list **ret_list);
/* Appends a copy of REGION (its path is copied). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_region_list_add(memscan_region_list *list,
                                                          const memscan_region *region);
MEMSCAN_API size_t memscan_region_list_count(const memscan_region_list *list);
/* The region at INDEX, or NULL if out of range; valid until the list is changed or freed. */
MEMSCAN_API const memscan_region *memscan_region_list_get(const memscan_region_list *list, size_t index);
/* The index of the region of LIST (sorted by address, as listed) that holds ADDR, or SIZE_MAX. */
MEMSCAN_API size_t memscan_region_list_find(const memscan_region_list *list, uint64_t addr);
/* Sum of (end - start) over the list. */
MEMSCAN_API uint64_t memscan_region_list_bytes(const memscan_region_list *list);
MEMSCAN_API void memscan_region_list_free(memscan_region_list *list);
/* True if REGION passes FILTER (ignores the range clipping). */
MEMSCAN_API bool memscan_filter_match(const memscan_filter *filter, const memscan_region *region);
/* "rw-p"-style text of PERMS into a 5-byte buffer. */
MEMSCAN_API void memscan_perms_format(uint32_t perms, char out[5]);
/* Parses "rw", "r-x", "rwxp" style text: letters set bits, '-' is ignored. INVALID_ARG otherwise. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_perms_parse(const char *text, uint32_t *ret_perms);
/* "heap", "stack", "anon", "file", "special": a static string (never freed). */
MEMSCAN_API const char *memscan_kind_name(uint32_t kind);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_kind_parse(const char *text, uint32_t *ret_kind);

/* ---------------------------------------------------------------------------------------------
 * Reading memory
 * ------------------------------------------------------------------------------------------- */

/* A half-open address range [start, end). */
typedef struct memscan_range {
	uint64_t start;
	uint64_t end;
} memscan_range;

/* A growable array of ranges (e.g. the unreadable holes of a read), sorted by address. */
typedef struct memscan_ranges {
	memscan_range *items;
	size_t count;
	size_t capacity;
} memscan_ranges;

MEMSCAN_API void memscan_ranges_clear(memscan_ranges *ranges);   /* count = 0, keeps the storage */
MEMSCAN_API void memscan_ranges_release(memscan_ranges *ranges); /* frees the storage, zeroes the struct */
MEMSCAN_API uint64_t memscan_ranges_bytes(const memscan_ranges *ranges);
/* Appends [START, END) to RANGES, merged into the last range when it continues it. Ranges must come in
 * address order: START below the last range's end, or END below START, is INVALID_ARG (RANGES
 * unchanged); an empty range changes nothing. NO_MEMORY if the array cannot grow. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_ranges_add(memscan_ranges *ranges, uint64_t start, uint64_t end);
/* Whether ADDR lies in one of RANGES (sorted; NULL holds nothing). */
MEMSCAN_API bool memscan_ranges_contains(const memscan_ranges *ranges, uint64_t addr);

/* Reads LEN bytes at ADDR into BUF. OK if every byte was read. If some pages cannot be read, the
 * readable bytes are stored, the unreadable ones are set to 0 in BUF, their ranges are appended
 * to HOLES (if not NULL) and PARTIAL is returned; UNREADABLE if no byte could be read.
 * PROCESS_GONE if the process exited: BUF's content is then unspecified. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_read(memscan_process *proc, uint64_t addr, void *buf, size_t len,
                                               memscan_ranges *holes);

/* ---------------------------------------------------------------------------------------------
 * MappedMemory and MemoryMapper: local buffer views of remote regions
 * ------------------------------------------------------------------------------------------- */

typedef struct memscan_mapped memscan_mapped;

/* Reads REGION into a new local buffer (large buffers are huge-page advised). A partially readable
 * region is mapped with its holes reported (memscan_mapped_holes); UNREADABLE if nothing could be
 * read. The region (and its path) is copied. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_mapped_new(memscan_process *proc, const memscan_region *region,
                                                     memscan_mapped **ret_mapped);
/* Re-reads the region into the same buffer. On failure the previous contents are kept. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_mapped_refresh(memscan_mapped *mapped, memscan_process *proc);
/* The local copy: memscan_mapped_size bytes from memscan_mapped_address, owned by MAPPED. Valid until
 * MAPPED is freed (memscan_mapped_free, or its mapper cleared or freed); memscan_mapped_refresh
 * rewrites the bytes in place (the pointer stays valid). */
MEMSCAN_API const uint8_t *memscan_mapped_data(const memscan_mapped *mapped);
MEMSCAN_API uint64_t memscan_mapped_address(const memscan_mapped *mapped);
MEMSCAN_API size_t memscan_mapped_size(const memscan_mapped *mapped);
/* The region MAPPED copies (its path included), owned by MAPPED: valid until MAPPED is freed. */
MEMSCAN_API const memscan_region *memscan_mapped_region(const memscan_mapped *mapped);
/* The unreadable ranges of the last read (their bytes are 0), owned by MAPPED: valid until the next
 * memscan_mapped_refresh (which replaces them) or until MAPPED is freed. */
MEMSCAN_API const memscan_ranges *memscan_mapped_holes(const memscan_mapped *mapped);
MEMSCAN_API void memscan_mapped_free(memscan_mapped *mapped);

typedef struct memscan_mapper memscan_mapper;

MEMSCAN_API MEMSCAN_NODISCARD int memscan_mapper_new(memscan_mapper **ret_mapper);
/* Maps REGION and stores it at the next index, returned in RET_INDEX. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_mapper_map_region(memscan_mapper *mapper, memscan_process *proc,
                                                            const memscan_region *region, size_t *ret_index);
/* The mapping at INDEX, or NULL; owned by MAPPER: valid until the mapper is cleared or freed. */
MEMSCAN_API const memscan_mapped *memscan_mapper_get(const memscan_mapper *mapper, size_t index);
MEMSCAN_API size_t memscan_mapper_len(const memscan_mapper *mapper);
MEMSCAN_API bool memscan_mapper_is_empty(const memscan_mapper *mapper);
/* Releases every mapping; the mapper stays usable. */
MEMSCAN_API void memscan_mapper_clear(memscan_mapper *mapper);
MEMSCAN_API void memscan_mapper_free(memscan_mapper *mapper);

/* ---------------------------------------------------------------------------------------------
 * Snapshots and their file format (docs/snapshot-format.md)
 * ------------------------------------------------------------------------------------------- */

typedef struct memscan_snapshot memscan_snapshot;

/* One region of a snapshot. DATA holds (region.end - region.start) bytes; bytes inside HOLES were
 * unreadable and are 0. */
typedef struct memscan_snapshot_region {
	memscan_region region;
	const uint8_t *data;
	const memscan_ranges *holes;
} memscan_snapshot_region;

/* Reads every region of REGIONS (as listed; NULL = the default filter's regions, read now).
 * Regions that vanished or are wholly unreadable are skipped (they appear in no snapshot region);
 * partially readable ones keep their holes. PROCESS_GONE if the process exits meanwhile. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_take(memscan_process *proc,
                                                        const memscan_region_list *regions,
                                                        memscan_snapshot **ret_snapshot);
/* Re-reads the same regions into the same buffers (no allocation when nothing changed size). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_refresh(memscan_snapshot *snapshot, memscan_process *proc);
MEMSCAN_API size_t memscan_snapshot_region_count(const memscan_snapshot *snapshot);
/* The region at INDEX (sorted by address), or a zeroed struct if out of range. Its pointers (path,
 * data, holes) are owned by SNAPSHOT: valid until it is refreshed or freed. */
MEMSCAN_API memscan_snapshot_region memscan_snapshot_get(const memscan_snapshot *snapshot, size_t index);
MEMSCAN_API uint64_t memscan_snapshot_bytes(const memscan_snapshot *snapshot);
MEMSCAN_API int memscan_snapshot_pid(const memscan_snapshot *snapshot);
/* Wall-clock time the snapshot was completed, nanoseconds since the Unix epoch. */
MEMSCAN_API uint64_t memscan_snapshot_time_ns(const memscan_snapshot *snapshot);
/* The filter SNAPSHOT's regions were selected with: recorded by memscan_snapshot_take when it lists
 * the regions itself (the default filter), by memscan_snapshot_set_filter (a copy; NULL forgets it)
 * otherwise, saved in and loaded from its file (format version 2). Diffs use it: what one side's
 * filter did not select is reported as outside that side's selection, not as appeared or vanished.
 * get_filter: false when none is known; else *RET_FILTER (its path owned by SNAPSHOT). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_set_filter(memscan_snapshot *snapshot,
                                                              const memscan_filter *filter);
MEMSCAN_API bool memscan_snapshot_get_filter(const memscan_snapshot *snapshot, memscan_filter *ret_filter);
/* Writes the snapshot to PATH (created 0600, replaced atomically through a temporary file). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_save(const memscan_snapshot *snapshot, const char *path);
/* Writes a snapshot file region by region, from bytes that arrive in pieces (e.g. downloaded from
 * an agent), without holding the snapshot in memory; memscan_snapshot_save uses it. The file is
 * written to a temporary sibling of PATH (mode 0600) and appears at PATH, whole and fsynced, only at
 * commit; freeing the writer without a commit removes it. Regions come in ascending address order:
 * begin_region, then its bytes in order (write, as many calls as needed, exactly end - start bytes in
 * all) and its holes in order (add_hole, before or after the bytes they cover: bytes written into a
 * hole already added are stored as zeros; a hole added after its bytes needs them to be zeros, else
 * end_region fails with INVALID_ARG), then end_region. INVALID_ARG for calls out of that order or
 * ranges out of place; after an I/O failure (IO) only _free is left to call. */
typedef struct memscan_snapshot_writer memscan_snapshot_writer;
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_open(const char *path, int pid,
                                                               memscan_snapshot_writer **ret_writer);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_begin_region(memscan_snapshot_writer *writer,
                                                                       const memscan_region *region);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_write(memscan_snapshot_writer *writer,
                                                                const void *data, size_t len);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_add_hole(memscan_snapshot_writer *writer,
                                                                   memscan_range hole);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_end_region(memscan_snapshot_writer *writer);
/* Takes back the region begun last (begin_region, maybe some of its bytes and holes): the file goes
 * on as if it had never been begun, e.g. for a region found wholly unreadable or gone, which
 * snapshots leave out. INVALID_ARG outside a region. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_drop_region(memscan_snapshot_writer *writer);
/* Records FILTER (copied) in the file as the one its regions were selected with (see
 * memscan_snapshot_set_filter): before the first region only, else INVALID_ARG. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_set_filter(memscan_snapshot_writer *writer,
                                                                     const memscan_filter *filter);
/* Completes the file: TIME_NS (ns since the Unix epoch) is the snapshot's time. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_writer_commit(memscan_snapshot_writer *writer,
                                                                 uint64_t time_ns);
MEMSCAN_API void memscan_snapshot_writer_free(memscan_snapshot_writer *writer);
/* What a streamed snapshot file holds (memscan_snapshot_write_process, memscan_client_snapshot_save). */
typedef struct memscan_snapshot_file_info {
	size_t regions;      /* region records */
	uint64_t bytes;      /* their total size */
	uint64_t hole_bytes; /* of which unreadable (stored as zeros) */
} memscan_snapshot_file_info;
/* Takes a snapshot of REGIONS of PROC (as memscan_snapshot_take: vanished or wholly unreadable regions
 * left out; NULL = the regions FILTER selects, or the default filter's) straight into a snapshot file
 * at PATH, FILTER (or the default one REGIONS NULL stands for) recorded as the filter REGIONS were
 * selected with (see memscan_snapshot_set_filter; NULL with a list: none recorded), without
 * holding it in memory: the regions are read in chunks into a few reused buffers (at most
 * MEMSCAN_SNAPSHOT_STREAM_BYTES in all, whatever the target's size) by a second thread while the
 * calling thread writes the previous chunks. The file appears at PATH, whole and fsynced, only on
 * success; on any failure, or when PROC's cancel callback stops the reads (CANCELLED), the temporary
 * file is removed and PATH is left as it was. The file's time is when the last chunk was read (the
 * chunks are read one after another, not at one instant, as memscan_snapshot_take's are). RET_INFO
 * (optional) receives what was written. IO: the file could not be written (errno tells why). */
#define MEMSCAN_SNAPSHOT_STREAM_BYTES ((size_t)32 << 20)
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_write_process(memscan_process *proc,
                                                                 const memscan_region_list *regions,
                                                                 const memscan_filter *filter,
                                                                 const char *path,
                                                                 memscan_snapshot_file_info *ret_info);
/* Loads a snapshot file. BAD_FORMAT, TRUNCATED or UNSUPPORTED_VERSION name what is wrong; nothing
 * is returned for a file that fails any check. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_load(const char *path, memscan_snapshot **ret_snapshot);
/* memscan_snapshot_load with HOOKS (NULL: none), for a file large enough to take a while (a few
 * seconds per GiB). DONE counts the bytes of the file read and checked so far: it goes up to the
 * file's size (what stat gives), reported once more from the calling thread when the file is loaded.
 * CANCEL is asked before every 4 MiB of a region's bytes is read and every 65536 of its holes (1 MiB
 * of their records: a region may have a hole a byte); once it says stop, nothing is
 * returned, what was built is freed and the result is CANCELLED (memscan_snapshot_file_error then
 * names no file). Reads in the calling thread only. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_load_hooked(const char *path, const memscan_hooks *hooks,
                                                               memscan_snapshot **ret_snapshot);
/* After memscan_snapshot_load or memscan_diff_files failed in this thread because of a file (it could
 * not be opened or read, or its contents are wrong): that file's path, and in *RET_DETAIL (if not
 * NULL) what is wrong with it in words, e.g. "is a directory", "No such file or directory",
 * "checksum mismatch in region record 3 of 21 (0x...-0x...): its bytes changed after it was
 * written", "format version 2, newer than the version 1 this memscan reads: ...", "... the file was
 * cut short". NULL (both) after a success or a failure of another kind. Thread-local strings, valid
 * until the thread's next such call. */
MEMSCAN_API const char *memscan_snapshot_file_error(const char **ret_detail);
MEMSCAN_API void memscan_snapshot_free(memscan_snapshot *snapshot);
/* Building a snapshot from bytes received from elsewhere (e.g. an agent): an empty snapshot of PID
 * taken at TIME_NS, then regions appended in ascending, disjoint address order. RET_DATA receives the
 * region's buffer (end - start bytes, zeroed) for the caller to fill; it stays owned by the snapshot. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_new(int pid, uint64_t time_ns,
                                                       memscan_snapshot **ret_snapshot);
MEMSCAN_API MEMSCAN_NODISCARD int
memscan_snapshot_add_region(memscan_snapshot *snapshot, const memscan_region *region, uint8_t **ret_data);
/* Marks [start, end) of the LAST added region unreadable (ranges in ascending order, inside it). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_snapshot_add_hole(memscan_snapshot *snapshot, memscan_range hole);

/* ---------------------------------------------------------------------------------------------
 * Diffs: change runs, per-byte changes, regions that appeared or vanished
 * ------------------------------------------------------------------------------------------- */

/* The seed's MemoryChange: one byte that changed. */
typedef struct memscan_change {
	uint64_t address;
	uint8_t old_value;
	uint8_t new_value;
} memscan_change;

/* A run of consecutive changed bytes inside one region. */
typedef struct memscan_change_run {
	uint64_t address;
	size_t length;
	size_t region_index; /* index into the NEW snapshot's regions */
	const uint8_t *old_bytes;
	const uint8_t *new_bytes;
} memscan_change_run;

typedef struct memscan_diff memscan_diff;

/* Compares two snapshots of one process. Overlapping address ranges are compared byte by byte
 * (bytes in a hole of either side are skipped); ranges only in NEW are "appeared", only in OLD
 * "vanished". Runs are sorted by address and never span two regions. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_snapshots(const memscan_snapshot *old_snap,
                                                         const memscan_snapshot *new_snap,
                                                         memscan_diff **ret_diff);
MEMSCAN_API size_t memscan_diff_run_count(const memscan_diff *diff);
/* The run at INDEX, or a zeroed struct if out of range; its byte pointers live as long as DIFF. */
MEMSCAN_API memscan_change_run memscan_diff_run(const memscan_diff *diff, size_t index);
/* Total changed bytes (the sum of run lengths). */
MEMSCAN_API uint64_t memscan_diff_changed_bytes(const memscan_diff *diff);
/* Expands runs into per-byte changes: writes up to MAX changes starting at byte number FIRST (in
 * address order) into OUT and returns how many were written. */
MEMSCAN_API size_t memscan_diff_changes(const memscan_diff *diff, uint64_t first, memscan_change *out,
                                        size_t max);
/* Address ranges present only in the new snapshot / only in the old one. Owned by DIFF: valid, and
 * unchanged, until DIFF is freed; never NULL for a valid DIFF (empty when nothing appeared). */
MEMSCAN_API const memscan_ranges *memscan_diff_appeared(const memscan_diff *diff);
MEMSCAN_API const memscan_ranges *memscan_diff_vanished(const memscan_diff *diff);
/* Ranges that only one snapshot holds because the other's recorded filter did not select them
 * (memscan_snapshot_set_filter): IN_NEW nonzero, those of the new snapshot outside the old one's
 * selection; 0, those of the old snapshot outside the new one's. They are neither appeared nor
 * vanished. Owned by DIFF; empty when either filter is unknown or they select alike. */
MEMSCAN_API const memscan_ranges *memscan_diff_outside(const memscan_diff *diff, int in_new);
/* Builds a diff from runs received from elsewhere (e.g. an agent); bytes are copied. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_new(memscan_diff **ret_diff);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_add_run(memscan_diff *diff, const memscan_change_run *run);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_add_appeared(memscan_diff *diff, memscan_range range);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_add_vanished(memscan_diff *diff, memscan_range range);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_add_outside(memscan_diff *diff, memscan_range range,
                                                           int in_new);
MEMSCAN_API void memscan_diff_free(memscan_diff *diff);

/* Receives one part of a diff handed over in pieces (PART lives for the call only); a non-zero
 * return stops the diff, which then returns MEMSCAN_ERR_STOPPED. */
typedef int (*memscan_diff_part_fn)(void *ctx, const memscan_diff *part);
/* What memscan_diff_files compared. */
typedef struct memscan_diff_files_info {
	int old_pid, new_pid;            /* the PIDs the two files record */
	size_t runs;                     /* change runs in all the parts */
	uint64_t changed_bytes;          /* their bytes */
	size_t appeared, vanished;       /* ranges of the last part */
	size_t outside_old, outside_new; /* memscan_diff_outside(part, 1) / (part, 0) of the last part */
} memscan_diff_files_info;
/* Compares two snapshot files as memscan_diff_snapshots compares them once loaded (the same runs,
 * appeared and vanished ranges, region indexes into NEW_PATH's regions), without loading them: both
 * files are read once, in order, a megabyte at a time, with every check memscan_snapshot_load makes
 * (a damaged file fails as it would). The runs go to ON_PART(CTX, PART) in address order, in parts of
 * about MAX_BYTES changed bytes (0: 1 MiB); a run is never split between parts, so a part holds at
 * least one whole run. The last part (possibly without runs) carries the appeared and vanished
 * ranges. Memory: the part, the ranges and 2 MiB of buffers, whatever the files' sizes. Errors: those
 * of memscan_snapshot_load for either file (memscan_snapshot_file_error names it), or STOPPED. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_files(const char *old_path, const char *new_path,
                                                     size_t max_bytes, memscan_diff_part_fn on_part,
                                                     void *ctx, memscan_diff_files_info *ret_info);
/* What memscan_diff_files_opts takes besides the files. */
typedef struct memscan_diff_files_options {
	size_t max_bytes;             /* as memscan_diff_files's MAX_BYTES (0: 1 MiB) */
	memscan_progress_fn progress; /* NULL, or called as memscan_process_set_progress's callback is
	                               * (at the start, then at most every 100 ms, from the calling thread)
	                               * with DONE the bytes of both files read so far: the total is the
	                               * sum of the two files' sizes */
	void *progress_ctx;
} memscan_diff_files_options;
/* memscan_diff_files with OPTIONS (NULL: the defaults). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_files_opts(const char *old_path, const char *new_path,
                                                          const memscan_diff_files_options *options,
                                                          memscan_diff_part_fn on_part, void *ctx,
                                                          memscan_diff_files_info *ret_info);

/* ---------------------------------------------------------------------------------------------
 * ChangeDetector: track regions over time
 * ------------------------------------------------------------------------------------------- */

typedef struct memscan_detector memscan_detector;

MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_new(memscan_detector **ret_detector);
/* Takes the baseline snapshot of REGIONS (NULL = the default filter's regions). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_initialize(memscan_detector *det, memscan_process *proc,
                                                              const memscan_region_list *regions);
/* Reads REGIONS now (NULL = the regions of the baseline) and returns what changed against the
 * baseline, which is left as it was. Regions added or removed show as appeared / vanished. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_detect_changes(memscan_detector *det,
                                                                  memscan_process *proc,
                                                                  const memscan_region_list *regions,
                                                                  memscan_diff **ret_diff);
/* Reads REGIONS now (NULL = the regions of the last read) and makes that the new baseline. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_update_snapshots(memscan_detector *det,
                                                                    memscan_process *proc,
                                                                    const memscan_region_list *regions);
/* Makes the memory read by the last detect_changes the new baseline, without reading again: the
 * cheap way to watch (detect, report, accept). NOT_FOUND if there was no detect_changes since the
 * baseline last changed. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_accept(memscan_detector *det);
/* detect_changes and accept in one pass: reads REGIONS now (NULL = the regions of the baseline),
 * returns what changed and makes what was read the new baseline, streamed in one part (see
 * memscan_detector_stream): it compares as it reads and writes only the changed bytes into the
 * baseline, so it holds no second copy of the target (half the memory, and faster). The way to watch
 * a target. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_detect_update(memscan_detector *det, memscan_process *proc,
                                                                 const memscan_region_list *regions,
                                                                 memscan_diff **ret_diff);
/* Number of regions held in the baseline. */
MEMSCAN_API size_t memscan_detector_snapshot_count(const memscan_detector *det);
/* The detector's baseline, owned by DET (never free it). Valid until the next call that changes the
 * baseline: memscan_detector_initialize, _update_snapshots, _accept, _detect_update, a stream with
 * MEMSCAN_STREAM_UPDATE, or memscan_detector_free; the data of its regions may change in place under
 * an update stream. NULL before the detector was initialized. */
MEMSCAN_API const memscan_snapshot *memscan_detector_baseline(const memscan_detector *det);
MEMSCAN_API void memscan_detector_free(memscan_detector *det);

/* Streaming detection: for targets whose diff may be huge, or where a second copy of the target does
 * not fit. REGIONS (NULL = the regions of the baseline) are read and compared with the baseline a unit
 * at a time (all cores) and the change runs are handed out in parts of bounded size; no second copy of
 * the target is held. Address ranges only in REGIONS are "appeared", only in the baseline "vanished"
 * (both given in the first part), as detect_changes reports them; runs' region_index counts in
 * REGIONS sorted by address. With MEMSCAN_STREAM_UPDATE the baseline becomes what the stream read
 * (as detect_changes + accept, without the second copy): a region the baseline holds exactly gets
 * its changed bytes written in place right after they are compared; any other region gets a buffer
 * of its own (memscan_diff_stream_new_bytes), and the baseline takes the new layout at the end. A
 * region that could not be read at all is kept, as one hole. While a stream is open the detector
 * must not be used in any other way. */
typedef struct memscan_diff_stream memscan_diff_stream;
#define MEMSCAN_STREAM_UPDATE 1u
/* NOT_FOUND if DET has no baseline; INVALID_ARG if REGIONS overlap. The second buffer an earlier
 * detect_changes kept (for accept and for reuse) is freed: after a stream the detector holds the
 * baseline alone. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_detector_stream(memscan_detector *det, memscan_process *proc,
                                                          const memscan_region_list *regions, unsigned flags,
                                                          memscan_diff_stream **ret_stream);
/* Reads on from where the last part stopped until about MAX_BYTES bytes of runs were found (counting
 * old and new bytes: twice the changed bytes; the part may exceed it by 2 MiB per worker) or to the
 * end. *RET_PART: a diff of the runs found (free it), in address order; the last run of a part may be
 * continued by the first run of the next (same region, next address). *RET_DONE: everything was read
 * (the part may still hold runs). A failure (e.g. PROCESS_GONE) ends the stream: later calls return
 * it again; an UPDATE stream's baseline then holds the new bytes of the regions it held exactly, as
 * far as they were read, and keeps its old layout. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_stream_next(memscan_diff_stream *stream, size_t max_bytes,
                                                           memscan_diff **ret_part, int *ret_done);
/* Reads what is left without keeping any run: an UPDATE stream abandoned early calls this so that its
 * baseline is one whole read rather than part new, part old. */
/* memscan_diff_stream_next that also stops once about MAX_READ bytes of the regions were read and
 * compared by this call (at least one unit of a megabyte; MAX_READ SIZE_MAX: no such bound): the
 * part may then hold no runs while *RET_DONE is false. A caller that must answer within some time
 * calls it again until it has found enough runs or the time is up. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_stream_next_within(memscan_diff_stream *stream,
                                                                  size_t max_bytes, size_t max_read,
                                                                  memscan_diff **ret_part, int *ret_done);
MEMSCAN_API MEMSCAN_NODISCARD int memscan_diff_stream_finish(memscan_diff_stream *stream);
/* True once everything was read. */
MEMSCAN_API bool memscan_diff_stream_done(const memscan_diff_stream *stream);
/* Changed bytes handed out so far. */
MEMSCAN_API uint64_t memscan_diff_stream_changed_bytes(const memscan_diff_stream *stream);
/* The bytes of the regions read and compared so far, of *RET_TOTAL (may be NULL) in all: a diff's
 * progress. */
MEMSCAN_API uint64_t memscan_diff_stream_compared_bytes(const memscan_diff_stream *stream,
                                                        uint64_t *ret_total);
/* Bytes of the buffers an UPDATE stream allocated for regions the baseline did not hold exactly (they
 * replace the baseline's at the end); 0 without update or once the stream ended. */
MEMSCAN_API uint64_t memscan_diff_stream_new_bytes(const memscan_diff_stream *stream);
/* Frees the stream (not the detector). An UPDATE stream freed before its end leaves the baseline in its
 * old layout, with the regions it had not read yet as they were: call memscan_diff_stream_finish
 * first to avoid that. */
MEMSCAN_API void memscan_diff_stream_free(memscan_diff_stream *stream);

/* ---------------------------------------------------------------------------------------------
 * Pattern scanner
 * ------------------------------------------------------------------------------------------- */

/* Longest pattern accepted, in bytes. */
#define MEMSCAN_PATTERN_MAX 4096

typedef struct memscan_pattern memscan_pattern;

/* Parses "4D 5A ?? 00": two-character tokens of hex digits or '?', where '??' matches any byte and
 * '4?' / '?D' match one nibble. Spaces between tokens are optional ("4D5A??00"). BAD_PATTERN on any
 * malformed text; RET_ERROR_OFFSET (if not NULL) receives the offset of the offending character. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pattern_parse(const char *text, memscan_pattern **ret_pattern,
                                                        size_t *ret_error_offset);
MEMSCAN_API size_t memscan_pattern_length(const memscan_pattern *pattern);
/* True if the bytes at DATA match the pattern; DATA must hold at least memscan_pattern_length bytes. */
MEMSCAN_API bool memscan_pattern_matches(const memscan_pattern *pattern, const uint8_t *data);
MEMSCAN_API void memscan_pattern_free(memscan_pattern *pattern);

typedef struct memscan_scan_options {
	uint64_t align;       /* a match's address must be a multiple of this; 0 or 1 = any */
	uint64_t max_results; /* stop after this many matches; 0 = no limit */
	int no_memmap;        /* read in small chunks instead of whole mapped regions */
} memscan_scan_options;

/* Called for each match in address order. REGION is the region where the match starts (NULL for
 * memscan_scan_buffer). Return 0 to go on, nonzero to stop (the scan then returns STOPPED). */
typedef int (*memscan_match_fn)(void *ctx, uint64_t address, const memscan_region *region);

/* Scans REGIONS of PROC (NULL = the default filter's regions, listed now) for PATTERN. A match may
 * straddle two adjacent regions. Unreadable bytes never match. Both read modes give identical
 * results. OPTIONS may be NULL (defaults), ON_MATCH may be NULL (just count). RET_MATCHES (if not
 * NULL) receives the number of matches reported, on success. Unreadable or vanished regions are
 * skipped; PROCESS_GONE if the process exited. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_scan(memscan_process *proc, const memscan_region_list *regions,
                                               const memscan_pattern *pattern,
                                               const memscan_scan_options *options, memscan_match_fn on_match,
                                               void *ctx, uint64_t *ret_matches);
/* Scans a local buffer that holds memory from address BASE, with the same rules. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_scan_buffer(const uint8_t *data, size_t len, uint64_t base,
                                                      const memscan_pattern *pattern,
                                                      const memscan_scan_options *options,
                                                      memscan_match_fn on_match, void *ctx,
                                                      uint64_t *ret_matches);

#ifdef __cplusplus
}
#endif

/* The rest of the API, one header per part (each usable alone, as this one). */
#include <memscan/heat.h>
#include <memscan/pointers.h>
#include <memscan/values.h>

#endif /* MEMSCAN_MEMSCAN_H */
