/* The customer table of one partition: fixed-size records in a growable
 * array, an open-addressing index of record numbers (load <= 0.7), and an
 * append-only id arena. Records are never moved between slots, so a record
 * number is a stable handle for the life of the partition state. */
#include "kpistream/bigalloc.h"
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "state/state.h"
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#define KS__ID_SEED 0x6b7069737472ULL

const char *ks_pstate_customer_id(const ks_pstate *p, const ks_customer *c, uint32_t *len)
{
    const unsigned char *s = (const unsigned char *)p->ids + c->id_off;
    if (len)
        *len = s[0];
    return (const char *)s + 1;
}

/* Index slots hold (high 32 bits of the id hash) << 32 | (record + 1), so a
 * probe compares hash fragments without touching records (cache misses). */
#define KS__FRAG(h) ((h) >> 32)
#define KS__SLOT_REC(e) ((uint32_t)(e))

static uint32_t ks__probe(const ks_pstate *p, uint64_t h, const char *id, uint32_t len)
{
    uint32_t mask = p->index_cap - 1;
    for (uint32_t i = (uint32_t)(h >> 32) & mask;; i = (i + 1) & mask) {
        uint64_t e = p->index[i];
        if (e == 0)
            return i;
        if ((e >> 32) != KS__FRAG(h))
            continue;
        const ks_customer *c = &p->cust[KS__SLOT_REC(e) - 1];
        const unsigned char *s = (const unsigned char *)p->ids + c->id_off;
        if (c->id_hash == h && s[0] == len && memcmp(s + 1, id, len) == 0)
            return i;
    }
}

ks_customer *ks_pstate_find(ks_pstate *p, const char *id, uint32_t len)
{
    uint64_t h = ks_hash64(id, len, KS__ID_SEED);
    uint32_t r = KS__SLOT_REC(p->index[ks__probe(p, h, id, len)]);
    if (r) {
        p->hint_id = id;
        p->hint_len = len;
        p->hint_rec = r;
    }
    return r ? &p->cust[r - 1] : NULL;
}

/* The hinted record if it holds exactly this id (records are never removed
 * or renumbered, and ids are unique), else NULL. */
static ks_customer *ks__hinted(const ks_pstate *p, const char *id, uint32_t len)
{
    if (id != p->hint_id || len != p->hint_len || p->hint_rec == 0 || p->hint_rec > p->ncust)
        return NULL;
    ks_customer *c = &p->cust[p->hint_rec - 1];
    const unsigned char *s = (const unsigned char *)p->ids + c->id_off;
    return s[0] == len && memcmp(s + 1, id, len) == 0 ? c : NULL;
}

static int ks__index_grow(ks_pstate *p)
{
    uint32_t cap = p->index_cap * 2;
    uint64_t *idx = ks_big_calloc((size_t)cap * sizeof *idx);
    if (!idx)
        return -1;
    for (uint32_t r = 0; r < p->ncust; r++) {
        uint64_t h = p->cust[r].id_hash;
        uint32_t i = (uint32_t)(h >> 32) & (cap - 1);
        while (idx[i])
            i = (i + 1) & (cap - 1);
        idx[i] = (KS__FRAG(h) << 32) | (r + 1);
    }
    ks_big_free(p->index);
    p->index = idx;
    p->index_cap = cap;
    return 0;
}

int ks__index_build(ks_pstate *p, uint32_t cap, uint32_t *bad)
{
    uint64_t *idx = ks_big_calloc((size_t)cap * sizeof *idx);
    if (!idx)
        return KS_ERR_NOMEM;
    for (uint32_t r = 0; r < p->ncust; r++) {
        const ks_customer *c = &p->cust[r];
        const unsigned char *s = (const unsigned char *)p->ids + c->id_off;
        uint64_t h = ks_hash64(s + 1, s[0], KS__ID_SEED);
        uint32_t i = (uint32_t)(h >> 32) & (cap - 1);
        for (; h == c->id_hash && idx[i]; i = (i + 1) & (cap - 1)) {
            if ((idx[i] >> 32) != KS__FRAG(h))
                continue; /* another id: no need to look at its record */
            const ks_customer *o = &p->cust[KS__SLOT_REC(idx[i]) - 1];
            const unsigned char *t = (const unsigned char *)p->ids + o->id_off;
            if (o->id_hash == h && t[0] == s[0] && memcmp(t + 1, s + 1, s[0]) == 0)
                break; /* the same id twice */
        }
        if (h != c->id_hash || idx[i]) {
            ks_big_free(idx);
            *bad = r;
            return KS_ERR_STATE;
        }
        idx[i] = (KS__FRAG(h) << 32) | (r + 1);
    }
    ks_big_free(p->index);
    p->index = idx;
    p->index_cap = cap;
    return 0;
}

/* Grows *ptr to hold need elements; big: the records and the ids, in 2 MiB
 * pages (bigalloc.h), freed with ks_big_free. */
static int ks__grow_to(void **ptr, uint32_t *cap, uint32_t need, size_t elem, bool big)
{
    if (need <= *cap)
        return 0;
    /* Grow by half: big tables (records, ids) waste at most a third. */
    uint32_t ncap = *cap ? *cap : 1024;
    while (ncap < need)
        ncap += ncap / 2;
    void *np = big ? ks_big_realloc(*ptr, (size_t)*cap * elem, (size_t)ncap * elem)
                   : realloc(*ptr, (size_t)ncap * elem);
    if (!np)
        return -1;
    *ptr = np;
    *cap = ncap;
    return 0;
}

static int ks__grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem)
{
    return ks__grow_to(ptr, cap, need, elem, false);
}

ks_customer *ks__customer_get(ks_pstate *p, const char *id, uint32_t len, bool *created)
{
    ks_customer *hinted = ks__hinted(p, id, len);
    if (hinted) {
        *created = false;
        return hinted;
    }
    uint64_t h = ks_hash64(id, len, KS__ID_SEED);
    uint32_t slot = ks__probe(p, h, id, len);
    if (p->index[slot]) {
        *created = false;
        return &p->cust[KS__SLOT_REC(p->index[slot]) - 1];
    }
    if (ks__grow_to((void **)&p->cust, &p->capcust, p->ncust + 1, sizeof(ks_customer), true) < 0 ||
        ks__grow_to((void **)&p->ids, &p->ids_cap, p->ids_len + len + 2, 1, true) < 0)
        return NULL;
    if ((uint64_t)(p->ncust + 1) * 10 > (uint64_t)p->index_cap * 7) {
        if (ks__index_grow(p) < 0)
            return NULL;
        slot = ks__probe(p, h, id, len);
    }
    uint32_t r = p->ncust++;
    ks_customer *c = &p->cust[r];
    memset(c, 0, sizeof *c);
    c->id_hash = h;
    c->id_off = p->ids_len;
    p->ids[p->ids_len] = (char)len;
    memcpy(p->ids + p->ids_len + 1, id, len);
    p->ids[p->ids_len + 1 + len] = '\0';
    p->ids_len += len + 2;
    c->lru_prev = c->lru_next = KS_NIL;
    c->segment = c->acq_channel = KS_NONE;
    c->nps_last = KS_NONE;
    p->index[slot] = (KS__FRAG(h) << 32) | (r + 1);
    *created = true;
    return c;
}

int ks__mark_dirty(ks_pstate *p, ks_customer *c)
{
    if (c->flags & KS_CUST_DIRTY)
        return 0;
    if (ks__grow((void **)&p->dirty, &p->capdirty, p->ndirty + 1, sizeof(uint32_t)) < 0)
        return -1;
    c->flags |= KS_CUST_DIRTY;
    p->dirty[p->ndirty++] = (uint32_t)(c - p->cust);
    return 0;
}

void ks_pstate_clear_dirty(ks_pstate *p)
{
    for (uint32_t i = 0; i < p->ndirty; i++)
        p->cust[p->dirty[i]].flags &= (uint8_t)~KS_CUST_DIRTY;
    p->ndirty = 0;
}

static void ks__swap_u32(uint32_t **a, uint32_t *na, uint32_t *capa, uint32_t **b, uint32_t *nb,
                         uint32_t *capb)
{
    uint32_t *t = *a, n = *na, c = *capa;
    *a = *b, *na = *nb, *capa = *capb;
    *b = t, *nb = n, *capb = c;
}

void ks_pstate_flush_sent(ks_pstate *p)
{
    /* Only one flush is in flight: its lists are empty here. */
    p->nfdirty = 0;
    p->nfnotices = 0;
    ks__swap_u32(&p->dirty, &p->ndirty, &p->capdirty, &p->fdirty, &p->nfdirty, &p->capfdirty);
    for (uint32_t i = 0; i < p->nfdirty; i++)
        p->cust[p->fdirty[i]].flags &= (uint8_t)~KS_CUST_DIRTY;
    ks_notice *t = p->notices;
    uint32_t n = p->nnotices, c = p->capnotices;
    p->notices = p->fnotices, p->nnotices = p->nfnotices, p->capnotices = p->capfnotices;
    p->fnotices = t, p->nfnotices = n, p->capfnotices = c;
}

void ks_pstate_flush_done(ks_pstate *p)
{
    p->nfdirty = 0;
    p->nfnotices = 0;
}

int ks_pstate_flush_failed(ks_pstate *p)
{
    /* Its HLL additions may not have been applied either: send them again
     * (an HLL union is idempotent, so at worst twice). */
    for (uint32_t i = 0; i < p->nfdirty; i++) {
        p->cust[p->fdirty[i]].flags |= KS_CUST_EVENT;
        if (ks__mark_dirty(p, &p->cust[p->fdirty[i]]) < 0)
            return KS_ERR_NOMEM;
    }
    p->nfdirty = 0;
    /* Notices keep their order: the failed flush's first, then newer ones. */
    if (p->nfnotices) {
        if (ks__grow((void **)&p->fnotices, &p->capfnotices, p->nfnotices + p->nnotices,
                     sizeof *p->fnotices) < 0)
            return KS_ERR_NOMEM;
        if (p->nnotices)
            memcpy(p->fnotices + p->nfnotices, p->notices, (size_t)p->nnotices * sizeof *p->notices);
        ks_notice *t = p->notices;
        uint32_t c = p->capnotices;
        p->notices = p->fnotices, p->nnotices = p->nfnotices + p->nnotices, p->capnotices = p->capfnotices;
        p->fnotices = t, p->nfnotices = 0, p->capfnotices = c;
    }
    return 0;
}

/* --- activity list: customers not churned, ordered by last_event_ms --- */

void ks__lru_unlink(ks_pstate *p, ks_customer *c)
{
    uint32_t r = (uint32_t)(c - p->cust);
    if (c->lru_prev == KS_NIL && c->lru_next == KS_NIL && p->lru_head != r)
        return; /* not linked */
    if (c->lru_prev != KS_NIL)
        p->cust[c->lru_prev].lru_next = c->lru_next;
    else
        p->lru_head = c->lru_next;
    if (c->lru_next != KS_NIL)
        p->cust[c->lru_next].lru_prev = c->lru_prev;
    else
        p->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = KS_NIL;
}

/* Inserts c keeping the list sorted; O(1) for in-order streams, since the
 * newest activity almost always goes to the tail. */
void ks__lru_insert(ks_pstate *p, ks_customer *c)
{
    uint32_t r = (uint32_t)(c - p->cust);
    uint32_t after = p->lru_tail;
    while (after != KS_NIL && p->cust[after].last_event_ms > c->last_event_ms)
        after = p->cust[after].lru_prev;
    c->lru_prev = after;
    if (after == KS_NIL) {
        c->lru_next = p->lru_head;
        p->lru_head = r;
    } else {
        c->lru_next = p->cust[after].lru_next;
        p->cust[after].lru_next = r;
    }
    if (c->lru_next != KS_NIL)
        p->cust[c->lru_next].lru_prev = r;
    else
        p->lru_tail = r;
}
