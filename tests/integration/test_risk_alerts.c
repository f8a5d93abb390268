/* Churn-risk alerts end to end: a scripted customer drifts into high risk and
 * exactly one alert appears, on the stream kpi:alerts and on the pub/sub
 * channel kpi:alerts, with the same alert_id; it falls back to medium and
 * re-enters high inside the 24 h cooldown without a second alert; a restart
 * (state rebuilt by replaying the topic) sends nothing again; then it recovers
 * to score 0 and leaves kpi:risk.
 *
 * Real parts only: a private redis-server, an in-process librdkafka mock
 * cluster (topic "events", 3 partitions, key = customer_id), the kpistream
 * binary with --clock event --exit-on-eof. A subscriber connection of the
 * test's own is SUBSCRIBEd to kpi:alerts before the binary starts; after each
 * run the test PUBLISHes a sentinel on the channel and reads up to it, so
 * "no further message" is proven by Redis' per-connection ordering, not by a
 * timeout (the read timeout only bounds a failure).
 *
 * Time line (UTC). D = 2026-09-15 00:00 = 1789430400000 (a day edge);
 * T = D + 10:00 = 1789466400000; H = 1 h = 3600000 ms. The recovery is 40
 * days later (T + 40 d = 2026-10-25, still in the past, so no event is
 * refused as a future timestamp).
 *
 * The drifting customer "c-drift" (smb), with the default weights
 * (docs/churn-risk.md): nps_detractor 25, low_csat 15, payment_failures 15,
 * complaints 10, downgrade 10; high_enter 70, high_exit 50, medium_enter 40,
 * medium_exit 30; alert_cooldown 24 h. Scores are evaluated after each event at
 * the event's time; within these few hours recency is 0 (silent < 3 days),
 * unresolved_tickets is 0 (no ticket older than 48 h), frequency_drop is 0
 * (no interactions before the last week) and monetary_drop is 0 (no revenue).
 *
 *   phase 1                                        score  level
 *   T          signup                                  0  low
 *   T+1min     interaction                             0  low
 *   T+H        nps 0       (7-0)/7 = 1    -> +25      25  low
 *   T+H+1      csat 1      1              -> +15      40  medium (>= 40)
 *   T+H+2      payment_failed  1 -> 0.6   ->  +9      49  medium
 *   T+H+3      payment_failed  2 -> 1     ->  +6      55  medium
 *   T+H+4      subscription downgrade     -> +10      65  medium
 *   T+H+5      ticket t1 opened complaint, 1 -> 0.6 -> +6
 *                                                     71  HIGH (>= 70): ALERT
 *   T+H+6      ticket t2 opened complaint, 2 -> 1 -> +4
 *                                                     75  high
 *   T+2H       nps 10      -> -25                     50  high (>= high_exit)
 *   T+2H+1     csat 5      -> -15                     35  medium (< 50, >= 30)
 *   T+3H       nps 0       -> +25                     60  medium (< 70)
 *   T+3H+1     csat 1      -> +15                     75  high again, 2 h after
 *                                                         the alert: no alert
 *   phase 2 (after a restart with the same group)
 *   T+40d-2    ticket t1 resolved; 30 days silent -> churned by inactivity at
 *              T+3H+1+30d, reactivated by this event; payment failures,
 *              complaints, the downgrade are > 30 days old
 *   T+40d-1    ticket t2 resolved
 *   T+40d      nps 10
 *   T+40d+1    csat 5                                  0  low: leaves kpi:risk
 *
 * So the alert is: score 71, level high, ts = T+H+5, segment smb, reasons =
 * the three largest contributions at that moment: nps_detractor (25), then
 * low_csat (15) and payment_failures (15), equal, in the table's order
 * (low_csat is listed before payment_failures). The NPS 0 at T+H raises one
 * `detractor` trigger (ts = T+H); the second NPS 0 at T+3H is inside the 24 h
 * trigger cooldown.
 *
 * Three calm customers (good surveys, purchases, interactions) share the
 * topic in both phases; none of them comes near high.
 */
#include "harness.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define TOPIC "events"
#define PARTS 3
#define D_MS 1789430400000LL
#define T_MS (D_MS + 10 * 3600000LL)
#define H_MS 3600000LL
#define DAY_MS 86400000LL
#define DRIFT "c-drift"
#define RUN_TIMEOUT_MS 90000

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    redisContext *rc;  /* commands */
    redisContext *sub; /* SUBSCRIBEd to kpi:alerts */
    char group[64];
    int runs;
    int failures; /* failed soft checks */
    long produced;
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

/* Soft checks (keep going, count failures so the logs get printed). */
static void check_(bool ok, const char *expr, const char *got)
{
    if (!ok) g.failures++;
    cr_expect(ok, "%s (got %s)", expr, got);
}

static void check_str_(const char *expr, const char *got, const char *want)
{
    check_(got && want && strcmp(got, want) == 0, expr, got ? got : "(null)");
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        if (!ok_) g.failures++;                                                                    \
        cr_expect(ok_, __VA_ARGS__);                                                               \
    } while (0)
#define CHECK_STR(got, want, ...) check_str_(#got " == " #want, (got), (want))
#define CHECK_CMP_(a, op, b)                                                                       \
    do {                                                                                           \
        long long a_ = (long long)(a);                                                             \
        char s_[32];                                                                               \
        snprintf(s_, sizeof s_, "%lld", a_);                                                       \
        check_(a_ op(long long)(b), #a " " #op " " #b, s_);                                        \
    } while (0)
#define CHECK_EQ(a, b, ...) CHECK_CMP_(a, ==, b)
#define CHECK_LT(a, b, ...) CHECK_CMP_(a, <, b)
#define CHECK_GEQ(a, b, ...) CHECK_CMP_(a, >=, b)

/* Runs after the body, also when an assertion aborted it. */
static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited) kst_proc_stop(&g.proc, 5000);
    if (!g.finished || g.failures)
        for (int i = 1; i <= g.runs; i++) {
            char log[512];
            snprintf(log, sizeof log, "%s/kpistream-%d.log", g.dir, i);
            kst_log_tail(log, 60);
        }
    if (g.sub) redisFree(g.sub);
    if (g.rc) redisFree(g.rc);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0]) kst_rmtree(g.dir);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

/* Produces one event of customer cust at ts with the given extra fields
 * (",\"k\":v..."), keyed by the customer. */
static void ev(const char *cust, long long ts, const char *type, const char *extra)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"event_id\":\"%s-%lld-%s\",\"type\":\"%s\",\"customer_id\":\"%s\","
                     "\"ts\":%lld%s}",
                     cust, ts, type, type, cust, ts, extra);
    cr_assert(n > 0 && (size_t)n < sizeof buf);
    cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, -1, cust, strlen(cust), buf, (size_t)n), 0,
                 "%s", kst_last_error());
    g.produced++;
}

/* A calm customer's few healthy events around base. */
static void calm(const char *cust, const char *segment, long long base, bool first)
{
    char seg[64];
    snprintf(seg, sizeof seg, ",\"segment\":\"%s\",\"channel\":\"web\"", segment);
    if (first) ev(cust, base, "signup", seg);
    ev(cust, base + 120000, "interaction", ",\"channel\":\"web\",\"action\":\"page_view\"");
    char buy[160];
    snprintf(buy, sizeof buy,
             ",\"channel\":\"web\",\"order_id\":\"o-%s-%lld\",\"amount\":42.50,"
             "\"category\":\"books\",\"product\":\"b-1\"",
             cust, base);
    ev(cust, base + 240000, "purchase", buy);
    ev(cust, base + 360000, "survey", ",\"kind\":\"nps\",\"score\":9");
    ev(cust, base + 480000, "survey", ",\"kind\":\"csat\",\"score\":5");
    ev(cust, base + 600000, "interaction", ",\"channel\":\"app\",\"action\":\"search\"");
}

static void produce_phase1(void)
{
    calm("c-calm-1", "enterprise", T_MS - 2 * H_MS, true);
    calm("c-calm-2", "consumer", T_MS - H_MS, true);
    ev(DRIFT, T_MS, "signup", ",\"segment\":\"smb\",\"channel\":\"web\"");
    ev(DRIFT, T_MS + 60000, "interaction", ",\"channel\":\"web\"");
    ev(DRIFT, T_MS + H_MS, "survey", ",\"kind\":\"nps\",\"score\":0");
    ev(DRIFT, T_MS + H_MS + 1, "survey", ",\"kind\":\"csat\",\"score\":1");
    ev(DRIFT, T_MS + H_MS + 2, "payment_failed", ",\"amount\":19.99");
    ev(DRIFT, T_MS + H_MS + 3, "payment_failed", ",\"amount\":19.99");
    ev(DRIFT, T_MS + H_MS + 4, "subscription", ",\"action\":\"downgrade\"");
    ev(DRIFT, T_MS + H_MS + 5, "ticket",
       ",\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true,\"category\":\"billing\"");
    ev(DRIFT, T_MS + H_MS + 6, "ticket",
       ",\"ticket_id\":\"t2\",\"action\":\"opened\",\"complaint\":true,\"category\":\"quality\"");
    ev(DRIFT, T_MS + 2 * H_MS, "survey", ",\"kind\":\"nps\",\"score\":10");
    ev(DRIFT, T_MS + 2 * H_MS + 1, "survey", ",\"kind\":\"csat\",\"score\":5");
    ev(DRIFT, T_MS + 3 * H_MS, "survey", ",\"kind\":\"nps\",\"score\":0");
    ev(DRIFT, T_MS + 3 * H_MS + 1, "survey", ",\"kind\":\"csat\",\"score\":1");
    calm("c-calm-3", "smb", T_MS + 3 * H_MS, true);
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", g.kafka.last_delivery_error);
}

static void produce_phase2(void)
{
    const long long R = T_MS + 40 * DAY_MS;
    calm("c-calm-1", "enterprise", R - 2 * H_MS, false);
    calm("c-calm-2", "consumer", R - H_MS, false);
    ev(DRIFT, R - 2, "ticket", ",\"ticket_id\":\"t1\",\"action\":\"resolved\"");
    ev(DRIFT, R - 1, "ticket", ",\"ticket_id\":\"t2\",\"action\":\"resolved\"");
    ev(DRIFT, R, "survey", ",\"kind\":\"nps\",\"score\":10");
    ev(DRIFT, R + 1, "survey", ",\"kind\":\"csat\",\"score\":5");
    calm("c-calm-3", "smb", R + H_MS, false);
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", g.kafka.last_delivery_error);
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */

/* One `kpistream run` over the whole topic to its end, same group each time;
 * asserts exit 0 and that everything produced so far is committed. */
static void run_kpistream(void)
{
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char log[512];
    snprintf(log, sizeof log, "%s/kpistream-%d.log", g.dir, ++g.runs);
    /* A short session: librdkafka 2.0.2's mock coordinator waits for the
     * previous run's member (gone after a clean close) until its session times
     * out before it assigns the partitions again (45 s with the default).
     * A long flush interval: each run flushes once, at the end of the topic,
     * so in phase 2 the replay and the recovery events meet in one flush, as
     * after any restart whose backlog is read within one interval (with a
     * flush between them the outcome would depend on timing). */
    char *argv[] = {(char *)bin,     "run",
                    "--brokers",     g.kafka.bootstraps,
                    "--topics",      TOPIC,
                    "--group",       g.group,
                    "--redis",       (char *)kst_redis_url(&g.redis),
                    "--clock",       "event",
                    "--exit-on-eof", "--flush-interval-ms",
                    "60000",         "--kafka.session.timeout.ms",
                    "6000",          "--kafka.heartbeat.interval.ms",
                    "1000",          NULL};
    memset(&g.proc, 0, sizeof g.proc);
    cr_assert_eq(kst_proc_spawn(&g.proc, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    int rc = kst_proc_wait(&g.proc, RUN_TIMEOUT_MS, &status);
    if (rc != 0 || status != 0) kst_log_tail(log, 80);
    cr_assert_eq(rc, 0, "kpistream run %d did not exit by itself (--exit-on-eof)", g.runs);
    cr_assert_eq(status, 0, "kpistream run %d exited with status %d", g.runs, status);

    int64_t end[PARTS], committed[PARTS], total = 0;
    cr_assert_eq(kst_kafka_end_offsets(&g.kafka, TOPIC, PARTS, end), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_committed(&g.kafka, g.group, TOPIC, PARTS, committed), 0, "%s",
                 kst_last_error());
    for (int p = 0; p < PARTS; p++) {
        total += end[p];
        if (end[p] > 0)
            cr_assert_eq(committed[p], end[p], "run %d, partition %d: committed %lld, end %lld",
                         g.runs, p, (long long)committed[p], (long long)end[p]);
    }
    cr_assert_eq(total, g.produced, "the topic holds %lld messages, %ld produced", (long long)total,
                 g.produced);
    cr_assert_eq(kst_redis_hget_ll(g.rc, "kpi:meta", "events_processed", -1), g.produced,
                 "run %d: kpi:meta events_processed", g.runs);
    cr_assert_eq(kst_redis_hget_ll(g.rc, "kpi:meta", "events_rejected", -1), 0);
}

/* ------------------------------------------------------------------ */
/* Pub/sub                                                             */

typedef struct published {
    int n;            /* alert messages (not the sentinel) */
    char first[1024]; /* the first one's payload */
} published;

/* Publishes a sentinel on kpi:alerts from the command connection and reads the
 * subscriber up to it: every message published before it arrives before it
 * on this connection. Returns what came before the sentinel. */
static published drain_until_sentinel(int round)
{
    published out = {0};
    char sentinel[64];
    snprintf(sentinel, sizeof sentinel, "kst-sentinel-%d", round);
    redisReply *r = redisCommand(g.rc, "PUBLISH kpi:alerts %s", sentinel);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
              "PUBLISH reached %lld subscribers, want 1 (the test's own)",
              r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL);
    freeReplyObject(r);
    for (;;) {
        void *v = NULL;
        int rc = redisGetReply(g.sub, &v);
        cr_assert_eq(rc, REDIS_OK, "subscriber read failed before the sentinel: %s", g.sub->errstr);
        redisReply *m = v;
        cr_assert(m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                      m->element[0]->type == REDIS_REPLY_STRING &&
                      strcmp(m->element[0]->str, "message") == 0 &&
                      strcmp(m->element[1]->str, "kpi:alerts") == 0,
                  "unexpected pub/sub reply");
        const char *payload = m->element[2]->str;
        if (strcmp(payload, sentinel) == 0) {
            freeReplyObject(m);
            return out;
        }
        if (out.n++ == 0)
            snprintf(out.first, sizeof out.first, "%s", payload);
        else
            fprintf(stderr, "risk_alerts: extra pub/sub message: %s\n", payload);
        freeReplyObject(m);
    }
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

#define MAXF 16
typedef struct entry {
    int n;
    char field[MAXF][32];
    char value[MAXF][256];
} entry;

static const char *entry_get(const entry *e, const char *field)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->field[i], field) == 0) return e->value[i];
    return NULL;
}

/* XRANGE key - + into out[0..max). Returns the number of entries. */
static int read_stream(const char *key, entry *out, int max)
{
    redisReply *r = redisCommand(g.rc, "XRANGE %s - +", key);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "XRANGE %s failed", key);
    int n = 0;
    for (size_t i = 0; i < r->elements && n < max; i++, n++) {
        redisReply *fv = r->element[i]->element[1];
        memset(&out[n], 0, sizeof out[n]);
        for (size_t j = 0; j + 1 < fv->elements && out[n].n < MAXF; j += 2) {
            snprintf(out[n].field[out[n].n], sizeof out[n].field[0], "%s", fv->element[j]->str);
            snprintf(out[n].value[out[n].n], sizeof out[n].value[0], "%s", fv->element[j + 1]->str);
            out[n].n++;
        }
    }
    cr_assert_leq(r->elements, (size_t)max, "%s has %zu entries", key, r->elements);
    freeReplyObject(r);
    return n;
}

static long long xlen(const char *key)
{
    redisReply *r = redisCommand(g.rc, "XLEN %s", key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "XLEN %s failed", key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* ZSCORE kpi:risk member: 1 and *score if present, 0 if absent. */
static int risk_score(const char *member, double *score)
{
    redisReply *r = redisCommand(g.rc, "ZSCORE kpi:risk %s", member);
    cr_assert(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL),
              "ZSCORE kpi:risk failed");
    int found = r->type == REDIS_REPLY_STRING;
    if (found) *score = strtod(r->str, NULL);
    freeReplyObject(r);
    return found;
}

static bool is_id(const char *s, char prefix)
{
    if (!s || s[0] != prefix || s[1] != '-' || strlen(s) != 18) return false;
    for (int i = 2; i < 18; i++)
        if (!strchr("0123456789abcdef", s[i])) return false;
    return true;
}

/* The alert entry, checked field by field against the hand derivation. */
static void check_alert_entry(const entry *a)
{
    static const char *const fields[] = {"alert_id", "customer", "score",   "level",
                                         "reasons",  "clv",      "segment", "ts"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert_not_null(entry_get(a, fields[i]), "alert entry has no field %s", fields[i]);
    CHECK(is_id(entry_get(a, "alert_id"), 'a'), "alert_id %s is not a- and 16 hex digits",
          entry_get(a, "alert_id"));
    CHECK_STR(entry_get(a, "customer"), DRIFT);
    CHECK_STR(entry_get(a, "level"), "high");
    CHECK_STR(entry_get(a, "score"), "71", "entered high at the first complaint (71)");
    CHECK(strstr(entry_get(a, "reasons"), "nps_detractor") != NULL, "reasons %s",
          entry_get(a, "reasons"));
    CHECK_STR(entry_get(a, "reasons"), "nps_detractor,low_csat,payment_failures");
    CHECK_STR(entry_get(a, "segment"), "smb");
    char want_ts[32];
    snprintf(want_ts, sizeof want_ts, "%lld", T_MS + H_MS + 5);
    CHECK_STR(entry_get(a, "ts"), want_ts, "the moment of entry (the first complaint)");
    char *end = NULL;
    double clv = strtod(entry_get(a, "clv"), &end);
    CHECK(end && *end == '\0' && clv >= 0, "clv %s is not a number >= 0", entry_get(a, "clv"));
}

/* The pub/sub JSON carries the same alert as the stream entry. */
static void check_published(const char *json, const entry *a)
{
    cJSON *o = cJSON_Parse(json);
    cr_assert_not_null(o, "pub/sub payload is not JSON: %s", json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "alert_id");
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(o, "customer");
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(o, "score");
    const cJSON *level = cJSON_GetObjectItemCaseSensitive(o, "level");
    const cJSON *seg = cJSON_GetObjectItemCaseSensitive(o, "segment");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
    const cJSON *clv = cJSON_GetObjectItemCaseSensitive(o, "clv");
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(o, "reasons");
    bool ok = cJSON_IsString(id) && strcmp(id->valuestring, entry_get(a, "alert_id")) == 0 &&
              cJSON_IsString(cust) && strcmp(cust->valuestring, entry_get(a, "customer")) == 0;
    CHECK(ok, "pub/sub alert_id/customer differ from the stream entry: %s", json);
    CHECK(cJSON_IsNumber(score) && score->valuedouble == strtod(entry_get(a, "score"), NULL),
          "score: %s", json);
    CHECK(cJSON_IsString(level) && strcmp(level->valuestring, "high") == 0, "level: %s", json);
    CHECK(cJSON_IsString(seg) && strcmp(seg->valuestring, entry_get(a, "segment")) == 0,
          "segment: %s", json);
    CHECK(cJSON_IsNumber(ts) && ts->valuedouble == strtod(entry_get(a, "ts"), NULL), "ts: %s",
          json);
    CHECK(cJSON_IsNumber(clv) && clv->valuedouble == strtod(entry_get(a, "clv"), NULL), "clv: %s",
          json);
    /* docs/churn-risk.md: the same fields, `reasons` as an array there. */
    char joined[256] = "";
    bool arr = cJSON_IsArray(reasons);
    const cJSON *it;
    cJSON_ArrayForEach(it, reasons)
    {
        arr = arr && cJSON_IsString(it);
        if (cJSON_IsString(it))
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
                     joined[0] ? "," : "", it->valuestring);
    }
    CHECK(arr && strcmp(joined, entry_get(a, "reasons")) == 0,
          "reasons should be an array of the stream's reasons (%s): %s", entry_get(a, "reasons"),
          json);
    cJSON_Delete(o);
}

/* Exactly one detractor trigger for the drifting customer, at its NPS 0. */
static void check_detractor_trigger(void)
{
    entry t[64];
    int n = read_stream("kpi:triggers", t, 64);
    int found = 0;
    for (int i = 0; i < n; i++) {
        const char *kind = entry_get(&t[i], "trigger");
        const char *cust = entry_get(&t[i], "customer");
        if (!kind || !cust || strcmp(kind, "detractor") != 0 || strcmp(cust, DRIFT) != 0) continue;
        found++;
        CHECK(is_id(entry_get(&t[i], "trigger_id"), 't'), "trigger_id %s",
              entry_get(&t[i], "trigger_id"));
        CHECK(entry_get(&t[i], "segment") && strcmp(entry_get(&t[i], "segment"), "smb") == 0,
              "trigger segment %s", entry_get(&t[i], "segment"));
        char want_ts[32];
        snprintf(want_ts, sizeof want_ts, "%lld", T_MS + H_MS);
        CHECK(entry_get(&t[i], "ts") && strcmp(entry_get(&t[i], "ts"), want_ts) == 0,
              "detractor ts %s, want %s (the NPS 0 answer)", entry_get(&t[i], "ts"), want_ts);
    }
    CHECK_EQ(found, 1, "detractor triggers for %s: %d (the second NPS 0 is in the cooldown)", DRIFT,
             found);
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

TestSuite(risk_alerts, .init = setup, .fini = teardown, .timeout = 240);

Test(risk_alerts, drift_alerts_once_then_recovers)
{
    int64_t t0 = kst_now_ms();
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC ".dlq", 1), 0, "%s", kst_last_error());
    snprintf(g.group, sizeof g.group, "risk-%d-%lld", (int)getpid(), (long long)kst_now_ms());
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    /* The subscriber, before any kpistream starts. */
    g.sub = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.sub, "%s", kst_last_error());
    cr_assert_eq(redisSetTimeout(g.sub, tv_ms(20000)), REDIS_OK);
    redisReply *r = redisCommand(g.sub, "SUBSCRIBE kpi:alerts");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                  strcmp(r->element[0]->str, "subscribe") == 0,
              "SUBSCRIBE failed");
    freeReplyObject(r);

    /* ---- Phase 1: the drift, the dip to medium and the re-entry. ---- */
    produce_phase1();
    run_kpistream();
    int64_t t1 = kst_now_ms();

    double score = -1;
    cr_assert_eq(risk_score(DRIFT, &score), 1, "%s is not in kpi:risk after the drift", DRIFT);
    CHECK_EQ(score, 75, "ZSCORE kpi:risk %s = %g, want 75", DRIFT, score);
    char buf[128];
    CHECK_EQ(kst_redis_hget(g.rc, "kpi:customer:" DRIFT, "risk_level", buf, sizeof buf), 1);
    CHECK_STR(buf, "high");
    CHECK_EQ(kst_redis_hget_ll(g.rc, "kpi:customer:" DRIFT, "risk_score", -1), 75);
    /* The calm customers stay out of the ranking's high end. */
    for (int i = 1; i <= 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "kpi:customer:c-calm-%d", i);
        CHECK_LT(kst_redis_hget_ll(g.rc, key, "risk_score", 100), 40, "%s risk_score", key);
    }

    cr_assert_eq(xlen("kpi:alerts"), 1, "one alert after the drift and the re-entry");
    entry alert;
    cr_assert_eq(read_stream("kpi:alerts", &alert, 1), 1);
    check_alert_entry(&alert);
    /* "the customer's CLV at that moment (as in the customer hash)" */
    char clv[64];
    CHECK_EQ(kst_redis_hget(g.rc, "kpi:customer:" DRIFT, "clv", clv, sizeof clv), 1);
    CHECK_STR(entry_get(&alert, "clv"), clv);

    published p1 = drain_until_sentinel(1);
    CHECK_EQ(p1.n, 1, "pub/sub messages in phase 1: %d, want 1", p1.n);
    if (p1.n >= 1) check_published(p1.first, &alert);
    check_detractor_trigger();
    long long triggers1 = xlen("kpi:triggers");

    /* ---- Phase 2: restart (state replayed from the topic, nothing re-sent),
     * then the recovery events. ---- */
    produce_phase2();
    run_kpistream();
    int64_t t2 = kst_now_ms();

    CHECK_EQ(xlen("kpi:alerts"), 1, "the replay or the recovery added an alert");
    entry again;
    cr_assert_eq(read_stream("kpi:alerts", &again, 1), 1);
    CHECK_STR(entry_get(&again, "alert_id"), entry_get(&alert, "alert_id"));
    published p2 = drain_until_sentinel(2);
    CHECK_EQ(p2.n, 0, "pub/sub messages in phase 2: %d, want 0 (first: %s)", p2.n, p2.first);
    /* The replayed NPS 0 must not raise its detractor trigger again. */
    check_detractor_trigger();
    CHECK_GEQ(xlen("kpi:triggers"), triggers1);

    CHECK_EQ(risk_score(DRIFT, &score), 0, "%s still in kpi:risk with %g after recovering", DRIFT,
             score);
    CHECK_EQ(kst_redis_hget_ll(g.rc, "kpi:customer:" DRIFT, "risk_score", -1), 0);
    CHECK_EQ(kst_redis_hget(g.rc, "kpi:customer:" DRIFT, "risk_level", buf, sizeof buf), 1);
    CHECK_STR(buf, "low");
    CHECK_EQ(kst_redis_hget(g.rc, "kpi:customer:" DRIFT, "status", buf, sizeof buf), 1);
    CHECK_STR(buf, "active", "reactivated by the recovery events");

    const char *alert_id = entry_get(&alert, "alert_id"); /* (checked above; NULL never printed) */
    fprintf(stderr, "risk_alerts: setup+phase 1 %.1f s, phase 2 %.1f s; alert %s\n",
            (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000, alert_id ? alert_id : "-");
    g.finished = true;
}
