/* The rolling lists' part of a snapshot (rolling.c): the pool, its free
 * lists and the expiry heap as they are, so a load copies them back.
 *
 *   len u64 | pool (len bytes) | used u64 | free_head (KS_ROLL_CLASSES x u32)
 *   | nheap u32 | heap (nheap x u64) | visits u64 | compactions u64
 *
 * Loaded after the customers: each customer's blob must lie in the pool
 * with its first list inside it, free lists must stay in the pool and end,
 * and the heap must be a heap of records of the partition. */
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

void ks_roll_snap_save(ks_snapw *w, const ks_roll *r)
{
    ks_snapw_u64(w, r->len);
    ks_snapw_put(w, r->buf, r->len);
    ks_snapw_u64(w, r->used);
    ks_snapw_put(w, r->free_head, sizeof r->free_head);
    ks_snapw_u32(w, r->nheap);
    ks_snapw_put(w, r->heap, (size_t)r->nheap * sizeof *r->heap);
    ks_snapw_u64(w, r->visits);
    ks_snapw_u64(w, r->compactions);
}

/* The first varint of a blob (the interaction list's length) and its size,
 * read within len bytes; false if it runs past them. */
static bool ks__blob_ok(const uint8_t *s, size_t len)
{
    uint64_t v = 0;
    size_t i = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (i >= len)
            return false;
        uint8_t b = s[i++];
        v |= (uint64_t)(b & 0x7F) << sh;
        if (!(b & 0x80))
            return v <= len - i;
    }
    return false;
}

static void ks__check(ks_snapr *r, const ks_roll *roll, const ks_pstate *p)
{
    for (uint32_t i = 0; i < p->ncust && !r->bad; i++) {
        const ks_customer *c = &p->cust[i];
        if (!c->roll_len)
            continue;
        if ((uint64_t)c->roll_off + c->roll_len > roll->len ||
            !ks__blob_ok(roll->buf + c->roll_off, c->roll_len))
            ks_snapr_fail(r, "customer %u's rolling lists lie outside the pool", i);
    }
    for (int k = 0; k < KS_ROLL_CLASSES && !r->bad; k++) {
        size_t steps = 0;
        for (uint32_t f = roll->free_head[k]; f && !r->bad; steps++) {
            if ((uint64_t)f - 1 + 4 > roll->len || steps > roll->len / 8)
                ks_snapr_fail(r, "a free list of the rolling pool runs outside it");
            else
                memcpy(&f, roll->buf + f - 1, 4);
        }
    }
    for (uint32_t i = 0; i < roll->nheap && !r->bad; i++)
        if ((uint32_t)roll->heap[i] >= p->ncust || (i && roll->heap[(i - 1) / 2] > roll->heap[i]))
            ks_snapr_fail(r, "the rolling expiry heap is broken at entry %u", i);
}

int ks_roll_snap_load(ks_snapr *r, ks_roll *roll, const ks_pstate *p)
{
    uint64_t len = ks_snapr_u64(r);
    if (!r->bad && len > UINT32_MAX)
        ks_snapr_fail(r, "rolling pool of %llu bytes", (unsigned long long)len);
    uint8_t *buf = ks_snapr_dup(r, (size_t)len, 1);
    uint64_t used = ks_snapr_u64(r);
    const void *heads = ks_snapr_take(r, sizeof roll->free_head);
    uint32_t nheap = ks_snapr_u32(r);
    uint64_t *heap = ks_snapr_dup(r, nheap, sizeof *heap);
    uint64_t visits = ks_snapr_u64(r), compactions = ks_snapr_u64(r);
    if (r->bad) {
        free(buf);
        free(heap);
        return -1;
    }
    ks__roll_free(roll);
    roll->buf = buf;
    roll->len = roll->cap = (size_t)len;
    roll->used = (size_t)used;
    memcpy(roll->free_head, heads, sizeof roll->free_head);
    roll->heap = heap;
    roll->nheap = roll->capheap = nheap;
    roll->visits = visits;
    roll->compactions = compactions;
    ks__check(r, roll, p);
    return r->bad ? -1 : 0;
}
