/* A partition's scores, alerts and triggers must not depend on how its clock
 * moved: in steps of an hour, or in jumps that cross a day boundary and a
 * churn together, or lagging behind events read ahead (a partition reads up
 * to KS_ENGINE_ALIGN_MS ahead of the watermark, and how far depends on how
 * partitions interleave). The same events through two clock schedules must
 * leave the same customers and raise the same notices.
 *
 * Events are built as ks_event_parse() leaves them (this module does not
 * link the parser). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "state_config.h"
#include "xorshift.h"

#define SEC 1000LL
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static ks_config cfg;

static void setup(void)
{
    kst_state_config(&cfg);
}

TestSuite(clock_steps, .init = setup);

/* One partition's state with its own name tables (inline: nothing to free). */
typedef struct part {
    ks_engine_shared sh;
    ks_pstate *st;
    ks_notice *notices; /* every notice raised, in order */
    size_t n, cap;
} part;

static void part_init(part *p)
{
    memset(p, 0, sizeof *p);
    p->sh.cfg = &cfg;
    p->sh.social_channel = -1;
    ks_intern_init(&p->sh.segments, cfg.max_segments);
    ks_intern_init(&p->sh.channels, cfg.max_channels);
    ks_intern_init(&p->sh.categories, KS_CATEGORIES_MAX);
    p->st = ks_pstate_new(&p->sh);
    cr_assert_not_null(p->st);
}

static void part_free(part *p)
{
    ks_pstate_free(p->st);
    free(p->notices);
}

/* Moves the notices raised so far out of the state (as a flush would). */
static void take_notices(part *p)
{
    ks_pstate *st = p->st;
    if (st->nnotices == 0)
        return; /* (memcpy from NULL, even of 0 bytes, is undefined) */
    if (p->n + st->nnotices > p->cap) {
        p->cap = (p->n + st->nnotices) * 2;
        p->notices = realloc(p->notices, p->cap * sizeof *p->notices);
        cr_assert_not_null(p->notices);
    }
    memcpy(p->notices + p->n, st->notices, st->nnotices * sizeof *st->notices);
    p->n += st->nnotices;
    st->nnotices = 0;
}

typedef struct ev {
    int64_t ts;
    int cust;
    int kind; /* 0 interaction, 1 purchase, 2 complaint, 3 payment failed, 4 csat, 5 nps, 6 signup */
    int value;
} ev;

static void apply(part *p, const ev *e, int seq)
{
    char cust[16], id[16], ticket[16];
    snprintf(cust, sizeof cust, "c%d", e->cust);
    snprintf(id, sizeof id, "e%d", seq);
    snprintf(ticket, sizeof ticket, "t%d", seq);
    ks_event x;
    memset(&x, 0, sizeof x);
    x.ts_ms = e->ts;
    x.event_id = (ks_str){id, (uint32_t)strlen(id)};
    x.customer_id = (ks_str){cust, (uint32_t)strlen(cust)};
    switch (e->kind) {
    case 0:
        x.type = KS_EV_INTERACTION;
        break;
    case 1:
        x.type = KS_EV_PURCHASE;
        x.order_id = (ks_str){"o", 1};
        x.amount_micro = (int64_t)e->value * 1000000;
        x.amount = e->value;
        x.has_amount = true;
        break;
    case 2:
        x.type = KS_EV_TICKET;
        x.ticket_id = (ks_str){ticket, (uint32_t)strlen(ticket)};
        x.action = KS_ACT_TICKET_OPENED;
        x.complaint = true;
        break;
    case 3:
        x.type = KS_EV_PAYMENT_FAILED;
        break;
    case 4:
        x.type = KS_EV_SURVEY;
        x.survey_kind = KS_SURVEY_CSAT;
        x.score = 1 + e->value % 5;
        break;
    case 5:
        x.type = KS_EV_SURVEY;
        x.survey_kind = KS_SURVEY_NPS;
        x.score = e->value % 11;
        break;
    default:
        x.type = KS_EV_SIGNUP;
        break;
    }
    cr_assert_eq(ks_pstate_apply(p->st, &x), 0);
    take_notices(p);
}

static void advance(part *p, int64_t clock)
{
    ks_pstate_advance(p->st, clock);
    take_notices(p);
}

/* The reference: the clock never more than an hour from the events. */
static void run_fine(part *p, const ev *evs, int n, int64_t end)
{
    int64_t clock = evs[0].ts;
    for (int i = 0; i < n; i++) {
        for (; clock + HOUR < evs[i].ts; clock += HOUR)
            advance(p, clock);
        apply(p, &evs[i], i);
        clock = evs[i].ts;
        advance(p, clock);
    }
    for (; clock < end; clock += HOUR)
        advance(p, clock);
    advance(p, end);
}

/* Jumps: the clock moves only now and then, to a time up to lag behind the
 * events applied (read ahead), crossing boundaries and churns at once. */
static void run_jumps(part *p, const ev *evs, int n, int64_t end, int64_t lag, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        apply(p, &evs[i], i);
        if (kst_xorshift(&seed) % 8 == 0) {
            int64_t back = (int64_t)(kst_xorshift(&seed) % (uint64_t)lag);
            advance(p, evs[i].ts - back);
        }
    }
    advance(p, end);
}

static int cmp_notice(const void *a, const void *b)
{
    const ks_notice *x = a, *y = b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    if (x->cust != y->cust)
        return x->cust < y->cust ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

/* Both parts hold the same customers (same record numbers: the events are
 * applied in the same order) in the same state, count the same in every
 * window, and raised the same notices. */
static void expect_same(part *a, part *b, const char *what)
{
    cr_assert_eq(a->st->ncust, b->st->ncust, "%s: customers", what);
    for (uint32_t r = 0; r < a->st->ncust; r++) {
        const ks_customer *x = &a->st->cust[r], *y = &b->st->cust[r];
        cr_expect_eq(x->risk_score, y->risk_score, "%s: record %u risk_score %d vs %d", what, r,
                     x->risk_score, y->risk_score);
        cr_expect_eq(x->risk_level, y->risk_level, "%s: record %u risk_level", what, r);
        cr_expect_eq(x->risk_top, y->risk_top, "%s: record %u risk reasons", what, r);
        cr_expect_eq(x->flags & KS_CUST_CHURNED, y->flags & KS_CUST_CHURNED, "%s: record %u churned",
                     what, r);
        cr_expect_eq(x->churned_at_s, y->churned_at_s, "%s: record %u churned_at", what, r);
    }
    for (int w = 0; w < cfg.nwindows; w++) {
        ks_bucket x = {{0}}, y = {{0}};
        ks_series_sum_window(&a->st->global.win[w], a->st->clock_ms / 1000, &x);
        ks_series_sum_window(&b->st->global.win[w], b->st->clock_ms / 1000, &y);
        for (int k = 0; k < KS_C__COUNT; k++)
            cr_expect_eq(x.v[k], y.v[k], "%s: window %s counter %s: %lld vs %lld", what,
                         cfg.windows[w].name, ks_counter_name((ks_counter)k), (long long)x.v[k],
                         (long long)y.v[k]);
    }
    qsort(a->notices, a->n, sizeof *a->notices, cmp_notice);
    qsort(b->notices, b->n, sizeof *b->notices, cmp_notice);
    cr_assert_eq(a->n, b->n, "%s: %zu notices vs %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const ks_notice *x = &a->notices[i], *y = &b->notices[i];
        cr_expect(x->cust == y->cust && x->kind == y->kind && x->at_ms == y->at_ms &&
                      x->score == y->score && x->top == y->top && x->timed == y->timed &&
                      x->revenue_30d == y->revenue_30d,
                  "%s: notice %zu: cust %u kind %d at %lld score %d vs cust %u kind %d at %lld score %d",
                  what, i, x->cust, x->kind, (long long)x->at_ms, x->score, y->cust, y->kind,
                  (long long)y->at_ms, y->score);
    }
}

/* The case the scale-out test once caught: one signup, then silence. The
 * churn (30 days later, at 14:24) and the day boundary before it (00:00)
 * are crossed by one jump of the clock; moving in steps, the boundary
 * scores the customer (recency) while still active, and nothing scores them
 * again before the next boundary. A jump must give the same. */
Test(clock_steps, a_jump_over_a_day_boundary_and_a_churn_scores_before_the_churn)
{
    ev e = {.ts = T0 + 14 * HOUR + 24 * 60 * SEC, .cust = 1, .kind = 6};
    int64_t end = T0 + 30 * DAY + 20 * HOUR;
    part fine, jump;
    part_init(&fine);
    part_init(&jump);
    run_fine(&fine, &e, 1, end);
    apply(&jump, &e, 0);
    advance(&jump, T0 + 29 * DAY + 23 * HOUR);
    advance(&jump, end);
    cr_assert(fine.st->cust[0].flags & KS_CUST_CHURNED);
    cr_assert_gt(fine.st->cust[0].risk_score, 0, "the boundary before the churn scored the customer");
    expect_same(&fine, &jump, "one jump");
    part_free(&fine);
    part_free(&jump);
}

/* The same when the customer's next event is read ahead of the clock: the
 * boundaries since their last event are scored at that event, the churn
 * in its place among them. The customer is in high risk through the
 * silence (a complaint left open, CSAT 1, NPS 0, a failed payment), churns
 * on day 30 and comes back on day 34: scored at days 31-34 as churned (low),
 * they come back from low; scored as still silent (high), hysteresis kept
 * them a level higher at the event. */
Test(clock_steps, an_event_read_ahead_scores_the_boundaries_before_its_churn_as_active)
{
    ev evs[] = {
        {.ts = T0 + 10 * HOUR, .cust = 1, .kind = 1, .value = 400},
        {.ts = T0 + 10 * HOUR + 1 * SEC, .cust = 1, .kind = 2},
        {.ts = T0 + 10 * HOUR + 2 * SEC, .cust = 1, .kind = 4, .value = 0},
        {.ts = T0 + 10 * HOUR + 3 * SEC, .cust = 1, .kind = 5, .value = 0},
        {.ts = T0 + 10 * HOUR + 4 * SEC, .cust = 1, .kind = 3},
        {.ts = T0 + 34 * DAY + 3 * HOUR, .cust = 1, .kind = 0},
    };
    int nev = (int)(sizeof evs / sizeof evs[0]);
    int64_t end = T0 + 34 * DAY + 5 * HOUR;
    part fine, ahead;
    part_init(&fine);
    part_init(&ahead);
    run_fine(&fine, evs, nev, end);
    for (int i = 0; i < nev - 1; i++)
        apply(&ahead, &evs[i], i);
    advance(&ahead, T0 + 11 * HOUR);
    apply(&ahead, &evs[nev - 1], nev - 1);
    advance(&ahead, end);
    cr_assert(ahead.st->cust[0].risk_score > 0 && !(ahead.st->cust[0].flags & KS_CUST_CHURNED),
              "the last event reactivated the customer");
    expect_same(&fine, &ahead, "read ahead");
    part_free(&fine);
    part_free(&ahead);
}

/* Random customers over 80 days: bursts, silences long enough to churn,
 * purchases large enough to reach the top decile, complaints, failed
 * payments and poor surveys; the clock in hour steps against jumps that lag
 * up to a day behind the events (several seeds). */
Test(clock_steps, random_streams_give_the_same_state_for_any_clock_schedule)
{
    enum { NCUST = 40, MAXEV = 6000 };
    ev *evs = calloc(MAXEV, sizeof *evs);
    cr_assert_not_null(evs);
    for (uint64_t seed = 1; seed <= 6; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ULL;
        int n = 0;
        int64_t next[NCUST];
        for (int c = 0; c < NCUST; c++)
            next[c] = T0 + (int64_t)(kst_xorshift(&s) % (uint64_t)(20 * DAY));
        for (;;) {
            int c = 0;
            for (int k = 1; k < NCUST; k++)
                if (next[k] < next[c])
                    c = k;
            if (next[c] > T0 + 80 * DAY || n == MAXEV)
                break;
            uint64_t r = kst_xorshift(&s);
            evs[n++] = (ev){.ts = next[c], .cust = c, .kind = (int)(r % 7), .value = (int)((r >> 8) % 500)};
            /* mostly hours apart, sometimes a silence of 20-45 days */
            uint64_t g = kst_xorshift(&s);
            next[c] += g % 20 == 0 ? 20 * DAY + (int64_t)(g >> 8) % (25 * DAY)
                                   : SEC + (int64_t)(g >> 8) % (2 * DAY);
        }
        int64_t end = evs[n - 1].ts + 3 * DAY + 7 * HOUR;
        part fine, jump;
        part_init(&fine);
        part_init(&jump);
        run_fine(&fine, evs, n, end);
        run_jumps(&jump, evs, n, end, DAY, seed);
        char what[32];
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        cr_assert_gt(fine.n, 0, "%s: some notices", what);
        expect_same(&fine, &jump, what);
        part_free(&fine);
        part_free(&jump);
    }
    free(evs);
}
