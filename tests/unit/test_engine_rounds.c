/* Rounds (include/kpistream/engine.h): two threads applying different
 * partitions at once must leave the engine where one thread applying the
 * same partitions' messages in turn leaves it. Compared through what a flush
 * writes (every command's fields, sorted, plus each notice) and through each
 * customer's risk; and the name tables, shared by both threads, must give
 * each name one id. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "state/state.h"
#include "xorshift.h"

#define T0 1794996000000LL /* 2026-11-18T10:40:00Z */
#define WALL (T0 + 60LL * 86400000LL)
#define PARTS 8
#define PER_PART 1500
#define CHUNK 25 /* messages of each partition per round */

static char *msgs[PARTS][PER_PART];
static size_t lens[PARTS][PER_PART];

/* Events of every type over about 12 days, customers keyed to partitions as
 * a producer keyed by customer would, and names seen first by different
 * partitions (each partition starts with its own segment and channel). */
static void make_events(void)
{
    static const char *segs[] = {"smb", "enterprise", "consumer", "mid", "gov", "edu"};
    static const char *chans[] = {"web", "app", "social", "email", "store", "phone", "partner",
                                  "tv", "radio"};
    static const char *cats[] = {"billing", "delivery", "quality"};
    uint64_t rng = 0x5eed;
    for (int p = 0; p < PARTS; p++)
        for (int i = 0; i < PER_PART; i++) {
            int64_t ts = T0 + (int64_t)i * 700000 + (int64_t)(kst_xorshift(&rng) % 600000);
            /* A third of the customers fall silent after the first two days
             * (their risk rises at the day boundaries that follow). */
            int cust = (int)(kst_xorshift(&rng) % (i < 250 ? 60 : 40)) * PARTS + p;
            const char *seg = i < 3 ? segs[(p + i) % 6] : segs[kst_xorshift(&rng) % 6];
            const char *ch = i < 3 ? chans[(p * 2 + i) % 9] : chans[kst_xorshift(&rng) % 9];
            char buf[512];
            int n, kind = (int)(kst_xorshift(&rng) % 7);
            if (kind == 0)
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"purchase\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"order_id\":\"o%d-%d\",\"amount\":%d.25,"
                             "\"product\":\"p%d\",\"segment\":\"%s\",\"channel\":\"%s\"}",
                             p, i, cust, (long long)ts, p, i, (int)(kst_xorshift(&rng) % 400) + 1,
                             (int)(kst_xorshift(&rng) % 30), seg, ch);
            else if (kind == 1)
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"ticket\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"ticket_id\":\"t%d-%d\",\"action\":\"opened\","
                             "\"complaint\":true,\"category\":\"%s\",\"segment\":\"%s\"}",
                             p, i, cust, (long long)ts, p, cust, cats[i % 3], seg);
            else if (kind == 2)
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"ticket\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"ticket_id\":\"t%d-%d\",\"action\":\"%s\"}",
                             p, i, cust, (long long)ts, p, cust, i % 2 ? "responded" : "resolved");
            else if (kind == 3)
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"survey\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"kind\":\"nps\",\"score\":%d}",
                             p, i, cust, (long long)ts, (int)(kst_xorshift(&rng) % 11));
            else if (kind == 4 && i % 5 == 0)
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"subscription\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"action\":\"cancel\"}",
                             p, i, cust, (long long)ts);
            else
                n = snprintf(buf, sizeof buf,
                             "{\"event_id\":\"e%d-%d\",\"type\":\"interaction\",\"customer_id\":"
                             "\"c%d\",\"ts\":%lld,\"channel\":\"%s\",\"segment\":\"%s\"}",
                             p, i, cust, (long long)ts, ch, seg);
            cr_assert(n > 0 && (size_t)n < sizeof buf);
            msgs[p][i] = strdup(buf);
            lens[p][i] = (size_t)n;
        }
}

static ks_config cfg;

static void setup(void)
{
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    make_events();
}

static void teardown(void)
{
    for (int p = 0; p < PARTS; p++)
        for (int i = 0; i < PER_PART; i++)
            free(msgs[p][i]);
    ks_config_free(&cfg);
}

TestSuite(engine_rounds, .init = setup, .fini = teardown, .timeout = 60);

static ks_engine *engine(void)
{
    char err[KS_ERRSTR_SIZE];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    ks_engine_set_member(e, "t");
    for (int p = 0; p < PARTS; p++) {
        cr_assert_eq(ks_engine_assign(e, "ev", p), 0);
        ks_engine_set_restore_point(e, "ev", p, -1, "", INT64_MIN);
    }
    return e;
}

/* The serial run: each round's messages partition after partition, the
 * engine's clock following each message. */
static void run_serial(ks_engine *e)
{
    for (int at = 0; at < PER_PART; at += CHUNK) {
        for (int p = 0; p < PARTS; p++)
            for (int i = at; i < at + CHUNK && i < PER_PART; i++) {
                ks_reject why;
                ks_verdict v = ks_engine_process(e, "ev", p, i, msgs[p][i], lens[p][i], WALL, &why);
                cr_assert_neq(v, KS_REJECTED, "%s: rejected (%d)", msgs[p][i], why.code);
            }
        ks_engine_tick(e, WALL);
    }
}

typedef struct worker {
    ks_engine *e;
    ks_engine_part *parts[PARTS];
    int id, at;
    int rejected;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int p = w->id; p < PARTS; p += 2)
        for (int i = w->at; i < w->at + CHUNK && i < PER_PART; i++) {
            ks_reject why;
            if (ks_engine_round_process(w->e, w->id, w->parts[p], i, msgs[p][i], lens[p][i], WALL,
                                        &why) == KS_REJECTED)
                w->rejected++;
        }
    return NULL;
}

/* The same messages in rounds: even partitions on one thread, odd ones on
 * another, at once. The first round of all is serial, as the source does
 * before the first watermark. */
static void run_rounds(ks_engine *e)
{
    worker w[2] = {{.e = e, .id = 0}, {.e = e, .id = 1}};
    int rounds = 0;
    for (int at = 0; at < PER_PART; at += CHUNK) {
        if (!ks_engine_round_possible(e)) {
            cr_assert_eq(at, 0, "no round possible at message %d", at);
            for (int p = 0; p < PARTS; p++)
                for (int i = 0; i < CHUNK; i++) {
                    ks_reject why;
                    ks_engine_process(e, "ev", p, i, msgs[p][i], lens[p][i], WALL, &why);
                }
            ks_engine_tick(e, WALL);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            w[k].at = at;
            for (int p = 0; p < PARTS; p++)
                cr_assert_not_null(w[k].parts[p] = ks_engine_part_ref(e, "ev", p));
        }
        ks_engine_round_begin(e);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, work, &w[1]), 0);
        work(&w[0]);
        pthread_join(th, NULL);
        ks_engine_round_end(e, WALL);
        ks_engine_tick(e, WALL);
        rounds++;
    }
    cr_assert_eq(w[0].rejected + w[1].rejected, 0);
    cr_assert_gt(rounds, PER_PART / CHUNK - 2, "only %d rounds ran", rounds);
}

/* Every field a flush writes as one line ("cmd key field value"), notices as
 * their id, time and fields; sorted. Stream entries' order across customers
 * follows the reading order (docs/architecture.md), so only the set counts. */
typedef struct lines {
    char **v;
    size_t n, cap;
} lines;

static void add(lines *l, const char *a, size_t al, const char *b, size_t bl, const char *c,
                size_t cl, const char *d, size_t dl)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        cr_assert_not_null(l->v);
    }
    size_t n = al + bl + cl + dl + 4;
    char *s = malloc(n);
    cr_assert_not_null(s);
    snprintf(s, n, "%.*s %.*s %.*s %.*s", (int)al, a, (int)bl, b, (int)cl, c, (int)dl, d);
    l->v[l->n++] = s;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static lines flush_lines(ks_engine *e)
{
    for (int p = 0; p < PARTS; p++)
        ks_engine_set_eof(e, "ev", p, true);
    ks_engine_tick(e, WALL);
    ks_batch b;
    ks_batch_init(&b);
    ks_engine_flush_read(e, &b);
    char err[KS_ERRSTR_SIZE];
    cr_assert_eq(ks_engine_build_flush(e, NULL, NULL, 0, &b, WALL, err, sizeof err), 0, "%s", err);
    lines l = {0};
    const char *argv[4096];
    size_t al[4096];
    for (size_t c = 0; c < b.ncmds; c++) {
        size_t n = ks_batch_argc(&b, c);
        cr_assert_leq(n, 4096);
        ks_batch_get(&b, c, argv, al, n);
        if (al[0] == 4 && memcmp(argv[0], "EVAL", 4) == 0 && n > 7 &&
            strstr(argv[1], "XADD") && strstr(argv[1], "notices") == NULL) {
            /* The notices' call: per notice id, at, stream, json, n fields. */
            for (size_t a = 7; a + 4 < n;) {
                size_t nf = (size_t)strtoul(argv[a + 4], NULL, 10);
                for (size_t f = 0; f + 1 < nf && a + 5 + f + 1 < n; f += 2)
                    add(&l, argv[a], al[a], argv[a + 1], al[a + 1], argv[a + 5 + f],
                        al[a + 5 + f], argv[a + 6 + f], al[a + 6 + f]);
                a += 5 + nf;
            }
            continue;
        }
        if (n >= 4 && ((al[0] == 4 && memcmp(argv[0], "HSET", 4) == 0) ||
                       (al[0] == 4 && memcmp(argv[0], "ZADD", 4) == 0))) {
            for (size_t a = 2; a + 1 < n; a += 2)
                add(&l, argv[0], al[0], argv[1], al[1], argv[a], al[a], argv[a + 1], al[a + 1]);
            continue;
        }
        for (size_t a = 1; a < n || a == 1; a++)
            add(&l, argv[0], al[0], n > 1 ? argv[1] : "", n > 1 ? al[1] : 0,
                a < n && a > 1 ? argv[a] : "", a < n && a > 1 ? al[a] : 0, "", 0);
    }
    ks_batch_reset(&b);
    qsort(l.v, l.n, sizeof *l.v, cmp);
    return l;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

typedef struct risks {
    char line[PARTS * 60 * 2][64];
    size_t n;
} risks;

static void on_customer(void *ctx, const char *id, size_t len, const ks_engine_customer *c)
{
    risks *r = ctx;
    cr_assert_lt(r->n, sizeof r->line / sizeof r->line[0]);
    snprintf(r->line[r->n++], sizeof r->line[0], "%.*s %d %d %d %lld", (int)len, id, c->score,
             c->level, c->churned, (long long)c->last_event_ms);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(engine_rounds, two_threads_leave_what_one_leaves)
{
    ks_engine *s = engine(), *r = engine();
    run_serial(s);
    run_rounds(r);

    ks_engine_stats ss, rs;
    ks_engine_stats_get(s, &ss);
    ks_engine_stats_get(r, &rs);
    cr_expect_eq(rs.processed, ss.processed);
    cr_expect_eq(rs.customers, ss.customers);
    cr_expect_eq(rs.duplicates, ss.duplicates);
    cr_expect_eq(rs.clock_ms, ss.clock_ms);
    cr_assert_eq(ss.processed, PARTS * PER_PART);

    static risks rk[2];
    memset(rk, 0, sizeof rk);
    ks_engine_customers_each(s, on_customer, &rk[0]);
    ks_engine_customers_each(r, on_customer, &rk[1]);
    cr_assert_eq(rk[0].n, rk[1].n);
    qsort(rk[0].line, rk[0].n, sizeof rk[0].line[0], cmp_line);
    qsort(rk[1].line, rk[1].n, sizeof rk[1].line[0], cmp_line);
    size_t scored = 0;
    for (size_t i = 0; i < rk[0].n; i++) {
        cr_expect_str_eq(rk[1].line[i], rk[0].line[i]);
        scored += strstr(rk[0].line[i], " 0 0 ") == NULL;
    }
    cr_expect_gt(scored, rk[0].n / 20, "too few customers at risk to tell: %zu", scored);

    lines a = flush_lines(s), b = flush_lines(r);
    size_t notices = 0;
    for (size_t i = 0; i < a.n; i++)
        notices += strncmp(a.v[i], "a-", 2) == 0 || strstr(a.v[i], " alert_id ") != NULL;
    cr_assert_gt(a.n, 1000, "a flush of %zu fields", a.n);
    cr_expect_gt(notices, 0, "no alerts to compare");
    cr_assert_eq(b.n, a.n, "%zu lines from rounds, %zu from one thread", b.n, a.n);
    size_t diff = 0;
    for (size_t i = 0; i < a.n && diff < 5; i++)
        if (strcmp(a.v[i], b.v[i]) != 0) {
            cr_log_error("one thread: %s\nrounds:     %s", a.v[i], b.v[i]);
            diff++;
        }
    cr_expect_eq(diff, 0, "the flushes differ");
    lines_free(&a);
    lines_free(&b);
    ks_engine_free(s);
    ks_engine_free(r);
}

/* Names interned by two threads at once: each gets exactly one id. */
typedef struct namer {
    ks_intern *t;
    pthread_barrier_t *go;
    int ids[40];
    int start;
} namer;

static void *intern_names(void *arg)
{
    namer *n = arg;
    pthread_barrier_wait(n->go); /* both start together: the adds overlap */
    for (int rep = 0; rep < 2000; rep++) {
        int i = (n->start + rep * 7) % 40;
        char name[16];
        int len = snprintf(name, sizeof name, "name-%d", i);
        int id = ks_intern_id(n->t, name, (uint32_t)len);
        if (n->ids[i] < 0)
            n->ids[i] = id;
        else if (n->ids[i] != id)
            n->ids[i] = -2; /* one name, two ids */
    }
    return NULL;
}

Test(engine_rounds, a_name_added_by_two_threads_at_once_has_one_id)
{
    for (int trial = 0; trial < 500; trial++) {
        static ks_intern t;
        ks_intern_init(&t, 64);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        namer n[2] = {{.t = &t, .go = &go, .start = 0}, {.t = &t, .go = &go, .start = 20}};
        memset(n[0].ids, -1, sizeof n[0].ids);
        memset(n[1].ids, -1, sizeof n[1].ids);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, intern_names, &n[1]), 0);
        intern_names(&n[0]);
        pthread_join(th, NULL);
        pthread_barrier_destroy(&go);
        cr_assert_eq(ks_intern_count(&t), 40, "trial %d: %d names for 40", trial,
                     ks_intern_count(&t));
        for (int i = 0; i < 40; i++) {
            cr_assert_geq(n[0].ids[i], 0, "trial %d: name-%d had two ids", trial, i);
            cr_assert_eq(n[0].ids[i], n[1].ids[i], "trial %d: name-%d: %d and %d", trial, i,
                         n[0].ids[i], n[1].ids[i]);
        }
    }
}
