/* End-to-end KPI values: a hand-made stream of 38 events (plus one producer
 * retry) through the real kpistream binary, a librdkafka mock cluster and a
 * private redis-server, checked field by field against values derived BY HAND
 * from CONTRACT.md sections 1-4. Nothing here calls project code to compute an
 * expected value: every number below comes with its derivation.
 *
 * Time line (all UTC, epoch ms). D = 2026-11-18 00:00 = 1794960000000 (day
 * 20775 since the epoch, so every D+n 00:00 is a day edge). The final clock
 * with --clock event --exit-on-eof is the newest event time:
 *     C = D+2 12:00 = 1795176000000, today = floor(C / 86400000) = 20777.
 * Windows at C (bucket width b = W/60; window = buckets (floor(C/b)-60, floor(C/b)]):
 *     1h  : b = 1 min,  C is a minute edge  -> covers t >= C - 59 min = D+2 11:01
 *     24h : b = 24 min, C/b = 1246650 exact -> covers t >= C - 23h36m = D+1 12:24
 *     7d  : b = 168 min, floor(C/b) = 178092 -> covers t >= 178033*b = D-5 12:24
 *     30d : b = 12 h,   C is a 12 h edge    -> covers t >= C - 29d12h = D-27 00:00
 * Every event below sits at least 30 min away from those edges.
 *
 * Customers (key = customer_id, so each customer's events stay in order in one
 * of the 3 partitions):
 *   c1 smb, acquired on web, first event 9 days before D (in 30d, not in 7d)
 *   c2 enterprise, acquired on app
 *   c3 first seen by a social interaction (smb, no signup first), later signup
 *      adds nothing, then moves to enterprise on E24 (last segment wins)
 *   c4 enterprise, acquired on web, cancels on E21 -> churned
 *   c5 smb, acquired on app, new within the last hour
 * Channels: web, app, social. Two marketing_spend events carry no customer.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define C_MS 1795176000000LL

typedef struct fixture_event {
    const char *key; /* customer_id, the message key (NULL: no key) */
    const char *json; /* with ' for " to stay readable; converted before producing */
} fixture_event;

/* clang-format off */
static const fixture_event events[] = {
    /* E01 D-9 10:00 */ {"c1", "{'event_id':'e01','type':'signup','customer_id':'c1','segment':'smb','channel':'web','ts':1794218400000}"},
    /* E02 D-9 10:30 */ {"c1", "{'event_id':'e02','type':'interaction','customer_id':'c1','channel':'web','action':'browse','ts':1794220200000}"},
    /* E03 D+0 02:00 */ {"c1", "{'event_id':'e03','type':'purchase','customer_id':'c1','channel':'web','order_id':'o1','amount':40.00,'category':'shoes','product':'runner','ts':1794967200000}"},
    /* E04 D+0 03:00 */ {"c2", "{'event_id':'e04','type':'signup','customer_id':'c2','segment':'enterprise','channel':'app','ts':1794970800000}"},
    /* E05 D+0 03:05 */ {"c2", "{'event_id':'e05','type':'lead','customer_id':'c2','channel':'app','action':'created','ts':1794971100000}"},
    /* E06 D+0 03:30 */ {"c2", "{'event_id':'e06','type':'lead','customer_id':'c2','channel':'app','action':'converted','ts':1794972600000}"},
    /* E07 D+0 04:00 */ {"c2", "{'event_id':'e07','type':'purchase','customer_id':'c2','channel':'app','order_id':'o2','amount':120.50,'category':'software','product':'suite','ts':1794974400000}"},
    /* E07 again: same event_id, same bytes (producer retry) -> counted once */ {"c2", "{'event_id':'e07','type':'purchase','customer_id':'c2','channel':'app','order_id':'o2','amount':120.50,'category':'software','product':'suite','ts':1794974400000}"},
    /* E08 D+0 04:05 */ {"c2", "{'event_id':'e08','type':'subscription','customer_id':'c2','channel':'app','action':'start','ts':1794974700000}"},
    /* E09 D+0 05:00 */ {NULL, "{'event_id':'e09','type':'marketing_spend','channel':'social','amount':300,'campaign':'launch','ts':1794978000000}"},
    /* E10 D+0 06:00 */ {"c3", "{'event_id':'e10','type':'interaction','customer_id':'c3','segment':'smb','channel':'social','action':'like','ts':1794981600000}"},
    /* E11 D+0 06:40 */ {"c3", "{'event_id':'e11','type':'signup','customer_id':'c3','channel':'social','ts':1794984000000}"},
    /* E12 D+0 08:00 */ {"c1", "{'event_id':'e12','type':'ticket','customer_id':'c1','channel':'web','ticket_id':'t1','action':'opened','complaint':true,'category':'billing','ts':1794988800000}"},
    /* E13 D+0 09:00 */ {"c1", "{'event_id':'e13','type':'ticket','customer_id':'c1','channel':'web','ticket_id':'t1','action':'responded','ts':1794992400000}"},
    /* E14 D+0 10:00 */ {"c2", "{'event_id':'e14','type':'ticket','customer_id':'c2','channel':'app','ticket_id':'t2','action':'opened','complaint':false,'ts':1794996000000}"},
    /* E15 D+1 09:00 */ {"c2", "{'event_id':'e15','type':'payment_failed','customer_id':'c2','channel':'app','amount':120.50,'ts':1795078800000}"},
    /* E16 D+1 10:00 */ {"c4", "{'event_id':'e16','type':'signup','customer_id':'c4','segment':'enterprise','channel':'web','ts':1795082400000}"},
    /* E17 D+1 11:00 */ {"c1", "{'event_id':'e17','type':'purchase','customer_id':'c1','channel':'web','order_id':'o3','amount':25,'category':'hats','ts':1795086000000}"},
    /* E18 D+1 11:30 */ {"c1", "{'event_id':'e18','type':'refund','customer_id':'c1','channel':'web','order_id':'o1','amount':10.00,'ts':1795087800000}"},
    /* E19 D+1 14:00 */ {"c4", "{'event_id':'e19','type':'purchase','customer_id':'c4','channel':'web','order_id':'o4','amount':60,'category':'software','ts':1795096800000}"},
    /* E20 D+1 15:00 */ {"c2", "{'event_id':'e20','type':'subscription','customer_id':'c2','channel':'app','action':'upgrade','ts':1795100400000}"},
    /* E21 D+1 16:00 */ {"c4", "{'event_id':'e21','type':'subscription','customer_id':'c4','channel':'web','action':'cancel','ts':1795104000000}"},
    /* E22 D+1 17:00 */ {"c1", "{'event_id':'e22','type':'ticket','customer_id':'c1','channel':'web','ticket_id':'t1','action':'opened','complaint':true,'ts':1795107600000}"},
    /* E23 D+1 18:00 */ {"c1", "{'event_id':'e23','type':'ticket','customer_id':'c1','channel':'web','ticket_id':'t1','action':'resolved','ts':1795111200000}"},
    /* E24 D+1 20:00 */ {"c3", "{'event_id':'e24','type':'interaction','customer_id':'c3','segment':'enterprise','channel':'app','ts':1795118400000}"},
    /* E25 D+1 22:00 */ {"c2", "{'event_id':'e25','type':'survey','customer_id':'c2','channel':'app','kind':'nps','score':6,'ts':1795125600000}"},
    /* E26 D+2 02:00 */ {"c1", "{'event_id':'e26','type':'interaction','customer_id':'c1','channel':'web','ts':'2026-11-20T03:00:00+01:00'}"},
    /* E27 D+2 09:00 */ {"c2", "{'event_id':'e27','type':'purchase','customer_id':'c2','channel':'app','order_id':'o6','amount':80,'category':'hardware','ts':1795165200000}"},
    /* E28 D+2 10:00 */ {"c2", "{'event_id':'e28','type':'retention_spend','customer_id':'c2','channel':'app','amount':20,'ts':1795168800000}"},
    /* E29 D+2 11:10 */ {NULL, "{'event_id':'e29','type':'marketing_spend','channel':'web','amount':50.00,'ts':1795173000000}"},
    /* E30 D+2 11:15 */ {"c5", "{'event_id':'e30','type':'signup','customer_id':'c5','segment':'smb','channel':'app','ts':1795173300000}"},
    /* E31 D+2 11:20 */ {"c5", "{'event_id':'e31','type':'interaction','customer_id':'c5','channel':'app','ts':1795173600000}"},
    /* E32 D+2 11:30 */ {"c5", "{'event_id':'e32','type':'purchase','customer_id':'c5','channel':'app','order_id':'o5','amount':30,'category':'shoes','ts':1795174200000}"},
    /* E33 D+2 11:40 */ {"c3", "{'event_id':'e33','type':'interaction','customer_id':'c3','channel':'social','action':'share','ts':1795174800000}"},
    /* E34 D+2 11:45 */ {"c3", "{'event_id':'e34','type':'survey','customer_id':'c3','channel':'social','kind':'csat','score':5,'ts':1795175100000}"},
    /* E35 D+2 11:50 */ {"c1", "{'event_id':'e35','type':'survey','customer_id':'c1','channel':'web','kind':'nps','score':9,'ts':1795175400000}"},
    /* E36 D+2 11:55 */ {"c5", "{'event_id':'e36','type':'referral','customer_id':'c5','channel':'app','referred_customer_id':'c9','ts':1795175700000}"},
    /* E37 D+2 11:58 */ {"c1", "{'event_id':'e37','type':'survey','customer_id':'c1','channel':'web','kind':'csat','score':3,'ts':1795175880000}"},
    /* E38 D+2 12:00 */ {"c1", "{'event_id':'e38','type':'retention_spend','customer_id':'c1','channel':'web','amount':15.00,'ts':1795176000000}"},
};
/* clang-format on */

/* ------------------------------------------------------------------ */
/* Fixture plumbing: servers, the child, checks that keep going.       */

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    redisContext *rc;
    int failures;  /* failed field checks (cr_expect keeps going) */
    bool finished; /* the test body ran to its end */
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

/* Runs after the test body, also when an assertion aborted it: stops the
 * child and both servers, and shows the child's log if anything failed. */
static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited)
        kst_proc_stop(&g.proc, 5000);
    if ((!g.finished || g.failures) && g.proc.log_path[0])
        kst_log_tail(g.proc.log_path, 80);
    if (g.rc)
        redisFree(g.rc);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

/* Produces one fixture line, turning ' into ". */
static void produce(const fixture_event *e)
{
    char buf[1024];
    size_t n = strlen(e->json);
    cr_assert_lt(n, sizeof buf);
    for (size_t i = 0; i <= n; i++)
        buf[i] = e->json[i] == '\'' ? '"' : e->json[i];
    cr_assert_eq(kst_kafka_produce(&g.kafka, "events", -1, e->key, e->key ? strlen(e->key) : 0,
                                   buf, n),
                 0, "%s", kst_last_error());
}

/* Compares one hash field with want (NULL: the field must not exist, checked
 * with HEXISTS). Fills got with what Redis has. Returns true on a match. */
static bool field_is(const char *key, const char *field, const char *want, char *got, size_t n)
{
    if (!want) {
        redisReply *r = redisCommand(g.rc, "HEXISTS %s %s", key, field);
        bool ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        snprintf(got, n, "%s", !r ? "(error)" : ok ? "(absent)" : "(present)");
        if (!ok && r && r->type == REDIS_REPLY_INTEGER)
            kst_redis_hget(g.rc, key, field, got, n);
        freeReplyObject(r);
        return ok;
    }
    int rc = kst_redis_hget(g.rc, key, field, got, n);
    if (rc != 1)
        snprintf(got, n, "%s", rc == 0 ? "(absent)" : "(error)");
    return rc == 1 && strcmp(got, want) == 0;
}

#define EXPECT_FIELD(key, field, want)                                                             \
    do {                                                                                           \
        char got_[128];                                                                            \
        bool ok_ = field_is((key), (field), (want), got_, sizeof got_);                            \
        if (!ok_)                                                                                  \
            g.failures++;                                                                          \
        cr_expect(ok_, "%s %s = %s, want %s", (key), (field), got_, (want) ? (want) : "(absent)"); \
    } while (0)
#define ABSENT NULL

typedef struct kv {
    const char *field;
    const char *want; /* ABSENT: must not exist */
} kv;

#define EXPECT_ALL(key, arr)                                                                       \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < sizeof(arr) / sizeof((arr)[0]); i_++)                            \
            EXPECT_FIELD((key), (arr)[i_].field, (arr)[i_].want);                                  \
    } while (0)

/* Starts redis + a 3-broker mock cluster with "events" (3 partitions) and
 * "events.dlq" (1), produces the fixture and runs kpistream to its end. */
static void run_pipeline(void)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 3), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events", 3), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events.dlq", 1), 0, "%s", kst_last_error());
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
        produce(&events[i]);
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", g.kafka.last_delivery_error);

    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char group[64], log[512];
    snprintf(group, sizeof group, "kpis-%d-%lld", (int)getpid(), (long long)kst_now_ms());
    snprintf(log, sizeof log, "%s/kpistream.log", g.dir);
    char *argv[] = {(char *)bin,       "run",
                    "--brokers",       g.kafka.bootstraps,
                    "--topics",        "events",
                    "--group",         group,
                    "--redis",         (char *)kst_redis_url(&g.redis),
                    "--clock",         "event",
                    "--exit-on-eof",   NULL};
    cr_assert_eq(kst_proc_spawn(&g.proc, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    cr_assert_eq(kst_proc_wait(&g.proc, 90000, &status), 0,
                 "kpistream did not exit by itself within 90 s (--exit-on-eof)");
    cr_assert_eq(status, 0, "kpistream exited with status %d", status);

    /* Exit 0 promises that everything consumed was committed. */
    int64_t end[3], committed[3];
    cr_assert_eq(kst_kafka_end_offsets(&g.kafka, "events", 3, end), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_committed(&g.kafka, group, "events", 3, committed), 0, "%s",
                 kst_last_error());
    int64_t total = 0;
    for (int p = 0; p < 3; p++) {
        total += end[p];
        if (end[p] > 0)
            cr_expect_eq(committed[p], end[p], "partition %d: committed %lld, end %lld", p,
                         (long long)committed[p], (long long)end[p]);
    }
    cr_assert_eq(total, (int64_t)(sizeof events / sizeof events[0]), "every message produced");

    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());
}

static long count_cb_n;
static int count_cb(const kst_msg *m, void *ctx)
{
    (void)m;
    (void)ctx;
    count_cb_n++;
    return 0;
}

TestSuite(pipeline_kpis, .init = setup, .fini = teardown, .timeout = 240);

Test(pipeline_kpis, hand_computed_values)
{
    run_pipeline();

    /* ---- kpi:meta ----
     * 39 messages: 38 distinct event_ids + E07 sent twice.
     * events_processed = 38, duplicates = 1, nothing rejected.
     * clock_ms = newest event time = E38 = C. */
    static const kv meta[] = {
        {"events_processed", "38"},
        {"events_rejected", "0"},
        {"duplicates", "1"},
        {"clock_ms", "1795176000000"},
    };
    EXPECT_ALL("kpi:meta", meta);

    /* Nothing was dead-lettered. */
    count_cb_n = 0;
    cr_expect_eq(kst_kafka_consume_all(&g.kafka, "events.dlq", 30000, count_cb, NULL), 0,
                 "the dead-letter topic must stay empty");

    /* ---- kpi:global, 1h: E29..E38 (t >= D+2 11:01), 10 events ----
     *   E29 marketing_spend web 50.00     E34 c3 survey csat 5 (social)
     *   E30 c5 signup (first event: new)  E35 c1 survey nps 9
     *   E31 c5 interaction app            E36 c5 referral
     *   E32 c5 purchase 30.00 shoes       E37 c1 survey csat 3
     *   E33 c3 interaction social         E38 c1 retention_spend 15.00
     * active = latest event in window: c1 (E38), c3 (E34), c5 (E36) = 3; c2's
     * latest is E28 (D+2 10:00), outside.
     * customers = known and not churned at C: c1 c2 c3 c5 = 4 (c4 cancelled).
     * S (customers at window start D+2 11:01) = c1 c2 c3 = 3. */
    static const kv g1h[] = {
        {"events:1h", "10"},
        {"active_customers:1h", "3"},
        {"new_customers:1h", "1"},        /* c5 */
        {"churned_customers:1h", "0"},    /* c4's cancel is D+1 16:00 */
        {"customers:1h", "4"},
        {"orders:1h", "1"},               /* E32 */
        {"purchasing_customers:1h", "1"}, /* c5 */
        {"interactions:1h", "2"},         /* E31, E33 */
        {"social_interactions:1h", "1"},  /* E33 */
        {"complaints:1h", "0"},
        {"tickets:1h", "0"},
        {"leads:1h", "0"},
        {"conversions:1h", "0"},
        {"upsells:1h", "0"},
        {"cross_sells:1h", "0"},          /* E32 is c5's first purchase */
        {"referrals:1h", "1"},            /* E36 */
        {"payment_failures:1h", "0"},
        {"csat_responses:1h", "2"},       /* E34, E37 */
        {"nps_responses:1h", "1"},        /* E35 */
        {"revenue:1h", "30.00"},          /* 30.00 - 0 */
        {"refunds:1h", "0.00"},
        {"marketing_spend:1h", "50.00"},  /* E29 */
        {"retention_spend:1h", "15.00"},  /* E38 */
        {"aov:1h", "30.00"},              /* 30.00 / 1 */
        {"purchase_frequency:1h", "1.00"}, /* 1 / 1 */
        {"engagement:1h", "0.67"},        /* 2 / 3 = 0.666.. */
        {"repurchase_rate:1h", "0.00"},   /* c5 bought once: 0 / 1 */
        {"csat:1h", "50.00"},             /* scores 5, 3: one >= 4 of 2 */
        {"nps:1h", "100.00"},             /* one promoter (9) of 1 */
        {"conversion_rate:1h", ABSENT},   /* leads = 0 */
        {"complaint_rate:1h", "0.00"},    /* 0 / 3 */
        {"upsell_rate:1h", "0.00"},       /* 0 / 3 */
        {"cross_sell_rate:1h", "0.00"},   /* 0 / 1 */
        {"cac:1h", "50.00"},              /* 50.00 / 1 new */
        {"churn_rate:1h", "0.00"},        /* 0 / S=3 */
        {"retention_rate:1h", "100.00"},  /* (E=4 - N=1) / S=3 */
        {"retention_cost:1h", "5.00"},    /* 15.00 / (S=3 - 0) */
    };
    EXPECT_ALL("kpi:global", g1h);

    /* ---- kpi:global, 24h: E19..E38 (t >= D+1 12:24), 20 events ----
     *   E19 c4 purchase 60.00 software    E25 c2 survey nps 6
     *   E20 c2 subscription upgrade       E26 c1 interaction web (RFC 3339 ts)
     *   E21 c4 subscription cancel        E27 c2 purchase 80.00 hardware
     *   E22 c1 ticket t1 opened again     E28 c2 retention_spend 20.00
     *   E23 c1 ticket t1 resolved         E29..E38 as in 1h
     *   E24 c3 interaction app (moves to enterprise)
     * E18 (refund, D+1 11:30) and E15 (payment_failed, D+1 09:00) are outside.
     * active: c1 (E38) c2 (E28) c3 (E34) c4 (E21) c5 (E36) = 5.
     * S at D+1 12:24 = c1 c2 c3 c4 = 4; in the window c4 leaves, c5 joins. */
    static const kv g24h[] = {
        {"events:24h", "20"},
        {"active_customers:24h", "5"},
        {"new_customers:24h", "1"},        /* c5; c4's signup E16 is D+1 10:00 */
        {"churned_customers:24h", "1"},    /* c4, E21 */
        {"customers:24h", "4"},
        {"orders:24h", "3"},               /* E19, E27, E32 */
        {"purchasing_customers:24h", "3"}, /* c4, c2, c5 */
        {"interactions:24h", "4"},         /* E24, E26, E31, E33 */
        {"social_interactions:24h", "1"},  /* E33 (E24 is app) */
        {"complaints:24h", "0"},           /* E22 repeats t1's open: not a new ticket */
        {"tickets:24h", "0"},
        {"leads:24h", "0"},
        {"conversions:24h", "0"},
        {"upsells:24h", "1"},              /* E20 */
        {"cross_sells:24h", "1"},          /* E27: c2 bought software before, not hardware */
        {"referrals:24h", "1"},
        {"payment_failures:24h", "0"},
        {"csat_responses:24h", "2"},       /* E34, E37 */
        {"nps_responses:24h", "2"},        /* E25 (6), E35 (9) */
        {"revenue:24h", "170.00"},         /* 60 + 80 + 30, no refund */
        {"refunds:24h", "0.00"},
        {"marketing_spend:24h", "50.00"},  /* E29 */
        {"retention_spend:24h", "35.00"},  /* 20 + 15 */
        {"aov:24h", "56.67"},              /* 170 / 3 = 56.666.. */
        {"purchase_frequency:24h", "1.00"}, /* 3 / 3 */
        {"engagement:24h", "0.80"},        /* 4 / 5 */
        {"repurchase_rate:24h", "0.00"},   /* nobody bought twice inside the window */
        {"csat:24h", "50.00"},             /* 1 of 2 */
        {"nps:24h", "0.00"},               /* (1 promoter - 1 detractor) / 2 */
        {"conversion_rate:24h", ABSENT},   /* leads = 0 */
        {"complaint_rate:24h", "0.00"},
        {"upsell_rate:24h", "20.00"},      /* 1 / 5 */
        {"cross_sell_rate:24h", "33.33"},  /* 1 / 3 */
        {"cac:24h", "50.00"},              /* 50 / 1 */
        {"churn_rate:24h", "25.00"},       /* 1 / S=4 */
        {"retention_rate:24h", "75.00"},   /* (E=4 - N=1) / S=4 */
        {"retention_cost:24h", "11.67"},   /* 35 / (S=4 - 1) = 11.666.. */
    };
    EXPECT_ALL("kpi:global", g24h);

    /* ---- kpi:global, 7d: everything from E03 on (t >= D-5 12:24): 36 events;
     * E01 (c1's signup) and E02 (its interaction) are 9 days old. */
    static const kv g7d[] = {
        {"events:7d", "36"},
        {"new_customers:7d", "4"},  /* c2 c3 c4 c5; c1 was new 9 days ago */
        {"interactions:7d", "5"},   /* E10 E24 E26 E31 E33 */
        {"active_customers:7d", "5"},
    };
    EXPECT_ALL("kpi:global", g7d);

    /* ---- kpi:global, 30d: all 38 events ----
     * per type: signup 5 (E01 E04 E11 E16 E30), interaction 6 (E02 E10 E24
     * E26 E31 E33), purchase 6 (E03 40.00, E07 120.50, E17 25.00, E19 60.00,
     * E27 80.00, E32 30.00 = 355.50), refund 1 (E18 10.00), subscription 3,
     * payment_failed 1, ticket 5 (E12 E13 E14 E22 E23), survey 4, lead 2,
     * marketing_spend 2 (300 + 50), retention_spend 2 (20 + 15), referral 1.
     * Every customer joined inside the window (c1 at D-9), so S = 0. */
    static const kv g30d[] = {
        {"events:30d", "38"},
        {"active_customers:30d", "5"},
        {"new_customers:30d", "5"},        /* c1 c2 c3 c4 c5 once each; E11 (c3's late signup) adds nothing */
        {"churned_customers:30d", "1"},    /* c4 */
        {"customers:30d", "4"},
        {"orders:30d", "6"},
        {"purchasing_customers:30d", "4"}, /* c1 c2 c4 c5 */
        {"interactions:30d", "6"},
        {"social_interactions:30d", "2"},  /* E10, E33 */
        {"complaints:30d", "1"},           /* E12 (E22 re-opens t1: ignored) */
        {"tickets:30d", "2"},              /* t1 (E12), t2 (E14) */
        {"leads:30d", "1"},                /* E05 */
        {"conversions:30d", "1"},          /* E06 */
        {"upsells:30d", "1"},              /* E20 */
        {"cross_sells:30d", "2"},          /* E17 (c1: hats after shoes), E27 */
        {"referrals:30d", "1"},
        {"payment_failures:30d", "1"},     /* E15 */
        {"csat_responses:30d", "2"},
        {"nps_responses:30d", "2"},
        {"revenue:30d", "345.50"},         /* 355.50 - 10.00 */
        {"refunds:30d", "10.00"},
        {"marketing_spend:30d", "350.00"},
        {"retention_spend:30d", "35.00"},
        {"aov:30d", "59.25"},              /* 355.50 / 6 */
        {"purchase_frequency:30d", "1.50"}, /* 6 / 4 */
        {"engagement:30d", "1.20"},        /* 6 / 5 */
        {"repurchase_rate:30d", "50.00"},  /* c1, c2 bought twice: 2 / 4 */
        {"csat:30d", "50.00"},
        {"nps:30d", "0.00"},
        {"conversion_rate:30d", "100.00"}, /* 1 / 1 */
        {"complaint_rate:30d", "20.00"},   /* 1 / 5 */
        {"upsell_rate:30d", "20.00"},      /* 1 / 5 */
        {"cross_sell_rate:30d", "33.33"},  /* 2 / 6 */
        {"cac:30d", "70.00"},              /* 350 / 5 */
        {"churn_rate:30d", ABSENT},        /* S = 0 */
        {"retention_rate:30d", ABSENT},    /* S = 0 */
    };
    EXPECT_ALL("kpi:global", g30d);

    /* ---- kpi:segment:enterprise ----
     * Enterprise events (the customer's segment when the event is counted):
     * c2 all 11 (E04-E08, E14, E15, E20, E25, E27, E28), c4 all 3 (E16, E19,
     * E21), c3 from its move on (E24, E33, E34); c3's E10, E11 stay in smb.
     * 24h: E19 E20 E21 E24 E25 E27 E28 E33 E34 = 9 events; customers at the
     * end: c2, c3 (c4 churned) = 2; S at D+1 12:24: c2, c4 = 2. */
    static const kv ent[] = {
        {"events:24h", "9"},
        {"active_customers:24h", "3"},     /* c2 (E28), c3 (E34), c4 (E21) */
        {"new_customers:24h", "0"},
        {"churned_customers:24h", "1"},    /* c4 */
        {"customers:24h", "2"},
        {"orders:24h", "2"},               /* E19 60, E27 80 */
        {"purchasing_customers:24h", "2"},
        {"interactions:24h", "2"},         /* E24, E33 */
        {"social_interactions:24h", "1"},  /* E33 */
        {"upsells:24h", "1"},
        {"cross_sells:24h", "1"},
        {"nps_responses:24h", "1"},
        {"csat_responses:24h", "1"},
        {"referrals:24h", "0"},
        {"revenue:24h", "140.00"},
        {"marketing_spend:24h", "0.00"},   /* spend has no customer, so no segment */
        {"retention_spend:24h", "20.00"},  /* E28 */
        {"aov:24h", "70.00"},              /* 140 / 2 */
        {"purchase_frequency:24h", "1.00"},
        {"engagement:24h", "0.67"},        /* 2 / 3 */
        {"churn_rate:24h", "50.00"},       /* 1 / S=2 */
        /* 30d: 11 + 3 + 3 = 17 events */
        {"events:30d", "17"},
        {"new_customers:30d", "2"},        /* c2, c4 (c3 was new while smb) */
        {"orders:30d", "3"},               /* E07 120.50, E19 60, E27 80 */
        {"revenue:30d", "260.50"},
        {"aov:30d", "86.83"},              /* 260.50 / 3 = 86.833.. */
        {"purchasing_customers:30d", "2"}, /* c2, c4 */
        {"purchase_frequency:30d", "1.50"},
        {"leads:30d", "1"},
        {"conversions:30d", "1"},
        {"tickets:30d", "1"},              /* t2 */
        {"complaints:30d", "0"},
        {"payment_failures:30d", "1"},
    };
    EXPECT_ALL("kpi:segment:enterprise", ent);

    /* ---- kpi:segment:smb, 24h: E22 E23 E26 E30 E31 E32 E35 E36 E37 E38 ----
     * c1 and c5 (c3 moved out on E24); 30d: c1's 13 events + c3's E10, E11
     * + c5's 4 = 19. */
    static const kv smb[] = {
        {"events:24h", "10"},
        {"active_customers:24h", "2"},     /* c1, c5 */
        {"new_customers:24h", "1"},        /* c5 */
        {"customers:24h", "2"},            /* c1, c5 */
        {"orders:24h", "1"},
        {"revenue:24h", "30.00"},
        {"interactions:24h", "2"},         /* E26, E31 */
        {"social_interactions:24h", "0"},
        {"engagement:24h", "1.00"},        /* 2 / 2 */
        {"referrals:24h", "1"},
        {"retention_spend:24h", "15.00"},
        {"events:30d", "19"},
        {"new_customers:30d", "3"},        /* c1, c3, c5 */
        {"refunds:30d", "10.00"},          /* E18 */
        {"complaints:30d", "1"},           /* E12 */
    };
    EXPECT_ALL("kpi:segment:smb", smb);

    /* ---- kpi:channel:web ----
     * web events: E01 E02 E03 E12 E13 E16 E17 E18 E19 E21 E22 E23 E26 E29 E35
     * E37 E38 = 17. 24h: E19 E21 E22 E23 E26 E29 E35 E37 E38 = 9.
     * Acquired on web (membership counts): c1, c4. */
    static const kv web[] = {
        {"events:24h", "9"},
        {"active_customers:24h", "2"},     /* c4 (E21), c1 (E38) */
        {"new_customers:24h", "0"},
        {"churned_customers:24h", "1"},    /* c4, acquired on web */
        {"customers:24h", "1"},            /* c1 */
        {"orders:24h", "1"},               /* E19 */
        {"purchasing_customers:24h", "1"},
        {"revenue:24h", "60.00"},
        {"aov:24h", "60.00"},
        {"interactions:24h", "1"},         /* E26 */
        {"engagement:24h", "0.50"},        /* 1 / 2 */
        {"marketing_spend:24h", "50.00"},  /* E29 */
        {"retention_spend:24h", "15.00"},  /* E38 */
        {"csat_responses:24h", "1"},
        {"nps_responses:24h", "1"},
        {"events:30d", "17"},
        {"new_customers:30d", "2"},        /* c1, c4 */
        {"orders:30d", "3"},               /* E03 40, E17 25, E19 60 */
        {"revenue:30d", "115.00"},         /* 125 - 10 (E18) */
        {"aov:30d", "41.67"},              /* 125 / 3 = 41.666.. */
        {"cross_sells:30d", "1"},          /* E17 */
        {"complaints:30d", "1"},           /* E12 */
        {"tickets:30d", "1"},              /* t1 */
    };
    EXPECT_ALL("kpi:channel:web", web);

    /* ---- kpi:channel:social: E09 (marketing 300), E10, E11, E33, E34 ----
     * c3 is the only customer acquired on social. No orders at all, so the
     * order ratios must be absent. */
    static const kv social[] = {
        {"events:30d", "5"},
        {"marketing_spend:30d", "300.00"},
        {"new_customers:30d", "1"},        /* c3 */
        {"active_customers:30d", "1"},
        {"customers:30d", "1"},
        {"interactions:30d", "2"},         /* E10, E33 */
        {"social_interactions:30d", "2"},
        {"engagement:30d", "2.00"},        /* 2 / 1 */
        {"cac:30d", "300.00"},             /* 300 / 1 */
        {"orders:30d", "0"},
        {"revenue:30d", "0.00"},
        {"aov:30d", ABSENT},               /* orders = 0 */
        {"purchase_frequency:30d", ABSENT}, /* purchasing_customers = 0 */
        {"cross_sell_rate:30d", ABSENT},
        {"events:24h", "2"},               /* E33, E34 */
        {"marketing_spend:24h", "0.00"},
        {"cac:24h", ABSENT},               /* new_customers = 0 */
        {"social_interactions:24h", "1"},
        {"aov:24h", ABSENT},
    };
    EXPECT_ALL("kpi:channel:social", social);

    /* ---- kpi:channel:app, 1h: E30 E31 E32 E36 (c5) ---- */
    static const kv app[] = {
        {"events:1h", "4"},
        {"new_customers:1h", "1"},  /* c5 */
        {"active_customers:1h", "1"},
        {"orders:1h", "1"},
        {"revenue:1h", "30.00"},
        {"referrals:1h", "1"},
        {"customers:1h", "2"},      /* acquired on app: c2, c5 */
    };
    EXPECT_ALL("kpi:channel:app", app);

    /* ---- kpi:customer:c1 (today = day 20777) ----
     * purchases E03 40.00 (day 20775), E17 25.00 (day 20776); refund E18
     * 10.00 (day 20776) -> revenue_total 55.00, aov 65 / 2 = 32.50, both
     * purchase days > 20777 - 30 -> orders_30d 2, revenue_30d 55.00.
     * interactions: E02 (day 20766), E26 (day 20777): 7d counts days > 20770
     * -> 1; 28d counts days > 20749 -> 2.
     * t1 opened (E12), opened again (E22, the same ticket), resolved (E23)
     * -> open_tickets 0; one complaint (E12). csat_last 3 (E37, c1's only
     * csat), nps_last 9 (E35). */
    static const kv c1[] = {
        {"segment", "smb"},
        {"first_seen_ms", "1794218400000"}, /* E01 */
        {"last_event_ms", "1795176000000"}, /* E38 */
        {"status", "active"},
        {"orders_total", "2"},
        {"revenue_total", "55.00"},
        {"aov", "32.50"},
        {"orders_30d", "2"},
        {"revenue_30d", "55.00"},
        {"interactions_7d", "1"},
        {"interactions_28d", "2"},
        {"csat_last", "3"},
        {"nps_last", "9"},
        {"open_tickets", "0"},
        {"complaints_30d", "1"},
        {"payment_failures_30d", "0"},
    };
    EXPECT_ALL("kpi:customer:c1", c1);

    /* ---- kpi:customer:c2 ----
     * purchases E07 120.50 (sent twice, counted once) and E27 80.00 ->
     * orders 2, revenue 200.50, aov 100.25; no interactions; nps 6 (E25), no
     * csat; t2 opened, never resolved -> 1 open ticket; one payment failure
     * (E15, day 20776). */
    static const kv c2[] = {
        {"segment", "enterprise"},
        {"first_seen_ms", "1794970800000"}, /* E04 */
        {"last_event_ms", "1795168800000"}, /* E28 */
        {"status", "active"},
        {"orders_total", "2"},
        {"revenue_total", "200.50"},
        {"aov", "100.25"},
        {"orders_30d", "2"},
        {"revenue_30d", "200.50"},
        {"interactions_7d", "0"},
        {"interactions_28d", "0"},
        {"csat_last", ABSENT},
        {"nps_last", "6"},
        {"open_tickets", "1"},
        {"complaints_30d", "0"},
        {"payment_failures_30d", "1"},
    };
    EXPECT_ALL("kpi:customer:c2", c2);

    /* c3 moved to enterprise (last segment wins); c4 cancelled; c5 never
     * bought twice. */
    static const kv c3[] = {
        {"segment", "enterprise"},
        {"first_seen_ms", "1794981600000"}, /* E10, before its signup E11 */
        {"status", "active"},
        {"orders_total", "0"},
        {"aov", ABSENT},
        {"interactions_7d", "3"},           /* E10, E24, E33 */
        {"csat_last", "5"},
    };
    EXPECT_ALL("kpi:customer:c3", c3);
    static const kv c4[] = {
        {"status", "churned"},
        {"segment", "enterprise"},
        {"orders_total", "1"},
        {"revenue_total", "60.00"},
    };
    EXPECT_ALL("kpi:customer:c4", c4);

    g.finished = true;
}
