/* Last touches of a customer in a segment or channel (internal.h).
 *
 * Distinct-customer counts per segment and channel are kept by last touch,
 * like the global ones (window.h): a customer counts in the bucket of their
 * latest event (purchase, second-latest purchase) *in that scope*. A
 * customer who moved segment, or buys through several channels, so counts
 * in every scope that has one of their events in the window. The times live
 * here rather than in the 128-byte record because a customer touches few of
 * the scopes that exist: open addressing over (record number, group id).
 * Entries whose times are all older than the largest window count nowhere
 * any more and are dropped when the table is rebuilt. */
#include "kpistream/bigalloc.h"
#include "kpistream/err.h"
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#define KS__EMPTY 0
#define KS__TOMB 1

static uint64_t ks__tkey(uint32_t rec, unsigned gid)
{
    return (((uint64_t)rec + 1) << 16 | gid) + 2; /* never EMPTY or TOMB */
}

static size_t ks__tslot(const ks_touches *t, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (t->cap - 1);
}

static int ks__trebuild(ks_touches *t, int64_t stale_s)
{
    ks_touch *old = t->e;
    size_t ocap = t->cap, live = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old && old[i].key > KS__TOMB &&
            ((int64_t)old[i].last_s > stale_s || (int64_t)old[i].purchase_s > stale_s))
            live++;
    size_t cap = 64;
    while (cap < live * 2 + 2)
        cap *= 2;
    ks_touch *e = ks_big_calloc(cap * sizeof *e);
    if (!e)
        return KS_ERR_NOMEM;
    t->e = e;
    t->cap = cap;
    t->used = t->filled = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key <= KS__TOMB ||
            !((int64_t)old[i].last_s > stale_s || (int64_t)old[i].purchase_s > stale_s))
            continue;
        size_t j = ks__tslot(t, old[i].key);
        while (e[j].key != KS__EMPTY)
            j = (j + 1) & (cap - 1);
        e[j] = old[i];
        t->used++;
        t->filled++;
    }
    ks_big_free(old);
    return 0;
}

ks_touch *ks__touch(ks_touches *t, uint32_t rec, unsigned gid, int64_t stale_s)
{
    uint64_t key = ks__tkey(rec, gid);
    if (t->cap) {
        for (size_t i = ks__tslot(t, key);; i = (i + 1) & (t->cap - 1)) {
            if (t->e[i].key == key)
                return &t->e[i];
            if (t->e[i].key == KS__EMPTY)
                break;
        }
    }
    if ((t->filled + 1) * 4 > t->cap * 3 && ks__trebuild(t, stale_s) < 0)
        return NULL;
    size_t i = ks__tslot(t, key);
    while (t->e[i].key > KS__TOMB)
        i = (i + 1) & (t->cap - 1);
    if (t->e[i].key == KS__EMPTY)
        t->filled++;
    t->used++;
    t->e[i] = (ks_touch){.key = key};
    return &t->e[i];
}

void ks__touches_free(ks_touches *t)
{
    ks_big_free(t->e);
    memset(t, 0, sizeof *t);
}
