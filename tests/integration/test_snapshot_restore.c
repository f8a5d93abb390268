/* Restores from partition snapshots (issue 13), end to end: the real
 * kpistream binary with state_dir, a librdkafka mock cluster and a private
 * redis-server, on the stream of test_reliability.c (`kpistream gen`, 400
 * customers over 12 days, 1 % producer retries, dead letters).
 *
 * The reference is a straight run without snapshots. Each scenario must end
 * with Redis byte for byte as the reference (kst_redis_dump of kpi:*):
 *   - a run SIGKILLed once a snapshot is committed, then restarted: the
 *     restart loads the snapshots and replays only the messages after them;
 *     then a restart after the clean finish loads the final snapshots
 *     (nothing to replay) and changes nothing;
 *   - the same kill, but before the restart every partition's current
 *     snapshot gets a flipped byte and its previous one another format
 *     version: both are ignored with a warning naming why, and the restart
 *     replays from the first offset as without snapshots;
 *   - a rebalance: member A runs alone until a snapshot is committed, B joins
 *     with the same state_dir (a shared volume) and takes partitions over by
 *     loading their snapshots, both run to the end (each leaving hands its
 *     partitions to the other, through snapshots again).
 *
 * Pace and group membership as in test_reliability.c: 5 ms round trips to
 * the mock broker, 4 s sessions (a restart after a kill waits ~7 s for the
 * group), snapshots every second (the least snapshot_interval allows). */
#include "harness.h"
#include "state/snapshot.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC "ev"
#define DLQ "ev.dlq"
#define PARTS 4
#define GROUP "snapshots"
#define RUN_TIMEOUT_MS 90000

typedef struct world {
    char dir[256];   /* logs and state_dir */
    char state[300]; /* state_dir ("" : no snapshots) */
    kst_redis redis;
    kst_kafka kafka;
    kst_proc proc;
    int runs;
} world;

static struct {
    char dir[256];
    kst_stream st;
    world w[2];
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void world_stop(world *w)
{
    if (w->proc.pid && !w->proc.exited) kst_proc_stop(&w->proc, 5000);
    kst_redis_stop(&w->redis);
    kst_kafka_stop(&w->kafka);
    if (w->dir[0]) kst_rmtree(w->dir);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        for (int r = 1; !g.finished && r <= g.w[i].runs; r++) {
            char path[512];
            snprintf(path, sizeof path, "%s/run-%d.log", g.w[i].dir, r);
            kst_log_tail(path, r == g.w[i].runs ? 60 : 15);
        }
        world_stop(&g.w[i]);
    }
    if (g.dir[0]) kst_rmtree(g.dir);
}

static void make_stream(void)
{
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    static const char *const gen[] = {"--customers",    "400",  "--days", "12", "--seed", "11",
                                      "--dup-fraction", "0.01", NULL};
    cr_assert_eq(kst_stream_make(&g.st, g.dir, gen, 757), 0, "%s", kst_last_error());
}

static void world_start(world *w, bool snapshots)
{
    cr_assert_eq(kst_tmpdir(w->dir, sizeof w->dir), 0, "%s", kst_last_error());
    if (snapshots) snprintf(w->state, sizeof w->state, "%s/state", w->dir);
    cr_assert_eq(kst_redis_start(&w->redis), 0, "%s", kst_last_error());
    static const char *const tracked[] = {"web", "app", "email", NULL};
    cr_assert_eq(kst_redis_register_names(&w->redis, 'c', tracked), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&w->kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&w->kafka, TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&w->kafka, DLQ, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_produce_keyed(&w->kafka, TOPIC, g.st.path, 250), g.st.lines, "%s",
                 kst_last_error());
    cr_assert_eq(kst_kafka_flush(&w->kafka, 30000), 0, "%s", kst_last_error());
    if (snapshots) cr_assert_eq(kst_kafka_set_rtt(&w->kafka, 1, 5), 0, "%s", kst_last_error());
}

static void spawn_as(world *w, kst_proc *proc, const char *name)
{
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", w->dir, name);
    const char *argv[40] = {"run", "--brokers", w->kafka.bootstraps, "--topics", TOPIC,
                            "--group", GROUP, "--redis", kst_redis_url(&w->redis), "--clock",
                            "event", "--exit-on-eof", "--flush-interval-ms", "50",
                            "--batch-size", "100", "--kafka.session.timeout.ms", "4000",
                            "--kafka.heartbeat.interval.ms", "500",
                            "--kafka.queued.min.messages", "1000", "--max-channels", "3"};
    int n = 0;
    while (argv[n]) n++;
    if (w->state[0]) {
        argv[n++] = "--state-dir";
        argv[n++] = w->state;
        argv[n++] = "--snapshot-interval";
        argv[n++] = "1s";
    }
    argv[n] = NULL;
    cr_assert_eq(kst_kpistream_spawn(proc, log, argv, NULL), 0, "%s", kst_last_error());
}

static void spawn_run(world *w)
{
    char name[32];
    snprintf(name, sizeof name, "run-%d", ++w->runs);
    spawn_as(w, &w->proc, name);
}

static void wait_exit_0(world *w)
{
    int status = -1;
    cr_assert_eq(kst_proc_wait(&w->proc, RUN_TIMEOUT_MS, &status), 0, "run %d did not exit: %s",
                 w->runs, kst_last_error());
    cr_assert_eq(status, 0, "run %d exited with status %d", w->runs, status);
}

static char *dump(world *w)
{
    char *d = kst_redis_dump_kpi(&w->redis);
    cr_assert_not_null(d, "%s", kst_last_error());
    return d;
}

static void expect_same_dump(const char *want, const char *got, const char *what)
{
    if (kst_dump_compare(want, got, what, 60) != 0) cr_expect_fail("%s", kst_last_error());
}

/* Prints the log lines holding needle (for the report). */
static void print_lines(const world *w, const char *needle)
{
    char *text = kst_read_file(w->proc.log_path, NULL);
    for (const char *l = text; l && (l = strstr(l, needle)); l++) {
        const char *b = l;
        while (b > text && b[-1] != '\n') b--;
        fprintf(stderr, "run %d: %.*s\n", w->runs, (int)strcspn(b, "\n"), b);
        l = b + strcspn(b, "\n");
        if (!*l) break;
    }
    free(text);
}

/* The straight run without snapshots: the reference dump. */
static char *reference(void)
{
    world *r = &g.w[0];
    world_start(r, false);
    spawn_run(r);
    wait_exit_0(r);
    char *want = dump(r);
    world_stop(r);
    memset(r, 0, sizeof *r);
    return want;
}

/* Runs w until a snapshot is committed, then SIGKILLs it mid-stream. */
static void run_and_kill_after_snapshot(world *w)
{
    spawn_run(w);
    cr_assert_eq(kst_wait_log(w->proc.log_path, "snapshot: ", &w->proc, RUN_TIMEOUT_MS), 0,
                 "no snapshot committed: %s", kst_last_error());
    /* Some flushes after it, so the restart has a tail to replay. */
    long long at = kst_redis_field_ll(&w->redis, "kpi:meta", "events_processed", 0) + 400;
    cr_assert_eq(kst_redis_wait_ll_ge(&w->redis, "kpi:meta", "events_processed", at,
                                      RUN_TIMEOUT_MS), 0, "%s", kst_last_error());
    cr_assert(kst_proc_running(&w->proc), "the run finished before the kill (status %d)",
              w->proc.status);
    kst_proc_kill(&w->proc, SIGKILL);
    int status = -1;
    cr_assert_eq(kst_proc_wait(&w->proc, 10000, &status), 0, "%s", kst_last_error());
    cr_assert_eq(status, 128 + SIGKILL, "the run ended with %d before the kill landed", status);
    print_lines(w, "snapshot: ");
    long long stored = kst_redis_field_ll(&w->redis, "kpi:meta", "events_processed", -1);
    fprintf(stderr, "killed: Redis held %lld events\n", stored);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 300);

Test(snapshot, restart_from_snapshot_matches_straight_run)
{
    make_stream();
    char *want = reference();
    world *w = &g.w[1];
    world_start(w, true);
    run_and_kill_after_snapshot(w);

    /* The restart loads every partition's snapshot and replays the rest. */
    spawn_run(w);
    wait_exit_0(w);
    cr_assert(kst_file_contains(w->proc.log_path, "state loaded from snapshot"),
              "the restart did not load a snapshot");
    cr_expect(!kst_file_contains(w->proc.log_path, "ignored:"), "a snapshot was ignored");
    cr_expect(!kst_file_contains(w->proc.log_path, "restored: 0 messages"),
              "nothing was replayed after the snapshots: the kill proved little");
    print_lines(w, "state loaded from snapshot");
    print_lines(w, "state restored:");
    char *got = dump(w);
    expect_same_dump(want, got, "restart from snapshots after a SIGKILL");
    free(got);

    /* After a clean finish: the final snapshots are at the stored offsets. */
    spawn_run(w);
    wait_exit_0(w);
    cr_assert(kst_file_contains(w->proc.log_path, "state loaded from snapshot"),
              "the restart after a clean finish did not load a snapshot");
    got = dump(w);
    expect_same_dump(want, got, "restart from snapshots after a clean finish");
    free(got);
    free(want);
    g.finished = true;
}

/* Flips a byte in the middle of path. */
static void corrupt(const char *path)
{
    size_t len = 0;
    char *b = kst_read_file(path, &len);
    cr_assert(b && len > 100, "%s: %s", path, kst_last_error());
    b[len / 2] ^= 0x40;
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(b, 1, len, f) == len && fclose(f) == 0, "rewriting %s", path);
    free(b);
}

/* Writes src's bytes to dst as format version 99, checksums made valid. */
static void other_version(const char *src, const char *dst)
{
    size_t len = 0;
    char *b = kst_read_file(src, &len);
    cr_assert(b && len > KS_SNAP_HEADER, "%s: %s", src, kst_last_error());
    uint32_t v = 99;
    memcpy(b + 8, &v, 4);
    ks_snap_reseal((uint8_t *)b, len);
    FILE *f = fopen(dst, "wb");
    cr_assert(f && fwrite(b, 1, len, f) == len && fclose(f) == 0, "writing %s", dst);
    free(b);
}

Test(snapshot, corrupt_and_other_version_snapshots_fall_back_to_replay)
{
    make_stream();
    char *want = reference();
    world *w = &g.w[1];
    world_start(w, true);
    run_and_kill_after_snapshot(w);
    int n = 0;
    for (int p = 0; p < PARTS; p++) {
        char cur[600], prev[620];
        snprintf(cur, sizeof cur, "%s/kpi%%3A%s.%d.snap", w->state, TOPIC, p);
        snprintf(prev, sizeof prev, "%s.prev", cur);
        size_t len = 0;
        char *b = kst_read_file(cur, &len);
        if (!b) continue;
        free(b);
        other_version(cur, prev);
        corrupt(cur);
        n++;
    }
    cr_assert_eq(n, PARTS, "only %d partitions had a snapshot", n);
    spawn_run(w);
    wait_exit_0(w);
    print_lines(w, "ignored:");
    cr_assert(kst_file_contains(w->proc.log_path, "body checksum mismatch"),
              "the corrupt snapshot was not reported");
    cr_assert(kst_file_contains(w->proc.log_path, "format version 99"),
              "the snapshot of another version was not reported");
    cr_assert(kst_file_contains(w->proc.log_path, "replaying offsets 0.."),
              "the restart did not replay from the first offset");
    cr_assert(!kst_file_contains(w->proc.log_path, "state loaded from snapshot"));
    char *got = dump(w);
    expect_same_dump(want, got, "restart with unusable snapshots");
    free(got);
    free(want);
    g.finished = true;
}

static kst_proc member_b;

Test(snapshot, rebalance_hands_partitions_over_through_snapshots)
{
    make_stream();
    char *want = reference();
    world *w = &g.w[1];
    world_start(w, true);
    cr_assert_eq(kst_kafka_set_rtt(&w->kafka, 1, 20), 0, "%s", kst_last_error());
    spawn_run(w); /* A */
    cr_assert_eq(kst_wait_log(w->proc.log_path, "snapshot: ", &w->proc, RUN_TIMEOUT_MS), 0,
                 "A committed no snapshot: %s", kst_last_error());
    cr_assert(kst_proc_running(&w->proc), "A finished before B joined");
    memset(&member_b, 0, sizeof member_b);
    spawn_as(w, &member_b, "member-B");
    int status = -1;
    cr_assert_eq(kst_proc_wait(&member_b, RUN_TIMEOUT_MS, &status), 0, "B: %s", kst_last_error());
    cr_expect_eq(status, 0, "B exited %d", status);
    wait_exit_0(w);
    char *text = kst_read_file(member_b.log_path, NULL);
    cr_assert(text && strstr(text, "state loaded from snapshot"),
              "B took no partition over from a snapshot");
    free(text);
    world tmp = *w;
    tmp.proc = member_b;
    print_lines(&tmp, "state loaded from snapshot");
    print_lines(w, "revoked");
    char *got = dump(w);
    expect_same_dump(want, got, "two members, partitions handed over through snapshots");
    free(got);
    free(want);
    g.finished = true;
}
