/* Marsaglia's xorshift64 for the unit tests' random cases: reproducible from
 * its seed, and one copy instead of one per test file. */
#ifndef KST_XORSHIFT_H
#define KST_XORSHIFT_H

#include <stdint.h>

/* Advances *s (never 0) and returns the new value. */
static inline uint64_t kst_xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
