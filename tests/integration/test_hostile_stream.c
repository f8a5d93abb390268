/* A hostile stream end to end (issue 14): thousands of seeded mutations of
 * valid events (truncation, bit flips, deep nesting, 300 KB strings, invalid
 * UTF-8, lone surrogates, NULs, duplicate keys, huge numbers, wrong types,
 * junk) mixed with the valid events, over 32 partitions, through the real
 * binary, the librdkafka mock cluster and a private redis-server.
 *
 * Checks: the run ends by itself with status 0; the process's own counts
 * (its "stopped:" line) add up to the messages sent; the dead-letter topic
 * holds exactly the rejected messages, byte for byte one of those sent, each
 * with a reason from the fixed set; and Redis's kpi:meta holds the process's
 * counts. Deterministic: the mutations come from a fixed seed. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "hostile"
#define DLQ "hostile.dlq"
#define PARTS 32
#define VALID 2000
#define MUTANTS 3000

typedef struct sent {
    char *bytes;
    size_t len;
    int dlq_seen;
} sent;

static struct {
    char dir[256];
    kst_stream st;
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    sent *msgs;
    size_t n, cap;
    long dlq_total, dlq_unknown, dlq_bad_reason;
    char bad_reason[128];
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
}

static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited)
        kst_proc_stop(&g.proc, 5000);
    if (!g.finished && g.proc.log_path[0])
        kst_log_tail(g.proc.log_path, 60);
    for (size_t i = 0; i < g.n; i++)
        free(g.msgs[i].bytes);
    free(g.msgs);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

TestSuite(hostile_stream, .init = setup, .fini = teardown, .timeout = 300);

/* xorshift64*: the mutations are a pure function of the seed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}
static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* A growable byte buffer. */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Replaces the value of "field": in line (a flat object of gen's) with repl;
 * if the field is absent, adds it at the front. */
static void with_field(buf *out, const char *line, const char *field, const char *repl)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", field);
    const char *at = strstr(line, key);
    if (!at) {
        puts_(out, "{");
        puts_(out, key);
        puts_(out, repl);
        puts_(out, ",");
        puts_(out, line + 1);
        return;
    }
    const char *v = at + strlen(key), *e = v;
    if (*e == '"') {
        for (e++; *e && *e != '"'; e++)
            if (*e == '\\' && e[1])
                e++;
        if (*e)
            e++;
    } else {
        while (*e && *e != ',' && *e != '}')
            e++;
    }
    put(out, line, (size_t)(v - line));
    puts_(out, repl);
    puts_(out, e);
}

static const char *const fields[] = {"event_id", "type", "customer_id", "ts", "amount",
                                     "segment",  "channel", "order_id", "score", "kind"};

/* One mutation of the valid line (kind chosen by the seed). */
static void mutate(buf *out, const char *line)
{
    size_t n = strlen(line);
    const char *f = fields[rnd_below(sizeof fields / sizeof fields[0])];
    switch (rnd_below(14)) {
    case 0: /* truncation */
        put(out, line, rnd_below(n));
        break;
    case 1: /* bit flips */
        put(out, line, n);
        for (int k = 1 + (int)rnd_below(3); k > 0; k--)
            out->p[rnd_below(n)] ^= (char)(1u << rnd_below(8));
        break;
    case 2: { /* deep nesting */
        puts_(out, "{\"meta\":");
        int d = 5 + (int)rnd_below(30);
        for (int i = 0; i < d; i++)
            puts_(out, rnd() & 1 ? "[" : "[{\"a\":");
        puts_(out, "1");
        /* Closed with ']' only: where an object was opened this is malformed
         * as well as deep; either reason will do. */
        for (int i = 0; i < d; i++)
            puts_(out, "]");
        puts_(out, ",");
        puts_(out, line + 1);
        break;
    }
    case 3: { /* a 300 KB string (too_large) or one just over a field limit */
        size_t len = rnd_below(4) == 0 ? 300 * 1024 : 129 + rnd_below(200);
        buf s = {0};
        puts_(&s, "\"");
        for (size_t i = 0; i < len; i++)
            put(&s, "x", 1);
        puts_(&s, "\"");
        with_field(out, line, f, s.p);
        free(s.p);
        break;
    }
    case 4: /* invalid UTF-8 in a string */
        with_field(out, line, f, rnd() & 1 ? "\"a\xC0\xAF" "b\"" : "\"\xED\xA0\x80\"");
        break;
    case 5: /* lone surrogate escapes */
        with_field(out, line, f, rnd() & 1 ? "\"\\ud800\"" : "\"x\\udc00y\"");
        break;
    case 6: { /* NUL in a member name or in a value */
        static const char *const nul[] = {"{\"ty\\u0000pe\":\"signup\",", "{\"note\":\"a\\u0000b\",",
                                          "{\"e\\u0000\":1,"};
        puts_(out, nul[rnd_below(3)]);
        puts_(out, line + 1);
        break;
    }
    case 7: /* a duplicate key */
        put(out, line, n - 1);
        puts_(out, ",\"");
        puts_(out, f);
        puts_(out, "\":\"again\"}");
        break;
    case 8: { /* huge or odd numbers */
        static const char *const num[] = {"1e300", "-1e400", "99999999999999999999999",
                                          "1e9000", "-0", "1.0000000001e9", "NaN", "0x10"};
        with_field(out, line, rnd() & 1 ? "amount" : "ts", num[rnd_below(8)]);
        break;
    }
    case 9: { /* wrong types */
        static const char *const val[] = {"true", "\"10\"", "5", "null", "[]", "{}", "-1"};
        with_field(out, line, f, val[rnd_below(7)]);
        break;
    }
    case 10: { /* junk bytes inserted */
        static const char junk[] = "{}[],:\"\\\x01\x7f\xff";
        size_t at = rnd_below(n);
        put(out, line, at);
        put(out, &junk[rnd_below(sizeof junk - 1)], 1);
        puts_(out, line + at);
        break;
    }
    case 11: { /* not an event at all */
        static const char *const not_ev[] = {"", "null", "[]", "\"x\"", "{}", "{\"a\":1} {}",
                                             "\xEF\xBB\xBF{}"};
        puts_(out, not_ev[rnd_below(7)]);
        break;
    }
    case 12: /* too many members */
        puts_(out, "{");
        for (int i = 0; i < 70; i++) {
            char m[32];
            snprintf(m, sizeof m, "\"x%d\":%d,", i, i);
            puts_(out, m);
        }
        puts_(out, line + 1);
        break;
    default: /* the valid line with a far-future or ancient ts (judged by the clock) */
        with_field(out, line, "ts", rnd() & 1 ? "4102444800000" : "1000");
        break;
    }
}

static void add_msg(const char *bytes, size_t len)
{
    if (g.n == g.cap) {
        g.cap = g.cap ? g.cap * 2 : 1024;
        g.msgs = realloc(g.msgs, g.cap * sizeof *g.msgs);
        cr_assert_not_null(g.msgs);
    }
    sent *m = &g.msgs[g.n++];
    m->bytes = malloc(len ? len : 1);
    cr_assert_not_null(m->bytes);
    memcpy(m->bytes, bytes, len);
    m->len = len;
    m->dlq_seen = 0;
}

/* The reasons of docs/events.md: a code, or a code and a schema field. */
static bool reason_ok(const char *r)
{
    static const char *const plain[] = {"malformed_json", "too_large",     "bad_utf8",
                                        "unknown_type",   "future_timestamp", "too_old",
                                        "too_deep",       "too_many_fields", "nul_character"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strcmp(r, plain[i]) == 0)
            return true;
    static const char *const with[] = {"missing_field:", "bad_type:", "bad_value:",
                                       "duplicate_field:"};
    static const char *const names[] = {"event_id", "type",     "customer_id", "ts",
                                        "segment",  "channel",  "order_id",    "amount",
                                        "category", "product",  "action",      "ticket_id",
                                        "complaint", "kind",    "score",       "campaign",
                                        "referred_customer_id"};
    for (size_t i = 0; i < 4; i++) {
        size_t l = strlen(with[i]);
        if (strncmp(r, with[i], l) != 0)
            continue;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(r + l, names[k]) == 0)
                return true;
    }
    return false;
}

static int dlq_cb(const kst_msg *m, void *ctx)
{
    (void)ctx;
    g.dlq_total++;
    char reason[128] = "";
    if (!kst_msg_header(m, "kpistream.error", reason, sizeof reason) || !reason_ok(reason)) {
        g.dlq_bad_reason++;
        snprintf(g.bad_reason, sizeof g.bad_reason, "%s", reason);
    }
    for (size_t i = 0; i < g.n; i++) {
        if (g.msgs[i].len == m->len && !g.msgs[i].dlq_seen &&
            memcmp(g.msgs[i].bytes, m->value, m->len) == 0) {
            g.msgs[i].dlq_seen = 1;
            return 0;
        }
    }
    g.dlq_unknown++;
    return 0;
}

Test(hostile_stream, every_message_counted_once_and_rejects_dead_lettered)
{
    static const char *const gen[] = {"--customers", "300", "--days", "8", "--seed", "23",
                                      "--dup-fraction", "0.02", "--limit", "2000", NULL};
    cr_assert_eq(kst_stream_make(&g.st, g.dir, gen, 0), 0, "%s", kst_last_error());
    char *text = kst_read_file(g.st.path, NULL);
    cr_assert_not_null(text);
    /* The valid lines, then MUTANTS mutations of random ones, interleaved. */
    char *lines[VALID + 1];
    size_t nl = 0;
    for (char *p = strtok(text, "\n"); p && nl < VALID; p = strtok(NULL, "\n"))
        lines[nl++] = p;
    cr_assert_gt(nl, 1000);

    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    /* Many partitions: the mock keeps about 5 MB per partition and drops
     * the oldest message sets beyond it, and the 300 KB dead letters add
     * up. With 8, a partition sometimes passed it (how the producer batched
     * decides): 12 dead letters were missing in one CI run. */
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, DLQ, 32), 0, "%s", kst_last_error());
    size_t v = 0;
    for (size_t i = 0; i < nl + MUTANTS; i++) {
        bool valid = v < nl && (rnd_below(nl + MUTANTS - i) < nl - v);
        const char *base = valid ? lines[v++] : lines[rnd_below(nl)];
        buf b = {0};
        if (valid)
            puts_(&b, base);
        else
            mutate(&b, base);
        /* Keyed by the base line's customer (or nothing): the mutant lands in
         * the same partition as its original, as a producer retry would. */
        const char *ck = strstr(base, "\"customer_id\":\"");
        const char *key = NULL;
        size_t kl = 0;
        if (ck) {
            key = ck + 15;
            kl = strcspn(key, "\"");
        }
        add_msg(b.p ? b.p : "", b.len);
        cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, -1, key, kl, b.p ? b.p : "", b.len), 0,
                     "%s", kst_last_error());
        free(b.p);
    }
    free(text);
    cr_assert_eq(kst_kafka_flush(&g.kafka, 60000), 0, "%s", kst_last_error());
    fprintf(stderr, "hostile stream: %zu messages (%zu valid lines, %d mutants)\n", g.n, nl,
            MUTANTS);

    char log[512];
    snprintf(log, sizeof log, "%s/run.log", g.dir);
    const char *const argv[] = {"run",      "--brokers", g.kafka.bootstraps,
                                "--topics", TOPIC,       "--group",
                                "hostile",  "--redis",   kst_redis_url(&g.redis),
                                "--clock",  "event",     "--exit-on-eof",
                                "--set",    "metrics_listen=", NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.proc, log, argv, NULL), 0, "%s", kst_last_error());
    int st = -1;
    cr_assert_eq(kst_proc_wait(&g.proc, 180000, &st), 0, "did not exit by itself");
    if (st != 0)
        kst_log_tail(log, 60);
    cr_assert_eq(st, 0, "exit status %d", st);

    /* The process's own counts. */
    char *out = kst_read_file(log, NULL);
    cr_assert_not_null(out);
    const char *line = strstr(out, "stopped: ");
    cr_assert_not_null(line, "no stopped: line");
    long long processed = -1, rejected = -1, dups = -1;
    cr_assert_eq(sscanf(line, "stopped: %lld events processed, %lld rejected, %lld duplicates",
                        &processed, &rejected, &dups),
                 3, "%.120s", line);
    free(out);
    fprintf(stderr, "hostile stream: %lld processed, %lld rejected, %lld duplicates\n", processed,
            rejected, dups);
    cr_assert_eq(processed + rejected + dups, (long long)g.n,
                 "processed %lld + rejected %lld + duplicates %lld != %zu sent", processed,
                 rejected, dups, g.n);
    cr_assert_gt(rejected, MUTANTS / 2, "most mutants are rejected");
    cr_assert_gt(processed, (long long)nl / 2);

    /* Redis holds the same counts. */
    cr_assert_eq(kst_redis_field_ll(&g.redis, "kpi:meta", "events_processed", -1), processed);
    cr_assert_eq(kst_redis_field_ll(&g.redis, "kpi:meta", "events_rejected", -1), rejected);
    cr_assert_eq(kst_redis_field_ll(&g.redis, "kpi:meta", "duplicates", -1), dups);

    /* The dead-letter topic: every rejected message, once, byte for byte. */
    long got = kst_kafka_consume_all(&g.kafka, DLQ, 60000, dlq_cb, NULL);
    cr_assert_eq(got, rejected, "dead letters %ld, rejected %lld", got, rejected);
    cr_assert_eq(g.dlq_unknown, 0, "%ld dead letters are not bytes that were sent",
                 g.dlq_unknown);
    cr_assert_eq(g.dlq_bad_reason, 0, "%ld dead letters with a reason outside the set (\"%s\")",
                 g.dlq_bad_reason, g.bad_reason);
    g.finished = true;
}
