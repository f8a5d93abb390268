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
    /* The keys as one array (the format predates the slots' layout), in
     * chunks; then only live values: the others are stale or never written. */
    uint64_t keys[512];
    for (size_t i = 0; i < m->cap;) {
        size_t n = 0;
        for (; n < sizeof keys / sizeof keys[0] && i < m->cap; n++, i++)
            keys[n] = m->slots[i].key;
        ks_snapw_put(w, keys, n * sizeof keys[0]);
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key > 1)
            ks_snapw_put(w, &m->slots[i].v, sizeof m->slots[i].v);
}

int ks_u64map_snap_load(ks_snapr *r, ks_u64map *m)
{
    uint64_t cap = ks_snapr_u64(r), used = ks_snapr_u64(r), filled = ks_snapr_u64(r);
    if (!r->bad && (cap < 2 || (cap & (cap - 1)) || cap > (1ULL << 34) ||
                    cap > (r->len - r->pos) / 8))
        ks_snapr_fail(r, "hash table of %llu slots at byte %zu", (unsigned long long)cap, r->pos);
    const uint8_t *keys = r->bad ? NULL : ks_snapr_take(r, (size_t)cap * sizeof(uint64_t));
    if (!r->bad) {
        uint64_t live = 0, tomb = 0;
        for (uint64_t i = 0; i < cap; i++) {
            uint64_t k;
            memcpy(&k, keys + i * sizeof k, sizeof k);
            live += k > 1;
            tomb += k == 1;
        }
        if (live != used || live + tomb != filled || filled >= cap)
            ks_snapr_fail(r, "hash table counts do not match its slots (%llu live, %llu said)",
                          (unsigned long long)live, (unsigned long long)used);
    }
    const uint8_t *src = ks_snapr_take(r, (size_t)used * sizeof(ks_u64map_val));
    ks_u64map_slot *slots = NULL;
    if (!r->bad && !(slots = ks_big_calloc((size_t)cap * sizeof *slots)))
        ks_snapr_fail(r, "out of memory");
    for (uint64_t i = 0, k = 0; !r->bad && i < cap; i++) {
        memcpy(&slots[i].key, keys + i * sizeof slots[i].key, sizeof slots[i].key);
        if (slots[i].key > 1)
            memcpy(&slots[i].v, src + sizeof slots[i].v * k++, sizeof slots[i].v);
    }
    if (r->bad) {
        ks_big_free(slots);
        return -1;
    }
    ks_big_free(m->slots);
    m->slots = slots;
    m->cap = (size_t)cap;
    m->used = (size_t)used;
    m->filled = (size_t)filled;
    return 0;
}
