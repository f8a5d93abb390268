/* Fast non-cryptographic 64-bit hashing for ids (customer ids, event ids).
 * Quality matters: the customer table and the dedup set use the high and low
 * bits of the same hash, and the HLL uses it as its hash function. */
#ifndef KPISTREAM_HASH_H
#define KPISTREAM_HASH_H

#include <stddef.h>
#include <stdint.h>

/** Returns a 64-bit hash of len bytes at p (seeded; stable across runs). */
uint64_t ks_hash64(const void *p, size_t len, uint64_t seed);

/** Returns a 64-bit finalizer mix of x (bijective). */
static inline uint64_t ks_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
