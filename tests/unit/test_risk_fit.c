/* The fitter and the held-out measures of src/risk/fit.c and eval.c:
 * a known logistic truth is recovered, a separable set stays finite and
 * separated, AUC and the precision-recall curve match hand-counted cases,
 * calibration of a perfectly calibrated score is zero, and the lead ceiling
 * (the longest median lead at a precision) matches a hand-counted case. */
#include "kpistream/err.h"
#include "kpistream/risk_fit.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

/* A small deterministic PRNG (splitmix64) and normal draws (Box-Muller). */
static uint64_t rng_state = 42;

static double u01(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double norm(void)
{
    return sqrt(-2 * log(u01())) * cos(6.283185307179586 * u01());
}

Test(fit, recovers_known_logistic_weights)
{
    enum { N = 40000, D = 3 };
    const double truth[D] = {1.5, -2.0, 0.0}, b0 = -0.5;
    float *x = malloc(sizeof(float) * N * D);
    uint8_t *y = malloc(N);
    rng_state = 7;
    for (int i = 0; i < N; i++) {
        double z = b0;
        for (int j = 0; j < D; j++) {
            /* Different means and spreads, so standardisation has work to do. */
            x[i * D + j] = (float)(3.0 * j + (1.0 + j) * norm());
            z += truth[j] * x[i * D + j];
        }
        y[i] = u01() < 1.0 / (1.0 + exp(-z));
    }
    double mean[D], scale[D], w[D];
    ks_logit m = {.d = D, .mean = mean, .scale = scale, .weight = w};
    cr_assert_eq(ks_logit_fit(x, y, NULL, N, NULL, 0, 1e-7, 50, 1e-8, &m), 0);
    cr_assert(m.converged, "Newton did not converge in %d steps", m.iterations);
    /* Back to raw units: w_raw = w / scale, b_raw = b - sum w mean / scale. */
    double b = m.intercept;
    for (int j = 0; j < D; j++) {
        double raw = w[j] / scale[j];
        b -= w[j] * mean[j] / scale[j];
        cr_assert(fabs(raw - truth[j]) < 0.1, "weight %d: %.3f, truth %.3f", j, raw, truth[j]);
    }
    cr_assert(fabs(b - b0) < 0.15, "intercept %.3f, truth %.3f", b, b0);
    free(x);
    free(y);
}

Test(fit, separable_set_stays_finite_and_separates)
{
    enum { N = 200 };
    float x[N];
    uint8_t y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i - N / 2) + 0.5f;
        y[i] = x[i] > 0;
    }
    double mean, scale, w;
    ks_logit m = {.d = 1, .mean = &mean, .scale = &scale, .weight = &w};
    cr_assert_eq(ks_logit_fit(x, y, NULL, N, NULL, 0, 1e-3, 100, 1e-9, &m), 0);
    cr_assert(isfinite(w) && w > 0, "weight %g", w);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ks_logit_z(&m, &x[i]) > 0, y[i], "row %d misclassified", i);
}

Test(fit, weights_and_row_subset)
{
    /* Weight 3 on a row equals three copies of it; rows[] picks a subset. */
    float x[] = {0, 1, 2, 3, 0, 1, 2, 3, 9};
    uint8_t y[] = {0, 0, 1, 1, 1, 0, 0, 1, 1};
    float w3[] = {3, 1, 1, 1, 1, 1, 1, 1, 1};
    float x2[] = {0, 0, 0, 1, 2, 3, 0, 1, 2, 3};
    uint8_t y2[] = {0, 0, 0, 0, 1, 1, 1, 0, 0, 1};
    uint32_t rows[] = {0, 1, 2, 3, 4, 5, 6, 7};
    double m1[1], s1[1], w1[1], m2[1], s2[1], w2[1];
    ks_logit a = {.d = 1, .mean = m1, .scale = s1, .weight = w1};
    ks_logit b = {.d = 1, .mean = m2, .scale = s2, .weight = w2};
    cr_assert_eq(ks_logit_fit(x, y, w3, 9, rows, 8, 1e-3, 100, 1e-10, &a), 0);
    cr_assert_eq(ks_logit_fit(x2, y2, NULL, 10, NULL, 0, 1e-3, 100, 1e-10, &b), 0);
    cr_assert(fabs(w1[0] / s1[0] - w2[0] / s2[0]) < 1e-6, "%g vs %g", w1[0] / s1[0], w2[0] / s2[0]);
}

Test(fit, one_class_is_refused)
{
    float x[] = {1, 2, 3};
    uint8_t y[] = {0, 0, 0};
    double mean, scale, w;
    ks_logit m = {.d = 1, .mean = &mean, .scale = &scale, .weight = &w};
    cr_assert_eq(ks_logit_fit(x, y, NULL, 3, NULL, 0, 1e-3, 10, 1e-9, &m), KS_ERR_INVAL);
}

Test(eval, auc_hand_counted)
{
    /* 4 pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes: 3/4. */
    double s[] = {0.1, 0.4, 0.35, 0.8};
    uint8_t y[] = {0, 0, 1, 1};
    cr_assert_float_eq(ks_auc(s, y, NULL, 4), 0.75, 1e-12);
    /* Weight 2 on the negative 0.4 (6 weighted pairs): 0.35 beats 0.1 (1) and
     * loses to 0.4 (2); 0.8 beats both (3): 4/6. */
    float w[] = {1, 2, 1, 1};
    cr_assert_float_eq(ks_auc(s, y, w, 4), 4.0 / 6.0, 1e-12);
    /* A tie counts half. */
    double t[] = {0.5, 0.5};
    uint8_t ty[] = {1, 0};
    cr_assert_float_eq(ks_auc(t, ty, NULL, 2), 0.5, 1e-12);
    uint8_t one[] = {1, 1};
    cr_assert_float_eq(ks_auc(t, one, NULL, 2), -1, 1e-12);
}

Test(eval, precision_recall_curve_hand_counted)
{
    ks_score_hist h = {{0}, {0}};
    h.pos[90] = h.pos[80] = h.pos[30] = 1;
    h.neg[85] = h.neg[20] = h.neg[10] = 1;
    ks_pr_point pr[101];
    ks_pr_curve(&h, pr);
    cr_assert_float_eq(pr[90].precision, 1.0, 1e-12);
    cr_assert_float_eq(pr[90].recall, 1.0 / 3, 1e-12);
    cr_assert_float_eq(pr[80].precision, 2.0 / 3, 1e-12);
    cr_assert_float_eq(pr[80].recall, 2.0 / 3, 1e-12);
    cr_assert_float_eq(pr[30].precision, 0.75, 1e-12);
    cr_assert_float_eq(pr[30].recall, 1.0, 1e-12);
    cr_assert_float_eq(pr[0].precision, 0.5, 1e-12);
    cr_assert_float_eq(pr[0].flagged, 1.0, 1e-12);
    cr_assert_float_eq(pr[95].precision, 0.0, 1e-12);
    /* Lowest threshold reaching the precision: 0.6 holds down to 11 (3 of 5). */
    cr_assert_eq(ks_pr_threshold(&h, 0.6, 0), 11);
    cr_assert_eq(ks_pr_threshold(&h, 0.9, 0), 86);
    cr_assert_eq(ks_pr_threshold(&h, 0.9, 2), -1);
    cr_assert_eq(ks_pr_threshold(&h, 0.7, 2), 21);
}

Test(eval, calibration_table)
{
    /* A score of 0.25 right one time in four is perfectly calibrated. */
    double p[] = {0.25, 0.25, 0.25, 0.25, 0.95, 0.95};
    uint8_t y[] = {1, 0, 0, 0, 1, 0};
    ks_calib_bin b[10];
    double ece = ks_calibration(p, y, NULL, 6, b);
    cr_assert_float_eq(b[2].predicted, 0.25, 1e-12);
    cr_assert_float_eq(b[2].observed, 0.25, 1e-12);
    cr_assert_float_eq(b[2].weight, 4, 1e-12);
    cr_assert_float_eq(b[9].observed, 0.5, 1e-12);
    cr_assert_float_eq(ece, 2.0 / 6 * 0.45, 1e-12);
}

Test(eval, isotonic_calibration_recovers_a_monotone_truth)
{
    /* The first guess (pre) is a sigmoid of z; the truth is steeper. */
    enum { N = 60000 };
    double *z = malloc(sizeof(double) * N), *pre = malloc(sizeof(double) * N);
    uint8_t *y = malloc(N);
    rng_state = 11;
    for (int i = 0; i < N; i++) {
        z[i] = -4 + 8 * u01();
        pre[i] = 1 / (1 + exp(-z[i]));
        y[i] = u01() < 1 / (1 + exp(-2 * z[i]));
    }
    double kz[64], kp[64];
    int k = ks_calibrate_isotonic(z, pre, y, N, 40, 200, kz, kp, 64);
    cr_assert_geq(k, 10, "only %d points", k);
    for (int i = 1; i < k; i++) {
        cr_assert_gt(kz[i], kz[i - 1], "z not increasing at %d", i);
        cr_assert_gt(kp[i], kp[i - 1], "p not increasing at %d", i);
    }
    /* Interpolated at a few points, within 0.06 of the truth. */
    const double at[] = {-1.0, -0.5, 0.0, 0.5, 1.0};
    for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
        int j = 1;
        while (j < k - 1 && kz[j] < at[a])
            j++;
        double t = (at[a] - kz[j - 1]) / (kz[j] - kz[j - 1]);
        double p = kp[j - 1] + t * (kp[j] - kp[j - 1]), truth = 1 / (1 + exp(-2 * at[a]));
        cr_assert(fabs(p - truth) < 0.06, "at z=%.1f: %.3f, truth %.3f", at[a], p, truth);
    }
    free(z);
    free(pre);
    free(y);
}

Test(eval, lead_ceiling_under_a_precision_constraint)
{
    const int64_t D = 86400000; /* a day in ms */
    ks_lead_table lt;
    cr_assert_eq(ks_lead_table_init(&lt, 5), 0);
    /* Five cancels, each flagged at known scores and days before it. */
    ks_lead_table_add(&lt, 0, 90, 2 * D);
    ks_lead_table_add(&lt, 0, 90, 1 * D); /* a later flag at the same score changes nothing */
    ks_lead_table_add(&lt, 0, 50, 10 * D);
    ks_lead_table_add(&lt, 1, 90, 3 * D);
    ks_lead_table_add(&lt, 1, 50, 12 * D);
    ks_lead_table_add(&lt, 2, 80, 5 * D);
    ks_lead_table_add(&lt, 2, 30, 20 * D);
    ks_lead_table_add(&lt, 3, 60, 8 * D);
    ks_lead_table_add(&lt, 4, 5, 1 * D);
    ks_lead_table_add(&lt, 5, 99, 30 * D);  /* no such episode: ignored */
    ks_lead_table_add(&lt, 3, 101, 30 * D); /* no such score: ignored */
    double med[101];
    size_t fl[101];
    cr_assert_eq(ks_lead_medians(&lt, med, fl), 0);
    /* First flags at >= t, ascending; the median is the upper one. */
    cr_assert_eq(fl[100], 0);
    cr_assert_float_eq(med[100], -1, 1e-9);
    cr_assert_eq(fl[90], 2);                      /* 2, 3 */
    cr_assert_float_eq(med[90], 3.0 * D, 1e-3);
    cr_assert_eq(fl[61], 3);                      /* 2, 3, 5 */
    cr_assert_float_eq(med[61], 3.0 * D, 1e-3);
    cr_assert_eq(fl[51], 4);                      /* 2, 3, 5, 8 */
    cr_assert_float_eq(med[51], 5.0 * D, 1e-3);
    cr_assert_float_eq(med[50], 10.0 * D, 1e-3);  /* 5, 8, 10, 12 */
    cr_assert_float_eq(med[30], 12.0 * D, 1e-3);  /* 8, 10, 12, 20 */
    cr_assert_eq(fl[0], 5);                       /* 1, 8, 10, 12, 20 */
    cr_assert_float_eq(med[0], 10.0 * D, 1e-3);

    /* Precision by threshold: 1 down to 56, 8/9 down to 51, 8/12 down to
     * 31, 12/16 down to 6, 12/26 below. */
    ks_score_hist h = {{0}, {0}};
    h.pos[90] = 4, h.pos[60] = 4, h.neg[55] = 1, h.neg[50] = 3, h.pos[30] = 4, h.neg[5] = 10;
    /* At precision 0.8 the longest median lead is 5 d (t 51..60): the 10
     * and 12 d below are at precision 0.67 and 0.75. */
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.8, 0, 1), 51);
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.95, 0, 1), 56);
    /* At 0.7, 31..50 (0.67) is skipped and 6..30 (0.75, 12 d) taken. */
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.7, 0, 1), 6);
    /* At 0.4 every threshold qualifies; the lowest (ks_pr_threshold's pick)
     * has 10 d, 6..30 has 12 d. */
    cr_assert_eq(ks_pr_threshold(&h, 0.4, 0), 1);
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.4, 0, 1), 6);
    /* Too few right flags where the precision holds: none. */
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.8, 9, 1), -1);
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 1.01, 0, 1), -1);
    /* A median of fewer than min_leads episodes does not count: at 0.4 with
     * 5, only t <= 5 (all five flagged, 10 d) is left; at 0.8 with 5, none. */
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.4, 0, 5), 1);
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.8, 0, 4), 51);
    cr_assert_eq(ks_lead_best_threshold(&h, med, fl, 0.8, 0, 5), -1);
    ks_lead_table_free(&lt);
}
