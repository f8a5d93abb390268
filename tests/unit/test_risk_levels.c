/* Churn-risk levels with hysteresis, the alert cooldown and ids, and the
 * marketing-trigger rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kpistream/risk.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1767225600000LL

static ks_risk_params defaults(void)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    return p;
}

Test(risk_levels, default_thresholds)
{
    ks_risk_params p = defaults();
    cr_assert_eq(p.high_enter, 70);
    cr_assert_eq(p.high_exit, 50);
    cr_assert_eq(p.medium_enter, 40);
    cr_assert_eq(p.medium_exit, 30);
    cr_assert_eq(p.alert_cooldown_ms, DAY);
    cr_assert_eq(p.trigger_cooldown_ms, DAY);
    cr_assert_eq(p.win_back_ms, 14 * DAY);
    cr_assert_eq(p.upsell_min_orders_30d, 3);
    cr_assert_eq(p.weight[KS_RISK_CANCEL], 0.0);
}

/* Feeds a score sequence through the hysteresis from low. */
static void walk(const int *scores, const ks_risk_level *want, int n)
{
    ks_risk_params p = defaults();
    ks_risk_level level = KS_RISK_LOW;
    for (int i = 0; i < n; i++) {
        ks_risk_level next = ks_risk_level_next(level, scores[i], &p);
        cr_expect_eq(next, want[i], "step %d: score %d from %s gave %s, want %s", i, scores[i],
                     ks_risk_level_name(level), ks_risk_level_name(next),
                     ks_risk_level_name(want[i]));
        level = next;
    }
}

Test(risk_levels, high_holds_until_below_exit)
{
    const int s[] = {75, 60, 55, 49, 72};
    const ks_risk_level w[] = {KS_RISK_HIGH, KS_RISK_HIGH, KS_RISK_HIGH, KS_RISK_MEDIUM,
                               KS_RISK_HIGH};
    walk(s, w, 5);
}

Test(risk_levels, high_is_entered_only_at_high_enter)
{
    const int s[] = {69, 60, 69, 70, 50, 49, 69};
    const ks_risk_level w[] = {KS_RISK_MEDIUM, KS_RISK_MEDIUM, KS_RISK_MEDIUM, KS_RISK_HIGH,
                               KS_RISK_HIGH,   KS_RISK_MEDIUM, KS_RISK_MEDIUM};
    walk(s, w, 7);
}

Test(risk_levels, medium_enter_and_exit)
{
    const int s[] = {39, 40, 35, 30, 29, 35, 0};
    const ks_risk_level w[] = {KS_RISK_LOW, KS_RISK_MEDIUM, KS_RISK_MEDIUM, KS_RISK_MEDIUM,
                               KS_RISK_LOW, KS_RISK_LOW,    KS_RISK_LOW};
    walk(s, w, 7);
}

Test(risk_levels, falling_out_of_high_lands_where_medium_would_be)
{
    /* From high, 35 is below high's exit but not below medium's exit (30). */
    const int s[] = {90, 35, 29};
    const ks_risk_level w[] = {KS_RISK_HIGH, KS_RISK_MEDIUM, KS_RISK_LOW};
    walk(s, w, 3);
    const int s2[] = {90, 29};
    const ks_risk_level w2[] = {KS_RISK_HIGH, KS_RISK_LOW};
    walk(s2, w2, 2);
}

Test(risk_levels, eval_applies_the_same_hysteresis)
{
    /* One signal worth exactly the score: payment failures, weight = score. */
    ks_risk_params p = defaults();
    for (int i = 0; i < KS_RISK__COUNT; i++)
        p.weight[i] = 0;
    ks_risk_input in;
    memset(&in, 0, sizeof in);
    in.clock_ms = T0;
    in.first_seen_ms = T0 - 10 * DAY;
    in.last_event_ms = T0;
    in.events_total = 100;
    in.nps_last = -1;
    in.payment_failures_30d = 2;
    const int s[] = {75, 60, 55, 49, 72};
    const ks_risk_level w[] = {KS_RISK_HIGH, KS_RISK_HIGH, KS_RISK_HIGH, KS_RISK_MEDIUM,
                               KS_RISK_HIGH};
    ks_risk_level level = KS_RISK_LOW;
    for (int i = 0; i < 5; i++) {
        p.weight[KS_RISK_PAYMENT_FAILURES] = s[i];
        ks_risk_result out;
        ks_risk_eval(&in, &p, level, &out);
        cr_assert_eq(out.score, s[i]);
        cr_expect_eq(out.level, w[i], "step %d", i);
        level = out.level;
    }
}

Test(risk_alerts, only_on_entering_high)
{
    ks_risk_params p = defaults();
    cr_assert(ks_risk_alert_due(KS_RISK_LOW, KS_RISK_HIGH, T0, 0, &p));
    cr_assert(ks_risk_alert_due(KS_RISK_MEDIUM, KS_RISK_HIGH, T0, 0, &p));
    cr_assert_not(ks_risk_alert_due(KS_RISK_HIGH, KS_RISK_HIGH, T0, 0, &p), "staying high");
    cr_assert_not(ks_risk_alert_due(KS_RISK_LOW, KS_RISK_MEDIUM, T0, 0, &p));
    cr_assert_not(ks_risk_alert_due(KS_RISK_HIGH, KS_RISK_MEDIUM, T0, 0, &p));
}

Test(risk_alerts, cooldown_of_24h)
{
    ks_risk_params p = defaults();
    int64_t first = T0;
    cr_assert(ks_risk_alert_due(KS_RISK_LOW, KS_RISK_HIGH, first, 0, &p));
    /* Leaves high and comes back within the day: suppressed. */
    cr_assert_not(ks_risk_alert_due(KS_RISK_MEDIUM, KS_RISK_HIGH, first + 6 * HOUR, first, &p));
    cr_assert_not(ks_risk_alert_due(KS_RISK_MEDIUM, KS_RISK_HIGH, first + DAY - 1, first, &p));
    /* 24 h later: allowed again. */
    cr_assert(ks_risk_alert_due(KS_RISK_MEDIUM, KS_RISK_HIGH, first + DAY, first, &p));
    cr_assert(ks_risk_alert_due(KS_RISK_LOW, KS_RISK_HIGH, first + 3 * DAY, first, &p));
    /* The cooldown is a parameter. */
    p.alert_cooldown_ms = HOUR;
    cr_assert(ks_risk_alert_due(KS_RISK_MEDIUM, KS_RISK_HIGH, first + HOUR, first, &p));
}

static bool is_id(const char *s, char prefix)
{
    if (strlen(s) != 18 || s[0] != prefix || s[1] != '-') return false;
    for (int i = 2; i < 18; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    }
    return true;
}

Test(risk_alerts, alert_id_is_deterministic)
{
    char a[40], b[40];
    ks_risk_alert_id("c-000042", 8, T0, a, sizeof a);
    cr_assert(is_id(a, 'a'), "format: a-<16 hex>, got %s", a);
    /* A different buffer and a copy of the id (not the same pointer) give the same id. */
    char cust[] = "c-000042";
    ks_risk_alert_id(cust, strlen(cust), T0, b, sizeof b);
    cr_assert_str_eq(a, b);
    /* The length is honoured: trailing bytes beyond len are not part of the id. */
    ks_risk_alert_id("c-000042XYZ", 8, T0, b, sizeof b);
    cr_assert_str_eq(a, b);
}

Test(risk_alerts, alert_id_differs_across_customers_and_times)
{
    enum { NC = 50, NT = 20 };
    static char ids[NC * NT][40];
    int n = 0;
    for (int c = 0; c < NC; c++) {
        char cust[16];
        snprintf(cust, sizeof cust, "c-%06d", c + 1);
        for (int t = 0; t < NT; t++)
            ks_risk_alert_id(cust, strlen(cust), T0 + t * 1000, ids[n++], sizeof ids[0]);
    }
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++)
            cr_assert_str_neq(ids[i], ids[j], "ids %d and %d collide", i, j);
    }
}

Test(risk_alerts, alert_id_fits_small_buffers)
{
    char small[8];
    memset(small, 'x', sizeof small);
    ks_risk_alert_id("c-1", 3, T0, small, sizeof small);
    cr_assert_eq(strlen(small), 7, "truncated and terminated");
}

Test(risk_triggers, cooldown)
{
    ks_risk_params p = defaults();
    cr_assert(ks_trigger_due(T0, 0, &p), "never fired");
    cr_assert_not(ks_trigger_due(T0 + DAY - 1, T0, &p));
    cr_assert(ks_trigger_due(T0 + DAY, T0, &p));
}

Test(risk_triggers, first_purchase)
{
    cr_assert(ks_trigger_first_purchase(0, 1));
    cr_assert_not(ks_trigger_first_purchase(1, 2));
    cr_assert_not(ks_trigger_first_purchase(0, 0), "a refund or other event");
}

Test(risk_triggers, detractor)
{
    for (int s = -1; s <= 10; s++)
        cr_expect_eq(ks_trigger_detractor(s), s >= 0 && s <= 6, "nps %d", s);
}

static ks_risk_input customer(int64_t silent_ms)
{
    ks_risk_input in;
    memset(&in, 0, sizeof in);
    in.clock_ms = T0;
    in.first_seen_ms = T0 - 90 * DAY;
    in.last_event_ms = T0 - silent_ms;
    in.events_total = 50;
    in.nps_last = -1;
    return in;
}

Test(risk_triggers, win_back)
{
    ks_risk_params p = defaults();
    ks_risk_input in = customer(14 * DAY - 1);
    cr_assert_not(ks_trigger_win_back(&in, &p));
    in = customer(14 * DAY);
    cr_assert(ks_trigger_win_back(&in, &p));
    in.churned = true; /* inactive churn still qualifies */
    in = customer(40 * DAY);
    in.churned = true;
    cr_assert(ks_trigger_win_back(&in, &p));
    in.cancelled = true;
    cr_assert_not(ks_trigger_win_back(&in, &p), "a cancel is not won back by this rule");
}

Test(risk_triggers, upsell_candidate)
{
    ks_risk_params p = defaults();
    ks_risk_input in = customer(HOUR);
    in.orders_30d = 3;
    in.csat_last = 4;
    cr_assert(ks_trigger_upsell_candidate(&in, &p, KS_RISK_LOW));
    cr_assert_not(ks_trigger_upsell_candidate(&in, &p, KS_RISK_MEDIUM));
    in.orders_30d = 2;
    cr_assert_not(ks_trigger_upsell_candidate(&in, &p, KS_RISK_LOW));
    in.orders_30d = 3;
    in.csat_last = 3;
    cr_assert_not(ks_trigger_upsell_candidate(&in, &p, KS_RISK_LOW));
    in.csat_last = 0; /* no survey: not known to be satisfied */
    cr_assert_not(ks_trigger_upsell_candidate(&in, &p, KS_RISK_LOW));
    in.csat_last = 5;
    in.churned = true;
    cr_assert_not(ks_trigger_upsell_candidate(&in, &p, KS_RISK_LOW));
}

Test(risk_triggers, high_value_at_risk)
{
    cr_assert(ks_trigger_high_value_at_risk(KS_RISK_HIGH, 500, 400));
    cr_assert(ks_trigger_high_value_at_risk(KS_RISK_HIGH, 400, 400));
    cr_assert_not(ks_trigger_high_value_at_risk(KS_RISK_HIGH, 399, 400));
    cr_assert_not(ks_trigger_high_value_at_risk(KS_RISK_MEDIUM, 500, 400));
    cr_assert_not(ks_trigger_high_value_at_risk(KS_RISK_HIGH, 0, 0), "no CLV yet");
}

Test(risk_triggers, ids_and_names)
{
    char a[40], b[40];
    for (int t = 0; t < KS_TRIGGER__COUNT; t++) {
        cr_assert_neq(strcmp(ks_trigger_name((ks_trigger)t), "?"), 0);
        ks_trigger_id((ks_trigger)t, "c-000001", 8, T0, a, sizeof a);
        cr_assert(is_id(a, 't'), "format: t-<16 hex>, got %s", a);
        ks_trigger_id((ks_trigger)t, "c-000001", 8, T0, b, sizeof b);
        cr_assert_str_eq(a, b, "deterministic");
        for (int u = t + 1; u < KS_TRIGGER__COUNT; u++) {
            ks_trigger_id((ks_trigger)u, "c-000001", 8, T0, b, sizeof b);
            cr_assert_str_neq(a, b, "%s and %s share an id", ks_trigger_name((ks_trigger)t),
                              ks_trigger_name((ks_trigger)u));
        }
        ks_trigger_id((ks_trigger)t, "c-000002", 8, T0, b, sizeof b);
        cr_assert_str_neq(a, b);
        ks_trigger_id((ks_trigger)t, "c-000001", 8, T0 + 1, b, sizeof b);
        cr_assert_str_neq(a, b);
    }
    ks_risk_alert_id("c-000001", 8, T0, b, sizeof b);
    ks_trigger_id(KS_TRIGGER_HIGH_VALUE_AT_RISK, "c-000001", 8, T0, a, sizeof a);
    cr_assert_str_neq(a + 2, b + 2, "alert and trigger ids come from different hashes");
    cr_assert_str_eq(ks_trigger_name(KS_TRIGGER_WIN_BACK), "win_back");
    cr_assert_str_eq(ks_trigger_name(KS_TRIGGER__COUNT), "?");
}
