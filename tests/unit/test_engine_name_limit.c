/* The limit on distinct names per customer (src/state/names.c): an event that
 * would give one customer more than max_names_per_customer live `segment` or
 * `channel` names is rejected as too_many_names:<field>, other customers are
 * not affected, and the decisions depend only on the customer's events: the
 * same stream gives the same verdicts whatever the clock does between events,
 * and after a restore from a snapshot. */
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/event.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY 86400000LL
#define WALL (T0 + 80 * DAY)

static ks_config cfg;

static void setup(void)
{
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    cr_assert_eq(cfg.max_names_per_customer, 16, "the documented default");
}

static void teardown(void)
{
    ks_config_free(&cfg);
}

TestSuite(name_limit, .init = setup, .fini = teardown);

static ks_engine *engine(void)
{
    char err[256];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    cr_assert_eq(ks_engine_assign(e, "ev", 0), 0);
    return e;
}

/* Feeds one interaction; returns the verdict and the reason text in reason. */
static ks_verdict feed(ks_engine *e, int64_t off, const char *id, const char *cust, int64_t ts,
                       const char *field, const char *name, char *reason)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "{\"event_id\":\"%s\",\"type\":\"interaction\",\"customer_id\":\"%s\","
                     "\"ts\":%lld,\"%s\":\"%s\"}",
                     id, cust, (long long)ts, field, name);
    ks_reject why;
    memset(&why, 0, sizeof why);
    ks_verdict v = ks_engine_process(e, "ev", 0, off, msg, (size_t)n, WALL, &why);
    if (reason)
        ks_reject_format(&why, reason, 64);
    return v;
}

static void limit_for(const char *field)
{
    ks_engine *e = engine();
    char id[32], name[32], reason[64];
    int64_t off = 0;
    /* 16 names for "bad", each followed by an event of "good" on the same names. */
    for (int i = 0; i < 16; i++) {
        snprintf(id, sizeof id, "b%d", i);
        snprintf(name, sizeof name, "n%d", i);
        cr_assert_eq(feed(e, off++, id, "bad", T0 + i * 60000, field, name, reason), KS_ACCEPTED,
                     "name %d of 16: %s", i + 1, reason);
        snprintf(id, sizeof id, "g%d", i);
        cr_assert_eq(feed(e, off++, id, "good", T0 + i * 60000, field, "web", NULL), KS_ACCEPTED);
    }
    /* The 17th is one too many; the reason names the field only. */
    cr_assert_eq(feed(e, off++, "b16", "bad", T0 + 16 * 60000, field, "n16", reason), KS_REJECTED);
    char want[64];
    snprintf(want, sizeof want, "too_many_names:%s", field);
    cr_expect_str_eq(reason, want);
    /* A retry of it is judged again, not taken for a duplicate. */
    cr_expect_eq(feed(e, off++, "b16", "bad", T0 + 16 * 60000, field, "n16", NULL), KS_REJECTED);
    /* The customer's own names still work; other customers are untouched. */
    cr_expect_eq(feed(e, off++, "b17", "bad", T0 + 17 * 60000, field, "n3", NULL), KS_ACCEPTED);
    cr_expect_eq(feed(e, off++, "g16", "good", T0 + 17 * 60000, field, "n16", NULL), KS_ACCEPTED);
    cr_expect_eq(feed(e, off++, "x0", "other", T0 + 17 * 60000, field, "n16", NULL), KS_ACCEPTED);
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    cr_expect_eq(st.rejected, 2);
    cr_expect_eq(st.processed, 16 * 2 + 3);
    cr_expect_eq(st.duplicates, 0);
    ks_engine_free(e);
}

Test(name_limit, seventeenth_channel_is_rejected)
{
    limit_for("channel");
}

Test(name_limit, seventeenth_segment_is_rejected)
{
    limit_for("segment");
}

/* A stream that exercises every rule: the limit (4 here), names going out
 * of the largest window (30 d) and coming back, late events judged as of
 * their own time, duplicates, and a customer who only ever uses one name. */
#define NEV 80
static struct {
    char id[16], cust[8], name[8];
    int64_t ts;
} evs[NEV];

static void stream(void)
{
    for (int i = 0; i < NEV; i++) {
        int phase = i / 20; /* 0: days 0-1, 1: day 40, 2: late (day 20), 3: day 45 */
        int64_t base = phase == 0 ? T0 : phase == 1 ? T0 + 40 * DAY : phase == 2 ? T0 + 20 * DAY
                                                                               : T0 + 45 * DAY;
        snprintf(evs[i].id, sizeof evs[i].id, "e%d", i % 7 == 6 ? i - 1 : i); /* some repeats */
        snprintf(evs[i].cust, sizeof evs[i].cust, "c%d", i % 3);
        snprintf(evs[i].name, sizeof evs[i].name, "n%d", i % 3 == 2 ? 0 : (i * 7 + phase) % 9);
        evs[i].ts = base + (int64_t)(i % 20) * 3600000;
    }
}

/* Verdicts of the stream from offset from on (tick_each: the clock moves
 * after every event, else only at the end). */
static void run(ks_engine *e, int from, bool tick_each, ks_verdict *out)
{
    for (int i = from; i < NEV; i++) {
        char msg[512];
        int n = snprintf(msg, sizeof msg,
                         "{\"event_id\":\"%s\",\"type\":\"interaction\",\"customer_id\":\"%s\","
                         "\"ts\":%lld,\"channel\":\"%s\"}",
                         evs[i].id, evs[i].cust, (long long)evs[i].ts, evs[i].name);
        ks_reject why;
        out[i] = ks_engine_process(e, "ev", 0, i, msg, (size_t)n, WALL, &why);
        if (tick_each) {
            ks_engine_tick(e, WALL);
            ks_engine_customer c;
            ks_engine_customer_get(e, evs[i].cust, (uint32_t)strlen(evs[i].cust), &c);
        }
    }
}

Test(name_limit, same_stream_same_verdicts)
{
    cfg.max_names_per_customer = 4;
    stream();
    ks_verdict a[NEV], b[NEV];
    ks_engine *e = engine();
    run(e, 0, false, a);
    ks_engine_free(e);
    e = engine();
    run(e, 0, true, b);
    ks_engine_free(e);
    int rejected = 0, accepted_late_new = 0;
    for (int i = 0; i < NEV; i++) {
        cr_expect_eq(a[i], b[i], "event %d: %d without ticks, %d with", i, a[i], b[i]);
        rejected += a[i] == KS_REJECTED;
        accepted_late_new += i >= 20 && i < 40 && a[i] == KS_ACCEPTED;
    }
    cr_expect_gt(rejected, 0, "the stream reaches the limit");
    cr_expect_gt(accepted_late_new, 0, "names out of the window make room");
    for (int i = 0; i < NEV; i++)
        if (i % 3 == 2 && i % 7 != 6)
            cr_expect_eq(a[i], KS_ACCEPTED, "one name only: never refused (event %d)", i);

    /* A restore from a snapshot taken halfway reaches the same decisions. */
    char path[] = "/tmp/ks-names-XXXXXX";
    e = engine();
    ks_verdict half[NEV];
    for (int i = 0; i < NEV; i++)
        half[i] = KS_ACCEPTED;
    /* first half */
    {
        int saved = 50;
        for (int i = 0; i < saved; i++) {
            char msg[512];
            int n = snprintf(msg, sizeof msg,
                             "{\"event_id\":\"%s\",\"type\":\"interaction\",\"customer_id\":\"%s\","
                             "\"ts\":%lld,\"channel\":\"%s\"}",
                             evs[i].id, evs[i].cust, (long long)evs[i].ts, evs[i].name);
            ks_reject why;
            half[i] = ks_engine_process(e, "ev", 0, i, msg, (size_t)n, WALL, &why);
        }
        ks_engine_set_eof(e, "ev", 0, true);
        ks_engine_tick(e, WALL);
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        char err[256];
        cr_assert_eq(ks_engine_snapshot_write(e, 0, fd, WALL, err, sizeof err), 0, "%s", err);
        size_t len = (size_t)lseek(fd, 0, SEEK_END);
        uint8_t *snap = malloc(len);
        cr_assert_eq(pread(fd, snap, len, 0), (ssize_t)len);
        close(fd);
        unlink(path);
        ks_engine_free(e);
        /* The restore point Redis would hold: the snapshot's own offset and
         * clock (read by a first load). */
        ks_engine_snapshot_info info;
        char why[300] = "";
        e = engine();
        ks_engine_set_restore_point(e, "ev", 0, saved, "tok", INT64_MAX);
        cr_assert_eq(ks_engine_snapshot_load(e, "ev", 0, snap, len, &info, why, sizeof why), 0,
                     "%s", why);
        ks_engine_free(e);
        e = engine();
        ks_engine_set_restore_point(e, "ev", 0, saved, "tok", info.clock_ms);
        cr_assert_eq(ks_engine_snapshot_load(e, "ev", 0, snap, len, &info, why, sizeof why), 0,
                     "%s", why);
        free(snap);
        cr_assert_eq(info.offset, saved);
        run(e, saved, false, half);
        ks_engine_free(e);
    }
    for (int i = 0; i < NEV; i++)
        cr_expect_eq(half[i], a[i], "event %d after a restore: %d, straight: %d", i, half[i], a[i]);
}
