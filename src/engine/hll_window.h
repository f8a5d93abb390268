/* Distinct active customers per window as Redis-format HyperLogLogs: one HLL
 * per bucket in a sketch ring (sketch_ring.h); the window's HLL is the union
 * (register max) of its 60 buckets, written to kpi:hll:active:<window> so
 * PFCOUNT/PFMERGE work on it in Redis.
 *
 * Kept per process, not per partition: a union does not care who added a
 * customer or how often, so rebalances and replays cannot double count.
 * Memory: 12 KB per used bucket (about 60-120 per window).
 */
#ifndef KS_ENGINE_HLL_WINDOW_H
#define KS_ENGINE_HLL_WINDOW_H

#include "engine/sketch_ring.h"
#include "kpistream/hll.h"

typedef struct ks_hll_window {
    ks_sring ring;           /* of ks_hll */
    ks_hll pending, written; /* union being flushed; union Redis has */
    bool has_written;
} ks_hll_window;

/** Initialises w for buckets of width_s seconds. Returns 0 or KS_ERR_NOMEM. */
int ks_hll_window_init(ks_hll_window *w, int64_t width_s);

/** Frees w's buckets. */
void ks_hll_window_reset(ks_hll_window *w);

/** Adds a customer (its ks_hll_hash) seen at t_s. */
void ks_hll_window_add(ks_hll_window *w, uint64_t hash, int64_t t_s);

/** Moves the window clock (buckets that left it are emptied). */
void ks_hll_window_advance(ks_hll_window *w, int64_t clock_s);

/** Builds the window's union at clock_s into w->pending; returns true if it
 *  differs from what was last written. */
bool ks_hll_window_build(ks_hll_window *w, int64_t clock_s);

/** Records that w->pending was written. */
void ks_hll_window_done(ks_hll_window *w);

#endif
