/* Sketch throughput and size: updates per second and bytes per sketch for the HLL,
 * DDSketch and Space-Saving top-k, plus the query/merge costs that run at flush time.
 * Plain main(); links ks_sketch only. Figures depend on the machine: read them as
 * orders of magnitude, not as thresholds. */
#include "kpistream/ddsketch.h"
#include "kpistream/hll.h"
#include "kpistream/topk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static volatile uint64_t sink; /* keeps results alive */

static void bench_hll(void)
{
    static ks_hll h, h2;
    ks_hll_init(&h);
    ks_hll_init(&h2);
    enum { NI = 1 << 16 };
    static char ids[NI][24];
    static size_t lens[NI];
    uint64_t seed = 1;
    for (int i = 0; i < NI; i++) /* customer ids as the engine sees them: short strings */
        lens[i] = (size_t)snprintf(ids[i], sizeof ids[i], "cust-%08llu",
                                   (unsigned long long)(splitmix(&seed) % 100000000));
    const int n = 20000000;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        ks_hll_add(&h, ids[i & (NI - 1)], lens[i & (NI - 1)]);
    double t1 = now_s();
    double t2 = now_s();
    for (int i = 0; i < n; i++)
        ks_hll_add_hash(&h2, splitmix(&seed));
    double t3 = now_s();
    size_t len;
    ks_hll_bytes(&h, &len);
    printf("sketch hll add: %.1f M updates/s (13-byte string ids, MurmurHash64A included), "
           "%zu bytes/sketch\n",
           n / (t1 - t0) / 1e6, len);
    printf("sketch hll add_hash: %.1f M updates/s (pre-hashed, random registers), %zu "
           "bytes/sketch\n",
           n / (t3 - t2) / 1e6, len);
    const int q = 2000;
    double t6 = now_s();
    for (int i = 0; i < q; i++)
        sink += ks_hll_count(&h);
    double t7 = now_s();
    for (int i = 0; i < q; i++)
        ks_hll_merge(&h2, &h);
    double t8 = now_s();
    printf("sketch hll count: %.1f us/call; merge: %.1f us/call\n", (t7 - t6) / q * 1e6,
           (t8 - t7) / q * 1e6);
}

static void bench_ddsketch(void)
{
    char err[256];
    ks_ddsketch *s = ks_ddsketch_new(KS_DDSKETCH_DEFAULT_ALPHA, KS_DDSKETCH_DEFAULT_MAX_BUCKETS,
                                     err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    const int n = 20000000;
    enum { NV = 1 << 16 };
    static double vals[NV];
    uint64_t seed = 2;
    for (int i = 0; i < NV; i++) /* lognormal response times around 150 ms */
        vals[i] =
            exp(5 + 2 * sqrt(-2 * log((splitmix(&seed) >> 11) / 9007199254740992.0 + 1e-300)) *
                        cos(6.283185307179586 * (splitmix(&seed) >> 11) / 9007199254740992.0));
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        ks_ddsketch_add(s, vals[i & (NV - 1)]);
    double t1 = now_s();
    printf("sketch ddsketch add: %.1f M updates/s (alpha 0.01, lognormal), %zu bytes/sketch "
           "(buckets grow to at most %d x 8 bytes)\n",
           n / (t1 - t0) / 1e6, ks_ddsketch_memory(s), KS_DDSKETCH_DEFAULT_MAX_BUCKETS);
    ks_ddsketch *m = ks_ddsketch_new(0.01, 0, err, sizeof err);
    const int q = 20000;
    double t2 = now_s();
    for (int i = 0; i < q; i++) {
        double out;
        ks_ddsketch_quantile(s, 0.99, &out);
        sink += (uint64_t)out;
    }
    double t3 = now_s();
    for (int i = 0; i < 2000; i++)
        ks_ddsketch_merge(m, s);
    double t4 = now_s();
    printf("sketch ddsketch quantile: %.2f us/call; merge: %.1f us/call\n", (t3 - t2) / q * 1e6,
           (t4 - t3) / 2000 * 1e6);
    ks_ddsketch_free(m);
    ks_ddsketch_free(s);
}

static void bench_topk(void)
{
    char err[256];
    size_t m = KS_TOPK_DEFAULT_CAPACITY(10);
    ks_topk *t = ks_topk_new(m, err, sizeof err);
    if (!t) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    /* Zipf(1.1)-ish product names over 20000 products, precomputed */
    enum { NS = 1 << 16 };
    static char names[NS][24];
    static size_t lens[NS];
    uint64_t seed = 3;
    for (int i = 0; i < NS; i++) {
        double u = (splitmix(&seed) >> 11) / 9007199254740992.0;
        unsigned id = (unsigned)(pow(20000.0, u)); /* heavy head, long tail */
        lens[i] = (size_t)snprintf(names[i], sizeof names[i], "product-%u", id);
    }
    const int n = 20000000;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        ks_topk_add(t, names[i & (NS - 1)], lens[i & (NS - 1)], 1);
    double t1 = now_s();
    printf("sketch topk add: %.1f M updates/s (m=%zu counters, ~20k distinct items), %zu "
           "bytes/sketch\n",
           n / (t1 - t0) / 1e6, m, ks_topk_memory(t));
    ks_topk *d = ks_topk_new(m, err, sizeof err);
    ks_topk_entry out[10];
    size_t nout;
    double t2 = now_s();
    for (int i = 0; i < 20000; i++) {
        ks_topk_list(t, 10, out, &nout);
        sink += nout;
    }
    double t3 = now_s();
    for (int i = 0; i < 2000; i++)
        ks_topk_merge(d, t);
    double t4 = now_s();
    printf("sketch topk list(10): %.2f us/call; merge: %.1f us/call\n", (t3 - t2) / 20000 * 1e6,
           (t4 - t3) / 2000 * 1e6);
    ks_topk_free(d);
    ks_topk_free(t);
}

int main(void)
{
    bench_hll();
    bench_ddsketch();
    bench_topk();
    return 0;
}
