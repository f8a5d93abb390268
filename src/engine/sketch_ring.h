/* A ring of per-bucket sketches for one window (buckets of width W/60, as the
 * KPI windows): 60 buckets in the window plus room for buckets ahead of the
 * clock (the source never reads more than an hour ahead of the watermark).
 * Shared by the windowed HLLs and top-k summaries, which are kept per process:
 * see docs/sketches.md for why that is safe for each. */
#ifndef KS_ENGINE_SKETCH_RING_H
#define KS_ENGINE_SKETCH_RING_H

#include <stdbool.h>
#include <stdint.h>

#define KS_SRING_SLOTS 128

typedef struct ks_sring {
    int64_t width_s;
    int64_t slot_n[KS_SRING_SLOTS]; /* bucket number held by each slot; INT64_MIN: empty */
} ks_sring;

/** Initialises r for buckets of width_s seconds. */
void ks_sring_init(ks_sring *r, int64_t width_s);

/** Returns the slot for event time t_s at window clock clock_s (INT64_MIN:
 *  none yet), or -1 when t_s is behind the window or beyond the ring. Sets
 *  *fresh when the slot starts a new bucket (the caller empties its sketch). */
int ks_sring_slot(ks_sring *r, int64_t t_s, int64_t clock_s, bool *fresh);

/** Returns true if slot i holds a bucket inside the window at clock_s. */
bool ks_sring_live(const ks_sring *r, int i, int64_t clock_s);

#endif
