/* The churn-risk keys (src/risk/; docs/churn-risk.md). Spelt flat here
 * ("risk.weights.recency") and nested in the file ({"risk": {"weights":
 * {"recency": 20}}}): load.c flattens the "risk" object and json.c nests it
 * again. The defaults are ks_risk_params_default()'s; test_config_risk checks
 * that the two agree. */
#include "config/internal.h"

#define KS__WEIGHT(sig, code, d, text)                                                             \
    {.name = "risk.weights." sig, .kind = KS__K_WEIGHT, .off = KS__OFF(risk.weight[code]),        \
     .dmin = 0.0, .dmax = 100.0, .def = d, .doc = text}

/* One weight per scored signal; cancel is churn, not a signal, so it has no weight. */
static const ks__key ks__keys[] = {
    KS__WEIGHT("recency", KS_RISK_RECENCY, "20",
               "Points at full strength of each signal ([churn-risk.md](churn-risk.md#signals)); "
               "0 switches a signal off. There is no weight for `cancel`: a cancel is churn, not "
               "risk. `recency`: silence against the customer's usual gap between events."),
    KS__WEIGHT("frequency_drop", KS_RISK_FREQUENCY_DROP, "45",
               "Interactions of the last 7 days at most half the weekly rate of the three weeks "
               "before."),
    KS__WEIGHT("monetary_drop", KS_RISK_MONETARY_DROP, "15",
               "Net revenue of the last 30 days at least 30 % below the 30 days before."),
    KS__WEIGHT("low_csat", KS_RISK_LOW_CSAT, "15", "The last CSAT score is 1, 2 (or 3: 0.3)."),
    KS__WEIGHT("nps_detractor", KS_RISK_NPS_DETRACTOR, "25", "The last NPS score is 0–6."),
    KS__WEIGHT("unresolved_tickets", KS_RISK_UNRESOLVED_TICKETS, "5",
               "An open ticket older than `risk.ticket_age`."),
    KS__WEIGHT("complaints", KS_RISK_COMPLAINTS, "10",
               "Complaints opened in the last 30 days (full strength at 2)."),
    KS__WEIGHT("payment_failures", KS_RISK_PAYMENT_FAILURES, "15",
               "`payment_failed` events in the last 30 days (full strength at 2)."),
    KS__WEIGHT("downgrade", KS_RISK_DOWNGRADE, "10",
               "A subscription `downgrade` less than 30 days ago."),
    {.name = "risk.high_enter", .kind = KS__K_INT, .off = KS__OFF(risk.high_enter), .min = 1,
     .max = 100, .def = "70", .doc = "A customer enters `high` at a score ≥ this..."},
    {.name = "risk.high_exit", .kind = KS__K_INT, .off = KS__OFF(risk.high_exit), .min = 0,
     .max = 100, .def = "50", .doc = "...and leaves it only below this."},
    {.name = "risk.medium_enter", .kind = KS__K_INT, .off = KS__OFF(risk.medium_enter), .min = 1,
     .max = 100, .def = "40", .doc = "Enters `medium` at a score ≥ this (from `low`)..."},
    {.name = "risk.medium_exit", .kind = KS__K_INT, .off = KS__OFF(risk.medium_exit), .min = 0,
     .max = 100, .def = "30", .doc = "...and drops to `low` only below this."},
    {.name = "risk.ticket_age", .alias = "risk.ticket_age_ms", .kind = KS__K_DUR,
     .off = KS__OFF(risk.ticket_age_ms), .min = KS__MS_MIN, .max = 365 * KS__MS_DAY,
     .def = "48h",
     .doc = "An open ticket older than this is the `unresolved_tickets` signal."},
    {.name = "risk.alert_cooldown", .alias = "risk.alert_cooldown_ms", .kind = KS__K_DUR,
     .off = KS__OFF(risk.alert_cooldown_ms), .min = 0, .max = 365 * KS__MS_DAY, .def = "24h",
     .doc = "At most one churn alert per customer within this. `0`: every entry into `high` "
            "alerts."},
    {.name = "risk.trigger_cooldown", .alias = "risk.trigger_cooldown_ms", .kind = KS__K_DUR,
     .off = KS__OFF(risk.trigger_cooldown_ms), .min = 0, .max = 365 * KS__MS_DAY, .def = "24h",
     .doc = "At most one trigger of each kind per customer within this."},
    {.name = "risk.win_back", .alias = "risk.win_back_ms", .kind = KS__K_DUR,
     .off = KS__OFF(risk.win_back_ms), .min = KS__MS_MIN, .max = 3650 * KS__MS_DAY,
     .def = "14d", .doc = "`win_back` fires after this long without an event."},
    {.name = "risk.upsell_min_orders_30d", .kind = KS__K_INT,
     .off = KS__OFF(risk.upsell_min_orders_30d), .min = 1, .max = 100000, .def = "3",
     .doc = "`upsell_candidate` needs at least this many orders in 30 days."},
    {.name = "risk.model", .kind = KS__K_MODEL_FILE, .off = KS__OFF(risk_model_path),
     .def = NULL,
     .doc = "A churn model fitted by `kpistream risk-fit` "
            "([churn-risk.md](churn-risk.md#fitted-model-kpistream-risk-fit)). When set, the "
            "score is the model's calibrated probability (0–100) of churning within its "
            "horizon, the levels use the **model's** thresholds (`thresholds` in the file; "
            "`risk.weights.*` and `risk.high_enter` … `risk.medium_exit` are then not used), "
            "and reasons are the reason codes its features push up most. The file is read when "
            "the key is set, so `check-config` and `run` refuse a missing or malformed model at "
            "start-up with exit 1, naming the field (`risk.model: m.json: features[9].name: "
            "unknown feature \"silent_dayz\" ...`). A relative path is relative to the working "
            "directory. `null` or `\"\"`: the hand weights."},
};

KS__MODULE(risk, ks__keys, "risk", "[Churn risk](#churn-risk)",
           "Churn-risk weights, level thresholds, cooldowns and trigger settings.");
