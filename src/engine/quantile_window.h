/* Order-value quantiles per window: one DDSketch (relative accuracy 1 %,
 * src/sketch/ddsketch.c) per bucket in a sketch ring (sketch_ring.h), merged
 * over the window's 60 buckets at flush into order_value_p50/p90/p99 of
 * kpi:global. Kept per process like the other windowed sketches (see
 * topk_window.h for why that is exact for a single member). Memory: a few KB
 * per used bucket (the sketch grows with the range of values seen).
 */
#ifndef KS_ENGINE_QUANTILE_WINDOW_H
#define KS_ENGINE_QUANTILE_WINDOW_H

#include "engine/sketch_ring.h"
#include "kpistream/ddsketch.h"

typedef struct ks_quantile_window {
    ks_sring ring;        /* of ks_ddsketch */
    ks_ddsketch *merged;  /* scratch for the window's merge */
} ks_quantile_window;

/** Initialises w. Returns 0 or KS_ERR_NOMEM. */
int ks_quantile_window_init(ks_quantile_window *w, int64_t width_s);

/** Frees everything w owns. */
void ks_quantile_window_reset(ks_quantile_window *w);

/** Adds value v seen at t_s. */
void ks_quantile_window_add(ks_quantile_window *w, double v, int64_t t_s);

/** Moves the window clock (buckets that left it are emptied). */
void ks_quantile_window_advance(ks_quantile_window *w, int64_t clock_s);

/** Merges the window at clock_s and returns its quantiles q[0..n) into out;
 *  false when the window is empty. */
bool ks_quantile_window_get(ks_quantile_window *w, int64_t clock_s, const double *q, int n,
                            double *out);

#endif
