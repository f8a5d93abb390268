#include "state/u64map.h"

#include "kpistream/bigalloc.h"
#include "kpistream/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KS__EMPTY 0
#define KS__TOMB 1

static int ks__alloc(ks_u64map *m, size_t cap)
{
    m->slots = ks_big_calloc(cap * sizeof *m->slots);
    if (!m->slots)
        return KS_ERR_NOMEM;
    m->cap = cap;
    m->used = m->filled = 0;
    return 0;
}

int ks_u64map_init(ks_u64map *m, ks_u64map_keep_fn keep, void *ctx)
{
    memset(m, 0, sizeof *m);
    m->keep = keep;
    m->keep_ctx = ctx;
    return ks__alloc(m, 1024);
}

void ks_u64map_reset(ks_u64map *m)
{
    ks_big_free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t ks__slot(const ks_u64map *m, uint64_t key)
{
    /* Fibonacci hashing of the key folded onto itself. Dedup and ticket
     * keys are hashes, but the flusher's sketch-count keys are packed
     * fields times an odd constant (flush.c, ks__xkey): their item id sits
     * in bits 40 and up, which a product never carries down, so taking bits
     * 17.. put every item's count of the same bucket in one slot (clusters
     * of thousands, 49 % of a replay's time). The fold brings the high bits
     * down before the multiply spreads them into the top bits taken here. */
    uint64_t k = key >> m->run_bits;
    uint64_t h = (k ^ (k >> 32)) * 0x9E3779B97F4A7C15ULL;
    size_t home = (size_t)(h >> (64 - __builtin_ctzll((unsigned long long)m->cap)));
    return (home + (size_t)(key & ((1ULL << m->run_bits) - 1))) & (m->cap - 1);
}

ks_u64map_val *ks_u64map_get(ks_u64map *m, uint64_t key)
{
    for (size_t i = ks__slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key)
            return &m->slots[i].v;
        if (m->slots[i].key == KS__EMPTY)
            return NULL;
    }
}

/* Puts every entry back on its probe path after slots were emptied in
 * place: each one moves to the first empty slot between its home and where
 * it is. Clusters are taken from their start, from just after start, a slot
 * that was empty before anything was emptied: then every slot between an
 * entry's home and it is settled by the time the entry is looked at, and
 * nothing settled is emptied afterwards (an entry only ever moves back
 * towards its home). */
static void ks__replace(ks_u64map *m, size_t start)
{
    ks_u64map_slot *s = m->slots;
    size_t mask = m->cap - 1;
    for (size_t n = 1; n < m->cap; n++) {
        size_t j = (start + n) & mask;
        if (s[j].key == KS__EMPTY)
            continue;
        for (size_t h = ks__slot(m, s[j].key); h != j; h = (h + 1) & mask)
            if (s[h].key == KS__EMPTY) {
                s[h] = s[j];
                s[j].key = KS__EMPTY;
                break;
            }
    }
}

/* Drops the tombstones and the entries keep rejects. A table that still
 * fits them at most half full is cleaned in place, in two passes over it;
 * else they move to one twice as large (or more). A catch-up's dedup table
 * stays the same size from one rebuild to the next (the horizon's worth of
 * ids), and a new table each time cost a zeroed allocation, first touches
 * of its pages and a random write per entry. */
static int ks__rebuild(ks_u64map *m)
{
    ks_u64map_slot *old = m->slots;
    size_t cap = m->cap, live = 0, start = 0;
    while (old[start].key != KS__EMPTY) /* (the load bound keeps one) */
        start++;
    for (size_t i = 0; i < cap; i++) {
        if (old[i].key == KS__TOMB ||
            (old[i].key > KS__TOMB && m->keep && !m->keep(old[i].key, &old[i].v, m->keep_ctx)))
            old[i].key = KS__EMPTY;
        else if (old[i].key > KS__TOMB)
            live++;
    }
    m->used = m->filled = live;
    /* After a rebuild the load is at most 1/2 (a rebuild starts at 3/4), so
     * a table costs 1.3-2 slots per entry. */
    size_t ncap = cap;
    while (live * 2 > ncap)
        ncap *= 2;
    if (ncap == cap) {
        ks__replace(m, start);
        return 0;
    }
    if (ks__alloc(m, ncap) < 0) {
        /* Kept as it is, cleaned: every entry stays found. */
        m->slots = old;
        m->cap = cap;
        m->used = m->filled = live;
        ks__replace(m, start);
        return KS_ERR_NOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        if (old[i].key <= KS__TOMB)
            continue;
        size_t j = ks__slot(m, old[i].key);
        while (m->slots[j].key != KS__EMPTY)
            j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
        m->used++;
        m->filled++;
    }
    ks_big_free(old);
    return 0;
}

ks_u64map_val *ks_u64map_put(ks_u64map *m, uint64_t key, bool *created)
{
    /* One walk finds the key or, if it is new, where it goes: the first
     * tombstone or empty slot of its run (dedup puts a new key at nearly
     * every event; a lookup then a second walk did the probing twice). The
     * load bound keeps an empty slot in every run. */
    size_t mask = m->cap - 1, i = ks__slot(m, key), at = SIZE_MAX;
    for (;; i = (i + 1) & mask) {
        uint64_t k = m->slots[i].key;
        if (k == key) {
            *created = false;
            return &m->slots[i].v;
        }
        if (k <= KS__TOMB) {
            if (at == SIZE_MAX)
                at = i;
            if (k == KS__EMPTY)
                break;
        }
    }
    i = at;
    if ((m->filled + 1) * 4 > m->cap * 3) {
        /* The rebuild leaves no tombstone: the first empty slot. */
        if (ks__rebuild(m) < 0)
            return NULL;
        i = ks__slot(m, key);
        while (m->slots[i].key != KS__EMPTY)
            i = (i + 1) & (m->cap - 1);
    }
    if (m->slots[i].key == KS__EMPTY)
        m->filled++;
    m->slots[i].key = key;
    m->used++;
    memset(&m->slots[i].v, 0, sizeof m->slots[i].v);
    *created = true;
    return &m->slots[i].v;
}

int ks_u64map_reserve(ks_u64map *m, size_t n)
{
    if (m->used != 0 || m->filled != 0 || n * 2 <= m->cap)
        return 0;
    size_t cap = m->cap;
    while (n * 2 > cap)
        cap *= 2;
    ks_u64map_slot *old = m->slots;
    if (ks__alloc(m, cap) < 0) {
        m->slots = old; /* ks__alloc left cap as it was */
        return KS_ERR_NOMEM;
    }
    ks_big_free(old);
    return 0;
}

void ks_u64map_del(ks_u64map *m, uint64_t key)
{
    for (size_t i = ks__slot(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) {
            m->slots[i].key = KS__TOMB;
            m->used--;
            return;
        }
        if (m->slots[i].key == KS__EMPTY)
            return;
    }
}
