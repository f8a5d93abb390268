/* An open-addressing hash map from nonzero 64-bit keys (already hashed) to a
 * 64-bit payload (16 bytes a slot, key and payload side by side: a probe
 * that finds its key has its payload in the same cache line, where separate
 * arrays cost a second miss per insert). Used for the event-id dedup set,
 * the ticket table and the flusher's sketch counts.
 * Linear probing with tombstones; rebuilds (dropping entries the caller's
 * predicate rejects) when tombstones + entries pass 3/4 of the slots, to a
 * table at most half full. */
#ifndef KS_STATE_U64MAP_H
#define KS_STATE_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_u64map_val {
    int64_t a;
} ks_u64map_val;

/** Decides whether an entry survives a rebuild (true = keep). */
typedef bool (*ks_u64map_keep_fn)(uint64_t key, const ks_u64map_val *v, void *ctx);

typedef struct ks_u64map_slot {
    uint64_t key;         /* 0 = empty, 1 = tombstone, else key */
    ks_u64map_val v;      /* meaningful for a key only */
} ks_u64map_slot;

typedef struct ks_u64map {
    ks_u64map_slot *slots; /* [cap] */
    size_t cap;           /* power of two */
    size_t used;          /* live entries */
    size_t filled;        /* live + tombstones */
    ks_u64map_keep_fn keep; /* may be NULL: keep everything */
    void *keep_ctx;
    unsigned run_bits;    /* keys equal above their low run_bits bits go to
                           * consecutive slots (0: every key hashed whole) */
} ks_u64map;

/** Initialises an empty map; keep (optional) prunes entries at rebuild time.
 *  Returns 0 or KS_ERR_NOMEM. Release with ks_u64map_reset(). */
int ks_u64map_init(ks_u64map *m, ks_u64map_keep_fn keep, void *ctx);

/** Places keys that differ only in their low `bits` bits next to each other:
 *  the home slot of a key is that of its high bits plus its low bits, so a
 *  walk over a family of such keys (a customer's name slots) reads one or
 *  two cache lines instead of one per key. Set on an empty map, before any
 *  insert; part of the table's layout (and so of a snapshot's format). */
static inline void ks_u64map_set_runs(ks_u64map *m, unsigned bits)
{
    m->run_bits = bits;
}

/** Frees the map's memory. */
void ks_u64map_reset(ks_u64map *m);

/** Returns the payload for key, or NULL. Borrowed: valid until the next insert. */
ks_u64map_val *ks_u64map_get(ks_u64map *m, uint64_t key);

/** Inserts key if absent. Returns its payload (zeroed if new) and sets *created,
 *  or NULL on out of memory. Borrowed: valid until the next insert. */
ks_u64map_val *ks_u64map_put(ks_u64map *m, uint64_t key, bool *created);

/** Makes an empty map big enough for n entries without a rebuild (loading a
 *  known number of entries: inserting them in another table's slot order
 *  into a small one that keeps growing clusters badly). Returns 0 or
 *  KS_ERR_NOMEM; does nothing to a map that holds entries. */
int ks_u64map_reserve(ks_u64map *m, size_t n);

/** Removes key if present. */
void ks_u64map_del(ks_u64map *m, uint64_t key);

/** Normalises a hash into a valid key (never 0 or 1). */
static inline uint64_t ks_u64map_key(uint64_t h)
{
    return h < 2 ? h + 2 : h;
}

#endif
