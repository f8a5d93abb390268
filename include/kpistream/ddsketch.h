/* DDSketch: quantiles with a relative-error guarantee, mergeable and subtractable.
 *
 * Every quantile answered is within a factor (1 +/- alpha) of the exact quantile
 * (the element of rank floor(q*(n-1)) among the n values added), as long as the
 * sketch has not collapsed (see ks_ddsketch_collapsed()). Algorithm, bounds and
 * layout: src/sketch/ddsketch.c and docs/sketches.md.
 */
#ifndef KPISTREAM_DDSKETCH_H
#define KPISTREAM_DDSKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_DDSKETCH_DEFAULT_ALPHA 0.01
#define KS_DDSKETCH_DEFAULT_MAX_BUCKETS 2048
#define KS_DDSKETCH_MIN_ALPHA 1e-6
#define KS_DDSKETCH_MAX_ALPHA 0.5
/* Values in [0, KS_DDSKETCH_MIN_VALUE) and negative values go to the zero bucket and
 * are reported as 0. A value of 1e-9 ms is far below any time or amount we measure. */
#define KS_DDSKETCH_MIN_VALUE 1e-9

typedef struct ks_ddsketch ks_ddsketch;

/** Creates an empty sketch with relative accuracy alpha (KS_DDSKETCH_MIN_ALPHA ..
 *  KS_DDSKETCH_MAX_ALPHA; 0 means KS_DDSKETCH_DEFAULT_ALPHA) holding at most max_buckets
 *  buckets (>= 8; 0 means KS_DDSKETCH_DEFAULT_MAX_BUCKETS). The bucket array starts
 *  small and doubles as the value range widens, up to max_buckets; after that the
 *  lowest buckets are collapsed. Returns NULL with errstr filled on a bad argument or
 *  out of memory. Caller owns the result; free with ks_ddsketch_free(). */
ks_ddsketch *ks_ddsketch_new(double alpha, size_t max_buckets, char *errstr, size_t errsize);

/** Frees s and its buckets. NULL is accepted. */
void ks_ddsketch_free(ks_ddsketch *s);

/** Empties s, keeping its bucket array (no allocation on later adds up to that size). */
void ks_ddsketch_reset(ks_ddsketch *s);

/** Adds value v once. Negative values and values below KS_DDSKETCH_MIN_VALUE count in the
 *  zero bucket (a negative duration is clock skew, best treated as 0). Returns false, and
 *  counts nothing, if v is NaN or infinite. No allocation unless the value range grows
 *  past every range seen before (the array then doubles, at most log2(max_buckets) times
 *  in the sketch's life). */
bool ks_ddsketch_add(ks_ddsketch *s, double v);

/** Adds value v n times; the same as n calls of ks_ddsketch_add(). Returns as it does. */
bool ks_ddsketch_add_n(ks_ddsketch *s, double v, uint64_t n);

/* Bucket keys let bucket counts live outside a sketch (kpistream keeps them in
 * Redis, summed over partitions and members) and be turned back into one. */
#define KS_DDSKETCH_ZERO_KEY INT64_MIN
/** Returns the key of the bucket v goes to in s (KS_DDSKETCH_ZERO_KEY for the
 *  zero bucket); v must be finite. Depends only on s's alpha. */
int64_t ks_ddsketch_key(const ks_ddsketch *s, double v);
/** Adds n values to the bucket with key k (as returned by ks_ddsketch_key()
 *  for a sketch of the same alpha): the same as adding those values. */
void ks_ddsketch_add_key(ks_ddsketch *s, int64_t k, uint64_t n);
/** Writes the q-quantile (0 <= q <= 1) to *out: the representative value of the bucket
 *  holding the element of rank floor(q*(n-1)). Returns false (and leaves *out alone) if
 *  s is empty or q is outside [0, 1] or NaN. */
bool ks_ddsketch_quantile(const ks_ddsketch *s, double q, double *out);

/** Returns the number of values added (minus those subtracted). */
uint64_t ks_ddsketch_count(const ks_ddsketch *s);

/** Adds every value counted in src to dst. Both must have the same alpha; with the same
 *  max_buckets too, the result is exactly the sketch of both inputs (collapsed or not).
 *  Returns 0, or KS_ERR_INVAL if the alphas differ (dst unchanged). */
int ks_ddsketch_merge(ks_ddsketch *dst, const ks_ddsketch *src);

/** Removes from dst the values counted in src, which must have been merged into dst
 *  before (this is how a sliding window drops an expired bucket). Returns 0,
 *  KS_ERR_INVAL if the alphas differ, or KS_ERR_RANGE if src holds counts dst does not
 *  have; on error dst is unchanged. */
int ks_ddsketch_sub(ks_ddsketch *dst, const ks_ddsketch *src);

/** Returns true once lowest buckets have been folded together because the value range
 *  needed more than max_buckets buckets. From then on only quantiles whose element lies
 *  above the folded buckets keep the alpha bound. An empty sketch is not collapsed. */
bool ks_ddsketch_collapsed(const ks_ddsketch *s);

/** Returns the sketch's alpha. */
double ks_ddsketch_alpha(const ks_ddsketch *s);

/** Returns the bytes s holds now (the struct plus its bucket array). */
size_t ks_ddsketch_memory(const ks_ddsketch *s);

#endif
