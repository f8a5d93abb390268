/* Per-customer rolling fields through the real partition state
 * (ks_pstate_new / apply / advance): the window rule of window.h with
 * buckets of W/60 (7d: 10080 s, 28d: 40320 s, 30d: 43200 s), exact.
 *
 * Events are built as ks_event_parse() leaves them (this module does not
 * link the parser). Expected values are worked out by hand in the comments;
 * one test compares random streams with a brute-force count of the rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/engine.h"
#include "state/state.h"
#include "state_config.h"
#include "xorshift.h"

#define SEC 1000LL
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
/* 2026-01-01T00:00:00Z, a Thursday: a multiple of 7 days since the epoch,
 * which is the least common multiple of 10080, 40320 and 43200 s, so every
 * per-customer bucket width has an edge here. */
#define T0 1767225600000LL
#define B7 10080LL
#define B28 40320LL
#define B30 43200LL

static ks_config cfg;
static ks_engine_shared sh;
static ks_pstate *st;
static char ids[64][32];
static int nids;

static void setup(void)
{
    kst_state_config(&cfg);
    memset(&sh, 0, sizeof sh);
    sh.cfg = &cfg;
    sh.social_channel = -1;
    ks_intern_init(&sh.segments, cfg.max_segments);
    ks_intern_init(&sh.channels, cfg.max_channels);
    ks_intern_init(&sh.categories, KS_CATEGORIES_MAX);
    st = ks_pstate_new(&sh);
    cr_assert_not_null(st);
    nids = 0;
}

static void teardown(void)
{
    ks_pstate_free(st);
}

TestSuite(rolling, .init = setup, .fini = teardown);

static ks_str str(const char *s)
{
    return (ks_str){s, (uint32_t)strlen(s)};
}

/* An accepted event of customer `cust` at ts_ms, as the parser fills it. */
static ks_event event(ks_event_type type, const char *cust, int64_t ts_ms)
{
    ks_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts_ms = ts_ms;
    snprintf(ids[nids % 64], sizeof ids[0], "e%d", nids);
    ev.event_id = str(ids[nids % 64]);
    nids++;
    ev.customer_id = str(cust);
    return ev;
}

static void apply(ks_event ev)
{
    cr_assert_eq(ks_pstate_apply(st, &ev), 0);
}

static void interaction(const char *cust, int64_t ts)
{
    apply(event(KS_EV_INTERACTION, cust, ts));
}

static void purchase(const char *cust, int64_t ts, double amount)
{
    ks_event ev = event(KS_EV_PURCHASE, cust, ts);
    ev.order_id = str("o");
    ev.amount = amount;
    ev.amount_micro = (int64_t)(amount * 1e6 + (amount < 0 ? -0.5 : 0.5)); /* the parser's value */
    ev.has_amount = true;
    apply(ev);
}

static void refund(const char *cust, int64_t ts, double amount)
{
    ks_event ev = event(KS_EV_REFUND, cust, ts);
    ev.amount = amount;
    ev.amount_micro = (int64_t)(amount * 1e6 + (amount < 0 ? -0.5 : 0.5)); /* the parser's value */
    ev.has_amount = true;
    apply(ev);
}

static void complaint(const char *cust, int64_t ts, const char *ticket)
{
    ks_event ev = event(KS_EV_TICKET, cust, ts);
    ev.ticket_id = str(ticket);
    ev.action = KS_ACT_TICKET_OPENED;
    ev.complaint = true;
    apply(ev);
}

static void payment_failed(const char *cust, int64_t ts)
{
    apply(event(KS_EV_PAYMENT_FAILED, cust, ts));
}

static ks_customer_rolling at(const char *cust, int64_t clock_ms)
{
    ks_customer *c = ks_pstate_find(st, cust, (uint32_t)strlen(cust));
    cr_assert_not_null(c, "customer %s", cust);
    ks_customer_rolling r;
    ks_customer_rolling_at(st, c, clock_ms, &r);
    return r;
}

static ks_customer_rolling as_of(const char *cust, int64_t at_ms)
{
    ks_customer *c = ks_pstate_find(st, cust, (uint32_t)strlen(cust));
    cr_assert_not_null(c, "customer %s", cust);
    ks_customer_rolling r;
    ks_customer_rolling_as_of(st, c, at_ms, &r);
    return r;
}

#define EXPECT_ROLL(r, o30, rev30, i7, i28, c30, pf30)                                             \
    do {                                                                                           \
        cr_expect_eq((r).orders_30d, (o30), "orders_30d %lld", (long long)(r).orders_30d);         \
        cr_expect_eq((r).revenue_30d_micro, (rev30), "revenue_30d %lld micro",                     \
                     (long long)(r).revenue_30d_micro);                                            \
        cr_expect_eq((r).interactions_7d, (i7), "interactions_7d %lld",                            \
                     (long long)(r).interactions_7d);                                              \
        cr_expect_eq((r).interactions_28d, (i28), "interactions_28d %lld",                         \
                     (long long)(r).interactions_28d);                                             \
        cr_expect_eq((r).complaints_30d, (c30), "complaints_30d %lld",                             \
                     (long long)(r).complaints_30d);                                               \
        cr_expect_eq((r).payment_failures_30d, (pf30), "payment_failures_30d %lld",                \
                     (long long)(r).payment_failures_30d);                                         \
    } while (0)

/* The clock: 63 days (9 weeks) after T0, again an edge of every width. */
#define C (T0 + 63 * DAY)

/* Day d before C (d = 1..60) starts at C - d days. Every day at 01:00 one
 * interaction and one purchase of 0.10; on days 3 and 20 a complaint at
 * 05:00, on days 10 and 40 a failed payment at 05:00. */
static void daily_customer(const char *cust, bool reverse)
{
    for (int k = 1; k <= 60; k++) {
        int d = reverse ? 61 - k : k;
        int64_t day = C - d * DAY;
        interaction(cust, day + HOUR);
        purchase(cust, day + HOUR, 0.10);
        if (d == 3 || d == 20) {
            char t[32];
            snprintf(t, sizeof t, "%s-t%d", cust, d); /* ticket ids are per partition */
            complaint(cust, day + 5 * HOUR, t);
        }
        if (d == 10 || d == 40) payment_failed(cust, day + 5 * HOUR);
    }
}

Test(rolling, daily_customer_at_a_bucket_edge_and_one_second_after)
{
    daily_customer("daily", false);
    ks_pstate_advance(st, C);
    /* At C (an edge of every width) window W holds buckets
     * (C/b - 60, C/b], i.e. event times [C - W + b, C + b): the bucket that
     * starts at C - W is out, the one starting at C in.
     *  7d, b = 2 h 48 min: days 1..6 at 01:00; day 7's 01:00 is in the
     *      bucket [C - 7d, C - 7d + 2h48) -> 6.
     *  28d, b = 11 h 12 min: days 1..27; day 28 at 01:00 is out -> 27.
     *  30d, b = 12 h: days 1..29 -> 29 orders, 2.90; complaints of days 3
     *      and 20 -> 2; failed payments: day 10 (day 40 is out) -> 1.
     *  30 days before: buckets (C/b - 120, C/b - 60], times
     *      [C - 60d + 12h, C - 30d + 12h): days 30..59 -> 30 x 0.10 = 3.00. */
    ks_customer_rolling r = at("daily", C);
    EXPECT_ROLL(r, 29, 2900000, 6, 27, 2, 1);
    cr_expect_eq(r.revenue_prev_30d_micro, 3000000);
    cr_expect_float_eq(r.revenue_30d, 2.9, 1e-12);
    /* One second later the clock is in the same buckets: the same values. */
    ks_pstate_advance(st, C + SEC);
    r = at("daily", C + SEC);
    EXPECT_ROLL(r, 29, 2900000, 6, 27, 2, 1);
    cr_expect_eq(r.revenue_prev_30d_micro, 3000000);
    /* Nothing is after the clock, so as_of agrees. */
    r = as_of("daily", C + SEC);
    EXPECT_ROLL(r, 29, 2900000, 6, 27, 2, 1);
}

Test(rolling, one_second_before_the_edge_holds_the_older_buckets)
{
    daily_customer("daily", false);
    ks_pstate_advance(st, C - SEC);
    /* At C - 1 s the windows are one bucket earlier: [C - W, C).
     *  7d: days 1..7 -> 7; 28d: days 1..28 -> 28; 30d: days 1..30 -> 30
     *  orders, 3.00, complaints 2, failed payments 1 (day 10).
     *  30 days before: [C - 60d, C - 30d): days 31..60 -> 3.00. */
    ks_customer_rolling r = at("daily", C - SEC);
    EXPECT_ROLL(r, 30, 3000000, 7, 28, 2, 1);
    cr_expect_eq(r.revenue_prev_30d_micro, 3000000);
}

Test(rolling, events_out_of_order_give_the_same_values)
{
    daily_customer("fwd", false);
    daily_customer("rev", true);
    ks_pstate_advance(st, C);
    int64_t clocks[] = {C - SEC,
                        C,
                        C + SEC,
                        C + 5 * HOUR,
                        C + 11 * HOUR + 12 * 60 * SEC,
                        C + 22 * HOUR + 24 * 60 * SEC};
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        ks_customer_rolling a = at("fwd", clocks[i]), b = at("rev", clocks[i]);
        cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "clock %zu", i);
    }
    /* 22 h 24 min after C (2 buckets of 28d, 8 of 7d) the 28d window starts
     * at C - 28d + 3 x 11h12 = C - 27d + 9h36: day 27's 01:00 is out -> 26;
     * the 7d window at C - 7d + 9 x 2h48 = C - 6d + 1h12: day 6's 01:00 is
     * out -> 5. */
    ks_customer_rolling r = at("rev", C + 22 * HOUR + 24 * 60 * SEC);
    cr_expect_eq(r.interactions_28d, 26);
    cr_expect_eq(r.interactions_7d, 5);
    r = at("rev", C + 11 * HOUR + 12 * 60 * SEC); /* one 28d bucket: day 27 still in */
    cr_expect_eq(r.interactions_28d, 27);
}

Test(rolling, future_events_count_at_the_clock_but_not_as_of_it)
{
    daily_customer("daily", false);
    ks_pstate_advance(st, C);
    /* 3 h after C: the next 7d bucket (C + 2h48 .. C + 5h36), still the
     * current 28d and 30d buckets. */
    interaction("daily", C + 3 * HOUR);
    ks_customer_rolling r = at("daily", C);
    cr_expect_eq(r.interactions_7d, 7);
    cr_expect_eq(r.interactions_28d, 28);
    r = as_of("daily", C);
    cr_expect_eq(r.interactions_7d, 6);
    cr_expect_eq(r.interactions_28d, 28);
}

Test(rolling, refunds_net_and_money_is_exact)
{
    /* 0.1 + 0.2 is 0.30000000000000004 in binary; in micro-units it is
     * 300000 exactly. Ten purchases of 0.01 make 0.10, and a refund in
     * another bucket takes 0.05 off; a refund alone goes negative. */
    int64_t t = C - 2 * DAY;
    purchase("m", t, 0.1);
    purchase("m", t + 1 * SEC, 0.2);
    for (int i = 0; i < 10; i++)
        purchase("m", t + HOUR + i * SEC, 0.01);
    refund("m", t + 13 * HOUR, 0.05);
    refund("neg", t, 5.5);
    purchase("zero", t, 19.99);
    refund("zero", t + SEC, 19.99);
    ks_pstate_advance(st, C);
    ks_customer_rolling r = at("m", C);
    cr_expect_eq(r.orders_30d, 12);
    cr_expect_eq(r.revenue_30d_micro, 100000 + 200000 + 100000 - 50000);
    cr_expect(r.revenue_30d == 0.35, "revenue %.17g", r.revenue_30d);
    r = at("neg", C);
    cr_expect_eq(r.orders_30d, 0);
    cr_expect_eq(r.revenue_30d_micro, -5500000);
    r = at("zero", C);
    cr_expect_eq(r.orders_30d, 1);
    cr_expect_eq(r.revenue_30d_micro, 0);
    /* Amounts that are not whole cents keep every micro-unit. */
    purchase("odd", t, 0.000001);
    purchase("odd", t, 123456.789012);
    purchase("odd", t, 1e9);
    r = at("odd", C);
    cr_expect_eq(r.revenue_30d_micro, 1 + 123456789012LL + 1000000000000000LL);
}

Test(rolling, counts_do_not_saturate)
{
    /* The old day slots saturated at 255 orders, 15 complaints, 15 failed
     * payments, 65535 interactions per slot. */
    int64_t t = C - DAY;
    for (int i = 0; i < 70000; i++)
        interaction("busy", t + (i % 3600) * SEC);
    for (int i = 0; i < 300; i++)
        purchase("busy", t + i * SEC, 1.0);
    for (int i = 0; i < 20; i++) {
        char tk[16];
        snprintf(tk, sizeof tk, "b%d", i);
        complaint("busy", t + i * SEC, tk);
        payment_failed("busy", t + i * SEC);
    }
    ks_pstate_advance(st, C);
    EXPECT_ROLL(at("busy", C), 300, 300000000, 70000, 70000, 20, 20);
}

/* Whether customer cust is marked dirty. */
static bool dirty(const char *cust)
{
    ks_customer *c = ks_pstate_find(st, cust, (uint32_t)strlen(cust));
    return (c->flags & KS_CUST_DIRTY) != 0;
}

/* Only the rolling buckets may mark customers dirty as the clock moves: no
 * risk score changes (weights 0), no inactivity churn within the test. */
static void quiet_clock(void)
{
    for (int i = 0; i < KS_RISK__COUNT; i++)
        cfg.risk.weight[i] = 0;
    cfg.churn_inactivity_ms = 365 * DAY;
}

Test(rolling, a_customer_is_dirty_when_a_bucket_leaves_a_window)
{
    quiet_clock();
    /* One interaction and one purchase at t = C + 14h: the 7d bucket
     * [C + 14h, C + 16h48) leaves at C + 7d + 14h, the 28d bucket
     * [C + 11h12, C + 22h24) at C + 28d + 11h12, the 30d bucket
     * [C + 12h, C + 24h) at C + 30d + 12h. */
    int64_t t = C + 14 * HOUR;
    interaction("x", t);
    purchase("x", t, 10.0);
    int64_t moments[] = {C + 7 * DAY + 14 * HOUR, C + 28 * DAY + 11 * HOUR + 12 * 60 * SEC,
                         C + 30 * DAY + 12 * HOUR};
    int64_t t_s = t / SEC;
    cr_assert_eq(moments[0], (t_s / B7 + 60) * B7 * SEC);
    cr_assert_eq(moments[1], (t_s / B28 + 60) * B28 * SEC);
    cr_assert_eq(moments[2], (t_s / B30 + 60) * B30 * SEC);
    int64_t before[3][3] = {{1, 1, 1}, {0, 1, 1}, {0, 0, 1}}; /* i7, i28, orders_30d */
    for (int i = 0; i < 3; i++) {
        ks_pstate_advance(st, moments[i] - HOUR);
        ks_pstate_clear_dirty(st);
        /* An hour of clock that moves no bucket out: not dirty. */
        ks_pstate_advance(st, moments[i] - SEC);
        cr_expect_not(dirty("x"), "nothing left before moment %d", i);
        ks_customer_rolling r = at("x", moments[i] - SEC);
        cr_expect_eq(r.interactions_7d, before[i][0]);
        cr_expect_eq(r.interactions_28d, before[i][1]);
        cr_expect_eq(r.orders_30d, before[i][2]);
        ks_pstate_advance(st, moments[i]);
        cr_expect(dirty("x"), "a bucket left at moment %d", i);
    }
    EXPECT_ROLL(at("x", moments[2]), 0, 0, 0, 0, 0, 0);
    /* Everything has left: the clock never marks it again. */
    ks_pstate_clear_dirty(st);
    for (int h = 1; h <= 48; h++) {
        ks_pstate_advance(st, moments[2] + h * HOUR);
        cr_expect_not(dirty("x"), "hour %d after the last bucket left", h);
    }
}

Test(rolling, a_jump_of_the_clock_over_several_edges_marks_the_customer)
{
    quiet_clock();
    interaction("j", C + HOUR);     /* leaves 7d at C + 7d, 28d at C + 28d */
    interaction("k", C + 25 * DAY); /* ahead of the clock; leaves 7d at C + 32d */
    ks_pstate_advance(st, C + 2 * HOUR);
    ks_pstate_clear_dirty(st);
    ks_pstate_advance(st, C + 29 * DAY);
    cr_expect(dirty("j"));
    cr_expect_not(dirty("k"));
    cr_expect_eq(at("j", C + 29 * DAY).interactions_28d, 0);
    cr_expect_eq(at("k", C + 29 * DAY).interactions_28d, 1);
}

Test(rolling, silent_customers_lists_are_freed)
{
    daily_customer("daily", false);
    ks_pstate_advance(st, C);
    size_t used = st->roll.used;
    cr_assert_gt(used, 0);
    /* 60 days + the largest window (30d) + slack after the last event no
     * value can reach the lists any more. */
    for (int d = 1; d <= 100; d++)
        ks_pstate_advance(st, C + d * DAY);
    ks_customer *c = ks_pstate_find(st, "daily", 5);
    cr_expect_eq(c->roll_len, 0);
    cr_expect_eq(st->roll.used, 0);
    EXPECT_ROLL(at("daily", C + 100 * DAY), 0, 0, 0, 0, 0, 0);
}

/* --- random streams against a brute-force count of the rule --- */

typedef struct ref_ev {
    int type; /* 0 interaction, 1 purchase, 2 refund, 3 complaint, 4 payment failure */
    int64_t ts_ms, micro;
} ref_ev;

static int64_t fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Bucket n of width b is in the window at clock c (future ones too unless as_of). */
static bool in_win(int64_t t_ms, int64_t c_ms, int64_t b, bool as_of, int lo, int hi)
{
    int64_t n = fdiv(t_ms / SEC, b), nc = fdiv(c_ms / SEC, b);
    if (n <= nc - lo) return false;
    return hi == 0 ? (!as_of || n <= nc) : n <= nc - hi;
}

static ks_customer_rolling brute(const ref_ev *e, int n, int64_t c, bool as_of)
{
    ks_customer_rolling r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        bool w30 = in_win(e[i].ts_ms, c, B30, as_of, 60, 0);
        switch (e[i].type) {
        case 0:
            r.interactions_7d += in_win(e[i].ts_ms, c, B7, as_of, 60, 0);
            r.interactions_28d += in_win(e[i].ts_ms, c, B28, as_of, 60, 0);
            break;
        case 1:
        case 2: {
            int64_t v = e[i].type == 1 ? e[i].micro : -e[i].micro;
            r.orders_30d += e[i].type == 1 && w30;
            if (w30) r.revenue_30d_micro += v;
            if (in_win(e[i].ts_ms, c, B30, as_of, 120, 60)) r.revenue_prev_30d_micro += v;
            break;
        }
        case 3:
            r.complaints_30d += w30;
            break;
        case 4:
            r.payment_failures_30d += w30;
            break;
        }
    }
    return r;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    return kst_xorshift(&rng);
}

/* The first clock of the random streams: a minute before a 40320 s edge. */
#define FIRST (C + (B28 - 60) * SEC)

Test(rolling, random_streams_match_the_window_rule)
{
    enum { CUST = 40, PER = 300 };
    static ref_ev evs[CUST][PER];
    int tickets = 0;
    for (int k = 0; k < CUST; k++) {
        /* Customers spread their events over 10..90 days up to C; some in
         * bursts (many events in few buckets), most out of order. */
        int64_t span = (10 + (int64_t)(next_rand() % 81)) * DAY;
        int64_t burst = (k % 4 == 0) ? 3 * HOUR : span;
        /* Some run ahead of the first clock, up to KS_ENGINE_ALIGN_MS: the
         * engine reads a partition that far ahead of the watermark, and the
         * lists must still hold what the clock behind can ask for. The
         * first clock is late in its 40320 s bucket, so that span reaches
         * two buckets on. */
        int64_t ahead = k % 5 == 1 ? HOUR : k % 5 == 3 ? FIRST - C + KS_ENGINE_ALIGN_MS : 0;
        int64_t base = C - span + ahead;
        for (int i = 0; i < PER; i++) {
            ref_ev *e = &evs[k][i];
            e->type = (int)(next_rand() % 5);
            int64_t off = (int64_t)(next_rand() % (uint64_t)span);
            if (k % 4 == 0) off = (off / burst) * burst + (int64_t)(next_rand() % 60) * SEC;
            e->ts_ms = base + off;
            e->micro = e->type == 1 || e->type == 2 ? 1 + (int64_t)(next_rand() % 100000000) : 0;
        }
        if (k % 5 == 3) /* the span's whole way ahead, not short of it by chance */
            evs[k][PER - 1].ts_ms = base + span - SEC;
    }
    /* Interleave customers; apply in the arrays' (random) order. */
    for (int i = 0; i < PER; i++)
        for (int k = 0; k < CUST; k++) {
            char cust[16];
            snprintf(cust, sizeof cust, "r%d", k);
            const ref_ev *e = &evs[k][i];
            ks_event ev;
            switch (e->type) {
            case 0:
                interaction(cust, e->ts_ms);
                break;
            case 1:
            case 2:
                ev = event(e->type == 1 ? KS_EV_PURCHASE : KS_EV_REFUND, cust, e->ts_ms);
                ev.order_id = str("o");
                ev.amount = (double)e->micro / 1e6;
                ev.amount_micro = e->micro;
                ev.has_amount = true;
                apply(ev);
                break;
            case 3: {
                char tk[16];
                snprintf(tk, sizeof tk, "k%d", tickets++);
                complaint(cust, e->ts_ms, tk);
                break;
            }
            case 4:
                payment_failed(cust, e->ts_ms);
                break;
            }
        }
    /* Clocks from FIRST on, increasing: every edge of each width for 70 days,
     * one second either side, and odd moments in between. */
    enum { MAXCLOCKS = 4096 };
    static int64_t clocks[MAXCLOCKS];
    int nclocks = 0;
    int64_t base_s = C / SEC, widths[] = {B7, B28, B30};
    for (int w = 0; w < 3; w++)
        for (int64_t e = base_s; e <= base_s + 70 * 86400; e += widths[w])
            for (int d = -1; d <= 1 && nclocks < MAXCLOCKS; d++)
                clocks[nclocks++] = e + d;
    if (nclocks < MAXCLOCKS)
        clocks[nclocks++] = FIRST / SEC;
    for (int i = 0; i < 200 && nclocks < MAXCLOCKS; i++)
        clocks[nclocks++] = base_s + (int64_t)(next_rand() % (70 * 86400));
    qsort(clocks, (size_t)nclocks, sizeof clocks[0], cmp_i64);
    for (int step = 0; step < nclocks; step++) {
        int64_t c_s = clocks[step];
        if (c_s < FIRST / SEC || (step && c_s == clocks[step - 1])) continue;
        int64_t c = c_s * SEC;
        ks_pstate_advance(st, c);
        for (int k = 0; k < CUST; k++) {
            char cust[16];
            snprintf(cust, sizeof cust, "r%d", k);
            for (int as = 0; as < 2; as++) {
                ks_customer_rolling got = as ? as_of(cust, c) : at(cust, c);
                ks_customer_rolling want = brute(evs[k], PER, c, as);
                cr_assert(got.orders_30d == want.orders_30d &&
                              got.revenue_30d_micro == want.revenue_30d_micro &&
                              got.revenue_prev_30d_micro == want.revenue_prev_30d_micro &&
                              got.interactions_7d == want.interactions_7d &&
                              got.interactions_28d == want.interactions_28d &&
                              got.complaints_30d == want.complaints_30d &&
                              got.payment_failures_30d == want.payment_failures_30d,
                          "customer %d clock %lld as_of %d: got o%lld r%lld p%lld i%lld/%lld c%lld "
                          "f%lld, want o%lld r%lld p%lld i%lld/%lld c%lld f%lld",
                          k, (long long)c_s, as, (long long)got.orders_30d,
                          (long long)got.revenue_30d_micro, (long long)got.revenue_prev_30d_micro,
                          (long long)got.interactions_7d, (long long)got.interactions_28d,
                          (long long)got.complaints_30d, (long long)got.payment_failures_30d,
                          (long long)want.orders_30d, (long long)want.revenue_30d_micro,
                          (long long)want.revenue_prev_30d_micro, (long long)want.interactions_7d,
                          (long long)want.interactions_28d, (long long)want.complaints_30d,
                          (long long)want.payment_failures_30d);
            }
        }
    }
}
