/* A ring of per-bucket sketches for one window (buckets of width W/60, as the
 * KPI windows), indexed by bucket number like the KPI series (window.h): the
 * ring covers [base, base+cap), grows (doubling, pointers only) when an event
 * lands beyond it, and the clock frees buckets that leave the window. Holds
 * opaque sketch pointers created on first use by the caller's constructor.
 * Shared by the windowed HLLs, top-k summaries and order-value quantiles,
 * which are kept per process: see docs/architecture.md ("Sketches"). */
#ifndef KS_ENGINE_SKETCH_RING_H
#define KS_ENGINE_SKETCH_RING_H

#include <stdbool.h>
#include <stdint.h>

typedef void *(*ks_sring_new_fn)(void *ctx);   /* a new, empty sketch (NULL: OOM) */
typedef void (*ks_sring_reset_fn)(void *sketch);
typedef void (*ks_sring_free_fn)(void *sketch);

typedef struct ks_sring {
    int64_t width_s;
    int64_t base;     /* bucket number of slot (base & (cap-1)); INT64_MIN: empty */
    int64_t clock_n;  /* bucket of the last clock seen; INT64_MIN: none */
    uint32_t cap;     /* power of two */
    void **slots;     /* cap sketches or NULL; a slot outside the window is empty */
    ks_sring_new_fn make;
    ks_sring_reset_fn reset;
    ks_sring_free_fn destroy;
    void *ctx;
} ks_sring;

/** Initialises r for buckets of width_s seconds. Returns 0 or KS_ERR_NOMEM. */
int ks_sring_init(ks_sring *r, int64_t width_s, ks_sring_new_fn make, ks_sring_reset_fn reset,
                  ks_sring_free_fn destroy, void *ctx);

/** Frees every sketch and the ring. */
void ks_sring_free(ks_sring *r);

/** Returns the sketch of the bucket holding t_s (created if needed), or NULL
 *  when t_s is behind the window at the last clock or memory ran out. */
void *ks_sring_at(ks_sring *r, int64_t t_s);

/** Moves the clock to clock_s: buckets that left the window are emptied. */
void ks_sring_advance(ks_sring *r, int64_t clock_s);

/** Calls fn for every non-empty bucket inside the window ending at clock_s. */
void ks_sring_each_live(const ks_sring *r, int64_t clock_s, void (*fn)(void *ctx, void *sketch),
                        void *ctx);

#endif
