/* KPI formulas: pure functions from a window's aggregates to the KPI values
 * of CONTRACT.md section 4 (see docs/kpis.md). No I/O, no state. */
#ifndef KPISTREAM_KPI_H
#define KPISTREAM_KPI_H

#include "kpistream/window.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ks_kpi_kind {
    KS_KPI_COUNT, /* integer */
    KS_KPI_MONEY, /* 2 decimals, events' currency */
    KS_KPI_RATIO, /* 2 decimals; absent when its denominator is 0 */
    KS_KPI_DURATION, /* integer milliseconds; absent without data */
} ks_kpi_kind;

#define KS_KPIS(X)                                                             \
    X(EVENTS, "events", COUNT)                                                 \
    X(ACTIVE_CUSTOMERS, "active_customers", COUNT)                             \
    X(NEW_CUSTOMERS, "new_customers", COUNT)                                   \
    X(CHURNED_CUSTOMERS, "churned_customers", COUNT)                           \
    X(CUSTOMERS, "customers", COUNT)                                           \
    X(ORDERS, "orders", COUNT)                                                 \
    X(PURCHASING_CUSTOMERS, "purchasing_customers", COUNT)                     \
    X(INTERACTIONS, "interactions", COUNT)                                     \
    X(SOCIAL_INTERACTIONS, "social_interactions", COUNT)                       \
    X(COMPLAINTS, "complaints", COUNT)                                         \
    X(TICKETS, "tickets", COUNT)                                               \
    X(LEADS, "leads", COUNT)                                                   \
    X(CONVERSIONS, "conversions", COUNT)                                       \
    X(UPSELLS, "upsells", COUNT)                                               \
    X(CROSS_SELLS, "cross_sells", COUNT)                                       \
    X(REFERRALS, "referrals", COUNT)                                           \
    X(PAYMENT_FAILURES, "payment_failures", COUNT)                             \
    X(CSAT_RESPONSES, "csat_responses", COUNT)                                 \
    X(NPS_RESPONSES, "nps_responses", COUNT)                                   \
    X(REVENUE, "revenue", MONEY)                                               \
    X(REFUNDS, "refunds", MONEY)                                               \
    X(MARKETING_SPEND, "marketing_spend", MONEY)                               \
    X(RETENTION_SPEND, "retention_spend", MONEY)                               \
    X(AOV, "aov", RATIO)                                                       \
    X(PURCHASE_FREQUENCY, "purchase_frequency", RATIO)                         \
    X(REPURCHASE_RATE, "repurchase_rate", RATIO)                               \
    X(CSAT, "csat", RATIO)                                                     \
    X(NPS, "nps", RATIO)                                                       \
    X(RETENTION_RATE, "retention_rate", RATIO)                                 \
    X(CHURN_RATE, "churn_rate", RATIO)                                         \
    X(CAC, "cac", RATIO)                                                       \
    X(RETENTION_COST, "retention_cost", RATIO)                                 \
    X(CONVERSION_RATE, "conversion_rate", RATIO)                               \
    X(COMPLAINT_RATE, "complaint_rate", RATIO)                                 \
    X(COMPLAINT_RESOLUTION_RATE, "complaint_resolution_rate", RATIO)           \
    X(RESPONSE_TIME_P50, "response_time_p50", DURATION)                        \
    X(RESPONSE_TIME_P90, "response_time_p90", DURATION)                        \
    X(RESPONSE_TIME_P99, "response_time_p99", DURATION)                        \
    X(ORDER_VALUE_P50, "order_value_p50", RATIO)                               \
    X(ORDER_VALUE_P90, "order_value_p90", RATIO)                               \
    X(ORDER_VALUE_P99, "order_value_p99", RATIO)                               \
    X(ENGAGEMENT, "engagement", RATIO)                                         \
    X(UPSELL_RATE, "upsell_rate", RATIO)                                       \
    X(CROSS_SELL_RATE, "cross_sell_rate", RATIO)                               \
    X(CLV, "clv", RATIO)

typedef enum ks_kpi {
#define KS__KPI_ENUM(name, str, kind) KS_KPI_##name,
    KS_KPIS(KS__KPI_ENUM)
#undef KS__KPI_ENUM
        KS_KPI__COUNT
} ks_kpi;

/** Returns the KPI's field name ("aov"); static. */
const char *ks_kpi_name(ks_kpi k);

/** Returns the KPI's kind. */
ks_kpi_kind ks_kpi_kind_of(ks_kpi k);

typedef struct ks_kpi_params {
    double gross_margin; /* CLV */
    double min_churn;    /* CLV churn floor */
} ks_kpi_params;

/* What one window of one group holds. */
typedef struct ks_kpi_input {
    ks_bucket sum;        /* counters summed over the window's buckets */
    int64_t base_start;   /* S: customers at the window's start */
    int64_t base_end;     /* E: customers at the window's end */
    bool clv_window;      /* compute clv (the 30d window only) */
    bool has_response;           /* first-response quantiles known (a response in the window) */
    double response[3];          /* p50, p90, p99 of first-response times, ms (DDSketch) */
    bool has_order_value;        /* order-value quantiles known (global hash only) */
    double order_value[3];       /* p50, p90, p99 */
} ks_kpi_input;

typedef struct ks_kpi_values {
    double v[KS_KPI__COUNT];
    bool present[KS_KPI__COUNT];
    /* For KPIs that are a ratio of integers (counts, money in micro-units),
     * the value in hundredths rounded half away from zero on the exact
     * quotient: printed as is, no binary approximation in between. */
    bool exact[KS_KPI__COUNT];
    int64_t hundredths[KS_KPI__COUNT];
} ks_kpi_values;

/** Returns n / d in hundredths, rounded half away from zero on the exact
 *  quotient (d != 0); saturates at the int64 range. */
int64_t ks_kpi_hundredths(int64_t n, int64_t d);

/** The group clv in exact hundredths (rounded half away from zero):
 *  gross_margin x (revenue / active) / max(churned / base, min_churn), with
 *  revenue in micro-units and gross_margin, min_churn taken to 6 decimals.
 *  churn_known: base > 0 (else min_churn stands in). Returns false when it
 *  is undefined or beyond int64. */
bool ks_kpi_clv_hundredths(int64_t revenue_micro, int64_t active, int64_t churned, int64_t base,
                           bool churn_known, const ks_kpi_params *prm, int64_t *out);

/** A customer's clv in exact hundredths: gross_margin x revenue_30d /
 *  max(risk_score / 100, min_churn). Returns false when undefined. */
bool ks_kpi_customer_clv_hundredths(int64_t revenue_micro, unsigned risk_score,
                                    const ks_kpi_params *prm, int64_t *out);

/** Formats a value held in hundredths: "12.34" (money, ratios) or, for
 *  counts, the integer part rounded half away from zero. Returns buf. */
char *ks_kpi_format_hundredths(ks_kpi_kind kind, int64_t hundredths, char *buf, size_t size);

/** Formats KPI k of v: exactly if it has hundredths, else from its double. */
char *ks_kpi_format_value(const ks_kpi_values *v, ks_kpi k, char *buf, size_t size);

/** Computes every KPI of in. Ratios with a zero denominator are not present. */
void ks_kpi_compute(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out);

/** Formats value for Redis: counts as integers, money and ratios rounded to
 *  2 decimals ("-0.00" never appears). Returns buf. */
char *ks_kpi_format(ks_kpi_kind kind, double value, char *buf, size_t size);

/* The formulas, one pure function each (all return false when undefined). */
bool ks_kpi_ratio(double num, double den, double scale, double *out);
bool ks_kpi_nps(int64_t promoters, int64_t detractors, int64_t responses, double *out);
bool ks_kpi_retention_rate(int64_t s, int64_t e, int64_t n, double *out);
bool ks_kpi_retention_cost(double retention_spend, int64_t s, int64_t churned, double *out);
bool ks_kpi_clv(double revenue, int64_t active, double churn_rate_pct, bool churn_known,
                const ks_kpi_params *prm, double *out);

#endif
