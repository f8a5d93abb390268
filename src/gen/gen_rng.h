/* The generator's own PRNG and distributions.
 *
 * xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2018), seeded through splitmix64 as its authors recommend. We
 * own it, rather than using rand(), so that a seed means the same stream on
 * every libc and nothing else in the process can perturb it.
 */
#ifndef KS__GEN_RNG_H
#define KS__GEN_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct ks__rng {
    uint64_t s[4];
} ks__rng;

static inline uint64_t ks__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void ks__rng_seed(ks__rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = ks__splitmix64(&seed);
}

static inline uint64_t ks__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t ks__rng_next(ks__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ks__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ks__rotl(s[3], 45);
    return result;
}

/** Uniform in [0, 1) with 53 random bits. */
static inline double ks__u01(ks__rng *r)
{
    return (double)(ks__rng_next(r) >> 11) * 0x1.0p-53;
}

/** Uniform in [a, b). */
static inline double ks__unif(ks__rng *r, double a, double b)
{
    return a + (b - a) * ks__u01(r);
}

/** Uniform integer in [0, n), n > 0 (multiply-shift; bias < n / 2^64). */
static inline uint32_t ks__below(ks__rng *r, uint32_t n)
{
    return (uint32_t)(((ks__rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/** Bernoulli(p). */
static inline int ks__chance(ks__rng *r, double p)
{
    return ks__u01(r) < p;
}

/** Exponential with the given mean. */
static inline double ks__exp(ks__rng *r, double mean)
{
    return -mean * log1p(-ks__u01(r));
}

/** Standard normal (Box-Muller; one draw per call keeps the stream simple). */
static inline double ks__norm(ks__rng *r)
{
    double u1 = 1.0 - ks__u01(r); /* (0, 1] so log() is finite */
    double u2 = ks__u01(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/** Lognormal with the given median and log-space sigma. */
static inline double ks__lognorm(ks__rng *r, double median, double sigma)
{
    return median * exp(sigma * ks__norm(r));
}

#endif
