/* HyperLogLog distinct counter stored in Redis's own dense encoding.
 *
 * The bytes of a ks_hll are, byte for byte, what Redis (5.0 and later) keeps
 * for a dense HLL after PFADD of the same elements: a key SET to
 * ks_hll_bytes() answers PFCOUNT with the same number ks_hll_count() gives,
 * and PFMERGE accepts it. Standard error 1.04/sqrt(16384) = 0.81%.
 * Algorithm, layout and bounds: src/sketch/hll.c and docs/sketches.md.
 */
#ifndef KPISTREAM_HLL_H
#define KPISTREAM_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_HLL_P 14                       /* index bits */
#define KS_HLL_REGISTERS (1u << KS_HLL_P) /* 16384 registers */
#define KS_HLL_BITS 6                     /* bits per register */
#define KS_HLL_HDR_SIZE 16                /* "HYLL", encoding, 3 unused, 8-byte cache */
#define KS_HLL_REGISTER_BYTES ((KS_HLL_REGISTERS * KS_HLL_BITS + 7) / 8) /* 12288 */
#define KS_HLL_DENSE_SIZE (KS_HLL_HDR_SIZE + KS_HLL_REGISTER_BYTES)      /* 12304 */

/* An HLL embedded by value (no heap). bytes[0..KS_HLL_DENSE_SIZE) is the Redis
 * string; the one extra byte is a guard that stays zero so that reading the last
 * register may touch the byte after it, as Redis does with the sds terminator. */
typedef struct ks_hll {
    uint8_t bytes[KS_HLL_DENSE_SIZE + 1];
} ks_hll;

/** Makes h an empty HLL (header written, every register 0). Cannot fail. */
void ks_hll_init(ks_hll *h);

/** Empties h again; the same as ks_hll_init(). */
void ks_hll_reset(ks_hll *h);

/** Returns Redis's element hash: MurmurHash64A of len bytes at p with seed 0xadc83b19,
 *  the function PFADD applies to each element. */
uint64_t ks_hll_hash(const void *p, size_t len);

/** Adds the element (len bytes at p) exactly as PFADD does. Returns true if a
 *  register changed (PFADD's reply 1), false otherwise. O(1), no allocation. */
bool ks_hll_add(ks_hll *h, const void *p, size_t len);

/** Adds an element by its 64-bit hash: ks_hll_add(h, p, len) is
 *  ks_hll_add_hash(h, ks_hll_hash(p, len)). Use it when the hash is already known.
 *  Returns true if a register changed. */
bool ks_hll_add_hash(ks_hll *h, uint64_t hash);

/** Returns the estimated number of distinct elements added, computed with the
 *  estimator PFCOUNT uses (Ertl's improved estimator), so the two agree exactly.
 *  O(16384). */
uint64_t ks_hll_count(const ks_hll *h);

/** Makes dst the union of dst and src (register-wise max), as PFMERGE does. */
void ks_hll_merge(ks_hll *dst, const ks_hll *src);

/** Returns the value of register i (0..16383), 0..51. For tests and checkpoints. */
unsigned ks_hll_register(const ks_hll *h, unsigned i);

/** Returns h's bytes in Redis dense encoding (KS_HLL_DENSE_SIZE bytes, written to
 *  *len when len is not NULL). The cached-cardinality field always carries the
 *  "invalid" bit, so Redis recomputes the count on the first PFCOUNT.
 *  Borrowed: valid until h is changed or goes away. */
const uint8_t *ks_hll_bytes(const ks_hll *h, size_t *len);

/** Loads an HLL from a Redis HLL string (what GET returns on a PFADD key), in dense or
 *  sparse encoding. Returns 0, or KS_ERR_PARSE with errstr saying what is wrong (h is
 *  then empty). The bytes are copied; h owns nothing outside itself. */
int ks_hll_load(ks_hll *h, const void *bytes, size_t len, char *errstr, size_t errsize);

#endif
