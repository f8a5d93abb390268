/* Churn risk, alerts and triggers of one partition's customers: the glue
 * between the customer records and the pure rules of src/risk/. Scores are
 * re-evaluated at each of the customer's events (at the event's time) and for
 * everyone at each UTC day boundary (so silence raises risk without events). */
#include "kpistream/risk.h"
#include "state/state.h"
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

/* Trigger cooldowns are kept per day (2 bytes a trigger): the last firing is
 * taken as the end of its UTC day, so a cooldown is never shorter than set. */
static int ks__trigger_slot(ks_trigger t)
{
    switch (t) {
    case KS_TRIGGER_HIGH_VALUE_AT_RISK:
        return 0;
    case KS_TRIGGER_DETRACTOR:
        return 1;
    case KS_TRIGGER_WIN_BACK:
        return 2;
    case KS_TRIGGER_UPSELL_CANDIDATE:
        return 3;
    default:
        return -1;
    }
}

static int64_t ks__trigger_last_ms(const ks_customer *c, ks_trigger t)
{
    int s = ks__trigger_slot(t);
    if (s < 0 || c->trigger_day[s] == 0)
        return 0;
    return ((int64_t)c->trigger_day[s] + 1) * KS_DAY_MS - 1;
}

/* Queues a notice with what it says about the customer as of at_ms (segment,
 * revenue for the clv of an alert): the flush that sends it may come after
 * later events of theirs, and what it sends must not depend on when. */
static void ks__notice(ks_pstate *p, const ks_customer *c, uint8_t kind, int64_t at_ms,
                       double revenue_30d)
{
    if (p->nnotices == p->capnotices) {
        uint32_t cap = p->capnotices ? p->capnotices * 2 : 64;
        ks_notice *n = realloc(p->notices, (size_t)cap * sizeof *n);
        if (!n)
            return; /* out of memory: the alert is lost, the score is not */
        p->notices = n;
        p->capnotices = cap;
    }
    p->notices[p->nnotices++] = (ks_notice){.cust = (uint32_t)(c - p->cust),
                                            .kind = kind,
                                            .score = c->risk_score,
                                            .top = c->risk_top,
                                            .timed = p->timed,
                                            .segment = c->segment,
                                            .at_ms = at_ms,
                                            .revenue_30d = revenue_30d};
}

void ks_pstate_trigger(ks_pstate *p, ks_customer *c, int ti, int64_t at_ms)
{
    ks_trigger t = (ks_trigger)ti;
    const ks_risk_params *rp = &p->sh->cfg->risk;
    int s = ks__trigger_slot(t);
    if (s >= 0) {
        if (!ks_trigger_due(at_ms, ks__trigger_last_ms(c, t), rp))
            return;
        c->trigger_day[s] = (uint16_t)(at_ms / KS_DAY_MS);
    }
    ks__notice(p, c, (uint8_t)t, at_ms, 0);
}

static double ks__revenue_p90(ks_pstate *p, int64_t at_ms);

void ks_pstate_risk_input(const ks_pstate *p, const ks_customer *c, int64_t at_ms,
                          ks_risk_input *in)
{
    ks_customer_rolling r;
    ks_customer_rolling_as_of(p, c, at_ms, &r);
    memset(in, 0, sizeof *in);
    in->clock_ms = at_ms;
    in->first_seen_ms = c->first_seen_ms;
    in->last_event_ms = c->last_event_ms;
    in->events_total = c->events_total;
    in->interactions_7d = r.interactions_7d;
    in->interactions_28d = r.interactions_28d;
    in->revenue_30d = r.revenue_30d;
    in->revenue_prev_30d = r.revenue_prev_30d;
    in->csat_last = c->csat_last;
    in->nps_last = c->nps_last == KS_NONE ? -1 : c->nps_last;
    in->open_tickets = c->open_tickets;
    in->oldest_open_ticket_ms = c->open_tickets ? (int64_t)c->open_since_s * 1000 : 0;
    in->complaints_30d = r.complaints_30d;
    in->payment_failures_30d = r.payment_failures_30d;
    in->last_downgrade_ms = (int64_t)c->last_downgrade_s * 1000;
    in->churned = (c->flags & KS_CUST_CHURNED) != 0;
    in->cancelled = (c->flags & KS_CUST_CANCELLED) != 0;
    if (c->segment != KS_NONE && c->segment < ks_intern_count(&p->sh->segments)) {
        in->segment = p->sh->segments.names[c->segment];
        in->segment_len = p->sh->segments.lens[c->segment];
    }
    in->orders_30d = r.orders_30d;
    in->clv = r.revenue_30d; /* ordering proxy: clv is monotone in revenue_30d */
}

void ks_pstate_risk_update(ks_pstate *p, ks_customer *c, int64_t at_ms)
{
    const ks_risk_params *rp = &p->sh->cfg->risk;
    ks_risk_input in;
    ks_pstate_risk_input(p, c, at_ms, &in);
    ks_risk_result res;
    ks_risk_level prev = (ks_risk_level)c->risk_level;
    ks_risk_eval(&in, rp, prev, &res);
    if (p->sh->risk_tap) {
        uint32_t idlen;
        const char *id = ks_pstate_customer_id(p, c, &idlen);
        p->sh->risk_tap(p->sh->risk_tap_ctx, id, idlen, &in, &res, p->timed);
    }
    uint16_t top = 0;
    for (int i = 0; i < res.ntop && i < 3; i++)
        top |= (uint16_t)((res.top[i] + 1) << (4 * i));
    if (c->risk_score != res.score || c->risk_level != res.level || c->risk_top != top) {
        c->risk_score = (uint8_t)res.score;
        c->risk_level = (uint8_t)res.level;
        c->risk_top = top;
        ks__mark_dirty(p, c);
    }
    if (ks_risk_alert_due(prev, res.level, at_ms, (int64_t)c->last_alert_s * 1000, rp)) {
        c->last_alert_s = (uint32_t)(at_ms / 1000);
        ks__notice(p, c, KS_NOTICE_ALERT, at_ms, in.revenue_30d);
    }
    /* The threshold is a pass over the partition's customers (once a day):
     * asked for only when it can matter. */
    if (res.level == KS_RISK_HIGH && in.clv > 0 &&
        ks_trigger_high_value_at_risk(res.level, in.clv, ks__revenue_p90(p, at_ms)))
        ks_pstate_trigger(p, c, KS_TRIGGER_HIGH_VALUE_AT_RISK, at_ms);
    if (ks_trigger_upsell_candidate(&in, rp, res.level))
        ks_pstate_trigger(p, c, KS_TRIGGER_UPSELL_CANDIDATE, at_ms);
    /* Once per silent spell: only if it has not fired since the last event. */
    if (ks_trigger_win_back(&in, rp) && ks__trigger_last_ms(c, KS_TRIGGER_WIN_BACK) < c->last_event_ms)
        ks_pstate_trigger(p, c, KS_TRIGGER_WIN_BACK, at_ms);
}

/* The k-th smallest of v[0..n) (k < n), by quickselect: the same value a
 * sort would put at k, in linear time (a day boundary ranks every customer
 * of the partition; sorting them was a visible part of a catch-up). */
static int64_t ks__kth(int64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                int64_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* The top-decile threshold of high_value_at_risk at at_ms: the 90th
 * percentile of the partition's customers' revenue_30d (those with any) as
 * of just before the UTC day boundary at or before at_ms; 0 if none has
 * revenue. It uses revenue up to the day before, so the events of the day
 * (some read ahead of others, depending on how partitions interleave) do
 * not change it, and it is the same whichever first asks for it: the day's
 * sweep or an event read ahead of the clock. */
static double ks__revenue_p90(ks_pstate *p, int64_t at_ms)
{
    int64_t day = at_ms >= 0 ? at_ms / KS_DAY_MS : -((-at_ms + KS_DAY_MS - 1) / KS_DAY_MS);
    int slot = (int)(((uint64_t)day) % KS_P90_DAYS);
    if (p->p90_day[slot] == day)
        return p->p90[slot];
    int64_t *v = malloc((size_t)(p->ncust ? p->ncust : 1) * sizeof *v);
    if (!v)
        return 0; /* out of memory: not kept, asked again next time */
    size_t n = 0;
    for (uint32_t r = 0; r < p->ncust; r++) {
        int64_t micro = ks_customer_revenue_30d_as_of(p, &p->cust[r], day * KS_DAY_MS - 1);
        if (micro > 0)
            v[n++] = micro;
    }
    /* Ranked in micro-units: x -> x / 1e6 keeps the order, so this is the
     * value ranking revenue_30d would give. */
    double p90 = n ? (double)ks__kth(v, n, (size_t)(0.9 * (double)(n - 1))) / 1e6 : 0;
    free(v);
    p->p90_day[slot] = day;
    p->p90[slot] = p90;
    return p90;
}

/* Day boundary at_ms: every customer re-scored. Customers whose events
 * after the boundary were already applied (their partition reads ahead of
 * the clock) were scored at the boundary just before that event
 * (ks_pstate_risk_catch_up), so the result does not depend on where batches
 * fell. */
void ks__risk_day(ks_pstate *p, int64_t at_ms)
{
    p->timed = true;
    for (uint32_t r = 0; r < p->ncust; r++)
        if (p->cust[r].last_event_ms < at_ms)
            ks_pstate_risk_update(p, &p->cust[r], at_ms);
    p->timed = false;
}

void ks_pstate_risk_catch_up(ks_pstate *p, ks_customer *c, int64_t ts_ms, int64_t churn_at_ms)
{
    /* Boundaries after the customer's last event and after the last one the
     * partition's clock has swept, up to this event (at most 60: beyond
     * that the customer has churned by inactivity and scores 0). */
    int64_t swept = p->clock_ms == INT64_MIN ? INT64_MIN : p->clock_ms / KS_DAY_MS * KS_DAY_MS;
    int64_t from = (c->last_event_ms / KS_DAY_MS + 1) * KS_DAY_MS;
    if (swept != INT64_MIN && from <= swept)
        from = swept + KS_DAY_MS;
    int64_t to = ts_ms / KS_DAY_MS * KS_DAY_MS;
    if (to - from > 60 * KS_DAY_MS)
        from = to - 60 * KS_DAY_MS;
    for (int64_t b = from; b <= to; b += KS_DAY_MS) {
        if (churn_at_ms != INT64_MIN && churn_at_ms <= b) {
            ks__churn(p, c, churn_at_ms); /* as the clock does: churns, then the boundary */
            churn_at_ms = INT64_MIN;
        }
        p->timed = true;
        ks_pstate_risk_update(p, c, b);
        p->timed = false;
    }
    if (churn_at_ms != INT64_MIN)
        ks__churn(p, c, churn_at_ms);
}
