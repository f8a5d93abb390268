/* The generator's stream through the real binary gives the same KPIs as an
 * independent calculation of them.
 *
 * 1. `kpistream gen` simulates 3000 customers (seed 5, 1 % producer retries):
 *    40 days at the default activity (the stream), and 60 days at
 *    half the activity, where customers go silent for 30 days, churn by
 *    inactivity (between two of their events and at the final clock) and come
 *    back. Both are long enough for window expiry and the 30d window's edges.
 * 2. The generator produces them itself into a 4-partition mock-cluster
 *    topic (key = customer_id; marketing_spend, which has no customer, keyed
 *    by campaign as generator.md says) and keeps a byte-identical copy in a
 *    file; `kpistream run --clock event --exit-on-eof` replays the topic into
 *    a private redis-server.
 * 3. tests/reference/kpi_reference.py (Python standard library only, written
 *    from CONTRACT.md and docs/, not from src/) reads the same file and prints
 *    every KPI of kpi:global, kpi:segment:<s> and kpi:channel:<c> for the 24h
 *    and 30d windows, plus kpi:meta, as "<key> <field> <value>" lines
 *    ("ABSENT" for a ratio whose denominator is 0).
 * 4. Every line is compared, as a string, with what Redis holds; every
 *    mismatch is collected and printed before the test fails, and hashes or
 *    fields that kpistream writes but the reference does not know are
 *    reported too.
 *
 * The generator is given a fixed --start-ms so that a failure reproduces with
 * the same stream (the default start is "now - days").
 *
 * Why the generator's own producer rather than kst_kafka_produce_jsonl(): that
 * helper sends lines without a customer_id with no key, so a retried
 * marketing_spend can land in another partition than its original, and
 * kpistream remembers event_ids per partition (docs/architecture.md, Dedup).
 * Its lz4 batches also keep each partition well under the ~5 MB that the
 * librdkafka 2.0.2 mock retains (the stream is ~29 MB of JSON); the test
 * checks that no partition lost its start.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "events"
#define PARTITIONS 4
#define START_MS "1767225600000" /* 2026-01-01T00:00:00Z */

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    redisContext *rc;
    kst_proc broker;  /* other_stream: `kpistream mock-broker` */
    kst_redis redis2; /* other_stream: the second partitioning's Redis */
    bool finished;    /* the test body ran to its end */
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

/* Runs after the body, also when an assertion aborted it: stops the child and
 * both servers, shows the last child's log if the test did not finish. */
static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited) kst_proc_stop(&g.proc, 5000);
    if (!g.finished && g.proc.log_path[0]) kst_log_tail(g.proc.log_path, 60);
    if (g.rc) redisFree(g.rc);
    if (g.broker.pid && !g.broker.exited) kst_proc_stop(&g.broker, 5000);
    kst_redis_stop(&g.redis2);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    /* KST_KEEP=1 keeps the stream, the reference's output and the logs. */
    if (g.dir[0] && !getenv("KST_KEEP")) kst_rmtree(g.dir);
    else if (g.dir[0]) fprintf(stderr, "kept %s\n", g.dir);
}

/* The reference script, found next to this file: CMake compiles this source
 * by its absolute path, so __FILE__ is <src>/tests/integration/<this file>. */
static void reference_path(char *buf, size_t n, const char *name)
{
    const char *self = __FILE__;
    const char *slash = strrchr(self, '/');
    cr_assert(self[0] == '/' && slash, "__FILE__ is not absolute: %s", self);
    int len = snprintf(buf, n, "%.*s/../reference/%s", (int)(slash - self), self, name);
    cr_assert(len > 0 && (size_t)len < n, "script path too long");
    cr_assert_eq(access(buf, R_OK), 0, "%s: %s", buf, strerror(errno));
}

static void script_path(char *buf, size_t n)
{
    reference_path(buf, n, "kpi_reference.py");
}

/* Runs argv to completion with its output in log; asserts exit status 0. */
static void run_child(char *const argv[], const char *log, int timeout_ms, const char *what)
{
    memset(&g.proc, 0, sizeof g.proc);
    cr_assert_eq(kst_proc_spawn(&g.proc, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    int rc = kst_proc_wait(&g.proc, timeout_ms, &status);
    if (rc != 0 || status != 0) kst_log_tail(log, 60);
    cr_assert_eq(rc, 0, "%s did not finish within %d ms", what, timeout_ms);
    cr_assert_eq(status, 0, "%s exited with status %d", what, status);
}

/* ------------------------------------------------------------------ */
/* Comparison                                                          */

/* A mismatch list that grows as needed; printed in one go at the end. */
typedef struct report {
    char *text;
    size_t len, cap;
    int mismatches;
    int compared;
} report;

static void report_add(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(report *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0);
    size_t add = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (r->len + add + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        while (cap < r->len + add + 1)
            cap *= 2;
        char *p = realloc(r->text, cap);
        cr_assert_not_null(p);
        r->text = p;
        r->cap = cap;
    }
    memcpy(r->text + r->len, line, add);
    r->len += add;
    r->text[r->len] = '\0';
}

/* The reference's (key, field) pairs, to spot fields it does not know. */
typedef struct keyset {
    char **items;
    size_t n, cap;
} keyset;

static void keyset_add(keyset *s, const char *key, const char *field)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->items = realloc(s->items, s->cap * sizeof *s->items);
        cr_assert_not_null(s->items);
    }
    size_t n = strlen(key) + strlen(field) + 2;
    char *p = malloc(n);
    cr_assert_not_null(p);
    snprintf(p, n, "%s %s", key, field);
    s->items[s->n++] = p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool keyset_has(const keyset *s, const char *key, const char *field)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s %s", key, field);
    const char *k = buf;
    return bsearch(&k, s->items, s->n, sizeof *s->items, cmp_str) != NULL;
}

static void keyset_free(keyset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
}

/* Compares one reference line with Redis. */
static void compare_line(report *rep, const char *key, const char *field, const char *want)
{
    redisReply *r = redisCommand(g.rc, "HGET %s %s", key, field);
    cr_assert(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL),
              "HGET %s %s failed", key, field);
    const char *got = r->type == REDIS_REPLY_NIL ? "ABSENT" : r->str;
    rep->compared++;
    bool ok = strcmp(got, want) == 0;
    if (want[0] == '~' && strcmp(got, "ABSENT") != 0) {
        /* A sketch estimate: within the relative accuracy (1 %) of the exact
         * value, plus half a cent of rounding. */
        double w = strtod(want + 1, NULL), v = strtod(got, NULL);
        ok = fabs(v - w) <= 0.01 * fabs(w) + 0.005;
    }
    if (!ok) {
        rep->mismatches++;
        report_add(rep, "  %-28s %-34s kpistream %-14s reference %s\n", key, field, got, want);
    }
    freeReplyObject(r);
}

/* Every KPI hash kpistream wrote must be one the reference knows, and every
 * field of a compared window (windows: ":24h,:30d," style list) in it must be
 * one the reference printed. */
static void check_unknown(report *rep, const keyset *known, const char *windows)
{
    static const char *const patterns[] = {"kpi:global", "kpi:segment:*", "kpi:channel:*"};
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        redisReply *keys = redisCommand(g.rc, "KEYS %s", patterns[p]);
        cr_assert(keys && keys->type == REDIS_REPLY_ARRAY, "KEYS %s failed", patterns[p]);
        for (size_t k = 0; k < keys->elements; k++) {
            const char *key = keys->element[k]->str;
            redisReply *f = redisCommand(g.rc, "HGETALL %s", key);
            cr_assert(f && f->type == REDIS_REPLY_ARRAY, "HGETALL %s failed", key);
            for (size_t i = 0; i + 1 < f->elements; i += 2) {
                const char *field = f->element[i]->str;
                const char *colon = strrchr(field, ':');
                char suffix[32];
                snprintf(suffix, sizeof suffix, "%s,", colon ? colon : "");
                if (!colon || !strstr(windows, suffix))
                    continue; /* a window that is not compared */
                if (!keyset_has(known, key, field)) {
                    rep->mismatches++;
                    report_add(rep,
                               "  %-28s %-34s kpistream %-14s reference (not a KPI it knows)\n",
                               key, field, f->element[i + 1]->str);
                }
            }
            freeReplyObject(f);
        }
        freeReplyObject(keys);
    }
}

/* Returns the count of name in the reference's --stats text ("<name> <n>"
 * lines), or -1 if the name is not there. */
static long stat_of(const char *stats_text, const char *name)
{
    size_t n = strlen(name);
    const char *p = stats_text;
    while (p && *p) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return strtol(p + n + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}

/* One generated stream: its size and the edge cases it must exercise. */
typedef struct gen_case {
    const char *customers, *days, *activity;
    long min_lines;
    const char *must_occur[6]; /* reference --stats names that must be > 0 */
    int partitions;            /* 0: PARTITIONS */
    const char *max_pending;   /* --flush-max-pending, or NULL */
} gen_case;

static void run_case(const gen_case *tc)
{
    int64_t t0 = kst_now_ms();
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char script[1024];
    script_path(script, sizeof script);

    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    char events[512], ref[512], stats[512], log[512];
    snprintf(events, sizeof events, "%s/ev.jsonl", g.dir);
    snprintf(ref, sizeof ref, "%s/ref.txt", g.dir);
    snprintf(stats, sizeof stats, "%s/stats.txt", g.dir);

    /* 1. Kafka and Redis. */
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    int partitions = tc->partitions ? tc->partitions : PARTITIONS;
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, partitions), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC ".dlq", 1), 0, "%s", kst_last_error());

    /* 2. The stream, produced by the generator itself (key = customer_id,
     * marketing_spend keyed by campaign: what a real producer does) with a
     * byte-identical copy in the file the reference reads. */
    snprintf(log, sizeof log, "%s/gen.log", g.dir);
    char *gen[] = {(char *)bin,      "gen",
                   "--customers",    (char *)tc->customers,
                   "--days",         (char *)tc->days,
                   "--activity",     (char *)tc->activity,
                   "--seed",         "5",
                   "--dup-fraction", "0.01",
                   "--start-ms",     START_MS,
                   "--brokers",      g.kafka.bootstraps,
                   "--topic",        TOPIC,
                   "--out",          events,
                   "--quiet",        NULL};
    run_child(gen, log, 120000, "kpistream gen");
    size_t flen = 0;
    char *ftext = kst_read_file(events, &flen);
    cr_assert_not_null(ftext, "%s", kst_last_error());
    long lines = 0;
    for (size_t i = 0; i < flen; i++)
        lines += ftext[i] == '\n';
    free(ftext);
    cr_assert_geq(lines, tc->min_lines, "the generator wrote only %ld lines", lines);

    /* Every line is in the topic: the mock keeps only the newest ~5 MB of a
     * partition, so check that no partition lost its start. */
    int64_t total = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo = -1, hi = -1;
        cr_assert_eq(rd_kafka_query_watermark_offsets(g.kafka.producer, TOPIC, p, &lo, &hi, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR, "watermarks of partition %d", p);
        cr_assert_eq(lo, 0, "partition %d starts at %lld: the mock dropped data", p, (long long)lo);
        cr_expect_gt(hi, 0, "partition %d is empty: the keys did not spread", p);
        total += hi;
    }
    cr_assert_eq(total, lines, "the topic holds %lld messages, the file %ld lines",
                 (long long)total, lines);
    int64_t t_gen = kst_now_ms();

    /* 3. The reference. */
    snprintf(log, sizeof log, "%s/reference.log", g.dir);
    char *py[] = {"python3", script, events,    "--windows", "24h,30d",
                  "--out",   ref,    "--stats", stats,       NULL};
    run_child(py, log, 120000, "kpi_reference.py");
    int64_t t_ref = kst_now_ms();

    /* The stream must exercise what this case is for (the reference counts
     * the edge cases as it meets them). */
    char *stats_text = kst_read_file(stats, NULL);
    cr_assert_not_null(stats_text, "%s", kst_last_error());
    fprintf(stderr, "generator_reference: %s customers, %s days, activity %s; the stream has:\n%s",
            tc->customers, tc->days, tc->activity, stats_text);
    for (size_t i = 0; i < sizeof tc->must_occur / sizeof tc->must_occur[0] && tc->must_occur[i];
         i++)
        cr_expect_gt(stat_of(stats_text, tc->must_occur[i]), 0,
                     "the stream has no %s: this case checks nothing about it", tc->must_occur[i]);
    free(stats_text);

    /* 4. The replay. */
    char group[64];
    snprintf(group, sizeof group, "genref-%d-%lld", (int)getpid(), (long long)kst_now_ms());
    snprintf(log, sizeof log, "%s/kpistream.log", g.dir);
    char *run[] = {(char *)bin,     "run",
                   "--brokers",     g.kafka.bootstraps,
                   "--topics",      TOPIC,
                   "--group",       group,
                   "--redis",       (char *)kst_redis_url(&g.redis),
                   "--clock",       "event",
                   "--exit-on-eof", NULL, NULL, NULL};
    if (tc->max_pending) {
        run[13] = "--flush-max-pending";
        run[14] = (char *)tc->max_pending;
    }
    run_child(run, log, 240000, "kpistream run");
    int64_t t_run = kst_now_ms();
    if (tc->max_pending) {
        /* Reading stops once flush_max_pending customers and notices wait;
         * what the last message read by each of the two threads added can
         * come on top: one customer, its notices, and what its move of the
         * partition's clock changed. Across a UTC day boundary that is a
         * sweep re-scoring every customer of the partition, each of which
         * can become dirty and raise a notice: two items per customer of the
         * partition (taken as 1.5 times the mean, for the hash's spread), per
         * thread, and a tenth of the bound for the rest. Measured: 15 and 45
         * over 400 (the second under ASan, where a tenth was exceeded).
         * Without the bound a flush of this catch-up carries about the
         * whole customer base. */
        long bound = strtol(tc->max_pending, NULL, 10), largest = kst_log_largest_flush(log);
        long per_part = strtol(tc->customers, NULL, 10) * 3 / 2 / partitions + 1;
        long allowed = bound + bound / 10 + 2 * 2 * per_part;
        fprintf(stderr,
                "generator_reference: largest flush %ld customers and notices (bound %ld, "
                "allowed %ld)\n",
                largest, bound, allowed);
        cr_assert_geq(largest, 1, "the run did not report its largest flush");
        cr_assert_leq(largest, allowed, "a flush carried %ld customers and notices, "
                      "flush_max_pending is %ld", largest, bound);
        cr_assert_lt(allowed, strtol(tc->customers, NULL, 10),
                     "the allowance must stay below what an unbounded flush carries");
    }

    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());

    /* The generator's stream is valid and in time order per customer (and the
     * watermark never exceeds a partition's own time), so nothing may be
     * rejected: not even too_old. */
    char buf[64];
    cr_assert_eq(kst_redis_hget(g.rc, "kpi:meta", "events_rejected", buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "0", "events_rejected");

    /* 5. Compare every reference line. */
    size_t len = 0;
    char *text = kst_read_file(ref, &len);
    cr_assert_not_null(text, "%s", kst_last_error());
    report rep = {0};
    keyset known = {0};
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char key[256], field[128], want[64];
        cr_assert_eq(sscanf(line, "%255s %127s %63s", key, field, want), 3,
                     "bad reference line: %s", line);
        keyset_add(&known, key, field);
        compare_line(&rep, key, field, want);
    }
    free(text);
    qsort(known.items, known.n, sizeof *known.items, cmp_str);
    check_unknown(&rep, &known, ":24h,:30d,");
    keyset_free(&known);

    int64_t t_end = kst_now_ms();
    fprintf(stderr,
            "generator_reference: %d values compared, %d mismatches; "
            "%ld messages; times: servers+gen %.1f s, reference %.1f s, "
            "kpistream %.1f s, compare %.1f s\n",
            rep.compared, rep.mismatches, lines, (double)(t_gen - t0) / 1000,
            (double)(t_ref - t_gen) / 1000, (double)(t_run - t_ref) / 1000,
            (double)(t_end - t_run) / 1000);
    if (rep.mismatches)
        fprintf(stderr, "generator_reference: mismatches (key, field, kpistream, reference):\n%s",
                rep.text);
    free(rep.text);
    cr_assert_gt(rep.compared, 500, "the reference printed too little to be a check");
    cr_expect_eq(rep.mismatches, 0, "%d KPI values differ from the reference (listed above)",
                 rep.mismatches);
    g.finished = true;
}

TestSuite(generator_reference, .init = setup, .fini = teardown, .timeout = 300);

/* The stream of the issue: 3000 customers over 40 days at the default
 * activity (about 180 000 events, 1 % retries). Many cancels, few silences. */
Test(generator_reference, default_activity_40_days)
{
    static const gen_case tc = {
        .customers = "3000",
        .days = "40",
        .activity = "1.0",
        .min_lines = 100000,
        .must_occur = {"cancel_churns", "cross_sells", "responses"},
    };
    run_case(&tc);
}

/* At the default activity almost nobody is silent for 30 days within 40
 * (measured: one inactivity churn, no reactivation). Half the activity over
 * 60 days gives customers who go silent, churn between two of their events
 * and come back, and silent customers churned at the end by the final clock. */
Test(generator_reference, sparse_activity_60_days)
{
    static const gen_case tc = {
        .customers = "3000",
        .days = "60",
        .activity = "0.5",
        .min_lines = 100000,
        .must_occur = {"inactivity_churns_between_events", "inactivity_churns_at_end",
                       "reactivations", "cancel_churns", "responses"},
    };
    run_case(&tc);
}

/* A multi-day catch-up over many partitions with a small flush bound: every
 * flush stays under the bound (what a 45-day backfill needs so that no
 * transaction times out), and the outputs still equal the reference. */
Test(generator_reference, catchup_32_partitions_bounded_flushes)
{
    static const gen_case tc = {
        .customers = "1500",
        .days = "35",
        .activity = "1.0",
        .min_lines = 40000,
        .must_occur = {"cancel_churns", "responses"},
        .partitions = 32,
        .max_pending = "400",
    };
    run_case(&tc);
}

/* ------------------------------------------------------------------ */
/* A stream we did not design                                          */

/* The reference's customer lines ("<key>\t<field>\t<value>", sorted by key)
 * against Redis: one HGETALL per customer, every field compared as a string,
 * fields Redis has and the reference does not know reported, and customer
 * hashes the reference does not know reported. Returns the number of
 * customers. */
static long compare_customers(report *rep, const char *path)
{
    char *text = kst_read_file(path, NULL);
    cr_assert_not_null(text, "%s", kst_last_error());
    keyset keys = {0};
    redisReply *h = NULL;
    bool *seen = NULL;
    char cur[512] = "";
    long ncust = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
        char *tab1 = line ? strchr(line, '\t') : NULL;
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        cr_assert(!line || tab2, "bad customer line: %s", line);
        if (line) *tab1 = *tab2 = '\0';
        if (!line || strcmp(line, cur) != 0) {
            /* The previous customer's fields the reference did not name. */
            for (size_t i = 0; h && i + 1 < h->elements; i += 2)
                if (!seen[i / 2]) {
                    rep->mismatches++;
                    report_add(rep, "  %s %s: kpistream %s, reference (not a field it knows)\n",
                               cur, h->element[i]->str, h->element[i + 1]->str);
                }
            if (h) freeReplyObject(h);
            free(seen);
            h = NULL;
            seen = NULL;
            if (!line) break;
            snprintf(cur, sizeof cur, "%s", line);
            keyset_add(&keys, cur, "");
            ncust++;
            h = redisCommand(g.rc, "HGETALL %s", cur);
            cr_assert(h && h->type == REDIS_REPLY_ARRAY, "HGETALL %s failed", cur);
            seen = calloc(h->elements / 2 + 1, sizeof *seen);
            cr_assert_not_null(seen);
        }
        const char *field = tab1 + 1, *want = tab2 + 1, *got = "ABSENT";
        for (size_t i = 0; i + 1 < h->elements; i += 2)
            if (strcmp(h->element[i]->str, field) == 0) {
                got = h->element[i + 1]->str;
                seen[i / 2] = true;
            }
        rep->compared++;
        if (strcmp(got, want) != 0) {
            rep->mismatches++;
            report_add(rep, "  %s %-22s kpistream %-14s reference %s\n", cur, field,
                       got[0] ? got : "\"\"", want[0] ? want : "\"\"");
        }
    }
    free(text);
    qsort(keys.items, keys.n, sizeof *keys.items, cmp_str);
    redisReply *all = redisCommand(g.rc, "KEYS kpi:customer:*");
    cr_assert(all && all->type == REDIS_REPLY_ARRAY, "KEYS kpi:customer:* failed");
    for (size_t i = 0; i < all->elements; i++)
        if (!keyset_has(&keys, all->element[i]->str, "")) {
            rep->mismatches++;
            report_add(rep, "  %s: written by kpistream, not a customer of the reference\n",
                       all->element[i]->str);
        }
    freeReplyObject(all);
    keyset_free(&keys);
    return ncust;
}

typedef struct file_ready {
    const char *path;
} file_ready;

static int bootstrap_written(void *ctx)
{
    const file_ready *f = ctx;
    if (access(f->path, F_OK) != 0) return 0;
    char *t = kst_read_file(f->path, NULL);
    int ok = t && strchr(t, '\n') != NULL;
    free(t);
    return ok;
}

static int count_msg(const kst_msg *m, void *ctx)
{
    (void)m;
    ++*(long *)ctx;
    return 0;
}

/* Everything a reader sees, for comparing two runs over the same events
 * with other partition counts: kst_redis_dump_kpi() less what names
 * partitions (offsets, partition clocks and tokens of kpi:agg:state, the
 * kpi:offsets:<group> copy) or groups (kpi:agg's group), and less the high_value_at_risk triggers
 * (and the notice ids kept against repeats): their top-decile CLV is taken
 * over the customers of one partition (docs/churn-risk.md), so they depend
 * on the partitioning by design. Their count is returned in *hvar. */
static char *dump_outputs(const kst_redis *r, long *hvar)
{
    redisContext *c = kst_redis_connect(r);
    cr_assert_not_null(c, "%s", kst_last_error());
    static const char *const ignore[] = {"updated_at_ms",     "tok:*", "group",
                                         "off:*",             "pc:*",
                                         "key:kpi:agg:h:*",   "key:kpi:agg:names:*",
                                         "key:kpi:offsets:*", "key:kpi:notices:seen:*",
                                         "key:kpi:history", /* wall-clock minutes */
                                         NULL};
    char *d = kst_redis_dump(c, "kpi:*", ignore);
    redisFree(c);
    cr_assert_not_null(d, "%s", kst_last_error());
    /* Drop the high_value_at_risk lines in place. */
    *hvar = 0;
    char *w = d;
    for (char *line = d; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        char save = line[n - 1];
        line[n - 1] = '\0';
        bool drop = strstr(line, "trigger=high_value_at_risk ") != NULL;
        line[n - 1] = save;
        if (drop)
            ++*hvar;
        else {
            memmove(w, line, n);
            w += n;
        }
        line += n;
    }
    *w = '\0';
    return d;
}

/* `kpistream run --clock event --exit-on-eof` of topic into r. */
static void replay(const char *bin, const char *topic, const kst_redis *r, const char *bootstraps,
                   const char *log)
{
    char group[96];
    /* A group per run: both use one broker, and a second member of one group
     * would wait for the first one's session to time out. */
    snprintf(group, sizeof group, "other-%s-%d", topic, (int)getpid());
    char *run[] = {(char *)bin,     "run",   "--brokers", (char *)bootstraps,
                   "--topics",      (char *)topic, "--group", group,
                   "--redis",       (char *)kst_redis_url(r),
                   "--clock",       "event", "--exit-on-eof", NULL};
    run_child(run, log, 120000, "kpistream run");
}

/* A stream from tests/reference/other_stream.py, a generator written apart
 * from src/gen/ with other distributions: heavy-tailed activity, segment
 * movers (and customers whose first segment comes late), eleven channel
 * names (one non-ASCII), Cyrillic/CJK/emoji customer ids and one precomposed
 * and decomposed pair, RFC 3339 times with offsets, many event times exactly
 * on bucket edges, bursts at one millisecond, cancels, second cancels,
 * 30-day silences and returns, repeated `opened`s, 2 % producer retries and
 * 45 bad records, ending exactly on a week boundary of the epoch (an edge of
 * every bucket of the default windows and per-customer fields, and a UTC day).
 *
 * Through `kpistream mock-broker` (a child process), a real producer keying by
 * customer_id, and `kpistream run --clock event --exit-on-eof` twice: into a
 * 3-partition topic and a 7-partition one, each into its own redis-server.
 * The first run is compared with the reference, every field of kpi:global,
 * every kpi:segment:* and kpi:channel:* hash for all four default windows,
 * kpi:meta, and every field of every kpi:customer:* hash (rolling fields,
 * clv, risk included); the second run's whole output must equal the
 * first's (which names are tracked, alerts and triggers included). */
Test(generator_reference, other_stream_two_partitionings)
{
    int64_t t0 = kst_now_ms();
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char script[1024], gen_script[1024];
    script_path(script, sizeof script);
    reference_path(gen_script, sizeof gen_script, "other_stream.py");
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    char events[512], ref[512], cust[512], stats[512], log[512], bs[512];
    snprintf(events, sizeof events, "%s/ev.jsonl", g.dir);
    snprintf(ref, sizeof ref, "%s/ref.txt", g.dir);
    snprintf(cust, sizeof cust, "%s/customers.txt", g.dir);
    snprintf(stats, sizeof stats, "%s/stats.txt", g.dir);
    snprintf(bs, sizeof bs, "%s/bootstrap.txt", g.dir);

    /* 1. The stream and the reference. */
    snprintf(log, sizeof log, "%s/other_stream.log", g.dir);
    char *gen[] = {"python3",  gen_script, "--customers", "600", "--days", "45",
                   "--seed",   "11",       "--out",       events, NULL};
    run_child(gen, log, 60000, "other_stream.py");
    snprintf(log, sizeof log, "%s/reference.log", g.dir);
    char *py[] = {"python3", script, events, "--windows", "1h,24h,7d,30d", "--out", ref,
                  "--customers-out", cust, "--stats", stats, NULL};
    run_child(py, log, 60000, "kpi_reference.py");
    char *stats_text = kst_read_file(stats, NULL);
    cr_assert_not_null(stats_text, "%s", kst_last_error());
    fprintf(stderr, "other_stream: the stream has:\n%s", stats_text);
    static const char *const must[] = {"segment_moves", "reactivations", "cancel_churns",
                                       "cancels_of_churned_ignored", "repeated_opens_ignored",
                                       "inactivity_churns_between_events",
                                       "inactivity_churns_at_end", "cross_sells", NULL};
    for (size_t i = 0; must[i]; i++)
        cr_expect_gt(stat_of(stats_text, must[i]), 0, "the stream has no %s", must[i]);
    free(stats_text);
    int64_t t_ref = kst_now_ms();

    /* 2. The broker (the binary's own), the topics, the producer. */
    snprintf(log, sizeof log, "%s/mock-broker.log", g.dir);
    char *broker[] = {(char *)bin, "mock-broker", "--topic", "other3:3", "--topic",
                      "other3.dlq:1", "--topic", "other7:7", "--topic", "other7.dlq:1",
                      "--bootstrap-file", bs, NULL};
    cr_assert_eq(kst_proc_spawn(&g.broker, broker, log), 0, "%s", kst_last_error());
    file_ready fr = {bs};
    cr_assert_eq(kst_wait_until(bootstrap_written, &fr, 20000), 0, "mock-broker wrote no bootstraps");
    char *boot = kst_read_file(bs, NULL);
    cr_assert_not_null(boot);
    boot[strcspn(boot, "\n")] = '\0';
    cr_assert_eq(kst_kafka_attach(&g.kafka, boot), 0, "%s", kst_last_error());
    long lines = kst_kafka_produce_keyed(&g.kafka, "other3", events, 1000);
    cr_assert_gt(lines, 20000, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_produce_keyed(&g.kafka, "other7", events, 1000), lines, "%s",
                 kst_last_error());
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", kst_last_error());
    int64_t hi[7];
    long total = 0;
    cr_assert_eq(kst_kafka_end_offsets(&g.kafka, "other7", 7, hi), 0, "%s", kst_last_error());
    for (int p = 0; p < 7; p++)
        total += (long)hi[p];
    cr_assert_eq(total, lines, "other7 holds %ld messages of %ld", total, lines);

    /* 3. Two replays. */
    cr_assert_eq(kst_redis_start(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&g.redis2), 0, "%s", kst_last_error());
    snprintf(log, sizeof log, "%s/run3.log", g.dir);
    replay(bin, "other3", &g.redis, boot, log);
    int64_t t_run = kst_now_ms();
    snprintf(log, sizeof log, "%s/run7.log", g.dir);
    replay(bin, "other7", &g.redis2, boot, log);
    int64_t t_run2 = kst_now_ms();

    /* 4. The first run against the reference. */
    g.rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(g.rc, "%s", kst_last_error());
    char *text = kst_read_file(ref, NULL);
    cr_assert_not_null(text, "%s", kst_last_error());
    report rep = {0};
    keyset known = {0};
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char key[256], field[128], want[64];
        cr_assert_eq(sscanf(line, "%255s %127s %63s", key, field, want), 3,
                     "bad reference line: %s", line);
        keyset_add(&known, key, field);
        compare_line(&rep, key, field, want);
    }
    free(text);
    qsort(known.items, known.n, sizeof *known.items, cmp_str);
    check_unknown(&rep, &known, ":1h,:24h,:7d,:30d,");
    keyset_free(&known);
    int kpi_compared = rep.compared;
    long ncust = compare_customers(&rep, cust);

    /* Every rejected record is in the dead-letter topic. */
    long dlq = 0;
    cr_assert_geq(kst_kafka_consume_all(&g.kafka, "other3.dlq", 30000, count_msg, &dlq), 0, "%s",
                  kst_last_error());
    long long rejected = kst_redis_hget_ll(g.rc, "kpi:meta", "events_rejected", -1);
    cr_expect_eq(dlq, rejected, "%ld dead letters, %lld rejected", dlq, rejected);

    /* 5. The 7-partition run's outputs equal the 3-partition run's. */
    long hvar3 = 0, hvar7 = 0;
    char *d3 = dump_outputs(&g.redis, &hvar3), *d7 = dump_outputs(&g.redis2, &hvar7);
    int same = kst_dump_compare(d3, d7, "7 partitions vs 3", 60);
    if (getenv("KST_KEEP")) {
        char path[600];
        snprintf(path, sizeof path, "%s/dump3.txt", g.dir);
        FILE *f = fopen(path, "w");
        if (f) fputs(d3, f), fclose(f);
        snprintf(path, sizeof path, "%s/dump7.txt", g.dir);
        f = fopen(path, "w");
        if (f) fputs(d7, f), fclose(f);
    }
    size_t dlen = strlen(d3);
    free(d3);
    free(d7);
    free(boot);

    int64_t t_end = kst_now_ms();
    fprintf(stderr,
            "other_stream: %ld messages, %ld customers; %d KPI values and %d customer fields "
            "compared, %d mismatches; outputs of 3 and 7 partitions %s (%zu bytes of dump; "
            "high_value_at_risk triggers, not compared: %ld and %ld); "
            "times: stream+reference %.1f s, produce+run(3) %.1f s, run(7) %.1f s, "
            "compare %.1f s\n",
            lines, ncust, kpi_compared, rep.compared - kpi_compared, rep.mismatches,
            same == 0 ? "identical" : "DIFFER", dlen, hvar3, hvar7, (double)(t_ref - t0) / 1000,
            (double)(t_run - t_ref) / 1000, (double)(t_run2 - t_run) / 1000,
            (double)(t_end - t_run2) / 1000);
    if (rep.mismatches)
        fprintf(stderr, "other_stream: mismatches (key, field, kpistream, reference):\n%s",
                rep.text);
    free(rep.text);
    cr_assert_gt(kpi_compared, 2000, "the reference printed too few KPI values");
    cr_assert_gt(ncust, 500, "the reference printed too few customers");
    cr_expect_eq(rep.mismatches, 0, "%d values differ from the reference (listed above)",
                 rep.mismatches);
    cr_expect_eq(same, 0, "%s", kst_last_error());
    g.finished = true;
}
