/* The engine end to end without Kafka or Redis: events in, Redis commands
 * out. The commands are applied to a tiny in-test hash store so assertions
 * read what Redis would hold. Expected values are worked out by hand in the
 * comments next to them. */
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/hll.h"

#include <criterion/criterion.h>
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

typedef struct kv {
    char key[96], field[64], value[64];
} kv;
static kv store[8192];
static int nstore;

static void store_set(const char *key, size_t klen, const char *field, size_t flen,
                      const char *value, size_t vlen, bool del)
{
    for (int i = 0; i < nstore; i++)
        if (strlen(store[i].key) == klen && !memcmp(store[i].key, key, klen) &&
            strlen(store[i].field) == flen && !memcmp(store[i].field, field, flen)) {
            if (del)
                store[i] = store[--nstore];
            else
                snprintf(store[i].value, sizeof store[i].value, "%.*s", (int)vlen, value);
            return;
        }
    if (del)
        return;
    cr_assert_lt(nstore, 8192);
    snprintf(store[nstore].key, sizeof store[0].key, "%.*s", (int)klen, key);
    snprintf(store[nstore].field, sizeof store[0].field, "%.*s", (int)flen, field);
    snprintf(store[nstore].value, sizeof store[0].value, "%.*s", (int)vlen, value);
    nstore++;
}

static const char *get(const char *key, const char *field)
{
    for (int i = 0; i < nstore; i++)
        if (!strcmp(store[i].key, key) && !strcmp(store[i].field, field))
            return store[i].value;
    return NULL;
}

static int hset_fields_in_last_flush;
static int nalerts, npublished, ntriggers;
static char last_notice[1024];
static uint8_t hll_bytes[4][KS_HLL_DENSE_SIZE];

/* Moves the clock (all partitions at their end) and applies one flush. */
static void flush(void)
{
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
    ks_engine_tick(e, WALL);
    cr_assert_eq(ks_engine_build_flush(e, &batch, WALL), 0);
    hset_fields_in_last_flush = 0;
    for (size_t i = 0; i < batch.ncmds; i++) {
        const char *argv[512];
        size_t lens[512];
        size_t n = ks_batch_get(&batch, i, argv, lens, 512);
        if (!strcmp(argv[0], "SET")) { /* an HLL: keep its bytes for the HLL test */
            cr_assert_eq(lens[2], KS_HLL_DENSE_SIZE);
            for (int w = 0; w < 4; w++)
                if (!strcmp(argv[1] + strlen("kpi:hll:active:"), cfg.windows[w].name))
                    memcpy(hll_bytes[w], argv[2], lens[2]);
            continue;
        }
        if (!strcmp(argv[0], "DEL")) {
            for (int k = nstore - 1; k >= 0; k--)
                if (!strcmp(store[k].key, argv[1]))
                    store[k] = store[--nstore];
            continue;
        }
        if (!strcmp(argv[0], "ZREMRANGEBYSCORE"))
            continue; /* trimming the seen ids: not modelled here */
        if (!strcmp(argv[0], "EVAL")) { /* a notice: KEYS seen, stream; ARGV id, at, chan, json */
            cr_assert_geq(n, 9);
            if (get("notices:seen", argv[5])) /* the script adds an id only once */
                continue;
            store_set("notices:seen", 12, argv[5], lens[5], "1", 1, false);
            if (!strcmp(argv[4], "kpi:alerts"))
                nalerts++;
            else
                ntriggers++;
            if (lens[8]) {
                npublished++;
                snprintf(last_notice, sizeof last_notice, "%s", argv[8]);
            }
            continue;
        }
        if (!strcmp(argv[0], "ZREM")) {
            store_set(argv[1], lens[1], argv[2], lens[2], "", 0, true);
            continue;
        }
        if (!strcmp(argv[0], "ZADD")) { /* member -> score, as a field */
            for (size_t a = 2; a + 1 < n; a += 2)
                store_set(argv[1], lens[1], argv[a + 1], lens[a + 1], argv[a], lens[a], false);
            continue;
        }
        bool del = !strcmp(argv[0], "HDEL");
        cr_assert(del || !strcmp(argv[0], "HSET"), "unexpected command %s", argv[0]);
        for (size_t a = 2; a < n; a += del ? 1 : 2) {
            store_set(argv[1], lens[1], argv[a], lens[a], del ? "" : argv[a + 1],
                      del ? 0 : lens[a + 1], del);
            if (!del && !strncmp(argv[1], "kpi:global", lens[1]))
                hset_fields_in_last_flush++;
        }
    }
    ks_engine_flush_done(e);
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
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    cfg.dedup_horizon_ms = 30 * DAY;
    e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    for (int p = 0; p < 4; p++)
        cr_assert_eq(ks_engine_assign(e, "t", p), 0);
    ks_batch_init(&batch);
    nstore = 0;
    eid = 0;
    memset(offsets, 0, sizeof offsets);
}

static void teardown(void)
{
    ks_engine_free(e);
    ks_batch_reset(&batch);
    ks_config_free(&cfg);
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

Test(engine, second_flush_sends_only_changes_and_removes_undefined_ratios)
{
    EV(0, "a", T0, "survey", ",\"kind\":\"csat\",\"score\":5");
    flush();
    cr_assert_str_eq(get("kpi:global", "csat:1h"), "100.00");
    flush();
    cr_assert_eq(hset_fields_in_last_flush, 0, "nothing changed, nothing sent");
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
    cr_assert_str_eq(get("kpi:segment:smb", "active_customers:24h"), "0");
    cr_assert_str_eq(get("kpi:segment:ent", "active_customers:24h"), "1");
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

Test(engine, channel_hashes_leave_out_repurchase_rate)
{
    EV(0, "a", T0, "purchase", ",\"order_id\":\"1\",\"amount\":1,\"channel\":\"web\"");
    EV(0, "a", T0 + 1000, "purchase", ",\"order_id\":\"2\",\"amount\":1,\"channel\":\"web\"");
    flush();
    cr_assert_str_eq(get("kpi:global", "repurchase_rate:1h"), "100.00");
    cr_assert_null(get("kpi:channel:web", "repurchase_rate:1h"));
    cr_assert_str_eq(get("kpi:channel:web", "purchase_frequency:1h"), "2.00");
}

Test(engine, hll_active_matches_distinct_customers_per_window)
{
    EV(0, "a", T0, "signup", "");
    EV(1, "b", T0 + 2 * HOUR, "interaction", "");
    EV(1, "c", T0 + 2 * HOUR + 1000, "interaction", "");
    EV(1, "c", T0 + 2 * HOUR + 2000, "interaction", "");
    flush();
    /* Read the bytes as Redis would (PFCOUNT): 1h has b and c, 24h a, b, c. */
    ks_hll h;
    char err[128];
    cr_assert_eq(ks_hll_load(&h, hll_bytes[0], KS_HLL_DENSE_SIZE, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_hll_count(&h), 2);
    cr_assert_eq(ks_hll_load(&h, hll_bytes[1], KS_HLL_DENSE_SIZE, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_hll_count(&h), 3);
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
    /* Two complaints, one resolved; first responses 60 s and 180 s. */
    cr_assert_str_eq(get("kpi:global", "complaint_resolution_rate:1h"), "50.00");
    cr_assert_str_eq(get("kpi:global", "response_time_p50:1h"), "60000"); /* rank floor(0.5*1)=0 */
    cr_assert_str_eq(get("kpi:global", "response_time_p99:1h"), "60000");
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
    cr_assert_str_eq(get("kpi:global", "response_time_p90:24h"), "60000"); /* floor(0.9*1)=0 */
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

Test(engine, drift_into_high_risk_alerts_once_then_recovers)
{
    EV(0, "r", T0, "signup", ",\"segment\":\"smb\"");
    EV(0, "r", T0 + 60000, "interaction", "");
    flush();
    cr_assert_eq(ntriggers, 0);
    cr_assert_eq(nalerts, 0);
    /* Trouble: NPS 0 (25 points), CSAT 1 (15), two payment failures (15),
     * a downgrade (10), two complaints (10) = 75 >= 70: high. */
    EV(0, "r", T0 + HOUR, "survey", ",\"kind\":\"nps\",\"score\":0");
    EV(0, "r", T0 + HOUR + 1, "survey", ",\"kind\":\"csat\",\"score\":1");
    EV(0, "r", T0 + HOUR + 2, "payment_failed", "");
    EV(0, "r", T0 + HOUR + 3, "payment_failed", "");
    EV(0, "r", T0 + HOUR + 4, "subscription", ",\"action\":\"downgrade\"");
    EV(0, "r", T0 + HOUR + 5, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true");
    EV(0, "r", T0 + HOUR + 6, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"opened\",\"complaint\":true");
    flush();
    cr_assert_str_eq(get("kpi:customer:r", "risk_level"), "high");
    cr_assert_str_eq(get("kpi:customer:r", "risk_score"), "75");
    cr_assert_str_eq(get("kpi:risk", "r"), "75");
    cr_assert_eq(nalerts, 1, "one alert on entering high");
    cr_assert_eq(ntriggers, 1, "the NPS 0 answer raised a detractor trigger");
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
    cr_assert_eq(nalerts, 1, "cooldown: no second alert within 24h");
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
    ks_hll h;
    char err[128];
    cr_assert_eq(ks_hll_load(&h, hll_bytes[0], KS_HLL_DENSE_SIZE, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_hll_count(&h), 2, "b and c are active in the last hour");
    cr_assert_str_eq(get("kpi:top:product:1h", "p"), "1");
    cr_assert_not_null(get("kpi:global", "order_value_p50:1h"));
    double p50 = strtod(get("kpi:global", "order_value_p50:1h"), NULL);
    cr_assert(p50 >= 9.9 && p50 <= 10.1, "p50 %f within 1 %% of 10", p50);
}

Test(engine, steady_customer_rolling_counts_expire)
{
    /* One interaction a day for 90 days and a complaint on day 1: only 8 day
     * slots, so old days get folded; the folded counts must still expire. */
    EV(0, "s", T0, "ticket", ",\"ticket_id\":\"t\",\"action\":\"opened\",\"complaint\":true");
    for (int d = 0; d < 90; d++)
        EV(0, "s", T0 + d * DAY + HOUR, "interaction", "");
    flush();
    long i28 = strtol(get("kpi:customer:s", "interactions_28d"), NULL, 10);
    long i7 = strtol(get("kpi:customer:s", "interactions_7d"), NULL, 10);
    cr_assert(i28 >= 24 && i28 <= 32, "interactions_28d %ld, about 28 for a steady customer", i28);
    cr_assert(i7 >= 6 && i7 <= 8, "interactions_7d %ld", i7);
    cr_assert_str_eq(get("kpi:customer:s", "complaints_30d"), "0");
}
