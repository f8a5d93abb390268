/* Large state blocks in 2 MiB pages, so that fork() stays short.
 *
 * A snapshot is written by a forked child (src/snapshot/writer.c), and the
 * consume loop stalls for the length of fork(), which copies one page-table
 * entry per resident 4 KiB page: ~9 ms for the 0.7 GB of a 1 M-customer
 * partition. A block in transparent huge pages costs one entry per 2 MiB.
 * The big arrays of the state (customer records, id arena, index, hash
 * tables, rolling lists, last-touch table) are allocated here: from 2 MiB
 * on, a 2 MiB-aligned anonymous mapping advised MADV_HUGEPAGE; smaller ones
 * with malloc, on a 64-byte cache line (posix_memalign: records and table
 * slots do not straddle more lines than their size needs). Where the
 * kernel's transparent huge pages are `never` (or under AddressSanitizer,
 * which checks malloc's blocks only), every block comes from malloc, and
 * one grown past 16 MiB by realloc. Measured in docs/benchmarks.md
 * (restore part).
 *
 * Not for the hot path: each call is a malloc or a system call. Thread-safe. */
#ifndef KPISTREAM_BIGALLOC_H
#define KPISTREAM_BIGALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Returns n bytes, uninitialised, or NULL. Caller owns the block; free it
 *  with ks_big_free() (never free()). */
void *ks_big_alloc(size_t n);

/** Returns n zeroed bytes, or NULL. Caller owns the block; free it with
 *  ks_big_free(). */
void *ks_big_calloc(size_t n);

/** Returns p's first min(old_n, n) bytes in a block of n bytes (p moved or
 *  not), or NULL with p left as it was. p: NULL, a ks_big_* block or a
 *  malloc block of old_n bytes. Caller owns the result; free it with
 *  ks_big_free(). */
void *ks_big_realloc(void *p, size_t old_n, size_t n);

/** Frees a block of ks_big_*, or of malloc; NULL is ignored. */
void ks_big_free(void *p);

/** Starts a pass that gives the big blocks their 2 MiB pages back, on a
 *  thread of its own (started on the first call; MADV_COLLAPSE, Linux >=
 *  6.1; without it, khugepaged does it at its own pace). Call it once a
 *  forked child that shared the blocks has exited: each write the parent
 *  made meanwhile split a 2 MiB page into 4 KiB entries (copy-on-write
 *  copies 4 KiB), and the next fork() would copy those entries again. A
 *  pass in progress gives way to the new one. */
void ks_big_collapse_start(void);

/** Waits for the pass asked for last to end (benchmarks, tests). */
void ks_big_collapse_wait(void);

typedef struct ks_big_collapse_stats {
    int64_t passes;     /* passes done */
    int64_t ranges;     /* 2 MiB ranges looked at */
    int64_t collapsed;  /* of them made (or found) one 2 MiB page */
    double last_pass_s; /* the last pass, start to end */
} ks_big_collapse_stats;

/** Fills *out with the collapse thread's counts. */
void ks_big_collapse_stats_get(ks_big_collapse_stats *out);

/** Returns the kernel's transparent huge page mode ("always", "madvise",
 *  "never", or "unknown" where /sys does not say), read once. Borrowed:
 *  static. */
const char *ks_big_thp_mode(void);

/** Returns true if blocks from 2 MiB on go to huge-page-advised mappings. */
bool ks_big_huge(void);

#endif
