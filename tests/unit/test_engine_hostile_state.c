/* Regression tests for what fuzz_flush_reply found in the engine's reading of
 * the group state (<prefix>agg:state) back from Redis (tests/fuzz/README.md,
 * "Findings"), fixed in src/engine/flush.c and src/kpi/kpi.c. The inputs are the
 * fuzzer's, in tests/fuzz/findings/; the engine is fed as fuzz_flush_reply
 * feeds it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"

#define T0 1794996000000LL
#define WALL (T0 + 400LL * 86400000LL)

/* The events fuzz_flush_reply feeds (the same, so its inputs reach the same code). */
static const char *const events[] = {
    "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1794996000000,"
    "\"segment\":\"smb\",\"channel\":\"web\"}",
    "{\"event_id\":\"e2\",\"type\":\"purchase\",\"customer_id\":\"c1\",\"ts\":1794996060000,"
    "\"order_id\":\"o1\",\"amount\":12.5,\"product\":\"p1\"}",
    "{\"event_id\":\"e3\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996120000,"
    "\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true,\"category\":\"billing\"}",
    "{\"event_id\":\"e4\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996180000,"
    "\"ticket_id\":\"t1\",\"action\":\"responded\"}",
    "{\"event_id\":\"e5\",\"type\":\"survey\",\"customer_id\":\"c1\",\"ts\":1794996240000,"
    "\"kind\":\"nps\",\"score\":3}",
    "{\"event_id\":\"e6\",\"type\":\"marketing_spend\",\"ts\":1794996300000,\"amount\":100}",
    "{\"event_id\":\"e7\",\"type\":\"subscription\",\"customer_id\":\"c3\",\"ts\":1794996360000,"
    "\"action\":\"cancel\"}",
};

/* Builds two flushes of a fresh engine from the group state in
 * tests/fuzz/findings/<name> (one string per line). Returns the result of
 * the last build. */
static int build_from(const char *name)
{
    char path[1024];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(path, sizeof path, "%.*s/../fuzz/findings/%s", (int)(slash - __FILE__), __FILE__,
             name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    const char *strs[512];
    size_t lens[512], n = 0;
    for (char *p = text; n < 512;) {
        char *nl = strchr(p, '\n');
        strs[n] = p;
        lens[n++] = nl ? (size_t)(nl - p) : strlen(p);
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    ks_config cfg;
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    char err[KS_ERRSTR_SIZE];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    ks_engine_set_member(e, "t");
    cr_assert_eq(ks_engine_assign(e, "t", 0), 0);
    ks_engine_set_restore_point(e, "t", 0, -1, "", INT64_MIN);
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        ks_reject why;
        ks_engine_process(e, "t", 0, (int64_t)i, events[i], strlen(events[i]), WALL, &why);
    }
    ks_engine_set_eof(e, "t", 0, true);
    ks_batch b;
    ks_batch_init(&b);
    int rc = 0;
    for (int round = 0; round < 2 && rc == 0; round++) {
        ks_engine_tick(e, WALL);
        ks_engine_flush_read(e, &b);
        rc = ks_engine_build_flush(e, strs, lens, n, &b, WALL, err, sizeof err);
        /* However hostile the state, a flush stays a bounded transaction. */
        cr_assert_lt(b.ncmds, 100000, "a flush of %zu commands", b.ncmds);
        if (rc == 0)
            ks_engine_flush_done(e);
    }
    ks_batch_reset(&b);
    ks_engine_free(e);
    ks_config_free(&cfg);
    return rc;
}

/* A group clock far behind the events plus an hmax: the flush deleted every
 * HLL bucket in between, one DEL per bucket (billions). */
Test(engine_hostile_state, old_group_clock_keeps_the_flush_bounded, .timeout = 20)
{
    int rc = build_from("flush_reply_hostile_clock.txt");
    cr_expect(rc == 0 || rc == KS_ERR_RANGE, "rc %d", rc);
    rc = build_from("flush_reply_timeout_1.txt");
    cr_expect(rc == 0 || rc == KS_ERR_RANGE, "rc %d", rc);
}

/* Extreme sums read back: flush.c computed base_end - base_delta, and the KPI
 * formulas (kpi.c) subtracted sums, in int64 without a check (UBSan: signed
 * overflow; build-asan aborts on it). */
Test(engine_hostile_state, extreme_sums_do_not_overflow, .timeout = 20)
{
    const char *inputs[] = {"flush_reply_ubsan_overflow_840.txt",
                            "flush_reply_ubsan_overflow_kpi38.txt",
                            "flush_reply_ubsan_overflow_kpi43.txt"};
    for (size_t i = 0; i < 3; i++) {
        int rc = build_from(inputs[i]);
        cr_expect(rc == 0 || rc == KS_ERR_RANGE, "%s: rc %d", inputs[i], rc);
    }
}

/* Extreme DDSketch bucket keys or counts in the group state's field names and
 * values overflowed the sketch's index arithmetic (ddsketch.c:190, span = hi
 * - lo + 1; ddsketch.c:218, base + cap); flush.c now leaves keys beyond
 * +-1e6 and counts beyond 2^48 out of the KPIs. */
Test(engine_hostile_state, extreme_sketch_buckets_do_not_overflow, .timeout = 20)
{
    const char *inputs[] = {"flush_reply_ubsan_overflow_ddsketch190.txt",
                            "flush_reply_ubsan_overflow_ddsketch218.txt"};
    for (size_t i = 0; i < 2; i++) {
        int rc = build_from(inputs[i]);
        cr_expect(rc == 0 || rc == KS_ERR_RANGE, "%s: rc %d", inputs[i], rc);
    }
}
