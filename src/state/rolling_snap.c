/* The rolling lists' part of a snapshot (rolling.c): each customer's blob
 * in record order, packed, then the expiry heap as it is.
 *
 *   used u64 | blobs (used bytes: customer 0's roll_len bytes, customer 1's, ...)
 *   | nheap u32 | heap (nheap x u64) | visits u64 | compactions u64
 *
 * Loaded after the customers (whose roll_len say where one blob ends) and
 * laid out as a compaction of the pool would (rolling.c), so free blocks,
 * their stale bytes and uninitialised slack never reach a file. Checked:
 * each blob holds its first list, and the heap is a heap of records of the
 * partition. */
#include "kpistream/bigalloc.h"
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

void ks_roll_snap_save(ks_snapw *w, const ks_pstate *p)
{
    const ks_roll *r = &p->roll;
    uint64_t used = 0;
    for (uint32_t i = 0; i < p->ncust; i++)
        used += p->cust[i].roll_len;
    ks_snapw_u64(w, used);
    for (uint32_t i = 0; i < p->ncust; i++)
        ks_snapw_put(w, r->buf + p->cust[i].roll_off, p->cust[i].roll_len);
    ks_snapw_u32(w, r->nheap);
    ks_snapw_put(w, r->heap, (size_t)r->nheap * sizeof *r->heap);
    ks_snapw_u64(w, r->visits);
    ks_snapw_u64(w, r->compactions);
}

/* Steps over one varint ending before end (at most 10 bytes). */
static bool ks__uv_ok(const uint8_t *s, size_t *i, size_t end, uint64_t *v)
{
    uint64_t x = 0;
    for (int n = 0; n < 10; n++) {
        if (*i >= end)
            return false;
        uint8_t b = s[(*i)++];
        x |= (uint64_t)(b & 0x7F) << (7 * n);
        if (!(b & 0x80)) {
            if (v)
                *v = x;
            return true;
        }
    }
    return false;
}

/* One list of rolling.c's layout in s[from, end): newest bucket, then
 * entries (gap:4 x:4, [gap varint], then the interaction count's varint or
 * the money fields of the mask), every varint inside the list. The decoder
 * trusts this; a snapshot is outside bytes (fuzz_snapshot read past a
 * customer's blob through a money entry whose fields ran over its end). */
static bool ks__list_ok(const uint8_t *s, size_t from, size_t end, bool money)
{
    size_t i = from;
    if (i == end)
        return true;
    if (!ks__uv_ok(s, &i, end, NULL))
        return false;
    while (i < end) {
        uint8_t b = s[i++];
        unsigned x = b & 15u;
        if (!(b >> 4) && !ks__uv_ok(s, &i, end, NULL))
            return false;
        if (!money) {
            if (x == 15 && !ks__uv_ok(s, &i, end, NULL))
                return false;
            continue;
        }
        for (unsigned f = 1; f <= 8; f <<= 1) {
            uint64_t u = 0;
            if ((x & f) && !ks__uv_ok(s, &i, end, &u))
                return false;
            if (f == 2 && (x & f) && (u & 7) == 7 && !ks__uv_ok(s, &i, end, NULL))
                return false; /* revenue stored raw */
        }
    }
    return true;
}

/* A customer's blob: the interaction list's length, that list, and the
 * money list in the rest, each well formed. */
static bool ks__blob_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint64_t len1 = 0;
    if (!ks__uv_ok(s, &i, len, &len1) || len1 > len - i)
        return false;
    return ks__list_ok(s, i, i + (size_t)len1, false) &&
           ks__list_ok(s, i + (size_t)len1, len, true);
}

int ks_roll_snap_load(ks_snapr *r, ks_roll *roll, ks_pstate *p)
{
    uint64_t used = ks_snapr_u64(r), sum = 0, need = 0;
    for (uint32_t i = 0; i < p->ncust && !r->bad; i++) {
        size_t size = p->cust[i].roll_len ? ks__roll_block_size(p->cust[i].roll_len) : 0;
        if (p->cust[i].roll_len && !size)
            ks_snapr_fail(r, "customer %u's rolling lists are too long", i);
        sum += p->cust[i].roll_len;
        need += size;
    }
    if (!r->bad && (sum != used || need > UINT32_MAX))
        ks_snapr_fail(r, "rolling lists of %llu bytes where the customers hold %llu",
                      (unsigned long long)used, (unsigned long long)sum);
    const uint8_t *blobs = ks_snapr_take(r, (size_t)used);
    uint32_t nheap = ks_snapr_u32(r);
    uint64_t *heap = ks_snapr_dup(r, nheap, sizeof *heap);
    uint64_t visits = ks_snapr_u64(r), compactions = ks_snapr_u64(r);
    size_t cap = (size_t)need + (size_t)need / 8 + 4096;
    uint8_t *buf = r->bad ? NULL : ks_big_alloc(cap);
    if (!r->bad && !buf)
        ks_snapr_fail(r, "out of memory");
    size_t off = 0, from = 0;
    for (uint32_t i = 0; i < p->ncust && !r->bad; i++) {
        ks_customer *c = &p->cust[i];
        if (!c->roll_len) {
            c->roll_off = 0;
            continue;
        }
        if (!ks__blob_ok(blobs + from, c->roll_len))
            ks_snapr_fail(r, "customer %u's rolling lists are malformed", i);
        memcpy(buf + off, blobs + from, c->roll_len);
        c->roll_off = (uint32_t)off;
        from += c->roll_len;
        off += ks__roll_block_size(c->roll_len);
    }
    for (uint32_t i = 0; i < nheap && !r->bad; i++)
        if ((uint32_t)heap[i] >= p->ncust || (i && heap[(i - 1) / 2] > heap[i]))
            ks_snapr_fail(r, "the rolling expiry heap is broken at entry %u", i);
    if (r->bad) {
        ks_big_free(buf);
        ks_big_free(heap);
        return -1;
    }
    ks__roll_free(roll);
    roll->buf = buf;
    roll->len = off;
    roll->cap = cap;
    roll->used = (size_t)used;
    roll->heap = heap;
    roll->nheap = roll->capheap = nheap;
    roll->visits = visits;
    roll->compactions = compactions;
    return 0;
}
