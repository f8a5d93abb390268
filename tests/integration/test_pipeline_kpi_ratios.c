/* Every KPI of CONTRACT.md section 4, end to end, in two phases: a hand-made
 * stream of 77 events through the real kpistream binary (--clock event
 * --exit-on-eof), a librdkafka mock cluster and a private redis-server, with
 * every ratio, count and sum of kpi:global checked as an exact string for the
 * 1h and 24h windows (and clv, which exists only for 30d). Nothing here calls
 * project code to compute an expected value: each number comes with its
 * derivation from CONTRACT.md and docs/kpis.md.
 *
 * Two runs of the binary, one consumer group, one topic with ONE partition (so
 * the event clock is simply the newest event time read):
 *   phase 1: E01..E44 are produced, the binary runs to the end (clock C1);
 *   phase 2: E45..E77 are produced, the binary runs again: it restores its
 *            state by replaying offsets 0..43 (the offset stored in Redis with
 *            phase 1's outputs), then reads the new events (clock C2).
 * Phase 2 moves the clock 3 hours on, so phase 1's last hour leaves the 1h
 * window while staying in 24h, and the clock alone (no event of the customer)
 * churns customer A by inactivity.
 *
 * Time line (UTC, epoch ms). D = 2026-11-20 00:00 = 1795132800000 (a day edge).
 *     C1 = D+09:00 = 1795165200000 (E44)      C2 = D+12:00 = 1795176000000 (E77)
 * Windows (bucket width b = W/60; the window at clock c holds the buckets n
 * with floor(c/b) - 60 < n <= floor(c/b)):
 *   at C2: 1h  (b = 1 min)  C2 is a minute edge        -> t >= D+11:01
 *          24h (b = 24 min) C2/b = 1246650 exactly     -> t >= C2 - 59 b = D-1 12:24
 *          30d (b = 12 h)   C2/b = 41555 exactly       -> t >= C2 - 59 b = D-29 00:00
 *   at C1: 1h                                          -> t >= D+08:01
 *          24h              C1/b = 1246642.5 -> 1246642 -> t >= 1246583 b = D-1 09:12
 *          30d              C1/b = 41554.75 -> 41554   -> t >= 41495 b = D-30 12:00
 * Every event and every churn is at least 4 minutes away from those edges.
 * churn_inactivity is the default 30 days; gross_margin 0.3, min_churn 0.01.
 *
 * Customers (key = customer_id; all in the one partition):
 *   A   first seen D-31, last event E04 at D-30 10:30 -> churned by inactivity
 *       at D-30 10:30 + 30 d = D+10:30: after C1, before C2's 1h window, so by
 *       the clock moving in phase 2, with no event of A.
 *   B   first seen D-31, silent after E03 at D-30 05:00 -> churned by
 *       inactivity at D+05:00 (phase 1), reactivated by E59 at D+11:30
 *       (phase 2): a join, not a new customer.
 *   k1..k4  the base: first seen D-10, never silent for 30 days; k2 cancels
 *       (E67, D+11:45).
 *   n1 (D+01:00), n2 (D+08:10), n3 (D+11:15): new customers.
 * Base changes (joins +, leaves -): B+ D-31 05:00, A+ D-31 10:00, k1..k4+ D-10,
 * n1+ D+01:00, B- D+05:00, n2+ D+08:10, A- D+10:30, n3+ D+11:15, B+ D+11:30,
 * k2- D+11:45.
 *
 * Tickets (opened -> first responded = response time; resolved):
 *   t0  k4  D-2 09:00 complaint -> D-1 14:00  104400000 (29 h); resolved D-1 15:00
 *   t9  k2  D-1 22:00 complaint -> D-1 23:30    5400000;       resolved D+00:30
 *   t1  n1  D+01:30  complaint -> D+02:00       1800000;       never resolved
 *   t2  k3  D+04:00             -> D+04:20      1200000
 *   t10 n1  D+05:10             -> D+06:10      3600000
 *   t11 k4  D+06:30             -> D+06:45       900000
 *   t3  k3  D+08:20  complaint -> D+11:05       9900000;       resolved D+11:10
 *   t4  k4  D+08:45  complaint -> D+08:50        300000;       never resolved
 *   t12 k2  D+09:40  complaint -> D+11:20       6000000;       resolved D+11:25
 *   t5  k1  D+10:15             -> D+10:55      2400000
 *   t8  k1  D+11:06             -> D+11:14       480000
 *   t6  n3  D+11:40  complaint -> D+11:42        120000;       resolved D+11:44;
 *                                  a second `responded` at D+11:46 is not a first response
 *   t7  k3  D+11:59  complaint, no response, not resolved
 * Response-time quantile = the value at 0-based rank floor(q (n - 1)) of the
 * sorted first-response times whose `responded` is in the window.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture_event {
    const char *key;  /* customer_id, the message key (NULL: no key) */
    const char *json; /* with ' for " to stay readable; converted before producing */
} fixture_event;

/* clang-format off */
static const fixture_event phase1[] = {
    /* E01 D-31 05:00 */ {"B", "{'event_id':'e01','type':'signup','customer_id':'B','channel':'web','ts':1792472400000}"},
    /* E02 D-31 10:00 */ {"A", "{'event_id':'e02','type':'signup','customer_id':'A','channel':'app','ts':1792490400000}"},
    /* E03 D-30 05:00 */ {"B", "{'event_id':'e03','type':'interaction','customer_id':'B','channel':'web','action':'browse','ts':1792558800000}"},
    /* E04 D-30 10:30 */ {"A", "{'event_id':'e04','type':'purchase','customer_id':'A','channel':'app','order_id':'oa1','amount':50.00,'category':'books','ts':1792578600000}"},
    /* E05 D-10 10:00 */ {"k1", "{'event_id':'e05','type':'signup','customer_id':'k1','channel':'web','ts':1794304800000}"},
    /* E06 D-10 10:10 */ {"k2", "{'event_id':'e06','type':'signup','customer_id':'k2','channel':'app','ts':1794305400000}"},
    /* E07 D-10 10:20 */ {"k3", "{'event_id':'e07','type':'signup','customer_id':'k3','channel':'web','ts':1794306000000}"},
    /* E08 D-10 10:30 */ {"k4", "{'event_id':'e08','type':'signup','customer_id':'k4','channel':'social','ts':1794306600000}"},
    /* E09 D-10 11:00 */ {"k1", "{'event_id':'e09','type':'purchase','customer_id':'k1','channel':'web','order_id':'o1','amount':20.00,'category':'shoes','ts':1794308400000}"},
    /* E10 D-10 11:30 */ {"k3", "{'event_id':'e10','type':'lead','customer_id':'k3','channel':'web','action':'created','ts':1794310200000}"},
    /* E11 D-2 09:00 */ {"k4", "{'event_id':'e11','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t0','action':'opened','complaint':true,'ts':1794992400000}"},
    /* E12 D-1 14:00 */ {"k4", "{'event_id':'e12','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t0','action':'responded','ts':1795096800000}"},
    /* E13 D-1 15:00 */ {"k4", "{'event_id':'e13','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t0','action':'resolved','ts':1795100400000}"},
    /* E14 D-1 16:00 */ {"k1", "{'event_id':'e14','type':'purchase','customer_id':'k1','channel':'web','order_id':'o2','amount':30.00,'category':'shoes','ts':1795104000000}"},
    /* E15 D-1 18:00 */ {"k3", "{'event_id':'e15','type':'lead','customer_id':'k3','channel':'web','action':'converted','ts':1795111200000}"},
    /* E16 D-1 20:00 */ {NULL, "{'event_id':'e16','type':'marketing_spend','channel':'social','amount':120.00,'campaign':'autumn','ts':1795118400000}"},
    /* E17 D-1 22:00 */ {"k2", "{'event_id':'e17','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t9','action':'opened','complaint':true,'ts':1795125600000}"},
    /* E18 D-1 23:30 */ {"k2", "{'event_id':'e18','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t9','action':'responded','ts':1795131000000}"},
    /* E19 D+0 00:30 */ {"k2", "{'event_id':'e19','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t9','action':'resolved','ts':1795134600000}"},
    /* E20 D+0 01:00 */ {"n1", "{'event_id':'e20','type':'signup','customer_id':'n1','channel':'web','ts':1795136400000}"},
    /* E21 D+0 01:30 */ {"n1", "{'event_id':'e21','type':'ticket','customer_id':'n1','channel':'web','ticket_id':'t1','action':'opened','complaint':true,'ts':1795138200000}"},
    /* E22 D+0 02:00 */ {"n1", "{'event_id':'e22','type':'ticket','customer_id':'n1','channel':'web','ticket_id':'t1','action':'responded','ts':1795140000000}"},
    /* E23 D+0 02:30 */ {"k2", "{'event_id':'e23','type':'survey','customer_id':'k2','channel':'app','kind':'csat','score':4,'ts':1795141800000}"},
    /* E24 D+0 02:40 */ {"n1", "{'event_id':'e24','type':'lead','customer_id':'n1','channel':'web','action':'created','ts':1795142400000}"},
    /* E25 D+0 03:00 */ {"k1", "{'event_id':'e25','type':'purchase','customer_id':'k1','channel':'web','order_id':'o3','amount':45.00,'category':'hats','ts':1795143600000}"},
    /* E26 D+0 04:00 */ {"k3", "{'event_id':'e26','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t2','action':'opened','complaint':false,'ts':1795147200000}"},
    /* E27 D+0 04:20 */ {"k3", "{'event_id':'e27','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t2','action':'responded','ts':1795148400000}"},
    /* E28 D+0 05:10 */ {"n1", "{'event_id':'e28','type':'ticket','customer_id':'n1','channel':'web','ticket_id':'t10','action':'opened','complaint':false,'ts':1795151400000}"},
    /* E29 D+0 06:00 */ {"k4", "{'event_id':'e29','type':'interaction','customer_id':'k4','channel':'social','action':'like','ts':1795154400000}"},
    /* E30 D+0 06:10 */ {"n1", "{'event_id':'e30','type':'ticket','customer_id':'n1','channel':'web','ticket_id':'t10','action':'responded','ts':1795155000000}"},
    /* E31 D+0 06:30 */ {"k4", "{'event_id':'e31','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t11','action':'opened','complaint':false,'ts':1795156200000}"},
    /* E32 D+0 06:45 */ {"k4", "{'event_id':'e32','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t11','action':'responded','ts':1795157100000}"},
    /* E33 D+0 07:00 */ {"k1", "{'event_id':'e33','type':'refund','customer_id':'k1','channel':'web','order_id':'o1','amount':5.00,'ts':1795158000000}"},
    /* E34 D+0 08:10 */ {"n2", "{'event_id':'e34','type':'signup','customer_id':'n2','channel':'app','ts':1795162200000}"},
    /* E35 D+0 08:15 */ {"n2", "{'event_id':'e35','type':'purchase','customer_id':'n2','channel':'app','order_id':'o4','amount':60.00,'category':'toys','ts':1795162500000}"},
    /* E36 D+0 08:20 */ {"k3", "{'event_id':'e36','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t3','action':'opened','complaint':true,'ts':1795162800000}"},
    /* E37 D+0 08:25 */ {"k4", "{'event_id':'e37','type':'survey','customer_id':'k4','channel':'social','kind':'nps','score':10,'ts':1795163100000}"},
    /* E38 D+0 08:30 */ {"k2", "{'event_id':'e38','type':'survey','customer_id':'k2','channel':'app','kind':'csat','score':2,'ts':1795163400000}"},
    /* E39 D+0 08:35 */ {"k1", "{'event_id':'e39','type':'interaction','customer_id':'k1','channel':'web','action':'browse','ts':1795163700000}"},
    /* E40 D+0 08:40 */ {"n2", "{'event_id':'e40','type':'lead','customer_id':'n2','channel':'app','action':'created','ts':1795164000000}"},
    /* E41 D+0 08:45 */ {"k4", "{'event_id':'e41','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t4','action':'opened','complaint':true,'ts':1795164300000}"},
    /* E42 D+0 08:50 */ {"k4", "{'event_id':'e42','type':'ticket','customer_id':'k4','channel':'social','ticket_id':'t4','action':'responded','ts':1795164600000}"},
    /* E43 D+0 08:55 */ {"k2", "{'event_id':'e43','type':'subscription','customer_id':'k2','channel':'app','action':'upgrade','ts':1795164900000}"},
    /* E44 D+0 09:00 */ {"k1", "{'event_id':'e44','type':'retention_spend','customer_id':'k1','channel':'web','amount':25.00,'ts':1795165200000}"},
};

static const fixture_event phase2[] = {
    /* E45 D+0 09:30 */ {"k2", "{'event_id':'e45','type':'purchase','customer_id':'k2','channel':'app','order_id':'o5','amount':80.00,'category':'software','ts':1795167000000}"},
    /* E46 D+0 09:40 */ {"k2", "{'event_id':'e46','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t12','action':'opened','complaint':true,'ts':1795167600000}"},
    /* E47 D+0 10:00 */ {"n1", "{'event_id':'e47','type':'survey','customer_id':'n1','channel':'web','kind':'nps','score':6,'ts':1795168800000}"},
    /* E48 D+0 10:15 */ {"k1", "{'event_id':'e48','type':'ticket','customer_id':'k1','channel':'web','ticket_id':'t5','action':'opened','complaint':false,'ts':1795169700000}"},
    /* E49 D+0 10:55 */ {"k1", "{'event_id':'e49','type':'ticket','customer_id':'k1','channel':'web','ticket_id':'t5','action':'responded','ts':1795172100000}"},
    /* E50 D+0 11:05 */ {"k3", "{'event_id':'e50','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t3','action':'responded','ts':1795172700000}"},
    /* E51 D+0 11:06 */ {"k1", "{'event_id':'e51','type':'ticket','customer_id':'k1','channel':'web','ticket_id':'t8','action':'opened','complaint':false,'ts':1795172760000}"},
    /* E52 D+0 11:10 */ {"k3", "{'event_id':'e52','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t3','action':'resolved','ts':1795173000000}"},
    /* E53 D+0 11:14 */ {"k1", "{'event_id':'e53','type':'ticket','customer_id':'k1','channel':'web','ticket_id':'t8','action':'responded','ts':1795173240000}"},
    /* E54 D+0 11:15 */ {"n3", "{'event_id':'e54','type':'signup','customer_id':'n3','channel':'social','ts':1795173300000}"},
    /* E55 D+0 11:20 */ {"k2", "{'event_id':'e55','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t12','action':'responded','ts':1795173600000}"},
    /* E56 D+0 11:22 */ {"n3", "{'event_id':'e56','type':'lead','customer_id':'n3','channel':'social','action':'created','ts':1795173720000}"},
    /* E57 D+0 11:25 */ {"k2", "{'event_id':'e57','type':'ticket','customer_id':'k2','channel':'app','ticket_id':'t12','action':'resolved','ts':1795173900000}"},
    /* E58 D+0 11:27 */ {"n3", "{'event_id':'e58','type':'lead','customer_id':'n3','channel':'social','action':'converted','ts':1795174020000}"},
    /* E59 D+0 11:30 */ {"B", "{'event_id':'e59','type':'interaction','customer_id':'B','channel':'web','action':'browse','ts':1795174200000}"},
    /* E60 D+0 11:32 */ {"B", "{'event_id':'e60','type':'purchase','customer_id':'B','channel':'web','order_id':'o6','amount':40.00,'category':'books','ts':1795174320000}"},
    /* E61 D+0 11:35 */ {"k4", "{'event_id':'e61','type':'purchase','customer_id':'k4','channel':'social','order_id':'o7','amount':70.00,'category':'games','ts':1795174500000}"},
    /* E62 D+0 11:36 */ {"k4", "{'event_id':'e62','type':'purchase','customer_id':'k4','channel':'social','order_id':'o8','amount':30.00,'category':'music','ts':1795174560000}"},
    /* E63 D+0 11:38 */ {"k1", "{'event_id':'e63','type':'refund','customer_id':'k1','channel':'web','order_id':'o3','amount':12.50,'ts':1795174680000}"},
    /* E64 D+0 11:40 */ {"n3", "{'event_id':'e64','type':'ticket','customer_id':'n3','channel':'social','ticket_id':'t6','action':'opened','complaint':true,'ts':1795174800000}"},
    /* E65 D+0 11:42 */ {"n3", "{'event_id':'e65','type':'ticket','customer_id':'n3','channel':'social','ticket_id':'t6','action':'responded','ts':1795174920000}"},
    /* E66 D+0 11:44 */ {"n3", "{'event_id':'e66','type':'ticket','customer_id':'n3','channel':'social','ticket_id':'t6','action':'resolved','ts':1795175040000}"},
    /* E67 D+0 11:45 */ {"k2", "{'event_id':'e67','type':'subscription','customer_id':'k2','channel':'app','action':'cancel','ts':1795175100000}"},
    /* E68 D+0 11:46 */ {"n3", "{'event_id':'e68','type':'ticket','customer_id':'n3','channel':'social','ticket_id':'t6','action':'responded','ts':1795175160000}"},
    /* E69 D+0 11:48 */ {NULL, "{'event_id':'e69','type':'marketing_spend','channel':'web','amount':60.00,'campaign':'search','ts':1795175280000}"},
    /* E70 D+0 11:50 */ {"n3", "{'event_id':'e70','type':'survey','customer_id':'n3','channel':'social','kind':'csat','score':5,'ts':1795175400000}"},
    /* E71 D+0 11:52 */ {"k1", "{'event_id':'e71','type':'survey','customer_id':'k1','channel':'web','kind':'nps','score':9,'ts':1795175520000}"},
    /* E72 D+0 11:54 */ {"k4", "{'event_id':'e72','type':'interaction','customer_id':'k4','channel':'social','action':'share','ts':1795175640000}"},
    /* E73 D+0 11:56 */ {"n1", "{'event_id':'e73','type':'referral','customer_id':'n1','channel':'web','referred_customer_id':'x9','ts':1795175760000}"},
    /* E74 D+0 11:57 */ {"k3", "{'event_id':'e74','type':'payment_failed','customer_id':'k3','channel':'web','amount':19.90,'ts':1795175820000}"},
    /* E75 D+0 11:58 */ {"k4", "{'event_id':'e75','type':'retention_spend','customer_id':'k4','channel':'social','amount':30.00,'ts':1795175880000}"},
    /* E76 D+0 11:59 */ {"k3", "{'event_id':'e76','type':'ticket','customer_id':'k3','channel':'web','ticket_id':'t7','action':'opened','complaint':true,'ts':1795175940000}"},
    /* E77 D+0 12:00 */ {"n2", "{'event_id':'e77','type':'subscription','customer_id':'n2','channel':'app','action':'upgrade','ts':1795176000000}"},
};
/* clang-format on */

#define N_PHASE1 (sizeof phase1 / sizeof phase1[0])
#define N_PHASE2 (sizeof phase2 / sizeof phase2[0])

/* ------------------------------------------------------------------ */
/* Fixture plumbing: servers, the child, checks that keep going.       */

static struct {
    char dir[256];
    char group[64];
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

/* Produces fixture lines, turning ' into ", and waits for their delivery. */
static void produce_all(const fixture_event *evs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const fixture_event *e = &evs[k];
        char buf[1024];
        size_t len = strlen(e->json);
        cr_assert_lt(len, sizeof buf);
        for (size_t i = 0; i <= len; i++)
            buf[i] = e->json[i] == '\'' ? '"' : e->json[i];
        cr_assert_eq(kst_kafka_produce(&g.kafka, "events", 0, e->key, e->key ? strlen(e->key) : 0,
                                       buf, len),
                     0, "%s", kst_last_error());
    }
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", g.kafka.last_delivery_error);
}

/* Runs kpistream (same group every time) until it exits by itself at the end
 * of the topic, then checks that it committed everything: end_offset messages
 * in the one partition. The mock coordinator keeps a finished member in the
 * group until its session times out and the next run's join waits for that:
 * a 6 s session (as in test_reliability.c) instead of the default 45 s. */
static void run_binary(const char *log_name, int64_t end_offset)
{
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char log[512];
    snprintf(log, sizeof log, "%s/%s", g.dir, log_name);
    /* clang-format off */
    char *argv[] = {(char *)bin, "run",
                    "--brokers", g.kafka.bootstraps,
                    "--topics", "events",
                    "--group", g.group,
                    "--redis", (char *)kst_redis_url(&g.redis),
                    "--clock", "event",
                    "--exit-on-eof",
                    "--kafka.session.timeout.ms", "6000",
                    "--kafka.heartbeat.interval.ms", "1000",
                    NULL};
    /* clang-format on */
    memset(&g.proc, 0, sizeof g.proc);
    cr_assert_eq(kst_proc_spawn(&g.proc, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    cr_assert_eq(kst_proc_wait(&g.proc, 60000, &status), 0,
                 "kpistream did not exit by itself within 60 s (--exit-on-eof)");
    cr_assert_eq(status, 0, "kpistream exited with status %d", status);

    int64_t end = -1, committed = -1;
    cr_assert_eq(kst_kafka_end_offsets(&g.kafka, "events", 1, &end), 0, "%s", kst_last_error());
    cr_assert_eq(end, end_offset, "messages in the topic");
    cr_assert_eq(kst_kafka_committed(&g.kafka, g.group, "events", 1, &committed), 0, "%s",
                 kst_last_error());
    cr_assert_eq(committed, end_offset, "committed %lld, end %lld", (long long)committed,
                 (long long)end_offset);
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

#define ABSENT NULL

typedef struct kv {
    const char *field;
    const char *want; /* ABSENT: must not exist */
} kv;

/* Checks every field of arr in key; the phase is named in each message. */
/* Response-time quantiles come from a DDSketch (alpha 1%): the value written
 * for an exact quantile q is its bucket's representative 2 g^i / (g + 1),
 * i = ceil(log_g q), g = 1.01 / 0.99; within 1% of q. The tables below keep
 * the exact quantiles worked out by hand. */
static const char *sketched(const char *field, const char *want, char *buf, size_t n)
{
    if (!want || strncmp(field, "response_time_", 14) != 0)
        return want;
    double exact = strtod(want, NULL), gamma = 1.01 / 0.99;
    double rep = 2.0 * exp(ceil(log(exact) / log(gamma)) * log(gamma)) / (gamma + 1.0);
    cr_assert(fabs(rep - exact) <= 0.01 * exact, "%s: %.0f is not within 1%% of %.0f", field,
              rep, exact);
    snprintf(buf, n, "%lld", (long long)llround(rep));
    return buf;
}

static void expect_all(const char *phase, const char *key, const kv *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char got[128], sk[32];
        const char *want = sketched(arr[i].field, arr[i].want, sk, sizeof sk);
        bool ok = field_is(key, arr[i].field, want, got, sizeof got);
        if (!ok)
            g.failures++;
        cr_expect(ok, "%s: %s %s = %s, want %s", phase, key, arr[i].field, got,
                  want ? want : "(absent)");
    }
}
#define EXPECT_ALL(phase, key, arr) expect_all((phase), (key), (arr), sizeof(arr) / sizeof((arr)[0]))

static long count_cb_n;
static int count_cb(const kst_msg *m, void *ctx)
{
    (void)m;
    (void)ctx;
    count_cb_n++;
    return 0;
}

TestSuite(pipeline_kpi_ratios, .init = setup, .fini = teardown, .timeout = 180);

Test(pipeline_kpi_ratios, every_kpi_two_phases_expiry_churn_and_reactivation)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events", 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events.dlq", 1), 0, "%s", kst_last_error());
    snprintf(g.group, sizeof g.group, "ratios-%d-%lld", (int)getpid(), (long long)kst_now_ms());

    /* ================= phase 1: E01..E44, clock C1 = D+09:00 ================= */
    produce_all(phase1, N_PHASE1);
    run_binary("kpistream-1.log", (int64_t)N_PHASE1);
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    static const kv meta1[] = {
        {"events_processed", "44"},
        {"events_rejected", "0"},
        {"duplicates", "0"},
        {"clock_ms", "1795165200000"}, /* E44, D+09:00 */
    };
    EXPECT_ALL("phase 1", "kpi:meta", meta1);

    /* ---- phase 1, kpi:global 1h at C1: t >= D+08:01, E34..E44 (11 events) ----
     *   E34 n2 signup (first event: new)      E40 n2 lead created
     *   E35 n2 purchase o4 60.00 toys         E41 k4 t4 opened, complaint
     *   E36 k3 t3 opened, complaint           E42 k4 t4 responded (300000 ms)
     *   E37 k4 survey nps 10                  E43 k2 subscription upgrade
     *   E38 k2 survey csat 2                  E44 k1 retention_spend 25.00
     *   E39 k1 interaction (web)
     * Latest event of each customer at C1: k1 09:00, k2 08:55, k3 08:20,
     * k4 08:50, n2 08:40 (in); n1 06:10, A D-30, B D-30 (out): active = 5.
     * Base at C1 (E): known A B k1..k4 n1 n2 = 8, B churned at D+05:00 -> 7.
     * S at D+08:01: A k1 k2 k3 k4 n1 = 6 (= E 7 - joins 1 (n2) + leaves 0). */
    static const kv p1_1h[] = {
        {"events:1h", "11"},
        {"active_customers:1h", "5"},
        {"new_customers:1h", "1"},                 /* n2 */
        {"churned_customers:1h", "0"},             /* B churned at 05:00 */
        {"customers:1h", "7"},
        {"orders:1h", "1"},                        /* E35 */
        {"purchasing_customers:1h", "1"},          /* n2 */
        {"interactions:1h", "1"},                  /* E39 */
        {"social_interactions:1h", "0"},
        {"complaints:1h", "2"},                    /* t3, t4 */
        {"tickets:1h", "2"},
        {"leads:1h", "1"},                         /* E40 */
        {"conversions:1h", "0"},
        {"upsells:1h", "1"},                       /* E43 */
        {"cross_sells:1h", "0"},                   /* E35 is n2's first purchase */
        {"referrals:1h", "0"},
        {"payment_failures:1h", "0"},
        {"csat_responses:1h", "1"},                /* E38 */
        {"nps_responses:1h", "1"},                 /* E37 */
        {"revenue:1h", "60.00"},
        {"refunds:1h", "0.00"},
        {"marketing_spend:1h", "0.00"},
        {"retention_spend:1h", "25.00"},           /* E44 */
        {"aov:1h", "60.00"},                       /* 60.00 / 1 */
        {"purchase_frequency:1h", "1.00"},         /* 1 / 1 */
        {"repurchase_rate:1h", "0.00"},            /* 0 / 1 */
        {"csat:1h", "0.00"},                       /* score 2: 0 of 1 */
        {"nps:1h", "100.00"},                      /* (1 promoter - 0) / 1 */
        {"retention_rate:1h", "100.00"},           /* (E 7 - N 1) / S 6 */
        {"churn_rate:1h", "0.00"},                 /* 0 / 6 */
        {"cac:1h", "0.00"},                        /* 0.00 / 1 new: present */
        {"retention_cost:1h", "4.17"},             /* 25.00 / (6 - 0) = 4.1666.. */
        {"conversion_rate:1h", "0.00"},            /* 0 / 1 lead */
        {"complaint_rate:1h", "40.00"},            /* 2 / 5 */
        {"complaint_resolution_rate:1h", "0.00"},  /* t3, t4 not resolved yet */
        {"response_time_p50:1h", "300000"},        /* n = 1: t4 */
        {"response_time_p90:1h", "300000"},
        {"response_time_p99:1h", "300000"},
        {"engagement:1h", "0.20"},                 /* 1 / 5 */
        {"upsell_rate:1h", "20.00"},               /* 1 / 5 */
        {"cross_sell_rate:1h", "0.00"},            /* 0 / 1 */
        {"clv:1h", ABSENT},                        /* clv exists only for 30d */
    };
    EXPECT_ALL("phase 1", "kpi:global", p1_1h);

    /* ---- phase 1, kpi:global 24h at C1: t >= D-1 09:12, E12..E44 (33 events) ----
     * E11 (t0 opened, D-2 09:00) is outside. Latest events at C1 in the window:
     * k1 k2 k3 k4 n1 n2 = 6 active (A, B last seen D-30).
     * S at D-1 09:12: A B k1 k2 k3 k4 = 6 (= E 7 - joins 2 (n1, n2) + leaves 1 (B)).
     * Purchases: E14 k1 30.00 shoes, E25 k1 45.00 hats (cross-sell: k1 only
     * bought shoes before), E35 n2 60.00 = 135.00; refund E33 5.00.
     * k1's two latest purchases (D-1 16:00, D+03:00) are both inside: repurchaser.
     * Complaints opened: t9 (resolved D+00:30), t1, t3, t4 = 4; tickets + t2,
     * t10, t11 = 7. First responses: t0 104400000, t9 5400000, t1 1800000,
     * t2 1200000, t10 3600000, t11 900000, t4 300000; sorted:
     *   [300000, 900000, 1200000, 1800000, 3600000, 5400000, 104400000]
     * n = 7: p50 rank floor(0.5 x 6) = 3, p90 rank floor(5.4) = 5,
     * p99 rank floor(5.94) = 5. */
    static const kv p1_24h[] = {
        {"events:24h", "33"},
        {"active_customers:24h", "6"},
        {"new_customers:24h", "2"},                /* n1, n2 */
        {"churned_customers:24h", "1"},            /* B, by inactivity at D+05:00 */
        {"customers:24h", "7"},
        {"orders:24h", "3"},
        {"purchasing_customers:24h", "2"},         /* k1, n2 */
        {"interactions:24h", "2"},                 /* E29 (social), E39 */
        {"social_interactions:24h", "1"},          /* E29 */
        {"complaints:24h", "4"},
        {"tickets:24h", "7"},
        {"leads:24h", "2"},                        /* E24, E40 */
        {"conversions:24h", "1"},                  /* E15 (its lead E10 is D-10) */
        {"upsells:24h", "1"},
        {"cross_sells:24h", "1"},                  /* E25 */
        {"referrals:24h", "0"},
        {"payment_failures:24h", "0"},
        {"csat_responses:24h", "2"},               /* E23 (4), E38 (2) */
        {"nps_responses:24h", "1"},                /* E37 (10) */
        {"revenue:24h", "130.00"},                 /* 135.00 - 5.00 */
        {"refunds:24h", "5.00"},
        {"marketing_spend:24h", "120.00"},         /* E16 */
        {"retention_spend:24h", "25.00"},
        {"aov:24h", "45.00"},                      /* 135.00 / 3 */
        {"purchase_frequency:24h", "1.50"},        /* 3 / 2 */
        {"repurchase_rate:24h", "50.00"},          /* k1: 1 / 2 */
        {"csat:24h", "50.00"},                     /* 1 / 2 */
        {"nps:24h", "100.00"},                     /* 1 / 1 */
        {"retention_rate:24h", "83.33"},           /* (7 - 2) / 6 = 83.333.. */
        {"churn_rate:24h", "16.67"},               /* 1 / 6 = 16.666.. */
        {"cac:24h", "60.00"},                      /* 120.00 / 2 */
        {"retention_cost:24h", "5.00"},            /* 25.00 / (6 - 1) */
        {"conversion_rate:24h", "50.00"},          /* 1 / 2 */
        {"complaint_rate:24h", "66.67"},           /* 4 / 6 */
        {"complaint_resolution_rate:24h", "25.00"}, /* t9: 1 / 4 */
        {"response_time_p50:24h", "1800000"},
        {"response_time_p90:24h", "5400000"},
        {"response_time_p99:24h", "5400000"},
        {"engagement:24h", "0.33"},                /* 2 / 6 */
        {"upsell_rate:24h", "16.67"},              /* 1 / 6 */
        {"cross_sell_rate:24h", "33.33"},          /* 1 / 3 */
        {"clv:24h", ABSENT},
    };
    EXPECT_ALL("phase 1", "kpi:global", p1_24h);

    /* ---- phase 1, 30d at C1: t >= D-30 12:00: E05..E44 (A's E04 at D-30
     * 10:30 and B's E03 are just outside). revenue = E09 20 + 135 - 5 = 150.00;
     * active: k1..k4 n1 n2 = 6; S at D-30 12:00 = A, B = 2, churned = B = 1:
     * churn_rate 50.00 (above min_churn 1 %).
     * clv = 0.3 x (150.00 / 6) / 0.50 = 0.3 x 25 / 0.5 = 15.00. */
    static const kv p1_30d[] = {
        {"revenue:30d", "150.00"},
        {"active_customers:30d", "6"},
        {"churn_rate:30d", "50.00"},
        {"clv:30d", "15.00"},
    };
    EXPECT_ALL("phase 1", "kpi:global", p1_30d);

    /* B churned by inactivity at D+05:00 (the clock passed it, B sent nothing);
     * A (churn due D+10:30) is still active. */
    static const kv p1_b[] = {
        {"status", "churned"},
        {"first_seen_ms", "1792472400000"}, /* E01 */
        {"last_event_ms", "1792558800000"}, /* E03, D-30 05:00 */
    };
    EXPECT_ALL("phase 1", "kpi:customer:B", p1_b);
    static const kv p1_a[] = {
        {"status", "active"},
        {"last_event_ms", "1792578600000"}, /* E04, D-30 10:30 */
    };
    EXPECT_ALL("phase 1", "kpi:customer:A", p1_a);
    static const kv p1_k2[] = {{"status", "active"}};
    EXPECT_ALL("phase 1", "kpi:customer:k2", p1_k2);

    /* ================= phase 2: E45..E77, clock C2 = D+12:00 ================= */
    produce_all(phase2, N_PHASE2);
    redisFree(g.rc);
    g.rc = NULL;
    run_binary("kpistream-2.log", (int64_t)(N_PHASE1 + N_PHASE2));
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    /* The replay of E01..E44 rebuilds the counters: totals, not increments. */
    static const kv meta2[] = {
        {"events_processed", "77"},
        {"events_rejected", "0"},
        {"duplicates", "0"},
        {"clock_ms", "1795176000000"}, /* E77, D+12:00 */
    };
    EXPECT_ALL("phase 2", "kpi:meta", meta2);

    /* Nothing was dead-lettered in either run. */
    count_cb_n = 0;
    cr_expect_eq(kst_kafka_consume_all(&g.kafka, "events.dlq", 30000, count_cb, NULL), 0,
                 "the dead-letter topic must stay empty");

    /* ---- phase 2, kpi:global 1h at C2: t >= D+11:01, E50..E77 (28 events) ----
     *   E50 k3 t3 responded (opened E36 D+08:20: 9900000)   E64 n3 t6 opened, complaint
     *   E51 k1 t8 opened                                    E65 n3 t6 responded (120000)
     *   E52 k3 t3 resolved (opened outside the hour)        E66 n3 t6 resolved
     *   E53 k1 t8 responded (480000)                        E67 k2 subscription cancel
     *   E54 n3 signup (new)                                 E68 n3 t6 responded again
     *   E55 k2 t12 responded (opened D+09:40: 6000000)      E69 marketing_spend 60.00
     *   E56 n3 lead created                                 E70 n3 survey csat 5
     *   E57 k2 t12 resolved (opened outside the hour)       E71 k1 survey nps 9
     *   E58 n3 lead converted                               E72 k4 interaction social
     *   E59 B interaction (reactivates B: not new)          E73 n1 referral
     *   E60 B purchase o6 40.00 books (B's first purchase)  E74 k3 payment_failed
     *   E61 k4 purchase o7 70.00 games (k4's first)         E75 k4 retention_spend 30.00
     *   E62 k4 purchase o8 30.00 music (cross-sell)         E76 k3 t7 opened, complaint
     *   E63 k1 refund 12.50                                 E77 n2 subscription upgrade
     * Phase 1's hour (E34..E44) is gone from this window.
     * Latest events: B 11:32, k1 11:52, k2 11:45 (a cancel still counts),
     * k3 11:59, k4 11:58, n1 11:56, n2 12:00, n3 11:50 = 8 active; A no.
     * E at C2: 9 known, A (inactivity D+10:30) and k2 (cancel) churned -> 7.
     * S at D+11:01: k1 k2 k3 k4 n1 n2 = 6 (A left at 10:30, B at 05:00);
     * = E 7 - joins 2 (n3, B's return) + leaves 1 (k2).
     * Purchases 40 + 70 + 30 = 140.00; k4's two latest purchases (11:35, 11:36)
     * are in: 1 repurchaser of 2 purchasing customers (B, k4).
     * Complaints opened in the hour: t6 (resolved), t7 -> 1 / 2. t3 and t12
     * are resolved in the hour but were opened before it: not counted here.
     * First responses in the hour: t3 9900000, t8 480000, t12 6000000,
     * t6 120000 (E68 is not a first response); sorted
     *   [120000, 480000, 6000000, 9900000]
     * n = 4: p50 rank floor(1.5) = 1, p90 rank floor(2.7) = 2, p99 floor(2.97) = 2. */
    static const kv p2_1h[] = {
        {"events:1h", "28"},
        {"active_customers:1h", "8"},
        {"new_customers:1h", "1"},                 /* n3; B's return is not new */
        {"churned_customers:1h", "1"},             /* k2; A churned at 10:30, outside */
        {"customers:1h", "7"},
        {"orders:1h", "3"},                        /* E60, E61, E62 */
        {"purchasing_customers:1h", "2"},          /* B, k4 */
        {"interactions:1h", "2"},                  /* E59, E72 */
        {"social_interactions:1h", "1"},           /* E72 */
        {"complaints:1h", "2"},                    /* t6, t7 */
        {"tickets:1h", "3"},                       /* t8, t6, t7 */
        {"leads:1h", "1"},                         /* E56 */
        {"conversions:1h", "1"},                   /* E58 */
        {"upsells:1h", "1"},                       /* E77 */
        {"cross_sells:1h", "1"},                   /* E62 */
        {"referrals:1h", "1"},                     /* E73 */
        {"payment_failures:1h", "1"},              /* E74 */
        {"csat_responses:1h", "1"},                /* E70 */
        {"nps_responses:1h", "1"},                 /* E71 */
        {"revenue:1h", "127.50"},                  /* 140.00 - 12.50 */
        {"refunds:1h", "12.50"},
        {"marketing_spend:1h", "60.00"},           /* E69 */
        {"retention_spend:1h", "30.00"},           /* E75 */
        {"aov:1h", "46.67"},                       /* 140.00 / 3 = 46.666.. (gross) */
        {"purchase_frequency:1h", "1.50"},         /* 3 / 2 */
        {"repurchase_rate:1h", "50.00"},           /* k4: 1 / 2 */
        {"csat:1h", "100.00"},                     /* score 5: 1 / 1 */
        {"nps:1h", "100.00"},                      /* score 9: (1 - 0) / 1 */
        {"retention_rate:1h", "100.00"},           /* (E 7 - N 1) / S 6 */
        {"churn_rate:1h", "16.67"},                /* 1 / 6 = 16.666.. */
        {"cac:1h", "60.00"},                       /* 60.00 / 1 */
        {"retention_cost:1h", "6.00"},             /* 30.00 / (6 - 1) */
        {"conversion_rate:1h", "100.00"},          /* 1 / 1 */
        {"complaint_rate:1h", "25.00"},            /* 2 / 8 */
        {"complaint_resolution_rate:1h", "50.00"}, /* t6: 1 / 2 */
        {"response_time_p50:1h", "480000"},
        {"response_time_p90:1h", "6000000"},
        {"response_time_p99:1h", "6000000"},
        {"engagement:1h", "0.25"},                 /* 2 / 8 */
        {"upsell_rate:1h", "12.50"},               /* 1 / 8 */
        {"cross_sell_rate:1h", "33.33"},           /* 1 / 3 */
        {"clv:1h", ABSENT},
    };
    EXPECT_ALL("phase 2", "kpi:global", p2_1h);

    /* ---- phase 2, kpi:global 24h at C2: t >= D-1 12:24, E12..E77 (66 events) ----
     * Phase 1's last hour is still here. Active: B k1 k2 k3 k4 n1 n2 n3 = 8.
     * S at D-1 12:24: A B k1 k2 k3 k4 = 6 (= E 7 - joins 4 (n1, n2, n3, B's
     * return) + leaves 3 (B D+05:00, A D+10:30, k2 D+11:45)); N = n1 n2 n3 = 3.
     * Purchases: E14 30, E25 45, E35 60, E45 80, E60 40, E61 70, E62 30 =
     * 355.00 in 7 orders; refunds E33 5.00 + E63 12.50 = 17.50.
     * Purchasing (latest purchase inside): k1 (D+03:00), n2, k2, B, k4 = 5;
     * repurchasers (second latest inside): k1 (D-1 16:00), k4 (11:35) = 2.
     * Cross-sells: E25 (k1 hats after shoes), E62 (k4 music after games) = 2.
     * CSAT: 4, 2, 5 -> 2 of 3 satisfied. NPS: 10, 6, 9 -> 2 promoters, 1 detractor.
     * Complaints opened: t9 t1 t3 t4 t12 t6 t7 = 7, resolved by now: t9 t3 t12
     * t6 = 4 (t0 was opened D-2: outside). Tickets: those + t2 t10 t11 t5 t8 = 12.
     * First responses in the window (t0's at D-1 14:00 included), sorted:
     *   rank 0..11: 120000, 300000, 480000, 900000, 1200000, 1800000,
     *               2400000, 3600000, 5400000, 6000000, 9900000, 104400000
     * n = 12: p50 rank floor(5.5) = 5, p90 rank floor(9.9) = 9,
     * p99 rank floor(10.89) = 10 (not the maximum). */
    static const kv p2_24h[] = {
        {"events:24h", "66"},
        {"active_customers:24h", "8"},
        {"new_customers:24h", "3"},                /* n1, n2, n3 */
        {"churned_customers:24h", "3"},            /* B, A (both by inactivity), k2 */
        {"customers:24h", "7"},
        {"orders:24h", "7"},
        {"purchasing_customers:24h", "5"},
        {"interactions:24h", "4"},                 /* E29, E39, E59, E72 */
        {"social_interactions:24h", "2"},          /* E29, E72 */
        {"complaints:24h", "7"},
        {"tickets:24h", "12"},
        {"leads:24h", "3"},                        /* E24, E40, E56 */
        {"conversions:24h", "2"},                  /* E15, E58 */
        {"upsells:24h", "2"},                      /* E43, E77 */
        {"cross_sells:24h", "2"},
        {"referrals:24h", "1"},
        {"payment_failures:24h", "1"},
        {"csat_responses:24h", "3"},
        {"nps_responses:24h", "3"},
        {"revenue:24h", "337.50"},                 /* 355.00 - 17.50 */
        {"refunds:24h", "17.50"},
        {"marketing_spend:24h", "180.00"},         /* 120.00 + 60.00 */
        {"retention_spend:24h", "55.00"},          /* 25.00 + 30.00 */
        {"aov:24h", "50.71"},                      /* 355.00 / 7 = 50.714.. */
        {"purchase_frequency:24h", "1.40"},        /* 7 / 5 */
        {"repurchase_rate:24h", "40.00"},          /* 2 / 5 */
        {"csat:24h", "66.67"},                     /* 2 / 3 */
        {"nps:24h", "33.33"},                      /* (2 - 1) / 3 */
        {"retention_rate:24h", "66.67"},           /* (E 7 - N 3) / S 6 */
        {"churn_rate:24h", "50.00"},               /* 3 / 6 */
        {"cac:24h", "60.00"},                      /* 180.00 / 3 */
        {"retention_cost:24h", "18.33"},           /* 55.00 / (6 - 3) = 18.333.. */
        {"conversion_rate:24h", "66.67"},          /* 2 / 3 */
        {"complaint_rate:24h", "87.50"},           /* 7 / 8 */
        {"complaint_resolution_rate:24h", "57.14"}, /* 4 / 7 = 57.142.. */
        {"response_time_p50:24h", "1800000"},
        {"response_time_p90:24h", "6000000"},
        {"response_time_p99:24h", "9900000"},
        {"engagement:24h", "0.50"},                /* 4 / 8 */
        {"upsell_rate:24h", "25.00"},              /* 2 / 8 */
        {"cross_sell_rate:24h", "28.57"},          /* 2 / 7 = 28.571.. */
        {"clv:24h", ABSENT},
    };
    EXPECT_ALL("phase 2", "kpi:global", p2_24h);

    /* ---- phase 2, 30d at C2: t >= D-29 00:00: E05..E77 (A's and B's D-31/D-30
     * events are outside). Purchases 355.00 + E09 20.00 = 375.00, refunds
     * 17.50 -> revenue 357.50. Active: B k1 k2 k3 k4 n1 n2 n3 = 8.
     * S at D-29 = A, B = 2; churned B, A, k2 = 3 -> churn_rate 150.00 (a
     * small S: customers who joined inside the window churn too).
     * N = k1..k4, n1, n2, n3 = 7: retention_rate (7 - 7) / 2 = 0.00;
     * retention_cost 55.00 / (2 - 3) = -55.00; cac 180.00 / 7 = 25.714...
     * clv = 0.3 x (357.50 / 8) / max(1.50, 0.01) = 0.3 x 44.6875 / 1.5 = 8.9375
     * -> 8.94. */
    static const kv p2_30d[] = {
        {"revenue:30d", "357.50"},
        {"active_customers:30d", "8"},
        {"new_customers:30d", "7"},
        {"churned_customers:30d", "3"},
        {"customers:30d", "7"},
        {"churn_rate:30d", "150.00"},
        {"retention_rate:30d", "0.00"},
        {"retention_cost:30d", "-55.00"},
        {"cac:30d", "25.71"},
        {"clv:30d", "8.94"},
    };
    EXPECT_ALL("phase 2", "kpi:global", p2_30d);

    /* A churned by the clock alone; B came back; k2 cancelled. */
    static const kv p2_a[] = {
        {"status", "churned"},
        {"last_event_ms", "1792578600000"}, /* E04: A sent nothing since */
    };
    EXPECT_ALL("phase 2", "kpi:customer:A", p2_a);
    static const kv p2_b[] = {
        {"status", "active"},
        {"first_seen_ms", "1792472400000"}, /* E01: still the first sighting */
        {"last_event_ms", "1795174320000"}, /* E60, D+11:32 */
        {"orders_total", "1"},
    };
    EXPECT_ALL("phase 2", "kpi:customer:B", p2_b);
    static const kv p2_k2[] = {{"status", "churned"}};
    EXPECT_ALL("phase 2", "kpi:customer:k2", p2_k2);

    g.finished = true;
}
