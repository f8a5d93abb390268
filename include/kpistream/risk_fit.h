/* Fitting and judging churn-risk models (issue 15; `kpistream risk-fit`):
 * a weighted, L2-regularised logistic regression solved by Newton's method,
 * and the held-out measures the fit reports: ROC AUC, the precision-recall
 * curve over integer scores, threshold choice by target precision, and a
 * calibration table. Pure: no I/O; allocation only where stated.
 */
#ifndef KPISTREAM_RISK_FIT_H
#define KPISTREAM_RISK_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The result of ks_logit_fit() on d features. Arrays are the caller's, d long. */
typedef struct ks_logit {
    int d;
    double *mean, *scale;  /* standardisation of each feature (scale 1 for a constant one) */
    double *weight;        /* per standardised feature */
    double intercept;
    int iterations;        /* Newton steps taken */
    bool converged;        /* the last step moved no coefficient by more than tol */
    double loss;           /* penalised mean log-loss at the end */
} ks_logit;

/** Fits P(y=1 | x) = 1 / (1 + exp(-(intercept + sum_j weight_j (x_j - mean_j) / scale_j)))
 *  to the rows of x (row-major, n x out->d floats) listed in rows[0..nrows)
 *  (rows NULL: all n), minimising
 *      sum_i w_i logloss_i / sum_i w_i + l2/2 * |weight|^2
 *  (the intercept is not penalised) by Newton's method with step halving,
 *  at most max_iter steps, until no coefficient moves more than tol.
 *  y[i] is 0 or 1, w[i] > 0 a sample weight (w NULL: 1). out->mean, scale and
 *  weight must point at d doubles each (filled here). Returns 0, KS_ERR_INVAL
 *  (no rows, or only one class), or KS_ERR_NOMEM. All inputs borrowed;
 *  allocates O(d^2) scratch. */
int ks_logit_fit(const float *x, const uint8_t *y, const float *w, size_t n, const uint32_t *rows,
                 size_t nrows, double l2, int max_iter, double tol, ks_logit *out);

/** Returns the fitted model's linear score (log-odds) of one row (d floats). */
double ks_logit_z(const ks_logit *m, const float *row);

/** Returns the weighted ROC AUC of scores s[i] for labels y[i] with weights w[i]
 *  (w NULL: 1): the chance that a random positive scores above a random
 *  negative, ties counting half. -1 if a class is missing. Allocates n indexes. */
double ks_auc(const double *s, const uint8_t *y, const float *w, size_t n);

/* The weighted positives and negatives at each integer score 0..100. */
typedef struct ks_score_hist {
    double pos[101], neg[101];
} ks_score_hist;

/* One point of the precision-recall curve: flag every score >= threshold. */
typedef struct ks_pr_point {
    int threshold;
    double precision;  /* 0 if nothing is flagged */
    double recall;
    double flagged;    /* share of all (weighted) samples flagged */
} ks_pr_point;

/** Fills out[0..100] (out[t]: flag scores >= t) from h. */
void ks_pr_curve(const ks_score_hist *h, ks_pr_point out[101]);

/** Returns the lowest threshold t in 1..100 whose precision reaches target
 *  with at least min_flagged (weighted) positives flagged: the most recall at
 *  that precision. -1 if no threshold does. */
int ks_pr_threshold(const ks_score_hist *h, double target, double min_flagged);

/* How early flags come before churns, by threshold. For churn episode k,
 * longest[k * 101 + s] is the longest lead (ms before the churn) at which
 * the episode was scored exactly s, -1 if never; a threshold t flags the
 * episode first at the longest lead of any score >= t. */
typedef struct ks_lead_table {
    size_t n;          /* episodes */
    int64_t *longest;  /* n x 101; owned, ks_lead_table_free() */
} ks_lead_table;

/** Sets lt up for n episodes, none flagged. Returns 0 or KS_ERR_NOMEM. */
int ks_lead_table_init(ks_lead_table *lt, size_t n);

/** Records that episode k was scored `score` (0..100) lead_ms (>= 0) before
 *  its churn. Out-of-range arguments are ignored. */
void ks_lead_table_add(ks_lead_table *lt, size_t k, int score, int64_t lead_ms);

/** For every threshold t in 0..100: flagged[t], how many episodes a score
 *  >= t flags, and median_ms[t], the median of their first-flag leads (the
 *  upper one, lead[flagged / 2] in ascending order), -1 if none is flagged.
 *  Returns 0 or KS_ERR_NOMEM (allocates 2 n). */
int ks_lead_medians(const ks_lead_table *lt, double median_ms[101], size_t flagged[101]);

void ks_lead_table_free(ks_lead_table *lt);

/** The lead ceiling of a score: the threshold t in 1..100 with the longest
 *  median_ms[t] among those whose precision in h reaches target with at
 *  least min_flagged (weighted) positives flagged (ks_pr_threshold()'s
 *  condition) and whose median is of at least min_leads episodes
 *  (flagged[t], as ks_lead_medians() gives it): a high threshold flags few
 *  episodes, and the longest of many medians of a handful is luck, not a
 *  ceiling. Ties go to the lowest t (the most recall). -1 if none qualifies. */
int ks_lead_best_threshold(const ks_score_hist *h, const double median_ms[101],
                           const size_t flagged[101], double target, double min_flagged,
                           size_t min_leads);

/* Calibration table: predicted probability vs observed rate in ten bins. */
typedef struct ks_calib_bin {
    double predicted, observed, weight; /* means within the bin; weight of the bin */
} ks_calib_bin;

/** Fills bins[0..9] (bin k: predicted probability in [k/10, (k+1)/10)) from
 *  probabilities p[i], labels y[i], weights w[i] (NULL: 1). Returns the
 *  weighted mean absolute gap |predicted - observed| over the bins (the
 *  expected calibration error). */
double ks_calibration(const double *p, const uint8_t *y, const float *w, size_t n,
                      ks_calib_bin bins[10]);

/** Isotonic calibration of a linear score z: samples are grouped by a first
 *  probability pre[i] (Platt's) into nbins bins of equal width (a bin with
 *  fewer than min_count samples joins the next), each group gives a point
 *  (mean z, observed rate), and adjacent points that decrease are pooled
 *  (pool adjacent violators) until the rates never decrease. Writes the points
 *  (z strictly increasing) into kz/kp (max entries); returns how many (0 if
 *  fewer than 2). Binning by pre rather than by count keeps points where the
 *  few high scores are, which is where thresholds live. Allocates n indexes. */
int ks_calibrate_isotonic(const double *z, const double *pre, const uint8_t *y, size_t n,
                          int nbins, double min_count, double *kz, double *kp, int max);

#endif
