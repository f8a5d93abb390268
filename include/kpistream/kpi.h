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

/* The KPIs, one row each: X(ID, name, kind, formula, doc).
 *
 * Adding a KPI is a row here, its counting in src/state/pstate.c (a counter
 * of window.h's KS_COUNTERS, when no existing one fits) and its line in
 * docs/kpis.md (tests/unit/test_kpi_doc.c fails without it). Everything else
 * derives from the row: the enum, the name (the field "<name>:<window>" of
 * every KPI hash the flush writes, src/engine/flush.c), the value's
 * formatting (kind) and, for the shapes below, the formula itself, exact
 * decimal rounding included (src/kpi/kpi.c).
 *
 *   name     the KPI hash field without ":<window>"
 *   kind     COUNT, MONEY, RATIO or DURATION (ks_kpi_kind: format, presence)
 *   formula  over the window's counter sums c[K] (K a KS_C_ name, unprefixed):
 *     SUM(K)          c[K]
 *     MONEY(K)        c[K] / 10^6: money summed in micro-units
 *     RATIO(N, D, s)  s x c[N] / c[D]; absent when c[D] is 0
 *     PER(M, D)       c[M] / 10^6 / c[D]: money per D; absent when c[D] is 0
 *     RESPONSE(i)     quantile i (p50, p90, p99) of the first-response sketch
 *     ORDER_VALUE(i)  quantile i of the order-value sketch (global hash only)
 *     FN(f)           ks__kpi_<f>() in src/kpi/kpi.c: what needs the customer
 *                     base S and E, a difference, or the params (clv)
 *   doc      one line; docs/kpis.md has the full definition */
#define KS_KPIS(X)                                                                                 \
    X(EVENTS, "events", COUNT, SUM(EVENTS), "accepted events")                                     \
    X(ACTIVE_CUSTOMERS, "active_customers", COUNT, SUM(D_ACTIVE),                                 \
      "distinct customers with an event")                                                          \
    X(NEW_CUSTOMERS, "new_customers", COUNT, SUM(NEW_CUSTOMERS), "customers first seen")           \
    X(CHURNED_CUSTOMERS, "churned_customers", COUNT, SUM(CHURNED), "churns (cancel, silence)")     \
    X(CUSTOMERS, "customers", COUNT, FN(customers), "the customer base E at the clock")            \
    X(ORDERS, "orders", COUNT, SUM(ORDERS), "purchases")                                           \
    X(PURCHASING_CUSTOMERS, "purchasing_customers", COUNT, SUM(D_PURCHASING),                      \
      "distinct customers with a purchase")                                                        \
    X(INTERACTIONS, "interactions", COUNT, SUM(INTERACTIONS), "interactions")                      \
    X(SOCIAL_INTERACTIONS, "social_interactions", COUNT, SUM(SOCIAL),                              \
      "interactions on channel social")                                                            \
    X(COMPLAINTS, "complaints", COUNT, SUM(COMPLAINTS), "complaint tickets opened")                \
    X(TICKETS, "tickets", COUNT, SUM(TICKETS), "tickets opened")                                   \
    X(LEADS, "leads", COUNT, SUM(LEADS), "leads created")                                          \
    X(CONVERSIONS, "conversions", COUNT, SUM(CONVERSIONS), "leads converted")                      \
    X(UPSELLS, "upsells", COUNT, SUM(UPSELLS), "subscription upgrades")                            \
    X(CROSS_SELLS, "cross_sells", COUNT, SUM(CROSS_SELLS), "purchases in a new category")          \
    X(REFERRALS, "referrals", COUNT, SUM(REFERRALS), "referrals")                                  \
    X(PAYMENT_FAILURES, "payment_failures", COUNT, SUM(PAYMENT_FAILURES), "failed payments")       \
    X(CSAT_RESPONSES, "csat_responses", COUNT, SUM(CSAT_RESPONSES), "CSAT answers")                \
    X(NPS_RESPONSES, "nps_responses", COUNT, SUM(NPS_RESPONSES), "NPS answers")                    \
    X(REVENUE, "revenue", MONEY, FN(revenue), "purchases - refunds")                               \
    X(REFUNDS, "refunds", MONEY, MONEY(M_REFUNDS), "refunded amount")                              \
    X(MARKETING_SPEND, "marketing_spend", MONEY, MONEY(M_MARKETING), "marketing spend")            \
    X(RETENTION_SPEND, "retention_spend", MONEY, MONEY(M_RETENTION), "retention spend")            \
    X(AOV, "aov", RATIO, PER(M_PURCHASES, ORDERS), "purchase amount / orders")                     \
    X(PURCHASE_FREQUENCY, "purchase_frequency", RATIO, RATIO(ORDERS, D_PURCHASING, 1),             \
      "orders / purchasing_customers")                                                             \
    X(REPURCHASE_RATE, "repurchase_rate", RATIO, RATIO(D_REPURCHASING, D_PURCHASING, 100),         \
      "100 x customers with 2 purchases / purchasing_customers")                                   \
    X(CSAT, "csat", RATIO, RATIO(CSAT_SATISFIED, CSAT_RESPONSES, 100),                             \
      "100 x satisfied answers / csat_responses")                                                  \
    X(NPS, "nps", RATIO, FN(nps), "100 x (promoters - detractors) / nps_responses")                \
    X(RETENTION_RATE, "retention_rate", RATIO, FN(retention_rate), "100 x (E - N) / S")            \
    X(CHURN_RATE, "churn_rate", RATIO, FN(churn_rate), "100 x churned_customers / S")              \
    X(CAC, "cac", RATIO, PER(M_MARKETING, NEW_CUSTOMERS), "marketing_spend / new_customers")       \
    X(RETENTION_COST, "retention_cost", RATIO, FN(retention_cost),                                 \
      "retention_spend / (S - churned_customers)")                                                 \
    X(CONVERSION_RATE, "conversion_rate", RATIO, RATIO(CONVERSIONS, LEADS, 100),                   \
      "100 x conversions / leads")                                                                 \
    X(COMPLAINT_RATE, "complaint_rate", RATIO, RATIO(COMPLAINTS, D_ACTIVE, 100),                   \
      "100 x complaints / active_customers")                                                       \
    X(COMPLAINT_RESOLUTION_RATE, "complaint_resolution_rate", RATIO,                               \
      RATIO(COMPLAINTS_RESOLVED, COMPLAINTS, 100), "100 x complaints resolved / complaints")       \
    X(RESPONSE_TIME_P50, "response_time_p50", DURATION, RESPONSE(0), "first-response time p50")    \
    X(RESPONSE_TIME_P90, "response_time_p90", DURATION, RESPONSE(1), "first-response time p90")    \
    X(RESPONSE_TIME_P99, "response_time_p99", DURATION, RESPONSE(2), "first-response time p99")    \
    X(ORDER_VALUE_P50, "order_value_p50", RATIO, ORDER_VALUE(0), "purchase amount p50")            \
    X(ORDER_VALUE_P90, "order_value_p90", RATIO, ORDER_VALUE(1), "purchase amount p90")            \
    X(ORDER_VALUE_P99, "order_value_p99", RATIO, ORDER_VALUE(2), "purchase amount p99")            \
    X(ENGAGEMENT, "engagement", RATIO, RATIO(INTERACTIONS, D_ACTIVE, 1),                           \
      "interactions / active_customers")                                                           \
    X(UPSELL_RATE, "upsell_rate", RATIO, RATIO(UPSELLS, D_ACTIVE, 100),                            \
      "100 x upsells / active_customers")                                                          \
    X(CROSS_SELL_RATE, "cross_sell_rate", RATIO, RATIO(CROSS_SELLS, ORDERS, 100),                  \
      "100 x cross_sells / orders")                                                                \
    X(CLV, "clv", RATIO, FN(clv), "margin x revenue per active customer / churn (30d only)")

typedef enum ks_kpi {
#define KS__KPI_ENUM(id, name, kind, formula, doc) KS_KPI_##id,
    KS_KPIS(KS__KPI_ENUM)
#undef KS__KPI_ENUM
        KS_KPI__COUNT
} ks_kpi;

/** Returns the KPI's field name ("aov"); static. */
const char *ks_kpi_name(ks_kpi k);

/** Returns the KPI's kind. */
ks_kpi_kind ks_kpi_kind_of(ks_kpi k);

/** Returns the KPI's one-line doc (its row's); static. */
const char *ks_kpi_doc(ks_kpi k);

/** Returns the KPI named name (a field without ":<window>"), or -1. */
int ks_kpi_find(const char *name, size_t len);

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
