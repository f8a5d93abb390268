/* A channel name past a small configured limit is folded into "other" the
 * same way whatever the order of arrival, across a restart and in a second
 * member of the group (issue 11, CONTRACT.md section 5 "Names tracked";
 * docs/kpis.md "Which names are tracked"). The real binary, an in-process
 * librdkafka mock cluster, a private redis-server; one prefix ("kpi:") and one
 * consumer group throughout; `--max-channels 2`, so two channel names get a
 * hash of their own and every other name counts in kpi:channel:other.
 *
 *   1. Run 1 (fresh prefix): channels arrive web, app, phone (all on
 *      partition 0, so that order is certain). web and app are registered
 *      (kpi:agg:names:c = {web: 0, app: 1}); phone folds into other.
 *   2. Run 2, a restart of the same group: new events arrive phone first,
 *      then app, then web, with new customers; partition 1's first event ever
 *      is phone. phone still folds into other; totals add up over both runs.
 *   3. Two members started together in the same group (one partition each,
 *      both with --exit-on-eof), where each partition's new events start with
 *      phone: the same folding.
 * After each step the channel hashes hold the values below, worked out by hand,
 * and no kpi:channel:phone exists. No expected value comes from project code.
 *
 * Time line (UTC, epoch ms): D = 2026-11-18 00:00 = 1794960000000, H = 1 hour.
 * Run 1 at D+1h..D+4h30, run 2 at D+1d+1h..D+1d+4h, run 3 at D+2d+1h..
 * D+2d+2h45. With --clock event the clock ends at the newest event time, at
 * most 3 days after the oldest event: every event is in the 30d window (buckets
 * of 12 h, 60 of them), and nobody churns (churn_inactivity 30 days, no
 * cancel). Each customer uses one channel for all their events, so a
 * customer's channel hash is where all their events, orders and revenue go,
 * and where they were acquired (first event).
 *
 *   customer  partition  channel  events (signup + purchases)     run
 *   c1        0          web      signup, purchase 10.00          1
 *   c2        0          app      signup, purchase 20.00          1
 *   c3        0          phone    signup, purchase 40.00          1
 *   c4        0          web      signup, purchase 7.50           1
 *   c5        0          phone    signup, purchase 100.00         2
 *   c6        0          app      signup, purchase 200.00         2
 *   c7        0          web      signup, purchase 400.00         2
 *   c3        0          phone    purchase 2.00                   2
 *   c8        1          phone    signup, purchase 1.25           2
 *   c10       0          phone    signup, purchase 1000.00        3
 *   c11       0          web      signup, purchase 0.50           3
 *   c12       1          phone    signup, purchase 2000.00        3
 *   c13       1          app      signup, purchase 30.00          3
 *
 * Expected (events = all events, orders = purchases, active = purchasing =
 * new = customers = distinct customers on the channel, all in 30d):
 *   after run 1  web   : events 4, orders 2, revenue 10+7.50 = 17.50, customers 2 (c1 c4)
 *                app   : events 2, orders 1, revenue 20.00, customers 1 (c2)
 *                other : events 2, orders 1, revenue 40.00, customers 1 (c3)
 *                global: events 8, orders 4, revenue 77.50, customers 4
 *   after run 2  web   : events 6, orders 3, revenue 417.50, customers 3 (+c7)
 *                app   : events 4, orders 2, revenue 220.00, customers 2 (+c6)
 *                other : events 7, orders 4, revenue 40+100+2+1.25 = 143.25,
 *                        customers 3 (c3 c5 c8)
 *                global: events 17, orders 9, revenue 780.75, customers 8
 *   after run 3  web   : events 8, orders 4, revenue 418.00, customers 4 (+c11)
 *                app   : events 6, orders 3, revenue 250.00, customers 3 (+c13)
 *                other : events 11, orders 6, revenue 3143.25, customers 5 (+c10 c12)
 *                global: events 25, orders 13, revenue 3811.25, customers 12
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "ev"
#define DLQ "ev.dlq"
#define PARTS 2
#define GROUP "fold"
#define RUN_TIMEOUT_MS 40000

#define D 1794960000000LL
#define HR 3600000LL
#define DAY (24 * HR)

typedef struct ev {
    int part;
    const char *cust;
    const char *chan;
    long long ts;
    const char *amount; /* NULL: a signup; else a purchase of that amount */
} ev;

/* clang-format off */
static const ev run1[] = {
    {0, "c1", "web",   D + 1 * HR,          NULL},
    {0, "c1", "web",   D + 1 * HR + HR / 2, "10.00"},
    {0, "c2", "app",   D + 2 * HR,          NULL},
    {0, "c2", "app",   D + 2 * HR + HR / 2, "20.00"},
    {0, "c3", "phone", D + 3 * HR,          NULL},
    {0, "c3", "phone", D + 3 * HR + HR / 2, "40.00"},
    {0, "c4", "web",   D + 4 * HR,          NULL},
    {0, "c4", "web",   D + 4 * HR + HR / 2, "7.50"},
};
static const ev run2[] = { /* reverse order: phone, app, web */
    {1, "c8", "phone", DAY + D + 1 * HR,          NULL},
    {1, "c8", "phone", DAY + D + 1 * HR + HR / 4, "1.25"},
    {0, "c5", "phone", DAY + D + 1 * HR,          NULL},
    {0, "c5", "phone", DAY + D + 1 * HR + HR / 2, "100.00"},
    {0, "c6", "app",   DAY + D + 2 * HR,          NULL},
    {0, "c6", "app",   DAY + D + 2 * HR + HR / 2, "200.00"},
    {0, "c7", "web",   DAY + D + 3 * HR,          NULL},
    {0, "c7", "web",   DAY + D + 3 * HR + HR / 2, "400.00"},
    {0, "c3", "phone", DAY + D + 4 * HR,          "2.00"},
};
static const ev run3[] = { /* each partition's new events start with phone */
    {0, "c10", "phone", 2 * DAY + D + 1 * HR,              NULL},
    {0, "c10", "phone", 2 * DAY + D + 1 * HR + HR / 2,     "1000.00"},
    {0, "c11", "web",   2 * DAY + D + 2 * HR,              NULL},
    {0, "c11", "web",   2 * DAY + D + 2 * HR + HR / 2,     "0.50"},
    {1, "c12", "phone", 2 * DAY + D + 1 * HR + HR / 4,     NULL},
    {1, "c12", "phone", 2 * DAY + D + 1 * HR + 3 * HR / 4, "2000.00"},
    {1, "c13", "app",   2 * DAY + D + 2 * HR + HR / 4,     NULL},
    {1, "c13", "app",   2 * DAY + D + 2 * HR + 3 * HR / 4, "30.00"},
};
/* clang-format on */

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc m[2];
    redisContext *rc;
    int seq;       /* event ids */
    int failures;  /* failed field checks (cr_expect keeps going) */
    bool finished; /* the test body ran to its end */
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

/* Also runs when an assertion aborted the test: members stopped by PID, both
 * servers stopped, logs shown if anything failed. */
static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (g.m[i].pid && !g.m[i].exited)
            kst_proc_stop(&g.m[i], 5000);
        if ((!g.finished || g.failures) && g.m[i].log_path[0] &&
            access(g.m[i].log_path, F_OK) == 0)
            kst_log_tail(g.m[i].log_path, 60);
    }
    if (g.rc)
        redisFree(g.rc);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

static void produce(const ev *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ev *e = &evs[i];
        char buf[512];
        int len;
        g.seq++;
        if (e->amount)
            len = snprintf(buf, sizeof buf,
                           "{\"event_id\":\"f%02d\",\"type\":\"purchase\",\"customer_id\":\"%s\","
                           "\"channel\":\"%s\",\"order_id\":\"o%02d\",\"amount\":%s,\"ts\":%lld}",
                           g.seq, e->cust, e->chan, g.seq, e->amount, e->ts);
        else
            len = snprintf(buf, sizeof buf,
                           "{\"event_id\":\"f%02d\",\"type\":\"signup\",\"customer_id\":\"%s\","
                           "\"segment\":\"smb\",\"channel\":\"%s\",\"ts\":%lld}",
                           g.seq, e->cust, e->chan, e->ts);
        cr_assert(len > 0 && (size_t)len < sizeof buf);
        cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, e->part, e->cust, strlen(e->cust), buf,
                                       (size_t)len),
                     0, "%s", kst_last_error());
    }
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", g.kafka.last_delivery_error);
}

/* Starts member i of the group with --exit-on-eof, --max-channels 2. */
static void spawn(int i, const char *logname)
{
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", g.dir, logname);
    const char *const args[] = {"run",
                                "--brokers",
                                g.kafka.bootstraps,
                                "--topics",
                                TOPIC,
                                "--group",
                                GROUP,
                                "--redis",
                                kst_redis_url(&g.redis),
                                "--clock",
                                "event",
                                "--flush-interval-ms",
                                "50",
                                "--kafka.session.timeout.ms",
                                "4000",
                                "--kafka.heartbeat.interval.ms",
                                "500",
                                "--max-channels",
                                "2",
                                "--exit-on-eof",
                                NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.m[i], log, args, NULL), 0, "%s", kst_last_error());
}

static void expect_exit0(int i)
{
    int status = -1;
    int rc = kst_proc_wait(&g.m[i], RUN_TIMEOUT_MS, &status);
    cr_assert_eq(rc, 0, "member %d did not exit within %d ms: %s", i, RUN_TIMEOUT_MS,
                 kst_last_error());
    cr_assert_eq(status, 0, "member %d exited with status %d", i, status);
}

/* Compares one hash field with want; counts a failure and keeps going. */
static void expect_field(const char *key, const char *field, const char *want, const char *when)
{
    char got[128];
    int rc = kst_redis_hget(g.rc, key, field, got, sizeof got);
    if (rc != 1)
        snprintf(got, sizeof got, "%s", rc == 0 ? "(absent)" : "(error)");
    bool ok = rc == 1 && strcmp(got, want) == 0;
    if (!ok)
        g.failures++;
    cr_expect(ok, "%s: %s %s = %s, want %s", when, key, field, got, want);
}

typedef struct want {
    const char *key;
    const char *events, *orders, *revenue, *customers;
} want;

static void expect_hash(const want *w, const char *when)
{
    expect_field(w->key, "events:30d", w->events, when);
    expect_field(w->key, "orders:30d", w->orders, when);
    expect_field(w->key, "revenue:30d", w->revenue, when);
    /* One channel per customer: active = purchasing = new = base. */
    expect_field(w->key, "active_customers:30d", w->customers, when);
    expect_field(w->key, "purchasing_customers:30d", w->customers, when);
    expect_field(w->key, "new_customers:30d", w->customers, when);
    expect_field(w->key, "customers:30d", w->customers, when);
}

/* The channel keys that exist, space-separated and sorted (KEYS is fine on a
 * private instance holding a few dozen keys). */
static void channel_keys(char *out, size_t n)
{
    redisReply *r = redisCommand(g.rc, "KEYS kpi:channel:*");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "KEYS failed");
    const char *names[16];
    size_t k = 0;
    for (size_t i = 0; i < r->elements && k < 16; i++)
        names[k++] = r->element[i]->str;
    for (size_t i = 1; i < k; i++) /* insertion sort */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? " " : "", names[i]);
    freeReplyObject(r);
}

/* The registry holds exactly web -> 0, app -> 1; the only channel hashes are
 * app, other and web (no kpi:channel:phone). */
static void expect_folding(const char *when)
{
    char keys[512];
    channel_keys(keys, sizeof keys);
    bool ok = strcmp(keys, "kpi:channel:app kpi:channel:other kpi:channel:web") == 0;
    if (!ok)
        g.failures++;
    cr_expect(ok, "%s: channel hashes are [%s], want app, other, web (phone folded)", when, keys);
    redisReply *r = redisCommand(g.rc, "HLEN kpi:agg:names:c");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "HLEN failed");
    if (r->integer != 2)
        g.failures++;
    cr_expect_eq(r->integer, 2, "%s: the channel registry holds %lld names, want 2 (web, app)",
                 when, r->integer);
    freeReplyObject(r);
    expect_field("kpi:agg:names:c", "web", "0", when);
    expect_field("kpi:agg:names:c", "app", "1", when);
}

static void expect_processed(const char *n, const char *when)
{
    expect_field("kpi:meta", "events_processed", n, when);
    expect_field("kpi:meta", "events_rejected", "0", when);
}

TestSuite(channel_fold, .init = setup, .fini = teardown, .timeout = 120);

Test(channel_fold, past_the_limit_folded_alike_in_any_order_restart_and_member)
{
    int64_t t0 = kst_now_ms();
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, DLQ, 1), 0, "%s", kst_last_error());
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    /* 1. Fresh prefix: web, app, phone. */
    produce(run1, sizeof run1 / sizeof run1[0]);
    spawn(0, "run1");
    expect_exit0(0);
    const char *w1 = "after run 1";
    expect_folding(w1);
    expect_hash(&(want){"kpi:channel:web", "4", "2", "17.50", "2"}, w1);
    expect_hash(&(want){"kpi:channel:app", "2", "1", "20.00", "1"}, w1);
    expect_hash(&(want){"kpi:channel:other", "2", "1", "40.00", "1"}, w1);
    expect_hash(&(want){"kpi:global", "8", "4", "77.50", "4"}, w1);
    expect_processed("8", w1);
    cr_assert_eq(g.failures, 0, "run 1 is wrong: see above");

    /* 2. Restart of the group: phone, app, web, new customers. */
    produce(run2, sizeof run2 / sizeof run2[0]);
    spawn(0, "run2");
    expect_exit0(0);
    const char *w2 = "after the restart";
    expect_folding(w2);
    expect_hash(&(want){"kpi:channel:web", "6", "3", "417.50", "3"}, w2);
    expect_hash(&(want){"kpi:channel:app", "4", "2", "220.00", "2"}, w2);
    expect_hash(&(want){"kpi:channel:other", "7", "4", "143.25", "3"}, w2);
    expect_hash(&(want){"kpi:global", "17", "9", "780.75", "8"}, w2);
    expect_processed("17", w2);
    cr_assert_eq(g.failures, 0, "the restart is wrong: see above");

    /* 3. Two members together, one partition each, phone first in both. */
    produce(run3, sizeof run3 / sizeof run3[0]);
    spawn(0, "member-A");
    spawn(1, "member-B");
    expect_exit0(0);
    expect_exit0(1);
    /* Both took part: each was assigned a partition (src/kafka/source.c logs
     * "assigned ev[<p>]"). */
    for (int i = 0; i < 2; i++)
        cr_expect(kst_file_contains(g.m[i].log_path, " assigned " TOPIC "["),
                  "member %c was never assigned a partition", 'A' + i);
    const char *w3 = "after two members";
    expect_folding(w3);
    expect_hash(&(want){"kpi:channel:web", "8", "4", "418.00", "4"}, w3);
    expect_hash(&(want){"kpi:channel:app", "6", "3", "250.00", "3"}, w3);
    expect_hash(&(want){"kpi:channel:other", "11", "6", "3143.25", "5"}, w3);
    expect_hash(&(want){"kpi:global", "25", "13", "3811.25", "12"}, w3);
    expect_processed("25", w3);

    fprintf(stderr, "channel_fold: %lld ms\n", (long long)(kst_now_ms() - t0));
    g.finished = true;
}
