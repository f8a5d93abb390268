/* The engine end to end without Kafka: events in, each flush written to a
 * private redis-server the way `kpistream run` writes it (src/app/run.c
 * ks__flush): the flush transaction, whose aggregation script returns the
 * group's sums, then the KPI hashes built from that reply. Assertions read
 * what Redis holds. Expected values are worked out by hand in the comments
 * next to them.
 *
 * Since the group aggregates moved into Redis, some outputs are no longer the
 * engine's own bytes: response-time quantiles are DDSketch estimates (alpha
 * 1 %: the bucket representative of the exact value), the active-customer
 * HLLs are assembled by Redis (read with PFCOUNT), the top-k lists are exact
 * counts, and every flush rewrites every KPI field. */
#include "harness.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/risk.h"
#include "kpistream/sink.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795000000000LL /* 2026-11-18T04:26:40Z; buckets are computed from it below */
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define WALL (T0 + 400 * DAY) /* wall clock far ahead: nothing is in the future */

static ks_config cfg;
static ks_engine *e;
static ks_batch batch;
static int64_t offsets[4];
static kst_redis redis;
static ks_redis_sink *sink;
static redisContext *rc;  /* the test's reads */
static redisContext *sub; /* SUBSCRIBEd to kpi:alerts */
static int npublished, nsentinels;
static char last_notice[1024];

/* What Redis holds at key/field: HGET for hashes, ZSCORE for sorted sets
 * (kpi:risk, kpi:top:*), NULL if absent. Borrowed: one of four rotating
 * buffers. */
static const char *get(const char *key, const char *field)
{
    static char bufs[4][1024];
    static int next;
    char *buf = bufs[next++ % 4];
    redisReply *t = redisCommand(rc, "TYPE %s", key);
    cr_assert(t && t->type == REDIS_REPLY_STATUS, "TYPE %s failed", key);
    bool none = !strcmp(t->str, "none"), zset = !strcmp(t->str, "zset");
    cr_assert(none || zset || !strcmp(t->str, "hash"), "%s is a %s", key, t->str);
    freeReplyObject(t);
    if (none)
        return NULL;
    redisReply *r = redisCommand(rc, zset ? "ZSCORE %s %s" : "HGET %s %s", key, field);
    cr_assert(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL),
              "reading %s %s failed", key, field);
    const char *out = NULL;
    if (r->type == REDIS_REPLY_STRING) {
        snprintf(buf, sizeof bufs[0], "%s", r->str);
        out = buf;
    }
    freeReplyObject(r);
    return out;
}

static long long rcall_ll(const char *cmd, const char *key)
{
    redisReply *r = redisCommand(rc, "%s %s", cmd, key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s %s failed", cmd, key);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Ids in the seen-notice hashes: one per UTC day listed in the days hash. */
static long long nseen(void)
{
    redisReply *r = redisCommand(rc, "HKEYS kpi:notices:seen:days");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "HKEYS kpi:notices:seen:days failed");
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        char key[64];
        snprintf(key, sizeof key, "kpi:notices:seen:%s", r->element[i]->str);
        n += rcall_ll("HLEN", key);
    }
    freeReplyObject(r);
    return n;
}

/* Notices: entries of the streams (each id is added once by its script). */
static long long nalerts(void) { return rcall_ll("XLEN", "kpi:alerts"); }
static long long ntriggers(void) { return rcall_ll("XLEN", "kpi:triggers"); }

/* PFCOUNT kpi:hll:active:<w> is the exact distinct count within 3 standard
 * errors of Redis' HLL (1.04/sqrt(16384) = 0.81 %, x3 = 2.44 %); for the few
 * customers here that bound rounds to 0, so the count must be exact. */
static void assert_active_hll(const char *window, long long exact)
{
    char key[64];
    snprintf(key, sizeof key, "kpi:hll:active:%s", window);
    long long n = rcall_ll("PFCOUNT", key);
    long long bound = (long long)floor(0.0244 * (double)exact);
    cr_assert(llabs(n - exact) <= bound, "PFCOUNT %s = %lld, want %lld +/- %lld", key, n, exact,
              bound);
}

/* The value a response-time quantile is written as: the DDSketch (alpha 1 %)
 * representative 2 g^i / (g + 1) of the exact value's bucket, i =
 * ceil(log_g(exact)), g = 1.01/0.99, rounded to whole ms. Checks that it is
 * within 1 % of the exact value. Borrowed: static buffer. */
static const char *dd_ms(double exact)
{
    static char buf[32];
    double g = 1.01 / 0.99;
    double rep = 2.0 * pow(g, ceil(log(exact) / log(g))) / (g + 1.0);
    cr_assert(fabs(rep - exact) <= 0.01 * exact, "representative %f of %f", rep, exact);
    snprintf(buf, sizeof buf, "%lld", llround(rep));
    return buf;
}

/* Asserts that key/field holds dd_ms(exact) and is within 1 % of exact. */
static void assert_quantile_ms(const char *key, const char *field, double exact)
{
    const char *v = get(key, field);
    cr_assert_not_null(v, "%s %s is absent", key, field);
    const char *want = dd_ms(exact);
    cr_assert_str_eq(v, want, "%s %s = %s, want %s (DDSketch representative of %.0f)", key, field,
                     v, want, exact);
    double d = strtod(v, NULL);
    cr_assert(fabs(d - exact) <= 0.01 * exact, "%s %s = %s, not within 1 %% of %.0f", key, field,
              v, exact);
}

/* Reads the subscriber up to a sentinel the test publishes after the flush:
 * every alert published in the flush's transaction comes before it on this
 * connection, so no timeout decides that nothing more came. */
static void drain_published(void)
{
    char sentinel[64];
    snprintf(sentinel, sizeof sentinel, "kst-sentinel-%d", ++nsentinels);
    redisReply *r = redisCommand(rc, "PUBLISH kpi:alerts %s", sentinel);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
              "PUBLISH did not reach the test's subscriber");
    freeReplyObject(r);
    for (;;) {
        void *v = NULL;
        cr_assert_eq(redisGetReply(sub, &v), REDIS_OK, "subscriber: %s", sub->errstr);
        redisReply *m = v;
        cr_assert(m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                      m->element[0]->type == REDIS_REPLY_STRING &&
                      !strcmp(m->element[0]->str, "message"),
                  "unexpected pub/sub reply");
        bool done = !strcmp(m->element[2]->str, sentinel);
        if (!done) {
            npublished++;
            snprintf(last_notice, sizeof last_notice, "%s", m->element[2]->str);
        }
        freeReplyObject(m);
        if (done)
            return;
    }
}

/* Reads the group state and builds engine x's flush from it into b, as the
 * run loop does (no write). */
static void build_of(ks_engine *x, ks_batch *b)
{
    char err[512];
    ks_engine_tick(x, WALL);
    ks_engine_flush_read(x, b);
    cr_assert_eq(ks_redis_sink_read(sink, b, err, sizeof err), 0, "read: %s", err);
    const char *const *strs;
    const size_t *lens;
    size_t n = ks_redis_sink_reply(sink, &strs, &lens);
    cr_assert_eq(ks_engine_build_flush(x, strs, lens, n, b, WALL, err, sizeof err), 0, "build: %s",
                 err);
}

/* Writes one flush of engine x as the run loop does: read the group state,
 * build the transaction from it, send it under the read's WATCH. */
static void flush_of(ks_engine *x, ks_batch *b)
{
    char err[512];
    build_of(x, b);
    cr_assert_eq(ks_redis_sink_write_watched(sink, b, err, sizeof err), 0, "flush: %s", err);
    ks_engine_flush_done(x);
}

/* Moves the clock (all partitions at their end) and writes one flush. */
static void flush(void)
{
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
    flush_of(e, &batch);
    drain_published();
}

static ks_verdict feed_p(int part, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ks_verdict feed_p(int part, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ks_reject why;
    ks_engine_set_eof(e, "t", part, false);
    return ks_engine_process(e, "t", part, offsets[part]++, buf, strlen(buf), WALL, &why);
}

static int eid;
/* One event for customer c at time t of the given type and extra JSON. */
#define EV(part, c, t, type, extra)                                                    \
    feed_p(part, "{\"event_id\":\"e%d\",\"type\":\"%s\",\"customer_id\":\"%s\",\"ts\":%lld%s}", \
           ++eid, type, c, (long long)(t), extra)

static void setup(void)
{
    char err[512];
    cr_assert_eq(kst_redis_start(&redis), 0, "%s", kst_last_error());
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", kst_redis_url(&redis), err, sizeof err), 0,
                 "%s", err);
    cfg.clock = KS_CLOCK_EVENT;
    cfg.dedup_horizon_ms = 30 * DAY;
    e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    for (int p = 0; p < 4; p++)
        cr_assert_eq(ks_engine_assign(e, "t", p), 0);
    ks_batch_init(&batch);
    sink = ks_redis_sink_new(&cfg, err, sizeof err);
    cr_assert_not_null(sink, "%s", err);
    cr_assert_eq(ks_redis_sink_connect(sink, err, sizeof err), 0, "%s", err);
    rc = kst_redis_connect(&redis);
    cr_assert_not_null(rc, "%s", kst_last_error());
    sub = kst_redis_connect(&redis);
    cr_assert_not_null(sub, "%s", kst_last_error());
    redisReply *r = redisCommand(sub, "SUBSCRIBE kpi:alerts");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                  !strcmp(r->element[0]->str, "subscribe"),
              "SUBSCRIBE failed");
    freeReplyObject(r);
    npublished = nsentinels = 0;
    last_notice[0] = '\0';
    eid = 0;
    memset(offsets, 0, sizeof offsets);
}

static void teardown(void)
{
    if (sub)
        redisFree(sub);
    if (rc)
        redisFree(rc);
    sub = rc = NULL;
    ks_redis_sink_free(sink);
    sink = NULL;
    ks_engine_free(e);
    e = NULL;
    ks_batch_reset(&batch);
    ks_config_free(&cfg);
    kst_redis_stop(&redis);
}

TestSuite(engine, .init = setup, .fini = teardown);

Test(engine, counts_sums_and_ratios_in_two_windows)
{
    /* T0 is 04:26:40; 1h buckets are whole minutes, 24h buckets 24 minutes. */
    EV(0, "a", T0, "signup", ",\"segment\":\"smb\",\"channel\":\"web\"");
    EV(0, "a", T0 + 1000, "purchase", ",\"order_id\":\"o1\",\"amount\":10.5,\"category\":\"x\"");
    EV(1, "b", T0 + 2 * HOUR, "purchase",
       ",\"order_id\":\"o2\",\"amount\":20,\"category\":\"x\",\"channel\":\"app\"");
    EV(1, "b", T0 + 2 * HOUR + 1000, "purchase", ",\"order_id\":\"o3\",\"amount\":30,\"category\":\"y\"");
    EV(1, "b", T0 + 2 * HOUR + 2000, "refund", ",\"amount\":5");
    EV(1, "b", T0 + 2 * HOUR + 3000, "interaction", ",\"channel\":\"social\"");
    flush();
    /* Clock = T0+2h+3s. 1h window: only b's four events (a's are 2h old). */
    cr_assert_str_eq(get("kpi:global", "events:1h"), "4");
    cr_assert_str_eq(get("kpi:global", "orders:1h"), "2");
    cr_assert_str_eq(get("kpi:global", "revenue:1h"), "45.00");       /* 20+30-5 */
    cr_assert_str_eq(get("kpi:global", "aov:1h"), "25.00");           /* 50/2 */
    cr_assert_str_eq(get("kpi:global", "purchase_frequency:1h"), "2.00");
    cr_assert_str_eq(get("kpi:global", "active_customers:1h"), "1");
    cr_assert_str_eq(get("kpi:global", "engagement:1h"), "1.00");     /* 1 interaction / 1 */
    cr_assert_str_eq(get("kpi:global", "social_interactions:1h"), "1");
    cr_assert_str_eq(get("kpi:global", "cross_sells:1h"), "1");       /* b's 2nd order, new category */
    cr_assert_str_eq(get("kpi:global", "repurchase_rate:1h"), "100.00");
    cr_assert_str_eq(get("kpi:global", "new_customers:1h"), "1");
    /* 24h window: everything. */
    cr_assert_str_eq(get("kpi:global", "events:24h"), "6");
    cr_assert_str_eq(get("kpi:global", "orders:24h"), "3");
    cr_assert_str_eq(get("kpi:global", "revenue:24h"), "55.50");      /* 10.5+20+30-5 */
    cr_assert_str_eq(get("kpi:global", "refunds:24h"), "5.00");
    cr_assert_str_eq(get("kpi:global", "aov:24h"), "20.17");          /* 60.5/3 */
    cr_assert_str_eq(get("kpi:global", "purchase_frequency:24h"), "1.50");
    cr_assert_str_eq(get("kpi:global", "active_customers:24h"), "2");
    cr_assert_str_eq(get("kpi:global", "engagement:24h"), "0.50");
    cr_assert_str_eq(get("kpi:global", "repurchase_rate:24h"), "50.00");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "2");
    /* No surveys, leads or tickets: those ratios are absent. */
    cr_assert_null(get("kpi:global", "csat:24h"));
    cr_assert_null(get("kpi:global", "conversion_rate:24h"));
    /* Segment: a is smb; b has no segment. Channel app: b's first purchase only. */
    cr_assert_str_eq(get("kpi:segment:smb", "events:24h"), "2");
    cr_assert_str_eq(get("kpi:segment:smb", "revenue:24h"), "10.50");
    cr_assert_str_eq(get("kpi:channel:app", "orders:24h"), "1");
    cr_assert_str_eq(get("kpi:channel:app", "new_customers:24h"), "1"); /* b acquired via app */
    cr_assert_str_eq(get("kpi:channel:web", "new_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "6");
    /* Customer hashes. */
    cr_assert_str_eq(get("kpi:customer:b", "orders_total"), "2");
    cr_assert_str_eq(get("kpi:customer:b", "revenue_total"), "45.00");
    cr_assert_str_eq(get("kpi:customer:b", "aov"), "25.00");
    cr_assert_str_eq(get("kpi:customer:a", "segment"), "smb");
    cr_assert_str_eq(get("kpi:customer:a", "status"), "active");
}

Test(engine, second_flush_keeps_values_and_removes_undefined_ratios)
{
    EV(0, "a", T0, "survey", ",\"kind\":\"csat\",\"score\":5");
    flush();
    cr_assert_str_eq(get("kpi:global", "csat:1h"), "100.00");
    cr_assert_str_eq(get("kpi:global", "csat_responses:1h"), "1");
    /* Every flush rewrites every KPI field; one with nothing new must write
     * the same values (its partition blocks are not applied twice). */
    flush();
    cr_assert_str_eq(get("kpi:global", "csat:1h"), "100.00");
    cr_assert_str_eq(get("kpi:global", "csat_responses:1h"), "1");
    /* Two hours later the survey leaves the 1h window: csat:1h has no
     * responses, so the field is deleted, while csat:24h stays. */
    EV(0, "a", T0 + 2 * HOUR, "interaction", "");
    flush();
    cr_assert_null(get("kpi:global", "csat:1h"));
    cr_assert_str_eq(get("kpi:global", "csat:24h"), "100.00");
    cr_assert_str_eq(get("kpi:global", "csat_responses:1h"), "0");
}

Test(engine, duplicates_are_counted_once)
{
    const char *ev = "{\"event_id\":\"same\",\"type\":\"purchase\",\"customer_id\":\"a\","
                     "\"ts\":1795000000000,\"order_id\":\"o\",\"amount\":7}";
    ks_reject why;
    cr_assert_eq(ks_engine_process(e, "t", 0, 0, ev, strlen(ev), WALL, &why), KS_ACCEPTED);
    cr_assert_eq(ks_engine_process(e, "t", 0, 1, ev, strlen(ev), WALL, &why), KS_DUPLICATE);
    flush();
    cr_assert_str_eq(get("kpi:global", "orders:24h"), "1");
    cr_assert_str_eq(get("kpi:meta", "duplicates"), "1");
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "1");
}

Test(engine, clock_checks_reject_future_and_too_old)
{
    ks_reject why;
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"event_id\":\"f\",\"type\":\"signup\",\"customer_id\":\"a\",\"ts\":%lld}",
             (long long)(WALL + 6 * 60000)); /* 6 min ahead of the wall clock */
    cr_assert_eq(ks_engine_process(e, "t", 0, 0, buf, strlen(buf), WALL, &why), KS_REJECTED);
    cr_assert_eq(why.code, KS_REJECT_FUTURE_TIMESTAMP);
    EV(0, "a", T0 + 40 * DAY, "signup", "");
    flush(); /* clock = T0+40d */
    snprintf(buf, sizeof buf,
             "{\"event_id\":\"o\",\"type\":\"signup\",\"customer_id\":\"b\",\"ts\":%lld}",
             (long long)(T0 + 10 * DAY - 1)); /* more than 30d behind the clock */
    cr_assert_eq(ks_engine_process(e, "t", 0, 99, buf, strlen(buf), WALL, &why), KS_REJECTED);
    cr_assert_eq(why.code, KS_REJECT_TOO_OLD);
}

Test(engine, watermark_waits_for_the_slowest_partition)
{
    EV(0, "a", T0 + 5 * HOUR, "signup", "");
    EV(1, "b", T0, "signup", "");
    ks_engine_set_eof(e, "t", 2, true);
    ks_engine_set_eof(e, "t", 3, true);
    /* Partitions 0 and 1 still have unread data: the clock is the lower. */
    cr_assert_eq(ks_engine_tick(e, WALL), T0);
    ks_engine_set_eof(e, "t", 1, true);
    cr_assert_eq(ks_engine_tick(e, WALL), T0 + 5 * HOUR);
}

/* Watermark alignment bounds what windows hold ahead of the clock: a
 * partition is read while its newest event is at most KS_ENGINE_ALIGN_MS
 * ahead of the watermark, and the one furthest behind is read first. */
Test(engine, a_partition_is_read_at_most_the_span_ahead_of_the_watermark)
{
    EV(0, "a", T0, "signup", "");
    EV(1, "b", T0, "signup", "");
    ks_engine_set_eof(e, "t", 2, true);
    ks_engine_set_eof(e, "t", 3, true);
    cr_assert_eq(ks_engine_tick(e, WALL), T0);
    EV(0, "a", T0 + KS_ENGINE_ALIGN_MS, "interaction", "");
    cr_assert(ks_engine_may_read(e, "t", 0), "at the span: still read");
    EV(0, "a", T0 + KS_ENGINE_ALIGN_MS + 1, "interaction", "");
    cr_assert(!ks_engine_may_read(e, "t", 0), "past the span: waits for the watermark");
    cr_assert(ks_engine_may_read(e, "t", 1));
    cr_assert_lt(ks_engine_read_order(e, "t", 1), ks_engine_read_order(e, "t", 0));
    /* The slowest partition moves: the watermark, and so the span, with it. */
    EV(1, "b", T0 + HOUR, "interaction", "");
    cr_assert_eq(ks_engine_tick(e, WALL), T0 + HOUR);
    cr_assert(ks_engine_may_read(e, "t", 0));
}

Test(engine, inactivity_churn_and_reactivation)
{
    EV(0, "a", T0, "signup", ",\"segment\":\"smb\"");
    EV(1, "b", T0, "signup", "");
    EV(1, "b", T0 + 29 * DAY, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:global", "customers:30d"), "2");
    /* b keeps going; a has been silent for 30d23h: churned at T0+30d, 23h
     * before the clock, so inside 24h (a window is (clock-W, clock]). */
    EV(1, "b", T0 + 30 * DAY + 23 * HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "churned");
    cr_assert_str_eq(get("kpi:global", "churned_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:global", "churned_customers:1h"), "0");
    cr_assert_str_eq(get("kpi:global", "customers:30d"), "1");
    cr_assert_str_eq(get("kpi:segment:smb", "customers:30d"), "0");
    /* a comes back: active again, counted in the base, not new. */
    EV(0, "a", T0 + 31 * DAY + HOUR, "purchase", ",\"order_id\":\"x\",\"amount\":3");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "active");
    cr_assert_str_eq(get("kpi:global", "customers:30d"), "2");
    cr_assert_str_eq(get("kpi:global", "new_customers:24h"), "0");
}

Test(engine, cancel_churns_and_segment_change_moves_the_customer)
{
    EV(0, "a", T0, "signup", ",\"segment\":\"smb\"");
    EV(0, "a", T0 + HOUR, "interaction", ",\"segment\":\"ent\"");
    flush();
    /* Contract 5: a customer who moved inside the window counts in both
     * segments' distinct counts (smb has their signup, ent their
     * interaction); the base (customers) moves with the segment. In the 1h
     * window (clock T0+1h) only the interaction is left. */
    cr_assert_str_eq(get("kpi:segment:smb", "active_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:segment:ent", "active_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:global", "active_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:segment:smb", "active_customers:1h"), "0");
    cr_assert_str_eq(get("kpi:segment:ent", "active_customers:1h"), "1");
    cr_assert_str_eq(get("kpi:segment:ent", "customers:24h"), "1");
    cr_assert_str_eq(get("kpi:segment:smb", "customers:24h"), "0");
    EV(0, "a", T0 + 2 * HOUR, "subscription", ",\"action\":\"cancel\"");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "churned");
    cr_assert_str_eq(get("kpi:global", "churned_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:segment:ent", "churned_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "0");
    /* S = 0 customers at the 24h window's start (a arrived within it). */
    cr_assert_null(get("kpi:global", "churn_rate:24h"));
}

Test(engine, late_event_does_not_undo_a_cancel)
{
    EV(0, "k", T0, "interaction", "");
    EV(0, "k", T0 + HOUR, "subscription", ",\"action\":\"cancel\"");
    EV(0, "k", T0 + HOUR - 120000, "interaction", ""); /* arrives late, happened before */
    flush();
    cr_assert_str_eq(get("kpi:customer:k", "status"), "churned");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "0");
}

Test(engine, customer_clv_uses_their_own_risk_not_the_flush_timing)
{
    /* clv = gross_margin x revenue_30d / max(risk_score / 100, min_churn):
     * a function of the customer's events, whatever the group's churn rate
     * is at the flush that writes the hash (docs/kpis.md). */
    EV(0, "v", T0, "purchase", ",\"order_id\":\"1\",\"amount\":100");
    EV(1, "w", T0 + 1000, "subscription", ",\"action\":\"cancel\"");
    flush();
    long score = strtol(get("kpi:customer:v", "risk_score"), NULL, 10);
    double churn = score / 100.0 > cfg.min_churn ? score / 100.0 : cfg.min_churn;
    char want[32];
    snprintf(want, sizeof want, "%.2f", cfg.gross_margin * 100.0 / churn);
    cr_assert_str_eq(get("kpi:customer:v", "clv"), want, "score %ld", score);
    /* A later flush with another group churn rate (w churned) and no event of
     * v's does not change v's clv. */
    EV(1, "x", T0 + 2000, "subscription", ",\"action\":\"cancel\"");
    flush();
    cr_assert_str_eq(get("kpi:customer:v", "clv"), want);
}

Test(engine, late_event_from_before_an_inactivity_churn_does_not_reactivate)
{
    /* a is silent after T0: churned at T0+30d once the clock passes it (b
     * moves the clock). Then an event of a from T0+10d arrives late: after a's
     * last known event, but before the churn: a stays churned (contract 5). */
    EV(0, "a", T0, "signup", "");
    EV(1, "b", T0 + 31 * DAY, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "churned");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "1");
    EV(0, "a", T0 + 10 * DAY, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "churned");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "1", "a did not rejoin the base");
    /* An event after the churn does reactivate. */
    EV(0, "a", T0 + 31 * DAY + HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:a", "status"), "active");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "2");
}

Test(engine, inactivity_churn_seen_by_the_customers_next_event)
{
    /* No clock movement in between: the next event itself shows that a was
     * silent for 30 days, so the churn is counted at T0+30d, then undone. */
    EV(0, "a", T0, "signup", "");
    EV(0, "a", T0 + 30 * DAY + 2 * HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:global", "churned_customers:24h"), "1");
    cr_assert_str_eq(get("kpi:customer:a", "status"), "active");
    cr_assert_str_eq(get("kpi:global", "customers:24h"), "1");
}

Test(engine, channel_hashes_count_repurchases_per_channel)
{
    /* a buys twice on web, once on app; b once on web. Per channel, a
     * customer counts by their purchases on that channel: web has two
     * purchasing customers, one of them (a) with two purchases: 50 %; app
     * has one purchasing customer with one purchase: 0 %. Globally a
     * bought three times, b once: 1 of 2 repurchased. */
    EV(0, "a", T0, "purchase", ",\"order_id\":\"1\",\"amount\":1,\"channel\":\"web\"");
    EV(0, "a", T0 + 1000, "purchase", ",\"order_id\":\"2\",\"amount\":1,\"channel\":\"app\"");
    EV(0, "a", T0 + 2000, "purchase", ",\"order_id\":\"3\",\"amount\":1,\"channel\":\"web\"");
    EV(1, "b", T0 + 3000, "purchase", ",\"order_id\":\"4\",\"amount\":1,\"channel\":\"web\"");
    flush();
    cr_assert_str_eq(get("kpi:global", "repurchase_rate:1h"), "50.00");
    cr_assert_str_eq(get("kpi:channel:web", "repurchase_rate:1h"), "50.00");
    cr_assert_str_eq(get("kpi:channel:web", "purchasing_customers:1h"), "2");
    cr_assert_str_eq(get("kpi:channel:web", "purchase_frequency:1h"), "1.50");
    cr_assert_str_eq(get("kpi:channel:app", "repurchase_rate:1h"), "0.00");
    cr_assert_str_eq(get("kpi:channel:app", "purchasing_customers:1h"), "1");
}

Test(engine, forty_channel_names_are_all_tracked)
{
    /* The old cap was 8: every one of 40 names gets its own hash now. */
    for (int i = 0; i < 40; i++) {
        char extra[96];
        snprintf(extra, sizeof extra, ",\"channel\":\"ch-%02d\"", i);
        EV(i % 4, "c", T0 + i * 1000, "interaction", extra);
    }
    flush();
    for (int i = 0; i < 40; i++) {
        char key[64];
        snprintf(key, sizeof key, "kpi:channel:ch-%02d", i);
        cr_assert_str_eq(get(key, "events:1h"), "1", "%s", key);
        cr_assert_str_eq(get(key, "active_customers:1h"), "1", "%s", key);
    }
    cr_assert_null(get("kpi:channel:other", "events:1h"), "nothing folded into other");
}

Test(engine, hll_active_matches_distinct_customers_per_window)
{
    EV(0, "a", T0, "signup", "");
    EV(1, "b", T0 + 2 * HOUR, "interaction", "");
    EV(1, "c", T0 + 2 * HOUR + 1000, "interaction", "");
    EV(1, "c", T0 + 2 * HOUR + 2000, "interaction", "");
    flush();
    /* PFCOUNT of the windows' HLLs: 1h has b and c, 24h a, b, c. */
    assert_active_hll("1h", 2);
    assert_active_hll("24h", 3);
    cr_assert_str_eq(get("kpi:global", "active_customers:24h"), "3");
}

Test(engine, ticket_response_times_and_complaint_resolution)
{
    EV(0, "a", T0, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true");
    EV(0, "a", T0 + 60000, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"responded\"");
    EV(0, "a", T0 + 90000, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"responded\""); /* not first */
    EV(0, "a", T0 + 120000, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"resolved\"");
    EV(0, "b", T0, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"opened\",\"complaint\":true");
    EV(0, "b", T0 + 180000, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"responded\"");
    EV(0, "b", T0 + 190000, "ticket", ",\"ticket_id\":\"t3\",\"action\":\"opened\"");
    flush();
    /* Two complaints, one resolved; first responses 60 s and 180 s. The
     * quantiles are DDSketch estimates of the exact values. */
    cr_assert_str_eq(get("kpi:global", "complaint_resolution_rate:1h"), "50.00");
    assert_quantile_ms("kpi:global", "response_time_p50:1h", 60000); /* rank floor(0.5*1)=0 */
    assert_quantile_ms("kpi:global", "response_time_p99:1h", 60000); /* floor(0.99*1)=0 */
    cr_assert_str_eq(get("kpi:global", "tickets:1h"), "3");
    cr_assert_str_eq(get("kpi:customer:a", "open_tickets"), "0");
    cr_assert_str_eq(get("kpi:customer:b", "open_tickets"), "2");
    /* b's second ticket is resolved two hours later: the rate of the 24h
     * window (which holds the openings) rises; the 1h window no longer has them. */
    EV(0, "b", T0 + 2 * HOUR, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"resolved\"");
    flush();
    cr_assert_str_eq(get("kpi:global", "complaint_resolution_rate:24h"), "100.00");
    cr_assert_null(get("kpi:global", "complaint_resolution_rate:1h"));
    cr_assert_null(get("kpi:global", "response_time_p50:1h"));
    assert_quantile_ms("kpi:global", "response_time_p90:24h", 60000); /* floor(0.9*1)=0 */
}

Test(engine, duplicates_found_before_the_clock_first_moves)
{
    /* The dedup table rebuilds as it grows; with no clock yet nothing may be
     * dropped from it (an overflow once made every id expire). */
    char buf[256];
    ks_reject why;
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf,
                 "{\"event_id\":\"id%d\",\"type\":\"interaction\",\"customer_id\":\"c%d\",\"ts\":%lld}",
                 i, i % 50, (long long)(T0 + i));
        cr_assert_eq(ks_engine_process(e, "t", 0, i, buf, strlen(buf), WALL, &why), KS_ACCEPTED);
    }
    snprintf(buf, sizeof buf,
             "{\"event_id\":\"id0\",\"type\":\"interaction\",\"customer_id\":\"c0\",\"ts\":%lld}",
             (long long)T0);
    cr_assert_eq(ks_engine_process(e, "t", 0, 5000, buf, strlen(buf), WALL, &why), KS_DUPLICATE);
}

Test(engine, top_products_and_complaint_categories_per_window)
{
    for (int i = 0; i < 5; i++)
        EV(0, "a", T0 + i * 1000, "purchase",
           i < 3 ? ",\"order_id\":\"x\",\"amount\":1,\"product\":\"p1\""
                 : ",\"order_id\":\"y\",\"amount\":1,\"product\":\"p2\"");
    EV(0, "b", T0, "ticket", ",\"ticket_id\":\"t\",\"action\":\"opened\",\"complaint\":true,\"category\":\"billing\"");
    EV(0, "b", T0, "ticket", ",\"ticket_id\":\"u\",\"action\":\"opened\",\"category\":\"quality\""); /* not a complaint */
    flush();
    /* Sorted sets of exact counts. */
    cr_assert_str_eq(get("kpi:top:product:1h", "p1"), "3");
    cr_assert_str_eq(get("kpi:top:product:1h", "p2"), "2");
    cr_assert_str_eq(get("kpi:top:complaint_category:24h", "billing"), "1");
    cr_assert_null(get("kpi:top:complaint_category:24h", "quality"));
    /* Two hours on, the 1h list is emptied (deleted), 24h keeps them. */
    EV(0, "c", T0 + 2 * HOUR, "interaction", "");
    flush();
    cr_assert_null(get("kpi:top:product:1h", "p1"));
    cr_assert_str_eq(get("kpi:top:product:24h", "p1"), "3");
}

/* Customer r's trouble an hour after T0: NPS 0 (25 points), CSAT 1 (15),
 * two payment failures (15), a downgrade (10), two complaints (10) = 75 >=
 * 70: high risk, an alert, and a detractor trigger. */
static void drive_r_into_high_risk(void)
{
    EV(0, "r", T0 + HOUR, "survey", ",\"kind\":\"nps\",\"score\":0");
    EV(0, "r", T0 + HOUR + 1, "survey", ",\"kind\":\"csat\",\"score\":1");
    EV(0, "r", T0 + HOUR + 2, "payment_failed", "");
    EV(0, "r", T0 + HOUR + 3, "payment_failed", "");
    EV(0, "r", T0 + HOUR + 4, "subscription", ",\"action\":\"downgrade\"");
    EV(0, "r", T0 + HOUR + 5, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true");
    EV(0, "r", T0 + HOUR + 6, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"opened\",\"complaint\":true");
}

Test(engine, drift_into_high_risk_alerts_once_then_recovers)
{
    EV(0, "r", T0, "signup", ",\"segment\":\"smb\"");
    EV(0, "r", T0 + 60000, "interaction", "");
    flush();
    cr_assert_eq(ntriggers(), 0);
    cr_assert_eq(nalerts(), 0);
    drive_r_into_high_risk();
    flush();
    cr_assert_str_eq(get("kpi:customer:r", "risk_level"), "high");
    cr_assert_str_eq(get("kpi:customer:r", "risk_score"), "75");
    cr_assert_str_eq(get("kpi:risk", "r"), "75");
    cr_assert_eq(nalerts(), 1, "one alert on entering high");
    cr_assert_eq(ntriggers(), 1, "the NPS 0 answer raised a detractor trigger");
    cr_assert_eq(npublished, 1, "and the same alert on pub/sub");
    cr_assert(strstr(last_notice, "\"customer\":\"r\"") && strstr(last_notice, "\"level\":\"high\""),
              "%s", last_notice);
    cr_assert(strstr(get("kpi:customer:r", "risk_reasons"), "nps_detractor") != NULL);
    /* Better answers: 75 - 40 = 35 < 50, leaves high (hysteresis) ... */
    EV(0, "r", T0 + 2 * HOUR, "survey", ",\"kind\":\"nps\",\"score\":10");
    EV(0, "r", T0 + 2 * HOUR + 1, "survey", ",\"kind\":\"csat\",\"score\":5");
    flush();
    cr_assert_str_eq(get("kpi:customer:r", "risk_level"), "medium");
    /* ... and back to 75 within the day: high again, but no second alert. */
    EV(0, "r", T0 + 3 * HOUR, "survey", ",\"kind\":\"nps\",\"score\":0");
    EV(0, "r", T0 + 3 * HOUR + 1, "survey", ",\"kind\":\"csat\",\"score\":1");
    flush();
    cr_assert_str_eq(get("kpi:customer:r", "risk_level"), "high");
    cr_assert_eq(nalerts(), 1, "cooldown: no second alert within 24h");
    /* A month later every 30-day signal has expired, the tickets are resolved
     * and the answers are good: score 0, out of the ranking. */
    EV(0, "r", T0 + 40 * DAY - 2, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"resolved\"");
    EV(0, "r", T0 + 40 * DAY - 1, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"resolved\"");
    EV(0, "r", T0 + 40 * DAY, "survey", ",\"kind\":\"nps\",\"score\":10");
    EV(0, "r", T0 + 40 * DAY + 1, "survey", ",\"kind\":\"csat\",\"score\":5");
    flush();
    cr_assert_str_eq(get("kpi:customer:r", "risk_score"), "0");
    cr_assert_null(get("kpi:risk", "r"));
}

Test(engine, sketches_keep_events_far_ahead_of_the_last_clock)
{
    EV(0, "a", T0, "signup", "");
    flush(); /* clock T0 */
    /* 30 hours ahead of the clock, read before the clock moves (a sparse
     * partition's batch can span that): the 1h sketches must still hold it. */
    EV(0, "b", T0 + 30 * HOUR, "purchase", ",\"order_id\":\"o\",\"amount\":10,\"product\":\"p\"");
    EV(0, "c", T0 + 30 * HOUR + 1000, "interaction", "");
    flush();
    assert_active_hll("1h", 2); /* b and c are active in the last hour */
    cr_assert_str_eq(get("kpi:top:product:1h", "p"), "1");
    cr_assert_not_null(get("kpi:global", "order_value_p50:1h"));
    double p50 = strtod(get("kpi:global", "order_value_p50:1h"), NULL);
    cr_assert(p50 >= 9.9 && p50 <= 10.1, "p50 %f within 1 %% of 10", p50);
}

Test(engine, steady_customer_rolling_counts_expire)
{
    /* One interaction a day for 90 days and a complaint on day 1. Exact by
     * the window rule (buckets of W/60; worked out from T0): at the clock
     * (the last interaction, T0 + 89 d + 1 h) 7 interactions are in the 7d
     * window and 28 in the 28d one; the complaint has left 30d. */
    EV(0, "s", T0, "ticket", ",\"ticket_id\":\"t\",\"action\":\"opened\",\"complaint\":true");
    for (int d = 0; d < 90; d++)
        EV(0, "s", T0 + d * DAY + HOUR, "interaction", "");
    flush();
    long i28 = strtol(get("kpi:customer:s", "interactions_28d"), NULL, 10);
    long i7 = strtol(get("kpi:customer:s", "interactions_7d"), NULL, 10);
    cr_assert_eq(i28, 28, "interactions_28d %ld", i28);
    cr_assert_eq(i7, 7, "interactions_7d %ld", i7);
    cr_assert_str_eq(get("kpi:customer:s", "complaints_30d"), "0");
}

/* --- exactly-once: a lost reply, a zombie member --- */

/* Sends the flush transaction and stops there, as if the connection broke
 * after EXEC and before its reply arrived: nothing is confirmed. */
static void flush_reply_lost(void)
{
    char err[512];
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
    build_of(e, &batch);
    cr_assert_eq(ks_redis_sink_write_watched(sink, &batch, err, sizeof err), 0, "flush: %s", err);
}

Test(engine, a_flush_whose_reply_was_lost_is_not_applied_twice)
{
    EV(0, "A", T0, "purchase", ",\"order_id\":\"o1\",\"amount\":10");
    EV(1, "B", T0 + 1000, "purchase", ",\"order_id\":\"o2\",\"amount\":5");
    flush_reply_lost();
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "2", "the transaction went through");
    /* More events arrive before the retry. The retry's read finds the lost
     * attempt's tokens stored: that attempt counts as written, and the
     * retry adds only what changed since (the new event), once. */
    EV(0, "A", T0 + 2000, "purchase", ",\"order_id\":\"o3\",\"amount\":1");
    flush();
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "3", "the lost attempt counted once");
    cr_assert_str_eq(get("kpi:global", "revenue:1h"), "16.00");
    flush();
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "3", "an idle flush adds nothing");
    cr_assert_str_eq(get("kpi:global", "revenue:1h"), "16.00");
    cr_assert_str_eq(get("kpi:global", "orders:1h"), "3");
    /* The offsets stored: 2 messages of partition 0, 1 of partition 1. */
    cr_assert_str_eq(get("kpi:offsets:kpistream", "t:0"), "2");
    cr_assert_str_eq(get("kpi:offsets:kpistream", "t:1"), "1");
}

/* A command that fails inside EXEC does not roll the others back (Redis has
 * no rollback): the flush is half applied. key names a key the flush writes;
 * it is made a string first, so the flush's command on it fails with
 * WRONGTYPE while every other command runs. The retry must complete the
 * flush exactly once: counts neither lost nor doubled. */
static void half_applied_flush_completes_once(const char *key)
{
    char err[512];
    EV(0, "A", T0, "purchase", ",\"order_id\":\"o1\",\"amount\":10");
    EV(1, "B", T0 + 1000, "purchase", ",\"order_id\":\"o2\",\"amount\":5");
    redisReply *r = redisCommand(rc, "SET %s not-a-hash", key);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "SET failed");
    freeReplyObject(r);
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
    build_of(e, &batch);
    int wrc = ks_redis_sink_write_watched(sink, &batch, err, sizeof err);
    cr_assert_eq(wrc, KS_ERR_REDIS, "the flush must fail at its command on %s", key);
    cr_assert(strstr(err, "WRONGTYPE"), "error names the failure: %s", err);
    /* Half applied: the commands around the failing one ran. */
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "2");
    r = redisCommand(rc, "DEL %s", key);
    freeReplyObject(r);
    /* More arrives; the retry finds the half-applied attempt's token, takes
     * it as written, and rewrites every absolute value. */
    EV(1, "B", T0 + 2000, "purchase", ",\"order_id\":\"o3\",\"amount\":1");
    flush();
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "3", "nothing lost, nothing doubled");
    cr_assert_str_eq(get("kpi:global", "revenue:1h"), "16.00");
    cr_assert_str_eq(get("kpi:global", "orders:24h"), "3");
    cr_assert_str_eq(get("kpi:customer:B", "orders_total"), "2");
    cr_assert_str_eq(get("kpi:customer:A", "revenue_total"), "10.00");
    cr_assert_str_eq(get("kpi:offsets:kpistream", "t:1"), "2");
    flush();
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "3", "an idle flush adds nothing");
    cr_assert_str_eq(get("kpi:global", "revenue:1h"), "16.00");
}

/* --- streamed flushes: the transaction leaves while it is built --- */

enum { NSTREAM = 3000 };

/* NSTREAM customers, one purchase each: a flush of about 2 MB. */
static void many_customers(void)
{
    for (int i = 0; i < NSTREAM; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        EV(i % 4, id, T0 + i, "purchase", ",\"order_id\":\"o\",\"amount\":2.5");
    }
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
}

/* Opens the transaction and builds into it as the run loop does
 * (ks__flush_send): read the group state, MULTI, build while the batch
 * drains into the socket. */
static void stream_build(void)
{
    char err[512];
    ks_engine_tick(e, WALL);
    ks_engine_flush_read(e, &batch);
    cr_assert_eq(ks_redis_sink_read(sink, &batch, err, sizeof err), 0, "read: %s", err);
    cr_assert_eq(ks_redis_sink_stream_begin(sink, &batch, err, sizeof err), 0, "%s", err);
    const char *const *strs;
    const size_t *lens;
    size_t n = ks_redis_sink_reply(sink, &strs, &lens);
    cr_assert_eq(ks_engine_build_flush(e, strs, lens, n, &batch, WALL, err, sizeof err), 0,
                 "build: %s", err);
    /* It streamed: most of it left during the build, and the buffer never
     * held the whole transaction. */
    cr_assert_gt(batch.base, batch.len, "sent %zu bytes, %zu left", batch.base, batch.len);
    cr_assert_lt(batch.cap, batch.base + batch.len, "cap %zu", batch.cap);
}

static long long dbsize(void)
{
    redisReply *r = redisCommand(rc, "DBSIZE");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "DBSIZE failed");
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

Test(engine, a_streamed_flush_is_applied_whole)
{
    char err[512], want[32];
    many_customers();
    stream_build();
    cr_assert_null(get("kpi:meta", "events_processed"), "nothing runs before EXEC");
    cr_assert_eq(ks_redis_sink_send_watched(sink, &batch, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_redis_sink_finish(sink, err, sizeof err), 0, "%s", err);
    ks_engine_flush_done(e);
    snprintf(want, sizeof want, "%d", NSTREAM);
    cr_assert_str_eq(get("kpi:meta", "events_processed"), want);
    cr_assert_str_eq(get("kpi:global", "orders:24h"), want);
    snprintf(want, sizeof want, "%d.00", NSTREAM * 5 / 2);
    cr_assert_str_eq(get("kpi:global", "revenue:24h"), want);
    cr_assert_str_eq(get("kpi:customer:c0", "revenue_total"), "2.50");
    cr_assert_str_eq(get("kpi:customer:c2999", "orders_total"), "1");
}

Test(engine, a_streamed_flush_cut_off_before_exec_applies_nothing)
{
    char err[512], want[32];
    many_customers();
    stream_build();
    /* The connection dies with the transaction open: Redis drops what it
     * queued. */
    redisReply *r = redisCommand(rc, "CLIENT KILL TYPE normal SKIPME yes");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1, "CLIENT KILL failed");
    freeReplyObject(r);
    int src = ks_redis_sink_send_watched(sink, &batch, err, sizeof err);
    if (src == 0)
        src = ks_redis_sink_finish(sink, err, sizeof err);
    cr_assert_lt(src, 0, "the cut-off flush must fail");
    cr_assert_eq(ks_engine_flush_failed(e), 0);
    cr_assert_null(get("kpi:meta", "events_processed"), "nothing applied");
    cr_assert_null(get("kpi:customer:c0", "orders_total"), "nothing applied");
    cr_assert_eq(dbsize(), 0, "no key written");
    /* The retry writes it all, once. */
    flush();
    snprintf(want, sizeof want, "%d", NSTREAM);
    cr_assert_str_eq(get("kpi:meta", "events_processed"), want);
    cr_assert_str_eq(get("kpi:global", "orders:24h"), want);
    cr_assert_str_eq(get("kpi:customer:c0", "revenue_total"), "2.50");
}

Test(engine, a_streamed_flush_whose_build_ran_out_of_memory_is_abandoned)
{
    char err[512], want[32];
    many_customers();
    stream_build();
    batch.failed = 1; /* as a failed allocation leaves it */
    cr_assert_eq(ks_redis_sink_send_watched(sink, &batch, err, sizeof err), KS_ERR_NOMEM, "%s",
                 err);
    cr_assert_eq(ks_engine_flush_failed(e), 0);
    cr_assert_eq(dbsize(), 0, "the queued part was discarded");
    flush();
    snprintf(want, sizeof want, "%d", NSTREAM);
    cr_assert_str_eq(get("kpi:meta", "events_processed"), want);
}

Test(engine, a_flush_failing_before_the_group_state_completes_once)
{
    half_applied_flush_completes_once("kpi:customer:B"); /* written before agg:state */
}

Test(engine, a_flush_failing_after_the_group_state_completes_once)
{
    half_applied_flush_completes_once("kpi:offsets:kpistream"); /* written after it */
}

/* Notices go out several per script call. A stream that cannot take its
 * entry (a wrong-type key) fails the flush without marking the notice sent:
 * the retry sends every notice exactly once, across the calls of a flush
 * larger than one call. */
Test(engine, notices_a_failing_stream_held_back_are_sent_once_by_the_retry)
{
    char err[512];
    /* Customer r enters high risk: an alert and a detractor trigger; 150
     * others answer NPS 0: a trigger each. */
    EV(0, "r", T0, "signup", ",\"segment\":\"smb\"");
    drive_r_into_high_risk();
    for (int i = 0; i < 150; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        EV(i % 4, id, T0 + HOUR + 10 + i, "survey", ",\"kind\":\"nps\",\"score\":0");
    }
    redisReply *r = redisCommand(rc, "SET kpi:triggers not-a-stream");
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "SET failed");
    freeReplyObject(r);
    build_of(e, &batch);
    int wrc = ks_redis_sink_write_watched(sink, &batch, err, sizeof err);
    cr_assert_eq(wrc, KS_ERR_REDIS, "the flush must fail at the triggers stream");
    cr_assert(strstr(err, "WRONGTYPE"), "error names the failure: %s", err);
    r = redisCommand(rc, "DEL kpi:triggers");
    freeReplyObject(r);
    flush();
    cr_assert_eq(ntriggers(), 151, "every trigger once: none lost to the failed attempt");
    cr_assert_eq(nalerts(), 1);
    cr_assert_eq(nseen(), 152);
    flush();
    cr_assert_eq(ntriggers(), 151, "an idle flush sends nothing again");
    cr_assert_eq(nalerts(), 1);
    cr_assert_eq(npublished, 1, "the alert was published once");
}

/* The seen ids are kept by UTC day and trimmed by whole days: after the
 * clock moved on, the day of an old trigger is gone, the days within two of
 * the clock stay, and the sorted set an earlier layout kept under
 * kpi:notices:seen drains by time. */
Test(engine, seen_notice_ids_are_trimmed_by_whole_days)
{
    redisReply *r = redisCommand(rc, "ZADD kpi:notices:seen %lld old-layout-old %lld old-layout-new",
                                 (long long)(T0 - DAY), (long long)(T0 + 5 * DAY));
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "ZADD failed");
    freeReplyObject(r);
    EV(0, "a", T0, "survey", ",\"kind\":\"nps\",\"score\":0");
    flush();
    cr_assert_eq(ntriggers(), 1);
    char day0[24], key[64];
    snprintf(day0, sizeof day0, "%lld", (long long)(T0 / DAY));
    snprintf(key, sizeof key, "kpi:notices:seen:%s", day0);
    cr_assert_eq(rcall_ll("HLEN", key), 1, "the trigger's id is kept under its day");
    cr_assert_eq(nseen(), 1);
    /* Four days later: another trigger; T0's day is more than two behind. */
    EV(1, "b", T0 + 4 * DAY, "survey", ",\"kind\":\"nps\",\"score\":0");
    flush();
    cr_assert_eq(ntriggers(), 2);
    cr_assert_eq(rcall_ll("EXISTS", key), 0, "the old day is deleted whole");
    r = redisCommand(rc, "HEXISTS kpi:notices:seen:days %s", day0);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0, "and leaves the index");
    freeReplyObject(r);
    cr_assert_eq(nseen(), 1, "the new trigger's id stays");
    cr_assert_eq(rcall_ll("ZCARD", "kpi:notices:seen"), 1, "the old layout's set drains by time");
    r = redisCommand(rc, "ZSCORE kpi:notices:seen old-layout-new");
    cr_assert(r && r->type == REDIS_REPLY_STRING, "its recent id stays until its time passes");
    freeReplyObject(r);
}

/* Upgraded from the layout that kept the seen ids in one sorted set: an id
 * in it counts as sent, and moves to its day. */
Test(engine, an_id_in_the_old_layouts_seen_set_is_not_sent_again)
{
    char tid[128];
    cr_assert_not_null(ks_trigger_id(KS_TRIGGER_DETRACTOR, "a", 1, T0, tid, sizeof tid));
    redisReply *r = redisCommand(rc, "ZADD kpi:notices:seen %lld %s", (long long)T0, tid);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "ZADD failed");
    freeReplyObject(r);
    EV(0, "a", T0, "survey", ",\"kind\":\"nps\",\"score\":0");
    EV(1, "b", T0 + 1, "survey", ",\"kind\":\"nps\",\"score\":0");
    flush();
    cr_assert_eq(ntriggers(), 1, "only b's trigger: a's was sent by the old layout");
    char key[64];
    snprintf(key, sizeof key, "kpi:notices:seen:%lld", (long long)(T0 / DAY));
    r = redisCommand(rc, "HEXISTS %s %s", key, tid);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "a's id moved to its day");
    freeReplyObject(r);
    cr_assert_eq(nseen(), 2);
}

Test(engine, a_member_that_lost_its_partition_is_fenced)
{
    char err[512];
    EV(0, "A", T0, "purchase", ",\"order_id\":\"o1\",\"amount\":10");
    flush();
    /* A second member takes partition 0 over: it reads what Redis holds for
     * it (offset, token, clock), replays the partition's one message, and
     * flushes a new event. */
    redisReply *tok = redisCommand(rc, "HGET kpi:agg:state tok:t:0");
    cr_assert(tok && tok->type == REDIS_REPLY_STRING, "no token stored for t:0");
    ks_engine *e2 = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e2, "%s", err);
    ks_engine_set_member(e2, "second");
    cr_assert_eq(ks_engine_assign(e2, "t", 0), 0);
    ks_engine_set_restore_point(e2, "t", 0, 1, tok->str, T0);
    freeReplyObject(tok);
    ks_reject why;
    const char *m0 = "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"A\",\"ts\":1795000000000,"
                     "\"order_id\":\"o1\",\"amount\":10}";
    const char *m1 = "{\"event_id\":\"e9\",\"type\":\"purchase\",\"customer_id\":\"A\",\"ts\":1795000001000,"
                     "\"order_id\":\"o9\",\"amount\":7}";
    cr_assert_eq(ks_engine_process(e2, "t", 0, 0, m0, strlen(m0), WALL, &why), KS_ACCEPTED);
    cr_assert(!ks_engine_restoring(e2), "replayed up to the stored offset");
    cr_assert_eq(ks_engine_process(e2, "t", 0, 1, m1, strlen(m1), WALL, &why), KS_ACCEPTED);
    ks_engine_set_eof(e2, "t", 0, true);
    ks_batch b2;
    ks_batch_init(&b2);
    flush_of(e2, &b2);
    cr_assert(!ks_engine_fenced(e2));
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "2", "the replay added nothing, m1 did");
    cr_assert_str_eq(get("kpi:offsets:kpistream", "t:0"), "2");

    /* The first member, unaware, processes m1 too and flushes: fenced,
     * nothing of partition 0 is applied, its offset is not committed. */
    cr_assert_eq(ks_engine_process(e, "t", 0, 1, m1, strlen(m1), WALL, &why), KS_ACCEPTED);
    flush_of(e, &batch);
    cr_assert(ks_engine_fenced(e), "the first member must know it lost the partition");
    cr_assert_str_eq(get("kpi:meta", "events_processed"), "2", "m1 is counted once");
    cr_assert_str_eq(get("kpi:offsets:kpistream", "t:0"), "2");
    ks_engine_position pos[4];
    int np = ks_engine_positions(e, pos, 4);
    for (int i = 0; i < np; i++)
        if (pos[i].partition == 0)
            cr_assert_eq(pos[i].next_offset, -1, "a fenced partition's offset is not committed");
    ks_batch_reset(&b2);
    ks_engine_free(e2);
}

/* HSETs field value into kpi:customer:<c> behind the engine's back. */
static void tamper(const char *c, const char *field, const char *value)
{
    redisReply *r = redisCommand(rc, "HSET kpi:customer:%s %s %s", c, field, value);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "HSET failed");
    freeReplyObject(r);
}

Test(engine, customer_hashes_are_written_as_their_changes)
{
    /* A hash is written as the fields that changed since the last flush
     * built (out_customer.c). Fields set behind the engine's back show what
     * a flush wrote: one it left alone keeps the planted value. */
    EV(0, "d", T0, "purchase", ",\"order_id\":\"o1\",\"amount\":20,\"category\":\"x\"");
    EV(0, "d", T0 + 1000, "survey", ",\"kind\":\"csat\",\"score\":4");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "orders_total"), "1");
    cr_assert_str_eq(get("kpi:customer:d", "aov"), "20.00");
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "4");
    cr_assert_str_eq(get("kpi:customer:d", "interactions_7d"), "0");
    tamper("d", "csat_last", "planted");
    tamper("d", "aov", "planted");
    tamper("d", "interactions_7d", "planted");

    /* An interaction changes interactions_7d and last_event_ms only. */
    EV(0, "d", T0 + HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "interactions_7d"), "1");
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)(T0 + HOUR));
    cr_assert_str_eq(get("kpi:customer:d", "last_event_ms"), want);
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "planted");
    cr_assert_str_eq(get("kpi:customer:d", "aov"), "planted");

    /* A second purchase changes the lifetime money fields, aov with them. */
    EV(0, "d", T0 + 2 * HOUR, "purchase", ",\"order_id\":\"o2\",\"amount\":40,\"category\":\"x\"");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "aov"), "30.00");
    cr_assert_str_eq(get("kpi:customer:d", "orders_total"), "2");
    cr_assert_str_eq(get("kpi:customer:d", "revenue_total"), "60.00");
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "planted");

    /* Time alone moves the rolling fields: 31 days on, with no event of d's
     * (another customer moves the clock), d's 30-day orders fall to 0. */
    tamper("d", "orders_30d", "planted");
    EV(1, "z", T0 + 31 * DAY, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "orders_30d"), "0");
    cr_assert_str_eq(get("kpi:customer:d", "revenue_30d"), "0.00");
    cr_assert_str_eq(get("kpi:customer:d", "clv"), "0.00");
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "planted");
}

Test(engine, a_flush_built_and_not_confirmed_makes_the_next_write_whole)
{
    EV(0, "d", T0, "survey", ",\"kind\":\"csat\",\"score\":5");
    flush();
    tamper("d", "csat_last", "planted");
    tamper("d", "status", "planted");
    /* Built, never written (a lost flush): what it held is unknown, so the
     * next flush writes every field of every customer it carries. */
    EV(0, "d", T0 + HOUR, "interaction", "");
    build_of(e, &batch);
    EV(0, "d", T0 + 2 * HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "5");
    cr_assert_str_eq(get("kpi:customer:d", "status"), "active");
    cr_assert_str_eq(get("kpi:customer:d", "interactions_7d"), "2");
    /* Then changes only again. */
    tamper("d", "csat_last", "planted");
    EV(0, "d", T0 + 3 * HOUR, "interaction", "");
    flush();
    cr_assert_str_eq(get("kpi:customer:d", "csat_last"), "planted");
    cr_assert_str_eq(get("kpi:customer:d", "interactions_7d"), "3");
}
