/* SPDX-License-Identifier: MIT */
/* libmemscan: pointer scans (chains of pointers from static bases). Included by <memscan/memscan.h>; see it
 * for the conventions. */
#ifndef MEMSCAN_API_POINTERS_H
#define MEMSCAN_API_POINTERS_H

#include <memscan/memscan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Pointer scans: chains of pointers from static bases to an address (docs/pointer-format.md)
 * ------------------------------------------------------------------------------------------- */

/* Most dereferences a chain holds, and the bytes of a module name (NUL included). */
#define MEMSCAN_POINTER_DEPTH_MAX  8
#define MEMSCAN_POINTER_MODULE_MAX 256
/* Default search: depth and the largest offset added to a pointer read. */
#define MEMSCAN_POINTER_DEPTH_DEFAULT      4
#define MEMSCAN_POINTER_MAX_OFFSET_DEFAULT 0x1000
/* Default and highest number of chains one search or list holds. */
#define MEMSCAN_POINTER_CHAINS_DEFAULT 10000
#define MEMSCAN_POINTER_CHAINS_MAX     ((uint64_t)1 << 20)
/* Default memory budget of an index, and of a search. */
#define MEMSCAN_POINTER_INDEX_BUDGET_DEFAULT  ((uint64_t)4 << 30)
#define MEMSCAN_POINTER_SEARCH_BUDGET_DEFAULT ((uint64_t)512 << 20)

/* A chain: read the 8-byte little-endian pointer at MODULE's load address + OFFSET, add OFFSETS[0];
 * read the pointer there, add OFFSETS[1]; and so on: DEPTH pointers read, DEPTH offsets added. A
 * module's load address is the lowest address its file is mapped at; MODULE is the file's name (its
 * path's last component) or a bracketed name such as "[heap]". Text form (memscan_pointer_chain_format):
 * "libgame.so+0x1f40 -> 0x18 -> 0x8". */
typedef struct memscan_pointer_chain {
	char module[MEMSCAN_POINTER_MODULE_MAX];
	uint64_t offset;
	unsigned depth; /* 1..MEMSCAN_POINTER_DEPTH_MAX */
	int64_t offsets[MEMSCAN_POINTER_DEPTH_MAX];
} memscan_pointer_chain;

/* Parses the text form (spaces optional, offsets hex with 0x and an optional sign, "+0x18" too).
 * BAD_FORMAT for anything else, no offset, or more than MEMSCAN_POINTER_DEPTH_MAX; LIMIT for a
 * module name too long. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chain_parse(const char *text,
                                                              memscan_pointer_chain *ret_chain);
/* Writes the text form into BUF (SIZE bytes, NUL-terminated); LIMIT if it does not fit. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chain_format(const memscan_pointer_chain *chain, char *buf,
                                                               size_t size);

/* A list of chains, with the address they were searched for. */
typedef struct memscan_pointer_chains memscan_pointer_chains;
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chains_new(uint64_t target,
                                                             memscan_pointer_chains **ret_chains);
/* Appends a copy of CHAIN; INVALID_ARG for a malformed chain, LIMIT past MEMSCAN_POINTER_CHAINS_MAX. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chains_add(memscan_pointer_chains *chains,
                                                             const memscan_pointer_chain *chain);
MEMSCAN_API size_t memscan_pointer_chains_count(const memscan_pointer_chains *chains);
/* The chain at INDEX (owned by CHAINS, valid until it changes or is freed), or NULL. */
MEMSCAN_API const memscan_pointer_chain *memscan_pointer_chains_get(const memscan_pointer_chains *chains,
                                                                    size_t index);
/* The address the chains were searched for. */
MEMSCAN_API uint64_t memscan_pointer_chains_target(const memscan_pointer_chains *chains);
/* Writes CHAINS to PATH (docs/pointer-format.md: versioned, checksummed) through a temporary sibling
 * renamed over PATH. IO if it cannot be written. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chains_save(const memscan_pointer_chains *chains,
                                                              const char *path);
/* Loads a chains file: IO (cannot be read), TRUNCATED, BAD_FORMAT (a field or the checksum is wrong),
 * UNSUPPORTED_VERSION; nothing is returned for a file that fails any check. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_chains_load(const char *path,
                                                              memscan_pointer_chains **ret_chains);
MEMSCAN_API void memscan_pointer_chains_free(memscan_pointer_chains *chains);

/* The reverse index of a snapshot: for every 8-byte aligned word whose little-endian value lies in a
 * region of the snapshot, that value (target) and the word's address (holder), sorted by target.
 * About 8 bytes per such word plus 8 bytes per 256 bytes of the snapshot. Built on every CPU. */
typedef struct memscan_pointer_index memscan_pointer_index;
/* Indexes SNAPSHOT, which must outlive the index and stay unchanged. MAX_BYTES bounds the index's
 * memory (0 = MEMSCAN_POINTER_INDEX_BUDGET_DEFAULT): LIMIT when it would need more, or when the
 * snapshot holds 32 GiB or more. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_index_build(const memscan_snapshot *snapshot,
                                                              uint64_t max_bytes,
                                                              memscan_pointer_index **ret_index);

/* memscan_pointer_index_build with HOOKS (NULL: none). DONE counts the snapshot's bytes the two passes
 * went through, halved: it ends at the snapshot's bytes (memscan_snapshot_bytes / the regions' sizes),
 * reported once more from the calling thread when the index is built. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_index_build_hooked(const memscan_snapshot *snapshot,
                                                                     uint64_t max_bytes,
                                                                     const memscan_hooks *hooks,
                                                                     memscan_pointer_index **ret_index);
/* Pointer words indexed, and the bytes the index holds. */
MEMSCAN_API uint64_t memscan_pointer_index_count(const memscan_pointer_index *index);
MEMSCAN_API uint64_t memscan_pointer_index_bytes(const memscan_pointer_index *index);
MEMSCAN_API void memscan_pointer_index_free(memscan_pointer_index *index);

#define MEMSCAN_POINTER_NEGATIVE  1u /* offsets may also be negative (pointers above the target) */
#define MEMSCAN_POINTER_ALL_BASES 2u /* bases in any named region, not only modules' data and bss */
typedef struct memscan_pointer_search_options {
	unsigned depth;      /* most pointers in a chain, 1..MEMSCAN_POINTER_DEPTH_MAX */
	uint64_t max_offset; /* largest offset added to a pointer read */
	uint64_t max_chains; /* stop after this many chains, 1..MEMSCAN_POINTER_CHAINS_MAX */
	uint64_t max_bytes;  /* the search's own memory (addresses visited, the queue); LIMIT past it */
	unsigned flags;      /* MEMSCAN_POINTER_* */
} memscan_pointer_search_options;
/* Fills OPTIONS with the defaults above. */
MEMSCAN_API void memscan_pointer_search_options_default(memscan_pointer_search_options *options);

/* Searches backwards from ADDR, breadth first: the holders of pointers into [t - max_offset, t] (and
 * (t, t + max_offset] with NEGATIVE) of each address t reached, starting at ADDR, every address
 * followed once. Each holder in a static base (a writable region of a file, the anonymous region just
 * after a file's last mapping (its bss), or with ALL_BASES any named region) ends a chain, reported
 * shortest first. OPTIONS NULL = the defaults. NOT_FOUND if ADDR lies in no region of the snapshot,
 * INVALID_ARG for options out of range, LIMIT past max_bytes. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_search(const memscan_pointer_index *index, uint64_t addr,
                                                         const memscan_pointer_search_options *options,
                                                         memscan_pointer_chains **ret_chains);

/* The total of a search's DONE. */
#define MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL ((uint64_t)1 << 20)
/* memscan_pointer_search with HOOKS (NULL: none). DONE goes from 0 to
 * MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL: each of the depth levels takes an equal share, and within a
 * level it moves in proportion to the addresses of that level expanded so far; a search that ends
 * early (max_chains reached, nothing left to follow) reports the total at its end. The level being
 * expanded (0 .. depth - 1) is DONE / (MEMSCAN_POINTER_SEARCH_PROGRESS_TOTAL / depth), at most
 * depth - 1 (the total itself reports the last level done). CANCEL is asked
 * while the search prepares (every million index entries) and then after every 65536 index entries or
 * addresses it went through, whatever the options. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_search_hooked(const memscan_pointer_index *index,
                                                                uint64_t addr,
                                                                const memscan_pointer_search_options *options,
                                                                const memscan_hooks *hooks,
                                                                memscan_pointer_chains **ret_chains);

/* Where following a chain led. */
typedef struct memscan_pointer_resolution {
	uint64_t address; /* success: the address the chain reaches */
	unsigned step;    /* failure: 0 = the module is not mapped, K = the K-th pointer read broke */
	uint64_t at;      /* failure at step K: the address of that pointer */
	bool null;        /* failure at step K: the pointer was read and is 0 */
} memscan_pointer_resolution;

/* Follows CHAIN in a source: the process PROC (read now; modules from its maps with the default
 * filter) or the snapshot SNAP; exactly one of them not NULL. Fills *RESULT in every case: OK,
 * NOT_FOUND (the module is not mapped), UNREADABLE (a pointer could not be read or is null; STEP and
 * AT say which), PROCESS_GONE, CANCELLED (PROC's cancel question, memscan_process_set_cancel, said
 * to stop). */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_resolve(memscan_process *proc, const memscan_snapshot *snap,
                                                          const memscan_pointer_chain *chain,
                                                          memscan_pointer_resolution *result);
/* Keeps the chains of CHAINS that resolve to ADDR in PROC or SNAP (one of them, as above): a new list
 * whose target is ADDR. Chains that break are dropped; PROCESS_GONE or CANCELLED (PROC's cancel
 * question) stop the rescan, with no list. */
MEMSCAN_API MEMSCAN_NODISCARD int memscan_pointer_rescan(memscan_process *proc, const memscan_snapshot *snap,
                                                         const memscan_pointer_chains *chains, uint64_t addr,
                                                         memscan_pointer_chains **ret_chains);

#ifdef __cplusplus
}
#endif
#endif /* MEMSCAN_API_POINTERS_H */
