/* The customer table's part of a snapshot (customers.c): records and id
 * arena as they are; the index is rebuilt from the records' id hashes.
 *
 *   ncust u32 | records (ncust x 128 bytes, ks_customer; roll_off 0) | ids_len u32 |
 *   ids (ids_len bytes) | lru_head u32 | lru_tail u32
 *
 * Checked on load: every id lies in the arena, hashes to the record's id
 * hash and is there once (ks__index_build), and the activity list is one
 * chain over the records. */
#include "kpistream/bigalloc.h"
#include "kpistream/err.h"
#include "state/internal.h"
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

/* Lifetime purchases and refunds, micro-units: at most 2^62 (their
 * difference, the customer's revenue, then fits in 64 bits). */
#define KS__MONEY_MAX (1LL << 62)

void ks_customers_snap_save(ks_snapw *w, const ks_pstate *p)
{
    ks_snapw_u32(w, p->ncust);
    /* Records as they are, but where the rolling lists sit in the pool:
     * the load lays the pool out anew (rolling_snap.c). In batches, so no
     * copy of the table is made. */
    ks_customer batch[256];
    for (uint32_t i = 0; i < p->ncust; i += 256) {
        uint32_t n = p->ncust - i < 256 ? p->ncust - i : 256;
        memcpy(batch, p->cust + i, (size_t)n * sizeof *batch);
        for (uint32_t k = 0; k < n; k++)
            batch[k].roll_off = 0;
        ks_snapw_put(w, batch, (size_t)n * sizeof *batch);
    }
    ks_snapw_u32(w, p->ids_len);
    ks_snapw_put(w, p->ids, p->ids_len);
    ks_snapw_u32(w, p->lru_head);
    ks_snapw_u32(w, p->lru_tail);
}

static bool ks__link_ok(uint32_t v, uint32_t n)
{
    return v == KS_NIL || v < n;
}

/* The activity list: from head, each next's prev is the one before, and
 * the walk ends at tail within n steps. */
static bool ks__lru_ok(const ks_pstate *p)
{
    uint32_t prev = KS_NIL, at = p->lru_head;
    for (uint32_t steps = 0; at != KS_NIL; steps++) {
        if (steps >= p->ncust || p->cust[at].lru_prev != prev)
            return false;
        prev = at;
        at = p->cust[at].lru_next;
    }
    return prev == p->lru_tail;
}

int ks_customers_snap_load(ks_snapr *r, ks_pstate *p)
{
    uint32_t n = ks_snapr_u32(r);
    ks_customer *cust = ks_snapr_dup(r, n, sizeof *cust);
    uint32_t ids_len = ks_snapr_u32(r);
    char *ids = ks_snapr_dup(r, ids_len, 1);
    uint32_t head = ks_snapr_u32(r), tail = ks_snapr_u32(r);
    if (r->bad) {
        ks_big_free(cust);
        ks_big_free(ids);
        return -1;
    }
    ks_big_free(p->cust);
    ks_big_free(p->ids);
    p->cust = cust;
    p->ncust = p->capcust = n;
    p->ids = ids;
    p->ids_len = p->ids_cap = ids_len;
    p->lru_head = head;
    p->lru_tail = tail;
    for (uint32_t i = 0; i < n; i++) {
        ks_customer *c = &cust[i];
        const unsigned char *s = (const unsigned char *)ids + c->id_off;
        if ((uint64_t)c->id_off + 2 > ids_len || (uint64_t)c->id_off + s[0] + 2 > ids_len ||
            s[1 + s[0]] != '\0') {
            ks_snapr_fail(r, "customer %u's id lies outside the id arena", i);
            return -1;
        }
        if (!ks__link_ok(c->lru_prev, n) || !ks__link_ok(c->lru_next, n)) {
            ks_snapr_fail(r, "customer %u's activity links point outside the table", i);
            return -1;
        }
        if (c->purchases_micro < 0 || c->purchases_micro > KS__MONEY_MAX ||
            c->refunds_micro < 0 || c->refunds_micro > KS__MONEY_MAX) {
            ks_snapr_fail(r, "customer %u's lifetime amounts are out of range", i);
            return -1;
        }
        /* Nothing is waiting for a flush; every customer counts as having
         * had an event, as after a replay of their history. */
        c->flags = (uint8_t)((c->flags & ~KS_CUST_DIRTY) | KS_CUST_EVENT);
    }
    if (!ks__link_ok(head, n) || !ks__link_ok(tail, n) || !ks__lru_ok(p)) {
        ks_snapr_fail(r, "the activity list of the customers is broken");
        return -1;
    }
    /* The index at the size the records need (load <= 0.7). */
    uint32_t cap = 1024, bad = 0;
    while ((uint64_t)n * 10 > (uint64_t)cap * 7)
        cap *= 2;
    int rc = ks__index_build(p, cap, &bad);
    if (rc == KS_ERR_STATE)
        ks_snapr_fail(r, "customer %u's id does not match its hash, or is there twice", bad);
    else if (rc < 0)
        ks_snapr_fail(r, "out of memory");
    if (rc < 0)
        return -1;
    return 0;
}
