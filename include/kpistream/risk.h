/* Churn-risk scoring: pure functions from one customer's state to a score
 * 0-100, a level with hysteresis, and explainable reason codes; plus the
 * alert-cooldown and marketing-trigger rules. No I/O, no clock reads, no
 * allocation: the caller passes the clock. Formulas, defaults and tuning are
 * in docs/churn-risk.md. */
#ifndef KPISTREAM_RISK_H
#define KPISTREAM_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reason codes, in priority order for ties. Bit i of a reason mask is code i. */
#define KS_RISK_REASONS(X)                                                     \
    X(RECENCY, "recency")                                                      \
    X(FREQUENCY_DROP, "frequency_drop")                                        \
    X(MONETARY_DROP, "monetary_drop")                                          \
    X(LOW_CSAT, "low_csat")                                                    \
    X(NPS_DETRACTOR, "nps_detractor")                                          \
    X(UNRESOLVED_TICKETS, "unresolved_tickets")                                \
    X(COMPLAINTS, "complaints")                                                \
    X(PAYMENT_FAILURES, "payment_failures")                                    \
    X(DOWNGRADE, "downgrade")                                                  \
    X(CANCEL, "cancel")

typedef enum ks_risk_reason {
#define KS__RISK_ENUM(name, str) KS_RISK_##name,
    KS_RISK_REASONS(KS__RISK_ENUM)
#undef KS__RISK_ENUM
        KS_RISK__COUNT
} ks_risk_reason;

typedef enum ks_risk_level { KS_RISK_LOW = 0, KS_RISK_MEDIUM = 1, KS_RISK_HIGH = 2 } ks_risk_level;

/** Returns the reason code's name ("recency"), or "?" if out of range. Static. */
const char *ks_risk_reason_name(ks_risk_reason r);

/** Returns the reason code named name ("frequency_drop"), or -1 if there is none.
 *  name is borrowed. */
int ks_risk_reason_from_name(const char *name);

/** Returns "low", "medium" or "high" ("?" if out of range). Static. */
const char *ks_risk_level_name(ks_risk_level l);

struct ks_risk_model; /* kpistream/risk_model.h */

/* Tunables (config keys risk.*; defaults in ks_risk_params_default()). */
typedef struct ks_risk_params {
    double weight[KS_RISK__COUNT]; /* points at full strength of each signal; CANCEL unused */
    int high_enter, high_exit;     /* enter high at >= high_enter, leave below high_exit */
    int medium_enter, medium_exit; /* enter medium at >= medium_enter, leave below medium_exit */
    int64_t ticket_age_ms;         /* an open ticket older than this is a signal (48h) */
    int64_t alert_cooldown_ms;     /* one alert per customer per cooldown (24h) */
    int64_t trigger_cooldown_ms;   /* per customer and trigger (24h) */
    int64_t win_back_ms;           /* win_back: silent for this long (14d) */
    int upsell_min_orders_30d;     /* upsell_candidate: at least this many orders in 30d (3) */
    /* A fitted model (risk.model): when set, ks_risk_eval() scores with it and
     * its thresholds instead of weight[] and the four thresholds above.
     * Borrowed from the ks_config that loaded it; NULL: hand weights. */
    const struct ks_risk_model *model;
} ks_risk_params;

/** Fills p (borrowed) with the defaults listed in docs/churn-risk.md. */
void ks_risk_params_default(ks_risk_params *p);

/* One customer's state at the clock, as the engine sees it. */
typedef struct ks_risk_input {
    int64_t clock_ms;
    int64_t first_seen_ms, last_event_ms;
    uint32_t events_total;                /* accepted events of this customer, all time */
    int64_t interactions_7d, interactions_28d;
    double revenue_30d, revenue_prev_30d; /* net revenue: last 30 days, the 30 before */
    int csat_last;                        /* 1-5; 0 = none */
    int nps_last;                         /* 0-10; -1 = none */
    int open_tickets;
    int64_t oldest_open_ticket_ms;        /* opened-at of the oldest open ticket; 0 = none */
    int64_t complaints_30d, payment_failures_30d;
    int64_t last_downgrade_ms;            /* 0 = never */
    bool churned;                         /* cancelled or inactive: churn, not risk */
    bool cancelled;                       /* churned by a cancel */
    const char *segment;                  /* remembered segment (borrowed; NULL = none) */
    size_t segment_len;
    /* Used only by the trigger rules, not by the score: */
    int64_t orders_30d;
    double clv;
} ks_risk_input;

typedef struct ks_risk_result {
    int score;                        /* 0-100 */
    ks_risk_level level;              /* after hysteresis */
    uint16_t reasons;                 /* mask of signals that contributed (> 0 points) */
    ks_risk_reason top[3];            /* strongest contributions first */
    int ntop;
    double strength[KS_RISK__COUNT];  /* each signal's strength in [0,1] (explainability) */
} ks_risk_result;

/** Scores one customer into *out (with p->model set: ks_risk_eval_model()
 *  in risk_model.h; otherwise:) signal strengths, score, level after
 *  hysteresis from prev (the customer's previous level; KS_RISK_LOW for a new
 *  customer), reason mask and top reasons. A churned customer scores 0, level
 *  low; if cancelled its only reason is "cancel", otherwise it has none.
 *  All pointers are borrowed. */
void ks_risk_eval(const ks_risk_input *in, const ks_risk_params *p, ks_risk_level prev,
                  ks_risk_result *out);

/** Returns the level after hysteresis for score, given the previous level
 *  (the rule ks_risk_eval applies). p is borrowed. */
ks_risk_level ks_risk_level_next(ks_risk_level prev, int score, const ks_risk_params *p);

/** Writes the top reasons as comma-separated codes ("recency,complaints"; ""
 *  if none) into buf, truncated to size bytes; returns buf. Borrowed: buf is
 *  the caller's; 64 bytes always suffice. */
char *ks_risk_reasons_format(const ks_risk_result *r, char *buf, size_t size);

/** Returns true if an alert is due: the customer entered high (prev != high,
 *  now high) and no alert was sent within the cooldown (last_alert_ms 0 =
 *  never; due again once clock_ms - last_alert_ms >= alert_cooldown_ms). */
bool ks_risk_alert_due(ks_risk_level prev, ks_risk_level now, int64_t clock_ms,
                       int64_t last_alert_ms, const ks_risk_params *p);

/** Returns the deterministic alert id for a customer entering high at at_ms:
 *  "a-" and 16 hex digits of a hash of (customer_id, at_ms). The same customer
 *  and moment give the same id in every run and process, so a replay repeats
 *  an alert only with the same id. Writes into buf (size >= 19; 40 is plenty;
 *  truncated otherwise). Returns buf. Borrowed: buf is the caller's. */
char *ks_risk_alert_id(const char *customer_id, size_t len, int64_t at_ms, char *buf, size_t size);

/* ---------------------------------------------------------------- triggers
 * Marketing-automation triggers: each a name and a pure condition. The engine
 * evaluates the condition, applies ks_trigger_due() per customer and trigger,
 * and writes kpi:triggers with ks_trigger_id(). */
#define KS_TRIGGERS(X)                                                         \
    X(FIRST_PURCHASE, "first_purchase")                                        \
    X(HIGH_VALUE_AT_RISK, "high_value_at_risk")                                \
    X(DETRACTOR, "detractor")                                                  \
    X(WIN_BACK, "win_back")                                                    \
    X(UPSELL_CANDIDATE, "upsell_candidate")

typedef enum ks_trigger {
#define KS__TRIGGER_ENUM(name, str) KS_TRIGGER_##name,
    KS_TRIGGERS(KS__TRIGGER_ENUM)
#undef KS__TRIGGER_ENUM
        KS_TRIGGER__COUNT
} ks_trigger;

/** Returns the trigger's name ("win_back"), or "?" if out of range. Static. */
const char *ks_trigger_name(ks_trigger t);

/** Returns true if a trigger last fired at last_ms (0 = never) may fire again
 *  at clock_ms: last_ms == 0 or clock_ms - last_ms >= trigger_cooldown_ms. */
bool ks_trigger_due(int64_t clock_ms, int64_t last_ms, const ks_risk_params *p);

/** first_purchase: true when the customer's all-time order count went from 0
 *  to >= 1 with this event (orders_before == 0, orders_after >= 1). */
bool ks_trigger_first_purchase(int64_t orders_before, int64_t orders_after);

/** detractor: true for an NPS survey answer that just arrived with score 0..6
 *  (the standard NPS detractor band; any other score, or -1, is false). */
bool ks_trigger_detractor(int nps_score);

/** win_back: true if the customer has been silent for >= win_back_ms
 *  (clock_ms - last_event_ms) and did not cancel (churn by inactivity still
 *  qualifies: that is who win-back campaigns are for). Fire it once per silent
 *  spell: the engine should also require last_fired_ms < last_event_ms.
 *  Pointers borrowed. */
bool ks_trigger_win_back(const ks_risk_input *in, const ks_risk_params *p);

/** upsell_candidate: not churned, orders_30d >= upsell_min_orders_30d,
 *  csat_last >= 4 and risk level low. Pointers borrowed. */
bool ks_trigger_upsell_candidate(const ks_risk_input *in, const ks_risk_params *p,
                                 ks_risk_level level);

/** high_value_at_risk: level high and clv > 0 and clv >= top_decile_clv (the
 *  90th percentile of CLV over known customers, computed by the caller). */
bool ks_trigger_high_value_at_risk(ks_risk_level level, double clv, double top_decile_clv);

/** Returns the deterministic trigger id for trigger t of a customer at at_ms:
 *  "t-" and 16 hex digits of a hash of (trigger, customer_id, at_ms); stable
 *  across runs and processes, distinct per trigger. Writes into buf (size >=
 *  19); returns buf. Borrowed: buf is the caller's. */
char *ks_trigger_id(ks_trigger t, const char *customer_id, size_t len, int64_t at_ms, char *buf,
                    size_t size);

/* Sees every risk evaluation: the customer, the inputs and the result, and
 * whether it was the daily re-scoring at a UTC day boundary (timed) or an
 * event. `kpistream risk-fit` samples the engine's own inputs through it.
 * Everything is borrowed for the call. */
typedef void (*ks_risk_tap_fn)(void *ctx, const char *id, size_t len, const ks_risk_input *in,
                               const ks_risk_result *res, bool timed);

#endif
