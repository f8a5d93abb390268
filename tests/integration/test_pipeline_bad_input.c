/* Bad input never stops the pipeline: every malformed, invalid or
 * out-of-range message goes to the dead-letter topic exactly once with its
 * original bytes and the reason of CONTRACT.md section 1 in the header
 * `kpistream.error`, kpi:meta counts it, duplicates are ignored, and the good
 * events around them are all counted. Runs the real kpistream binary against
 * a librdkafka mock cluster and a private redis-server.
 *
 * The input topic has ONE partition, so the event-time watermark is simply
 * the newest event time read so far (CONTRACT.md section 2): that makes
 * `too_old` well defined for an old event placed after newer ones.
 *
 * Messages are produced by a producer of this file (not the harness's) because
 * the 1 MiB message is above librdkafka's default message.max.bytes (1000000);
 * one idempotent producer keeps the partition in exactly the listed order.
 *
 * Reasons as src/event/event.c produces them (first broken rule wins):
 * size > max_message_bytes (64 KiB default) -> too_large; UTF-8 -> bad_utf8;
 * JSON syntax / not an object -> malformed_json; then envelope fields in the
 * order event_id, type, customer_id, ts, segment, channel; then the type's
 * own fields. future_timestamp / too_old are judged by the engine. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Good events: D = 2026-11-18 00:00 UTC = 1794960000000; T(i) = D+10:00 + i*10 min. */
#define T0 1794996000000LL
#define T(i) (T0 + (i) * 600000LL)
#define DAY_MS 86400000LL

typedef struct msg {
    const char *key;    /* message key (customer_id), NULL: none */
    char *value;        /* owned */
    size_t len;
    const char *reason; /* expected kpistream.error; NULL for a good event or a duplicate */
    bool duplicate;
    int seen;           /* times found in the dead-letter topic */
} msg;

#define MAX_MSGS 64

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    rd_kafka_t *producer;
    redisContext *rc;
    msg msgs[MAX_MSGS];
    int n;
    long dr_errors;
    char dr_error[256];
    int failures;
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited)
        kst_proc_stop(&g.proc, 5000);
    if ((!g.finished || g.failures) && g.proc.log_path[0])
        kst_log_tail(g.proc.log_path, 80);
    if (g.rc)
        redisFree(g.rc);
    if (g.producer)
        rd_kafka_destroy(g.producer);
    for (int i = 0; i < g.n; i++)
        free(g.msgs[i].value);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

/* Adds a message of len raw bytes. */
static void add_raw(const char *key, const char *bytes, size_t len, const char *reason, bool dup)
{
    cr_assert_lt(g.n, MAX_MSGS);
    msg *m = &g.msgs[g.n++];
    m->key = key;
    m->value = malloc(len ? len : 1);
    cr_assert_not_null(m->value);
    memcpy(m->value, bytes, len);
    m->len = len;
    m->reason = reason;
    m->duplicate = dup;
}

/* Adds a message written with ' for " (the text has no real apostrophes). */
static void add(const char *key, const char *text, const char *reason)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    cr_assert_not_null(buf);
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    add_raw(key, buf, n, reason, false);
    free(buf);
}

/* add() with a printf format first (for timestamps). */
#define ADDF(key, reason, ...)                                                                     \
    do {                                                                                           \
        char t_[1024];                                                                             \
        snprintf(t_, sizeof t_, __VA_ARGS__);                                                      \
        add((key), t_, (reason));                                                                  \
    } while (0)

/* Repeats message i (same bytes): a producer retry, counted once. */
static void add_repeat(int i)
{
    add_raw(g.msgs[i].key, g.msgs[i].value, g.msgs[i].len, NULL, true);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        g.dr_errors++;
        snprintf(g.dr_error, sizeof g.dr_error, "%s", rd_kafka_err2str(m->err));
    }
}

static void start_servers(void)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events", 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "events.dlq", 1), 0, "%s", kst_last_error());

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    const char *props[][2] = {{"bootstrap.servers", g.kafka.bootstraps},
                              {"message.max.bytes", "4000000"},
                              {"enable.idempotence", "true"},
                              {"linger.ms", "5"},
                              {"message.timeout.ms", "30000"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        cr_assert_eq(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK, "%s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    g.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(g.producer, "producer: %s", err);
}

static void produce_all(void)
{
    for (int i = 0; i < g.n; i++) {
        const msg *m = &g.msgs[i];
        rd_kafka_resp_err_t e = rd_kafka_producev(
            g.producer, RD_KAFKA_V_TOPIC("events"), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_KEY((void *)m->key, m->key ? strlen(m->key) : 0),
            RD_KAFKA_V_VALUE(m->value, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        cr_assert_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR, "produce message %d: %s", i,
                     rd_kafka_err2str(e));
    }
    cr_assert_eq(rd_kafka_flush(g.producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "producer flush timed out");
    cr_assert_eq(g.dr_errors, 0, "delivery failed: %s", g.dr_error);
    int64_t end = 0;
    cr_assert_eq(kst_kafka_end_offsets(&g.kafka, "events", 1, &end), 0, "%s", kst_last_error());
    cr_assert_eq(end, g.n, "the input partition holds every message");
}

static void run_binary(const char *tag)
{
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char group[64], log[512];
    snprintf(group, sizeof group, "%s-%d-%lld", tag, (int)getpid(), (long long)kst_now_ms());
    snprintf(log, sizeof log, "%s/kpistream.log", g.dir);
    char *argv[] = {(char *)bin,     "run",
                    "--brokers",     g.kafka.bootstraps,
                    "--topics",      "events",
                    "--group",       group,
                    "--redis",       (char *)kst_redis_url(&g.redis),
                    "--clock",       "event",
                    "--exit-on-eof", NULL};
    cr_assert_eq(kst_proc_spawn(&g.proc, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    cr_assert_eq(kst_proc_wait(&g.proc, 90000, &status), 0,
                 "kpistream did not exit by itself within 90 s (--exit-on-eof)");
    cr_assert_eq(status, 0, "kpistream exited with status %d", status);
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());
}

/* Matches each dead-lettered message to the listed one with the same bytes. */
static long dlq_unexpected;
static int dlq_cb(const kst_msg *km, void *ctx)
{
    (void)ctx;
    char reason[128] = "";
    int has = kst_msg_header(km, "kpistream.error", reason, sizeof reason);
    for (int i = 0; i < g.n; i++) {
        msg *m = &g.msgs[i];
        if (m->reason && m->len == km->len && memcmp(m->value, km->value, km->len) == 0) {
            m->seen++;
            bool ok = has && strcmp(reason, m->reason) == 0;
            if (!ok)
                g.failures++;
            cr_expect(ok, "message %d (%.40s...): kpistream.error = \"%s\", want \"%s\"", i,
                      m->value, has ? reason : "(no header)", m->reason);
            return 0;
        }
    }
    dlq_unexpected++;
    g.failures++;
    cr_expect(0, "unexpected dead letter (%zu bytes, reason \"%s\"): %.80s", km->len, reason,
              (const char *)km->value);
    return 0;
}

/* Reads the whole dead-letter topic and checks every bad message is there
 * exactly once. Returns the number of dead letters read. */
static long check_dlq(void)
{
    dlq_unexpected = 0;
    long n = kst_kafka_consume_all(&g.kafka, "events.dlq", 30000, dlq_cb, NULL);
    cr_assert_geq(n, 0, "reading events.dlq: %s", kst_last_error());
    for (int i = 0; i < g.n; i++) {
        const msg *m = &g.msgs[i];
        if (!m->reason)
            continue;
        if (m->seen != 1)
            g.failures++;
        cr_expect_eq(m->seen, 1, "message %d (%s, %zu bytes: %.40s...) is in the DLQ %d times",
                     i, m->reason, m->len, m->value, m->seen);
    }
    return n;
}

#define EXPECT_FIELD(key, field, want)                                                             \
    do {                                                                                           \
        char got_[128] = "";                                                                       \
        int rc_ = kst_redis_hget(g.rc, (key), (field), got_, sizeof got_);                         \
        bool ok_ = rc_ == 1 && strcmp(got_, (want)) == 0;                                          \
        if (!ok_)                                                                                  \
            g.failures++;                                                                          \
        cr_expect(ok_, "%s %s = %s, want %s", (key), (field), rc_ == 1 ? got_ : "(absent)",       \
                  (want));                                                                         \
    } while (0)

TestSuite(pipeline_bad_input, .init = setup, .fini = teardown, .timeout = 240);

Test(pipeline_bad_input, rejects_dead_letters_and_keeps_counting)
{
    start_servers();

    /* ~1 MiB interaction that is valid JSON apart from its size. */
    const size_t big_len = 1048576;
    char *big = malloc(big_len);
    cr_assert_not_null(big);
    int head = snprintf(big, big_len,
                        "{\"event_id\":\"x-big\",\"type\":\"interaction\",\"customer_id\":\"g1\","
                        "\"ts\":%lld,\"action\":\"",
                        T(6));
    memset(big + head, 'a', big_len - (size_t)head - 2);
    memcpy(big + big_len - 2, "\"}", 2);

    /* The stream, in partition order. Good events G1..G13, 2 repeats, 21 bad. */
    // clang-format off
    ADDF("g1", NULL, "{'event_id':'g01','type':'signup','customer_id':'g1','segment':'smb','channel':'web','ts':%lld}", T(0));
    ADDF("g1", "malformed_json", "{'event_id':'x-trunc','type':'signup','customer_id':'g1','ts':%lld", T(0));
    int g2 = g.n;
    ADDF("g1", NULL, "{'event_id':'g02','type':'purchase','customer_id':'g1','order_id':'o1','amount':20.00,'category':'books','ts':%lld}", T(1));
    ADDF("g1", "malformed_json", "[{'event_id':'x-array','type':'signup','customer_id':'g1','ts':%lld}]", T(1));
    add_repeat(g2); /* duplicate 1: identical bytes */
    ADDF("g1", "bad_type:amount", "{'event_id':'x-amount','type':'purchase','customer_id':'g1','order_id':'o9','amount':'12.50','ts':%lld}", T(1));
    ADDF("g2", NULL, "{'event_id':'g03','type':'interaction','customer_id':'g2','segment':'enterprise','channel':'app','ts':%lld}", T(2));
    add("g2", "{'event_id':'x-tsbool','type':'interaction','customer_id':'g2','ts':true}", "bad_type:ts");
    ADDF(NULL, "bad_type:customer_id", "{'event_id':'x-cidnum','type':'interaction','customer_id':42,'ts':%lld}", T(2));
    ADDF("g2", NULL, "{'event_id':'g04','type':'ticket','customer_id':'g2','ticket_id':'k1','action':'opened','complaint':true,'ts':%lld}", T(3));
    ADDF("g2", "missing_field:event_id", "{'type':'interaction','customer_id':'g2','ts':%lld}", T(3));
    ADDF(NULL, "missing_field:customer_id", "{'event_id':'x-nocid','type':'interaction','ts':%lld}", T(3));
    ADDF("g2", "missing_field:type", "{'event_id':'x-notype','customer_id':'g2','ts':%lld}", T(3));
    add("g2", "{'event_id':'x-nots','type':'interaction','customer_id':'g2'}", "missing_field:ts");
    int g5 = g.n;
    ADDF("g1", NULL, "{'event_id':'g05','type':'survey','customer_id':'g1','kind':'csat','score':4,'ts':%lld}", T(4));
    ADDF("g1", "missing_field:order_id", "{'event_id':'x-noorder','type':'purchase','customer_id':'g1','amount':9.99,'ts':%lld}", T(4));
    ADDF("g2", "missing_field:ticket_id", "{'event_id':'x-noticket','type':'ticket','customer_id':'g2','action':'opened','ts':%lld}", T(4));
    ADDF("g2", "unknown_type", "{'event_id':'x-unknown','type':'teleport','customer_id':'g2','ts':%lld}", T(4));
    ADDF("g1", NULL, "{'event_id':'g06','type':'refund','customer_id':'g1','order_id':'o1','amount':5.00,'ts':%lld}", T(5));
    add_raw("g1", big, big_len, "too_large", false);
    free(big);
    ADDF("g2", NULL, "{'event_id':'g07','type':'lead','customer_id':'g2','action':'created','ts':%lld}", T(6));
    {
        /* 0xFF can never appear in UTF-8. */
        char t[256];
        snprintf(t, sizeof t, "{\"event_id\":\"x-utf8\",\"type\":\"signup\",\"customer_id\":\"g3\",\"segment\":\"sm\xff" "b\",\"ts\":%lld}", T(6));
        add_raw("g3", t, strlen(t), "bad_utf8", false);
    }
    /* duplicate 2: g05's event_id again with another score: still a repeat,
     * so csat_last must stay 4 */
    ADDF("g1", NULL, "{'event_id':'g05','type':'survey','customer_id':'g1','kind':'csat','score':1,'ts':%lld}", T(6));
    g.msgs[g.n - 1].duplicate = true;
    (void)g5;
    /* 2200-01-01T00:00:00Z, far beyond max_future_skew (5 min) of the wall clock */
    add("g2", "{'event_id':'x-future','type':'interaction','customer_id':'g2','ts':7258118400000}", "future_timestamp");
    ADDF(NULL, NULL, "{'event_id':'g08','type':'marketing_spend','channel':'web','amount':100,'ts':%lld}", T(7));
    ADDF("g1", "bad_value:amount", "{'event_id':'x-negamount','type':'purchase','customer_id':'g1','order_id':'o8','amount':-5,'ts':%lld}", T(7));
    ADDF("g1", "bad_value:score", "{'event_id':'x-score','type':'survey','customer_id':'g1','kind':'csat','score':9,'ts':%lld}", T(7));
    ADDF("g1", NULL, "{'event_id':'g09','type':'payment_failed','customer_id':'g1','amount':12.00,'ts':%lld}", T(8));
    {
        char id[130];
        memset(id, 'i', 129);
        id[129] = '\0'; /* 129 bytes: one over the 128 limit */
        ADDF("g1", "bad_value:event_id", "{'event_id':'%s','type':'signup','customer_id':'g1','ts':%lld}", id, T(8));
    }
    ADDF("g2", "bad_value:action", "{'event_id':'x-action','type':'subscription','customer_id':'g2','action':'pause','ts':%lld}", T(8));
    add("g2", "{'event_id':'x-tsnooffset','type':'interaction','customer_id':'g2','ts':'2026-11-18T10:00:00'}", "bad_value:ts");
    ADDF("g2", NULL, "{'event_id':'g10','type':'subscription','customer_id':'g2','action':'upgrade','ts':%lld}", T(9));
    ADDF("g1", NULL, "{'event_id':'g11','type':'referral','customer_id':'g1','ts':%lld}", T(10));
    ADDF("g2", NULL, "{'event_id':'g12','type':'retention_spend','customer_id':'g2','amount':7.50,'ts':%lld}", T(11));
    /* The partition's newest time is now T(11); 31 days before it is more
     * than the largest window (30d) behind the watermark. */
    ADDF("g1", "too_old", "{'event_id':'x-old','type':'interaction','customer_id':'g1','ts':%lld}", T(11) - 31 * DAY_MS);
    /* Slightly late but inside every window: accepted. */
    ADDF("g2", NULL, "{'event_id':'g13','type':'interaction','customer_id':'g2','ts':%lld}", T(11) - 300000LL);
    // clang-format on

    int nbad = 0, ndup = 0, ngood = 0;
    for (int i = 0; i < g.n; i++) {
        if (g.msgs[i].reason)
            nbad++;
        else if (g.msgs[i].duplicate)
            ndup++;
        else
            ngood++;
    }
    /* The counts the assertions below are written for. */
    cr_assert_eq(nbad, 21);
    cr_assert_eq(ndup, 2);
    cr_assert_eq(ngood, 13);

    produce_all();
    run_binary("bad");

    /* Every bad message exactly once in events.dlq, with its reason and
     * bytes, and nothing else there. */
    long ndlq = check_dlq();
    cr_expect_eq(ndlq, 21, "dead letters: %ld, want 21", ndlq);
    cr_expect_eq(dlq_unexpected, 0);

    /* meta: 13 accepted, 21 rejected, 2 repeats; clock = newest good time T(11). */
    char clock[32];
    snprintf(clock, sizeof clock, "%lld", T(11));
    EXPECT_FIELD("kpi:meta", "events_processed", "13");
    EXPECT_FIELD("kpi:meta", "events_rejected", "21");
    EXPECT_FIELD("kpi:meta", "duplicates", "2");
    EXPECT_FIELD("kpi:meta", "clock_ms", clock);

    /* The good events, all within 2 h of the clock, so 24h and 30d agree:
     * g01 signup, g02 purchase 20.00, g03 interaction, g04 ticket opened
     * (complaint), g05 csat 4, g06 refund 5.00, g07 lead, g08 marketing 100,
     * g09 payment_failed, g10 upgrade, g11 referral, g12 retention 7.50,
     * g13 interaction. Customers g1 and g2 (the bad g3 never counts). */
    static const char *const windows[] = {"24h", "30d"};
    for (int w = 0; w < 2; w++) {
        static const struct {
            const char *kpi, *want;
        } want[] = {
            {"events", "13"},
            {"new_customers", "2"},       /* g1 (g01), g2 (g03) */
            {"active_customers", "2"},
            {"customers", "2"},
            {"orders", "1"},
            {"purchasing_customers", "1"},
            {"revenue", "15.00"},         /* 20.00 - 5.00 */
            {"refunds", "5.00"},
            {"interactions", "2"},        /* g03, g13 */
            {"tickets", "1"},
            {"complaints", "1"},
            {"csat_responses", "1"},      /* the repeat of g05 is ignored */
            {"csat", "100.00"},           /* score 4 of 1 response */
            {"leads", "1"},
            {"conversions", "0"},
            {"marketing_spend", "100.00"},
            {"payment_failures", "1"},
            {"upsells", "1"},
            {"referrals", "1"},
            {"retention_spend", "7.50"},
            {"nps_responses", "0"},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char field[64];
            snprintf(field, sizeof field, "%s:%s", want[i].kpi, windows[w]);
            EXPECT_FIELD("kpi:global", field, want[i].want);
        }
    }
    EXPECT_FIELD("kpi:customer:g1", "orders_total", "1");
    EXPECT_FIELD("kpi:customer:g1", "revenue_total", "15.00");
    EXPECT_FIELD("kpi:customer:g1", "csat_last", "4");
    EXPECT_FIELD("kpi:customer:g1", "payment_failures_30d", "1");
    EXPECT_FIELD("kpi:customer:g2", "open_tickets", "1");
    EXPECT_FIELD("kpi:customer:g2", "complaints_30d", "1");
    /* No customer hash for the rejected g3 (or for the customer_id 42). */
    cr_expect_eq(kst_redis_hget(g.rc, "kpi:customer:g3", "status", (char[8]){0}, 8), 0);
    cr_expect_eq(kst_redis_hget(g.rc, "kpi:customer:42", "status", (char[8]){0}, 8), 0);

    g.finished = true;
}

/* too_old must not depend on how messages are grouped into consumer batches:
 * the watermark of a single partition is its newest event time read so far,
 * so the second message below is 31 days behind it when it is read, even if
 * both arrive in the same fetch (they do here: two small messages). */
Test(pipeline_bad_input, too_old_right_after_the_first_event)
{
    start_servers();
    // clang-format off
    ADDF("g1", NULL, "{'event_id':'n1','type':'interaction','customer_id':'g1','ts':%lld}", T(0));
    ADDF("g1", "too_old", "{'event_id':'n2','type':'interaction','customer_id':'g1','ts':%lld}", T(0) - 31 * DAY_MS);
    // clang-format on
    produce_all();
    run_binary("old");
    long ndlq = check_dlq();
    cr_expect_eq(ndlq, 1, "dead letters: %ld, want 1", ndlq);
    EXPECT_FIELD("kpi:meta", "events_processed", "1");
    EXPECT_FIELD("kpi:meta", "events_rejected", "1");
    g.finished = true;
}
