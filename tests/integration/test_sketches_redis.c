/* The sketches as Redis sees them, end to end: the HyperLogLog keys that
 * kpistream writes are real Redis HyperLogLogs (PFCOUNT, PFMERGE and PFADD
 * work on them and agree with the exact counts), and the top-k keys are
 * sorted sets within Space-Saving's bound.
 *
 * Two populations, each from `kpistream gen` (20 000 customers, 10 days, fixed
 * --start-ms so a failure reproduces):
 *   A: seed 9, 1 % producer retries, produced by the generator itself into
 *      topic "sk-a" (8 partitions; the generator's lz4 batches keep each
 *      partition under the ~5 MB the librdkafka 2.0.2 mock retains, and its
 *      keying keeps a retried keyless event in its original's partition);
 *   B: seed 10, written to a file, every customer id "c-NNNNNN" rewritten to
 *      "d-NNNNNN" (the generator numbers customers the same way for every
 *      seed, so without this the two populations would share ids), produced
 *      by the test keyed by customer into "sk-b" (8 partitions, lz4).
 * Two kpistream instances run side by side on one redis-server, A with the
 * default prefix kpi:, B with --prefix kpi2:, both --clock event --exit-on-eof.
 *
 * Checks (the bound: HLL standard error 1.04/sqrt(16384) = 0.81 %; 3 standard
 * errors = 2.44 %, docs/sketches.md):
 *  - kpi:hll:active:<w> and kpi2:hll:active:<w> for w = 24h, 7d, 30d are
 *    strings in Redis' dense HLL encoding ("HYLL", dense, 12 304 bytes) and
 *    PFCOUNT is within 3 standard errors of the exact active_customers:<w> of
 *    the same instance;
 *  - 30d holds every event of both 10-day streams, so its exact active set is
 *    every customer id in the file: active_customers:30d equals the test's
 *    own count, and PFADD of all those ids into a copy of the key changes no
 *    register (kpistream hashes and places ids exactly as Redis does);
 *  - the populations are disjoint, so the union's distinct count is the sum:
 *    PFCOUNT kpi:hll:active:24h kpi2:hll:active:24h is within 3 standard
 *    errors of the two exact counts' sum, and PFMERGE into a third key gives
 *    the same count;
 *  - kpi:top:product:<w> and kpi:top:complaint_category:<w> are sorted sets
 *    of 1..10 members with positive scores; over 30d (the whole stream, so
 *    the true counts are known from the file, duplicates removed by
 *    event_id) every product's score s satisfies f <= s <= f + N/100
 *    (Space-Saving with m = 10 k = 100 counters per bucket for a top 10; the
 *    merge of the buckets keeps the bound N/m with N the window's purchases;
 *    the stream has ~240 products, so counters are evicted and scores may be
 *    over), the top product is the true top product (its lead over the second
 *    is larger than N/100), and the 5 complaint categories are counted exactly
 *    (fewer items than counters: nothing is ever evicted).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define START_MS "1793750400000" /* 2026-11-04T00:00:00Z; the streams end on 11-14 */
#define CUSTOMERS 20000
#define HLL_SE 0.0081         /* 1.04 / sqrt(16384), rounded up */
#define HLL_DENSE_BYTES 12304 /* "HYLL" header 16 + 16384 x 6 bits */
#define RUN_TIMEOUT_MS 180000

static const char *const windows[] = {"24h", "7d", "30d"};
#define NWIN (sizeof windows / sizeof windows[0])

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc gen, run_a, run_b;
    redisContext *rc;
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void teardown(void)
{
    kst_proc *ps[] = {&g.gen, &g.run_a, &g.run_b};
    for (size_t i = 0; i < 3; i++) {
        if (ps[i]->pid && !ps[i]->exited) kst_proc_stop(ps[i], 5000);
        /* The whole log if the body did not finish, else the summary lines
         * (throughput, state size) for the record. */
        if (ps[i]->log_path[0]) kst_log_tail(ps[i]->log_path, g.finished ? 4 : 40);
    }
    if (g.rc) redisFree(g.rc);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0]) kst_rmtree(g.dir);
}

/* Waits for a child to exit 0; prints its log otherwise. */
static void wait_ok(kst_proc *p, const char *what)
{
    int status = -1;
    int rc = kst_proc_wait(p, RUN_TIMEOUT_MS, &status);
    if (rc != 0 || status != 0) kst_log_tail(p->log_path, 60);
    cr_assert_eq(rc, 0, "%s did not exit within %d ms", what, RUN_TIMEOUT_MS);
    cr_assert_eq(status, 0, "%s exited with status %d", what, status);
}

/* Asserts that no partition of topic lost its start in the mock (it keeps only
 * the newest ~5 MB) and that it holds lines messages. */
static void check_topic_complete(const char *topic, int parts, long lines)
{
    int64_t total = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo = -1, hi = -1;
        cr_assert_eq(rd_kafka_query_watermark_offsets(g.kafka.producer, topic, p, &lo, &hi, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR, "watermarks of %s[%d]", topic, p);
        cr_assert_eq(lo, 0, "%s[%d] starts at %lld: the mock dropped data", topic, p,
                     (long long)lo);
        total += hi;
    }
    cr_assert_eq(total, lines, "%s holds %lld messages, the file %ld lines", topic,
                 (long long)total, lines);
}

/* ------------------------------------------------------------------ */
/* What the file says (computed here from the JSON lines, not by kpistream) */

#define MAX_ITEMS 512
typedef struct tally {
    int n;
    char name[MAX_ITEMS][64];
    long count[MAX_ITEMS];
} tally;

typedef struct truth {
    unsigned char seen[CUSTOMERS + 1]; /* customer number -> has an event */
    long customers;                    /* distinct customers with an event */
    long purchases;                    /* unique purchase events */
    tally products, complaints;
    /* event ids of the purchases and complaints, to drop retries */
    uint64_t *ids;
    size_t idcap;
} truth;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h ? h : 1;
}

/* Adds an event id; returns false if it was there already (a retry). */
static bool ids_add(truth *t, uint64_t h)
{
    size_t mask = t->idcap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (t->ids[i] == h) return false;
        if (t->ids[i] == 0) {
            t->ids[i] = h;
            return true;
        }
    }
}

static void tally_add(tally *t, const char *name, size_t len)
{
    cr_assert_lt(len, sizeof t->name[0], "item too long");
    for (int i = 0; i < t->n; i++)
        if (strlen(t->name[i]) == len && memcmp(t->name[i], name, len) == 0) {
            t->count[i]++;
            return;
        }
    cr_assert_lt(t->n, MAX_ITEMS, "too many distinct items");
    memcpy(t->name[t->n], name, len);
    t->name[t->n][len] = '\0';
    t->count[t->n++] = 1;
}

static long tally_get(const tally *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->name[i], name) == 0) return t->count[i];
    return 0;
}

/* The string value of "key":"..." inside [line, end), or NULL. */
static const char *json_str(const char *line, const char *end, const char *key, size_t *len)
{
    const char *p = memmem(line, (size_t)(end - line), key, strlen(key));
    if (!p) return NULL;
    p += strlen(key);
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (!q) return NULL;
    *len = (size_t)(q - p);
    return p;
}

/* Reads the JSON lines of one population (ids "<letter>-NNNNNN"). */
static void read_truth(const char *text, size_t len, char letter, truth *t)
{
    memset(t, 0, sizeof *t);
    t->idcap = 1 << 18;
    t->ids = calloc(t->idcap, sizeof *t->ids);
    cr_assert_not_null(t->ids);
    for (const char *line = text; line < text + len;) {
        const char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        size_t n;
        const char *cust = json_str(line, end, "\"customer_id\":\"", &n);
        if (cust) {
            cr_assert(n == 8 && cust[0] == letter && cust[1] == '-', "customer id %.*s", (int)n,
                      cust);
            long num = strtol(cust + 2, NULL, 10);
            cr_assert(num >= 1 && num <= CUSTOMERS, "customer id %.*s", (int)n, cust);
            if (!t->seen[num]) {
                t->seen[num] = 1;
                t->customers++;
            }
        }
        size_t tl = 0, il = 0, vl = 0;
        const char *type = json_str(line, end, "\"type\":\"", &tl);
        const char *id = json_str(line, end, "\"event_id\":\"", &il);
        cr_assert(type && id, "line without type or event_id: %.*s", (int)(end - line), line);
        bool purchase = tl == 8 && memcmp(type, "purchase", 8) == 0;
        bool complaint = tl == 6 && memcmp(type, "ticket", 6) == 0 &&
                         memmem(line, (size_t)(end - line), "\"action\":\"opened\"", 17) &&
                         memmem(line, (size_t)(end - line), "\"complaint\":true", 16);
        if ((purchase || complaint) && ids_add(t, fnv1a(id, il))) {
            const char *v =
                json_str(line, end, purchase ? "\"product\":\"" : "\"category\":\"", &vl);
            if (purchase) t->purchases++;
            if (v) tally_add(purchase ? &t->products : &t->complaints, v, vl);
        }
        line = end + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Redis helpers                                                       */

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g.rc, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis: %s", g.rc->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "redis: %s", r->str);
    return r;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(g.rc, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "redis %s: %s", fmt,
              r ? (r->type == REDIS_REPLY_ERROR ? r->str : "not an integer") : g.rc->errstr);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* |est - exact| <= 3 standard errors of exact. */
static void expect_within_3se(long long est, long long exact, const char *what)
{
    double err = fabs((double)est - (double)exact) / (double)exact;
    cr_expect(exact > 0 && err <= 3 * HLL_SE, "%s: HLL %lld, exact %lld: off by %.2f %% > %.2f %%",
              what, est, exact, 100 * err, 300 * HLL_SE);
}

/* The HLL key of one window is a dense Redis HLL and PFCOUNT agrees with the
 * exact active_customers. Returns the exact count. */
static long long check_hll_window(const char *prefix, const char *w)
{
    char key[96], global[96], field[96];
    snprintf(key, sizeof key, "%shll:active:%s", prefix, w);
    snprintf(global, sizeof global, "%sglobal", prefix);
    snprintf(field, sizeof field, "active_customers:%s", w);
    redisReply *r = cmd("GET %s", key);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s is not a string", key);
    cr_expect(r->len >= 5 && memcmp(r->str, "HYLL", 4) == 0, "%s does not start with HYLL", key);
    cr_expect(r->len == HLL_DENSE_BYTES && r->str[4] == 0, "%s: %zu bytes, encoding %d; want dense",
              key, r->len, r->len > 4 ? r->str[4] : -1);
    freeReplyObject(r);
    long long exact = kst_redis_hget_ll(g.rc, global, field, -1);
    cr_assert_gt(exact, 0, "%s %s", global, field);
    long long est = cmd_int("PFCOUNT %s", key);
    char what[320];
    snprintf(what, sizeof what, "PFCOUNT %s vs %s %s", key, global, field);
    expect_within_3se(est, exact, what);
    fprintf(stderr, "sketches_redis: %-24s PFCOUNT %6lld, exact %6lld (%+.2f %%)\n", key, est,
            exact, 100.0 * ((double)est - (double)exact) / (double)exact);
    return exact;
}

/* PFADD every customer of t into a copy of the 30d key: no register may change
 * (PFADD answers 0), since each id is already in the sketch, hashed and
 * placed as Redis does it. */
static void check_hll_registers(const char *prefix, char letter, const truth *t)
{
    char key[64], copy[64];
    snprintf(key, sizeof key, "%shll:active:30d", prefix);
    snprintf(copy, sizeof copy, "kst:copy:%c", letter);
    redisReply *r = cmd("GET %s", key);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(cmd("SET %s %b", copy, r->str, r->len));
    freeReplyObject(r);
    long long before = cmd_int("PFCOUNT %s", copy);
    enum { BATCH = 1000 };
    char idbuf[BATCH][16];
    const char *argv[BATCH + 2];
    size_t argl[BATCH + 2];
    long changed = 0, added = 0;
    int n = 0;
    for (int num = 1; num <= CUSTOMERS + 1; num++) {
        if (num <= CUSTOMERS && t->seen[num]) {
            argl[n + 2] = (size_t)snprintf(idbuf[n], sizeof idbuf[n], "%c-%06d", letter, num);
            argv[n + 2] = idbuf[n];
            n++;
        }
        if (n == BATCH || (num == CUSTOMERS + 1 && n > 0)) {
            argv[0] = "PFADD";
            argl[0] = 5;
            argv[1] = copy;
            argl[1] = strlen(copy);
            redisReply *a = redisCommandArgv(g.rc, n + 2, argv, argl);
            cr_assert(a && a->type == REDIS_REPLY_INTEGER, "PFADD failed");
            changed += a->integer;
            added += n;
            freeReplyObject(a);
            n = 0;
        }
    }
    cr_assert_eq(added, t->customers);
    cr_expect_eq(changed, 0,
                 "PFADD of the %ld active customer ids into a copy of %s changed registers in "
                 "%ld of its batches: kpistream's HLL does not place ids as Redis does",
                 added, key, changed);
    cr_expect_eq(cmd_int("PFCOUNT %s", copy), before);
}

/* A top-k key: a sorted set of 1..10 members with positive scores, the first
 * of ZREVRANGE holding the largest score. Returns the reply of ZREVRANGE 0 -1
 * WITHSCORES (caller frees). */
static redisReply *check_topk_shape(const char *key)
{
    redisReply *t = cmd("TYPE %s", key);
    cr_assert(t->type == REDIS_REPLY_STATUS && strcmp(t->str, "zset") == 0,
              "%s is a %s, not a zset", key, t->str);
    freeReplyObject(t);
    redisReply *r = cmd("ZREVRANGE %s 0 -1 WITHSCORES", key);
    size_t members = r->elements / 2;
    cr_expect(members >= 1 && members <= 10, "%s has %zu members", key, members);
    double top = members ? strtod(r->element[1]->str, NULL) : 0;
    for (size_t i = 0; i < members; i++) {
        double s = strtod(r->element[2 * i + 1]->str, NULL);
        cr_expect_gt(s, 0, "%s %s has score %g", key, r->element[2 * i]->str, s);
        cr_expect_geq(top, s, "%s: top %s (%g) below %s (%g)", key, r->element[0]->str, top,
                      r->element[2 * i]->str, s);
    }
    return r;
}

static void check_topk(const char *prefix, const truth *t)
{
    for (size_t w = 0; w < NWIN; w++) {
        char key[96];
        snprintf(key, sizeof key, "%stop:complaint_category:%s", prefix, windows[w]);
        freeReplyObject(check_topk_shape(key));
        snprintf(key, sizeof key, "%stop:product:%s", prefix, windows[w]);
        freeReplyObject(check_topk_shape(key));
    }
    /* 30d: the whole stream, whose true counts the file gives. */
    char key[96];
    snprintf(key, sizeof key, "%stop:product:30d", prefix);
    redisReply *r = check_topk_shape(key);
    double slack = (double)t->purchases / 100.0; /* N/m, m = 10 k = 100 */
    int exact = 0;
    for (size_t i = 0; i < r->elements / 2; i++) {
        const char *item = r->element[2 * i]->str;
        double s = strtod(r->element[2 * i + 1]->str, NULL);
        long f = tally_get(&t->products, item);
        cr_expect(f > 0, "%s: %s never purchased", key, item);
        cr_expect(s >= (double)f && s <= (double)f + slack,
                  "%s: %s scored %g, true count %ld (+%g)", key, item, s, f, slack);
        exact += s == (double)f;
    }
    /* The true top product leads the second by more than N/m: it must rank first. */
    int best = 0, second = -1;
    for (int i = 1; i < t->products.n; i++)
        if (t->products.count[i] > t->products.count[best]) {
            second = best;
            best = i;
        } else if (second < 0 || t->products.count[i] > t->products.count[second]) {
            second = i;
        }
    cr_assert(second >= 0 && (double)(t->products.count[best] - t->products.count[second]) > slack,
              "the stream's top product does not lead clearly; pick another seed");
    cr_expect(r->elements >= 2 && strcmp(r->element[0]->str, t->products.name[best]) == 0,
              "%s ranks %s first; the true top product is %s (%ld)", key,
              r->elements ? r->element[0]->str : "(none)", t->products.name[best],
              t->products.count[best]);
    fprintf(stderr,
            "sketches_redis: %s: %zu members, %d with the exact count; top %s %s (true %ld)\n", key,
            r->elements / 2, exact, r->elements ? r->element[0]->str : "-",
            r->elements ? r->element[1]->str : "-", t->products.count[best]);
    freeReplyObject(r);

    /* Complaint categories: fewer than the counters, so exact, all present. */
    snprintf(key, sizeof key, "%stop:complaint_category:30d", prefix);
    r = check_topk_shape(key);
    cr_expect_eq(r->elements / 2, (size_t)(t->complaints.n < 10 ? t->complaints.n : 10),
                 "%s has %zu members, the stream %d categories", key, r->elements / 2,
                 t->complaints.n);
    for (size_t i = 0; i < r->elements / 2; i++) {
        const char *item = r->element[2 * i]->str;
        long f = tally_get(&t->complaints, item);
        cr_expect_eq(strtod(r->element[2 * i + 1]->str, NULL), (double)f,
                     "%s: %s scored %s, true count %ld", key, item, r->element[2 * i + 1]->str, f);
    }
    freeReplyObject(r);
}

/* ------------------------------------------------------------------ */

static void spawn_run(kst_proc *p, const char *topic, const char *group, const char *prefix,
                      const char *log)
{
    char *argv[] = {(char *)kst_binary(),
                    "run",
                    "--brokers",
                    g.kafka.bootstraps,
                    "--topics",
                    (char *)topic,
                    "--group",
                    (char *)group,
                    "--redis",
                    (char *)kst_redis_url(&g.redis),
                    "--prefix",
                    (char *)prefix,
                    "--clock",
                    "event",
                    "--exit-on-eof",
                    NULL};
    cr_assert_eq(kst_proc_spawn(p, argv, log), 0, "%s", kst_last_error());
}

static void count_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    long *failed = opaque;
    if (m->err) (*failed)++;
}

/* Produces one message per line, keyed by its customer_id (none for a line
 * without one), in lz4 batches as the generator does: the harness's
 * uncompressed producer is slow against the in-process mock under ASan, and
 * uncompressed partitions would pass the mock's ~5 MB retention. */
static void produce_lz4(const char *topic, const char *text, size_t len)
{
    static const char *const kv[][2] = {
        {"linger.ms", "50"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "500000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"compression.codec", "lz4"},
        {"enable.idempotence", "true"},
    };
    char err[256];
    long failed = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", g.kafka.bootstraps, err, sizeof err),
                 RD_KAFKA_CONF_OK, "%s", err);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err), RD_KAFKA_CONF_OK,
                     "%s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, count_delivery);
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    for (const char *line = text; line < text + len;) {
        const char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        size_t kl = 0;
        const char *key = json_str(line, end, "\"customer_id\":\"", &kl);
        for (;;) {
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? kl : 0),
                                  RD_KAFKA_V_VALUE((void *)line, (size_t)(end - line)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                cr_assert_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
                break;
            }
            rd_kafka_poll(rk, 50);
        }
        line = end + 1;
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 60000);
    rd_kafka_destroy(rk);
    cr_assert_eq(fe, RD_KAFKA_RESP_ERR_NO_ERROR, "flush: %s", rd_kafka_err2str(fe));
    cr_assert_eq(failed, 0, "%ld messages were not delivered", failed);
}

static long count_lines(const char *text, size_t len)
{
    long n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    return n;
}

TestSuite(sketches_redis, .init = setup, .fini = teardown, .timeout = 300);

Test(sketches_redis, hll_and_topk_keys_work_as_redis_types)
{
    int64_t t0 = kst_now_ms();
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "sk-a", 8), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "sk-a.dlq", 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "sk-b", 8), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, "sk-b.dlq", 1), 0, "%s", kst_last_error());
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    /* Population A: the generator produces it itself (and keeps a copy). */
    char file_a[512], file_b[512], log[512];
    snprintf(file_a, sizeof file_a, "%s/a.jsonl", g.dir);
    snprintf(file_b, sizeof file_b, "%s/b.jsonl", g.dir);
    snprintf(log, sizeof log, "%s/gen-a.log", g.dir);
    char *gen_a[] = {(char *)bin,      "gen",
                     "--customers",    "20000",
                     "--days",         "10",
                     "--seed",         "9",
                     "--dup-fraction", "0.01",
                     "--start-ms",     START_MS,
                     "--brokers",      g.kafka.bootstraps,
                     "--topic",        "sk-a",
                     "--out",          file_a,
                     "--quiet",        NULL};
    cr_assert_eq(kst_proc_spawn(&g.gen, gen_a, log), 0, "%s", kst_last_error());
    wait_ok(&g.gen, "kpistream gen (A)");

    /* Population B: to a file, ids rewritten to d-NNNNNN, then produced. */
    snprintf(log, sizeof log, "%s/gen-b.log", g.dir);
    char *gen_b[] = {(char *)bin, "gen",    "--customers", "20000",      "--days",
                     "10",        "--seed", "10",          "--start-ms", START_MS,
                     "--out",     file_b,   "--quiet",     NULL};
    memset(&g.gen, 0, sizeof g.gen);
    cr_assert_eq(kst_proc_spawn(&g.gen, gen_b, log), 0, "%s", kst_last_error());
    wait_ok(&g.gen, "kpistream gen (B)");
    size_t len_b = 0;
    char *text_b = kst_read_file(file_b, &len_b);
    cr_assert_not_null(text_b, "%s", kst_last_error());
    /* Line by line: one memmem over the rest of a 48 MB buffer per hit would
     * be quadratic under ASan, whose interceptor checks the whole range. */
    static const char pat[] = "customer_id\":\"c-"; /* also referred_customer_id */
    for (char *line = text_b; line < text_b + len_b;) {
        char *end = memchr(line, '\n', len_b - (size_t)(line - text_b));
        if (!end) end = text_b + len_b;
        for (char *p = line; (p = memmem(p, (size_t)(end - p), pat, sizeof pat - 1));)
            p[sizeof pat - 3] = 'd';
        line = end + 1;
    }
    FILE *f = fopen(file_b, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text_b, 1, len_b, f), len_b);
    cr_assert_eq(fclose(f), 0);
    long lines_b = count_lines(text_b, len_b);
    produce_lz4("sk-b", text_b, len_b);

    size_t len_a = 0;
    char *text_a = kst_read_file(file_a, &len_a);
    cr_assert_not_null(text_a, "%s", kst_last_error());
    long lines_a = count_lines(text_a, len_a);
    check_topic_complete("sk-a", 8, lines_a);
    check_topic_complete("sk-b", 8, lines_b);
    int64_t t_gen = kst_now_ms();

    /* Both instances at once: different topics, groups and prefixes. */
    char group_a[64], group_b[64], log_a[512], log_b[512];
    snprintf(group_a, sizeof group_a, "sk-a-%d-%lld", (int)getpid(), (long long)kst_now_ms());
    snprintf(group_b, sizeof group_b, "sk-b-%d-%lld", (int)getpid(), (long long)kst_now_ms());
    snprintf(log_a, sizeof log_a, "%s/run-a.log", g.dir);
    snprintf(log_b, sizeof log_b, "%s/run-b.log", g.dir);
    spawn_run(&g.run_a, "sk-a", group_a, "kpi:", log_a);
    spawn_run(&g.run_b, "sk-b", group_b, "kpi2:", log_b);

    /* Meanwhile, the truth from the files. */
    static truth ta, tb;
    read_truth(text_a, len_a, 'c', &ta);
    read_truth(text_b, len_b, 'd', &tb);
    free(text_a);
    free(text_b);

    wait_ok(&g.run_a, "kpistream run (A)");
    wait_ok(&g.run_b, "kpistream run (B)");
    int64_t t_run = kst_now_ms();
    cr_assert_eq(kst_redis_hget_ll(g.rc, "kpi:meta", "events_rejected", -1), 0);
    cr_assert_eq(kst_redis_hget_ll(g.rc, "kpi2:meta", "events_rejected", -1), 0);
    cr_assert_eq(kst_redis_hget_ll(g.rc, "kpi2:meta", "events_processed", -1), lines_b);
    cr_assert_gt(kst_redis_hget_ll(g.rc, "kpi:meta", "duplicates", -1), 0, "A has retries");

    /* Each instance's HLLs against its exact counts. */
    long long exact_a[NWIN], exact_b[NWIN];
    for (size_t w = 0; w < NWIN; w++) {
        exact_a[w] = check_hll_window("kpi:", windows[w]);
        exact_b[w] = check_hll_window("kpi2:", windows[w]);
    }
    /* 30d covers both whole streams: the exact count is the file's. */
    cr_expect_eq(exact_a[2], ta.customers, "kpi:global active_customers:30d %lld, file %ld",
                 exact_a[2], ta.customers);
    cr_expect_eq(exact_b[2], tb.customers, "kpi2:global active_customers:30d %lld, file %ld",
                 exact_b[2], tb.customers);
    check_hll_registers("kpi:", 'c', &ta);
    check_hll_registers("kpi2:", 'd', &tb);

    /* The union of two disjoint populations. */
    for (size_t w = 0; w < NWIN; w++) {
        char ka[64], kb[64], merged[64], what[256];
        snprintf(ka, sizeof ka, "kpi:hll:active:%s", windows[w]);
        snprintf(kb, sizeof kb, "kpi2:hll:active:%s", windows[w]);
        snprintf(merged, sizeof merged, "kst:union:%s", windows[w]);
        long long both = cmd_int("PFCOUNT %s %s", ka, kb);
        snprintf(what, sizeof what, "PFCOUNT %s %s vs %lld + %lld", ka, kb, exact_a[w], exact_b[w]);
        expect_within_3se(both, exact_a[w] + exact_b[w], what);
        redisReply *r = cmd("PFMERGE %s %s %s", merged, ka, kb);
        cr_assert_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        cr_expect_eq(cmd_int("PFCOUNT %s", merged), both, "PFMERGE %s gives another count", merged);
        fprintf(stderr, "sketches_redis: union %-4s PFCOUNT %6lld, exact %6lld (%+.2f %%)\n",
                windows[w], both, exact_a[w] + exact_b[w],
                100.0 * ((double)both - (double)(exact_a[w] + exact_b[w])) /
                    (double)(exact_a[w] + exact_b[w]));
    }

    check_topk("kpi:", &ta);
    check_topk("kpi2:", &tb);
    free(ta.ids);
    free(tb.ids);

    fprintf(stderr,
            "sketches_redis: %ld + %ld messages; servers+gen+produce %.1f s, runs %.1f s, "
            "checks %.1f s\n",
            lines_a, lines_b, (double)(t_gen - t0) / 1000, (double)(t_run - t_gen) / 1000,
            (double)(kst_now_ms() - t_run) / 1000);
    g.finished = true;
}
