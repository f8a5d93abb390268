/* Top-k heavy hitters over weighted string items: Space-Saving with m counters.
 *
 * Guarantees, with N the total weight added (over every summary merged in too):
 * every reported count is >= the item's true count and exceeds it by at most the
 * entry's error, which is <= N/m; every item whose true count is > N/m is present.
 * Algorithm, merge rule and layout: src/sketch/topk.c and docs/sketches.md.
 */
#ifndef KPISTREAM_TOPK_H
#define KPISTREAM_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_TOPK_ITEM_MAX 128 /* longest item in bytes; longer items are refused */
/* Counters to keep for a top-k list: 10 per reported item, at least 64 (see
 * docs/sketches.md for why). */
#define KS_TOPK_DEFAULT_CAPACITY(k) ((k)*10 < 64 ? 64 : (k)*10)
#define KS_TOPK_MAX_CAPACITY (1u << 20)

typedef struct ks_topk ks_topk;

/* One reported item. */
typedef struct ks_topk_entry {
    const char *item; /* not NUL-terminated; len bytes. Borrowed: valid until the next
                       * add, merge, reset or free of the summary. */
    size_t len;
    uint64_t count; /* estimated count: true count <= count <= true count + error */
    uint64_t error; /* largest possible overestimate of count; <= N/m */
} ks_topk_entry;

/** Creates an empty summary with capacity m counters (1 .. KS_TOPK_MAX_CAPACITY). All
 *  memory (item arena, hash index, heap) is allocated here, once. Returns NULL with
 *  errstr filled on a bad capacity or out of memory. Caller owns the result; free with
 *  ks_topk_free(). */
ks_topk *ks_topk_new(size_t capacity, char *errstr, size_t errsize);

/** Frees t. NULL is accepted. */
void ks_topk_free(ks_topk *t);

/** Empties t, keeping its memory. */
void ks_topk_reset(ks_topk *t);

/** Adds count occurrences of the item (len bytes at p, 0 .. KS_TOPK_ITEM_MAX). Returns
 *  false and counts nothing if len > KS_TOPK_ITEM_MAX; true otherwise (count 0 is a
 *  no-op). O(log m), no allocation. */
bool ks_topk_add(ks_topk *t, const void *p, size_t len, uint64_t count);

/** Writes the min(k, number of monitored items) entries with the largest counts to
 *  out[] (room for k), sorted by count descending, then error ascending, then item
 *  bytes, and their number to *n. Items are borrowed from t: valid until t changes. */
void ks_topk_list(const ks_topk *t, size_t k, ks_topk_entry *out, size_t *n);

/** Looks up one item. Returns true and fills *e if it is monitored. e->item is borrowed
 *  from t: valid until t changes. */
bool ks_topk_get(const ks_topk *t, const void *p, size_t len, ks_topk_entry *e);

/** Merges src into dst (mergeable Space-Saving: an item missing from a full summary is
 *  counted there at that summary's minimum counter, then the m largest are kept).
 *  Afterwards dst gives the same guarantees for the union, with N = N_dst + N_src.
 *  Returns 0, or KS_ERR_INVAL if the capacities differ (dst unchanged). */
int ks_topk_merge(ks_topk *dst, const ks_topk *src);

/** Returns N, the total weight added to t (merges included). */
uint64_t ks_topk_total(const ks_topk *t);

/** Returns the number of items monitored (<= capacity). */
size_t ks_topk_size(const ks_topk *t);

/** Returns the capacity m. */
size_t ks_topk_capacity(const ks_topk *t);

/** Returns the bound N/m on every entry's error, rounded up. */
uint64_t ks_topk_error_bound(const ks_topk *t);

/** Returns the bytes t holds (struct, arena, index and heap). */
size_t ks_topk_memory(const ks_topk *t);

#endif
