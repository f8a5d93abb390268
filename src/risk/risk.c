/* Churn-risk scoring (docs/churn-risk.md).
 *
 * Each signal maps one aspect of a customer's state to a strength in [0,1];
 * the score is min(100, round(sum of weight x strength)). Strengths ramp
 * rather than switch where the underlying quantity is continuous (silence,
 * activity drop, revenue drop), so a customer drifting away climbs steadily
 * and the level hysteresis, not the signal, decides when a flag flips.
 *
 * Everything here is pure: the engine passes the clock, the previous level and
 * the cooldown timestamps, so a replay of the same events at the same clocks
 * gives the same scores, levels, alerts and ids.
 */
#include "kpistream/risk.h"

#include "kpistream/hash.h"
#include "kpistream/risk_model.h"
#include "risk/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KS__HOUR 3600000LL
#define KS__DAY (24 * KS__HOUR)

/* Recency: the usual gap of a customer with fewer events is a guess. */
#define KS__RECENCY_MIN_EVENTS 3
#define KS__RECENCY_DEFAULT_GAP (7 * KS__DAY)
/* Silence shorter than this is never a signal (a weekend, a holiday). */
#define KS__RECENCY_FLOOR (3 * KS__DAY)
/* Strength ramps from 0 at START x gap to 1 at FULL x gap of silence. */
#define KS__RECENCY_START 2.0
#define KS__RECENCY_FULL 6.0
/* frequency_drop counts only a halving or worse, from a baseline of >= 1 a week;
 * half its strength is the size of the drop, half how unlikely it is as Poisson
 * noise (z = (baseline - last week) / sqrt(baseline), full at Z_FULL). */
#define KS__FREQ_MIN_BASELINE 1.0
#define KS__FREQ_MAX_RATIO 0.5
#define KS__FREQ_Z_START 1.0
#define KS__FREQ_Z_FULL 3.0
/* monetary_drop counts only a drop of 30 % or more. */
#define KS__MONEY_MIN_DROP 0.3
/* downgrade counts for this long after the downgrade. */
#define KS__DOWNGRADE_WINDOW (30 * KS__DAY)

static const char *const ks__reason_names[] = {
#define KS__RISK_NAME(name, str) str,
    KS_RISK_REASONS(KS__RISK_NAME)
#undef KS__RISK_NAME
};

static const char *const ks__trigger_names[] = {
#define KS__TRIGGER_NAME(name, str) str,
    KS_TRIGGERS(KS__TRIGGER_NAME)
#undef KS__TRIGGER_NAME
};

const char *ks_risk_reason_name(ks_risk_reason r)
{
    return (unsigned)r < KS_RISK__COUNT ? ks__reason_names[r] : "?";
}

int ks_risk_reason_from_name(const char *name)
{
    for (int i = 0; name && i < KS_RISK__COUNT; i++) {
        if (strcmp(ks__reason_names[i], name) == 0) return i;
    }
    return -1;
}

const char *ks_risk_level_name(ks_risk_level l)
{
    switch (l) {
    case KS_RISK_LOW:
        return "low";
    case KS_RISK_MEDIUM:
        return "medium";
    case KS_RISK_HIGH:
        return "high";
    }
    return "?";
}

const char *ks_trigger_name(ks_trigger t)
{
    return (unsigned)t < KS_TRIGGER__COUNT ? ks__trigger_names[t] : "?";
}

void ks_risk_params_default(ks_risk_params *p)
{
    memset(p, 0, sizeof *p);
    /* Tuned on the generator (docs/churn-risk.md, "Quality"): a logistic fit of
     * churners' last days against non-churners' days, scaled to about 10 points per
     * unit of log-odds, then rounded. Activity (frequency, recency) and NPS carry the
     * most; counts of tickets, complaints and failures are common among healthy heavy
     * users and carry little. */
    p->weight[KS_RISK_RECENCY] = 20;
    p->weight[KS_RISK_FREQUENCY_DROP] = 45;
    p->weight[KS_RISK_MONETARY_DROP] = 15;
    p->weight[KS_RISK_LOW_CSAT] = 15;
    p->weight[KS_RISK_NPS_DETRACTOR] = 25;
    p->weight[KS_RISK_UNRESOLVED_TICKETS] = 5;
    p->weight[KS_RISK_COMPLAINTS] = 10;
    p->weight[KS_RISK_PAYMENT_FAILURES] = 15;
    p->weight[KS_RISK_DOWNGRADE] = 10;
    p->weight[KS_RISK_CANCEL] = 0; /* cancel is churn, not a scored signal */
    p->high_enter = 70;
    p->high_exit = 50;
    p->medium_enter = 40;
    p->medium_exit = 30;
    p->ticket_age_ms = 48 * KS__HOUR;
    p->alert_cooldown_ms = KS__DAY;
    p->trigger_cooldown_ms = KS__DAY;
    p->win_back_ms = 14 * KS__DAY;
    p->upsell_min_orders_30d = 3;
}

static double ks__clamp01(double x)
{
    if (!(x > 0)) return 0; /* also NaN */
    return x < 1 ? x : 1;
}

/* ------------------------------------------------------------- the signals */

static double ks__recency(const ks_risk_input *in)
{
    if (in->last_event_ms <= 0) return 0;
    double silent = (double)(in->clock_ms - in->last_event_ms);
    if (silent < (double)KS__RECENCY_FLOOR) return 0;
    double gap = (double)KS__RECENCY_DEFAULT_GAP;
    if (in->events_total >= KS__RECENCY_MIN_EVENTS && in->last_event_ms > in->first_seen_ms)
        gap = (double)(in->last_event_ms - in->first_seen_ms) / (double)(in->events_total - 1);
    return ks__clamp01((silent - KS__RECENCY_START * gap) /
                       ((KS__RECENCY_FULL - KS__RECENCY_START) * gap));
}

static double ks__frequency_drop(const ks_risk_input *in)
{
    double baseline = (double)(in->interactions_28d - in->interactions_7d) / 3.0;
    if (baseline < KS__FREQ_MIN_BASELINE) return 0;
    double ratio = (double)in->interactions_7d / baseline;
    if (ratio > KS__FREQ_MAX_RATIO) return 0;
    /* A light customer going from 2 to 1 a week is noise; one going from 20 to 5
     * is news. The ratio alone cannot tell them apart, the z-score can. */
    double z = (baseline - (double)in->interactions_7d) / sqrt(baseline);
    double confidence = ks__clamp01((z - KS__FREQ_Z_START) / (KS__FREQ_Z_FULL - KS__FREQ_Z_START));
    return ks__clamp01(1.0 - ratio) * (0.5 + 0.5 * confidence);
}

static double ks__monetary_drop(const ks_risk_input *in)
{
    if (!(in->revenue_prev_30d > 0)) return 0;
    double drop = 1.0 - in->revenue_30d / in->revenue_prev_30d;
    if (drop < KS__MONEY_MIN_DROP) return 0;
    return ks__clamp01(drop);
}

static double ks__low_csat(const ks_risk_input *in)
{
    if (in->csat_last == 1 || in->csat_last == 2) return 1.0;
    if (in->csat_last == 3) return 0.3; /* neutral: a hint, not a flag */
    return 0;
}

static double ks__nps_detractor(const ks_risk_input *in)
{
    if (in->nps_last < 0 || in->nps_last > 6) return 0;
    return (7.0 - in->nps_last) / 7.0; /* 6 -> 1/7, 0 -> 1 */
}

static double ks__unresolved(const ks_risk_input *in, const ks_risk_params *p)
{
    if (in->open_tickets <= 0 || in->oldest_open_ticket_ms <= 0) return 0;
    return in->clock_ms - in->oldest_open_ticket_ms > p->ticket_age_ms ? 1.0 : 0;
}

static double ks__count_signal(int64_t n)
{
    return n >= 2 ? 1.0 : n == 1 ? 0.6 : 0;
}

static double ks__downgrade(const ks_risk_input *in)
{
    if (in->last_downgrade_ms <= 0) return 0;
    int64_t age = in->clock_ms - in->last_downgrade_ms;
    return age >= 0 && age < KS__DOWNGRADE_WINDOW ? 1.0 : 0;
}

void ks__risk_strengths(const ks_risk_input *in, const ks_risk_params *p, double *s)
{
    s[KS_RISK_RECENCY] = ks__recency(in);
    s[KS_RISK_FREQUENCY_DROP] = ks__frequency_drop(in);
    s[KS_RISK_MONETARY_DROP] = ks__monetary_drop(in);
    s[KS_RISK_LOW_CSAT] = ks__low_csat(in);
    s[KS_RISK_NPS_DETRACTOR] = ks__nps_detractor(in);
    s[KS_RISK_UNRESOLVED_TICKETS] = ks__unresolved(in, p);
    s[KS_RISK_COMPLAINTS] = ks__count_signal(in->complaints_30d);
    s[KS_RISK_PAYMENT_FAILURES] = ks__count_signal(in->payment_failures_30d);
    s[KS_RISK_DOWNGRADE] = ks__downgrade(in);
}

ks_risk_level ks_risk_level_next(ks_risk_level prev, int score, const ks_risk_params *p)
{
    /* Two hysteretic thresholds, "at least medium" and "high". Being high
     * implies being at least medium, so a customer falling out of high lands
     * in medium unless they are also below medium's exit. */
    switch (prev) {
    case KS_RISK_HIGH:
        if (score >= p->high_exit) return KS_RISK_HIGH;
        return score >= p->medium_exit ? KS_RISK_MEDIUM : KS_RISK_LOW;
    case KS_RISK_MEDIUM:
        if (score >= p->high_enter) return KS_RISK_HIGH;
        return score >= p->medium_exit ? KS_RISK_MEDIUM : KS_RISK_LOW;
    case KS_RISK_LOW:
    default:
        if (score >= p->high_enter) return KS_RISK_HIGH;
        return score >= p->medium_enter ? KS_RISK_MEDIUM : KS_RISK_LOW;
    }
}

void ks_risk_eval(const ks_risk_input *in, const ks_risk_params *p, ks_risk_level prev,
                  ks_risk_result *out)
{
    if (ks__risk_churned(in, out)) return;
    if (p->model) {
        ks_risk_eval_model(in, p, p->model, prev, out);
        return;
    }
    double *s = out->strength;
    ks__risk_strengths(in, p, s);

    double contrib[KS_RISK__COUNT] = {0};
    double sum = 0;
    for (int i = 0; i < KS_RISK_CANCEL; i++) {
        double w = p->weight[i] > 0 ? p->weight[i] : 0;
        contrib[i] = w * s[i];
        if (contrib[i] > 0) {
            out->reasons |= (uint16_t)(1u << i);
            sum += contrib[i];
        }
    }
    double rounded = floor(sum + 0.5);
    out->score = rounded >= 100 ? 100 : (int)rounded;

    ks__risk_top3(contrib, out);
    out->level = ks_risk_level_next(prev, out->score, p);
}

void ks__risk_top3(const double *contrib, ks_risk_result *out)
{
    /* Top 3 by contribution; strict '>' keeps the lower code on ties. */
    for (int k = 0; k < 3; k++) {
        int best = -1;
        for (int i = 0; i < KS_RISK_CANCEL; i++) {
            if (contrib[i] <= 0) continue;
            bool taken = false;
            for (int j = 0; j < k; j++)
                taken = taken || out->top[j] == (ks_risk_reason)i;
            if (!taken && (best < 0 || contrib[i] > contrib[best])) best = i;
        }
        if (best < 0) break;
        out->top[k] = (ks_risk_reason)best;
        out->ntop = k + 1;
    }
}

bool ks__risk_churned(const ks_risk_input *in, ks_risk_result *out)
{
    memset(out, 0, sizeof *out);
    out->level = KS_RISK_LOW;
    if (!in->churned) return false;
    /* Churn is the outcome risk predicts, not more risk: the customer
     * leaves the risk set and no alert fires for it. */
    if (in->cancelled) {
        out->reasons = (uint16_t)(1u << KS_RISK_CANCEL);
        out->strength[KS_RISK_CANCEL] = 1.0;
        out->top[0] = KS_RISK_CANCEL;
        out->ntop = 1;
    }
    return true;
}

char *ks_risk_reasons_format(const ks_risk_result *r, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < r->ntop && i < 3; i++) {
        int n =
            snprintf(buf + used, size - used, "%s%s", i ? "," : "", ks_risk_reason_name(r->top[i]));
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0'; /* a code that does not fit is left out whole, never cut */
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

bool ks_risk_alert_due(ks_risk_level prev, ks_risk_level now, int64_t clock_ms,
                       int64_t last_alert_ms, const ks_risk_params *p)
{
    if (prev == KS_RISK_HIGH || now != KS_RISK_HIGH) return false;
    return last_alert_ms == 0 || clock_ms - last_alert_ms >= p->alert_cooldown_ms;
}

/* "<prefix>-" and 16 hex digits of h. */
static char *ks__id(char prefix, uint64_t h, char *buf, size_t size)
{
    if (buf && size) snprintf(buf, size, "%c-%016llx", prefix, (unsigned long long)h);
    return buf;
}

/* Seeds are fixed forever: changing them changes every id, and a replay after
 * an upgrade would then repeat alerts under new ids. */
#define KS__ALERT_SEED 0x6b70692d616c7274ULL   /* "kpi-alrt" */
#define KS__TRIGGER_SEED 0x6b70692d74726967ULL /* "kpi-trig" */

char *ks_risk_alert_id(const char *customer_id, size_t len, int64_t at_ms, char *buf, size_t size)
{
    uint64_t h = ks_hash64(customer_id, len, KS__ALERT_SEED) ^ ks_mix64((uint64_t)at_ms);
    return ks__id('a', ks_mix64(h), buf, size);
}

/* --------------------------------------------------------------- triggers */

bool ks_trigger_due(int64_t clock_ms, int64_t last_ms, const ks_risk_params *p)
{
    return last_ms == 0 || clock_ms - last_ms >= p->trigger_cooldown_ms;
}

bool ks_trigger_first_purchase(int64_t orders_before, int64_t orders_after)
{
    return orders_before == 0 && orders_after >= 1;
}

bool ks_trigger_detractor(int nps_score)
{
    return nps_score >= 0 && nps_score <= 6;
}

bool ks_trigger_win_back(const ks_risk_input *in, const ks_risk_params *p)
{
    if (in->cancelled || in->last_event_ms <= 0) return false;
    return in->clock_ms - in->last_event_ms >= p->win_back_ms;
}

bool ks_trigger_upsell_candidate(const ks_risk_input *in, const ks_risk_params *p,
                                 ks_risk_level level)
{
    return !in->churned && level == KS_RISK_LOW && in->orders_30d >= p->upsell_min_orders_30d &&
           in->csat_last >= 4;
}

bool ks_trigger_high_value_at_risk(ks_risk_level level, double clv, double top_decile_clv)
{
    return level == KS_RISK_HIGH && clv > 0 && clv >= top_decile_clv;
}

char *ks_trigger_id(ks_trigger t, const char *customer_id, size_t len, int64_t at_ms, char *buf,
                    size_t size)
{
    uint64_t seed = KS__TRIGGER_SEED ^ ks_mix64((uint64_t)t + 1);
    uint64_t h = ks_hash64(customer_id, len, seed) ^ ks_mix64((uint64_t)at_ms);
    return ks__id('t', ks_mix64(h), buf, size);
}
