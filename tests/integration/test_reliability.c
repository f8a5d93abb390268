/* Reliability end to end: the real kpistream binary, a librdkafka mock cluster
 * and a private redis-server, on a realistic stream (`kpistream gen`, 400
 * customers over 12 days, 1 % producer retries, plus a few events with an
 * unknown type so the dead-letter path is exercised too).
 *
 * The reference is a straight run (baseline). Every other scenario must leave
 * Redis byte for byte as the baseline did (kst_redis_dump of kpi:*, only
 * kpi:meta updated_at_ms, a wall-clock stamp, left out):
 *   - SIGKILL at three seeded points of the stream, restart each time with the
 *     same group (state restored by replay up to the offsets stored in Redis),
 *     then a last run to the end;
 *   - a Redis outage mid-stream (the binary must keep running, pause, retry,
 *     and finish once Redis is back);
 *   - a restart after a clean finish (replays, changes nothing, re-sends no
 *     dead letters).
 * Each scenario has its own mock cluster and Redis with the same topic and
 * group names, so the offsets key kpi:offsets:<group> compares as is.
 *
 * Group membership: a SIGKILLed member stays in the group until its session
 * times out, and the next member waits for that. The runs use a 4 s session
 * (librdkafka 2.0.2's mock coordinator never answered a JoinGroup with 2 s,
 * below its 3 s initial rebalance delay), so a restart costs about 7 s.
 *
 * Pace: unthrottled, the binary reads this stream in ~0.2 s, in 3-4 flushes,
 * and librdkafka prefetches the whole topic during a replay, so the first
 * flush after a restore jumps to the end. The crash and outage scenarios
 * therefore add a 5 ms round trip to the mock broker, produce in message
 * sets of at most 250 (the mock returns one per partition per fetch) and cap
 * the prefetch (queued.min.messages 1000, all runs): ~2 s per run. The first
 * write of a run may still jump (a restarted run writes nothing until its
 * replay is done), so each kill also checks it landed before the end. */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "ev"
#define DLQ "ev.dlq"
#define PARTS 4
#define GROUP "reliability"
#define SEED 11
#define RUN_TIMEOUT_MS 90000

/* One scenario's world: its own Redis, mock cluster and run logs. */
typedef struct scen {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc; /* the latest kpistream run */
    int runs;
} scen;

static struct {
    char dir[256];    /* the generated stream */
    char stream[300]; /* JSON lines produced to TOPIC */
    long lines;       /* messages in the stream */
    long bad;         /* of which dead-lettered (unknown type) */
    scen s[2];
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void scen_stop(scen *s)
{
    if (s->proc.pid && !s->proc.exited) kst_proc_stop(&s->proc, 5000);
    kst_redis_stop(&s->redis);
    kst_kafka_stop(&s->kafka);
    if (s->dir[0]) kst_rmtree(s->dir);
}

/* Also runs when an assertion aborted the test: shows the latest run's log. */
static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        for (int r = 1; !g.finished && r <= g.s[i].runs; r++) {
            char path[512];
            snprintf(path, sizeof path, "%s/run-%d.log", g.s[i].dir, r);
            kst_log_tail(path, r == g.s[i].runs ? 60 : 15);
        }
        scen_stop(&g.s[i]);
    }
    if (g.dir[0]) kst_rmtree(g.dir);
}

/* ------------------------------------------------------------------ */
/* The stream                                                          */

/* Generates the stream with the real binary, then adds a copy of every 757th
 * line with its type made unknown (a rejected event right after a real one,
 * in the same partition since the key is kept). */
static void make_stream(void)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    char gen_out[300], log[300];
    snprintf(gen_out, sizeof gen_out, "%s/gen.jsonl", g.dir);
    snprintf(log, sizeof log, "%s/gen.log", g.dir);
    const char *bin = kst_binary();
    cr_assert_not_null(bin, "KS_BINARY is not set");
    char *argv[] = {(char *)bin, "gen", "--customers",    "400",  "--days", "12",
                    "--seed",    "11",  "--dup-fraction", "0.01", "--out",  gen_out,
                    "--quiet",   NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0, "%s", kst_last_error());
    int status = -1;
    cr_assert_eq(kst_proc_wait(&p, 60000, &status), 0, "%s", kst_last_error());
    if (status != 0) kst_log_tail(log, 20);
    cr_assert_eq(status, 0, "kpistream gen exited with %d", status);

    size_t len = 0;
    char *text = kst_read_file(gen_out, &len);
    cr_assert_not_null(text, "%s", kst_last_error());
    snprintf(g.stream, sizeof g.stream, "%s/ev.jsonl", g.dir);
    FILE *out = fopen(g.stream, "w");
    cr_assert_not_null(out);
    long i = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        fwrite(line, 1, n, out);
        fputc('\n', out);
        g.lines++;
        static const char ty[] = "\"type\":\"";
        char *t = memmem(line, n, ty, sizeof ty - 1);
        if (i++ % 757 == 100 && t) {
            size_t head = (size_t)(t - line) + sizeof ty - 1;
            fwrite(line, 1, head, out);
            fputs("bogus_", out);
            fwrite(line + head, 1, n - head, out);
            fputc('\n', out);
            g.lines++;
            g.bad++;
        }
        line = nl ? nl + 1 : line + n;
    }
    cr_assert_eq(fclose(out), 0);
    free(text);
    cr_assert_gt(g.lines, 5000, "gen produced only %ld lines", g.lines);
    cr_assert_gt(g.bad, 5);
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */

/* Returns the raw value of the string field name in a JSON line, or NULL. */
static const char *json_str(const char *line, size_t n, const char *name, size_t *len)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *v = memmem(line, n, pat, (size_t)pl);
    if (!v) return NULL;
    v += pl;
    const char *q = memchr(v, '"', n - (size_t)(v - line));
    if (!q) return NULL;
    *len = (size_t)(q - v);
    return v;
}

/* Produces the stream as `kpistream gen --brokers` would: keyed by
 * customer_id, marketing spend by its campaign. Not kst_kafka_produce_jsonl:
 * it leaves key-less lines to the partitioner's random choice, so two
 * clusters would get different partitions (and a retried spend event could
 * land apart from its original, escaping dedup), and the runs could not be
 * compared. Every line gets a key, so placement is a pure function of it. */
static long produce_stream(kst_kafka *k)
{
    size_t len = 0;
    char *text = kst_read_file(g.stream, &len);
    cr_assert_not_null(text, "%s", kst_last_error());
    long count = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        size_t kl = 0;
        const char *key = json_str(line, n, "customer_id", &kl);
        if (!key) key = json_str(line, n, "campaign", &kl);
        if (!key) key = json_str(line, n, "event_id", &kl);
        cr_assert_not_null(key, "no key for line %ld", count + 1);
        cr_assert_eq(kst_kafka_produce(k, TOPIC, -1, key, kl, line, n), 0, "%s", kst_last_error());
        /* Bounded message sets: the mock broker returns one set per
         * partition per fetch, so with a round-trip time (see throttle())
         * this paces the stream. */
        if (++count % 250 == 0) cr_assert_eq(kst_kafka_flush(k, 30000), 0, "%s", kst_last_error());
        line = nl ? nl + 1 : line + n;
    }
    free(text);
    return count;
}

static void scen_start(scen *s, int redis_flags)
{
    cr_assert_eq(kst_tmpdir(s->dir, sizeof s->dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start_opt(&s->redis, redis_flags), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&s->kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&s->kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&s->kafka, DLQ, 1), 0, "%s", kst_last_error());
    int64_t t0 = kst_now_ms();
    cr_assert_eq(produce_stream(&s->kafka), g.lines);
    fprintf(stderr, "produced %ld messages in %lld ms\n", g.lines, (long long)(kst_now_ms() - t0));
    cr_assert_eq(kst_kafka_flush(&s->kafka, 30000), 0, "%s", kst_last_error());
}

/* Delays every request to the (single) mock broker by rtt_ms. Together with
 * the bounded message sets and prefetch this spreads a run over a couple of
 * seconds instead of ~0.2 s, so a kill or an outage lands between flushes,
 * before the end. */
static void throttle(scen *s, int rtt_ms)
{
    cr_assert_eq(rd_kafka_mock_broker_set_rtt(s->kafka.mcluster, 1, rtt_ms), 0);
}

static void spawn_run(scen *s)
{
    char log[512];
    snprintf(log, sizeof log, "%s/run-%d.log", s->dir, ++s->runs);
    char *argv[] = {(char *)kst_binary(),
                    "run",
                    "--brokers",
                    s->kafka.bootstraps,
                    "--topics",
                    TOPIC,
                    "--group",
                    GROUP,
                    "--redis",
                    (char *)kst_redis_url(&s->redis),
                    "--clock",
                    "event",
                    "--exit-on-eof",
                    "--flush-interval-ms",
                    "50",
                    "--batch-size",
                    "100",
                    "--kafka.session.timeout.ms",
                    "4000",
                    "--kafka.heartbeat.interval.ms",
                    "500",
                    "--kafka.queued.min.messages",
                    "1000",
                    NULL};
    cr_assert_eq(kst_proc_spawn(&s->proc, argv, log), 0, "%s", kst_last_error());
}

static void wait_exit_0(scen *s)
{
    int64_t t0 = kst_now_ms();
    int status = -1;
    cr_assert_eq(kst_proc_wait(&s->proc, RUN_TIMEOUT_MS, &status), 0,
                 "run %d did not exit by itself (--exit-on-eof): %s", s->runs, kst_last_error());
    cr_assert_eq(status, 0, "run %d exited with status %d", s->runs, status);
    fprintf(stderr, "run %d: exited 0 after %lld ms more\n", s->runs,
            (long long)(kst_now_ms() - t0));
}

static char *dump(scen *s)
{
    redisContext *c = kst_redis_connect(&s->redis);
    cr_assert_not_null(c, "%s", kst_last_error());
    /* Left out: a wall-clock stamp, and the flush bookkeeping (tokens of the
     * last flush of each partition, the flush counter), which depend on how
     * the stream was cut into flushes, not on the events. */
    static const char *const ignore[] = {"updated_at_ms", "key:kpi:agg:seq", "key:kpi:agg:flush",
                                         NULL};
    char *d = kst_redis_dump(c, "kpi:*", ignore);
    redisFree(c);
    cr_assert_not_null(d, "%s", kst_last_error());
    return d;
}

static long long meta_ll(scen *s, const char *field)
{
    redisContext *c = kst_redis_connect(&s->redis);
    cr_assert_not_null(c, "%s", kst_last_error());
    long long v = kst_redis_hget_ll(c, "kpi:meta", field, -1);
    redisFree(c);
    return v;
}

static long count_dlq(scen *s)
{
    long n = kst_kafka_consume_all(&s->kafka, DLQ, 30000, NULL, NULL);
    cr_assert_geq(n, 0, "%s", kst_last_error());
    return n;
}

/* Checks that the group committed the end of every partition. */
static void expect_committed_to_end(scen *s)
{
    int64_t end[PARTS], com[PARTS];
    cr_assert_eq(kst_kafka_end_offsets(&s->kafka, TOPIC, PARTS, end), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_committed(&s->kafka, GROUP, TOPIC, PARTS, com), 0, "%s",
                 kst_last_error());
    for (int p = 0; p < PARTS; p++)
        cr_expect_eq(com[p], end[p], "partition %d: committed %lld, end %lld", p, (long long)com[p],
                     (long long)end[p]);
}

/* --- comparing dumps --- */

/* Splits a dump into "key<TAB>item" lines (the key repeated on its items), so
 * both sides can be sorted and merged to list only what differs. */
static char **flat_lines(const char *d, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    cr_assert_not_null(v);
    char key[512] = "";
    for (const char *p = d; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (k == cap) {
            v = realloc(v, (cap *= 2) * sizeof *v);
            cr_assert_not_null(v);
        }
        if (*p != ' ') {
            /* The header alone too: a key whose type differs, or that has no
             * items, must show up. */
            snprintf(key, sizeof key, "%.*s", (int)len, p);
            v[k++] = strdup(key);
        } else {
            size_t sz = strlen(key) + len + 2;
            v[k] = malloc(sz);
            cr_assert_not_null(v[k]);
            snprintf(v[k++], sz, "%s\t%.*s", key, (int)len, p);
        }
        p = nl ? nl + 1 : p + len;
    }
    *n = k;
    return v;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints up to max lines found on only one side; returns the number of such
 * lines. */
static size_t print_diff(const char *want, const char *got, size_t max)
{
    size_t na, nb, i = 0, j = 0, diffs = 0;
    char **a = flat_lines(want, &na), **b = flat_lines(got, &nb);
    qsort(a, na, sizeof *a, str_cmp);
    qsort(b, nb, sizeof *b, str_cmp);
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        if (diffs++ < max) {
            /* HyperLogLog registers are long hex strings: show their start. */
            const char *l = c < 0 ? a[i] : b[j];
            size_t ll = strlen(l);
            fprintf(stderr, "  %s %.*s%s\n",
                    c < 0 ? "baseline:" : "scenario:", (int)(ll > 200 ? 200 : ll), l,
                    ll > 200 ? "..." : "");
        }
        if (c < 0)
            i++;
        else
            j++;
    }
    for (i = 0; i < na; i++)
        free(a[i]);
    for (j = 0; j < nb; j++)
        free(b[j]);
    free(a);
    free(b);
    return diffs;
}

/* The stream entries of one customer, in dump order, joined: "customer=<id> " lines. */
static char *customer_entries(const char *dump, const char *cust)
{
    size_t cap = 1024, len = 0;
    char *out = malloc(cap), needle[160];
    out[0] = '\0';
    snprintf(needle, sizeof needle, "customer=%s ", cust);
    for (const char *l = dump; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        const char *hit = memmem(l, ll, needle, strlen(needle));
        if (hit) {
            while (len + ll + 2 > cap)
                out = realloc(out, cap *= 2);
            memcpy(out + len, l, ll);
            len += ll;
            out[len++] = '\n';
            out[len] = '\0';
        }
        l = e ? e + 1 : NULL;
    }
    return out;
}

/* Same multiset of lines: stream entries of different customers come from
 * different partitions, whose interleaving is not part of any guarantee;
 * what must hold is each customer's own order. Returns true if it does. */
static bool same_per_customer_order(const char *want, const char *got)
{
    bool ok = true;
    for (const char *p = want; ok && (p = strstr(p, "customer=")) != NULL;) {
        char cust[128];
        size_t n = strcspn(p + 9, " \t\n");
        snprintf(cust, sizeof cust, "%.*s", (int)(n < sizeof cust ? n : sizeof cust - 1), p + 9);
        char *a = customer_entries(want, cust), *b = customer_entries(got, cust);
        ok = strcmp(a, b) == 0;
        if (!ok)
            fprintf(stderr, "  customer %s: entries in another order\n", cust);
        free(a);
        free(b);
        p += 9 + n;
    }
    return ok;
}

static void expect_same_dump(const char *want, const char *got, const char *what)
{
    if (strcmp(want, got) == 0) return;
    fprintf(stderr, "----- %s: Redis differs from the baseline (key<TAB>item) -----\n", what);
    size_t n = print_diff(want, got, 60);
    if (n == 0 && same_per_customer_order(want, got)) {
        fprintf(stderr, "  same entries; only the interleaving of different customers' (partitions') "
                        "stream entries differs: accepted\n");
        return;
    }
    if (n == 0) {
        /* Same items, different order (stream entries, lists): show where. */
        size_t line = 1, i = 0;
        for (; want[i] && want[i] == got[i]; i++)
            line += want[i] == '\n';
        size_t start = i;
        while (start > 0 && want[start - 1] != '\n')
            start--;
        fprintf(stderr,
                "  same items in another order; first difference at line %zu:\n"
                "  baseline: %.200s\n  scenario: %.200s\n",
                line, want + start, got + start);
    }
    fprintf(stderr, "----- %zu differing lines -----\n", n);
    /* Keep going: the later scenarios still say something. */
    cr_expect_fail("%s: Redis state differs from the baseline in %zu lines (printed above)", what,
                   n);
}

/* --- log polling --- */

typedef struct log_wait {
    const char *path;
    const char *needle;
    kst_proc *proc; /* stop waiting if it exits */
} log_wait;

static bool log_has(const char *path, const char *needle)
{
    if (access(path, F_OK) != 0) return false;
    char *text = kst_read_file(path, NULL);
    bool ok = text && strstr(text, needle);
    free(text);
    return ok;
}

static int log_wait_cond(void *ctx)
{
    log_wait *w = ctx;
    return log_has(w->path, w->needle) || (w->proc && !kst_proc_running(w->proc));
}

/* Prints the binary's restore figure (for the report), if the run has one. */
static void print_restore_line(const scen *s)
{
    char *text = kst_read_file(s->proc.log_path, NULL);
    const char *l = text ? strstr(text, "state restored:") : NULL;
    if (l) fprintf(stderr, "run %d: %.*s\n", s->runs, (int)strcspn(l, "\n"), l);
    free(text);
}

/* A restarted run must leave Redis alone until its state is restored: until
 * then it knows nothing newer than what Redis holds. Checked once the run has
 * its partitions (it has been up for the whole group join by then). */
static void expect_no_write_before_restore(scen *s, long long stored)
{
    log_wait w = {s->proc.log_path, "replaying to restore", &s->proc};
    cr_assert_eq(kst_wait_until(log_wait_cond, &w, RUN_TIMEOUT_MS), 0, "run %d: no replay started",
                 s->runs);
    long long now = meta_ll(s, "events_processed");
    bool restored = log_has(s->proc.log_path, "state restored:");
    cr_expect(now == stored || (restored && now > stored),
              "run %d wrote kpi:meta before its state was restored: events_processed %lld, "
              "was %lld at the kill",
              s->runs, now, stored);
}

/* Straight run: the reference dump, and its counts. */
static char *baseline(scen *s, long long *processed)
{
    scen_start(s, 0);
    spawn_run(s);
    wait_exit_0(s);
    expect_committed_to_end(s);
    *processed = meta_ll(s, "events_processed");
    cr_assert_gt(*processed, g.lines / 2, "baseline processed %lld of %ld", *processed, g.lines);
    cr_assert_eq(meta_ll(s, "events_rejected"), g.bad);
    cr_assert_eq(count_dlq(s), g.bad, "one dead letter per rejected event");
    cr_assert_eq(meta_ll(s, "events_processed") + meta_ll(s, "events_rejected") +
                     meta_ll(s, "duplicates"),
                 g.lines, "every message is counted once");
    return dump(s);
}

/* Deterministic fraction in [lo, hi) from the seed. */
static double seeded_fraction(unsigned *state, double lo, double hi)
{
    *state = *state * 1103515245u + 12345u;
    return lo + (hi - lo) * (double)((*state >> 8) & 0xffff) / 65536.0;
}

TestSuite(reliability, .init = setup, .fini = teardown, .timeout = 300);

/* Baseline; restart after a clean finish; SIGKILL at three points. */
Test(reliability, sigkill_restarts_and_clean_restart_match_baseline)
{
    make_stream();
    scen *b = &g.s[0], *k = &g.s[1];
    long long total = 0;
    char *want = baseline(b, &total);

    /* Restart after a clean finish: replays everything, exits 0, changes
     * nothing, sends no dead letter again. */
    spawn_run(b);
    wait_exit_0(b);
    cr_assert(log_has(b->proc.log_path, "state restored:"), "the restart did not replay");
    print_restore_line(b);
    char *again = dump(b);
    expect_same_dump(want, again, "restart after a clean finish");
    free(again);
    cr_assert_eq(count_dlq(b), g.bad, "the replay re-sent dead letters");
    scen_stop(b);

    /* SIGKILL at ~20 %, ~50 %, ~75 % of the processed events. */
    scen_start(k, 0);
    throttle(k, 5);
    unsigned rng = SEED;
    const double lo[3] = {0.15, 0.45, 0.65}, hi[3] = {0.25, 0.55, 0.75};
    long long stored = 0; /* events_processed in Redis after the last kill */
    int mid_stream = 0;   /* kills that landed before the last flush */
    for (int kill_no = 0; kill_no < 3; kill_no++) {
        /* A restarted run writes nothing until its replay is done, then
         * its first flush may jump past the next seeded point: kill it at
         * its first write beyond the stored state then. */
        long long at = (long long)(seeded_fraction(&rng, lo[kill_no], hi[kill_no]) * total);
        if (at <= stored) at = stored + 1;
        spawn_run(k);
        if (kill_no > 0) expect_no_write_before_restore(k, stored);
        cr_assert_eq(
            kst_redis_wait_ll_ge(&k->redis, "kpi:meta", "events_processed", at, RUN_TIMEOUT_MS), 0,
            "kill %d: events_processed never reached %lld: %s", kill_no + 1, at, kst_last_error());
        cr_assert(kst_proc_running(&k->proc), "kill %d: run %d exited (status %d) before the kill",
                  kill_no + 1, k->runs, k->proc.status);
        kst_proc_kill(&k->proc, SIGKILL);
        int status = -1;
        cr_assert_eq(kst_proc_wait(&k->proc, 10000, &status), 0, "%s", kst_last_error());
        if (status == 0) {
            /* It finished between the check and the signal (a loaded machine):
             * that kill proves nothing, but is no failure. */
            fprintf(stderr, "kill %d: the run had already finished\n", kill_no + 1);
            break;
        }
        cr_assert_eq(status, 128 + SIGKILL);
        if (kill_no > 0)
            cr_assert(log_has(k->proc.log_path, "state restored:"),
                      "run %d did not restore by replay", k->runs);
        print_restore_line(k);
        /* What the next run starts from: must be mid-stream, or the kill
         * proved nothing. */
        stored = meta_ll(k, "events_processed");
        fprintf(stderr, "kill %d: threshold %lld, Redis had %lld of %lld events at the kill\n",
                kill_no + 1, at, stored, total);
        cr_assert_geq(stored, at);
        if (stored >= total) {
            /* On a loaded machine a restarted run can replay and finish
             * within one flush: that kill proves nothing, but is no failure. */
            fprintf(stderr, "kill %d landed after the last flush\n", kill_no + 1);
            break;
        }
        mid_stream++;
    }
    /* At least two kills must have landed mid-stream, or the test proved nothing. */
    cr_assert_geq(mid_stream, 2, "only %d kills landed mid-stream", mid_stream);
    spawn_run(k);
    expect_no_write_before_restore(k, stored);
    wait_exit_0(k);
    cr_assert(log_has(k->proc.log_path, "state restored:"), "the last run did not replay");
    print_restore_line(k);
    expect_committed_to_end(k);
    char *got = dump(k);
    expect_same_dump(want, got, "after 3 SIGKILLs and restarts");
    free(got);
    /* At least once: a dead letter sent before a kill whose flush did not
     * land is sent again by the next run. */
    cr_assert_geq(count_dlq(k), g.bad);
    free(want);
    g.finished = true;
}

/* The straight run's dump (caller frees), then scenario s started throttled
 * and run until Redis holds at least a fraction num/den of the events, still
 * running. Sets *total to the events of the stream. */
static char *baseline_then_run_to(scen *s, int redis_flags, long long num, long long den,
                                  long long *total)
{
    make_stream();
    scen *b = &g.s[0];
    char *want = baseline(b, total);
    scen_stop(b);
    scen_start(s, redis_flags);
    throttle(s, 5);
    spawn_run(s);
    long long at = *total * num / den;
    cr_assert_eq(
        kst_redis_wait_ll_ge(&s->redis, "kpi:meta", "events_processed", at, RUN_TIMEOUT_MS), 0,
        "events_processed never reached %lld: %s", at, kst_last_error());
    cr_assert(kst_proc_running(&s->proc), "the run finished before the fault");
    return want;
}

/* Redis goes down mid-stream: the binary stays up, pauses, retries, and the
 * result is the baseline once Redis is back. */
Test(reliability, redis_outage_matches_baseline)
{
    scen *o = &g.s[1];
    long long total = 0;
    char *want = baseline_then_run_to(o, KST_REDIS_PERSIST, 3, 10, &total);
    int64_t t0 = kst_now_ms();
    cr_assert_eq(kst_redis_down(&o->redis), 0, "%s", kst_last_error());
    fprintf(stderr, "outage: redis down in %lld ms\n", (long long)(kst_now_ms() - t0));
    log_wait w = {o->proc.log_path, "flush failed", &o->proc};
    cr_assert_eq(kst_wait_until(log_wait_cond, &w, 30000), 0,
                 "no \"flush failed\" in the log during the outage");
    cr_assert(kst_proc_running(&o->proc), "kpistream exited during the Redis outage (status %d)",
              o->proc.status);
    cr_assert(log_has(o->proc.log_path, "flush failed"));
    cr_assert_eq(kst_redis_up(&o->redis), 0, "%s", kst_last_error());
    wait_exit_0(o);
    cr_assert(log_has(o->proc.log_path, "flush succeeded again"),
              "no recovery message after the outage");
    expect_committed_to_end(o);
    char *got = dump(o);
    expect_same_dump(want, got, "after a Redis outage");
    free(got);
    cr_assert_eq(count_dlq(o), g.bad, "the outage duplicated dead letters");
    free(want);
    g.finished = true;
}

/* SIGTERM mid-stream: the process flushes, commits, leaves the group and
 * exits 0; a restart then finishes with the baseline's state. */
Test(reliability, sigterm_mid_stream_then_restart_matches_baseline)
{
    scen *t = &g.s[1];
    long long total = 0;
    char *want = baseline_then_run_to(t, 0, 4, 10, &total);
    long long at = total * 4 / 10;
    kst_proc_kill(&t->proc, SIGTERM);
    int status = -1;
    cr_assert_eq(kst_proc_wait(&t->proc, 30000, &status), 0, "no exit after SIGTERM: %s",
                 kst_last_error());
    cr_assert_eq(status, 0, "SIGTERM must end with exit 0, got %d", status);
    long long stored = meta_ll(t, "events_processed");
    fprintf(stderr, "sigterm: Redis had %lld of %lld events after the graceful stop\n", stored,
            total);
    cr_assert_geq(stored, at, "the final flush of the graceful stop is missing");
    spawn_run(t);
    wait_exit_0(t);
    expect_committed_to_end(t);
    char *got = dump(t);
    expect_same_dump(want, got, "after a SIGTERM and a restart");
    free(got);
    cr_assert_eq(count_dlq(t), g.bad, "the restart duplicated dead letters");
    free(want);
    g.finished = true;
}
