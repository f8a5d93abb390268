/* Partition snapshots at the engine's level (src/engine/engine_snap.c): what
 * ties a snapshot to the outputs in Redis. A snapshot is loaded only for its
 * own prefix, group, partition and counting settings, and only at or before
 * the restore point Redis holds (offset and clock); anything else is refused
 * with the reason, and the partition stays as it was (replayed from its
 * start). A loaded one sets where reading starts and how much is left. */
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define WALL (T0 + 40 * 86400000LL)

static ks_config cfg;
static char path[] = "/tmp/ks-esnap-XXXXXX";
static uint8_t *snap;
static size_t snaplen;
static int64_t snap_offset;

static ks_engine *engine(const ks_config *c)
{
    char err[256];
    ks_engine *e = ks_engine_new(c, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    cr_assert_eq(ks_engine_assign(e, "ev", 0), 0);
    cr_assert_eq(ks_engine_assign(e, "ev", 1), 0);
    return e;
}

/* A partition of 300 events (customers, purchases, a product, a ticket
 * response: sketches too), snapshotted to a file and read back. */
static void setup(void)
{
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    ks_engine *e = engine(&cfg);
    char msg[512];
    ks_reject why;
    for (int i = 0; i < 300; i++) {
        int64_t ts = T0 + (int64_t)i * 600000;
        int n = i % 3 == 0
                    ? snprintf(msg, sizeof msg,
                               "{\"event_id\":\"e%d\",\"type\":\"purchase\",\"customer_id\":\"c%d\","
                               "\"ts\":%lld,\"order_id\":\"o%d\",\"amount\":%d.5,\"product\":\"p%d\","
                               "\"segment\":\"smb\",\"channel\":\"web\"}",
                               i, i % 40, (long long)ts, i, i % 17 + 1, i % 5)
                : i % 3 == 1
                    ? snprintf(msg, sizeof msg,
                               "{\"event_id\":\"e%d\",\"type\":\"ticket\",\"customer_id\":\"c%d\","
                               "\"ts\":%lld,\"ticket_id\":\"t%d\",\"action\":\"%s\"}",
                               i, i % 40, (long long)ts, i / 6, i % 2 ? "opened" : "responded")
                    : snprintf(msg, sizeof msg,
                               "{\"event_id\":\"e%d\",\"type\":\"interaction\",\"customer_id\":"
                               "\"c%d\",\"ts\":%lld,\"channel\":\"app\"}",
                               i, i % 40, (long long)ts);
        cr_assert_eq(ks_engine_process(e, "ev", 0, i, msg, (size_t)n, WALL, &why), KS_ACCEPTED,
                     "%s", msg);
    }
    ks_engine_set_eof(e, "ev", 0, true);
    ks_engine_set_eof(e, "ev", 1, true); /* so the watermark is partition 0's time */
    ks_engine_tick(e, WALL);
    ks_engine_customer c;
    ks_engine_customer_get(e, "c1", 2, &c); /* brings the partitions to the clock, as a flush does */
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    char err[256];
    cr_assert_eq(ks_engine_snapshot_write(e, 0, fd, WALL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(ks_engine_snapshot_write(e, 1, fd, WALL, err, sizeof err), KS_ERR_STATE,
                 "a partition that read nothing has no snapshot");
    snaplen = (size_t)lseek(fd, 0, SEEK_END);
    snap = malloc(snaplen);
    cr_assert_eq(pread(fd, snap, snaplen, 0), (ssize_t)snaplen);
    close(fd);
    unlink(path);
    snap_offset = 300;
    ks_engine_free(e);
}

static void teardown(void)
{
    free(snap);
    ks_config_free(&cfg);
}

TestSuite(engine_snapshot, .init = setup, .fini = teardown);

static int load(ks_engine *e, int32_t part, ks_engine_snapshot_info *info, char *why)
{
    return ks_engine_snapshot_load(e, "ev", part, snap, snaplen, info, why, 300);
}

Test(engine_snapshot, loads_at_or_before_the_restore_point)
{
    ks_engine *e = engine(&cfg);
    ks_engine_snapshot_info info;
    char why[300] = "";
    ks_engine_set_restore_point(e, "ev", 0, snap_offset + 25, "tok", INT64_MAX);
    cr_assert_eq(load(e, 0, &info, why), 0, "%s", why);
    cr_expect_eq(info.offset, snap_offset);
    cr_expect_eq(info.customers, 40);
    cr_expect_eq(info.written_ms, WALL);
    cr_expect_neq(info.clock_ms, INT64_MIN);
    cr_expect_eq(ks_engine_start_offset(e, "ev", 0), snap_offset, "read from the snapshot on");
    cr_expect_eq(ks_engine_start_offset(e, "ev", 1), -1, "the other partition from its start");
    cr_expect(ks_engine_restoring(e));
    cr_expect_eq(ks_engine_restore_remaining(e), 25);
    cr_expect(ks_engine_is_replay(e, "ev", 0, snap_offset + 24));
    cr_expect_not(ks_engine_is_replay(e, "ev", 0, snap_offset + 25));
    ks_engine_customer c;
    cr_expect(ks_engine_customer_get(e, "c7", 2, &c), "the customers are there");
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    cr_expect_eq(st.processed, 300);
    cr_expect_eq(st.customers, 40);
    ks_engine_free(e);

    /* Exactly at the restore point: nothing to replay. */
    e = engine(&cfg);
    ks_engine_set_restore_point(e, "ev", 0, snap_offset, "tok", info.clock_ms);
    cr_assert_eq(load(e, 0, &info, why), 0, "%s", why);
    cr_expect_eq(ks_engine_restore_remaining(e), 0);
    ks_engine_tick(e, WALL); /* settles the restore */
    cr_expect_not(ks_engine_restoring(e));
    ks_engine_free(e);
}

Test(engine_snapshot, refuses_what_does_not_fit_the_outputs)
{
    ks_engine_snapshot_info info;
    char why[300];
    ks_engine *e = engine(&cfg);
    cr_expect_eq(load(e, 0, &info, why), KS_ERR_PARSE);
    cr_expect(strstr(why, "no restore point"), "%s", why);
    ks_engine_set_restore_point(e, "ev", 0, snap_offset - 1, "tok", INT64_MAX);
    int rc = load(e, 0, &info, why);
    cr_expect_eq(rc, KS_ERR_PARSE, "%d %s", rc, why);
    cr_expect(strstr(why, "covers offsets below 300, Redis's outputs those below 299"), "%s", why);
    ks_engine_set_restore_point(e, "ev", 0, snap_offset, "tok", T0);
    cr_expect_eq(load(e, 0, &info, why), KS_ERR_PARSE);
    cr_expect(strstr(why, "clock"), "%s", why);
    ks_engine_set_restore_point(e, "ev", 1, snap_offset, "tok", INT64_MAX);
    cr_expect_eq(load(e, 1, &info, why), KS_ERR_PARSE);
    cr_expect(strstr(why, "a snapshot of ev[0]"), "%s", why);
    cr_expect_eq(ks_engine_snapshot_load(e, "nope", 0, snap, snaplen, &info, why, sizeof why),
                 KS_ERR_INVAL);
    cr_expect_eq(ks_engine_start_offset(e, "ev", 0), -1, "nothing was taken");
    ks_engine_free(e);

    /* Other counting settings, another prefix. */
    ks_config other;
    cr_assert_eq(ks_config_init_defaults(&other), 0);
    other.clock = KS_CLOCK_EVENT;
    other.dedup_horizon_ms = 40 * 86400000LL;
    e = engine(&other);
    ks_engine_set_restore_point(e, "ev", 0, snap_offset, "tok", INT64_MAX);
    cr_expect_eq(load(e, 0, &info, why), KS_ERR_PARSE);
    cr_expect(strstr(why, "counted with other settings: dedup_horizon_ms=2592000000 (now "
                          "dedup_horizon_ms=3456000000)"),
              "%s", why);
    ks_engine_free(e);
    other.dedup_horizon_ms = cfg.dedup_horizon_ms;
    free(other.prefix);
    other.prefix = strdup("other:");
    e = engine(&other);
    ks_engine_set_restore_point(e, "ev", 0, snap_offset, "tok", INT64_MAX);
    cr_expect_eq(load(e, 0, &info, why), KS_ERR_PARSE);
    cr_expect(strstr(why, "written for prefix 'kpi:'"), "%s", why);
    ks_engine_free(e);
    ks_config_free(&other);
}
