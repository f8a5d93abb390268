/* Space-Saving top-k: the documented guarantees over seeded Zipf streams, before and
 * after merges, checked against exact counts kept by the test. */
#include <criterion/criterion.h>

#include "kpistream/err.h"
#include "kpistream/topk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U 5000 /* distinct items in the universe */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct zipf {
    double cdf[U];
    int perm[U]; /* rank -> item id, so different streams have different heavy hitters */
} zipf;

static void zipf_init(zipf *z, double s, uint64_t *seed)
{
    double sum = 0;
    for (int i = 0; i < U; i++)
        sum += 1 / pow(i + 1, s);
    double acc = 0;
    for (int i = 0; i < U; i++) {
        acc += 1 / pow(i + 1, s) / sum;
        z->cdf[i] = acc;
        z->perm[i] = i;
    }
    z->cdf[U - 1] = 1;
    for (int i = U - 1; i > 0; i--) {
        int j = (int)(splitmix(seed) % (uint64_t)(i + 1));
        int t = z->perm[i];
        z->perm[i] = z->perm[j];
        z->perm[j] = t;
    }
}

static int zipf_draw(const zipf *z, uint64_t *seed)
{
    double u = (double)(splitmix(seed) >> 11) / 9007199254740992.0;
    int lo = 0, hi = U - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return z->perm[lo];
}

/* Item names of varying length, some long (up to 128 bytes). */
static size_t item_name(int id, char *buf)
{
    int n = snprintf(buf, KS_TOPK_ITEM_MAX + 1, "product-%d", id);
    size_t len = (size_t)n;
    if (id % 7 == 0) { /* pad to a long name, still <= 128 bytes */
        size_t want = 60 + (size_t)(id % 69);
        memset(buf + len, 'x', want - len);
        len = want;
    }
    return len;
}

/* Checks every documented guarantee of t against the exact counts f[] of total N. */
static void check_guarantees(const ks_topk *t, const uint64_t *f, uint64_t N, const char *what)
{
    size_t m = ks_topk_capacity(t);
    char buf[KS_TOPK_ITEM_MAX + 1];
    cr_assert_eq(ks_topk_total(t), N, "%s: total", what);
    for (int id = 0; id < U; id++) {
        size_t len = item_name(id, buf);
        ks_topk_entry e;
        bool present = ks_topk_get(t, buf, len, &e);
        if (f[id] * m > N)
            cr_assert(present, "%s: item %d with f=%llu > N/m=%llu/%zu missing", what, id,
                      (unsigned long long)f[id], (unsigned long long)N, m);
        if (!present) continue;
        cr_assert_eq(e.len, len);
        cr_assert(memcmp(e.item, buf, len) == 0);
        cr_assert_geq(e.count, f[id], "%s: item %d count %llu < true %llu", what, id,
                      (unsigned long long)e.count, (unsigned long long)f[id]);
        cr_assert_leq(e.count - f[id], e.error, "%s: item %d overestimate beyond its error", what,
                      id);
        cr_assert_leq(e.error * m, N, "%s: item %d error %llu > N/m", what, id,
                      (unsigned long long)e.error);
    }
}

static void check_list(const ks_topk *t, size_t k)
{
    ks_topk_entry out[64];
    size_t n = 99;
    cr_assert_leq(k, 64);
    ks_topk_list(t, k, out, &n);
    size_t expect = ks_topk_size(t) < k ? ks_topk_size(t) : k;
    cr_assert_eq(n, expect);
    for (size_t i = 1; i < n; i++)
        cr_assert_geq(out[i - 1].count, out[i].count, "sorted by count desc");
    /* Nothing left out has a larger count than the last listed one: compare with the
     * full list. */
    static ks_topk_entry all[4096];
    size_t na;
    cr_assert_leq(ks_topk_size(t), 4096);
    ks_topk_list(t, ks_topk_size(t), all, &na);
    cr_assert_eq(na, ks_topk_size(t));
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(all[i].count, out[i].count);
        cr_assert_eq(all[i].error, out[i].error);
        cr_assert_eq(all[i].len, out[i].len);
        cr_assert(memcmp(all[i].item, out[i].item, out[i].len) == 0, "same order");
    }
}

static void feed(ks_topk *t, const zipf *z, uint64_t *f, int n, uint64_t *seed, uint64_t *N)
{
    char buf[KS_TOPK_ITEM_MAX + 1];
    for (int i = 0; i < n; i++) {
        int id = zipf_draw(z, seed);
        uint64_t w = 1 + splitmix(seed) % 3 * (i % 5 == 0); /* mostly 1, some 1..3 */
        size_t len = item_name(id, buf);
        cr_assert(ks_topk_add(t, buf, len, w));
        f[id] += w;
        *N += w;
    }
}

Test(topk, zipf_streams_keep_the_space_saving_bound)
{
    char err[KS_ERRSTR_SIZE];
    static zipf z;
    static uint64_t f[U];
    uint64_t seed = 2024;
    const double skews[] = {0.8, 1.0, 1.2, 1.5};
    int trials = getenv("KS_TEST_QUICK") ? 8 : 40;
    for (int trial = 0; trial < trials; trial++) {
        size_t m = trial % 2 ? KS_TOPK_DEFAULT_CAPACITY(10) : 37;
        zipf_init(&z, skews[trial % 4], &seed);
        ks_topk *t = ks_topk_new(m, err, sizeof err);
        cr_assert_not_null(t, "%s", err);
        memset(f, 0, sizeof f);
        uint64_t N = 0;
        feed(t, &z, f, 50000, &seed, &N);
        cr_assert_eq(ks_topk_size(t), m, "stream has more than m distinct items");
        check_guarantees(t, f, N, "stream");
        check_list(t, 10);
        cr_assert_eq(ks_topk_error_bound(t), (N + m - 1) / m);
        ks_topk_free(t);
    }
}

Test(topk, merged_summaries_keep_the_bound_for_the_union)
{
    char err[KS_ERRSTR_SIZE];
    static zipf za, zb;
    static uint64_t f[U];
    uint64_t seed = 99;
    int trials = getenv("KS_TEST_QUICK") ? 6 : 30;
    for (int trial = 0; trial < trials; trial++) {
        size_t m = 50 + (size_t)trial;
        zipf_init(&za, 1.0 + 0.1 * (trial % 4), &seed);
        zipf_init(&zb, 1.1, &seed);
        ks_topk *parts[4];
        memset(f, 0, sizeof f);
        uint64_t N = 0;
        for (int p = 0; p < 4; p++) {
            parts[p] = ks_topk_new(m, err, sizeof err);
            /* part 3 is small and not full, exercising the non-full merge rule */
            feed(parts[p], p % 2 ? &zb : &za, f, p == 3 ? 20 : 20000 + 5000 * p, &seed, &N);
        }
        ks_topk *acc = ks_topk_new(m, err, sizeof err);
        for (int p = 0; p < 4; p++) {
            cr_assert_eq(ks_topk_merge(acc, parts[(p + trial) % 4]), 0);
        }
        check_guarantees(acc, f, N, "merged");
        check_list(acc, 20);
        /* adds after a merge keep the guarantees */
        feed(acc, &za, f, 10000, &seed, &N);
        check_guarantees(acc, f, N, "merged then added");
        /* merge into a non-empty summary, both full */
        cr_assert_eq(ks_topk_merge(parts[0], parts[1]), 0);
        ks_topk_free(acc);
        for (int p = 0; p < 4; p++)
            ks_topk_free(parts[p]);
    }
}

Test(topk, self_merge_doubles)
{
    char err[KS_ERRSTR_SIZE];
    ks_topk *t = ks_topk_new(4, err, sizeof err);
    ks_topk_add(t, "a", 1, 5);
    ks_topk_add(t, "b", 1, 3);
    cr_assert_eq(ks_topk_merge(t, t), 0);
    ks_topk_entry e;
    cr_assert(ks_topk_get(t, "a", 1, &e));
    cr_assert_eq(e.count, 10);
    cr_assert(ks_topk_get(t, "b", 1, &e));
    cr_assert_eq(e.count, 6);
    cr_assert_eq(ks_topk_total(t), 16);
    ks_topk_free(t);
}

Test(topk, exact_while_not_full_and_eviction_rule)
{
    char err[KS_ERRSTR_SIZE];
    ks_topk *t = ks_topk_new(3, err, sizeof err);
    ks_topk_add(t, "a", 1, 5);
    ks_topk_add(t, "b", 1, 2);
    ks_topk_add(t, "c", 1, 3);
    ks_topk_add(t, "a", 1, 1);
    ks_topk_entry out[5];
    size_t n;
    ks_topk_list(t, 5, out, &n);
    cr_assert_eq(n, 3);
    cr_assert(out[0].len == 1 && out[0].item[0] == 'a' && out[0].count == 6 && out[0].error == 0);
    cr_assert(out[1].item[0] == 'c' && out[1].count == 3 && out[1].error == 0);
    cr_assert(out[2].item[0] == 'b' && out[2].count == 2 && out[2].error == 0);
    /* full: "d" takes b's counter (the smallest, 2): count 2 + 4 = 6, error 2 */
    ks_topk_add(t, "d", 1, 4);
    ks_topk_entry e;
    cr_assert_not(ks_topk_get(t, "b", 1, &e));
    cr_assert(ks_topk_get(t, "d", 1, &e));
    cr_assert_eq(e.count, 6);
    cr_assert_eq(e.error, 2);
    ks_topk_list(t, 2, out, &n);
    cr_assert_eq(n, 2);
    /* tie at 6: the smaller error ranks first */
    cr_assert(out[0].item[0] == 'a' && out[1].item[0] == 'd');
    ks_topk_reset(t);
    cr_assert_eq(ks_topk_size(t), 0);
    cr_assert_eq(ks_topk_total(t), 0);
    cr_assert_not(ks_topk_get(t, "a", 1, &e));
    ks_topk_list(t, 5, out, &n);
    cr_assert_eq(n, 0);
    ks_topk_free(t);
}

Test(topk, item_length_limits)
{
    char err[KS_ERRSTR_SIZE];
    ks_topk *t = ks_topk_new(8, err, sizeof err);
    char big[KS_TOPK_ITEM_MAX + 1];
    memset(big, 'z', sizeof big);
    cr_assert(ks_topk_add(t, big, KS_TOPK_ITEM_MAX, 1), "128 bytes is accepted");
    cr_assert_not(ks_topk_add(t, big, KS_TOPK_ITEM_MAX + 1, 1), "129 bytes is refused");
    cr_assert(ks_topk_add(t, "", 0, 2), "the empty item is an item");
    cr_assert_eq(ks_topk_total(t), 3, "refused items are not counted");
    ks_topk_entry e;
    cr_assert(ks_topk_get(t, big, KS_TOPK_ITEM_MAX, &e));
    cr_assert_eq(e.len, KS_TOPK_ITEM_MAX);
    cr_assert(ks_topk_get(t, "", 0, &e));
    cr_assert_eq(e.count, 2);
    ks_topk_free(t);
}

Test(topk, churn_through_many_distinct_items_keeps_index_consistent)
{
    /* Heavy eviction exercises the backward-shift deletion of the hash index: every
     * monitored item must still be found, and nothing else. */
    char err[KS_ERRSTR_SIZE];
    ks_topk *t = ks_topk_new(16, err, sizeof err);
    char buf[32];
    uint64_t seed = 3;
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(buf, sizeof buf, "k%llu", (unsigned long long)(splitmix(&seed) % 3000));
        ks_topk_add(t, buf, (size_t)n, 1);
    }
    static ks_topk_entry all[16];
    size_t na;
    ks_topk_list(t, 16, all, &na);
    cr_assert_eq(na, 16);
    uint64_t sum = 0;
    for (size_t i = 0; i < na; i++) {
        ks_topk_entry e;
        cr_assert(ks_topk_get(t, all[i].item, all[i].len, &e), "monitored item found");
        cr_assert_eq(e.count, all[i].count);
        sum += e.count;
    }
    cr_assert_eq(sum, ks_topk_total(t), "Space-Saving counters sum to N");
    int found = 0;
    for (int k = 0; k < 3000; k++) {
        int n = snprintf(buf, sizeof buf, "k%d", k);
        ks_topk_entry e;
        found += ks_topk_get(t, buf, (size_t)n, &e);
    }
    cr_assert_eq(found, 16, "exactly the monitored items are found");
    ks_topk_free(t);
}

Test(topk, constructor_and_merge_argument_checks)
{
    char err[KS_ERRSTR_SIZE] = "";
    cr_assert_null(ks_topk_new(0, err, sizeof err));
    cr_assert(strstr(err, "capacity") != NULL, "%s", err);
    ks_topk *a = ks_topk_new(10, err, sizeof err);
    ks_topk *b = ks_topk_new(11, err, sizeof err);
    ks_topk_add(a, "x", 1, 1);
    cr_assert_eq(ks_topk_merge(a, b), KS_ERR_INVAL);
    cr_assert_eq(ks_topk_total(a), 1);
    cr_assert_geq(ks_topk_memory(a), 10 * KS_TOPK_ITEM_MAX);
    ks_topk_free(a);
    ks_topk_free(b);
    ks_topk_free(NULL);
}
