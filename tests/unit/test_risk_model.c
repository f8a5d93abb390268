/* Scoring with a fitted model (src/risk/model.c): the features read the same
 * inputs as the hand signals, the score is the calibrated probability in
 * points, levels use the model's thresholds with hysteresis, and reasons are
 * the reason codes pushing the log-odds up most. */
#include "kpistream/risk_model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#define DAY 86400000LL
#define T0 1767225600000LL /* 2026-01-01 */

static ks_risk_input base_input(void)
{
    ks_risk_input in;
    memset(&in, 0, sizeof in);
    in.clock_ms = T0 + 100 * DAY;
    in.first_seen_ms = T0;
    in.last_event_ms = T0 + 99 * DAY;
    in.events_total = 101; /* usual gap: 99 days / 100 events */
    in.interactions_7d = 4;
    in.interactions_28d = 16;
    in.revenue_30d = 50;
    in.revenue_prev_30d = 100;
    in.csat_last = 0;
    in.nps_last = -1;
    return in;
}

/* A model with every weight 0 but the listed ones; identity calibration. */
static void model_init(ks_risk_model *m)
{
    memset(m, 0, sizeof *m);
    m->nfeatures = KS_RF__FIXED;
    for (int i = 0; i < KS_RISK_MODEL_MAXF; i++)
        m->scale[i] = 1;
    m->cal_a = 1;
    m->horizon_days = 30;
    m->high_enter = 60, m->high_exit = 45, m->medium_enter = 30, m->medium_exit = 20;
}

Test(model, features_from_inputs)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_input in = base_input();
    double x[KS_RISK_MODEL_MAXF];
    cr_assert_eq(ks_risk_features(&in, &p, NULL, x), KS_RF__FIXED);
    cr_assert_float_eq(x[KS_RF_SILENT_DAYS], log1p(1.0), 1e-12);
    cr_assert_float_eq(x[KS_RF_SILENT_GAPS], log1p(1.0 / 0.99), 1e-9);
    cr_assert_float_eq(x[KS_RF_INTERACTIONS_7D], log1p(4.0), 1e-12);
    cr_assert_float_eq(x[KS_RF_FREQUENCY_RATIO], 1.0, 1e-12);
    cr_assert_float_eq(x[KS_RF_REVENUE_TREND], -50.0 / 151.0, 1e-12);
    cr_assert_float_eq(x[KS_RF_S_MONETARY_DROP], 0.5, 1e-12); /* the hand signal */
    cr_assert_float_eq(x[KS_RF_NPS_ANSWERED], 0, 1e-12);
    cr_assert_float_eq(x[KS_RF_TENURE_DAYS], log1p(100.0), 1e-12);
    in.nps_last = 0;
    ks_risk_features(&in, &p, NULL, x);
    cr_assert_float_eq(x[KS_RF_NPS_LAST], -1.0, 1e-12);
    cr_assert_float_eq(x[KS_RF_S_NPS_DETRACTOR], 1.0, 1e-12);
}

Test(model, segment_features)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_model m;
    model_init(&m);
    m.nsegments = 2;
    m.nfeatures = KS_RF__FIXED + 2;
    strcpy(m.segment[0], "smb");
    strcpy(m.segment[1], "enterprise");
    ks_risk_input in = base_input();
    in.segment = "enterprise";
    in.segment_len = 10;
    double x[KS_RISK_MODEL_MAXF];
    cr_assert_eq(ks_risk_features(&in, &p, &m, x), KS_RF__FIXED + 2);
    cr_assert_float_eq(x[KS_RF__FIXED], 0, 1e-12);
    cr_assert_float_eq(x[KS_RF__FIXED + 1], 1, 1e-12);
}

Test(model, score_is_calibrated_probability_and_reasons_follow_terms)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_model m;
    model_init(&m);
    m.weight[KS_RF_SILENT_DAYS] = 2.0;      /* recency */
    m.weight[KS_RF_INTERACTIONS_7D] = -0.5; /* frequency_drop: fewer is riskier */
    m.weight[KS_RF_TENURE_DAYS] = 0.3;      /* context only: never a reason */
    m.intercept = -3;
    m.cal_a = 1.5;
    m.cal_b = 0.2;
    p.model = &m;
    ks_risk_input in = base_input();
    ks_risk_result r;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &r);
    double z = -3 + 2.0 * log1p(1.0) - 0.5 * log1p(4.0) + 0.3 * log1p(100.0);
    int want = (int)floor(100.0 / (1.0 + exp(-(1.5 * z + 0.2))) + 0.5);
    cr_assert_eq(r.score, want, "score %d, want %d", r.score, want);
    cr_assert_eq(r.ntop, 1);
    cr_assert_eq(r.top[0], KS_RISK_RECENCY);
    cr_assert_eq(r.reasons, 1u << KS_RISK_RECENCY);
    char buf[64];
    cr_assert_str_eq(ks_risk_reasons_format(&r, buf, sizeof buf), "recency");
    /* No interactions at all: frequency_drop's term is 0, so still recency alone;
     * a mean of 3 makes low activity push up. */
    m.mean[KS_RF_INTERACTIONS_7D] = 3;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &r);
    cr_assert_eq(r.ntop, 2);
    cr_assert_eq(r.top[0], KS_RISK_RECENCY);
    cr_assert_eq(r.top[1], KS_RISK_FREQUENCY_DROP);
}

Test(model, levels_use_model_thresholds_with_hysteresis)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_model m;
    model_init(&m);
    p.model = &m;
    ks_risk_input in = base_input();
    ks_risk_result r;
    /* Intercept alone sets the probability: logit(0.62) -> 62 >= high_enter 60. */
    m.intercept = log(0.62 / 0.38);
    ks_risk_eval(&in, &p, KS_RISK_LOW, &r);
    cr_assert_eq(r.score, 62);
    cr_assert_eq(r.level, KS_RISK_HIGH);
    m.intercept = log(0.5 / 0.5); /* 50: stays high (exit 45), medium from low */
    ks_risk_eval(&in, &p, KS_RISK_HIGH, &r);
    cr_assert_eq(r.level, KS_RISK_HIGH);
    ks_risk_eval(&in, &p, KS_RISK_LOW, &r);
    cr_assert_eq(r.level, KS_RISK_MEDIUM);
    m.intercept = log(0.44 / 0.56);
    ks_risk_eval(&in, &p, KS_RISK_HIGH, &r);
    cr_assert_eq(r.level, KS_RISK_MEDIUM);
}

Test(model, churned_scores_zero_as_with_weights)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_model m;
    model_init(&m);
    m.intercept = 5;
    p.model = &m;
    ks_risk_input in = base_input();
    in.churned = in.cancelled = true;
    ks_risk_result r;
    ks_risk_eval(&in, &p, KS_RISK_HIGH, &r);
    cr_assert_eq(r.score, 0);
    cr_assert_eq(r.level, KS_RISK_LOW);
    cr_assert_eq(r.ntop, 1);
    cr_assert_eq(r.top[0], KS_RISK_CANCEL);
}

Test(model, check_names_the_problem)
{
    ks_risk_model m;
    model_init(&m);
    char err[256];
    cr_assert_eq(ks_risk_model_check(&m, err, sizeof err), 0);
    m.scale[KS_RF_SILENT_DAYS] = 0;
    cr_assert_neq(ks_risk_model_check(&m, err, sizeof err), 0);
    cr_assert(strstr(err, "silent_days") && strstr(err, "scale"), "%s", err);
    model_init(&m);
    m.high_exit = 70;
    cr_assert_neq(ks_risk_model_check(&m, err, sizeof err), 0);
    cr_assert(strstr(err, "thresholds.high_exit"), "%s", err);
}

Test(model, isotonic_calibration_interpolates)
{
    ks_risk_model m;
    model_init(&m);
    m.ncal = 3;
    m.cal_z[0] = -2, m.cal_z[1] = 0, m.cal_z[2] = 2;
    m.cal_p[0] = 0.1, m.cal_p[1] = 0.3, m.cal_p[2] = 0.9;
    cr_assert_float_eq(ks_risk_model_calibrate(&m, -5), 0.1, 1e-12); /* flat beyond the ends */
    cr_assert_float_eq(ks_risk_model_calibrate(&m, -1), 0.2, 1e-12);
    cr_assert_float_eq(ks_risk_model_calibrate(&m, 1.5), 0.75, 1e-12);
    cr_assert_float_eq(ks_risk_model_calibrate(&m, 9), 0.9, 1e-12);
    char err[256];
    cr_assert_eq(ks_risk_model_check(&m, err, sizeof err), 0, "%s", err);
    m.cal_p[2] = 0.2; /* decreasing */
    cr_assert_neq(ks_risk_model_check(&m, err, sizeof err), 0);
    cr_assert(strstr(err, "calibration.p"), "%s", err);
}
