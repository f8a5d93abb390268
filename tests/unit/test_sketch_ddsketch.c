/* DDSketch: relative-error bound against exact rank quantiles, merge, subtract,
 * collapsing, and the value rules (zero, negative, NaN). */
#include <criterion/criterion.h>

#include "kpistream/ddsketch.h"
#include "kpistream/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static double unif(uint64_t *s)
{
    return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *s)
{
    return sqrt(-2 * log(unif(s))) * cos(2 * M_PI * unif(s));
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, CONSTANT, NDIST };
static const char *dist_name[] = {"uniform", "exponential", "lognormal", "constant"};

static double draw(enum dist d, uint64_t *s)
{
    switch (d) {
    case UNIFORM:
        return 1000 * unif(s); /* 0 .. 1000 */
    case EXPONENTIAL:
        return -200 * log(unif(s)); /* mean 200 ms */
    case LOGNORMAL:
        return exp(5 + 2 * normal(s)); /* heavy tail: median 148, p99.9 ~ 70000 */
    default:
        return 42.5;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};

/* The exact q-quantile as the paper defines it: the element of rank floor(q(n-1)). */
static double exact_quantile(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
}

static void assert_within(double got, double want, double alpha, const char *what, double q)
{
    /* The 1e-9 slack covers rounding in log/exp at bucket boundaries only. */
    cr_assert_leq(fabs(got - want), alpha * want * (1 + 1e-9) + 1e-12,
                  "%s q=%g: got %.9g, exact %.9g, alpha %g", what, q, got, want, alpha);
}

static void run_bound(double alpha, size_t max_buckets, int trials, size_t n)
{
    char err[KS_ERRSTR_SIZE];
    double *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    uint64_t seed = 1234;
    for (int d = 0; d < NDIST; d++) {
        for (int t = 0; t < trials; t++) {
            ks_ddsketch *s = ks_ddsketch_new(alpha, max_buckets, err, sizeof err);
            cr_assert_not_null(s, "%s", err);
            size_t nn = 1 + splitmix(&seed) % n; /* sizes from 1 to n */
            for (size_t i = 0; i < nn; i++) {
                v[i] = draw((enum dist)d, &seed);
                cr_assert(ks_ddsketch_add(s, v[i]));
            }
            qsort(v, nn, sizeof *v, cmp_double);
            cr_assert_eq(ks_ddsketch_count(s), nn);
            cr_assert_not(ks_ddsketch_collapsed(s));
            for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
                double got;
                cr_assert(ks_ddsketch_quantile(s, qs[k], &got));
                assert_within(got, exact_quantile(v, nn, qs[k]), alpha, dist_name[d], qs[k]);
            }
            double lo, hi;
            cr_assert(ks_ddsketch_quantile(s, 0, &lo) && ks_ddsketch_quantile(s, 1, &hi));
            assert_within(lo, v[0], alpha, dist_name[d], 0);
            assert_within(hi, v[nn - 1], alpha, dist_name[d], 1);
            ks_ddsketch_free(s);
        }
    }
    free(v);
}

Test(ddsketch, relative_error_bound_alpha_1pct)
{
    run_bound(0.01, 0, getenv("KS_TEST_QUICK") ? 20 : 100, 20000);
}

Test(ddsketch, relative_error_bound_alpha_5pct_and_tiny_alpha)
{
    run_bound(0.05, 0, 30, 5000);
    /* ln(range) / ln(gamma) ~ 25 / 0.001 buckets: give it room not to collapse */
    run_bound(0.0005, 65536, 10, 5000);
}

static void assert_same_quantiles(const ks_ddsketch *a, const ks_ddsketch *b)
{
    cr_assert_eq(ks_ddsketch_count(a), ks_ddsketch_count(b));
    for (int i = 0; i <= 1000; i++) {
        double x, y;
        cr_assert(ks_ddsketch_quantile(a, i / 1000.0, &x));
        cr_assert(ks_ddsketch_quantile(b, i / 1000.0, &y));
        cr_assert_eq(x, y, "q=%g: %.17g vs %.17g", i / 1000.0, x, y);
    }
}

static void merge_equals_single(size_t max_buckets, bool expect_collapse)
{
    char err[KS_ERRSTR_SIZE];
    uint64_t seed = 77;
    for (int t = 0; t < 30; t++) {
        ks_ddsketch *all = ks_ddsketch_new(0.01, max_buckets, err, sizeof err);
        ks_ddsketch *parts[4];
        for (int p = 0; p < 4; p++)
            parts[p] = ks_ddsketch_new(0.01, max_buckets, err, sizeof err);
        for (int i = 0; i < 20000; i++) {
            enum dist d = (enum dist)(splitmix(&seed) % NDIST);
            /* parts see different ranges so that merging must widen and move */
            int p = (int)(splitmix(&seed) % 4);
            double x = draw(d, &seed) * pow(10, p - 1);
            if (i % 1000 == 0) x = 0; /* zero bucket too */
            ks_ddsketch_add(all, x);
            ks_ddsketch_add(parts[p], x);
        }
        ks_ddsketch *m = ks_ddsketch_new(0.01, max_buckets, err, sizeof err);
        for (int p = 0; p < 4; p++)
            cr_assert_eq(ks_ddsketch_merge(m, parts[(p + t) % 4]), 0);
        cr_assert_eq(ks_ddsketch_collapsed(all), expect_collapse);
        assert_same_quantiles(m, all);
        for (int p = 0; p < 4; p++)
            ks_ddsketch_free(parts[p]);
        ks_ddsketch_free(m);
        ks_ddsketch_free(all);
    }
}

Test(ddsketch, merge_equals_single_sketch)
{
    merge_equals_single(0, false);
}

Test(ddsketch, merge_equals_single_sketch_when_collapsed)
{
    merge_equals_single(64, true);
}

Test(ddsketch, collapsing_keeps_high_quantiles)
{
    char err[KS_ERRSTR_SIZE];
    const size_t n = 20000;
    double *v = malloc(n * sizeof *v);
    uint64_t seed = 4242;
    for (int t = 0; t < 50; t++) {
        /* 256 buckets at alpha 1% cover a ratio gamma^256 ~ 168 below the maximum:
         * with lognormal(5, 2) data that is far less than the whole range. */
        ks_ddsketch *s = ks_ddsketch_new(0.01, 256, err, sizeof err);
        for (size_t i = 0; i < n; i++) {
            v[i] = draw(LOGNORMAL, &seed);
            ks_ddsketch_add(s, v[i]);
        }
        qsort(v, n, sizeof *v, cmp_double);
        cr_assert(ks_ddsketch_collapsed(s), "the range must exceed 256 buckets");
        cr_assert_leq(ks_ddsketch_memory(s), 4096 + 256 * sizeof(uint64_t), "bounded memory: %zu",
                      ks_ddsketch_memory(s));
        double gamma = 1.01 / 0.99;
        double covered_from = v[n - 1] / pow(gamma, 255); /* lowest value still exact */
        for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
            double got, want = exact_quantile(v, n, qs[k]);
            cr_assert(ks_ddsketch_quantile(s, qs[k], &got));
            if (want >= covered_from)
                assert_within(got, want, 0.01, "collapsed", qs[k]);
            else /* folded upwards: never below the true value */
                cr_assert_geq(got, want * 0.99, "q=%g: %g < %g", qs[k], got, want);
        }
        /* the top quantiles are always in the kept range here */
        double got;
        cr_assert(ks_ddsketch_quantile(s, 0.99, &got));
        assert_within(got, exact_quantile(v, n, 0.99), 0.01, "collapsed p99", 0.99);
        ks_ddsketch_free(s);
    }
    free(v);
}

Test(ddsketch, sub_undoes_merge)
{
    char err[KS_ERRSTR_SIZE];
    uint64_t seed = 5;
    for (int t = 0; t < 20; t++) {
        size_t maxb = t % 2 ? 64 : 2048;
        ks_ddsketch *a = ks_ddsketch_new(0.01, maxb, err, sizeof err);
        ks_ddsketch *b = ks_ddsketch_new(0.01, maxb, err, sizeof err);
        ks_ddsketch *w = ks_ddsketch_new(0.01, maxb, err, sizeof err);
        for (int i = 0; i < 5000; i++) {
            ks_ddsketch_add(a, draw(EXPONENTIAL, &seed));
            ks_ddsketch_add(b, draw(UNIFORM, &seed) + 500); /* b: higher values */
        }
        ks_ddsketch_add(b, 0);
        cr_assert_eq(ks_ddsketch_merge(w, b), 0);
        cr_assert_eq(ks_ddsketch_merge(w, a), 0);
        cr_assert_eq(ks_ddsketch_sub(w, b), 0);
        if (!ks_ddsketch_collapsed(w)) {
            assert_same_quantiles(w, a);
        } else {
            cr_assert_eq(ks_ddsketch_count(w), ks_ddsketch_count(a));
        }
        cr_assert_eq(ks_ddsketch_sub(w, a), 0);
        cr_assert_eq(ks_ddsketch_count(w), 0);
        double x;
        cr_assert_not(ks_ddsketch_quantile(w, 0.5, &x), "empty after subtracting all");
        cr_assert_not(ks_ddsketch_collapsed(w));
        ks_ddsketch_free(a);
        ks_ddsketch_free(b);
        ks_ddsketch_free(w);
    }
}

Test(ddsketch, sub_rejects_what_was_not_merged)
{
    char err[KS_ERRSTR_SIZE];
    ks_ddsketch *a = ks_ddsketch_new(0.01, 0, err, sizeof err);
    ks_ddsketch *b = ks_ddsketch_new(0.01, 0, err, sizeof err);
    ks_ddsketch *c = ks_ddsketch_new(0.02, 0, err, sizeof err);
    for (int i = 1; i <= 100; i++)
        ks_ddsketch_add(a, i);
    ks_ddsketch_add(b, 5000); /* a has nothing there */
    double before;
    cr_assert(ks_ddsketch_quantile(a, 0.5, &before));
    cr_assert_eq(ks_ddsketch_sub(a, b), KS_ERR_RANGE);
    ks_ddsketch_reset(b);
    ks_ddsketch_add_n(b, 50, 2); /* a has one value in that bucket */
    cr_assert_eq(ks_ddsketch_sub(a, b), KS_ERR_RANGE);
    double after;
    cr_assert(ks_ddsketch_quantile(a, 0.5, &after));
    cr_assert_eq(before, after);
    cr_assert_eq(ks_ddsketch_count(a), 100, "unchanged on error");
    cr_assert_eq(ks_ddsketch_sub(a, c), KS_ERR_INVAL);
    cr_assert_eq(ks_ddsketch_merge(a, c), KS_ERR_INVAL, "alphas differ");
    cr_assert_eq(ks_ddsketch_count(a), 100);
    ks_ddsketch_free(a);
    ks_ddsketch_free(b);
    ks_ddsketch_free(c);
}

Test(ddsketch, value_rules)
{
    char err[KS_ERRSTR_SIZE];
    ks_ddsketch *s = ks_ddsketch_new(0, 0, err, sizeof err);
    cr_assert_not_null(s);
    cr_assert_eq(ks_ddsketch_alpha(s), KS_DDSKETCH_DEFAULT_ALPHA);
    double x = -1;
    cr_assert_not(ks_ddsketch_quantile(s, 0.5, &x), "empty sketch has no quantile");
    cr_assert_eq(x, -1, "out untouched");
    cr_assert_not(ks_ddsketch_add(s, NAN));
    cr_assert_not(ks_ddsketch_add(s, INFINITY));
    cr_assert_eq(ks_ddsketch_count(s), 0);
    cr_assert(ks_ddsketch_add(s, -5)); /* clock skew: counts as 0 */
    cr_assert(ks_ddsketch_add(s, 0));
    cr_assert(ks_ddsketch_add(s, 1e-12)); /* below KS_DDSKETCH_MIN_VALUE */
    cr_assert(ks_ddsketch_add_n(s, 100, 7));
    cr_assert(ks_ddsketch_add_n(s, 100, 0));
    cr_assert_eq(ks_ddsketch_count(s), 10);
    cr_assert(ks_ddsketch_quantile(s, 0, &x));
    cr_assert_eq(x, 0);
    cr_assert(ks_ddsketch_quantile(s, 0.2, &x)); /* rank floor(0.2*9) = 1: a zero */
    cr_assert_eq(x, 0);
    cr_assert(ks_ddsketch_quantile(s, 0.5, &x));
    assert_within(x, 100, 0.01, "add_n", 0.5);
    cr_assert_not(ks_ddsketch_quantile(s, 1.5, &x));
    cr_assert_not(ks_ddsketch_quantile(s, -0.1, &x));
    cr_assert_not(ks_ddsketch_quantile(s, NAN, &x));
    ks_ddsketch_reset(s);
    cr_assert_eq(ks_ddsketch_count(s), 0);
    cr_assert_not(ks_ddsketch_quantile(s, 0.5, &x));
    /* extreme but finite values stay exact within alpha */
    cr_assert(ks_ddsketch_add(s, 1e300));
    cr_assert(ks_ddsketch_quantile(s, 0.5, &x));
    assert_within(x, 1e300, 0.01, "huge", 0.5);
    ks_ddsketch_free(s);
    ks_ddsketch_free(NULL);
}

Test(ddsketch, constructor_rejects_bad_arguments)
{
    char err[KS_ERRSTR_SIZE] = "";
    cr_assert_null(ks_ddsketch_new(0.9, 0, err, sizeof err));
    cr_assert(strstr(err, "alpha") != NULL, "%s", err);
    err[0] = 0;
    cr_assert_null(ks_ddsketch_new(-0.01, 0, err, sizeof err));
    cr_assert(strstr(err, "alpha") != NULL);
    err[0] = 0;
    cr_assert_null(ks_ddsketch_new(0.01, 4, err, sizeof err));
    cr_assert(strstr(err, "max_buckets") != NULL, "%s", err);
}

Test(ddsketch, memory_grows_with_range_only)
{
    char err[KS_ERRSTR_SIZE];
    ks_ddsketch *s = ks_ddsketch_new(0.01, 2048, err, sizeof err);
    size_t m0 = ks_ddsketch_memory(s);
    for (int i = 0; i < 100000; i++)
        ks_ddsketch_add(s, 100 + (i % 10)); /* ~5 buckets */
    cr_assert_eq(ks_ddsketch_memory(s), m0, "a narrow range needs no growth");
    for (double v = 1e-3; v < 1e12; v *= 1.5)
        ks_ddsketch_add(s, v);
    size_t m1 = ks_ddsketch_memory(s);
    cr_assert_gt(m1, m0);
    cr_assert_leq(m1, m0 + 2048 * sizeof(uint64_t));
    cr_assert_not(ks_ddsketch_collapsed(s), "1e-3 .. 1e12 fits in 2048 buckets at 1%%");
    ks_ddsketch_free(s);
}

/* Bucket counts kept outside the sketch under ks_ddsketch_key() and added back
 * with ks_ddsketch_add_key() (how kpistream sums them in Redis) answer exactly
 * what the sketch of the values answers, zero bucket included. */
Test(ddsketch, bucket_keys_rebuild_the_same_sketch)
{
    char err[KS_ERRSTR_SIZE];
    uint64_t seed = 77;
    for (int t = 0; t < 20; t++) {
        ks_ddsketch *a = ks_ddsketch_new(0.01, 0, err, sizeof err);
        ks_ddsketch *b = ks_ddsketch_new(0.01, 0, err, sizeof err);
        cr_assert(a && b, "%s", err);
        for (int i = 0; i < 5000; i++) {
            double v = i % 97 == 0 ? 0.0 : draw(LOGNORMAL, &seed);
            ks_ddsketch_add(a, v);
            ks_ddsketch_add_key(b, ks_ddsketch_key(a, v), 1);
        }
        cr_assert_eq(ks_ddsketch_count(a), ks_ddsketch_count(b));
        for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
            double x, y;
            cr_assert(ks_ddsketch_quantile(a, qs[k], &x));
            cr_assert(ks_ddsketch_quantile(b, qs[k], &y));
            cr_assert_eq(x, y, "q=%g: %.17g vs %.17g", qs[k], x, y);
        }
        ks_ddsketch_free(a);
        ks_ddsketch_free(b);
    }
}
