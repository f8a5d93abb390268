/* ks_hash64: a 64-bit hash reading 8 bytes at a time with a multiply-xorshift
 * mix per word and a final avalanche (in the spirit of wyhash/xxh3's short
 * paths). Ids are short (< 128 bytes), so per-call overhead dominates. */
#include "kpistream/hash.h"

#include <string.h>

uint64_t ks_hash64(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = ks_mix64(h ^ w) + 0x632be59bd9b4e019ULL;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h ^= w ^ ((uint64_t)len << 56);
    return ks_mix64(h);
}
