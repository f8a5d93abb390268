/* Bucket series: window membership, expiry, future buckets, growth. */
#include "kpistream/window.h"

#include <criterion/criterion.h>

static int64_t sum_window(const ks_series *s, int64_t clock_s)
{
    ks_bucket b = {{0}};
    ks_series_sum_window(s, clock_s, &b);
    return b.v[KS_C_EVENTS];
}

Test(series, window_covers_last_60_buckets)
{
    ks_series s;
    cr_assert_eq(ks_series_init(&s, 60), 0); /* 1h window, 1-minute buckets */
    int64_t t0 = 1800000000;                  /* aligned to a minute */
    ks_series_at(&s, t0)->v[KS_C_EVENTS] += 1;
    ks_series_at(&s, t0 + 59 * 60)->v[KS_C_EVENTS] += 10;
    ks_series_advance(&s, t0 + 59 * 60);
    cr_assert_eq(sum_window(&s, t0 + 59 * 60), 11);
    /* One bucket later the first event leaves the window. */
    ks_series_advance(&s, t0 + 60 * 60);
    cr_assert_eq(sum_window(&s, t0 + 60 * 60), 10);
    /* An event behind the window is refused. */
    cr_assert_null(ks_series_at(&s, t0));
    ks_series_reset(&s);
}

Test(series, future_buckets_wait_for_the_clock)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    ks_series_advance(&s, t0);
    /* Five hours ahead: beyond the initial ring, so it must grow. */
    ks_series_at(&s, t0 + 5 * 3600)->v[KS_C_EVENTS] += 3;
    ks_series_at(&s, t0)->v[KS_C_EVENTS] += 1;
    cr_assert_eq(sum_window(&s, t0), 1);
    ks_bucket f = {{0}};
    ks_series_sum_future(&s, t0, &f);
    cr_assert_eq(f.v[KS_C_EVENTS], 3);
    ks_series_advance(&s, t0 + 5 * 3600);
    cr_assert_eq(sum_window(&s, t0 + 5 * 3600), 3);
    ks_series_reset(&s);
}

Test(series, clock_never_moves_back)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    ks_series_at(&s, t0)->v[KS_C_EVENTS] += 2;
    ks_series_advance(&s, t0 + 7200);
    ks_series_advance(&s, t0); /* ignored */
    cr_assert_eq(sum_window(&s, t0), 0, "the bucket expired when the clock passed it");
    ks_series_reset(&s);
}

Test(series, earlier_event_before_any_clock_is_kept)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    ks_series_at(&s, t0)->v[KS_C_EVENTS] += 1;
    /* Out of order, 3 hours earlier, while no clock has been set yet. */
    ks_bucket *b = ks_series_at(&s, t0 - 3 * 3600);
    cr_assert_not_null(b);
    b->v[KS_C_EVENTS] += 4;
    cr_assert_eq(sum_window(&s, t0 - 3 * 3600), 4);
    cr_assert_eq(sum_window(&s, t0), 1);
    ks_series_reset(&s);
}

Test(series, reused_buckets_start_empty)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    /* Fill every counter of ten buckets, let them all expire (they become
     * spares), then create ten new ones: each must start at zero. */
    for (int i = 0; i < 10; i++) {
        ks_bucket *b = ks_series_at(&s, t0 + i * 60);
        for (int k = 0; k < KS_C__COUNT; k++)
            b->v[k] = 1000 + k;
    }
    int64_t t1 = t0 + 10 * 3600;
    ks_series_advance(&s, t1);
    cr_assert_eq(s.n, 0);
    for (int i = 0; i < 10; i++) {
        ks_bucket *b = ks_series_at(&s, t1 + i * 60);
        cr_assert_not_null(b);
        for (int k = 0; k < KS_C__COUNT; k++)
            cr_assert_eq(b->v[k], 0, "bucket %d counter %d", i, k);
        b->v[KS_C_EVENTS] = 1;
    }
    cr_assert_eq(sum_window(&s, t1 + 9 * 60), 10);
    cr_assert(ks_series_memory(&s) > 0);
    ks_series_reset(&s);
}
