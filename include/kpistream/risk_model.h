/* A fitted churn-risk model (issue 15): a regularised logistic regression over
 * a fixed list of features of one customer's state, a calibration, and the
 * level thresholds chosen by `kpistream risk-fit`. With a model loaded
 * (config key risk.model) ks_risk_eval() scores with it instead of the hand
 * weights; docs/churn-risk.md ("Fitted model") describes the file.
 *
 * Pure parts (features, scoring, fitting, evaluation) live in src/risk/ and
 * allocate only where stated; reading and writing the JSON file lives in
 * src/config/risk_model.c (the config module is the one that includes cJSON).
 */
#ifndef KPISTREAM_RISK_MODEL_H
#define KPISTREAM_RISK_MODEL_H

#include "kpistream/risk.h"

#include <stddef.h>
#include <stdint.h>

/* The fixed features: name in the model file, the reason code a positive
 * contribution is reported under (-1: context only, never named as a reason),
 * and how it is computed from ks_risk_input (src/risk/model.c). Segment
 * features ("segment=<name>", reason -1) follow them, one per segment the
 * model lists. Appending a row is compatible; renaming or reordering is not
 * (an older binary refuses a model naming a feature it does not know). */
#define KS_RISK_FEATURES(X)                                                     \
    X(S_RECENCY, "signal.recency", KS_RISK_RECENCY)                             \
    X(S_FREQUENCY_DROP, "signal.frequency_drop", KS_RISK_FREQUENCY_DROP)        \
    X(S_MONETARY_DROP, "signal.monetary_drop", KS_RISK_MONETARY_DROP)           \
    X(S_LOW_CSAT, "signal.low_csat", KS_RISK_LOW_CSAT)                          \
    X(S_NPS_DETRACTOR, "signal.nps_detractor", KS_RISK_NPS_DETRACTOR)           \
    X(S_UNRESOLVED, "signal.unresolved_tickets", KS_RISK_UNRESOLVED_TICKETS)    \
    X(S_COMPLAINTS, "signal.complaints", KS_RISK_COMPLAINTS)                    \
    X(S_PAYMENT_FAILURES, "signal.payment_failures", KS_RISK_PAYMENT_FAILURES)  \
    X(S_DOWNGRADE, "signal.downgrade", KS_RISK_DOWNGRADE)                       \
    X(SILENT_DAYS, "silent_days", KS_RISK_RECENCY)                              \
    X(SILENT_GAPS, "silent_gaps", KS_RISK_RECENCY)                              \
    X(GAP_DAYS, "usual_gap_days", -1)                                           \
    X(INTERACTIONS_7D, "interactions_7d", KS_RISK_FREQUENCY_DROP)               \
    X(INTERACTIONS_28D, "interactions_28d", KS_RISK_FREQUENCY_DROP)             \
    X(FREQUENCY_RATIO, "frequency_ratio", KS_RISK_FREQUENCY_DROP)               \
    X(TENURE_DAYS, "tenure_days", -1)                                           \
    X(EVENTS_TOTAL, "events_total", -1)                                         \
    X(REVENUE_30D, "revenue_30d", KS_RISK_MONETARY_DROP)                        \
    X(REVENUE_PREV_30D, "revenue_prev_30d", KS_RISK_MONETARY_DROP)              \
    X(REVENUE_TREND, "revenue_trend", KS_RISK_MONETARY_DROP)                    \
    X(ORDERS_30D, "orders_30d", KS_RISK_MONETARY_DROP)                          \
    X(CSAT_ANSWERED, "csat_answered", KS_RISK_LOW_CSAT)                         \
    X(CSAT_LAST, "csat_last", KS_RISK_LOW_CSAT)                                 \
    X(NPS_ANSWERED, "nps_answered", KS_RISK_NPS_DETRACTOR)                      \
    X(NPS_LAST, "nps_last", KS_RISK_NPS_DETRACTOR)                              \
    X(OPEN_TICKETS, "open_tickets", KS_RISK_UNRESOLVED_TICKETS)                 \
    X(TICKET_AGE_DAYS, "open_ticket_age_days", KS_RISK_UNRESOLVED_TICKETS)      \
    X(COMPLAINTS_30D, "complaints_30d", KS_RISK_COMPLAINTS)                     \
    X(PAYMENT_FAILURES_30D, "payment_failures_30d", KS_RISK_PAYMENT_FAILURES)   \
    X(DOWNGRADE_RECENT, "downgrade_recent", KS_RISK_DOWNGRADE)

typedef enum ks_risk_feature {
#define KS__RF_ENUM(name, str, reason) KS_RF_##name,
    KS_RISK_FEATURES(KS__RF_ENUM)
#undef KS__RF_ENUM
        KS_RF__FIXED
} ks_risk_feature;

#define KS_RISK_MODEL_SEGMENTS 16 /* segment features a model may have */
#define KS_RISK_MODEL_MAXF (KS_RF__FIXED + KS_RISK_MODEL_SEGMENTS)
#define KS_RISK_MODEL_KNOTS 64 /* isotonic calibration points at most */

/* Score = round(100 * p), z = intercept + sum_i weight[i] * (x[i] - mean[i]) / scale[i];
 * p = 1 / (1 + exp(-(cal_a * z + cal_b))) (Platt), or with ncal >= 2 knots
 * (isotonic) p = cal_p interpolated linearly at z between the cal_z (flat
 * beyond the ends). */
typedef struct ks_risk_model {
    int nfeatures;                       /* KS_RF__FIXED + nsegments */
    int nsegments;
    char segment[KS_RISK_MODEL_SEGMENTS][129]; /* names of the segment features */
    double weight[KS_RISK_MODEL_MAXF];   /* per standardised feature (0: unused) */
    double mean[KS_RISK_MODEL_MAXF];
    double scale[KS_RISK_MODEL_MAXF];    /* > 0 */
    double intercept;
    double cal_a, cal_b;                 /* Platt calibration of z (identity: 1, 0) */
    int ncal;                            /* 0: Platt; else isotonic knots: */
    double cal_z[KS_RISK_MODEL_KNOTS];   /* strictly increasing */
    double cal_p[KS_RISK_MODEL_KNOTS];   /* non-decreasing, in [0, 1] */
    int high_enter, high_exit, medium_enter, medium_exit; /* score thresholds, 0-100 */
    double horizon_days;                 /* H: the probability is of churning within H */
    int64_t train_from_ms, train_to_ms;  /* the history it was fitted on */
    char *metrics_json;                  /* held-out evaluation, kept verbatim; may be NULL */
} ks_risk_model;

/** Returns the fixed feature's name ("silent_days") or "?". Static. */
const char *ks_risk_feature_name(int f);

/** Returns the reason code a fixed feature reports under, or -1 (context only). */
int ks_risk_feature_reason(int f);

/** Fills x[0..m->nfeatures) with the features of in (m gives the segment list;
 *  with m NULL only the KS_RF__FIXED fixed ones). p supplies ticket_age for the
 *  signal strengths. Returns the number written. All pointers borrowed. */
int ks_risk_features(const ks_risk_input *in, const ks_risk_params *p, const ks_risk_model *m,
                     double *x);

/** Returns the model's calibrated probability for features x (borrowed);
 *  contrib (may be NULL) receives each feature's term weight * (x - mean) / scale. */
double ks_risk_model_prob(const ks_risk_model *m, const double *x, double *contrib);

/** Returns the calibrated probability of the linear score z (Platt or isotonic). */
double ks_risk_model_calibrate(const ks_risk_model *m, double z);

/** Scores in with model m into *out as ks_risk_eval() does with weights:
 *  score = round(100 p), level with hysteresis from prev at the model's
 *  thresholds, top reasons = the reason codes whose features add most to
 *  the log-odds (their terms summed; only sums > 0 count). Pointers borrowed. */
void ks_risk_eval_model(const ks_risk_input *in, const ks_risk_params *p, const ks_risk_model *m,
                        ks_risk_level prev, ks_risk_result *out);

/** Checks what a loaded or fitted model must satisfy (feature count, finite
 *  numbers, scales > 0, thresholds in 0-100 with exit <= enter and medium
 *  below high). Returns 0, or KS_ERR_CONFIG with a sentence naming the field. */
int ks_risk_model_check(const ks_risk_model *m, char *errstr, size_t errsize);

/* --------------------------------------------------------- file (config/) */

/** Reads a model file. Returns the model, or NULL with errstr naming the path,
 *  the field and the problem ("m.json: features[3].name: unknown feature
 *  \"foo\""). Caller owns it; free with ks_risk_model_free(). */
ks_risk_model *ks_risk_model_load(const char *path, char *errstr, size_t errsize);

/** Parses model JSON text (len bytes, borrowed). As ks_risk_model_load(),
 *  errors without the path. Caller owns the result. */
ks_risk_model *ks_risk_model_parse(const char *text, size_t len, char *errstr, size_t errsize);

/** Returns the model as pretty JSON that ks_risk_model_parse() reads back to
 *  the same model. Caller owns it; free with free(). NULL on OOM. */
char *ks_risk_model_to_json(const ks_risk_model *m);

/** Frees m and its metrics (NULL is ignored). */
void ks_risk_model_free(ks_risk_model *m);

#endif
