/* A u64map's part of a snapshot (u64map.h): the table as it is, so loading
 * is two copies and a scan.
 *
 *   cap u64 | used u64 | filled u64 | keys (cap x u64) | values of the live
 *   keys, in slot order (used x i64)
 *
 * The scan checks what lookups rely on: a power-of-two size, the counts
 * matching the slots, and at least one empty slot (a probe ends there). */
#include "kpistream/bigalloc.h"
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

void ks_u64map_snap_save(ks_snapw *w, const ks_u64map *m)
{
    ks_snapw_u64(w, m->cap);
    ks_snapw_u64(w, m->used);
    ks_snapw_u64(w, m->filled);
    ks_snapw_put(w, m->keys, m->cap * sizeof *m->keys);
    /* Only live values: the others are stale or were never written. */
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] > 1)
            ks_snapw_put(w, &m->vals[i], sizeof m->vals[i]);
}

int ks_u64map_snap_load(ks_snapr *r, ks_u64map *m)
{
    uint64_t cap = ks_snapr_u64(r), used = ks_snapr_u64(r), filled = ks_snapr_u64(r);
    if (!r->bad && (cap < 2 || (cap & (cap - 1)) || cap > (1ULL << 34) ||
                    cap > (r->len - r->pos) / 8))
        ks_snapr_fail(r, "hash table of %llu slots at byte %zu", (unsigned long long)cap, r->pos);
    uint64_t *keys = ks_snapr_dup(r, (size_t)cap, sizeof *keys);
    ks_u64map_val *vals = NULL;
    if (!r->bad) {
        uint64_t live = 0, tomb = 0;
        for (uint64_t i = 0; i < cap; i++) {
            live += keys[i] > 1;
            tomb += keys[i] == 1;
        }
        if (live != used || live + tomb != filled || filled >= cap)
            ks_snapr_fail(r, "hash table counts do not match its slots (%llu live, %llu said)",
                          (unsigned long long)live, (unsigned long long)used);
    }
    const uint8_t *src = ks_snapr_take(r, (size_t)used * sizeof *vals);
    if (!r->bad && !(vals = ks_big_calloc((size_t)cap * sizeof *vals)))
        ks_snapr_fail(r, "out of memory");
    for (uint64_t i = 0, k = 0; !r->bad && i < cap; i++)
        if (keys[i] > 1)
            memcpy(&vals[i], src + sizeof *vals * k++, sizeof *vals);
    if (r->bad) {
        ks_big_free(keys);
        ks_big_free(vals);
        return -1;
    }
    ks_big_free(m->keys);
    ks_big_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = (size_t)cap;
    m->used = (size_t)used;
    m->filled = (size_t)filled;
    return 0;
}
