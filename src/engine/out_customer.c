/* A flush's per-customer outputs: the customer's hash, their place in the
 * at-risk ranking, and the alerts and triggers raised for them, handed to
 * the Redis layout (src/redis/layout/) as neutral fields.
 *
 * A hash is written as its changes. Each partition remembers, per customer
 * record, what the last flush it built wrote (ks_csent); a field goes out
 * when its value differs from that, and a customer with no field changed
 * sends no command. Writing all ~19 fields of every changed customer was
 * the largest part of Redis's work in a catch-up (docs/benchmarks.md).
 * That is exact only while Redis holds what was built last, so:
 *  - a record never written (new, or since the partition was assigned or
 *    restored: ks_out_forget) sends every field;
 *  - after a flush that was built and not confirmed (failed, lost, never
 *    sent) the next one sends every field of every customer (`whole`);
 *  - the partition's token fences every flush: a Redis that lost or changed
 *    the partition's keys stops the writes (flush.c) rather than taking
 *    half a hash. */
#include "engine/internal.h"

#include "kpistream/kpi.h"
#include "kpistream/layout.h"
#include "kpistream/risk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__VAL 24 /* formatted value */

/* Sentinels: a value that does not fit its slot is always sent. */
#define KS__C32_BIG INT32_MIN
#define KS__C16_BIG UINT16_MAX

static int32_t ks__c32(int64_t v)
{
    return v > INT32_MIN && v <= INT32_MAX ? (int32_t)v : KS__C32_BIG;
}

static uint16_t ks__c16(int64_t v)
{
    return v >= 0 && v < KS__C16_BIG ? (uint16_t)v : KS__C16_BIG;
}

/* The slot of record rec, grown with the records (new slots: never
 * written). NULL when out of memory: the customer is written whole and
 * nothing is remembered, so the next write is whole too. */
static ks_csent *ks__sent(ks__part *p, uint32_t rec)
{
    if (rec >= p->capsent) {
        uint32_t cap = p->st->capcust > rec ? p->st->capcust : rec + 1;
        ks_csent *v = realloc(p->sent, (size_t)cap * sizeof *v);
        if (!v)
            return NULL;
        memset(v + p->capsent, 0, (size_t)(cap - p->capsent) * sizeof *v);
        p->sent = v;
        p->capsent = cap;
    }
    return &p->sent[rec];
}

void ks_out_forget(ks__part *p)
{
    free(p->sent);
    p->sent = NULL;
    p->capsent = 0;
}

size_t ks_out_memory(const ks__part *p)
{
    return (size_t)p->capsent * sizeof(ks_csent);
}

/* Per-customer CLV: the contract's formula with the customer's own revenue
 * and the customer's own churn risk as the churn probability:
 * gross_margin x revenue_30d / max(risk_score / 100, min_churn). The
 * group's churn rate is what the flush that writes the customer happens to
 * see, so a crashed and restarted run wrote other values than a straight
 * one; the customer's risk is a function of their events and the day
 * boundaries alone (docs/kpis.md). In hundredths, exact to the cent
 * (contract 5: half-up on the decimal value, src/kpi/kpi.c). */
static int64_t ks__clv_hundredths(const ks_engine *e, int64_t revenue_micro, unsigned risk_score)
{
    ks_kpi_params prm = {e->cfg->gross_margin, e->cfg->min_churn};
    int64_t h;
    if (!ks_kpi_customer_clv_hundredths(revenue_micro, risk_score, &prm, &h))
        h = 0;
    return h;
}

/* Formats packed top reasons (3 x 4 bits, reason + 1) as "a,b,c". */
static char *ks__reasons(uint16_t top, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < 3; i++) {
        unsigned r = (top >> (4 * i)) & 15u;
        if (!r)
            break;
        const char *name = ks_risk_reason_name((ks_risk_reason)(r - 1));
        size_t nl = strlen(name);
        if (o + nl + 2 > size)
            break;
        if (o)
            buf[o++] = ',';
        memcpy(buf + o, name, nl + 1);
        o += nl;
    }
    return buf;
}

/* The customer's place in the at-risk ranking, which holds the customers
 * with a score above 0. A ZADD is sent when the
 * score differs from the one written, a ZREM only for members we put
 * there; both always after a flush was lost (then Redis may hold anything
 * we tried to write). */
static void ks__rank(ks_engine *e, ks_batch *b, ks_customer *c, const char *id, uint32_t idlen)
{
    if (c->risk_score > 0 && (!(c->flags & KS_CUST_IN_RISK) || c->risk_sent != c->risk_score ||
                              e->risk_uncertain)) {
        ks_layout_risk(&e->risks, b, e->cfg->prefix, id, idlen, c->risk_score);
        c->flags |= KS_CUST_IN_RISK;
        c->risk_sent = c->risk_score;
    } else if (c->risk_score == 0 && ((c->flags & KS_CUST_IN_RISK) || e->risk_uncertain)) {
        ks_layout_risk(&e->risks, b, e->cfg->prefix, id, idlen, 0);
        c->flags &= (uint8_t)~KS_CUST_IN_RISK;
    }
}

void ks_out_customer(ks_engine *e, ks_batch *b, ks__part *p, ks_customer *c, int64_t clock_ms,
                     bool whole)
{
    const ks_pstate *st = p->st;
    uint32_t idlen;
    const char *id = ks_pstate_customer_id(st, c, &idlen);
    ks_customer_rolling r;
    ks_customer_rolling_at(st, c, clock_ms, &r);

    ks_csent *slot = ks__sent(p, (uint32_t)(c - st->cust));
    ks_csent was = {0};
    if (slot && !whole)
        was = *slot;
    int64_t rev30 = ks_kpi_hundredths(r.revenue_30d_micro, 1000000);
    int64_t revtot = ks_kpi_hundredths(c->purchases_micro - c->refunds_micro, 1000000);
    int64_t clv = ks__clv_hundredths(e, r.revenue_30d_micro, c->risk_score);
    ks_csent now = {
        .revenue_30d_c = ks__c32(rev30),
        .clv_c = ks__c32(clv),
        .revenue_total_c = ks__c32(revtot),
        .orders_total = c->orders_total,
        .n = {ks__c16(r.orders_30d), ks__c16(r.interactions_7d), ks__c16(r.interactions_28d),
              ks__c16(r.complaints_30d), ks__c16(r.payment_failures_30d)},
        .open_tickets = c->open_tickets,
        .risk_top = c->risk_top,
        .segment = c->segment,
        .csat_last = c->csat_last,
        .nps_last = c->nps_last,
        .risk_score = c->risk_score,
        .risk_level = c->risk_level,
        .state = (c->flags & KS_CUST_CHURNED) ? 2 : 1,
    };
    /* Nothing known of the hash: every field. The record's own fields
     * change only with an event (ks_pstate_apply sets KS_CUST_EVENT):
     * without one they are as written. */
    bool all = was.state == 0;
    bool ev = all || (c->flags & KS_CUST_EVENT);

    enum { KS__MAXF = 24 };
    ks_out_field f[KS__MAXF];
    char vals[KS__MAXF][KS__VAL];
    char reasons[128];
    int nf = 0;
#define KS__I(fname, v)                                                        \
    do {                                                                       \
        f[nf] = (ks_out_field){fname, vals[nf], ks_batch_i64_text(vals[nf], (int64_t)(v))}; \
        nf++;                                                                  \
    } while (0)
#define KS__S(fname, v)                                                        \
    do {                                                                       \
        const char *v_ = (v);                                                  \
        f[nf] = (ks_out_field){fname, v_, strlen(v_)};                         \
        nf++;                                                                  \
    } while (0)
#define KS__M(fname, h) KS__S(fname, ks_kpi_format_hundredths(KS_KPI_MONEY, (h), vals[nf], KS__VAL))
/* Changed: a slot value that differs, or one too big for its slot. */
#define KS__CH32(x) (all || now.x != was.x || now.x == KS__C32_BIG)
#define KS__CH16(i) (all || now.n[i] != was.n[i] || now.n[i] == KS__C16_BIG)
#define KS__CH(x) (all || now.x != was.x)
    if (c->segment != KS_NONE && ev && KS__CH(segment))
        KS__S("segment", e->sh.segments.names[c->segment]);
    if (all || (c->flags & KS_CUST_EARLIER))
        KS__I("first_seen_ms", c->first_seen_ms);
    if (ev)
        KS__I("last_event_ms", c->last_event_ms);
    if (KS__CH(state))
        KS__S("status", now.state == 2 ? "churned" : "active");
    if (KS__CH16(0))
        KS__I("orders_30d", r.orders_30d);
    if (KS__CH32(revenue_30d_c))
        KS__M("revenue_30d", rev30);
    /* orders_total, revenue_total and aov move only with a purchase or a
     * refund (an event); the lifetime purchase sum with the order count. */
    bool orders = ev && KS__CH(orders_total);
    if (orders)
        KS__I("orders_total", c->orders_total);
    /* Exact decimal rounding of the micro-unit sums (1.005 -> 1.01). */
    if (ev && KS__CH32(revenue_total_c))
        KS__M("revenue_total", revtot);
    if (c->orders_total && orders)
        KS__M("aov", ks_kpi_hundredths(c->purchases_micro, (int64_t)c->orders_total * 1000000));
    if (KS__CH16(1))
        KS__I("interactions_7d", r.interactions_7d);
    if (KS__CH16(2))
        KS__I("interactions_28d", r.interactions_28d);
    if (c->csat_last && ev && KS__CH(csat_last))
        KS__I("csat_last", c->csat_last);
    if (c->nps_last != KS_NONE && ev && KS__CH(nps_last))
        KS__I("nps_last", c->nps_last);
    if (ev && KS__CH(open_tickets))
        KS__I("open_tickets", c->open_tickets);
    if (KS__CH16(3))
        KS__I("complaints_30d", r.complaints_30d);
    if (KS__CH16(4))
        KS__I("payment_failures_30d", r.payment_failures_30d);
    if (KS__CH32(clv_c))
        KS__M("clv", clv);
    if (KS__CH(risk_score))
        KS__I("risk_score", c->risk_score);
    if (KS__CH(risk_level))
        KS__S("risk_level", ks_risk_level_name((ks_risk_level)c->risk_level));
    if (KS__CH(risk_top))
        KS__S("risk_reasons", ks__reasons(c->risk_top, reasons, sizeof reasons));
#undef KS__I
#undef KS__S
#undef KS__M
#undef KS__CH32
#undef KS__CH16
#undef KS__CH
    if (nf)
        ks_layout_customer(b, e->cfg->prefix, id, idlen, f, nf);
    if (slot)
        *slot = now;
    c->flags &= (uint8_t)~KS_CUST_EARLIER;
    ks__rank(e, b, c, id, idlen);
}

void ks_out_notices(ks_engine *e, ks_layout_notices *nl, const ks_pstate *st, int64_t floor_ms)
{
    for (uint32_t i = 0; i < st->nnotices; i++) {
        const ks_notice *n = &st->notices[i];
        if (n->timed && n->at_ms <= floor_ms)
            continue; /* sent by the run whose outputs we restored */
        const ks_customer *c = &st->cust[n->cust];
        uint32_t idlen;
        const char *id = ks_pstate_customer_id(st, c, &idlen);
        char nid[48], reasons[128], clv[32];
        /* Segment and clv as of the notice's moment, not the flush's. */
        const char *seg = n->segment != KS_NONE ? e->sh.segments.names[n->segment] : "";
        if (n->kind != KS_NOTICE_ALERT) {
            ks_trigger_id((ks_trigger)n->kind, id, idlen, n->at_ms, nid, sizeof nid);
            ks_out_trigger t = {ks_trigger_name((ks_trigger)n->kind), nid, id, idlen, seg, n->at_ms};
            ks_layout_trigger(nl, &t);
            continue;
        }
        ks_risk_alert_id(id, idlen, n->at_ms, nid, sizeof nid);
        ks__reasons(n->top, reasons, sizeof reasons);
        /* revenue_30d is kept as a double in the notice: micro-units / 1e6,
         * which llround takes back exactly below 2^52 micro-units. */
        ks_kpi_format_hundredths(
            KS_KPI_MONEY, ks__clv_hundredths(e, (int64_t)llround(n->revenue_30d * 1e6), n->score),
            clv, sizeof clv);
        ks_out_alert a = {nid, id, idlen, n->score, reasons, clv, seg, n->at_ms};
        ks_layout_alert(nl, &a);
    }
}
