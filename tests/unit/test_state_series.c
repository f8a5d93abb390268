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
    cr_assert_eq(ks_series_add(&s, t0, KS_C_EVENTS, 1), 0);
    cr_assert_eq(ks_series_add(&s, t0 + 59 * 60, KS_C_EVENTS, 10), 0);
    ks_series_advance(&s, t0 + 59 * 60);
    cr_assert_eq(sum_window(&s, t0 + 59 * 60), 11);
    /* One bucket later the first event leaves the window. */
    ks_series_advance(&s, t0 + 60 * 60);
    cr_assert_eq(sum_window(&s, t0 + 60 * 60), 10);
    /* An event behind the window is refused. */
    cr_assert_null(ks_series_entry(&s, t0));
    cr_assert_eq(ks_series_add(&s, t0, KS_C_EVENTS, 1), 1);
    cr_assert_eq(sum_window(&s, t0 + 60 * 60), 10);
    ks_series_reset(&s);
}

Test(series, future_buckets_wait_for_the_clock)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    ks_series_advance(&s, t0);
    /* Five hours ahead: beyond the initial ring, so it must grow. */
    cr_assert_eq(ks_series_add(&s, t0 + 5 * 3600, KS_C_EVENTS, 3), 0);
    cr_assert_eq(ks_series_add(&s, t0, KS_C_EVENTS, 1), 0);
    cr_assert_eq(sum_window(&s, t0), 1);
    cr_assert_eq(ks_series_future_count(&s, t0, KS_C_EVENTS), 3);
    ks_series_advance(&s, t0 + 5 * 3600);
    cr_assert_eq(sum_window(&s, t0 + 5 * 3600), 3);
    ks_series_reset(&s);
}

Test(series, clock_never_moves_back)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    cr_assert_eq(ks_series_add(&s, t0, KS_C_EVENTS, 2), 0);
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
    cr_assert_eq(ks_series_add(&s, t0, KS_C_EVENTS, 1), 0);
    /* Out of order, 3 hours earlier, while no clock has been set yet. */
    cr_assert_eq(ks_series_add(&s, t0 - 3 * 3600, KS_C_EVENTS, 4), 0);
    cr_assert_eq(sum_window(&s, t0 - 3 * 3600), 4);
    cr_assert_eq(sum_window(&s, t0), 1);
    ks_series_reset(&s);
}

/* Sets every counter but the last-touch ones of the bucket of t to base + k
 * (a bucket of its own: more than an entry holds in place). */
static void fill(ks_series *s, int64_t t, int64_t base)
{
    for (int k = 0; k < KS_DISTINCT_FIRST; k++)
        cr_assert_eq(ks_series_add(s, t, (ks_counter)k, base + k), 0);
}

Test(series, reused_buckets_start_empty)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    /* Fill every counter of ten buckets, let them all expire, then create
     * ten new ones: each must start at zero. */
    for (int i = 0; i < 10; i++)
        fill(&s, t0 + i * 60, 1000);
    cr_assert_eq(s.nb, 10);
    int64_t t1 = t0 + 10 * 3600;
    ks_series_advance(&s, t1);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(s.nb, 0);
    for (int i = 0; i < 10; i++) {
        ks_sbucket *e = ks_series_entry(&s, t1 + i * 60);
        cr_assert_not_null(e);
        for (int k = 0; k < KS_C__COUNT; k++)
            cr_assert_eq(ks_sbucket_get(e, (ks_counter)k), 0, "bucket %d counter %d", i, k);
        cr_assert_eq(ks_sbucket_add(&s, e, KS_C_EVENTS, 1), 0);
    }
    cr_assert_eq(sum_window(&s, t1 + 9 * 60), 10);
    cr_assert(ks_series_memory(&s) > 0);
    ks_series_reset(&s);
}

/* An entry keeps up to four counters in place; a fifth moves them all into
 * a bucket, values kept, and the bucket goes back to the pool when the
 * entry leaves the window. */
Test(series, counters_in_place_move_to_a_bucket_at_the_fifth)
{
    ks_bpool pool = {0};
    ks_series s;
    ks_series_init(&s, 60);
    ks_series_set_pool(&s, &pool);
    int64_t t0 = 1800000000;
    static const ks_counter k[6] = {KS_C_EVENTS, KS_C_ORDERS, KS_C_M_PURCHASES, KS_C_CROSS_SELLS,
                                    KS_C_REFUND_COUNT, KS_C_M_REFUNDS};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ks_series_add(&s, t0, k[i], 10 + i), 0);
    cr_assert_eq(ks_series_add(&s, t0 + 1, k[0], 5), 0); /* the same counter again */
    cr_assert_eq(s.nb, 0, "four counters fit in the entry");
    cr_assert_eq(pool.live, 0);
    size_t in_place = ks_series_memory(&s);
    cr_assert_eq(ks_series_add(&s, t0 + 2, k[4], 14), 0);
    cr_assert_eq(ks_series_add(&s, t0 + 3, k[5], -15), 0);
    cr_assert_eq(s.nb, 1);
    cr_assert_eq(pool.live, 1);
    cr_assert_eq(ks_series_memory(&s), in_place + sizeof(ks_bucket));
    ks_sbucket *e = ks_series_entry(&s, t0);
    int64_t want[6] = {15, 11, 12, 13, 14, -15};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(ks_sbucket_get(e, k[i]), want[i], "counter %d", (int)k[i]);
    ks_bucket w = {{0}};
    ks_series_sum_window(&s, t0, &w);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(w.v[k[i]], want[i], "window sum of counter %d", (int)k[i]);
    cr_expect_eq(w.v[KS_C_LEADS], 0);
    ks_series_advance(&s, t0 + 2 * 3600);
    cr_assert_eq(s.nb, 0);
    cr_assert_eq(pool.live, 0);
    cr_assert_eq(pool.nfree, 1);
    ks_series_reset(&s);
    ks_bpool_reset(&pool);
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
        fill(&a, t0 + i * 60, 7);
    cr_assert_eq(pool.live, 600);
    ks_series_advance(&a, t0 + 600 * 60 + 59 * 60); /* all 600 leave the window */
    cr_assert_eq(a.n, 0);
    cr_assert_eq(pool.live, 0);
    /* 600 dropped one by one: kept while nfree < live/4 + 256, then freed
     * (live falls as they go: 324 kept, 276 freed). */
    cr_assert_eq(pool.nfree, 324);
    cr_assert_geq(ks_bpool_memory(&pool), 324 * sizeof(ks_bucket));
    ks_bucket *first = pool.free[pool.nfree - 1];
    /* Five counters of one bucket: it needs a bucket of its own. */
    for (int k = 0; k < 5; k++)
        cr_assert_eq(ks_series_add(&b, t0, (ks_counter)(KS_C_NEW_CUSTOMERS + k), 1), 0);
    ks_sbucket *got = ks_series_entry(&b, t0);
    cr_assert_eq(got->b, first, "b reuses the bucket a dropped last");
    for (int k = 0; k < KS_C__COUNT; k++)
        cr_assert_eq(got->b->v[k], k >= KS_C_NEW_CUSTOMERS && k < KS_C_NEW_CUSTOMERS + 5,
                     "a reused bucket starts empty (counter %d)", k);
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

/* Random counts against a plain list of what was accepted: window and
 * future sums agree at every clock. kinds: how many counters an event may
 * add to (4 or fewer keep every entry's counters in place, so an advance
 * leaves the entries behind the window where they are, for the array's next
 * growth to drop); gap_s: how far the clock moves at most between
 * advances (several buckets at once for a sparse series). */
static void random_counts_match(int kinds, int64_t gap_s, bool want_blocks)
{
    enum { N = 20000 };
    static struct { int64_t t; int k; int64_t d; } ev[N];
    size_t nev = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        ks_bpool pool = {0};
        ks_series s;
        ks_series_init(&s, 60 * (int64_t)seed); /* other widths too */
        ks_series_set_pool(&s, &pool);
        int64_t w = 60 * (int64_t)seed, clock = 1800000000, adv_n = INT64_MIN;
        uint64_t x = 0x9E3779B97F4A7C15ull * seed;
        nev = 0;
        for (int step = 0; step < N; step++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Mostly near the clock, some an hour late or ahead, a few days
             * ahead; counters skewed to a few, so entries differ in how many. */
            int64_t t = clock + (int64_t)(x % 900) - 600;
            if (x % 11 == 0)
                t = clock - 3600 * (int64_t)seed + (int64_t)((x >> 8) % 120);
            if (x % 97 == 0)
                t = clock + 86400 * (int64_t)((x >> 16) % 3 + 1);
            int k = (x >> 24) % 3 ? (int)((x >> 28) % 4) : (int)((x >> 30) % KS_DISTINCT_FIRST);
            if (kinds <= 4)
                k = (int)((x >> 28) % (uint64_t)kinds);
            int64_t d = (int64_t)((x >> 40) % 1000) - 100;
            int rc = ks_series_add(&s, t, (ks_counter)k, d);
            int64_t n = t >= 0 ? t / w : -((-t + w - 1) / w);
            bool behind = adv_n != INT64_MIN && n <= adv_n - KS_WINDOW_BUCKETS;
            cr_assert_eq(rc, behind ? 1 : 0, "seed %llu step %d", (unsigned long long)seed, step);
            if (!behind)
                ev[nev].t = t, ev[nev].k = k, ev[nev++].d = d;
            if (step % 5 == 0) {
                clock += (int64_t)((x >> 50) % (uint64_t)gap_s);
                ks_series_advance(&s, clock);
                adv_n = clock / w;
            }
            if (step % 301 == 0 || step % 5 == 0 || step == N - 1) {
                ks_bucket got = {{0}};
                int64_t want[KS_C__COUNT] = {0}, wfut[KS_C__COUNT] = {0};
                int64_t nc = clock / w;
                for (size_t i = 0; i < nev; i++) {
                    int64_t en = ev[i].t / w;
                    if (en > nc - KS_WINDOW_BUCKETS && en <= nc)
                        want[ev[i].k] += ev[i].d;
                    else if (en > nc)
                        wfut[ev[i].k] += ev[i].d;
                }
                ks_series_sum_window(&s, clock, &got);
                for (int c = 0; c < KS_C__COUNT; c++) {
                    cr_assert_eq(got.v[c], want[c], "seed %llu step %d counter %d",
                                 (unsigned long long)seed, step, c);
                    cr_assert_eq(ks_series_future_count(&s, clock, (ks_counter)c), wfut[c],
                                 "seed %llu step %d future counter %d",
                                 (unsigned long long)seed, step, c);
                }
            }
        }
        if (want_blocks)
            cr_assert(s.nb > 0 && s.nb < s.n, "both kinds of entry were exercised (%u of %u)",
                      s.nb, s.n);
        else
            cr_assert_eq(s.nb, 0, "every entry kept its counters in place");
        cr_assert_eq(pool.live, s.nb);
        ks_series_reset(&s);
        ks_bpool_reset(&pool);
    }
}

/* Any counter, some buckets with one or two counters, some with many: both
 * kinds of entry. */
Test(series, random_counts_match_a_plain_sum)
{
    random_counts_match(KS_DISTINCT_FIRST, 120, true);
}

/* At most four counters a bucket, the clock jumping up to an hour and a
 * half between advances: no entry has a block, so an advance leaves the
 * entries behind the window in place, often several at once, and sums must
 * not count them. */
Test(series, sparse_entries_dropped_unread_match_a_plain_sum)
{
    random_counts_match(4, 5400, false);
}

/* Entries behind the window that advances left in a series without blocks
 * go when their room is needed: a series fed one bucket after another for
 * 10 000 buckets keeps an array of about a window, not of all of them. */
Test(series, entries_left_behind_do_not_grow_the_array)
{
    ks_series s;
    ks_series_init(&s, 60);
    int64_t t0 = 1800000000;
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(ks_series_add(&s, t0 + (int64_t)i * 60, KS_C_EVENTS, 1), 0);
        ks_series_advance(&s, t0 + (int64_t)i * 60);
    }
    cr_assert_eq(s.nb, 0, "no entry needed a block");
    cr_expect_leq(s.cap, 2 * KS_WINDOW_BUCKETS + 8, "array of %u entries", s.cap);
    cr_expect_eq(sum_window(&s, t0 + 9999 * 60), KS_WINDOW_BUCKETS);
    ks_series_reset(&s);
}
