/* HyperLogLog: Redis compatibility (layout, hash, estimator) and accuracy.
 *
 * The Redis vectors below were produced by redis-server 7.0.15 (PFADD to a fresh key
 * with hll-sparse-max-bytes 0, then GET / PFCOUNT), not by the code under test. */
#include <criterion/criterion.h>

#include "kpistream/err.h"
#include "kpistream/hll.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static bool quick(void)
{
    return getenv("KS_TEST_QUICK") != NULL;
}

/* Reference register extraction written bit by bit (LSB-first, global bit 6*i+j),
 * independent of the library's 16-bit window arithmetic. */
static unsigned ref_register(const uint8_t *regs, unsigned i)
{
    unsigned v = 0;
    for (unsigned j = 0; j < 6; j++) {
        unsigned bit = 6 * i + j;
        v |= (unsigned)((regs[bit / 8] >> (bit % 8)) & 1) << j;
    }
    return v;
}

/* Reference rank: 1 + trailing zeros of hash>>14, capped at 51, by a plain loop. */
static unsigned ref_rank(uint64_t hash)
{
    unsigned r = 1;
    for (unsigned b = 14; b < 64 && !((hash >> b) & 1); b++)
        r++;
    return r > 51 ? 51 : r;
}

Test(hll, header_and_size_match_redis_dense_layout)
{
    static ks_hll h;
    ks_hll_init(&h);
    size_t len = 0;
    const uint8_t *b = ks_hll_bytes(&h, &len);
    cr_assert_eq(len, 16 + 16384 * 6 / 8, "dense size is header + 12288 register bytes");
    cr_assert_eq(len, 12304);
    cr_assert(memcmp(b, "HYLL", 4) == 0);
    cr_assert_eq(b[4], 0, "encoding byte 0 = dense");
    cr_assert(b[5] == 0 && b[6] == 0 && b[7] == 0, "unused bytes are zero");
    for (int i = 8; i < 15; i++)
        cr_assert_eq(b[i], 0);
    cr_assert_eq(b[15], 0x80, "cached-cardinality invalid bit set");
    for (size_t i = 16; i < len; i++)
        cr_assert_eq(b[i], 0);
    cr_assert_eq(ks_hll_count(&h), 0);

    ks_hll_add(&h, "x", 1);
    b = ks_hll_bytes(&h, &len);
    cr_assert(memcmp(b, "HYLL", 4) == 0 && b[4] == 0 && b[15] == 0x80,
              "adds never touch the header");
}

/* register index and value Redis stored after PFADD of one element */
static const struct {
    const char *el;
    unsigned index, value;
} redis_single[] = {
    {"", 5938, 2},
    {"a", 12711, 2},
    {"hello", 9216, 1},
    {"kpistream", 8313, 2},
    {"abcdefgh", 1383, 1},
    {"customer-000123", 10512, 1},
    {"0123456789abcdefXYZ", 8222, 1},
};

Test(hll, single_elements_land_where_redis_puts_them)
{
    static ks_hll h;
    for (size_t k = 0; k < sizeof redis_single / sizeof *redis_single; k++) {
        ks_hll_init(&h);
        cr_assert(ks_hll_add(&h, redis_single[k].el, strlen(redis_single[k].el)));
        unsigned nonzero = 0;
        for (unsigned i = 0; i < KS_HLL_REGISTERS; i++)
            nonzero += ks_hll_register(&h, i) != 0;
        cr_assert_eq(nonzero, 1, "%s: one register set", redis_single[k].el);
        cr_assert_eq(ks_hll_register(&h, redis_single[k].index), redis_single[k].value,
                     "%s: register %u", redis_single[k].el, redis_single[k].index);
        cr_assert_eq(ks_hll_hash(redis_single[k].el, strlen(redis_single[k].el)) & 16383,
                     redis_single[k].index);
        cr_assert_not(ks_hll_add(&h, redis_single[k].el, strlen(redis_single[k].el)),
                      "re-adding changes nothing");
        cr_assert_eq(ks_hll_count(&h), 1);
    }
}

Test(hll, count_equals_redis_pfcount)
{
    /* PFCOUNT after PFADD of "e0" .. "e<n-1>" */
    static const struct {
        int n;
        uint64_t pfcount;
    } v[] = {{1000, 1008}, {20000, 19901}, {300000, 303182}};
    static ks_hll h;
    char buf[32];
    for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
        ks_hll_init(&h);
        for (int i = 0; i < v[k].n; i++) {
            int len = snprintf(buf, sizeof buf, "e%d", i);
            ks_hll_add(&h, buf, (size_t)len);
        }
        cr_assert_eq(ks_hll_count(&h), v[k].pfcount, "n=%d: ours %llu, PFCOUNT %llu", v[k].n,
                     (unsigned long long)ks_hll_count(&h), (unsigned long long)v[k].pfcount);
    }
}

Test(hll, registers_packed_as_redis_and_set_to_max_rank)
{
    static ks_hll h;
    static uint8_t expect[KS_HLL_REGISTERS];
    ks_hll_init(&h);
    memset(expect, 0, sizeof expect);
    uint64_t seed = 7;
    for (int i = 0; i < 200000; i++) {
        uint64_t x = splitmix(&seed);
        uint64_t hash = ks_hll_hash(&x, sizeof x);
        unsigned idx = (unsigned)(hash & 16383), r = ref_rank(hash);
        if (r > expect[idx]) expect[idx] = (uint8_t)r;
        ks_hll_add(&h, &x, sizeof x);
    }
    /* Force the extremes through the pre-hashed path: rank 51 (all rank bits zero)
     * at the last register, whose bits end exactly at the last byte. */
    ks_hll_add_hash(&h, 16383);
    expect[16383] = 51;
    ks_hll_add_hash(&h, 0);
    expect[0] = 51;
    const uint8_t *b = ks_hll_bytes(&h, NULL);
    for (unsigned i = 0; i < KS_HLL_REGISTERS; i++) {
        cr_assert_eq(ref_register(b + 16, i), expect[i], "register %u in the byte layout", i);
        cr_assert_eq(ks_hll_register(&h, i), expect[i]);
    }
    cr_assert_eq(h.bytes[KS_HLL_DENSE_SIZE], 0, "guard byte stays zero");
}

Test(hll, merge_equals_sketch_of_union)
{
    static ks_hll a, b, u, tmp;
    uint64_t seed = 99;
    for (int trial = 0; trial < 20; trial++) {
        ks_hll_init(&a);
        ks_hll_init(&b);
        ks_hll_init(&u);
        int na = 1 + (int)(splitmix(&seed) % 200000), nb = 1 + (int)(splitmix(&seed) % 200000);
        uint64_t base = splitmix(&seed);
        for (int i = 0; i < na; i++) {
            uint64_t x = base + (uint64_t)i;
            ks_hll_add(&a, &x, sizeof x);
            ks_hll_add(&u, &x, sizeof x);
        }
        for (int i = 0; i < nb; i++) {
            uint64_t x = base + (uint64_t)na / 2 + (uint64_t)i; /* overlaps half of a */
            ks_hll_add(&b, &x, sizeof x);
            ks_hll_add(&u, &x, sizeof x);
        }
        tmp = a;
        ks_hll_merge(&tmp, &b);
        cr_assert(memcmp(tmp.bytes, u.bytes, sizeof u.bytes) == 0, "merge(A,B) == sketch(A u B)");
        tmp = b;
        ks_hll_merge(&tmp, &a);
        cr_assert(memcmp(tmp.bytes, u.bytes, sizeof u.bytes) == 0, "merge is commutative");
        ks_hll_merge(&tmp, &a);
        cr_assert(memcmp(tmp.bytes, u.bytes, sizeof u.bytes) == 0, "merge is idempotent");
        cr_assert_eq(ks_hll_count(&tmp), ks_hll_count(&u));
    }
}

static int accuracy_failures(uint64_t n, int trials, uint64_t seed)
{
    static ks_hll h;
    int failures = 0;
    for (int t = 0; t < trials; t++) {
        ks_hll_init(&h);
        uint64_t key[2] = {splitmix(&seed), 0};
        for (uint64_t i = 0; i < n; i++) {
            key[1] = i; /* distinct elements by construction */
            ks_hll_add(&h, key, sizeof key);
        }
        double est = (double)ks_hll_count(&h);
        double rel = fabs(est - (double)n) / (double)n;
        if (rel > 3 * 1.04 / sqrt(16384.0)) failures++;
    }
    return failures;
}

static void check_accuracy(uint64_t n, int trials, int quick_trials)
{
    if (quick()) trials = quick_trials;
    int failures = accuracy_failures(n, trials, 0x5eed0000 + n);
    /* At least 99% of trials within 3 standard errors (2.44%). */
    cr_assert_leq(failures * 100, trials, "n=%llu: %d of %d trials outside 2.44%%",
                  (unsigned long long)n, failures, trials);
}

Test(hll, accuracy_10)
{
    check_accuracy(10, 2000, 500);
}
Test(hll, accuracy_100)
{
    check_accuracy(100, 1000, 300);
}
Test(hll, accuracy_1k)
{
    check_accuracy(1000, 500, 100);
}
Test(hll, accuracy_10k)
{
    check_accuracy(10000, 300, 100);
}
Test(hll, accuracy_100k)
{
    check_accuracy(100000, 200, 100);
}
Test(hll, accuracy_1M)
{
    check_accuracy(1000000, 200, 20);
}
Test(hll, accuracy_10M)
{
    check_accuracy(10000000, 10, 2);
}

Test(hll, load_roundtrip_and_rejects)
{
    static ks_hll a, b;
    char err[KS_ERRSTR_SIZE];
    ks_hll_init(&a);
    for (int i = 0; i < 5000; i++)
        ks_hll_add(&a, &i, sizeof i);
    size_t len;
    const uint8_t *p = ks_hll_bytes(&a, &len);
    cr_assert_eq(ks_hll_load(&b, p, len, err, sizeof err), 0);
    cr_assert(memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);

    /* A Redis-cached cardinality (valid bit clear) is dropped on load. */
    static uint8_t buf[KS_HLL_DENSE_SIZE];
    memcpy(buf, p, len);
    buf[8] = 42;
    buf[15] = 0;
    cr_assert_eq(ks_hll_load(&b, buf, len, err, sizeof err), 0);
    cr_assert(memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);

    err[0] = 0;
    cr_assert_eq(ks_hll_load(&b, p, len - 1, err, sizeof err), KS_ERR_PARSE);
    cr_assert(strstr(err, "12304") != NULL, "errstr names the size: %s", err);
    cr_assert_eq(ks_hll_count(&b), 0, "failed load leaves an empty HLL");
    cr_assert_eq(ks_hll_load(&b, "HYLX", 4, err, sizeof err), KS_ERR_PARSE);
    memcpy(buf, p, len);
    buf[4] = 7;
    cr_assert_eq(ks_hll_load(&b, buf, len, err, sizeof err), KS_ERR_PARSE);
}

Test(hll, load_sparse_encoding)
{
    /* The example of Redis's hyperloglog.c: XZERO:1000, VAL:2,1, ZERO:19, VAL:3,2,
     * XZERO:15362, i.e. registers 1000 = 2, 1020 = 3, 1021 = 3. */
    uint8_t s[16 + 7] = {'H', 'Y', 'L', 'L', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};
    uint8_t *o = s + 16;
    *o++ = 0x40 | ((1000 - 1) >> 8);
    *o++ = (1000 - 1) & 0xff;
    *o++ = 0x80 | (2 - 1) << 2 | (1 - 1);
    *o++ = 19 - 1;
    *o++ = 0x80 | (3 - 1) << 2 | (2 - 1);
    *o++ = 0x40 | ((15362 - 1) >> 8);
    *o++ = (15362 - 1) & 0xff;
    static ks_hll h;
    char err[KS_ERRSTR_SIZE];
    cr_assert_eq(ks_hll_load(&h, s, sizeof s, err, sizeof err), 0, "%s", err);
    for (unsigned i = 0; i < KS_HLL_REGISTERS; i++) {
        unsigned want = i == 1000 ? 2 : (i == 1020 || i == 1021) ? 3 : 0;
        cr_assert_eq(ks_hll_register(&h, i), want, "register %u", i);
    }
    cr_assert_eq(ks_hll_bytes(&h, NULL)[4], 0, "loaded sketch is dense");
    /* one register short */
    s[sizeof s - 1] = (15361 - 1) & 0xff;
    cr_assert_eq(ks_hll_load(&h, s, sizeof s, err, sizeof err), KS_ERR_PARSE);
}

Test(hll, reset_empties)
{
    static ks_hll h, e;
    ks_hll_init(&h);
    ks_hll_init(&e);
    ks_hll_add(&h, "abc", 3);
    cr_assert_neq(memcmp(h.bytes, e.bytes, sizeof e.bytes), 0);
    ks_hll_reset(&h);
    cr_assert_eq(memcmp(h.bytes, e.bytes, sizeof e.bytes), 0);
}
