/* Applying events to one partition's state, and moving its clock.
 *
 * Attribution (documented in docs/kpis.md and docs/architecture.md):
 *  - global: every event;
 *  - segment: the customer's remembered segment (last value wins, applied
 *    before the event is counted);
 *  - channel: the event's own channel for event counts and sums; customer
 *    membership counts (new, churned, base) use the customer's acquisition
 *    channel, the channel of their first event.
 * Distinct-customer counters are "last touch" (see window.h): moving a
 * customer's latest touch takes it out of its old bucket and into the new one.
 */
#include "kpistream/bigalloc.h"
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "state/state.h"
#include "state/internal.h"
#include "state/rolling.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define KS__EVENT_SEED 0x65766964ULL
#define KS__TICKET_SEED 0x7469636bULL

enum { KS__T_COMPLAINT = 1, KS__T_RESPONDED = 2, KS__T_RESOLVED = 4 };

/* A ticket in 64 bits: opened time (ms, 44 bits: until year 2527), flags,
 * the channel of its opening and the customer's segment then. */
#define KS__T_PACK(ms, flags, ch, seg)                                         \
    ((int64_t)(((uint64_t)(ms) & ((1ULL << 44) - 1)) | ((uint64_t)(flags) << 44) |   \
               ((uint64_t)((ch) & 0xFF) << 47) | ((uint64_t)((seg) & 0xFF) << 55)))
#define KS__T_MS(v) ((int64_t)((uint64_t)(v) & ((1ULL << 44) - 1)))
#define KS__T_FLAGS(v) ((unsigned)(((uint64_t)(v) >> 44) & 7))
#define KS__T_CH(v) ((unsigned)(((uint64_t)(v) >> 47) & 0xFF))
#define KS__T_SEG(v) ((unsigned)(((uint64_t)(v) >> 55) & 0xFF))

static bool ks__dedup_keep(uint64_t key, const ks_u64map_val *v, void *ctx)
{
    const ks_pstate *p = ctx;
    (void)key;
    if (p->clock_ms == INT64_MIN) /* no clock yet: nothing can have expired */
        return true;
    return v->a * 1000 > p->clock_ms - p->sh->cfg->dedup_horizon_ms;
}

static bool ks__ticket_keep(uint64_t key, const ks_u64map_val *v, void *ctx)
{
    const ks_pstate *p = ctx;
    (void)key;
    bool resolved = (KS__T_FLAGS(v->a) & KS__T_RESOLVED) != 0;
    const ks_config *cfg = p->sh->cfg;
    if (p->clock_ms == INT64_MIN)
        return true;
    return !resolved || KS__T_MS(v->a) > p->clock_ms - cfg->windows[cfg->nwindows - 1].length_ms;
}

static int ks__group_init(ks_pstate *p, ks_group *g)
{
    const ks_config *cfg = p->sh->cfg;
    for (int w = 0; w < cfg->nwindows; w++) {
        if (ks_series_init(&g->win[w], cfg->windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS) < 0)
            return KS_ERR_NOMEM;
        ks_series_set_pool(&g->win[w], &p->bpool);
    }
    g->used = true;
    if (p->nused < (int)(sizeof p->used / sizeof p->used[0]))
        p->used[p->nused++] = g;
    return 0;
}

static void ks__group_reset(ks_group *g)
{
    if (!g->used)
        return;
    for (int w = 0; w < KS_MAX_WINDOWS; w++)
        ks_series_reset(&g->win[w]);
    g->used = false;
}

/* n zeroed bytes on a cache line (the window series are aligned to one,
 * window.h), or NULL; freed with free(). */
static void *ks__zalloc64(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        return NULL;
    memset(p, 0, n);
    return p;
}

ks_pstate *ks_pstate_new(ks_engine_shared *sh)
{
    ks_pstate *p = ks__zalloc64(sizeof *p);
    if (!p)
        return NULL;
    p->sh = sh;
    p->lru_head = p->lru_tail = KS_NIL;
    p->max_ts_ms = INT64_MIN;
    p->clock_ms = INT64_MIN;
    ks__adv_n(p);
    for (int i = 0; i < KS_P90_DAYS; i++)
        p->p90_day[i] = INT64_MIN;
    p->index_cap = 1024;
    p->index = ks_big_calloc((size_t)p->index_cap * sizeof *p->index);
    p->segments = ks__zalloc64((size_t)sh->segments.max * sizeof *p->segments);
    p->channels = ks__zalloc64((size_t)sh->channels.max * sizeof *p->channels);
    if (!p->index || !p->segments || !p->channels ||
        ks_u64map_init(&p->dedup, ks__dedup_keep, p) < 0 ||
        ks_u64map_init(&p->tickets, ks__ticket_keep, p) < 0 ||
        ks_u64map_init(&p->names, NULL, NULL) < 0 || ks__group_init(p, &p->global) < 0) {
        ks_pstate_free(p);
        return NULL;
    }
    ks_names_layout(&p->names);
    return p;
}

void ks_pstate_free(ks_pstate *p)
{
    if (!p)
        return;
    ks__group_reset(&p->global);
    for (int i = 0; p->segments && i < p->sh->segments.max; i++)
        ks__group_reset(&p->segments[i]);
    for (int i = 0; p->channels && i < p->sh->channels.max; i++)
        ks__group_reset(&p->channels[i]);
    free(p->segments);
    free(p->channels);
    ks_bpool_reset(&p->bpool); /* after the series that give buckets back to it */
    ks__touches_free(&p->touches);
    ks_u64map_reset(&p->dedup);
    ks_u64map_reset(&p->tickets);
    ks_u64map_reset(&p->names);
    ks__roll_free(&p->roll);
    ks_big_free(p->cust);
    ks_big_free(p->index);
    ks_big_free(p->ids);
    free(p->dirty);
    free(p->fdirty);
    free(p->fnotices);
    free(p->resp);
    free(p->notices);
    free(p);
}

/* Returns the group for a segment/channel id, creating it on first use; NULL for KS_NONE. */
static ks_group *ks__group(ks_pstate *p, ks_group *arr, int max, unsigned id)
{
    if (id == KS_NONE || (int)id >= max)
        return NULL;
    ks_group *g = &arr[id];
    if (!g->used && ks__group_init(p, g) < 0) {
        ks__group_reset(g);
        return NULL;
    }
    return g;
}

#define KS__SEG(p, id) ks__group((p), (p)->segments, (p)->sh->segments.max, (id))
#define KS__CHAN(p, id) ks__group((p), (p)->channels, (p)->sh->channels.max, (id))


/* Window w's series of group g, moved to the partition's clock if it is
 * behind. A partition's series move when they are used, not at each clock
 * step: in a catch-up nearly every event of a partition steps its clock
 * over a minute boundary, and moving every group's hour series then read a
 * cold line per group and event. Only a use can tell a moved series from
 * one left behind (ks_series_snap_save writes one as if moved). */
static ks_series *ks__win(ks_pstate *p, ks_group *g, int w)
{
    ks_series *s = &g->win[w];
    if (p->adv_n[w] > s->clock_n)
        ks_series_advance(s, p->adv_s);
    return s;
}

static void ks__bump(ks_pstate *p, ks_group *g, int64_t t_s, ks_counter k, int64_t d)
{
    if (!g)
        return;
    for (int w = 0; w < p->sh->cfg->nwindows; w++)
        ks_series_add(ks__win(p, g, w), t_s, k, d); /* (out of memory: a count lost, not a crash) */
}

/* The counts one event adds at its own time to its groups (global, segment,
 * channel), gathered and then added in one pass over each group's windows:
 * one bucket lookup per window instead of one per counter and window. */
#define KS__EVC_MAX 6
typedef struct ks__evc {
    ks_group *g[3];
    int64_t t_s;
    int n;
    uint8_t k[KS__EVC_MAX];
    int64_t d[KS__EVC_MAX];
    int32_t dd[3][KS_DISTINCT]; /* per group: last touches moved to t_s */
    bool any_dd;
} ks__evc;

static void ks__evc_apply(ks_pstate *p, ks__evc *a)
{
    for (int i = 0; i < 3 && (a->n || a->any_dd); i++) {
        if (!a->g[i])
            continue;
        for (int w = 0; w < p->sh->cfg->nwindows; w++) {
            ks_series *s = ks__win(p, a->g[i], w);
            ks_sbucket *e = ks_series_entry(s, a->t_s);
            if (!e)
                continue;
            for (int j = 0; j < a->n; j++)
                ks_sbucket_add(s, e, (ks_counter)a->k[j], a->d[j]);
            for (int j = 0; j < KS_DISTINCT; j++)
                e->d[j] += a->dd[i][j];
        }
    }
    a->n = 0;
    a->any_dd = false;
    memset(a->dd, 0, sizeof a->dd);
}

/* Counts k by d in every group of a. */
static void ks__evc_add(ks_pstate *p, ks__evc *a, ks_counter k, int64_t d)
{
    if (a->n == KS__EVC_MAX)
        ks__evc_apply(p, a); /* (no event adds this many; kept correct anyway) */
    a->k[a->n] = (uint8_t)k;
    a->d[a->n++] = d;
}

/* One customer event being applied: its groups' counts, its channel id, and
 * whether its channel is "social" by name. Each event type has a handler
 * (ks__on_<type>) that adds what is particular to it. */
typedef struct ks__evx {
    ks__evc a;
    unsigned ch;
    bool social;
} ks__evx;
typedef void ks__on_fn(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x);

/* Moves one last-touch count of group g from old_s (0: none) to new_s.
 * A move to the event's own time in one of its groups (nearly all of them)
 * only takes back here; a's pass adds it with the event's other counts. */
static void ks__move(ks_pstate *p, ks__evc *a, ks_group *g, int64_t old_s, int64_t new_s,
                     ks_counter k)
{
    if (!g)
        return;
    int i = 3;
    if (a && new_s > 0 && new_s == a->t_s)
        for (i = 0; i < 3 && a->g[i] != g; i++)
            ;
    if (i == 3) {
        for (int w = 0; w < p->sh->cfg->nwindows; w++)
            ks_series_move(ks__win(p, g, w), old_s, new_s, k);
        return;
    }
    if (old_s)
        for (int w = 0; w < p->sh->cfg->nwindows; w++)
            ks_series_take(ks__win(p, g, w), old_s, k);
    a->dd[i][k - KS_DISTINCT_FIRST]++;
    a->any_dd = true;
}

/* Counts k by d at t_s in the global group and the customer's segment group. */
static void ks__bump_cust(ks_pstate *p, const ks_customer *c, int64_t t_s, ks_counter k, int64_t d)
{
    ks__bump(p, &p->global, t_s, k, d);
    ks__bump(p, KS__SEG(p, c->segment), t_s, k, d);
}

/* Membership change (+1 joined the base, -1 left it) at t_s: global, segment,
 * acquisition channel. */
static void ks__base(ks_pstate *p, const ks_customer *c, int64_t t_s, int d)
{
    ks_group *gs[3] = {&p->global, KS__SEG(p, c->segment), KS__CHAN(p, c->acq_channel)};
    for (int i = 0; i < 3; i++) {
        if (!gs[i])
            continue;
        gs[i]->base += d;
        ks__bump(p, gs[i], t_s, KS_C_BASE_DELTA, d);
    }
}

void ks__churn(ks_pstate *p, ks_customer *c, int64_t t_ms)
{
    int64_t t_s = t_ms / 1000;
    c->flags |= KS_CUST_CHURNED;
    c->churned_at_s = (uint32_t)(t_ms / 1000);
    c->churned_at_ms = (uint16_t)(t_ms % 1000);
    ks__lru_unlink(p, c);
    ks__base(p, c, t_s, -1);
    ks__bump_cust(p, c, t_s, KS_C_CHURNED, 1);
    ks__bump(p, KS__CHAN(p, c->acq_channel), t_s, KS_C_CHURNED, 1);
    ks__mark_dirty(p, c);
}

bool ks_pstate_seen(ks_pstate *p, const ks_event *ev)
{
    uint64_t key = ks_u64map_key(ks_hash64(ev->event_id.ptr, ev->event_id.len, KS__EVENT_SEED));
    bool created = false;
    ks_u64map_val *v = ks_u64map_put(&p->dedup, key, &created);
    if (!v)
        return false; /* out of memory: count it rather than lose it */
    if (created)
        v->a = ev->ts_ms / 1000;
    return !created;
}

static int ks__grow_resp(ks_pstate *p)
{
    if (p->nresp < p->capresp)
        return 0;
    uint32_t cap = p->capresp ? p->capresp * 2 : 256;
    ks_response *r = realloc(p->resp, (size_t)cap * sizeof *r);
    if (!r)
        return -1;
    p->resp = r;
    p->capresp = cap;
    return 0;
}

/* Touches older than this count in no window any more (touch.c drops them). */
static int64_t ks__stale_s(const ks_pstate *p)
{
    const ks_config *cfg = p->sh->cfg;
    int64_t w = cfg->nwindows ? cfg->windows[cfg->nwindows - 1].length_ms / 1000 : 0;
    return p->clock_ms == INT64_MIN ? INT64_MIN : p->clock_ms / 1000 - w;
}

static void ks__segment_change(ks_pstate *p, ks_customer *c, unsigned seg, int64_t t_s)
{
    ks_group *old = KS__SEG(p, c->segment), *neu = KS__SEG(p, seg);
    int64_t last_s = c->last_event_ms / 1000;
    if (!(c->flags & KS_CUST_CHURNED)) {
        if (old) {
            old->base--;
            ks__bump(p, old, t_s, KS_C_BASE_DELTA, -1);
        }
        if (neu) {
            neu->base++;
            ks__bump(p, neu, t_s, KS_C_BASE_DELTA, 1);
        }
    }
    /* Distinct counts stay where they were earned: the old segment keeps
     * the customer for the events it had (until they leave the window), the
     * new one counts them from this event on (contract 5: a customer who
     * moved counts in both segments' hashes). Until a first move the
     * segment's last touches are the record's own; now they get entries. */
    if (!(c->flags & KS_CUST_SEG_OWN)) {
        c->flags |= KS_CUST_SEG_OWN;
        if (old) {
            ks_touch *t = ks__touch(&p->touches, (uint32_t)(c - p->cust),
                                    KS_GID_SEGMENT0 + c->segment, ks__stale_s(p));
            if (t) {
                t->last_s = (uint32_t)last_s;
                t->purchase_s = c->last_purchase_s;
                t->prev_purchase_s = c->prev_purchase_s;
            }
        }
    }
    c->segment = (uint8_t)seg;
}


/* Moves the customer's active last touch in group g (id gid) to t_s. */
static void ks__touch_active(ks_pstate *p, ks__evc *a, const ks_customer *c, ks_group *g,
                             unsigned gid, int64_t t_s)
{
    if (!g || t_s <= 0)
        return;
    ks_touch *t = ks__touch(&p->touches, (uint32_t)(c - p->cust), gid, ks__stale_s(p));
    if (!t || t_s <= (int64_t)t->last_s)
        return; /* (out of memory: one distinct count less, not a crash) */
    ks__move(p, a, g, t->last_s, t_s, KS_C_D_ACTIVE);
    t->last_s = (uint32_t)t_s;
}

/* Latest two purchase times in one group: purchasing (latest) and
 * repurchasing (second latest) last-touch counts. last/prev: the times. */
static void ks__purchase_touch(ks_pstate *p, ks__evc *a, ks_group *g, uint32_t *last,
                               uint32_t *prev, int64_t t_s)
{
    if (t_s >= *last) {
        ks__move(p, a, g, *last, t_s, KS_C_D_PURCHASING);
        if (*last) {
            ks__move(p, a, g, *prev, *last, KS_C_D_REPURCHASING);
            *prev = *last;
        }
        *last = (uint32_t)t_s;
    } else if (t_s > *prev) {
        ks__move(p, a, g, *prev, t_s, KS_C_D_REPURCHASING);
        *prev = (uint32_t)t_s;
    }
}

static void ks__purchase_in(ks_pstate *p, ks__evc *a, const ks_customer *c, ks_group *g,
                            unsigned gid, int64_t t_s)
{
    if (!g || t_s <= 0)
        return;
    ks_touch *t = ks__touch(&p->touches, (uint32_t)(c - p->cust), gid, ks__stale_s(p));
    if (t)
        ks__purchase_touch(p, a, g, &t->purchase_s, &t->prev_purchase_s, t_s);
}

static void ks__on_purchase(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    unsigned ch = x->ch;
    ks__evc *a = &x->a;
    int64_t t_s = ev->ts_ms / 1000, m = ev->amount_micro;
    ks_group *seg = KS__SEG(p, c->segment), *chg = KS__CHAN(p, ch);
    /* Global: the record's own times; segment and channel: their touches. */
    if (seg && !(c->flags & KS_CUST_SEG_OWN)) {
        /* Never moved: the segment's touches are the record's own. */
        uint32_t last = c->last_purchase_s, prev = c->prev_purchase_s;
        ks__purchase_touch(p, a, seg, &last, &prev, t_s);
    } else {
        ks__purchase_in(p, a, c, seg, KS_GID_SEGMENT0 + c->segment, t_s);
    }
    ks__purchase_touch(p, a, &p->global, &c->last_purchase_s, &c->prev_purchase_s, t_s);
    ks__purchase_in(p, a, c, chg, KS_GID_CHANNEL0 + ch, t_s);
    /* Cross-sell: a purchase in a category the customer never bought before,
     * other than their first purchase. */
    bool cross = false;
    if (ev->category.ptr) {
        int cat = ks_intern_id(&p->sh->categories, ev->category.ptr, ev->category.len);
        uint64_t bit = 1ULL << (cat & 63);
        cross = c->orders_total > 0 && !(c->categories & bit);
        c->categories |= bit;
    }
    ks__evc_add(p, a, KS_C_ORDERS, 1);
    ks__evc_add(p, a, KS_C_M_PURCHASES, m);
    if (cross)
        ks__evc_add(p, a, KS_C_CROSS_SELLS, 1);
    if (ks_trigger_first_purchase(c->orders_total, (int64_t)c->orders_total + 1))
        ks_pstate_trigger(p, c, KS_TRIGGER_FIRST_PURCHASE, ev->ts_ms);
    c->orders_total++;
    c->purchases_micro += m;
    ks__roll_add(p, c, ev->ts_ms, &(ks_roll_delta){.orders = 1, .revenue_micro = m});
}

static void ks__on_ticket(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    unsigned ch = x->ch;
    ks__evc *a = &x->a;
    int64_t t_s = ev->ts_ms / 1000;
    uint64_t key = ks_u64map_key(ks_hash64(ev->ticket_id.ptr, ev->ticket_id.len, KS__TICKET_SEED));
    if (ev->action == KS_ACT_TICKET_OPENED) {
        bool created = false;
        ks_u64map_val *v = ks_u64map_put(&p->tickets, key, &created);
        if (!v || !created)
            return; /* a ticket is opened once; a repeat open changes nothing */
        v->a = KS__T_PACK(ev->ts_ms, ev->complaint ? KS__T_COMPLAINT : 0, ch, c->segment);
        if (c->open_tickets++ == 0)
            c->open_since_s = (uint32_t)t_s;
        ks__evc_add(p, a, KS_C_TICKETS, 1);
        if (ev->complaint)
            ks__evc_add(p, a, KS_C_COMPLAINTS, 1);
        if (ev->complaint)
            ks__roll_add(p, c, ev->ts_ms, &(ks_roll_delta){.complaints = 1});
        return;
    }
    ks_u64map_val *v = ks_u64map_get(&p->tickets, key);
    if (!v)
        return; /* never saw it opened (or long forgotten): nothing to update */
    int64_t opened_ms = KS__T_MS(v->a);
    unsigned flags = KS__T_FLAGS(v->a), och = KS__T_CH(v->a), oseg = KS__T_SEG(v->a);
    if (ev->action == KS_ACT_TICKET_RESPONDED && !(flags & KS__T_RESPONDED)) {
        flags |= KS__T_RESPONDED;
        if (ev->ts_ms >= opened_ms && ks__grow_resp(p) == 0) {
            int64_t d = ev->ts_ms - opened_ms;
            /* Counted at the responded event, so in its hashes (contract 4):
             * the customer's segment now and this event's own channel. */
            p->resp[p->nresp++] = (ks_response){ev->ts_ms, d > UINT32_MAX ? UINT32_MAX : (uint32_t)d,
                                                (uint8_t)c->segment, (uint8_t)ch};
        }
    } else if (ev->action == KS_ACT_TICKET_RESOLVED && !(flags & KS__T_RESOLVED)) {
        flags |= KS__T_RESOLVED;
        if (c->open_tickets && --c->open_tickets == 0)
            c->open_since_s = 0;
        /* Resolution counts for the windows holding the complaint's opening. */
        if (flags & KS__T_COMPLAINT) {
            int64_t open_s = opened_ms / 1000;
            ks__bump(p, &p->global, open_s, KS_C_COMPLAINTS_RESOLVED, 1);
            ks__bump(p, KS__SEG(p, oseg), open_s, KS_C_COMPLAINTS_RESOLVED, 1);
            ks__bump(p, KS__CHAN(p, och), open_s, KS_C_COMPLAINTS_RESOLVED, 1);
        }
    }
    v->a = KS__T_PACK(opened_ms, flags, och, oseg);
}

static void ks__on_signup(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    (void)p, (void)c, (void)ev, (void)x; /* counted as a new customer when first seen */
}

static void ks__on_interaction(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    ks__evc_add(p, &x->a, KS_C_INTERACTIONS, 1);
    if (x->social)
        ks__evc_add(p, &x->a, KS_C_SOCIAL, 1);
    ks__roll_add(p, c, ev->ts_ms, &(ks_roll_delta){.interactions = 1});
}

static void ks__on_refund(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    int64_t m = ev->amount_micro;
    ks__evc_add(p, &x->a, KS_C_M_REFUNDS, m);
    ks__evc_add(p, &x->a, KS_C_REFUND_COUNT, 1);
    c->refunds_micro += m;
    ks__roll_add(p, c, ev->ts_ms, &(ks_roll_delta){.revenue_micro = -m});
}

static void ks__on_subscription(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    int64_t t_s = ev->ts_ms / 1000;
    if (ev->action == KS_ACT_SUB_UPGRADE) {
        ks__evc_add(p, &x->a, KS_C_UPSELLS, 1);
    } else if (ev->action == KS_ACT_SUB_DOWNGRADE) {
        if (t_s > c->last_downgrade_s)
            c->last_downgrade_s = (uint32_t)t_s;
    } else if (ev->action == KS_ACT_SUB_CANCEL && !(c->flags & KS_CUST_CHURNED)) {
        ks__churn(p, c, ev->ts_ms);
        c->flags |= KS_CUST_CANCELLED;
    }
}

static void ks__on_payment_failed(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    ks__evc_add(p, &x->a, KS_C_PAYMENT_FAILURES, 1);
    ks__roll_add(p, c, ev->ts_ms, &(ks_roll_delta){.payment_failures = 1});
}

static void ks__on_survey(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    const ks_config *cfg = p->sh->cfg;
    if (ev->survey_kind == KS_SURVEY_CSAT) {
        ks__evc_add(p, &x->a, KS_C_CSAT_RESPONSES, 1);
        if (ev->score >= cfg->csat_satisfied_min)
            ks__evc_add(p, &x->a, KS_C_CSAT_SATISFIED, 1);
        c->csat_last = (uint8_t)ev->score;
        return;
    }
    ks__evc_add(p, &x->a, KS_C_NPS_RESPONSES, 1);
    if (ev->score >= cfg->nps_promoter_min)
        ks__evc_add(p, &x->a, KS_C_NPS_PROMOTERS, 1);
    else if (ev->score <= cfg->nps_detractor_max)
        ks__evc_add(p, &x->a, KS_C_NPS_DETRACTORS, 1);
    c->nps_last = (uint8_t)ev->score;
    if (ks_trigger_detractor(ev->score))
        ks_pstate_trigger(p, c, KS_TRIGGER_DETRACTOR, ev->ts_ms);
}

static void ks__on_lead(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    (void)c;
    ks__evc_add(p, &x->a, ev->action == KS_ACT_LEAD_CONVERTED ? KS_C_CONVERSIONS : KS_C_LEADS, 1);
}

static void ks__on_retention_spend(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    (void)c;
    ks__evc_add(p, &x->a, KS_C_M_RETENTION, ev->amount_micro);
}

static void ks__on_referral(ks_pstate *p, ks_customer *c, const ks_event *ev, ks__evx *x)
{
    (void)c, (void)ev;
    ks__evc_add(p, &x->a, KS_C_REFERRALS, 1);
}

/* What an event of each type adds beyond the counts every event makes
 * (marketing spend has no customer: ks_pstate_apply counts it itself). */
static ks__on_fn *const ks__on[KS_EV__COUNT] = {
    [KS_EV_SIGNUP] = ks__on_signup,
    [KS_EV_INTERACTION] = ks__on_interaction,
    [KS_EV_PURCHASE] = ks__on_purchase,
    [KS_EV_REFUND] = ks__on_refund,
    [KS_EV_SUBSCRIPTION] = ks__on_subscription,
    [KS_EV_PAYMENT_FAILED] = ks__on_payment_failed,
    [KS_EV_TICKET] = ks__on_ticket,
    [KS_EV_SURVEY] = ks__on_survey,
    [KS_EV_LEAD] = ks__on_lead,
    [KS_EV_RETENTION_SPEND] = ks__on_retention_spend,
    [KS_EV_REFERRAL] = ks__on_referral,
};

/* The customer's membership, churn and last touches as of this event: a
 * new customer joins the base; one silent for churn_inactivity has churned
 * (at that moment); a later event reactivates a churned one. */
static void ks__customer_event(ks_pstate *p, ks_customer *c, const ks_event *ev, bool created,
                               ks__evx *x)
{
    const ks_config *cfg = p->sh->cfg;
    int64_t t_s = ev->ts_ms / 1000;
    ks_group *chg = x->a.g[2];
    bool cancel = ev->type == KS_EV_SUBSCRIPTION && ev->action == KS_ACT_SUB_CANCEL;
    /* Silent for churn_inactivity before this event: the churn happened
     * then, whether or not the clock has shown it yet (so the result does
     * not depend on how partitions interleave). The day boundaries the
     * clock has not swept yet are scored here, the churn in its place among
     * them. */
    int64_t churn_at = c->last_event_ms + cfg->churn_inactivity_ms;
    if (created || (c->flags & KS_CUST_CHURNED) || ev->ts_ms < churn_at)
        churn_at = INT64_MIN;
    if (!created && ev->ts_ms > c->last_event_ms) /* (churn_at > last event, if any) */
        ks_pstate_risk_catch_up(p, c, ev->ts_ms, churn_at);
    if (created) {
        c->first_seen_ms = ev->ts_ms;
        c->last_event_ms = ev->ts_ms;
        c->acq_channel = (uint8_t)x->ch;
        ks__base(p, c, t_s, +1);
        ks__bump_cust(p, c, t_s, KS_C_NEW_CUSTOMERS, 1);
        ks__bump(p, chg, t_s, KS_C_NEW_CUSTOMERS, 1);
        ks__move(p, &x->a, &p->global, 0, t_s, KS_C_D_ACTIVE);
        ks__move(p, &x->a, KS__SEG(p, c->segment), 0, t_s, KS_C_D_ACTIVE); /* the record's touch */
        ks__lru_insert(p, c);
    } else {
        /* An event reactivates only if it happened after the churn
         * (contract 5): a late arrival from before it, even one after the
         * customer's last known event, does not undo it. */
        if ((c->flags & KS_CUST_CHURNED) && !cancel && ev->ts_ms > c->last_event_ms &&
            ev->ts_ms >= (int64_t)c->churned_at_s * 1000 + c->churned_at_ms) {
            c->flags &= (uint8_t)~(KS_CUST_CHURNED | KS_CUST_CANCELLED);
            ks__base(p, c, t_s, +1);
            ks__lru_insert(p, c); /* repositioned below with the new last event */
        }
        if (ev->ts_ms > c->last_event_ms) {
            ks__move(p, &x->a, &p->global, c->last_event_ms / 1000, t_s, KS_C_D_ACTIVE);
            if (!(c->flags & KS_CUST_SEG_OWN))
                ks__move(p, &x->a, KS__SEG(p, c->segment), c->last_event_ms / 1000, t_s,
                         KS_C_D_ACTIVE);
            c->last_event_ms = ev->ts_ms;
            if (!(c->flags & KS_CUST_CHURNED)) {
                ks__lru_unlink(p, c);
                ks__lru_insert(p, c);
            }
        }
        if (ev->ts_ms < c->first_seen_ms) {
            c->first_seen_ms = ev->ts_ms;
            c->flags |= KS_CUST_EARLIER;
        }
    }
    if (c->segment != KS_NONE && (c->flags & KS_CUST_SEG_OWN))
        ks__touch_active(p, &x->a, c, KS__SEG(p, c->segment), KS_GID_SEGMENT0 + c->segment, t_s);
    if (x->ch != KS_NONE)
        ks__touch_active(p, &x->a, c, chg, KS_GID_CHANNEL0 + x->ch, t_s);
}

int ks_pstate_apply(ks_pstate *p, const ks_event *ev)
{
    int64_t t_s = ev->ts_ms / 1000;
    if (ev->ts_ms > p->max_ts_ms)
        p->max_ts_ms = ev->ts_ms;
    p->meta.processed++;
    unsigned ch = KS_NONE;
    if (ev->channel.ptr) {
        ch = (unsigned)ks_intern_id(&p->sh->channels, ev->channel.ptr, ev->channel.len);
        /* The id must be social's own, not "other" once the table is full. */
        /* (Shared by the worker threads: they would all store the same id.) */
        if (__atomic_load_n(&p->sh->social_channel, __ATOMIC_RELAXED) < 0 &&
            strcmp(p->sh->channels.names[ch], "social") == 0)
            __atomic_store_n(&p->sh->social_channel, (int)ch, __ATOMIC_RELAXED);
    }
    ks_group *chg = KS__CHAN(p, ch);

    if (ev->type == KS_EV_MARKETING_SPEND) {
        ks__evc a = {.g = {&p->global, NULL, chg}, .t_s = t_s};
        ks__evc_add(p, &a, KS_C_EVENTS, 1);
        ks__evc_add(p, &a, KS_C_M_MARKETING, ev->amount_micro);
        ks__evc_apply(p, &a);
        return 0;
    }

    bool created = false;
    ks_customer *c = ks__customer_get(p, ev->customer_id.ptr, ev->customer_id.len, &created);
    if (!c || ks__names_note(p, c, ev) < 0)
        return KS_ERR_NOMEM;
    if (ev->segment.ptr) {
        unsigned seg = (unsigned)ks_intern_id(&p->sh->segments, ev->segment.ptr, ev->segment.len);
        if (created)
            c->segment = (uint8_t)seg;
        else if (seg != c->segment)
            ks__segment_change(p, c, seg, t_s);
    }
    /* The customer's segment is settled: the event's groups are known.
     * Social interactions go by the event's own channel name: counted in
     * the global and segment hashes even when "social" is past the channel
     * limit and folded into "other" there. */
    ks__evx x = {
        .a = {.g = {&p->global, KS__SEG(p, c->segment), chg}, .t_s = t_s},
        .ch = ch,
        .social = ev->channel.ptr && ev->channel.len == 6 && memcmp(ev->channel.ptr, "social", 6) == 0,
    };
    ks__customer_event(p, c, ev, created, &x);
    ks__evc_add(p, &x.a, KS_C_EVENTS, 1);
    c->events_total++;
    ks__on_fn *on = (unsigned)ev->type < KS_EV__COUNT ? ks__on[ev->type] : NULL;
    if (on)
        on(p, c, ev, &x);
    ks__evc_apply(p, &x.a);
    ks_pstate_risk_update(p, c, ev->ts_ms);
    c->flags |= KS_CUST_EVENT;
    return ks__mark_dirty(p, c) < 0 ? KS_ERR_NOMEM : 0;
}

/* Inactivity churn at the moment it happened (last event +
 * churn_inactivity), for every customer whose moment is at or before t_ms. */
static void ks__churn_until(ks_pstate *p, int64_t t_ms)
{
    int64_t inactivity = p->sh->cfg->churn_inactivity_ms;
    while (p->lru_head != KS_NIL) {
        ks_customer *c = &p->cust[p->lru_head];
        int64_t at = c->last_event_ms + inactivity;
        if (at > t_ms)
            break;
        ks__churn(p, c, at);
    }
}

/* The bucket of each window that p's clock is in (INT64_MIN: no clock):
 * series behind it move when next used (ks__win). Taken at the end of an
 * advance, as the series moved before: the churns of the days it crosses
 * count with the series where the last advance left them. */
void ks__adv_n(ks_pstate *p)
{
    const ks_config *cfg = p->sh->cfg;
    int64_t clock_s = p->clock_ms / 1000;
    p->adv_s = clock_s;
    for (int w = 0; w < KS_MAX_WINDOWS; w++) {
        if (p->clock_ms == INT64_MIN || w >= cfg->nwindows) {
            p->adv_n[w] = INT64_MIN;
            continue;
        }
        int64_t width = cfg->windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
        if (width < 1)
            width = 1;
        p->adv_n[w] = clock_s >= 0 ? clock_s / width : -((-clock_s + width - 1) / width);
    }
}

void ks_pstate_advance(ks_pstate *p, int64_t clock_ms)
{
    if (clock_ms <= p->clock_ms)
        return;
    int64_t prev = p->clock_ms;
    bool first_clock = prev == INT64_MIN;
    p->clock_ms = clock_ms;
    ks__roll_advance(p, prev, clock_ms);
    if (first_clock && p->ncust) {
        /* The first clock after events were applied without one (a replay,
         * or partitions read ahead of the first watermark): sweep the day
         * boundaries since the first event, as a moving clock would have, so
         * a customer's risk does not depend on when the clock arrived. */
        prev = INT64_MAX;
        for (uint32_t r = 0; r < p->ncust; r++)
            if (p->cust[r].first_seen_ms < prev)
                prev = p->cust[r].first_seen_ms;
        if (prev > clock_ms)
            prev = clock_ms;
    }
    if (prev != INT64_MIN && prev / KS_DAY_MS != clock_ms / KS_DAY_MS) {
        /* Every boundary crossed is swept (an idle jump included), so scores
         * do not depend on how far the clock moved at a time; the churns
         * between them in their places, as a clock moving in small steps
         * would have met them. */
        int64_t first = prev / KS_DAY_MS + 1, last = clock_ms / KS_DAY_MS;
        if (last - first > 60)
            first = last - 60;
        for (int64_t d = first; d <= last; d++) {
            ks__churn_until(p, d * KS_DAY_MS);
            ks__risk_day(p, d * KS_DAY_MS);
        }
    }
    ks__churn_until(p, clock_ms);
    ks__adv_n(p);
}
