/* Scale-out end to end: two `kpistream run` members in one consumer group,
 * the real binary, a librdkafka mock cluster and a private redis-server, on
 * the generated stream of test_reliability.c (`kpistream gen`, 130 customers
 * over 35 days, 1 % producer retries, a few events with an unknown type) over
 * 8 partitions.
 *
 * The members must merge their partitions' shares in Redis: whatever the
 * group does, once every partition is consumed Redis must hold what one
 * process reading everything holds (the baseline: a straight run with
 * --exit-on-eof, same config, --clock event). Compared as in
 * test_reliability.c: kst_redis_dump of kpi:* without kpi:meta updated_at_ms,
 * stream entries per customer. Scenarios:
 *   - two members started together run to the end; both must own partitions;
 *   - a member joins a running one at ~1/4, the first is SIGKILLed at ~1/2,
 *     the second takes its partitions over after the session timeout.
 * Each is compared live, once the group has settled, and again after every
 * member stopped on SIGTERM (exit 0; no writer is left then).
 *
 * Settled means: every partition's offset stored in Redis (with its outputs,
 * in the same transaction) is the end of the partition, kpi:meta counts as
 * many events as the baseline and shows its clock (the group clock: the
 * newest event time), and a dump equals the one taken at least SETTLE_MS
 * earlier. Both members stay up, unpaused, and flush every FLUSH_MS (plus at
 * most a 100 ms poll), so a member that still had something to write would
 * have written it within that time.
 *
 * Pace: small message sets (the mock broker returns one set per partition
 * per fetch) and a round-trip time set on the broker (see test_reliability.c)
 * pace the members; the baseline is not paced. Membership (librdkafka 2.0.2's
 * mock coordinator): a first join is held for 3 s (both members of the first
 * scenario join that generation), a rebalance for the session timeout minus
 * 1 s, and a SIGKILLed member stays until its session (4 s) times out. In a
 * rebalance the running member's commits meet a new generation and it usually
 * loses its whole assignment: members then restore their new shares by
 * replay, which is part of what is tested. Ownership is read from the
 * members' logs ("assigned"/"revoked" lines of src/kafka/source.c).
 *
 * KST_KEEP_LOGS=1 keeps each scenario's dir: member logs, and the dumps when
 * they differ from the baseline. */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "ev"
#define DLQ "ev.dlq"
#define PARTS 8
#define ALL_PARTS ((1u << PARTS) - 1)
#define GROUP "scaleout"
#define FLUSH_MS "50"
#define SETTLE_MS 1000          /* >= 6 flush chances of each member */
#define SETTLE_TIMEOUT_MS 10000 /* once everything is stored */
#define RUN_TIMEOUT_MS 90000
#define JOIN_TIMEOUT_MS 30000 /* a join or a takeover: a few rebalances */
#define SET_SIZE 40           /* messages per produce round: ~5 per partition */
#define BASE_SET_SIZE 250     /* the baseline is not paced */

/* One scenario's world: its own Redis, mock cluster and processes. */
typedef struct scen {
    const char *name;
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc m[2]; /* members A and B; the baseline uses m[0] */
    unsigned live; /* members that must be running (bit i: m[i]) */
    int64_t end[PARTS];
    int64_t t0;
} scen;

static struct {
    char dir[256]; /* the generated stream */
    kst_stream st;
    scen s[2]; /* baseline, scenario */
    bool finished;
} g;

static bool keep_logs(void);

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void scen_stop(scen *s)
{
    for (int i = 0; i < 2; i++)
        if (s->m[i].pid && !s->m[i].exited) kst_proc_stop(&s->m[i], 5000);
    kst_redis_stop(&s->redis);
    kst_kafka_stop(&s->kafka);
    if (s->dir[0] && keep_logs())
        fprintf(stderr, "%s: logs kept in %s\n", s->name, s->dir);
    else if (s->dir[0])
        kst_rmtree(s->dir);
    s->dir[0] = '\0';
}

/* Shows the last lines of each member's log that still exists. */
static void show_logs(scen *s, int lines)
{
    for (int m = 0; m < 2; m++)
        if (s->dir[0] && s->m[m].log_path[0] && access(s->m[m].log_path, F_OK) == 0)
            kst_log_tail(s->m[m].log_path, lines);
}

/* Also runs when an assertion aborted the test: shows the members' logs. */
static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (!g.finished) show_logs(&g.s[i], 40);
        scen_stop(&g.s[i]);
    }
    if (g.dir[0]) kst_rmtree(g.dir);
}

/* Milliseconds since the scenario's members were first started. */
static long long at(const scen *s)
{
    return (long long)(kst_now_ms() - s->t0);
}

static void make_stream(void)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    static const char *const gen[] = {"--customers",    "130",  "--days", "35", "--seed", "11",
                                      "--dup-fraction", "0.01", NULL};
    cr_assert_eq(kst_stream_make(&g.st, g.dir, gen, 757), 0, "%s", kst_last_error());
    cr_assert_gt(g.st.lines, 5000, "gen produced only %ld lines", g.st.lines);
    cr_assert_gt(g.st.bad, 5);
}

static void scen_start(scen *s, const char *name, int set_size)
{
    s->name = name;
    cr_assert_eq(kst_tmpdir(s->dir, sizeof s->dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&s->redis), 0, "%s", kst_last_error());
    /* Three channels tracked (--max-channels 3, and "other"), chosen
     * up front as an operator would, so the baseline and every restart and
     * member fold the same names whatever order they arrive in. */
    static const char *const tracked[] = {"web", "app", "email", NULL};
    cr_assert_eq(kst_redis_register_names(&s->redis, 'c', tracked), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&s->kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&s->kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&s->kafka, DLQ, 1), 0, "%s", kst_last_error());
    int64_t t0 = kst_now_ms();
    cr_assert_eq(kst_kafka_produce_keyed(&s->kafka, TOPIC, g.st.path, set_size), g.st.lines, "%s",
                 kst_last_error());
    cr_assert_eq(kst_kafka_flush(&s->kafka, 30000), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_end_offsets(&s->kafka, TOPIC, PARTS, s->end), 0, "%s", kst_last_error());
    fprintf(stderr, "%s: produced %ld messages in %lld ms\n", name, g.st.lines,
            (long long)(kst_now_ms() - t0));
}

/* Delays every request to the (single) mock broker by rtt_ms: with the small
 * message sets this sets the members' pace. */
static void throttle(scen *s, int rtt_ms)
{
    cr_assert_eq(kst_kafka_set_rtt(&s->kafka, 1, rtt_ms), 0, "%s", kst_last_error());
}

/* Starts member i (0: A, 1: B) of the group; the baseline adds --exit-on-eof. */
static void spawn_member(scen *s, int i, bool exit_on_eof)
{
    char log[512];
    snprintf(log, sizeof log, "%s/member-%c.log", s->dir, 'A' + i);
    const char *const args[] = {"run",
                                "--brokers",
                                s->kafka.bootstraps,
                                "--topics",
                                TOPIC,
                                "--group",
                                GROUP,
                                "--redis",
                                kst_redis_url(&s->redis),
                                "--clock",
                                "event",
                                "--flush-interval-ms",
                                FLUSH_MS,
                                "--batch-size",
                                "100",
                                "--kafka.session.timeout.ms",
                                "4000",
                                "--kafka.heartbeat.interval.ms",
                                "500",
                                "--kafka.queued.min.messages",
                                "1000",
                                /* Fewer channels tracked than the stream has
                                 * (issue 11): both members must fold the same
                                 * names into "other" as one process does. */
                                "--max-channels",
                                "3",
                                NULL};
    const char *const eof[] = {"--exit-on-eof", NULL};
    cr_assert_eq(kst_kpistream_spawn(&s->m[i], log, args, exit_on_eof ? eof : NULL), 0, "%s",
                 kst_last_error());
    s->live |= 1u << i;
    if (!s->t0) s->t0 = kst_now_ms();
}

/* Whether every member that should run does. */
static bool members_up(scen *s)
{
    for (int i = 0; i < 2; i++)
        if (s->live & (1u << i) && !kst_proc_running(&s->m[i])) return false;
    return true;
}

static char *dump(scen *s)
{
    char *d = kst_redis_dump_kpi(&s->redis);
    cr_assert_not_null(d, "%s", kst_last_error());
    return d;
}

static long long meta_ll(scen *s, const char *field)
{
    return kst_redis_field_ll(&s->redis, "kpi:meta", field, -1);
}

/* The next offset of every partition as stored in Redis with the outputs
 * (kpi:offsets:<group>, field "<topic>:<partition>"; -1: none). Returns their
 * sum over the partitions that have one. */
static long long stored_offsets(scen *s, int64_t out[PARTS])
{
    redisContext *c = kst_redis_connect(&s->redis);
    cr_assert_not_null(c, "%s", kst_last_error());
    long long sum = 0;
    for (int p = 0; p < PARTS; p++) {
        char field[64];
        snprintf(field, sizeof field, "%s:%d", TOPIC, p);
        out[p] = kst_redis_hget_ll(c, "kpi:offsets:" GROUP, field, -1);
        if (out[p] > 0) sum += out[p];
    }
    redisFree(c);
    return sum;
}

static long count_dlq(scen *s)
{
    long n = kst_kafka_consume_all(&s->kafka, DLQ, 30000, NULL, NULL);
    cr_assert_geq(n, 0, "%s", kst_last_error());
    return n;
}

static bool keep_logs(void)
{
    const char *keep = getenv("KST_KEEP_LOGS");
    return keep && *keep == '1';
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* With KST_KEEP_LOGS=1 both dumps are kept next to the logs when they differ. */
static void expect_same_dump(scen *s, const char *want, const char *got, const char *what)
{
    if (kst_dump_compare(want, got, what, 60) == 0) return;
    cr_expect_fail("%s", kst_last_error());
    if (keep_logs()) {
        char name[160];
        snprintf(name, sizeof name, "%s.dump", what);
        for (char *c = name; *c; c++)
            if (*c == ' ' || *c == ',') *c = '-';
        write_file(s->dir, "baseline.dump", want);
        write_file(s->dir, name, got);
    }
}

/* ------------------------------------------------------------------ */
/* Who owns what, from a member's log                                  */

/* Partitions a member owns now according to its log (src/kafka/source.c logs
 * "assigned <topic>[<p>]" and "revoked <topic>[<p>]" at info level, and
 * "<topic>[<p>]: replaying offsets 0..<n-1>" when it restores a partition
 * that has outputs in Redis). Only complete lines count. Sets *fresh to the
 * partitions it was ever assigned with nothing to restore (it read them from
 * their start itself), and restore[p] to the offset the latest assignment of
 * p restores up to (0: none; INT64_MAX: not logged yet). Returns a bit mask
 * of partitions. */
static unsigned owned(const kst_proc *m, unsigned *fresh, int64_t restore[PARTS])
{
    unsigned own = 0, fr = 0;
    if (restore)
        for (int p = 0; p < PARTS; p++)
            restore[p] = 0;
    char *text = access(m->log_path, F_OK) == 0 ? kst_read_file(m->log_path, NULL) : NULL;
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (!nl) break; /* being written */
        *nl = '\0';
        const char *a = strstr(l, " assigned " TOPIC "[");
        const char *r = strstr(l, " revoked " TOPIC "[");
        const char *y = strstr(l, " " TOPIC "[");
        const char *rp = strstr(l, "]: replaying offsets 0..");
        int p = -1;
        if (a) {
            p = atoi(a + strlen(" assigned " TOPIC "["));
            if (p >= 0 && p < PARTS) {
                own |= 1u << p;
                bool replay = strstr(a, "replaying") != NULL;
                if (!replay) fr |= 1u << p;
                if (restore) restore[p] = replay ? INT64_MAX : 0;
            }
        } else if (r) {
            p = atoi(r + strlen(" revoked " TOPIC "["));
            if (p >= 0 && p < PARTS) own &= ~(1u << p);
        } else if (y && rp) {
            p = atoi(y + strlen(" " TOPIC "["));
            if (restore && p >= 0 && p < PARTS)
                restore[p] = strtoll(rp + strlen("]: replaying offsets 0.."), NULL, 10) + 1;
        }
        l = nl + 1;
    }
    free(text);
    if (fresh) *fresh = fr;
    return own;
}

typedef struct own_wait {
    scen *s;
    int member;
    unsigned want; /* 0: any partition */
} own_wait;

/* Member owns want (or anything when want is 0), or has exited. */
static int own_cond(void *ctx)
{
    own_wait *w = ctx;
    kst_proc *m = &w->s->m[w->member];
    unsigned o = owned(m, NULL, NULL);
    return (w->want ? (o & w->want) == w->want : o != 0) || !kst_proc_running(m);
}

static void wait_owns(scen *s, int member, unsigned want)
{
    own_wait w = {s, member, want};
    int rc = kst_wait_until(own_cond, &w, JOIN_TIMEOUT_MS);
    unsigned o = owned(&s->m[member], NULL, NULL);
    cr_assert(kst_proc_running(&s->m[member]), "%s: member %c exited (status %d)", s->name,
              'A' + member, s->m[member].status);
    cr_assert_eq(rc, 0, "%s: member %c owns partitions 0x%02x, not 0x%02x, after %d ms", s->name,
                 'A' + member, o, want, JOIN_TIMEOUT_MS);
    fprintf(stderr, "%s: %lld ms: member %c owns partitions 0x%02x\n", s->name, at(s), 'A' + member,
            o);
}

/* ------------------------------------------------------------------ */
/* The end of a run                                                    */

typedef struct end_wait {
    scen *s;
    int64_t stored[PARTS];
    bool members_up;
} end_wait;

/* Every partition's stored offset is its end, or a member exited. */
static int stored_to_end_cond(void *ctx)
{
    end_wait *w = ctx;
    stored_offsets(w->s, w->stored);
    bool all = true;
    for (int p = 0; p < PARTS; p++)
        all = all && w->stored[p] == w->s->end[p];
    w->members_up = members_up(w->s);
    return all || !w->members_up;
}

typedef struct settle_wait {
    scen *s;
    long long want_processed, want_clock;
    long long processed, clock; /* last seen */
    char *prev;                 /* last dump that differed from its predecessor */
    int64_t prev_ms;
    bool members_up;
} settle_wait;

/* kpi:meta shows the baseline's count and clock and the dump has not changed
 * for SETTLE_MS (see the top comment), or a member exited. */
static int settled_cond(void *ctx)
{
    settle_wait *w = ctx;
    w->members_up = members_up(w->s);
    if (!w->members_up) return 1;
    w->processed = meta_ll(w->s, "events_processed");
    w->clock = meta_ll(w->s, "clock_ms");
    if (w->processed != w->want_processed || w->clock != w->want_clock) return 0;
    char *d = kst_redis_dump_kpi(&w->s->redis);
    if (!d) return 0;
    if (!w->prev || strcmp(w->prev, d) != 0) {
        free(w->prev);
        w->prev = d;
        w->prev_ms = kst_now_ms();
        return 0;
    }
    free(d);
    return kst_now_ms() - w->prev_ms >= SETTLE_MS;
}

/* Waits until both members have stored the end of every partition, then
 * until the group has settled on the baseline's totals (a failure, not an
 * abort, if it does not: the comparison still shows what differs), and
 * compares Redis with the baseline while both still run. */
static void wait_settled_and_compare(scen *s, const char *want, long long want_processed,
                                     long long want_clock)
{
    end_wait e = {.s = s};
    int rc = kst_wait_until(stored_to_end_cond, &e, RUN_TIMEOUT_MS);
    cr_assert(e.members_up, "%s: a member exited before the end (status A: %d, B: %d)", s->name,
              s->m[0].status, s->m[1].status);
    cr_assert_eq(rc, 0, "%s: the group did not store the end of every partition within %d ms",
                 s->name, RUN_TIMEOUT_MS);
    fprintf(stderr, "%s: %lld ms: every partition's end is stored in Redis\n", s->name, at(s));

    settle_wait w = {.s = s, .want_processed = want_processed, .want_clock = want_clock};
    rc = kst_wait_until(settled_cond, &w, SETTLE_TIMEOUT_MS);
    cr_assert(w.members_up, "%s: a member exited while settling (status A: %d, B: %d)", s->name,
              s->m[0].status, s->m[1].status);
    if (rc == 0) {
        fprintf(stderr, "%s: %lld ms: settled (kpi:meta as the baseline's, unchanged for %d ms)\n",
                s->name, at(s), SETTLE_MS);
    } else if (w.processed != want_processed || w.clock != want_clock) {
        show_logs(s, 12);
        cr_expect_fail("%s: kpi:meta never showed the whole group within %d ms after every "
                       "partition's end was stored: events_processed %lld (baseline %lld), "
                       "clock_ms %lld (baseline %lld)",
                       s->name, SETTLE_TIMEOUT_MS, w.processed, want_processed, w.clock,
                       want_clock);
    } else {
        show_logs(s, 12);
        cr_expect_fail("%s: Redis never stayed unchanged for %d ms within %d ms", s->name,
                       SETTLE_MS, SETTLE_TIMEOUT_MS);
    }
    free(w.prev);
    char *got = dump(s);
    char what[128];
    snprintf(what, sizeof what, "%s, members running", s->name);
    expect_same_dump(s, want, got, what);
    free(got);
}

/* SIGTERM to every member still running, then each must exit 0 (a graceful
 * stop flushes and commits), the group must have committed every partition's
 * end, and Redis, with no writer left, must still be the baseline's. */
static void stop_all_and_compare(scen *s, const char *want)
{
    for (int i = 0; i < 2; i++)
        if (s->live & (1u << i)) kst_proc_kill(&s->m[i], SIGTERM);
    for (int i = 0; i < 2; i++) {
        if (!(s->live & (1u << i))) continue;
        int status = -1;
        cr_assert_eq(kst_proc_wait(&s->m[i], 30000, &status), 0,
                     "%s: member %c did not exit on SIGTERM: %s", s->name, 'A' + i,
                     kst_last_error());
        cr_expect_eq(status, 0, "%s: member %c exited with %d on SIGTERM", s->name, 'A' + i,
                     status);
    }
    fprintf(stderr, "%s: %lld ms: members stopped\n", s->name, at(s));
    cr_expect_eq(kst_kafka_committed_to_end(&s->kafka, GROUP, TOPIC, PARTS), 1, "%s: %s", s->name,
                 kst_last_error());
    char *got = dump(s);
    char what[128];
    snprintf(what, sizeof what, "%s, after every member stopped", s->name);
    expect_same_dump(s, want, got, what);
    free(got);
}

/* Starts the straight run of one process (the reference). Its cluster gets
 * the same partitions and offsets as the scenario's, in bigger message sets:
 * it is not paced, and how messages are batched must not matter. */
static void baseline_start(void)
{
    scen *b = &g.s[0];
    scen_start(b, "baseline", BASE_SET_SIZE);
    spawn_member(b, 0, true);
}

/* Waits for the straight run to finish (while the caller prepared the
 * scenario: the run spends most of its time joining the group). Returns its
 * dump, and its count and clock. */
static char *baseline_end(long long *processed, long long *clock)
{
    scen *b = &g.s[0];
    int status = -1;
    cr_assert_eq(kst_proc_wait(&b->m[0], RUN_TIMEOUT_MS, &status), 0,
                 "baseline did not exit by itself (--exit-on-eof): %s", kst_last_error());
    cr_assert_eq(status, 0, "baseline exited with status %d", status);
    fprintf(stderr, "baseline: exited 0 after %lld ms\n", at(b));
    cr_assert_eq(kst_kafka_committed_to_end(&b->kafka, GROUP, TOPIC, PARTS), 1, "%s",
                 kst_last_error());
    *processed = meta_ll(b, "events_processed");
    *clock = meta_ll(b, "clock_ms");
    cr_assert_gt(*processed, g.st.lines / 2, "baseline processed %lld of %ld", *processed,
                 g.st.lines);
    cr_assert_gt(*clock, 0);
    cr_assert_eq(meta_ll(b, "events_rejected"), g.st.bad);
    cr_assert_eq(meta_ll(b, "events_processed") + meta_ll(b, "events_rejected") +
                     meta_ll(b, "duplicates"),
                 g.st.lines, "every message is counted once");
    cr_assert_eq(count_dlq(b), g.st.bad, "one dead letter per rejected event");
    char *want = dump(b);
    scen_stop(b);
    return want;
}

TestSuite(scaleout, .init = setup, .fini = teardown, .timeout = 240);

/* Two members started together share the partitions and run to the end. */
Test(scaleout, two_members_run_to_the_end)
{
    make_stream();
    baseline_start();
    scen *s = &g.s[1];
    scen_start(s, "two members", SET_SIZE);
    long long total = 0, clock = 0;
    char *want = baseline_end(&total, &clock);

    /* Slow enough that both process at the same time for a while, and that
     * their flushes interleave. */
    throttle(s, 5);
    spawn_member(s, 0, false);
    spawn_member(s, 1, false);
    wait_settled_and_compare(s, want, total, clock);

    /* Both owned partitions, between them all of them, and both read some
     * from their start (neither merely restored what the other wrote). */
    unsigned fresh[2], own[2];
    for (int i = 0; i < 2; i++) {
        own[i] = owned(&s->m[i], &fresh[i], NULL);
        fprintf(stderr, "two members: member %c owns 0x%02x, read 0x%02x from their start\n",
                'A' + i, own[i], fresh[i]);
        cr_expect_neq(own[i], 0u, "member %c owns no partition", 'A' + i);
        cr_expect_neq(fresh[i], 0u, "member %c read no partition from its start", 'A' + i);
    }
    cr_expect_eq(own[0] & own[1], 0u, "both members own partitions 0x%02x", own[0] & own[1]);
    cr_expect_eq(own[0] | own[1], ALL_PARTS, "partitions 0x%02x have no owner",
                 ALL_PARTS & ~(own[0] | own[1]));

    stop_all_and_compare(s, want);
    cr_expect_eq(count_dlq(s), g.st.bad, "one dead letter per rejected event");
    free(want);
    g.finished = true;
}

typedef struct progress_wait {
    scen *s;
    long long min_sum; /* stored offsets, summed over the partitions */
    long long sum;     /* last seen */
    bool b_moved;
} progress_wait;

/* Redis holds min_sum messages' worth of offsets, and B has stored an offset
 * past its restore point on one of its partitions (it processed events of its
 * own: before its restore is done it writes nothing, and A stopped writing a
 * partition before B was given it). Or a member exited. */
static int progress_cond(void *ctx)
{
    progress_wait *w = ctx;
    int64_t off[PARTS], from[PARTS];
    unsigned b_own = owned(&w->s->m[1], NULL, from);
    w->sum = stored_offsets(w->s, off);
    w->b_moved = false;
    for (int p = 0; p < PARTS; p++)
        if (b_own & (1u << p) && off[p] > from[p]) w->b_moved = true;
    return (w->sum >= w->min_sum && w->b_moved) || !members_up(w->s);
}

/* A alone until ~1/4, then B joins; A is SIGKILLed at ~1/2; B takes A's
 * partitions over once A's session has timed out, and finishes. */
Test(scaleout, member_added_then_one_killed)
{
    make_stream();
    baseline_start();
    scen *s = &g.s[1];
    scen_start(s, "add and kill", SET_SIZE);
    long long total = 0, clock = 0;
    char *want = baseline_end(&total, &clock);

    throttle(s, 20);
    spawn_member(s, 0, false);
    cr_assert_eq(
        kst_redis_wait_ll_ge(&s->redis, "kpi:meta", "events_processed", total / 4, RUN_TIMEOUT_MS),
        0, "A alone never reached 1/4: %s", kst_last_error());
    int64_t off[PARTS];
    long long quarter = stored_offsets(s, off);
    fprintf(stderr, "add and kill: %lld ms: A alone stored %lld of %ld messages; B starts\n", at(s),
            quarter, g.st.lines);
    cr_assert_lt(quarter, g.st.lines / 2, "A was past 1/2 before B started");

    /* Nearly hold A while B joins (a rebalance or two, ~10 s at this pace),
     * so B gets its share well before 1/2. */
    throttle(s, 300);
    spawn_member(s, 1, false);
    wait_owns(s, 1, 0);
    /* B first replays its partitions up to where A left them, at the pace A
     * goes on with its own: A is still well before its end when B has caught
     * up and moves on. */
    throttle(s, 30);

    progress_wait pw = {.s = s, .min_sum = g.st.lines / 2};
    int rc = kst_wait_until(progress_cond, &pw, RUN_TIMEOUT_MS);
    cr_assert(members_up(s), "a member exited before the kill (A: %d, B: %d)", s->m[0].status,
              s->m[1].status);
    cr_assert_eq(rc, 0,
                 "no progress to 1/2 with B at work: %lld of %ld messages stored, B moved: %d",
                 pw.sum, g.st.lines, pw.b_moved);

    /* SIGKILL A mid-stream: some of its partitions must be unfinished, or
     * the takeover proves nothing. */
    unsigned a_own = owned(&s->m[0], NULL, NULL), b_own = owned(&s->m[1], NULL, NULL);
    cr_expect_eq(a_own & b_own, 0u, "A and B both own partitions 0x%02x", a_own & b_own);
    kst_proc_kill(&s->m[0], SIGKILL);
    int status = -1;
    cr_assert_eq(kst_proc_wait(&s->m[0], 10000, &status), 0, "%s", kst_last_error());
    cr_assert_eq(status, 128 + SIGKILL);
    s->live &= ~1u;
    long long sum = stored_offsets(s, off);
    unsigned a_left = 0;
    for (int p = 0; p < PARTS; p++)
        if (a_own & (1u << p) && off[p] < s->end[p]) a_left |= 1u << p;
    fprintf(stderr,
            "add and kill: %lld ms: A (partitions 0x%02x) killed; Redis had %lld of %ld "
            "messages; A's unfinished partitions 0x%02x\n",
            at(s), a_own, sum, g.st.lines, a_left);
    cr_assert_neq(a_own, 0u, "A owned nothing at the kill");
    cr_assert_neq(a_left, 0u, "A had finished its partitions before the kill");
    cr_assert_lt(sum, g.st.lines, "the kill landed after the end");

    /* Full speed for the rest: the takeover waits for A's session anyway. */
    throttle(s, 0);
    wait_owns(s, 1, ALL_PARTS);

    wait_settled_and_compare(s, want, total, clock);

    stop_all_and_compare(s, want);
    /* At least once: a dead letter sent before the kill whose flush did not
     * land is sent again by B. */
    cr_expect_geq(count_dlq(s), g.st.bad);
    free(want);
    g.finished = true;
}
