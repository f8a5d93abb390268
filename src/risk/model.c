/* Scoring with a fitted churn-risk model (docs/churn-risk.md, "Fitted model").
 *
 * A model is a logistic regression over standardised features of the same
 * ks_risk_input the hand weights read:
 *
 *   z = intercept + sum_i w_i * (x_i - mean_i) / scale_i
 *   p = 1 / (1 + exp(-(a * z + b)))          Platt calibration (a, b)
 *   score = round(100 * p)                    0-100, "chance in 100 of churning within H"
 *
 * Features are the nine hand signal strengths plus the raw inputs behind
 * them, mostly log1p-compressed counts and times (heavy-tailed: a customer
 * with 400 interactions a month is not 100 times one with 4), and one
 * indicator per segment the model knows. Standardising makes each term
 * w_i * (x_i - mean_i) / scale_i the feature's push on the log-odds relative
 * to the average training customer; the reasons named are the reason codes
 * whose terms add up to the largest positive push. Pure: no I/O, no
 * allocation.
 */
#include "kpistream/risk_model.h"

#include "kpistream/err.h"
#include "risk/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KS__DAY 86400000.0

static const char *const ks__feature_names[] = {
#define KS__RF_NAME(name, str, reason) str,
    KS_RISK_FEATURES(KS__RF_NAME)
#undef KS__RF_NAME
};

static const int ks__feature_reasons[] = {
#define KS__RF_REASON(name, str, reason) (reason),
    KS_RISK_FEATURES(KS__RF_REASON)
#undef KS__RF_REASON
};

const char *ks_risk_feature_name(int f)
{
    return f >= 0 && f < KS_RF__FIXED ? ks__feature_names[f] : "?";
}

int ks_risk_feature_reason(int f)
{
    return f >= 0 && f < KS_RF__FIXED ? ks__feature_reasons[f] : -1;
}

/* log1p keeping the sign: net revenue can be negative after refunds. */
static double ks__slog1p(double v)
{
    return v < 0 ? -log1p(-v) : log1p(v);
}

static double ks__days(int64_t ms)
{
    return ms > 0 ? (double)ms / KS__DAY : 0.0;
}

int ks_risk_features(const ks_risk_input *in, const ks_risk_params *p, const ks_risk_model *m,
                     double *x)
{
    double s[KS_RISK__COUNT] = {0};
    ks__risk_strengths(in, p, s);
    for (int i = 0; i < KS_RISK_CANCEL; i++)
        x[KS_RF_S_RECENCY + i] = s[i];

    int64_t silent = in->last_event_ms > 0 ? in->clock_ms - in->last_event_ms : 0;
    /* The usual gap as the recency signal defines it (a week without history). */
    double gap = 7 * KS__DAY;
    if (in->events_total >= 3 && in->last_event_ms > in->first_seen_ms)
        gap = (double)(in->last_event_ms - in->first_seen_ms) / (double)(in->events_total - 1);
    double gaps = silent > 0 ? (double)silent / gap : 0;
    x[KS_RF_SILENT_DAYS] = log1p(ks__days(silent));
    x[KS_RF_SILENT_GAPS] = log1p(gaps < 50 ? gaps : 50);
    x[KS_RF_GAP_DAYS] = log1p(gap / KS__DAY);

    double i7 = (double)in->interactions_7d, i28 = (double)in->interactions_28d;
    double baseline = (i28 - i7) / 3.0;
    double ratio = i7 / (baseline > 1 ? baseline : 1);
    x[KS_RF_INTERACTIONS_7D] = log1p(i7 > 0 ? i7 : 0);
    x[KS_RF_INTERACTIONS_28D] = log1p(i28 > 0 ? i28 : 0);
    x[KS_RF_FREQUENCY_RATIO] = ratio < 4 ? ratio : 4;

    x[KS_RF_TENURE_DAYS] = log1p(ks__days(in->clock_ms - in->first_seen_ms));
    x[KS_RF_EVENTS_TOTAL] = log1p((double)in->events_total);

    double r30 = in->revenue_30d, prev = in->revenue_prev_30d;
    x[KS_RF_REVENUE_30D] = ks__slog1p(r30);
    x[KS_RF_REVENUE_PREV_30D] = ks__slog1p(prev);
    x[KS_RF_REVENUE_TREND] = (r30 - prev) / (fabs(r30) + fabs(prev) + 1.0);
    x[KS_RF_ORDERS_30D] = log1p(in->orders_30d > 0 ? (double)in->orders_30d : 0);

    x[KS_RF_CSAT_ANSWERED] = in->csat_last > 0;
    x[KS_RF_CSAT_LAST] = in->csat_last > 0 ? (in->csat_last - 3) / 2.0 : 0;
    x[KS_RF_NPS_ANSWERED] = in->nps_last >= 0;
    x[KS_RF_NPS_LAST] = in->nps_last >= 0 ? (in->nps_last - 5) / 5.0 : 0;

    x[KS_RF_OPEN_TICKETS] = log1p(in->open_tickets > 0 ? in->open_tickets : 0);
    x[KS_RF_TICKET_AGE_DAYS] = in->open_tickets > 0 && in->oldest_open_ticket_ms > 0
                                   ? log1p(ks__days(in->clock_ms - in->oldest_open_ticket_ms))
                                   : 0;
    x[KS_RF_COMPLAINTS_30D] = log1p(in->complaints_30d > 0 ? (double)in->complaints_30d : 0);
    x[KS_RF_PAYMENT_FAILURES_30D] =
        log1p(in->payment_failures_30d > 0 ? (double)in->payment_failures_30d : 0);
    int64_t dg = in->clock_ms - in->last_downgrade_ms;
    x[KS_RF_DOWNGRADE_RECENT] = in->last_downgrade_ms > 0 && dg >= 0 ? exp(-(double)dg / (14 * KS__DAY)) : 0;

    int n = KS_RF__FIXED;
    for (int k = 0; m && k < m->nsegments && k < KS_RISK_MODEL_SEGMENTS; k++) {
        const char *name = m->segment[k];
        x[n++] = in->segment && in->segment_len == strlen(name) &&
                 memcmp(in->segment, name, in->segment_len) == 0;
    }
    return n;
}

double ks_risk_model_prob(const ks_risk_model *m, const double *x, double *contrib)
{
    double z = m->intercept;
    for (int i = 0; i < m->nfeatures; i++) {
        double t = m->weight[i] * (x[i] - m->mean[i]) / m->scale[i];
        if (contrib) contrib[i] = t;
        z += t;
    }
    return ks_risk_model_calibrate(m, z);
}

double ks_risk_model_calibrate(const ks_risk_model *m, double z)
{
    if (m->ncal < 2) return 1.0 / (1.0 + exp(-(m->cal_a * z + m->cal_b)));
    if (z <= m->cal_z[0]) return m->cal_p[0];
    int n = m->ncal;
    if (z >= m->cal_z[n - 1]) return m->cal_p[n - 1];
    int lo = 0, hi = n - 1; /* cal_z[lo] < z < cal_z[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (m->cal_z[mid] <= z)
            lo = mid;
        else
            hi = mid;
    }
    double t = (z - m->cal_z[lo]) / (m->cal_z[hi] - m->cal_z[lo]);
    return m->cal_p[lo] + t * (m->cal_p[hi] - m->cal_p[lo]);
}

void ks_risk_eval_model(const ks_risk_input *in, const ks_risk_params *p, const ks_risk_model *m,
                        ks_risk_level prev, ks_risk_result *out)
{
    if (ks__risk_churned(in, out)) return; /* as with the hand weights */
    double x[KS_RISK_MODEL_MAXF], contrib[KS_RISK_MODEL_MAXF];
    ks_risk_features(in, p, m, x);
    for (int i = 0; i < KS_RISK_CANCEL; i++)
        out->strength[i] = x[KS_RF_S_RECENCY + i];
    double prob = ks_risk_model_prob(m, x, contrib);
    double rounded = floor(100.0 * prob + 0.5);
    out->score = rounded >= 100 ? 100 : rounded <= 0 ? 0 : (int)rounded;

    double by_reason[KS_RISK__COUNT] = {0};
    for (int i = 0; i < KS_RF__FIXED && i < m->nfeatures; i++) {
        int r = ks__feature_reasons[i];
        if (r >= 0) by_reason[r] += contrib[i];
    }
    for (int i = 0; i < KS_RISK_CANCEL; i++)
        if (by_reason[i] > 0) out->reasons |= (uint16_t)(1u << i);
    ks__risk_top3(by_reason, out);
    ks_risk_params lp = *p;
    lp.high_enter = m->high_enter;
    lp.high_exit = m->high_exit;
    lp.medium_enter = m->medium_enter;
    lp.medium_exit = m->medium_exit;
    out->level = ks_risk_level_next(prev, out->score, &lp);
}

static int ks__bad(char *errstr, size_t n, const char *fmt, const char *what, double v)
{
    if (errstr && n) {
        char msg[400];
        snprintf(msg, sizeof msg, fmt, what);
        snprintf(errstr, n, "%s (is %g)", msg, v);
    }
    return KS_ERR_CONFIG;
}

int ks_risk_model_check(const ks_risk_model *m, char *errstr, size_t errsize)
{
    if (m->nsegments < 0 || m->nsegments > KS_RISK_MODEL_SEGMENTS ||
        m->nfeatures != KS_RF__FIXED + m->nsegments)
        return ks__bad(errstr, errsize, "%s: the model must have the fixed features and at most 16 segments",
                       "features", m->nfeatures);
    char what[200];
    for (int i = 0; i < m->nfeatures; i++) {
        const char *name = i < KS_RF__FIXED ? ks__feature_names[i] : m->segment[i - KS_RF__FIXED];
        snprintf(what, sizeof what, "features: \"%.140s\"", name);
        if (!isfinite(m->weight[i])) return ks__bad(errstr, errsize, "%s: weight is not finite", what, m->weight[i]);
        if (!isfinite(m->mean[i])) return ks__bad(errstr, errsize, "%s: mean is not finite", what, m->mean[i]);
        if (!(m->scale[i] > 0) || !isfinite(m->scale[i]))
            return ks__bad(errstr, errsize, "%s: scale must be a finite number > 0", what, m->scale[i]);
    }
    if (!isfinite(m->intercept)) return ks__bad(errstr, errsize, "%s: not finite", "intercept", m->intercept);
    if (!isfinite(m->cal_a) || !(m->cal_a > 0))
        return ks__bad(errstr, errsize, "%s: must be a finite number > 0 (a higher raw score must mean a higher probability)",
                       "calibration.a", m->cal_a);
    if (!isfinite(m->cal_b)) return ks__bad(errstr, errsize, "%s: not finite", "calibration.b", m->cal_b);
    if (m->ncal == 1 || m->ncal < 0 || m->ncal > KS_RISK_MODEL_KNOTS)
        return ks__bad(errstr, errsize, "%s: an isotonic calibration needs 2 to 64 points",
                       "calibration.z", m->ncal);
    for (int k = 0; k < m->ncal; k++) {
        if (!isfinite(m->cal_z[k]) || (k && !(m->cal_z[k] > m->cal_z[k - 1])))
            return ks__bad(errstr, errsize, "%s: must be finite and strictly increasing",
                           "calibration.z", m->cal_z[k]);
        if (!(m->cal_p[k] >= 0 && m->cal_p[k] <= 1) || (k && m->cal_p[k] < m->cal_p[k - 1]))
            return ks__bad(errstr, errsize, "%s: must be probabilities 0-1, never decreasing",
                           "calibration.p", m->cal_p[k]);
    }
    if (!(m->horizon_days > 0) || !isfinite(m->horizon_days))
        return ks__bad(errstr, errsize, "%s: must be > 0", "horizon_days", m->horizon_days);
    const struct { const char *name; int v, lo; } t[] = {{"thresholds.high_enter", m->high_enter, 1},
                                                        {"thresholds.high_exit", m->high_exit, 0},
                                                        {"thresholds.medium_enter", m->medium_enter, 1},
                                                        {"thresholds.medium_exit", m->medium_exit, 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].v < t[i].lo || t[i].v > 100)
            return ks__bad(errstr, errsize, t[i].lo ? "%s: must be an integer score 1-100"
                                                    : "%s: must be an integer score 0-100",
                           t[i].name, t[i].v);
    if (m->high_exit > m->high_enter)
        return ks__bad(errstr, errsize, "%s: must be <= thresholds.high_enter", "thresholds.high_exit", m->high_exit);
    if (m->medium_exit > m->medium_enter)
        return ks__bad(errstr, errsize, "%s: must be <= thresholds.medium_enter", "thresholds.medium_exit",
                       m->medium_exit);
    if (m->medium_enter >= m->high_enter)
        return ks__bad(errstr, errsize, "%s: must be below thresholds.high_enter", "thresholds.medium_enter",
                       m->medium_enter);
    return 0;
}
