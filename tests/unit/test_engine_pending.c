/* What a partition has waiting for the next flush (ks_engine_pending),
 * which flush_max_pending bounds: a partition replaying to its restore
 * point has nothing (its outputs are in Redis already), and when its
 * replay ends it is left with only what is new, not with the day-boundary
 * notices its replay raised up to the stored clock (those were sent by the
 * run whose outputs were restored, and no flush would send them again).
 * The reading side (src/kafka/source.c) reads a replaying partition
 * whatever the others have pending; test_reliability.c checks the first
 * flush after a restore against the bound. */
#include "kpistream/config.h"
#include "kpistream/engine.h"

#include <criterion/criterion.h>
#include <stdio.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define WALL (T0 + 400 * DAY)

static ks_config cfg;
static ks_engine *e;

static void setup(void)
{
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    char err[256];
    e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    cr_assert_eq(ks_engine_assign(e, "ev", 0), 0);
    cr_assert_eq(ks_engine_assign(e, "ev", 1), 0);
}

static void teardown(void)
{
    ks_engine_free(e);
    ks_config_free(&cfg);
}

TestSuite(engine_pending, .init = setup, .fini = teardown);

/* Message offset of partition part: an interaction of customer c at ts. */
static void feed(int32_t part, int64_t offset, int c, int64_t ts)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "{\"event_id\":\"p%d-%lld\",\"type\":\"interaction\",\"customer_id\":\"c%d\","
                     "\"ts\":%lld,\"channel\":\"app\"}",
                     (int)part, (long long)offset, c, (long long)ts);
    ks_reject why;
    cr_assert_eq(ks_engine_process(e, "ev", part, offset, msg, (size_t)n, WALL, &why),
                 KS_ACCEPTED, "%s", msg);
    ks_engine_tick(e, WALL);
}

/* Partition 0 replays 40 days up to offset 400: 20 customers active for the
 * first 10 days, then only customer 0, so the others' win_back triggers
 * fire at the day boundaries 14 days after their last events (timed
 * notices, all before the stored clock). Partition 1 is live. */
Test(engine_pending, a_replay_leaves_nothing_pending_but_what_is_new)
{
    const int64_t until = 400, step = 40 * DAY / until;
    const int64_t stored_clock = T0 + (until - 1) * step;
    ks_engine_set_restore_point(e, "ev", 0, until, "tok", stored_clock);
    cr_assert(ks_engine_part_replaying(e, "ev", 0));
    cr_assert_not(ks_engine_part_replaying(e, "ev", 1));
    /* Live partition 1: three customers, a few hours in. */
    for (int i = 0; i < 3; i++)
        feed(1, i, 100 + i, T0 + i * HOUR);
    size_t live = ks_engine_part_pending(e, "ev", 1);
    cr_assert_geq(live, 3, "partition 1's customers wait for a flush");
    ks_engine_set_eof(e, "ev", 1, true); /* the clock follows partition 0 from here */
    for (int64_t off = 0; off < until; off++) {
        int64_t ts = T0 + off * step;
        feed(0, off, ts < T0 + 10 * DAY ? (int)(off % 20) : 0, ts);
        cr_assert(ks_engine_part_replaying(e, "ev", 0) == (off + 1 < until));
        cr_assert_eq(ks_engine_part_pending(e, "ev", 0), 0,
                     "a replaying partition has nothing pending (offset %lld)", (long long)off);
        cr_assert_eq(ks_engine_pending(e), ks_engine_part_pending(e, "ev", 1));
    }
    cr_assert_not(ks_engine_restoring(e));
    /* The first message after the restore point ends the replay: customer
     * 0's record is what is new. Without dropping the replay's timed
     * notices, the 19 win_back triggers (and more) would be pending too. */
    feed(0, until, 0, stored_clock + 1000); /* (no day boundary crossed) */
    size_t after = ks_engine_part_pending(e, "ev", 0);
    fprintf(stderr, "pending after the replay: %zu (partition 1: %zu)\n", after,
            ks_engine_part_pending(e, "ev", 1));
    cr_expect_geq(after, 1);
    cr_expect_leq(after, 2, "the replay's notices up to the stored clock are pending: %zu", after);
    cr_expect_eq(ks_engine_pending(e), after + ks_engine_part_pending(e, "ev", 1));
}
