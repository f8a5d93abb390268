/* The flusher's sketch and top-k counts (src/engine/flush.c): one count per
 * (item, window, bucket) in each partition's map. Weeks of purchases with no
 * flush between them, as in a catch-up: the map must not have kept every
 * count made on the way (those behind their window go when it rebuilds),
 * and the first flush must still give each window exactly the purchases of
 * its buckets at the clock (counted here from the events). The stream ends
 * just after a rebuild, so one that dropped a count still in its window
 * (the oldest bucket, say) shows in the flush. */
#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/window.h"

#include "engine/internal.h"

#include "xorshift.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define WALL (T0 + 400LL * 86400000LL)
#define N 15000         /* purchases, 113 s apart: about 19.6 days, */
#define NMAX 40000      /* then on until the map rebuilds */
#define PRODUCTS 25
#define MAXW 8

static ks_config cfg;
static ks_engine *e;

static void setup(void)
{
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cfg.clock = KS_CLOCK_EVENT;
    char err[KS_ERRSTR_SIZE];
    e = ks_engine_new(&cfg, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    cr_assert_eq(ks_engine_assign(e, "ev", 0), 0);
}

static void teardown(void)
{
    ks_engine_free(e);
    ks_config_free(&cfg);
}

TestSuite(engine_sketch_counts, .init = setup, .fini = teardown, .timeout = 60);

static int64_t fdiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The value of field `<window>|tp|p<k>` in the flush's HSET of agg:state (0
 * if it is not there). */
static int64_t state_field(const ks_batch *b, const char *field)
{
    char key[128];
    snprintf(key, sizeof key, "%sagg:state", cfg.prefix);
    const char *argv[8192];
    size_t al[8192];
    for (size_t c = 0; c < b->ncmds; c++) {
        size_t n = ks_batch_argc(b, c);
        if (n < 4 || n > 8192)
            continue;
        ks_batch_get(b, c, argv, al, n);
        if (al[0] != 4 || memcmp(argv[0], "HSET", 4) != 0 || al[1] != strlen(key) ||
            memcmp(argv[1], key, al[1]) != 0)
            continue;
        for (size_t a = 2; a + 1 < n; a += 2)
            if (al[a] == strlen(field) && memcmp(argv[a], field, al[a]) == 0)
                return strtoll(argv[a + 1], NULL, 10);
    }
    return 0;
}

Test(engine_sketch_counts, weeks_without_a_flush_count_each_window_and_keep_no_dead_counts)
{
    static int64_t ts[NMAX];
    static int prod[NMAX];
    uint64_t rng = 0xc0117;
    ks__part *p = ks_engine_part_ref(e, "ev", 0);
    cr_assert_not_null(p);
    size_t filled = 0;
    int total = 0;
    for (int i = 0; i < NMAX; i++) {
        ts[i] = T0 + (int64_t)i * 113000 + (int64_t)(kst_xorshift(&rng) % 1000);
        prod[i] = (int)(kst_xorshift(&rng) % PRODUCTS);
        char msg[320];
        int len = snprintf(msg, sizeof msg,
                           "{\"event_id\":\"e%d\",\"type\":\"purchase\",\"customer_id\":\"c%d\","
                           "\"ts\":%lld,\"order_id\":\"o%d\",\"amount\":%d.50,\"product\":\"p%d\"}",
                           i, i % 500, (long long)ts[i], i, 10 * (1 + (int)(kst_xorshift(&rng) % 8)),
                           prod[i]);
        ks_reject why;
        cr_assert_eq(ks_engine_process(e, "ev", 0, i, msg, (size_t)len, WALL, &why), KS_ACCEPTED,
                     "%s (%d)", msg, why.code);
        ks_engine_tick(e, WALL);
        total = i + 1;
        if (i >= N && p->fl.xs.filled < filled)
            break; /* it rebuilt (filled only falls then) */
        filled = p->fl.xs.filled;
    }
    ks_engine_set_eof(e, "ev", 0, true);
    ks_engine_tick(e, WALL);

    /* Every (product, window, bucket) a count was ever made for, and what
     * the map holds: without the rebuild predicate it holds all of them
     * (no flush deleted any). */
    cr_assert_leq(cfg.nwindows, MAXW);
    size_t made = 0;
    for (int w = 0; w < cfg.nwindows; w++) {
        int64_t width = cfg.windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
        int64_t last = INT64_MIN;
        static unsigned char seen[PRODUCTS];
        for (int i = 0; i < total; i++) {
            int64_t n = fdiv(ts[i] / 1000, width);
            if (n != last) {
                memset(seen, 0, sizeof seen);
                last = n;
            }
            made += !seen[prod[i]];
            seen[prod[i]] = 1;
        }
    }
    cr_assert_lt(p->fl.xs.used * 2, made,
                 "the map holds %zu counts, of %zu made for products alone: dead ones were kept",
                 p->fl.xs.used, made);
    cr_assert_lt(total, NMAX, "the map never rebuilt");

    ks_batch b;
    ks_batch_init(&b);
    ks_engine_flush_read(e, &b);
    char err[KS_ERRSTR_SIZE];
    cr_assert_eq(ks_engine_build_flush(e, NULL, NULL, 0, &b, WALL, err, sizeof err), 0, "%s",
                 err);
    /* The clock: every partition at its end, the highest event time. */
    int64_t clock_s = ts[total - 1] / 1000;
    int checked = 0;
    for (int w = 0; w < cfg.nwindows; w++) {
        int64_t width = cfg.windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
        int64_t nc = fdiv(clock_s, width);
        int64_t want[PRODUCTS] = {0};
        for (int i = 0; i < total; i++) {
            int64_t n = fdiv(ts[i] / 1000, width);
            if (n > nc - KS_WINDOW_BUCKETS && n <= nc)
                want[prod[i]]++;
        }
        for (int k = 0; k < PRODUCTS; k++) {
            char field[64];
            snprintf(field, sizeof field, "%s|tp|p%d", cfg.windows[w].name, k);
            cr_expect_eq(state_field(&b, field), want[k], "%s: %lld, counted %lld", field,
                         (long long)state_field(&b, field), (long long)want[k]);
            checked += want[k] > 0;
        }
    }
    cr_assert_gt(checked, PRODUCTS * 2, "too few windows with purchases to check");
    ks_batch_reset(&b);
}
