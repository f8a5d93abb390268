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

static int64_t distinct(const ks_series *s, int64_t clock_s, ks_counter k)
{
    ks_bucket b = {{0}};
    ks_series_sum_window(s, clock_s, &b);
    return b.v[k];
}

/* A last touch moves between buckets; the window counts each customer once,
 * in the bucket of its latest touch, whatever the order of moves. Checked
 * against a plain count of the customers whose last touch is in the window. */
Test(series, last_touch_moves_count_each_customer_once)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000, last[50] = {0};
    uint64_t x = 88172645463325252ull;
    int64_t clock = t0;
    for (int step = 0; step < 5000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: any order of customers */
        int c = (int)(x % 50);
        int64_t t = clock - (int64_t)(x >> 32) % 600; /* up to 10 minutes late */
        if (t <= last[c])
            continue;
        ks_series_move(&s, last[c], t, KS_C_D_ACTIVE);
        last[c] = t;
        if (step % 7 == 0) {
            clock += 13;
            ks_series_advance(&s, clock);
        }
        if (step % 97 == 0) {
            int64_t nc = clock / 60, want = 0;
            for (int i = 0; i < 50; i++)
                want += last[i] && last[i] / 60 > nc - 60 && last[i] / 60 <= nc;
            cr_assert_eq(distinct(&s, clock, KS_C_D_ACTIVE), want, "step %d", step);
        }
    }
    /* Only D_ACTIVE moved. */
    cr_expect_eq(distinct(&s, clock, KS_C_D_PURCHASING), 0);
    cr_expect_eq(distinct(&s, clock, KS_C_EVENTS), 0);
    ks_series_reset(&s);
}

Test(series, moves_behind_the_window_are_skipped)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    ks_series_move(&s, 0, t0, KS_C_D_PURCHASING);
    ks_series_advance(&s, t0 + 2 * 3600);
    /* The old touch's bucket is gone: only the +1 counts. */
    ks_series_move(&s, t0, t0 + 2 * 3600, KS_C_D_PURCHASING);
    cr_assert_eq(distinct(&s, t0 + 2 * 3600, KS_C_D_PURCHASING), 1);
    /* A move to behind the window takes back and adds nothing. */
    ks_series_move(&s, t0 + 2 * 3600, t0, KS_C_D_PURCHASING);
    cr_assert_eq(distinct(&s, t0 + 2 * 3600, KS_C_D_PURCHASING), 0);
    /* Moves inside one bucket change nothing; an event counter is not a
     * last-touch counter and is refused. */
    ks_series_move(&s, 0, t0 + 2 * 3600 + 1, KS_C_D_ACTIVE);
    ks_series_move(&s, t0 + 2 * 3600 + 1, t0 + 2 * 3600 + 30, KS_C_D_ACTIVE);
    ks_series_move(&s, 0, t0 + 2 * 3600, KS_C_EVENTS);
    cr_assert_eq(distinct(&s, t0 + 2 * 3600 + 30, KS_C_D_ACTIVE), 1);
    cr_assert_eq(distinct(&s, t0 + 2 * 3600 + 30, KS_C_EVENTS), 0);
    ks_series_reset(&s);
}

/* Series sharing a pool hand dropped buckets to each other (a bucket dropped
 * by one is the next one another creates, zeroed), and the pool stops taking
 * buckets back once it holds a quarter of the live ones plus 256. */
Test(series, a_pool_is_shared_zeroed_and_bounded)
{
    ks_bpool pool = {0};
    ks_series a, b;
    ks_series_init(&a, 60);
    ks_series_init(&b, 60);
    ks_series_set_pool(&a, &pool);
    ks_series_set_pool(&b, &pool);
    int64_t t0 = 1800000000;
    for (int i = 0; i < 600; i++)
        ks_series_at(&a, t0 + i * 60)->v[KS_C_EVENTS] = 7;
    cr_assert_eq(pool.live, 600);
    ks_series_advance(&a, t0 + 600 * 60 + 59 * 60); /* all 600 leave the window */
    cr_assert_eq(a.n, 0);
    cr_assert_eq(pool.live, 0);
    /* 600 dropped one by one: kept while nfree < live/4 + 256, then freed
     * (live falls as they go: 324 kept, 276 freed). */
    cr_assert_eq(pool.nfree, 324);
    cr_assert_geq(ks_bpool_memory(&pool), 324 * sizeof(ks_bucket));
    ks_bucket *first = pool.free[pool.nfree - 1];
    ks_bucket *got = ks_series_at(&b, t0);
    cr_assert_eq(got, first, "b reuses the bucket a dropped last");
    for (int k = 0; k < KS_C__COUNT; k++)
        cr_assert_eq(got->v[k], 0, "a reused bucket starts empty");
    cr_assert_eq(pool.nfree, 323);
    cr_assert_eq(pool.live, 1);
    cr_assert_eq(sum_window(&b, t0), 0);
    ks_series_reset(&b);
    cr_assert_eq(pool.live, 0);
    ks_series_reset(&a);
    ks_bpool_reset(&pool);
    cr_assert_eq(pool.nfree, 0);
    cr_assert_null(pool.free);
    cr_assert_eq(ks_bpool_memory(&pool), 0);
}
