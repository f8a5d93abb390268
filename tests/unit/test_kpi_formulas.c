/* One test per KPI formula, with the edge cases: zero denominators, a single
 * event, all detractors, refunds larger than purchases. Expected values are
 * worked out by hand. */
#include "kpistream/kpi.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const ks_kpi_params prm = {0.3, 0.01};

static ks_kpi_values run(const ks_kpi_input *in)
{
    ks_kpi_values v;
    ks_kpi_compute(in, &prm, &v);
    return v;
}

#define M(x) ((int64_t)((x) * 1e6)) /* money in micro-units */

Test(kpi, zero_denominators_make_ratios_absent_but_counts_present)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    ks_kpi_values v = run(&in);
    for (int k = 0; k < KS_KPI__COUNT; k++) {
        ks_kpi_kind kind = ks_kpi_kind_of((ks_kpi)k);
        if (kind == KS_KPI_RATIO || kind == KS_KPI_DURATION)
            cr_assert(!v.present[k], "%s should be absent", ks_kpi_name((ks_kpi)k));
        else
            cr_assert(v.present[k] && v.v[k] == 0, "%s should be 0", ks_kpi_name((ks_kpi)k));
    }
}

Test(kpi, aov_and_frequency_single_order)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_ORDERS] = 1;
    in.sum.v[KS_C_D_PURCHASING] = 1;
    in.sum.v[KS_C_M_PURCHASES] = M(19.99);
    ks_kpi_values v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_AOV], 19.99, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_PURCHASE_FREQUENCY], 1.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_REPURCHASE_RATE], 0.0, 1e-9); /* nobody with 2 purchases */
    cr_assert(v.present[KS_KPI_REPURCHASE_RATE]);
}

Test(kpi, refunds_larger_than_purchases_give_negative_revenue)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_ORDERS] = 1;
    in.sum.v[KS_C_M_PURCHASES] = M(10);
    in.sum.v[KS_C_M_REFUNDS] = M(25);
    ks_kpi_values v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_REVENUE], -15.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_REFUNDS], 25.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_AOV], 10.0, 1e-9, "aov uses purchases, not net revenue");
}

Test(kpi, csat_counts_scores_at_or_above_threshold)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_CSAT_RESPONSES] = 3;
    in.sum.v[KS_C_CSAT_SATISFIED] = 2;
    cr_assert_float_eq(run(&in).v[KS_KPI_CSAT], 200.0 / 3, 1e-9);
}

Test(kpi, nps_all_detractors_is_minus_100)
{
    double out;
    cr_assert(ks_kpi_nps(0, 4, 4, &out));
    cr_assert_float_eq(out, -100.0, 1e-9);
    cr_assert(ks_kpi_nps(3, 1, 5, &out)); /* (3-1)/5 */
    cr_assert_float_eq(out, 40.0, 1e-9);
    cr_assert(!ks_kpi_nps(0, 0, 0, &out));
}

Test(kpi, retention_and_churn_use_base_at_window_start)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.base_start = 100;                 /* S */
    in.base_end = 95;                    /* E */
    in.sum.v[KS_C_NEW_CUSTOMERS] = 5;    /* N */
    in.sum.v[KS_C_CHURNED] = 10;
    in.sum.v[KS_C_M_RETENTION] = M(450);
    ks_kpi_values v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_RETENTION_RATE], 90.0, 1e-9);  /* (95-5)/100 */
    cr_assert_float_eq(v.v[KS_KPI_CHURN_RATE], 10.0, 1e-9);      /* 10/100 */
    cr_assert_float_eq(v.v[KS_KPI_RETENTION_COST], 5.0, 1e-9);   /* 450/(100-10) */
    cr_assert_float_eq(v.v[KS_KPI_CUSTOMERS], 95.0, 1e-9);
}

Test(kpi, retention_cost_absent_when_every_starting_customer_churned)
{
    double out;
    cr_assert(!ks_kpi_retention_cost(100.0, 7, 7, &out));
}

Test(kpi, cac_conversion_complaint_engagement_upsell_cross_sell)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_M_MARKETING] = M(300);
    in.sum.v[KS_C_NEW_CUSTOMERS] = 4;
    in.sum.v[KS_C_LEADS] = 8;
    in.sum.v[KS_C_CONVERSIONS] = 2;
    in.sum.v[KS_C_D_ACTIVE] = 20;
    in.sum.v[KS_C_COMPLAINTS] = 3;
    in.sum.v[KS_C_INTERACTIONS] = 50;
    in.sum.v[KS_C_UPSELLS] = 1;
    in.sum.v[KS_C_ORDERS] = 10;
    in.sum.v[KS_C_CROSS_SELLS] = 4;
    ks_kpi_values v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_CAC], 75.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_CONVERSION_RATE], 25.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_COMPLAINT_RATE], 15.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_ENGAGEMENT], 2.5, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_UPSELL_RATE], 5.0, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_CROSS_SELL_RATE], 40.0, 1e-9);
}

Test(kpi, clv_uses_churn_floor_and_only_its_window)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_D_ACTIVE] = 10;
    in.sum.v[KS_C_M_PURCHASES] = M(1000);
    in.base_start = 200;
    in.sum.v[KS_C_CHURNED] = 10; /* churn 5% */
    ks_kpi_values v = run(&in);
    cr_assert(!v.present[KS_KPI_CLV], "clv only in the clv window");
    in.clv_window = true;
    v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_CLV], 0.3 * 100 / 0.05, 1e-9); /* margin*ARPU/churn */
    in.sum.v[KS_C_CHURNED] = 0; /* churn 0 -> floor 1% */
    v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_CLV], 0.3 * 100 / 0.01, 1e-9);
}

Test(kpi, formatting_rounds_half_away_from_zero)
{
    char buf[32];
    cr_assert_str_eq(ks_kpi_format(KS_KPI_RATIO, 1.005, buf, sizeof buf), "1.01");
    cr_assert_str_eq(ks_kpi_format(KS_KPI_RATIO, 2.675, buf, sizeof buf), "2.68");
    cr_assert_str_eq(ks_kpi_format(KS_KPI_MONEY, -0.004, buf, sizeof buf), "0.00");
    cr_assert_str_eq(ks_kpi_format(KS_KPI_MONEY, -1.005, buf, sizeof buf), "-1.01");
    cr_assert_str_eq(ks_kpi_format(KS_KPI_RATIO, 66.666666, buf, sizeof buf), "66.67");
    cr_assert_str_eq(ks_kpi_format(KS_KPI_COUNT, 42, buf, sizeof buf), "42");
    /* The printf-free path against printf itself, over a spread of values
     * (exact cents, halves, negatives, and the fallback beyond 2^53). Above
     * about 1e11 printf's "%.2f" of cents / 100 is itself off by a cent, so
     * the comparison stops there. */
    char ref[64];
    const double vals[] = {0, 0.5, 0.05, -0.05, 0.995, 1234567.891, -98765.4321, 9.9e10 + 0.375,
                           -4.2e10 - 0.625, 1e17, -1e17, 123.0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double r = round(vals[i] * 100.0 * (1.0 + 1e-12)) / 100.0;
        snprintf(ref, sizeof ref, "%.2f", r == 0 ? 0.0 : r);
        cr_assert_str_eq(ks_kpi_format(KS_KPI_MONEY, vals[i], buf, sizeof buf), ref, "%.6f", vals[i]);
        snprintf(ref, sizeof ref, "%lld", (long long)llround(vals[i]));
        cr_assert_str_eq(ks_kpi_format(KS_KPI_COUNT, vals[i], buf, sizeof buf), ref, "%.6f", vals[i]);
    }
    cr_assert_str_eq(ks_kpi_format(KS_KPI_MONEY, -0.0, buf, sizeof buf), "0.00");
}

Test(kpi, complaint_resolution_and_response_quantiles)
{
    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    in.sum.v[KS_C_COMPLAINTS] = 4;
    in.sum.v[KS_C_COMPLAINTS_RESOLVED] = 3;
    ks_kpi_values v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_COMPLAINT_RESOLUTION_RATE], 75.0, 1e-9);
    /* Response-time quantiles come from the window's DDSketch: passed through. */
    in.has_response = true;
    in.response[0] = 500;
    in.response[1] = 900;
    in.response[2] = 990;
    v = run(&in);
    cr_assert_float_eq(v.v[KS_KPI_RESPONSE_TIME_P50], 500, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_RESPONSE_TIME_P90], 900, 1e-9);
    cr_assert_float_eq(v.v[KS_KPI_RESPONSE_TIME_P99], 990, 1e-9);
    in.has_response = false;
    cr_assert(!run(&in).present[KS_KPI_RESPONSE_TIME_P50]);
}

/* Contract 5: money (and every ratio of integers) rounds half away from zero
 * on the exact decimal value, never on a binary approximation of it. */
Test(kpi, exact_decimal_rounding)
{
    cr_assert_eq(ks_kpi_hundredths(1005000, 1000000), 101, "1.005 -> 1.01");
    cr_assert_eq(ks_kpi_hundredths(-1005000, 1000000), -101);
    cr_assert_eq(ks_kpi_hundredths(1004999, 1000000), 100);
    cr_assert_eq(ks_kpi_hundredths(100, 32), 313, "100/32 % = 3.125 -> 3.13");
    cr_assert_eq(ks_kpi_hundredths(1, 3), 33);
    cr_assert_eq(ks_kpi_hundredths(2, 3), 67);
    cr_assert_eq(ks_kpi_hundredths(-2, 3), -67);
    cr_assert_eq(ks_kpi_hundredths(5, -2), -250);
    cr_assert_eq(ks_kpi_hundredths(INT64_MAX, 1), INT64_MAX, "saturates");

    ks_kpi_input in;
    memset(&in, 0, sizeof in);
    /* Three orders of 0.335 each: aov 0.335 exactly, which a double holds
     * as 0.33499999...; refunds of 1.005. */
    in.sum.v[KS_C_ORDERS] = 3;
    in.sum.v[KS_C_D_PURCHASING] = 1;
    in.sum.v[KS_C_M_PURCHASES] = 1005000;
    in.sum.v[KS_C_M_REFUNDS] = 1005000;
    in.sum.v[KS_C_CSAT_RESPONSES] = 32;
    in.sum.v[KS_C_CSAT_SATISFIED] = 1;
    ks_kpi_params p2 = {0.3, 0.01};
    ks_kpi_values v;
    ks_kpi_compute(&in, &p2, &v);
    char buf[32];
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_AOV, buf, sizeof buf), "0.34");
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_REFUNDS, buf, sizeof buf), "1.01");
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_REVENUE, buf, sizeof buf), "0.00");
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_CSAT, buf, sizeof buf), "3.13");
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_PURCHASE_FREQUENCY, buf, sizeof buf), "3.00");
    cr_assert_str_eq(ks_kpi_format_value(&v, KS_KPI_ORDERS, buf, sizeof buf), "3");
}

/* clv exact to the cent (contract 5): 0.3 x 0.0335 / 0.01 is 1.005 exactly,
 * which binary floating point computes as 1.00499999... */
Test(kpi, clv_rounds_exact_half_cents_up)
{
    ks_kpi_params p3 = {0.3, 0.01};
    int64_t h = 0;
    /* Per customer: risk 1 / 100 = min_churn 0.01. */
    cr_assert(ks_kpi_customer_clv_hundredths(33500, 1, &p3, &h));
    cr_expect_eq(h, 101, "customer clv 1.005 -> %lld hundredths", (long long)h);
    cr_assert(ks_kpi_customer_clv_hundredths(-33500, 0, &p3, &h));
    cr_expect_eq(h, -101, "negative revenue rounds away from zero: %lld", (long long)h);
    /* Risk 40 beats the floor: 0.3 x 120.00 / 0.40 = 90.00. */
    cr_assert(ks_kpi_customer_clv_hundredths(120000000, 40, &p3, &h));
    cr_expect_eq(h, 9000);
    /* Group: revenue 0.0335 over 1 active customer, no churn: the floor. */
    cr_assert(ks_kpi_clv_hundredths(33500, 1, 0, 10, true, &p3, &h));
    cr_expect_eq(h, 101);
    /* churn 1 / 3 above the floor: 0.3 x 1.00 / (1/3) = 0.90. */
    cr_assert(ks_kpi_clv_hundredths(1000000, 1, 1, 3, true, &p3, &h));
    cr_expect_eq(h, 90);
    /* 0.3 x (10.00 / 4) / (3 / 7) = 1.75. */
    cr_assert(ks_kpi_clv_hundredths(10000000, 4, 3, 7, true, &p3, &h));
    cr_expect_eq(h, 175);
    /* Undefined without active customers, or with neither churn nor a floor. */
    cr_expect_not(ks_kpi_clv_hundredths(1000000, 0, 1, 3, true, &p3, &h));
    ks_kpi_params nofloor = {0.3, 0};
    cr_expect_not(ks_kpi_clv_hundredths(1000000, 1, 0, 3, true, &nofloor, &h));
    cr_expect_not(ks_kpi_customer_clv_hundredths(1000000, 0, &nofloor, &h));
}
