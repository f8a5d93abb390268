/* Churn-risk signals one at a time: each threshold from both sides, then the
 * score (sum, rounding, cap), the reason mask, the top-reason order and churn.
 *
 * To read one signal's strength, the tests give that signal weight 100 and every
 * other weight 0, so score = round(100 x strength). Expected strengths are worked
 * out by hand from the formulas in docs/churn-risk.md. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kpistream/risk.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z; any clock works */

/* A healthy customer: active an hour ago, usual gap ~2.4 h, steady activity and
 * revenue, happy surveys, nothing open. No signal fires for it. */
static ks_risk_input healthy(void)
{
    ks_risk_input in;
    memset(&in, 0, sizeof in);
    in.clock_ms = T0;
    in.first_seen_ms = T0 - 100 * DAY;
    in.last_event_ms = T0 - HOUR;
    in.events_total = 1000;
    in.interactions_7d = 10;
    in.interactions_28d = 40;
    in.revenue_30d = 100;
    in.revenue_prev_30d = 100;
    in.csat_last = 5;
    in.nps_last = 9;
    return in;
}

static ks_risk_params only(ks_risk_reason r)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    for (int i = 0; i < KS_RISK__COUNT; i++)
        p.weight[i] = 0;
    p.weight[r] = 100;
    return p;
}

/* Strength of signal r for in, read through the score and checked against the
 * strength the result reports. */
static double strength(ks_risk_reason r, const ks_risk_input *in)
{
    ks_risk_params p = only(r);
    ks_risk_result out;
    ks_risk_eval(in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, (int)floor(100 * out.strength[r] + 0.5), "score vs strength of %s",
                 ks_risk_reason_name(r));
    cr_assert_eq(!!(out.reasons & (1u << r)), out.strength[r] > 0, "reason bit of %s",
                 ks_risk_reason_name(r));
    return out.strength[r];
}

#define EXPECT_STRENGTH(r, in, want)                                                               \
    cr_expect_float_eq(strength((r), &(in)), (want), 1e-9, "%s", #in)

Test(risk_signals, healthy_customer_has_no_signal)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_input in = healthy();
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, 0);
    cr_assert_eq(out.reasons, 0);
    cr_assert_eq(out.ntop, 0);
    cr_assert_eq(out.level, KS_RISK_LOW);
    for (int i = 0; i < KS_RISK__COUNT; i++)
        cr_expect_eq(out.strength[i], 0.0, "%s", ks_risk_reason_name(i));
}

/* Usual gap = (last - first) / (events - 1); here 11 events 1 day apart. */
static ks_risk_input silent_for(int64_t silent_ms, int64_t gap_ms, uint32_t events)
{
    ks_risk_input in = healthy();
    in.last_event_ms = T0 - silent_ms;
    in.first_seen_ms = in.last_event_ms - gap_ms * (int64_t)(events - 1);
    in.events_total = events;
    return in;
}

Test(risk_signals, recency_ramps_from_2x_to_6x_the_usual_gap)
{
    ks_risk_input a = silent_for(4 * DAY, 2 * DAY, 11);  /* 2x gap: start of the ramp */
    ks_risk_input b = silent_for(8 * DAY, 2 * DAY, 11);  /* 4x: (8-4)/(12-4) */
    ks_risk_input c = silent_for(12 * DAY, 2 * DAY, 11); /* 6x: full */
    ks_risk_input d = silent_for(40 * DAY, 2 * DAY, 11); /* beyond: capped */
    EXPECT_STRENGTH(KS_RISK_RECENCY, a, 0.0);
    EXPECT_STRENGTH(KS_RISK_RECENCY, b, 0.5);
    EXPECT_STRENGTH(KS_RISK_RECENCY, c, 1.0);
    EXPECT_STRENGTH(KS_RISK_RECENCY, d, 1.0);
}

Test(risk_signals, recency_is_silent_below_three_days)
{
    /* Usual gap 1 h: 2.9 days is 70x the gap, but under the 3-day floor. */
    ks_risk_input a = silent_for(3 * DAY - HOUR, HOUR, 500);
    ks_risk_input b = silent_for(3 * DAY, HOUR, 500);
    EXPECT_STRENGTH(KS_RISK_RECENCY, a, 0.0);
    EXPECT_STRENGTH(KS_RISK_RECENCY, b, 1.0);
    /* Gap 1 day: 3 days is past the floor and 3x the gap: (3-2)/(6-2). */
    ks_risk_input c = silent_for(3 * DAY, DAY, 11);
    EXPECT_STRENGTH(KS_RISK_RECENCY, c, 0.25);
}

Test(risk_signals, recency_uses_a_7_day_gap_below_three_events)
{
    /* Two events 1 hour apart would give a 1-hour gap; the default 7 days is used. */
    ks_risk_input a = silent_for(14 * DAY, HOUR, 2); /* 2x7d */
    ks_risk_input b = silent_for(28 * DAY, HOUR, 2); /* (28-14)/(42-14) */
    ks_risk_input c = silent_for(42 * DAY, HOUR, 1);
    EXPECT_STRENGTH(KS_RISK_RECENCY, a, 0.0);
    EXPECT_STRENGTH(KS_RISK_RECENCY, b, 0.5);
    EXPECT_STRENGTH(KS_RISK_RECENCY, c, 1.0);
    /* With three events the customer's own gap counts: 1 h, so 28 days is full. */
    ks_risk_input d = silent_for(28 * DAY, HOUR, 3);
    EXPECT_STRENGTH(KS_RISK_RECENCY, d, 1.0);
}

static ks_risk_input activity(int64_t i7, int64_t i28)
{
    ks_risk_input in = healthy();
    in.interactions_7d = i7;
    in.interactions_28d = i28;
    return in;
}

/* The documented formula, worked by hand for each case below. */
static double freq_expected(double i7, double i28)
{
    double base = (i28 - i7) / 3, drop = 1 - i7 / base, z = (base - i7) / sqrt(base);
    double conf = z <= 1 ? 0 : z >= 3 ? 1 : (z - 1) / 2;
    return drop * (0.5 + 0.5 * conf);
}

Test(risk_signals, frequency_drop_needs_a_halving)
{
    /* baseline (35-5)/3 = 10, last week 5: ratio 0.5 exactly, counts. */
    ks_risk_input a = activity(5, 35);
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, a, freq_expected(5, 35));
    cr_assert(freq_expected(5, 35) > 0.25 && freq_expected(5, 35) < 0.5);
    /* baseline (36-6)/3 = 10, last week 6: a 40 % drop does not count. */
    ks_risk_input b = activity(6, 36);
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, b, 0.0);
    /* No drop at all. */
    ks_risk_input c = activity(10, 40);
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, c, 0.0);
}

Test(risk_signals, frequency_drop_needs_a_baseline_of_one_a_week)
{
    ks_risk_input a = activity(0, 2); /* baseline 2/3 */
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, a, 0.0);
    /* baseline exactly 1, silent week: drop 1, z = 1 -> no confidence -> 0.5 */
    ks_risk_input b = activity(0, 3);
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, b, 0.5);
}

Test(risk_signals, frequency_drop_weighs_how_unlikely_the_drop_is)
{
    /* Same ratio (a 75 % drop), different evidence: 4 -> 1 is weaker than 40 -> 10. */
    ks_risk_input light = activity(1, 13);   /* baseline 4, z = 1.5 */
    ks_risk_input heavy = activity(10, 130); /* baseline 40, z = 4.7 */
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, light, 0.75 * (0.5 + 0.5 * 0.25));
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, heavy, 0.75);
    ks_risk_input gone = activity(0, 300); /* baseline 100, nothing this week */
    EXPECT_STRENGTH(KS_RISK_FREQUENCY_DROP, gone, 1.0);
}

static ks_risk_input revenue(double now, double prev)
{
    ks_risk_input in = healthy();
    in.revenue_30d = now;
    in.revenue_prev_30d = prev;
    return in;
}

Test(risk_signals, monetary_drop_from_30_percent)
{
    ks_risk_input a = revenue(75, 100); /* 25 % */
    ks_risk_input b = revenue(70, 100); /* 30 %: counts */
    ks_risk_input c = revenue(0, 100);
    ks_risk_input d = revenue(-20, 100); /* net refunds: capped */
    ks_risk_input e = revenue(0, 0);     /* nothing to drop from */
    ks_risk_input f = revenue(50, -10);  /* previous period net negative */
    ks_risk_input g = revenue(300, 100); /* growth */
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, a, 0.0);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, b, 0.3);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, c, 1.0);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, d, 1.0);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, e, 0.0);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, f, 0.0);
    EXPECT_STRENGTH(KS_RISK_MONETARY_DROP, g, 0.0);
}

Test(risk_signals, low_csat)
{
    const int score[] = {0, 1, 2, 3, 4, 5};
    const double want[] = {0, 1, 1, 0.3, 0, 0};
    for (int i = 0; i < 6; i++) {
        ks_risk_input in = healthy();
        in.csat_last = score[i];
        cr_expect_float_eq(strength(KS_RISK_LOW_CSAT, &in), want[i], 1e-9, "csat %d", score[i]);
    }
}

Test(risk_signals, nps_detractor)
{
    for (int nps = -1; nps <= 10; nps++) {
        ks_risk_input in = healthy();
        in.nps_last = nps;
        double want = nps >= 0 && nps <= 6 ? (7.0 - nps) / 7.0 : 0;
        cr_expect_float_eq(strength(KS_RISK_NPS_DETRACTOR, &in), want, 1e-9, "nps %d", nps);
    }
}

Test(risk_signals, unresolved_ticket_older_than_the_limit)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    cr_assert_eq(p.ticket_age_ms, 48 * HOUR);
    ks_risk_input in = healthy();
    in.open_tickets = 1;
    in.oldest_open_ticket_ms = T0 - 48 * HOUR; /* exactly the limit: not older */
    cr_expect_float_eq(strength(KS_RISK_UNRESOLVED_TICKETS, &in), 0.0, 1e-9);
    in.oldest_open_ticket_ms = T0 - 48 * HOUR - 1;
    cr_expect_float_eq(strength(KS_RISK_UNRESOLVED_TICKETS, &in), 1.0, 1e-9);
    in.open_tickets = 0; /* a stale timestamp with nothing open is no signal */
    cr_expect_float_eq(strength(KS_RISK_UNRESOLVED_TICKETS, &in), 0.0, 1e-9);
}

Test(risk_signals, complaints_and_payment_failures_count)
{
    const int64_t n[] = {0, 1, 2, 7};
    const double want[] = {0, 0.6, 1, 1};
    for (int i = 0; i < 4; i++) {
        ks_risk_input in = healthy();
        in.complaints_30d = n[i];
        cr_expect_float_eq(strength(KS_RISK_COMPLAINTS, &in), want[i], 1e-9, "complaints %d",
                           (int)n[i]);
        in = healthy();
        in.payment_failures_30d = n[i];
        cr_expect_float_eq(strength(KS_RISK_PAYMENT_FAILURES, &in), want[i], 1e-9,
                           "payment failures %d", (int)n[i]);
    }
}

Test(risk_signals, downgrade_within_30_days)
{
    ks_risk_input in = healthy();
    cr_expect_float_eq(strength(KS_RISK_DOWNGRADE, &in), 0.0, 1e-9, "never");
    in.last_downgrade_ms = T0 - 30 * DAY + 1;
    cr_expect_float_eq(strength(KS_RISK_DOWNGRADE, &in), 1.0, 1e-9, "29.99 days ago");
    in.last_downgrade_ms = T0 - 30 * DAY;
    cr_expect_float_eq(strength(KS_RISK_DOWNGRADE, &in), 0.0, 1e-9, "30 days ago");
}

/* Every signal at full strength. */
static ks_risk_input everything_wrong(void)
{
    ks_risk_input in = silent_for(20 * DAY, DAY, 50);
    in.interactions_7d = 0;
    in.interactions_28d = 300;
    in.revenue_30d = 0;
    in.csat_last = 1;
    in.nps_last = 0;
    in.open_tickets = 2;
    in.oldest_open_ticket_ms = T0 - 10 * DAY;
    in.complaints_30d = 3;
    in.payment_failures_30d = 2;
    in.last_downgrade_ms = T0 - DAY;
    return in;
}

Test(risk_signals, score_is_the_weighted_sum_capped_at_100)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_input in = everything_wrong();
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    double sum = 0;
    for (int i = 0; i < KS_RISK_CANCEL; i++) {
        cr_expect_float_eq(out.strength[i], 1.0, 1e-9, "%s at full strength",
                           ks_risk_reason_name(i));
        sum += p.weight[i];
    }
    cr_assert(sum > 100, "the default weights can exceed 100 together");
    cr_assert_eq(out.score, 100);
    cr_assert_eq(out.level, KS_RISK_HIGH);
    cr_assert_eq(out.reasons, (1u << KS_RISK_CANCEL) - 1, "every signal but cancel");

    /* Below the cap it is the sum: 10 x 0.3 (monetary) + 7 x 1 (csat) = 10. */
    for (int i = 0; i < KS_RISK__COUNT; i++)
        p.weight[i] = 0;
    p.weight[KS_RISK_MONETARY_DROP] = 10;
    p.weight[KS_RISK_LOW_CSAT] = 7;
    in = revenue(70, 100);
    in.csat_last = 2;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, 10);
}

Test(risk_signals, score_rounds_half_up_and_ignores_negative_weights)
{
    ks_risk_params p = only(KS_RISK_RECENCY);
    p.weight[KS_RISK_RECENCY] = 10;
    p.weight[KS_RISK_LOW_CSAT] = -50;                /* never subtracts */
    ks_risk_input in = silent_for(3 * DAY, DAY, 11); /* recency 0.25 -> 2.5 points */
    in.csat_last = 1;
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, 3);
    cr_assert_eq(out.reasons, 1u << KS_RISK_RECENCY, "a zero/negative weight contributes nothing");
    p.weight[KS_RISK_RECENCY] = 9.9; /* 2.475 */
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, 2);
}

Test(risk_signals, top_reasons_by_contribution_ties_in_code_order)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    for (int i = 0; i < KS_RISK__COUNT; i++)
        p.weight[i] = 0;
    p.weight[KS_RISK_RECENCY] = 40;          /* x 0.25 = 10 */
    p.weight[KS_RISK_LOW_CSAT] = 5;          /* x 1 = 5 */
    p.weight[KS_RISK_COMPLAINTS] = 20;       /* x 1 = 20 */
    p.weight[KS_RISK_PAYMENT_FAILURES] = 20; /* x 1 = 20: ties complaints, comes later */
    ks_risk_input in = silent_for(3 * DAY, DAY, 11);
    in.csat_last = 2;
    in.complaints_30d = 2;
    in.payment_failures_30d = 5;
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.score, 55);
    cr_assert_eq(out.ntop, 3);
    cr_assert_eq(out.top[0], KS_RISK_COMPLAINTS);
    cr_assert_eq(out.top[1], KS_RISK_PAYMENT_FAILURES);
    cr_assert_eq(out.top[2], KS_RISK_RECENCY);
    cr_assert_eq(out.reasons,
                 (1u << KS_RISK_RECENCY) | (1u << KS_RISK_LOW_CSAT) | (1u << KS_RISK_COMPLAINTS) |
                     (1u << KS_RISK_PAYMENT_FAILURES),
                 "the mask has all four, the top only three");
    char buf[64];
    cr_assert_str_eq(ks_risk_reasons_format(&out, buf, sizeof buf),
                     "complaints,payment_failures,recency");

    /* Two contributors only. */
    in.complaints_30d = 0;
    in.payment_failures_30d = 0;
    ks_risk_eval(&in, &p, KS_RISK_LOW, &out);
    cr_assert_eq(out.ntop, 2);
    cr_assert_eq(out.top[0], KS_RISK_RECENCY);
    cr_assert_eq(out.top[1], KS_RISK_LOW_CSAT);
    cr_assert_str_eq(ks_risk_reasons_format(&out, buf, sizeof buf), "recency,low_csat");
}

Test(risk_signals, reasons_format_truncates_on_whole_codes)
{
    ks_risk_result r;
    memset(&r, 0, sizeof r);
    r.ntop = 2;
    r.top[0] = KS_RISK_COMPLAINTS;
    r.top[1] = KS_RISK_FREQUENCY_DROP;
    char buf[16];
    cr_assert_str_eq(ks_risk_reasons_format(&r, buf, sizeof buf), "complaints",
                     "the second code does not fit and is left out whole");
    cr_assert_str_eq(ks_risk_reasons_format(&r, buf, 5), "");
    r.ntop = 0;
    cr_assert_str_eq(ks_risk_reasons_format(&r, buf, sizeof buf), "");
}

Test(risk_signals, cancel_is_churn_not_risk)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_input in = everything_wrong();
    in.churned = true;
    in.cancelled = true;
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_HIGH, &out);
    cr_assert_eq(out.score, 0);
    cr_assert_eq(out.level, KS_RISK_LOW, "even from high: hysteresis does not hold a churner");
    cr_assert_eq(out.reasons, 1u << KS_RISK_CANCEL);
    cr_assert_eq(out.ntop, 1);
    cr_assert_eq(out.top[0], KS_RISK_CANCEL);
    char buf[64];
    cr_assert_str_eq(ks_risk_reasons_format(&out, buf, sizeof buf), "cancel");
}

Test(risk_signals, churn_by_inactivity_scores_zero_without_reasons)
{
    ks_risk_params p;
    ks_risk_params_default(&p);
    ks_risk_input in = everything_wrong();
    in.churned = true;
    ks_risk_result out;
    ks_risk_eval(&in, &p, KS_RISK_HIGH, &out);
    cr_assert_eq(out.score, 0);
    cr_assert_eq(out.level, KS_RISK_LOW);
    cr_assert_eq(out.reasons, 0);
    cr_assert_eq(out.ntop, 0);
}

Test(risk_signals, names)
{
    for (int i = 0; i < KS_RISK__COUNT; i++) {
        const char *n = ks_risk_reason_name((ks_risk_reason)i);
        cr_assert_neq(strcmp(n, "?"), 0);
        cr_assert_eq(ks_risk_reason_from_name(n), i, "%s round-trips", n);
    }
    cr_assert_str_eq(ks_risk_reason_name(KS_RISK_UNRESOLVED_TICKETS), "unresolved_tickets");
    cr_assert_str_eq(ks_risk_reason_name(KS_RISK__COUNT), "?");
    cr_assert_eq(ks_risk_reason_from_name("recency "), -1);
    cr_assert_eq(ks_risk_reason_from_name(NULL), -1);
    cr_assert_str_eq(ks_risk_level_name(KS_RISK_LOW), "low");
    cr_assert_str_eq(ks_risk_level_name(KS_RISK_MEDIUM), "medium");
    cr_assert_str_eq(ks_risk_level_name(KS_RISK_HIGH), "high");
}
