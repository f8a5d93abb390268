/* The customer table of one partition: fixed-size records in a growable
 * array, an open-addressing index of record numbers (load <= 0.7), and an
 * append-only id arena. Records are never moved between slots, so a record
 * number is a stable handle for the life of the partition state. */
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "kpistream/state.h"
#include "state/internal.h"

#include <math.h>
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
    return r ? &p->cust[r - 1] : NULL;
}

static int ks__index_grow(ks_pstate *p)
{
    uint32_t cap = p->index_cap * 2;
    uint64_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (uint32_t r = 0; r < p->ncust; r++) {
        uint64_t h = p->cust[r].id_hash;
        uint32_t i = (uint32_t)(h >> 32) & (cap - 1);
        while (idx[i])
            i = (i + 1) & (cap - 1);
        idx[i] = (KS__FRAG(h) << 32) | (r + 1);
    }
    free(p->index);
    p->index = idx;
    p->index_cap = cap;
    return 0;
}

static int ks__grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    /* Grow by half: big tables (records, ids) waste at most a third. */
    uint32_t ncap = *cap ? *cap : 1024;
    while (ncap < need)
        ncap += ncap / 2;
    void *np = realloc(*ptr, (size_t)ncap * elem);
    if (!np)
        return -1;
    *ptr = np;
    *cap = ncap;
    return 0;
}

ks_customer *ks__customer_get(ks_pstate *p, const char *id, uint32_t len, bool *created)
{
    uint64_t h = ks_hash64(id, len, KS__ID_SEED);
    uint32_t slot = ks__probe(p, h, id, len);
    if (p->index[slot]) {
        *created = false;
        return &p->cust[KS__SLOT_REC(p->index[slot]) - 1];
    }
    if (ks__grow((void **)&p->cust, &p->capcust, p->ncust + 1, sizeof(ks_customer)) < 0 ||
        ks__grow((void **)&p->ids, &p->ids_cap, p->ids_len + len + 2, 1) < 0)
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

/* --- rolling day slots ---
 *
 * Up to KS_DAY_SLOTS slots, sorted by day; slot i holds the activity of the
 * days [slot_day[i], slot_day[i] + slot_span[i]]. A new day gets its own
 * slot; when all are used, the two adjacent slots (the newest excepted) whose
 * union spans the fewest days are merged, so spans grow with age, as in an
 * exponential histogram (Datar et al., "Maintaining stream statistics over
 * sliding windows", 2002): recent days stay exact, and a window edge cuts
 * through at most one slot, which then counts in proportion to its days
 * inside. Customers active on at most 7 distinct days of the last 60 are
 * exact. */

static int ks__nslots(const ks_customer *c)
{
    int k = 0;
    while (k < KS_DAY_SLOTS && c->slot_day[k])
        k++;
    return k;
}

static int64_t ks__slot_end(const ks_customer *c, int i)
{
    return (int64_t)c->slot_day[i] + c->slot_span[i];
}

static void ks__slot_clear(ks_customer *c, int i)
{
    c->slot_day[i] = 0;
    c->slot_span[i] = 0;
    c->slot_rev[i] = 0;
    c->slot_inter[i] = 0;
    c->slot_orders[i] = 0;
    c->slot_cpf[i] = 0;
}

static void ks__slot_copy(ks_customer *c, int to, int from)
{
    c->slot_day[to] = c->slot_day[from];
    c->slot_span[to] = c->slot_span[from];
    c->slot_rev[to] = c->slot_rev[from];
    c->slot_inter[to] = c->slot_inter[from];
    c->slot_orders[to] = c->slot_orders[from];
    c->slot_cpf[to] = c->slot_cpf[from];
}

/* Removes slot i of k, shifting the later ones down. */
static void ks__slot_remove(ks_customer *c, int i, int k)
{
    for (int j = i; j + 1 < k; j++)
        ks__slot_copy(c, j, j + 1);
    ks__slot_clear(c, k - 1);
}

/* Opens an empty slot at i of k (< KS_DAY_SLOTS), shifting the later ones up. */
static void ks__slot_insert(ks_customer *c, int i, int k)
{
    for (int j = k; j > i; j--)
        ks__slot_copy(c, j, j - 1);
    ks__slot_clear(c, i);
}

/* Merges slot b = a + 1 into slot a. */
static void ks__slot_merge(ks_customer *c, int a, int k)
{
    int b = a + 1;
    int64_t end = ks__slot_end(c, b) > ks__slot_end(c, a) ? ks__slot_end(c, b) : ks__slot_end(c, a);
    int64_t span = end - c->slot_day[a];
    c->slot_span[a] = (uint8_t)(span > 255 ? 255 : span);
    c->slot_rev[a] += c->slot_rev[b];
    c->slot_inter[a] = ks__sat16(c->slot_inter[a] + (unsigned)c->slot_inter[b]);
    c->slot_orders[a] = ks__sat8(c->slot_orders[a] + (unsigned)c->slot_orders[b]);
    unsigned comp = (c->slot_cpf[a] & 15u) + (c->slot_cpf[b] & 15u);
    unsigned pf = (c->slot_cpf[a] >> 4) + (c->slot_cpf[b] >> 4);
    c->slot_cpf[a] = (uint8_t)((comp > 15 ? 15 : comp) | ((pf > 15 ? 15 : pf) << 4));
    ks__slot_remove(c, b, k);
}

int ks__day_slot(ks_customer *c, uint32_t day)
{
    if (day == 0)
        day = 1; /* 0 marks a free slot */
    int k = ks__nslots(c);
    /* Drop slots that ended more than KS_DAY_HORIZON days before this day. */
    while (k > 0 && ks__slot_end(c, 0) + KS_DAY_HORIZON < (int64_t)day)
        ks__slot_remove(c, 0, k--);
    /* A day some slot already covers. */
    for (int i = k - 1; i >= 0; i--)
        if (c->slot_day[i] <= day && (int64_t)day <= ks__slot_end(c, i))
            return i;
    /* Where it goes in day order. */
    int at = k;
    while (at > 0 && c->slot_day[at - 1] > day)
        at--;
    if (k == KS_DAY_SLOTS) {
        if (at == 0) { /* before every slot and no room: the first slot reaches back */
            c->slot_span[0] = (uint8_t)(ks__slot_end(c, 0) - day > 255 ? 255 : ks__slot_end(c, 0) - day);
            c->slot_day[0] = (uint16_t)day;
            return 0;
        }
        if (at < k) { /* a gap between older slots: the slot before reaches forward */
            int64_t span = (int64_t)day - c->slot_day[at - 1];
            c->slot_span[at - 1] = (uint8_t)(span > 255 ? 255 : span);
            return at - 1;
        }
        /* A new newest day: merge the adjacent older pair spanning fewest days. */
        int best = 0;
        int64_t best_span = INT64_MAX;
        for (int i = 0; i + 2 < k; i++) {
            int64_t span = ks__slot_end(c, i + 1) - c->slot_day[i];
            if (span < best_span) {
                best_span = span;
                best = i;
            }
        }
        ks__slot_merge(c, best, k--);
        at = k;
    }
    ks__slot_insert(c, at, k);
    c->slot_day[at] = (uint16_t)day;
    return at;
}

/* Share of slot [s, e] that lies in [lo, hi] (days, inclusive). */
static double ks__share(int64_t s, int64_t e, int64_t lo, int64_t hi)
{
    int64_t a = s > lo ? s : lo, b = e < hi ? e : hi;
    return b < a ? 0.0 : (double)(b - a + 1) / (double)(e - s + 1);
}

static void ks__rolling(const ks_customer *c, int64_t clock_ms, bool as_of, ks_customer_rolling *out)
{
    memset(out, 0, sizeof *out);
    int64_t today = clock_ms / KS_DAY_MS;
    int k = ks__nslots(c);
    double o30 = 0, c30 = 0, p30 = 0, i7 = 0, i28 = 0;
    for (int i = 0; i < k; i++) {
        int64_t s = c->slot_day[i], e = ks__slot_end(c, i);
        /* Days after the clock count as today's unless as_of (see state.h). */
        int64_t hi = as_of ? today : INT64_MAX;
        double f30 = ks__share(s, e, today - 29, hi), f7 = ks__share(s, e, today - 6, hi);
        double f28 = ks__share(s, e, today - 27, hi), fp = ks__share(s, e, today - 59, today - 30);
        o30 += f30 * c->slot_orders[i];
        out->revenue_30d += f30 * c->slot_rev[i];
        c30 += f30 * (c->slot_cpf[i] & 15);
        p30 += f30 * (c->slot_cpf[i] >> 4);
        out->revenue_prev_30d += fp * c->slot_rev[i];
        i7 += f7 * c->slot_inter[i];
        i28 += f28 * c->slot_inter[i];
    }
    out->orders_30d = llround(o30);
    out->complaints_30d = llround(c30);
    out->payment_failures_30d = llround(p30);
    out->interactions_7d = llround(i7);
    out->interactions_28d = llround(i28);
}

void ks_customer_rolling_at(const ks_customer *c, int64_t clock_ms, ks_customer_rolling *out)
{
    ks__rolling(c, clock_ms, false, out);
}

void ks_customer_rolling_as_of(const ks_customer *c, int64_t at_ms, ks_customer_rolling *out)
{
    ks__rolling(c, at_ms, true, out);
}
